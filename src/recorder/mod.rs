//! A recorder for multi-threaded hosts: a directory of rings ("lanes"), one per producing thread,
//! read back as one timeline merged by timestamp.
//!
//! Per-thread buffers merged at read time, as LTTng and perf do with per-CPU buffers: each
//! thread owns a [`Lane`] (a [`RingLog`] in `dir/<name>.ring`), so its appends share nothing
//! with the other threads — no lock, no shared cache line, no system call. Every lane has the
//! same record type, schema id, layout and clock ([`Clock::Monotonic`] by default), so the
//! lanes' records can be merged by `(timestamp, lane, seq)`:
//!
//! * [`replay_merged`] / [`merged`] — every lane's replay window, merged (after a crash too:
//!   each lane keeps the [`RingLog`] crash contract on its own);
//! * [`MergedReader`] — follows all lanes live, picking up lanes added later;
//! * [`RecorderDir`] — each lane's file on its own, for tools that inspect or validate lane by
//!   lane (a bad lane does not hide the good ones).
//!
//! ```
//! use replaylog::recorder::{self, Recorder, RecorderOptions};
//!
//! #[replaylog::record]
//! #[derive(Clone, Copy, Debug, PartialEq)]
//! struct Tick { loop_id: u32, tick: u32 }
//!
//! # let tmp = tempfile::tempdir()?;
//! let dir = tmp.path().join("capture");
//! let rec: Recorder<Tick> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(1024).layout_of::<Tick>())?;
//! let threads: Vec<_> = ["control", "io"]
//!     .into_iter()
//!     .enumerate()
//!     .map(|(i, name)| {
//!         let mut lane = rec.lane(name)?; // dir/control.ring, dir/io.ring
//!         Ok(std::thread::spawn(move || {
//!             for tick in 0..3 {
//!                 lane.append(&Tick { loop_id: i as u32, tick }).unwrap(); // stamped, no syscall
//!             }
//!             lane.sync().unwrap();
//!         }))
//!     })
//!     .collect::<replaylog::Result<_>>()?;
//! threads.into_iter().for_each(|t| t.join().unwrap());
//!
//! assert_eq!(rec.lanes()?, ["control", "io"]);
//! let timeline = recorder::replay_merged(&dir)?; // ordered by (timestamp, lane, seq)
//! assert_eq!(timeline.len(), 6);
//! assert!(timeline.windows(2).all(|w| w[0].key() < w[1].key()));
//! let first_io = timeline.iter().find(|r| &*r.lane == "io").unwrap();
//! assert_eq!(first_io.record::<Tick>()?, Tick { loop_id: 1, tick: 0 });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod live;
mod merge;

use std::fs;
use std::io::ErrorKind;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::path::{Path, PathBuf};

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::error::{ReplayLogError, Result};
use crate::format::layout::Layout;
use crate::format::ring::{CAPACITY_MAX, Clock, Geometry, RECORD_BYTES_MAX};
use crate::ring::{RawRing, RecordLayout, RingLog, RingOptions};
use crate::sys;

pub use live::{MergedOutcome, MergedReader, RESCAN_INTERVAL_MS_DEFAULT};
pub use merge::{LaneEntry, MergedRecord, MergedReplay, RecorderDir, merged, replay_merged};

/// Default slots per lane.
pub const LANE_CAPACITY_SLOTS_DEFAULT: u64 = 65_536;

/// Default `lock_wait_ms` of a lane: short, because a lane has one owner thread and a second
/// handle is a mistake to report quickly, yet not zero, so that a lane dropped by one thread can
/// be reopened at once even while a child process forked meanwhile (and not yet exec'd) still
/// shares the dropped file's descriptor.
pub const LANE_LOCK_WAIT_MS_DEFAULT: u32 = 20;

/// Longest lane name, in bytes.
pub const LANE_NAME_BYTES_MAX: usize = 64;

/// The file extension of a lane: lane `control` is the file `control.ring`.
pub const LANE_EXTENSION: &str = "ring";

