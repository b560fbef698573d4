//! Parquet round trips: files written by `ParquetExporter` read back with the `parquet` crate's
//! own Arrow reader; every column's type and every value checked against the records'
//! reference decoding (`Layout::decode_record`).
#![cfg(feature = "parquet")]

use std::collections::HashMap;
use std::fs::File;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::statistics::Statistics;
use replaylog::{EntryKind, FailureKind, Layout, ReplayFailureEvidence, Value};
use replaylog_export::parquet::{ParquetExporter, ParquetOptions, ParquetSummary, arrow_schema};
use replaylog_export::{ExportError, Frame, Record, Source, SourceKind};

/// One cell of a read-back table, in a form that compares floats by their bits.
#[derive(Clone, Debug, PartialEq)]
enum Cell {
    Null,
    U(u64),
    I(i64),
    F32(u32),
    F64(u64),
    Bytes(Vec<u8>),
    Str(String),
    List(Vec<Cell>),
}

fn cell(a: &dyn Array, i: usize) -> Cell {
    if a.is_null(i) {
        return Cell::Null;
    }
    match a.data_type() {
        DataType::UInt8 => Cell::U(a.as_primitive::<UInt8Type>().value(i).into()),
        DataType::UInt16 => Cell::U(a.as_primitive::<UInt16Type>().value(i).into()),
        DataType::UInt32 => Cell::U(a.as_primitive::<UInt32Type>().value(i).into()),
        DataType::UInt64 => Cell::U(a.as_primitive::<UInt64Type>().value(i)),
        DataType::Int8 => Cell::I(a.as_primitive::<Int8Type>().value(i).into()),
        DataType::Int16 => Cell::I(a.as_primitive::<Int16Type>().value(i).into()),
        DataType::Int32 => Cell::I(a.as_primitive::<Int32Type>().value(i).into()),
        DataType::Int64 => Cell::I(a.as_primitive::<Int64Type>().value(i)),
        DataType::Float32 => Cell::F32(a.as_primitive::<Float32Type>().value(i).to_bits()),
        DataType::Float64 => Cell::F64(a.as_primitive::<Float64Type>().value(i).to_bits()),
        DataType::Timestamp(TimeUnit::Nanosecond, None) => {
            Cell::I(a.as_primitive::<TimestampNanosecondType>().value(i))
        }
        DataType::FixedSizeBinary(_) => Cell::Bytes(a.as_fixed_size_binary().value(i).to_vec()),
        DataType::Binary => Cell::Bytes(a.as_binary::<i32>().value(i).to_vec()),
        DataType::Utf8 => Cell::Str(a.as_string::<i32>().value(i).to_string()),
        DataType::Dictionary(k, _) => {
            let (key, values) = match k.as_ref() {
                DataType::Int8 => {
                    let d = a.as_dictionary::<Int8Type>();
                    (d.keys().value(i) as usize, d.values().clone())
                }
                DataType::Int32 => {
                    let d = a.as_dictionary::<Int32Type>();
                    (d.keys().value(i) as usize, d.values().clone())
                }
                other => panic!("dictionary key {other}"),
            };
            cell(values.as_ref(), key)
        }
        DataType::FixedSizeList(_, _) => {
            let item = a.as_fixed_size_list().value(i);
            Cell::List((0..item.len()).map(|j| cell(item.as_ref(), j)).collect())
        }
        other => panic!("unexpected column type {other}"),
    }
}

fn value_cell(v: &Value) -> Cell {
    match v {
        Value::U64(v) => Cell::U(*v),
        Value::I64(v) => Cell::I(*v),
        Value::F32(v) => Cell::F32(v.to_bits()),
        Value::F64(v) => Cell::F64(v.to_bits()),
        Value::Bytes(b) => Cell::Bytes(b.clone()),
        array => Cell::List(array.elements().iter().map(value_cell).collect()),
    }
}

/// A Parquet file read back: its columns' Arrow fields, every row as name → cell, its metadata.
struct Table {
    fields: Vec<ArrowField>,
    rows: Vec<HashMap<String, Cell>>,
    meta: Arc<ParquetMetaData>,
}

impl Table {
    fn column(&self, name: &str) -> Vec<Cell> {
        self.rows.iter().map(|r| r[name].clone()).collect()
    }

    fn names(&self) -> Vec<&str> {
        self.fields.iter().map(|f| f.name().as_str()).collect()
    }

