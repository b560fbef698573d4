//! Paced replay: feed a captured stream back at the pace it was recorded.
//!
//! [`Paced`] wraps any iterator whose items carry a recorded time (a ring's `timestamp_ns`, or an
//! integer field such as a tick time) and yields each item at its recorded offset from the first
//! item, divided by a [`Speed`]: at speed 2 a capture of 10 s replays in 5 s. Item *i* is due at
//! `start + (t_i - t_0) / speed`, `start` being the instant of the first `next()` call, so the
//! first item is released at once. A harness that feeds a system under test reads the items as
//! they come.
//!
//! Every release is measured against its schedule: *lateness* = actual release − due time
//! (never negative: nothing is released early). [`Paced::drift`] summarises it (count, p50,
//! p90, p99, max, mean) from a [`Drift`] histogram of bounded size (about 58 KiB, whatever the
//! number of items), so a 10 M-record replay costs no more memory than a short one.
//!
//! Time comes from a [`PaceClock`]: [`RealClock`] (the monotonic clock, sleeping then spinning
//! the last stretch so wake-ups are close to the deadline), or [`ManualClock`], a clock that
//! only moves when told, which records every deadline asked of it, for deterministic tests of a
//! schedule.
//!
//! Rules for awkward times, all of them leaving the schedule of later items as recorded:
//!
//! * **Backwards**: an item whose time is below an earlier item's (or below the first item's) is
//!   due together with the item before it, so it is released at once, in input order; it is
//!   counted in [`DriftSummary::backwards`].
//! * **No time** (`time_of` returns `None`): the item is released unpaced, due together with the
//!   item before it (at the start when it comes first), and counted in
//!   [`DriftSummary::untimed`]. A caller for whom a missing time is an error checks that count,
//!   or filters such items out before pacing.
//! * **Large times**: offsets are computed without overflow (`t_i - t_0` in `u64`, divided by
//!   the speed in `f64` and rounded to the nearest nanosecond; due times saturate at
//!   `u64::MAX` ns, about 584 years, instead of wrapping).
//!
//! [`Speed::MAX`] yields every item at once: nothing is scheduled, the clock is never read, and
//! the drift summary measures nothing (`measured == 0`).
//!
//! ```
//! use replaylog::replay::{ManualClock, Paced, Speed};
//!
//! // (recorded time in ns, payload)
//! let capture = vec![(1_000_000u64, "a"), (2_000_000, "b"), (4_000_000, "c")];
//! let clock = ManualClock::new();
//! let mut paced = Paced::with_clock(capture.into_iter(), Speed::new(2.0)?, |s| Some(s.0), clock);
//! let due: Vec<(&str, u64)> = paced.by_ref().map(|r| (r.item.1, r.due_ns)).collect();
//! assert_eq!(due, [("a", 0), ("b", 500_000), ("c", 1_500_000)]); // twice as fast
//! assert_eq!(paced.clock().waits(), [0, 500_000, 1_500_000]); // what it slept until
//! assert_eq!(paced.drift().max_ns, 0); // a manual clock wakes exactly on time
//! # Ok::<(), replaylog::ReplayLogError>(())
//! ```

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

use crate::error::{ReplayLogError, Result};

/// How fast to replay: a factor over the recorded pace (2.0 = twice as fast, 0.5 = half as fast),
/// or [`Speed::MAX`], as fast as possible.
///
/// ```
/// use replaylog::replay::Speed;
///
/// assert_eq!(Speed::new(2.0)?.factor(), 2.0);
/// assert_eq!("0.5".parse::<Speed>()?, Speed::new(0.5)?);
/// assert_eq!("max".parse::<Speed>()?, Speed::MAX);
/// assert!(Speed::new(0.0).is_err() && Speed::new(-1.0).is_err() && Speed::new(f64::NAN).is_err());
/// # Ok::<(), replaylog::ReplayLogError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Speed(f64);

