//! Journal behaviour: roundtrips in every sync mode, rotation, retention, snapshots, reading
//! from an LSN or offset, validate, repair, close, locking and bad input.

mod common;

use std::path::Path;
use std::sync::Arc;

use common::*;
use replaylog::journal::{WATERMARK_EVERY_ROUNDS_DEFAULT, WATERMARK_EVERY_ROUNDS_MAX, repair, replay, validate};
use replaylog::lowlevel::storage::sim::SimStorage;
use replaylog::{
    Ack, EntryKind, Journal, JournalOptions, Lsn, Position, Problem, ReadOnlyJournal, ReplayLogError, SyncMode,
};

fn entry(i: u64) -> Vec<u8> {
    // Sizes from 0 to ~9 KiB; every 7th entry is large and compressible.
    let len = if i % 7 == 3 { 9000 } else { (i * 37 % 300) as usize };
    let mut v: Vec<u8> = (0..len).map(|j| (i as usize * 31 + j / 64) as u8).collect();
    if i % 7 != 3 {
        let mut r = Rng::new(i);
        r.fill(&mut v);
    }
    v
}

fn all_items(dir: &Path) -> Vec<(u64, EntryKind, Vec<u8>)> {
    let ro = ReadOnlyJournal::open(dir).unwrap();
    ro.iter_from(Position::Start).unwrap().map(|i| i.unwrap()).map(|i| (i.lsn, i.kind, i.data)).collect()
}

fn dir_image(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            v.push((e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()));
        }
    }
    v.sort();
    v
}

#[test]
fn roundtrip_in_every_sync_mode() {
    for mode in [SyncMode::Async, SyncMode::Sync, SyncMode::Interval(10)] {
        let tmp = scratch();
        let dir = tmp.path().join("j");
        let j = Journal::open(&dir, JournalOptions::default().sync(mode)).unwrap();
        for i in 0..200 {
            assert_eq!(j.write(&entry(i)).unwrap(), Lsn(i + 1));
        }
        if mode == SyncMode::Sync {
            assert_eq!(j.durable_lsn().unwrap(), Lsn(201));
        }
        j.close().unwrap();
        let items = all_items(&dir);
        assert_eq!(items.len(), 200, "{mode:?}");
        for (i, (lsn, kind, data)) in items.iter().enumerate() {
            assert_eq!((*lsn, *kind), (i as u64 + 1, EntryKind::Entry));
            assert_eq!(data, &entry(i as u64), "{mode:?} lsn {lsn}");
        }
        let v = validate(&dir).unwrap();
        assert_eq!(v.chunks, 200);
        assert_eq!(v.problem, None);
        // Reopen continues the LSN sequence.
        let j = Journal::open(&dir, JournalOptions::default().sync(mode)).unwrap();
        assert_eq!(j.write(b"more").unwrap(), Lsn(201));
        j.close().unwrap();
    }
}

#[test]
fn large_entries_are_compressed_and_roundtrip() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let j = Journal::open(&dir, JournalOptions::default()).unwrap();
    let big = vec![7u8; 1 << 20];
    j.write(&big).unwrap();
    j.close().unwrap();
    // Frame bytes, not file length: the segment file is preallocated ahead of its frames.
    let seg_bytes = validate(&dir).unwrap().valid_bytes;
    assert!(seg_bytes < 64 * 1024, "1 MiB of sevens should compress, segment holds {seg_bytes} bytes");
    assert_eq!(all_items(&dir)[0].2, big);
}

#[test]
fn rotation_names_and_replay_across_segments() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let opts = || JournalOptions::default().sync(SyncMode::Async).segment_bytes_max(64 * 1024).compress_min_bytes(None);
    let j = Journal::open(&dir, opts()).unwrap();
    for i in 0..400 {
        j.write(&entry(i)).unwrap();
    }
    j.close().unwrap();
    let mut names: Vec<String> =
        std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    assert!(names.len() >= 5, "{names:?}");
    for (k, n) in names.iter().enumerate() {
        assert_eq!(n, &format!("{k:020}.seg"));
    }
    assert_eq!(all_items(&dir).len(), 400);
    let ro = ReadOnlyJournal::open(&dir).unwrap();
    let segs = ro.segments();
    assert!(segs[..segs.len() - 1].iter().all(|s| s.sealed));
    assert_eq!(segs.iter().map(|s| s.frames).sum::<u64>(), 400);
}

#[test]
fn snapshot_then_replay_starts_from_the_newest_snapshot() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let j = Journal::open(&dir, JournalOptions::default().sync(SyncMode::Async)).unwrap();
    for i in 0..10 {
        j.write(&entry(i)).unwrap();
    }
    j.snapshot(b"state-1").unwrap();
    j.write(b"a").unwrap();
    let s2 = j.snapshot(b"state-2").unwrap();
    for i in 0..5 {
        j.write(&entry(100 + i)).unwrap();
    }
    j.close().unwrap();
    let mut seen = Vec::new();
    let n = replay(&dir, |item| seen.push((item.lsn, item.kind, item.data.clone()))).unwrap();
    assert_eq!(n, 6);
    assert_eq!(seen[0], (s2.0, EntryKind::Snapshot, b"state-2".to_vec()));
    for (k, (lsn, kind, data)) in seen[1..].iter().enumerate() {
        assert_eq!((*lsn, *kind), (s2.0 + 1 + k as u64, EntryKind::Entry));
        assert_eq!(data, &entry(100 + k as u64));
    }
    assert_eq!(ReadOnlyJournal::open(&dir).unwrap().newest_snapshot(), Some(s2.0));
}

