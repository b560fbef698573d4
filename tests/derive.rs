//! `#[replaylog::record]`: the layout it derives equals the hand-written one (names, types,
//! offsets, counts, record name, size) for the demo's `Tick`, every field type, nested records
//! and arrays; a derived record round-trips through a ring that stores its layout. The compile
//! errors are the trybuild cases of `derive/tests/ui`.

use replaylog::zerocopy::IntoBytes;
use replaylog::{Field, FieldType, Layout, RawRing, RecordLayout, RingLog, RingOptions};

/// The demo's record (tools/replaylog-cli/src/demo.rs), attributes and all.
#[replaylog::record]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tick {
    /// Tick number.
    pub tick: u64,
    pub t_ns: u64,
    pub setpoint: f64,
    pub measured: f64,
    pub output: f64,
    pub flags: u32,
    /// Padding: not in the layout.
    pub _pad: u32,
}

#[test]
fn demo_tick_layout_equals_the_hand_written_one() {
    // The demo's hand-written `impl RecordLayout for Tick` before the derive, offsets evaluated.
    let hand_written = Layout::new(
        "Tick",
        vec![
            Field::new("tick", FieldType::U64, 0),
            Field::new("t_ns", FieldType::U64, 8),
            Field::new("setpoint", FieldType::F64, 16),
            Field::new("measured", FieldType::F64, 24),
            Field::new("output", FieldType::F64, 32),
            Field::new("flags", FieldType::U32, 40),
        ],
    );
    assert_eq!(Tick::layout(), hand_written);
    assert_eq!(Tick::layout().encode(), hand_written.encode(), "the bytes stored in a ring file");
    assert_eq!(size_of::<Tick>(), 48);
    // The user's derives are kept.
    let t = Tick { tick: 1, t_ns: 2, setpoint: 0.5, measured: 0.25, output: -1.0, flags: 3, _pad: 0 };
    assert_eq!(t.clone(), t);
    assert!(format!("{t:?}").starts_with("Tick { tick: 1,"));
}

type Meters = f64;

/// Every scalar type, an array of each, and a byte array, ordered so nothing needs padding.
#[replaylog::record(name = "all_types")]
#[repr(C)] // already written: accepted, not doubled
struct AllTypes {
    a_u64: u64,
    a_i64: i64,
    a_f64: f64,
    arr_u64: [u64; 2],
    arr_i64: [i64; 2],
    arr_f64: [f64; 2],
    a_u32: u32,
    a_i32: i32,
    a_f32: f32,
    arr_u32: [u32; 3],
    arr_i32: [i32; 3],
    arr_f32: [f32; 3],
    a_u16: u16,
    a_i16: i16,
    arr_u16: [u16; 3],
    arr_i16: [i16; 3],
    a_u8: u8,
    a_i8: i8,
    arr_i8: [i8; 3],
    bytes: [u8; 3],
    distance: Meters, // an alias: the type it names decides
    r#type: u64,      // a raw identifier: stored without `r#`
}

#[test]
fn all_types_layout() {
    use FieldType::*;
    let expected = Layout::new(
        "all_types",
        vec![
            Field::new("a_u64", U64, 0),
            Field::new("a_i64", I64, 8),
            Field::new("a_f64", F64, 16),
            Field::array("arr_u64", U64, 24, 2),
            Field::array("arr_i64", I64, 40, 2),
            Field::array("arr_f64", F64, 56, 2),
            Field::new("a_u32", U32, 72),
            Field::new("a_i32", I32, 76),
            Field::new("a_f32", F32, 80),
            Field::array("arr_u32", U32, 84, 3),
            Field::array("arr_i32", I32, 96, 3),
            Field::array("arr_f32", F32, 108, 3),
            Field::new("a_u16", U16, 120),
            Field::new("a_i16", I16, 122),
            Field::array("arr_u16", U16, 124, 3),
            Field::array("arr_i16", I16, 130, 3),
            Field::new("a_u8", U8, 136),
            Field::new("a_i8", I8, 137),
            Field::array("arr_i8", I8, 138, 3),
            Field::array("bytes", Bytes, 141, 3),
            Field::new("distance", F64, 144),
            Field::new("type", U64, 152),
        ],
    );
    assert_eq!(AllTypes::layout(), expected);
    assert_eq!(size_of::<AllTypes>(), 160);
    // Every field type appears, and the layout passes the ring's own check.
    for ty in [U8, U16, U32, U64, I8, I16, I32, I64, F32, F64, Bytes] {
        assert!(expected.fields.iter().any(|f| f.ty == ty), "{ty:?}");
    }
    AllTypes::layout().check(size_of::<AllTypes>() as u32).unwrap();
}

#[replaylog::record]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vec3 {
    pub x: f32,
    pub y: f32,
    pub z: f32,
}

#[replaylog::record]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pose {
    pub position: Vec3,
    pub velocity: Vec3,
}

/// A private record inside a public one: no `private_bounds` warning from the generated impls.
#[replaylog::record]
#[derive(Clone, Copy, Debug, PartialEq)]
struct Status {
    code: u16,
    level: u8,
    _reserved: u8,
}

