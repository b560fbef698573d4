//! The Journal segment format, version 1. See `docs/FORMAT.md` ("Journal segment") for the maps.
//!
//! ```text
//! 0      segment header (64 bytes in a 512-byte sector)
//! 512    watermark copy 0 (32 bytes in its own sector)
//! 1024   watermark copy 1 (32 bytes in its own sector)
//! 4096   frames, back to back
//! ```
//! Frame: `u32 crc | u32 body_len | u8 kind | u8 flags | u16 reserved | u64 lsn | u32 raw_len | body`,
//! the CRC over everything after it.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::crc32;
use crate::arch::store_u64_pair;

/// First 8 bytes of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"RPLYJRNL";
/// Format version written by this build.
pub const SEGMENT_VERSION: u32 = 1;
/// Bytes of the segment header structure.
pub const SEGMENT_HEADER_BYTES: usize = 64;
/// Offsets of the two alternating watermark copies.
pub const WATERMARK_OFFSETS: [u64; 2] = [512, 1024];
/// Bytes of a watermark copy.
pub const WATERMARK_BYTES: usize = 32;
/// Offset of the first frame.
pub const DATA_OFFSET: u64 = 4096;
/// Bytes of a frame header.
pub const FRAME_HEADER_BYTES: usize = 24;
/// Largest frame body (stored bytes).
pub const FRAME_BODY_MAX: u32 = 256 << 20;
/// Frame kind: an entry.
pub const KIND_ENTRY: u8 = 1;
/// Frame kind: a state snapshot (always the last frame of its segment).
pub const KIND_SNAPSHOT: u8 = 2;
/// Frame flag: the body is lz4 (block format); `raw_len` is the decompressed length.
pub const FRAME_FLAG_LZ4: u8 = 1;
/// Digits in a segment file name.
pub const SEGMENT_NAME_DIGITS: usize = 20;
/// Suffix of a segment file name.
pub const SEGMENT_SUFFIX: &str = ".seg";
/// Name of the backup subdirectory recovery and repair move cut bytes into.
pub const BACKUP_DIR: &str = "backup";
/// Largest LSN (and segment number, and watermark generation) a valid header or watermark may
/// carry: far beyond any real journal, and low enough that arithmetic on it never overflows.
pub const COUNTER_MAX: u64 = 1 << 62;

/// The segment header, written once when the segment is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct SegmentHeader {
    /// [`SEGMENT_MAGIC`].
    pub magic: [u8; 8],
    /// [`SEGMENT_VERSION`].
    pub version: U32,
    /// Reserved, 0.
    pub flags: U32,
    /// The number in the file name (a renamed or misplaced segment is detected).
    pub segment: U64,
    /// LSN of the segment's first frame.
    pub first_lsn: U64,
    /// Creation time, ms since the Unix epoch (informational).
    pub created_unix_ms: U64,
    /// Reserved, 0.
    pub reserved: [u8; 20],
    /// CRC-32 of bytes 0..60.
    pub crc: U32,
}
const _: () = assert!(size_of::<SegmentHeader>() == SEGMENT_HEADER_BYTES);
const _: () = assert!(std::mem::offset_of!(SegmentHeader, segment) == 16);
const _: () = assert!(std::mem::offset_of!(SegmentHeader, crc) == 60);

impl SegmentHeader {
    /// A sealed header.
    pub fn new(segment: u64, first_lsn: u64, created_unix_ms: u64) -> Self {
        let mut h = SegmentHeader {
            magic: SEGMENT_MAGIC,
            version: U32::new(SEGMENT_VERSION),
            flags: U32::ZERO,
            segment: U64::new(segment),
            first_lsn: U64::new(first_lsn),
            created_unix_ms: U64::new(created_unix_ms),
            reserved: [0; 20],
            crc: U32::ZERO,
        };
        h.crc = U32::new(crc32(&[&h.as_bytes()[..60]]));
        h
    }

    /// Whether the checksum matches.
    pub fn crc_ok(&self) -> bool {
        self.crc.get() == crc32(&[&self.as_bytes()[..60]])
    }

    /// Whether the counters are in range (segment number, first LSN in 1..=COUNTER_MAX).
    pub fn counters_ok(&self) -> bool {
        self.segment.get() <= COUNTER_MAX && (1..=COUNTER_MAX).contains(&self.first_lsn.get())
    }
}

