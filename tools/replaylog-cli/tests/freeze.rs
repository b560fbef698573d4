//! `replaylog freeze` (issue 19) against a writer in this process: one line per capture, the
//! captures read by `inspect`, `dump`, `diff` and `export`; `--now`; manual triggers (SIGUSR2, a
//! touch file); bad input creating nothing; SIGKILL mid-capture leaving nothing that looks
//! like a capture, and the next start cleaning up.
//!
//! Ordering is by handshake, not sleeps: the command prints its status line on stderr once it
//! follows the ring, and each capture's line on stdout once the capture is in place.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, Output, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use replaylog::{FailureKind, ReplayFailureEvidence, RingLog};

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn replaylog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replaylog")).args(args).stdin(Stdio::null()).output().expect("run replaylog")
}

/// Runs and checks the exit status; returns (stdout, stderr).
fn expect(args: &[&str], code: i32) -> (String, String) {
    let out = replaylog(args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "{args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (stdout.into_owned(), stderr.into_owned())
}

fn failure(seq: u64) -> ReplayFailureEvidence {
    ReplayFailureEvidence::new(FailureKind::Timeout, 110, format!("deadline missed at {seq}"))
}

fn write(log: &mut RingLog<u64>, to: u64, fail: &[u64]) {
    for seq in log.next_seq()..to {
        if fail.contains(&seq) {
            log.append_with_failure(&seq, &failure(seq)).unwrap();
        } else {
            log.append(&seq).unwrap();
        }
    }
}

/// A running `replaylog freeze`, its status line already read.
struct Running {
    child: Child,
    out: BufReader<ChildStdout>,
    _err: BufReader<ChildStderr>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_replaylog"))
            .args(args)
            .arg("--quiet")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let out = BufReader::new(child.stdout.take().unwrap());
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        assert!(line.starts_with("freezing "), "{line}");
        Running { child, out, _err: err }
    }

    /// The next capture line.
    fn capture_line(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert!(!line.is_empty(), "freeze ended without a capture line");
        line.trim_end().to_string()
    }

    fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).unwrap();
    }

    /// SIGTERM, then the exit status and the rest of stdout.
    fn stop(mut self) -> (i32, String) {
        self.signal(Signal::SIGTERM);
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        for l in self.out.lines() {
            rest.push_str(&l.unwrap());
            rest.push('\n');
        }
        (status.code().unwrap_or(-1), rest)
    }
}

fn capture_path(line: &str) -> PathBuf {
    PathBuf::from(line.split(' ').next().unwrap())
}

#[test]
fn freeze_follows_a_running_writer_and_every_command_reads_the_capture() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("loop.ring");
    let to = tmp.path().join("frozen");
    let mut log: RingLog<u64> = RingLog::open(&ring, 4096).unwrap();
    write(&mut log, 40, &[35]); // already there: context, not a trigger
    let mut run = Running::start(&["freeze", s(&ring), "--to", s(&to), "--before", "12", "--after", "3"]);
    write(&mut log, 200, &[45, 100, 102]);
    let first = run.capture_line();
    assert!(first.ends_with("lane=- trigger=45 triggers=1 seqs=33..=48 records=16 complete"), "{first}");
    let second = run.capture_line();
    assert!(second.ends_with("lane=- trigger=100 triggers=2 seqs=88..=105 records=18 complete"), "{second}");
    let (code, rest) = run.stop();
    assert_eq!((code, rest.as_str()), (0, ""));
    let cap = capture_path(&first);
    assert!(cap.file_name().unwrap().to_string_lossy().starts_with("freeze-45-loop-"));
    let (inspect, _) = expect(&["inspect", s(&cap)], 0);
    assert!(inspect.contains("archive") && inspect.contains("lsn 1..=17"), "{inspect}");
    let (dump, _) = expect(&["dump", s(&cap)], 0);
    let seqs: Vec<&str> = dump.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(seqs, (33..=48).map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(dump.lines().filter(|l| l.contains("FAILURE timeout code=110")).count(), 2, "{dump}");
    let (json, _) = expect(&["export", s(&cap), "--to", "jsonl"], 0);
    assert_eq!(json.lines().filter(|l| l.contains("\"type\":\"record\"")).count(), 16, "{json}");
    expect(&["diff", s(&cap), s(&cap)], 0);
    expect(&["diff", s(&cap), s(&capture_path(&second))], 1);
    let manifest =
        std::fs::read_to_string(cap.with_file_name(format!("{}.txt", cap.file_name().unwrap().to_string_lossy())))
            .unwrap();
    assert!(manifest.contains("window: 33..=48") && !manifest.contains("trigger: 35 "), "{manifest}");
}

