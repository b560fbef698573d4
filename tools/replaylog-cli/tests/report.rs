//! `replaylog report A B --out FILE` (issue 20, item 3), run as a user runs it: synthetic
//! reference and candidate rings with known differences give PASS and FAIL reports whose HTML is
//! checked structurally (the verdict, one plot per numeric field, the divergence at its key with
//! both values, the missing key); a real browser (headless Chromium) renders them; strings taken
//! from a capture (layout, field names, evidence messages, paths) stay text; bad inputs (captures
//! that cannot be compared, an existing output, an empty capture, a damaged ring) give the exit
//! status and the file the command documents.
//!
//! The browser tests skip with a notice when no Chromium binary is found, unless
//! `REPLAYLOG_REQUIRE_BROWSER=1` (set by `.ci/run`), where a missing browser fails them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use replaylog::{FailureKind, Field, FieldType, Layout, RecordLayout, ReplayFailureEvidence, RingLog, RingOptions};

/// 32 bytes: a key, a wall-clock field, a float and two integers.
#[replaylog::record(name = "rec")]
#[derive(Clone, Copy, Debug)]
struct Rec {
    tick: u64,
    t_ns: u64,
    value: f64,
    level: i32,
    code: u32,
}

fn rec(i: u64) -> Rec {
    Rec { tick: i, t_ns: 1_000_000 * i, value: 1.0 + i as f64 * 1e-3, level: (i % 50) as i32 - 25, code: 7 }
}

/// Writes a ring of `records` (each with its evidence, if any).
fn ring(
    path: &Path,
    cap: u64,
    layout: Layout,
    records: impl IntoIterator<Item = (Rec, Option<ReplayFailureEvidence>)>,
) {
    let mut log: RingLog<Rec> = RingLog::open_with(path, cap, RingOptions::default().layout(layout)).unwrap();
    for (r, e) in records {
        match e {
            Some(e) => log.append_with_failure(&r, &e).unwrap(),
            None => log.append(&r).unwrap(),
        }
    }
    log.sync().unwrap();
}

fn timeout(i: u64) -> Option<ReplayFailureEvidence> {
    (i % 1000 == 999).then(|| ReplayFailureEvidence::new(FailureKind::Timeout, 110, format!("deadline missed at {i}")))
}

/// The reference: 10,000 records, evidence every 1000.
fn reference(path: &Path) {
    ring(path, 16_384, Rec::layout(), (0..10_000).map(|i| (rec(i), timeout(i))));
}

/// The candidate: float noise of 1e-12 on `value` from record 0 on, another wall clock; with
/// `fail`, `value` off by 0.5 at tick 5000, tick 7000 dropped, and evidence at tick 2500 the
/// reference lacks.
fn candidate(path: &Path, fail: bool) {
    let records = (0..10_000).filter(|&i| !(fail && i == 7000)).map(|i| {
        let mut r = rec(i);
        r.value += 1e-12;
        r.t_ns += 123_456;
        if fail && i == 5000 {
            r.value += 0.5;
        }
        let e = timeout(i).or_else(|| {
            (fail && i == 2500).then(|| ReplayFailureEvidence::new(FailureKind::Backend, 5, "sensor bus: CRC error"))
        });
        (r, e)
    });
    ring(path, 16_384, Rec::layout(), records);
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_replaylog")
}

fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `report` and checks its exit status; returns stdout and stderr.
fn report(args: &[&str], code: i32) -> (String, String) {
    let mut all = vec!["report"];
    all.extend_from_slice(args);
    let out = run(&all);
    let (o, e) = (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert_eq!(out.status.code(), Some(code), "{all:?}: stdout {o} stderr {e}");
    (o, e)
}

const TOLERANT: [&str; 6] = ["--align", "tick", "--ignore", "t_ns", "--rtol", "value=1e-9"];

// ---------------------------------------------------------------------------------------------
// A minimal reading of the HTML: text without tags and entities, tables as rows of cells.

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// The text of an HTML fragment: tags removed, entities decoded.
fn text(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    unescape(&out)
}

/// The element with exactly this opening tag, up to its closing tag (not nested in itself).
fn element<'a>(html: &'a str, open: &str) -> Option<&'a str> {
    let start = html.find(open)?;
    let name: String = open[1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
    let end = html[start..].find(&format!("</{name}>"))? + start;
    Some(&html[start..end])
}

