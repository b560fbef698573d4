//! Shipping to a local-filesystem object store, with a store that fails its k-th request.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::{Faulty, journal_of, objects};
use object_store::local::LocalFileSystem;
use replaylog::capture::Capture;
use replaylog::{Journal, JournalOptions, ReadOnlyJournal, SyncMode};
use replaylog_ship::{Event, Manifest, RetryPolicy, ShipError, ShipOptions, Shipper, Target, sha256_hex};

fn quick(retries: u32) -> ShipOptions {
    ShipOptions {
        // Small parts so the 64 KiB segments of these tests go up in several parts.
        multipart_bytes: 40 * 1024,
        part_bytes: 16 * 1024,
        retry: RetryPolicy { retries, backoff: Duration::from_millis(1), max_backoff: Duration::from_millis(2) },
        delete_after_verify: false,
    }
}

fn shipper(root: &Path, fail_at: u64, retries: u32) -> (Shipper, Arc<Faulty>) {
    let fs: Arc<dyn object_store::ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(root).unwrap());
    let faulty = Arc::new(Faulty::new(fs, fail_at));
    let target = Target::with_store(faulty.clone(), "cap", "file:///remote/cap");
    (Shipper::new(target, quick(retries)), faulty)
}

/// A journal of `segments` segments written in a fresh scratch directory and shipped once to a
/// file store there: (the scratch directory, the journal, the store's root, the number of
/// entries written).
fn shipped_journal(segments: u64) -> (tempfile::TempDir, PathBuf, PathBuf, u64) {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("j");
    let root = dir.path().join("remote");
    std::fs::create_dir(&root).unwrap();
    let n = journal_of(&local, segments);
    let (s, _) = shipper(&root, 0, 0);
    s.ship(&local, &mut |_| {}).unwrap();
    (dir, local, root, n)
}

fn manifest(root: &Path) -> Manifest {
    Manifest::parse(&std::fs::read(root.join("cap/manifest.json")).unwrap()).unwrap()
}

/// The remote prefix holds exactly the local segments and a manifest listing each with its
/// length and digest.
fn assert_remote_equals_local(root: &Path, local: &Path) {
    let segs = ReadOnlyJournal::open(local).unwrap().segments();
    let mut want: Vec<String> =
        segs.iter().map(|s| format!("cap/{}", s.path.file_name().unwrap().to_str().unwrap())).collect();
    want.push("cap/manifest.json".into());
    want.sort();
    assert_eq!(objects(root), want, "remote objects (no duplicate, no leftover part)");
    let m = manifest(root);
    assert_eq!(m.segments.len(), segs.len());
    for (e, s) in m.segments.iter().zip(&segs) {
        let bytes = std::fs::read(&s.path).unwrap();
        assert_eq!((e.number, e.bytes, e.sha256.as_str()), (s.number, bytes.len() as u64, sha256_hex(&bytes).as_str()));
        assert_eq!(
            std::fs::read(root.join("cap").join(&e.name)).unwrap(),
            bytes,
            "object {} holds the segment",
            e.name
        );
    }
}

