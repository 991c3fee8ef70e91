//! EVE's partition presets against the real make-raw: EVE 17's against the golden dumps of
//! `golden/make-raw/` (sectors 0-33 byte for byte, `sgdisk -i` per partition), the seed era's
//! against the table below, written from the seed BUILD.md and make-raw of that era. Every
//! written image must pass `sgdisk -v`.
//!
//! The EVE test data directory (shared/eve) is found through `EVE_REFERENCE_DIR`, or next
//! to the repository checkout.

use evebuild_disk::{Layout, raw};
use evebuild_eve::partitions::{
    self, EVE17_INSTALLER, EVE17_LIVE, EVE17_TARGET, Inputs, LegacyGrub, Part, PartitionError,
    Preset, SEED_INSTALLER, SEED_LIVE,
};
use std::path::{Path, PathBuf};
use std::process::Command;

const KIB: u64 = 1024;
const MIB: u64 = 1 << 20;

fn testdata() -> PathBuf {
    let dir = std::env::var_os("EVE_REFERENCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eve"));
    assert!(
        dir.join("golden/make-raw").is_dir(),
        "EVE test data not found at {}: set EVE_REFERENCE_DIR to the shared/eve directory",
        dir.display()
    );
    dir
}

fn golden(name: &str) -> Vec<u8> {
    let path = testdata().join("golden/make-raw").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The dummy inputs the golden images were made with (golden README).
fn golden_inputs() -> Inputs {
    Inputs {
        rootfs: 300 * KIB,
        installer: 200 * KIB,
        persist: MIB,
        guid_seed: b"test seed".to_vec(),
    }
}

fn golden_legacy_grub() -> LegacyGrub {
    LegacyGrub::new(&[0xAA; 512], &[0xBB; 10 * 1024]).unwrap()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e} (install the Debian package gdisk)"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Writes the layout's tables (and legacy GRUB) as a sparse raw image and checks it with
/// `sgdisk -v`.
fn write_and_verify(layout: &Layout, dir: &Path, name: &str) -> PathBuf {
    let disk = partitions::disk(layout, Some(&golden_legacy_grub())).unwrap();
    let path = dir.join(name);
    raw::write(&disk, &path, None).unwrap();
    let verify = run(Command::new("sgdisk").arg("-v").arg(&path));
    assert!(
        verify.contains("No problems found"),
        "sgdisk -v {name}:\n{verify}"
    );
    path
}

/// `sgdisk -i N` blocks of a golden layout.txt: `## partition N` followed by its lines.
fn golden_partition_info(layout_txt: &str) -> Vec<(u32, Vec<String>)> {
    let mut out = Vec::new();
    let mut current: Option<(u32, Vec<String>)> = None;
    for line in layout_txt.lines() {
        if let Some(n) = line.strip_prefix("## partition ") {
            out.extend(current.take());
            current = Some((n.trim().parse().unwrap(), Vec::new()));
        } else if line.starts_with("## ") {
            out.extend(current.take());
        } else if let Some((_, lines)) = &mut current
            && !line.trim().is_empty()
        {
            lines.push(line.to_owned());
        }
    }
    out.extend(current);
    out
}

fn sgdisk_info(image: &Path, number: u32) -> Vec<String> {
    run(Command::new("sgdisk")
        .arg("-i")
        .arg(number.to_string())
        .arg(image))
    .lines()
    .filter(|l| !l.trim().is_empty())
    .map(str::to_owned)
    .collect()
}

/// Compares `sgdisk -i` of every partition with the golden blocks; lines starting with one of
/// `skip` are not compared.
fn check_against_golden_info(image: &Path, golden_txt: &str, skip: &[(u32, &str)]) {
    let blocks = golden_partition_info(golden_txt);
    assert!(!blocks.is_empty());
    for (number, want) in blocks {
        let got = sgdisk_info(image, number);
        let keep = |l: &&String| !skip.iter().any(|(n, p)| *n == number && l.starts_with(p));
        assert_eq!(
            got.iter().filter(keep).collect::<Vec<_>>(),
            want.iter().filter(keep).collect::<Vec<_>>(),
            "sgdisk -i {number}"
        );
    }
}

#[test]
fn eve17_live_matches_golden_make_raw() {
    let layout = EVE17_LIVE
        .layout_spec(&golden_inputs())
        .unwrap()
        .place_sized()
        .unwrap();
    assert_eq!(layout.disk_size, 14351 * MIB);
    let head = layout.head(&golden_legacy_grub().mbr_code);
    assert_eq!(
        head,
        golden("live.lba0-33.bin"),
        "sectors 0-33 differ from golden live"
    );

    let dir = tempfile::tempdir().unwrap();
    let image = write_and_verify(&layout, dir.path(), "live.raw");
    let golden_txt = String::from_utf8(golden("live.layout.txt")).unwrap();
    check_against_golden_info(&image, &golden_txt, &[]);
}

#[test]
fn eve17_target_matches_golden_make_raw() {
    let spec = EVE17_TARGET.layout_spec(&golden_inputs()).unwrap();
    let layout = spec.place(32 << 30).unwrap();
    assert_eq!(
        layout.head(&golden_legacy_grub().mbr_code),
        golden("target.lba0-33.bin")
    );
    let dir = tempfile::tempdir().unwrap();
    let image = write_and_verify(&layout, dir.path(), "target.raw");
    let golden_txt = String::from_utf8(golden("target.layout.txt")).unwrap();
    check_against_golden_info(&image, &golden_txt, &[]);
}

#[test]
fn eve17_installer_matches_golden_make_raw_but_for_random_guids() {
    let mut spec = EVE17_INSTALLER.layout_spec(&golden_inputs()).unwrap();
    let layout = spec.place_sized().unwrap();
    assert_eq!(layout.disk_size, 2105 * MIB);
    let want = golden("installer.lba0-33.bin");
    let got = layout.head(&golden_legacy_grub().mbr_code);
    // Everything but the unique GUIDs of entries 4 and 5 and the CRCs that cover them.
    let entry = |n: usize| 1024 + (n - 1) * 128;
    let masked = [
        512 + 16..512 + 20,
        512 + 88..512 + 92,
        entry(4) + 16..entry(4) + 32,
        entry(5) + 16..entry(5) + 32,
    ];
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        if !masked.iter().any(|r| r.contains(&i)) {
            assert_eq!(
                g, w,
                "byte {i} of sectors 0-33 differs from golden installer"
            );
        }
    }
    assert_eq!(got.len(), want.len());

    // With make-raw's random GUIDs put in, the tables (CRCs included) are identical.
    let golden_guid = |n: usize| {
        let b: [u8; 16] = want[entry(n) + 16..entry(n) + 32].try_into().unwrap();
        evebuild_disk::Guid::from_mixed_endian(&b)
    };
    for p in &mut spec.partitions {
        match p.key.as_str() {
            "conf_win" => p.unique_guid = golden_guid(4),
            "inventory_win" => p.unique_guid = golden_guid(5),
            _ => {}
        }
    }
    let layout = spec.place_sized().unwrap();
    assert_eq!(layout.head(&golden_legacy_grub().mbr_code), want);

    let dir = tempfile::tempdir().unwrap();
    let image = write_and_verify(&layout, dir.path(), "installer.raw");
    let golden_txt = String::from_utf8(golden("installer.layout.txt")).unwrap();
    check_against_golden_info(&image, &golden_txt, &[]);
}

