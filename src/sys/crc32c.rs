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

/// The CRC-32C of one fixed-length shape, fast: header words, then a record of
/// `record_bytes` split into three streams the CPU runs in parallel.
///
/// The `crc32` instruction has a latency of several cycles but a throughput of one per cycle,
/// so one dependent chain over a record wastes most of it. For records of 48 bytes and more,
/// the first `3 * stream` bytes go to three independent chains (the first continuing from the
/// header words, the other two from zero), combined by shifting a chain's register over `stream`
/// zero bytes — a linear map, done with four lookups in a table built for this length — and
/// XOR; the rest runs on one chain. Same value as [`crc32c`] (tested on random shapes).
#[derive(Clone)]
pub struct Crc32cPlan {
    record_bytes: usize,
    /// Bytes per stream (a multiple of 8), 0 when the record is too short to split.
    stream: usize,
    /// Shifts a raw register over `stream` zero bytes. Inline, not boxed: building a plan (a
    /// reader's first slot of a length) allocates nothing, so replay stays allocation-free.
    zeros: [[u32; 256]; 4],
}

impl std::fmt::Debug for Crc32cPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Crc32cPlan").field("record_bytes", &self.record_bytes).field("stream", &self.stream).finish()
    }
}

impl Crc32cPlan {
    /// A plan for records of `record_bytes`.
    pub fn new(record_bytes: usize) -> Crc32cPlan {
        let stream = if record_bytes >= 48 { record_bytes / 24 * 8 } else { 0 };
        let mut zeros = [[0u32; 256]; 4];
        if stream > 0 {
            // The shift is linear over GF(2): the image of each of the 32 register bits, then
            // each table entry as the XOR of the images of its byte's bits.
            let over_zeros = |mut crc: u32| {
                for _ in 0..stream {
                    crc = TABLE[(crc & 0xff) as usize] ^ (crc >> 8);
                }
                crc
            };
            let bit: [u32; 32] = std::array::from_fn(|i| over_zeros(1u32 << i));
            for (k, t) in zeros.iter_mut().enumerate() {
                for (b, entry) in t.iter_mut().enumerate() {
                    *entry = (0..8).filter(|j| b >> j & 1 == 1).fold(0, |acc, j| acc ^ bit[8 * k + j]);
                }
            }
        }
        Crc32cPlan { record_bytes, stream, zeros }
    }

    /// CRC-32C of `words` (little-endian) then `record` (`record.len()` must be the planned
    /// length; any other length falls back to [`crc32c`]).
    #[inline]
    pub fn checksum(&self, words: &[u64], record: &[u8]) -> u32 {
        #[cfg(target_arch = "x86_64")]
        if self.stream > 0 && record.len() == self.record_bytes && std::arch::is_x86_feature_detected!("sse4.2") {
            // SAFETY: `sse42_3way` needs SSE4.2 (its `target_feature`), which the CPU was just
            // seen to have; it reads only the slices it is given (the record, whose length was
            // checked against the plan: at least three streams long).
            return !unsafe { self.sse42_3way(words, record) };
        }
        crc32c(words, &[record])
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "sse4.2")]
    fn sse42_3way(&self, words: &[u64], record: &[u8]) -> u32 {
        use core::arch::x86_64::_mm_crc32_u64;
        let mut c0 = u64::from(!0u32);
        for w in words {
            c0 = _mm_crc32_u64(c0, *w);
        }
        let n = self.stream;
        let (a, rest) = record.split_at(n);
        let (b, rest) = rest.split_at(n);
        let (c, tail) = rest.split_at(n);
        let (mut c1, mut c2) = (0u64, 0u64);
        let word = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("8 bytes"));
        for i in (0..n).step_by(8) {
            c0 = _mm_crc32_u64(c0, word(a, i));
            c1 = _mm_crc32_u64(c1, word(b, i));
            c2 = _mm_crc32_u64(c2, word(c, i));
        }
        let shift = |x: u32| {
            let z = &self.zeros;
            z[0][(x & 0xff) as usize]
                ^ z[1][(x >> 8 & 0xff) as usize]
                ^ z[2][(x >> 16 & 0xff) as usize]
                ^ z[3][(x >> 24) as usize]
        };
        let crc = shift(shift(c0 as u32) ^ c1 as u32) ^ c2 as u32;
        sse42(crc, &[], &[tail])
    }
}

/// CRC-32C of `data` with [`Crc32cPlan`]'s three chains, the plan for `data.len()` kept per
/// thread (a reader checks slots of one length over and over; another length rebuilds it, a few
/// microseconds). Same value as [`crc32c`].
pub fn crc32c_bytes(data: &[u8]) -> u32 {
    thread_local! {
        static PLAN: std::cell::RefCell<Option<Crc32cPlan>> = const { std::cell::RefCell::new(None) };
    }
    if data.len() < 48 {
        return crc32c(&[], &[data]);
    }
    PLAN.with(|plan| {
        let mut plan = plan.borrow_mut();
        if plan.as_ref().is_none_or(|p| p.record_bytes != data.len()) {
            *plan = Some(Crc32cPlan::new(data.len()));
        }
        plan.as_ref().expect("just set").checksum(&[], data)
    })
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

    /// `len` bytes of a xorshift64 stream continued from `x`.
    fn xorshift_bytes(x: &mut u64, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *x ^= *x << 13;
                *x ^= *x >> 7;
                *x ^= *x << 17;
                *x as u8
            })
            .collect()
    }

    #[test]
    fn three_stream_plan_equals_one_chain() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for len in (0..420usize).chain([1000, 4096]) {
            let plan = Crc32cPlan::new(len);
            let data = xorshift_bytes(&mut x, len);
            for words in [&[][..], &[x][..], &[x, !x][..], &[x, 7, x.rotate_left(9)][..]] {
                let want = crc32c_portable(words, &[&data]);
                assert_eq!(plan.checksum(words, &data), want, "len {len}, {} words", words.len());
            }
            // A record of another length than planned still gets the right value.
            assert_eq!(plan.checksum(&[1], &data[..len / 2]), crc32c_portable(&[1], &[&data[..len / 2]]));
        }
    }

    #[test]
    fn per_thread_plan_equals_one_chain_across_changing_lengths() {
        let data: Vec<u8> = (0..600u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for len in [0, 47, 48, 80, 272, 80, 599, 48, 272] {
            assert_eq!(crc32c_bytes(&data[..len]), crc32c_portable(&[], &[&data[..len]]), "len {len}");
        }
    }

    #[test]
    fn instruction_and_table_agree_and_words_are_little_endian_bytes() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..300usize {
            let data = xorshift_bytes(&mut x, len);
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
