//! Runs the real `replaylog` binary on recorder directories (a ring per lane) written with the
//! library: per-lane inspect/validate, merged dump/tail/export with the lane and timestamp, diff
//! per lane, archive of all lanes, and directories holding a bad lane.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use replaylog::recorder::{Recorder, RecorderOptions};
use replaylog::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use replaylog::{
    Clock, FailureKind, Field, FieldType, Layout, RecordLayout, ReplayFailureEvidence, RingLog, RingOptions,
};
use serde_json::Value;

#[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug, PartialEq)]
#[zerocopy(crate = "replaylog::zerocopy")]
#[repr(C)]
struct Rec {
    tick: u64,
    value: f64,
    flags: u32,
    _pad: u32,
}

impl RecordLayout for Rec {
    fn layout() -> Layout {
        Layout::new(
            "Rec",
            vec![
                Field::new("tick", FieldType::U64, 0),
                Field::new("value", FieldType::F64, 8),
                Field::new("flags", FieldType::U32, 16),
            ],
        )
    }
}

/// The lanes and how many records each gets.
const LANES: [(&str, u64); 3] = [("a", 20), ("b", 15), ("c", 10)];

/// Record `k` of lane number `li`: its tick names both.
fn rec(li: usize, k: u64) -> Rec {
    Rec { tick: li as u64 * 1000 + k, value: k as f64 * 0.5, flags: li as u32, _pad: 0 }
}

/// The caller's stamp of record `k` of lane `li`: lanes a and c stamp alike (ties broken by lane
/// name), b in between, so the merged order interleaves all three.
fn stamp(li: usize, k: u64) -> u64 {
    100 + 3 * k + if li == 1 { 1 } else { 0 }
}

fn evidence(li: usize, k: u64) -> Option<ReplayFailureEvidence> {
    (k % 7 == 6).then(|| ReplayFailureEvidence::new(FailureKind::Timeout, 110, format!("lane {li} late at {k}")))
}

fn options() -> RecorderOptions {
    RecorderOptions::default().capacity_slots(64).clock(Clock::Caller).layout_of::<Rec>()
}

/// A recorder directory of the lanes in `lanes`, each record passed through `tweak`.
fn make_dir_with(dir: &Path, lanes: &[(&str, u64)], tweak: impl Fn(&str, u64, &mut Rec)) {
    let recorder: Recorder<Rec> = Recorder::open(dir, options()).unwrap();
    for (li, (name, n)) in lanes.iter().enumerate() {
        let mut lane = recorder.lane(name).unwrap();
        for k in 0..*n {
            let mut r = rec(li, k);
            tweak(name, k, &mut r);
            match evidence(li, k) {
                Some(ev) => lane.append_with_failure_at(stamp(li, k), &r, &ev).unwrap(),
                None => lane.append_at(stamp(li, k), &r).unwrap(),
            }
        }
        lane.sync().unwrap();
    }
}

fn make_dir(dir: &Path) {
    make_dir_with(dir, &LANES, |_, _, _| {});
}

/// `(timestamp, lane, seq)` of every record of [`make_dir`], sorted: the merged order, computed
/// here without the library.
fn expected_order() -> Vec<(u64, String, u64)> {
    let mut v: Vec<_> = LANES
        .iter()
        .enumerate()
        .flat_map(|(li, (name, n))| (0..*n).map(move |k| (stamp(li, k), name.to_string(), k)))
        .collect();
    v.sort();
    v
}

fn replaylog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replaylog")).args(args).stdin(Stdio::null()).output().expect("run replaylog")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs and checks the exit status, no panic; returns (stdout, stderr).
fn run(args: &[&str], code: i32) -> (String, String) {
    let out = replaylog(args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "{args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    if code == 2 {
        assert!(stderr.starts_with("replaylog: "), "{args:?}: {stderr}");
    }
    (stdout.into_owned(), stderr.into_owned())
}