#[test]
fn retention_keeps_what_the_newest_snapshot_needs() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let opts = || JournalOptions::default().sync(SyncMode::Async).segments_max(Some(2));
    let j = Journal::open(&dir, opts()).unwrap();
    for _ in 0..5 {
        j.write(b"x").unwrap();
        j.roll().unwrap();
    }
    // No snapshot yet: nothing may be deleted, replay needs everything.
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 6);
    j.write(b"before").unwrap();
    let snap = j.snapshot(b"S").unwrap();
    j.write(b"after").unwrap();
    j.roll().unwrap();
    j.write(b"later").unwrap();
    j.close().unwrap();
    let segs = ReadOnlyJournal::open(&dir).unwrap().segments();
    assert!(segs.iter().any(|s| s.has_snapshot), "the snapshot's segment must survive");
    assert!(segs.len() <= 3, "{} segments left", segs.len());
    let mut seen = Vec::new();
    replay(&dir, |i| seen.push(i.data.clone())).unwrap();
    assert_eq!(seen, vec![b"S".to_vec(), b"after".to_vec(), b"later".to_vec()]);
    assert_eq!(ReadOnlyJournal::open(&dir).unwrap().newest_snapshot(), Some(snap.0));
}

#[test]
fn read_from_an_lsn_or_a_position() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let j = Journal::open(&dir, JournalOptions::default().sync(SyncMode::Async).segment_bytes_max(64 * 1024)).unwrap();
    for i in 0..300 {
        j.write(&entry(i)).unwrap();
    }
    j.close().unwrap();
    let ro = ReadOnlyJournal::open(&dir).unwrap();
    let from: Vec<_> = ro.iter_from(Position::Lsn(150)).unwrap().map(|i| i.unwrap()).collect();
    assert_eq!(from.len(), 151);
    assert_eq!(from[0].lsn, 150);
    assert_eq!(from[0].data, entry(149));
    let pos = Position::At { segment: from[10].segment, offset: from[10].offset };
    let at: Vec<_> = ro.iter_from(pos).unwrap().map(|i| i.unwrap().lsn).collect();
    assert_eq!(at[0], 160);
    assert_eq!(at.len(), 141);
    let bad = Position::At { segment: from[10].segment, offset: from[10].offset + 1 };
    assert!(matches!(ro.iter_from(bad).unwrap().next(), Some(Err(ReplayLogError::InvalidOptions { .. }))));
    assert_eq!(ro.iter_from(Position::Lsn(10_000)).unwrap().count(), 0);
}

#[test]
fn close_makes_the_handle_unusable_and_frees_the_directory() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let j = Journal::open(&dir, JournalOptions::default()).unwrap();
    j.write(b"a").unwrap();
    assert!(matches!(Journal::open(&dir, JournalOptions::default()), Err(ReplayLogError::Locked { .. })));
    j.close().unwrap();
    for r in [j.write(b"b").map(drop), j.sync(), j.roll(), j.close(), j.snapshot(b"s").map(drop)] {
        assert!(matches!(r, Err(ReplayLogError::NotOpen { .. })), "{r:?}");
    }
    // Reopen at once, while the closed handle still exists.
    let j2 = Journal::open(&dir, JournalOptions::default()).unwrap();
    assert_eq!(j2.write(b"b").unwrap(), Lsn(2));
    drop(j);
    j2.close().unwrap();
}

