//! Reading a recorder directory: each lane on its own ([`RecorderDir`]), and all lanes' replay
//! windows merged into one timeline ([`merged`], [`replay_merged`]).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zerocopy::{FromBytes, Immutable, KnownLayout};

use crate::error::{Location, ReplayLogError, Result};
use crate::format::layout::Layout;
use crate::format::ring::Clock;
use crate::ring::RELEASE_SLOTS;
use crate::ring::{RawRecord, RawRing, ReplayFailureEvidence};

use super::{check_is_dir, lane_file, list_lanes};

/// One record of a merged timeline: a [`RawRecord`] and the lane it comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergedRecord {
    /// The lane's name.
    pub lane: Arc<str>,
    /// Sequence number within the lane.
    pub seq: u64,
    /// Writer epoch of the lane that wrote it.
    pub epoch: u32,
    /// The record's timestamp in nanoseconds (`None` when the lanes have no clock).
    pub timestamp_ns: Option<u64>,
    /// The record's bytes.
    pub bytes: Vec<u8>,
    /// Failure evidence, if any.
    pub evidence: Option<ReplayFailureEvidence>,
}

impl MergedRecord {
    pub(crate) fn new(lane: Arc<str>, raw: RawRecord) -> MergedRecord {
        MergedRecord {
            lane,
            seq: raw.seq,
            epoch: raw.epoch,
            timestamp_ns: raw.timestamp_ns,
            bytes: raw.bytes,
            evidence: raw.evidence,
        }
    }

    /// The record as a `T`.
    ///
    /// # Errors
    /// `InvalidOptions` (option `record type`) when `T`'s size is not the lane's record size.
    pub fn record<T: FromBytes + Immutable + KnownLayout>(&self) -> Result<T> {
        T::read_from_bytes(&self.bytes).map_err(|_| ReplayLogError::InvalidOptions {
            option: "record type",
            reason: format!(
                "size {} does not match the {}-byte records of lane {}",
                size_of::<T>(),
                self.bytes.len(),
                self.lane
            ),
        })
    }

    /// The merge key: `(timestamp, lane, seq)`, the timestamp 0 when the lane has no clock.
    pub fn key(&self) -> (u64, &str, u64) {
        (self.timestamp_ns.unwrap_or(0), &self.lane, self.seq)
    }
}

/// One lane file of a recorder directory, opened read-only.
#[derive(Debug)]
pub struct LaneEntry {
    /// The lane's name.
    pub name: Arc<str>,
    /// Its file, `<dir>/<name>.ring`.
    pub path: PathBuf,
    /// The ring, or why this lane cannot be read with the others: the error of
    /// [`RawRing::open`] (a foreign, damaged or unreadable file), or `HeaderMismatch` naming this
    /// file when its record size, schema id, layout or clock disagrees with the reference lane.
    pub ring: Result<RawRing>,
}

/// What the lanes of one directory must share to be merged: everything that says how to read a
/// record and where it sits on the time axis.
#[derive(Clone, Debug)]
pub(crate) struct Reference {
    lane: Arc<str>,
    record_bytes: u32,
    schema_id: u64,
    clock: Clock,
    layout: Option<Layout>,
}

impl Reference {
    pub(crate) fn of(lane: Arc<str>, ring: &RawRing) -> Reference {
        let info = ring.info();
        Reference {
            lane,
            record_bytes: info.record_bytes,
            schema_id: info.schema_id,
            clock: info.clock,
            layout: ring.layout().cloned(),
        }
    }

    /// The clock every lane shares.
    pub(crate) fn clock(&self) -> Clock {
        self.clock
    }

    /// `HeaderMismatch` naming `ring`'s file when it disagrees with the reference lane.
    pub(crate) fn check(&self, ring: &RawRing) -> Result<()> {
        let info = ring.info();
        let lane = &self.lane;
        let mismatch = |field, expected: &dyn std::fmt::Display, found: &dyn std::fmt::Display| {
            Err(ReplayLogError::mismatch(ring.path(), field, format!("{expected} (as lane {lane})"), found))
        };
        if info.record_bytes != self.record_bytes {
            return mismatch("record_bytes", &self.record_bytes, &info.record_bytes);
        }
        if info.schema_id != self.schema_id {
            return mismatch("schema_id", &self.schema_id, &info.schema_id);
        }
        if info.clock != self.clock {
            return mismatch("clock", &self.clock, &info.clock);
        }
        if ring.layout() != self.layout.as_ref() {
            let show = |l: Option<&Layout>| l.map_or("no layout".to_string(), |l| l.to_string());
            return mismatch("layout", &show(self.layout.as_ref()), &show(ring.layout()));
        }
        Ok(())
    }
}

