//! `replaylog::compare` on synthetic reference/candidate captures with known differences: each
//! test states the difference it plants and checks that exactly it is reported.

use std::path::{Path, PathBuf};

use replaylog::compare::{Align, CompareError, Options, Side, Tolerance, Verdict, compare, compare_with};
use replaylog::{
    FailureKind, RawRing, RecordLayout, Recorder, RecorderOptions, ReplayFailureEvidence, RingLog, RingOptions,
};

#[replaylog::record]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Sample {
    tick: u64,
    ts_ns: u64,
    value: f64,
    count: i32,
    gains: [f32; 2],
    _pad: [u8; 4],
}

const N: u64 = 10_000;

fn sample(tick: u64) -> Sample {
    Sample {
        tick,
        ts_ns: 1_000_000 * tick,
        value: 1.0 + tick as f64 * 0.25,
        count: tick as i32 % 7 - 3,
        gains: [0.5, -0.25 * tick as f32],
        _pad: [0; 4],
    }
}

/// A ring of `n` samples from `make` (`None`: the tick is dropped).
fn ring(dir: &Path, name: &str, n: u64, make: impl Fn(u64) -> Option<Sample>) -> PathBuf {
    let path = dir.join(name);
    let mut log: RingLog<Sample> =
        RingLog::open_with(&path, n.max(1) + 16, RingOptions::default().layout_of::<Sample>()).unwrap();
    for t in 0..n {
        if let Some(s) = make(t) {
            log.append(&s).unwrap();
        }
    }
    log.sync().unwrap();
    path
}

fn rtol(field: &str, rel: f64) -> Options {
    let mut o = Options::default();
    o.tolerances.insert(field.into(), Tolerance { abs: 0.0, rel });
    o
}

#[test]
fn float_noise_passes_with_rtol_and_fails_without_from_record_zero() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "a.ring", N, |t| Some(sample(t)));
    let b = ring(dir.path(), "b.ring", N, |t| Some(Sample { value: sample(t).value * (1.0 + 1e-12), ..sample(t) }));
    let exact = compare(&a, &b, &Options::default()).unwrap();
    assert_eq!(exact.verdict, Verdict::Fail);
    let s = &exact.streams[0];
    assert_eq!((s.compared, s.differing), (N, N));
    let value = s.fields.iter().find(|f| f.name == "value").unwrap();
    assert_eq!((value.divergences, value.first_key, value.last_key), (N, Some(0), Some(N as i128 - 1)));
    assert!(value.max_rel > 0.5e-12 && value.max_rel < 2e-12, "{}", value.max_rel);
    assert_eq!(s.divergences[0].key, 0);
    assert_eq!(s.divergences[0].field, "value");
    assert_eq!(s.divergences.len(), 20, "the default limit keeps the first 20");
    // Every other field is exact and did not diverge.
    assert!(s.fields.iter().filter(|f| f.name != "value").all(|f| f.divergences == 0));

    for opts in
        [rtol("value", 1e-9), Options { default_float: Tolerance { abs: 0.0, rel: 1e-9 }, ..Options::default() }]
    {
        let o = compare(&a, &b, &opts).unwrap();
        assert_eq!(o.verdict, Verdict::Pass, "{:?}", o.reasons);
        assert_eq!(o.streams[0].fields.iter().find(|f| f.name == "value").unwrap().tolerance.rel, 1e-9);
    }
    // A tolerance just under the noise fails again.
    assert_eq!(compare(&a, &b, &rtol("value", 1e-13)).unwrap().verdict, Verdict::Fail);
}

