//! Lossless ring → journal archiving: a background thread drains a ring into a [`Journal`] so a
//! run of any length is captured while the host loop keeps its syscall-free hot path.
//!
//! The archive format (a journal whose first entry is a header naming the ring's record size,
//! schema and layout, and every later entry one ring record) is defined in
//! [`crate::format::archive`] and drawn in docs/FORMAT.md ("Archive"). This module reads and
//! writes it: [`decode_header`] and [`decode_entry`] say why an entry is not valid, and
//! [`ArchiveReader`] yields every entry with its LSN and, for a damaged one, the reason.
//!
//! Each entry keeps the record's timestamp (rings with a clock) and, when several rings are
//! archived into one journal as lanes ([`Archiver::start_lanes`], e.g. the lanes of a recorder
//! directory), the lane it came from ([`ArchivedRecord`], [`decode_archived`]).
//!
//! Records are archived in seq order within their lane, each at most once. A restarted archiver
//! resumes every lane at its last archived seq + 1; seqs the ring overwrote in between are
//! reported as a gap, never filled with anything else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Location, ReplayLogError, Result};
pub use crate::format::archive::{
    ARCHIVE_MAGIC, ARCHIVE_VERSION, ArchiveDecodeError, ArchiveHeader, check_lane_name, decode_header,
};
use crate::format::archive::{decode_record_entry, encode_record_entry_with};
use crate::journal::{EntryKind, Journal, JournalIter, JournalOptions, Position, ReadOnlyJournal, SyncMode};
use crate::ring::evidence;
use crate::ring::{RawReader, RawRecord, RawRing, ReadOutcome, StartAt};

impl ArchiveHeader {
    /// The header describing `ring`.
    pub fn of(ring: &RawRing) -> ArchiveHeader {
        ArchiveHeader {
            record_bytes: ring.geometry().record_bytes,
            schema_id: ring.header().schema_id.get(),
            capacity: ring.geometry().capacity_slots,
            layout: ring.layout().cloned(),
        }
    }
}

/// Appends the archive entry for `r` to `out`: its seq, epoch, timestamp (if it has one), record
/// and evidence, no lane.
pub fn encode_record(out: &mut Vec<u8>, r: &RawRecord) {
    let plain = encode_record_in_lane(out, r, None);
    debug_assert!(plain.is_ok(), "an entry without a lane always encodes");
}

/// Appends the archive entry for `r` to `out`, naming `lane` when given. A lane name that
/// [`check_lane_name`] refuses is refused with its reason, and nothing is appended.
///
/// ```
/// use replaylog::RawRecord;
/// use replaylog::archive::{ArchiveDecodeError, ArchivedRecord, decode_archived, encode_record_in_lane};
///
/// let r = RawRecord { seq: 7, epoch: 1, timestamp_ns: Some(1_500), bytes: vec![1, 2], evidence: None };
/// let mut entry = Vec::new();
/// encode_record_in_lane(&mut entry, &r, Some("control"))?;
/// assert_eq!(decode_archived(&entry, 2)?, ArchivedRecord { record: r.clone(), lane: Some("control".into()) });
/// assert_eq!(
///     encode_record_in_lane(&mut entry, &r, Some("../x")),
///     Err(ArchiveDecodeError::LaneName { name: b"../x".to_vec() })
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn encode_record_in_lane(
    out: &mut Vec<u8>,
    r: &RawRecord,
    lane: Option<&str>,
) -> std::result::Result<(), ArchiveDecodeError> {
    match &r.evidence {
        None => encode_record_entry_with(out, r.seq, r.epoch, r.timestamp_ns, lane, &r.bytes, None),
        Some(ev) => {
            let (head, msg) = evidence::encode(ev, usize::MAX);
            encode_record_entry_with(out, r.seq, r.epoch, r.timestamp_ns, lane, &r.bytes, Some((&head, msg)))
        }
    }
}

/// A ring record as an archive holds it: the record (with its timestamp) and the lane it was
/// archived from (`None`: the archive of a single ring).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedRecord {
    /// The record.
    pub record: RawRecord,
    /// The lane it came from, if the entry names one.
    pub lane: Option<String>,
}

