//! `replaylog-bench-peers`: replaylog, its raw baselines and peer crates side by side, in one run
//! on one machine, same record sizes, HDR percentiles and throughput (tables or `--json`), and
//! optionally a PNG of the latency percentiles (`--plot FILE.png`).
//!
//! The harness (timing, pinning, histograms, the ring and journal suites with their baselines) is
//! the CLI's `replaylog bench` module, compiled here too, so both binaries measure the same way.
//!
//! Peers:
//! * ring: `mmap-vecdeque` (a file-backed, memory-mapped deque of `Copy` elements);
//! * journal: `okaywal`, `raft-engine`, `fjall` (its keyspace insert + journal persist modes);
//! * group commit: 1, 2, 4, 8 writer threads, replaylog `Journal` (Sync) vs okaywal, raft-engine
//!   and fjall at 64 B, 1 KiB and 64 KiB, each thread waiting for durability of each of its own
//!   writes; then 8 threads again at each size, `Journal` (both `Ack` policies) and okaywal
//!   alternating over 5 rounds; with `--load N`, that comparison again beside N busy-loop
//!   processes (1, 2, 4, 8 writers × 64 B, 8 × 1 KiB).

#[path = "../../replaylog-cli/src/bench.rs"]
#[allow(dead_code)]
mod harness;
mod peers;
mod plot;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use harness::{BenchArgs, Plan};

#[derive(Parser, Debug)]
#[command(
    name = "replaylog-bench-peers",
    about = "replaylog vs raw baselines vs peer crates (mmap-vecdeque, okaywal, raft-engine, fjall): HDR latency percentiles and throughput",
    after_help = "Suites for --only: ring, ring-sync, journal (ours and raw baselines), ring-peers, journal-peers, group. \
Default: all of them. Every row is measured in this process, in this run."
)]
struct Cli {
    #[command(flatten)]
    bench: BenchArgs,
    /// Write a PNG of the latency percentiles (ours vs peers) to this file.
    #[arg(long, value_name = "FILE.png")]
    plot: Option<PathBuf>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("replaylog-bench-peers: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut plan = Plan::new(&cli.bench)?;
    plan.peers = true;
    let (ctx, mut rows) = harness::run_suites(&plan)?;
    if plan.runs("ring-peers") {
        peers::ring_peers(&plan, &mut rows)?;
    }
    if plan.runs("journal-peers") {
        peers::journal_peers(&plan, &mut rows)?;
    }
    if plan.runs("group") {
        peers::group_commit(&plan, &mut rows)?;
        peers::group_duel(&plan, &mut rows)?;
        peers::group_duel_loaded(&plan, &mut rows)?;
    }
    harness::report(&ctx, &rows, &cli.bench)?;
    if let Some(path) = &cli.plot {
        plot::draw(path, &rows)?;
        if !cli.bench.json {
            println!("\nplot written to {}", path.display());
        }
    }
    Ok(())
}
