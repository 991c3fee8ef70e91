//! Test helpers: small images made with the store's own writer, and what every crate's tests
//! share (real tools found on PATH, a real registry, incompressible data) from the testkit.
#![allow(dead_code)]

#[allow(unused_imports)]
pub use evebuild_testkit::{Registry, free_port, noise, run, tool, umoci_unpack};

use evebuild_oci::spec::{ConfigBuilder, Descriptor, ImageConfigurationBuilder, RootFsBuilder};
use evebuild_oci::{Compression, Platform, Reference, Store};

/// A deterministic tar with the given regular files (mode 0644, mtime 0).
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Writes a one-platform image whose layers hold `layers` (each a list of files) and returns
/// its manifest descriptor (with platform).
pub fn write_image(
    store: &Store,
    platform: &Platform,
    layers: &[Vec<(&str, Vec<u8>)>],
) -> Descriptor {
    write_image_compressed(store, platform, layers, Compression::Gzip)
}

/// [`write_image`] with the layers compressed with `compression`.
pub fn write_image_compressed(
    store: &Store,
    platform: &Platform,
    layers: &[Vec<(&str, Vec<u8>)>],
    compression: Compression,
) -> Descriptor {
    let written: Vec<_> = layers
        .iter()
        .map(|files| {
            let files: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
            store.write_layer(&tar_of(&files)[..], compression).unwrap()
        })
        .collect();
    let config = ImageConfigurationBuilder::default()
        .architecture(platform.architecture.as_str())
        .os(platform.os.as_str())
        .config(
            ConfigBuilder::default()
                .cmd(vec!["/bin/true".to_string()])
                .build()
                .unwrap(),
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(Vec::<String>::new())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    store.write_image(&config, &written).unwrap()
}

/// Writes `name` as a multi-arch index of one small image per arch (tagged `name` and
/// `name-<arch>` as linuxkit does) and returns the index descriptor.
pub fn write_multiarch(
    store: &Store,
    name: &Reference,
    arches: &[&str],
    payload: usize,
) -> Descriptor {
    let mut manifests = Vec::new();
    for arch in arches {
        let p = Platform::linux(arch);
        let big = noise(
            payload,
            arch.bytes().map(u64::from).sum::<u64>() + payload as u64,
        );
        let d = write_image(
            store,
            &p,
            &[
                vec![("etc/arch", arch.as_bytes().to_vec())],
                vec![
                    ("data/blob", big),
                    ("etc/name", name.to_string().into_bytes()),
                ],
            ],
        );
        let per_arch = name
            .with_tag(&format!("{}-{arch}", name.tag().unwrap()))
            .unwrap();
        store.tag(&per_arch, d.clone()).unwrap();
        manifests.push(d);
    }
    let idx = store.write_index(manifests).unwrap();
    store.tag(name, idx.clone()).unwrap();
    idx
}

/// Names of the blobs in a store.
pub fn blob_names(store: &Store) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}
