//! MCAP export (feature `mcap`): files Foxglove, the `mcap` CLI and ROS 2 tools open as they
//! are.
//!
//! # The file
//!
//! * **Chunks** compressed with zstd (about 1 MiB of messages each), with a message index per
//!   chunk and channel, chunk indexes, statistics and a summary section, so a viewer seeks
//!   without reading the whole file and `mcap info` prints counts without a scan. The header's
//!   profile is empty (no ROS profile: the messages are JSON).
//! * **One channel per lane**: a record with a lane is published on `/replaylog/<lane>`, a record
//!   without one on `/replaylog/<source name>`. A recorder's lanes ([`Source::lanes`]) get their
//!   channel when the export starts, so a lane without records still shows; any other lane gets
//!   its channel when its first record arrives (a lane named `failures` publishes on
//!   `/replaylog/failures.records`: see [`record_topic`]). A plain journal's entries go to
//!   `/replaylog/<source name>` and its snapshots to `/replaylog/<source name>/snapshots`.
//! * **Messages** are encoded `json`, one object per record holding exactly its decoded fields
//!   (the seq is the message's `sequence`, the time its `log_time`; neither is repeated in the
//!   body). The channels share one schema, encoded `jsonschema`, named after the layout and
//!   generated from it by [`json_schema`]:
//!   - integers are JSON integers (`u64` and `i64` exact), with the type's minimum and maximum;
//!   - floats are JSON numbers, written as the shortest text that reads back to the same value of
//!     their width (an `f32` is read as a number and rounded to `f32`). **JSON has no NaN or
//!     infinity: a non-finite float is written as `null`**, and the schema allows it;
//!   - arrays are JSON arrays of their fixed length; a `bytes` field is a string of lowercase hex;
//!   - a dotted field name `outer.inner` becomes a nested object `{"outer": {"inner": ..}}`, so
//!     Foxglove's message path `.outer.inner` finds it. When nesting would clash (a field `a` and
//!     a field `a.b`), the clashing names stay flat keys (`"a"` and `"a.b"`) at the level where
//!     the clash is; a name with an empty part (`a..b`, `.a`) stays one flat key.
//!
//!   Without a layout the schema is `replaylog.raw` and a message is `{"hex": "<record bytes in
//!   lowercase hex>"}`. A plain journal's frame is decoded when every field of the layout lies
//!   inside it, and is `{"hex": ..}` otherwise (the key becomes `_hex`, `__hex`, .. if the layout
//!   itself has a top-level `hex`); the schema lists both.
//! * **Time**: with [`TimeSource::Auto`] a record's `log_time` and `publish_time` are its
//!   timestamp (nanoseconds of the capture's clock) when it has one, else **its seq taken as
//!   nanoseconds: pseudo-time** that keeps the records in order and spaced one nanosecond apart
//!   but says nothing about when they were written (the `replaylog` metadata's `time` entry says
//!   which). With [`TimeSource::Field`] they are that integer field's value times its unit in
//!   nanoseconds (saturating; a negative value is 0). A journal frame's time is its LSN as
//!   nanoseconds (pseudo-time). `sequence` is the seq (a frame's LSN) modulo 2^32.
//! * **Failure evidence** becomes a message on `/replaylog/failures` with Foxglove's
//!   `foxglove.Log` schema (encoded `jsonschema`): level `ERROR` (4), message `seq 42 (lane
//!   main): <evidence message>`, name `<kind>:<code>` (e.g. `timeout:110`), file the capture's
//!   path, line 0, at the record's time, so Foxglove's Log panel lists the failures next to the
//!   plots.
//! * A **metadata record** `replaylog` describes the source: `source` (path), `kind`,
//!   `schema_id`, `record_bytes`, `capacity` (each only when known), `layout` (its text, empty
//!   without one), `window` (`first..=last`, empty when none), `lanes` (comma separated) and
//!   `time` (`timestamp`, `seq (pseudo-time)`, `lsn (pseudo-time)` or `field NAME (UNIT)`).
//!
//! Messages are written straight into a reused buffer (no JSON tree per record), and the writer
//! holds at most one chunk in memory, so an export streams in bounded memory.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::io::{Seek, Write};

use mcap::records::{MessageHeader, Metadata};
use mcap::{Compression, McapError, WriteOptions, Writer};
use replaylog::{EntryKind, Field, FieldType, Layout, ReplayFailureEvidence};

use crate::{ExportError, Frame, Record, Result, Source, SourceKind, TimeSource, TimeUnit};

/// Every topic starts with this prefix: `/replaylog/<lane or source name>`.
pub const TOPIC_PREFIX: &str = "/replaylog/";
/// The topic failure evidence is published on.
pub const FAILURES_TOPIC: &str = "/replaylog/failures";

