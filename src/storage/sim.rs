//! A simulated disk for tests: deterministic I/O-error injection and power cuts in SQLite's
//! crash-VFS model.
//!
//! Every write and truncation is volatile until the file's `sync_data`; every create, rename and
//! remove is volatile until its directory's `sync_dir`. [`SimStorage::power_cut`] returns the disk
//! as it could be found after a power failure: each volatile write independently kept, dropped,
//! torn at 512-byte sectors (and inside a sector), or garbled, applied in random order; each
//! volatile directory entry from before or after the change. [`SimStorage::fail_at`] makes the
//! k-th operation fail with EIO; a failed `sync_data` drops the file's volatile writes from the
//! disk's future, as Linux does after a writeback error, while reads keep showing them.
//! [`SimStorage::misdirect_write`] and [`SimStorage::latent_read_error`] add a write landing at
//! the wrong offset and an unreadable sector.

use std::any::Any;
use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Kind, OpenMode, Storage, StorageFile};

const SECTOR: u64 = 512;

#[derive(Clone, Debug)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Clone, Debug, Default)]
struct SimFile {
    /// What reads see.
    data: Vec<u8>,
    /// What is on the platter.
    durable: Vec<u8>,
    /// Volatile changes since the last successful sync, in order.
    pending: Vec<Pending>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Entry {
    File(u64),
    Dir,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    files: BTreeMap<u64, SimFile>,
    names: BTreeMap<PathBuf, Entry>,
    durable_names: BTreeMap<PathBuf, Entry>,
    locks: HashSet<PathBuf>,
    ops: u64,
    syncs: u64,
    fail_at: Option<u64>,
    stop_at: Option<u64>,
    stopped: bool,
    writes: u64,
    misdirect: Option<(u64, i64)>,
    latent: HashSet<(PathBuf, u64)>,
    /// Whether `allocate` extends files (like a real disk) or does nothing (keeps the files of
    /// tests that sweep every byte small).
    allocates: bool,
}

/// The simulated disk. Cloning shares it.
#[derive(Clone, Debug, Default)]
pub struct SimStorage {
    state: Arc<Mutex<State>>,
    gate: Arc<SyncGate>,
}

/// Lets a test hold every `sync_data` until it opens the gate (to build exact group-commit
/// interleavings without timing).
#[derive(Debug, Default)]
struct SyncGate {
    held: Mutex<(bool, u64)>,
    cv: std::sync::Condvar,
}

fn eio(what: &str) -> io::Error {
    io::Error::other(format!("simulated I/O error ({what})"))
}

/// The root (`/` or the empty path) always exists; other directories once created.
fn dir_exists(st: &State, dir: &Path) -> bool {
    dir.as_os_str().is_empty() || dir == Path::new("/") || st.names.get(dir) == Some(&Entry::Dir)
}

fn parent(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// splitmix64: the simulation's only source of randomness, so every cut reproduces from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn apply(content: &mut Vec<u8>, p: &Pending) {
    match p {
        Pending::Write { offset, data } => {
            let end = *offset as usize + data.len();
            if content.len() < end {
                content.resize(end, 0);
            }
            content[*offset as usize..end].copy_from_slice(data);
        }
        Pending::SetLen(len) => content.resize(*len as usize, 0),
    }
}

impl SimStorage {
    /// An empty disk.
    pub fn new() -> SimStorage {
        SimStorage::default()
    }

