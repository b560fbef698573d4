//! CPU helpers with no I/O and no `unsafe` that `format/` and `ring/` may both use: code shaped so
//! the compiler emits the machine instructions the hot paths were measured with.

/// Writes `lo` then `hi`, little-endian, into `dst` with a single 16-byte store on x86-64. A later
/// 16-byte load of `dst` (the first block a checksum reads) is then forwarded from the store
/// buffer, whereas a load spanning two 8-byte stores must wait until both reach the cache (on a
/// ring append: until the slot's cache line has been fetched).
///
/// Safe code: the pair becomes an SSE2 vector (`__m128i`, part of the x86-64 baseline) and is
/// stored through an unaligned `__m128i` view of `dst` (zerocopy checks size and alignment at
/// compile time), so LLVM builds it with `movq`/`punpcklqdq` and stores it with one `movdqu`.
/// Simpler safe forms (`*dst = u128.to_le_bytes()`, or even `*dst = transmute!(vector)`) compile to
/// two 8-byte stores once inlined. Checked in the release assembly of `encode_frame` and of the
/// ring append (`cargo rustc --release -p replaylog --lib -- --emit asm`; `objdump -d` of the
/// recorder bench). Elsewhere: two plain stores.
#[inline(always)]
pub(crate) fn store_u64_pair(dst: &mut [u8; 16], lo: u64, hi: u64) {
    #[cfg(target_arch = "x86_64")]
    {
        use core::arch::x86_64::__m128i;
        // x86-64 is little-endian: `lo` lands in bytes 0..8.
        let v: __m128i = zerocopy::transmute!([lo, hi]);
        let slot: &mut zerocopy::Unalign<__m128i> = zerocopy::transmute_mut!(dst);
        slot.set(v);
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        dst[..8].copy_from_slice(&lo.to_le_bytes());
        dst[8..].copy_from_slice(&hi.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn store_u64_pair_is_little_endian_lo_then_hi() {
        let mut dst = [0xaa; 16];
        super::store_u64_pair(&mut dst, 0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908);
        assert_eq!(dst, core::array::from_fn(|i| i as u8));
    }
}