#[test]
fn every_failing_request_then_a_retry_run_converges_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("j");
    journal_of(&local, 5);
    assert_eq!(ReadOnlyJournal::open(&local).unwrap().segments().len(), 5);

    // A clean run counts the requests shipping five segments takes.
    let clean = dir.path().join("clean");
    std::fs::create_dir(&clean).unwrap();
    let (s, faulty) = shipper(&clean, 0, 0);
    let mut multipart = 0;
    let report =
        s.ship(&local, &mut |e| multipart += matches!(e, Event::Shipped { multipart: true, .. }) as u32).unwrap();
    assert_eq!(report.shipped, [0, 1, 2, 3, 4]);
    assert!(multipart >= 4, "the sealed segments go up in parts, so part failures are among the k: {multipart}");
    assert_remote_equals_local(&clean, &local);
    let requests = faulty.count.load(Ordering::SeqCst);
    assert!(requests >= 20, "{requests} requests");

    for k in 1..=requests {
        let root = dir.path().join(format!("k{k}"));
        std::fs::create_dir(&root).unwrap();
        // No retries: the k-th request's failure stops the run (a crash at that request).
        let (s, _) = shipper(&root, k, 0);
        let first = s.ship(&local, &mut |_| {});
        assert!(matches!(first, Err(ShipError::Transient { .. })), "k={k}: {first:?}");
        let listed_before =
            std::fs::read(root.join("cap/manifest.json")).ok().map(|b| Manifest::parse(&b).unwrap().segments.len());
        // The retry run ships what is missing, re-uploading at most the segment in flight.
        let (s, faulty) = shipper(&root, 0, 0);
        let second = s.ship(&local, &mut |_| {}).unwrap();
        let listed = listed_before.unwrap_or(0);
        assert_eq!(second.present.len(), listed, "k={k}");
        assert_eq!(second.shipped.len(), 5 - listed, "k={k}");
        assert_eq!(faulty.puts.load(Ordering::SeqCst), 5 - listed as u64, "k={k}: one upload per unlisted segment");
        assert_remote_equals_local(&root, &local);
        // Nothing more to do: a third run uploads nothing.
        let (s, faulty) = shipper(&root, 0, 0);
        let third = s.ship(&local, &mut |_| {}).unwrap();
        assert_eq!((third.shipped.len(), faulty.puts.load(Ordering::SeqCst)), (0, 0), "k={k}");
    }
}

#[test]
fn a_transient_failure_is_retried_and_reported_within_one_run() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("j");
    journal_of(&local, 5);
    for k in [1, 2, 3, 7, 12, 20] {
        let root = dir.path().join(format!("k{k}"));
        std::fs::create_dir(&root).unwrap();
        let (s, _) = shipper(&root, k, 2);
        let mut retries = Vec::new();
        let report = s
            .ship(&local, &mut |e| {
                if let Event::Retry { attempt, what, .. } = e {
                    retries.push((*attempt, what.clone()));
                }
            })
            .unwrap();
        assert_eq!(report.shipped.len(), 5, "k={k}");
        assert_eq!(retries.len(), 1, "k={k}: {retries:?}");
        assert!(retries[0].1.contains(&format!("injected failure of request {k}")), "{retries:?}");
        assert_remote_equals_local(&root, &local);
    }
}

#[test]
fn a_live_writer_keeps_its_newest_segment_until_it_closes() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("j");
    let root = dir.path().join("remote");
    std::fs::create_dir(&root).unwrap();
    let j =
        Journal::open(&local, JournalOptions::default().sync(SyncMode::Async).segment_bytes_max(64 * 1024)).unwrap();
    for s in 0..3u8 {
        for _ in 0..10 {
            j.write(&[s; 1000]).unwrap();
        }
        j.roll().unwrap();
    }
    j.write(b"in the live segment").unwrap();
    let (s, _) = shipper(&root, 0, 0);
    let mut events = Vec::new();
    let r = s.ship(&local, &mut |e| events.push(e.clone())).unwrap();
    assert_eq!((r.shipped.clone(), r.live_tail), (vec![0, 1, 2], Some(3)));
    assert!(events.contains(&Event::LiveTail { number: 3 }));
    assert!(!root.join("cap/00000000000000000003.seg").exists(), "the live segment is never shipped");
    j.close().unwrap();

    // Closed: the newest segment ships too.
    let r = s.ship(&local, &mut |_| {}).unwrap();
    assert_eq!((r.shipped.clone(), r.present.clone(), r.live_tail), (vec![3], vec![0, 1, 2], None));
    assert!(!manifest(&root).get(3).unwrap().sealed);
    assert_remote_equals_local(&root, &local);

    // A writer reopens and appends to that segment: it is shipped again, replacing the entry.
    let j =
        Journal::open(&local, JournalOptions::default().sync(SyncMode::Async).segment_bytes_max(64 * 1024)).unwrap();
    j.write(b"after reopening").unwrap();
    j.close().unwrap();
    let mut replaced = false;
    let r = s.ship(&local, &mut |e| replaced |= matches!(e, Event::Shipped { number: 3, replaced: true, .. })).unwrap();
    assert_eq!(r.shipped, [3]);
    assert!(replaced);
    assert_remote_equals_local(&root, &local);
    let remote = replaylog::capture::Capture::open_source(Arc::new(remote_source(&root))).unwrap();
    let last = remote.records(None).unwrap().last().unwrap().unwrap();
    assert_eq!(last.bytes, b"after reopening");
}

