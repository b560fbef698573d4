//! The one rendering module the subcommands share: a buffered stdout, hex, text/JSON/CSV
//! rendering of records (fields decoded by the library), failure evidence, journal entries,
//! windows and problems, and progress bars that only draw on a terminal.
//!
//! Values render as the library's `Display` gives them (integers in decimal, floats as the
//! shortest text that reads back to the same value, bytes as lowercase hex, arrays as lists);
//! in JSON, numbers are numbers except `NaN`, `inf` and `-inf` (strings), bytes are hex
//! strings and arrays are arrays.

use std::fmt::Write as _;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use replaylog::ring::Run;
use replaylog::{Anchor, DecodedRecord, FieldType, Item, Layout, Problem, ReplayFailureEvidence, Value};
use serde_json::{Map, Number, Value as Json, json};

use crate::error::{Result, out_err};
use crate::input::Rec;

/// Inputs with at least this many items get a progress bar (on a terminal).
pub const PROGRESS_MIN_ITEMS: u64 = 10_000;

/// Buffered stdout. Call [`Out::flush`] at the end (and after each record when following).
pub struct Out {
    inner: BufWriter<Box<dyn Write>>,
}

impl Out {
    /// Standard output.
    pub fn stdout() -> Out {
        Out::to(Box::new(io::stdout()))
    }

    /// Any writer (a file for `--out`).
    pub fn to(w: Box<dyn Write>) -> Out {
        Out { inner: BufWriter::with_capacity(64 * 1024, w) }
    }

    /// Writes one line.
    pub fn line(&mut self, s: impl AsRef<str>) -> Result<()> {
        let w = &mut self.inner;
        w.write_all(s.as_ref().as_bytes()).and_then(|()| w.write_all(b"\n")).map_err(out_err)
    }

    /// Writes one JSON value on one line.
    pub fn json(&mut self, v: &Json) -> Result<()> {
        serde_json::to_writer(&mut self.inner, v).map_err(|e| out_err(e.into()))?;
        self.inner.write_all(b"\n").map_err(out_err)
    }

    /// Writes one JSON value, pretty-printed.
    pub fn json_pretty(&mut self, v: &Json) -> Result<()> {
        serde_json::to_writer_pretty(&mut self.inner, v).map_err(|e| out_err(e.into()))?;
        self.inner.write_all(b"\n").map_err(out_err)
    }

