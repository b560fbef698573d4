//! `replaylog export --to mcap:FILE | parquet:FILE` (issue 18), run as a user runs it, and read
//! back with independent readers: the `mcap` crate (Foxglove's) and the `parquet` crate's Arrow
//! reader (Apache's). Every value is compared with what `dump --json` prints for the same
//! capture, which decodes through another path (the library's `Layout::decode_record`).
//!
//! Inputs: a ring with a layout and failure evidence, a ring without a layout, a two-lane
//! recorder directory with timestamps, an archive journal and a plain journal. Outputs: an
//! existing file is refused (and left as it was) unless `--force`; usage errors name what is
//! wrong; a failed or interrupted export leaves no file; damage outside a ring's window is
//! listed on stderr with status 1.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, UInt8Type, UInt16Type, UInt32Type, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use replaylog::recorder::{Recorder, RecorderOptions};
use replaylog::{Clock, FailureKind, Journal, JournalOptions, ReplayFailureEvidence, RingLog, RingOptions};
use serde_json::Value;

/// A record with most field kinds: integers of several widths and signs, floats, an f32 array
/// and opaque bytes; 48 bytes.
#[replaylog::record(name = "sample")]
#[derive(Clone, Copy, Debug)]
struct Sample {
    tick: u64,
    t_us: u64,
    temp: f64,
    pos: [f32; 3],
    level: i32,
    code: u16,
    mode: u8,
    tag: [u8; 5],
}

fn sample(i: u64) -> Sample {
    Sample {
        tick: i,
        t_us: 1_000 * i + 7,
        temp: 20.0 + i as f64 * 0.125,
        pos: [i as f32 * 0.1, -(i as f32), 1.0 / (i as f32 + 3.0)],
        level: 50 - i as i32,
        code: (i * 37 % 65_536) as u16,
        mode: (i % 4) as u8,
        tag: [b'r', b'u', b'n', b'0' + (i % 10) as u8, 0xff],
    }
}

