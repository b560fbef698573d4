//! Opening a PATH argument read-only, through the library: a ring file, a journal directory,
//! an archive journal, or one journal segment file (read on its own with
//! `ReadOnlyJournal::open_segment`, so its directory is never scanned and nothing is written
//! next to it). Anything else is an error naming the path (exit status 2).
//!
//! Records come out of every input in one shape, [`Rec`]: from a ring's live window, or from an
//! archive journal (decoded by `replaylog::archive`), whose entries are ring records.

use std::path::{Path, PathBuf};

use replaylog::archive::{self, ArchiveDecodeError, ArchiveHeader};
use replaylog::journal::JournalIter;
use replaylog::{
    Item, Kind, Layout, Position, RawRing, ReadOnlyJournal, ReplayFailureEvidence, ReplayLogError, SlotRead,
};

use crate::error::{CliError, Result};

const WHAT_TO_PASS: &str = "pass a ring file, a journal directory or a journal segment file";

/// Detects what `path` is (`replaylog::detect`): a ring, a journal directory, an archive or a
/// segment; anything foreign, or missing, is an error.
pub fn detect(path: &Path) -> Result<Kind> {
    match replaylog::detect(path) {
        Ok(Kind::Foreign(why)) => Err(CliError::new(path, why.to_string(), WHAT_TO_PASS)),
        Ok(kind) => Ok(kind),
        Err(ReplayLogError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            Err(CliError::new(path, "no such file or directory", "check the path"))
        }
        Err(e) => Err(CliError::lib(path, e)),
    }
}

/// An opened input.
pub enum Source {
    /// A ring.
    Ring(Box<RawRing>),
    /// A journal directory or segment.
    Journal(Box<JournalSource>),
}

/// A journal opened read-only.
pub struct JournalSource {
    /// The path as given.
    pub path: PathBuf,
    /// The journal (for a segment file: that one segment).
    pub journal: ReadOnlyJournal,
    /// Whether the input was one segment file.
    pub segment_file: bool,
    /// The archive header, when the journal's first entry is one (for a segment file, or the
    /// first entry of the journal directory holding it).
    pub archive: Option<ArchiveHeader>,
    /// The LSN of that header entry.
    pub archive_lsn: Option<u64>,
}

/// Opens a ring read-only.
pub fn open_ring(path: &Path) -> Result<RawRing> {
    RawRing::open(path).map_err(|e| CliError::lib(path, e))
}

/// Opens a journal directory or segment file read-only.
pub fn open_journal(path: &Path, kind: &Kind) -> Result<JournalSource> {
    let segment_file = *kind == Kind::Segment;
    let journal = if segment_file { ReadOnlyJournal::open_segment(path) } else { ReadOnlyJournal::open(path) };
    let journal = journal.map_err(|e| CliError::lib(path, e))?;
    let mut src = JournalSource { path: path.to_path_buf(), journal, segment_file, archive: None, archive_lsn: None };
    if let Some((h, lsn)) = archive_header(&src.journal).map_err(|e| CliError::problem(path, e, ""))? {
        (src.archive, src.archive_lsn) = (Some(h), Some(lsn));
    } else if src.segment_file {
        // A later segment of an archive: the header is in the directory's first segment.
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if replaylog::detect(parent).is_ok_and(|k| k == Kind::Archive) {
            if let Ok(dir) = ReadOnlyJournal::open(parent) {
                src.archive = archive_header(&dir).ok().flatten().map(|(h, _)| h);
            }
        }
    }
    Ok(src)
}

/// The archive header in a journal's first entry, if it holds one, and its LSN.
fn archive_header(journal: &ReadOnlyJournal) -> std::result::Result<Option<(ArchiveHeader, u64)>, String> {
    match journal.iter_from(Position::Start).ok().and_then(|mut i| i.next()) {
        Some(Ok(item)) => match archive::decode_header(&item.data) {
            Ok(h) => Ok(Some((h, item.lsn))),
            Err(ArchiveDecodeError::NotAnArchive) => Ok(None),
            Err(e) => Err(format!("bad archive header at lsn {}: {e}", item.lsn)),
        },
        _ => Ok(None),
    }
}

