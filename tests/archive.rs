//! Ring → journal archiving (issue 9): lossless under a full-speed writer (or every miss
//! reported), resume without duplicates, gaps reported exactly, SIGKILL of the archiver.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use replaylog::archive::{Archiver, ArchiverOptions, Gap, read_archive};
use replaylog::zerocopy::FromBytes;
use replaylog::{FailureKind, ReplayFailureEvidence, RingLog, RingOptions};

fn check_archive(dir: &std::path::Path) -> Vec<u64> {
    let (header, records) = read_archive(dir).unwrap();
    assert_eq!(header.record_bytes as usize, size_of::<Rec>());
    let mut seqs = Vec::with_capacity(records.len());
    for r in &records {
        let rec = Rec::read_from_bytes(&r.bytes).unwrap();
        assert_eq!(rec, Rec::new(0, r.seq), "archived seq {} altered", r.seq);
        if let Some(&last) = seqs.last() {
            assert!(r.seq > last, "seq {} after {last}: duplicate or out of order", r.seq);
        }
        seqs.push(r.seq);
    }
    seqs
}

#[test]
fn archiving_a_full_speed_writer_loses_nothing_unreported() {
    let tmp = scratch();
    let ring = tmp.path().join("r.ring");
    let arch = tmp.path().join("archive");
    let total = 1_000_000u64;
    let mut log: RingLog<Rec> = RingLog::open_with(&ring, 65_536, RingOptions::default().prefault(true)).unwrap();
    let archiver = Archiver::start(&ring, &arch, ArchiverOptions::default()).unwrap();
    let started = std::time::Instant::now();
    for s in 0..total {
        log.append(&Rec::new(0, s)).unwrap();
    }
    let write_s = started.elapsed().as_secs_f64();
    let stats = archiver.stop().unwrap();
    let seqs = check_archive(&arch);
    assert_eq!(stats.archived, seqs.len() as u64);
    assert_eq!(stats.archived + stats.missed, total, "{stats:?}");
    // Every missing seq is inside a reported gap (as far as the kept gap list reaches; under
    // heavy load a starved archiver can be lapped more than 10,000 times).
    assert!(stats.gaps_total as usize >= stats.gaps.len());
    let complete = stats.gaps_total as usize == stats.gaps.len();
    let mut expect = 0;
    let mut gaps = stats.gaps.iter();
    for &s in &seqs {
        while expect < s {
            let Some(g) = gaps.next() else {
                assert!(!complete, "seq {expect} missing and unreported");
                break;
            };
            let g: &Gap = g;
            assert_eq!(g.from, expect);
            expect = g.to;
        }
        if expect < s {
            break; // past the kept gap list
        }
        assert_eq!(s, expect);
        expect += 1;
    }
    let gap_sum: u64 = stats.gaps.iter().map(|g| g.to - g.from).sum();
    assert!(gap_sum <= stats.missed && (!complete || gap_sum == stats.missed));
    println!(
        "archiver: {total} appends in {write_s:.3} s, {} archived, {} missed in {} gaps, {:.2} M records/s archived",
        stats.archived,
        stats.missed,
        stats.gaps_total,
        stats.records_per_s() / 1e6
    );
}

