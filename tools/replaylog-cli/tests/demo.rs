//! Runs the real `replaylog` binary.

use std::process::{Command, Output};

fn replaylog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replaylog")).args(args).output().expect("run replaylog")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn demo_records_replays_and_verifies() {
    let out = replaylog(&["demo", "--seconds", "1", "--capacity", "4096"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("PASS"), "{stdout}");
    assert!(!stdout.contains("FAIL"), "{stdout}");
    assert!(stdout.contains("p99.9"), "{stdout}");
    assert!(stdout.contains("result: PASS"), "{stdout}");
}

#[test]
fn demo_keeps_an_explicit_path_and_refuses_to_reuse_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kept.ring");
    let p = path.to_str().unwrap();
    let out = replaylog(&["demo", "--seconds", "0.2", "--capacity", "1024", "--failure-every", "0", "--path", p]);
    assert_eq!(out.status.code(), Some(0), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(path.is_file());

    let out = replaylog(&["demo", "--seconds", "0.2", "--capacity", "1024", "--path", p]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.starts_with("replaylog: ") && stderr.contains("already exists"), "{stderr}");
}

#[test]
fn usage_errors_exit_2() {
    assert_eq!(replaylog(&[]).status.code(), Some(2));
    assert_eq!(replaylog(&["demo", "--capacity", "0"]).status.code(), Some(2));
    assert_eq!(replaylog(&["demo", "--seconds", "-1"]).status.code(), Some(2));
    assert_eq!(replaylog(&["nonsense"]).status.code(), Some(2));
}

#[test]
fn demo_threads_records_one_lane_per_loop_and_verifies_the_merged_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("demo.recorder");
    let p = path.to_str().unwrap();
    let out = replaylog(&["demo", "--threads", "3", "--seconds", "0.3", "--capacity", "1024", "--path", p]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("result: PASS") && !stdout.contains("FAIL"), "{stdout}");
    for lane in ["loop-0", "loop-1", "loop-2"] {
        assert!(
            stdout.contains(&format!("PASS lane {lane}: all 1024 records equal the recomputed simulation")),
            "{stdout}"
        );
        assert!(path.join(format!("{lane}.ring")).is_file());
    }
    assert!(stdout.contains("PASS merged timeline holds 3072 records, the lanes' windows 3072"), "{stdout}");
    assert!(stdout.contains("PASS every record stamped, strictly ordered by (timestamp, lane, seq)"), "{stdout}");
    // The directory is a recorder directory the other subcommands read.
    let merged = replaylog::recorder::replay_merged(&path).unwrap();
    assert_eq!(merged.len(), 3072);
    let out = replaylog(&["validate", p]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let out = replaylog(&["demo", "--threads", "2", "--seconds", "0.1", "--path", p]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("already exists"), "{}", text(&out.stderr));
    assert_eq!(replaylog(&["demo", "--threads", "0"]).status.code(), Some(2));
}
