//! What a path holds, found by reading a few bytes: a ring file, a journal directory, an
//! archive (a journal directory whose first entry is the archive header), a recorder directory
//! (lane files `<name>.ring`, see [`recorder`](crate::recorder)), one journal segment file, or
//! something that is not replaylog's (with the reason).
//!
//! ```
//! use replaylog::{Kind, RingLog};
//!
//! let dir = tempfile::tempdir()?;
//! let ring = dir.path().join("capture.ring");
//! let mut log: RingLog<u64> = RingLog::open(&ring, 16)?;
//! log.append(&7)?;
//! assert_eq!(replaylog::detect(&ring)?, Kind::Ring);
//! std::fs::write(dir.path().join("notes.txt"), "hello")?;
//! let foreign = replaylog::detect(dir.path().join("notes.txt"))?;
//! assert_eq!(foreign.to_string(), "not a replaylog ring or journal segment (starts with \"hello\")");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use zerocopy::FromBytes;

use crate::error::{ReplayLogError, Result};
use crate::format::archive::ARCHIVE_MAGIC;
use crate::format::journal::{
    DATA_OFFSET, FRAME_FLAG_LZ4, FRAME_HEADER_BYTES, FrameHeader, SEGMENT_MAGIC, check_frame, frame_data,
    parse_segment_name,
};
use crate::format::ring::{HEADER_B_OFFSET, RING_MAGIC};
use crate::recorder::lane_of_file_name;

/// What [`detect`] found at a path.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kind {
    /// A ring file (`RPLYRING` in header copy A, or in copy B when copy A is damaged). Open it
    /// with [`RawRing::open`](crate::RawRing::open).
    Ring,
    /// A journal directory (any non-empty directory that is not an archive: opening it with
    /// [`ReadOnlyJournal::open`](crate::ReadOnlyJournal::open) says whether it is one).
    JournalDir,
    /// One journal segment file (`RPLYJRNL`). Open it with
    /// [`ReadOnlyJournal::open_segment`](crate::ReadOnlyJournal::open_segment).
    Segment,
    /// A journal directory whose first entry starts with the archive magic `RPLYARCH`: ring
    /// records archived by [`Archiver`](crate::archive::Archiver).
    Archive,
    /// A recorder directory: it holds at least one lane file `<name>.ring` (a name that
    /// [`check_lane_name`](crate::recorder::check_lane_name) accepts) and no journal segment
    /// file. Found from the directory's listing only: whether each lane file is a good ring,
    /// and agrees with the others, is for [`RecorderDir::open`](crate::recorder::RecorderDir::open)
    /// to say. A directory holding both lane files and segments is a journal directory (opening
    /// it as one then names the stranger).
    RecorderDir,
    /// Not a replaylog file or directory.
    Foreign(Foreign),
}

/// Why a path is not replaylog's.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Foreign {
    /// A directory with no entries.
    EmptyDirectory,
    /// A file of zero bytes.
    EmptyFile,
    /// A device, fifo or socket.
    NotFileOrDirectory,
    /// A file that starts with neither magic.
    UnknownMagic {
        /// Its first bytes (up to 8).
        start: Vec<u8>,
    },
}

impl fmt::Display for Foreign {
    /// `empty directory: not a replaylog journal`, `empty file: not a replaylog ring or journal
    /// segment`, `not a regular file or directory`, `not a replaylog ring or journal segment
    /// (starts with "PK\u{3}\u{4}")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Foreign::EmptyDirectory => f.write_str("empty directory: not a replaylog journal"),
            Foreign::EmptyFile => f.write_str("empty file: not a replaylog ring or journal segment"),
            Foreign::NotFileOrDirectory => f.write_str("not a regular file or directory"),
            Foreign::UnknownMagic { start } => {
                write!(f, "not a replaylog ring or journal segment (starts with {})", show_bytes(start))
            }
        }
    }
}

impl fmt::Display for Kind {
    /// `ring`, `journal directory`, `journal segment`, `archive journal`, `recorder directory`,
    /// or the [`Foreign`] reason.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Kind::Ring => f.write_str("ring"),
            Kind::JournalDir => f.write_str("journal directory"),
            Kind::Segment => f.write_str("journal segment"),
            Kind::Archive => f.write_str("archive journal"),
            Kind::RecorderDir => f.write_str("recorder directory"),
            Kind::Foreign(why) => write!(f, "{why}"),
        }
    }
}