#[test]
fn foreign_paths_and_entries_are_refused_untouched() {
    let tmp = scratch();
    // A file where the directory should be.
    let file = tmp.path().join("file");
    std::fs::write(&file, b"not a journal").unwrap();
    let before = image(&file);
    assert!(matches!(Journal::open(&file, JournalOptions::default()), Err(ReplayLogError::HeaderMismatch { .. })));
    assert!(matches!(validate(&file), Err(ReplayLogError::HeaderMismatch { .. })));
    assert_eq!(image(&file), before);
    // A directory with a stranger in it.
    let dir = tmp.path().join("j");
    Journal::open(&dir, JournalOptions::default()).unwrap().close().unwrap();
    std::fs::write(dir.join("notes.txt"), b"hello").unwrap();
    let before = dir_image(&dir);
    let err = Journal::open(&dir, JournalOptions::default()).unwrap_err();
    assert!(matches!(err, ReplayLogError::HeaderMismatch { field: "directory entry", .. }), "{err}");
    assert_eq!(dir_image(&dir), before);
    std::fs::remove_file(dir.join("notes.txt")).unwrap();
    // A segment-named file that is a ring (or anything else not ours) is refused, untouched.
    let ring = tmp.path().join("r.ring");
    drop(replaylog::RingLog::<Rec>::open(&ring, 4).unwrap());
    let fake = dir.join(format!("{:020}.seg", 1));
    std::fs::copy(&ring, &fake).unwrap();
    let before = dir_image(&dir);
    let err = Journal::open(&dir, JournalOptions::default()).unwrap_err();
    assert!(matches!(err, ReplayLogError::HeaderMismatch { field: "magic", .. }), "{err}");
    assert!(matches!(validate(&dir), Err(ReplayLogError::HeaderMismatch { .. })));
    assert_eq!(dir_image(&dir), before);
    std::fs::remove_file(&fake).unwrap();
    // Segments are renamed into place only once their header is durable, so a segment-named
    // file without our header — a short text file, an empty file, a zeroed one — was never
    // ours: refused by open, validate and repair alike, never moved or cut.
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("a 21-byte text file", b"not a journal segment".to_vec(), "\"not a jo\" (a file of 21 bytes)"),
        ("0 bytes", Vec::new(), "an empty file"),
        ("zeros", vec![0u8; 4096], "(a file of 4096 bytes)"),
    ];
    for (what, content, found) in cases {
        std::fs::write(&fake, &content).unwrap();
        let before = dir_image(&dir);
        let err = Journal::open(&dir, JournalOptions::default()).unwrap_err();
        match &err {
            ReplayLogError::HeaderMismatch { path, field: "magic", found: f, .. } => {
                assert_eq!(path, &fake, "{what}");
                assert!(f.ends_with(found), "{what}: found {f:?}");
            }
            other => panic!("{what}: expected HeaderMismatch on the magic, got {other:?}"),
        }
        assert!(matches!(validate(&dir), Err(ReplayLogError::HeaderMismatch { field: "magic", .. })), "{what}");
        assert!(matches!(repair(&dir), Err(ReplayLogError::HeaderMismatch { .. })), "{what}");
        assert_eq!(dir_image(&dir), before, "{what}: untouched");
        assert!(!dir.join("backup").exists(), "{what}: nothing moved to backup/");
    }
    std::fs::remove_file(&fake).unwrap();
    // A segment of ours zeroed after its header is damage to acknowledged data: Corrupt.
    let seg0 = dir.join(format!("{:020}.seg", 0));
    let original = std::fs::read(&seg0).unwrap();
    let mut zeroed = original.clone();
    zeroed[64..].fill(0);
    std::fs::write(&seg0, &zeroed).unwrap();
    let before = dir_image(&dir);
    let err = Journal::open(&dir, JournalOptions::default()).unwrap_err();
    assert!(matches!(err, ReplayLogError::Corrupt { .. }), "{err}");
    assert_eq!(dir_image(&dir), before);
    std::fs::write(&seg0, &original).unwrap();
    // The leftover of an interrupted creation (zeroed or garbage) is tail: moved to backup/.
    let leftover = dir.join(format!("{:020}.seg.tmp", 1));
    std::fs::write(&leftover, vec![0xEE; 1000]).unwrap();
    let abs = JournalOptions::default().recovery(replaylog::Recovery::Absolute);
    assert!(matches!(Journal::open(&dir, abs), Err(ReplayLogError::BadTail { .. })));
    let j = Journal::open(&dir, JournalOptions::default()).unwrap();
    assert_eq!(j.recovery().unwrap().moved_segments, vec![leftover.clone()]);
    j.close().unwrap();
    assert!(!leftover.exists());
    assert_eq!(std::fs::read_dir(dir.join("backup")).unwrap().count(), 1);
    // A ring opened as a journal directory, and a journal segment opened as a ring.
    assert!(matches!(Journal::open(&ring, JournalOptions::default()), Err(ReplayLogError::HeaderMismatch { .. })));
    let seg = dir.join(format!("{:020}.seg", 0));
    let before = image(&seg);
    assert!(matches!(replaylog::RingLog::<Rec>::open(&seg, 4), Err(ReplayLogError::HeaderMismatch { .. })));
    assert_eq!(image(&seg), before);
}

/// `bytes` with `garbage` written at `at` (over the zero-filled preallocated tail, or past the
/// end): what a torn write after the last frame leaves.
fn torn(bytes: &[u8], at: usize, garbage: &[u8]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    if v.len() < at + garbage.len() {
        v.resize(at + garbage.len(), 0);
    }
    v[at..at + garbage.len()].copy_from_slice(garbage);
    v
}

/// The segment files of the journal in `dir`, oldest first.
fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut segs: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    segs.sort();
    segs
}

/// End of the valid frames of one segment file (its file is preallocated beyond).
fn frames_end(seg: &Path) -> usize {
    validate(seg).unwrap().valid_bytes as usize
}

fn journal_with_segments(dir: &Path) {
    let j = Journal::open(dir, JournalOptions::default().sync(SyncMode::Async)).unwrap();
    for i in 0..20 {
        j.write(&entry(i)).unwrap();
    }
    j.roll().unwrap();
    for i in 20..40 {
        j.write(&entry(i)).unwrap();
    }
    j.close().unwrap();
}

#[test]
fn validate_reports_torn_corrupt_and_truncated_files() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    journal_with_segments(&dir);
    let good = validate(&dir).unwrap();
    assert_eq!((good.chunks, good.problem.clone()), (40, None));
    let seg0 = dir.join(format!("{:020}.seg", 0));
    let seg1 = dir.join(format!("{:020}.seg", 1));
    // Torn tail: garbage after the last frame of the last segment (after its watermark).
    let pristine1 = std::fs::read(&seg1).unwrap();
    let end1 = frames_end(&seg1);
    let torn1 = torn(&pristine1, end1, &[0xAB; 100]);
    std::fs::write(&seg1, &torn1).unwrap();
    let v = validate(&dir).unwrap();
    assert_eq!(v.chunks, 40);
    assert_eq!(v.problem, Some(Problem::BadTail { segment: 1, valid_bytes: end1 as u64 }));
    assert!(matches!(replay(&dir, |_| {}), Err(ReplayLogError::BadTail { segment: 1, .. })));
    assert_eq!(std::fs::read(&seg1).unwrap(), torn1, "validate and replay change nothing");
    std::fs::write(&seg1, &pristine1).unwrap();
    // Corrupt: a flipped byte inside the sealed segment.
    let pristine0 = std::fs::read(&seg0).unwrap();
    let mut flipped = pristine0.clone();
    flipped[4096 + 4] ^= 0x40; // the first frame's length
    std::fs::write(&seg0, &flipped).unwrap();
    let v = validate(&dir).unwrap();
    assert!(matches!(v.problem, Some(Problem::Corrupt { segment: 0, offset: 4096, .. })), "{v:?}");
    assert_eq!(v.chunks, 0);
    std::fs::write(&seg0, &pristine0).unwrap();
    // Truncated below the watermark.
    std::fs::write(&seg1, &pristine1[..end1 - 10]).unwrap();
    let v = validate(&dir).unwrap();
    assert!(matches!(v.problem, Some(Problem::Corrupt { segment: 1, .. })), "{v:?}");
    // A single segment file can be validated too.
    let v = validate(&seg0).unwrap();
    assert_eq!((v.chunks, v.problem), (20, None));
}

