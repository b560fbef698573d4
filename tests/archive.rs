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

// ---- timestamps and lanes (issue 17) -----------------------------------------------------------

use replaylog::archive::{
    ArchiveDecodeError, ArchivedRecord, LaneStats, decode_archived, decode_entry, encode_record, encode_record_in_lane,
    read_archived,
};
use replaylog::{Clock, RawRecord, RawRing, ReplayLogError};

/// The bytes of a record entry exactly as the build before timestamps and lanes wrote them:
/// seq, epoch, flags (0 or 1), record, evidence. Written out here, not with the encoder.
fn first_build_entry(seq: u64, epoch: u32, record: &[u8], evidence: Option<(u16, u16, i64, &str)>) -> Vec<u8> {
    let mut e = Vec::new();
    e.extend_from_slice(&seq.to_le_bytes());
    e.extend_from_slice(&epoch.to_le_bytes());
    e.push(u8::from(evidence.is_some()));
    e.extend_from_slice(record);
    if let Some((kind, other, code, message)) = evidence {
        e.extend_from_slice(&kind.to_le_bytes());
        e.extend_from_slice(&other.to_le_bytes());
        e.extend_from_slice(&(message.len() as u32).to_le_bytes());
        e.extend_from_slice(&code.to_le_bytes());
        e.extend_from_slice(message.as_bytes());
    }
    e
}

#[test]
fn entries_round_trip_with_and_without_timestamp_lane_and_evidence() {
    let evidences = [None, Some(ReplayFailureEvidence::new(FailureKind::Other(42), -9, "deadline ü"))];
    let mut seen_lengths = std::collections::BTreeSet::new();
    for timestamp_ns in [None, Some(0), Some(1_700_000_000_123_456_789), Some(u64::MAX)] {
        for lane in [None, Some("a"), Some("io-loop_7"), Some(&*"Z".repeat(64))] {
            for evidence in &evidences {
                for bytes in [vec![], vec![0xEE; 24]] {
                    let r = RawRecord {
                        seq: 12_345,
                        epoch: 6,
                        timestamp_ns,
                        bytes: bytes.clone(),
                        evidence: evidence.clone(),
                    };
                    let mut e = Vec::new();
                    encode_record_in_lane(&mut e, &r, lane).unwrap();
                    let a = decode_archived(&e, bytes.len()).unwrap();
                    assert_eq!(a, ArchivedRecord { record: r.clone(), lane: lane.map(str::to_owned) });
                    // The lane-less API reads the same record and drops only the lane.
                    assert_eq!(decode_entry(&e, bytes.len()), Ok(r.clone()));
                    // Without a lane, encode_record writes the same bytes.
                    if lane.is_none() {
                        let mut plain = Vec::new();
                        encode_record(&mut plain, &r);
                        assert_eq!(plain, e);
                    }
                    // Every strict prefix is refused.
                    for cut in 0..e.len() {
                        assert!(decode_archived(&e[..cut], bytes.len()).is_err(), "prefix of {cut} bytes decodes");
                    }
                    seen_lengths.insert(e.len());
                }
            }
        }
    }
    assert!(seen_lengths.len() > 20, "the combinations should give many entry sizes: {seen_lengths:?}");
}