/// Decodes a record entry holding a record of `record_bytes` (from the archive's header), saying
/// why when it is not one. The lane the entry may name is left out: [`decode_archived`] keeps it.
pub fn decode_entry(bytes: &[u8], record_bytes: usize) -> std::result::Result<RawRecord, ArchiveDecodeError> {
    decode_archived(bytes, record_bytes).map(|a| a.record)
}

/// Decodes a record entry holding a record of `record_bytes` with its lane, saying why when it
/// is not one.
pub fn decode_archived(bytes: &[u8], record_bytes: usize) -> std::result::Result<ArchivedRecord, ArchiveDecodeError> {
    let e = decode_record_entry(bytes, record_bytes)?;
    let evidence = match e.evidence {
        None => None,
        Some(ev) => Some(
            evidence::decode(ev)
                .ok_or(ArchiveDecodeError::EvidenceKind {
                    kind: u16::from_le_bytes([ev[0], ev[1]]),
                    other_code: u16::from_le_bytes([ev[2], ev[3]]),
                })?
                .to_owned(),
        ),
    };
    let record =
        RawRecord { seq: e.seq, epoch: e.epoch, timestamp_ns: e.timestamp_ns, bytes: e.record.to_vec(), evidence };
    Ok(ArchivedRecord { record, lane: e.lane.map(str::to_owned) })
}

/// Decodes a record entry holding a record of `record_bytes`; `None` if it is not one
/// ([`decode_entry`] says why).
pub fn decode_record(b: &[u8], record_bytes: usize) -> Option<RawRecord> {
    decode_entry(b, record_bytes).ok()
}

/// The LSN of an archive's header entry (archives start with it).
pub const HEADER_LSN: u64 = 1;

/// An archive opened for reading: its header, and its record entries one by one.
#[derive(Debug)]
pub struct ArchiveReader {
    path: PathBuf,
    journal: ReadOnlyJournal,
    header: ArchiveHeader,
}

impl ArchiveReader {
    /// Opens the archive journal at `dir` and decodes its header entry. `HeaderMismatch` when the
    /// journal is empty or its first entry is not an archive header (a plain journal); `Corrupt`
    /// (with the reason) when it is a damaged or unsupported one.
    pub fn open(dir: impl AsRef<Path>) -> Result<ArchiveReader> {
        let dir = dir.as_ref();
        ArchiveReader::from_journal(dir, ReadOnlyJournal::open(dir)?)
    }

    /// Reads the header from the first entry of `journal` (opened at `path`, which errors name).
    pub fn from_journal(path: impl Into<PathBuf>, journal: ReadOnlyJournal) -> Result<ArchiveReader> {
        let path = path.into();
        let not_archive =
            |what: &str| ReplayLogError::mismatch(&path, "archive header", "an RPLYARCH header entry", what);
        let first = journal.iter_from(Position::Start)?.next().ok_or_else(|| not_archive("an empty journal"))??;
        let header = match decode_header(&first.data) {
            Ok(h) if first.lsn == HEADER_LSN => h,
            Ok(_) => return Err(not_archive(&format!("a header entry at lsn {}", first.lsn))),
            Err(ArchiveDecodeError::NotAnArchive) => return Err(not_archive("another entry")),
            Err(e) => {
                return Err(ReplayLogError::Corrupt {
                    path,
                    location: Location::Segment { segment: first.segment, offset: first.offset },
                    reason: format!("archive header entry (lsn {}): {e}", first.lsn),
                });
            }
        };
        Ok(ArchiveReader { path, journal, header })
    }

    /// Reads `journal` (a later segment of an archive, opened alone) with the header of its
    /// archive: every entry is a record entry (LSN [`HEADER_LSN`] is never in a later segment).
    pub fn with_header(path: impl Into<PathBuf>, journal: ReadOnlyJournal, header: ArchiveHeader) -> ArchiveReader {
        ArchiveReader { path: path.into(), journal, header }
    }

