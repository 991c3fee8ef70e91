//! Dockerfiles with RUN, delegated to buildah, on a base image the test makes from
//! busybox-static and builds into the store first (no network, no registry): EVE's
//! eve-alpine-deploy.sh pattern (PKGS, PKGS_<arch>, then FROM scratch + COPY --from=build).

mod common;

use common::*;
use evebuild_oci::{Platform, Store};
use evebuild_pkgbuild::{AllOptions, BuildOptions, build_all};
use std::io::Read;

const DEPLOY: &str = r#"#!/bin/sh
# A stand-in for eve-alpine's deploy script: "installs" PKGS and PKGS_<arch> into /out.
set -e
mkdir -p /out
case $(uname -m) in x86_64) A=amd64 ;; aarch64) A=arm64 ;; *) A=other ;; esac
eval "EXTRA=\$PKGS_$A"
for p in $PKGS $EXTRA; do cp -a /pkgs/$p/. /out/; done
"#;

fn make_tree(r: &std::path::Path) {
    git_init(r);
    write_files(
        r,
        &[
            (
                "pkg/alpine/build.yml",
                "org: lfedge\nimage: eve-alpine\narches: [amd64]\n",
            ),
            ("pkg/alpine/Dockerfile", "FROM scratch\nCOPY rootfs/ /\n"),
            ("pkg/alpine/rootfs/bin/eve-alpine-deploy.sh", DEPLOY),
            ("pkg/alpine/rootfs/pkgs/foo/usr/share/foo", "foo\n"),
            (
                "pkg/alpine/rootfs/pkgs/bar/usr/share/bar",
                "bar for amd64\n",
            ),
            (
                "pkg/tool/build.yml",
                "org: lfedge\nimage: eve-tool\narches: [amd64]\n",
            ),
            (
                "pkg/tool/Dockerfile",
                "FROM lfedge/eve-alpine:0000 AS build\nENV PKGS=foo\nENV PKGS_amd64=bar\nRUN eve-alpine-deploy.sh\nRUN echo \"built by RUN\" > /out/marker\n\nFROM scratch\nCOPY --from=build /out/ /\n",
            ),
        ],
    );
    let root = r.join("pkg/alpine/rootfs/bin");
    std::fs::copy("/bin/busybox", root.join("busybox")).unwrap();
    for applet in ["sh", "cp", "mkdir", "uname"] {
        std::os::unix::fs::symlink("busybox", root.join(applet)).unwrap();
    }
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("eve-alpine-deploy.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    git_commit(r, "tree");
}

#[test]
fn run_package_is_built_by_buildah_from_a_base_in_the_store() {
    tool("buildah", "buildah");
    assert!(
        std::path::Path::new("/bin/busybox").exists(),
        "this test needs /bin/busybox: apt-get install busybox-static"
    );
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("repo");
    make_tree(&r);
    let store = Store::open(&store_dir(tmp.path(), "store")).unwrap();
    let o = AllOptions {
        build: BuildOptions {
            arches: Some(vec!["amd64".into()]),
            ..Default::default()
        },
        jobs: 1,
        exclude: vec![],
    };
    let s = build_all(&store, &r.join("pkg"), &o, &evebuild_pkgbuild::pkgs::Quiet).unwrap();
    assert!(s.ok(), "{:?}", s.failed);
    let tool = s
        .built
        .iter()
        .find(|(n, _)| n == "tool")
        .unwrap()
        .1
        .reference
        .clone();
    let img = store.resolve(&tool, &Platform::linux("amd64")).unwrap();
    let mut files = std::collections::BTreeMap::new();
    for i in 0..img.layers().len() {
        let mut raw = Vec::new();
        img.open_layer(&store, i)
            .unwrap()
            .read_to_end(&mut raw)
            .unwrap();
        for e in tar::Archive::new(&raw[..]).entries().unwrap() {
            let mut e = e.unwrap();
            let p = e
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            let mut c = String::new();
            e.read_to_string(&mut c).ok();
            files.insert(p, c);
        }
    }
    assert_eq!(
        files.get("marker").map(String::as_str),
        Some("built by RUN\n"),
        "{:?}",
        files.keys()
    );
    assert_eq!(
        files.get("usr/share/foo").map(String::as_str),
        Some("foo\n")
    );
    assert_eq!(
        files.get("usr/share/bar").map(String::as_str),
        Some("bar for amd64\n")
    );
    assert!(
        !files.contains_key("bin/busybox"),
        "the build stage stays out of the result"
    );
    assert_eq!(img.platform().architecture, "amd64");

    // Unchanged: found in the store, not rebuilt.
    let s2 = build_all(&store, &r.join("pkg"), &o, &evebuild_pkgbuild::pkgs::Quiet).unwrap();
    assert!(s2.built.iter().all(|(_, b)| !b.rebuilt));
}
