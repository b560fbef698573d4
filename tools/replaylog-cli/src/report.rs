//! `replaylog report A B --out report.html [comparison options]`: the certification comparison
//! of candidate B against reference A ([`replaylog::compare`]) as one self-contained HTML page
//! to read, print to PDF and sign.
//!
//! The page holds, in order: the verdict (PASS, FAIL or DAMAGED) with its reasons; the
//! provenance of both captures (path, kind, records, seqs, timestamps, lanes, record size,
//! schema id, layout, SHA-256 of the record stream, damage found); the options the comparison
//! ran with; then per stream (a capture's lanes, or its one stream) the per-field summary, one
//! plot per numeric scalar field (those outside tolerance first; reference and candidate against the key, the field's
//! divergences, evidence and missing/extra keys in a strip above it, and `|a−b|` against the
//! tolerance `abs + rel·|a|` on a log scale below it), the missing and extra keys, the first
//! divergences with both values and the first failure evidence; and a footer with the date,
//! the replaylog version, the command and a place to sign.
//!
//! The page has no script, loads nothing (a Content-Security-Policy forbids it besides) and
//! carries its CSS inline and its plots as inline SVG. Every string taken from a capture (paths,
//! layout, field and lane names, values, evidence messages) is HTML-escaped and only ever
//! placed in element text, never in an attribute, tag name, id or class.
//!
//! Large captures are reduced per pixel column: the comparison runs once for each stream's key
//! range, then again while every aligned pair is binned into at most `--columns` columns per
//! plot, each keeping the minimum and maximum of both sides, the largest `|a−b|`, the smallest
//! tolerance and whether a divergence, evidence, a missing or an extra key fell in it — so a
//! one-sample spike still shows, and memory and page size do not grow with the record count.
//!
//! Exit status: 0 the verdict is PASS; 1 FAIL or DAMAGED (the report is written); 2 error (usage,
//! captures that cannot be compared, an existing `--out` without `--force`; no file is written).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Args;
use replaylog::ReplayFailureEvidence;
use replaylog::compare::{Align, FieldSummary, Options, Outcome, Pair, Provenance, StreamOutcome, Tolerance, Verdict};
use replaylog_export::{AtomicFile, ExportError};

use crate::error::{CliError, EXIT_ERROR, EXIT_PROBLEMS, Result};

/// Options of `replaylog report`.
#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The reference capture (ring file, journal directory, recorder directory or segment file).
    pub a: PathBuf,
    /// The candidate capture, compared with the reference.
    pub b: PathBuf,
    /// The HTML file to write (refused when it exists, unless --force).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace an existing --out file.
    #[arg(long)]
    pub force: bool,
    /// Pixel columns per plot: a larger capture is reduced to this many columns, each keeping
    /// the minimum and maximum of both sides and every divergence, evidence, missing or extra
    /// key that fell in it.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(100..=4000))]
    pub columns: u32,
    #[command(flatten)]
    pub compare: crate::diff::CompareArgs,
}

/// A comparison that could not be made, as the CLI's error (exit status 2).
/// An error before the report was written: status 2 (whatever the error), saying so.
fn no_report(mut err: CliError) -> CliError {
    err.code = EXIT_ERROR;
    err.hint = Some(format!(
        "{}no report was written",
        err.hint.take().filter(|h| !h.is_empty()).map_or(String::new(), |h| format!("{h}; "))
    ));
    err
}

fn output_err(path: &Path, e: ExportError) -> CliError {
    match e {
        ExportError::OutputExists { path } => {
            CliError::new(path, "already exists", "remove it, choose another name, or pass --force")
        }
        ExportError::Io { op, path, source } => CliError::io(path, op, source),
        other => CliError::new(path, other.to_string(), "choose another --out"),
    }
}

/// Runs `report`.
pub fn run(args: &ReportArgs) -> Result<ExitCode> {
    let started = Instant::now();
    let opts = args.compare.options(&args.a).map_err(no_report)?;
    // Refuse an existing output, or a missing directory, before the (long) comparison.
    replaylog_export::check_output(&args.out, args.force).map_err(|e| output_err(&args.out, e))?;
    let dir = args.out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    if !dir.is_dir() {
        return Err(CliError::new(dir, "is not a directory", "the --out file's directory must exist"));
    }
    crate::diff::check_inputs(&args.a, &args.b).map_err(no_report)?;
    let first = crate::diff::compare_paths(&args.a, &args.b, &opts, |_| {}).map_err(no_report)?;
    let mut plots = Plots::new(&first, &opts, args.columns as usize);
    let outcome = crate::diff::compare_paths(&args.a, &args.b, &opts, |p| plots.observe(p)).map_err(no_report)?;
    let changed = [(&first.reference, &outcome.reference), (&first.candidate, &outcome.candidate)]
        .iter()
        .filter(|(x, y)| x.sha256 != y.sha256 || x.records != y.records)
        .map(|(_, y)| y.path.clone())
        .collect::<Vec<_>>();
    let page = Page {
        outcome: &outcome,
        opts: &opts,
        plots: &plots,
        columns: args.columns as usize,
        changed: &changed,
        generated_ms: SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        command: std::env::args().collect::<Vec<_>>().join(" "),
        elapsed_s: started.elapsed().as_secs_f64(),
    };
    let html = page.render();
    let mut out = AtomicFile::create(&args.out, args.force).map_err(|e| output_err(&args.out, e))?;
    out.file().write_all(html.as_bytes()).map_err(|e| CliError::io(out.temp_path(), "write", e))?;
    out.commit().map_err(|e| output_err(&args.out, e))?;
    println!(
        "{}: {} ({} records compared, {} outside tolerance, {} missing, {} extra); report written to {} ({} bytes)",
        outcome.verdict,
        outcome.reasons.first().map_or("every record within tolerance", String::as_str),
        outcome.compared(),
        outcome.differing(),
        outcome.streams.iter().map(|s| s.missing_count).sum::<u64>(),
        outcome.streams.iter().map(|s| s.extra_count).sum::<u64>(),
        args.out.display(),
        html.len()
    );
    Ok(match outcome.verdict {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail | Verdict::Damaged => ExitCode::from(EXIT_PROBLEMS),
    })
}

