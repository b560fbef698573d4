//! Following every lane of a recorder directory live: [`MergedReader`].

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{ReplayLogError, Result};
use crate::format::ring::Clock;
use crate::ring::{RawReader, RawRecord, RawRing, ReadOutcome, StartAt};
use crate::sys;

use super::merge::{MergedRecord, Reference};
use super::{check_is_dir, lane_file, list_lanes};

/// Default interval between two scans of the directory for new lanes, in milliseconds.
pub const RESCAN_INTERVAL_MS_DEFAULT: u64 = 100;

/// What [`MergedReader::poll`] returns.
#[derive(Clone, Debug, PartialEq)]
pub enum MergedOutcome {
    /// The next record.
    Record(MergedRecord),
    /// Nothing new has been published in any lane.
    Pending,
    /// A lane's writer overwrote records of that lane before they were read (or a restarted
    /// writer left a hole): `missed` seqs of `lane` were skipped, and that lane resumes at
    /// `resumed_at`. The other lanes are not affected.
    Lapped {
        /// The lane.
        lane: Arc<str>,
        /// How many of its seqs were never returned.
        missed: u64,
        /// The next seq of that lane the reader will return.
        resumed_at: u64,
    },
}

/// A lane's merge key: its head's `(timestamp, lane name, seq)`.
fn key(l: &LiveLane) -> (u64, &str, u64) {
    let h = l.head.as_ref().expect("a lane with a head");
    (h.timestamp_ns.unwrap_or(0), &l.name, h.seq)
}

/// One followed lane.
#[derive(Debug)]
struct LiveLane {
    name: Arc<str>,
    reader: RawReader,
    /// A record read from the lane and not yet returned.
    head: Option<RawRecord>,
}

/// Follows every lane of a recorder directory while threads or other processes append to them,
/// one [`RawReader`] per lane (read-only, no lock: writers never wait for it).
///
/// **Order.** [`MergedReader::poll`] returns, among the records already published in all lanes,
/// the one with the smallest `(timestamp, lane name, seq)`. That order is exact among what is
/// published, but a writer may publish a record after the reader returned one with a larger
/// key (its thread took the stamp earlier, then was descheduled, or its lane is simply behind):
/// live, the merged order can step back in time across lanes. Within one lane records always
/// come in seq order, every seq once, and a lane whose writer laps the reader reports
/// [`MergedOutcome::Lapped`] with the lane's name, exactly as [`RawReader`] does. Replaying the
/// directory afterwards ([`merged`](super::merged)) gives the exact order.
///
/// **Holding back** ([`MergedReader::set_hold_back`], off by default). With lanes stamped by
/// [`Clock::Monotonic`] (the writer reads `CLOCK_MONOTONIC` inside `append`, nanoseconds before
/// publishing), the reader can wait for stragglers, as trace viewers do: it returns the smallest
/// record only once every lane followed has a record waiting (then none of them can publish a
/// smaller key later: stamps never decrease within a lane; a lane the next scan finds may), or
/// once the record's stamp is `hold` older than this host's `CLOCK_MONOTONIC`. The order is
/// then exact unless a writer is held up for longer than `hold` between taking its stamp and
/// publishing (preempted inside `append`), at the price of records reaching the reader up to
/// `hold` late while some lane is idle. Lanes of other clocks ignore it (their stamps are not
/// this host's clock).
///
/// **New lanes.** The directory is scanned again at most every `rescan_interval` (default
/// [`RESCAN_INTERVAL_MS_DEFAULT`] ms, checked on each `poll`) and on [`MergedReader::refresh`];
/// a lane found then is read from its oldest record. A lane must agree with the reference lane
/// (the first by name when the reader opened, or the first found later) on record size, schema
/// id, layout and clock; one that does not, or is not a ring, is an error from `open`, or from
/// the `poll`/`refresh` that finds it — reported once, after which that file is left out.
///
/// ```
/// use std::time::Duration;
/// use replaylog::recorder::{MergedOutcome, MergedReader, Recorder, RecorderOptions};
///
/// # let tmp = tempfile::tempdir()?;
/// let dir = tmp.path().join("live");
/// let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(64))?;
/// let mut reader = MergedReader::open(&dir)?;
/// let mut lane = rec.lane("io")?; // a lane added after the reader opened
/// let writer = std::thread::spawn(move || {
///     for v in 0..3u64 {
///         lane.append(&v).unwrap();
///     }
/// });
/// writer.join().unwrap();
/// reader.refresh()?; // or wait for the next rescan
/// let mut seen = Vec::new();
/// while let MergedOutcome::Record(r) = reader.next_timeout(Duration::from_secs(5))? {
///     seen.push((r.lane.to_string(), r.seq));
///     if seen.len() == 3 { break; }
/// }
/// assert_eq!(seen, [("io".into(), 0), ("io".into(), 1), ("io".into(), 2)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct MergedReader {
    dir: PathBuf,
    /// Sorted by name.
    lanes: Vec<LiveLane>,
    reference: Option<Reference>,
    /// Every lane name already followed or reported bad.
    known: BTreeSet<String>,
    rescan_interval: Duration,
    last_scan: Instant,
    /// See [`MergedReader::set_hold_back`], in nanoseconds.
    hold_ns: Option<u64>,
}

