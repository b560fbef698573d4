//! Opening a PATH argument read-only, through the library: a ring file, a journal directory,
//! an archive journal, a recorder directory (lane files `<name>.ring`, opened lane by lane with
//! `replaylog::recorder::RecorderDir`), or one journal segment file (read on its own with
//! `ReadOnlyJournal::open_segment`, so its directory is never scanned and nothing is written
//! next to it). Anything else is an error naming the path (exit status 2).
//!
//! Records come out of every input in one shape, [`Rec`]: from a ring's live window, from a
//! recorder directory's lanes merged by `(timestamp, lane, seq)` (`replaylog::recorder::merged`),
//! or from an archive journal (decoded by `replaylog::archive`), whose entries are ring records,
//! each naming its lane when it was archived from one.

use std::path::{Path, PathBuf};

use replaylog::archive::{self, ArchiveDecodeError, ArchiveHeader};
use replaylog::journal::JournalIter;
use replaylog::recorder::{LaneEntry, MergedReplay};
use replaylog::ring::Run;
use replaylog::{
    Item, Kind, Layout, MergedRecord, Position, RawRing, ReadOnlyJournal, RecorderDir, ReplayFailureEvidence,
    ReplayLogError, SlotRead,
};

use crate::error::{CliError, Result};

const WHAT_TO_PASS: &str = "pass a ring file, a journal directory, a recorder directory or a journal segment file";

/// Detects what `path` is (`replaylog::detect`): a ring, a journal directory, an archive, a
/// recorder directory or a segment; anything foreign, or missing, is an error.
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
    /// The lane it comes from (recorder directories, and archive entries that name one).
    pub lane: Option<String>,
}

impl Rec {
    /// A record read from a ring (`lsn` and `lane` `None`) or an archive entry.
    pub fn from_raw(r: replaylog::RawRecord, lsn: Option<u64>, lane: Option<String>) -> Rec {
        Rec {
            seq: r.seq,
            epoch: r.epoch,
            timestamp_ns: r.timestamp_ns,
            bytes: r.bytes,
            evidence: r.evidence,
            lsn,
            lane,
        }
    }
}

impl From<MergedRecord> for Rec {
    fn from(m: MergedRecord) -> Rec {
        Rec {
            seq: m.seq,
            epoch: m.epoch,
            timestamp_ns: m.timestamp_ns,
            bytes: m.bytes,
            evidence: m.evidence,
            lsn: None,
            lane: Some(m.lane.to_string()),
        }
    }
}

/// Opens a recorder directory read-only, lane by lane: a lane that cannot be read with the
/// others is in its entry, not an error here.
pub fn open_recorder(path: &Path) -> Result<RecorderDir> {
    RecorderDir::open(path).map_err(|e| CliError::lib(path, e))
}

/// A lane's error (its [`LaneEntry::ring`]) in the CLI's wording, naming the lane's file:
/// exit status 2 for a file that is not a ring or disagrees with the reference lane, 1 for a
/// damaged ring.
pub fn lane_err(lane: &LaneEntry, e: &ReplayLogError) -> CliError {
    const NOTHING_CHANGED: &str = "nothing was changed";
    match e {
        ReplayLogError::HeaderMismatch { path, field, expected, found }
            if matches!(*field, "record_bytes" | "schema_id" | "clock" | "layout") =>
        {
            CliError::new(
                path,
                format!(
                    "lane {} does not match the other lanes: {field} expected {expected}, found {found}",
                    lane.name
                ),
                format!(
                    "every lane of a recorder directory has the same record size, schema id, layout and clock; move \
                     this file out of the directory or read it alone; {NOTHING_CHANGED}"
                ),
            )
        }
        ReplayLogError::HeaderMismatch { path, field, expected, found } if *field != "file_bytes" => CliError::new(
            path,
            format!("lane {} is not a replaylog ring: {field} expected {expected}, found {found}", lane.name),
            format!(
                "in a recorder directory every file NAME.ring is a lane; move this file out of the directory; \
                 {NOTHING_CHANGED}"
            ),
        ),
        other => {
            let mut c = CliError::lib(&lane.path, clone_err(other));
            c.what = format!("lane {}: {}", lane.name, c.what);
            c
        }
    }
}

