//! A store that fails its k-th request (once), counting every request, over any store.

#![allow(dead_code)]

use std::fmt;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;
use object_store::path::Path as ObjPath;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, UploadPart,
};
use replaylog::{Journal, JournalOptions, SyncMode};

/// Fails request number `fail_at` (1-based; 0: none) with a transient error, once.
#[derive(Debug)]
pub struct Faulty {
    pub inner: Arc<dyn ObjectStore>,
    pub count: Arc<AtomicU64>,
    /// Uploads started that the store accepted (single PUTs and multipart creations; not the
    /// manifest's).
    pub puts: Arc<AtomicU64>,
    pub fail_at: u64,
}

impl Faulty {
    pub fn new(inner: Arc<dyn ObjectStore>, fail_at: u64) -> Faulty {
        Faulty { inner, count: Arc::default(), puts: Arc::default(), fail_at }
    }

    fn tick(count: &AtomicU64, fail_at: u64, what: &str) -> object_store::Result<()> {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        if n == fail_at {
            return Err(object_store::Error::Generic {
                store: "Faulty",
                source: format!("injected failure of request {n} ({what})").into(),
            });
        }
        Ok(())
    }

    fn check(&self, what: &str) -> object_store::Result<()> {
        Faulty::tick(&self.count, self.fail_at, what)
    }
}

impl fmt::Display for Faulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

struct FaultyUpload {
    inner: Box<dyn MultipartUpload>,
    count: Arc<AtomicU64>,
    fail_at: u64,
}

impl fmt::Debug for FaultyUpload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FaultyUpload")
    }
}

#[async_trait]
impl MultipartUpload for FaultyUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        match Faulty::tick(&self.count, self.fail_at, "put_part") {
            Err(e) => Box::pin(async move { Err(e) }),
            Ok(()) => self.inner.put_part(data),
        }
    }
    async fn complete(&mut self) -> object_store::Result<PutResult> {
        Faulty::tick(&self.count, self.fail_at, "complete")?;
        self.inner.complete().await
    }
    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[async_trait]
impl ObjectStore for Faulty {
    async fn put_opts(
        &self,
        location: &ObjPath,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.check("put")?;
        let r = self.inner.put_opts(location, payload, opts).await?;
        if !location.as_ref().ends_with("manifest.json") {
            self.puts.fetch_add(1, Ordering::SeqCst);
        }
        Ok(r)
    }
    async fn put_multipart_opts(
        &self,
        location: &ObjPath,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.check("create multipart")?;
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        self.puts.fetch_add(1, Ordering::SeqCst);
        Ok(Box::new(FaultyUpload { inner, count: self.count.clone(), fail_at: self.fail_at }))
    }
    async fn get_opts(&self, location: &ObjPath, options: GetOptions) -> object_store::Result<GetResult> {
        self.check("get")?;
        self.inner.get_opts(location, options).await
    }
    async fn get_ranges(&self, location: &ObjPath, ranges: &[Range<u64>]) -> object_store::Result<Vec<Bytes>> {
        self.check("get ranges")?;
        self.inner.get_ranges(location, ranges).await
    }
    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<ObjPath>>,
    ) -> BoxStream<'static, object_store::Result<ObjPath>> {
        self.inner.delete_stream(locations)
    }
    fn list(&self, prefix: Option<&ObjPath>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(&self, prefix: Option<&ObjPath>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(&self, from: &ObjPath, to: &ObjPath, options: CopyOptions) -> object_store::Result<()> {
        self.check("copy")?;
        self.inner.copy_opts(from, to, options).await
    }
}

/// A closed journal of exactly `segments` segments (the last unsealed), 64 KiB each at most,
/// with `per` entries of 1 KiB in each sealed one.
pub fn journal_of(dir: &Path, segments: u64) -> u64 {
    let opts = JournalOptions::default().sync(SyncMode::Async).segment_bytes_max(64 * 1024);
    let j = Journal::open(dir, opts).unwrap();
    let mut n = 0u64;
    for s in 0..segments {
        for i in 0..40u64 {
            let mut entry = vec![(s * 40 + i) as u8; 1024];
            entry[..8].copy_from_slice(&n.to_le_bytes());
            j.write(&entry).unwrap();
            n += 1;
        }
        if s + 1 < segments {
            j.roll().unwrap();
        }
    }
    j.close().unwrap();
    n
}

/// Every object under `root` (relative names, sorted), read from the directory itself.
pub fn objects(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(root, &e.path(), out);
            } else {
                out.push(e.path().strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    walk(root, root, &mut out);
    out.sort();
    out
}
