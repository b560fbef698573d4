//! `replaylog dump PATH [--json] [--from SEQ] [--limit N] [--layout SPEC] [--pace SPEED [--time
//! FIELD[:UNIT]]]`: records in publish order (a recorder directory: merged by timestamp),
//! read-only.
//!
//! * Ring: the live window. Fields decoded with `--layout`, else the layout stored in the ring,
//!   else the record as hex. Failure evidence is shown with its record.
//! * Archive journal (the archiver's, or `export --to journal:DIR`): its entries are ring records, shown
//!   like a ring's (with the journal LSN), decoded with the layout from the archive header.
//! * Any other journal: entries `lsn kind data`. In text, `data` is shown as UTF-8 when it is
//!   valid UTF-8 without control characters (other than tab, CR, LF), else as hex; in JSON
//!   `hex` is always there and `utf8` is the text or null. With `--layout` each entry's bytes are
//!   decoded as one record.
//!
//! * Recorder directory (lane files `<name>.ring`): every lane's live window merged by
//!   `(timestamp, lane, seq)` (`replaylog::recorder::merged`), each record naming its lane,
//!   decoded with the lanes' shared layout. A lane that cannot be read with the others (not a
//!   ring, or another record size, schema id, layout or clock) is an error naming its file
//!   (status 2), before anything is printed.
//!
//! `--from` is a ring seq (rings, archives) or an LSN (other journals); it does not apply to a
//! recorder directory, whose lanes each have their own seqs (dump a lane's file instead). In an
//! archive, records come in the order they were archived (for a recorder directory exported
//! with `export --to journal:DIR`, the merged order).
//!
//! `--json` prints JSON lines, one per record:
//! `{"type": "record", "seq", "epoch", "timestamp_ns": null | n, "lane": null | name, "lsn": null | n,
//! "fields": null | {name: value},
//! "hex", "evidence": null | {"kind": "backend" | "runtime" | "timeout" | "other",
//! "other_code", "code", "message"}}`, or per journal entry:
//! `{"type": "entry", "lsn", "kind": "entry" | "snapshot", "bytes", "hex", "utf8": null |
//! text, "fields": null | {..}, "decode_error": null | text}`.
//!
//! `--pace SPEED` streams the records of a ring, a recorder directory or an archive journal at
//! their recorded pace × SPEED (`replaylog::replay::Paced`; `2` twice as fast, `0.5` half as
//! fast, `max` without waiting), stdout flushed after every record so a harness reading the
//! pipe gets each one on time (each line is rendered before its wait). A record's time is its
//! `timestamp_ns` (a ring or lanes with a clock; archives keep it), or, with `--time
//! FIELD[:ns|us|ms|s]`, that integer field of the layout in that unit (default ns; a signed
//! field is paced by its differences, negative values included), which takes precedence over the
//! timestamp. Records without either (a ring without a clock and no `--time`), or a plain
//! journal (entries have no time), are an error (status 2) before anything is printed (`--pace
//! max` needs no time, but a `--time` given is still checked). A record
//! whose time is below an earlier one's is released at once. At the end one line on stderr
//! gives the drift against the recorded schedule: `replaylog: paced N records at 1x: lateness
//! p50 .., p99 .., max ..`.
//!
//! Damage found in a journal after everything readable was printed exits with status 1. A
//! ring's (or lane's) damaged slots are never in its live window, which a writer's open would
//! recover after them: when the window does not fill the ring, the ring is checked as `validate`
//! checks it, each damaged slot run is listed on stderr, and the status is 1 after the window
//! was printed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use replaylog::replay::{DriftSummary, Paced, Speed};
use replaylog::{Clock, Field, Kind, Layout, Position, RawRing, Value};
use replaylog_export::TimeSource;

use crate::error::{CliError, Result};
use crate::input::{self, ArchiveRecords, Damage, JournalSource, MergedRecords, Rec, RingRecords};
use crate::output::{LAYOUT_HELP, Out, Printer};

