//! Options for opening a ring.

use crate::error::{ReplayLogError, Result};
use crate::format::layout::Layout;
use crate::format::ring::{Clock, EVIDENCE_BYTES_DEFAULT, EVIDENCE_BYTES_MAX, EVIDENCE_BYTES_MIN};

/// A record type that can describe its own fields, so the ring file carries its layout.
pub trait RecordLayout {
    /// The type's layout (names, types, byte offsets).
    fn layout() -> Layout;
}

/// Options for [`crate::RingLog::open_with`]. Validated at open; see each field for its default
/// and bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingOptions {
    /// Fault in and dirty every page of the mapping at open, so the first lap of appends takes no
    /// page fault, and keep the pages ahead of the writer faulted in after every `sync`. Default
    /// `false`. Costs one pass over the file at open, and the next `sync` writes the whole file
    /// back.
    ///
    /// Writeback write-protects the pages it cleans (the kernel's dirty tracking), so without
    /// this the first append to each page after a `sync` takes a minor page fault (a few
    /// microseconds) on the hot path. With it, `sync` re-arms the pages the next appends will
    /// write (`madvise(MADV_POPULATE_WRITE)`, Linux >= 5.14, else a same-value store per page),
    /// never `append`: the next `max(2 x the appends since the previous sync, 64 KiB of slots)`
    /// slots, at most the whole ring. Trade-off: re-armed pages are dirty, so the next fdatasync
    /// writes them back even if unchanged (extra writeback bounded by that span, plus the time to
    /// re-arm it inside `sync`); a writer that outruns the span before its next `sync` faults
    /// beyond it as before, and so do pages the kernel writes back on its own between two syncs
    /// (background writeback when the system's dirty memory passes `vm.dirty_background_*`, or
    /// data dirty for longer than `vm.dirty_expire_centisecs`).
    pub prefault: bool,
    /// `mlock` the mapping so it is never paged out. Default `false`. Needs `RLIMIT_MEMLOCK` (or
    /// CAP_IPC_LOCK) for the file's size; failure is an `Io` error from open.
    pub mlock: bool,
    /// Application schema identifier stored in the header; a reopen with another id is a
    /// `HeaderMismatch`. Default 0.
    pub schema_id: u64,
    /// Bytes reserved per slot for failure evidence: 16 bytes of kind and code plus the message.
    /// Default 256, bounds 16..=16384. Must match the file on reopen. In format 3 the evidence
    /// lives in a region of its own, touched only by appends that carry evidence.
    pub evidence_bytes_max: u32,
    /// The clock that stamps each record, stored in a new file. Default [`Clock::None`] (no
    /// timestamp word: the smallest slot). Must match the file on reopen (`HeaderMismatch` on
    /// field `clock`); version 2 files have no clock.
    pub clock: Clock,
    /// Record layout to store in a new file. On reopen, `Some` must equal the stored layout
    /// (`HeaderMismatch` on field `layout`); `None` accepts whatever the file holds. Default `None`.
    pub layout: Option<Layout>,
    /// How long `open` retries when another open file description holds the writer lock (a
    /// forked child that has not yet exec'd shares the parent's briefly). Default 500 ms,
    /// bounds 0..=60000.
    pub lock_wait_ms: u32,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions {
            prefault: false,
            mlock: false,
            schema_id: 0,
            evidence_bytes_max: EVIDENCE_BYTES_DEFAULT,
            clock: Clock::None,
            layout: None,
            lock_wait_ms: 500,
        }
    }
}

/// Largest `lock_wait_ms`.
pub const LOCK_WAIT_MS_MAX: u32 = 60_000;

impl RingOptions {
    /// Sets `prefault`.
    pub fn prefault(mut self, on: bool) -> Self {
        self.prefault = on;
        self
    }

    /// Sets `mlock`.
    pub fn mlock(mut self, on: bool) -> Self {
        self.mlock = on;
        self
    }

    /// Sets `schema_id`.
    pub fn schema_id(mut self, id: u64) -> Self {
        self.schema_id = id;
        self
    }

    /// Sets `evidence_bytes_max`.
    pub fn evidence_bytes_max(mut self, bytes: u32) -> Self {
        self.evidence_bytes_max = bytes;
        self
    }

    /// Sets the clock.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the layout.
    pub fn layout(mut self, layout: Layout) -> Self {
        self.layout = Some(layout);
        self
    }

    /// Sets the layout to `T`'s own.
    pub fn layout_of<T: RecordLayout>(self) -> Self {
        self.layout(T::layout())
    }

    /// Sets `lock_wait_ms`.
    pub fn lock_wait_ms(mut self, ms: u32) -> Self {
        self.lock_wait_ms = ms;
        self
    }

    /// Rejects out-of-bounds values (before any file is touched).
    pub(crate) fn validate(&self, record_bytes: usize) -> Result<()> {
        if !(EVIDENCE_BYTES_MIN..=EVIDENCE_BYTES_MAX).contains(&self.evidence_bytes_max) {
            return Err(ReplayLogError::InvalidOptions {
                option: "evidence_bytes_max",
                reason: format!("{} is outside {EVIDENCE_BYTES_MIN}..={EVIDENCE_BYTES_MAX}", self.evidence_bytes_max),
            });
        }
        if self.lock_wait_ms > LOCK_WAIT_MS_MAX {
            return Err(ReplayLogError::InvalidOptions {
                option: "lock_wait_ms",
                reason: format!("{} is above {LOCK_WAIT_MS_MAX}", self.lock_wait_ms),
            });
        }
        if let Some(layout) = &self.layout {
            let rb = u32::try_from(record_bytes).unwrap_or(u32::MAX);
            layout.check(rb).map_err(|e| ReplayLogError::InvalidOptions { option: "layout", reason: e.0 })?;
            if layout.encode().len() > crate::format::ring::LAYOUT_BYTES_MAX as usize {
                return Err(ReplayLogError::InvalidOptions {
                    option: "layout",
                    reason: "encoded layout exceeds 65536 bytes".into(),
                });
            }
        }
        Ok(())
    }
}
