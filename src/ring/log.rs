//! `RingLog<T>`: the memory-mapped circular flight recorder.

use std::fs::File;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

use crate::arch::store_u64_pair;
use crate::error::{Location, ReplayLogError, Result};
use crate::format::layout::Layout;
use crate::format::ring::*;
use crate::format::window::{self, Anchor};
use crate::ring::evidence::{self, EvidenceRef, ReplayFailureEvidence};
use crate::ring::open::{self, Request};
use crate::ring::options::RingOptions;
use crate::ring::seqlock::{self, SeqSlot};
use crate::sys::{self, FileLock, Region};

/// A record replayed with its sequence number, timestamp and failure evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplayRecord<T> {
    /// Sequence number: the record's position in the ring's publish order since creation.
    pub seq: u64,
    /// The record's timestamp in nanoseconds, when the ring has a clock ([`Clock`]).
    pub timestamp_ns: Option<u64>,
    /// The record.
    pub record: T,
    /// Failure evidence, when the record was appended with some.
    pub evidence: Option<ReplayFailureEvidence>,
}

/// One item of the allocation-free iterator: the evidence borrows from the mapping.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReplayItem<'a, T> {
    /// Sequence number.
    pub seq: u64,
    /// The record's timestamp in nanoseconds, when the ring has a clock ([`Clock`]).
    pub timestamp_ns: Option<u64>,
    /// The record (copied out of the mapping).
    pub record: T,
    /// Evidence, borrowed from the mapping.
    pub evidence: Option<EvidenceRef<'a>>,
}

/// What `open` found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// The file did not exist and was created.
    pub created: bool,
    /// The epoch this writer took (every open for writing takes a new one).
    pub epoch: u32,
    /// The recovered window `(first_seq, last_seq)`, `None` when no record was found.
    pub window: Option<(u64, u64)>,
    /// Where the recovery walk started.
    pub anchor: Option<Anchor>,
    /// The durable sync watermark read from the state (every seq below it had been synced).
    pub synced_next: u64,
    /// The cursor hint as found (`None` when garbled); informational, never trusted.
    pub cursor_hint: Option<u64>,
    /// Slots that passed validation.
    pub slots_valid: u64,
    /// Slots never written.
    pub slots_never_written: u64,
    /// Slots that failed validation (torn, garbled, misplaced, busy).
    pub slots_damaged: u64,
    /// Valid slots outside the window: overwritten laps already counted as live elsewhere,
    /// records persisted out of order beyond a crash, or fenced records of an abandoned lineage.
    pub slots_outside_window: u64,
    /// Slots outside the window that were not all zero (records or sectors persisted beyond the
    /// run, torn writes, older laps cut off by a hole), zeroed durably at open so nothing in them
    /// can rejoin or reassemble into a later replay.
    pub slots_invalidated: u64,
    /// How many of the two state copies were valid.
    pub state_copies_valid: u8,
    /// A torn header copy was rewritten from the good one.
    pub header_copy_repaired: bool,
}