    /// The archive's header.
    pub fn header(&self) -> &ArchiveHeader {
        &self.header
    }

    /// The underlying journal (its segments, validation and problem).
    pub fn journal(&self) -> &ReadOnlyJournal {
        &self.journal
    }

    /// The path errors name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every record entry from `from`, in LSN order (the header entry is skipped). A damaged
    /// entry is yielded with its reason, and reading goes on past it; a journal error (damaged
    /// frames) ends the iteration.
    pub fn entries(&self, from: Position) -> Result<ArchiveEntries<'_>> {
        Ok(ArchiveEntries { iter: self.journal.iter_from(from)?, record_bytes: self.header.record_bytes as usize })
    }
}

/// One entry of an archive: where it is, and its record or why it is not one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveEntry {
    /// The entry's LSN.
    pub lsn: u64,
    /// The segment holding it.
    pub segment: u64,
    /// The byte offset of its frame in that segment.
    pub offset: u64,
    /// The record, or why the entry is not an archived record.
    pub record: std::result::Result<RawRecord, ArchiveDecodeError>,
    /// The lane the entry names (`None` without one, or when it does not decode).
    pub lane: Option<String>,
}

impl ArchiveEntry {
    /// The record, or a `Corrupt` error naming `path`, the entry's place, LSN and reason.
    pub fn into_record(self, path: &Path) -> Result<RawRecord> {
        self.into_archived(path).map(|a| a.record)
    }

    /// The record with its lane, or a `Corrupt` error naming `path`, the entry's place, LSN and
    /// reason.
    pub fn into_archived(self, path: &Path) -> Result<ArchivedRecord> {
        match self.record {
            Ok(record) => Ok(ArchivedRecord { record, lane: self.lane }),
            Err(e) => Err(ReplayLogError::Corrupt {
                path: path.to_path_buf(),
                location: Location::Segment { segment: self.segment, offset: self.offset },
                reason: format!("entry {} is not an archived record: {e}", self.lsn),
            }),
        }
    }
}

/// Iterator over an archive's record entries; see [`ArchiveReader::entries`].
pub struct ArchiveEntries<'a> {
    iter: JournalIter<'a>,
    record_bytes: usize,
}

impl Iterator for ArchiveEntries<'_> {
    type Item = Result<ArchiveEntry>;

    fn next(&mut self) -> Option<Result<ArchiveEntry>> {
        loop {
            let item = match self.iter.next()? {
                Ok(item) => item,
                Err(e) => return Some(Err(e)),
            };
            if item.lsn == HEADER_LSN {
                continue;
            }
            let (record, lane) = match item.kind {
                EntryKind::Snapshot => (Err(ArchiveDecodeError::SnapshotFrame), None),
                EntryKind::Entry => match decode_archived(&item.data, self.record_bytes) {
                    Ok(a) => (Ok(a.record), a.lane),
                    Err(e) => (Err(e), None),
                },
            };
            return Some(Ok(ArchiveEntry { lsn: item.lsn, segment: item.segment, offset: item.offset, record, lane }));
        }
    }
}

/// Reads a whole archive: its header and every record, in order (the lanes they came from are
/// left out: [`read_archived`] keeps them). The first damaged entry is an error naming its LSN
/// and the reason.
pub fn read_archive(dir: impl AsRef<Path>) -> Result<(ArchiveHeader, Vec<RawRecord>)> {
    let (header, records) = read_archived(dir)?;
    Ok((header, records.into_iter().map(|a| a.record).collect()))
}

/// Reads a whole archive: its header and every record with its lane, in LSN order. The first
/// damaged entry is an error naming its LSN and the reason.
pub fn read_archived(dir: impl AsRef<Path>) -> Result<(ArchiveHeader, Vec<ArchivedRecord>)> {
    let reader = ArchiveReader::open(dir)?;
    let mut records = Vec::new();
    for entry in reader.entries(Position::Start)? {
        records.push(entry?.into_archived(reader.path())?);
    }
    if let Some(p) = reader.journal().problem() {
        return Err(p);
    }
    Ok((reader.header, records))
}

