//! Reconstructing a ring's live window from its slots after any crash. Pure: the caller supplies
//! each slot's validation result.
//!
//! Inputs are the slots that passed [`super::ring::check_slot`] and the sync watermark
//! (`synced_next`: every seq below it was durable when the state was written). The window is one
//! run of consecutive seqs, walked outwards from an anchor:
//!
//! * **anchor** — the newest valid slot holding a synced seq (`< synced_next`): normally seq
//!   `synced_next - 1` itself, so every synced record that no later append overwrote is inside the
//!   run, whatever torn or out-of-order unsynced slots lie around it. If that slot was destroyed
//!   (a garbage sector shared with an unsynced neighbour), the newest surviving synced seq anchors
//!   instead, so only the destroyed record is lost. With no synced seq left (all overwritten by
//!   later appends, or nothing ever synced), the newest valid slot by `(epoch, seq)` anchors.
//! * **floor** — seqs below `synced_next - capacity` were overwritten by synced appends, so a slot
//!   still holding one (a lost write, a stale copy of an earlier lap) is ignored.
//! * **lineage fence** — each open for writing takes a new epoch and flags its first append
//!   `EPOCH_FIRST`. Walking forward from `(s, e)`, seq `s + 1` joins only if it has the same epoch
//!   and is not a first, or a newer epoch and is a first (that writer started right there).
//!   Walking backward from `(s, e, first)`, seq `s - 1` joins only if it has the same epoch and `s`
//!   is not a first, or an older epoch and `s` is a first. A slot persisted out of order beyond an
//!   earlier replayed run belongs to an older epoch that did not start at its seq, so it can never
//!   rejoin the run, even after the next writer fills the gap before it.

use super::ring::SlotMeta;

/// The recovered live window: seqs `first ..= last`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    /// Oldest seq in the window.
    pub first: u64,
    /// Newest seq in the window.
    pub last: u64,
    /// What the walk started from.
    pub anchor: Anchor,
}

/// Which slot the recovery walk started from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// The newest surviving seq covered by the durable sync watermark.
    Watermark(u64),
    /// No usable watermark: the newest valid slot by (epoch, seq).
    Newest(u64),
}

impl Run {
    /// Records in the window (`last - first + 1`, at least 1).
    pub fn records(&self) -> u64 {
        self.last - self.first + 1
    }
}

impl std::fmt::Display for Run {
    /// `seq 36..=99 (64 records), anchored at the sync watermark, seq 99`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seq {}..={} ({} records), anchored at {}", self.first, self.last, self.records(), self.anchor)
    }
}

impl Anchor {
    /// The seq the walk started from.
    pub fn seq(&self) -> u64 {
        match *self {
            Anchor::Watermark(s) | Anchor::Newest(s) => s,
        }
    }
}

impl std::fmt::Display for Anchor {
    /// `the sync watermark, seq 99` or `the newest record, seq 7 (nothing synced in it)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Anchor::Watermark(s) => write!(f, "the sync watermark, seq {s}"),
            Anchor::Newest(s) => write!(f, "the newest record, seq {s} (nothing synced in it)"),
        }
    }
}

fn joins_forward(prev: &SlotMeta, next: &SlotMeta) -> bool {
    next.seq == prev.seq + 1
        && ((next.epoch == prev.epoch && !next.epoch_first) || (next.epoch > prev.epoch && next.epoch_first))
}

fn joins_backward(cur: &SlotMeta, prev: &SlotMeta) -> bool {
    cur.seq > 0
        && prev.seq == cur.seq - 1
        && ((prev.epoch == cur.epoch && !cur.epoch_first) || (prev.epoch < cur.epoch && cur.epoch_first))
}