fn evidence(i: u64) -> Option<ReplayFailureEvidence> {
    match i % 11 {
        5 => Some(ReplayFailureEvidence::new(FailureKind::Timeout, 110, format!("deadline missed at {i}"))),
        9 => Some(ReplayFailureEvidence::new(FailureKind::Other(7), -3, "sensor dropout")),
        _ => None,
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_replaylog")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn expect(args: &[&str], code: i32) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{args:?}: stderr {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `replaylog export PATH --to FORMAT:FILE`, which must succeed; what it printed.
fn export_to(path: &Path, format: &str, file: &Path) -> String {
    expect(&["export", s(path), "--to", &format!("{format}:{}", s(file))], 0)
}

/// `dump --json` of `path`: the reference every export is compared with.
fn dump(path: &Path) -> Vec<Value> {
    expect(&["dump", "--json", s(path)], 0).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A ring of `n` samples (capacity `cap`), with the layout stored, every 11th record carrying
/// evidence of two kinds.
fn make_ring(path: &Path, cap: u64, n: u64, clock: Clock) {
    let opts = RingOptions::default().layout_of::<Sample>().clock(clock);
    let mut log: RingLog<Sample> = RingLog::open_with(path, cap, opts).unwrap();
    for i in 0..n {
        match evidence(i) {
            Some(ev) => log.append_with_failure(&sample(i), &ev).unwrap(),
            None => log.append(&sample(i)).unwrap(),
        };
    }
    log.sync().unwrap();
}

// ---- MCAP ------------------------------------------------------------------------------------

/// A message as the `mcap` crate reads it back.
struct Msg {
    topic: String,
    schema: String,
    sequence: u32,
    log_time: u64,
    publish_time: u64,
    body: Value,
}

fn read_mcap(path: &Path) -> (Vec<Msg>, mcap::Summary, BTreeMap<String, BTreeMap<String, String>>) {
    let bytes = std::fs::read(path).unwrap();
    let mut msgs = Vec::new();
    for m in mcap::MessageStream::new(&bytes).unwrap() {
        let m = m.unwrap();
        msgs.push(Msg {
            topic: m.channel.topic.clone(),
            schema: m.channel.schema.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
            sequence: m.sequence,
            log_time: m.log_time,
            publish_time: m.publish_time,
            body: serde_json::from_slice(&m.data).unwrap(),
        });
    }
    let summary = mcap::Summary::read(&bytes).unwrap().expect("a summary section");
    let mut meta = BTreeMap::new();
    for rec in mcap::read::LinearReader::new(&bytes).unwrap() {
        if let mcap::records::Record::Metadata(m) = rec.unwrap() {
            meta.insert(m.name.clone(), m.metadata.clone());
        }
    }
    (msgs, summary, meta)
}

/// `dump --json`'s value of a field of type `ty` against the MCAP message's, by value.
fn same_value(mcap: &Value, dump: &Value, ty: &str) -> bool {
    match (mcap, dump) {
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_value(x, y, ty)),
        (Value::Null, Value::String(t)) => ["NaN", "inf", "-inf"].contains(&t.as_str()),
        _ if ty == "f32" => mcap.as_f64().map(|x| x as f32) == dump.as_f64().map(|y| y as f32),
        _ => mcap == dump,
    }
}

fn layout_types(dump_header_layout: &Value) -> BTreeMap<String, String> {
    dump_header_layout["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["name"].as_str().unwrap().to_string(), f["type"].as_str().unwrap().to_string()))
        .collect()
}

/// The stored layout's field types, from `inspect --json`.
fn types_of(path: &Path) -> BTreeMap<String, String> {
    let jsonl = expect(&["export", s(path), "--to", "jsonl"], 0);
    let header: Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    layout_types(&header["layout"])
}

#[test]
fn mcap_of_a_ring_holds_every_record_its_evidence_and_a_summary() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("rig.ring");
    make_ring(&ring, 128, 100, Clock::None);
    let file = dir.path().join("rig.mcap");
    let said = export_to(&ring, "mcap", &file);
    assert!(said.contains("exported 100 records"), "{said}");
    let (msgs, summary, meta) = read_mcap(&file);
    let want = dump(&ring);
    let types = types_of(&ring);

    let records: Vec<&Msg> = msgs.iter().filter(|m| m.topic == "/replaylog/rig").collect();
    let logs: Vec<&Msg> = msgs.iter().filter(|m| m.topic == "/replaylog/failures").collect();
    assert_eq!(records.len(), 100);
    assert_eq!(msgs.len(), records.len() + logs.len(), "no other topic");
    for (m, d) in records.iter().zip(&want) {
        let seq = d["seq"].as_u64().unwrap();
        assert_eq!(m.schema, "sample");
        // No clock: the seq is the (pseudo) time.
        assert_eq!((m.sequence as u64, m.log_time, m.publish_time), (seq, seq, seq));
        let body = m.body.as_object().unwrap();
        let fields = d["fields"].as_object().unwrap();
        assert_eq!(body.keys().collect::<Vec<_>>(), fields.keys().collect::<Vec<_>>(), "seq {seq}");
        for (k, v) in fields {
            assert!(same_value(&body[k], v, &types[k]), "seq {seq} field {k}: mcap {} dump {v}", body[k]);
        }
    }
    // Evidence: one foxglove.Log at the record's time, level ERROR, kind and code as its name.
    let with_ev: Vec<&Value> = want.iter().filter(|d| !d["evidence"].is_null()).collect();
    assert_eq!(logs.len(), with_ev.len());
    assert!(!logs.is_empty());
    for (m, d) in logs.iter().zip(&with_ev) {
        let ev = &d["evidence"];
        assert_eq!(m.schema, "foxglove.Log");
        assert_eq!(m.log_time, d["seq"].as_u64().unwrap());
        assert_eq!(m.body["level"], 4);
        assert!(m.body["message"].as_str().unwrap().contains(ev["message"].as_str().unwrap()), "{}", m.body);
        let name = m.body["name"].as_str().unwrap();
        assert!(name.contains(&ev["code"].to_string()), "{name} {ev}");
        let t = &m.body["timestamp"];
        assert_eq!(t["sec"].as_u64().unwrap() * 1_000_000_000 + t["nsec"].as_u64().unwrap(), m.log_time);
    }
    // The summary answers `mcap info` without a scan.
    let stats = summary.stats.as_ref().expect("statistics");
    assert_eq!(stats.message_count, msgs.len() as u64);
    assert_eq!(stats.channel_count as usize, summary.channels.len());
    assert!(!summary.chunk_indexes.is_empty());
    assert!(summary.chunk_indexes.iter().all(|c| c.compression == "zstd"));
    let schema = summary.schemas.values().find(|s| s.name == "sample").unwrap();
    assert_eq!(schema.encoding, "jsonschema");
    let js: Value = serde_json::from_slice(&schema.data).unwrap();
    assert_eq!(js["type"], "object");
    // Metadata: where it came from.
    let m = &meta["replaylog"];
    assert_eq!(m["source"], s(&ring));
    assert_eq!(m["kind"], "ring");
    assert_eq!(m["capacity"], "128");
    assert!(m["layout"].contains("tick"), "{m:?}");
}

#[test]
fn mcap_time_from_a_field_or_from_the_records_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r.ring");
    make_ring(&ring, 64, 30, Clock::None);
    let file = dir.path().join("t.mcap");
    expect(&["export", s(&ring), "--to", &format!("mcap:{}", s(&file)), "--time", "t_us:us"], 0);
    let (msgs, _, meta) = read_mcap(&file);
    for m in msgs.iter().filter(|m| m.topic == "/replaylog/r") {
        assert_eq!(m.log_time, m.body["t_us"].as_u64().unwrap() * 1_000);
        assert_eq!(m.publish_time, m.log_time);
    }
    assert!(meta["replaylog"]["time"].contains("t_us"), "{:?}", meta["replaylog"]);

    // A ring with a clock: the records' own stamps, whatever --time says.
    let clocked = dir.path().join("c.ring");
    make_ring(&clocked, 64, 30, Clock::Monotonic);
    let file = dir.path().join("c.mcap");
    export_to(&clocked, "mcap", &file);
    let (msgs, _, _) = read_mcap(&file);
    let want = dump(&clocked);
    let times: Vec<u64> = msgs.iter().filter(|m| m.topic == "/replaylog/c").map(|m| m.log_time).collect();
    let stamps: Vec<u64> = want.iter().map(|d| d["timestamp_ns"].as_u64().unwrap()).collect();
    assert_eq!(times, stamps);
}

/// Two lanes with timestamps: a recorder directory.
fn make_recorder(dir: &Path) {
    let opts = RecorderOptions::default().capacity_slots(64).clock(Clock::Caller).layout_of::<Sample>();
    let rec: Recorder<Sample> = Recorder::open(dir, opts).unwrap();
    for (li, name) in ["left", "right"].iter().enumerate() {
        let mut lane = rec.lane(name).unwrap();
        for i in 0..20u64 {
            let t = 1_000 + 10 * i + li as u64 * 5;
            match evidence(i + li as u64) {
                Some(ev) => lane.append_with_failure_at(t, &sample(100 * li as u64 + i), &ev).unwrap(),
                None => lane.append_at(t, &sample(100 * li as u64 + i)).unwrap(),
            };
        }
        lane.sync().unwrap();
    }
}

#[test]
fn mcap_of_a_recorder_has_a_channel_per_lane_at_the_lanes_stamps() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("rec");
    make_recorder(&rec);
    let file = dir.path().join("rec.mcap");
    export_to(&rec, "mcap", &file);
    let (msgs, summary, meta) = read_mcap(&file);
    let want = dump(&rec);
    let mut topics: Vec<&str> = summary.channels.values().map(|c| c.topic.as_str()).collect();
    topics.sort();
    assert_eq!(topics, ["/replaylog/failures", "/replaylog/left", "/replaylog/right"]);
    let records: Vec<&Msg> = msgs.iter().filter(|m| m.topic != "/replaylog/failures").collect();
    assert_eq!(records.len(), want.len());
    for (m, d) in records.iter().zip(&want) {
        assert_eq!(m.topic, format!("/replaylog/{}", d["lane"].as_str().unwrap()));
        assert_eq!(m.log_time, d["timestamp_ns"].as_u64().unwrap());
        assert_eq!(m.body["tick"], d["fields"]["tick"]);
        assert_eq!(m.sequence as u64, d["seq"].as_u64().unwrap());
    }
    let per_channel = &summary.stats.as_ref().unwrap().channel_message_counts;
    let left = summary.channels.values().find(|c| c.topic == "/replaylog/left").unwrap().id;
    assert_eq!(per_channel[&left], 20);
    assert_eq!(meta["replaylog"]["kind"], "recorder");
    assert_eq!(meta["replaylog"]["lanes"], "left,right");
}

