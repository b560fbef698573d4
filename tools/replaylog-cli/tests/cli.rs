//! Runs the real `replaylog` binary on rings and journals made with the library, on damaged
//! ones, and on foreign inputs.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use replaylog::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use replaylog::{
    FailureKind, Field, FieldType, Journal, JournalOptions, Layout, RecordLayout, ReplayFailureEvidence, RingLog,
    RingOptions,
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

fn rec(i: u64) -> Rec {
    Rec { tick: i, value: i as f64 * 0.5, flags: (i % 3) as u32, _pad: 0 }
}

/// Records `i` with `i % 10 == 9` carry evidence.
fn evidence(i: u64) -> Option<ReplayFailureEvidence> {
    (i % 10 == 9)
        .then(|| ReplayFailureEvidence::new(FailureKind::Timeout, 110, format!("deadline missed at {i}, \"late\"")))
}

/// A ring of `cap` slots holding appends `0..n` (`tweak` may change a record before it is
/// appended).
fn make_ring_with(path: &Path, cap: u64, n: u64, layout: bool, tweak: impl Fn(u64, &mut Rec)) {
    let opts = if layout { RingOptions::default().layout_of::<Rec>() } else { RingOptions::default() };
    let mut log: RingLog<Rec> = RingLog::open_with(path, cap, opts).unwrap();
    for i in 0..n {
        let mut r = rec(i);
        tweak(i, &mut r);
        match evidence(i) {
            Some(ev) => log.append_with_failure(&r, &ev).unwrap(),
            None => log.append(&r).unwrap(),
        }
    }
    log.sync().unwrap();
}

fn make_ring(path: &Path, cap: u64, n: u64) {
    make_ring_with(path, cap, n, true, |_, _| {});
}

/// A plain journal: `entries`, a snapshot after the first `snap_after` of them.
fn make_journal(dir: &Path, entries: &[&[u8]], snap_after: Option<usize>) {
    let j = Journal::open(dir, JournalOptions::default()).unwrap();
    for (i, e) in entries.iter().enumerate() {
        j.write(e).unwrap();
        if snap_after == Some(i + 1) {
            j.snapshot(b"state").unwrap();
        }
    }
    j.close().unwrap();
}

fn last_segment(dir: &Path) -> PathBuf {
    let mut segs: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    segs.pop().unwrap()
}

/// Writes `n` garbage bytes right after the last frame of a journal segment (over the
/// zero-filled preallocated space, as a torn write would), or at the end of any other file.
fn append_garbage(file: &Path, n: usize) {
    use std::os::unix::fs::FileExt;
    let at = match replaylog::journal::validate(file) {
        Ok(v) => v.valid_bytes,
        Err(_) => std::fs::metadata(file).unwrap().len(),
    };
    let f = std::fs::OpenOptions::new().write(true).open(file).unwrap();
    f.write_all_at(&vec![0xAB; n], at).unwrap();
}

