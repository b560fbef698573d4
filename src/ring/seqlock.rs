//! The slot publish protocol (a seqlock, Boehm's formulation), as the writer and the readers run
//! it. Under `--cfg loom` the fence comes from loom, so `tests/loom_seqlock.rs` model-checks
//! these exact functions against every interleaving and weak-memory reordering loom explores.
//!
//! Writer: `begin_write` (seq word := BUSY, Relaxed; Release fence), write the body,
//! `end_write` (seq word := seq, Release). Reader: `begin_read` (seq word, Acquire; BUSY means
//! "being written"), copy the body, `end_read` (Acquire fence; the seq word again, Relaxed; it
//! must not have changed). A reader that passes both checks copied a body no writer was changing.

#[cfg(loom)]
use loom::sync::atomic::fence;
use std::sync::atomic::Ordering;
#[cfg(not(loom))]
use std::sync::atomic::fence;

use crate::format::ring::SEQ_BUSY;

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
    let seq = slot.load_seq(Ordering::Acquire);
    (seq != SEQ_BUSY).then_some(seq)
}

/// Ends a read begun with `begun`: true when no write touched the slot meanwhile.
#[inline(always)]
pub fn end_read<S: SeqSlot>(slot: &S, begun: u64) -> bool {
    fence(Ordering::Acquire);
    slot.load_seq(Ordering::Relaxed) == begun
}
