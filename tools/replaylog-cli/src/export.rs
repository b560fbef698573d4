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
//! A progress bar is drawn on stderr for inputs of 10,000 records or more when stdout and
//! stderr are both terminals; otherwise export is quiet. Damage found in a journal input ends
//! the export with status 1 after everything readable was written.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use replaylog::archive::{self, ArchiveHeader};
use replaylog::{EntryKind, Item, Journal, JournalOptions, Kind, Layout, Position, RawRecord, RawRing, SyncMode};
use serde_json::{Value, json};

use crate::error::{CliError, Result};
use crate::input::{self, ArchiveRecords, JournalSource, MergedRecords, Rec, RingRecords};
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
}

fn parse_target(s: &str) -> std::result::Result<Target, String> {
    match s {
        "jsonl" => Ok(Target::Jsonl),
        "csv" => Ok(Target::Csv),
        _ => match s.strip_prefix("journal:") {
            Some(d) if !d.is_empty() => Ok(Target::Journal(PathBuf::from(d))),
            _ => Err("expected jsonl, csv or journal:DIR".into()),
        },
    }
}

/// Options of `replaylog export`.
#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A ring file, a journal directory, a recorder directory or a journal segment file.
    pub path: PathBuf,
    /// Output format: jsonl, csv, or journal:DIR (an archive journal in DIR, which must not exist or be empty).
    #[arg(long, value_name = "FORMAT", value_parser = parse_target)]
    pub to: Target,
    /// Write jsonl/csv to FILE (which must not exist) instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[arg(long, value_name = "SPEC", help = LAYOUT_HELP)]
    pub layout: Option<String>,
}

/// The source's records or frames, with what is known about them.
enum Stream<'a> {
    Records {
        header: ArchiveHeader,
        evidence_bytes_max: Option<u32>,
        lanes: Option<Vec<String>>,
        source: &'static str,
        total: u64,
        iter: Box<dyn Iterator<Item = Result<Rec>> + 'a>,
    },
    Frames {
        total: u64,
        iter: Box<dyn Iterator<Item = Result<Item>> + 'a>,
    },
}

fn ring_stream(ring: &RawRing) -> Stream<'_> {
    let iter = RingRecords::new(ring, None);
    Stream::Records {
        header: ArchiveHeader::of(ring),
        evidence_bytes_max: Some(ring.info().evidence_bytes_max),
        lanes: None,
        source: "ring",
        total: iter.remaining(),
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
            iter: Box::new(ArchiveRecords::new(src, h.record_bytes)?),
        },
        None => Stream::Frames { total, iter: Box::new(input::journal_items(src, Position::Start)?) },
    })
}

/// The records of a recorder directory's lanes, merged.
fn recorder_stream(path: &Path) -> Result<Stream<'static>> {
    let dir = input::open_recorder(path)?;
    input::check_lanes(&dir)?;
    let Some(reference) = input::reference_ring(&dir) else {
        return Err(CliError::new(path, "the recorder directory has no lane to export", "pass a directory with lanes"));
    };
    let (header, evidence_bytes_max) = (ArchiveHeader::of(reference), reference.info().evidence_bytes_max);
    let lanes = dir.lanes().iter().map(|l| l.name.to_string()).collect();
    let total = input::recorder_records(&dir);
    Ok(Stream::Records {
        header,
        evidence_bytes_max: Some(evidence_bytes_max),
        lanes: Some(lanes),
        source: "recorder",
        total,
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

/// Writes jsonl or csv; returns the number of records or frames written.
fn export_text(args: &ExportArgs, stream: Stream<'_>, out: &mut Out) -> Result<u64> {
    let csv = args.to == Target::Csv;
    let mut n = 0u64;
    match stream {
        Stream::Records { header, evidence_bytes_max, lanes, source, total, iter } => {
            let layout = input::choose_layout(
                &args.path,
                args.layout.as_deref(),
                header.layout.as_ref(),
                Some(header.record_bytes),
            )?;
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

/// Runs `export`.
pub fn run(args: &ExportArgs) -> Result<ExitCode> {
    if args.out.is_some() && matches!(args.to, Target::Journal(_)) {
        return Err(CliError::new(
            &args.path,
            "--out applies to jsonl and csv only",
            "journal:DIR names its directory",
        ));
    }
    let kind = input::detect(&args.path)?;
    let ring;
    let src;
    let (stream, journal_src) = match kind {
        Kind::Ring => {
            ring = input::open_ring(&args.path)?;
            (ring_stream(&ring), None)
        }
        Kind::RecorderDir => (recorder_stream(&args.path)?, None),
        kind => {
            src = input::open_journal(&args.path, &kind)?;
            (journal_stream(&src)?, Some(&src))
        }
    };
    if let Target::Journal(dir) = &args.to {
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
    } else {
        let mut out = match &args.out {
            None => Out::stdout(),
            Some(file) => {
                let f: File =
                    OpenOptions::new().write(true).create_new(true).open(file).map_err(|e| match e.kind() {
                        std::io::ErrorKind::AlreadyExists => {
                            CliError::new(file, "already exists", "remove it or choose another --out")
                        }
                        _ => CliError::io(file, "create", e),
                    })?;
                Out::to(Box::new(f) as Box<dyn Write>)
            }
        };
        export_text(args, stream, &mut out)?;
    }
    match journal_src.and_then(input::journal_problem) {
        Some(e) => Err(e),
        None => Ok(ExitCode::SUCCESS),
    }
}
