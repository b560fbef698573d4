//! Readers of a ring that another thread or process is writing: a read-only mapping, no lock,
//! and the seqlock discipline (load the seq with Acquire, copy, re-check the seq, validate the
//! checksum), so a half-written record is never returned.

use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::error::{Location, ReplayLogError, Result};
use crate::format::layout::Layout;
use crate::format::ring::*;
use crate::format::window::{self, Run};
use crate::ring::evidence::{self, ReplayFailureEvidence};
use crate::ring::log::ReplayRecord;

/// Slots a reader going through a ring (finding the window, a census, a lane of the merged
/// timeline) reads between two releases of the pages it has read (see
/// [`RawRing::release_read`]).
pub(crate) const RELEASE_SLOTS: u64 = 8192;

/// What [`RingReader::poll`] returns.
pub type TypedOutcome<T> = ReadOutcome<ReplayRecord<T>>;
use crate::ring::open;
use crate::ring::seqlock::{self, SeqSlot};
use crate::sys::Region;

/// One slot as a reader found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotRead {
    /// A valid record.
    Valid(RawRecord),
    /// Not a record (never written, in progress, torn, damaged or misplaced).
    Fault(SlotFault),
    /// The writer changed the slot while it was being copied.
    Changing,
}

/// A record as bytes, for tools that do not know the record type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRecord {
    /// Sequence number.
    pub seq: u64,
    /// Writer epoch that wrote it.
    pub epoch: u32,
    /// The record's timestamp in nanoseconds, when the ring has a clock.
    pub timestamp_ns: Option<u64>,
    /// The record's bytes.
    pub bytes: Vec<u8>,
    /// Failure evidence, if any.
    pub evidence: Option<ReplayFailureEvidence>,
}

/// The records of a ring's live window; see [`RawRing::window_records`].
pub struct WindowRecords<'a> {
    ring: &'a RawRing,
    next: u64,
    end: u64,
    released: u64,
}

/// A read-only view of a ring file of any record type.
#[derive(Debug)]
pub struct RawRing {
    path: PathBuf,
    _file: File,
    pub(super) region: Region,
    geometry: Geometry,
    header: RingHeader,
    layout: Option<Layout>,
}

/// How every slot of a ring looks (for validation and inspection).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SlotCensus {
    /// Valid slots.
    pub valid: u64,
    /// Never written.
    pub never_written: u64,
    /// Valid records carrying failure evidence.
    pub with_evidence: u64,
    /// Slots that are not valid records, by index.
    pub bad: Vec<(u64, SlotFault)>,
}

