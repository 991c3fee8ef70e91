//! The store's on-disk layout is read by the tools the world reads OCI layouts with: skopeo
//! (its `oci:` transport looks the full reference up in the ref-name annotation) and umoci.

mod common;

use std::process::Command;

use common::*;
use evebuild_oci::{Error, Platform, Reference, Store};

#[test]
fn skopeo_and_umoci_read_a_multiarch_store() {
    let skopeo = tool("skopeo", "skopeo");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let name = Reference::parse("lfedge/eve-test:abc").unwrap();
    let idx = write_multiarch(&store, &name, &["amd64", "arm64"], 1000);

    // Our own resolution first.
    let img = store.resolve(&name, &Platform::linux("arm64")).unwrap();
    assert_eq!(img.platform(), Platform::linux("arm64"));
    assert_eq!(img.layers().len(), 2);
    let mut s = String::new();
    let mut tar = tar::Archive::new(img.open_layer(&store, 0).unwrap());
    let mut e = tar.entries().unwrap().next().unwrap().unwrap();
    std::io::Read::read_to_string(&mut e, &mut s).unwrap();
    assert_eq!(s, "arm64");

    // skopeo resolves the index by its full name and picks the platform itself.
    let out = run(Command::new(&skopeo).args([
        "inspect",
        "--override-arch",
        "arm64",
        &format!("oci:{}:docker.io/lfedge/eve-test:abc", dir.path().display()),
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Architecture"], "arm64");
    // skopeo reports the digest of what the name points at: the index.
    assert_eq!(v["Digest"], idx.digest().to_string());
    let raw = run(Command::new(&skopeo).args([
        "inspect",
        "--raw",
        &format!("oci:{}:docker.io/lfedge/eve-test:abc", dir.path().display()),
    ]));
    assert_eq!(
        evebuild_oci::Digest::of(raw.as_bytes()).to_string(),
        idx.digest().to_string()
    );

    // umoci unpacks the per-arch image (umoci wants a manifest, not an index).
    let (_bundle, rootfs) = umoci_unpack(dir.path(), "docker.io/lfedge/eve-test:abc-amd64");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/arch")).unwrap(),
        "amd64"
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/name")).unwrap(),
        "docker.io/lfedge/eve-test:abc"
    );

    // An absent platform names the ones that exist.
    let err = store
        .resolve(&name, &Platform::linux("riscv64"))
        .unwrap_err();
    assert!(matches!(err, Error::Platform { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("linux/amd64") && msg.contains("linux/arm64"),
        "{msg}"
    );
}

#[test]
fn tag_replaces_and_index_is_linuxkit_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let name = Reference::parse("alpine:3.19").unwrap();
    let a = write_image(
        &store,
        &Platform::linux("amd64"),
        &[vec![("a", b"1".to_vec())]],
    );
    let b = write_image(
        &store,
        &Platform::linux("amd64"),
        &[vec![("a", b"2".to_vec())]],
    );
    store.tag(&name, a).unwrap();
    store.tag(&name, b.clone()).unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("index.json")).unwrap()).unwrap();
    let entries = index["manifests"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(
        entries[0]["annotations"]["org.opencontainers.image.ref.name"],
        "docker.io/library/alpine:3.19"
    );
    assert_eq!(entries[0]["digest"], b.digest().to_string());
    assert_eq!(
        std::fs::read_to_string(dir.path().join("oci-layout")).unwrap(),
        "{\"imageLayoutVersion\":\"1.0.0\"}"
    );
    // A single manifest is used whatever the platform asked for (linuxkit's rule).
    assert!(store.resolve(&name, &Platform::linux("arm64")).is_ok());
    assert!(store.untag(&name).unwrap());
    assert!(store.lookup(&name).unwrap().is_none());
}

#[test]
fn images_written_twice_are_identical() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let name = Reference::parse("lfedge/repro:1").unwrap();
    let i1 = write_multiarch(
        &Store::open(d1.path()).unwrap(),
        &name,
        &["amd64", "arm64"],
        5000,
    );
    let i2 = write_multiarch(
        &Store::open(d2.path()).unwrap(),
        &name,
        &["amd64", "arm64"],
        5000,
    );
    assert_eq!(i1.digest(), i2.digest());
    assert_eq!(
        blob_names(&Store::open(d1.path()).unwrap()),
        blob_names(&Store::open(d2.path()).unwrap())
    );
}