    fn kv(&self) -> HashMap<String, String> {
        let kv = self.meta.file_metadata().key_value_metadata().expect("key-value metadata");
        kv.iter()
            .filter(|kv| kv.key.starts_with("replaylog."))
            .map(|kv| (kv.key.clone(), kv.value.clone().unwrap()))
            .collect()
    }
}

fn read(bytes: &[u8]) -> Table {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.parquet");
    std::fs::write(&path, bytes).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap()).unwrap();
    let meta = builder.metadata().clone();
    let fields: Vec<ArrowField> = builder.schema().fields().iter().map(|f| f.as_ref().clone()).collect();
    let batches: Vec<RecordBatch> = builder.with_batch_size(5).build().unwrap().collect::<Result<_, _>>().unwrap();
    let mut rows = Vec::new();
    for b in &batches {
        for i in 0..b.num_rows() {
            rows.push(fields.iter().zip(b.columns()).map(|(f, c)| (f.name().clone(), cell(c.as_ref(), i))).collect());
        }
    }
    Table { fields, rows, meta }
}

fn source(kind: SourceKind, layout: Option<&str>, record_bytes: Option<u32>) -> Source {
    Source {
        path: format!("/captures/run.{}", kind.name()).into(),
        kind,
        name: "run".into(),
        record_bytes,
        schema_id: record_bytes.map(|_| 0xfeed),
        layout: layout.map(|s| s.parse::<Layout>().unwrap()),
        capacity: None,
        window: None,
        lanes: vec![],
        timestamps: false,
    }
}

fn export_records(src: &Source, options: ParquetOptions, records: &[Record<'_>]) -> (Vec<u8>, ParquetSummary) {
    let mut out = Vec::new();
    let mut exporter = ParquetExporter::new(&mut out, src, options).unwrap();
    for r in records {
        exporter.write_record(r).unwrap();
    }
    let summary = exporter.finish().unwrap();
    (out, summary)
}

/// Deterministic pseudo-random bytes.
fn noise(state: &mut u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            *state ^= *state << 13;
            *state ^= *state >> 7;
            *state ^= *state << 17;
            (*state >> 24) as u8
        })
        .collect()
}

fn record<'a>(seq: u64, bytes: &'a [u8]) -> Record<'a> {
    Record { seq, epoch: 0, timestamp_ns: None, lane: None, lsn: None, bytes, evidence: None }
}

fn ev_cells(e: Option<&ReplayFailureEvidence>) -> (Cell, Cell, Cell) {
    match e {
        Some(e) => (Cell::Str(e.kind.name()), Cell::I(e.code), Cell::Str(e.message.clone())),
        None => (Cell::Null, Cell::Null, Cell::Null),
    }
}

fn dict(key: DataType) -> DataType {
    DataType::Dictionary(Box::new(key), Box::new(DataType::Utf8))
}

fn list(item: DataType, n: i32) -> DataType {
    DataType::FixedSizeList(Arc::new(ArrowField::new("item", item, false)), n)
}

const EVERY_TYPE: &str = "a:u8,b:u16,c:u32,d:u64,e:i8,f:i16,g:i32,h:i64,x:f32,y:f64,\
    arr:f32[3],ints:i16[2],raw:bytes[5],pos.x:f64,seq:u64";

