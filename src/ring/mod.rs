//! Engine 1: the memory-mapped circular flight recorder.

pub(crate) mod evidence;
mod health;
mod info;
mod log;
mod open;
mod options;
mod reader;
pub(crate) use crate::lowlevel::seqlock;
pub(crate) use reader::RELEASE_SLOTS;

pub use crate::format::ring::{Clock, SlotFault};
pub use crate::format::window::{Anchor, Run};
pub use evidence::{EvidenceRef, FailureKind, ReplayFailureEvidence, truncate_at_char_boundary};
pub use health::{HeaderCopy, RingHealth, RingProblem, SlotFinding, SlotRun, SlotSummary, StateCopy, StateInfo};
pub use info::RingInfo;
pub use log::{RecoveryReport, ReplayItem, ReplayRecord, RingIter, RingLog};
pub use options::{LOCK_WAIT_MS_MAX, RecordLayout, RingOptions};
pub(crate) use reader::poll_with_backoff;
pub use reader::{
    RawReader, RawRecord, RawRing, ReadOutcome, RingReader, SlotCensus, SlotRead, StartAt, TypedOutcome, WindowRecords,
};
