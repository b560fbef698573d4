//! `replaylog archive RING --to DIR`: drain a ring into an archive journal while its writer runs,
//! printing progress (archived, missed, lag, rate) once a second; stop after `--seconds`, or once
//! the ring has been idle for `--idle-exit-ms`. Missed records (the ring overwrote them before
//! they were archived) are reported, never silent: the command then exits 1.
//!
//! `replaylog archive RECORDER_DIR --to DIR`: every lane of a recorder directory into one
//! archive journal (the library's `Archiver::start_lanes`: one thread, each entry naming its
//! lane, each lane resuming after its own last entry in an existing archive). Lanes created
//! while it runs are added within 100 ms (`Archiver::add_lane`), read from their oldest record.
//! Progress and the final counts are printed per lane on stderr (`lane NAME: archived N (next
//! seq S), missed M, lag L`), the total on stdout. A lane that cannot be read with the others
//! (not a ring, another record size, schema or layout) is refused before anything is written
//! (status 2, naming its file); one that appears later is reported on stderr, left out, and the
//! exit status is then 2.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use replaylog::Kind;
use replaylog::archive::{Archiver, ArchiverOptions, LaneStats};
use replaylog::recorder::{self, LANE_EXTENSION};

use crate::error::{CliError, EXIT_PROBLEMS, Result};
use crate::input;

/// Arguments of `archive`.
#[derive(Args, Debug)]
pub struct ArchiveArgs {
    /// The ring file, or recorder directory (all its lanes), to drain (read-only; its writers
    /// may be running).
    #[arg(value_name = "RING|RECORDER_DIR")]
    pub ring: PathBuf,
    /// The archive journal directory (created if needed; an existing archive is resumed after
    /// its last record).
    #[arg(long = "to", value_name = "DIR")]
    pub to: PathBuf,
    /// Stop after this many seconds (default: run until idle or interrupted).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Stop once nothing new has arrived for this long (milliseconds).
    #[arg(long, value_name = "MS")]
    pub idle_exit_ms: Option<u64>,
    /// Print no progress lines, only the summary.
    #[arg(long)]
    pub quiet: bool,
    /// Ship the archive's segments to this object-store URL as they seal (s3://BUCKET/PREFIX,
    /// gs://, az://, file:///DIR; see `replaylog ship`), and its newest segment once the
    /// archiver has closed it. Exit 1 if shipping failed (the archive itself is complete).
    #[arg(long, value_name = "URL")]
    pub ship: Option<String>,
}

/// `--ship`: ships sealed segments every two seconds while archiving, and everything at the end.
struct ShipAlong {
    shipper: replaylog_ship::Shipper,
    last: std::time::Instant,
}

impl ShipAlong {
    fn new(args: &ArchiveArgs) -> Result<Option<ShipAlong>> {
        let Some(url) = &args.ship else { return Ok(None) };
        let shipper = replaylog_ship::Shipper::open(url, replaylog_ship::ShipOptions::default())
            .map_err(|e| crate::remote::ship_err(&args.to, e))?;
        Ok(Some(ShipAlong { shipper, last: Instant::now() }))
    }

    /// Ships what has sealed, at most every two seconds; a failure is reported and retried at
    /// the next tick (the archive goes on), but bad input (credentials, bucket) stops at once.
    fn tick(&mut self, dir: &Path) -> Result<()> {
        if self.last.elapsed() < Duration::from_secs(2) || !dir.exists() {
            return Ok(());
        }
        self.last = Instant::now();
        match crate::ship::ship_once(&self.shipper, dir) {
            Ok(_) => Ok(()),
            Err(e) if e.code == crate::error::EXIT_ERROR => Err(e),
            Err(e) => {
                // The final run at the end ships what this one could not, or fails.
                eprintln!("replaylog: {e} (shipping again in 2 s)");
                Ok(())
            }
        }
    }

    /// Ships everything once the archiver closed the archive; the exit status to merge.
    fn finish(self, dir: &Path) -> Result<()> {
        let r = crate::ship::ship_once(&self.shipper, dir)?;
        println!("{}", crate::ship::summary(&self.shipper.target().url, &r));
        Ok(())
    }
}

/// When `archive` prints and stops, for a single ring and for a recorder's lanes alike: a
/// progress line once a second (not with `--quiet`); stop after `--seconds`, or once nothing
/// new arrived for `--idle-exit-ms` and nothing is left to read.
struct Pace {
    deadline: Option<Instant>,
    idle_limit: Option<Duration>,
    quiet: bool,
    last_archived: u64,
    last_change: Instant,
    last_print: Instant,
}

impl Pace {
    fn new(args: &ArchiveArgs) -> Pace {
        let now = Instant::now();
        Pace {
            deadline: args.seconds.map(|s| now + Duration::from_secs_f64(s.max(0.0))),
            idle_limit: args.idle_exit_ms.map(Duration::from_millis),
            quiet: args.quiet,
            last_archived: u64::MAX,
            last_change: now,
            last_print: now,
        }
    }

    /// Notes how many records are archived so far; whether a progress line is due.
    fn tick(&mut self, archived: u64) -> bool {
        if archived != self.last_archived {
            self.last_archived = archived;
            self.last_change = Instant::now();
        }
        let due = !self.quiet && self.last_print.elapsed() >= Duration::from_secs(1);
        if due {
            self.last_print = Instant::now();
        }
        due
    }

