//! The archive format, version 1: ring records stored as the entries of a journal (what
//! `archive::Archiver` and `replaylog export --to journal:DIR` write). See `docs/FORMAT.md`
//! ("Archive") for the byte maps.
//!
//! ```text
//! LSN 1, the header entry:
//!   0  [u8; 8] magic "RPLYARCH" | 8 u32 version (1) | 12 u32 record_bytes | 16 u64 schema_id
//!   24 u64 capacity | 32 u32 layout_bytes | 36 layout block (layout_bytes, may be empty)
//! every later entry, one ring record (seq order within its lane, each (lane, seq) at most once):
//!   0  u64 seq | 8 u32 epoch | 12 u8 flags (bit 0 evidence, bit 1 timestamp, bit 2 lane)
//!   13 [bit 1: u64 timestamp_ns] [bit 2: u8 n, then n bytes of lane name [A-Za-z0-9_-]{1,64}]
//!   then the record (record_bytes)
//!   [bit 0: evidence exactly as in a ring slot: 16-byte header + message]
//! ```
//! A record entry does not store its record size: readers take it from the header. An entry
//! without bits 1 and 2 is byte for byte what the first build of version 1 wrote (record at 13),
//! so archives written before timestamps and lanes existed decode unchanged; the header did not
//! change, so the version did not either.

use std::fmt;

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::layout::{Layout, LayoutError};
use super::ring::{EVIDENCE_HEADER_BYTES, EvidenceHeader, evidence_well_formed};

/// First 8 bytes of an archive's header entry.
pub const ARCHIVE_MAGIC: [u8; 8] = *b"RPLYARCH";
/// Archive format version written by this build; other versions are refused.
pub const ARCHIVE_VERSION: u32 = 1;
/// Offset of the version in the header entry.
pub const ARCHIVE_VERSION_OFFSET: usize = 8;
/// Offset of the record size in the header entry.
pub const ARCHIVE_RECORD_BYTES_OFFSET: usize = 12;
/// Offset of the schema id in the header entry.
pub const ARCHIVE_SCHEMA_ID_OFFSET: usize = 16;
/// Offset of the source ring's capacity in the header entry.
pub const ARCHIVE_CAPACITY_OFFSET: usize = 24;
/// Offset of the layout block's length in the header entry.
pub const ARCHIVE_LAYOUT_BYTES_OFFSET: usize = 32;
/// Bytes of the header entry before the layout block (which starts here).
pub const ARCHIVE_HEADER_FIXED_BYTES: usize = 36;
/// Offset of the seq in a record entry.
pub const ARCHIVE_SEQ_OFFSET: usize = 0;
/// Offset of the epoch in a record entry.
pub const ARCHIVE_EPOCH_OFFSET: usize = 8;
/// Offset of the flags byte in a record entry.
pub const ARCHIVE_FLAGS_OFFSET: usize = 12;
/// Bytes of a record entry before the record (which starts here).
pub const ARCHIVE_RECORD_FIXED_BYTES: usize = 13;
/// Record entry flag: evidence follows the record.
pub const ARCHIVE_FLAG_EVIDENCE: u8 = 1 << 0;
/// Record entry flag: a u64 `timestamp_ns` follows the fixed part.
pub const ARCHIVE_FLAG_TIMESTAMP: u8 = 1 << 1;
/// Record entry flag: a lane name (u8 length, then that many bytes) follows the fixed part and
/// the timestamp, if any.
pub const ARCHIVE_FLAG_LANE: u8 = 1 << 2;
/// All defined record entry flags.
pub const ARCHIVE_FLAGS_KNOWN: u8 = ARCHIVE_FLAG_EVIDENCE | ARCHIVE_FLAG_TIMESTAMP | ARCHIVE_FLAG_LANE;
/// Bytes of the timestamp of a record entry with [`ARCHIVE_FLAG_TIMESTAMP`].
pub const ARCHIVE_TIMESTAMP_BYTES: usize = 8;
/// Longest lane name in bytes (a lane name is 1 to this many of `[A-Za-z0-9_-]`).
pub const ARCHIVE_LANE_NAME_BYTES_MAX: usize = 64;

