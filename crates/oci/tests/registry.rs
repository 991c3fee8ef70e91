//! Pull and push against a real registry (Debian's docker-registry, CNCF distribution), with
//! images made locally and moved with skopeo, the reference client.

mod common;

use std::process::Command;

use common::*;
use evebuild_oci::{
    ClientOptions, Error, Platform, PullOptions, PushOptions, Reference, RegistryClient, Store,
    pull, push,
};

fn client() -> RegistryClient {
    RegistryClient::new(ClientOptions::default()).unwrap()
}

/// Makes a multi-arch image in a scratch store and copies it to the registry with
/// `skopeo copy --all`; returns the index digest.
fn skopeo_push_multiarch(reg: &Registry, repo_tag: &str, payload: usize) -> String {
    let skopeo = tool("skopeo", "skopeo");
    let scratch = tempfile::tempdir().unwrap();
    let store = Store::open(scratch.path()).unwrap();
    let local = Reference::parse(&format!("local/{repo_tag}")).unwrap();
    let idx = write_multiarch(&store, &local, &["amd64", "arm64"], payload);
    run(Command::new(skopeo).args([
        "copy",
        "--all",
        "--dest-tls-verify=false",
        &format!("oci:{}:{local}", scratch.path().display()),
        &format!("docker://{}/{repo_tag}", reg.addr),
    ]));
    idx.digest().to_string()
}

