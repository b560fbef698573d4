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
pub mod journal;
pub mod lowlevel;
mod record;
pub mod ring;
mod sys;
pub mod value;

pub(crate) use lowlevel::{format, storage};

pub use detect::{Kind, detect};
pub use error::{Location, ReplayLogError, Result};
pub use format::layout::{Field, FieldType, Layout};
pub use format::window::Anchor;
pub use journal::{
    Ack, EntryKind, Item, Journal, JournalOptions, Lsn, Position, Problem, ReadOnlyJournal, Recovery, SyncMode,
    Validation,
};
pub use record::RecordField;
pub use ring::{
    EvidenceRef, FailureKind, RecordLayout, RecoveryReport, ReplayFailureEvidence, ReplayItem, ReplayRecord, RingIter,
    RingLog, RingOptions,
};
pub use ring::{RawReader, RawRecord, RawRing, ReadOutcome, RingReader, SlotCensus, SlotRead, StartAt, TypedOutcome};
pub use ring::{RingHealth, RingInfo, RingProblem};
pub use value::{DecodedRecord, FieldValue, Value};
pub use zerocopy;

/// Makes a struct a ring record that describes itself: `#[repr(C)]`, zerocopy's traits and
/// [`RecordLayout`], with every field's [`FieldType`] taken from its Rust type at compile time
/// (see [`RecordField`] for the mapping).
///
/// ```
/// use replaylog::{Field, FieldType, Layout, RecordLayout, RingLog, RingOptions};
///
/// #[replaylog::record]
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// struct Vec3 { x: f32, y: f32, z: f32 }
///
/// #[replaylog::record(name = "pose")]
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// struct Pose {
///     seq: u64,
///     position: Vec3,        // nested: position.x, position.y, position.z
///     flags: u16,
///     frame: [u8; 2],        // bytes
///     _pad: [u8; 0],         // `_` fields are padding, kept out of the layout
///     quality: [i16; 4],     // an array of 4 i16
/// }
///
/// assert_eq!(Pose::layout(), Layout::new("pose", vec![
///     Field::new("seq", FieldType::U64, 0),
///     Field::new("position.x", FieldType::F32, 8),
///     Field::new("position.y", FieldType::F32, 12),
///     Field::new("position.z", FieldType::F32, 16),
///     Field::new("flags", FieldType::U16, 20),
///     Field::array("frame", FieldType::Bytes, 22, 2),
///     Field::array("quality", FieldType::I16, 24, 4),
/// ]));
///
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("poses.ring");
/// let pose = Pose { seq: 1, position: Vec3 { x: 1.0, y: 2.0, z: 3.0 }, flags: 0, frame: *b"w0",
///                   _pad: [], quality: [9, 8, 7, 6] };
/// let mut log: RingLog<Pose> = RingLog::open_with(&path, 1024, RingOptions::default().layout_of::<Pose>())?;
/// log.append(&pose)?;
/// assert_eq!(log.layout(), Some(&Pose::layout())); // stored in the file for any reader
/// assert_eq!(log.replay_all()?, vec![pose]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// A field type that is not a record field, implicit padding, an enum, a generic or a tuple
/// struct, or a `repr` other than `C` does not compile, with a message that says what to write:
///
/// ```compile_fail
/// #[replaylog::record]
/// struct Sample { ok: bool, value: f64 } // bool: store a u8; 7 padding bytes after `ok`
/// ```
pub use replaylog_derive::record;
