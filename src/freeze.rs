//! Freeze on failure: keep the records around a trigger, before the ring overwrites them.
//!
//! A ring forgets: an hour after a failure, its surroundings were overwritten many laps ago; an
//! [`Archiver`](crate::archive::Archiver) keeps everything, often too much for a long run. A
//! [`Freezer`] is the oscilloscope's pre/post trigger (LTTng's `snapshot record`, a JFR dump on
//! an event): a background thread follows a ring, or every lane of a recorder directory,
//! read-only ([`RawReader`]: the writer keeps its syscall-free hot path and never waits for
//! it), keeps the last `before` records of each lane in memory, and on each trigger writes the
//! `before` records preceding it, the triggering record and the `after` records following it
//! into a capture of its own.
//!
//! ```
//! use replaylog::{FailureKind, ReplayFailureEvidence, RingLog};
//! use replaylog::freeze::{FreezeOptions, Freezer};
//!
//! # let tmp = tempfile::tempdir()?;
//! let ring = tmp.path().join("loop.ring");
//! let mut log: RingLog<u64> = RingLog::open(&ring, 1024)?;
//! let freezer = Freezer::start(&ring, tmp.path().join("frozen"), FreezeOptions::default().before(3).after(2))?;
//! for i in 0..20u64 {
//!     if i == 10 {
//!         log.append_with_failure(&i, &ReplayFailureEvidence::new(FailureKind::Timeout, 110, "late"))?;
//!     } else {
//!         log.append(&i)?;
//!     }
//! }
//! freezer.stop()?; // drains what the ring holds, finishes open windows
//! let mut frozen = Vec::new();
//! for entry in std::fs::read_dir(tmp.path().join("frozen"))? {
//!     frozen.push(entry?.path()); // freeze-10-loop-<UTC time>/ and its manifest .txt
//! }
//! frozen.sort();
//! assert_eq!(frozen.len(), 2);
//! let (_, records) = replaylog::archive::read_archive(&frozen[0])?;
//! let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
//! assert_eq!(seqs, vec![7, 8, 9, 10, 11, 12]);
//! assert!(records[3].evidence.is_some());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Triggers
//!
//! * a record whose failure evidence matches [`FreezeOptions::on`] ([`TriggerOn`]: any
//!   evidence, a kind, a kind and code, or none — explicit triggers only);
//! * [`FreezeTrigger::trigger`], from any thread of the writing process: the trigger is the
//!   newest record the writer had published when it was called (read from the ring's cursor,
//!   a load from the mapping: no system call), of the ring, or of a recorder directory's first
//!   lane (by name);
//! * the CLI (`replaylog freeze`) adds SIGUSR2 and a touch file for a separate process.
//!
//! # Windows
//!
//! The window of a trigger at seq `s` of lane `L` is lane `L`'s seqs `[s - before, s + after]`
//! (from seq 0 when `s < before`). A trigger while a window of its lane is open extends it
//! (`end = max(end, s2 + after)`): one capture lists all its triggers. Each capture holds one
//! lane; the other lanes of a recorder directory are not copied into it (their own triggers
//! make their own captures).
//!
//! Records already in the ring when the freezer starts are context: it starts reading
//! `before` records behind the writer's cursor.
//!
//! # Limits
//!
//! [`FreezeOptions::max_per_minute`]: a trigger that would start a capture while `K` captures
//! started in the last 60 s is suppressed. [`FreezeOptions::max_bytes`]: the bytes of captures
//! (see [`FrozenCapture::bytes`]) never exceed it: a trigger whose capture could not write its
//! header and first record under the cap is suppressed, and a capture reaching the cap is
//! finished early ([`FrozenCapture::cut`], its missing after-records counted). Suppressed
//! triggers are counted in [`FreezeStats`] and in the next capture's manifest, never silent; a
//! trigger inside an open window is merged, never suppressed.
//!
//! # Lossless, or says what it lacks
//!
//! When the writer laps the freezer, the seqs it never read are counted in
//! [`FreezeStats::missed`], and a capture whose window spans them lists them
//! ([`FrozenCapture::missing`]), as the archiver does. Always
//! `records + Σ missing + after_lacking == last_seq - first_seq + 1`.
//!
//! # The capture on disk
//!
//! Each capture is an archive journal directory (docs/FORMAT.md, "Archive"; every command that
//! reads an archive reads it: `inspect`, `dump`, `diff`, `export`), its entries naming the lane
//! for a recorder directory, with a text manifest beside it (docs/FORMAT.md, "Freeze capture"):
//! `DIR/freeze-SEQ-LANE-UTC/` and `DIR/freeze-SEQ-LANE-UTC.txt`, `LANE` the lane name or the
//! ring's file stem, `UTC` the wall time the trigger was seen (`20261207T101502.123Z`), a `-N`
//! suffix when taken (never overwritten). A journal directory holds only segments, so the
//! manifest cannot be inside it. Both are written under temporary names
//! (`.freeze-tmp-PID-N` and `.freeze-tmp-PID-N.txt`), synced, then renamed (manifest first, so
//! a capture directory always has its manifest) and the directory fsync'd: a freezer killed
//! mid-capture leaves only temporary names, never a capture that looks complete. A freezer
//! starting removes the temporary names of freezer processes that no longer run (their pid is
//! not in `/proc`), and touches nothing else in `DIR`.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::archive::{ArchiveHeader, Gap, encode_record_in_lane, stop_worker};
use crate::error::{ReplayLogError, Result};
use crate::format::journal::FRAME_HEADER_BYTES;
use crate::journal::{Journal, JournalOptions, SyncMode};
use crate::recorder::{LANE_EXTENSION, lane_names};
use crate::ring::{FailureKind, RawReader, RawRecord, RawRing, ReadOutcome, ReplayFailureEvidence, SlotRead, StartAt};
use crate::{Kind, sys};

