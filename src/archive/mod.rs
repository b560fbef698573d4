//! Lossless ring → journal archiving: a background thread drains a ring into a [`Journal`] so a
//! run of any length is captured while the host loop keeps its syscall-free hot path.
//!
//! Archive format (a journal whose entries are, in LSN order):
//! ```text
//! LSN 1, the archive header:
//!   0  [u8; 8] magic "RPLYARCH" | 8 u32 version (1) | 12 u32 record_bytes | 16 u64 schema_id
//!   24 u64 ring capacity | 32 u32 layout_bytes | 36 layout block (docs/FORMAT.md), may be empty
//! every later entry, one ring record:
//!   0  u64 seq | 8 u32 epoch | 12 u8 flags (bit 0: evidence) | 13 record (record_bytes)
//!   [13 + record_bytes: evidence exactly as in a ring slot: 16-byte header + message]
//! ```
//! Records are archived in seq order, each at most once. A restarted archiver resumes at the
//! last archived seq + 1; seqs the ring overwrote in between are reported as a gap, never filled
//! with anything else.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{ReplayLogError, Result};
use crate::format::layout::Layout;
use crate::journal::{Journal, JournalOptions, Position, ReadOnlyJournal, SyncMode};
use crate::ring::evidence;
use crate::ring::{RawReader, RawRecord, RawRing, ReadOutcome, StartAt};

/// First bytes of an archive's header entry.
pub const ARCHIVE_MAGIC: [u8; 8] = *b"RPLYARCH";
/// Archive format version.
pub const ARCHIVE_VERSION: u32 = 1;
const HEADER_FIXED_BYTES: usize = 36;
const RECORD_FIXED_BYTES: usize = 13;

/// What an archive says about the ring it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveHeader {
    /// Record size in bytes.
    pub record_bytes: u32,
    /// The ring's schema id.
    pub schema_id: u64,
    /// The ring's capacity (informational).
    pub capacity: u64,
    /// The ring's record layout, if it had one.
    pub layout: Option<Layout>,
}

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

    /// Encodes the header entry.
    pub fn encode(&self) -> Vec<u8> {
        let layout = self.layout.as_ref().map(Layout::encode).unwrap_or_default();
        let mut out = Vec::with_capacity(HEADER_FIXED_BYTES + layout.len());
        out.extend_from_slice(&ARCHIVE_MAGIC);
        out.extend_from_slice(&ARCHIVE_VERSION.to_le_bytes());
        out.extend_from_slice(&self.record_bytes.to_le_bytes());
        out.extend_from_slice(&self.schema_id.to_le_bytes());
        out.extend_from_slice(&self.capacity.to_le_bytes());
        out.extend_from_slice(&(layout.len() as u32).to_le_bytes());
        out.extend_from_slice(&layout);
        out
    }

    /// Decodes a header entry; `None` if it is not one.
    pub fn decode(b: &[u8]) -> Option<ArchiveHeader> {
        if b.len() < HEADER_FIXED_BYTES || b[..8] != ARCHIVE_MAGIC {
            return None;
        }
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap());
        if u32_at(8) != ARCHIVE_VERSION {
            return None;
        }
        let layout_len = u32_at(32) as usize;
        if b.len() != HEADER_FIXED_BYTES + layout_len {
            return None;
        }
        let layout = match layout_len {
            0 => None,
            _ => Some(Layout::decode(&b[HEADER_FIXED_BYTES..]).ok()?),
        };
        Some(ArchiveHeader { record_bytes: u32_at(12), schema_id: u64_at(16), capacity: u64_at(24), layout })
    }
}

/// Appends the archive entry for `r` to `out`.
pub fn encode_record(out: &mut Vec<u8>, r: &RawRecord) {
    out.extend_from_slice(&r.seq.to_le_bytes());
    out.extend_from_slice(&r.epoch.to_le_bytes());
    out.push(u8::from(r.evidence.is_some()));
    out.extend_from_slice(&r.bytes);
    if let Some(ev) = &r.evidence {
        let (head, msg) = evidence::encode(ev, usize::MAX);
        out.extend_from_slice(&head);
        out.extend_from_slice(msg);
    }
}

/// Decodes an archive entry holding a record of `record_bytes`.
pub fn decode_record(b: &[u8], record_bytes: usize) -> Option<RawRecord> {
    if b.len() < RECORD_FIXED_BYTES + record_bytes {
        return None;
    }
    let seq = u64::from_le_bytes(b[..8].try_into().unwrap());
    let epoch = u32::from_le_bytes(b[8..12].try_into().unwrap());
    let flags = b[12];
    let rest = &b[RECORD_FIXED_BYTES + record_bytes..];
    let evidence = match flags {
        0 if rest.is_empty() => None,
        1 => Some(evidence::decode(rest)?.to_owned()),
        _ => return None,
    };
    Some(RawRecord { seq, epoch, bytes: b[RECORD_FIXED_BYTES..RECORD_FIXED_BYTES + record_bytes].to_vec(), evidence })
}

/// Reads a whole archive: its header and every record, in order.
pub fn read_archive(dir: impl AsRef<Path>) -> Result<(ArchiveHeader, Vec<RawRecord>)> {
    let dir = dir.as_ref();
    let ro = ReadOnlyJournal::open(dir)?;
    let mut items = ro.iter_from(Position::Start)?;
    let not_archive = |what: &str| ReplayLogError::mismatch(dir, "archive header", "an RPLYARCH header entry", what);
    let first = items.next().ok_or_else(|| not_archive("an empty journal"))??;
    let header = ArchiveHeader::decode(&first.data).ok_or_else(|| not_archive("another entry"))?;
    let mut records = Vec::new();
    for item in items {
        let item = item?;
        let r = decode_record(&item.data, header.record_bytes as usize).ok_or_else(|| ReplayLogError::Corrupt {
            path: dir.to_path_buf(),
            location: crate::error::Location::Segment { segment: item.segment, offset: item.offset },
            reason: format!("entry {} is not an archived record", item.lsn),
        })?;
        records.push(r);
    }
    if let Some(p) = ro.problem() {
        return Err(p);
    }
    Ok((header, records))
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
                let ro = ReadOnlyJournal::open(&dir)?;
                let mut first = ro.iter_from(Position::Start)?;
                let header = first.next().transpose()?.and_then(|i| ArchiveHeader::decode(&i.data));
                let Some(have) = header else {
                    return Err(ReplayLogError::mismatch(&dir, "archive header", "an RPLYARCH header entry", "none"));
                };
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
                        let last = ro.iter_from(Position::Lsn(next - 1))?.next().transpose()?;
                        let rec = last.as_ref().and_then(|i| decode_record(&i.data, want.record_bytes as usize));
                        Some(rec.map(|r| r.seq + 1).ok_or_else(|| ReplayLogError::Corrupt {
                            path: dir.clone(),
                            location: crate::error::Location::Segment { segment: 0, offset: 0 },
                            reason: format!("the last entry (lsn {}) is not an archived record", next - 1),
                        })?)
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
