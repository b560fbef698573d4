//! docs/FORMAT.md must match the code:
//! * every row of its constants tables is compared with the constant of that name, every constant
//!   known here must have a row, and every public `const` in `src/format/*.rs` must be both known
//!   here and documented;
//! * every byte map (a `| offset | size | field | meaning |` table) is compared row by row with
//!   the code: field name, offset and size, from the zerocopy structs (`offset_of!`, the field's
//!   type size) or from the offset constants where there is no struct.

use std::collections::BTreeMap;

use replaylog::lowlevel::format::archive as a;
use replaylog::lowlevel::format::journal as j;
use replaylog::lowlevel::format::layout as l;
use replaylog::lowlevel::format::ring::*;

fn code_constants() -> BTreeMap<&'static str, String> {
    let n = |v: u64| v.to_string();
    let h = |v: u64| format!("{v:#x}");
    let s = |v: &[u8]| String::from_utf8(v.to_vec()).unwrap();
    BTreeMap::from([
        ("RING_MAGIC", s(&RING_MAGIC)),
        ("RING_VERSION", n(RING_VERSION as u64)),
        ("RING_VERSION_2", n(RING_VERSION_2 as u64)),
        ("SECTOR_BYTES", n(SECTOR_BYTES)),
        ("PAGE_BYTES", n(PAGE_BYTES)),
        ("HEADER_A_OFFSET", n(HEADER_A_OFFSET)),
        ("HEADER_B_OFFSET", n(HEADER_B_OFFSET)),
        ("STATE_OFFSETS", format!("{STATE_OFFSETS:?}")),
        ("STATE_BYTES", n(STATE_BYTES as u64)),
        ("CURSOR_OFFSET", n(CURSOR_OFFSET)),
        ("CURSOR_NEXT", n(CURSOR_NEXT)),
        ("CURSOR_CHECK", n(CURSOR_CHECK)),
        ("LAYOUT_OFFSET", n(LAYOUT_OFFSET)),
        ("LAYOUT_BYTES_MAX", n(LAYOUT_BYTES_MAX as u64)),
        ("CAPACITY_MAX", n(CAPACITY_MAX)),
        ("RECORD_BYTES_MAX", n(RECORD_BYTES_MAX as u64)),
        ("EVIDENCE_BYTES_MIN", n(EVIDENCE_BYTES_MIN as u64)),
        ("EVIDENCE_BYTES_MAX", n(EVIDENCE_BYTES_MAX as u64)),
        ("EVIDENCE_BYTES_DEFAULT", n(EVIDENCE_BYTES_DEFAULT as u64)),
        ("SLOT_HEADER_BYTES", n(SLOT_HEADER_BYTES as u64)),
        ("SLOT_SEQ", n(SLOT_SEQ as u64)),
        ("SLOT_MAGIC_OFFSET", n(SLOT_MAGIC_OFFSET as u64)),
        ("SLOT_CRC", n(SLOT_CRC as u64)),
        ("SLOT_CRC_START", n(SLOT_CRC_START as u64)),
        ("SLOT_SEQ_COPY", n(SLOT_SEQ_COPY as u64)),
        ("SLOT_EPOCH", n(SLOT_EPOCH as u64)),
        ("SLOT_FLAGS", n(SLOT_FLAGS as u64)),
        ("SLOT_EVIDENCE_BYTES", n(SLOT_EVIDENCE_BYTES as u64)),
        ("SLOT_TIMESTAMP", n(SLOT_TIMESTAMP as u64)),
        ("SLOT_HEADER_BYTES_TIMED", n(SLOT_HEADER_BYTES_TIMED as u64)),
        ("SLOT_MAGIC", h(SLOT_MAGIC as u64)),
        ("SEQ_BUSY", h(SEQ_BUSY)),
        ("SLOT_FLAG_EVIDENCE", h(SLOT_FLAG_EVIDENCE as u64)),
        ("SLOT_FLAG_EPOCH_FIRST", h(SLOT_FLAG_EPOCH_FIRST as u64)),
        ("SLOT_FLAGS_KNOWN", h(SLOT_FLAGS_KNOWN as u64)),
        ("EVIDENCE_HEADER_BYTES", n(EVIDENCE_HEADER_BYTES as u64)),
        ("EVIDENCE_ENTRY_HEADER_BYTES", n(EVIDENCE_ENTRY_HEADER_BYTES as u64)),
        ("EVIDENCE_ENTRY_SEQ", n(EVIDENCE_ENTRY_SEQ as u64)),
        ("EVIDENCE_ENTRY_EPOCH", n(EVIDENCE_ENTRY_EPOCH as u64)),
        ("EVIDENCE_ENTRY_CRC", n(EVIDENCE_ENTRY_CRC as u64)),
        ("SEQ_MAX", n(SEQ_MAX)),
        ("HEADER_BYTES", n(size_of::<RingHeader>() as u64)),
        ("LAYOUT_ENCODING_VERSION", n(l::LAYOUT_ENCODING_VERSION as u64)),
        ("NAME_BYTES_MAX", n(l::NAME_BYTES_MAX as u64)),
        ("SEGMENT_MAGIC", s(&j::SEGMENT_MAGIC)),
        ("SEGMENT_VERSION", n(j::SEGMENT_VERSION as u64)),
        ("SEGMENT_HEADER_BYTES", n(j::SEGMENT_HEADER_BYTES as u64)),
        ("WATERMARK_OFFSETS", format!("{:?}", j::WATERMARK_OFFSETS)),
        ("WATERMARK_BYTES", n(j::WATERMARK_BYTES as u64)),
        ("DATA_OFFSET", n(j::DATA_OFFSET)),
        ("FRAME_HEADER_BYTES", n(j::FRAME_HEADER_BYTES as u64)),
        ("FRAME_CRC_START", n(j::FRAME_CRC_START as u64)),
        ("FRAME_BODY_MAX", n(j::FRAME_BODY_MAX as u64)),
        ("KIND_ENTRY", n(j::KIND_ENTRY as u64)),
        ("KIND_SNAPSHOT", n(j::KIND_SNAPSHOT as u64)),
        ("FRAME_FLAG_LZ4", h(j::FRAME_FLAG_LZ4 as u64)),
        ("SEGMENT_NAME_DIGITS", n(j::SEGMENT_NAME_DIGITS as u64)),
        ("SEGMENT_SUFFIX", j::SEGMENT_SUFFIX.to_string()),
        ("BACKUP_DIR", j::BACKUP_DIR.to_string()),
        ("COUNTER_MAX", n(j::COUNTER_MAX)),
        ("ARCHIVE_MAGIC", s(&a::ARCHIVE_MAGIC)),
        ("ARCHIVE_VERSION", n(a::ARCHIVE_VERSION as u64)),
        ("ARCHIVE_VERSION_OFFSET", n(a::ARCHIVE_VERSION_OFFSET as u64)),
        ("ARCHIVE_RECORD_BYTES_OFFSET", n(a::ARCHIVE_RECORD_BYTES_OFFSET as u64)),
        ("ARCHIVE_SCHEMA_ID_OFFSET", n(a::ARCHIVE_SCHEMA_ID_OFFSET as u64)),
        ("ARCHIVE_CAPACITY_OFFSET", n(a::ARCHIVE_CAPACITY_OFFSET as u64)),
        ("ARCHIVE_LAYOUT_BYTES_OFFSET", n(a::ARCHIVE_LAYOUT_BYTES_OFFSET as u64)),
        ("ARCHIVE_HEADER_FIXED_BYTES", n(a::ARCHIVE_HEADER_FIXED_BYTES as u64)),
        ("ARCHIVE_SEQ_OFFSET", n(a::ARCHIVE_SEQ_OFFSET as u64)),
        ("ARCHIVE_EPOCH_OFFSET", n(a::ARCHIVE_EPOCH_OFFSET as u64)),
        ("ARCHIVE_FLAGS_OFFSET", n(a::ARCHIVE_FLAGS_OFFSET as u64)),
        ("ARCHIVE_RECORD_FIXED_BYTES", n(a::ARCHIVE_RECORD_FIXED_BYTES as u64)),
        ("ARCHIVE_FLAG_EVIDENCE", h(a::ARCHIVE_FLAG_EVIDENCE as u64)),
        ("ARCHIVE_FLAG_TIMESTAMP", h(a::ARCHIVE_FLAG_TIMESTAMP as u64)),
        ("ARCHIVE_FLAG_LANE", h(a::ARCHIVE_FLAG_LANE as u64)),
        ("ARCHIVE_FLAGS_KNOWN", h(a::ARCHIVE_FLAGS_KNOWN as u64)),
        ("ARCHIVE_TIMESTAMP_BYTES", n(a::ARCHIVE_TIMESTAMP_BYTES as u64)),
        ("ARCHIVE_LANE_NAME_BYTES_MAX", n(a::ARCHIVE_LANE_NAME_BYTES_MAX as u64)),
    ])
}

