//! A shared, writable memory mapping of a file with bounds-checked access.
//!
//! All raw-pointer and atomic-on-mapped-memory code lives here. The invariant every method relies
//! on: `ptr .. ptr + len` is one live mapping owned by `self.raw` (memmap2 unmaps it on drop), its
//! base is page aligned, and callers' offsets are checked against `len` before any access.

#![allow(unsafe_code)]

use std::fs::File;
use std::sync::atomic::{AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};

/// A memory-mapped file region.
///
/// Reads take `&self`, writes take `&mut self`: inside one process the borrow checker therefore
/// guarantees that no slice handed out by [`Region::bytes`] is written while it lives. Across
/// processes, the file's advisory lock admits a single writer.
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

    /// Copies `buf.len()` bytes at `off` into `buf`. Safe to race with a writer in another
    /// process or thread: the copy may be torn, which callers detect by sequence number and
    /// checksum (seqlock discipline).
    #[inline]
    pub fn copy_out(&self, off: usize, buf: &mut [u8]) {
        self.check(off, buf.len());
        // SAFETY: bounds checked; the source is inside the live mapping and the destination is a
        // distinct Rust buffer, so they cannot overlap. A concurrent writer can only make the
        // copied bytes inconsistent (detected by the caller), never make the copy leave the
        // mapping.
        unsafe { std::ptr::copy_nonoverlapping(self.raw.as_ptr().add(off), buf.as_mut_ptr(), buf.len()) }
    }

    #[inline]
    fn check(&self, off: usize, len: usize) {
        if off.checked_add(len).is_none_or(|end| end > self.len) {
            out_of_bounds(off, len, self.len);
        }
    }

    /// A view of `len` bytes at `off`.
    ///
    /// Only for handles whose process holds the writer lock (or mappings nobody writes): the
    /// `&self` borrow keeps this process's writes out; the lock keeps other writers out.
    #[inline]
    pub fn bytes(&self, off: usize, len: usize) -> &[u8] {
        self.check(off, len);
        // SAFETY: bounds checked above; the mapping lives as long as `self`; in-process writes
        // need `&mut self`, which the returned borrow excludes; other processes do not write
        // (single writer by advisory lock, see the type's docs).
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr().add(off), len) }
    }

    /// A mutable view of `len` bytes at `off`, for filling a slot with one bounds check.
    ///
    /// Sound because `&mut self` excludes every other reference into the mapping held by this
    /// process for the view's lifetime; readers in other processes are outside Rust's aliasing
    /// model and validate what they copy (sequence number and checksum).
    #[inline]
    pub fn bytes_mut(&mut self, off: usize, len: usize) -> &mut [u8] {
        assert!(self.writable, "write to a read-only mapping");
        self.check(off, len);
        // SAFETY: bounds checked, mapping writable and alive for the borrow of `self`; the
        // exclusive borrow guarantees no other in-process reference aliases the range.
        unsafe { std::slice::from_raw_parts_mut(self.raw.as_mut_ptr().add(off), len) }
    }

    /// Copies `data` into the mapping at `off`.
    #[inline]
    pub fn write(&mut self, off: usize, data: &[u8]) {
        assert!(self.writable, "write to a read-only mapping");
        self.check(off, data.len());
        // SAFETY: bounds checked; the mapping is writable (asserted) and shared; `&mut self`
        // excludes in-process readers holding slices; `data` is a Rust slice and cannot overlap
        // the mapping's interior borrowed mutably here.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.raw.as_mut_ptr().add(off), data.len()) }
    }

    #[inline]
    fn atomic(&self, off: usize) -> &AtomicU64 {
        self.check(off, 8);
        let ptr = self.raw.as_ptr().wrapping_add(off);
        if ptr.align_offset(8) != 0 {
            unaligned(off);
        }
        // SAFETY: in bounds and 8-byte aligned (both asserted); the memory lives as long as the
        // returned borrow of `self`; every concurrent access to these 8 bytes (this process or a
        // reader in another one) is atomic, and AtomicU64 has the layout of u64.
        unsafe { AtomicU64::from_ptr(ptr as *mut u64) }
    }

    /// Atomically loads the little-endian `u64` at `off` (must be 8-aligned).
    #[inline]
    pub fn load_u64(&self, off: usize, order: Ordering) -> u64 {
        u64::from_le(self.atomic(off).load(order))
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

    /// Touches every page for writing (each byte rewritten with its own value), so that the first
    /// lap of appends takes no page fault or dirty-tracking fault. Call only while no other thread
    /// of this process reads the region (it takes `&mut self`).
    pub fn prefault_for_write(&mut self) {
        assert!(self.writable, "prefault of a read-only mapping");
        let page = 4096;
        let base = self.raw.as_mut_ptr();
        let mut off = 0;
        while off < self.len {
            // SAFETY: `off < len`, so the byte is inside the live, writable mapping; volatile
            // read-then-write of the same value changes no content, and `&mut self` keeps this
            // process's readers out; a reader in another process sees the same bytes.
            unsafe {
                let p = base.add(off);
                std::ptr::write_volatile(p, std::ptr::read_volatile(p));
            }
            off += page;
        }
    }
}
