//! Certification comparison: a candidate capture against a reference capture, field by field,
//! with tolerances, ignored fields and alignment by seq or by a key field.
//!
//! ```
//! use replaylog::compare::{compare, Options, Tolerance, Verdict};
//! use replaylog::{RingLog, RingOptions};
//!
//! #[replaylog::record]
//! #[derive(Clone, Copy)]
//! struct Tick { tick: u64, value: f64 }
//!
//! # let dir = tempfile::tempdir()?;
//! let (a, b) = (dir.path().join("reference.ring"), dir.path().join("candidate.ring"));
//! for (path, noise) in [(&a, 0.0), (&b, 1e-12)] {
//!     let mut log: RingLog<Tick> = RingLog::open_with(path, 1024, RingOptions::default().layout_of::<Tick>())?;
//!     for t in 0..100 {
//!         log.append(&Tick { tick: t, value: t as f64 * 0.1 + noise })?;
//!     }
//!     log.sync()?;
//! }
//! // Bit-exact: every record but the first (0.0 vs 1e-12) differs in its last bits.
//! let exact = compare(&a, &b, &Options::default())?;
//! assert_eq!(exact.verdict, Verdict::Fail);
//! // Within a relative tolerance of 1e-9 (and an absolute one for the zero): the same run.
//! let tolerant = Options { default_float: Tolerance { abs: 1e-9, rel: 1e-9 }, ..Options::default() };
//! assert_eq!(compare(&a, &b, &tolerant)?.verdict, Verdict::Pass);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Semantics
//!
//! * **Fields.** Records are decoded with [`Options::layout`], else each side's stored layout
//!   (a side without one uses the other's). Every field of the reference's layout is compared
//!   by name with the candidate's field of the same name, type and element count — the offsets
//!   may differ, so two record versions compare over the fields they share; a compared field
//!   the candidate lacks is an error unless it is ignored. Bytes outside the fields (padding)
//!   are not compared. Without any layout the whole record is one pseudo-field `bytes`,
//!   compared exactly.
//! * **Tolerance.** Two numbers are equal when `|a - b| <= abs + rel * |a|` (numpy `isclose`,
//!   `a` the reference), or when `a == b` (so equal infinities are equal). A field's own
//!   tolerance applies to integers and floats; floats without one use
//!   [`Options::default_float`] (exact by default); integers without one, and `bytes` fields,
//!   are exact. NaN equals NaN only with [`Options::nan_equal`]. An array is compared element
//!   by element.
//! * **Evidence and epochs.** Failure evidence is compared as the pseudo-field `evidence`
//!   (unless [`Options::ignore_evidence`]); writer epochs as `epoch` only with
//!   [`Options::epochs`] (two runs have different epochs).
//! * **Alignment.** By seq, or by an integer key field ([`Align::Field`]): records are
//!   merge-joined on the key, which must increase strictly on each side; a key only the
//!   reference has is *missing* from the candidate, one only the candidate has is *extra*, and
//!   the records around it stay aligned.
//! * **Streams.** A capture with lanes (recorder directory, archive of lanes) is compared lane
//!   by lane, by name; a lane one side lacks fails the comparison.
//! * **Verdict.** [`Verdict::Pass`] when every compared record is within tolerance, no key is
//!   missing or extra, no lane is on one side only and both sides hold records;
//!   [`Verdict::Damaged`] when that holds over what was readable but a side is damaged;
//!   [`Verdict::Fail`] otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::capture::{Capture, CaptureRecord, Records};
use crate::error::ReplayLogError;
use crate::{FieldType, Layout};

/// An absolute and a relative tolerance: `a` and `b` are equal when
/// `|a - b| <= abs + rel * |a|` (`a` the reference).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Tolerance {
    /// Absolute tolerance.
    pub abs: f64,
    /// Relative tolerance, a fraction of the reference value.
    pub rel: f64,
}

impl Tolerance {
    /// Exact equality.
    pub const EXACT: Tolerance = Tolerance { abs: 0.0, rel: 0.0 };

    /// Whether `b` is within this tolerance of the reference value `a` (NaN never is).
    pub fn accepts(&self, a: f64, b: f64) -> bool {
        a == b || (a - b).abs() <= self.abs + self.rel * a.abs()
    }

    /// Whether this is exact equality.
    pub fn is_exact(&self) -> bool {
        self.abs == 0.0 && self.rel == 0.0
    }
}

impl fmt::Display for Tolerance {
    /// `exact`, `abs 1e-9`, `rel 1e-6` or `abs 1e-9 + rel 1e-6`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, r) = (self.abs, self.rel);
        if self.is_exact() {
            f.write_str("exact")
        } else if r == 0.0 {
            write!(f, "abs {a:e}")
        } else if a == 0.0 {
            write!(f, "rel {r:e}")
        } else {
            write!(f, "abs {a:e} + rel {r:e}")
        }
    }
}

/// How records of the two sides are paired.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Align {
    /// By ring seq (a plain journal: LSN).
    #[default]
    Seq,
    /// By the value of this integer field (e.g. `tick`).
    Field(String),
}

impl fmt::Display for Align {
    /// `seq`, or the field's name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Align::Seq => f.write_str("seq"),
            Align::Field(n) => f.write_str(n),
        }
    }
}