/// A recorder directory opened read-only, lane by lane, for tools that report on each lane
/// (`inspect`, `validate`): a lane that cannot be read does not hide the others.
///
/// The *reference lane* is the first lane, by name, whose file opens as a ring; every other lane
/// must agree with it on record size, schema id, layout and clock, or its entry holds a
/// `HeaderMismatch` naming its file (the expected value says `as lane <reference>`). Nothing is
/// ever written.
///
/// ```
/// use replaylog::recorder::{Recorder, RecorderDir, RecorderOptions};
///
/// # let tmp = tempfile::tempdir()?;
/// let dir = tmp.path().join("capture");
/// let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(64))?;
/// rec.lane("a")?.append(&1)?;
/// std::fs::write(dir.join("b.ring"), b"not a ring")?; // someone else's file
/// rec.lane("c")?.append(&3)?;
///
/// let lanes = RecorderDir::open(&dir)?;
/// let found: Vec<(&str, bool)> = lanes.lanes().iter().map(|l| (&*l.name, l.ring.is_ok())).collect();
/// assert_eq!(found, [("a", true), ("b", false), ("c", true)]);
/// let err = lanes.merged().unwrap_err(); // the merged timeline refuses the directory, naming b
/// assert!(err.to_string().contains("b.ring is not the expected log: magic"), "{err}");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct RecorderDir {
    path: PathBuf,
    lanes: Vec<LaneEntry>,
    reference: Option<usize>,
}

impl RecorderDir {
    /// Lists the lanes of `dir` (see [`Recorder::lanes`](super::Recorder::lanes)) and opens each
    /// read-only.
    ///
    /// # Errors
    /// Only for the directory itself: `Io` when it is missing or unreadable, `HeaderMismatch` on
    /// `file type` when it is not a directory. A lane's problems are in its [`LaneEntry`].
    pub fn open(dir: impl AsRef<Path>) -> Result<RecorderDir> {
        let dir = dir.as_ref();
        check_is_dir(dir)?;
        let mut lanes: Vec<LaneEntry> = list_lanes(dir)?
            .into_iter()
            .map(|name| {
                let path = lane_file(dir, &name);
                let ring = RawRing::open(&path);
                LaneEntry { name: name.into(), path, ring }
            })
            .collect();
        let reference = lanes.iter().position(|l| l.ring.is_ok());
        if let Some(r) = reference {
            let reference = Reference::of(lanes[r].name.clone(), lanes[r].ring.as_ref().expect("opened"));
            for lane in &mut lanes {
                if let Ok(ring) = &lane.ring {
                    if let Err(e) = reference.check(ring) {
                        lane.ring = Err(e);
                    }
                }
            }
        }
        Ok(RecorderDir { path: dir.to_path_buf(), lanes, reference })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every lane, sorted by name.
    pub fn lanes(&self) -> &[LaneEntry] {
        &self.lanes
    }

    /// The reference lane (the first lane by name that opens), `None` when no lane opens.
    pub fn reference(&self) -> Option<&LaneEntry> {
        self.reference.map(|r| &self.lanes[r])
    }

    /// The lanes, owned.
    pub fn into_lanes(self) -> Vec<LaneEntry> {
        self.lanes
    }

    /// The merged timeline of every lane's replay window (see [`merged`]).
    ///
    /// # Errors
    /// The error of the first lane, by name, that cannot be read with the others; errors of
    /// reading the first record of each lane (as [`MergedReplay`]'s items).
    pub fn merged(self) -> Result<MergedReplay> {
        let mut cursors = Vec::with_capacity(self.lanes.len());
        for lane in self.lanes {
            let ring = lane.ring?;
            let (next, end) = ring.window().map_or((0, 0), |w| (w.first, w.last + 1));
            cursors.push(Cursor { name: lane.name, ring, next, end, head: None, buf: Vec::new(), released: next });
        }
        let mut replay = MergedReplay { cursors, heap: BinaryHeap::new(), error: None };
        for i in 0..replay.cursors.len() {
            replay.advance(i)?;
        }
        Ok(replay)
    }
}

/// One lane's position in a [`MergedReplay`].
#[derive(Debug)]
struct Cursor {
    name: Arc<str>,
    ring: RawRing,
    /// Next seq to read, and the end of the window (exclusive).
    next: u64,
    end: u64,
    /// The lane's record with the smallest key not yet returned.
    head: Option<RawRecord>,
    /// The slot copy `read_slot_into` fills, reused.
    buf: Vec<u8>,
    /// Records before this seq were read and their pages released.
    released: u64,
}

impl Cursor {
    /// Reads seq `next` of the window: it must be there, as in [`RawRing::records`].
    fn read_next(&mut self) -> Result<Option<RawRecord>> {
        if self.next >= self.end {
            return Ok(None);
        }
        let seq = self.next;
        let index = self.ring.geometry().index_of(seq);
        let reason = match self.ring.read_slot_into(index, &mut self.buf) {
            Ok(m) if m.seq == seq => {
                self.next += 1;
                if self.next - self.released >= RELEASE_SLOTS {
                    // Keep what this lane's reading holds resident bounded (see `release_read`).
                    self.ring.release_read(self.released..self.next);
                    self.released = self.next;
                }
                return Ok(Some(self.ring.decode(m, &self.buf)));
            }
            Ok(m) => format!("holds seq {} (overwritten while reading)", m.seq),
            Err(Some(f)) => f.describe().to_string(),
            Err(None) => "changed while reading".to_string(),
        };
        self.next = self.end;
        Err(ReplayLogError::Corrupt {
            path: self.ring.path().to_path_buf(),
            location: Location::RingSlot { index, seq },
            reason,
        })
    }
}

/// The merged timeline of a recorder directory, as an iterator: every lane's replay window
/// (exactly what [`RawRing::records`] returns for that lane), merged by
/// `(timestamp, lane name, seq)`. See [`merged`].
///
/// It reads one record per lane ahead, and each further record when it is returned, so it
/// holds one record per lane in memory, however long the lanes. An error (a slot of a lane's
/// window that no longer holds its record: a writer overwrote it meanwhile, or damage) is
/// returned once, after which the iterator ends.
#[derive(Debug)]
pub struct MergedReplay {
    cursors: Vec<Cursor>,
    /// `(timestamp, lane index, seq)` of each lane's head; lanes are sorted by name, so the lane
    /// index orders as the name does.
    heap: BinaryHeap<Reverse<(u64, usize, u64)>>,
    error: Option<ReplayLogError>,
}

impl MergedReplay {
    /// Reads lane `i`'s next record into its head.
    fn advance(&mut self, i: usize) -> Result<()> {
        let c = &mut self.cursors[i];
        c.head = c.read_next()?;
        if let Some(r) = &c.head {
            self.heap.push(Reverse((r.timestamp_ns.unwrap_or(0), i, r.seq)));
        }
        Ok(())
    }

