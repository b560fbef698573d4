//! [`Shipper`]: uploads a journal's shippable segments, verifies them, then lists them.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use object_store::{
    Attribute, Attributes, GetOptions, ObjectStore, ObjectStoreExt, PutMultipartOptions, PutOptions, PutPayload,
    WriteMultipart,
};
use replaylog::archive::{ArchiveHeader, ArchiveReader};
use replaylog::{Kind, Position, ReadOnlyJournal, ReplayLogError};

use crate::manifest::{MANIFEST_NAME, Manifest, ManifestSegment};
use crate::retry::{Attempt, RetryPolicy, retrying};
use crate::target::Target;
use crate::{Result, ShipError, sha256_hex};

/// The object metadata key holding a segment's SHA-256 (S3: `x-amz-meta-replaylog-sha256`).
pub(crate) const META_SHA256: &str = "replaylog-sha256";
/// The object metadata key holding a segment's length.
pub(crate) const META_BYTES: &str = "replaylog-bytes";

/// How segments are uploaded.
#[derive(Clone, Debug)]
pub struct ShipOptions {
    /// Segments longer than this go up as multipart uploads (default 8 MiB).
    pub multipart_bytes: u64,
    /// The part size of a multipart upload (default 8 MiB; S3 needs at least 5 MiB).
    pub part_bytes: usize,
    /// Retries of each request after a transient error.
    pub retry: RetryPolicy,
    /// Delete local segments once shipped and verified, when replay no longer needs them (see
    /// the crate docs).
    pub delete_after_verify: bool,
}

impl Default for ShipOptions {
    fn default() -> Self {
        ShipOptions {
            multipart_bytes: 8 << 20,
            part_bytes: 8 << 20,
            retry: RetryPolicy::default(),
            delete_after_verify: false,
        }
    }
}

/// What a ship run did, one event at a time (the CLI prints one line per event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Segment uploaded, verified and listed in the manifest.
    Shipped {
        /// Segment number.
        number: u64,
        /// Its bytes.
        bytes: u64,
        /// Uploaded in parts.
        multipart: bool,
        /// It replaced an earlier upload of the same segment (a newest segment that grew).
        replaced: bool,
    },
    /// A request failed with a transient error and is retried.
    Retry {
        /// The object's URL.
        url: String,
        /// Attempt that failed (1 = the first).
        attempt: u32,
        /// The error, redacted.
        what: String,
        /// The wait before the next attempt.
        wait: Duration,
    },
    /// Not shipped: a live writer may still append to it.
    LiveTail {
        /// Segment number.
        number: u64,
    },
    /// A shipped and verified local segment deleted (`delete_after_verify`).
    Deleted {
        /// Segment number.
        number: u64,
    },
    /// Local segments kept although shipped (`delete_after_verify`), and why.
    Kept {
        /// How many.
        count: usize,
        /// Why.
        why: String,
    },
}

/// The outcome of one [`Shipper::ship`] run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShipReport {
    /// Segments uploaded by this run.
    pub shipped: Vec<u64>,
    /// Segments already shipped (same bytes) before this run.
    pub present: Vec<u64>,
    /// The newest segment, not shipped because a writer holds the journal.
    pub live_tail: Option<u64>,
    /// Local segments deleted.
    pub deleted: Vec<u64>,
    /// Bytes uploaded.
    pub bytes_shipped: u64,
    /// Retries made.
    pub retries: u32,
    /// Segments the manifest lists after the run.
    pub manifest_segments: usize,
    /// Uploads verified by reading the object back (the store kept no digest metadata, as a
    /// `file:///` store does) instead of by HEAD.
    pub read_back: u32,
}

/// Ships journals to one [`Target`]. See the crate docs for the rules.
pub struct Shipper {
    target: Target,
    opts: ShipOptions,
    rt: tokio::runtime::Runtime,
    /// Whether the store keeps object metadata (a local directory does not: verification then
    /// reads the object back).
    attributes: AtomicBool,
    /// Verifications that read the object back.
    read_back: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for Shipper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shipper").field("url", &self.target.url).finish_non_exhaustive()
    }
}

/// One local segment to ship: its summary and bytes.
struct Local {
    number: u64,
    path: PathBuf,
    bytes: Bytes,
    sha256: String,
    sealed: bool,
    first_lsn: Option<u64>,
    next_lsn: u64,
    /// The lanes its archive entries name (computed only when it will be uploaded).
    lanes: Vec<String>,
}

