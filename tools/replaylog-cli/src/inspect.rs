//! `replaylog inspect PATH [--json]`: what a ring, journal or recorder directory holds,
//! read-only.
//!
//! `--json` prints one object. Ring:
//! `{"path", "format": "ring", "version", "clock": "none" | "monotonic" | "caller", "record_bytes",
//! "evidence_bytes_max", "slot_bytes", "capacity", "schema_id", "slots_offset", "evidence_offset",
//! "evidence_entry_bytes" (0 and 0 in version 2), "file_bytes", "created_unix_ms", "layout": null |
//! {"name", "fields": [{"name", "type", "offset", "count"}], "text"}, "state": null | {"epoch",
//! "synced_next"}, "cursor_hint": null | n, "window": null | {"first", "last", "records",
//! "anchor": "watermark" | "newest", "anchor_seq"}, "records_with_evidence": n | null,
//! "slots": {"valid", "never_written", "with_evidence", "bad"}}`.
//!
//! Journal (`"format": "journal"`, or `"segment"` for one segment file):
//! `{"path", "format", "segments": [{"number", "file", "bytes", "frames", "first_lsn",
//! "next_lsn", "durable_bytes", "sealed", "has_snapshot"}], "bytes", "entries", "lsn_range":
//! null | {"first", "last"}, "newest_snapshot": null | lsn, "archive": null | {"record_bytes",
//! "schema_id", "capacity", "layout"}, "validation": {"chunks",
//! "valid_bytes", "problem": null | {"kind": "bad_tail", "segment", "valid_bytes"} | {"kind":
//! "corrupt", "segment", "offset", "reason"}}}`.
//!
//! Recorder directory (lane files `<name>.ring`): a section per lane, sorted by name, each the
//! ring's report, or why the lane cannot be read with the others (not a ring, or a record
//! size, schema id, layout or clock other than the reference lane's: the first lane by name
//! that opens). `--json`: `{"path", "format": "recorder", "reference_lane": null | name,
//! "records" (in all lanes' windows), "lanes": [{"lane", "ok", "error": null | text, "ring":
//! null | {the ring object above}}]}`. Exit status 0 even when a lane cannot be read (`validate`
//! is the check).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use replaylog::{Kind, RawRing};
use serde_json::{Value, json};

use crate::error::Result;
use crate::input::{self, JournalSource, RingRecords};
use crate::output::{Out, layout_json, problem_json, window_json, window_text};

/// Options of `replaylog inspect`.
#[derive(Args, Debug)]
pub struct InspectArgs {
    /// A ring file, a journal directory, a recorder directory or a journal segment file.
    pub path: PathBuf,
    /// Print one JSON object (schema in the README, "CLI reference").
    #[arg(long)]
    pub json: bool,
}

/// Milliseconds since the Unix epoch as `YYYY-MM-DD hh:mm:ss.mmm UTC`.
pub(crate) fn utc(ms: u64) -> String {
    let (days, rem) = ((ms / 86_400_000) as i64, ms % 86_400_000);
    let (y, m, d) = replaylog::freeze::civil_from_days(days);
    let (h, mi, sec, milli) = (rem / 3_600_000, rem / 60_000 % 60, rem / 1000 % 60, rem % 1000);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{sec:02}.{milli:03} UTC")
}

