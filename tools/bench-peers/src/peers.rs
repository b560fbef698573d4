//! The peer crates' targets, measured with the shared harness.

use std::path::Path;
use std::time::Duration;

use crate::harness::{self, Appender, BenchRecord, Plan, Rec64, Rec256, Row, Writer};
use replaylog::SyncMode;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

// ---------------------------------------------------------------------------------------------
// Ring peer: mmap-vecdeque

/// `mmap-vecdeque` as an append-only queue: `push_back` into 65536-element memory-mapped chunk
/// files (a new file is created and mapped when a chunk fills). No checksum, no cursor; nothing
/// is durable before `commit` (not called in the timed loop).
struct VecDequePeer<T: Copy> {
    dq: mmap_vecdeque::MmapVecDeque<T>,
}

impl<T: BenchRecord> Appender<T> for VecDequePeer<T> {
    #[inline]
    fn append(&mut self, rec: &T) {
        self.dq.push_back(*rec).expect("mmap-vecdeque push_back");
    }
}

fn ring_peer<T: BenchRecord>(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    let dir = plan.scratch()?;
    let dq = mmap_vecdeque::MmapVecDeque::<T>::open_or_create(&dir.path().join("dq"), Some(65_536))?;
    let mut peer = VecDequePeer { dq };
    let warmup = harness::RING_CAPACITY + plan.ring_warmup;
    let note = "append-only, no CRC, new chunk file per 65536";
    let (a, b) = harness::time_appends::<T, _>(&mut peer, plan, warmup, "ring append", "peer: mmap-vecdeque (d)", note);
    rows.extend([a, b]);
    Ok(())
}

/// Ring peers at 64 B and 256 B.
pub fn ring_peers(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    ring_peer::<Rec64>(plan, rows)?;
    ring_peer::<Rec256>(plan, rows)
}

// ---------------------------------------------------------------------------------------------
// Journal peers

#[derive(Debug)]
struct NoCheckpoint;

impl okaywal::LogManager for NoCheckpoint {
    fn recover(&mut self, _entry: &mut okaywal::Entry<'_>) -> std::io::Result<()> {
        Ok(())
    }
    fn checkpoint_to(
        &mut self,
        _last: okaywal::EntryId,
        _entries: &mut okaywal::SegmentReader,
        _wal: &okaywal::WriteAheadLog,
    ) -> std::io::Result<()> {
        Ok(())
    }
}

/// Opens okaywal in `dir`. Call `shutdown` before `dir` is removed: dropping the log does not
/// join its checkpoint thread, which may still be renaming files in `dir` (a CI run of the smoke
/// test once found a scratch file left behind).
fn okaywal_open(dir: &Path) -> Result<okaywal::WriteAheadLog, BoxError> {
    Ok(okaywal::WriteAheadLog::recover(dir, NoCheckpoint)?)
}

/// okaywal, one entry (one chunk) committed per write: every commit is durable (fdatasync).
struct OkaywalSync(okaywal::WriteAheadLog);

impl Writer for OkaywalSync {
    fn write(&mut self, entry: &[u8]) -> Result<(), BoxError> {
        let mut e = self.0.begin_entry()?;
        e.write_chunk(entry)?;
        e.commit()?;
        Ok(())
    }
}

/// okaywal has no no-sync mode (every commit fdatasyncs). Closest buffered use: each write is a
/// chunk of one open entry, committed every `COMMIT_EVERY` writes (the commit is timed in the
/// write that triggers it).
struct OkaywalChunks<'a> {
    wal: &'a okaywal::WriteAheadLog,
    open: Option<okaywal::EntryWriter<'a>>,
    n: u64,
}

const COMMIT_EVERY: u64 = 1000;

impl Writer for OkaywalChunks<'_> {
    fn write(&mut self, entry: &[u8]) -> Result<(), BoxError> {
        let e = match &mut self.open {
            Some(e) => e,
            None => self.open.insert(self.wal.begin_entry()?),
        };
        e.write_chunk(entry)?;
        self.n += 1;
        if self.n % COMMIT_EVERY == 0 {
            if let Some(e) = self.open.take() {
                e.commit()?;
            }
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), BoxError> {
        if let Some(e) = self.open.take() {
            e.commit()?;
        }
        Ok(())
    }
}

/// raft-engine, default config: one `LogBatch` with one key-value `put` per write (the same key,
/// so the memtable keeps one value), `Engine::write(batch, sync)`.
struct RaftEngine {
    engine: raft_engine::Engine,
    sync: bool,
}