/// What to compare and how; [`Options::default`] is a bit-exact comparison aligned by seq.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// Decode both sides with this layout instead of their stored ones.
    pub layout: Option<Layout>,
    /// Per-field tolerances, by field name (an array's tolerance applies to each element).
    pub tolerances: BTreeMap<String, Tolerance>,
    /// The tolerance of float fields without their own. Default exact.
    pub default_float: Tolerance,
    /// NaN equals NaN.
    pub nan_equal: bool,
    /// Fields left out of the comparison (e.g. timestamps, wall-clock fields).
    pub ignore: BTreeSet<String>,
    /// Leave failure evidence out of the comparison.
    pub ignore_evidence: bool,
    /// Compare writer epochs too.
    pub epochs: bool,
    /// How records are paired.
    pub align: Align,
    /// How many divergences, and how many missing and extra keys, are kept in the outcome per
    /// stream (all are counted). Default 20.
    pub limit: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            layout: None,
            tolerances: BTreeMap::new(),
            default_float: Tolerance::EXACT,
            nan_equal: false,
            ignore: BTreeSet::new(),
            ignore_evidence: false,
            epochs: false,
            align: Align::Seq,
            limit: 20,
        }
    }
}

/// Which capture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The reference (A).
    Reference,
    /// The candidate (B).
    Candidate,
}

impl fmt::Display for Side {
    /// `reference` or `candidate`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Reference => "reference",
            Side::Candidate => "candidate",
        })
    }
}

/// Why a comparison could not be made (nothing was compared; a damaged capture is not an
/// error but a [`Verdict::Damaged`] outcome).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// A side could not be opened.
    #[error("{side}: {source}")]
    Open {
        /// Which side.
        side: Side,
        /// Why.
        #[source]
        source: ReplayLogError,
    },
    /// The options name a field the layout lacks, a key that is not an integer field, a
    /// negative or NaN tolerance, or field names without any layout.
    #[error("{0}")]
    Usage(String),
    /// The two captures cannot be compared as asked: a ring with a recorder directory, record
    /// sizes that differ without a layout, a compared field the candidate lacks or holds with
    /// another type.
    #[error("{0}")]
    Incompatible(String),
    /// The key does not increase strictly along a side, so records cannot be aligned by it.
    #[error(
        "{side} {path}{}: cannot align by {key_name}: key {key} at seq {seq} follows key {previous} (the key must increase strictly)",
        lane.as_ref().map_or(String::new(), |l| format!(" lane {l}"))
    )]
    KeyNotIncreasing {
        /// Which side.
        side: Side,
        /// Its path.
        path: String,
        /// The lane, for a capture with lanes.
        lane: Option<String>,
        /// The key field.
        key_name: String,
        /// The key found.
        key: i128,
        /// The key before it.
        previous: i128,
        /// The seq of the record holding `key`.
        seq: u64,
    },
}

/// The verdict of a comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every record within tolerance, nothing missing or extra.
    Pass,
    /// Outside tolerance, records missing or extra, a lane on one side only, or a side empty.
    Fail,
    /// Within tolerance over what was readable, but a side is damaged (see the provenance's
    /// problems): not a pass.
    Damaged,
}

impl fmt::Display for Verdict {
    /// `PASS`, `FAIL` or `DAMAGED`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::Damaged => "DAMAGED",
        })
    }
}

/// Where a side came from, for the record a certification engineer signs.
#[derive(Clone, Debug, PartialEq)]
pub struct Provenance {
    /// The path as given.
    pub path: PathBuf,
    /// What it is (`ring`, `recorder directory`, `archive journal`, ...).
    pub kind: String,
    /// Records read.
    pub records: u64,
    /// Records read that carry failure evidence.
    pub evidence_records: u64,
    /// Lowest and highest seq read (over every lane).
    pub seqs: Option<(u64, u64)>,
    /// Lowest and highest record timestamp read, when records carry one.
    pub timestamps: Option<(u64, u64)>,
    /// Its lanes (empty for one unnamed stream).
    pub lanes: Vec<String>,
    /// The record size (`None` for a plain journal).
    pub record_bytes: Option<u32>,
    /// The stored schema id.
    pub schema_id: Option<u64>,
    /// The stored layout, as its text form (`name: field:type@offset, ...`).
    pub layout: Option<String>,
    /// SHA-256 (lowercase hex) of the record stream, stream by stream (lanes in ascending name
    /// order), each in its order; per record: its seq (u64 little-endian), its bytes, then
    /// `0x00` without evidence, or `0x01`, the evidence kind's name (`timeout`, `other(7)`, ...),
    /// `0x00`, its code (i64 little-endian), its message's length (u32 little-endian) and the
    /// message (UTF-8).
    pub sha256: String,
    /// Damage found, one line each: outside the streams ([`Capture::problems`]), and any
    /// stream that ended early on a record that could not be read.
    pub problems: Vec<String>,
}

/// One compared field's summary in one stream.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldSummary {
    /// The field's name, or the pseudo-field `evidence`, `epoch` or `bytes`.
    pub name: String,
    /// Its type (`f64`, `u32[4]`, ...), or `evidence`, `epoch`, `bytes[N]`.
    pub ty: String,
    /// Whether the field is numeric (integers and floats; plotted by reports).
    pub numeric: bool,
    /// The tolerance applied (exact for integers, bytes and pseudo-fields without one).
    pub tolerance: Tolerance,
    /// Whether it was ignored (then nothing else is counted).
    pub ignored: bool,
    /// Aligned records in which it diverged.
    pub divergences: u64,
    /// Key of its first divergence.
    pub first_key: Option<i128>,
    /// Key of its last divergence.
    pub last_key: Option<i128>,
    /// Largest `|a - b|` over every compared element (numeric fields; NaN pairs left out).
    pub max_abs: f64,
    /// Largest `|a - b| / |a|` over every compared element (numeric fields; infinite where
    /// `a` is 0 and `b` is not).
    pub max_rel: f64,
}

