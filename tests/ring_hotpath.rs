//! The hot path's promises, checked on the real code: `append` allocates nothing (counting global
//! allocator) and makes no system call (strace of a child process between two marker writes).

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use replaylog::{Clock, FailureKind, ReplayFailureEvidence, RingLog, RingOptions};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards every call unchanged to the system allocator; only counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
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
    let before = ALLOCS.load(Ordering::SeqCst);
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
    let after = ALLOCS.load(Ordering::SeqCst);
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