/// Options of a [`Recorder`]: the capacity of each lane and the [`RingOptions`] every lane is
/// created (and reopened) with.
///
/// The defaults differ from a lone ring's in two ways: the clock is [`Clock::Monotonic`] (lanes
/// are merged by timestamp), and `lock_wait_ms` is [`LANE_LOCK_WAIT_MS_DEFAULT`] (a second
/// handle on a busy lane fails fast with `Locked`).
///
/// ```
/// use replaylog::Clock;
/// use replaylog::recorder::RecorderOptions;
///
/// let opts = RecorderOptions::default().capacity_slots(4096).schema_id(7);
/// assert_eq!(opts.ring.clock, Clock::Monotonic);
/// assert_eq!((opts.capacity_slots, opts.ring.schema_id, opts.ring.lock_wait_ms), (4096, 7, 20));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecorderOptions {
    /// Slots of each lane. Default [`LANE_CAPACITY_SLOTS_DEFAULT`] (65,536), bounds
    /// `1..=u32::MAX`. Must match an existing lane on reopen (`HeaderMismatch` on `capacity`).
    pub capacity_slots: u64,
    /// The ring options of every lane (see [`RingOptions`] for each field's bounds). Default:
    /// `RingOptions::default()` with clock [`Clock::Monotonic`] and `lock_wait_ms`
    /// [`LANE_LOCK_WAIT_MS_DEFAULT`]. Every lane must match them on reopen; `layout: None` here
    /// means the lanes store no layout (a lane file holding one is a `HeaderMismatch`), unlike
    /// [`RingLog::open_with`], where `None` accepts any stored layout: the lanes of one recorder
    /// all describe their records the same way.
    pub ring: RingOptions,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            capacity_slots: LANE_CAPACITY_SLOTS_DEFAULT,
            ring: RingOptions::default().clock(Clock::Monotonic).lock_wait_ms(LANE_LOCK_WAIT_MS_DEFAULT),
        }
    }
}

impl RecorderOptions {
    /// Sets the slots of each lane.
    pub fn capacity_slots(mut self, slots: u64) -> Self {
        self.capacity_slots = slots;
        self
    }

    /// Replaces the ring options wholesale, every field as given: `RingOptions::default()` has
    /// clock [`Clock::None`] and a 500 ms lock wait, not the recorder's defaults.
    pub fn ring_options(mut self, ring: RingOptions) -> Self {
        self.ring = ring;
        self
    }

    /// Sets the clock of every lane ([`RingOptions::clock`]).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.ring.clock = clock;
        self
    }

    /// Sets the schema id of every lane ([`RingOptions::schema_id`]).
    pub fn schema_id(mut self, id: u64) -> Self {
        self.ring.schema_id = id;
        self
    }

    /// Sets the layout every lane stores ([`RingOptions::layout`]).
    pub fn layout(mut self, layout: Layout) -> Self {
        self.ring.layout = Some(layout);
        self
    }

    /// Sets the layout every lane stores to `T`'s own.
    pub fn layout_of<T: RecordLayout>(self) -> Self {
        self.layout(T::layout())
    }

    /// Sets the evidence bytes of every lane ([`RingOptions::evidence_bytes_max`]).
    pub fn evidence_bytes_max(mut self, bytes: u32) -> Self {
        self.ring.evidence_bytes_max = bytes;
        self
    }

    /// Prefaults every lane's slots at open ([`RingOptions::prefault`]).
    pub fn prefault(mut self, on: bool) -> Self {
        self.ring.prefault = on;
        self
    }

    /// Locks every lane's mapping in memory ([`RingOptions::mlock`]).
    pub fn mlock(mut self, on: bool) -> Self {
        self.ring.mlock = on;
        self
    }

    /// Sets how long [`Recorder::lane`] waits for a busy lane before `Locked`
    /// ([`RingOptions::lock_wait_ms`]).
    pub fn lock_wait_ms(mut self, ms: u32) -> Self {
        self.ring.lock_wait_ms = ms;
        self
    }

    /// Rejects out-of-bounds values for records of `record_bytes` (before any file is touched),
    /// with the errors [`RingLog::open_with`] gives.
    fn validate(&self, record_bytes: usize) -> Result<()> {
        if self.capacity_slots == 0 {
            return Err(ReplayLogError::ZeroCapacity);
        }
        if self.capacity_slots > CAPACITY_MAX {
            return Err(ReplayLogError::CapacityOverflow { requested: self.capacity_slots, max: CAPACITY_MAX });
        }
        if record_bytes == 0 || record_bytes > RECORD_BYTES_MAX as usize {
            return Err(ReplayLogError::InvalidOptions {
                option: "record type",
                reason: format!("size {record_bytes} is outside 1..={RECORD_BYTES_MAX} bytes"),
            });
        }
        self.ring.validate(record_bytes)?;
        let layout_bytes = self.ring.layout.as_ref().map_or(0, |l| l.encode().len() as u32);
        Geometry::new(
            record_bytes as u32,
            self.ring.evidence_bytes_max,
            self.capacity_slots,
            layout_bytes,
            self.ring.clock,
        )
        .ok_or_else(|| ReplayLogError::InvalidOptions {
            option: "capacity_slots",
            reason: "lane file size overflows u64".into(),
        })?;
        Ok(())
    }
}

