//! Freeze on failure (issue 19): each capture holds exactly `[s - before, s + after]` of its
//! lane (merged where windows overlap) with the triggering evidence; rate and byte limits
//! suppress exactly, and say so; a lapped freezer lists exactly the seqs it lacks.
//!
//! No sleeps order the threads: the writer is the test thread, `stop()` drains what the ring
//! holds, and the one test that needs the freezer to wait blocks it in its capture callback.

use std::path::{Path, PathBuf};
use std::sync::mpsc;

use replaylog::archive::Gap;
use replaylog::capture::Capture;
use replaylog::freeze::{FreezeOptions, FreezeStats, FreezeTrigger, Freezer, FrozenCapture, TriggerOn};
use replaylog::recorder::{Recorder, RecorderOptions};
use replaylog::{FailureKind, ReplayFailureEvidence, RingLog};

fn failure(seq: u64) -> ReplayFailureEvidence {
    ReplayFailureEvidence::new(FailureKind::Timeout, seq as i64, format!("deadline missed at {seq}"))
}

/// Appends seqs `from..to` (each record's value is its seq), with a failure at every seq for
/// which `fail` gives evidence.
fn write(log: &mut RingLog<u64>, to: u64, fail: impl Fn(u64) -> Option<ReplayFailureEvidence>) {
    for seq in log.next_seq()..to {
        match fail(seq) {
            Some(ev) => log.append_with_failure(&seq, &ev).unwrap(),
            None => log.append(&seq).unwrap(),
        }
    }
}

/// A ring of `capacity` slots at `tmp/loop.ring`, a freezer on it into `tmp/frozen`, `script`
/// writing; then stop. Captures sorted by trigger seq.
fn scenario(
    tmp: &Path,
    capacity: u64,
    opts: FreezeOptions,
    script: impl FnOnce(&mut RingLog<u64>, &FreezeTrigger),
) -> (FreezeStats, Vec<FrozenCapture>) {
    let ring = tmp.join("loop.ring");
    let mut log: RingLog<u64> = RingLog::open(&ring, capacity).unwrap();
    let (tx, rx) = mpsc::channel();
    let freezer = Freezer::start_with(&ring, tmp.join("frozen"), opts, move |c| {
        let _ = tx.send(c.clone());
    })
    .unwrap();
    script(&mut log, &freezer.trigger_handle());
    let stats = freezer.stop().unwrap();
    let mut captures: Vec<FrozenCapture> = rx.try_iter().collect();
    assert_eq!(list_captures(&tmp.join("frozen")).len() as u64, stats.captures, "every capture counted is on disk");
    assert_eq!(captures.len() as u64, stats.captures);
    captures.sort_by_key(|c| c.trigger_seq);
    (stats, captures)
}

fn list_captures(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && p.file_name().unwrap().to_string_lossy().starts_with("freeze-"))
        .collect();
    v.sort();
    v
}

/// The seqs (and the evidence seqs) a capture holds, read back as any command reads it.
fn read_back(path: &Path) -> (Vec<u64>, Vec<u64>) {
    let c = Capture::open(path).unwrap();
    assert_eq!(c.kind(), &replaylog::Kind::Archive, "{}", path.display());
    let lane = c.lanes().first().cloned();
    let mut seqs = Vec::new();
    let mut failed = Vec::new();
    for r in c.records(lane.as_deref()).unwrap() {
        let r = r.unwrap();
        assert_eq!(r.bytes, r.seq.to_le_bytes(), "seq {} holds another record", r.seq);
        if let Some(ev) = &r.evidence {
            assert_eq!(ev, &failure(r.seq));
            failed.push(r.seq);
        }
        seqs.push(r.seq);
    }
    (seqs, failed)
}

/// Every stop-free capture from these tests: `records + missing + lacking` covers the window.
fn check_accounting(c: &FrozenCapture) {
    let missing: u64 = c.missing.iter().map(|g| g.to - g.from).sum();
    assert_eq!(c.records + missing + c.after_lacking, c.last_seq - c.first_seq + 1, "{c:?}");
    assert!(c.manifest.exists(), "{} has its manifest", c.path.display());
}

fn all_final_names_are_captures(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.starts_with(".freeze-tmp-"), "temporary name {name} left behind");
    }
}