/// One field of one aligned record outside tolerance.
#[derive(Clone, Debug, PartialEq)]
pub struct Divergence {
    /// The key (seq or key field value).
    pub key: i128,
    /// The field (an array element as `name[i]`), or a pseudo-field.
    pub field: String,
    /// The reference's value, as text.
    pub reference: String,
    /// The candidate's value, as text.
    pub candidate: String,
    /// `|a - b|` for numbers.
    pub abs: Option<f64>,
    /// `|a - b| / |a|` for numbers.
    pub rel: Option<f64>,
}

/// The comparison of one stream (a lane, or the whole capture without lanes).
#[derive(Clone, Debug, PartialEq)]
pub struct StreamOutcome {
    /// The lane (`None` for a capture without lanes).
    pub lane: Option<String>,
    /// The side holding the lane when only one does (its records are all missing or extra).
    pub only_in: Option<Side>,
    /// Records aligned (same key on both sides).
    pub compared: u64,
    /// Aligned records with at least one divergence.
    pub differing: u64,
    /// Lowest and highest key seen on either side.
    pub keys: Option<(i128, i128)>,
    /// Every compared field, in layout order, then the pseudo-fields.
    pub fields: Vec<FieldSummary>,
    /// The first divergences (up to [`Options::limit`]).
    pub divergences: Vec<Divergence>,
    /// Keys only the reference holds (the first [`Options::limit`]).
    pub missing: Vec<i128>,
    /// How many keys only the reference holds.
    pub missing_count: u64,
    /// Keys only the candidate holds (the first [`Options::limit`]).
    pub extra: Vec<i128>,
    /// How many keys only the candidate holds.
    pub extra_count: u64,
}

impl StreamOutcome {
    /// Whether this stream passes: nothing outside tolerance, missing, extra or one-sided.
    pub fn passes(&self) -> bool {
        self.only_in.is_none() && self.differing == 0 && self.missing_count == 0 && self.extra_count == 0
    }
}

/// The result of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The verdict.
    pub verdict: Verdict,
    /// Why the verdict is not a pass, one short line each (empty for a pass).
    pub reasons: Vec<String>,
    /// The reference (A).
    pub reference: Provenance,
    /// The candidate (B).
    pub candidate: Provenance,
    /// The alignment used.
    pub align: Align,
    /// The layout records were decoded with (the reference's side), as text.
    pub layout: Option<String>,
    /// Fields ignored by the options.
    pub ignored: Vec<String>,
    /// Fields of the candidate's layout not in the reference's (not compared).
    pub uncompared: Vec<String>,
    /// Per stream, lanes in ascending order.
    pub streams: Vec<StreamOutcome>,
}

impl Outcome {
    /// Records aligned over every stream.
    pub fn compared(&self) -> u64 {
        self.streams.iter().map(|s| s.compared).sum()
    }

    /// Aligned records that diverged, over every stream.
    pub fn differing(&self) -> u64 {
        self.streams.iter().map(|s| s.differing).sum()
    }
}

/// One aligned pair, as the comparison walks the streams (for reports that plot or list
/// every record): the key, each side's record (`None` when missing there), and which fields
/// (indices into [`StreamOutcome::fields`] and [`Pair::value`]) diverged.
#[derive(Debug)]
pub struct Pair<'a> {
    /// The stream's lane.
    pub lane: Option<&'a str>,
    /// The key.
    pub key: i128,
    /// The reference's record.
    pub reference: Option<&'a CaptureRecord>,
    /// The candidate's record.
    pub candidate: Option<&'a CaptureRecord>,
    /// Indices of the fields that diverged.
    pub diverged: &'a [usize],
    plan: &'a Plan,
}

impl Pair<'_> {
    /// The value of numeric scalar field `field` (an index into the stream's fields) on each
    /// side, as `f64` (`None` for a missing record, a non-numeric field or an array).
    pub fn value(&self, field: usize) -> (Option<f64>, Option<f64>) {
        let Some(p) = self.plan.fields.get(field) else { return (None, None) };
        let get = |r: Option<&CaptureRecord>, off: Option<usize>| -> Option<f64> {
            let (r, off) = (r?, off?);
            if p.count != 1 || !p.numeric() {
                return None;
            }
            Some(element(p.ty, r.bytes.get(off..off + p.ty.size() as usize)?).as_f64())
        };
        (get(self.reference, p.off_a), get(self.candidate, p.off_b))
    }
}

/// Compares `candidate` with `reference`; see the [module docs](self).
///
/// # Errors
/// [`CompareError`] when a side cannot be opened or the options do not fit the captures.
/// Damage is not an error: it is in the outcome ([`Verdict::Damaged`]).
pub fn compare(
    reference: impl AsRef<Path>,
    candidate: impl AsRef<Path>,
    opts: &Options,
) -> Result<Outcome, CompareError> {
    compare_with(reference, candidate, opts, |_| {})
}

