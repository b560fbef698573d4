//! MCAP round trips: files written by `McapExporter`, read back with the `mcap` crate's readers
//! (an independent implementation of the format) and compared with the records' values as
//! `Layout::decode_record` gives them.

#![cfg(feature = "mcap")]

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

use replaylog::{EntryKind, FailureKind, FieldType, Layout, ReplayFailureEvidence, Value};
use replaylog_export::mcap::{McapExporter, McapOptions, McapSummary, json_schema};
use replaylog_export::{ExportError, Frame, Record, Source, SourceKind, TimeSource, TimeUnit};
use serde_json::{Value as Json, json};

/// Deterministic test bytes (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn source(kind: SourceKind, name: &str, layout: Option<Layout>, record_bytes: Option<u32>) -> Source {
    Source {
        path: format!("/captures/{name}").into(),
        kind,
        name: name.into(),
        record_bytes,
        schema_id: None,
        layout,
        capacity: None,
        window: None,
        lanes: vec![],
        timestamps: false,
    }
}

/// One record to export, owning its bytes.
struct Rec {
    seq: u64,
    timestamp_ns: Option<u64>,
    lane: Option<String>,
    bytes: Vec<u8>,
    evidence: Option<ReplayFailureEvidence>,
}

impl Rec {
    fn record(&self) -> Record<'_> {
        Record {
            seq: self.seq,
            epoch: 3,
            timestamp_ns: self.timestamp_ns,
            lane: self.lane.as_deref(),
            lsn: None,
            bytes: &self.bytes,
            evidence: self.evidence.as_ref(),
        }
    }
}

fn export_records(source: &Source, options: McapOptions, records: &[Rec]) -> (Vec<u8>, McapSummary) {
    let mut file = Cursor::new(Vec::new());
    let mut exporter = McapExporter::new(&mut file, source, options).unwrap();
    for r in records {
        exporter.write_record(&r.record()).unwrap();
    }
    let summary = exporter.finish().unwrap();
    (file.into_inner(), summary)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks one JSON value against a decoded value: integers exact, floats of their own width
/// (an `f32` read as a number and rounded to `f32`), non-finite floats `null`, bytes as hex.
fn check_value(got: &Json, want: &Value, at: &str) {
    fn f32_eq(got: &Json, want: f32, at: &str) {
        if want.is_finite() {
            let n = got.as_f64().unwrap_or_else(|| panic!("{at}: {got} is not a number"));
            assert_eq!((n as f32).to_bits(), want.to_bits(), "{at}: {got} is not the f32 {want:?}");
        } else {
            assert!(got.is_null(), "{at}: the non-finite {want} must be null, got {got}");
        }
    }
    fn f64_eq(got: &Json, want: f64, at: &str) {
        if want.is_finite() {
            let n = got.as_f64().unwrap_or_else(|| panic!("{at}: {got} is not a number"));
            assert_eq!(n.to_bits(), want.to_bits(), "{at}: {got} is not the f64 {want:?}");
        } else {
            assert!(got.is_null(), "{at}: the non-finite {want} must be null, got {got}");
        }
    }
    fn array<'a>(got: &'a Json, len: usize, at: &str) -> &'a Vec<Json> {
        let a = got.as_array().unwrap_or_else(|| panic!("{at}: {got} is not an array"));
        assert_eq!(a.len(), len, "{at}: array length");
        a
    }
    match want {
        Value::U64(v) => assert_eq!(got.as_u64(), Some(*v), "{at}: {got}"),
        Value::I64(v) => assert_eq!(got.as_i64(), Some(*v), "{at}: {got}"),
        Value::F32(v) => f32_eq(got, *v, at),
        Value::F64(v) => f64_eq(got, *v, at),
        Value::U64Array(w) => array(got, w.len(), at).iter().zip(w).for_each(|(g, w)| assert_eq!(g.as_u64(), Some(*w))),
        Value::I64Array(w) => array(got, w.len(), at).iter().zip(w).for_each(|(g, w)| assert_eq!(g.as_i64(), Some(*w))),
        Value::F32Array(w) => array(got, w.len(), at).iter().zip(w).for_each(|(g, w)| f32_eq(g, *w, at)),
        Value::F64Array(w) => array(got, w.len(), at).iter().zip(w).for_each(|(g, w)| f64_eq(g, *w, at)),
        Value::Bytes(b) => assert_eq!(got.as_str(), Some(hex(b).as_str()), "{at}"),
        other => panic!("{at}: unexpected value kind {other:?}"),
    }
}

/// Leaves of a message: values that are not objects (arrays count as one).
fn leaves(v: &Json) -> usize {
    match v {
        Json::Object(m) => m.values().map(leaves).sum(),
        _ => 1,
    }
}

/// Checks that `message` holds exactly the fields of `bytes` decoded with `layout`, each at the
/// JSON pointer `pointer(name)`.
fn check_message(message: &Json, layout: &Layout, bytes: &[u8], pointer: &dyn Fn(&str) -> String) {
    let decoded = layout.decode_record(bytes).unwrap();
    for fv in &decoded.fields {
        let at = pointer(&fv.field.name);
        let got = message.pointer(&at).unwrap_or_else(|| panic!("{message}: no {at}"));
        check_value(got, &fv.value, &at);
    }
    assert_eq!(leaves(message), decoded.fields.len(), "{message}: exactly the record's fields");
}