/// The rows (cells as text) of the first table after `heading_text` (matched in a heading's text).
fn table_after(html: &str, heading_text: &str) -> Option<Vec<Vec<String>>> {
    let mut at = 0;
    let start = loop {
        let h = html[at..].find("<h3>")? + at;
        let end = html[h..].find("</h3>")? + h;
        if text(&html[h..end]).contains(heading_text) {
            break end;
        }
        at = end;
    };
    let table = element(&html[start..], "<table>")?;
    let body = element(table, "<tbody>")?;
    Some(
        body.split("<tr")
            .skip(1)
            .map(|row| row.split("<td").skip(1).map(|c| text(&format!("<td{c}")).trim().to_string()).collect())
            .collect(),
    )
}

fn verdict(html: &str) -> String {
    let v = element(html, "<section class=\"verdict").expect("a verdict section");
    text(element(v, "<div class=\"big\">").expect("the big verdict")).trim().to_string()
}

fn plots(html: &str) -> usize {
    html.matches("<svg class=\"plot\"").count()
}

/// The plotted fields' names, from the figure captions.
fn plotted(html: &str) -> Vec<String> {
    html.split("<figcaption><strong>").skip(1).map(|c| text(c.split_once("</strong>").unwrap().0)).collect()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn runs_within_tolerance_give_a_pass_report() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, out) = (dir.path().join("reference.ring"), dir.path().join("candidate.ring"), dir.path().join("r.html"));
    reference(&a);
    candidate(&b, false);
    let mut args = vec![s(&a), s(&b), "--out", s(&out)];
    args.extend(TOLERANT);
    let (stdout, _) = report(&args, 0);
    assert!(stdout.starts_with("PASS"), "{stdout}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(verdict(&html), "PASS");
    assert!(html.starts_with("<!DOCTYPE html>"));
    // One plot per numeric scalar field but the key (tick) and the ignored one (t_ns).
    assert_eq!(plotted(&html), ["value", "level", "code"]);
    assert_eq!(plots(&html), 3);
    assert!(text(&html).contains("Not plotted: tick (the alignment key), t_ns (ignored)."), "{}", text(&html));
    // Provenance: both paths and the record counts; the options; the signature block.
    let inputs = text(element(&html, "<section id=\"inputs\">").unwrap());
    assert!(inputs.contains(s(&a)) && inputs.contains(s(&b)), "{inputs}");
    assert!(inputs.contains("Records read10,00010,000"), "{inputs}");
    let options = text(element(&html, "<section id=\"options\">").unwrap());
    assert!(options.contains("by the key field tick") && options.contains("value: rel 1e-9"), "{options}");
    let footer = text(element(&html, "<footer>").unwrap());
    assert!(footer.contains(&format!("replaylog {}", env!("CARGO_PKG_VERSION"))), "{footer}");
    assert!(footer.contains("Reviewed by") && footer.contains("Signature") && footer.contains(" UTC"), "{footer}");
    assert!(table_after(&html, "First divergences").is_none(), "a pass lists no divergence");
    // Self-contained: nothing is loaded, nothing runs.
    for banned in ["<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import"] {
        assert!(!html.contains(banned), "{banned}");
    }

    // Bit-exact, the same captures fail from record 0 on (the 1e-12 noise).
    let exact = dir.path().join("exact.html");
    report(&[s(&a), s(&b), "--out", s(&exact), "--align", "tick", "--ignore", "t_ns"], 1);
    let html = std::fs::read_to_string(&exact).unwrap();
    assert_eq!(verdict(&html), "FAIL");
    let rows = table_after(&html, "First divergences").unwrap();
    assert_eq!(rows.len(), 10, "--limit's default");
    assert_eq!(
        rows[0][..4],
        ["0".to_string(), "value".into(), rec(0).value.to_string(), (rec(0).value + 1e-12).to_string()]
    );
}

