//! A ring's full health report, read-only: both header copies and both state copies (and why
//! a copy is not valid), the cursor hint, the live window, and every slot: valid records in the
//! window, stale ones outside it, never-written slots, and damaged ones, reported as runs of
//! consecutive slots with the same finding. A writer's open recovers everything reported here
//! (rings need no repair); this is what it would find.

use std::fmt;

use crate::format::ring::*;
use crate::format::window::Run;
use crate::ring::open::{self, CopyState};
use crate::ring::reader::RawRing;

/// One header copy, as found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderCopy {
    /// Valid (and the one in use when both are valid: they are then identical).
    Valid,
    /// Our magic and version, but the checksum fails (a torn write, or rot).
    Checksum,
    /// The magic is not ours and the copy does not checksum with it put back.
    Magic {
        /// The first 8 bytes of the copy.
        found: [u8; 8],
    },
    /// A version word this build does not read.
    Version {
        /// The version found.
        found: u32,
    },
}

impl fmt::Display for HeaderCopy {
    /// `valid`, `checksum mismatch (torn or damaged)`, `magic reads 0x00..`, `version 7`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderCopy::Valid => f.write_str("valid"),
            HeaderCopy::Checksum => f.write_str("checksum mismatch (torn or damaged)"),
            HeaderCopy::Magic { found } => write!(f, "magic reads {}", crate::detect::show_bytes(found)),
            HeaderCopy::Version { found } => write!(f, "version {found}, expected {RING_VERSION}"),
        }
    }
}

/// What a valid state copy says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StateInfo {
    /// Incremented by every state write; the valid copy with the larger one is current.
    pub generation: u64,
    /// The writer epoch of the newest open for writing.
    pub epoch: u32,
    /// Sync watermark: every seq below it was durable when the state was written.
    pub synced_next: u64,
}

/// One state copy, as found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateCopy {
    /// Valid.
    Valid(StateInfo),
    /// All zero: not written yet (a new ring has written only copy 0).
    NeverWritten,
    /// Fails its checksum or holds counters out of range (a torn state write, or rot).
    Damaged,
}

impl fmt::Display for StateCopy {
    /// `generation 3, epoch 2, synced_next 100`, `never written`, `damaged (checksum or range)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateCopy::Valid(s) => {
                write!(f, "generation {}, epoch {}, synced_next {}", s.generation, s.epoch, s.synced_next)
            }
            StateCopy::NeverWritten => f.write_str("never written"),
            StateCopy::Damaged => f.write_str("damaged (checksum or range)"),
        }
    }
}

/// What is wrong with a slot that is not a live record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotFinding {
    /// The slot fails validation ([`SlotFault`], never `NeverWritten`), or claims an epoch newer
    /// than the state ([`SlotFault::FutureEpoch`]).
    Fault(SlotFault),
    /// A valid record outside the live window: cut off by a damaged slot, an older lap, or
    /// persisted beyond a crash. A writer's open zeroes it.
    Stale,
    /// The slot kept changing while it was read (a writer is active).
    Changing,
}

impl SlotFinding {
    /// A stable machine-readable name: `busy`, `bad_header`, `checksum`, `misplaced`,
    /// `future_epoch`, `evidence`, `stale`, `changing` (`never_written` is not a finding).
    pub fn name(&self) -> &'static str {
        match self {
            SlotFinding::Fault(SlotFault::NeverWritten) => "never_written",
            SlotFinding::Fault(SlotFault::Busy) => "busy",
            SlotFinding::Fault(SlotFault::BadHeader) => "bad_header",
            SlotFinding::Fault(SlotFault::Checksum) => "checksum",
            SlotFinding::Fault(SlotFault::Misplaced) => "misplaced",
            SlotFinding::Fault(SlotFault::FutureEpoch) => "future_epoch",
            SlotFinding::Fault(SlotFault::Evidence) => "evidence",
            SlotFinding::Stale => "stale",
            SlotFinding::Changing => "changing",
        }
    }
}

impl fmt::Display for SlotFinding {
    /// The description, e.g. `checksum mismatch (torn or corrupted)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SlotFinding::Fault(fault) => f.write_str(fault.describe()),
            SlotFinding::Stale => f.write_str(
                "stale: a valid record outside the live window (cut off by a damaged slot, an older lap, or \
                 persisted beyond a crash; a writer's open zeroes it)",
            ),
            SlotFinding::Changing => f.write_str("kept changing while being read (a writer is active)"),
        }
    }
}