/// A structural check of a value against the subset of JSON Schema the exporter generates
/// (object/properties/required, integer with bounds, number-or-null, fixed-length arrays, hex
/// strings, `oneOf` of constants).
fn validate(schema: &Json, v: &Json, at: &str) {
    fn int(v: &Json) -> Option<i128> {
        v.as_u64().map(i128::from).or_else(|| v.as_i64().map(i128::from))
    }
    if let Some(one_of) = schema.get("oneOf") {
        assert!(one_of.as_array().unwrap().iter().any(|c| c["const"] == *v), "{at}: {v} is none of {one_of}");
        return;
    }
    match &schema["type"] {
        Json::String(t) if t == "object" => {
            let m = v.as_object().unwrap_or_else(|| panic!("{at}: {v} is not an object"));
            for (k, val) in m {
                let s = schema["properties"].get(k).unwrap_or_else(|| panic!("{at}: key {k:?} not in the schema"));
                validate(s, val, &format!("{at}/{k}"));
            }
            for r in schema.get("required").and_then(Json::as_array).into_iter().flatten() {
                assert!(m.contains_key(r.as_str().unwrap()), "{at}: required {r} missing in {v}");
            }
        }
        Json::String(t) if t == "integer" => {
            let n = int(v).unwrap_or_else(|| panic!("{at}: {v} is not an integer"));
            if let Some(min) = schema.get("minimum") {
                assert!(n >= int(min).unwrap(), "{at}: {n} < {min}");
            }
            if let Some(max) = schema.get("maximum") {
                assert!(n <= int(max).unwrap(), "{at}: {n} > {max}");
            }
        }
        Json::String(t) if t == "string" => {
            let s = v.as_str().unwrap_or_else(|| panic!("{at}: {v} is not a string"));
            if let Some(p) = schema.get("pattern") {
                assert_eq!(p, "^([0-9a-f]{2})*$", "{at}: the only pattern generated");
                assert!(s.len() % 2 == 0 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)));
            }
            if let Some(n) = schema.get("minLength") {
                assert!(s.len() as u64 >= n.as_u64().unwrap(), "{at}: {s:?} shorter than {n}");
            }
            if let Some(n) = schema.get("maxLength") {
                assert!(s.len() as u64 <= n.as_u64().unwrap(), "{at}: {s:?} longer than {n}");
            }
        }
        Json::String(t) if t == "array" => {
            let a = v.as_array().unwrap_or_else(|| panic!("{at}: {v} is not an array"));
            assert!(a.len() as u64 >= schema["minItems"].as_u64().unwrap(), "{at}: too short");
            assert!(a.len() as u64 <= schema["maxItems"].as_u64().unwrap(), "{at}: too long");
            for (i, e) in a.iter().enumerate() {
                validate(&schema["items"], e, &format!("{at}/{i}"));
            }
        }
        Json::Array(types) if *types == vec![json!("number"), json!("null")] => {
            assert!(v.is_number() || v.is_null(), "{at}: {v} is neither a number nor null");
        }
        other => panic!("{at}: schema type {other} not generated by the exporter"),
    }
}

fn log_json(time: u64, message: &str, name: &str, file: &str) -> Json {
    json!({
        "timestamp": {"sec": time / 1_000_000_000, "nsec": time % 1_000_000_000},
        "level": 4,
        "message": message,
        "name": name,
        "file": file,
        "line": 0,
    })
}

/// What the file must hold, message by message.
enum Expect<'a> {
    Record { topic: String, rec: &'a Rec, time: u64 },
    Failure { json: Json, seq: u64, time: u64 },
}

const EVERY_TYPE: &str = "u8v:u8,i8v:i8,u16v:u16,i16v:i16,u32v:u32,i32v:i32,u64v:u64,i64v:i64,f32v:f32,f64v:f64,\
                          f32a:f32[3],f64a:f64[2],u16a:u16[2],i8a:i8[3],raw:bytes[5],pose.x:f64,pose.y:f64,\
                          pose.rot.w:f32,a:u8,a.b:u16,a.c.d:i32,b.x:u8,b.y.z:u8,x..y:u8";

/// Where each field of `EVERY_TYPE` must be in a message, written out by hand.
fn every_type_pointer(name: &str) -> String {
    match name {
        "pose.x" => "/pose/x",
        "pose.y" => "/pose/y",
        "pose.rot.w" => "/pose/rot/w",
        "b.x" => "/b/x",
        "b.y.z" => "/b/y/z",
        // `a` is both a field and a prefix: `a`, `a.b`, `a.c.d` stay flat; an empty part: flat.
        "a" | "a.b" | "a.c.d" | "x..y" => return format!("/{name}"),
        plain => return format!("/{plain}"),
    }
    .to_string()
}

fn put(layout: &Layout, bytes: &mut [u8], name: &str, value: &[u8]) {
    let f = layout.fields.iter().find(|f| f.name == name).unwrap();
    bytes[f.offset as usize..f.offset as usize + value.len()].copy_from_slice(value);
}