    /// An empty disk whose `allocate` extends files with zeros, as `FileStorage::allocate` does on a real
    /// one (by default it does nothing, so swept files stay small).
    pub fn preallocating() -> SimStorage {
        let disk = SimStorage::default();
        disk.lock().allocates = true;
        disk
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an operation and fails it if it is the chosen one (or the power is off).
    fn op(&self, st: &mut State, what: &str) -> io::Result<()> {
        st.ops += 1;
        if st.stop_at == Some(st.ops) {
            st.stopped = true;
        }
        if st.stopped {
            return Err(eio("power is off"));
        }
        if st.fail_at == Some(st.ops) { Err(eio(what)) } else { Ok(()) }
    }

    /// The power fails just before operation number `k`: it and every later operation fail
    /// without touching the disk, so [`Self::power_cut`] afterwards sees the disk exactly as it
    /// was at that instant.
    pub fn stop_at(&self, k: u64) {
        self.lock().stop_at = Some(k);
    }

    /// Operations performed so far.
    pub fn ops(&self) -> u64 {
        self.lock().ops
    }

    /// From now on every `sync_data` blocks (before doing anything) until [`Self::open_syncs`].
    pub fn hold_syncs(&self) {
        self.gate.held.lock().unwrap_or_else(|e| e.into_inner()).0 = true;
    }

    /// Releases the held `sync_data` calls and stops holding.
    pub fn open_syncs(&self) {
        self.gate.held.lock().unwrap_or_else(|e| e.into_inner()).0 = false;
        self.gate.cv.notify_all();
    }

    /// How many `sync_data` calls are blocked by [`Self::hold_syncs`] right now.
    pub fn syncs_waiting(&self) -> u64 {
        self.gate.held.lock().unwrap_or_else(|e| e.into_inner()).1
    }

    /// Successful `sync_data` calls so far.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// Makes operation number `k` (counting from 1 since creation) fail with EIO.
    pub fn fail_at(&self, k: u64) {
        self.lock().fail_at = Some(k);
    }

    /// Stops injecting failures.
    pub fn clear_faults(&self) {
        let mut st = self.lock();
        st.fail_at = None;
        st.misdirect = None;
        st.latent.clear();
    }

    /// The `n`-th `write_at` from now on (1 = the next) lands `delta` bytes away from its offset.
    pub fn misdirect_write(&self, n: u64, delta: i64) {
        let mut st = self.lock();
        let at = st.writes + n;
        st.misdirect = Some((at, delta));
    }

    /// Reads touching the 512-byte sector containing `offset` of `path` fail with EIO.
    pub fn latent_read_error(&self, path: &Path, offset: u64) {
        self.lock().latent.insert((path.to_path_buf(), offset / SECTOR));
    }

    /// The disk as a process that died (SIGKILL) leaves it: everything written stays visible,
    /// nothing more becomes durable, locks are released.
    pub fn process_crash(&self) -> SimStorage {
        let st = self.lock();
        let copy = State {
            next_id: st.next_id,
            files: st.files.clone(),
            names: st.names.clone(),
            durable_names: st.durable_names.clone(),
            allocates: st.allocates,
            ..State::default()
        };
        SimStorage { state: Arc::new(Mutex::new(copy)), gate: Arc::default() }
    }

    /// The disk after a power cut, chosen by `seed`: see the module docs. Locks and faults are
    /// gone; everything on the new disk is durable.
    pub fn power_cut(&self, seed: u64) -> SimStorage {
        let st = self.lock();
        let mut rng = Rng(seed);
        let mut names = BTreeMap::new();
        let all: std::collections::BTreeSet<&PathBuf> = st.names.keys().chain(st.durable_names.keys()).collect();
        for path in all {
            let now = st.names.get(path);
            let then = st.durable_names.get(path);
            let pick = if now == then || rng.below(2) == 0 { now } else { then };
            if let Some(e) = pick {
                names.insert(path.clone(), *e);
            }
        }
        let mut files = BTreeMap::new();
        for (id, f) in &st.files {
            let mut content = f.durable.clone();
            let mut order: Vec<usize> = (0..f.pending.len()).collect();
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            for i in order {
                match &f.pending[i] {
                    p @ Pending::SetLen(_) => {
                        if rng.below(2) == 0 {
                            apply(&mut content, p);
                        }
                    }
                    Pending::Write { offset, data } => match rng.below(4) {
                        0 => {}
                        1 => apply(&mut content, &f.pending[i]),
                        mode => {
                            // Sector by sector: kept, dropped, torn inside, or garbage.
                            let mut piece = Vec::with_capacity(data.len());
                            let end = offset + data.len() as u64;
                            let mut at = *offset;
                            while at < end {
                                let sector_end = ((at / SECTOR) + 1) * SECTOR;
                                let stop = sector_end.min(end);
                                let src = &data[(at - offset) as usize..(stop - offset) as usize];
                                piece.clear();
                                let keep = match rng.below(if mode == 2 { 3 } else { 4 }) {
                                    0 => false,
                                    1 => {
                                        piece.extend_from_slice(src);
                                        true
                                    }
                                    2 => {
                                        let cut = rng.below(src.len() as u64 + 1) as usize;
                                        piece.extend_from_slice(&src[..cut]);
                                        true
                                    }
                                    _ => {
                                        piece.extend((0..src.len()).map(|_| rng.next() as u8));
                                        true
                                    }
                                };
                                if keep && !piece.is_empty() {
                                    apply(&mut content, &Pending::Write { offset: at, data: piece.clone() });
                                }
                                at = stop;
                            }
                        }
                    },
                }
            }
            files.insert(*id, SimFile { data: content.clone(), durable: content, pending: Vec::new() });
        }
        let state = State {
            next_id: st.next_id,
            files,
            durable_names: names.clone(),
            names,
            allocates: st.allocates,
            ..State::default()
        };
        SimStorage { state: Arc::new(Mutex::new(state)), gate: Arc::default() }
    }

    /// The current (visible) content of a file, for tests.
    pub fn contents(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.lock();
        match st.names.get(path)? {
            Entry::File(id) => Some(st.files[id].data.clone()),
            Entry::Dir => None,
        }
    }

    /// What is on the platter for a file (what a power cut right now would keep at least).
    pub fn durable_contents(&self, path: &Path) -> Option<Vec<u8>> {
        let st = self.lock();
        match st.durable_names.get(path)? {
            Entry::File(id) => Some(st.files[id].durable.clone()),
            Entry::Dir => None,
        }
    }

    /// Replaces a file's content durably (tests use it to inject rot).
    pub fn set_contents(&self, path: &Path, data: Vec<u8>) {
        let mut st = self.lock();
        let id = match st.names.get(path) {
            Some(Entry::File(id)) => *id,
            _ => {
                st.next_id += 1;
                let id = st.next_id;
                st.names.insert(path.to_path_buf(), Entry::File(id));
                st.durable_names.insert(path.to_path_buf(), Entry::File(id));
                id
            }
        };
        st.files.insert(id, SimFile { data: data.clone(), durable: data, pending: Vec::new() });
    }
}

#[derive(Debug)]
struct SimHandle {
    storage: SimStorage,
    id: u64,
    path: PathBuf,
    writable: bool,
}

impl StorageFile for SimHandle {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut st = self.storage.lock();
        self.storage.op(&mut st, "read")?;
        let end = offset + buf.len() as u64;
        let first = offset / SECTOR;
        let last = end.div_ceil(SECTOR);
        if (first..last).any(|s| st.latent.contains(&(self.path.clone(), s))) {
            return Err(eio("latent sector error"));
        }
        let data = &st.files[&self.id].data;
        if offset >= data.len() as u64 {
            return Ok(0);
        }
        let n = buf.len().min(data.len() - offset as usize);
        buf[..n].copy_from_slice(&data[offset as usize..offset as usize + n]);
        Ok(n)
    }

