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
//! | a journal's segments held elsewhere ([`SegmentSource`]: an object store) | as an archive journal or a plain journal | as there |
//!
//! Damage is reported, never skipped silently: a ring's (or lane's) damage outside its live
//! window and a journal's first problem are in [`Capture::problems`]; a record that cannot be
//! read ends its stream with an error.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::archive::{ArchiveHeader, ArchiveReader};
use crate::error::{ReplayLogError, Result};
use crate::recorder::RecorderDir;
use crate::ring::Run;
use crate::{Kind, Layout, Position, RawRing, ReadOnlyJournal, ReplayFailureEvidence};

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
    /// A ring record, with the lane and journal entry it was read from, if any.
    pub fn from_raw(r: crate::RawRecord, lane: Option<String>, lsn: Option<u64>) -> CaptureRecord {
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

impl From<crate::MergedRecord> for CaptureRecord {
    /// A record of a recorder directory's merged timeline, naming its lane.
    fn from(m: crate::MergedRecord) -> CaptureRecord {
        CaptureRecord {
            seq: m.seq,
            epoch: m.epoch,
            timestamp_ns: m.timestamp_ns,
            lane: Some(m.lane.to_string()),
            lsn: None,
            bytes: m.bytes,
            evidence: m.evidence,
        }
    }
}

enum Inner {
    Ring(Box<RawRing>),
    Recorder(Box<RecorderDir>),
    Archive(Box<ArchiveReader>),
    Journal(Box<ReadOnlyJournal>),
    Source(Box<SourceCapture>),
}

/// The segments of one journal (a plain journal or an archive) held somewhere else than a
/// local directory: an object store, in `replaylog-ship`. [`Capture::open_source`] reads them
/// one at a time, in order, each stream fetching each segment when it reaches it, so a capture
/// is never downloaded whole before its first record is read, and at most one segment per
/// stream is held in memory.
pub trait SegmentSource: Send + Sync {
    /// The capture's address, as errors and provenance name it (never a credential).
    fn name(&self) -> &Path;
    /// The segment numbers, ascending.
    fn numbers(&self) -> Vec<u64>;
    /// The lane names, when the source knows them without reading every segment (a
    /// manifest); `None` makes [`Capture::open_source`] read every segment once to list them.
    fn lanes(&self) -> Option<Vec<String>> {
        None
    }
    /// The bytes of segment `number`, checked against what the source promises for it (its
    /// length and digest): an error names the segment, and bytes that do not match are never
    /// returned.
    ///
    /// # Errors
    /// The source's own (a missing object is `Io` with kind `NotFound`; another digest is
    /// `Corrupt` at that segment).
    fn fetch(&self, number: u64) -> Result<Vec<u8>>;
}

/// An opened [`SegmentSource`]: the archive header from its first segment, if it has one.
struct SourceCapture {
    source: Arc<dyn SegmentSource>,
    numbers: Vec<u64>,
    header: Option<ArchiveHeader>,
}

impl SourceCapture {
    /// The name a segment has in errors: the capture's address, then the segment's file name.
    fn segment_path(&self, number: u64) -> PathBuf {
        self.source.name().join(crate::format::journal::segment_name(number))
    }

    /// Fetches and opens segment `number`.
    fn open_segment(&self, number: u64) -> Result<ReadOnlyJournal> {
        let bytes = self.source.fetch(number)?;
        ReadOnlyJournal::from_segment_bytes(self.segment_path(number), bytes)
    }

    /// Fetches segment `index` (of `numbers`), checking that it starts where the previous one
    /// ended (`next_lsn`, updated) and that it is intact.
    fn fetch_checked(&self, index: usize, next_lsn: &mut Option<u64>) -> Result<(PathBuf, ReadOnlyJournal)> {
        let path = self.segment_path(self.numbers[index]);
        let journal = self.open_segment(self.numbers[index])?;
        if let Some(summary) = journal.segments().first() {
            summary.check_follows(&path, next_lsn)?;
        }
        if let Some(e) = journal.problem() {
            return Err(e);
        }
        Ok((path, journal))
    }

    /// Every entry of segment `index` (a plain journal); damage ends the list with its error.
    fn segment_items(&self, index: usize, next_lsn: &mut Option<u64>) -> Vec<Result<crate::Item>> {
        let journal = match self.fetch_checked(index, next_lsn) {
            Ok((_, j)) => j,
            Err(e) => return vec![Err(e)],
        };
        let mut out = Vec::new();
        match journal.iter_from(Position::Start) {
            Err(e) => out.push(Err(e)),
            Ok(items) => {
                for i in items {
                    let fail = i.is_err();
                    out.push(i);
                    if fail {
                        break;
                    }
                }
            }
        }
        out
    }

    /// Every record of segment `index` for `lane`; damage ends the list with its error.
    fn segment_records(
        &self,
        index: usize,
        lane: Option<&str>,
        next_lsn: &mut Option<u64>,
    ) -> Vec<Result<CaptureRecord>> {
        let Some(h) = &self.header else {
            return self.segment_items(index, next_lsn).into_iter().map(|i| i.map(plain_record)).collect();
        };
        let (path, journal) = match self.fetch_checked(index, next_lsn) {
            Ok(x) => x,
            Err(e) => return vec![Err(e)],
        };
        let reader = ArchiveReader::with_header(&path, journal, h.clone());
        let entries = match reader.entries(Position::Start) {
            Ok(e) => e,
            Err(e) => return vec![Err(e)],
        };
        let mut out = Vec::new();
        for e in entries {
            match e {
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
                Ok(e) if lane.is_some() && e.lane.as_deref() != lane => {}
                Ok(e) => {
                    let lsn = e.lsn;
                    out.push(e.into_archived(&path).map(|a| CaptureRecord::from_raw(a.record, a.lane, Some(lsn))));
                }
            }
        }
        out
    }

    /// The records of one stream, segment after segment.
    fn records(&self, lane: Option<String>) -> impl Iterator<Item = Result<CaptureRecord>> + '_ {
        let mut next_lsn = None;
        (0..self.numbers.len()).flat_map(move |i| self.segment_records(i, lane.as_deref(), &mut next_lsn))
    }
}

