//! `replaylog::capture::Capture`: every kind of capture opens read-only into record streams of
//! one shape; a foreign path is a typed error and is left untouched.

use replaylog::archive::{Archiver, ArchiverOptions};
use replaylog::capture::Capture;
use replaylog::recorder::{Recorder, RecorderOptions};
use replaylog::{Clock, Journal, JournalOptions, Kind, ReplayLogError, RingLog, RingOptions};

#[replaylog::record]
#[derive(Clone, Copy)]
struct Rec {
    tick: u64,
    value: f64,
}

fn seqs(c: &Capture, lane: Option<&str>) -> Vec<u64> {
    c.records(lane).unwrap().map(|r| r.unwrap().seq).collect()
}

#[test]
fn every_kind_opens_into_streams_of_one_shape() {
    let dir = tempfile::tempdir().unwrap();
    // A ring that wrapped: its live window only.
    let ring = dir.path().join("r.ring");
    let mut log: RingLog<Rec> = RingLog::open_with(&ring, 8, RingOptions::default().layout_of::<Rec>()).unwrap();
    for t in 0..20 {
        log.append(&Rec { tick: t, value: t as f64 }).unwrap();
    }
    log.sync().unwrap();
    drop(log);
    let c = Capture::open(&ring).unwrap();
    assert_eq!((c.kind(), c.record_bytes(), c.lanes().len()), (&Kind::Ring, Some(16), 0));
    assert_eq!(seqs(&c, None), (12..20).collect::<Vec<_>>());
    assert_eq!(c.window(None).map(|w| (w.first, w.last)), Some((12, 19)));
    assert!(c.layout().is_some() && c.problems().is_empty());
    assert!(matches!(c.records(Some("x")), Err(ReplayLogError::InvalidOptions { .. })));

    // A recorder directory: one stream per lane, each record naming it, with timestamps.
    let rdir = dir.path().join("rec");
    let rec: Recorder<Rec> =
        Recorder::open(&rdir, RecorderOptions::default().capacity_slots(16).clock(Clock::Monotonic).layout_of::<Rec>())
            .unwrap();
    for (name, n) in [("b", 3), ("a", 5)] {
        let mut lane = rec.lane(name).unwrap();
        for t in 0..n {
            lane.append(&Rec { tick: t, value: 0.5 }).unwrap();
        }
        lane.sync().unwrap();
    }
    let c = Capture::open(&rdir).unwrap();
    assert_eq!((c.kind(), c.lanes()), (&Kind::RecorderDir, &["a".to_string(), "b".to_string()][..]));
    let a: Vec<_> = c.records(Some("a")).unwrap().map(Result::unwrap).collect();
    assert_eq!(a.len(), 5);
    assert!(a.iter().all(|r| r.lane.as_deref() == Some("a") && r.timestamp_ns.is_some()));
    assert!(matches!(c.records(None), Err(ReplayLogError::InvalidOptions { .. })), "name a lane");

    // An archive of both lanes: the same streams, from the journal.
    let arch = dir.path().join("arch");
    let archiver = Archiver::start_lanes(
        [("a", rdir.join("a.ring")), ("b", rdir.join("b.ring"))],
        &arch,
        ArchiverOptions::default(),
    )
    .unwrap();
    archiver.stop_lanes().unwrap();
    let c = Capture::open(&arch).unwrap();
    assert_eq!((c.kind(), c.lanes().len(), c.record_bytes()), (&Kind::Archive, 2, Some(16)));
    assert_eq!(seqs(&c, Some("b")), vec![0, 1, 2]);
    assert!(c.records(Some("a")).unwrap().all(|r| r.unwrap().lsn.is_some()));

    // A plain journal: its entries, seq = LSN, any size.
    let jdir = dir.path().join("plain");
    let j = Journal::open(&jdir, JournalOptions::default()).unwrap();
    for e in [&b"one"[..], b"two!", b""] {
        j.write(e).unwrap();
    }
    j.sync().unwrap();
    j.close().unwrap();
    drop(j);
    let c = Capture::open(&jdir).unwrap();
    assert!(c.is_plain_journal() && c.record_bytes().is_none());
    let recs: Vec<_> = c.records(None).unwrap().map(Result::unwrap).collect();
    assert_eq!(recs.iter().map(|r| (r.seq, r.bytes.len())).collect::<Vec<_>>(), vec![(1, 3), (2, 4), (3, 0)]);

    // Someone else's file: a typed error, byte for byte untouched.
    let foreign = dir.path().join("photo.jpg");
    std::fs::write(&foreign, b"\xff\xd8\xff\xe0 not ours").unwrap();
    match Capture::open(&foreign) {
        Err(ReplayLogError::HeaderMismatch { field: "kind", .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&foreign).unwrap(), b"\xff\xd8\xff\xe0 not ours");
}
