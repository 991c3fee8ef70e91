//! The installer targets end to end: `evebuild installer installer-qcow2 installer-iso
//! installer.tar` on the bundled example, every artifact read back by the tool the world reads
//! it with (unsquashfs, bsdtar, sgdisk, fsck.fat and mtools, qemu-img, xorriso), built twice
//! for byte-identical results, and the EVE 17 layout against make-raw's golden GPT.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

const VERSION: &str = "0.0.0-test";

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Builds `targets` into `dist`; returns the version's directory.
fn build(p: &Project, dist: &Path, extra: &[&str], targets: &[&str]) -> PathBuf {
    let mut args = vec!["ROOTFS_VERSION=0.0.0-test", "--dist", s(dist)];
    args.extend(extra);
    args.extend(targets);
    p.run(&args);
    dist.join("amd64").join(VERSION)
}

const ARTIFACTS: [&str; 5] = [
    "installer/installer.img",
    "installer.tar",
    "installer.raw",
    "installer.qcow2",
    "installer.iso",
];

/// `sgdisk -i N` as its lines.
fn sgdisk_info(image: &Path, n: u32) -> Vec<String> {
    tool_ok("sgdisk", &["-i", &n.to_string(), s(image)])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

fn field<'a>(info: &'a [String], name: &str) -> &'a str {
    info.iter()
        .find_map(|l| l.strip_prefix(name))
        .unwrap_or_else(|| panic!("no {name} in {info:#?}"))
        .trim()
}

/// Partition `n` of a disk as a new file.
fn partition_file(disk: &Path, n: u32, out: &Path) -> PathBuf {
    let (offset, len) = partition(disk, n);
    extract(disk, offset, len, out);
    out.to_path_buf()
}

/// Whether `part` starts with the bytes of `image`.
fn holds(part: &Path, image: &Path) -> bool {
    let (part, image) = (fs::read(part).unwrap(), fs::read(image).unwrap());
    part.len() >= image.len() && part[..image.len()] == image[..]
}

/// `xorriso -find / -exec lsdl`: path → the line.
fn iso_listing(iso: &Path) -> BTreeMap<String, String> {
    tool_ok(
        "xorriso",
        &["-indev", s(iso), "-find", "/", "-exec", "lsdl"],
    )
    .lines()
    .filter_map(|l| {
        let q = l.find(" '/")?;
        let path = l[q + 2..].split('\'').next()?.to_string();
        Some((path, l.to_string()))
    })
    .collect()
}

fn check_installer_img(build: &Path, tmp: &Path) {
    let img = build.join("installer/installer.img");
    let list = tool_ok("unsquashfs", &["-l", "-d", "", s(&img)]);
    for want in [
        "/rootfs.img",
        "/config.img",
        "/persist.img",
        "/EFI/BOOT/grub_include.cfg",
        "/EFI/BOOT/BOOTX64.EFI",
        "/etc/eve-release",
        "/etc/issue",
        "/boot/kernel",
        "/containers/onboot/000-installer/config.json",
        "/containers/onboot/000-installer/lower/usr/bin/install",
    ] {
        assert!(
            list.lines().any(|l| l == want),
            "{want} missing from installer.img:\n{list}"
        );
    }
    // The bits inside are the live build's, byte for byte.
    let x = tmp.join("installer-img");
    tool_ok("unsquashfs", &["-q", "-n", "-d", s(&x), s(&img)]);
    for name in ["rootfs.img", "config.img", "persist.img"] {
        assert!(
            fs::read(x.join(name)).unwrap()
                == fs::read(build.join("installer").join(name)).unwrap(),
            "{name} inside installer.img differs from installer/{name}"
        );
    }
    assert_eq!(
        fs::read(x.join("EFI/BOOT/grub_include.cfg")).unwrap(),
        fs::read(example_source().join("pkg/eve/installer/grub_installer.cfg")).unwrap()
    );
    // installer.tar holds the same tree.
    let tar = tool_ok("bsdtar", &["-tf", s(&build.join("installer.tar"))]);
    for want in ["rootfs.img", "config.img", "EFI/BOOT/grub_include.cfg"] {
        assert!(
            tar.lines().any(|l| l.trim_start_matches("./") == want),
            "{want}:\n{tar}"
        );
    }
}

