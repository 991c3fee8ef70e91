//! Boot truth: the example built with the boot kit boots under QEMU + OVMF (TCG) through
//! EVE's chain — ESP stub → GRUB inside IMGA → kernel with root=PARTUUID → squashfs root →
//! the init that checks what the build put there — and `verify-boot` says so; the live and
//! installer disks also boot from a legacy BIOS (SeaBIOS) through the MBR's GRUB; a disk whose IMGA was
//! zeroed, or a rootfs without the files-section entry the marker checks, fails.

mod common;

use common::*;
use std::fs;

const MARKER: &str = "^EVEBUILD-BOOT-OK live ";

fn verify(p: &Project, image: &std::path::Path) -> Run {
    verify_with(p, image, &["--timeout", "150"])
}

fn verify_with(p: &Project, image: &std::path::Path, flags: &[&str]) -> Run {
    Run {
        out: p
            .evebuild()
            .args(["verify-boot", "--accel", "tcg", "--expect", MARKER])
            .args(flags)
            .arg(image)
            .output()
            .unwrap(),
    }
}

#[test]
fn live_qcow2_boots_to_the_marker() {
    let p = Project::with_boot_kit();
    let build = p.run(&["ROOTFS_VERSION=0.0.0-test", "live", "live-raw"]);
    assert!(
        build.stderr().contains("boot kit: real"),
        "{}",
        build.text()
    );
    let dist = p.dist("0.0.0-test");
    let r = verify(&p, &dist.join("live.qcow2"));
    assert!(r.ok(), "{}", r.text());
    assert!(
        r.stdout()
            .contains("EVEBUILD-BOOT-OK live 0.0.0-test-kvm-amd64"),
        "{}",
        r.text()
    );
    assert!(dist.join("live.qcow2.boot.log").is_file());

    // Legacy BIOS: SeaBIOS runs the MBR's GRUB boot code, which loads BOOT.pc from sector 34,
    // which finds the ESP and, through its stub, IMGA's grub.cfg.
    let raw = dist.join("live.raw");
    let r = verify_with(&p, &raw, &["--legacy-bios", "--timeout", "150"]);
    assert!(r.ok(), "legacy BIOS:\n{}", r.text());
    let log = fs::read_to_string(dist.join("live.raw.boot.log")).unwrap();
    assert!(log.contains("-bios /usr/share/seabios/"), "{log}");
    // ... and only through that boot code: without it SeaBIOS finds nothing to boot.
    let bare = dist.join("live-no-mbr-code.raw");
    fs::copy(&raw, &bare).unwrap();
    let f = fs::OpenOptions::new().write(true).open(&bare).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&[0u8; 446], 0).unwrap();
    let r = verify_with(&p, &bare, &["--legacy-bios", "--timeout", "30"]);
    assert!(
        !r.ok(),
        "a disk without MBR boot code booted:\n{}",
        r.text()
    );
    fs::remove_file(&bare).unwrap();

    // The same disk with IMGA zeroed does not boot.
    let (off, len) = partition(&raw, 2);
    let f = fs::OpenOptions::new().write(true).open(&raw).unwrap();
    f.write_all_at(&vec![0u8; len as usize], off).unwrap();
    let r = verify(&p, &raw);
    assert!(!r.ok(), "a disk without a rootfs booted:\n{}", r.text());
}

#[test]
fn a_rootfs_without_the_checked_files_entry_fails_the_boot_check() {
    let p = Project::with_boot_kit();
    let yml = fs::read_to_string(p.root.join("images/rootfs.yml.in")).unwrap();
    let start = yml.find("  - path: /etc/hello-eve/motd").unwrap();
    let end =
        yml[start..].find("    mode: \"0644\"\n").unwrap() + start + "    mode: \"0644\"\n".len();
    p.write(
        "images/rootfs.yml.in",
        format!("{}{}", &yml[..start], &yml[end..]),
    );
    p.commit("no motd");
    p.run(&["ROOTFS_VERSION=0.0.0-test", "live"]);
    let r = verify(&p, &p.dist("0.0.0-test").join("live.qcow2"));
    assert!(!r.ok(), "{}", r.text());
    let log = fs::read_to_string(p.dist("0.0.0-test").join("live.qcow2.boot.log")).unwrap();
    assert!(
        log.contains("EVEBUILD-BOOT-FAIL") && log.contains("motd"),
        "{log}"
    );
}

#[test]
fn installer_raw_and_iso_boot_to_the_installer_marker() {
    let p = Project::with_boot_kit();
    p.run(&["ROOTFS_VERSION=0.0.0-test", "installer", "installer-iso"]);
    let dist = p.dist("0.0.0-test");
    // installer.raw also from a legacy BIOS (its MBR carries GRUB's boot code too).
    for (image, firmware) in [
        ("installer.raw", None),
        ("installer.iso", None),
        ("installer.raw", Some("--legacy-bios")),
    ] {
        let r = Run {
            out: p
                .evebuild()
                .args(["verify-boot", "--accel", "tcg", "--timeout", "150"])
                .args(["--expect", "^EVEBUILD-BOOT-OK installer "])
                .args(firmware)
                .arg(dist.join(image))
                .output()
                .unwrap(),
        };
        assert!(r.ok(), "{image} {firmware:?}:\n{}", r.text());
        assert!(
            r.stdout()
                .contains("EVEBUILD-BOOT-OK installer 0.0.0-test-kvm-amd64"),
            "{}",
            r.text()
        );
    }
}
