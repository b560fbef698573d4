//! Operating-system facilities: the memory mapping (the crate's `unsafe` code, plus one FFI call
//! in `file.rs`: `sync_file_range`, which nix does not wrap) and the file calls around it
//! (preallocation, locks, syncs, writeback hints, no-replace rename).
//!
//! Everything above this module uses the safe API below; nothing else in the crate may contain
//! `unsafe` (enforced by `#![deny(unsafe_code)]` at the crate root, allowed only here).

mod clock;
mod crc32c;
mod file;
mod map;
mod words;

pub use clock::{MonotonicClock, monotonic_ns};
pub use crc32c::{Crc32cPlan, crc32c, crc32c_bytes};
pub use file::{FileLock, fdatasync, fsync_dir, lock_exclusive, posix_fallocate, rename_noreplace, start_writeback};
pub use map::Region;
pub use words::{AtomicWord, load_words, store_words};
