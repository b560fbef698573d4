//! Recorder (issue 17, items 2 and 3): lanes, one per thread, and the merged timeline.
//!
//! * N threads x M appends, each on its own lane (Monotonic): the merged replay is exactly the
//!   union of the lanes, ordered by (timestamp, lane, seq), each lane contiguous;
//! * merge order with caller stamps, ties and no clock; a `Caller` lane refuses a stamp going
//!   back and keeps its contents;
//! * bad input — lane names, a foreign `x.ring`, lanes with different layouts, a version 2 ring
//!   as a lane, a file as the directory, a second handle on a busy lane: typed errors naming the
//!   lane, nothing created or changed, the other lanes still usable;
//! * the live `MergedReader`: every lane's records once and in seq order while writers run,
//!   lanes added later, laps per lane;
//! * SIGKILL of a process appending on 4 lanes from 4 threads (200 kills in CI, 2,000 with
//!   `--ignored`): every lane keeps the RingLog crash contract, `replay_merged` never fails.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::Barrier;
use std::time::Duration;

use common::*;
use replaylog::recorder::{self, Lane, MergedOutcome, MergedReader, Recorder, RecorderDir, RecorderOptions};
use replaylog::{
    Clock, FailureKind, Field, FieldType, Layout, ReplayFailureEvidence, ReplayLogError, RingLog, RingOptions, StartAt,
};

const _: () = {
    const fn send<X: Send>() {}
    send::<Lane<Rec>>();
    send::<Recorder<Rec>>();
};

fn lane_value(lane: usize, i: u64) -> u64 {
    ((lane as u64) << 40) | i
}

/// Files in `dir` (names), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

// ---- many threads, one timeline ----------------------------------------------------------------

/// `threads` threads, each opening its own lane (while the others may already run) and appending
/// `per_lane` records after a barrier, noting each record's stamp as its lane reports it
/// (`last_timestamp_ns`); then the merged replay, streamed, is compared with what each thread
/// wrote.
fn threads_then_merged(threads: usize, per_lane: u64) {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(per_lane)).unwrap();
    let barrier = Barrier::new(threads);
    let stamps: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (rec, barrier) = (&rec, &barrier);
                s.spawn(move || {
                    let mut lane = rec.lane(&format!("t{t}")).unwrap();
                    assert_eq!(lane.clock(), Clock::Monotonic);
                    let mut stamps = Vec::with_capacity(per_lane as usize);
                    barrier.wait();
                    for i in 0..per_lane {
                        lane.append(&lane_value(t, i)).unwrap();
                        stamps.push(lane.last_timestamp_ns());
                    }
                    lane.sync().unwrap();
                    stamps
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(rec.lanes().unwrap(), (0..threads).map(|t| format!("t{t}")).collect::<Vec<_>>());

    let mut previous: Option<(u64, std::sync::Arc<str>, u64)> = None;
    let mut counts = vec![0u64; threads];
    let mut lane_switches = 0u64;
    let mut merged = recorder::merged(&dir).unwrap();
    assert_eq!(merged.lanes().count(), threads);
    for item in &mut merged {
        let r = item.unwrap();
        let t: usize = r.lane.strip_prefix('t').unwrap().parse().unwrap();
        let i = counts[t];
        assert_eq!(r.seq, i, "lane {t} not contiguous");
        assert_eq!(r.record::<u64>().unwrap(), lane_value(t, i), "lane {t} seq {i}");
        assert_eq!(r.timestamp_ns, Some(stamps[t][i as usize]), "lane {t} seq {i}");
        assert!(r.evidence.is_none());
        counts[t] += 1;
        let key = (stamps[t][i as usize], r.lane, r.seq);
        if let Some(p) = &previous {
            assert!(*p < key, "out of order: {p:?} then {key:?}");
            lane_switches += u64::from(p.1 != key.1);
        }
        previous = Some(key);
    }
    assert_eq!(counts, vec![per_lane; threads], "merged replay is not the union of the lanes");
    println!("{threads} threads x {per_lane}: merged in order, {lane_switches} lane switches");
}

/// Appends per lane.
const PER_LANE: u64 = 1_000_000;

#[test]
fn two_threads_merged_is_the_ordered_union_of_the_lanes() {
    threads_then_merged(2, PER_LANE);
}

#[test]
fn four_threads_merged_is_the_ordered_union_of_the_lanes() {
    threads_then_merged(4, PER_LANE);
}

#[test]
fn eight_threads_merged_is_the_ordered_union_of_the_lanes() {
    threads_then_merged(8, PER_LANE);
}

/// Deterministic stamps: merge order is (timestamp, lane, seq), ties broken by lane name then
/// seq, and a lane's records never reordered.
#[test]
fn merge_order_with_caller_stamps_and_ties() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> =
        Recorder::open(&dir, RecorderOptions::default().clock(Clock::Caller).capacity_slots(16)).unwrap();
    let stamps: [(&str, &[u64]); 3] = [("b", &[1, 3, 3, 5, 9]), ("a", &[2, 3, 4, 9]), ("c", &[0, 3, 10])];
    let mut expected = Vec::new();
    for (lane, ts) in stamps {
        let mut l = rec.lane(lane).unwrap();
        for (seq, t) in ts.iter().enumerate() {
            l.append_at(*t, &(seq as u64 * 100 + *t)).unwrap();
            expected.push((*t, lane.to_string(), seq as u64));
        }
    }
    expected.sort();
    let merged = recorder::replay_merged(&dir).unwrap();
    let got: Vec<_> = merged.iter().map(|r| (r.timestamp_ns.unwrap(), r.lane.to_string(), r.seq)).collect();
    assert_eq!(got, expected);
    for r in &merged {
        assert_eq!(r.record::<u64>().unwrap(), r.seq * 100 + r.timestamp_ns.unwrap());
    }
    // The first ones spelled out, so the test does not only agree with itself.
    assert_eq!(&got[..4], &[(0, "c".into(), 0), (1, "b".into(), 0), (2, "a".into(), 0), (3, "a".into(), 1)]);
    // The iterator and the collected form agree.
    let streamed: Vec<_> = recorder::merged(&dir).unwrap().map(|r| r.unwrap()).collect();
    assert_eq!(streamed, merged);
}

