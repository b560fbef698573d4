//! The RingLog file format, version 3 (version 2 files are still opened, read and appended in
//! their own slot format). See `docs/FORMAT.md` ("RingLog file") for the byte maps.
//!
//! ```text
//! page 0  (0)      sector 0: header copy A        sector 1: state copy 0
//! page 1  (4096)   sector 0: header copy B        sector 1: state copy 1
//! page 2  (8192)   sector 0: cursor (hint)
//! page 3  (12288)  layout block (optional), then padding to a 4096 boundary
//! slots_offset     capacity_slots x slot_bytes            (compact slots: header, record)
//! evidence_offset  capacity_slots x evidence_entry_bytes  (version 3: evidence, out of line)
//! ```
//! Header copies and state copies sit in different pages, so writing back one page (a state
//! update) can never tear both header copies or both states.

use zerocopy::little_endian::{I64, U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::{crc32, crc32c, round_up};

/// First 8 bytes of both header copies.
pub const RING_MAGIC: [u8; 8] = *b"RPLYRING";
/// Format version written by this build. [`RING_VERSION_2`] files are opened, read and appended
/// in their own format; any other version is refused with `HeaderMismatch`.
pub const RING_VERSION: u32 = 3;
/// The previous version: evidence inline in every slot, no timestamps.
pub const RING_VERSION_2: u32 = 2;
/// Sector size the crash model tears at, and the size of every separately rewritten unit.
pub const SECTOR_BYTES: u64 = 512;
/// Page size assumed for placement (the largest unit the kernel writes back at once on x86-64).
pub const PAGE_BYTES: u64 = 4096;

/// Offset of header copy A.
pub const HEADER_A_OFFSET: u64 = 0;
/// Offset of header copy B.
pub const HEADER_B_OFFSET: u64 = PAGE_BYTES;
/// Offsets of the two alternating state copies.
pub const STATE_OFFSETS: [u64; 2] = [SECTOR_BYTES, PAGE_BYTES + SECTOR_BYTES];
/// Offset of the cursor sector.
pub const CURSOR_OFFSET: u64 = 2 * PAGE_BYTES;
/// Offset of the optional layout block.
pub const LAYOUT_OFFSET: u64 = 3 * PAGE_BYTES;
/// Largest encoded layout block accepted.
pub const LAYOUT_BYTES_MAX: u32 = 64 * 1024;

/// Largest capacity in slots.
pub const CAPACITY_MAX: u64 = u32::MAX as u64;
/// Largest record type accepted (bytes).
pub const RECORD_BYTES_MAX: u32 = 1 << 20;
/// Smallest `evidence_bytes_max`: room for kind and code with an empty message.
pub const EVIDENCE_BYTES_MIN: u32 = EVIDENCE_HEADER_BYTES as u32;
/// Largest `evidence_bytes_max` (the slot stores the evidence length as a `u16`).
pub const EVIDENCE_BYTES_MAX: u32 = 16 * 1024;
/// Default `evidence_bytes_max`: 16 bytes of kind/code plus a 240-byte message.
pub const EVIDENCE_BYTES_DEFAULT: u32 = 256;

/// The file header, stored twice (copies A and B), identical, written only at creation (and a
/// torn copy rewritten from the good one when a writer opens).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct RingHeader {
    /// [`RING_MAGIC`].
    pub magic: [u8; 8],
    /// [`RING_VERSION`].
    pub version: U32,
    /// Reserved, zero.
    pub flags: U32,
    /// `size_of::<T>()` of the record type.
    pub record_bytes: U32,
    /// Bytes reserved per slot for failure evidence (kind, code, message).
    pub evidence_bytes_max: U32,
    /// Slot stride. Version 3: `round_up(slot_header_bytes + record_bytes, 8)`; version 2:
    /// `round_up(SLOT_HEADER_BYTES + record_bytes + evidence_bytes_max, 8)`.
    pub slot_bytes: U32,
    /// Version 3: the clock that stamps records ([`Clock::tag`]: 0 none, 1 monotonic, 2 caller).
    /// Zero in version 2.
    pub clock: U32,
    /// Number of slots.
    pub capacity_slots: U64,
    /// Caller-chosen schema identifier.
    pub schema_id: U64,
    /// Byte offset of slot 0 (a multiple of 4096).
    pub slots_offset: U64,
    /// Total file length.
    pub file_bytes: U64,
    /// Offset of the layout block, 0 when the file carries no layout.
    pub layout_offset: U64,
    /// Length of the layout block, 0 when none.
    pub layout_bytes: U32,
    /// CRC-32 of the layout block.
    pub layout_crc: U32,
    /// Creation time, milliseconds since the Unix epoch (informational).
    pub created_unix_ms: U64,
    /// Version 3: byte offset of the evidence region (a multiple of 4096). Zero in version 2.
    pub evidence_offset: U64,
    /// Version 3: evidence entry stride, `round_up(EVIDENCE_ENTRY_HEADER_BYTES +
    /// evidence_bytes_max, 8)`. Zero in version 2.
    pub evidence_entry_bytes: U32,
    /// Version 3: bytes of slot header before the record, [`SLOT_HEADER_BYTES`] or
    /// [`SLOT_HEADER_BYTES_TIMED`] with a clock. Zero in version 2 (always [`SLOT_HEADER_BYTES`]).
    pub slot_header_bytes: U32,
    /// Zero.
    pub reserved: [u8; 404],
    /// CRC-32 of bytes 0..508.
    pub crc: U32,
}