#[test]
fn mcap_without_a_layout_carries_the_bytes_as_hex() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("raw.ring");
    let mut log: RingLog<u64> = RingLog::open(&ring, 16).unwrap();
    for i in 0..10u64 {
        log.append(&(i * 0x0101_0101)).unwrap();
    }
    log.sync().unwrap();
    drop(log);
    let file = dir.path().join("raw.mcap");
    export_to(&ring, "mcap", &file);
    let (msgs, _, _) = read_mcap(&file);
    let want = dump(&ring);
    assert_eq!(msgs.len(), 10);
    for (m, d) in msgs.iter().zip(&want) {
        assert_eq!(m.body, serde_json::json!({ "hex": d["hex"] }));
        assert_eq!(m.schema, "replaylog.raw");
    }
    // Parquet: the record's bytes in one fixed-size binary column.
    let file = dir.path().join("raw.parquet");
    export_to(&ring, "parquet", &file);
    let (b, _, _) = read_parquet(&file);
    assert_eq!(col(&b, "record").data_type(), &DataType::FixedSizeBinary(8));
    let record = col(&b, "record").as_fixed_size_binary();
    for (i, d) in want.iter().enumerate() {
        assert_eq!(hex(record.value(i)), d["hex"].as_str().unwrap());
    }
}