/// Options of `replaylog dump`.
#[derive(Args, Debug)]
pub struct DumpArgs {
    /// A ring file, a journal directory, a recorder directory or a journal segment file.
    pub path: PathBuf,
    /// Print JSON lines (one object per record; schema in the README, "CLI reference").
    #[arg(long)]
    pub json: bool,
    /// Start at this ring seq (rings and archives) or LSN (other journals).
    #[arg(long, value_name = "SEQ")]
    pub from: Option<u64>,
    /// Print at most N records.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    #[arg(long, value_name = "SPEC", help = LAYOUT_HELP)]
    pub layout: Option<String>,
    /// Stream the records at their recorded pace times SPEED (1 as recorded, 2 twice as fast,
    /// 0.5 half as fast, max without waiting), flushing after each; the drift against the
    /// recorded schedule goes to stderr at the end. Rings, recorder directories and archives.
    #[arg(long, value_name = "SPEED", allow_negative_numbers = true)]
    pub pace: Option<Speed>,
    /// With --pace: each record's time is this integer field of the layout, in ns (default), us,
    /// ms or s, instead of its timestamp (needed for a ring without a clock).
    #[arg(long, value_name = "FIELD[:UNIT]", requires = "pace")]
    pub time: Option<String>,
}

/// Whether a source's records carry timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stamped {
    Yes,
    No,
    /// An archive: as its first record does.
    Unknown,
}

/// Where a paced record's time comes from.
enum TimeOf {
    /// `--pace max` without a time: nothing to schedule.
    Unused,
    Stamp,
    Field {
        field: Field,
        nanos: u64,
    },
}

impl TimeOf {
    /// Picks the time source before anything is printed: `--time`, else the timestamps, else an
    /// error naming the path.
    fn choose(args: &DumpArgs, layout: Option<&Layout>, stamped: Stamped) -> Result<TimeOf> {
        if let Some(spec) = &args.time {
            let hint = "name a scalar integer field of the layout; see `replaylog dump --help`";
            let source = TimeSource::field(spec, layout).map_err(|e| CliError::new(&args.path, e.to_string(), hint))?;
            // `TimeSource::field` found the field in the layout; look it up for its offset and type.
            let found = match (&source, layout) {
                (TimeSource::Field { name, unit }, Some(l)) => {
                    l.fields.iter().find(|f| &f.name == name).map(|f| (f.clone(), unit.nanos()))
                }
                _ => None,
            };
            let Some((field, nanos)) = found else {
                return Err(CliError::new(&args.path, format!("--time {spec}: no such field in the layout"), hint));
            };
            return Ok(TimeOf::Field { field, nanos });
        }
        match stamped {
            Stamped::Yes => Ok(TimeOf::Stamp),
            _ if args.pace.is_some_and(Speed::is_max) => Ok(TimeOf::Unused),
            Stamped::No | Stamped::Unknown => Err(CliError::new(
                &args.path,
                "the records carry no timestamps (recorded without a clock), so --pace has no recorded time to follow",
                "pass --time FIELD[:ns|us|ms|s] naming an integer field that holds each record's time",
            )),
        }
    }

    /// A record's time in ns (any origin: only differences count). A signed field is shifted by
    /// 2^63 ns so that negative values keep their order.
    fn of(&self, r: &Rec) -> Option<u64> {
        match self {
            TimeOf::Unused => Some(0),
            TimeOf::Stamp => r.timestamp_ns,
            TimeOf::Field { field, nanos } => match field.decode_value(&r.bytes).ok()? {
                Value::U64(v) => Some(v.saturating_mul(*nanos)),
                Value::I64(v) => {
                    let t = i128::from(v) * i128::from(*nanos) + (1i128 << 63);
                    Some(u64::try_from(t.max(0)).unwrap_or(u64::MAX))
                }
                _ => None,
            },
        }
    }
}

/// `850 ns`, `12.3 us`, `310 us`, `4.5 ms`, `1.25 s`.
fn duration_text(ns: u64) -> String {
    let f = ns as f64;
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..10_000 => format!("{:.1} us", f / 1e3),
        10_000..1_000_000 => format!("{:.0} us", f / 1e3),
        1_000_000..1_000_000_000 => format!("{:.1} ms", f / 1e6),
        _ => format!("{:.2} s", f / 1e9),
    }
}

