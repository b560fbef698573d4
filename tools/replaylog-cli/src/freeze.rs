//! `replaylog freeze SOURCE --to DIR`: follow a ring or a recorder directory (its writers
//! running) from its current end and, on each trigger, write the `--before` records preceding
//! it, the trigger and the `--after` records following it into a capture of its own in DIR
//! (the library's `Freezer`; an archive journal directory every command reads, and its
//! manifest `NAME.txt` beside it). Records already there are context for the first window.
//!
//! Triggers: records with failure evidence (`--on evidence`, the default), of one kind
//! (`--on kind:timeout`, `kind:other(7)`, with a code: `kind:timeout:110`), none
//! (`--on manual`); and, always, SIGUSR2 and `--trigger-file PATH` (when PATH appears the
//! freezer triggers and deletes it), at the newest record the writer has published.
//!
//! stdout: one line per capture, once it is in place:
//! `PATH lane=LANE trigger=SEQ triggers=N seqs=FIRST..=LAST records=N complete` (or, instead
//! of `complete`, `missing=A..B,C..D` for seqs the writer overwrote before they were read,
//! `lacking=K` for after-records it did not wait for, `cut` when `--max-bytes` ended it).
//! stderr: a status line at start, progress once a second (not with `--quiet`), and the totals,
//! suppressed triggers included.
//!
//! Stops after `--seconds`, once nothing new arrived for `--idle-exit-ms`, or on SIGINT/SIGTERM;
//! an open window is then finished with what is there (its line says what it lacks). Exit
//! status: 0; 1 when a capture misses seqs the writer overwrote before the freezer read them
//! (as `archive` does); 2 on bad input (naming it; nothing is created).
//!
//! `replaylog freeze --now SOURCE --to PATH`: copy the live window (every lane) once into the
//! archive journal PATH (must not exist; written under a temporary name and renamed): a
//! snapshot while the writers run.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Args;
use nix::sys::signal::{SigSet, Signal};
use replaylog::freeze::{self, FreezeOptions, Freezer, FrozenCapture, TriggerOn};
use replaylog::{FailureKind, Kind};

use crate::error::{CliError, EXIT_PROBLEMS, Result};
use crate::input;

/// Arguments of `freeze`.
#[derive(Args, Debug)]
pub struct FreezeArgs {
    /// The ring file, or recorder directory (every lane), to follow (read-only; its writers may
    /// be running).
    #[arg(value_name = "RING|RECORDER_DIR")]
    pub source: PathBuf,
    /// The directory captures are written into (created if needed); with --now, the archive
    /// journal to write (must not exist).
    #[arg(long = "to", value_name = "DIR")]
    pub to: PathBuf,
    /// Records kept before each trigger.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub before: u64,
    /// Records kept after each trigger.
    #[arg(long, value_name = "M", default_value_t = 1000)]
    pub after: u64,
    /// What triggers: evidence (any failure evidence), kind:K or kind:K:CODE (K: backend,
    /// runtime, timeout, other(N)), or manual (SIGUSR2 and --trigger-file only).
    #[arg(long, value_name = "evidence|kind:K|manual", default_value = "evidence")]
    pub on: String,
    /// At most K captures started per minute; more triggers are counted as suppressed.
    #[arg(long, value_name = "K")]
    pub max_per_minute: Option<u32>,
    /// At most B bytes of captures in all; a capture reaching it is cut, later triggers are
    /// counted as suppressed.
    #[arg(long, value_name = "B")]
    pub max_bytes: Option<u64>,
    /// Stop after this many seconds (default: run until idle or interrupted).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Stop once nothing new has arrived for this long (milliseconds).
    #[arg(long, value_name = "MS")]
    pub idle_exit_ms: Option<u64>,
    /// Trigger when this file appears (it is then deleted).
    #[arg(long, value_name = "PATH")]
    pub trigger_file: Option<PathBuf>,
    /// Copy the current live window once into the archive journal --to, and exit.
    #[arg(long)]
    pub now: bool,
    /// Print no progress lines on stderr.
    #[arg(long)]
    pub quiet: bool,
}