const _: () = assert!(size_of::<RingHeader>() == SECTOR_BYTES as usize);
const _: () = assert!(std::mem::offset_of!(RingHeader, capacity_slots) == 32);
const _: () = assert!(std::mem::offset_of!(RingHeader, created_unix_ms) == 80);
const _: () = assert!(std::mem::offset_of!(RingHeader, evidence_offset) == 88);
const _: () = assert!(std::mem::offset_of!(RingHeader, slot_header_bytes) == 100);
const _: () = assert!(std::mem::offset_of!(RingHeader, crc) == 508);

impl RingHeader {
    /// Fills in the checksum.
    pub fn seal(mut self) -> Self {
        self.crc = U32::new(crc32(&[&self.as_bytes()[..508]]));
        self
    }

    /// Whether the checksum matches.
    pub fn crc_ok(&self) -> bool {
        self.crc.get() == crc32(&[&self.as_bytes()[..508]])
    }
}

/// One of two alternating state copies. A state update writes the copy holding the older
/// `generation`, then msyncs it, so a torn update leaves the other copy intact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct RingState {
    /// Incremented by every state write; the valid copy with the larger value is current.
    pub generation: U64,
    /// The writer epoch: incremented (and this state made durable) by every open for writing,
    /// before that writer's first append.
    pub epoch: U32,
    /// Reserved, zero.
    pub reserved0: U32,
    /// Sync watermark: every seq below this was durable when the state was written.
    pub synced_next: U64,
    /// CRC-32 of bytes 0..24.
    pub crc: U32,
    /// Reserved, zero.
    pub reserved1: U32,
}

/// Bytes of [`RingState`].
pub const STATE_BYTES: usize = 32;
const _: () = assert!(size_of::<RingState>() == STATE_BYTES);
const _: () = assert!(std::mem::offset_of!(RingState, crc) == 24);

impl RingState {
    /// A sealed state.
    pub fn new(generation: u64, epoch: u32, synced_next: u64) -> Self {
        let mut s = RingState {
            generation: U64::new(generation),
            epoch: U32::new(epoch),
            reserved0: U32::ZERO,
            synced_next: U64::new(synced_next),
            crc: U32::ZERO,
            reserved1: U32::ZERO,
        };
        s.crc = U32::new(crc32(&[&s.as_bytes()[..24]]));
        s
    }

    /// Decodes a state copy, `None` if its checksum fails (never written, or torn).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let s = RingState::read_from_bytes(bytes.get(..STATE_BYTES)?).ok()?;
        let in_range = (1..=SEQ_MAX).contains(&s.generation.get()) && s.synced_next.get() <= SEQ_MAX;
        (in_range && s.crc.get() == crc32(&[&s.as_bytes()[..24]])).then_some(s)
    }
}

/// Byte offset (within the cursor sector) of the next seq to be written.
pub const CURSOR_NEXT: u64 = 0;
/// Byte offset of the bitwise complement of the same value; a mismatch marks a garbled cursor.
pub const CURSOR_CHECK: u64 = 8;

/// Decodes the cursor hint: `Some(next_seq)` when both words agree.
pub fn decode_cursor(next: u64, check: u64) -> Option<u64> {
    (next == !check).then_some(next)
}

// ---- slots -------------------------------------------------------------------------------------