/// Lanes without a clock sort as timestamp 0: one lane after another, by name.
#[test]
fn lanes_without_a_clock_come_one_after_another() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> =
        Recorder::open(&dir, RecorderOptions::default().clock(Clock::None).capacity_slots(8)).unwrap();
    let (mut z, mut a) = (rec.lane("z").unwrap(), rec.lane("a").unwrap());
    for i in 0..3 {
        z.append(&i).unwrap();
        a.append(&(10 + i)).unwrap();
    }
    let got: Vec<_> = recorder::replay_merged(&dir)
        .unwrap()
        .iter()
        .map(|r| (r.lane.to_string(), r.seq, r.timestamp_ns, r.record::<u64>().unwrap()))
        .collect();
    let want: Vec<_> = [("a", 10), ("z", 0)]
        .into_iter()
        .flat_map(|(l, base)| (0..3).map(move |i| (l.to_string(), i, None, base + i)))
        .collect();
    assert_eq!(got, want);
}

#[test]
fn a_caller_lane_refuses_a_stamp_going_back_and_keeps_its_contents() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<Rec> =
        Recorder::open(&dir, RecorderOptions::default().clock(Clock::Caller).capacity_slots(8)).unwrap();
    let mut lane = rec.lane("ctl").unwrap();
    lane.append_at(10, &Rec::new(0, 0)).unwrap();
    lane.append_at(20, &Rec::new(0, 1)).unwrap();
    let ev = ReplayFailureEvidence::new(FailureKind::Timeout, 7, "late");
    let err = lane.append_with_failure_at(19, &Rec::new(0, 2), &ev).unwrap_err();
    assert!(
        matches!(&err, ReplayLogError::TimestampBackwards { previous: 20, given: 19, path } if path == &dir.join("ctl.ring")),
        "{err}"
    );
    let err = lane.append_at(0, &Rec::new(0, 2)).unwrap_err();
    assert!(matches!(err, ReplayLogError::TimestampBackwards { previous: 20, given: 0, .. }), "{err}");
    let err = lane.append(&Rec::new(0, 2)).unwrap_err();
    assert!(matches!(err, ReplayLogError::WrongClock { clock: Clock::Caller, .. }), "{err}");
    let kept = |lane: &RingLog<Rec>| {
        lane.replay_records().unwrap().iter().map(|r| (r.seq, r.timestamp_ns, r.record)).collect::<Vec<_>>()
    };
    let want = vec![(0, Some(10), Rec::new(0, 0)), (1, Some(20), Rec::new(0, 1))];
    assert_eq!(kept(&lane), want);
    assert_eq!((lane.next_seq(), lane.last_timestamp_ns()), (2, 20));
    // An equal stamp is not going back.
    lane.append_at(20, &Rec::new(0, 2)).unwrap();
    drop(lane);
    let lane = rec.lane("ctl").unwrap();
    assert_eq!(kept(&lane)[..2], want[..]);
    assert_eq!(lane.last_timestamp_ns(), 20, "the floor survives a reopen");
    let merged = recorder::replay_merged(&dir).unwrap();
    assert_eq!(merged.iter().map(|r| r.timestamp_ns.unwrap()).collect::<Vec<_>>(), [10, 20, 20]);
}

// ---- bad input ---------------------------------------------------------------------------------

#[test]
fn bad_lane_names_are_refused_before_anything_is_created() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(8)).unwrap();
    let long = "a".repeat(65);
    let cases: [(&str, &str); 10] = [
        ("a/b", "character '/' at byte 1"),
        ("..", "character '.' at byte 0"),
        ("", "empty"),
        (&long, "65 characters, more than 64"),
        ("x.y", "character '.' at byte 1"),
        (".", "character '.' at byte 0"),
        ("../escape", "character '.' at byte 0"),
        ("a b", "character ' ' at byte 1"),
        ("caf\u{e9}", "character '\u{e9}' at byte 3"),
        ("nul\0", "character '\\0' at byte 3"),
    ];
    for (name, reason) in cases {
        match rec.lane(name).unwrap_err() {
            ReplayLogError::InvalidLaneName { name: n, reason: r } => {
                assert_eq!((n.as_str(), r.as_str()), (name, reason));
            }
            other => panic!("{name:?}: {other}"),
        }
        assert!(matches!(rec.lane_path(name), Err(ReplayLogError::InvalidLaneName { .. })));
    }
    assert_eq!(listing(&dir), Vec::<String>::new(), "nothing created in the directory");
    assert_eq!(listing(tmp.path()), ["rec"], "nothing created beside it");
    // The boundary: 64 characters of the whole alphabet are a lane.
    let ok = format!("{}{}", "Az09_-".repeat(10), "abcd");
    assert_eq!(ok.len(), 64);
    rec.lane(&ok).unwrap();
    assert_eq!(rec.lanes().unwrap(), [ok.as_str()]);
    assert_eq!(listing(&dir), [format!("{ok}.ring")]);
}

