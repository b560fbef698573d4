//! Reading a journal: the read-only handle, iteration from an LSN or a position, replay from the
//! newest snapshot, validate and repair.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{ReplayLogError, Result};
use crate::format::journal::*;
use crate::journal::cut::{self, RepairReport};
use crate::journal::scan::{self, Scan, SegInfo, Verdict};
use crate::storage::{FileStorage, Kind, OpenMode, Storage};
use zerocopy::FromBytes;

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// An entry written with `write`.
    Entry,
    /// A state snapshot written with `snapshot`.
    Snapshot,
}

impl std::fmt::Display for EntryKind {
    /// `entry` or `snapshot`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EntryKind::Entry => "entry",
            EntryKind::Snapshot => "snapshot",
        })
    }
}

/// One replayed frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// Its LSN.
    pub lsn: u64,
    /// Entry or snapshot.
    pub kind: EntryKind,
    /// The bytes written (decompressed).
    pub data: Vec<u8>,
    /// Segment number.
    pub segment: u64,
    /// Byte offset of the frame in the segment.
    pub offset: u64,
}

/// Where to start reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// The first frame of the oldest segment.
    Start,
    /// The newest snapshot (or the start when there is none).
    NewestSnapshot,
    /// The frame with this LSN.
    Lsn(u64),
    /// A frame boundary in a segment.
    At {
        /// Segment number.
        segment: u64,
        /// Byte offset of a frame.
        offset: u64,
    },
}

/// The first problem `validate` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// A torn tail after the durable watermark.
    BadTail {
        /// Segment number.
        segment: u64,
        /// Valid prefix of that segment.
        valid_bytes: u64,
    },
    /// Damage at or before the durable watermark.
    Corrupt {
        /// Segment number.
        segment: u64,
        /// Byte offset.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
}

impl std::fmt::Display for Problem {
    /// `torn tail after the durable watermark: segment 3 is valid up to byte 8192`, or
    /// `corruption at or before the durable watermark: segment 3, byte 4096: REASON`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::BadTail { segment, valid_bytes } => {
                write!(f, "torn tail after the durable watermark: segment {segment} is valid up to byte {valid_bytes}")
            }
            Problem::Corrupt { segment, offset, reason } => {
                write!(f, "corruption at or before the durable watermark: segment {segment}, byte {offset}: {reason}")
            }
        }
    }
}

/// A journal directory's writer lock, held by another process or thread than the writer: see
/// [`try_lock`]. Released when dropped.
pub struct DirLock {
    _guard: Box<dyn std::any::Any + Send + Sync>,
}

impl std::fmt::Debug for DirLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirLock")
    }
}

/// Takes the lock a writer holds on `dir` ([`Journal::open`](crate::Journal::open) takes it for
/// as long as the journal is open), without waiting: `None` when a writer holds it. While the
/// returned lock lives no writer can open `dir` (its open fails with `Locked`), so a tool that
/// needs the journal to stand still (shipping a closed journal's newest segment) holds it only
/// for as long as it reads.
///
/// # Errors
/// `Io` when `dir` cannot be opened or locked.
pub fn try_lock(dir: impl AsRef<Path>) -> Result<Option<DirLock>> {
    let dir = dir.as_ref();
    let guard = FileStorage.lock_dir(dir).map_err(|e| ReplayLogError::io("flock", dir, e))?;
    Ok(guard.map(|g| DirLock { _guard: g }))
}

/// Result of a read-only validation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validation {
    /// Valid frames ("chunks").
    pub chunks: u64,
    /// Bytes of valid prefix over all segments, headers included.
    pub valid_bytes: u64,
    /// The first problem, if any.
    pub problem: Option<Problem>,
}

/// Summary of one segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// Number.
    pub number: u64,
    /// File.
    pub path: PathBuf,
    /// File length.
    pub bytes: u64,
    /// Valid frames.
    pub frames: u64,
    /// LSN of its first frame.
    pub first_lsn: Option<u64>,
    /// LSN after its last valid frame.
    pub next_lsn: u64,
    /// Durable watermark (bytes).
    pub durable_bytes: Option<u64>,
    /// Sealed by a roll.
    pub sealed: bool,
    /// Holds a snapshot frame.
    pub has_snapshot: bool,
}

