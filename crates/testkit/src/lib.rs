//! # What evebuild's tests share
//!
//! The oracles — the real tools that read evebuild's artifacts — found on PATH, where a
//! missing one fails the test naming the Debian package that provides it (tests never skip),
//! and a real registry (Debian's `docker-registry`, the CNCF distribution server) started on
//! 127.0.0.1 with a private storage directory.

mod registry;

pub use registry::{Registry, free_port};

use std::path::{Path, PathBuf};
use std::process::Command;

/// Path of a required tool, or a failure naming the Debian package to install.
pub fn tool(name: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    for dir in ["/usr/sbin", "/sbin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{name} is not installed: apt-get install {package} (scripts/install-test-deps.sh lists it)"
    );
}

/// Runs a command, failing with its output when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// SHA-256 of a file by coreutils' `sha256sum` (independent of evebuild's own hashing).
pub fn sha256sum(p: &Path) -> String {
    run(Command::new(tool("sha256sum", "coreutils")).arg(p))
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The EVE test data (`shared/eve`: EVE's templates and golden outputs): `$EVEBUILD_EVE_TESTDATA`,
/// else `shared/eve` beside the checkout.
pub fn eve_testdata() -> PathBuf {
    let dir = std::env::var_os("EVEBUILD_EVE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eve"));
    assert!(
        dir.join("golden").is_dir(),
        "EVE test data not found at {}: set EVEBUILD_EVE_TESTDATA to the shared/eve directory",
        dir.display()
    );
    dir
}