    /// Whether to stop, with `lag` records still to read.
    fn done(&self, lag: u64) -> bool {
        let idle = self.idle_limit.is_some_and(|l| lag == 0 && self.last_change.elapsed() >= l);
        self.deadline.is_some_and(|d| Instant::now() >= d) || idle
    }
}

/// One lane's progress as a line.
fn lane_line(l: &LaneStats) -> String {
    let s = &l.stats;
    format!(
        "lane {}: archived {} (next seq {}), missed {}, lag {}",
        l.lane.as_deref().unwrap_or("?"),
        s.archived,
        s.next_seq,
        s.missed,
        s.lag
    )
}

/// Archives every lane of the recorder directory `dir`.
fn archive_lanes(args: &ArchiveArgs, dir: &Path) -> Result<ExitCode> {
    let lanes = input::open_recorder(dir)?;
    input::check_lanes(&lanes)?;
    let mut known: BTreeSet<String> = lanes.lanes().iter().map(|l| l.name.to_string()).collect();
    let paths: Vec<(String, PathBuf)> = lanes.lanes().iter().map(|l| (l.name.to_string(), l.path.clone())).collect();
    drop(lanes);
    let mut ship = ShipAlong::new(args)?;
    let archiver =
        Archiver::start_lanes(paths, &args.to, ArchiverOptions::default()).map_err(|e| CliError::lib(&args.to, e))?;
    let mut pace = Pace::new(args);
    let mut last_scan = Instant::now();
    let mut refused = None;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(s) = ship.as_mut() {
            s.tick(&args.to)?;
        }
        if last_scan.elapsed() >= Duration::from_millis(100) {
            last_scan = Instant::now();
            let names = recorder::lane_names(dir).map_err(|e| CliError::lib(dir, e))?;
            for name in names {
                if !known.insert(name.clone()) {
                    continue;
                }
                let path = dir.join(format!("{name}.{LANE_EXTENSION}"));
                if let Err(e) = archiver.add_lane(&name, &path) {
                    let e = CliError::lib(&path, e);
                    eprintln!("replaylog: lane {name} not archived: {e}");
                    refused.get_or_insert(e);
                } else if !args.quiet {
                    eprintln!("lane {name}: added");
                }
            }
        }
        let s = archiver.stats();
        if pace.tick(s.archived) {
            for l in archiver.lane_stats() {
                eprintln!("{}", lane_line(&l));
            }
        }
        if pace.done(s.lag) {
            break;
        }
    }
    let lanes = archiver.stop_lanes().map_err(|e| CliError::lib(&args.to, e))?;
    for l in &lanes {
        eprintln!("{}", lane_line(l));
    }
    let (archived, missed) = lanes.iter().fold((0, 0), |(a, m), l| (a + l.stats.archived, m + l.stats.missed));
    println!("archived {archived} records from {} lanes of {} into {}", lanes.len(), dir.display(), args.to.display());
    if missed > 0 {
        println!("missed {missed} records the lanes overwrote before they were archived:");
        for l in lanes.iter().filter(|l| l.stats.missed > 0) {
            let gaps: Vec<String> = l.stats.gaps.iter().take(20).map(|g| format!("{}..{}", g.from, g.to)).collect();
            let more = l.stats.gaps_total.saturating_sub(gaps.len() as u64);
            let more = if more > 0 { format!(" and {more} more gaps") } else { String::new() };
            println!("  lane {}: seqs {}{more}", l.lane.as_deref().unwrap_or("?"), gaps.join(", "));
        }
    }
    if let Some(ship) = ship {
        ship.finish(&args.to)?;
    }
    match refused {
        Some(e) => Err(e),
        None if missed > 0 => Ok(ExitCode::from(EXIT_PROBLEMS)),
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Runs `archive`.
pub fn run(args: &ArchiveArgs) -> Result<ExitCode> {
    if input::detect(&args.ring)? == Kind::RecorderDir {
        return archive_lanes(args, &args.ring);
    }
    let mut ship = ShipAlong::new(args)?;
    let archiver =
        Archiver::start(&args.ring, &args.to, ArchiverOptions::default()).map_err(|e| CliError::lib(&args.ring, e))?;
    let mut pace = Pace::new(args);
    loop {
        std::thread::sleep(Duration::from_millis(20));
        if let Some(s) = ship.as_mut() {
            s.tick(&args.to)?;
        }
        let s = archiver.stats();
        if pace.tick(s.archived) {
            eprintln!(
                "archived {} (next seq {}), missed {}, lag {}, {:.2} M records/s",
                s.archived,
                s.next_seq,
                s.missed,
                s.lag,
                s.records_per_s() / 1e6
            );
        }
        if pace.done(s.lag) {
            break;
        }
    }
    let s = archiver.stop().map_err(|e| CliError::lib(&args.to, e))?;
    println!(
        "archived {} records from {} into {} (resumed at seq {}, next seq {}), {:.2} M records/s",
        s.archived,
        args.ring.display(),
        args.to.display(),
        s.resumed_at,
        s.next_seq,
        s.records_per_s() / 1e6
    );
    if let Some(ship) = ship {
        ship.finish(&args.to)?;
    }
    if s.missed == 0 {
        return Ok(ExitCode::SUCCESS);
    }
    println!("missed {} records the ring overwrote before they were archived:", s.missed);
    for g in s.gaps.iter().take(20) {
        println!("  seqs {}..{}", g.from, g.to);
    }
    if s.gaps.len() > 20 {
        println!("  ... and {} more gaps", s.gaps.len() - 20);
    }
    Ok(ExitCode::from(crate::error::EXIT_PROBLEMS))
}
