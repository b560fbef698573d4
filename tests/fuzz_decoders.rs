//! Fuzzing inside `cargo test`: the properties of the cargo-fuzz targets in `fuzz/` (whose harness,
//! `fuzz/src/lib.rs`, is included below so both check exactly the same things), driven by proptest.
//!
//! * the slot and frame decoders and every other pure decoder (layout, watermark, ring and segment
//!   headers and states, archive header and record) never panic on arbitrary bytes, and whatever
//!   they accept re-encodes byte for byte;
//! * a valid slot, frame, watermark, state or header with checksum-covered bytes changed is never
//!   accepted (no false accept), while bytes outside the checksummed range change nothing;
//! * `RawRing::open` and `RingLog::open` on arbitrary and on mutated real ring files never panic,
//!   a read-only open never writes, and a refused `RingLog::open` leaves the file byte-identical;
//! * `validate`, `ReadOnlyJournal` and `Journal::open` on simulated journal directories with
//!   arbitrary or mutated real segments never panic, and a refused open changes nothing.
//!
//! Every test prints its case count. `PROPTEST_CASES=N` runs N cases in each instead.

mod common;

#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestRunner};

use replaylog::archive::{
    ArchiveHeader, ArchivedRecord, check_lane_name, decode_archived, decode_record, encode_record,
    encode_record_in_lane,
};
use replaylog::lowlevel::format::crc32;
use replaylog::lowlevel::format::journal::{
    FRAME_BODY_MAX, FRAME_HEADER_BYTES, KIND_ENTRY, KIND_SNAPSHOT, SegmentHeader, Watermark, check_frame, encode_frame,
    segment_name,
};
use replaylog::lowlevel::format::ring::{
    EVIDENCE_HEADER_BYTES, Geometry, RingState, SLOT_CRC_START, SLOT_FLAG_EPOCH_FIRST, SLOT_FLAG_EVIDENCE,
    SLOT_HEADER_BYTES, SLOT_MAGIC_OFFSET, STATE_OFFSETS, SlotFault, SlotMeta, check_slot, slot_header_tail,
};
use replaylog::lowlevel::storage::Storage;
use replaylog::lowlevel::storage::sim::SimStorage;
use replaylog::zerocopy::IntoBytes;
use replaylog::{
    FailureKind, Field, FieldType, Journal, JournalOptions, Layout, RawRecord, ReplayFailureEvidence, ReplayLogError,
    RingLog,
};

/// Runs `test` on `default_cases` values of `strategy` (or `PROPTEST_CASES`), shrinking a failure
/// (a panic) to a minimal input, and prints the case count.
fn check<S: Strategy>(name: &str, default_cases: u32, strategy: S, test: impl Fn(S::Value))
where
    S::Value: Debug,
{
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(default_cases);
    let config = Config { cases, failure_persistence: None, max_shrink_time: 60_000, ..Config::default() };
    let mut runner = TestRunner::new(config);
    let started = std::time::Instant::now();
    let runs = std::sync::atomic::AtomicU64::new(0);
    if let Err(e) = runner.run(&strategy, |value| {
        runs.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        test(value);
        Ok(())
    }) {
        panic!("{name}: {e}");
    }
    println!("{name}: {cases} cases passed ({} runs, {:.2?})", runs.into_inner(), started.elapsed());
}

/// Runs `f`, the harness of fuzz target `target` on `input`; if it panics, saves `input` where the
/// cargo-fuzz target can replay it and says where.
fn replayable(target: &str, input: &[u8], f: impl FnOnce()) {
    if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz_decoders");
        let path = dir.join(format!("{target}-last-failure"));
        if std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)).is_ok() {
            eprintln!("failing input saved: cd fuzz && cargo fuzz run {target} {}", path.display());
        }
        std::panic::resume_unwind(panic);
    }
}

// ---- pure decoders on arbitrary bytes ------------------------------------------------------------

#[test]
fn slot_decoder_on_arbitrary_bytes() {
    check("slot_decoder", 5000, vec(any::<u8>(), 0..900), |data| {
        replayable("slot_decoder", &data, || harness::slot_decoder(&data));
    });
}

