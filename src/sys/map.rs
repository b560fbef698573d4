//! A shared, writable memory mapping of a file with bounds-checked access.
//!
//! All raw-pointer and atomic-on-mapped-memory code lives here. The invariant every method relies
//! on: `ptr .. ptr + len` is one live mapping owned by `self.raw` (memmap2 unmaps it on drop), its
//! base is page aligned, and callers' offsets are checked against `len` before any access.
//!
//! **Concurrent access.** A ring file is written by one writer (one process, holding the file
//! lock, through its own mapping) while readers in the same or other processes read it through
//! read-only mappings of the same pages, with no lock. Everything a reader may read while the
//! writer writes is therefore accessed, on both sides, only as relaxed atomic 8-byte words at
//! 8-aligned offsets ([`Region::copy_out`], [`Region::write`], [`Region::load_u64`],
//! [`Region::store_u64`]; the word copies are `sys::words`): no data race, and no racing atomic
//! accesses of different sizes. Read-only mappings are only ever read with relaxed loads of at
//! most 8 bytes, the only atomic accesses Rust allows on read-only memory; acquire ordering comes
//! from a fence after the load. The writer's own plain reads ([`Region::bytes`]) race with
//! nothing: only it writes, and its readers' atomic loads are reads too.
#![allow(unsafe_code)]

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering, fence};

use memmap2::{MmapOptions, MmapRaw};

use super::words::{load_words, store_words};

/// A memory-mapped file region.
///
/// Reads take `&self`, writes take `&mut self`: inside one process the borrow checker therefore
/// guarantees that no slice handed out by [`Region::bytes`] is written while it lives. Across
/// processes, the file's advisory lock admits a single writer. Every write is made of relaxed
/// atomic word stores, so readers of other mappings of the file may copy concurrently with
/// [`Region::copy_out`] (see the module docs).
#[derive(Debug)]
pub struct Region {
    raw: MmapRaw,
    len: usize,
    writable: bool,
}

// The panics of the bounds and alignment checks live out of line, so that the hot path (a ring
// append runs eight checked accesses) carries a compare and a branch per check and does not
// spill the message arguments to the stack (perf showed those spills among an append's stores).
#[cold]
#[inline(never)]
fn out_of_bounds(off: usize, len: usize, map_len: usize) -> ! {
    panic!("mapping access {off}+{len} outside 0..{map_len}")
}

#[cold]
#[inline(never)]
fn unaligned(off: usize) -> ! {
    panic!("atomic access at unaligned offset {off}")
}

impl Region {
    /// Maps the first `len` bytes of `file` shared and writable; `populate` asks the kernel to
    /// fault every page in now (MAP_POPULATE).
    pub fn map_mut(file: &File, len: usize, populate: bool) -> std::io::Result<Region> {
        let mut opts = MmapOptions::new();
        opts.len(len);
        if populate {
            opts.populate();
        }
        let raw = opts.map_raw(file)?;
        Ok(Region { raw, len, writable: true })
    }

    /// Maps the first `len` bytes of `file` shared and read-only (readers in other processes,
    /// inspection tools: the file cannot be modified through it).
    pub fn map_read_only(file: &File, len: usize) -> std::io::Result<Region> {
        let raw = MmapOptions::new().len(len).map_raw_read_only(file)?;
        Ok(Region { raw, len, writable: false })
    }

    /// Copies `buf.len()` bytes at `off` into `buf` with relaxed atomic loads of the 8-aligned
    /// words covering them. Safe to race with the writer (this process's, through another
    /// mapping, or another process's): the copy may be torn, which callers detect by sequence
    /// number and checksum (seqlock discipline), but it is never a data race.
    #[inline]
    pub fn copy_out(&self, off: usize, buf: &mut [u8]) {
        let (words, skip) = self.words(off, buf.len());
        load_words(words, skip, buf);
    }