/// A memory-mapped circular log of fixed-size records of type `T`.
///
/// One writer per file (advisory lock). `append` is the hot path: it copies into the mapping,
/// checksums and publishes, with no system call, allocation or lock. `sync` is the durability
/// point. See `docs/DESIGN.md` for the crash contract.
///
/// ```
/// use replaylog::{FailureKind, ReplayFailureEvidence, RingLog};
///
/// #[replaylog::record]
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// struct Tick {
///     tick: u64,
///     value: f64,
/// }
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("capture.ring");
/// let mut log: RingLog<Tick> = RingLog::open(&path, 4)?; // 4 slots: creates and preallocates
/// for tick in 0..6 {
///     log.append(&Tick { tick, value: tick as f64 * 0.5 })?; // no system call
/// }
/// log.append_with_failure(
///     &Tick { tick: 6, value: f64::NAN },
///     &ReplayFailureEvidence::new(FailureKind::Timeout, 110, "deadline missed"),
/// )?;
/// log.sync()?; // durable on return
/// drop(log);
///
/// // Reopen: the window is the last 4 records, oldest first, evidence kept.
/// let log: RingLog<Tick> = RingLog::open(&path, 4)?;
/// let ticks: Vec<u64> = log.replay_all()?.iter().map(|t| t.tick).collect();
/// assert_eq!(ticks, [3, 4, 5, 6]);
/// let last = log.replay_records()?.pop().unwrap();
/// assert_eq!(last.seq, 6);
/// assert_eq!(last.evidence.unwrap().message, "deadline missed");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RingLog<T> {
    path: PathBuf,
    file: File,
    _lock: FileLock,
    region: Region,
    geometry: Geometry,
    header: RingHeader,
    layout: Option<Layout>,
    epoch: u32,
    /// Next seq to write.
    next: u64,
    /// Byte offset of the slot `next` goes to (`slot_offset(next % capacity)`, kept up to date
    /// by `append` so the hot path does no division).
    next_off: usize,
    /// End of the slot array (`slot_offset(capacity)`), where `next_off` wraps.
    slots_end: usize,
    /// Oldest seq of the window recovered at open (the window may start later after wrapping).
    first: u64,
    /// Every seq below this is durable.
    synced_next: u64,
    state_generation: u64,
    /// Which state copy holds `state_generation`.
    state_copy: usize,
    epoch_first_pending: bool,
    /// The ring's clock, and the stamp of the latest record (stamps never decrease).
    clock: Clock,
    last_ts: u64,
    /// Reads `CLOCK_MONOTONIC` for a `Monotonic` ring (on the TSC where the kernel's clock is).
    mono: sys::MonotonicClock,
    /// The slot checksum for this record size (format 3: CRC-32C in three parallel chains).
    crc_plan: sys::Crc32cPlan,
    /// Evidence entries (format 3) were written since the last sync.
    evidence_unsynced: bool,
    /// `RingOptions::prefault`: `sync` re-arms the pages ahead of the writer.
    prefault: bool,
    poisoned: Option<String>,
    recovery: RecoveryReport,
    _record: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for RingLog<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingLog")
            .field("path", &self.path)
            .field("capacity", &self.geometry.capacity_slots)
            .field("epoch", &self.epoch)
            .field("next", &self.next)
            .field("synced_next", &self.synced_next)
            .finish_non_exhaustive()
    }
}

const _: () = assert!(
    SLOT_CRC % 8 == 0 && SLOT_MAGIC_OFFSET == SLOT_CRC + 4 && SLOT_CRC_START == SLOT_CRC + 8 && SLOT_CRC_START % 8 == 0,
    "publish stores CRC and magic as one word, and the checksummed header as two whole words"
);

impl<T: FromBytes + IntoBytes + Immutable + KnownLayout> RingLog<T> {
    /// Opens the ring at `path`, creating and preallocating it with `capacity` slots if no file
    /// exists. See [`RingLog::open_with`].
    pub fn open(path: impl AsRef<Path>, capacity: u64) -> Result<Self> {
        Self::open_with(path, capacity, RingOptions::default())
    }

    /// Opens the ring at `path` with options.
    ///
    /// A new file is built under a temporary name, fully allocated (`posix_fallocate`), synced and
    /// renamed into place. An existing file must be a ring of the same record size, schema id,
    /// capacity, evidence size (and layout, if one is given): anything else is a
    /// `HeaderMismatch`, and the file is left untouched. Then the writer lock is taken, the
    /// live window is recovered from the slots, a new epoch is made durable, and appends continue
    /// right after the recovered window.
    ///
    /// # Errors
    /// `ZeroCapacity`, `CapacityOverflow`, `InvalidOptions` (before touching any file);
    /// `HeaderMismatch` for a foreign or different file; `Locked`; `Corrupt` when both header
    /// copies are damaged; `Io` with the operation and path.
    pub fn open_with(path: impl AsRef<Path>, capacity: u64, options: RingOptions) -> Result<Self> {
        let path = path.as_ref();
        let req = Request { path, record_bytes: size_of::<T>(), capacity, options: &options };
        let opened = open::open_file(&req)?;
        let lock = open::lock(&opened.file, path, options.lock_wait_ms)?;
        let g = opened.geometry;
        let len = usize::try_from(g.file_bytes).map_err(|_| ReplayLogError::InvalidOptions {
            option: "capacity",
            reason: "file does not fit the address space".into(),
        })?;
        let region =
            Region::map_mut(&opened.file, len, options.prefault).map_err(|e| ReplayLogError::io("mmap", path, e))?;
        if options.mlock {
            region.lock_in_memory().map_err(|e| ReplayLogError::io("mlock", path, e))?;
        }
        let mut log = RingLog {
            path: path.to_path_buf(),
            file: opened.file,
            _lock: lock,
            region,
            geometry: g,
            header: opened.header,
            layout: opened.layout,
            epoch: 0,
            next: 0,
            next_off: g.slots_offset as usize,
            slots_end: g.slot_offset(g.capacity_slots) as usize,
            first: 0,
            synced_next: 0,
            state_generation: 0,
            state_copy: 1,
            epoch_first_pending: true,
            clock: g.clock,
            last_ts: 0,
            crc_plan: sys::Crc32cPlan::new(g.record_bytes as usize),
            mono: match g.clock {
                Clock::Monotonic => sys::MonotonicClock::new(),
                _ => sys::MonotonicClock::vdso(),
            },
            evidence_unsynced: false,
            prefault: options.prefault,
            poisoned: None,
            recovery: RecoveryReport {
                created: opened.created,
                epoch: 0,
                window: None,
                anchor: None,
                synced_next: 0,
                cursor_hint: None,
                slots_valid: 0,
                slots_never_written: 0,
                slots_damaged: 0,
                slots_outside_window: 0,
                slots_invalidated: 0,
                state_copies_valid: 0,
                header_copy_repaired: false,
            },
            _record: PhantomData,
        };
        log.recover()?;
        // After recovery, which refuses (changing nothing) before it writes anything.
        if let Some(bad) = opened.bad_header_copy {
            log.region.write(bad as usize, opened.header.as_bytes());
            log.flush(bad as usize, SECTOR_BYTES as usize)?;
            log.recovery.header_copy_repaired = true;
        }
        // Last: recovery ends with an fdatasync, which cleans and write-protects every page again
        // (dirty tracking), so prefaulting earlier would leave the first lap faulting anyway.
        // Only the slots: the evidence region is touched by appends with evidence alone.
        if options.prefault {
            let (from, to) = (g.slots_offset as usize, log.slots_end);
            log.region.prefault_for_write(from, to - from);
        }
        Ok(log)
    }

