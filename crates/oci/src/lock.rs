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
use std::sync::{Mutex, MutexGuard, OnceLock};

use rustix::fs::{FlockOperation, fcntl_lock};

use crate::error::Error;
use crate::format::LOCK_FILE;

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
