//! Failure evidence attached to a record: what went wrong on that tick.

use zerocopy::little_endian::{I64, U16, U32};
use zerocopy::{FromBytes, IntoBytes};

pub use crate::format::ring::FailureKind;
use crate::format::ring::{EVIDENCE_HEADER_BYTES, EvidenceHeader};

/// Evidence of a failure on one tick: a kind, a numeric code and a message.
///
/// The message is bounded by the ring's `evidence_bytes_max - 16`; a longer one is truncated at a
/// UTF-8 character boundary when appended (never an error on the hot path).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReplayFailureEvidence {
    /// Kind of failure.
    pub kind: FailureKind,
    /// Application-defined code (an errno, a status word).
    pub code: i64,
    /// Human-readable detail.
    pub message: String,
}

impl ReplayFailureEvidence {
    /// New evidence.
    pub fn new(kind: FailureKind, code: i64, message: impl Into<String>) -> Self {
        ReplayFailureEvidence { kind, code, message: message.into() }
    }
}

impl std::fmt::Display for ReplayFailureEvidence {
    /// `KIND code=CODE "MESSAGE"`, e.g. `timeout code=110 "deadline missed"` (the message
    /// quoted and escaped as a Rust string literal).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} code={} {:?}", self.kind, self.code, self.message)
    }
}

/// Evidence borrowed from the mapping (the allocation-free iterator's form).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvidenceRef<'a> {
    /// Kind of failure.
    pub kind: FailureKind,
    /// Application code.
    pub code: i64,
    /// Message as stored (possibly truncated).
    pub message: &'a str,
}

impl EvidenceRef<'_> {
    /// An owned copy.
    pub fn to_owned(&self) -> ReplayFailureEvidence {
        ReplayFailureEvidence::new(self.kind, self.code, self.message)
    }
}

/// The longest prefix of `s` that fits `max` bytes and ends on a character boundary.
pub fn truncate_at_char_boundary(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Evidence header bytes and the (truncated) message to store for `ev` in an area of `area` bytes.
pub(crate) fn encode(ev: &ReplayFailureEvidence, area: usize) -> ([u8; EVIDENCE_HEADER_BYTES], &[u8]) {
    let msg = truncate_at_char_boundary(&ev.message, area - EVIDENCE_HEADER_BYTES);
    let (kind, other) = ev.kind.tag();
    let h = EvidenceHeader {
        kind: U16::new(kind),
        other_code: U16::new(other),
        message_bytes: U32::new(msg.len() as u32),
        code: I64::new(ev.code),
    };
    let mut out = [0u8; EVIDENCE_HEADER_BYTES];
    out.copy_from_slice(h.as_bytes());
    (out, msg.as_bytes())
}

/// Decodes stored evidence (`bytes` = exactly the evidence present). `None` if malformed.
pub(crate) fn decode(bytes: &[u8]) -> Option<EvidenceRef<'_>> {
    let (h, rest) = EvidenceHeader::read_from_prefix(bytes).ok()?;
    let kind = FailureKind::from_tag(h.kind.get(), h.other_code.get())?;
    if h.message_bytes.get() as usize != rest.len() {
        return None;
    }
    let message = std::str::from_utf8(rest).ok()?;
    Some(EvidenceRef { kind, code: h.code.get(), message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_respects_char_boundaries() {
        assert_eq!(truncate_at_char_boundary("héllo", 2), "h");
        assert_eq!(truncate_at_char_boundary("héllo", 3), "hé");
        assert_eq!(truncate_at_char_boundary("abc", 10), "abc");
        assert_eq!(truncate_at_char_boundary("€€", 5), "€");
    }

    #[test]
    fn encode_decode() {
        let ev = ReplayFailureEvidence::new(FailureKind::Other(7), -5, "boom");
        let (h, m) = encode(&ev, 64);
        let mut all = h.to_vec();
        all.extend_from_slice(m);
        assert_eq!(decode(&all).unwrap().to_owned(), ev);
        assert!(decode(&all[..all.len() - 1]).is_none());
        assert_eq!(ev.to_string(), "other(7) code=-5 \"boom\"");
    }

    #[test]
    fn the_kind_table_roundtrips_and_rejects_what_it_never_writes() {
        for k in [FailureKind::Backend, FailureKind::Runtime, FailureKind::Timeout, FailureKind::Other(0)] {
            let (kind, other) = k.tag();
            assert_eq!(FailureKind::from_tag(kind, other), Some(k));
        }
        assert_eq!(FailureKind::from_tag(4, 65535), Some(FailureKind::Other(65535)));
        assert_eq!(FailureKind::Backend.tag(), (1, 0));
        assert_eq!(FailureKind::Timeout.tag(), (3, 0));
        for bad in [(0, 0), (5, 0), (2, 1), (u16::MAX, 0)] {
            assert_eq!(FailureKind::from_tag(bad.0, bad.1), None, "{bad:?}");
        }
        assert_eq!(FailureKind::Other(3).category(), "other");
        assert_eq!((FailureKind::Runtime.to_string(), FailureKind::Other(3).other_code()), ("runtime".into(), 3));
    }
}