fn remote_source(root: &Path) -> replaylog_ship::RemoteSource {
    let fs: Arc<dyn object_store::ObjectStore> = Arc::new(LocalFileSystem::new_with_prefix(root).unwrap());
    replaylog_ship::RemoteSource::open(Target::with_store(fs, "cap", "file:///remote/cap"), RetryPolicy::none())
        .unwrap()
}

#[test]
fn a_sealed_segment_that_changed_after_shipping_is_a_conflict_and_nothing_is_uploaded() {
    let (_dir, local, root, _) = shipped_journal(3);
    let before = objects(&root);
    let seg1 = local.join("00000000000000000001.seg");
    let mut bytes = std::fs::read(&seg1).unwrap();
    let at = bytes.len() - 100;
    bytes[at] ^= 1;
    std::fs::write(&seg1, &bytes).unwrap();
    let (s, faulty) = shipper(&root, 0, 0);
    let e = s.ship(&local, &mut |_| {}).unwrap_err();
    // The flipped byte is inside a frame: the local segment is damaged, reported, not shipped.
    assert!(matches!(&e, ShipError::Local(replaylog::ReplayLogError::Corrupt { .. })), "{e}");
    assert_eq!(faulty.puts.load(Ordering::SeqCst), 0);
    assert_eq!(objects(&root), before);
}

#[test]
fn a_foreign_manifest_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("j");
    let root = dir.path().join("remote");
    std::fs::create_dir_all(root.join("cap")).unwrap();
    std::fs::write(root.join("cap/manifest.json"), b"{\"someone\": \"else\"}").unwrap();
    journal_of(&local, 2);
    let (s, faulty) = shipper(&root, 0, 0);
    let e = s.ship(&local, &mut |_| {}).unwrap_err();
    assert!(matches!(&e, ShipError::Conflict { what, .. } if what.contains("not a replaylog ship manifest")), "{e}");
    assert_eq!(faulty.puts.load(Ordering::SeqCst), 0);
    assert_eq!(std::fs::read(root.join("cap/manifest.json")).unwrap(), b"{\"someone\": \"else\"}");
}

