//! `replaylog`: command-line tool for the replaylog flight recorder.
//!
//! Exit status: 0 success, 1 problems found (damage in a file, captures that differ, a failed
//! `demo` check), 2 usage, I/O, foreign or mismatched input. Errors go to stderr as
//! `replaylog: <path>: <what> (<what to do>)`.

mod archive;
mod bench;
mod demo;
mod diff;
mod dump;
mod error;
mod export;
mod freeze;
mod input;
mod inspect;
mod output;
mod remote;
mod repair;
mod report;
mod ship;
mod tail;
mod validate;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Errors surfaced by `demo`; printed as `replaylog: <error>` with exit status 2.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

const AFTER_HELP: &str = "\
PATH is a ring file (RPLYRING), a journal directory, a recorder directory (lane files NAME.ring, one \
ring per thread: per lane for inspect, validate, diff and report; merged by (timestamp, lane, seq) with a \
lane key for dump, tail and export; all lanes into one archive for archive), or one journal segment file \
(RPLYJRNL); inspect, dump, validate, tail, export, diff and report never modify it. inspect, dump, \
validate, export, diff and report also take the URL of a capture `replaylog ship` shipped (s3://BUCKET/PREFIX, \
gs://, az://, file:///DIR; credentials from AWS_* or the store's variables), read segment by segment.

Exit status: 0 ok; 1 problems found (damage in a ring or journal, captures that differ or a report's \
FAIL/DAMAGED verdict, tail \
--max-records not reached before --timeout-ms, a failed demo check); 2 usage error, I/O error, or a \
foreign or mismatched input.";

#[derive(Parser, Debug)]
#[command(
    name = "replaylog",
    version,
    about = "Memory-mapped ring flight recorder and journal: inspect, dump, validate, repair, tail, export, diff, report, archive, freeze, demo",
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show what a ring, journal or recorder directory holds: geometry, layout, live window,
    /// cursor, evidence count; segments, sizes, LSN range, snapshots; a section per lane. Always
    /// exits 0 when the input can be read.
    #[command(after_help = AFTER_HELP)]
    Inspect(inspect::InspectArgs),
    /// Print records in publish order (journal: entries; recorder directory: all lanes merged by
    /// timestamp, each record naming its lane), fields decoded by the stored or given layout,
    /// failure evidence included; with --pace, streamed at their recorded pace.
    #[command(after_help = AFTER_HELP)]
    Dump(dump::DumpArgs),
    /// Full read-only scan: a ring's damaged and stale slots by index, a journal's
    /// (chunks, valid_bytes) and first problem, every lane of a recorder directory. Exit 0 clean,
    /// 1 problems found, 2 error (or a lane that is not a ring or does not match the others).
    #[command(after_help = AFTER_HELP)]
    Validate(validate::ValidateArgs),
    /// Cut a damaged journal back to its valid prefix, keeping a backup (asks first; --yes when
    /// stdin is not a terminal). Rings need no repair: a writer's open recovers them.
    #[command(after_help = AFTER_HELP)]
    Repair(repair::RepairArgs),
    /// Print the newest records; with -f, follow a ring, journal or recorder directory (every
    /// lane, merged, lanes added meanwhile included) while others append, reporting laps.
    #[command(after_help = AFTER_HELP)]
    Tail(tail::TailArgs),
    /// Lossless conversion to JSON lines, CSV, or an archive journal (journal:DIR); a recorder
    /// directory's lanes merged by timestamp, with a lane column/key (kept per archive entry).
    #[command(after_help = AFTER_HELP)]
    Export(export::ExportArgs),
    /// Compare two captures record by record (recorder directories lane by lane); print the first
    /// divergence (seq, field, both values) and a summary. Exit 0 identical, 1 they differ, 2 error.
    #[command(after_help = AFTER_HELP)]
    Diff(diff::DiffArgs),
    /// Certification report: compare candidate B with reference A (as diff, with tolerances and
    /// alignment) and write one self-contained HTML page with the verdict, both captures'
    /// provenance, per-field summaries, a plot per numeric field and the first divergences, to
    /// print and sign. Exit 0 PASS, 1 FAIL or DAMAGED (the report is written), 2 error (no file).
    #[command(after_help = AFTER_HELP)]
    Report(report::ReportArgs),
    /// Drain a ring, or every lane of a recorder directory, into an archive journal while the
    /// writers run (resuming an existing archive); report every record overwritten first. Exit 0
    /// lossless, 1 records missed.
    #[command(after_help = AFTER_HELP)]
    Archive(archive::ArchiveArgs),
    /// Follow a ring or recorder directory from its end and, on each failure (or SIGUSR2, or a
    /// touch file), write the records before and after it into a capture of its own (an archive
    /// journal every command reads); --now copies the live window once. One line per capture on
    /// stdout. Exit 0; 1 a capture misses seqs the writer overwrote first.
    #[command(after_help = AFTER_HELP)]
    Freeze(freeze::FreezeArgs),
    /// Upload a journal's or archive's sealed segments to object storage (s3://, gs://, az://,
    /// file:///), each verified (size, SHA-256) before the prefix's manifest lists it; a closed
    /// journal ships whole; --follow ships segments as they seal. inspect, dump, validate,
    /// export, diff and report read the URL back. Exit 0 all shipped and verified.
    Ship(ship::ShipArgs),
    /// Record a simulated control loop into a ring as fast as possible (--threads N: N loops into N
    /// lanes of a recorder directory), measure append latency, then reopen, replay and verify
    /// every record, every injected failure and (with lanes) the merged timeline.
    #[command(after_help = AFTER_HELP)]
    Demo(demo::DemoArgs),
    /// Per-operation latency (HDR p50..max) and throughput of the ring and journal next to raw baselines.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    // Usage errors: clap prints them and exits with status 2.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => {
            return demo::run(&args).unwrap_or_else(|e| {
                eprintln!("replaylog: {e}");
                ExitCode::from(2)
            });
        }
        Command::Bench(args) => {
            return bench::run(&args).unwrap_or_else(|e| {
                eprintln!("replaylog: {e}");
                ExitCode::from(2)
            });
        }
        Command::Inspect(args) => inspect::run(&args),
        Command::Dump(args) => dump::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Repair(args) => repair::run(&args),
        Command::Tail(args) => tail::run(&args),
        Command::Export(args) => export::run(&args),
        Command::Diff(args) => diff::run(&args),
        Command::Report(args) => report::run(&args),
        Command::Archive(args) => archive::run(&args),
        Command::Freeze(args) => freeze::run(&args),
        Command::Ship(args) => ship::run(&args),
    };
    match result {
        Ok(code) => code,
        // `replaylog dump X | head`: the reader has seen enough.
        Err(e) if e.broken_pipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replaylog: {e}");
            ExitCode::from(e.code)
        }
    }
}