/// The prefix of the temporary names a freezer writes a capture under.
pub const TEMP_PREFIX: &str = ".freeze-tmp-";
/// The prefix of a finished capture's name.
pub const CAPTURE_PREFIX: &str = "freeze-";
/// The extension of a capture's manifest, beside its directory.
pub const MANIFEST_EXTENSION: &str = "txt";
/// The first line of a manifest.
pub const MANIFEST_MAGIC: &str = "replaylog freeze capture 1";
/// Most records kept before a trigger ([`FreezeOptions::before`]) or after it.
pub const WINDOW_RECORDS_MAX: u64 = 1 << 26;

/// Which records are triggers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerOn {
    /// Every record with failure evidence (the default).
    Evidence,
    /// Records whose evidence has this kind.
    Kind(FailureKind),
    /// Records whose evidence has this kind and code.
    KindCode(FailureKind, i64),
    /// No record: explicit triggers only ([`FreezeTrigger::trigger`]).
    Manual,
}

impl TriggerOn {
    /// Whether a record carrying `evidence` is a trigger.
    pub fn matches(&self, evidence: Option<&ReplayFailureEvidence>) -> bool {
        match (self, evidence) {
            (_, None) | (TriggerOn::Manual, _) => false,
            (TriggerOn::Evidence, Some(_)) => true,
            (TriggerOn::Kind(k), Some(e)) => e.kind == *k,
            (TriggerOn::KindCode(k, c), Some(e)) => e.kind == *k && e.code == *c,
        }
    }
}

/// Options of a [`Freezer`].
///
/// ```
/// use replaylog::FailureKind;
/// use replaylog::freeze::{FreezeOptions, TriggerOn};
///
/// let opts = FreezeOptions::default().before(500).after(100).on(TriggerOn::Kind(FailureKind::Timeout))
///     .max_per_minute(Some(6)).max_bytes(Some(1 << 30));
/// assert_eq!((opts.before, opts.after), (500, 100));
/// assert!(opts.validate().is_ok());
/// assert!(FreezeOptions::default().before(1 << 40).validate().is_err());
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct FreezeOptions {
    /// Records kept before a trigger. Default 1000, at most [`WINDOW_RECORDS_MAX`] (they are
    /// held in memory, per lane).
    pub before: u64,
    /// Records kept after a trigger. Default 1000, at most [`WINDOW_RECORDS_MAX`].
    pub after: u64,
    /// Which records trigger. Default [`TriggerOn::Evidence`].
    pub on: TriggerOn,
    /// At most this many captures started per 60 s (sliding). Default `None`: no limit; `Some(0)`
    /// is refused.
    pub max_per_minute: Option<u32>,
    /// The bytes of all captures of this freezer stay at or under this. Default `None`.
    pub max_bytes: Option<u64>,
    /// How long the thread waits when no lane has anything new. Default 1 ms.
    pub idle_wait: Duration,
}

impl Default for FreezeOptions {
    fn default() -> Self {
        FreezeOptions {
            before: 1000,
            after: 1000,
            on: TriggerOn::Evidence,
            max_per_minute: None,
            max_bytes: None,
            idle_wait: Duration::from_millis(1),
        }
    }
}

impl FreezeOptions {
    /// Sets [`FreezeOptions::before`].
    pub fn before(mut self, records: u64) -> Self {
        self.before = records;
        self
    }
    /// Sets [`FreezeOptions::after`].
    pub fn after(mut self, records: u64) -> Self {
        self.after = records;
        self
    }
    /// Sets [`FreezeOptions::on`].
    pub fn on(mut self, on: TriggerOn) -> Self {
        self.on = on;
        self
    }
    /// Sets [`FreezeOptions::max_per_minute`].
    pub fn max_per_minute(mut self, k: Option<u32>) -> Self {
        self.max_per_minute = k;
        self
    }
    /// Sets [`FreezeOptions::max_bytes`].
    pub fn max_bytes(mut self, bytes: Option<u64>) -> Self {
        self.max_bytes = bytes;
        self
    }
    /// Sets [`FreezeOptions::idle_wait`].
    pub fn idle_wait(mut self, wait: Duration) -> Self {
        self.idle_wait = wait;
        self
    }

    /// Rejects out-of-bounds values (`InvalidOptions` naming the option and its bounds).
    pub fn validate(&self) -> Result<()> {
        let bad = |option: &'static str, reason: String| Err(ReplayLogError::InvalidOptions { option, reason });
        if self.before > WINDOW_RECORDS_MAX {
            return bad("before", format!("{} records; at most {WINDOW_RECORDS_MAX}", self.before));
        }
        if self.after > WINDOW_RECORDS_MAX {
            return bad("after", format!("{} records; at most {WINDOW_RECORDS_MAX}", self.after));
        }
        if self.max_per_minute == Some(0) {
            return bad("max_per_minute", "0 would suppress every capture; at least 1".into());
        }
        if self.max_bytes == Some(0) {
            return bad("max_bytes", "0 would suppress every capture; at least 1".into());
        }
        Ok(())
    }
}

/// What triggered: a record's evidence, or an explicit trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FreezeEvent {
    /// The seq of the trigger (of the capture's lane).
    pub seq: u64,
    /// The record's evidence; `None` for an explicit trigger.
    pub evidence: Option<ReplayFailureEvidence>,
}

