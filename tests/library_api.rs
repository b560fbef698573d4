//! The library APIs tools are built on: `detect`, `RawRing::validate`,
//! `ReadOnlyJournal::open_segment`, and the `Display` texts of reports.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use replaylog::detect::Foreign;
use replaylog::lowlevel::format::ring::{
    HEADER_B_OFFSET, SLOT_CRC, SLOT_CRC_START, SLOT_EPOCH, SLOT_FLAGS, SLOT_HEADER_BYTES, SLOT_SEQ, SLOT_SEQ_COPY,
    STATE_OFFSETS,
};
use replaylog::ring::{HeaderCopy, RingProblem, SlotFinding, SlotRun, StateCopy};
use replaylog::{
    EntryKind, Journal, JournalOptions, Kind, Position, Problem, RawRing, ReadOnlyJournal, ReplayLogError, RingLog,
    detect,
};

fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    let mut all = std::fs::read(path).unwrap();
    all[offset as usize..offset as usize + bytes.len()].copy_from_slice(bytes);
    std::fs::write(path, all).unwrap();
}

/// A ring of 16 slots holding seqs 0..10, synced.
fn ring(path: &Path) {
    let mut log: RingLog<u64> = RingLog::open(path, 16).unwrap();
    for i in 0..10 {
        log.append(&(i * 100)).unwrap();
    }
    log.sync().unwrap();
}

fn journal(dir: &Path, rolls: usize) {
    let j = Journal::open(dir, JournalOptions::default()).unwrap();
    for r in 0..=rolls {
        for i in 0..3 {
            j.write(format!("entry {r}.{i}").as_bytes()).unwrap();
        }
        if r < rolls {
            j.roll().unwrap();
        }
    }
    j.close().unwrap();
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "seg"))
        .collect();
    v.sort();
    v
}

fn tree(p: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut m = BTreeMap::new();
    for e in std::fs::read_dir(p).unwrap() {
        let path = e.unwrap().path();
        if path.is_dir() {
            m.extend(tree(&path));
        } else {
            m.insert(path.clone(), std::fs::read(&path).unwrap());
        }
    }
    m
}

#[test]
fn detect_tells_every_kind_apart() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = d.join("a.ring");
    ring(&r);
    assert_eq!(detect(&r).unwrap(), Kind::Ring);

    // A ring whose first header copy is damaged is found by its second copy.
    let torn = d.join("torn.ring");
    std::fs::copy(&r, &torn).unwrap();
    patch(&torn, 0, b"XXXXXXXX");
    assert_eq!(detect(&torn).unwrap(), Kind::Ring);
    // ...and not when the second copy is gone too.
    patch(&torn, HEADER_B_OFFSET, b"YYYYYYYY");
    assert_eq!(detect(&torn).unwrap(), Kind::Foreign(Foreign::UnknownMagic { start: b"XXXXXXXX".to_vec() }));

    let j = d.join("j");
    journal(&j, 1);
    assert_eq!(detect(&j).unwrap(), Kind::JournalDir);
    assert_eq!(detect(segments(&j)[0].as_path()).unwrap(), Kind::Segment);

    let arch = d.join("arch");
    let archiver = replaylog::archive::Archiver::start(&r, &arch, Default::default()).unwrap();
    assert_eq!(archiver.stop().unwrap().archived, 10);
    assert_eq!(detect(&arch).unwrap(), Kind::Archive);
    assert_eq!(detect(segments(&arch)[0].as_path()).unwrap(), Kind::Segment, "a lone segment is a segment");

    let foreign = d.join("notes.txt");
    std::fs::write(&foreign, b"not a replaylog file").unwrap();
    let k = detect(&foreign).unwrap();
    assert_eq!(k, Kind::Foreign(Foreign::UnknownMagic { start: b"not a re".to_vec() }));
    assert_eq!(k.to_string(), "not a replaylog ring or journal segment (starts with \"not a re\")");
    std::fs::write(&foreign, [0u8, 1, 0xff]).unwrap();
    assert_eq!(detect(&foreign).unwrap().to_string(), "not a replaylog ring or journal segment (starts with 0x0001ff)");

    let empty = d.join("empty");
    std::fs::write(&empty, b"").unwrap();
    let k = detect(&empty).unwrap();
    assert_eq!(
        (k.clone(), k.to_string()),
        (Kind::Foreign(Foreign::EmptyFile), "empty file: not a replaylog ring or journal segment".to_string())
    );
    let empty_dir = d.join("emptydir");
    std::fs::create_dir(&empty_dir).unwrap();
    let k = detect(&empty_dir).unwrap();
    assert_eq!(
        (k.clone(), k.to_string()),
        (Kind::Foreign(Foreign::EmptyDirectory), "empty directory: not a replaylog journal".to_string())
    );
    match detect(d.join("missing")) {
        Err(ReplayLogError::Io { op: "stat", source, .. }) => assert_eq!(source.kind(), std::io::ErrorKind::NotFound),
        other => panic!("{other:?}"),
    }
}

