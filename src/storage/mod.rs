//! The journal's I/O seam: every file operation the journal performs goes through [`Storage`], so
//! the same code runs on real files ([`FileStorage`]) and on the simulated disk of
//! [`sim::SimStorage`], which injects I/O errors and power cuts.

pub mod sim;

use std::any::Any;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::sys;

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write; the file must not exist yet.
    CreateNew,
}

/// What `Storage::stat` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file of this length.
    File(u64),
    /// A directory.
    Dir,
    /// Anything else (device, fifo, socket).
    Other,
}

/// A file opened through a [`Storage`].
#[allow(clippy::len_without_is_empty)] // a file's length, not a collection's
pub trait StorageFile: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many (0 at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `data` at `offset`.
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()>;
    /// Current length.
    fn len(&self) -> io::Result<u64>;
    /// Truncates or extends.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Reserves real blocks for bytes `0..len`, extending the file with written zeros to `len`
    /// if it is shorter (never shrinks): later writes below `len` change no file size,
    /// allocation or extent state, so their fdatasync flushes data only (measured in
    /// BENCHMARKS.md). A full disk fails here.
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// fdatasync: every write before it is durable on success.
    fn sync_data(&self) -> io::Result<()>;
    /// Starts writing `len` bytes at `offset` to the device without waiting (a hint that
    /// spreads the next `sync_data`'s work; it makes nothing durable). Default: nothing.
    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        let _ = (offset, len);
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes at `offset`.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.read_at(&mut buf[done..], offset + done as u64)? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(())
    }

    /// The whole file.
    fn read_all(&self) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; self.len()? as usize];
        self.read_exact_at(&mut buf, 0)?;
        Ok(buf)
    }
}

/// File-system operations the journal needs.
pub trait Storage: Send + Sync + Debug {
    /// Kind of the entry at `path` (following symlinks); `NotFound` if absent.
    fn stat(&self, path: &Path) -> io::Result<Kind>;
    /// Names of the entries in `dir`.
    fn list(&self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates `dir` (one level; the parent must exist).
    fn create_dir(&self, dir: &Path) -> io::Result<()>;
    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>>;
    /// Removes a file.
    fn remove(&self, path: &Path) -> io::Result<()>;
    /// Renames a file (replacing nothing: fails if `to` exists).
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// fsync of a directory: entries created, renamed or removed in it are durable on success.
    fn sync_dir(&self, dir: &Path) -> io::Result<()>;
    /// Takes an exclusive lock on `dir`, held until the returned guard drops; `Ok(None)` when
    /// another holder has it.
    fn lock_dir(&self, dir: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>>;
}

/// Real files.
#[derive(Debug, Default, Clone, Copy)]
pub struct FileStorage;

#[derive(Debug)]
struct RealFile(File);

impl StorageFile for RealFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(data, offset)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        // Written zeros, not `fallocate`: ext4 keeps fallocated blocks "unwritten", so the first
        // write into each of them converts its extent, and that write's fdatasync must commit
        // the metadata change too (measured: a 64 KiB Sync write at the p50 of a growing file,
        // 539 us, against 250 us into zeros written ahead). Zeros written here cost one data
        // flush per step, with the first fdatasync after it.
        let have = self.0.metadata()?.len();
        if len <= have {
            return Ok(());
        }
        let zeros = vec![0u8; (len - have).min(1 << 20) as usize];
        let mut at = have;
        while at < len {
            let n = (len - at).min(zeros.len() as u64) as usize;
            self.0.write_all_at(&zeros[..n], at)?;
            at += n as u64;
        }
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        sys::fdatasync(&self.0)
    }
    fn start_writeback(&self, offset: u64, len: u64) -> io::Result<()> {
        sys::start_writeback(&self.0, offset, len)
    }
}

impl Storage for FileStorage {
    fn stat(&self, path: &Path) -> io::Result<Kind> {
        let m = std::fs::metadata(path)?;
        Ok(if m.is_file() {
            Kind::File(m.len())
        } else if m.is_dir() {
            Kind::Dir
        } else {
            Kind::Other
        })
    }
    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }
    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir(dir)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let mut o = OpenOptions::new();
        match mode {
            OpenMode::Read => o.read(true),
            OpenMode::ReadWrite => o.read(true).write(true),
            OpenMode::CreateNew => o.read(true).write(true).create_new(true),
        };
        Ok(Box::new(RealFile(o.open(path)?)))
    }
    fn remove(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        sys::rename_noreplace(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        sys::fsync_dir(dir)
    }
    fn lock_dir(&self, dir: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>> {
        let f = File::open(dir)?;
        Ok(sys::lock_exclusive(&f)?.map(|l| Box::new(l) as Box<dyn Any + Send + Sync>))
    }
}
