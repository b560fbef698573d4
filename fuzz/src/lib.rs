//! The fuzz harness: one function per target, each taking arbitrary bytes and panicking only when
//! a property fails. The cargo-fuzz targets in `fuzz_targets/` call these, and the proptest suite
//! `tests/fuzz_decoders.rs` includes this file by path, so both check exactly the same properties.
//!
//! Checksums make random bytes useless past the first check, so every target runs twice: on the
//! bytes as given, and on a "sealed" copy whose CRC fields were recomputed over whatever the
//! bytes hold (headers, states, watermarks, slots, frames). The sealed copy reaches the decoders'
//! deeper checks; neither copy is ever trusted to be well-formed.
//!
//! Properties checked everywhere: no panic; every decoder that accepts its input re-encodes it
//! byte for byte; a single flipped bit in checksum-covered bytes is never accepted; read-only
//! opens never change anything; a refused writer open leaves every byte as it was. More
//! invariants (recovery is idempotent, an accepted journal takes a write and reopens clean) run
//! with `REPLAYLOG_FUZZ_STRICT=1`.

#![allow(dead_code)] // each user (a fuzz target, the test suite) calls only part of it

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use replaylog::archive::{ArchiveHeader, decode_archived, decode_record, encode_record, encode_record_in_lane};
use replaylog::journal::{Position, ReadOnlyJournal, validate_with};
use replaylog::lowlevel::format::journal::{
    DATA_OFFSET, FRAME_BODY_MAX, FRAME_CRC_START, FRAME_HEADER_BYTES, FrameFault, KIND_ENTRY, KIND_SNAPSHOT,
    SEGMENT_HEADER_BYTES, SegmentHeader, WATERMARK_BYTES, WATERMARK_OFFSETS, Watermark, check_frame, encode_frame,
    parse_segment_name, segment_name,
};
use replaylog::lowlevel::format::layout::Layout;
use replaylog::lowlevel::format::ring::{
    Clock, EVIDENCE_BYTES_MAX, EVIDENCE_BYTES_MIN, EVIDENCE_ENTRY_CRC, EVIDENCE_ENTRY_HEADER_BYTES,
    EVIDENCE_HEADER_BYTES, Geometry, HEADER_A_OFFSET, HEADER_B_OFFSET, LAYOUT_BYTES_MAX, LAYOUT_OFFSET,
    RECORD_BYTES_MAX, RING_VERSION_2, RingHeader, RingState, SECTOR_BYTES, SEQ_BUSY, SLOT_CRC, SLOT_CRC_START,
    SLOT_EVIDENCE_BYTES, SLOT_FLAG_EPOCH_FIRST, SLOT_FLAG_EVIDENCE, SLOT_HEADER_BYTES, SLOT_MAGIC_OFFSET, STATE_BYTES,
    STATE_OFFSETS, SlotFault, check_slot, decode_cursor, slot_header_tail,
};
use replaylog::lowlevel::format::{crc32, crc32c};
use replaylog::lowlevel::storage::Storage;
use replaylog::lowlevel::storage::sim::SimStorage;
use replaylog::zerocopy::{FromBytes, IntoBytes};
use replaylog::{Journal, JournalOptions, RawReader, RawRing, ReadOutcome, Recovery, RingLog, StartAt};

/// Record type of the fuzzed rings, and their capacity: seeds are rings of this shape.
pub type RingRecord = [u8; 16];
/// Capacity passed to `RingLog::open`.
pub const RING_CAPACITY: u64 = 4;
/// The journal directory inside the simulated disk.
pub const JOURNAL_DIR: &str = "/j";

/// Whether the extra invariants run (`REPLAYLOG_FUZZ_STRICT` set).
pub fn strict() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("REPLAYLOG_FUZZ_STRICT").is_some_and(|v| v != "0"))
}

/// Reads little-endian fields off the front of the input; past its end every field reads 0.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0u8; N];
        let n = N.min(self.data.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        out
    }

    /// One byte.
    pub fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }

    /// A `u16`.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.take())
    }

    /// A `u64`.
    pub fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.take())
    }

    /// What is left.
    pub fn rest(self) -> &'a [u8] {
        self.data
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

fn put_crc(b: &mut [u8], at: usize, covered: std::ops::Range<usize>) {
    let crc = crc32(&[&b[covered]]);
    b[at..at + 4].copy_from_slice(&crc.to_le_bytes());
}

/// A few bit positions inside `0..len`, spread over the range and varied by `salt`.
fn flip_positions(len: usize, salt: u64) -> impl Iterator<Item = (usize, u8)> {
    let picks = [0, len / 3, len / 2, len.saturating_sub(1), (salt % len.max(1) as u64) as usize];
    picks.into_iter().enumerate().map(move |(k, p)| (p.min(len.saturating_sub(1)), 1u8 << ((salt >> (3 * k)) & 7)))
}

// ---- sealing: recompute checksums over whatever the bytes hold ---------------------------------

