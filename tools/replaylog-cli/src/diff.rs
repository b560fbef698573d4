//! `replaylog diff A B [--layout SPEC] [--epochs]`: compares two captures record by record —
//! the certification check "does the replayed run match the reference capture".
//!
//! A and B may each be a ring, an archive journal (the archiver's, or `export --to journal:DIR`), or any journal.
//! Rings and archives compare as records, aligned by seq (both in publish order): the record
//! of each seq in A with the record of the same seq in B, by record bytes and failure evidence
//! (and writer epoch with `--epochs`; epochs differ between two runs, so they are ignored by
//! default); a seq only one side holds is a difference too. A journal without an archive header compared
//! with a ring or an archive is read as archive entries of the other side's record size. Two
//! plain journals compare frame by frame, aligned by LSN (kind, bytes).
//!
//! Records are decoded with `--layout`, else A's stored layout, else B's, so the first
//! divergence names the field and both values; without any layout it names the byte offset.
//! The report: the first divergence (every differing field of that record), then a summary
//! (records compared, records differing, records only one side has).
//!
//! Exit status: 0 identical, 1 the captures differ, 2 error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use replaylog::{Item, Layout, Position, ReplayFailureEvidence};

use crate::error::{EXIT_PROBLEMS, Result};
use crate::input::{self, ArchiveRecords, Rec, RingRecords, Source};
use crate::output::{LAYOUT_HELP, Out, evidence_text, hex};

/// Options of `replaylog diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The reference capture (ring file, journal directory or segment file).
    pub a: PathBuf,
    /// The capture to compare with it.
    pub b: PathBuf,
    #[arg(long, value_name = "SPEC", help = LAYOUT_HELP)]
    pub layout: Option<String>,
    /// Also compare the writer epoch of each record.
    #[arg(long)]
    pub epochs: bool,
}

/// What one side is, for the report.
fn describe(path: &Path, src: &Source) -> String {
    match src {
        Source::Ring(r) => format!(
            "ring {} ({}-byte records, window {})",
            path.display(),
            r.info().record_bytes,
            r.window().map_or("empty".to_string(), |w| format!("seq {}..={}", w.first, w.last))
        ),
        Source::Journal(j) => match &j.archive {
            Some(h) => format!("archive journal {} ({}-byte records)", path.display(), h.record_bytes),
            None => format!("journal {}", path.display()),
        },
    }
}

/// The record size and stored layout of a record source (ring or archive).
fn record_meta(src: &Source) -> Option<(u32, Option<&Layout>)> {
    match src {
        Source::Ring(r) => Some((r.info().record_bytes, r.layout())),
        Source::Journal(j) => j.archive.as_ref().map(|h| (h.record_bytes, h.layout.as_ref())),
    }
}

fn records<'a>(src: &'a Source, record_bytes: u32) -> Result<Box<dyn Iterator<Item = Result<Rec>> + 'a>> {
    Ok(match src {
        Source::Ring(r) => Box::new(RingRecords::new(r, None)),
        Source::Journal(j) => Box::new(ArchiveRecords::new(j, record_bytes)?),
    })
}

fn show_ev(ev: Option<&ReplayFailureEvidence>) -> String {
    ev.map_or("none".to_string(), evidence_text)
}

/// Every difference between two records' bytes: one line per differing field (by offset), or
/// per byte range outside the layout's fields; without a layout, the first differing byte.
fn byte_differences(layout: Option<&Layout>, a: &[u8], b: &[u8]) -> Vec<String> {
    if a.len() != b.len() {
        return vec![format!("length: A={} B={} bytes", a.len(), b.len())];
    }
    let Some(layout) = layout else {
        let Some(first) = a.iter().zip(b).position(|(x, y)| x != y) else { return Vec::new() };
        let end = (first + 8).min(a.len());
        return vec![format!(
            "bytes at offset {first}: A={} B={} (pass --layout to name fields)",
            hex(&a[first..end]),
            hex(&b[first..end])
        )];
    };
    let mut fields: Vec<_> = layout.fields.iter().collect();
    fields.sort_by_key(|f| f.offset);
    let mut out = Vec::new();
    let mut covered = vec![false; a.len()];
    for f in fields {
        let (start, end) = (f.offset as usize, f.offset as usize + f.span() as usize);
        if end > a.len() {
            continue;
        }
        covered[start..end].iter_mut().for_each(|c| *c = true);
        if a[start..end] != b[start..end] {
            let va = f.decode_value(a).map_or_else(|_| "?".to_string(), |v| v.to_string());
            let vb = f.decode_value(b).map_or_else(|_| "?".to_string(), |v| v.to_string());
            out.push(format!("field {}: A={va} B={vb}", f.name));
        }
    }
    if let Some(first) = (0..a.len()).find(|&i| !covered[i] && a[i] != b[i]) {
        out.push(format!("byte {first} (outside the layout's fields): A={:02x} B={:02x}", a[first], b[first]));
    }
    out
}

fn record_differences(layout: Option<&Layout>, epochs: bool, a: &Rec, b: &Rec) -> Vec<String> {
    let mut d = Vec::new();
    if epochs && a.epoch != b.epoch {
        d.push(format!("epoch: A={} B={}", a.epoch, b.epoch));
    }
    d.extend(byte_differences(layout, &a.bytes, &b.bytes));
    if a.evidence != b.evidence {
        d.push(format!("evidence: A={} B={}", show_ev(a.evidence.as_ref()), show_ev(b.evidence.as_ref())));
    }
    d
}

