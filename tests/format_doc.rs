//! docs/FORMAT.md must match the code: every row of its constants table is compared with the
//! constant of that name, and every constant listed here must have a row.

use std::collections::BTreeMap;

use replaylog::lowlevel::format::journal as j;
use replaylog::lowlevel::format::ring::*;

fn code_constants() -> BTreeMap<&'static str, String> {
    let n = |v: u64| v.to_string();
    let h = |v: u64| format!("{v:#x}");
    BTreeMap::from([
        ("RING_MAGIC", String::from_utf8(RING_MAGIC.to_vec()).unwrap()),
        ("RING_VERSION", n(RING_VERSION as u64)),
        ("SECTOR_BYTES", n(SECTOR_BYTES)),
        ("PAGE_BYTES", n(PAGE_BYTES)),
        ("HEADER_A_OFFSET", n(HEADER_A_OFFSET)),
        ("HEADER_B_OFFSET", n(HEADER_B_OFFSET)),
        ("STATE_OFFSET_0", n(STATE_OFFSETS[0])),
        ("STATE_OFFSET_1", n(STATE_OFFSETS[1])),
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
        ("SLOT_MAGIC", h(SLOT_MAGIC as u64)),
        ("SEQ_BUSY", h(SEQ_BUSY)),
        ("SLOT_FLAG_EVIDENCE", h(SLOT_FLAG_EVIDENCE as u64)),
        ("SLOT_FLAG_EPOCH_FIRST", h(SLOT_FLAG_EPOCH_FIRST as u64)),
        ("EVIDENCE_HEADER_BYTES", n(EVIDENCE_HEADER_BYTES as u64)),
        ("SEQ_MAX", n(SEQ_MAX)),
        ("HEADER_BYTES", n(size_of::<RingHeader>() as u64)),
        ("SEGMENT_MAGIC", String::from_utf8(j::SEGMENT_MAGIC.to_vec()).unwrap()),
        ("SEGMENT_VERSION", n(j::SEGMENT_VERSION as u64)),
        ("SEGMENT_HEADER_BYTES", n(j::SEGMENT_HEADER_BYTES as u64)),
        ("WATERMARK_OFFSET_0", n(j::WATERMARK_OFFSETS[0])),
        ("WATERMARK_OFFSET_1", n(j::WATERMARK_OFFSETS[1])),
        ("WATERMARK_BYTES", n(j::WATERMARK_BYTES as u64)),
        ("DATA_OFFSET", n(j::DATA_OFFSET)),
        ("FRAME_HEADER_BYTES", n(j::FRAME_HEADER_BYTES as u64)),
        ("FRAME_CRC_START", n(j::FRAME_CRC_START as u64)),
        ("FRAME_BODY_MAX", n(j::FRAME_BODY_MAX as u64)),
        ("KIND_ENTRY", n(j::KIND_ENTRY as u64)),
        ("KIND_SNAPSHOT", n(j::KIND_SNAPSHOT as u64)),
        ("FRAME_FLAG_LZ4", h(j::FRAME_FLAG_LZ4 as u64)),
        ("SEGMENT_NAME_DIGITS", n(j::SEGMENT_NAME_DIGITS as u64)),
        ("COUNTER_MAX", n(j::COUNTER_MAX)),
    ])
}

#[test]
fn format_md_constants_match_the_code() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let mut documented = BTreeMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() == 4 && cells[1].starts_with('`') && cells[1].ends_with('`') && !cells[2].contains(' ') {
            let name = cells[1].trim_matches('`');
            let value = cells[2].trim_matches('`');
            if name.chars().all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit()) {
                documented.insert(name.to_string(), value.to_string());
            }
        }
    }
    let code = code_constants();
    for (name, value) in &code {
        assert_eq!(documented.get(*name), Some(value), "docs/FORMAT.md row for {name}");
    }
    for name in documented.keys() {
        assert!(code.contains_key(name.as_str()), "docs/FORMAT.md documents {name}, which the test does not know");
    }
}