/// A capture written by a [`Freezer`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrozenCapture {
    /// The capture (an archive journal directory).
    pub path: PathBuf,
    /// Its manifest, beside it.
    pub manifest: PathBuf,
    /// The lane (`None`: a single ring).
    pub lane: Option<String>,
    /// The seq of the first trigger (the one it is named after).
    pub trigger_seq: u64,
    /// Every trigger merged into it, in order.
    pub triggers: Vec<FreezeEvent>,
    /// First seq of the window (`trigger_seq - before`, from 0).
    pub first_seq: u64,
    /// Last seq of the window (the last trigger's seq + after).
    pub last_seq: u64,
    /// Records it holds.
    pub records: u64,
    /// Seqs of the window it does not hold because the writer overwrote them before the freezer
    /// read them (or before it started), oldest first.
    pub missing: Vec<Gap>,
    /// Seqs at the end of the window it does not hold because the freezer stopped, or `cut`,
    /// first.
    pub after_lacking: u64,
    /// Finished early by [`FreezeOptions::max_bytes`].
    pub cut: bool,
    /// Its bytes as counted against `max_bytes`: every journal entry's data plus its 24-byte
    /// frame header (uncompressed: the files may be smaller; the segment header and watermark
    /// and the manifest are not counted).
    pub bytes: u64,
}

impl FrozenCapture {
    /// Seqs of the window it does not hold (missing and lacking).
    pub fn missing_seqs(&self) -> u64 {
        self.missing.iter().map(|g| g.to - g.from).sum::<u64>() + self.after_lacking
    }

    /// Whether it holds every seq of its window.
    pub fn is_complete(&self) -> bool {
        self.missing_seqs() == 0
    }
}

/// Progress of a [`Freezer`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FreezeStats {
    /// Captures written (finished and renamed).
    pub captures: u64,
    /// Windows open now.
    pub open: u64,
    /// Records written into captures.
    pub records_written: u64,
    /// Bytes written into captures (see [`FrozenCapture::bytes`]).
    pub bytes_written: u64,
    /// Records read from the rings.
    pub records_read: u64,
    /// Triggers seen (records matching `on`, and explicit triggers).
    pub triggers: u64,
    /// Triggers merged into a window already open.
    pub merged: u64,
    /// Triggers suppressed by `max_per_minute`.
    pub suppressed_rate: u64,
    /// Triggers suppressed by `max_bytes`.
    pub suppressed_bytes: u64,
    /// Seqs the writers overwrote before the freezer read them.
    pub missed: u64,
    /// Captures that lack seqs of their window.
    pub incomplete: u64,
    /// Records the writers published that the freezer has not read yet.
    pub lag: u64,
}

/// Triggers a [`Freezer`] from any thread; see [`Freezer::trigger_handle`].
///
/// ```
/// use replaylog::RingLog;
/// use replaylog::freeze::{FreezeOptions, Freezer, TriggerOn};
///
/// # let tmp = tempfile::tempdir()?;
/// let ring = tmp.path().join("loop.ring");
/// let mut log: RingLog<u64> = RingLog::open(&ring, 1024)?;
/// let opts = FreezeOptions::default().before(2).after(1).on(TriggerOn::Manual);
/// let freezer = Freezer::start(&ring, tmp.path().join("frozen"), opts)?;
/// let trigger = freezer.trigger_handle();
/// for i in 0..10u64 {
///     log.append(&i)?;
/// }
/// // From a watchdog thread, say: freeze what the writer has published so far.
/// let at = std::thread::spawn(move || trigger.trigger()).join().unwrap();
/// assert_eq!(at, Some(9));
/// log.append(&10)?;
/// freezer.stop()?;
/// # let dirs: Vec<_> = std::fs::read_dir(tmp.path().join("frozen"))?.filter_map(|e| e.ok())
/// #     .map(|e| e.path()).filter(|p| p.is_dir()).collect();
/// let (_, records) = replaylog::archive::read_archive(&dirs[0])?;
/// assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![7, 8, 9, 10]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct FreezeTrigger {
    ring: Arc<RawRing>,
    pending: Arc<Mutex<Vec<u64>>>,
}

impl std::fmt::Debug for FreezeTrigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreezeTrigger").field("ring", &self.ring.path()).finish_non_exhaustive()
    }
}

impl FreezeTrigger {
    /// Triggers at the newest record the writer has published (the ring's cursor − 1: a load
    /// from the mapping, no system call; a short lock shared with the freezer thread only).
    /// Returns that seq; `None` when the ring holds no record yet or its cursor is unreadable
    /// (then the freezer triggers at the newest record it has read).
    pub fn trigger(&self) -> Option<u64> {
        let seq = self.ring.cursor_hint().and_then(|c| c.checked_sub(1));
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).push(seq.unwrap_or(u64::MAX));
        seq
    }
}

/// Follows a ring or a recorder directory and freezes the records around each trigger. See
/// the [module docs](self).
pub struct Freezer {
    stop: Arc<AtomicBool>,
    shared: Arc<Mutex<Shared>>,
    trigger: FreezeTrigger,
    thread: Option<JoinHandle<Result<()>>>,
    dir: PathBuf,
}

impl std::fmt::Debug for Freezer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Freezer").field("dir", &self.dir).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Shared {
    stats: FreezeStats,
    captures: Vec<FrozenCapture>,
}

type OnCapture = Box<dyn FnMut(&FrozenCapture) + Send>;

