//! `replaylog validate PATH [--json]`: a full read-only scan of a ring, a journal or every lane
//! of a recorder directory.
//!
//! Ring: both header copies, both state copies, the cursor, the live window, then every slot;
//! damaged slots (torn, garbled, misplaced, from a future epoch) and stale ones (valid records
//! outside the live window: older laps, records persisted beyond a crash) are listed by slot
//! index, consecutive slots with the same finding as one range. A writer's open recovers all
//! of these (rings need no repair).
//!
//! Journal directory or segment file: `(chunks, valid_bytes)` and the first problem (a torn
//! tail after the durable watermark, or corruption at or before it).
//!
//! Recorder directory: every lane, sorted by name, validated as a ring (a section per lane);
//! a lane that cannot be read with the others (not a ring, or a record size, schema id, layout
//! or clock other than the reference lane's) is reported by name, and the exit status is then
//! 2, as for a foreign ring, after every lane was reported.
//!
//! Exit status: 0 clean, 1 problems found (in any lane), 2 error.
//!
//! `--json` prints one object. Ring: `{"path", "format": "ring", "ok", "header_copies_valid",
//! "header_copies": [A, B], "state_copies_valid", "state_copies": [0, 1], "cursor_hint", "window" (as in inspect), "slots": {"capacity",
//! "valid", "with_evidence", "never_written", "bad", "stale"}, "problems": [{"kind",
//! "description", "first_index", "last_index", "seq"}]}` (each copy as text: `"valid"` or why
//! not) where a slot problem's `kind` is one of
//! `busy`, `bad_header`, `checksum`, `misplaced`, `future_epoch`, `changing`, `stale` (`seq`: the
//! seq the first slot of the range claims, or null), and the file-level kinds `header_copy`,
//! `state`, `truncated` and `corrupt` carry null indices. Journal: `{"path", "format": "journal" |
//! "segment", "ok", "chunks", "valid_bytes", "problem": null | {"kind": "bad_tail", "segment",
//! "valid_bytes"} | {"kind": "corrupt", "segment", "offset", "reason"}}`. Recorder directory:
//! `{"path", "format": "recorder", "ok", "reference_lane": null | name, "lanes": [{"lane", "ok",
//! "error": null | text, "ring": null | {the ring object above}}]}`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use replaylog::ring::RingProblem;
use replaylog::{Kind, RawRing, ReplayLogError, RingHealth};
use serde_json::{Value, json};

use crate::error::{CliError, EXIT_PROBLEMS, Result};
use crate::input;
use crate::output::{Out, problem_json, progress, spinner, window_json, window_text};

/// Options of `replaylog validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// A ring file, a journal directory, a recorder directory or a journal segment file.
    pub path: PathBuf,
    /// Print one JSON object (schema in the README, "CLI reference").
    #[arg(long)]
    pub json: bool,
}

/// A ring problem as JSON: `{"kind", "description", "first_index", "last_index", "seq"}`.
fn ring_problem_json(p: &RingProblem) -> Value {
    let (first, last, seq) = match p {
        RingProblem::Slots(run) => (Some(run.first_index), Some(run.last_index), run.first_seq),
        _ => (None, None, None),
    };
    json!({"kind": p.name(), "description": p.description(), "first_index": first, "last_index": last, "seq": seq})
}

fn health_json(path: &Path, h: &RingHealth) -> Value {
    let s = &h.slots;
    json!({
        "path": path.display().to_string(),
        "format": "ring",
        "ok": h.is_clean(),
        "header_copies_valid": h.header_copies_valid(),
        "header_copies": h.header_copies.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "state_copies_valid": h.state_copies_valid(),
        "state_copies": h.state_copies.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
        "cursor_hint": h.cursor_hint,
        "window": window_json(h.window),
        "slots": {
            "capacity": s.capacity, "valid": s.valid, "with_evidence": s.with_evidence,
            "never_written": s.never_written, "bad": s.bad, "stale": s.stale,
        },
        "problems": h.problems.iter().map(ring_problem_json).collect::<Vec<_>>(),
    })
}

