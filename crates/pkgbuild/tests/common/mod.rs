//! Shared helpers for the package build tests: git repositories of packages made on the fly,
//! and the external tools that check the results (skopeo, umoci, buildah).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

#[allow(unused_imports)]
pub use evebuild_testkit::{git, run, tool, umoci_unpack};

/// Writes files (path → contents) under `root`.
pub fn write_files(root: &Path, files: &[(&str, &str)]) {
    for (p, c) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, c).unwrap();
    }
}

/// Creates `root` and makes it a git repository (branch main).
pub fn git_init(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    git(root, &["init", "-q", "-b", "main"]);
}

/// Commits everything (as the testkit's fixed user and date).
pub fn git_commit(root: &Path, msg: &str) {
    git(root, &["add", "-A"]);
    git(root, &["commit", "-q", "-m", msg]);
}

/// A fresh store directory.
pub fn store_dir(tmp: &Path, name: &str) -> PathBuf {
    let p = tmp.join(name);
    std::fs::create_dir_all(&p).unwrap();
    p
}