#[test]
fn lanes_lists_only_lane_files() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(8)).unwrap();
    rec.lane("b").unwrap();
    rec.lane("a-1").unwrap();
    for junk in [".a.ring.1234.5678.tmp", ".hidden.ring", "x.y.ring", "notes.txt", "ring", "c.ring.bak"] {
        fs::write(dir.join(junk), b"junk").unwrap();
    }
    fs::create_dir(dir.join("sub")).unwrap();
    assert_eq!(rec.lanes().unwrap(), ["a-1", "b"]);
    assert_eq!(recorder::replay_merged(&dir).unwrap(), vec![]);
}

#[test]
fn a_foreign_x_ring_is_an_error_naming_it_and_stays_byte_identical() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(8)).unwrap();
    rec.lane("a").unwrap().append(&1).unwrap();
    let x = dir.join("x.ring");
    fs::write(&x, b"PK\x03\x04 someone else's zip file, named like a lane").unwrap();
    let before = image(&x);
    let is_x =
        |e: &ReplayLogError| matches!(e, ReplayLogError::HeaderMismatch { path, field: "magic", .. } if path == &x);

    let err = rec.lane("x").unwrap_err();
    assert!(is_x(&err), "{err}");
    let err = recorder::replay_merged(&dir).unwrap_err();
    assert!(is_x(&err), "{err}");
    assert!(err.to_string().contains("x.ring is not the expected log: magic"), "{err}");
    let err = MergedReader::open(&dir).unwrap_err();
    assert!(is_x(&err), "{err}");
    let lanes = RecorderDir::open(&dir).unwrap();
    assert_eq!(lanes.reference().unwrap().name.as_ref(), "a");
    let [a, xl] = lanes.lanes() else { panic!("{:?}", lanes.lanes()) };
    assert_eq!(a.ring.as_ref().unwrap().records().unwrap().len(), 1);
    assert!(is_x(xl.ring.as_ref().unwrap_err()));
    assert_eq!(image(&x), before, "the foreign file was changed");
    // The other lane is still a lane.
    assert_eq!(rec.lane("a").unwrap().replay_all().unwrap(), [1]);
}

#[replaylog::record(name = "pose")]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Pose {
    x: f64,
    y: f64,
}

fn other_layout() -> Layout {
    Layout::new("pose", vec![Field::new("x", FieldType::F64, 0), Field::new("z", FieldType::F64, 8)])
}

#[test]
fn lanes_with_different_layouts_are_header_mismatch_naming_the_lane() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let opts = RecorderOptions::default().capacity_slots(8);
    let rec: Recorder<Pose> = Recorder::open(&dir, opts.clone().layout_of::<Pose>()).unwrap();
    let other: Recorder<Pose> = Recorder::open(&dir, opts.clone().layout(other_layout())).unwrap();
    let bare: Recorder<Pose> = Recorder::open(&dir, opts.clone()).unwrap();
    rec.lane("a").unwrap().append(&Pose { x: 1.0, y: 2.0 }).unwrap();
    other.lane("b").unwrap().append(&Pose { x: 3.0, y: 4.0 }).unwrap();
    bare.lane("c").unwrap().append(&Pose { x: 5.0, y: 6.0 }).unwrap();
    let images = ["a", "b", "c"].map(|l| image(&dir.join(format!("{l}.ring"))));
    let layout_of = |e: &ReplayLogError, lane: &str| match e {
        ReplayLogError::HeaderMismatch { path, field: "layout", .. } => path == &dir.join(format!("{lane}.ring")),
        _ => false,
    };

    // Writers: each recorder refuses the lanes of the others, before changing them.
    for (r, own, foreign) in [(&rec, "a", ["b", "c"]), (&other, "b", ["a", "c"]), (&bare, "c", ["a", "b"])] {
        for lane in foreign {
            let err = r.lane(lane).unwrap_err();
            assert!(layout_of(&err, lane), "{own} opening {lane}: {err}");
        }
    }
    let err = bare.lane("a").unwrap_err();
    assert!(err.to_string().contains("layout expected no layout, found pose"), "{err}");
    let images_after = ["a", "b", "c"].map(|l| image(&dir.join(format!("{l}.ring"))));
    assert_eq!(images_after, images, "a refused lane was changed");

    // Readers: a is the reference; b and c are refused by name, a stays readable.
    let err = recorder::replay_merged(&dir).unwrap_err();
    assert!(layout_of(&err, "b"), "{err}");
    assert!(err.to_string().contains("(as lane a)"), "{err}");
    let lanes = RecorderDir::open(&dir).unwrap();
    let ok: Vec<_> = lanes.lanes().iter().map(|l| (l.name.to_string(), l.ring.is_ok())).collect();
    assert_eq!(ok, [("a".into(), true), ("b".into(), false), ("c".into(), false)]);
    assert!(layout_of(lanes.lanes()[2].ring.as_ref().unwrap_err(), "c"));

    // The other lane still opens, and its records are intact.
    assert_eq!(rec.lane("a").unwrap().replay_all().unwrap(), [Pose { x: 1.0, y: 2.0 }]);
    fs::remove_file(dir.join("b.ring")).unwrap();
    fs::remove_file(dir.join("c.ring")).unwrap();
    let merged = recorder::replay_merged(&dir).unwrap();
    assert_eq!(merged.iter().map(|r| r.record::<Pose>().unwrap()).collect::<Vec<_>>(), [Pose { x: 1.0, y: 2.0 }]);
}

