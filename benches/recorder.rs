//! Recorder benchmarks: `RingLog` append and replay, next to a raw memory-mapped baseline.
//!
//! * `append/<variant>/<size>` — steady-state cost of one append of a 64 B or 256 B record into a
//!   65536-slot ring that has already completed one full lap (so no variant pays first-touch page
//!   faults inside the measurement):
//!   * `raw_mmap` — the hardware limit, written as simply as possible: a prefaulted `MmapMut` of
//!     the same slot stride; copy the record, CRC-32 it, store the CRC and the seq in the slot, store
//!     the cursor. No seqlock, no epoch, no evidence, no bounds beyond slicing.
//!   * `ringlog_default` — `RingLog::open` with default options.
//!   * `ringlog_prefault_mlock` — `prefault(true).mlock(true)`; if `mlock` is refused, a note is
//!     printed and the ring is opened with `prefault(true)` only (id `ringlog_prefault_nomlock`).
//! * `first_lap/<variant>/<size>` — time for the first lap of a fresh 16384-slot ring (opening the
//!   ring is not timed): this is where `prefault` and `mlock` differ from the default.
//! * `replay/<method>/<size>` — `replay_all` (and the allocation-free `iter`) over a full
//!   65536-slot ring; throughput is record bytes returned.
//! * `reader/<api>/<size>` — a live reader's path (the seqlock read: per-word atomic copy of each
//!   slot, recheck, CRC): `RawReader::poll` (`raw_poll`, what `replaylog tail` runs) and
//!   `RingReader::poll` (`typed_poll`) returning every record of a full 65536-slot ring, one
//!   `poll` per record, from a separate read-only mapping as another thread or process would.
//!   The reader's pages are faulted in (census) outside the timed part. Throughput: record bytes.
//!
//! Quick run: `cargo bench --bench recorder -- --quick`.

use std::fs::OpenOptions;
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use memmap2::{MmapMut, MmapOptions};
use replaylog::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use replaylog::{RawReader, ReadOutcome, ReplayLogError, RingLog, RingOptions, RingReader, StartAt};

/// Slots in the steady-state and replay rings.
const CAPACITY: u64 = 65_536;
/// Slots in the first-lap rings (smaller, since each measured lap needs a freshly created file).
const FIRST_LAP_CAPACITY: u64 = 16_384;
/// Bytes before slot 0 in the raw baseline (holds the cursor).
const RAW_HEADER_BYTES: usize = 4096;
/// Evidence bytes a default ring reserves per slot (`RingOptions::default().evidence_bytes_max`).
const EVIDENCE_BYTES: usize = 256;
/// A ring slot's header bytes (seq, magic, epoch, flags, evidence length, CRC).
const SLOT_HEADER_BYTES: usize = replaylog::lowlevel::format::ring::SLOT_HEADER_BYTES;

/// The slot stride of a default ring for records of `record_bytes`.
const fn slot_stride(record_bytes: usize) -> usize {
    (SLOT_HEADER_BYTES + record_bytes + EVIDENCE_BYTES).div_ceil(8) * 8
}

trait BenchRecord: FromBytes + IntoBytes + Immutable + KnownLayout + Copy {
    const LABEL: &'static str;
    fn new(seq: u64) -> Self;
    fn set_seq(&mut self, seq: u64);
}

macro_rules! bench_record {
    ($name:ident, $words:expr, $label:expr) => {
        #[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy)]
        #[zerocopy(crate = "replaylog::zerocopy")]
        #[repr(C)]
        struct $name {
            seq: u64,
            payload: [u64; $words],
        }

        const _: () = assert!(size_of::<$name>() == 8 * ($words + 1));

        impl BenchRecord for $name {
            const LABEL: &'static str = $label;

            fn new(seq: u64) -> Self {
                let mut payload = [0u64; $words];
                for (i, w) in payload.iter_mut().enumerate() {
                    *w = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq;
                }
                $name { seq, payload }
            }

            fn set_seq(&mut self, seq: u64) {
                self.seq = seq;
            }
        }
    };
}

