//! A small test disk (40 MiB: a GPT with four partitions holding incompressible, compressible,
//! zero and sparse contents) and helpers to run the oracle tools.

#![allow(dead_code)]

use evebuild_disk::gpt::format::attr;
use evebuild_disk::{
    Disk, Guid, HybridEntry, Layout, LayoutSpec, MbrSpec, PartSize, PartitionSpec,
};
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const MIB: u64 = 1 << 20;

/// Deterministic pseudo-random bytes (xorshift64).
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Text that compresses well.
pub fn text(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!("line {i}: the quick brown fox jumps over the lazy dog\n").as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

pub fn part(
    key: &str,
    number: u32,
    type_guid: &str,
    attributes: u64,
    size: PartSize,
) -> PartitionSpec {
    PartitionSpec {
        key: key.into(),
        number,
        name: key.to_uppercase(),
        type_guid: type_guid.parse().unwrap(),
        unique_guid: Guid::derive(b"test", key),
        attributes,
        size,
    }
}

pub fn spec() -> LayoutSpec {
    LayoutSpec {
        disk_guid: Guid::derive(b"test", "disk"),
        first_lba: 2048,
        alignment: MIB,
        size_margin: 10 * MIB,
        partitions: vec![
            part(
                "boot",
                1,
                "c12a7328-f81f-11d2-ba4b-00a0c93ec93b",
                attr::LEGACY_BIOS_BOOTABLE,
                PartSize::Bytes(4 * MIB),
            ),
            part(
                "root",
                2,
                "5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6",
                0x0102 << 48,
                PartSize::Bytes(16 * MIB),
            ),
            part(
                "conf",
                4,
                "ebd0a0a2-b9e5-4433-87c0-68b6b72699c7",
                0,
                PartSize::Bytes(MIB),
            ),
            part(
                "data",
                9,
                "5f24425a-2dfa-11e8-a270-7b663faccc2c",
                0,
                PartSize::Rest { min: MIB },
            ),
        ],
        mbr: MbrSpec::Hybrid(vec![
            HybridEntry {
                partition: 1,
                kind: 0x0c,
                active: true,
            },
            HybridEntry {
                partition: 4,
                kind: 0x07,
                active: false,
            },
        ]),
    }
}

pub struct TestDisk {
    pub dir: tempfile::TempDir,
    pub layout: Layout,
    pub disk: Disk,
    /// (offset, bytes) of everything placed, to build the reference raw image independently.
    pub placed: Vec<(u64, Vec<u8>)>,
}

impl TestDisk {
    pub fn new() -> TestDisk {
        let dir = tempfile::tempdir().unwrap();
        let layout = spec().place(40 * MIB).unwrap();
        let mut disk = layout.disk(&[0xfa; 440]).unwrap();
        let mut placed = vec![
            (0, layout.head(&[0xfa; 440])),
            (layout.gpt.backup_entries_lba() * 512, layout.gpt.backup()),
        ];

        let boot = text(300 * 1024 + 7);
        layout.add_bytes(&mut disk, "boot", boot.clone()).unwrap();
        placed.push((layout.partition("boot").unwrap().offset(), boot));

        // rootfs: noise, a run of zeros inside the file, text, compressible and incompressible
        // clusters taking turns, an odd length. More than the qcow2 writer stages at once.
        let mut root = noise(6 * MIB as usize, 1);
        root.extend(vec![0u8; 2 * MIB as usize]);
        root.extend(text(2 * MIB as usize));
        for i in 0..32 {
            root.extend(if i % 3 == 0 {
                noise(65536, i)
            } else {
                text(65536 - i as usize * 97)
            });
        }
        root.extend(noise(12345, 2));
        let root_path = dir.path().join("rootfs.img");
        std::fs::write(&root_path, &root).unwrap();
        layout.add_file(&mut disk, "root", &root_path).unwrap();
        placed.push((layout.partition("root").unwrap().offset(), root));

        let conf = noise(1000, 3);
        layout.add_bytes(&mut disk, "conf", conf.clone()).unwrap();
        placed.push((layout.partition("conf").unwrap().offset(), conf));

        // persist: a sparse file with data at 0 and at 8 MiB.
        let sparse = dir.path().join("persist.img");
        let mut f = File::create(&sparse).unwrap();
        let (a, b) = (noise(65536, 4), text(MIB as usize));
        f.write_all(&a).unwrap();
        f.seek(SeekFrom::Start(8 * MIB)).unwrap();
        f.write_all(&b).unwrap();
        drop(f);
        layout.add_file(&mut disk, "data", &sparse).unwrap();
        let data_at = layout.partition("data").unwrap().offset();
        placed.push((data_at, a));
        placed.push((data_at + 8 * MIB, b));

        TestDisk {
            dir,
            layout,
            disk,
            placed,
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The reference raw image, written with plain file writes (not by the crate's writers).
    pub fn raw(&self) -> PathBuf {
        let path = self.dir().join("reference.raw");
        if !path.exists() {
            let f = File::create(&path).unwrap();
            f.set_len(self.disk.size()).unwrap();
            for (offset, bytes) in &self.placed {
                f.write_all_at(bytes, *offset).unwrap();
            }
        }
        path
    }

    /// Bytes of content placed.
    pub fn data_bytes(&self) -> u64 {
        self.placed.iter().map(|(_, b)| b.len() as u64).sum()
    }
}

/// Runs a command that must succeed; returns stdout and stderr.
pub fn run(cmd: &mut Command) -> String {
    let (ok, out) = run_status(cmd);
    assert!(ok, "{cmd:?} failed:\n{out}");
    out
}

/// Runs a command; returns whether it succeeded and its stdout and stderr.
pub fn run_status(cmd: &mut Command) -> (bool, String) {
    let program = cmd.get_program().to_string_lossy().into_owned();
    let package = match program.as_str() {
        "qemu-img" => "qemu-utils",
        "sgdisk" => "gdisk",
        "bsdtar" => "libarchive-tools",
        "fdisk" | "sfdisk" => "fdisk",
        _ => "coreutils/tar/gzip",
    };
    let out = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run {program}: {e}; install the Debian package {package}")
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}