/// A segment that may ship, before its bytes are read (the newest segment of a journal no
/// writer holds is read at once, under the lock).
struct Planned {
    number: u64,
    path: PathBuf,
    bytes: Option<Vec<u8>>,
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

impl Shipper {
    /// A shipper to the store and prefix `url` names (credentials from the environment).
    ///
    /// # Errors
    /// [`ShipError::BadUrl`].
    pub fn open(url: &str, opts: ShipOptions) -> Result<Shipper> {
        Ok(Shipper::new(Target::parse(url)?, opts))
    }

    /// A shipper to `target`.
    pub fn new(target: Target, opts: ShipOptions) -> Shipper {
        Shipper { target, opts, rt: runtime(), attributes: AtomicBool::new(true), read_back: Default::default() }
    }

    /// The target.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Ships every shippable segment of the journal or archive directory `source` that the
    /// manifest does not list yet, verifies each, lists it; then, with
    /// [`ShipOptions::delete_after_verify`], deletes what may go. `on` hears every event.
    ///
    /// # Errors
    /// [`ShipError::Local`] for a source that is not a journal or is damaged in a segment to be
    /// shipped (the segments before it are shipped first); [`ShipError::Conflict`] for a
    /// manifest that is not ours, or a sealed segment whose bytes changed since it was shipped;
    /// the store's errors after retries. Nothing local is deleted after an error.
    pub fn ship(&self, source: &Path, on: &mut dyn FnMut(&Event)) -> Result<ShipReport> {
        let kind = replaylog::detect(source)?;
        if !matches!(kind, Kind::JournalDir | Kind::Archive) {
            return Err(ShipError::Local(ReplayLogError::mismatch(
                source,
                "kind",
                "a journal or archive directory",
                match kind {
                    Kind::Foreign(why) => why.to_string(),
                    other => format!("{other:?}"),
                },
            )));
        }
        let archive = if kind == Kind::Archive { Some(ArchiveReader::open(source)?.header().clone()) } else { None };
        let mut report = ShipReport::default();
        let mut manifest = self
            .rt
            .block_on(self.load_manifest(on, &mut report.retries))?
            .unwrap_or_else(|| Manifest::new(kind_name(&archive)));
        if manifest.kind != kind_name(&archive) {
            return Err(ShipError::Conflict {
                url: self.target.url_of(MANIFEST_NAME),
                what: format!(
                    "the prefix holds a shipped {}, and {} is a {}",
                    manifest.kind,
                    source.display(),
                    kind_name(&archive)
                ),
                fix: "ship each capture to its own prefix".into(),
            });
        }
        let (plan, live_tail) = plan_shippable(source)?;
        report.live_tail = live_tail;
        if let Some(n) = live_tail {
            on(&Event::LiveTail { number: n });
        }
        // Reading, hashing and listing the lanes of segment k+1 (a thread of its own) overlaps
        // the upload of segment k.
        let shipped_before = manifest.clone();
        std::thread::scope(|scope| -> Result<()> {
            let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Local>>(1);
            let archive = &archive;
            scope.spawn(move || {
                let mut next_lsn = None;
                let last = plan.len().saturating_sub(1);
                for (i, p) in plan.into_iter().enumerate() {
                    let prepared = prepare(p, i == last, &mut next_lsn, archive, &shipped_before);
                    let failed = prepared.is_err();
                    if tx.send(prepared).is_err() || failed {
                        break;
                    }
                }
            });
            for local in rx {
                let local = local?;
                let previous = manifest.get(local.number).cloned();
                if let Some(p) = &previous {
                    if p.sha256 == local.sha256 && p.bytes == local.bytes.len() as u64 {
                        report.present.push(local.number);
                        continue;
                    }
                    if p.sealed {
                        return Err(ShipError::Conflict {
                            url: self.target.url_of(&p.name),
                            what: format!(
                                "segment {} was shipped sealed ({} bytes, sha256 {}) and the local file {} now \
                                 differs ({} bytes, sha256 {})",
                                local.number,
                                p.bytes,
                                p.sha256,
                                local.path.display(),
                                local.bytes.len(),
                                local.sha256
                            ),
                            fix: "a sealed segment never changes: check what rewrote the local file; nothing was \
                                  uploaded"
                                .into(),
                        });
                    }
                }
                let entry = ManifestSegment {
                    number: local.number,
                    name: replaylog::lowlevel::format::journal::segment_name(local.number),
                    bytes: local.bytes.len() as u64,
                    sha256: local.sha256.clone(),
                    sealed: local.sealed,
                    first_lsn: local.first_lsn,
                    next_lsn: local.next_lsn,
                    lanes: local.lanes.clone(),
                };
                let multipart =
                    self.rt.block_on(self.upload_verified(&entry, local.bytes.clone(), on, &mut report.retries))?;
                manifest.put(entry.clone());
                self.rt.block_on(self.store_manifest(&manifest, on, &mut report.retries))?;
                report.shipped.push(local.number);
                report.bytes_shipped += entry.bytes;
                on(&Event::Shipped {
                    number: local.number,
                    bytes: entry.bytes,
                    multipart,
                    replaced: previous.is_some(),
                });
            }
            Ok(())
        })?;
        report.manifest_segments = manifest.segments.len();
        report.read_back = self.read_back.swap(0, Ordering::Relaxed);
        if self.opts.delete_after_verify {
            self.retire(source, &archive, &manifest, &mut report, on)?;
        }
        Ok(report)
    }