impl Freezer {
    /// Starts following `source` (a ring file, or a recorder directory: every lane, lanes
    /// created later included within 100 ms and read from their first record) and writing
    /// captures into `dir` (created if
    /// needed; see the [module docs](self) for what is written and removed there).
    ///
    /// # Errors
    /// `InvalidOptions` for out-of-bounds options; `HeaderMismatch` (field `kind`) when
    /// `source` is neither a ring nor a recorder directory, or `dir` exists and is not a
    /// directory; the ring's open errors; `Io`.
    pub fn start(source: impl AsRef<Path>, dir: impl AsRef<Path>, opts: FreezeOptions) -> Result<Freezer> {
        Freezer::start_with(source, dir, opts, |_| {})
    }

    /// [`Freezer::start`], calling `on_capture` (on the freezer's thread) for each capture
    /// once it is renamed into place.
    pub fn start_with(
        source: impl AsRef<Path>,
        dir: impl AsRef<Path>,
        opts: FreezeOptions,
        on_capture: impl FnMut(&FrozenCapture) + Send + 'static,
    ) -> Result<Freezer> {
        opts.validate()?;
        let source = source.as_ref().to_path_buf();
        let dir = dir.as_ref().to_path_buf();
        let recorder = match crate::detect(&source)? {
            Kind::Ring => None,
            Kind::RecorderDir => Some(source.clone()),
            other => {
                return Err(ReplayLogError::mismatch(
                    &source,
                    "kind",
                    "a ring file or a recorder directory",
                    other.to_string(),
                ));
            }
        };
        let mut lanes = Vec::new();
        match &recorder {
            None => {
                let stem = source.file_stem().map_or("ring".into(), |s| s.to_string_lossy().into_owned());
                lanes.push(LaneState::new(None, stem, RawRing::open(&source)?, &opts, false));
            }
            Some(rdir) => {
                for name in lane_names(rdir)? {
                    let ring = RawRing::open(rdir.join(format!("{name}.{LANE_EXTENSION}")))?;
                    lanes.push(LaneState::new(Some(name.clone()), name, ring, &opts, false));
                }
                if lanes.is_empty() {
                    return Err(ReplayLogError::mismatch(rdir, "kind", "a recorder directory with lanes", "no lane"));
                }
            }
        }
        let first_ring = RawRing::open(lanes[0].reader.ring().path())?;
        prepare_dir(&dir)?;
        let trigger = FreezeTrigger { ring: Arc::new(first_ring), pending: Arc::new(Mutex::new(Vec::new())) };
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let mut run = Run {
            opts,
            dir: dir.clone(),
            source,
            recorder,
            lanes,
            pending: trigger.pending.clone(),
            shared: shared.clone(),
            on_capture: Box::new(on_capture),
            starts: VecDeque::new(),
            stats: FreezeStats::default(),
            temp_n: 0,
            buf: Vec::new(),
        };
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("replaylog-freezer".into())
                .spawn(move || run.run(&stop))
                .map_err(|e| ReplayLogError::io("spawn freezer thread", &dir, e))?
        };
        Ok(Freezer { stop, shared, trigger, thread: Some(thread), dir })
    }

    /// A handle that triggers this freezer from any thread.
    pub fn trigger_handle(&self) -> FreezeTrigger {
        self.trigger.clone()
    }

    /// Current progress.
    pub fn stats(&self) -> FreezeStats {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).stats.clone()
    }

    /// The captures written so far, in the order they were finished.
    pub fn captures(&self) -> Vec<FrozenCapture> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).captures.clone()
    }

    /// Stops: reads what the rings hold now (triggers included), finishes every open window with
    /// what is there (its `after_lacking` says how many after-records it lacks), syncs, and
    /// returns the final progress, or the first error the thread met.
    pub fn stop(mut self) -> Result<FreezeStats> {
        stop_worker(&self.stop, self.thread.take(), "freezer thread", &self.dir)?;
        Ok(self.stats())
    }
}

impl Drop for Freezer {
    fn drop(&mut self) {
        let _ = stop_worker(&self.stop, self.thread.take(), "freezer thread", &self.dir);
    }
}