#[test]
fn lanes_with_other_record_size_schema_or_clock_are_refused_by_readers() {
    for (field, make) in [
        (
            "record_bytes",
            (|dir: &Path| drop(RingLog::<u32>::open_with(dir.join("b.ring"), 8, mono()).unwrap())) as fn(&Path),
        ),
        ("schema_id", |dir: &Path| {
            drop(RingLog::<u64>::open_with(dir.join("b.ring"), 8, mono().schema_id(9)).unwrap())
        }),
        ("clock", |dir: &Path| {
            drop(RingLog::<u64>::open_with(dir.join("b.ring"), 8, mono().clock(Clock::Caller)).unwrap())
        }),
    ] {
        let tmp = scratch();
        let dir = tmp.path().join("rec");
        let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(8)).unwrap();
        rec.lane("a").unwrap().append(&1).unwrap();
        make(&dir);
        let err = recorder::replay_merged(&dir).unwrap_err();
        assert!(
            matches!(&err, ReplayLogError::HeaderMismatch { path, field: f, .. } if path == &dir.join("b.ring") && *f == field),
            "{field}: {err}"
        );
        let err = rec.lane("b").unwrap_err();
        assert!(
            matches!(&err, ReplayLogError::HeaderMismatch { path, field: f, .. } if path == &dir.join("b.ring") && *f == field),
            "{field}: {err}"
        );
    }
}

fn mono() -> RingOptions {
    RingOptions::default().clock(Clock::Monotonic)
}

#[replaylog::record]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Tick {
    tick: u64,
    value: f64,
}

/// The committed version 2 fixture (16-byte `Tick`, schema 42, 8 slots, 64 evidence bytes): a
/// recorder with exactly those options still refuses it as a lane — no clock — and leaves it as
/// it was.
#[test]
fn a_version_2_ring_as_a_lane_is_a_clock_mismatch_and_stays_unchanged() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ring-v2.ring");
    let opts = RecorderOptions::default().capacity_slots(8).schema_id(42).evidence_bytes_max(64).layout_of::<Tick>();
    let rec: Recorder<Tick> = Recorder::open(&dir, opts).unwrap();
    let old = dir.join("old.ring");
    fs::copy(&fixture, &old).unwrap();
    let before = fs::read(&old).unwrap();
    assert_eq!(before, fs::read(&fixture).unwrap());

    let err = rec.lane("old").unwrap_err();
    match &err {
        ReplayLogError::HeaderMismatch { path, field: "clock", expected, found } => {
            assert_eq!((path, expected.as_str(), found.as_str()), (&old, "monotonic", "none"));
        }
        other => panic!("{other}"),
    }
    assert_eq!(fs::read(&old).unwrap(), before, "the version 2 file was changed");

    // Alone, it is a readable directory of one lane (no clock: timestamp 0).
    let merged = recorder::replay_merged(&dir).unwrap();
    assert_eq!(merged.iter().map(|r| r.seq).collect::<Vec<_>>(), (3..=10).collect::<Vec<_>>());
    assert!(merged.iter().all(|r| r.timestamp_ns.is_none() && &*r.lane == "old"));
    assert_eq!(merged.iter().filter(|r| r.evidence.is_some()).count(), 2);
    // Next to a Monotonic lane (the reference, first by name), it is refused by name.
    rec.lane("new").unwrap().append(&Tick { tick: 1, value: 1.0 }).unwrap();
    let err = recorder::replay_merged(&dir).unwrap_err();
    assert!(matches!(&err, ReplayLogError::HeaderMismatch { path, field: "clock", .. } if path == &old), "{err}");
    assert_eq!(fs::read(&old).unwrap(), before);
}

#[test]
fn a_second_handle_on_a_busy_lane_is_locked() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(8)).unwrap();
    let mut lane = rec.lane("busy").unwrap();
    lane.append(&1).unwrap();
    let err = rec.lane("busy").unwrap_err();
    assert!(matches!(&err, ReplayLogError::Locked { path, .. } if path == &dir.join("busy.ring")), "{err}");
    // Another recorder on the same directory, and from another thread: same.
    let again: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(8)).unwrap();
    let err = std::thread::spawn(move || again.lane("busy").map(|_| ())).join().unwrap().unwrap_err();
    assert!(matches!(err, ReplayLogError::Locked { .. }), "{err}");
    lane.append(&2).unwrap();
    drop(lane);
    assert_eq!(rec.lane("busy").unwrap().replay_all().unwrap(), [1, 2]);
}