#[test]
fn mcap_of_an_archive_is_the_mcap_of_its_ring() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("rig.ring");
    make_ring(&ring, 128, 60, Clock::Monotonic);
    let arch = dir.path().join("rig.archive");
    expect(&["export", s(&ring), "--to", &format!("journal:{}", s(&arch))], 0);
    let (a, b) = (dir.path().join("ring.mcap"), dir.path().join("arch.mcap"));
    export_to(&ring, "mcap", &a);
    export_to(&arch, "mcap", &b);
    let ((from_ring, _, _), (from_arch, _, meta)) = (read_mcap(&a), read_mcap(&b));
    assert_eq!(from_ring.len(), from_arch.len());
    for (r, a) in from_ring.iter().zip(&from_arch) {
        let topic = if r.topic == "/replaylog/failures" { r.topic.clone() } else { "/replaylog/rig.archive".into() };
        assert_eq!(a.topic, topic);
        assert_eq!((a.schema.as_str(), a.sequence, a.log_time), (r.schema.as_str(), r.sequence, r.log_time));
        if r.topic == "/replaylog/failures" {
            assert_eq!(a.body["name"], r.body["name"]);
            assert_eq!(a.body["level"], r.body["level"]);
        } else {
            assert_eq!(a.body, r.body);
        }
    }
    assert_eq!(meta["replaylog"]["kind"], "archive");
}

// ---- Parquet ---------------------------------------------------------------------------------

fn read_parquet(path: &Path) -> (RecordBatch, BTreeMap<String, String>, usize) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let md = builder.metadata().clone();
    let kv: BTreeMap<String, String> = md
        .file_metadata()
        .key_value_metadata()
        .map(|kv| kv.iter().map(|k| (k.key.clone(), k.value.clone().unwrap_or_default())).collect())
        .unwrap_or_default();
    for rg in md.row_groups() {
        for c in rg.columns() {
            assert!(matches!(c.compression(), parquet::basic::Compression::ZSTD(_)), "{:?}", c.compression());
            assert!(c.statistics().is_some(), "statistics of {}", c.column_path());
        }
    }
    let mut batches: Vec<RecordBatch> = builder.with_batch_size(1 << 20).build().unwrap().map(|b| b.unwrap()).collect();
    assert_eq!(batches.len(), 1, "the tests' captures fit one batch");
    (batches.remove(0), kv, md.num_row_groups())
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a arrow_array::ArrayRef {
    b.column_by_name(name).unwrap_or_else(|| panic!("no column {name} in {:?}", b.schema()))
}

