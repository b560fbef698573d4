//! The archive format, version 1: ring records stored as the entries of a journal (what
//! `archive::Archiver` and `replaylog export --to journal:DIR` write). See `docs/FORMAT.md`
//! ("Archive") for the byte maps.
//!
//! ```text
//! LSN 1, the header entry:
//!   0  [u8; 8] magic "RPLYARCH" | 8 u32 version (1) | 12 u32 record_bytes | 16 u64 schema_id
//!   24 u64 capacity | 32 u32 layout_bytes | 36 layout block (layout_bytes, may be empty)
//! every later entry, one ring record (seq order, each seq at most once):
//!   0  u64 seq | 8 u32 epoch | 12 u8 flags (bit 0: evidence) | 13 record (record_bytes)
//!   [13 + record_bytes: evidence exactly as in a ring slot: 16-byte header + message]
//! ```
//! A record entry does not store its record size: readers take it from the header.

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
/// All defined record entry flags.
pub const ARCHIVE_FLAGS_KNOWN: u8 = ARCHIVE_FLAG_EVIDENCE;

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
    /// The record's bytes.
    pub record: &'a [u8],
    /// The evidence bytes (header and message, as in a ring slot), checked well formed.
    pub evidence: Option<&'a [u8]>,
}

/// Appends a record entry to `out`. `evidence` is the evidence as a ring slot stores it: its
/// 16-byte header and its message.
pub fn encode_record_entry(out: &mut Vec<u8>, seq: u64, epoch: u32, record: &[u8], evidence: Option<(&[u8], &[u8])>) {
    let fixed = ArchiveRecordFixed {
        seq: U64::new(seq),
        epoch: U32::new(epoch),
        flags: if evidence.is_some() { ARCHIVE_FLAG_EVIDENCE } else { 0 },
    };
    out.extend_from_slice(fixed.as_bytes());
    out.extend_from_slice(record);
    if let Some((head, message)) = evidence {
        out.extend_from_slice(head);
        out.extend_from_slice(message);
    }
}

/// Decodes a record entry holding a record of `record_bytes`: the length, the flags, nothing
/// after a record without evidence, and well-formed evidence (length, UTF-8, a known kind: the
/// ring slot's rule, [`evidence_well_formed`]).
pub fn decode_record_entry(bytes: &[u8], record_bytes: usize) -> Result<RecordEntry<'_>, ArchiveDecodeError> {
    let too_short = ArchiveDecodeError::RecordTooShort { bytes: bytes.len(), record_bytes };
    let Ok((h, rest)) = ArchiveRecordFixed::read_from_prefix(bytes) else { return Err(too_short) };
    let Some((record, after)) = rest.split_at_checked(record_bytes) else { return Err(too_short) };
    if h.flags & !ARCHIVE_FLAGS_KNOWN != 0 {
        return Err(ArchiveDecodeError::UnknownFlags { flags: h.flags });
    }
    let evidence = if h.flags & ARCHIVE_FLAG_EVIDENCE == 0 {
        if !after.is_empty() {
            return Err(ArchiveDecodeError::TrailingBytes { bytes: after.len() });
        }
        None
    } else {
        check_evidence(after)?;
        Some(after)
    };
    Ok(RecordEntry { seq: h.seq.get(), epoch: h.epoch.get(), record, evidence })
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
        flags[ARCHIVE_FLAGS_OFFSET] = 0x05;
        assert_eq!(err(&flags, 8), ArchiveDecodeError::UnknownFlags { flags: 5 });
        assert_eq!(err(&flags, 8).to_string(), "record entry flags 0x05 has unknown bits (known: 0x01)");
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