/// Slot header byte map (little-endian):
///
/// ```text
/// 0   u64  seq             publish word: stored last, with Release ordering; SEQ_BUSY while written
/// 8   u32  crc             CRC-32C (version 3; CRC-32 in version 2) of the checksummed bytes
/// 12  u32  magic           SLOT_MAGIC
/// 16  u64  seq_copy        equals seq: ties the publish word to the checksummed bytes
/// 24  u32  epoch           writer epoch that wrote this slot
/// 28  u16  flags           SLOT_FLAG_*
/// 30  u16  evidence_bytes  bytes of evidence present (0 = none)
/// 32  u64  timestamp_ns    version 3 with a clock only (header_bytes = 40), else absent (32)
/// hb  ..   record          record_bytes, at header_bytes
/// ..  ..   evidence        version 2 only: evidence_bytes (of evidence_bytes_max reserved)
/// ```
/// Version 3 checksums bytes `16 .. header_bytes + record_bytes`, and keeps evidence out of line
/// in an evidence entry of its own (see [`EVIDENCE_ENTRY_HEADER_BYTES`]), so a record without
/// evidence touches only its compact slot. Version 2 checksums bytes
/// `16 .. 32 + record_bytes + evidence_bytes`, evidence inline.
///
/// The checksummed bytes are one contiguous range starting 16-byte aligned, so the hot path computes
/// one CRC over what it just wrote with loads that line up with the stores that wrote it (format
/// version 2: version 1 started at byte 12, and every 16-byte load then straddled two stores and
/// waited for them to reach the cache instead of being forwarded — about 8 ns of a 29 ns append,
/// BENCHMARKS.md). The magic is outside the range (compared as a constant), and so is the seq
/// word, bound to it by `seq_copy`.
pub const SLOT_HEADER_BYTES: usize = 32;
/// Offset of the seq word in a slot.
pub const SLOT_SEQ: usize = 0;
/// Offset of the slot CRC.
pub const SLOT_CRC: usize = 8;
/// Offset of the first checksummed byte.
pub const SLOT_CRC_START: usize = 16;
/// Offset of the slot magic.
pub const SLOT_MAGIC_OFFSET: usize = 12;
/// Offset of the checksummed copy of the seq.
pub const SLOT_SEQ_COPY: usize = 16;
/// Offset of the epoch.
pub const SLOT_EPOCH: usize = 24;
/// Offset of the flags.
pub const SLOT_FLAGS: usize = 28;
/// Offset of the evidence length.
pub const SLOT_EVIDENCE_BYTES: usize = 30;
/// Offset of the timestamp (version 3, rings with a clock).
pub const SLOT_TIMESTAMP: usize = 32;
/// Slot header bytes of a version 3 ring with a clock: [`SLOT_HEADER_BYTES`] plus the timestamp.
pub const SLOT_HEADER_BYTES_TIMED: usize = 40;
/// `"RLS1"` little-endian.
pub const SLOT_MAGIC: u32 = u32::from_le_bytes(*b"RLS1");
/// The seq word while a slot is being (re)written. Never a valid seq.
pub const SEQ_BUSY: u64 = u64::MAX;
/// Largest seq (and state generation) accepted from a file: far beyond any real ring, and low
/// enough that `seq + 1` never reaches `SEQ_BUSY` or overflows.
pub const SEQ_MAX: u64 = 1 << 62;
/// Flag: evidence is present.
pub const SLOT_FLAG_EVIDENCE: u16 = 1 << 0;
/// Flag: first record written by its epoch (the lineage fence, see [`super::window`]).
pub const SLOT_FLAG_EPOCH_FIRST: u16 = 1 << 1;
/// All defined flags.
pub const SLOT_FLAGS_KNOWN: u16 = SLOT_FLAG_EVIDENCE | SLOT_FLAG_EPOCH_FIRST;

/// Evidence byte map, right after the record:
///
/// ```text
/// 0   u16  kind            1 backend, 2 runtime, 3 timeout, 4 other ([`FailureKind::tag`])
/// 2   u16  other_code      the code of `FailureKind::Other`, else 0
/// 4   u32  message_bytes
/// 8   i64  code
/// 16  ..   message         UTF-8, message_bytes long
/// ```
pub const EVIDENCE_HEADER_BYTES: usize = 16;

/// Version 3 evidence entry byte map. The evidence region holds one entry per slot index
/// (entry `i` belongs to slot `i`), written only by appends that carry evidence:
///
/// ```text
/// 0   u64  seq             seq of the record the evidence belongs to
/// 8   u32  epoch           epoch that wrote it
/// 12  u32  crc             CRC-32C of bytes 0..12 then 16 .. 16 + evidence_bytes
/// 16  ..   evidence        the evidence (byte map above); its length is the slot's evidence_bytes
/// ```
/// A slot flagged with evidence is a record only when the entry at its index holds the slot's
/// `(seq, epoch)` and checksums over the slot's `evidence_bytes`: an entry of an older lap, of an
/// earlier epoch that wrote the same seq, or torn by a crash, is never attached to a record
/// (the record then counts as torn, like a slot whose own checksum fails).
pub const EVIDENCE_ENTRY_HEADER_BYTES: usize = 16;
/// Offset of the seq in an evidence entry.
pub const EVIDENCE_ENTRY_SEQ: usize = 0;
/// Offset of the epoch in an evidence entry.
pub const EVIDENCE_ENTRY_EPOCH: usize = 8;
/// Offset of the CRC in an evidence entry.
pub const EVIDENCE_ENTRY_CRC: usize = 12;

