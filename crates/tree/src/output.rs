//! Output files put in place whole.
//!
//! Every artifact, archive and state file evebuild writes goes through [`write_atomically`]:
//! the bytes go to a temporary file in the destination's directory, which is synced and then
//! renamed over the destination only when complete, so an interrupted or failed write never
//! leaves a half-written file under the final name (hostile-inputs §5).
//!
//! Left out: syncing the directory after the rename (the rename is atomic; surviving a power
//! cut right after it is not promised), and preserving the mode of a file being replaced
//! (outputs are always 0644).

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Mode of every output file (a temporary file is private, the output is not).
pub const OUTPUT_MODE: u32 = 0o644;

/// Why an output could not be put in place.
#[derive(Debug, thiserror::Error)]
#[error("{action} {}: {source}", path.display())]
pub struct OutputError {
    /// What was being done (`creating a temporary file in`, `syncing`, …).
    pub action: &'static str,
    /// The directory or destination it was about.
    pub path: PathBuf,
    /// The underlying error.
    #[source]
    pub source: io::Error,
}

impl From<OutputError> for io::Error {
    fn from(e: OutputError) -> Self {
        io::Error::new(e.source.kind(), e)
    }
}

/// Creates `dest` from what `fill` writes into a temporary file next to it (the directory is
/// created if missing). When `fill` succeeds the file is flushed, given mode 0644, synced and
/// renamed into place; when it fails the temporary file is removed and `dest` is untouched.
pub fn write_atomically<T, E: From<OutputError>>(
    dest: &Path,
    fill: impl FnOnce(&mut File) -> Result<T, E>,
) -> Result<T, E> {
    let failed = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| OutputError {
            action,
            path,
            source,
        }
    };
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(failed("creating", dir))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(
            ".{}.",
            dest.file_name().unwrap_or_default().to_string_lossy()
        ))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(failed("creating a temporary file in", dir))?;
    let out = fill(tmp.as_file_mut())?;
    let f = tmp.as_file_mut();
    f.flush().map_err(failed("writing", dest))?;
    f.set_permissions(fs::Permissions::from_mode(OUTPUT_MODE))
        .map_err(failed("setting the mode of", dest))?;
    f.sync_all().map_err(failed("syncing", dest))?;
    tmp.persist(dest)
        .map_err(|e| failed("renaming into place", dest)(e.error))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("sub/out.img");
        write_atomically(&dest, |f| f.write_all(b"one")).unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"one");
        let mode = fs::metadata(&dest).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, OUTPUT_MODE);
        let failed: io::Result<()> = write_atomically(&dest, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("interrupted"))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(&dest).unwrap(), b"one", "the old file stays");
        let left: Vec<_> = fs::read_dir(dir.path().join("sub"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, ["out.img"], "no temporary file is left behind");
    }
}
