//! Journal options.

use std::sync::Arc;

use crate::error::{ReplayLogError, Result};
use crate::storage::{FileStorage, Storage};

/// When written entries become durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// `write` returns once the entry is buffered; it is durable after the next `sync`, `roll`,
    /// `snapshot` or `close`.
    Async,
    /// `write` returns once the entry (and the watermark covering it) is durable. Concurrent
    /// writers share one fdatasync (leader/follower group commit).
    Sync,
    /// `write` returns once buffered; a background flusher syncs every so many milliseconds
    /// (clamped to at least 10), so at most that much is lost at a power cut. `sync` joins the
    /// flusher's group commit.
    Interval(u64),
}

/// When a sync (a `SyncMode::Sync` write, `sync()`) acknowledges entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ack {
    /// Default: once the entries' frames are fdatasync'd — one fdatasync per commit. Their
    /// watermark is written with a later group commit round (every `watermark_every_rounds`-th
    /// round, default 8, or the first after `watermark_quiet_ms`); when no round follows, off the
    /// acknowledgement path once the journal has been quiet for `watermark_quiet_ms` (default
    /// 5 ms), and by a roll, the Interval flusher or `close`. So after a power cut only frames
    /// acknowledged within about that quiet time before it may lie after the durable
    /// watermark: intact, they are kept as usual; rotted, they cannot be told from a torn write
    /// and are cut like a torn tail (backup kept, reported by `Journal::recovery()`), never
    /// silently. Rot in anything a durable watermark covers is `Corrupt`.
    #[default]
    DataSynced,
    /// Once the entries' frames are fdatasync'd **and** a durable watermark covers them: rot
    /// anywhere in acknowledged data is then reported as `Corrupt` at open, never cut as a torn
    /// tail. Costs a lone writer two fdatasyncs per commit (frames, then watermark); under
    /// concurrent load each fdatasync acknowledges one group and makes the next one's frames
    /// durable.
    Watermarked,
}

/// How much damage `Journal::open` tolerates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Recovery {
    /// Default: a torn tail after the durable watermark is cut (with a backup) and reported;
    /// damage at or before the watermark is `Corrupt` and nothing is changed.
    #[default]
    TolerateTail,
    /// Any damage, even a torn tail, is refused (`BadTail` / `Corrupt`); nothing is changed.
    Absolute,
}

/// Default `watermark_quiet_ms`.
pub const WATERMARK_QUIET_MS_DEFAULT: u64 = 5;
/// Largest `watermark_quiet_ms`.
pub const WATERMARK_QUIET_MS_MAX: u64 = 60_000;
/// Default `watermark_every_rounds`.
pub const WATERMARK_EVERY_ROUNDS_DEFAULT: u32 = 8;
/// Largest `watermark_every_rounds`.
pub const WATERMARK_EVERY_ROUNDS_MAX: u32 = 1024;

/// Smallest `sync_interval` for `SyncMode::Interval`.
pub const SYNC_INTERVAL_MS_MIN: u64 = 10;
/// Smallest `segment_bytes_max`.
pub const SEGMENT_BYTES_MIN: u64 = 64 * 1024;
/// Default `segment_bytes_max` (16 MiB).
pub const SEGMENT_BYTES_DEFAULT: u64 = 16 << 20;
/// Default `compress_min_bytes`.
pub const COMPRESS_MIN_BYTES_DEFAULT: u32 = 4096;