impl RawRing {
    /// Opens `path` read-only. The header is validated (foreign files are `HeaderMismatch`, and
    /// nothing is ever written: the mapping is read-only).
    pub fn open(path: impl AsRef<Path>) -> Result<RawRing> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| ReplayLogError::io("stat", path, e))?;
        if meta.is_dir() {
            return Err(ReplayLogError::io("open", path, std::io::Error::from_raw_os_error(nix::libc::EISDIR)));
        }
        if !meta.is_file() {
            return Err(ReplayLogError::mismatch(path, "file type", "regular file", "not a regular file"));
        }
        let file = File::open(path).map_err(|e| ReplayLogError::io("open", path, e))?;
        let (header, _) = open::read_header(&file, path)?;
        let layout = open::read_layout(&file, path, &header)?;
        let geometry = open::stored_geometry(path, &header)?;
        let len = file.metadata().map_err(|e| ReplayLogError::io("stat", path, e))?.len();
        if len != geometry.file_bytes {
            return Err(ReplayLogError::mismatch(path, "file_bytes", geometry.file_bytes, len));
        }
        let size =
            usize::try_from(len).map_err(|_| ReplayLogError::mismatch(path, "file_bytes", "addressable", len))?;
        let region = Region::map_read_only(&file, size).map_err(|e| ReplayLogError::io("mmap", path, e))?;
        Ok(RawRing { path: path.to_path_buf(), _file: file, region, geometry, header, layout })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Sizes and offsets (low-level: [`RawRing::info`] gives the typed header values).
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }
    /// The header as stored (low-level wire struct, little-endian fields; [`RawRing::info`]
    /// gives its values typed).
    pub fn header(&self) -> &RingHeader {
        &self.header
    }
    /// The stored record layout, if any.
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// Tells the kernel this reader is done with the slots (and evidence entries) holding
    /// `seqs`: their memory pages leave the process's resident set. Nothing in the file or in
    /// what a read returns changes — the page cache keeps the pages and a later read faults them
    /// back in. A reader streaming through a ring larger than it wants resident (an export of a
    /// 10 M-record ring maps gigabytes) calls this behind itself every few thousand records.
    /// Pages shared with slots outside `seqs` are kept.
    ///
    /// ```
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("r.ring");
    /// # let mut log: replaylog::RingLog<u64> = replaylog::RingLog::open(&path, 1024)?;
    /// # for i in 0..1000u64 { log.append(&i)?; }
    /// # log.sync()?;
    /// let ring = replaylog::RawRing::open(&path)?;
    /// let w = ring.window().unwrap();
    /// let mut done = w.first;
    /// for seq in w.first..=w.last {
    ///     let _ = ring.read_slot(seq % ring.info().capacity);
    ///     if seq + 1 - done == 256 {
    ///         ring.release_read(done..seq + 1);
    ///         done = seq + 1;
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn release_read(&self, seqs: std::ops::Range<u64>) {
        let g = &self.geometry;
        let capacity = g.capacity_slots;
        if seqs.is_empty() || capacity == 0 {
            return;
        }
        let count = (seqs.end - seqs.start).min(capacity);
        let first = g.index_of(seqs.start);
        // One or two runs of slot indices (the second when the seqs wrap past the last slot).
        let runs = if first + count <= capacity {
            [(first, count), (0, 0)]
        } else {
            [(first, capacity - first), (0, first + count - capacity)]
        };
        for (index, n) in runs {
            self.release_slots(index, n);
        }
    }

    /// [`RawRing::release_read`] of the slots `index .. index + n` (no wrap).
    pub(crate) fn release_slots(&self, index: u64, n: u64) {
        let g = &self.geometry;
        if n == 0 {
            return;
        }
        self.region.release(g.slot_offset(index) as usize, (n * g.slot_bytes as u64) as usize);
        if g.evidence_out_of_line() {
            self.region.release(g.evidence_entry_offset(index) as usize, (n * g.evidence_entry_bytes as u64) as usize);
        }
    }

    /// The cursor hint (the writer's next seq), when not garbled.
    pub fn cursor_hint(&self) -> Option<u64> {
        for _ in 0..4 {
            let next = self.region.load_u64((CURSOR_OFFSET + CURSOR_NEXT) as usize, Ordering::Acquire);
            let check = self.region.load_u64((CURSOR_OFFSET + CURSOR_CHECK) as usize, Ordering::Acquire);
            if let Some(n) = decode_cursor(next, check) {
                return Some(n);
            }
        }
        None
    }

    /// The current state copy: `(epoch, synced_next)`.
    pub fn state(&self) -> Option<(u32, u64)> {
        let mut best: Option<RingState> = None;
        for off in STATE_OFFSETS {
            let mut b = [0u8; STATE_BYTES];
            self.region.copy_out(off as usize, &mut b);
            if let Some(s) = RingState::decode(&b) {
                if best.is_none_or(|x| s.generation.get() > x.generation.get()) {
                    best = Some(s);
                }
            }
        }
        best.map(|s| (s.epoch.get(), s.synced_next.get()))
    }

    /// Reads slot `index` with the seqlock discipline into `buf`: the slot (`slot_bytes`), then,
    /// in format 3 when the slot is flagged with evidence, its evidence entry.
    ///
    /// The copy is made of relaxed atomic word loads between the seqlock's checks
    /// (`lowlevel::seqlock`), so it may run while the writer, in this or another process, rewrites
    /// the slot: such a copy is discarded (`Err(None)`), never returned. The writer stores a
    /// record's evidence entry inside the same seqlock section as its slot, so an entry copied
    /// between the same checks belongs with the slot copied. The whole slot is copied (in format
    /// 2, evidence area included): one sequential stream keeps the hardware prefetcher ahead of a
    /// reader going through the ring.
    pub fn read_slot_into(&self, index: u64, buf: &mut Vec<u8>) -> std::result::Result<SlotMeta, Option<SlotFault>> {
        let g = &self.geometry;
        let off = g.slot_offset(index) as usize;
        let stride = g.slot_bytes as usize;
        buf.resize(stride, 0);
        let word = ReadWord { region: &self.region, off: off + SLOT_SEQ };
        let Some(before) = seqlock::begin_read(&word) else { return Err(Some(SlotFault::Busy)) };
        self.region.copy_out(off, buf);
        let flags = u16::from_le_bytes([buf[SLOT_FLAGS], buf[SLOT_FLAGS + 1]]);
        if g.evidence_out_of_line() && flags & SLOT_FLAG_EVIDENCE != 0 {
            buf.resize(stride + g.evidence_entry_bytes as usize, 0);
            self.region.copy_out(g.evidence_entry_offset(index) as usize, &mut buf[stride..]);
        }
        if !seqlock::end_read(&word, before) || u64::from_le_bytes(buf[..8].try_into().unwrap()) != before {
            return Err(None);
        }
        let (slot, entry) = buf.split_at(stride);
        check_record(g, index, slot, entry).map_err(Some)
    }

    /// Reads slot `index`.
    pub fn read_slot(&self, index: u64) -> SlotRead {
        let mut buf = Vec::new();
        match self.read_slot_into(index, &mut buf) {
            Ok(meta) => SlotRead::Valid(self.decode(meta, &buf)),
            Err(Some(f)) => SlotRead::Fault(f),
            Err(None) => SlotRead::Changing,
        }
    }

    /// Decodes a record `read_slot_into` accepted from what it left in `buf`.
    pub(crate) fn decode(&self, meta: SlotMeta, buf: &[u8]) -> RawRecord {
        let g = &self.geometry;
        let (slot, entry) = buf.split_at(g.slot_bytes as usize);
        let at = g.record_offset();
        let evidence = match meta.evidence_bytes {
            0 => None,
            _ => evidence::decode(record_evidence(g, &meta, slot, entry)).map(|e| e.to_owned()),
        };
        let bytes = slot[at..at + g.record_bytes as usize].to_vec();
        RawRecord { seq: meta.seq, epoch: meta.epoch, timestamp_ns: meta.timestamp_ns, bytes, evidence }
    }

    /// The live window as a writer opening the file now would recover it (read-only; with a
    /// writer running, a snapshot that may already be moving on).
    pub fn window(&self) -> Option<Run> {
        let state = self.state();
        let synced = state.map_or(0, |(_, s)| s);
        let buf = std::cell::RefCell::new(Vec::new());
        let cap = self.geometry.capacity_slots;
        // The walk reads every slot, forward then around the anchor: release the slots read
        // behind it, so finding the window of a large ring does not leave it all resident.
        let touched = std::cell::Cell::new((0u64, 0u64));
        window::recover(cap, synced, |i| {
            // `lo..hi`: the run of slots read since the last release; a read next to it extends
            // it, any other read (or a run grown to RELEASE_SLOTS) releases it and starts anew.
            let (lo, hi) = touched.get();
            if hi > lo && i + 1 >= lo && i <= hi && hi - lo < RELEASE_SLOTS {
                touched.set((lo.min(i), hi.max(i + 1)));
            } else {
                self.release_slots(lo, hi - lo);
                touched.set((i, i + 1));
            }
            self.read_slot_into(i, &mut buf.borrow_mut())
                .ok()
                .and_then(|m| check_slot_epoch(m, state.map(|(e, _)| e)).ok())
        })
    }

    /// Validates every slot (read-only); a slot of a future epoch is bad. [`RawRing::validate`]
    /// gives the full report.
    pub fn census(&self) -> SlotCensus {
        let mut c = SlotCensus::default();
        let mut buf = Vec::new();
        let state_epoch = self.state().map(|(e, _)| e);
        for i in 0..self.geometry.capacity_slots {
            if i > 0 && i % RELEASE_SLOTS == 0 {
                self.release_slots(i - RELEASE_SLOTS, RELEASE_SLOTS);
            }
            match self.read_slot_into(i, &mut buf).and_then(|m| check_slot_epoch(m, state_epoch).map_err(Some)) {
                Ok(m) => {
                    c.valid += 1;
                    c.with_evidence += u64::from(m.evidence_bytes > 0);
                }
                Err(Some(SlotFault::NeverWritten)) => c.never_written += 1,
                Err(Some(f)) => c.bad.push((i, f)),
                Err(None) => c.bad.push((i, SlotFault::Busy)),
            }
        }
        c
    }

    /// The records of the live window, oldest first. A slot that fails validation inside the
    /// window (the writer overwrote it while this ran, or it is damaged) makes the whole call a
    /// `Corrupt` error naming the slot; `RawReader` streams records one by one instead.
    pub fn records(&self) -> Result<Vec<RawRecord>> {
        let Some(run) = self.window() else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for seq in run.first..=run.last {
            let index = self.geometry.index_of(seq);
            match self.read_slot_into(index, &mut buf) {
                Ok(m) if m.seq == seq => out.push(self.decode(m, &buf)),
                other => {
                    let reason = match other {
                        Ok(m) => format!("holds seq {} (overwritten while reading)", m.seq),
                        Err(Some(f)) => f.describe().to_string(),
                        Err(None) => "changed while reading".to_string(),
                    };
                    return Err(ReplayLogError::Corrupt {
                        path: self.path.clone(),
                        location: Location::RingSlot { index, seq },
                        reason,
                    });
                }
            }
        }
        Ok(out)
    }

    /// The records of `window` (a live window this ring's [`window`](RawRing::window) found)
    /// from seq `from` on (clipped to it), read slot by slot in seq order, each page released
    /// once read (see [`release_read`](RawRing::release_read)), so reading a ring of any size
    /// keeps a few MiB resident. A slot that no longer holds its seq (a writer lapped the
    /// reader), stays torn or fails its check ends the iteration with `Corrupt` naming it.
    pub fn window_records(&self, window: Option<Run>, from: Option<u64>) -> WindowRecords<'_> {
        let (next, end) = match window {
            Some(w) => (from.map_or(w.first, |f| f.max(w.first)), w.last + 1),
            None => (0, 0),
        };
        WindowRecords { ring: self, next, end: end.max(next), released: next }
    }
}