#[test]
fn installer_guids_come_from_the_seed() {
    let spec = |seed: &[u8]| {
        let inputs = Inputs {
            guid_seed: seed.to_vec(),
            ..golden_inputs()
        };
        EVE17_INSTALLER.layout_spec(&inputs).unwrap()
    };
    let guid = |s: &evebuild_disk::LayoutSpec, key: &str| {
        s.partitions
            .iter()
            .find(|p| p.key == key)
            .unwrap()
            .unique_guid
    };
    let (a, b) = (spec(b"one"), spec(b"two"));
    assert_eq!(a, spec(b"one"));
    assert_ne!(guid(&a, "conf_win"), guid(&b, "conf_win"));
    assert_ne!(guid(&a, "conf_win"), guid(&a, "inventory_win"));
    assert_eq!(guid(&a, "installer"), guid(&b, "installer"));
}

/// One expected partition: number, name, type, unique GUID (None: derived), first and last
/// sector, attributes.
type Row = (
    u32,
    &'static str,
    &'static str,
    Option<&'static str>,
    u64,
    u64,
    u64,
);

/// Expected seed-era layouts, from the seed BUILD.md (part lists) and make-raw of that era
/// (36 MiB ESP, 512 MiB rootfs minimum, 1 MiB CONFIG, -C adds 10 MiB; gptprio bits on IMGA,
/// legacy-BIOS bit on the ESP), for a 300 KiB rootfs.img and a 1 MiB persist.img.
const SEED_LIVE_ROWS: [Row; 5] = [
    (
        1,
        "EFI System",
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
        Some("AD6871EE-31F9-4CF3-9E09-6F7A25C30051"),
        2048,
        75775,
        0x4,
    ),
    (
        2,
        "IMGA",
        "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6",
        Some("AD6871EE-31F9-4CF3-9E09-6F7A25C30052"),
        75776,
        1124351,
        0x0102000000000000,
    ),
    (
        3,
        "IMGB",
        "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6",
        Some("AD6871EE-31F9-4CF3-9E09-6F7A25C30053"),
        1124352,
        2172927,
        0,
    ),
    (
        4,
        "CONFIG",
        "13307E62-CD9C-4920-8F9B-91B45828B798",
        Some("AD6871EE-31F9-4CF3-9E09-6F7A25C30054"),
        2172928,
        2174975,
        0,
    ),
    // -C: 36 + 512 + 512 + 1 + 1 + 10 = 1072 MiB = 2195456 sectors; P3 ends at the last usable.
    (
        9,
        "P3",
        "5F24425A-2DFA-11E8-A270-7B663FACCC2C",
        Some("AD6871EE-31F9-4CF3-9E09-6F7A25C30059"),
        2174976,
        2195422,
        0,
    ),
];
const SEED_INSTALLER_ROWS: [Row; 3] = [
    (
        1,
        "EFI System",
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
        Some("AD6871EE-31F9-4CF3-9E09-6F7A25C30051"),
        2048,
        75775,
        0x4,
    ),
    (
        2,
        "IMGA",
        "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6",
        Some("AD6871EE-31F9-4CF3-9E09-6F7A25C30052"),
        75776,
        1124351,
        0x0102000000000000,
    ),
    (
        4,
        "CONFIG",
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
        None,
        1124352,
        1126399,
        0,
    ),
];