/// Which clock stamps a ring's records (chosen at creation, stored in the header).
///
/// ```
/// use replaylog::Clock;
/// assert_eq!(Clock::from_tag(Clock::Monotonic.tag()), Some(Clock::Monotonic));
/// assert_eq!(Clock::Caller.to_string(), "caller");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Clock {
    /// No timestamps: slots have no timestamp word (the smallest stride). Tag 0.
    #[default]
    None,
    /// `append` stamps `CLOCK_MONOTONIC` nanoseconds, read through the vDSO (no system call).
    /// Stamps never decrease within a ring: a reading below the previous stamp (the clock
    /// restarts at boot) is stored as the previous stamp. Tag 1.
    Monotonic,
    /// The caller supplies each stamp (`append_at`); a stamp below the previous one is refused
    /// and nothing is written. Tag 2.
    Caller,
}

impl Clock {
    /// The stored tag: 0 none, 1 monotonic, 2 caller.
    pub const fn tag(self) -> u32 {
        match self {
            Clock::None => 0,
            Clock::Monotonic => 1,
            Clock::Caller => 2,
        }
    }

    /// The clock stored as `tag`, `None` for an unknown tag.
    pub const fn from_tag(tag: u32) -> Option<Clock> {
        match tag {
            0 => Some(Clock::None),
            1 => Some(Clock::Monotonic),
            2 => Some(Clock::Caller),
            _ => None,
        }
    }

    /// Whether records carry a timestamp.
    pub const fn stamps(self) -> bool {
        !matches!(self, Clock::None)
    }
}

impl std::fmt::Display for Clock {
    /// `none`, `monotonic` or `caller`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Clock::None => "none",
            Clock::Monotonic => "monotonic",
            Clock::Caller => "caller",
        })
    }
}

/// What kind of failure a record's evidence records.
///
/// This enum is the one definition of the evidence `kind` table: [`FailureKind::tag`] gives the
/// `(kind, other_code)` words stored in a slot's (and an archive entry's) evidence header, and
/// [`FailureKind::from_tag`] and [`evidence_well_formed`] accept exactly what it can produce.
///
/// ```
/// use replaylog::FailureKind;
/// assert_eq!(FailureKind::Timeout.to_string(), "timeout");
/// assert_eq!(FailureKind::Other(7).to_string(), "other(7)");
/// assert_eq!(FailureKind::from_tag(4, 7), Some(FailureKind::Other(7)));
/// assert_eq!(FailureKind::from_tag(1, 7), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The backend (device, exchange, simulator) failed. Tag 1.
    Backend,
    /// The host runtime failed. Tag 2.
    Runtime,
    /// A deadline was missed. Tag 3.
    Timeout,
    /// Any other failure, with an application-defined code. Tag 4, the code in `other_code`.
    Other(u16),
}

impl FailureKind {
    /// The stored `(kind, other_code)` words: 1 backend, 2 runtime, 3 timeout, 4 other (with
    /// its code; the code is 0 for the other kinds).
    pub const fn tag(self) -> (u16, u16) {
        match self {
            FailureKind::Backend => (1, 0),
            FailureKind::Runtime => (2, 0),
            FailureKind::Timeout => (3, 0),
            FailureKind::Other(c) => (4, c),
        }
    }

    /// The kind stored as `(kind, other_code)`; `None` for words [`FailureKind::tag`] never
    /// produces (an unknown kind, or a non-zero `other_code` on a kind other than `Other`).
    pub fn from_tag(kind: u16, other_code: u16) -> Option<FailureKind> {
        let candidate = match kind {
            1 => FailureKind::Backend,
            2 => FailureKind::Runtime,
            3 => FailureKind::Timeout,
            _ => FailureKind::Other(other_code),
        };
        (candidate.tag() == (kind, other_code)).then_some(candidate)
    }

    /// The kind's name without the code: `backend`, `runtime`, `timeout` or `other`.
    pub const fn category(self) -> &'static str {
        match self {
            FailureKind::Backend => "backend",
            FailureKind::Runtime => "runtime",
            FailureKind::Timeout => "timeout",
            FailureKind::Other(_) => "other",
        }
    }

    /// The application code of [`FailureKind::Other`], 0 for the other kinds.
    pub const fn other_code(self) -> u16 {
        self.tag().1
    }

    /// Name used in text output: the [`Display`](std::fmt::Display) form (`timeout`,
    /// `other(7)`).
    pub fn name(self) -> String {
        self.to_string()
    }
}

impl std::fmt::Display for FailureKind {
    /// `backend`, `runtime`, `timeout`, or `other(CODE)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureKind::Other(c) => write!(f, "other({c})"),
            k => f.write_str(k.category()),
        }
    }
}

/// The fixed part of a slot's evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct EvidenceHeader {
    /// Failure kind tag.
    pub kind: U16,
    /// Code of `FailureKind::Other`.
    pub other_code: U16,
    /// Message length in bytes.
    pub message_bytes: U32,
    /// Caller's numeric code.
    pub code: I64,
}
const _: () = assert!(size_of::<EvidenceHeader>() == EVIDENCE_HEADER_BYTES);