fn expect(args: &[&str], code: i32) -> String {
    run(args, code).0
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// `(timestamp, lane, seq)` of JSON record lines.
fn keys(lines: &[Value]) -> Vec<(u64, String, u64)> {
    lines
        .iter()
        .map(|l| {
            (l["timestamp_ns"].as_u64().unwrap(), l["lane"].as_str().unwrap().to_string(), l["seq"].as_u64().unwrap())
        })
        .collect()
}

/// Every file under `p` with its bytes.
fn snapshot(p: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut m = BTreeMap::new();
    if p.is_dir() {
        for e in std::fs::read_dir(p).unwrap() {
            m.extend(snapshot(&e.unwrap().path()));
        }
    } else if p.exists() {
        m.insert(p.to_path_buf(), std::fs::read(p).unwrap());
    }
    m
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn inspect_and_validate_report_every_lane() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    make_dir(&dir);
    let before = snapshot(&dir);

    let v: Value = serde_json::from_str(&expect(&["inspect", "--json", s(&dir)], 0)).unwrap();
    assert_eq!((v["format"].as_str(), v["reference_lane"].as_str()), (Some("recorder"), Some("a")));
    assert_eq!(v["records"], 45);
    let lanes = v["lanes"].as_array().unwrap();
    assert_eq!(lanes.iter().map(|l| l["lane"].as_str().unwrap()).collect::<Vec<_>>(), ["a", "b", "c"]);
    for (l, (_, n)) in lanes.iter().zip(LANES) {
        assert_eq!((l["ok"].as_bool(), l["ring"]["clock"].as_str()), (Some(true), Some("caller")), "{l}");
        assert_eq!(l["ring"]["window"]["records"].as_u64(), Some(n), "{l}");
    }
    let text = expect(&["inspect", s(&dir)], 0);
    assert!(text.contains("lanes        3 (a, b, c), 0 unreadable") && text.contains("reference    lane a"), "{text}");
    assert!(text.contains("\nlane b\nring ") && text.contains("b.ring"), "{text}");

    let v: Value = serde_json::from_str(&expect(&["validate", "--json", s(&dir)], 0)).unwrap();
    assert_eq!((v["ok"].as_bool(), v["lanes"].as_array().unwrap().len()), (Some(true), 3), "{v}");
    assert!(expect(&["validate", s(&dir)], 0).contains("result: every lane clean"));
    let (_, err) = run(&["repair", "--yes", s(&dir)], 2);
    assert!(err.contains("a recorder directory needs no repair"), "{err}");
    assert_eq!(snapshot(&dir), before, "inspect, validate and repair changed nothing");

    // Damage one slot of lane b: validate says which lane, exit 1; the others stay clean.
    let info: Value = serde_json::from_str(&expect(&["inspect", "--json", s(&dir.join("b.ring"))], 0)).unwrap();
    let off = info["slots_offset"].as_u64().unwrap() + 3 * info["slot_bytes"].as_u64().unwrap() + 40 + 3;
    let mut bytes = std::fs::read(dir.join("b.ring")).unwrap();
    bytes[off as usize] ^= 0xFF;
    std::fs::write(dir.join("b.ring"), bytes).unwrap();
    let v: Value = serde_json::from_str(&expect(&["validate", "--json", s(&dir)], 1)).unwrap();
    let ok: Vec<_> = v["lanes"].as_array().unwrap().iter().map(|l| l["ok"].as_bool().unwrap()).collect();
    assert_eq!((v["ok"].as_bool(), ok), (Some(false), vec![true, false, true]), "{v}");
    let text = expect(&["validate", s(&dir)], 1);
    assert!(text.contains("result: 1 of 3 lane(s) with problems"), "{text}");
}

#[test]
fn dump_merges_the_lanes_by_timestamp_with_a_lane_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    make_dir(&dir);
    let lines = json_lines(&expect(&["dump", "--json", s(&dir)], 0));
    assert_eq!(keys(&lines), expected_order());
    for l in &lines {
        let li = ["a", "b", "c"].iter().position(|n| *n == l["lane"]).unwrap();
        let k = l["seq"].as_u64().unwrap();
        assert_eq!(l["fields"]["tick"].as_u64(), Some(rec(li, k).tick), "{l}");
        assert_eq!(l["evidence"].is_null(), evidence(li, k).is_none(), "{l}");
        assert!(l["lsn"].is_null());
    }
    let text = expect(&["dump", s(&dir), "--limit", "3"], 0);
    let first: Vec<&str> = text.lines().map(|l| l.split("  ").next().unwrap()).collect();
    assert_eq!(first, ["lane a seq 0 epoch 1 t 100", "lane c seq 0 epoch 1 t 100", "lane b seq 0 epoch 1 t 101"]);
    assert!(text.contains("tick=2000"), "{text}");
    // A seq means nothing across lanes.
    let (_, err) = run(&["dump", s(&dir), "--from", "3"], 2);
    assert!(err.contains("each lane of a recorder directory has its own seqs"), "{err}");
    // tail: the newest of the merged timeline.
    let tail = json_lines(&expect(&["tail", "-n", "4", "--json", s(&dir)], 0));
    assert_eq!(keys(&tail), expected_order()[41..]);
}