#[test]
fn an_isolated_failure_is_frozen_with_exactly_its_window() {
    let tmp = tempfile::tempdir().unwrap();
    let (stats, captures) = scenario(tmp.path(), 4096, FreezeOptions::default().before(10).after(5), |log, _| {
        write(log, 1000, |s| (s == 500).then(|| failure(s)));
    });
    assert_eq!(captures.len(), 1);
    let c = &captures[0];
    check_accounting(c);
    assert_eq!((c.trigger_seq, c.first_seq, c.last_seq, c.records), (500, 490, 505, 16));
    assert!(c.is_complete() && !c.cut);
    assert_eq!(c.triggers.len(), 1);
    assert_eq!(c.triggers[0].evidence, Some(failure(500)));
    let name = c.path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("freeze-500-loop-") && name.ends_with('Z'), "{name}");
    assert_eq!(read_back(&c.path), ((490..=505).collect(), vec![500]));
    let manifest = std::fs::read_to_string(&c.manifest).unwrap();
    assert!(manifest.starts_with("replaylog freeze capture 1\n"), "{manifest}");
    for line in ["window: 490..=505", "records: 16", "missing: none", "complete: yes", "trigger: 500 timeout code=500"]
    {
        assert!(manifest.contains(line), "{line:?} not in\n{manifest}");
    }
    assert_eq!((stats.captures, stats.triggers, stats.merged, stats.suppressed_rate, stats.missed), (1, 1, 0, 0, 0));
    assert_eq!(stats.records_written, 16);
    all_final_names_are_captures(&tmp.path().join("frozen"));
}

#[test]
fn overlapping_windows_merge_into_one_capture_listing_both_triggers() {
    let tmp = tempfile::tempdir().unwrap();
    let (stats, captures) = scenario(tmp.path(), 4096, FreezeOptions::default().before(10).after(5), |log, _| {
        // 503 is inside 500's window [490, 505]: the window grows to [490, 508]. 520 is a new one.
        write(log, 1000, |s| [500, 503, 520].contains(&s).then(|| failure(s)));
    });
    assert_eq!(captures.len(), 2);
    let c = &captures[0];
    check_accounting(c);
    assert_eq!((c.first_seq, c.last_seq), (490, 508));
    assert_eq!(c.triggers.iter().map(|t| t.seq).collect::<Vec<_>>(), vec![500, 503]);
    assert_eq!(read_back(&c.path), ((490..=508).collect(), vec![500, 503]));
    // The next capture takes its own before-records again, even those already in the first.
    assert_eq!(read_back(&captures[1].path), ((510..=525).collect(), vec![520]));
    assert_eq!((stats.captures, stats.triggers, stats.merged), (2, 3, 1));
}

#[test]
fn a_storm_of_a_thousand_failures_is_one_capture() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = FreezeOptions::default().before(20).after(20).max_per_minute(Some(1));
    let (stats, captures) = scenario(tmp.path(), 8192, opts, |log, _| {
        write(log, 3000, |s| (1000..2000).contains(&s).then(|| failure(s)));
    });
    assert_eq!(captures.len(), 1);
    let c = &captures[0];
    check_accounting(c);
    assert_eq!((c.first_seq, c.last_seq, c.records, c.triggers.len()), (980, 2019, 1040, 1000));
    let (seqs, failed) = read_back(&c.path);
    assert_eq!(seqs, (980..=2019).collect::<Vec<_>>());
    assert_eq!(failed, (1000..2000).collect::<Vec<_>>());
    // Merged into the open window, not suppressed by the rate limit.
    assert_eq!((stats.triggers, stats.merged, stats.suppressed_rate), (1000, 999, 0));
}

#[test]
fn the_rate_limit_holds_and_counts_every_suppressed_trigger() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = FreezeOptions::default().before(5).after(5).max_per_minute(Some(3));
    let (stats, captures) = scenario(tmp.path(), 8192, opts, |log, _| {
        // 10 isolated failures 100 apart; a storm of 50 after them is suppressed as 1 + 0 merged.
        write(log, 2000, |s| ((s % 100 == 50 && s < 1000) || (1500..1550).contains(&s)).then(|| failure(s)));
    });
    assert_eq!(captures.iter().map(|c| c.trigger_seq).collect::<Vec<_>>(), vec![50, 150, 250]);
    for c in &captures {
        check_accounting(c);
        assert!(c.is_complete());
    }
    // 7 isolated failures and all 50 of the storm: none of them started a window to merge into.
    assert_eq!((stats.captures, stats.triggers, stats.suppressed_rate, stats.merged), (3, 60, 57, 0));
    let manifest = std::fs::read_to_string(&captures[2].manifest).unwrap();
    assert!(manifest.contains("suppressed_rate: 0"), "{manifest}");
}