/// Leading bytes as text when they are printable ASCII, else as `0x` and hex.
pub(crate) fn show_bytes(m: &[u8]) -> String {
    if m.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        format!("{:?}", String::from_utf8_lossy(m))
    } else {
        format!("0x{}", m.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
}

/// Finds what `path` is, read-only, reading at most a few bytes of a file (the magic, and a
/// ring's second header copy when the first is damaged) and, for a directory, its listing and
/// the first entry of its oldest segment. A directory holding lane files `<name>.ring` and no
/// segment is a [`Kind::RecorderDir`]; any other non-empty directory is a journal (or archive)
/// directory.
///
/// # Errors
/// `Io` when the path cannot be examined (it does not exist, permission denied). Anything that
/// exists but is not replaylog's is `Ok(Kind::Foreign(..))`.
pub fn detect(path: impl AsRef<Path>) -> Result<Kind> {
    let path = path.as_ref();
    let meta = fs::metadata(path).map_err(|e| ReplayLogError::io("stat", path, e))?;
    if meta.is_dir() {
        let entries = fs::read_dir(path).map_err(|e| ReplayLogError::io("read directory", path, e))?;
        let (mut any, mut lanes, mut segments) = (false, false, false);
        for entry in entries {
            let name = entry.map_err(|e| ReplayLogError::io("read directory", path, e))?.file_name();
            any = true;
            if parse_segment_name(&name.to_string_lossy()).is_some() {
                segments = true;
            } else if lane_of_file_name(&name).is_some() {
                lanes = true;
            }
        }
        if !any {
            return Ok(Kind::Foreign(Foreign::EmptyDirectory));
        }
        if lanes && !segments {
            return Ok(Kind::RecorderDir);
        }
        return Ok(if first_entry_is_archive_header(path) { Kind::Archive } else { Kind::JournalDir });
    }
    if !meta.is_file() {
        return Ok(Kind::Foreign(Foreign::NotFileOrDirectory));
    }
    let mut file = File::open(path).map_err(|e| ReplayLogError::io("open", path, e))?;
    let mut magic = Vec::with_capacity(8);
    (&mut file).take(8).read_to_end(&mut magic).map_err(|e| ReplayLogError::io("read", path, e))?;
    if magic.is_empty() {
        return Ok(Kind::Foreign(Foreign::EmptyFile));
    }
    if magic == RING_MAGIC {
        return Ok(Kind::Ring);
    }
    if magic == SEGMENT_MAGIC {
        return Ok(Kind::Segment);
    }
    // A ring whose first header copy is damaged still has the second one.
    let mut b = [0u8; 8];
    if meta.len() >= HEADER_B_OFFSET + 8 && file.read_exact_at(&mut b, HEADER_B_OFFSET).is_ok() && b == RING_MAGIC {
        return Ok(Kind::Ring);
    }
    Ok(Kind::Foreign(Foreign::UnknownMagic { start: magic }))
}

/// Whether the first frame of the lowest-numbered segment in `dir` is intact and its data
/// starts with the archive magic. Reads that frame only; anything unreadable is "no" (opening
/// the journal then reports it).
fn first_entry_is_archive_header(dir: &Path) -> bool {
    let Ok(entries) = fs::read_dir(dir) else { return false };
    let first = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| parse_segment_name(&e.file_name().to_string_lossy()).map(|n| (n, e.path())))
        .min_by_key(|(n, _)| *n);
    let Some((_, seg)) = first else { return false };
    first_frame_data(&seg).is_some_and(|d| d.starts_with(&ARCHIVE_MAGIC))
}

/// The data of a segment file's first frame, if it is intact. The archive header entry is
/// small, so frames beyond a bound are not read.
fn first_frame_data(seg: &Path) -> Option<Vec<u8>> {
    const FRAME_BYTES_READ_MAX: u32 = 1 << 20;
    let file = File::open(seg).ok()?;
    let mut head = [0u8; FRAME_HEADER_BYTES];
    file.read_exact_at(&mut head, DATA_OFFSET).ok()?;
    let h = FrameHeader::read_from_bytes(&head).ok()?;
    let body_len = h.body_len.get();
    if body_len > FRAME_BYTES_READ_MAX {
        return None;
    }
    let mut frame = vec![0u8; FRAME_HEADER_BYTES + body_len as usize];
    file.read_exact_at(&mut frame, DATA_OFFSET).ok()?;
    let (h, n) = check_frame(&frame, h.lsn.get()).ok()?;
    if h.flags & FRAME_FLAG_LZ4 != 0 && h.raw_len.get() > FRAME_BYTES_READ_MAX {
        return None;
    }
    frame_data(&h, &frame[FRAME_HEADER_BYTES..n]).ok()
}
