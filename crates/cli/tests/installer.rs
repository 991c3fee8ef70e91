//! The installer targets end to end: `evebuild installer installer-qcow2 installer-iso
//! installer.tar` on a copy of the bundled example in a fresh git repository, every artifact
//! checked by the tool the world reads it with (unsquashfs, sgdisk, fsck.fat/mtools, qemu-img,
//! xorriso, bsdtar), built twice for byte-identical results, and the EVE 17 layout against
//! make-raw's golden GPT. Needs the Debian packages squashfs-tools, gdisk, dosfstools,
//! mtools, qemu-utils, xorriso and libarchive-tools, and git.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The time every artifact is stamped with.
const SDE: &str = "1700000000";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared_eve() -> PathBuf {
    let dir = std::env::var_os("EVEBUILD_EVE_TESTDATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../../shared/eve"));
    assert!(
        dir.join("golden/make-raw").is_dir(),
        "EVE test data not found at {}: set EVEBUILD_EVE_TESTDATA to the shared/eve directory",
        dir.display()
    );
    dir
}

fn output(cmd: &mut Command, package: &str) -> Output {
    cmd.env("LC_ALL", "C.UTF-8").output().unwrap_or_else(|e| {
        panic!("cannot run {cmd:?} ({e}): install the Debian package {package}")
    })
}

