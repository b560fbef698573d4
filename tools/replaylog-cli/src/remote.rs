//! A capture shipped to object storage (`s3://…`, `gs://…`, `az://…`, `file:///…`) as an
//! argument of `inspect`, `dump`, `validate`, `export`, `diff` and `report`: read with
//! `replaylog_ship` segment by segment (ranged GETs, each segment used only once its SHA-256
//! matches the manifest), a progress bar on stderr when on a terminal.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use replaylog::capture::Capture;
use replaylog_ship::{RemoteSource, RetryPolicy, ShipError, Target};

use crate::error::{CliError, EXIT_PROBLEMS, Result};
use crate::output::{Out, interactive};

/// Whether a PATH argument is an object-store URL.
pub fn is_url(p: &Path) -> bool {
    p.to_str().is_some_and(replaylog_ship::is_url)
}

/// A shipping or remote-reading error in the CLI's terms: bad input (a URL, credentials, a
/// bucket, a foreign manifest) exits 2, a failure along the way or damage 1.
pub fn ship_err(fallback: &Path, e: ShipError) -> CliError {
    let bad = e.is_bad_input();
    let c = match e {
        ShipError::BadUrl { url, why, fix } => CliError::new(url, why, fix),
        ShipError::Permanent { url, what, fix } | ShipError::Conflict { url, what, fix } => {
            CliError::new(url, what, fix)
        }
        ShipError::Transient { url, what, attempts } => CliError::problem(
            url,
            format!("{what} (gave up after {attempts} attempts)"),
            "the store is unreachable or failing: run again later; what was shipped stays listed",
        ),
        ShipError::Local(e) => CliError::lib(fallback, e),
    };
    if bad { c } else { CliError { code: c.code.max(EXIT_PROBLEMS), ..c } }
}

/// Opens the manifest of the capture at `url`, with a progress bar while segments download.
pub fn source(url: &Path) -> Result<RemoteSource> {
    let text = url.to_string_lossy();
    let target = Target::parse(&text).map_err(|e| ship_err(url, e))?;
    let src = RemoteSource::open(target, RetryPolicy::default()).map_err(|e| ship_err(url, e))?;
    if !interactive() {
        return Ok(src);
    }
    let bar = indicatif::ProgressBar::with_draw_target(None, indicatif::ProgressDrawTarget::stderr());
    let style = indicatif::ProgressStyle::with_template("{msg} [{wide_bar}] {bytes}/{total_bytes}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    Ok(src.with_progress(move |p| {
        bar.set_length(p.bytes);
        bar.set_position(p.fetched);
        bar.set_message(format!("segment {} ({}/{})", p.number, p.index + 1, p.segments));
        if p.index + 1 == p.segments && p.fetched == p.bytes {
            bar.finish_and_clear();
        }
    }))
}

/// Opens the capture at `url` for reading.
pub fn capture(url: &Path) -> Result<Capture> {
    let src = source(url)?;
    Capture::open_source(Arc::new(src)).map_err(|e| CliError::lib(url, e))
}

/// `inspect URL`: the manifest and the archive header.
pub fn inspect(url: &Path, json: bool) -> Result<ExitCode> {
    let src = source(url)?;
    let m = src.manifest().clone();
    let target_url = src.target().url.clone();
    let capture = Capture::open_source(Arc::new(src)).map_err(|e| CliError::lib(url, e))?;
    let first = m.segments.first().and_then(|s| s.first_lsn);
    let next = m.segments.last().map(|s| s.next_lsn);
    let mut out = Out::stdout();
    if json {
        let v = serde_json::json!({
            "type": "shipped",
            "url": target_url,
            "kind": m.kind,
            "segments": m.segments.iter().map(|s| serde_json::json!({
                "number": s.number, "name": s.name, "bytes": s.bytes, "sha256": s.sha256, "sealed": s.sealed,
                "first_lsn": s.first_lsn, "next_lsn": s.next_lsn, "lanes": s.lanes,
            })).collect::<Vec<_>>(),
            "bytes": m.bytes(),
            "first_lsn": first,
            "next_lsn": next,
            "lanes": capture.lanes(),
            "record_bytes": capture.record_bytes(),
            "schema_id": capture.schema_id(),
            "layout": capture.layout().map(|l| l.to_string()),
        });
        out.line(v.to_string())?;
    } else {
        out.line(format!("{target_url}: shipped {} ({} segments, {} bytes)", m.kind, m.segments.len(), m.bytes()))?;
        if let (Some(f), Some(n)) = (first, next) {
            out.line(format!("  lsns         {f}..{}", n.saturating_sub(1)))?;
        }
        if let Some(rb) = capture.record_bytes() {
            out.line(format!("  record bytes {rb}"))?;
        }
        if let Some(l) = capture.layout() {
            out.line(format!("  layout       {l}"))?;
        }
        if !capture.lanes().is_empty() {
            out.line(format!("  lanes        {}", capture.lanes().join(", ")))?;
        }
        for s in &m.segments {
            out.line(format!(
                "  segment {:>6}  {:>10} bytes  lsns {}..{}  {}  sha256 {}",
                s.number,
                s.bytes,
                s.first_lsn.map_or("-".into(), |l| l.to_string()),
                s.next_lsn.saturating_sub(1),
                if s.sealed { "sealed" } else { "newest" },
                s.sha256
            ))?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `validate URL`: every segment fetched, checked against the manifest and validated.
pub fn validate(url: &Path, json: bool) -> Result<ExitCode> {
    let src = source(url)?;
    let v = replaylog_ship::validate(&src);
    let mut out = Out::stdout();
    for s in &v.segments {
        let line = match (&s.result, json) {
            (Ok(frames), false) => format!("segment {}: ok ({frames} frames, {} bytes)", s.entry.number, s.entry.bytes),
            (Err(e), false) => format!("segment {}: {e}", s.entry.number),
            (r, true) => serde_json::json!({
                "type": "segment", "number": s.entry.number, "ok": r.is_ok(),
                "frames": r.as_ref().ok(), "problem": r.as_ref().err().map(|e| e.to_string()),
            })
            .to_string(),
        };
        out.line(line)?;
    }
    let bad = v.segments.iter().filter(|s| s.result.is_err()).count();
    if !json {
        out.line(format!("{}: {} of {} segments intact", src.target().url, v.segments.len() - bad, v.segments.len()))?;
    }
    out.flush()?;
    Ok(if v.ok() { ExitCode::SUCCESS } else { ExitCode::from(EXIT_PROBLEMS) })
}
