//! `RawRing::release_read`: a streaming reader drops the pages it has read from its resident
//! set (measured on the ring's own mapping in /proc/self/smaps), and what it reads is unchanged.

use std::path::Path;

use replaylog::{RawRing, RingLog, RingOptions, SlotRead};

/// Resident kilobytes of this process's mappings of `path` (Linux /proc/self/smaps).
fn resident_kb(path: &Path) -> u64 {
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let name = path.to_str().unwrap();
    let mut total = 0;
    let mut ours = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && first.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            ours = line.ends_with(name);
        } else if ours && first == "Rss:" {
            total += line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap();
        }
    }
    total
}

fn read_all(ring: &RawRing, release: bool) -> Vec<u64> {
    let w = ring.window().unwrap();
    let cap = ring.info().capacity;
    let mut out = Vec::new();
    let mut released = w.first;
    for seq in w.first..=w.last {
        match ring.read_slot(seq % cap) {
            SlotRead::Valid(r) => out.push(u64::from_le_bytes(r.bytes[..8].try_into().unwrap())),
            other => panic!("seq {seq}: {other:?}"),
        }
        if release && seq + 1 - released == 4096 {
            ring.release_read(released..seq + 1);
            released = seq + 1;
        }
    }
    out
}

#[test]
fn released_pages_leave_the_resident_set_and_reads_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.ring");
    let n = 200_000u64;
    let mut log: RingLog<u64> =
        RingLog::open_with(&path, 150_000, RingOptions::default().evidence_bytes_max(64)).unwrap();
    for i in 0..n {
        log.append(&(i * 3)).unwrap();
    }
    log.sync().unwrap();
    drop(log);

    let ring = RawRing::open(&path).unwrap();
    let file_kb = std::fs::metadata(&path).unwrap().len() / 1024;
    let kept = read_all(&ring, false);
    let without = resident_kb(&path);
    // Reading every slot without releasing faults in the whole slot region.
    assert!(without > file_kb / 4, "resident {without} KiB of a {file_kb} KiB file");

    // Releasing the window (which wraps: seqs 50,000..200,000 of 150,000 slots) drops it again.
    let w = ring.window().unwrap();
    ring.release_read(w.first..w.last + 1);
    let after = resident_kb(&path);
    assert!(after < 64, "resident after release: {after} KiB (before {without} KiB)");

    // Streaming with releases: same records, little resident at the end.
    let again = read_all(&ring, true);
    assert_eq!(again, kept);
    assert_eq!(again, (n - 150_000..n).map(|i| i * 3).collect::<Vec<_>>());
    let streaming = resident_kb(&path);
    assert!(streaming < without / 4, "resident while streaming: {streaming} KiB (unreleased {without} KiB)");
}
