//! `replaylog validate PATH [--json]`: a full read-only scan.
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
//! Exit status: 0 clean, 1 problems found, 2 error.
//!
//! `--json` prints one object. Ring: `{"path", "format": "ring", "ok", "header_copies_valid",
//! "state_copies_valid", "cursor_hint", "window" (as in inspect), "slots": {"capacity",
//! "valid", "with_evidence", "never_written", "bad", "stale"}, "problems": [{"kind",
//! "description", "first_index", "last_index", "seq"}]}` where a slot problem's `kind` is one of
//! `busy`, `bad_header`, `checksum`, `misplaced`, `future_epoch`, `changing`, `stale` (`seq`: the
//! seq the first slot of the range claims, or null), and the file-level kinds `header_copy`,
//! `state`, `truncated` and `corrupt` carry null indices. Journal: `{"path", "format": "journal" |
//! "segment", "ok", "chunks", "valid_bytes", "problem": null | {"kind": "bad_tail", "segment",
//! "valid_bytes"} | {"kind": "corrupt", "segment", "offset", "reason"}}`.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use replaylog::lowlevel::format::ring::{
    HEADER_A_OFFSET, HEADER_B_OFFSET, RING_MAGIC, RING_VERSION, RingHeader, RingState, SECTOR_BYTES, STATE_BYTES,
    STATE_OFFSETS, SlotFault,
};
use replaylog::zerocopy::FromBytes;
use replaylog::{Problem, RawRing, ReplayLogError};
use serde_json::{Value, json};

use crate::error::{CliError, EXIT_PROBLEMS, Result};
use crate::input::{self, Kind};
use crate::inspect::{window_json, window_text};
use crate::output::{Out, progress, spinner};

/// Options of `replaylog validate`.
#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// A ring file, a journal directory or a journal segment file.
    pub path: PathBuf,
    /// Print one JSON object (schema in the README, "CLI reference").
    #[arg(long)]
    pub json: bool,
}

/// A journal problem as JSON.
pub fn problem_json(p: Option<&Problem>) -> Value {
    match p {
        None => Value::Null,
        Some(Problem::BadTail { segment, valid_bytes }) => {
            json!({"kind": "bad_tail", "segment": segment, "valid_bytes": valid_bytes})
        }
        Some(Problem::Corrupt { segment, offset, reason }) => {
            json!({"kind": "corrupt", "segment": segment, "offset": offset, "reason": reason})
        }
    }
}

/// A journal problem as text.
pub fn problem_text(p: &Problem) -> String {
    match p {
        Problem::BadTail { segment, valid_bytes } => {
            format!("torn tail after the durable watermark: segment {segment} is valid up to byte {valid_bytes}")
        }
        Problem::Corrupt { segment, offset, reason } => {
            format!("corruption at or before the durable watermark: segment {segment}, byte {offset}: {reason}")
        }
    }
}

/// One finding: a range of slots, or a file-level problem (no indices).
struct Finding {
    kind: &'static str,
    description: String,
    range: Option<(u64, u64)>,
    seq: Option<u64>,
}

fn fault_kind(f: SlotFault) -> &'static str {
    match f {
        SlotFault::NeverWritten => "never_written",
        SlotFault::Busy => "busy",
        SlotFault::BadHeader => "bad_header",
        SlotFault::Checksum => "checksum",
        SlotFault::Misplaced => "misplaced",
        SlotFault::FutureEpoch => "future_epoch",
    }
}

/// Adds a slot finding, merging it into the previous one when it continues the same range.
fn push_slot(findings: &mut Vec<Finding>, index: u64, kind: &'static str, description: &str, seq: Option<u64>) {
    if let Some(last) = findings.last_mut() {
        if let Some((_, end)) = &mut last.range {
            if last.kind == kind && *end + 1 == index {
                *end = index;
                return;
            }
        }
    }
    findings.push(Finding { kind, description: description.to_string(), range: Some((index, index)), seq });
}