/// Rewrites slot `from`'s record as seq `seq` of epoch `epoch` in slot `to`, with a valid
/// checksum: a record no writer of this file could have written if `epoch` is in its future.
fn forge_slot(path: &Path, from: u64, to: u64, seq: u64, epoch: u32) {
    let ring = RawRing::open(path).unwrap();
    let g = *ring.geometry();
    drop(ring);
    let all = std::fs::read(path).unwrap();
    let off = g.slot_offset(from) as usize;
    let mut slot = all[off..off + g.slot_bytes as usize].to_vec();
    slot[SLOT_SEQ..SLOT_SEQ + 8].copy_from_slice(&seq.to_le_bytes());
    slot[SLOT_SEQ_COPY..SLOT_SEQ_COPY + 8].copy_from_slice(&seq.to_le_bytes());
    slot[SLOT_EPOCH..SLOT_EPOCH + 4].copy_from_slice(&epoch.to_le_bytes());
    slot[SLOT_FLAGS..SLOT_FLAGS + 2].copy_from_slice(&0u16.to_le_bytes());
    let end = g.checked_end(0);
    let crc = g.slot_crc(&slot[SLOT_CRC_START..end]);
    slot[SLOT_CRC..SLOT_CRC + 4].copy_from_slice(&crc.to_le_bytes());
    patch(path, g.slot_offset(to), &slot);
}

