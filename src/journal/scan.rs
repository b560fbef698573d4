//! Read-only analysis of a journal directory: segments, headers, watermarks, the valid frame
//! prefix of each segment, and the verdict — clean, torn tail after the durable watermark, or
//! corruption at or before it. Used by open (recovery), validate, replay and repair alike.

use std::path::{Path, PathBuf};

use zerocopy::FromBytes;

use crate::error::{Location, ReplayLogError, Result};
use crate::format::journal::*;
use crate::storage::{Kind, OpenMode, Storage};

const NO_MAGIC: &str = "no segment magic";
/// Rot in the magic of a header of ours: it checksums once the magic is put back.
const MAGIC_ROT: &str = "segment header damaged (magic)";

/// What one segment holds.
#[derive(Clone, Debug)]
pub(crate) struct SegInfo {
    pub number: u64,
    pub path: PathBuf,
    pub len: u64,
    /// `len` without the all-zero run that follows the valid frame prefix of an unsealed
    /// segment (space preallocated for frames and not used yet), else `len`.
    pub data_len: u64,
    /// `Err(reason)` when the header is not a valid header of this segment.
    pub header: std::result::Result<SegmentHeader, String>,
    /// The current watermark and which copy holds it.
    pub watermark: Option<(Watermark, usize)>,
    /// End of the valid frame prefix (`DATA_OFFSET` when there is none, 0 with a bad header).
    pub valid_end: u64,
    /// LSN the frame after the valid prefix would get.
    pub next_lsn: u64,
    /// Valid frames.
    pub frames: u64,
    /// Why the valid prefix ends before the file does.
    pub fault: Option<(u64, FrameFault)>,
    /// Offset and LSN of the last snapshot frame in the valid prefix.
    pub last_snapshot: Option<(u64, u64)>,
    /// The LSN of the frame boundary at the watermark's `valid_bytes`, if the scan met one there.
    pub lsn_at_watermark: Option<u64>,
    /// Set (to what the file starts with) when the file is not ours: it does not start with our
    /// magic, and its header does not checksum with the magic put back either. Whatever its
    /// length, 0 bytes included: segments are renamed into place only once their header is
    /// durable, so a segment-named file without our header was never one of ours.
    pub foreign: Option<String>,
}

impl SegInfo {
    pub fn first_lsn(&self) -> Option<u64> {
        self.header.as_ref().ok().map(|h| h.first_lsn.get())
    }
}

/// The verdict on a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Clean,
    /// Damage only after the durable watermark: cut segment `index` at `valid_end`, and move
    /// every later segment away. `index: None`: no segment was ever made durable (creation was
    /// interrupted), so every file is tail.
    TornTail {
        index: Option<usize>,
        valid_end: u64,
    },
    /// Damage at or before the watermark: `keep` whole segments are intact, segment `keep` (if
    /// it exists and `truncate_at` is `Some`) is valid up to that offset.
    Corrupt {
        segment: u64,
        offset: u64,
        reason: String,
        keep: usize,
        truncate_at: Option<u64>,
    },
}

/// A scanned directory.
#[derive(Clone, Debug)]
pub(crate) struct Scan {
    pub dir: PathBuf,
    pub segs: Vec<SegInfo>,
    /// `.seg.tmp` files: segment creations a crash interrupted before the rename.
    pub leftovers: Vec<PathBuf>,
    pub verdict: Verdict,
}

impl Scan {
    /// (segment index, offset, lsn) of the newest snapshot in the intact part.
    pub fn newest_snapshot(&self) -> Option<(usize, u64, u64)> {
        let limit = self.intact_segments();
        self.segs[..limit].iter().enumerate().rev().find_map(|(i, s)| s.last_snapshot.map(|(off, lsn)| (i, off, lsn)))
    }

    /// How many leading segments hold replayable frames.
    pub fn intact_segments(&self) -> usize {
        match &self.verdict {
            Verdict::Clean => self.segs.len(),
            Verdict::TornTail { .. } => self.segs.len(),
            Verdict::Corrupt { keep, truncate_at, .. } => keep + usize::from(truncate_at.is_some()),
        }
    }

