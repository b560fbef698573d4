//! `replaylog bench`: per-operation latency of the ring and the journal into HDR histograms, next
//! to raw baselines, in one run.
//!
//! This file is self-contained (it uses only external crates) so that `tools/bench-peers` can
//! compile it as a module (`#[path]`) and put the peer crates' figures beside these in the same
//! process and run.
//!
//! How time is measured:
//! * **per-op**: every operation is bracketed by two `Instant::now()` reads; the histogram holds
//!   the raw difference, so it *includes* one timer overhead. The overhead itself (a back-to-back
//!   pair) is measured at start and reported; the summary also shows `p50 − timer p50`.
//! * **batch/N**: `N` operations are timed by one pair and the histogram holds the batch's mean
//!   (timer cost ÷ N, negligible). Throughput of the ring comes from the batch runs.
//! * Warm-up is excluded: every ring first completes one full lap plus `warmup` appends; every
//!   journal target first writes `warmup` entries (not timed, not counted).
//! * The measuring thread is pinned to one core (`sched_setaffinity`) for the timed loops only;
//!   targets are created unpinned, so their background threads keep every core.

use std::fs::{File, OpenOptions};
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Barrier;
use std::time::{Duration, Instant};

use clap::Args;
use hdrhistogram::Histogram;
use memmap2::{MmapMut, MmapOptions};
use replaylog::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use replaylog::{
    Ack, Journal, JournalOptions, RawReader, ReadOutcome, ReplayLogError, RingLog, RingOptions, StartAt, SyncMode,
};
use serde_json::{Value, json};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Options of `replaylog bench` (shared with `replaylog-bench-peers`).
#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Small counts for a CI smoke run (a few seconds; figures are not meaningful).
    #[arg(long)]
    pub quick: bool,
    /// Timed ring appends per variant and record size (each for per-op and for batch timing).
    /// Default 10,000,000 (--quick: 200,000).
    #[arg(long, value_name = "N")]
    pub ring_appends: Option<u64>,
    /// Timed journal writes per mode and entry size in the buffered modes. Default 100,000
    /// (--quick: 2,000).
    #[arg(long, value_name = "N")]
    pub journal_writes: Option<u64>,
    /// Timed writes per target and size in the durable (fdatasync-per-write) modes. Default: the
    /// --journal-writes value (--quick: 200).
    #[arg(long, value_name = "N")]
    pub sync_writes: Option<u64>,
    /// Total writes per group-commit configuration (1, 2, 4, 8 threads), split over the
    /// threads; a quarter of it for 64 KiB entries. Default 20,000 (--quick: 100).
    #[arg(long, value_name = "N")]
    pub group_writes: Option<u64>,
    /// Also run group commit with this many CPU-bound busy-loop processes beside it (one per
    /// core keeps every core busy): 1, 2, 4, 8 writers × 64 B and 8 × 1 KiB (the peers binary:
    /// interleaved with okaywal). Default 0: not run.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub load: usize,
    /// Directory for the scratch files (default: a new temp dir under $TMPDIR, or /var/tmp when
    /// $TMPDIR is tmpfs). Must be a disk filesystem for the sync figures to mean anything.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Core to pin the measuring thread to (default: the last allowed core).
    #[arg(long, value_name = "CPU")]
    pub cpu: Option<usize>,
    /// Do not pin.
    #[arg(long)]
    pub no_pin: bool,
    /// Run only these suites (comma-separated: ring, ring-sync, journal, group; the peers binary
    /// adds ring-peers, journal-peers).
    #[arg(long, value_delimiter = ',', value_name = "SUITE")]
    pub only: Vec<String>,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON document to this file (tables still go to stdout).
    #[arg(long, value_name = "FILE")]
    pub json_file: Option<PathBuf>,
}

/// Slots of the benchmark rings.
pub const RING_CAPACITY: u64 = 65_536;
/// Ops per timed batch.
pub const BATCH: u64 = 1_000;
/// Journal entry sizes.
pub const JOURNAL_SIZES: [usize; 3] = [64, 1024, 64 * 1024];
/// The raw async baseline's buffer (the journal hands its buffer to the file at 256 KiB too).
pub const RAW_BUF_BYTES: usize = 256 * 1024;

/// Resolved counts and places.
#[derive(Debug, Clone)]
pub struct Plan {
    pub ring_appends: u64,
    pub ring_warmup: u64,
    pub journal_writes: u64,
    pub sync_writes: u64,
    pub journal_warmup: u64,
    pub replay_passes: u32,
    /// Total writes per group-commit configuration, split over the threads.
    pub group_writes: u64,
    pub cpu: Option<usize>,
    pub base: PathBuf,
    pub quick: bool,
    pub only: Vec<String>,
    /// Busy-loop processes beside the loaded group-commit rows (0: not run).
    pub load: usize,
    /// Set by the peers binary, which runs the loaded rows itself, interleaved with okaywal.
    pub peers: bool,
}

impl Plan {
    pub fn new(args: &BenchArgs) -> Result<Plan, BoxError> {
        let q = args.quick;
        let ring_appends = args.ring_appends.unwrap_or(if q { 200_000 } else { 10_000_000 });
        let journal_writes = args.journal_writes.unwrap_or(if q { 2_000 } else { 100_000 });
        let sync_writes = args.sync_writes.unwrap_or(if q { 200 } else { journal_writes });
        let base = match &args.dir {
            Some(d) => d.clone(),
            None => {
                let tmp = std::env::temp_dir();
                if is_tmpfs(&tmp) { PathBuf::from("/var/tmp") } else { tmp }
            }
        };
        if is_tmpfs(&base) {
            eprintln!("note: {} is tmpfs: fdatasync is free there, the sync figures mean nothing", base.display());
        }
        let cpu = if args.no_pin { None } else { Some(args.cpu.unwrap_or_else(last_allowed_cpu)) };
        Ok(Plan {
            ring_appends,
            ring_warmup: if q { 10_000 } else { 1_000_000 },
            journal_writes,
            sync_writes,
            journal_warmup: if q { 50 } else { 1_000 },
            replay_passes: if q { 2 } else { 30 },
            group_writes: args.group_writes.unwrap_or(if q { 100 } else { 20_000 }),
            cpu,
            base,
            quick: q,
            only: args.only.clone(),
            load: args.load,
            peers: false,
        })
    }