/// The fixed part of the header entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct ArchiveHeaderFixed {
    /// [`ARCHIVE_MAGIC`].
    pub magic: [u8; 8],
    /// [`ARCHIVE_VERSION`].
    pub version: U32,
    /// The ring's record size.
    pub record_bytes: U32,
    /// The ring's schema id.
    pub schema_id: U64,
    /// The ring's capacity in slots (informational).
    pub capacity: U64,
    /// Length of the layout block that follows (0: the ring stored no layout).
    pub layout_bytes: U32,
}
const _: () = assert!(size_of::<ArchiveHeaderFixed>() == ARCHIVE_HEADER_FIXED_BYTES);
const _: () = assert!(std::mem::offset_of!(ArchiveHeaderFixed, version) == ARCHIVE_VERSION_OFFSET);
const _: () = assert!(std::mem::offset_of!(ArchiveHeaderFixed, record_bytes) == ARCHIVE_RECORD_BYTES_OFFSET);
const _: () = assert!(std::mem::offset_of!(ArchiveHeaderFixed, schema_id) == ARCHIVE_SCHEMA_ID_OFFSET);
const _: () = assert!(std::mem::offset_of!(ArchiveHeaderFixed, capacity) == ARCHIVE_CAPACITY_OFFSET);
const _: () = assert!(std::mem::offset_of!(ArchiveHeaderFixed, layout_bytes) == ARCHIVE_LAYOUT_BYTES_OFFSET);

/// The fixed part of a record entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct ArchiveRecordFixed {
    /// The record's ring sequence number.
    pub seq: U64,
    /// The writer epoch that wrote it.
    pub epoch: U32,
    /// `ARCHIVE_FLAG_*`.
    pub flags: u8,
}
const _: () = assert!(size_of::<ArchiveRecordFixed>() == ARCHIVE_RECORD_FIXED_BYTES);
const _: () = assert!(std::mem::offset_of!(ArchiveRecordFixed, seq) == ARCHIVE_SEQ_OFFSET);
const _: () = assert!(std::mem::offset_of!(ArchiveRecordFixed, epoch) == ARCHIVE_EPOCH_OFFSET);
const _: () = assert!(std::mem::offset_of!(ArchiveRecordFixed, flags) == ARCHIVE_FLAGS_OFFSET);

/// Why an archive entry does not decode. `Display` gives the precise reason.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArchiveDecodeError {
    /// The entry does not start with [`ARCHIVE_MAGIC`]: not an archive header (a plain journal's
    /// first entry, or a foreign one).
    NotAnArchive,
    /// The header entry is shorter than its fixed part.
    HeaderTooShort {
        /// The entry's length.
        bytes: usize,
    },
    /// Another archive format version.
    UnsupportedVersion {
        /// The version found.
        version: u32,
    },
    /// The header entry's length is not its fixed part plus `layout_bytes`.
    HeaderLength {
        /// The entry's length.
        bytes: usize,
        /// The layout length the header states.
        layout_bytes: u32,
    },
    /// The layout block does not decode, or does not fit the record size.
    Layout(LayoutError),
    /// A record entry shorter than its fixed part plus the record.
    RecordTooShort {
        /// The entry's length.
        bytes: usize,
        /// The record size it was decoded with.
        record_bytes: usize,
    },
    /// A record entry's flags byte has bits this version does not define.
    UnknownFlags {
        /// The flags byte.
        flags: u8,
    },
    /// Bytes after the record of an entry without evidence.
    TrailingBytes {
        /// How many.
        bytes: usize,
    },
    /// The evidence is shorter than its fixed header.
    EvidenceTooShort {
        /// The evidence's length.
        bytes: usize,
    },
    /// The evidence's message length disagrees with the bytes present.
    EvidenceLength {
        /// The length the evidence header states.
        message_bytes: u32,
        /// The message bytes present.
        present: usize,
    },
    /// The evidence message is not UTF-8.
    EvidenceNotUtf8,
    /// The evidence kind (with its `other_code`) is not a known failure kind.
    EvidenceKind {
        /// The kind tag.
        kind: u16,
        /// The `other_code` word.
        other_code: u16,
    },
    /// A snapshot frame where an archive holds only entries.
    SnapshotFrame,
    /// A record entry with [`ARCHIVE_FLAG_TIMESTAMP`] ends inside its timestamp.
    TimestampTruncated {
        /// The entry's length.
        bytes: usize,
    },
    /// A record entry with [`ARCHIVE_FLAG_LANE`] ends inside its lane name (or before its length
    /// byte).
    LaneTruncated {
        /// The entry's length.
        bytes: usize,
    },
    /// A lane name's length is 0 or above [`ARCHIVE_LANE_NAME_BYTES_MAX`].
    LaneLength {
        /// The length stated (or, for a name being encoded, its length).
        name_bytes: usize,
    },
    /// A lane name holds a byte outside `[A-Za-z0-9_-]`.
    LaneName {
        /// The name's bytes.
        name: Vec<u8>,
    },
    /// A record entry with a timestamp or lane name ends before the end of its record.
    RecordTruncated {
        /// The entry's length.
        bytes: usize,
        /// Where the record starts (after the fixed part, timestamp and lane name).
        record_offset: usize,
        /// The record size it was decoded with.
        record_bytes: usize,
    },
}

