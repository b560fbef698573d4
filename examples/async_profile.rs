//! Issue 22, item 4: where an `SyncMode::Async` 64-byte write spends its time, next to a
//! `BufWriter`, counted in instructions by callgrind (repeatable on a busy machine):
//!
//! ```sh
//! cargo build --release --example async_profile
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/j.cg target/release/examples/async_profile journal 200000
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/b.cg target/release/examples/async_profile bufwriter 200000
//! callgrind_annotate /tmp/j.cg | head -40
//! ```
//!
//! Each run first writes `N` entries untimed as a warm-up (the segment's preallocation, the
//! page cache), then `N` more; subtract a run of `0` to get the cost of the writes alone.

use std::io::Write;

use replaylog::{Journal, JournalOptions, SyncMode};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let what = args.get(1).map_or("journal", String::as_str);
    let n: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let entry = [0x5au8; 64];
    match what {
        "journal" => {
            let opts = JournalOptions::default().sync(SyncMode::Async);
            let j = Journal::open(dir.path().join("j"), opts).expect("open");
            for _ in 0..n {
                j.write(std::hint::black_box(&entry)).expect("write");
            }
            j.close().expect("close");
        }
        "bufwriter" => {
            let f = std::fs::File::create(dir.path().join("raw")).expect("create");
            let mut w = std::io::BufWriter::with_capacity(256 * 1024, f);
            for _ in 0..n {
                w.write_all(std::hint::black_box(&entry)).expect("write");
            }
            w.flush().expect("flush");
        }
        other => panic!("journal or bufwriter, not {other}"),
    }
}
