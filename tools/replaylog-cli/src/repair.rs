//! `replaylog repair DIR [--yes]`: the explicit way on for a damaged journal.
//!
//! Validates the journal read-only first; when it has a problem, says what will be cut and asks
//! for confirmation: `--yes`, or `y` at a prompt when stdin is a terminal. Without `--yes` and
//! without a terminal it refuses (status 2). Then `journal::repair` takes the directory lock,
//! copies every byte it cuts into `DIR/backup/`, moves later segments there, truncates, and
//! syncs; the report names what was cut and where the backups are.
//!
//! Rings need no repair (opening one with a writer recovers it): a ring path, or a recorder
//! directory (its lanes are rings), is refused with status 2, as is a single segment file
//! (repair works on the whole directory).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use replaylog::{Kind, ReadOnlyJournal};

use crate::error::{CliError, EXIT_PROBLEMS, Result};
use crate::input;
use crate::output::Out;

/// Options of `replaylog repair`.
#[derive(Args, Debug)]
pub struct RepairArgs {
    /// The journal directory.
    pub path: PathBuf,
    /// Repair without asking (required when stdin is not a terminal).
    #[arg(long)]
    pub yes: bool,
}

fn confirm(question: &str) -> Result<bool> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question} [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| CliError::io("<stdin>", "read", e))?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Runs `repair`: 0 repaired or nothing to repair, 1 declined at the prompt.
pub fn run(args: &RepairArgs) -> Result<ExitCode> {
    let path = &args.path;
    match input::detect(path)? {
        Kind::Ring => {
            return Err(CliError::new(
                path,
                "rings need no repair: opening one with a writer (RingLog::open) recovers it",
                "run `replaylog validate` to see what a writer's open would recover",
            ));
        }
        Kind::RecorderDir => {
            return Err(CliError::new(
                path,
                "a recorder directory needs no repair: its lanes are rings, and opening a lane with a writer \
                 (Recorder::lane) recovers it",
                "run `replaylog validate` on the directory to see every lane",
            ));
        }
        Kind::Segment => {
            let dir = path.parent().map_or(".".to_string(), |p| p.display().to_string());
            return Err(CliError::new(
                path,
                "repair works on a journal directory, not one segment file",
                format!("run `replaylog repair {dir}`"),
            ));
        }
        _ => {}
    }
    let before = ReadOnlyJournal::open(path).map_err(|e| CliError::lib(path, e))?.validation();
    let mut out = Out::stdout();
    let Some(problem) = &before.problem else {
        out.line(format!(
            "journal {}: clean ((chunks, valid_bytes) = ({}, {})); nothing to repair",
            path.display(),
            before.chunks,
            before.valid_bytes
        ))?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    };
    out.line(format!("journal {}: {problem}", path.display()))?;
    out.line(format!(
        "repair keeps (chunks, valid_bytes) = ({}, {}) and moves everything after it into {}",
        before.chunks,
        before.valid_bytes,
        path.join("backup").display()
    ))?;
    out.flush()?;
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::new(
                path,
                "refusing to repair without --yes: stdin is not a terminal, so there is no one to ask",
                format!("run `replaylog repair --yes {}` to cut it, keeping a backup", path.display()),
            ));
        }
        if !confirm("cut the journal back, keeping a backup?")? {
            out.line("not repaired")?;
            out.flush()?;
            return Ok(ExitCode::from(EXIT_PROBLEMS));
        }
    }
    let report = replaylog::journal::repair(path).map_err(|e| CliError::lib(path, e))?;
    match report {
        None => out.line("nothing was cut (the journal was clean when the lock was taken)")?,
        Some(r) => {
            out.line(format!("repaired: {}", r.reason))?;
            if let Some(seg) = r.segment {
                out.line(format!("  segment {seg} truncated to {} bytes ({} bytes cut)", r.valid_bytes, r.cut_bytes))?;
            }
            for m in &r.moved_segments {
                out.line(format!("  moved {}", m.display()))?;
            }
            for b in &r.backups {
                out.line(format!("  backup {}", b.display()))?;
            }
        }
    }
    let after = ReadOnlyJournal::open(path).map_err(|e| CliError::lib(path, e))?.validation();
    out.line(format!(
        "now: (chunks, valid_bytes) = ({}, {}); {}",
        after.chunks,
        after.valid_bytes,
        after.problem.as_ref().map_or("clean".to_string(), |p| p.to_string())
    ))?;
    out.flush()?;
    Ok(if after.problem.is_none() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_PROBLEMS) })
}