#[test]
fn a_failing_candidate_is_reported_at_its_keys_with_both_values() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, out) = (dir.path().join("reference.ring"), dir.path().join("candidate.ring"), dir.path().join("r.html"));
    reference(&a);
    candidate(&b, true);
    let mut args = vec![s(&a), s(&b), "--out", s(&out)];
    args.extend(TOLERANT);
    let (stdout, _) = report(&args, 1);
    assert!(stdout.starts_with("FAIL"), "{stdout}");
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(verdict(&html), "FAIL");
    let reasons = text(element(&html, "<section class=\"verdict").unwrap());
    assert!(reasons.contains("2 of 9999 aligned records outside tolerance"), "{reasons}");
    assert!(reasons.contains("1 key missing from the candidate"), "{reasons}");
    assert_eq!(plots(&html), 3);
    // The divergences: the evidence the reference lacks at 2500, the spike at 5000, both values.
    let rows = table_after(&html, "First divergences").unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0][..4],
        ["2,500".to_string(), "evidence".into(), "none".into(), "backend code=5 \"sensor bus: CRC error\"".into()]
    );
    let (ra, rb) = (rec(5000).value, rec(5000).value + 1e-12 + 0.5);
    assert_eq!(rows[1][..4], ["5,000".to_string(), "value".into(), ra.to_string(), rb.to_string()]);
    assert_eq!(rows[1][4], "0.5", "|a - b|");
    // The per-field summary: value diverged once, at 5000.
    let fields = table_after(&html, "Fields").unwrap();
    let value = fields.iter().find(|r| r[0] == "value").unwrap();
    assert_eq!(value[2..6], ["rel 1e-9".to_string(), "1".into(), "5,000".into(), "5,000".into()]);
    let t_ns = fields.iter().find(|r| r[0] == "t_ns").unwrap();
    assert_eq!(t_ns[8], "ignored");
    // The dropped record: one missing key, nothing extra.
    let gaps = text(&html[html.find("<h3>Missing and extra keys").unwrap()..]);
    assert!(gaps.contains("Missing from the candidate (only the reference has them): 1 key: 7,000"), "{gaps}");
    assert!(!gaps.contains("Extra in the candidate (only"), "{gaps}");
    // Evidence, both sides, with the one only the candidate has.
    let ev = table_after(&html, "Failure evidence").unwrap();
    let at = ev.iter().find(|r| r[0] == "2,500").unwrap();
    assert_eq!(at[1..], ["none".to_string(), "backend code 5: sensor bus: CRC error".into()]);
    let at = ev.iter().find(|r| r[0] == "999").unwrap();
    assert_eq!(at[1], at[2]);
}

// ---------------------------------------------------------------------------------------------
// The browser

/// A Chromium binary, or `None` with a notice (a failure when REPLAYLOG_REQUIRE_BROWSER=1).
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let found = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("REPLAYLOG_REQUIRE_BROWSER").as_deref() != Ok("1"),
            "REPLAYLOG_REQUIRE_BROWSER=1 but no chromium binary on PATH (apt-get install chromium)"
        );
        eprintln!("NOTICE: no chromium binary on PATH: the browser check of the report is SKIPPED");
    }
    found
}

/// The DOM after Chromium loaded `page` (headless, no network).
fn dump_dom(chromium: &Path, page: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && dom.contains("</html>"), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    dom
}

/// Every element name and attribute name of a serialized DOM (in which text never holds a `<`).
fn tags_and_attributes(dom: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut tags, mut attrs) = (BTreeSet::new(), BTreeSet::new());
    let b = dom.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' {
            i += 1;
            continue;
        }
        i += 1;
        if i < b.len() && (b[i] == b'!' || b[i] == b'/') {
            while i < b.len() && b[i] != b'>' {
                i += 1;
            }
            continue;
        }
        let start = i;
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' && b[i] != b'/' {
            i += 1;
        }
        tags.insert(dom[start..i].to_ascii_lowercase());
        // Attributes: name[=value], values quoted.
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                break;
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'=' && b[i] != b'>' {
                i += 1;
            }
            attrs.insert(dom[start..i].to_ascii_lowercase());
            if i < b.len() && b[i] == b'=' {
                i += 1;
                if i < b.len() && (b[i] == b'"' || b[i] == b'\'') {
                    let q = b[i];
                    i += 1;
                    while i < b.len() && b[i] != q {
                        i += 1;
                    }
                    i += 1;
                } else {
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                }
            }
        }
    }
    (tags, attrs)
}

/// The elements and attributes the report is made of: anything else came from a capture.
const TAGS: &[&str] = &[
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "h1",
    "h2",
    "h3",
    "section",
    "div",
    "p",
    "ul",
    "li",
    "code",
    "span",
    "strong",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "figure",
    "figcaption",
    "footer",
    "svg",
    "rect",
    "line",
    "path",
    "text",
];
const ATTRIBUTES: &[&str] = &[
    "lang",
    "charset",
    "http-equiv",
    "content",
    "name",
    "class",
    "id",
    "xmlns",
    "viewbox",
    "role",
    "x",
    "y",
    "x1",
    "x2",
    "y1",
    "y2",
    "width",
    "height",
    "d",
    "fill",
    "stroke",
    "stroke-width",
    "stroke-opacity",
    "stroke-linejoin",
    "stroke-linecap",
    "stroke-dasharray",
    "text-anchor",
    "font-size",
    "transform",
];

