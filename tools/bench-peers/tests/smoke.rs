//! Smoke test: the peers binary runs every suite with `--quick` in a few seconds and reports
//! every target with sane percentiles.

use std::process::Command;

#[test]
fn quick_run_reports_every_target() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_replaylog-bench-peers"))
        .args(["--quick", "--json", "--ring-appends", "20000", "--journal-writes", "500", "--sync-writes", "50"])
        .args(["--group-writes", "40", "--dir"])
        .arg(dir.path())
        .output()
        .expect("run replaylog-bench-peers");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\nstderr:\n{stderr}", out.status);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    let results = doc["results"].as_array().expect("results");
    let has = |group: &str, variant: &str| {
        results.iter().any(|r| r["group"] == group && r["variant"].as_str().is_some_and(|v| v.contains(variant)))
    };
    for (group, variant) in [
        ("ring append", "raw mmap"),
        ("ring append", "RingLog default"),
        ("ring append", "prefault+mlock"),
        ("ring append", "mmap-vecdeque"),
        ("ring replay", "iter"),
        ("journal async", "raw BufWriter"),
        ("journal async", "Journal Async"),
        ("journal async", "okaywal"),
        ("journal async", "raft-engine"),
        ("journal async", "fjall"),
        ("journal sync", "raw write+fdatasync"),
        ("journal sync", "Journal Sync"),
        ("journal sync", "okaywal"),
        ("journal sync", "raft-engine"),
        ("journal sync", "fjall"),
        ("group commit", "Journal Sync"),
        ("group commit", "okaywal"),
    ] {
        assert!(has(group, variant), "no {group} / {variant} row");
    }
    for r in results {
        let (p50, p99, max) =
            (r["p50_ns"].as_f64().unwrap(), r["p99_ns"].as_f64().unwrap(), r["max_ns"].as_f64().unwrap());
        assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "percentiles out of order: {r}");
        assert!(r["ops_per_s"].as_f64().unwrap() > 0.0, "{r}");
    }
    assert!(doc["context"]["timer"]["p50_ns"].as_f64().unwrap() > 0.0);
    // The scratch files are removed after each target.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "scratch files left behind");
}