/// A plain journal's entry as a record of its bytes.
fn plain_record(i: crate::Item) -> CaptureRecord {
    CaptureRecord {
        seq: i.lsn,
        epoch: 0,
        timestamp_ns: None,
        lane: None,
        lsn: Some(i.lsn),
        bytes: i.data,
        evidence: None,
    }
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
                if dir.lanes().iter().any(|l| l.ring.is_err()) {
                    let first = dir.into_lanes().into_iter().find_map(|l| l.ring.err());
                    return Err(first.expect("a lane failed"));
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

    /// Opens the segments of a journal held elsewhere ([`SegmentSource`]): reads the first
    /// segment to learn whether it is an archive (its header) or a plain journal; every other
    /// segment is fetched when a stream reaches it.
    ///
    /// # Errors
    /// `HeaderMismatch` (field `segments`) for a source without segments; the first segment's
    /// fetch and open errors (a missing object, another digest, a foreign file).
    pub fn open_source(source: Arc<dyn SegmentSource>) -> Result<Capture> {
        let path = source.name().to_path_buf();
        let numbers = source.numbers();
        let Some(&first) = numbers.first() else {
            return Err(ReplayLogError::mismatch(&path, "segments", "at least one journal segment", "none"));
        };
        let mut src = SourceCapture { source, numbers, header: None };
        let journal = src.open_segment(first)?;
        let kind = match journal.iter_from(Position::Start)?.next() {
            Some(Ok(item)) if item.lsn == crate::archive::HEADER_LSN => {
                match crate::archive::decode_header(&item.data) {
                    Ok(h) => {
                        src.header = Some(h);
                        Kind::Archive
                    }
                    Err(crate::archive::ArchiveDecodeError::NotAnArchive) => Kind::JournalDir,
                    Err(e) => {
                        return Err(ReplayLogError::Corrupt {
                            path: src.segment_path(first),
                            location: crate::Location::Segment { segment: item.segment, offset: item.offset },
                            reason: format!("archive header entry (lsn {}): {e}", item.lsn),
                        });
                    }
                }
            }
            _ => Kind::JournalDir,
        };
        let known = src.source.lanes();
        let mut capture =
            Capture { path, kind, inner: Inner::Source(Box::new(src)), lanes: Vec::new(), windows: Vec::new() };
        capture.lanes = match known {
            Some(mut l) => {
                l.sort();
                l
            }
            None => capture.find_lanes()?,
        };
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
            Inner::Source(s) => s.header.as_ref().map(|h| h.record_bytes),
            Inner::Journal(_) => None,
        }
    }

    /// The layout stored with the records, if any.
    pub fn layout(&self) -> Option<&Layout> {
        match &self.inner {
            Inner::Ring(r) => r.layout(),
            Inner::Recorder(d) => reference(d).and_then(|r| r.layout()),
            Inner::Archive(a) => a.header().layout.as_ref(),
            Inner::Source(s) => s.header.as_ref().and_then(|h| h.layout.as_ref()),
            Inner::Journal(_) => None,
        }
    }

    /// The schema id stored with the records, if any.
    pub fn schema_id(&self) -> Option<u64> {
        match &self.inner {
            Inner::Ring(r) => Some(r.info().schema_id),
            Inner::Recorder(d) => reference(d).map(|r| r.info().schema_id),
            Inner::Archive(a) => Some(a.header().schema_id),
            Inner::Source(s) => s.header.as_ref().map(|h| h.schema_id),
            Inner::Journal(_) => None,
        }
    }

    /// The archive header, for an archive journal.
    pub fn archive_header(&self) -> Option<&ArchiveHeader> {
        match &self.inner {
            Inner::Archive(a) => Some(a.header()),
            Inner::Source(s) => s.header.as_ref(),
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
            // Each segment is checked when a stream reads it; its damage ends that stream.
            Inner::Source(_) => Vec::new(),
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
            Inner::Ring(r) => Box::new(
                r.window_records(self.window(None), None).map(|r| r.map(|r| CaptureRecord::from_raw(r, None, None))),
            ),
            Inner::Recorder(d) => {
                let name = lane.expect("checked above");
                let ring = lane_ring(d, name).expect("a listed lane");
                let lane = name.to_string();
                Box::new(
                    ring.window_records(self.window(Some(name)), None)
                        .map(move |r| r.map(|r| CaptureRecord::from_raw(r, Some(lane.clone()), None))),
                )
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
            Inner::Journal(j) => Box::new(j.iter_from(Position::Start)?.map(|i| i.map(plain_record))),
            Inner::Source(s) => Box::new(s.records(lane.map(str::to_string))),
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

    /// A plain journal's entries with their kind and place (local or from a [`SegmentSource`]);
    /// `None` for other kinds. Damage ends the iteration with its error.
    ///
    /// # Errors
    /// As [`ReadOnlyJournal::iter_from`].
    pub fn entries(&self) -> Option<Result<Box<dyn Iterator<Item = Result<crate::Item>> + '_>>> {
        match &self.inner {
            Inner::Journal(j) => Some(j.iter_from(Position::Start).map(|i| Box::new(i) as Box<dyn Iterator<Item = _>>)),
            Inner::Source(s) if s.header.is_none() => {
                let mut next_lsn = None;
                Some(Ok(Box::new((0..s.numbers.len()).flat_map(move |i| s.segment_items(i, &mut next_lsn)))))
            }
            _ => None,
        }
    }

    /// Every record of an archive (local or from a [`SegmentSource`]) in the order they were
    /// archived, whatever lane each names; `None` for other kinds.
    pub fn archived_records(&self) -> Option<Records<'_>> {
        let inner: Box<dyn Iterator<Item = Result<CaptureRecord>> + '_> = match &self.inner {
            Inner::Archive(a) => {
                let path = self.path.clone();
                match a.entries(Position::Start) {
                    Err(e) => Box::new(std::iter::once(Err(e))),
                    Ok(entries) => Box::new(entries.map(move |e| {
                        let e = e?;
                        let lsn = e.lsn;
                        e.into_archived(&path).map(|a| CaptureRecord::from_raw(a.record, a.lane, Some(lsn)))
                    })),
                }
            }
            Inner::Source(s) if s.header.is_some() => Box::new(s.records(None)),
            _ => return None,
        };
        Some(Records { inner, failed: false })
    }

    /// Whether this is a plain journal (entries, not ring records).
    pub fn is_plain_journal(&self) -> bool {
        match &self.inner {
            Inner::Journal(_) => true,
            Inner::Source(s) => s.header.is_none(),
            _ => false,
        }
    }

    fn find_lanes(&self) -> Result<Vec<String>> {
        match &self.inner {
            Inner::Recorder(d) => {
                let mut v: Vec<String> = d.lanes().iter().map(|l| l.name.to_string()).collect();
                v.sort();
                Ok(v)
            }
            // Damage is for the stream to report; the listing reads what it can.
            Inner::Archive(a) => {
                let entries = a.entries(Position::Start)?;
                self.lane_names(entries.map_while(|e| e.ok()).map(|e| e.lane))
            }
            Inner::Source(s) if s.header.is_some() => {
                self.lane_names(s.records(None).map_while(|e| e.ok()).map(|e| e.lane))
            }
            _ => Ok(Vec::new()),
        }
    }
}

impl Capture {
    /// The lane names entries give, ascending; a mix of entries naming a lane and entries naming
    /// none is a `HeaderMismatch` (field `lanes`).
    fn lane_names(&self, lanes: impl Iterator<Item = Option<String>>) -> Result<Vec<String>> {
        let mut names = std::collections::BTreeSet::new();
        let mut unnamed = false;
        for lane in lanes {
            match lane {
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
