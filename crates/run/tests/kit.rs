//! scripts/boot-kit.sh and `kit_status`: the kit is reproducible (two runs in different
//! environments give the same bytes), its archives read back with cpio and tar, and
//! `kit_status` tells a kit from placeholders and reads the kernel release that the initramfs's
//! module directory also names.

mod fixture;

use evebuild_run::kit::{KIT_FILES, KIT_KERNEL};
use evebuild_run::{KitStatus, kit_status};
use fixture::{example, require_kit, tool};
use std::path::{Path, PathBuf};
use std::process::Command;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/boot-kit.sh")
}

/// A copy of the example (with whatever kit it has) in a fresh directory.
fn example_copy(dir: &Path) -> PathBuf {
    tool(
        Command::new("cp").arg("-a").arg(example()).arg(dir),
        "coreutils",
    );
    dir.join("hello-eve")
}

/// `scripts/boot-kit.sh --clean` on `project`.
fn clean_kit(project: &Path) {
    tool(
        Command::new("bash")
            .arg(script())
            .arg("--clean")
            .arg("--project")
            .arg(project),
        "bash",
    );
}

fn output(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn boot_kit_is_reproducible_and_readable() {
    require_kit();
    let tmp = tempfile::tempdir().unwrap();
    let mut kits = Vec::new();
    for (n, (tz, umask)) in [("UTC", "022"), ("Pacific/Auckland", "077")]
        .iter()
        .enumerate()
    {
        let dir = tmp.path().join(format!("run{n}"));
        std::fs::create_dir(&dir).unwrap();
        let project = example_copy(&dir);
        clean_kit(&project);
        tool(
            Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "umask {umask} && exec bash \"$0\" --project \"$1\""
                ))
                .arg(script())
                .arg(&project)
                .env("TZ", tz)
                .env_remove("SOURCE_DATE_EPOCH"),
            "apt (apt-get download), dpkg, cpio",
        );
        kits.push(project);
    }
    for f in KIT_FILES {
        let a = std::fs::read(kits[0].join(f)).unwrap();
        let b = std::fs::read(kits[1].join(f)).unwrap();
        assert!(a == b, "{f} differs between two boot-kit.sh runs");
    }
    let k = &kits[0];
    // The initramfs is a gzip'd newc cpio with sorted names, root-owned, one time stamp.
    let listing = output(Command::new("sh").arg("-c").arg(format!(
        "zcat '{}' | cpio -itv --quiet",
        k.join("pkg/kernel/kit/initrd.img").display()
    )));
    let names: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.split_whitespace().nth(8))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "cpio entries are not in sorted order");
    for must in ["init", "bin/busybox", "etc/initrd-modules"] {
        assert!(names.contains(&must), "initrd.img has no {must}: {listing}");
    }
    let dates: std::collections::BTreeSet<String> = listing
        .lines()
        .map(|l| {
            l.split_whitespace()
                .skip(5)
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        dates.len(),
        1,
        "more than one time stamp in initrd.img: {dates:?}"
    );
    assert!(listing.lines().all(|l| l.contains(" root "))); // owner and group
    // kernel.tar puts the same initramfs at boot/initrd.img.
    let tar = output(
        Command::new("tar")
            .arg("-tf")
            .arg(k.join("pkg/kernel/kit/kernel.tar")),
    );
    assert_eq!(
        tar.lines().collect::<Vec<_>>(),
        ["boot/", "boot/initrd.img"]
    );
    let bytes = Command::new("tar")
        .arg("-xOf")
        .arg(k.join("pkg/kernel/kit/kernel.tar"))
        .arg("boot/initrd.img")
        .output()
        .unwrap()
        .stdout;
    assert!(bytes == std::fs::read(k.join("pkg/kernel/kit/initrd.img")).unwrap());
    // bin/sh runs busybox.
    assert_eq!(
        std::fs::read_link(k.join("pkg/dom0-ztools/kit/bin/sh")).unwrap(),
        Path::new("busybox")
    );
}

#[test]
fn kit_status_reads_the_kernel_release() {
    require_kit();
    let KitStatus::Real { kernel_version } = kit_status(&example()) else {
        unreachable!("require_kit checked it")
    };
    // The initramfs carries the modules of the same kernel under lib/modules/<release>/.
    let listing = output(Command::new("sh").arg("-c").arg(format!(
        "zcat '{}' | cpio -it --quiet",
        example().join("pkg/kernel/kit/initrd.img").display()
    )));
    let release = listing
        .lines()
        .find_map(|l| l.strip_prefix("lib/modules/"))
        .and_then(|r| r.split('/').next())
        .expect("initrd.img has lib/modules/<release>");
    assert_eq!(kernel_version, release);
}

#[test]
fn kit_status_tells_placeholders_and_broken_kits() {
    let tmp = tempfile::tempdir().unwrap();
    let project = example_copy(tmp.path());
    clean_kit(&project);
    for f in KIT_FILES {
        assert!(!project.join(f).exists(), "--clean left {f}");
    }
    assert_eq!(kit_status(&project), KitStatus::Placeholder);
    // The placeholder kernel in the kit's place: not a bzImage, and the rest is missing.
    std::fs::copy(
        project.join("pkg/kernel/placeholder/kernel"),
        project.join(KIT_KERNEL),
    )
    .unwrap();
    let KitStatus::Incomplete { problems } = kit_status(&project) else {
        panic!("a kit of one placeholder file is incomplete")
    };
    let all = problems.join("\n");
    assert!(
        all.contains("pkg/kernel/kit/kernel: not a Linux bzImage"),
        "{all}"
    );
    assert!(
        all.contains("pkg/grub/kit/EFI/BOOT/BOOTX64.EFI is missing"),
        "{all}"
    );
}
