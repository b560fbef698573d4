//! Reading a shipped capture: [`RemoteSource`] fetches one segment at a time with ranged GETs
//! and hands it to the core crate only once its length and SHA-256 match the manifest.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use object_store::ObjectStoreExt;
use replaylog::capture::{Capture, SegmentSource};
use replaylog::{Location, ReadOnlyJournal, ReplayLogError};

use crate::manifest::{MANIFEST_NAME, Manifest, ManifestSegment};
use crate::retry::{Attempt, RetryPolicy, retrying};
use crate::ship::runtime;
use crate::target::{Target, redact};
use crate::{Result, ShipError, sha256_hex};

/// Bytes per ranged GET.
const RANGE_BYTES: u64 = 8 << 20;

/// Where a fetch is, for a progress bar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchProgress {
    /// The segment being fetched.
    pub number: u64,
    /// Its index among the manifest's segments (0-based).
    pub index: usize,
    /// How many segments the manifest lists.
    pub segments: usize,
    /// Bytes of this segment fetched so far.
    pub fetched: u64,
    /// The segment's bytes.
    pub bytes: u64,
}

type ProgressFn = Box<dyn Fn(&FetchProgress) + Send + Sync>;

/// A shipped capture: its manifest, and its segments fetched on demand.
pub struct RemoteSource {
    target: Target,
    manifest: Manifest,
    name: PathBuf,
    retry: RetryPolicy,
    rt: tokio::runtime::Runtime,
    progress: Option<ProgressFn>,
}

impl std::fmt::Debug for RemoteSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteSource").field("url", &self.target.url).finish_non_exhaustive()
    }
}

impl RemoteSource {
    /// Reads the manifest at `target`.
    ///
    /// # Errors
    /// [`ShipError::Permanent`] when the prefix holds no manifest (nothing shipped there, or no
    /// such bucket) or the credentials are refused; [`ShipError::Conflict`] for an object that
    /// is not a manifest; transient errors after retries.
    pub fn open(target: Target, retry: RetryPolicy) -> Result<RemoteSource> {
        let rt = runtime();
        let Some(manifest) = rt.block_on(crate::manifest::fetch_manifest(&target, &retry, |_, _, _| {}))? else {
            return Err(ShipError::Permanent {
                url: target.url_of(MANIFEST_NAME),
                what: "no manifest: nothing was shipped to this prefix (or the bucket does not exist)".into(),
                fix: "check the bucket and prefix; `replaylog ship DIR --to URL` ships a capture".into(),
            });
        };
        let name = PathBuf::from(target.url.clone());
        Ok(RemoteSource { target, manifest, name, retry, rt, progress: None })
    }

    /// Calls `f` as each segment's bytes arrive (the CLI draws a progress bar on a terminal).
    pub fn with_progress(mut self, f: impl Fn(&FetchProgress) + Send + Sync + 'static) -> RemoteSource {
        self.progress = Some(Box::new(f));
        self
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    fn segment_path(&self, name: &str) -> PathBuf {
        self.name.join(name)
    }

    /// Fetches one listed segment with ranged GETs and checks it against its entry.
    fn fetch_entry(&self, index: usize, seg: &ManifestSegment) -> replaylog::Result<Vec<u8>> {
        let key = self.target.key(&seg.name);
        let url = self.target.url_of(&seg.name);
        let path = self.segment_path(&seg.name);
        let mut buf = Vec::with_capacity(seg.bytes as usize);
        let report = |fetched: u64| {
            if let Some(p) = &self.progress {
                p(&FetchProgress {
                    number: seg.number,
                    index,
                    segments: self.manifest.segments.len(),
                    fetched,
                    bytes: seg.bytes,
                });
            }
        };
        report(0);
        let mut at = 0u64;
        while at < seg.bytes {
            let end = (at + RANGE_BYTES).min(seg.bytes);
            let got = self.rt.block_on(retrying(
                &self.retry,
                &url,
                |_, _, _| {},
                || async {
                    match self.target.store.get_range(&key, at..end).await {
                        Ok(b) => Ok(Some(b)),
                        Err(object_store::Error::NotFound { .. }) => Ok(None),
                        Err(e) => Err(Attempt::Store(e)),
                    }
                },
            ));
            match got {
                Ok(Some(b)) => buf.extend_from_slice(&b),
                Ok(None) => return Err(missing(&path, seg.number, "not found")),
                Err(e) => {
                    return Err(ReplayLogError::Io {
                        op: "get",
                        path,
                        source: std::io::Error::other(format!("segment {}: {}", seg.number, redact(&e.to_string()))),
                    });
                }
            }
            at = end;
            report(at);
        }
        let sha = sha256_hex(&buf);
        if buf.len() as u64 != seg.bytes || sha != seg.sha256 {
            return Err(ReplayLogError::Corrupt {
                path,
                location: Location::Segment { segment: seg.number, offset: 0 },
                reason: format!(
                    "the object ({} bytes, sha256 {sha}) is not the segment the manifest lists ({} bytes, sha256 {}): \
                     not used",
                    buf.len(),
                    seg.bytes,
                    seg.sha256
                ),
            });
        }
        Ok(buf)
    }
}

fn missing(path: &Path, number: u64, what: &str) -> ReplayLogError {
    ReplayLogError::Io {
        op: "get",
        path: path.to_path_buf(),
        source: std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("segment {number} is listed in the manifest but its object is missing ({})", redact(what)),
        ),
    }
}