/// Checks a lane name: 1 to [`LANE_NAME_BYTES_MAX`] characters, each an ASCII letter, digit,
/// `_` or `-`. So `<name>.ring` is always one plain file name inside the recorder's directory:
/// no `/`, no `.` or `..`, no hidden file, nothing a shell or a URL must quote.
///
/// ```
/// use replaylog::recorder::check_lane_name;
///
/// assert!(check_lane_name("control-1").is_ok());
/// let err = check_lane_name("a/b").unwrap_err();
/// assert!(err.to_string().starts_with("invalid lane name \"a/b\": character '/' at byte 1"), "{err}");
/// ```
///
/// # Errors
/// [`ReplayLogError::InvalidLaneName`] naming the name and what breaks the rule.
pub fn check_lane_name(name: &str) -> Result<()> {
    let bad = |reason: String| Err(ReplayLogError::InvalidLaneName { name: name.to_string(), reason });
    if name.is_empty() {
        return bad("empty".into());
    }
    if let Some((at, c)) = name.char_indices().find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-')) {
        return bad(format!("character {c:?} at byte {at}"));
    }
    if name.len() > LANE_NAME_BYTES_MAX {
        return bad(format!("{} characters, more than {LANE_NAME_BYTES_MAX}", name.len()));
    }
    Ok(())
}

/// The lane names in the recorder directory `dir`, sorted (byte order), read-only: its files
/// `<name>.ring` whose name [`check_lane_name`] accepts, as [`Recorder::lanes`] lists them. No
/// lane file is opened (see [`RecorderDir`] for that); lane `name`'s file is
/// `dir/<name>.`[`LANE_EXTENSION`].
///
/// ```
/// use replaylog::recorder::{self, Recorder, RecorderOptions};
///
/// # let tmp = tempfile::tempdir()?;
/// let rec: Recorder<u64> = Recorder::open(tmp.path(), RecorderOptions::default().capacity_slots(8))?;
/// rec.lane("io")?;
/// rec.lane("control")?;
/// std::fs::write(tmp.path().join("notes.txt"), "not a lane")?;
/// assert_eq!(recorder::lane_names(tmp.path())?, ["control", "io"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `Io` when the directory cannot be read.
pub fn lane_names(dir: impl AsRef<Path>) -> Result<Vec<String>> {
    list_lanes(dir.as_ref())
}

/// The lane name of a directory entry named `file_name`, if it is `<lane name>.ring`. Anything
/// else (temporary files `.<name>.ring.*.tmp` of a lane being created, hidden files, other
/// extensions, names breaking [`check_lane_name`]) is not a lane.
pub(crate) fn lane_of_file_name(file_name: &std::ffi::OsStr) -> Option<&str> {
    let stem = file_name.to_str()?.strip_suffix(LANE_EXTENSION)?.strip_suffix('.')?;
    check_lane_name(stem).ok().map(|()| stem)
}

/// The lane names in `dir`, sorted (byte order). Read-only.
pub(crate) fn list_lanes(dir: &Path) -> Result<Vec<String>> {
    let entries = fs::read_dir(dir).map_err(|e| ReplayLogError::io("read directory", dir, e))?;
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ReplayLogError::io("read directory", dir, e))?;
        if let Some(name) = lane_of_file_name(&entry.file_name()) {
            names.push(name.to_string());
        }
    }
    names.sort_unstable();
    Ok(names)
}

