//! Any capture, opened read-only as streams of records: the one reader behind comparison
//! ([`compare`](crate::compare)), reports and tools that take "a capture" without caring which
//! kind it is.
//!
//! | kind ([`detect`](crate::detect())) | streams | a record's `seq` |
//! |---|---|---|
//! | ring | one, unnamed: the live window | ring seq |
//! | recorder directory | one per lane, by lane name | the lane's ring seq |
//! | archive journal (directory or one segment of it) | one per lane its entries name, else one unnamed | the archived ring seq |
//! | plain journal (directory or segment) | one, unnamed: every entry is a record of its bytes | LSN |
//!
//! Damage is reported, never skipped silently: a ring's (or lane's) damage outside its live
//! window and a journal's first problem are in [`Capture::problems`]; a record that cannot be
//! read ends its stream with an error.

use std::path::{Path, PathBuf};

use crate::archive::{ArchiveHeader, ArchiveReader};
use crate::error::{ReplayLogError, Result};
use crate::recorder::RecorderDir;
use crate::ring::Run;
use crate::{Kind, Layout, Position, RawRing, ReadOnlyJournal, ReplayFailureEvidence, SlotRead};

/// One record of a capture, in the same shape whatever the capture's kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CaptureRecord {
    /// The ring seq (a plain journal: the entry's LSN).
    pub seq: u64,
    /// The writer epoch (0 for a plain journal's entries).
    pub epoch: u32,
    /// The record's timestamp, from rings with a clock.
    pub timestamp_ns: Option<u64>,
    /// The lane it comes from (recorder directories; archive entries naming one).
    pub lane: Option<String>,
    /// The journal entry it was read from (archives, plain journals).
    pub lsn: Option<u64>,
    /// The record's bytes.
    pub bytes: Vec<u8>,
    /// Failure evidence stored with it.
    pub evidence: Option<ReplayFailureEvidence>,
}

impl CaptureRecord {
    fn from_raw(r: crate::RawRecord, lane: Option<String>, lsn: Option<u64>) -> CaptureRecord {
        CaptureRecord {
            seq: r.seq,
            epoch: r.epoch,
            timestamp_ns: r.timestamp_ns,
            lane,
            lsn,
            bytes: r.bytes,
            evidence: r.evidence,
        }
    }
}

enum Inner {
    Ring(Box<RawRing>),
    Recorder(Box<RecorderDir>),
    Archive(Box<ArchiveReader>),
    Journal(Box<ReadOnlyJournal>),
}

/// A capture opened read-only. See the [module docs](self).
pub struct Capture {
    path: PathBuf,
    kind: Kind,
    inner: Inner,
    lanes: Vec<String>,
    /// Each ring's live window, found once at open (finding it reads every slot): the
    /// snapshot every stream and problem report of this capture agrees on.
    windows: Vec<(Option<String>, Option<Run>)>,
}

