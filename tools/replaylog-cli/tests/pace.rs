//! `replaylog dump --pace SPEED [--time FIELD[:UNIT]]` (issue 20, item 4), run as a harness runs
//! it: every record comes out, in order, exactly as `dump` prints it unpaced, with the drift
//! summary on stderr; the time comes from the timestamps or from `--time`; every input without a
//! time, and every bad option, is refused with status 2 naming what is wrong, before anything
//! is printed. Time is never asserted from above: a paced run may only be checked to take at
//! least its recorded span divided by the speed (nothing can be released early).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use replaylog::recorder::{Recorder, RecorderOptions};
use replaylog::{Clock, FailureKind, Journal, JournalOptions, ReplayFailureEvidence, RingLog, RingOptions};

/// A tick of a control loop: `t_us` is its simulated time, `offset` a signed time in ms.
#[replaylog::record(name = "tick")]
#[derive(Clone, Copy, Debug)]
struct Tick {
    tick: u64,
    t_us: u64,
    offset_ms: i32,
    value: f32,
}

fn tick(i: u64) -> Tick {
    Tick { tick: i, t_us: 10_000 + 5_000 * i, offset_ms: -50 + 10 * i as i32, value: i as f32 * 0.5 }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replaylog")).args(args).output().unwrap()
}

/// Runs `args`, which must exit with `code`; (stdout, stderr, how long it took).
fn expect(args: &[&str], code: i32) -> (String, String, Duration) {
    let start = Instant::now();
    let out = run(args);
    let took = start.elapsed();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(code), "{args:?}: stderr {stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr, took)
}

/// A ring of `n` ticks stamped by the caller at `stamp(i)` ns, one with failure evidence.
fn stamped_ring(path: &Path, n: u64, stamp: impl Fn(u64) -> u64) {
    let opts = RingOptions::default().layout_of::<Tick>().clock(Clock::Caller);
    let mut log: RingLog<Tick> = RingLog::open_with(path, 256, opts).unwrap();
    for i in 0..n {
        if i == 3 {
            let ev = ReplayFailureEvidence::new(FailureKind::Timeout, 110, "deadline missed");
            log.append_with_failure_at(stamp(i), &tick(i), &ev).unwrap();
        } else {
            log.append_at(stamp(i), &tick(i)).unwrap();
        }
    }
    log.sync().unwrap();
}

/// A ring of `n` ticks without a clock.
fn clockless_ring(path: &Path, n: u64) {
    let opts = RingOptions::default().layout_of::<Tick>();
    let mut log: RingLog<Tick> = RingLog::open_with(path, 256, opts).unwrap();
    for i in 0..n {
        log.append(&tick(i)).unwrap();
    }
    log.sync().unwrap();
}

