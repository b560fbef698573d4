//! `replaylog` records what a real-time program did, tick by tick, so it can be replayed,
//! certified and benchmarked later.
//!
//! * [`RingLog`] — a preallocated, memory-mapped circular flight recorder. `append` is
//!   syscall-free, allocation-free and lock-free; `sync` is the durability point; replay after any
//!   crash returns an exact contiguous window of what was appended.
//!
//! ```no_run
//! use replaylog::{RingLog, ReplayFailureEvidence, FailureKind};
//! use replaylog::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
//!
//! #[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy)]
//! #[zerocopy(crate = "replaylog::zerocopy")] // derive through the re-export
//! #[repr(C)]
//! struct Tick { tick: u64, value: f64 }
//!
//! let mut log: RingLog<Tick> = RingLog::open("capture.ring", 65_536)?;
//! log.append(&Tick { tick: 1, value: 0.5 })?;
//! log.append_with_failure(&Tick { tick: 2, value: 0.0 },
//!     &ReplayFailureEvidence::new(FailureKind::Timeout, 110, "deadline missed"))?;
//! log.sync()?;
//! let ticks: Vec<Tick> = log.replay_all()?;
//! # Ok::<(), replaylog::ReplayLogError>(())
//! ```

#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

mod arch;
pub mod archive;
pub mod detect;
pub mod error;
pub mod format;
pub mod journal;
pub mod ring;
pub mod storage;
mod sys;
pub mod value;

pub use detect::{Kind, detect};
pub use error::{Location, ReplayLogError, Result};
pub use format::layout::{Field, FieldType, Layout};
pub use format::window::Anchor;
pub use journal::{
    Ack, EntryKind, Item, Journal, JournalOptions, Lsn, Position, Problem, ReadOnlyJournal, Recovery, SyncMode,
    Validation,
};
pub use ring::{
    EvidenceRef, FailureKind, RecordLayout, RecoveryReport, ReplayFailureEvidence, ReplayItem, ReplayRecord, RingIter,
    RingLog, RingOptions,
};
pub use ring::{RawReader, RawRecord, RawRing, ReadOutcome, RingReader, SlotCensus, SlotRead, StartAt, TypedOutcome};
pub use ring::{RingHealth, RingInfo, RingProblem};
pub use value::{DecodedRecord, FieldValue, Value};
pub use zerocopy;
