//! `evebuild diff` between builds of the example: identical sources give no difference (the
//! version files differ and are ignored), a one-file package change gives exactly that file,
//! and kernel modules signed with another key (and a kernel embedding another certificate)
//! compare equal once signatures and certificates are normalised away, although the images
//! differ byte for byte. An ext4 rootfs.img reads like the squashfs of the same rootfs.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

/// Builds the rootfs at `version`; returns its output directory.
fn build(p: &Project, version: &str) -> PathBuf {
    p.run(&[&format!("ROOTFS_VERSION={version}"), "rootfs", "rootfs.tar"]);
    p.dist(version)
}

fn diff(p: &Project, args: &[&str]) -> (i32, Vec<String>, String) {
    let out = p.evebuild().arg("diff").args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn identical_builds_then_one_changed_file() {
    let p = Project::new();
    let one = build(&p, "1.0.0");
    let two = build(&p, "1.0.1");
    // Different versions: eve-release and the metadata differ, and are ignored.
    assert_ne!(
        sha256sum(&one.join("installer/rootfs.img")),
        sha256sum(&two.join("installer/rootfs.img"))
    );
    for args in [vec![s(&one), s(&two)], vec!["--content", s(&one), s(&two)]] {
        let (code, lines, err) = diff(&p, &args);
        assert_eq!((code, &lines), (0, &vec![]), "diff {args:?}: {err}");
    }
    // The image against the tar of the same assembly: only the GRUB environment block the
    // filesystem images add (rootfs.tar stays linuxkit's).
    let (code, lines, err) = diff(
        &p,
        &[
            one.join("installer/rootfs.img").to_str().unwrap(),
            two.join("rootfs-generic.tar").to_str().unwrap(),
        ],
    );
    assert_eq!(
        (code, lines),
        (1, vec!["- /boot/cmdline.env".to_string()]),
        "{err}"
    );

    p.write("pkg/debug/bin/debug-service", "#!/bin/sh\necho changed\n");
    p.commit("one file changed");
    let three = build(&p, "1.0.2");
    let (code, lines, err) = diff(&p, &[s(&two), s(&three)]);
    assert_eq!(
        (code, lines),
        (
            1,
            vec!["M /containers/services/debug/lower/usr/bin/debug-service (content)".to_string()]
        ),
        "{err}"
    );
    // A mode change shows in the strict comparison only.
    let script = p.root.join("pkg/debug/bin/debug-service");
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&script, fs::Permissions::from_mode(0o644)).unwrap();
    p.commit("mode changed");
    let four = build(&p, "1.0.3");
    let (code, lines, _) = diff(&p, &[s(&three), s(&four)]);
    assert_eq!(code, 1);
    assert_eq!(
        lines,
        ["M /containers/services/debug/lower/usr/bin/debug-service (mode)"]
    );
    assert_eq!(diff(&p, &["--content", s(&three), s(&four)]).0, 0);

    // Errors: exit status 2 with the reason.
    let (code, _, err) = diff(&p, &[s(&three), s(&p.root.join("images/rootfs.yml.in"))]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a squashfs or ext4 image"), "{err}");
}

/// A DER-shaped certificate whose bytes depend on `seed`.
fn certificate(seed: u8) -> Vec<u8> {
    let mut c = vec![0x30, 0x82, 0x01, 0x00];
    c.extend((0..0x100).map(|i: u32| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    c
}

/// A module with an appended PKCS#7 signature of `len` bytes (the layout sign-file writes).
fn signed_module(body: &[u8], seed: u8, len: usize) -> Vec<u8> {
    let mut m = body.to_vec();
    m.extend((0..len).map(|i| (i as u8) ^ seed));
    m.extend_from_slice(&[0, 0, 2, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&(len as u32).to_be_bytes());
    m.extend_from_slice(b"~Module signature appended~\n");
    m
}

/// Makes pkg/kernel's kernel.tar from `staging`/lib (reproducibly, with GNU tar).
fn pack_modules(p: &Project, staging: &Path) {
    let tar = p.root.join("pkg/kernel/placeholder/kernel.tar");
    let args = [
        "--sort=name",
        "--mtime=@1700000000",
        "--owner=0",
        "--group=0",
    ];
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["-C", s(staging), "-cf", s(&tar), "lib"]);
    tool_ok("tar", &all);
}

/// Puts a kernel embedding certificate `seed` and modules signed with it into pkg/kernel.
fn sign_kernel(p: &Project, seed: u8, sig_len: usize) {
    let staging = p.tmp.path().join(format!("kernel-{seed}"));
    let kver = staging.join("lib/modules/6.1.0-hello-eve");
    let body = b"\x7fELF\x02\x01\x01 a module body, the same in every build";
    fs::create_dir_all(kver.join("kernel/drivers")).unwrap();
    fs::write(kver.join("modules.order"), "kernel/drivers/a.ko\n").unwrap();
    fs::write(kver.join("signing_key.x509"), certificate(seed)).unwrap();
    fs::write(
        kver.join("kernel/drivers/a.ko"),
        signed_module(body, seed, sig_len),
    )
    .unwrap();
    let b = kver.join("kernel/drivers/b.ko");
    fs::write(&b, signed_module(body, seed, sig_len + 7)).unwrap();
    tool_ok("xz", &["-f", s(&b)]);
    pack_modules(p, &staging);
    let mut kernel = b"an uncompressed kernel image; its built-in keyring: ".to_vec();
    kernel.extend_from_slice(&certificate(seed));
    kernel.extend_from_slice(b"; the rest of the kernel");
    p.write("pkg/kernel/placeholder/kernel", kernel);
    p.commit(&format!("kernel signed with key {seed}"));
}

#[test]
fn module_signatures_and_kernel_key_are_normalised_away() {
    let p = Project::new();
    sign_kernel(&p, 1, 300);
    let one = build(&p, "2.0.0");
    sign_kernel(&p, 2, 310);
    let two = build(&p, "2.0.0-resigned");
    // The modules and the kernel really differ …
    let listing = |d: &Path| {
        tool_ok(
            "unsquashfs",
            &["-lls", "-d", "", s(&d.join("installer/rootfs.img"))],
        )
    };
    let sizes = |d: &Path| -> Vec<String> {
        listing(d)
            .lines()
            .filter(|l| l.contains(".ko"))
            .map(String::from)
            .collect()
    };
    assert_ne!(
        sizes(&one),
        sizes(&two),
        "the signatures have other lengths"
    );
    // … and compare equal after normalisation, in both modes.
    for mode in [None, Some("--content")] {
        let mut args: Vec<&str> = mode.into_iter().collect();
        args.extend([s(&one), s(&two)]);
        let (code, lines, err) = diff(&p, &args);
        assert_eq!((code, lines), (0, vec![]), "diff {args:?}: {err}");
    }
    // A change in a module's code is still found.
    let staging = p
        .tmp
        .path()
        .join("kernel-2/lib/modules/6.1.0-hello-eve/kernel/drivers/a.ko");
    let mut m = fs::read(&staging).unwrap();
    m[8] ^= 0xff;
    fs::write(&staging, m).unwrap();
    pack_modules(&p, &p.tmp.path().join("kernel-2"));
    p.commit("module changed");
    let three = build(&p, "2.0.0-patched");
    let (code, lines, _) = diff(&p, &[s(&two), s(&three)]);
    assert_eq!(
        (code, lines),
        (
            1,
            vec!["M /lib/modules/6.1.0-hello-eve/kernel/drivers/a.ko (content)".to_string()]
        )
    );
}

#[test]
fn ext4_images_read_like_the_squashfs_of_the_same_rootfs() {
    let p = Project::new();
    p.run(&["ROOTFS_VERSION=1.0.0", "rootfs"]);
    p.run(&["ROOTFS_VERSION=1.0.1", "ROOTFS_FORMAT=ext4", "rootfs"]);
    let squash = p.dist("1.0.0").join("installer/rootfs.img");
    let ext4 = p.dist("1.0.1").join("installer/rootfs.img");
    // Two writers, two readers, one rootfs: no difference (lost+found is mke2fs's, not the
    // rootfs's); what ext4-view cannot read is named, not silently equal.
    let (code, lines, err) = diff(&p, &[s(&squash), s(&ext4)]);
    assert_eq!((code, &lines), (0, &vec![]), "{err}");
    assert!(
        err.contains("not compared (device numbers, xattrs)"),
        "{err}"
    );

    p.write("pkg/debug/bin/debug-service", "#!/bin/sh\necho changed\n");
    p.commit("one file changed");
    p.run(&["ROOTFS_VERSION=1.0.2", "ROOTFS_FORMAT=ext4", "rootfs"]);
    let changed = p.dist("1.0.2").join("installer/rootfs.img");
    let (code, lines, err) = diff(&p, &[s(&ext4), s(&changed)]);
    assert_eq!(
        (code, lines),
        (
            1,
            vec!["M /containers/services/debug/lower/usr/bin/debug-service (content)".to_string()]
        ),
        "{err}"
    );
}
