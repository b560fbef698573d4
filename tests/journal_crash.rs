//! Journal crash contracts (issue 10): power loss on the simulated disk in every sync mode, rot
//! in acknowledged data, fail-at-k I/O errors, misdirected writes, latent read errors, and real
//! SIGKILLs on real files.
//!
//! Property: after any crash the journal opens in the default mode, and replay returns exactly a
//! prefix of what was written containing everything acknowledged (by a Sync-mode write, `sync`,
//! `roll`, `snapshot` or `close`); rot injected into acknowledged data is `Corrupt`, never
//! truncated away, and the refused open changes nothing. `RL_SEED=<n>` reruns one scenario.

mod common;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use common::*;
use replaylog::lowlevel::storage::Storage;
use replaylog::lowlevel::storage::sim::SimStorage;
use replaylog::{Ack, Journal, JournalOptions, Position, ReadOnlyJournal, ReplayLogError, SyncMode};

/// Entry content as a function of its LSN, so any replayed entry can be checked exactly.
/// An entry: one in ten is 6000 bytes, compressible unless `big_random` (then the segment file
/// of a preallocating disk is extended several times within a scenario).
fn payload(lsn: u64, rng_len: u64, big_random: bool) -> Vec<u8> {
    let len = match rng_len % 10 {
        0 => 6000,
        _ => (rng_len % 400) as usize,
    };
    if rng_len % 10 == 0 && !big_random {
        return (0..len).map(|i| (lsn as usize + i / 100) as u8).collect();
    }
    let mut v = vec![0u8; len];
    Rng::new(lsn * 7919).fill(&mut v);
    v
}

fn mode_of(seed: u64) -> SyncMode {
    // Interval with a long period: the flusher does not fire inside a scenario, which keeps
    // every scenario reproducible from its seed; acknowledgement comes from explicit syncs.
    [SyncMode::Async, SyncMode::Sync, SyncMode::Interval(60_000)][(seed % 3) as usize]
}

/// A fresh simulated disk for `seed`: three seeds in four preallocate segment files (zero-filled
/// to their maximum size, as `FileStorage::allocate` does on a real disk), the rest grow them write by write.
fn disk_for(seed: u64) -> SimStorage {
    if (seed / 3) % 4 == 3 { SimStorage::new() } else { SimStorage::preallocating() }
}

/// The acknowledgement policy of `seed`'s workload: alternating in blocks of 12 seeds, so every
/// combination with the sync mode and the disk kind occurs.
fn ack_of(seed: u64) -> Ack {
    if (seed / 12) % 2 == 0 { Ack::DataSynced } else { Ack::Watermarked }
}

fn options(storage: &SimStorage, mode: SyncMode) -> JournalOptions {
    JournalOptions::default()
        .sync(mode)
        .segment_bytes_max(64 * 1024)
        .watermark_every_rounds(EVERY_ROUNDS)
        .storage(Arc::new(storage.clone()))
}

/// What a workload wrote and what was acknowledged durable.
#[derive(Default, Debug)]
struct Model {
    entries: Vec<Vec<u8>>, // index = lsn - 1
    acked: u64,            // every lsn <= acked is acknowledged
    /// Every lsn <= this is covered by a durable watermark: rot at or below it must be
    /// `Corrupt`; with `Ack::DataSynced` rot in (covered, acked] may be cut as a torn tail
    /// (reported). Under `Ack::Watermarked` (and after roll, snapshot, close) it is `acked`;
    /// under `Ack::DataSynced` what the journal's `watermark_lsn` says, checked (against
    /// `history`) to lag the acknowledgements by at most `EVERY_ROUNDS` of them.
    covered: u64,
    /// `acked` after each acknowledgement that advanced it (each took at least one round).
    history: Vec<u64>,
    error: Option<String>,
}

/// The rounds between two watermark writes of `Ack::DataSynced` in these workloads.
const EVERY_ROUNDS: u32 = 4;