fn ok(cmd: &mut Command, package: &str) -> String {
    let o = output(cmd, package);
    assert!(
        o.status.success(),
        "{cmd:?} failed:\n{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tool(name: &str, package: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let mut c = Command::new(name);
    for a in args {
        c.arg(a);
    }
    ok(&mut c, package)
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type().unwrap();
        if t.is_dir() {
            if e.file_name() == "dist" || e.file_name() == "out" {
                continue;
            }
            copy_dir(&src, &dst);
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

/// The bundled example, committed in a new git repository (without the generated
/// images/out/).
fn example_repo(dir: &Path) -> PathBuf {
    let proj = dir.join("hello-eve");
    copy_dir(&repo_root().join("examples/hello-eve"), &proj);
    let git = |args: &[&str]| {
        ok(
            Command::new("git")
                .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
                .args([
                    "-c",
                    "init.defaultBranch=master",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .current_dir(&proj)
                .env("GIT_AUTHOR_DATE", "@1700000000 +0000")
                .env("GIT_COMMITTER_DATE", "@1700000000 +0000"),
            "git",
        )
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "example"]);
    proj
}

/// Runs evebuild on `proj` with `dist` and the shared store `cache`; returns the version's
/// output directory.
fn evebuild(proj: &Path, dist: &Path, cache: &Path, extra: &[&str], targets: &[&str]) -> PathBuf {
    let mut c = Command::new(env!("CARGO_BIN_EXE_evebuild"));
    c.arg("-C")
        .arg(proj)
        .arg("--dist")
        .arg(dist)
        .arg("--cache")
        .arg(cache)
        .args(extra)
        .args(targets)
        .env("SOURCE_DATE_EPOCH", SDE)
        .env("LINUXKIT_CACHE", cache)
        .env_remove("LAYOUT");
    ok(&mut c, "(evebuild itself)");
    let current = dist.join("amd64/current");
    fs::canonicalize(&current).unwrap_or_else(|e| panic!("{}: {e}", current.display()))
}

fn sha256(p: &Path) -> String {
    let out = tool("sha256sum", "coreutils", &[&p]);
    out.split_whitespace().next().unwrap().to_string()
}

const ARTIFACTS: [&str; 5] = [
    "installer/installer.img",
    "installer.tar",
    "installer.raw",
    "installer.qcow2",
    "installer.iso",
];

/// `sgdisk -i N`, without blank lines.
fn sgdisk_info(image: &Path, n: u32) -> Vec<String> {
    tool("sgdisk", "gdisk", &[&"-i", &n.to_string(), &image])
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

/// The bytes of partition `n` of a raw disk.
fn partition_bytes(image: &Path, n: u32) -> Vec<u8> {
    let info = sgdisk_info(image, n);
    let first: u64 = field(&info, "First sector:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let last: u64 = field(&info, "Last sector:")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    read_at(image, first * 512, (last + 1 - first) * 512)
}

/// `len` bytes of `file` from `offset` (disks are sparse and large: never read them whole).
fn read_at(file: &Path, offset: u64, len: u64) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::File::open(file).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0u8; len as usize];
    f.read_exact(&mut buf).unwrap();
    buf
}

/// `xorriso -find / -exec lsdl`: path → the line.
fn iso_listing(iso: &Path) -> BTreeMap<String, String> {
    let out = tool(
        "xorriso",
        "xorriso",
        &[&"-indev", &iso, &"-find", &"/", &"-exec", &"lsdl"],
    );
    out.lines()
        .filter_map(|l| {
            let q = l.find(" '/")?;
            let path = l[q + 2..].split('\'').next()?.to_string();
            Some((path, l.to_string()))
        })
        .collect()
}

fn check_installer_img(build: &Path) {
    let img = build.join("installer/installer.img");
    let list = tool("unsquashfs", "squashfs-tools", &[&"-l", &"-d", &"", &img]);
    for want in [
        "/rootfs.img",
        "/config.img",
        "/persist.img",
        "/EFI/BOOT/grub_include.cfg",
        "/EFI/BOOT/BOOTX64.EFI",
        "/etc/eve-release",
        "/etc/issue",
        "/boot/kernel",
    ] {
        assert!(
            list.lines().any(|l| l == want),
            "{want} missing from installer.img:\n{list}"
        );
    }
    assert!(
        list.lines()
            .any(|l| l.starts_with("/containers/onboot/") && l.ends_with("-installer")),
        "no onboot installer container in installer.img:\n{list}"
    );
    let inner = |name: &str| {
        output(
            Command::new("unsquashfs")
                .args(["-cat"])
                .arg(&img)
                .arg(name),
            "squashfs-tools",
        )
        .stdout
    };
    assert!(inner("rootfs.img") == fs::read(build.join("installer/rootfs.img")).unwrap());
    assert_eq!(
        inner("config.img"),
        fs::read(build.join("installer/config.img")).unwrap()
    );
    assert_eq!(
        inner("EFI/BOOT/grub_include.cfg"),
        fs::read(repo_root().join("examples/hello-eve/pkg/eve/installer/grub_installer.cfg"))
            .unwrap()
    );
    // installer.tar holds the same tree.
    let tar = tool(
        "bsdtar",
        "libarchive-tools",
        &[&"-tf", &build.join("installer.tar")],
    );
    for want in ["rootfs.img", "config.img", "EFI/BOOT/grub_include.cfg"] {
        assert!(
            tar.lines().any(|l| l.trim_start_matches("./") == want),
            "{want}:\n{tar}"
        );
    }
}

fn check_seed_raw_and_qcow2(build: &Path, dir: &Path) {
    let raw = build.join("installer.raw");
    let v = tool("sgdisk", "gdisk", &[&"-v", &raw]);
    assert!(v.contains("No problems found"), "sgdisk -v:\n{v}");
    // The seed's installer: efi imga conf_win.
    let p = tool("sgdisk", "gdisk", &[&"-p", &raw]);
    let numbers: Vec<&str> = p
        .lines()
        .skip_while(|l| !l.starts_with("Number"))
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(numbers, ["1", "2", "4"], "{p}");
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
    let img = fs::read(build.join("installer/installer.img")).unwrap();
    assert!(
        partition_bytes(&raw, 2)[..img.len()] == img[..],
        "IMGA is not installer.img"
    );
    let config = fs::read(build.join("installer/config.img")).unwrap();
    assert!(partition_bytes(&raw, 4)[..config.len()] == config[..]);
    let esp_img = dir.join("esp.img");
    fs::write(&esp_img, partition_bytes(&raw, 1)).unwrap();
    tool("fsck.fat", "dosfstools", &[&"-n", &esp_img]);
    let m = |path: &str| tool("mtype", "mtools", &[&"-i", &esp_img, &path]);
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
    tool("qemu-img", "qemu-utils", &[&"check", &qcow2]);
    let cmp = tool(
        "qemu-img",
        "qemu-utils",
        &[&"compare", &"-f", &"qcow2", &"-F", &"raw", &qcow2, &raw],
    );
    assert!(cmp.contains("Images are identical"), "{cmp}");
}

fn check_iso(build: &Path, dir: &Path) {
    let iso = build.join("installer.iso");
    let report = tool(
        "xorriso",
        "xorriso",
        &[&"-indev", &iso, &"-report_el_torito", &"plain"],
    );
    let entries: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("El Torito boot img :"))
        .collect();
    assert_eq!(entries.len(), 1, "{report}");
    let f: Vec<&str> = entries[0].split_whitespace().collect();
    // El Torito boot img :   1  UEFI  y   none  0x0000  0x00   <ldsiz>  <lba>
    assert_eq!(&f[5..9], ["1", "UEFI", "y", "none"], "{report}");
    let (sectors, lba): (usize, usize) = (f[11].parse().unwrap(), f[12].parse().unwrap());
    let pvd = tool("xorriso", "xorriso", &[&"-indev", &iso, &"-pvd_info"]);
    assert!(pvd.contains("Volume Id    : EVEISO"), "{pvd}");
    assert!(pvd.contains("Creation Time: 2023111422132000"), "{pvd}");
    // The tree make-efi makes, in Rock Ridge names, and nothing hidden shows.
    let l = iso_listing(&iso);
    for want in [
        "/EFI/BOOT/BOOTX64.EFI",
        "/EFI/BOOT/grub.cfg",
        "/EFI/BOOT/grub_include.cfg",
        "/boot/kernel",
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
        l["/rootfs_installer.img"].starts_with("-rw-r--r--"),
        "{l:#?}"
    );
    assert!(
        !l.keys()
            .any(|k| k.starts_with("/etc/") && k != "/etc/eve-release"),
        "{l:#?}"
    );
    // Files extract byte-identical to their sources.
    let x = dir.join("iso-x");
    tool(
        "xorriso",
        "xorriso",
        &[&"-osirrox", &"on", &"-indev", &iso, &"-extract", &"/", &x],
    );
    assert!(
        fs::read(x.join("rootfs_installer.img")).unwrap()
            == fs::read(build.join("installer/installer.img")).unwrap()
    );
    assert_eq!(
        fs::read(x.join("etc/eve-release")).unwrap(),
        fs::read(build.join("installer/eve_version")).unwrap()
    );
    // The El Torito image: a clean FAT with the loader and EVE's ISO stub.
    let all = fs::read(&iso).unwrap();
    let boot = &all[lba * 2048..lba * 2048 + sectors * 512];
    let boot_img = dir.join("boot.img");
    fs::write(&boot_img, boot).unwrap();
    tool("fsck.fat", "dosfstools", &[&"-n", &boot_img]);
    let dir_listing = tool("mdir", "mtools", &[&"-i", &boot_img, &"-b", &"::/EFI/BOOT"]);
    for want in ["BOOTX64.EFI", "grub.cfg", "grub_include.cfg"] {
        assert!(dir_listing.contains(want), "{want}:\n{dir_listing}");
    }
    let cfg = tool(
        "mtype",
        "mtools",
        &[&"-i", &boot_img, &"::/EFI/BOOT/grub.cfg"],
    );
    assert!(cfg.contains("configfile ($dev)/EFI/BOOT/grub.cfg"), "{cfg}");
    assert!(cfg.contains("--label EVEISO"), "{cfg}");
    // Sized as make-efi sizes it from the loader.
    let loader = fs::metadata(x.join("EFI/BOOT/BOOTX64.EFI")).unwrap().len();
    assert_eq!(
        (sectors * 512) as u64,
        (loader / 1024 + 511) / 32 * 32 * 1024
    );
    // No hybrid MBR.
    assert!(all[..32768].iter().all(|&b| b == 0));
}

#[test]
fn installer_targets_are_checked_by_their_readers_and_reproducible() {
    let dir = tempfile::tempdir().unwrap();
    let proj = example_repo(dir.path());
    let cache = dir.path().join("cache");
    let targets = [
        "installer",
        "installer-qcow2",
        "installer-iso",
        "installer.tar",
    ];
    let a = evebuild(&proj, &dir.path().join("dist-a"), &cache, &[], &targets);
    check_installer_img(&a);
    check_seed_raw_and_qcow2(&a, dir.path());
    check_iso(&a, dir.path());
    // A second build from scratch (same store) gives the same bytes.
    let b = evebuild(&proj, &dir.path().join("dist-b"), &cache, &[], &targets);
    for name in ARTIFACTS {
        assert_eq!(
            sha256(&a.join(name)),
            sha256(&b.join(name)),
            "{name} differs between builds"
        );
    }
}

#[test]
fn eve17_installer_raw_has_make_raws_structure() {
    let dir = tempfile::tempdir().unwrap();
    let proj = example_repo(dir.path());
    let cache = dir.path().join("cache");
    let build = evebuild(
        &proj,
        &dir.path().join("dist"),
        &cache,
        &["LAYOUT=eve17"],
        &["installer"],
    );
    let raw = build.join("installer.raw");
    let v = tool("sgdisk", "gdisk", &[&"-v", &raw]);
    assert!(v.contains("No problems found"), "sgdisk -v:\n{v}");
    let golden_dir = shared_eve().join("golden/make-raw");
    let golden = fs::read_to_string(golden_dir.join("installer.layout.txt")).unwrap();
    // Names, types, fixed GUIDs and attributes as make-raw's; sizes follow the inputs and
    // CONFIG's and INVENTORY's GUIDs are random in make-raw (derived here).
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
    let compared = [
        "Partition GUID code:",
        "Partition unique GUID:",
        "Attribute flags:",
        "Partition name:",
    ];
    for (n, want) in &blocks {
        let got = sgdisk_info(&raw, *n);
        for name in compared {
            if name == "Partition unique GUID:" && (*n == 4 || *n == 5) {
                let g = field(&got, name);
                assert_ne!(g, field(want, name), "random in make-raw, derived here");
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
    let start = |n: u32| -> u64 {
        field(&sgdisk_info(&raw, n), "First sector:")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(start(1) < start(4) && start(4) < start(6) && start(6) < start(5));
    // The hybrid MBR: entry types and active flags as make-raw's (ESP 0x0C active, CONFIG
    // and INVENTORY 0x07, the 0xEE guard).
    let mbr = |b: &[u8]| -> Vec<(u8, u8)> {
        (0..4)
            .map(|i| (b[446 + 16 * i], b[446 + 16 * i + 4]))
            .collect()
    };
    let golden_head = fs::read(golden_dir.join("installer.lba0-33.bin")).unwrap();
    assert_eq!(mbr(&read_at(&raw, 0, 512)), mbr(&golden_head[..512]));
    // INSTALLER holds installer.img, INVENTORY is an empty FAT labelled INVENTORY.
    let img = fs::read(build.join("installer/installer.img")).unwrap();
    assert!(partition_bytes(&raw, 6)[..img.len()] == img[..]);
    let inv = dir.path().join("inventory.img");
    fs::write(&inv, partition_bytes(&raw, 5)).unwrap();
    tool("fsck.fat", "dosfstools", &[&"-n", &inv]);
    let info = tool("minfo", "mtools", &[&"-i", &inv]);
    assert!(info.contains("disk label=\"INVENTORY  \""), "{info}");
}