/// Sizes and offsets that follow from a header. All arithmetic is checked by [`Geometry::new`]
/// (and [`Geometry::version_2`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Format version: [`RING_VERSION`] or [`RING_VERSION_2`].
    pub version: u32,
    /// The clock stamping records (always [`Clock::None`] in version 2).
    pub clock: Clock,
    /// Bytes per record.
    pub record_bytes: u32,
    /// Evidence bytes reserved per slot.
    pub evidence_bytes_max: u32,
    /// Slot header bytes before the record.
    pub slot_header_bytes: u32,
    /// Slot stride.
    pub slot_bytes: u32,
    /// Slots.
    pub capacity_slots: u64,
    /// Offset of slot 0.
    pub slots_offset: u64,
    /// Offset of evidence entry 0 (version 3), 0 in version 2 (evidence inline).
    pub evidence_offset: u64,
    /// Evidence entry stride (version 3), 0 in version 2.
    pub evidence_entry_bytes: u32,
    /// Whole file.
    pub file_bytes: u64,
}

impl Geometry {
    /// The geometry of a new version 3 file; `None` on overflow.
    pub fn new(
        record_bytes: u32,
        evidence_bytes_max: u32,
        capacity_slots: u64,
        layout_bytes: u32,
        clock: Clock,
    ) -> Option<Geometry> {
        let header = if clock.stamps() { SLOT_HEADER_BYTES_TIMED } else { SLOT_HEADER_BYTES };
        let slot = round_up(header as u64 + record_bytes as u64, 8);
        let slot_bytes = u32::try_from(slot).ok()?;
        let entry = round_up(EVIDENCE_ENTRY_HEADER_BYTES as u64 + evidence_bytes_max as u64, 8);
        let evidence_entry_bytes = u32::try_from(entry).ok()?;
        let slots_offset = round_up(LAYOUT_OFFSET + layout_bytes as u64, PAGE_BYTES);
        let slots_end = capacity_slots.checked_mul(slot)?.checked_add(slots_offset)?;
        let evidence_offset = slots_end.checked_add(PAGE_BYTES - 1)? / PAGE_BYTES * PAGE_BYTES;
        let file_bytes = capacity_slots.checked_mul(entry)?.checked_add(evidence_offset)?;
        Some(Geometry {
            version: RING_VERSION,
            clock,
            record_bytes,
            evidence_bytes_max,
            slot_header_bytes: header as u32,
            slot_bytes,
            capacity_slots,
            slots_offset,
            evidence_offset,
            evidence_entry_bytes,
            file_bytes,
        })
    }

    /// The geometry of a version 2 file (evidence inline, no clock); `None` on overflow.
    pub fn version_2(
        record_bytes: u32,
        evidence_bytes_max: u32,
        capacity_slots: u64,
        layout_bytes: u32,
    ) -> Option<Geometry> {
        let slot = round_up(SLOT_HEADER_BYTES as u64 + record_bytes as u64 + evidence_bytes_max as u64, 8);
        let slot_bytes = u32::try_from(slot).ok()?;
        let slots_offset = round_up(LAYOUT_OFFSET + layout_bytes as u64, PAGE_BYTES);
        let file_bytes = capacity_slots.checked_mul(slot)?.checked_add(slots_offset)?;
        Some(Geometry {
            version: RING_VERSION_2,
            clock: Clock::None,
            record_bytes,
            evidence_bytes_max,
            slot_header_bytes: SLOT_HEADER_BYTES as u32,
            slot_bytes,
            capacity_slots,
            slots_offset,
            evidence_offset: 0,
            evidence_entry_bytes: 0,
            file_bytes,
        })
    }

    /// Whether evidence lives in the evidence region (version 3) rather than inline in the slot.
    pub fn evidence_out_of_line(&self) -> bool {
        self.evidence_entry_bytes != 0
    }

    /// Byte offset of slot `index`.
    pub fn slot_offset(&self, index: u64) -> u64 {
        self.slots_offset + index * self.slot_bytes as u64
    }

    /// Byte offset of the evidence entry of slot `index` (version 3).
    pub fn evidence_entry_offset(&self, index: u64) -> u64 {
        self.evidence_offset + index * self.evidence_entry_bytes as u64
    }

    /// Offset of the record within a slot.
    pub fn record_offset(&self) -> usize {
        self.slot_header_bytes as usize
    }

    /// Slot index holding `seq`.
    pub fn index_of(&self, seq: u64) -> u64 {
        seq % self.capacity_slots
    }

    /// The slot checksum of this version over `checked` (the bytes from [`SLOT_CRC_START`] to
    /// [`Geometry::checked_end`]): CRC-32C in version 3 (in three parallel chains from 48 bytes,
    /// as the writer computes it), CRC-32 (IEEE) in version 2.
    pub fn slot_crc(&self, checked: &[u8]) -> u32 {
        if self.version == RING_VERSION_2 { crc32(&[checked]) } else { crate::sys::crc32c_bytes(checked) }
    }