    fn write_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        let mut st = self.storage.lock();
        self.storage.op(&mut st, "write")?;
        if !self.writable {
            return Err(io::Error::from_raw_os_error(9));
        }
        st.writes += 1;
        let mut offset = offset;
        if let Some((at, delta)) = st.misdirect {
            if at == st.writes {
                offset = offset.saturating_add_signed(delta);
            }
        }
        let p = Pending::Write { offset, data: data.to_vec() };
        let f = st.files.get_mut(&self.id).expect("file");
        apply(&mut f.data, &p);
        f.pending.push(p);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        let mut st = self.storage.lock();
        self.storage.op(&mut st, "len")?;
        Ok(st.files[&self.id].data.len() as u64)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = self.storage.lock();
        self.storage.op(&mut st, "set_len")?;
        let f = st.files.get_mut(&self.id).expect("file");
        f.data.resize(len as usize, 0);
        f.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn start_writeback(&self, _offset: u64, _len: u64) -> io::Result<()> {
        // A hint with no effect on what is durable; counted so fail-at-k can fail it.
        let mut st = self.storage.lock();
        self.storage.op(&mut st, "sync_file_range")
    }

    fn allocate(&self, len: u64) -> io::Result<()> {
        let mut st = self.storage.lock();
        self.storage.op(&mut st, "preallocate")?;
        if !self.writable {
            return Err(io::Error::from_raw_os_error(9));
        }
        let allocates = st.allocates;
        let f = st.files.get_mut(&self.id).expect("file");
        if allocates && (f.data.len() as u64) < len {
            f.data.resize(len as usize, 0);
            f.pending.push(Pending::SetLen(len));
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        {
            let gate = &self.storage.gate;
            let mut held = gate.held.lock().unwrap_or_else(|e| e.into_inner());
            if held.0 {
                held.1 += 1;
                while held.0 {
                    held = gate.cv.wait(held).unwrap_or_else(|e| e.into_inner());
                }
                held.1 -= 1;
            }
        }
        let mut st = self.storage.lock();
        let failed = self.storage.op(&mut st, "fdatasync");
        if failed.is_ok() {
            st.syncs += 1;
        }
        if st.stopped {
            return failed;
        }
        let f = st.files.get_mut(&self.id).expect("file");
        if failed.is_ok() {
            f.durable = f.data.clone();
        }
        // On failure the volatile writes are lost to the disk for good (Linux marks the pages
        // clean after a writeback error); reads still show them.
        f.pending.clear();
        failed
    }
}

impl Storage for SimStorage {
    fn stat(&self, path: &Path) -> io::Result<Kind> {
        let mut st = self.lock();
        self.op(&mut st, "stat")?;
        match st.names.get(path) {
            Some(Entry::File(id)) => Ok(Kind::File(st.files[id].data.len() as u64)),
            Some(Entry::Dir) => Ok(Kind::Dir),
            None if dir_exists(&st, path) => Ok(Kind::Dir),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<String>> {
        let mut st = self.lock();
        self.op(&mut st, "list")?;
        if !dir_exists(&st, dir) {
            return Err(io::ErrorKind::NotFound.into());
        }
        Ok(st
            .names
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect())
    }

    fn create_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        self.op(&mut st, "mkdir")?;
        if st.names.contains_key(dir) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        if !dir_exists(&st, &parent(dir)) {
            return Err(io::ErrorKind::NotFound.into());
        }
        st.names.insert(dir.to_path_buf(), Entry::Dir);
        Ok(())
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StorageFile>> {
        let mut st = self.lock();
        self.op(&mut st, "open")?;
        let id = match (st.names.get(path).copied(), mode) {
            (Some(Entry::Dir), _) => return Err(io::Error::from_raw_os_error(21)),
            (Some(_), OpenMode::CreateNew) => return Err(io::ErrorKind::AlreadyExists.into()),
            (Some(Entry::File(id)), _) => id,
            (None, OpenMode::CreateNew) => {
                if !dir_exists(&st, &parent(path)) {
                    return Err(io::ErrorKind::NotFound.into());
                }
                st.next_id += 1;
                let id = st.next_id;
                st.files.insert(id, SimFile::default());
                st.names.insert(path.to_path_buf(), Entry::File(id));
                id
            }
            (None, _) => return Err(io::ErrorKind::NotFound.into()),
        };
        Ok(Box::new(SimHandle {
            storage: self.clone(),
            id,
            path: path.to_path_buf(),
            writable: mode != OpenMode::Read,
        }))
    }

    fn remove(&self, path: &Path) -> io::Result<()> {
        let mut st = self.lock();
        self.op(&mut st, "unlink")?;
        match st.names.get(path) {
            Some(Entry::File(_)) => {
                st.names.remove(path);
                Ok(())
            }
            Some(Entry::Dir) => Err(io::Error::from_raw_os_error(21)),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = self.lock();
        self.op(&mut st, "rename")?;
        if st.names.contains_key(to) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        let e = st.names.remove(from).ok_or(io::Error::from(io::ErrorKind::NotFound))?;
        st.names.insert(to.to_path_buf(), e);
        Ok(())
    }

    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        let mut st = self.lock();
        self.op(&mut st, "fsync dir")?;
        let children: Vec<PathBuf> =
            st.names.keys().chain(st.durable_names.keys()).filter(|p| p.parent() == Some(dir)).cloned().collect();
        for c in children {
            match st.names.get(&c).copied() {
                Some(e) => st.durable_names.insert(c, e),
                None => st.durable_names.remove(&c),
            };
        }
        Ok(())
    }

    fn lock_dir(&self, dir: &Path) -> io::Result<Option<Box<dyn Any + Send + Sync>>> {
        let mut st = self.lock();
        self.op(&mut st, "flock")?;
        if !st.locks.insert(dir.to_path_buf()) {
            return Ok(None);
        }
        Ok(Some(Box::new(SimLock { storage: self.clone(), dir: dir.to_path_buf() })))
    }
}

#[derive(Debug)]
struct SimLock {
    storage: SimStorage,
    dir: PathBuf,
}

impl Drop for SimLock {
    fn drop(&mut self) {
        self.storage.lock().locks.remove(&self.dir);
    }
}