/// The library's errors are not `Clone`; the ones a lane holds are rebuilt from their parts.
fn clone_err(e: &ReplayLogError) -> ReplayLogError {
    match e {
        ReplayLogError::HeaderMismatch { path, field, expected, found } => ReplayLogError::HeaderMismatch {
            path: path.clone(),
            field,
            expected: expected.clone(),
            found: found.clone(),
        },
        ReplayLogError::Corrupt { path, location, reason } => {
            ReplayLogError::Corrupt { path: path.clone(), location: location.clone(), reason: reason.clone() }
        }
        ReplayLogError::Io { op, path, source } => ReplayLogError::Io {
            op,
            path: path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        ReplayLogError::Locked { path, waited_ms } => {
            ReplayLogError::Locked { path: path.clone(), waited_ms: *waited_ms }
        }
        other => ReplayLogError::InvalidOptions { option: "lane", reason: other.to_string() },
    }
}

/// The first lane of `dir` that cannot be read with the others, as an error.
pub fn check_lanes(dir: &RecorderDir) -> Result<()> {
    match dir.lanes().iter().find_map(|l| l.ring.as_ref().err().map(|e| (l, e))) {
        Some((lane, e)) => Err(lane_err(lane, e)),
        None => Ok(()),
    }
}

/// What the lanes of a recorder directory share: the reference lane's ring (record size,
/// layout, schema id, clock), `None` for a directory whose lanes are all empty of rings.
pub fn reference_ring(dir: &RecorderDir) -> Option<&RawRing> {
    dir.reference().and_then(|l| l.ring.as_ref().ok())
}

/// Opens a recorder directory to read its merged records (`dump`, `tail`): refuses `--from`
/// (each lane has its own seqs; `command` names the subcommand in the hint), checks every lane,
/// and picks the layout (`--layout`, else the reference lane's).
pub fn open_recorder_records(
    path: &Path,
    command: &str,
    from: Option<u64>,
    layout_spec: Option<&str>,
) -> Result<(RecorderDir, Option<Layout>)> {
    if from.is_some() {
        return Err(CliError::new(
            path,
            "--from is a seq, and each lane of a recorder directory has its own seqs",
            format!("{command} one lane's file, e.g. `replaylog {command} DIR/NAME.ring --from SEQ`"),
        ));
    }
    let dir = open_recorder(path)?;
    check_lanes(&dir)?;
    let (stored, rb) = match reference_ring(&dir) {
        Some(r) => (r.layout().cloned(), Some(r.info().record_bytes)),
        None => (None, None),
    };
    let layout = choose_layout(path, layout_spec, stored.as_ref(), rb)?;
    Ok((dir, layout))
}

/// Records in a recorder directory's lanes' windows (for progress bars).
pub fn recorder_records(dir: &RecorderDir) -> u64 {
    dir.lanes().iter().filter_map(|l| l.ring.as_ref().ok()?.window()).map(|w| w.records()).sum()
}

/// The merged timeline of a recorder directory, every lane checked first (see [`check_lanes`]).
pub struct MergedRecords {
    path: PathBuf,
    inner: MergedReplay,
}

impl MergedRecords {
    /// The lanes' windows as they are now, merged by `(timestamp, lane, seq)`.
    pub fn new(dir: RecorderDir) -> Result<MergedRecords> {
        check_lanes(&dir)?;
        let path = dir.path().to_path_buf();
        let inner = dir.merged().map_err(|e| CliError::lib(&path, e))?;
        Ok(MergedRecords { path, inner })
    }
}

impl Iterator for MergedRecords {
    type Item = Result<Rec>;

    fn next(&mut self) -> Option<Result<Rec>> {
        Some(self.inner.next()?.map(Rec::from).map_err(|e| {
            let mut c = CliError::lib(&self.path, e);
            c.hint = Some("a writer is appending to a lane; use `replaylog tail -f` to follow it".into());
            c
        }))
    }
}

/// The records of a ring's live window from `from` on, in publish order, read slot by slot.
pub struct RingRecords<'a> {
    ring: &'a RawRing,
    next: u64,
    end: u64,
    /// Records before this seq were read and their pages released (`RawRing::release_read`).
    released: u64,
    /// The live window when the reader was made.
    window: Option<Run>,
}