#[test]
fn one_value_out_of_tolerance_is_reported_at_its_key_with_both_values() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "a.ring", N, |t| Some(sample(t)));
    let b = ring(dir.path(), "b.ring", N, |t| {
        let s = sample(t);
        Some(Sample { value: if t == 5000 { s.value + 0.5 } else { s.value * (1.0 + 1e-12) }, ..s })
    });
    let o = compare(&a, &b, &rtol("value", 1e-9)).unwrap();
    assert_eq!(o.verdict, Verdict::Fail);
    let s = &o.streams[0];
    assert_eq!((s.compared, s.differing, s.missing_count, s.extra_count), (N, 1, 0, 0));
    let d = &s.divergences[..];
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].key, d[0].field.as_str()), (5000, "value"));
    assert_eq!((d[0].reference.as_str(), d[0].candidate.as_str()), ("1251", "1251.5"));
    assert_eq!(d[0].abs, Some(0.5));
    let f = s.fields.iter().find(|f| f.name == "value").unwrap();
    assert_eq!((f.divergences, f.first_key, f.last_key, f.max_abs), (1, Some(5000), Some(5000), 0.5));
    // Aligned by tick the same.
    let by_tick = compare(&a, &b, &Options { align: Align::Field("tick".into()), ..rtol("value", 1e-9) }).unwrap();
    assert_eq!(by_tick.streams[0].divergences[0].key, 5000);
}

#[test]
fn a_dropped_record_is_one_missing_key_when_aligned_by_tick() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "a.ring", N, |t| Some(sample(t)));
    let b = ring(dir.path(), "b.ring", N, |t| (t != 1234).then(|| sample(t)));
    let opts = Options { align: Align::Field("tick".into()), ..Options::default() };
    let o = compare(&a, &b, &opts).unwrap();
    let s = &o.streams[0];
    assert_eq!((s.compared, s.differing), (N - 1, 0));
    assert_eq!((s.missing.clone(), s.missing_count, s.extra_count), (vec![1234], 1, 0));
    assert_eq!(o.verdict, Verdict::Fail);
    assert_eq!(o.reasons, vec!["1 keys missing from the candidate".to_string()]);
    // By seq the same drop shifts every later record: a cascade, which is why --align exists.
    let by_seq = compare(&a, &b, &Options::default()).unwrap();
    assert_eq!(by_seq.streams[0].differing, N - 1 - 1234);
    // An extra record in the candidate is one extra key.
    let o = compare(&b, &a, &opts).unwrap();
    assert_eq!((o.streams[0].extra.clone(), o.streams[0].missing_count), (vec![1234], 0));
}

#[test]
fn an_always_different_timestamp_passes_only_when_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "a.ring", 100, |t| Some(sample(t)));
    let b = ring(dir.path(), "b.ring", 100, |t| Some(Sample { ts_ns: sample(t).ts_ns + 777, ..sample(t) }));
    let o = compare(&a, &b, &Options::default()).unwrap();
    assert_eq!(o.streams[0].fields.iter().find(|f| f.name == "ts_ns").unwrap().divergences, 100);
    let mut ignore = Options::default();
    ignore.ignore.insert("ts_ns".into());
    let o = compare(&a, &b, &ignore).unwrap();
    assert_eq!(o.verdict, Verdict::Pass);
    assert_eq!(o.ignored, vec!["ts_ns".to_string()]);
    assert!(o.streams[0].fields.iter().find(|f| f.name == "ts_ns").unwrap().ignored);
    // An integer within an absolute tolerance passes too; just outside it does not.
    let mut tol = Options::default();
    tol.tolerances.insert("ts_ns".into(), Tolerance { abs: 777.0, rel: 0.0 });
    assert_eq!(compare(&a, &b, &tol).unwrap().verdict, Verdict::Pass);
    tol.tolerances.insert("ts_ns".into(), Tolerance { abs: 776.0, rel: 0.0 });
    assert_eq!(compare(&a, &b, &tol).unwrap().verdict, Verdict::Fail);
}