#[test]
fn corrupt_acknowledged_data_refuses_open_and_repair_keeps_a_backup() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    journal_with_segments(&dir);
    let seg1 = dir.join(format!("{:020}.seg", 1));
    let mut bytes = std::fs::read(&seg1).unwrap();
    // Find the 6th frame of segment 1 and flip a byte of its body.
    let ro = ReadOnlyJournal::open(&dir).unwrap();
    let sixth = ro.iter_from(Position::Lsn(26)).unwrap().next().unwrap().unwrap();
    bytes[sixth.offset as usize + 24] ^= 1;
    std::fs::write(&seg1, &bytes).unwrap();
    let before = dir_image(&dir);
    let err = Journal::open(&dir, JournalOptions::default()).unwrap_err();
    match err {
        ReplayLogError::Corrupt { location: replaylog::Location::Segment { segment: 1, offset }, .. } => {
            assert_eq!(offset, sixth.offset)
        }
        other => panic!("expected Corrupt in segment 1, got {other}"),
    }
    assert_eq!(dir_image(&dir), before, "a refused open changes nothing");
    let report = repair(&dir).unwrap().expect("something to repair");
    assert_eq!(report.segment, Some(1));
    assert_eq!(report.valid_bytes, sixth.offset);
    // Everything from the damage to the last non-zero byte (the rest is preallocated zeros).
    let used = bytes.iter().rposition(|&b| b != 0).unwrap() + 1;
    assert_eq!(report.cut_bytes, (used - sixth.offset as usize) as u64);
    let backup = std::fs::read(&report.backups[0]).unwrap();
    assert_eq!(backup, bytes[sixth.offset as usize..used]);
    let items = all_items(&dir);
    assert_eq!(items.len(), 25);
    assert_eq!(validate(&dir).unwrap().problem, None);
    let j = Journal::open(&dir, JournalOptions::default()).unwrap();
    assert_eq!(j.write(b"next").unwrap(), Lsn(26));
    j.close().unwrap();
    assert_eq!(repair(&dir).unwrap(), None);
}

#[test]
fn absolute_recovery_refuses_a_torn_tail_tolerate_cuts_it_with_a_backup() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    journal_with_segments(&dir);
    let seg1 = dir.join(format!("{:020}.seg", 1));
    let pristine = std::fs::read(&seg1).unwrap();
    let end = frames_end(&seg1);
    let torn = torn(&pristine, end, &[0x11; 300]);
    std::fs::write(&seg1, &torn).unwrap();
    let abs = JournalOptions::default().recovery(replaylog::Recovery::Absolute);
    assert!(matches!(Journal::open(&dir, abs), Err(ReplayLogError::BadTail { segment: 1, .. })));
    assert_eq!(std::fs::read(&seg1).unwrap(), torn);
    let j = Journal::open(&dir, JournalOptions::default()).unwrap();
    let rep = j.recovery().cloned().expect("a recovery report");
    assert_eq!((rep.segment, rep.valid_bytes, rep.cut_bytes), (Some(1), end as u64, 300));
    assert_eq!(std::fs::read(&rep.backups[0]).unwrap(), vec![0x11; 300]);
    j.close().unwrap();
    // Back to the frames it had; the space after them is preallocated zeros again.
    let after = std::fs::read(&seg1).unwrap();
    assert!(after[..end] == pristine[..end], "the kept frames changed");
    assert!(after[end..].iter().all(|&b| b == 0), "the cut tail is not zeros");
    assert_eq!(all_items(&dir).len(), 40);
}

#[test]
fn group_commit_shares_fdatasyncs_between_writer_threads() {
    let sim = SimStorage::new();
    let storage: Arc<dyn replaylog::lowlevel::storage::Storage> = Arc::new(sim.clone());
    let opts = JournalOptions::default().sync(SyncMode::Sync).storage(storage.clone());
    let j = Arc::new(Journal::open("/j", opts.clone()).unwrap());
    let before = sim.syncs();
    let started = std::time::Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let j = j.clone();
            std::thread::spawn(move || {
                let mut lsns = Vec::new();
                for i in 0..250u64 {
                    let data = (t * 1000 + i).to_le_bytes();
                    lsns.push((j.write(&data).unwrap(), data));
                }
                lsns
            })
        })
        .collect();
    let mut all: Vec<(Lsn, [u8; 8])> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let syncs = sim.syncs() - before;
    all.sort();
    assert_eq!(all.len(), 1000);
    for (k, (lsn, _)) in all.iter().enumerate() {
        assert_eq!(*lsn, Lsn(k as u64 + 1));
    }
    // Every acknowledged write is durable: a power cut right now loses none of them.
    let cut = sim.power_cut(7);
    let ro = ReadOnlyJournal::open_with(Arc::new(cut), "/j").unwrap();
    let items: Vec<_> = ro.iter_from(Position::Start).unwrap().map(|i| i.unwrap()).collect();
    assert_eq!(items.len(), 1000);
    for ((lsn, data), item) in all.iter().zip(&items) {
        assert_eq!((lsn.0, data.as_slice()), (item.lsn, item.data.as_slice()));
    }
    // At most one fdatasync per commit (default Ack::DataSynced), plus the quiet watermark's
    // rounds (at most one per quiet time of 5 ms); on the instant simulated disk there is little
    // to share, so this only bounds it.
    let quiet_rounds_max = started.elapsed().as_millis() as u64 / 5 + 1;
    println!("group commit: 1000 Sync writes from 4 threads took {syncs} fdatasyncs");
    assert!(syncs <= 1000 + quiet_rounds_max, "{syncs} fdatasyncs");
    Arc::into_inner(j).unwrap().close().unwrap();
}