impl Speed {
    /// The recorded pace.
    pub const REALTIME: Speed = Speed(1.0);
    /// As fast as possible: no waiting (also what `Speed::new(f64::INFINITY)` gives).
    pub const MAX: Speed = Speed(f64::INFINITY);

    /// A speed factor: finite and above 0, or `+inf` for [`Speed::MAX`]. Zero, a negative factor,
    /// NaN or a factor so small that `1 / factor` overflows is
    /// [`ReplayLogError::InvalidOptions`] with `option` `"speed"`.
    pub fn new(factor: f64) -> Result<Speed> {
        let bad = |why: &str| {
            Err(ReplayLogError::InvalidOptions {
                option: "speed",
                reason: format!(
                    "{factor} {why} (a speed is a number above 0, e.g. 1 for the recorded pace, 2 for twice as fast, \
                     or max)"
                ),
            })
        };
        if factor.is_nan() {
            bad("is not a number")
        } else if factor <= 0.0 {
            bad("is not above 0")
        } else if factor.is_finite() && !(1.0 / factor).is_finite() {
            bad("is too small")
        } else {
            Ok(Speed(factor))
        }
    }

    /// The factor (`f64::INFINITY` for [`Speed::MAX`]).
    pub fn factor(self) -> f64 {
        self.0
    }

    /// Whether this is [`Speed::MAX`] (no waiting).
    pub fn is_max(self) -> bool {
        self.0.is_infinite()
    }

    /// A recorded offset `delta_ns` at this speed, in ns: exact at speed 1, else rounded to the
    /// nearest ns, saturating at `u64::MAX`; 0 at [`Speed::MAX`].
    pub fn scale(self, delta_ns: u64) -> u64 {
        if self.0 == 1.0 {
            delta_ns
        } else if self.is_max() {
            0
        } else {
            // `as` saturates (a huge quotient is u64::MAX, never a wrap).
            (delta_ns as f64 / self.0).round() as u64
        }
    }
}

/// Parses a factor (`2`, `0.5`, `1e3`, optionally followed by `x`: `2x`) or `max` / `inf`.
impl FromStr for Speed {
    type Err = ReplayLogError;

    fn from_str(s: &str) -> Result<Speed> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("max") || t.eq_ignore_ascii_case("inf") {
            return Ok(Speed::MAX);
        }
        let number = t.strip_suffix(['x', 'X']).unwrap_or(t);
        match number.parse::<f64>() {
            Ok(f) if !f.is_infinite() => Speed::new(f),
            _ => Err(ReplayLogError::InvalidOptions {
                option: "speed",
                reason: format!(
                    "{s:?} is not a speed (a number above 0, e.g. 1 for the recorded pace, 2 for twice as fast, or max)"
                ),
            }),
        }
    }
}

/// `1x`, `2x`, `0.5x`, or `max`.
impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_max() { f.write_str("max") } else { write!(f, "{}x", self.0) }
    }
}

/// The time source of a [`Paced`] replay, in nanoseconds from an origin of the clock's choosing.
pub trait PaceClock {
    /// Now, in ns since the clock's origin; never decreases.
    fn now_ns(&mut self) -> u64;

    /// Returns once `now_ns() >= deadline_ns` (at once when that already holds), and returns
    /// `now_ns()` as of the return: the release instant.
    fn sleep_until_ns(&mut self, deadline_ns: u64) -> u64;
}

/// The default spin of a [`RealClock`]: the last 150 µs before a deadline are spent in a busy
/// loop instead of asleep. On a 2-vCPU VM a plain sleep wakes up 60 to 100 µs late (the kernel's
/// default timer slack is 50 µs); a spin longer than that lands on the deadline at the median
/// and p99 when the CPU is free, for about 9 % of a core at 1 kHz (BENCHMARKS.md, "Paced replay").
pub const DEFAULT_SPIN: Duration = Duration::from_micros(150);