/// A `frame_decoder` input: the expected LSN, then arbitrary bytes or a valid frame (with trailing
/// bytes), so both the refusals and the accepting path are reached.
fn frame_input() -> impl Strategy<Value = Vec<u8>> {
    let valid = (any::<u64>(), any::<bool>(), any::<bool>(), vec(any::<u8>(), 0..200), vec(any::<u8>(), 0..40))
        .prop_map(|(lsn, snapshot, lz4, body, trailing)| {
            let mut v = lsn.to_le_bytes().to_vec();
            let kind = if snapshot { KIND_SNAPSHOT } else { KIND_ENTRY };
            let raw_len = if lz4 { lsn as u32 % 4096 } else { body.len() as u32 };
            encode_frame(&mut v, kind, u8::from(lz4), lsn, raw_len, &body);
            v.extend_from_slice(&trailing);
            v
        });
    prop_oneof![vec(any::<u8>(), 0..400), valid]
}

#[test]
fn frame_and_other_decoders_on_arbitrary_bytes() {
    check("frame_decoder", 5000, frame_input(), |data| {
        replayable("frame_decoder", &data, || harness::frame_decoder(&data));
    });
}

// ---- no false accept -----------------------------------------------------------------------------

/// Largest seq, LSN, generation or segment number the valid values here use: the format may
/// refuse counters near `u64::MAX` (where `+ 1` would overflow) as damage.
const COUNTER_LIMIT: u64 = 1 << 62;

/// Applies `(position, xor)` changes inside `range` of `bytes`.
fn mutate(bytes: &mut [u8], range: std::ops::Range<usize>, changes: &[(Index, u8)]) {
    for (at, xor) in changes {
        bytes[range.start + at.index(range.len())] ^= xor;
    }
}

fn changes() -> impl Strategy<Value = Vec<(Index, u8)>> {
    vec((any::<Index>(), 1u8..=255), 1..=4)
}

#[derive(Debug, Clone)]
struct SlotCase {
    record_bytes: u32,
    evidence_bytes_max: u32,
    capacity: u64,
    seq: u64,
    epoch: u32,
    first: bool,
    evidence: Option<(u16, u16, i64, String)>,
    fill: Vec<u8>,
}

fn slot_case() -> impl Strategy<Value = SlotCase> {
    let other = prop_oneof![3 => Just(0u16), 1 => any::<u16>()];
    let evidence = proptest::option::of((0u16..=5, other, any::<i64>(), "\\PC{0,40}"));
    (
        1u32..=256,
        16u32..=512,
        1u64..=64,
        0..=COUNTER_LIMIT,
        any::<u32>(),
        any::<bool>(),
        evidence,
        vec(any::<u8>(), 800),
    )
        .prop_map(|(record_bytes, evidence_bytes_max, capacity, seq, epoch, first, evidence, fill)| SlotCase {
            record_bytes,
            evidence_bytes_max,
            capacity,
            seq,
            epoch,
            first,
            evidence,
            fill,
        })
}

/// Builds the slot `c` describes (the bytes past the checksummed range hold junk from `fill`).
fn build_slot(c: &SlotCase) -> (Geometry, Vec<u8>, SlotMeta, usize) {
    let g = Geometry::version_2(c.record_bytes, c.evidence_bytes_max, c.capacity, 0).unwrap();
    let mut slot = c.fill[..g.slot_bytes as usize].to_vec();
    let mut evidence = Vec::new();
    if let Some((kind, other, code, msg)) = &c.evidence {
        let room = c.evidence_bytes_max as usize - EVIDENCE_HEADER_BYTES;
        let msg = replaylog::ring::truncate_at_char_boundary(msg, room);
        evidence.extend_from_slice(&kind.to_le_bytes());
        evidence.extend_from_slice(&other.to_le_bytes());
        evidence.extend_from_slice(&(msg.len() as u32).to_le_bytes());
        evidence.extend_from_slice(&code.to_le_bytes());
        evidence.extend_from_slice(msg.as_bytes());
    }
    let flags =
        if evidence.is_empty() { 0 } else { SLOT_FLAG_EVIDENCE } | if c.first { SLOT_FLAG_EPOCH_FIRST } else { 0 };
    slot[..8].copy_from_slice(&c.seq.to_le_bytes());
    slot[SLOT_MAGIC_OFFSET..SLOT_HEADER_BYTES].copy_from_slice(&slot_header_tail(
        c.seq,
        c.epoch,
        flags,
        evidence.len() as u16,
    ));
    let ev_at = SLOT_HEADER_BYTES + c.record_bytes as usize;
    let body_end = ev_at + evidence.len();
    slot[ev_at..body_end].copy_from_slice(&evidence);
    let crc = crc32(&[&slot[SLOT_CRC_START..body_end]]);
    slot[8..12].copy_from_slice(&crc.to_le_bytes());
    let meta = SlotMeta {
        seq: c.seq,
        epoch: c.epoch,
        epoch_first: c.first,
        evidence_bytes: evidence.len() as u16,
        timestamp_ns: None,
    };
    (g, slot, meta, body_end)
}

