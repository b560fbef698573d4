//! `replaylog export PATH --to jsonl|csv|journal:DIR [--out FILE] [--layout SPEC]`: lossless
//! conversion of a ring's live window, a recorder directory's lanes (merged by `(timestamp,
//! lane, seq)`, each record naming its lane), an archive journal or any journal.
//!
//! * `jsonl` (stdout, or `--out FILE`, which must not exist): a header line, then one line per
//!   record exactly as `dump --json` prints it (`hex` always holds the record's bytes, so the
//!   conversion is lossless whatever the layout). Header: `{"type": "header", "source": "ring" |
//!   "recorder" | "archive" | "journal", "path", "record_bytes", "schema_id", "capacity",
//!   "evidence_bytes_max" (null for an archive), "lanes": null | [name] (a recorder directory's
//!   lanes), "layout": null | {..}}` (a plain journal's header has only `type`, `source`, `path`,
//!   `layout`; a recorder directory's `capacity` and `evidence_bytes_max` are its reference
//!   lane's, the first by name). A ring (or lane) being written while it is exported fails
//!   (status 1) if a record is overwritten before it was read.
//! * `csv`: a header row, then one row per record: `seq,epoch,timestamp_ns,lane,lsn,<fields>,
//!   record_hex,evidence_kind,evidence_other_code,evidence_code,evidence_message` (fields per the
//!   layout, `name[i]` per array element, none without a layout; `timestamp_ns` empty without a
//!   clock; `lane` empty for a ring or an archive of one; `lsn` empty for a ring or a recorder
//!   directory; the evidence columns empty without evidence). A plain journal: `lsn,kind,bytes,
//!   <fields>,data_hex,data_utf8`. Quoting per RFC 4180.
//! * `journal:DIR` (DIR must not exist, or be empty): an archive journal, exactly what
//!   `replaylog::archive::Archiver` writes (both encode with `replaylog::archive`): the header
//!   entry at LSN 1, then one entry per ring record, in publish order:
//!
//!   ```text
//!   [u64 seq][u32 epoch][u8 flags: bit 0 = evidence, bit 1 = timestamp, bit 2 = lane]
//!   [with bit 1: u64 timestamp_ns][with bit 2: u8 lane_bytes, lane name][record bytes]
//!   [with evidence: u16 kind, u16 other_code, u32 message_bytes, i64 code, message (UTF-8)]
//!   ```
//!
//!   (little-endian; byte maps of both in docs/FORMAT.md, "Archive", which is the reference).
//!   Entries keep each record's timestamp and lane: a recorder directory's records go in merged
//!   order, each naming its lane, with the reference lane's header. From a plain journal,
//!   frames are copied as they are (entries as entries, snapshots as snapshots), renumbered from
//!   LSN 1.
//!
//! * `mcap:FILE`: an MCAP file for Foxglove and ROS 2 tools (`replaylog_export::mcap`): one
//!   channel per lane (topic `/replaylog/<lane>`, or `/replaylog/<file stem>` for a ring), `json`
//!   messages holding the decoded fields with a `jsonschema` from the layout (without a layout, one
//!   `hex` field), failure evidence as `foxglove.Log` messages on `/replaylog/failures`, zstd
//!   chunks, indexes, statistics and a `replaylog` metadata record. Message time: the record's
//!   timestamp, else `--time FIELD[:ns|us|ms|s]` (an integer field of the layout), else the seq as
//!   nanoseconds (pseudo-time).
//! * `parquet:FILE`: a Parquet file for DuckDB, Polars, pandas (`replaylog_export::parquet`): one
//!   row per record, `seq`, `epoch`, `lsn` (archives), `lane` (recorders, archives), `timestamp`
//!   (with a clock), one typed column per layout field (`record` without a layout),
//!   `evidence_kind`, `evidence_code`, `evidence_message`; a plain journal: `lsn`, `kind`, `data`.
//!
//! Files (`--out FILE`, `mcap:FILE`, `parquet:FILE`) are never overwritten unless `--force` is
//! given, and are written under a temporary name (`.FILE.<pid>.<n>.tmp` beside it) renamed into
//! place when complete: an export that fails, or is stopped by SIGINT, SIGTERM or SIGHUP, leaves no
//! file (a SIGKILL can leave the temporary file, never a partial FILE).
//!
//! A progress bar is drawn on stderr for inputs of 10,000 records or more when stdout and
//! stderr are both terminals; otherwise export is quiet. Damage found in a journal input ends
//! the export with status 1 after everything readable was written. A ring's (or lane's) damaged
//! slots are never in its live window: when the window does not fill the ring, the ring is
//! checked as `validate` checks it, each damaged slot run is listed on stderr and the status is
//! 1, the output holding the whole window.