fn replaylog(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_replaylog")).args(args).stdin(Stdio::null()).output().expect("run replaylog")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs and checks the exit status; no panic, errors worded `replaylog: ...`. Returns stdout.
fn expect(args: &[&str], code: i32) -> String {
    let out = replaylog(args);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(code), "{args:?}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    if code == 2 {
        assert!(stderr.starts_with("replaylog: ") || stderr.starts_with("error:"), "{args:?}: {stderr}");
    }
    stdout.into_owned()
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

/// Every file under `p` (or `p` itself) with its bytes.
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

/// Flips one byte inside the record of slot `index`.
fn flip_slot_byte(ring: &Path, index: u64) {
    let info: Value = serde_json::from_str(&expect(&["inspect", "--json", s(ring)], 0)).unwrap();
    let off = info["slots_offset"].as_u64().unwrap() + index * info["slot_bytes"].as_u64().unwrap() + 32 + 3;
    let mut bytes = std::fs::read(ring).unwrap();
    bytes[off as usize] ^= 0xFF;
    std::fs::write(ring, bytes).unwrap();
}

#[test]
fn help_documents_exit_status_and_layout() {
    let help = expect(&["--help"], 0);
    assert!(help.contains("Exit status: 0 ok; 1 problems found"), "{help}");
    let dump = expect(&["dump", "--help"], 0);
    assert!(dump.contains("#[repr(C)]") && dump.contains("Exit status"), "{dump}");
    expect(&["export", "x", "--to", "parquet"], 2);
}

#[test]
fn inspect_json_reports_a_ring() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("a.ring");
    make_ring(&ring, 64, 100);
    let v: Value = serde_json::from_str(&expect(&["inspect", "--json", s(&ring)], 0)).unwrap();
    assert_eq!(v["format"], "ring");
    assert_eq!(v["capacity"], 64);
    assert_eq!(v["record_bytes"], 24);
    assert_eq!(v["window"]["first"], 36);
    assert_eq!(v["window"]["last"], 99);
    assert_eq!(v["window"]["records"], 64);
    assert_eq!(v["cursor_hint"], 100);
    assert_eq!(v["state"]["synced_next"], 100);
    assert_eq!(v["records_with_evidence"], 7); // 39, 49, ..., 99
    assert_eq!(v["slots"]["valid"], 64);
    assert_eq!(v["slots"]["bad"], 0);
    assert_eq!(v["layout"]["name"], "Rec");
    let names: Vec<&str> =
        v["layout"]["fields"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["tick", "value", "flags"]);
    let text = expect(&["inspect", s(&ring)], 0);
    assert!(text.contains("seq 36..=99 (64 records)") && text.contains("7 records"), "{text}");
}