impl SegmentSummary {
    /// Checks that this segment, read apart from its directory (e.g. fetched from an object
    /// store), starts where the segment before it ended: `next_lsn` is the LSN after that one's
    /// last frame (`None` for the first segment), updated to this one's on success. A gap or an
    /// overlap is `Corrupt` at byte 0 of this segment, naming `path` and the LSNs, as the
    /// directory scan words it.
    ///
    /// # Errors
    /// `Corrupt` when the LSNs do not follow.
    pub fn check_follows(&self, path: &Path, next_lsn: &mut Option<u64>) -> Result<()> {
        if let (Some(want), Some(have)) = (*next_lsn, self.first_lsn) {
            if want != have {
                return Err(ReplayLogError::Corrupt {
                    path: path.to_path_buf(),
                    location: crate::Location::Segment { segment: self.number, offset: 0 },
                    reason: format!("starts at lsn {have}, the previous segment ends before {want}"),
                });
            }
        }
        *next_lsn = Some(self.next_lsn);
        Ok(())
    }
}

/// A read-only view of a journal directory (the "restricted" handle: it cannot write, roll,
/// snapshot or repair, and takes no lock). It is a snapshot of the directory at open.
///
/// ```
/// use replaylog::{Journal, JournalOptions, Position, ReadOnlyJournal};
///
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("j");
/// let j = Journal::open(&path, JournalOptions::default())?;
/// for i in 0..5u32 {
///     j.write(&i.to_le_bytes())?;
/// }
/// // A reader may open the directory while the writer holds it.
/// let ro = ReadOnlyJournal::open(&path)?;
/// assert!(ro.problem().is_none());
/// let lsns: Vec<u64> = ro.iter_from(Position::Lsn(3))?.map(|item| item.map(|i| i.lsn)).collect::<Result<_, _>>()?;
/// assert_eq!(lsns, [3, 4, 5]);
/// # j.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ReadOnlyJournal {
    storage: Arc<dyn Storage>,
    scan: Scan,
}

impl ReadOnlyJournal {
    /// Opens `dir` on real files.
    pub fn open(dir: impl AsRef<Path>) -> Result<ReadOnlyJournal> {
        Self::open_with(Arc::new(FileStorage), dir)
    }

    /// Opens `dir` through `storage`.
    pub fn open_with(storage: Arc<dyn Storage>, dir: impl AsRef<Path>) -> Result<ReadOnlyJournal> {
        let dir = dir.as_ref();
        match storage.stat(dir) {
            Ok(Kind::Dir) => {}
            Ok(_) => return Err(ReplayLogError::mismatch(dir, "path type", "a journal directory", "not a directory")),
            Err(e) => return Err(ReplayLogError::io("stat", dir, e)),
        }
        let scan = scan::scan_dir(&*storage, dir)?;
        Ok(ReadOnlyJournal { storage, scan })
    }

    /// Opens one segment file on its own, read-only, as a one-segment journal: its directory is
    /// never listed or scanned and nothing is written anywhere. The segment number comes from
    /// the file name when it is a segment name (`NNNNNNNNNNNNNNNNNNNN.seg`), else from the
    /// header, so a renamed copy opens too.
    ///
    /// # Errors
    /// `HeaderMismatch` when the file is not a journal segment (a foreign file, another version,
    /// a header that fails its checks); `Io` with the operation and path.
    pub fn open_segment(path: impl AsRef<Path>) -> Result<ReadOnlyJournal> {
        Self::open_segment_with(Arc::new(FileStorage), path)
    }

    /// [`ReadOnlyJournal::open_segment`] through `storage`.
    pub fn open_segment_with(storage: Arc<dyn Storage>, path: impl AsRef<Path>) -> Result<ReadOnlyJournal> {
        let path = path.as_ref();
        let seg = read_segment(&*storage, path)?;
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf();
        let segs = vec![seg];
        let verdict = scan::judge(&segs, false);
        Ok(ReadOnlyJournal { storage, scan: Scan { dir, segs, leftovers: Vec::new(), verdict } })
    }

