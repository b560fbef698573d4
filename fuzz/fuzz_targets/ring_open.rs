//! `RawRing::open` and `RingLog::<[u8; 16]>::open(path, 4)` on an arbitrary file (on tmpfs when
//! `/dev/shm` exists). The harness removes the file after every input.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let shm = std::path::Path::new("/dev/shm");
        let dir = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
        dir.join(format!("replaylog-fuzz-{}.rlog", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| replaylog_fuzz::ring_open(data, path()));