fn check_seed_raw_and_qcow2(build: &Path, tmp: &Path) {
    let raw = build.join("installer.raw");
    let v = tool_ok("sgdisk", &["-v", s(&raw)]);
    assert!(v.contains("No problems found"), "sgdisk -v:\n{v}");
    // The seed's installer: efi imga conf_win.
    let table = tool_ok("sgdisk", &["-p", s(&raw)]);
    let numbers: Vec<&str> = table
        .lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(numbers, ["1", "2", "4"], "{table}");
    let esp = sgdisk_info(&raw, 1);
    assert_eq!(field(&esp, "Partition name:"), "'EFI System'");
    assert_eq!(
        field(&esp, "Partition unique GUID:"),
        "AD6871EE-31F9-4CF3-9E09-6F7A25C30051"
    );
    assert_eq!(field(&esp, "Attribute flags:"), "0000000000000004");
    let imga = sgdisk_info(&raw, 2);
    assert_eq!(field(&imga, "Partition name:"), "'IMGA'");
    assert!(
        field(&imga, "Partition GUID code:").starts_with("5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6")
    );
    assert_eq!(field(&imga, "Attribute flags:"), "0102000000000000");
    let conf = sgdisk_info(&raw, 4);
    assert_eq!(field(&conf, "Partition name:"), "'CONFIG'");
    assert!(
        field(&conf, "Partition GUID code:").starts_with("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7")
    );
    // The partitions hold what they should.
    let imga = partition_file(&raw, 2, &tmp.join("imga"));
    assert!(
        holds(&imga, &build.join("installer/installer.img")),
        "IMGA is not installer.img"
    );
    let conf = partition_file(&raw, 4, &tmp.join("conf"));
    assert!(
        holds(&conf, &build.join("installer/config.img")),
        "CONFIG is not config.img"
    );
    let esp = partition_file(&raw, 1, &tmp.join("esp"));
    tool_ok("fsck.fat", &["-n", s(&esp)]);
    let m = |path: &str| tool_ok("mtype", &["-i", s(&esp), path]);
    let uuid = m("::/boot/.uuid");
    assert!(
        uuid.len() == 33 && uuid[..32].bytes().all(|b| b.is_ascii_hexdigit()),
        "{uuid:?}"
    );
    assert_eq!(m("::/boot/.boot_repository"), "");
    assert!(m("::/UsbInvocationScript.txt").contains("usb_one_time_boot usb nolog;"));
    assert!(m("::/EFI/BOOT/grub.cfg").contains("gptprio.next"));
    // installer.qcow2 is the same disk.
    let qcow2 = build.join("installer.qcow2");
    tool_ok("qemu-img", &["check", s(&qcow2)]);
    let cmp = tool_ok(
        "qemu-img",
        &["compare", "-f", "qcow2", "-F", "raw", s(&qcow2), s(&raw)],
    );
    assert!(cmp.contains("Images are identical"), "{cmp}");
}