/// Entries (and a whole archive) written byte for byte as the previous build wrote them decode
/// exactly as they did: no timestamp, no lane, same record and evidence; re-encoding gives the
/// same bytes.
#[test]
fn entries_of_the_previous_build_decode_unchanged() {
    use replaylog::archive::ArchiveReader;
    use replaylog::{Journal, JournalOptions, Position};

    let plain = first_build_entry(5, 2, &5u64.to_le_bytes(), None);
    let with_ev = first_build_entry(6, 2, &6u64.to_le_bytes(), Some((3, 0, 7, "late")));
    let other_kind = first_build_entry(7, 3, &7u64.to_le_bytes(), Some((4, 77, -1, "")));
    let expect = [
        RawRecord { seq: 5, epoch: 2, timestamp_ns: None, bytes: 5u64.to_le_bytes().to_vec(), evidence: None },
        RawRecord {
            seq: 6,
            epoch: 2,
            timestamp_ns: None,
            bytes: 6u64.to_le_bytes().to_vec(),
            evidence: Some(ReplayFailureEvidence::new(FailureKind::Timeout, 7, "late")),
        },
        RawRecord {
            seq: 7,
            epoch: 3,
            timestamp_ns: None,
            bytes: 7u64.to_le_bytes().to_vec(),
            evidence: Some(ReplayFailureEvidence::new(FailureKind::Other(77), -1, "")),
        },
    ];
    for (bytes, want) in [&plain, &with_ev, &other_kind].into_iter().zip(&expect) {
        assert_eq!(decode_archived(bytes, 8), Ok(ArchivedRecord { record: want.clone(), lane: None }));
        let mut again = Vec::new();
        encode_record(&mut again, want);
        assert_eq!(&again, bytes, "an entry without timestamp and lane is not the previous build's bytes");
    }
    // The previous build's faults stay the same faults.
    assert_eq!(
        decode_archived(&plain[..15], 8),
        Err(ArchiveDecodeError::RecordTooShort { bytes: 15, record_bytes: 8 })
    );
    assert_eq!(
        decode_archived(&[plain.clone(), vec![0]].concat(), 8),
        Err(ArchiveDecodeError::TrailingBytes { bytes: 1 })
    );
    assert_eq!(
        decode_archived(&with_ev[..with_ev.len() - 1], 8),
        Err(ArchiveDecodeError::EvidenceLength { message_bytes: 4, present: 3 })
    );

    // A whole archive as the previous build left it, header bytes written out too.
    let tmp = scratch();
    let arch = tmp.path().join("old");
    let mut header = Vec::new();
    header.extend_from_slice(b"RPLYARCH");
    header.extend_from_slice(&1u32.to_le_bytes());
    header.extend_from_slice(&8u32.to_le_bytes());
    header.extend_from_slice(&99u64.to_le_bytes());
    header.extend_from_slice(&16u64.to_le_bytes());
    header.extend_from_slice(&0u32.to_le_bytes());
    let journal = Journal::open(&arch, JournalOptions::default()).unwrap();
    for e in [&header, &plain, &with_ev, &other_kind] {
        journal.write(e).unwrap();
    }
    journal.close().unwrap();
    let (h, records) = read_archived(&arch).unwrap();
    assert_eq!((h.record_bytes, h.schema_id, h.capacity, h.layout), (8, 99, 16, None));
    assert_eq!(records, expect.iter().map(|r| ArchivedRecord { record: r.clone(), lane: None }).collect::<Vec<_>>());
    let entries: Vec<_> =
        ArchiveReader::open(&arch).unwrap().entries(Position::Start).unwrap().map(Result::unwrap).collect();
    assert_eq!(entries.iter().map(|e| (e.lsn, e.lane.clone())).collect::<Vec<_>>(), [(2, None), (3, None), (4, None)]);
    assert_eq!(read_archive(&arch).unwrap().1, expect);
}