#[test]
fn paced_records_come_out_in_order_exactly_as_dump_prints_them() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("run.ring");
    // 40 records 5 ms apart: a span of 195 ms.
    stamped_ring(&ring, 40, |i| 5_000_000_000 + i * 5_000_000);
    for json in [true, false] {
        let mut plain = vec!["dump", s(&ring)];
        if json {
            plain.push("--json");
        }
        let (reference, _, _) = expect(&plain, 0);
        assert_eq!(reference.lines().count(), 40);
        let paced = [plain.as_slice(), &["--pace", "1"]].concat();
        let (out, err, took) = expect(&paced, 0);
        assert_eq!(out, reference, "{paced:?}");
        assert!(took >= Duration::from_millis(195), "{paced:?} took {took:?}, less than the recorded span");
        assert!(err.starts_with("replaylog: paced 40 records at 1x: lateness p50 "), "{err}");
        assert!(err.contains(", p99 ") && err.contains(", max ") && err.lines().count() == 1, "{err}");
    }
    // Twice as fast: at least half the span; --from and --limit still apply.
    let (out, err, took) = expect(&["dump", s(&ring), "--json", "--pace", "2", "--from", "10", "--limit", "21"], 0);
    let seqs: Vec<u64> =
        out.lines().map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (10..31).collect::<Vec<_>>());
    assert!(took >= Duration::from_millis(50), "took {took:?}");
    assert!(err.starts_with("replaylog: paced 21 records at 2x: "), "{err}");
    // The failure evidence travels with its record.
    assert!(out.contains(r#""evidence":null"#));
    let (all, _, _) = expect(&["dump", s(&ring), "--json", "--pace", "max"], 0);
    assert!(all.lines().nth(3).unwrap().contains(r#""message":"deadline missed""#), "{all}");
}

#[test]
fn a_speed_so_high_that_the_run_is_instant_still_yields_every_record() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("slow.ring");
    // 200 records an hour apart: 199 hours recorded.
    stamped_ring(&ring, 200, |i| i * 3_600_000_000_000);
    let (reference, _, _) = expect(&["dump", s(&ring), "--json"], 0);
    for speed in ["1e12", "max", "inf"] {
        let (out, err, _) = expect(&["dump", s(&ring), "--json", "--pace", speed], 0);
        assert_eq!(out, reference, "{speed}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("200 records"), "{err}");
    }
    let (_, err, _) = expect(&["dump", s(&ring), "--pace", "max"], 0);
    assert_eq!(err, "replaylog: replayed 200 records at max speed (not paced, no lateness measured)\n");
}

#[test]
fn the_time_field_paces_a_ring_without_a_clock() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("noclock.ring");
    clockless_ring(&ring, 25); // t_us 5 ms apart: a span of 120 ms; offset_ms 10 ms apart: 240 ms
    let (reference, _, _) = expect(&["dump", s(&ring), "--json"], 0);
    for (time, speed, span_ms) in
        [("t_us:us", "1", 120), ("t_us:us", "0.5", 240), ("offset_ms:ms", "2", 120), ("t_us", "0.001", 120)]
    {
        let (out, err, took) = expect(&["dump", s(&ring), "--json", "--pace", speed, "--time", time], 0);
        assert_eq!(out, reference, "{time}");
        assert!(took >= Duration::from_millis(span_ms), "--time {time} --pace {speed} took {took:?}");
        assert!(err.starts_with("replaylog: paced 25 records at "), "{err}");
    }
    // --time wins over the timestamps: stamps 1 ns apart, t_us 5 ms apart.
    let stamped = tmp.path().join("stamped.ring");
    stamped_ring(&stamped, 25, |i| i);
    let (out, _, took) = expect(&["dump", s(&stamped), "--pace", "1", "--time", "t_us:us"], 0);
    assert_eq!(out.lines().count(), 25);
    assert!(took >= Duration::from_millis(120), "took {took:?}: paced by the timestamps");
}

#[test]
fn records_without_a_time_are_refused_naming_the_path() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("noclock.ring");
    clockless_ring(&ring, 5);
    let (out, err, _) = expect(&["dump", s(&ring), "--json", "--pace", "1"], 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.starts_with(&format!("replaylog: {}: the records carry no timestamps", s(&ring))), "{err}");
    assert!(err.contains("pass --time FIELD"), "{err}");
    // An archive of it: known from its records.
    let archive = tmp.path().join("noclock.archive");
    expect(&["export", s(&ring), "--to", &format!("journal:{}", s(&archive))], 0);
    let (out, err, _) = expect(&["dump", s(&archive), "--pace", "1"], 2);
    assert!(out.is_empty() && err.contains(&format!("{}: the records carry no timestamps", s(&archive))), "{err}");
    // ... and paced by a field.
    let (out, _, _) = expect(&["dump", s(&archive), "--pace", "10", "--time", "t_us:us"], 0);
    assert_eq!(out.lines().count(), 5);
    // A plain journal holds entries, not records.
    let journal = tmp.path().join("plain.journal");
    let j = Journal::open(&journal, JournalOptions::default()).unwrap();
    j.write(b"hello").unwrap();
    j.close().unwrap();
    let (out, err, _) = expect(&["dump", s(&journal), "--pace", "1"], 2);
    assert!(out.is_empty(), "{out}");
    assert!(err.contains(&format!("{}: --pace replays records at their recorded times", s(&journal))), "{err}");
    assert!(err.contains("a plain journal's entries carry no time"), "{err}");
}

#[test]
fn bad_options_are_usage_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("run.ring");
    stamped_ring(&ring, 5, |i| i * 1_000);
    for (args, what) in [
        (vec!["--pace", "0"], "0 is not above 0"),
        (vec!["--pace", "-2"], "-2 is not above 0"),
        (vec!["--pace", "nan"], "NaN is not a number"),
        (vec!["--pace", "fast"], "\"fast\" is not a speed"),
        (vec!["--time", "t_us"], "--pace <SPEED>"),
        (vec!["--pace", "1", "--time", "value"], "--time value: the field is f32, not an integer field"),
        (vec!["--pace", "1", "--time", "nope"], "--time nope: the layout tick has no field \"nope\""),
        (vec!["--pace", "1", "--time", "t_us:h"], "unit \"h\" is not one of ns, us, ms, s"),
        (vec!["--pace", "max", "--time", "nope"], "has no field \"nope\""),
    ] {
        let all = [["dump", s(&ring)].as_slice(), &args].concat();
        let (out, err, _) = expect(&all, 2);
        assert!(out.is_empty(), "{all:?}: {out}");
        assert!(err.contains(what), "{all:?}: {err}");
    }
}

#[test]
fn a_recorder_directory_is_paced_on_its_merged_timeline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run.recorder");
    let opts = RecorderOptions::default().capacity_slots(64).clock(Clock::Caller).layout_of::<Tick>();
    let rec: Recorder<Tick> = Recorder::open(&dir, opts).unwrap();
    let mut a = rec.lane("a").unwrap();
    let mut b = rec.lane("b").unwrap();
    for i in 0..10 {
        a.append_at(10_000_000 + i * 20_000_000, &tick(i)).unwrap();
        b.append_at(20_000_000 + i * 20_000_000, &tick(100 + i)).unwrap();
    }
    a.sync().unwrap();
    b.sync().unwrap();
    drop((a, b, rec));
    let (reference, _, _) = expect(&["dump", s(&dir), "--json"], 0);
    let (out, err, took) = expect(&["dump", s(&dir), "--json", "--pace", "1"], 0);
    assert_eq!(out, reference);
    let lanes: String = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["lane"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(lanes, "ab".repeat(10));
    assert!(took >= Duration::from_millis(190), "took {took:?}");
    assert!(err.starts_with("replaylog: paced 20 records at 1x"), "{err}");
}