/// Copies the live window of `source` (a ring: its window; a recorder directory: every lane's)
/// once into the archive journal `to`, written under a temporary name beside it and renamed
/// into place (`to` must not exist): a snapshot while the writers run. Seqs the writer
/// overwrote while it was read are missing, and returned per lane as gaps.
///
/// # Errors
/// `HeaderMismatch` when `source` is neither a ring nor a recorder directory (field `kind`) or
/// `to` exists (field `path`); the rings' open errors; `Io`.
pub fn snapshot(source: impl AsRef<Path>, to: impl AsRef<Path>) -> Result<Snapshot> {
    let source = source.as_ref();
    let to = to.as_ref();
    let rings: Vec<(Option<String>, RawRing)> = match crate::detect(source)? {
        Kind::Ring => vec![(None, RawRing::open(source)?)],
        Kind::RecorderDir => {
            let mut v = Vec::new();
            for name in lane_names(source)? {
                let ring = RawRing::open(source.join(format!("{name}.{LANE_EXTENSION}")))?;
                v.push((Some(name), ring));
            }
            v
        }
        other => {
            return Err(ReplayLogError::mismatch(
                source,
                "kind",
                "a ring file or a recorder directory",
                other.to_string(),
            ));
        }
    };
    if std::fs::symlink_metadata(to).is_ok() {
        return Err(ReplayLogError::mismatch(to, "path", "a name that does not exist yet", "an existing entry"));
    }
    let parent = to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file_name = to.file_name().map_or("snapshot".into(), |n| n.to_string_lossy().into_owned());
    let tmp = parent.join(format!("{TEMP_PREFIX}{}-snapshot-{file_name}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| ReplayLogError::io("remove directory", &tmp, e))?;
    }
    let Some((_, first)) = rings.first() else {
        return Err(ReplayLogError::mismatch(source, "kind", "a recorder directory with lanes", "no lane"));
    };
    let header = ArchiveHeader::of(first);
    for (_, ring) in &rings[1..] {
        let h = ArchiveHeader::of(ring);
        if (h.record_bytes, h.schema_id, &h.layout) != (header.record_bytes, header.schema_id, &header.layout) {
            return Err(ReplayLogError::mismatch(
                ring.path(),
                "archive header",
                format!("{header:?}"),
                format!("{h:?}"),
            ));
        }
    }
    let journal = Journal::open(&tmp, JournalOptions::default().sync(SyncMode::Async))?;
    journal.write(&header.encode())?;
    let (mut copied, mut gaps) = (0u64, Vec::new());
    let mut buf = Vec::new();
    for (lane, ring) in rings {
        let Some(w) = ring.window() else { continue };
        let end = w.last.max(ring.cursor_hint().unwrap_or(0).saturating_sub(1));
        let mut reader = RawReader::new(ring, StartAt::Seq(w.first));
        let mut expect = w.first;
        while reader.position() <= end {
            match reader.poll()? {
                ReadOutcome::Record(r) => {
                    if r.seq > expect {
                        gaps.push((lane.clone(), Gap { from: expect, to: r.seq }));
                    }
                    expect = r.seq + 1;
                    buf.clear();
                    encode_record_in_lane(&mut buf, &r, lane.as_deref())
                        .map_err(|e| ReplayLogError::InvalidOptions { option: "lane", reason: e.to_string() })?;
                    journal.write(&buf)?;
                    copied += 1;
                }
                ReadOutcome::Lapped { .. } => {}
                ReadOutcome::Pending => break,
            }
        }
        if expect <= end {
            gaps.push((lane.clone(), Gap { from: expect, to: end + 1 }));
        }
    }
    journal.sync()?;
    journal.close()?;
    drop(journal);
    sys::rename_noreplace(&tmp, to).map_err(|e| ReplayLogError::io("rename", to, e))?;
    sys::fsync_dir(parent).map_err(|e| ReplayLogError::io("fsync directory", parent, e))?;
    Ok(Snapshot { records: copied, missing: gaps })
}

/// What [`snapshot`] copied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// Records copied.
    pub records: u64,
    /// Seqs of the live windows not copied because the writer overwrote them while they were
    /// read, with their lane (`None`: a single ring), oldest first per lane.
    pub missing: Vec<(Option<String>, Gap)>,
}