    /// The bytes of a slot the checksum covers, from [`SLOT_CRC_START`]: up to the end of the
    /// record (version 3), or of the evidence present (version 2).
    pub fn checked_end(&self, evidence_bytes: u16) -> usize {
        let end = self.record_offset() + self.record_bytes as usize;
        if self.evidence_out_of_line() { end } else { end + evidence_bytes as usize }
    }
}

/// What a valid slot says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotMeta {
    /// Sequence number (`seq % capacity == index`).
    pub seq: u64,
    /// Writer epoch.
    pub epoch: u32,
    /// First record of its epoch.
    pub epoch_first: bool,
    /// Evidence bytes present.
    pub evidence_bytes: u16,
    /// The record's timestamp (rings with a clock).
    pub timestamp_ns: Option<u64>,
}

/// Why a slot is not returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotFault {
    /// All zero: never written.
    NeverWritten,
    /// The seq word says a write was in progress (a writer stopped mid-append).
    Busy,
    /// Magic, flags or lengths are not ours.
    BadHeader,
    /// The checksum does not match: torn, garbled or rotted.
    Checksum,
    /// The seq does not belong at this index (a misdirected or copied slot).
    Misplaced,
    /// Written by an epoch newer than the file's state admits (cannot be a real record).
    FutureEpoch,
    /// The slot is flagged with evidence, but the evidence entry at its index is not this
    /// record's (torn by a crash, or left by another lap or epoch): the record is incomplete.
    Evidence,
}

impl SlotFault {
    /// A short description for reports.
    pub fn describe(self) -> &'static str {
        match self {
            SlotFault::NeverWritten => "never written",
            SlotFault::Busy => "write in progress (torn append)",
            SlotFault::BadHeader => "bad slot header",
            SlotFault::Checksum => "checksum mismatch (torn or corrupted)",
            SlotFault::Misplaced => "sequence number does not belong at this slot",
            SlotFault::FutureEpoch => "epoch newer than the file state",
            SlotFault::Evidence => "failure evidence torn or missing",
        }
    }
}

/// Validates one slot's bytes (`slot.len() == slot_bytes`) found at `index`. In version 3, a slot
/// flagged with evidence is a record only once [`check_evidence_entry`] also accepts its entry
/// ([`check_record`] does both).
pub fn check_slot(g: &Geometry, index: u64, slot: &[u8]) -> Result<SlotMeta, SlotFault> {
    debug_assert_eq!(slot.len(), g.slot_bytes as usize);
    let u16_at = |o: usize| u16::from_le_bytes([slot[o], slot[o + 1]]);
    let u32_at = |o: usize| u32::from_le_bytes(slot[o..o + 4].try_into().unwrap());
    let u64_at = |o: usize| u64::from_le_bytes(slot[o..o + 8].try_into().unwrap());
    let seq = u64_at(SLOT_SEQ);
    let crc = u32_at(SLOT_CRC);
    let magic = u32_at(SLOT_MAGIC_OFFSET);
    let flags = u16_at(SLOT_FLAGS);
    let evidence_bytes = u16_at(SLOT_EVIDENCE_BYTES);
    if seq == 0 && magic == 0 && crc == 0 {
        return Err(SlotFault::NeverWritten);
    }
    if seq == SEQ_BUSY {
        return Err(SlotFault::Busy);
    }
    if seq > SEQ_MAX {
        return Err(SlotFault::BadHeader);
    }
    let has_evidence = flags & SLOT_FLAG_EVIDENCE != 0;
    if magic != SLOT_MAGIC
        || flags & !SLOT_FLAGS_KNOWN != 0
        || has_evidence != (evidence_bytes != 0)
        || evidence_bytes as u32 > g.evidence_bytes_max
        || (has_evidence && (evidence_bytes as usize) < EVIDENCE_HEADER_BYTES)
    {
        return Err(SlotFault::BadHeader);
    }
    let body_end = g.checked_end(evidence_bytes);
    if g.slot_crc(&slot[SLOT_CRC_START..body_end]) != crc || u64_at(SLOT_SEQ_COPY) != seq {
        return Err(SlotFault::Checksum);
    }
    if has_evidence && !g.evidence_out_of_line() {
        let record_end = g.record_offset() + g.record_bytes as usize;
        if !evidence_well_formed(&slot[record_end..body_end]) {
            return Err(SlotFault::BadHeader);
        }
    }
    if g.index_of(seq) != index {
        return Err(SlotFault::Misplaced);
    }
    let epoch = u32_at(SLOT_EPOCH);
    let timestamp_ns = g.clock.stamps().then(|| u64_at(SLOT_TIMESTAMP));
    Ok(SlotMeta { seq, epoch, epoch_first: flags & SLOT_FLAG_EPOCH_FIRST != 0, evidence_bytes, timestamp_ns })
}

