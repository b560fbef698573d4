//! Failure evidence attached to a record: what went wrong on that tick.

use zerocopy::little_endian::{I64, U16, U32};
use zerocopy::{FromBytes, IntoBytes};

use crate::format::ring::{EVIDENCE_HEADER_BYTES, EvidenceHeader};

/// What kind of failure the evidence records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The backend (device, exchange, simulator) failed.
    Backend,
    /// The host runtime failed.
    Runtime,
    /// A deadline was missed.
    Timeout,
    /// Any other failure, with an application-defined code.
    Other(u16),
}

impl FailureKind {
    fn encode(self) -> (u16, u16) {
        match self {
            FailureKind::Backend => (1, 0),
            FailureKind::Runtime => (2, 0),
            FailureKind::Timeout => (3, 0),
            FailureKind::Other(c) => (4, c),
        }
    }

    fn decode(tag: u16, other: u16) -> Option<FailureKind> {
        match (tag, other) {
            (1, 0) => Some(FailureKind::Backend),
            (2, 0) => Some(FailureKind::Runtime),
            (3, 0) => Some(FailureKind::Timeout),
            (4, c) => Some(FailureKind::Other(c)),
            _ => None,
        }
    }

    /// Name used in text output.
    pub fn name(self) -> String {
        match self {
            FailureKind::Backend => "backend".into(),
            FailureKind::Runtime => "runtime".into(),
            FailureKind::Timeout => "timeout".into(),
            FailureKind::Other(c) => format!("other({c})"),
        }
    }
}

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
    let (kind, other) = ev.kind.encode();
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
    let kind = FailureKind::decode(h.kind.get(), h.other_code.get())?;
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
    }
}