#[test]
fn max_bytes_cuts_the_last_capture_and_suppresses_the_rest_exactly() {
    // First measure one capture's bytes, then allow two and a half of them.
    let one = {
        let tmp = tempfile::tempdir().unwrap();
        let (_, c) = scenario(tmp.path(), 8192, FreezeOptions::default().before(10).after(10), |log, _| {
            write(log, 300, |s| (s == 150).then(|| failure(s)));
        });
        c[0].bytes
    };
    let tmp = tempfile::tempdir().unwrap();
    let cap = one * 5 / 2;
    let opts = FreezeOptions::default().before(10).after(10).max_bytes(Some(cap));
    let (stats, captures) = scenario(tmp.path(), 8192, opts, |log, _| {
        // Same-sized evidence (3-digit seqs) for every trigger.
        write(log, 1000, |s| (s % 100 == 50 && s > 100).then(|| failure(s)));
    });
    assert_eq!(captures.len(), 3);
    assert_eq!(captures.iter().map(|c| c.bytes).take(2).collect::<Vec<_>>(), vec![one, one]);
    let third = &captures[2];
    check_accounting(third);
    assert!(third.cut && third.after_lacking > 0 && third.records > 0, "{third:?}");
    assert_eq!(third.missing, vec![]);
    assert_eq!(read_back(&third.path).0, (340..340 + third.records).collect::<Vec<_>>());
    assert!(stats.bytes_written <= cap && stats.bytes_written == captures.iter().map(|c| c.bytes).sum::<u64>());
    // Failures at 450..=950: 6 suppressed, none silently.
    assert_eq!((stats.triggers, stats.suppressed_bytes, stats.suppressed_rate), (9, 6, 0));
    assert!(std::fs::read_to_string(&third.manifest).unwrap().contains("cut: max_bytes"));
}

#[test]
fn a_kind_filter_triggers_on_that_kind_only() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = FreezeOptions::default().before(3).after(3).on(TriggerOn::Kind(FailureKind::Backend));
    let (stats, captures) = scenario(tmp.path(), 4096, opts, |log, _| {
        for seq in 0..400u64 {
            match seq {
                100 => log.append_with_failure(&seq, &failure(seq)).unwrap(),
                300 => log
                    .append_with_failure(&seq, &ReplayFailureEvidence::new(FailureKind::Backend, 5, "link down"))
                    .unwrap(),
                _ => log.append(&seq).unwrap(),
            }
        }
    });
    assert_eq!(captures.len(), 1);
    assert_eq!((captures[0].first_seq, captures[0].last_seq), (297, 303));
    assert_eq!(stats.triggers, 1);
    let opts = FreezeOptions::default().before(3).after(3).on(TriggerOn::KindCode(FailureKind::Timeout, 7));
    let tmp = tempfile::tempdir().unwrap();
    let (_, captures) = scenario(tmp.path(), 4096, opts, |log, _| {
        write(log, 100, |s| {
            (s % 10 == 0).then(|| ReplayFailureEvidence::new(FailureKind::Timeout, (s / 10) as i64, "x"))
        });
    });
    assert_eq!(captures.iter().map(|c| c.trigger_seq).collect::<Vec<_>>(), vec![70]);
}

#[test]
fn an_explicit_trigger_freezes_the_newest_published_record() {
    let tmp = tempfile::tempdir().unwrap();
    let opts = FreezeOptions::default().before(10).after(4).on(TriggerOn::Manual);
    let (stats, captures) = scenario(tmp.path(), 4096, opts, |log, trigger| {
        write(log, 300, |s| (s == 100).then(|| failure(s))); // Manual: evidence is no trigger
        assert_eq!(trigger.trigger(), Some(299));
        write(log, 400, |_| None);
        // Triggered from another thread of the process.
        let t = trigger.clone();
        assert_eq!(std::thread::spawn(move || t.trigger()).join().unwrap(), Some(399));
        write(log, 500, |_| None);
    });
    assert_eq!(captures.len(), 2);
    assert_eq!((captures[0].trigger_seq, captures[0].first_seq, captures[0].last_seq), (299, 289, 303));
    assert_eq!(captures[0].triggers[0].evidence, None);
    assert_eq!(read_back(&captures[0].path).0, (289..=303).collect::<Vec<_>>());
    assert_eq!(read_back(&captures[1].path).0, (389..=403).collect::<Vec<_>>(), "{:?}", captures[1]);
    assert!(std::fs::read_to_string(&captures[1].manifest).unwrap().contains("trigger: 399 manual"));
    assert_eq!(stats.triggers, 2);
}