/// Options of an [`Archiver`].
#[derive(Clone, Debug)]
pub struct ArchiverOptions {
    /// The archive journal's options. Default: `SyncMode::Interval(100)` (group commit every
    /// 100 ms; stop() syncs everything).
    pub journal: JournalOptions,
    /// Most records written per journal batch. Default 4096.
    pub batch_max: usize,
    /// How long the thread waits when the ring has nothing new. Default 1 ms.
    pub idle_wait: Duration,
}

impl Default for ArchiverOptions {
    fn default() -> Self {
        ArchiverOptions {
            journal: JournalOptions::default().sync(SyncMode::Interval(100)),
            batch_max: 4096,
            idle_wait: Duration::from_millis(1),
        }
    }
}

/// Seqs the archive does not have because the ring overwrote them first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// First missing seq.
    pub from: u64,
    /// One past the last missing seq.
    pub to: u64,
}

/// Progress of an archiver.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ArchiveStats {
    /// Records archived by this archiver.
    pub archived: u64,
    /// Seqs the ring overwrote before they could be archived (never silently dropped: each
    /// also appears in `gaps`).
    pub missed: u64,
    /// The gaps, oldest first (the first 10,000; `gaps_total` counts them all).
    pub gaps: Vec<Gap>,
    /// How many gaps there were.
    pub gaps_total: u64,
    /// The next seq to archive.
    pub next_seq: u64,
    /// Where this archiver started (the last archived seq + 1 of an earlier run, or the ring's
    /// oldest record).
    pub resumed_at: u64,
    /// Records the writer has published that are not archived yet (from the ring's cursor).
    pub lag: u64,
    /// Seconds since start.
    pub elapsed_s: f64,
}

impl ArchiveStats {
    /// Archived records per second since start.
    pub fn records_per_s(&self) -> f64 {
        if self.elapsed_s > 0.0 { self.archived as f64 / self.elapsed_s } else { 0.0 }
    }
}

/// Progress of one lane of an [`Archiver`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LaneStats {
    /// The lane (`None`: the single ring of [`Archiver::start`]).
    pub lane: Option<String>,
    /// The ring it drains.
    pub ring: PathBuf,
    /// Its progress: seqs, gaps and lag are this lane's.
    pub stats: ArchiveStats,
}

/// Drains a ring, or several rings as lanes, into an archive journal on a background thread.
///
/// ```
/// use replaylog::RingLog;
/// use replaylog::archive::{Archiver, ArchiverOptions, read_archive};
///
/// # let dir = tempfile::tempdir()?;
/// let ring = dir.path().join("run.ring");
/// let mut log: RingLog<u64> = RingLog::open(&ring, 1024)?;
/// let archiver = Archiver::start(&ring, dir.path().join("run.archive"), ArchiverOptions::default())?;
/// for v in 0..100u64 {
///     log.append(&v)?;
/// }
/// let stats = archiver.stop()?; // drains what the ring holds, syncs, closes
/// assert_eq!(stats.archived, 100);
/// let (header, records) = read_archive(dir.path().join("run.archive"))?;
/// assert_eq!(header.record_bytes, 8);
/// assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), (0..100).collect::<Vec<_>>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Several rings of the same record size, schema and layout (a recorder's lanes) go into one
/// journal, each entry naming its lane; one thread drains them all:
///
/// ```
/// use replaylog::{Clock, RingLog, RingOptions};
/// use replaylog::archive::{Archiver, ArchiverOptions, read_archived};
///
/// # let dir = tempfile::tempdir()?;
/// let opts = RingOptions::default().clock(Clock::Monotonic);
/// let mut control: RingLog<u64> = RingLog::open_with(dir.path().join("control.ring"), 64, opts.clone())?;
/// let mut io: RingLog<u64> = RingLog::open_with(dir.path().join("io.ring"), 64, opts)?;
/// control.append(&1)?;
/// io.append(&2)?;
/// let lanes = [("control", dir.path().join("control.ring")), ("io", dir.path().join("io.ring"))];
/// let archiver = Archiver::start_lanes(lanes, dir.path().join("archive"), ArchiverOptions::default())?;
/// let per_lane = archiver.stop_lanes()?;
/// assert_eq!(per_lane.iter().map(|l| l.stats.archived).collect::<Vec<_>>(), [1, 1]);
/// let (_, records) = read_archived(dir.path().join("archive"))?;
/// assert!(records.iter().all(|a| a.record.timestamp_ns.is_some()));
/// let mut lanes: Vec<_> = records.iter().map(|a| a.lane.as_deref().unwrap()).collect();
/// lanes.sort();
/// assert_eq!(lanes, ["control", "io"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Archiver {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<Vec<LaneStats>>>,
    thread: Option<JoinHandle<Result<()>>>,
    dir: PathBuf,
    /// Set for an archiver of lanes: what [`Archiver::add_lane`] needs.
    lanes: Option<Lanes>,
}

