//! Model check (loom) of the ring's slot publish protocol: the very `seqlock` functions the
//! writer and the readers call — `begin_write`/`end_write`/`begin_read`/`end_read` and the
//! per-word body copies `store_words`/`load_words` — run over loom's atomics by a writer that
//! publishes two laps into one slot while a reader reads it. Under every interleaving and memory
//! reordering loom explores, a read that the protocol accepts returns a body that belongs to the
//! seq it reports: never parts of two writes. Every access to the shared slot is atomic here, as
//! in the crate, so loom would also report a data race (it checks `UnsafeCell` accesses, which
//! there are none of: the model has nothing a plain copy could race on).
//!
//! Run: `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test --release --test
//! loom_seqlock` (CI does).
#![cfg(loom)]

use std::sync::atomic::Ordering;

use loom::sync::Arc;
use loom::sync::atomic::AtomicU64;
use loom::thread;
use replaylog::lowlevel::seqlock::{
    AtomicWord, SeqSlot, begin_read, begin_write, end_read, end_write, load_words, store_words,
};

/// One slot word over loom's atomics, as `AtomicU64` over the mapping is in the crate.
struct Word(AtomicU64);

impl AtomicWord for Word {
    fn load(&self, order: Ordering) -> u64 {
        self.0.load(order)
    }
    fn store(&self, value: u64, order: Ordering) {
        self.0.store(value, order)
    }
}

/// Body bytes `BODY_SKIP .. BODY_SKIP + BODY_BYTES` of two words: the copies start in the middle
/// of the first word and end in the middle of the second, so the model covers the partial-word
/// merges as well as the seqlock.
const BODY_SKIP: usize = 3;
const BODY_BYTES: usize = 9;

struct Slot {
    seq: AtomicU64,
    body: [Word; 2],
}

struct SeqWord<'a>(&'a Slot);

impl SeqSlot for SeqWord<'_> {
    fn load_seq(&self, order: Ordering) -> u64 {
        self.0.seq.load(order)
    }
    fn store_seq(&mut self, value: u64, order: Ordering) {
        self.0.seq.store(value, order)
    }
}

/// The body lap `seq` writes.
fn body_of(seq: u64) -> [u8; BODY_BYTES] {
    std::array::from_fn(|i| (seq * 16 + i as u64) as u8)
}

fn write(slot: &Slot, seq: u64) {
    let mut w = SeqWord(slot);
    begin_write(&mut w);
    store_words(&slot.body, BODY_SKIP, &body_of(seq));
    end_write(&mut w, seq);
}

/// One read attempt: `Some((seq, body))` when the protocol accepts it.
fn read(slot: &Slot) -> Option<(u64, [u8; BODY_BYTES])> {
    let w = SeqWord(slot);
    let seq = begin_read(&w)?;
    let mut body = [0u8; BODY_BYTES];
    load_words(&slot.body, BODY_SKIP, &mut body);
    end_read(&w, seq).then_some((seq, body))
}

#[test]
fn a_reader_never_accepts_a_half_written_body() {
    loom::model(|| {
        // Seq 0 is published with its body at the start.
        let words: [u64; 2] = {
            let mut bytes = [0u8; 16];
            bytes[BODY_SKIP..BODY_SKIP + BODY_BYTES].copy_from_slice(&body_of(0));
            [u64::from_ne_bytes(bytes[..8].try_into().unwrap()), u64::from_ne_bytes(bytes[8..].try_into().unwrap())]
        };
        let slot = Arc::new(Slot {
            seq: AtomicU64::new(0),
            body: [Word(AtomicU64::new(words[0])), Word(AtomicU64::new(words[1]))],
        });
        let writer = {
            let slot = slot.clone();
            thread::spawn(move || {
                write(&slot, 1);
                write(&slot, 2);
            })
        };
        if let Some((seq, body)) = read(&slot) {
            assert_eq!(body, body_of(seq), "accepted a torn body for seq {seq}");
        }
        writer.join().unwrap();
        // After the writer finished, a read is accepted and sees the last lap.
        assert_eq!(read(&slot), Some((2, body_of(2))));
    });
}
