//! Crash contracts of RingLog (issue 11, "Crash semantics"):
//!
//! * process crash: a child appending in a loop is SIGKILLed at random moments; replay returns
//!   exactly a contiguous run of what was appended, ending at or after the last append the child
//!   reported;
//! * power loss: crash images built sector by sector from the file right after `sync()` and after
//!   more appends (each differing 512-byte sector taken from either image, torn inside, or filled
//!   with garbage); the ring opens and replays an exact contiguous run containing every synced
//!   record that no later append overwrote; then appends continue after the run and a second cut
//!   proves that slots persisted beyond the run never rejoin.
//!
//! Quick versions run in CI; `cargo test --release --test ring_crash -- --ignored` runs the long
//! ones. `RL_SEED=<n>` reruns one power-loss scenario.

mod common;

use std::io::Write;
use std::ops::Range;
use std::path::Path;

use common::*;
use replaylog::lowlevel::format::ring::Geometry;
use replaylog::{Clock, FailureKind, ReplayFailureEvidence, ReplayRecord, RingLog, RingOptions};

// ---- process kills -----------------------------------------------------------------------------

const KILL_CAP: u64 = 64;

fn evidence_for(seq: u64) -> Option<ReplayFailureEvidence> {
    (seq % 13 == 0).then(|| ReplayFailureEvidence::new(FailureKind::Runtime, seq as i64, format!("tick {seq} failed")))
}

/// Child side: append forever in bursts, reporting the last returned seq after each burst.
#[test]
fn kill_child_entry() {
    let Ok(path) = std::env::var("RL_KILL_CHILD") else { return };
    let mut rng = Rng::new(std::process::id() as u64);
    let mut log: RingLog<Rec> = RingLog::open(&path, KILL_CAP).unwrap();
    let mut out = std::io::stdout().lock();
    writeln!(out, "open {}", log.next_seq()).unwrap();
    out.flush().unwrap();
    loop {
        let burst = 1 + rng.below(2000);
        for _ in 0..burst {
            let seq = log.next_seq();
            let rec = Rec::new(0, seq);
            match evidence_for(seq) {
                Some(ev) => log.append_with_failure(&rec, &ev).unwrap(),
                None => log.append(&rec).unwrap(),
            }
        }
        if rng.chance(1, 50) {
            log.sync().unwrap();
        }
        writeln!(out, "{}", log.next_seq() - 1).unwrap();
        out.flush().unwrap();
    }
}

fn check_exact(recs: &[ReplayRecord<Rec>], lineage_of: impl Fn(u64) -> u64, ctx: &str) {
    for w in recs.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1, "{ctx}: not contiguous");
    }
    for r in recs {
        assert_eq!(r.record, Rec::new(lineage_of(r.seq), r.seq), "{ctx}: seq {} altered", r.seq);
    }
}

fn run_kills(kills: usize) {
    let dir = scratch();
    let path = dir.path().join("kill.ring");
    let mut rng = Rng::new(0x5eed_0001);
    let mut last_reported: Option<u64> = None;
    let (mut before_open, mut mid_run) = (0, 0);
    for k in 0..kills {
        let env = [("RL_KILL_CHILD", path.as_os_str())];
        let (reports, after_open) = kill_child_at_random(&mut rng, "kill_child_entry", &env, 2_000, 8_000);
        let reported = reports.last().copied();
        if after_open {
            mid_run += 1;
        } else {
            before_open += 1;
        }
        let reported = reported.or(last_reported);
        let log: RingLog<Rec> = match RingLog::open(&path, KILL_CAP) {
            Ok(log) => log,
            Err(replaylog::ReplayLogError::HeaderMismatch { .. }) if !path.exists() => continue,
            Err(e) => panic!("kill {k}: reopen failed: {e}"),
        };
        let recs = log.replay_records().unwrap();
        let ctx = format!("kill {k}");
        check_exact(&recs, |_| 0, &ctx);
        for r in &recs {
            assert_eq!(r.evidence, evidence_for(r.seq), "{ctx}: evidence of seq {}", r.seq);
        }
        if let Some(rep) = reported {
            let last = recs.last().unwrap_or_else(|| panic!("{ctx}: empty replay after report {rep}")).seq;
            assert!(last >= rep, "{ctx}: replay ends at {last}, child reported {rep}");
            let full = KILL_CAP.min(last + 1);
            assert!(recs.len() as u64 + 1 >= full, "{ctx}: window of {} records, expected >= {}", recs.len(), full - 1);
            last_reported = Some(last);
        }
        drop(log);
    }
    println!(
        "sigkill: {kills} kills ({mid_run} after open, {before_open} at a random moment from spawn), 0 violations"
    );
}

#[test]
fn sigkill_loop_quick() {
    run_kills(200);
}

#[test]
#[ignore = "long: 2,000 kills"]
fn sigkill_loop_long() {
    run_kills(2_000);
}

// ---- power loss --------------------------------------------------------------------------------

const SECTOR: usize = CRASH_SECTOR;
const EVIDENCE_MAX: u32 = 48;