#[test]
fn restart_resumes_without_duplicates_and_reports_what_the_ring_overwrote() {
    let tmp = scratch();
    let ring = tmp.path().join("r.ring");
    let arch = tmp.path().join("archive");
    let mut log: RingLog<Rec> = RingLog::open_with(&ring, 100, RingOptions::default().layout_of::<Rec>()).unwrap();
    for s in 0..50 {
        if s == 7 {
            let ev = ReplayFailureEvidence::new(FailureKind::Timeout, 7, "late");
            log.append_with_failure(&Rec::new(0, s), &ev).unwrap();
        } else {
            log.append(&Rec::new(0, s)).unwrap();
        }
    }
    let a = Archiver::start(&ring, &arch, ArchiverOptions::default()).unwrap();
    let st = a.stop().unwrap();
    assert_eq!((st.archived, st.missed, st.resumed_at), (50, 0, 0));
    // More, within one lap: resumes at 50, no gap.
    for s in 50..120 {
        log.append(&Rec::new(0, s)).unwrap();
    }
    let st = Archiver::start(&ring, &arch, ArchiverOptions::default()).unwrap().stop().unwrap();
    assert_eq!((st.archived, st.missed, st.resumed_at), (70, 0, 50));
    // Far more than a lap while no archiver runs: the gap is reported exactly.
    for s in 120..500 {
        log.append(&Rec::new(0, s)).unwrap();
    }
    let st = Archiver::start(&ring, &arch, ArchiverOptions::default()).unwrap().stop().unwrap();
    // Writer at 500: the ring holds 400..=499; 120..=399 are gone and reported.
    assert_eq!(st.gaps, vec![Gap { from: 120, to: 400 }]);
    assert_eq!((st.archived, st.missed), (100, 280));
    let seqs = check_archive(&arch);
    assert_eq!(seqs, (0..120).chain(400..500).collect::<Vec<_>>());
    let (header, records) = read_archive(&arch).unwrap();
    assert_eq!(header.layout.unwrap().name, "Rec");
    assert_eq!(records[7].evidence, Some(ReplayFailureEvidence::new(FailureKind::Timeout, 7, "late")));
    // The archive replays the same records, in the same order, as the ring's own replay.
    let ring_tail: Vec<u64> = log.replay_records().unwrap().iter().map(|r| r.seq).collect();
    assert_eq!(&seqs[seqs.len() - ring_tail.len()..], ring_tail.as_slice());
    // An archive of another ring shape is refused.
    let other = tmp.path().join("o.ring");
    drop(RingLog::<[u8; 16]>::open(&other, 10).unwrap());
    assert!(matches!(
        Archiver::start(&other, &arch, ArchiverOptions::default()),
        Err(replaylog::ReplayLogError::HeaderMismatch { .. })
    ));
}

/// Child: archive until killed.
#[test]
fn archiver_child_entry() {
    let (Ok(ring), Ok(arch)) = (std::env::var("RL_ARCH_RING"), std::env::var("RL_ARCH_DIR")) else { return };
    let a = Archiver::start(&ring, &arch, ArchiverOptions::default()).unwrap();
    println!("open");
    let stop = Arc::new(AtomicBool::new(false));
    while !stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(std::time::Duration::from_millis(100));
        let _ = a.stats();
    }
}

#[test]
fn a_killed_archiver_restarts_without_duplicates_or_unreported_gaps() {
    let tmp = scratch();
    let ring = tmp.path().join("r.ring");
    let arch = tmp.path().join("archive");
    let total = 200_000u64;
    let mut log: RingLog<Rec> = RingLog::open(&ring, 262_144).unwrap();
    for s in 0..total {
        log.append(&Rec::new(0, s)).unwrap();
    }
    drop(log);
    let mut rng = Rng::new(0xA4C1);
    let env = [("RL_ARCH_RING", ring.as_os_str()), ("RL_ARCH_DIR", arch.as_os_str())];
    let kills = 20;
    for _ in 0..kills {
        kill_child_at_random(&mut rng, "archiver_child_entry", &env, 30_000, 30_000);
        // Whatever the kill left, the archive is a strictly increasing prefix of the ring.
        let seqs = check_archive_after_recovery(&arch);
        assert_eq!(seqs, (0..seqs.len() as u64).collect::<Vec<_>>());
    }
    let st = Archiver::start(&ring, &arch, ArchiverOptions::default()).unwrap().stop().unwrap();
    assert_eq!(st.missed, 0);
    assert_eq!(check_archive(&arch), (0..total).collect::<Vec<_>>());
    println!(
        "archiver sigkill: {kills} kills, then a restart completed the archive: {total} records, 0 duplicates, 0 gaps"
    );
}