fn dict_str(a: &arrow_array::ArrayRef, i: usize) -> Option<String> {
    if a.is_null(i) {
        return None;
    }
    let d = a.as_any_dictionary();
    let values = d.values().as_string::<i32>();
    let keys = d.normalized_keys();
    Some(values.value(keys[i]).to_string())
}

#[test]
fn parquet_of_a_ring_has_exact_types_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("rig.ring");
    make_ring(&ring, 128, 100, Clock::Monotonic);
    let file = dir.path().join("rig.parquet");
    let said = export_to(&ring, "parquet", &file);
    assert!(said.contains("exported 100 records"), "{said}");
    let (b, kv, groups) = read_parquet(&file);
    let want = dump(&ring);
    assert_eq!((b.num_rows(), groups), (100, 1));
    let types: Vec<(String, DataType)> =
        b.schema().fields().iter().map(|f| (f.name().clone(), f.data_type().clone())).collect();
    let names: Vec<&str> = types.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "seq",
            "epoch",
            "timestamp",
            "tick",
            "t_us",
            "temp",
            "pos",
            "level",
            "code",
            "mode",
            "tag",
            "evidence_kind",
            "evidence_code",
            "evidence_message"
        ]
    );
    let ty = |n: &str| types.iter().find(|(k, _)| k == n).unwrap().1.clone();
    assert_eq!(ty("seq"), DataType::UInt64);
    assert_eq!(ty("epoch"), DataType::UInt32);
    assert_eq!(ty("timestamp"), DataType::Timestamp(TimeUnit::Nanosecond, None));
    assert_eq!(ty("tick"), DataType::UInt64);
    assert_eq!(ty("temp"), DataType::Float64);
    assert!(matches!(ty("pos"), DataType::FixedSizeList(f, 3) if *f.data_type() == DataType::Float32));
    assert_eq!(ty("level"), DataType::Int32);
    assert_eq!(ty("code"), DataType::UInt16);
    assert_eq!(ty("mode"), DataType::UInt8);
    assert_eq!(ty("tag"), DataType::FixedSizeBinary(5));
    assert_eq!(ty("evidence_code"), DataType::Int64);

    let seq = col(&b, "seq").as_primitive::<UInt64Type>();
    let epoch = col(&b, "epoch").as_primitive::<UInt32Type>();
    let ts = col(&b, "timestamp").as_primitive::<arrow_array::types::TimestampNanosecondType>();
    let tick = col(&b, "tick").as_primitive::<UInt64Type>();
    let temp = col(&b, "temp").as_primitive::<Float64Type>();
    let pos = col(&b, "pos").as_fixed_size_list();
    let level = col(&b, "level").as_primitive::<Int32Type>();
    let code = col(&b, "code").as_primitive::<UInt16Type>();
    let mode = col(&b, "mode").as_primitive::<UInt8Type>();
    let tag = col(&b, "tag").as_fixed_size_binary();
    let ev_code = col(&b, "evidence_code").as_primitive::<arrow_array::types::Int64Type>();
    let ev_msg = col(&b, "evidence_message").as_string::<i32>();
    for (i, d) in want.iter().enumerate() {
        let f = &d["fields"];
        assert_eq!(seq.value(i), d["seq"].as_u64().unwrap());
        assert_eq!(epoch.value(i) as u64, d["epoch"].as_u64().unwrap());
        assert_eq!(ts.value(i) as u64, d["timestamp_ns"].as_u64().unwrap());
        assert_eq!(tick.value(i), f["tick"].as_u64().unwrap());
        assert_eq!(temp.value(i), f["temp"].as_f64().unwrap());
        let p = pos.value(i);
        let p = p.as_primitive::<Float32Type>();
        for k in 0..3 {
            assert_eq!(p.value(k), f["pos"][k].as_f64().unwrap() as f32);
        }
        assert_eq!(level.value(i) as i64, f["level"].as_i64().unwrap());
        assert_eq!(code.value(i) as u64, f["code"].as_u64().unwrap());
        assert_eq!(mode.value(i) as u64, f["mode"].as_u64().unwrap());
        assert_eq!(hex(tag.value(i)), f["tag"].as_str().unwrap());
        let ev = &d["evidence"];
        if ev.is_null() {
            assert!(ev_code.is_null(i) && ev_msg.is_null(i) && col(&b, "evidence_kind").is_null(i));
        } else {
            assert_eq!(ev_code.value(i), ev["code"].as_i64().unwrap());
            assert_eq!(ev_msg.value(i), ev["message"].as_str().unwrap());
            let kind = dict_str(col(&b, "evidence_kind"), i).unwrap();
            let want_kind = match ev["kind"].as_str().unwrap() {
                "other" => format!("other({})", ev["other_code"]),
                k => k.to_string(),
            };
            assert_eq!(kind, want_kind);
        }
    }
    assert_eq!(kv["replaylog.source"], s(&ring));
    assert_eq!(kv["replaylog.kind"], "ring");
    assert!(kv["replaylog.layout"].contains("tick"), "{kv:?}");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn parquet_of_a_recorder_archive_and_plain_journal() {
    let dir = tempfile::tempdir().unwrap();
    // Recorder: a lane dictionary column, the lanes' stamps.
    let rec = dir.path().join("rec");
    make_recorder(&rec);
    let file = dir.path().join("rec.parquet");
    export_to(&rec, "parquet", &file);
    let (b, kv, _) = read_parquet(&file);
    let want = dump(&rec);
    assert_eq!(b.num_rows(), want.len());
    assert!(matches!(col(&b, "lane").data_type(), DataType::Dictionary(_, v) if **v == DataType::Utf8));
    let ts = col(&b, "timestamp").as_primitive::<arrow_array::types::TimestampNanosecondType>();
    for (i, d) in want.iter().enumerate() {
        assert_eq!(dict_str(col(&b, "lane"), i).as_deref(), d["lane"].as_str());
        assert_eq!(ts.value(i) as u64, d["timestamp_ns"].as_u64().unwrap());
    }
    assert_eq!(kv["replaylog.kind"], "recorder");

    // Its archive: the same records, with their lanes and LSNs.
    let arch = dir.path().join("arch");
    expect(&["export", s(&rec), "--to", &format!("journal:{}", s(&arch))], 0);
    let file = dir.path().join("arch.parquet");
    export_to(&arch, "parquet", &file);
    let (b, kv, _) = read_parquet(&file);
    let want = dump(&arch);
    assert_eq!(b.num_rows(), want.len());
    let lsn = col(&b, "lsn").as_primitive::<UInt64Type>();
    for (i, d) in want.iter().enumerate() {
        assert_eq!(lsn.value(i), d["lsn"].as_u64().unwrap());
        assert_eq!(dict_str(col(&b, "lane"), i).as_deref(), d["lane"].as_str());
    }
    assert_eq!(kv["replaylog.kind"], "archive");

    // A plain journal: lsn, kind, data; with --layout, the fields where they fit.
    let j = dir.path().join("j");
    let journal = Journal::open(&j, JournalOptions::default()).unwrap();
    journal.write(&7u64.to_le_bytes()).unwrap();
    journal.snapshot(b"state!!!").unwrap();
    journal.write(b"abc").unwrap();
    journal.close().unwrap();
    let file = dir.path().join("j.parquet");
    expect(&["export", s(&j), "--to", &format!("parquet:{}", s(&file)), "--layout", "n:u64"], 0);
    let (b, _, _) = read_parquet(&file);
    assert_eq!(b.num_rows(), 3);
    assert_eq!(col(&b, "lsn").as_primitive::<UInt64Type>().values().to_vec(), [1, 2, 3]);
    let kinds: Vec<_> = (0..3).map(|i| dict_str(col(&b, "kind"), i).unwrap()).collect();
    assert_eq!(kinds, ["entry", "snapshot", "entry"]);
    let data = col(&b, "data").as_binary::<i32>();
    assert_eq!(data.value(2), b"abc");
    let n = col(&b, "n").as_primitive::<UInt64Type>();
    assert_eq!(n.value(0), 7);
    assert!(n.is_null(2), "a 3-byte frame has no u64 field");

    // And MCAP of the plain journal: a message per frame at its LSN.
    let file = dir.path().join("j.mcap");
    export_to(&j, "mcap", &file);
    let (msgs, _, _) = read_mcap(&file);
    assert_eq!(msgs.iter().map(|m| m.log_time).collect::<Vec<_>>(), [1, 2, 3]);
}