/// Header and state copies read straight from the file: (valid header copies, valid state copies).
fn copies(path: &Path) -> Result<(u8, u8)> {
    let file = File::open(path).map_err(|e| CliError::io(path, "open", e))?;
    let mut headers = 0;
    for off in [HEADER_A_OFFSET, HEADER_B_OFFSET] {
        let mut b = [0u8; SECTOR_BYTES as usize];
        if file.read_exact_at(&mut b, off).is_ok() {
            let h = RingHeader::read_from_bytes(&b).expect("sector-sized");
            headers += u8::from(h.magic == RING_MAGIC && h.version.get() == RING_VERSION && h.crc_ok());
        }
    }
    let mut states = 0;
    for off in STATE_OFFSETS {
        let mut b = [0u8; STATE_BYTES];
        if file.read_exact_at(&mut b, off).is_ok() {
            states += u8::from(RingState::decode(&b).is_some());
        }
    }
    Ok((headers, states))
}

/// What the slot scan found.
#[derive(Default)]
struct SlotCounts {
    valid: u64,
    with_evidence: u64,
    never_written: u64,
    bad: u64,
    stale: u64,
}

fn scan_slots(ring: &RawRing, findings: &mut Vec<Finding>) -> SlotCounts {
    let cap = ring.geometry().capacity_slots;
    let window = ring.window();
    let state_epoch = ring.state().map(|(e, _)| e);
    let bar = progress(cap, "validating slots");
    let mut c = SlotCounts::default();
    let mut buf = Vec::new();
    for i in 0..cap {
        if i % 4096 == 0 {
            bar.set_position(i);
        }
        let mut res = ring.read_slot_into(i, &mut buf);
        for _ in 0..3 {
            if !matches!(res, Err(None) | Err(Some(SlotFault::Busy))) {
                break;
            }
            std::thread::yield_now();
            res = ring.read_slot_into(i, &mut buf);
        }
        let seq_word = buf.get(..8).map(|b| u64::from_le_bytes(b.try_into().unwrap()));
        match res {
            Ok(m) if state_epoch.is_some_and(|e| m.epoch > e) => {
                c.bad += 1;
                push_slot(findings, i, "future_epoch", SlotFault::FutureEpoch.describe(), Some(m.seq));
            }
            Ok(m) if window.is_some_and(|w| m.seq < w.first || m.seq > w.last) => {
                c.stale += 1;
                let what = "stale: a valid record outside the live window (cut off by a damaged slot, an older \
                            lap, or persisted beyond a crash; a writer's open zeroes it)";
                push_slot(findings, i, "stale", what, Some(m.seq));
            }
            Ok(m) => {
                c.valid += 1;
                c.with_evidence += u64::from(m.evidence_bytes > 0);
            }
            Err(Some(SlotFault::NeverWritten)) => c.never_written += 1,
            Err(Some(f)) => {
                c.bad += 1;
                push_slot(findings, i, fault_kind(f), f.describe(), seq_word);
            }
            Err(None) => {
                c.bad += 1;
                push_slot(findings, i, "changing", "kept changing while being read (a writer is active)", seq_word);
            }
        }
    }
    bar.finish_and_clear();
    c
}

fn file_finding(kind: &'static str, description: impl Into<String>) -> Finding {
    Finding { kind, description: description.into(), range: None, seq: None }
}

