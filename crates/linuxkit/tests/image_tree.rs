//! The flattened filesystem of one image (`flatten::image_tree`: `cache export --format
//! filesystem`, the ESP's files) against umoci's unpack of the same image from the store,
//! which applies whiteouts by the OCI image spec: the same paths, the same bytes.

mod common;
use common::*;
use evebuild_linuxkit::flatten::image_tree;
use evebuild_oci::{Platform, Reference};
use evebuild_tree::tar::TarSink;
use std::collections::BTreeMap;
use std::path::Path;

/// Every path below `root` with its bytes (`None` for a directory).
fn contents(root: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                stack.push(p.clone());
                out.insert(rel, None);
            } else {
                out.insert(rel, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

#[test]
fn image_tree_applies_whiteouts_like_umoci() {
    let f = Fixture::new();
    f.image(
        "test/wh:1",
        &[
            layer(&[
                E::File("a/x", b"x"),
                E::File("a/y", b"y"),
                E::File("b/z", b"z"),
                E::File("c/old", b"old"),
                E::File("d/keep", b"k"),
                E::File("e/f", b"f"),
            ]),
            layer(&[
                E::File("a/.wh.x", b""),
                E::File("c/new", b"new"),
                E::File("c/.wh..wh..opq", b""),
                E::File("b", b"now a file"),
                E::File("d/keep", b"k2"),
                E::Link("e/g", "e/f"),
            ]),
        ],
        Cfg::default(),
    );
    let reference = Reference::parse("test/wh:1").unwrap();
    let image = f
        .store
        .resolve(&reference, &Platform::linux("amd64"))
        .unwrap();
    let mut sink = TarSink::new(Vec::new());
    image_tree(&f.store, &image, &mut sink).unwrap();
    let tar = sink.finish().unwrap();
    assert!(!tar_names(&tar).iter().any(|n| n.contains(".wh.")));
    let ours = extract(&tar);
    let (_bundle, theirs) = umoci_unpack(f.store.root(), &reference.to_string());
    let ours = contents(&ours.path().join("root"));
    assert_eq!(ours, contents(&theirs));
    assert_eq!(ours["d/keep"].as_deref(), Some(&b"k2"[..]));
}
