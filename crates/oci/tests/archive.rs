//! Archives in and out (checked with skopeo and umoci) and store maintenance: list, rm + gc,
//! verify. (The flattened filesystem export is linuxkit's `flatten::image_tree`, tested there.)

mod common;

use std::process::Command;

use common::*;
use evebuild_oci::{Damage, Platform, Reference, Selection, Store};
use evebuild_tree::output::write_atomically;

type AnyResult = Result<(), Box<dyn std::error::Error>>;

#[test]
fn docker_and_oci_archives_round_trip_through_skopeo() {
    let skopeo = tool("skopeo", "skopeo");
    let src_dir = tempfile::tempdir().unwrap();
    let src = Store::open(src_dir.path()).unwrap();
    let name = Reference::parse("lfedge/archive:1").unwrap();
    write_multiarch(&src, &name, &["amd64", "arm64"], 3000);
    let amd64 = src.resolve(&name, &Platform::linux("amd64")).unwrap();
    let work = tempfile::tempdir().unwrap();

    // docker save format, as skopeo writes it; imported, the config (image ID) is kept.
    let docker_tar = work.path().join("docker.tar");
    run(Command::new(&skopeo).args([
        "copy",
        &format!("oci:{}:{name}-amd64", src_dir.path().display()),
        &format!(
            "docker-archive:{}:lfedge/archive:saved",
            docker_tar.display()
        ),
    ]));
    let dst_dir = tempfile::tempdir().unwrap();
    let dst = Store::open(dst_dir.path()).unwrap();
    let names = evebuild_oci::import_archive(&dst, &docker_tar, None).unwrap();
    assert_eq!(
        names,
        vec![Reference::parse("lfedge/archive:saved").unwrap()]
    );
    let imported = dst.resolve(&names[0], &Platform::linux("amd64")).unwrap();
    assert_eq!(
        imported.manifest.config().digest(),
        amd64.manifest.config().digest()
    );
    let (_bundle, rootfs) = umoci_unpack(dst_dir.path(), "docker.io/lfedge/archive:saved");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/arch")).unwrap(),
        "amd64"
    );

    // The same, gzip-compressed, under a name we give.
    let gz = work.path().join("docker.tar.gz");
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut std::fs::File::open(&docker_tar).unwrap(), &mut enc).unwrap();
    enc.finish().unwrap();
    let renamed = Reference::parse("localhost:5000/x/y:z").unwrap();
    assert_eq!(
        evebuild_oci::import_archive(&dst, &gz, Some(&renamed)).unwrap(),
        vec![renamed.clone()]
    );

    // Our OCI archive of the whole index is read by skopeo under the full name, and imports
    // back with the same digests.
    let oci_tar = work.path().join("oci.tar");
    write_atomically(&oci_tar, |f| -> AnyResult {
        evebuild_oci::export_oci_archive(&src, &name, &Selection::All, f)?;
        Ok(())
    })
    .unwrap();
    let out = run(Command::new(&skopeo).args([
        "inspect",
        "--override-arch",
        "arm64",
        &format!("oci-archive:{}:{name}", oci_tar.display()),
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Architecture"], "arm64");
    let again_dir = tempfile::tempdir().unwrap();
    let again = Store::open(again_dir.path()).unwrap();
    assert_eq!(
        evebuild_oci::import_archive(&again, &oci_tar, None).unwrap(),
        vec![name.clone()]
    );
    assert_eq!(
        again.lookup(&name).unwrap().unwrap().digest(),
        src.lookup(&name).unwrap().unwrap().digest()
    );
    assert_eq!(blob_names(&again), blob_names(&src));
    // Exporting twice gives the same bytes.
    let mut a = Vec::new();
    let mut b = Vec::new();
    evebuild_oci::export_oci_archive(&src, &name, &Selection::All, &mut a).unwrap();
    evebuild_oci::export_oci_archive(&again, &name, &Selection::All, &mut b).unwrap();
    assert_eq!(a, b);

    // A skopeo-made OCI archive names its image by a bare tag: we need a name for it.
    let sk_tar = work.path().join("sk.tar");
    run(Command::new(&skopeo).args([
        "copy",
        &format!("oci:{}:{name}-arm64", src_dir.path().display()),
        &format!("oci-archive:{}:mytag", sk_tar.display()),
    ]));
    assert!(evebuild_oci::import_archive(&again, &sk_tar, None).is_err());
    let sk_name = Reference::parse("lfedge/from-skopeo:1").unwrap();
    evebuild_oci::import_archive(&again, &sk_tar, Some(&sk_name)).unwrap();
    assert_eq!(
        again
            .resolve(&sk_name, &Platform::linux("arm64"))
            .unwrap()
            .platform(),
        Platform::linux("arm64")
    );

    // Docker archive export: skopeo reads it and sees our config.
    let out_docker = work.path().join("out-docker.tar");
    write_atomically(&out_docker, |f| -> AnyResult {
        Ok(evebuild_oci::export_docker_archive(
            &src,
            &name,
            &Platform::linux("amd64"),
            f,
        )?)
    })
    .unwrap();
    let out = run(Command::new(&skopeo).args([
        "inspect",
        "--raw",
        "--config",
        &format!("docker-archive:{}", out_docker.display()),
    ]));
    assert_eq!(
        evebuild_oci::Digest::of(out.as_bytes()).to_string(),
        amd64.manifest.config().digest().to_string()
    );
}

#[test]
fn list_remove_gc_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let a = Reference::parse("lfedge/a:1").unwrap();
    let b = Reference::parse("lfedge/b:1").unwrap();
    write_multiarch(&store, &a, &["amd64", "arm64"], 1000);
    write_multiarch(&store, &b, &["amd64"], 2000);
    let list = store.list().unwrap();
    let names: Vec<&str> = list.iter().map(|e| e.name.as_str()).collect();
    assert!(
        names.contains(&"docker.io/lfedge/a:1") && names.contains(&"docker.io/lfedge/a:1-arm64"),
        "{names:?}"
    );
    let a_entry = list
        .iter()
        .find(|e| e.name == "docker.io/lfedge/a:1")
        .unwrap();
    assert_eq!(
        a_entry.platforms,
        vec![
            ("linux/amd64".to_string(), true),
            ("linux/arm64".to_string(), true)
        ]
    );
    assert!(store.verify().unwrap().is_ok());

    let before = blob_names(&store).len();
    // Removing the index keeps the per-arch images (they are still named)...
    assert!(store.remove(&a).unwrap().removed.len() == 1);
    for arch in ["amd64", "arm64"] {
        store
            .remove(&a.with_tag(&format!("1-{arch}")).unwrap())
            .unwrap();
    }
    // ...and once all names are gone, exactly a's blobs are gone.
    let after = blob_names(&store).len();
    // index + 2 × (manifest, config, 2 layers), less amd64's first layer (`etc/arch`), which b
    // shares and so keeps.
    assert_eq!(before - after, 1 + 2 * 4 - 1);
    assert!(store.remove(&a).is_err());
    assert!(store.verify().unwrap().is_ok());

    // Damage by hand is found, not trusted.
    let img = store.resolve(&b, &Platform::linux("amd64")).unwrap();
    let layer = evebuild_oci::Digest::parse(img.layers()[1].digest().as_ref()).unwrap();
    let path = store.blob_path(&layer);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let config = evebuild_oci::Digest::parse(img.manifest.config().digest().as_ref()).unwrap();
    std::fs::remove_file(store.blob_path(&config)).unwrap();
    std::fs::write(dir.path().join("blobs/sha256/not-a-digest"), b"?").unwrap();
    let report = store.verify().unwrap();
    assert!(!report.is_ok());
    assert!(
        report
            .damage
            .iter()
            .any(|d| matches!(d, Damage::Corrupt { digest, .. } if *digest == layer)),
        "{:?}",
        report.damage
    );
    assert!(
        report
            .damage
            .iter()
            .any(|d| matches!(d, Damage::Missing { digest, .. } if *digest == config)),
        "{:?}",
        report.damage
    );
    assert!(
        report.damage.iter().any(|d| matches!(d, Damage::Stray(_))),
        "{:?}",
        report.damage
    );
    assert!(store.resolve(&b, &Platform::linux("amd64")).is_err());
}