#[test]
fn nan_equals_nan_only_when_asked_and_arrays_compare_per_element() {
    let dir = tempfile::tempdir().unwrap();
    let nan = |t: u64| Sample { value: if t % 10 == 3 { f64::NAN } else { sample(t).value }, ..sample(t) };
    let a = ring(dir.path(), "a.ring", 100, |t| Some(nan(t)));
    let b = ring(dir.path(), "b.ring", 100, |t| Some(nan(t)));
    let o = compare(&a, &b, &Options::default()).unwrap();
    assert_eq!((o.verdict, o.streams[0].differing), (Verdict::Fail, 10));
    assert_eq!((o.streams[0].divergences[0].reference.as_str(), o.streams[0].divergences[0].key), ("NaN", 3));
    assert_eq!(compare(&a, &b, &Options { nan_equal: true, ..Options::default() }).unwrap().verdict, Verdict::Pass);
    // NaN against a number is never equal.
    let c = ring(dir.path(), "c.ring", 100, |t| Some(sample(t)));
    assert_eq!(compare(&a, &c, &Options { nan_equal: true, ..Options::default() }).unwrap().streams[0].differing, 10);

    // gains[1] off by one element at tick 40: named with its index.
    let d = ring(dir.path(), "d.ring", 100, |t| {
        let mut s = nan(t);
        if t == 40 {
            s.gains[1] += 1.0;
        }
        Some(s)
    });
    let o = compare(&a, &d, &Options { nan_equal: true, ..Options::default() }).unwrap();
    assert_eq!(o.streams[0].divergences.len(), 1);
    assert_eq!((o.streams[0].divergences[0].key, o.streams[0].divergences[0].field.as_str()), (40, "gains[1]"));
}

#[test]
fn evidence_is_compared_unless_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "a.ring", 10, |t| Some(sample(t)));
    let b = dir.path().join("b.ring");
    let mut log: RingLog<Sample> = RingLog::open_with(&b, 26, RingOptions::default().layout_of::<Sample>()).unwrap();
    for t in 0..10 {
        if t == 7 {
            log.append_with_failure(&sample(t), &ReplayFailureEvidence::new(FailureKind::Timeout, 3, "late")).unwrap();
        } else {
            log.append(&sample(t)).unwrap();
        }
    }
    log.sync().unwrap();
    drop(log);
    let o = compare(&a, &b, &Options::default()).unwrap();
    let d = &o.streams[0].divergences;
    assert_eq!((d.len(), d[0].key, d[0].field.as_str(), d[0].reference.as_str()), (1, 7, "evidence", "none"));
    assert_eq!(d[0].candidate, "timeout code=3 \"late\"");
    assert_eq!(o.candidate.evidence_records, 1);
    assert_ne!(o.reference.sha256, o.candidate.sha256, "the digest covers evidence");
    let o = compare(&a, &b, &Options { ignore_evidence: true, ..Options::default() }).unwrap();
    assert_eq!(o.verdict, Verdict::Pass);
}

#[test]
fn provenance_names_both_sides_and_the_digest_is_of_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "a.ring", 50, |t| Some(sample(t)));
    let b = ring(dir.path(), "b.ring", 50, |t| Some(sample(t)));
    let o = compare(&a, &b, &Options::default()).unwrap();
    assert_eq!(o.verdict, Verdict::Pass);
    for p in [&o.reference, &o.candidate] {
        assert_eq!((p.kind.as_str(), p.records, p.seqs, p.record_bytes), ("ring", 50, Some((0, 49)), Some(40)));
        assert_eq!(p.layout.as_deref(), Some(<Sample as RecordLayout>::layout().to_string().as_str()));
        assert!(p.problems.is_empty());
    }
    assert_eq!(o.reference.path, a);
    assert_eq!(o.reference.sha256, o.candidate.sha256, "same records, same digest, whatever the file");
    // The digest, recomputed from its documented definition with an independent SHA-256
    // (sha256sum): seq, bytes, 0x00 per record without evidence.
    let mut stream = Vec::new();
    for r in RawRing::open(&a).unwrap().records().unwrap() {
        stream.extend_from_slice(&r.seq.to_le_bytes());
        stream.extend_from_slice(&r.bytes);
        stream.push(0);
    }
    let file = dir.path().join("stream.bin");
    std::fs::write(&file, &stream).unwrap();
    let out = std::process::Command::new("sha256sum").arg(&file).output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    assert_eq!(hex.split_whitespace().next().unwrap(), o.reference.sha256);
}