    /// Whether suite `name` runs.
    pub fn runs(&self, name: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|s| s == name)
    }

    /// A fresh scratch directory, deleted on drop.
    pub fn scratch(&self) -> Result<tempfile::TempDir, BoxError> {
        Ok(tempfile::Builder::new().prefix("replaylog-bench-").tempdir_in(&self.base)?)
    }
}

fn is_tmpfs(p: &Path) -> bool {
    nix::sys::statfs::statfs(p).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

fn allowed_cpus() -> Vec<usize> {
    use nix::sched::{CpuSet, sched_getaffinity};
    use nix::unistd::Pid;
    let set = sched_getaffinity(Pid::from_raw(0)).unwrap_or_else(|_| CpuSet::new());
    (0..CpuSet::count()).filter(|c| set.is_set(*c).unwrap_or(false)).collect()
}

fn last_allowed_cpu() -> usize {
    allowed_cpus().last().copied().unwrap_or(0)
}

/// Pins the calling thread to `cpu` until the guard drops (then the previous mask is restored).
pub struct Pin {
    previous: Option<nix::sched::CpuSet>,
}

impl Pin {
    pub fn to(cpu: Option<usize>) -> Pin {
        use nix::sched::{CpuSet, sched_getaffinity, sched_setaffinity};
        use nix::unistd::Pid;
        let Some(cpu) = cpu else { return Pin { previous: None } };
        let Ok(previous) = sched_getaffinity(Pid::from_raw(0)) else { return Pin { previous: None } };
        let mut set = CpuSet::new();
        if set.set(cpu).is_err() || sched_setaffinity(Pid::from_raw(0), &set).is_err() {
            return Pin { previous: None };
        }
        Pin { previous: Some(previous) }
    }
}

impl Drop for Pin {
    fn drop(&mut self) {
        if let Some(prev) = &self.previous {
            let _ = nix::sched::sched_setaffinity(nix::unistd::Pid::from_raw(0), prev);
        }
    }
}

/// A histogram in picoseconds (so batch means keep sub-nanosecond resolution).
pub fn new_hist() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000_000, 3).expect("histogram bounds")
}

/// Records a duration of `ops` operations as one per-op sample (ps).
#[inline]
pub fn record(h: &mut Histogram<u64>, d: Duration, ops: u64) {
    let ps = d.as_nanos() * 1000 / u128::from(ops.max(1));
    h.saturating_record(u64::try_from(ps).unwrap_or(u64::MAX).max(1));
}

/// One measured target.
#[derive(Clone)]
pub struct Row {
    /// "ring append", "ring replay", "journal async", "journal sync", "group commit", ...
    pub group: String,
    pub variant: String,
    /// Record/entry bytes.
    pub size: usize,
    /// Timed operations (ops counted in the histogram times ops per sample).
    pub ops: u64,
    /// "per-op" or "batch/N".
    pub method: String,
    pub hist: Histogram<u64>,
    /// Wall time of the timed loop.
    pub elapsed: Duration,
    /// Threads (group commit), 1 otherwise.
    pub threads: usize,
    pub note: String,
}

impl Row {
    /// A group-commit row: 64-byte writes, `per_thread` from each of `threads` threads.
    pub fn group_commit(
        variant: &str,
        size: usize,
        threads: usize,
        per_thread: u64,
        hist: Histogram<u64>,
        elapsed: Duration,
    ) -> Row {
        Row {
            group: "group commit".into(),
            variant: variant.into(),
            size,
            ops: per_thread * threads as u64,
            method: "per-op".into(),
            hist,
            elapsed,
            threads,
            note: String::new(),
        }
    }

    pub fn ops_per_s(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64().max(1e-12)
    }
    pub fn mb_per_s(&self) -> f64 {
        self.ops_per_s() * self.size as f64 / 1e6
    }
    /// Latency at quantile `q`, ns.
    pub fn q_ns(&self, q: f64) -> f64 {
        self.hist.value_at_quantile(q) as f64 / 1000.0
    }
    pub fn max_ns(&self) -> f64 {
        self.hist.max() as f64 / 1000.0
    }
    pub fn to_json(&self) -> Value {
        json!({
            "group": self.group,
            "variant": self.variant,
            "size_bytes": self.size,
            "threads": self.threads,
            "method": self.method,
            "ops": self.ops,
            "samples": self.hist.len(),
            "p50_ns": self.q_ns(0.5),
            "p99_ns": self.q_ns(0.99),
            "p99_9_ns": self.q_ns(0.999),
            "p99_99_ns": self.q_ns(0.9999),
            "max_ns": self.max_ns(),
            "mean_ns": self.hist.mean() / 1000.0,
            "ops_per_s": self.ops_per_s(),
            "mb_per_s": self.mb_per_s(),
            "elapsed_s": self.elapsed.as_secs_f64(),
            "note": self.note,
        })
    }
}

/// Formats nanoseconds with a unit.
pub fn fmt_ns(ns: f64) -> String {
    if ns < 100.0 {
        format!("{ns:.1} ns")
    } else if ns < 10_000.0 {
        format!("{ns:.0} ns")
    } else if ns < 10_000_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else {
        format!("{:.1} ms", ns / 1e6)
    }
}

fn fmt_size(b: usize) -> String {
    if b >= 1024 && b % 1024 == 0 { format!("{} KiB", b / 1024) } else { format!("{b} B") }
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2} M/s", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} K/s", r / 1e3)
    } else {
        format!("{r:.0} /s")
    }
}

/// Prints rows as a table, a header line whenever the group changes.
pub fn print_table(rows: &[Row]) {
    let mut group = "";
    for r in rows {
        if r.group != group {
            group = &r.group;
            println!();
            println!("## {group}");
            println!(
                "{:<34} {:>7} {:>3} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>10}",
                "variant", "size", "thr", "method", "p50", "p99", "p99.9", "p99.99", "max", "ops/s", "MB/s"
            );
        }
        println!(
            "{:<34} {:>7} {:>3} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>10.1}{}",
            r.variant,
            fmt_size(r.size),
            r.threads,
            r.method,
            fmt_ns(r.q_ns(0.5)),
            fmt_ns(r.q_ns(0.99)),
            fmt_ns(r.q_ns(0.999)),
            fmt_ns(r.q_ns(0.9999)),
            fmt_ns(r.max_ns()),
            fmt_rate(r.ops_per_s()),
            r.mb_per_s(),
            if r.note.is_empty() { String::new() } else { format!("  [{}]", r.note) }
        );
    }
}

