//! Real filesystem failures: a full disk fails at `open` (never as SIGBUS later) and leaves no
//! file behind; a read-only filesystem gives `Io` with the path and changes nothing. Needs root
//! to mount a small tmpfs (CI runs as root); elsewhere the test says it skipped.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use replaylog::{ReplayLogError, RingLog};

struct Mount(PathBuf);

impl Mount {
    fn tmpfs(dir: &Path, size: &str) -> Option<Mount> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "replaylog-test"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(dir.to_path_buf()))
    }
    fn remount_ro(&self) {
        let s = Command::new("mount").args(["-o", "remount,ro"]).arg(&self.0).status().unwrap();
        assert!(s.success());
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn full_disk_and_read_only_filesystem() {
    let outer = tempfile::tempdir().unwrap();
    let Some(mnt) = Mount::tmpfs(outer.path(), "1m") else {
        println!("cannot mount tmpfs (not root?): skipped");
        return;
    };
    // Full disk: 100,000 slots of ~352 bytes do not fit 1 MiB.
    let big = mnt.0.join("big.ring");
    match RingLog::<Rec>::open(&big, 100_000) {
        Err(ReplayLogError::Io { op, path, .. }) => {
            assert_eq!(op, "posix_fallocate");
            assert_eq!(path, big);
        }
        other => panic!("expected Io from posix_fallocate, got {other:?}"),
    }
    let left: Vec<_> = std::fs::read_dir(&mnt.0).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "files left behind: {left:?}");

    // A ring that fits, then the filesystem goes read-only.
    let small = mnt.0.join("small.ring");
    {
        let mut log: RingLog<Rec> = RingLog::open(&small, 16).unwrap();
        for seq in 0..20 {
            log.append(&Rec::new(0, seq)).unwrap();
        }
        log.sync().unwrap();
    }
    let before = image(&small);
    mnt.remount_ro();
    match RingLog::<Rec>::open(&small, 16) {
        Err(ReplayLogError::Io { path, source, .. }) => {
            assert_eq!(path, small);
            assert_eq!(source.raw_os_error(), Some(libc::EROFS));
        }
        other => panic!("expected Io(EROFS), got {other:?}"),
    }
    let fresh = mnt.0.join("fresh.ring");
    assert!(matches!(RingLog::<Rec>::open(&fresh, 16), Err(ReplayLogError::Io { .. })));
    assert_eq!(image(&small), before);
    println!("tmpfs: full disk -> Io(posix_fallocate), nothing left; read-only -> Io(EROFS), untouched");
}
