//! What a [`Freezer`] attached to a ring costs its writer, and what it catches: the writer's
//! append latency with and without a freezer following the ring, in interleaved rounds, and the
//! completeness of the captures written meanwhile.
//!
//! ```sh
//! cargo run --release --example freeze_bench -- [--appends 10000000] [--rounds 3] \
//!     [--failure-every 100000] [--before 1000] [--after 1000] [--capacity 1048576] [--dir /var/tmp] \
//!     [--rate APPENDS_PER_S]
//! ```
//!
//! Each round runs both modes on a fresh ring (48-byte records, one lap written first so page
//! faults are not timed): `none` (no reader) and `freezer` (a `Freezer` on its own thread,
//! before/after as given, a trigger every `--failure-every` appends: the writer appends the
//! same failure evidence in both modes). Every append is bracketed by two `Instant::now()`
//! reads and the difference kept (so each figure includes one timer pair, reported on its
//! own); percentiles are exact (sorted samples). `--rate` paces the writer (a loop at that
//! frequency, spinning untimed until each append is due) instead of full speed. The writer is the main thread; the freezer's
//! thread runs wherever the scheduler puts it (on a 2-core machine: the other core).
//!
//! Prints one Markdown row per round and mode, then the pooled rows, then completeness: the
//! captures written, how many hold every seq of their window, and the seqs the writer
//! overwrote before the freezer read them.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use replaylog::freeze::{FreezeOptions, Freezer};
use replaylog::{FailureKind, ReplayFailureEvidence, RingLog};

#[replaylog::record(name = "tick")]
#[derive(Clone, Copy)]
struct Tick {
    tick: u64,
    t_ns: u64,
    setpoint: f64,
    measured: f64,
    output: f64,
    flags: u64,
}

struct Args {
    appends: u64,
    rounds: u32,
    failure_every: u64,
    before: u64,
    after: u64,
    capacity: u64,
    dir: PathBuf,
    /// Appends per second (0: as fast as possible).
    rate: u64,
}