impl RaftEngine {
    fn open(dir: &Path, sync: bool) -> Result<Self, BoxError> {
        let cfg = raft_engine::Config { dir: dir.display().to_string(), ..Default::default() };
        Ok(RaftEngine { engine: raft_engine::Engine::open(cfg)?, sync })
    }
}

fn raft_write(engine: &raft_engine::Engine, region: u64, entry: &[u8], sync: bool) -> Result<(), BoxError> {
    let mut batch = raft_engine::LogBatch::default();
    batch.put(region, b"k".to_vec(), entry.to_vec())?;
    engine.write(&mut batch, sync)?;
    Ok(())
}

impl Writer for RaftEngine {
    fn write(&mut self, entry: &[u8]) -> Result<(), BoxError> {
        raft_write(&self.engine, 1, entry, self.sync)
    }
}

/// fjall 3 (default config): keyspace `insert` of (u64 BE key, entry); in the sync variant each
/// insert is followed by `Database::persist(PersistMode::SyncData)` (journal fdatasync).
struct Fjall {
    db: fjall::Database,
    ks: fjall::Keyspace,
    next: u64,
    persist: Option<fjall::PersistMode>,
}

impl Fjall {
    fn open(dir: &Path, persist: Option<fjall::PersistMode>) -> Result<Self, BoxError> {
        let db = fjall::Database::builder(dir).open()?;
        let ks = db.keyspace("bench", fjall::KeyspaceCreateOptions::default)?;
        Ok(Fjall { db, ks, next: 0, persist })
    }
}

impl Writer for Fjall {
    fn write(&mut self, entry: &[u8]) -> Result<(), BoxError> {
        self.next += 1;
        self.ks.insert(self.next.to_be_bytes(), entry)?;
        if let Some(mode) = self.persist {
            self.db.persist(mode)?;
        }
        Ok(())
    }
}

