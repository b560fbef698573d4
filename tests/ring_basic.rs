//! RingLog behaviour without crashes: roundtrip, wrap-around, reopen, evidence, layout, options,
//! locking and bad input.

mod common;

use std::fs;

use common::*;
use replaylog::lowlevel::format::ring::{CURSOR_OFFSET, Geometry, RING_VERSION};
use replaylog::{FailureKind, ReplayFailureEvidence, ReplayLogError, RingLog, RingOptions};

fn expect_window(log: &RingLog<Rec>, lineage: u64, first: u64, last: u64) {
    let recs = log.replay_records().unwrap();
    let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (first..=last).collect::<Vec<_>>(), "window");
    for r in &recs {
        assert_eq!(r.record, Rec::new(lineage, r.seq));
    }
    assert_eq!(log.len(), last + 1 - first);
}

#[test]
fn roundtrip_and_wraparound_at_several_capacities() {
    let dir = scratch();
    for cap in [1u64, 2, 7, 4096] {
        let path = dir.path().join(format!("wrap-{cap}.ring"));
        let mut log: RingLog<Rec> = RingLog::open(&path, cap).unwrap();
        assert_eq!(log.capacity(), cap);
        assert!(log.is_empty());
        assert_eq!(log.replay_all().unwrap(), vec![]);
        let total = cap * 3 + 2;
        for seq in 0..total {
            log.append(&Rec::new(0, seq)).unwrap();
            if seq == cap / 2 {
                expect_window(&log, 0, 0, seq);
            }
        }
        expect_window(&log, 0, total - cap, total - 1);
        let all = log.replay_all().unwrap();
        assert_eq!(all.len() as u64, cap);
        assert_eq!(all.last().unwrap().seq, total - 1);
    }
}

#[test]
fn reopen_keeps_window_and_continues_at_the_next_seq() {
    let dir = scratch();
    let path = dir.path().join("reopen.ring");
    {
        let mut log: RingLog<Rec> = RingLog::open(&path, 7).unwrap();
        for seq in 0..10 {
            log.append(&Rec::new(0, seq)).unwrap();
        }
        log.sync().unwrap();
    }
    let mut log: RingLog<Rec> = RingLog::open(&path, 7).unwrap();
    assert!(!log.recovery().created);
    assert_eq!(log.recovery().window, Some((3, 9)));
    assert_eq!(log.next_seq(), 10);
    expect_window(&log, 0, 3, 9);
    for seq in 10..12 {
        log.append(&Rec::new(0, seq)).unwrap();
    }
    expect_window(&log, 0, 5, 11);
    drop(log);
    // Reopen without sync: a clean drop keeps everything (page cache), epochs chain correctly.
    let log: RingLog<Rec> = RingLog::open(&path, 7).unwrap();
    expect_window(&log, 0, 5, 11);
    assert_eq!(log.recovery().epoch, 3);
}

#[test]
fn reopen_of_a_partly_filled_ring_then_fill_across_the_old_end() {
    let dir = scratch();
    let path = dir.path().join("partial.ring");
    {
        let mut log: RingLog<Rec> = RingLog::open(&path, 8).unwrap();
        for seq in 0..3 {
            log.append(&Rec::new(0, seq)).unwrap();
        }
    }
    let mut log: RingLog<Rec> = RingLog::open(&path, 8).unwrap();
    expect_window(&log, 0, 0, 2);
    for seq in 3..20 {
        log.append(&Rec::new(0, seq)).unwrap();
    }
    expect_window(&log, 0, 12, 19);
}

fn slot_offset(path: &std::path::Path, cap: u64, seq: u64) -> usize {
    let g = Geometry::new(size_of::<Rec>() as u32, 256, cap, 0, replaylog::Clock::None).unwrap();
    assert_eq!(fs::metadata(path).unwrap().len(), g.file_bytes);
    g.slot_offset(seq % cap) as usize
}