    /// The 8-byte words covering `off .. off + len` and the offset of `off` in the first one.
    #[inline]
    fn words(&self, off: usize, len: usize) -> (&[AtomicU64], usize) {
        self.check(off, len);
        let start = off & !7;
        // The mapping's length is not necessarily a multiple of 8: check the rounded-up end too.
        let end = (off + len).next_multiple_of(8);
        if end > self.len {
            out_of_bounds(start, end - start, self.len);
        }
        // SAFETY: `start .. end` is inside the live mapping (checked above); the base is page
        // aligned and `start` a multiple of 8, so every word is aligned for `AtomicU64`, which has
        // the size and layout of `u64`. The slice borrows `self`, so the mapping outlives it. All
        // concurrent accesses to these bytes, from any thread or process, are atomic 8-byte
        // accesses of these same words (module docs). `AtomicU64` is an `UnsafeCell`, so shared
        // references to it may coexist with the writer's stores. On a read-only mapping only
        // relaxed loads are made through these references (`copy_out`, `load_u64`): 8-byte
        // relaxed loads are the atomic accesses that are defined on read-only memory on 64-bit
        // targets; stores go only through writable mappings (`write`, `store_u64` assert it).
        let words =
            unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(start).cast::<AtomicU64>(), (end - start) / 8) };
        (words, off - start)
    }

    #[inline]
    fn check(&self, off: usize, len: usize) {
        if off.checked_add(len).is_none_or(|end| end > self.len) {
            out_of_bounds(off, len, self.len);
        }
    }

    /// A view of `len` bytes at `off`, for the writer's own reads (recovery, replay).
    ///
    /// Only on the writer's mapping (asserted: the mapping is writable, and a writable mapping is
    /// only made by the process holding the writer lock): the `&self` borrow keeps this
    /// process's writes out, the lock keeps other writers out, and the readers of other mappings
    /// only read. A reader's mapping, which the writer changes under it, is read with
    /// [`Region::copy_out`] only.
    #[inline]
    pub fn bytes(&self, off: usize, len: usize) -> &[u8] {
        assert!(self.writable, "plain view of a mapping another process may be writing");
        self.check(off, len);
        // SAFETY: bounds checked above; the mapping lives as long as `self`; in-process writes
        // need `&mut self`, which the returned borrow excludes; other processes do not write
        // (single writer by advisory lock, see the type's docs).
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(off), len) }
    }

    /// Copies `data` into the mapping at `off` with relaxed atomic stores of the 8-aligned words
    /// covering it (a word `data` covers only in part is merged with the bytes around it). The
    /// stores are unordered: publish them with the seqlock, or make them durable before anyone
    /// relies on them.
    #[inline]
    pub fn write(&mut self, off: usize, data: &[u8]) {
        assert!(self.writable, "write to a read-only mapping");
        let (words, skip) = self.words(off, data.len());
        // Sole writer: the file lock admits one writer process, and `&mut self` one writer in it.
        store_words(words, skip, data);
    }

    /// The aligned word at `off` (asserted in bounds and 8-aligned).
    #[inline]
    fn atomic(&self, off: usize) -> &AtomicU64 {
        self.check(off, 8);
        let ptr = self.raw.as_ptr().wrapping_add(off);
        if ptr.align_offset(8) != 0 {
            unaligned(off);
        }
        // SAFETY: in bounds and 8-byte aligned (both asserted); the memory lives as long as the
        // returned borrow of `self`; every concurrent access to these 8 bytes (this process or a
        // reader in another one) is an atomic access of this same word, and AtomicU64 has the
        // layout of u64. Read-only mappings only load through it, relaxed (see `words`).
        unsafe { &*ptr.cast::<AtomicU64>() }
    }

    /// Atomically loads the little-endian `u64` at `off` (must be 8-aligned). The load itself is
    /// always relaxed (read-only mappings allow nothing else); a stronger `order` is a fence
    /// after it (`Acquire`: relaxed load + acquire fence synchronizes with a release store it
    /// reads from just as an acquire load does).
    #[inline]
    pub fn load_u64(&self, off: usize, order: Ordering) -> u64 {
        let value = u64::from_le(self.atomic(off).load(Ordering::Relaxed));
        if order != Ordering::Relaxed {
            fence(order);
        }
        value
    }

    /// Atomically stores `value` as a little-endian `u64` at `off` (must be 8-aligned).
    #[inline]
    pub fn store_u64(&mut self, off: usize, value: u64, order: Ordering) {
        assert!(self.writable, "store to a read-only mapping");
        self.atomic(off).store(value.to_le(), order)
    }

    /// msync(MS_SYNC) of the pages covering `off .. off + len`: returns once they are written back.
    pub fn flush_range(&self, off: usize, len: usize) -> std::io::Result<()> {
        self.check(off, len);
        if len == 0 {
            return Ok(());
        }
        self.raw.flush_range(off, len)
    }

    /// mlock(2) the whole mapping: it stays resident, so the hot path never takes a major fault.
    pub fn lock_in_memory(&self) -> std::io::Result<()> {
        self.raw.lock()
    }

    /// Touches every page of `off .. off + len` for writing (the first word of each rewritten with
    /// its own value, a relaxed atomic load and store like every other access), so that the first
    /// lap of appends takes no page fault or dirty-tracking fault.
    pub fn prefault_for_write(&mut self, off: usize, len: usize) {
        assert!(self.writable, "prefault of a read-only mapping");
        self.check(off, len);
        let page = 4096;
        let start = off / page * page;
        self.touch_pages(start, off + len, page);
    }

    /// Makes the pages covering `off .. off + len` (widened to whole pages) present and writable
    /// again without changing a byte, so that the next stores to them take no page fault.
    ///
    /// After writeback (msync, fdatasync) the kernel write-protects the cleaned pages of a shared
    /// file mapping to notice the next write (dirty tracking); the first store to each then takes
    /// a minor fault. This takes those faults now, at the caller's chosen time: with
    /// `madvise(MADV_POPULATE_WRITE)` (Linux >= 5.14), or, where the kernel does not know that
    /// advice (`EINVAL`), by rewriting one word per page with its own value (a relaxed atomic load
    /// and store, as [`Region::prefault_for_write`] does). Either way the pages become dirty: the
    /// next fdatasync writes them back even if nothing changes them.
    ///
    /// # Errors
    /// Any other `madvise` failure (`ENOMEM`, `EFAULT` for pages beyond the end of the file,
    /// `EINTR` when a fatal signal is pending); the mapping's content is unchanged.
    pub fn rearm_for_write(&mut self, off: usize, len: usize) -> std::io::Result<()> {
        assert!(self.writable, "re-arm of a read-only mapping");
        self.check(off, len);
        if len == 0 {
            return Ok(());
        }
        let page = page_bytes();
        let start = off / page * page;
        // The mapping spans whole pages (mmap rounds its length up), so the last page may end
        // past `self.len`; madvise takes the length up to the page end itself.
        let end = (off + len).min(self.len);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use nix::sys::mman::{MmapAdvise, madvise};
            let addr = std::ptr::NonNull::new(self.raw.as_mut_ptr().wrapping_add(start).cast::<std::ffi::c_void>())
                .expect("a live mapping is not at address 0");
            // SAFETY: `start .. end` lies inside this live mapping (bounds checked above; the
            // mapping base is page aligned and `start` a multiple of the page size, as madvise
            // requires). MADV_POPULATE_WRITE only faults the pages in as a write fault would (for
            // a shared file mapping: page_mkwrite, PTE made writable, page marked dirty); it
            // reads and writes no byte, so it cannot race with any access of other threads or
            // processes, and no Rust reference to the memory is invalidated.
            match unsafe { madvise(addr, end - start, MmapAdvise::MADV_POPULATE_WRITE) } {
                Ok(()) => return Ok(()),
                // A kernel before 5.14 (unknown advice): touch the pages instead.
                Err(nix::errno::Errno::EINVAL) => {}
                Err(e) => return Err(std::io::Error::from_raw_os_error(e as i32)),
            }
        }
        self.touch_pages(start, end, page);
        Ok(())
    }

    /// Drops the pages lying wholly inside `off .. off + len` from this process's resident set
    /// (`madvise(MADV_DONTNEED)`) on a read-only mapping. The file's pages stay in the page
    /// cache; the next access faults them back in with the file's contents, so nothing a reader
    /// sees changes. A streaming reader calls it behind itself so that reading a large file
    /// through the mapping does not grow its RSS by the file's size. Best effort: an `madvise`
    /// failure leaves the pages resident.
    pub fn release(&self, off: usize, len: usize) {
        assert!(!self.writable, "release of a writable mapping");
        self.check(off, len);
        let page = page_bytes();
        let start = off.div_ceil(page) * page;
        let end = (off + len) / page * page;
        if end <= start {
            return;
        }
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use nix::sys::mman::{MmapAdvise, madvise};
            let addr =
                std::ptr::NonNull::new(self.raw.as_ptr().wrapping_add(start).cast_mut().cast::<std::ffi::c_void>())
                    .expect("a live mapping is not at address 0");
            // SAFETY: `start .. end` lies inside this live mapping (bounds checked above; both
            // are multiples of the page size and the mapping base is page aligned, as madvise
            // requires). The mapping is a read-only shared mapping of a file: MADV_DONTNEED only
            // unmaps its page table entries, and the next access faults the same file page back
            // in from the page cache, so every byte reads as the file holds it — the same value
            // any slice of it handed out before would read. No memory is written or freed.
            let _ = unsafe { madvise(addr, end - start, MmapAdvise::MADV_DONTNEED) };
        }
    }

    /// Rewrites the first word of every `page`-byte page from `start` (a multiple of `page`)
    /// below `end` with its own value: a write access per page, content unchanged.
    fn touch_pages(&mut self, start: usize, end: usize, page: usize) {
        let mut off = start;
        while off < end && off + 8 <= self.len {
            // Sole writer (see `write`): the value stored is the value loaded, with the relaxed
            // atomic word accesses every other access of these bytes uses (module docs).
            let word = self.atomic(off);
            word.store(word.load(Ordering::Relaxed), Ordering::Relaxed);
            off += page;
        }
    }
}