bench_record!(Rec64, 7, "64B");
bench_record!(Rec256, 31, "256B");

/// The baseline: a prefaulted shared mapping with the ring's slot stride, written directly.
struct RawRing {
    map: MmapMut,
    stride: usize,
    capacity: u64,
    next: u64,
}

impl RawRing {
    fn create(path: &Path, record_bytes: usize, capacity: u64) -> RawRing {
        let stride = slot_stride(record_bytes);
        let len = RAW_HEADER_BYTES + stride * capacity as usize;
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path).expect("create raw file");
        file.set_len(len as u64).expect("size raw file");
        // SAFETY: the file was just created by this process and nothing else maps, truncates or
        // writes it while the mapping lives.
        let mut map = unsafe { MmapOptions::new().populate().map_mut(&file) }.expect("map raw file");
        // Dirty every page now, as `RingOptions::prefault` does, so appends take no fault.
        map.fill(0);
        RawRing { map, stride, capacity, next: 0 }
    }

    #[inline]
    fn append(&mut self, record: &[u8]) {
        let seq = self.next;
        let off = RAW_HEADER_BYTES + (seq % self.capacity) as usize * self.stride;
        let slot = &mut self.map[off..off + self.stride];
        slot[SLOT_HEADER_BYTES..SLOT_HEADER_BYTES + record.len()].copy_from_slice(record);
        let crc = crc32fast::hash(record);
        slot[20..24].copy_from_slice(&crc.to_le_bytes());
        slot[0..8].copy_from_slice(&seq.to_le_bytes());
        self.next = seq + 1;
        self.map[0..8].copy_from_slice(&self.next.to_le_bytes());
    }
}

static MLOCK_NOTE: AtomicBool = AtomicBool::new(false);

/// Opens a ring with `prefault` and, if the system allows it, `mlock`. Returns the ring and the
/// benchmark id describing what was actually applied.
fn open_prefault_mlock<T: BenchRecord>(path: &Path, capacity: u64) -> (RingLog<T>, &'static str) {
    match RingLog::open_with(path, capacity, RingOptions::default().prefault(true).mlock(true)) {
        Ok(log) => (log, "ringlog_prefault_mlock"),
        Err(ReplayLogError::Io { op: "mlock", source, .. }) => {
            if !MLOCK_NOTE.swap(true, Ordering::Relaxed) {
                eprintln!("note: mlock refused ({source}); falling back to prefault only (ringlog_prefault_nomlock)");
            }
            let log = RingLog::open_with(path, capacity, RingOptions::default().prefault(true)).expect("open ring");
            (log, "ringlog_prefault_nomlock")
        }
        Err(e) => panic!("open ring: {e}"),
    }
}

fn fill<T: BenchRecord>(log: &mut RingLog<T>, appends: u64) {
    let mut rec = T::new(0);
    for _ in 0..appends {
        rec.set_seq(log.next_seq());
        log.append(&rec).expect("append");
    }
}

fn scratch_dir() -> tempfile::TempDir {
    tempfile::Builder::new().prefix("replaylog-bench-").tempdir().expect("temp dir")
}

fn bench_append_size<T: BenchRecord>(c: &mut Criterion) {
    let dir = scratch_dir();
    let mut group = c.benchmark_group("append");
    group.throughput(Throughput::Elements(1));

    let mut raw = RawRing::create(&dir.path().join("raw"), size_of::<T>(), CAPACITY);
    let mut rec = T::new(0);
    for _ in 0..CAPACITY {
        raw.append(rec.as_bytes());
    }
    group.bench_function(BenchmarkId::new("raw_mmap", T::LABEL), |b| {
        b.iter(|| {
            rec.set_seq(raw.next);
            raw.append(black_box(rec.as_bytes()));
        })
    });
    drop(raw);

    let mut bench_ring = |name: &str, log: &mut RingLog<T>| {
        fill(log, CAPACITY); // complete the first lap outside the measurement
        let mut rec = T::new(0);
        let mut seq = log.next_seq();
        group.bench_function(BenchmarkId::new(name, T::LABEL), |b| {
            b.iter(|| {
                rec.set_seq(seq);
                seq += 1;
                log.append(black_box(&rec)).expect("append");
            })
        });
    };
    let mut log: RingLog<T> = RingLog::open(dir.path().join("default.ring"), CAPACITY).expect("open ring");
    bench_ring("ringlog_default", &mut log);
    drop(log);
    let (mut log, name) = open_prefault_mlock::<T>(&dir.path().join("mlock.ring"), CAPACITY);
    bench_ring(name, &mut log);
    drop(log);
    group.finish();
}

