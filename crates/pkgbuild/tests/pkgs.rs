//! `pkgs`: a tree of packages built in dependency order; changes rebuild exactly the changed
//! package and its dependants; failures stop only their dependants.

mod common;

use common::*;
use evebuild_linuxkit::tag::ShowTagOptions;
use evebuild_oci::{Platform, Reference, Store};
use evebuild_pkgbuild::{
    AllOptions, BuildOptions, BuiltPackage, Error, Progress, build_all, build_package,
};
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
struct Record(Mutex<Vec<String>>);

impl Progress for Record {
    fn finished(&self, p: &str, r: &Result<BuiltPackage, Error>) {
        self.0.lock().unwrap().push(format!("{p}:{}", r.is_ok()));
    }
    fn skipped(&self, p: &str, dep: &str) {
        self.0.lock().unwrap().push(format!("{p}:skipped({dep})"));
    }
}

fn repo() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    let r = tmp.path().join("repo");
    git_init(&r);
    write_files(
        &r,
        &[
            (
                "pkg/a/build.yml",
                "org: lfedge\nimage: eve-a\narches: [amd64]\n",
            ),
            ("pkg/a/Dockerfile", "FROM scratch\nCOPY a.txt /a.txt\n"),
            ("pkg/a/a.txt", "a1\n"),
            (
                "pkg/b/build.yml",
                "org: lfedge\nimage: eve-b\narches: [amd64]\n",
            ),
            (
                "pkg/b/Dockerfile",
                "FROM lfedge/eve-a:0123456789 AS base\nCOPY b.txt /b.txt\n",
            ),
            ("pkg/b/b.txt", "b\n"),
            (
                "pkg/c/build.yml",
                "org: lfedge\nimage: eve-c\narches: [amd64]\nbuildArgs:\n  - B=lfedge/eve-b:anything\n",
            ),
            ("pkg/c/Dockerfile", "ARG B\nFROM ${B}\nCOPY c.txt /c.txt\n"),
            ("pkg/c/c.txt", "c\n"),
            (
                "pkg/d/build.yml",
                "org: lfedge\nimage: eve-d\narches: [amd64]\n",
            ),
            ("pkg/d/Dockerfile", "FROM scratch\nCOPY d.txt /\n"),
            ("pkg/d/d.txt", "d\n"),
            (
                "pkg/bad/build.yml",
                "org: lfedge\nimage: eve-bad\narches: [amd64]\n",
            ),
            ("pkg/bad/Dockerfile", "FROM scratch\nCOPY x\n"),
            (
                "pkg/e/build.yml",
                "org: lfedge\nimage: eve-e\narches: [amd64]\n",
            ),
            ("pkg/e/Dockerfile", "FROM lfedge/eve-bad:1\nCOPY e.txt /\n"),
            ("pkg/e/e.txt", "e\n"),
            (
                "pkg/x/build.yml",
                "org: lfedge\nimage: eve-x\narches: [amd64]\nextra-sources:\n  - ../../shared:shared\nbuildArgs:\n  - DTAG=@lkt:pkg:../d\n",
            ),
            (
                "pkg/x/build-dev.yml",
                "org: lfedge\nimage: eve-x\ntag: \"{{.Hash}}-dev\"\narches: [amd64]\nextra-sources:\n  - ../../shared:shared\nbuildArgs:\n  - DTAG=@lkt:pkg:../d\n",
            ),
            (
                "pkg/x/Dockerfile",
                "FROM scratch\nARG DTAG\nLABEL dtag=$DTAG\nCOPY shared/s.txt /s.txt\n",
            ),
            ("shared/s.txt", "shared\n"),
        ],
    );
    git_commit(&r, "tree");
    tmp
}

fn opts() -> AllOptions {
    AllOptions {
        build: BuildOptions::default(),
        jobs: 2,
        exclude: vec![],
    }
}

fn rebuilt(s: &evebuild_pkgbuild::Summary) -> BTreeMap<String, bool> {
    s.built
        .iter()
        .map(|(n, b)| (n.clone(), b.rebuilt))
        .collect()
}

