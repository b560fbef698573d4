//! `replaylog`: command-line tool for the replaylog flight recorder.
//!
//! Exit status: 0 success, 1 a check failed (e.g. `demo` verification), 2 usage or runtime error.

mod demo;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Errors surfaced by subcommands; printed as `replaylog: <error>` with exit status 2.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser, Debug)]
#[command(name = "replaylog", version, about = "Memory-mapped ring flight recorder: demo and tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Record a simulated control loop into a ring as fast as possible, measure append latency,
    /// then reopen, replay and verify every record and every injected failure.
    Demo(demo::DemoArgs),
}

fn main() -> ExitCode {
    // Usage errors: clap prints them and exits with status 2.
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo(args) => demo::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("replaylog: {e}");
            ExitCode::from(2)
        }
    }
}
