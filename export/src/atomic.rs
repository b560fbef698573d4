//! An output file written under a temporary name and renamed into place when complete.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{ExportError, Result, check_output};

/// An output file that appears under its name only when it is complete.
///
/// [`AtomicFile::create`] refuses an existing file unless `force` is set, then creates
/// `.<name>.<pid>.<n>.tmp` beside it. [`AtomicFile::commit`] syncs the data, renames the
/// temporary file to the final name (without `force`, refusing a file that appeared meanwhile)
/// and syncs the directory. Dropping an uncommitted `AtomicFile` removes the temporary file, so
/// an export that fails or is interrupted (the CLI turns SIGINT/SIGTERM into an error) leaves
/// nothing behind; only a SIGKILL or power cut can leave the `.tmp` file, never a partial file
/// under the final name.
///
/// ```
/// use std::io::Write;
/// # let dir = tempfile::tempdir()?;
/// let path = dir.path().join("run.out");
/// let mut out = replaylog_export::AtomicFile::create(&path, false)?;
/// out.file().write_all(b"complete")?;
/// assert!(!path.exists());
/// out.commit()?;
/// assert_eq!(std::fs::read(&path)?, b"complete");
/// assert!(replaylog_export::AtomicFile::create(&path, false).is_err()); // exists: refused
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    force: bool,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

fn io<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(std::io::Error) -> ExportError + 'a {
    move |source| ExportError::Io { op, path: path.to_path_buf(), source }
}

impl AtomicFile {
    /// Starts writing `dest`: refused when it exists (unless `force`, and then it must be a
    /// file), or when its directory does not exist.
    pub fn create(dest: &Path, force: bool) -> Result<AtomicFile> {
        check_output(dest, force)?;
        let name = dest
            .file_name()
            .ok_or_else(|| ExportError::Usage(format!("{}: not a file name", dest.display())))?
            .to_string_lossy();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let tmp = dest.with_file_name(format!(".{name}.{}.{n}.tmp", std::process::id()));
        let file = OpenOptions::new().write(true).read(true).create_new(true).open(&tmp).map_err(io("create", &tmp))?;
        Ok(AtomicFile { dest: dest.to_path_buf(), tmp, file: Some(file), force })
    }

    /// The temporary file, to write the output into.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("an AtomicFile has its file until commit")
    }

    /// The temporary file's path.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// Makes the output durable and visible under its final name.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("an AtomicFile has its file until commit");
        file.sync_all().map_err(io("fsync", &self.tmp))?;
        drop(file);
        if self.force {
            std::fs::rename(&self.tmp, &self.dest).map_err(io("rename", &self.dest))?;
        } else {
            // No overwrite of a file created since `create`: link (fails if it exists), unlink.
            std::fs::hard_link(&self.tmp, &self.dest).map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => ExportError::OutputExists { path: self.dest.clone() },
                _ => ExportError::Io { op: "link", path: self.dest.clone(), source: e },
            })?;
            std::fs::remove_file(&self.tmp).map_err(io("remove", &self.tmp))?;
        }
        let dir = match self.dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        File::open(&dir).and_then(|d| d.sync_all()).map_err(io("fsync directory", &dir))?;
        self.tmp = PathBuf::new();
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            self.file = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[test]
    fn dropped_output_leaves_nothing_and_existing_file_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.parquet");
        {
            let mut out = AtomicFile::create(&path, false).unwrap();
            out.file().write_all(b"partial").unwrap();
            assert!(out.temp_path().exists());
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the temporary file is removed");

        std::fs::write(&path, b"theirs").unwrap();
        assert!(matches!(AtomicFile::create(&path, false), Err(ExportError::OutputExists { .. })));
        let mut out = AtomicFile::create(&path, true).unwrap();
        out.file().write_all(b"ours").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs", "untouched until commit");
        out.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"ours");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_file_created_meanwhile_is_not_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.mcap");
        let mut out = AtomicFile::create(&path, false).unwrap();
        out.file().write_all(b"ours").unwrap();
        std::fs::write(&path, b"theirs").unwrap();
        assert!(matches!(out.commit(), Err(ExportError::OutputExists { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), b"theirs");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file is removed");
    }

    #[test]
    fn a_directory_is_never_an_output() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(AtomicFile::create(dir.path(), true), Err(ExportError::Usage(_))));
    }
}
