//! Creating a ring file atomically and validating an existing one, without ever writing to a file
//! that is not a valid ring of the requested shape.

use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::{FileExt, FileTypeExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use zerocopy::little_endian::{U32, U64};
use zerocopy::{FromBytes, IntoBytes};

use crate::error::{Location, ReplayLogError, Result};
use crate::format::crc32;
use crate::format::layout::Layout;
use crate::format::ring::*;
use crate::ring::options::RingOptions;
use crate::sys::{self, FileLock};

/// A validated, open ring file (not yet mapped).
pub(crate) struct OpenedFile {
    pub file: File,
    pub header: RingHeader,
    pub geometry: Geometry,
    pub layout: Option<Layout>,
    pub created: bool,
    /// Offset of a header copy that failed validation while the other was good.
    pub bad_header_copy: Option<u64>,
}

/// What the caller asked for.
pub(crate) struct Request<'a> {
    pub path: &'a Path,
    pub record_bytes: usize,
    pub capacity: u64,
    pub options: &'a RingOptions,
}

fn check_request(req: &Request<'_>) -> Result<(Geometry, Option<Vec<u8>>)> {
    if req.capacity == 0 {
        return Err(ReplayLogError::ZeroCapacity);
    }
    if req.capacity > CAPACITY_MAX {
        return Err(ReplayLogError::CapacityOverflow { requested: req.capacity, max: CAPACITY_MAX });
    }
    if req.record_bytes == 0 || req.record_bytes > RECORD_BYTES_MAX as usize {
        return Err(ReplayLogError::InvalidOptions {
            option: "record type",
            reason: format!("size {} is outside 1..={RECORD_BYTES_MAX} bytes", req.record_bytes),
        });
    }
    req.options.validate(req.record_bytes)?;
    let layout = req.options.layout.as_ref().map(Layout::encode);
    let layout_len = layout.as_ref().map_or(0, |l| l.len() as u32);
    let geometry = Geometry::new(
        req.record_bytes as u32,
        req.options.evidence_bytes_max,
        req.capacity,
        layout_len,
        req.options.clock,
    )
    .ok_or_else(|| ReplayLogError::InvalidOptions { option: "capacity", reason: "file size overflows u64".into() })?;
    Ok((geometry, layout))
}

/// Opens (creating if absent) and validates the ring file. Touches nothing on any error.
pub(crate) fn open_file(req: &Request<'_>) -> Result<OpenedFile> {
    let (geometry, layout) = check_request(req)?;
    let path = req.path;
    let mut created = false;
    for _attempt in 0..3 {
        match fs::metadata(path) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                if fs::symlink_metadata(path).is_ok() {
                    return Err(ReplayLogError::io("open (dangling symlink)", path, e));
                }
                match create(path, &geometry, req.options, layout.as_deref()) {
                    Ok(()) => {
                        created = true;
                        break;
                    }
                    Err(CreateError::Exists) => continue,
                    Err(CreateError::Failed(e)) => return Err(e),
                }
            }
            Err(e) => return Err(ReplayLogError::io("stat", path, e)),
            Ok(m) if m.is_dir() => {
                let e = std::io::Error::from_raw_os_error(nix::libc::EISDIR);
                return Err(ReplayLogError::io("open", path, e));
            }
            Ok(m) if !m.is_file() => {
                return Err(ReplayLogError::mismatch(path, "file type", "regular file", file_type_name(&m)));
            }
            Ok(_) => break,
        }
    }
    let file = OpenOptions::new().read(true).write(true).open(path).map_err(|e| ReplayLogError::io("open", path, e))?;
    let (header, bad_header_copy) = read_header(&file, path)?;
    let stored_layout = read_layout(&file, path, &header)?;
    // From here on the file's own geometry rules: the request may omit the layout, which moves
    // `slots_offset`, so the requested geometry must never address the file.
    let stored = stored_geometry(path, &header)?;
    check_matches(path, &file, &header, &stored, &geometry, req, stored_layout.as_ref())?;
    Ok(OpenedFile { file, header, geometry: stored, layout: stored_layout, created, bad_header_copy })
}

fn file_type_name(m: &fs::Metadata) -> &'static str {
    let t = m.file_type();
    if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_socket() {
        "socket"
    } else {
        "not a regular file"
    }
}