/// One of two alternating watermark copies: the durable extent of this segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct Watermark {
    /// +1 per write; 0 = never written; the valid copy with the larger value is current.
    pub generation: U64,
    /// Every byte below this offset was durable when the watermark was written.
    pub valid_bytes: U64,
    /// LSN the next frame after `valid_bytes` gets.
    pub next_lsn: U64,
    /// 1 when the segment is sealed (rolled): `valid_bytes` is then its final length.
    pub sealed: U32,
    /// CRC-32 of bytes 0..28.
    pub crc: U32,
}
const _: () = assert!(size_of::<Watermark>() == WATERMARK_BYTES);

impl Watermark {
    /// A sealed (checksummed) watermark.
    pub fn new(generation: u64, valid_bytes: u64, next_lsn: u64, sealed: bool) -> Self {
        let mut w = Watermark {
            generation: U64::new(generation),
            valid_bytes: U64::new(valid_bytes),
            next_lsn: U64::new(next_lsn),
            sealed: U32::new(u32::from(sealed)),
            crc: U32::ZERO,
        };
        w.crc = U32::new(crc32(&[&w.as_bytes()[..28]]));
        w
    }

    /// Decodes a copy; `None` when never written, damaged, or out of range.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let w = Watermark::read_from_bytes(bytes.get(..WATERMARK_BYTES)?).ok()?;
        let in_range = (1..=COUNTER_MAX).contains(&w.generation.get())
            && (1..=COUNTER_MAX).contains(&w.next_lsn.get())
            && w.valid_bytes.get() >= DATA_OFFSET
            && w.sealed.get() <= 1;
        (in_range && w.crc.get() == crc32(&[&w.as_bytes()[..28]])).then_some(w)
    }
}

/// The frame header. The CRC comes first and covers everything after it (the rest of the header
/// and the body) as one contiguous range (the writer feeds it as header words, then the body).
#[derive(Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, Immutable, KnownLayout, Unaligned)]
#[repr(C)]
pub struct FrameHeader {
    /// CRC-32 of bytes 4 .. 24 + body_len.
    pub crc: U32,
    /// Stored body length.
    pub body_len: U32,
    /// [`KIND_ENTRY`] or [`KIND_SNAPSHOT`].
    pub kind: u8,
    /// [`FRAME_FLAG_LZ4`] or 0.
    pub flags: u8,
    /// 0.
    pub reserved: U16,
    /// Log sequence number (consecutive from 1 across the whole journal).
    pub lsn: U64,
    /// Decompressed length (equals `body_len` when not compressed).
    pub raw_len: U32,
}
const _: () = assert!(size_of::<FrameHeader>() == FRAME_HEADER_BYTES);
const _: () = assert!(std::mem::offset_of!(FrameHeader, crc) == 0);
const _: () = assert!(std::mem::offset_of!(FrameHeader, lsn) == 12);

/// Offset of the first checksummed byte of a frame.
pub const FRAME_CRC_START: usize = 4;

impl FrameHeader {
    /// The header with a zero CRC.
    fn unsealed(kind: u8, flags: u8, lsn: u64, raw_len: u32, body_len: usize) -> Self {
        FrameHeader {
            crc: U32::ZERO,
            body_len: U32::new(body_len as u32),
            kind,
            flags,
            reserved: U16::ZERO,
            lsn: U64::new(lsn),
            raw_len: U32::new(raw_len),
        }
    }

    /// Bytes 4..20 as two little-endian words (body length, kind, flags, reserved; LSN), for a
    /// single 16-byte store.
    fn checked_words(&self) -> (u64, u64) {
        const _: () = assert!(
            std::mem::offset_of!(FrameHeader, body_len) == 4
                && std::mem::offset_of!(FrameHeader, kind) == 8
                && std::mem::offset_of!(FrameHeader, flags) == 9
                && std::mem::offset_of!(FrameHeader, reserved) == 10
                && std::mem::offset_of!(FrameHeader, raw_len) == 20
        );
        let w0 = u64::from(self.body_len.get())
            | u64::from(self.kind) << 32
            | u64::from(self.flags) << 40
            | u64::from(self.reserved.get()) << 48;
        (w0, self.lsn.get())
    }

