//! Archiver throughput: how fast a ring is drained into a journal.
//!
//! * `archive/drain/64B` — a ring prefilled with 1,000,000 records of 64 B (evidence area 16 B,
//!   so the ring does not wrap) is archived from its oldest record into a fresh journal on the
//!   disk (`SyncMode::Interval(100)`, the archiver's default); timed from `Archiver::start` to
//!   `stop` returning (everything synced and closed). Throughput is records per second: the
//!   rate a live writer can sustain without the archiver falling behind.
//!
//! Run: `cargo bench --bench archive`.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use replaylog::archive::{Archiver, ArchiverOptions};
use replaylog::{RingLog, RingOptions};

const RECORDS: u64 = 1_000_000;

fn drain(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ring = dir.path().join("bench.ring");
    {
        let opts = RingOptions::default().evidence_bytes_max(16).prefault(true);
        let mut log: RingLog<[u8; 64]> = RingLog::open_with(&ring, RECORDS, opts).expect("ring");
        let mut rec = [7u8; 64];
        for s in 0..RECORDS {
            rec[..8].copy_from_slice(&s.to_le_bytes());
            log.append(&rec).expect("append");
        }
        log.sync().expect("sync");
    }
    let mut g = c.benchmark_group("archive");
    g.throughput(Throughput::Elements(RECORDS));
    g.sample_size(10).measurement_time(Duration::from_secs(20));
    g.bench_function("drain/64B", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for i in 0..iters {
                let arch = dir.path().join(format!("archive-{i}"));
                let start = Instant::now();
                let a = Archiver::start(&ring, &arch, ArchiverOptions::default()).expect("start");
                while a.stats().archived < RECORDS {
                    std::thread::sleep(Duration::from_micros(200));
                }
                let stats = a.stop().expect("stop");
                total += start.elapsed();
                assert_eq!(black_box(stats).missed, 0);
                std::fs::remove_dir_all(&arch).expect("cleanup");
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, drain);
criterion_main!(benches);