/// What an archiver of lanes keeps to add lanes while it runs.
struct Lanes {
    header: ArchiveHeader,
    /// Each lane's next seq, from the archive as it was at start (only this archiver has written
    /// to it since, and only to its own lanes).
    resume: HashMap<Option<String>, u64>,
    pending: Arc<Mutex<Vec<Source>>>,
}

/// One ring being drained.
struct Source {
    lane: Option<String>,
    reader: RawReader,
    gaps: Vec<Gap>,
    missed: u64,
    archived: u64,
}

const GAPS_KEPT: usize = 10_000;

impl Archiver {
    /// Starts archiving `ring` into the journal at `dir` (created if needed). An existing
    /// archive must come from a ring of the same record size, schema and layout
    /// (`HeaderMismatch` otherwise); archiving resumes after its last record, and seqs the ring
    /// no longer holds are reported as a gap. Entries name no lane; records keep their
    /// timestamps.
    pub fn start(ring: impl AsRef<Path>, dir: impl AsRef<Path>, opts: ArchiverOptions) -> Result<Archiver> {
        let dir = dir.as_ref().to_path_buf();
        let raw = RawRing::open(ring.as_ref())?;
        let want = ArchiveHeader::of(&raw);
        let journal = Journal::open(&dir, opts.journal.clone())?;
        let resume = match open_archive(&dir, &journal, &want)? {
            None | Some(2) => None,
            Some(next) => {
                let reader = ArchiveReader::open(&dir)?;
                let last = reader.entries(Position::Lsn(next - 1))?.next().transpose()?;
                let last = last.ok_or_else(|| ReplayLogError::Corrupt {
                    path: dir.clone(),
                    location: Location::Segment { segment: 0, offset: 0 },
                    reason: format!("the last entry (lsn {}) is missing", next - 1),
                })?;
                let last = last.into_archived(&dir)?;
                if last.lane.is_none() {
                    Some(last.record.seq + 1)
                } else {
                    // The archive also holds lanes: find this ring's own last entry.
                    resume_points(&dir)?.get(&None).copied()
                }
            }
        };
        let source = Source::new(None, raw, resume);
        Archiver::spawn(dir, journal, opts, vec![source], None)
    }

