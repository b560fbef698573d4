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
