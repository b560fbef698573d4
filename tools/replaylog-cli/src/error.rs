//! The error every inspection subcommand returns: printed by `main` as
//! `replaylog: <path>: <what> (<what to do>)` on stderr, with its exit status.
//!
//! Exit status: 0 ok; 1 problems found in the input (damage in a file of ours, captures that
//! differ); 2 usage, I/O, foreign or mismatched input.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use replaylog::ReplayLogError;

/// Status for "the input is ours but damaged" / "captures differ".
pub const EXIT_PROBLEMS: u8 = 1;
/// Status for usage errors, I/O errors, foreign or mismatched inputs.
pub const EXIT_ERROR: u8 = 2;

/// A failed subcommand.
#[derive(Debug)]
pub struct CliError {
    /// The file or directory concerned (`None` for errors about no path, e.g. stdout).
    pub path: Option<PathBuf>,
    /// What went wrong.
    pub what: String,
    /// What the user can do about it.
    pub hint: Option<String>,
    /// Exit status.
    pub code: u8,
    /// Writing to stdout hit a closed pipe (`replaylog dump X | head`): end quietly.
    pub broken_pipe: bool,
}

/// Shorthand.
pub type Result<T, E = CliError> = std::result::Result<T, E>;

impl CliError {
    /// An error about `path` with exit status 2.
    pub fn new(path: impl AsRef<Path>, what: impl Into<String>, hint: impl Into<String>) -> CliError {
        CliError {
            path: Some(path.as_ref().to_path_buf()),
            what: what.into(),
            hint: Some(hint.into()).filter(|h: &String| !h.is_empty()),
            code: EXIT_ERROR,
            broken_pipe: false,
        }
    }

    /// Same, with exit status 1 (a problem found in the input).
    pub fn problem(path: impl AsRef<Path>, what: impl Into<String>, hint: impl Into<String>) -> CliError {
        CliError { code: EXIT_PROBLEMS, ..CliError::new(path, what, hint) }
    }

    /// An I/O error on `path` during `op`.
    pub fn io(path: impl AsRef<Path>, op: &str, e: io::Error) -> CliError {
        let hint = match e.kind() {
            io::ErrorKind::NotFound => "check the path",
            io::ErrorKind::PermissionDenied => "check the file's permissions",
            _ => "check the path, the disk and permissions",
        };
        CliError::new(path, format!("{op} failed: {e}"), hint)
    }

    /// An error writing the command's output.
    pub fn output(e: io::Error) -> CliError {
        let broken_pipe = e.kind() == io::ErrorKind::BrokenPipe;
        CliError {
            path: Some(PathBuf::from("<stdout>")),
            what: format!("write failed: {e}"),
            hint: Some("check the disk or the reading end of the pipe".into()),
            code: EXIT_ERROR,
            broken_pipe,
        }
    }

    /// Maps a library error to the CLI's wording, naming `fallback` when the error names no path.
    pub fn lib(fallback: impl AsRef<Path>, e: ReplayLogError) -> CliError {
        let fallback = fallback.as_ref();
        match e {
            ReplayLogError::Io { op, path, source } => CliError::io(path, op, source),
            ReplayLogError::HeaderMismatch { path, field, expected, found } => {
                let (what, hint) = match field {
                    "file_bytes" => (
                        "a ring file of the wrong length (truncated or extended)",
                        "it cannot be read; restore it from a copy; the file was left untouched",
                    ),
                    "directory entry" => (
                        "not a journal directory",
                        "a journal directory holds only segment files and backup/; move the stranger out or \
                         pass another path",
                    ),
                    "version" => (
                        "written by another version of the format",
                        "use the replaylog version that wrote it; the file was left untouched",
                    ),
                    _ => (
                        "not a replaylog file",
                        "pass a ring file, a journal directory or a journal segment file; the file was left \
                         untouched",
                    ),
                };
                CliError::new(path, format!("{what}: {field} expected {expected}, found {found}"), hint)
            }
            ReplayLogError::Corrupt { path, location, reason } => CliError::problem(
                path,
                format!("corrupt at {location}: {reason}"),
                "run `replaylog validate` for a full report; a journal can be cut back with `replaylog repair`",
            ),
            ReplayLogError::BadTail { path, segment, valid_bytes } => CliError::problem(
                path,
                format!("torn tail: segment {segment} is valid up to byte {valid_bytes}"),
                "a writer's open cuts it, keeping a backup; or run `replaylog repair --yes DIR`",
            ),
            ReplayLogError::Decompress { path, lsn, reason } => CliError::problem(
                path,
                format!("entry {lsn} failed to decompress: {reason}"),
                "the journal is damaged; run `replaylog validate`",
            ),
            ReplayLogError::Locked { path, waited_ms } => CliError::new(
                path,
                format!("locked by another writer (waited {waited_ms} ms)"),
                "stop or close the writer first",
            ),
            other => CliError::new(fallback, other.to_string(), ""),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = &self.path {
            write!(f, "{}: ", p.display())?;
        }
        f.write_str(&self.what)?;
        if let Some(h) = &self.hint {
            write!(f, " ({h})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CliError {}

/// `map_err(out_err)` on writes to the command's output.
pub fn out_err(e: io::Error) -> CliError {
    CliError::output(e)
}