    /// Starts archiving several rings as lanes into the journal at `dir` (created if needed),
    /// each entry naming its lane: e.g. every `NAME.ring` of a recorder directory as lane
    /// `NAME`. One background thread drains them all, taking turns. Lane names are checked by
    /// [`check_lane_name`], may appear once, and there is at least one (`InvalidOptions`
    /// otherwise); every ring must have the record size, schema and layout of the first (and of
    /// an existing archive): `HeaderMismatch` naming the ring otherwise. Nothing is written
    /// before all of this is checked.
    ///
    /// An existing archive is read once, to resume every lane after its own last entry (seqs its
    /// ring no longer holds are reported as a gap); a damaged entry there is `Corrupt`.
    pub fn start_lanes<I, N, P>(lanes: I, dir: impl AsRef<Path>, opts: ArchiverOptions) -> Result<Archiver>
    where
        I: IntoIterator<Item = (N, P)>,
        N: Into<String>,
        P: AsRef<Path>,
    {
        let dir = dir.as_ref().to_path_buf();
        let mut rings: Vec<(String, RawRing)> = Vec::new();
        for (name, ring) in lanes {
            let name = name.into();
            check_new_lane(&name, rings.iter().map(|(n, _)| n.as_str()))?;
            rings.push((name, RawRing::open(ring.as_ref())?));
        }
        let Some((_, first)) = rings.first() else {
            return Err(ReplayLogError::InvalidOptions {
                option: "lanes",
                reason: "at least one lane is needed to archive".into(),
            });
        };
        let mut want = ArchiveHeader::of(first);
        if let Ok(existing) = ArchiveReader::open(&dir) {
            // Resuming: the archive's header is the one every lane must match (its capacity is
            // informational and may be another lane's).
            want = existing.header().clone();
        }
        for (_, ring) in &rings {
            check_same_shape(ring.path(), &want, &ArchiveHeader::of(ring))?;
        }
        let journal = Journal::open(&dir, opts.journal.clone())?;
        let resume = match open_archive(&dir, &journal, &want)? {
            None | Some(2) => HashMap::new(),
            Some(_) => resume_points(&dir)?,
        };
        let sources = rings
            .into_iter()
            .map(|(name, ring)| {
                let at = resume.get(&Some(name.clone())).copied();
                Source::new(Some(name), ring, at)
            })
            .collect();
        let lanes = Lanes { header: want, resume, pending: Arc::new(Mutex::new(Vec::new())) };
        Archiver::spawn(dir, journal, opts, sources, Some(lanes))
    }

    /// Adds a lane to an archiver started with [`Archiver::start_lanes`] while it runs (a lane
    /// created after the archiver started). The name and the ring are checked as by
    /// `start_lanes` (`InvalidOptions` for a bad or taken name, `HeaderMismatch` for a ring of
    /// another shape); the lane resumes after its last entry in the archive, if it has one.
    /// `InvalidOptions` on an archiver of one ring ([`Archiver::start`]).
    pub fn add_lane(&self, name: &str, ring: impl AsRef<Path>) -> Result<()> {
        let Some(lanes) = &self.lanes else {
            return Err(ReplayLogError::InvalidOptions {
                option: "lane",
                reason: "lanes can be added only to an archiver started with start_lanes".into(),
            });
        };
        let raw = RawRing::open(ring.as_ref())?;
        check_same_shape(raw.path(), &lanes.header, &ArchiveHeader::of(&raw))?;
        let mut stats = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        check_new_lane(name, stats.iter().filter_map(|l| l.lane.as_deref()))?;
        let source = Source::new(Some(name.to_owned()), raw, lanes.resume.get(&Some(name.to_owned())).copied());
        stats.push(source.initial_stats());
        lanes.pending.lock().unwrap_or_else(|e| e.into_inner()).push(source);
        Ok(())
    }

    fn spawn(
        dir: PathBuf,
        journal: Journal,
        opts: ArchiverOptions,
        sources: Vec<Source>,
        lanes: Option<Lanes>,
    ) -> Result<Archiver> {
        let stats = Arc::new(Mutex::new(sources.iter().map(Source::initial_stats).collect::<Vec<_>>()));
        let stop = Arc::new(AtomicBool::new(false));
        let pending = lanes.as_ref().map(|l| l.pending.clone());
        let thread = {
            let (stop, stats) = (stop.clone(), stats.clone());
            std::thread::Builder::new()
                .name("replaylog-archiver".into())
                .spawn(move || run(sources, pending, journal, opts, stop, stats))
                .map_err(|e| ReplayLogError::io("spawn archiver thread", &dir, e))?
        };
        Ok(Archiver { stop, stats, thread: Some(thread), dir, lanes })
    }

    /// Current progress. With several lanes: the sums of `archived`, `missed`, `gaps_total`
    /// and `lag`, and no `gaps`, `next_seq` or `resumed_at` (those are per lane:
    /// [`Archiver::lane_stats`]); with one ring or lane, exactly its progress.
    pub fn stats(&self) -> ArchiveStats {
        total(self.lane_stats())
    }