fn check_archive_after_recovery(arch: &std::path::Path) -> Vec<u64> {
    if !arch.exists() {
        return Vec::new();
    }
    // Opening for write recovers a torn tail the kill may have left.
    match replaylog::Journal::open(arch, replaylog::JournalOptions::default()) {
        Ok(j) => j.close().unwrap(),
        Err(e) => panic!("archive does not reopen after a kill: {e}"),
    }
    match read_archive(arch) {
        Ok(_) => check_archive(arch),
        Err(replaylog::ReplayLogError::HeaderMismatch { .. }) => Vec::new(), // killed before the header
        Err(e) => panic!("{e}"),
    }
}

/// A damaged entry is reported with its LSN and the precise reason, and reading goes on past it;
/// `read_archive` stops at it with the same reason; a plain journal is not an archive, and a
/// damaged header says why. The archive's bytes are written here by hand (what another tool, or
/// rot under a valid frame checksum, could leave).
#[test]
fn archive_reader_reports_each_damaged_entry_with_its_lsn_and_reason() {
    use replaylog::archive::{ArchiveDecodeError, ArchiveHeader, ArchiveReader, encode_record};
    use replaylog::{Journal, JournalOptions, Position, RawRecord, ReplayLogError};

    let tmp = scratch();
    let arch = tmp.path().join("archive");
    let header = ArchiveHeader { record_bytes: 8, schema_id: 3, capacity: 16, layout: None };
    let entry = |seq: u64| {
        let mut e = Vec::new();
        encode_record(
            &mut e,
            &RawRecord { seq, epoch: 1, timestamp_ns: None, bytes: seq.to_le_bytes().to_vec(), evidence: None },
        );
        e
    };
    let mut bad_flags = entry(11);
    bad_flags[12] = 0x08;
    let journal = Journal::open(&arch, JournalOptions::default()).unwrap();
    for e in [header.encode(), entry(10), bad_flags, entry(11)[..15].to_vec(), entry(12)] {
        journal.write(&e).unwrap();
    }
    journal.close().unwrap();

    let reader = ArchiveReader::open(&arch).unwrap();
    assert_eq!(reader.header(), &header);
    let entries: Vec<_> = reader.entries(Position::Start).unwrap().map(Result::unwrap).collect();
    let got: Vec<_> = entries.iter().map(|e| (e.lsn, e.record.as_ref().map(|r| r.seq).map_err(Clone::clone))).collect();
    assert_eq!(
        got,
        vec![
            (2, Ok(10)),
            (3, Err(ArchiveDecodeError::UnknownFlags { flags: 8 })),
            (4, Err(ArchiveDecodeError::RecordTooShort { bytes: 15, record_bytes: 8 })),
            (5, Ok(12)),
        ]
    );
    match replaylog::archive::read_archive(&arch) {
        Err(ReplayLogError::Corrupt { reason, .. }) => {
            assert_eq!(
                reason,
                "entry 3 is not an archived record: record entry flags 0x08 has unknown bits (known: 0x07)"
            )
        }
        other => panic!("read_archive of a damaged archive: {other:?}"),
    }

    // A plain journal: not an archive (HeaderMismatch), nothing else.
    let plain = tmp.path().join("plain");
    let journal = Journal::open(&plain, JournalOptions::default()).unwrap();
    journal.write(b"hello").unwrap();
    journal.close().unwrap();
    assert!(matches!(ArchiveReader::open(&plain), Err(ReplayLogError::HeaderMismatch { .. })));

    // A header of another version: Corrupt, with the reason.
    let v2 = tmp.path().join("v2");
    let mut h = header.encode();
    h[8] = 2;
    let journal = Journal::open(&v2, JournalOptions::default()).unwrap();
    journal.write(&h).unwrap();
    journal.close().unwrap();
    match ArchiveReader::open(&v2) {
        Err(ReplayLogError::Corrupt { reason, .. }) => {
            assert_eq!(reason, "archive header entry (lsn 1): archive version 2, this build reads version 1")
        }
        other => panic!("archive of version 2: {other:?}"),
    }
}
