//! Journal benchmarks: `Journal` writes in every sync mode, next to raw file baselines.
//!
//! Entries are 64 B, 1 KiB and 64 KiB of pseudo-random (splitmix64) bytes. They are
//! incompressible (checked at start-up), so lz4 does not flatter the journal: with the default
//! `compress_min_bytes` (4096) the 64 KiB entries pay for an lz4 attempt and are then stored raw.
//! Every benchmark function works in its own fresh `tempfile` directory under the system temp
//! dir, which must be a disk filesystem (a note is printed if it is tmpfs: fdatasync is then
//! free and the `sync` figures mean nothing). Byte throughput counts entry payload only (no
//! length prefixes, frame headers or watermarks).
//!
//! Groups, in the order they run (the fdatasync-bound ones first: the async group pushes
//! gigabytes through segment rolls and deletes them again, which leaves fdatasync latency erratic
//! for a while afterwards):
//!
//! * `sync/<variant>/<size>` — cost of one durable append:
//!   * `raw_fdatasync` — the sync limit: one `write_all` of length prefix + entry, then
//!     `sync_data`, on one growing file.
//!   * `journal` — `Journal` in `SyncMode::Sync`: the frame is written and fdatasynced, then the
//!     durable watermark is written and fdatasynced. journal / raw is the price of the watermark.
//! * `group_commit/<threads>` — 1, 2, 4 and 8 threads share one `Arc<Journal>` in
//!   `SyncMode::Sync`, each writing 64 B entries as fast as it can. One iteration is one entry
//!   per thread, so the time is wall time per round and the throughput is aggregate entries/s.
//! * `async/<variant>/<size>` — cost of one buffered append; nothing is made durable on purpose:
//!   * `raw_bufwriter` — the async limit: a `BufWriter<File>` with a 256 KiB buffer (the
//!     journal's own flush threshold) appending a 4-byte length prefix and the entry. No
//!     checksum, no segments, never synced.
//!   * `journal` — `Journal` in `SyncMode::Async`, other options default. Its cost includes the
//!     amortised segment rolls (every 16 MiB a roll seals the segment durably, two fdatasyncs,
//!     and creates the next segment durably, fdatasync and directory fsync).
//!
//!   Either target is closed, deleted and replaced by a fresh one after 128 MiB, outside the
//!   measurement, so disk use stays bounded whatever the iteration count.
//! * `interval/64B` — cost of one 64 B `write` with `SyncMode::Interval(10)`, while the
//!   background flusher makes everything durable every 10 ms (replaced after 128 MiB as above).
//!
//! Quick check: `cargo bench --bench journal -- --test` (each benchmark once, a few seconds).
//! Full run: `cargo bench --bench journal` (about a minute).

use std::fs::{self, File, OpenOptions};
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use replaylog::{Journal, JournalOptions, SyncMode};

/// Entry sizes of the `async` and `sync` groups, with their labels.
const SIZES: [(usize, &str); 3] = [(64, "64B"), (1024, "1KiB"), (64 * 1024, "64KiB")];
/// Entry size of the `group_commit` and `interval` groups.
const SMALL_ENTRY: usize = 64;
/// Writer threads of the `group_commit` group.
const GROUP_THREADS: [usize; 4] = [1, 2, 4, 8];
/// Bytes appended to one target before it is replaced by a fresh one (not timed).
const REPLACE_BYTES: u64 = 128 << 20;
/// Bytes a target stores per entry beyond the payload, for the replacement budget (the journal's
/// 24-byte frame header; the raw baselines use 4).
const ENTRY_OVERHEAD_BYTES: u64 = 24;
/// The raw async baseline's buffer: the journal hands its buffer to the file at 256 KiB too.
const RAW_BUF_BYTES: usize = 256 * 1024;

/// `len` pseudo-random bytes (splitmix64), different for each `seed`.
fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len.next_multiple_of(8));
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A random entry of `len` bytes that lz4 cannot shrink.
fn entry(len: usize) -> Vec<u8> {
    let data = random_bytes(len, len as u64);
    assert!(lz4_flex::block::compress(&data).len() >= data.len(), "bench entry of {len} B is compressible");
    data
}

