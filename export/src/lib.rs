//! Export replaylog captures to the formats engineers already open: **MCAP** (Foxglove, ROS 2
//! tools; feature `mcap`) and **Parquet** (DuckDB, Polars, pandas, Spark; feature `parquet`).
//!
//! This crate writes; it does not open captures. The caller reads records with `replaylog`
//! (a ring's window, a recorder directory's merged lanes, an archive journal's entries, or a
//! plain journal's frames), describes where they come from in a [`Source`], and feeds them one by
//! one to an exporter, which streams them out in bounded memory:
//!
//! * [`mcap::McapExporter`] — one channel per lane (topic `/replaylog/<name>`), `json` messages
//!   with a `jsonschema` generated from the record's [`Layout`], failure evidence as
//!   `foxglove.Log` messages on `/replaylog/failures`, chunked with zstd, indexed, with a summary
//!   and statistics, and a `replaylog` metadata record.
//! * [`parquet::ParquetExporter`] — one row per record, one typed column per layout field, zstd,
//!   row groups of at most 1 M rows, column statistics, the source and layout in the file's
//!   key-value metadata.
//!
//! [`AtomicFile`] gives an output the contract every replaylog output keeps: an existing file is
//! refused unless overwriting was asked for, and the output is written under a temporary name
//! and renamed into place only when complete, so a failed or interrupted export leaves no
//! partial file.
//!
//! The `replaylog export PATH --to mcap:FILE | parquet:FILE` command is built on this crate.

#![deny(unsafe_code)]
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

use replaylog::{Layout, ReplayFailureEvidence};

mod atomic;
#[cfg(feature = "mcap")]
pub mod mcap;
#[cfg(feature = "parquet")]
pub mod parquet;

pub use atomic::AtomicFile;

/// What kind of capture the records come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// One ring file's live window.
    Ring,
    /// A recorder directory's lanes, merged by `(timestamp, lane, seq)`.
    Recorder,
    /// An archive journal (ring records, each possibly naming its lane).
    Archive,
    /// A plain journal: frames (entries and snapshots), not ring records.
    Journal,
}

impl SourceKind {
    /// The name written into the exported file's metadata: `ring`, `recorder`, `archive`,
    /// `journal`.
    pub fn name(self) -> &'static str {
        match self {
            SourceKind::Ring => "ring",
            SourceKind::Recorder => "recorder",
            SourceKind::Archive => "archive",
            SourceKind::Journal => "journal",
        }
    }
}

/// Where the exported records come from: written into the output's metadata and used to choose
/// its shape (channels, columns) before the first record.
#[derive(Clone, Debug)]
pub struct Source {
    /// The capture's path, as the user gave it.
    pub path: PathBuf,
    /// What it is.
    pub kind: SourceKind,
    /// The name a record without a lane is published under (MCAP topic `/replaylog/<name>`):
    /// a ring's file stem, an archive's or journal's directory name.
    pub name: String,
    /// Record size in bytes (`None` for a plain journal, whose frames have any length).
    pub record_bytes: Option<u32>,
    /// The ring's schema id (`None` for a plain journal).
    pub schema_id: Option<u64>,
    /// The layout records are decoded with (the stored one or the one the user gave); `None`:
    /// records are exported as raw bytes.
    pub layout: Option<Layout>,
    /// The ring's capacity in slots (a recorder directory: its reference lane's), if known.
    pub capacity: Option<u64>,
    /// The live window `(first seq, last seq)` of a ring when it was opened, if any.
    pub window: Option<(u64, u64)>,
    /// A recorder directory's lane names (empty otherwise; an archive's lanes appear as its
    /// records name them).
    pub lanes: Vec<String>,
    /// Whether records carry timestamps (a ring or recorder with a clock; an archive whose
    /// first record has one). Parquet gets a `timestamp` column when this is set.
    pub timestamps: bool,
}

/// One ring record to export, borrowed from the caller's reader.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Ring sequence number.
    pub seq: u64,
    /// Writer epoch.
    pub epoch: u32,
    /// The record's timestamp, nanoseconds of the ring's clock.
    pub timestamp_ns: Option<u64>,
    /// The lane it comes from (recorder directories, archive entries that name one).
    pub lane: Option<&'a str>,
    /// The journal entry it was read from (archives).
    pub lsn: Option<u64>,
    /// The record's bytes (`Source::record_bytes` of them).
    pub bytes: &'a [u8],
    /// Failure evidence appended with it.
    pub evidence: Option<&'a ReplayFailureEvidence>,
}