/// Parses `--on`.
fn parse_on(on: &str) -> std::result::Result<TriggerOn, String> {
    if on == "evidence" {
        return Ok(TriggerOn::Evidence);
    }
    if on == "manual" {
        return Ok(TriggerOn::Manual);
    }
    let Some(rest) = on.strip_prefix("kind:") else {
        return Err(format!("--on {on:?}: expected evidence, kind:K, kind:K:CODE or manual"));
    };
    let (kind, code) = match rest.rsplit_once(':') {
        Some((k, c)) => (k, Some(c.parse::<i64>().map_err(|_| format!("--on {on:?}: code {c:?} is not an integer"))?)),
        None => (rest, None),
    };
    let kind = match kind {
        "backend" => FailureKind::Backend,
        "runtime" => FailureKind::Runtime,
        "timeout" => FailureKind::Timeout,
        k => match k.strip_prefix("other(").and_then(|k| k.strip_suffix(')')).map(str::parse::<u16>) {
            Some(Ok(n)) => FailureKind::Other(n),
            _ => return Err(format!("--on {on:?}: kind {k:?} is not backend, runtime, timeout or other(N)")),
        },
    };
    Ok(match code {
        Some(c) => TriggerOn::KindCode(kind, c),
        None => TriggerOn::Kind(kind),
    })
}

/// One capture as its stdout line.
fn capture_line(c: &FrozenCapture) -> String {
    let mut status = Vec::new();
    if !c.missing.is_empty() {
        let gaps: Vec<String> = c.missing.iter().map(|g| format!("{}..{}", g.from, g.to)).collect();
        status.push(format!("missing={}", gaps.join(",")));
    }
    if c.after_lacking > 0 {
        status.push(format!("lacking={}", c.after_lacking));
    }
    if c.cut {
        status.push("cut".into());
    }
    if status.is_empty() {
        status.push("complete".into());
    }
    format!(
        "{} lane={} trigger={} triggers={} seqs={}..={} records={} {}",
        c.path.display(),
        c.lane.as_deref().unwrap_or("-"),
        c.trigger_seq,
        c.triggers.len(),
        c.first_seq,
        c.last_seq,
        c.records,
        status.join(" ")
    )
}

/// Set by SIGINT/SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);
/// Counts SIGUSR2.
static USR2: AtomicU64 = AtomicU64::new(0);

/// Blocks SIGINT, SIGTERM and SIGUSR2 in this thread (and the threads it starts later: the
/// freezer's) and turns them into [`STOP`] and [`USR2`] on a thread of their own.
fn catch_signals() {
    let mut set = SigSet::empty();
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGUSR2] {
        set.add(sig);
    }
    if set.thread_block().is_ok() {
        std::thread::spawn(move || {
            while let Ok(sig) = set.wait() {
                if sig == Signal::SIGUSR2 {
                    USR2.fetch_add(1, Ordering::Relaxed);
                } else {
                    STOP.store(true, Ordering::Relaxed);
                }
            }
        });
    }
}

/// Checks SOURCE: a ring or a recorder directory.
fn check_source(source: &Path) -> Result<()> {
    match input::detect(source)? {
        Kind::Ring | Kind::RecorderDir => Ok(()),
        other => Err(CliError::new(
            source,
            format!("{other}: not a ring or a recorder directory"),
            "freeze follows a ring file or a recorder directory",
        )),
    }
}

/// `--now`: one snapshot of the live window.
fn now(args: &FreezeArgs) -> Result<ExitCode> {
    check_source(&args.source)?;
    if std::fs::symlink_metadata(&args.to).is_ok() {
        return Err(CliError::new(&args.to, "already exists", "--now writes a new archive journal; name a new path"));
    }
    let snap = freeze::snapshot(&args.source, &args.to).map_err(|e| CliError::lib(&args.source, e))?;
    let (records, gaps) = (snap.records, snap.missing);
    let status = if gaps.is_empty() {
        "complete".to_string()
    } else {
        let g: Vec<String> = gaps
            .iter()
            .map(|(l, g)| format!("{}{}..{}", l.as_ref().map_or(String::new(), |l| format!("{l}:")), g.from, g.to))
            .collect();
        format!("missing={}", g.join(","))
    };
    println!("{} records={records} {status}", args.to.display());
    Ok(if gaps.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_PROBLEMS) })
}