#[test]
fn validate_reports_copies_window_census_and_slot_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.ring");
    ring(&path);
    let clean = RawRing::open(&path).unwrap().validate();
    assert!(clean.is_clean(), "{clean:?}");
    assert_eq!((clean.header_copies_valid(), clean.state_copies_valid()), (2, 2));
    assert_eq!((clean.slots.valid, clean.slots.never_written, clean.slots.capacity), (10, 6, 16));
    let w = clean.window.unwrap();
    assert_eq!((w.first, w.last), (0, 9));
    assert_eq!(clean.state.unwrap().synced_next, 10);
    let epoch = clean.state.unwrap().epoch;

    // Header copy A torn; state copy 0 damaged; slot 5 corrupt, which cuts seqs 0..=4 off the
    // window (stale); slot 10 holds a checksummed record of a future epoch.
    let ring = RawRing::open(&path).unwrap();
    let g = *ring.geometry();
    drop(ring);
    patch(&path, 100, &[0xEE]);
    patch(&path, STATE_OFFSETS[0] + 4, &[0xEE]);
    patch(&path, g.slot_offset(5) + SLOT_HEADER_BYTES as u64 + 2, &[0xEE]);
    forge_slot(&path, 9, 10, 10, epoch + 5);
    let before = std::fs::read(&path).unwrap();
    let ring = RawRing::open(&path).unwrap();
    let mut calls = Vec::new();
    let h = ring.validate_with_progress(|done, total| calls.push((done, total)));
    assert_eq!(calls.last(), Some(&(16, 16)));
    assert_eq!(h.header_copies, [HeaderCopy::Checksum, HeaderCopy::Valid]);
    assert_eq!(h.state_copies[0], StateCopy::Damaged);
    assert!(matches!(h.state_copies[1], StateCopy::Valid(s) if s.epoch == epoch));
    let w = h.window.unwrap();
    assert_eq!((w.first, w.last), (6, 9));
    assert_eq!((h.slots.valid, h.slots.stale, h.slots.bad, h.slots.never_written), (4, 5, 2, 5));
    let run = |first_index, last_index, finding, first_seq| {
        RingProblem::Slots(SlotRun { first_index, last_index, finding, first_seq: Some(first_seq) })
    };
    use replaylog::lowlevel::format::ring::SlotFault;
    assert_eq!(
        h.problems,
        vec![
            RingProblem::HeaderCopy { damaged: 1 },
            run(0, 4, SlotFinding::Stale, 0),
            run(5, 5, SlotFinding::Fault(SlotFault::Checksum), 5),
            run(10, 10, SlotFinding::Fault(SlotFault::FutureEpoch), 10),
        ]
    );
    let text: Vec<String> = h.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(text[0], "1 of 2 header copies damaged (a writer's open rewrites it from the good one)");
    assert!(
        text[1].starts_with("slots 0..=4: stale: a valid record outside the live window")
            && text[1].ends_with("(first seq 0)")
    );
    assert_eq!(text[2], "slot 5: checksum mismatch (torn or corrupted) (seq 5)");
    assert_eq!(text[3], "slot 10: epoch newer than the file state (seq 10)");
    let names: Vec<&str> = h.problems.iter().map(|p| p.name()).collect();
    assert_eq!(names, ["header_copy", "stale", "checksum", "future_epoch"]);
    // The census applies the same future-epoch rule.
    let census = ring.census();
    assert!(census.bad.contains(&(10, SlotFault::FutureEpoch)), "{census:?}");
    assert_eq!(census.valid, 9);
    drop(ring);
    assert_eq!(std::fs::read(&path).unwrap(), before, "validate is read-only");

    // Without any state copy the epoch of a slot cannot be judged: the problem is the state.
    patch(&path, STATE_OFFSETS[1] + 4, &[0xEE]);
    let h = RawRing::open(&path).unwrap().validate();
    assert_eq!(h.state, None);
    assert_eq!(h.problems[1], RingProblem::NoValidState);
    assert_eq!(h.problems[1].to_string(), "no valid state copy (the sync watermark and epoch are lost)");
    assert!(!h.problems.iter().any(|p| p.name() == "future_epoch"), "{:?}", h.problems);
}

#[test]
fn open_segment_reads_one_file_and_nothing_around_it() {
    let dir = tempfile::tempdir().unwrap();
    let j = dir.path().join("j");
    journal(&j, 2);
    let segs = segments(&j);
    assert_eq!(segs.len(), 3);
    // A stranger beside the segment would make the directory unopenable: open_segment never
    // looks at the directory.
    std::fs::write(j.join("notes.txt"), b"hello").unwrap();
    let before = tree(dir.path());
    let one = ReadOnlyJournal::open_segment(&segs[1]).unwrap();
    assert_eq!(one.segments().len(), 1);
    assert_eq!(one.segments()[0].path, segs[1]);
    let items: Vec<_> = one.iter_from(Position::Start).unwrap().map(|i| i.unwrap()).collect();
    assert_eq!(items.iter().map(|i| i.lsn).collect::<Vec<_>>(), [4, 5, 6]);
    assert_eq!(items[0].data, b"entry 1.0");
    assert_eq!((one.validation().chunks, one.validation().problem), (3, None));
    assert_eq!(tree(dir.path()), before, "nothing written near the segment");
    assert!(ReadOnlyJournal::open(&j).is_err());

    // A renamed copy opens with the number its header holds.
    let copy = dir.path().join("copy.bin");
    std::fs::copy(&segs[2], &copy).unwrap();
    let c = ReadOnlyJournal::open_segment(&copy).unwrap();
    assert_eq!(c.segments()[0].number, 2);
    assert_eq!(c.iter_from(Position::Start).unwrap().count(), 3);

    // Damage is reported against the file itself.
    let len = std::fs::metadata(&copy).unwrap().len();
    let valid = c.validation().valid_bytes;
    assert!(len > valid);
    patch(&copy, valid, &[0xAB; 40]);
    let c = ReadOnlyJournal::open_segment(&copy).unwrap();
    assert_eq!(c.validation().problem, Some(Problem::BadTail { segment: 2, valid_bytes: valid }));
    match c.problem() {
        Some(ReplayLogError::BadTail { path, .. }) => assert_eq!(path, copy),
        other => panic!("{other:?}"),
    }

    // Not a segment: refused, untouched.
    let foreign = dir.path().join("foreign");
    std::fs::write(&foreign, b"RPLYJRNL but not really a segment header at all").unwrap();
    assert!(matches!(ReadOnlyJournal::open_segment(&foreign), Err(ReplayLogError::HeaderMismatch { .. })));
    assert!(matches!(ReadOnlyJournal::open_segment(&j), Err(ReplayLogError::HeaderMismatch { .. })));
}

