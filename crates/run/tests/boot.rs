//! Real boots under QEMU/OVMF with TCG: the bundled example's boot kit, EVE's ESP stub and
//! ISO stub (evebuild-eve's grub module), the rootfs grub.cfg, the initramfs and the rootfs
//! init, on images assembled by the reference tools (see fixture/). These are the oracle for
//! all of them; `verify_boot` must see the marker — and must not see it where the image is
//! broken. Boots run one at a time (they share two cores); each takes 10–20 s.

mod fixture;

use evebuild_run::qemu::{OVMF_CODE, OVMF_VARS};
use evebuild_run::{
    Accel, BootReport, DiskBus, Firmware, RunOptions, Verdict, resolve_accel, verify_boot,
};
use fixture::*;
use regex::Regex;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The boot budget the project promises under TCG.
const TIMEOUT: Duration = Duration::from_secs(60);

/// One boot at a time.
static BOOTS: Mutex<()> = Mutex::new(());

/// Test images, built once per test run under the target directory (kept for inspection,
/// with their boot logs), all before the first boot so that no build competes with a boot.
struct Images {
    dir: PathBuf,
    live_qcow2: PathBuf,
    zeroed_imga: PathBuf,
    no_motd: PathBuf,
    no_initrd: PathBuf,
    installer_raw: PathBuf,
    installer_iso: PathBuf,
    iso_stub_disk: PathBuf,
    esp_only: PathBuf,
    imga_only: PathBuf,
}

fn images() -> &'static Images {
    static IMAGES: OnceLock<Images> = OnceLock::new();
    IMAGES.get_or_init(|| {
        require_kit();
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("boot-tests");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tree = dir.join("rootfs");
        rootfs_tree(
            &tree,
            &RootfsSpec {
                motd: true,
                initrd: true,
            },
        );
        let squash = dir.join("rootfs.img");
        squashfs(&tree, &squash, "xz");
        let live_raw = dir.join("live.raw");
        live_disk(&dir, &squash, &live_raw);

        let live_qcow2 = dir.join("live.qcow2");
        tool(
            Command::new("qemu-img")
                .args(["convert", "-c", "-f", "raw", "-O", "qcow2"])
                .arg(&live_raw)
                .arg(&live_qcow2),
            "qemu-utils",
        );
        let zeroed_imga = dir.join("zeroed-imga.raw");
        std::fs::copy(&live_raw, &zeroed_imga).unwrap();
        zero_partition(&zeroed_imga, 2);

        // Variants of the live disk, each in its own directory.
        let variant = |name: &str, spec: RootfsSpec| {
            let d = dir.join(name);
            std::fs::create_dir_all(&d).unwrap();
            rootfs_tree(&d.join("rootfs"), &spec);
            squashfs(&d.join("rootfs"), &d.join("rootfs.img"), "gzip");
            live_disk(&d, &d.join("rootfs.img"), &d.join("live.raw"));
            d.join("live.raw")
        };
        let no_motd = variant(
            "no-motd",
            RootfsSpec {
                motd: false,
                initrd: true,
            },
        );
        let no_initrd = variant(
            "no-initrd",
            RootfsSpec {
                motd: true,
                initrd: false,
            },
        );

        let installer_raw = dir.join("installer.raw");
        installer_disk(&dir, &squash, &installer_raw);
        let installer_iso = dir.join("installer.iso");
        installer_iso_image(&dir, &tree, &squash, &installer_iso);
        let iso_stub = dir.join("iso-stub.raw");
        iso_stub_disk(&installer_iso, &iso_stub);
        // The ESP and the rootfs on two different disks.
        let esp_only = dir.join("esp-only.raw");
        let esp = esp(&dir);
        gpt_disk(&esp_only, &[Part::esp(&esp)]);
        let imga_only = dir.join("imga-only.raw");
        gpt_disk(&imga_only, &[Part::rootfs(2, "IMGA", IMGA_GUID, &squash)]);
        Images {
            dir,
            live_qcow2,
            zeroed_imga,
            no_motd,
            no_initrd,
            installer_raw,
            installer_iso,
            iso_stub_disk: iso_stub,
            esp_only,
            imga_only,
        }
    })
}

fn tcg() -> RunOptions {
    RunOptions {
        accel: Accel::Tcg,
        memory_mib: 1024,
        network: false,
        ..RunOptions::default()
    }
}

fn boot(image: &Path, expect: &str, opts: &RunOptions) -> BootReport {
    let _one = BOOTS.lock().unwrap_or_else(|p| p.into_inner());
    let report = verify_boot(image, &Regex::new(expect).unwrap(), TIMEOUT, opts)
        .unwrap_or_else(|e| panic!("{}: {e}", image.display()));
    eprintln!("{}: {}", image.display(), report.verdict);
    report
}

fn log_of(report: &BootReport) -> String {
    std::fs::read_to_string(&report.log).unwrap()
}

#[test]
fn live_qcow2_boots_to_the_marker_with_a_tpm() {
    let im = images();
    let report = boot(
        &im.live_qcow2,
        "^EVEBUILD-BOOT-(OK|FAIL) ",
        &RunOptions { tpm: true, ..tcg() },
    );
    let log = log_of(&report);
    match &report.verdict {
        Verdict::Matched { line, seconds } => {
            assert_eq!(line, &format!("EVEBUILD-BOOT-OK live {VERSION}"), "{log}");
            assert!(*seconds < TIMEOUT.as_secs_f64());
        }
        other => panic!("{other}\n{log}"),
    }
    assert_eq!(report.log, im.dir.join("live.qcow2.boot.log"));
    assert!(!im.dir.join("live.qcow2.boot.log.partial").exists());
    // The stock-GRUB path of the stub found IMGA; the kernel saw the software TPM.
    assert!(
        log.contains("EVE: booting rootfs partition hd0,gpt2"),
        "{log}"
    );
    assert!(log.contains("tpm_tis"), "no TPM in the kernel log:\n{log}");
    assert!(log.contains("initrd: root device is /dev/vda2"), "{log}");
}

