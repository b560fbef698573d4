//! `replaylog archive RING --to DIR`: drain a ring into an archive journal while its writer runs,
//! printing progress (archived, missed, lag, rate) once a second; stop after `--seconds`, or once
//! the ring has been idle for `--idle-exit-ms`. Missed records (the ring overwrote them before
//! they were archived) are reported, never silent: the command then exits 1.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use replaylog::archive::{Archiver, ArchiverOptions};

use crate::error::{CliError, Result};

/// Arguments of `archive`.
#[derive(Args, Debug)]
pub struct ArchiveArgs {
    /// The ring file to drain (read-only; its writer may be running).
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
}

/// Runs `archive`.
pub fn run(args: &ArchiveArgs) -> Result<ExitCode> {
    let archiver =
        Archiver::start(&args.ring, &args.to, ArchiverOptions::default()).map_err(|e| CliError::lib(&args.ring, e))?;
    let start = Instant::now();
    let deadline = args.seconds.map(|s| start + Duration::from_secs_f64(s.max(0.0)));
    let idle_limit = args.idle_exit_ms.map(Duration::from_millis);
    let (mut last_archived, mut last_change, mut last_print) = (u64::MAX, Instant::now(), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(20));
        let s = archiver.stats();
        if s.archived != last_archived {
            last_archived = s.archived;
            last_change = Instant::now();
        }
        if !args.quiet && last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!(
                "archived {} (next seq {}), missed {}, lag {}, {:.2} M records/s",
                s.archived,
                s.next_seq,
                s.missed,
                s.lag,
                s.records_per_s() / 1e6
            );
        }
        let idle = idle_limit.is_some_and(|l| s.lag == 0 && last_change.elapsed() >= l);
        if deadline.is_some_and(|d| Instant::now() >= d) || idle {
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
