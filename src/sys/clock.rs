//! The clock that stamps records: `CLOCK_MONOTONIC` nanoseconds.
//!
//! `clock_gettime` through the vDSO makes no system call, but on x86-64 it orders the time-stamp
//! counter read with a fence (`lfence; rdtsc` or `rdtscp`), which drains the pipeline in the
//! middle of an append: about 34 ns a call on the 2-vCPU EPYC VM of BENCHMARKS.md, more than an
//! append without it. Where the kernel itself keeps `CLOCK_MONOTONIC` on the TSC (clock source
//! `tsc`: invariant and synchronized across CPUs, or the kernel would not have chosen it), a
//! [`MonotonicClock`] reads the TSC without a fence and converts ticks with an anchor it takes
//! from `clock_gettime` at least every [`ANCHOR_NS`]: every stamp is then `CLOCK_MONOTONIC`
//! extrapolated by at most 1 ms at the TSC rate measured since the clock was made (the rate's
//! error after the first second is below 1 ppm, so the stamp is within a few ns of what
//! `clock_gettime` would have said). Anywhere else it calls `clock_gettime` every time.
#![allow(unsafe_code)]

use nix::time::{ClockId, clock_gettime};

/// `CLOCK_MONOTONIC` in nanoseconds, from `clock_gettime` (the vDSO on Linux with a vDSO clock
/// source: no system call; `tests/ring_hotpath.rs` traces appends of a `Monotonic` ring with
/// strace and counts none). Never fails for this clock; 0 if the kernel ever said so.
#[inline]
pub fn monotonic_ns() -> u64 {
    clock_gettime(ClockId::CLOCK_MONOTONIC)
        .map_or(0, |t| (t.tv_sec() as u64).wrapping_mul(1_000_000_000).wrapping_add(t.tv_nsec() as u64))
}

/// Longest extrapolation from one `clock_gettime` anchor.
pub const ANCHOR_NS: u64 = 1_000_000;

/// A `CLOCK_MONOTONIC` reader for one writer (see the module docs).
#[derive(Clone, Debug)]
pub struct MonotonicClock {
    tsc: Option<TscScale>,
}

/// TSC ticks to nanoseconds, anchored at a recent `clock_gettime`.
#[derive(Clone, Debug)]
struct TscScale {
    /// TSC and `CLOCK_MONOTONIC` when the clock was made: the baseline the rate is measured on.
    base_tsc: u64,
    base_ns: u64,
    /// The latest anchor.
    anchor_tsc: u64,
    anchor_ns: u64,
    /// Nanoseconds per tick, fixed point with 32 fraction bits.
    ns_per_tick_q32: u64,
    /// Ticks in [`ANCHOR_NS`] (at the measured rate).
    anchor_ticks: u64,
}

impl Default for MonotonicClock {
    fn default() -> Self {
        MonotonicClock::new()
    }
}

impl MonotonicClock {
    /// A clock on the TSC where the kernel's clock source is `tsc`, else on `clock_gettime`.
    /// Measuring the TSC rate takes about 2 ms (spinning on `clock_gettime`) the first time in a
    /// process; later clocks reuse that measurement.
    pub fn new() -> MonotonicClock {
        MonotonicClock { tsc: TscScale::new() }
    }

    /// A clock that always calls `clock_gettime` (for comparisons).
    pub fn vdso() -> MonotonicClock {
        MonotonicClock { tsc: None }
    }

    /// Whether stamps come from the TSC (between `clock_gettime` anchors).
    #[cfg(test)]
    pub fn uses_tsc(&self) -> bool {
        self.tsc.is_some()
    }

