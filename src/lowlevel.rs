//! Low-level building blocks. **Not needed to record, replay or read a capture**: everything a
//! user starts from is re-exported at the crate root ([`RingLog`](crate::RingLog),
//! [`Journal`](crate::Journal), the readers, [`Layout`](crate::Layout), the archiver).
//!
//! This module is for tools that need the exact bytes and for the crate's own test suites:
//!
//! * [`format`](mod@format) — the on-disk byte maps as constants and `#[repr(C)]` wire structs, the slot and
//!   frame encoders and decoders, checksums. `docs/FORMAT.md` draws the same maps, and a test
//!   checks one against the other.
//! * [`seqlock`] — the slot publish protocol, exposed so the loom model checks these exact
//!   functions.
//! * [`storage`] — the journal's I/O seam ([`storage::Storage`]) and the simulated disk
//!   ([`storage::sim::SimStorage`]) that injects I/O errors and power cuts in the crash suites.
//!
//! These items follow the file format, not the API's stability promises: they may change in any
//! release that changes the format or the test harness.

#[path = "format/mod.rs"]
pub mod format;
#[path = "ring/seqlock.rs"]
pub mod seqlock;
#[path = "storage/mod.rs"]
pub mod storage;