/// The topic of the records of a lane (or an unnamed source) called `name`: `/replaylog/<name>`,
/// except that a lane or ring named `failures` publishes on `/replaylog/failures.records`, so
/// its records never share [`FAILURES_TOPIC`] (and a schema) with the failure log. Lane names
/// have no `.`, so no other lane takes that topic.
pub fn record_topic(name: &str) -> String {
    let topic = format!("{TOPIC_PREFIX}{name}");
    if topic == FAILURES_TOPIC { format!("{topic}.records") } else { topic }
}
/// The schema name of records exported without a layout (`{"hex": ..}`).
pub const RAW_SCHEMA_NAME: &str = "replaylog.raw";
/// The schema name of failure messages: Foxglove's well-known log message.
pub const LOG_SCHEMA_NAME: &str = "foxglove.Log";
/// The name of the metadata record describing the source.
pub const METADATA_NAME: &str = "replaylog";

/// `foxglove.Log` level of a failure: `ERROR`.
const LOG_LEVEL_ERROR: u8 = 4;

/// Foxglove's `foxglove.Log` JSON schema (its stable fields).
const LOG_SCHEMA: &str = r#"{
  "title": "foxglove.Log",
  "description": "A log message",
  "type": "object",
  "properties": {
    "timestamp": {
      "type": "object",
      "title": "time",
      "description": "Timestamp of log message",
      "properties": {
        "sec": { "type": "integer", "minimum": 0 },
        "nsec": { "type": "integer", "minimum": 0, "maximum": 999999999 }
      }
    },
    "level": {
      "title": "foxglove.LogLevel",
      "description": "Log level",
      "oneOf": [
        { "title": "UNKNOWN", "const": 0, "description": "Unknown log level" },
        { "title": "DEBUG", "const": 1, "description": "Debug log level" },
        { "title": "INFO", "const": 2, "description": "Info log level" },
        { "title": "WARNING", "const": 3, "description": "Warning log level" },
        { "title": "ERROR", "const": 4, "description": "Error log level" },
        { "title": "FATAL", "const": 5, "description": "Fatal log level" }
      ]
    },
    "message": { "type": "string", "description": "Log message" },
    "name": { "type": "string", "description": "Process or node name" },
    "file": { "type": "string", "description": "Filename" },
    "line": { "type": "integer", "minimum": 0, "description": "Line number in the file" }
  },
  "required": ["timestamp", "level", "message", "name", "file", "line"]
}"#;

/// Options of an MCAP export.
#[derive(Clone, Debug)]
pub struct McapOptions {
    /// Where each message's `log_time` and `publish_time` come from.
    pub time: TimeSource,
}

impl Default for McapOptions {
    fn default() -> McapOptions {
        McapOptions { time: TimeSource::Auto }
    }
}

/// What an MCAP export wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct McapSummary {
    /// Record (or frame) messages.
    pub messages: u64,
    /// Messages on `/replaylog/failures`.
    pub failures: u64,
    /// Channels.
    pub channels: u32,
}

/// Streams records into an MCAP file (see the [module documentation](self) for its shape).
///
/// ```
/// use std::io::Cursor;
/// use replaylog::Layout;
/// use replaylog_export::mcap::{McapExporter, McapOptions};
/// use replaylog_export::{Record, Source, SourceKind};
///
/// let layout: Layout = "tick:u64,pose.x:f32".parse()?;
/// let source = Source {
///     path: "run.ring".into(), kind: SourceKind::Ring, name: "run".into(), record_bytes: Some(12),
///     schema_id: Some(7), layout: Some(layout), capacity: Some(1024), window: Some((5, 5)),
///     lanes: vec![], timestamps: true,
/// };
/// let mut file = Cursor::new(Vec::new());
/// let mut mcap = McapExporter::new(&mut file, &source, McapOptions::default())?;
/// let bytes = [&9u64.to_le_bytes()[..], &0.5f32.to_le_bytes()].concat();
/// let record = Record {
///     seq: 5, epoch: 1, timestamp_ns: Some(1_000), lane: None, lsn: None, bytes: &bytes, evidence: None,
/// };
/// mcap.write_record(&record)?;
/// assert_eq!(mcap.finish()?.messages, 1);
///
/// let file = file.into_inner();
/// let message = mcap::MessageStream::new(&file)?.next().unwrap()?;
/// assert_eq!(message.channel.topic, "/replaylog/run");
/// assert_eq!(message.log_time, 1_000);
/// assert_eq!(std::str::from_utf8(&message.data)?, r#"{"tick":9,"pose":{"x":0.5}}"#);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct McapExporter<W: Write + Seek> {
    writer: Writer<W>,
    source_name: String,
    /// The capture's path as a JSON string literal (the `file` of failure messages).
    file_json: String,
    /// Writes a record's fields as JSON; `None` without a layout.
    program: Option<Program>,
    /// `{"hex":"` (or the key chosen for raw frames).
    raw_prefix: Vec<u8>,
    record_schema: u16,
    log_schema: Option<u16>,
    lanes: HashMap<String, u16>,
    /// The lane of the previous record and its channel (records of one lane come in runs).
    last_lane: Option<(String, u16)>,
    unnamed: Option<u16>,
    failures: Option<u16>,
    snapshots: Option<u16>,
    clock: Clock,
    buf: Vec<u8>,
    text: String,
    summary: McapSummary,
}