    /// The manifest, `None` when the prefix has none yet.
    async fn load_manifest(&self, on: &mut dyn FnMut(&Event), retries: &mut u32) -> Result<Option<Manifest>> {
        let url = self.target.url_of(MANIFEST_NAME);
        crate::manifest::fetch_manifest(&self.target, &self.opts.retry, retry_reporter(&url, on, retries)).await
    }

    async fn store_manifest(&self, m: &Manifest, on: &mut dyn FnMut(&Event), retries: &mut u32) -> Result<()> {
        let key = self.target.key(MANIFEST_NAME);
        let url = self.target.url_of(MANIFEST_NAME);
        let body = Bytes::from(m.to_bytes());
        retrying(&self.opts.retry, &url, retry_reporter(&url, on, retries), || async {
            self.target
                .store
                .put(&key, PutPayload::from(body.clone()))
                .await
                .map_err(|e| not_found_is_bucket(e, &url))?;
            Ok(())
        })
        .await
    }

    /// Uploads a segment and checks it, retrying both; returns whether it went up in parts.
    async fn upload_verified(
        &self,
        seg: &ManifestSegment,
        bytes: Bytes,
        on: &mut dyn FnMut(&Event),
        retries: &mut u32,
    ) -> Result<bool> {
        let key = self.target.key(&seg.name);
        let url = self.target.url_of(&seg.name);
        let multipart = bytes.len() as u64 > self.opts.multipart_bytes;
        retrying(&self.opts.retry, &url, retry_reporter(&url, on, retries), || async {
            self.upload(&key, &url, seg, bytes.clone(), multipart).await?;
            self.verify(&key, seg).await
        })
        .await?;
        Ok(multipart)
    }