static TMPFS_NOTE: AtomicBool = AtomicBool::new(false);

fn scratch_dir() -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix("replaylog-bench-").tempdir().expect("temp dir");
    let tmpfs =
        nix::sys::statfs::statfs(dir.path()).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
    if tmpfs && !TMPFS_NOTE.swap(true, Ordering::Relaxed) {
        eprintln!("note: {} is on tmpfs: fdatasync is free, sync figures are meaningless", dir.path().display());
    }
    dir
}

fn journal_options(mode: SyncMode) -> JournalOptions {
    JournalOptions::default().sync(mode)
}

/// A target of the `async` and `interval` groups.
trait Appender: Sized {
    /// Appends one entry (timed).
    fn append(&mut self, entry: &[u8]);
    /// Closes the target and deletes its files (not timed).
    fn remove(self);
}

/// The raw async baseline: length-prefixed entries through a `BufWriter`.
struct RawBuffered {
    path: PathBuf,
    out: BufWriter<File>,
}

impl RawBuffered {
    fn create(path: PathBuf) -> RawBuffered {
        let file = OpenOptions::new().write(true).create_new(true).open(&path).expect("create raw file");
        RawBuffered { path, out: BufWriter::with_capacity(RAW_BUF_BYTES, file) }
    }
}

impl Appender for RawBuffered {
    #[inline]
    fn append(&mut self, entry: &[u8]) {
        self.out.write_all(&(entry.len() as u32).to_le_bytes()).expect("write");
        self.out.write_all(entry).expect("write");
    }

    fn remove(self) {
        drop(self.out.into_inner().expect("flush raw file"));
        fs::remove_file(&self.path).expect("remove raw file");
    }
}

/// A journal in its own directory.
struct JournalAppender {
    dir: PathBuf,
    journal: Journal,
}

impl JournalAppender {
    fn create(dir: PathBuf, mode: SyncMode) -> JournalAppender {
        let journal = Journal::open(&dir, journal_options(mode)).expect("open journal");
        JournalAppender { dir, journal }
    }
}

impl Appender for JournalAppender {
    #[inline]
    fn append(&mut self, entry: &[u8]) {
        black_box(self.journal.write(entry).expect("journal write"));
    }

    fn remove(self) {
        self.journal.close().expect("close journal");
        drop(self.journal);
        fs::remove_dir_all(&self.dir).expect("remove journal");
    }
}

/// Creates targets on demand and replaces each after `REPLACE_BYTES`, outside the measurement.
struct Replacing<T: Appender, F> {
    dir: tempfile::TempDir,
    created: u64,
    make: F,
    target: Option<T>,
    bytes: u64,
}

impl<T: Appender, F: FnMut(PathBuf) -> T> Replacing<T, F> {
    fn new(make: F) -> Self {
        Replacing { dir: scratch_dir(), created: 0, make, target: None, bytes: 0 }
    }

    /// Appends `entry` `iters` times; returns the time spent appending only.
    fn run(&mut self, iters: u64, entry: &[u8]) -> Duration {
        let per_entry = entry.len() as u64 + ENTRY_OVERHEAD_BYTES;
        let mut total = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if self.target.is_none() || self.bytes + per_entry > REPLACE_BYTES {
                if let Some(old) = self.target.take() {
                    old.remove();
                }
                self.created += 1;
                let path = self.dir.path().join(format!("target-{}", self.created));
                self.target = Some((self.make)(path));
                self.bytes = 0;
            }
            let n = left.min((REPLACE_BYTES - self.bytes) / per_entry).max(1);
            let target = self.target.as_mut().expect("target");
            let start = Instant::now();
            for _ in 0..n {
                target.append(black_box(entry));
            }
            total += start.elapsed();
            self.bytes += n * per_entry;
            left -= n;
        }
        total
    }
}

impl<T: Appender, F> Drop for Replacing<T, F> {
    fn drop(&mut self) {
        if let Some(target) = self.target.take() {
            target.remove();
        }
    }
}