use std::io::{BufWriter, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use nix::sys::signal::{SigSet, Signal};
use replaylog::archive::{self, ArchiveHeader};
use replaylog::{
    Clock, EntryKind, Item, Journal, JournalOptions, Kind, Layout, Position, RawRecord, RawRing, SyncMode,
};
use replaylog_export::mcap::{McapExporter, McapOptions};
use replaylog_export::parquet::{ParquetExporter, ParquetOptions};
use replaylog_export::{AtomicFile, ExportError, Frame, Record, Source, SourceKind, TimeSource};
use serde_json::{Value, json};

use crate::error::{CliError, Result};
use crate::input::{self, ArchiveRecords, Damage, JournalSource, MergedRecords, Rec, RingRecords};
use crate::output::{
    LAYOUT_HELP, Out, Printer, csv_columns, csv_row, fields_csv, hex, layout_json, printable_utf8, progress,
};

/// Where `export` writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// JSON lines.
    Jsonl,
    /// CSV.
    Csv,
    /// An archive journal in this directory.
    Journal(PathBuf),
    /// An MCAP file.
    Mcap(PathBuf),
    /// A Parquet file.
    Parquet(PathBuf),
}

fn parse_target(s: &str) -> std::result::Result<Target, String> {
    match s {
        "jsonl" => Ok(Target::Jsonl),
        "csv" => Ok(Target::Csv),
        _ => match s.split_once(':') {
            Some(("journal", d)) if !d.is_empty() => Ok(Target::Journal(PathBuf::from(d))),
            Some(("mcap", f)) if !f.is_empty() => Ok(Target::Mcap(PathBuf::from(f))),
            Some(("parquet", f)) if !f.is_empty() => Ok(Target::Parquet(PathBuf::from(f))),
            _ => Err("expected jsonl, csv, journal:DIR, mcap:FILE or parquet:FILE".into()),
        },
    }
}

/// Options of `replaylog export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A ring file, a journal directory, a recorder directory or a journal segment file.
    pub path: PathBuf,
    /// Output format: jsonl, csv, journal:DIR (an archive journal in DIR, which must not exist or
    /// be empty), mcap:FILE (Foxglove, ROS 2) or parquet:FILE (DuckDB, Polars, pandas).
    #[arg(long, value_name = "FORMAT", value_parser = parse_target)]
    pub to: Target,
    /// Write jsonl/csv to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[arg(long, value_name = "SPEC", help = LAYOUT_HELP)]
    pub layout: Option<String>,
    /// mcap: take each message's time from this integer field of the layout, in ns (default),
    /// us, ms or s, when the records carry no timestamp.
    #[arg(long, value_name = "FIELD[:UNIT]")]
    pub time: Option<String>,
    /// Replace an existing output file (mcap, parquet, --out).
    #[arg(long)]
    pub force: bool,
}

/// The source's records or frames, with what is known about them.
enum Stream<'a> {
    Records {
        header: ArchiveHeader,
        evidence_bytes_max: Option<u32>,
        lanes: Option<Vec<String>>,
        source: &'static str,
        total: u64,
        /// The live window when the ring was opened (rings).
        window: Option<(u64, u64)>,
        /// The records carry timestamps (a ring or lanes with a clock); `None`: unknown (archives).
        clock: Option<bool>,
        iter: Box<dyn Iterator<Item = Result<Rec>> + 'a>,
    },
    Frames {
        total: u64,
        iter: Box<dyn Iterator<Item = Result<Item>> + 'a>,
    },
}

fn ring_stream<'a>(ring: &'a RawRing, damage: &mut Damage) -> Stream<'a> {
    let iter = RingRecords::new(ring, None);
    damage.check(ring, iter.window());
    Stream::Records {
        header: ArchiveHeader::of(ring),
        evidence_bytes_max: Some(ring.info().evidence_bytes_max),
        lanes: None,
        source: "ring",
        total: iter.remaining(),
        window: iter.window().map(|w| (w.first, w.last)),
        clock: Some(ring.info().clock != Clock::None),
        iter: Box::new(iter),
    }
}