/// The exact group-commit interleaving, built with a gate on fdatasync instead of timing: a
/// leader is inside its fdatasync while three more writers append; asserts that nobody is
/// acknowledged before the gate opens and that every writer returns its own LSN after it.
/// Returns the journal and the fdatasyncs its writes took.
fn leader_inside_fdatasync_three_followers(sim: &SimStorage, opts: JournalOptions, dir: &str) -> (Journal, u64) {
    let j = Arc::new(Journal::open(dir, opts.storage(Arc::new(sim.clone()))).unwrap());
    let base = sim.syncs();
    sim.hold_syncs();
    let spawn = |data: &'static [u8]| {
        let j = j.clone();
        std::thread::spawn(move || j.write(data).unwrap())
    };
    let leader = spawn(b"leader");
    while sim.syncs_waiting() == 0 {
        std::hint::spin_loop();
    }
    let followers: Vec<_> = [b"f1".as_slice(), b"f2", b"f3"].into_iter().map(spawn).collect();
    while j.next_lsn().unwrap() != Lsn(5) {
        std::hint::spin_loop();
    }
    // Nobody is acknowledged yet: nothing has reached the disk beyond the creation.
    assert_eq!(j.durable_lsn().unwrap(), Lsn(1));
    sim.open_syncs();
    assert_eq!(leader.join().unwrap(), Lsn(1));
    let mut got: Vec<Lsn> = followers.into_iter().map(|f| f.join().unwrap()).collect();
    got.sort();
    assert_eq!(got, vec![Lsn(2), Lsn(3), Lsn(4)]);
    (Arc::into_inner(j).unwrap(), sim.syncs() - base)
}

/// `Ack::Watermarked`: when the gate opens, one more commit covers all three followers, and no
/// writer returns before a durable watermark covers its entry.
#[test]
fn followers_share_the_next_leaders_fdatasync() {
    let sim = SimStorage::new();
    let opts = JournalOptions::default().sync(SyncMode::Sync).ack(Ack::Watermarked);
    let (j, syncs) = leader_inside_fdatasync_three_followers(&sim, opts, "/g");
    // Round 1: the leader's frame. Round 2: the leader's watermark with the followers' frames
    // (acknowledges the leader). Round 3: the followers' watermark.
    assert_eq!(syncs, 3, "three pipelined rounds");
    assert_eq!(j.durable_lsn().unwrap(), Lsn(5));
}

/// The default `Ack::DataSynced`: the same interleaving acknowledges every writer after one
/// fdatasync of its frame — the leader by round 1, the followers by round 2, which also carries
/// the leader's watermark — and nothing more runs on the writers' path (the quiet watermark is
/// set to a minute here, so it cannot run within the test).
#[test]
fn followers_are_acknowledged_by_one_fdatasync_of_their_frames_by_default() {
    let sim = SimStorage::new();
    let opts = JournalOptions::default().sync(SyncMode::Sync).watermark_quiet_ms(60_000).watermark_every_rounds(1);
    assert_eq!(opts.ack, Ack::DataSynced, "the default policy");
    let (j, syncs) = leader_inside_fdatasync_three_followers(&sim, opts, "/d");
    assert_eq!(syncs, 2, "one round for the leader's frame, one for the followers'");
    assert_eq!(j.durable_lsn().unwrap(), Lsn(5));
    // The leader's watermark went out with round 2; the followers' is not written yet.
    assert_eq!(j.watermark_lsn().unwrap(), Lsn(2));
    j.close().unwrap();
}

/// `watermark_every_rounds`: a lone Sync writer's rounds carry the watermark covering the
/// earlier rounds only every k-th round (the others' fdatasync flushes their frame alone), so
/// which round carries one follows from the commits alone; still one fdatasync per commit.
#[test]
fn every_kth_round_carries_the_watermark() {
    for (k, default) in [(4u32, false), (WATERMARK_EVERY_ROUNDS_DEFAULT, true)] {
        let sim = SimStorage::new();
        let mut opts = JournalOptions::default().sync(SyncMode::Sync).watermark_quiet_ms(60_000);
        if !default {
            opts = opts.watermark_every_rounds(k);
        }
        let j = Journal::open("/k", opts.storage(Arc::new(sim.clone()))).unwrap();
        let base = sim.syncs();
        for n in 1..=3 * k as u64 {
            assert_eq!(j.write(&n.to_le_bytes()).unwrap(), Lsn(n));
            assert_eq!(j.durable_lsn().unwrap(), Lsn(n + 1), "k {k}: write {n} acknowledged by its own round");
            // Round n writes a watermark when n is a multiple of k, covering rounds 1..n-1.
            let covered = n / k as u64 * k as u64;
            assert_eq!(j.watermark_lsn().unwrap(), Lsn(covered.max(1)), "k {k}: after write {n}");
        }
        assert_eq!(sim.syncs() - base, 3 * k as u64, "k {k}: one fdatasync per commit");
        j.close().unwrap();
    }
    let err = JournalOptions::default().watermark_every_rounds(0).validate().unwrap_err();
    assert!(matches!(err, ReplayLogError::InvalidOptions { option: "watermark_every_rounds", .. }), "{err}");
    let err = JournalOptions::default().watermark_every_rounds(WATERMARK_EVERY_ROUNDS_MAX + 1).validate().unwrap_err();
    assert!(matches!(err, ReplayLogError::InvalidOptions { option: "watermark_every_rounds", .. }), "{err}");
}

