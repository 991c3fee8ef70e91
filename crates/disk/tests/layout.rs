//! The layout engine against sgdisk and fdisk: partitions land where `sgdisk -i` and
//! `fdisk -l` say, tables pass `sgdisk -v`, the hybrid and protective MBRs read back as
//! intended, and impossible layouts are refused with errors that name the partition.

mod common;

use common::{MIB, TestDisk, part, run, spec};
use evebuild_disk::{LayoutError, MbrSpec, PartSize, raw};
use std::process::Command;

#[test]
fn sgdisk_reads_back_the_layout() {
    let t = TestDisk::new();
    let image = t.dir().join("disk.raw");
    raw::write(&t.disk, &image, None).unwrap();
    let verify = run(Command::new("sgdisk").arg("-v").arg(&image));
    assert!(verify.contains("No problems found"), "{verify}");
    // On-disk order follows the list; numbers are the caller's; sizes rounded to 1 MiB from
    // sector 2048; the last partition takes the rest.
    let total = 40 * MIB / 512;
    let want = [
        (1, "BOOT", 2048, 2048 + 8192 - 1, "0000000000000004"),
        (2, "ROOT", 10240, 10240 + 32768 - 1, "0102000000000000"),
        (4, "CONF", 43008, 43008 + 2048 - 1, "0000000000000000"),
        (9, "DATA", 45056, total - 34, "0000000000000000"),
    ];
    for (number, name, first, last, attrs) in want {
        let info = run(Command::new("sgdisk")
            .arg("-i")
            .arg(number.to_string())
            .arg(&image));
        for line in [
            format!("First sector: {first} "),
            format!("Last sector: {last} "),
            format!("Attribute flags: {attrs}"),
            format!("Partition name: '{name}'"),
            format!(
                "Partition unique GUID: {}",
                evebuild_disk::Guid::derive(b"test", &name.to_lowercase())
                    .to_string()
                    .to_uppercase()
            ),
        ] {
            assert!(
                info.contains(&line),
                "partition {number}: no {line:?} in\n{info}"
            );
        }
    }
    // Hybrid MBR: BOOT active as 0x0C, CONF as 0x07, then 0xEE over sectors 1..2047.
    let fdisk = run(Command::new("fdisk").args(["-l", "-t", "dos"]).arg(&image));
    let rows: Vec<Vec<&str>> = fdisk
        .lines()
        .filter(|l| l.starts_with(image.to_str().unwrap()))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 3, "{fdisk}");
    assert_eq!(&rows[0][1..5], ["*", "2048", "10239", "8192"], "{fdisk}");
    assert_eq!(rows[0][6], "c", "{fdisk}");
    assert_eq!(&rows[1][1..4], ["43008", "45055", "2048"], "{fdisk}");
    assert_eq!(rows[1][5], "7", "{fdisk}");
    assert_eq!(&rows[2][1..4], ["1", "2047", "2047"], "{fdisk}");
    assert_eq!(rows[2][5], "ee", "{fdisk}");
}

#[test]
fn protective_mbr_covers_the_disk() {
    let mut s = spec();
    s.mbr = MbrSpec::Protective;
    let layout = s.place(40 * MIB).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("p.raw");
    raw::write(&layout.disk(&[]).unwrap(), &image, None).unwrap();
    let verify = run(Command::new("sgdisk").arg("-v").arg(&image));
    assert!(verify.contains("No problems found"), "{verify}");
    let fdisk = run(Command::new("fdisk").args(["-l", "-t", "dos"]).arg(&image));
    let row = fdisk
        .lines()
        .find(|l| l.starts_with(image.to_str().unwrap()))
        .unwrap();
    let f: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        &f[1..4],
        [
            "1",
            &(40 * MIB / 512 - 1).to_string(),
            &(40 * MIB / 512 - 1).to_string()
        ]
    );
    assert_eq!(f[5], "ee", "{fdisk}");
}

#[test]
fn impossible_layouts_are_refused_by_name() {
    let s = spec();
    // -C size: 4 + 16 + 1 + 1 (data's min) + 10 MiB margin.
    assert_eq!(s.required_size(), 32 * MIB);
    let err = s.place(31 * MIB).unwrap_err();
    assert_eq!(
        err.to_string(),
        "ERROR: partition layout requires 32 MiB but disk image is only 31 MiB.\n\
         Requested partitions: boot root conf data"
    );

    let mut rest_first = spec();
    rest_first.partitions.swap(0, 3);
    assert!(
        matches!(rest_first.place(40 * MIB), Err(LayoutError::RestNotLast { key }) if key == "data")
    );

    let mut dup = spec();
    dup.partitions[2].number = 2;
    let err = dup.place(40 * MIB).unwrap_err();
    assert!(
        err.to_string()
            .contains("conf has GPT number 2, which is already used by root"),
        "{err}"
    );

    let mut bad_hybrid = spec();
    bad_hybrid.partitions.remove(2);
    let err = bad_hybrid.place(40 * MIB).unwrap_err();
    assert!(
        err.to_string().contains("partition 4 is not in the layout"),
        "{err}"
    );

    // Margin 0: the partitions themselves must still fit before the backup GPT.
    let mut tight = spec();
    tight.size_margin = 0;
    tight.partitions[3] = part(
        "data",
        9,
        "5f24425a-2dfa-11e8-a270-7b663faccc2c",
        0,
        PartSize::Bytes(MIB),
    );
    let err = tight.place(23 * MIB).unwrap_err();
    assert!(
        matches!(err, LayoutError::DoesNotFit { ref key, .. } if key == "data"),
        "{err}"
    );
    assert!(tight.place(24 * MIB).is_ok());

    let layout = spec().place(40 * MIB).unwrap();
    let mut disk = layout.disk(&[]).unwrap();
    let err = layout
        .add_bytes(&mut disk, "conf", vec![1; (MIB + 1) as usize])
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("partition conf holds only 1048576 bytes"),
        "{err}"
    );
}