fn journal_stream(src: &JournalSource) -> Result<Stream<'_>> {
    let total = input::journal_frames(src);
    Ok(match &src.archive {
        Some(h) => Stream::Records {
            header: h.clone(),
            evidence_bytes_max: None,
            lanes: None,
            source: "archive",
            total,
            window: None,
            clock: None,
            iter: Box::new(ArchiveRecords::new(src, h.record_bytes)?),
        },
        None => Stream::Frames { total, iter: Box::new(input::journal_items(src, Position::Start)?) },
    })
}

/// The records (an archive) or entries (a plain journal) of a shipped capture, read segment by
/// segment; damage ends the stream with its error.
fn capture_stream<'a>(path: &'a Path, c: &'a replaylog::capture::Capture) -> Result<Stream<'a>> {
    if let Some(entries) = c.entries() {
        let iter = entries.map_err(|e| CliError::lib(path, e))?;
        return Ok(Stream::Frames {
            total: 0,
            iter: Box::new(iter.map(move |i| i.map_err(|e| CliError::lib(path, e)))),
        });
    }
    let (Some(header), Some(records)) = (c.archive_header(), c.archived_records()) else {
        return Err(CliError::new(path, "not a journal or an archive", "ship a journal or archive directory"));
    };
    Ok(Stream::Records {
        header: header.clone(),
        evidence_bytes_max: None,
        lanes: (!c.lanes().is_empty()).then(|| c.lanes().to_vec()),
        source: "archive",
        total: 0,
        window: None,
        clock: None,
        iter: Box::new(records.map(move |r| r.map_err(|e| CliError::lib(path, e)))),
    })
}

/// The records of a recorder directory's lanes, merged.
fn recorder_stream(path: &Path, damage: &mut Damage) -> Result<Stream<'static>> {
    let dir = input::open_recorder(path)?;
    input::check_lanes(&dir)?;
    damage.check_lanes(&dir);
    let Some(reference) = input::reference_ring(&dir) else {
        return Err(CliError::new(path, "the recorder directory has no lane to export", "pass a directory with lanes"));
    };
    let (header, evidence_bytes_max) = (ArchiveHeader::of(reference), reference.info().evidence_bytes_max);
    let clock = Some(reference.info().clock != Clock::None);
    let lanes = dir.lanes().iter().map(|l| l.name.to_string()).collect();
    let total = input::recorder_records(&dir);
    Ok(Stream::Records {
        header,
        evidence_bytes_max: Some(evidence_bytes_max),
        lanes: Some(lanes),
        source: "recorder",
        total,
        window: None,
        clock,
        iter: Box::new(MergedRecords::new(dir)?),
    })
}

struct HeaderInfo<'a> {
    source: &'a str,
    header: &'a ArchiveHeader,
    evidence_bytes_max: Option<u32>,
    lanes: Option<&'a [String]>,
}

fn header_json(path: &Path, h: &HeaderInfo<'_>, layout: Option<&Layout>) -> Value {
    json!({
        "type": "header",
        "source": h.source,
        "path": path.display().to_string(),
        "record_bytes": h.header.record_bytes,
        "schema_id": h.header.schema_id,
        "capacity": h.header.capacity,
        "evidence_bytes_max": h.evidence_bytes_max,
        "lanes": h.lanes,
        "layout": layout.map_or(Value::Null, layout_json),
    })
}

fn record_csv(layout: Option<&Layout>, r: &Rec) -> Vec<String> {
    let opt = |v: Option<u64>| v.map_or(String::new(), |v| v.to_string());
    let lane = r.lane.clone().unwrap_or_default();
    let mut row = vec![r.seq.to_string(), r.epoch.to_string(), opt(r.timestamp_ns), lane, opt(r.lsn)];
    if let Some(l) = layout {
        // The layout was checked against the record size: every field decodes.
        row.extend(l.decode_record(&r.bytes).map(|f| fields_csv(&f)).unwrap_or_default());
    }
    row.push(hex(&r.bytes));
    match &r.evidence {
        Some(ev) => row.extend([
            ev.kind.category().to_string(),
            ev.kind.other_code().to_string(),
            ev.code.to_string(),
            ev.message.clone(),
        ]),
        None => row.extend(std::iter::repeat_n(String::new(), 4)),
    }
    row
}

