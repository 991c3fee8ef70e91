//! # Writing artifacts safely
//!
//! An artifact is written to a temporary file in its destination directory and renamed into
//! place only when complete and synced, so an interrupted or failed build never leaves a
//! half-written file under a final name.

use anyhow::{Context as _, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// Creates `dest` by calling `fill` with a temporary file next to it; renames it into place
/// (mode 0644) when `fill` succeeds, removes it when it fails.
pub fn write_atomically<T>(
    dest: &Path,
    fill: impl FnOnce(&mut fs::File) -> Result<T>,
) -> Result<T> {
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            dest.file_name().unwrap_or_default().to_string_lossy()
        ))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let out = fill(tmp.as_file_mut()).with_context(|| format!("writing {}", dest.display()))?;
    let f = tmp.as_file_mut();
    f.flush()?;
    f.set_permissions(fs::Permissions::from_mode(0o644))?;
    f.sync_all()
        .with_context(|| format!("syncing {}", dest.display()))?;
    tmp.persist(dest)
        .map_err(|e| e.error)
        .with_context(|| format!("renaming the finished {} into place", dest.display()))?;
    Ok(out)
}

/// Writes `bytes` to `dest` atomically.
pub fn write_bytes(dest: &Path, bytes: &[u8]) -> Result<()> {
    write_atomically(dest, |f| Ok(f.write_all(bytes)?))
}

/// Writes `bytes` to `dest` atomically unless it already holds exactly them (keeps its time).
pub fn write_if_changed(dest: &Path, bytes: &[u8]) -> Result<bool> {
    if fs::read(dest).is_ok_and(|old| old == bytes) {
        return Ok(false);
    }
    write_bytes(dest, bytes)?;
    Ok(true)
}