#[test]
fn the_remote_capture_reads_like_the_local_one_and_a_tampered_segment_is_named() {
    let (_dir, local, root, n) = shipped_journal(4);

    let here = Capture::open(&local).unwrap();
    let there = Capture::open_source(Arc::new(remote_source(&root))).unwrap();
    let a: Vec<_> = here.records(None).unwrap().map(Result::unwrap).collect();
    let b: Vec<_> = there.records(None).unwrap().map(Result::unwrap).collect();
    assert_eq!(a.len() as u64, n);
    assert_eq!(a, b);
    assert!(there.is_plain_journal());

    // One byte of segment 2's object changes: its records are never yielded, the error names it.
    let obj = root.join("cap/00000000000000000002.seg");
    let mut bytes = std::fs::read(&obj).unwrap();
    bytes[5000] ^= 0x40;
    std::fs::write(&obj, &bytes).unwrap();
    let there = Capture::open_source(Arc::new(remote_source(&root))).unwrap();
    let got: Vec<_> = there.records(None).unwrap().collect();
    let ok = got.iter().filter(|r| r.is_ok()).count();
    let seg01: u64 = ReadOnlyJournal::open(&local).unwrap().segments()[..2].iter().map(|s| s.frames).sum();
    assert_eq!(ok as u64, seg01, "only segments 0 and 1 are read");
    let err = got.last().unwrap().as_ref().unwrap_err().to_string();
    assert!(err.contains("00000000000000000002.seg") && err.contains("segment 2") && err.contains("not used"), "{err}");

    // The object is gone: named by segment number, as a missing file.
    std::fs::remove_file(&obj).unwrap();
    let there = Capture::open_source(Arc::new(remote_source(&root))).unwrap();
    let err = there.records(None).unwrap().find_map(Result::err).unwrap();
    assert!(
        matches!(&err, replaylog::ReplayLogError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{err}"
    );
    assert!(err.to_string().contains("segment 2 is listed in the manifest but its object is missing"), "{err}");
}

#[test]
fn delete_after_verify_removes_only_shipped_segments_replay_no_longer_needs() {
    let dir = tempfile::tempdir().unwrap();
    let local = dir.path().join("j");
    let root = dir.path().join("remote");
    std::fs::create_dir(&root).unwrap();
    let opts = JournalOptions::default().sync(SyncMode::Async).segment_bytes_max(64 * 1024);
    let j = Journal::open(&local, opts.clone()).unwrap();
    for s in 0..5u8 {
        if s == 3 {
            j.snapshot(b"state at segment 3").unwrap();
        }
        for _ in 0..10 {
            j.write(&[s; 1000]).unwrap();
        }
        j.roll().unwrap();
    }
    j.write(b"live").unwrap();

    // A failed run deletes nothing.
    let (s, _) = shipper(&root, 1, 0);
    let mut opts_del = quick(0);
    opts_del.delete_after_verify = true;
    let failing = Shipper::new(s.target().clone(), opts_del.clone());
    assert!(failing.ship(&local, &mut |_| {}).is_err());
    let segments = ReadOnlyJournal::open(&local).unwrap().segments();
    let all: Vec<u64> = segments.iter().map(|s| s.number).collect();
    let snapshot_at = segments.iter().find(|s| s.has_snapshot).unwrap().number;
    assert!(snapshot_at >= 3, "{all:?}");
    let newest = *all.last().unwrap();

    let (s, _) = shipper(&root, 0, 0);
    let s = Shipper::new(s.target().clone(), opts_del);
    let r = s.ship(&local, &mut |_| {}).unwrap();
    assert_eq!((r.shipped.clone(), r.live_tail), (all[..all.len() - 1].to_vec(), Some(newest)));
    let before: Vec<u64> = all.iter().copied().filter(|&n| n < snapshot_at).collect();
    assert_eq!(r.deleted, before, "segments before the newest snapshot's");
    let numbers: Vec<u64> = ReadOnlyJournal::open(&local).unwrap().segments().iter().map(|s| s.number).collect();
    assert_eq!(numbers, all.iter().copied().filter(|&n| n >= snapshot_at).collect::<Vec<_>>());
    // The writer goes on (its own retention finds them gone), and replay from the snapshot works.
    j.write(b"after").unwrap();
    j.close().unwrap();
    let ro = ReadOnlyJournal::open(&local).unwrap();
    assert!(ro.problem().is_none());
    assert!(ro.newest_snapshot().is_some());
}

#[test]
fn not_a_journal_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("remote");
    std::fs::create_dir(&root).unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, b"hello").unwrap();
    let (s, faulty) = shipper(&root, 0, 0);
    let e = s.ship(&file, &mut |_| {}).unwrap_err();
    assert!(e.is_bad_input(), "{e}");
    assert!(e.to_string().contains("notes.txt"), "{e}");
    assert_eq!(faulty.count.load(Ordering::SeqCst), 0);
    assert_eq!(std::fs::read(&file).unwrap(), b"hello");
}

#[test]
fn a_manifest_that_skips_a_segment_is_named_at_the_segment_after_the_gap() {
    let (_dir, local, root, _) = shipped_journal(4);
    let mut m = manifest(&root);
    m.segments.retain(|e| e.number != 1);
    std::fs::write(root.join("cap/manifest.json"), m.to_bytes()).unwrap();

    let there = Capture::open_source(Arc::new(remote_source(&root))).unwrap();
    let got: Vec<_> = there.records(None).unwrap().collect();
    let seg0 = ReadOnlyJournal::open(&local).unwrap().segments()[0].frames;
    assert_eq!(got.iter().filter(|r| r.is_ok()).count() as u64, seg0, "segment 0 only");
    let err = got.last().unwrap().as_ref().unwrap_err().to_string();
    assert!(err.contains("00000000000000000002.seg") && err.contains("the previous segment ends before"), "{err}");
    let v = replaylog_ship::validate(&remote_source(&root));
    assert!(!v.ok());
    assert!(v.segments[0].result.is_ok() && v.segments[1].result.is_err());
}
