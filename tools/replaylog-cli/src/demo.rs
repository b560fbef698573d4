//! `replaylog demo`: record a simulated control loop into a ring as fast as possible, measure the
//! latency of every append, then reopen the file, replay it and verify every record and every
//! injected failure against a deterministic recomputation of the simulation.
//!
//! `replaylog demo --threads N`: N such loops (each with its own sensor noise) on N threads, each
//! recording into its own lane (`loop-0` .. `loop-<N-1>`) of a recorder directory, stamped by the
//! lanes' monotonic clock, started together. Then every lane is verified as the single ring is,
//! and the merged timeline (`replaylog::recorder::replay_merged`) is checked: exactly the union of
//! the lanes' windows, strictly ordered by `(timestamp, lane, seq)`, each lane's records in it
//! equal to what the lane replays.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use replaylog::recorder::{self, Lane, Recorder, RecorderOptions};
use replaylog::zerocopy::IntoBytes;
use replaylog::{
    FailureKind, Layout, RecordLayout, RecoveryReport, ReplayFailureEvidence, ReplayRecord, RingLog, RingOptions,
};

use crate::Error;

/// Options of `replaylog demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Wall-clock seconds to record for.
    #[arg(long, default_value_t = 3.0, value_parser = parse_seconds)]
    pub seconds: f64,
    /// Ring capacity in slots.
    #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(1..=u32::MAX as u64))]
    pub capacity: u64,
    /// Ring file (with --threads: recorder directory) to create; it must not exist [default: in a
    /// temporary directory, removed on exit].
    #[arg(long)]
    pub path: Option<PathBuf>,
    /// Run N loops on N threads, each recording into its own lane of a recorder directory
    /// (capacity slots per lane, monotonic timestamps), then verify every lane and the merged
    /// timeline.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub threads: Option<u32>,
    /// Attach failure evidence every N ticks, alternately timeout and backend (0: never).
    #[arg(long, default_value_t = 997)]
    pub failure_every: u64,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|e| format!("{e}"))?;
    if v.is_finite() && v > 0.0 && v <= 86_400.0 { Ok(v) } else { Err("must be in (0, 86400]".into()) }
}

/// One tick of the control loop, as stored in each ring slot (48 bytes, no implicit padding).
/// Its layout (every field but `_pad`) is stored in the demo ring.
#[replaylog::record]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tick {
    /// Tick number (equals the ring seq in a fresh demo file).
    pub tick: u64,
    /// Simulated time: `tick * 1 ms`.
    pub t_ns: u64,
    /// Controller setpoint.
    pub setpoint: f64,
    /// Plant output as measured (with deterministic sensor noise).
    pub measured: f64,
    /// Controller output after clamping.
    pub output: f64,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Zero.
    pub _pad: u32,
}

const _: () = assert!(size_of::<Tick>() == 48);

/// The controller output was clamped this tick.
pub const FLAG_SATURATED: u32 = 1 << 0;
/// Failure evidence was attached to this tick.
pub const FLAG_FAILURE: u32 = 1 << 1;

// The simulated loop: a PID controller (derivative on measurement, conditional-integration
// anti-windup, clamped output) driving a first-order plant, stepped at a nominal 1 kHz.
const DT: f64 = 1e-3;
const TICK_NS: u64 = 1_000_000;
const KP: f64 = 1.2;
const KI: f64 = 8.0;
const KD: f64 = 0.002;
const OUTPUT_MAX: f64 = 1.5;
const PLANT_GAIN: f64 = 2.0;
const PLANT_TAU: f64 = 0.05;
const NOISE_AMPLITUDE: f64 = 1e-3;
const SETPOINTS: [f64; 4] = [0.0, 1.0, 0.25, -0.5];
const SETPOINT_HOLD_TICKS: u64 = 1250;