/// [`compare`], calling `observe` with every aligned pair in order (lanes ascending, then
/// key).
///
/// # Errors
/// As [`compare`].
pub fn compare_with(
    reference: impl AsRef<Path>,
    candidate: impl AsRef<Path>,
    opts: &Options,
    observe: impl FnMut(&Pair<'_>),
) -> Result<Outcome, CompareError> {
    let a = Capture::open(reference).map_err(|source| CompareError::Open { side: Side::Reference, source })?;
    let b = Capture::open(candidate).map_err(|source| CompareError::Open { side: Side::Candidate, source })?;
    compare_captures(&a, &b, opts, observe)
}

/// [`compare_with`] over two opened captures.
///
/// # Errors
/// As [`compare`].
pub fn compare_captures(
    a: &Capture,
    b: &Capture,
    opts: &Options,
    mut observe: impl FnMut(&Pair<'_>),
) -> Result<Outcome, CompareError> {
    let plan = Plan::new(a, b, opts)?;
    let mut prov_a = provenance(a);
    let mut prov_b = provenance(b);
    let mut hash_a = crate::sha256::Sha256::new();
    let mut hash_b = crate::sha256::Sha256::new();
    let lanes: BTreeSet<&String> = a.lanes().iter().chain(b.lanes()).collect();
    let mut streams = Vec::new();
    let names: Vec<Option<&str>> =
        if lanes.is_empty() { vec![None] } else { lanes.iter().map(|l| Some(l.as_str())).collect() };
    for lane in names {
        let in_a = lane.is_none_or(|l| a.lanes().iter().any(|x| x == l));
        let in_b = lane.is_none_or(|l| b.lanes().iter().any(|x| x == l));
        let ra = if in_a { Some(stream(a, b, lane, Side::Reference)?) } else { None };
        let rb = if in_b { Some(stream(b, a, lane, Side::Candidate)?) } else { None };
        let mut walk = Walk::new(&plan, opts, lane);
        walk.only_in = match (in_a, in_b) {
            (true, false) => Some(Side::Reference),
            (false, true) => Some(Side::Candidate),
            _ => None,
        };
        let mut sa = SideStream::new(ra, Side::Reference, a, &plan, opts, lane, &mut prov_a, &mut hash_a);
        let mut sb = SideStream::new(rb, Side::Candidate, b, &plan, opts, lane, &mut prov_b, &mut hash_b);
        walk.run(&mut sa, &mut sb, &mut observe)?;
        streams.push(walk.finish());
    }
    prov_a.sha256 = hash_a.finish_hex();
    prov_b.sha256 = hash_b.finish_hex();
    let mut reasons = Vec::new();
    for (p, side) in [(&prov_a, Side::Reference), (&prov_b, Side::Candidate)] {
        if p.records == 0 {
            reasons.push(format!("the {side} holds no records"));
        }
    }
    for s in &streams {
        let lane = s.lane.as_ref().map_or(String::new(), |l| format!("lane {l}: "));
        if let Some(side) = s.only_in {
            reasons.push(format!("{lane}only the {side} has this lane"));
            continue;
        }
        if s.differing > 0 {
            let (d, c) = (s.differing, s.compared);
            reasons.push(format!(
                "{lane}{d} of {c} aligned {} outside tolerance",
                if c == 1 { "record" } else { "records" }
            ));
        }
        if s.missing_count > 0 {
            let n = s.missing_count;
            reasons.push(format!("{lane}{n} {} missing from the candidate", if n == 1 { "key" } else { "keys" }));
        }
        if s.extra_count > 0 {
            let n = s.extra_count;
            reasons.push(format!("{lane}{n} extra {} in the candidate", if n == 1 { "key" } else { "keys" }));
        }
    }
    let damaged = !prov_a.problems.is_empty() || !prov_b.problems.is_empty();
    let verdict = match (reasons.is_empty(), damaged) {
        (false, _) => Verdict::Fail,
        (true, true) => Verdict::Damaged,
        (true, false) => Verdict::Pass,
    };
    if damaged {
        reasons.push("a capture is damaged: compared over what was readable".into());
    }
    Ok(Outcome {
        verdict,
        reasons,
        reference: prov_a,
        candidate: prov_b,
        align: opts.align.clone(),
        layout: plan.layout_a.as_ref().map(|l| l.to_string()),
        ignored: opts.ignore.iter().cloned().collect(),
        uncompared: plan.uncompared.clone(),
        streams,
    })
}

fn provenance(c: &Capture) -> Provenance {
    Provenance {
        path: c.path().to_path_buf(),
        kind: c.kind().to_string(),
        records: 0,
        evidence_records: 0,
        seqs: None,
        timestamps: None,
        lanes: c.lanes().to_vec(),
        record_bytes: c.record_bytes(),
        schema_id: c.schema_id(),
        layout: c.layout().map(|l| l.to_string()),
        sha256: String::new(),
        problems: c.problems(),
    }
}

/// The records of `lane` of capture `c`; a plain journal compared with record captures is
/// read as archive entries of the other side's record size.
fn stream<'a>(c: &'a Capture, other: &Capture, lane: Option<&str>, side: Side) -> Result<Records<'a>, CompareError> {
    if c.is_plain_journal() {
        if let Some(rb) = other.record_bytes() {
            return Ok(c.records_as_archive(rb).expect("a plain journal"));
        }
    }
    c.records(lane).map_err(|source| CompareError::Open { side, source })
}