/// The monotonic clock (`std::time::Instant`): sleeps until `spin` before a deadline, then
/// spins (`std::hint::spin_loop`) until the deadline has passed. A longer spin costs CPU time for
/// a smaller lateness; zero only sleeps. The spin does not yield: on a busy core a yield can hand
/// the CPU to another thread for a whole time slice, milliseconds past the deadline. Items
/// due less than `spin` apart (above 1/spin per second, 6.7 kHz at the default) keep the
/// replaying thread busy the whole time.
#[derive(Clone, Debug)]
pub struct RealClock {
    origin: Instant,
    spin: Duration,
}

impl RealClock {
    /// A clock whose origin is now, with [`DEFAULT_SPIN`].
    pub fn new() -> RealClock {
        RealClock { origin: Instant::now(), spin: DEFAULT_SPIN }
    }

    /// The same clock spinning the last `spin` before each deadline.
    pub fn with_spin(self, spin: Duration) -> RealClock {
        RealClock { spin, ..self }
    }

    /// The spin in use.
    pub fn spin(&self) -> Duration {
        self.spin
    }
}

impl Default for RealClock {
    fn default() -> RealClock {
        RealClock::new()
    }
}

impl PaceClock for RealClock {
    fn now_ns(&mut self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn sleep_until_ns(&mut self, deadline_ns: u64) -> u64 {
        let spin_ns = u64::try_from(self.spin.as_nanos()).unwrap_or(u64::MAX);
        let mut now = self.now_ns();
        if deadline_ns.saturating_sub(now) > spin_ns {
            std::thread::sleep(Duration::from_nanos(deadline_ns - now - spin_ns));
            now = self.now_ns();
        }
        while now < deadline_ns {
            std::hint::spin_loop();
            now = self.now_ns();
        }
        now
    }
}

/// A clock that moves only when told: [`sleep_until_ns`](PaceClock::sleep_until_ns) jumps to
/// the deadline (plus an optional [`oversleep`](ManualClock::set_oversleep), to simulate late
/// wake-ups) and records it, [`advance`](ManualClock::advance) simulates work. For tests of a
/// schedule; it keeps every deadline asked of it, so it is not meant for long replays.
#[derive(Clone, Debug, Default)]
pub struct ManualClock {
    now_ns: u64,
    oversleep_ns: u64,
    waits: Vec<u64>,
}

impl ManualClock {
    /// A clock at 0 ns that wakes exactly on time.
    pub fn new() -> ManualClock {
        ManualClock::default()
    }

    /// Moves the clock forward by `ns` (saturating).
    pub fn advance(&mut self, ns: u64) {
        self.now_ns = self.now_ns.saturating_add(ns);
    }

    /// From now on, every sleep that has to wait wakes `ns` after its deadline.
    pub fn set_oversleep(&mut self, ns: u64) {
        self.oversleep_ns = ns;
    }

    /// Every deadline passed to `sleep_until_ns`, in order (including those already passed).
    pub fn waits(&self) -> &[u64] {
        &self.waits
    }
}

impl PaceClock for ManualClock {
    fn now_ns(&mut self) -> u64 {
        self.now_ns
    }

    fn sleep_until_ns(&mut self, deadline_ns: u64) -> u64 {
        self.waits.push(deadline_ns);
        if deadline_ns > self.now_ns {
            self.now_ns = deadline_ns.saturating_add(self.oversleep_ns);
        }
        self.now_ns
    }
}

/// An item released by [`Paced`], with its schedule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Released<T> {
    /// The item.
    pub item: T,
    /// When it was due, in ns after the replay's start (its recorded offset from the first item
    /// divided by the speed; for an item released unpaced or backwards, the previous item's).
    /// 0 at [`Speed::MAX`].
    pub due_ns: u64,
    /// How long after `due_ns` it was released (0 at [`Speed::MAX`]).
    pub lateness_ns: u64,
}