fn options(clock: Clock) -> RingOptions {
    RingOptions::default().evidence_bytes_max(EVIDENCE_MAX).lock_wait_ms(0).clock(clock)
}

/// Half the scenarios stamp records (`Clock::Monotonic`: 40-byte slot headers), half do not.
fn clock_for(seed: u64) -> Clock {
    if seed % 2 == 0 { Clock::None } else { Clock::Monotonic }
}

/// Stamps are present exactly when the ring has a clock, and never decrease along the replay.
fn check_stamps<T>(recs: &[replaylog::ReplayRecord<T>], clock: Clock, ctx: &str) {
    for r in recs {
        assert_eq!(r.timestamp_ns.is_some(), clock != Clock::None, "{ctx}: stamp of seq {}", r.seq);
    }
    let stamps: Vec<u64> = recs.iter().filter_map(|r| r.timestamp_ns).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{ctx}: stamps decrease: {stamps:?}");
}

fn append_lineage(log: &mut RingLog<Rec>, lineage: u64, n: u64) {
    for _ in 0..n {
        let seq = log.next_seq();
        let rec = Rec::new(lineage, seq);
        match evidence_for(seq) {
            Some(ev) => log.append_with_failure(&rec, &ev).unwrap(),
            None => log.append(&rec).unwrap(),
        }
    }
}

/// What must survive a cut (`common::survivors`) in this suite's geometry.
fn required_after(required: Range<u64>, cap: u64, garbled: &[Range<usize>], clock: Clock) -> Range<u64> {
    let g = Geometry::new(size_of::<Rec>() as u32, EVIDENCE_MAX, cap, 0, clock).unwrap();
    survivors(required, &g, garbled, |seq| evidence_for(seq).is_some())
}

fn open_image(path: &Path, image: &[u8], cap: u64, clock: Clock, ctx: &str) -> RingLog<Rec> {
    std::fs::write(path, image).unwrap();
    RingLog::open_with(path, cap, options(clock)).unwrap_or_else(|e| panic!("{ctx}: open failed: {e}"))
}

/// One seeded scenario; returns the number of crash states checked.
fn power_loss_scenario(seed: u64, states: usize) -> usize {
    let mut rng = Rng::new(seed);
    let dir = scratch();
    let path = dir.path().join("p.ring");
    let clock = clock_for(seed);
    let cap = [1u64, 2, 3, 7, 16][rng.below(5) as usize];
    let n1 = rng.below(3 * cap + 1);
    let n2 = 1 + rng.below(2 * cap);
    let (synced_img, later_img) = {
        let mut log = RingLog::open_with(&path, cap, options(clock)).unwrap();
        append_lineage(&mut log, 0, n1);
        log.sync().unwrap();
        let a = std::fs::read(&path).unwrap();
        append_lineage(&mut log, 0, n2);
        (a, std::fs::read(&path).unwrap())
    };
    let total = n1 + n2;
    let required = total.saturating_sub(cap)..n1;
    let mut checked = 0;
    for s in 0..states {
        let garbage = rng.chance(1, 2);
        let ctx =
            format!("seed {seed} state {s} (cap {cap}, clock {clock}, synced {n1}, then {n2} more, garbage {garbage})");
        let (img, garbled) = crash_image(&synced_img, &later_img, &mut rng, garbage);
        let crash_path = dir.path().join("crash.ring");
        let mut log = open_image(&crash_path, &img, cap, clock, &ctx);
        let recs = log.replay_records().unwrap();
        checked += 1;
        check_exact(&recs, |_| 0, &ctx);
        check_stamps(&recs, clock, &ctx);
        for r in &recs {
            assert_eq!(r.evidence, evidence_for(r.seq), "{ctx}: evidence of seq {}", r.seq);
        }
        let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
        for req in required_after(required.clone(), cap, &garbled, clock) {
            assert!(seqs.contains(&req), "{ctx}: synced seq {req} lost; replay {seqs:?}");
        }
        let end = recs.last().map(|r| r.seq + 1);
        assert_eq!(Some(log.next_seq()), end.or(Some(log.next_seq())), "{ctx}: does not continue after the run");
        if let Some(end) = end {
            assert_eq!(log.next_seq(), end, "{ctx}");
        }
        // Continue after the crash with a new lineage, then cut power again before any sync.
        let e = log.next_seq();
        let after_open = std::fs::read(&crash_path).unwrap();
        let m = 1 + rng.below(2 * cap);
        append_lineage(&mut log, 1, m);
        let lineage = |seq: u64| u64::from(seq >= e);
        let recs2 = log.replay_records().unwrap();
        check_exact(&recs2, lineage, &ctx);
        check_stamps(&recs2, clock, &ctx);
        assert_eq!(recs2.last().unwrap().seq, e + m - 1, "{ctx}: in-process replay after crash");
        let after_appends = std::fs::read(&crash_path).unwrap();
        drop(log);
        let garbage2 = rng.chance(1, 2);
        let (img2, garbled2) = crash_image(&after_open, &after_appends, &mut rng, garbage2);
        let ctx2 = format!("{ctx}, second cut after {m} appends from {e}");
        let log2 = open_image(&crash_path, &img2, cap, clock, &ctx2);
        let recs3 = log2.replay_records().unwrap();
        checked += 1;
        check_exact(&recs3, lineage, &ctx2);
        check_stamps(&recs3, clock, &ctx2);
        let seqs3: Vec<u64> = recs3.iter().map(|r| r.seq).collect();
        // Required now: synced in the first life, overwritten by neither life's later appends,
        // and not destroyed by garbage in either cut.
        let required2 = required_after(required.clone(), cap, &garbled, clock);
        let required2 = required2.start.max((e + m).saturating_sub(cap))..required2.end;
        for req in required_after(required2, cap, &garbled2, clock) {
            assert!(seqs3.contains(&req), "{ctx2}: synced seq {req} lost; replay {seqs3:?}");
        }
    }
    checked
}