impl std::fmt::Debug for Capture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Capture").field("path", &self.path).field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl Capture {
    /// Detects what `path` is and opens it read-only; nothing is ever written.
    ///
    /// # Errors
    /// `HeaderMismatch` (field `kind`) for a path that is not replaylog's, naming why; `Io` when
    /// it cannot be examined (e.g. it does not exist); the kind's own open errors (a recorder
    /// lane that is not a ring or disagrees with the others, a corrupt archive header).
    pub fn open(path: impl AsRef<Path>) -> Result<Capture> {
        let path = path.as_ref().to_path_buf();
        let kind = crate::detect(&path)?;
        let inner = match &kind {
            Kind::Foreign(why) => {
                return Err(ReplayLogError::mismatch(&path, "kind", "a replaylog capture", why.to_string()));
            }
            Kind::Ring => Inner::Ring(Box::new(RawRing::open(&path)?)),
            Kind::RecorderDir => {
                let dir = RecorderDir::open(&path)?;
                if let Some(e) = dir.lanes().iter().find_map(|l| l.ring.as_ref().err()) {
                    return Err(clone_err(e));
                }
                Inner::Recorder(Box::new(dir))
            }
            Kind::Archive => Inner::Archive(Box::new(ArchiveReader::open(&path)?)),
            Kind::Segment => {
                let journal = ReadOnlyJournal::open_segment(&path)?;
                match archive_header_of_segment(&path, &journal) {
                    Some(Ok(h)) => Inner::Archive(Box::new(ArchiveReader::with_header(&path, journal, h))),
                    Some(Err(())) => Inner::Archive(Box::new(ArchiveReader::from_journal(&path, journal)?)),
                    None => Inner::Journal(Box::new(journal)),
                }
            }
            _ => Inner::Journal(Box::new(ReadOnlyJournal::open(&path)?)),
        };
        let windows = match &inner {
            Inner::Ring(r) => vec![(None, r.window())],
            Inner::Recorder(d) => d
                .lanes()
                .iter()
                .filter_map(|l| Some((Some(l.name.to_string()), l.ring.as_ref().ok()?.window())))
                .collect(),
            _ => Vec::new(),
        };
        let mut capture = Capture { path, kind, inner, lanes: Vec::new(), windows };
        capture.lanes = capture.find_lanes()?;
        Ok(capture)
    }

    /// The path as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the path is.
    pub fn kind(&self) -> &Kind {
        &self.kind
    }

    /// The record size (`None` for a plain journal, whose entries have any size).
    pub fn record_bytes(&self) -> Option<u32> {
        match &self.inner {
            Inner::Ring(r) => Some(r.info().record_bytes),
            Inner::Recorder(d) => reference(d).map(|r| r.info().record_bytes),
            Inner::Archive(a) => Some(a.header().record_bytes),
            Inner::Journal(_) => None,
        }
    }

    /// The layout stored with the records, if any.
    pub fn layout(&self) -> Option<&Layout> {
        match &self.inner {
            Inner::Ring(r) => r.layout(),
            Inner::Recorder(d) => reference(d).and_then(|r| r.layout()),
            Inner::Archive(a) => a.header().layout.as_ref(),
            Inner::Journal(_) => None,
        }
    }

    /// The schema id stored with the records, if any.
    pub fn schema_id(&self) -> Option<u64> {
        match &self.inner {
            Inner::Ring(r) => Some(r.info().schema_id),
            Inner::Recorder(d) => reference(d).map(|r| r.info().schema_id),
            Inner::Archive(a) => Some(a.header().schema_id),
            Inner::Journal(_) => None,
        }
    }

    /// The archive header, for an archive journal.
    pub fn archive_header(&self) -> Option<&ArchiveHeader> {
        match &self.inner {
            Inner::Archive(a) => Some(a.header()),
            _ => None,
        }
    }

    /// The streams' names: empty for a capture of one unnamed stream (a ring, an archive of
    /// one ring, a plain journal), else the lane names in ascending order.
    pub fn lanes(&self) -> &[String] {
        &self.lanes
    }

    /// The live window of a ring, or of a recorder lane (`lane`), as it was when the capture
    /// was opened (the records its streams yield).
    pub fn window(&self, lane: Option<&str>) -> Option<Run> {
        self.windows.iter().find(|(l, _)| l.as_deref() == lane).and_then(|(_, w)| *w)
    }

    /// Damage found outside what the streams yield: a ring's (every lane's) slots and header or
    /// state copies that a writer's open would not replay (when its window does not fill it),
    /// and a journal's first problem. One line per problem, naming the file.
    pub fn problems(&self) -> Vec<String> {
        let ring_problems = |r: &RawRing, lane: Option<&str>| -> Vec<String> {
            if self.window(lane).is_some_and(|w| w.records() >= r.info().capacity) {
                return Vec::new();
            }
            r.validate().problems.iter().map(|p| format!("{}: {p}", r.path().display())).collect()
        };
        match &self.inner {
            Inner::Ring(r) => ring_problems(r, None),
            Inner::Recorder(d) => d
                .lanes()
                .iter()
                .filter_map(|l| Some(ring_problems(l.ring.as_ref().ok()?, Some(&l.name))))
                .flatten()
                .collect(),
            Inner::Archive(a) => a.journal().problem().map(|e| e.to_string()).into_iter().collect(),
            Inner::Journal(j) => j.problem().map(|e| e.to_string()).into_iter().collect(),
        }
    }

    /// The records of one stream in order: `lane` `None` for a capture without lanes, else
    /// one of [`lanes`](Capture::lanes). A record that cannot be read ends the stream with its
    /// error.
    ///
    /// # Errors
    /// `InvalidOptions` for a lane the capture does not hold, or `None` on a capture with lanes.
    pub fn records(&self, lane: Option<&str>) -> Result<Records<'_>> {
        let unknown = || ReplayLogError::InvalidOptions {
            option: "lane",
            reason: match lane {
                Some(l) => format!("{} holds no lane {l:?}", self.path.display()),
                None => format!("{} has lanes ({}): name one", self.path.display(), self.lanes.join(", ")),
            },
        };
        if lane.is_some_and(|l| !self.lanes.iter().any(|x| x == l)) || (lane.is_none() && !self.lanes.is_empty()) {
            return Err(unknown());
        }
        let inner: Box<dyn Iterator<Item = Result<CaptureRecord>> + '_> = match &self.inner {
            Inner::Ring(r) => Box::new(RingStream::new(r, self.window(None), None)),
            Inner::Recorder(d) => {
                let name = lane.expect("checked above");
                let ring = lane_ring(d, name).expect("a listed lane");
                Box::new(RingStream::new(ring, self.window(Some(name)), Some(name.to_string())))
            }
            Inner::Archive(a) => {
                let path = self.path.clone();
                let want = lane.map(str::to_string);
                Box::new(a.entries(Position::Start)?.filter_map(move |e| match e {
                    Err(e) => Some(Err(e)),
                    Ok(e) if want.is_some() && e.lane != want => None,
                    Ok(e) => {
                        let lsn = e.lsn;
                        Some(e.into_archived(&path).map(|a| CaptureRecord::from_raw(a.record, a.lane, Some(lsn))))
                    }
                }))
            }
            Inner::Journal(j) => Box::new(j.iter_from(Position::Start)?.map(|i| {
                i.map(|i| CaptureRecord {
                    seq: i.lsn,
                    epoch: 0,
                    timestamp_ns: None,
                    lane: None,
                    lsn: Some(i.lsn),
                    bytes: i.data,
                    evidence: None,
                })
            })),
        };
        Ok(Records { inner, failed: false })
    }

    /// A plain journal's entries read as archived records of `record_bytes` (a journal holding
    /// archive entries without the header), as one unnamed stream. `None` for other kinds.
    pub fn records_as_archive(&self, record_bytes: u32) -> Option<Records<'_>> {
        let Inner::Journal(j) = &self.inner else { return None };
        let path = self.path.clone();
        let iter = match j.iter_from(Position::Start) {
            Ok(i) => i,
            Err(e) => return Some(Records { inner: Box::new(std::iter::once(Err(e))), failed: false }),
        };
        let inner = Box::new(iter.map(move |i| {
            let i = i?;
            match crate::archive::decode_archived(&i.data, record_bytes as usize) {
                Ok(a) => Ok(CaptureRecord::from_raw(a.record, a.lane, Some(i.lsn))),
                Err(why) => Err(ReplayLogError::Corrupt {
                    path: path.clone(),
                    location: crate::Location::Segment { segment: i.segment, offset: i.offset },
                    reason: format!("entry {} is not an archived record of {record_bytes} bytes: {why}", i.lsn),
                }),
            }
        }));
        Some(Records { inner, failed: false })
    }

    /// Whether this is a plain journal (entries, not ring records).
    pub fn is_plain_journal(&self) -> bool {
        matches!(self.inner, Inner::Journal(_))
    }

    fn find_lanes(&self) -> Result<Vec<String>> {
        match &self.inner {
            Inner::Recorder(d) => {
                let mut v: Vec<String> = d.lanes().iter().map(|l| l.name.to_string()).collect();
                v.sort();
                Ok(v)
            }
            Inner::Archive(a) => {
                let mut names = std::collections::BTreeSet::new();
                let mut unnamed = false;
                for e in a.entries(Position::Start)? {
                    // Damage is for the stream to report; the listing reads what it can.
                    let Ok(e) = e else { break };
                    match e.lane {
                        Some(l) => {
                            names.insert(l);
                        }
                        None => unnamed = true,
                    }
                }
                if unnamed && !names.is_empty() {
                    return Err(ReplayLogError::mismatch(
                        &self.path,
                        "lanes",
                        "entries that all name a lane, or none that does",
                        "both",
                    ));
                }
                Ok(names.into_iter().collect())
            }
            _ => Ok(Vec::new()),
        }
    }
}

