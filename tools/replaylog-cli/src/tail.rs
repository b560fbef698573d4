//! `replaylog tail [-f] PATH [-n N] [--from SEQ] [--json] [--layout SPEC] [--max-records N]
//! [--timeout-ms MS]`: the newest records, and with `-f` every record published after them.
//!
//! Without `-f`: the last N (default 10) records of a ring's live window or of an archive
//! journal, or entries of another journal, then exit. `--from` starts at a seq (rings,
//! archives) or an LSN (other journals) instead.
//!
//! With `-f` on a ring: the last N records, then each record as a writer (in any process)
//! publishes it, read through a read-only mapping with the seqlock discipline by the library's
//! `RawReader` (records of any size). When the writer overwrote records before they were read
//! (or a restarted writer left a hole), a line `lapped: missed N records (resuming at seq S)`
//! says so (JSON: `{"type": "lapped", "missed", "resumed_at"}`).
//! With `-f` on a journal: the directory is reopened read-only every 100 ms and entries after
//! the last LSN seen are printed (`lapped: missed N entries (resuming at lsn L)` when retention
//! deleted some before they were read).
//!
//! On a recorder directory (lane files `<name>.ring`): the last N records of the lanes merged
//! by `(timestamp, lane, seq)` (as `dump` prints them, each naming its lane), and with `-f`
//! every record the lanes' writers publish after them, read by the library's `MergedReader`
//! (one `RawReader` per lane; lanes created meanwhile are picked up within 100 ms and read from
//! their oldest record). With the lanes' default `monotonic` clock a record is held back until
//! every lane has a newer one or it is `--hold-ms` old (default 20), so the followed order is
//! the merged order unless a writer stalls inside `append` for longer. A lap names its lane:
//! `lapped: lane NAME missed N records (resuming at seq S)` (JSON: `{"type": "lapped", "lane",
//! "missed", "resumed_at"}`). `--from` does not apply (each lane has its own seqs).
//!
//! Output lines are those of `dump` (text or `--json`), flushed as they come. `--max-records N`
//! exits 0 once N records were printed (the first N included); `--timeout-ms MS` stops
//! following after MS milliseconds: exit 0, or 1 when `--max-records` was given and not reached.
//! Otherwise `tail -f` runs until interrupted (Ctrl-C).

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use replaylog::{Item, Kind, MergedOutcome, MergedReader, Position, RawReader, RawRing, ReadOutcome, StartAt};
use serde_json::json;

use crate::error::{CliError, Result};
use crate::input::{self, ArchiveDecoder, JournalSource, MergedRecords, Rec, RingRecords};
use crate::output::{LAYOUT_HELP, Out, Printer};

/// Options of `replaylog tail`.
#[derive(Args, Debug)]
pub struct TailArgs {
    /// A ring file, a journal directory, a recorder directory or a journal segment file.
    pub path: PathBuf,
    /// Follow: keep printing records as they are published.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// How many of the newest records to print first.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10)]
    pub lines: u64,
    /// Start at this seq (rings and archive journals) or LSN (other journals) instead of the last N.
    #[arg(long, value_name = "SEQ")]
    pub from: Option<u64>,
    /// Print JSON lines (as `dump --json`).
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_name = "SPEC", help = LAYOUT_HELP)]
    pub layout: Option<String>,
    /// Exit 0 after printing N records in all.
    #[arg(long, value_name = "N")]
    pub max_records: Option<u64>,
    /// Stop following after this many milliseconds (exit 1 if --max-records was not reached).
    #[arg(long, value_name = "MS")]
    pub timeout_ms: Option<u64>,
    /// Recorder directories with a monotonic clock: hold a record back until every lane has a
    /// newer one or it is this old, so that the followed order is the merged order (0: print
    /// each record as soon as it is the oldest published).
    #[arg(long, value_name = "MS", default_value_t = 20)]
    pub hold_ms: u64,
}

/// Counts printed records against `--max-records` and the `--timeout-ms` deadline.
struct Budget {
    printed: u64,
    max: Option<u64>,
    deadline: Option<Instant>,
    timeout_ms: Option<u64>,
}

impl Budget {
    fn done(&self) -> bool {
        self.max.is_some_and(|m| self.printed >= m)
    }

    fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The exit once following stops.
    fn finish(&self, path: &Path) -> Result<ExitCode> {
        match self.max {
            Some(m) if self.printed < m => Err(CliError::problem(
                path,
                format!("timed out after {} ms with {} of {m} records", self.timeout_ms.unwrap_or(0), self.printed),
                "no more records were published in time",
            )),
            _ => Ok(ExitCode::SUCCESS),
        }
    }
}