#[test]
fn every_field_type_with_timestamps_and_evidence_round_trips_exactly() {
    let layout: Layout = EVERY_TYPE.parse().unwrap();
    let record_bytes = layout.fields.iter().map(|f| f.offset as u64 + f.span()).max().unwrap() as u32;
    let mut src = source(SourceKind::Ring, Some(EVERY_TYPE), Some(record_bytes));
    src.timestamps = true;
    src.capacity = Some(64);
    src.window = Some((100, 124));
    let evidence = [
        ReplayFailureEvidence::new(FailureKind::Timeout, 110, "deadline missed"),
        ReplayFailureEvidence::new(FailureKind::Other(7), -3, "sensor \"b\" stuck"),
        ReplayFailureEvidence::new(FailureKind::Backend, 0, ""),
    ];
    let mut state = 0x1234_5678_9abc_def1u64;
    let mut payloads: Vec<Vec<u8>> = (0..25).map(|_| noise(&mut state, record_bytes as usize)).collect();
    // NaNs with payloads, infinities, signed zero and extremes must survive bit for bit.
    let field = |name: &str| layout.fields.iter().find(|f| f.name == name).unwrap().offset as usize;
    payloads[1][field("y")..][..8].copy_from_slice(&0x7ff8_0000_dead_beefu64.to_le_bytes());
    payloads[2][field("x")..][..4].copy_from_slice(&0xffc0_0123u32.to_le_bytes());
    payloads[3][field("y")..][..8].copy_from_slice(&f64::NEG_INFINITY.to_le_bytes());
    payloads[4][field("x")..][..4].copy_from_slice(&(-0.0f32).to_le_bytes());
    payloads[5][field("d")..][..8].copy_from_slice(&u64::MAX.to_le_bytes());
    payloads[6][field("h")..][..8].copy_from_slice(&i64::MIN.to_le_bytes());
    let records: Vec<Record<'_>> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| Record {
            seq: 100 + i as u64,
            epoch: 3 + (i as u32 / 10),
            timestamp_ns: (i % 4 != 3).then_some(1_700_000_000_000_000_000 + i as u64 * 1_000_000),
            lane: None,
            lsn: None,
            bytes: p,
            evidence: (i % 5 == 2).then(|| &evidence[(i / 5) % 3]),
        })
        .collect();
    let (file, summary) = export_records(&src, ParquetOptions { batch_rows: 7, row_group_rows: 10 }, &records);
    assert_eq!(summary, ParquetSummary { rows: 25, row_groups: 3 });
    let t = read(&file);

    let types: Vec<(&str, DataType, bool)> = vec![
        ("seq", DataType::UInt64, false),
        ("epoch", DataType::UInt32, false),
        ("timestamp", DataType::Timestamp(TimeUnit::Nanosecond, None), true),
        ("a", DataType::UInt8, false),
        ("b", DataType::UInt16, false),
        ("c", DataType::UInt32, false),
        ("d", DataType::UInt64, false),
        ("e", DataType::Int8, false),
        ("f", DataType::Int16, false),
        ("g", DataType::Int32, false),
        ("h", DataType::Int64, false),
        ("x", DataType::Float32, false),
        ("y", DataType::Float64, false),
        ("arr", list(DataType::Float32, 3), false),
        ("ints", list(DataType::Int16, 2), false),
        ("raw", DataType::FixedSizeBinary(5), false),
        ("pos.x", DataType::Float64, false),
        ("field_seq", DataType::UInt64, false),
        ("evidence_kind", dict(DataType::Int32), true),
        ("evidence_code", DataType::Int64, true),
        ("evidence_message", DataType::Utf8, true),
    ];
    let got: Vec<(&str, DataType, bool)> =
        t.fields.iter().map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable())).collect();
    assert_eq!(got, types);
    let schema = arrow_schema(&src);
    assert_eq!(schema.fields().iter().map(|f| f.as_ref().clone()).collect::<Vec<_>>(), t.fields);

    assert_eq!(t.rows.len(), 25);
    for (r, row) in records.iter().zip(&t.rows) {
        assert_eq!(row["seq"], Cell::U(r.seq));
        assert_eq!(row["epoch"], Cell::U(r.epoch.into()));
        assert_eq!(row["timestamp"], r.timestamp_ns.map_or(Cell::Null, |t| Cell::I(t as i64)));
        for fv in layout.decode_record(r.bytes).unwrap().fields {
            let column = if fv.field.name == "seq" { "field_seq" } else { fv.field.name.as_str() };
            assert_eq!(row[column], value_cell(&fv.value), "seq {} field {column}", r.seq);
        }
        let (kind, code, message) = ev_cells(r.evidence);
        assert_eq!((&row["evidence_kind"], &row["evidence_code"], &row["evidence_message"]), (&kind, &code, &message));
    }
    // The planted values, through the reader's own types.
    assert_eq!(t.rows[1]["y"], Cell::F64(0x7ff8_0000_dead_beef));
    assert_eq!(t.rows[2]["x"], Cell::F32(0xffc0_0123));
    assert_eq!(t.rows[7]["evidence_kind"], Cell::Str("other(7)".into()));
    assert_eq!(t.rows[12]["evidence_kind"], Cell::Str("backend".into()));

    let kv = t.kv();
    let expect: HashMap<String, String> = [
        ("replaylog.source", "/captures/run.ring".to_string()),
        ("replaylog.kind", "ring".into()),
        ("replaylog.name", "run".into()),
        ("replaylog.schema_id", 0xfeed.to_string()),
        ("replaylog.record_bytes", record_bytes.to_string()),
        ("replaylog.layout", layout.to_string()),
        ("replaylog.layout_spec", kv.get("replaylog.layout_spec").cloned().unwrap_or_default()),
        ("replaylog.capacity", "64".into()),
        ("replaylog.window", "100..=124".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(kv, expect);
    let spec: Layout = kv["replaylog.layout_spec"].parse().unwrap();
    assert_eq!(spec.fields, layout.fields);

    // Row groups: 10, 10, 5 rows, zstd in every column chunk, seq statistics per group.
    let groups = t.meta.row_groups();
    assert_eq!(groups.iter().map(|g| g.num_rows()).collect::<Vec<_>>(), [10, 10, 5]);
    for (i, g) in groups.iter().enumerate() {
        for c in g.columns() {
            assert!(matches!(c.compression(), Compression::ZSTD(_)), "{:?}: {:?}", c.column_path(), c.compression());
            assert!(c.statistics().is_some(), "{:?} has no statistics", c.column_path());
            // Page statistics: the column index.
            assert!(c.column_index_range().is_some(), "{:?} has no column index", c.column_path());
        }
        let seq = g.columns().iter().find(|c| c.column_path().string() == "seq").unwrap();
        let Some(Statistics::Int64(s)) = seq.statistics() else { panic!("seq statistics {:?}", seq.statistics()) };
        let first = 100 + 10 * i as u64;
        let last = (first + 9).min(124);
        assert_eq!((s.min_opt().map(|v| *v as u64), s.max_opt().map(|v| *v as u64)), (Some(first), Some(last)));
    }
}

#[test]
fn without_a_layout_the_record_is_one_fixed_size_binary_column() {
    let src = source(SourceKind::Ring, None, Some(13));
    let mut state = 7;
    let payloads: Vec<Vec<u8>> = (0..9).map(|_| noise(&mut state, 13)).collect();
    let records: Vec<Record<'_>> = payloads.iter().enumerate().map(|(i, p)| record(i as u64 * 3, p)).collect();
    let (file, summary) = export_records(&src, ParquetOptions::default(), &records);
    assert_eq!(summary, ParquetSummary { rows: 9, row_groups: 1 });
    let t = read(&file);
    assert_eq!(t.names(), ["seq", "epoch", "record", "evidence_kind", "evidence_code", "evidence_message"]);
    assert_eq!(t.fields[2].data_type(), &DataType::FixedSizeBinary(13));
    assert_eq!(t.column("record"), payloads.iter().map(|p| Cell::Bytes(p.clone())).collect::<Vec<_>>());
    assert_eq!(t.column("seq"), (0..9).map(|i| Cell::U(i * 3)).collect::<Vec<_>>());
    assert_eq!(t.column("evidence_kind"), vec![Cell::Null; 9]);
    let kv = t.kv();
    assert!(!kv.contains_key("replaylog.layout") && !kv.contains_key("replaylog.window"), "{kv:?}");
}

#[test]
fn a_recorder_gets_a_dictionary_lane_column() {
    let mut src = source(SourceKind::Recorder, Some("tick:u32,value:f32"), Some(8));
    src.lanes = vec!["left".into(), "right".into()];
    src.timestamps = true;
    let payloads: Vec<Vec<u8>> =
        (0..6u32).map(|i| [i.to_le_bytes(), (i as f32 / 3.0).to_le_bytes()].concat()).collect();
    let lanes = ["right", "left", "left", "right", "left", "right"];
    let records: Vec<Record<'_>> = payloads
        .iter()
        .zip(lanes)
        .enumerate()
        .map(|(i, (p, lane))| Record { lane: Some(lane), timestamp_ns: Some(i as u64 * 10), ..record(i as u64 / 2, p) })
        .collect();
    let (file, _) = export_records(&src, ParquetOptions { batch_rows: 4, row_group_rows: 100 }, &records);
    let t = read(&file);
    assert_eq!(
        t.names(),
        ["seq", "epoch", "lane", "timestamp", "tick", "value", "evidence_kind", "evidence_code", "evidence_message"]
    );
    assert_eq!((t.fields[2].data_type(), t.fields[2].is_nullable()), (&dict(DataType::Int32), false));
    assert_eq!(t.column("lane"), lanes.iter().map(|l| Cell::Str(l.to_string())).collect::<Vec<_>>());
    assert_eq!(t.column("value"), (0..6).map(|i| Cell::F32((i as f32 / 3.0).to_bits())).collect::<Vec<_>>());
    assert_eq!(t.kv()["replaylog.lanes"], "left,right");
    assert_eq!(t.kv()["replaylog.kind"], "recorder");

    let mut out = Vec::new();
    let mut exporter = ParquetExporter::new(&mut out, &src, ParquetOptions::default()).unwrap();
    let err = exporter.write_record(&record(41, &payloads[0])).unwrap_err();
    assert!(matches!(&err, ExportError::Usage(m) if m.contains("seq 41") && m.contains("lane")), "{err}");
}

#[test]
fn an_archive_gets_nullable_lsn_and_lane() {
    let mut src = source(SourceKind::Archive, Some("v:i64"), Some(8));
    src.timestamps = true;
    let payloads: Vec<Vec<u8>> = (0..5i64).map(|i| (-i * 1000).to_le_bytes().to_vec()).collect();
    let lsns = [Some(1), Some(1), None, Some(4), Some(9)];
    let lanes = [Some("a"), None, Some("b"), Some("a"), None];
    let records: Vec<Record<'_>> =
        (0..5).map(|i| Record { lsn: lsns[i], lane: lanes[i], ..record(i as u64 + 50, &payloads[i]) }).collect();
    let (file, _) = export_records(&src, ParquetOptions::default(), &records);
    let t = read(&file);
    assert_eq!(
        t.names(),
        ["seq", "epoch", "lsn", "lane", "timestamp", "v", "evidence_kind", "evidence_code", "evidence_message"]
    );
    assert_eq!((t.fields[2].data_type(), t.fields[2].is_nullable()), (&DataType::UInt64, true));
    assert_eq!((t.fields[3].data_type(), t.fields[3].is_nullable()), (&dict(DataType::Int32), true));
    assert_eq!(t.column("lsn"), lsns.iter().map(|l| l.map_or(Cell::Null, Cell::U)).collect::<Vec<_>>());
    assert_eq!(
        t.column("lane"),
        lanes.iter().map(|l| l.map_or(Cell::Null, |l| Cell::Str(l.into()))).collect::<Vec<_>>()
    );
    assert_eq!(t.column("timestamp"), vec![Cell::Null; 5]);
    assert_eq!(t.column("v"), (0..5).map(|i| Cell::I(-i * 1000)).collect::<Vec<_>>());
    assert!(!t.kv().contains_key("replaylog.lanes"));
}

#[test]
fn journal_frames_with_a_layout_fill_the_fields_that_fit() {
    let src = source(SourceKind::Journal, Some("id:u32,pair:u16[2],value:f64"), None);
    let full: Vec<u8> =
        [&7u32.to_le_bytes()[..], &1u16.to_le_bytes(), &2u16.to_le_bytes(), &f64::NAN.to_le_bytes()].concat();
    let longer: Vec<u8> = [&full[..], b"tail"].concat();
    let frames = [
        Frame { lsn: 1, kind: EntryKind::Entry, data: &full },
        Frame { lsn: 2, kind: EntryKind::Snapshot, data: &full[..6] },
        Frame { lsn: 3, kind: EntryKind::Entry, data: &[] },
        Frame { lsn: 5, kind: EntryKind::Entry, data: &longer },
        Frame { lsn: 6, kind: EntryKind::Snapshot, data: &full[..8] },
    ];
    let mut out = Vec::new();
    let mut exporter =
        ParquetExporter::new(&mut out, &src, ParquetOptions { batch_rows: 2, row_group_rows: 3 }).unwrap();
    for f in &frames {
        exporter.write_frame(f).unwrap();
    }
    assert!(matches!(exporter.write_record(&record(0, &full)), Err(ExportError::Usage(_))));
    assert_eq!(exporter.finish().unwrap(), ParquetSummary { rows: 5, row_groups: 2 });
    let t = read(&out);
    let got: Vec<(&str, DataType, bool)> =
        t.fields.iter().map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable())).collect();
    assert_eq!(
        got,
        [
            ("lsn", DataType::UInt64, false),
            ("kind", dict(DataType::Int8), false),
            ("data", DataType::Binary, false),
            ("id", DataType::UInt32, true),
            ("pair", list(DataType::UInt16, 2), true),
            ("value", DataType::Float64, true),
        ]
    );
    let layout = src.layout.as_ref().unwrap();
    for (f, row) in frames.iter().zip(&t.rows) {
        assert_eq!(row["lsn"], Cell::U(f.lsn));
        assert_eq!(row["kind"], Cell::Str(f.kind.to_string()));
        assert_eq!(row["data"], Cell::Bytes(f.data.to_vec()));
        for field in &layout.fields {
            let expect = field.decode_value(f.data).map_or(Cell::Null, |v| value_cell(&v));
            assert_eq!(row[&field.name], expect, "lsn {} field {}", f.lsn, field.name);
        }
    }
    assert_eq!(t.column("id")[1], Cell::U(7));
    assert_eq!(t.column("pair")[1], Cell::Null);
    assert_eq!(t.column("pair")[4], Cell::List(vec![Cell::U(1), Cell::U(2)]));
    assert_eq!(t.column("value")[3], Cell::F64(f64::NAN.to_bits()));
    let kv = t.kv();
    assert_eq!(kv["replaylog.kind"], "journal");
    assert!(!kv.contains_key("replaylog.record_bytes") && !kv.contains_key("replaylog.schema_id"), "{kv:?}");
}