fn bench_append(c: &mut Criterion) {
    bench_append_size::<Rec64>(c);
    bench_append_size::<Rec256>(c);
}

/// What a first-lap iteration appends into.
enum Target<T> {
    Raw(RawRing),
    Ring(Box<RingLog<T>>),
}

#[derive(Clone, Copy)]
enum Variant {
    Raw,
    RingDefault,
    RingPrefault,
    RingPrefaultMlock,
}

impl Variant {
    /// Creates a fresh target at `path`; returns it with the id of what was actually applied.
    fn create<T: BenchRecord>(self, path: &Path, capacity: u64) -> (Target<T>, &'static str) {
        match self {
            Variant::Raw => (Target::Raw(RawRing::create(path, size_of::<T>(), capacity)), "raw_mmap"),
            Variant::RingDefault => {
                (Target::Ring(Box::new(RingLog::open(path, capacity).expect("open"))), "ringlog_default")
            }
            Variant::RingPrefault => {
                let log = RingLog::open_with(path, capacity, RingOptions::default().prefault(true)).expect("open");
                (Target::Ring(Box::new(log)), "ringlog_prefault")
            }
            Variant::RingPrefaultMlock => {
                let (log, id) = open_prefault_mlock(path, capacity);
                (Target::Ring(Box::new(log)), id)
            }
        }
    }
}

/// Times the first lap (`FIRST_LAP_CAPACITY` appends) of a freshly created target per iteration;
/// creating and removing the file is not timed.
fn bench_first_lap_size<T: BenchRecord>(c: &mut Criterion) {
    let dir = scratch_dir();
    let mut group = c.benchmark_group("first_lap");
    group.throughput(Throughput::Elements(FIRST_LAP_CAPACITY));
    group.sampling_mode(SamplingMode::Flat).sample_size(10);
    // The timed part is a few ms but every iteration also creates a file: keep the measured time
    // short so the wall time stays bounded.
    group.warm_up_time(Duration::from_millis(100)).measurement_time(Duration::from_millis(300));
    let mut n = 0u64;
    let mut fresh = || {
        n += 1;
        dir.path().join(format!("lap-{n}"))
    };
    for variant in [Variant::Raw, Variant::RingDefault, Variant::RingPrefault, Variant::RingPrefaultMlock] {
        let probe = fresh();
        let (target, id) = variant.create::<T>(&probe, FIRST_LAP_CAPACITY);
        drop(target);
        std::fs::remove_file(&probe).expect("remove");
        group.bench_function(BenchmarkId::new(id, T::LABEL), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let path = fresh();
                    let (target, _) = variant.create::<T>(&path, FIRST_LAP_CAPACITY);
                    let mut rec = T::new(0);
                    let start = Instant::now();
                    // Each arm reads the clock before its target is dropped (unmapped).
                    total += match target {
                        Target::Raw(mut raw) => {
                            for seq in 0..FIRST_LAP_CAPACITY {
                                rec.set_seq(seq);
                                raw.append(black_box(rec.as_bytes()));
                            }
                            start.elapsed()
                        }
                        Target::Ring(mut log) => {
                            for seq in 0..FIRST_LAP_CAPACITY {
                                rec.set_seq(seq);
                                log.append(black_box(&rec)).expect("append");
                            }
                            start.elapsed()
                        }
                    };
                    std::fs::remove_file(&path).expect("remove");
                }
                total
            })
        });
    }
    group.finish();
}