#[test]
fn the_directory_is_created_with_its_parents_and_a_file_is_refused() {
    let tmp = scratch();
    let nested = tmp.path().join("x/y/rec");
    let rec: Recorder<u64> = Recorder::open(&nested, RecorderOptions::default().capacity_slots(8)).unwrap();
    assert!(nested.is_dir());
    assert_eq!(rec.path(), nested);
    assert_eq!(rec.lanes().unwrap(), Vec::<String>::new());
    // Reopening an existing directory is fine.
    Recorder::<u64>::open(&nested, RecorderOptions::default()).unwrap();

    let file = tmp.path().join("plain");
    fs::write(&file, b"data").unwrap();
    let before = image(&file);
    for err in [
        Recorder::<u64>::open(&file, RecorderOptions::default()).unwrap_err(),
        recorder::replay_merged(&file).unwrap_err(),
        RecorderDir::open(&file).unwrap_err(),
        MergedReader::open(&file).unwrap_err(),
    ] {
        assert!(
            matches!(&err, ReplayLogError::HeaderMismatch { path, field: "file type", found, .. } if path == &file && found == "regular file"),
            "{err}"
        );
    }
    assert_eq!(image(&file), before);
    let missing = tmp.path().join("missing");
    assert!(matches!(recorder::replay_merged(&missing), Err(ReplayLogError::Io { .. })));
    assert!(!missing.exists());

    // Bad options: refused before the directory is created.
    let never = tmp.path().join("never");
    let bad = [
        Recorder::<u64>::open(&never, RecorderOptions::default().capacity_slots(0)).unwrap_err(),
        Recorder::<u64>::open(&never, RecorderOptions::default().evidence_bytes_max(1)).unwrap_err(),
        Recorder::<u64>::open(&never, RecorderOptions::default().capacity_slots(u64::MAX)).unwrap_err(),
    ];
    assert!(matches!(bad[0], ReplayLogError::ZeroCapacity));
    assert!(matches!(bad[1], ReplayLogError::InvalidOptions { option: "evidence_bytes_max", .. }));
    assert!(matches!(bad[2], ReplayLogError::CapacityOverflow { .. }));
    assert!(!never.exists());
}

// ---- live ----------------------------------------------------------------------------------------

/// Writers on three threads, and a fourth lane created while the reader runs: the reader returns
/// every record of every lane once, each lane in seq order; after the writers finish, a new
/// reader returns the exact merged order.
#[test]
fn merged_reader_follows_lanes_live_and_picks_up_new_ones() {
    const N: u64 = 20_000;
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(N)).unwrap();
    let early: Vec<Lane<u64>> = (0..3).map(|t| rec.lane(&format!("w{t}")).unwrap()).collect();
    let mut reader = MergedReader::open(&dir).unwrap();
    reader.set_rescan_interval(Duration::ZERO);
    assert_eq!(reader.lanes().collect::<Vec<_>>(), ["w0", "w1", "w2"]);
    let mut next: BTreeMap<String, u64> = BTreeMap::new();
    std::thread::scope(|s| {
        for (t, mut lane) in early.into_iter().enumerate() {
            s.spawn(move || {
                for i in 0..N {
                    lane.append(&lane_value(t, i)).unwrap();
                }
            });
        }
        let rec = &rec;
        let mut late = None;
        let mut total = 0;
        while total < 4 * N {
            if total == N / 2 && late.is_none() {
                // A lane added while the others run.
                late = Some(s.spawn(move || {
                    let mut lane = rec.lane("w3").unwrap();
                    for i in 0..N {
                        lane.append(&lane_value(3, i)).unwrap();
                    }
                }));
            }
            match reader.next_timeout(Duration::from_secs(20)).unwrap() {
                MergedOutcome::Record(r) => {
                    let t: usize = r.lane.strip_prefix('w').unwrap().parse().unwrap();
                    let expect = next.entry(r.lane.to_string()).or_insert(0);
                    assert_eq!(r.seq, *expect, "lane {t}: out of seq order");
                    assert_eq!(r.record::<u64>().unwrap(), lane_value(t, r.seq));
                    *expect += 1;
                    total += 1;
                }
                other => panic!("after {total} records: {other:?}"),
            }
        }
    });
    assert_eq!(next.values().collect::<Vec<_>>(), [&N; 4]);
    assert_eq!(reader.lanes().collect::<Vec<_>>(), ["w0", "w1", "w2", "w3"]);
    assert_eq!(reader.poll().unwrap(), MergedOutcome::Pending);

    // Everything published: exactly the replay's order.
    let mut reader = MergedReader::open(&dir).unwrap();
    let mut live = Vec::new();
    while let MergedOutcome::Record(r) = reader.poll().unwrap() {
        live.push(r);
    }
    assert_eq!(live, recorder::replay_merged(&dir).unwrap());
    assert_eq!(live.len() as u64, 4 * N);

    // Newest: only what comes next.
    let mut reader = MergedReader::open_at(&dir, StartAt::Newest).unwrap();
    assert_eq!(reader.poll().unwrap(), MergedOutcome::Pending);
    let mut lane = rec.lane("w1").unwrap();
    lane.append(&7).unwrap();
    match reader.poll().unwrap() {
        MergedOutcome::Record(r) => assert_eq!((&*r.lane, r.seq, r.record::<u64>().unwrap()), ("w1", N, 7)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(MergedReader::open_at(&dir, StartAt::Seq(3)), Err(ReplayLogError::InvalidOptions { .. })));
}

