//! `replaylog ship` and the URL of a shipped capture as an argument of inspect, dump, validate,
//! export, diff and report (issue 21), against a `file:///` store; the S3 path against a real
//! Garage server is tools/garage/e2e.sh.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use replaylog::archive::{Archiver, ArchiverOptions};
use replaylog::{JournalOptions, RingLog, RingOptions};

#[replaylog::record(name = "ctl")]
#[derive(Clone, Copy, Debug)]
struct Ctl {
    tick: u64,
    out: f64,
}

const SECRET: &str = "s3cr3t-Key-that-must-never-print-0123456789";

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replaylog"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "GKtestaccesskeyid000000")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// An archive of several segments (a ring of `n` records archived with 64 KiB segments).
fn archive(dir: &Path, n: u64) -> PathBuf {
    let ring = dir.join("ring");
    let mut log: RingLog<Ctl> = RingLog::open_with(&ring, n + 8, RingOptions::default().layout_of::<Ctl>()).unwrap();
    for t in 0..n {
        log.append(&Ctl { tick: t, out: t as f64 * 0.5 }).unwrap();
    }
    log.sync().unwrap();
    drop(log);
    let arch = dir.join("arch");
    let opts =
        ArchiverOptions { journal: JournalOptions::default().segment_bytes_max(256 * 1024), ..Default::default() };
    let archiver = Archiver::start(&ring, &arch, opts).unwrap();
    while archiver.stats().archived < n {
        std::thread::yield_now();
    }
    archiver.stop().unwrap();
    arch
}

fn url(dir: &Path) -> String {
    std::fs::create_dir_all(dir).unwrap();
    format!("file://{}", dir.display())
}

#[test]
fn a_shipped_capture_reads_back_like_the_local_one_and_secrets_never_print() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = archive(tmp.path(), 50_000);
    let to = url(&tmp.path().join("remote"));
    let mut printed = String::new();

    let o = run(&["ship", arch.to_str().unwrap(), "--to", &to]);
    printed += &text(&o);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("shipped segment 0"), "{}", text(&o));
    // A directory keeps no object metadata: each upload was read back to verify it.
    assert!(text(&o).contains("verified by reading back"), "{}", text(&o));
    // Again: nothing to do.
    let o = run(&["ship", arch.to_str().unwrap(), "--to", &to]);
    printed += &text(&o);
    assert!(text(&o).contains("shipped 0 segment(s)"), "{}", text(&o));

    let local = run(&["dump", arch.to_str().unwrap(), "--json"]);
    let remote = run(&["dump", &to, "--json"]);
    printed += &text(&remote);
    assert!(remote.status.success(), "{}", text(&remote));
    assert_eq!(local.stdout, remote.stdout);
    assert_eq!(String::from_utf8_lossy(&remote.stdout).lines().count(), 50_000);

    for args in
        [vec!["inspect", to.as_str()], vec!["validate", to.as_str()], vec!["diff", arch.to_str().unwrap(), to.as_str()]]
    {
        let o = run(&args);
        printed += &text(&o);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
    }
    let csv_local = run(&["export", arch.to_str().unwrap(), "--to", "csv"]);
    let csv_remote = run(&["export", &to, "--to", "csv"]);
    assert!(csv_remote.status.success(), "{}", text(&csv_remote));
    assert_eq!(csv_local.stdout, csv_remote.stdout);

    // Against a loopback S3 endpoint where nothing listens: the error names the URL, never the key.
    let o = Command::new(env!("CARGO_BIN_EXE_replaylog"))
        .args(["ship", arch.to_str().unwrap(), "--to", "s3://bucket/fleet/host-1", "--retries", "1"])
        .env("AWS_ACCESS_KEY_ID", "GKtestaccesskeyid000000")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AWS_REGION", "garage")
        .env("AWS_ALLOW_HTTP", "true")
        .output()
        .unwrap();
    printed += &text(&o);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("s3://bucket/fleet/host-1"), "{}", text(&o));
    assert!(text(&o).contains("retrying"), "the retry is reported: {}", text(&o));

    assert!(!printed.contains(SECRET), "the secret key was printed");
    assert!(!printed.contains("GKtestaccesskeyid000000"), "the access key id was printed");
    // Nor stored: not in the manifest or any object the store holds.
    for e in std::fs::read_dir(tmp.path().join("remote")).unwrap() {
        let bytes = std::fs::read(e.unwrap().path()).unwrap();
        assert!(!String::from_utf8_lossy(&bytes).contains(SECRET));
    }
}

