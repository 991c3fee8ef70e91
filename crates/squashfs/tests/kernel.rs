//! The Linux kernel reads our image: a loop mount (needs root and loop devices, as on the
//! project's machines) shows exactly the tree that went in, looks up each of 3,000 names in
//! one directory through the directory index, and reports the link counts and xattrs we wrote.

mod common;

use common::*;
use std::process::Command;

struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn the_kernel_mounts_and_reads_the_image() {
    let tree = sample_tree();
    let opts = options();
    let dir = tempfile::tempdir().unwrap();
    let (img, _) = build(&tree, opts.clone());
    let path = dir.path().join("k.img");
    std::fs::write(&path, &img).unwrap();
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let out = Command::new("mount")
        .args(["-t", "squashfs", "-o", "loop,ro"])
        .arg(&path)
        .arg(&mnt)
        .output()
        .expect("mount (util-linux) is missing");
    assert!(
        out.status.success(),
        "loop-mounting the image failed (this test needs root, loop devices and the squashfs \
         module): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _guard = Mounted(mnt.clone());
    // First, before anything is cached, lookups by name: every name in the big directory, and names that are not
    // there, between and beyond the real ones.
    for i in (0..3000).rev() {
        assert!(
            mnt.join(format!("many/entry-{i:05}"))
                .symlink_metadata()
                .is_ok(),
            "entry {i}"
        );
    }
    for absent in ["entry-", "entry-00000a", "entry-02999z", "zzz", "a"] {
        assert!(
            mnt.join("many").join(absent).symlink_metadata().is_err(),
            "{absent}"
        );
    }
    assert_same("kernel mount", &snapshot(&mnt), &expected(&tree, &opts));
}