    fn flush(&self, off: usize, len: usize) -> Result<()> {
        self.region.flush_range(off, len).map_err(|e| ReplayLogError::io("msync", &self.path, e))?;
        sys::fdatasync(&self.file).map_err(|e| ReplayLogError::io("fdatasync", &self.path, e))
    }

    fn check_slot(&self, index: u64) -> std::result::Result<SlotMeta, SlotFault> {
        let (slot, entry) = self.slot_bytes(index);
        check_record(&self.geometry, index, slot, entry)
    }

    /// The bytes of slot `index` and of its evidence entry (empty in format 2).
    fn slot_bytes(&self, index: u64) -> (&[u8], &[u8]) {
        let g = &self.geometry;
        let slot = self.region.bytes(g.slot_offset(index) as usize, g.slot_bytes as usize);
        let entry = match g.evidence_out_of_line() {
            true => self.region.bytes(g.evidence_entry_offset(index) as usize, g.evidence_entry_bytes as usize),
            false => &[],
        };
        (slot, entry)
    }

    /// Reconstructs the window from the slots and makes a new epoch durable.
    fn recover(&mut self) -> Result<()> {
        let states = STATE_OFFSETS.map(|off| RingState::decode(self.region.bytes(off as usize, STATE_BYTES)));
        let current = (0..2).filter(|i| states[*i].is_some()).max_by_key(|i| states[*i].unwrap().generation.get());
        let (generation, state_epoch, watermark) = current
            .map(|i| states[i].unwrap())
            .map_or((0, 0, 0), |s| (s.generation.get(), s.epoch.get(), s.synced_next.get()));
        let have_state = current.is_some();
        let cap = self.geometry.capacity_slots;
        let admit = |m: SlotMeta| check_slot_epoch(m, have_state.then_some(state_epoch));

        let r = &mut self.recovery;
        r.state_copies_valid = states.iter().filter(|s| s.is_some()).count() as u8;
        r.synced_next = watermark;
        let cursor = decode_cursor(
            self.region.load_u64(CURSOR_OFFSET as usize, Ordering::Acquire),
            self.region.load_u64((CURSOR_OFFSET + CURSOR_CHECK) as usize, Ordering::Acquire),
        );
        self.recovery.cursor_hint = cursor;
        let mut max_epoch = state_epoch;
        let (mut valid, mut never, mut damaged) = (0, 0, 0);
        for i in 0..cap {
            match self.check_slot(i).and_then(admit) {
                Ok(m) => {
                    valid += 1;
                    max_epoch = max_epoch.max(m.epoch);
                }
                Err(SlotFault::NeverWritten) => never += 1,
                Err(_) => damaged += 1,
            }
        }
        let run = window::recover(cap, watermark, |i| self.check_slot(i).and_then(admit).ok());
        let (first, next) = match run {
            Some(run) => (run.first, run.last + 1),
            None => (watermark, watermark),
        };
        // Checked before anything is written: a refused open leaves the file as it was.
        let epoch = max_epoch.checked_add(1).ok_or_else(|| ReplayLogError::Corrupt {
            path: self.path.clone(),
            location: Location::RingState,
            reason: "epoch counter exhausted".into(),
        })?;
        // Every slot the window does not own is zeroed durably before this writer's first append,
        // unless it is all zero already. Such a slot may hold a record persisted beyond the run
        // out of order, or sectors of one (a torn write). The next writer will rewrite those seqs
        // with new records, and a later power cut may combine any sectors of the old and new
        // contents: with zeroes everywhere the old record can neither rejoin nor reassemble.
        let window_len = run.map_or(0, |w| w.last - w.first + 1);
        let mut invalidated = 0;
        let mut zeros: Option<Vec<u8>> = None;
        let mut dirty: Option<(usize, usize)> = None;
        let stride = self.geometry.slot_bytes as usize;
        for i in 0..cap {
            let in_window = (i + cap - first % cap) % cap < window_len;
            let off = self.geometry.slot_offset(i) as usize;
            if in_window || self.region.bytes(off, stride).iter().all(|b| *b == 0) {
                continue;
            }
            let zeros = zeros.get_or_insert_with(|| vec![0u8; stride]);
            self.region.write(off, zeros);
            dirty = Some(dirty.map_or((off, off + stride), |(a, b)| (a.min(off), b.max(off + stride))));
            invalidated += 1;
        }
        if let Some((a, b)) = dirty {
            self.flush(a, b - a)?;
        }
        self.recovery.slots_invalidated = invalidated;
        let r = &mut self.recovery;
        r.slots_valid = valid;
        r.slots_never_written = never;
        r.slots_damaged = damaged;
        r.slots_outside_window = valid - run.map_or(0, |w| w.last - w.first + 1);
        r.window = run.map(|w| (w.first, w.last));
        r.anchor = run.map(|w| w.anchor);
        r.epoch = epoch;
        // The next stamp may not go below the window's last one.
        self.last_ts = run
            .and_then(|w| self.check_slot(self.geometry.index_of(w.last)).ok())
            .and_then(|m| m.timestamp_ns)
            .unwrap_or(0);
        self.first = first;
        self.next = next;
        self.next_off = self.geometry.slot_offset(self.geometry.index_of(next)) as usize;
        self.epoch = epoch;
        // Seqs at or above `next` will be rewritten, so the watermark must not claim them.
        self.synced_next = watermark.min(next);
        self.state_generation = generation;
        self.state_copy = current.unwrap_or(1);
        self.write_cursor();
        self.write_state()
    }