    /// Header for `body` with the CRC filled in.
    pub fn new(kind: u8, flags: u8, lsn: u64, raw_len: u32, body: &[u8]) -> Self {
        let mut h = FrameHeader::unsealed(kind, flags, lsn, raw_len, body.len());
        h.crc = U32::new(crc32(&[&h.as_bytes()[FRAME_CRC_START..], body]));
        h
    }
}

/// Appends a complete frame to `buf`: header, body, then one CRC over the contiguous range.
pub fn encode_frame(buf: &mut Vec<u8>, kind: u8, flags: u8, lsn: u64, raw_len: u32, body: &[u8]) {
    // Every header byte goes through registers and wide stores that later wide loads can take
    // from the store buffer: the checksummed bytes 4..20 as one 16-byte store (the CRC's first
    // load), then the finished header as one 16-byte and one 8-byte store (the copy into `buf`).
    // The CRC continues over the caller's body (settled memory). Checksumming the frame after
    // copying it into `buf` made every 16-byte load straddle two of the copy's stores (the range
    // starts at byte 4) and wait for them: a quarter of a 64-byte async write (perf). Same
    // checksum as one pass over bytes 4.. of the frame.
    let (w0, w1) = FrameHeader::unsealed(kind, flags, lsn, raw_len, body.len()).checked_words();
    let mut checked = [0u8; FRAME_HEADER_BYTES - FRAME_CRC_START];
    store_u64_pair((&mut checked[..16]).try_into().expect("16 bytes"), w0, w1);
    checked[16..].copy_from_slice(&raw_len.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&checked);
    crc.update(body);
    let crc = u64::from(crc.finalize());
    let mut head = [0u8; FRAME_HEADER_BYTES];
    store_u64_pair((&mut head[..16]).try_into().expect("16 bytes"), crc | w0 << 32, w0 >> 32 | w1 << 32);
    head[16..].copy_from_slice(&(w1 >> 32 | u64::from(raw_len) << 32).to_le_bytes());
    buf.extend_from_slice(&head);
    buf.extend_from_slice(body);
}

/// The entry bytes a checked frame holds: its body, decompressed when the frame is lz4
/// (`FRAME_FLAG_LZ4`, `raw_len` bytes). The error is lz4's reason (a body that checksums but does
/// not decompress).
pub fn frame_data(h: &FrameHeader, body: &[u8]) -> Result<Vec<u8>, String> {
    if h.flags & FRAME_FLAG_LZ4 != 0 {
        lz4_flex::block::decompress(body, h.raw_len.get() as usize).map_err(|e| e.to_string())
    } else {
        Ok(body.to_vec())
    }
}

/// Why the bytes at some offset are not a valid next frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameFault {
    /// Fewer bytes than a frame header remain.
    TruncatedHeader,
    /// The body would run past the end of the file.
    TruncatedBody,
    /// All-zero header (preallocated or never written space).
    Zero,
    /// Kind, flags, reserved bits or lengths are not ours.
    BadHeader,
    /// The LSN is not the one expected next.
    LsnGap {
        /// Expected.
        expected: u64,
        /// Found.
        found: u64,
    },
    /// The checksum does not match.
    Checksum,
}

impl std::fmt::Display for FrameFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameFault::TruncatedHeader => write!(f, "truncated frame header"),
            FrameFault::TruncatedBody => write!(f, "frame body runs past the end of the file"),
            FrameFault::Zero => write!(f, "zeroed bytes where a frame was expected"),
            FrameFault::BadHeader => write!(f, "invalid frame header"),
            FrameFault::LsnGap { expected, found } => write!(f, "lsn {found} where {expected} was expected"),
            FrameFault::Checksum => write!(f, "frame checksum mismatch"),
        }
    }
}

