//! Model check (loom) of the ring's slot publish protocol: the very `seqlock` functions the
//! writer and the readers call, run by a writer that publishes two laps into one slot while a
//! reader reads it. Under every interleaving and memory reordering loom explores, a read that the
//! protocol accepts returns a body that belongs to the seq it reports: never half of one write
//! and half of another.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --test loom_seqlock` (CI does).
#![cfg(loom)]

use std::sync::atomic::Ordering::Relaxed;

use loom::sync::Arc;
use loom::sync::atomic::AtomicU64;
use loom::thread;
use replaylog::lowlevel::seqlock::{SeqSlot, begin_read, begin_write, end_read, end_write};

struct Slot {
    seq: AtomicU64,
    body: [AtomicU64; 2],
}

struct Word<'a>(&'a Slot);

impl SeqSlot for Word<'_> {
    fn load_seq(&self, order: std::sync::atomic::Ordering) -> u64 {
        self.0.seq.load(order)
    }
    fn store_seq(&mut self, value: u64, order: std::sync::atomic::Ordering) {
        self.0.seq.store(value, order)
    }
}

fn write(slot: &Slot, seq: u64) {
    let mut w = Word(slot);
    begin_write(&mut w);
    slot.body[0].store(seq * 10, Relaxed);
    slot.body[1].store(seq * 10 + 1, Relaxed);
    end_write(&mut w, seq);
}

/// One read attempt: `Some((seq, body))` when the protocol accepts it.
fn read(slot: &Slot) -> Option<(u64, [u64; 2])> {
    let w = Word(slot);
    let seq = begin_read(&w)?;
    let body = [slot.body[0].load(Relaxed), slot.body[1].load(Relaxed)];
    end_read(&w, seq).then_some((seq, body))
}

#[test]
fn a_reader_never_accepts_a_half_written_body() {
    loom::model(|| {
        let slot = Arc::new(Slot { seq: AtomicU64::new(0), body: [AtomicU64::new(0), AtomicU64::new(1)] });
        let writer = {
            let slot = slot.clone();
            thread::spawn(move || {
                write(&slot, 1);
                write(&slot, 2);
            })
        };
        if let Some((seq, body)) = read(&slot) {
            assert_eq!(body, [seq * 10, seq * 10 + 1], "accepted a torn body for seq {seq}");
        }
        writer.join().unwrap();
        // After the writer finished, a read is accepted and sees the last lap.
        assert_eq!(read(&slot), Some((2, [20, 21])));
    });
}