fn args() -> Args {
    let mut a = Args {
        appends: 10_000_000,
        rounds: 3,
        failure_every: 100_000,
        before: 1000,
        after: 1000,
        capacity: 1 << 20,
        dir: std::env::temp_dir(),
        rate: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--appends" => a.appends = value().parse().expect("--appends N"),
            "--rounds" => a.rounds = value().parse().expect("--rounds N"),
            "--failure-every" => a.failure_every = value().parse().expect("--failure-every N"),
            "--before" => a.before = value().parse().expect("--before N"),
            "--after" => a.after = value().parse().expect("--after N"),
            "--capacity" => a.capacity = value().parse().expect("--capacity N"),
            "--dir" => a.dir = value().into(),
            "--rate" => a.rate = value().parse().expect("--rate APPENDS_PER_S"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

/// Exact percentiles of sorted samples (ns).
fn row(label: &str, sorted: &[u32]) -> String {
    let p = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    let mean = sorted.iter().map(|&x| x as f64).sum::<f64>() / sorted.len() as f64;
    format!(
        "| {label} | {} | {} | {} | {} | {} | {} | {:.1} |",
        sorted.len(),
        p(0.5),
        p(0.99),
        p(0.999),
        p(0.9999),
        sorted[sorted.len() - 1],
        mean
    )
}

struct Caught {
    captures: u64,
    complete: u64,
    exact: u64,
    missed: u64,
    suppressed: u64,
    triggers: u64,
}

/// One timed run; the latencies (ns) and, with a freezer, what it caught.
fn run(a: &Args, freezer: bool, round: u32) -> (Vec<u32>, Option<Caught>) {
    let dir = tempfile::Builder::new().prefix("freeze-bench").tempdir_in(&a.dir).expect("scratch dir");
    let path = dir.path().join("loop.ring");
    let mut log: RingLog<Tick> = RingLog::open(&path, a.capacity).expect("ring");
    let mut t = Tick { tick: 0, t_ns: 0, setpoint: 0.5, measured: 0.25, output: 0.1, flags: 0 };
    for i in 0..a.capacity {
        t.tick = i;
        log.append(&t).expect("append");
    }
    let ev = ReplayFailureEvidence::new(FailureKind::Timeout, 110, "deadline missed");
    let (tx, rx) = std::sync::mpsc::channel();
    let f = freezer.then(|| {
        let opts = FreezeOptions::default().before(a.before).after(a.after);
        let to = dir.path().join(format!("frozen-{round}"));
        Freezer::start_with(&path, to, opts, move |c| {
            let _ = tx.send((c.is_complete(), c.records));
        })
        .expect("freezer")
    });
    let mut lat = Vec::with_capacity(a.appends as usize);
    let start = Instant::now();
    for i in 0..a.appends {
        if let Some(due_ns) = (i * 1_000_000_000).checked_div(a.rate) {
            // Paced: spin until this append is due (a loop at `rate` Hz), untimed.
            let due = start + std::time::Duration::from_nanos(due_ns);
            while Instant::now() < due {
                std::hint::spin_loop();
            }
        }
        t.tick = i;
        t.t_ns = i * 1000;
        let fail = i % a.failure_every == a.failure_every / 2;
        let t0 = Instant::now();
        if fail {
            log.append_with_failure(black_box(&t), &ev).expect("append");
        } else {
            log.append(black_box(&t)).expect("append");
        }
        let t1 = Instant::now();
        lat.push(t1.duration_since(t0).as_nanos().min(u32::MAX as u128) as u32);
    }
    let caught = f.map(|f| {
        let stats = f.stop().expect("stop");
        let all: Vec<(bool, u64)> = rx.try_iter().collect();
        let window = a.before + a.after + 1;
        Caught {
            captures: stats.captures,
            complete: all.iter().filter(|c| c.0).count() as u64,
            exact: all.iter().filter(|c| c.0 && c.1 == window).count() as u64,
            missed: stats.missed,
            suppressed: stats.suppressed_rate + stats.suppressed_bytes,
            triggers: stats.triggers,
        }
    });
    lat.sort_unstable();
    (lat, caught)
}

fn main() {
    let a = args();
    let mut timer: Vec<u32> = (0..1_000_000)
        .map(|_| {
            let t0 = Instant::now();
            let t1 = Instant::now();
            t1.duration_since(t0).as_nanos() as u32
        })
        .collect();
    timer.sort_unstable();
    println!(
        "appends per run {} at {}, rounds {}, a failure every {} appends, before {} after {}, ring {} slots of 48 B; \
         timer pair p50 {} ns (included in every figure)",
        a.appends,
        if a.rate == 0 { "full speed".to_string() } else { format!("{} appends/s", a.rate) },
        a.rounds,
        a.failure_every,
        a.before,
        a.after,
        a.capacity,
        timer[timer.len() / 2]
    );
    println!("| run | appends | p50 ns | p99 ns | p99.9 ns | p99.99 ns | max ns | mean ns |");
    println!("|---|---|---|---|---|---|---|---|");
    let (mut none_all, mut frz_all) = (Vec::new(), Vec::new());
    let mut caught_rows = Vec::new();
    for round in 0..a.rounds {
        let (lat, _) = run(&a, false, round);
        println!("{}", row(&format!("round {round}, no freezer"), &lat));
        none_all.extend_from_slice(&lat);
        let (lat, caught) = run(&a, true, round);
        println!("{}", row(&format!("round {round}, freezer attached"), &lat));
        frz_all.extend_from_slice(&lat);
        caught_rows.push(caught.expect("freezer mode"));
    }
    none_all.sort_unstable();
    frz_all.sort_unstable();
    println!("{}", row("**all rounds, no freezer**", &none_all));
    println!("{}", row("**all rounds, freezer attached**", &frz_all));
    println!();
    println!(
        "| round | triggers | captures | complete | exactly before+1+after records | suppressed | seqs missed by the freezer |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (round, c) in caught_rows.iter().enumerate() {
        println!(
            "| {round} | {} | {} | {} | {} | {} | {} |",
            c.triggers, c.captures, c.complete, c.exact, c.suppressed, c.missed
        );
    }
}
