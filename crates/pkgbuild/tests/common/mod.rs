//! Shared helpers for the package build tests: git repositories of packages made on the fly,
//! and the external tools that check the results (skopeo, umoci, buildah).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs a command, panicking with its output when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("running {cmd:?}: {e} (is the tool installed? see scripts/install-test-deps.sh)")
    });
    assert!(
        out.status.success(),
        "{cmd:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Fails with the Debian package to install when `tool` is missing.
pub fn need(tool: &str, package: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} is required for this test: apt-get install {package}"
    );
}

/// Writes files (path → contents) under `root`.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, c).unwrap();
    }
}

/// `git init` with a fixed identity.
pub fn git_init(root: &Path) {
    run(Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["init", "-q", "-b", "main"]));
}

/// Commits everything with a fixed date.
pub fn git_commit(root: &Path, msg: &str) {
    run(Command::new("git").arg("-C").arg(root).args(["add", "-A"]));
    run(Command::new("git")
        .arg("-C")
        .arg(root)
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@e",
            "commit",
            "-q",
            "-m",
            msg,
        ])
        .env("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z")
        .env("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z"));
}

/// A fresh store directory.
pub fn store_dir(tmp: &Path, name: &str) -> PathBuf {
    let p = tmp.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}