fn reference(d: &RecorderDir) -> Option<&RawRing> {
    d.reference().and_then(|l| l.ring.as_ref().ok())
}

fn lane_ring<'a>(d: &'a RecorderDir, name: &str) -> Option<&'a RawRing> {
    d.lanes().iter().find(|l| &*l.name == name).and_then(|l| l.ring.as_ref().ok())
}

/// A later segment of an archive opened alone: its directory's header. `Some(Err(()))` when
/// the segment itself starts with the header (read it from the segment).
fn archive_header_of_segment(path: &Path, journal: &ReadOnlyJournal) -> Option<std::result::Result<ArchiveHeader, ()>> {
    if let Some(Ok(first)) = journal.iter_from(Position::Start).ok().and_then(|mut i| i.next()) {
        if crate::archive::decode_header(&first.data).is_ok() {
            return Some(Err(()));
        }
    }
    let parent = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if crate::detect(parent).is_ok_and(|k| k == Kind::Archive) {
        return ArchiveReader::open(parent).ok().map(|a| Ok(a.header().clone()));
    }
    None
}

/// The library's errors are not `Clone`; a lane's is rebuilt from its parts.
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
        other => ReplayLogError::InvalidOptions { option: "lane", reason: other.to_string() },
    }
}

/// The records of one stream; see [`Capture::records`].
pub struct Records<'a> {
    inner: Box<dyn Iterator<Item = Result<CaptureRecord>> + 'a>,
    failed: bool,
}

