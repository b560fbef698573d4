//! Output helpers shared by the subcommands: a buffered stdout, hex, text/JSON rendering of
//! failure evidence and journal data, and progress bars that only draw on a terminal.

use std::fmt::Write as _;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use replaylog::{FailureKind, ReplayFailureEvidence};
use serde_json::{Value, json};

use crate::error::{Result, out_err};

/// Inputs with at least this many items get a progress bar (on a terminal).
pub const PROGRESS_MIN_ITEMS: u64 = 10_000;

/// Buffered stdout. Call [`Out::flush`] at the end (and after each record when following).
pub struct Out {
    inner: BufWriter<Box<dyn Write>>,
}

impl Out {
    /// Standard output.
    pub fn stdout() -> Out {
        Out::to(Box::new(io::stdout()))
    }

    /// Any writer (a file for `--out`).
    pub fn to(w: Box<dyn Write>) -> Out {
        Out { inner: BufWriter::with_capacity(64 * 1024, w) }
    }

    /// Writes one line.
    pub fn line(&mut self, s: impl AsRef<str>) -> Result<()> {
        let w = &mut self.inner;
        w.write_all(s.as_ref().as_bytes()).and_then(|()| w.write_all(b"\n")).map_err(out_err)
    }

    /// Writes one JSON value on one line.
    pub fn json(&mut self, v: &Value) -> Result<()> {
        serde_json::to_writer(&mut self.inner, v).map_err(|e| out_err(e.into()))?;
        self.inner.write_all(b"\n").map_err(out_err)
    }

    /// Writes one JSON value, pretty-printed.
    pub fn json_pretty(&mut self, v: &Value) -> Result<()> {
        serde_json::to_writer_pretty(&mut self.inner, v).map_err(|e| out_err(e.into()))?;
        self.inner.write_all(b"\n").map_err(out_err)
    }

    /// Flushes.
    pub fn flush(&mut self) -> Result<()> {
        self.inner.flush().map_err(out_err)
    }
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The failure kind's tag and `Other` code as stored on disk (1 backend, 2 runtime, 3 timeout,
/// 4 other).
pub fn kind_tag(kind: FailureKind) -> (u16, u16) {
    match kind {
        FailureKind::Backend => (1, 0),
        FailureKind::Runtime => (2, 0),
        FailureKind::Timeout => (3, 0),
        FailureKind::Other(c) => (4, c),
    }
}

/// The kind's name without the code: `backend`, `runtime`, `timeout`, `other`.
pub fn kind_name(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::Backend => "backend",
        FailureKind::Runtime => "runtime",
        FailureKind::Timeout => "timeout",
        FailureKind::Other(_) => "other",
    }
}

/// Evidence as JSON: `{"kind", "other_code", "code", "message"}` or `null`.
pub fn evidence_json(ev: Option<&ReplayFailureEvidence>) -> Value {
    match ev {
        None => Value::Null,
        Some(ev) => json!({
            "kind": kind_name(ev.kind),
            "other_code": kind_tag(ev.kind).1,
            "code": ev.code,
            "message": ev.message,
        }),
    }
}

/// Evidence as text: `FAILURE timeout code=110 "message"`.
pub fn evidence_text(ev: &ReplayFailureEvidence) -> String {
    format!("FAILURE {} code={} {:?}", ev.kind.name(), ev.code, ev.message)
}

/// `data` as UTF-8 when it is valid UTF-8 with no control characters other than tab, newline
/// and carriage return (what `dump` prints as text), else `None`.
pub fn printable_utf8(data: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(data).ok()?;
    s.chars().all(|c| !c.is_control() || matches!(c, '\t' | '\n' | '\r')).then_some(s)
}

/// Whether progress may be drawn: stderr and stdout are both terminals.
pub fn interactive() -> bool {
    io::stderr().is_terminal() && io::stdout().is_terminal()
}

/// A progress bar over `total` items on stderr, hidden unless [`interactive`] and `total` is
/// at least [`PROGRESS_MIN_ITEMS`].
pub fn progress(total: u64, what: &str) -> ProgressBar {
    if !interactive() || total < PROGRESS_MIN_ITEMS {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{msg} [{wide_bar}] {human_pos}/{human_len} (eta {eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_string());
    bar
}

/// A spinner on stderr for one long call whose progress is not observable, hidden unless
/// [`interactive`].
pub fn spinner(what: &str) -> ProgressBar {
    if !interactive() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    bar.set_message(what.to_string());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