impl Model {
    /// Records an acknowledgement up to `lsn` by an operation of policy `ack` (`Watermarked` for
    /// roll and snapshot, which always make the watermark durable); `wm_next` is the journal's
    /// `watermark_lsn()` after it.
    fn ack(&mut self, lsn: u64, ack: Ack, wm_next: u64) {
        if lsn > self.acked {
            self.history.push(lsn);
        }
        self.acked = self.acked.max(lsn);
        match ack {
            Ack::Watermarked => {
                self.covered = self.acked;
                assert_eq!(wm_next, self.acked + 1, "a watermarked acknowledgement leaves the watermark behind");
            }
            Ack::DataSynced => self.covered = self.covered.max(wm_next - 1),
        }
        assert!(self.covered <= self.acked, "the watermark covers lsn {} never acknowledged", self.covered);
        // A watermark covering an acknowledged round is written at the latest by the
        // `EVERY_ROUNDS`-th round after it, and every later advancing acknowledgement took one.
        let k = EVERY_ROUNDS as usize;
        if self.history.len() > k {
            let due = self.history[self.history.len() - 1 - k];
            assert!(self.covered >= due, "watermark at {} lags lsn {due}, acknowledged {k} rounds ago", self.covered);
        }
    }
}

/// Runs the seeded workload until it ends or an operation fails; never panics on I/O errors.
fn workload(storage: &SimStorage, seed: u64, steps: u64) -> Model {
    let mode = mode_of(seed);
    let ack = ack_of(seed);
    // Incompressible large entries on preallocating disks only: the scenarios of the other
    // seeds (and the regression seed below) stay exactly what they were.
    let big = (seed / 3) % 4 != 3;
    let mut rng = Rng::new(seed);
    let mut m = Model::default();
    let j = match Journal::open("/j", options(storage, mode).ack(ack)) {
        Ok(j) => j,
        Err(e) => {
            m.error = Some(e.to_string());
            return m;
        }
    };
    let mut step = || -> Result<(), ReplayLogError> {
        let next = m.entries.len() as u64 + 1;
        let wm = || j.watermark_lsn().map_or(1, |l| l.0);
        match rng.below(20) {
            0..=13 => {
                let data = payload(next, rng.next_u64(), big);
                m.entries.push(data.clone());
                let lsn = j.write(&data)?;
                assert_eq!(lsn.0, next);
                if mode == SyncMode::Sync {
                    m.ack(next, ack, wm());
                }
            }
            14 | 15 => {
                j.sync()?;
                m.ack(m.entries.len() as u64, ack, wm());
            }
            16 => {
                let a = payload(next, rng.next_u64(), big);
                let b = payload(next + 1, rng.next_u64(), big);
                m.entries.push(a.clone());
                m.entries.push(b.clone());
                j.write_batch(&[&a, &b])?;
                if mode == SyncMode::Sync {
                    m.ack(next + 1, ack, wm());
                }
            }
            17 => {
                j.roll()?;
                m.ack(m.entries.len() as u64, Ack::Watermarked, wm());
            }
            18 => {
                let data = payload(next, rng.next_u64(), big);
                m.entries.push(data.clone());
                j.snapshot(&data)?;
                m.ack(next, Ack::Watermarked, wm());
            }
            _ => {}
        }
        Ok(())
    };
    for _ in 0..steps {
        if let Err(e) = step() {
            m.error = Some(e.to_string());
            break;
        }
    }
    drop(j); // a best-effort close; may fail after an error
    m
}

/// Opens the journal on `storage` and checks the prefix property against `m`.
fn check_prefix(storage: SimStorage, m: &Model, ctx: &str) -> Journal {
    let j = Journal::open("/j", options(&storage, SyncMode::Async))
        .unwrap_or_else(|e| panic!("{ctx}: open after the crash failed: {e}"));
    let ro = ReadOnlyJournal::open_with(Arc::new(storage.clone()), "/j").unwrap();
    assert_eq!(ro.problem().map(|p| p.to_string()), None, "{ctx}: damage left after recovery");
    let mut n = 0u64;
    for item in ro.iter_from(Position::Start).unwrap() {
        let item = item.unwrap_or_else(|e| panic!("{ctx}: read failed: {e}"));
        n += 1;
        assert_eq!(item.lsn, n, "{ctx}: not a prefix");
        let want = m.entries.get(n as usize - 1).unwrap_or_else(|| panic!("{ctx}: lsn {n} was never written"));
        assert_eq!(&item.data, want, "{ctx}: lsn {n} altered");
    }
    assert!(n >= m.acked, "{ctx}: acknowledged lsn {} lost (replay ends at {n})", m.acked);
    j
}