/// Linear bits of a [`Drift`] bucket: values below `2^SUB_BITS` ns are exact, larger ones fall
/// in buckets `2^-SUB_BITS` (1/128, 0.78 %) of their value wide.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets for every u64: 128 exact values, then 128 per power of two from 2^7 to 2^63.
const BUCKETS: usize = (SUB + (64 - SUB_BITS as u64) * SUB) as usize;

/// A histogram of lateness in ns with log-linear buckets, of fixed size (7,424 counters, 58 KiB)
/// however many values it holds. Values below 128 ns are exact; a larger value is counted in a
/// bucket 1/128 of its magnitude wide, and percentiles report the bucket's upper end (capped at
/// the exact maximum): never below the true percentile, at most 0.79 % above it. Count, max and
/// mean are exact.
#[derive(Clone)]
pub struct Drift {
    counts: Box<[u64]>,
    count: u64,
    max_ns: u64,
    sum_ns: u128,
}

impl fmt::Debug for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Drift").field("count", &self.count).field("max_ns", &self.max_ns).finish_non_exhaustive()
    }
}

impl Default for Drift {
    fn default() -> Drift {
        Drift::new()
    }
}

impl Drift {
    /// An empty histogram.
    pub fn new() -> Drift {
        Drift { counts: vec![0; BUCKETS].into_boxed_slice(), count: 0, max_ns: 0, sum_ns: 0 }
    }

    fn bucket(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let e = 63 - v.leading_zeros(); // >= SUB_BITS
        let sub = (v >> (e - SUB_BITS)) & (SUB - 1);
        (SUB + u64::from(e - SUB_BITS) * SUB + sub) as usize
    }

    /// The largest value counted in bucket `i`.
    fn bucket_high(i: usize) -> u64 {
        let i = i as u64;
        if i < SUB {
            return i;
        }
        let e = (i - SUB) / SUB + u64::from(SUB_BITS);
        let sub = (i - SUB) % SUB;
        let low = (SUB + sub) << (e - u64::from(SUB_BITS));
        low + ((1u64 << (e - u64::from(SUB_BITS))) - 1)
    }

    /// Counts one value.
    pub fn record(&mut self, lateness_ns: u64) {
        self.counts[Drift::bucket(lateness_ns)] += 1;
        self.count += 1;
        self.max_ns = self.max_ns.max(lateness_ns);
        self.sum_ns += u128::from(lateness_ns);
    }

    /// Values counted.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The largest value (exact), 0 when empty.
    pub fn max_ns(&self) -> u64 {
        self.max_ns
    }

    /// The mean (exact, rounded down), 0 when empty.
    pub fn mean_ns(&self) -> u64 {
        if self.count == 0 { 0 } else { (self.sum_ns / u128::from(self.count)) as u64 }
    }

    /// The `q` quantile (`0.0..=1.0`, clamped), nearest rank: the smallest bucket holding at
    /// least `ceil(q * count)` values (at least 1), as its upper end capped at the maximum; 0 when
    /// empty.
    pub fn percentile(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let q = if q.is_nan() { 1.0 } else { q.clamp(0.0, 1.0) };
        // q * count, rounded up, but a product a rounding error above an integer (0.07 * 100 =
        // 7.000000000000001) is that integer.
        let x = q * self.count as f64;
        let rank = if (x - x.round()).abs() < 1e-9 * x.max(1.0) { x.round() } else { x.ceil() };
        let rank = (rank as u64).clamp(1, self.count);
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Drift::bucket_high(i).min(self.max_ns);
            }
        }
        self.max_ns
    }
}

/// What a [`Paced`] replay measured so far (see [`Drift`] for the percentiles' precision).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DriftSummary {
    /// Items released.
    pub released: u64,
    /// Items whose lateness was measured (all released items, none at [`Speed::MAX`]).
    pub measured: u64,
    /// Median lateness, ns.
    pub p50_ns: u64,
    /// 90th percentile lateness, ns.
    pub p90_ns: u64,
    /// 99th percentile lateness, ns.
    pub p99_ns: u64,
    /// Largest lateness, ns (exact).
    pub max_ns: u64,
    /// Mean lateness, ns (exact).
    pub mean_ns: u64,
    /// Items whose time was below an earlier item's, released at once.
    pub backwards: u64,
    /// Items without a time, released unpaced.
    pub untimed: u64,
}