#[test]
fn records_already_in_the_ring_are_context_for_the_first_window() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("loop.ring");
    let mut log: RingLog<u64> = RingLog::open(&ring, 4096).unwrap();
    // A failure before the freezer starts is history (context), not a trigger.
    write(&mut log, 1000, |s| (s == 995).then(|| failure(s)));
    let freezer =
        Freezer::start(&ring, tmp.path().join("frozen"), FreezeOptions::default().before(50).after(5)).unwrap();
    write(&mut log, 1100, |s| (s == 1000).then(|| failure(s)));
    let stats = freezer.stop().unwrap();
    let captures = list_captures(&tmp.path().join("frozen"));
    assert_eq!(captures.len(), 1);
    assert_eq!(read_back(&captures[0]), ((950..=1005).collect(), vec![995, 1000]));
    assert_eq!(list_captures(&tmp.path().join("frozen")).len(), 1);
    assert_eq!(stats.triggers, 1);
}

#[test]
fn stopping_finishes_an_open_window_saying_what_it_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let (stats, captures) = scenario(tmp.path(), 4096, FreezeOptions::default().before(5).after(100), |log, _| {
        write(log, 20, |s| (s == 10).then(|| failure(s)));
    });
    let c = &captures[0];
    check_accounting(c);
    assert_eq!((c.first_seq, c.last_seq, c.records, c.after_lacking), (5, 110, 15, 91));
    assert!(!c.is_complete());
    assert_eq!(stats.incomplete, 1);
    assert!(std::fs::read_to_string(&c.manifest).unwrap().contains("after_lacking: 91"));
}

#[test]
fn a_lapped_freezer_lists_exactly_the_seqs_it_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    let ring = tmp.path().join("loop.ring");
    let mut log: RingLog<u64> = RingLog::open(&ring, 16).unwrap();
    let (closed_tx, closed_rx) = mpsc::channel();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let opts = FreezeOptions::default().before(20).after(3);
    // The first capture's callback holds the freezer until the writer has lapped it.
    let freezer = Freezer::start_with(&ring, tmp.path().join("frozen"), opts, move |c| {
        closed_tx.send(c.clone()).unwrap();
        let _ = go_rx.recv();
    })
    .unwrap();
    write(&mut log, 14, |s| (s == 10).then(|| failure(s)));
    let first = closed_rx.recv().unwrap();
    assert_eq!((first.first_seq, first.last_seq, first.records), (0, 13, 14));
    assert!(first.is_complete());
    // The freezer waits in the callback at seq 14; the writer laps it: the ring keeps 97..=112.
    write(&mut log, 113, |s| (s == 105).then(|| failure(s)));
    go_tx.send(()).unwrap();
    drop(go_tx);
    let stats = freezer.stop().unwrap();
    let second = closed_rx.recv().unwrap();
    check_accounting(&second);
    // Window [85, 108]: 85..97 were overwritten before the freezer read them.
    assert_eq!((second.trigger_seq, second.first_seq, second.last_seq), (105, 85, 108));
    assert_eq!(second.missing, vec![Gap { from: 85, to: 97 }]);
    assert_eq!(read_back(&second.path), ((97..=108).collect(), vec![105]));
    assert!(std::fs::read_to_string(&second.manifest).unwrap().contains("missing: 85..97"));
    assert_eq!((stats.missed, stats.incomplete, stats.captures), (97 - 14, 1, 2));
}