/// The timer's own cost: back-to-back `Instant::now()` pairs.
pub fn timer_overhead(pairs: u64, cpu: Option<usize>) -> Histogram<u64> {
    let _pin = Pin::to(cpu);
    let mut h = new_hist();
    for _ in 0..pairs {
        let a = Instant::now();
        let b = Instant::now();
        record(&mut h, b - a, 1);
    }
    h
}

/// What the run header says about the machine and method.
pub fn context(plan: &Plan, timer: &Histogram<u64>) -> Value {
    let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let clocksource = std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    json!({
        "cpu_model": cpu_model,
        "cpus_allowed": allowed_cpus().len(),
        "clocksource": clocksource,
        "pinned_cpu": plan.cpu,
        "dir": plan.base.display().to_string(),
        "quick": plan.quick,
        "ring_appends": plan.ring_appends,
        "ring_warmup": format!("one full lap ({RING_CAPACITY} appends) + {} appends per ring, not timed", plan.ring_warmup),
        "journal_writes": plan.journal_writes,
        "sync_writes": plan.sync_writes,
        "journal_warmup": format!("{} writes per target, not timed", plan.journal_warmup),
        "timer": {
            "what": "Instant::now() back-to-back pair; per-op figures include one such pair, batch figures divide it by the batch size",
            "p50_ns": timer.value_at_quantile(0.5) as f64 / 1000.0,
            "p99_ns": timer.value_at_quantile(0.99) as f64 / 1000.0,
            "min_ns": timer.min() as f64 / 1000.0,
            "max_ns": timer.max() as f64 / 1000.0,
        },
        "batch": BATCH,
    })
}

pub fn print_context(ctx: &Value) {
    println!(
        "machine: {} ({} cpus allowed), clocksource {}",
        ctx["cpu_model"], ctx["cpus_allowed"], ctx["clocksource"]
    );
    println!("pinned to cpu {} for timed loops; scratch dir {}", ctx["pinned_cpu"], ctx["dir"]);
    let t = &ctx["timer"];
    println!(
        "timer: Instant::now() pair p50 {} ns, p99 {} ns, min {} ns (per-op rows include it; batch/{} rows divide it by {})",
        t["p50_ns"], t["p99_ns"], t["min_ns"], BATCH, BATCH
    );
    println!("warm-up excluded: ring {}; journal {}", ctx["ring_warmup"], ctx["journal_warmup"]);
}

// ---------------------------------------------------------------------------------------------
// Records

/// A fixed-size benchmark record.
pub trait BenchRecord: FromBytes + IntoBytes + Immutable + KnownLayout + Copy + Send + 'static {
    fn new(seq: u64) -> Self;
    fn set_seq(&mut self, seq: u64);
}

macro_rules! bench_record {
    ($name:ident, $words:expr) => {
        /// A benchmark record of `8 * (1 + words)` bytes.
        #[derive(FromBytes, IntoBytes, Immutable, KnownLayout, Clone, Copy, Debug)]
        #[zerocopy(crate = "replaylog::zerocopy")]
        #[repr(C)]
        pub struct $name {
            seq: u64,
            payload: [u64; $words],
        }

        impl BenchRecord for $name {
            fn new(seq: u64) -> Self {
                let mut payload = [0u64; $words];
                for (i, w) in payload.iter_mut().enumerate() {
                    *w = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq;
                }
                $name { seq, payload }
            }
            #[inline]
            fn set_seq(&mut self, seq: u64) {
                self.seq = seq;
            }
        }
    };
}

bench_record!(Rec64, 7);
bench_record!(Rec256, 31);
const _: () = assert!(size_of::<Rec64>() == 64 && size_of::<Rec256>() == 256);

/// Anything that appends fixed-size records (ring-side targets, ours and peers').
pub trait Appender<T> {
    fn append(&mut self, rec: &T);
}

/// Times `n` appends of one target twice: per-op (Instant pair each) and in batches of `BATCH`.
/// `warmup` appends run first, untimed. Returns (per-op row, batch row).
pub fn time_appends<T: BenchRecord, A: Appender<T>>(
    target: &mut A,
    plan: &Plan,
    warmup: u64,
    group: &str,
    variant: &str,
    note: &str,
) -> (Row, Row) {
    let n = plan.ring_appends;
    // On the heap: on the stack its address made the same source measure 19.7 ns per 64 B
    // RingLog append in the peers binary and 13.4 ns in the CLI (raw: 12 ns in both); on the
    // heap both give 13.1-13.3 ns. A layout effect of the record's address against the slot
    // stores (likely 4 KiB aliasing), not of the code under test; the raw row uses it too.
    let mut rec = Box::new(T::new(0));
    let mut seq = 0u64;
    for _ in 0..warmup {
        rec.set_seq(seq);
        seq += 1;
        target.append(black_box(&rec));
    }
    let _pin = Pin::to(plan.cpu);
    let mut per_op = new_hist();
    let start = Instant::now();
    for _ in 0..n {
        rec.set_seq(seq);
        seq += 1;
        let t0 = Instant::now();
        target.append(black_box(&rec));
        let t1 = Instant::now();
        record(&mut per_op, t1 - t0, 1);
    }
    let per_op_elapsed = start.elapsed();
    let mut batch = new_hist();
    let batches = n.div_ceil(BATCH);
    let mut busy = Duration::ZERO;
    for _ in 0..batches {
        let t0 = Instant::now();
        for _ in 0..BATCH {
            rec.set_seq(seq);
            seq += 1;
            target.append(black_box(&rec));
        }
        let d = t0.elapsed();
        busy += d;
        record(&mut batch, d, BATCH);
    }
    let size = size_of::<T>();
    let row = |method: String, hist, elapsed, ops| Row {
        group: group.into(),
        variant: variant.into(),
        size,
        ops,
        method,
        hist,
        elapsed,
        threads: 1,
        note: note.into(),
    };
    (row("per-op".into(), per_op, per_op_elapsed, n), row(format!("batch/{BATCH}"), batch, busy, batches * BATCH))
}

