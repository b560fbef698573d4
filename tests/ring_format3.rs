//! Ring format 3: version 2 files keep working, evidence out of line is bound to its record, and
//! the clocks stamp records as documented.

mod common;

use std::path::Path;

use common::*;
use replaylog::lowlevel::format::ring::{Geometry, SlotFault, check_slot};
use replaylog::{Clock, FailureKind, RawRing, ReplayFailureEvidence, ReplayLogError, RingLog, RingOptions, SlotRead};

#[replaylog::record]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Tick {
    tick: u64,
    value: f64,
}

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ring-v2.ring");

/// The options the version 2 fixture was written with (see the commit that added it).
fn fixture_options() -> RingOptions {
    RingOptions::default().schema_id(42).evidence_bytes_max(64).layout_of::<Tick>()
}

fn fixture_evidence(tick: u64) -> Option<ReplayFailureEvidence> {
    (tick % 4 == 1)
        .then(|| ReplayFailureEvidence::new(FailureKind::Other(7), -(tick as i64), format!("failure at tick {tick}")))
}

fn copy_fixture(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("v2.ring");
    std::fs::copy(FIXTURE, &path).unwrap();
    path
}

/// A version 2 file written by the previous build reads exactly as it did, read-only and through
/// a writer, and the writer appends in version 2's slot format: the file keeps its version and
/// length, and every slot checks under the version 2 geometry.
#[test]
fn a_version_2_file_opens_reads_and_appends_as_before() {
    let dir = scratch();
    let path = copy_fixture(dir.path());
    let before = image(&path);

    let ring = RawRing::open(&path).unwrap();
    let info = ring.info();
    assert_eq!((info.version, info.clock, info.record_bytes, info.capacity), (2, Clock::None, 16, 8));
    assert_eq!((info.evidence_offset, info.evidence_entry_bytes, info.file_bytes), (0, 0, 17280));
    let recs = ring.records().unwrap();
    let ticks: Vec<u64> = recs.iter().map(|r| r.seq).collect();
    assert_eq!(ticks, (3..=10).collect::<Vec<_>>());
    for r in &recs {
        let t = Tick { tick: r.seq, value: r.seq as f64 * 0.5 };
        assert_eq!(r.bytes, replaylog::zerocopy::IntoBytes::as_bytes(&t));
        assert_eq!(r.evidence, fixture_evidence(r.seq), "seq {}", r.seq);
        assert_eq!(r.timestamp_ns, None);
    }
    assert!(ring.validate().is_clean());
    drop(ring);
    assert_eq!(image(&path), before, "reading changed the file");

    // A writer asking for a clock is refused, the file untouched.
    let err = RingLog::<Tick>::open_with(&path, 8, fixture_options().clock(Clock::Monotonic)).unwrap_err();
    assert!(matches!(err, ReplayLogError::HeaderMismatch { field: "clock", .. }), "{err}");
    assert_eq!(image(&path), before);

    let mut log: RingLog<Tick> = RingLog::open_with(&path, 8, fixture_options()).unwrap();
    assert_eq!(log.format_version(), 2);
    assert_eq!(log.recovery().window, Some((3, 10)));
    let replayed = log.replay_records().unwrap();
    assert_eq!(replayed.iter().map(|r| r.record.tick).collect::<Vec<_>>(), (3..=10).collect::<Vec<_>>());
    for tick in 11..14u64 {
        let rec = Tick { tick, value: tick as f64 * 0.5 };
        match fixture_evidence(tick) {
            Some(ev) => log.append_with_failure(&rec, &ev).unwrap(),
            None => log.append(&rec).unwrap(),
        }
    }
    log.sync().unwrap();
    drop(log);

    assert_eq!(std::fs::metadata(&path).unwrap().len(), 17280);
    let ring = RawRing::open(&path).unwrap();
    assert_eq!(ring.info().version, 2);
    let recs = ring.records().unwrap();
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), (6..=13).collect::<Vec<_>>());
    for r in &recs {
        assert_eq!(r.evidence, fixture_evidence(r.seq), "seq {}", r.seq);
    }
    // The new slots are version 2 slots: evidence inline, checksummed with the record.
    let g = Geometry::version_2(16, 64, 8, ring.header().layout_bytes.get()).unwrap();
    assert_eq!(g.slot_bytes, ring.geometry().slot_bytes);
    let bytes = std::fs::read(&path).unwrap();
    for seq in 11..14u64 {
        let off = g.slot_offset(seq % 8) as usize;
        let meta = check_slot(&g, seq % 8, &bytes[off..off + g.slot_bytes as usize]).unwrap();
        assert_eq!((meta.seq, meta.evidence_bytes > 0), (seq, fixture_evidence(seq).is_some()));
    }
}

fn ev(msg: &str) -> ReplayFailureEvidence {
    ReplayFailureEvidence::new(FailureKind::Runtime, 5, msg)
}