fn frame_csv(layout: Option<&Layout>, item: &Item) -> Vec<String> {
    let mut row = vec![item.lsn.to_string(), item.kind.to_string(), item.data.len().to_string()];
    if let Some(l) = layout {
        let cols = csv_columns(l).len();
        match l.decode_record(&item.data) {
            Ok(fields) => row.extend(fields_csv(&fields)),
            Err(_) => row.extend(std::iter::repeat_n(String::new(), cols)),
        }
    }
    row.push(hex(&item.data));
    row.push(printable_utf8(&item.data).unwrap_or("").to_string());
    row
}

/// The layout ring records are decoded with: `--layout`, else the one they were stored with.
fn records_layout(args: &ExportArgs, header: &ArchiveHeader) -> Result<Option<Layout>> {
    input::choose_layout(&args.path, args.layout.as_deref(), header.layout.as_ref(), Some(header.record_bytes))
}

/// Writes jsonl or csv; returns the number of records or frames written.
fn export_text(args: &ExportArgs, stream: Stream<'_>, out: &mut Out) -> Result<u64> {
    let csv = args.to == Target::Csv;
    let mut n = 0u64;
    match stream {
        Stream::Records { header, evidence_bytes_max, lanes, source, total, iter, .. } => {
            let layout = records_layout(args, &header)?;
            if csv {
                let mut cols: Vec<String> = ["seq", "epoch", "timestamp_ns", "lane", "lsn"].map(String::from).to_vec();
                cols.extend(layout.as_ref().map(csv_columns).unwrap_or_default());
                cols.extend(
                    ["record_hex", "evidence_kind", "evidence_other_code", "evidence_code", "evidence_message"]
                        .map(String::from),
                );
                out.line(csv_row(&cols))?;
            } else {
                let info = HeaderInfo { source, header: &header, evidence_bytes_max, lanes: lanes.as_deref() };
                out.json(&header_json(&args.path, &info, layout.as_ref()))?;
            }
            let printer = Printer { layout, json: true };
            let bar = progress(total, "exporting");
            for r in iter {
                if INTERRUPTED.load(Ordering::Relaxed) {
                    return Err(interrupted(&args.path));
                }
                let r = r?;
                if csv {
                    out.line(csv_row(&record_csv(printer.layout.as_ref(), &r)))?;
                } else {
                    out.json(&printer.record_json(&r))?;
                }
                n += 1;
                bar.inc(1);
            }
            bar.finish_and_clear();
        }
        Stream::Frames { total, iter } => {
            let layout = input::choose_layout(&args.path, args.layout.as_deref(), None, None)?;
            if csv {
                let mut cols: Vec<String> = ["lsn", "kind", "bytes"].map(String::from).to_vec();
                cols.extend(layout.as_ref().map(csv_columns).unwrap_or_default());
                cols.extend(["data_hex", "data_utf8"].map(String::from));
                out.line(csv_row(&cols))?;
            } else {
                out.json(&json!({
                    "type": "header", "source": "journal", "path": args.path.display().to_string(),
                    "layout": layout.as_ref().map_or(Value::Null, layout_json),
                }))?;
            }
            let printer = Printer { layout, json: true };
            let bar = progress(total, "exporting");
            for item in iter {
                if INTERRUPTED.load(Ordering::Relaxed) {
                    return Err(interrupted(&args.path));
                }
                let item = item?;
                if csv {
                    out.line(csv_row(&frame_csv(printer.layout.as_ref(), &item)))?;
                } else {
                    out.json(&printer.entry_json(&item))?;
                }
                n += 1;
                bar.inc(1);
            }
            bar.finish_and_clear();
        }
    }
    out.flush()?;
    Ok(n)
}

/// Checks that `dir` does not exist or is an empty directory.
fn check_new_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(CliError::io(dir, "stat", e)),
        Ok(m) if m.is_dir() => {
            let mut entries = std::fs::read_dir(dir).map_err(|e| CliError::io(dir, "read directory", e))?;
            if entries.next().is_some() {
                Err(CliError::new(dir, "directory is not empty", "export into a new or empty directory"))
            } else {
                Ok(())
            }
        }
        Ok(_) => Err(CliError::new(dir, "exists and is not a directory", "export into a new or empty directory")),
    }
}