    /// The problem as an error, if any.
    pub fn problem(&self) -> Option<ReplayLogError> {
        match &self.verdict {
            Verdict::Clean => None,
            Verdict::TornTail { index: Some(i), valid_end } => {
                let seg = &self.segs[*i];
                Some(ReplayLogError::BadTail { path: seg.path.clone(), segment: seg.number, valid_bytes: *valid_end })
            }
            Verdict::TornTail { index: None, .. } => {
                let path = self.leftovers.first().cloned().unwrap_or_else(|| self.dir.clone());
                let segment = self.segs.last().map_or(0, |s| s.number.saturating_add(1));
                Some(ReplayLogError::BadTail { path, segment, valid_bytes: 0 })
            }
            Verdict::Corrupt { segment, offset, reason, .. } => Some(ReplayLogError::Corrupt {
                path: self
                    .segs
                    .iter()
                    .find(|s| s.number == *segment)
                    .map_or_else(|| self.dir.join(segment_name(*segment)), |s| s.path.clone()),
                location: Location::Segment { segment: *segment, offset: *offset },
                reason: reason.clone(),
            }),
        }
    }
}

/// Suffix of a segment being created (renamed to the segment name once its first page is durable).
pub(crate) const CREATING_SUFFIX: &str = ".tmp";

/// Segments (number, path), sorted, and leftovers of interrupted creations.
pub(crate) type Listing = (Vec<(u64, PathBuf)>, Vec<PathBuf>);

/// Lists the segments of `dir` and the leftovers of interrupted segment creations, refusing any
/// entry that is not ours (nothing is changed).
pub(crate) fn list_segments(storage: &dyn Storage, dir: &Path) -> Result<Listing> {
    let names = storage.list(dir).map_err(|e| ReplayLogError::io("read directory", dir, e))?;
    let mut segs = Vec::new();
    let mut leftovers = Vec::new();
    for name in names {
        let path = dir.join(&name);
        if let Some(n) = parse_segment_name(&name) {
            segs.push((n, path));
        } else if name.strip_suffix(CREATING_SUFFIX).and_then(parse_segment_name).is_some() {
            leftovers.push(path);
        } else if name == BACKUP_DIR && matches!(storage.stat(&path), Ok(Kind::Dir)) {
            continue;
        } else {
            return Err(ReplayLogError::mismatch(
                path,
                "directory entry",
                format!("only NNNNNNNNNNNNNNNNNNNN{SEGMENT_SUFFIX} segments and {BACKUP_DIR}/"),
                name,
            ));
        }
    }
    segs.sort();
    leftovers.sort();
    Ok((segs, leftovers))
}

/// Reads and checks one segment file. `expected_first_lsn` is the LSN the previous segment ends
/// at (None for the first segment). Fails only for I/O errors and for a header of another
/// version (not ours to judge).
pub(crate) fn scan_segment(storage: &dyn Storage, number: u64, path: &Path) -> Result<SegInfo> {
    let io = |op, e| ReplayLogError::io(op, path, e);
    let file = storage.open(path, OpenMode::Read).map_err(|e| io("open", e))?;
    let bytes = file.read_all().map_err(|e| io("read", e))?;
    analyse_segment(number, path, &bytes)
}