impl JournalSource {
    /// Maps a library error about this journal.
    pub fn lib_err(&self, e: ReplayLogError) -> CliError {
        CliError::lib(&self.path, e)
    }
}

/// Detects and opens `path`.
pub fn open(path: &Path) -> Result<Source> {
    match detect(path)? {
        Kind::Ring => Ok(Source::Ring(Box::new(open_ring(path)?))),
        kind => Ok(Source::Journal(Box::new(open_journal(path, &kind)?))),
    }
}

/// A ring record, from a ring or an archive journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    /// Ring sequence number.
    pub seq: u64,
    /// Writer epoch.
    pub epoch: u32,
    /// The record's timestamp (rings with a clock).
    pub timestamp_ns: Option<u64>,
    /// Record bytes.
    pub bytes: Vec<u8>,
    /// Failure evidence.
    pub evidence: Option<ReplayFailureEvidence>,
    /// The journal entry it was read from (archives only).
    pub lsn: Option<u64>,
}

/// The records of a ring's live window from `from` on, in publish order, read slot by slot.
pub struct RingRecords<'a> {
    ring: &'a RawRing,
    next: u64,
    end: u64,
}

impl<'a> RingRecords<'a> {
    /// Records of the window as it is now, from seq `from` (clipped to the window).
    pub fn new(ring: &'a RawRing, from: Option<u64>) -> RingRecords<'a> {
        match ring.window() {
            Some(w) => RingRecords { ring, next: from.map_or(w.first, |f| f.max(w.first)), end: w.last + 1 },
            None => RingRecords { ring, next: 0, end: 0 },
        }
    }

    /// Records left.
    pub fn remaining(&self) -> u64 {
        self.end.saturating_sub(self.next)
    }

    fn read(&self, seq: u64) -> Result<Rec> {
        let index = seq % self.ring.info().capacity;
        let mut last = SlotRead::Changing;
        for attempt in 0..1000 {
            match self.ring.read_slot(index) {
                SlotRead::Valid(r) if r.seq == seq => {
                    return Ok(Rec {
                        seq,
                        epoch: r.epoch,
                        timestamp_ns: r.timestamp_ns,
                        bytes: r.bytes,
                        evidence: r.evidence,
                        lsn: None,
                    });
                }
                SlotRead::Valid(r) if r.seq > seq => {
                    return Err(CliError::problem(
                        self.ring.path(),
                        format!("seq {seq} was overwritten (by seq {}) while it was being read", r.seq),
                        "a writer is appending to this ring; use `replaylog tail -f` to follow it",
                    ));
                }
                SlotRead::Changing => {}
                other => {
                    last = other;
                    if attempt >= 3 {
                        break;
                    }
                }
            }
            std::thread::yield_now();
        }
        let what = match last {
            SlotRead::Valid(r) => format!("holds seq {}", r.seq),
            SlotRead::Fault(f) => f.describe().to_string(),
            SlotRead::Changing => "kept changing while being read".to_string(),
        };
        Err(CliError::problem(
            self.ring.path(),
            format!("slot {index} (seq {seq}) of the live window: {what}"),
            "run `replaylog validate` for a full report",
        ))
    }
}

impl Iterator for RingRecords<'_> {
    type Item = Result<Rec>;

    fn next(&mut self) -> Option<Result<Rec>> {
        if self.next >= self.end {
            return None;
        }
        let r = self.read(self.next);
        self.next = if r.is_ok() { self.next + 1 } else { self.end };
        Some(r)
    }
}

/// Turns the entries of an archive journal into records: the header entry is skipped, every
/// other entry decodes as an archive record entry (`replaylog::archive::decode_entry`).
pub struct ArchiveDecoder {
    /// The record size.
    pub record_bytes: u32,
    /// The LSN of the header entry, if the journal has one.
    pub header_lsn: Option<u64>,
}