#[test]
fn changed_slot_is_never_accepted() {
    check("changed_slot", 5000, (slot_case(), changes(), any::<Index>()), |(c, changes, junk)| {
        let (g, slot, meta, body_end) = build_slot(&c);
        let index = c.seq % c.capacity;
        let well_formed =
            c.evidence.as_ref().is_none_or(|(kind, other, _, _)| matches!((kind, other), (1..=3, 0) | (4, _)));
        if !well_formed {
            // Evidence of an unknown kind is not ours: the slot is refused, however well sealed.
            assert_eq!(check_slot(&g, index, &slot), Err(SlotFault::BadHeader));
            return;
        }
        assert_eq!(check_slot(&g, index, &slot), Ok(meta));
        harness::slot_properties(&g, index, &slot);
        // Changed checksum-covered bytes (the seq word, the CRC, header, record, evidence).
        let mut changed = slot.clone();
        mutate(&mut changed, 0..body_end, &changes);
        if changed != slot {
            let r = check_slot(&g, index, &changed);
            assert!(r.is_err(), "changed slot accepted: {r:?}");
        }
        // Bytes past the evidence present are not part of the record: changing them changes nothing.
        if body_end < slot.len() {
            let mut spare = slot.clone();
            mutate(&mut spare, body_end..slot.len(), &[(junk, 0x5A)]);
            assert_eq!(check_slot(&g, index, &spare), Ok(meta));
        }
        // At any other index the same slot is misplaced, never accepted.
        if c.capacity > 1 {
            assert!(check_slot(&g, (index + 1) % c.capacity, &slot).is_err());
        }
    });
}

#[test]
fn changed_frame_is_never_accepted() {
    let frame = (1..=COUNTER_LIMIT, any::<bool>(), any::<bool>(), any::<u32>(), vec(any::<u8>(), 0..300));
    check("changed_frame", 5000, (frame, vec(any::<u8>(), 0..40), changes()), |(f, trailing, changes)| {
        let (lsn, snapshot, lz4, raw, body) = f;
        let kind = if snapshot { KIND_SNAPSHOT } else { KIND_ENTRY };
        let raw_len = if lz4 { raw % (FRAME_BODY_MAX + 1) } else { body.len() as u32 };
        let mut bytes = Vec::new();
        encode_frame(&mut bytes, kind, u8::from(lz4), lsn, raw_len, &body);
        let n = bytes.len();
        bytes.extend_from_slice(&trailing);
        let (h, len) = check_frame(&bytes, lsn).expect("a valid frame");
        assert_eq!((len, h.lsn.get(), h.kind, h.raw_len.get()), (n, lsn, kind, raw_len));
        harness::frame_properties(&bytes, lsn);
        let mut changed = bytes.clone();
        mutate(&mut changed, 0..n, &changes);
        if changed[..n] != bytes[..n] {
            let r = check_frame(&changed, lsn);
            assert!(r.is_err(), "changed frame accepted: {r:?}");
        }
        // What follows the frame is the next frame's business.
        if !trailing.is_empty() {
            let mut next = bytes.clone();
            mutate(&mut next, n..bytes.len(), &changes);
            assert_eq!(check_frame(&next, lsn).map(|(_, l)| l), Ok(n));
        }
    });
}