fn assert_only_report_markup(dom: &str) {
    let (tags, attrs) = tags_and_attributes(dom);
    let foreign: Vec<&String> = tags.iter().filter(|t| !TAGS.contains(&t.as_str())).collect();
    assert!(foreign.is_empty(), "elements that are not the report's: {foreign:?}");
    let foreign: Vec<&String> = attrs.iter().filter(|a| !ATTRIBUTES.contains(&a.as_str())).collect();
    assert!(foreign.is_empty(), "attributes that are not the report's: {foreign:?}");
}

#[test]
fn a_browser_renders_the_verdict_and_one_plot_per_numeric_field() {
    let Some(chromium) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (a, pass, fail) = (dir.path().join("a.ring"), dir.path().join("pass.ring"), dir.path().join("fail.ring"));
    reference(&a);
    candidate(&pass, false);
    candidate(&fail, true);
    for (b, code, verdict, fields) in [(&pass, 0, "PASS", 3), (&fail, 1, "FAIL", 3), (&fail, 1, "FAIL", 5)] {
        let out = dir.path().join(format!("{verdict}-{fields}.html"));
        let mut args = vec![s(&a), s(b), "--out", s(&out)];
        if fields == 3 {
            args.extend(TOLERANT);
        }
        report(&args, code);
        let dom = dump_dom(&chromium, &out);
        assert_eq!(
            text(element(element(&dom, "<section class=\"verdict").unwrap(), "<div class=\"big\">").unwrap()),
            verdict
        );
        // Aligned by seq with nothing ignored, every numeric field is plotted: tick, t_ns too.
        assert_eq!(dom.matches("<svg class=\"plot\"").count(), fields, "{dom}");
        assert_eq!(dom.matches("<figure>").count(), fields);
        // The plots were parsed as SVG (paths with data), not as text.
        assert!(dom.matches("<path d=\"M").count() >= 3 * fields, "{dom}");
        assert_eq!(text(element(&dom, "<title>").unwrap()), format!("replaylog certification report: {verdict}"));
        assert_only_report_markup(&dom);
    }
}

/// Strings from a capture that are markup: a layout name, field names, an evidence message and
/// a path.
#[test]
fn strings_from_a_capture_stay_text() {
    const MESSAGE: &str = "<script>document.title='x'</script><img src=x onerror=alert(1)>";
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("<b>run & \"co\" 'q'");
    std::fs::create_dir(&sub).unwrap();
    let layout = Layout::new(
        "<script>document.title='y'</script>",
        vec![
            Field::new("<b>key</b>", FieldType::U64, 0),
            Field::new("t\" onmouseover=\"alert(2)", FieldType::U64, 8),
            Field::new("<img src=y onerror=alert(3)>", FieldType::F64, 16),
            Field::new("<i>level", FieldType::I32, 24),
        ],
    );
    let (a, b, out) = (sub.join("a<i>.ring"), sub.join("b'.ring"), sub.join("<em>report.html"));
    ring(&a, 64, layout.clone(), (0..20).map(|i| (rec(i), None)));
    let hostile = ReplayFailureEvidence::new(FailureKind::Other(3), -1, MESSAGE);
    ring(&b, 64, layout, (0..20).map(|i| (rec(i), (i == 7).then(|| hostile.clone()))));
    report(&[s(&a), s(&b), "--out", s(&out), "--align", "<b>key</b>", "--ignore", "t\" onmouseover=\"alert(2)"], 1);
    let html = std::fs::read_to_string(&out).unwrap();
    for raw in ["<script", "<img", "<b>", "<i>", "<em>", "onmouseover=\"", "document.title='x'"] {
        assert!(!html.contains(raw), "{raw} unescaped in the report");
    }
    assert!(html.contains("&lt;script&gt;document.title=&#39;x&#39;&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"));
    let all = text(&html);
    for shown in [MESSAGE, "<b>key</b>", "<img src=y onerror=alert(3)>", "<i>level", s(&a), s(&b)] {
        assert!(all.contains(shown), "{shown} is not shown as text");
    }
    assert_eq!(plotted(&html), ["<img src=y onerror=alert(3)>", "<i>level"]);

    let Some(chromium) = chromium() else { return };
    let dom = dump_dom(&chromium, &out);
    assert_only_report_markup(&dom);
    assert_eq!(text(element(&dom, "<title>").unwrap()), "replaylog certification report: FAIL", "the title is not 'x'");
    let shown = text(&dom);
    for s in [MESSAGE, "<script>document.title='y'</script>", "<b>key</b>", "t\" onmouseover=\"alert(2)"] {
        assert!(shown.contains(s), "{s} is not in the rendered text");
    }
    assert_eq!(dom.matches("<svg class=\"plot\"").count(), 2);
}