/// Checks the version 3 evidence entry of a slot `check_slot` accepted with evidence
/// (`entry.len() == evidence_entry_bytes`): it must hold the slot's `(seq, epoch)`, checksum over
/// the slot's `evidence_bytes`, and be well-formed evidence. See [`EVIDENCE_ENTRY_HEADER_BYTES`].
pub fn check_evidence_entry(g: &Geometry, meta: &SlotMeta, entry: &[u8]) -> Result<(), SlotFault> {
    debug_assert!(g.evidence_out_of_line() && meta.evidence_bytes > 0);
    let n = meta.evidence_bytes as usize;
    if entry.len() < EVIDENCE_ENTRY_HEADER_BYTES + n {
        return Err(SlotFault::Evidence);
    }
    let seq = u64::from_le_bytes(entry[EVIDENCE_ENTRY_SEQ..EVIDENCE_ENTRY_SEQ + 8].try_into().unwrap());
    let epoch = u32::from_le_bytes(entry[EVIDENCE_ENTRY_EPOCH..EVIDENCE_ENTRY_EPOCH + 4].try_into().unwrap());
    let crc = u32::from_le_bytes(entry[EVIDENCE_ENTRY_CRC..EVIDENCE_ENTRY_CRC + 4].try_into().unwrap());
    let evidence = &entry[EVIDENCE_ENTRY_HEADER_BYTES..EVIDENCE_ENTRY_HEADER_BYTES + n];
    if seq != meta.seq || epoch != meta.epoch || crc != crc32c(&[], &[&entry[..EVIDENCE_ENTRY_CRC], evidence]) {
        return Err(SlotFault::Evidence);
    }
    if !evidence_well_formed(evidence) {
        return Err(SlotFault::BadHeader);
    }
    Ok(())
}

/// [`check_slot`], then (version 3, a slot with evidence) [`check_evidence_entry`] on `entry`,
/// the bytes of the evidence entry at the same index (ignored otherwise, may be empty).
pub fn check_record(g: &Geometry, index: u64, slot: &[u8], entry: &[u8]) -> Result<SlotMeta, SlotFault> {
    let meta = check_slot(g, index, slot)?;
    if meta.evidence_bytes > 0 && g.evidence_out_of_line() {
        check_evidence_entry(g, &meta, entry)?;
    }
    Ok(meta)
}

/// The evidence bytes of a record [`check_record`] accepted: inline in `slot` (version 2) or in
/// `entry` (version 3); empty without evidence.
pub fn record_evidence<'a>(g: &Geometry, meta: &SlotMeta, slot: &'a [u8], entry: &'a [u8]) -> &'a [u8] {
    let n = meta.evidence_bytes as usize;
    if n == 0 {
        &[]
    } else if g.evidence_out_of_line() {
        &entry[EVIDENCE_ENTRY_HEADER_BYTES..EVIDENCE_ENTRY_HEADER_BYTES + n]
    } else {
        let at = g.record_offset() + g.record_bytes as usize;
        &slot[at..at + n]
    }
}

