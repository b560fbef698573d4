//! `replaylog dump PATH [--json] [--from SEQ] [--limit N] [--layout SPEC]`: records in publish
//! order (a recorder directory: merged by timestamp), read-only.
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
//! Damage found in a journal after everything readable was printed exits with status 1. A
//! ring's (or lane's) damaged slots are never in its live window, which a writer's open would
//! recover after them: when the window does not fill the ring, the ring is checked as `validate`
//! checks it, each damaged slot run is listed on stderr, and the status is 1 after the window
//! was printed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use replaylog::{Kind, Position, RawRing};

use crate::error::Result;
use crate::input::{self, ArchiveRecords, Damage, JournalSource, MergedRecords, RingRecords};
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
    for r in records.take(args.limit.map_or(usize::MAX, |n| n as usize)) {
        printer.record(out, &r?)?;
    }
    damage.result(&args.path)
}

fn dump_journal(args: &DumpArgs, src: &JournalSource, out: &mut Out) -> Result<()> {
    let limit = args.limit.map_or(usize::MAX, |n| n as usize);
    if let Some(a) = &src.archive {
        let layout = input::choose_layout(&args.path, args.layout.as_deref(), a.layout.as_ref(), Some(a.record_bytes))?;
        let printer = Printer { layout, json: args.json };
        let from = args.from.unwrap_or(0);
        let records = ArchiveRecords::new(src, a.record_bytes)?;
        for r in records.filter(|r| r.as_ref().map_or(true, |r| r.seq >= from)).take(limit) {
            printer.record(out, &r?)?;
        }
    } else {
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
    for r in MergedRecords::new(dir)?.take(args.limit.map_or(usize::MAX, |n| n as usize)) {
        printer.record(out, &r?)?;
    }
    damage.result(&args.path)
}

/// Runs `dump`.
pub fn run(args: &DumpArgs) -> Result<ExitCode> {
    let mut out = Out::stdout();
    let result = match input::detect(&args.path)? {
        Kind::Ring => dump_ring(args, &input::open_ring(&args.path)?, &mut out),
        Kind::RecorderDir => dump_recorder(args, &mut out),
        kind => dump_journal(args, &input::open_journal(&args.path, &kind)?, &mut out),
    };
    out.flush()?;
    result.map(|()| ExitCode::SUCCESS)
}