fn patch(path: &std::path::Path, off: usize, bytes: &[u8]) {
    let mut all = fs::read(path).unwrap();
    all[off..off + bytes.len()].copy_from_slice(bytes);
    fs::write(path, all).unwrap();
}

fn filled(path: &std::path::Path, cap: u64, n: u64) {
    let mut log: RingLog<Rec> = RingLog::open(path, cap).unwrap();
    for seq in 0..n {
        log.append(&Rec::new(0, seq)).unwrap();
    }
    log.sync().unwrap();
}

#[test]
fn replay_ignores_a_zeroed_or_garbled_cursor() {
    let dir = scratch();
    for garbage in [[0u8; 16], [0xA5; 16], {
        let mut c = [0u8; 16];
        c[..8].copy_from_slice(&3u64.to_le_bytes());
        c[8..].copy_from_slice(&(!3u64).to_le_bytes());
        c
    }] {
        let path = dir.path().join("cursor.ring");
        let _ = fs::remove_file(&path);
        filled(&path, 16, 21);
        patch(&path, CURSOR_OFFSET as usize, &garbage);
        let log: RingLog<Rec> = RingLog::open(&path, 16).unwrap();
        expect_window(&log, 0, 5, 20);
        assert_eq!(log.next_seq(), 21);
    }
}

#[test]
fn a_torn_last_slot_ends_the_window_before_it() {
    let dir = scratch();
    let path = dir.path().join("torn.ring");
    {
        let mut log: RingLog<Rec> = RingLog::open(&path, 16).unwrap();
        for seq in 0..10 {
            log.append(&Rec::new(0, seq)).unwrap();
        }
        // Not synced: the watermark stays at 0, so the newest valid slot anchors the walk.
    }
    // Tear seq 9: half its record overwritten.
    let off = slot_offset(&path, 16, 9);
    patch(&path, off + 32 + 8, &[0xEE; 24]);
    let mut log: RingLog<Rec> = RingLog::open(&path, 16).unwrap();
    expect_window(&log, 0, 0, 8);
    assert_eq!(log.recovery().slots_damaged, 1);
    // The next append reuses seq 9 and the window is whole again.
    log.append(&Rec::new(0, 9)).unwrap();
    expect_window(&log, 0, 0, 9);
}

#[test]
fn a_torn_unsynced_slot_never_hides_synced_ones() {
    let dir = scratch();
    let path = dir.path().join("hide.ring");
    {
        let mut log: RingLog<Rec> = RingLog::open(&path, 16).unwrap();
        for seq in 0..6 {
            log.append(&Rec::new(0, seq)).unwrap();
        }
        log.sync().unwrap();
        for seq in 6..9 {
            log.append(&Rec::new(0, seq)).unwrap();
        }
    }
    // seq 6 torn; 7 and 8 "persisted out of order".
    patch(&path, slot_offset(&path, 16, 6) + 30, &[1, 2, 3]);
    let mut log: RingLog<Rec> = RingLog::open(&path, 16).unwrap();
    expect_window(&log, 0, 0, 5);
    assert_eq!(log.recovery().slots_outside_window, 2);
    // Continue with a new lineage at seq 6: the stale 7 and 8 never rejoin.
    log.append(&Rec::new(1, 6)).unwrap();
    let recs = log.replay_records().unwrap();
    assert_eq!(recs.len(), 7);
    drop(log);
    let log: RingLog<Rec> = RingLog::open(&path, 16).unwrap();
    let recs = log.replay_records().unwrap();
    assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), (0..=6).collect::<Vec<_>>());
    assert_eq!(recs[6].record, Rec::new(1, 6));
}

