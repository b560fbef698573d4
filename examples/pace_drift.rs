//! Measures how closely `replaylog::replay::Paced` keeps a recorded schedule on this machine:
//! a synthetic capture is paced at 1x on the real clock and the lateness of every release
//! (actual − scheduled) is summarised. No I/O: what is measured is the clock and the scheduler.
//!
//! ```sh
//! cargo run --release --example pace_drift -- --workload 1khz --seconds 3 [--spin-us 200] [--label idle]
//! cargo run --release --example pace_drift -- --workload 1khz --seconds 3 --write-ring /tmp/x.ring
//! ```
//!
//! Workloads: `1khz` (one record every ms), `10khz` (every 100 µs), `bursts` (100 records 1 µs
//! apart every 10 ms: 10,000 records/s on average, arriving in clumps). Prints one Markdown
//! table row: workload, label, spin, records, p50, p90, p99, max, mean lateness, and the CPU
//! the process used (user + system, from /proc/self/stat) as a share of one core.
//!
//! `--write-ring PATH` instead writes the capture to a ring (clock `Caller`, stamps as the
//! workload says) for `replaylog dump PATH --pace 1` to replay end to end (tools/bench-pace.sh).

use std::time::{Duration, Instant};

use replaylog::replay::{DEFAULT_SPIN, Paced, RealClock, Speed};
use replaylog::{Clock, RingLog, RingOptions};

#[replaylog::record(name = "sample")]
#[derive(Clone, Copy)]
struct Sample {
    seq: u64,
    value: f64,
}

/// The recorded times (ns) of `seconds` of `workload`.
fn schedule(workload: &str, seconds: f64) -> Vec<u64> {
    let span_ns = (seconds * 1e9) as u64;
    match workload {
        "1khz" => (0..span_ns / 1_000_000).map(|i| i * 1_000_000).collect(),
        "10khz" => (0..span_ns / 100_000).map(|i| i * 100_000).collect(),
        "bursts" => (0..span_ns / 10_000_000).flat_map(|b| (0..100).map(move |k| b * 10_000_000 + k * 1_000)).collect(),
        other => panic!("unknown workload {other:?} (1khz, 10khz, bursts)"),
    }
}

/// User + system CPU time of this process, from /proc/self/stat (clock ticks of 10 ms).
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 14th field overall.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
    let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 10)
}

fn us(ns: u64) -> String {
    format!("{:.1} µs", ns as f64 / 1e3)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let workload = opt("--workload").unwrap_or_else(|| "1khz".into());
    let seconds: f64 = opt("--seconds").map_or(3.0, |s| s.parse().expect("--seconds S"));
    let spin = opt("--spin-us").map_or(DEFAULT_SPIN, |s| Duration::from_micros(s.parse().expect("--spin-us N")));
    let label = opt("--label").unwrap_or_else(|| "idle".into());
    let times = schedule(&workload, seconds);

    if let Some(path) = opt("--write-ring") {
        let opts = RingOptions::default().layout_of::<Sample>().clock(Clock::Caller);
        let _ = std::fs::remove_file(&path);
        let mut log: RingLog<Sample> = RingLog::open_with(&path, times.len() as u64, opts).expect("open the ring");
        for (i, &t) in times.iter().enumerate() {
            log.append_at(t, &Sample { seq: i as u64, value: i as f64 * 0.5 }).expect("append");
        }
        log.sync().expect("sync");
        eprintln!("wrote {} records ({workload}, {seconds} s) to {path}", times.len());
        return;
    }

    let cpu_before = cpu_time();
    let start = Instant::now();
    let mut paced = Paced::with_clock(times.iter(), Speed::REALTIME, |t| Some(**t), RealClock::new().with_spin(spin));
    let mut sink = 0u64;
    for r in paced.by_ref() {
        sink = sink.wrapping_add(*r.item); // the "system under test": nothing
    }
    let wall = start.elapsed();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let d = paced.drift();
    assert_eq!(d.released as usize, times.len() + (sink == u64::MAX) as usize);
    println!(
        "| {workload} | {label} | {} µs | {} | {} | {} | {} | {} | {} | {:.0} % |",
        spin.as_micros(),
        d.released,
        us(d.p50_ns),
        us(d.p90_ns),
        us(d.p99_ns),
        us(d.max_ns),
        us(d.mean_ns),
        100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
    );
}