#[test]
fn reports_display_as_the_tools_print_them() {
    let tail = Problem::BadTail { segment: 3, valid_bytes: 8192 };
    assert_eq!(tail.to_string(), "torn tail after the durable watermark: segment 3 is valid up to byte 8192");
    let corrupt = Problem::Corrupt { segment: 1, offset: 4096, reason: "checksum mismatch".into() };
    assert_eq!(
        corrupt.to_string(),
        "corruption at or before the durable watermark: segment 1, byte 4096: checksum mismatch"
    );
    assert_eq!((EntryKind::Entry.to_string(), EntryKind::Snapshot.to_string()), ("entry".into(), "snapshot".into()));
    assert_eq!(HeaderCopy::Magic { found: *b"\0\0\0\0\0\0\0\0" }.to_string(), "magic reads 0x0000000000000000");
    assert_eq!(StateCopy::NeverWritten.to_string(), "never written");
}

#[test]
fn detect_finds_recorder_directories() {
    use replaylog::recorder::{Recorder, RecorderOptions};
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let kind = |p: &Path| detect(p).unwrap();

    // Empty, and only foreign files (names that are not lanes): as before.
    let empty = d.join("empty");
    std::fs::create_dir(&empty).unwrap();
    assert_eq!(kind(&empty), Kind::Foreign(Foreign::EmptyDirectory));
    let foreign = d.join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    for name in ["notes.txt", "a.ring.bak", ".x.ring", "a b.ring", ".ring", ".x.ring.123.tmp"] {
        std::fs::write(foreign.join(name), b"x").unwrap();
    }
    assert_eq!(kind(&foreign), Kind::JournalDir);

    // Lanes written by a recorder.
    let rec_dir = d.join("rec");
    let rec: Recorder<u64> = Recorder::open(&rec_dir, RecorderOptions::default().capacity_slots(8)).unwrap();
    rec.lane("control").unwrap().append(&1).unwrap();
    assert_eq!(kind(&rec_dir), Kind::RecorderDir);
    assert_eq!(Kind::RecorderDir.to_string(), "recorder directory");
    // Foreign files next to the lanes do not change it; a lane file is found by its name alone.
    std::fs::write(rec_dir.join("notes.txt"), b"x").unwrap();
    assert_eq!(kind(&rec_dir), Kind::RecorderDir);
    let only_name = d.join("only_name");
    std::fs::create_dir(&only_name).unwrap();
    std::fs::write(only_name.join("x.ring"), b"not a ring").unwrap();
    assert_eq!(kind(&only_name), Kind::RecorderDir);
    assert_eq!(replaylog::recorder::lane_names(&only_name).unwrap(), ["x"]);

    // x.ring next to journal segments: a journal directory (opening it names the stranger).
    let j = d.join("j");
    journal(&j, 1);
    std::fs::write(j.join("x.ring"), b"x").unwrap();
    assert_eq!(kind(&j), Kind::JournalDir);
    let arch = d.join("arch");
    let r = d.join("a.ring");
    ring(&r);
    replaylog::archive::Archiver::start(&r, &arch, Default::default()).unwrap().stop().unwrap();
    std::fs::copy(&r, arch.join("a.ring")).unwrap();
    assert_eq!(kind(&arch), Kind::Archive);
}
