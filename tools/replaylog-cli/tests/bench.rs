//! `replaylog bench --quick`: a few seconds, tables and JSON.

use std::process::Command;

fn bench(args: &[&str]) -> (String, String, Option<i32>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_replaylog"))
        .args(["bench", "--quick", "--ring-appends", "20000"])
        .args(args)
        .arg("--dir")
        .arg(dir.path())
        .output()
        .expect("run replaylog");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (text(&out.stdout), text(&out.stderr), out.status.code())
}

#[test]
fn quick_bench_prints_percentiles_and_baselines() {
    let (stdout, stderr, code) = bench(&[]);
    assert_eq!(code, Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    for needle in [
        "timer: Instant::now() pair",
        "warm-up excluded",
        "## ring append",
        "raw mmap+crc32 (baseline a)",
        "RingLog default (b)",
        "RingLog prefault+mlock (c)",
        "## ring replay",
        "## journal async",
        "raw BufWriter",
        "## journal sync",
        "raw write+fdatasync",
        "## group commit",
        "p99.99",
    ] {
        assert!(stdout.contains(needle), "missing {needle:?} in:\n{stdout}");
    }
}

#[test]
fn quick_bench_json_has_every_mode_and_size() {
    let (stdout, stderr, code) = bench(&["--json", "--only", "journal"]);
    assert_eq!(code, Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let results = doc["results"].as_array().expect("results");
    for size in [64, 1024, 65536] {
        for variant in [
            "Journal Async",
            "Journal Interval(10ms)",
            "Journal Sync",
            "Journal Sync, Ack::Watermarked",
            "Journal Sync, watermark every round",
            "raw BufWriter 256K (limit)",
        ] {
            assert!(
                results.iter().any(|r| r["variant"] == variant && r["size_bytes"] == size),
                "no {variant} at {size} B"
            );
        }
    }
    assert!(results.iter().all(|r| r["group"] != "ring append"), "--only journal ran the ring");
}

/// Group commit at every entry size, both `Ack` policies, and `--load N`: the loaded cells again
/// beside N busy-loop processes.
#[test]
fn quick_group_bench_covers_every_size_and_the_loaded_host() {
    let (stdout, stderr, code) = bench(&["--json", "--only", "group", "--load", "1"]);
    assert_eq!(code, Some(0), "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON document");
    let results = doc["results"].as_array().expect("results");
    let has = |group: &str, variant: &str, size: u64, threads: u64| {
        results.iter().any(|r| {
            r["group"] == group && r["variant"] == variant && r["size_bytes"] == size && r["threads"] == threads
        })
    };
    for variant in ["Journal Sync", "Journal Sync, Ack::Watermarked"] {
        for size in [64, 1024, 65536] {
            for threads in [1, 2, 4, 8] {
                assert!(has("group commit", variant, size, threads), "no {variant} × {threads} at {size} B");
            }
        }
        for (size, threads) in [(64, 1), (64, 2), (64, 4), (64, 8), (1024, 8)] {
            assert!(
                has("group commit under load", variant, size, threads),
                "no loaded {variant} × {threads} at {size} B"
            );
        }
    }
    let loaded = results.iter().filter(|r| r["group"] == "group commit under load");
    assert!(loaded.clone().all(|r| r["note"] == "beside 1 busy-loop process"), "{stdout}");
}
