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
//! Recorder directories compare lane by lane: each lane of A with the lane of the same name in
//! B, as two rings (records aligned by seq); a lane only one side has is a difference, reported
//! by name with its record count. A recorder directory may also be compared with an archive
//! journal of its lanes (`archive DIR --to OUT`, `export DIR --to journal:OUT`), whose records
//! are grouped by the lane each entry names. Every lane must be readable with the others
//! (status 2 otherwise, naming the file). The report: per lane, its first divergence and
//! counts; then a summary over all lanes.
//!
//! Exit status: 0 identical, 1 the captures differ, 2 error.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use replaylog::{Item, Layout, Position, ReplayFailureEvidence};

use crate::error::{CliError, EXIT_PROBLEMS, Result};
use crate::input::{self, ArchiveRecords, JournalSource, Rec, RingRecords, Source};
use crate::output::{LAYOUT_HELP, Out, evidence_text, hex};

/// Options of `replaylog diff`.
#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The reference capture (ring file, journal directory, recorder directory or segment file).
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
        Source::Recorder(d) => {
            let names: Vec<&str> = d.lanes().iter().map(|l| &*l.name).collect();
            format!("recorder directory {} ({} lanes: {})", path.display(), names.len(), names.join(", "))
        }
    }
}

/// The record size and stored layout of a record source (ring or archive).
fn record_meta(src: &Source) -> Option<(u32, Option<&Layout>)> {
    match src {
        Source::Ring(r) => Some((r.info().record_bytes, r.layout())),
        Source::Journal(j) => j.archive.as_ref().map(|h| (h.record_bytes, h.layout.as_ref())),
        Source::Recorder(d) => input::reference_ring(d).map(|r| (r.info().record_bytes, r.layout())),
    }
}

fn records<'a>(src: &'a Source, record_bytes: u32) -> Result<Box<dyn Iterator<Item = Result<Rec>> + 'a>> {
    Ok(match src {
        Source::Ring(r) => Box::new(RingRecords::new(r, None)),
        Source::Journal(j) => Box::new(ArchiveRecords::new(j, record_bytes)?),
        Source::Recorder(_) => unreachable!("recorder directories compare lane by lane"),
    })
}

/// The lanes of one side of a lane-by-lane comparison: a recorder directory's, or those an
/// archive's entries name.
fn lane_names(src: &Source, path: &Path) -> Result<BTreeSet<String>> {
    match src {
        Source::Recorder(d) => Ok(d.lanes().iter().map(|l| l.name.to_string()).collect()),
        Source::Journal(j) => {
            let mut names = BTreeSet::new();
            for r in ArchiveRecords::new(j, archive_record_bytes(j, path)?)? {
                match r?.lane {
                    Some(l) => names.insert(l),
                    None => {
                        return Err(CliError::new(
                            path,
                            "an archive entry names no lane, so it cannot be compared with a recorder directory",
                            "compare an archive of a single ring with that ring",
                        ));
                    }
                };
            }
            Ok(names)
        }
        Source::Ring(_) => unreachable!("checked by the caller"),
    }
}

fn archive_record_bytes(j: &JournalSource, path: &Path) -> Result<u32> {
    j.archive.as_ref().map(|h| h.record_bytes).ok_or_else(|| {
        CliError::new(path, "a plain journal cannot be compared with a recorder directory", "pass an archive journal")
    })
}

/// Lane `name`'s records on one side, in seq order.
fn lane_records<'a>(src: &'a Source, path: &Path, name: &'a str) -> Result<Box<dyn Iterator<Item = Result<Rec>> + 'a>> {
    match src {
        Source::Recorder(d) => {
            let lane = d.lanes().iter().find(|l| &*l.name == name).expect("a listed lane");
            let ring = lane.ring.as_ref().map_err(|e| input::lane_err(lane, e))?;
            Ok(Box::new(RingRecords::new(ring, None)))
        }
        Source::Journal(j) => {
            let iter = ArchiveRecords::new(j, archive_record_bytes(j, path)?)?;
            Ok(Box::new(iter.filter(move |r| r.as_ref().map_or(true, |r| r.lane.as_deref() == Some(name)))))
        }
        Source::Ring(_) => unreachable!("checked by the caller"),
    }
}

