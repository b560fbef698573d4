//! The archive format: ring records stored as journal entries — what `replaylog::archive::Archiver`
//! writes, and what `replaylog export --to journal:DIR` writes too. The bytes are encoded and
//! decoded by the library (`replaylog::archive`), so the tool and the archiver cannot drift
//! apart; this module adds the tool's error reasons and pins the byte layout in tests.
//!
//! An archive is a journal whose entries are, in LSN order (all integers little-endian):
//!
//! **LSN 1, the header** (one entry):
//!
//! ```text
//! offset    type     field
//! 0         [u8; 8]  magic          "RPLYARCH"
//! 8         u32      version        1
//! 12        u32      record_bytes   R, the ring's record size
//! 16        u64      schema_id      of the source ring
//! 24        u64      capacity       slots of the source ring (informational)
//! 32        u32      layout_bytes   0 when the ring stored no layout
//! 36        [u8]     layout         the ring's layout block (`Layout::encode`), layout_bytes long
//! ```
//!
//! **Every later entry, one ring record**, in seq order, each seq at most once:
//!
//! ```text
//! offset    type     field
//! 0         u64      seq            the record's ring sequence number
//! 8         u32      epoch          the writer epoch that wrote it
//! 12        u8       flags          bit 0: evidence follows; no other bit is set
//! 13        [u8; R]  record         the record's bytes
//! -- only with evidence, exactly as in a ring slot:
//! 13+R      u16      kind           1 backend, 2 runtime, 3 timeout, 4 other
//! 15+R      u16      other_code     the code of kind 4 (other), else 0
//! 17+R      u32      message_bytes
//! 21+R      i64      code           the application's numeric code
//! 29+R      [u8]     message        UTF-8, message_bytes long; the entry ends here
//! ```
//!
//! An entry does not store R: readers take it from the header (or, for entries without one,
//! from the ring they are compared with).

use replaylog::RawRecord;
pub use replaylog::archive::ArchiveHeader;
use replaylog::archive::{self, ARCHIVE_MAGIC, ARCHIVE_VERSION};

/// Bytes of a record entry before the record.
pub const ENTRY_PREFIX_BYTES: usize = 13;
/// Bytes of the header before the layout.
pub const HEADER_FIXED_BYTES: usize = 36;

/// Encodes a record entry.
pub fn encode_entry(r: &RawRecord) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENTRY_PREFIX_BYTES + r.bytes.len());
    archive::encode_record(&mut out, r);
    out
}

/// Decodes a record entry of a ring with `record_bytes`-byte records, saying why when it is not
/// one.
pub fn decode_entry(bytes: &[u8], record_bytes: usize) -> Result<RawRecord, String> {
    if let Some(r) = archive::decode_record(bytes, record_bytes) {
        return Ok(r);
    }
    let body_end = ENTRY_PREFIX_BYTES.saturating_add(record_bytes);
    Err(match bytes.get(12) {
        _ if bytes.len() < body_end => format!("{} bytes is too short for a {record_bytes}-byte record", bytes.len()),
        Some(0) => format!("{} bytes after a record without evidence", bytes.len() - body_end),
        Some(1) => format!("malformed failure evidence ({} bytes)", bytes.len() - body_end),
        Some(f) => format!("flags byte is {f}, expected 0 or 1"),
        None => "empty entry".to_string(),
    })
}

/// Decodes a header entry: `Ok(None)` when `bytes` does not start with the magic (not an
/// archive), `Err` when it does but is not a valid header.
pub fn decode_header(bytes: &[u8]) -> Result<Option<ArchiveHeader>, String> {
    if !bytes.starts_with(&ARCHIVE_MAGIC) {
        return Ok(None);
    }
    if let Some(h) = ArchiveHeader::decode(bytes) {
        if let Some(l) = &h.layout {
            l.check(h.record_bytes).map_err(|e| format!("layout: {e}"))?;
        }
        return Ok(Some(h));
    }
    Err(match bytes.get(8..12).map(|v| u32::from_le_bytes(v.try_into().unwrap())) {
        None => format!("{} bytes is shorter than the {HEADER_FIXED_BYTES}-byte header", bytes.len()),
        Some(v) if v != ARCHIVE_VERSION => format!("archive version {v}, this tool reads version {ARCHIVE_VERSION}"),
        Some(_) => "malformed header (length or layout block)".to_string(),
    })
}

/// Encodes a header entry.
pub fn encode_header(h: &ArchiveHeader) -> Vec<u8> {
    h.encode()
}

#[cfg(test)]
mod tests {
    use super::*;
    use replaylog::{FailureKind, Field, FieldType, Layout, ReplayFailureEvidence};