    async fn upload(
        &self,
        key: &object_store::path::Path,
        url: &str,
        seg: &ManifestSegment,
        bytes: Bytes,
        multipart: bool,
    ) -> std::result::Result<(), Attempt> {
        loop {
            let attributes = if self.attributes.load(Ordering::Relaxed) {
                Attributes::from_iter([
                    (Attribute::Metadata(META_SHA256.into()), seg.sha256.clone()),
                    (Attribute::Metadata(META_BYTES.into()), seg.bytes.to_string()),
                ])
            } else {
                Attributes::new()
            };
            let result = if multipart {
                let opts = PutMultipartOptions { attributes, ..Default::default() };
                match self.target.store.put_multipart_opts(key, opts).await {
                    Ok(upload) => {
                        let mut w = WriteMultipart::new_with_chunk_size(upload, self.opts.part_bytes);
                        w.put(bytes.clone());
                        match w.finish().await {
                            Ok(_) => Ok(()),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            } else {
                let opts = PutOptions { attributes, ..Default::default() };
                self.target.store.put_opts(key, PutPayload::from(bytes.clone()), opts).await.map(|_| ())
            };
            match result {
                // A store without object metadata (a local directory): upload without it, and
                // verify by reading the object back.
                Err(object_store::Error::NotImplemented { .. }) if self.attributes.swap(false, Ordering::Relaxed) => {
                    continue;
                }
                Err(e) => return Err(not_found_is_bucket(e, url)),
                Ok(()) => return Ok(()),
            }
        }
    }

    /// HEAD: the object's size and stored digest; a store without metadata is read back.
    async fn verify(&self, key: &object_store::path::Path, seg: &ManifestSegment) -> std::result::Result<(), Attempt> {
        let head = self.target.store.get_opts(key, GetOptions { head: true, ..Default::default() }).await?;
        if head.meta.size != seg.bytes {
            return Err(Attempt::Again(format!(
                "uploaded object is {} bytes, the segment {}",
                head.meta.size, seg.bytes
            )));
        }
        match head.attributes.get(&Attribute::Metadata(META_SHA256.into())) {
            Some(v) if v.as_ref() == seg.sha256 => Ok(()),
            Some(v) => {
                Err(Attempt::Again(format!("uploaded object has sha256 {}, the segment {}", v.as_ref(), seg.sha256)))
            }
            None => {
                self.read_back.fetch_add(1, Ordering::Relaxed);
                let back = self.target.store.get(key).await?.bytes().await?;
                let sha = sha256_hex(&back);
                if sha == seg.sha256 && back.len() as u64 == seg.bytes {
                    Ok(())
                } else {
                    Err(Attempt::Again(format!(
                        "uploaded object reads back with sha256 {sha}, the segment has {}",
                        seg.sha256
                    )))
                }
            }
        }
    }

    /// `delete_after_verify`: deletes the oldest local segments that are shipped, verified now
    /// by HEAD, sealed, and older than the segment of the newest snapshot.
    fn retire(
        &self,
        source: &Path,
        archive: &Option<ArchiveHeader>,
        m: &Manifest,
        report: &mut ShipReport,
        on: &mut dyn FnMut(&Event),
    ) -> Result<()> {
        let journal = ReadOnlyJournal::open(source)?;
        let segments = journal.segments();
        let snapshot_segment = segments.iter().rev().find(|s| s.has_snapshot).map(|s| s.number);
        let keep_why = match (archive, snapshot_segment) {
            (Some(_), _) => Some("an archive's first segment holds its header and replay reads from it".to_string()),
            (None, None) => Some("the journal has no snapshot, so replay reads from its first segment".to_string()),
            (None, Some(_)) => None,
        };
        if let Some(why) = keep_why {
            on(&Event::Kept { count: segments.len(), why });
            return Ok(());
        }
        let before = snapshot_segment.expect("checked");
        let mut deleted_any = false;
        for s in segments.iter().take_while(|s| s.number < before && s.sealed) {
            let Some(entry) = m.get(s.number) else { break };
            let local_len =
                std::fs::metadata(&s.path).map(|md| md.len()).map_err(|e| ReplayLogError::io("stat", &s.path, e))?;
            if local_len != entry.bytes {
                break;
            }
            let key = self.target.key(&entry.name);
            self.rt.block_on(retrying(
                &self.opts.retry,
                &self.target.url_of(&entry.name),
                |_, _, _| {},
                || self.verify(&key, entry),
            ))?;
            std::fs::remove_file(&s.path).map_err(|e| ReplayLogError::io("remove", &s.path, e))?;
            deleted_any = true;
            report.deleted.push(s.number);
            on(&Event::Deleted { number: s.number });
        }
        if deleted_any {
            std::fs::File::open(source)
                .and_then(|d| d.sync_all())
                .map_err(|e| ReplayLogError::io("fsync directory", source, e))?;
        }
        let kept = segments.iter().filter(|s| s.number >= before).count();
        on(&Event::Kept { count: kept, why: format!("replay from the newest snapshot (segment {before}) needs them") });
        Ok(())
    }
}

/// The callback `retrying` calls before each retry: counts it and reports it as an event.
fn retry_reporter<'a>(
    url: &'a str,
    on: &'a mut dyn FnMut(&Event),
    retries: &'a mut u32,
) -> impl FnMut(u32, &str, std::time::Duration) + 'a {
    move |attempt, what, wait| {
        *retries += 1;
        on(&Event::Retry { url: url.to_string(), attempt, what: what.into(), wait });
    }
}

/// A PUT's "not found" is the bucket's: permanent, saying what to create.
fn not_found_is_bucket(e: object_store::Error, url: &str) -> Attempt {
    match e {
        object_store::Error::NotFound { .. } => Attempt::Stop(ShipError::Permanent {
            url: url.into(),
            what: "the bucket does not exist".into(),
            fix: "create it first (e.g. `garage bucket create NAME`, `aws s3 mb s3://NAME`), or fix the bucket in the URL".into(),
        }),
        e => Attempt::Store(e),
    }
}

fn kind_name(archive: &Option<ArchiveHeader>) -> &'static str {
    if archive.is_some() { "archive" } else { "journal" }
}

/// The segments of `dir` that may ship, from its listing: every one but the newest, and the
/// newest too when no writer holds the directory (then read at once, while holding its lock) or
/// when it is sealed. Also the newest segment's number when it stays behind (a writer holds it).
/// Each segment is checked when [`prepare`] reads it, on the preparing thread.
fn plan_shippable(dir: &Path) -> Result<(Vec<Planned>, Option<u64>)> {
    use replaylog::lowlevel::format::journal::parse_segment_name;
    let lock = replaylog::journal::try_lock(dir)?;
    let mut numbers = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| ReplayLogError::io("list", dir, e))? {
        let e = e.map_err(|e| ReplayLogError::io("list", dir, e))?;
        if let Some(n) = e.file_name().to_str().and_then(parse_segment_name) {
            numbers.push(n);
        }
    }
    numbers.sort_unstable();
    let path_of = |n: u64| dir.join(replaylog::lowlevel::format::journal::segment_name(n));
    let mut out: Vec<Planned> = numbers.iter().map(|&n| Planned { number: n, path: path_of(n), bytes: None }).collect();
    let mut live_tail = None;
    if let Some(last) = out.last_mut() {
        if lock.is_some() {
            last.bytes = Some(std::fs::read(&last.path).map_err(|e| ReplayLogError::io("read", &last.path, e))?);
        } else if !ReadOnlyJournal::open_segment(&last.path)?.segments().first().is_some_and(|s| s.sealed) {
            live_tail = Some(last.number);
        }
    }
    drop(lock);
    if live_tail.is_some() {
        out.pop();
    }
    Ok((out, live_tail))
}