#[test]
fn changed_watermark_state_or_header_is_never_accepted() {
    let values = (1..=COUNTER_LIMIT, 0..=COUNTER_LIMIT, 1..=COUNTER_LIMIT, any::<bool>(), any::<u32>());
    check("changed_watermark_state_header", 5000, (values, changes()), |((generation, a, b, flag, epoch), changes)| {
        let w = Watermark::new(generation, a, b, flag);
        assert_eq!(Watermark::decode(w.as_bytes()), Some(w));
        let mut changed = w.as_bytes().to_vec();
        mutate(&mut changed, 0..32, &changes);
        if changed != w.as_bytes() {
            assert_eq!(Watermark::decode(&changed), None, "changed watermark accepted");
        }

        let s = RingState::new(generation, epoch, a);
        assert_eq!(RingState::decode(s.as_bytes()), Some(s));
        let mut changed = s.as_bytes().to_vec();
        mutate(&mut changed, 0..28, &changes); // bytes 28..32 are reserved and not checksummed
        if changed != s.as_bytes() {
            assert_eq!(RingState::decode(&changed), None, "changed ring state accepted");
        }

        let h = SegmentHeader::new(a, b, generation);
        assert!(h.crc_ok());
        let mut changed = h.as_bytes().to_vec();
        mutate(&mut changed, 0..64, &changes);
        let changed = <SegmentHeader as replaylog::zerocopy::FromBytes>::read_from_bytes(&changed).unwrap();
        if changed != h {
            assert!(!changed.crc_ok(), "changed segment header accepted");
        }
    });
}

// ---- round trips -----------------------------------------------------------------------------------

fn field_type() -> impl Strategy<Value = FieldType> {
    use FieldType::*;
    proptest::sample::select(vec![U8, U16, U32, U64, I8, I16, I32, I64, F32, F64, Bytes])
}

fn layout() -> impl Strategy<Value = Layout> {
    let field = ("\\PC{1,12}", field_type(), any::<u32>(), any::<u32>())
        .prop_map(|(name, ty, offset, count)| Field::array(name, ty, offset, count));
    ("\\PC{0,20}", vec(field, 0..6)).prop_map(|(name, fields)| Layout::new(name, fields))
}

fn failure_kind() -> impl Strategy<Value = FailureKind> {
    prop_oneof![
        Just(FailureKind::Backend),
        Just(FailureKind::Runtime),
        Just(FailureKind::Timeout),
        any::<u16>().prop_map(FailureKind::Other)
    ]
}

#[test]
fn layout_and_archive_entries_round_trip() {
    let evidence = proptest::option::of(
        (failure_kind(), any::<i64>(), "\\PC{0,30}").prop_map(|(k, c, m)| ReplayFailureEvidence::new(k, c, m)),
    );
    let record =
        (any::<u64>(), any::<u32>(), proptest::option::of(any::<u64>()), vec(any::<u8>(), 0..64), evidence).prop_map(
            |(seq, epoch, timestamp_ns, bytes, evidence)| RawRecord { seq, epoch, timestamp_ns, bytes, evidence },
        );
    // Valid lane names, and (rarely) names the encoder must refuse.
    let lane = proptest::option::of(prop_oneof![8 => "[A-Za-z0-9_-]{1,64}", 1 => "\\PC{0,70}"]);
    let header = (any::<u32>(), any::<u64>(), any::<u64>(), proptest::option::of(layout()));
    check(
        "layout_archive_round_trip",
        2000,
        (layout(), header, (record, lane)),
        |(l, (rb, schema, cap, hl), (r, lane))| {
            let enc = l.encode();
            assert_eq!(Layout::decode(&enc), Ok(l.clone()));
            assert!(Layout::decode(&enc[..enc.len() - 1]).is_err(), "a truncated layout decodes");
            let mut longer = enc.clone();
            longer.push(0);
            assert!(Layout::decode(&longer).is_err(), "a layout with a trailing byte decodes");
            harness::other_decoders(&enc, rb.into());

            // A header whose layout does not fit its record size is refused (the archiver never
            // writes one: a ring's layout is checked when the ring is created).
            let fits = hl.as_ref().is_none_or(|l| l.check(rb).is_ok());
            let h = ArchiveHeader { record_bytes: rb, schema_id: schema, capacity: cap, layout: hl };
            let enc = h.encode();
            assert_eq!(ArchiveHeader::decode(&enc), fits.then_some(h));
            assert_eq!(ArchiveHeader::decode(&enc[..enc.len() - 1]), None);
            harness::other_decoders(&enc, rb.into());

            let mut enc = Vec::new();
            encode_record(&mut enc, &r);
            assert_eq!(decode_record(&enc, r.bytes.len()), Some(r.clone()));
            if r.evidence.is_some() {
                assert_eq!(decode_record(&enc[..enc.len() - 1], r.bytes.len()), None, "truncated evidence decodes");
            }
            harness::other_decoders(&enc, r.bytes.len() as u64);

            // With a lane: a valid name round-trips, any other is refused and nothing is written.
            let mut enc = Vec::new();
            let valid = lane.as_deref().is_none_or(|n| check_lane_name(n.as_bytes()).is_ok());
            match encode_record_in_lane(&mut enc, &r, lane.as_deref()) {
                Ok(()) => {
                    assert!(valid, "lane {lane:?} accepted");
                    let want = ArchivedRecord { record: r.clone(), lane: lane.clone() };
                    assert_eq!(decode_archived(&enc, r.bytes.len()), Ok(want));
                    assert!(
                        decode_archived(&enc[..enc.len() - 1], r.bytes.len()).is_err(),
                        "a truncated entry decodes"
                    );
                    harness::other_decoders(&enc, r.bytes.len() as u64);
                }
                Err(_) => assert!(!valid && enc.is_empty(), "lane {lane:?} refused, or bytes written: {enc:?}"),
            }
        },
    );
}

