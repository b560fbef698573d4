//! The crate's one error type.
//!
//! Variants separate misuse (bad arguments), foreign or mismatched files, corruption found in our
//! own files, and operating-system I/O failures, so a caller can act on each differently.

use std::path::PathBuf;

/// Everything that can go wrong in `replaylog`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayLogError {
    /// `capacity == 0` was requested. Rejected before any file is touched.
    #[error("capacity must be at least 1 slot")]
    ZeroCapacity,

    /// A recorder lane name outside the rule: 1 to 64 characters, each an ASCII letter, digit,
    /// `_` or `-` (so `<name>.ring` is one plain file name in the recorder's directory). Rejected
    /// before any file is touched.
    #[error("invalid lane name {name:?}: {reason} (a lane name is 1 to 64 characters of A-Z, a-z, 0-9, '_' and '-')")]
    InvalidLaneName {
        /// The name as given.
        name: String,
        /// What breaks the rule, e.g. `character '/' at byte 1`.
        reason: String,
    },

    /// `capacity` exceeds the format's bound (`u32::MAX` slots). Rejected before any file is touched.
    #[error("capacity {requested} exceeds the maximum of {max} slots")]
    CapacityOverflow {
        /// What the caller asked for.
        requested: u64,
        /// The largest capacity the format accepts.
        max: u64,
    },

    /// An option is outside its documented bounds. Rejected before any file is touched.
    #[error("invalid option {option}: {reason}")]
    InvalidOptions {
        /// The option's name, e.g. `evidence_bytes_max`.
        option: &'static str,
        /// Why it was rejected, with the allowed range.
        reason: String,
    },

    /// An operating-system call failed.
    #[error("{op} failed on {}: {source}", path.display())]
    Io {
        /// The operation, e.g. `open`, `posix_fallocate`, `msync`.
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The file at `path` is not the log the caller asked for (foreign file, other version, other
    /// record size, schema, capacity or layout). The file was left byte-for-byte untouched.
    #[error("{} is not the expected log: {field} expected {expected}, found {found} (file left untouched)", path.display())]
    HeaderMismatch {
        /// The file.
        path: PathBuf,
        /// Which header field disagreed, e.g. `magic`, `capacity`, `layout`.
        field: &'static str,
        /// What the caller (or this build of the format) expects.
        expected: String,
        /// What the file holds.
        found: String,
    },

    /// A `Clock::Caller` append was given a timestamp below the ring's previous one. Nothing was
    /// written.
    #[error("{}: timestamp {given} ns is below the previous record's {previous} ns (nothing written)", path.display())]
    TimestampBackwards {
        /// The ring.
        path: PathBuf,
        /// The stamp of the ring's latest record.
        previous: u64,
        /// The stamp refused.
        given: u64,
    },

    /// The append does not fit the ring's clock: `append_at` on a ring that stamps its own
    /// records (or none), `append` on a `Clock::Caller` ring. Nothing was written.
    #[error("{}: {call} does not fit a ring with clock {clock} (nothing written)", path.display())]
    WrongClock {
        /// The ring.
        path: PathBuf,
        /// The ring's clock.
        clock: crate::format::ring::Clock,
        /// The call made, e.g. `append_at`.
        call: &'static str,
    },

    /// Another writer holds the file's advisory lock.
    #[error("{} is locked by another writer (waited {waited_ms} ms)", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
        /// How long `open` retried before giving up.
        waited_ms: u64,
    },

    /// Our own file holds data that fails verification. For a journal, damage at or before the
    /// durable sync watermark (acknowledged data): nothing was changed; `repair` is the explicit
    /// way on.
    #[error("{} is corrupt at {location}: {reason}", path.display())]
    Corrupt {
        /// The file (or journal directory).
        path: PathBuf,
        /// Where.
        location: Location,
        /// What kind of damage, e.g. `checksum mismatch`.
        reason: String,
    },

    /// A journal segment ends in a torn tail after its durable watermark (an interrupted write).
    /// Opening for write in `Recovery::TolerateTail` cuts it (keeping a backup); `validate` and
    /// `replay` report it.
    #[error("{} has a torn tail: segment {segment} is valid up to byte {valid_bytes}", path.display())]
    BadTail {
        /// The segment file.
        path: PathBuf,
        /// Segment number.
        segment: u64,
        /// Length of the valid prefix of the segment, header included.
        valid_bytes: u64,
    },

    /// A compressed journal entry failed to decompress although its checksum matched.
    #[error("entry {lsn} in {} failed to decompress: {reason}", path.display())]
    Decompress {
        /// The segment file.
        path: PathBuf,
        /// The entry's log sequence number.
        lsn: u64,
        /// The decoder's message.
        reason: String,
    },

    /// A journal entry larger than the format allows.
    #[error("entry of {bytes} bytes exceeds the maximum of {max} bytes")]
    EntryTooLarge {
        /// The entry's size.
        bytes: usize,
        /// The largest entry accepted.
        max: usize,
    },

    /// The handle was closed; every operation on it fails (never a silent no-op).
    #[error("the journal at {} is closed", path.display())]
    NotOpen {
        /// The journal directory.
        path: PathBuf,
    },

    /// An earlier `sync` failed. Durability can no longer be promised for this handle, so it
    /// refuses further appends and syncs (the first failed sync is final).
    #[error("{} refuses writes: an earlier sync failed ({first_error})", path.display())]
    Poisoned {
        /// The file.
        path: PathBuf,
        /// The first error, as text.
        first_error: String,
    },
}

/// Where corruption was found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Location {
    /// A ring's header copies.
    RingHeader,
    /// A ring's layout block.
    RingLayout,
    /// A ring's state copies.
    RingState,
    /// A ring slot.
    RingSlot {
        /// Slot index.
        index: u64,
        /// The seq expected there.
        seq: u64,
    },
    /// A journal segment, at a byte offset.
    Segment {
        /// Segment number.
        segment: u64,
        /// Byte offset in the segment file.
        offset: u64,
    },
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::RingHeader => write!(f, "header copies"),
            Location::RingLayout => write!(f, "layout block"),
            Location::RingState => write!(f, "state"),
            Location::RingSlot { index, seq } => write!(f, "slot {index} (seq {seq})"),
            Location::Segment { segment, offset } => write!(f, "segment {segment}, byte {offset}"),
        }
    }
}

impl ReplayLogError {
    /// An `Io` error: `op` failed on `path`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReplayLogError::Io { op, path: path.into(), source }
    }

    /// A `HeaderMismatch`: `path`'s `field` was expected to be `expected` and is `found`.
    pub fn mismatch(
        path: impl Into<PathBuf>,
        field: &'static str,
        expected: impl ToString,
        found: impl ToString,
    ) -> Self {
        ReplayLogError::HeaderMismatch {
            path: path.into(),
            field,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = ReplayLogError> = std::result::Result<T, E>;