/// The stderr line after a paced dump.
fn drift_text(speed: Speed, d: &DriftSummary) -> String {
    let mut s = if speed.is_max() {
        format!("replaylog: replayed {} records at max speed (not paced, no lateness measured)", d.released)
    } else {
        format!(
            "replaylog: paced {} records at {speed}: lateness p50 {}, p99 {}, max {}",
            d.released,
            duration_text(d.p50_ns),
            duration_text(d.p99_ns),
            duration_text(d.max_ns)
        )
    };
    if d.backwards > 0 {
        s.push_str(&format!("; {} record(s) with a time below an earlier record's released at once", d.backwards));
    }
    if d.untimed > 0 {
        s.push_str(&format!("; {} record(s) without a time released unpaced", d.untimed));
    }
    s
}

/// Prints `records` (at most `--limit`): at once, or paced (see the module docs).
fn print_records(
    args: &DumpArgs,
    printer: &Printer,
    records: impl Iterator<Item = Result<Rec>>,
    stamped: Stamped,
    out: &mut Out,
) -> Result<()> {
    let records = records.take(args.limit.map_or(usize::MAX, |n| n as usize));
    let Some(speed) = args.pace else {
        for r in records {
            printer.record(out, &r?)?;
        }
        return Ok(());
    };
    let mut records = records.peekable();
    let stamped = match (stamped, records.peek()) {
        (Stamped::Unknown, Some(Ok(r))) => {
            if r.timestamp_ns.is_some() {
                Stamped::Yes
            } else {
                Stamped::No
            }
        }
        // Nothing to pace, or an error that the loop below reports.
        (Stamped::Unknown, _) => Stamped::Yes,
        (known, _) => known,
    };
    let time = TimeOf::choose(args, printer.layout.as_ref(), stamped)?;
    // Each line is rendered before its wait, so only the write is left after the release.
    let lines = records.map(|r| r.map(|r| (time.of(&r), printer.record_line(&r))));
    let mut paced = Paced::new(lines, speed, |l: &Result<(Option<u64>, String)>| l.as_ref().ok().and_then(|l| l.0));
    let mut result = Ok(());
    for released in paced.by_ref() {
        match released.item {
            Ok((_, line)) => {
                if let Err(e) = out.line(line).and_then(|()| out.flush()) {
                    result = Err(e);
                    break;
                }
            }
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if !result.as_ref().is_err_and(|e| e.broken_pipe) {
        eprintln!("{}", drift_text(speed, &paced.drift()));
    }
    result
}

/// Where to start iterating a plain journal to reach LSN `from` (then filter `lsn >= from`).
fn start_position(src: &JournalSource, from: Option<u64>) -> Position {
    let Some(from) = from else { return Position::Start };
    let inside = src
        .journal
        .segments()
        .iter()
        .any(|s| s.frames > 0 && s.first_lsn.is_some_and(|f| f <= from) && from < s.next_lsn);
    if inside { Position::Lsn(from) } else { Position::Start }
}

fn dump_ring(args: &DumpArgs, ring: &RawRing, out: &mut Out) -> Result<()> {
    let layout =
        input::choose_layout(&args.path, args.layout.as_deref(), ring.layout(), Some(ring.info().record_bytes))?;
    let printer = Printer { layout, json: args.json };
    let mut damage = Damage::default();
    let records = RingRecords::new(ring, args.from);
    damage.check(ring, records.window());
    let stamped = if ring.info().clock == Clock::None { Stamped::No } else { Stamped::Yes };
    print_records(args, &printer, records, stamped, out)?;
    damage.result(&args.path)
}

fn dump_journal(args: &DumpArgs, src: &JournalSource, out: &mut Out) -> Result<()> {
    let limit = args.limit.map_or(usize::MAX, |n| n as usize);
    if let Some(a) = &src.archive {
        let layout = input::choose_layout(&args.path, args.layout.as_deref(), a.layout.as_ref(), Some(a.record_bytes))?;
        let printer = Printer { layout, json: args.json };
        let from = args.from.unwrap_or(0);
        let records = ArchiveRecords::new(src, a.record_bytes)?;
        let records = records.filter(|r| r.as_ref().map_or(true, |r| r.seq >= from));
        print_records(args, &printer, records, Stamped::Unknown, out)?;
    } else {
        if args.pace.is_some() {
            return Err(CliError::new(
                &args.path,
                "--pace replays records at their recorded times, and a plain journal's entries carry no time",
                "pace a ring, a recorder directory or an archive journal (`replaylog export RING --to journal:DIR` \
                 makes one)",
            ));
        }
        let layout = input::choose_layout(&args.path, args.layout.as_deref(), None, None)?;
        let printer = Printer { layout, json: args.json };
        let from = args.from.unwrap_or(0);
        let items = input::journal_items(src, start_position(src, args.from))?;
        for item in items.filter(|i| i.as_ref().map_or(true, |i| i.lsn >= from)).take(limit) {
            printer.entry(out, &item?)?;
        }
    }
    out.flush()?;
    match input::journal_problem(src) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

fn dump_recorder(args: &DumpArgs, out: &mut Out) -> Result<()> {
    let (dir, layout) = input::open_recorder_records(&args.path, "dump", args.from, args.layout.as_deref())?;
    let printer = Printer { layout, json: args.json };
    let mut damage = Damage::default();
    damage.check_lanes(&dir);
    let stamped = match input::reference_ring(&dir) {
        Some(r) if r.info().clock == Clock::None => Stamped::No,
        _ => Stamped::Yes,
    };
    print_records(args, &printer, MergedRecords::new(dir)?, stamped, out)?;
    damage.result(&args.path)
}

/// A shipped capture (`s3://…`): an archive's records or a plain journal's entries, as
/// [`dump_journal`] prints a local one.
fn dump_capture(args: &DumpArgs, c: &replaylog::capture::Capture, out: &mut Out) -> Result<()> {
    let path = &args.path;
    if let Some(entries) = c.entries() {
        if args.pace.is_some() {
            return Err(CliError::new(
                path,
                "--pace replays records at their recorded times, and a plain journal's entries carry no time",
                "pace a ring, a recorder directory or an archive journal",
            ));
        }
        let layout = input::choose_layout(path, args.layout.as_deref(), None, None)?;
        let printer = Printer { layout, json: args.json };
        let from = args.from.unwrap_or(0);
        let limit = args.limit.map_or(usize::MAX, |n| n as usize);
        let entries = entries.map_err(|e| CliError::lib(path, e))?;
        for item in entries.filter(|i| i.as_ref().map_or(true, |i| i.lsn >= from)).take(limit) {
            printer.entry(out, &item.map_err(|e| CliError::lib(path, e))?)?;
        }
        return Ok(());
    }
    let Some(records) = c.archived_records() else {
        return Err(CliError::new(path, "not a journal or an archive", "ship a journal or archive directory"));
    };
    let layout = input::choose_layout(path, args.layout.as_deref(), c.layout(), c.record_bytes())?;
    let printer = Printer { layout, json: args.json };
    let from = args.from.unwrap_or(0);
    let records = records.map(|r| r.map_err(|e| CliError::lib(path, e)));
    let records = records.filter(|r| r.as_ref().map_or(true, |r| r.seq >= from));
    print_records(args, &printer, records, Stamped::Unknown, out)
}

/// Runs `dump`.
pub fn run(args: &DumpArgs) -> Result<ExitCode> {
    let mut out = Out::stdout();
    if crate::remote::is_url(&args.path) {
        let c = crate::remote::capture(&args.path)?;
        let result = dump_capture(args, &c, &mut out);
        out.flush()?;
        return result.map(|()| ExitCode::SUCCESS);
    }
    let result = match input::detect(&args.path)? {
        Kind::Ring => dump_ring(args, &input::open_ring(&args.path)?, &mut out),
        Kind::RecorderDir => dump_recorder(args, &mut out),
        kind => dump_journal(args, &input::open_journal(&args.path, &kind)?, &mut out),
    };
    out.flush()?;
    result.map(|()| ExitCode::SUCCESS)
}