// ---- opens on arbitrary and mutated files ------------------------------------------------------------

/// Patch bytes: arbitrary, or the extremes that reach overflow paths.
fn patch_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => vec(any::<u8>(), 1..12),
        1 => Just(vec![0xFF; 8]),
        1 => Just(vec![0; 8]),
        1 => any::<u64>().prop_map(|v| v.to_le_bytes().to_vec()),
        1 => Just(u32::MAX.to_le_bytes().to_vec()),
    ]
}

/// An offset: anywhere, or near one of `hot` (the fields of the format).
fn offset(hot: &'static [usize]) -> impl Strategy<Value = usize> {
    prop_oneof![
        any::<u16>().prop_map(usize::from),
        (proptest::sample::select(hot), 0usize..48).prop_map(|(h, d)| h + d)
    ]
}

fn patch(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if buf.is_empty() {
        return;
    }
    let at = at % buf.len();
    let n = bytes.len().min(buf.len() - at);
    buf[at..at + n].copy_from_slice(&bytes[..n]);
}

const RING_HOT: &[usize] = &[
    0,
    16,
    32,
    48,
    64,
    72,
    500,
    512,
    520,
    536,
    4096,
    4112,
    4128,
    4160,
    4608,
    4616,
    8192,
    12288,
    12592,
    12896,
    13200,
    12288 + 24,
    12592 + 24,
    16384,
    16688,
];

#[test]
fn ring_open_on_arbitrary_and_mutated_files() {
    let dir = common::scratch();
    let samples: Arc<Vec<Vec<u8>>> = Arc::new(harness::sample_rings(dir.path()).into_iter().map(|(_, b)| b).collect());
    let n = samples.len();
    let base = prop_oneof![
        3 => (0..n).prop_map(move |i| samples[i].clone()),
        1 => vec(any::<u8>(), 0..14_000),
    ];
    let patches = vec((offset(RING_HOT), patch_bytes()), 0..6);
    let resize = proptest::option::weighted(0.1, 0usize..18_000);
    let path = dir.path().join("fuzzed.rlog");
    check("ring_open", 1000, (base, patches, resize), |(mut bytes, patches, resize)| {
        for (at, p) in &patches {
            patch(&mut bytes, *at, p);
        }
        if let Some(len) = resize {
            bytes.resize(len, 0x33);
        }
        replayable("ring_open", &bytes, || harness::ring_open(&bytes, &path));
    });
}

const SEGMENT_HOT: &[usize] =
    &[0, 8, 16, 24, 56, 60, 512, 520, 528, 536, 1024, 1032, 1040, 1048, 4096, 4100, 4104, 4108, 4120, 4128, 4150];