#[test]
fn inspect_json_reports_a_journal_and_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("j");
    make_journal(&j, &[b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h"], Some(5));
    let v: Value = serde_json::from_str(&expect(&["inspect", "--json", s(&j)], 0)).unwrap();
    assert_eq!(v["format"], "journal");
    assert_eq!(v["segments"].as_array().unwrap().len(), 2);
    assert_eq!(v["lsn_range"]["first"], 1);
    assert_eq!(v["lsn_range"]["last"], 9);
    assert_eq!(v["entries"], 9);
    assert_eq!(v["newest_snapshot"], 6);
    assert_eq!(v["archive"], Value::Null);
    assert_eq!(v["validation"]["problem"], Value::Null);
    let seg = last_segment(&j);
    let v: Value = serde_json::from_str(&expect(&["inspect", "--json", s(&seg)], 0)).unwrap();
    assert_eq!(v["format"], "segment");
    assert_eq!(v["lsn_range"]["first"], 7);
    assert_eq!(v["lsn_range"]["last"], 9);
    // Nothing was created next to the segment.
    assert_eq!(std::fs::read_dir(&j).unwrap().count(), 2);
}

#[test]
fn dump_decodes_fields_by_name_from_the_stored_layout() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("a.ring");
    make_ring(&ring, 64, 100);
    let lines = json_lines(&expect(&["dump", "--json", s(&ring)], 0));
    assert_eq!(lines.len(), 64);
    for (i, l) in lines.iter().enumerate() {
        let seq = 36 + i as u64;
        assert_eq!(l["type"], "record");
        assert_eq!(l["seq"], seq);
        assert_eq!(l["fields"]["tick"], seq);
        assert_eq!(l["fields"]["value"].as_f64().unwrap(), seq as f64 * 0.5);
        assert_eq!(l["fields"]["flags"], seq % 3);
        assert_eq!(l["hex"].as_str().unwrap().len(), 48);
        match evidence(seq) {
            None => assert_eq!(l["evidence"], Value::Null),
            Some(ev) => {
                assert_eq!(l["evidence"]["kind"], "timeout");
                assert_eq!(l["evidence"]["code"], 110);
                assert_eq!(l["evidence"]["message"], ev.message);
            }
        }
    }
    let some = json_lines(&expect(&["dump", "--json", "--from", "90", "--limit", "3", s(&ring)], 0));
    let seqs: Vec<u64> = some.iter().map(|l| l["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, [90, 91, 92]);
    let text = expect(&["dump", "--from", "49", "--limit", "2", s(&ring)], 0);
    assert!(text.contains("seq 49 epoch 1  tick=49 value=24.5 flags=1  FAILURE timeout code=110"), "{text}");
    assert!(text.contains("seq 50 epoch 1  tick=50 value=25 flags=2\n"), "{text}");
}

#[test]
fn dump_layout_option_decodes_a_ring_without_one() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("bare.ring");
    make_ring_with(&ring, 16, 5, false, |_, _| {});
    let bare = json_lines(&expect(&["dump", "--json", s(&ring)], 0));
    assert_eq!(bare[0]["fields"], Value::Null);
    let text = expect(&["dump", s(&ring), "--limit", "1"], 0);
    assert!(text.contains("hex 0000000000000000"), "{text}");
    let decoded = json_lines(&expect(&["dump", "--json", "--layout", "tick:u64,value:f64,flags:u32", s(&ring)], 0));
    assert_eq!(decoded[3]["fields"]["tick"], 3);
    assert_eq!(decoded[3]["fields"]["value"].as_f64(), Some(1.5));
    let arr = json_lines(&expect(&["dump", "--json", "--layout", "t:u32[2],v:bytes[8],f:u16[2]", s(&ring)], 0));
    assert_eq!(arr[1]["fields"]["t"], serde_json::json!([1, 0]));
    assert_eq!(arr[1]["fields"]["v"], "000000000000e03f");
    expect(&["dump", "--layout", "tick:u64,value:f64,flags:u32,more:u64", s(&ring)], 2);
    expect(&["dump", "--layout", "tick:u128", s(&ring)], 2);
}

#[test]
fn dump_journal_entries_as_text_or_hex() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("j");
    make_journal(&j, &[b"hello world", &[0, 1, 2, 255], &42u64.to_le_bytes()], None);
    let text = expect(&["dump", s(&j)], 0);
    assert!(text.contains("lsn 1 entry 11 bytes  \"hello world\""), "{text}");
    assert!(text.contains("lsn 2 entry 4 bytes  hex 000102ff"), "{text}");
    let lines = json_lines(&expect(&["dump", "--json", s(&j)], 0));
    assert_eq!(lines[0]["utf8"], "hello world");
    assert_eq!(lines[1]["utf8"], Value::Null);
    assert_eq!(lines[1]["hex"], "000102ff");
    let decoded = json_lines(&expect(&["dump", "--json", "--from", "3", "--layout", "n:u64", s(&j)], 0));
    assert_eq!(decoded.len(), 1);
    assert_eq!(decoded[0]["fields"]["n"], 42);
}

