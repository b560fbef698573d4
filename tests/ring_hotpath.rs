//! The hot path's promises, checked on the real code: `append` allocates nothing (counting global
//! allocator), makes no system call (strace of a child process between two marker writes) and,
//! with `prefault`, takes no page fault, before or after a `sync` (getrusage of the thread).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use common::*;
use replaylog::zerocopy::IntoBytes;
use replaylog::{Clock, FailureKind, RawReader, ReadOutcome, ReplayFailureEvidence, RingLog, RingOptions, StartAt};

struct Counting;

std::thread_local! {
    /// Allocations made by this thread: the other tests of this binary run (and allocate) on
    /// other threads meanwhile. Const-initialised, no destructor: usable inside the allocator.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn allocs_of_this_thread() -> u64 {
    ALLOCS.with(Cell::get)
}

// SAFETY: forwards every call unchanged to the system allocator; only counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn append_and_iteration_do_not_allocate() {
    let dir = scratch();
    let path = dir.path().join("alloc.ring");
    let mut log: RingLog<Rec> = RingLog::open_with(&path, 1024, RingOptions::default().prefault(true)).unwrap();
    let ev = ReplayFailureEvidence::new(FailureKind::Timeout, 3, "deadline missed by 12 us");
    let recs: Vec<Rec> = (0..5000).map(|s| Rec::new(0, s)).collect();
    let before = allocs_of_this_thread();
    for (i, r) in recs.iter().enumerate() {
        if i % 100 == 0 {
            log.append_with_failure(r, &ev).unwrap();
        } else {
            log.append(r).unwrap();
        }
    }
    let mut n = 0u64;
    let mut evidence = 0u64;
    for item in log.iter() {
        let item = item.unwrap();
        n += 1;
        evidence += u64::from(item.evidence.is_some());
    }
    let after = allocs_of_this_thread();
    assert_eq!(n, 1024);
    assert!(evidence > 0);
    assert_eq!(after - before, 0, "append/iter allocated {} times", after - before);
}

/// Child side of the strace test: open (syscalls allowed), then append between two markers.
#[test]
fn syscall_child_entry() {
    let Ok(path) = std::env::var("RL_SYSCALL_CHILD") else { return };
    use std::io::Write;
    let clock = match std::env::var("RL_SYSCALL_CLOCK").as_deref() {
        Ok("monotonic") => Clock::Monotonic,
        _ => Clock::None,
    };
    let opts = RingOptions::default().prefault(true).clock(clock);
    let mut log: RingLog<Rec> = RingLog::open_with(&path, 4096, opts).unwrap();
    let recs: Vec<Rec> = (0..20_000).map(|s| Rec::new(0, s)).collect();
    let ev = ReplayFailureEvidence::new(FailureKind::Backend, 1, "x");
    let mut err = std::io::stderr().lock();
    err.write_all(b"RL-BEGIN\n").unwrap();
    for (i, r) in recs.iter().enumerate() {
        if i % 64 == 0 {
            log.append_with_failure(r, &ev).unwrap();
        } else {
            log.append(r).unwrap();
        }
    }
    err.write_all(b"RL-END\n").unwrap();
    drop(err);
    log.sync().unwrap();
}

#[test]
fn append_makes_no_system_call() {
    appends_make_no_system_call("none");
}

/// A `Monotonic` ring reads `CLOCK_MONOTONIC` in every append: through the vDSO, not a system
/// call (a clock source without vDSO support would show up here as `clock_gettime` calls).
#[test]
fn monotonic_stamp_makes_no_system_call() {
    appends_make_no_system_call("monotonic");
}

fn appends_make_no_system_call(clock: &str) {
    if std::process::Command::new("strace").arg("-V").output().is_err() {
        println!("strace not installed: skipped (CI installs it)");
        return;
    }
    let dir = scratch();
    let trace = dir.path().join("trace.txt");
    let out = std::process::Command::new("strace")
        .args(["-f", "-o"])
        .arg(&trace)
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", "syscall_child_entry", "--test-threads=1"])
        .env("RL_SYSCALL_CHILD", dir.path().join("s.ring"))
        .env("RL_SYSCALL_CLOCK", clock)
        .output()
        .unwrap();
    assert!(out.status.success(), "child failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&trace).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let begin = lines.iter().position(|l| l.contains("RL-BEGIN")).expect("begin marker traced");
    let end = lines.iter().position(|l| l.contains("RL-END")).expect("end marker traced");
    let pid = lines[begin].split_whitespace().next().unwrap();
    let between: Vec<&&str> =
        lines[begin + 1..end].iter().filter(|l| l.split_whitespace().next() == Some(pid)).collect();
    let first: Vec<_> = between.iter().take(5).collect();
    assert!(between.is_empty(), "20,000 appends made {} system calls, first: {first:?}", between.len());
    // The markers themselves were traced, so the trace does see this thread's calls.
    assert!(lines[begin].contains("write(2"));
    println!("strace: 0 system calls in 20,000 appends, clock {clock} (markers traced on thread {pid})");
}

fn minor_faults_of_this_thread() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a complete `rusage` into the pointer it is given; RUSAGE_THREAD is
    // valid on Linux.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
    assert_eq!(rc, 0);
    // SAFETY: initialised by the successful call above (and zeroed before it).
    unsafe { usage.assume_init() }.ru_minflt
}

