//! The store's `.lock`: an fcntl (POSIX record) lock on `<root>/.lock`, the same lock linuxkit's
//! cache takes around `index.json` reads and writes, so evebuild and linuxkit can share a cache.
//!
//! POSIX locks belong to the process, not to the thread or the file descriptor: two threads of one
//! process would both "get" it, and closing any descriptor of the file drops it. So every lock is
//! also taken on an in-process mutex (one per canonical store root) that is held for as long as
//! the file lock is; only the holder ever opens the lock file. Open file description (OFD) locks
//! would avoid the mutex but need `unsafe` or a crate that exposes them; this works the same.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use rustix::fs::{FlockOperation, fcntl_lock};

use crate::error::Error;
use crate::format::{LEASE_FILE, LOCK_FILE};

/// A held lock on a store; released on drop.
pub struct StoreLock {
    // Field order matters: the file (and so the fcntl lock) is closed before the mutex is freed.
    file: File,
    _guard: MutexGuard<'static, ()>,
}

/// The mutex of a canonical root; allocated once per root and process, so its guard can be
/// `'static` (a process opens a handful of stores).
fn root_mutex(root: &Path) -> &'static Mutex<()> {
    static LEAKED: OnceLock<Mutex<HashMap<PathBuf, &'static Mutex<()>>>> = OnceLock::new();
    let mut map = LEAKED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(root.to_path_buf())
        .or_insert_with(|| Box::leak(Box::new(Mutex::new(()))))
}

impl StoreLock {
    /// Takes the lock of the store at `root` (exclusive for writers, shared for readers; both
    /// exclude the other threads of this process), waiting for other processes to release it.
    pub fn acquire(root: &Path, exclusive: bool) -> Result<StoreLock, Error> {
        let canonical = root
            .canonicalize()
            .map_err(|e| Error::io("resolving the store directory", root, e))?;
        let guard = root_mutex(&canonical)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let path = canonical.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::io("opening the store lock", &path, e))?;
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        if let Err(e) = fcntl_lock(&file, op) {
            return Err(Error::io("locking the store", &path, e.into()));
        }
        Ok(StoreLock {
            file,
            _guard: guard,
        })
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        let _ = fcntl_lock(&self.file, FlockOperation::Unlock);
    }
}

/// In-process state of a store's lease file.
#[derive(Default)]
struct LeaseState {
    /// Leases held by this process.
    holders: usize,
    /// The open lease file while `holders > 0` (it carries the shared fcntl lock).
    file: Option<File>,
    /// A collection is running in this process.
    collecting: bool,
}

type LeaseSlot = (Mutex<LeaseState>, Condvar);

fn lease_slot(root: &Path) -> &'static LeaseSlot {
    static SLOTS: OnceLock<Mutex<HashMap<PathBuf, &'static LeaseSlot>>> = OnceLock::new();
    let mut map = SLOTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    map.entry(root.to_path_buf())
        .or_insert_with(|| Box::leak(Box::default()))
}

fn open_lease_file(root: &Path) -> Result<File, Error> {
    let path = root.join(LEASE_FILE);
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io("opening the store lease", path, e))
}

/// Protects blobs being written from garbage collection until they are named in `index.json`.
///
/// Writers (pulls, imports, image builds) hold a lease from their first blob write to their last
/// `tag`; a collection waits until no process holds one, and holds new leases off while it runs.
/// Across processes this is a shared/exclusive fcntl lock on `<root>/.evebuild-lease` (linuxkit
/// does not collect, so it needs no part in this); inside a process, a counter, since POSIX locks
/// are per process.
pub struct Lease {
    slot: &'static LeaseSlot,
}

impl Lease {
    /// Takes a lease on the store at `root`.
    pub fn acquire(root: &Path) -> Result<Lease, Error> {
        let canonical = root
            .canonicalize()
            .map_err(|e| Error::io("resolving the store directory", root, e))?;
        let slot = lease_slot(&canonical);
        let mut state = slot.0.lock().unwrap_or_else(|e| e.into_inner());
        while state.collecting {
            state = slot.1.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.holders == 0 {
            let file = open_lease_file(&canonical)?;
            fcntl_lock(&file, FlockOperation::LockShared).map_err(|e| {
                Error::io(
                    "taking the store lease",
                    canonical.join(LEASE_FILE),
                    e.into(),
                )
            })?;
            state.file = Some(file);
        }
        state.holders += 1;
        Ok(Lease { slot })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = self.slot.0.lock().unwrap_or_else(|e| e.into_inner());
        state.holders -= 1;
        if state.holders == 0 {
            // Closing the file releases the process's lock.
            state.file = None;
            self.slot.1.notify_all();
        }
    }
}

/// Exclusive access for a garbage collection: no lease is held anywhere while it lives.
pub struct Collection {
    slot: &'static LeaseSlot,
    file: Option<File>,
}

impl Collection {
    /// Waits until no lease is held (in this process and others), then keeps new ones off.
    pub fn acquire(root: &Path) -> Result<Collection, Error> {
        let canonical = root
            .canonicalize()
            .map_err(|e| Error::io("resolving the store directory", root, e))?;
        let slot = lease_slot(&canonical);
        let mut state = slot.0.lock().unwrap_or_else(|e| e.into_inner());
        while state.holders > 0 || state.collecting {
            state = slot.1.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        let file = open_lease_file(&canonical)?;
        fcntl_lock(&file, FlockOperation::LockExclusive).map_err(|e| {
            Error::io(
                "waiting for writers of the store",
                canonical.join(LEASE_FILE),
                e.into(),
            )
        })?;
        state.collecting = true;
        Ok(Collection {
            slot,
            file: Some(file),
        })
    }
}

impl Drop for Collection {
    fn drop(&mut self) {
        let mut state = self.slot.0.lock().unwrap_or_else(|e| e.into_inner());
        // Release the exclusive lock before a lease of this process can take the shared one:
        // closing the file later would drop the process's (shared) lock with it.
        self.file = None;
        state.collecting = false;
        self.slot.1.notify_all();
    }
}