/// Writes an archive journal (or a copy of a plain journal) in `dir`; returns the entries written.
fn export_journal(dir: &Path, stream: Stream<'_>) -> Result<u64> {
    check_new_dir(dir)?;
    let journal =
        Journal::open(dir, JournalOptions::default().sync(SyncMode::Async)).map_err(|e| CliError::lib(dir, e))?;
    let err = |e| CliError::lib(dir, e);
    let mut n = 0u64;
    let mut entry = Vec::new();
    let result = (|| {
        match stream {
            Stream::Records { header, total, iter, .. } => {
                journal.write(&header.encode()).map_err(err)?;
                let bar = progress(total, "exporting");
                for r in iter {
                    let r = r?;
                    let raw = RawRecord {
                        seq: r.seq,
                        epoch: r.epoch,
                        timestamp_ns: r.timestamp_ns,
                        bytes: r.bytes,
                        evidence: r.evidence,
                    };
                    entry.clear();
                    // Lane names were checked when the lane was listed or decoded.
                    archive::encode_record_in_lane(&mut entry, &raw, r.lane.as_deref())
                        .map_err(|e| CliError::new(dir, format!("seq {} cannot be archived: {e}", raw.seq), ""))?;
                    journal.write(&entry).map_err(err)?;
                    n += 1;
                    bar.inc(1);
                }
                bar.finish_and_clear();
            }
            Stream::Frames { total, iter } => {
                let bar = progress(total, "exporting");
                for item in iter {
                    let item = item?;
                    match item.kind {
                        EntryKind::Entry => journal.write(&item.data).map_err(err)?,
                        EntryKind::Snapshot => journal.snapshot(&item.data).map_err(err)?,
                    };
                    n += 1;
                    bar.inc(1);
                }
                bar.finish_and_clear();
            }
        }
        Ok(())
    })();
    let closed = journal.close().map_err(err);
    result.and(closed).map_err(|mut e: CliError| {
        e.hint =
            Some(format!("{}; the partial export in {} holds {n} entries", e.hint.unwrap_or_default(), dir.display()));
        e
    })?;
    Ok(n)
}

/// The name a record without a lane is published under: a ring's file stem, a directory's name
/// (a segment file: its directory's).
fn source_name(path: &Path, kind: &Kind) -> String {
    let abs = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let named = match kind {
        Kind::Ring => abs.file_stem(),
        Kind::Segment => abs.parent().and_then(|d| d.file_name()),
        _ => abs.file_name(),
    };
    named.map_or_else(|| "capture".into(), |n| n.to_string_lossy().into_owned())
}

/// Set when SIGINT, SIGTERM or SIGHUP arrives during an export to a file.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Turns SIGINT, SIGTERM and SIGHUP into [`INTERRUPTED`]: they are blocked in this thread (and
/// the threads it starts later) and a thread waits for them, so the export stops at the next
/// record and removes its temporary file.
fn catch_interrupts() {
    let mut set = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(sig);
    }
    if set.thread_block().is_ok() {
        std::thread::spawn(move || {
            if set.wait().is_ok() {
                INTERRUPTED.store(true, Ordering::Relaxed);
            }
        });
    }
}

fn interrupted(path: &Path) -> CliError {
    CliError::new(path, "interrupted", "nothing was written; the temporary file was removed")
}

fn export_err(path: &Path, e: ExportError) -> CliError {
    match e {
        ExportError::OutputExists { path } => {
            CliError::new(path, "already exists", "remove it, choose another name, or pass --force")
        }
        ExportError::Io { op, path, source } => CliError::io(path, op, source),
        ExportError::Usage(what) => CliError::new(path, what, "see `replaylog export --help`"),
        other => CliError::new(path, other.to_string(), "check the disk and the output path"),
    }
}

/// What an export to a file wrote.
struct Written {
    records: u64,
    what: String,
}