/// How each compared field is read on each side.
#[derive(Debug)]
struct Plan {
    fields: Vec<PlanField>,
    layout_a: Option<Layout>,
    /// The key field's type and offset on each side.
    key: Option<(FieldType, usize, usize)>,
    uncompared: Vec<String>,
}

#[derive(Debug)]
struct PlanField {
    name: String,
    kind: PlanKind,
    ty: FieldType,
    count: u32,
    off_a: Option<usize>,
    off_b: Option<usize>,
    tolerance: Tolerance,
    ignored: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PlanKind {
    Field,
    Bytes,
    Evidence,
    Epoch,
}

impl PlanField {
    fn numeric(&self) -> bool {
        self.kind == PlanKind::Field && self.ty != FieldType::Bytes
    }

    fn ty_text(&self, record_bytes: Option<u32>) -> String {
        match self.kind {
            PlanKind::Evidence => "evidence".into(),
            PlanKind::Epoch => "epoch".into(),
            PlanKind::Bytes => format!("bytes[{}]", record_bytes.unwrap_or(0)),
            PlanKind::Field if self.count == 1 => self.ty.name().into(),
            PlanKind::Field => format!("{}[{}]", self.ty.name(), self.count),
        }
    }
}

impl Plan {
    fn new(a: &Capture, b: &Capture, opts: &Options) -> Result<Plan, CompareError> {
        if a.lanes().is_empty() != b.lanes().is_empty() && !a.is_plain_journal() && !b.is_plain_journal() {
            let (with, without) = if a.lanes().is_empty() { (b, a) } else { (a, b) };
            return Err(CompareError::Incompatible(format!(
                "{} has lanes ({}) and {} has none: compare one lane's records with it (for a recorder \
                 directory, DIR/NAME.ring)",
                with.path().display(),
                with.lanes().join(", "),
                without.path().display()
            )));
        }
        for (name, t) in &opts.tolerances {
            if !(t.abs >= 0.0 && t.rel >= 0.0) {
                return Err(CompareError::Usage(format!("tolerance for {name}: {t:?} must be >= 0")));
            }
        }
        let d = opts.default_float;
        if !(d.abs >= 0.0 && d.rel >= 0.0) {
            return Err(CompareError::Usage(format!("default float tolerance {d:?} must be >= 0")));
        }
        let la = opts.layout.clone().or_else(|| a.layout().cloned()).or_else(|| b.layout().cloned());
        let lb = opts.layout.clone().or_else(|| b.layout().cloned()).or_else(|| a.layout().cloned());
        for (c, l) in [(a, &la), (b, &lb)] {
            if let (Some(l), Some(rb)) = (l, c.record_bytes()) {
                l.check(rb).map_err(|e| {
                    CompareError::Incompatible(format!(
                        "{}: the layout does not fit its records: {e}",
                        c.path().display()
                    ))
                })?;
            }
        }
        let mut fields = Vec::new();
        let mut uncompared = Vec::new();
        let named: Vec<&String> = opts.tolerances.keys().chain(&opts.ignore).collect();
        match (&la, &lb) {
            (Some(x), Some(y)) => {
                for n in named.iter().copied().chain(match &opts.align {
                    Align::Field(k) => Some(k),
                    Align::Seq => None,
                }) {
                    if !x.fields.iter().any(|f| &f.name == n) && !matches!(n.as_str(), "evidence" | "epoch") {
                        let names: Vec<&str> = x.fields.iter().map(|f| f.name.as_str()).collect();
                        return Err(CompareError::Usage(format!(
                            "no field {n:?} in layout {} (fields: {})",
                            x.name,
                            names.join(", ")
                        )));
                    }
                }
                for f in &x.fields {
                    let ignored = opts.ignore.contains(&f.name);
                    let other = y.fields.iter().find(|g| g.name == f.name);
                    let off_b = match other {
                        Some(g) if g.ty == f.ty && g.count == f.count => Some(g.offset as usize),
                        _ if ignored => None,
                        Some(g) => {
                            return Err(CompareError::Incompatible(format!(
                                "field {}: {}[{}] in the reference, {}[{}] in the candidate",
                                f.name,
                                f.ty.name(),
                                f.count,
                                g.ty.name(),
                                g.count
                            )));
                        }
                        None => {
                            return Err(CompareError::Incompatible(format!(
                                "field {} of the reference's layout is not in the candidate's ({y}); ignore it to \
                                 compare the other fields",
                                f.name
                            )));
                        }
                    };
                    let tolerance = match opts.tolerances.get(&f.name) {
                        Some(t) => *t,
                        None if matches!(f.ty, FieldType::F32 | FieldType::F64) => opts.default_float,
                        None => Tolerance::EXACT,
                    };
                    fields.push(PlanField {
                        name: f.name.clone(),
                        kind: PlanKind::Field,
                        ty: f.ty,
                        count: f.count,
                        off_a: Some(f.offset as usize),
                        off_b,
                        tolerance,
                        ignored,
                    });
                }
                uncompared = y
                    .fields
                    .iter()
                    .filter(|g| !x.fields.iter().any(|f| f.name == g.name))
                    .map(|g| g.name.clone())
                    .collect();
            }
            _ => {
                if let Some(n) = named.iter().find(|n| !matches!(n.as_str(), "evidence" | "epoch")) {
                    return Err(CompareError::Usage(format!(
                        "field {n:?} named, but neither capture stores a layout: pass one"
                    )));
                }
                if let Align::Field(k) = &opts.align {
                    return Err(CompareError::Usage(format!(
                        "--align {k}: neither capture stores a layout to find the field in: pass one"
                    )));
                }
                if let (Some(x), Some(y)) = (a.record_bytes(), b.record_bytes()) {
                    if x != y {
                        return Err(CompareError::Incompatible(format!(
                            "record sizes differ: reference {x} bytes, candidate {y} bytes; give a layout to \
                             compare the fields both hold"
                        )));
                    }
                }
                fields.push(PlanField {
                    name: "bytes".into(),
                    kind: PlanKind::Bytes,
                    ty: FieldType::Bytes,
                    count: 1,
                    off_a: Some(0),
                    off_b: Some(0),
                    tolerance: Tolerance::EXACT,
                    ignored: false,
                });
            }
        }
        for (name, kind, ignored) in [
            ("evidence", PlanKind::Evidence, opts.ignore_evidence || opts.ignore.contains("evidence")),
            ("epoch", PlanKind::Epoch, !opts.epochs || opts.ignore.contains("epoch")),
        ] {
            if kind == PlanKind::Epoch && !opts.epochs {
                continue;
            }
            fields.push(PlanField {
                name: name.into(),
                kind,
                ty: FieldType::Bytes,
                count: 1,
                off_a: None,
                off_b: None,
                tolerance: Tolerance::EXACT,
                ignored,
            });
        }
        let key = match &opts.align {
            Align::Seq => None,
            Align::Field(k) => {
                let (x, y) = (la.as_ref().expect("checked"), lb.as_ref().expect("checked"));
                let fa = x.fields.iter().find(|f| &f.name == k).expect("checked above");
                let int = |t: FieldType| !matches!(t, FieldType::F32 | FieldType::F64 | FieldType::Bytes);
                if !int(fa.ty) || fa.count != 1 {
                    return Err(CompareError::Usage(format!(
                        "--align {k}: the key must be an integer scalar field, and {k} is {}{}",
                        fa.ty.name(),
                        if fa.count == 1 { String::new() } else { format!("[{}]", fa.count) }
                    )));
                }
                let fb = y.fields.iter().find(|f| &f.name == k && f.ty == fa.ty && f.count == 1).ok_or_else(|| {
                    CompareError::Incompatible(format!(
                        "--align {k}: the candidate's layout has no {} field {k}",
                        fa.ty.name()
                    ))
                })?;
                Some((fa.ty, fa.offset as usize, fb.offset as usize))
            }
        };
        Ok(Plan { fields, layout_a: la, key, uncompared })
    }
}

/// One element of a numeric field, read little-endian.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Elem {
    U(u64),
    I(i64),
    F(f64),
}