fn writer_error(e: McapError) -> ExportError {
    ExportError::Writer(format!("MCAP writer: {e}"))
}

impl<W: Write + Seek> McapExporter<W> {
    /// Starts an MCAP file on `out` for records of `source`: writes the header, the `replaylog`
    /// metadata record, the schema and the channels of [`Source::lanes`].
    ///
    /// Fails with [`ExportError::Usage`] when `source.layout` does not fit
    /// `source.record_bytes`, or when `options.time` names a field that is not a scalar integer
    /// field of the layout; with [`ExportError::Writer`] when writing fails.
    pub fn new(out: W, source: &Source, options: McapOptions) -> Result<McapExporter<W>> {
        let layout = source.layout.as_ref();
        if let (Some(layout), Some(record_bytes)) = (layout, source.record_bytes) {
            layout
                .check(record_bytes)
                .map_err(|e| ExportError::Usage(format!("layout {} does not fit the records: {e}", layout.name)))?;
        }
        let clock = Clock::new(&options.time, layout)?;
        let write_options = WriteOptions::new()
            .compression(Some(Compression::Zstd))
            .chunk_size(Some(WriteOptions::DEFAULT_CHUNK_SIZE))
            .use_chunks(true)
            .profile("")
            .library(format!("replaylog-export/{} ({})", env!("CARGO_PKG_VERSION"), mcap::LIBRARY_IDENTIFIER))
            .emit_statistics(true)
            .emit_summary_offsets(true)
            .emit_message_indexes(true)
            .emit_chunk_indexes(true)
            .emit_metadata_indexes(true)
            .repeat_channels(true)
            .repeat_schemas(true)
            // Level 1: on JSON of numbers as small as the default level 3, and a third faster.
            .compression_level(1);
        let mut writer = Writer::with_options(out, write_options).map_err(writer_error)?;
        writer
            .write_metadata(&Metadata { name: METADATA_NAME.into(), metadata: metadata(source, &options.time) })
            .map_err(writer_error)?;

        let frames = source.kind == SourceKind::Journal;
        let tree = layout.map(Tree::new);
        let raw_key = match &tree {
            Some(tree) if frames => tree.free_top_level_key("hex"),
            _ => "hex".to_string(),
        };
        let (schema_name, schema) = match (layout, &tree) {
            (Some(layout), Some(tree)) => {
                let extra = frames.then_some(raw_key.as_str());
                (layout.name.as_str(), tree.schema(layout, extra))
            }
            _ => (RAW_SCHEMA_NAME, raw_schema()),
        };
        let record_schema = writer.add_schema(schema_name, "jsonschema", schema.as_bytes()).map_err(writer_error)?;
        let mut raw_prefix = Vec::new();
        push_json_str(&mut raw_prefix, &raw_key);
        raw_prefix.extend_from_slice(b":\"");
        raw_prefix.insert(0, b'{');

        let mut exporter = McapExporter {
            writer,
            source_name: source.name.clone(),
            file_json: {
                let mut s = Vec::new();
                push_json_str(&mut s, &source.path.to_string_lossy());
                String::from_utf8(s).expect("escaped UTF-8 stays UTF-8")
            },
            program: match (layout, &tree) {
                (Some(layout), Some(tree)) => Some(Program::new(layout, tree)),
                _ => None,
            },
            raw_prefix,
            record_schema,
            log_schema: None,
            lanes: HashMap::new(),
            last_lane: None,
            unnamed: None,
            failures: None,
            snapshots: None,
            clock,
            buf: Vec::with_capacity(256),
            text: String::new(),
            summary: McapSummary::default(),
        };
        for lane in &source.lanes {
            exporter.lane_channel(lane)?;
        }
        Ok(exporter)
    }

    fn add_channel(&mut self, topic: &str, schema: u16) -> Result<u16> {
        self.writer.add_channel(schema, topic, "json", &BTreeMap::new()).map_err(writer_error)
    }

    fn lane_channel(&mut self, lane: &str) -> Result<u16> {
        if let Some((name, id)) = &self.last_lane {
            if name == lane {
                return Ok(*id);
            }
        }
        let id = match self.lanes.get(lane) {
            Some(id) => *id,
            None => {
                let id = self.add_channel(&record_topic(lane), self.record_schema)?;
                self.lanes.insert(lane.to_string(), id);
                id
            }
        };
        // Reuse the name's buffer: lanes of a merged recorder alternate record by record.
        let (name, last) = self.last_lane.get_or_insert_with(|| (String::new(), id));
        name.clear();
        name.push_str(lane);
        *last = id;
        Ok(id)
    }