#[test]
fn pull_one_platform_of_a_skopeo_pushed_index() {
    let reg = Registry::start();
    let index_digest = skopeo_push_multiarch(&reg, "test/multi:1", 20_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let name = Reference::parse(&format!("{}/test/multi:1", reg.addr)).unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(0usize));
    let mut opts = PullOptions::new(Platform::linux("amd64"));
    let s2 = seen.clone();
    opts.progress = Some(std::sync::Arc::new(move |_p| *s2.lock().unwrap() += 1));
    let img = pull(&store, &client(), &name, &opts).unwrap();
    assert!(*seen.lock().unwrap() > 0, "no progress reported");
    assert_eq!(img.platform(), Platform::linux("amd64"));
    assert_eq!(
        store.lookup(&name).unwrap().unwrap().digest().to_string(),
        index_digest
    );
    // index + amd64 manifest + config + 2 layers, and nothing of arm64.
    assert_eq!(blob_names(&store).len(), 5, "{:?}", blob_names(&store));

    // The store is readable by skopeo and umoci.
    let skopeo = tool("skopeo", "skopeo");
    let out = run(Command::new(&skopeo).args([
        "inspect",
        "--override-arch",
        "amd64",
        &format!("oci:{}:{name}", dir.path().display()),
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Architecture"], "amd64");
    let single = name.with_tag("1-amd64").unwrap();
    store.tag(&single, img.manifest_descriptor.clone()).unwrap();
    let (_bundle, rootfs) = umoci_unpack(dir.path(), &single.to_string());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/arch")).unwrap(),
        "amd64"
    );

    // Asking again is served by the store, even with the registry gone; offline too.
    drop(reg);
    let again = pull(
        &store,
        &client(),
        &name,
        &PullOptions::new(Platform::linux("amd64")),
    )
    .unwrap();
    assert_eq!(
        again.manifest_descriptor.digest(),
        img.manifest_descriptor.digest()
    );
    let mut off = PullOptions::new(Platform::linux("arm64"));
    off.offline = true;
    let err = pull(&store, &client(), &name, &off).unwrap_err();
    assert!(matches!(err, Error::Offline { .. }), "{err}");
    assert!(err.to_string().contains("missing"), "{err}");

    // An arch the index does not have is named with what it has.
    let reg = Registry::start();
    skopeo_push_multiarch(&reg, "test/multi:1", 100);
    let name = Reference::parse(&format!("{}/test/multi:1", reg.addr)).unwrap();
    let err = pull(
        &store,
        &client(),
        &name,
        &PullOptions::new(Platform::linux("riscv64")),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, Error::Platform { .. })
            && msg.contains("linux/amd64")
            && msg.contains("linux/arm64"),
        "{msg}"
    );
}

#[test]
fn pushed_images_come_back_identical_through_skopeo() {
    let reg = Registry::start();
    let skopeo = tool("skopeo", "skopeo");
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let name = Reference::parse("lfedge/eve-push:7").unwrap();
    let idx = write_multiarch(&store, &name, &["amd64", "arm64"], 300_000);
    for (chunk, tag) in [(0u64, "mono"), (64 * 1024, "chunked")] {
        let remote = Reference::parse(&format!("{}/lfedge/eve-push:{tag}", reg.addr)).unwrap();
        let opts = PushOptions {
            chunk_size: chunk,
            jobs: 3,
        };
        let d = push(&store, &client(), &name, &remote, &opts).unwrap();
        assert_eq!(d.to_string(), idx.digest().to_string());
        let raw = run(Command::new(&skopeo).args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{remote}"),
        ]));
        assert_eq!(
            evebuild_oci::Digest::of(raw.as_bytes()).to_string(),
            idx.digest().to_string()
        );
        // skopeo fetches it all back into its own layout with the same digests.
        let back = tempfile::tempdir().unwrap();
        run(Command::new(&skopeo).args([
            "copy",
            "--all",
            "--src-tls-verify=false",
            &format!("docker://{remote}"),
            &format!("oci:{}:x", back.path().display()),
        ]));
        let mut ours = blob_names(&store);
        let mut theirs: Vec<String> = std::fs::read_dir(back.path().join("blobs/sha256"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        ours.sort();
        theirs.sort();
        assert_eq!(ours, theirs, "push with chunk size {chunk}");
    }
    // A second machine pulling the pushed image gets our digests.
    let other = tempfile::tempdir().unwrap();
    let other = Store::open(other.path()).unwrap();
    let remote = Reference::parse(&format!("{}/lfedge/eve-push:mono", reg.addr)).unwrap();
    let img = pull(
        &other,
        &client(),
        &remote,
        &PullOptions::new(Platform::linux("arm64")),
    )
    .unwrap();
    let ours = store.resolve(&name, &Platform::linux("arm64")).unwrap();
    assert_eq!(
        img.manifest_descriptor.digest(),
        ours.manifest_descriptor.digest()
    );
}

#[test]
fn tampered_registry_blobs_are_refused() {
    let reg = Registry::start();
    skopeo_push_multiarch(&reg, "test/tamper:1", 50_000);
    let name = Reference::parse(&format!("{}/test/tamper:1", reg.addr)).unwrap();
    // Find the big layer of amd64 through the registry itself.
    let scratch = tempfile::tempdir().unwrap();
    let scratch = Store::open(scratch.path()).unwrap();
    let img = pull(
        &scratch,
        &client(),
        &name,
        &PullOptions::new(Platform::linux("amd64")),
    )
    .unwrap();
    let layer = img.layers()[1].digest().to_string();
    let hex = layer.strip_prefix("sha256:").unwrap();
    let data = reg.blob_data_path(hex);
    let original = std::fs::read(&data).unwrap();

    for (label, tampered) in [
        ("same size, other bytes", {
            let mut t = original.clone();
            let last = t.len() - 1;
            t[last] ^= 0xff;
            t
        }),
        ("one extra byte", {
            let mut t = original.clone();
            t.push(0);
            t
        }),
    ] {
        std::fs::write(&data, &tampered).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let err = pull(
            &store,
            &client(),
            &name,
            &PullOptions::new(Platform::linux("amd64")),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&layer),
            "{label}: error does not name {layer}: {msg}"
        );
        assert!(
            matches!(
                err,
                Error::DigestMismatch { .. } | Error::SizeMismatch { .. }
            ),
            "{label}: {msg}"
        );
        assert!(
            store.lookup(&name).unwrap().is_none(),
            "{label}: tagged anyway"
        );
        let names = blob_names(&store);
        assert!(!names.iter().any(|n| n == hex), "{label}: bad blob stored");
        assert!(
            !names.iter().any(|n| n.starts_with('.')),
            "{label}: temporary left: {names:?}"
        );
    }
}
