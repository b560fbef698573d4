//! Operating-system facilities: the memory mapping (the crate's only `unsafe` code) and the file
//! calls around it (preallocation, locks, syncs, no-replace rename).
//!
//! Everything above this module uses the safe API below; nothing else in the crate may contain
//! `unsafe` (enforced by `#![deny(unsafe_code)]` at the crate root, allowed only here).

mod file;
mod map;

pub use file::{FileLock, fdatasync, fsync_dir, lock_exclusive, posix_fallocate, rename_noreplace};
pub use map::Region;