fn bench_first_lap(c: &mut Criterion) {
    bench_first_lap_size::<Rec64>(c);
    bench_first_lap_size::<Rec256>(c);
}

fn bench_replay_size<T: BenchRecord>(c: &mut Criterion) {
    let dir = scratch_dir();
    let mut log: RingLog<T> = RingLog::open(dir.path().join("replay.ring"), CAPACITY).expect("open ring");
    fill(&mut log, CAPACITY + CAPACITY / 3); // full and wrapped
    log.sync().expect("sync");
    assert_eq!(log.len(), CAPACITY);

    let mut group = c.benchmark_group("replay");
    group.throughput(Throughput::Bytes(CAPACITY * size_of::<T>() as u64));
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    group.bench_function(BenchmarkId::new("replay_all", T::LABEL), |b| {
        b.iter(|| {
            let records = log.replay_all().expect("replay");
            assert_eq!(records.len() as u64, CAPACITY);
            records
        })
    });
    group.bench_function(BenchmarkId::new("iter", T::LABEL), |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for item in log.iter() {
                let item = item.expect("replay");
                sum = sum.wrapping_add(item.record.as_bytes()[0] as u64);
            }
            sum
        })
    });
    group.finish();
}

fn bench_replay(c: &mut Criterion) {
    bench_replay_size::<Rec64>(c);
    bench_replay_size::<Rec256>(c);
}

fn bench_reader_size<T: BenchRecord>(c: &mut Criterion) {
    let dir = scratch_dir();
    let path = dir.path().join("reader.ring");
    let mut log: RingLog<T> = RingLog::open(&path, CAPACITY).expect("open ring");
    fill(&mut log, CAPACITY + CAPACITY / 3); // full and wrapped
    log.sync().expect("sync");
    let first = log.next_seq() - CAPACITY;
    drop(log);

    let mut group = c.benchmark_group("reader");
    group.throughput(Throughput::Bytes(CAPACITY * size_of::<T>() as u64));
    group.sampling_mode(SamplingMode::Flat).sample_size(20);
    // A fresh reader per sample (a reader only moves forward), its mapping faulted in untimed.
    let raw_reader = || {
        let ring = replaylog::RawRing::open(&path).expect("open reader");
        assert_eq!(ring.census().valid, CAPACITY);
        RawReader::new(ring, StartAt::Seq(first))
    };
    group.bench_function(BenchmarkId::new("raw_poll", T::LABEL), |b| {
        b.iter_batched_ref(
            raw_reader,
            |reader| {
                let mut sum = 0u64;
                for _ in 0..CAPACITY {
                    match reader.poll().expect("poll") {
                        ReadOutcome::Record(r) => sum = sum.wrapping_add(r.bytes[0] as u64),
                        other => panic!("expected a record, got {other:?}"),
                    }
                }
                sum
            },
            BatchSize::PerIteration,
        )
    });
    let typed_reader = || {
        let reader = RingReader::<T>::open_at(&path, StartAt::Seq(first)).expect("open reader");
        assert_eq!(reader.ring().census().valid, CAPACITY);
        reader
    };
    group.bench_function(BenchmarkId::new("typed_poll", T::LABEL), |b| {
        b.iter_batched_ref(
            typed_reader,
            |reader| {
                let mut sum = 0u64;
                for _ in 0..CAPACITY {
                    match reader.poll().expect("poll") {
                        ReadOutcome::Record(r) => sum = sum.wrapping_add(r.record.as_bytes()[0] as u64),
                        _ => panic!("expected a record"),
                    }
                }
                sum
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn bench_reader(c: &mut Criterion) {
    bench_reader_size::<Rec64>(c);
    bench_reader_size::<Rec256>(c);
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(30);
    targets = bench_append, bench_first_lap, bench_replay, bench_reader
}
criterion_main!(benches);