#[test]
fn export_carries_lane_and_timestamp_and_its_archive_dumps_as_the_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    make_dir(&dir);
    let dump = json_lines(&expect(&["dump", "--json", s(&dir)], 0));

    let csv = expect(&["export", s(&dir), "--to", "csv"], 0);
    let mut rows = csv.lines();
    assert_eq!(
        rows.next().unwrap(),
        "seq,epoch,timestamp_ns,lane,lsn,tick,value,flags,record_hex,evidence_kind,evidence_other_code,evidence_code,evidence_message"
    );
    let got: Vec<(u64, String, u64)> = rows
        .map(|r| {
            let c: Vec<&str> = r.split(',').collect();
            (c[2].parse().unwrap(), c[3].to_string(), c[0].parse().unwrap())
        })
        .collect();
    assert_eq!(got, expected_order());

    let jsonl = json_lines(&expect(&["export", s(&dir), "--to", "jsonl"], 0));
    assert_eq!((jsonl[0]["type"].as_str(), jsonl[0]["source"].as_str()), (Some("header"), Some("recorder")));
    assert_eq!(jsonl[0]["lanes"], serde_json::json!(["a", "b", "c"]));
    assert_eq!(jsonl[1..], dump[..]);

    // An archive journal: every entry names its lane and keeps its stamp.
    let arch = tmp.path().join("arch");
    expect(&["export", s(&dir), "--to", &format!("journal:{}", s(&arch))], 0);
    assert_eq!(replaylog::detect(&arch).unwrap(), replaylog::Kind::Archive);
    let (_, archived) = replaylog::archive::read_archived(&arch).unwrap();
    assert_eq!(archived.len(), 45);
    let mut from_arch = json_lines(&expect(&["dump", "--json", s(&arch)], 0));
    for l in &mut from_arch {
        assert!(l["lsn"].is_u64());
        l["lsn"] = Value::Null;
    }
    assert_eq!(from_arch, dump);
    expect(&["diff", s(&dir), s(&arch)], 0);
    // Exporting the archive again keeps every entry's lane and stamp.
    let again = tmp.path().join("again");
    expect(&["export", s(&arch), "--to", &format!("journal:{}", s(&again))], 0);
    assert_eq!(replaylog::archive::read_archived(&again).unwrap().1, archived);
    expect(&["diff", s(&dir), s(&again)], 0);
}