    fn raw(seq: u64, epoch: u32, bytes: Vec<u8>, evidence: Option<ReplayFailureEvidence>) -> RawRecord {
        RawRecord { seq, epoch, bytes, evidence }
    }

    #[test]
    fn entry_layout_is_pinned() {
        let record: Vec<u8> = (0..24).collect();
        let plain = encode_entry(&raw(7, 3, record.clone(), None));
        assert_eq!(plain.len(), 13 + 24);
        assert_eq!(&plain[..8], &7u64.to_le_bytes());
        assert_eq!(&plain[8..12], &3u32.to_le_bytes());
        assert_eq!(plain[12], 0);
        assert_eq!(&plain[13..], &record[..]);

        let ev = ReplayFailureEvidence::new(FailureKind::Other(9), -110, "late");
        let e = encode_entry(&raw(7, 3, record.clone(), Some(ev)));
        assert_eq!(e[12], 1);
        let at = 13 + 24;
        assert_eq!(&e[at..at + 2], &4u16.to_le_bytes(), "kind");
        assert_eq!(&e[at + 2..at + 4], &9u16.to_le_bytes(), "other_code");
        assert_eq!(&e[at + 4..at + 8], &4u32.to_le_bytes(), "message_bytes");
        assert_eq!(&e[at + 8..at + 16], &(-110i64).to_le_bytes(), "code");
        assert_eq!(&e[at + 16..], b"late");
    }

    #[test]
    fn entry_roundtrip_with_and_without_evidence() {
        let record: Vec<u8> = (0..24).collect();
        let kinds = [FailureKind::Backend, FailureKind::Runtime, FailureKind::Timeout, FailureKind::Other(9)];
        let mut cases = vec![raw(7, 3, record.clone(), None), raw(0, 0, Vec::new(), None)];
        cases.extend(
            kinds.map(|k| raw(u64::MAX, u32::MAX, record.clone(), Some(ReplayFailureEvidence::new(k, -1, "é!")))),
        );
        cases.push(raw(1, 1, Vec::new(), Some(ReplayFailureEvidence::new(FailureKind::Timeout, 0, ""))));
        for r in cases {
            let bytes = encode_entry(&r);
            assert_eq!(decode_entry(&bytes, r.bytes.len()).unwrap(), r);
        }
    }

    #[test]
    fn entry_decode_says_why() {
        let ev = ReplayFailureEvidence::new(FailureKind::Timeout, 1, "x");
        let good = encode_entry(&raw(1, 1, vec![0; 8], Some(ev)));
        assert!(decode_entry(&good, 8).is_ok());
        assert!(decode_entry(&good[..good.len() - 1], 8).unwrap_err().contains("evidence"));
        assert!(decode_entry(&good[..10], 8).unwrap_err().contains("too short"));
        let mut bad_flag = good.clone();
        bad_flag[12] = 2;
        assert!(decode_entry(&bad_flag, 8).unwrap_err().contains("flags byte is 2"));
        let mut bad_kind = good.clone();
        bad_kind[21] = 9;
        assert!(decode_entry(&bad_kind, 8).is_err());
        let plain = encode_entry(&raw(1, 1, vec![0; 8], None));
        assert!(decode_entry(&plain, 7).unwrap_err().contains("1 bytes after a record"));
    }

    #[test]
    fn header_roundtrip_and_layout_is_pinned() {
        let layout =
            Layout::new("Rec", vec![Field::new("tick", FieldType::U64, 0), Field::new("v", FieldType::F64, 8)]);
        for layout in [None, Some(layout)] {
            let h = ArchiveHeader { record_bytes: 16, schema_id: 42, capacity: 1024, layout };
            let bytes = encode_header(&h);
            assert_eq!(&bytes[..8], b"RPLYARCH");
            assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
            assert_eq!(&bytes[12..16], &16u32.to_le_bytes());
            assert_eq!(&bytes[16..24], &42u64.to_le_bytes());
            assert_eq!(&bytes[24..32], &1024u64.to_le_bytes());
            assert_eq!(
                bytes.len(),
                HEADER_FIXED_BYTES + u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize
            );
            assert_eq!(decode_header(&bytes).unwrap(), Some(h));
            assert!(decode_header(&bytes[..bytes.len() - 1]).is_err(), "truncated");
        }
        assert_eq!(decode_header(b"not an archive header").unwrap(), None);
        let mut v2 = encode_header(&ArchiveHeader { record_bytes: 1, schema_id: 0, capacity: 1, layout: None });
        v2[8] = 2;
        assert!(decode_header(&v2).unwrap_err().contains("version 2"));
    }
}