/// Consecutive slots with the same finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotRun {
    /// First slot index.
    pub first_index: u64,
    /// Last slot index (inclusive).
    pub last_index: u64,
    /// What is wrong with them.
    pub finding: SlotFinding,
    /// The seq the first slot claims (its seq word, or the record's seq for a stale or
    /// future-epoch record), when it has one.
    pub first_seq: Option<u64>,
}

/// One problem a [`RingHealth`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RingProblem {
    /// Header copies that are not valid (the other one is, or the ring would not open); a
    /// writer's open rewrites it from the good one.
    HeaderCopy {
        /// How many of the two are damaged.
        damaged: u8,
    },
    /// Neither state copy is valid: the sync watermark and epoch are lost (the window is then
    /// anchored at the newest record).
    NoValidState,
    /// A run of slots that are not live records.
    Slots(SlotRun),
}

impl RingProblem {
    /// A stable machine-readable name: `header_copy`, `state`, or the [`SlotFinding::name`].
    pub fn name(&self) -> &'static str {
        match self {
            RingProblem::HeaderCopy { .. } => "header_copy",
            RingProblem::NoValidState => "state",
            RingProblem::Slots(run) => run.finding.name(),
        }
    }

    /// What is wrong, without the slot indices.
    pub fn description(&self) -> String {
        match self {
            RingProblem::HeaderCopy { damaged } => {
                format!("{damaged} of 2 header copies damaged (a writer's open rewrites it from the good one)")
            }
            RingProblem::NoValidState => "no valid state copy (the sync watermark and epoch are lost)".to_string(),
            RingProblem::Slots(run) => run.finding.to_string(),
        }
    }
}

impl fmt::Display for RingProblem {
    /// `slot 5: checksum mismatch (torn or corrupted) (seq 69)`, `slots 3..=9: ... (first seq
    /// 35)`, or the description of a file-level problem.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RingProblem::Slots(r) if r.first_index == r.last_index => {
                write!(f, "slot {}: {}", r.first_index, r.finding)?;
                r.first_seq.map_or(Ok(()), |s| write!(f, " (seq {s})"))
            }
            RingProblem::Slots(r) => {
                write!(f, "slots {}..={}: {}", r.first_index, r.last_index, r.finding)?;
                r.first_seq.map_or(Ok(()), |s| write!(f, " (first seq {s})"))
            }
            other => f.write_str(&other.description()),
        }
    }
}

/// Every slot of a ring, counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SlotSummary {
    /// Slots in the ring.
    pub capacity: u64,
    /// Valid records inside the live window.
    pub valid: u64,
    /// Of those, records carrying failure evidence.
    pub with_evidence: u64,
    /// Never written (all zero).
    pub never_written: u64,
    /// Damaged, torn, misplaced, future-epoch, busy or changing slots.
    pub bad: u64,
    /// Valid records outside the live window.
    pub stale: u64,
}

/// A ring's full health report; see [`RawRing::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingHealth {
    /// Header copies A and B.
    pub header_copies: [HeaderCopy; 2],
    /// State copies 0 and 1.
    pub state_copies: [StateCopy; 2],
    /// The current state (the valid copy with the larger generation).
    pub state: Option<StateInfo>,
    /// The cursor hint (the writer's next seq) when not garbled; informational only.
    pub cursor_hint: Option<u64>,
    /// The live window, as a writer's open would recover it.
    pub window: Option<Run>,
    /// Every slot, counted.
    pub slots: SlotSummary,
    /// File-level problems first, then runs of slots by index.
    pub problems: Vec<RingProblem>,
}

impl RingHealth {
    /// No problem found.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// How many header copies are valid (0 never: such a ring does not open).
    pub fn header_copies_valid(&self) -> u8 {
        self.header_copies.iter().filter(|c| **c == HeaderCopy::Valid).count() as u8
    }

    /// How many state copies are valid.
    pub fn state_copies_valid(&self) -> u8 {
        self.state_copies.iter().filter(|c| matches!(c, StateCopy::Valid(_))).count() as u8
    }
}

/// How often the progress callback of [`RawRing::validate_with_progress`] is called.
const PROGRESS_EVERY_SLOTS: u64 = 4096;

impl RawRing {
    /// Validates the whole ring, read-only: header copies, state copies, cursor, window and
    /// every slot. With a writer running, the report is a snapshot that may already be moving
    /// on (slots it changed while being read are reported as `changing` or `busy`).
    pub fn validate(&self) -> RingHealth {
        self.validate_with_progress(|_, _| {})
    }