/// What a reader's `poll` found.
#[derive(Clone, Debug, PartialEq)]
pub enum ReadOutcome<R> {
    /// The next record (a [`ReplayRecord`] for [`RingReader`], a [`RawRecord`] for [`RawReader`]).
    Record(R),
    /// Nothing new has been published yet.
    Pending,
    /// The writer overwrote records before they were read (or a restarted writer left a hole):
    /// `missed` seqs were skipped and reading resumes at `resumed_at`.
    Lapped {
        /// How many seqs were never returned.
        missed: u64,
        /// The next seq the reader will return.
        resumed_at: u64,
    },
}

/// Where a new reader starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// The oldest live record.
    Oldest,
    /// Only records published after opening.
    Newest,
    /// A given seq.
    Seq(u64),
}

/// Follows a ring of any record type, returning records as bytes (tools, the archiver).
///
/// A writer that laps the reader is reported, never hidden:
///
/// ```
/// use replaylog::{RawReader, ReadOutcome, RingLog, StartAt};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("raw.ring");
/// let mut log: RingLog<u64> = RingLog::open(&path, 4)?;
/// let mut reader = RawReader::open_at(&path, StartAt::Oldest)?;
/// for v in 0..10u64 {
///     log.append(&v)?; // 10 records into 4 slots: seqs 0..=5 are overwritten
/// }
/// assert_eq!(reader.poll()?, ReadOutcome::Lapped { missed: 6, resumed_at: 6 });
/// match reader.poll()? {
///     ReadOutcome::Record(r) => assert_eq!((r.seq, r.bytes), (6, 6u64.to_le_bytes().to_vec())),
///     other => panic!("{other:?}"),
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RawReader {
    ring: RawRing,
    next: u64,
    buf: Vec<u8>,
}