/// Writes an MCAP or Parquet file from `stream` (see the module doc).
fn export_file(args: &ExportArgs, path_kind: &Kind, file: &Path, stream: Stream<'_>) -> Result<Written> {
    let mcap = matches!(args.to, Target::Mcap(_));
    let (source, iter) = match stream {
        Stream::Records { header, lanes, source, window, clock, iter, .. } => {
            let layout = records_layout(args, &header)?;
            let mut iter = iter.peekable();
            let timestamps = match clock {
                Some(c) => c,
                None => matches!(iter.peek(), Some(Ok(r)) if r.timestamp_ns.is_some()),
            };
            let kind = match source {
                "ring" => SourceKind::Ring,
                "recorder" => SourceKind::Recorder,
                _ => SourceKind::Archive,
            };
            let source = Source {
                path: args.path.clone(),
                kind,
                name: source_name(&args.path, path_kind),
                record_bytes: Some(header.record_bytes),
                schema_id: Some(header.schema_id),
                layout,
                capacity: Some(header.capacity),
                window,
                lanes: lanes.unwrap_or_default(),
                timestamps,
            };
            (source, Feed::Records(Box::new(iter)))
        }
        Stream::Frames { iter, .. } => {
            let layout = input::choose_layout(&args.path, args.layout.as_deref(), None, None)?;
            let source = Source {
                path: args.path.clone(),
                kind: SourceKind::Journal,
                name: source_name(&args.path, path_kind),
                record_bytes: None,
                schema_id: None,
                layout,
                capacity: None,
                window: None,
                lanes: Vec::new(),
                timestamps: false,
            };
            (source, Feed::Frames(iter))
        }
    };
    let time = match &args.time {
        Some(spec) => TimeSource::field(spec, source.layout.as_ref()).map_err(|e| export_err(&args.path, e))?,
        None => TimeSource::Auto,
    };
    let mut out = AtomicFile::create(file, args.force).map_err(|e| export_err(file, e))?;
    let f = out.file().try_clone().map_err(|e| CliError::io(file, "open", e))?;
    let w = BufWriter::with_capacity(1 << 20, f);
    let fail = |e| export_err(file, e);
    let (records, what) = if mcap {
        let mut x = McapExporter::new(w, &source, McapOptions { time }).map_err(fail)?;
        let n = feed(&args.path, iter, &mut x).map_err(|e| e.or(file))?;
        let sum = x.finish().map_err(fail)?;
        let what = format!(
            "the MCAP file {} ({} messages on {} channel(s), {} failure message(s))",
            file.display(),
            sum.messages,
            sum.channels,
            sum.failures
        );
        (n, what)
    } else {
        let mut x = ParquetExporter::new(w, &source, ParquetOptions::default()).map_err(fail)?;
        let n = feed(&args.path, iter, &mut x).map_err(|e| e.or(file))?;
        let sum = x.finish().map_err(fail)?;
        (n, format!("the Parquet file {} ({} rows, {} row group(s))", file.display(), sum.rows, sum.row_groups))
    };
    out.commit().map_err(fail)?;
    Ok(Written { records, what })
}