/// Flips one byte inside an acknowledged frame of `storage` (chosen by `rng`), or in the header
/// of its segment; returns the frame's lsn, `None` if no acknowledged frame exists.
fn rot(storage: &SimStorage, m: &Model, rng: &mut Rng) -> Option<u64> {
    if m.acked == 0 {
        return None;
    }
    let ro = ReadOnlyJournal::open_with(Arc::new(storage.clone()), "/j").unwrap();
    let lsn = 1 + rng.below(m.acked);
    let Some(Ok(item)) = ro.iter_from(Position::Lsn(lsn)).unwrap().next() else { return None };
    let path = Path::new("/j").join(format!("{:020}.seg", item.segment));
    let mut bytes = storage.contents(&path).unwrap();
    let at = if rng.chance(1, 3) {
        rng.below(64) as usize // the header of the segment holding it
    } else {
        item.offset as usize + 4 + rng.below(20) as usize // its frame header
    };
    bytes[at] ^= 1 << rng.below(8);
    storage.set_contents(&path, bytes);
    Some(lsn)
}

fn snapshot_of(storage: &SimStorage) -> Vec<(String, Vec<u8>)> {
    let mut v = Vec::new();
    for name in storage.list(Path::new("/j")).unwrap_or_default() {
        let p = Path::new("/j").join(&name);
        if let Some(c) = storage.contents(&p) {
            v.push((name, c));
        }
    }
    v
}

const STEPS: u64 = 120;

/// One scenario: run the workload fully to count its storage operations, then cut the power at
/// `cuts` random operations, check each crash state (and, for some, rot in acknowledged data).
fn power_loss_scenario(seed: u64, cuts: usize) -> (usize, usize, usize) {
    let full = disk_for(seed);
    let total_ops = {
        workload(&full, seed, STEPS);
        full.ops()
    };
    let mut rng = Rng::new(seed ^ 0xDEAD_BEEF);
    let (mut states, mut rots, mut cut_rots) = (0, 0, 0);
    for c in 0..cuts {
        let disk = disk_for(seed);
        let k = 1 + rng.below(total_ops);
        disk.stop_at(k);
        let m = workload(&disk, seed, STEPS);
        let cut_seed = rng.next_u64();
        let after = disk.power_cut(cut_seed);
        let ctx = format!(
            "seed {seed} cut {c} (power off at op {k} of {total_ops}, cut seed {cut_seed}, {:?})",
            mode_of(seed)
        );
        let rotted = if rng.chance(1, 4) { rot(&after, &m, &mut rng) } else { None };
        if let Some(lsn) = rotted {
            let before = snapshot_of(&after);
            match Journal::open("/j", options(&after, SyncMode::Async)) {
                Err(ReplayLogError::Corrupt { .. }) => {
                    assert_eq!(snapshot_of(&after), before, "{ctx}: a refused open changed files");
                }
                Err(e) => panic!("{ctx}: rot in acknowledged data gave {e}, expected Corrupt"),
                Ok(j) if lsn > m.covered => {
                    // Ack::DataSynced: the last acknowledged round may lie after the durable
                    // watermark, where rot reads as a torn write: cut, but reported and kept.
                    let report = j.recovery().cloned();
                    assert!(report.is_some_and(|r| r.cut_bytes > 0 && !r.backups.is_empty()), "{ctx}: cut silently");
                    j.close().unwrap();
                    let kept = Model { entries: m.entries.clone(), acked: lsn - 1, ..Model::default() };
                    check_prefix(after.clone(), &kept, &format!("{ctx}, rot in lsn {lsn} cut")).close().unwrap();
                    cut_rots += 1;
                }
                Ok(_) => panic!("{ctx}: rot in lsn {lsn}, covered by the watermark (<= {}), was accepted", m.covered),
            }
            rots += 1;
        } else {
            let j = check_prefix(after.clone(), &m, &ctx);
            // Life goes on after recovery: append, close, and the journal is whole.
            let next = j.next_lsn().unwrap().0;
            j.write(b"after the crash").unwrap();
            j.close().unwrap();
            let ro = ReadOnlyJournal::open_with(Arc::new(after), "/j").unwrap();
            assert_eq!(ro.validation().problem, None, "{ctx}");
            assert_eq!(ro.iter_from(Position::Lsn(next)).unwrap().next().unwrap().unwrap().data, b"after the crash");
        }
        states += 1;
    }
    (states, rots, cut_rots)
}