fn check_seed(preset: &Preset, rows: &[Row], disk_mib: u64) {
    let layout = preset
        .layout_spec(&golden_inputs())
        .unwrap()
        .place_sized()
        .unwrap();
    assert_eq!(layout.disk_size, disk_mib * MIB, "{} -C size", preset.name);
    let dir = tempfile::tempdir().unwrap();
    let image = write_and_verify(&layout, dir.path(), "seed.raw");
    for &(number, name, type_guid, unique, first, last, attrs) in rows {
        let info = sgdisk_info(&image, number).join("\n");
        let mut want = vec![
            format!("Partition GUID code: {type_guid}"),
            format!("First sector: {first} "),
            format!("Last sector: {last} "),
            format!("Attribute flags: {attrs:016X}"),
            format!("Partition name: '{name}'"),
        ];
        if let Some(u) = unique {
            want.push(format!("Partition unique GUID: {u}"));
        }
        for w in want {
            assert!(
                info.contains(&w),
                "{}: partition {number}: no {w:?} in\n{info}",
                preset.name
            );
        }
    }
    // Hybrid MBR: the ESP active as FAT32 (LBA), then 0xEE over sectors 1-2047.
    let head = layout.head(&[]);
    assert_eq!(
        &head[446..462],
        &[
            0x80, 0x20, 0x21, 0x00, 0x0c, 0xb6, 0x32, 0x04, 0x00, 0x08, 0, 0, 0x00, 0x20, 0x01,
            0x00
        ]
    );
    assert_eq!(
        &head[462..478],
        &[
            0x00, 0x00, 0x02, 0x00, 0xee, 0x20, 0x20, 0x00, 0x01, 0, 0, 0, 0xff, 0x07, 0, 0
        ]
    );
    assert_eq!(&head[478..510], &[0u8; 32]);
}

#[test]
fn seed_live_matches_the_seed_table() {
    check_seed(&SEED_LIVE, &SEED_LIVE_ROWS, 1072);
}

#[test]
fn seed_installer_matches_the_seed_table() {
    // 36 + 512 + 1 + 10 = 559 MiB.
    check_seed(&SEED_INSTALLER, &SEED_INSTALLER_ROWS, 559);
}

#[test]
fn preflight_size_error_is_make_raws() {
    let spec = EVE17_LIVE.layout_spec(&golden_inputs()).unwrap();
    let err = spec.place(8192 * MIB).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ERROR: partition layout requires 14351 MiB but disk image is only 8192 MiB.\n\
         Requested partitions: efi efi_b conf imga"
    );
}

#[test]
fn sizes_are_overridable_and_rootfs_grows_its_partition() {
    let mut sizes = EVE17_LIVE.sizes;
    sizes.esp = 64 * MIB;
    sizes.esp_b = Some(64 * MIB);
    sizes.rootfs_min = 100 * MIB;
    let inputs = Inputs {
        rootfs: 300 * MIB + 1,
        ..golden_inputs()
    };
    let layout = partitions::layout_spec(EVE17_LIVE.parts, &sizes, &inputs)
        .unwrap()
        .place_sized()
        .unwrap();
    let imga = layout.partition("imga").unwrap();
    assert_eq!(imga.len(), 301 * MIB);
    assert_eq!(layout.partition("efi").unwrap().len(), 64 * MIB);
    // 64 + 64 + 5 + (300 MiB + 1 byte) + 10, rounded up.
    assert_eq!(layout.disk_size, 444 * MIB);
}

#[test]
fn part_lists_parse_like_make_raw_and_unsupported_parts_are_named() {
    assert_eq!(
        Part::parse_list(["efi conf_win", "installer  inventory_win"]).unwrap(),
        EVE17_INSTALLER.parts
    );
    let err = Part::parse_list(["efi", "usb_conf"]).unwrap_err();
    assert!(matches!(err, PartitionError::Unsupported { .. }), "{err}");
    let err = Part::parse("imgc").unwrap_err();
    assert!(err.to_string().contains("\"imgc\""), "{err}");
    // The seed era has no ESP-B.
    let err = partitions::layout_spec(&[Part::Efi, Part::EfiB], &SEED_LIVE.sizes, &golden_inputs())
        .unwrap_err();
    assert!(err.to_string().contains("efi_b"), "{err}");
}