    fn unnamed_channel(&mut self) -> Result<u16> {
        match self.unnamed {
            Some(id) => Ok(id),
            None => {
                let id = self.add_channel(&record_topic(&self.source_name), self.record_schema)?;
                self.unnamed = Some(id);
                Ok(id)
            }
        }
    }

    fn failures_channel(&mut self) -> Result<u16> {
        if let Some(id) = self.failures {
            return Ok(id);
        }
        let schema = match self.log_schema {
            Some(id) => id,
            None => {
                let id = self
                    .writer
                    .add_schema(LOG_SCHEMA_NAME, "jsonschema", LOG_SCHEMA.as_bytes())
                    .map_err(writer_error)?;
                self.log_schema = Some(id);
                id
            }
        };
        let id = self.add_channel(FAILURES_TOPIC, schema)?;
        self.failures = Some(id);
        Ok(id)
    }

    fn snapshots_channel(&mut self) -> Result<u16> {
        match self.snapshots {
            Some(id) => Ok(id),
            None => {
                let topic = format!("{TOPIC_PREFIX}{}/snapshots", self.source_name);
                let id = self.add_channel(&topic, self.record_schema)?;
                self.snapshots = Some(id);
                Ok(id)
            }
        }
    }

    fn emit(&mut self, channel_id: u16, sequence: u64, time: u64) -> Result<()> {
        let header = MessageHeader { channel_id, sequence: sequence as u32, log_time: time, publish_time: time };
        self.writer.write_to_known_channel(&header, &self.buf).map_err(writer_error)
    }

    /// Writes `bytes` as `{"hex":"..."}` into the buffer.
    fn raw_message(&mut self, bytes: &[u8]) {
        self.buf.clear();
        self.buf.extend_from_slice(&self.raw_prefix);
        push_hex(&mut self.buf, bytes);
        self.buf.extend_from_slice(b"\"}");
    }

    /// Writes one ring record (and its failure evidence, if any).
    ///
    /// Fails with [`ExportError::Usage`] when the record is shorter than the layout (a layout
    /// that does not fit the record), with [`ExportError::Writer`] when writing fails.
    pub fn write_record(&mut self, record: &Record<'_>) -> Result<()> {
        let channel = match record.lane {
            Some(lane) => self.lane_channel(lane)?,
            None => self.unnamed_channel()?,
        };
        match &self.program {
            Some(program) => {
                if record.bytes.len() < program.extent {
                    return Err(ExportError::Usage(format!(
                        "seq {}: the {}-byte record is shorter than the layout, which spans {} bytes",
                        record.seq,
                        record.bytes.len(),
                        program.extent
                    )));
                }
                program.run(record.bytes, &mut self.buf);
            }
            None => self.raw_message(record.bytes),
        }
        let time = self.clock.time(record);
        self.emit(channel, record.seq, time)?;
        self.summary.messages += 1;
        if let Some(evidence) = record.evidence {
            let failures = self.failures_channel()?;
            self.failure_message(record, evidence, time);
            self.emit(failures, record.seq, time)?;
            self.summary.failures += 1;
        }
        Ok(())
    }

    /// Writes a `foxglove.Log` message for `evidence` into the buffer.
    fn failure_message(&mut self, record: &Record<'_>, evidence: &ReplayFailureEvidence, time: u64) {
        let text = &mut self.text;
        text.clear();
        match record.lane {
            Some(lane) => write!(text, "seq {} (lane {lane}): {}", record.seq, evidence.message),
            None => write!(text, "seq {}: {}", record.seq, evidence.message),
        }
        .expect("writing to a String");
        let buf = &mut self.buf;
        buf.clear();
        let mut n = itoa::Buffer::new();
        buf.extend_from_slice(b"{\"timestamp\":{\"sec\":");
        buf.extend_from_slice(n.format(time / 1_000_000_000).as_bytes());
        buf.extend_from_slice(b",\"nsec\":");
        buf.extend_from_slice(n.format(time % 1_000_000_000).as_bytes());
        buf.extend_from_slice(b"},\"level\":");
        buf.extend_from_slice(n.format(LOG_LEVEL_ERROR).as_bytes());
        buf.extend_from_slice(b",\"message\":");
        push_json_str(buf, text);
        text.clear();
        write!(text, "{}:{}", evidence.kind, evidence.code).expect("writing to a String");
        buf.extend_from_slice(b",\"name\":");
        push_json_str(buf, text);
        buf.extend_from_slice(b",\"file\":");
        buf.extend_from_slice(self.file_json.as_bytes());
        buf.extend_from_slice(b",\"line\":0}");
    }

