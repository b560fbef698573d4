//! On-disk formats: byte maps as constants and `#[repr(C)]` structs, encode/decode and checksums.
//! Pure: no I/O, no `unsafe`. `docs/FORMAT.md` draws the same maps; the compile-time asserts in
//! each submodule pin the code to them.

pub mod archive;
pub mod journal;
pub mod layout;
pub mod ring;
pub mod window;

/// CRC-32 (IEEE, as computed by `crc32fast`) over the concatenation of `parts`.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// CRC-32C (Castagnoli) of `words` (each as its 8 little-endian bytes) then the concatenation of
/// `parts`: the checksum of format 3 ring slots and evidence entries (the `crc32` instruction on
/// x86-64 with SSE4.2, a table elsewhere; the same value either way).
pub fn crc32c(words: &[u64], parts: &[&[u8]]) -> u32 {
    crate::sys::crc32c(words, parts)
}

/// Rounds `n` up to a multiple of `align` (a power of two).
pub const fn round_up(n: u64, align: u64) -> u64 {
    (n + align - 1) & !(align - 1)
}
