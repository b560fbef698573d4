//! Live readers (issue 9): a reader following a writer never returns a half-written, stale or
//! altered record; when lapped it reports exactly how many records it missed.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use replaylog::{RawRing, ReadOutcome, RingLog, RingOptions, RingReader, StartAt};

#[test]
fn a_reader_sees_the_window_and_follows_new_records() {
    let dir = scratch();
    let path = dir.path().join("r.ring");
    let mut log: RingLog<Rec> = RingLog::open_with(&path, 8, RingOptions::default().layout_of::<Rec>()).unwrap();
    for s in 0..5 {
        log.append(&Rec::new(0, s)).unwrap();
    }
    let mut r: RingReader<Rec> = RingReader::open(&path).unwrap();
    assert_eq!(r.position(), 0);
    for s in 0..5 {
        match r.poll().unwrap() {
            ReadOutcome::Record(rec) => assert_eq!((rec.seq, rec.record), (s, Rec::new(0, s))),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(r.poll().unwrap(), ReadOutcome::Pending);
    log.append(&Rec::new(0, 5)).unwrap();
    assert!(matches!(r.poll().unwrap(), ReadOutcome::Record(rec) if rec.seq == 5));
    // A reader opened at Newest sees only what comes next.
    let mut newest: RingReader<Rec> = RingReader::open_at(&path, StartAt::Newest).unwrap();
    assert_eq!(newest.poll().unwrap(), ReadOutcome::Pending);
    log.append(&Rec::new(0, 6)).unwrap();
    assert!(matches!(newest.poll().unwrap(), ReadOutcome::Record(rec) if rec.seq == 6));
    // The raw view decodes without the record type; the layout travels with the file.
    let raw = RawRing::open(&path).unwrap();
    assert_eq!(raw.records().unwrap().len(), 7);
    assert_eq!(raw.layout().unwrap().name, "Rec");
    // A reader of the wrong record type is refused.
    assert!(RingReader::<[u8; 8]>::open(&path).is_err());
}

#[test]
fn a_lapped_reader_reports_exactly_what_it_missed() {
    let dir = scratch();
    let path = dir.path().join("lap.ring");
    let mut log: RingLog<Rec> = RingLog::open(&path, 16).unwrap();
    let mut r: RingReader<Rec> = RingReader::open(&path).unwrap();
    for s in 0..3 {
        log.append(&Rec::new(0, s)).unwrap();
    }
    for _ in 0..3 {
        assert!(matches!(r.poll().unwrap(), ReadOutcome::Record(_)));
    }
    for s in 3..103 {
        log.append(&Rec::new(0, s)).unwrap();
    }
    // Writer at 103: live 87..=102; the reader resumes at the oldest, 87.
    match r.poll().unwrap() {
        ReadOutcome::Lapped { missed, resumed_at } => assert_eq!((missed, resumed_at), (84, 87)),
        other => panic!("{other:?}"),
    }
    let mut got = Vec::new();
    while let ReadOutcome::Record(rec) = r.poll().unwrap() {
        assert_eq!(rec.record, Rec::new(0, rec.seq));
        got.push(rec.seq);
    }
    assert_eq!(got, (87..103).collect::<Vec<_>>());
}

/// A writer thread at full speed against a reader thread: every record the reader returns is
/// exactly the one appended at its seq; returned seqs increase by one except across reported
/// laps, whose `missed` counts add up exactly.
#[test]
fn a_reader_racing_a_full_speed_writer_never_sees_a_torn_record() {
    let dir = scratch();
    let path = dir.path().join("race.ring");
    let total = 2_000_000u64;
    let mut log: RingLog<Rec> = RingLog::open_with(&path, 1024, RingOptions::default().prefault(true)).unwrap();
    let mut reader: RingReader<Rec> = RingReader::open(&path).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let done = done.clone();
        std::thread::spawn(move || {
            for s in 0..total {
                log.append(&Rec::new(0, s)).unwrap();
            }
            done.store(true, Ordering::Release);
        })
    };
    let (mut records, mut missed_total, mut laps) = (0u64, 0u64, 0u64);
    let mut expect = 0u64;
    loop {
        match reader.next_timeout(Duration::from_millis(50)).unwrap() {
            ReadOutcome::Record(rec) => {
                assert_eq!(rec.seq, expect, "out of order");
                assert_eq!(rec.record, Rec::new(0, rec.seq), "torn or stale record at seq {}", rec.seq);
                expect += 1;
                records += 1;
            }
            ReadOutcome::Lapped { missed, resumed_at } => {
                assert_eq!(resumed_at, expect + missed);
                expect = resumed_at;
                missed_total += missed;
                laps += 1;
            }
            ReadOutcome::Pending => {
                if done.load(Ordering::Acquire) && reader.poll().unwrap() == ReadOutcome::Pending {
                    break;
                }
            }
        }
    }
    writer.join().unwrap();
    assert_eq!(records + missed_total, total, "every seq either returned or reported missed");
    println!("reader vs writer: {total} appends, {records} read, {missed_total} missed in {laps} laps, 0 torn");
}

#[test]
fn a_reader_skips_a_hole_a_restarted_writer_left_and_says_so() {
    let dir = scratch();
    let path = dir.path().join("hole.ring");
    let mut log: RingLog<Rec> = RingLog::open(&path, 16).unwrap();
    for s in 0..10 {
        log.append(&Rec::new(0, s)).unwrap();
    }
    drop(log);
    let mut r: RingReader<Rec> = RingReader::open(&path).unwrap();
    for _ in 0..2 {
        assert!(matches!(r.poll().unwrap(), ReadOutcome::Record(_)));
    }
    // Rot in seq 2's slot; the next writer's window starts after it and zeroes the slot.
    let g = replaylog::lowlevel::format::ring::Geometry::new(64, 256, 16, 0, replaylog::Clock::None).unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[g.slot_offset(2) as usize + 40] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let log: RingLog<Rec> = RingLog::open(&path, 16).unwrap();
    assert_eq!(log.recovery().window, Some((3, 9)));
    assert_eq!(r.poll().unwrap(), ReadOutcome::Lapped { missed: 1, resumed_at: 3 });
    assert!(matches!(r.poll().unwrap(), ReadOutcome::Record(rec) if rec.seq == 3 && rec.record == Rec::new(0, 3)));
}