    /// Current progress of every lane, in the order the lanes were given (then added).
    pub fn lane_stats(&self) -> Vec<LaneStats> {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops: drains what the ring holds now, syncs and closes the archive; returns the final
    /// progress (as [`Archiver::stats`]), or the first error the thread met.
    pub fn stop(self) -> Result<ArchiveStats> {
        self.stop_lanes().map(total)
    }

    /// Stops as [`Archiver::stop`] does; returns the final progress of every lane.
    pub fn stop_lanes(mut self) -> Result<Vec<LaneStats>> {
        stop_worker(&self.stop, self.thread.take(), "archiver thread", &self.dir)?;
        Ok(self.lane_stats())
    }
}

impl Drop for Archiver {
    fn drop(&mut self) {
        let _ = stop_worker(&self.stop, self.thread.take(), "archiver thread", &self.dir);
    }
}

/// Stops a background worker (the archiver's, the freezer's): raises its stop flag, joins it,
/// and returns its result — the first error it met, or an I/O error naming `what` and `dir` if
/// it panicked. `None` (already stopped) is `Ok`.
pub(crate) fn stop_worker(
    stop: &AtomicBool,
    thread: Option<JoinHandle<Result<()>>>,
    what: &'static str,
    dir: &Path,
) -> Result<()> {
    stop.store(true, Ordering::Release);
    match thread.map(|t| t.join()) {
        Some(Ok(r)) => r,
        None => Ok(()),
        Some(Err(_)) => Err(ReplayLogError::io(what, dir, std::io::Error::other(format!("the {what} panicked")))),
    }
}

impl Source {
    /// Drains `ring` from `resume` (the seq after its last archived record), or from its oldest
    /// record.
    fn new(lane: Option<String>, ring: RawRing, resume: Option<u64>) -> Source {
        let reader = RawReader::new(ring, resume.map_or(StartAt::Oldest, StartAt::Seq));
        Source { lane, reader, gaps: Vec::new(), missed: 0, archived: 0 }
    }

    fn initial_stats(&self) -> LaneStats {
        LaneStats {
            lane: self.lane.clone(),
            ring: self.reader.ring().path().to_path_buf(),
            stats: ArchiveStats {
                next_seq: self.reader.position(),
                resumed_at: self.reader.position(),
                ..ArchiveStats::default()
            },
        }
    }
}

/// One ring's progress as is, several lanes' summed (see [`Archiver::stats`]).
fn total(mut lanes: Vec<LaneStats>) -> ArchiveStats {
    if lanes.len() == 1 {
        return lanes.remove(0).stats;
    }
    let mut t = ArchiveStats::default();
    for l in &lanes {
        t.archived += l.stats.archived;
        t.missed += l.stats.missed;
        t.gaps_total += l.stats.gaps_total;
        t.lag += l.stats.lag;
        t.elapsed_s = t.elapsed_s.max(l.stats.elapsed_s);
    }
    t
}

/// `InvalidOptions` unless `name` is a valid lane name not among `taken`.
fn check_new_lane<'a>(name: &str, mut taken: impl Iterator<Item = &'a str>) -> Result<()> {
    if let Err(e) = check_lane_name(name.as_bytes()) {
        return Err(ReplayLogError::InvalidOptions { option: "lane", reason: e.to_string() });
    }
    if taken.any(|t| t == name) {
        return Err(ReplayLogError::InvalidOptions { option: "lane", reason: format!("lane {name:?} is given twice") });
    }
    Ok(())
}

/// `HeaderMismatch` naming `ring` unless its record size, schema and layout are the archive's.
fn check_same_shape(ring: &Path, want: &ArchiveHeader, have: &ArchiveHeader) -> Result<()> {
    if (have.record_bytes, have.schema_id, &have.layout) != (want.record_bytes, want.schema_id, &want.layout) {
        return Err(ReplayLogError::mismatch(ring, "archive header", format!("{want:?}"), format!("{have:?}")));
    }
    Ok(())
}

