//! Cutting a journal back to a valid prefix, keeping a backup of everything cut: used by
//! recovery (torn tail, automatically) and by `repair` (explicitly, for any damage).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use zerocopy::IntoBytes;

use crate::error::{ReplayLogError, Result};
use crate::format::journal::*;
use crate::journal::scan::{Scan, Verdict};
use crate::storage::{Kind, OpenMode, Storage};

/// What a recovery or repair cut, and where the backup is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CutReport {
    /// The segment truncated, if one was.
    pub segment: Option<u64>,
    /// Its length after the cut (the end of its last valid frame).
    pub valid_bytes: u64,
    /// Bytes cut from that segment (kept in the backup).
    pub cut_bytes: u64,
    /// Later segment files moved whole into the backup directory.
    pub moved_segments: Vec<PathBuf>,
    /// Files created in the backup directory.
    pub backups: Vec<PathBuf>,
    /// Why: the problem found.
    pub reason: String,
}

/// The report of an explicit [`crate::journal::repair`].
pub type RepairReport = CutReport;

fn now_ms() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0)
}

/// Cuts according to `scan.verdict`. Order (each step durable before the next): backup copy of
/// the cut bytes, later segments renamed into the backup directory, both directories synced,
/// then the truncation (and a watermark that no longer claims cut bytes), fdatasync, directory
/// sync. A crash in between leaves at worst a duplicate backup.
pub(crate) fn cut(storage: &dyn Storage, scan: &Scan) -> Result<Option<CutReport>> {
    let (keep, truncate_at, reason) = match &scan.verdict {
        Verdict::Clean => return Ok(None),
        Verdict::TornTail { index: Some(i), valid_end } => {
            (*i, Some(*valid_end), "torn tail after the durable watermark")
        }
        Verdict::TornTail { index: None, .. } => (scan.segs.len(), None, "interrupted segment creation"),
        Verdict::Corrupt { keep, truncate_at, .. } => (*keep, *truncate_at, "corruption (explicit repair)"),
    };
    let dir = &scan.dir;
    let io = |op, path: &Path, e| ReplayLogError::io(op, path, e);
    let backup_dir = dir.join(BACKUP_DIR);
    match storage.stat(&backup_dir) {
        Ok(Kind::Dir) => {}
        Ok(_) => return Err(ReplayLogError::mismatch(&backup_dir, "backup directory", "a directory", "a file")),
        Err(_) => {
            storage.create_dir(&backup_dir).map_err(|e| io("create directory", &backup_dir, e))?;
            storage.sync_dir(dir).map_err(|e| io("fsync directory", dir, e))?;
        }
    }
    let stamp = now_ms();
    let mut report = CutReport { reason: reason.to_string(), ..CutReport::default() };
    if let (Some(t), Some(seg)) = (truncate_at, scan.segs.get(keep)) {
        let file = storage.open(&seg.path, OpenMode::ReadWrite).map_err(|e| io("open", &seg.path, e))?;
        let len = file.len().map_err(|e| io("stat", &seg.path, e))?;
        let mut tail = vec![0u8; len.saturating_sub(t) as usize];
        file.read_exact_at(&mut tail, t).map_err(|e| io("read", &seg.path, e))?;
        // The zero-filled preallocated end of an unsealed segment holds nothing: not copied.
        if seg.watermark.is_none_or(|(w, _)| w.sealed.get() != 1) {
            let used = tail.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
            tail.truncate(used);
        }
        report.segment = Some(seg.number);
        report.valid_bytes = t;
        report.cut_bytes = tail.len() as u64;
        if !tail.is_empty() {
            let name = format!("{}.{t}.{stamp}.cut", segment_name(seg.number));
            let bpath = backup_dir.join(name);
            let b = storage.open(&bpath, OpenMode::CreateNew).map_err(|e| io("create", &bpath, e))?;
            b.write_at(&tail, 0).map_err(|e| io("write", &bpath, e))?;
            b.sync_data().map_err(|e| io("fdatasync", &bpath, e))?;
            report.backups.push(bpath);
        }
    }
    let first_moved = if truncate_at.is_some() { keep + 1 } else { keep };
    for seg in scan.segs.iter().skip(first_moved) {
        let name = format!("{}.{stamp}.moved", segment_name(seg.number));
        let to = backup_dir.join(name);
        storage.rename(&seg.path, &to).map_err(|e| io("rename", &seg.path, e))?;
        report.moved_segments.push(seg.path.clone());
        report.backups.push(to);
    }
    for left in &scan.leftovers {
        let name = left.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let to = backup_dir.join(format!("{name}.{stamp}.moved"));
        storage.rename(left, &to).map_err(|e| io("rename", left, e))?;
        report.moved_segments.push(left.clone());
        report.backups.push(to);
    }
    storage.sync_dir(&backup_dir).map_err(|e| io("fsync directory", &backup_dir, e))?;
    storage.sync_dir(dir).map_err(|e| io("fsync directory", dir, e))?;
    if let (Some(t), Some(seg)) = (truncate_at, scan.segs.get(keep)) {
        let file = storage.open(&seg.path, OpenMode::ReadWrite).map_err(|e| io("open", &seg.path, e))?;
        file.set_len(t).map_err(|e| io("truncate", &seg.path, e))?;
        if let Some((w, copy)) = seg.watermark {
            if w.valid_bytes.get() > t {
                // Explicit repair of acknowledged data: the watermark must stop claiming it. A
                // sealed segment stays sealed (the writer continues in a new one).
                let nw = Watermark::new(w.generation.get() + 1, t, seg.next_lsn, w.sealed.get() == 1);
                let off = WATERMARK_OFFSETS[1 - copy];
                file.write_at(nw.as_bytes(), off).map_err(|e| io("write", &seg.path, e))?;
            }
        }
        file.sync_data().map_err(|e| io("fdatasync", &seg.path, e))?;
        storage.sync_dir(dir).map_err(|e| io("fsync directory", dir, e))?;
    }
    Ok(Some(report))
}
