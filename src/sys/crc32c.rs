//! CRC-32C (Castagnoli, reflected polynomial 0x82F63B78, as in iSCSI, ext4 and SSE4.2): the
//! checksum of format 3 ring slots and evidence entries. On x86-64 with SSE4.2 it runs on the
//! `crc32` instruction, 8 bytes per instruction; elsewhere on a 256-entry table. Both give the same
//! value (`tests` compare them on random data).
#![allow(unsafe_code)]

/// Reflected CRC-32C polynomial.
const POLY: u32 = 0x82F6_3B78;

const TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn table_bytes(mut crc: u32, data: &[u8]) -> u32 {
    for &b in data {
        crc = TABLE[((crc ^ b as u32) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

fn table(mut crc: u32, words: &[u64], data: &[&[u8]]) -> u32 {
    for w in words {
        crc = table_bytes(crc, &w.to_le_bytes());
    }
    for d in data {
        crc = table_bytes(crc, d);
    }
    crc
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
fn sse42(crc: u32, words: &[u64], data: &[&[u8]]) -> u32 {
    use core::arch::x86_64::{_mm_crc32_u8, _mm_crc32_u64};
    let mut c = u64::from(crc);
    for w in words {
        c = _mm_crc32_u64(c, *w);
    }
    let mut crc = c as u32;
    for d in data {
        let mut chunks = d.chunks_exact(8);
        let mut c = u64::from(crc);
        for ch in &mut chunks {
            c = _mm_crc32_u64(c, u64::from_le_bytes(ch.try_into().expect("8 bytes")));
        }
        crc = c as u32;
        for &b in chunks.remainder() {
            crc = _mm_crc32_u8(crc, b);
        }
    }
    crc
}

/// CRC-32C of `words` (each as its 8 little-endian bytes) followed by the concatenation of
/// `data`. The hot path passes the slot header words it holds in registers and the record.
#[inline]
pub fn crc32c(words: &[u64], data: &[&[u8]]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("sse4.2") {
        // SAFETY: `sse42` needs SSE4.2 (its `target_feature`), which the CPU was just seen to
        // have; it reads only the slices it is given.
        return !unsafe { sse42(!0, words, data) };
    }
    !table(!0, words, data)
}

/// The table implementation, whatever the CPU (for tests that compare the two).
#[cfg(test)]
fn crc32c_portable(words: &[u64], data: &[&[u8]]) -> u32 {
    !table(!0, words, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answers() {
        // RFC 3720 (iSCSI) B.4 test vectors, and the usual check value.
        assert_eq!(crc32c(&[], &[b"123456789"]), 0xE306_9283);
        assert_eq!(crc32c(&[], &[&[0u8; 32]]), 0x8A91_36AA);
        assert_eq!(crc32c(&[], &[&[0xffu8; 32]]), 0x62A8_AB43);
        let inc: Vec<u8> = (0..32).collect();
        assert_eq!(crc32c(&[], &[&inc]), 0x46DD_794E);
        assert_eq!(crc32c_portable(&[], &[b"123456789"]), 0xE306_9283);
    }

    #[test]
    fn instruction_and_table_agree_and_words_are_little_endian_bytes() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..300usize {
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x as u8
                })
                .collect();
            let words = [x, x.rotate_left(17)];
            let (a, b) = data.split_at(len / 3);
            let mut flat = words[0].to_le_bytes().to_vec();
            flat.extend_from_slice(&words[1].to_le_bytes());
            flat.extend_from_slice(&data);
            let want = crc32c_portable(&[], &[&flat]);
            assert_eq!(crc32c(&words, &[a, b]), want, "len {len}");
            assert_eq!(crc32c_portable(&words, &[a, b]), want, "len {len}");
        }
    }
}