/// Writes the header entry of a new archive (`None`), or checks an existing archive's header
/// against `want` and returns its next LSN.
fn open_archive(dir: &Path, journal: &Journal, want: &ArchiveHeader) -> Result<Option<u64>> {
    match journal.next_lsn()?.0 {
        1 => {
            journal.write(&want.encode())?;
            journal.sync()?;
            Ok(None)
        }
        next => {
            let reader = ArchiveReader::open(dir)?;
            let have = reader.header();
            if (have.record_bytes, have.schema_id, &have.layout) != (want.record_bytes, want.schema_id, &want.layout) {
                return Err(ReplayLogError::mismatch(dir, "archive header", format!("{want:?}"), format!("{have:?}")));
            }
            Ok(Some(next))
        }
    }
}

/// Every lane's next seq (its last entry's seq + 1), from one read of the whole archive; a
/// damaged entry is `Corrupt` (its lane, and so where that lane resumes, is unknown).
fn resume_points(dir: &Path) -> Result<HashMap<Option<String>, u64>> {
    let reader = ArchiveReader::open(dir)?;
    let mut next = HashMap::new();
    for entry in reader.entries(Position::Start)? {
        let a = entry?.into_archived(dir)?;
        let at = next.entry(a.lane).or_insert(0);
        *at = (*at).max(a.record.seq + 1);
    }
    Ok(next)
}

fn run(
    mut sources: Vec<Source>,
    pending: Option<Arc<Mutex<Vec<Source>>>>,
    journal: Journal,
    opts: ArchiverOptions,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<Vec<LaneStats>>>,
) -> Result<()> {
    let started = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut first = 0;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        if let Some(p) = &pending {
            sources.append(&mut p.lock().unwrap_or_else(|e| e.into_inner()));
        }
        buf.clear();
        ends.clear();
        // Every lane takes its turn, the first one changing each round so a busy lane cannot
        // starve the others; idle once every lane had nothing new.
        let mut idle = true;
        let n = sources.len();
        for k in 0..n {
            let src = &mut sources[(first + k) % n];
            let mut pending_seen = false;
            while ends.len() < opts.batch_max {
                match src.reader.poll()? {
                    ReadOutcome::Record(r) => {
                        encode_record_in_lane(&mut buf, &r, src.lane.as_deref())
                            .map_err(|e| ReplayLogError::InvalidOptions { option: "lane", reason: e.to_string() })?;
                        ends.push(buf.len());
                        src.archived += 1;
                    }
                    ReadOutcome::Lapped { missed: m, resumed_at } => {
                        src.missed += m;
                        src.gaps.push(Gap { from: resumed_at - m, to: resumed_at });
                    }
                    ReadOutcome::Pending => {
                        pending_seen = true;
                        break;
                    }
                }
            }
            idle &= pending_seen;
        }
        first = if n == 0 { 0 } else { (first + 1) % n };
        if !ends.is_empty() {
            let mut slices = Vec::with_capacity(ends.len());
            let mut at = 0;
            for &e in &ends {
                slices.push(&buf[at..e]);
                at = e;
            }
            journal.write_batch(&slices)?;
        }
        {
            let mut all = stats.lock().unwrap_or_else(|e| e.into_inner());
            for src in &mut sources {
                let Some(l) = all.iter_mut().find(|l| l.lane == src.lane) else { continue };
                let s = &mut l.stats;
                s.archived = src.archived;
                s.missed = src.missed;
                let room = GAPS_KEPT.saturating_sub(s.gaps.len());
                s.gaps_total += src.gaps.len() as u64;
                s.gaps.extend(src.gaps.drain(..).take(room));
                s.next_seq = src.reader.position();
                s.lag = src.reader.ring().cursor_hint().map_or(0, |c| c.saturating_sub(src.reader.position()));
                s.elapsed_s = started.elapsed().as_secs_f64();
            }
        }
        if stopping && idle {
            break;
        }
        if idle {
            std::thread::sleep(opts.idle_wait);
        }
    }
    journal.sync()?;
    journal.close()
}
