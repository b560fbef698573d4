//! The slot publish protocol (a seqlock, Boehm's formulation), as the writer and the readers run
//! it. Under `--cfg loom` the fence comes from loom, so `tests/loom_seqlock.rs` model-checks
//! these exact functions against every interleaving and weak-memory reordering loom explores.
//!
//! Writer: `begin_write` (seq word := BUSY, Relaxed; Release fence), write the body with
//! [`store_words`], `end_write` (seq word := seq, Release). Reader: `begin_read` (seq word,
//! Relaxed, then an Acquire fence; BUSY means "being written"), copy the body with
//! [`load_words`], `end_read` (Acquire fence; the seq word again, Relaxed; it must not have
//! changed). A reader that passes both checks copied a body no writer was changing.
//!
//! The body is copied in both directions with relaxed atomic 8-byte words ([`load_words`],
//! [`store_words`], re-exported here from the crate's `sys` module, which applies them to the
//! mapping): a reader's copy may race with the writer's stores, and only atomic accesses may race
//! in Rust's memory model. Why the protocol is then sound (Boehm, "Can seqlocks get along with
//! programming language memory models?", 2012): if the reader's copy loaded any word stored
//! after a `begin_write`, the Release fence of that `begin_write` and the reader's Acquire fence
//! in `end_read` synchronize, so the reader's final seq load sees BUSY or a later seq, and the
//! check fails. If it passes, every word came from writes published by `end_write(begun)`, which
//! the reader's Acquire in `begin_read` synchronized with: the copy is that version of the body.
//! All loads are relaxed and at most 8 bytes (acquire ordering comes from fences), which is what
//! Rust allows on a read-only mapping.

#[cfg(loom)]
use loom::sync::atomic::fence;
use std::sync::atomic::Ordering;
#[cfg(not(loom))]
use std::sync::atomic::fence;

use crate::format::ring::SEQ_BUSY;
pub use crate::sys::{AtomicWord, load_words, store_words};

/// Access to a slot's seq word.
pub trait SeqSlot {
    /// Loads the seq word.
    fn load_seq(&self, order: Ordering) -> u64;
    /// Stores the seq word.
    fn store_seq(&mut self, value: u64, order: Ordering);
}

/// Marks the slot as being written; the body may be written after this returns.
#[inline(always)]
pub fn begin_write<S: SeqSlot>(slot: &mut S) {
    slot.store_seq(SEQ_BUSY, Ordering::Relaxed);
    fence(Ordering::Release);
}

/// Publishes the body written since [`begin_write`] under `seq`.
#[inline(always)]
pub fn end_write<S: SeqSlot>(slot: &mut S, seq: u64) {
    slot.store_seq(seq, Ordering::Release);
}

/// Starts a read: the seq word, or `None` while a write is in progress.
#[inline(always)]
pub fn begin_read<S: SeqSlot>(slot: &S) -> Option<u64> {
    let seq = slot.load_seq(Ordering::Relaxed);
    fence(Ordering::Acquire);
    (seq != SEQ_BUSY).then_some(seq)
}

/// Ends a read begun with `begun`: true when no write touched the slot meanwhile.
#[inline(always)]
pub fn end_read<S: SeqSlot>(slot: &S, begun: u64) -> bool {
    fence(Ordering::Acquire);
    slot.load_seq(Ordering::Relaxed) == begun
}