fn run_power_loss(scenarios: u64, cuts: usize) {
    if let Ok(seed) = std::env::var("RL_SEED") {
        let (n, r, c) = power_loss_scenario(seed.parse().expect("RL_SEED"), cuts);
        println!(
            "journal power loss: seed {seed}: {n} crash states ({r} with rot, {c} cut and reported), 0 violations"
        );
        return;
    }
    let (mut states, mut rots, mut cut_rots) = (0, 0, 0);
    for s in 0..scenarios {
        let (n, r, c) = power_loss_scenario(0x10_0000 + s, cuts);
        states += n;
        rots += r;
        cut_rots += c;
    }
    println!(
        "journal power loss: {scenarios} scenarios x 3 sync modes x 2 ack policies x 2 disk kinds, {states} crash \
         states ({rots} with rot in acknowledged data: {} Corrupt, {cut_rots} after the watermark under \
         Ack::DataSynced, cut and reported), 0 violations",
        rots - cut_rots
    );
    assert!(rots > cut_rots && cut_rots > 0, "both rot outcomes must occur");
}

#[test]
fn power_loss_quick() {
    run_power_loss(420, 25); // 10,500 crash states
}

#[test]
#[ignore = "long: 120,000 crash states"]
fn power_loss_long() {
    run_power_loss(3_000, 40);
}

/// Fail the k-th storage operation for every k of a workload, in every sync mode.
#[test]
fn io_error_at_every_operation() {
    let mut cases = 0;
    for seed in [0x20_0000u64, 0x20_0001, 0x20_0002, 0x20_0003, 0x20_0004, 0x20_0005] {
        let full = disk_for(seed);
        workload(&full, seed, 60);
        let total = full.ops();
        for k in 1..=total {
            let disk = disk_for(seed);
            disk.fail_at(k);
            let m = workload(&disk, seed, 60);
            let ctx = format!("seed {seed} ({:?}) failing op {k} of {total}", mode_of(seed));
            disk.clear_faults();
            // Process crash: everything written is still visible.
            check_prefix(disk.process_crash(), &m, &format!("{ctx}, process crash")).close().unwrap();
            // Power cut: only what was synced survives.
            check_prefix(disk.power_cut(k), &m, &format!("{ctx}, power cut")).close().unwrap();
            cases += 1;
        }
    }
    println!("journal fail-at-k: {cases} failure points x 2 crash views, 0 acknowledged losses, 0 panics");
}

#[test]
fn a_failed_fsync_is_final() {
    let disk = SimStorage::preallocating();
    // Ack::Watermarked: every sync leaves no watermark pending, so no background round (the
    // quiet watermark of Ack::DataSynced) can take the operation counted on below.
    let j = Journal::open("/f", options(&disk, SyncMode::Async).ack(Ack::Watermarked)).unwrap();
    j.write(b"a").unwrap();
    j.sync().unwrap();
    j.write(b"b").unwrap();
    let ops = disk.ops();
    disk.fail_at(ops + 2); // the flush's write succeeds, the fdatasync fails
    assert!(matches!(j.sync(), Err(ReplayLogError::Io { op: "fdatasync", .. })));
    disk.clear_faults();
    // Never retried as if it could succeed.
    assert!(matches!(j.sync(), Err(ReplayLogError::Poisoned { .. })));
    assert!(matches!(j.write(b"c"), Err(ReplayLogError::Poisoned { .. })));
    assert!(matches!(j.roll(), Err(ReplayLogError::Poisoned { .. })));
    assert!(j.close().is_err());
    // The directory lock is released anyway; the durable prefix is intact.
    let cut = disk.power_cut(1);
    let ro = ReadOnlyJournal::open_with(Arc::new(cut), "/f").unwrap();
    let items: Vec<_> = ro.iter_from(Position::Start).unwrap().map(|i| i.unwrap().data).collect();
    assert_eq!(items[0], b"a");
}

