//! Writing outputs safely: into a temporary file in the destination directory, renamed into
//! place only when complete, with mode 0644.

use crate::Error;
use std::fs::{File, Permissions};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Creates a temporary file next to `dest`, lets `write` fill it, then renames it to `dest`.
/// On error the temporary file is removed and `dest` is untouched.
pub(crate) fn write_atomically(
    dest: &Path,
    write: impl FnOnce(&mut File, &Path) -> Result<(), Error>,
) -> Result<(), Error> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".evebuild-")
        .tempfile_in(dir)
        .map_err(|e| Error::io(dir, "create a temporary file in", e))?;
    write(tmp.as_file_mut(), dest)?;
    tmp.as_file()
        .set_permissions(Permissions::from_mode(0o644))
        .map_err(|e| Error::io(dest, "set permissions of", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| Error::io(dest, "flush", e))?;
    tmp.persist(dest)
        .map_err(|e| Error::io(dest, "rename into place", e.error))?;
    Ok(())
}

/// `write_all` at the file's current position, naming `path` on error.
pub(crate) fn put(file: &mut File, path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::io::Write;
    file.write_all(bytes)
        .map_err(|e| Error::io(path, "write", e))
}

/// Writes `bytes` at `offset` without moving the position.
pub(crate) fn put_at(file: &File, path: &Path, offset: u64, bytes: &[u8]) -> Result<(), Error> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, offset)
        .map_err(|e| Error::io(path, "write", e))
}

/// Sets the file length (sparse extension or truncation).
pub(crate) fn set_len(file: &File, path: &Path, len: u64) -> Result<(), Error> {
    file.set_len(len).map_err(|e| Error::io(path, "resize", e))
}

/// Collects writes at increasing, mostly contiguous offsets into large `pwrite`s.
pub(crate) struct BufferedAt<'f> {
    pub(crate) file: &'f File,
    pub(crate) path: &'f Path,
    start: u64,
    buf: Vec<u8>,
}

impl<'f> BufferedAt<'f> {
    const FLUSH_AT: usize = 8 << 20;

    pub(crate) fn new(file: &'f File, path: &'f Path) -> BufferedAt<'f> {
        BufferedAt {
            file,
            path,
            start: 0,
            buf: Vec::with_capacity(Self::FLUSH_AT),
        }
    }

    /// Writes `bytes` at `offset` (buffered while offsets are contiguous).
    pub(crate) fn write_at(&mut self, offset: u64, bytes: &[u8]) -> Result<(), Error> {
        if offset != self.start + self.buf.len() as u64 || self.buf.len() >= Self::FLUSH_AT {
            self.flush()?;
            self.start = offset;
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Writes out what is buffered.
    pub(crate) fn flush(&mut self) -> Result<(), Error> {
        if !self.buf.is_empty() {
            put_at(self.file, self.path, self.start, &self.buf)?;
            self.start += self.buf.len() as u64;
            self.buf.clear();
        }
        Ok(())
    }
}