#[test]
fn journal_open_on_arbitrary_and_mutated_dirs() {
    let samples: Arc<Vec<Vec<Vec<u8>>>> =
        Arc::new(harness::sample_journals().into_iter().map(|(_, segs)| segs).collect());
    let n = samples.len();
    let base = prop_oneof![
        3 => (0..n).prop_map(move |i| samples[i].clone()),
        1 => vec(vec(any::<u8>(), 0..6000), 1..=2),
    ];
    let patches = vec((any::<bool>(), offset(SEGMENT_HOT), patch_bytes()), 0..6);
    let resize = proptest::option::weighted(0.1, (any::<bool>(), 0usize..9000));
    check("journal_open", 1000, (any::<u8>(), base, patches, resize), |(control, mut segs, patches, resize)| {
        for (second, at, p) in &patches {
            let i = usize::from(*second) % segs.len();
            patch(&mut segs[i], *at, p);
        }
        if let Some((second, len)) = resize {
            let i = usize::from(second) % segs.len();
            segs[i].resize(len, 0x33);
        }
        let input = harness::journal_input(control, &segs);
        replayable("journal_open", &input, || harness::journal_open(&input));
    });
}

// ---- findings (fuzz/artifacts-found/) ---------------------------------------------------------------

/// Runs the harness of `target` on the finding `name` of `harness::findings` in a thread: fails on
/// a panic, and on a hang (a panic inside `Journal::open` can leave its drop waiting forever).
fn replay_finding(target: &'static str, name: &str) {
    let dir = common::scratch();
    let (_, _, input) = harness::findings(dir.path()).into_iter().find(|(t, n, _)| *t == target && *n == name).unwrap();
    let path = dir.path().join("finding.rlog");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let run = || match target {
            "ring_open" => harness::ring_open(&input, &path),
            _ => harness::journal_open(&input),
        };
        let _ = tx.send(std::panic::catch_unwind(run).is_ok());
    });
    match rx.recv_timeout(std::time::Duration::from_secs(30)) {
        Ok(true) => {}
        Ok(false) => panic!("{target} panicked on finding {name}"),
        Err(_) => panic!("{target} hung on finding {name}"),
    }
}

/// RingLog::open zeroed stray slots (and rewrote a torn header copy) before refusing an exhausted
/// epoch counter, so the refused file changed (fixed in 35cbbfb).
#[test]
fn finding_ring_epoch_exhausted_modifies_file() {
    replay_finding("ring_open", "epoch-exhausted-modifies-file");
}

/// A ring state generation of u64::MAX overflowed in RingLog::open (`write_state`) (fixed in b7db998).
#[test]
fn finding_ring_state_generation_overflow() {
    replay_finding("ring_open", "state-generation-overflow");
}

/// A segment starting at LSN u64::MAX overflowed in the scan (`lsn += 1`) (fixed in b7db998).
#[test]
fn finding_journal_first_lsn_overflow() {
    replay_finding("journal_open", "first-lsn-overflow");
}

/// A segment starting at LSN 0 whose watermark claims less than 4096 bytes underflowed in
/// Journal::open (`sync_to(next_lsn - 1)`) (fixed in b7db998).
#[test]
fn finding_journal_first_lsn_zero_watermark_below_data() {
    replay_finding("journal_open", "first-lsn-zero-watermark-below-data");
}

/// A watermark generation of u64::MAX overflowed in Journal::open's sync with `syncing` set, and
/// the journal's drop then waited forever (fixed in b7db998).
#[test]
fn finding_journal_watermark_generation_overflow_hang() {
    replay_finding("journal_open", "watermark-generation-overflow-hang");
}

/// A sealed segment numbered u64::MAX overflowed in Journal::open (the next segment's number)
/// (fixed in b7db998).
#[test]
fn finding_journal_segment_number_overflow_open() {
    replay_finding("journal_open", "segment-number-overflow-open");
}

/// A segment numbered u64::MAX next to a `.tmp` leftover overflowed in `validate` /
/// `ReadOnlyJournal::validation` and `Scan::problem` (fixed in b7db998).
#[test]
fn finding_journal_segment_number_overflow_validate() {
    replay_finding("journal_open", "segment-number-overflow-validate");
}

/// A sealed end below 4096 was cut as tail, truncating the segment to 0 bytes, and Journal::open's
/// debug assertion (verdict Clean after the cut) failed (fixed in b7db998).
#[test]
fn finding_journal_sealed_end_below_data() {
    replay_finding("journal_open", "sealed-end-below-data");
}

/// A sealed end inside a frame was cut as tail, leaving a torn frame, and Journal::open's debug
/// assertion failed (fixed in b7db998).
#[test]
fn finding_journal_sealed_end_mid_frame() {
    replay_finding("journal_open", "sealed-end-mid-frame");
}