#[test]
fn diff_compares_lane_by_lane() {
    let tmp = tempfile::tempdir().unwrap();
    let a = tmp.path().join("a");
    make_dir(&a);
    let same = tmp.path().join("same");
    copy_dir(&a, &same);
    let out = expect(&["diff", s(&a), s(&same)], 0);
    assert!(out.contains("lane b: identical (15 records compared") && out.contains("result: identical"), "{out}");

    let changed = tmp.path().join("changed");
    make_dir_with(&changed, &LANES, |lane, k, r| {
        if lane == "b" && k == 5 {
            r.value = -1.25;
        }
    });
    let out = expect(&["diff", s(&a), s(&changed)], 1);
    assert!(out.contains("lane a: identical") && out.contains("lane c: identical"), "{out}");
    assert!(out.contains("lane b: differs (15 records compared, 1 differ"), "{out}");
    assert!(out.contains("first divergence at seq 5:\n    field value: A=2.5 B=-1.25"), "{out}");

    let more = tmp.path().join("more");
    make_dir_with(&more, &[("a", 20), ("b", 15), ("c", 10), ("d", 3)], |_, _, _| {});
    let out = expect(&["diff", s(&a), s(&more)], 1);
    assert!(out.contains("lane d: only in B (3 records)") && out.contains("summary: 4 lanes, 1 differ"), "{out}");
    // A ring against a directory: a usage error.
    let (_, err) = run(&["diff", s(&a.join("a.ring")), s(&a)], 2);
    assert!(err.contains("a ring cannot be compared with a recorder directory"), "{err}");
}

#[test]
fn a_bad_lane_is_named_and_nothing_is_changed() {
    let tmp = tempfile::tempdir().unwrap();
    for (bad, what) in [("x", "is not a replaylog ring: magic"), ("z", "does not match the other lanes: layout")] {
        let dir = tmp.path().join(bad);
        make_dir(&dir);
        let file = dir.join(format!("{bad}.ring"));
        if bad == "x" {
            std::fs::write(&file, b"someone else's file, named like a lane").unwrap();
        } else {
            let opts =
                RingOptions::default().clock(Clock::Caller).layout(Layout::parse_spec("t:u64,v:f64,f:u32").unwrap());
            let mut other: RingLog<Rec> = RingLog::open_with(&file, 64, opts).unwrap();
            other.append_at(1, &rec(0, 0)).unwrap();
        }
        let before = snapshot(tmp.path());
        let out = tmp.path().join("out");
        let to_journal = format!("journal:{}", s(&out));
        for args in [
            vec!["dump", s(&dir)],
            vec!["tail", s(&dir)],
            vec!["tail", "-f", s(&dir), "--timeout-ms", "100"],
            vec!["export", s(&dir), "--to", "csv"],
            vec!["export", s(&dir), "--to", &to_journal],
            vec!["archive", s(&dir), "--to", s(&out), "--seconds", "0.1"],
            vec!["diff", s(&dir), s(&dir)],
        ] {
            let (stdout, err) = run(&args, 2);
            assert!(stdout.is_empty(), "{args:?}: {stdout}");
            assert!(err.contains(&format!("{bad}.ring: lane {bad} {what}")), "{args:?}: {err}");
            assert!(err.contains("nothing was changed"), "{args:?}: {err}");
        }
        // inspect shows every lane (exit 0); validate reports every lane, then the bad one (exit 2).
        let text = expect(&["inspect", s(&dir)], 0);
        assert!(text.contains(&format!("lane {bad}: cannot be read: ")) && text.contains("\nlane c\nring"), "{text}");
        let (text, err) = run(&["validate", s(&dir)], 2);
        assert!(text.contains("\nlane a\nring") && text.contains("result: 1 of 4 lane(s) with problems"), "{text}");
        assert!(err.contains(&format!("{bad}.ring: lane {bad} {what}")), "{err}");
        assert_eq!(snapshot(tmp.path()), before, "{bad}: nothing was written or changed");
    }
}