/// Creates `dir` if needed, and removes the temporary names that freezers no longer running
/// left there.
fn prepare_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(ReplayLogError::mismatch(dir, "kind", "a directory for captures", "not a directory"));
        }
        Ok(_) => {}
        Err(_) => std::fs::create_dir_all(dir).map_err(|e| ReplayLogError::io("create directory", dir, e))?,
    }
    let entries = std::fs::read_dir(dir).map_err(|e| ReplayLogError::io("read directory", dir, e))?;
    let mut removed = false;
    for entry in entries {
        let entry = entry.map_err(|e| ReplayLogError::io("read directory", dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(TEMP_PREFIX) else { continue };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else { continue };
        if pid != std::process::id() && Path::new("/proc").join(pid.to_string()).exists() {
            continue; // another freezer, still running, writes there
        }
        let path = entry.path();
        let r = if entry.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        r.map_err(|e| ReplayLogError::io("remove", &path, e))?;
        removed = true;
    }
    if removed {
        sys::fsync_dir(dir).map_err(|e| ReplayLogError::io("fsync directory", dir, e))?;
    }
    Ok(())
}

/// One followed ring.
struct LaneState {
    lane: Option<String>,
    stem: String,
    reader: RawReader,
    /// The last `before + 1` records read.
    recent: VecDeque<RawRecord>,
    /// The newest seq read.
    newest: Option<u64>,
    /// Explicit triggers at seqs not read yet.
    manual: Vec<u64>,
    /// The writer's next seq when the freezer started: older records are context, not triggers.
    live_from: u64,
    window: Option<Window>,
}

/// A capture being written.
struct Window {
    tmp: PathBuf,
    journal: Journal,
    name: String,
    triggers: Vec<FreezeEvent>,
    first: u64,
    end: u64,
    next: u64,
    records: u64,
    missing: Vec<Gap>,
    bytes: u64,
    cut: bool,
}

impl LaneState {
    /// A lane there when the freezer starts: its records so far are context, and reading starts
    /// `before + 1` records behind the writer. A lane created later (`added`) is new from its
    /// first record: read from its oldest, every record may trigger.
    fn new(lane: Option<String>, stem: String, ring: RawRing, opts: &FreezeOptions, added: bool) -> LaneState {
        let window = ring.window();
        let end = window.map_or(0, |w| w.last + 1).max(ring.cursor_hint().unwrap_or(0));
        let oldest = window.map_or(end, |w| w.first);
        let start = if added { oldest } else { end.saturating_sub(opts.before.saturating_add(1)).max(oldest) };
        let end = if added { 0 } else { end };
        let reader = RawReader::new(ring, StartAt::Seq(start));
        LaneState {
            lane,
            stem,
            reader,
            recent: VecDeque::new(),
            newest: None,
            manual: Vec::new(),
            live_from: end,
            window: None,
        }
    }
}

struct Run {
    opts: FreezeOptions,
    dir: PathBuf,
    source: PathBuf,
    recorder: Option<PathBuf>,
    lanes: Vec<LaneState>,
    pending: Arc<Mutex<Vec<u64>>>,
    shared: Arc<Mutex<Shared>>,
    on_capture: OnCapture,
    /// When the captures of the last 60 s started.
    starts: VecDeque<Instant>,
    stats: FreezeStats,
    temp_n: u64,
    buf: Vec<u8>,
}

const BATCH: usize = 4096;

impl Run {
    fn run(&mut self, stop: &AtomicBool) -> Result<()> {
        let r = self.follow(stop);
        // Whatever happened, finish the open windows with what they hold.
        let mut first_err = r.err();
        for i in 0..self.lanes.len() {
            if let Err(e) = self.close(i) {
                first_err.get_or_insert(e);
            }
        }
        self.publish();
        first_err.map_or(Ok(()), Err)
    }

    fn follow(&mut self, stop: &AtomicBool) -> Result<()> {
        let mut last_scan = Instant::now();
        loop {
            let stopping = stop.load(Ordering::Acquire);
            if self.recorder.is_some() && (last_scan.elapsed() >= Duration::from_millis(100) || stopping) {
                last_scan = Instant::now();
                self.add_new_lanes()?;
            }
            // Explicit triggers, taken before reading so that a trigger seq already read fires
            // now; later seqs fire when read.
            let taken: Vec<u64> = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()));
            for seq in taken {
                let l = &mut self.lanes[0];
                let seq = if seq == u64::MAX { l.newest.unwrap_or(l.reader.position()) } else { seq };
                if l.newest.is_some_and(|n| n >= seq) {
                    self.fire(0, FreezeEvent { seq, evidence: None })?;
                    self.maybe_close(0)?;
                } else {
                    l.manual.push(seq);
                }
            }
            let mut idle = true;
            for i in 0..self.lanes.len() {
                idle &= self.read_lane(i)?;
            }
            self.publish();
            if stopping && idle {
                return Ok(());
            }
            if idle {
                std::thread::sleep(self.opts.idle_wait);
            }
        }
    }

    fn add_new_lanes(&mut self) -> Result<()> {
        let Some(rdir) = &self.recorder else { return Ok(()) };
        for name in lane_names(rdir)? {
            if self.lanes.iter().any(|l| l.lane.as_deref() == Some(&name)) {
                continue;
            }
            // A lane being created may not be a ring yet: try again at the next scan.
            if let Ok(ring) = RawRing::open(rdir.join(format!("{name}.{LANE_EXTENSION}"))) {
                self.lanes.push(LaneState::new(Some(name.clone()), name, ring, &self.opts, true));
            }
        }
        Ok(())
    }

    /// Reads up to a batch of lane `i`; whether it had nothing new.
    fn read_lane(&mut self, i: usize) -> Result<bool> {
        for _ in 0..BATCH {
            let outcome = self.lanes[i].reader.poll()?;
            match outcome {
                ReadOutcome::Pending => return Ok(true),
                ReadOutcome::Lapped { missed, resumed_at } => {
                    self.stats.missed += missed;
                    let l = &mut self.lanes[i];
                    // Everything buffered is older than the gap.
                    l.recent.clear();
                    if l.window.as_ref().is_some_and(|w| resumed_at > w.end) {
                        let w = l.window.as_mut().expect("checked");
                        if w.next <= w.end {
                            w.missing.push(Gap { from: w.next, to: w.end + 1 });
                            w.next = w.end + 1;
                        }
                        self.close(i)?;
                    }
                }
                ReadOutcome::Record(r) => self.record(i, r)?,
            }
        }
        Ok(false)
    }

    fn record(&mut self, i: usize, r: RawRecord) -> Result<()> {
        self.stats.records_read += 1;
        let seq = r.seq;
        let triggers = seq >= self.lanes[i].live_from && self.opts.on.matches(r.evidence.as_ref());
        let evidence = if triggers { r.evidence.clone() } else { None };
        let l = &mut self.lanes[i];
        l.newest = Some(seq);
        if l.window.is_some() {
            self.write(i, &r)?;
        }
        let l = &mut self.lanes[i];
        l.recent.push_back(r);
        if l.recent.len() as u64 > self.opts.before.saturating_add(1) {
            l.recent.pop_front();
        }
        if triggers {
            self.fire(i, FreezeEvent { seq, evidence })?;
        }
        let l = &mut self.lanes[i];
        if !l.manual.is_empty() {
            let (due, later): (Vec<u64>, Vec<u64>) = l.manual.iter().partition(|&&s| s <= seq);
            l.manual = later;
            for s in due {
                self.fire(i, FreezeEvent { seq: s, evidence: None })?;
            }
        }
        self.maybe_close(i)
    }

    /// Finishes lane `i`'s window once the freezer has read past its end (seqs it did not get
    /// are missing), or once it is cut.
    fn maybe_close(&mut self, i: usize) -> Result<()> {
        let l = &mut self.lanes[i];
        let Some(w) = l.window.as_mut() else { return Ok(()) };
        let read_past = l.newest.is_some_and(|n| n >= w.end);
        if !(w.cut || read_past) {
            return Ok(());
        }
        if !w.cut && w.next <= w.end {
            w.missing.push(Gap { from: w.next, to: w.end + 1 });
            w.next = w.end + 1;
        }
        self.close(i)
    }

    /// Writes `r` into lane `i`'s open window (if it is inside it and under the byte cap).
    fn write(&mut self, i: usize, r: &RawRecord) -> Result<()> {
        let l = &mut self.lanes[i];
        let Some(w) = l.window.as_mut() else { return Ok(()) };
        if r.seq < w.next || r.seq > w.end || w.cut {
            return Ok(());
        }
        self.buf.clear();
        encode_record_in_lane(&mut self.buf, r, l.lane.as_deref())
            .map_err(|e| ReplayLogError::InvalidOptions { option: "lane", reason: e.to_string() })?;
        let bytes = (self.buf.len() + FRAME_HEADER_BYTES) as u64;
        if self.opts.max_bytes.is_some_and(|m| self.stats.bytes_written + bytes > m) {
            w.cut = true;
            return Ok(());
        }
        if r.seq > w.next {
            w.missing.push(Gap { from: w.next, to: r.seq });
        }
        w.journal.write(&self.buf)?;
        w.next = r.seq + 1;
        w.records += 1;
        w.bytes += bytes;
        self.stats.records_written += 1;
        self.stats.bytes_written += bytes;
        Ok(())
    }

    /// A trigger in lane `i`: merged into its open window, or a new capture, or suppressed.
    fn fire(&mut self, i: usize, event: FreezeEvent) -> Result<()> {
        self.stats.triggers += 1;
        let (before, after) = (self.opts.before, self.opts.after);
        if let Some(w) = self.lanes[i].window.as_mut() {
            if !w.cut {
                w.end = w.end.max(event.seq.saturating_add(after));
            }
            w.triggers.push(event);
            self.stats.merged += 1;
            return Ok(());
        }
        let now = Instant::now();
        while self.starts.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(60)) {
            self.starts.pop_front();
        }
        if self.opts.max_per_minute.is_some_and(|k| self.starts.len() >= k as usize) {
            self.stats.suppressed_rate += 1;
            return Ok(());
        }
        let first = event.seq.saturating_sub(before);
        let header = ArchiveHeader::of(self.lanes[i].reader.ring()).encode();
        let header_bytes = (header.len() + FRAME_HEADER_BYTES) as u64;
        if let Some(max) = self.opts.max_bytes {
            let l = &self.lanes[i];
            let first_rec = l.recent.iter().find(|r| r.seq >= first);
            let rec_bytes = first_rec.map_or(0, |r| {
                let mut b = Vec::new();
                let _ = encode_record_in_lane(&mut b, r, l.lane.as_deref());
                (b.len() + FRAME_HEADER_BYTES) as u64
            });
            if self.stats.bytes_written + header_bytes + rec_bytes > max {
                self.stats.suppressed_bytes += 1;
                return Ok(());
            }
        }
        self.starts.push_back(now);
        let l = &self.lanes[i];
        let name = format!("{CAPTURE_PREFIX}{}-{}-{}", event.seq, l.stem, utc_now());
        let tmp = self.dir.join(format!("{TEMP_PREFIX}{}-{}", std::process::id(), self.temp_n));
        self.temp_n += 1;
        let journal = Journal::open(&tmp, JournalOptions::default().sync(SyncMode::Async))?;
        journal.write(&header)?;
        self.stats.bytes_written += header_bytes;
        let end = event.seq.saturating_add(after);
        self.lanes[i].window = Some(Window {
            tmp,
            journal,
            name,
            triggers: vec![event],
            first,
            end,
            next: first,
            records: 0,
            missing: Vec::new(),
            bytes: header_bytes,
            cut: false,
        });
        self.stats.open += 1;
        // The window's records read so far: those the freezer no longer holds (a trigger noticed
        // late, e.g. an explicit one while it read a batch) from the ring, if it still has them;
        // the rest from memory.
        let l = &self.lanes[i];
        let held_from = l.recent.front().map_or(u64::MAX, |r| r.seq);
        let read_to = l.newest.map_or(first, |n| n.saturating_add(1)).min(end.saturating_add(1));
        let mut records: Vec<RawRecord> = Vec::new();
        let ring = l.reader.ring();
        for seq in first..read_to.min(held_from) {
            if let SlotRead::Valid(r) = ring.read_slot(ring.geometry().index_of(seq)) {
                if r.seq == seq {
                    records.push(r);
                }
            }
        }
        records.extend(l.recent.iter().filter(|r| r.seq >= first && r.seq <= end).cloned());
        for r in &records {
            self.write(i, r)?;
        }
        Ok(())
    }

    /// Finishes lane `i`'s open window, if any: sync, manifest, rename, report.
    fn close(&mut self, i: usize) -> Result<()> {
        let Some(w) = self.lanes[i].window.take() else { return Ok(()) };
        self.stats.open -= 1;
        let after_lacking = (w.end + 1).saturating_sub(w.next);
        w.journal.sync()?;
        w.journal.close()?;
        drop(w.journal);
        let lane = self.lanes[i].lane.clone();
        let mut capture = FrozenCapture {
            path: PathBuf::new(),
            manifest: PathBuf::new(),
            lane,
            trigger_seq: w.triggers[0].seq,
            triggers: w.triggers,
            first_seq: w.first,
            last_seq: w.end,
            records: w.records,
            missing: w.missing,
            after_lacking,
            cut: w.cut,
            bytes: w.bytes,
        };
        let tmp_manifest = w.tmp.with_file_name(format!(
            "{}.{MANIFEST_EXTENSION}",
            w.tmp.file_name().expect("a temporary name").to_string_lossy()
        ));
        // Pick a free final name (manifest and directory both free), then rename the manifest
        // first: a capture directory always has its manifest.
        let mut n = 0u32;
        loop {
            let name = if n == 0 { w.name.clone() } else { format!("{}-{n}", w.name) };
            capture.path = self.dir.join(&name);
            capture.manifest = self.dir.join(format!("{name}.{MANIFEST_EXTENSION}"));
            if std::fs::symlink_metadata(&capture.path).is_err()
                && std::fs::symlink_metadata(&capture.manifest).is_err()
            {
                break;
            }
            n += 1;
        }
        let text = manifest_text(&capture, &self.source, &self.stats, &self.opts);
        write_synced(&tmp_manifest, text.as_bytes())?;
        sys::rename_noreplace(&tmp_manifest, &capture.manifest)
            .map_err(|e| ReplayLogError::io("rename", &capture.manifest, e))?;
        sys::rename_noreplace(&w.tmp, &capture.path).map_err(|e| ReplayLogError::io("rename", &capture.path, e))?;
        sys::fsync_dir(&self.dir).map_err(|e| ReplayLogError::io("fsync directory", &self.dir, e))?;
        self.stats.captures += 1;
        self.stats.incomplete += u64::from(!capture.is_complete());
        (self.on_capture)(&capture);
        let mut shared = self.shared.lock().unwrap_or_else(|e| e.into_inner());
        shared.captures.push(capture);
        Ok(())
    }

    fn publish(&mut self) {
        self.stats.lag = self
            .lanes
            .iter()
            .map(|l| l.reader.ring().cursor_hint().map_or(0, |c| c.saturating_sub(l.reader.position())))
            .sum();
        self.shared.lock().unwrap_or_else(|e| e.into_inner()).stats = self.stats.clone();
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path).map_err(|e| ReplayLogError::io("create", path, e))?;
    f.write_all(bytes).map_err(|e| ReplayLogError::io("write", path, e))?;
    sys::fdatasync(&f).map_err(|e| ReplayLogError::io("fdatasync", path, e))
}