impl RawReader {
    /// Opens a reader at `start`.
    pub fn open_at(path: impl AsRef<Path>, start: StartAt) -> Result<Self> {
        let ring = RawRing::open(path)?;
        Ok(Self::new(ring, start))
    }

    /// A reader over an already open ring.
    pub fn new(ring: RawRing, start: StartAt) -> Self {
        let next = match start {
            StartAt::Oldest => ring.window().map_or(0, |w| w.first),
            StartAt::Newest => ring.window().map_or(0, |w| w.last + 1).max(ring.cursor_hint().unwrap_or(0)),
            StartAt::Seq(s) => s,
        };
        RawReader { ring, next, buf: Vec::new() }
    }

    /// The seq the next record returned will have.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The ring underneath.
    pub fn ring(&self) -> &RawRing {
        &self.ring
    }

    /// Checks for the next record without blocking.
    pub fn poll(&mut self) -> Result<ReadOutcome<RawRecord>> {
        let g = self.ring.geometry;
        for _ in 0..64 {
            let index = g.index_of(self.next);
            // The cursor is stored after the slot is published, so loaded first it can only be
            // at or behind what the slot shows.
            let hint = self.ring.cursor_hint();
            match self.ring.read_slot_into(index, &mut self.buf) {
                Ok(m) if m.seq == self.next => {
                    let raw = self.ring.decode(m, &self.buf);
                    self.next += 1;
                    return Ok(ReadOutcome::Record(raw));
                }
                // An older lap: the writer has not reached this seq yet...
                Ok(m) if m.seq < self.next && hint.is_none_or(|h| h <= self.next) => return Ok(ReadOutcome::Pending),
                // ...unless it has published beyond it: then this seq is a hole (a writer that
                // restarted after a crash zeroed a torn slot, or rewrote a shorter run).
                Ok(m) if m.seq < self.next => return Ok(self.skip_hole(hint.unwrap_or(0))),
                Ok(m) => {
                    // A later lap already overwrote this seq. The writer is at least one past
                    // what we found; resume at the oldest seq it has not overwritten. If it
                    // overwrites that one too while we read, the next poll reports another lap.
                    let writer = self.ring.cursor_hint().unwrap_or(0).max(m.seq + 1);
                    return Ok(self.skip_hole(writer));
                }
                Err(None) => continue, // changed while copying: read again
                Err(Some(SlotFault::Busy)) => return Ok(ReadOutcome::Pending),
                Err(Some(_)) if hint.is_some_and(|h| h > self.next) => return Ok(self.skip_hole(hint.unwrap_or(0))),
                Err(Some(SlotFault::NeverWritten)) => return Ok(ReadOutcome::Pending),
                Err(Some(fault)) => {
                    // A stable slot that is not a record: a torn write by a writer that died
                    // (the next writer rewrites it) — unless it claims our seq.
                    let word = u64::from_le_bytes(self.buf[..8].try_into().unwrap());
                    if word == self.next && fault != SlotFault::Misplaced {
                        return Err(ReplayLogError::Corrupt {
                            path: self.ring.path.clone(),
                            location: Location::RingSlot { index, seq: self.next },
                            reason: fault.describe().to_string(),
                        });
                    }
                    return Ok(ReadOutcome::Pending);
                }
            }
        }
        Ok(ReadOutcome::Pending)
    }

