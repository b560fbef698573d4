//! `replaylog diff A B [--tol FIELD=ABS] [--rtol FIELD=REL] [--ignore FIELD] [--align seq|FIELD]
//! [--json] ...`: the certification check "does the candidate run B match the reference run A",
//! through the library's [`replaylog::compare`] (its module docs hold the exact semantics).
//!
//! A and B may each be a ring, a recorder directory, an archive journal (the archiver's, or
//! `export --to journal:DIR`), a plain journal or one segment file. Records are aligned by seq
//! (default) or by an integer key field (`--align tick`), so one dropped record is one missing
//! key and the rest stays aligned. Each field is compared by name; floats within `--tol`/`--rtol`
//! (`|a-b| <= abs + rel*|a|`, `*` for every float field), integers exactly unless given a
//! tolerance, NaN equal to NaN only with `--nan-equal`; `--ignore FIELD` leaves a field out,
//! `--ignore-evidence` the failure evidence. Recorder directories (and archives of lanes)
//! compare lane by lane, by name. A plain journal compared with a ring or an archive is read as
//! archive entries of the other side's record size; two plain journals compare entry by entry
//! (aligned by LSN).
//!
//! The report: both sides' provenance (kind, records, seqs, SHA-256 of the record stream), per
//! stream the first divergence (every differing field of that record), the first `--limit`
//! divergences, missing and extra keys, the per-field summary, and a result line. `--json`
//! prints the whole outcome as one JSON object instead.
//!
//! Exit status: 0 within tolerance, 1 outside it (or a side damaged or empty: the comparison ran
//! over what was readable), 2 error (a tolerance, ignore or key naming a field the layout
//! lacks, captures that cannot be compared).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use replaylog::compare::{self, Align, CompareError, Options, Outcome, Provenance, StreamOutcome, Tolerance, Verdict};
use serde_json::{Value, json};

use crate::error::{CliError, EXIT_PROBLEMS, Result};
use crate::input;
use crate::output::{LAYOUT_HELP, Out};

/// The comparison options `diff` and `report` share.
#[derive(Args, Debug, Clone)]
pub struct CompareArgs {
    #[arg(long, value_name = "SPEC", help = LAYOUT_HELP)]
    pub layout: Option<String>,
    /// Absolute tolerance of FIELD (`*`: every float field without its own); repeatable.
    #[arg(long = "tol", value_name = "FIELD=ABS")]
    pub tol: Vec<String>,
    /// Relative tolerance of FIELD, a fraction of the reference value (`*`: every float field);
    /// repeatable.
    #[arg(long = "rtol", value_name = "FIELD=REL")]
    pub rtol: Vec<String>,
    /// Leave FIELD out of the comparison (e.g. a timestamp); repeatable.
    #[arg(long, value_name = "FIELD")]
    pub ignore: Vec<String>,
    /// Leave failure evidence out of the comparison.
    #[arg(long)]
    pub ignore_evidence: bool,
    /// NaN equals NaN.
    #[arg(long)]
    pub nan_equal: bool,
    /// Also compare the writer epoch of each record.
    #[arg(long)]
    pub epochs: bool,
    /// Pair records by seq, or by the value of an integer field (e.g. `tick`).
    #[arg(long, value_name = "seq|FIELD", default_value = "seq")]
    pub align: String,
    /// Show at most N divergences (and N missing and extra keys) per stream; all are counted.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub limit: usize,
}