/// `N/2 copies valid`, and why the others are not: `1/2 copies valid (A: checksum mismatch ...)`.
fn copies_text<T: std::fmt::Display>(
    copies: &[T; 2],
    valid: u8,
    is_valid: impl Fn(&T) -> bool,
    names: [&str; 2],
) -> String {
    let bad: Vec<String> =
        copies.iter().zip(names).filter(|(c, _)| !is_valid(c)).map(|(c, n)| format!("{n}: {c}")).collect();
    if bad.is_empty() {
        format!("{valid}/2 copies valid")
    } else {
        format!("{valid}/2 copies valid ({})", bad.join("; "))
    }
}

fn health_text(path: &Path, h: &RingHealth, out: &mut Out) -> Result<()> {
    out.line(format!("ring {}", path.display()))?;
    let headers = copies_text(
        &h.header_copies,
        h.header_copies_valid(),
        |c| *c == replaylog::ring::HeaderCopy::Valid,
        ["A", "B"],
    );
    out.line(format!("  header       {headers}"))?;
    let states = copies_text(
        &h.state_copies,
        h.state_copies_valid(),
        |c| matches!(c, replaylog::ring::StateCopy::Valid(_)),
        ["copy 0", "copy 1"],
    );
    let state = h.state.map_or(String::new(), |s| format!(": epoch {}, synced_next {}", s.epoch, s.synced_next));
    out.line(format!("  state        {states}{state}"))?;
    let cursor = h.cursor_hint.map_or("garbled (informational only)".to_string(), |c| format!("next seq {c}"));
    out.line(format!("  cursor       {cursor}"))?;
    out.line(format!("  window       {}", window_text(h.window)))?;
    let s = &h.slots;
    out.line(format!(
        "  slots        {}: {} valid in the window ({} with evidence), {} never written, {} bad, {} stale",
        s.capacity, s.valid, s.with_evidence, s.never_written, s.bad, s.stale
    ))?;
    for p in &h.problems {
        out.line(format!("  {p}"))?;
    }
    out.line(if h.is_clean() {
        "result: clean".to_string()
    } else {
        format!("result: {} problem(s) found; opening the ring with a writer recovers it", h.problems.len())
    })
}

/// Validates a ring, printing its report (text), or returning it (JSON, `Some`).
fn validate_ring(path: &Path, json_out: bool, out: &mut Out) -> Result<(bool, Option<Value>)> {
    let ring = match RawRing::open(path) {
        Ok(r) => r,
        // Our own file, damaged or cut short: a finding, not an error.
        Err(ReplayLogError::HeaderMismatch { field: "file_bytes", expected, found, .. }) => {
            let what = format!("truncated or extended: the header says {expected} bytes, the file has {found}");
            return report_unreadable(path, "truncated", &what, json_out, out);
        }
        Err(ReplayLogError::Corrupt { location, reason, .. }) => {
            return report_unreadable(path, "corrupt", &format!("{location}: {reason}"), json_out, out);
        }
        Err(e) => return Err(CliError::lib(path, e)),
    };
    let bar = progress(ring.info().capacity, "validating slots");
    let health = ring.validate_with_progress(|done, _| bar.set_position(done));
    bar.finish_and_clear();
    if json_out {
        return Ok((health.is_clean(), Some(health_json(path, &health))));
    }
    health_text(path, &health, out)?;
    Ok((health.is_clean(), None))
}

fn report_unreadable(
    path: &Path,
    kind: &str,
    what: &str,
    json_out: bool,
    out: &mut Out,
) -> Result<(bool, Option<Value>)> {
    if json_out {
        let v = json!({
            "path": path.display().to_string(), "format": "ring", "ok": false,
            "problems": [{"kind": kind, "description": what, "first_index": null, "last_index": null, "seq": null}],
        });
        return Ok((false, Some(v)));
    } else {
        out.line(format!("ring {}", path.display()))?;
        out.line(format!("  {what}"))?;
        out.line("result: 1 problem(s) found; the ring cannot be opened (restore it from a copy)")?;
    }
    Ok((false, None))
}

