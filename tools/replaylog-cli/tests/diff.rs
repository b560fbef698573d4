//! `replaylog diff` as a certification check (issue 20): tolerances, ignored fields, alignment
//! by a key field, `--json`, and the exit statuses — 0 within tolerance, 1 outside (or damaged,
//! or empty), 2 a usage error naming the field. The comparison semantics themselves are tested
//! in the core crate (tests/compare.rs); here the flags reach them and the output says what
//! the outcome holds.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use replaylog::{RingLog, RingOptions};
use serde_json::Value;

#[replaylog::record(name = "ctl")]
#[derive(Clone, Copy, Debug)]
struct Ctl {
    tick: u64,
    wall_ns: u64,
    out: f64,
}

fn ctl(t: u64) -> Ctl {
    Ctl { tick: t, wall_ns: 1_700_000_000_000_000_000 + t * 1_000_000, out: (t as f64 * 0.01).sin() * 5.0 + 1.0 }
}

fn ring(dir: &Path, name: &str, n: u64, make: impl Fn(u64) -> Option<Ctl>) -> PathBuf {
    let path = dir.join(name);
    let mut log: RingLog<Ctl> = RingLog::open_with(&path, n + 8, RingOptions::default().layout_of::<Ctl>()).unwrap();
    for t in 0..n {
        if let Some(c) = make(t) {
            log.append(&c).unwrap();
        }
    }
    log.sync().unwrap();
    path
}

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replaylog")).args(args).output().unwrap()
}

fn expect(args: &[&str], code: i32) -> (String, String) {
    let out = run(args);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(code), "{args:?}:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A rebuilt controller: float noise in `out` on every record, another wall clock, one record
/// out of tolerance at tick 500 and tick 777 dropped.
fn candidate(t: u64) -> Option<Ctl> {
    let c = ctl(t);
    (t != 777).then_some(Ctl {
        wall_ns: c.wall_ns + 123_456,
        out: if t == 500 { c.out + 0.25 } else { c.out * (1.0 + 1e-12) + 1e-15 },
        ..c
    })
}

#[test]
fn tolerances_ignore_and_alignment_turn_a_cascade_into_the_two_real_differences() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "ref.ring", 1000, |t| Some(ctl(t)));
    let b = ring(dir.path(), "cand.ring", 1000, candidate);

    // Bit-exact by seq: fails on record one.
    let (text, _) = expect(&["diff", s(&a), s(&b)], 1);
    assert!(text.contains("first divergence at seq 0:"), "{text}");
    assert!(text.contains("result: captures differ"), "{text}");

    // Tolerant, ignoring the wall clock, aligned by tick: the spike and the drop, nothing else.
    let args =
        ["diff", s(&a), s(&b), "--rtol", "out=1e-9", "--tol", "out=1e-12", "--ignore", "wall_ns", "--align", "tick"];
    let (text, _) = expect(&args, 1);
    assert!(text.contains("aligned by tick; tolerances: out abs 1e-12 + rel 1e-9; ignored: wall_ns"), "{text}");
    assert!(text.contains("first divergence at tick 500:\n  field out: A="), "{text}");
    assert!(
        text.contains("999 records compared (same tick on both sides), 1 differ; 1 only in A, 0 only in B"),
        "{text}"
    );

    let mut json_args = args.to_vec();
    json_args.push("--json");
    let (json, _) = expect(&json_args, 1);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["verdict"], "FAIL");
    let st = &v["streams"][0];
    assert_eq!((st["compared"].as_u64(), st["differing"].as_u64()), (Some(999), Some(1)));
    assert_eq!(st["missing"], serde_json::json!([777]));
    assert_eq!(st["divergences"][0]["key"], 500);
    assert_eq!(st["divergences"][0]["reference"], ctl(500).out.to_string());
    assert_eq!(st["divergences"][0]["candidate"], (ctl(500).out + 0.25).to_string());
    let out = st["fields"].as_array().unwrap().iter().find(|f| f["name"] == "out").unwrap();
    assert_eq!((out["tolerance"]["abs"].as_f64(), out["tolerance"]["rel"].as_f64()), (Some(1e-12), Some(1e-9)));
    assert_eq!((out["first_key"].as_u64(), out["divergences"].as_u64()), (Some(500), Some(1)));
    assert_eq!(v["reference"]["records"], 1000);
    assert_eq!(v["candidate"]["records"], 999);
    assert_eq!(v["reference"]["sha256"].as_str().unwrap().len(), 64);

    // The same run without the spike and the drop passes: exit 0.
    let c = ring(dir.path(), "good.ring", 1000, |t| {
        candidate(t).or(Some(ctl(t))).map(|c| Ctl { out: if t == 500 { ctl(t).out } else { c.out }, ..c })
    });
    let (text, _) = expect(&["diff", s(&a), s(&c), "--rtol", "*=1e-9", "--tol", "*=1e-12", "--ignore", "wall_ns"], 0);
    assert!(text.contains("result: within tolerance"), "{text}");
}

#[test]
fn usage_errors_name_the_field_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "ref.ring", 10, |t| Some(ctl(t)));
    for (args, what) in [
        (vec!["--tol", "nosuch=1"], "no field \"nosuch\" in layout ctl"),
        (vec!["--rtol", "out"], "bad --rtol \"out\": expected FIELD=VALUE"),
        (vec!["--rtol", "out=-1"], "must be a finite number >= 0"),
        (vec!["--ignore", "nosuch"], "no field \"nosuch\""),
        (vec!["--align", "out"], "the key must be an integer scalar field"),
        (vec!["--align", "nosuch"], "no field \"nosuch\""),
    ] {
        let mut full = vec!["diff", s(&a), s(&a)];
        full.extend(args.iter().copied());
        let (stdout, err) = expect(&full, 2);
        assert!(stdout.is_empty(), "{stdout}");
        assert!(err.contains(what), "{args:?}: {err}");
    }
}

#[test]
fn empty_and_damaged_captures_exit_1_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "ref.ring", 10, |t| Some(ctl(t)));
    let empty = ring(dir.path(), "empty.ring", 0, |_| None);
    let (text, _) = expect(&["diff", s(&a), s(&empty)], 1);
    assert!(text.contains("reason: the candidate holds no records"), "{text}");

    let b = ring(dir.path(), "b.ring", 10, |t| Some(ctl(t)));
    let info = replaylog::RawRing::open(&b).unwrap().info();
    let mut bytes = std::fs::read(&b).unwrap();
    bytes[(info.slots_offset + 3 * u64::from(info.slot_bytes) + 30) as usize] ^= 1;
    std::fs::write(&b, &bytes).unwrap();
    let (text, err) = expect(&["diff", s(&a), s(&b)], 1);
    assert!(text.contains("problem in B: ") && text.contains("b.ring"), "{text}");
    assert!(err.contains("b.ring"), "{err}");
    assert_eq!(std::fs::read(&b).unwrap(), bytes, "untouched");
}