/// Records read between two `RawRing::release_read` calls of a streaming reader: the resident
/// part of a ring being read stays near this many slots, however large the ring.
pub const RELEASE_EVERY: u64 = 8192;

impl<'a> RingRecords<'a> {
    /// Records of the window as it is now, from seq `from` (clipped to the window).
    pub fn new(ring: &'a RawRing, from: Option<u64>) -> RingRecords<'a> {
        let window = ring.window();
        match window {
            Some(w) => {
                let next = from.map_or(w.first, |f| f.max(w.first));
                RingRecords { ring, next, end: w.last + 1, released: next, window }
            }
            None => RingRecords { ring, next: 0, end: 0, released: 0, window },
        }
    }

    /// The ring's live window when the reader was made (finding it reads every slot, so it is
    /// found once).
    pub fn window(&self) -> Option<Run> {
        self.window
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
                    return Ok(Rec::from_raw(r, None, None));
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
        if self.next - self.released >= RELEASE_EVERY {
            self.ring.release_read(self.released..self.next);
            self.released = self.next;
        }
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
        match archive::decode_archived(&item.data, rb as usize) {
            Ok(archive::ArchivedRecord { record, lane }) => Ok(Some(Rec::from_raw(record, Some(item.lsn), lane))),
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

/// Damage a ring's live window leaves out: slots a writer's open would not replay (damaged,
/// torn, misplaced), damaged header or state copies, from the full check `replaylog validate`
/// runs (`RawRing::validate`). When the window fills the ring every slot is one of its records,
/// read and checked by the command itself, so the check is skipped.
pub fn ring_damage(ring: &RawRing, window: Option<Run>) -> Vec<String> {
    if window.is_some_and(|w| w.records() >= ring.info().capacity) {
        return Vec::new();
    }
    ring.validate().problems.iter().map(|p| p.to_string()).collect()
}

/// Reports damage found outside the live windows of the rings a command read (see
/// [`ring_damage`]): one line per problem on stderr as it is found, then, at the end of the
/// command, an error with exit status 1 (the output still holds every record of the windows).
#[derive(Debug, Default)]
pub struct Damage {
    found: Vec<(PathBuf, String)>,
}

impl Damage {
    /// Checks `ring`, whose live window is `window`, and lists its damage on stderr.
    pub fn check(&mut self, ring: &RawRing, window: Option<Run>) {
        for p in ring_damage(ring, window) {
            eprintln!("replaylog: {}: {p}: not in the live window, left out", ring.path().display());
            self.found.push((ring.path().to_path_buf(), p));
        }
    }

    /// Checks every lane of a recorder directory.
    pub fn check_lanes(&mut self, dir: &RecorderDir) {
        for lane in dir.lanes() {
            if let Ok(ring) = &lane.ring {
                self.check(ring, ring.window());
            }
        }
    }

    /// The command's result: an error (status 1) when damage was found.
    pub fn result(&self, path: &Path) -> Result<()> {
        match self.found.len() {
            0 => Ok(()),
            n => Err(CliError::problem(
                path,
                format!("{n} damaged slot run(s) or header/state copies outside the live window (listed above)"),
                "every record of the live window was read; run `replaylog validate` for a full report",
            )),
        }
    }
}