fn bench_async(c: &mut Criterion) {
    let mut group = c.benchmark_group("async");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    for (size, label) in SIZES {
        let data = entry(size);
        group.throughput(Throughput::Bytes(size as u64));
        let mut raw = Replacing::new(RawBuffered::create);
        group.bench_function(BenchmarkId::new("raw_bufwriter", label), |b| b.iter_custom(|n| raw.run(n, &data)));
        drop(raw);
        let mut journal = Replacing::new(|path| JournalAppender::create(path, SyncMode::Async));
        group.bench_function(BenchmarkId::new("journal", label), |b| b.iter_custom(|n| journal.run(n, &data)));
        drop(journal);
    }
    group.finish();
}

fn bench_sync(c: &mut Criterion) {
    let mut group = c.benchmark_group("sync");
    // Every iteration is one or two fdatasyncs (0.2-2 ms here): bounded samples and measurement time.
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_secs(3));
    for (size, label) in SIZES {
        let data = entry(size);
        group.throughput(Throughput::Bytes(size as u64));

        let dir = scratch_dir();
        let mut frame = (size as u32).to_le_bytes().to_vec();
        frame.extend_from_slice(&data);
        let mut file = None;
        group.bench_function(BenchmarkId::new("raw_fdatasync", label), |b| {
            let file = file.get_or_insert_with(|| {
                OpenOptions::new().write(true).create_new(true).open(dir.path().join("raw")).expect("create raw file")
            });
            b.iter(|| {
                file.write_all(black_box(&frame)).expect("write");
                file.sync_data().expect("fdatasync");
            })
        });
        drop(file);

        let mut journal = None;
        group.bench_function(BenchmarkId::new("journal", label), |b| {
            let journal = journal.get_or_insert_with(|| {
                Journal::open(dir.path().join("journal"), journal_options(SyncMode::Sync)).expect("open journal")
            });
            b.iter(|| journal.write(black_box(&data)).expect("journal write"))
        });
        if let Some(journal) = journal {
            journal.close().expect("close journal");
        }
    }
    group.finish();
}

fn bench_group_commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("group_commit");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    group.warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(2500));
    let data: Arc<[u8]> = entry(SMALL_ENTRY).into();
    for threads in GROUP_THREADS {
        group.throughput(Throughput::Elements(threads as u64));
        let dir = scratch_dir();
        let mut journal: Option<Arc<Journal>> = None;
        group.bench_function(BenchmarkId::from_parameter(threads), |b| {
            let journal = journal.get_or_insert_with(|| {
                Arc::new(Journal::open(dir.path().join("journal"), journal_options(SyncMode::Sync)).expect("open"))
            });
            b.iter_custom(|iters| {
                let start_line = Arc::new(Barrier::new(threads + 1));
                let writers: Vec<_> = (0..threads)
                    .map(|_| {
                        let (journal, data, start_line) = (journal.clone(), data.clone(), start_line.clone());
                        thread::spawn(move || {
                            start_line.wait();
                            for _ in 0..iters {
                                journal.write(black_box(&data)).expect("journal write");
                            }
                        })
                    })
                    .collect();
                start_line.wait();
                let start = Instant::now();
                for w in writers {
                    w.join().expect("writer thread");
                }
                start.elapsed()
            })
        });
        if let Some(journal) = journal {
            journal.close().expect("close journal");
        }
    }
    group.finish();
}

fn bench_interval(c: &mut Criterion) {
    let mut group = c.benchmark_group("interval");
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    group.warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
    group.throughput(Throughput::Bytes(SMALL_ENTRY as u64));
    let data = entry(SMALL_ENTRY);
    let mut journal = Replacing::new(|path| JournalAppender::create(path, SyncMode::Interval(10)));
    group.bench_function("64B", |b| b.iter_custom(|n| journal.run(n, &data)));
    drop(journal);
    group.finish();
}

// fdatasync-bound groups first (see the module comment).
criterion_group!(benches, bench_sync, bench_group_commit, bench_async, bench_interval);
criterion_main!(benches);