/// Prints a ring's report as text, or returns it as JSON (printed by the caller).
fn inspect_ring(path: &Path, ring: &RawRing, json_out: bool, out: &mut Out) -> Result<Option<Value>> {
    let info = ring.info();
    let window = ring.window();
    let mut with_evidence = Some(0u64);
    for r in RingRecords::new(ring, None) {
        match r {
            Ok(r) => *with_evidence.as_mut().unwrap() += u64::from(r.evidence.is_some()),
            Err(_) => {
                with_evidence = None;
                break;
            }
        }
    }
    let census = ring.census();
    if json_out {
        let v = json!({
            "path": path.display().to_string(),
            "format": "ring",
            "version": info.version,
            "clock": info.clock.to_string(),
            "record_bytes": info.record_bytes,
            "evidence_bytes_max": info.evidence_bytes_max,
            "slot_bytes": info.slot_bytes,
            "capacity": info.capacity,
            "schema_id": info.schema_id,
            "slots_offset": info.slots_offset,
            "evidence_offset": info.evidence_offset,
            "evidence_entry_bytes": info.evidence_entry_bytes,
            "file_bytes": info.file_bytes,
            "created_unix_ms": info.created_unix_ms,
            "layout": ring.layout().map_or(Value::Null, layout_json),
            "state": ring.state().map_or(Value::Null, |(e, s)| json!({"epoch": e, "synced_next": s})),
            "cursor_hint": ring.cursor_hint(),
            "window": window_json(window),
            "records_with_evidence": with_evidence,
            "slots": {
                "valid": census.valid,
                "never_written": census.never_written,
                "with_evidence": census.with_evidence,
                "bad": census.bad.len(),
            },
        });
        return Ok(Some(v));
    }
    out.line(format!("ring {}", path.display()))?;
    out.line(format!("  format       ring version {}", info.version))?;
    let layout = ring.layout().map_or("none stored".to_string(), |l| l.to_string());
    out.line(format!("  record       {} bytes; layout {layout}", info.record_bytes))?;
    out.line(format!("  schema id    {}", info.schema_id))?;
    out.line(format!(
        "  capacity     {} slots of {} bytes (evidence up to {} bytes{}); file {} bytes",
        info.capacity,
        info.slot_bytes,
        info.evidence_bytes_max,
        if info.evidence_entry_bytes > 0 { ", in a region of its own" } else { " inline" },
        info.file_bytes
    ))?;
    out.line(format!("  clock        {}", info.clock))?;
    out.line(format!("  created      {}", utc(info.created_unix_ms)))?;
    let state = ring.state().map_or("no valid state copy".to_string(), |(e, s)| format!("epoch {e}, synced_next {s}"));
    out.line(format!("  state        {state}"))?;
    let cursor = ring.cursor_hint().map_or("garbled".to_string(), |c| format!("next seq {c}"));
    out.line(format!("  cursor       {cursor}"))?;
    out.line(format!("  window       {}", window_text(window)))?;
    let ev = with_evidence.map_or("unknown (the window changed while being read)".to_string(), |n| n.to_string());
    out.line(format!("  evidence     {ev} records in the window carry failure evidence"))?;
    out.line(format!(
        "  slots        {} valid ({} with evidence), {} never written, {} bad",
        census.valid,
        census.with_evidence,
        census.never_written,
        census.bad.len()
    ))?;
    Ok(None)
}

/// A recorder directory: a section per lane (the ring's report, or why the lane cannot be read
/// with the others), the reference lane named.
fn inspect_recorder(path: &Path, json_out: bool, out: &mut Out) -> Result<()> {
    let dir = input::open_recorder(path)?;
    let reference = dir.reference().map(|l| l.name.to_string());
    if json_out {
        let mut lanes = Vec::new();
        for lane in dir.lanes() {
            lanes.push(match &lane.ring {
                Ok(ring) => json!({
                    "lane": &*lane.name, "ok": true, "error": null,
                    "ring": inspect_ring(&lane.path, ring, true, out)?,
                }),
                Err(e) => json!({
                    "lane": &*lane.name, "ok": false, "error": input::lane_err(lane, e).to_string(), "ring": null,
                }),
            });
        }
        let v = json!({
            "path": path.display().to_string(),
            "format": "recorder",
            "reference_lane": reference,
            "records": input::recorder_records(&dir),
            "lanes": lanes,
        });
        return out.json_pretty(&v);
    }
    let names: Vec<&str> = dir.lanes().iter().map(|l| &*l.name).collect();
    let bad = dir.lanes().iter().filter(|l| l.ring.is_err()).count();
    out.line(format!("recorder {}", path.display()))?;
    out.line(format!("  lanes        {} ({}), {bad} unreadable", names.len(), names.join(", ")))?;
    out.line(format!(
        "  reference    {}",
        reference.as_deref().map_or("none (no lane opens)".to_string(), |r| format!(
            "lane {r} (the others must match its record size, schema id, layout and clock)"
        ))
    ))?;
    out.line(format!("  records      {} in the lanes' windows", input::recorder_records(&dir)))?;
    for lane in dir.lanes() {
        out.line("")?;
        match &lane.ring {
            Ok(ring) => {
                out.line(format!("lane {}", lane.name))?;
                inspect_ring(&lane.path, ring, false, out)?;
            }
            Err(e) => out.line(format!("lane {}: cannot be read: {}", lane.name, input::lane_err(lane, e)))?,
        }
    }
    Ok(())
}