/// A record without evidence touches only its compact slot: the stride is header + record.
#[test]
fn slots_are_compact_and_evidence_has_its_own_region() {
    let dir = scratch();
    let path = dir.path().join("compact.ring");
    let log: RingLog<Rec> = RingLog::open(&path, 1000).unwrap();
    drop(log);
    let info = RawRing::open(&path).unwrap().info();
    assert_eq!((info.version, info.slot_bytes), (3, 96)); // 32-byte header + 64-byte record
    assert_eq!(info.evidence_entry_bytes, 16 + 256);
    assert_eq!(info.evidence_offset % 4096, 0);
    assert!(info.evidence_offset >= info.slots_offset + 1000 * 96);
    let timed = dir.path().join("timed.ring");
    drop(RingLog::<Rec>::open_with(&timed, 1000, RingOptions::default().clock(Clock::Monotonic)).unwrap());
    assert_eq!(RawRing::open(&timed).unwrap().info().slot_bytes, 104); // + 8-byte timestamp
}

/// An evidence entry left by an earlier epoch for the same seq is never attached to the record
/// a later epoch wrote there: the record counts as torn.
#[test]
fn a_stale_evidence_entry_of_another_epoch_is_never_attached() {
    let dir = scratch();
    let path = dir.path().join("stale.ring");
    let mut log: RingLog<Rec> = RingLog::open(&path, 4).unwrap();
    log.append_with_failure(&Rec::new(0, 0), &ev("old life")).unwrap();
    drop(log); // not synced: as if the power were cut now
    let g = *RawRing::open(&path).unwrap().geometry();
    let slot0 = g.slot_offset(0) as usize..g.slot_offset(1) as usize;
    let entry0 = g.evidence_entry_offset(0) as usize..g.evidence_entry_offset(1) as usize;
    let old = std::fs::read(&path).unwrap();
    // First cut: the slot never reached the disk, the evidence entry did.
    let mut img = old.clone();
    img[slot0.clone()].fill(0);
    std::fs::write(&path, &img).unwrap();
    let mut log: RingLog<Rec> = RingLog::open(&path, 4).unwrap();
    assert_eq!(log.recovery().window, None);
    log.append_with_failure(&Rec::new(1, 0), &ev("new life")).unwrap();
    let new = std::fs::read(&path).unwrap();
    drop(log);
    assert_eq!(new[entry0.clone()][..8], 0u64.to_le_bytes(), "entry 0 holds seq 0 in both lives");
    // Second cut: the new slot reached the disk, its evidence entry did not (the old one stays).
    let mut img = new.clone();
    img[entry0.clone()].copy_from_slice(&old[entry0.clone()]);
    std::fs::write(&path, &img).unwrap();
    let ring = RawRing::open(&path).unwrap();
    assert_eq!(ring.read_slot(0), SlotRead::Fault(SlotFault::Evidence));
    assert_eq!(ring.window(), None);
    assert_eq!(ring.validate().problems.len(), 1);
    drop(ring);
    let log: RingLog<Rec> = RingLog::open(&path, 4).unwrap();
    assert_eq!(log.recovery().window, None, "the torn record must not be recovered");
    assert_eq!(log.recovery().slots_damaged, 1);

    // With both halves of the new life on disk the record and its own evidence come back.
    drop(log);
    std::fs::write(&path, &new).unwrap();
    let recs = RawRing::open(&path).unwrap().records().unwrap();
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].evidence, Some(ev("new life")));
    assert_eq!(recs[0].bytes, replaylog::zerocopy::IntoBytes::as_bytes(&Rec::new(1, 0)));
}

/// A torn evidence entry (any byte of it changed) makes its record torn; a record without
/// evidence never looks at the entry its slot index shares with older laps.
#[test]
fn torn_evidence_is_refused_and_records_without_evidence_ignore_old_entries() {
    let dir = scratch();
    let path = dir.path().join("torn.ring");
    let mut log: RingLog<Rec> = RingLog::open(&path, 2).unwrap();
    log.append_with_failure(&Rec::new(0, 0), &ev("lap one")).unwrap();
    log.append(&Rec::new(0, 1)).unwrap();
    log.append(&Rec::new(0, 2)).unwrap(); // index 0 again, no evidence: entry 0 still says seq 0
    log.append_with_failure(&Rec::new(0, 3), &ev("lap two")).unwrap();
    log.sync().unwrap();
    let recs = log.replay_records().unwrap();
    assert_eq!(
        recs.iter().map(|r| (r.seq, r.evidence.clone())).collect::<Vec<_>>(),
        [(2, None), (3, Some(ev("lap two")))]
    );
    drop(log);
    let g = *RawRing::open(&path).unwrap().geometry();
    let clean = std::fs::read(&path).unwrap();
    let entry1 = g.evidence_entry_offset(1) as usize;
    let used = 16 + 16 + "lap two".len();
    for pos in 0..used {
        let mut img = clean.clone();
        img[entry1 + pos] ^= 0x10;
        std::fs::write(&path, &img).unwrap();
        let ring = RawRing::open(&path).unwrap();
        let read = ring.read_slot(1);
        assert!(
            matches!(read, SlotRead::Fault(SlotFault::Evidence | SlotFault::BadHeader)),
            "entry byte {pos} changed: {read:?}"
        );
        assert_eq!(ring.window().map(|w| (w.first, w.last)), Some((2, 2)), "entry byte {pos}");
    }
}

