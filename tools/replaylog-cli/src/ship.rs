//! `replaylog ship SOURCE --to URL [--follow] [--delete-after-verify]`: upload a journal's or
//! archive's sealed segments to object storage (`s3://BUCKET/PREFIX`, `gs://…`, `az://…`,
//! `file:///DIR`), each verified (size and SHA-256) before the prefix's manifest lists it; a
//! journal no writer holds is shipped whole, newest segment included. Credentials, endpoint and
//! region come from the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ALLOW_HTTP`) and are never printed.
//!
//! One line per segment shipped on stdout, retries and kept segments on stderr, then a summary.
//! Exit 0 when everything shippable is shipped and verified; 1 when the store kept failing
//! (after bounded retries) or the source is damaged where it would ship; 2 bad input (unknown
//! scheme, missing bucket, refused credentials, a source that is not a journal, a foreign
//! manifest). Nothing local is deleted on any error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use replaylog_ship::{Event, RetryPolicy, ShipOptions, ShipReport, Shipper};

use crate::error::Result;
use crate::remote::ship_err;

/// Arguments of `ship`.
#[derive(Args, Debug)]
pub struct ShipArgs {
    /// The journal or archive directory to ship (read-only, but for --delete-after-verify).
    #[arg(value_name = "DIR")]
    pub source: PathBuf,
    /// Where: s3://BUCKET/PREFIX, gs://BUCKET/PREFIX, az://CONTAINER/PREFIX or file:///DIR.
    #[arg(long = "to", value_name = "URL")]
    pub to: String,
    /// Keep shipping segments as they seal (every --interval-ms) until --seconds, SIGINT or
    /// SIGTERM; then ship once more and exit.
    #[arg(long)]
    pub follow: bool,
    /// With --follow: how often to look for newly sealed segments.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub interval_ms: u64,
    /// With --follow: stop after this many seconds.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Delete local segments once shipped and verified, keeping every segment replay from the
    /// newest snapshot needs (an archive keeps all: its first segment holds its header).
    #[arg(long)]
    pub delete_after_verify: bool,
    /// Retries of each request after a transient error (backoff 200 ms doubling, at most 5 s).
    #[arg(long, value_name = "N", default_value_t = 6)]
    pub retries: u32,
    /// Segments larger than this go up as multipart uploads.
    #[arg(long, value_name = "MIB", default_value_t = 8)]
    pub multipart_mib: u64,
}

/// Set by SIGINT/SIGTERM under --follow.
static STOP: AtomicBool = AtomicBool::new(false);

/// Blocks SIGINT and SIGTERM in this thread (and the threads it starts later) and turns them
/// into [`STOP`] on a thread of their own.
fn catch_stop_signals() {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    if set.thread_block().is_ok() {
        std::thread::spawn(move || {
            if set.wait().is_ok() {
                STOP.store(true, Ordering::SeqCst);
            }
        });
    }
}

/// Prints one event: shipped segments on stdout, the rest on stderr.
pub fn print_event(url: &str, e: &Event) {
    match e {
        Event::Shipped { number, bytes, multipart, replaced } => println!(
            "shipped segment {number} ({bytes} bytes{}{}) to {url}",
            if *multipart { ", multipart" } else { "" },
            if *replaced { ", replacing the copy shipped before it grew" } else { "" }
        ),
        Event::Retry { url, attempt, what, wait } => {
            eprintln!("replaylog: {url}: attempt {attempt} failed ({what}); retrying in {} ms", wait.as_millis());
        }
        Event::LiveTail { number } => {
            eprintln!("replaylog: segment {number} not shipped: a writer holds the journal (it ships once sealed)");
        }
        Event::Deleted { number } => println!("deleted local segment {number} (shipped and verified)"),
        Event::Kept { count, why } => eprintln!("replaylog: kept {count} local segment(s): {why}"),
    }
}

/// One ship run of `source` with the CLI's printing.
pub fn ship_once(shipper: &Shipper, source: &Path) -> Result<ShipReport> {
    let url = shipper.target().url.clone();
    shipper.ship(source, &mut |e| print_event(&url, e)).map_err(|e| ship_err(source, e))
}

/// The summary line.
pub fn summary(url: &str, r: &ShipReport) -> String {
    format!(
        "shipped {} segment(s), {} bytes, to {url}; {} already there; the manifest lists {}{}{}",
        r.shipped.len(),
        r.bytes_shipped,
        r.present.len(),
        r.manifest_segments,
        if r.retries > 0 { format!("; {} retries", r.retries) } else { String::new() },
        if r.read_back > 0 {
            format!("; {} verified by reading back (the store keeps no object metadata)", r.read_back)
        } else {
            String::new()
        }
    )
}

/// Runs `ship`.
pub fn run(args: &ShipArgs) -> Result<ExitCode> {
    let opts = ShipOptions {
        multipart_bytes: args.multipart_mib.max(5) << 20,
        part_bytes: (args.multipart_mib.max(5) << 20) as usize,
        retry: RetryPolicy { retries: args.retries, ..RetryPolicy::default() },
        delete_after_verify: args.delete_after_verify,
    };
    if args.follow {
        catch_stop_signals();
    }
    let shipper = Shipper::open(&args.to, opts).map_err(|e| ship_err(&args.source, e))?;
    let url = shipper.target().url.clone();
    let deadline = args.seconds.map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let mut total = ShipReport::default();
    loop {
        let r = ship_once(&shipper, &args.source)?;
        total.shipped.extend(&r.shipped);
        total.bytes_shipped += r.bytes_shipped;
        total.retries += r.retries;
        total.read_back += r.read_back;
        total.present = r.present;
        total.manifest_segments = r.manifest_segments;
        total.live_tail = r.live_tail;
        let stop = STOP.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d);
        if !args.follow || stop {
            break;
        }
        let until = Instant::now() + Duration::from_millis(args.interval_ms);
        while Instant::now() < until && !STOP.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    println!("{}", summary(&url, &total));
    Ok(ExitCode::SUCCESS)
}