/// Deterministic simulation: the same sequence of `step` calls yields bit-identical ticks, so the
/// verifier recomputes what the recorder wrote.
struct Sim {
    tick: u64,
    y: f64,
    integral: f64,
    prev_measured: f64,
    rng: u64,
}

impl Sim {
    /// Loop `n`'s simulation: its own sensor noise (loop 0 is the single-ring demo's).
    fn for_loop(n: u64) -> Sim {
        let rng = (0x9E37_79B9_7F4A_7C15u64 ^ n.wrapping_mul(0xD1B5_4A32_D192_ED03)).max(1);
        Sim { tick: 0, y: 0.0, integral: 0.0, prev_measured: 0.0, rng }
    }

    fn step(&mut self, failure: bool) -> Tick {
        let tick = self.tick;
        let setpoint = SETPOINTS[((tick / SETPOINT_HOLD_TICKS) % SETPOINTS.len() as u64) as usize];
        // xorshift64 sensor noise in [-A/2, A/2).
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let noise = ((self.rng >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * NOISE_AMPLITUDE;
        let measured = self.y + noise;
        let error = setpoint - measured;
        let derivative = -(measured - self.prev_measured) / DT;
        let unclamped = KP * error + KI * (self.integral + error * DT) + KD * derivative;
        let output = unclamped.clamp(-OUTPUT_MAX, OUTPUT_MAX);
        let saturated = output != unclamped;
        if !saturated {
            self.integral += error * DT;
        }
        self.prev_measured = measured;
        self.y += DT / PLANT_TAU * (PLANT_GAIN * output - self.y);
        self.tick += 1;
        let flags = if saturated { FLAG_SATURATED } else { 0 } | if failure { FLAG_FAILURE } else { 0 };
        Tick { tick, t_ns: tick * TICK_NS, setpoint, measured, output, flags, _pad: 0 }
    }
}

/// Whether failure evidence is attached at `tick`: ticks `every-1, 2*every-1, ...`.
fn is_failure_tick(tick: u64, every: u64) -> bool {
    every != 0 && (tick + 1) % every == 0
}

/// The evidence attached at a failure tick: odd-numbered failures are timeouts, even ones backend
/// errors.
fn evidence_for(tick: u64, every: u64) -> Option<ReplayFailureEvidence> {
    if !is_failure_tick(tick, every) {
        return None;
    }
    let n = (tick + 1) / every;
    Some(if n % 2 == 1 {
        ReplayFailureEvidence::new(FailureKind::Timeout, 110, format!("tick {tick}: control deadline missed (#{n})"))
    } else {
        ReplayFailureEvidence::new(FailureKind::Backend, 5, format!("tick {tick}: plant I/O error (#{n})"))
    })
}

/// Median and minimum of `pairs` back-to-back `Instant::now()` pairs, in ns.
fn timer_overhead(pairs: usize) -> (u64, u64) {
    let mut samples: Vec<u64> = (0..pairs)
        .map(|_| {
            let a = Instant::now();
            let b = Instant::now();
            (b - a).as_nanos() as u64
        })
        .collect();
    let mid = samples.len() / 2;
    let (_, median, _) = samples.select_nth_unstable(mid);
    let median = *median;
    (median, samples.iter().copied().min().unwrap_or(0))
}

struct Recording {
    total: u64,
    failures: u64,
    elapsed: Duration,
    latency: Histogram<u64>,
}

/// Appends ticks as fast as possible until `run_for` has passed, timing each append. The first
/// `warmup` appends are not recorded in the histogram.
fn record(
    log: &mut RingLog<Tick>,
    sim_loop: u64,
    run_for: Duration,
    every: u64,
    warmup: u64,
) -> Result<Recording, Error> {
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    let mut sim = Sim::for_loop(sim_loop);
    let (mut total, mut failures) = (0u64, 0u64);
    let start = Instant::now();
    loop {
        let failure = evidence_for(total, every);
        let tick = sim.step(failure.is_some());
        let t0 = Instant::now();
        match &failure {
            None => log.append(&tick)?,
            Some(ev) => log.append_with_failure(&tick, ev)?,
        }
        let t1 = Instant::now();
        if total >= warmup {
            latency.saturating_record((t1 - t0).as_nanos() as u64);
        }
        total += 1;
        failures += failure.is_some() as u64;
        if t1 - start >= run_for {
            break;
        }
    }
    Ok(Recording { total, failures, elapsed: start.elapsed(), latency })
}

struct Check {
    pass: bool,
    what: String,
}

impl Check {
    fn new(pass: bool, what: impl Into<String>) -> Check {
        Check { pass, what: what.into() }
    }
}

/// Verifies the replayed window of a fresh demo ring that received `total` appends of loop
/// `sim_loop`.
fn verify(
    sim_loop: u64,
    replayed: &[ReplayRecord<Tick>],
    total: u64,
    capacity: u64,
    every: u64,
    report: &RecoveryReport,
    layout: Option<&Layout>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    let expected_len = total.min(capacity);
    let len = replayed.len() as u64;
    checks.push(Check::new(
        len == expected_len,
        format!("window holds {len} records, expected min(total {total}, capacity {capacity}) = {expected_len}"),
    ));

    let first = total.saturating_sub(len);
    let gap = replayed.iter().enumerate().find(|(i, r)| r.seq != first + *i as u64);
    let last = replayed.last().map(|r| r.seq);
    let seqs_ok = gap.is_none() && last == total.checked_sub(1);
    checks.push(Check::new(
        seqs_ok,
        match (gap, last) {
            (Some((i, r)), _) => {
                format!("seqs not contiguous: item {i} has seq {}, expected {}", r.seq, first + i as u64)
            }
            (None, Some(l)) => format!("seqs contiguous {first}..={l}, last expected {}", total.wrapping_sub(1)),
            (None, None) => "no records replayed".to_string(),
        },
    ));

    if !seqs_ok {
        checks.push(Check::new(false, "records and evidence not checked (seqs are wrong)"));
    } else {
        // Recompute the whole run and compare every tick still in the window, bit for bit.
        let mut sim = Sim::for_loop(sim_loop);
        let (mut record_mismatches, mut first_mismatch) = (0u64, None);
        let (mut ev_expected, mut ev_ok, mut ev_wrong, mut first_ev_problem) = (0u64, 0u64, 0u64, None);
        for tick in 0..total {
            let expected_ev = evidence_for(tick, every);
            let expected = sim.step(expected_ev.is_some());
            let Some(seq_in_window) = tick.checked_sub(first) else { continue };
            let got = &replayed[seq_in_window as usize];
            if got.record.as_bytes() != expected.as_bytes() {
                record_mismatches += 1;
                first_mismatch.get_or_insert((tick, got.record, expected));
            }
            ev_expected += expected_ev.is_some() as u64;
            if got.evidence == expected_ev {
                ev_ok += expected_ev.is_some() as u64;
            } else {
                ev_wrong += 1;
                first_ev_problem.get_or_insert((tick, got.evidence.clone(), expected_ev));
            }
        }
        checks.push(Check::new(
            record_mismatches == 0,
            match first_mismatch {
                None => format!("all {len} records equal the recomputed simulation (every field, bit for bit)"),
                Some((t, got, want)) => {
                    format!("{record_mismatches} records differ; first at seq {t}: got {got:?}, expected {want:?}")
                }
            },
        ));
        checks.push(Check::new(
            ev_wrong == 0,
            match first_ev_problem {
                None => format!(
                    "evidence on exactly the {ev_expected} failure ticks in the window, kind/code/message verified: \
                     {ev_ok}/{ev_expected}"
                ),
                Some((t, got, want)) => {
                    format!("{ev_wrong} ticks with wrong evidence; first at seq {t}: got {got:?}, expected {want:?}")
                }
            },
        ));
    }

    checks.push(Check::new(layout == Some(&Tick::layout()), "stored layout equals Tick::layout()"));

    let window = total.checked_sub(1).map(|last| (first, last));
    let recovery_ok =
        !report.created && report.window == window && report.synced_next == total && report.slots_damaged == 0;
    let show = |w: Option<(u64, u64)>| w.map_or("none".to_string(), |(a, b)| format!("{a}..={b}"));
    let mut what = format!("recovery report: window {}, synced watermark {total}, 0 damaged slots", show(window));
    if !recovery_ok {
        let _ = write!(
            what,
            " (found created {}, window {}, watermark {}, {} damaged)",
            report.created,
            show(report.window),
            report.synced_next,
            report.slots_damaged
        );
    }
    checks.push(Check::new(recovery_ok, what));
    checks
}

fn format_recovery(r: &RecoveryReport) -> String {
    let mut s = String::new();
    let window = r.window.map_or("none".to_string(), |(a, b)| format!("{a}..={b}"));
    let anchor = r.anchor.map_or("none".to_string(), |a| format!("{a:?}"));
    let cursor = r.cursor_hint.map_or("garbled".to_string(), |c| c.to_string());
    let _ = writeln!(
        s,
        "  created {}, epoch {}, window {window}, anchor {anchor}, synced_next {}, cursor hint {cursor}",
        r.created, r.epoch, r.synced_next
    );
    let _ = write!(
        s,
        "  slots: {} valid, {} never written, {} damaged, {} outside window; state copies valid {}/2; \
         header repaired {}",
        r.slots_valid,
        r.slots_never_written,
        r.slots_damaged,
        r.slots_outside_window,
        r.state_copies_valid,
        r.header_copy_repaired
    );
    s
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Prints the latency table of `h`.
fn print_latency(h: &Histogram<u64>) {
    if h.is_empty() {
        println!("  n/a: the run did not complete one lap; use a longer --seconds or a smaller --capacity");
    } else {
        println!("  {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}", "p50", "p99", "p99.9", "p99.99", "max", "mean");
        println!(
            "  {:>8} {:>8} {:>8} {:>8} {:>8} {:>8.1}",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.value_at_quantile(0.9999),
            h.max(),
            h.mean()
        );
    }
}

/// The lane of loop `i`.
fn lane_name(i: u32) -> String {
    format!("loop-{i}")
}

/// Checks the merged timeline of `dir` against each lane's own replay (`lanes[i]` is loop `i`'s).
fn verify_merged(dir: &Path, lanes: &[(String, Vec<ReplayRecord<Tick>>)]) -> Result<Vec<Check>, Error> {
    let t = Instant::now();
    let merged = recorder::replay_merged(dir)?;
    let took = t.elapsed();
    let expected: usize = lanes.iter().map(|(_, r)| r.len()).sum();
    let mut checks = vec![Check::new(
        merged.len() == expected,
        format!(
            "merged timeline holds {} records, the lanes' windows {expected} (replay_merged in {})",
            merged.len(),
            ms(took)
        ),
    )];
    let unordered = merged.windows(2).position(|w| w[0].key() >= w[1].key());
    checks.push(Check::new(
        unordered.is_none() && merged.iter().all(|r| r.timestamp_ns.is_some()),
        match unordered {
            None => "every record stamped, strictly ordered by (timestamp, lane, seq)".to_string(),
            Some(i) => format!("out of order at item {i}: {:?} then {:?}", merged[i].key(), merged[i + 1].key()),
        },
    ));
    for (name, replayed) in lanes {
        let mine: Vec<_> = merged.iter().filter(|r| &*r.lane == name).collect();
        let same = mine.len() == replayed.len()
            && mine.iter().zip(replayed).all(|(m, r)| {
                m.seq == r.seq
                    && m.timestamp_ns == r.timestamp_ns
                    && m.bytes == r.record.as_bytes()
                    && m.evidence == r.evidence
            });
        checks.push(Check::new(
            same,
            format!(
                "lane {name}: its {} records in the merged timeline equal its own replay (seq, stamp, record, evidence; \
                 replay has {})",
                mine.len(),
                replayed.len()
            ),
        ));
    }
    Ok(checks)
}

/// `demo --threads N`: N loops into N lanes of a recorder directory, then verify.
fn run_lanes(args: &DemoArgs, threads: u32) -> Result<ExitCode, Error> {
    let (_tempdir, dir) = demo_path(args, "demo.recorder", "directory")?;
    let (capacity, every) = (args.capacity, args.failure_every);
    println!(
        "replaylog demo: {threads} PID loops on {threads} threads, one lane each, {} B Tick records, capacity \
         {capacity} slots per lane, monotonic timestamps, {} s",
        size_of::<Tick>(),
        args.seconds
    );
    let opts = RecorderOptions::default().capacity_slots(capacity).prefault(true).layout_of::<Tick>();
    let rec: Recorder<Tick> = Recorder::open(&dir, opts)?;
    let t = Instant::now();
    let lanes: Vec<Lane<Tick>> = (0..threads).map(|i| rec.lane(&lane_name(i))).collect::<replaylog::Result<_>>()?;
    println!("  open       {threads} lanes created with prefault in {}", ms(t.elapsed()));
    let run_for = Duration::from_secs_f64(args.seconds);
    let start = Arc::new(Barrier::new(threads as usize));
    let handles: Vec<_> = lanes
        .into_iter()
        .enumerate()
        .map(|(i, mut lane)| {
            let start = start.clone();
            std::thread::spawn(move || -> Result<(Recording, Duration), Error> {
                start.wait();
                let rec = record(&mut lane, i as u64, run_for, every, capacity)?;
                let t = Instant::now();
                lane.sync()?;
                Ok((rec, t.elapsed()))
            })
        })
        .collect();
    let mut recordings = Vec::new();
    for h in handles {
        recordings.push(h.join().map_err(|_| "a recording thread panicked")??);
    }
    println!("record");
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)?;
    for (i, (r, sync)) in recordings.iter().enumerate() {
        println!(
            "  lane {:<8} {} appends in {:.3} s = {:.2} M appends/s, {} failures injected, sync {}",
            lane_name(i as u32),
            r.total,
            r.elapsed.as_secs_f64(),
            r.total as f64 / r.elapsed.as_secs_f64() / 1e6,
            r.failures,
            ms(*sync)
        );
        latency.add(&r.latency)?;
    }
    let total: u64 = recordings.iter().map(|(r, _)| r.total).sum();
    let secs = recordings.iter().map(|(r, _)| r.elapsed.as_secs_f64()).fold(0.0, f64::max);
    println!("  all lanes  {total} appends, {:.2} M appends/s together", total as f64 / secs / 1e6);
    println!(
        "append latency, ns, all lanes (each append stamps CLOCK_MONOTONIC); warm-up excluded: each lane's first lap; \
         {} samples",
        latency.len()
    );
    print_latency(&latency);

    // Each lane reopened by a writer (its recovery report checked) and replayed, then the merged
    // timeline checked against those replays.
    let mut checks = Vec::new();
    let mut replays = Vec::new();
    for (i, (r, _)) in recordings.iter().enumerate() {
        let name = lane_name(i as u32);
        let lane = rec.lane(&name)?;
        let replayed = lane.replay_records()?;
        for c in verify(i as u64, &replayed, r.total, capacity, every, lane.recovery(), lane.layout()) {
            checks.push(Check::new(c.pass, format!("lane {name}: {}", c.what)));
        }
        replays.push((name, replayed));
    }
    checks.extend(verify_merged(&dir, &replays)?);
    let failed = checks.iter().filter(|c| !c.pass).count();
    println!("verify");
    for c in &checks {
        println!("  {} {}", if c.pass { "PASS" } else { "FAIL" }, c.what);
    }
    println!(
        "directory {} ({} lanes{})",
        dir.display(),
        threads,
        if args.path.is_none() { ", temporary: removed on exit" } else { "" }
    );
    Ok(verdict(failed, checks.len()))
}

/// Prints the result line: exit 0 when every check passed, 1 otherwise.
fn verdict(failed: usize, checks: usize) -> ExitCode {
    if failed == 0 {
        println!("result: PASS");
        ExitCode::SUCCESS
    } else {
        println!("result: FAIL ({failed} of {checks} checks failed)");
        ExitCode::from(1)
    }
}

/// Where the demo records: `--path` (which must not exist yet), else `name` in a new temporary
/// directory, returned too so that it lives (and is removed) with the caller's scope.
fn demo_path(args: &DemoArgs, name: &str, what: &str) -> Result<(Option<tempfile::TempDir>, PathBuf), Error> {
    let (tmp, path) = match &args.path {
        Some(p) => (None, p.clone()),
        None => {
            let tmp = tempfile::Builder::new().prefix("replaylog-demo-").tempdir()?;
            let path = tmp.path().join(name);
            (Some(tmp), path)
        }
    };
    if path.exists() {
        return Err(format!(
            "{} already exists; the demo needs a new {what} (remove it or pick another --path)",
            path.display()
        )
        .into());
    }
    Ok((tmp, path))
}

/// Runs the demo. `Ok(1)` when a verification check fails.
pub fn run(args: &DemoArgs) -> Result<ExitCode, Error> {
    if let Some(threads) = args.threads {
        return run_lanes(args, threads);
    }
    let (_tempdir, path) = demo_path(args, "demo.ring", "file")?;
    let capacity = args.capacity;
    let every = args.failure_every;

    println!(
        "replaylog demo: PID loop on a first-order plant, {} B Tick records, capacity {capacity} slots, {} s",
        size_of::<Tick>(),
        args.seconds
    );
    let (timer_median, timer_min) = timer_overhead(200_000);
    println!(
        "  timer      Instant::now() back-to-back pair: median {timer_median} ns, min {timer_min} ns (200000 pairs)"
    );

    let t = Instant::now();
    let mut log: RingLog<Tick> =
        RingLog::open_with(&path, capacity, RingOptions::default().prefault(true).layout_of::<Tick>())?;
    let open_time = t.elapsed();
    println!("  open       created with prefault in {}", ms(open_time));

    let rec = record(&mut log, 0, Duration::from_secs_f64(args.seconds), every, capacity)?;
    let t = Instant::now();
    log.sync()?;
    let sync_time = t.elapsed();
    drop(log);

    let total = rec.total;
    println!("record");
    println!(
        "  appends    {total} in {:.3} s = {:.2} M appends/s (loop incl. simulation, 2 timer reads, histogram)",
        rec.elapsed.as_secs_f64(),
        total as f64 / rec.elapsed.as_secs_f64() / 1e6
    );
    println!("  failures   {} injected (every {every} ticks, timeout/backend alternating)", rec.failures);
    println!("  sync       {}", ms(sync_time));
    let h = &rec.latency;
    println!(
        "append latency, ns: raw append + timer read (timer pair median {timer_median} ns, not subtracted); \
         warm-up excluded: first {} appends (first lap); {} samples",
        capacity.min(total),
        h.len()
    );
    print_latency(h);

    // Reopen as a reader that knows nothing but the record type: the layout comes from the file.
    let t = Instant::now();
    let log: RingLog<Tick> = RingLog::open(&path, capacity)?;
    let reopen_time = t.elapsed();
    let t = Instant::now();
    let replayed = log.replay_records()?;
    let replay_time = t.elapsed();
    println!(
        "reopen (RingLog::open in {}, replay_records of {} in {})",
        ms(reopen_time),
        replayed.len(),
        ms(replay_time)
    );
    println!("{}", format_recovery(log.recovery()));

    let checks = verify(0, &replayed, total, capacity, every, log.recovery(), log.layout());
    let failed = checks.iter().filter(|c| !c.pass).count();
    drop(log);

    println!("verify");
    for c in &checks {
        println!("  {} {}", if c.pass { "PASS" } else { "FAIL" }, c.what);
    }
    let in_window = replayed.iter().filter(|r| r.evidence.is_some()).count();
    println!("failures: {} injected, {in_window} still in the replay window and checked", rec.failures);
    let size = std::fs::metadata(&path)?.len();
    println!(
        "file {} ({size} bytes = {:.1} MiB{})",
        path.display(),
        mib(size),
        if args.path.is_none() { ", temporary: removed on exit" } else { "" }
    );
    Ok(verdict(failed, checks.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn tick_layout_is_the_one_demo_rings_have_always_stored() {
        use replaylog::{Field, FieldType};
        // The hand-written layout the derive replaced.
        let stored = Layout::new(
            "Tick",
            vec![
                Field::new("tick", FieldType::U64, 0),
                Field::new("t_ns", FieldType::U64, 8),
                Field::new("setpoint", FieldType::F64, 16),
                Field::new("measured", FieldType::F64, 24),
                Field::new("output", FieldType::F64, 32),
                Field::new("flags", FieldType::U32, 40),
            ],
        );
        assert_eq!(Tick::layout().encode(), stored.encode());
    }

    #[test]
    fn tick_layout_is_valid_and_covers_the_record() {
        let layout = Tick::layout();
        layout.check(size_of::<Tick>() as u32).unwrap();
        let covered: u64 = layout.fields.iter().map(|f| f.span()).sum();
        assert_eq!(covered, size_of::<Tick>() as u64 - 4); // all but `_pad`
    }

    #[test]
    fn simulation_is_deterministic_and_bounded() {
        let (mut a, mut b) = (Sim::for_loop(0), Sim::for_loop(0));
        for t in 0..100_000 {
            let (x, y) = (a.step(is_failure_tick(t, 997)), b.step(is_failure_tick(t, 997)));
            assert_eq!(x.as_bytes(), y.as_bytes());
            assert!(x.measured.abs() < 10.0 && x.output.abs() <= OUTPUT_MAX);
        }
    }

    #[test]
    fn failure_schedule_alternates() {
        assert_eq!(evidence_for(0, 997), None);
        assert_eq!(evidence_for(996, 997).unwrap().kind, FailureKind::Timeout);
        assert_eq!(evidence_for(1993, 997).unwrap().kind, FailureKind::Backend);
        assert_eq!(evidence_for(996, 0), None);
    }

    #[test]
    fn verify_flags_a_wrong_record() {
        let dir = tempfile::tempdir().unwrap();
        let path: &Path = &dir.path().join("t.ring");
        let mut log: RingLog<Tick> = RingLog::open_with(path, 64, RingOptions::default().layout_of::<Tick>()).unwrap();
        let mut sim = Sim::for_loop(0);
        for t in 0..100 {
            let ev = evidence_for(t, 7);
            let mut tick = sim.step(ev.is_some());
            if t == 90 {
                tick.output += 1.0;
            }
            match ev {
                None => log.append(&tick).unwrap(),
                Some(ev) => log.append_with_failure(&tick, &ev).unwrap(),
            }
        }
        log.sync().unwrap();
        let replayed = log.replay_records().unwrap();
        let checks = verify(0, &replayed, 100, 64, 7, log.recovery(), log.layout());
        let failed: Vec<_> = checks.iter().filter(|c| !c.pass).map(|c| c.what.as_str()).collect();
        // The record mismatch, plus the recovery check (this handle's report is from creation).
        assert_eq!(failed.len(), 2, "{failed:?}");
        assert!(failed[0].contains("first at seq 90"), "{failed:?}");
    }
}
