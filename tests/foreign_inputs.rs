//! Foreign inputs: well over 100 files that are not ours (empty, text, random, zeroes, binaries,
//! truncated ring headers and journal segments, other versions, a ring opened as a journal and
//! vice versa, a directory, a symlink to /dev/null, a fifo). Every engine entry point answers
//! with a typed error and leaves the file byte-identical (length, content, mtime).

mod common;

use std::path::{Path, PathBuf};

use common::*;
use replaylog::journal::validate;
use replaylog::{Journal, JournalOptions, ReplayLogError, RingLog, RingOptions};

fn ring_bytes(dir: &Path) -> Vec<u8> {
    let p = dir.join("model.ring");
    let mut log: RingLog<Rec> = RingLog::open(&p, 4).unwrap();
    for s in 0..6 {
        log.append(&Rec::new(0, s)).unwrap();
    }
    drop(log);
    std::fs::read(&p).unwrap()
}

fn segment_bytes(dir: &Path) -> Vec<u8> {
    let j = dir.join("model.journal");
    let journal = Journal::open(&j, JournalOptions::default()).unwrap();
    for i in 0..5u64 {
        journal.write(&i.to_le_bytes()).unwrap();
    }
    journal.close().unwrap();
    std::fs::read(j.join(format!("{:020}.seg", 0))).unwrap()
}

fn with_version(mut b: Vec<u8>, bases: &[usize], crc_at: usize) -> Vec<u8> {
    for &base in bases {
        b[base + 8] = 9;
        let crc = crc32fast::hash(&b[base..base + crc_at]);
        b[base + crc_at..base + crc_at + 4].copy_from_slice(&crc.to_le_bytes());
    }
    b
}