    /// Writes the state (epoch, watermark) into the older copy and makes it durable.
    fn write_state(&mut self) -> Result<()> {
        let copy = 1 - self.state_copy;
        let state = RingState::new(self.state_generation + 1, self.epoch, self.synced_next);
        let off = STATE_OFFSETS[copy] as usize;
        self.region.write(off, state.as_bytes());
        self.flush(off, STATE_BYTES)?;
        self.state_generation += 1;
        self.state_copy = copy;
        Ok(())
    }

    fn write_cursor(&mut self) {
        let next = self.next;
        self.region.store_u64((CURSOR_OFFSET + CURSOR_NEXT) as usize, next, Ordering::Release);
        self.region.store_u64((CURSOR_OFFSET + CURSOR_CHECK) as usize, !next, Ordering::Release);
    }

    /// Number of slots.
    pub fn capacity(&self) -> u64 {
        self.geometry.capacity_slots
    }

    /// Oldest live seq.
    fn oldest(&self) -> u64 {
        self.first.max(self.next.saturating_sub(self.geometry.capacity_slots))
    }

    /// Number of live records (at most `capacity`).
    pub fn len(&self) -> u64 {
        self.next - self.oldest()
    }

    /// Whether the ring holds no live record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The seq the next append will get.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Every seq below this is durable (covered by a completed [`RingLog::sync`]).
    pub fn synced_seq(&self) -> u64 {
        self.synced_next
    }

    /// The path this ring was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The record layout stored in the file, if any.
    pub fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// The schema id stored in the file.
    pub fn schema_id(&self) -> u64 {
        self.header.schema_id.get()
    }

    /// Evidence bytes reserved per slot.
    pub fn evidence_bytes_max(&self) -> u32 {
        self.geometry.evidence_bytes_max
    }