fn inspect_journal(path: &Path, src: &JournalSource, json_out: bool, out: &mut Out) -> Result<()> {
    let segs = src.journal.segments();
    let validation = if src.segment_file {
        replaylog::journal::validate(path).map_err(|e| src.lib_err(e))?
    } else {
        src.journal.validation()
    };
    let bytes: u64 = segs.iter().map(|s| s.bytes).sum();
    let entries: u64 = segs.iter().map(|s| s.frames).sum();
    let first = segs.iter().find(|s| s.frames > 0).and_then(|s| s.first_lsn);
    let last = segs.iter().filter(|s| s.frames > 0).map(|s| s.next_lsn - 1).max();
    let range = first.zip(last);
    let file_name = |p: &Path| -> String {
        if src.segment_file {
            path.display().to_string()
        } else {
            p.file_name().map_or(String::new(), |n| n.to_string_lossy().into_owned())
        }
    };
    let format = if src.segment_file { "segment" } else { "journal" };
    if json_out {
        let segments: Vec<Value> = segs
            .iter()
            .map(|s| {
                json!({
                    "number": s.number, "file": file_name(&s.path), "bytes": s.bytes, "frames": s.frames,
                    "first_lsn": s.first_lsn, "next_lsn": s.next_lsn, "durable_bytes": s.durable_bytes,
                    "sealed": s.sealed, "has_snapshot": s.has_snapshot,
                })
            })
            .collect();
        let archive = src.archive.as_ref().map_or(Value::Null, |a| {
            json!({
                "record_bytes": a.record_bytes, "schema_id": a.schema_id, "capacity": a.capacity,
                "layout": a.layout.as_ref().map_or(Value::Null, layout_json),
            })
        });
        let v = json!({
            "path": path.display().to_string(),
            "format": format,
            "segments": segments,
            "bytes": bytes,
            "entries": entries,
            "lsn_range": range.map_or(Value::Null, |(a, b)| json!({"first": a, "last": b})),
            "newest_snapshot": src.journal.newest_snapshot(),
            "archive": archive,
            "validation": {
                "chunks": validation.chunks,
                "valid_bytes": validation.valid_bytes,
                "problem": problem_json(validation.problem.as_ref()),
            },
        });
        return out.json_pretty(&v);
    }
    out.line(format!("{format} {}", path.display()))?;
    out.line(format!("  segments     {} ({bytes} bytes)", segs.len()))?;
    for s in &segs {
        let lsns = match (s.first_lsn, s.frames) {
            (Some(f), n) if n > 0 => format!("lsn {f}..={}", s.next_lsn - 1),
            (Some(f), _) => format!("no frames (next lsn {f})"),
            (None, _) => "bad header".to_string(),
        };
        let durable = s.durable_bytes.map_or("no valid watermark".to_string(), |d| format!("durable {d}"));
        let mut flags = String::new();
        if s.sealed {
            flags.push_str(", sealed");
        }
        if s.has_snapshot {
            flags.push_str(", snapshot");
        }
        out.line(format!(
            "    {}  {} bytes, {} frames, {lsns}, {durable}{flags}",
            file_name(&s.path),
            s.bytes,
            s.frames
        ))?;
    }
    let range_text = range.map_or("none".to_string(), |(a, b)| format!("lsn {a}..={b}"));
    out.line(format!("  entries      {entries} frames, {range_text}"))?;
    let snap = src.journal.newest_snapshot().map_or("none".to_string(), |l| format!("newest at lsn {l}"));
    out.line(format!("  snapshots    {snap}"))?;
    if let Some(a) = &src.archive {
        let layout = a.layout.as_ref().map_or("no layout".to_string(), |l| l.to_string());
        out.line(format!(
            "  archive      ring records of {} bytes (schema id {}, from a {}-slot ring); {layout}",
            a.record_bytes, a.schema_id, a.capacity
        ))?;
    }
    out.line(format!(
        "  validation   (chunks, valid_bytes) = ({}, {}); {}",
        validation.chunks,
        validation.valid_bytes,
        validation.problem.as_ref().map_or("clean".to_string(), |p| format!("first problem: {p}"))
    ))
}

/// Runs `inspect`. Exit status 0 whatever the file holds (use `validate` to check it).
pub fn run(args: &InspectArgs) -> Result<ExitCode> {
    let path = &args.path;
    if crate::remote::is_url(path) {
        return crate::remote::inspect(path, args.json);
    }
    let mut out = Out::stdout();
    match input::detect(path)? {
        Kind::Ring => {
            if let Some(v) = inspect_ring(path, &input::open_ring(path)?, args.json, &mut out)? {
                out.json_pretty(&v)?;
            }
        }
        Kind::RecorderDir => inspect_recorder(path, args.json, &mut out)?,
        kind => inspect_journal(path, &input::open_journal(path, &kind)?, args.json, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00.000 UTC");
        assert_eq!(super::utc(951_782_400_123), "2000-02-29 00:00:00.123 UTC");
        assert_eq!(super::utc(1_700_000_000_000), "2023-11-14 22:13:20.000 UTC");
    }
}