/// (name, content) of every foreign file.
fn corpus(models: &Path) -> Vec<(String, Vec<u8>)> {
    let ring = ring_bytes(models);
    let seg = segment_bytes(models);
    let mut rng = Rng::new(0xF0_4E16);
    let mut c: Vec<(String, Vec<u8>)> = vec![("empty".into(), vec![])];
    let lengths = [1usize, 7, 16, 24, 32, 100, 511, 512, 513, 1024, 3000, 4095, 4096, 4097, 8192, 12288, 16384, 20_000];
    for (i, len) in lengths.iter().enumerate() {
        let text: Vec<u8> = b"timestamp,value\n1,2.5\n".iter().copied().cycle().take(*len).collect();
        c.push((format!("text-{i}"), text));
        let mut r = vec![0u8; *len];
        rng.fill(&mut r);
        c.push((format!("random-{i}"), r));
        c.push((format!("zeros-{i}"), vec![0u8; *len]));
        c.push((format!("ones-{i}"), vec![0xFF; *len]));
    }
    for len in [1usize, 4, 8, 12, 64, 100, 508, 511, 512, 4096, 4100, 4607, 4608, 8191, 8192, 12287, 12288] {
        c.push((format!("ring-prefix-{len}"), ring[..len.min(ring.len())].to_vec()));
    }
    c.push(("ring-minus-one".into(), ring[..ring.len() - 1].to_vec()));
    c.push(("ring-plus-one".into(), [ring.clone(), vec![0]].concat()));
    c.push(("ring-v9".into(), with_version(ring.clone(), &[0, 4096], 508)));
    for len in [1usize, 8, 12, 60, 64, 600, 1100, 4000] {
        c.push((format!("segment-prefix-{len}"), seg[..len].to_vec()));
    }
    c.push(("segment-v9".into(), with_version(seg.clone(), &[0], 60)));
    c.push(("segment-whole".into(), seg.clone()));
    c.push(("elf".into(), std::fs::read("/bin/true").unwrap_or_else(|_| b"\x7fELF".to_vec())));
    c.push(("png".into(), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()));
    c.push(("gzip".into(), b"\x1f\x8b\x08\0\0\0\0\0\0\x03".to_vec()));
    c.push(("json".into(), br#"{"kind":"ring","capacity":4}"#.to_vec()));
    c.push(("magic-only-ring".into(), b"RPLYRING".to_vec()));
    c.push(("magic-only-journal".into(), b"RPLYJRNL".to_vec()));
    let mut swapped = ring.clone();
    swapped[..8].copy_from_slice(b"RPLYJRNL");
    swapped[4096..4104].copy_from_slice(b"RPLYJRNL");
    c.push(("ring-with-journal-magic".into(), swapped));
    let mut swapped = seg.clone();
    swapped[..8].copy_from_slice(b"RPLYRING");
    c.push(("segment-with-ring-magic".into(), swapped));
    c
}

fn expect_typed<T: std::fmt::Debug>(r: replaylog::Result<T>, what: &str) -> ReplayLogError {
    match r {
        Err(
            e @ (ReplayLogError::HeaderMismatch { .. } | ReplayLogError::Corrupt { .. } | ReplayLogError::Io { .. }),
        ) => e,
        other => panic!("{what}: expected a typed refusal, got {other:?}"),
    }
}

#[test]
fn foreign_files_get_typed_errors_and_stay_byte_identical() {
    let tmp = scratch();
    let models = tmp.path().join("models");
    std::fs::create_dir(&models).unwrap();
    let files = tmp.path().join("files");
    std::fs::create_dir(&files).unwrap();
    let corpus = corpus(&models);
    let mut checked = 0;
    for (name, content) in &corpus {
        let path = files.join(name);
        std::fs::write(&path, content).unwrap();
        let before = image(&path);
        // As a ring, with default and with other options.
        expect_typed(RingLog::<Rec>::open(&path, 4), &format!("{name} as ring"));
        expect_typed(RingLog::<[u8; 16]>::open_with(&path, 9, RingOptions::default().schema_id(3)), name);
        // As a journal directory, and through validate.
        assert!(matches!(Journal::open(&path, JournalOptions::default()), Err(ReplayLogError::HeaderMismatch { .. })));
        // validate reports damage to a file of ours as data (a problem), refuses the rest.
        match validate(&path) {
            Ok(v) if name == "segment-whole" => assert_eq!(v.problem, None),
            Ok(v) => assert!(v.problem.is_some() && name.starts_with("segment"), "{name} validated clean: {v:?}"),
            Err(e) => drop(expect_typed::<()>(Err(e), &format!("{name} validated"))),
        }
        assert_eq!(image(&path), before, "{name} was modified");
        // Inside a journal directory, under a foreign name and under a segment name.
        for entry in [name.clone(), format!("{:020}.seg", 0)] {
            let dir = tmp.path().join(format!("jdir-{checked}-{}", entry.len()));
            std::fs::create_dir(&dir).unwrap();
            let p = dir.join(&entry);
            std::fs::write(&p, content).unwrap();
            let before = image(&p);
            let r = Journal::open(&dir, JournalOptions::default());
            if name == "segment-whole" && entry.ends_with(".seg") {
                r.unwrap().close().unwrap(); // it is ours
                continue;
            }
            expect_typed(r, &format!("{name} in a journal directory as {entry}"));
            assert_eq!(image(&p), before, "{name} in a journal directory as {entry}: modified");
            assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "{name}: something was created");
        }
        checked += 1;
    }
    // Not regular files at all.
    let link = files.join("null-link");
    std::os::unix::fs::symlink("/dev/null", &link).unwrap();
    expect_typed(RingLog::<Rec>::open(&link, 4), "symlink to /dev/null");
    assert!(matches!(Journal::open(&link, JournalOptions::default()), Err(ReplayLogError::HeaderMismatch { .. })));
    expect_typed(validate(&link), "symlink to /dev/null validated");
    let fifo: PathBuf = files.join("fifo");
    if std::process::Command::new("mkfifo").arg(&fifo).status().is_ok_and(|s| s.success()) {
        expect_typed(RingLog::<Rec>::open(&fifo, 4), "fifo");
        assert!(matches!(Journal::open(&fifo, JournalOptions::default()), Err(ReplayLogError::HeaderMismatch { .. })));
        checked += 1;
    }
    expect_typed(RingLog::<Rec>::open(&files, 4), "a directory as a ring");
    checked += 2;
    println!(
        "foreign inputs: {checked} files and paths, each refused with a typed error by every entry point, 0 modified"
    );
    assert!(checked >= 100, "only {checked} foreign inputs");
}