/// Rot, after a power cut, in the byte `at` of segment 0 of the journal in `dir` on `disk`:
/// what `Journal::open` makes of it.
fn open_with_rot(disk: &SimStorage, dir: &str, at: usize) -> Result<Journal, ReplayLogError> {
    let seg = Path::new(dir).join(format!("{:020}.seg", 0));
    let mut bytes = disk.contents(&seg).unwrap();
    bytes[at] ^= 0x40;
    disk.set_contents(&seg, bytes);
    Journal::open(dir, JournalOptions::default().storage(Arc::new(disk.clone())))
}

/// With `Ack::DataSynced`, when no further commit follows, the watermark covering the last one is
/// written off the writer's path once the journal has been quiet for `watermark_quiet_ms`: rot in
/// that commit after a power cut is then `Corrupt`, exactly as with `Ack::Watermarked`. Before
/// it (a quiet time longer than the test), the same rot is cut as a torn tail — with a backup
/// and a report, never silently.
#[test]
fn the_quiet_watermark_covers_the_last_commit_off_the_writers_path() {
    let frame_byte = 4096 + 24 + 3; // a byte of the first frame's body
    // Default quiet time (5 ms): wait (polling, bounded) for the watermark to cover the write.
    let sim = SimStorage::new();
    let j = Journal::open("/q", JournalOptions::default().storage(Arc::new(sim.clone()))).unwrap();
    let base = sim.syncs();
    let lsn = j.write(b"the last commit before the power cut").unwrap();
    assert!(j.durable_lsn().unwrap() > lsn, "acknowledged on return");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while j.watermark_lsn().unwrap() <= lsn {
        assert!(std::time::Instant::now() < deadline, "no watermark covered lsn {} within a minute", lsn.0);
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(sim.syncs() - base, 2, "one round for the frame, one quiet round for its watermark, no more");
    let cut = sim.power_cut(3);
    match open_with_rot(&cut, "/q", frame_byte) {
        Err(ReplayLogError::Corrupt { .. }) => {}
        other => panic!("rot in a commit the quiet watermark covers: expected Corrupt, got {other:?}"),
    }
    drop(j);

    // A quiet time of a minute: the watermark is not written within the test, so the same rot
    // reads as a torn write after the watermark and is cut, with a backup and a report.
    let sim = SimStorage::new();
    let opts = JournalOptions::default().watermark_quiet_ms(60_000).storage(Arc::new(sim.clone()));
    let j = Journal::open("/r", opts).unwrap();
    let lsn = j.write(b"the last commit before the power cut").unwrap();
    assert!(j.durable_lsn().unwrap() > lsn);
    assert!(j.watermark_lsn().unwrap() <= lsn);
    let cut = sim.power_cut(3);
    let reopened = open_with_rot(&cut, "/r", frame_byte).expect("cut as a torn tail");
    let report = reopened.recovery().cloned().expect("the cut is reported");
    assert!(report.cut_bytes > 0 && !report.backups.is_empty(), "{report:?}");
    assert_eq!(reopened.next_lsn().unwrap(), lsn, "the rotted commit is cut");
    reopened.close().unwrap();
    drop(j);
}

#[test]
fn watermark_quiet_ms_is_bounded() {
    for bad in [0, 60_001] {
        let err = JournalOptions::default().watermark_quiet_ms(bad).validate().unwrap_err();
        assert!(matches!(err, ReplayLogError::InvalidOptions { option: "watermark_quiet_ms", .. }), "{err}");
    }
    JournalOptions::default().watermark_quiet_ms(60_000).validate().unwrap();
}

#[test]
fn damaged_segment_headers_are_corrupt_another_version_is_a_mismatch() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    journal_with_segments(&dir);
    let seg0 = dir.join(format!("{:020}.seg", 0));
    let seg1 = dir.join(format!("{:020}.seg", 1));
    let (p0, p1) = (std::fs::read(&seg0).unwrap(), std::fs::read(&seg1).unwrap());
    let expect_corrupt = |what: &str| {
        let before = dir_image(&dir);
        match Journal::open(&dir, JournalOptions::default()) {
            Err(ReplayLogError::Corrupt { .. }) => {}
            other => panic!("{what}: expected Corrupt, got {other:?}"),
        }
        assert_eq!(dir_image(&dir), before, "{what}: changed files");
    };
    // Rot in the header of the newest segment, which holds acknowledged frames: not a torn
    // tail (regression: it used to be moved to backup/ as one).
    let mut b = p1.clone();
    b[20] ^= 0x08;
    std::fs::write(&seg1, &b).unwrap();
    expect_corrupt("newest segment header");
    std::fs::write(&seg1, &p1).unwrap();
    // Rot in the version word of a sealed segment.
    let mut b = p0.clone();
    b[9] ^= 0x01;
    std::fs::write(&seg0, &b).unwrap();
    expect_corrupt("version word");
    // A genuine other version (checksum recomputed) is not ours to judge.
    let mut b = p0.clone();
    b[8] = 2;
    let crc = crc32fast::hash(&b[..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&seg0, &b).unwrap();
    assert!(matches!(
        Journal::open(&dir, JournalOptions::default()),
        Err(ReplayLogError::HeaderMismatch { field: "version", .. })
    ));
    assert_eq!(std::fs::read(&seg0).unwrap(), b);
}

#[test]
fn the_interval_flusher_makes_writes_durable_without_an_explicit_sync() {
    let sim = SimStorage::new();
    let opts = JournalOptions::default().sync(SyncMode::Interval(10)).storage(Arc::new(sim.clone()));
    let j = Journal::open("/i", opts).unwrap();
    for i in 0..50u64 {
        j.write(&i.to_le_bytes()).unwrap();
    }
    assert_eq!(j.durable_lsn().unwrap(), Lsn(1), "Interval writes return before they are durable");
    // Wait for the flusher's commit (an observable condition, bounded; not a sleep to order).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while j.durable_lsn().unwrap() < Lsn(51) {
        assert!(std::time::Instant::now() < deadline, "the flusher never synced");
        std::thread::yield_now();
    }
    let cut = sim.power_cut(3);
    let ro = ReadOnlyJournal::open_with(Arc::new(cut), "/i").unwrap();
    assert_eq!(ro.iter_from(Position::Start).unwrap().count(), 50);
    j.close().unwrap();
}

