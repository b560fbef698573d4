//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use replaylog::zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};
use replaylog::{Field, FieldType, Layout, RecordLayout};

/// A 64-byte test record whose content is a function of (lineage, seq), so any record returned
/// by replay can be checked against exactly what was appended at that seq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout)]
#[repr(C)]
pub struct Rec {
    pub seq: u64,
    pub lineage: u64,
    pub data: [u64; 6],
}

impl Rec {
    pub fn new(lineage: u64, seq: u64) -> Rec {
        let mut x = seq ^ lineage.rotate_left(32) ^ 0x9e37_79b9_7f4a_7c15;
        let mut data = [0u64; 6];
        for d in &mut data {
            x = splitmix(x);
            *d = x;
        }
        Rec { seq, lineage, data }
    }
}

impl RecordLayout for Rec {
    fn layout() -> Layout {
        Layout::new(
            "Rec",
            vec![
                Field::new("seq", FieldType::U64, 0),
                Field::new("lineage", FieldType::U64, 8),
                Field::array("data", FieldType::U64, 16, 6),
            ],
        )
    }
}

pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Deterministic PRNG (splitmix64 stream) so every failure reproduces from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix(self.0.wrapping_mul(0x2545_f491_4f6c_dd1d))
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// A scratch directory, on tmpfs when available (fsync-heavy tests stay fast there).
pub fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new().prefix("replaylog-test-").tempdir_in(shm) {
            return d;
        }
    }
    tempfile::tempdir().expect("tempdir")
}

/// A file's observable identity: length, content and modification time.
#[derive(Debug, PartialEq, Eq)]
pub struct FileImage {
    pub len: u64,
    pub bytes: Vec<u8>,
    pub mtime: std::time::SystemTime,
}

pub fn image(path: &Path) -> FileImage {
    let m = std::fs::metadata(path).expect("metadata");
    FileImage { len: m.len(), bytes: std::fs::read(path).expect("read"), mtime: m.modified().expect("mtime") }
}

pub fn ring_path(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

/// Runs this test binary's `entry` test as a child process (with `env`), and SIGKILLs it at a
/// random moment: with probability 4/5 after its first line ("open": it finished opening), then
/// within `after_open_us`; otherwise within `from_spawn_us` of spawning, often inside start-up.
/// Returns the numbers the child printed (one per line) and whether the kill came after open.
pub fn kill_child_at_random(
    rng: &mut Rng,
    entry: &str,
    env: &[(&str, &std::ffi::OsStr)],
    after_open_us: u64,
    from_spawn_us: u64,
) -> (Vec<u64>, bool) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", entry, "--nocapture", "--test-threads=1"]).stdout(Stdio::piped()).stderr(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Option<u64>>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.parse::<u64>().ok());
        }
    });
    let after_open = rng.chance(4, 5);
    let max_delay_us = if after_open {
        rx.recv().expect("child exited before opening");
        after_open_us
    } else {
        from_spawn_us
    };
    let delay = std::time::Duration::from_micros(rng.below(max_delay_us));
    let spin = std::time::Instant::now();
    while spin.elapsed() < delay {
        std::hint::spin_loop();
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    reader.join().unwrap();
    (rx.try_iter().flatten().collect(), after_open)
}

/// Sectors a simulated power cut keeps, drops, tears or garbles independently.
pub const CRASH_SECTOR: usize = 512;

/// Builds one crash image: every sector where `synced` and `later` differ comes from either, is
/// torn inside (a prefix of the later write), or is filled with garbage.
/// Also returns the byte ranges filled with garbage.
pub fn crash_image(
    synced: &[u8],
    later: &[u8],
    rng: &mut Rng,
    garbage: bool,
) -> (Vec<u8>, Vec<std::ops::Range<usize>>) {
    assert_eq!(synced.len(), later.len());
    let mut out = synced.to_vec();
    let mut garbled = Vec::new();
    for (i, chunk) in out.chunks_mut(CRASH_SECTOR).enumerate() {
        let range = i * CRASH_SECTOR..(i * CRASH_SECTOR + chunk.len());
        if synced[range.clone()] == later[range.clone()] {
            continue;
        }
        match rng.below(if garbage { 4 } else { 3 }) {
            0 => {}
            1 => chunk.copy_from_slice(&later[range]),
            2 => {
                let cut = rng.below(chunk.len() as u64 / 8) as usize * 8;
                chunk[..cut].copy_from_slice(&later[range.start..range.start + cut]);
            }
            _ => {
                rng.fill(chunk);
                garbled.push(range);
            }
        }
    }
    (out, garbled)
}

/// The required seqs that a contiguous replay can still hold after a cut that filled `garbled`
/// with garbage: a garbage sector destroys a record whose slot or — when it carries evidence
/// (`has_evidence`) — whose evidence entry it touches (format 3 keeps evidence out of line; a
/// torn entry makes the record torn), and a run cannot reach past that hole, so only the
/// required seqs newer than the newest destroyed one must survive.
pub fn survivors(
    required: std::ops::Range<u64>,
    g: &replaylog::lowlevel::format::ring::Geometry,
    garbled: &[std::ops::Range<usize>],
    has_evidence: impl Fn(u64) -> bool,
) -> std::ops::Range<u64> {
    let overlaps = |start: usize, len: usize| garbled.iter().any(|r| r.start < start + len && start < r.end);
    let hit = |seq: u64| {
        let i = seq % g.capacity_slots;
        overlaps(g.slot_offset(i) as usize, g.slot_bytes as usize)
            || (has_evidence(seq) && overlaps(g.evidence_entry_offset(i) as usize, g.evidence_entry_bytes as usize))
    };
    match required.clone().rev().find(|s| hit(*s)) {
        Some(destroyed) => destroyed + 1..required.end,
        None => required,
    }
}