impl CompareArgs {
    /// The library options; `a` names the reference in errors.
    pub fn options(&self, a: &Path) -> Result<Options> {
        let usage = |what: String, hint: &str| CliError::new(a, what, hint);
        let layout =
            match &self.layout {
                Some(s) => Some(replaylog::Layout::parse_spec(s).map_err(|e| {
                    usage(format!("bad --layout: {e}"), "e.g. --layout \"tick:u64,value:f64,flags:u32\"")
                })?),
                None => None,
            };
        let mut opts = Options {
            layout,
            nan_equal: self.nan_equal,
            ignore: self.ignore.iter().cloned().collect(),
            ignore_evidence: self.ignore_evidence,
            epochs: self.epochs,
            align: if self.align == "seq" { Align::Seq } else { Align::Field(self.align.clone()) },
            limit: self.limit,
            ..Options::default()
        };
        for (flag, list, rel) in [("--tol", &self.tol, false), ("--rtol", &self.rtol, true)] {
            for item in list {
                let Some((field, v)) = item.split_once('=') else {
                    return Err(usage(format!("bad {flag} {item:?}: expected FIELD=VALUE"), "e.g. --rtol value=1e-9"));
                };
                let v: f64 = v.trim().parse().ok().filter(|v: &f64| v.is_finite() && *v >= 0.0).ok_or_else(|| {
                    usage(
                        format!("bad {flag} {item:?}: the value must be a finite number >= 0"),
                        "e.g. --tol value=1e-6",
                    )
                })?;
                let t = if field == "*" {
                    &mut opts.default_float
                } else {
                    opts.tolerances.entry(field.to_string()).or_insert(Tolerance::EXACT)
                };
                if rel {
                    t.rel = v;
                } else {
                    t.abs = v;
                }
            }
        }
        Ok(opts)
    }
}

/// Options of `replaylog diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The reference capture (ring file, journal directory, recorder directory or segment file).
    pub a: PathBuf,
    /// The candidate capture to compare with it.
    pub b: PathBuf,
    #[command(flatten)]
    pub compare: CompareArgs,
    /// Print the whole outcome as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// A comparison error in the CLI's terms (status 2), naming the side's path.
pub fn compare_err(a: &Path, b: &Path, e: CompareError) -> CliError {
    match e {
        CompareError::Open { side, source } => {
            CliError::lib(if side == compare::Side::Reference { a } else { b }, source)
        }
        CompareError::Usage(what) => CliError::new(a, what, "see `replaylog diff --help`"),
        CompareError::Incompatible(what) => CliError::new(b, what, "nothing was compared"),
        e @ CompareError::KeyNotIncreasing { .. } => {
            CliError::new(a, e.to_string(), "align by seq, or by a key that increases")
        }
        other => CliError::new(a, other.to_string(), ""),
    }
}

/// Opens one side (`p`, of `a` and `b`): a local capture, or the URL of a shipped one.
fn open_side(p: &Path, side: compare::Side, a: &Path, b: &Path) -> Result<replaylog::capture::Capture> {
    if crate::remote::is_url(p) {
        return crate::remote::capture(p);
    }
    replaylog::capture::Capture::open(p).map_err(|source| compare_err(a, b, CompareError::Open { side, source }))
}

