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

    /// Another writer holds the file's advisory lock.
    #[error("{} is locked by another writer (waited {waited_ms} ms)", path.display())]
    Locked {
        /// The file.
        path: PathBuf,
        /// How long `open` retried before giving up.
        waited_ms: u64,
    },

    /// Our own file holds data that fails verification.
    #[error("{} is corrupt at {location}: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where: e.g. `slot 17 (seq 4113)` or `header copies`.
        location: String,
        /// What kind of damage, e.g. `checksum mismatch`.
        reason: String,
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

impl ReplayLogError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ReplayLogError::Io { op, path: path.into(), source }
    }

    pub(crate) fn mismatch(
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