/// One frame of a plain journal to export.
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// Its LSN.
    pub lsn: u64,
    /// Entry or snapshot.
    pub kind: replaylog::EntryKind,
    /// Its bytes.
    pub data: &'a [u8],
}

/// The unit of a `--time FIELD:UNIT` field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeUnit {
    /// Nanoseconds.
    Ns,
    /// Microseconds.
    Us,
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
}

impl TimeUnit {
    /// Nanoseconds per unit.
    pub fn nanos(self) -> u64 {
        match self {
            TimeUnit::Ns => 1,
            TimeUnit::Us => 1_000,
            TimeUnit::Ms => 1_000_000,
            TimeUnit::S => 1_000_000_000,
        }
    }

    /// Parses `ns`, `us`, `ms` or `s`.
    pub fn parse(s: &str) -> Option<TimeUnit> {
        match s {
            "ns" => Some(TimeUnit::Ns),
            "us" => Some(TimeUnit::Us),
            "ms" => Some(TimeUnit::Ms),
            "s" => Some(TimeUnit::S),
            _ => None,
        }
    }
}

/// Errors of an export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The output file exists and overwriting was not asked for.
    #[error("{path}: already exists")]
    OutputExists {
        /// The output path.
        path: PathBuf,
    },
    /// An option does not fit the source (a time field that is not an integer field, a layout
    /// that does not fit the record).
    #[error("{0}")]
    Usage(String),
    /// Reading or writing a file failed.
    #[error("{path}: {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The MCAP or Parquet writer failed.
    #[error("{0}")]
    Writer(String),
}

/// Result of this crate.
pub type Result<T, E = ExportError> = std::result::Result<T, E>;

/// Where an exporter takes each message's time from (MCAP `log_time` and `publish_time`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TimeSource {
    /// The record's own timestamp when it has one, else the seq as nanoseconds (pseudo-time).
    Auto,
    /// An unsigned or signed integer field of the layout, in `unit` (negative values: 0).
    Field {
        /// The field's name in the layout.
        name: String,
        /// Its unit.
        unit: TimeUnit,
    },
}

impl TimeSource {
    /// Parses `FIELD[:ns|us|ms|s]` (default unit `ns`) and checks it against `layout`: the field
    /// must exist and be a scalar integer field.
    pub fn field(spec: &str, layout: Option<&Layout>) -> Result<TimeSource> {
        let (name, unit) = match spec.rsplit_once(':') {
            Some((name, unit)) => (
                name,
                TimeUnit::parse(unit).ok_or_else(|| {
                    ExportError::Usage(format!("--time {spec}: unit {unit:?} is not one of ns, us, ms, s"))
                })?,
            ),
            None => (spec, TimeUnit::Ns),
        };
        let Some(layout) = layout else {
            return Err(ExportError::Usage(format!(
                "--time {name}: the records have no layout to find the field in (pass --layout)"
            )));
        };
        let Some(field) = layout.fields.iter().find(|f| f.name == name) else {
            return Err(ExportError::Usage(format!("--time {name}: the layout {} has no field {name:?}", layout.name)));
        };
        use replaylog::FieldType::*;
        if field.count != 1 || !matches!(field.ty, U8 | U16 | U32 | U64 | I8 | I16 | I32 | I64) {
            let what =
                if field.count != 1 { format!("an array of {}", field.ty.name()) } else { field.ty.name().into() };
            return Err(ExportError::Usage(format!("--time {name}: the field is {what}, not an integer field")));
        }
        Ok(TimeSource::Field { name: name.to_string(), unit })
    }
}

/// Checks that `path` may be written: it does not exist, or `force` is set and it is a file.
pub fn check_output(path: &Path, force: bool) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ExportError::Io { op: "stat", path: path.to_path_buf(), source: e }),
        Ok(m) if m.is_file() && force => Ok(()),
        Ok(m) if m.is_file() => Err(ExportError::OutputExists { path: path.to_path_buf() }),
        Ok(_) => Err(ExportError::Usage(format!("{}: exists and is not a file", path.display()))),
    }
}
