//! Corruption sweeps over a small ring: every byte offset flipped with four patterns, and the file
//! truncated to every length. Zero false accepts (a damaged record is never returned as valid),
//! zero panics, and a typed error whenever the ring cannot be opened.

mod common;

use common::*;
use replaylog::{ReplayLogError, RingLog, RingOptions};

const CAP: u64 = 5;

fn options() -> RingOptions {
    RingOptions::default().evidence_bytes_max(32).lock_wait_ms(0).layout_of::<Rec>()
}

/// A wrapped ring (seqs 3..=7 live) with evidence on some records, synced.
fn pristine(dir: &tempfile::TempDir) -> Vec<u8> {
    let path = dir.path().join("pristine.ring");
    let mut log: RingLog<Rec> = RingLog::open_with(&path, CAP, options()).unwrap();
    for seq in 0..8 {
        if seq % 3 == 0 {
            let ev = replaylog::ReplayFailureEvidence::new(replaylog::FailureKind::Backend, seq as i64, "bad €");
            log.append_with_failure(&Rec::new(0, seq), &ev).unwrap();
        } else {
            log.append(&Rec::new(0, seq)).unwrap();
        }
    }
    log.sync().unwrap();
    drop(log);
    std::fs::read(&path).unwrap()
}

/// Opens `bytes` as a ring; every record it returns must be the one appended at its seq.
/// Returns whether the open succeeded.
fn open_and_check(path: &std::path::Path, bytes: &[u8], ctx: &str) -> Result<usize, ReplayLogError> {
    std::fs::write(path, bytes).unwrap();
    let log: RingLog<Rec> = match RingLog::open_with(path, CAP, options()) {
        Ok(log) => log,
        Err(e) => {
            // A refused open (damaged header copies, layout block) leaves the file as it was.
            assert_eq!(std::fs::read(path).unwrap(), bytes, "{ctx}: refused ({e}) but modified the file");
            return Err(e);
        }
    };
    let recs = match log.replay_records() {
        Ok(r) => r,
        Err(e) => panic!("{ctx}: replay after a successful open failed: {e}"),
    };
    for w in recs.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "{ctx}: not contiguous");
    }
    for r in &recs {
        assert_eq!(r.record, Rec::new(0, r.seq), "{ctx}: false accept at seq {}", r.seq);
        assert!((3..=7).contains(&r.seq), "{ctx}: seq {} outside the live window", r.seq);
        let want = (r.seq % 3 == 0).then_some(("bad €", r.seq as i64));
        assert_eq!(r.evidence.as_ref().map(|e| (e.message.as_str(), e.code)), want, "{ctx}: evidence altered");
    }
    Ok(recs.len())
}

#[test]
fn every_byte_flipped_four_ways() {
    let dir = scratch();
    let good = pristine(&dir);
    let path = dir.path().join("flip.ring");
    assert_eq!(open_and_check(&path, &good, "pristine").unwrap(), 5);
    let (mut opened, mut refused, mut shortened) = (0u64, 0u64, 0u64);
    for off in 0..good.len() {
        for mask in [0x01u8, 0x80, 0xFF, 0x5A] {
            let mut bad = good.clone();
            bad[off] ^= mask;
            let ctx = format!("byte {off} ^ {mask:#04x}");
            match open_and_check(&path, &bad, &ctx) {
                Ok(n) => {
                    opened += 1;
                    if n < 5 {
                        shortened += 1;
                    }
                }
                Err(ReplayLogError::HeaderMismatch { .. } | ReplayLogError::Corrupt { .. }) => refused += 1,
                Err(e) => panic!("{ctx}: unexpected error kind: {e}"),
            }
        }
    }
    println!(
        "flip sweep: {} files ({} bytes x 4 patterns): {opened} opened ({shortened} with a shorter window), \
         {refused} refused with a typed error, 0 false accepts, 0 panics",
        good.len() * 4,
        good.len()
    );
    assert!(shortened > 0 && opened > 0);
}

#[test]
fn every_truncation_is_refused_untouched() {
    let dir = scratch();
    let good = pristine(&dir);
    let path = dir.path().join("trunc.ring");
    for len in 0..good.len() {
        std::fs::write(&path, &good[..len]).unwrap();
        let before = image(&path);
        match RingLog::<Rec>::open_with(&path, CAP, options()) {
            Err(ReplayLogError::HeaderMismatch { .. }) => {}
            other => panic!("length {len}: expected HeaderMismatch, got {other:?}"),
        }
        assert_eq!(image(&path), before, "length {len}: file modified");
    }
    println!("truncation sweep: {} lengths refused with HeaderMismatch, files untouched", good.len());
}