#[test]
fn a_stale_slot_from_the_previous_lap_is_not_returned() {
    let dir = scratch();
    let path = dir.path().join("stale.ring");
    filled(&path, 4, 10); // live 6..=9; slot of 9 is index 1
    // Put the previous lap's record (seq 5, index 1) back into slot 1, as a lost write would.
    let scratch_path = dir.path().join("lap.ring");
    filled(&scratch_path, 4, 6); // seq 5 sits in index 1 with a valid CRC
    let off = slot_offset(&path, 4, 9);
    let stride = Geometry::new(size_of::<Rec>() as u32, 256, 4, 0, replaylog::Clock::None).unwrap().slot_bytes as usize;
    let old = fs::read(&scratch_path).unwrap()[off..off + stride].to_vec();
    patch(&path, off, &old);
    let log: RingLog<Rec> = RingLog::open(&path, 4).unwrap();
    // seq 5 is older than the window's lap and seq 9 is gone: the window is 6..=8.
    expect_window(&log, 0, 6, 8);
}

#[test]
fn a_slot_copied_to_the_wrong_index_is_rejected() {
    let dir = scratch();
    let path = dir.path().join("misplaced.ring");
    filled(&path, 8, 6);
    let stride = Geometry::new(size_of::<Rec>() as u32, 256, 8, 0, replaylog::Clock::None).unwrap().slot_bytes as usize;
    let from = slot_offset(&path, 8, 2);
    let bytes = fs::read(&path).unwrap()[from..from + stride].to_vec();
    patch(&path, slot_offset(&path, 8, 6), &bytes); // seq 2 lands at index 6
    let log: RingLog<Rec> = RingLog::open(&path, 8).unwrap();
    expect_window(&log, 0, 0, 5);
    assert_eq!(log.recovery().slots_damaged, 1);
}

#[test]
fn failure_evidence_roundtrip_and_utf8_truncation() {
    let dir = scratch();
    let path = dir.path().join("evidence.ring");
    let opts = RingOptions::default().evidence_bytes_max(16 + 10);
    let mut log: RingLog<Rec> = RingLog::open_with(&path, 8, opts.clone()).unwrap();
    log.append(&Rec::new(0, 0)).unwrap();
    let long = "ééééééé"; // 14 bytes; 10 fit -> 5 chars
    log.append_with_failure(&Rec::new(0, 1), &ReplayFailureEvidence::new(FailureKind::Backend, -5, long)).unwrap();
    log.append_with_failure(&Rec::new(0, 2), &ReplayFailureEvidence::new(FailureKind::Other(9), 7, "a€b")).unwrap();
    log.append_with_failure(&Rec::new(0, 3), &ReplayFailureEvidence::new(FailureKind::Timeout, 0, "")).unwrap();
    log.append(&Rec::new(0, 4)).unwrap();
    let check = |log: &RingLog<Rec>| {
        let recs = log.replay_records().unwrap();
        assert_eq!(recs[0].evidence, None);
        assert_eq!(recs[1].evidence, Some(ReplayFailureEvidence::new(FailureKind::Backend, -5, "ééééé")));
        assert_eq!(recs[2].evidence, Some(ReplayFailureEvidence::new(FailureKind::Other(9), 7, "a€b")));
        assert_eq!(recs[3].evidence, Some(ReplayFailureEvidence::new(FailureKind::Timeout, 0, "")));
        assert_eq!(recs[4].evidence, None);
        let borrowed: Vec<_> = log.iter().map(|i| i.unwrap().evidence.map(|e| e.message.len())).collect();
        assert_eq!(borrowed, vec![None, Some(10), Some(5), Some(0), None]);
    };
    check(&log);
    drop(log);
    let log: RingLog<Rec> = RingLog::open_with(&path, 8, opts).unwrap();
    check(&log);
}