#[test]
fn bad_options_and_oversized_entries_are_rejected() {
    let tmp = scratch();
    let dir = tmp.path().join("never");
    for opts in [
        JournalOptions::default().segment_bytes_max(1000),
        JournalOptions::default().segments_max(Some(0)),
        JournalOptions::default().compress_min_bytes(Some(0)),
    ] {
        assert!(matches!(Journal::open(&dir, opts), Err(ReplayLogError::InvalidOptions { .. })));
    }
    assert!(!dir.exists(), "no directory may be created for bad options");
    assert_eq!(JournalOptions::default().sync(SyncMode::Interval(1)).sync_interval_ms(), Some(10));
    let j = Journal::open(&dir, JournalOptions::default().compress_min_bytes(None)).unwrap();
    let huge = vec![0u8; (256 << 20) + 1];
    assert!(matches!(j.write(&huge), Err(ReplayLogError::EntryTooLarge { .. })));
    assert_eq!(j.write(b"still fine").unwrap(), Lsn(1));
    j.close().unwrap();
}

#[test]
fn write_batch_is_contiguous_under_concurrent_writers() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let j = Arc::new(Journal::open(&dir, JournalOptions::default().sync(SyncMode::Async)).unwrap());
    let threads: Vec<_> = (0..2u8)
        .map(|t| {
            let j = j.clone();
            std::thread::spawn(move || {
                let mut ranges = Vec::new();
                for b in 0..20u8 {
                    let entries: Vec<Vec<u8>> = (0..500u16).map(|i| vec![t, b, (i >> 8) as u8, i as u8]).collect();
                    let refs: Vec<&[u8]> = entries.iter().map(|e| e.as_slice()).collect();
                    let (first, last) = j.write_batch(&refs).unwrap().unwrap();
                    assert_eq!(last.0 - first.0, 499);
                    ranges.push((first.0, t, b));
                }
                ranges
            })
        })
        .collect();
    let ranges: Vec<_> = threads.into_iter().flat_map(|h| h.join().unwrap()).collect();
    Arc::into_inner(j).unwrap().close().unwrap();
    let items = all_items(&dir);
    for (first, t, b) in ranges {
        for i in 0..500u64 {
            let data = &items[(first + i - 1) as usize].2;
            assert_eq!(data, &vec![t, b, (i >> 8) as u8, i as u8], "batch ({t},{b}) interleaved at lsn {}", first + i);
        }
    }
    assert_eq!(JournalOptions::default().sync, SyncMode::Sync);
    assert!(matches!(
        Journal::open(tmp.path().join("k"), JournalOptions::default()).unwrap().write_batch(&[]),
        Ok(None)
    ));
}

/// Regression, found by fuzzing `open`: the newest segment was sealed but had frames after its
/// sealed end. Open kept them and started the next segment; from then on the (no longer newest)
/// segment was "not sealed at its end" and the journal could never be opened again. Bytes after
/// a sealed end are tail now: cut with a backup.
#[test]
fn regression_frames_after_a_sealed_end_are_tail_and_the_journal_reopens() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let j = Journal::open(&dir, JournalOptions::default()).unwrap();
    for i in 0..5u64 {
        j.write(&i.to_le_bytes()).unwrap();
    }
    j.roll().unwrap();
    j.close().unwrap();
    let seg0 = dir.join(format!("{:020}.seg", 0));
    let seg1 = dir.join(format!("{:020}.seg", 1));
    std::fs::remove_file(&seg1).unwrap(); // the sealed segment is the newest again
    let mut bytes = std::fs::read(&seg0).unwrap();
    let sealed_len = bytes.len();
    replaylog::lowlevel::format::journal::encode_frame(&mut bytes, 1, 0, 6, 3, b"xyz"); // intact-looking lsn 6
    std::fs::write(&seg0, &bytes).unwrap();
    let j = Journal::open(&dir, JournalOptions::default()).unwrap();
    assert_eq!(j.recovery().unwrap().valid_bytes, sealed_len as u64);
    assert_eq!(j.write(b"six").unwrap(), Lsn(6));
    j.close().unwrap();
    let j = Journal::open(&dir, JournalOptions::default()).unwrap();
    j.close().unwrap();
    let items = all_items(&dir);
    assert_eq!(items.len(), 6);
    assert_eq!(items[5].2, b"six");
}

