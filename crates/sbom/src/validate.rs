//! Checking a document with spdx-tools' `pyspdxtools -i`, the SPDX reference validator (PyPI
//! `spdx-tools`; scripts/install-test-deps.sh puts it in a virtual environment and
//! scripts/test.sh names it in `PYSPDXTOOLS`). Used by the tests; nothing here is needed to
//! make a document.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the validator is: `$PYSPDXTOOLS`, else `~/.cache/evebuild/venv/bin/pyspdxtools`.
pub fn pyspdxtools() -> Result<PathBuf, String> {
    let p = std::env::var_os("PYSPDXTOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/evebuild/venv/bin/pyspdxtools")
        });
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "pyspdxtools not found at {} (set PYSPDXTOOLS): run ./scripts/install-test-deps.sh, \
             which installs spdx-tools==0.8.5 from PyPI into ~/.cache/evebuild/venv",
            p.display()
        ))
    }
}

/// Validates the SPDX document at `path`; the error holds what the validator said.
pub fn validate(path: &Path) -> Result<(), String> {
    let out = Command::new(pyspdxtools()?)
        .arg("-i")
        .arg(path)
        .output()
        .map_err(|e| format!("running pyspdxtools: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && !text.contains("ERROR") {
        Ok(())
    } else {
        Err(format!("pyspdxtools rejects {}:\n{text}", path.display()))
    }
}