impl fmt::Display for ArchiveDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArchiveDecodeError::NotAnArchive => {
                write!(f, "entry does not start with the archive magic \"RPLYARCH\": not an archive")
            }
            ArchiveDecodeError::HeaderTooShort { bytes } => write!(
                f,
                "header entry of {bytes} bytes is shorter than the {ARCHIVE_HEADER_FIXED_BYTES}-byte fixed header"
            ),
            ArchiveDecodeError::UnsupportedVersion { version } => {
                write!(f, "archive version {version}, this build reads version {ARCHIVE_VERSION}")
            }
            ArchiveDecodeError::HeaderLength { bytes, layout_bytes } => write!(
                f,
                "header entry of {bytes} bytes is not its {ARCHIVE_HEADER_FIXED_BYTES}-byte fixed header plus \
                 layout_bytes {layout_bytes}"
            ),
            ArchiveDecodeError::Layout(e) => write!(f, "layout block: {e}"),
            ArchiveDecodeError::RecordTooShort { bytes, record_bytes } => write!(
                f,
                "record entry of {bytes} bytes is too short for a {record_bytes}-byte record (at least {} bytes)",
                ARCHIVE_RECORD_FIXED_BYTES.saturating_add(*record_bytes)
            ),
            ArchiveDecodeError::UnknownFlags { flags } => {
                write!(f, "record entry flags {flags:#04x} has unknown bits (known: {ARCHIVE_FLAGS_KNOWN:#04x})")
            }
            ArchiveDecodeError::TrailingBytes { bytes } => {
                write!(f, "{bytes} bytes after a record without evidence")
            }
            ArchiveDecodeError::EvidenceTooShort { bytes } => {
                write!(f, "evidence of {bytes} bytes is shorter than its {EVIDENCE_HEADER_BYTES}-byte header")
            }
            ArchiveDecodeError::EvidenceLength { message_bytes, present } => {
                write!(f, "evidence states a {message_bytes}-byte message but {present} message bytes follow")
            }
            ArchiveDecodeError::EvidenceNotUtf8 => write!(f, "evidence message is not UTF-8"),
            ArchiveDecodeError::EvidenceKind { kind, other_code } => {
                write!(f, "evidence kind {kind} (other_code {other_code}) is not a known kind")
            }
            ArchiveDecodeError::SnapshotFrame => write!(f, "a snapshot frame, where an archive holds only entries"),
            ArchiveDecodeError::TimestampTruncated { bytes } => write!(
                f,
                "record entry of {bytes} bytes ends inside its {ARCHIVE_TIMESTAMP_BYTES}-byte timestamp \
                 (flag {ARCHIVE_FLAG_TIMESTAMP:#04x})"
            ),
            ArchiveDecodeError::LaneTruncated { bytes } => {
                write!(f, "record entry of {bytes} bytes ends inside its lane name (flag {ARCHIVE_FLAG_LANE:#04x})")
            }
            ArchiveDecodeError::LaneLength { name_bytes } => {
                write!(f, "lane name of {name_bytes} bytes, a lane name has 1 to {ARCHIVE_LANE_NAME_BYTES_MAX} bytes")
            }
            ArchiveDecodeError::LaneName { name } => {
                write!(f, "lane name \"{}\" has a byte outside [A-Za-z0-9_-]", name.escape_ascii())
            }
            ArchiveDecodeError::RecordTruncated { bytes, record_offset, record_bytes } => write!(
                f,
                "record entry of {bytes} bytes is too short for its {record_bytes}-byte record at offset \
                 {record_offset} (at least {} bytes)",
                record_offset.saturating_add(*record_bytes)
            ),
        }
    }
}

impl std::error::Error for ArchiveDecodeError {}

/// What an archive says about the ring it came from: its header entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveHeader {
    /// Record size in bytes.
    pub record_bytes: u32,
    /// The ring's schema id.
    pub schema_id: u64,
    /// The ring's capacity (informational).
    pub capacity: u64,
    /// The ring's record layout, if it had one.
    pub layout: Option<Layout>,
}