// ---------------------------------------------------------------------------------------------
// Bad input

#[test]
fn captures_that_cannot_be_compared_are_refused_and_no_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, out) = (d.join("a.ring"), d.join("r.html"));
    reference(&a);
    // A record of other fields (and another size): nothing in common.
    #[replaylog::record(name = "other")]
    #[derive(Clone, Copy)]
    struct Other {
        x: u64,
        y: f64,
        z: f64,
        w: f64,
        v: f64,
    }
    let other = d.join("other.ring");
    let mut log: RingLog<Other> = RingLog::open_with(&other, 64, RingOptions::default().layout_of::<Other>()).unwrap();
    log.append(&Other { x: 1, y: 2.0, z: 3.0, w: 4.0, v: 5.0 }).unwrap();
    log.sync().unwrap();
    drop(log);
    let (_, err) = report(&[s(&a), s(&other), "--out", s(&out)], 2);
    assert!(err.contains("field tick of the reference's layout is not in the candidate's"), "{err}");
    assert!(err.contains("no report was written"), "{err}");
    // Without layouts: the record sizes differ.
    let (x, y) = (d.join("x.ring"), d.join("y.ring"));
    let mut lx: RingLog<Rec> = RingLog::open_with(&x, 8, RingOptions::default()).unwrap();
    lx.append(&rec(0)).unwrap();
    lx.sync().unwrap();
    let mut ly: RingLog<Other> = RingLog::open_with(&y, 8, RingOptions::default()).unwrap();
    ly.append(&Other { x: 1, y: 2.0, z: 3.0, w: 4.0, v: 5.0 }).unwrap();
    ly.sync().unwrap();
    let (_, err) = report(&[s(&x), s(&y), "--out", s(&out)], 2);
    assert!(err.contains("record sizes differ: reference 32 bytes, candidate 40 bytes"), "{err}");
    // Options naming a field the layout lacks, or malformed.
    let (_, err) = report(&[s(&a), s(&a), "--out", s(&out), "--tol", "nosuch=1"], 2);
    assert!(err.contains("no field \"nosuch\" in layout rec"), "{err}");
    let (_, err) = report(&[s(&a), s(&a), "--out", s(&out), "--rtol", "value=-1"], 2);
    assert!(err.contains("--rtol \"value=-1\""), "{err}");
    let (_, err) = report(&[s(&a), s(&a), "--out", s(&out), "--align", "value"], 2);
    assert!(err.contains("--align value: the key must be an integer scalar field"), "{err}");
    let (_, err) = report(&[s(&a), s(&d.join("nothing.ring")), "--out", s(&out)], 2);
    assert!(err.contains("nothing.ring"), "{err}");
    assert_eq!(std::fs::read_dir(d).unwrap().count(), 4, "the four rings: no report, no temporary file");
    assert!(!out.exists());
    // A directory that does not exist.
    let (_, err) = report(&[s(&a), s(&a), "--out", s(&d.join("no/such/dir/r.html"))], 2);
    assert!(err.contains("is not a directory"), "{err}");
}

#[test]
fn an_existing_report_is_kept_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let (a, out) = (dir.path().join("a.ring"), dir.path().join("r.html"));
    reference(&a);
    std::fs::write(&out, "theirs").unwrap();
    let (_, err) = report(&[s(&a), s(&a), "--out", s(&out)], 2);
    assert!(err.contains("already exists") && err.contains("--force"), "{err}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "theirs");
    report(&[s(&a), s(&a), "--out", s(&out), "--force"], 0);
    assert_eq!(verdict(&std::fs::read_to_string(&out).unwrap()), "PASS");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "no temporary file left");
}