enum CreateError {
    Exists,
    Failed(ReplayLogError),
}

/// Builds the whole file under a temporary name in the same directory, makes it durable, then
/// renames it into place without replacing anything, and syncs the directory. A crash at any
/// point leaves either no file at `path` or a complete one (and possibly a `.*.tmp` to delete).
fn create(path: &Path, g: &Geometry, opts: &RingOptions, layout: Option<&[u8]>) -> Result<(), CreateError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let tmp = dir.join(format!(".{name}.{}.{nanos}.tmp", std::process::id()));
    let fail = |op, e| CreateError::Failed(ReplayLogError::io(op, path, e));
    let file = OpenOptions::new().read(true).write(true).create_new(true).open(&tmp).map_err(|e| fail("create", e))?;
    let result = (|| {
        sys::posix_fallocate(&file, g.file_bytes).map_err(|e| fail("posix_fallocate", e))?;
        let header = new_header(g, opts, layout);
        let state = RingState::new(1, 0, 0);
        let write = |off: u64, bytes: &[u8]| file.write_all_at(bytes, off).map_err(|e| fail("write", e));
        write(HEADER_A_OFFSET, header.as_bytes())?;
        write(HEADER_B_OFFSET, header.as_bytes())?;
        write(STATE_OFFSETS[0], state.as_bytes())?;
        write(CURSOR_OFFSET + CURSOR_CHECK, &(!0u64).to_le_bytes())?;
        if let Some(l) = layout {
            write(LAYOUT_OFFSET, l)?;
        }
        sys::fdatasync(&file).map_err(|e| fail("fdatasync", e))?;
        match sys::rename_noreplace(&tmp, path) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::AlreadyExists => return Err(CreateError::Exists),
            Err(e) => return Err(fail("rename", e)),
        }
        sys::fsync_dir(&dir).map_err(|e| CreateError::Failed(ReplayLogError::io("fsync directory", &dir, e)))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn new_header(g: &Geometry, opts: &RingOptions, layout: Option<&[u8]>) -> RingHeader {
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
    RingHeader {
        magic: RING_MAGIC,
        version: U32::new(RING_VERSION),
        flags: U32::ZERO,
        record_bytes: U32::new(g.record_bytes),
        evidence_bytes_max: U32::new(g.evidence_bytes_max),
        slot_bytes: U32::new(g.slot_bytes),
        clock: U32::new(g.clock.tag()),
        capacity_slots: U64::new(g.capacity_slots),
        schema_id: U64::new(opts.schema_id),
        slots_offset: U64::new(g.slots_offset),
        file_bytes: U64::new(g.file_bytes),
        layout_offset: U64::new(if layout.is_some() { LAYOUT_OFFSET } else { 0 }),
        layout_bytes: U32::new(layout.map_or(0, |l| l.len() as u32)),
        layout_crc: U32::new(layout.map_or(0, |l| crc32(&[l]))),
        created_unix_ms: U64::new(now_ms),
        evidence_offset: U64::new(g.evidence_offset),
        evidence_entry_bytes: U32::new(g.evidence_entry_bytes),
        slot_header_bytes: U32::new(g.slot_header_bytes),
        reserved: [0; 404],
        crc: U32::ZERO,
    }
    .seal()
}

/// What one header copy holds.
pub(crate) enum CopyState {
    Missing,
    Foreign([u8; 8]),
    Torn,
    Version(u32),
    Good(Box<RingHeader>),
}

fn read_copy(file: &File, len: u64, off: u64) -> std::io::Result<CopyState> {
    if len < off + SECTOR_BYTES {
        if len > off {
            let mut magic = [0u8; 8];
            let n = (len - off).min(8) as usize;
            file.read_exact_at(&mut magic[..n], off)?;
            if magic[..n] != RING_MAGIC[..n] {
                return Ok(CopyState::Foreign(magic));
            }
        }
        return Ok(CopyState::Missing);
    }
    let mut buf = [0u8; SECTOR_BYTES as usize];
    file.read_exact_at(&mut buf, off)?;
    Ok(classify_copy(&buf))
}

/// Judges one whole header copy.
pub(crate) fn classify_copy(buf: &[u8; SECTOR_BYTES as usize]) -> CopyState {
    let h = RingHeader::read_from_bytes(buf).expect("sector-sized");
    if h.magic != RING_MAGIC {
        // Rot in the magic of our own header still checksums once the magic is put back.
        let mut ours = h;
        ours.magic = RING_MAGIC;
        if ours.crc_ok() { CopyState::Torn } else { CopyState::Foreign(h.magic) }
    } else if ![RING_VERSION, RING_VERSION_2].contains(&h.version.get()) {
        // The version word sits at the same offset in every version; check it before the
        // checksum, whose position another version may have moved. But rot in the version word
        // of our own header is damage, not another version: with a version we read put back, a
        // header of ours checksums again.
        let ours = |v| {
            let mut x = h;
            x.version = U32::new(v);
            x.crc_ok()
        };
        if ours(RING_VERSION) || ours(RING_VERSION_2) { CopyState::Torn } else { CopyState::Version(h.version.get()) }
    } else if !h.crc_ok() {
        CopyState::Torn
    } else {
        CopyState::Good(Box::new(h))
    }
}

fn show_magic(m: &[u8; 8]) -> String {
    crate::detect::show_bytes(m)
}

/// Reads both header copies and picks the good one. Read-only.
pub(crate) fn read_header(file: &File, path: &Path) -> Result<(RingHeader, Option<u64>)> {
    let len = file.metadata().map_err(|e| ReplayLogError::io("stat", path, e))?.len();
    let io = |e| ReplayLogError::io("read", path, e);
    let a = read_copy(file, len, HEADER_A_OFFSET).map_err(io)?;
    let b = read_copy(file, len, HEADER_B_OFFSET).map_err(io)?;
    let expected_magic = show_magic(&RING_MAGIC);
    match (a, b) {
        (CopyState::Good(x), CopyState::Good(y)) if x != y => Err(ReplayLogError::Corrupt {
            path: path.into(),
            location: Location::RingHeader,
            reason: "both copies are valid but disagree".into(),
        }),
        (CopyState::Good(x), CopyState::Good(_)) => Ok((*x, None)),
        (CopyState::Good(x), _) => Ok((*x, Some(HEADER_B_OFFSET))),
        (_, CopyState::Good(y)) => Ok((*y, Some(HEADER_A_OFFSET))),
        (CopyState::Version(v), _) | (_, CopyState::Version(v)) => {
            Err(ReplayLogError::mismatch(path, "version", RING_VERSION, v))
        }
        (CopyState::Torn, _) | (_, CopyState::Torn) => {
            if len < HEADER_B_OFFSET + SECTOR_BYTES {
                Err(ReplayLogError::mismatch(path, "file_bytes", "a complete ring file", format!("{len} bytes")))
            } else {
                Err(ReplayLogError::Corrupt {
                    path: path.into(),
                    location: Location::RingHeader,
                    reason: "both copies fail their checksum".into(),
                })
            }
        }
        (CopyState::Foreign(m), _) => Err(ReplayLogError::mismatch(path, "magic", expected_magic, show_magic(&m))),
        (CopyState::Missing, _) if len == 0 => {
            Err(ReplayLogError::mismatch(path, "magic", expected_magic, "empty file"))
        }
        (CopyState::Missing, _) => {
            Err(ReplayLogError::mismatch(path, "file_bytes", "a complete ring file", format!("{len} bytes")))
        }
    }
}

/// Reads and checks the layout block named by `h`. Read-only.
pub(crate) fn read_layout(file: &File, path: &Path, h: &RingHeader) -> Result<Option<Layout>> {
    let corrupt =
        |reason: String| ReplayLogError::Corrupt { path: path.into(), location: Location::RingLayout, reason };
    let n = h.layout_bytes.get();
    if n == 0 {
        return Ok(None);
    }
    if n > LAYOUT_BYTES_MAX || h.layout_offset.get() != LAYOUT_OFFSET {
        return Err(corrupt(format!("layout of {n} bytes at offset {} is out of bounds", h.layout_offset.get())));
    }
    let len = file.metadata().map_err(|e| ReplayLogError::io("stat", path, e))?.len();
    if len < LAYOUT_OFFSET + n as u64 {
        return Err(ReplayLogError::mismatch(path, "file_bytes", h.file_bytes.get(), len));
    }
    let mut buf = vec![0u8; n as usize];
    file.read_exact_at(&mut buf, LAYOUT_OFFSET).map_err(|e| ReplayLogError::io("read", path, e))?;
    if crc32(&[&buf]) != h.layout_crc.get() {
        return Err(corrupt("checksum mismatch".into()));
    }
    let layout = Layout::decode(&buf).map_err(|e| corrupt(e.0))?;
    layout.check(h.record_bytes.get()).map_err(|e| corrupt(e.0))?;
    Ok(Some(layout))
}

/// Geometry stored in a (checksummed) header, checked for internal consistency: every stored size
/// and offset must be the one the format derives from the header's parameters.
pub(crate) fn stored_geometry(path: &Path, h: &RingHeader) -> Result<Geometry> {
    let (rb, ev, cap, lb) =
        (h.record_bytes.get(), h.evidence_bytes_max.get(), h.capacity_slots.get(), h.layout_bytes.get());
    let g = match (h.version.get(), Clock::from_tag(h.clock.get())) {
        (RING_VERSION, Some(clock)) => Geometry::new(rb, ev, cap, lb, clock),
        (RING_VERSION_2, Some(Clock::None)) => Geometry::version_2(rb, ev, cap, lb),
        _ => None,
    };
    let consistent = g.filter(|g| {
        g.slot_bytes == h.slot_bytes.get()
            && g.slots_offset == h.slots_offset.get()
            && g.file_bytes == h.file_bytes.get()
            && g.evidence_offset == h.evidence_offset.get()
            && g.evidence_entry_bytes == h.evidence_entry_bytes.get()
            && (g.version == RING_VERSION_2 || g.slot_header_bytes == h.slot_header_bytes.get())
            && (g.version != RING_VERSION_2 || h.slot_header_bytes.get() == 0)
            && h.flags.get() == 0
            && (1..=CAPACITY_MAX).contains(&g.capacity_slots)
            && (1..=RECORD_BYTES_MAX).contains(&g.record_bytes)
            && (EVIDENCE_BYTES_MIN..=EVIDENCE_BYTES_MAX).contains(&g.evidence_bytes_max)
    });
    consistent.ok_or_else(|| ReplayLogError::Corrupt {
        path: path.into(),
        location: Location::RingHeader,
        reason: "sizes and offsets are inconsistent".into(),
    })
}

fn check_matches(
    path: &Path,
    file: &File,
    h: &RingHeader,
    g: &Geometry,
    want: &Geometry,
    req: &Request<'_>,
    stored_layout: Option<&Layout>,
) -> Result<()> {
    let m = |field, expected: u64, found: u64| {
        if expected == found { Ok(()) } else { Err(ReplayLogError::mismatch(path, field, expected, found)) }
    };
    m("record_bytes", want.record_bytes as u64, g.record_bytes as u64)?;
    m("schema_id", req.options.schema_id, h.schema_id.get())?;
    m("capacity", want.capacity_slots, g.capacity_slots)?;
    m("evidence_bytes_max", want.evidence_bytes_max as u64, g.evidence_bytes_max as u64)?;
    if want.clock != g.clock {
        return Err(ReplayLogError::mismatch(path, "clock", want.clock, g.clock));
    }
    let len = file.metadata().map_err(|e| ReplayLogError::io("stat", path, e))?.len();
    m("file_bytes", g.file_bytes, len)?;
    if let Some(wanted) = &req.options.layout {
        if stored_layout != Some(wanted) {
            let found = stored_layout.map_or("no layout".to_string(), |l| l.to_string());
            return Err(ReplayLogError::mismatch(path, "layout", wanted, found));
        }
    }
    Ok(())
}

/// Takes the writer lock, retrying for up to `wait_ms` (a forked child may briefly share the
/// descriptor of a previous writer in this process).
pub(crate) fn lock(file: &File, path: &Path, wait_ms: u32) -> Result<FileLock> {
    let start = Instant::now();
    let mut backoff = Duration::from_micros(200);
    loop {
        match sys::lock_exclusive(file) {
            Ok(Some(lock)) => return Ok(lock),
            Ok(None) => {
                let waited = start.elapsed();
                if waited >= Duration::from_millis(wait_ms as u64) {
                    return Err(ReplayLogError::Locked { path: path.into(), waited_ms: waited.as_millis() as u64 });
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_millis(20));
            }
            Err(e) => return Err(ReplayLogError::io("flock", path, e)),
        }
    }
}