#[test]
fn layout_fields_named_like_fixed_columns_get_the_field_prefix() {
    let spec = "seq:u64,field_seq:u32,lane:u8,kind:u8";
    let src = source(SourceKind::Ring, Some(spec), Some(16));
    let names: Vec<String> = arrow_schema(&src).fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(
        names,
        [
            "seq",
            "epoch",
            "field_field_seq",
            "field_seq",
            "field_lane",
            "kind",
            "evidence_kind",
            "evidence_code",
            "evidence_message"
        ]
    );
    let bytes: Vec<u8> = [&9u64.to_le_bytes()[..], &8u32.to_le_bytes(), &[7, 6, 0, 0]].concat();
    let (file, _) = export_records(&src, ParquetOptions::default(), &[record(1, &bytes)]);
    let t = read(&file);
    assert_eq!(t.names(), names);
    let row = &t.rows[0];
    assert_eq!(
        [&row["seq"], &row["field_field_seq"], &row["field_seq"], &row["field_lane"], &row["kind"]],
        [&Cell::U(1), &Cell::U(9), &Cell::U(8), &Cell::U(7), &Cell::U(6)]
    );
    // In a journal, `kind` is the fixed column and `lane`, `seq` are free.
    let journal = source(SourceKind::Journal, Some(spec), None);
    let names: Vec<String> = arrow_schema(&journal).fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, ["lsn", "kind", "data", "seq", "field_seq", "lane", "field_kind"]);
}

