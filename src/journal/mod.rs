//! Engine 2: the segmented, append-only journal.
//!
//! Numbered segment files (`NNNNNNNNNNNNNNNNNNNN.seg`), each with a checksummed header and two
//! alternating durable-watermark copies, then checksummed frames. See `docs/FORMAT.md` and
//! `docs/DESIGN.md`.

mod cut;
mod options;
mod read;
mod scan;
mod writer;

pub use cut::{CutReport, RepairReport};
pub use options::{
    Ack, COMPRESS_MIN_BYTES_DEFAULT, JournalOptions, Recovery, SEGMENT_BYTES_DEFAULT, SEGMENT_BYTES_MIN,
    SYNC_INTERVAL_MS_MIN, SyncMode, WATERMARK_EVERY_ROUNDS_DEFAULT, WATERMARK_EVERY_ROUNDS_MAX,
    WATERMARK_QUIET_MS_DEFAULT, WATERMARK_QUIET_MS_MAX,
};
pub use read::{
    DirLock, EntryKind, Item, JournalIter, Position, Problem, ReadOnlyJournal, SegmentSummary, Validation, repair,
    repair_with, replay, try_lock, validate, validate_with,
};
pub use writer::{Journal, Lsn};