/// [`scan_segment`] on bytes already read.
pub(crate) fn analyse_segment(number: u64, path: &Path, bytes: &[u8]) -> Result<SegInfo> {
    let len = bytes.len() as u64;
    let mut info = SegInfo {
        number,
        path: path.to_path_buf(),
        len,
        data_len: len,
        header: Err(String::new()),
        watermark: None,
        valid_end: 0,
        next_lsn: 0,
        frames: 0,
        fault: None,
        last_snapshot: None,
        lsn_at_watermark: None,
        foreign: None,
    };
    let header = match SegmentHeader::read_from_prefix(bytes) {
        Err(_) => Err(format!("file of {len} bytes is shorter than a segment header")),
        Ok((h, _)) if h.magic != SEGMENT_MAGIC => {
            // Rot in the magic of our own header still checksums once the magic is put back.
            let mut ours = h;
            ours.magic = SEGMENT_MAGIC;
            if ours.crc_ok() { Err(MAGIC_ROT.to_string()) } else { Err(NO_MAGIC.to_string()) }
        }
        Ok((h, _)) if h.version.get() != SEGMENT_VERSION => {
            // Another version, or rot in the version word of ours: with the version put back,
            // a header of ours checksums again.
            let mut ours = h;
            ours.version = zerocopy::little_endian::U32::new(SEGMENT_VERSION);
            if !ours.crc_ok() {
                return Err(ReplayLogError::mismatch(path, "version", SEGMENT_VERSION, h.version.get()));
            }
            Err(format!("segment header damaged (version word reads {})", h.version.get()))
        }
        Ok((h, _)) if !h.crc_ok() => Err("segment header checksum mismatch".to_string()),
        Ok((h, _)) if h.segment.get() != number => {
            Err(format!("header says segment {} (renamed or misplaced file)", h.segment.get()))
        }
        Ok((h, _)) if !h.counters_ok() => {
            Err(format!("header counters out of range (first lsn {})", h.first_lsn.get()))
        }
        Ok((h, _)) => Ok(h),
    };
    info.header = header;
    let magic_rot = info.header.as_ref().is_err_and(|r| r == MAGIC_ROT);
    if !bytes.starts_with(&SEGMENT_MAGIC) && !magic_rot {
        info.foreign = Some(if bytes.is_empty() {
            "an empty file".to_string()
        } else {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(SEGMENT_MAGIC.len())]).into_owned();
            format!("{head:?} (a file of {len} bytes)")
        });
    }
    let Ok(h) = info.header.as_ref() else { return Ok(info) };
    let copies = WATERMARK_OFFSETS.map(|off| bytes.get(off as usize..).and_then(Watermark::decode));
    info.watermark = (0..2)
        .filter(|i| copies[*i].is_some())
        .max_by_key(|i| copies[*i].unwrap().generation.get())
        .map(|i| (copies[i].unwrap(), i));
    let mut off = DATA_OFFSET;
    let mut lsn = h.first_lsn.get();
    if len < DATA_OFFSET {
        info.valid_end = len.min(DATA_OFFSET);
        info.next_lsn = lsn;
        info.fault = Some((len, FrameFault::TruncatedHeader));
        return Ok(info);
    }
    // A sealed segment ends at its sealed length: nothing after it is a frame of it.
    let (w_at, scan_end) = match info.watermark {
        Some((w, _)) if w.sealed.get() == 1 => (w.valid_bytes.get(), len.min(w.valid_bytes.get())),
        Some((w, _)) => (w.valid_bytes.get(), len),
        None => (u64::MAX, len),
    };
    loop {
        if off == w_at {
            info.lsn_at_watermark = Some(lsn);
        }
        if off >= scan_end {
            break;
        }
        match check_frame(&bytes[off as usize..scan_end as usize], lsn) {
            Ok((fh, n)) => {
                if fh.kind == KIND_SNAPSHOT {
                    info.last_snapshot = Some((off, lsn));
                }
                off += n as u64;
                lsn += 1;
                info.frames += 1;
            }
            Err(f) => {
                info.fault = Some((off, f));
                break;
            }
        }
    }
    info.valid_end = off;
    info.next_lsn = lsn;
    // Segments are preallocated (zero-filled) ahead of their frames: in an unsealed segment, zeros
    // from the end of the valid frames to the end of the file are space not used yet, not damage.
    // A sealed segment is truncated to its end before it is sealed, so it never has such a tail.
    let sealed = info.watermark.is_some_and(|(w, _)| w.sealed.get() == 1);
    // Zeros at or before the durable watermark are damage to acknowledged data, reported as such.
    if !sealed && off >= w_at && off < len && bytes[off as usize..].iter().all(|&b| b == 0) {
        info.data_len = off;
        info.fault = None;
    }
    Ok(info)
}