#[test]
fn tail_follows_every_lane_and_picks_up_new_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    make_dir(&dir);
    let mut child = Command::new(env!("CARGO_BIN_EXE_replaylog"))
        .args(["tail", "-f", s(&dir), "-n", "2", "--max-records", "12", "--timeout-ms", "20000", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("following 3 lane(s) (a, b, c)"), "{line}");
    // Ten more records: five in lane b, five in a lane created now.
    let recorder: Recorder<Rec> = Recorder::open(&dir, options()).unwrap();
    let mut b = recorder.lane("b").unwrap();
    let mut d = recorder.lane("d").unwrap();
    for k in 0..5 {
        b.append_at(1000 + k, &rec(1, 15 + k)).unwrap();
        d.append_at(1000 + k, &rec(3, k)).unwrap();
    }
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(0), "{stdout}\n{rest}");
    let lines = json_lines(&stdout);
    let got = keys(&lines);
    assert_eq!(got[..2], expected_order()[43..], "the last 2 first");
    let mut new: Vec<_> = got[2..].to_vec();
    let per_lane = |lane: &str| new.iter().filter(|k| k.1 == lane).map(|k| k.2).collect::<Vec<_>>();
    assert_eq!((per_lane("b"), per_lane("d")), (vec![15, 16, 17, 18, 19], vec![0, 1, 2, 3, 4]));
    new.sort();
    assert_eq!(new.len(), 10);
}

#[test]
fn archive_drains_every_lane_into_one_archive_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    make_dir(&dir);
    let arch = tmp.path().join("arch");
    let (out, err) = run(&["archive", s(&dir), "--to", s(&arch), "--idle-exit-ms", "200", "--quiet"], 0);
    assert!(out.contains("archived 45 records from 3 lanes"), "{out}");
    for (name, n) in LANES {
        assert!(err.contains(&format!("lane {name}: archived {n} (next seq {n}), missed 0, lag 0")), "{err}");
    }
    let (_, records) = replaylog::archive::read_archived(&arch).unwrap();
    assert!(records.iter().all(|r| r.lane.is_some() && r.record.timestamp_ns.is_some()));
    expect(&["diff", s(&dir), s(&arch)], 0);

    // More records in lane c and a new lane: a second run archives only those.
    let recorder: Recorder<Rec> = Recorder::open(&dir, options()).unwrap();
    let mut c = recorder.lane("c").unwrap();
    let mut e = recorder.lane("e").unwrap();
    for k in 0..4 {
        c.append_at(500 + k, &rec(2, 10 + k)).unwrap();
        e.append_at(500 + k, &rec(4, k)).unwrap();
    }
    drop((c, e));
    let (out, err) = run(&["archive", s(&dir), "--to", s(&arch), "--idle-exit-ms", "200", "--quiet"], 0);
    assert!(out.contains("archived 8 records from 4 lanes"), "{out}");
    assert!(
        err.contains("lane a: archived 0 (next seq 20)") && err.contains("lane c: archived 4 (next seq 14)"),
        "{err}"
    );
    assert!(err.contains("lane e: archived 4 (next seq 4)"), "{err}");
    expect(&["diff", s(&dir), s(&arch)], 0);
    let mut lines = json_lines(&expect(&["dump", "--json", s(&arch)], 0));
    lines.sort_by_key(|l| (l["lane"].as_str().unwrap().to_string(), l["seq"].as_u64().unwrap()));
    assert_eq!(lines.len(), 53);
}

#[test]
fn archive_adds_a_lane_created_while_it_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    make_dir(&dir);
    let arch = tmp.path().join("arch");
    let mut child = Command::new(env!("CARGO_BIN_EXE_replaylog"))
        .args(["archive", s(&dir), "--to", s(&arch), "--idle-exit-ms", "1500", "--quiet"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The archive journal exists once the archiver started with the three lanes.
    while !arch.join("00000000000000000000.seg").exists() && child.try_wait().unwrap().is_none() {
        std::thread::yield_now();
    }
    let recorder: Recorder<Rec> = Recorder::open(&dir, options()).unwrap();
    let mut d = recorder.lane("d").unwrap();
    for k in 0..3 {
        d.append_at(7 + k, &rec(3, k)).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("archived 48 records from 4 lanes"), "{stdout}\n{stderr}");
    assert!(stderr.contains("lane d: archived 3 (next seq 3), missed 0, lag 0"), "{stderr}");
    expect(&["diff", s(&dir), s(&arch)], 0);
}