    /// Flushes.
    pub fn flush(&mut self) -> Result<()> {
        self.inner.flush().map_err(out_err)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Evidence as JSON: `{"kind", "other_code", "code", "message"}` or `null`.
pub fn evidence_json(ev: Option<&ReplayFailureEvidence>) -> Json {
    match ev {
        None => Json::Null,
        Some(ev) => json!({
            "kind": ev.kind.category(),
            "other_code": ev.kind.other_code(),
            "code": ev.code,
            "message": ev.message,
        }),
    }
}

/// Evidence as text: `FAILURE timeout code=110 "message"`.
pub fn evidence_text(ev: &ReplayFailureEvidence) -> String {
    format!("FAILURE {ev}")
}

/// `data` as UTF-8 when it is valid UTF-8 with no control characters other than tab, newline
/// and carriage return (what `dump` prints as text), else `None`.
pub fn printable_utf8(data: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(data).ok()?;
    s.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')).then_some(s)
}

/// Whether progress may be drawn: stderr and stdout are both terminals.
pub fn interactive() -> bool {
    io::stderr().is_terminal() && io::stdout().is_terminal()
}

/// A progress bar over `total` items on stderr, hidden unless [`interactive`] and `total` is
/// at least [`PROGRESS_MIN_ITEMS`].
pub fn progress(total: u64, what: &str) -> ProgressBar {
    if !interactive() || total < PROGRESS_MIN_ITEMS {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg} [{wide_bar}] {human_pos}/{human_len} (eta {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// A spinner on stderr for one long call whose progress is not observable, hidden unless
/// [`interactive`].
pub fn spinner(what: &str) -> ProgressBar {
    if !interactive() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// The help text of every `--layout` option.
pub const LAYOUT_HELP: &str = "Decode records with this layout instead of the one stored in the ring, e.g. \
\"tick:u64,value:f64,flags:u32\". Fields are packed in the order given with natural alignment, like a \
#[repr(C)] struct (each field starts at the next multiple of its element size); NAME:TYPE[N] is an array, \
NAME:bytes[N] N opaque bytes, NAME:TYPE@OFFSET an explicit offset. Types: u8 u16 u32 u64 i8 i16 i32 i64 \
f32 f64 bytes. Values are little-endian.";

/// A decoded value as JSON (see the module docs).
pub fn value_json(v: &Value) -> Json {
    let float = |text: String, finite: bool| {
        if finite {
            // Through the shortest text, so an f32 0.1 is 0.1 in JSON, not 0.10000000149011612.
            text.parse::<f64>().ok().and_then(Number::from_f64).map_or(Json::String(text), Json::Number)
        } else {
            Json::String(text)
        }
    };
    match v {
        Value::U64(x) => Json::from(*x),
        Value::I64(x) => Json::from(*x),
        Value::F32(x) => float(x.to_string(), x.is_finite()),
        Value::F64(x) => float(x.to_string(), x.is_finite()),
        Value::Bytes(b) => Json::String(hex(b)),
        array => Json::Array(array.elements().iter().map(value_json).collect()),
    }
}

/// `{"name": value, ...}` in the layout's order.
pub fn fields_json(fields: &DecodedRecord<'_>) -> Json {
    let mut m = Map::new();
    for f in &fields.fields {
        m.insert(f.field.name.clone(), value_json(&f.value));
    }
    Json::Object(m)
}

/// The layout as JSON: `{"name", "fields": [{"name", "type", "offset", "count"}], "text"}`.
pub fn layout_json(layout: &Layout) -> Json {
    let fields: Vec<Json> = layout
        .fields
        .iter()
        .map(|f| json!({"name": f.name, "type": f.ty.name(), "offset": f.offset, "count": f.count}))
        .collect();
    json!({"name": layout.name, "fields": fields, "text": layout.to_string()})
}

/// CSV column names for a layout's fields: `name` for a scalar or `bytes`, `name[i]` for each
/// element of an array.
pub fn csv_columns(layout: &Layout) -> Vec<String> {
    let mut cols = Vec::new();
    for f in &layout.fields {
        if f.count == 1 || f.ty == FieldType::Bytes {
            cols.push(f.name.clone());
        } else {
            cols.extend((0..f.count).map(|i| format!("{}[{i}]", f.name)));
        }
    }
    cols
}

/// A decoded record's CSV cells: one per scalar, per array element, per `bytes` field.
pub fn fields_csv(fields: &DecodedRecord<'_>) -> Vec<String> {
    fields.fields.iter().flat_map(|f| f.value.elements()).map(|v| v.to_string()).collect()
}

/// One CSV field, quoted when needed (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// One CSV row.
pub fn csv_row(fields: &[String]) -> String {
    fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",")
}

/// The window as JSON: `null` or `{"first", "last", "records", "anchor", "anchor_seq"}`.
pub fn window_json(w: Option<Run>) -> Json {
    match w {
        None => Json::Null,
        Some(w) => {
            let anchor = match w.anchor {
                Anchor::Watermark(_) => "watermark",
                _ => "newest",
            };
            json!({"first": w.first, "last": w.last, "records": w.records(), "anchor": anchor, "anchor_seq": w.anchor.seq()})
        }
    }
}

/// The window as text.
pub fn window_text(w: Option<Run>) -> String {
    w.map_or("empty (no record)".to_string(), |w| w.to_string())
}

/// A journal problem as JSON.
pub fn problem_json(p: Option<&Problem>) -> Json {
    match p {
        None => Json::Null,
        Some(Problem::BadTail { segment, valid_bytes }) => {
            json!({"kind": "bad_tail", "segment": segment, "valid_bytes": valid_bytes})
        }
        Some(Problem::Corrupt { segment, offset, reason }) => {
            json!({"kind": "corrupt", "segment": segment, "offset": offset, "reason": reason})
        }
    }
}

/// Renders records and journal entries as text or JSON lines (`dump`, `tail`, `export`).
pub struct Printer {
    /// The layout records are decoded with.
    pub layout: Option<Layout>,
    /// JSON lines instead of text.
    pub json: bool,
}

impl Printer {
    /// A record as a JSON object.
    pub fn record_json(&self, r: &Rec) -> Json {
        let fields = match &self.layout {
            Some(l) => l.decode_record(&r.bytes).map_or(Json::Null, |f| fields_json(&f)),
            None => Json::Null,
        };
        json!({
            "type": "record",
            "seq": r.seq,
            "epoch": r.epoch,
            "timestamp_ns": r.timestamp_ns,
            "lane": r.lane,
            "lsn": r.lsn,
            "fields": fields,
            "hex": hex(&r.bytes),
            "evidence": evidence_json(r.evidence.as_ref()),
        })
    }

    /// A record as one line of text.
    pub fn record_text(&self, r: &Rec) -> String {
        let mut s = match &r.lane {
            Some(lane) => format!("lane {lane} seq {} epoch {}", r.seq, r.epoch),
            None => format!("seq {} epoch {}", r.seq, r.epoch),
        };
        if let Some(ts) = r.timestamp_ns {
            s.push_str(&format!(" t {ts}"));
        }
        if let Some(lsn) = r.lsn {
            s.push_str(&format!(" lsn {lsn}"));
        }
        match self.layout.as_ref().map(|l| l.decode_record(&r.bytes)) {
            Some(Ok(f)) => s.push_str(&format!("  {f}")),
            _ => s.push_str(&format!("  hex {}", hex(&r.bytes))),
        }
        if let Some(ev) = &r.evidence {
            s.push_str(&format!("  {}", evidence_text(ev)));
        }
        s
    }

    /// A journal entry as a JSON object.
    pub fn entry_json(&self, item: &Item) -> Json {
        let (fields, error) = match self.layout.as_ref().map(|l| l.decode_record(&item.data)) {
            None => (Json::Null, Json::Null),
            Some(Ok(f)) => (fields_json(&f), Json::Null),
            Some(Err(e)) => (Json::Null, Json::String(e.to_string())),
        };
        json!({
            "type": "entry",
            "lsn": item.lsn,
            "kind": item.kind.to_string(),
            "bytes": item.data.len(),
            "hex": hex(&item.data),
            "utf8": printable_utf8(&item.data),
            "fields": fields,
            "decode_error": error,
        })
    }

    /// A journal entry as one line of text.
    pub fn entry_text(&self, item: &Item) -> String {
        let head = format!("lsn {} {} {} bytes", item.lsn, item.kind, item.data.len());
        match self.layout.as_ref().map(|l| l.decode_record(&item.data)) {
            Some(Ok(f)) => format!("{head}  {f}"),
            Some(Err(e)) => format!("{head}  hex {}  ({e})", hex(&item.data)),
            None => match printable_utf8(&item.data) {
                Some(s) => format!("{head}  {s:?}"),
                None => format!("{head}  hex {}", hex(&item.data)),
            },
        }
    }

    /// A record as the one line [`Printer::record`] prints (without the newline).
    pub fn record_line(&self, r: &Rec) -> String {
        if self.json { self.record_json(r).to_string() } else { self.record_text(r) }
    }

    /// Prints a record.
    pub fn record(&self, out: &mut Out, r: &Rec) -> Result<()> {
        if self.json { out.json(&self.record_json(r)) } else { out.line(self.record_text(r)) }
    }

    /// Prints a journal entry.
    pub fn entry(&self, out: &mut Out, item: &Item) -> Result<()> {
        if self.json { out.json(&self.entry_json(item)) } else { out.line(self.entry_text(item)) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_render_as_text_json_and_csv() {
        let l = Layout::parse_spec("a:u8,g:f32,j:f64,k:bytes[3],m:u16[2],n:f32[2]").unwrap();
        let mut rec = [0u8; 40];
        rec[0] = 200;
        rec[4..8].copy_from_slice(&0.1f32.to_le_bytes());
        rec[8..16].copy_from_slice(&f64::NAN.to_le_bytes());
        rec[16..19].copy_from_slice(&[1, 2, 0xab]);
        rec[20..24].copy_from_slice(&[1, 0, 2, 0]);
        rec[24..28].copy_from_slice(&f32::NEG_INFINITY.to_le_bytes());
        rec[28..32].copy_from_slice(&0.5f32.to_le_bytes());
        let got = l.decode_record(&rec[..32]).unwrap();
        assert_eq!(got.to_string(), "a=200 g=0.1 j=NaN k=0102ab m=[1, 2] n=[-inf, 0.5]");
        let json = fields_json(&got);
        assert_eq!(json["a"], json!(200));
        assert_eq!(json["g"], json!(0.1));
        assert_eq!(json["j"], json!("NaN"));
        assert_eq!(json["k"], json!("0102ab"));
        assert_eq!(json["m"], json!([1, 2]));
        assert_eq!(json["n"], json!(["-inf", 0.5]));
        assert_eq!(fields_csv(&got), ["200", "0.1", "NaN", "0102ab", "1", "2", "-inf", "0.5"]);
        assert_eq!(csv_columns(&l), ["a", "g", "j", "k", "m[0]", "m[1]", "n[0]", "n[1]"]);
        assert_eq!(csv_row(&["a,b".into(), "say \"hi\"".into(), "x".into()]), "\"a,b\",\"say \"\"hi\"\"\",x");
    }
}