#[test]
fn freeze_follows_every_lane_of_a_recorder_directory() {
    use replaylog::recorder::{Recorder, RecorderOptions};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let to = tmp.path().join("frozen");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(1024)).unwrap();
    let mut a = rec.lane("a").unwrap();
    let mut b = rec.lane("b").unwrap();
    let mut run = Running::start(&["freeze", s(&dir), "--to", s(&to), "--before", "2", "--after", "2"]);
    for seq in 0..50u64 {
        a.append(&seq).unwrap();
        if seq == 20 {
            b.append_with_failure(&seq, &failure(seq)).unwrap();
        } else {
            b.append(&seq).unwrap();
        }
    }
    let line = run.capture_line();
    assert!(line.ends_with("lane=b trigger=20 triggers=1 seqs=18..=22 records=5 complete"), "{line}");
    let cap = capture_path(&line);
    assert!(cap.file_name().unwrap().to_string_lossy().starts_with("freeze-20-b-"), "{line}");
    let (dump, _) = expect(&["dump", s(&cap)], 0);
    assert_eq!(dump.lines().count(), 5, "{dump}");
    let (inspect, _) = expect(&["inspect", s(&cap)], 0);
    assert!(inspect.contains("archive"), "{inspect}");
    assert_eq!(run.stop(), (0, String::new()));
}

#[test]
fn sigusr2_and_a_trigger_file_freeze_the_newest_record() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("loop.ring");
    let to = tmp.path().join("frozen");
    let touch = tmp.path().join("freeze-now");
    let mut log: RingLog<u64> = RingLog::open(&ring, 4096).unwrap();
    let mut run = Running::start(&[
        "freeze",
        s(&ring),
        "--to",
        s(&to),
        "--before",
        "5",
        "--after",
        "0",
        "--on",
        "manual",
        "--trigger-file",
        s(&touch),
    ]);
    write(&mut log, 100, &[50]); // --on manual: evidence does not trigger
    run.signal(Signal::SIGUSR2);
    let line = run.capture_line();
    assert!(line.ends_with("lane=- trigger=99 triggers=1 seqs=94..=99 records=6 complete"), "{line}");
    write(&mut log, 300, &[]);
    std::fs::write(&touch, b"").unwrap();
    let line = run.capture_line();
    assert!(line.ends_with("lane=- trigger=299 triggers=1 seqs=294..=299 records=6 complete"), "{line}");
    assert!(!touch.exists(), "the trigger file is deleted once seen");
    assert_eq!(run.stop().0, 0);
}

#[test]
fn now_copies_the_live_window_while_the_writer_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("loop.ring");
    let mut log: RingLog<u64> = RingLog::open(&ring, 1 << 16).unwrap();
    write(&mut log, 1000, &[500]);
    let writer = std::thread::spawn(move || {
        write(&mut log, 40_000, &[20_000]);
        log
    });
    let snap = tmp.path().join("snap");
    let (out, _) = expect(&["freeze", "--now", s(&ring), "--to", s(&snap)], 0);
    writer.join().unwrap();
    let records: u64 = out.trim().split("records=").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(out.trim().ends_with("complete") && records >= 1000, "{out}");
    let (dump, _) = expect(&["dump", s(&snap)], 0);
    let seqs: Vec<u64> = dump.lines().map(|l| l.split(' ').nth(1).unwrap().parse().unwrap()).collect();
    assert_eq!(seqs, (0..records).collect::<Vec<_>>(), "a contiguous copy from the oldest record");
    // An existing path is never overwritten.
    let (_, err) = expect(&["freeze", "--now", s(&ring), "--to", s(&snap)], 2);
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2, "no temporary name left");
}