// ---------------------------------------------------------------------------------------------
// Reduction per pixel column

/// Stream column flags.
const COL_DIVERGED: u8 = 1;
const COL_EVIDENCE_REF: u8 = 2;
const COL_EVIDENCE_CAND: u8 = 4;
const COL_MISSING: u8 = 8;
const COL_EXTRA: u8 = 16;
const COL_EVIDENCE_DIFFERS: u8 = 32;

/// A stream's key range cut into columns.
#[derive(Clone, Copy, Debug)]
struct Bins {
    lo: i128,
    /// Keys in the range (`hi - lo + 1`).
    span: u128,
    cols: usize,
}

impl Bins {
    fn new((lo, hi): (i128, i128), max_cols: usize) -> Bins {
        let span = (hi - lo) as u128 + 1;
        Bins { lo, span, cols: span.min(max_cols as u128) as usize }
    }

    /// The column of `key` (keys outside the range, from a capture that grew between the two
    /// passes, go to the edge columns).
    fn col(&self, key: i128) -> usize {
        let off = (key.max(self.lo) - self.lo).min(self.span as i128 - 1) as u128;
        (off * self.cols as u128 / self.span) as usize
    }

    /// Keys per column (at least).
    fn keys_per_col(&self) -> u128 {
        self.span / self.cols as u128
    }
}

/// One numeric field's columns.
struct Series {
    /// Index into the stream's fields.
    field: usize,
    ref_min: Vec<f64>,
    ref_max: Vec<f64>,
    cand_min: Vec<f64>,
    cand_max: Vec<f64>,
    /// Largest `|a−b|` (−1: no pair with finite values on both sides).
    diff: Vec<f64>,
    /// Smallest `abs + rel·|a|`.
    tol: Vec<f64>,
    /// The field diverged in this column.
    diverged: Vec<bool>,
    tolerance: Tolerance,
}

impl Series {
    fn new(field: usize, tolerance: Tolerance, cols: usize) -> Series {
        Series {
            field,
            ref_min: vec![f64::INFINITY; cols],
            ref_max: vec![f64::NEG_INFINITY; cols],
            cand_min: vec![f64::INFINITY; cols],
            cand_max: vec![f64::NEG_INFINITY; cols],
            diff: vec![-1.0; cols],
            tol: vec![f64::INFINITY; cols],
            diverged: vec![false; cols],
            tolerance,
        }
    }
}

/// The failure evidence of one key, for the evidence table.
struct EvidenceRow {
    key: i128,
    reference: Option<ReplayFailureEvidence>,
    candidate: Option<ReplayFailureEvidence>,
}

/// Why a numeric field of a stream has no plot.
struct Unplotted {
    field: usize,
    why: &'static str,
}

/// One stream's reduction.
struct StreamPlots {
    lane: Option<String>,
    bins: Option<Bins>,
    flags: Vec<u8>,
    series: Vec<Series>,
    unplotted: Vec<Unplotted>,
    evidence: Vec<EvidenceRow>,
    /// Records with evidence on each side.
    evidence_count: [u64; 2],
    /// Keys with evidence on either side.
    evidence_keys: u64,
}

/// Every stream's reduction, filled by [`Plots::observe`] during the second comparison.
struct Plots {
    streams: Vec<StreamPlots>,
    current: usize,
    limit: usize,
}

impl Plots {
    fn new(first: &Outcome, opts: &Options, max_cols: usize) -> Plots {
        let key = match &opts.align {
            Align::Field(k) => Some(k.as_str()),
            Align::Seq => None,
        };
        let streams = first
            .streams
            .iter()
            .map(|s| {
                let bins = s.keys.map(|k| Bins::new(k, max_cols));
                let cols = bins.map_or(0, |b| b.cols);
                let (mut series, mut unplotted) = (Vec::new(), Vec::new());
                for (i, f) in s.fields.iter().enumerate().filter(|(_, f)| f.numeric) {
                    let why = if f.ignored {
                        Some("ignored")
                    } else if Some(f.name.as_str()) == key {
                        Some("the alignment key")
                    } else if f.ty.contains('[') {
                        Some("an array")
                    } else {
                        None
                    };
                    match why {
                        Some(why) => unplotted.push(Unplotted { field: i, why }),
                        None => series.push(Series::new(i, f.tolerance, cols)),
                    }
                }
                // Fields outside tolerance first, then the others, each in layout order.
                series.sort_by_key(|x| s.fields[x.field].divergences == 0);
                StreamPlots {
                    lane: s.lane.clone(),
                    bins,
                    flags: vec![0; cols],
                    series,
                    unplotted,
                    evidence: Vec::new(),
                    evidence_count: [0; 2],
                    evidence_keys: 0,
                }
            })
            .collect();
        Plots { streams, current: 0, limit: opts.limit }
    }