#[test]
fn layout_is_stored_and_checked_on_reopen() {
    use replaylog::{Field, FieldType, Layout, RecordLayout};
    let dir = scratch();
    let path = dir.path().join("layout.ring");
    drop(RingLog::<Rec>::open_with(&path, 4, RingOptions::default().layout_of::<Rec>()).unwrap());
    // Reopen without a layout: accepted, the stored one is visible, and appends land in the
    // slots (regression: the requested geometry, without a layout, addressed the layout block).
    let mut log = RingLog::<Rec>::open(&path, 4).unwrap();
    assert_eq!(log.layout(), Some(&Rec::layout()));
    for seq in 0..6 {
        log.append(&Rec::new(0, seq)).unwrap();
    }
    drop(log);
    let log = RingLog::<Rec>::open_with(&path, 4, RingOptions::default().layout_of::<Rec>()).unwrap();
    expect_window(&log, 0, 2, 5);
    drop(log);
    let before = image(&path);
    let other = Layout::new("Rec", vec![Field::new("seq", FieldType::I64, 0)]);
    let err = RingLog::<Rec>::open_with(&path, 4, RingOptions::default().layout(other)).unwrap_err();
    assert!(matches!(err, ReplayLogError::HeaderMismatch { field: "layout", .. }), "{err}");
    assert_eq!(image(&path), before);
    // A layout that does not fit the record is rejected before any file is created.
    let bad = Layout::new("Rec", vec![Field::new("x", FieldType::U64, 60)]);
    let p2 = dir.path().join("bad-layout.ring");
    let err = RingLog::<Rec>::open_with(&p2, 4, RingOptions::default().layout(bad)).unwrap_err();
    assert!(matches!(err, ReplayLogError::InvalidOptions { option: "layout", .. }), "{err}");
    assert!(!p2.exists());
}

#[test]
fn bad_capacities_and_options_are_rejected_before_any_file_is_created() {
    let dir = scratch();
    let path = dir.path().join("never.ring");
    assert!(matches!(RingLog::<Rec>::open(&path, 0), Err(ReplayLogError::ZeroCapacity)));
    assert!(matches!(
        RingLog::<Rec>::open(&path, u32::MAX as u64 + 1),
        Err(ReplayLogError::CapacityOverflow { requested, .. }) if requested == u32::MAX as u64 + 1
    ));
    for ev in [0u32, 15, 16 * 1024 + 1] {
        let err = RingLog::<Rec>::open_with(&path, 4, RingOptions::default().evidence_bytes_max(ev)).unwrap_err();
        assert!(matches!(err, ReplayLogError::InvalidOptions { option: "evidence_bytes_max", .. }));
    }
    let err = RingLog::<Rec>::open_with(&path, 4, RingOptions::default().lock_wait_ms(60_001)).unwrap_err();
    assert!(matches!(err, ReplayLogError::InvalidOptions { option: "lock_wait_ms", .. }));
    assert!(fs::read_dir(dir.path()).unwrap().next().is_none(), "no file may be created");
}

#[test]
fn the_file_is_fully_allocated_not_sparse() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap(); // a real filesystem, not tmpfs
    let path = dir.path().join("alloc.ring");
    drop(RingLog::<Rec>::open(&path, 10_000).unwrap());
    let m = fs::metadata(&path).unwrap();
    assert!(m.blocks() * 512 >= m.len(), "allocated {} of {} bytes", m.blocks() * 512, m.len());
}