/// Every metadata fault through the public decoder, and through an archive read: the entry's
/// LSN and the precise reason.
#[test]
fn timestamp_and_lane_faults_are_reported_precisely() {
    use replaylog::archive::{ArchiveHeader, ArchiveReader};
    use replaylog::{Journal, JournalOptions, Position};

    let r = RawRecord { seq: 3, epoch: 1, timestamp_ns: Some(77), bytes: vec![1; 8], evidence: None };
    let mut good = Vec::new();
    encode_record_in_lane(&mut good, &r, Some("ctl")).unwrap();
    // 13 fixed, 8 timestamp, 1 + 3 lane, 8 record.
    assert_eq!(good.len(), 33);
    let patched = |at: usize, b: u8| {
        let mut v = good.clone();
        v[at] = b;
        v
    };
    let cases: Vec<(Vec<u8>, ArchiveDecodeError)> = vec![
        (good[..17].to_vec(), ArchiveDecodeError::TimestampTruncated { bytes: 17 }),
        (good[..21].to_vec(), ArchiveDecodeError::LaneTruncated { bytes: 21 }),
        (good[..23].to_vec(), ArchiveDecodeError::LaneTruncated { bytes: 23 }),
        (patched(21, 0), ArchiveDecodeError::LaneLength { name_bytes: 0 }),
        (patched(21, 200), ArchiveDecodeError::LaneLength { name_bytes: 200 }),
        (patched(23, b'.'), ArchiveDecodeError::LaneName { name: b"c.l".to_vec() }),
        (good[..30].to_vec(), ArchiveDecodeError::RecordTruncated { bytes: 30, record_offset: 25, record_bytes: 8 }),
        ([good.clone(), vec![9, 9]].concat(), ArchiveDecodeError::TrailingBytes { bytes: 2 }),
        (patched(12, 0x16), ArchiveDecodeError::UnknownFlags { flags: 0x16 }),
    ];
    for (bytes, why) in &cases {
        assert_eq!(decode_archived(bytes, 8).as_ref(), Err(why), "{bytes:?}");
    }
    // The encoder refuses what the decoder refuses, and leaves `out` as it was.
    let mut out = vec![0xAA];
    for (name, why) in [
        ("", ArchiveDecodeError::LaneLength { name_bytes: 0 }),
        ("a b", ArchiveDecodeError::LaneName { name: b"a b".to_vec() }),
        ("..", ArchiveDecodeError::LaneName { name: b"..".to_vec() }),
    ] {
        assert_eq!(encode_record_in_lane(&mut out, &r, Some(name)), Err(why));
        assert_eq!(out, [0xAA]);
    }

    let tmp = scratch();
    let arch = tmp.path().join("archive");
    let journal = Journal::open(&arch, JournalOptions::default()).unwrap();
    journal.write(&ArchiveHeader { record_bytes: 8, schema_id: 0, capacity: 4, layout: None }.encode()).unwrap();
    journal.write(&good).unwrap();
    for (bytes, _) in &cases {
        journal.write(bytes).unwrap();
    }
    journal.close().unwrap();
    let reader = ArchiveReader::open(&arch).unwrap();
    let got: Vec<_> = reader
        .entries(Position::Start)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.lsn, e.lane, e.record.map(|r| r.timestamp_ns))
        })
        .collect();
    let mut want = vec![(2, Some("ctl".to_string()), Ok(Some(77)))];
    want.extend(cases.iter().enumerate().map(|(i, (_, why))| (3 + i as u64, None, Err(why.clone()))));
    assert_eq!(got, want);
    match read_archived(&arch) {
        Err(ReplayLogError::Corrupt { reason, .. }) => assert_eq!(
            reason,
            "entry 3 is not an archived record: record entry of 17 bytes ends inside its 8-byte timestamp (flag 0x02)"
        ),
        other => panic!("read_archived of a damaged archive: {other:?}"),
    }
}

/// An archive of a Monotonic ring keeps every record's timestamp: exactly the ring's own.
#[test]
fn archive_of_a_monotonic_ring_keeps_every_timestamp() {
    let tmp = scratch();
    let ring = tmp.path().join("m.ring");
    let arch = tmp.path().join("archive");
    let mut log: RingLog<Rec> =
        RingLog::open_with(&ring, 4096, RingOptions::default().clock(Clock::Monotonic)).unwrap();
    for s in 0..3000 {
        if s % 500 == 3 {
            log.append_with_failure(&Rec::new(0, s), &ReplayFailureEvidence::new(FailureKind::Runtime, 1, "x"))
                .unwrap();
        } else {
            log.append(&Rec::new(0, s)).unwrap();
        }
    }
    let st = Archiver::start(&ring, &arch, ArchiverOptions::default()).unwrap().stop().unwrap();
    assert_eq!((st.archived, st.missed), (3000, 0));
    let in_ring = RawRing::open(&ring).unwrap().records().unwrap();
    assert_eq!(in_ring.len(), 3000);
    assert!(in_ring.iter().all(|r| r.timestamp_ns.is_some()), "a Monotonic ring's records carry timestamps");
    let (_, archived) = read_archived(&arch).unwrap();
    assert!(archived.iter().all(|a| a.lane.is_none()));
    let archived: Vec<RawRecord> = archived.into_iter().map(|a| a.record).collect();
    assert_eq!(archived, in_ring, "the archive is not the ring's records with their timestamps");
    // A ring without a clock archives records without timestamps.
    let plain = tmp.path().join("p.ring");
    let mut log: RingLog<Rec> = RingLog::open(&plain, 16).unwrap();
    log.append(&Rec::new(0, 0)).unwrap();
    let arch2 = tmp.path().join("archive2");
    Archiver::start(&plain, &arch2, ArchiverOptions::default()).unwrap().stop().unwrap();
    assert_eq!(read_archive(&arch2).unwrap().1[0].timestamp_ns, None);
}