// ---------------------------------------------------------------------------------------------
// Ring targets

/// Bytes before slot 0 in the raw baseline (holds the cursor).
const RAW_HEADER_BYTES: usize = 4096;
/// The baseline's own slot header: a 32-bit CRC and the low 32 bits of the seq. Not the ring
/// format.
const RAW_SLOT_HEADER_BYTES: usize = 8;

/// Baseline (a): the minimal raw ring a user would write instead, as simply as possible. A
/// prefaulted shared mapping, slots of `round_up(8 + record, 8)` bytes (72 for a 64 B record);
/// copy the record, CRC-32 it (crc32fast), store CRC and seq in the slot header, store the cursor.
/// No seqlock, epoch, evidence or timestamp.
pub struct RawRing {
    map: MmapMut,
    stride: usize,
    capacity: u64,
    next: u64,
}

impl RawRing {
    pub fn create(path: &Path, record_bytes: usize, capacity: u64) -> Result<RawRing, BoxError> {
        let stride = (RAW_SLOT_HEADER_BYTES + record_bytes).next_multiple_of(8);
        let len = RAW_HEADER_BYTES + stride * capacity as usize;
        let file = OpenOptions::new().read(true).write(true).create_new(true).open(path)?;
        file.set_len(len as u64)?;
        // SAFETY: the file was just created by this process; nothing else maps, truncates or
        // writes it while the mapping lives.
        let mut map = unsafe { MmapOptions::new().populate().map_mut(&file) }?;
        map.fill(0); // dirty every page, as RingOptions::prefault does
        Ok(RawRing { map, stride, capacity, next: 0 })
    }
}

impl<T: BenchRecord> Appender<T> for RawRing {
    #[inline]
    fn append(&mut self, rec: &T) {
        let record = rec.as_bytes();
        let header = RAW_SLOT_HEADER_BYTES;
        let seq = self.next;
        let off = RAW_HEADER_BYTES + (seq % self.capacity) as usize * self.stride;
        let slot = &mut self.map[off..off + self.stride];
        slot[header..header + record.len()].copy_from_slice(record);
        let crc = crc32fast::hash(record);
        slot[0..4].copy_from_slice(&crc.to_le_bytes());
        slot[4..8].copy_from_slice(&(seq as u32).to_le_bytes());
        self.next = seq + 1;
        self.map[0..8].copy_from_slice(&self.next.to_le_bytes());
    }
}

impl<T: BenchRecord> Appender<T> for RingLog<T> {
    #[inline]
    fn append(&mut self, rec: &T) {
        RingLog::append(self, rec).expect("append");
    }
}

/// Opens a ring with prefault and, if allowed, mlock; the note says what was applied.
pub fn open_prefault_mlock<T: BenchRecord>(path: &Path) -> Result<(RingLog<T>, String), BoxError> {
    match RingLog::open_with(path, RING_CAPACITY, RingOptions::default().prefault(true).mlock(true)) {
        Ok(log) => Ok((log, String::new())),
        Err(ReplayLogError::Io { op: "mlock", source, .. }) => {
            let log = RingLog::open_with(path, RING_CAPACITY, RingOptions::default().prefault(true))?;
            Ok((log, format!("mlock refused ({source}): prefault only")))
        }
        Err(e) => Err(e.into()),
    }
}

fn ring_size<T: BenchRecord>(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let dir = plan.scratch()?;
    let warmup = RING_CAPACITY + plan.ring_warmup;
    let g = "ring append";
    {
        let mut raw = RawRing::create(&dir.path().join("raw"), size_of::<T>(), RING_CAPACITY)?;
        let (a, b) = time_appends::<T, _>(&mut raw, plan, warmup, g, "raw mmap+crc32 (baseline a)", "");
        rows.extend([a, b]);
    }
    {
        let mut log: RingLog<T> = RingLog::open(dir.path().join("default.ring"), RING_CAPACITY)?;
        let (a, b) = time_appends::<T, _>(&mut log, plan, warmup, g, "RingLog default (b)", "");
        rows.extend([a, b]);
    }
    {
        let opts = RingOptions::default().prefault(true);
        let mut log: RingLog<T> = RingLog::open_with(dir.path().join("prefault.ring"), RING_CAPACITY, opts)?;
        let (a, b) = time_appends::<T, _>(&mut log, plan, warmup, g, "RingLog prefault (d)", "");
        rows.extend([a, b]);
    }
    {
        // The cost of a CLOCK_MONOTONIC stamp per record (read through the vDSO): (e) against (d).
        let opts = RingOptions::default().prefault(true).clock(replaylog::Clock::Monotonic);
        let mut log: RingLog<T> = RingLog::open_with(dir.path().join("mono.ring"), RING_CAPACITY, opts)?;
        let (a, b) = time_appends::<T, _>(&mut log, plan, warmup, g, "RingLog prefault, clock monotonic (e)", "");
        rows.extend([a, b]);
    }
    {
        let (mut log, note) = open_prefault_mlock::<T>(&dir.path().join("mlock.ring"))?;
        let (a, b) = time_appends::<T, _>(&mut log, plan, warmup, g, "RingLog prefault+mlock (c)", &note);
        rows.extend([a, b]);
        // Replay with validation (every slot's CRC checked) over the full ring, in record bytes.
        log.sync()?;
        // The third variant is a live reader (what `replaylog tail` runs): its own read-only
        // mapping, every slot copied with atomic word loads between the seqlock's checks.
        let variants =
            [("RingLog iter (validating)", 0), ("RingLog replay_all (validating)", 1), ("RawReader poll (tail)", 2)];
        for (name, how) in variants {
            let _pin = Pin::to(plan.cpu);
            let mut h = new_hist();
            let mut total = Duration::ZERO;
            let first = log.next_seq() - RING_CAPACITY;
            for _ in 0..plan.replay_passes {
                let mut reader = (how == 2).then(|| {
                    RawReader::new(replaylog::RawRing::open(log.path()).expect("reader"), StartAt::Seq(first))
                });
                let t0 = Instant::now();
                let n = match how {
                    1 => log.replay_all()?.len() as u64,
                    0 => {
                        let mut n = 0u64;
                        for item in log.iter() {
                            black_box(item?.record);
                            n += 1;
                        }
                        n
                    }
                    _ => {
                        let reader = reader.as_mut().expect("reader");
                        let mut n = 0u64;
                        while n < RING_CAPACITY {
                            match reader.poll()? {
                                ReadOutcome::Record(r) => black_box(r.bytes),
                                other => panic!("live reader over a full ring: {other:?}"),
                            };
                            n += 1;
                        }
                        n
                    }
                };
                let d = t0.elapsed();
                assert_eq!(n, RING_CAPACITY, "replay returned a partial window");
                total += d;
                record(&mut h, d, RING_CAPACITY);
            }
            rows.push(Row {
                group: "ring replay".into(),
                variant: name.into(),
                size: size_of::<T>(),
                ops: RING_CAPACITY * u64::from(plan.replay_passes),
                method: format!("pass/{RING_CAPACITY}"),
                hist: h,
                elapsed: total,
                threads: 1,
                note: format!("{} passes over a full ring", plan.replay_passes),
            });
        }
    }
    Ok(())
}

