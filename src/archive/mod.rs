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

/// Drains a ring into an archive journal on a background thread.
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
pub struct Archiver {
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<ArchiveStats>>,
    thread: Option<JoinHandle<Result<()>>>,
    dir: PathBuf,
}

const GAPS_KEPT: usize = 10_000;

impl Archiver {
    /// Starts archiving `ring` into the journal at `dir` (created if needed). An existing
    /// archive must come from a ring of the same record size, schema and layout
    /// (`HeaderMismatch` otherwise); archiving resumes after its last record, and seqs the ring
    /// no longer holds are reported as a gap.
    pub fn start(ring: impl AsRef<Path>, dir: impl AsRef<Path>, opts: ArchiverOptions) -> Result<Archiver> {
        let dir = dir.as_ref().to_path_buf();
        let raw = RawRing::open(ring.as_ref())?;
        let want = ArchiveHeader::of(&raw);
        let journal = Journal::open(&dir, opts.journal.clone())?;
        let resume = match journal.next_lsn()?.0 {
            1 => {
                journal.write(&want.encode())?;
                journal.sync()?;
                None
            }
            next => {
                let reader = ArchiveReader::open(&dir)?;
                let have = reader.header();
                if (have.record_bytes, have.schema_id, &have.layout)
                    != (want.record_bytes, want.schema_id, &want.layout)
                {
                    return Err(ReplayLogError::mismatch(
                        &dir,
                        "archive header",
                        format!("{want:?}"),
                        format!("{have:?}"),
                    ));
                }
                match next {
                    2 => None,
                    _ => {
                        let last = reader.entries(Position::Lsn(next - 1))?.next().transpose()?;
                        let last = last.ok_or_else(|| ReplayLogError::Corrupt {
                            path: dir.clone(),
                            location: Location::Segment { segment: 0, offset: 0 },
                            reason: format!("the last entry (lsn {}) is missing", next - 1),
                        })?;
                        Some(last.into_record(&dir)?.seq + 1)
                    }
                }
            }
        };
        let start = resume.map_or(StartAt::Oldest, StartAt::Seq);
        let reader = RawReader::new(raw, start);
        let stats = Arc::new(Mutex::new(ArchiveStats {
            next_seq: reader.position(),
            resumed_at: reader.position(),
            ..ArchiveStats::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (stop, stats) = (stop.clone(), stats.clone());
            std::thread::Builder::new()
                .name("replaylog-archiver".into())
                .spawn(move || run(reader, journal, opts, stop, stats))
                .map_err(|e| ReplayLogError::io("spawn archiver thread", &dir, e))?
        };
        Ok(Archiver { stop, stats, thread: Some(thread), dir })
    }

    /// Current progress.
    pub fn stats(&self) -> ArchiveStats {
        self.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stops: drains what the ring holds now, syncs and closes the archive; returns the final
    /// progress, or the first error the thread met.
    pub fn stop(mut self) -> Result<ArchiveStats> {
        self.stop.store(true, Ordering::Release);
        let r = self.thread.take().map(|t| t.join());
        match r {
            Some(Ok(Ok(()))) | None => Ok(self.stats()),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(_)) => Err(ReplayLogError::io(
                "archiver thread",
                &self.dir,
                std::io::Error::other("the archiver thread panicked"),
            )),
        }
    }
}

impl Drop for Archiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(
    mut reader: RawReader,
    journal: Journal,
    opts: ArchiverOptions,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<ArchiveStats>>,
) -> Result<()> {
    let started = Instant::now();
    let mut buf: Vec<u8> = Vec::new();
    let mut ends: Vec<usize> = Vec::new();
    let mut gaps: Vec<Gap> = Vec::new();
    let mut missed = 0;
    let mut archived = 0;
    loop {
        let stopping = stop.load(Ordering::Acquire);
        buf.clear();
        ends.clear();
        let mut idle = false;
        while ends.len() < opts.batch_max {
            match reader.poll()? {
                ReadOutcome::Record(r) => {
                    encode_record(&mut buf, &r);
                    ends.push(buf.len());
                }
                ReadOutcome::Lapped { missed: m, resumed_at } => {
                    missed += m;
                    gaps.push(Gap { from: resumed_at - m, to: resumed_at });
                }
                ReadOutcome::Pending => {
                    idle = true;
                    break;
                }
            }
        }
        if !ends.is_empty() {
            let mut slices = Vec::with_capacity(ends.len());
            let mut at = 0;
            for &e in &ends {
                slices.push(&buf[at..e]);
                at = e;
            }
            journal.write_batch(&slices)?;
            archived += ends.len() as u64;
        }
        {
            let mut s = stats.lock().unwrap_or_else(|e| e.into_inner());
            s.archived = archived;
            s.missed = missed;
            let room = GAPS_KEPT.saturating_sub(s.gaps.len());
            s.gaps_total += gaps.len() as u64;
            s.gaps.extend(gaps.drain(..).take(room));
            s.next_seq = reader.position();
            s.lag = reader.ring().cursor_hint().map_or(0, |c| c.saturating_sub(reader.position()));
            s.elapsed_s = started.elapsed().as_secs_f64();
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
