//! What a ring file's header says, as plain typed values (no wire structs), and the sizes a
//! ring of a given record type gets.

use crate::format::ring::{Clock, Geometry};
use crate::ring::options::RingOptions;
use crate::ring::reader::RawRing;

/// A ring file's shape and identity, from its (checksummed) header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RingInfo {
    /// Format version of the file.
    pub version: u32,
    /// The clock stamping records ([`Clock::None`] in version 2).
    pub clock: Clock,
    /// Bytes per record.
    pub record_bytes: u32,
    /// Bytes reserved per slot for failure evidence.
    pub evidence_bytes_max: u32,
    /// Slot stride in bytes.
    pub slot_bytes: u32,
    /// Slots.
    pub capacity: u64,
    /// The application's schema id.
    pub schema_id: u64,
    /// Byte offset of slot 0.
    pub slots_offset: u64,
    /// Byte offset of the evidence region (version 3), 0 when evidence is inline (version 2).
    pub evidence_offset: u64,
    /// Evidence entry stride (version 3), 0 when evidence is inline (version 2).
    pub evidence_entry_bytes: u32,
    /// Length of the whole file.
    pub file_bytes: u64,
    /// Creation time, milliseconds since the Unix epoch (informational).
    pub created_unix_ms: u64,
}

impl RawRing {
    /// The file's shape and identity.
    pub fn info(&self) -> RingInfo {
        let h = self.header();
        let g = self.geometry();
        RingInfo {
            version: h.version.get(),
            clock: g.clock,
            record_bytes: g.record_bytes,
            evidence_bytes_max: g.evidence_bytes_max,
            slot_bytes: g.slot_bytes,
            capacity: g.capacity_slots,
            schema_id: h.schema_id.get(),
            slots_offset: g.slots_offset,
            evidence_offset: g.evidence_offset,
            evidence_entry_bytes: g.evidence_entry_bytes,
            file_bytes: g.file_bytes,
            created_unix_ms: h.created_unix_ms.get(),
        }
    }
}

impl RingOptions {
    /// The slot stride a new ring of `record_bytes`-byte records gets with these options (the
    /// slot header, with the timestamp when the clock stamps, and the record, rounded up to 8
    /// bytes); `None` when it would not fit the format's 32-bit stride.
    pub fn slot_bytes(&self, record_bytes: u32) -> Option<u32> {
        Geometry::new(record_bytes, self.evidence_bytes_max, 1, 0, self.clock).map(|g| g.slot_bytes)
    }

    /// The size of a new ring file of `capacity` slots of `record_bytes`-byte records with these
    /// options (slots, evidence region, header pages and layout); `None` on overflow.
    pub fn file_bytes(&self, record_bytes: u32, capacity: u64) -> Option<u64> {
        let layout = self.layout.as_ref().map_or(0, |l| l.encode().len() as u32);
        Geometry::new(record_bytes, self.evidence_bytes_max, capacity, layout, self.clock).map(|g| g.file_bytes)
    }
}