#[test]
fn merged_reader_reports_laps_per_lane() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(4)).unwrap();
    let (mut a, mut b) = (rec.lane("a").unwrap(), rec.lane("b").unwrap());
    let mut reader = MergedReader::open(&dir).unwrap();
    for v in 0..10 {
        a.append(&v).unwrap(); // 10 into 4 slots: seqs 0..=5 overwritten
    }
    b.append(&100).unwrap();
    let mut got = Vec::new();
    loop {
        match reader.poll().unwrap() {
            MergedOutcome::Pending => break,
            MergedOutcome::Lapped { lane, missed, resumed_at } => {
                got.push(format!("{lane} lapped {missed} -> {resumed_at}"))
            }
            MergedOutcome::Record(r) => got.push(format!("{} {}", r.lane, r.seq)),
        }
    }
    assert_eq!(got, ["a lapped 6 -> 6", "a 6", "a 7", "a 8", "a 9", "b 0"]);
    assert_eq!((reader.position("a"), reader.position("b"), reader.position("c")), (Some(10), Some(1), None));
}

/// With a hold-back, a Monotonic record is returned once every lane has one waiting, or once it
/// is older than the hold; without, at once. Lanes of another clock ignore the hold.
#[test]
fn merged_reader_hold_back_waits_for_every_lane_or_the_hold() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(8)).unwrap();
    let (mut a, mut b) = (rec.lane("a").unwrap(), rec.lane("b").unwrap());
    let mut reader = MergedReader::open(&dir).unwrap();
    reader.set_hold_back(Some(Duration::from_secs(3600)));
    b.append(&1).unwrap();
    assert_eq!(reader.poll().unwrap(), MergedOutcome::Pending, "a may still publish an earlier stamp");
    a.append(&2).unwrap();
    let replay = recorder::replay_merged(&dir).unwrap();
    let first = match reader.poll().unwrap() {
        MergedOutcome::Record(r) => r,
        other => panic!("every lane has a record waiting: {other:?}"),
    };
    assert_eq!(first, replay[0]);
    assert_eq!(reader.poll().unwrap(), MergedOutcome::Pending, "the other lane is empty again, the stamp is fresh");
    reader.set_hold_back(Some(Duration::ZERO));
    assert_eq!(reader.poll().unwrap(), MergedOutcome::Record(replay[1].clone()));
    reader.set_hold_back(None);
    a.append(&3).unwrap();
    assert!(matches!(reader.poll().unwrap(), MergedOutcome::Record(r) if r.record::<u64>().unwrap() == 3));

    let dir = tmp.path().join("caller");
    let rec: Recorder<u64> =
        Recorder::open(&dir, RecorderOptions::default().capacity_slots(8).clock(Clock::Caller)).unwrap();
    let (mut a, _b) = (rec.lane("a").unwrap(), rec.lane("b").unwrap());
    let mut reader = MergedReader::open(&dir).unwrap();
    reader.set_hold_back(Some(Duration::MAX)); // stamp 5 is long past on this host clock: ignored anyway
    a.append_at(5, &5).unwrap();
    assert!(matches!(reader.poll().unwrap(), MergedOutcome::Record(r) if r.timestamp_ns == Some(5)));
}

/// A bad lane appearing while a reader follows is reported once, by name; the reader goes on.
#[test]
fn merged_reader_reports_a_bad_new_lane_once() {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(4)).unwrap();
    let mut a = rec.lane("a").unwrap();
    let mut reader = MergedReader::open(&dir).unwrap();
    fs::write(dir.join("b.ring"), b"garbage").unwrap();
    a.append(&1).unwrap();
    let err = reader.refresh().unwrap_err();
    assert!(matches!(&err, ReplayLogError::HeaderMismatch { path, .. } if path == &dir.join("b.ring")), "{err}");
    reader.refresh().unwrap();
    rec.lane("c").unwrap().append(&3).unwrap();
    reader.refresh().unwrap();
    assert_eq!(reader.lanes().collect::<Vec<_>>(), ["a", "c"]);
    let mut got = Vec::new();
    while let MergedOutcome::Record(r) = reader.poll().unwrap() {
        got.push(r.record::<u64>().unwrap());
    }
    got.sort();
    assert_eq!(got, [1, 3]);
}

// ---- process kills -----------------------------------------------------------------------------

const KILL_LANES: usize = 4;
const KILL_CAP: u64 = 64;

fn kill_options() -> RecorderOptions {
    RecorderOptions::default().capacity_slots(KILL_CAP).evidence_bytes_max(48).layout_of::<Rec>()
}

fn evidence_for(seq: u64) -> Option<ReplayFailureEvidence> {
    (seq % 13 == 0).then(|| ReplayFailureEvidence::new(FailureKind::Runtime, seq as i64, format!("tick {seq} failed")))
}

/// A report line: the lane in the top byte, its last appended seq below.
fn report(lane: usize, seq: u64) -> u64 {
    ((lane as u64) << 56) | seq
}