/// An iterator adapter that releases each item at its recorded time offset divided by a
/// [`Speed`], measuring how late each release is (see the [module docs](self) for the rules).
///
/// `time_of` gives an item's recorded time in ns (any origin: only differences matter), or
/// `None` for an item without one. The replay starts at the first call to `next()`.
///
/// ```
/// use replaylog::replay::{Paced, Speed};
///
/// // Three samples 100 µs apart, replayed in real time at the recorded pace.
/// let samples = [0u64, 100_000, 200_000];
/// let mut paced = Paced::new(samples.iter(), Speed::REALTIME, |t| Some(**t));
/// for r in paced.by_ref() {
///     // feed `r.item` to the system under test; `r.lateness_ns` is how late it came
///     let _ = (r.item, r.due_ns, r.lateness_ns);
/// }
/// let drift = paced.drift();
/// assert_eq!((drift.released, drift.measured), (3, 3));
/// println!("p99 lateness {} ns, max {} ns", drift.p99_ns, drift.max_ns);
/// ```
pub struct Paced<I, F, C = RealClock> {
    iter: I,
    time_of: F,
    clock: C,
    speed: Speed,
    /// The clock's reading at the first `next()`.
    start_ns: Option<u64>,
    /// The first recorded time.
    t0: Option<u64>,
    /// The largest recorded time so far.
    t_max: Option<u64>,
    /// The previous item's due time (ns after the start).
    last_due_ns: u64,
    drift: Drift,
    released: u64,
    backwards: u64,
    untimed: u64,
}

impl<I, F> Paced<I, F, RealClock>
where
    I: Iterator,
    F: FnMut(&I::Item) -> Option<u64>,
{
    /// Paces `iter` on a [`RealClock`] with the default spin.
    pub fn new(iter: I, speed: Speed, time_of: F) -> Self {
        Paced::with_clock(iter, speed, time_of, RealClock::new())
    }
}

impl<I, F, C> Paced<I, F, C>
where
    I: Iterator,
    F: FnMut(&I::Item) -> Option<u64>,
    C: PaceClock,
{
    /// Paces `iter` on `clock`.
    pub fn with_clock(iter: I, speed: Speed, time_of: F, clock: C) -> Self {
        Paced {
            iter,
            time_of,
            clock,
            speed,
            start_ns: None,
            t0: None,
            t_max: None,
            last_due_ns: 0,
            drift: Drift::new(),
            released: 0,
            backwards: 0,
            untimed: 0,
        }
    }
}

impl<I, F, C> Paced<I, F, C> {
    /// The speed.
    pub fn speed(&self) -> Speed {
        self.speed
    }

    /// The clock (a [`ManualClock`]'s recorded waits).
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The clock, mutably (to [`advance`](ManualClock::advance) a manual clock between items).
    pub fn clock_mut(&mut self) -> &mut C {
        &mut self.clock
    }

    /// The lateness histogram so far.
    pub fn histogram(&self) -> &Drift {
        &self.drift
    }

    /// The drift so far: releases, lateness percentiles, backwards and untimed items.
    pub fn drift(&self) -> DriftSummary {
        let d = &self.drift;
        DriftSummary {
            released: self.released,
            measured: d.count(),
            p50_ns: d.percentile(0.50),
            p90_ns: d.percentile(0.90),
            p99_ns: d.percentile(0.99),
            max_ns: d.max_ns(),
            mean_ns: d.mean_ns(),
            backwards: self.backwards,
            untimed: self.untimed,
        }
    }

    /// The inner iterator (items not yet released).
    pub fn into_inner(self) -> I {
        self.iter
    }
}