#[test]
fn validate_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("a.ring");
    make_ring(&ring, 64, 100);
    let clean = expect(&["validate", s(&ring)], 0);
    assert!(clean.contains("result: clean"), "{clean}");

    flip_slot_byte(&ring, 5);
    let text = expect(&["validate", s(&ring)], 1);
    assert!(text.contains("slot 5: checksum mismatch"), "{text}");
    let v: Value = serde_json::from_str(&expect(&["validate", "--json", s(&ring)], 1)).unwrap();
    assert_eq!(v["ok"], false);
    let bad: Vec<&Value> = v["problems"].as_array().unwrap().iter().filter(|p| p["kind"] == "checksum").collect();
    assert_eq!(bad.len(), 1);
    assert_eq!((bad[0]["first_index"].as_u64(), bad[0]["last_index"].as_u64()), (Some(5), Some(5)));
    assert_eq!(bad[0]["seq"], 69);

    let j = dir.path().join("j");
    make_journal(&j, &[b"one", b"two", b"three"], None);
    let v: Value = serde_json::from_str(&expect(&["validate", "--json", s(&j)], 0)).unwrap();
    assert_eq!((v["ok"].as_bool(), v["chunks"].as_u64()), (Some(true), Some(3)));
    append_garbage(&last_segment(&j), 100);
    let text = expect(&["validate", s(&j)], 1);
    assert!(text.contains("(chunks, valid_bytes) = (3, ") && text.contains("torn tail"), "{text}");
    let v: Value = serde_json::from_str(&expect(&["validate", "--json", s(&j)], 1)).unwrap();
    assert_eq!(v["problem"]["kind"], "bad_tail");
    expect(&["validate", s(&last_segment(&j))], 1);

    let foreign = dir.path().join("foreign.bin");
    std::fs::write(&foreign, b"not a replaylog file at all").unwrap();
    expect(&["validate", s(&foreign)], 2);
    expect(&["validate", s(&dir.path().join("missing"))], 2);
}