#[test]
fn caller_clock_refuses_a_decreasing_stamp_and_writes_nothing() {
    let dir = scratch();
    let path = dir.path().join("caller.ring");
    let opts = || RingOptions::default().clock(Clock::Caller);
    let mut log: RingLog<Rec> = RingLog::open_with(&path, 8, opts()).unwrap();
    log.append_at(100, &Rec::new(0, 0)).unwrap();
    log.append_at(100, &Rec::new(0, 1)).unwrap(); // equal is allowed
    log.append_with_failure_at(250, &Rec::new(0, 2), &ev("late")).unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = log.append_at(249, &Rec::new(0, 3)).unwrap_err();
    assert!(matches!(err, ReplayLogError::TimestampBackwards { previous: 250, given: 249, .. }), "{err}");
    let err = log.append_with_failure_at(10, &Rec::new(0, 3), &ev("x")).unwrap_err();
    assert!(matches!(err, ReplayLogError::TimestampBackwards { .. }), "{err}");
    let err = log.append(&Rec::new(0, 3)).unwrap_err();
    assert!(matches!(err, ReplayLogError::WrongClock { clock: Clock::Caller, call: "append", .. }), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before, "a refused append wrote something");
    assert_eq!(log.next_seq(), 3);
    let stamps: Vec<_> = log.replay_records().unwrap().iter().map(|r| r.timestamp_ns).collect();
    assert_eq!(stamps, [Some(100), Some(100), Some(250)]);
    log.sync().unwrap();
    drop(log);

    // The previous stamp is recovered at open: still no going back.
    let mut log: RingLog<Rec> = RingLog::open_with(&path, 8, opts()).unwrap();
    assert_eq!(log.last_timestamp_ns(), 250);
    assert!(matches!(log.append_at(249, &Rec::new(0, 3)), Err(ReplayLogError::TimestampBackwards { .. })));
    log.append_at(251, &Rec::new(0, 3)).unwrap();
    drop(log);
    let recs = RawRing::open(&path).unwrap().records().unwrap();
    assert_eq!(recs.iter().map(|r| r.timestamp_ns.unwrap()).collect::<Vec<_>>(), [100, 100, 250, 251]);

    // A ring that stamps its own records (or none) refuses `append_at`.
    let none = dir.path().join("none.ring");
    let mut log: RingLog<Rec> = RingLog::open(&none, 8).unwrap();
    let err = log.append_at(1, &Rec::new(0, 0)).unwrap_err();
    assert!(matches!(err, ReplayLogError::WrongClock { clock: Clock::None, call: "append_at", .. }), "{err}");
    assert_eq!(log.next_seq(), 0);
}

fn monotonic_now() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).unwrap();
    t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64
}

#[test]
fn monotonic_clock_stamps_each_record_and_never_goes_back() {
    let dir = scratch();
    let path = dir.path().join("mono.ring");
    let mut log: RingLog<Rec> = RingLog::open_with(&path, 64, RingOptions::default().clock(Clock::Monotonic)).unwrap();
    let start = monotonic_now();
    for seq in 0..50 {
        log.append(&Rec::new(0, seq)).unwrap();
    }
    log.append_with_failure(&Rec::new(0, 50), &ev("stamped too")).unwrap();
    let end = monotonic_now();
    let recs = log.replay_records().unwrap();
    let stamps: Vec<u64> = recs.iter().map(|r| r.timestamp_ns.expect("stamped")).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "stamps decrease: {stamps:?}");
    assert!(stamps[0] >= start && *stamps.last().unwrap() <= end, "stamps outside [{start}, {end}]: {stamps:?}");
    assert!(stamps.first() < stamps.last(), "the clock did not move in 51 appends: {stamps:?}");
    assert_eq!(recs[50].evidence, Some(ev("stamped too")));
    let err = log.append_at(end + 1, &Rec::new(0, 51)).unwrap_err();
    assert!(matches!(err, ReplayLogError::WrongClock { clock: Clock::Monotonic, .. }), "{err}");
    drop(log);
    let ring = RawRing::open(&path).unwrap();
    assert_eq!(ring.info().clock, Clock::Monotonic);
    let read: Vec<u64> = ring.records().unwrap().iter().map(|r| r.timestamp_ns.unwrap()).collect();
    assert_eq!(read, stamps);

    // A ring without a clock has no stamps; reopening with another clock is refused, untouched.
    let plain = dir.path().join("plain.ring");
    let mut log: RingLog<Rec> = RingLog::open(&plain, 4).unwrap();
    log.append(&Rec::new(0, 0)).unwrap();
    assert_eq!(log.replay_records().unwrap()[0].timestamp_ns, None);
    drop(log);
    let before = image(&plain);
    let err = RingLog::<Rec>::open_with(&plain, 4, RingOptions::default().clock(Clock::Caller)).unwrap_err();
    assert!(matches!(err, ReplayLogError::HeaderMismatch { field: "clock", .. }), "{err}");
    assert_eq!(image(&plain), before);
}