// ---- outputs and bad input -------------------------------------------------------------------

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn an_existing_output_is_refused_unless_forced_and_usage_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("r.ring");
    make_ring(&ring, 64, 20, Clock::None);
    for to in ["mcap", "parquet"] {
        let file = dir.path().join(format!("out.{to}"));
        std::fs::write(&file, b"someone else's").unwrap();
        let target = format!("{to}:{}", s(&file));
        let out = run(&["export", s(&ring), "--to", &target]);
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("already exists") && err.contains("--force"), "{err}");
        assert_eq!(std::fs::read(&file).unwrap(), b"someone else's");
        expect(&["export", s(&ring), "--to", &target, "--force"], 0);
        assert_ne!(std::fs::read(&file).unwrap(), b"someone else's");
    }
    let before = listing(dir.path());
    let usage = |args: &[&str], needle: &str| {
        let out = run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    let m = format!("mcap:{}", s(&dir.path().join("new.mcap")));
    let p = format!("parquet:{}", s(&dir.path().join("new.parquet")));
    usage(&["export", s(&ring), "--to", "arrow:x.feather"], "mcap:FILE or parquet:FILE");
    usage(&["export", s(&ring), "--to", &m, "--time", "temp"], "temp");
    usage(&["export", s(&ring), "--to", &m, "--time", "pos"], "pos");
    usage(&["export", s(&ring), "--to", &m, "--time", "nope:ms"], "nope");
    usage(&["export", s(&ring), "--to", &m, "--time", "t_us:weeks"], "weeks");
    usage(&["export", s(&ring), "--to", &p, "--time", "t_us"], "--time applies to mcap");
    usage(&["export", s(&ring), "--to", &p, "--layout", "a:u64,b:f64[9]"], "does not fit");
    usage(&["export", s(&ring), "--to", &format!("parquet:{}", s(&dir.path().join("no/such/dir.parquet")))], "");
    assert_eq!(listing(dir.path()), before, "a refused export creates nothing");
}