impl SegmentSource for RemoteSource {
    fn name(&self) -> &Path {
        &self.name
    }

    fn numbers(&self) -> Vec<u64> {
        self.manifest.segments.iter().map(|s| s.number).collect()
    }

    fn lanes(&self) -> Option<Vec<String>> {
        (self.manifest.kind == "archive").then(|| self.manifest.lanes())
    }

    fn fetch(&self, number: u64) -> replaylog::Result<Vec<u8>> {
        let Some((index, seg)) = self.manifest.segments.iter().enumerate().find(|(_, s)| s.number == number) else {
            return Err(missing(
                &self.segment_path(&replaylog::lowlevel::format::journal::segment_name(number)),
                number,
                "not listed",
            ));
        };
        self.fetch_entry(index, seg)
    }
}

/// Opens the capture shipped at `url` (credentials from the environment) for reading.
///
/// # Errors
/// As [`Target::parse`] and [`RemoteSource::open`]; the first segment's errors.
pub fn open_capture(url: &str) -> Result<Capture> {
    let source = RemoteSource::open(Target::parse(url)?, RetryPolicy::default())?;
    Ok(Capture::open_source(Arc::new(source))?)
}

/// One segment's verdict in [`validate`].
#[derive(Debug)]
pub struct RemoteSegment {
    /// The manifest's entry.
    pub entry: ManifestSegment,
    /// `Ok(frames)` when the object matches the manifest and the segment is intact.
    pub result: replaylog::Result<u64>,
}

/// The verdict on a shipped capture.
#[derive(Debug)]
pub struct RemoteValidation {
    /// The manifest.
    pub manifest: Manifest,
    /// Every listed segment, in order.
    pub segments: Vec<RemoteSegment>,
}

impl RemoteValidation {
    /// Whether every segment is intact and they follow each other.
    pub fn ok(&self) -> bool {
        self.segments.iter().all(|s| s.result.is_ok())
    }
}

/// Fetches every segment of a shipped capture, checks each against the manifest (length,
/// SHA-256), validates it as a journal segment, and checks that each starts where the one
/// before it ended.
///
/// # Errors
/// As [`RemoteSource::open`]; a damaged segment is in its [`RemoteSegment::result`].
pub fn validate(source: &RemoteSource) -> RemoteValidation {
    let mut out = Vec::new();
    let mut next_lsn: Option<u64> = None;
    for (index, entry) in source.manifest.segments.iter().enumerate() {
        let path = source.segment_path(&entry.name);
        let result = source.fetch_entry(index, entry).and_then(|bytes| {
            let j = ReadOnlyJournal::from_segment_bytes(&path, bytes)?;
            if let Some(e) = j.problem() {
                return Err(e);
            }
            let s = j.segments().into_iter().next().expect("one segment");
            s.check_follows(&path, &mut next_lsn)?;
            Ok(s.frames)
        });
        out.push(RemoteSegment { entry: entry.clone(), result });
    }
    RemoteValidation { manifest: source.manifest.clone(), segments: out }
}