/// Async capture on real files across several rolls, with device writeback started every
/// quarter segment (`sync_file_range`) and no preallocation: everything reads back, every
/// segment ends at its last frame, and writing continues after a reopen.
#[test]
fn async_capture_on_real_files_with_early_writeback_rolls_and_reads_back() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let opts =
        || JournalOptions::default().sync(SyncMode::Async).segment_bytes_max(256 * 1024).compress_min_bytes(None);
    let j = Journal::open(&dir, opts()).unwrap();
    let entries: Vec<Vec<u8>> = (0..1500u64)
        .map(|i| {
            let mut v = vec![0u8; 1000];
            Rng::new(i).fill(&mut v);
            v
        })
        .collect();
    for e in &entries {
        j.write(e).unwrap();
    }
    j.close().unwrap();
    let v = validate(&dir).unwrap();
    assert_eq!((v.chunks, v.problem), (1500, None));
    let got: Vec<Vec<u8>> = all_items(&dir).into_iter().map(|(_, _, d)| d).collect();
    assert_eq!(got, entries);
    let segs = segment_files(&dir);
    assert!(segs.len() >= 6, "{} segments", segs.len());
    for s in &segs[..segs.len() - 1] {
        assert_eq!(
            std::fs::metadata(s).unwrap().len() as usize,
            frames_end(s),
            "{s:?}: sealed segment not truncated to its last frame"
        );
    }
    // Async mode never extends a segment ahead of its frames (only Sync mode preallocates).
    let newest = segs.last().unwrap();
    let (len, end) = (std::fs::metadata(newest).unwrap().len() as usize, frames_end(newest));
    assert_eq!(len, end, "newest segment {len} bytes, frames end at {end}");
    let j = Journal::open(&dir, opts()).unwrap();
    assert_eq!(j.write(b"after reopen").unwrap(), Lsn(1501));
    j.close().unwrap();
    assert_eq!(validate(&dir).unwrap().chunks, 1501);
}

/// Sync mode preallocates segments ahead of their frames (a quarter segment here) and truncates
/// each to its last frame when it is sealed by a roll; reopening keeps writing.
#[test]
fn sync_capture_preallocates_ahead_and_truncates_sealed_segments() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let opts = || JournalOptions::default().sync(SyncMode::Sync).segment_bytes_max(64 * 1024).compress_min_bytes(None);
    let j = Journal::open(&dir, opts()).unwrap();
    for i in 0..200u64 {
        let mut v = vec![0u8; 1000];
        Rng::new(i).fill(&mut v);
        j.write(&v).unwrap();
    }
    j.close().unwrap();
    assert_eq!(validate(&dir).unwrap().chunks, 200);
    let segs = segment_files(&dir);
    assert!(segs.len() >= 3, "{} segments", segs.len());
    for s in &segs[..segs.len() - 1] {
        assert_eq!(std::fs::metadata(s).unwrap().len() as usize, frames_end(s), "{s:?} not truncated when sealed");
    }
    let newest = segs.last().unwrap();
    let (len, end) = (std::fs::metadata(newest).unwrap().len() as usize, frames_end(newest));
    assert!(len > end && len - end <= 16 * 1024 && len <= 64 * 1024, "newest segment {len} bytes, frames end at {end}");
    let j = Journal::open(&dir, opts()).unwrap();
    assert_eq!(j.write(b"after reopen").unwrap(), Lsn(201));
    j.close().unwrap();
    assert_eq!(validate(&dir).unwrap().chunks, 201);
}

/// A Sync-mode flush of at least a quarter preallocation step that reaches past the zero-filled
/// part grows the file by its own frames (no step of zeros written ahead of it); the next small
/// commit zero-fills a step ahead again. Everything reads back and the journal reopens.
#[test]
fn a_large_sync_flush_grows_the_file_by_its_frames() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    // 1 MiB segments: a 256 KiB step, so flushes of 64 KiB or more grow the file.
    let opts = || JournalOptions::default().sync(SyncMode::Sync).segment_bytes_max(1 << 20).compress_min_bytes(None);
    let j = Journal::open(&dir, opts()).unwrap();
    let entry = |i: u64, len: usize| {
        let mut v = vec![0u8; len];
        Rng::new(i).fill(&mut v);
        v
    };
    let seg = segment_files(&dir).pop().unwrap();
    let len = || std::fs::metadata(&seg).unwrap().len() as usize;
    j.write(&entry(0, 100)).unwrap();
    let zero_filled = len();
    assert!(zero_filled > frames_end(&seg) + 200 * 1024, "a step of zeros ahead: {zero_filled}");
    // One batch of 5 x 60,000 bytes: past the zeros, a single flush of ~300 KB.
    let big: Vec<Vec<u8>> = (1..=5).map(|i| entry(i, 60_000)).collect();
    j.write_batch(&big.iter().map(|v| v.as_slice()).collect::<Vec<_>>()).unwrap();
    assert_eq!(len(), frames_end(&seg), "grown by the frames alone, nothing ahead");
    j.write(&entry(6, 100)).unwrap();
    assert!(len() > frames_end(&seg) + 200 * 1024, "the next small commit zero-fills ahead again: {}", len());
    j.close().unwrap();
    let mut n = 0u64;
    replay(&dir, |item| {
        let want = if (1..=5).contains(&(item.lsn - 1)) { 60_000 } else { 100 };
        assert_eq!(item.data, entry(item.lsn - 1, want), "lsn {}", item.lsn);
        n += 1;
    })
    .unwrap();
    assert_eq!(n, 7);
    let j = Journal::open(&dir, opts()).unwrap();
    assert_eq!(j.write(b"after reopen").unwrap(), Lsn(8));
    j.close().unwrap();
}