#[test]
fn repair_refuses_without_yes_and_keeps_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("j");
    make_journal(&j, &[b"one", b"two", b"three"], None);
    let seg = last_segment(&j);
    append_garbage(&seg, 77);
    let before = snapshot(&j);
    let out = replaylog(&["repair", s(&j)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--yes") && stderr.contains("not a terminal"), "{stderr}");
    assert_eq!(snapshot(&j), before, "a refused repair changed nothing");

    let text = expect(&["repair", "--yes", s(&j)], 0);
    assert!(text.contains("77 bytes cut") && text.contains("now: (chunks, valid_bytes) = (3, "), "{text}");
    let backups: Vec<PathBuf> = std::fs::read_dir(j.join("backup")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(std::fs::read(&backups[0]).unwrap(), vec![0xAB; 77]);
    assert!(text.contains(s(&backups[0])), "{text}");
    expect(&["validate", s(&j)], 0);
    let again = expect(&["repair", s(&j)], 0);
    assert!(again.contains("nothing to repair"), "{again}");

    let ring = dir.path().join("a.ring");
    make_ring(&ring, 8, 3);
    let out = replaylog(&["repair", "--yes", s(&ring)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rings need no repair"));
}

#[test]
fn export_roundtrips_and_diff_finds_the_changed_field() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.ring");
    make_ring(&a, 64, 100);

    let jsonl = json_lines(&expect(&["export", s(&a), "--to", "jsonl"], 0));
    assert_eq!(jsonl.len(), 65);
    assert_eq!((jsonl[0]["type"].as_str(), jsonl[0]["record_bytes"].as_u64()), (Some("header"), Some(24)));
    assert_eq!(jsonl[0]["layout"]["name"], "Rec");
    let dumped = json_lines(&expect(&["dump", "--json", s(&a)], 0));
    assert_eq!(&jsonl[1..], &dumped[..], "export jsonl records are dump --json lines");

    let out_file = dir.path().join("a.csv");
    expect(&["export", s(&a), "--to", "csv", "--out", s(&out_file)], 0);
    let csv = std::fs::read_to_string(&out_file).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 65);
    assert_eq!(
        rows[0],
        "seq,epoch,timestamp_ns,lane,lsn,tick,value,flags,record_hex,evidence_kind,evidence_other_code,evidence_code,evidence_message"
    );
    assert!(rows[4].starts_with("39,1,,,,39,19.5,0,"), "{}", rows[4]);
    assert!(rows[4].ends_with(",timeout,0,110,\"deadline missed at 39, \"\"late\"\"\""), "{}", rows[4]);
    assert!(rows[5].ends_with(",,,,"), "{}", rows[5]);
    expect(&["export", s(&a), "--to", "csv", "--out", s(&out_file)], 2); // exists: refused
    assert_eq!(std::fs::read_to_string(&out_file).unwrap(), csv);

    let arch = dir.path().join("arch");
    let said = expect(&["export", s(&a), "--to", &format!("journal:{}", s(&arch))], 0);
    assert!(said.contains("exported 64 entries"), "{said}");
    expect(&["export", s(&a), "--to", &format!("journal:{}", s(&arch))], 2); // not empty: refused
    let identical = expect(&["diff", s(&a), s(&arch)], 0);
    assert!(identical.contains("result: identical") && identical.contains("64 records compared"), "{identical}");
    expect(&["diff", "--epochs", s(&arch), s(&a)], 0);
    let from_arch = json_lines(&expect(&["dump", "--json", s(&arch)], 0));
    assert_eq!(from_arch.len(), 64);
    for (x, y) in from_arch.iter().zip(&dumped) {
        assert_eq!(
            (&x["seq"], &x["fields"], &x["hex"], &x["evidence"]),
            (&y["seq"], &y["fields"], &y["hex"], &y["evidence"])
        );
        assert!(x["lsn"].as_u64().unwrap() >= 2);
    }
    // A later segment of the archive, on its own, still decodes with the archive's header.
    let seg = json_lines(&expect(&["dump", "--json", s(&last_segment(&arch))], 0));
    assert_eq!((seg.len(), &seg[0]["fields"]["tick"]), (64, &serde_json::json!(36)));
    let archive_info: Value = serde_json::from_str(&expect(&["inspect", "--json", s(&arch)], 0)).unwrap();
    assert_eq!(archive_info["archive"]["record_bytes"], 24);
    assert_eq!(archive_info["archive"]["layout"]["name"], "Rec");
    // The archive re-exported is the same archive.
    let arch2 = dir.path().join("arch2");
    expect(&["export", s(&arch), "--to", &format!("journal:{}", s(&arch2))], 0);
    expect(&["diff", s(&arch), s(&arch2)], 0);

    // A replayed run whose record 70 differs in one field.
    let b = dir.path().join("b.ring");
    make_ring_with(&b, 64, 100, true, |i, r| {
        if i == 70 {
            r.value = -1.25;
        }
    });
    let out = replaylog(&["diff", s(&arch), s(&b)]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("first divergence at seq 70:"), "{text}");
    assert!(text.contains("field value: A=35 B=-1.25"), "{text}");
    assert!(text.contains("64 records compared (same seq on both sides), 1 differ"), "{text}");
    expect(&["diff", s(&a), s(&b)], 1);

    // Different evidence, and a capture that ends early.
    let c = dir.path().join("c.ring");
    make_ring(&c, 64, 99);
    let text = expect(&["diff", s(&a), s(&c)], 1);
    assert!(text.contains("first divergence at seq 35:\n  only B has seq 35"), "{text}");
    assert!(
        text.contains("63 records compared (same seq on both sides), 0 differ; 1 only in A, 1 only in B"),
        "{text}"
    );
    // Evidence is compared too.
    let e = dir.path().join("e.ring");
    make_ring_with(&e, 64, 100, true, |_, _| {});
    let mut log: RingLog<Rec> = RingLog::open_with(&e, 64, RingOptions::default()).unwrap();
    log.append(&rec(100)).unwrap();
    log.sync().unwrap();
    drop(log);
    let mut log: RingLog<Rec> = RingLog::open_with(&a, 64, RingOptions::default()).unwrap();
    log.append_with_failure(&rec(100), &ReplayFailureEvidence::new(FailureKind::Other(7), -1, "x")).unwrap();
    log.sync().unwrap();
    drop(log);
    let text = expect(&["diff", s(&a), s(&e)], 1);
    assert!(text.contains("evidence: A=other(7) code=-1 \"x\" B=none"), "{text}");
    // Left out when asked.
    let text = expect(&["diff", "--ignore-evidence", s(&a), s(&e)], 0);
    assert!(text.contains("ignored: evidence") && text.contains("result: within tolerance"), "{text}");
}

#[test]
fn archives_of_the_library_archiver_and_of_export_are_the_same_format() {
    use replaylog::archive::{Archiver, ArchiverOptions, read_archive};
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("a.ring");
    make_ring(&ring, 64, 100);
    // The library's archiver writes an archive the tool reads.
    let by_lib = dir.path().join("by-archiver");
    let stats = Archiver::start(&ring, &by_lib, ArchiverOptions::default()).unwrap().stop().unwrap();
    assert_eq!(stats.archived, 64);
    let same = expect(&["diff", "--epochs", s(&ring), s(&by_lib)], 0);
    assert!(same.contains("64 records compared"), "{same}");
    let lines = json_lines(&expect(&["dump", "--json", "--from", "49", "--limit", "1", s(&by_lib)], 0));
    assert_eq!(
        (&lines[0]["fields"]["tick"], &lines[0]["evidence"]["code"]),
        (&serde_json::json!(49), &serde_json::json!(110))
    );
    // The tool's export is read by the library, record for record.
    let by_tool = dir.path().join("by-export");
    expect(&["export", s(&ring), "--to", &format!("journal:{}", s(&by_tool))], 0);
    let (h1, r1) = read_archive(&by_lib).unwrap();
    let (h2, r2) = read_archive(&by_tool).unwrap();
    assert_eq!((h1, r1), (h2, r2));
    expect(&["diff", s(&by_lib), s(&by_tool)], 0);
}

/// An archive of a ring with a clock carries every timestamp (archiver and `export --to
/// journal:` alike), and the tool prints the archive's records as it prints the ring's.
#[test]
fn archives_of_a_timed_ring_keep_its_timestamps_and_print_as_the_ring_does() {
    use replaylog::archive::{Archiver, ArchiverOptions, read_archive};
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("t.ring");
    let opts = RingOptions::default().layout_of::<Rec>().clock(replaylog::Clock::Monotonic);
    let mut log: RingLog<Rec> = RingLog::open_with(&ring, 64, opts).unwrap();
    for i in 0..40 {
        match evidence(i) {
            Some(ev) => log.append_with_failure(&rec(i), &ev).unwrap(),
            None => log.append(&rec(i)).unwrap(),
        }
    }
    log.sync().unwrap();
    let in_ring = replaylog::RawRing::open(&ring).unwrap().records().unwrap();
    assert!(in_ring.iter().all(|r| r.timestamp_ns.is_some()));
    let by_lib = dir.path().join("by-archiver");
    Archiver::start(&ring, &by_lib, ArchiverOptions::default()).unwrap().stop().unwrap();
    let by_tool = dir.path().join("by-export");
    expect(&["export", s(&ring), "--to", &format!("journal:{}", s(&by_tool))], 0);
    assert_eq!(read_archive(&by_lib).unwrap().1, in_ring);
    assert_eq!(read_archive(&by_tool).unwrap().1, in_ring);
    // The records (not the header line, which names the source), without the archive's LSNs.
    let without_lsn = |text: String| {
        let mut lines = json_lines(&text);
        lines.retain(|l| l.get("type").is_none_or(|t| t == "record"));
        for l in &mut lines {
            l.as_object_mut().unwrap().remove("lsn");
        }
        lines
    };
    for args in [&["dump", "--json"][..], &["export", "--to", "jsonl"][..]] {
        let of = |p: &Path| {
            let mut a = args.to_vec();
            a.insert(1, s(p));
            without_lsn(expect(&a, 0))
        };
        let ring_lines = of(&ring);
        assert_eq!(ring_lines.len(), 40, "{args:?}");
        assert_eq!(of(&by_lib), ring_lines, "{args:?} of the archive");
        assert_eq!(of(&by_tool), ring_lines, "{args:?} of the exported archive");
    }
}

#[test]
fn tail_follows_a_ring_written_by_another_process() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("live.ring");
    let mut log: RingLog<Rec> = RingLog::open_with(&ring, 1024, RingOptions::default().layout_of::<Rec>()).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_replaylog"))
        .args(["tail", "-f", s(&ring), "-n", "1000", "--max-records", "50", "--timeout-ms", "20000", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the follower is running, then append from this process.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    stderr.read_line(&mut line).unwrap();
    assert!(line.contains("following from seq 0"), "{line}");
    for i in 0..50 {
        let r = rec(i);
        match evidence(i) {
            Some(ev) => log.append_with_failure(&r, &ev).unwrap(),
            None => log.append(&r).unwrap(),
        }
        if i % 10 == 0 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    assert_eq!(status.code(), Some(0), "{stdout}\n{rest}");
    let lines = json_lines(&stdout);
    assert_eq!(lines.len(), 50);
    for (i, l) in lines.iter().enumerate() {
        assert_eq!((l["seq"].as_u64(), l["fields"]["tick"].as_u64()), (Some(i as u64), Some(i as u64)));
        assert_eq!(l["evidence"] != Value::Null, evidence(i as u64).is_some());
    }
    drop(log);
}

#[test]
fn tail_reports_lapping_and_prints_the_last_records() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("small.ring");
    make_ring(&ring, 16, 128);
    let text = expect(&["tail", "-f", s(&ring), "--from", "0", "--max-records", "16", "--timeout-ms", "10000"], 0);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "lapped: missed 112 records (resuming at seq 112)");
    assert_eq!(lines.len(), 17);
    assert!(lines[1].starts_with("seq 112 "), "{text}");
    assert!(lines[16].starts_with("seq 127 "), "{text}");
    let last = expect(&["tail", s(&ring), "-n", "3"], 0);
    let seqs: Vec<&str> = last.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
    assert_eq!(seqs, ["125", "126", "127"]);
    // Nothing more is published: the timeout ends the follow with status 1.
    let out = replaylog(&["tail", "-f", s(&ring), "-n", "0", "--max-records", "1", "--timeout-ms", "200"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("timed out after 200 ms with 0 of 1 records"));
}

#[test]
fn tail_follows_a_journal() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("j");
    make_journal(&j, &[b"old-1", b"old-2"], None);
    let mut child = Command::new(env!("CARGO_BIN_EXE_replaylog"))
        .args(["tail", "-f", s(&j), "-n", "1", "--max-records", "4", "--timeout-ms", "20000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("following after lsn 2"), "{line}");
    let writer = Journal::open(&j, JournalOptions::default()).unwrap();
    for e in [b"new-3", b"new-4", b"new-5"] {
        writer.write(e).unwrap();
        std::thread::sleep(Duration::from_millis(30));
    }
    let out = child.wait_with_output().unwrap();
    writer.close().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 4, "{text}");
    assert!(lines[0].contains("\"old-2\"") && lines[3].contains("lsn 5 entry 5 bytes  \"new-5\""), "{text}");
}

#[test]
fn every_subcommand_survives_foreign_and_damaged_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("empty"), b"").unwrap();
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let random: Vec<u8> = (0..20_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    std::fs::write(d.join("random"), &random).unwrap();
    let mut fake_ring = b"RPLYRING".to_vec();
    fake_ring.extend_from_slice(&random);
    std::fs::write(d.join("fake.ring"), &fake_ring).unwrap();
    let mut fake_seg = b"RPLYJRNL".to_vec();
    fake_seg.extend_from_slice(&random);
    std::fs::write(d.join("fake.seg"), &fake_seg).unwrap();
    make_ring(&d.join("good.ring"), 32, 40);
    let good = std::fs::read(d.join("good.ring")).unwrap();
    std::fs::write(d.join("truncated.ring"), &good[..good.len() / 2]).unwrap();
    std::fs::create_dir(d.join("stranger")).unwrap();
    make_journal(&d.join("stranger"), &[b"x"], None);
    std::fs::write(d.join("stranger").join("notes.txt"), b"hello").unwrap();
    std::fs::create_dir(d.join("emptydir")).unwrap();
    std::fs::copy(d.join("good.ring"), d.join("flipped.ring")).unwrap();
    flip_slot_byte(&d.join("flipped.ring"), 3);
    make_journal(&d.join("torn"), &[b"a", b"b"], None);
    append_garbage(&last_segment(&d.join("torn")), 50);

    let foreign = ["empty", "random", "fake.ring", "fake.seg", "truncated.ring", "stranger", "emptydir", "missing"];
    let damaged = ["flipped.ring", "torn"];
    let before = snapshot(d);
    for name in foreign.iter().chain(&damaged) {
        let p = d.join(name);
        let p = s(&p);
        let commands: Vec<Vec<&str>> = vec![
            vec!["inspect", p],
            vec!["inspect", "--json", p],
            vec!["dump", p],
            vec!["dump", "--json", p],
            vec!["validate", p],
            vec!["validate", "--json", p],
            vec!["tail", p],
            vec!["tail", "-f", p, "--timeout-ms", "150"],
            vec!["export", p, "--to", "jsonl"],
            vec!["export", p, "--to", "csv"],
            vec!["diff", p, p],
            vec!["repair", p],
        ];
        for args in commands {
            let out = replaylog(&args);
            let stderr = String::from_utf8_lossy(&out.stderr);
            let code = out.status.code();
            assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
            if foreign.contains(name) {
                let ok = code == Some(2) || (code == Some(1) && args[0] == "validate" && *name == "truncated.ring");
                assert!(ok, "{args:?}: {code:?} {stderr}");
            } else {
                assert!(matches!(code, Some(0..=2)), "{args:?}: {code:?} {stderr}");
            }
            if code == Some(2) {
                assert!(stderr.starts_with("replaylog: "), "{args:?}: {stderr}");
                assert!(stderr.contains('(') && stderr.trim_end().ends_with(')'), "a hint: {args:?}: {stderr}");
            }
        }
    }
    assert!(snapshot(d) == before, "a read-only command (or a refused repair) changed a file");
    assert_eq!(replaylog(&["validate", s(&d.join("truncated.ring"))]).status.code(), Some(1));
    assert_eq!(replaylog(&["validate", s(&d.join("flipped.ring"))]).status.code(), Some(1));
}

#[test]
fn archive_command_drains_a_ring_resumes_and_reports_what_it_missed() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("a.ring");
    let arch = dir.path().join("arch");
    let mut log: RingLog<Rec> = RingLog::open_with(&ring, 64, RingOptions::default().layout_of::<Rec>()).unwrap();
    for i in 0..50 {
        log.append(&rec(i)).unwrap();
    }
    let out = expect(&["archive", s(&ring), "--to", s(&arch), "--idle-exit-ms", "50", "--quiet"], 0);
    assert!(out.contains("archived 50 records"), "{out}");
    // The archive and the ring are the same capture.
    expect(&["diff", "--epochs", s(&ring), s(&arch)], 0);
    // Resume after more than a lap: the gap is reported and the exit status says so.
    for i in 50..300 {
        log.append(&rec(i)).unwrap();
    }
    let out = expect(&["archive", s(&ring), "--to", s(&arch), "--idle-exit-ms", "50", "--quiet"], 1);
    assert!(out.contains("resumed at seq 50"), "{out}");
    assert!(out.contains("missed 186 records") && out.contains("seqs 50..236"), "{out}");
    // A foreign ring path is an error, and the archive is left alone.
    let before = snapshot(&arch);
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"not a ring").unwrap();
    expect(&["archive", s(&junk), "--to", s(&arch), "--seconds", "0.1"], 2);
    assert_eq!(snapshot(&arch), before);
}