/// Checks the frame header at the start of `bytes` (which extends to the end of the file) and,
/// if the whole frame is present, its checksum. Returns the header and the frame's total length.
pub fn check_frame(bytes: &[u8], expected_lsn: u64) -> Result<(FrameHeader, usize), FrameFault> {
    let Ok((h, rest)) = FrameHeader::read_from_prefix(bytes) else { return Err(FrameFault::TruncatedHeader) };
    if h.as_bytes().iter().all(|b| *b == 0) {
        return Err(FrameFault::Zero);
    }
    let body_len = h.body_len.get();
    let compressed = h.flags & FRAME_FLAG_LZ4 != 0;
    if !(h.kind == KIND_ENTRY || h.kind == KIND_SNAPSHOT)
        || h.flags & !FRAME_FLAG_LZ4 != 0
        || h.reserved.get() != 0
        || body_len > FRAME_BODY_MAX
        || h.raw_len.get() > FRAME_BODY_MAX
        || (!compressed && h.raw_len.get() != body_len)
    {
        return Err(FrameFault::BadHeader);
    }
    if rest.len() < body_len as usize {
        return Err(FrameFault::TruncatedBody);
    }
    let end = FRAME_HEADER_BYTES + body_len as usize;
    if crc32(&[&bytes[FRAME_CRC_START..end]]) != h.crc.get() {
        return Err(FrameFault::Checksum);
    }
    if h.lsn.get() != expected_lsn {
        return Err(FrameFault::LsnGap { expected: expected_lsn, found: h.lsn.get() });
    }
    Ok((h, FRAME_HEADER_BYTES + body_len as usize))
}

/// The file name of segment `n`: 20 zero-padded digits and `.seg`, so `ls` sorts them.
pub fn segment_name(n: u64) -> String {
    format!("{n:0width$}{SEGMENT_SUFFIX}", width = SEGMENT_NAME_DIGITS)
}

/// Parses a segment file name.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    (digits.len() == SEGMENT_NAME_DIGITS && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_and_parse() {
        assert_eq!(segment_name(42), "00000000000000000042.seg");
        assert_eq!(parse_segment_name("00000000000000000042.seg"), Some(42));
        assert_eq!(parse_segment_name("42.seg"), None);
        assert_eq!(parse_segment_name("0000000000000000004a.seg"), None);
        assert!(segment_name(9) < segment_name(10));
    }

    #[test]
    fn frame_roundtrip_and_faults() {
        let body = b"hello";
        let h = FrameHeader::new(KIND_ENTRY, 0, 7, 5, body);
        let mut bytes = h.as_bytes().to_vec();
        bytes.extend_from_slice(body);
        assert_eq!(check_frame(&bytes, 7).unwrap().1, 29);
        assert_eq!(check_frame(&bytes, 8), Err(FrameFault::LsnGap { expected: 8, found: 7 }));
        assert_eq!(check_frame(&bytes[..28], 7), Err(FrameFault::TruncatedBody));
        assert_eq!(check_frame(&bytes[..10], 7), Err(FrameFault::TruncatedHeader));
        assert_eq!(check_frame(&[0u8; 40], 7), Err(FrameFault::Zero));
        let mut bad = bytes.clone();
        bad[26] ^= 1;
        assert_eq!(check_frame(&bad, 7), Err(FrameFault::Checksum));
        let mut built = Vec::new();
        encode_frame(&mut built, KIND_ENTRY, 0, 7, 5, body);
        assert_eq!(built, bytes);
        let mut bad = bytes.clone();
        bad[0] ^= 1;
        assert_eq!(check_frame(&bad, 7), Err(FrameFault::Checksum));
    }

    /// `encode_frame` checksums the header from a register copy and then the body: it must equal
    /// `FrameHeader::new` (one pass over the contiguous bytes) for every body length around the
    /// CRC's block sizes, both kinds, both flags and LSNs/lengths that fill every header byte.
    #[test]
    fn encode_frame_matches_the_one_pass_header() {
        let body: Vec<u8> = (0..600u32).map(|i| (i * 37 + 11) as u8).collect();
        for len in (0..=300).chain([511, 512, 513, 600]) {
            for (kind, flags, lsn) in [(KIND_ENTRY, 0, 1), (KIND_SNAPSHOT, FRAME_FLAG_LZ4, 0x0102_0304_0506_0708)] {
                let raw_len = if flags == 0 { len as u32 } else { 0xa0b0_c0d0 ^ len as u32 };
                let mut built = vec![0xee; 3];
                encode_frame(&mut built, kind, flags, lsn, raw_len, &body[..len]);
                let mut want = vec![0xee; 3];
                want.extend_from_slice(FrameHeader::new(kind, flags, lsn, raw_len, &body[..len]).as_bytes());
                want.extend_from_slice(&body[..len]);
                assert!(built == want, "body {len}, kind {kind}");
                if flags == 0 {
                    assert_eq!(check_frame(&built[3..], lsn).map(|(_, n)| n), Ok(FRAME_HEADER_BYTES + len));
                }
            }
        }
    }
}
