//! `replaylog` records what a real-time program did, tick by tick, so it can be replayed,
//! certified and benchmarked later.
//!
//! Where to start:
//!
//! * [`RingLog`] — a preallocated, memory-mapped circular flight recorder. `append` is
//!   syscall-free, allocation-free and lock-free; `sync` is the durability point; replay after any
//!   crash returns an exact contiguous window of what was appended. Describe a record with
//!   [`#[replaylog::record]`](macro@record) and the file carries its [`Layout`].
//! * [`RingReader`] / [`RawReader`] — follow a ring from another thread or process, read-only;
//!   [`RawRing`] — open any ring read-only, check it ([`RawRing::validate`]).
//! * [`Journal`] / [`ReadOnlyJournal`] — the unbounded segmented log, with group commit, a
//!   durable watermark, validate and explicit repair.
//! * [`Recorder`] — a directory of rings, one [`Lane`] per producing thread, each append
//!   stamped and lock-free; [`recorder::replay_merged`] / [`MergedReader`] read all lanes as one
//!   timeline, ordered by `(timestamp, lane, seq)`.
//! * [`archive::Archiver`] — drain a ring into a journal losslessly on a background thread.
//! * [`freeze::Freezer`] — keep the records before and after each failure (or explicit trigger)
//!   of a ring or recorder directory, each window written as a capture of its own.
//! * [`replay::Paced`] — feed a capture back at its recorded pace (× a speed), measuring how
//!   late each record is released.
//! * [`detect`](fn@detect) — what a path holds (ring, journal, lone segment, archive, or someone else's file);
//!   [`Layout::decode_record`] — a record's fields as typed [`Value`]s.
//! * [`capture::Capture`] — any capture opened read-only as streams of records, whatever its
//!   kind; [`compare::compare`] — a candidate run against a reference run, with per-field
//!   tolerances, ignored fields and alignment by a key, for certification.
//!
//! ```
//! use replaylog::{FailureKind, ReplayFailureEvidence, RingLog, RingOptions};
//!
//! #[replaylog::record]
//! #[derive(Clone, Copy)]
//! struct Tick { tick: u64, value: f64 }
//!
//! # let dir = tempfile::tempdir()?;
//! let path = dir.path().join("capture.ring");
//! let mut log: RingLog<Tick> = RingLog::open_with(&path, 65_536, RingOptions::default().layout_of::<Tick>())?;
//! log.append(&Tick { tick: 1, value: 0.5 })?;
//! log.append_with_failure(&Tick { tick: 2, value: 0.0 },
//!     &ReplayFailureEvidence::new(FailureKind::Timeout, 110, "deadline missed"))?;
//! log.sync()?;
//!
//! // Any tool can decode it later without the producing code:
//! let ring = replaylog::RawRing::open(&path)?;
//! let last = ring.records()?.pop().unwrap();
//! let fields = ring.layout().unwrap().decode_record(&last.bytes)?;
//! assert_eq!(fields.to_string(), "tick=2 value=0");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Which module owns what
//!
//! Every arrow points down: `lib` → [`archive`] / [`recorder`] → [`ring`] / [`journal`] → `format` / `storage`
//! → `sys`.
//!
//! * [`ring`] — the flight recorder: writer ([`RingLog`]), open/recovery, readers, health report.
//! * [`journal`] — the segmented log: writer, group commit, scan/validate, cut/repair, readers.
//! * [`recorder`] — lanes of rings in one directory, merged reading (above [`ring`]).
//! * [`archive`] — ring → journal archiving and reading archives back.
//! * [`freeze`] — pre/post-trigger captures of a ring or recorder directory (above [`archive`]).
//! * [`detect`](mod@detect), [`value`] — what a path is; typed field values decoded by a layout.
//! * [`capture`], [`compare`] — any capture as record streams (above [`recorder`], [`archive`]);
//!   the certification comparison over two of them.
//! * [`replay`] — paced replay of any iterator of timed items, with its clock seam and drift
//!   histogram (no I/O of its own; above nothing but `error`).
//! * [`lowlevel`] — documented but not needed to record or replay: the byte format
//!   (`lowlevel::format`, pure bytes, matching `docs/FORMAT.md`), the seqlock protocol and the
//!   journal's storage seam with its simulated disk.
//! * `sys` (private) — the memory mapping and file calls; the only module with `unsafe` code.

#![deny(unsafe_code)]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![deny(missing_docs)]

mod arch;
pub mod archive;
pub mod capture;
pub mod compare;
pub mod detect;
pub mod error;
pub mod freeze;
pub mod journal;
pub mod lowlevel;
mod record;
pub mod recorder;
pub mod replay;
pub mod ring;
mod sha256;
mod sys;
pub mod value;

pub(crate) use lowlevel::{format, storage};

pub use detect::{Kind, detect};
pub use error::{Location, ReplayLogError, Result};
pub use format::layout::{Field, FieldType, Layout, LayoutError};
pub use format::window::Anchor;
pub use journal::{
    Ack, EntryKind, Item, Journal, JournalOptions, Lsn, Position, Problem, ReadOnlyJournal, Recovery, SyncMode,
    Validation,
};
pub use record::RecordField;
pub use recorder::{Lane, MergedOutcome, MergedReader, MergedRecord, Recorder, RecorderDir, RecorderOptions};
pub use ring::{
    Clock, EvidenceRef, FailureKind, RecordLayout, RecoveryReport, ReplayFailureEvidence, ReplayItem, ReplayRecord,
    RingIter, RingLog, RingOptions,
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

/// README.md's Rust examples, compiled and run as doctests so they cannot rot.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