/// Ring suite: baselines (a) raw, (b) default, (c) prefault+mlock, (d) prefault, (e) prefault
/// with a monotonic stamp, at 64 B and 256 B; replay; lanes on 1 and 2 threads.
pub fn ring_suite(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    ring_size::<Rec64>(plan, rows)?;
    ring_size::<Rec256>(plan, rows)?;
    ring_lanes(plan, rows)
}

/// Lanes, the recorder's model: one prefaulted, monotonic-stamped 64 B ring per thread and no
/// shared state, with 1 and then 2 threads appending at once; the rows give ops/s over all
/// threads (2 lanes against 1 is the scaling figure). Timed in batches of 1024 appends.
fn ring_lanes(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    const BATCH: u64 = 1024;
    let dir = plan.scratch()?;
    let n = plan.ring_appends.next_multiple_of(BATCH);
    for threads in [1usize, 2] {
        let opts = RingOptions::default().prefault(true).clock(replaylog::Clock::Monotonic);
        let mut logs = Vec::new();
        for t in 0..threads {
            let path = dir.path().join(format!("lanes{threads}-{t}.ring"));
            logs.push(RingLog::<Rec64>::open_with(path, RING_CAPACITY, opts.clone())?);
        }
        let barrier = Barrier::new(threads + 1);
        let barrier = &barrier;
        let (hist, elapsed) = std::thread::scope(|s| -> Result<_, BoxError> {
            let handles: Vec<_> = logs
                .into_iter()
                .map(|mut log| {
                    s.spawn(move || {
                        let mut rec = Rec64::new(0);
                        let mut h = new_hist();
                        barrier.wait();
                        for batch in 0..n / BATCH {
                            let t0 = Instant::now();
                            for i in 0..BATCH {
                                rec.set_seq(batch * BATCH + i);
                                log.append(black_box(&rec)).expect("append");
                            }
                            record(&mut h, t0.elapsed(), BATCH);
                        }
                        h
                    })
                })
                .collect();
            barrier.wait();
            let start = Instant::now();
            let mut all = new_hist();
            for h in handles {
                all.add(&h.join().map_err(|_| "lane thread panicked")?).map_err(|e| format!("histogram: {e:?}"))?;
            }
            Ok((all, start.elapsed()))
        })?;
        rows.push(Row {
            group: "ring lanes".into(),
            variant: format!("{threads} lane(s), {threads} thread(s), prefault, monotonic"),
            size: size_of::<Rec64>(),
            ops: n * threads as u64,
            method: format!("batch/{BATCH}"),
            hist,
            elapsed,
            threads,
            note: String::new(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Ring appends with a periodic sync

/// How often the writer of the "ring append + sync" rows syncs (wall time).
pub const SYNC_PERIOD: Duration = Duration::from_millis(10);
/// Appends between two looks at the clock for the sync period.
pub const SYNC_CHECK_EVERY: u64 = 1024;
/// Interleaved rounds of the sync suite: each variant runs once per round, in alternating order,
/// so that a slow phase of a noisy machine lands on all of them.
pub const SYNC_ROUNDS: u64 = 6;

/// One variant of the sync suite: a prefaulted or plain ring, appending flat out or paced.
struct SyncTarget<T> {
    log: RingLog<T>,
    variant: String,
    /// Appends per second the writer is paced at (spinning until the next append is due); `None`:
    /// as fast as it can.
    rate_per_s: Option<u64>,
    hist: Histogram<u64>,
    /// Time in appends only (per-op timed), and in syncs.
    busy: Duration,
    sync_time: Duration,
    syncs: u64,
    appends: u64,
    /// Minor page faults of the writer thread in appends (its syncs' excluded).
    append_faults: i64,
    seq: u64,
    last_sync: Instant,
}

/// Minor page faults of the calling thread so far (0 if getrusage fails).
fn minor_faults_of_this_thread() -> i64 {
    use nix::sys::resource::{UsageWho, getrusage};
    getrusage(UsageWho::RUSAGE_THREAD).map_or(0, |u| u.minor_page_faults())
}

impl<T: BenchRecord> SyncTarget<T> {
    /// `n` appends, each timed on its own; the writer itself calls `sync` whenever `SYNC_PERIOD`
    /// has passed since its last one (looked at every `SYNC_CHECK_EVERY` appends). Sync time is
    /// not in the histogram: it is the latency of the appends around the syncs.
    fn run(&mut self, rec: &mut T, n: u64) -> Result<(), BoxError> {
        let interval = self.rate_per_s.map(|r| Duration::from_nanos(1_000_000_000 / r));
        // Paced: each append is due one interval after the previous one started (a loop that
        // does not catch up after a slow sync).
        let mut due = Instant::now();
        let faults_before = minor_faults_of_this_thread();
        let mut sync_faults = 0;
        for i in 0..n {
            if interval.is_some() {
                while Instant::now() < due {
                    std::hint::spin_loop();
                }
            }
            rec.set_seq(self.seq);
            self.seq += 1;
            let t0 = Instant::now();
            Appender::append(&mut self.log, black_box(&*rec));
            let t1 = Instant::now();
            due = t0 + interval.unwrap_or_default();
            record(&mut self.hist, t1 - t0, 1);
            self.busy += t1 - t0;
            if (i + 1) % SYNC_CHECK_EVERY == 0 && t1 - self.last_sync >= SYNC_PERIOD {
                let f0 = minor_faults_of_this_thread();
                self.log.sync()?;
                sync_faults += minor_faults_of_this_thread() - f0;
                self.last_sync = Instant::now();
                self.sync_time += self.last_sync - t1;
                self.syncs += 1;
            }
        }
        self.appends += n;
        self.append_faults += minor_faults_of_this_thread() - faults_before - sync_faults;
        Ok(())
    }

    fn into_row(self) -> Row {
        let mean_sync_ms = self.sync_time.as_secs_f64() * 1e3 / self.syncs.max(1) as f64;
        let pace = self.rate_per_s.map_or("flat out".into(), |r| format!("paced {} K/s", r / 1000));
        Row {
            group: "ring append + sync".into(),
            variant: self.variant,
            size: size_of::<T>(),
            ops: self.appends,
            method: "per-op".into(),
            hist: self.hist,
            elapsed: self.busy,
            threads: 1,
            note: format!(
                "{pace}; writer syncs every {} ms: {} syncs, mean {mean_sync_ms:.2} ms; {} minor faults in appends; {SYNC_ROUNDS} interleaved rounds",
                SYNC_PERIOD.as_millis(),
                self.syncs,
                self.append_faults
            ),
        }
    }
}

/// Append latency while the writer syncs every 10 ms, `prefault(false)` vs `prefault(true)`
/// (which re-arms the pages ahead of the writer after each sync), flat out and paced at
/// 1 M appends/s. ops/s of these rows count the time in appends only.
fn ring_sync_size<T: BenchRecord>(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let dir = plan.scratch()?;
    let mut targets = Vec::new();
    for rate_per_s in [None, Some(1_000_000)] {
        for prefault in [false, true] {
            let name = format!("{}-{}.ring", rate_per_s.is_some(), prefault);
            let log: RingLog<T> =
                RingLog::open_with(dir.path().join(name), RING_CAPACITY, RingOptions::default().prefault(prefault))?;
            let pace = if rate_per_s.is_some() { "1 M/s" } else { "flat out" };
            targets.push(SyncTarget {
                log,
                variant: format!("RingLog prefault({prefault}), {pace}"),
                rate_per_s,
                hist: new_hist(),
                busy: Duration::ZERO,
                sync_time: Duration::ZERO,
                syncs: 0,
                appends: 0,
                append_faults: 0,
                seq: 0,
                last_sync: Instant::now(),
            });
        }
    }
    let mut rec = Box::new(T::new(0));
    // Warm-up as for the other ring rows (one lap and more, not timed), then one sync: every
    // target starts its timed rounds with its pages cleaned by writeback.
    for t in &mut targets {
        for _ in 0..RING_CAPACITY + plan.ring_warmup {
            rec.set_seq(t.seq);
            t.seq += 1;
            Appender::append(&mut t.log, black_box(&*rec));
        }
        t.log.sync()?;
        t.last_sync = Instant::now();
    }
    let _pin = Pin::to(plan.cpu);
    let per_round = plan.ring_appends.div_ceil(SYNC_ROUNDS);
    for round in 0..SYNC_ROUNDS {
        let order: Vec<usize> =
            if round % 2 == 0 { (0..targets.len()).collect() } else { (0..targets.len()).rev().collect() };
        for i in order {
            let t = &mut targets[i];
            // Paced rows take 1 s per million appends: a fifth of the count.
            let n = if t.rate_per_s.is_some() { per_round.div_ceil(5) } else { per_round };
            t.last_sync = Instant::now();
            t.run(&mut rec, n)?;
        }
    }
    rows.extend(targets.into_iter().map(SyncTarget::into_row));
    Ok(())
}

/// Sync suite: 64 B appends with a sync every 10 ms by the writer, without and with prefault.
pub fn ring_sync_suite(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    ring_sync_size::<Rec64>(plan, rows)
}

// ---------------------------------------------------------------------------------------------
// Journal targets

/// `len` pseudo-random (splitmix64, incompressible) bytes.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
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

/// A journal-side target: writes one entry (timed); `finish` runs untimed after the loop.
pub trait Writer {
    fn write(&mut self, entry: &[u8]) -> Result<(), BoxError>;
    fn finish(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}

/// Times `count` writes of `entry` (per-op, Instant pairs) after `warmup` untimed ones.
#[allow(clippy::too_many_arguments)]
pub fn time_writes<W: Writer>(
    w: &mut W,
    plan: &Plan,
    count: u64,
    entry: &[u8],
    group: &str,
    variant: &str,
    note: &str,
) -> Result<Row, BoxError> {
    for _ in 0..plan.journal_warmup {
        w.write(entry)?;
    }
    let mut h = new_hist();
    let elapsed = {
        let _pin = Pin::to(plan.cpu);
        let start = Instant::now();
        for _ in 0..count {
            let t0 = Instant::now();
            w.write(black_box(entry))?;
            let t1 = Instant::now();
            record(&mut h, t1 - t0, 1);
        }
        start.elapsed()
    };
    w.finish()?;
    Ok(Row {
        group: group.into(),
        variant: variant.into(),
        size: entry.len(),
        ops: count,
        method: "per-op".into(),
        hist: h,
        elapsed,
        threads: 1,
        note: note.into(),
    })
}

/// Raw async limit: 4-byte length prefix + entry through a 256 KiB `BufWriter`, never synced.
pub struct RawBuffered(BufWriter<File>);

impl RawBuffered {
    pub fn create(path: &Path) -> Result<Self, BoxError> {
        let f = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(RawBuffered(BufWriter::with_capacity(RAW_BUF_BYTES, f)))
    }
}

impl Writer for RawBuffered {
    #[inline]
    fn write(&mut self, entry: &[u8]) -> Result<(), BoxError> {
        self.0.write_all(&(entry.len() as u32).to_le_bytes())?;
        self.0.write_all(entry)?;
        Ok(())
    }
    fn finish(&mut self) -> Result<(), BoxError> {
        Ok(self.0.flush()?)
    }
}

/// Raw sync limit: one `write` of length prefix + entry, then `fdatasync`, on one growing file.
pub struct RawSync {
    file: File,
    buf: Vec<u8>,
}

impl RawSync {
    pub fn create(path: &Path) -> Result<Self, BoxError> {
        let file = OpenOptions::new().write(true).create_new(true).open(path)?;
        Ok(RawSync { file, buf: Vec::new() })
    }
}

impl Writer for RawSync {
    fn write(&mut self, entry: &[u8]) -> Result<(), BoxError> {
        self.buf.clear();
        self.buf.extend_from_slice(&(entry.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(entry);
        self.file.write_all(&self.buf)?;
        self.file.sync_data()?;
        Ok(())
    }
}

/// Sync limit without file growth: `pwrite` + `fdatasync` into a zero-filled, already-synced
/// 64 MiB file, wrapping around (no size or extent change per write, like a preallocated or
/// recycled log file).
pub struct RawSyncPrealloc {
    file: File,
    buf: Vec<u8>,
    off: u64,
}

const PREALLOC_BYTES: u64 = 64 << 20;

impl RawSyncPrealloc {
    pub fn create(path: &Path) -> Result<Self, BoxError> {
        let mut file = OpenOptions::new().write(true).create_new(true).open(path)?;
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(PREALLOC_BYTES >> 20) {
            file.write_all(&zeros)?;
        }
        file.sync_all()?;
        Ok(RawSyncPrealloc { file, buf: Vec::new(), off: 0 })
    }
}

impl Writer for RawSyncPrealloc {
    fn write(&mut self, entry: &[u8]) -> Result<(), BoxError> {
        use std::os::unix::fs::FileExt;
        self.buf.clear();
        self.buf.extend_from_slice(&(entry.len() as u32).to_le_bytes());
        self.buf.extend_from_slice(entry);
        if self.off + self.buf.len() as u64 > PREALLOC_BYTES {
            self.off = 0;
        }
        self.file.write_all_at(&self.buf, self.off)?;
        self.off += self.buf.len() as u64;
        self.file.sync_data()?;
        Ok(())
    }
}

impl Writer for Journal {
    #[inline]
    fn write(&mut self, entry: &[u8]) -> Result<(), BoxError> {
        Journal::write(self, entry)?;
        Ok(())
    }
    fn finish(&mut self) -> Result<(), BoxError> {
        Ok(self.close()?)
    }
}

/// The journal modes measured: (label, mode, acknowledgement policy, durable per write). "Journal
/// Sync" is the default configuration (`Ack::DataSynced`: one fdatasync per commit).
pub const JOURNAL_MODES: [(&str, SyncMode, Ack, bool); 4] = [
    ("Journal Async", SyncMode::Async, Ack::DataSynced, false),
    ("Journal Interval(10ms)", SyncMode::Interval(10), Ack::DataSynced, false),
    ("Journal Sync", SyncMode::Sync, Ack::DataSynced, true),
    ("Journal Sync, Ack::Watermarked", SyncMode::Sync, Ack::Watermarked, true),
];

/// Entry sizes of the group-commit suites.
pub const GROUP_SIZES: [usize; 3] = [64, 1024, 65536];

/// Writes per group-commit cell of `size` bytes: `group_writes`, a quarter of it for 64 KiB
/// entries (a cell of 20,000 would be 1.3 GB).
pub fn group_writes_for(plan: &Plan, size: usize) -> u64 {
    if size >= 65536 { (plan.group_writes / 4).max(1) } else { plan.group_writes }
}

/// Journal suite: raw BufWriter and raw write+fdatasync, and `Journal` in each mode, per size.
pub fn journal_suite(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    for size in JOURNAL_SIZES {
        let entry = random_bytes(size, size as u64);
        let n = plan.journal_writes;
        {
            let dir = plan.scratch()?;
            let mut w = RawBuffered::create(&dir.path().join("raw"))?;
            rows.push(time_writes(&mut w, plan, n, &entry, "journal async", "raw BufWriter 256K (limit)", "")?);
        }
        for (label, mode, ack, durable) in JOURNAL_MODES {
            let dir = plan.scratch()?;
            let mut j = Journal::open(dir.path().join("j"), JournalOptions::default().sync(mode).ack(ack))?;
            let (group, count) = if durable { ("journal sync", plan.sync_writes) } else { ("journal async", n) };
            rows.push(time_writes(&mut j, plan, count, &entry, group, label, "")?);
        }
        {
            // The default policy with every round carrying the watermark (page 0) as well as its
            // frames, as before `watermark_every_rounds`: what skipping it saves a lone writer.
            let dir = plan.scratch()?;
            let opts = JournalOptions::default().sync(SyncMode::Sync).watermark_every_rounds(1);
            let mut j = Journal::open(dir.path().join("j"), opts)?;
            let label = "Journal Sync, watermark every round";
            rows.push(time_writes(&mut j, plan, plan.sync_writes, &entry, "journal sync", label, "")?);
        }
        {
            let dir = plan.scratch()?;
            let mut w = RawSync::create(&dir.path().join("raw"))?;
            rows.push(time_writes(
                &mut w,
                plan,
                plan.sync_writes,
                &entry,
                "journal sync",
                "raw write+fdatasync (limit)",
                "",
            )?);
        }
        {
            let dir = plan.scratch()?;
            let mut w = RawSyncPrealloc::create(&dir.path().join("raw"))?;
            let v = "raw pwrite+fdatasync, prealloc";
            rows.push(time_writes(
                &mut w,
                plan,
                plan.sync_writes,
                &entry,
                "journal sync",
                v,
                "zero-filled 64 MiB file",
            )?);
        }
    }
    Ok(())
}

/// Runs `threads` writers, each doing `per_thread` durable writes through `write(thread, entry)`;
/// returns the merged per-op histogram and the wall time (from a common start barrier).
pub fn run_threads<F>(
    threads: usize,
    per_thread: u64,
    entry: &[u8],
    write: F,
) -> Result<(hdrhistogram::Histogram<u64>, Duration), BoxError>
where
    F: Fn(usize, &[u8]) -> Result<(), BoxError> + Sync,
{
    let barrier = Barrier::new(threads + 1);
    let write = &write;
    let barrier = &barrier;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || -> Result<hdrhistogram::Histogram<u64>, BoxError> {
                    let mut h = new_hist();
                    barrier.wait();
                    for _ in 0..per_thread {
                        let t0 = Instant::now();
                        write(t, entry)?;
                        record(&mut h, t0.elapsed(), 1);
                    }
                    Ok(h)
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let mut all = new_hist();
        for h in handles {
            let h = h.join().map_err(|_| "writer thread panicked")??;
            all.add(&h).map_err(|e| format!("histogram: {e:?}"))?;
        }
        Ok((all, start.elapsed()))
    })
}

/// `n` CPU-bound busy-loop processes (`sh -c 'while :; do :; done'`), killed and reaped on drop:
/// the "busy host" a real-time loop shares its cores with.
pub struct BusyLoad(Vec<std::process::Child>);

impl BusyLoad {
    pub fn start(n: usize) -> Result<BusyLoad, BoxError> {
        let mut load = BusyLoad(Vec::with_capacity(n));
        for _ in 0..n {
            let child = std::process::Command::new("sh")
                .args(["-c", "while :; do :; done"])
                .stdin(std::process::Stdio::null())
                .spawn()
                .map_err(|e| format!("start a busy-loop process: {e}"))?;
            load.0.push(child);
        }
        Ok(load)
    }
}

impl Drop for BusyLoad {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Group commit: 1, 2, 4, 8 threads share one `Journal` in `SyncMode::Sync`, 64 B, 1 KiB and
/// 64 KiB entries, each thread waiting for each of its writes to be durable; per-op latencies of
/// all threads merged.
pub fn group_suite(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    for size in GROUP_SIZES {
        let entry = random_bytes(size, size as u64);
        for threads in [1usize, 2, 4, 8] {
            let per_thread = (group_writes_for(plan, size) / threads as u64).max(1);
            // Every Sync-mode row of the single-writer table, one per acknowledgement policy.
            for (label, _, ack, _) in JOURNAL_MODES.into_iter().filter(|m| m.1 == SyncMode::Sync) {
                let (hist, elapsed) = journal_group(plan, ack, threads, per_thread, &entry)?;
                rows.push(Row::group_commit(label, size, threads, per_thread, hist, elapsed));
            }
        }
    }
    Ok(())
}

/// The (entry size, writers) cells measured beside a CPU-bound load.
pub const LOADED_CELLS: [(usize, usize); 5] = [(64, 1), (64, 2), (64, 4), (64, 8), (1024, 8)];

/// Group commit beside `plan.load` busy-loop processes, `LOADED_CELLS`, every Sync policy. Rows:
/// group "group commit under load", note "beside N busy-loop processes".
pub fn group_loaded_suite(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let _load = BusyLoad::start(plan.load)?;
    for (size, threads) in LOADED_CELLS {
        let entry = random_bytes(size, size as u64);
        let per_thread = (group_writes_for(plan, size) / threads as u64).max(1);
        for (label, _, ack, _) in JOURNAL_MODES.into_iter().filter(|m| m.1 == SyncMode::Sync) {
            let (hist, elapsed) = journal_group(plan, ack, threads, per_thread, &entry)?;
            let mut row = Row::group_commit(label, size, threads, per_thread, hist, elapsed);
            row.group = "group commit under load".into();
            row.note = format!("beside {} busy-loop process{}", plan.load, if plan.load == 1 { "" } else { "es" });
            rows.push(row);
        }
    }
    Ok(())
}

/// `threads` writers sharing one `Journal` (Sync, `ack`) in a fresh scratch dir, each writing
/// `per_thread` entries durably: the merged per-op histogram and the wall time.
pub fn journal_group(
    plan: &Plan,
    ack: Ack,
    threads: usize,
    per_thread: u64,
    entry: &[u8],
) -> Result<(Histogram<u64>, Duration), BoxError> {
    let dir = plan.scratch()?;
    let opts = JournalOptions::default().sync(SyncMode::Sync).ack(ack);
    let j = Journal::open(dir.path().join("j"), opts)?;
    let r = run_threads(threads, per_thread, entry, |_, e| Ok(j.write(e).map(drop)?))?;
    j.close()?;
    Ok(r)
}

/// Runs the timer calibration and the selected suites; returns (context, rows).
pub fn run_suites(plan: &Plan) -> Result<(Value, Vec<Row>), BoxError> {
    let timer = timer_overhead(if plan.quick { 100_000 } else { 2_000_000 }, plan.cpu);
    let ctx = context(plan, &timer);
    let mut rows = Vec::new();
    if plan.runs("ring") {
        ring_suite(plan, &mut rows)?;
    }
    if plan.runs("ring-sync") {
        ring_sync_suite(plan, &mut rows)?;
    }
    if plan.runs("journal") {
        journal_suite(plan, &mut rows)?;
    }
    if plan.runs("group") {
        group_suite(plan, &mut rows)?;
        if plan.load > 0 && !plan.peers {
            group_loaded_suite(plan, &mut rows)?;
        }
    }
    Ok((ctx, rows))
}

/// Table order: ours, baselines and peers of one kind together.
fn group_rank(g: &str) -> usize {
    [
        "ring append",
        "ring append + sync",
        "ring replay",
        "journal async",
        "journal sync",
        "group commit",
        "group commit, interleaved",
        "group commit under load",
        "group commit under load, interleaved",
    ]
    .iter()
    .position(|x| *x == g)
    .unwrap_or(9)
}

/// Prints the run as tables or one JSON document (rows grouped by kind, size, threads; the
/// order within a group is the order measured).
pub fn report(ctx: &Value, rows: &[Row], args: &BenchArgs) -> Result<(), BoxError> {
    let mut rows = rows.to_vec();
    rows.sort_by_key(|r| (group_rank(&r.group), r.size, r.threads));
    let rows = &rows[..];
    let doc = json!({ "context": ctx, "results": rows.iter().map(Row::to_json).collect::<Vec<_>>() });
    let text = serde_json::to_string_pretty(&doc)?;
    if let Some(path) = &args.json_file {
        std::fs::write(path, &text)?;
    }
    if args.json {
        println!("{text}");
    } else {
        print_context(ctx);
        print_table(rows);
    }
    Ok(())
}

/// `replaylog bench`.
pub fn run(args: &BenchArgs) -> Result<ExitCode, BoxError> {
    let plan = Plan::new(args)?;
    let (ctx, rows) = run_suites(&plan)?;
    report(&ctx, &rows, args)?;
    Ok(ExitCode::SUCCESS)
}