impl Iterator for Records<'_> {
    type Item = Result<CaptureRecord>;

    fn next(&mut self) -> Option<Result<CaptureRecord>> {
        if self.failed {
            return None;
        }
        let r = self.inner.next();
        self.failed = matches!(r, Some(Err(_)));
        r
    }
}

/// Slots read between two releases of what was read (see `RawRing::release_read`).
const RELEASE_EVERY: u64 = 8192;

/// A ring's live window as it is when the stream starts, slot by slot.
struct RingStream<'a> {
    ring: &'a RawRing,
    lane: Option<String>,
    next: u64,
    end: u64,
    released: u64,
}

impl<'a> RingStream<'a> {
    fn new(ring: &'a RawRing, window: Option<Run>, lane: Option<String>) -> RingStream<'a> {
        let (next, end) = window.map_or((0, 0), |w| (w.first, w.last + 1));
        RingStream { ring, lane, next, end, released: next }
    }

    fn read(&self, seq: u64) -> Result<CaptureRecord> {
        let index = seq % self.ring.info().capacity;
        let mut last = SlotRead::Changing;
        for attempt in 0..1000 {
            match self.ring.read_slot(index) {
                SlotRead::Valid(r) if r.seq == seq => return Ok(CaptureRecord::from_raw(r, self.lane.clone(), None)),
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
            SlotRead::Valid(r) if r.seq > seq => format!("was overwritten by seq {} while being read", r.seq),
            SlotRead::Valid(r) => format!("holds seq {}", r.seq),
            SlotRead::Fault(f) => f.describe().to_string(),
            SlotRead::Changing => "kept changing while being read".to_string(),
        };
        Err(ReplayLogError::Corrupt {
            path: self.ring.path().to_path_buf(),
            location: crate::Location::RingSlot { index, seq },
            reason: format!("slot of the live window {what}"),
        })
    }
}

impl Iterator for RingStream<'_> {
    type Item = Result<CaptureRecord>;

    fn next(&mut self) -> Option<Result<CaptureRecord>> {
        if self.next >= self.end {
            return None;
        }
        let r = self.read(self.next);
        self.next += 1;
        if self.next - self.released >= RELEASE_EVERY || self.next == self.end {
            self.ring.release_read(self.released..self.next);
            self.released = self.next;
        }
        Some(r)
    }
}
