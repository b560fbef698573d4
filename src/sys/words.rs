//! Word-at-a-time copies between ordinary buffers and shared memory that another thread or
//! process may be writing or reading at the same time (the ring's slots, cursor and state copies).
//!
//! Rust's memory model makes a non-atomic access that races with a write to the same bytes a
//! data race (undefined behaviour), even when the value read is thrown away afterwards, as a
//! seqlock reader throws away a torn copy. It also forbids racing atomic accesses of different
//! sizes to overlapping bytes. So every access to such memory goes through these two functions,
//! which touch it only as whole, 8-aligned 8-byte words with relaxed atomic loads and stores:
//! readers and the writer agree on one partition of the memory into words, and a copy is at worst
//! a mix of words from different writes, which the seqlock's recheck (and the slot checksum)
//! detect. Ordering comes from the seqlock's fences around the copy, not from these accesses.
//!
//! The functions are generic over the word type so that `tests/loom_seqlock.rs` runs these very
//! functions over loom's atomics; the crate uses them on `AtomicU64`s over the mapping
//! (`sys::map`). On x86-64 a relaxed load or store of an aligned `u64` is a plain `mov`: the copy
//! costs one load and one store per 8 bytes, in a loop the compiler unrolls (it does not merge
//! atomic accesses into wider vector moves).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::arch::store_u64_pair;

/// An 8-byte word of shared memory that is only ever accessed atomically.
pub trait AtomicWord {
    /// Loads the word (native byte order: its bytes in memory order are `to_ne_bytes()`).
    fn load(&self, order: Ordering) -> u64;
    /// Stores the word.
    fn store(&self, value: u64, order: Ordering);
}

impl AtomicWord for AtomicU64 {
    #[inline(always)]
    fn load(&self, order: Ordering) -> u64 {
        AtomicU64::load(self, order)
    }
    #[inline(always)]
    fn store(&self, value: u64, order: Ordering) {
        AtomicU64::store(self, value, order)
    }
}

/// Copies `dst.len()` bytes out of `words`, starting `skip` bytes into the first word, with one
/// relaxed load per word. `words` must cover exactly the bytes copied:
/// `words.len() == (skip + dst.len()).div_ceil(8)`, `skip < 8` (panics otherwise).
///
/// Words being written concurrently may be copied from different writes; the caller decides
/// (seqlock recheck, checksum) whether the copy is consistent.
#[inline(always)]
pub fn load_words<W: AtomicWord>(words: &[W], skip: usize, dst: &mut [u8]) {
    assert!(skip < 8 && words.len() == (skip + dst.len()).div_ceil(8), "word span mismatch");
    if skip == 0 && dst.len() % 8 == 0 {
        // The common case (a slot, a state copy): aligned words only. Two words at a time go to
        // `dst` in one 16-byte store, so the 16-byte loads of a checksum over `dst` right after
        // are forwarded from the store buffer; a load spanning two 8-byte stores is not, and
        // waits for them to reach the cache (reader/*/64B: 2.5x slower with 8-byte stores).
        let mut out = dst.chunks_exact_mut(16);
        let mut pairs = words.chunks_exact(2);
        for (pair, out) in (&mut pairs).zip(&mut out) {
            let lo = pair[0].load(Ordering::Relaxed).to_ne_bytes();
            let hi = pair[1].load(Ordering::Relaxed).to_ne_bytes();
            let out: &mut [u8; 16] = out.try_into().expect("16 bytes");
            store_u64_pair(out, u64::from_le_bytes(lo), u64::from_le_bytes(hi));
        }
        if let ([word], rest) = (pairs.remainder(), out.into_remainder()) {
            rest.copy_from_slice(&word.load(Ordering::Relaxed).to_ne_bytes());
        }
        return;
    }
    let mut at = 0;
    for (i, word) in words.iter().enumerate() {
        let bytes = word.load(Ordering::Relaxed).to_ne_bytes();
        let from = if i == 0 { skip } else { 0 };
        let n = (8 - from).min(dst.len() - at);
        dst[at..at + n].copy_from_slice(&bytes[from..from + n]);
        at += n;
    }
}

/// Copies `src` into `words`, starting `skip` bytes into the first word, with one relaxed store
/// per word. A first or last word that `src` covers only in part is merged with the bytes already
/// there (a relaxed load, then the store), so the caller must be the only writer of these words.
/// `words` must cover exactly the bytes written: `words.len() == (skip + src.len()).div_ceil(8)`,
/// `skip < 8` (panics otherwise).
///
/// The stores are unordered among themselves and with respect to readers: publish them with the
/// seqlock (`begin_write` before, `end_write` after).
#[inline(always)]
pub fn store_words<W: AtomicWord>(words: &[W], skip: usize, src: &[u8]) {
    assert!(skip < 8 && words.len() == (skip + src.len()).div_ceil(8), "word span mismatch");
    if skip == 0 && src.len() % 8 == 0 {
        // The hot path (an append's slot body, 8-aligned and a whole number of words).
        for (word, chunk) in words.iter().zip(src.chunks_exact(8)) {
            word.store(u64::from_ne_bytes(chunk.try_into().expect("8 bytes")), Ordering::Relaxed);
        }
        return;
    }
    let mut at = 0;
    for (i, word) in words.iter().enumerate() {
        let from = if i == 0 { skip } else { 0 };
        let n = (8 - from).min(src.len() - at);
        let value = if n == 8 {
            u64::from_ne_bytes(src[at..at + 8].try_into().expect("8 bytes"))
        } else {
            let mut bytes = word.load(Ordering::Relaxed).to_ne_bytes();
            bytes[from..from + n].copy_from_slice(&src[at..at + n]);
            u64::from_ne_bytes(bytes)
        };
        word.store(value, Ordering::Relaxed);
        at += n;
    }
}