impl Elem {
    fn as_f64(self) -> f64 {
        match self {
            Elem::U(v) => v as f64,
            Elem::I(v) => v as f64,
            Elem::F(v) => v,
        }
    }
}

impl fmt::Display for Elem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Elem::U(v) => write!(f, "{v}"),
            Elem::I(v) => write!(f, "{v}"),
            Elem::F(v) => write!(f, "{v}"),
        }
    }
}

fn element(ty: FieldType, b: &[u8]) -> Elem {
    let mut w = [0u8; 8];
    w[..b.len()].copy_from_slice(b);
    let u = u64::from_le_bytes(w);
    use FieldType::*;
    match ty {
        U8 | U16 | U32 | U64 | Bytes => Elem::U(u),
        I8 => Elem::I(i64::from(u as u8 as i8)),
        I16 => Elem::I(i64::from(u as u16 as i16)),
        I32 => Elem::I(i64::from(u as u32 as i32)),
        I64 => Elem::I(u as i64),
        F32 => Elem::F(f64::from(f32::from_bits(u as u32))),
        F64 => Elem::F(f64::from_bits(u)),
    }
}

/// `|a - b|` exactly enough for integers (through `i128`), for floats as `f64`.
fn abs_diff(a: Elem, b: Elem) -> f64 {
    match (a, b) {
        (Elem::F(x), Elem::F(y)) => (x - y).abs(),
        (x, y) => {
            let w = |e: Elem| match e {
                Elem::U(v) => i128::from(v),
                Elem::I(v) => i128::from(v),
                Elem::F(v) => v as i128,
            };
            (w(x) - w(y)).unsigned_abs() as f64
        }
    }
}

/// One side's stream with its key, provenance and hash bookkeeping.
struct SideStream<'a, 'c> {
    records: Option<Records<'c>>,
    side: Side,
    capture: &'c Capture,
    plan: &'a Plan,
    key_name: String,
    lane: Option<&'a str>,
    prov: &'a mut Provenance,
    hash: &'a mut crate::sha256::Sha256,
    previous: Option<i128>,
}

impl<'a, 'c> SideStream<'a, 'c> {
    #[allow(clippy::too_many_arguments)]
    fn new(
        records: Option<Records<'c>>,
        side: Side,
        capture: &'c Capture,
        plan: &'a Plan,
        opts: &Options,
        lane: Option<&'a str>,
        prov: &'a mut Provenance,
        hash: &'a mut crate::sha256::Sha256,
    ) -> SideStream<'a, 'c> {
        SideStream { records, side, capture, plan, key_name: opts.align.to_string(), lane, prov, hash, previous: None }
    }