#[test]
fn bad_input_is_a_usage_error_naming_what_is_wrong() {
    let src = source(SourceKind::Ring, Some("a:u64"), Some(8));
    let mut out = Vec::new();
    let mut exporter = ParquetExporter::new(&mut out, &src, ParquetOptions::default()).unwrap();
    let err = exporter.write_record(&record(17, &[0; 7])).unwrap_err();
    assert!(matches!(&err, ExportError::Usage(m) if m.contains("seq 17") && m.contains("7 bytes")), "{err}");
    let err = exporter.write_record(&record(20, &[0; 9])).unwrap_err();
    assert!(matches!(&err, ExportError::Usage(m) if m.contains("seq 20") && m.contains("9 bytes")), "{err}");
    let err = exporter.write_frame(&Frame { lsn: 1, kind: EntryKind::Entry, data: b"x" }).unwrap_err();
    assert!(matches!(err, ExportError::Usage(_)), "{err}");
    let big = Record { timestamp_ns: Some(u64::MAX), ..record(18, &[0; 8]) };
    let mut ts = src.clone();
    ts.timestamps = true;
    let mut out2 = Vec::new();
    let mut exporter2 = ParquetExporter::new(&mut out2, &ts, ParquetOptions::default()).unwrap();
    let err = exporter2.write_record(&big).unwrap_err();
    assert!(matches!(&err, ExportError::Usage(m) if m.contains("seq 18")), "{err}");
    // The refused records left nothing behind.
    exporter.write_record(&record(19, &[1; 8])).unwrap();
    assert_eq!(exporter.finish().unwrap().rows, 1);
    assert_eq!(read(&out).column("seq"), [Cell::U(19)]);

    let too_wide = source(SourceKind::Ring, Some("a:u64,b:u32"), Some(8));
    let err = ParquetExporter::new(Vec::new(), &too_wide, ParquetOptions::default()).err().unwrap();
    assert!(matches!(&err, ExportError::Usage(m) if m.contains("\"b\"")), "{err}");
    let no_size = source(SourceKind::Ring, None, None);
    assert!(matches!(
        ParquetExporter::new(Vec::new(), &no_size, ParquetOptions::default()),
        Err(ExportError::Usage(_))
    ));
    let zero = ParquetOptions { batch_rows: 0, row_group_rows: 10 };
    assert!(matches!(ParquetExporter::new(Vec::new(), &src, zero), Err(ExportError::Usage(_))));
}