#[test]
fn the_observer_sees_every_aligned_pair_in_key_order() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "a.ring", 100, |t| Some(sample(t)));
    let b = ring(dir.path(), "b.ring", 100, |t| {
        (t != 50).then(|| Sample { value: if t == 60 { 0.0 } else { sample(t).value }, ..sample(t) })
    });
    let opts = Options { align: Align::Field("tick".into()), ..Options::default() };
    let mut seen = Vec::new();
    let o = compare_with(&a, &b, &opts, |p| {
        let value = o_index(p);
        seen.push((p.key, p.reference.is_some(), p.candidate.is_some(), p.diverged.to_vec(), p.value(value)));
    })
    .unwrap();
    fn o_index(_: &replaylog::compare::Pair<'_>) -> usize {
        2 // tick, ts_ns, value
    }
    assert_eq!(o.streams[0].fields[2].name, "value");
    assert_eq!(seen.len(), 100);
    assert!(seen.windows(2).all(|w| w[0].0 < w[1].0));
    assert_eq!(seen[50], (50, true, false, vec![], (Some(13.5), None)));
    assert_eq!(seen[60], (60, true, true, vec![2], (Some(16.0), Some(0.0))));
    assert_eq!(seen[61].3, Vec::<usize>::new());
}

#[test]
fn bad_options_and_incompatible_captures_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "a.ring", 10, |t| Some(sample(t)));
    let usage = |o: Options| match compare(&a, &a, &o) {
        Err(CompareError::Usage(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(usage(rtol("nosuch", 1e-9)).contains("no field \"nosuch\""));
    let mut ig = Options::default();
    ig.ignore.insert("nosuch".into());
    assert!(usage(ig).contains("no field \"nosuch\""));
    assert!(usage(Options { align: Align::Field("value".into()), ..Options::default() }).contains("integer"));
    assert!(usage(Options { align: Align::Field("nosuch".into()), ..Options::default() }).contains("nosuch"));
    assert!(usage(rtol("value", -1.0)).contains(">= 0"));

    // Another record layout: compared over the fields both hold, by name (offsets differ).
    #[replaylog::record]
    #[derive(Clone, Copy)]
    struct Short {
        value: f64,
        tick: u64,
    }
    let short = dir.path().join("short.ring");
    let mut log: RingLog<Short> = RingLog::open_with(&short, 32, RingOptions::default().layout_of::<Short>()).unwrap();
    for t in 0..10 {
        log.append(&Short { value: sample(t).value, tick: t }).unwrap();
    }
    log.sync().unwrap();
    drop(log);
    match compare(&a, &short, &Options::default()) {
        Err(CompareError::Incompatible(m)) => assert!(m.contains("field ts_ns"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut common = Options::default();
    common.ignore.extend(["ts_ns", "count", "gains"].map(String::from));
    let o = compare(&a, &short, &common).unwrap();
    assert_eq!((o.verdict, o.streams[0].compared), (Verdict::Pass, 10));
    // Without any layout, different record sizes cannot be compared.
    let (r8, r16) = (dir.path().join("r8.ring"), dir.path().join("r16.ring"));
    let mut log: RingLog<[u8; 8]> = RingLog::open(&r8, 8).unwrap();
    log.append(&[1; 8]).unwrap();
    log.sync().unwrap();
    let mut log: RingLog<[u8; 16]> = RingLog::open(&r16, 8).unwrap();
    log.append(&[1; 16]).unwrap();
    log.sync().unwrap();
    drop(log);
    match compare(&r8, &r16, &Options::default()) {
        Err(CompareError::Incompatible(m)) => assert!(m.contains("record sizes differ"), "{m}"),
        other => panic!("{other:?}"),
    }
    // A key that does not increase cannot align.
    let back = ring(dir.path(), "back.ring", 10, |t| Some(Sample { tick: if t == 5 { 2 } else { t }, ..sample(t) }));
    match compare(&a, &back, &Options { align: Align::Field("tick".into()), ..Options::default() }) {
        Err(CompareError::KeyNotIncreasing { side: Side::Candidate, key: 2, previous: 4, seq: 5, .. }) => {}
        other => panic!("{other:?}"),
    }
    // A foreign file is refused, untouched.
    let foreign = dir.path().join("notes.txt");
    std::fs::write(&foreign, "hello").unwrap();
    assert!(matches!(
        compare(&a, &foreign, &Options::default()),
        Err(CompareError::Open { side: Side::Candidate, .. })
    ));
    assert_eq!(std::fs::read(&foreign).unwrap(), b"hello");
}

#[test]
fn an_empty_capture_never_passes() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "a.ring", 10, |t| Some(sample(t)));
    let empty = ring(dir.path(), "empty.ring", 0, |_| None);
    let o = compare(&a, &empty, &Options::default()).unwrap();
    assert_eq!((o.verdict, o.streams[0].missing_count), (Verdict::Fail, 10));
    assert!(o.reasons.contains(&"the candidate holds no records".to_string()), "{:?}", o.reasons);
    let o = compare(&empty, &empty, &Options::default()).unwrap();
    assert_eq!(o.verdict, Verdict::Fail, "nothing compared is not a pass");
    assert_eq!(o.reasons.len(), 2);
}

#[test]
fn a_damaged_capture_is_compared_over_what_is_readable_and_never_passes() {
    let dir = tempfile::tempdir().unwrap();
    let a = ring(dir.path(), "a.ring", 10, |t| Some(sample(t)));
    let b = ring(dir.path(), "b.ring", 10, |t| Some(sample(t)));
    // Flip one byte of slot 2's record: its checksum fails, the window recovers after it.
    let info = RawRing::open(&b).unwrap().info();
    let mut bytes = std::fs::read(&b).unwrap();
    bytes[(info.slots_offset + 2 * u64::from(info.slot_bytes) + 40) as usize] ^= 0x40;
    std::fs::write(&b, &bytes).unwrap();
    let o = compare(&a, &b, &Options::default()).unwrap();
    assert!(!o.candidate.problems.is_empty(), "damage is listed");
    assert!(o.candidate.problems[0].contains("b.ring"), "{:?}", o.candidate.problems);
    let s = &o.streams[0];
    assert!(s.compared > 0 && s.compared < 10, "{}", s.compared);
    assert_eq!(s.differing, 0);
    assert_ne!(o.verdict, Verdict::Pass);
    assert_eq!(std::fs::read(&b).unwrap(), bytes, "read-only");
}

#[test]
fn recorder_directories_compare_lane_by_lane() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, lanes: &[(&str, u64)], bump: Option<(&str, u64)>| {
        let path = dir.path().join(name);
        let rec: Recorder<Sample> =
            Recorder::open(&path, RecorderOptions::default().capacity_slots(64).layout_of::<Sample>()).unwrap();
        for (lane, n) in lanes {
            let mut l = rec.lane(lane).unwrap();
            for t in 0..*n {
                let mut s = sample(t);
                if bump == Some((lane, t)) {
                    s.count += 1;
                }
                l.append(&s).unwrap();
            }
            l.sync().unwrap();
        }
        path
    };
    let a = make("a", &[("left", 20), ("right", 30)], None);
    let b = make("b", &[("left", 20), ("right", 30), ("spare", 3)], Some(("right", 17)));
    let o = compare(&a, &b, &Options::default()).unwrap();
    assert_eq!(o.verdict, Verdict::Fail);
    let lanes: Vec<_> = o.streams.iter().map(|s| (s.lane.clone().unwrap(), s.passes(), s.only_in)).collect();
    assert_eq!(
        lanes,
        vec![
            ("left".into(), true, None),
            ("right".into(), false, None),
            ("spare".into(), false, Some(Side::Candidate))
        ]
    );
    let right = &o.streams[1];
    assert_eq!((right.divergences[0].key, right.divergences[0].field.as_str()), (17, "count"));
    assert_eq!(o.streams[2].extra_count, 3);
    assert_eq!(o.candidate.lanes, vec!["left", "right", "spare"]);
    // A ring against a directory: not comparable.
    assert!(matches!(compare(a.join("left.ring"), &a, &Options::default()), Err(CompareError::Incompatible(_))));
}