fn check_iso(build: &Path, tmp: &Path) {
    let iso = build.join("installer.iso");
    let report = tool_ok(
        "xorriso",
        &["-indev", s(&iso), "-report_el_torito", "plain"],
    );
    let entries: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("El Torito boot img :"))
        .collect();
    assert_eq!(entries.len(), 1, "{report}");
    let f: Vec<&str> = entries[0].split_whitespace().collect();
    // El Torito boot img :   1  UEFI  y   none  0x0000  0x00   <ldsiz>  <lba>
    assert_eq!(&f[5..9], ["1", "UEFI", "y", "none"], "{report}");
    let (sectors, lba): (u64, u64) = (f[11].parse().unwrap(), f[12].parse().unwrap());
    let pvd = tool_ok("xorriso", &["-indev", s(&iso), "-pvd_info"]);
    assert!(pvd.contains("Volume Id    : EVEISO"), "{pvd}");
    assert!(pvd.contains("Creation Time: 2023111422132000"), "{pvd}");
    // The tree make-efi makes, in Rock Ridge names; nothing hidden shows.
    let l = iso_listing(&iso);
    for want in [
        "/EFI/BOOT/BOOTX64.EFI",
        "/EFI/BOOT/grub.cfg",
        "/EFI/BOOT/grub_include.cfg",
        "/boot/kernel",
        "/boot/cmdline.env", // what a stock GRUB reads the cmdline from
        "/boot/.boot_repository",
        "/boot/.uuid",
        "/etc/eve-release",
        "/rootfs_installer.img",
    ] {
        assert!(l.contains_key(want), "{want} missing from the ISO:\n{l:#?}");
    }
    assert!(
        !l.keys()
            .any(|k| k.contains("boot.img") || k.contains("boot.catalog"))
    );
    assert!(
        !l.keys()
            .any(|k| k.starts_with("/etc/") && k != "/etc/eve-release"),
        "{l:#?}"
    );
    assert!(
        l["/rootfs_installer.img"].starts_with("-rw-r--r--"),
        "{l:#?}"
    );
    // Files extract byte-identical to their sources.
    let x = tmp.join("iso");
    tool_ok(
        "xorriso",
        &["-osirrox", "on", "-indev", s(&iso), "-extract", "/", s(&x)],
    );
    assert!(
        fs::read(x.join("rootfs_installer.img")).unwrap()
            == fs::read(build.join("installer/installer.img")).unwrap()
    );
    assert_eq!(
        fs::read(x.join("etc/eve-release")).unwrap(),
        fs::read(build.join("installer/eve_version")).unwrap()
    );
    // The El Torito image: a clean FAT with the loader and EVE's ISO stub, sized as make-efi
    // sizes it from the loader.
    let boot = tmp.join("boot.img");
    extract(&iso, lba * 2048, sectors * 512, &boot);
    tool_ok("fsck.fat", &["-n", s(&boot)]);
    let dir = tool_ok("mdir", &["-i", s(&boot), "-b", "::/EFI/BOOT"]);
    for want in ["BOOTX64.EFI", "grub.cfg", "grub_include.cfg"] {
        assert!(dir.contains(want), "{want}:\n{dir}");
    }
    let cfg = tool_ok("mtype", &["-i", s(&boot), "::/EFI/BOOT/grub.cfg"]);
    assert!(cfg.contains("configfile ($dev)/EFI/BOOT/grub.cfg"), "{cfg}");
    assert!(cfg.contains("--label EVEISO"), "{cfg}");
    let loader = fs::metadata(x.join("EFI/BOOT/BOOTX64.EFI")).unwrap().len();
    assert_eq!(sectors * 512, (loader / 1024 + 511) / 32 * 32 * 1024);
    // No hybrid MBR: the system area is empty.
    let mut head = vec![0u8; 32768];
    use std::io::Read;
    fs::File::open(&iso).unwrap().read_exact(&mut head).unwrap();
    assert!(head.iter().all(|&b| b == 0));
}

#[test]
fn installer_targets_read_back_with_real_tools_and_reproduce() {
    let p = Project::new();
    let tmp = p.tmp.path().to_path_buf();
    let targets = [
        "installer",
        "installer-qcow2",
        "installer-iso",
        "installer.tar",
    ];
    let a = build(&p, &tmp.join("dist-a"), &[], &targets);
    check_installer_img(&a, &tmp);
    check_seed_raw_and_qcow2(&a, &tmp);
    check_iso(&a, &tmp);
    // A second build from scratch (same store) gives the same bytes.
    let b = build(&p, &tmp.join("dist-b"), &[], &targets);
    for name in ARTIFACTS {
        assert_eq!(
            sha256sum(&a.join(name)),
            sha256sum(&b.join(name)),
            "{name} differs between builds"
        );
    }
    // A third run finds everything up to date.
    let again = p.run(&[
        "ROOTFS_VERSION=0.0.0-test",
        "--dist",
        s(&tmp.join("dist-a")),
        "installer-iso",
    ]);
    assert!(
        again
            .artifacts()
            .iter()
            .all(|(_, _, state)| state == "up to date"),
        "{}",
        again.text()
    );
}