    /// The lane names, sorted.
    pub fn lanes(&self) -> impl Iterator<Item = &str> {
        self.cursors.iter().map(|c| &*c.name)
    }
}

impl Iterator for MergedReplay {
    type Item = Result<MergedRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            self.heap.clear();
            return Some(Err(e));
        }
        let Reverse((_, i, _)) = self.heap.pop()?;
        let raw = self.cursors[i].head.take().expect("a lane in the heap has a head");
        if let Err(e) = self.advance(i) {
            self.error = Some(e);
        }
        Some(Ok(MergedRecord::new(self.cursors[i].name.clone(), raw)))
    }
}

/// Opens the merged timeline of the recorder directory `dir`: every lane's replay window merged
/// by `(timestamp, lane name, seq)`, read lazily.
///
/// Each lane contributes exactly its own replay window, as [`RawRing::records`] reads it, so
/// after a crash each lane keeps the [`RingLog`](crate::RingLog) crash contract. Within a lane
/// records come in seq order (stamps never decrease within a ring). Lanes without a clock sort
/// as timestamp 0, so the lanes then come one after another, by name.
///
/// Every lane must be readable and agree with the reference lane (the first by name) on record
/// size, schema id, layout and clock; a lane that does not is an error naming its file, never
/// silently left out. [`RecorderDir`] reports lane by lane instead.
///
/// The lanes' windows are taken when this is called. For lanes that are being written, use
/// [`MergedReader`](super::MergedReader): a writer overwriting a window's oldest records before
/// they are read makes the iterator end with a `Corrupt` error.
///
/// # Errors
/// `Io` or `HeaderMismatch` (file type) for the directory; the first bad lane's error
/// ([`LaneEntry::ring`]).
pub fn merged(dir: impl AsRef<Path>) -> Result<MergedReplay> {
    RecorderDir::open(dir)?.merged()
}

/// The merged timeline of the recorder directory `dir`, collected: see [`merged`].
///
/// # Errors
/// As [`merged`], and the first error of the iteration.
pub fn replay_merged(dir: impl AsRef<Path>) -> Result<Vec<MergedRecord>> {
    merged(dir)?.collect()
}