#[test]
fn a_misdirected_write_of_acknowledged_data_is_corrupt_not_truncated() {
    let disk = SimStorage::preallocating();
    let j = Journal::open("/m", options(&disk, SyncMode::Sync)).unwrap();
    for i in 0..10u64 {
        j.write(&i.to_le_bytes()).unwrap();
    }
    disk.misdirect_write(1, 8192); // the next frame lands 8 KiB further on
    j.write(b"acknowledged but misplaced").unwrap();
    j.write(b"one more").unwrap();
    drop(j);
    let crashed = disk.process_crash();
    let before = snapshot_of(&crashed);
    match Journal::open("/m", options(&crashed, SyncMode::Sync)) {
        Err(ReplayLogError::Corrupt { location, .. }) => println!("misdirected write detected at {location}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(snapshot_of(&crashed), before);
}

#[test]
fn a_latent_read_error_is_a_typed_io_error() {
    let disk = SimStorage::new();
    let j = Journal::open("/l", options(&disk, SyncMode::Sync)).unwrap();
    j.write(b"x").unwrap();
    j.close().unwrap();
    let seg = Path::new("/l").join(format!("{:020}.seg", 0));
    disk.latent_read_error(&seg, 4096);
    let before = snapshot_of(&disk);
    match Journal::open("/l", options(&disk, SyncMode::Sync)) {
        Err(ReplayLogError::Io { op: "read", path, .. }) => assert_eq!(path, seg),
        other => panic!("expected Io(read), got {other:?}"),
    }
    assert!(matches!(ReadOnlyJournal::open_with(Arc::new(disk.clone()), "/l"), Err(ReplayLogError::Io { .. })));
    assert_eq!(snapshot_of(&disk), before);
}

// ---- real SIGKILLs on real files ------------------------------------------------------------

fn kill_payload(lsn: u64) -> Vec<u8> {
    let mut v = vec![0u8; (lsn % 200) as usize + 8];
    v[..8].copy_from_slice(&lsn.to_le_bytes());
    Rng::new(lsn).fill(&mut v[8..]);
    v
}

/// Child: write forever, printing each acknowledged LSN. Modes: 0 Sync (default `Ack::DataSynced`,
/// with its quiet watermark), 1 Async, 2 Interval(10), 3 Sync with `Ack::Watermarked`.
#[test]
fn journal_kill_child_entry() {
    let Ok(dir) = std::env::var("RL_JOURNAL_CHILD") else { return };
    let mode: u64 = std::env::var("RL_JOURNAL_MODE").unwrap().parse().unwrap();
    let sync = [SyncMode::Sync, SyncMode::Async, SyncMode::Interval(10), SyncMode::Sync][mode as usize];
    let ack = if mode == 3 { Ack::Watermarked } else { Ack::DataSynced };
    let opts = JournalOptions::default().sync(sync).ack(ack).segment_bytes_max(64 * 1024);
    let j = Journal::open(&dir, opts).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "open").unwrap();
    out.flush().unwrap();
    let mut i = 0u64;
    loop {
        let lsn = j.next_lsn().unwrap().0;
        j.write(&kill_payload(lsn)).unwrap();
        i += 1;
        let acked = match sync {
            SyncMode::Sync => Some(lsn),
            _ if i % 17 == 0 => {
                j.sync().unwrap();
                Some(lsn)
            }
            _ => None,
        };
        if let Some(a) = acked {
            writeln!(out, "{a}").unwrap();
            out.flush().unwrap();
        }
    }
}

fn run_journal_kills(kills: usize) {
    let tmp = scratch();
    let dir = tmp.path().join("j");
    let mut rng = Rng::new(0x4B11);
    let mut acked_max = 0u64;
    for k in 0..kills {
        let mode = k % 4;
        let mode_s = mode.to_string();
        let env = [("RL_JOURNAL_CHILD", dir.as_os_str()), ("RL_JOURNAL_MODE", mode_s.as_ref())];
        let (acked, _) = kill_child_at_random(&mut rng, "journal_kill_child_entry", &env, 5_000, 5_000);
        if let Some(a) = acked.into_iter().max() {
            acked_max = acked_max.max(a);
        }
        let ctx = format!("kill {k} (mode {mode})");
        let j = match Journal::open(&dir, JournalOptions::default()) {
            Ok(j) => j,
            Err(e) => panic!("{ctx}: reopen failed: {e}"),
        };
        j.close().unwrap();
        let ro = ReadOnlyJournal::open(&dir).unwrap();
        assert_eq!(ro.validation().problem, None, "{ctx}");
        let mut n = 0;
        for item in ro.iter_from(Position::Start).unwrap() {
            let item = item.unwrap();
            n += 1;
            assert_eq!(item.lsn, n, "{ctx}");
            assert_eq!(item.data, kill_payload(n), "{ctx}: lsn {n} altered");
        }
        assert!(n >= acked_max, "{ctx}: acknowledged lsn {acked_max} lost, replay ends at {n}");
    }
    println!(
        "journal sigkill: {kills} kills over Sync (both Ack policies)/Async/Interval, last acknowledged lsn {acked_max}, 0 losses"
    );
}

#[test]
fn sigkill_loop_quick() {
    run_journal_kills(200);
}

#[test]
#[ignore = "long: 2,000 kills"]
fn sigkill_loop_long() {
    run_journal_kills(2_000);
}

/// Regression, found by the power-loss simulation: the power failed during the fdatasync that
/// creates a new segment; its first page was torn, and open refused the journal as corrupt
/// because the new segment's initial watermark "claimed" its page. Segments are now created as
/// `NAME.seg.tmp` and renamed into place once durable; an interrupted creation leaves a leftover
/// that recovery moves to backup/ (this seed's cuts include such leftovers).
#[test]
fn regression_torn_segment_creation_is_tail_not_corrupt() {
    assert_eq!(power_loss_scenario(1_048_581, 13), (13, 2, 0));
}

/// The writeback hint (`sync_file_range`, started every quarter segment in Async mode) fails like
/// any other operation: fail every operation of a workload whose rolls start writeback, and the
/// failure is typed, final, and loses nothing acknowledged (process crash and power cut views).
#[test]
fn a_failed_writeback_hint_is_final_and_loses_nothing() {
    let run = |disk: &SimStorage| -> (Model, Option<ReplayLogError>) {
        let mut m = Model::default();
        let j = match Journal::open("/j", options(disk, SyncMode::Async).compress_min_bytes(None)) {
            Ok(j) => j,
            Err(e) => return (m, Some(e)),
        };
        for i in 0..40u64 {
            let data = payload(i + 1, i, false);
            let data = [data.clone(), vec![i as u8; 5000]].concat();
            m.entries.push(data.clone());
            if let Err(e) = j.write(&data) {
                // Final: the handle refuses everything after the first failure.
                assert!(matches!(j.write(b"again"), Err(ReplayLogError::Poisoned { .. })), "after {e}");
                return (m, Some(e));
            }
            if i % 10 == 9 {
                if let Err(e) = j.sync() {
                    assert!(matches!(j.write(b"again"), Err(ReplayLogError::Poisoned { .. })), "after {e}");
                    return (m, Some(e));
                }
                m.ack(i + 1, Ack::DataSynced, j.watermark_lsn().map_or(1, |l| l.0));
            }
        }
        (m, None)
    };
    let full = disk_for(0);
    assert!(run(&full).1.is_none());
    let total = full.ops();
    let mut hint_failures = 0;
    for k in 1..=total {
        let disk = disk_for(0);
        disk.fail_at(k);
        let (m, err) = run(&disk);
        if let Some(ReplayLogError::Io { op: "sync_file_range", .. }) = err {
            hint_failures += 1;
        }
        disk.clear_faults();
        let ctx = format!("failing op {k} of {total} ({err:?})");
        check_prefix(disk.process_crash(), &m, &format!("{ctx}, process crash")).close().unwrap();
        check_prefix(disk.power_cut(k), &m, &format!("{ctx}, power cut")).close().unwrap();
    }
    println!("writeback hint: {total} failure points, {hint_failures} of them in sync_file_range, 0 losses");
    assert!(hint_failures > 0, "the workload never started writeback");
}