impl<T, I, F, C> Iterator for Paced<I, F, C>
where
    I: Iterator<Item = T>,
    F: FnMut(&T) -> Option<u64>,
    C: PaceClock,
{
    type Item = Released<T>;

    fn next(&mut self) -> Option<Released<T>> {
        let item = self.iter.next()?;
        let time = (self.time_of)(&item);
        self.released += 1;
        match time {
            None => self.untimed += 1,
            Some(t) if self.t_max.is_some_and(|m| t < m) || self.t0.is_some_and(|t0| t < t0) => self.backwards += 1,
            Some(_) => {}
        }
        if let Some(t) = time {
            self.t0.get_or_insert(t);
            self.t_max = Some(self.t_max.map_or(t, |m| m.max(t)));
        }
        if self.speed.is_max() {
            return Some(Released { item, due_ns: 0, lateness_ns: 0 });
        }
        let start = *self.start_ns.get_or_insert_with(|| self.clock.now_ns());
        let due_ns = match (time, self.t0) {
            (Some(t), Some(t0)) => self.speed.scale(t.saturating_sub(t0)).max(self.last_due_ns),
            _ => self.last_due_ns,
        };
        self.last_due_ns = due_ns;
        let deadline = start.saturating_add(due_ns);
        let now = self.clock.sleep_until_ns(deadline);
        let lateness_ns = now.saturating_sub(deadline);
        self.drift.record(lateness_ns);
        Some(Released { item, due_ns, lateness_ns })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.iter.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Paces `times` (None = untimed) at `speed` on a manual clock starting at `start`; returns the
    /// due times, the deadlines slept until, and the summary.
    fn run(times: &[Option<u64>], speed: f64, start: u64) -> (Vec<u64>, Vec<u64>, DriftSummary) {
        let mut clock = ManualClock::new();
        clock.advance(start);
        let mut p = Paced::with_clock(times.iter().copied(), Speed::new(speed).unwrap(), |t| *t, clock);
        let due = p.by_ref().map(|r| r.due_ns).collect();
        (due, p.clock().waits().to_vec(), p.drift())
    }

    #[test]
    fn the_schedule_is_the_recorded_offsets_divided_by_the_speed() {
        let ms = 1_000_000;
        let t = [Some(5 * ms), Some(6 * ms), Some(8 * ms), Some(8 * ms), Some(13 * ms)];
        let (due, waits, s) = run(&t, 1.0, 0);
        assert_eq!(due, [0, ms, 3 * ms, 3 * ms, 8 * ms]);
        assert_eq!(waits, due);
        assert_eq!((s.released, s.measured, s.max_ns, s.backwards, s.untimed), (5, 5, 0, 0, 0));
        let (due, _, _) = run(&t, 2.0, 0);
        assert_eq!(due, [0, ms / 2, 3 * ms / 2, 3 * ms / 2, 4 * ms]);
        let (due, _, _) = run(&t, 0.5, 0);
        assert_eq!(due, [0, 2 * ms, 6 * ms, 6 * ms, 16 * ms]);
        // Deadlines are the clock's start plus the due time.
        let (_, waits, _) = run(&t, 1.0, 7_000);
        assert_eq!(waits, [7_000, 7_000 + ms, 7_000 + 3 * ms, 7_000 + 3 * ms, 7_000 + 8 * ms]);
        // A 3x speed rounds to the nearest ns: 1 ns -> 0, 2 ns -> 1 (0.67), 10 ns -> 3.
        let (due, _, _) = run(&[Some(0), Some(1), Some(2), Some(10)], 3.0, 0);
        assert_eq!(due, [0, 0, 1, 3]);
    }

    #[test]
    fn gaps_are_kept_and_the_start_is_the_first_next_call() {
        let s = 1_000_000_000;
        let (due, _, _) = run(&[Some(0), Some(1), Some(3_600 * s), Some(3_600 * s + 1)], 1.0, 0);
        assert_eq!(due, [0, 1, 3_600 * s, 3_600 * s + 1]);
        // Work between items does not shift the schedule: the clock moved 10 ms before the
        // first item was asked for, and 2 ms of work between the first and second.
        let mut clock = ManualClock::new();
        clock.advance(10_000_000);
        let mut p = Paced::with_clock([0u64, 1_000_000, 5_000_000].into_iter(), Speed::REALTIME, |t| Some(*t), clock);
        assert_eq!(p.next().map(|r| (r.due_ns, r.lateness_ns)), Some((0, 0)));
        p.clock_mut().advance(2_000_000);
        // Due at 1 ms, released at 2 ms: 1 ms late, without waiting.
        assert_eq!(p.next().map(|r| (r.due_ns, r.lateness_ns)), Some((1_000_000, 1_000_000)));
        assert_eq!(p.next().map(|r| (r.due_ns, r.lateness_ns)), Some((5_000_000, 0)));
        assert_eq!(p.clock().waits(), [10_000_000, 11_000_000, 15_000_000]);
        assert_eq!(p.clock_mut().now_ns(), 15_000_000);
        let d = p.drift();
        assert_eq!((d.measured, d.p50_ns, d.max_ns, d.mean_ns), (3, 0, 1_000_000, 333_333));
    }

    #[test]
    fn time_going_backwards_is_released_at_once_and_counted() {
        let t = [Some(100), Some(300), Some(200), Some(50), Some(400), Some(350), Some(500)];
        let (due, waits, s) = run(&t, 1.0, 0);
        // 200 and 50 are due with 300 (200 ns); 350 with 400; 500 keeps its recorded offset.
        assert_eq!(due, [0, 200, 200, 200, 300, 300, 400]);
        assert_eq!(waits, due);
        assert_eq!((s.backwards, s.untimed, s.max_ns), (3, 0, 0));
    }

    #[test]
    fn items_without_time_are_released_with_the_item_before() {
        let (due, _, s) = run(&[None, Some(1_000), None, Some(3_000), None], 1.0, 0);
        assert_eq!(due, [0, 0, 0, 2_000, 2_000]);
        assert_eq!((s.released, s.measured, s.untimed, s.backwards), (5, 5, 3, 0));
        let (due, _, s) = run(&[None, None], 2.0, 0);
        assert_eq!((due, s.untimed), (vec![0, 0], 2));
    }

    #[test]
    fn huge_times_saturate_instead_of_wrapping() {
        let max = u64::MAX;
        let (due, waits, _) = run(&[Some(max - 1), Some(max)], 1.0, 5);
        assert_eq!((due, waits), (vec![0, 1], vec![5, 6]));
        let (due, waits, _) = run(&[Some(0), Some(max)], 1.0, 5);
        assert_eq!((due, waits), (vec![0, max], vec![5, max]));
        let (due, waits, _) = run(&[Some(0), Some(max / 2 + 1), Some(max)], 0.5, 5);
        assert_eq!((due, waits), (vec![0, max, max], vec![5, max, max]));
        let (due, _, _) = run(&[Some(max), Some(0)], 0.5, 0);
        assert_eq!(due, [0, 0]);
        // The smallest accepted speed does not overflow either.
        let (due, _, _) = run(&[Some(0), Some(1), Some(max)], f64::MIN_POSITIVE, 0);
        assert_eq!(due, [0, max, max]);
    }

    #[test]
    fn max_speed_never_reads_the_clock() {
        let mut p = Paced::with_clock(
            [Some(0), Some(u64::MAX), None, Some(1)].into_iter(),
            Speed::MAX,
            |t| *t,
            ManualClock::new(),
        );
        assert!(p.by_ref().all(|r| r.due_ns == 0 && r.lateness_ns == 0));
        assert!(p.clock().waits().is_empty());
        let d = p.drift();
        assert_eq!((d.released, d.measured, d.untimed, d.backwards), (4, 0, 1, 1));
        assert_eq!(Speed::new(f64::INFINITY).unwrap(), Speed::MAX);
    }

    #[test]
    fn late_wakeups_are_measured() {
        let mut clock = ManualClock::new();
        clock.set_oversleep(250);
        let t: Vec<u64> = (0..10).map(|i| i * 1_000).collect();
        let mut p = Paced::with_clock(t.into_iter(), Speed::REALTIME, |t| Some(*t), clock);
        let late: Vec<u64> = p.by_ref().map(|r| r.lateness_ns).collect();
        // The first is due at the start (no wait), every other wakes 250 ns late.
        assert_eq!(late, [0, 250, 250, 250, 250, 250, 250, 250, 250, 250]);
        let d = p.drift();
        assert_eq!((d.p50_ns, d.p99_ns, d.max_ns, d.mean_ns), (250, 250, 250, 225));
        // Deadlines stay on the recorded schedule: lateness does not accumulate.
        assert_eq!(p.clock().waits(), (0..10).map(|i| i * 1_000).collect::<Vec<_>>());
    }

    #[test]
    fn invalid_speeds_are_typed_errors() {
        for bad in [0.0, -0.0, -1.0, f64::NAN, f64::NEG_INFINITY, 1e-320] {
            match Speed::new(bad) {
                Err(ReplayLogError::InvalidOptions { option: "speed", reason }) => {
                    assert!(reason.contains("a speed is a number above 0"), "{reason}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        for bad in ["0", "-2", "nan", "x", "", "fast", "-inf", "1e-320"] {
            assert!(
                matches!(bad.parse::<Speed>(), Err(ReplayLogError::InvalidOptions { option: "speed", .. })),
                "{bad}"
            );
        }
        assert_eq!("2x".parse::<Speed>().unwrap(), Speed::new(2.0).unwrap());
        assert_eq!(" MAX ".parse::<Speed>().unwrap(), Speed::MAX);
        assert_eq!("inf".parse::<Speed>().unwrap(), Speed::MAX);
        assert_eq!(Speed::new(0.5).unwrap().to_string(), "0.5x");
        assert_eq!(Speed::REALTIME.to_string(), "1x");
        assert_eq!(Speed::MAX.to_string(), "max");
    }

    #[test]
    fn drift_percentiles_are_exact_below_128_ns_and_within_a_bucket_above() {
        let mut d = Drift::new();
        assert_eq!((d.percentile(0.5), d.max_ns(), d.mean_ns()), (0, 0, 0));
        for v in 1..=100 {
            d.record(v);
        }
        assert_eq!((d.percentile(0.5), d.percentile(0.99), d.percentile(1.0), d.percentile(0.0)), (50, 99, 100, 1));
        assert_eq!((d.count(), d.max_ns(), d.mean_ns()), (100, 100, 50));
        // Above 128 ns: the bucket's upper end, within 1/128 above the true value.
        let mut d = Drift::new();
        for v in [1_000u64, 12_345, 1_000_000, 987_654_321, u64::MAX] {
            d.record(v);
        }
        let p = |q| d.percentile(q);
        for (q, exact) in [(0.2, 1_000u64), (0.4, 12_345), (0.6, 1_000_000), (0.8, 987_654_321), (0.07, 1_000)] {
            assert!(p(q) >= exact && (p(q) - exact) as f64 <= exact as f64 / 128.0, "{q}: {} vs {exact}", p(q));
        }
        assert_eq!(p(1.0), u64::MAX);
        // Every bucket's upper end maps back to it, and the next value to the next bucket.
        for i in 0..BUCKETS {
            let high = Drift::bucket_high(i);
            assert_eq!(Drift::bucket(high), i);
            if i + 1 < BUCKETS {
                assert_eq!(Drift::bucket(high + 1), i + 1);
            }
        }
        assert_eq!(Drift::bucket_high(BUCKETS - 1), u64::MAX);
    }
}