fn tail_ring(args: &TailArgs, ring: RawRing, out: &mut Out, budget: &mut Budget) -> Result<ExitCode> {
    let layout =
        input::choose_layout(&args.path, args.layout.as_deref(), ring.layout(), Some(ring.info().record_bytes))?;
    let printer = Printer { layout, json: args.json };
    let window = ring.window();
    if !args.follow {
        let from = args.from.unwrap_or_else(|| window.map_or(0, |w| (w.last + 1).saturating_sub(args.lines)));
        for r in RingRecords::new(&ring, Some(from)) {
            if budget.done() {
                break;
            }
            printer.record(out, &r?)?;
            budget.printed += 1;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let newest = window.map_or(0, |w| w.last + 1).max(ring.cursor_hint().unwrap_or(0));
    let start = args.from.unwrap_or_else(|| {
        let back = newest.saturating_sub(args.lines);
        window.map_or(back, |w| back.max(w.first))
    });
    eprintln!("replaylog: {}: following from seq {start} (Ctrl-C to stop)", args.path.display());
    let mut reader = RawReader::new(ring, StartAt::Seq(start));
    let mut idle = 0u32;
    while !budget.done() {
        match reader.poll().map_err(|e| CliError::lib(&args.path, e))? {
            ReadOutcome::Record(r) => {
                let r = Rec::from_raw(r, None, None);
                printer.record(out, &r)?;
                budget.printed += 1;
                idle = 0;
                continue;
            }
            ReadOutcome::Lapped { missed, resumed_at } => {
                if args.json {
                    out.json(&json!({"type": "lapped", "missed": missed, "resumed_at": resumed_at}))?;
                } else {
                    out.line(format!("lapped: missed {missed} records (resuming at seq {resumed_at})"))?;
                }
                continue;
            }
            ReadOutcome::Pending => {}
        }
        out.flush()?;
        if budget.expired() {
            return budget.finish(&args.path);
        }
        // Back off: spin briefly, then sleep up to 5 ms between polls.
        idle += 1;
        if idle < 64 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(u64::from(idle.min(100)) * 50));
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn tail_recorder(args: &TailArgs, out: &mut Out, budget: &mut Budget) -> Result<ExitCode> {
    let (dir, layout) = input::open_recorder_records(&args.path, "tail", args.from, args.layout.as_deref())?;
    let printer = Printer { layout, json: args.json };
    let lines = usize::try_from(args.lines).unwrap_or(usize::MAX);
    if !args.follow {
        let mut recent = VecDeque::new();
        for r in MergedRecords::new(dir)? {
            recent.push_back(r?);
            if recent.len() > lines {
                recent.pop_front();
            }
        }
        for r in recent {
            if budget.done() {
                break;
            }
            printer.record(out, &r)?;
            budget.printed += 1;
        }
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    // Read what the lanes hold now (at most their windows, however fast the writers), keeping
    // the last N, then follow.
    let mut catch_up = input::recorder_records(&dir);
    drop(dir);
    let lib = |e| CliError::lib(&args.path, e);
    let mut reader = MergedReader::open(&args.path).map_err(lib)?;
    reader.set_hold_back((args.hold_ms > 0).then(|| Duration::from_millis(args.hold_ms)));
    let mut recent = VecDeque::new();
    while catch_up > 0 {
        match reader.poll().map_err(lib)? {
            MergedOutcome::Record(r) => {
                recent.push_back(Rec::from(r));
                if recent.len() > lines {
                    recent.pop_front();
                }
                catch_up -= 1;
            }
            MergedOutcome::Lapped { .. } => {}
            MergedOutcome::Pending => break,
        }
    }
    let lanes: Vec<&str> = reader.lanes().collect();
    eprintln!(
        "replaylog: {}: following {} lane(s) ({}) (Ctrl-C to stop)",
        args.path.display(),
        lanes.len(),
        lanes.join(", ")
    );
    for r in recent {
        if budget.done() {
            break;
        }
        printer.record(out, &r)?;
        budget.printed += 1;
    }
    while !budget.done() {
        match reader.next_timeout(Duration::from_millis(50)).map_err(lib)? {
            MergedOutcome::Record(r) => {
                printer.record(out, &Rec::from(r))?;
                budget.printed += 1;
                continue;
            }
            MergedOutcome::Lapped { lane, missed, resumed_at } => {
                if args.json {
                    out.json(&json!({"type": "lapped", "lane": &*lane, "missed": missed, "resumed_at": resumed_at}))?;
                } else {
                    out.line(format!("lapped: lane {lane} missed {missed} records (resuming at seq {resumed_at})"))?;
                }
                continue;
            }
            MergedOutcome::Pending => {}
        }
        out.flush()?;
        if budget.expired() {
            return budget.finish(&args.path);
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A record of an archive journal, or an entry of another journal.
enum Shown {
    Record(Rec),
    Entry(Item),
}

/// Prints journal frames after `after` (exclusive); returns the last LSN seen.
fn print_new(
    src: &JournalSource,
    printer: &Printer,
    decoder: &Option<ArchiveDecoder>,
    after: Option<u64>,
    out: &mut Out,
    budget: &mut Budget,
) -> Result<Option<u64>> {
    let oldest = src.journal.segments().iter().find(|s| s.frames > 0).and_then(|s| s.first_lsn);
    let from = match (after, oldest) {
        // Retention deleted entries this follower had not read yet.
        (Some(l), Some(o)) if o > l + 1 => {
            let (missed, resumed_at) = (o - l - 1, o);
            if printer.json {
                out.json(&json!({"type": "lapped", "missed": missed, "resumed_at": resumed_at}))?;
            } else {
                out.line(format!("lapped: missed {missed} entries (resuming at lsn {resumed_at})"))?;
            }
            Position::Start
        }
        (Some(l), _) => Position::Lsn(l + 1),
        (None, _) => Position::Start,
    };
    let mut last = after;
    for item in input::journal_items(src, from)? {
        let item = item?;
        if after.is_some_and(|a| item.lsn <= a) {
            continue;
        }
        last = Some(item.lsn);
        show(src, printer, decoder, item, out, budget)?;
        if budget.done() {
            break;
        }
    }
    Ok(last)
}

fn show(
    src: &JournalSource,
    printer: &Printer,
    decoder: &Option<ArchiveDecoder>,
    item: Item,
    out: &mut Out,
    budget: &mut Budget,
) -> Result<()> {
    match decoder {
        Some(d) => {
            if let Some(r) = d.decode(src, item)? {
                printer.record(out, &r)?;
                budget.printed += 1;
            }
        }
        None => {
            printer.entry(out, &item)?;
            budget.printed += 1;
        }
    }
    Ok(())
}

fn tail_journal(args: &TailArgs, kind: Kind, out: &mut Out, budget: &mut Budget) -> Result<ExitCode> {
    let src = input::open_journal(&args.path, &kind)?;
    let (layout_stored, rb) = match &src.archive {
        Some(a) => (a.layout.clone(), Some(a.record_bytes)),
        None => (None, None),
    };
    let layout = input::choose_layout(&args.path, args.layout.as_deref(), layout_stored.as_ref(), rb)?;
    let printer = Printer { layout, json: args.json };
    let decoder = src.archive.as_ref().map(|a| ArchiveDecoder::of(&src, a.record_bytes));
    // Every frame once, keeping the last N records (archive) or entries (other journals).
    let mut last_lsn = None;
    let mut recent: VecDeque<Shown> = VecDeque::new();
    for item in input::journal_items(&src, Position::Start)? {
        let item = item?;
        last_lsn = Some(item.lsn);
        let shown = match decoder.as_ref() {
            Some(d) => match d.decode(&src, item)? {
                Some(r) if args.from.is_none_or(|f| r.seq >= f) => Shown::Record(r),
                _ => continue,
            },
            None if args.from.is_none_or(|f| item.lsn >= f) => Shown::Entry(item),
            None => continue,
        };
        recent.push_back(shown);
        if args.from.is_none() && recent.len() as u64 > args.lines {
            recent.pop_front();
        }
    }
    for shown in recent {
        if budget.done() {
            break;
        }
        match shown {
            Shown::Record(r) => printer.record(out, &r)?,
            Shown::Entry(item) => printer.entry(out, &item)?,
        }
        budget.printed += 1;
    }
    out.flush()?;
    if !args.follow || budget.done() {
        return match input::journal_problem(&src) {
            Some(e) if !args.follow => Err(e),
            _ => Ok(ExitCode::SUCCESS),
        };
    }
    eprintln!("replaylog: {}: following after lsn {} (Ctrl-C to stop)", args.path.display(), last_lsn.unwrap_or(0));
    drop(src);
    let mut failures = 0;
    while !budget.done() {
        if budget.expired() {
            return budget.finish(&args.path);
        }
        std::thread::sleep(Duration::from_millis(100));
        // A writer may be creating or rolling segments: retry a failed reopen for 2 s.
        let src = match input::open_journal(&args.path, &kind) {
            Ok(s) => s,
            Err(e) => {
                failures += 1;
                if failures > 20 {
                    return Err(e);
                }
                continue;
            }
        };
        failures = 0;
        last_lsn = print_new(&src, &printer, &decoder, last_lsn, out, budget)?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `tail`.
pub fn run(args: &TailArgs) -> Result<ExitCode> {
    let mut out = Out::stdout();
    let mut budget = Budget {
        printed: 0,
        max: args.max_records,
        deadline: args.timeout_ms.map(|ms| Instant::now() + Duration::from_millis(ms)),
        timeout_ms: args.timeout_ms,
    };
    let result = match input::detect(&args.path)? {
        Kind::Ring => tail_ring(args, input::open_ring(&args.path)?, &mut out, &mut budget),
        Kind::RecorderDir => tail_recorder(args, &mut out, &mut budget),
        kind => tail_journal(args, kind, &mut out, &mut budget),
    };
    out.flush()?;
    result
}