    /// The clock that stamps this ring's records.
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// The timestamp of the latest record (0 before the first stamped record, and without a
    /// clock). The next stamp is never below it.
    pub fn last_timestamp_ns(&self) -> u64 {
        self.last_ts
    }

    /// The ring's format version ([`RING_VERSION`], or 2 for a file an older build created).
    pub fn format_version(&self) -> u32 {
        self.geometry.version
    }

    /// What `open` recovered.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.recovery
    }

    /// Appends a record, overwriting the oldest when the ring is full. Hot path: no system call,
    /// no allocation, no lock. A [`Clock::Monotonic`] ring stamps it with `CLOCK_MONOTONIC`
    /// (through the vDSO, no system call either).
    ///
    /// # Errors
    /// `Poisoned`, after a failed `sync`; `WrongClock` on a [`Clock::Caller`] ring (use
    /// [`RingLog::append_at`]).
    #[inline]
    pub fn append(&mut self, record: &T) -> Result<()> {
        let ts = self.own_stamp("append")?;
        self.publish(record.as_bytes(), None, ts)
    }

    /// Appends a record stamped `timestamp_ns` (a [`Clock::Caller`] ring).
    ///
    /// # Errors
    /// `TimestampBackwards` when `timestamp_ns` is below the previous record's stamp (nothing is
    /// written); `WrongClock` on a ring with another clock; `Poisoned` after a failed `sync`.
    #[inline]
    pub fn append_at(&mut self, timestamp_ns: u64, record: &T) -> Result<()> {
        self.caller_stamp("append_at", timestamp_ns)?;
        self.publish(record.as_bytes(), None, timestamp_ns)
    }

    /// Appends a record with failure evidence. The message is truncated at a character boundary
    /// to fit `evidence_bytes_max - 16` bytes.
    ///
    /// # Errors
    /// As [`RingLog::append`].
    pub fn append_with_failure(&mut self, record: &T, evidence: &ReplayFailureEvidence) -> Result<()> {
        let ts = self.own_stamp("append_with_failure")?;
        let (head, message) = evidence::encode(evidence, self.geometry.evidence_bytes_max as usize);
        self.publish(record.as_bytes(), Some((&head, message)), ts)
    }

    /// [`RingLog::append_with_failure`] stamped `timestamp_ns` (a [`Clock::Caller`] ring).
    ///
    /// # Errors
    /// As [`RingLog::append_at`].
    pub fn append_with_failure_at(
        &mut self,
        timestamp_ns: u64,
        record: &T,
        evidence: &ReplayFailureEvidence,
    ) -> Result<()> {
        self.caller_stamp("append_with_failure_at", timestamp_ns)?;
        let (head, message) = evidence::encode(evidence, self.geometry.evidence_bytes_max as usize);
        self.publish(record.as_bytes(), Some((&head, message)), timestamp_ns)
    }

    /// The stamp of an `append` the ring stamps itself (0 without a clock).
    #[inline(always)]
    fn own_stamp(&mut self, call: &'static str) -> Result<u64> {
        match self.clock {
            Clock::None => Ok(0),
            Clock::Monotonic => Ok(self.mono.now_ns().max(self.last_ts)),
            Clock::Caller => Err(self.wrong_clock(call)),
        }
    }

    /// Checks a caller's stamp: a `Caller` ring, and not below the previous stamp.
    #[inline(always)]
    fn caller_stamp(&self, call: &'static str, ts: u64) -> Result<()> {
        if self.clock != Clock::Caller {
            return Err(self.wrong_clock(call));
        }
        if ts < self.last_ts {
            return Err(ReplayLogError::TimestampBackwards {
                path: self.path.clone(),
                previous: self.last_ts,
                given: ts,
            });
        }
        Ok(())
    }

    #[cold]
    fn wrong_clock(&self, call: &'static str) -> ReplayLogError {
        ReplayLogError::WrongClock { path: self.path.clone(), clock: self.clock, call }
    }

    #[inline]
    fn publish(&mut self, record: &[u8], evidence: Option<(&[u8], &[u8])>, ts: u64) -> Result<()> {
        if self.poisoned.is_some() {
            return Err(self.poisoned_error());
        }
        debug_assert_eq!(record.len(), self.geometry.record_bytes as usize);
        let seq = self.next;
        let off = self.next_off;
        debug_assert_eq!(off as u64, self.geometry.slot_offset(self.geometry.index_of(seq)));
        let evidence_bytes = evidence.map_or(0, |(h, m)| h.len() + m.len());
        let mut flags = if evidence.is_some() { SLOT_FLAG_EVIDENCE } else { 0 };
        if self.epoch_first_pending {
            flags |= SLOT_FLAG_EPOCH_FIRST;
        }
        let (lo, hi) = slot_header_words(seq, self.epoch, flags, evidence_bytes as u16);
        let header_bytes = self.geometry.slot_header_bytes as usize;
        let inline_evidence = !self.geometry.evidence_out_of_line();

        // Seqlock publish: mark busy, store the slot, then its seq with Release, so a reader
        // that observes the new seq observes the whole slot. The slot is stored as relaxed
        // atomic 8-byte words (`Region::write`): a reader may be copying it meanwhile (it reads
        // the same words atomically and discards what the seqlock shows was changing), and a
        // plain store racing with its loads would be a data race. Nothing stored is read back:
        // the CRC is computed from the header words in registers and the caller's record and
        // evidence (settled memory), like the journal's `encode_frame`, so no load waits for the
        // slot's stores, which drain while the CRC runs; their cache lines were touched at the
        // end of the previous append (`touch_next_slot`).
        seqlock::begin_write(&mut SlotWord { region: &mut self.region, off: off + SLOT_SEQ });
        self.region.store_u64(off + SLOT_CRC_START, lo, Ordering::Relaxed);
        self.region.store_u64(off + SLOT_CRC_START + 8, hi, Ordering::Relaxed);
        if header_bytes == SLOT_HEADER_BYTES_TIMED {
            self.region.store_u64(off + SLOT_TIMESTAMP, ts, Ordering::Relaxed);
        }
        self.region.write(off + header_bytes, record);
        if let Some((h, m)) = evidence {
            self.write_evidence(seq, off + header_bytes + record.len(), h, m);
        }
        // One CRC over bytes 16.. of the slot (header words, timestamp, record, and in format 2
        // the evidence): the same value a reader computes in one pass over the slot.
        let crc = if inline_evidence {
            version_2_crc(lo, hi, record, evidence)
        } else {
            // CRC-32C on the `crc32` instruction, fed the header words from registers (no load
            // waits for the stores just made) and the caller's record, in three parallel chains
            // for records of 48 bytes and more (`sys::Crc32cPlan`).
            let words = [lo, hi, ts];
            self.crc_plan.checksum(&words[..(header_bytes - SLOT_CRC_START) / 8], record)
        };
        debug_assert!(self.geometry.checked_end(evidence_bytes as u16) <= self.geometry.slot_bytes as usize);

        // CRC and magic share the word at SLOT_CRC (little-endian: CRC in its low half).
        let crc_magic = u64::from(crc) | (u64::from(SLOT_MAGIC) << 32);
        self.region.store_u64(off + SLOT_CRC, crc_magic, Ordering::Relaxed);
        seqlock::end_write(&mut SlotWord { region: &mut self.region, off: off + SLOT_SEQ }, seq);
        self.next = seq + 1;
        self.next_off += self.geometry.slot_bytes as usize;
        if self.next_off == self.slots_end {
            self.next_off = self.geometry.slots_offset as usize;
        }
        self.epoch_first_pending = false;
        self.last_ts = ts;
        self.write_cursor();
        self.touch_next_slot();
        Ok(())
    }

    /// Stores a record's evidence: inline at `inline_off` (format 2), else into the evidence
    /// entry of its slot, bound to its seq and epoch (format 3). Called between the seqlock's
    /// begin and end, so a reader never pairs the slot with a half-written entry.
    #[cold]
    #[inline(never)]
    fn write_evidence(&mut self, seq: u64, inline_off: usize, head: &[u8], message: &[u8]) {
        let g = self.geometry;
        if !g.evidence_out_of_line() {
            self.region.write(inline_off, head);
            self.region.write(inline_off + head.len(), message);
            return;
        }
        let entry = g.evidence_entry_offset(g.index_of(seq)) as usize;
        let header = evidence_entry_header(seq, self.epoch, &[head, message]);
        self.region.write(entry, &header);
        self.region.write(entry + EVIDENCE_ENTRY_HEADER_BYTES, head);
        self.region.write(entry + EVIDENCE_ENTRY_HEADER_BYTES + head.len(), message);
        self.evidence_unsynced = true;
    }

    /// Loads (and discards) a word of the first two cache lines of the next append's slot (the
    /// header and a 64 B record's lines), so that those lines are being fetched (exclusive, as nobody else writes them)
    /// before that append stores into them. Its stores are 8-byte words (`Region::write`), and
    /// an append that meets a load the store buffer cannot forward (typically the caller's record,
    /// whose first 16 bytes it has just written in two parts) waits until every older store has
    /// reached the cache: without this, the previous append's stores to lines still being
    /// fetched. Measured (criterion, A/B in one session, noisy shared machine): 64 B appends
    /// 100 -> 49-53 ns (40-54 ns before the slot stores were atomic); touching every line of a
    /// 256 B record as well measured worse.
    #[inline(always)]
    fn touch_next_slot(&self) {
        let second_line = 64.min(self.geometry.slot_bytes as usize - 8);
        let _ = self.region.load_u64(self.next_off, Ordering::Relaxed);
        let _ = self.region.load_u64(self.next_off + second_line, Ordering::Relaxed);
    }

    fn poisoned_error(&self) -> ReplayLogError {
        ReplayLogError::Poisoned { path: self.path.clone(), first_error: self.poisoned.clone().unwrap_or_default() }
    }

    /// Makes every appended record durable: msync(MS_SYNC) of the slots written since the last
    /// sync and of the cursor, fdatasync, then the new sync watermark in the alternate state copy,
    /// msync'd and fdatasync'd. Durable on return.
    ///
    /// Writeback write-protects the pages it cleaned, so the first append to each afterwards
    /// would take a page fault. With [`RingOptions::prefault`], `sync` therefore ends by re-arming
    /// for writing the pages the next appends go to (and the cursor's), content unchanged: from
    /// the next slot on, `max(2 x the appends since the previous sync, 64 KiB of slots)`, at most
    /// the whole ring. The faults are taken here instead of in `append`; the re-armed pages are
    /// dirty, so the next `sync`'s fdatasync writes them back even if no append reached them
    /// (extra writeback bounded by that span). A writer that outruns the span before its next
    /// sync faults beyond it as without prefault.
    ///
    /// # Errors
    /// `Io` on the first failure, after which the handle is poisoned: every later `append` and
    /// `sync` returns `Poisoned` (a failed sync is never retried as if it could succeed).
    pub fn sync(&mut self) -> Result<()> {
        if self.poisoned.is_some() {
            return Err(self.poisoned_error());
        }
        if self.next == self.synced_next {
            return Ok(());
        }
        let result = self.sync_inner();
        if let Err(e) = &result {
            self.poisoned = Some(e.to_string());
        }
        result
    }

    fn sync_inner(&mut self) -> Result<()> {
        let g = self.geometry;
        let cap = g.capacity_slots;
        let stride = g.slot_bytes as usize;
        let unsynced = self.next - self.synced_next;
        let io = |e| ReplayLogError::io("msync", &self.path, e);
        // The slots written since the last sync: one or two index ranges.
        let ranges = if unsynced >= cap {
            [Some((0, cap - 1)), None]
        } else {
            let (from, to) = (g.index_of(self.synced_next), g.index_of(self.next - 1));
            if from <= to { [Some((from, to)), None] } else { [Some((from, cap - 1)), Some((0, to))] }
        };
        for (a, b) in ranges.into_iter().flatten() {
            self.region.flush_range(g.slot_offset(a) as usize, (b - a + 1) as usize * stride).map_err(io)?;
            if self.evidence_unsynced {
                let (off, len) = (g.evidence_entry_offset(a), (b - a + 1) * g.evidence_entry_bytes as u64);
                self.region.flush_range(off as usize, len as usize).map_err(io)?;
            }
        }
        self.region.flush_range(CURSOR_OFFSET as usize, 16).map_err(io)?;
        sys::fdatasync(&self.file).map_err(|e| ReplayLogError::io("fdatasync", &self.path, e))?;
        let next = self.next;
        let previous = self.synced_next;
        self.synced_next = next;
        self.evidence_unsynced = false;
        if let Err(e) = self.write_state() {
            self.synced_next = previous;
            return Err(e);
        }
        if self.prefault {
            self.rearm_ahead(unsynced);
        }
        Ok(())
    }

    /// Re-arms for writing (see `sync`) the cursor and the slots of the next
    /// `max(2 x appended, 64 KiB worth)` seqs from `next` on, wrapping at the end of the slots.
    /// Best effort: everything is durable already, and a re-arm that fails (out of memory) only
    /// leaves those pages to fault in `append` as without prefault.
    fn rearm_ahead(&mut self, appended: u64) {
        const AHEAD_BYTES_MIN: u64 = 64 << 10;
        let g = self.geometry;
        let stride = g.slot_bytes as u64;
        let ahead = appended.saturating_mul(2).max(AHEAD_BYTES_MIN.div_ceil(stride)).min(g.capacity_slots);
        let from = self.next % g.capacity_slots;
        let to_end = ahead.min(g.capacity_slots - from);
        for (index, slots) in [(from, to_end), (0, ahead - to_end)] {
            let _ = self.region.rearm_for_write(g.slot_offset(index) as usize, (slots * stride) as usize);
        }
        let _ = self.region.rearm_for_write(CURSOR_OFFSET as usize, 16);
    }

    /// Iterates the live window in publish order without allocating. Each slot is re-validated;
    /// a slot that fails yields one `Corrupt` error (with slot index and seq) and ends iteration.
    pub fn iter(&self) -> RingIter<'_, T> {
        RingIter { log: self, seq: self.oldest(), end: self.next }
    }

    /// All live records, oldest first.
    pub fn replay_all(&self) -> Result<Vec<T>> {
        let mut out = Vec::with_capacity(self.len() as usize);
        for item in self.iter() {
            out.push(item?.record);
        }
        Ok(out)
    }

    /// All live records with seq and evidence, oldest first.
    pub fn replay_records(&self) -> Result<Vec<ReplayRecord<T>>> {
        let mut out = Vec::with_capacity(self.len() as usize);
        for item in self.iter() {
            let item = item?;
            out.push(ReplayRecord {
                seq: item.seq,
                timestamp_ns: item.timestamp_ns,
                record: item.record,
                evidence: item.evidence.map(|e| e.to_owned()),
            });
        }
        Ok(out)
    }

    fn read(&self, seq: u64) -> Result<ReplayItem<'_, T>> {
        let g = &self.geometry;
        let index = g.index_of(seq);
        let (slot, entry) = self.slot_bytes(index);
        let corrupt = |reason: String| ReplayLogError::Corrupt {
            path: self.path.clone(),
            location: Location::RingSlot { index, seq },
            reason,
        };
        let meta = check_record(g, index, slot, entry).map_err(|f| corrupt(f.describe().into()))?;
        if meta.seq != seq {
            return Err(corrupt(format!("holds seq {}", meta.seq)));
        }
        let at = g.record_offset();
        let record =
            T::read_from_bytes(&slot[at..at + g.record_bytes as usize]).expect("record_bytes == size_of::<T>()");
        let evidence = match meta.evidence_bytes {
            0 => None,
            _ => Some(
                evidence::decode(record_evidence(g, &meta, slot, entry))
                    .ok_or_else(|| corrupt("malformed failure evidence".into()))?,
            ),
        };
        Ok(ReplayItem { seq, timestamp_ns: meta.timestamp_ns, record, evidence })
    }
}