/// The path of lane `name` in `dir`.
pub(crate) fn lane_file(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.{LANE_EXTENSION}"))
}

/// Checks that `dir` is a directory (following symlinks): `Io` (stat) when it does not exist,
/// `HeaderMismatch` on `file type` when it is something else.
pub(crate) fn check_is_dir(dir: &Path) -> Result<()> {
    let meta = fs::metadata(dir).map_err(|e| ReplayLogError::io("stat", dir, e))?;
    if meta.is_dir() { Ok(()) } else { Err(not_a_directory(dir, &meta)) }
}

fn not_a_directory(dir: &Path, meta: &fs::Metadata) -> ReplayLogError {
    let found = if meta.is_file() { "regular file" } else { "not a directory" };
    ReplayLogError::mismatch(dir, "file type", "a recorder directory", found)
}

/// Creates `dir` and any missing ancestors, fsyncing each one's parent after creating it, so the
/// new entries are durable. A directory that appears meanwhile (another process) is accepted.
fn create_dir_durably(dir: &Path) -> Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(p) = at.filter(|p| !p.as_os_str().is_empty()) {
        match fs::symlink_metadata(p) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                missing.push(p);
                at = p.parent();
            }
            _ => break,
        }
    }
    for p in missing.into_iter().rev() {
        match fs::create_dir(p) {
            Ok(()) => {}
            // Made by someone else meanwhile: still fsync its parent, they may not have yet.
            Err(e) if e.kind() == ErrorKind::AlreadyExists && fs::metadata(p).is_ok_and(|m| m.is_dir()) => {}
            Err(e) => return Err(ReplayLogError::io("create directory", p, e)),
        }
        let parent = match p.parent() {
            Some(q) if !q.as_os_str().is_empty() => q,
            _ => Path::new("."),
        };
        sys::fsync_dir(parent).map_err(|e| ReplayLogError::io("fsync directory", parent, e))?;
    }
    Ok(())
}

/// A directory of lanes, one [`RingLog`] per producing thread, all of record type `T`.
///
/// `Recorder` itself holds only the directory and the options: it is `Send + Sync`, and
/// [`Recorder::lane`] takes `&self`, so lanes can be added while other lanes are being appended
/// to. See the [module docs](self) for an example.
pub struct Recorder<T> {
    dir: PathBuf,
    options: RecorderOptions,
    _record: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Recorder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder").field("dir", &self.dir).field("options", &self.options).finish()
    }
}

