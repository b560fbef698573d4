//! Regressions for what fuzzing `journal::validate` / `Journal::open` on arbitrary segment bytes
//! found (fuzz/artifacts-found/): counters near their limits overflowed, a hang, and watermarks
//! that did not match their segment's frames were trusted. Each crafted file must now give a
//! typed error (or a clean open), never a panic or a hang, and a refused open changes nothing.

mod common;

use std::path::Path;

use common::*;
use replaylog::journal::validate;
use replaylog::lowlevel::format::journal::*;
use replaylog::zerocopy::IntoBytes;
use replaylog::{Journal, JournalOptions, ReplayLogError, SyncMode};

/// A closed journal with one segment of 5 entries; returns the segment path and bytes.
fn journal(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let j = Journal::open(dir, JournalOptions::default().sync(SyncMode::Sync)).unwrap();
    for i in 0..5u64 {
        j.write(&i.to_le_bytes()).unwrap();
    }
    j.close().unwrap();
    let seg = dir.join(segment_name(0));
    let bytes = std::fs::read(&seg).unwrap();
    (seg, bytes)
}

/// Overwrites both watermark copies with `w` (generation bumped on the second copy).
fn set_watermarks(bytes: &mut [u8], valid_bytes: u64, next_lsn: u64, sealed: bool, generation: u64) {
    for (i, off) in WATERMARK_OFFSETS.iter().enumerate() {
        let w = Watermark::new(generation.saturating_add(i as u64), valid_bytes, next_lsn, sealed);
        bytes[*off as usize..*off as usize + WATERMARK_BYTES].copy_from_slice(w.as_bytes());
    }
}

fn expect_refused(dir: &Path, seg: &Path, what: &str) {
    let before = std::fs::read(seg).unwrap();
    match Journal::open(dir, JournalOptions::default()) {
        Err(ReplayLogError::Corrupt { .. } | ReplayLogError::HeaderMismatch { .. }) => {}
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
    assert!(validate(dir).is_ok_and(|v| v.problem.is_some()) || validate(dir).is_err(), "{what}: validate");
    assert_eq!(std::fs::read(seg).unwrap(), before, "{what}: a refused open changed the segment");
}

#[test]
fn watermarks_that_do_not_match_the_frames_are_corrupt() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let (seg, pristine) = journal(&dir);
    let end = pristine.len() as u64;
    // The next LSN claimed ahead of the frames: a Sync write would have been "durable" at once.
    let mut b = pristine.clone();
    set_watermarks(&mut b, end, 9, false, 10);
    std::fs::write(&seg, &b).unwrap();
    expect_refused(&dir, &seg, "next lsn ahead");
    // A durable end in the middle of a frame, sealed and not.
    for sealed in [false, true] {
        let mut b = pristine.clone();
        set_watermarks(&mut b, end - 3, 6, sealed, 10);
        std::fs::write(&seg, &b).unwrap();
        expect_refused(&dir, &seg, "end mid-frame");
    }
    std::fs::write(&seg, &pristine).unwrap();
    Journal::open(&dir, JournalOptions::default()).unwrap().close().unwrap();
}

#[test]
fn out_of_range_counters_are_refused_without_overflow_or_hang() {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let (seg, pristine) = journal(&dir);
    let end = pristine.len() as u64;
    // Watermark generation at u64::MAX (used to overflow on the next sync / hang): the copy is
    // out of range, so no watermark is valid at all.
    let mut b = pristine.clone();
    set_watermarks(&mut b, end, 6, false, u64::MAX);
    std::fs::write(&seg, &b).unwrap();
    expect_refused(&dir, &seg, "generation u64::MAX");
    // A durable end below the first frame.
    let mut b = pristine.clone();
    set_watermarks(&mut b, 100, 1, true, 10);
    std::fs::write(&seg, &b).unwrap();
    expect_refused(&dir, &seg, "end below the data");
    // First LSN 0 and u64::MAX in an otherwise valid header.
    for first in [0u64, u64::MAX] {
        let mut b = pristine.clone();
        let h = SegmentHeader::new(0, first, 0);
        b[..SEGMENT_HEADER_BYTES].copy_from_slice(h.as_bytes());
        std::fs::write(&seg, &b).unwrap();
        expect_refused(&dir, &seg, &format!("first lsn {first}"));
    }
    std::fs::write(&seg, &pristine).unwrap();
    // The largest segment number a name can hold, with a header that agrees.
    let max_name = dir.join(segment_name(u64::MAX));
    let mut b = pristine.clone();
    b[..SEGMENT_HEADER_BYTES].copy_from_slice(SegmentHeader::new(u64::MAX, 6, 0).as_bytes());
    std::fs::write(&max_name, &b).unwrap();
    let before = std::fs::read(&max_name).unwrap();
    assert!(Journal::open(&dir, JournalOptions::default()).is_err());
    let _ = validate(&dir);
    let _ = validate(&max_name);
    assert_eq!(std::fs::read(&max_name).unwrap(), before);
}
