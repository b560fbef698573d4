//! `Journal`: the writer side of the segmented log.

use std::any::Any;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
// Under `--cfg loom` the journal's own mutex and condition variable come from loom, so
// tests/loom_group_commit.rs model-checks this group commit code itself.
#[cfg(loom)]
use loom::sync::{Condvar, Mutex, MutexGuard};
#[cfg(loom)]
use loom::thread::yield_now;
use std::sync::Arc;
#[cfg(not(loom))]
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zerocopy::IntoBytes;

use crate::error::{ReplayLogError, Result};
use crate::format::journal::*;
use crate::journal::cut::{self, CutReport};
use crate::journal::options::{Ack, JournalOptions, Recovery, SyncMode};
use crate::journal::scan::{self, Verdict};
use crate::storage::{Kind, OpenMode, Storage, StorageFile};

/// A log sequence number: consecutive from 1 over the whole journal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

/// A group-commit leader waits at most the previous round's fdatasync time divided by this for
/// the writers that round released to append again (see `sync_to`).
const GATHER_DIVISOR: u32 = 2;

/// After a gathering wait timed out, this many rounds start without one.
const GATHER_BACKOFF: u8 = 8;

/// Bytes buffered before they are handed to the file.
const FLUSH_BYTES: usize = 256 * 1024;

/// Segment files are extended (zeros written, see `FileStorage::allocate`) this far ahead of the
/// last frame, or a quarter segment if smaller, up to `segment_bytes_max`: a frame write then
/// rarely changes the file size or allocation, so its fdatasync flushes data only (one in every
/// step's worth of writes pays the metadata commit), while a small journal stays small on disk
/// and to scan. Large flushes grow the file instead (`GROW_DIVISOR`).
const PREALLOC_STEP: u64 = 1 << 20;

/// A Sync-mode flush of at least a preallocation step divided by this (256 KiB at the default
/// step) that reaches past the zero-filled part of the segment is written without zero-filling
/// ahead: the file grows by the frames themselves, and that round's fdatasync commits the new
/// size (one metadata commit amortized over the whole flush) instead of flushing a step of zeros
/// besides its frames. Measured (bench-peers, 8 writers x 64 KiB interleaved with okaywal, two
/// runs each, alternating builds): 0.88x / 0.74x okaywal zero-filling, 1.10x / 1.00x growing.
/// Small flushes keep zero-filling ahead: their fdatasync then flushes data only.
const GROW_DIVISOR: u64 = 4;

/// In `Async` and `Interval` modes, device writeback of the frames handed to the file is started
/// (`sync_file_range`, no waiting) every this many bytes (or a quarter segment, if smaller), so
/// a roll's fdatasync finds at most about this much still to write instead of a whole segment,
/// and the device is kept busy while the writer fills the buffer. Measured (criterion, Async,
/// same session, vs 4 MiB): 1 MiB -13% / -17% / -21% time per 64 B / 1 KiB / 64 KiB write;
/// every flush (256 KiB) -4% / -21% / -24%, but +10% at 64 B in the harness (a syscall per
/// flush). 4 MiB itself was +14-15% at 1 KiB and 64 KiB over none (BENCHMARKS.md).
const WRITEBACK_BYTES: u64 = 1 << 20;

struct State {
    open: bool,
    dir_lock: Option<Box<dyn Any + Send + Sync>>,
    poisoned: Option<String>,
    segment: u64,
    path: PathBuf,
    file: Arc<dyn StorageFile>,
    /// Bytes of the current segment handed to the file.
    written: u64,
    /// Encoded frames not yet handed to the file (they follow `written`).
    buf: Vec<u8>,
    /// Bytes of the current segment below this had their device writeback started (or synced).
    kicked: u64,
    /// Length the current segment file has been extended (allocated) to.
    allocated: u64,
    next_lsn: u64,
    /// Every LSN below this is covered by the durable watermark (with `fsync: false`: handed to
    /// the OS).
    wm_next: u64,
    /// (end, next LSN) of the current segment's frames that an fdatasync made durable but no
    /// durable watermark covers yet: a later group-commit round writes their watermark along
    /// with its own frames (the next one under `Ack::Watermarked`; every
    /// `watermark_every_rounds`-th under `Ack::DataSynced`), so under load an fdatasync both
    /// acknowledges a round and makes the next one's frames durable.
    data_synced: Option<(u64, u64)>,
    wm_generation: u64,
    wm_copy: usize,
    /// Rounds completed since the last one that wrote a watermark (`watermark_every_rounds`).
    wm_rounds: u32,
    /// When the last watermark write became durable (or the journal opened).
    wm_written_at: Instant,
    syncing: bool,
    /// The next round's leader gathers (see `sync_to`) until `next_lsn` reaches this: the
    /// frames buffered when the last round completed plus as many as that round newly
    /// acknowledged (under the journal's `Ack`), i.e. one more from each writer it released.
    gather_until: u64,
    /// Rounds left that start without gathering (after a wait timed out).
    gather_backoff: u8,
    /// When the current gathering gives up (set by the first writer that waits for it).
    gather_deadline: Option<Instant>,
    /// How long the last round's fdatasync took (bounds the next gathering wait).
    last_sync: Duration,
    /// When the last round completed (the quiet watermark waits for `watermark_quiet_ms` of
    /// no round before writing).
    last_round: Instant,
    segments: VecDeque<u64>,
    snapshot_segment: Option<u64>,
}