/// The manifest of `c` (docs/FORMAT.md, "Freeze capture").
fn manifest_text(c: &FrozenCapture, source: &Path, stats: &FreezeStats, opts: &FreezeOptions) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{MANIFEST_MAGIC}");
    let _ = writeln!(t, "source: {}", source.display());
    let _ = writeln!(t, "lane: {}", c.lane.as_deref().unwrap_or("-"));
    let _ = writeln!(t, "before: {}", opts.before);
    let _ = writeln!(t, "after: {}", opts.after);
    let _ = writeln!(t, "window: {}..={}", c.first_seq, c.last_seq);
    let _ = writeln!(t, "records: {}", c.records);
    let missing: Vec<String> = c.missing.iter().map(|g| format!("{}..{}", g.from, g.to)).collect();
    let _ = writeln!(t, "missing: {}", if missing.is_empty() { "none".into() } else { missing.join(" ") });
    let _ = writeln!(t, "after_lacking: {}", c.after_lacking);
    let _ = writeln!(t, "cut: {}", if c.cut { "max_bytes" } else { "no" });
    let _ = writeln!(t, "complete: {}", if c.is_complete() { "yes" } else { "no" });
    let _ = writeln!(t, "bytes: {}", c.bytes);
    let _ = writeln!(t, "suppressed_rate: {}", stats.suppressed_rate);
    let _ = writeln!(t, "suppressed_bytes: {}", stats.suppressed_bytes);
    let _ = writeln!(t, "triggers: {}", c.triggers.len());
    for e in &c.triggers {
        match &e.evidence {
            Some(ev) => _ = writeln!(t, "trigger: {} {ev}", e.seq),
            None => _ = writeln!(t, "trigger: {} manual", e.seq),
        }
    }
    t
}