/// The system's page size (`sysconf(_SC_PAGESIZE)`: glibc answers from the auxiliary vector,
/// no system call).
fn page_bytes() -> usize {
    // SAFETY: sysconf takes an integer and returns an integer; no memory is passed.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).ok().filter(|n| n.is_power_of_two() && *n >= 4096).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor_faults_of_this_thread() -> i64 {
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: getrusage writes a complete `rusage` into the pointer it is given.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_THREAD, usage.as_mut_ptr()) };
        assert_eq!(rc, 0);
        // SAFETY: initialised by the successful call above (and zeroed before it).
        unsafe { usage.assume_init() }.ru_minflt
    }

    const PAGES: usize = 16;

    /// Syncs the whole mapping (the kernel write-protects the cleaned pages), runs `rearm`, checks
    /// that it changed no byte, then stores one new word into each page `0..PAGES` and returns
    /// which pages' stores faulted.
    fn faulting_pages(region: &mut Region, file: &File, round: u64, rearm: impl FnOnce(&mut Region)) -> Vec<usize> {
        let page = page_bytes();
        region.flush_range(0, region.len).unwrap();
        crate::sys::fdatasync(file).unwrap();
        let before = region.bytes(0, region.len).to_vec();
        rearm(region);
        assert!(region.bytes(0, region.len) == before.as_slice(), "re-arm changed the mapping's content");
        let mut faulted = Vec::new();
        for p in 0..PAGES {
            let f0 = minor_faults_of_this_thread();
            region.store_u64(p * page + 64, round * 1000 + p as u64, Ordering::Relaxed);
            if minor_faults_of_this_thread() > f0 {
                faulted.push(p);
            }
        }
        faulted
    }

    #[test]
    fn rearm_for_write_removes_the_write_faults_of_cleaned_pages_and_changes_nothing() {
        // A disk filesystem (tmpfs does no dirty tracking, so nothing would fault to begin with).
        let dir = tempfile::tempdir().unwrap();
        let page = page_bytes();
        let file =
            std::fs::OpenOptions::new().read(true).write(true).create_new(true).open(dir.path().join("m")).unwrap();
        file.set_len((PAGES * page) as u64).unwrap();
        let mut region = Region::map_mut(&file, PAGES * page, false).unwrap();
        let pattern: Vec<u8> = (0..PAGES * page).map(|i| (i * 7 + i / 4096) as u8).collect();
        region.write(0, &pattern);

        let all: Vec<usize> = (0..PAGES).collect();
        // Control: without a re-arm every cleaned page faults on its first store.
        assert_eq!(faulting_pages(&mut region, &file, 1, |_| {}), all, "cleaned pages should fault (control)");
        // madvise(MADV_POPULATE_WRITE) over everything: no store faults.
        let len = region.len;
        assert_eq!(faulting_pages(&mut region, &file, 2, |r| r.rearm_for_write(0, len).unwrap()), Vec::<usize>::new());
        // The fallback of kernels without MADV_POPULATE_WRITE: no store faults either.
        assert_eq!(faulting_pages(&mut region, &file, 3, |r| r.touch_pages(0, len, page)), Vec::<usize>::new());
        // An unaligned range is widened to whole pages: bytes in pages 1..=4 re-arm pages 1..=4.
        let faulted = faulting_pages(&mut region, &file, 4, |r| r.rearm_for_write(page + 100, 3 * page).unwrap());
        let expected: Vec<usize> = (0..PAGES).filter(|p| !(1..=4).contains(p)).collect();
        assert_eq!(faulted, expected);
    }
}