/// Recomputes the CRC of one slot (`slot.len() == g.slot_bytes`) over the range its own header
/// claims. Returns whether a CRC could be computed (the evidence length fits the geometry).
pub fn seal_slot(g: &Geometry, slot: &mut [u8]) -> bool {
    let evidence = u16_at(slot, SLOT_EVIDENCE_BYTES) as usize;
    if evidence as u32 > g.evidence_bytes_max {
        return false;
    }
    let body_end = g.checked_end(evidence as u16);
    let crc = g.slot_crc(&slot[SLOT_CRC_START..body_end]);
    slot[SLOT_CRC..SLOT_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    true
}

/// Recomputes the CRC of a version 3 evidence entry over the `evidence_bytes` its slot claims.
pub fn seal_evidence_entry(slot: &[u8], entry: &mut [u8]) {
    let evidence = u16_at(slot, SLOT_EVIDENCE_BYTES) as usize;
    let end = EVIDENCE_ENTRY_HEADER_BYTES + evidence;
    if evidence == 0 || end > entry.len() {
        return;
    }
    let crc = crc32c(&[], &[&entry[..EVIDENCE_ENTRY_CRC], &entry[EVIDENCE_ENTRY_HEADER_BYTES..end]]);
    entry[EVIDENCE_ENTRY_CRC..EVIDENCE_ENTRY_CRC + 4].copy_from_slice(&crc.to_le_bytes());
}

/// Seals a whole ring file: the layout CRC and CRC of both header copies, both state copies, and
/// every slot the file holds under the geometry header copy A (or B) describes.
pub fn seal_ring(b: &mut [u8]) {
    let len = b.len();
    for base in [HEADER_A_OFFSET as usize, HEADER_B_OFFSET as usize] {
        if len < base + SECTOR_BYTES as usize {
            continue;
        }
        let layout_bytes = u32_at(b, base + 72) as usize;
        let layout_start = LAYOUT_OFFSET as usize;
        if layout_bytes > 0 && layout_bytes <= LAYOUT_BYTES_MAX as usize && layout_start + layout_bytes <= len {
            let crc = crc32(&[&b[layout_start..layout_start + layout_bytes]]);
            b[base + 76..base + 80].copy_from_slice(&crc.to_le_bytes());
        }
        put_crc(b, base + 508, base..base + 508);
    }
    for off in STATE_OFFSETS.map(|o| o as usize) {
        if len >= off + STATE_BYTES {
            put_crc(b, off + 24, off..off + 24);
        }
    }
    let header = [HEADER_A_OFFSET, HEADER_B_OFFSET]
        .into_iter()
        .find_map(|o| b.get(o as usize..).and_then(|s| RingHeader::read_from_prefix(s).ok()).map(|(h, _)| h));
    let Some(h) = header else { return };
    let sane = h.record_bytes.get() <= RECORD_BYTES_MAX && h.evidence_bytes_max.get() <= EVIDENCE_BYTES_MAX;
    let (rb, ev, cap, lb) = (
        h.record_bytes.get(),
        h.evidence_bytes_max.get(),
        h.capacity_slots.get(),
        h.layout_bytes.get().min(LAYOUT_BYTES_MAX),
    );
    let geometry = match h.version.get() {
        RING_VERSION_2 => Geometry::version_2(rb, ev, cap, lb),
        _ => Geometry::new(rb, ev, cap, lb, Clock::from_tag(h.clock.get()).unwrap_or(Clock::None)),
    };
    let Some(g) = geometry.filter(|_| sane) else { return };
    let stride = g.slot_bytes as usize;
    let entry_stride = g.evidence_entry_bytes as usize;
    let mut index = 0;
    while index < g.capacity_slots {
        let off = g.slot_offset(index) as usize;
        if off + stride > len {
            break;
        }
        seal_slot(&g, &mut b[off..off + stride]);
        let entry = g.evidence_entry_offset(index) as usize;
        if g.evidence_out_of_line() && entry + entry_stride <= len {
            let (head, tail) = b.split_at_mut(entry);
            seal_evidence_entry(&head[off..off + stride], &mut tail[..entry_stride]);
        }
        index += 1;
    }
}

/// Seals the frames from `start` on, each over the length its header claims, until a frame would
/// run past the end or an all-zero header (preallocated space) is met.
pub fn seal_frames(b: &mut [u8], start: usize) {
    let mut off = start;
    while off + FRAME_HEADER_BYTES <= b.len() {
        if b[off..off + FRAME_HEADER_BYTES].iter().all(|x| *x == 0) {
            return;
        }
        let body = u32_at(b, off + 4);
        let end = off + FRAME_HEADER_BYTES + body as usize;
        if body > FRAME_BODY_MAX || end > b.len() {
            return;
        }
        put_crc(b, off, off + FRAME_CRC_START..end);
        off = end;
    }
}

/// Seals a journal segment: header, both watermark copies, then the frames from 4096 on.
pub fn seal_segment(b: &mut [u8]) {
    if b.len() >= SEGMENT_HEADER_BYTES {
        put_crc(b, 60, 0..60);
    }
    for off in WATERMARK_OFFSETS.map(|o| o as usize) {
        if b.len() >= off + WATERMARK_BYTES {
            put_crc(b, off + 28, off..off + 28);
        }
    }
    seal_frames(b, DATA_OFFSET as usize);
}

// ---- slot_decoder ------------------------------------------------------------------------------

/// Input: `record_bytes - 1` (u8), `evidence_bytes_max - 16` (u16, mod 497), `capacity - 1`
/// (u8, mod 64), the slot index (u8, mod capacity), then the slot's bytes (zero-padded or cut to
/// the slot stride).
pub fn slot_decoder(data: &[u8]) {
    let mut input = Input::new(data);
    let record_bytes = 1 + u32::from(input.u8());
    let evidence_bytes_max = EVIDENCE_BYTES_MIN + u32::from(input.u16()) % 497;
    let capacity = 1 + u64::from(input.u8()) % 64;
    let index = u64::from(input.u8()) % capacity;
    // Version 2 slots: evidence inline, so one slot's bytes are a whole record. (Version 3 slots
    // and their evidence entries are fuzzed through real files by `ring_open`.)
    let g =
        Geometry::version_2(record_bytes, evidence_bytes_max, capacity, 0).expect("a small geometry never overflows");
    let mut slot = input.rest().to_vec();
    slot.resize(g.slot_bytes as usize, 0);
    slot_properties(&g, index, &slot);
    if seal_slot(&g, &mut slot) {
        slot_properties(&g, index, &slot);
    }
}

/// What must hold of `check_slot` on any slot bytes.
pub fn slot_properties(g: &Geometry, index: u64, slot: &[u8]) {
    let meta = match check_slot(g, index, slot) {
        Ok(meta) => meta,
        Err(fault) => {
            assert!(!fault.describe().is_empty());
            if fault == SlotFault::NeverWritten {
                assert!(slot[..16].iter().all(|b| *b == 0), "NeverWritten for a slot with a non-zero header");
            }
            return;
        }
    };
    let rb = g.record_bytes as usize;
    let evidence = meta.evidence_bytes as usize;
    assert_eq!(meta.seq % g.capacity_slots, index, "accepted a slot whose seq belongs elsewhere");
    assert_ne!(meta.seq, SEQ_BUSY);
    assert!(u32::from(meta.evidence_bytes) <= g.evidence_bytes_max, "evidence longer than the slot reserves");
    assert!(evidence == 0 || evidence >= EVIDENCE_HEADER_BYTES, "evidence shorter than its header");
    assert_eq!(u64_at(slot, 0), meta.seq);
    // The header re-encodes byte for byte from what was returned (unknown flags are refused).
    let flags =
        if evidence > 0 { SLOT_FLAG_EVIDENCE } else { 0 } | if meta.epoch_first { SLOT_FLAG_EPOCH_FIRST } else { 0 };
    let tail = slot_header_tail(meta.seq, meta.epoch, flags, meta.evidence_bytes);
    assert_eq!(tail[..], slot[SLOT_MAGIC_OFFSET..SLOT_HEADER_BYTES], "accepted slot header does not re-encode");
    let body_end = SLOT_HEADER_BYTES + rb + evidence;
    assert_eq!(crc32(&[&slot[SLOT_CRC_START..body_end]]), u32_at(slot, SLOT_CRC), "accepted a wrong checksum");

    // Evidence through the public decoder: an archive entry carries a slot's evidence verbatim.
    let record = &slot[SLOT_HEADER_BYTES..SLOT_HEADER_BYTES + rb];
    let ev = &slot[SLOT_HEADER_BYTES + rb..body_end];
    let mut entry = Vec::with_capacity(13 + rb + evidence);
    entry.extend_from_slice(&meta.seq.to_le_bytes());
    entry.extend_from_slice(&meta.epoch.to_le_bytes());
    entry.push(u8::from(evidence > 0));
    entry.extend_from_slice(record);
    entry.extend_from_slice(ev);
    match decode_record(&entry, rb) {
        Some(r) => {
            assert_eq!((r.seq, r.epoch, &r.bytes[..]), (meta.seq, meta.epoch, record));
            assert_eq!(r.evidence.is_some(), evidence > 0);
            let mut again = Vec::new();
            encode_record(&mut again, &r);
            assert_eq!(again, entry, "archived record does not re-encode");
        }
        None => panic!("check_slot accepted evidence the archive decoder refuses: {ev:?}"),
    }

    // No false accept: any single flipped bit in the seq word, the CRC or the checksummed bytes
    // is refused. (The evidence length is skipped: changing it changes the checksummed range, so
    // CRC-32 guarantees nothing there.)
    for (pos, bit) in flip_positions(body_end, meta.seq ^ u64::from(meta.epoch)) {
        if (SLOT_EVIDENCE_BYTES..SLOT_EVIDENCE_BYTES + 2).contains(&pos) {
            continue;
        }
        let mut m = slot.to_vec();
        m[pos] ^= bit;
        let r = check_slot(g, index, &m);
        assert!(r.is_err(), "slot with bit {bit:#x} of byte {pos} flipped accepted: {r:?}");
    }
}

// ---- frame_decoder -----------------------------------------------------------------------------

/// Input: the expected LSN (u64), then the bytes. `check_frame` runs on the bytes and on a sealed
/// copy; every other pure decoder (layout, watermark, segment and ring headers, ring state and
/// cursor, archive header and record, segment names) runs on the same bytes.
pub fn frame_decoder(data: &[u8]) {
    let mut input = Input::new(data);
    let expected = input.u64();
    let bytes = input.rest();
    frame_properties(bytes, expected);
    let mut sealed = bytes.to_vec();
    seal_frames(&mut sealed, 0);
    if sealed != bytes {
        frame_properties(&sealed, expected);
    }
    other_decoders(bytes, expected);
}

/// What must hold of `check_frame` on any bytes.
pub fn frame_properties(bytes: &[u8], expected: u64) {
    match check_frame(bytes, expected) {
        Ok((h, n)) => {
            assert!(n <= bytes.len(), "frame of {n} bytes in {} bytes", bytes.len());
            assert_eq!(h.lsn.get(), expected, "accepted a frame with another LSN");
            assert_eq!(n, FRAME_HEADER_BYTES + h.body_len.get() as usize);
            assert!(h.kind == KIND_ENTRY || h.kind == KIND_SNAPSHOT);
            let mut again = Vec::new();
            encode_frame(&mut again, h.kind, h.flags, h.lsn.get(), h.raw_len.get(), &bytes[FRAME_HEADER_BYTES..n]);
            assert_eq!(again[..], bytes[..n], "accepted frame does not re-encode");
            assert!(check_frame(&bytes[..n - 1], expected).is_err(), "accepted a frame missing its last byte");
            // No false accept (the body length, which moves the checksummed range, is skipped).
            for (pos, bit) in flip_positions(n, h.crc.get().into()) {
                if (4..8).contains(&pos) {
                    continue;
                }
                let mut m = bytes.to_vec();
                m[pos] ^= bit;
                let r = check_frame(&m, expected);
                assert!(r.is_err(), "frame with bit {bit:#x} of byte {pos} flipped accepted: {r:?}");
            }
        }
        Err(FrameFault::LsnGap { expected: e, found }) => {
            assert_eq!(e, expected);
            assert_ne!(found, expected);
            // Everything but the LSN checked out: at the LSN it has, the frame is good.
            assert!(check_frame(bytes, found).is_ok(), "LsnGap for a frame that is not otherwise valid");
        }
        Err(FrameFault::TruncatedHeader) => assert!(bytes.len() < FRAME_HEADER_BYTES),
        Err(FrameFault::Zero) => assert!(bytes[..FRAME_HEADER_BYTES].iter().all(|b| *b == 0)),
        Err(fault) => assert!(!fault.to_string().is_empty()),
    }
}

/// Every other pure decoder on `bytes`: never panics, and what one accepts re-encodes exactly.
pub fn other_decoders(bytes: &[u8], salt: u64) {
    if let Ok(layout) = Layout::decode(bytes) {
        assert_eq!(layout.encode(), bytes, "decoded layout does not re-encode");
        let _ = layout.to_string();
        let _ = layout.check(salt as u32);
    }
    if let Some(w) = Watermark::decode(bytes) {
        let again = Watermark::new(w.generation.get(), w.valid_bytes.get(), w.next_lsn.get(), w.sealed.get() == 1);
        assert_eq!(again, w, "decoded watermark does not re-encode");
    }
    if let Some(s) = RingState::decode(bytes) {
        assert_ne!(s.generation.get(), 0);
    }
    if let Ok((h, _)) = SegmentHeader::read_from_prefix(bytes) {
        let _ = h.crc_ok();
    }
    if let Ok((h, _)) = RingHeader::read_from_prefix(bytes) {
        let _ = h.crc_ok();
    }
    if bytes.len() >= 16 {
        if let Some(next) = decode_cursor(u64_at(bytes, 0), u64_at(bytes, 8)) {
            assert_eq!(next, !u64_at(bytes, 8));
        }
    }
    if let Some(h) = ArchiveHeader::decode(bytes) {
        assert_eq!(h.encode(), bytes, "decoded archive header does not re-encode");
    }
    let fitted = archive_record_bytes_fitting(bytes);
    for record_bytes in [0, 16, (salt & 0xFFF) as usize, bytes.len().saturating_sub(13), fitted] {
        let archived = decode_archived(bytes, record_bytes);
        // The lane-less decoder accepts exactly the same entries, and drops only the lane.
        assert_eq!(
            decode_record(bytes, record_bytes).as_ref(),
            archived.as_ref().ok().map(|a| &a.record),
            "decode_record and decode_archived disagree"
        );
        match archived {
            Ok(a) => {
                let mut again = Vec::new();
                encode_record_in_lane(&mut again, &a.record, a.lane.as_deref())
                    .expect("a decoded lane name re-encodes");
                assert_eq!(again, bytes, "decoded archive record does not re-encode");
                if a.lane.is_none() {
                    let mut plain = Vec::new();
                    encode_record(&mut plain, &a.record);
                    assert_eq!(plain, bytes, "encode_record differs from encode_record_in_lane without a lane");
                }
            }
            Err(why) => assert!(!why.to_string().is_empty()),
        }
    }
    if let Ok(name) = std::str::from_utf8(bytes) {
        if let Some(n) = parse_segment_name(name) {
            assert_eq!(segment_name(n), name);
        }
    }
}

/// The record size that makes `bytes` exactly an archive record entry without evidence, as its
/// flags byte announces a timestamp (8 bytes) and a lane name (1 + its length byte): so the
/// decoders get past the record-size check on entries with timestamp and lane too.
fn archive_record_bytes_fitting(bytes: &[u8]) -> usize {
    let Some(&flags) = bytes.get(12) else { return 0 };
    let mut at = 13;
    if flags & 0x02 != 0 {
        at += 8;
    }
    if flags & 0x04 != 0 {
        at += 1 + bytes.get(at).map_or(0, |n| usize::from(*n));
    }
    bytes.len().saturating_sub(at)
}

// ---- ring_open ---------------------------------------------------------------------------------

/// Input: a whole ring file. It is written to `path` (raw, then sealed) and opened with
/// `RawRing::open` (read-only: the file must not change) and `RingLog::<[u8; 16]>::open(path, 4)`
/// (a refused open must leave the file byte-identical).
pub fn ring_open(data: &[u8], path: &Path) {
    ring_open_once(data, path);
    let mut sealed = data.to_vec();
    seal_ring(&mut sealed);
    if sealed != data {
        ring_open_once(&sealed, path);
    }
    let _ = std::fs::remove_file(path);
}

fn ring_open_once(bytes: &[u8], path: &Path) {
    std::fs::write(path, bytes).expect("write the fuzzed ring file");
    if let Ok(ring) = RawRing::open(path) {
        exercise_raw_ring(ring);
    }
    assert!(std::fs::read(path).expect("read back") == bytes, "RawRing (read-only) changed the file");
    match RingLog::<RingRecord>::open(path, RING_CAPACITY) {
        Ok(log) => {
            let report = log.recovery().clone();
            assert_eq!(report.slots_valid + report.slots_never_written + report.slots_damaged, RING_CAPACITY);
            if let Some((first, last)) = report.window {
                assert!(first <= last && last - first < RING_CAPACITY, "window {first}..={last} exceeds capacity");
                assert_eq!(log.next_seq(), last + 1);
            }
            let records = log.replay_records();
            drop(log);
            // What a writer accepted (and recovered), a reader opens.
            let ring = RawRing::open(path).unwrap_or_else(|e| panic!("RawRing refuses a file RingLog accepted: {e}"));
            exercise_raw_ring(ring);
            // An open that took the last epoch leaves a ring no writer can open again (by design).
            if strict() && report.epoch != u32::MAX {
                // Recovery is idempotent: a second open finds the same records.
                let again = RingLog::<RingRecord>::open(path, RING_CAPACITY)
                    .unwrap_or_else(|e| panic!("reopen refused after a successful open: {e} ({report:?})"));
                if let (Ok(a), Ok(b)) = (&records, again.replay_records()) {
                    assert_eq!(a, &b, "a second open recovered other records ({report:?})");
                }
            }
        }
        Err(e) => {
            let after = std::fs::read(path).expect("read back");
            assert!(after == bytes, "a refused RingLog::open changed the file ({e})");
            assert!(!e.to_string().is_empty());
        }
    }
}

fn exercise_raw_ring(ring: RawRing) {
    let cap = ring.geometry().capacity_slots;
    let _ = (ring.header().crc_ok(), ring.layout().map(|l| l.to_string()), ring.cursor_hint(), ring.state());
    if let Some(run) = ring.window() {
        assert!(run.first <= run.last && run.last - run.first < cap, "window {run:?} exceeds capacity {cap}");
    }
    let census = ring.census();
    assert_eq!(census.valid + census.never_written + census.bad.len() as u64, cap);
    if let Ok(records) = ring.records() {
        assert!(records.len() as u64 <= cap);
        assert!(records.windows(2).all(|w| w[1].seq == w[0].seq + 1), "records out of order");
    }
    for i in 0..cap.min(64) {
        let _ = ring.read_slot(i);
    }
    let mut reader = RawReader::new(ring, StartAt::Oldest);
    for _ in 0..cap.min(64) + 2 {
        match reader.poll() {
            Ok(ReadOutcome::Pending) | Err(_) => break,
            Ok(_) => {}
        }
    }
}

// ---- journal_open ------------------------------------------------------------------------------

/// Input: a control byte, a split point (u16), then segment bytes: one segment, or two split at
/// `split % (len + 1)` (control bit 0). Control bit 1 names segments by the number in their own
/// header (else `control >> 5` and the next); bit 2 adds the leftover of an interrupted segment
/// creation; bit 3 a `backup/` directory; bit 4 opens with `Recovery::Absolute`.
pub fn journal_open(data: &[u8]) {
    let mut input = Input::new(data);
    let control = input.u8();
    let split = usize::from(input.u16());
    let rest = input.rest();
    let files: Vec<Vec<u8>> = if control & 1 != 0 {
        let (a, b) = rest.split_at(split % (rest.len() + 1));
        vec![a.to_vec(), b.to_vec()]
    } else {
        vec![rest.to_vec()]
    };
    journal_open_once(control, &files);
    let mut sealed = files.clone();
    sealed.iter_mut().for_each(|f| seal_segment(f));
    if sealed != files {
        journal_open_once(control, &sealed);
    }
}

/// Every file and directory under `dir` with its content (`None` for a directory).
pub fn tree(sim: &SimStorage, dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut names = sim.list(dir).expect("list");
    names.sort();
    for name in names {
        let path = dir.join(name);
        match sim.contents(&path) {
            Some(bytes) => {
                out.insert(path, Some(bytes));
            }
            None => {
                out.extend(tree(sim, &path));
                out.insert(path, None);
            }
        }
    }
    out
}

/// Builds the simulated journal directory `control` and `files` describe.
pub fn build_journal(control: u8, files: &[Vec<u8>]) -> (SimStorage, Vec<PathBuf>) {
    let sim = SimStorage::new();
    let dir = Path::new(JOURNAL_DIR);
    sim.create_dir(dir).expect("mkdir");
    if control & 8 != 0 {
        sim.create_dir(&dir.join("backup")).expect("mkdir backup");
    }
    let mut paths = Vec::new();
    let mut last: Option<u64> = None;
    for (i, bytes) in files.iter().enumerate() {
        let mut n =
            if control & 2 != 0 && bytes.len() >= 24 { u64_at(bytes, 16) } else { u64::from(control >> 5) + i as u64 };
        if let Some(prev) = last.filter(|p| *p == n) {
            n = prev.wrapping_add(1);
        }
        last = Some(n);
        let path = dir.join(segment_name(n));
        sim.set_contents(&path, bytes.clone());
        paths.push(path);
    }
    if control & 4 != 0 {
        let n = last.map_or(0, |n| n.wrapping_add(1));
        sim.set_contents(&dir.join(format!("{}.tmp", segment_name(n))), Vec::new());
    }
    (sim, paths)
}

fn journal_open_once(control: u8, files: &[Vec<u8>]) {
    let (sim, paths) = build_journal(control, files);
    let dir = Path::new(JOURNAL_DIR);
    let storage: Arc<dyn Storage> = Arc::new(sim.clone());
    let before = tree(&sim, dir);

    // Read-only: validate (the directory and each segment), the read-only handle, iteration.
    let _ = validate_with(storage.clone(), dir).map(|v| v.problem);
    for p in &paths {
        let _ = validate_with(storage.clone(), p);
    }
    if let Ok(ro) = ReadOnlyJournal::open_with(storage.clone(), dir) {
        exercise_read_only(&ro, files.first().map_or(0, |f| f.len() as u64));
    }
    assert!(tree(&sim, dir) == before, "read-only access changed the journal");

    let recovery = if control & 16 != 0 { Recovery::Absolute } else { Recovery::TolerateTail };
    let opts = || JournalOptions::default().storage(storage.clone()).recovery(recovery);
    match Journal::open(dir, opts()) {
        Ok(journal) => {
            let _ = (journal.recovery().cloned(), journal.next_lsn(), journal.durable_lsn());
            if strict() {
                let next = journal.next_lsn().expect("open").0;
                journal.write(b"fuzz").unwrap_or_else(|e| panic!("write after a successful open: {e}"));
                journal.close().unwrap_or_else(|e| panic!("close after a successful open: {e}"));
                let ro = ReadOnlyJournal::open_with(storage.clone(), dir).expect("read-only open after close");
                assert_eq!(ro.validation().problem, None, "a journal written and closed is not clean");
                let last = ro.iter_from(Position::Lsn(next)).expect("iter").next();
                assert!(matches!(&last, Some(Ok(i)) if i.data == b"fuzz"), "the entry written is not there: {last:?}");
                Journal::open(dir, opts()).unwrap_or_else(|e| panic!("reopen refused after write and close: {e}"));
            }
        }
        Err(e) => {
            assert!(tree(&sim, dir) == before, "a refused Journal::open changed the journal ({e})");
        }
    }
}

fn exercise_read_only(ro: &ReadOnlyJournal, salt: u64) {
    let segments = ro.segments();
    let validation = ro.validation();
    let _ = (ro.problem(), ro.newest_snapshot());
    let starts = [
        Position::Start,
        Position::NewestSnapshot,
        Position::Lsn(salt),
        Position::At { segment: segments.first().map_or(0, |s| s.number), offset: salt },
    ];
    for (k, from) in starts.into_iter().enumerate() {
        let Ok(iter) = ro.iter_from(from) else { continue };
        let mut prev: Option<u64> = None;
        let mut n = 0u64;
        let mut failed = false;
        for item in iter.take(1 << 16) {
            let Ok(item) = item else {
                failed = true;
                break;
            };
            if strict() {
                assert!(
                    prev.is_none_or(|p| item.lsn == p.wrapping_add(1)),
                    "LSNs not consecutive: {prev:?} then {}",
                    item.lsn
                );
            }
            prev = Some(item.lsn);
            n += 1;
        }
        if strict() && k == 0 && !failed {
            assert_eq!(n, validation.chunks, "iteration from the start disagrees with validation");
        }
    }
    let _ = ro.replay(|_| {});
}

// ---- samples: real files made by the library, for seeds and mutation bases --------------------

/// A `slot_decoder` input holding a valid slot: `ev` is `(kind, other_code, message)`.
pub fn slot_input(
    rb: u32,
    ev_max: u32,
    cap: u64,
    seq: u64,
    epoch: u32,
    first: bool,
    ev: Option<(u16, u16, &str)>,
) -> Vec<u8> {
    let g = Geometry::version_2(rb, ev_max, cap, 0).expect("geometry");
    let mut slot = vec![0u8; g.slot_bytes as usize];
    let mut evidence = Vec::new();
    if let Some((kind, other, msg)) = ev {
        evidence.extend_from_slice(&kind.to_le_bytes());
        evidence.extend_from_slice(&other.to_le_bytes());
        evidence.extend_from_slice(&(msg.len() as u32).to_le_bytes());
        evidence.extend_from_slice(&(-110i64).to_le_bytes());
        evidence.extend_from_slice(msg.as_bytes());
    }
    let flags = if ev.is_some() { SLOT_FLAG_EVIDENCE } else { 0 } | if first { SLOT_FLAG_EPOCH_FIRST } else { 0 };
    slot[..8].copy_from_slice(&seq.to_le_bytes());
    slot[SLOT_MAGIC_OFFSET..SLOT_HEADER_BYTES].copy_from_slice(&slot_header_tail(
        seq,
        epoch,
        flags,
        evidence.len() as u16,
    ));
    for (i, b) in slot[SLOT_HEADER_BYTES..SLOT_HEADER_BYTES + rb as usize].iter_mut().enumerate() {
        *b = (i as u8).wrapping_mul(37) ^ seq as u8;
    }
    let ev_at = SLOT_HEADER_BYTES + rb as usize;
    slot[ev_at..ev_at + evidence.len()].copy_from_slice(&evidence);
    seal_slot(&g, &mut slot);
    let ev_field = (ev_max - EVIDENCE_BYTES_MIN) as u16;
    let mut input = vec![(rb - 1) as u8, ev_field as u8, (ev_field >> 8) as u8, (cap - 1) as u8, (seq % cap) as u8];
    input.extend_from_slice(&slot);
    input
}

/// Runs `f` on a new journal in a simulated directory; returns its segment files' bytes.
pub fn journal_segments(f: impl FnOnce(&Journal)) -> Vec<Vec<u8>> {
    let sim = SimStorage::new();
    let dir = Path::new(JOURNAL_DIR);
    let j = Journal::open(dir, JournalOptions::default().storage(Arc::new(sim.clone()))).expect("open");
    f(&j);
    j.close().expect("close");
    (0..).map_while(|n| sim.contents(&dir.join(segment_name(n)))).collect()
}

/// A `journal_open` input: the control byte, the split point, then the first two segments.
pub fn journal_input(control: u8, segs: &[Vec<u8>]) -> Vec<u8> {
    let split = segs.first().map_or(0, |s| s.len() as u16);
    let mut v = vec![control, split as u8, (split >> 8) as u8];
    for s in segs.iter().take(2) {
        v.extend_from_slice(s);
    }
    v
}

/// An entry that lz4 compresses (the journal compresses entries of 4096 bytes and more).
pub fn compressible_entry() -> Vec<u8> {
    (0..6000u32).map(|i| (i % 10) as u8).collect()
}

/// Real journals: (name, segment files).
pub fn sample_journals() -> Vec<(&'static str, Vec<Vec<u8>>)> {
    let write = |j: &Journal, range: std::ops::Range<u64>| {
        for i in range {
            j.write(&i.to_le_bytes()).expect("write");
        }
    };
    let one = journal_segments(|j| write(j, 0..5));
    let rolled = journal_segments(|j| {
        write(j, 0..3);
        j.roll().expect("roll");
        write(j, 3..5);
    });
    let snapshot = journal_segments(|j| {
        write(j, 0..2);
        j.snapshot(b"state").expect("snapshot");
        j.write(b"after").expect("write");
    });
    let compressed = journal_segments(|j| {
        j.write(&compressible_entry()).expect("write");
    });
    let mut torn = one.clone();
    torn[0].extend_from_slice(&[0x5A; 40]);
    vec![("one", one), ("rolled", rolled), ("snapshot", snapshot), ("compressed", compressed), ("torn-tail", torn)]
}

/// The record layout of the sample ring with a layout block.
pub fn sample_layout() -> Layout {
    Layout::new("R16", vec![replaylog::Field::array("bytes", replaylog::FieldType::Bytes, 0, 16)])
}

/// Real rings of `[u8; 16]` and capacity 4, made in `dir`: (name, file bytes).
pub fn sample_rings(dir: &Path) -> Vec<(&'static str, Vec<u8>)> {
    use replaylog::{FailureKind, ReplayFailureEvidence, RingOptions};
    let rec = |s: u64| [s as u8; 16];
    let make = |name: &str, opts: RingOptions, f: &dyn Fn(&Path)| {
        let path = dir.join(name);
        let _ = std::fs::remove_file(&path);
        drop(RingLog::<RingRecord>::open_with(&path, RING_CAPACITY, opts).expect("create"));
        f(&path);
        let bytes = std::fs::read(&path).expect("read");
        std::fs::remove_file(&path).expect("remove");
        bytes
    };
    let open = |p: &Path| RingLog::<RingRecord>::open(p, RING_CAPACITY).expect("open");
    vec![
        ("fresh", make("fresh", RingOptions::default(), &|_| {})),
        (
            "three",
            make("three", RingOptions::default(), &|p| {
                let mut log = open(p);
                (0..3).for_each(|s| log.append(&rec(s)).expect("append"));
                log.sync().expect("sync");
            }),
        ),
        (
            "wrapped-evidence",
            make("wrapped", RingOptions::default(), &|p| {
                let mut log = open(p);
                for s in 0..7 {
                    if s % 3 == 1 {
                        let ev = ReplayFailureEvidence::new(FailureKind::Timeout, s as i64, "late");
                        log.append_with_failure(&rec(s), &ev).expect("append");
                    } else {
                        log.append(&rec(s)).expect("append");
                    }
                    if s == 4 {
                        log.sync().expect("sync");
                    }
                }
            }),
        ),
        (
            "layout",
            make("layout", RingOptions::default().layout(sample_layout()), &|p| {
                let mut log = open(p);
                (0..2).for_each(|s| log.append(&rec(s)).expect("append"));
                log.sync().expect("sync");
            }),
        ),
        (
            "epochs",
            make("epochs", RingOptions::default(), &|p| {
                for round in 0..3 {
                    let mut log = open(p);
                    (0..2).for_each(|s| log.append(&rec(10 * round + s)).expect("append"));
                    if round != 1 {
                        log.sync().expect("sync");
                    }
                }
            }),
        ),
    ]
}

// ---- findings: the inputs that made a target fail (written to artifacts-found/) ---------------

/// A segment: a valid header (`number`, `first_lsn`), watermark copy 0, and entry frames with
/// these LSNs.
pub fn segment(number: u64, first_lsn: u64, watermark: Watermark, frames: &[u64]) -> Vec<u8> {
    let mut s = vec![0u8; DATA_OFFSET as usize];
    s[..SEGMENT_HEADER_BYTES].copy_from_slice(SegmentHeader::new(number, first_lsn, 0).as_bytes());
    let wm = WATERMARK_OFFSETS[0] as usize;
    s[wm..wm + WATERMARK_BYTES].copy_from_slice(watermark.as_bytes());
    for lsn in frames {
        encode_frame(&mut s, KIND_ENTRY, 0, *lsn, 3, b"abc");
    }
    s
}

/// Every failing input found so far, as `(target, name, input)` (all fixed since; the
/// `finding_*` tests in `tests/fuzz_decoders.rs` keep them fixed). Each made its target fail: a
/// refused open that changed the file, an overflow, a debug assertion, a hang (a panic inside
/// `Journal::open`'s sync left its drop waiting), a lost write (strict mode). `dir` is scratch.
pub fn findings(dir: &Path) -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let max = u64::MAX;
    let rings = sample_rings(dir);
    let fresh = &rings.iter().find(|(n, _)| *n == "fresh").expect("fresh ring").1;
    // The newest state copy of a ring, resealed after `f` changed it.
    let state = |f: &dyn Fn(&mut [u8])| {
        let mut b = fresh.clone();
        let generation = |b: &[u8], o: u64| u64_at(b, o as usize);
        let off = *STATE_OFFSETS.iter().max_by_key(|o| generation(&b, **o)).expect("two copies") as usize;
        f(&mut b[off..off + STATE_BYTES]);
        put_crc(&mut b, off + 24, off..off + 24);
        b
    };
    let mut exhausted = state(&|s| s[8..12].copy_from_slice(&u32::MAX.to_le_bytes()));
    exhausted[12288 + 3 * 304 + 100] = 1; // a stray byte in a slot outside the (empty) window
    let wm = |generation, valid, next, sealed| Watermark::new(generation, valid, next, sealed);
    vec![
        ("ring_open", "epoch-exhausted-modifies-file", exhausted),
        ("ring_open", "state-generation-overflow", state(&|s| s[..8].copy_from_slice(&max.to_le_bytes()))),
        ("journal_open", "first-lsn-overflow", journal_input(0, &[segment(0, max, wm(1, 4096, max, false), &[max])])),
        (
            "journal_open",
            "watermark-generation-overflow-hang",
            journal_input(0, &[segment(0, 1, wm(max, 4096, 1, false), &[1])]),
        ),
        (
            "journal_open",
            "segment-number-overflow-open",
            journal_input(2, &[segment(max, 1, wm(1, 4096, 1, true), &[])]),
        ),
        (
            "journal_open",
            "segment-number-overflow-validate",
            journal_input(2 | 4, &[segment(max, 1, wm(1, 4096, 1, false), &[])]),
        ),
        ("journal_open", "sealed-end-below-data", journal_input(0, &[segment(0, 1, wm(1, 0, 1, true), &[1])])),
        ("journal_open", "sealed-end-mid-frame", journal_input(0, &[segment(0, 1, wm(1, 4100, 2, true), &[1])])),
        (
            "journal_open",
            "first-lsn-zero-watermark-below-data",
            journal_input(0, &[segment(0, 0, wm(1, 0, 0, false), &[])]),
        ),
        // Strict mode only (REPLAYLOG_FUZZ_STRICT=1): the entry written after open is lost.
        (
            "journal_open",
            "strict-watermark-next-lsn-ahead-loses-write",
            journal_input(0, &[segment(0, 1, wm(1, 4096, 3, false), &[1])]),
        ),
    ]
}