/// [`compare::compare_with`] over local paths or URLs of shipped captures.
pub fn compare_paths(
    a: &Path,
    b: &Path,
    opts: &compare::Options,
    observe: impl FnMut(&compare::Pair<'_>),
) -> Result<Outcome> {
    let ca = open_side(a, compare::Side::Reference, a, b)?;
    let cb = open_side(b, compare::Side::Candidate, a, b)?;
    compare::compare_captures(&ca, &cb, opts, observe).map_err(|e| compare_err(a, b, e))
}

/// Opens both sides' recorder directories the CLI's way first, so a lane that cannot be read
/// with the others is named in the CLI's words (status 2) before anything is compared.
pub fn check_inputs(a: &Path, b: &Path) -> Result<()> {
    if crate::remote::is_url(a) || crate::remote::is_url(b) {
        // A shipped capture is a journal: its checks happen as it is read.
        return Ok(());
    }
    for p in [a, b] {
        if input::detect(p)? == replaylog::Kind::RecorderDir {
            input::check_lanes(&input::open_recorder(p)?)?;
        }
    }
    let (ka, kb) = (input::detect(a)?, input::detect(b)?);
    let ring_vs_dir =
        |x: &replaylog::Kind, y: &replaylog::Kind| *x == replaylog::Kind::Ring && *y == replaylog::Kind::RecorderDir;
    if ring_vs_dir(&ka, &kb) || ring_vs_dir(&kb, &ka) {
        let ring = if ka == replaylog::Kind::Ring { a } else { b };
        return Err(CliError::new(
            ring,
            "a ring cannot be compared with a recorder directory",
            "compare the ring with one lane's file, DIR/NAME.ring",
        ));
    }
    Ok(())
}

/// The key's name in text: `seq`, `lsn` for two plain journals, or the key field.
fn key_name(o: &Outcome) -> String {
    let plain = |p: &Provenance| p.record_bytes.is_none();
    match &o.align {
        Align::Seq if plain(&o.reference) && plain(&o.candidate) => "lsn".into(),
        a => a.to_string(),
    }
}

fn describe(p: &Provenance) -> String {
    let mut parts = Vec::new();
    if let Some(rb) = p.record_bytes {
        parts.push(format!("{rb}-byte records"));
    }
    parts.push(format!("{} records", p.records));
    if let Some((lo, hi)) = p.seqs {
        parts.push(format!("seqs {lo}..={hi}"));
    }
    if !p.lanes.is_empty() {
        parts.push(format!("lanes {}", p.lanes.join(", ")));
    }
    parts.push(format!("sha256 {}", p.sha256));
    format!("{} {} ({})", p.kind, p.path.display(), parts.join(", "))
}

fn num(v: f64) -> String {
    if v.is_infinite() { "inf".into() } else { format!("{v:.6e}") }
}

/// The first event of a stream by key: its first divergent record's fields, or a key only one
/// side has.
fn first_event(s: &StreamOutcome, key: &str) -> Option<(i128, Vec<String>)> {
    let div = s.divergences.first().map(|d| d.key);
    let miss = s.missing.first().copied();
    let extra = s.extra.first().copied();
    let at = [div, miss, extra].into_iter().flatten().min()?;
    if div == Some(at) {
        let lines = s
            .divergences
            .iter()
            .filter(|d| d.key == at)
            .map(|d| {
                let err = match (d.abs, d.rel) {
                    (Some(a), Some(r)) => format!(" (|a-b| {}, rel {})", num(a), num(r)),
                    _ => String::new(),
                };
                let what = if matches!(d.field.as_str(), "evidence" | "epoch") || d.field.starts_with("bytes") {
                    d.field.clone()
                } else {
                    format!("field {}", d.field)
                };
                format!("{what}: A={} B={}{err}", d.reference, d.candidate)
            })
            .collect();
        Some((at, lines))
    } else if miss == Some(at) {
        Some((at, vec![format!("only A has {key} {at}")]))
    } else {
        Some((at, vec![format!("only B has {key} {at}")]))
    }
}

fn counts(s: &StreamOutcome, key: &str, lanes: bool) -> String {
    if lanes {
        format!(
            "{} records compared, {} differ; {} only in A, {} only in B",
            s.compared, s.differing, s.missing_count, s.extra_count
        )
    } else {
        format!(
            "{} records compared (same {key} on both sides), {} differ; {} only in A, {} only in B",
            s.compared, s.differing, s.missing_count, s.extra_count
        )
    }
}

fn text(o: &Outcome, opts: &Options, out: &mut Out) -> Result<()> {
    out.line(format!("A: {}", describe(&o.reference)))?;
    out.line(format!("B: {}", describe(&o.candidate)))?;
    let key = key_name(o);
    let mut tol: Vec<String> = opts.tolerances.iter().map(|(n, t)| format!("{n} {t}")).collect();
    if !opts.default_float.is_exact() {
        tol.push(format!("other floats {}", opts.default_float));
    }
    let mut how = format!("aligned by {key}");
    if !tol.is_empty() {
        how += &format!("; tolerances: {}", tol.join(", "));
    }
    if !o.ignored.is_empty() || opts.ignore_evidence {
        let mut ig = o.ignored.clone();
        if opts.ignore_evidence {
            ig.push("evidence".into());
        }
        how += &format!("; ignored: {}", ig.join(", "));
    }
    out.line(how)?;
    if !o.uncompared.is_empty() {
        out.line(format!("note: fields only the candidate's layout has, not compared: {}", o.uncompared.join(", ")))?;
    }
    let lanes = o.streams.iter().any(|s| s.lane.is_some());
    let indent = if lanes { "  " } else { "" };
    for s in &o.streams {
        if let Some(lane) = &s.lane {
            match s.only_in {
                Some(side) => {
                    let (who, n) = match side {
                        compare::Side::Reference => ("A", s.missing_count),
                        compare::Side::Candidate => ("B", s.extra_count),
                    };
                    out.line(format!("lane {lane}: only in {who} ({n} records)"))?;
                    continue;
                }
                None => out.line(format!(
                    "lane {lane}: {} ({})",
                    if s.passes() { "identical" } else { "differs" },
                    counts(s, &key, true)
                ))?,
            }
        }
        if let Some((at, lines)) = first_event(s, &key) {
            out.line(format!("{indent}first divergence at {key} {at}:"))?;
            for l in lines {
                out.line(format!("{indent}  {l}"))?;
            }
        }
        if s.divergences.len() > 1 {
            out.line(format!(
                "{indent}divergences (first {} of {} fields' records):",
                s.divergences.len(),
                total_divergences(s)
            ))?;
            for d in &s.divergences {
                out.line(format!("{indent}  {key} {} {}: A={} B={}", d.key, d.field, d.reference, d.candidate))?;
            }
        }
        for (what, keys, n) in [("only in A", &s.missing, s.missing_count), ("only in B", &s.extra, s.extra_count)] {
            if n > 1 {
                let shown: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
                let more = if n > keys.len() as u64 {
                    format!(" (and {} more)", n - keys.len() as u64)
                } else {
                    String::new()
                };
                out.line(format!("{indent}{key}s {what}: {}{more}", shown.join(", ")))?;
            }
        }
        let diverging: Vec<_> =
            s.fields.iter().filter(|f| f.divergences > 0 || (!f.tolerance.is_exact() && f.numeric)).collect();
        if !diverging.is_empty() {
            out.line(format!("{indent}fields:"))?;
            for f in diverging {
                let range = match (f.first_key, f.last_key) {
                    (Some(x), Some(y)) => format!(", {key} {x}..={y}"),
                    _ => String::new(),
                };
                let err = if f.numeric {
                    format!(", max |a-b| {}, max rel {}", num(f.max_abs), num(f.max_rel))
                } else {
                    String::new()
                };
                let ty = if f.ty == f.name { String::new() } else { format!(" {}", f.ty) };
                out.line(format!(
                    "{indent}  {}{ty} ({}): {} divergent{range}{err}",
                    f.name, f.tolerance, f.divergences
                ))?;
            }
        }
    }
    let total = StreamOutcome {
        compared: o.compared(),
        differing: o.differing(),
        missing_count: o.streams.iter().filter(|s| s.only_in.is_none()).map(|s| s.missing_count).sum(),
        extra_count: o.streams.iter().filter(|s| s.only_in.is_none()).map(|s| s.extra_count).sum(),
        ..o.streams[0].clone()
    };
    if lanes {
        out.line(format!(
            "summary: {} lanes, {} differ; {} records compared (same lane and {key} on both sides), {} differ; {} only in A, {} only in B",
            o.streams.len(),
            o.streams.iter().filter(|s| !s.passes()).count(),
            total.compared,
            total.differing,
            total.missing_count,
            total.extra_count
        ))?;
    } else {
        out.line(format!("summary: {}", counts(&total, &key, false)))?;
    }
    for (side, p) in [("A", &o.reference), ("B", &o.candidate)] {
        for problem in &p.problems {
            out.line(format!("problem in {side}: {problem}"))?;
        }
    }
    for r in &o.reasons {
        out.line(format!("reason: {r}"))?;
    }
    let exact = opts.tolerances.is_empty()
        && opts.default_float.is_exact()
        && opts.ignore.is_empty()
        && !opts.ignore_evidence
        && !opts.nan_equal;
    out.line(match o.verdict {
        Verdict::Pass if exact => "result: identical",
        Verdict::Pass => "result: within tolerance",
        Verdict::Damaged => "result: damaged (no divergence in what was readable)",
        _ => "result: captures differ",
    })?;
    Ok(())
}

fn total_divergences(s: &StreamOutcome) -> u64 {
    s.fields.iter().map(|f| f.divergences).sum()
}

fn f64_json(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { json!(v.to_string()) }
}

fn key_json(k: i128) -> Value {
    match i64::try_from(k) {
        Ok(v) => json!(v),
        Err(_) => match u64::try_from(k) {
            Ok(v) => json!(v),
            Err(_) => json!(k.to_string()),
        },
    }
}

fn provenance_json(p: &Provenance) -> Value {
    json!({
        "path": p.path.display().to_string(),
        "kind": p.kind,
        "records": p.records,
        "evidence_records": p.evidence_records,
        "seqs": p.seqs.map(|(a, b)| json!([a, b])),
        "timestamps_ns": p.timestamps.map(|(a, b)| json!([a, b])),
        "lanes": p.lanes,
        "record_bytes": p.record_bytes,
        "schema_id": p.schema_id,
        "layout": p.layout,
        "sha256": p.sha256,
        "problems": p.problems,
    })
}

/// The outcome as JSON (`diff --json`); floats that are not finite as strings (`"inf"`, `"NaN"`).
pub fn outcome_json(o: &Outcome) -> Value {
    let tol = |t: &Tolerance| json!({"abs": t.abs, "rel": t.rel});
    json!({
        "verdict": o.verdict.to_string(),
        "reasons": o.reasons,
        "reference": provenance_json(&o.reference),
        "candidate": provenance_json(&o.candidate),
        "align": o.align.to_string(),
        "layout": o.layout,
        "ignored": o.ignored,
        "uncompared": o.uncompared,
        "compared": o.compared(),
        "differing": o.differing(),
        "streams": o.streams.iter().map(|s| json!({
            "lane": s.lane,
            "only_in": s.only_in.map(|x| x.to_string()),
            "compared": s.compared,
            "differing": s.differing,
            "keys": s.keys.map(|(a, b)| json!([key_json(a), key_json(b)])),
            "fields": s.fields.iter().map(|f| json!({
                "name": f.name,
                "type": f.ty,
                "numeric": f.numeric,
                "tolerance": tol(&f.tolerance),
                "ignored": f.ignored,
                "divergences": f.divergences,
                "first_key": f.first_key.map(key_json),
                "last_key": f.last_key.map(key_json),
                "max_abs": f64_json(f.max_abs),
                "max_rel": f64_json(f.max_rel),
            })).collect::<Vec<_>>(),
            "divergences": s.divergences.iter().map(|d| json!({
                "key": key_json(d.key),
                "field": d.field,
                "reference": d.reference,
                "candidate": d.candidate,
                "abs": d.abs.map(f64_json),
                "rel": d.rel.map(f64_json),
            })).collect::<Vec<_>>(),
            "missing": s.missing.iter().map(|k| key_json(*k)).collect::<Vec<_>>(),
            "missing_count": s.missing_count,
            "extra": s.extra.iter().map(|k| key_json(*k)).collect::<Vec<_>>(),
            "extra_count": s.extra_count,
        })).collect::<Vec<_>>(),
    })
}

/// The exit status of a verdict: 0 pass, 1 otherwise.
pub fn verdict_code(v: Verdict) -> ExitCode {
    if v == Verdict::Pass { ExitCode::SUCCESS } else { ExitCode::from(EXIT_PROBLEMS) }
}

/// Runs `diff`.
pub fn run(args: &DiffArgs) -> Result<ExitCode> {
    check_inputs(&args.a, &args.b)?;
    let opts = args.compare.options(&args.a)?;
    let outcome = compare_paths(&args.a, &args.b, &opts, |_| {})?;
    let mut out = Out::stdout();
    if args.json {
        out.line(outcome_json(&outcome).to_string())?;
    } else {
        text(&outcome, &opts, &mut out)?;
    }
    out.flush()?;
    for p in [&outcome.reference, &outcome.candidate] {
        for problem in &p.problems {
            eprintln!("replaylog: {}: {problem}", p.path.display());
        }
    }
    Ok(verdict_code(outcome.verdict))
}