#[test]
fn records_of_every_type_in_lanes_with_timestamps_and_evidence_round_trip() {
    let mut layout: Layout = EVERY_TYPE.parse().unwrap();
    layout.name = "every_type".into();
    let record_bytes = layout.fields.iter().map(|f| f.offset as u64 + f.span()).max().unwrap() as u32 + 3;
    let mut src = source(SourceKind::Recorder, "rec", Some(layout.clone()), Some(record_bytes));
    src.lanes = vec!["main".into(), "aux".into(), "idle".into()];
    src.timestamps = true;

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let lanes = [Some("main"), Some("aux"), None, Some("late")];
    let first_seq = u64::from(u32::MAX) - 20; // the sequence wraps modulo 2^32 on the way
    let mut records = Vec::new();
    for i in 0..200u64 {
        let mut bytes = rng.bytes(record_bytes as usize);
        // Special values on some records (the rest are random bit patterns, so NaNs,
        // subnormals and huge values occur too).
        match i % 5 {
            0 => {
                put(&layout, &mut bytes, "f32v", &f32::NAN.to_le_bytes());
                put(&layout, &mut bytes, "f64v", &f64::INFINITY.to_le_bytes());
                put(&layout, &mut bytes, "u64v", &u64::MAX.to_le_bytes());
                put(&layout, &mut bytes, "i64v", &i64::MIN.to_le_bytes());
                put(&layout, &mut bytes, "f32a", &[f32::NEG_INFINITY, -0.0, 0.1].map(f32::to_le_bytes).concat());
            }
            1 => {
                put(&layout, &mut bytes, "f32v", &0.1f32.to_le_bytes());
                put(&layout, &mut bytes, "f64v", &(-0.0f64).to_le_bytes());
                put(&layout, &mut bytes, "f64a", &[f64::MIN_POSITIVE / 3.0, 1e300].map(f64::to_le_bytes).concat());
            }
            _ => {}
        }
        let evidence = match i % 7 {
            3 => Some(ReplayFailureEvidence::new(FailureKind::Timeout, 110, "deadline missed")),
            5 => Some(ReplayFailureEvidence::new(FailureKind::Other(7), -2, "bad \"frame\"\n\u{1}")),
            _ => None,
        };
        records.push(Rec {
            seq: first_seq + i,
            timestamp_ns: (i % 3 != 0).then_some(1_700_000_000_123_456_789 + i * 1_000),
            lane: lanes[(i / 3) as usize % lanes.len()].map(String::from), // runs of 3, lanes take turns
            bytes,
            evidence,
        });
    }
    let (file, summary) = export_records(&src, McapOptions::default(), &records);

    let mut expected = Vec::new();
    for rec in &records {
        let topic = format!("/replaylog/{}", rec.lane.as_deref().unwrap_or("rec"));
        let time = rec.timestamp_ns.unwrap_or(rec.seq);
        expected.push(Expect::Record { topic, rec, time });
        if let Some(ev) = &rec.evidence {
            let message = match &rec.lane {
                Some(lane) => format!("seq {} (lane {lane}): {}", rec.seq, ev.message),
                None => format!("seq {}: {}", rec.seq, ev.message),
            };
            let name = format!("{}:{}", ev.kind, ev.code);
            expected.push(Expect::Failure {
                json: log_json(time, &message, &name, "/captures/rec"),
                seq: rec.seq,
                time,
            });
        }
    }
    let failures = records.iter().filter(|r| r.evidence.is_some()).count() as u64;
    assert_eq!(summary, McapSummary { messages: records.len() as u64, failures, channels: 6 });

    let messages: Vec<mcap::Message> = mcap::MessageStream::new(&file).unwrap().map(Result::unwrap).collect();
    assert_eq!(messages.len(), expected.len());
    let record_schema: Json = {
        let schema = messages[0].channel.schema.as_ref().unwrap();
        assert_eq!((schema.name.as_str(), schema.encoding.as_str()), ("every_type", "jsonschema"));
        serde_json::from_slice(&schema.data).expect("the schema is JSON")
    };
    assert_eq!(record_schema.to_string(), json_schema(Some(&layout)).parse::<Json>().unwrap().to_string());
    // An f32 is written as the shortest text of its own width, not of its f64 widening.
    assert_eq!(messages[1].sequence, records[1].seq as u32);
    let text = std::str::from_utf8(&messages[1].data).unwrap();
    assert!(text.contains(r#""f32v":0.1,"#) && text.contains(r#""f64v":-0.0,"#), "{text}");
    for (m, want) in messages.iter().zip(&expected) {
        let body: Json = serde_json::from_slice(&m.data).unwrap_or_else(|e| panic!("{e}: {:?}", m.data));
        assert_eq!(m.channel.message_encoding, "json");
        let schema = m.channel.schema.as_ref().unwrap();
        assert_eq!(schema.encoding, "jsonschema");
        match want {
            Expect::Record { topic, rec, time } => {
                assert_eq!(&m.channel.topic, topic);
                assert_eq!((m.log_time, m.publish_time, m.sequence), (*time, *time, rec.seq as u32));
                assert_eq!(schema.name, "every_type");
                check_message(&body, &layout, &rec.bytes, &every_type_pointer);
                validate(&record_schema, &body, "");
            }
            Expect::Failure { json, seq, time } => {
                assert_eq!(m.channel.topic, "/replaylog/failures");
                assert_eq!((m.log_time, m.publish_time, m.sequence), (*time, *time, *seq as u32));
                assert_eq!(schema.name, "foxglove.Log");
                assert_eq!(&body, json);
                validate(&serde_json::from_slice(&schema.data).unwrap(), &body, "");
            }
        }
    }
    // The sequence wrapped, and both kinds of times occur.
    assert!(messages.iter().any(|m| m.sequence == 0) && messages.iter().any(|m| m.sequence == u32::MAX));
    assert!(messages.iter().any(|m| m.log_time < 1 << 32) && messages.iter().any(|m| m.log_time > 1 << 60));

    let summary = mcap::Summary::read(&file).unwrap().expect("a summary section");
    let topics: BTreeMap<&str, u16> = summary.channels.values().map(|c| (c.topic.as_str(), c.id)).collect();
    let want_topics =
        ["/replaylog/aux", "/replaylog/failures", "/replaylog/idle", "/replaylog/late", "/replaylog/main"];
    assert_eq!(topics.keys().copied().collect::<Vec<_>>(), [&want_topics[..], &["/replaylog/rec"]].concat());
    let stats = summary.stats.as_ref().unwrap();
    assert_eq!(stats.message_count, expected.len() as u64);
    assert_eq!(stats.channel_count, 6);
    assert_eq!(stats.schema_count, 2);
    for (topic, id) in &topics {
        let want = expected
            .iter()
            .filter(|e| match e {
                Expect::Record { topic: t, .. } => t == topic,
                Expect::Failure { .. } => *topic == "/replaylog/failures",
            })
            .count() as u64;
        assert_eq!(stats.channel_message_counts.get(id).copied().unwrap_or(0), want, "{topic}");
    }
    assert_eq!(stats.channel_message_counts.get(&topics["/replaylog/idle"]), None, "an empty lane still shows");
    let times = expected.iter().map(|e| match e {
        Expect::Record { time, .. } | Expect::Failure { time, .. } => *time,
    });
    assert_eq!(
        (stats.message_start_time, stats.message_end_time),
        (times.clone().min().unwrap(), times.max().unwrap())
    );
}

#[test]
fn chunks_are_zstd_compressed_indexed_and_summarised() {
    let layout: Layout = "tick:u64,seq:u64,input:f64,output:f64,cmd:f64,flags:u32,_pad:u32".parse().unwrap();
    let mut src = source(SourceKind::Ring, "tick", Some(layout.clone()), Some(48));
    src.timestamps = true;
    let records: Vec<Rec> = (0..30_000u64)
        .map(|i| {
            let t = i as f64 * 1e-3;
            let bytes = [
                i.to_le_bytes(),
                i.to_le_bytes(),
                t.sin().to_le_bytes(),
                (t * 0.7).cos().to_le_bytes(),
                (t * 3.0).sin().to_le_bytes(),
                [(i % 4) as u8, 0, 0, 0, 0, 0, 0, 0],
            ]
            .concat();
            Rec { seq: i + 1, timestamp_ns: Some(5_000_000 + i * 1_000_000), lane: None, bytes, evidence: None }
        })
        .collect();
    let (file, summary) = export_records(&src, McapOptions::default(), &records);
    assert_eq!(summary, McapSummary { messages: 30_000, failures: 0, channels: 1 });

    let footer = mcap::read::footer(&file).unwrap();
    assert_ne!(footer.summary_start, 0, "a summary section");
    assert_ne!(footer.summary_offset_start, 0, "summary offsets");
    let s = mcap::Summary::read(&file).unwrap().unwrap();
    let stats = s.stats.as_ref().unwrap();
    assert_eq!(stats.message_count, 30_000);
    assert_eq!((stats.message_start_time, stats.message_end_time), (5_000_000, 5_000_000 + 29_999 * 1_000_000));
    assert!(s.chunk_indexes.len() > 1, "30 000 messages of ~120 bytes take several 1 MiB chunks");
    assert_eq!(stats.chunk_count as usize, s.chunk_indexes.len());
    let mut streamed = 0;
    for ci in &s.chunk_indexes {
        assert_eq!(ci.compression, "zstd");
        assert!(ci.compressed_size < ci.uncompressed_size / 2, "{ci:?}");
        assert_eq!(ci.message_index_offsets.len(), 1, "a message index for the channel");
        let index = s.read_message_indexes(&file, ci).unwrap();
        let entries: usize = index.values().map(Vec::len).sum();
        let messages: Vec<_> = s.stream_chunk(&file, ci).unwrap().map(Result::unwrap).collect();
        assert_eq!(entries, messages.len());
        assert!(messages.iter().all(|m| (ci.message_start_time..=ci.message_end_time).contains(&m.log_time)));
        streamed += messages.len();
    }
    assert_eq!(streamed, 30_000);
    // Seek to one message through the indexes.
    let ci = &s.chunk_indexes[1];
    let index = s.read_message_indexes(&file, ci).unwrap();
    let entry = &index.values().next().unwrap()[10];
    let m = s.seek_message(&file, ci, entry).unwrap();
    let rec = records.iter().find(|r| r.timestamp_ns == Some(m.log_time)).unwrap();
    check_message(&serde_json::from_slice(&m.data).unwrap(), &layout, &rec.bytes, &|n| format!("/{n}"));

    // The same, record by record, as a linear reader sees the file.
    let (mut chunks, mut message_indexes, mut chunk_indexes, mut statistics) = (0, 0, 0, 0);
    let mut header = None;
    for record in mcap::read::LinearReader::new(&file).unwrap() {
        match record.unwrap() {
            mcap::records::Record::Header(h) => header = Some(h),
            mcap::records::Record::Chunk { header, .. } => {
                assert_eq!(header.compression, "zstd");
                chunks += 1;
            }
            mcap::records::Record::MessageIndex(_) => message_indexes += 1,
            mcap::records::Record::ChunkIndex(_) => chunk_indexes += 1,
            mcap::records::Record::Statistics(_) => statistics += 1,
            _ => {}
        }
    }
    assert_eq!((chunks, message_indexes, chunk_indexes, statistics), (s.chunk_indexes.len(), chunks, chunks, 1));
    let header = header.unwrap();
    assert_eq!(header.profile, "");
    assert!(header.library.starts_with("replaylog-export/"), "{}", header.library);
    // Every chunk's CRC checks out.
    let with_crcs =
        mcap::MessageStream::new_with_options(&file, mcap::read::Options::ValidateChunkCrcs.into()).unwrap();
    assert_eq!(with_crcs.map(Result::unwrap).count(), 30_000);
}

fn metadata(file: &[u8]) -> BTreeMap<String, String> {
    let summary = mcap::Summary::read(file).unwrap().unwrap();
    assert_eq!(summary.stats.as_ref().unwrap().metadata_count, 1);
    let [index] = &summary.metadata_indexes[..] else { panic!("one metadata record") };
    assert_eq!(index.name, "replaylog");
    let m = mcap::read::metadata(file, index).unwrap();
    assert_eq!(m.name, "replaylog");
    m.metadata
}

fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
    entries.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn the_replaylog_metadata_record_describes_the_source() {
    let layout: Layout = "t_us:i64,v:f32".parse().unwrap();
    let mut ring = source(SourceKind::Ring, "run", Some(layout.clone()), Some(16));
    ring.schema_id = Some(0xfeed);
    ring.capacity = Some(4096);
    ring.window = Some((5, 9));
    ring.timestamps = true;
    let (file, _) = export_records(&ring, McapOptions::default(), &[]);
    let layout_text = layout.to_string();
    assert_eq!(
        metadata(&file),
        map(&[
            ("source", "/captures/run"),
            ("kind", "ring"),
            ("schema_id", "65261"),
            ("record_bytes", "16"),
            ("capacity", "4096"),
            ("layout", &layout_text),
            ("window", "5..=9"),
            ("lanes", ""),
            ("time", "timestamp"),
        ])
    );

    ring.timestamps = false;
    let (file, _) = export_records(&ring, McapOptions::default(), &[]);
    assert_eq!(metadata(&file)["time"], "seq (pseudo-time)");
    let time = TimeSource::Field { name: "t_us".into(), unit: TimeUnit::Us };
    let (file, _) = export_records(&ring, McapOptions { time }, &[]);
    assert_eq!(metadata(&file)["time"], "field t_us (us)");

    let mut recorder = source(SourceKind::Recorder, "dir", None, Some(16));
    recorder.lanes = vec!["a".into(), "b".into()];
    let (file, summary) = export_records(&recorder, McapOptions::default(), &[]);
    assert_eq!(summary, McapSummary { messages: 0, failures: 0, channels: 2 });
    assert_eq!(
        metadata(&file),
        map(&[
            ("source", "/captures/dir"),
            ("kind", "recorder"),
            ("record_bytes", "16"),
            ("layout", ""),
            ("window", ""),
            ("lanes", "a,b"),
            ("time", "seq (pseudo-time)"),
        ])
    );

    let journal = source(SourceKind::Journal, "j", None, None);
    let mut file = Cursor::new(Vec::new());
    McapExporter::new(&mut file, &journal, McapOptions::default()).unwrap().finish().unwrap();
    assert_eq!(
        metadata(file.get_ref()),
        map(&[
            ("source", "/captures/j"),
            ("kind", "journal"),
            ("layout", ""),
            ("window", ""),
            ("lanes", ""),
            ("time", "lsn (pseudo-time)")
        ])
    );
}

#[test]
fn a_time_field_gives_the_time_in_its_unit_saturating_and_never_negative() {
    let layout: Layout = "t:i64,ms:u16,v:f32".parse().unwrap();
    let src = source(SourceKind::Ring, "run", Some(layout.clone()), Some(16));
    let rec = |seq: u64, t: i64, ms: u16, evidence: bool| Rec {
        seq,
        timestamp_ns: Some(123), // ignored: the field is the time
        lane: None,
        bytes: [&t.to_le_bytes()[..], &ms.to_le_bytes(), &[0, 0], &1.5f32.to_le_bytes()].concat(),
        evidence: evidence.then(|| ReplayFailureEvidence::new(FailureKind::Backend, 5, "dropped")),
    };
    let records = [rec(1, 5, 7, false), rec(2, -3, 8, true), rec(3, i64::MAX, 9, false), rec(4, 1 << 40, 0, false)];
    let times = |file: &[u8]| {
        mcap::MessageStream::new(file)
            .unwrap()
            .map(|m| {
                let m = m.unwrap();
                assert_eq!(m.log_time, m.publish_time);
                (m.channel.topic.clone(), m.log_time)
            })
            .collect::<Vec<_>>()
    };
    let run = |t: u64| ("/replaylog/run".to_string(), t);
    let fail = |t: u64| ("/replaylog/failures".to_string(), t);

    let time = TimeSource::Field { name: "t".into(), unit: TimeUnit::Us };
    let (file, _) = export_records(&src, McapOptions { time }, &records);
    assert_eq!(times(&file), [run(5_000), run(0), fail(0), run(u64::MAX), run((1 << 40) * 1_000)]);

    let time = TimeSource::Field { name: "t".into(), unit: TimeUnit::Ns };
    let (file, _) = export_records(&src, McapOptions { time }, &records);
    assert_eq!(times(&file), [run(5), run(0), fail(0), run(i64::MAX as u64), run(1 << 40)]);

    let time = TimeSource::Field { name: "ms".into(), unit: TimeUnit::Ms };
    let (file, _) = export_records(&src, McapOptions { time }, &records);
    assert_eq!(times(&file), [run(7_000_000), run(8_000_000), fail(8_000_000), run(9_000_000), run(0)]);

    let time = TimeSource::Field { name: "ms".into(), unit: TimeUnit::S };
    let (file, _) = export_records(&src, McapOptions { time }, &records[1..2]);
    let failure: Json =
        serde_json::from_slice(&mcap::MessageStream::new(&file).unwrap().nth(1).unwrap().unwrap().data).unwrap();
    assert_eq!(failure["timestamp"], json!({"sec": 8, "nsec": 0}));
    assert_eq!(failure["name"], "backend:5");
}

fn usage(r: Result<impl Sized, ExportError>) -> String {
    match r {
        Err(ExportError::Usage(why)) => why,
        Err(e) => panic!("expected a usage error, got {e}"),
        Ok(_) => panic!("expected a usage error"),
    }
}

#[test]
fn a_time_field_must_be_a_scalar_integer_field_and_the_layout_must_fit() {
    let layout: Layout = "t:i64,v:f32,arr:u32[2],raw:bytes[4]".parse().unwrap();
    let src = source(SourceKind::Ring, "run", Some(layout.clone()), Some(24));
    let new = |src: &Source, name: &str| {
        let time = TimeSource::Field { name: name.into(), unit: TimeUnit::Ns };
        McapExporter::new(Cursor::new(Vec::new()), src, McapOptions { time }).map(|_| ())
    };
    assert!(new(&src, "t").is_ok());
    assert_eq!(
        usage(new(&src, "nope")),
        "time field \"nope\" is not a scalar integer field: the layout layout has no such field"
    );
    assert_eq!(usage(new(&src, "v")), "time field \"v\" is not a scalar integer field: the field is f32");
    assert_eq!(
        usage(new(&src, "arr")),
        "time field \"arr\" is not a scalar integer field: the field is an array of u32"
    );
    assert_eq!(usage(new(&src, "raw")), "time field \"raw\" is not a scalar integer field: the field is bytes[4]");
    let raw = source(SourceKind::Ring, "run", None, Some(24));
    assert_eq!(usage(new(&raw, "t")), "time field \"t\" is not a scalar integer field: the records have no layout");

    let small = source(SourceKind::Ring, "run", Some(layout.clone()), Some(20));
    let why = usage(McapExporter::new(Cursor::new(Vec::new()), &small, McapOptions::default()).map(|_| ()));
    assert!(why.starts_with("layout layout does not fit the records: field \"raw\""), "{why}");

    // A record shorter than its layout (a caller's mistake) is refused, not exported half.
    let mut out = Cursor::new(Vec::new());
    let mut exporter = McapExporter::new(&mut out, &src, McapOptions::default()).unwrap();
    let short = Rec { seq: 9, timestamp_ns: None, lane: None, bytes: vec![0; 23], evidence: None };
    assert_eq!(
        usage(exporter.write_record(&short.record())),
        "seq 9: the 23-byte record is shorter than the layout, which spans 24 bytes"
    );
}

#[test]
fn records_without_a_layout_are_hex() {
    let src = source(SourceKind::Archive, "arch", None, Some(7));
    let mut rng = Rng(7);
    let records: Vec<Rec> = (0..50u64)
        .map(|i| Rec {
            seq: 100 + i,
            timestamp_ns: None,
            lane: (i % 2 == 0).then(|| "x".to_string()),
            bytes: rng.bytes(7),
            evidence: None,
        })
        .collect();
    let (file, summary) = export_records(&src, McapOptions::default(), &records);
    assert_eq!(summary, McapSummary { messages: 50, failures: 0, channels: 2 });
    let messages: Vec<_> = mcap::MessageStream::new(&file).unwrap().map(Result::unwrap).collect();
    assert_eq!(messages.len(), 50);
    for (m, rec) in messages.iter().zip(&records) {
        let schema = m.channel.schema.as_ref().unwrap();
        assert_eq!((schema.name.as_str(), schema.encoding.as_str()), ("replaylog.raw", "jsonschema"));
        let schema: Json = serde_json::from_slice(&schema.data).unwrap();
        let body: Json = serde_json::from_slice(&m.data).unwrap();
        assert_eq!(body, json!({ "hex": hex(&rec.bytes) }));
        validate(&schema, &body, "");
        let topic = if rec.lane.is_some() { "/replaylog/x" } else { "/replaylog/arch" };
        assert_eq!((m.channel.topic.as_str(), m.log_time, m.sequence), (topic, rec.seq, rec.seq as u32));
    }
}

#[test]
fn a_lane_named_failures_does_not_share_the_failure_log_topic() {
    let mut src = source(SourceKind::Recorder, "rec", None, Some(4));
    src.lanes = vec!["failures".into(), "main".into()];
    let ev = ReplayFailureEvidence::new(FailureKind::Timeout, 110, "late");
    let records: Vec<Rec> = (0..4u64)
        .map(|i| Rec {
            seq: i,
            timestamp_ns: None,
            lane: Some(if i % 2 == 0 { "failures" } else { "main" }.to_string()),
            bytes: vec![i as u8; 4],
            evidence: (i == 2).then(|| ev.clone()),
        })
        .collect();
    let (file, summary) = export_records(&src, McapOptions::default(), &records);
    assert_eq!(summary, McapSummary { messages: 4, failures: 1, channels: 3 });
    let got: Vec<(String, String)> = mcap::MessageStream::new(&file)
        .unwrap()
        .map(Result::unwrap)
        .map(|m| (m.channel.topic.clone(), m.channel.schema.as_ref().unwrap().name.clone()))
        .collect();
    let want = [
        ("/replaylog/failures.records", "replaylog.raw"),
        ("/replaylog/main", "replaylog.raw"),
        ("/replaylog/failures.records", "replaylog.raw"),
        ("/replaylog/failures", "foxglove.Log"),
        ("/replaylog/main", "replaylog.raw"),
    ];
    assert_eq!(got, want.map(|(t, s)| (t.to_string(), s.to_string())));
}

fn export_frames(src: &Source, frames: &[(u64, EntryKind, Vec<u8>)]) -> Vec<u8> {
    let mut file = Cursor::new(Vec::new());
    let mut exporter = McapExporter::new(&mut file, src, McapOptions::default()).unwrap();
    for (lsn, kind, data) in frames {
        exporter.write_frame(&Frame { lsn: *lsn, kind: *kind, data }).unwrap();
    }
    let summary = exporter.finish().unwrap();
    let snapshots = frames.iter().any(|f| f.1 == EntryKind::Snapshot);
    assert_eq!(summary, McapSummary { messages: frames.len() as u64, failures: 0, channels: 1 + snapshots as u32 });
    file.into_inner()
}

#[test]
fn journal_frames_are_decoded_when_the_layout_fits_else_hex() {
    // A layout with its own top-level `hex`: the raw key of frames it does not fit is `_hex`.
    let layout: Layout = "tick:u64,v.w:f32,hex:bytes[2]".parse().unwrap();
    let src = source(SourceKind::Journal, "jr", Some(layout.clone()), None);
    let fits = |tick: u64| [&tick.to_le_bytes()[..], &2.5f32.to_le_bytes(), &[0xab, 0xcd]].concat();
    let base = 1u64 << 33; // LSNs above 2^32: the sequence wraps
    let frames = vec![
        (base + 1, EntryKind::Entry, fits(1)),
        (base + 2, EntryKind::Entry, [fits(2), vec![9, 9, 9]].concat()), // longer: decoded, tail ignored
        (base + 3, EntryKind::Entry, vec![1, 2, 3]),                     // shorter: hex
        (base + 4, EntryKind::Snapshot, fits(4)),
        (base + 5, EntryKind::Snapshot, vec![]),
    ];
    let file = export_frames(&src, &frames);
    let messages: Vec<_> = mcap::MessageStream::new(&file).unwrap().map(Result::unwrap).collect();
    assert_eq!(messages.len(), frames.len());
    for (m, (lsn, kind, data)) in messages.iter().zip(&frames) {
        let topic = match kind {
            EntryKind::Entry => "/replaylog/jr",
            EntryKind::Snapshot => "/replaylog/jr/snapshots",
        };
        assert_eq!((m.channel.topic.as_str(), m.log_time, m.publish_time), (topic, *lsn, *lsn));
        assert_eq!(m.sequence, *lsn as u32);
        let schema = m.channel.schema.as_ref().unwrap();
        assert_eq!((schema.name.as_str(), schema.encoding.as_str()), ("layout", "jsonschema"));
        let body: Json = serde_json::from_slice(&m.data).unwrap();
        if data.len() >= 14 {
            let pointer = |n: &str| if n == "v.w" { "/v/w".to_string() } else { format!("/{n}") };
            check_message(&body, &layout, data, &pointer);
        } else {
            assert_eq!(body, json!({ "_hex": hex(data) }));
        }
        validate(&serde_json::from_slice(&schema.data).unwrap(), &body, "");
    }

    let raw = source(SourceKind::Journal, "jr", None, None);
    let file = export_frames(&raw, &frames[2..4]);
    let messages: Vec<_> = mcap::MessageStream::new(&file).unwrap().map(Result::unwrap).collect();
    for (m, (_, _, data)) in messages.iter().zip(&frames[2..4]) {
        assert_eq!(m.channel.schema.as_ref().unwrap().name, "replaylog.raw");
        assert_eq!(serde_json::from_slice::<Json>(&m.data).unwrap(), json!({ "hex": hex(data) }));
    }
}

#[test]
fn failures_use_foxglove_log_with_escaped_text() {
    let mut src = source(SourceKind::Ring, "r", None, Some(2));
    src.path = "/odd \"dir\"\\run\t.ring".into();
    let records = [
        Rec {
            seq: 42,
            timestamp_ns: Some(3_000_000_007),
            lane: Some("main".into()),
            bytes: vec![1, 2],
            evidence: Some(ReplayFailureEvidence::new(FailureKind::Timeout, 110, "deadline missed")),
        },
        Rec {
            seq: 43,
            timestamp_ns: None,
            lane: None,
            bytes: vec![3, 4],
            evidence: Some(ReplayFailureEvidence::new(FailureKind::Other(9), i64::MIN, "é \u{1f} \"q\" \\")),
        },
    ];
    let (file, summary) = export_records(&src, McapOptions::default(), &records);
    assert_eq!(summary, McapSummary { messages: 2, failures: 2, channels: 3 });
    let failures: Vec<_> = mcap::MessageStream::new(&file)
        .unwrap()
        .map(Result::unwrap)
        .filter(|m| m.channel.topic == "/replaylog/failures")
        .collect();
    let file_name = "/odd \"dir\"\\run\t.ring";
    let want = [
        (42, 3_000_000_007, log_json(3_000_000_007, "seq 42 (lane main): deadline missed", "timeout:110", file_name)),
        (43, 43, log_json(43, "seq 43: é \u{1f} \"q\" \\", &format!("other(9):{}", i64::MIN), file_name)),
    ];
    assert_eq!(failures.len(), 2);
    for (m, (seq, time, json)) in failures.iter().zip(&want) {
        assert_eq!((m.sequence, m.log_time, m.publish_time), (*seq, *time, *time));
        assert_eq!(&serde_json::from_slice::<Json>(&m.data).unwrap(), json);
    }
    assert_eq!(want[0].2["timestamp"], json!({"sec": 3, "nsec": 7}));

    // The schema is Foxglove's foxglove.Log.
    let schema = failures[0].channel.schema.as_ref().unwrap();
    assert_eq!((schema.name.as_str(), schema.encoding.as_str()), ("foxglove.Log", "jsonschema"));
    let schema: Json = serde_json::from_slice(&schema.data).unwrap();
    assert_eq!(schema["title"], "foxglove.Log");
    let properties: BTreeSet<&str> = schema["properties"].as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(properties, BTreeSet::from(["file", "level", "line", "message", "name", "timestamp"]));
    let levels: Vec<(&str, u64)> = schema["properties"]["level"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["title"].as_str().unwrap(), l["const"].as_u64().unwrap()))
        .collect();
    assert_eq!(levels, [("UNKNOWN", 0), ("DEBUG", 1), ("INFO", 2), ("WARNING", 3), ("ERROR", 4), ("FATAL", 5)]);
    let ts = &schema["properties"]["timestamp"]["properties"];
    assert_eq!((ts["sec"]["type"].as_str(), ts["nsec"]["maximum"].as_u64()), (Some("integer"), Some(999_999_999)));
}

#[test]
fn the_schema_follows_the_layout() {
    let layout: Layout = "a:u8,b:i16[3],c.d:f32,c.e:bytes[2],c.f.g:u64,h:i64,h.i:u8".parse().unwrap();
    let schema: Json = serde_json::from_str(&json_schema(Some(&layout))).expect("valid JSON");
    assert_eq!(schema["title"], "layout");
    let p = &schema["properties"];
    assert_eq!(p["a"], json!({"type": "integer", "minimum": 0, "maximum": 255}));
    assert_eq!(p["b"]["type"], "array");
    assert_eq!((p["b"]["minItems"].as_u64(), p["b"]["maxItems"].as_u64()), (Some(3), Some(3)));
    assert_eq!(p["b"]["items"], json!({"type": "integer", "minimum": -32768, "maximum": 32767}));
    assert_eq!(p["c"]["type"], "object");
    assert_eq!(p["c"]["properties"]["d"]["type"], json!(["number", "null"]));
    assert_eq!(p["c"]["properties"]["e"]["contentEncoding"], "base16");
    assert_eq!(p["c"]["properties"]["e"]["maxLength"], 4);
    assert_eq!(p["c"]["properties"]["f"]["properties"]["g"]["maximum"].as_u64(), Some(u64::MAX));
    assert_eq!(p["c"]["required"], json!(["d", "e", "f"]));
    assert_eq!(p["h"]["minimum"].as_i64(), Some(i64::MIN));
    assert_eq!(p["h.i"]["maximum"], 255, "h is a field and a prefix: h.i stays flat");
    assert_eq!(schema["required"], json!(["a", "b", "c", "h", "h.i"]));

    let raw: Json = serde_json::from_str(&json_schema(None)).unwrap();
    assert_eq!(raw["title"], "replaylog.raw");
    assert_eq!(raw["required"], json!(["hex"]));
    assert_eq!(raw["properties"]["hex"]["type"], "string");
}

/// Export speed of the demo's 48-byte tick, next to the CLI's `--to jsonl` way (a serde_json
/// value per record). Run: `cargo test -p replaylog-export --release --test mcap -- --ignored
/// --nocapture`.
#[test]
#[ignore = "a timing, run by hand in release"]
fn speed_of_one_million_ticks() {
    use std::io::{BufWriter, Write};
    use std::time::Instant;

    let n = 1_000_000u64;
    let layout: Layout = "tick:u64,seq:u64,input:f64,output:f64,cmd:f64,flags:u32,_pad:u32".parse().unwrap();
    let mut src = source(SourceKind::Ring, "tick", Some(layout.clone()), Some(48));
    src.timestamps = true;
    let record = |i: u64| {
        let t = i as f64 * 1e-3;
        let (input, output) = (t.sin(), (t * 0.7).cos() * 0.98);
        let cmd = 0.5 * (input - output);
        [
            &i.to_le_bytes()[..],
            &i.to_le_bytes(),
            &input.to_le_bytes(),
            &output.to_le_bytes(),
            &cmd.to_le_bytes(),
            &((i % 4) as u32).to_le_bytes(),
            &[0; 4],
        ]
        .concat()
    };
    let records: Vec<Vec<u8>> = (0..n).map(record).collect();
    let dir = tempfile::tempdir().unwrap();

    let path = dir.path().join("ticks.mcap");
    let start = Instant::now();
    let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut exporter = McapExporter::new(&mut out, &src, McapOptions::default()).unwrap();
    for (i, bytes) in records.iter().enumerate() {
        let i = i as u64;
        let r = Record { seq: i, epoch: 1, timestamp_ns: Some(i * 1000), lane: None, lsn: None, bytes, evidence: None };
        exporter.write_record(&r).unwrap();
    }
    exporter.finish().unwrap();
    drop(out);
    let mcap_time = start.elapsed();
    let mcap_size = std::fs::metadata(&path).unwrap().len();

    let path = dir.path().join("ticks.jsonl");
    let start = Instant::now();
    let mut out = BufWriter::new(std::fs::File::create(&path).unwrap());
    for (i, bytes) in records.iter().enumerate() {
        let fields: serde_json::Map<String, Json> = layout
            .decode_record(bytes)
            .unwrap()
            .fields
            .iter()
            .map(|f| {
                let v = match &f.value {
                    Value::U64(v) => json!(v),
                    Value::F64(v) => json!(v),
                    other => json!(other.to_string()),
                };
                (f.field.name.clone(), v)
            })
            .collect();
        let line = json!({"type": "record", "seq": i, "epoch": 1, "timestamp_ns": i * 1000, "lane": null,
            "lsn": null, "fields": fields, "hex": hex(bytes), "evidence": null});
        serde_json::to_writer(&mut out, &line).unwrap();
        out.write_all(b"\n").unwrap();
    }
    out.flush().unwrap();
    let jsonl_time = start.elapsed();
    let jsonl_size = std::fs::metadata(&path).unwrap().len();
    println!(
        "{n} ticks: mcap {mcap_time:?} {mcap_size} bytes ({:.0} ns/record); jsonl (serde_json values) {jsonl_time:?} \
         {jsonl_size} bytes ({:.0} ns/record)",
        mcap_time.as_nanos() as f64 / n as f64,
        jsonl_time.as_nanos() as f64 / n as f64
    );
}

#[test]
fn the_field_types_of_the_every_type_layout_cover_every_scalar_type() {
    // Guards the round trip above: every element type, an array of each float width, bytes.
    let layout: Layout = EVERY_TYPE.parse().unwrap();
    let scalars: BTreeSet<&str> = layout.fields.iter().filter(|f| f.count == 1).map(|f| f.ty.name()).collect();
    let all = ["f32", "f64", "i16", "i32", "i64", "i8", "u16", "u32", "u64", "u8"];
    assert_eq!(scalars, BTreeSet::from(all));
    let arrays: Vec<FieldType> = layout.fields.iter().filter(|f| f.count > 1).map(|f| f.ty).collect();
    assert!([FieldType::F32, FieldType::F64, FieldType::Bytes].iter().all(|t| arrays.contains(t)));
}