impl State {
    /// Every LSN below this is acknowledged under `ack`: covered by the durable watermark, or
    /// (`Ack::DataSynced`) at least fdatasync'd by a completed round.
    fn acked_next(&self, ack: Ack) -> u64 {
        match (ack, self.data_synced) {
            (Ack::DataSynced, Some((_, next))) => next.max(self.wm_next),
            _ => self.wm_next,
        }
    }
}

/// The body of a journal's background thread (the Interval flusher or the quiet watermark).
type BackgroundThread = Box<dyn FnOnce(Arc<Shared>) + Send>;

struct Shared {
    dir: PathBuf,
    opts: JournalOptions,
    st: Mutex<State>,
    cv: Condvar,
    /// Notified only by `close`: the quiet-watermark thread's timed waits, so that rounds
    /// completing under load do not wake it once per fdatasync.
    quiet_cv: Condvar,
}

/// The segmented, append-only journal. Share it between writer threads with `Arc<Journal>`:
/// every method takes `&self`.
///
/// ```
/// use replaylog::{EntryKind, Journal, JournalOptions, Position, ReadOnlyJournal, SyncMode};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("capture.journal");
/// let j = Journal::open(&path, JournalOptions::default().sync(SyncMode::Sync))?;
/// let first = j.write(b"tick 1")?; // durable on return in Sync mode
/// j.write_batch(&[b"tick 2", b"tick 3"])?; // one commit for both
/// j.snapshot(b"state after tick 3")?; // a snapshot frame, then a new segment
/// j.write(b"tick 4")?;
/// j.close()?; // sync + release the directory lock
/// assert_eq!(first.0, 1);
///
/// // Replay from the newest snapshot: the snapshot, then what came after it.
/// let mut seen = Vec::new();
/// replaylog::journal::replay(&path, |item| seen.push((item.lsn, item.kind, item.data.clone())))?;
/// assert_eq!(seen, [
///     (4, EntryKind::Snapshot, b"state after tick 3".to_vec()),
///     (5, EntryKind::Entry, b"tick 4".to_vec()),
/// ]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Journal {
    shared: Arc<Shared>,
    flusher: std::sync::Mutex<Option<JoinHandle<()>>>,
    recovery: Option<CutReport>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal").field("dir", &self.shared.dir).finish_non_exhaustive()
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// Creates segment `n` starting at `first_lsn`: header and first watermark written to
/// `NAME.tmp`, fdatasync, renamed to `NAME`, directory fsync. So a segment file exists under its
/// name only once its first page is durable, and it is durable (name included) before any frame
/// is written to it. A crash in between leaves a `.tmp` leftover, which recovery moves to backup.
fn create_segment(
    storage: &dyn Storage,
    dir: &Path,
    n: u64,
    first_lsn: u64,
    preallocate: u64,
) -> Result<(PathBuf, Arc<dyn StorageFile>)> {
    let path = dir.join(segment_name(n));
    let tmp = dir.join(format!("{}{}", segment_name(n), scan::CREATING_SUFFIX));
    let io = |op, p: &Path, e| ReplayLogError::io(op, p, e);
    let file = storage.open(&tmp, OpenMode::CreateNew).map_err(|e| io("create", &tmp, e))?;
    // In Sync mode zero-filled ahead of the frames (PREALLOC_STEP): a frame write then changes no
    // file size or allocation, and its commit's fdatasync flushes data only (BENCHMARKS.md: a
    // growing file's fdatasync also commits the inode through the filesystem journal).
    if preallocate > DATA_OFFSET {
        file.allocate(preallocate).map_err(|e| io("preallocate", &tmp, e))?;
    }
    let mut head = vec![0u8; DATA_OFFSET as usize];
    head[..SEGMENT_HEADER_BYTES].copy_from_slice(SegmentHeader::new(n, first_lsn, now_ms()).as_bytes());
    let wm = Watermark::new(1, DATA_OFFSET, first_lsn, false);
    let off = WATERMARK_OFFSETS[0] as usize;
    head[off..off + WATERMARK_BYTES].copy_from_slice(wm.as_bytes());
    file.write_at(&head, 0).map_err(|e| io("write", &tmp, e))?;
    file.sync_data().map_err(|e| io("fdatasync", &tmp, e))?;
    storage.rename(&tmp, &path).map_err(|e| io("rename", &tmp, e))?;
    storage.sync_dir(dir).map_err(|e| io("fsync directory", dir, e))?;
    Ok((path, Arc::from(file)))
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`.
    ///
    /// Refuses, changing nothing: a path that is not a directory or a directory holding anything
    /// but segments and `backup/` (`HeaderMismatch`), another writer (`Locked`), damage at or
    /// before the durable watermark (`Corrupt`), any damage with `Recovery::Absolute`
    /// (`BadTail`/`Corrupt`). A torn tail after the watermark is cut with a backup (see
    /// [`Journal::recovery`]). Then the recovered end is made durable and writing continues.
    pub fn open(dir: impl AsRef<Path>, opts: JournalOptions) -> Result<Journal> {
        opts.validate()?;
        let dir = dir.as_ref().to_path_buf();
        let storage = opts.storage.clone();
        match storage.stat(&dir) {
            Ok(Kind::Dir) => {}
            Ok(Kind::File(_)) => {
                return Err(ReplayLogError::mismatch(&dir, "path type", "a journal directory", "a file"));
            }
            Ok(Kind::Other) => {
                return Err(ReplayLogError::mismatch(&dir, "path type", "a journal directory", "a device or fifo"));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                storage.create_dir(&dir).map_err(|e| ReplayLogError::io("create directory", &dir, e))?;
                let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                storage.sync_dir(parent).map_err(|e| ReplayLogError::io("fsync directory", parent, e))?;
            }
            Err(e) => return Err(ReplayLogError::io("stat", &dir, e)),
        }
        let dir_lock = storage
            .lock_dir(&dir)
            .map_err(|e| ReplayLogError::io("flock", &dir, e))?
            .ok_or_else(|| ReplayLogError::Locked { path: dir.clone(), waited_ms: 0 })?;
        let mut scan = scan::scan_dir(&*storage, &dir)?;
        let recovery = match (&scan.verdict, opts.recovery) {
            (Verdict::Clean, _) => None,
            (Verdict::TornTail { .. }, Recovery::TolerateTail) => {
                let report = cut::cut(&*storage, &scan)?;
                scan = scan::scan_dir(&*storage, &dir)?;
                debug_assert_eq!(scan.verdict, Verdict::Clean);
                report
            }
            _ => return Err(scan.problem().expect("damage")),
        };
        let last = scan.segs.last().cloned();
        let (segment, path, file, written, next_lsn, wm_generation, wm_copy, allocated) = match &last {
            Some(seg) if seg.watermark.is_some_and(|(w, _)| w.sealed.get() == 0) => {
                let (w, copy) = seg.watermark.unwrap();
                let file = storage
                    .open(&seg.path, OpenMode::ReadWrite)
                    .map_err(|e| ReplayLogError::io("open", &seg.path, e))?;
                // A cut may have left it ending at its last frame: extend it ahead again.
                let ahead = opts.segment_bytes_max.min(seg.valid_end + prealloc_step(&opts));
                if ahead > seg.valid_end {
                    file.allocate(ahead).map_err(|e| ReplayLogError::io("preallocate", &seg.path, e))?;
                }
                let allocated = seg.len.max(ahead);
                let w_gen = w.generation.get();
                (seg.number, seg.path.clone(), Arc::from(file), seg.valid_end, seg.next_lsn, w_gen, copy, allocated)
            }
            other => {
                // No segment yet, or the last one is sealed (a roll stopped before the next
                // segment became durable): start the next one.
                let (n, first) = other.as_ref().map_or((0, 1), |s| (s.number + 1, s.next_lsn));
                let ahead = first_allocation(&opts);
                let (path, file) = create_segment(&*storage, &dir, n, first, ahead)?;
                (n, path, file, DATA_OFFSET, first, 1, 0, ahead)
            }
        };
        let mut segments: VecDeque<u64> = scan.segs.iter().map(|s| s.number).collect();
        if segments.back() != Some(&segment) {
            segments.push_back(segment);
        }
        let snapshot_segment = scan.newest_snapshot().map(|(i, _, _)| scan.segs[i].number);
        let durable_written = last.as_ref().and_then(|s| s.watermark).map_or(DATA_OFFSET, |(w, _)| w.valid_bytes.get());
        let st = State {
            open: true,
            dir_lock: Some(dir_lock),
            poisoned: None,
            segment,
            path,
            file,
            written,
            buf: Vec::with_capacity(FLUSH_BYTES),
            kicked: written,
            allocated,
            next_lsn,
            wm_next: next_lsn,
            data_synced: None,
            wm_generation,
            wm_copy,
            wm_rounds: 0,
            wm_written_at: Instant::now(),
            syncing: false,
            gather_until: 0,
            gather_backoff: 0,
            gather_deadline: None,
            last_sync: Duration::ZERO,
            last_round: Instant::now(),
            segments,
            snapshot_segment,
        };
        let shared = Arc::new(Shared { dir, opts, st: Mutex::new(st), cv: Condvar::new(), quiet_cv: Condvar::new() });
        let journal = Journal { shared, flusher: std::sync::Mutex::new(None), recovery };
        if written > durable_written && journal.shared.opts.fsync {
            // Frames found intact after the watermark (written but never acknowledged as durable)
            // are kept; make them durable before claiming them.
            let mut st = journal.shared.lock();
            st.wm_next = watermark_next_lsn(&last);
            drop(journal.shared.sync_to(st, next_lsn - 1, Ack::Watermarked)?);
        }
        let o = &journal.shared.opts;
        // Interval: the flusher (it writes the watermark of whatever is unsynced every
        // interval). Sync and Async with Ack::DataSynced: the quiet watermark, for the rounds of
        // Sync writes and of `sync()` calls (not under loom, which models the rounds themselves,
        // not time).
        let background: Option<(&str, BackgroundThread)> = match o.sync_interval_ms() {
            Some(ms) => Some(("replaylog-flusher", Box::new(move |s| s.flusher(Duration::from_millis(ms))))),
            None if !cfg!(loom) && o.ack == Ack::DataSynced && o.fsync => {
                let quiet = Duration::from_millis(o.watermark_quiet_ms);
                Some(("replaylog-watermark", Box::new(move |s| s.quiet_watermark(quiet))))
            }
            None => None,
        };
        if let Some((name, run)) = background {
            let shared = journal.shared.clone();
            let handle = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || run(shared))
                .map_err(|e| ReplayLogError::io("spawn journal thread", &journal.shared.dir, e))?;
            *journal.flusher.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
        }
        Ok(journal)
    }

    /// What open cut from a torn tail, if anything (the backup paths are in the report).
    pub fn recovery(&self) -> Option<&CutReport> {
        self.recovery.as_ref()
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.shared.dir
    }

    /// Appends an entry; returns its LSN. In `SyncMode::Sync` it is durable on return.
    pub fn write(&self, data: &[u8]) -> Result<Lsn> {
        let (st, lsn) = self.shared.append(KIND_ENTRY, data)?;
        self.shared.after_write(st, lsn)?;
        Ok(Lsn(lsn))
    }

    /// Appends several entries with consecutive LSNs (no other writer's entry lands between
    /// them); returns the first and last LSN, `None` for an empty batch. One sync covers all of
    /// them in `SyncMode::Sync`. Sizes are checked before anything is appended.
    pub fn write_batch(&self, entries: &[&[u8]]) -> Result<Option<(Lsn, Lsn)>> {
        let encoded = entries.iter().map(|e| self.shared.encode(e)).collect::<Result<Vec<_>>>()?;
        let mut st = self.shared.lock_open()?;
        self.shared.check_writable(&st)?;
        let mut range = None;
        for ((body, flags), raw) in encoded.iter().zip(entries) {
            let (next, lsn) = self.shared.push(st, KIND_ENTRY, body, *flags, raw.len())?;
            st = next;
            range = Some((range.map_or(lsn, |(first, _)| first), lsn));
        }
        if let Some((_, last)) = range {
            self.shared.after_write(st, last)?;
        }
        Ok(range.map(|(a, b)| (Lsn(a), Lsn(b))))
    }

    /// Makes every entry written so far durable (fdatasync, then the watermark, fdatasync).
    pub fn sync(&self) -> Result<()> {
        let st = self.shared.lock_open()?;
        self.shared.sync_all(st, self.shared.opts.ack).map(drop)
    }

    /// Seals the current segment (durable) and starts the next one.
    pub fn roll(&self) -> Result<()> {
        let st = self.shared.lock_open()?;
        self.shared.roll(st).map(drop)
    }

    /// Writes a state snapshot, then rolls: replay starts from the newest snapshot, and
    /// retention may delete the segments before it.
    pub fn snapshot(&self, state: &[u8]) -> Result<Lsn> {
        let (mut st, lsn) = self.shared.append(KIND_SNAPSHOT, state)?;
        st.snapshot_segment = Some(st.segment);
        drop(self.shared.roll(st)?);
        Ok(Lsn(lsn))
    }

    /// The LSN the next entry will get.
    pub fn next_lsn(&self) -> Result<Lsn> {
        Ok(Lsn(self.shared.lock_open()?.next_lsn))
    }

    /// Every LSN below this is durable (acknowledged under the journal's [`Ack`]).
    pub fn durable_lsn(&self) -> Result<Lsn> {
        Ok(Lsn(self.shared.lock_open()?.acked_next(self.shared.opts.ack)))
    }

    /// Every LSN below this is covered by the durable watermark: rot in it is reported as
    /// `Corrupt` at open, never cut as a torn tail. With `Ack::DataSynced` it follows
    /// [`Journal::durable_lsn`] by at most `watermark_every_rounds` rounds (or the rounds of
    /// `watermark_quiet_ms`), or by `watermark_quiet_ms` when no round
    /// follows; with `Ack::Watermarked` the two are equal.
    pub fn watermark_lsn(&self) -> Result<Lsn> {
        Ok(Lsn(self.shared.lock_open()?.wm_next))
    }

    /// Syncs, then releases the directory lock. Every later call on this handle is `NotOpen`.
    /// The lock is released even when the final sync fails (the error is returned).
    pub fn close(&self) -> Result<()> {
        let result = {
            let st = self.shared.lock_open()?;
            let (mut st, r) = match self.shared.sync_all(st, Ack::Watermarked) {
                Ok(st) => (st, Ok(())),
                Err(e) => (self.shared.lock(), Err(e)),
            };
            st.open = false;
            st.dir_lock = None;
            self.shared.cv.notify_all();
            self.shared.quiet_cv.notify_all();
            r
        };
        if let Some(h) = self.flusher.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
        result
    }
}

/// How far ahead of the last frame segment files are extended.
/// How far ahead of the frames segment files are extended: only in `SyncMode::Sync` with
/// `fsync`, where every commit's fdatasync would otherwise also commit the file's new size. In
/// the buffered modes a commit is rare and off the writer's path, while each `fallocate` costs
/// the writer (measured: 132 us per 1 MiB step, a tenth of a 64 KiB Async write's time) and
/// writeback into preallocated (unwritten) extents converts them: 0, never extended.
fn prealloc_step(opts: &JournalOptions) -> u64 {
    if opts.sync == SyncMode::Sync && opts.fsync { PREALLOC_STEP.min(opts.segment_bytes_max / 4) } else { 0 }
}

/// A new segment's first allocation: its first page and one step.
fn first_allocation(opts: &JournalOptions) -> u64 {
    opts.segment_bytes_max.min(DATA_OFFSET + prealloc_step(opts))
}

/// The LSN the last segment's durable watermark covers up to (for the adoption sync at open).
fn watermark_next_lsn(last: &Option<scan::SegInfo>) -> u64 {
    last.as_ref().and_then(|s| s.watermark).map_or(1, |(w, _)| w.next_lsn.get())
}

impl Drop for Journal {
    fn drop(&mut self) {
        if self.shared.lock().open {
            let _ = self.close();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.st.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lock_open(&self) -> Result<MutexGuard<'_, State>> {
        let st = self.lock();
        if !st.open {
            return Err(ReplayLogError::NotOpen { path: self.dir.clone() });
        }
        Ok(st)
    }

    fn check_writable(&self, st: &State) -> Result<()> {
        match &st.poisoned {
            Some(first) => Err(ReplayLogError::Poisoned { path: self.dir.clone(), first_error: first.clone() }),
            None => Ok(()),
        }
    }

    fn poison(&self, st: &mut State, err: ReplayLogError) -> ReplayLogError {
        if st.poisoned.is_none() {
            st.poisoned = Some(err.to_string());
        }
        self.cv.notify_all();
        err
    }

    /// Compresses an entry when worthwhile (outside the lock).
    fn encode<'d>(&self, data: &'d [u8]) -> Result<(std::borrow::Cow<'d, [u8]>, u8)> {
        if data.len() > FRAME_BODY_MAX as usize {
            return Err(ReplayLogError::EntryTooLarge { bytes: data.len(), max: FRAME_BODY_MAX as usize });
        }
        if let Some(min) = self.opts.compress_min_bytes {
            if data.len() >= min as usize {
                let c = lz4_flex::block::compress(data);
                if c.len() < data.len() {
                    return Ok((std::borrow::Cow::Owned(c), FRAME_FLAG_LZ4));
                }
            }
        }
        Ok((std::borrow::Cow::Borrowed(data), 0))
    }

    /// Buffers one encoded frame (rolling first if the segment is full); returns its LSN.
    fn push<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        kind: u8,
        body: &[u8],
        flags: u8,
        raw_len: usize,
    ) -> Result<(MutexGuard<'a, State>, u64)> {
        let frame_len = (FRAME_HEADER_BYTES + body.len()) as u64;
        let end = st.written + st.buf.len() as u64;
        if end > DATA_OFFSET && end + frame_len > self.opts.segment_bytes_max {
            st = self.roll(st)?;
        }
        let lsn = st.next_lsn;
        encode_frame(&mut st.buf, kind, flags, lsn, raw_len as u32, body);
        st.next_lsn += 1;
        if st.buf.len() >= FLUSH_BYTES {
            self.flush_buf(&mut st)?;
        }
        Ok((st, lsn))
    }

    /// Encodes and buffers one frame.
    fn append(&self, kind: u8, data: &[u8]) -> Result<(MutexGuard<'_, State>, u64)> {
        let (body, flags) = self.encode(data)?;
        let st = self.lock_open()?;
        self.check_writable(&st)?;
        self.push(st, kind, &body, flags, data.len())
    }

    fn after_write<'a>(&'a self, st: MutexGuard<'a, State>, lsn: u64) -> Result<()> {
        match self.opts.sync {
            SyncMode::Sync => self.sync_to(st, lsn, self.opts.ack).map(drop),
            SyncMode::Async | SyncMode::Interval(_) => Ok(()),
        }
    }

    fn flush_buf(&self, st: &mut State) -> Result<()> {
        if st.buf.is_empty() {
            return Ok(());
        }
        let need = st.written + st.buf.len() as u64;
        let step = prealloc_step(&self.opts);
        if step > 0 && need > st.allocated {
            if st.buf.len() as u64 >= step / GROW_DIVISOR {
                // A large flush (a round of many or large frames) grows the file by its own
                // write: one metadata commit amortized over it costs less than flushing a step
                // of zeros.
                st.allocated = need;
            } else {
                let ahead = need.max(self.opts.segment_bytes_max.min(need + step));
                if let Err(e) = st.file.allocate(ahead) {
                    let err = ReplayLogError::io("preallocate", &st.path, e);
                    return Err(self.poison(st, err));
                }
                st.allocated = ahead;
            }
        }
        match st.file.write_at(&st.buf, st.written) {
            Ok(()) => {
                st.written += st.buf.len() as u64;
                st.buf.clear();
                let pending = st.written - st.kicked;
                let every = WRITEBACK_BYTES.min(self.opts.segment_bytes_max / 4);
                if pending >= every && self.opts.fsync && self.opts.sync != SyncMode::Sync {
                    if let Err(e) = st.file.start_writeback(st.kicked, pending) {
                        let err = ReplayLogError::io("sync_file_range", &st.path, e);
                        return Err(self.poison(st, err));
                    }
                    st.kicked = st.written;
                }
                Ok(())
            }
            Err(e) => {
                let err = ReplayLogError::io("write", &st.path, e);
                Err(self.poison(st, err))
            }
        }
    }

    fn sync_all<'a>(&'a self, st: MutexGuard<'a, State>, ack: Ack) -> Result<MutexGuard<'a, State>> {
        if st.next_lsn > st.wm_next {
            let target = st.next_lsn - 1;
            self.sync_to(st, target, ack)
        } else {
            self.check_writable(&st)?;
            Ok(st)
        }
    }

    /// Group commit: returns once every LSN up to `target` is durable and covered by the durable
    /// watermark. One caller at a time (the leader) runs a round with the lock released: it
    /// writes the buffered frames and, if an earlier round's fdatasync made frames durable that
    /// no durable watermark covers yet, a watermark covering exactly those (for a caller that
    /// waits for the watermark always; otherwise every `watermark_every_rounds`-th round, or the
    /// first once `watermark_quiet_ms` has passed since the last one); then one fdatasync.
    /// That fdatasync acknowledges the earlier frames (their watermark is durable) and makes this
    /// round's frames durable; their watermark goes out with a later round. A lone writer thus
    /// needs two rounds (data, then watermark), but under load every round's fdatasync does both
    /// jobs. A watermark never covers frames whose fdatasync had not returned when it was written.
    /// `ack`: what "done" means for this caller — `Ack::DataSynced` returns once the frames up
    /// to `target` are fdatasync'd (their watermark follows in a later round); close, roll, the
    /// flusher and open's adoption always wait for the watermark.
    fn sync_to<'a>(&'a self, mut st: MutexGuard<'a, State>, target: u64, ack: Ack) -> Result<MutexGuard<'a, State>> {
        loop {
            self.check_writable(&st)?;
            if st.acked_next(ack) > target {
                return Ok(st);
            }
            if st.syncing {
                st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            // Gathering: the writers the previous round released (woken, but on a busy machine
            // not yet running) will each append again; if the round starts without them they
            // wait a whole fdatasync for the next one, and the writers split into cohorts sharing
            // alternate rounds. So the round waits until one frame per released writer has
            // arrived (`gather_until`) — and the writer whose frame completes the count leads
            // it, at once, being the one running. The earlier arrivals sleep on the condition
            // variable (as followers of the round they will be part of) until that round
            // completes, or until half the last fdatasync's time has passed since the first of
            // them began to wait: then that one leads, and the next GATHER_BACKOFF rounds start
            // without waiting, so writers that stopped cost at most one wait in that many
            // rounds. A lone writer never waits (the frame awaited is its own). Nobody spins or
            // yields: on a host whose every core is busy, a `sched_yield` hands the core to the
            // other runnable process for the rest of its time slice (measured: a 3.9 ms p50 at
            // 2-8 writers beside two busy loops), while a sleeper woken by a futex runs at once.
            // Under loom, which models no time, one yield counts as a timeout, so the
            // interleavings of a gathering round are explored too.
            if st.gather_backoff > 0 {
                st.gather_backoff -= 1;
            } else if st.next_lsn < st.gather_until {
                let now = Instant::now();
                let wait = st.last_sync / GATHER_DIVISOR;
                let deadline = *st.gather_deadline.get_or_insert(now + wait);
                if now < deadline {
                    #[cfg(loom)]
                    {
                        st.gather_deadline = Some(now);
                        drop(st);
                        yield_now();
                        st = self.lock();
                    }
                    #[cfg(not(loom))]
                    {
                        st = self.cv.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
                    }
                    continue;
                }
                st.gather_backoff = GATHER_BACKOFF;
            }
            st.gather_deadline = None;
            st.syncing = true;
            if let Err(e) = self.flush_buf(&mut st) {
                st.syncing = false;
                return Err(e);
            }
            let (file, path, end, next) = (st.file.clone(), st.path.clone(), st.written, st.next_lsn);
            if !self.opts.fsync {
                st.syncing = false;
                st.gather_until = st.next_lsn + next.saturating_sub(st.wm_next);
                st.wm_next = next;
                self.cv.notify_all();
                continue;
            }
            // The watermark this round may write: frames an earlier fdatasync made durable. A
            // caller waiting for the watermark always writes it; otherwise (Ack::DataSynced) only
            // every `watermark_every_rounds`-th round, or the first after `watermark_quiet_ms`,
            // does: the others' fdatasync flushes their frames alone, not page 0 as well.
            let due = ack == Ack::Watermarked
                || st.wm_rounds + 1 >= self.opts.watermark_every_rounds
                || st.wm_written_at.elapsed() >= Duration::from_millis(self.opts.watermark_quiet_ms);
            let wm = st
                .data_synced
                .filter(|&(_, n)| due && n > st.wm_next)
                .map(|(at, n)| (Watermark::new(st.wm_generation + 1, at, n, false), 1 - st.wm_copy, n));
            drop(st);
            let started = Instant::now();
            let result = wm
                .as_ref()
                .map_or(Ok(()), |(w, copy, _)| {
                    file.write_at(w.as_bytes(), WATERMARK_OFFSETS[*copy])
                        .map_err(|e| ReplayLogError::io("write watermark", &path, e))
                })
                .and_then(|()| file.sync_data().map_err(|e| ReplayLogError::io("fdatasync", &path, e)));
            st = self.lock();
            st.syncing = false;
            st.last_sync = started.elapsed();
            st.last_round = Instant::now();
            match result {
                Ok(()) => {
                    let before = st.acked_next(self.opts.ack);
                    if let Some((w, copy, covered)) = wm {
                        st.wm_generation = w.generation.get();
                        st.wm_copy = copy;
                        st.wm_next = covered;
                        st.wm_rounds = 0;
                        st.wm_written_at = Instant::now();
                    } else {
                        st.wm_rounds = st.wm_rounds.saturating_add(1);
                    }
                    st.data_synced = Some((end, next));
                    st.gather_until = st.next_lsn + st.acked_next(self.opts.ack).saturating_sub(before);
                    self.cv.notify_all();
                }
                Err(e) => return Err(self.poison(&mut st, e)),
            }
        }
    }

    /// Seals the current segment durably, creates the next one durably (file and directory
    /// entry), then applies retention.
    fn roll<'a>(&'a self, mut st: MutexGuard<'a, State>) -> Result<MutexGuard<'a, State>> {
        while st.syncing {
            st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        self.check_writable(&st)?;
        self.flush_buf(&mut st)?;
        let storage = &*self.opts.storage;
        let result = (|| {
            let io = |op, e| ReplayLogError::io(op, &st.path, e);
            let sealed = Watermark::new(st.wm_generation + 1, st.written, st.next_lsn, true);
            // Drop the unused preallocated tail before the seal: a sealed segment ends at its
            // last frame (FORMAT.md), and the truncation is durable before the seal claims it.
            if st.allocated > st.written {
                st.file.set_len(st.written).map_err(|e| io("truncate", e))?;
            }
            if self.opts.fsync {
                st.file.sync_data().map_err(|e| io("fdatasync", e))?;
            }
            st.file
                .write_at(sealed.as_bytes(), WATERMARK_OFFSETS[1 - st.wm_copy])
                .map_err(|e| io("write watermark", e))?;
            if self.opts.fsync {
                st.file.sync_data().map_err(|e| io("fdatasync", e))?;
            }
            create_segment(storage, &self.dir, st.segment + 1, st.next_lsn, first_allocation(&self.opts))
        })();
        let (path, file) = match result {
            Ok(x) => x,
            Err(e) => return Err(self.poison(&mut st, e)),
        };
        st.segment += 1;
        st.path = path;
        st.file = file;
        st.written = DATA_OFFSET;
        st.kicked = DATA_OFFSET;
        st.allocated = first_allocation(&self.opts);
        st.wm_generation = 1;
        st.wm_copy = 0;
        st.wm_next = st.next_lsn;
        st.wm_rounds = 0;
        st.wm_written_at = Instant::now();
        st.data_synced = None;
        let seg = st.segment;
        st.segments.push_back(seg);
        self.cv.notify_all();
        if let Some(max) = self.opts.segments_max {
            let mut removed = false;
            while st.segments.len() > max as usize && st.snapshot_segment.is_some_and(|s| st.segments[0] < s) {
                let old = self.dir.join(segment_name(st.segments[0]));
                match storage.remove(&old) {
                    // Already gone: `replaylog ship --delete-after-verify` removes shipped
                    // segments that replay from the newest snapshot no longer needs, as this does.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(self.poison(&mut st, ReplayLogError::io("remove", &old, e))),
                    Ok(()) => {}
                }
                st.segments.pop_front();
                removed = true;
            }
            if removed {
                if let Err(e) = storage.sync_dir(&self.dir) {
                    return Err(self.poison(&mut st, ReplayLogError::io("fsync directory", &self.dir, e)));
                }
            }
        }
        Ok(st)
    }

    /// The quiet watermark (`Ack::DataSynced` in `SyncMode::Sync` and `Async`): once a round has left
    /// fdatasync'd frames that no durable watermark covers and no further round has completed
    /// for `quiet`, runs a round that writes their watermark (one write and one fdatasync).
    /// Under load a later round carries the watermark and this thread only sleeps: it waits on
    /// `cv` (woken by a round completing) only while nothing is pending, and otherwise sleeps
    /// on `quiet_cv`, which only `close` notifies.
    fn quiet_watermark(&self, quiet: Duration) {
        let mut st = self.lock();
        loop {
            if !st.open || st.poisoned.is_some() {
                return;
            }
            let pending = st.data_synced.filter(|&(_, n)| n > st.wm_next);
            let Some((_, covered)) = pending.filter(|_| !st.syncing) else {
                st = self.cv.wait(st).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            let idle = st.last_round.elapsed();
            if idle < quiet {
                st = self.quiet_cv.wait_timeout(st, quiet - idle).unwrap_or_else(|e| e.into_inner()).0;
                continue;
            }
            // Quiet: the writers the last round released are not coming back soon, so there is
            // nothing to gather.
            st.gather_until = st.gather_until.min(st.next_lsn);
            st = match self.sync_to(st, covered - 1, Ack::Watermarked) {
                Ok(st) => st,
                Err(_) => self.lock(),
            };
        }
    }

    /// The Interval flusher: syncs whatever is unsynced every `interval` until the journal closes.
    fn flusher(&self, interval: Duration) {
        let mut st = self.lock();
        let mut deadline = Instant::now() + interval;
        loop {
            if !st.open {
                return;
            }
            let now = Instant::now();
            if now < deadline {
                st = self.cv.wait_timeout(st, deadline - now).unwrap_or_else(|e| e.into_inner()).0;
                continue;
            }
            deadline = now + interval;
            if st.poisoned.is_none() && st.next_lsn > st.wm_next {
                st = match self.sync_all(st, Ack::Watermarked) {
                    Ok(st) => st,
                    Err(_) => self.lock(),
                };
            }
        }
    }
}