/// Child side: 4 threads, each opening its lane and appending forever in bursts, reporting its
/// last returned seq after each burst; "open" once every lane is open.
#[test]
fn recorder_kill_child_entry() {
    let Ok(dir) = std::env::var("RL_RECORDER_KILL_CHILD") else { return };
    let rec: Recorder<Rec> = Recorder::open(&dir, kill_options()).unwrap();
    let barrier = Barrier::new(KILL_LANES + 1);
    std::thread::scope(|s| {
        for t in 0..KILL_LANES {
            let (rec, barrier) = (&rec, &barrier);
            s.spawn(move || {
                let mut rng = Rng::new((std::process::id() as u64) << 8 | t as u64);
                let mut lane = rec.lane(&format!("lane{t}")).unwrap();
                barrier.wait();
                loop {
                    for _ in 0..1 + rng.below(2000) {
                        let seq = lane.next_seq();
                        let rec = Rec::new(t as u64, seq);
                        match evidence_for(seq) {
                            Some(ev) => lane.append_with_failure(&rec, &ev).unwrap(),
                            None => lane.append(&rec).unwrap(),
                        }
                    }
                    if rng.chance(1, 50) {
                        lane.sync().unwrap();
                    }
                    println!("{}", report(t, lane.next_seq() - 1)); // one locked, flushed line
                }
            });
        }
        barrier.wait();
        println!("open");
    });
}

fn run_recorder_kills(kills: usize) {
    let tmp = scratch();
    let dir = tmp.path().join("rec");
    let mut rng = Rng::new(0x5eed_0017);
    let mut floor: [Option<u64>; KILL_LANES] = [None; KILL_LANES];
    let (mut mid_run, mut merged_total, mut reported) = (0, 0, 0);
    for k in 0..kills {
        let env = [("RL_RECORDER_KILL_CHILD", dir.as_os_str())];
        let (reports, after_open) = kill_child_at_random(&mut rng, "recorder_kill_child_entry", &env, 2_000, 8_000);
        mid_run += usize::from(after_open);
        reported += reports.len();
        for r in reports {
            let (lane, seq) = ((r >> 56) as usize, r & ((1 << 56) - 1));
            floor[lane] = floor[lane].max(Some(seq));
        }
        let ctx = format!("kill {k}");
        if !dir.exists() {
            assert!(floor.iter().all(Option::is_none), "{ctx}: directory gone after reports");
            continue;
        }
        let merged = recorder::replay_merged(&dir).unwrap_or_else(|e| panic!("{ctx}: replay_merged failed: {e}"));
        merged_total += merged.len();
        for w in merged.windows(2) {
            assert!(w[0].key() < w[1].key(), "{ctx}: merged out of order: {:?} then {:?}", w[0].key(), w[1].key());
        }
        let rec: Recorder<Rec> = Recorder::open(&dir, kill_options()).unwrap();
        let names = rec.lanes().unwrap();
        for (t, floor) in floor.iter_mut().enumerate() {
            let name = format!("lane{t}");
            let mine: Vec<_> = merged.iter().filter(|r| *r.lane == name).collect();
            if !names.contains(&name) {
                assert!(floor.is_none() && mine.is_empty(), "{ctx}: {name} missing after reports");
                continue;
            }
            check_lane_records(&mine, t as u64, &name, &ctx);
            if let Some(rep) = *floor {
                let last = mine.last().unwrap_or_else(|| panic!("{ctx}: {name} empty after report {rep}")).seq;
                assert!(last >= rep, "{ctx}: {name} replay ends at {last}, child reported {rep}");
                let full = KILL_CAP.min(last + 1);
                assert!(
                    mine.len() as u64 + 1 >= full,
                    "{ctx}: {name} window of {}, expected >= {}",
                    mine.len(),
                    full - 1
                );
                *floor = Some(last);
            }
            // The merged timeline holds exactly what the lane's next writer recovers.
            let lane = rec.lane(&name).unwrap_or_else(|e| panic!("{ctx}: reopen {name}: {e}"));
            let recovered: Vec<_> = lane.replay_records().unwrap();
            let merged_view: Vec<_> =
                mine.iter().map(|r| (r.seq, r.timestamp_ns, r.record::<Rec>().unwrap(), r.evidence.clone())).collect();
            let lane_view: Vec<_> =
                recovered.into_iter().map(|r| (r.seq, r.timestamp_ns, r.record, r.evidence)).collect();
            assert_eq!(merged_view, lane_view, "{ctx}: {name}: merged window differs from the writer's recovery");
        }
    }
    println!(
        "recorder sigkill: {kills} kills ({mid_run} after open), {reported} bursts reported, {merged_total} merged records checked, 0 violations"
    );
}

#[test]
fn sigkill_four_lanes_quick() {
    run_recorder_kills(200);
}

#[test]
#[ignore = "long: 2,000 kills"]
fn sigkill_four_lanes_long() {
    run_recorder_kills(2_000);
}

/// One lane's part of a merged replay after a crash: contiguous seqs, each record exactly what
/// lane `lineage` appended at that seq, with its evidence.
fn check_lane_records(mine: &[&recorder::MergedRecord], lineage: u64, name: &str, ctx: &str) {
    for w in mine.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "{ctx}: {name} not contiguous");
    }
    for r in mine {
        assert_eq!(r.record::<Rec>().unwrap(), Rec::new(lineage, r.seq), "{ctx}: {name} seq {} altered", r.seq);
        assert_eq!(r.evidence, evidence_for(r.seq), "{ctx}: {name} evidence of seq {}", r.seq);
    }
}