#[test]
fn chain_builds_in_order_and_rebuilds_only_dependants() {
    let tmp = repo();
    let r = tmp.path().join("repo");
    let store = Store::open(&store_dir(tmp.path(), "store")).unwrap();
    let rec = Record::default();
    let s = build_all(&store, &r.join("pkg"), &opts(), &rec).unwrap();
    let events = rec.0.lock().unwrap().clone();
    let pos = |p: &str| {
        events
            .iter()
            .position(|e| e.starts_with(&format!("{p}:")))
            .unwrap()
    };
    assert!(pos("a") < pos("b") && pos("b") < pos("c"), "{events:?}");
    assert_eq!(s.failed.len(), 1, "{:?}", s.failed);
    assert_eq!(s.failed[0].0, "bad");
    let msg = s.failed[0].1.to_string();
    assert!(msg.contains("pkg/bad/Dockerfile:2:"), "{msg}");
    assert_eq!(s.skipped, vec![("e".to_string(), "bad".to_string())]);
    let first = rebuilt(&s);
    assert_eq!(first.len(), 5);
    assert!(first.values().all(|r| *r));

    // B's FROM names an arbitrary tag of eve-a: it resolved to A's current image.
    let tags: BTreeMap<String, Reference> = s
        .built
        .iter()
        .map(|(n, b)| (n.clone(), b.reference.clone()))
        .collect();
    let c = store
        .resolve(&tags["c"], &Platform::linux("amd64"))
        .unwrap();
    assert_eq!(c.layers().len(), 3, "a, b and c layers");
    let x = store
        .resolve(&tags["x"], &Platform::linux("amd64"))
        .unwrap();
    let dtag = x.labels()["dtag"].clone();
    assert_eq!(format!("docker.io/{dtag}"), tags["d"].to_string());

    // Nothing changed: nothing rebuilt.
    let s2 = build_all(
        &store,
        &r.join("pkg"),
        &opts(),
        &evebuild_pkgbuild::pkgs::Quiet,
    )
    .unwrap();
    assert!(rebuilt(&s2).values().all(|r| !*r), "{:?}", rebuilt(&s2));

    // Change A: A gets a new tag; A, B and C are rebuilt, nothing else.
    write_files(&r, &[("pkg/a/a.txt", "a2\n")]);
    git_commit(&r, "change a");
    let s3 = build_all(
        &store,
        &r.join("pkg"),
        &opts(),
        &evebuild_pkgbuild::pkgs::Quiet,
    )
    .unwrap();
    let third = rebuilt(&s3);
    let changed: Vec<&String> = third.iter().filter(|(_, r)| **r).map(|(n, _)| n).collect();
    assert_eq!(changed, ["a", "b", "c"]);
    let a_new = s3
        .built
        .iter()
        .find(|(n, _)| n == "a")
        .unwrap()
        .1
        .reference
        .clone();
    assert_ne!(a_new, tags["a"], "A's tag follows its files");
}

#[test]
fn build_dev_variant_and_extra_sources() {
    let tmp = repo();
    let r = tmp.path().join("repo");
    let store = Store::open(&store_dir(tmp.path(), "store")).unwrap();
    // x's @lkt:pkg:../d needs nothing built; its extra source lands at shared/.
    let o = BuildOptions {
        tag: ShowTagOptions {
            build_yml: Some("build-dev.yml".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let b = build_package(&store, &r.join("pkg/x"), &o).unwrap();
    assert!(
        b.reference.tag().unwrap().ends_with("-dev"),
        "{}",
        b.reference
    );
    let img = store
        .resolve(&b.reference, &Platform::linux("amd64"))
        .unwrap();
    let mut tar = String::new();
    std::io::Read::read_to_string(&mut img.open_layer(&store, 0).unwrap(), &mut String::new()).ok();
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut img.open_layer(&store, 0).unwrap(), &mut raw).unwrap();
    let mut ar = tar::Archive::new(&raw[..]);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path().unwrap().to_string_lossy() == "s.txt" {
            std::io::Read::read_to_string(&mut e, &mut tar).unwrap();
        }
    }
    assert_eq!(tar, "shared\n");
}

#[test]
fn syntax_error_names_file_and_line() {
    let tmp = repo();
    let r = tmp.path().join("repo");
    let store = Store::open(&store_dir(tmp.path(), "store")).unwrap();
    let e = build_package(&store, &r.join("pkg/bad"), &BuildOptions::default()).unwrap_err();
    let m = e.to_string();
    assert!(
        m.contains("pkg/bad/Dockerfile:2: COPY requires at least two arguments"),
        "{m}"
    );
}