/// Compares two recorder directories (or one and an archive of its lanes) lane by lane.
fn diff_lanes(args: &DiffArgs, a: &Source, b: &Source, out: &mut Out) -> Result<bool> {
    for (src, path) in [(a, &args.a), (b, &args.b)] {
        match src {
            Source::Recorder(d) => input::check_lanes(d)?,
            Source::Journal(j) => {
                archive_record_bytes(j, path)?;
            }
            Source::Ring(_) => {
                return Err(CliError::new(
                    path,
                    "a ring cannot be compared with a recorder directory",
                    "compare the ring with one lane's file, DIR/NAME.ring",
                ));
            }
        }
    }
    let (ma, mb) = (record_meta(a), record_meta(b));
    let (Some((rba, la)), Some((rbb, lb))) = (ma, mb) else {
        // A directory whose lanes are all unreadable was refused above; one without lanes
        // cannot be detected as a recorder directory.
        return Err(CliError::new(&args.a, "no lane to compare", ""));
    };
    if rba != rbb {
        out.line(format!("record sizes differ: A {rba} bytes, B {rbb} bytes"))?;
        return Ok(true);
    }
    let layout = input::choose_layout(&args.a, args.layout.as_deref(), la.or(lb), Some(rba))?;
    let (na, nb) = (lane_names(a, &args.a)?, lane_names(b, &args.b)?);
    let (mut differ, mut lanes_differing, mut total) = (false, 0u64, Tally::default());
    for name in na.union(&nb) {
        let (ia, ib) = (na.contains(name), nb.contains(name));
        if !(ia && ib) {
            let (side, src, path) = if ia { ("A", a, &args.a) } else { ("B", b, &args.b) };
            let n = lane_records(src, path, name)?.count();
            out.line(format!("lane {name}: only in {side} ({n} records)"))?;
            differ = true;
            lanes_differing += 1;
            continue;
        }
        let t = compare(
            lane_records(a, &args.a, name)?,
            lane_records(b, &args.b, name)?,
            |r| r.seq,
            "seq",
            |x, y| record_differences(layout.as_ref(), args.epochs, x, y),
        )?;
        let counts = format!(
            "{} records compared, {} differ; {} only in A, {} only in B",
            t.compared, t.differing, t.only_a, t.only_b
        );
        if t.differs() {
            differ = true;
            lanes_differing += 1;
            out.line(format!("lane {name}: differs ({counts})"))?;
            if let Some((at, diffs)) = &t.first {
                out.line(format!("  first divergence at {at}:"))?;
                for d in diffs {
                    out.line(format!("    {d}"))?;
                }
            }
        } else {
            out.line(format!("lane {name}: identical ({counts})"))?;
        }
        total.compared += t.compared;
        total.differing += t.differing;
        total.only_a += t.only_a;
        total.only_b += t.only_b;
    }
    out.line(format!(
        "summary: {} lanes, {lanes_differing} differ; {} records compared (same lane and seq on both sides), {} \
         differ; {} only in A, {} only in B",
        na.union(&nb).count(),
        total.compared,
        total.differing,
        total.only_a,
        total.only_b
    ))?;
    Ok(differ)
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
    // A lane that cannot be read with the others is refused before anything is printed.
    for src in [&a, &b] {
        if let Source::Recorder(d) = src {
            input::check_lanes(d)?;
        }
    }
    let mut out = Out::stdout();
    out.line(format!("A: {}", describe(&args.a, &a)))?;
    out.line(format!("B: {}", describe(&args.b, &b)))?;
    if matches!(a, Source::Recorder(_)) || matches!(b, Source::Recorder(_)) {
        let differ = diff_lanes(args, &a, &b, &mut out)?;
        out.line(if differ { "result: captures differ" } else { "result: identical" })?;
        out.flush()?;
        for src in [&a, &b] {
            if let Source::Journal(j) = src {
                if let Some(e) = input::journal_problem(j) {
                    return Err(e);
                }
            }
        }
        return Ok(if differ { ExitCode::from(EXIT_PROBLEMS) } else { ExitCode::SUCCESS });
    }
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