/// Sets the epoch of the newest state copy of a ring file, resealing it.
fn set_state_epoch(bytes: &mut [u8], epoch: u32) {
    let generation = |off: u64| u64::from_le_bytes(bytes[off as usize..off as usize + 8].try_into().unwrap());
    let off = *STATE_OFFSETS.iter().max_by_key(|o| generation(**o)).unwrap() as usize;
    bytes[off + 8..off + 12].copy_from_slice(&epoch.to_le_bytes());
    let crc = crc32(&[&bytes[off..off + 24]]);
    bytes[off + 24..off + 28].copy_from_slice(&crc.to_le_bytes());
}

/// A strict-mode finding, spelled out: the watermark's `next_lsn` ran ahead of the frames (a
/// CRC-valid but inconsistent watermark), so open set `durable_next` past `next_lsn`, the next
/// write's sync returned at once, and neither it nor `close` ever flushed the entry: a write
/// acknowledged in `SyncMode::Sync` was lost (fixed in b7db998: such a watermark is refused).
#[test]
fn finding_journal_watermark_next_lsn_ahead_loses_a_write() {
    let sim = SimStorage::new();
    let dir = Path::new("/j");
    sim.create_dir(dir).unwrap();
    // Durable through 4096 (no frame yet) but claiming LSN 3 next; one valid frame (LSN 1) after.
    let seg = harness::segment(0, 1, Watermark::new(1, 4096, 3, false), &[1]);
    sim.set_contents(&dir.join(segment_name(0)), seg);
    let opts = || JournalOptions::default().storage(Arc::new(sim.clone()));
    // Refusing the inconsistent watermark is a fix too; accepting it must not lose the write.
    let Ok(journal) = Journal::open(dir, opts()) else { return };
    let lsn = journal.write(b"acknowledged").unwrap();
    journal.close().unwrap();
    let ro = replaylog::ReadOnlyJournal::open_with(Arc::new(sim.clone()), dir).unwrap();
    let found = ro.iter_from(replaylog::Position::Lsn(lsn.0)).unwrap().next().map(|i| i.map(|i| i.data));
    assert!(matches!(&found, Some(Ok(d)) if d == b"acknowledged"), "entry {lsn:?} written in Sync mode: {found:?}");
}

/// The first finding (ring_open, fixed in 35cbbfb), spelled out.
#[test]
fn ring_open_refusing_an_exhausted_epoch_leaves_the_file_untouched() {
    let dir = common::scratch();
    let path = dir.path().join("epoch.rlog");
    drop(RingLog::<[u8; 16]>::open(&path, 4).unwrap());
    let mut bytes = std::fs::read(&path).unwrap();
    set_state_epoch(&mut bytes, u32::MAX);
    bytes[12288 + 3 * 304 + 100] = 1; // one stray byte in a slot outside the (empty) window
    std::fs::write(&path, &bytes).unwrap();
    let err = RingLog::<[u8; 16]>::open(&path, 4).expect_err("epoch counter exhausted");
    assert!(matches!(err, ReplayLogError::Corrupt { .. }), "{err}");
    assert!(std::fs::read(&path).unwrap() == bytes, "the refused open changed the file ({err})");
}

/// The strict-mode finding (journal_open, fixed in 35cbbfb), spelled out: a journal that open
/// accepted, then closed, reopens.
#[test]
fn journal_accepted_by_open_reopens() {
    let sim = SimStorage::new();
    let dir = Path::new("/j");
    sim.create_dir(dir).unwrap();
    // One segment: sealed at 4096 by its watermark, with one valid frame after that end.
    let seg = harness::segment(0, 1, Watermark::new(1, 4096, 1, true), &[1]);
    assert_eq!(seg.len(), 4096 + FRAME_HEADER_BYTES + 3);
    sim.set_contents(&dir.join(segment_name(0)), seg);
    let opts = || JournalOptions::default().storage(Arc::new(sim.clone()));
    let journal = Journal::open(dir, opts()).expect("accepted");
    journal.write(b"more").unwrap();
    journal.close().unwrap();
    if let Err(e) = Journal::open(dir, opts()) {
        panic!("a journal open accepted and closed is refused on reopen: {e}");
    }
}