    fn observe(&mut self, p: &Pair<'_>) {
        if self.streams.get(self.current).is_none_or(|s| s.lane.as_deref() != p.lane) {
            match self.streams.iter().position(|s| s.lane.as_deref() == p.lane) {
                Some(i) => self.current = i,
                None => return,
            }
        }
        let limit = self.limit;
        let s = &mut self.streams[self.current];
        let Some(bins) = s.bins else { return };
        let c = bins.col(p.key);
        let mut flags = 0;
        if !p.diverged.is_empty() {
            flags |= COL_DIVERGED;
        }
        match (p.reference, p.candidate) {
            (Some(_), None) => flags |= COL_MISSING,
            (None, Some(_)) => flags |= COL_EXTRA,
            _ => {}
        }
        let (ea, eb) = (p.reference.and_then(|r| r.evidence.as_ref()), p.candidate.and_then(|r| r.evidence.as_ref()));
        for (i, e, flag) in [(0, ea, COL_EVIDENCE_REF), (1, eb, COL_EVIDENCE_CAND)] {
            if e.is_some() {
                flags |= flag;
                s.evidence_count[i] += 1;
            }
        }
        if ea.is_some() || eb.is_some() {
            if ea != eb {
                flags |= COL_EVIDENCE_DIFFERS;
            }
            s.evidence_keys += 1;
            if s.evidence.len() < limit {
                s.evidence.push(EvidenceRow { key: p.key, reference: ea.cloned(), candidate: eb.cloned() });
            }
        }
        s.flags[c] |= flags;
        for x in &mut s.series {
            let (a, b) = p.value(x.field);
            if let Some(a) = a.filter(|v| v.is_finite()) {
                x.ref_min[c] = x.ref_min[c].min(a);
                x.ref_max[c] = x.ref_max[c].max(a);
            }
            if let Some(b) = b.filter(|v| v.is_finite()) {
                x.cand_min[c] = x.cand_min[c].min(b);
                x.cand_max[c] = x.cand_max[c].max(b);
            }
            if let (Some(a), Some(b)) = (a, b) {
                if a.is_finite() && b.is_finite() {
                    x.diff[c] = x.diff[c].max((a - b).abs());
                    x.tol[c] = x.tol[c].min(x.tolerance.abs + x.tolerance.rel * a.abs());
                }
            }
            if p.diverged.contains(&x.field) {
                x.diverged[c] = true;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Text helpers

/// `s` escaped for HTML element text (and, equally, a quoted attribute): `& < > " '`.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A number for a table or an axis: `0`, six significant digits in plain notation between 1e-3
/// and 1e6, else scientific.
fn num(v: f64) -> String {
    if v == 0.0 {
        "0".into()
    } else if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "∞" } else { "−∞" }.into()
    } else if (1e-3..1e6).contains(&v.abs()) {
        let digits = (5 - v.abs().log10().floor() as i32).clamp(0, 9) as usize;
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
        s.replace('-', "−")
    } else {
        format!("{v:.3e}").replace('-', "−")
    }
}

/// A count with thousands separators.
fn count(n: impl Into<u128>) -> String {
    let s = n.into().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A key (possibly negative) with thousands separators.
fn key(k: i128) -> String {
    if k < 0 { format!("−{}", count(k.unsigned_abs())) } else { count(k as u128) }
}

// ---------------------------------------------------------------------------------------------
// The page

struct Page<'a> {
    outcome: &'a Outcome,
    opts: &'a Options,
    plots: &'a Plots,
    columns: usize,
    /// Captures whose record stream changed between the two passes.
    changed: &'a [PathBuf],
    generated_ms: u64,
    command: String,
    elapsed_s: f64,
}

const CSS: &str = r#"
:root { --pass: #1a7f37; --fail: #c62828; --damaged: #b35c00; --ref: #1f5fbf; --cand: #e07000;
  --div: #d32f2f; --miss: #7b1fa2; --extra: #00897b; --grid: #e3e3e3; --muted: #555; }
* { box-sizing: border-box; }
html { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #111;
  background: #fff; max-width: 1120px; margin: 0 auto; padding: 16px 24px 32px; }
h1 { font-size: 15px; font-weight: 600; letter-spacing: .04em; text-transform: uppercase; color: var(--muted); margin: 0 0 6px; }
h2 { font-size: 19px; margin: 26px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 3px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
code, .mono { font-family: "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12.5px; }
.verdict { border: 3px solid; border-radius: 6px; padding: 12px 18px 14px; margin: 4px 0 10px; }
.verdict .big { font-size: 54px; font-weight: 800; line-height: 1.05; letter-spacing: .03em; }
.verdict ul { margin: 6px 0 0; padding-left: 20px; font-size: 15px; }
.verdict p { margin: 6px 0 0; font-size: 15px; }
.v-pass { border-color: var(--pass); color: var(--pass); background: #f0f8f2; }
.v-fail { border-color: var(--fail); color: var(--fail); background: #fdf1f1; }
.v-damaged { border-color: var(--damaged); color: var(--damaged); background: #fff6ea; }
.verdict ul, .verdict p { color: #111; }
.warning { border-left: 4px solid var(--damaged); background: #fff6ea; padding: 6px 10px; margin: 8px 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 10px; }
th, td { border: 1px solid #cfcfcf; padding: 3px 7px; text-align: left; vertical-align: top; }
th { background: #f3f3f3; font-weight: 600; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td.wrap { word-break: break-all; }
td.msg { white-space: pre-wrap; word-break: break-word; }
tr.bad td { background: #fdf1f1; }
.ok { color: var(--pass); font-weight: 600; }
.bad { color: var(--fail); font-weight: 600; }
.muted { color: var(--muted); }
.problems { color: var(--fail); margin: 0; padding-left: 18px; }
figure { margin: 14px 0 18px; }
figcaption { font-size: 13.5px; margin-bottom: 2px; }
figcaption strong { font-size: 15px; }
svg.plot { width: 100%; height: auto; display: block; }
svg.plot text { font: 13px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; fill: #333; }
.key { display: inline-block; width: 22px; height: 0; border-top: 3px solid; vertical-align: middle; margin: 0 4px 0 10px; }
.k-ref { border-color: var(--ref); } .k-cand { border-color: var(--cand); }
.k-div { border-color: var(--div); } .k-tol { border-top: 2px dashed #444; }
.k-diff { border-color: #333; border-top-width: 2px; } .k-miss { border-color: var(--miss); }
.k-extra { border-color: var(--extra); }
.legend { font-size: 12.5px; color: #333; }
footer { margin-top: 30px; border-top: 2px solid #333; padding-top: 8px; font-size: 13px; }
.sign { margin-top: 14px; }
.sign td { height: 44px; width: 33%; vertical-align: bottom; color: var(--muted); font-size: 12px; }
@page { size: A4; margin: 12mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 12px; }
  h2 { break-after: avoid; }
  h3 { break-after: avoid; }
  tr, figure, .verdict, .sign { break-inside: avoid; }
  thead { display: table-header-group; }
  .verdict .big { font-size: 44px; }
}
"#;

impl Page<'_> {
    fn render(&self) -> String {
        let o = self.outcome;
        let mut h = String::with_capacity(1 << 20);
        let verdict = o.verdict.to_string();
        let class = match o.verdict {
            Verdict::Pass => "v-pass",
            Verdict::Fail => "v-fail",
            Verdict::Damaged => "v-damaged",
        };
        let _ = write!(
            h,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>replaylog certification report: {verdict}</title>\n<style>{CSS}</style>\n</head>\n<body>\n\
             <h1>replaylog certification report</h1>\n<section class=\"verdict {class}\" id=\"verdict\">\n\
             <div class=\"big\">{verdict}</div>\n"
        );
        if o.reasons.is_empty() {
            h.push_str("<p>Every compared record is within tolerance; no key is missing or extra.</p>\n");
        } else {
            h.push_str("<ul>\n");
            for r in &o.reasons {
                let _ = writeln!(h, "<li>{}</li>", esc(r));
            }
            h.push_str("</ul>\n");
        }
        let _ = writeln!(
            h,
            "<p>Candidate <code>{}</code> compared with reference <code>{}</code>: {} records aligned by {}, {} outside \
             tolerance, {} missing, {} extra.</p>\n</section>",
            esc(&o.candidate.path.display().to_string()),
            esc(&o.reference.path.display().to_string()),
            count(o.compared()),
            esc(&align_text(&o.align)),
            count(o.differing()),
            count(o.streams.iter().map(|s| s.missing_count).sum::<u64>()),
            count(o.streams.iter().map(|s| s.extra_count).sum::<u64>()),
        );
        for p in self.changed {
            let _ = writeln!(
                h,
                "<p class=\"warning\">{} changed while this report was made (its record stream differs between the \
                 two passes): it is being written to; compare a copy or a finished capture.</p>",
                esc(&p.display().to_string())
            );
        }
        self.provenance(&mut h);
        self.options(&mut h);
        for (s, p) in o.streams.iter().zip(&self.plots.streams) {
            self.stream(&mut h, s, p);
        }
        self.footer(&mut h);
        h.push_str("</body>\n</html>\n");
        h
    }

    fn provenance(&self, h: &mut String) {
        let (a, b) = (&self.outcome.reference, &self.outcome.candidate);
        h.push_str(
            "<section id=\"inputs\">\n<h2>Inputs</h2>\n<table>\n<thead><tr><th></th><th>Reference (A)</th>\
             <th>Candidate (B)</th></tr></thead>\n<tbody>\n",
        );
        let row = |h: &mut String, name: &str, f: &dyn Fn(&Provenance) -> String, class: &str| {
            let _ = writeln!(h, "<tr><th>{name}</th><td{class}>{}</td><td{class}>{}</td></tr>", f(a), f(b));
        };
        row(h, "Path", &|p| format!("<code>{}</code>", esc(&p.path.display().to_string())), " class=\"wrap\"");
        row(h, "Kind", &|p| esc(&p.kind), "");
        row(h, "Records read", &|p| count(p.records), "");
        row(h, "Records with failure evidence", &|p| count(p.evidence_records), "");
        row(h, "Seqs", &|p| p.seqs.map_or("none".into(), |(x, y)| format!("{} – {}", count(x), count(y))), "");
        row(
            h,
            "Timestamps (ns)",
            &|p| {
                p.timestamps.map_or("none".into(), |(x, y)| {
                    format!("{} – {} ({} s)", count(x), count(y), num((y - x) as f64 * 1e-9))
                })
            },
            "",
        );
        row(
            h,
            "Lanes",
            &|p| {
                if p.lanes.is_empty() { "one stream".into() } else { esc(&p.lanes.join(", ")) }
            },
            "",
        );
        row(h, "Record size", &|p| p.record_bytes.map_or("any (plain journal)".into(), |n| format!("{n} bytes")), "");
        row(h, "Schema id", &|p| p.schema_id.map_or("none".into(), |s| format!("<code>{s:#018x}</code>")), "");
        row(
            h,
            "Stored layout",
            &|p| p.layout.as_ref().map_or("none".into(), |l| format!("<code>{}</code>", esc(l))),
            " class=\"wrap\"",
        );
        row(h, "SHA-256 of the records read", &|p| format!("<code>{}</code>", esc(&p.sha256)), " class=\"wrap\"");
        row(
            h,
            "Problems",
            &|p| {
                if p.problems.is_empty() {
                    "<span class=\"ok\">none found</span>".into()
                } else {
                    let mut s = String::from("<ul class=\"problems\">");
                    for x in &p.problems {
                        let _ = write!(s, "<li>{}</li>", esc(x));
                    }
                    s + "</ul>"
                }
            },
            " class=\"wrap\"",
        );
        h.push_str("</tbody>\n</table>\n</section>\n");
    }

    fn options(&self, h: &mut String) {
        let (o, opts) = (self.outcome, self.opts);
        h.push_str("<section id=\"options\">\n<h2>Comparison</h2>\n<table>\n<tbody>\n");
        let mut row = |name: &str, value: String| {
            let _ = writeln!(h, "<tr><th>{name}</th><td>{value}</td></tr>");
        };
        row(
            "Alignment",
            match &o.align {
                Align::Seq => "by seq: the record of each seq in A with the record of the same seq in B".into(),
                Align::Field(k) => format!(
                    "by the key field <code>{}</code>: a key one side lacks is one missing or extra record, the rest stays aligned",
                    esc(k)
                ),
            },
        );
        row(
            "Records decoded with",
            match (&o.layout, &opts.layout) {
                (Some(l), Some(_)) => format!("<code>{}</code> (given with --layout)", esc(l)),
                (Some(l), None) => format!("<code>{}</code>", esc(l)),
                (None, _) => "no layout: whole records compared byte for byte".into(),
            },
        );
        row("Equal when", "|a − b| ≤ abs + rel·|a| (a: the reference's value), or a = b".into());
        row("Float fields without their own tolerance", opts.default_float.to_string());
        row(
            "Field tolerances",
            if opts.tolerances.is_empty() {
                "none (integers exact)".into()
            } else {
                opts.tolerances
                    .iter()
                    .map(|(n, t)| format!("<code>{}</code>: {t}", esc(n)))
                    .collect::<Vec<_>>()
                    .join("; ")
                    + " (integers without one: exact)"
            },
        );
        row("Ignored fields", list_or(&o.ignored, "none"));
        row(
            "Failure evidence",
            if opts.ignore_evidence { "ignored".into() } else { "compared (kind, code and message)".into() },
        );
        row("NaN", if opts.nan_equal { "NaN equals NaN".into() } else { "NaN equals nothing, not even NaN".into() });
        row("Writer epochs", if opts.epochs { "compared".into() } else { "not compared (two runs differ)".into() });
        row("Candidate fields not in the reference (not compared)", list_or(&o.uncompared, "none"));
        row(
            "Listed per stream",
            format!("the first {} divergences, missing and extra keys and evidence records", opts.limit),
        );
        row(
            "Plots",
            format!(
                "up to {} pixel columns per plot; a column covering many keys shows the minimum and maximum of each side and \
                 the largest |a − b|, and marks every divergence, evidence, missing or extra key in it",
                self.columns
            ),
        );
        h.push_str("</tbody>\n</table>\n</section>\n");
    }

    fn stream(&self, h: &mut String, s: &StreamOutcome, p: &StreamPlots) {
        let key_name = align_text(&self.outcome.align);
        let title = match &s.lane {
            Some(l) => format!("Lane <code>{}</code>", esc(l)),
            None => "Records".into(),
        };
        let status = if s.passes() { "<span class=\"ok\">pass</span>" } else { "<span class=\"bad\">fail</span>" };
        let _ = writeln!(h, "<section class=\"stream\">\n<h2>{title} — {status}</h2>");
        if let Some(side) = s.only_in {
            let _ = writeln!(h, "<p class=\"bad\">Only the {side} has this lane.</p>");
        }
        let _ = writeln!(
            h,
            "<table>\n<tbody>\n<tr><th>Records aligned</th><td class=\"n\">{}</td><th>Outside tolerance</th>\
             <td class=\"n\">{}</td><th>Keys ({})</th><td class=\"n\">{}</td></tr>\n<tr><th>Missing from the candidate</th>\
             <td class=\"n\">{}</td><th>Extra in the candidate</th><td class=\"n\">{}</td><th>Evidence records A / B</th>\
             <td class=\"n\">{} / {}</td></tr>\n</tbody>\n</table>",
            count(s.compared),
            count(s.differing),
            esc(&key_name),
            s.keys.map_or("none".into(), |(x, y)| format!("{} – {}", key(x), key(y))),
            count(s.missing_count),
            count(s.extra_count),
            count(p.evidence_count[0]),
            count(p.evidence_count[1]),
        );
        // Per-field summary.
        let _ = writeln!(
            h,
            "<h3>Fields</h3>\n<table>\n<thead><tr><th>Field</th><th>Type</th><th>Tolerance</th><th class=\"n\">Divergences</th>\
             <th class=\"n\">First at {k}</th><th class=\"n\">Last at {k}</th><th class=\"n\">Max |a − b|</th>\
             <th class=\"n\">Max rel</th><th>Result</th></tr></thead>\n<tbody>",
            k = esc(&key_name)
        );
        for f in &s.fields {
            let result = if f.ignored {
                "<span class=\"muted\">ignored</span>"
            } else if f.divergences > 0 {
                "<span class=\"bad\">outside</span>"
            } else {
                "<span class=\"ok\">within</span>"
            };
            let (ma, mr) =
                if f.numeric && !f.ignored { (num(f.max_abs), num(f.max_rel)) } else { (String::new(), String::new()) };
            let _ = writeln!(
                h,
                "<tr{}><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
                 <td class=\"n\">{}</td><td class=\"n\">{ma}</td><td class=\"n\">{mr}</td><td>{result}</td></tr>",
                if f.divergences > 0 { " class=\"bad\"" } else { "" },
                esc(&f.name),
                esc(&f.ty),
                if f.ignored { "—".into() } else { f.tolerance.to_string() },
                if f.ignored { "—".into() } else { count(f.divergences) },
                f.first_key.map_or(String::new(), key),
                f.last_key.map_or(String::new(), key),
            );
        }
        h.push_str("</tbody>\n</table>\n");
        // Plots.
        if !p.series.is_empty() || !p.unplotted.is_empty() {
            h.push_str("<h3>Plots</h3>\n");
        }
        if let Some(bins) = p.bins {
            let per = bins.keys_per_col();
            let _ = writeln!(
                h,
                "<p class=\"legend\">Against {}: <span class=\"key k-ref\"></span>reference (A) \
                 <span class=\"key k-cand\"></span>candidate (B) <span class=\"key k-div\"></span>outside tolerance \
                 <span class=\"key k-diff\"></span>|a − b| <span class=\"key k-tol\"></span>tolerance abs + rel·|a| \
                 <span class=\"key k-miss\"></span>missing <span class=\"key k-extra\"></span>extra; \
                 evidence that differs between the sides is red in its row. {}</p>",
                esc(&key_name),
                if per > 1 {
                    format!(
                        "Each of the {} pixel columns covers about {} keys and shows their minimum and maximum.",
                        count(bins.cols as u64),
                        count(per)
                    )
                } else {
                    "One pixel column per key.".to_string()
                }
            );
        }
        for x in &p.series {
            let f = &s.fields[x.field];
            let _ = writeln!(
                h,
                "<figure>\n<figcaption><strong><code>{}</code></strong> ({}, tolerance {}): {} {}{}</figcaption>",
                esc(&f.name),
                esc(&f.ty),
                f.tolerance,
                count(f.divergences),
                if f.divergences == 1 { "divergence" } else { "divergences" },
                f.first_key.map_or(String::new(), |k| format!(", the first at {} {}", esc(&key_name), key(k)))
            );
            match p.bins {
                Some(bins) => plot(h, &bins, p, x, f, &key_name),
                None => h.push_str(
                    "<svg class=\"plot\" viewBox=\"0 0 1116 40\"><text x=\"90\" y=\"24\">no records</text></svg>\n",
                ),
            }
            h.push_str("</figure>\n");
        }
        if !p.unplotted.is_empty() {
            let list: Vec<String> = p
                .unplotted
                .iter()
                .map(|u| format!("<code>{}</code> ({})", esc(&s.fields[u.field].name), u.why))
                .collect();
            let _ = writeln!(h, "<p class=\"muted\">Not plotted: {}.</p>", list.join(", "));
        }
        // Missing and extra keys.
        if s.missing_count > 0 || s.extra_count > 0 {
            h.push_str("<h3>Missing and extra keys</h3>\n");
            for (what, n, keys) in [
                ("Missing from the candidate (only the reference has them)", s.missing_count, &s.missing),
                ("Extra in the candidate (only the candidate has them)", s.extra_count, &s.extra),
            ] {
                if n == 0 {
                    continue;
                }
                let shown: Vec<String> = keys.iter().map(|k| key(*k)).collect();
                let _ = writeln!(
                    h,
                    "<p>{what}: {} {}{}: <span class=\"mono\">{}</span>{}</p>",
                    count(n),
                    if n == 1 { "key" } else { "keys" },
                    if (keys.len() as u64) < n { format!(", the first {}", keys.len()) } else { String::new() },
                    shown.join(", "),
                    if (keys.len() as u64) < n { " …" } else { "" }
                );
            }
        }
        // Divergences.
        if !s.divergences.is_empty() {
            let _ = writeln!(
                h,
                "<h3>First divergences ({} of {} records outside tolerance)</h3>\n<table>\n<thead><tr><th class=\"n\">{}</th>\
                 <th>Field</th><th class=\"n\">Reference (A)</th><th class=\"n\">Candidate (B)</th><th class=\"n\">|a − b|</th>\
                 <th class=\"n\">rel</th></tr></thead>\n<tbody>",
                count(s.divergences.len() as u64),
                count(s.differing),
                esc(&key_name)
            );
            for d in &s.divergences {
                let _ = writeln!(
                    h,
                    "<tr><td class=\"n\">{}</td><td><code>{}</code></td><td class=\"n msg\">{}</td><td class=\"n msg\">{}</td>\
                     <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
                    key(d.key),
                    esc(&d.field),
                    esc(&d.reference),
                    esc(&d.candidate),
                    d.abs.map_or(String::new(), num),
                    d.rel.map_or(String::new(), num),
                );
            }
            h.push_str("</tbody>\n</table>\n");
        }
        // Evidence.
        if !p.evidence.is_empty() {
            let _ = writeln!(
                h,
                "<h3>Failure evidence (the first {} of {} keys with evidence)</h3>\n<table>\n<thead><tr>\
                 <th class=\"n\">{}</th><th>Reference (A)</th><th>Candidate (B)</th></tr></thead>\n<tbody>",
                count(p.evidence.len() as u64),
                count(p.evidence_keys),
                esc(&key_name)
            );
            let text = |e: &Option<ReplayFailureEvidence>| match e {
                Some(e) => format!("{} code {}: {}", esc(&e.kind.to_string()), e.code, esc(&e.message)),
                None => "<span class=\"muted\">none</span>".into(),
            };
            for e in &p.evidence {
                let _ = writeln!(
                    h,
                    "<tr{}><td class=\"n\">{}</td><td class=\"msg\">{}</td><td class=\"msg\">{}</td></tr>",
                    if e.reference != e.candidate { " class=\"bad\"" } else { "" },
                    key(e.key),
                    text(&e.reference),
                    text(&e.candidate)
                );
            }
            h.push_str("</tbody>\n</table>\n");
        }
        h.push_str("</section>\n");
    }

    fn footer(&self, h: &mut String) {
        let _ = writeln!(
            h,
            "<footer>\n<p>Made {} by replaylog {} in {} s. Command: <code>{}</code></p>\n\
             <table class=\"sign\">\n<tbody><tr><td>Reviewed by (name)</td><td>Date</td><td>Signature</td></tr></tbody>\n\
             </table>\n</footer>",
            crate::inspect::utc(self.generated_ms),
            env!("CARGO_PKG_VERSION"),
            format_args!("{:.2}", self.elapsed_s),
            esc(&self.command)
        );
    }
}

fn align_text(a: &Align) -> String {
    match a {
        Align::Seq => "seq".into(),
        Align::Field(k) => k.clone(),
    }
}

fn list_or(items: &[String], none: &str) -> String {
    if items.is_empty() {
        none.into()
    } else {
        items.iter().map(|i| format!("<code>{}</code>", esc(i))).collect::<Vec<_>>().join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// SVG plots

/// Plot geometry, in SVG user units (the plot scales to the page width).
const W: f64 = 1116.0;
const LEFT: f64 = 100.0;
const PLOT_W: f64 = 1000.0;
const STRIP_TOP: f64 = 6.0;
const ROW: f64 = 15.0;
const VALUE_TOP: f64 = 74.0;
const VALUE_H: f64 = 230.0;
const DIFF_TOP: f64 = 334.0;
const DIFF_H: f64 = 120.0;
const HEIGHT: f64 = 498.0;

/// `step` rounded to 1, 2 or 5 times a power of ten.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    let m = raw / p;
    p * if m <= 1.0 {
        1.0
    } else if m <= 2.0 {
        2.0
    } else if m <= 5.0 {
        5.0
    } else {
        10.0
    }
}

/// A marker row of the strip above a plot: its label, its colour, and whether a column is marked.
type Marker<'a> = (&'static str, &'static str, Box<dyn Fn(usize) -> bool + 'a>);

/// One numeric field's plot: the marker strip, the values of both sides, and `|a−b|` against
/// the tolerance on a log scale.
fn plot(h: &mut String, bins: &Bins, p: &StreamPlots, x: &Series, f: &FieldSummary, key_name: &str) {
    let cols = bins.cols;
    let xc = |c: usize| LEFT + (c as f64 + 0.5) * PLOT_W / cols as f64;
    let col_w = (PLOT_W / cols as f64).max(1.5);
    let _ = write!(
        h,
        "<svg class=\"plot\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {HEIGHT}\" role=\"img\">\n\
         <rect x=\"{LEFT}\" y=\"{VALUE_TOP}\" width=\"{PLOT_W}\" height=\"{VALUE_H}\" fill=\"none\" stroke=\"#999\"/>\n\
         <rect x=\"{LEFT}\" y=\"{DIFF_TOP}\" width=\"{PLOT_W}\" height=\"{DIFF_H}\" fill=\"none\" stroke=\"#999\"/>\n"
    );
    // Marker strip: this field's divergences, evidence on each side, missing and extra keys.
    let rows: [Marker<'_>; 4] = [
        ("outside tol.", "#d32f2f", Box::new(|c| x.diverged[c])),
        ("evidence A", "#1f5fbf", Box::new(|c| p.flags[c] & COL_EVIDENCE_REF != 0)),
        ("evidence B", "#e07000", Box::new(|c| p.flags[c] & COL_EVIDENCE_CAND != 0)),
        ("missing/extra", "#7b1fa2", Box::new(|c| p.flags[c] & COL_MISSING != 0)),
    ];
    for (i, (label, color, on)) in rows.iter().enumerate() {
        let y = STRIP_TOP + i as f64 * ROW;
        let _ = write!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">{label}</text>\
             <line x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"#eee\"/>",
            LEFT - 6.0,
            y + 11.0,
            LEFT + PLOT_W,
            y + 7.0,
            y + 7.0
        );
        let marks = |mark: &dyn Fn(usize) -> bool| {
            let mut d = String::new();
            for c in (0..cols).filter(|&c| mark(c)) {
                let _ = write!(d, "M{:.1} {:.1}v{}", xc(c), y + 1.0, ROW - 3.0);
            }
            d
        };
        let mut layers = vec![(marks(on), *color, col_w)];
        if i == 3 {
            layers.push((marks(&|c| p.flags[c] & COL_EXTRA != 0), "#00897b", col_w));
        }
        if i == 1 || i == 2 {
            // Evidence the other side does not hold as it is: red, over the side's colour.
            layers.push((marks(&|c| on(c) && p.flags[c] & COL_EVIDENCE_DIFFERS != 0), "#d32f2f", col_w.max(3.0)));
        }
        for (d, color, width) in layers.into_iter().filter(|l| !l.0.is_empty()) {
            let _ = write!(h, "<path d=\"{d}\" stroke=\"{color}\" stroke-width=\"{width:.1}\"/>");
        }
        h.push('\n');
    }

    // Values: both sides' minimum and maximum per column.
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for c in 0..cols {
        lo = lo.min(x.ref_min[c]).min(x.cand_min[c]);
        hi = hi.max(x.ref_max[c]).max(x.cand_max[c]);
    }
    if lo > hi {
        let _ = writeln!(h, "<text x=\"{}\" y=\"{}\">no finite values</text>", LEFT + 12.0, VALUE_TOP + VALUE_H / 2.0);
    } else {
        if lo == hi {
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            (lo, hi) = (lo - pad, hi + pad);
        } else {
            let pad = (hi - lo) * 0.04;
            (lo, hi) = (lo - pad, hi + pad);
        }
        let y = |v: f64| VALUE_TOP + VALUE_H - (v - lo) / (hi - lo) * VALUE_H;
        // Value ticks.
        let step = nice_step((hi - lo) / 5.0);
        let mut t = (lo / step).ceil() * step;
        let mut ticks = String::new();
        while t <= hi {
            let yy = y(t);
            let _ = write!(
                h,
                "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LEFT - 6.0,
                yy + 4.5,
                num(if t.abs() < step * 1e-9 { 0.0 } else { t })
            );
            let _ = write!(ticks, "M{LEFT} {yy:.1}h{PLOT_W}");
            t += step;
        }
        let _ = writeln!(h, "<path d=\"{ticks}\" stroke=\"#e3e3e3\"/>");
        // Divergent columns, shaded behind the lines.
        let mut d = String::new();
        for c in (0..cols).filter(|&c| x.diverged[c]) {
            let _ = write!(d, "M{:.1} {VALUE_TOP}v{VALUE_H}", xc(c));
        }
        if !d.is_empty() {
            let _ =
                writeln!(h, "<path d=\"{d}\" stroke=\"#d32f2f\" stroke-opacity=\"0.22\" stroke-width=\"{col_w:.1}\"/>");
        }
        for (min, max, color, width) in
            [(&x.ref_min, &x.ref_max, "#1f5fbf", 3.0), (&x.cand_min, &x.cand_max, "#e07000", 1.3)]
        {
            let mut d = String::new();
            let mut pen = false;
            for c in 0..cols {
                if min[c] > max[c] {
                    pen = false;
                    continue;
                }
                let _ = write!(
                    d,
                    "{}{:.1} {:.1}L{:.1} {:.1}",
                    if pen { "L" } else { "M" },
                    xc(c),
                    y(min[c]),
                    xc(c),
                    y(max[c])
                );
                pen = true;
            }
            let _ = writeln!(
                h,
                "<path d=\"{d}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"{width}\" stroke-linejoin=\"round\" \
                 stroke-linecap=\"round\"/>"
            );
        }
    }
    let _ = writeln!(
        h,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 {} {})\">value</text>",
        14.0,
        VALUE_TOP + VALUE_H / 2.0,
        14.0,
        VALUE_TOP + VALUE_H / 2.0
    );

    // |a−b| and the tolerance, log scale; zero at the bottom.
    let positive = (0..cols).flat_map(|c| [x.diff[c], x.tol[c]]).filter(|v| v.is_finite() && *v > 0.0);
    let (mut pmin, mut pmax) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in positive {
        pmin = pmin.min(v);
        pmax = pmax.max(v);
    }
    let (e_lo, e_hi) = if pmin > pmax {
        (-1, 0)
    } else {
        let hi = pmax.log10().ceil() as i32;
        let lo = (pmin.log10().floor() as i32 - 1).max(hi - 18);
        (lo, hi.max(lo + 2))
    };
    let ly = |v: f64| {
        let e = if v > 0.0 { v.log10().clamp(e_lo as f64, e_hi as f64) } else { e_lo as f64 };
        DIFF_TOP + DIFF_H - (e - e_lo as f64) / (e_hi - e_lo) as f64 * DIFF_H
    };
    let every = ((e_hi - e_lo) as f64 / 5.0).ceil().max(1.0) as i32;
    let mut grid = String::new();
    let mut e = e_hi;
    while e >= e_lo {
        let yy = ly(10f64.powi(e));
        let label = if e == e_lo { format!("≤1e{e}") } else { format!("1e{e}") };
        let _ = write!(
            h,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            LEFT - 6.0,
            yy + 4.5,
            label.replace('-', "−")
        );
        let _ = write!(grid, "M{LEFT} {yy:.1}h{PLOT_W}");
        e -= every;
    }
    let _ = writeln!(h, "<path d=\"{grid}\" stroke=\"#e3e3e3\"/>");
    let series = |vals: &dyn Fn(usize) -> Option<f64>| {
        let mut d = String::new();
        let mut pen = false;
        for c in 0..cols {
            match vals(c) {
                Some(v) => {
                    let _ = write!(d, "{}{:.1} {:.1}", if pen { "L" } else { "M" }, xc(c), ly(v));
                    if !pen {
                        let _ = write!(d, "h0.01");
                    }
                    pen = true;
                }
                None => pen = false,
            }
        }
        d
    };
    let tol = series(&|c| Some(x.tol[c]).filter(|v| v.is_finite() && *v > 0.0));
    if !tol.is_empty() {
        let _ = writeln!(
            h,
            "<path d=\"{tol}\" fill=\"none\" stroke=\"#444\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
        );
    }
    let diff = series(&|c| Some(x.diff[c]).filter(|v| *v >= 0.0));
    let _ = writeln!(
        h,
        "<path d=\"{diff}\" fill=\"none\" stroke=\"#333\" stroke-width=\"1.3\" stroke-linejoin=\"round\" stroke-linecap=\"round\"/>"
    );
    let mut dots = String::new();
    for c in (0..cols).filter(|&c| x.diverged[c]) {
        let v = if x.diff[c] >= 0.0 { x.diff[c] } else { 10f64.powi(e_hi) };
        let _ = write!(dots, "M{:.1} {:.1}h0", xc(c), ly(v));
    }
    if !dots.is_empty() {
        let _ = writeln!(h, "<path d=\"{dots}\" stroke=\"#d32f2f\" stroke-width=\"7\" stroke-linecap=\"round\"/>");
    }
    let _ = writeln!(
        h,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 {} {})\">|a − b|</text>",
        14.0,
        DIFF_TOP + DIFF_H / 2.0,
        14.0,
        DIFF_TOP + DIFF_H / 2.0
    );
    if f.tolerance.is_exact() {
        let _ = writeln!(
            h,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" font-size=\"11\">tolerance: exact (any |a − b| &gt; 0 is outside)</text>",
            LEFT + PLOT_W - 6.0,
            DIFF_TOP + 14.0
        );
    }

    // Key axis.
    let span = bins.span as f64;
    let kx = |k: i128| LEFT + ((k - bins.lo) as f64 + 0.5) / span * PLOT_W;
    let step = (nice_step(span / 8.0) as i128).max(1);
    let first = bins.lo.div_euclid(step) * step + if bins.lo.rem_euclid(step) == 0 { 0 } else { step };
    let hi_key = bins.lo + bins.span as i128 - 1;
    let mut k = first;
    let mut ticks = String::new();
    while k <= hi_key {
        let xx = kx(k);
        let _ = write!(
            h,
            "<text x=\"{xx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            DIFF_TOP + DIFF_H + 17.0,
            key(k)
        );
        let _ = write!(ticks, "M{xx:.1} {VALUE_TOP}v{VALUE_H}M{xx:.1} {DIFF_TOP}v{}", DIFF_H + 4.0);
        k += step;
    }
    let _ = writeln!(h, "<path d=\"{ticks}\" stroke=\"#000\" stroke-opacity=\"0.08\"/>");
    let _ = writeln!(
        h,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n</svg>",
        LEFT + PLOT_W / 2.0,
        DIFF_TOP + DIFF_H + 38.0,
        esc(key_name)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_markup_character() {
        assert_eq!(
            esc("<script>x='1' & \"y\"</script>"),
            "&lt;script&gt;x=&#39;1&#39; &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }

    #[test]
    fn bins_cover_the_key_range() {
        let b = Bins::new((10, 10 + 9_999_999), 1000);
        assert_eq!((b.cols, b.col(10), b.col(10 + 9_999_999), b.col(10 + 9_999)), (1000, 0, 999, 0));
        assert_eq!(b.col(10 + 10_000), 1);
        assert_eq!(b.col(-5), 0, "clamped");
        let small = Bins::new((-3, 3), 1000);
        assert_eq!((small.cols, small.col(-3), small.col(3)), (7, 0, 6));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(-0.25), "−0.25");
        assert_eq!(num(1e-12), "1.000e−12");
        assert_eq!(num(123456.0), "123456");
        assert_eq!(count(10_000_000u64), "10,000,000");
        assert_eq!(key(-1234), "−1,234");
    }
}
