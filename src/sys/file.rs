//! File calls the engines need beyond `std::fs`: preallocation, advisory locks, data syncs,
//! directory syncs and a rename that never replaces an existing file.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, RenameFlags};

fn errno(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// Allocates `len` bytes of real blocks (never sparse): a full disk fails here, not later as a
/// SIGBUS when a mapped page is first written.
pub fn posix_fallocate(file: &File, len: u64) -> io::Result<()> {
    let len = i64::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::FileTooLarge))?;
    nix::fcntl::posix_fallocate(file.as_fd(), 0, len).map_err(errno)
}

/// sync_file_range(2) with `SYNC_FILE_RANGE_WRITE`: starts writing the dirty pages of the range
/// to the device and returns without waiting. A hint that spreads a later fdatasync's work over
/// time; it makes nothing durable (no device cache flush, no metadata) and claims nothing.
#[allow(unsafe_code)] // nix 0.32 has no wrapper for sync_file_range
pub fn start_writeback(file: &File, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let off = i64::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let len = i64::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: sync_file_range only reads its integer arguments; the descriptor is borrowed from a
    // live `File` for the duration of the call, and no memory is passed to the kernel.
    let rc = unsafe { libc::sync_file_range(file.as_raw_fd(), off, len, libc::SYNC_FILE_RANGE_WRITE) };
    if rc == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// fdatasync(2).
pub fn fdatasync(file: &File) -> io::Result<()> {
    nix::unistd::fdatasync(file.as_fd()).map_err(errno)
}

/// fsync(2) of a directory, making entries created, renamed or removed in it durable.
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Renames `from` to `to` atomically, failing with `AlreadyExists` instead of replacing a file
/// that appeared at `to` meanwhile (renameat2 RENAME_NOREPLACE).
pub fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let cwd = nix::fcntl::AT_FDCWD;
    nix::fcntl::renameat2(cwd, from, cwd, to, RenameFlags::RENAME_NOREPLACE).map_err(errno)
}

/// An exclusive flock(2) on an open file, released on drop (LOCK_UN), which frees it for the
/// whole open file description even if a forked child still shares the descriptor.
#[derive(Debug)]
pub struct FileLock(#[allow(dead_code)] Flock<File>);

/// Tries to take an exclusive lock on a duplicate of `file` without blocking. `Ok(None)` means
/// another open file description holds it.
pub fn lock_exclusive(file: &File) -> io::Result<Option<FileLock>> {
    let dup = file.try_clone()?;
    match Flock::lock(dup, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(Some(FileLock(lock))),
        Err((_, Errno::EWOULDBLOCK)) => Ok(None),
        Err((_, e)) => Err(errno(e)),
    }
}