impl ArchiveDecoder {
    /// The decoder for `src`'s entries; `record_bytes` for a journal without a header.
    pub fn of(src: &JournalSource, record_bytes: u32) -> ArchiveDecoder {
        let record_bytes = src.archive.as_ref().map_or(record_bytes, |h| h.record_bytes);
        ArchiveDecoder { record_bytes, header_lsn: src.archive_lsn }
    }

    /// The record of `item`, `None` for the header.
    pub fn decode(&self, src: &JournalSource, item: Item) -> Result<Option<Rec>> {
        if Some(item.lsn) == self.header_lsn {
            return Ok(None);
        }
        let rb = self.record_bytes;
        match archive::decode_entry(&item.data, rb as usize) {
            Ok(e) => Ok(Some(Rec {
                seq: e.seq,
                epoch: e.epoch,
                timestamp_ns: e.timestamp_ns,
                bytes: e.bytes,
                evidence: e.evidence,
                lsn: Some(item.lsn),
            })),
            Err(why) => Err(CliError::new(
                &src.path,
                format!("{} lsn {} is not an archived record of {rb} bytes: {why}", item.kind, item.lsn),
                "pass an archive written by the archiver or by `replaylog export --to journal:DIR`",
            )),
        }
    }
}

/// The records of an archive journal from its start (see [`ArchiveDecoder`]).
pub struct ArchiveRecords<'a> {
    iter: JournalIter<'a>,
    src: &'a JournalSource,
    decoder: ArchiveDecoder,
    failed: bool,
}

impl<'a> ArchiveRecords<'a> {
    /// Records of `src`; `record_bytes` applies to an archive without a header.
    pub fn new(src: &'a JournalSource, record_bytes: u32) -> Result<ArchiveRecords<'a>> {
        let iter = src.journal.iter_from(Position::Start).map_err(|e| src.lib_err(e))?;
        Ok(ArchiveRecords { iter, src, decoder: ArchiveDecoder::of(src, record_bytes), failed: false })
    }

    fn step(&mut self) -> Option<Result<Rec>> {
        loop {
            let item = match self.iter.next()? {
                Ok(item) => item,
                Err(e) => return Some(Err(self.src.lib_err(e))),
            };
            match self.decoder.decode(self.src, item) {
                Ok(None) => continue,
                Ok(Some(r)) => return Some(Ok(r)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl Iterator for ArchiveRecords<'_> {
    type Item = Result<Rec>;

    fn next(&mut self) -> Option<Result<Rec>> {
        if self.failed {
            return None;
        }
        let r = self.step();
        self.failed = matches!(r, Some(Err(_)));
        r
    }
}

/// The frames of a journal from `from`, errors mapped.
pub fn journal_items(src: &JournalSource, from: Position) -> Result<impl Iterator<Item = Result<Item>> + '_> {
    let iter = src.journal.iter_from(from).map_err(|e| src.lib_err(e))?;
    Ok(iter.map(move |r| r.map_err(|e| src.lib_err(e))))
}

/// The journal's first problem as an error (exit status 1), if any: reported after everything
/// readable was shown.
pub fn journal_problem(src: &JournalSource) -> Option<CliError> {
    src.journal.problem().map(|e| src.lib_err(e))
}

/// Total frames of a journal (for progress bars).
pub fn journal_frames(src: &JournalSource) -> u64 {
    src.journal.segments().iter().map(|s| s.frames).sum()
}

/// The layout to decode records with: `--layout` if given, else the stored one. A layout that
/// does not fit a record of `record_bytes` is an error.
pub fn choose_layout(
    path: &Path,
    spec: Option<&str>,
    stored: Option<&Layout>,
    record_bytes: Option<u32>,
) -> Result<Option<Layout>> {
    let layout = match spec {
        Some(s) => Some(Layout::parse_spec(s).map_err(|e| {
            CliError::new(path, format!("bad --layout: {e}"), "e.g. --layout \"tick:u64,value:f64,flags:u32\"")
        })?),
        None => stored.cloned(),
    };
    if let (Some(l), Some(rb)) = (&layout, record_bytes) {
        l.check(rb).map_err(|e| {
            CliError::new(path, format!("--layout does not fit: {e}"), "the fields must lie inside the record")
        })?;
    }
    Ok(layout)
}