impl MergedReader {
    /// Follows `dir` from each lane's oldest record.
    ///
    /// # Errors
    /// As [`MergedReader::open_at`].
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_at(dir, StartAt::Oldest)
    }

    /// Follows `dir` from `start` in every lane present now: [`StartAt::Oldest`] (everything
    /// live) or [`StartAt::Newest`] (only what is published from now on, like `tail -f`). Lanes
    /// found later are read from their oldest record.
    ///
    /// # Errors
    /// `InvalidOptions` for [`StartAt::Seq`] (a seq means nothing across lanes); `Io` or
    /// `HeaderMismatch` (file type) for the directory; the error of the first lane, by name,
    /// that cannot be read with the others (see [`RecorderDir`](super::RecorderDir)).
    pub fn open_at(dir: impl AsRef<Path>, start: StartAt) -> Result<Self> {
        if let StartAt::Seq(_) = start {
            return Err(ReplayLogError::InvalidOptions {
                option: "start",
                reason: "a merged reader starts at Oldest or Newest in every lane, not at a seq".into(),
            });
        }
        let dir = dir.as_ref();
        check_is_dir(dir)?;
        let mut reader = MergedReader {
            dir: dir.to_path_buf(),
            lanes: Vec::new(),
            reference: None,
            known: BTreeSet::new(),
            rescan_interval: Duration::from_millis(RESCAN_INTERVAL_MS_DEFAULT),
            last_scan: Instant::now(),
            hold_ns: None,
        };
        reader.scan(start)?;
        Ok(reader)
    }

    /// Sets how often `poll` scans the directory for new lanes (`Duration::ZERO`: on every poll).
    pub fn set_rescan_interval(&mut self, interval: Duration) {
        self.rescan_interval = interval;
    }

    /// Holds records back for lanes stamped by `CLOCK_MONOTONIC` (see the type's docs): `None`
    /// (the default) returns every record as soon as it is the smallest published.
    pub fn set_hold_back(&mut self, hold: Option<Duration>) {
        self.hold_ns = hold.map(|h| u64::try_from(h.as_nanos()).unwrap_or(u64::MAX));
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The lanes followed, sorted by name.
    pub fn lanes(&self) -> impl Iterator<Item = &str> {
        self.lanes.iter().map(|l| &*l.name)
    }

    /// The seq the next record returned from `lane` will have, `None` for a lane not followed.
    pub fn position(&self, lane: &str) -> Option<u64> {
        let l = self.lanes.iter().find(|l| &*l.name == lane)?;
        Some(l.head.as_ref().map_or(l.reader.position(), |h| h.seq))
    }

    /// Scans the directory for new lanes now.
    ///
    /// # Errors
    /// `Io` when the directory cannot be read; the error of the first new lane that cannot be
    /// read with the others (it is left out from then on; the lanes after it are added by the
    /// next scan).
    pub fn refresh(&mut self) -> Result<()> {
        self.scan(StartAt::Oldest)
    }

    fn scan(&mut self, start: StartAt) -> Result<()> {
        self.last_scan = Instant::now();
        for name in list_lanes(&self.dir)? {
            if self.known.contains(&name) {
                continue;
            }
            self.known.insert(name.clone());
            let ring = RawRing::open(lane_file(&self.dir, &name))?;
            let name: Arc<str> = name.into();
            match &self.reference {
                Some(reference) => reference.check(&ring)?,
                None => self.reference = Some(Reference::of(name.clone(), &ring)),
            }
            let at = self.lanes.partition_point(|l| l.name < name);
            self.lanes.insert(at, LiveLane { name, reader: RawReader::new(ring, start), head: None });
        }
        Ok(())
    }

    /// Returns the next record among those already published (see the type's docs for the
    /// order), a lap of one lane, or `Pending`. Never blocks; scans for new lanes when
    /// `rescan_interval` has passed since the last scan.
    ///
    /// # Errors
    /// A lane's read error ([`RawReader::poll`]), naming its file; the errors of
    /// [`MergedReader::refresh`].
    pub fn poll(&mut self) -> Result<MergedOutcome> {
        if self.last_scan.elapsed() >= self.rescan_interval {
            self.scan(StartAt::Oldest)?;
        }
        for lane in self.lanes.iter_mut().filter(|l| l.head.is_none()) {
            match lane.reader.poll()? {
                ReadOutcome::Record(r) => lane.head = Some(r),
                ReadOutcome::Pending => {}
                ReadOutcome::Lapped { missed, resumed_at } => {
                    return Ok(MergedOutcome::Lapped { lane: lane.name.clone(), missed, resumed_at });
                }
            }
        }
        let lanes = self.lanes.len();
        let waiting = self.lanes.iter().filter(|l| l.head.is_some()).count();
        let next = self.lanes.iter_mut().filter(|l| l.head.is_some()).min_by(|a, b| key(a).cmp(&key(b)));
        let Some(lane) = next else { return Ok(MergedOutcome::Pending) };
        let clock = self.reference.as_ref().map(|r| r.clock());
        if let (Some(hold), Some(Clock::Monotonic)) = (self.hold_ns, clock) {
            let stamp = lane.head.as_ref().and_then(|h| h.timestamp_ns).unwrap_or(0);
            if waiting < lanes && stamp.saturating_add(hold) > sys::monotonic_ns() {
                return Ok(MergedOutcome::Pending);
            }
        }
        Ok(MergedOutcome::Record(MergedRecord::new(lane.name.clone(), lane.head.take().expect("filtered"))))
    }

    /// Waits up to `timeout` for the next record (or a lap report); `Pending` on timeout. Polls
    /// with a short backoff (spin, then yield, then sleeps of at most 200 us).
    ///
    /// # Errors
    /// As [`MergedReader::poll`].
    pub fn next_timeout(&mut self, timeout: Duration) -> Result<MergedOutcome> {
        let found = crate::ring::poll_with_backoff(timeout, || {
            self.poll().map(|o| match o {
                MergedOutcome::Pending => None,
                other => Some(other),
            })
        })?;
        Ok(found.unwrap_or(MergedOutcome::Pending))
    }
}