    /// [`RawRing::validate`], calling `progress(slots_done, capacity)` every few thousand slots.
    pub fn validate_with_progress(&self, mut progress: impl FnMut(u64, u64)) -> RingHealth {
        let header_copies = [HEADER_A_OFFSET, HEADER_B_OFFSET].map(|off| {
            let mut b = [0u8; SECTOR_BYTES as usize];
            self.region.copy_out(off as usize, &mut b);
            match open::classify_copy(&b) {
                CopyState::Good(_) => HeaderCopy::Valid,
                CopyState::Torn | CopyState::Missing => HeaderCopy::Checksum,
                CopyState::Foreign(found) => HeaderCopy::Magic { found },
                CopyState::Version(found) => HeaderCopy::Version { found },
            }
        });
        let state_copies = STATE_OFFSETS.map(|off| {
            let mut b = [0u8; STATE_BYTES];
            self.region.copy_out(off as usize, &mut b);
            match RingState::decode(&b) {
                Some(s) => StateCopy::Valid(StateInfo {
                    generation: s.generation.get(),
                    epoch: s.epoch.get(),
                    synced_next: s.synced_next.get(),
                }),
                None if b.iter().all(|x| *x == 0) => StateCopy::NeverWritten,
                None => StateCopy::Damaged,
            }
        });
        let state = state_copies
            .iter()
            .filter_map(|c| match c {
                StateCopy::Valid(s) => Some(*s),
                _ => None,
            })
            .max_by_key(|s| s.generation);
        let mut problems = Vec::new();
        let damaged = header_copies.iter().filter(|c| **c != HeaderCopy::Valid).count() as u8;
        if damaged > 0 {
            problems.push(RingProblem::HeaderCopy { damaged });
        }
        if state.is_none() {
            problems.push(RingProblem::NoValidState);
        }
        let window = self.window();
        let cap = self.geometry().capacity_slots;
        let mut slots = SlotSummary { capacity: cap, ..SlotSummary::default() };
        let mut buf = Vec::new();
        for i in 0..cap {
            if i % PROGRESS_EVERY_SLOTS == 0 {
                progress(i, cap);
                // A full scan keeps only the last few thousand slots resident.
                self.release_slots(i.saturating_sub(PROGRESS_EVERY_SLOTS), i.min(PROGRESS_EVERY_SLOTS));
            }
            let mut res = self.read_slot_into(i, &mut buf);
            for _ in 0..3 {
                if !matches!(res, Err(None) | Err(Some(SlotFault::Busy))) {
                    break;
                }
                std::thread::yield_now();
                res = self.read_slot_into(i, &mut buf);
            }
            let seq_word = buf.get(SLOT_SEQ..SLOT_SEQ + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
            let finding = match res.map(|m| check_slot_epoch(m, state.map(|s| s.epoch))) {
                Ok(Err(fault)) => Some((SlotFinding::Fault(fault), res.ok().map(|m| m.seq))),
                Ok(Ok(m)) if window.is_some_and(|w| m.seq < w.first || m.seq > w.last) => {
                    slots.stale += 1;
                    push(&mut problems, i, SlotFinding::Stale, Some(m.seq));
                    None
                }
                Ok(Ok(m)) => {
                    slots.valid += 1;
                    slots.with_evidence += u64::from(m.evidence_bytes > 0);
                    None
                }
                Err(Some(SlotFault::NeverWritten)) => {
                    slots.never_written += 1;
                    None
                }
                Err(Some(fault)) => Some((SlotFinding::Fault(fault), seq_word)),
                Err(None) => Some((SlotFinding::Changing, seq_word)),
            };
            if let Some((finding, seq)) = finding {
                slots.bad += 1;
                push(&mut problems, i, finding, seq);
            }
        }
        progress(cap, cap);
        RingHealth { header_copies, state_copies, state, cursor_hint: self.cursor_hint(), window, slots, problems }
    }
}

/// Adds a slot finding, merging it into the previous run when it continues it.
fn push(problems: &mut Vec<RingProblem>, index: u64, finding: SlotFinding, seq: Option<u64>) {
    if let Some(RingProblem::Slots(run)) = problems.last_mut() {
        if run.finding == finding && run.last_index + 1 == index {
            run.last_index = index;
            return;
        }
    }
    problems.push(RingProblem::Slots(SlotRun { first_index: index, last_index: index, finding, first_seq: seq }));
}