#[test]
fn foreign_and_mismatched_files_are_refused_and_left_untouched() {
    let dir = scratch();
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", vec![]),
        ("text", b"hello, this is not a ring\n".repeat(1000)),
        ("short-magic", b"RPLY".to_vec()),
        ("journal-like", {
            let mut v = b"RPLYJRNL".to_vec();
            v.resize(20_000, 0);
            v
        }),
        ("zeros", vec![0u8; 64 * 1024]),
    ];
    // A real ring truncated, and rings of another shape.
    let real = dir.path().join("real.ring");
    filled(&real, 4, 5);
    let bytes = fs::read(&real).unwrap();
    cases.push(("truncated-ring", bytes[..bytes.len() - 1].to_vec()));
    cases.push(("header-only-ring", bytes[..4608].to_vec()));
    cases.push(("extended-ring", [bytes.clone(), vec![0; 512]].concat()));
    // A genuine file of another version (RING_VERSION + 1), checksums recomputed; a version-1
    // file (the old slot checksum range) is refused the same way.
    for (name, version) in [("other-version", RING_VERSION + 1), ("version-1", 1)] {
        let mut other_version = bytes.clone();
        for base in [0usize, 4096] {
            other_version[base + 8..base + 12].copy_from_slice(&version.to_le_bytes());
            let crc = crc32fast::hash(&other_version[base..base + 508]);
            other_version[base + 508..base + 512].copy_from_slice(&crc.to_le_bytes());
        }
        cases.push((name, other_version));
    }
    for (name, content) in &cases {
        let path = dir.path().join(name);
        fs::write(&path, content).unwrap();
        let before = image(&path);
        let err = RingLog::<Rec>::open(&path, 4).unwrap_err();
        assert!(matches!(err, ReplayLogError::HeaderMismatch { .. }), "{name}: {err}");
        assert_eq!(image(&path), before, "{name} was modified");
    }
    let before = image(&real);
    for (field, result) in [
        ("capacity", RingLog::<Rec>::open(&real, 5).map(drop)),
        ("schema_id", RingLog::<Rec>::open_with(&real, 4, RingOptions::default().schema_id(7)).map(drop)),
        ("record_bytes", RingLog::<[u8; 32]>::open(&real, 4).map(drop)),
        (
            "evidence_bytes_max",
            RingLog::<Rec>::open_with(&real, 4, RingOptions::default().evidence_bytes_max(64)).map(drop),
        ),
    ] {
        match result {
            Err(ReplayLogError::HeaderMismatch { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
        assert_eq!(image(&real), before, "{field}: file modified");
    }
}

#[test]
fn directories_missing_parents_and_devices_give_typed_errors() {
    let dir = scratch();
    let err = RingLog::<Rec>::open(dir.path(), 4).unwrap_err();
    assert!(matches!(&err, ReplayLogError::Io { path, .. } if path == dir.path()), "{err}");
    let missing = dir.path().join("no/such/dir/x.ring");
    let err = RingLog::<Rec>::open(&missing, 4).unwrap_err();
    assert!(matches!(&err, ReplayLogError::Io { path, .. } if path == &missing), "{err}");
    let link = dir.path().join("null-link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    let err = RingLog::<Rec>::open(&link, 4).unwrap_err();
    assert!(matches!(err, ReplayLogError::HeaderMismatch { field: "file type", .. }), "{err}");
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    assert!(matches!(RingLog::<Rec>::open(&dangling, 4), Err(ReplayLogError::Io { .. })));
}

#[test]
fn a_second_writer_gets_locked() {
    let dir = scratch();
    let path = dir.path().join("lock.ring");
    let log = RingLog::<Rec>::open(&path, 4).unwrap();
    let err = RingLog::<Rec>::open_with(&path, 4, RingOptions::default().lock_wait_ms(0)).unwrap_err();
    assert!(matches!(err, ReplayLogError::Locked { .. }), "{err}");
    drop(log);
    RingLog::<Rec>::open_with(&path, 4, RingOptions::default().lock_wait_ms(0)).unwrap();
}

#[test]
fn a_forked_child_sharing_the_descriptor_does_not_block_a_reopen() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    use std::process::Command;
    let dir = scratch();
    let path = dir.path().join("fork.ring");
    let log = RingLog::<Rec>::open(&path, 4).unwrap();
    let (mut forked_r, forked_w) = std::io::pipe().unwrap();
    let (go_r, mut go_w) = std::io::pipe().unwrap();
    let (forked_fd, go_fd) = (forked_w.as_raw_fd(), go_r.as_raw_fd());
    let mut cmd = Command::new("true");
    // SAFETY: the hook runs in the forked child before exec and only calls write(2) and read(2)
    // on inherited pipe descriptors, both async-signal-safe; it touches no locks or allocator.
    unsafe {
        cmd.pre_exec(move || {
            let b = [1u8];
            libc::write(forked_fd, b.as_ptr().cast(), 1);
            let mut r = [0u8];
            libc::read(go_fd, r.as_mut_ptr().cast(), 1);
            Ok(())
        });
    }
    // spawn() returns only after exec, so it runs on another thread while the child, forked and
    // not yet exec'd, holds a copy of every descriptor of this process, the ring's included.
    let spawner = std::thread::spawn(move || cmd.spawn().unwrap().wait().unwrap());
    let mut b = [0u8];
    forked_r.read_exact(&mut b).unwrap();
    drop(log);
    let reopened = RingLog::<Rec>::open_with(&path, 4, RingOptions::default().lock_wait_ms(0));
    go_w.write_all(b"g").unwrap();
    assert!(spawner.join().unwrap().success());
    reopened.unwrap();
    drop((forked_w, go_r));
}

#[test]
fn prefault_and_mlock_options_work() {
    let dir = scratch();
    let path = dir.path().join("prefault.ring");
    let opts = RingOptions::default().prefault(true).mlock(true);
    let mut log = RingLog::<Rec>::open_with(&path, 1024, opts).unwrap();
    for seq in 0..3000 {
        log.append(&Rec::new(0, seq)).unwrap();
    }
    log.sync().unwrap();
    expect_window(&log, 0, 3000 - 1024, 2999);
}

#[test]
fn sync_advances_the_durable_watermark() {
    let dir = scratch();
    let path = dir.path().join("sync.ring");
    let mut log = RingLog::<Rec>::open(&path, 8).unwrap();
    assert_eq!(log.synced_seq(), 0);
    for seq in 0..20 {
        log.append(&Rec::new(0, seq)).unwrap();
    }
    assert_eq!(log.synced_seq(), 0);
    log.sync().unwrap();
    assert_eq!(log.synced_seq(), 20);
    drop(log);
    let log = RingLog::<Rec>::open(&path, 8).unwrap();
    assert_eq!(log.recovery().synced_next, 20);
    assert_eq!(log.recovery().anchor, Some(replaylog::Anchor::Watermark(19)));
}

#[test]
fn a_torn_header_copy_is_survived_and_rewritten() {
    let dir = scratch();
    let path = dir.path().join("header.ring");
    filled(&path, 8, 12);
    let pristine = fs::read(&path).unwrap();
    for copy in [0usize, 4096] {
        let mut torn = pristine.clone();
        torn[copy + 100..copy + 400].fill(0xC3); // garbage across the middle of one copy
        fs::write(&path, &torn).unwrap();
        let log: RingLog<Rec> = RingLog::open(&path, 8).unwrap();
        assert!(log.recovery().header_copy_repaired);
        expect_window(&log, 0, 4, 11);
        drop(log);
        let now = fs::read(&path).unwrap();
        assert_eq!(now[copy..copy + 512], pristine[copy..copy + 512], "copy at {copy} rewritten");
    }
    // Rot in the version word of both copies is damage of ours, not another version.
    let mut rotted = pristine.clone();
    rotted[8] ^= 0x40;
    rotted[4096 + 8] ^= 0x40;
    fs::write(&path, &rotted).unwrap();
    let err = RingLog::<Rec>::open(&path, 8).unwrap_err();
    assert!(matches!(err, ReplayLogError::Corrupt { .. }), "{err}");
    assert_eq!(fs::read(&path).unwrap(), rotted);
    // Both copies torn: refused as corrupt, file untouched.
    let mut both = pristine.clone();
    both[100..400].fill(0xC3);
    both[4096 + 100..4096 + 400].fill(0xC3);
    fs::write(&path, &both).unwrap();
    let before = image(&path);
    let err = RingLog::<Rec>::open(&path, 8).unwrap_err();
    assert!(matches!(err, ReplayLogError::Corrupt { .. }), "{err}");
    assert_eq!(image(&path), before);
}

/// Regression, found by fuzzing `open`: a slot claiming epoch u32::MAX (with no valid state to
/// rule it out) exhausted the epoch counter, and open refused the ring only after it had already
/// zeroed slots. Every refusal now happens before the first write.
#[test]
fn regression_epoch_exhausted_is_refused_before_anything_is_written() {
    use replaylog::lowlevel::format::ring::*;
    let dir = scratch();
    let path = dir.path().join("epoch.ring");
    {
        let mut log: RingLog<[u8; 16]> = RingLog::open(&path, 4).unwrap();
        log.append(&[1; 16]).unwrap();
        log.append(&[2; 16]).unwrap();
    }
    let g = Geometry::new(16, EVIDENCE_BYTES_DEFAULT, 4, 0, replaylog::Clock::None).unwrap();
    let mut bytes = fs::read(&path).unwrap();
    for off in STATE_OFFSETS {
        bytes[off as usize..off as usize + STATE_BYTES].fill(0); // no valid state
    }
    let slot = g.slot_offset(1) as usize;
    bytes[slot + SLOT_EPOCH..slot + SLOT_EPOCH + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let end = slot + SLOT_HEADER_BYTES + 16;
    let crc = g.slot_crc(&bytes[slot + SLOT_CRC_START..end]);
    bytes[slot + SLOT_CRC..slot + SLOT_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    // Slot 2 holds junk outside the window, which a successful open would zero.
    bytes[g.slot_offset(2) as usize + 40] = 0x77;
    fs::write(&path, &bytes).unwrap();
    let before = image(&path);
    let err = RingLog::<[u8; 16]>::open(&path, 4).unwrap_err();
    assert!(matches!(err, ReplayLogError::Corrupt { .. }), "{err}");
    assert_eq!(image(&path), before);
}

/// A record of `N` bytes whose content depends on its seq.
#[derive(
    zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout, Clone, Copy, PartialEq, Debug,
)]
#[repr(C)]
struct Wide<const N: usize>([u8; N]);

impl<const N: usize> Wide<N> {
    fn new(seq: u64) -> Self {
        Self(std::array::from_fn(|i| (seq as usize * 31 + i * 7) as u8))
    }
}

fn wide_roundtrip<const N: usize>(dir: &std::path::Path) {
    let path = dir.join(format!("wide-{N}.ring"));
    let opts = RingOptions::default().evidence_bytes_max(16 + 40);
    let mut log: RingLog<Wide<N>> = RingLog::open_with(&path, 5, opts.clone()).unwrap();
    let evidence =
        |seq: u64| (seq % 3 == 1).then(|| ReplayFailureEvidence::new(FailureKind::Runtime, seq as i64, "over budget"));
    for seq in 0..12 {
        match evidence(seq) {
            Some(e) => log.append_with_failure(&Wide::new(seq), &e).unwrap(),
            None => log.append(&Wide::new(seq)).unwrap(),
        }
    }
    let check = |log: &RingLog<Wide<N>>| {
        let recs = log.replay_records().unwrap();
        assert_eq!(recs.iter().map(|r| r.seq).collect::<Vec<_>>(), (7..12).collect::<Vec<_>>(), "{N} B");
        for r in recs {
            assert_eq!(r.record, Wide::new(r.seq), "{N} B seq {}", r.seq);
            assert_eq!(r.evidence, evidence(r.seq), "{N} B seq {}", r.seq);
        }
    };
    check(&log);
    drop(log);
    check(&RingLog::open_with(&path, 5, opts).unwrap());
}

/// `append` checksums slots whose checksummed bytes reach 256 in two passes (header from a copy,
/// then the record in the slot) and smaller ones in one; both must produce the checksum that
/// replay (one pass over the slot) verifies, with and without evidence, on both sides of the
/// threshold (16 header bytes + 240 = 256).
#[test]
fn records_on_both_sides_of_the_two_pass_checksum_threshold_roundtrip() {
    let dir = scratch();
    wide_roundtrip::<8>(dir.path());
    wide_roundtrip::<232>(dir.path());
    wide_roundtrip::<239>(dir.path());
    wide_roundtrip::<240>(dir.path());
    wide_roundtrip::<248>(dir.path());
    wide_roundtrip::<1000>(dir.path());
    wide_roundtrip::<4096>(dir.path());
}