/// Options for [`crate::Journal::open`]; each documents its default and bounds, and
/// [`JournalOptions::validate`] rejects bad values before any file is touched.
#[derive(Clone, Debug)]
pub struct JournalOptions {
    /// Durability mode. Default `SyncMode::Sync`.
    pub sync: SyncMode,
    /// Whether syncs call fdatasync at all. Default `true`. With `false` nothing is ever durable
    /// and the sync watermark never advances (every entry is tail after a power cut).
    pub fsync: bool,
    /// Roll to a new segment once the current one would exceed this. Default 16 MiB, minimum
    /// 64 KiB. A single larger entry gets a segment of its own.
    pub segment_bytes_max: u64,
    /// Keep at most this many segments (oldest deleted after a roll), but never one needed to
    /// replay from the newest snapshot. Default `None`: keep all. Minimum 1.
    pub segments_max: Option<u32>,
    /// Entries at least this large are lz4-compressed (stored raw if that does not shrink
    /// them). Default `Some(4096)`; `None` disables compression.
    pub compress_min_bytes: Option<u32>,
    /// Damage tolerance at open. Default `Recovery::TolerateTail`.
    pub recovery: Recovery,
    /// When syncs acknowledge entries. Default `Ack::DataSynced` (one fdatasync per commit).
    pub ack: Ack,
    /// With `Ack::DataSynced` (in `SyncMode::Sync`, and for `sync()` in `Async`; in `Interval`
    /// the flusher does this every interval): once no commit has completed for this many
    /// milliseconds, a background thread writes the watermark covering the last acknowledged
    /// round (one write and one fdatasync, off every writer's path), bounding how much
    /// acknowledged data a power cut can leave after the durable watermark. Default 5, range
    /// 1..=60,000.
    pub watermark_quiet_ms: u64,
    /// With `Ack::DataSynced`: a group commit round writes the watermark covering the earlier
    /// rounds' frames (a second place, page 0, for its fdatasync to flush besides its own
    /// frames) only when this many rounds have passed since the last watermark write, or
    /// `watermark_quiet_ms` has; the rounds in between flush their frames alone. Counted in
    /// rounds, not time, so which round carries a watermark follows from the sequence of
    /// commits alone (the simulated power-loss suite reproduces from its seeds). 1 = every
    /// round. Default 8, range 1..=1024. `Ack::Watermarked` rounds always write it.
    pub watermark_every_rounds: u32,
    /// The I/O backend. Default: real files.
    pub storage: Arc<dyn Storage>,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            sync: SyncMode::Sync,
            fsync: true,
            segment_bytes_max: SEGMENT_BYTES_DEFAULT,
            segments_max: None,
            compress_min_bytes: Some(COMPRESS_MIN_BYTES_DEFAULT),
            recovery: Recovery::TolerateTail,
            ack: Ack::DataSynced,
            watermark_quiet_ms: WATERMARK_QUIET_MS_DEFAULT,
            watermark_every_rounds: WATERMARK_EVERY_ROUNDS_DEFAULT,
            storage: Arc::new(FileStorage),
        }
    }
}

impl JournalOptions {
    /// Sets the sync mode.
    pub fn sync(mut self, mode: SyncMode) -> Self {
        self.sync = mode;
        self
    }
    /// Sets `fsync`.
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }
    /// Sets `segment_bytes_max`.
    pub fn segment_bytes_max(mut self, bytes: u64) -> Self {
        self.segment_bytes_max = bytes;
        self
    }
    /// Sets `segments_max`.
    pub fn segments_max(mut self, n: Option<u32>) -> Self {
        self.segments_max = n;
        self
    }
    /// Sets `compress_min_bytes`.
    pub fn compress_min_bytes(mut self, n: Option<u32>) -> Self {
        self.compress_min_bytes = n;
        self
    }
    /// Sets the recovery mode.
    pub fn recovery(mut self, r: Recovery) -> Self {
        self.recovery = r;
        self
    }
    /// Sets the acknowledgement policy.
    pub fn ack(mut self, a: Ack) -> Self {
        self.ack = a;
        self
    }
    /// Sets `watermark_quiet_ms`.
    pub fn watermark_quiet_ms(mut self, ms: u64) -> Self {
        self.watermark_quiet_ms = ms;
        self
    }
    /// Sets `watermark_every_rounds`.
    pub fn watermark_every_rounds(mut self, rounds: u32) -> Self {
        self.watermark_every_rounds = rounds;
        self
    }
    /// Sets the storage backend.
    pub fn storage(mut self, s: Arc<dyn Storage>) -> Self {
        self.storage = s;
        self
    }

    /// The sync interval after clamping, for `SyncMode::Interval`.
    pub fn sync_interval_ms(&self) -> Option<u64> {
        match self.sync {
            SyncMode::Interval(ms) => Some(ms.max(SYNC_INTERVAL_MS_MIN)),
            _ => None,
        }
    }

    /// Rejects out-of-bounds values.
    pub fn validate(&self) -> Result<()> {
        let bad = |option, reason: String| Err(ReplayLogError::InvalidOptions { option, reason });
        if self.segment_bytes_max < SEGMENT_BYTES_MIN {
            return bad("segment_bytes_max", format!("{} is below {SEGMENT_BYTES_MIN}", self.segment_bytes_max));
        }
        if self.segments_max == Some(0) {
            return bad("segments_max", "must be at least 1 (or None to keep all)".into());
        }
        if !(1..=WATERMARK_QUIET_MS_MAX).contains(&self.watermark_quiet_ms) {
            return bad(
                "watermark_quiet_ms",
                format!("{} is outside 1..={WATERMARK_QUIET_MS_MAX}", self.watermark_quiet_ms),
            );
        }
        if !(1..=WATERMARK_EVERY_ROUNDS_MAX).contains(&self.watermark_every_rounds) {
            return bad(
                "watermark_every_rounds",
                format!("{} is outside 1..={WATERMARK_EVERY_ROUNDS_MAX}", self.watermark_every_rounds),
            );
        }
        if self.compress_min_bytes == Some(0) {
            return bad("compress_min_bytes", "must be at least 1 (or None to disable)".into());
        }
        Ok(())
    }
}