#[test]
fn prefault_removes_first_lap_page_faults() {
    let dir = tempfile::tempdir().unwrap(); // a disk filesystem: dirty tracking write-protects pages
    let faults = |prefault: bool| {
        let path = dir.path().join(format!("pf-{prefault}.ring"));
        let mut log: RingLog<Rec> = RingLog::open_with(&path, 8192, RingOptions::default().prefault(prefault)).unwrap();
        let recs: Vec<Rec> = (0..8192).map(|s| Rec::new(0, s)).collect();
        let before = minor_faults_of_this_thread();
        for r in &recs {
            log.append(r).unwrap();
        }
        minor_faults_of_this_thread() - before
    };
    let cold = faults(false);
    let warm = faults(true);
    println!("first lap of 8192 x 352-byte slots: {cold} minor faults without prefault, {warm} with");
    assert!(cold >= 100, "expected the unprefaulted first lap to fault ({cold})");
    assert!(warm <= 2, "prefaulted first lap took {warm} faults");
}

/// Rounds of `per_round` appends then a sync on a ring of `capacity` slots; the minor faults of
/// this thread during each round's appends (not during its sync).
fn faults_per_round(path: &std::path::Path, prefault: bool, capacity: u64, per_round: u64, rounds: u64) -> Vec<i64> {
    let mut log: RingLog<Rec> = RingLog::open_with(path, capacity, RingOptions::default().prefault(prefault)).unwrap();
    let recs: Vec<Rec> = (0..per_round * rounds).map(|s| Rec::new(0, s)).collect();
    let mut faults = Vec::with_capacity(rounds as usize);
    for round in recs.chunks(per_round as usize) {
        let before = minor_faults_of_this_thread();
        for r in round {
            log.append(r).unwrap();
        }
        faults.push(minor_faults_of_this_thread() - before);
        log.sync().unwrap();
    }
    faults
}

#[test]
fn prefault_keeps_appends_fault_free_across_syncs() {
    let dir = tempfile::tempdir().unwrap(); // a disk filesystem: writeback write-protects pages
    // 500 appends a round, far below the span `sync` re-arms (2 x 500 slots); 4096 slots, so the
    // writer wraps about every 8 rounds and the re-armed span wraps with it.
    let (capacity, per_round, rounds) = (4096, 500, 24);
    let cold = faults_per_round(&dir.path().join("off.ring"), false, capacity, per_round, rounds);
    let warm = faults_per_round(&dir.path().join("on.ring"), true, capacity, per_round, rounds);
    println!(
        "minor faults per round of {per_round} appends, then sync: prefault(false) {cold:?}, prefault(true) {warm:?}"
    );
    // Control: the pages a sync cleaned fault again on the next append (so counting works here).
    assert!(cold[1..].iter().all(|f| *f > 0), "expected appends after a sync to fault without prefault: {cold:?}");
    assert!(warm[1..].iter().all(|f| *f == 0), "prefaulted appends faulted after a sync: {warm:?}");
}

#[test]
fn rearm_after_sync_changes_no_byte_while_a_reader_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rearm.ring");
    let capacity = 2048;
    let mut log: RingLog<Rec> = RingLog::open_with(&path, capacity, RingOptions::default().prefault(true)).unwrap();
    let ev = ReplayFailureEvidence::new(FailureKind::Timeout, 7, "late");
    let total = 3 * capacity + 300;
    let slots_offset = replaylog::RawRing::open(&path).unwrap().geometry().slots_offset as usize;
    let reader_path = path.clone();
    let reader = std::thread::spawn(move || {
        // Follows the writer from the start: every record it gets must be the one appended.
        let mut reader = RawReader::open_at(&reader_path, StartAt::Seq(0)).unwrap();
        let (mut got, mut missed) = (0u64, 0u64);
        while reader.position() < total {
            match reader.poll().unwrap() {
                ReadOutcome::Record(r) => {
                    assert_eq!(r.bytes, Rec::new(0, r.seq).as_bytes(), "reader got a different record at {}", r.seq);
                    assert_eq!(r.evidence.is_some(), r.seq % 97 == 0);
                    got += 1;
                }
                ReadOutcome::Lapped { missed: m, .. } => missed += m,
                ReadOutcome::Pending => std::hint::spin_loop(),
            }
        }
        (got, missed)
    });
    let mut syncs = 0;
    for seq in 0..total {
        let rec = Rec::new(0, seq);
        if seq % 97 == 0 { log.append_with_failure(&rec, &ev) } else { log.append(&rec) }.unwrap();
        if seq % 700 == 699 {
            // Everything from the slots on (slots and cursor: `sync` itself only writes a state
            // copy, in front of them) and the replay are the same after the sync and its re-arm,
            // which covers the next 1400 slots: the older lap the writer overwrites next.
            let slots_before = std::fs::read(&path).unwrap()[slots_offset..].to_vec();
            let replay_before = log.replay_records().unwrap();
            log.sync().unwrap();
            syncs += 1;
            assert!(std::fs::read(&path).unwrap()[slots_offset..] == slots_before[..], "sync {syncs} changed a slot");
            assert_eq!(log.replay_records().unwrap(), replay_before, "sync {syncs} changed the replay");
        }
    }
    let (got, missed) = reader.join().unwrap();
    assert_eq!(got + missed, total);
    println!("{syncs} syncs with re-arm: slots and replay unchanged; reader got {got} records, {missed} lapped");
}