/// Records nested two deep, an array of records, an array of arrays, explicit padding.
#[replaylog::record(name = "robot")]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Robot {
    pub seq: u64,
    pub pose: Pose,
    pub corners: [Vec3; 2],
    status: Status,
    pub _pad: [u8; 4],
    pub grid: [[u16; 2]; 2],
}

#[test]
fn nested_records_are_flattened_with_offsets_added() {
    use FieldType::*;
    let expected = Layout::new(
        "robot",
        vec![
            Field::new("seq", U64, 0),
            Field::new("pose.position.x", F32, 8),
            Field::new("pose.position.y", F32, 12),
            Field::new("pose.position.z", F32, 16),
            Field::new("pose.velocity.x", F32, 20),
            Field::new("pose.velocity.y", F32, 24),
            Field::new("pose.velocity.z", F32, 28),
            Field::new("corners.0.x", F32, 32),
            Field::new("corners.0.y", F32, 36),
            Field::new("corners.0.z", F32, 40),
            Field::new("corners.1.x", F32, 44),
            Field::new("corners.1.y", F32, 48),
            Field::new("corners.1.z", F32, 52),
            Field::new("status.code", U16, 56),
            Field::new("status.level", U8, 58),
            Field::array("grid.0", U16, 64, 2),
            Field::array("grid.1", U16, 68, 2),
        ],
    );
    assert_eq!(Robot::layout(), expected);
    assert_eq!(size_of::<Robot>(), 72);
    // Each nested record keeps its own layout, under its own name.
    assert_eq!(
        Vec3::layout(),
        Layout::new("Vec3", vec![Field::new("x", F32, 0), Field::new("y", F32, 4), Field::new("z", F32, 8)])
    );
    assert_eq!(Pose::layout().fields.len(), 6);
}

/// Arrays of every shape the layout keeps as one field, plus a zero-length one (no field).
#[replaylog::record]
struct Samples {
    values: [f64; 4],
    raw: [u8; 5],
    _pad: [u8; 3],
    counts: [u32; 2],
    signed: [i8; 8],
    marker: [u64; 0],
}

#[test]
fn arrays() {
    let expected = Layout::new(
        "Samples",
        vec![
            Field::array("values", FieldType::F64, 0, 4),
            Field::array("raw", FieldType::Bytes, 32, 5),
            Field::array("counts", FieldType::U32, 40, 2),
            Field::array("signed", FieldType::I8, 48, 8),
        ],
    );
    assert_eq!(Samples::layout(), expected);
    assert_eq!(size_of::<Samples>(), 56);
}

/// Nothing but padding: a record with an empty layout.
#[replaylog::record]
struct Reserved {
    _reserved: [u8; 8],
}

#[test]
fn padding_fields_are_left_out_of_the_layout() {
    assert_eq!(Reserved::layout(), Layout::new("Reserved", vec![]));
    assert!(!Robot::layout().fields.iter().any(|f| f.name.contains("_pad")));
}

fn robot(seq: u64) -> Robot {
    let f = seq as f32;
    let v = |k: f32| Vec3 { x: f + k, y: f * k, z: -f - k };
    Robot {
        seq,
        pose: Pose { position: v(1.0), velocity: v(2.0) },
        corners: [v(3.0), v(4.0)],
        status: Status { code: seq as u16, level: (seq % 7) as u8, _reserved: 0 },
        _pad: [0; 4],
        grid: [[seq as u16, 1], [2, 3]],
    }
}

#[test]
fn derived_record_round_trips_through_a_ring_with_its_layout() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("robot.ring");
    let mut log: RingLog<Robot> = RingLog::open_with(&path, 8, RingOptions::default().layout_of::<Robot>()).unwrap();
    for seq in 0..11 {
        log.append(&robot(seq)).unwrap();
    }
    log.sync().unwrap();
    assert_eq!(log.replay_all().unwrap(), (3..11).map(robot).collect::<Vec<_>>());
    drop(log);

    // The layout stored in the file is the derived one, for a reader without the Rust type.
    let raw = RawRing::open(&path).unwrap();
    assert_eq!(raw.layout(), Some(&Robot::layout()));
    drop(raw);

    // A reopen that asks for the derived layout is accepted; the records and bytes are intact.
    let log: RingLog<Robot> = RingLog::open_with(&path, 8, RingOptions::default().layout_of::<Robot>()).unwrap();
    let replayed = log.replay_all().unwrap();
    assert_eq!(replayed.last().unwrap().as_bytes(), robot(10).as_bytes());
    assert_eq!(log.layout(), Some(&Robot::layout()));
}

/// Derives written above the attribute are kept too.
#[derive(Clone, Copy, Debug, PartialEq)]
#[replaylog::record]
struct DerivesFirst {
    a: u64,
}

#[test]
fn derives_above_the_attribute_are_kept() {
    let x = DerivesFirst { a: 1 };
    assert_eq!(x.clone(), x);
    assert_eq!(DerivesFirst::layout(), Layout::new("DerivesFirst", vec![Field::new("a", FieldType::U64, 0)]));
}