    /// Writes one plain-journal frame: an entry on `/replaylog/<source name>`, a snapshot on
    /// `/replaylog/<source name>/snapshots`, decoded when every field of the layout lies inside
    /// the frame, else as `{"hex": ..}`; its time is its LSN as nanoseconds.
    pub fn write_frame(&mut self, frame: &Frame<'_>) -> Result<()> {
        let channel = match frame.kind {
            EntryKind::Entry => self.unnamed_channel()?,
            EntryKind::Snapshot => self.snapshots_channel()?,
        };
        match &self.program {
            Some(program) if frame.data.len() >= program.extent => program.run(frame.data, &mut self.buf),
            _ => self.raw_message(frame.data),
        }
        self.emit(channel, frame.lsn, frame.lsn)?;
        self.summary.messages += 1;
        Ok(())
    }

    /// Writes the last chunk, the summary section and the footer, and flushes `out`.
    pub fn finish(mut self) -> Result<McapSummary> {
        let written = self.writer.finish().map_err(writer_error)?;
        let mut out = self.writer.into_inner();
        out.flush().map_err(|e| ExportError::Writer(format!("MCAP writer: flush: {e}")))?;
        self.summary.channels = written.channels.len() as u32;
        Ok(self.summary)
    }
}

/// The `replaylog` metadata record's entries.
fn metadata(source: &Source, time: &TimeSource) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put("source", source.path.display().to_string());
    put("kind", source.kind.name().to_string());
    if let Some(id) = source.schema_id {
        put("schema_id", id.to_string());
    }
    if let Some(n) = source.record_bytes {
        put("record_bytes", n.to_string());
    }
    if let Some(n) = source.capacity {
        put("capacity", n.to_string());
    }
    put("layout", source.layout.as_ref().map(|l| l.to_string()).unwrap_or_default());
    put("window", source.window.map(|(first, last)| format!("{first}..={last}")).unwrap_or_default());
    put("lanes", source.lanes.join(","));
    let time = match time {
        TimeSource::Field { name, unit } => format!("field {name} ({})", unit_name(*unit)),
        TimeSource::Auto if source.kind == SourceKind::Journal => "lsn (pseudo-time)".to_string(),
        TimeSource::Auto if source.timestamps => "timestamp".to_string(),
        TimeSource::Auto => "seq (pseudo-time)".to_string(),
    };
    put("time", time);
    m
}

fn unit_name(unit: TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Ns => "ns",
        TimeUnit::Us => "us",
        TimeUnit::Ms => "ms",
        TimeUnit::S => "s",
    }
}

/// Where a record's time comes from.
#[derive(Clone, Copy, Debug)]
enum Clock {
    /// The timestamp, else the seq.
    Auto,
    /// An integer field at `offset`, times `nanos`.
    Field { offset: usize, elem: Elem, nanos: u64 },
}

impl Clock {
    fn new(time: &TimeSource, layout: Option<&Layout>) -> Result<Clock> {
        let TimeSource::Field { name, unit } = time else {
            return Ok(Clock::Auto);
        };
        let field = layout.and_then(|l| l.fields.iter().find(|f| &f.name == name));
        let elem = field.filter(|f| f.count == 1).and_then(|f| Elem::of(f.ty)).filter(|e| e.is_integer());
        match (field, elem) {
            (Some(field), Some(elem)) => Ok(Clock::Field { offset: field.offset as usize, elem, nanos: unit.nanos() }),
            _ => {
                let why = match (layout, field) {
                    (None, _) => "the records have no layout".to_string(),
                    (Some(l), None) => format!("the layout {} has no such field", l.name),
                    (Some(_), Some(f)) if f.ty == FieldType::Bytes => format!("the field is bytes[{}]", f.count),
                    (Some(_), Some(f)) if f.count != 1 => format!("the field is an array of {}", f.ty.name()),
                    (Some(_), Some(f)) => format!("the field is {}", f.ty.name()),
                };
                Err(ExportError::Usage(format!("time field {name:?} is not a scalar integer field: {why}")))
            }
        }
    }

    fn time(self, record: &Record<'_>) -> u64 {
        match self {
            Clock::Auto => record.timestamp_ns.unwrap_or(record.seq),
            Clock::Field { offset, elem, nanos } => {
                let b = record.bytes;
                let v: i128 = match elem {
                    Elem::U8 => b[offset].into(),
                    Elem::U16 => u16::from_le_bytes(le(b, offset)).into(),
                    Elem::U32 => u32::from_le_bytes(le(b, offset)).into(),
                    Elem::U64 => u64::from_le_bytes(le(b, offset)).into(),
                    Elem::I8 => (b[offset] as i8).into(),
                    Elem::I16 => i16::from_le_bytes(le(b, offset)).into(),
                    Elem::I32 => i32::from_le_bytes(le(b, offset)).into(),
                    Elem::I64 => i64::from_le_bytes(le(b, offset)).into(),
                    Elem::F32 | Elem::F64 => unreachable!("the time field is an integer field"),
                };
                u64::try_from(v.max(0)).unwrap_or(u64::MAX).saturating_mul(nanos)
            }
        }
    }
}