impl ArchiveHeader {
    /// Encodes the header entry.
    pub fn encode(&self) -> Vec<u8> {
        let layout = self.layout.as_ref().map(Layout::encode).unwrap_or_default();
        let fixed = ArchiveHeaderFixed {
            magic: ARCHIVE_MAGIC,
            version: U32::new(ARCHIVE_VERSION),
            record_bytes: U32::new(self.record_bytes),
            schema_id: U64::new(self.schema_id),
            capacity: U64::new(self.capacity),
            layout_bytes: U32::new(layout.len() as u32),
        };
        let mut out = Vec::with_capacity(ARCHIVE_HEADER_FIXED_BYTES + layout.len());
        out.extend_from_slice(fixed.as_bytes());
        out.extend_from_slice(&layout);
        out
    }

    /// Decodes a header entry; `None` if it is not a valid one ([`decode_header`] says why).
    pub fn decode(bytes: &[u8]) -> Option<ArchiveHeader> {
        decode_header(bytes).ok()
    }
}

/// Decodes a header entry: the magic, the version, the length (fixed part plus `layout_bytes`)
/// and the layout block, which must decode and fit `record_bytes`.
/// [`ArchiveDecodeError::NotAnArchive`] when the magic is missing.
pub fn decode_header(bytes: &[u8]) -> Result<ArchiveHeader, ArchiveDecodeError> {
    if !bytes.starts_with(&ARCHIVE_MAGIC) {
        return Err(ArchiveDecodeError::NotAnArchive);
    }
    let Ok((h, layout)) = ArchiveHeaderFixed::read_from_prefix(bytes) else {
        return Err(ArchiveDecodeError::HeaderTooShort { bytes: bytes.len() });
    };
    if h.version.get() != ARCHIVE_VERSION {
        return Err(ArchiveDecodeError::UnsupportedVersion { version: h.version.get() });
    }
    let layout_bytes = h.layout_bytes.get();
    if layout.len() as u64 != u64::from(layout_bytes) {
        return Err(ArchiveDecodeError::HeaderLength { bytes: bytes.len(), layout_bytes });
    }
    let record_bytes = h.record_bytes.get();
    let layout = match layout {
        [] => None,
        block => {
            let l = Layout::decode(block).map_err(ArchiveDecodeError::Layout)?;
            l.check(record_bytes).map_err(ArchiveDecodeError::Layout)?;
            Some(l)
        }
    };
    Ok(ArchiveHeader { record_bytes, schema_id: h.schema_id.get(), capacity: h.capacity.get(), layout })
}

/// A record entry's parts, borrowed from the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordEntry<'a> {
    /// The record's ring sequence number.
    pub seq: u64,
    /// The writer epoch that wrote it.
    pub epoch: u32,
    /// The record's timestamp ([`ARCHIVE_FLAG_TIMESTAMP`]).
    pub timestamp_ns: Option<u64>,
    /// The lane the record came from ([`ARCHIVE_FLAG_LANE`]), checked a valid lane name.
    pub lane: Option<&'a str>,
    /// The record's bytes.
    pub record: &'a [u8],
    /// The evidence bytes (header and message, as in a ring slot), checked well formed.
    pub evidence: Option<&'a [u8]>,
}

/// Checks a lane name: 1 to [`ARCHIVE_LANE_NAME_BYTES_MAX`] bytes of `[A-Za-z0-9_-]` (so it is
/// also a valid file name stem: no `/`, no `.`, never `..`).
///
/// ```
/// use replaylog::lowlevel::format::archive::{ArchiveDecodeError, check_lane_name};
/// assert_eq!(check_lane_name(b"io-loop_2"), Ok("io-loop_2"));
/// assert_eq!(check_lane_name(b""), Err(ArchiveDecodeError::LaneLength { name_bytes: 0 }));
/// assert_eq!(check_lane_name(b"a/b"), Err(ArchiveDecodeError::LaneName { name: b"a/b".to_vec() }));
/// ```
pub fn check_lane_name(name: &[u8]) -> Result<&str, ArchiveDecodeError> {
    if name.is_empty() || name.len() > ARCHIVE_LANE_NAME_BYTES_MAX {
        return Err(ArchiveDecodeError::LaneLength { name_bytes: name.len() });
    }
    if !name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-') {
        return Err(ArchiveDecodeError::LaneName { name: name.to_vec() });
    }
    // Only ASCII bytes are left.
    std::str::from_utf8(name).map_err(|_| ArchiveDecodeError::LaneName { name: name.to_vec() })
}