#[test]
fn eve17_installer_raw_has_make_raws_structure() {
    let p = Project::new();
    let tmp = p.tmp.path().to_path_buf();
    let build = build(&p, &tmp.join("dist"), &["LAYOUT=eve17"], &["installer"]);
    let raw = build.join("installer.raw");
    let v = tool_ok("sgdisk", &["-v", s(&raw)]);
    assert!(v.contains("No problems found"), "sgdisk -v:\n{v}");
    let golden_dir = evebuild_testkit::eve_testdata().join("golden/make-raw");
    let golden = fs::read_to_string(golden_dir.join("installer.layout.txt")).unwrap();
    // `## partition N` blocks of the golden `sgdisk -i` output.
    let mut blocks: Vec<(u32, Vec<String>)> = Vec::new();
    for line in golden.lines() {
        if let Some(n) = line.strip_prefix("## partition ") {
            blocks.push((n.trim().parse().unwrap(), Vec::new()));
        } else if line.starts_with("## ") {
            blocks.push((0, Vec::new()));
        } else if let Some((n, lines)) = blocks.last_mut()
            && *n != 0
            && !line.trim().is_empty()
        {
            lines.push(line.to_string());
        }
    }
    blocks.retain(|(n, _)| *n != 0);
    assert_eq!(blocks.iter().map(|b| b.0).collect::<Vec<_>>(), [1, 4, 5, 6]);
    // Names, types, fixed GUIDs and attributes as make-raw's; sizes follow the inputs, and
    // CONFIG's and INVENTORY's GUIDs (random in make-raw) are derived here.
    for (n, want) in &blocks {
        let got = sgdisk_info(&raw, *n);
        for name in [
            "Partition GUID code:",
            "Partition unique GUID:",
            "Attribute flags:",
            "Partition name:",
        ] {
            if name == "Partition unique GUID:" && (*n == 4 || *n == 5) {
                let g = field(&got, name);
                assert_ne!(g, field(want, name));
                assert!(!g.starts_with("AD6871EE"), "{g}");
                continue;
            }
            assert_eq!(
                field(&got, name),
                field(want, name),
                "partition {n}: {name}"
            );
        }
    }
    // The same on-disk order: ESP, CONFIG, INSTALLER, INVENTORY.
    let start = |n: u32| partition(&raw, n).0;
    assert!(start(1) < start(4) && start(4) < start(6) && start(6) < start(5));
    // The hybrid MBR: entry types and active flags as make-raw's (ESP 0x0C active, CONFIG
    // and INVENTORY 0x07, the 0xEE guard).
    let mbr = |b: &[u8]| -> Vec<(u8, u8)> {
        (0..4)
            .map(|i| (b[446 + 16 * i], b[446 + 16 * i + 4]))
            .collect()
    };
    let head = tmp.join("mbr");
    extract(&raw, 0, 512, &head);
    let golden_head = fs::read(golden_dir.join("installer.lba0-33.bin")).unwrap();
    assert_eq!(mbr(&fs::read(&head).unwrap()), mbr(&golden_head[..512]));
    // INSTALLER holds installer.img; INVENTORY is an empty FAT labelled INVENTORY.
    let inst = partition_file(&raw, 6, &tmp.join("installer-part"));
    assert!(holds(&inst, &build.join("installer/installer.img")));
    let inv = partition_file(&raw, 5, &tmp.join("inventory"));
    tool_ok("fsck.fat", &["-n", s(&inv)]);
    let info = tool_ok("minfo", &["-i", s(&inv)]);
    assert!(info.contains("disk label=\"INVENTORY  \""), "{info}");
}
