//! Model check (loom) of the journal's group commit, on the journal's own code: under
//! `--cfg loom` its mutex and condition variable are loom's. Two writers in `SyncMode::Sync`
//! race on the simulated disk; under every interleaving loom explores, when a `write` returns,
//! its frame is on the platter and covered by the durable watermark — no writer is acknowledged
//! before its bytes are synced — and the two LSNs are distinct and consecutive.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --test loom_group_commit` (CI does).
#![cfg(loom)]

use std::path::Path;
use std::sync::Arc;

use replaylog::lowlevel::format::journal::{DATA_OFFSET, WATERMARK_OFFSETS, Watermark, check_frame};
use replaylog::lowlevel::storage::sim::SimStorage;
use replaylog::{Ack, Journal, JournalOptions, Lsn, SyncMode};

/// The frame of `lsn` is durable and, if `covered`, the durable watermark covers it.
fn assert_durable(sim: &SimStorage, lsn: Lsn, data: &[u8], covered: bool) {
    let seg = sim.durable_contents(Path::new("/g/00000000000000000000.seg")).expect("segment durable");
    let wm = WATERMARK_OFFSETS
        .iter()
        .filter_map(|o| seg.get(*o as usize..).and_then(Watermark::decode))
        .max_by_key(|w| w.generation.get())
        .expect("a durable watermark");
    let (mut off, mut next) = (DATA_OFFSET as usize, 1u64);
    loop {
        let (h, n) =
            check_frame(&seg[off..], next).unwrap_or_else(|f| panic!("lsn {lsn:?} acknowledged, not durable: {f}"));
        if next == lsn.0 {
            assert_eq!(&seg[off + 24..off + n], data);
            if covered {
                assert!(
                    (off + n) as u64 <= wm.valid_bytes.get(),
                    "lsn {lsn:?} acknowledged beyond the durable watermark"
                );
            }
            assert_eq!(h.lsn.get(), lsn.0);
            return;
        }
        off += n;
        next += 1;
    }
}

/// Writes per writer: with two, a writer released by one round appends again while the next
/// leader gathers, so loom explores gathering that succeeds as well as gathering in vain.
const WRITES: u8 = 2;

fn two_writers(ack: Ack) {
    loom::model(move || {
        let sim = SimStorage::new();
        let opts = JournalOptions::default().sync(SyncMode::Sync).ack(ack).storage(Arc::new(sim.clone()));
        let j = loom::sync::Arc::new(Journal::open("/g", opts).unwrap());
        let writers: Vec<_> = (0..2u8)
            .map(|t| {
                let (j, sim) = (j.clone(), sim.clone());
                loom::thread::spawn(move || {
                    (0..WRITES)
                        .map(|i| {
                            let data = [t * 16 + i; 3];
                            let lsn = j.write(&data).unwrap();
                            assert_durable(&sim, lsn, &data, ack == Ack::Watermarked);
                            lsn
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut lsns: Vec<Lsn> = writers.into_iter().flat_map(|w| w.join().unwrap()).collect();
        lsns.sort();
        assert_eq!(lsns, (1..=2 * u64::from(WRITES)).map(Lsn).collect::<Vec<_>>());
    });
}

#[test]
fn no_writer_is_acknowledged_before_its_bytes_are_synced() {
    two_writers(Ack::Watermarked);
}

/// `Ack::DataSynced`: acknowledged once the frame is durable (its watermark may follow later).
#[test]
fn no_writer_is_acknowledged_before_its_frame_is_synced_data_synced() {
    two_writers(Ack::DataSynced);
}