/// Appends a record entry without timestamp or lane to `out` (what the first build of version 1
/// wrote). `evidence` is the evidence as a ring slot stores it: its 16-byte header and its
/// message.
pub fn encode_record_entry(out: &mut Vec<u8>, seq: u64, epoch: u32, record: &[u8], evidence: Option<(&[u8], &[u8])>) {
    let plain = encode_record_entry_with(out, seq, epoch, None, None, record, evidence);
    debug_assert!(plain.is_ok(), "an entry without a lane always encodes");
}

/// Appends a record entry to `out`, with its timestamp and lane when given (the flags say which
/// are present; without both, exactly [`encode_record_entry`]). A lane name that
/// [`check_lane_name`] refuses is refused here with the same error, and nothing is appended.
pub fn encode_record_entry_with(
    out: &mut Vec<u8>,
    seq: u64,
    epoch: u32,
    timestamp_ns: Option<u64>,
    lane: Option<&str>,
    record: &[u8],
    evidence: Option<(&[u8], &[u8])>,
) -> Result<(), ArchiveDecodeError> {
    if let Some(lane) = lane {
        check_lane_name(lane.as_bytes())?;
    }
    let flag = |present: bool, bit: u8| if present { bit } else { 0 };
    let fixed = ArchiveRecordFixed {
        seq: U64::new(seq),
        epoch: U32::new(epoch),
        flags: flag(evidence.is_some(), ARCHIVE_FLAG_EVIDENCE)
            | flag(timestamp_ns.is_some(), ARCHIVE_FLAG_TIMESTAMP)
            | flag(lane.is_some(), ARCHIVE_FLAG_LANE),
    };
    out.extend_from_slice(fixed.as_bytes());
    if let Some(ts) = timestamp_ns {
        out.extend_from_slice(&ts.to_le_bytes());
    }
    if let Some(lane) = lane {
        // check_lane_name bounds it to 64 bytes.
        out.push(lane.len() as u8);
        out.extend_from_slice(lane.as_bytes());
    }
    out.extend_from_slice(record);
    if let Some((head, message)) = evidence {
        out.extend_from_slice(head);
        out.extend_from_slice(message);
    }
    Ok(())
}

/// Decodes a record entry holding a record of `record_bytes`: the fixed part, the flags, the
/// timestamp and lane name their flags announce (a lane name checked by [`check_lane_name`]),
/// the record, nothing after a record without evidence, and well-formed evidence (length, UTF-8,
/// a known kind: the ring slot's rule, [`evidence_well_formed`]). Checked in that order: the
/// first fault met is the one reported.
pub fn decode_record_entry(bytes: &[u8], record_bytes: usize) -> Result<RecordEntry<'_>, ArchiveDecodeError> {
    let too_short = ArchiveDecodeError::RecordTooShort { bytes: bytes.len(), record_bytes };
    let Ok((h, mut rest)) = ArchiveRecordFixed::read_from_prefix(bytes) else { return Err(too_short) };
    let meta = ARCHIVE_FLAG_TIMESTAMP | ARCHIVE_FLAG_LANE;
    if h.flags & meta == 0 {
        // The entry as the first build of version 1 wrote it, faults checked in its order.
        if rest.len() < record_bytes {
            return Err(too_short);
        }
    }
    if h.flags & !ARCHIVE_FLAGS_KNOWN != 0 {
        return Err(ArchiveDecodeError::UnknownFlags { flags: h.flags });
    }
    let mut timestamp_ns = None;
    if h.flags & ARCHIVE_FLAG_TIMESTAMP != 0 {
        let Some((ts, after)) = rest.split_first_chunk::<ARCHIVE_TIMESTAMP_BYTES>() else {
            return Err(ArchiveDecodeError::TimestampTruncated { bytes: bytes.len() });
        };
        timestamp_ns = Some(u64::from_le_bytes(*ts));
        rest = after;
    }
    let mut lane = None;
    if h.flags & ARCHIVE_FLAG_LANE != 0 {
        let truncated = ArchiveDecodeError::LaneTruncated { bytes: bytes.len() };
        let Some((&n, after)) = rest.split_first() else { return Err(truncated) };
        let n = usize::from(n);
        if n == 0 || n > ARCHIVE_LANE_NAME_BYTES_MAX {
            return Err(ArchiveDecodeError::LaneLength { name_bytes: n });
        }
        let Some((name, after)) = after.split_at_checked(n) else { return Err(truncated) };
        lane = Some(check_lane_name(name)?);
        rest = after;
    }
    let Some((record, after)) = rest.split_at_checked(record_bytes) else {
        return Err(ArchiveDecodeError::RecordTruncated {
            bytes: bytes.len(),
            record_offset: bytes.len() - rest.len(),
            record_bytes,
        });
    };
    let evidence = if h.flags & ARCHIVE_FLAG_EVIDENCE == 0 {
        if !after.is_empty() {
            return Err(ArchiveDecodeError::TrailingBytes { bytes: after.len() });
        }
        None
    } else {
        check_evidence(after)?;
        Some(after)
    };
    Ok(RecordEntry { seq: h.seq.get(), epoch: h.epoch.get(), timestamp_ns, lane, record, evidence })
}