fn validate_ring(path: &Path, json_out: bool, out: &mut Out) -> Result<bool> {
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
    let (headers, states) = copies(path)?;
    let mut findings = Vec::new();
    if headers < 2 {
        findings.push(file_finding(
            "header_copy",
            format!("{} of 2 header copies damaged (a writer's open rewrites it from the good one)", 2 - headers),
        ));
    }
    if states == 0 {
        findings.push(file_finding("state", "no valid state copy (the sync watermark and epoch are lost)"));
    }
    let window = ring.window();
    let c = scan_slots(&ring, &mut findings);
    let g = ring.geometry();
    let ok = findings.is_empty();
    if json_out {
        let problems: Vec<Value> = findings
            .iter()
            .map(|f| {
                json!({
                    "kind": f.kind,
                    "description": f.description,
                    "first_index": f.range.map(|r| r.0),
                    "last_index": f.range.map(|r| r.1),
                    "seq": f.seq,
                })
            })
            .collect();
        let v = json!({
            "path": path.display().to_string(),
            "format": "ring",
            "ok": ok,
            "header_copies_valid": headers,
            "state_copies_valid": states,
            "cursor_hint": ring.cursor_hint(),
            "window": window_json(window),
            "slots": {
                "capacity": g.capacity_slots, "valid": c.valid, "with_evidence": c.with_evidence,
                "never_written": c.never_written, "bad": c.bad, "stale": c.stale,
            },
            "problems": problems,
        });
        out.json_pretty(&v)?;
        return Ok(ok);
    }
    out.line(format!("ring {}", path.display()))?;
    out.line(format!("  header       {headers}/2 copies valid"))?;
    let state = ring.state().map_or(String::new(), |(e, s)| format!(": epoch {e}, synced_next {s}"));
    out.line(format!("  state        {states}/2 copies valid{state}"))?;
    let cursor = ring.cursor_hint().map_or("garbled (informational only)".to_string(), |c| format!("next seq {c}"));
    out.line(format!("  cursor       {cursor}"))?;
    out.line(format!("  window       {}", window_text(window)))?;
    out.line(format!(
        "  slots        {}: {} valid in the window ({} with evidence), {} never written, {} bad, {} stale",
        g.capacity_slots, c.valid, c.with_evidence, c.never_written, c.bad, c.stale
    ))?;
    for f in &findings {
        let seq = f.seq.map_or(String::new(), |s| format!(" (seq {s})"));
        match f.range {
            Some((a, b)) if a == b => out.line(format!("  slot {a}: {}{seq}", f.description))?,
            Some((a, b)) => {
                out.line(format!("  slots {a}..={b}: {}{}", f.description, seq.replace("(seq", "(first seq")))?
            }
            None => out.line(format!("  {}", f.description))?,
        }
    }
    out.line(if ok {
        "result: clean".to_string()
    } else {
        format!("result: {} problem(s) found; opening the ring with a writer recovers it", findings.len())
    })?;
    Ok(ok)
}

fn report_unreadable(path: &Path, kind: &str, what: &str, json_out: bool, out: &mut Out) -> Result<bool> {
    if json_out {
        let v = json!({
            "path": path.display().to_string(), "format": "ring", "ok": false,
            "problems": [{"kind": kind, "description": what, "first_index": null, "last_index": null, "seq": null}],
        });
        out.json_pretty(&v)?;
    } else {
        out.line(format!("ring {}", path.display()))?;
        out.line(format!("  {what}"))?;
        out.line("result: 1 problem(s) found; the ring cannot be opened (restore it from a copy)")?;
    }
    Ok(false)
}

fn validate_journal(path: &Path, kind: Kind, json_out: bool, out: &mut Out) -> Result<bool> {
    let bar = spinner("validating");
    let (validation, segments) = if kind == Kind::Segment {
        (replaylog::journal::validate(path).map_err(|e| CliError::lib(path, e)), 1)
    } else {
        match replaylog::ReadOnlyJournal::open(path) {
            Ok(j) => (Ok(j.validation()), j.segments().len()),
            Err(e) => (Err(CliError::lib(path, e)), 0),
        }
    };
    bar.finish_and_clear();
    let v = validation?;
    let format = if kind == Kind::Segment { "segment" } else { "journal" };
    let ok = v.problem.is_none();
    if json_out {
        let j = json!({
            "path": path.display().to_string(), "format": format, "ok": ok,
            "chunks": v.chunks, "valid_bytes": v.valid_bytes, "problem": problem_json(v.problem.as_ref()),
        });
        out.json_pretty(&j)?;
        return Ok(ok);
    }
    if kind == Kind::Segment {
        out.line(format!("segment {}", path.display()))?;
    } else {
        out.line(format!("journal {}: {segments} segment(s)", path.display()))?;
    }
    out.line(format!("  (chunks, valid_bytes) = ({}, {})", v.chunks, v.valid_bytes))?;
    match &v.problem {
        None => out.line("result: clean")?,
        Some(p) => {
            out.line(format!("  first problem: {}", problem_text(p)))?;
            let dir = if kind == Kind::Segment { path.parent().unwrap_or(Path::new(".")) } else { path };
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
    let mut out = Out::stdout();
    let ok = match input::detect(path)? {
        Kind::Ring => validate_ring(path, args.json, &mut out)?,
        kind => validate_journal(path, kind, args.json, &mut out)?,
    };
    out.flush()?;
    Ok(if ok { ExitCode::SUCCESS } else { ExitCode::from(EXIT_PROBLEMS) })
}