/// Runs `freeze`.
pub fn run(args: &FreezeArgs) -> Result<ExitCode> {
    if args.now {
        return now(args);
    }
    let on = parse_on(&args.on).map_err(|e| CliError::new(&args.source, e, "see `replaylog freeze --help`"))?;
    check_source(&args.source)?;
    if std::fs::metadata(&args.to).is_ok_and(|m| !m.is_dir()) {
        return Err(CliError::new(&args.to, "not a directory", "--to names the directory captures are written into"));
    }
    let opts = FreezeOptions::default()
        .before(args.before)
        .after(args.after)
        .on(on)
        .max_per_minute(args.max_per_minute)
        .max_bytes(args.max_bytes);
    opts.validate().map_err(|e| CliError::new(&args.source, e.to_string(), "see `replaylog freeze --help`"))?;
    catch_signals();
    let (tx, rx) = mpsc::channel::<FrozenCapture>();
    let freezer = Freezer::start_with(&args.source, &args.to, opts, move |c| {
        let _ = tx.send(c.clone());
    })
    .map_err(|e| CliError::lib(&args.source, e))?;
    let trigger = freezer.trigger_handle();
    eprintln!(
        "freezing {} into {} (before {}, after {}, on {})",
        args.source.display(),
        args.to.display(),
        args.before,
        args.after,
        args.on
    );
    let started = Instant::now();
    let deadline = args.seconds.map(|s| started + Duration::from_secs_f64(s.max(0.0)));
    let idle_limit = args.idle_exit_ms.map(Duration::from_millis);
    let (mut last_read, mut last_change, mut last_print) = (u64::MAX, Instant::now(), Instant::now());
    let mut incomplete = false;
    let mut print = |c: &FrozenCapture| {
        incomplete |= !c.missing.is_empty();
        println!("{}", capture_line(c));
    };
    let mut usr2_seen = 0;
    loop {
        std::thread::sleep(Duration::from_millis(20));
        for c in rx.try_iter() {
            print(&c);
        }
        let usr2 = USR2.load(Ordering::Relaxed);
        while usr2_seen < usr2 {
            usr2_seen += 1;
            trigger.trigger();
        }
        if let Some(f) = &args.trigger_file {
            if f.exists() {
                trigger.trigger();
                std::fs::remove_file(f).map_err(|e| CliError::io(f, "remove trigger file", e))?;
            }
        }
        let s = freezer.stats();
        if s.records_read != last_read {
            (last_read, last_change) = (s.records_read, Instant::now());
        }
        if !args.quiet && last_print.elapsed() >= Duration::from_secs(1) {
            last_print = Instant::now();
            eprintln!(
                "read {}, captures {} ({} open), triggers {} (merged {}, suppressed {} by rate, {} by bytes), missed {}, lag {}",
                s.records_read,
                s.captures,
                s.open,
                s.triggers,
                s.merged,
                s.suppressed_rate,
                s.suppressed_bytes,
                s.missed,
                s.lag
            );
        }
        let idle = idle_limit.is_some_and(|l| s.lag == 0 && last_change.elapsed() >= l);
        if STOP.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) || idle {
            break;
        }
    }
    let s = freezer.stop().map_err(|e| CliError::lib(&args.to, e))?;
    for c in rx.try_iter() {
        print(&c);
    }
    eprintln!(
        "froze {} captures ({} records, {} bytes) from {} into {}: {} triggers, {} merged, {} suppressed by \
         --max-per-minute, {} by --max-bytes; {} seqs overwritten before they were read",
        s.captures,
        s.records_written,
        s.bytes_written,
        args.source.display(),
        args.to.display(),
        s.triggers,
        s.merged,
        s.suppressed_rate,
        s.suppressed_bytes,
        s.missed
    );
    Ok(if incomplete { ExitCode::from(EXIT_PROBLEMS) } else { ExitCode::SUCCESS })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn on_parses_every_form() {
        assert_eq!(parse_on("evidence"), Ok(TriggerOn::Evidence));
        assert_eq!(parse_on("manual"), Ok(TriggerOn::Manual));
        assert_eq!(parse_on("kind:timeout"), Ok(TriggerOn::Kind(FailureKind::Timeout)));
        assert_eq!(parse_on("kind:other(7)"), Ok(TriggerOn::Kind(FailureKind::Other(7))));
        assert_eq!(parse_on("kind:backend:-5"), Ok(TriggerOn::KindCode(FailureKind::Backend, -5)));
        assert!(parse_on("kind:late").unwrap_err().contains("\"late\""));
        assert!(parse_on("kind:timeout:x").is_err());
        assert!(parse_on("always").is_err());
    }
}