/// Scans a whole directory (read-only) and judges it.
pub(crate) fn scan_dir(storage: &dyn Storage, dir: &Path) -> Result<Scan> {
    let mut segs = Vec::new();
    let (names, leftovers) = list_segments(storage, dir)?;
    for (n, path) in names {
        let seg = scan_segment(storage, n, &path)?;
        // A segment-named file that does not start with our header is somebody else's file, or
        // nothing at all (0 bytes): not ours to judge, cut or move.
        if let Some(found) = &seg.foreign {
            return Err(ReplayLogError::mismatch(&path, "magic", "\"RPLYJRNL\"", found.clone()));
        }
        segs.push(seg);
    }
    let verdict = judge(&segs, !leftovers.is_empty());
    Ok(Scan { dir: dir.to_path_buf(), segs, leftovers, verdict })
}

fn corrupt(seg: &SegInfo, offset: u64, reason: String, keep: usize, truncate_at: Option<u64>) -> Verdict {
    Verdict::Corrupt { segment: seg.number, offset, reason, keep, truncate_at }
}

/// The verdict (see docs/FORMAT.md "Recovery"). Segments are created under a temporary name
/// and renamed into place only once their first page is durable, so every `.seg` file is whole
/// at birth: any damage to one is judged against its durable watermark, and only `.seg.tmp`
/// leftovers of an interrupted creation are tail as a whole.
pub(crate) fn judge(segs: &[SegInfo], leftovers: bool) -> Verdict {
    let Some(last) = segs.len().checked_sub(1) else {
        return if leftovers { Verdict::TornTail { index: None, valid_end: 0 } } else { Verdict::Clean };
    };
    let mut expected_lsn: Option<u64> = None;
    for (i, seg) in segs.iter().enumerate() {
        if i > 0 && seg.number != segs[i - 1].number + 1 {
            let missing = SegInfo { number: segs[i - 1].number + 1, ..seg.clone() };
            return corrupt(&missing, 0, "segment file missing".into(), i, None);
        }
        let h = match &seg.header {
            Ok(h) => h,
            Err(reason) => return corrupt(seg, 0, reason.clone(), i, None),
        };
        if let Some(e) = expected_lsn {
            if h.first_lsn.get() != e {
                let reason = format!("starts at lsn {}, the previous segment ends before {e}", h.first_lsn.get());
                return corrupt(seg, 0, reason, i, None);
            }
        }
        let Some((w, _)) = seg.watermark else {
            return corrupt(seg, WATERMARK_OFFSETS[0], "no valid watermark copy".into(), i, None);
        };
        let durable = w.valid_bytes.get();
        let frame_reason = || seg.fault.map_or("invalid frame".to_string(), |(_, f)| f.to_string());
        if seg.len < durable.max(DATA_OFFSET) {
            let reason = format!("file of {} bytes is shorter than its durable watermark {durable}", seg.len);
            let keep = (seg.len >= DATA_OFFSET).then_some(seg.valid_end);
            return corrupt(seg, seg.len, reason, i, keep);
        }
        if seg.valid_end < durable {
            return corrupt(seg, seg.valid_end, frame_reason(), i, Some(seg.valid_end));
        }
        if seg.lsn_at_watermark != Some(w.next_lsn.get()) {
            let reason = format!(
                "the watermark (byte {durable}, next lsn {}) does not fall on the frame boundary it names",
                w.next_lsn.get()
            );
            return corrupt(seg, durable, reason, i, None);
        }
        if i < last && (w.sealed.get() != 1 || seg.valid_end != seg.len || durable != seg.len) {
            let reason = "a segment before the newest is not sealed at its end".to_string();
            return corrupt(seg, durable.min(seg.valid_end), reason, i, Some(durable.min(seg.valid_end)));
        }
        expected_lsn = Some(seg.next_lsn);
    }
    let newest = &segs[last];
    // A sealed segment ends at its sealed length: anything after it (even intact-looking frames)
    // was never part of it, and keeping it would make the segment unopenable once it is no
    // longer the newest (found by fuzzing).
    let end = match newest.watermark {
        Some((w, _)) if w.sealed.get() == 1 => w.valid_bytes.get(),
        _ => newest.valid_end,
    };
    if end < newest.data_len {
        return Verdict::TornTail { index: Some(last), valid_end: end };
    }
    if leftovers {
        return Verdict::TornTail { index: None, valid_end: 0 };
    }
    Verdict::Clean
}