/// A numeric element type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Elem {
    U8,
    U16,
    U32,
    U64,
    I8,
    I16,
    I32,
    I64,
    F32,
    F64,
}

impl Elem {
    fn of(ty: FieldType) -> Option<Elem> {
        Some(match ty {
            FieldType::U8 => Elem::U8,
            FieldType::U16 => Elem::U16,
            FieldType::U32 => Elem::U32,
            FieldType::U64 => Elem::U64,
            FieldType::I8 => Elem::I8,
            FieldType::I16 => Elem::I16,
            FieldType::I32 => Elem::I32,
            FieldType::I64 => Elem::I64,
            FieldType::F32 => Elem::F32,
            FieldType::F64 => Elem::F64,
            FieldType::Bytes => return None,
        })
    }

    fn is_integer(self) -> bool {
        !matches!(self, Elem::F32 | Elem::F64)
    }

    fn size(self) -> usize {
        match self {
            Elem::U8 | Elem::I8 => 1,
            Elem::U16 | Elem::I16 => 2,
            Elem::U32 | Elem::I32 | Elem::F32 => 4,
            Elem::U64 | Elem::I64 | Elem::F64 => 8,
        }
    }

    /// The JSON schema of one element.
    fn schema(self) -> String {
        let int = |min: i128, max: i128| format!(r#"{{"type":"integer","minimum":{min},"maximum":{max}}}"#);
        match self {
            Elem::U8 => int(0, u8::MAX.into()),
            Elem::U16 => int(0, u16::MAX.into()),
            Elem::U32 => int(0, u32::MAX.into()),
            Elem::U64 => int(0, u64::MAX.into()),
            Elem::I8 => int(i8::MIN.into(), i8::MAX.into()),
            Elem::I16 => int(i16::MIN.into(), i16::MAX.into()),
            Elem::I32 => int(i32::MIN.into(), i32::MAX.into()),
            Elem::I64 => int(i64::MIN.into(), i64::MAX.into()),
            Elem::F32 => r#"{"type":["number","null"],"description":"f32; null when not finite"}"#.into(),
            Elem::F64 => r#"{"type":["number","null"],"description":"f64; null when not finite"}"#.into(),
        }
    }
}

/// `N` bytes of `b` at `at`.
fn le<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b[at..at + N].try_into().expect("a slice of N bytes")
}

/// Appends one little-endian element of `b` at `at` as JSON.
#[inline]
fn push_elem(out: &mut Vec<u8>, elem: Elem, b: &[u8], at: usize) {
    let mut n = itoa::Buffer::new();
    let text = match elem {
        Elem::U8 => n.format(b[at]),
        Elem::U16 => n.format(u16::from_le_bytes(le(b, at))),
        Elem::U32 => n.format(u32::from_le_bytes(le(b, at))),
        Elem::U64 => n.format(u64::from_le_bytes(le(b, at))),
        Elem::I8 => n.format(b[at] as i8),
        Elem::I16 => n.format(i16::from_le_bytes(le(b, at))),
        Elem::I32 => n.format(i32::from_le_bytes(le(b, at))),
        Elem::I64 => n.format(i64::from_le_bytes(le(b, at))),
        Elem::F32 => {
            let v = f32::from_le_bytes(le(b, at));
            if v.is_finite() {
                out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
            } else {
                out.extend_from_slice(b"null");
            }
            return;
        }
        Elem::F64 => {
            let v = f64::from_le_bytes(le(b, at));
            if v.is_finite() {
                out.extend_from_slice(ryu::Buffer::new().format_finite(v).as_bytes());
            } else {
                out.extend_from_slice(b"null");
            }
            return;
        }
    };
    out.extend_from_slice(text.as_bytes());
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Appends `bytes` as lowercase hex.
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(bytes.len() * 2);
    for b in bytes {
        out.push(HEX_DIGITS[usize::from(b >> 4)]);
        out.push(HEX_DIGITS[usize::from(b & 15)]);
    }
}

/// Appends `s` as a JSON string literal.
fn push_json_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&s.as_bytes()[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX_DIGITS[usize::from(b >> 4)]);
            out.push(HEX_DIGITS[usize::from(b & 15)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&s.as_bytes()[start..]);
    out.push(b'"');
}

fn json_str(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    push_json_str(&mut out, s);
    String::from_utf8(out).expect("escaped UTF-8 stays UTF-8")
}

/// The JSON schema of messages without a layout.
fn raw_schema() -> String {
    format!(
        r#"{{"title":{RAW},"description":"A record's bytes in lowercase hex (exported without a layout)","type":"object","properties":{{"hex":{HEX}}},"required":["hex"]}}"#,
        RAW = json_str(RAW_SCHEMA_NAME),
        HEX = hex_schema(None),
    )
}