    /// One segment held in memory (fetched from elsewhere, e.g. an object store), opened as
    /// [`ReadOnlyJournal::open_segment`] opens a file; `path` is the name errors give it (its
    /// file name, when a segment name, gives the segment number). Nothing touches a disk.
    ///
    /// # Errors
    /// As [`ReadOnlyJournal::open_segment`].
    pub fn from_segment_bytes(path: impl AsRef<Path>, bytes: Vec<u8>) -> Result<ReadOnlyJournal> {
        let path = path.as_ref();
        let disk = crate::storage::sim::SimStorage::new();
        disk.set_contents(path, bytes);
        Self::open_segment_with(Arc::new(disk), path)
    }

    /// The segments, oldest first.
    pub fn segments(&self) -> Vec<SegmentSummary> {
        self.scan
            .segs
            .iter()
            .map(|s| SegmentSummary {
                number: s.number,
                path: s.path.clone(),
                bytes: s.len,
                frames: s.frames,
                first_lsn: s.first_lsn(),
                next_lsn: s.next_lsn,
                durable_bytes: s.watermark.map(|(w, _)| w.valid_bytes.get()),
                sealed: s.watermark.is_some_and(|(w, _)| w.sealed.get() == 1),
                has_snapshot: s.last_snapshot.is_some(),
            })
            .collect()
    }

    /// `(chunks, valid_bytes)` and the first problem.
    pub fn validation(&self) -> Validation {
        let intact = self.scan.intact_segments();
        let segs = &self.scan.segs[..intact];
        let problem = match &self.scan.verdict {
            Verdict::Clean => None,
            Verdict::TornTail { index: Some(i), valid_end } => {
                Some(Problem::BadTail { segment: self.scan.segs[*i].number, valid_bytes: *valid_end })
            }
            Verdict::TornTail { index: None, .. } => {
                let segment = self.scan.segs.last().map_or(0, |s| s.number.saturating_add(1));
                Some(Problem::BadTail { segment, valid_bytes: 0 })
            }
            Verdict::Corrupt { segment, offset, reason, .. } => {
                Some(Problem::Corrupt { segment: *segment, offset: *offset, reason: reason.clone() })
            }
        };
        Validation {
            chunks: segs.iter().map(|s| s.frames).sum(),
            valid_bytes: segs.iter().map(|s| s.valid_end).sum(),
            problem,
        }
    }

    /// The first problem as an error (`BadTail` or `Corrupt`), if any.
    pub fn problem(&self) -> Option<ReplayLogError> {
        self.scan.problem()
    }

    /// LSN of the newest snapshot.
    pub fn newest_snapshot(&self) -> Option<u64> {
        self.scan.newest_snapshot().map(|(_, _, lsn)| lsn)
    }

    /// Iterates the intact frames from `from`, in LSN order.
    pub fn iter_from(&self, from: Position) -> Result<JournalIter<'_>> {
        let segs = &self.scan.segs[..self.scan.intact_segments()];
        let (index, offset, lsn) = match from {
            Position::Start => (0, DATA_OFFSET, None),
            Position::NewestSnapshot => match self.scan.newest_snapshot() {
                Some((i, off, _)) => (i, off, None),
                None => (0, DATA_OFFSET, None),
            },
            Position::Lsn(l) => {
                match segs.iter().position(|s| s.first_lsn().is_some_and(|f| f <= l) && l < s.next_lsn) {
                    Some(i) => (i, DATA_OFFSET, Some(l)),
                    None => (segs.len(), DATA_OFFSET, None),
                }
            }
            Position::At { segment, offset } => {
                let i =
                    segs.iter().position(|s| s.number == segment).ok_or_else(|| ReplayLogError::InvalidOptions {
                        option: "position",
                        reason: format!("segment {segment} is not in the journal's intact part"),
                    })?;
                (i, offset, None)
            }
        };
        Ok(JournalIter { storage: &*self.storage, segs, index, offset, skip_to_lsn: lsn, bytes: None, exact: true })
    }

    /// Replays from the newest snapshot (the snapshot first, then every later entry, in order),
    /// calling `f` for each; returns how many. A problem (`BadTail`, `Corrupt`) is returned as an
    /// error after every intact frame was delivered.
    pub fn replay(&self, mut f: impl FnMut(&Item)) -> Result<u64> {
        let mut n = 0;
        for item in self.iter_from(Position::NewestSnapshot)? {
            f(&item?);
            n += 1;
        }
        match self.problem() {
            Some(p) => Err(p),
            None => Ok(n),
        }
    }
}