#[test]
fn a_recorder_directory_is_frozen_lane_by_lane() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(4096)).unwrap();
    let mut a = rec.lane("a").unwrap();
    let mut b = rec.lane("b").unwrap();
    let freezer = Freezer::start(&dir, tmp.path().join("frozen"), FreezeOptions::default().before(4).after(4)).unwrap();
    let trigger = freezer.trigger_handle();
    for seq in 0..200u64 {
        if seq == 50 {
            b.append_with_failure(&seq, &failure(seq)).unwrap();
        } else {
            b.append(&seq).unwrap();
        }
        a.append(&seq).unwrap();
    }
    assert_eq!(trigger.trigger(), Some(199)); // the first lane by name: a
    a.append(&200).unwrap();
    for seq in 200..210u64 {
        b.append(&seq).unwrap();
    }
    for seq in 201..210u64 {
        a.append(&seq).unwrap();
    }
    freezer.stop().unwrap();
    let captures = list_captures(&tmp.path().join("frozen"));
    assert_eq!(captures.len(), 2, "{captures:?}");
    let names: Vec<String> = captures.iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let (cb, ca) = if names[0].starts_with("freeze-50-b-") { (0, 1) } else { (1, 0) };
    assert!(names[ca].starts_with("freeze-199-a-"), "{names:?}");
    let b_cap = Capture::open(&captures[cb]).unwrap();
    assert_eq!(b_cap.lanes(), ["b".to_string()]);
    assert_eq!(read_back(&captures[cb]), ((46..=54).collect(), vec![50]));
    let a_cap = Capture::open(&captures[ca]).unwrap();
    assert_eq!(a_cap.lanes(), ["a".to_string()]);
    assert_eq!(read_back(&captures[ca]).0, (195..=203).collect::<Vec<_>>());
}

#[test]
fn bad_input_is_refused_before_anything_is_created() {
    let tmp = tempfile::tempdir().unwrap();
    let notes = tmp.path().join("notes.txt");
    std::fs::write(&notes, "hello").unwrap();
    let to = tmp.path().join("frozen");
    let e = Freezer::start(&notes, &to, FreezeOptions::default()).unwrap_err();
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert!(Freezer::start(tmp.path().join("missing.ring"), &to, FreezeOptions::default()).is_err());
    let ring = tmp.path().join("loop.ring");
    let _log: RingLog<u64> = RingLog::open(&ring, 16).unwrap();
    assert!(Freezer::start(&ring, &notes, FreezeOptions::default()).is_err(), "--to a file");
    assert!(Freezer::start(&ring, &to, FreezeOptions::default().max_per_minute(Some(0))).is_err());
    assert!(!to.exists());
}

#[test]
fn leftover_temporary_names_of_dead_freezers_are_removed_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("frozen");
    std::fs::create_dir(&to).unwrap();
    // pid 0 never runs a freezer; our own pid's leftovers are ours to clean too.
    let dead = to.join(".freeze-tmp-0-3");
    std::fs::create_dir(&dead).unwrap();
    std::fs::write(dead.join("00000000000000000001.seg"), b"torn").unwrap();
    std::fs::write(to.join(".freeze-tmp-0-3.txt"), b"half").unwrap();
    std::fs::write(to.join("keep.txt"), b"mine").unwrap();
    // pid 1 always runs: its temporary name may be another freezer's capture in progress.
    std::fs::create_dir(to.join(".freeze-tmp-1-0")).unwrap();
    let ring = tmp.path().join("loop.ring");
    let _log: RingLog<u64> = RingLog::open(&ring, 16).unwrap();
    Freezer::start(&ring, &to, FreezeOptions::default()).unwrap().stop().unwrap();
    let mut left: Vec<String> =
        std::fs::read_dir(&to).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    left.sort();
    assert_eq!(left, vec![".freeze-tmp-1-0", "keep.txt"]);
}

#[test]
fn a_lane_created_after_the_start_is_followed_from_its_first_record() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("rec");
    let rec: Recorder<u64> = Recorder::open(&dir, RecorderOptions::default().capacity_slots(1024)).unwrap();
    let mut a = rec.lane("a").unwrap();
    a.append(&0).unwrap();
    let freezer = Freezer::start(&dir, tmp.path().join("frozen"), FreezeOptions::default().before(5).after(2)).unwrap();
    // Found at the next rescan (stop() rescans): its early failure is a trigger, not context.
    let mut late = rec.lane("late").unwrap();
    for seq in 0..50u64 {
        if seq == 3 {
            late.append_with_failure(&seq, &failure(seq)).unwrap();
        } else {
            late.append(&seq).unwrap();
        }
    }
    let stats = freezer.stop().unwrap();
    let captures = list_captures(&tmp.path().join("frozen"));
    assert_eq!((stats.captures, captures.len()), (1, 1));
    assert!(captures[0].file_name().unwrap().to_string_lossy().starts_with("freeze-3-late-"));
    assert_eq!(read_back(&captures[0]), ((0..=5).collect(), vec![3]));
}