impl<T: FromBytes + IntoBytes + Immutable + KnownLayout> Recorder<T> {
    /// Opens the recorder directory `dir`, creating it (and missing parents, each made durable
    /// by an fsync of its parent) when absent. Lanes already in it are not opened here.
    ///
    /// # Errors
    /// `ZeroCapacity`, `CapacityOverflow`, `InvalidOptions` (before touching anything);
    /// `HeaderMismatch` on `file type` when `dir` exists and is not a directory; `Io`.
    pub fn open(dir: impl AsRef<Path>, options: RecorderOptions) -> Result<Self> {
        let dir = dir.as_ref();
        options.validate(size_of::<T>())?;
        match fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) => return Err(not_a_directory(dir, &m)),
            Err(e) if e.kind() == ErrorKind::NotFound => create_dir_durably(dir)?,
            Err(e) => return Err(ReplayLogError::io("stat", dir, e)),
        }
        Ok(Recorder { dir: dir.to_path_buf(), options, _record: PhantomData })
    }

    /// Creates lane `name` (the ring `dir/<name>.ring`, built atomically: a crash leaves no file
    /// or a complete one) or reopens it, recovering its window as [`RingLog::open_with`] does.
    ///
    /// An existing lane file is first checked read-only against the recorder's options (record
    /// size, schema id, capacity, evidence size, clock, layout — `None` meaning "no layout"):
    /// a file that disagrees, or is not a ring at all, is refused and left untouched.
    ///
    /// # Errors
    /// `InvalidLaneName` (before touching any file); `HeaderMismatch` naming the lane's file;
    /// `Locked` when another handle (in this process or another) has the lane, after
    /// `lock_wait_ms`; the other errors of [`RingLog::open_with`].
    pub fn lane(&self, name: &str) -> Result<Lane<T>> {
        check_lane_name(name)?;
        let path = lane_file(&self.dir, name);
        if fs::symlink_metadata(&path).is_ok() {
            let ring = RawRing::open(&path)?;
            self.check_existing(&ring)?;
        }
        let log = RingLog::open_with(&path, self.options.capacity_slots, self.options.ring.clone())?;
        Ok(Lane { name: name.to_string(), log })
    }

    /// Compares an existing lane's header with the options, in the order `RingLog::open_with`
    /// does, plus "no layout" for `layout: None`.
    fn check_existing(&self, ring: &RawRing) -> Result<()> {
        let (info, path, o) = (ring.info(), ring.path(), &self.options.ring);
        let m = |field, expected: u64, found: u64| {
            if expected == found { Ok(()) } else { Err(ReplayLogError::mismatch(path, field, expected, found)) }
        };
        m("record_bytes", size_of::<T>() as u64, info.record_bytes as u64)?;
        m("schema_id", o.schema_id, info.schema_id)?;
        m("capacity", self.options.capacity_slots, info.capacity)?;
        m("evidence_bytes_max", o.evidence_bytes_max as u64, info.evidence_bytes_max as u64)?;
        if o.clock != info.clock {
            return Err(ReplayLogError::mismatch(path, "clock", o.clock, info.clock));
        }
        if o.layout.as_ref() != ring.layout() {
            let show = |l: Option<&Layout>| l.map_or("no layout".to_string(), |l| l.to_string());
            return Err(ReplayLogError::mismatch(path, "layout", show(o.layout.as_ref()), show(ring.layout())));
        }
        Ok(())
    }

    /// The lane names in the directory, sorted. A lane is a file `<name>.ring` with a valid lane
    /// name ([`check_lane_name`]); temporary files of lanes being created (`.<name>.ring.*.tmp`)
    /// and other files are not lanes. Whether each lane is a good ring is not checked here (see
    /// [`RecorderDir`]).
    ///
    /// # Errors
    /// `Io` when the directory cannot be read.
    pub fn lanes(&self) -> Result<Vec<String>> {
        list_lanes(&self.dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The options every lane is opened with.
    pub fn options(&self) -> &RecorderOptions {
        &self.options
    }

    /// The file of lane `name`.
    ///
    /// # Errors
    /// `InvalidLaneName`.
    pub fn lane_path(&self, name: &str) -> Result<PathBuf> {
        check_lane_name(name)?;
        Ok(lane_file(&self.dir, name))
    }
}

/// One lane of a [`Recorder`]: its [`RingLog`] and its name. Move it into the thread that
/// records into it.
///
/// A `Lane` *is* its ring: it dereferences to [`RingLog<T>`] (`Deref` and `DerefMut`), so
/// `lane.append(&rec)`, `lane.append_at(..)`, `lane.sync()`, `lane.replay_records()` are the
/// ring's own methods, with the same hot path (no lock, no state shared with other lanes, no
/// system call) and the same crash contract. [`Lane::into_ring`] gives the ring itself.
///
/// `Lane` is `Send` (not `Sync`: one thread appends). A second handle on the same lane, from
/// this process or another, is refused with `Locked` (the ring's writer lock).
pub struct Lane<T> {
    name: String,
    log: RingLog<T>,
}

impl<T> std::fmt::Debug for Lane<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lane").field("name", &self.name).field("ring", &self.log).finish()
    }
}

impl<T> Lane<T> {
    /// The lane's name (its file is `<name>.ring`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The ring, without the name.
    pub fn into_ring(self) -> RingLog<T> {
        self.log
    }
}

impl<T> Deref for Lane<T> {
    type Target = RingLog<T>;
    fn deref(&self) -> &RingLog<T> {
        &self.log
    }
}

impl<T> DerefMut for Lane<T> {
    fn deref_mut(&mut self) -> &mut RingLog<T> {
        &mut self.log
    }
}

const _: () = {
    const fn send<X: Send>() {}
    send::<Lane<u64>>();
    send::<Recorder<u64>>();
};