/// Iterator over journal frames; see [`ReadOnlyJournal::iter_from`].
pub struct JournalIter<'a> {
    storage: &'a dyn Storage,
    segs: &'a [SegInfo],
    index: usize,
    offset: u64,
    skip_to_lsn: Option<u64>,
    bytes: Option<Vec<u8>>,
    exact: bool,
}

impl JournalIter<'_> {
    fn next_frame(&mut self) -> Result<Option<Item>> {
        loop {
            let Some(seg) = self.segs.get(self.index) else { return Ok(None) };
            if self.bytes.is_none() {
                let file = self
                    .storage
                    .open(&seg.path, OpenMode::Read)
                    .map_err(|e| ReplayLogError::io("open", &seg.path, e))?;
                let mut b = vec![0u8; seg.valid_end as usize];
                file.read_exact_at(&mut b, 0).map_err(|e| ReplayLogError::io("read", &seg.path, e))?;
                if self.exact && self.offset != DATA_OFFSET {
                    // Check that the requested offset is a frame boundary.
                    let mut off = DATA_OFFSET;
                    let mut lsn = seg.first_lsn().unwrap_or(0);
                    while off < self.offset {
                        let (_, n) =
                            check_frame(&b[off as usize..], lsn).map_err(|f| corrupt(seg, off, f.to_string()))?;
                        off += n as u64;
                        lsn += 1;
                    }
                    if off != self.offset {
                        return Err(ReplayLogError::InvalidOptions {
                            option: "position",
                            reason: format!("offset {} is not a frame boundary of segment {}", self.offset, seg.number),
                        });
                    }
                }
                self.exact = false;
                self.bytes = Some(b);
            }
            let bytes = self.bytes.as_ref().unwrap();
            if self.offset >= seg.valid_end {
                self.index += 1;
                self.offset = DATA_OFFSET;
                self.bytes = None;
                continue;
            }
            let off = self.offset;
            let (h, _) = zerocopy::FromBytes::read_from_prefix(&bytes[off as usize..])
                .map(|(h, r): (FrameHeader, &[u8])| (h, r))
                .map_err(|_| corrupt(seg, off, "truncated frame".into()))?;
            let (h, n) =
                check_frame(&bytes[off as usize..], h.lsn.get()).map_err(|f| corrupt(seg, off, f.to_string()))?;
            self.offset += n as u64;
            let lsn = h.lsn.get();
            if self.skip_to_lsn.is_some_and(|l| lsn < l) {
                continue;
            }
            let body = &bytes[off as usize + FRAME_HEADER_BYTES..off as usize + n];
            let data = frame_data(&h, body).map_err(|reason| ReplayLogError::Decompress {
                path: seg.path.clone(),
                lsn,
                reason,
            })?;
            let kind = if h.kind == KIND_SNAPSHOT { EntryKind::Snapshot } else { EntryKind::Entry };
            return Ok(Some(Item { lsn, kind, data, segment: seg.number, offset: off }));
        }
    }
}

fn corrupt(seg: &SegInfo, offset: u64, reason: String) -> ReplayLogError {
    ReplayLogError::Corrupt {
        path: seg.path.clone(),
        location: crate::error::Location::Segment { segment: seg.number, offset },
        reason,
    }
}

impl Iterator for JournalIter<'_> {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_frame() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => None,
            Err(e) => {
                self.index = self.segs.len();
                Some(Err(e))
            }
        }
    }
}

/// Replays the journal in `dir` from its newest snapshot; see [`ReadOnlyJournal::replay`].
pub fn replay(dir: impl AsRef<Path>, f: impl FnMut(&Item)) -> Result<u64> {
    ReadOnlyJournal::open(dir)?.replay(f)
}