    /// The next record and its key; a read error ends the stream and is noted as a problem.
    fn next(&mut self) -> Result<Option<(i128, CaptureRecord)>, CompareError> {
        let Some(records) = self.records.as_mut() else { return Ok(None) };
        let r = match records.next() {
            None => return Ok(None),
            Some(Err(e)) => {
                self.prov.problems.push(format!("read stopped: {e}"));
                self.records = None;
                return Ok(None);
            }
            Some(Ok(r)) => r,
        };
        let key = match self.plan.key {
            None => i128::from(r.seq),
            Some((ty, off_a, off_b)) => {
                let off = if self.side == Side::Reference { off_a } else { off_b };
                match r.bytes.get(off..off + ty.size() as usize) {
                    Some(b) => match element(ty, b) {
                        Elem::U(v) => i128::from(v),
                        Elem::I(v) => i128::from(v),
                        Elem::F(_) => unreachable!("integer keys only"),
                    },
                    None => {
                        self.prov.problems.push(format!(
                            "{}: record seq {} has {} bytes, too short for the key field",
                            self.capture.path().display(),
                            r.seq,
                            r.bytes.len()
                        ));
                        self.records = None;
                        return Ok(None);
                    }
                }
            }
        };
        if let Some(p) = self.previous {
            if key <= p {
                return Err(CompareError::KeyNotIncreasing {
                    side: self.side,
                    path: self.capture.path().display().to_string(),
                    lane: self.lane.map(str::to_string),
                    key_name: self.key_name.clone(),
                    key,
                    previous: p,
                    seq: r.seq,
                });
            }
        }
        self.previous = Some(key);
        let p = &mut *self.prov;
        p.records += 1;
        p.evidence_records += u64::from(r.evidence.is_some());
        p.seqs = Some(p.seqs.map_or((r.seq, r.seq), |(lo, hi)| (lo.min(r.seq), hi.max(r.seq))));
        if let Some(t) = r.timestamp_ns {
            p.timestamps = Some(p.timestamps.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
        }
        self.hash.update(&r.seq.to_le_bytes());
        self.hash.update(&r.bytes);
        match &r.evidence {
            None => self.hash.update(&[0]),
            Some(e) => {
                self.hash.update(&[1]);
                self.hash.update(e.kind.name().as_bytes());
                self.hash.update(&[0]);
                self.hash.update(&e.code.to_le_bytes());
                self.hash.update(&(e.message.len() as u32).to_le_bytes());
                self.hash.update(e.message.as_bytes());
            }
        }
        Ok(Some((key, r)))
    }
}

/// The merge-join of one stream pair, with its tallies.
struct Walk<'a> {
    plan: &'a Plan,
    opts: &'a Options,
    lane: Option<&'a str>,
    only_in: Option<Side>,
    out: StreamOutcome,
    diverged: Vec<usize>,
}

impl<'a> Walk<'a> {
    fn new(plan: &'a Plan, opts: &'a Options, lane: Option<&'a str>) -> Walk<'a> {
        let fields = plan
            .fields
            .iter()
            .map(|p| FieldSummary {
                name: p.name.clone(),
                ty: p.ty_text(None),
                numeric: p.numeric(),
                tolerance: p.tolerance,
                ignored: p.ignored,
                divergences: 0,
                first_key: None,
                last_key: None,
                max_abs: 0.0,
                max_rel: 0.0,
            })
            .collect();
        let out = StreamOutcome {
            lane: lane.map(str::to_string),
            only_in: None,
            compared: 0,
            differing: 0,
            keys: None,
            fields,
            divergences: Vec::new(),
            missing: Vec::new(),
            missing_count: 0,
            extra: Vec::new(),
            extra_count: 0,
        };
        Walk { plan, opts, lane, only_in: None, out, diverged: Vec::new() }
    }

    fn run(
        &mut self,
        a: &mut SideStream<'_, '_>,
        b: &mut SideStream<'_, '_>,
        observe: &mut impl FnMut(&Pair<'_>),
    ) -> Result<(), CompareError> {
        let (mut x, mut y) = (a.next()?, b.next()?);
        loop {
            match (x.take(), y.take()) {
                (None, None) => break,
                (Some((ka, ra)), Some((kb, rb))) if ka == kb => {
                    self.see(ka);
                    self.compare(ka, &ra, &rb);
                    observe(&self.pair(ka, Some(&ra), Some(&rb)));
                    (x, y) = (a.next()?, b.next()?);
                }
                (Some((ka, ra)), other) if other.as_ref().is_none_or(|(kb, _)| ka < *kb) => {
                    self.see(ka);
                    self.out.missing_count += 1;
                    if self.out.missing.len() < self.opts.limit {
                        self.out.missing.push(ka);
                    }
                    self.diverged.clear();
                    observe(&self.pair(ka, Some(&ra), None));
                    (x, y) = (a.next()?, other);
                }
                (other, Some((kb, rb))) => {
                    self.see(kb);
                    self.out.extra_count += 1;
                    if self.out.extra.len() < self.opts.limit {
                        self.out.extra.push(kb);
                    }
                    self.diverged.clear();
                    observe(&self.pair(kb, None, Some(&rb)));
                    (x, y) = (other, b.next()?);
                }
                (Some(_), None) => unreachable!("handled above"),
            }
        }
        Ok(())
    }

    fn pair<'p>(&'p self, key: i128, a: Option<&'p CaptureRecord>, b: Option<&'p CaptureRecord>) -> Pair<'p> {
        Pair { lane: self.lane, key, reference: a, candidate: b, diverged: &self.diverged, plan: self.plan }
    }