#[test]
fn a_tampered_or_missing_segment_is_named_and_nothing_from_it_is_printed() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = archive(tmp.path(), 50_000);
    let remote = tmp.path().join("remote");
    let to = url(&remote);
    assert!(run(&["ship", arch.to_str().unwrap(), "--to", &to]).status.success());
    let segments = replaylog::ReadOnlyJournal::open(&arch).unwrap().segments();
    assert!(segments.len() >= 2, "{} segments", segments.len());
    let before: u64 = segments[0].frames - 1; // the header entry is not a record

    let obj = remote.join("00000000000000000001.seg");
    let mut bytes = std::fs::read(&obj).unwrap();
    bytes[4000] ^= 0x08;
    std::fs::write(&obj, &bytes).unwrap();
    let o = run(&["validate", &to]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("segment 1: ") && text(&o).contains("not used"), "{}", text(&o));
    let o = run(&["dump", &to, "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count() as u64, before, "only segment 0's records");
    assert!(String::from_utf8_lossy(&o.stderr).contains("00000000000000000001.seg"), "{}", text(&o));

    std::fs::remove_file(&obj).unwrap();
    let o = run(&["dump", &to]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("segment 1 is listed in the manifest but its object is missing"), "{}", text(&o));
}

#[test]
fn bad_urls_and_sources_exit_2_naming_them_and_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let arch = archive(tmp.path(), 1000);
    let listing = |p: &Path| {
        let mut v: Vec<_> = std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name()).collect();
        v.sort();
        v
    };
    let before = listing(&arch);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["ship".into(), arch.display().to_string(), "--to".into(), "ftp://host/x".into()],
            "unknown scheme \"ftp\"",
        ),
        (
            vec![
                "ship".into(),
                arch.display().to_string(),
                "--to".into(),
                format!("file://{}/nowhere", tmp.path().display()),
            ],
            "no such directory",
        ),
        (
            vec!["ship".into(), arch.display().to_string(), "--to".into(), "s3://k:pw@bucket/x".into()],
            "carries credentials",
        ),
        (vec!["dump".into(), url(&tmp.path().join("empty"))], "no manifest"),
        (
            vec![
                "ship".into(),
                tmp.path().join("ring").display().to_string(),
                "--to".into(),
                url(&tmp.path().join("r2")),
            ],
            "journal or archive directory",
        ),
    ];
    for (args, want) in cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = run(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(want), "{args:?}: {}", text(&o));
        assert!(!text(&o).contains("pw@"), "{}", text(&o));
    }
    assert_eq!(listing(&arch), before);
    assert!(std::fs::read_dir(tmp.path().join("r2")).unwrap().next().is_none(), "nothing was shipped");
}

/// The manifest's segment count, 0 before there is one.
fn listed(remote: &Path) -> usize {
    std::fs::read(remote.join("manifest.json"))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|m| m["segments"].as_array().map(Vec::len))
        .unwrap_or(0)
}

/// Polls `cond` (the shipping process works on its own schedule) for at most a minute.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !cond() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn follow_ships_segments_as_they_seal_and_the_newest_once_the_writer_closes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("j");
    let remote = tmp.path().join("remote");
    let to = url(&remote);
    let opts = JournalOptions::default().sync(replaylog::SyncMode::Async).segment_bytes_max(64 * 1024);
    let j = replaylog::Journal::open(&dir, opts).unwrap();
    j.write(b"first").unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_replaylog"))
        .args(["ship", dir.to_str().unwrap(), "--to", &to, "--follow", "--interval-ms", "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    for s in 1..=3u8 {
        j.roll().unwrap();
        j.write(&[s; 100]).unwrap();
        let want = s as usize;
        wait_for(&format!("{want} sealed segments listed"), || listed(&remote) == want);
    }
    assert!(!remote.join("00000000000000000003.seg").exists(), "the live segment is not shipped");
    j.close().unwrap();
    wait_for("the closed journal's newest segment", || listed(&remote) == 4);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGTERM).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for n in 0..4 {
        assert_eq!(out.matches(&format!("shipped segment {n} ")).count(), 1, "segment {n} shipped once: {out}");
    }
    assert!(out.contains("the manifest lists 4"), "{out}");
    let d = run(&["dump", &to]);
    assert!(d.status.success() && String::from_utf8_lossy(&d.stdout).contains("first"), "{}", text(&d));
}