/// Validates a journal directory or one segment file, read-only: `(chunks, valid_bytes)` and
/// the first problem. A file that is not a segment is a `HeaderMismatch`.
pub fn validate(path: impl AsRef<Path>) -> Result<Validation> {
    validate_with(Arc::new(FileStorage), path)
}

/// [`validate`] through a storage backend.
pub fn validate_with(storage: Arc<dyn Storage>, path: impl AsRef<Path>) -> Result<Validation> {
    let path = path.as_ref();
    match storage.stat(path).map_err(|e| ReplayLogError::io("stat", path, e))? {
        Kind::Dir => Ok(ReadOnlyJournal::open_with(storage, path)?.validation()),
        Kind::File(_) => {
            let seg = read_segment(&*storage, path)?;
            let number = seg.number;
            let durable = seg.watermark.map_or(DATA_OFFSET, |(w, _)| w.valid_bytes.get());
            let problem = if seg.valid_end < durable.min(seg.len) || seg.len < durable {
                Some(Problem::Corrupt {
                    segment: number,
                    offset: seg.valid_end.min(seg.len),
                    reason: seg.fault.map_or("shorter than its durable watermark".into(), |(_, f)| f.to_string()),
                })
            } else if seg.valid_end < seg.data_len {
                Some(Problem::BadTail { segment: number, valid_bytes: seg.valid_end })
            } else {
                None
            };
            Ok(Validation { chunks: seg.frames, valid_bytes: seg.valid_end, problem })
        }
        Kind::Other => {
            Err(ReplayLogError::mismatch(path, "path type", "a journal directory or segment", "a device or fifo"))
        }
    }
}

/// Reads and analyses one segment file on its own: the number from its name when that is a
/// segment name, else from its header. A header that is not a valid segment header is a
/// `HeaderMismatch`.
fn read_segment(storage: &dyn Storage, path: &Path) -> Result<SegInfo> {
    match storage.stat(path).map_err(|e| ReplayLogError::io("stat", path, e))? {
        Kind::File(_) => {}
        Kind::Dir => return Err(ReplayLogError::mismatch(path, "path type", "a journal segment file", "a directory")),
        Kind::Other => {
            return Err(ReplayLogError::mismatch(path, "path type", "a journal segment file", "a device or fifo"));
        }
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let file = storage.open(path, OpenMode::Read).map_err(|e| ReplayLogError::io("open", path, e))?;
    let bytes = file.read_all().map_err(|e| ReplayLogError::io("read", path, e))?;
    let number = parse_segment_name(&name)
        .or_else(|| SegmentHeader::read_from_prefix(&bytes).ok().map(|(h, _)| h.segment.get()))
        .unwrap_or(0);
    let seg = scan::analyse_segment(number, path, &bytes)?;
    if let Err(reason) = &seg.header {
        return Err(ReplayLogError::mismatch(path, "segment header", "a replaylog journal segment", reason));
    }
    Ok(seg)
}

/// Explicit repair: takes the directory lock, cuts the journal back to its last valid frame
/// before the first problem (torn tail or corruption), keeping a backup of everything cut in
/// `backup/`, fdatasyncs and fsyncs the directory. `Ok(None)` when there was nothing to repair.
pub fn repair(dir: impl AsRef<Path>) -> Result<Option<RepairReport>> {
    repair_with(Arc::new(FileStorage), dir)
}

/// [`repair`] through a storage backend.
pub fn repair_with(storage: Arc<dyn Storage>, dir: impl AsRef<Path>) -> Result<Option<RepairReport>> {
    let dir = dir.as_ref();
    match storage.stat(dir) {
        Ok(Kind::Dir) => {}
        Ok(_) => return Err(ReplayLogError::mismatch(dir, "path type", "a journal directory", "not a directory")),
        Err(e) => return Err(ReplayLogError::io("stat", dir, e)),
    }
    let _lock = storage
        .lock_dir(dir)
        .map_err(|e| ReplayLogError::io("flock", dir, e))?
        .ok_or_else(|| ReplayLogError::Locked { path: dir.to_path_buf(), waited_ms: 0 })?;
    let scan = scan::scan_dir(&*storage, dir)?;
    cut::cut(&*storage, &scan)
}
