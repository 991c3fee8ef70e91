//! # Writing artifacts safely
//!
//! An artifact is written to a temporary file in its destination directory and renamed into
//! place only when complete and synced ([`evebuild_tree::output`]), so an interrupted or failed
//! build never leaves a half-written file under a final name.

use anyhow::{Context as _, Result};
use std::fs;
use std::io::Write;
use std::path::Path;

/// [`evebuild_tree::output::write_atomically`] with the artifact named in `fill`'s errors.
pub fn write_atomically<T>(
    dest: &Path,
    fill: impl FnOnce(&mut fs::File) -> Result<T>,
) -> Result<T> {
    evebuild_tree::output::write_atomically(dest, |f| {
        fill(f).with_context(|| format!("writing {}", dest.display()))
    })
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