#[test]
fn an_empty_capture_fails_with_a_report() {
    let dir = tempfile::tempdir().unwrap();
    let (a, empty, out) = (dir.path().join("a.ring"), dir.path().join("empty.ring"), dir.path().join("r.html"));
    reference(&a);
    ring(&empty, 64, Rec::layout(), []);
    report(&[s(&a), s(&empty), "--out", s(&out)], 1);
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(verdict(&html), "FAIL");
    let v = text(element(&html, "<section class=\"verdict").unwrap());
    assert!(v.contains("the candidate holds no records") && v.contains("10000 keys missing from the candidate"), "{v}");
    // The reference is still plotted over its keys; the candidate has nothing to plot.
    assert_eq!(plots(&html), 5);
    // Both empty: no key range, a plot that says so.
    let both = dir.path().join("both.html");
    report(&[s(&empty), s(&empty), "--out", s(&both)], 1);
    let html = std::fs::read_to_string(&both).unwrap();
    assert_eq!(verdict(&html), "FAIL");
    assert!(text(&html).contains("the reference holds no records"));
}

/// Flips a byte inside the record of slot `index`.
fn flip_slot_byte(ring: &Path, index: u64) {
    let info = replaylog::RawRing::open(ring).unwrap().info();
    let at = (info.slots_offset + index * info.slot_bytes as u64 + info.slot_bytes as u64 - 20) as usize;
    let mut bytes = std::fs::read(ring).unwrap();
    bytes[at] ^= 0x10;
    std::fs::write(ring, &bytes).unwrap();
}

#[test]
fn a_damaged_ring_is_reported_with_its_problem() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (a, b) = (d.join("a.ring"), d.join("b.ring"));
    ring(&a, 64, Rec::layout(), (0..40).map(|i| (rec(i), None)));
    ring(&b, 64, Rec::layout(), (0..40).map(|i| (rec(i), None)));
    // Slot 3's CRC no longer matches: the window a writer's open recovers starts after it.
    flip_slot_byte(&b, 3);
    let out = d.join("fail.html");
    report(&[s(&a), s(&b), "--out", s(&out)], 1);
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(verdict(&html), "FAIL");
    let v = text(element(&html, "<section class=\"verdict").unwrap());
    assert!(v.contains("4 keys missing from the candidate") && v.contains("a capture is damaged"), "{v}");
    let inputs = text(element(&html, "<section id=\"inputs\">").unwrap());
    let problems = inputs.split_once("Problems").unwrap().1;
    assert!(problems.starts_with("none found") && problems.contains("slot 3"), "{problems}");
    // The damaged ring against itself: equal over what is readable, but not a pass.
    let out = d.join("damaged.html");
    report(&[s(&b), s(&b), "--out", s(&out)], 1);
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(verdict(&html), "DAMAGED");
    assert!(text(element(&html, "<section class=\"verdict").unwrap()).contains("compared over what was readable"));
}

/// Recorder directories: a section per lane, by name; a lane only one side has fails.
#[test]
fn recorder_directories_are_reported_lane_by_lane() {
    use replaylog::recorder::{Recorder, RecorderOptions};
    let dir = tempfile::tempdir().unwrap();
    let (a, b, out) = (dir.path().join("ref"), dir.path().join("cand"), dir.path().join("r.html"));
    for (path, lanes, spike) in [(&a, &["left", "right"][..], false), (&b, &["left", "right", "spare"][..], true)] {
        let opts = RecorderOptions::default().capacity_slots(256).layout_of::<Rec>();
        let recorder: Recorder<Rec> = Recorder::open(path, opts).unwrap();
        for name in lanes {
            let mut lane = recorder.lane(name).unwrap();
            for i in 0..100 {
                let mut r = rec(i);
                if spike && *name == "right" && i == 50 {
                    r.level += 3;
                }
                lane.append(&r).unwrap();
            }
            lane.sync().unwrap();
        }
    }
    report(&[s(&a), s(&b), "--out", s(&out)], 1);
    let html = std::fs::read_to_string(&out).unwrap();
    assert_eq!(verdict(&html), "FAIL");
    let lanes: Vec<String> = html
        .split("<section class=\"stream\">")
        .skip(1)
        .map(|x| text(x.split_once("</h2>").unwrap().0).trim().to_string())
        .collect();
    assert_eq!(lanes, ["Lane left — pass", "Lane right — fail", "Lane spare — fail"]);
    let spare = html.split("<section class=\"stream\">").nth(3).unwrap();
    assert!(text(spare).contains("Only the candidate has this lane."));
    let right = html.split("<section class=\"stream\">").nth(2).unwrap();
    let rows = table_after(right, "First divergences").unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    let (x, y) = (rec(50).level, rec(50).level + 3);
    assert_eq!(rows[0][..5], ["50".to_string(), "level".into(), x.to_string(), y.to_string(), "3".into()]);
    // Every lane plots its numeric fields (aligned by seq, nothing ignored: all five).
    assert_eq!(plots(&html), 15);
}