    /// The writer published up to `writer` (its next seq) but our seq is not there: skip it
    /// (and, if the writer is a lap ahead, everything it overwrote), reporting what was skipped.
    fn skip_hole(&mut self, writer: u64) -> ReadOutcome<RawRecord> {
        let cap = self.ring.geometry.capacity_slots;
        let resume = writer.saturating_sub(cap).max(self.next + 1);
        let missed = resume - self.next;
        self.next = resume;
        ReadOutcome::Lapped { missed, resumed_at: resume }
    }

    /// Waits up to `timeout` for the next record (or a lap report); `Pending` on timeout. Polls
    /// with a short backoff (spin, then yield, then sleeps of at most 200 us).
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<ReadOutcome<RawRecord>> {
        let found = poll_with_backoff(timeout, || {
            self.poll().map(|o| match o {
                ReadOutcome::Pending => None,
                other => Some(other),
            })
        })?;
        Ok(found.unwrap_or(ReadOutcome::Pending))
    }
}

/// Calls `poll` until it returns `Some` or `timeout` has passed (`None`), with a short backoff
/// between calls: spin, then yield, then sleeps of at most 200 us. Shared by every live reader.
pub(crate) fn poll_with_backoff<R>(
    timeout: Duration,
    mut poll: impl FnMut() -> Result<Option<R>>,
) -> Result<Option<R>> {
    let deadline = Instant::now() + timeout;
    let mut round = 0u32;
    loop {
        if let Some(found) = poll()? {
            return Ok(Some(found));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        round += 1;
        if round < 64 {
            std::hint::spin_loop();
        } else if round < 128 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(200).min(deadline.saturating_duration_since(Instant::now())));
        }
    }
}

/// Follows a ring of `T`, typically one a writer in another thread or process is appending to.
///
/// The reader takes no lock and never writes; it never returns a half-written record, and when
/// the writer laps it, it says exactly how many records it missed.
///
/// ```
/// use std::time::Duration;
/// use replaylog::{ReadOutcome, RingLog, RingReader};
///
/// #[replaylog::record]
/// #[derive(Clone, Copy)]
/// struct Sample { seq: u64, volts: f32, _pad: [u8; 4] }
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("live.ring");
/// let mut log: RingLog<Sample> = RingLog::open(&path, 8)?;
/// let mut reader: RingReader<Sample> = RingReader::open(&path)?;
///
/// let writer = std::thread::spawn(move || -> replaylog::Result<()> {
///     for seq in 0..3 {
///         log.append(&Sample { seq, volts: 3.3, _pad: [0; 4] })?;
///     }
///     Ok(())
/// });
/// let mut seen = Vec::new();
/// while seen.len() < 3 {
///     match reader.next_timeout(Duration::from_secs(5))? {
///         ReadOutcome::Record(r) => seen.push(r.record.seq),
///         ReadOutcome::Lapped { missed, .. } => panic!("missed {missed}"),
///         ReadOutcome::Pending => panic!("no record within 5 s"),
///     }
/// }
/// writer.join().unwrap()?;
/// assert_eq!(seen, [0, 1, 2]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RingReader<T> {
    raw: RawReader,
    _record: PhantomData<fn() -> T>,
}