// ---- the document's tables ---------------------------------------------------------------------

/// A table of the document: the heading it sits under, its column names and its rows (cells
/// trimmed).
struct Table {
    heading: String,
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

fn cells(line: &str) -> Vec<String> {
    let inner = line.trim().trim_start_matches('|').trim_end_matches('|');
    inner.split('|').map(|c| c.trim().to_string()).collect()
}

fn tables(doc: &str) -> Vec<Table> {
    let lines: Vec<&str> = doc.lines().collect();
    let mut out = Vec::new();
    let mut heading = String::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if line.starts_with('#') {
            heading = line.trim_start_matches('#').trim().to_string();
        }
        let is_separator = |l: &str| l.starts_with("|-") || l.starts_with("| -");
        if line.starts_with('|') && lines.get(i + 1).is_some_and(|l| is_separator(l)) {
            let columns = cells(line);
            let mut rows = Vec::new();
            i += 2;
            while i < lines.len() && lines[i].starts_with('|') {
                rows.push(cells(lines[i]));
                i += 1;
            }
            out.push(Table { heading: heading.clone(), columns, rows });
            continue;
        }
        i += 1;
    }
    out
}

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap()
}

fn documented_constants(doc: &str) -> BTreeMap<String, String> {
    let mut documented = BTreeMap::new();
    for t in tables(doc).into_iter().filter(|t| t.columns == ["constant", "value"]) {
        for row in t.rows {
            let name = row[0].trim_matches('`').to_string();
            let value = row[1].trim_matches('`').to_string();
            assert!(documented.insert(name.clone(), value).is_none(), "docs/FORMAT.md documents {name} twice");
        }
    }
    documented
}