/// Encodes a version 3 evidence entry's header for `evidence` (the bytes that follow it).
pub fn evidence_entry_header(seq: u64, epoch: u32, evidence: &[&[u8]]) -> [u8; EVIDENCE_ENTRY_HEADER_BYTES] {
    let mut h = [0u8; EVIDENCE_ENTRY_HEADER_BYTES];
    h[EVIDENCE_ENTRY_SEQ..EVIDENCE_ENTRY_SEQ + 8].copy_from_slice(&seq.to_le_bytes());
    h[EVIDENCE_ENTRY_EPOCH..EVIDENCE_ENTRY_EPOCH + 4].copy_from_slice(&epoch.to_le_bytes());
    let mut parts = [&h[..EVIDENCE_ENTRY_CRC], &[], &[]];
    for (slot, part) in parts[1..].iter_mut().zip(evidence) {
        *slot = part;
    }
    assert!(evidence.len() <= 2, "evidence is passed as at most two parts (header, message)");
    let crc = crc32c(&[], &parts);
    h[EVIDENCE_ENTRY_CRC..EVIDENCE_ENTRY_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The future-epoch rule, the one definition every reader and the writer's recovery apply after
/// [`check_slot`]: every open for writing makes its new epoch durable in the state before its
/// first append, so a slot claiming an epoch newer than the current state's (`state_epoch`)
/// cannot be a record of this file (garbage that happens to checksum, or a copy from another
/// file). Without a valid state copy (`None`) nothing can be ruled out and every epoch is
/// admitted.
pub fn check_slot_epoch(meta: SlotMeta, state_epoch: Option<u32>) -> Result<SlotMeta, SlotFault> {
    match state_epoch {
        Some(e) if meta.epoch > e => Err(SlotFault::FutureEpoch),
        _ => Ok(meta),
    }
}

/// Whether `bytes` (exactly the evidence present in a slot) is well-formed evidence: a known
/// kind, a message length that matches, and a UTF-8 message.
pub fn evidence_well_formed(bytes: &[u8]) -> bool {
    let Ok((h, msg)) = EvidenceHeader::read_from_prefix(bytes) else { return false };
    let kind_ok = FailureKind::from_tag(h.kind.get(), h.other_code.get()).is_some();
    kind_ok && h.message_bytes.get() as usize == msg.len() && std::str::from_utf8(msg).is_ok()
}

/// The checksummed header bytes 16..32 (seq copy, epoch, flags, evidence length) as two
/// little-endian words: bytes 16..24 and 24..32. The append path stores them with one 16-byte
/// store (`arch::store_u64_pair`).
#[inline]
pub fn slot_header_words(seq: u64, epoch: u32, flags: u16, evidence_bytes: u16) -> (u64, u64) {
    const _: () = assert!(
        SLOT_SEQ_COPY - SLOT_CRC_START == 0
            && SLOT_EPOCH - SLOT_CRC_START == 8
            && SLOT_FLAGS - SLOT_CRC_START == 12
            && SLOT_EVIDENCE_BYTES - SLOT_CRC_START == 14
    );
    (seq, u64::from(epoch) | u64::from(flags) << 32 | u64::from(evidence_bytes) << 48)
}

/// Encodes the checksummed header bytes 16..32 (seq copy, epoch, flags, evidence length).
pub fn slot_header_checked(seq: u64, epoch: u32, flags: u16, evidence_bytes: u16) -> [u8; 16] {
    let (lo, hi) = slot_header_words(seq, epoch, flags, evidence_bytes);
    let mut h = [0u8; 16];
    h[..8].copy_from_slice(&lo.to_le_bytes());
    h[8..].copy_from_slice(&hi.to_le_bytes());
    h
}

/// Encodes header bytes 12..32: the magic, then [`slot_header_checked`].
pub fn slot_header_tail(
    seq: u64,
    epoch: u32,
    flags: u16,
    evidence_bytes: u16,
) -> [u8; SLOT_HEADER_BYTES - SLOT_MAGIC_OFFSET] {
    let mut h = [0u8; SLOT_HEADER_BYTES - SLOT_MAGIC_OFFSET];
    h[..4].copy_from_slice(&SLOT_MAGIC.to_le_bytes());
    h[4..].copy_from_slice(&slot_header_checked(seq, epoch, flags, evidence_bytes));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slot with a valid checksum but malformed evidence (unknown kind, wrong length, bad
    /// UTF-8) is not a record: every reader would otherwise have to guess.
    #[test]
    fn malformed_evidence_with_a_valid_checksum_is_a_bad_slot() {
        let g = Geometry::version_2(8, 64, 4, 0).unwrap();
        let build = |evidence: &[u8]| {
            let mut slot = vec![0u8; g.slot_bytes as usize];
            let tail = slot_header_tail(5, 1, SLOT_FLAG_EVIDENCE, evidence.len() as u16);
            slot[SLOT_SEQ..8].copy_from_slice(&5u64.to_le_bytes());
            slot[SLOT_MAGIC_OFFSET..SLOT_HEADER_BYTES].copy_from_slice(&tail);
            slot[SLOT_HEADER_BYTES..SLOT_HEADER_BYTES + 8].copy_from_slice(b"recordAB");
            let ev = SLOT_HEADER_BYTES + 8;
            slot[ev..ev + evidence.len()].copy_from_slice(evidence);
            let crc = crc32(&[&slot[SLOT_CRC_START..ev + evidence.len()]]);
            slot[SLOT_CRC..SLOT_CRC + 4].copy_from_slice(&crc.to_le_bytes());
            check_slot(&g, 1, &slot)
        };
        let ev = |kind: u16, other: u16, len: u32, msg: &[u8]| {
            let mut v = Vec::new();
            v.extend_from_slice(&kind.to_le_bytes());
            v.extend_from_slice(&other.to_le_bytes());
            v.extend_from_slice(&len.to_le_bytes());
            v.extend_from_slice(&7i64.to_le_bytes());
            v.extend_from_slice(msg);
            v
        };
        assert!(build(&ev(2, 0, 2, b"ok")).is_ok());
        assert!(build(&ev(4, 9, 2, b"ok")).is_ok());
        assert_eq!(build(&ev(9, 0, 2, b"ok")), Err(SlotFault::BadHeader));
        assert_eq!(build(&ev(1, 3, 2, b"ok")), Err(SlotFault::BadHeader));
        assert_eq!(build(&ev(1, 0, 5, b"ok")), Err(SlotFault::BadHeader));
        assert_eq!(build(&ev(1, 0, 2, b"\xff\xfe")), Err(SlotFault::BadHeader));
    }
}