fn lane_seqs(records: &[ArchivedRecord], lane: &str) -> Vec<u64> {
    let mut seqs: Vec<u64> = Vec::new();
    for a in records.iter().filter(|a| a.lane.as_deref() == Some(lane)) {
        if let Some(&last) = seqs.last() {
            assert!(a.record.seq > last, "lane {lane}: seq {} after {last}", a.record.seq);
        }
        seqs.push(a.record.seq);
    }
    seqs
}

/// Several rings as lanes into one archive: every record of every lane, each entry naming its
/// lane, timestamps kept; a restart resumes each lane after its own last entry and reports
/// each lane's gap; a lane can be added while the archiver runs.
#[test]
fn lanes_share_one_archive_and_resume_each_after_its_own_last_entry() {
    let tmp = scratch();
    let arch = tmp.path().join("archive");
    let opts = RingOptions::default().clock(Clock::Monotonic).layout_of::<Rec>();
    let path = |n: &str| tmp.path().join(format!("{n}.ring"));
    let mut a: RingLog<Rec> = RingLog::open_with(path("a"), 100, opts.clone()).unwrap();
    let mut b: RingLog<Rec> = RingLog::open_with(path("b"), 50, opts.clone()).unwrap();
    for s in 0..80 {
        a.append(&Rec::new(1, s)).unwrap();
    }
    for s in 0..30 {
        b.append(&Rec::new(2, s)).unwrap();
    }
    let lanes = [("a", path("a")), ("b", path("b"))];
    let st = Archiver::start_lanes(lanes.clone(), &arch, ArchiverOptions::default()).unwrap().stop_lanes().unwrap();
    let summary = |st: &[LaneStats]| {
        st.iter()
            .map(|l| (l.lane.clone().unwrap(), l.stats.archived, l.stats.missed, l.stats.resumed_at, l.stats.next_seq))
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(&st), [("a".into(), 80, 0, 0, 80), ("b".into(), 30, 0, 0, 30)]);
    assert_eq!(st[0].ring, path("a"));

    // Lane a moves within its lap, lane b laps itself twice while no archiver runs.
    for s in 80..150 {
        a.append(&Rec::new(1, s)).unwrap();
    }
    for s in 30..200 {
        b.append(&Rec::new(2, s)).unwrap();
    }
    let archiver = Archiver::start_lanes(lanes.clone(), &arch, ArchiverOptions::default()).unwrap();
    // A third lane, created after the archiver started, is added while it runs.
    let mut c: RingLog<Rec> = RingLog::open_with(path("c"), 10, opts.clone()).unwrap();
    for s in 0..5 {
        c.append(&Rec::new(3, s)).unwrap();
    }
    archiver.add_lane("c", path("c")).unwrap();
    // Refused: a taken name, a bad name, a ring of another shape; nothing changes.
    for (name, ring) in [("a", path("c")), ("../c", path("c")), ("", path("c"))] {
        assert!(
            matches!(archiver.add_lane(name, ring), Err(ReplayLogError::InvalidOptions { option: "lane", .. })),
            "lane {name:?} added"
        );
    }
    let other = tmp.path().join("other.ring");
    drop(RingLog::<[u8; 16]>::open(&other, 10).unwrap());
    assert!(matches!(archiver.add_lane("d", &other), Err(ReplayLogError::HeaderMismatch { .. })));
    let st = archiver.stop_lanes().unwrap();
    assert_eq!(summary(&st), [("a".into(), 70, 0, 80, 150), ("b".into(), 50, 120, 30, 200), ("c".into(), 5, 0, 0, 5)]);
    assert_eq!(st[1].stats.gaps, vec![Gap { from: 30, to: 150 }]);

    let (header, records) = read_archived(&arch).unwrap();
    assert_eq!(header.capacity, 100, "the header describes the first lane archived");
    assert_eq!(header.layout.unwrap().name, "Rec");
    assert_eq!(lane_seqs(&records, "a"), (0..150).collect::<Vec<_>>());
    assert_eq!(lane_seqs(&records, "b"), (0..30).chain(150..200).collect::<Vec<_>>());
    assert_eq!(lane_seqs(&records, "c"), (0..5).collect::<Vec<_>>());
    assert_eq!(records.len(), 150 + 80 + 5);
    for r in &records {
        let rec = Rec::read_from_bytes(&r.record.bytes).unwrap();
        let lineage = match r.lane.as_deref() {
            Some("a") => 1,
            Some("b") => 2,
            Some("c") => 3,
            other => panic!("entry of lane {other:?}"),
        };
        assert_eq!(rec, Rec::new(lineage, r.record.seq), "lane {:?} seq {}", r.lane, r.record.seq);
    }
    // Each lane's entries are its ring's records, timestamps included.
    for (lane, ring) in [("a", path("a")), ("b", path("b")), ("c", path("c"))] {
        let in_ring = RawRing::open(&ring).unwrap().records().unwrap();
        let tail: Vec<&RawRecord> =
            records.iter().filter(|r| r.lane.as_deref() == Some(lane)).map(|r| &r.record).collect();
        assert!(in_ring.iter().all(|r| r.timestamp_ns.is_some()));
        assert_eq!(tail[tail.len() - in_ring.len()..], in_ring.iter().collect::<Vec<_>>()[..], "lane {lane}");
    }

    // Nothing new: a restart of all three archives nothing, resuming each at its end.
    let st = Archiver::start_lanes([("c", path("c")), ("a", path("a")), ("b", path("b"))], &arch, Default::default())
        .unwrap()
        .stop_lanes()
        .unwrap();
    assert_eq!(summary(&st), [("c".into(), 0, 0, 5, 5), ("a".into(), 0, 0, 150, 150), ("b".into(), 0, 0, 200, 200)]);
    // The single-ring archiver on this archive resumes its own (lane-less) records: none yet.
    let st = Archiver::start(path("a"), &arch, ArchiverOptions::default()).unwrap().stop().unwrap();
    assert_eq!((st.archived, st.resumed_at), (100, 50), "lane-less ring a starts at its oldest record");
    let st = Archiver::start(path("a"), &arch, ArchiverOptions::default()).unwrap().stop().unwrap();
    assert_eq!((st.archived, st.resumed_at), (0, 150));
    assert_eq!(read_archived(&arch).unwrap().1.iter().filter(|r| r.lane.is_none()).count(), 100);
}

