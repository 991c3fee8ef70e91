//! # What evebuild's tests share
//!
//! The oracles — the real tools that read evebuild's artifacts — found on PATH, where a
//! missing one fails the test naming the Debian package that provides it (tests never skip),
//! umoci's unpack of an OCI image layout, and a real registry (Debian's `docker-registry`, the
//! CNCF distribution server) started on 127.0.0.1 with a private storage directory. Also the
//! inputs tests make: git repositories committed as a fixed user at a fixed date (so their
//! hashes reproduce), incompressible bytes ([`noise`]), and the EVE reference data
//! ([`eve_testdata`]).

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

/// Unpacks the image named `name` in the OCI image layout at `layout` with `umoci unpack
/// --rootless`; returns the bundle's directory (removed on drop) and the path of its rootfs.
pub fn umoci_unpack(layout: &Path, name: &str) -> (tempfile::TempDir, PathBuf) {
    let umoci = tool("umoci", "umoci");
    let bundle = tempfile::tempdir().expect("a temporary directory");
    let dest = bundle.path().join("b");
    run(Command::new(umoci)
        .args([
            "unpack",
            "--rootless",
            "--image",
            &format!("{}:{name}", layout.display()),
        ])
        .arg(&dest));
    (bundle, dest.join("rootfs"))
}

/// The identity and date every test commit is made with.
const GIT_USER: [(&str, &str); 6] = [
    ("GIT_AUTHOR_NAME", "t"),
    ("GIT_AUTHOR_EMAIL", "t@example.org"),
    ("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z"),
    ("GIT_COMMITTER_NAME", "t"),
    ("GIT_COMMITTER_EMAIL", "t@example.org"),
    ("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z"),
];

/// Runs `git args…` in `dir` as the test's git user; returns stdout, trimmed.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(tool("git", "git"));
    cmd.args(args).current_dir(dir).envs(GIT_USER);
    run(&mut cmd).trim().to_string()
}

/// Runs the shell `script` in `dir` with the test's git user in the environment (for git
/// and coreutils pipelines); returns stdout, trimmed.
pub fn sh(dir: &Path, script: &str) -> String {
    let mut cmd = Command::new(tool("sh", "dash"));
    cmd.arg("-c").arg(script).current_dir(dir).envs(GIT_USER);
    run(&mut cmd).trim().to_string()
}

/// `n` incompressible bytes from a xorshift generator seeded with `seed` (the same bytes
/// every run, so failures reproduce).
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The EVE reference data (`shared/eve`: EVE's templates and golden outputs):
/// `$EVE_REFERENCE_DIR`, else `<workspace>/../shared/eve`; fails (never skips) when neither
/// exists.
pub fn eve_testdata() -> PathBuf {
    let dir = std::env::var_os("EVE_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eve"));
    assert!(
        dir.join("golden").is_dir(),
        "EVE reference data not found at {}: set EVE_REFERENCE_DIR to the shared `eve` directory",
        dir.display()
    );
    dir
}