impl<T: FromBytes + IntoBytes + Immutable + KnownLayout> RingReader<T> {
    /// Opens a reader at the oldest live record.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_at(path, StartAt::Oldest)
    }

    /// Opens a reader at `start`. The file must hold records of `T`'s size.
    pub fn open_at(path: impl AsRef<Path>, start: StartAt) -> Result<Self> {
        let ring = RawRing::open(path)?;
        let rb = ring.geometry.record_bytes as usize;
        if rb != size_of::<T>() {
            return Err(ReplayLogError::mismatch(ring.path.clone(), "record_bytes", size_of::<T>(), rb));
        }
        Ok(RingReader { raw: RawReader::new(ring, start), _record: PhantomData })
    }

    /// The seq the next record returned will have.
    pub fn position(&self) -> u64 {
        self.raw.position()
    }

    /// The ring underneath.
    pub fn ring(&self) -> &RawRing {
        self.raw.ring()
    }

    fn typed(o: ReadOutcome<RawRecord>) -> TypedOutcome<T> {
        match o {
            ReadOutcome::Record(r) => {
                let record = T::read_from_bytes(&r.bytes).expect("record size checked at open");
                ReadOutcome::Record(ReplayRecord {
                    seq: r.seq,
                    timestamp_ns: r.timestamp_ns,
                    record,
                    evidence: r.evidence,
                })
            }
            ReadOutcome::Pending => ReadOutcome::Pending,
            ReadOutcome::Lapped { missed, resumed_at } => ReadOutcome::Lapped { missed, resumed_at },
        }
    }

    /// Checks for the next record without blocking.
    pub fn poll(&mut self) -> Result<TypedOutcome<T>> {
        self.raw.poll().map(Self::typed)
    }

    /// Waits up to `timeout` for the next record (or a lap report); `Pending` on timeout.
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<TypedOutcome<T>> {
        self.raw.next_timeout(timeout).map(Self::typed)
    }
}

/// The seq word of one slot of a read-only mapping.
struct ReadWord<'a> {
    region: &'a Region,
    off: usize,
}

impl SeqSlot for ReadWord<'_> {
    fn load_seq(&self, order: Ordering) -> u64 {
        self.region.load_u64(self.off, order)
    }
    fn store_seq(&mut self, _: u64, _: Ordering) {
        unreachable!("readers never store");
    }
}

impl WindowRecords<'_> {
    /// Records left to read.
    pub fn remaining(&self) -> u64 {
        self.end - self.next
    }

    fn read(&self, seq: u64) -> Result<RawRecord> {
        let index = seq % self.ring.info().capacity;
        let mut last = SlotRead::Changing;
        for attempt in 0..1000 {
            match self.ring.read_slot(index) {
                SlotRead::Valid(r) if r.seq == seq => return Ok(r),
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
        let reason = match last {
            SlotRead::Valid(r) if r.seq > seq => {
                format!(
                    "seq {seq} was overwritten (by seq {}) while it was being read: a writer lapped the reader",
                    r.seq
                )
            }
            SlotRead::Valid(r) => format!("a slot of the live window holds seq {}", r.seq),
            SlotRead::Fault(f) => format!("a slot of the live window: {}", f.describe()),
            SlotRead::Changing => "a slot of the live window kept changing while being read".to_string(),
        };
        Err(ReplayLogError::Corrupt {
            path: self.ring.path.clone(),
            location: Location::RingSlot { index, seq },
            reason,
        })
    }
}

impl Iterator for WindowRecords<'_> {
    type Item = Result<RawRecord>;

    fn next(&mut self) -> Option<Result<RawRecord>> {
        if self.next >= self.end {
            return None;
        }
        let r = self.read(self.next);
        self.next = if r.is_ok() { self.next + 1 } else { self.end };
        if self.next - self.released >= RELEASE_SLOTS || (self.next == self.end && self.next > self.released) {
            self.ring.release_read(self.released..self.next);
            self.released = self.next;
        }
        Some(r)
    }
}
