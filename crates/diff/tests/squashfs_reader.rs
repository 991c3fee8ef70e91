//! The squashfs reader against images made by mksquashfs (squashfs-tools, the reference
//! writer) from a host tree with files of several sizes (blocks, fragments, sparse), a
//! symlink, a hard link, a fifo, xattrs and odd modes: read back, the image and the tree
//! compare equal in the strict mode, for each compressor.

use evebuild_diff::{Mode, compare};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn run(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!(
            "{cmd} is needed ({e}): run ./scripts/install-test-deps.sh (Debian package \
             squashfs-tools / attr / coreutils)"
        )
    });
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn tree(root: &Path) {
    fs::create_dir_all(root.join("etc/deep/er")).unwrap();
    fs::write(root.join("etc/small"), "a fragment\n").unwrap();
    let big: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(root.join("etc/deep/big"), &big).unwrap();
    fs::write(root.join("etc/deep/er/empty"), "").unwrap();
    let sparse = root.join("sparse");
    fs::File::create(&sparse)
        .unwrap()
        .set_len(3 * 131_072 + 17)
        .unwrap();
    std::os::unix::fs::symlink("../etc/small", root.join("etc/deep/link")).unwrap();
    fs::hard_link(root.join("etc/small"), root.join("hard")).unwrap();
    run("mkfifo", &[root.join("fifo").to_str().unwrap()]);
    fs::set_permissions(root.join("etc/small"), fs::Permissions::from_mode(0o4751)).unwrap();
    run(
        "setfattr",
        &[
            "-n",
            "user.evebuild",
            "-v",
            "yes",
            root.join("etc/deep/big").to_str().unwrap(),
        ],
    );
}

#[test]
fn mksquashfs_images_read_back_as_the_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    tree(&root);
    for comp in ["gzip", "xz", "zstd", "lz4"] {
        let img = dir.path().join(format!("{comp}.img"));
        run(
            "mksquashfs",
            &[
                root.to_str().unwrap(),
                img.to_str().unwrap(),
                "-comp",
                comp,
                "-noappend",
                "-quiet",
                "-no-progress",
            ],
        );
        let (d, unread) = compare(&root, &img, Mode::Strict).unwrap();
        assert!(unread.is_empty(), "{unread:?}");
        assert!(d.is_empty(), "{comp}: {d:?}");
    }
    // And real differences are seen through the image.
    fs::write(root.join("etc/deep/er/empty"), "now not").unwrap();
    run(
        "setfattr",
        &[
            "-n",
            "user.evebuild",
            "-v",
            "no",
            root.join("etc/deep/big").to_str().unwrap(),
        ],
    );
    let (d, _) = compare(&root, &dir.path().join("xz.img"), Mode::Strict).unwrap();
    assert_eq!(
        d.iter().map(|d| d.to_string()).collect::<Vec<_>>(),
        ["M /etc/deep/big (xattrs)", "M /etc/deep/er/empty (content)"]
    );
}