#[test]
fn bad_input_exits_2_naming_it_and_creates_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("frozen");
    let missing = tmp.path().join("missing.ring");
    let (_, err) = expect(&["freeze", s(&missing), "--to", s(&to), "--seconds", "0"], 2);
    assert!(err.contains("missing.ring") && err.contains("no such file"), "{err}");
    let foreign = tmp.path().join("notes.txt");
    std::fs::write(&foreign, "hello").unwrap();
    let (_, err) = expect(&["freeze", s(&foreign), "--to", s(&to), "--seconds", "0"], 2);
    assert!(err.contains("notes.txt"), "{err}");
    let ring = tmp.path().join("loop.ring");
    let _log: RingLog<u64> = RingLog::open(&ring, 16).unwrap();
    let (_, err) = expect(&["freeze", s(&ring), "--to", s(&foreign), "--seconds", "0"], 2);
    assert!(err.contains("notes.txt") && err.contains("not a directory"), "{err}");
    let snap = tmp.path().join("snap");
    expect(&["freeze", "--now", s(&ring), "--to", s(&snap)], 0);
    let (_, err) = expect(&["freeze", s(&snap), "--to", s(&to)], 2);
    assert!(err.contains("archive journal: not a ring or a recorder directory"), "{err}");
    let (_, err) = expect(&["freeze", s(&ring), "--to", s(&to), "--on", "kind:late"], 2);
    assert!(err.contains("kind:late"), "{err}");
    let (_, err) = expect(&["freeze", s(&ring), "--to", s(&to), "--max-per-minute", "0"], 2);
    assert!(err.contains("max_per_minute"), "{err}");
    assert!(!to.exists());
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), "hello");
}

#[test]
fn sigkill_mid_capture_leaves_no_capture_and_the_next_start_cleans_up() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("loop.ring");
    let to = tmp.path().join("frozen");
    let mut log: RingLog<u64> = RingLog::open(&ring, 4096).unwrap();
    let mut run = Running::start(&["freeze", s(&ring), "--to", s(&to), "--before", "10", "--after", "1000000"]);
    write(&mut log, 200, &[100]);
    // The window stays open (a million after-records): wait until its temporary capture exists
    // and holds the records written so far.
    let deadline = Instant::now() + Duration::from_secs(30);
    let temp = loop {
        let found = std::fs::read_dir(&to)
            .ok()
            .and_then(|d| d.map(|e| e.unwrap().path()).find(|p| p.to_string_lossy().contains(".freeze-tmp-")));
        if let Some(t) = found {
            break t;
        }
        assert!(Instant::now() < deadline, "no capture opened");
        std::thread::sleep(Duration::from_millis(5));
    };
    run.child.kill().unwrap(); // SIGKILL
    run.child.wait().unwrap();
    // Nothing in DIR has a capture's name: the open capture is only a temporary name.
    let names: Vec<String> =
        std::fs::read_dir(&to).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert!(names.iter().all(|n| n.starts_with(".freeze-tmp-")), "{names:?}");
    assert!(temp.exists());
    // The next freezer removes it (its process is gone), and writes complete captures.
    let mut run = Running::start(&["freeze", s(&ring), "--to", s(&to), "--before", "2", "--after", "2"]);
    assert!(!temp.exists(), "leftover {} not removed", temp.display());
    write(&mut log, 400, &[300]);
    let line = run.capture_line();
    assert!(line.ends_with("seqs=298..=302 records=5 complete"), "{line}");
    assert_eq!(run.stop().0, 0);
    let names: Vec<String> =
        std::fs::read_dir(&to).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    // An open window is finished on SIGTERM with what is there, its line saying what it lacks.
    let run = Running::start(&["freeze", s(&ring), "--to", s(&to), "--before", "2", "--after", "50"]);
    write(&mut log, 410, &[405]);
    let (code, rest) = run.stop();
    assert_eq!(code, 0);
    assert!(rest.trim_end().ends_with("seqs=403..=455 records=7 lacking=46"), "{rest}");
}