#[test]
fn lanes_are_checked_before_anything_is_written() {
    let tmp = scratch();
    let arch = tmp.path().join("archive");
    let a = tmp.path().join("a.ring");
    let other = tmp.path().join("o.ring");
    drop(RingLog::<Rec>::open(&a, 10).unwrap());
    drop(RingLog::<[u8; 16]>::open(&other, 10).unwrap());
    let start = |lanes: Vec<(&str, &std::path::Path)>| Archiver::start_lanes(lanes, &arch, ArchiverOptions::default());
    let invalid = |r: replaylog::Result<Archiver>| match r {
        Err(ReplayLogError::InvalidOptions { reason, .. }) => reason,
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("started"),
    };
    assert_eq!(invalid(start(vec![])), "at least one lane is needed to archive");
    assert_eq!(invalid(start(vec![("a", &a), ("a", &a)])), "lane \"a\" is given twice");
    assert_eq!(invalid(start(vec![("a/b", &a)])), "lane name \"a/b\" has a byte outside [A-Za-z0-9_-]");
    let long = "x".repeat(65);
    assert_eq!(invalid(start(vec![(&long, &a)])), "lane name of 65 bytes, a lane name has 1 to 64 bytes");
    match start(vec![("a", &a), ("o", &other)]) {
        Err(ReplayLogError::HeaderMismatch { path, .. }) => assert_eq!(path, other),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("lanes of two shapes started"),
    }
    assert!(!arch.exists(), "a refused start created the archive");
    // An archiver of one ring cannot take lanes.
    let single = Archiver::start(&a, &arch, ArchiverOptions::default()).unwrap();
    assert!(matches!(single.add_lane("b", &a), Err(ReplayLogError::InvalidOptions { .. })));
    single.stop().unwrap();
    // An existing archive of another shape is refused, naming the ring.
    match Archiver::start_lanes([("o", &other)], &arch, ArchiverOptions::default()) {
        Err(ReplayLogError::HeaderMismatch { path, .. }) => assert_eq!(path, other),
        Err(e) => panic!("{e}"),
        Ok(_) => panic!("a ring of another shape joined the archive"),
    }
}