#[test]
fn a_disk_whose_imga_is_zeroed_does_not_boot() {
    let report = boot(&images().zeroed_imga, "^EVEBUILD-BOOT-OK", &tcg());
    assert!(!report.verdict.is_match(), "{}", report.verdict);
    let log = log_of(&report);
    assert!(
        log.contains("EVE: cannot boot /EFI/BOOT/BOOTX64.EFI"),
        "{log}"
    );
}

#[test]
fn a_rootfs_without_the_files_section_entry_is_reported() {
    // On SATA this time: the initramfs must find the root on /dev/sda2.
    let report = boot(
        &images().no_motd,
        "^EVEBUILD-BOOT-OK",
        &RunOptions {
            bus: DiskBus::Ahci,
            ..tcg()
        },
    );
    let log = log_of(&report);
    assert!(
        matches!(report.verdict, Verdict::Exited { code: Some(0), .. }),
        "expected the VM to report the missing file and power off: {}\n{log}",
        report.verdict
    );
    assert!(
        log.lines()
            .any(|l| l.ends_with(" EVEBUILD-BOOT-FAIL live missing: /etc/hello-eve/motd")),
        "{log}"
    );
    assert!(log.contains("initrd: root device is /dev/sda2"), "{log}");
}

#[test]
fn a_kernel_that_cannot_mount_its_root_panics() {
    // Without the initramfs the kernel has no disk driver (virtio_blk is a module).
    let report = boot(&images().no_initrd, "^EVEBUILD-BOOT-OK", &tcg());
    match &report.verdict {
        Verdict::Panic { line, .. } => {
            assert!(line.contains("VFS: Unable to mount root fs"), "{line}")
        }
        other => panic!("expected a kernel panic: {other}\n{}", log_of(&report)),
    }
}

#[test]
fn installer_raw_boots_to_the_installer_marker() {
    // With OVMF as pflash code + variable store this time.
    let report = boot(
        &images().installer_raw,
        "^EVEBUILD-BOOT-(OK|FAIL) ",
        &RunOptions {
            firmware: Some(Firmware::Pflash {
                code: OVMF_CODE.into(),
                vars: OVMF_VARS.into(),
            }),
            ..tcg()
        },
    );
    let line = match &report.verdict {
        Verdict::Matched { line, .. } => line.clone(),
        other => panic!("{other}\n{}", log_of(&report)),
    };
    assert_eq!(line, format!("EVEBUILD-BOOT-OK installer {VERSION}"));
}

#[test]
fn installer_iso_boots_to_the_installer_marker() {
    let report = boot(&images().installer_iso, "^EVEBUILD-BOOT-(OK|FAIL) ", &tcg());
    let log = log_of(&report);
    match &report.verdict {
        Verdict::Matched { line, .. } => {
            assert_eq!(
                line,
                &format!("EVEBUILD-BOOT-OK installer {VERSION}"),
                "{log}"
            )
        }
        other => panic!("{other}\n{log}"),
    }
    assert!(
        log.contains("root=LABEL=EVEISO rootimg=/rootfs_installer.img"),
        "{log}"
    );
}

#[test]
fn the_iso_stub_finds_the_installer_volume_by_label() {
    // Only up to GRUB handing the kernel its root: the rest is the ISO boot above.
    let report = boot(
        &images().iso_stub_disk,
        "^Booting /boot/kernel root=LABEL=EVEISO rootimg=/rootfs_installer.img",
        &tcg(),
    );
    let log = log_of(&report);
    assert!(report.verdict.is_match(), "{}\n{log}", report.verdict);
    assert!(log.contains("EVE: installer ISO on (hd0,gpt2)"), "{log}");
}

#[test]
fn the_stub_looks_on_other_disks_when_its_own_has_no_rootfs() {
    // Only up to the stub's choice: the chain after it is the live boot above.
    let im = images();
    let report = boot(
        &im.esp_only,
        "^EVE: booting rootfs partition hd[1-9],gpt2 ",
        &RunOptions {
            extra_disks: vec![im.imga_only.clone()],
            ..tcg()
        },
    );
    assert!(
        report.verdict.is_match(),
        "{}\n{}",
        report.verdict,
        log_of(&report)
    );
}

#[test]
fn auto_acceleration_says_why_it_falls_back() {
    let fw = Firmware::find(None).unwrap();
    let choice = resolve_accel(
        Accel::Auto,
        Path::new("qemu-system-x86_64"),
        fw.probe_image(),
    )
    .unwrap();
    match choice.accel {
        Accel::Tcg => {
            let note = choice.note.expect("a fallback to TCG says why");
            assert!(note.contains("KVM"), "{note}");
            if !Path::new("/dev/kvm").exists() {
                assert!(note.contains("/dev/kvm"), "{note}");
            }
        }
        Accel::Kvm => assert_eq!(choice.note, None),
        Accel::Auto => panic!("auto must resolve"),
    }
}