/// An exporter, as [`feed`] drives it.
trait Sink {
    fn record(&mut self, r: &Record<'_>) -> replaylog_export::Result<()>;
    fn frame(&mut self, f: &Frame<'_>) -> replaylog_export::Result<()>;
}

impl<W: Write + Seek> Sink for McapExporter<W> {
    fn record(&mut self, r: &Record<'_>) -> replaylog_export::Result<()> {
        self.write_record(r)
    }
    fn frame(&mut self, f: &Frame<'_>) -> replaylog_export::Result<()> {
        self.write_frame(f)
    }
}

impl<W: Write + Send> Sink for ParquetExporter<W> {
    fn record(&mut self, r: &Record<'_>) -> replaylog_export::Result<()> {
        self.write_record(r)
    }
    fn frame(&mut self, f: &Frame<'_>) -> replaylog_export::Result<()> {
        self.write_frame(f)
    }
}

/// Records or frames to feed an exporter.
enum Feed<'a> {
    Records(Box<dyn Iterator<Item = Result<Rec>> + 'a>),
    Frames(Box<dyn Iterator<Item = Result<Item>> + 'a>),
}

/// An error of [`feed`]: the input's (as is) or the exporter's (about the output file).
enum FeedError {
    Input(CliError),
    Output(ExportError),
}

impl FeedError {
    fn or(self, file: &Path) -> CliError {
        match self {
            FeedError::Input(e) => e,
            FeedError::Output(e) => export_err(file, e),
        }
    }
}

/// Feeds every record (or frame) to the exporter; returns how many.
fn feed(path: &Path, iter: Feed<'_>, sink: &mut impl Sink) -> std::result::Result<u64, FeedError> {
    let mut n = 0u64;
    match iter {
        Feed::Records(iter) => {
            for r in iter {
                if INTERRUPTED.load(Ordering::Relaxed) {
                    return Err(FeedError::Input(interrupted(path)));
                }
                let r = r.map_err(FeedError::Input)?;
                let rec = Record {
                    seq: r.seq,
                    epoch: r.epoch,
                    timestamp_ns: r.timestamp_ns,
                    lane: r.lane.as_deref(),
                    lsn: r.lsn,
                    bytes: &r.bytes,
                    evidence: r.evidence.as_ref(),
                };
                sink.record(&rec).map_err(FeedError::Output)?;
                n += 1;
            }
        }
        Feed::Frames(iter) => {
            for item in iter {
                if INTERRUPTED.load(Ordering::Relaxed) {
                    return Err(FeedError::Input(interrupted(path)));
                }
                let item = item.map_err(FeedError::Input)?;
                sink.frame(&Frame { lsn: item.lsn, kind: item.kind, data: &item.data }).map_err(FeedError::Output)?;
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Runs `export`.
pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    let file_target = match &args.to {
        Target::Mcap(f) | Target::Parquet(f) => Some(f.clone()),
        _ => None,
    };
    if args.out.is_some() && !matches!(args.to, Target::Jsonl | Target::Csv) {
        return Err(CliError::new(
            &args.path,
            "--out applies to jsonl and csv only",
            "journal:DIR, mcap:FILE and parquet:FILE name their output",
        ));
    }
    if args.time.is_some() && !matches!(args.to, Target::Mcap(_)) {
        return Err(CliError::new(
            &args.path,
            "--time applies to mcap:FILE only",
            "Parquet keeps every field as a column; jsonl and csv every field as a value",
        ));
    }
    if args.force && file_target.is_none() && args.out.is_none() {
        return Err(CliError::new(
            &args.path,
            "--force applies to an output file",
            "mcap:FILE, parquet:FILE or --out FILE",
        ));
    }
    let remote = if crate::remote::is_url(&args.path) { Some(crate::remote::capture(&args.path)?) } else { None };
    let kind = match &remote {
        Some(c) => c.kind().clone(),
        None => input::detect(&args.path)?,
    };
    if file_target.is_some() || args.out.is_some() {
        catch_interrupts();
    }
    let mut damage = Damage::default();
    let ring;
    let src;
    let (stream, journal_src) = match kind {
        _ if remote.is_some() => (capture_stream(&args.path, remote.as_ref().expect("checked"))?, None),
        Kind::Ring => {
            ring = input::open_ring(&args.path)?;
            (ring_stream(&ring, &mut damage), None)
        }
        Kind::RecorderDir => (recorder_stream(&args.path, &mut damage)?, None),
        ref kind => {
            src = input::open_journal(&args.path, kind)?;
            (journal_stream(&src)?, Some(&src))
        }
    };
    match &args.to {
        Target::Journal(dir) => {
            if args.layout.is_some() {
                return Err(CliError::new(
                    &args.path,
                    "--layout does not apply to journal:DIR",
                    "an archive stores the ring's own layout",
                ));
            }
            let n = export_journal(dir, stream)?;
            let mut out = Out::stdout();
            out.line(format!(
                "exported {n} entries from {} to the archive journal {}",
                args.path.display(),
                dir.display()
            ))?;
            out.flush()?;
        }
        Target::Mcap(file) | Target::Parquet(file) => {
            let w = export_file(args, &kind, file, stream)?;
            let mut out = Out::stdout();
            out.line(format!("exported {} records from {} to {}", w.records, args.path.display(), w.what))?;
            out.flush()?;
        }
        Target::Jsonl | Target::Csv => match &args.out {
            None => {
                export_text(args, stream, &mut Out::stdout())?;
            }
            Some(file) => {
                let mut atomic = AtomicFile::create(file, args.force).map_err(|e| export_err(file, e))?;
                let f = atomic.file().try_clone().map_err(|e| CliError::io(file, "open", e))?;
                let mut out = Out::to(Box::new(f) as Box<dyn Write>);
                export_text(args, stream, &mut out)?;
                drop(out);
                if INTERRUPTED.load(Ordering::Relaxed) {
                    return Err(interrupted(&args.path));
                }
                atomic.commit().map_err(|e| export_err(file, e))?;
            }
        },
    }
    damage.result(&args.path)?;
    match journal_src.and_then(input::journal_problem) {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}