    fn see(&mut self, k: i128) {
        self.out.keys = Some(self.out.keys.map_or((k, k), |(lo, hi)| (lo.min(k), hi.max(k))));
    }

    fn compare(&mut self, key: i128, a: &CaptureRecord, b: &CaptureRecord) {
        self.out.compared += 1;
        self.diverged.clear();
        for (i, p) in self.plan.fields.iter().enumerate() {
            if p.ignored {
                continue;
            }
            let found = match p.kind {
                PlanKind::Evidence => (a.evidence != b.evidence).then(|| {
                    let show = |e: &Option<crate::ReplayFailureEvidence>| {
                        e.as_ref().map_or("none".to_string(), |e| {
                            format!("{} code={} {:?}", e.kind.name(), e.code, e.message)
                        })
                    };
                    (String::new(), show(&a.evidence), show(&b.evidence), None)
                }),
                PlanKind::Epoch => {
                    (a.epoch != b.epoch).then(|| (String::new(), a.epoch.to_string(), b.epoch.to_string(), None))
                }
                PlanKind::Bytes => bytes_difference(&a.bytes, &b.bytes),
                PlanKind::Field if p.ty == FieldType::Bytes => {
                    let (oa, ob) = (p.off_a.unwrap_or(0), p.off_b.unwrap_or(0));
                    let n = p.count as usize;
                    let (x, y) = (a.bytes.get(oa..oa + n), b.bytes.get(ob..ob + n));
                    (x != y).then(|| (String::new(), hex(x.unwrap_or_default()), hex(y.unwrap_or_default()), None))
                }
                PlanKind::Field => self.numeric(i, p, &a.bytes, &b.bytes),
            };
            if let Some((suffix, ra, rb, errs)) = found {
                self.diverged.push(i);
                let s = &mut self.out.fields[i];
                s.divergences += 1;
                s.first_key.get_or_insert(key);
                s.last_key = Some(key);
                if self.out.divergences.len() < self.opts.limit {
                    let (abs, rel) = errs.unzip();
                    self.out.divergences.push(Divergence {
                        key,
                        field: format!("{}{suffix}", p.name),
                        reference: ra,
                        candidate: rb,
                        abs,
                        rel,
                    });
                }
            }
        }
        if !self.diverged.is_empty() {
            self.out.differing += 1;
        }
    }

    /// Compares a numeric field element by element; the first element outside tolerance, as
    /// (`[i]` for arrays, reference text, candidate text, (abs, rel)).
    #[allow(clippy::type_complexity)]
    fn numeric(
        &mut self,
        i: usize,
        p: &PlanField,
        a: &[u8],
        b: &[u8],
    ) -> Option<(String, String, String, Option<(f64, f64)>)> {
        let size = p.ty.size() as usize;
        let (oa, ob) = (p.off_a?, p.off_b?);
        let mut first = None;
        for e in 0..p.count as usize {
            let (x, y) = (
                element(p.ty, a.get(oa + e * size..oa + (e + 1) * size)?),
                element(p.ty, b.get(ob + e * size..ob + (e + 1) * size)?),
            );
            let (fx, fy) = (x.as_f64(), y.as_f64());
            let equal = if x == y && !fx.is_nan() {
                true
            } else if fx.is_nan() || fy.is_nan() {
                fx.is_nan() && fy.is_nan() && self.opts.nan_equal
            } else if matches!(x, Elem::F(_)) {
                p.tolerance.accepts(fx, fy)
            } else {
                abs_diff(x, y) <= p.tolerance.abs + p.tolerance.rel * fx.abs()
            };
            let (abs, rel) = if fx.is_nan() || fy.is_nan() {
                (f64::NAN, f64::NAN)
            } else if x == y {
                (0.0, 0.0)
            } else {
                let d = abs_diff(x, y);
                (d, if fx == 0.0 { f64::INFINITY } else { d / fx.abs() })
            };
            let s = &mut self.out.fields[i];
            if !abs.is_nan() {
                s.max_abs = s.max_abs.max(abs);
                s.max_rel = s.max_rel.max(rel);
            }
            if !equal && first.is_none() {
                let suffix = if p.count == 1 { String::new() } else { format!("[{e}]") };
                first = Some((suffix, x.to_string(), y.to_string(), (!abs.is_nan()).then_some((abs, rel))));
            }
        }
        first
    }

    fn finish(mut self) -> StreamOutcome {
        self.out.only_in = self.only_in;
        self.out
    }
}

/// Raw records compared whole: the first differing byte, with 8 bytes from there.
#[allow(clippy::type_complexity)]
fn bytes_difference(a: &[u8], b: &[u8]) -> Option<(String, String, String, Option<(f64, f64)>)> {
    if a.len() != b.len() {
        return Some((String::new(), format!("{} bytes", a.len()), format!("{} bytes", b.len()), None));
    }
    let first = a.iter().zip(b).position(|(x, y)| x != y)?;
    let end = (first + 8).min(a.len());
    Some((format!(" at offset {first}"), hex(&a[first..end]), hex(&b[first..end]), None))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}