// ---- power loss ----------------------------------------------------------------------------------

const PL_EVIDENCE_MAX: u32 = 48;
const PL_LANES: usize = 2;

fn power_options(cap: u64) -> RecorderOptions {
    RecorderOptions::default().capacity_slots(cap).evidence_bytes_max(PL_EVIDENCE_MAX).lock_wait_ms(0)
}

/// The synced seqs a lane must still replay (`common::survivors`): those no later append
/// overwrote, newer than the newest one whose slot (or evidence entry) a garbage sector destroyed.
fn required_survivors(
    required: std::ops::Range<u64>,
    cap: u64,
    garbled: &[std::ops::Range<usize>],
) -> std::ops::Range<u64> {
    let g = replaylog::lowlevel::format::ring::Geometry::new(
        size_of::<Rec>() as u32,
        PL_EVIDENCE_MAX,
        cap,
        0,
        Clock::Monotonic,
    )
    .unwrap();
    survivors(required, &g, garbled, |seq| evidence_for(seq).is_some())
}

/// One seeded scenario: two Monotonic lanes (timed slots), each synced after `n1` appends and cut
/// after `n2` more; every crash state takes each lane's image independently. Returns the lane
/// states checked.
fn power_loss_scenario(seed: u64, states: usize) -> usize {
    let mut rng = Rng::new(seed);
    let tmp = scratch();
    let cap = [1u64, 2, 3, 7, 16][rng.below(5) as usize];
    let live = tmp.path().join("live");
    let rec: Recorder<Rec> = Recorder::open(&live, power_options(cap)).unwrap();
    let mut lanes = Vec::new();
    for t in 0..PL_LANES {
        let (n1, n2) = (rng.below(3 * cap + 1), 1 + rng.below(2 * cap));
        let mut lane = rec.lane(&format!("l{t}")).unwrap();
        let append = |lane: &mut Lane<Rec>, n: u64| {
            for _ in 0..n {
                let seq = lane.next_seq();
                match evidence_for(seq) {
                    Some(ev) => lane.append_with_failure(&Rec::new(t as u64, seq), &ev).unwrap(),
                    None => lane.append(&Rec::new(t as u64, seq)).unwrap(),
                }
            }
        };
        append(&mut lane, n1);
        lane.sync().unwrap();
        let synced = fs::read(lane.path()).unwrap();
        append(&mut lane, n2);
        let later = fs::read(lane.path()).unwrap();
        lanes.push((synced, later, (n1 + n2).saturating_sub(cap)..n1));
    }
    let crash = tmp.path().join("crash");
    let crashed: Recorder<Rec> = Recorder::open(&crash, power_options(cap)).unwrap();
    let mut checked = 0;
    for s in 0..states {
        let ctx = format!("seed {seed} state {s} (cap {cap})");
        let mut required = Vec::new();
        for (t, (synced, later, req)) in lanes.iter().enumerate() {
            let (img, garbled) = crash_image(synced, later, &mut rng, true);
            fs::write(crash.join(format!("l{t}.ring")), img).unwrap();
            required.push(required_survivors(req.clone(), cap, &garbled));
        }
        let merged = recorder::replay_merged(&crash).unwrap_or_else(|e| panic!("{ctx}: replay_merged failed: {e}"));
        for w in merged.windows(2) {
            assert!(w[0].key() < w[1].key(), "{ctx}: out of order {:?} then {:?}", w[0].key(), w[1].key());
        }
        for (t, required) in required.into_iter().enumerate() {
            let name = format!("l{t}");
            let mine: Vec<_> = merged.iter().filter(|r| *r.lane == name).collect();
            check_lane_records(&mine, t as u64, &name, &ctx);
            for req in required {
                assert!(mine.iter().any(|r| r.seq == req), "{ctx}: {name}: synced seq {req} lost");
            }
            // What the lane's next writer recovers is what the merged timeline showed.
            let lane = crashed.lane(&name).unwrap_or_else(|e| panic!("{ctx}: reopen {name}: {e}"));
            let recovered: Vec<_> = lane
                .replay_records()
                .unwrap()
                .into_iter()
                .map(|r| (r.seq, r.timestamp_ns, r.record, r.evidence))
                .collect();
            let shown: Vec<_> =
                mine.iter().map(|r| (r.seq, r.timestamp_ns, r.record::<Rec>().unwrap(), r.evidence.clone())).collect();
            assert_eq!(shown, recovered, "{ctx}: {name}: merged window differs from the writer's recovery");
            checked += 1;
        }
    }
    checked
}

#[test]
fn power_loss_per_lane_quick() {
    let total: usize = (0..500).map(|i| power_loss_scenario(0x17_0000 + i, 10)).sum();
    println!("recorder power loss: {total} lane crash states checked, 0 violations");
    assert_eq!(total, 500 * 10 * PL_LANES);
}

#[test]
#[ignore = "long: 400,000 lane crash states"]
fn power_loss_per_lane_long() {
    let total: usize = (0..10_000).map(|i| power_loss_scenario(0x17_0000 + i, 20)).sum();
    println!("recorder power loss: {total} lane crash states checked, 0 violations");
}