/// Journal peers per size, in their buffered (no-sync) and durable configurations.
pub fn journal_peers(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    for size in harness::JOURNAL_SIZES {
        let entry = harness::random_bytes(size, size as u64);
        let (n, ns) = (plan.journal_writes, plan.sync_writes);
        let (ga, gs) = ("journal async", "journal sync");
        {
            let dir = plan.scratch()?;
            let wal = okaywal_open(dir.path())?;
            let mut w = OkaywalChunks { wal: &wal, open: None, n: 0 };
            let note = "no no-sync mode: chunks, commit every 1000";
            rows.push(harness::time_writes(&mut w, plan, n, &entry, ga, "peer: okaywal (chunk)", note)?);
            drop(w);
            wal.shutdown()?;
        }
        {
            let dir = plan.scratch()?;
            let mut w = RaftEngine::open(dir.path(), false)?;
            rows.push(harness::time_writes(&mut w, plan, n, &entry, ga, "peer: raft-engine sync=false", "")?);
        }
        {
            let dir = plan.scratch()?;
            let mut w = Fjall::open(dir.path(), None)?;
            rows.push(harness::time_writes(&mut w, plan, n, &entry, ga, "peer: fjall insert (no persist)", "")?);
        }
        {
            let dir = plan.scratch()?;
            let mut w = OkaywalSync(okaywal_open(dir.path())?);
            rows.push(harness::time_writes(&mut w, plan, ns, &entry, gs, "peer: okaywal commit", "")?);
            w.0.shutdown()?;
        }
        {
            let dir = plan.scratch()?;
            let mut w = RaftEngine::open(dir.path(), true)?;
            rows.push(harness::time_writes(&mut w, plan, ns, &entry, gs, "peer: raft-engine sync=true", "")?);
        }
        {
            let dir = plan.scratch()?;
            let mut w = Fjall::open(dir.path(), Some(fjall::PersistMode::SyncData))?;
            rows.push(harness::time_writes(&mut w, plan, ns, &entry, gs, "peer: fjall insert+persist(SyncData)", "")?);
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Group commit

/// Group commit peers: 1, 2, 4, 8 threads, 64 B, 1 KiB and 64 KiB entries, each write durable
/// before it returns (the `Journal` rows come from the harness's `group` suite).
pub fn group_commit(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    for size in harness::GROUP_SIZES {
        let entry = harness::random_bytes(size, size as u64);
        for threads in [1usize, 2, 4, 8] {
            let per_thread = (harness::group_writes_for(plan, size) / threads as u64).max(1);
            let mut push = |variant: &str, (hist, elapsed): (hdrhistogram::Histogram<u64>, Duration)| {
                rows.push(Row::group_commit(variant, size, threads, per_thread, hist, elapsed));
            };
            push("peer: okaywal commit", okaywal_group(plan, threads, per_thread, &entry)?);
            {
                let dir = plan.scratch()?;
                let engine = RaftEngine::open(dir.path(), true)?.engine;
                let r = harness::run_threads(threads, per_thread, &entry, |t, e| {
                    raft_write(&engine, t as u64 + 1, e, true)
                })?;
                push("peer: raft-engine sync=true", r);
            }
            {
                let dir = plan.scratch()?;
                let f = Fjall::open(dir.path(), None)?;
                let next = std::sync::atomic::AtomicU64::new(0);
                let r = harness::run_threads(threads, per_thread, &entry, |_, e| {
                    let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    f.ks.insert(k.to_be_bytes(), e)?;
                    f.db.persist(fjall::PersistMode::SyncData)?;
                    Ok(())
                })?;
                push("peer: fjall insert+persist(SyncData)", r);
            }
        }
    }
    Ok(())
}

/// `threads` writers sharing one okaywal log in a fresh scratch dir, each committing (fdatasync)
/// `per_thread` one-chunk entries: the merged per-op histogram and the wall time.
fn okaywal_group(
    plan: &Plan,
    threads: usize,
    per_thread: u64,
    entry: &[u8],
) -> Result<(hdrhistogram::Histogram<u64>, Duration), BoxError> {
    let dir = plan.scratch()?;
    let wal = okaywal_open(dir.path())?;
    let r = harness::run_threads(threads, per_thread, entry, |_, e| {
        let mut w = wal.begin_entry()?;
        w.write_chunk(e)?;
        w.commit()?;
        Ok(())
    })?;
    wal.shutdown()?;
    Ok(r)
}

/// Rounds of the interleaved group-commit comparison (`--quick`: 2).
const DUEL_ROUNDS: usize = 5;

/// The group-commit targets measured head to head: 1 and 8 writer threads at 64 B, 1 KiB and 64 KiB,
/// `Journal` Sync with each `Ack` policy and okaywal alternating, `DUEL_ROUNDS` rounds. The
/// separate group tables run each target once, minutes apart, and this disk's fdatasync latency
/// drifts by tens of percent over minutes (okaywal's 1-thread rate moved 5.7-7.9 K/s between full
/// runs); alternating puts every pair of rows seconds apart, so each round's ratio compares like
/// with like. Rows: group "group commit, interleaved", method "round N".
pub fn group_duel(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    // 8 writers (the group-commit goals) and 1 (a lone writer: the separate table's 1-writer
    // cells, run first in a fresh process and minutes from okaywal's, disagreed with the
    // single-writer suite by more than the goal's margin).
    let cells: Vec<(usize, usize)> = harness::GROUP_SIZES.iter().flat_map(|&s| [(s, 1), (s, 8)]).collect();
    duel(plan, rows, &cells, "group commit, interleaved")
}

/// The same comparison on a busy host: `plan.load` CPU-bound busy-loop processes run beside
/// it (one per core keeps every core loaded), at 1, 2, 4 and 8 writers × 64 B and 8 writers ×
/// 1 KiB. Rows: group "group commit under load, interleaved", method "round N".
pub fn group_duel_loaded(plan: &Plan, rows: &mut Vec<Row>) -> Result<(), BoxError> {
    if plan.load == 0 {
        return Ok(());
    }
    let _load = harness::BusyLoad::start(plan.load)?;
    duel(plan, rows, &harness::LOADED_CELLS, "group commit under load, interleaved")
}

/// For each round, each (size, threads) cell: every Sync `Journal` policy, then okaywal.
fn duel(plan: &Plan, rows: &mut Vec<Row>, cells: &[(usize, usize)], group: &str) -> Result<(), BoxError> {
    let rounds = if plan.quick { 2 } else { DUEL_ROUNDS };
    for round in 1..=rounds {
        for &(size, threads) in cells {
            let entry = harness::random_bytes(size, size as u64);
            let per_thread = (harness::group_writes_for(plan, size) / threads as u64).max(1);
            let mut push = |variant: &str, (hist, elapsed): (hdrhistogram::Histogram<u64>, Duration)| {
                let mut row = Row::group_commit(variant, size, threads, per_thread, hist, elapsed);
                row.group = group.into();
                row.method = format!("round {round}");
                rows.push(row);
            };
            for (label, _, ack, _) in harness::JOURNAL_MODES.into_iter().filter(|m| m.1 == SyncMode::Sync) {
                push(label, harness::journal_group(plan, ack, threads, per_thread, &entry)?);
            }
            push("peer: okaywal commit", okaywal_group(plan, threads, per_thread, &entry)?);
        }
    }
    Ok(())
}