// ---- constants ---------------------------------------------------------------------------------

#[test]
fn format_md_constants_match_the_code() {
    let documented = documented_constants(&doc());
    let code = code_constants();
    for (name, value) in &code {
        assert_eq!(documented.get(*name), Some(value), "docs/FORMAT.md row for {name}");
    }
    for name in documented.keys() {
        assert!(code.contains_key(name.as_str()), "docs/FORMAT.md documents {name}, which the test does not know");
    }
}

/// The public constants declared in `src/format/*.rs` (a line scan for `pub const NAME`).
fn format_source_constants() -> Vec<(String, String)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/format");
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let Some(rest) = line.trim_start().strip_prefix("pub const ") else { continue };
            if rest.starts_with("fn ") {
                continue;
            }
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            found.push((file.clone(), name));
        }
    }
    assert!(found.len() > 50, "the scan found only {} constants in {dir}", found.len());
    found
}

#[test]
fn every_public_format_constant_is_documented() {
    let documented = documented_constants(&doc());
    let code = code_constants();
    let mut missing = Vec::new();
    for (file, name) in format_source_constants() {
        if !documented.contains_key(&name) {
            missing.push(format!("{name} (src/format/{file}) has no row in a docs/FORMAT.md constants table"));
        }
        if !code.contains_key(name.as_str()) {
            missing.push(format!("{name} (src/format/{file}) is missing from code_constants() in this test"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

// ---- byte maps ---------------------------------------------------------------------------------

/// The lengths a byte map may name in backticks, with values to evaluate its offsets and sizes.
const RECORD_BYTES: usize = 1000;
const EVIDENCE_BYTES: usize = 77;
const MESSAGE_BYTES: usize = 61;
const BODY_LEN: usize = 300;
const LAYOUT_BYTES: usize = 50;
/// An archive record entry with a timestamp, and with a lane name of 11 bytes.
const TIMESTAMP_BYTES: usize = 8;
const LANE_BYTES: usize = 1 + 11;

/// Evaluates an offset or size cell: a sum of numbers and backticked length names.
fn eval(cell: &str) -> Option<usize> {
    cell.split('+')
        .map(|term| match term.trim().trim_matches('`') {
            "record_bytes" => Some(RECORD_BYTES),
            "evidence_bytes" => Some(EVIDENCE_BYTES),
            "message_bytes" => Some(MESSAGE_BYTES),
            "body_len" => Some(BODY_LEN),
            "layout_bytes" => Some(LAYOUT_BYTES),
            "timestamp_bytes" => Some(TIMESTAMP_BYTES),
            "lane_bytes" => Some(LANE_BYTES),
            n => n.parse().ok(),
        })
        .sum()
}

/// The size of a struct field's type.
fn size_of_field<S, F>(_: impl Fn(&S) -> &F) -> usize {
    size_of::<F>()
}

/// `(offset, size)` of a struct field.
macro_rules! field {
    ($s:ty, $f:ident) => {
        (std::mem::offset_of!($s, $f), size_of_field(|s: &$s| &s.$f))
    };
}

/// One expected row: the field's name as the document writes it (backticks removed), its
/// offset and size.
type Row = (&'static str, (usize, usize));

/// What the code says each byte map holds, keyed by the heading above its table (up to " (").
fn code_byte_maps() -> BTreeMap<&'static str, (Vec<Row>, Option<usize>)> {
    let slot = |name, off: usize, next: usize| (name, (off, next - off));
    BTreeMap::from([
        (
            "Header",
            (
                vec![
                    ("magic", field!(RingHeader, magic)),
                    ("version", field!(RingHeader, version)),
                    ("flags", field!(RingHeader, flags)),
                    ("record_bytes", field!(RingHeader, record_bytes)),
                    ("evidence_bytes_max", field!(RingHeader, evidence_bytes_max)),
                    ("slot_bytes", field!(RingHeader, slot_bytes)),
                    ("clock", field!(RingHeader, clock)),
                    ("capacity_slots", field!(RingHeader, capacity_slots)),
                    ("schema_id", field!(RingHeader, schema_id)),
                    ("slots_offset", field!(RingHeader, slots_offset)),
                    ("file_bytes", field!(RingHeader, file_bytes)),
                    ("layout_offset", field!(RingHeader, layout_offset)),
                    ("layout_bytes", field!(RingHeader, layout_bytes)),
                    ("layout_crc", field!(RingHeader, layout_crc)),
                    ("created_unix_ms", field!(RingHeader, created_unix_ms)),
                    ("evidence_offset", field!(RingHeader, evidence_offset)),
                    ("evidence_entry_bytes", field!(RingHeader, evidence_entry_bytes)),
                    ("slot_header_bytes", field!(RingHeader, slot_header_bytes)),
                    ("reserved", field!(RingHeader, reserved)),
                    ("crc", field!(RingHeader, crc)),
                ],
                Some(size_of::<RingHeader>()),
            ),
        ),
        (
            "State",
            (
                vec![
                    ("generation", field!(RingState, generation)),
                    ("epoch", field!(RingState, epoch)),
                    ("reserved", field!(RingState, reserved0)),
                    ("synced_next", field!(RingState, synced_next)),
                    ("crc", field!(RingState, crc)),
                    ("reserved", field!(RingState, reserved1)),
                ],
                Some(STATE_BYTES),
            ),
        ),
        (
            "Cursor",
            (
                vec![
                    ("next", (CURSOR_NEXT as usize, size_of::<u64>())),
                    ("check", (CURSOR_CHECK as usize, size_of::<u64>())),
                ],
                None,
            ),
        ),
        (
            "Slot",
            (
                vec![
                    slot("seq", SLOT_SEQ, SLOT_CRC),
                    slot("crc", SLOT_CRC, SLOT_MAGIC_OFFSET),
                    slot("magic", SLOT_MAGIC_OFFSET, SLOT_CRC_START),
                    slot("seq_copy", SLOT_SEQ_COPY, SLOT_EPOCH),
                    slot("epoch", SLOT_EPOCH, SLOT_FLAGS),
                    slot("flags", SLOT_FLAGS, SLOT_EVIDENCE_BYTES),
                    slot("evidence_bytes", SLOT_EVIDENCE_BYTES, SLOT_TIMESTAMP),
                    slot("timestamp_ns", SLOT_TIMESTAMP, SLOT_HEADER_BYTES_TIMED),
                    ("record", (SLOT_HEADER_BYTES_TIMED, RECORD_BYTES)),
                ],
                None,
            ),
        ),
        (
            "Evidence entry",
            (
                vec![
                    slot("seq", EVIDENCE_ENTRY_SEQ, EVIDENCE_ENTRY_EPOCH),
                    slot("epoch", EVIDENCE_ENTRY_EPOCH, EVIDENCE_ENTRY_CRC),
                    slot("crc", EVIDENCE_ENTRY_CRC, EVIDENCE_ENTRY_HEADER_BYTES),
                    ("evidence", (EVIDENCE_ENTRY_HEADER_BYTES, EVIDENCE_BYTES)),
                ],
                None,
            ),
        ),
        (
            "Version 2 slot",
            (
                vec![
                    slot("seq", SLOT_SEQ, SLOT_CRC),
                    slot("crc", SLOT_CRC, SLOT_MAGIC_OFFSET),
                    slot("magic", SLOT_MAGIC_OFFSET, SLOT_CRC_START),
                    slot("seq_copy", SLOT_SEQ_COPY, SLOT_EPOCH),
                    slot("epoch", SLOT_EPOCH, SLOT_FLAGS),
                    slot("flags", SLOT_FLAGS, SLOT_EVIDENCE_BYTES),
                    slot("evidence_bytes", SLOT_EVIDENCE_BYTES, SLOT_HEADER_BYTES),
                    ("record", (SLOT_HEADER_BYTES, RECORD_BYTES)),
                    ("evidence", (SLOT_HEADER_BYTES + RECORD_BYTES, EVIDENCE_BYTES)),
                ],
                None,
            ),
        ),
        (
            "Evidence",
            (
                vec![
                    ("kind", field!(EvidenceHeader, kind)),
                    ("other_code", field!(EvidenceHeader, other_code)),
                    ("message_bytes", field!(EvidenceHeader, message_bytes)),
                    ("code", field!(EvidenceHeader, code)),
                    ("message", (EVIDENCE_HEADER_BYTES, MESSAGE_BYTES)),
                ],
                Some(EVIDENCE_HEADER_BYTES + MESSAGE_BYTES),
            ),
        ),
        (
            "Segment header",
            (
                vec![
                    ("magic", field!(j::SegmentHeader, magic)),
                    ("version", field!(j::SegmentHeader, version)),
                    ("flags", field!(j::SegmentHeader, flags)),
                    ("segment", field!(j::SegmentHeader, segment)),
                    ("first_lsn", field!(j::SegmentHeader, first_lsn)),
                    ("created_unix_ms", field!(j::SegmentHeader, created_unix_ms)),
                    ("reserved", field!(j::SegmentHeader, reserved)),
                    ("crc", field!(j::SegmentHeader, crc)),
                ],
                Some(j::SEGMENT_HEADER_BYTES),
            ),
        ),
        (
            "Watermark",
            (
                vec![
                    ("generation", field!(j::Watermark, generation)),
                    ("valid_bytes", field!(j::Watermark, valid_bytes)),
                    ("next_lsn", field!(j::Watermark, next_lsn)),
                    ("sealed", field!(j::Watermark, sealed)),
                    ("crc", field!(j::Watermark, crc)),
                ],
                Some(j::WATERMARK_BYTES),
            ),
        ),
        (
            "Frame",
            (
                vec![
                    ("crc", field!(j::FrameHeader, crc)),
                    ("body_len", field!(j::FrameHeader, body_len)),
                    ("kind", field!(j::FrameHeader, kind)),
                    ("flags", field!(j::FrameHeader, flags)),
                    ("reserved", field!(j::FrameHeader, reserved)),
                    ("lsn", field!(j::FrameHeader, lsn)),
                    ("raw_len", field!(j::FrameHeader, raw_len)),
                    ("body", (j::FRAME_HEADER_BYTES, BODY_LEN)),
                ],
                Some(j::FRAME_HEADER_BYTES + BODY_LEN),
            ),
        ),
        (
            "Archive header entry",
            (
                vec![
                    ("magic", field!(a::ArchiveHeaderFixed, magic)),
                    ("version", field!(a::ArchiveHeaderFixed, version)),
                    ("record_bytes", field!(a::ArchiveHeaderFixed, record_bytes)),
                    ("schema_id", field!(a::ArchiveHeaderFixed, schema_id)),
                    ("capacity", field!(a::ArchiveHeaderFixed, capacity)),
                    ("layout_bytes", field!(a::ArchiveHeaderFixed, layout_bytes)),
                    ("layout", (a::ARCHIVE_HEADER_FIXED_BYTES, LAYOUT_BYTES)),
                ],
                Some(a::ARCHIVE_HEADER_FIXED_BYTES + LAYOUT_BYTES),
            ),
        ),
        (
            "Archive record entry",
            (
                vec![
                    ("seq", field!(a::ArchiveRecordFixed, seq)),
                    ("epoch", field!(a::ArchiveRecordFixed, epoch)),
                    ("flags", field!(a::ArchiveRecordFixed, flags)),
                    ("timestamp_ns", (a::ARCHIVE_RECORD_FIXED_BYTES, a::ARCHIVE_TIMESTAMP_BYTES)),
                    ("lane", (a::ARCHIVE_RECORD_FIXED_BYTES + a::ARCHIVE_TIMESTAMP_BYTES, LANE_BYTES)),
                    ("record", (archive_record_at(), RECORD_BYTES)),
                    ("evidence", (archive_record_at() + RECORD_BYTES, EVIDENCE_BYTES)),
                ],
                Some(archive_record_at() + RECORD_BYTES + EVIDENCE_BYTES),
            ),
        ),
    ])
}

/// Where the record starts in an archive record entry with a timestamp and an 11-byte lane name:
/// measured on an entry the encoder writes, not computed from the constants.
fn archive_record_at() -> usize {
    let mut entry = Vec::new();
    a::encode_record_entry_with(&mut entry, 1, 2, Some(3), Some("lane-name_1"), &[0xAB; 4], None).unwrap();
    assert_eq!(entry.len(), a::ARCHIVE_RECORD_FIXED_BYTES + TIMESTAMP_BYTES + LANE_BYTES + 4);
    let e = a::decode_record_entry(&entry, 4).unwrap();
    assert_eq!((e.timestamp_ns, e.lane, e.record), (Some(3), Some("lane-name_1"), &[0xAB; 4][..]));
    entry.len() - 4
}

/// Every byte map in the document matches the code row by row (name, offset, size), its rows
/// are contiguous and end where the structure ends; every byte map the code knows is documented.
#[test]
fn format_md_byte_maps_match_the_code() {
    let doc = doc();
    let code = code_byte_maps();
    let mut seen = Vec::new();
    for t in
        tables(&doc).into_iter().filter(|t| t.columns.starts_with(&["offset".into(), "size".into(), "field".into()]))
    {
        let key = t.heading.split(" (").next().unwrap().trim();
        let Some((rows, total)) = code.get(key) else {
            panic!("docs/FORMAT.md byte map under {:?} is unknown to this test: add it to code_byte_maps()", t.heading)
        };
        seen.push(key.to_string());
        let names: Vec<&str> = t.rows.iter().map(|r| r[2].trim_matches('`')).collect();
        let want: Vec<&str> = rows.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, want, "fields of the byte map {:?}", t.heading);
        let mut end = 0;
        for (row, (name, (offset, size))) in t.rows.iter().zip(rows) {
            let at = format!("byte map {:?}, field {name}", t.heading);
            let (doc_offset, doc_size) = (eval(&row[0]), eval(&row[1]));
            assert_eq!(doc_offset, Some(*offset), "{at}: offset {:?}", row[0]);
            assert_eq!(doc_size, Some(*size), "{at}: size {:?}", row[1]);
            assert_eq!(*offset, end, "{at}: not right after the previous field (a gap or an overlap)");
            end = offset + size;
        }
        if let Some(total) = total {
            assert_eq!(end, *total, "byte map {:?} ends at {end}, the structure at {total}", t.heading);
        }
    }
    for key in code.keys() {
        assert!(seen.iter().any(|s| s == key), "docs/FORMAT.md has no byte map headed {key:?}");
    }
}