/// The wall time now as `YYYYMMDDTHHMMSS.mmmZ` (UTC).
pub fn utc_now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    utc_of(d)
}

/// `since_epoch` as `YYYYMMDDTHHMMSS.mmmZ` (UTC).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(replaylog::freeze::utc_of(Duration::from_millis(1_796_638_502_123)), "20261207T101502.123Z");
/// ```
pub fn utc_of(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since_epoch.subsec_millis()
    )
}

/// The proleptic Gregorian (year, month, day) of a count of days since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`): capture names here, the CLI's UTC dates.
///
/// ```
/// assert_eq!(replaylog::freeze::civil_from_days(0), (1970, 1, 1));
/// assert_eq!(replaylog::freeze::civil_from_days(20_794), (2026, 12, 7));
/// assert_eq!(replaylog::freeze::civil_from_days(-1), (1969, 12, 31));
/// ```
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formats_known_instants() {
        assert_eq!(utc_of(Duration::ZERO), "19700101T000000.000Z");
        assert_eq!(utc_of(Duration::from_secs(951_782_400)), "20000229T000000.000Z");
        assert_eq!(utc_of(Duration::from_millis(1_796_638_502_123)), "20261207T101502.123Z");
    }

    #[test]
    fn trigger_filters() {
        let ev = ReplayFailureEvidence::new(FailureKind::Timeout, 110, "late");
        assert!(TriggerOn::Evidence.matches(Some(&ev)));
        assert!(!TriggerOn::Evidence.matches(None));
        assert!(TriggerOn::Kind(FailureKind::Timeout).matches(Some(&ev)));
        assert!(!TriggerOn::Kind(FailureKind::Backend).matches(Some(&ev)));
        assert!(TriggerOn::KindCode(FailureKind::Timeout, 110).matches(Some(&ev)));
        assert!(!TriggerOn::KindCode(FailureKind::Timeout, 111).matches(Some(&ev)));
        assert!(!TriggerOn::Manual.matches(Some(&ev)));
    }
}