#[test]
fn an_interrupted_export_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("big.ring");
    make_ring(&ring, 400_000, 400_000, Clock::None);
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let file = out_dir.join("big.mcap");
    let mut child = Command::new(bin())
        .args(["export", s(&ring), "--to", &format!("mcap:{}", s(&file))])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the export has started writing (its temporary file holds data), then SIGINT.
    let started = loop {
        let tmp: Vec<PathBuf> = std::fs::read_dir(&out_dir).unwrap().map(|e| e.unwrap().path()).collect();
        if tmp.iter().any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0)) {
            break true;
        }
        if child.try_wait().unwrap().is_some() {
            break false;
        }
        std::thread::yield_now();
    };
    assert!(started, "the export finished before it could be interrupted; make the ring larger");
    nix_kill(child.id(), "INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    assert!(listing(&out_dir).is_empty(), "left behind: {:?}", listing(&out_dir));
}

fn nix_kill(pid: u32, sig: &str) {
    let status = Command::new("kill").args([&format!("-{sig}"), &pid.to_string()]).status().unwrap();
    assert!(status.success());
}

#[test]
fn damage_outside_the_window_is_listed_and_the_window_is_exported() {
    let dir = tempfile::tempdir().unwrap();
    let ring = dir.path().join("d.ring");
    make_ring(&ring, 64, 40, Clock::None);
    // Flip a byte inside slot 3's record: the window a writer's open recovers starts after it.
    let info = replaylog::RawRing::open(&ring).unwrap().info();
    let at = (info.slots_offset + 3 * info.slot_bytes as u64 + info.slot_bytes as u64 - 20) as usize;
    let mut bytes = std::fs::read(&ring).unwrap();
    bytes[at] ^= 0x10;
    std::fs::write(&ring, &bytes).unwrap();
    let file = dir.path().join("d.parquet");
    let out = run(&["export", s(&ring), "--to", &format!("parquet:{}", s(&file))]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("slot 3") && err.contains("(seq 3)"), "{err}");
    let (b, _, _) = read_parquet(&file);
    let seqs = col(&b, "seq").as_primitive::<UInt64Type>().values().to_vec();
    assert_eq!(seqs, (4..40).collect::<Vec<u64>>());
    // dump says the same.
    let out = run(&["dump", s(&ring)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("slot 3"));
}