/// Validates every lane of a recorder directory. `Ok(clean)` when every lane could be read with
/// the others; else the first bad lane's error (status 2), after everything was reported.
fn validate_recorder(path: &Path, json_out: bool, out: &mut Out) -> Result<bool> {
    let dir = input::open_recorder(path)?;
    let reference = dir.reference().map(|l| l.name.to_string());
    let (mut clean, mut error, mut lanes) = (true, None, Vec::new());
    if !json_out {
        let names: Vec<&str> = dir.lanes().iter().map(|l| &*l.name).collect();
        out.line(format!("recorder {}: {} lane(s) ({})", path.display(), names.len(), names.join(", ")))?;
        out.line(format!(
            "  reference    {}",
            reference.as_deref().map_or("none (no lane opens)".into(), |r| format!("lane {r}"))
        ))?;
    }
    for lane in dir.lanes() {
        if !json_out {
            out.line("")?;
            out.line(format!("lane {}", lane.name))?;
        }
        // A damaged or cut-short ring of ours is a finding, as for a ring given alone.
        let finding = matches!(
            &lane.ring,
            Ok(_)
                | Err(ReplayLogError::Corrupt { .. })
                | Err(ReplayLogError::HeaderMismatch { field: "file_bytes", .. })
        );
        if finding {
            let (ok, v) = validate_ring(&lane.path, json_out, out)?;
            clean &= ok;
            lanes.push(json!({"lane": &*lane.name, "ok": ok, "error": null, "ring": v}));
        } else if let Err(e) = &lane.ring {
            let e = input::lane_err(lane, e);
            if !json_out {
                out.line(format!("  cannot be read: {e}"))?;
            }
            lanes.push(json!({"lane": &*lane.name, "ok": false, "error": e.to_string(), "ring": null}));
            error.get_or_insert(e);
        }
    }
    if json_out {
        let v = json!({
            "path": path.display().to_string(), "format": "recorder", "ok": clean && error.is_none(),
            "reference_lane": reference, "lanes": lanes,
        });
        out.json_pretty(&v)?;
    } else {
        let bad = lanes.iter().filter(|l| l["ok"] == false).count();
        out.line("")?;
        out.line(if bad == 0 {
            "result: every lane clean".to_string()
        } else {
            format!("result: {bad} of {} lane(s) with problems", lanes.len())
        })?;
    }
    match error {
        Some(e) => {
            out.flush()?;
            Err(e)
        }
        None => Ok(clean),
    }
}

fn validate_journal(path: &Path, kind: &Kind, json_out: bool, out: &mut Out) -> Result<bool> {
    let bar = spinner("validating");
    let (validation, segments) = if *kind == Kind::Segment {
        (replaylog::journal::validate(path).map_err(|e| CliError::lib(path, e)), 1)
    } else {
        match replaylog::ReadOnlyJournal::open(path) {
            Ok(j) => (Ok(j.validation()), j.segments().len()),
            Err(e) => (Err(CliError::lib(path, e)), 0),
        }
    };
    bar.finish_and_clear();
    let v = validation?;
    let format = if *kind == Kind::Segment { "segment" } else { "journal" };
    let ok = v.problem.is_none();
    if json_out {
        let j = json!({
            "path": path.display().to_string(), "format": format, "ok": ok,
            "chunks": v.chunks, "valid_bytes": v.valid_bytes, "problem": problem_json(v.problem.as_ref()),
        });
        out.json_pretty(&j)?;
        return Ok(ok);
    }
    if *kind == Kind::Segment {
        out.line(format!("segment {}", path.display()))?;
    } else {
        out.line(format!("journal {}: {segments} segment(s)", path.display()))?;
    }
    out.line(format!("  (chunks, valid_bytes) = ({}, {})", v.chunks, v.valid_bytes))?;
    match &v.problem {
        None => out.line("result: clean")?,
        Some(p) => {
            out.line(format!("  first problem: {p}"))?;
            let dir = if *kind == Kind::Segment { path.parent().unwrap_or(Path::new(".")) } else { path };
            let fix = format!("replaylog repair --yes {}", dir.display());
            out.line(format!(
                "result: problem found; `{fix}` cuts the journal back to its valid prefix, keeping a backup"
            ))?;
        }
    }
    Ok(ok)
}

/// Runs `validate`: 0 clean, 1 problems found.
pub fn run(args: &ValidateArgs) -> Result<ExitCode> {
    let path = &args.path;
    if crate::remote::is_url(path) {
        return crate::remote::validate(path, args.json);
    }
    let mut out = Out::stdout();
    let ok = match input::detect(path)? {
        Kind::Ring => {
            let (ok, v) = validate_ring(path, args.json, &mut out)?;
            if let Some(v) = v {
                out.json_pretty(&v)?;
            }
            ok
        }
        Kind::RecorderDir => validate_recorder(path, args.json, &mut out)?,
        kind => validate_journal(path, &kind, args.json, &mut out)?,
    };
    out.flush()?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(EXIT_PROBLEMS) })
}
