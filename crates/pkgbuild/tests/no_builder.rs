//! A Dockerfile with RUN and no container builder on PATH: the error says what to install.
//! The check runs in a child process of this test binary whose PATH holds only git.

mod common;

use common::*;
use evebuild_oci::Store;
use evebuild_pkgbuild::{BuildOptions, build_package};

const INNER: &str = "EVEBUILD_NO_BUILDER_INNER";

#[test]
fn run_without_a_builder_names_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/usr/bin/git", bin.join("git")).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["inner", "--exact", "--nocapture"])
        .env("PATH", &bin)
        .env(INNER, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn inner() {
    if std::env::var_os(INNER).is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("repo");
    git_init(&r);
    write_files(
        &r,
        &[
            (
                "pkg/r/build.yml",
                "org: lfedge\nimage: eve-r\narches: [amd64]\n",
            ),
            ("pkg/r/Dockerfile", "FROM scratch\nRUN true\n"),
        ],
    );
    git_commit(&r, "r");
    let store = Store::open(&store_dir(tmp.path(), "store")).unwrap();
    let e = build_package(&store, &r.join("pkg/r"), &BuildOptions::default()).unwrap_err();
    let m = e.to_string();
    assert!(m.contains("apt-get install buildah"), "{m}");
    assert!(m.contains("RUN"), "{m}");
}
