//! Writes the seed corpus and the findings: `cargo run --example gen_corpus [DIR [FINDINGS]]` from
//! `fuzz/` (defaults `corpus/` and `artifacts-found/`). Every seed is made by the library itself
//! (real rings, real journal segments, real frames), in the input format of its target (see
//! `src/lib.rs`), and named `seed-*` (the only corpus files checked in). Every finding is named
//! `TARGET-what` and replays with `cargo fuzz run TARGET artifacts-found/TARGET-what`.

use std::path::{Path, PathBuf};

use replaylog::archive::{ArchiveHeader, encode_record, encode_record_in_lane};
use replaylog::lowlevel::format::journal::{DATA_OFFSET, KIND_ENTRY, KIND_SNAPSHOT, Watermark, encode_frame, segment_name};
use replaylog::lowlevel::format::ring::SEQ_BUSY;
use replaylog::zerocopy::IntoBytes;
use replaylog::{FailureKind, RawRecord, ReplayFailureEvidence};
use replaylog_fuzz::*;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join(format!("seed-{name}")), bytes).unwrap();
}

fn lsn_prefixed(lsn: u64, bytes: &[u8]) -> Vec<u8> {
    let mut v = lsn.to_le_bytes().to_vec();
    v.extend_from_slice(bytes);
    v
}

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "corpus".into()));
    let found = PathBuf::from(std::env::args().nth(2).unwrap_or_else(|| "artifacts-found".into()));

    // slot_decoder: valid slots of several geometries, a never-written and a busy one.
    let mut busy = vec![15, 240, 0, 3, 1];
    busy.extend_from_slice(&SEQ_BUSY.to_le_bytes());
    let slots = [
        ("plain", slot_input(16, 256, 4, 6, 1, false, None)),
        ("evidence", slot_input(16, 256, 4, 7, 2, true, Some((3, 0, "deadline missed")))),
        ("tiny", slot_input(1, 16, 1, 0, 0, true, Some((4, 7, "")))),
        ("large", slot_input(256, 512, 64, 1000, 9, false, Some((1, 0, &"x".repeat(100))))),
        ("never-written", vec![15, 240, 0, 3, 0]),
        ("busy", busy),
    ];
    for (name, bytes) in &slots {
        write(&out, "slot_decoder", name, bytes);
    }

    // frame_decoder: frames (the LSN prefix is the expected LSN) and the other decoders' inputs
    // (the prefix's low bits pick one of the archive record sizes tried).
    let mut entry = Vec::new();
    encode_frame(&mut entry, KIND_ENTRY, 0, 1, 5, b"hello");
    write(&out, "frame_decoder", "entry", &lsn_prefixed(1, &entry));
    let mut snap = Vec::new();
    encode_frame(&mut snap, KIND_SNAPSHOT, 0, 42, 100, &[7u8; 100]);
    write(&out, "frame_decoder", "snapshot", &lsn_prefixed(42, &snap));
    let mut two = entry.clone();
    encode_frame(&mut two, KIND_ENTRY, 0, 2, 3, b"abc");
    write(&out, "frame_decoder", "two-frames", &lsn_prefixed(1, &two));
    let seg = &journal_segments(|j| {
        j.write(&compressible_entry()).unwrap();
    })[0];
    write(&out, "frame_decoder", "lz4", &lsn_prefixed(1, &seg[DATA_OFFSET as usize..]));
    write(&out, "frame_decoder", "layout", &lsn_prefixed(16, &sample_layout().encode()));
    let header = ArchiveHeader { record_bytes: 16, schema_id: 7, capacity: 4, layout: Some(sample_layout()) };
    write(&out, "frame_decoder", "archive-header", &lsn_prefixed(16, &header.encode()));
    let mut rec = Vec::new();
    let evidence = Some(ReplayFailureEvidence::new(FailureKind::Other(3), -5, "boom"));
    encode_record(&mut rec, &RawRecord { seq: 9, epoch: 2, timestamp_ns: None, bytes: vec![1; 16], evidence });
    write(&out, "frame_decoder", "archive-record", &lsn_prefixed(16, &rec));
    let mut laned = Vec::new();
    let stamped = RawRecord { seq: 10, epoch: 2, timestamp_ns: Some(1_234_567), bytes: vec![2; 16], evidence: None };
    encode_record_in_lane(&mut laned, &stamped, Some("io-loop_1")).unwrap();
    write(&out, "frame_decoder", "archive-record-lane", &lsn_prefixed(16, &laned));
    write(&out, "frame_decoder", "watermark", &lsn_prefixed(0, Watermark::new(3, 4200, 9, true).as_bytes()));
    write(&out, "frame_decoder", "segment-name", &lsn_prefixed(0, segment_name(42).as_bytes()));

    // ring_open: real rings of the shape the target opens.
    let tmp = std::env::temp_dir().join(format!("replaylog-gen-corpus-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    for (name, bytes) in sample_rings(&tmp) {
        write(&out, "ring_open", name, &bytes);
    }
    std::fs::create_dir_all(&found).unwrap();
    for (target, name, bytes) in findings(&tmp) {
        std::fs::write(found.join(format!("{target}-{name}")), bytes).unwrap();
    }
    std::fs::remove_dir_all(&tmp).unwrap();

    // journal_open: real journals, with several control bytes.
    let journals = sample_journals();
    let get = |name: &str| &journals.iter().find(|(n, _)| *n == name).unwrap().1;
    let inputs: [(&str, u8, &str); 8] = [
        ("one", 0, "one"),
        ("rolled", 1, "rolled"),
        ("snapshot", 1, "snapshot"),
        ("compressed", 0, "compressed"),
        ("torn-tail", 0, "torn-tail"),
        ("leftover-backup", 1 | 4 | 8, "rolled"),
        ("absolute-torn", 16, "torn-tail"),
        ("named-by-header", 1 | 2, "rolled"),
    ];
    for (name, control, journal) in inputs {
        write(&out, "journal_open", name, &journal_input(control, get(journal)));
    }
    println!("seed corpus written to {}, findings to {}", out.display(), found.display());
}