/// Says why `bytes` (exactly the evidence present) is not well-formed evidence. The kind is
/// judged by the ring's own rule ([`evidence_well_formed`]), once length and UTF-8 are known good.
fn check_evidence(bytes: &[u8]) -> Result<(), ArchiveDecodeError> {
    let Ok((h, message)) = EvidenceHeader::read_from_prefix(bytes) else {
        return Err(ArchiveDecodeError::EvidenceTooShort { bytes: bytes.len() });
    };
    if h.message_bytes.get() as usize != message.len() {
        return Err(ArchiveDecodeError::EvidenceLength {
            message_bytes: h.message_bytes.get(),
            present: message.len(),
        });
    }
    if std::str::from_utf8(message).is_err() {
        return Err(ArchiveDecodeError::EvidenceNotUtf8);
    }
    if !evidence_well_formed(bytes) {
        return Err(ArchiveDecodeError::EvidenceKind { kind: h.kind.get(), other_code: h.other_code.get() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(kind: u16, other: u16, message_bytes: u32, message: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&kind.to_le_bytes());
        v.extend_from_slice(&other.to_le_bytes());
        v.extend_from_slice(&message_bytes.to_le_bytes());
        v.extend_from_slice(&(-3i64).to_le_bytes());
        v.extend_from_slice(message);
        v
    }

    #[test]
    fn record_entry_faults_say_why() {
        let ev = evidence(2, 0, 2, b"ok");
        let mut good = Vec::new();
        encode_record_entry(&mut good, 7, 3, b"12345678", Some((&ev[..16], &ev[16..])));
        let e = decode_record_entry(&good, 8).unwrap();
        assert_eq!((e.seq, e.epoch, e.record, e.evidence), (7, 3, &b"12345678"[..], Some(&ev[..])));

        let err = |b: &[u8], rb| decode_record_entry(b, rb).unwrap_err();
        assert_eq!(err(&good[..20], 8), ArchiveDecodeError::RecordTooShort { bytes: 20, record_bytes: 8 });
        assert_eq!(err(&good[..5], 0), ArchiveDecodeError::RecordTooShort { bytes: 5, record_bytes: 0 });
        assert_eq!(err(&good, usize::MAX), ArchiveDecodeError::RecordTooShort { bytes: 39, record_bytes: usize::MAX });
        let mut flags = good.clone();
        flags[ARCHIVE_FLAGS_OFFSET] = 0x09;
        assert_eq!(err(&flags, 8), ArchiveDecodeError::UnknownFlags { flags: 9 });
        assert_eq!(err(&flags, 8).to_string(), "record entry flags 0x09 has unknown bits (known: 0x07)");
        let mut plain = good.clone();
        plain[ARCHIVE_FLAGS_OFFSET] = 0;
        assert_eq!(err(&plain, 8), ArchiveDecodeError::TrailingBytes { bytes: 18 });
        assert_eq!(
            err(&good[..good.len() - 1], 8),
            ArchiveDecodeError::EvidenceLength { message_bytes: 2, present: 1 }
        );
        assert_eq!(err(&good[..30], 8), ArchiveDecodeError::EvidenceTooShort { bytes: 9 });
        let with = |ev: &[u8]| {
            let mut b = good[..ARCHIVE_RECORD_FIXED_BYTES + 8].to_vec();
            b.extend_from_slice(ev);
            b
        };
        assert_eq!(
            err(&with(&evidence(9, 0, 2, b"ok")), 8),
            ArchiveDecodeError::EvidenceKind { kind: 9, other_code: 0 }
        );
        assert_eq!(
            err(&with(&evidence(9, 0, 2, b"ok")), 8).to_string(),
            "evidence kind 9 (other_code 0) is not a known kind"
        );
        assert_eq!(
            err(&with(&evidence(1, 4, 2, b"ok")), 8),
            ArchiveDecodeError::EvidenceKind { kind: 1, other_code: 4 }
        );
        assert_eq!(err(&with(&evidence(4, 4, 2, b"\xff\xfe")), 8), ArchiveDecodeError::EvidenceNotUtf8);
        assert!(decode_record_entry(&with(&evidence(4, 4, 2, b"ok")), 8).is_ok());
    }

    /// Entries with a timestamp and/or a lane: each fault in their metadata has its own error,
    /// found in the documented order, and a bad lane name is refused before anything is written.
    #[test]
    fn timestamp_and_lane_faults_say_why() {
        let ev = evidence(2, 0, 2, b"ok");
        let mut good = Vec::new();
        encode_record_entry_with(&mut good, 7, 3, Some(0x0102_0304_0506_0708), Some("io_2"), b"12345678", None)
            .unwrap();
        // 13 fixed + 8 timestamp + 1 + 4 lane + 8 record.
        assert_eq!(good.len(), 34);
        assert_eq!(good[ARCHIVE_FLAGS_OFFSET], ARCHIVE_FLAG_TIMESTAMP | ARCHIVE_FLAG_LANE);
        assert_eq!(&good[13..21], &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(&good[21..26], b"\x04io_2");
        let e = decode_record_entry(&good, 8).unwrap();
        assert_eq!(
            (e.seq, e.epoch, e.timestamp_ns, e.lane, e.record, e.evidence),
            (7, 3, Some(0x0102_0304_0506_0708), Some("io_2"), &b"12345678"[..], None)
        );
        let err = |b: &[u8], rb| decode_record_entry(b, rb).unwrap_err();

        // Truncated anywhere: inside the timestamp, before the lane length, inside the name,
        // inside the record.
        for cut in 13..21 {
            assert_eq!(err(&good[..cut], 8), ArchiveDecodeError::TimestampTruncated { bytes: cut }, "cut at {cut}");
        }
        for cut in 21..26 {
            assert_eq!(err(&good[..cut], 8), ArchiveDecodeError::LaneTruncated { bytes: cut }, "cut at {cut}");
        }
        for cut in 26..34 {
            assert_eq!(
                err(&good[..cut], 8),
                ArchiveDecodeError::RecordTruncated { bytes: cut, record_offset: 26, record_bytes: 8 },
                "cut at {cut}"
            );
        }
        assert_eq!(
            err(&good[..30], 8).to_string(),
            "record entry of 30 bytes is too short for its 8-byte record at offset 26 (at least 34 bytes)"
        );
        assert_eq!(
            err(&good[..15], 8).to_string(),
            "record entry of 15 bytes ends inside its 8-byte timestamp (flag 0x02)"
        );
        assert_eq!(err(&good[..22], 8).to_string(), "record entry of 22 bytes ends inside its lane name (flag 0x04)");
        // Bytes after the record, with the flags of an entry that has no evidence.
        let mut longer = good.clone();
        longer.push(0);
        assert_eq!(err(&longer, 8), ArchiveDecodeError::TrailingBytes { bytes: 1 });

        // Lane length 0 and 65; a name with a byte outside [A-Za-z0-9_-].
        let mut zero = good.clone();
        zero[21] = 0;
        assert_eq!(err(&zero, 8), ArchiveDecodeError::LaneLength { name_bytes: 0 });
        let mut long = good.clone();
        long[21] = 65;
        assert_eq!(err(&long, 8), ArchiveDecodeError::LaneLength { name_bytes: 65 });
        assert_eq!(err(&long, 8).to_string(), "lane name of 65 bytes, a lane name has 1 to 64 bytes");
        for bad in [b'/', b'.', b' ', 0, 0xC3, b'\n'] {
            let mut m = good.clone();
            m[23] = bad;
            let mut name = b"io_2".to_vec();
            name[1] = bad;
            assert_eq!(err(&m, 8), ArchiveDecodeError::LaneName { name });
        }
        let mut slash = good.clone();
        slash[23] = b'/';
        assert_eq!(err(&slash, 8).to_string(), "lane name \"i/_2\" has a byte outside [A-Za-z0-9_-]");

        // The longest name round-trips; the encoder refuses what the decoder would refuse and
        // appends nothing.
        let max = "a".repeat(ARCHIVE_LANE_NAME_BYTES_MAX);
        let mut out = Vec::new();
        encode_record_entry_with(&mut out, 1, 1, None, Some(&max), b"", Some((&ev[..16], &ev[16..]))).unwrap();
        let e = decode_record_entry(&out, 0).unwrap();
        assert_eq!((e.timestamp_ns, e.lane, e.evidence), (None, Some(max.as_str()), Some(&ev[..])));
        let mut out = Vec::new();
        let too_long = "a".repeat(65);
        for (name, why) in [
            ("", ArchiveDecodeError::LaneLength { name_bytes: 0 }),
            (too_long.as_str(), ArchiveDecodeError::LaneLength { name_bytes: 65 }),
            ("..", ArchiveDecodeError::LaneName { name: b"..".to_vec() }),
            ("a/b", ArchiveDecodeError::LaneName { name: b"a/b".to_vec() }),
            ("é", ArchiveDecodeError::LaneName { name: "é".as_bytes().to_vec() }),
        ] {
            assert_eq!(encode_record_entry_with(&mut out, 1, 1, None, Some(name), b"", None), Err(why));
            assert!(out.is_empty(), "a refused lane name appended bytes");
        }

        // Unknown bits are refused before the metadata is read.
        let mut unknown = good.clone();
        unknown[ARCHIVE_FLAGS_OFFSET] |= 0x80;
        assert_eq!(err(&unknown[..14], 8), ArchiveDecodeError::UnknownFlags { flags: 0x86 });
    }

    /// An entry without timestamp and lane is exactly what the first build of version 1 wrote.
    #[test]
    fn plain_entries_are_the_first_builds_bytes() {
        let ev = evidence(3, 0, 1, b"x");
        let mut out = Vec::new();
        encode_record_entry_with(&mut out, 0x1122, 9, None, None, b"ab", Some((&ev[..16], &ev[16..]))).unwrap();
        let mut first = Vec::new();
        first.extend_from_slice(&0x1122u64.to_le_bytes());
        first.extend_from_slice(&9u32.to_le_bytes());
        first.push(1);
        first.extend_from_slice(b"ab");
        first.extend_from_slice(&ev);
        assert_eq!(out, first);
        let mut plain = Vec::new();
        encode_record_entry(&mut plain, 0x1122, 9, b"ab", None);
        assert_eq!(plain, [&first[..12], &[0], b"ab"].concat());
    }

    #[test]
    fn header_faults_say_why() {
        let layout =
            Layout::new("R", vec![super::super::layout::Field::new("t", super::super::layout::FieldType::U64, 0)]);
        let h = ArchiveHeader { record_bytes: 8, schema_id: 5, capacity: 64, layout: Some(layout) };
        let good = h.encode();
        assert_eq!(decode_header(&good), Ok(h.clone()));
        assert_eq!(decode_header(b"RPLYJRNL"), Err(ArchiveDecodeError::NotAnArchive));
        assert_eq!(decode_header(b""), Err(ArchiveDecodeError::NotAnArchive));
        assert_eq!(decode_header(&good[..20]), Err(ArchiveDecodeError::HeaderTooShort { bytes: 20 }));
        assert_eq!(
            decode_header(&good[..20]).unwrap_err().to_string(),
            "header entry of 20 bytes is shorter than the 36-byte fixed header"
        );
        let mut v2 = good.clone();
        v2[ARCHIVE_VERSION_OFFSET] = 2;
        assert_eq!(decode_header(&v2), Err(ArchiveDecodeError::UnsupportedVersion { version: 2 }));
        let layout_bytes = (good.len() - ARCHIVE_HEADER_FIXED_BYTES) as u32;
        assert_eq!(
            decode_header(&good[..good.len() - 1]),
            Err(ArchiveDecodeError::HeaderLength { bytes: good.len() - 1, layout_bytes })
        );
        let mut small = h.clone();
        small.record_bytes = 4;
        assert!(matches!(decode_header(&small.encode()), Err(ArchiveDecodeError::Layout(_))), "layout past the record");
        let mut garbled = good.clone();
        garbled[ARCHIVE_HEADER_FIXED_BYTES] ^= 0xff;
        assert!(matches!(decode_header(&garbled), Err(ArchiveDecodeError::Layout(_))));
    }
}