fn run_power_loss(scenarios: u64, states_per: usize) {
    if let Ok(seed) = std::env::var("RL_SEED") {
        let seed: u64 = seed.parse().expect("RL_SEED");
        let n = power_loss_scenario(seed, states_per);
        println!("power loss: seed {seed}: {n} crash states, 0 violations");
        return;
    }
    let mut total = 0;
    for i in 0..scenarios {
        total += power_loss_scenario(0xC0FFEE + i, states_per);
    }
    println!("power loss: {scenarios} scenarios, {total} crash states checked, 0 violations");
}

#[test]
fn power_loss_quick() {
    run_power_loss(1_000, 10); // 1,000 scenarios x 10 x 2 cuts = 20,000 crash states
}

#[test]
#[ignore = "long: 1,200,000 crash states"]
fn power_loss_long() {
    run_power_loss(20_000, 30); // 1,200,000 crash states
}

/// Regression, found by the power-loss simulation: a second power cut lost every record of the new
/// writer and the watermark slot, and stale records persisted beyond the first recovered run
/// anchored a run of their own and rejoined. Fixed by invalidating them durably at open.
#[test]
fn regression_stale_slots_anchor_a_run_when_the_new_lineage_is_lost() {
    assert_eq!(power_loss_scenario(12_648_443, 25), 50);
}

/// Regression, found by the long power-loss run: invalidating a stale slot by its seq word alone
/// let a second cut combine the next writer's seq-word sector (same seq value) with the stale
/// record's remaining sectors into a valid-looking old record. Fixed by zeroing, at open, every
/// slot outside the window that is not all zero. Built by hand: records of 8 bytes give a 40-byte
/// stride (format 3), and the test picks the first slot whose seq word is the last 8 bytes of one
/// sector, the rest of the slot lying in the next.
#[test]
fn regression_stale_slot_reassembled_from_sectors_of_two_lives() {
    type R = [u8; 8];
    let rec = |lineage: u8, seq: u64| -> R {
        let mut r = seq.to_le_bytes();
        r[7] = lineage;
        r
    };
    let opts = || RingOptions::default().evidence_bytes_max(16).lock_wait_ms(0);
    const CAP: u64 = 128;
    let g = Geometry::new(8, 16, CAP, 0, replaylog::Clock::None).unwrap();
    let target = (0..CAP).find(|i| (g.slot_offset(*i) as usize + 8) % SECTOR == 0).expect("a slot straddling a sector");
    let seq_word = g.slot_offset(target) as usize;
    let dir = scratch();
    let path = dir.path().join("reassemble.ring");
    let mut log: RingLog<R> = RingLog::open_with(&path, CAP, opts()).unwrap();
    for seq in 0..target {
        log.append(&rec(0, seq)).unwrap();
    }
    log.sync().unwrap();
    log.append(&rec(0, target)).unwrap(); // unsynced
    drop(log);
    // First cut: slot 9's seq-word sector never reached the disk, the rest of the slot did.
    let mut img = std::fs::read(&path).unwrap();
    img[seq_word..seq_word + 8].fill(0);
    std::fs::write(&path, &img).unwrap();
    let mut log: RingLog<R> = RingLog::open_with(&path, CAP, opts()).unwrap();
    assert_eq!(log.next_seq(), target);
    let after_open = std::fs::read(&path).unwrap();
    log.append(&rec(1, target)).unwrap(); // the next life rewrites seq `target`
    let after_append = std::fs::read(&path).unwrap();
    drop(log);
    // Second cut: only the new seq-word sector reached the disk.
    let mut img = after_open.clone();
    let sector = seq_word / SECTOR * SECTOR;
    img[sector..sector + SECTOR].copy_from_slice(&after_append[sector..sector + SECTOR]);
    std::fs::write(&path, &img).unwrap();
    let log: RingLog<R> = RingLog::open_with(&path, CAP, opts()).unwrap();
    for r in log.replay_records().unwrap() {
        let want = rec(u8::from(r.seq >= target), r.seq);
        assert_eq!(r.record, want, "seq {} reassembled from another life", r.seq);
    }
}