    /// `CLOCK_MONOTONIC` now, in nanoseconds. No system call.
    #[inline]
    pub fn now_ns(&mut self) -> u64 {
        match &mut self.tsc {
            Some(s) => s.now_ns(),
            None => monotonic_ns(),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rdtsc() -> u64 {
    // SAFETY: `rdtsc` is in every x86-64 CPU, reads a counter and touches no memory.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The rate measured once per process: `(tsc0, ns0, tsc1, ns1)`.
#[cfg(target_arch = "x86_64")]
fn calibration() -> Option<(u64, u64, u64, u64)> {
    static CALIBRATION: std::sync::OnceLock<Option<(u64, u64, u64, u64)>> = std::sync::OnceLock::new();
    *CALIBRATION.get_or_init(|| {
        let source = std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource");
        if source.ok()?.trim() != "tsc" {
            return None;
        }
        let sample = || {
            // The TSC read between two clock reads, tightest of a few tries.
            (0..8)
                .map(|_| {
                    let a = monotonic_ns();
                    let t = rdtsc();
                    let b = monotonic_ns();
                    (b - a, t, a + (b - a) / 2)
                })
                .min()
                .map(|(_, t, ns)| (t, ns))
                .expect("eight samples")
        };
        let (t0, n0) = sample();
        while monotonic_ns() < n0 + 2 * ANCHOR_NS {
            std::hint::spin_loop();
        }
        let (t1, n1) = sample();
        (t1 > t0 && n1 > n0).then_some((t0, n0, t1, n1))
    })
}

impl TscScale {
    #[cfg(target_arch = "x86_64")]
    fn new() -> Option<TscScale> {
        let (t0, n0, t1, n1) = calibration()?;
        let mut s =
            TscScale { base_tsc: t0, base_ns: n0, anchor_tsc: 0, anchor_ns: 0, ns_per_tick_q32: 0, anchor_ticks: 0 };
        s.set_rate(t1 - t0, n1 - n0)?;
        s.reanchor();
        Some(s)
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn new() -> Option<TscScale> {
        None
    }

    /// Sets the rate from `ticks` elapsed in `ns`; `None` for an implausible rate.
    fn set_rate(&mut self, ticks: u64, ns: u64) -> Option<()> {
        let q32 = u64::try_from((u128::from(ns) << 32) / u128::from(ticks.max(1))).ok()?;
        // 0.01 to 100 GHz.
        if !((1u64 << 32) / 100..=(100u64 << 32)).contains(&q32) {
            return None;
        }
        self.ns_per_tick_q32 = q32;
        self.anchor_ticks = u64::try_from((u128::from(ANCHOR_NS) << 32) / u128::from(q32)).ok()?.max(1);
        Some(())
    }

    /// Takes a new anchor from `clock_gettime`, and refines the rate over the whole baseline.
    #[cold]
    #[inline(never)]
    fn reanchor(&mut self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            let a = monotonic_ns();
            let t = rdtsc();
            let b = monotonic_ns();
            let ns = a + (b - a) / 2;
            if t > self.base_tsc && ns > self.base_ns && ns - self.base_ns >= 2 * ANCHOR_NS {
                let _ = self.set_rate(t - self.base_tsc, ns - self.base_ns);
            }
            self.anchor_tsc = t;
            self.anchor_ns = ns;
            ns
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            monotonic_ns()
        }
    }

    #[inline(always)]
    fn now_ns(&mut self) -> u64 {
        #[cfg(target_arch = "x86_64")]
        {
            let elapsed = rdtsc().wrapping_sub(self.anchor_tsc);
            if elapsed >= self.anchor_ticks {
                // Also when the counter reads below the anchor (wrapped: a huge `elapsed`).
                return self.reanchor();
            }
            self.anchor_ns + ((u128::from(elapsed) * u128::from(self.ns_per_tick_q32)) >> 32) as u64
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            monotonic_ns()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every stamp lies between `clock_gettime` readings taken just before and just after it
    /// (give or take the anchor's own read window and 2 µs of rate error), across many anchors.
    #[test]
    fn tsc_stamps_follow_clock_monotonic() {
        let mut clock = MonotonicClock::new();
        println!("clock on the TSC: {}", clock.uses_tsc());
        let mut worst = 0i64;
        let start = monotonic_ns();
        while monotonic_ns() < start + 20 * ANCHOR_NS {
            let before = monotonic_ns();
            let stamp = clock.now_ns();
            let after = monotonic_ns();
            let off = if stamp < before {
                before as i64 - stamp as i64
            } else if stamp > after {
                stamp as i64 - after as i64
            } else {
                0
            };
            worst = worst.max(off);
        }
        assert!(worst <= 2_000, "a stamp was {worst} ns outside the clock_gettime readings around it");
        println!("worst distance from CLOCK_MONOTONIC: {worst} ns");
    }
}