fn frame_differences(layout: Option<&Layout>, a: &Item, b: &Item) -> Vec<String> {
    let mut d = Vec::new();
    if a.kind != b.kind {
        d.push(format!("kind: A={} B={}", a.kind, b.kind));
    }
    d.extend(byte_differences(layout, &a.data, &b.data));
    d
}

/// Tallies a comparison.
#[derive(Default)]
struct Tally {
    compared: u64,
    differing: u64,
    only_a: u64,
    only_b: u64,
    first: Option<(String, Vec<String>)>,
}

impl Tally {
    fn differs(&self) -> bool {
        self.differing > 0 || self.only_a > 0 || self.only_b > 0
    }

    fn note_first(&mut self, at: String, what: Vec<String>) {
        if self.first.is_none() {
            self.first = Some((at, what));
        }
    }
}

/// Merge-joins two streams ascending by `key` (seq or LSN): items with the same key are
/// compared with `diff`, an item whose key the other side lacks is counted as only on its side.
fn compare<T>(
    mut ia: impl Iterator<Item = Result<T>>,
    mut ib: impl Iterator<Item = Result<T>>,
    key: impl Fn(&T) -> u64,
    name: &str,
    diff: impl Fn(&T, &T) -> Vec<String>,
) -> Result<Tally> {
    let mut t = Tally::default();
    let (mut a, mut b) = (ia.next().transpose()?, ib.next().transpose()?);
    loop {
        match (a.take(), b.take()) {
            (None, None) => break,
            (Some(x), Some(y)) if key(&x) == key(&y) => {
                t.compared += 1;
                let d = diff(&x, &y);
                if !d.is_empty() {
                    t.differing += 1;
                    t.note_first(format!("{name} {}", key(&x)), d);
                }
                (a, b) = (ia.next().transpose()?, ib.next().transpose()?);
            }
            (Some(x), y) if y.as_ref().is_none_or(|y| key(&x) < key(y)) => {
                t.only_a += 1;
                t.note_first(format!("{name} {}", key(&x)), vec![format!("only A has {name} {}", key(&x))]);
                (a, b) = (ia.next().transpose()?, y);
            }
            (x, Some(y)) => {
                t.only_b += 1;
                t.note_first(format!("{name} {}", key(&y)), vec![format!("only B has {name} {}", key(&y))]);
                (a, b) = (x, ib.next().transpose()?);
            }
            (Some(_), None) => unreachable!("handled above"),
        }
    }
    Ok(t)
}

/// Runs `diff`.
pub fn run(args: &DiffArgs) -> Result<ExitCode> {
    let a = input::open(&args.a)?;
    let b = input::open(&args.b)?;
    let mut out = Out::stdout();
    out.line(format!("A: {}", describe(&args.a, &a)))?;
    out.line(format!("B: {}", describe(&args.b, &b)))?;
    let (ma, mb) = (record_meta(&a), record_meta(&b));
    let tally = if ma.is_some() || mb.is_some() {
        // Records: a side without record metadata is a journal read as headerless archive.
        let (rba, la) = ma.unwrap_or((mb.unwrap().0, None));
        let (rbb, lb) = mb.unwrap_or((rba, None));
        if rba != rbb {
            out.line(format!("record sizes differ: A {rba} bytes, B {rbb} bytes"))?;
            out.line("result: captures differ")?;
            out.flush()?;
            return Ok(ExitCode::from(EXIT_PROBLEMS));
        }
        if let (Some(x), Some(y)) = (la, lb) {
            if x != y && args.layout.is_none() {
                out.line(format!("note: stored layouts differ (A: {x}; B: {y}); decoding with A's"))?;
            }
        }
        let layout = input::choose_layout(&args.a, args.layout.as_deref(), la.or(lb), Some(rba))?;
        let seq = |r: &Rec| r.seq;
        compare(records(&a, rba)?, records(&b, rbb)?, seq, "seq", |x, y| {
            record_differences(layout.as_ref(), args.epochs, x, y)
        })?
    } else {
        let (Source::Journal(ja), Source::Journal(jb)) = (&a, &b) else { unreachable!("rings have record metadata") };
        let layout = input::choose_layout(&args.a, args.layout.as_deref(), None, None)?;
        let (ia, ib) = (input::journal_items(ja, Position::Start)?, input::journal_items(jb, Position::Start)?);
        compare(ia, ib, |i: &Item| i.lsn, "lsn", |x, y| frame_differences(layout.as_ref(), x, y))?
    };
    if let Some((at, diffs)) = &tally.first {
        out.line(format!("first divergence at {at}:"))?;
        for d in diffs {
            out.line(format!("  {d}"))?;
        }
    }
    out.line(format!(
        "summary: {} records compared (same seq on both sides), {} differ; {} only in A, {} only in B",
        tally.compared, tally.differing, tally.only_a, tally.only_b
    ))?;
    out.line(if tally.differs() { "result: captures differ" } else { "result: identical" })?;
    out.flush()?;
    // Damage in a journal side is reported after the comparison of what was readable.
    for src in [&a, &b] {
        if let Source::Journal(j) = src {
            if let Some(e) = input::journal_problem(j) {
                return Err(e);
            }
        }
    }
    Ok(if tally.differs() { ExitCode::from(EXIT_PROBLEMS) } else { ExitCode::SUCCESS })
}
