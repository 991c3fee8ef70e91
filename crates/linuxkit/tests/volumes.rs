//! `format: oci` volumes: the image index written as an OCI image layout under the volume's
//! `lower/`, limited to the listed platforms, read back with skopeo (a real OCI layout reader).

mod common;
use common::*;
use evebuild_oci::{Compression, Reference};
use std::process::Command;

#[test]
fn oci_volume_is_a_layout_skopeo_reads() {
    let f = Fixture::new();
    let mut manifests = Vec::new();
    for arch in ["amd64", "arm64"] {
        let l = f
            .store
            .write_layer(
                &layer(&[E::File("etc/arch", arch.as_bytes().to_vec().leak())])[..],
                Compression::Gzip,
            )
            .unwrap();
        let config = image_config(arch, &Cfg::default());
        let d = f.store.write_image(&config, &[l]).unwrap();
        manifests.push(d);
    }
    let idx = f.store.write_index(manifests).unwrap();
    f.store
        .tag(&Reference::parse("example.org/vol:1").unwrap(), idx.clone())
        .unwrap();
    let yml = "volumes:\n- name: apps\n  image: example.org/vol:1\n  format: oci\n  platforms: [linux/arm64]\n";
    let (tar, _) = f.build(yml, f.dir.path()).unwrap();
    let root = extract(&tar);
    let lower = root.path().join("root/containers/volumes/apps/lower");
    let index = std::fs::read_to_string(lower.join("index.json")).unwrap();
    let expected = format!(
        "{{\n   \"schemaVersion\": 2,\n   \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n   \"manifests\": [\n      {{\n         \"mediaType\": \"application/vnd.oci.image.index.v1+json\",\n         \"size\": {},\n         \"digest\": \"{}\",\n         \"annotations\": {{\n            \"org.opencontainers.image.ref.name\": \"example.org/vol:1\"\n         }}\n      }}\n   ]\n}}",
        idx.size(),
        idx.digest()
    );
    assert_eq!(index, expected);
    assert_eq!(
        std::fs::read_to_string(lower.join("oci-layout")).unwrap(),
        "{\n\t\t\"imageLayoutVersion\": \"1.0.0\"\n\t}"
    );
    // Only the arm64 image's blobs (config, layer, manifest) plus the index.
    assert_eq!(
        std::fs::read_dir(lower.join("blobs/sha256"))
            .unwrap()
            .count(),
        4
    );
    let skopeo = tool("skopeo", "skopeo");
    let out = run(Command::new(skopeo)
        .args([
            "inspect",
            "--override-arch",
            "arm64",
            "--override-os",
            "linux",
        ])
        .arg(format!("oci:{}", lower.display())));
    assert!(out.contains("\"Architecture\": \"arm64\""), "{out}");
    let names = listing(&root.path().join("root"));
    assert!(
        names.contains("d 0755 0:0 0 containers/volumes/apps/lower/blobs\n"),
        "{names}"
    );
    assert!(names.contains("containers/volumes/apps/merged"), "{names}");
}