/// Recovers the window. `slot(i)` returns the metadata of slot `i` if it is valid.
/// `None` when no slot is valid.
pub fn recover(capacity: u64, synced_next: u64, slot: impl Fn(u64) -> Option<SlotMeta>) -> Option<Run> {
    // Seqs below `synced_next - capacity` were durably overwritten by synced appends: a slot
    // still holding one is a lost write or a stale copy, never part of the window.
    let floor = synced_next.saturating_sub(capacity);
    let slot = |i: u64| slot(i).filter(|m| m.seq >= floor);
    let at = |seq: u64| slot(seq % capacity).filter(|m| m.seq == seq);
    let synced = (0..capacity).filter_map(slot).filter(|m| m.seq < synced_next).max_by_key(|m| m.seq);
    let (anchor_meta, anchor) = match synced {
        Some(m) => (m, Anchor::Watermark(m.seq)),
        None => {
            let newest = (0..capacity).filter_map(slot).max_by_key(|m| (m.epoch, m.seq))?;
            (newest, Anchor::Newest(newest.seq))
        }
    };
    let mut last = anchor_meta;
    while let Some(next) = at(last.seq + 1).filter(|n| joins_forward(&last, n)) {
        last = next;
    }
    let mut first = anchor_meta;
    while let Some(prev) = first.seq.checked_sub(1).and_then(&at).filter(|p| joins_backward(&first, p)) {
        first = prev;
    }
    Some(Run { first: first.seq, last: last.seq, anchor })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn m(seq: u64, epoch: u32, first: bool) -> SlotMeta {
        SlotMeta { seq, epoch, epoch_first: first, evidence_bytes: 0, timestamp_ns: None }
    }

    fn run(cap: u64, synced: u64, slots: &[SlotMeta]) -> Option<(u64, u64)> {
        let map: HashMap<u64, SlotMeta> = slots.iter().map(|s| (s.seq % cap, *s)).collect();
        recover(cap, synced, |i| map.get(&i).copied()).map(|r| (r.first, r.last))
    }

    #[test]
    fn run_and_anchor_display() {
        let w = Run { first: 36, last: 99, anchor: Anchor::Watermark(99) };
        assert_eq!(w.to_string(), "seq 36..=99 (64 records), anchored at the sync watermark, seq 99");
        let n = Run { first: 5, last: 5, anchor: Anchor::Newest(5) };
        assert_eq!(n.to_string(), "seq 5..=5 (1 records), anchored at the newest record, seq 5 (nothing synced in it)");
        assert_eq!((w.records(), n.anchor.seq()), (64, 5));
    }

    #[test]
    fn empty_ring_has_no_window() {
        assert_eq!(run(4, 0, &[]), None);
    }

    #[test]
    fn watermark_anchor_ignores_valid_slot_after_a_torn_one() {
        // seqs 0..=3 synced; 4 torn; 5 persisted out of order.
        let slots = [m(0, 1, true), m(1, 1, false), m(2, 1, false), m(3, 1, false), m(5, 1, false)];
        assert_eq!(run(8, 4, &slots), Some((0, 3)));
        // Without a watermark the newest slot wins: a contiguous run, but synced ones are hidden.
        assert_eq!(run(8, 0, &slots), Some((5, 5)));
    }

    #[test]
    fn stale_slot_of_older_epoch_never_rejoins() {
        // Epoch 1 replayed 0..=3, seq 5 (epoch 1) is stale. Epoch 2 wrote 4 (first).
        let slots = [m(0, 1, true), m(1, 1, false), m(2, 1, false), m(3, 1, false), m(4, 2, true), m(5, 1, false)];
        assert_eq!(run(8, 4, &slots), Some((0, 4)));
        // Even anchored at the newest slot (epoch 2, seq 4).
        assert_eq!(run(8, 0, &slots), Some((0, 4)));
    }

    #[test]
    fn backward_walk_refuses_older_epoch_unless_current_is_first() {
        // Epoch 2 started at 4 and wrote 4, 5, 6; 5 never persisted, so slot 5 holds a stale
        // epoch-1 seq 5. Anchored at the newest (6) the walk must stop before the stale 5.
        let slots = [m(3, 1, false), m(4, 2, true), m(5, 1, false), m(6, 2, false)];
        assert_eq!(run(8, 0, &slots), Some((6, 6)));
    }

    #[test]
    fn destroyed_watermark_slot_anchors_at_the_newest_surviving_synced_seq() {
        // Synced through 5, but slot 5 was destroyed (a garbage sector shared with unsynced 6);
        // 7 persisted out of order. The run keeps the intact synced 0..=4, not just 7.
        let slots = [m(0, 1, true), m(1, 1, false), m(2, 1, false), m(3, 1, false), m(4, 1, false), m(7, 1, false)];
        assert_eq!(run(16, 6, &slots), Some((0, 4)));
    }

    #[test]
    fn stale_lap_below_the_synced_floor_is_ignored() {
        // cap 4, synced through 9 (live 6..=9); slot 1 lost seq 9's write and still holds 5.
        let slots = [m(5, 1, false), m(6, 1, false), m(7, 1, false), m(8, 1, false)];
        assert_eq!(run(4, 10, &slots), Some((6, 8)));
    }

    #[test]
    fn wrapped_ring_walks_back_one_lap_at_most() {
        let slots: Vec<_> = (10..14).map(|s| m(s, 1, s == 0)).collect();
        assert_eq!(run(4, 14, &slots), Some((10, 13)));
        assert_eq!(run(4, 12, &slots), Some((10, 13)));
    }
}