/// Allocation-free iterator over a ring's live window. See [`RingLog::iter`].
pub struct RingIter<'a, T> {
    log: &'a RingLog<T>,
    seq: u64,
    end: u64,
}

impl<'a, T: FromBytes + IntoBytes + Immutable + KnownLayout> Iterator for RingIter<'a, T> {
    type Item = Result<ReplayItem<'a, T>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.seq >= self.end {
            return None;
        }
        let item = self.log.read(self.seq);
        self.seq = if item.is_ok() { self.seq + 1 } else { self.end };
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = (self.end - self.seq) as usize;
        (0, Some(n))
    }
}

/// A version 2 slot's CRC-32 (IEEE) over the header words, the record and the inline evidence.
/// The header's 16 bytes come from one 16-byte store the CRC's first load is forwarded from.
#[inline]
fn version_2_crc(lo: u64, hi: u64, record: &[u8], evidence: Option<(&[u8], &[u8])>) -> u32 {
    let mut checked = [0u8; SLOT_HEADER_BYTES - SLOT_CRC_START];
    store_u64_pair(&mut checked, lo, hi);
    let mut h = crc32fast::Hasher::new();
    h.update(&checked);
    h.update(record);
    if let Some((eh, m)) = evidence {
        h.update(eh);
        h.update(m);
    }
    h.finalize()
}

/// The seq word of one slot of the writer's mapping.
struct SlotWord<'a> {
    region: &'a mut Region,
    off: usize,
}

impl SeqSlot for SlotWord<'_> {
    #[inline(always)]
    fn load_seq(&self, order: Ordering) -> u64 {
        self.region.load_u64(self.off, order)
    }
    #[inline(always)]
    fn store_seq(&mut self, value: u64, order: Ordering) {
        self.region.store_u64(self.off, value, order)
    }
}