/// Reads, checks and hashes a planned segment (`next_lsn`: where the one before it ended); lists
/// its lanes unless the manifest already holds it. Damage, a segment that does not continue the
/// one before it, or an unsealed segment that is not the newest, is an error naming it.
fn prepare(
    p: Planned,
    newest: bool,
    next_lsn: &mut Option<u64>,
    archive: &Option<ArchiveHeader>,
    manifest: &Manifest,
) -> Result<Local> {
    let (journal, bytes) = match p.bytes {
        Some(b) => (ReadOnlyJournal::from_segment_bytes(&p.path, b.clone())?, b),
        None => {
            let j = ReadOnlyJournal::open_segment(&p.path)?;
            (j, std::fs::read(&p.path).map_err(|e| ReplayLogError::io("read", &p.path, e))?)
        }
    };
    if let Some(e) = journal.problem() {
        return Err(e.into());
    }
    let s = journal.segments().into_iter().next().expect("one segment");
    if !s.sealed && !newest {
        return Err(unsealed_in_middle(&p.path, p.number).into());
    }
    s.check_follows(&p.path, next_lsn)?;
    let sha256 = sha256_hex(&bytes);
    let listed = manifest.get(p.number).is_some_and(|e| e.sha256 == sha256 && e.bytes == bytes.len() as u64);
    let lanes = match (archive, listed) {
        (Some(h), false) => lanes_of(&p.path, journal, h)?,
        _ => Vec::new(),
    };
    Ok(Local {
        number: p.number,
        path: p.path,
        bytes: Bytes::from(bytes),
        sha256,
        sealed: s.sealed,
        first_lsn: s.first_lsn,
        next_lsn: s.next_lsn,
        lanes,
    })
}

fn unsealed_in_middle(path: &Path, number: u64) -> ReplayLogError {
    ReplayLogError::Corrupt {
        path: path.to_path_buf(),
        location: replaylog::Location::Segment { segment: number, offset: 0 },
        reason: "an unsealed segment that is not the newest".into(),
    }
}

/// The lanes an archive segment's entries name: each entry's lane read in place (no record is
/// copied out), the header entry and snapshot frames skipped; none, from the first entry, when
/// that names none.
fn lanes_of(path: &Path, journal: ReadOnlyJournal, header: &ArchiveHeader) -> Result<Vec<String>> {
    use replaylog::lowlevel::format::archive::decode_record_entry;
    let rb = header.record_bytes as usize;
    let mut lanes: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    for item in journal.iter_from(Position::Start)? {
        let item = item?;
        if item.lsn == replaylog::archive::HEADER_LSN || item.kind != replaylog::EntryKind::Entry {
            continue;
        }
        match decode_record_entry(&item.data, rb) {
            // An archive's entries all name a lane or none does (readers refuse a mix): an
            // archive of one ring is known lane-less from its first entry.
            Ok(e) if e.lane.is_none() && lanes.is_empty() => return Ok(Vec::new()),
            Ok(e) => {
                if let Some(l) = e.lane.filter(|l| !lanes.contains(*l)) {
                    lanes.insert(l.to_string());
                }
            }
            Err(why) => {
                return Err(ReplayLogError::Corrupt {
                    path: path.to_path_buf(),
                    location: replaylog::Location::Segment { segment: item.segment, offset: item.offset },
                    reason: format!("entry {} is not an archived record: {why}", item.lsn),
                }
                .into());
            }
        }
    }
    Ok(lanes.into_iter().collect())
}