/// The JSON schema of a hex string: of `len` bytes, or of any whole number of bytes.
fn hex_schema(len: Option<u32>) -> String {
    let pattern = r#""type":"string","contentEncoding":"base16","pattern":"^([0-9a-f]{2})*$""#;
    match len {
        Some(n) => format!(r#"{{{pattern},"minLength":{chars},"maxLength":{chars}}}"#, chars = u64::from(n) * 2),
        None => format!("{{{pattern}}}"),
    }
}

/// The `jsonschema` of the messages [`McapExporter`] writes for records decoded with `layout`
/// (`replaylog.raw`, one `hex` string, without a layout): an object whose keys follow the
/// layout's field names, nested at the dots of dotted names unless that would clash (see the
/// [module documentation](self)). Integers carry their type's minimum and maximum, floats are
/// numbers or `null` (not finite), arrays have their fixed length, `bytes` are hex strings.
///
/// ```
/// let layout: replaylog::Layout = "tick:u8,pose.x:f64".parse()?;
/// let schema = replaylog_export::mcap::json_schema(Some(&layout));
/// assert!(schema.contains(r#""tick":{"type":"integer","minimum":0,"maximum":255}"#));
/// assert!(schema.contains(r#""pose":{"type":"object","properties":{"x":{"type":["number","null"]"#));
/// # Ok::<(), replaylog::LayoutError>(())
/// ```
pub fn json_schema(layout: Option<&Layout>) -> String {
    match layout {
        Some(layout) => Tree::new(layout).schema(layout, None),
        None => raw_schema(),
    }
}

/// A key of a message object: a field's value, or a nested object.
#[derive(Debug)]
enum Node {
    Leaf(usize),
    Object(Vec<(String, Node)>),
}

/// The shape of a layout's messages: top-level keys in the layout's order.
#[derive(Debug)]
struct Tree {
    top: Vec<(String, Node)>,
}

/// A trie of dotted names, built before clashes are resolved.
#[derive(Default)]
struct Trie {
    key: String,
    field: Option<usize>,
    children: Vec<Trie>,
}

impl Trie {
    fn insert(&mut self, parts: &[&str], field: usize) {
        let Some((first, rest)) = parts.split_first() else {
            self.field = Some(field);
            return;
        };
        let i = match self.children.iter().position(|c| c.key == *first) {
            Some(i) => i,
            None => {
                self.children.push(Trie { key: first.to_string(), ..Trie::default() });
                self.children.len() - 1
            }
        };
        self.children[i].insert(rest, field);
    }

    /// The nodes for `self`'s children.
    fn nodes(self) -> Vec<(String, Node)> {
        let mut out = Vec::new();
        for child in self.children {
            match (child.field, child.children.is_empty()) {
                (Some(f), true) => out.push((child.key, Node::Leaf(f))),
                (None, _) => out.push((child.key.clone(), Node::Object(child.nodes()))),
                (Some(f), false) => {
                    // A field that is also a prefix of other fields: they all stay flat here.
                    out.push((child.key.clone(), Node::Leaf(f)));
                    let key = child.key.clone();
                    child.flatten(&key, &mut out);
                }
            }
        }
        out
    }

    fn flatten(self, prefix: &str, out: &mut Vec<(String, Node)>) {
        for child in self.children {
            let key = format!("{prefix}.{}", child.key);
            if let Some(f) = child.field {
                out.push((key.clone(), Node::Leaf(f)));
            }
            child.flatten(&key, out);
        }
    }
}

impl Tree {
    fn new(layout: &Layout) -> Tree {
        let mut root = Trie::default();
        for (i, field) in layout.fields.iter().enumerate() {
            let parts: Vec<&str> = field.name.split('.').collect();
            if parts.iter().any(|p| p.is_empty()) {
                root.insert(&[field.name.as_str()], i);
            } else {
                root.insert(&parts, i);
            }
        }
        Tree { top: root.nodes() }
    }

    /// `want`, or `want` with `_` prepended until no top-level key has that name.
    fn free_top_level_key(&self, want: &str) -> String {
        let mut key = want.to_string();
        while self.top.iter().any(|(k, _)| *k == key) {
            key.insert(0, '_');
        }
        key
    }

    /// The message schema; `raw_key`: frames that do not hold the layout are `{raw_key: hex}`,
    /// so no key is required at the top level.
    fn schema(&self, layout: &Layout, raw_key: Option<&str>) -> String {
        let mut s = String::new();
        let description = match raw_key {
            None => format!("A {} record's fields (replaylog)", layout.name),
            Some(k) => format!(
                "A journal frame: the fields of {} when they lie inside the frame, else its bytes in hex as {k}",
                layout.name
            ),
        };
        write!(s, r#"{{"title":{},"description":{},"#, json_str(&layout.name), json_str(&description))
            .expect("writing to a String");
        object_schema(&mut s, &self.top, layout, raw_key);
        s.push('}');
        s
    }
}

/// `"type":"object","properties":{..},"required":[..]` (no braces around it).
fn object_schema(s: &mut String, nodes: &[(String, Node)], layout: &Layout, raw_key: Option<&str>) {
    s.push_str(r#""type":"object","properties":{"#);
    for (i, (key, node)) in nodes.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&json_str(key));
        s.push(':');
        match node {
            Node::Leaf(f) => s.push_str(&field_schema(&layout.fields[*f])),
            Node::Object(children) => {
                s.push('{');
                object_schema(s, children, layout, None);
                s.push('}');
            }
        }
    }
    if let Some(k) = raw_key {
        if !nodes.is_empty() {
            s.push(',');
        }
        s.push_str(&json_str(k));
        s.push(':');
        s.push_str(&hex_schema(None));
    }
    s.push('}');
    if raw_key.is_none() {
        s.push_str(r#","required":["#);
        for (i, (key, _)) in nodes.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(&json_str(key));
        }
        s.push(']');
    }
}

fn field_schema(field: &Field) -> String {
    match Elem::of(field.ty) {
        None => hex_schema(Some(field.count)),
        Some(elem) if field.count == 1 => elem.schema(),
        Some(elem) => {
            format!(r#"{{"type":"array","items":{},"minItems":{n},"maxItems":{n}}}"#, elem.schema(), n = field.count)
        }
    }
}

/// A compiled writer of a layout's messages: literal text between the field values.
#[derive(Debug)]
struct Program {
    text: Vec<u8>,
    ops: Vec<Op>,
    /// Bytes a record must have: the end of the last field.
    extent: usize,
}

#[derive(Debug)]
enum Op {
    /// `text[start..end]`.
    Text(usize, usize),
    Scalar {
        elem: Elem,
        offset: usize,
    },
    Array {
        elem: Elem,
        offset: usize,
        count: usize,
    },
    Hex {
        offset: usize,
        len: usize,
    },
}

impl Program {
    fn new(layout: &Layout, tree: &Tree) -> Program {
        let extent = layout.fields.iter().map(|f| f.offset as u64 + f.span()).max().unwrap_or(0);
        let mut p = Program {
            text: Vec::new(),
            ops: Vec::new(),
            extent: usize::try_from(extent).expect("a layout fits in memory"),
        };
        let mut pending = Vec::new();
        p.object(&tree.top, layout, &mut pending);
        p.flush(&mut pending);
        p
    }

    fn flush(&mut self, pending: &mut Vec<u8>) {
        if !pending.is_empty() {
            let start = self.text.len();
            self.text.append(pending);
            self.ops.push(Op::Text(start, self.text.len()));
        }
    }

    fn object(&mut self, nodes: &[(String, Node)], layout: &Layout, pending: &mut Vec<u8>) {
        pending.push(b'{');
        for (i, (key, node)) in nodes.iter().enumerate() {
            if i > 0 {
                pending.push(b',');
            }
            push_json_str(pending, key);
            pending.push(b':');
            match node {
                Node::Object(children) => self.object(children, layout, pending),
                Node::Leaf(f) => {
                    let field = &layout.fields[*f];
                    let offset = field.offset as usize;
                    let count = field.count as usize;
                    let op = match Elem::of(field.ty) {
                        None => {
                            pending.push(b'"');
                            Op::Hex { offset, len: count }
                        }
                        Some(elem) if count == 1 => Op::Scalar { elem, offset },
                        Some(elem) => {
                            pending.push(b'[');
                            Op::Array { elem, offset, count }
                        }
                    };
                    let close: &[u8] = match op {
                        Op::Hex { .. } => b"\"",
                        Op::Array { .. } => b"]",
                        _ => b"",
                    };
                    self.flush(pending);
                    self.ops.push(op);
                    pending.extend_from_slice(close);
                }
            }
        }
        pending.push(b'}');
    }

    /// Writes the message of `record` (at least `extent` bytes) into `out`.
    fn run(&self, record: &[u8], out: &mut Vec<u8>) {
        out.clear();
        for op in &self.ops {
            match *op {
                Op::Text(start, end) => out.extend_from_slice(&self.text[start..end]),
                Op::Scalar { elem, offset } => push_elem(out, elem, record, offset),
                Op::Array { elem, offset, count } => {
                    let size = elem.size();
                    for i in 0..count {
                        if i > 0 {
                            out.push(b',');
                        }
                        push_elem(out, elem, record, offset + i * size);
                    }
                }
                Op::Hex { offset, len } => push_hex(out, &record[offset..offset + len]),
            }
        }
    }
}
