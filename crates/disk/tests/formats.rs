//! Every output format, checked by the tools that read them: `qemu-img check` is clean (VHD:
//! qemu-img has no check for it), `qemu-img compare` finds each identical to the raw image
//! (grown formats: identical over the raw length and zero beyond), the GCE archive lists only
//! `disk.raw` and extracts with `tar -xS` to the grown raw image, and every artifact built twice
//! (with different thread counts where compression is parallel) is byte-identical.

mod common;

use common::{TestDisk, run, run_status};
use evebuild_disk::{gce, parallels, qcow2, raw, vdi, vhd, vmdk};
use std::path::{Path, PathBuf};
use std::process::Command;

const MIB: u64 = 1 << 20;
/// The grown virtual size (EVE's MEDIA_SIZE, scaled down).
const GROWN: u64 = 96 * MIB;

fn qemu_check(format: &str, image: &Path) {
    let out = run(Command::new("qemu-img")
        .args(["check", "-f", format])
        .arg(image));
    assert!(
        out.contains("No errors were found on the image."),
        "qemu-img check {format}:\n{out}"
    );
}

fn qemu_compare_with_raw(raw: &Path, format: &str, image: &Path) {
    let (ok, out) = run_status(
        Command::new("qemu-img")
            .args(["compare", "-f", "raw", "-F", format])
            .arg(raw)
            .arg(image),
    );
    assert!(
        ok && out.contains("Images are identical"),
        "qemu-img compare raw {format}:\n{out}"
    );
}

fn virtual_size(format: &str, image: &Path) -> u64 {
    let out = run(Command::new("qemu-img")
        .args(["info", "-f", format])
        .arg(image));
    // "virtual size: 96 MiB (100663296 bytes)"
    let line = out
        .lines()
        .find(|l| l.starts_with("virtual size:"))
        .expect("virtual size line");
    let inner = &line[line.find('(').unwrap() + 1..line.find(" bytes)").unwrap()];
    inner.parse().unwrap()
}

/// `qemu-img check` clean, identical to the raw image, and of the expected virtual size.
fn check_image(t: &TestDisk, format: &str, image: &Path, size: u64) {
    qemu_check(format, image);
    qemu_compare_with_raw(&t.raw(), format, image);
    assert_eq!(virtual_size(format, image), size);
}

fn same_bytes(a: &Path, b: &Path) {
    if a.is_dir() {
        let names = |d: &Path| {
            let mut v: Vec<_> = std::fs::read_dir(d)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            v.sort();
            v
        };
        assert_eq!(names(a), names(b));
        for n in names(a) {
            same_bytes(&a.join(&n), &b.join(&n));
        }
        return;
    }
    let (x, y) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(x == y, "{} and {} differ", a.display(), b.display());
}

/// Builds `name` twice with `write` (in two directories) and checks both are identical;
/// returns the first.
fn twice(dir: &Path, name: &str, write: impl Fn(&Path, usize)) -> PathBuf {
    let (a, b) = (dir.join("a"), dir.join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    write(&a.join(name), 1);
    write(&b.join(name), 3);
    same_bytes(&a.join(name), &b.join(name));
    a.join(name)
}

#[test]
fn raw_is_sparse_and_has_the_disk_bytes() {
    let t = TestDisk::new();
    let image = twice(t.dir(), "disk.raw", |p, _| {
        raw::write(&t.disk, p, None).unwrap()
    });
    let bytes = std::fs::read(&image).unwrap();
    assert_eq!(bytes.len() as u64, t.disk.size());
    let mut want = vec![0u8; bytes.len()];
    t.disk.read_at(0, &mut want).unwrap();
    assert!(bytes == want);
    let verify = run(Command::new("sgdisk").arg("-v").arg(&image));
    assert!(verify.contains("No problems found"), "{verify}");
    // Holes: far fewer blocks allocated than the size.
    let blocks = std::fs::metadata(&image)
        .map(|m| std::os::unix::fs::MetadataExt::blocks(&m))
        .unwrap();
    assert!(
        blocks * 512 < t.disk.size() / 2,
        "{} bytes allocated",
        blocks * 512
    );
    // Growing: zeros at the end.
    let grown = t.dir().join("grown.raw");
    raw::write(&t.disk, &grown, Some(GROWN)).unwrap();
    assert_eq!(std::fs::metadata(&grown).unwrap().len(), GROWN);
    qemu_compare_with_raw(&image, "raw", &grown);
}

#[test]
fn qcow2_compressed_and_grown() {
    let t = TestDisk::new();
    let image = twice(t.dir(), "live.qcow2", |p, threads| {
        let options = qcow2::Options {
            virtual_size: Some(GROWN),
            compress: true,
            threads: Some(threads),
        };
        qcow2::write(&t.disk, p, &options).unwrap()
    });
    check_image(&t, "qcow2", &image, GROWN);
    let check = run(Command::new("qemu-img")
        .args(["check", "-f", "qcow2"])
        .arg(&image));
    assert!(
        !check.contains(" 0.00% compressed"),
        "nothing was compressed:\n{check}"
    );
    // The grown area is not allocated: `qemu-img map` lists nothing past the disk.
    let map = run(Command::new("qemu-img")
        .args(["map", "--output=json", "-f", "qcow2"])
        .arg(&image));
    for line in map.lines().filter(|l| l.contains("\"data\": true")) {
        let at = line.find("\"start\": ").unwrap() + 9;
        let start: u64 = line[at..]
            .split(',')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(
            start < t.disk.size(),
            "allocated data at {start} past the disk: {line}"
        );
    }
    // The compressed image is much smaller than the data it holds.
    assert!(std::fs::metadata(&image).unwrap().len() < t.data_bytes());
}

#[test]
fn qcow2_uncompressed() {
    let t = TestDisk::new();
    let image = t.dir().join("plain.qcow2");
    qcow2::write(&t.disk, &image, &qcow2::Options::default()).unwrap();
    check_image(&t, "qcow2", &image, t.disk.size());
}

#[test]
fn vdi_dynamic_grown() {
    let t = TestDisk::new();
    let image = twice(t.dir(), "live.vdi", |p, _| {
        vdi::write(&t.disk, p, &vdi::Options::from_seed(b"seed", Some(GROWN))).unwrap()
    });
    check_image(&t, "vdi", &image, GROWN);
    let info = run(Command::new("qemu-img")
        .args(["info", "-f", "vdi"])
        .arg(&image));
    assert!(
        std::fs::metadata(&image).unwrap().len() < GROWN / 2,
        "{info}"
    );
}

#[test]
fn parallels_bundle_grown() {
    let t = TestDisk::new();
    let bundle = parallels::Bundle {
        virtual_size: Some(GROWN),
        prefix: "live".into(),
        image_guid: "5fbaabe3-6958-40ff-92a7-860e329aab41".parse().unwrap(),
        disk_uid: evebuild_disk::Guid::derive(b"seed", "parallels uid"),
        name: "eve".into(),
    };
    let dir = twice(t.dir(), "live.parallels", |p, _| {
        parallels::write_bundle(&t.disk, p, &bundle).unwrap()
    });
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "DiskDescriptor.xml",
            "live.0.{5fbaabe3-6958-40ff-92a7-860e329aab41}.hds"
        ]
    );
    let image = dir.join(&names[1]);
    check_image(&t, "parallels", &image, GROWN);
    let xml = std::fs::read_to_string(dir.join("DiskDescriptor.xml")).unwrap();
    let sectors = GROWN / 512;
    for want in [
        format!("<Disk_size>{sectors}</Disk_size>"),
        format!("<Cylinders>{}</Cylinders>", sectors / 512),
        format!("<End>{sectors}</End>"),
        "<File>live.0.{5fbaabe3-6958-40ff-92a7-860e329aab41}.hds</File>".to_owned(),
        format!("<UID>{}</UID>", bundle.disk_uid.braced()),
    ] {
        assert!(xml.contains(&want), "no {want} in\n{xml}");
    }
    // Rewriting replaces the bundle.
    parallels::write_bundle(&t.disk, &dir, &bundle).unwrap();
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 2);
}

#[test]
fn vmdk_monolithic_sparse() {
    let t = TestDisk::new();
    let image = twice(t.dir(), "live.vmdk", |p, _| {
        vmdk::write(
            &t.disk,
            p,
            &vmdk::Options {
                virtual_size: Some(GROWN),
                cid: 0x1234abcd,
            },
        )
        .unwrap()
    });
    check_image(&t, "vmdk", &image, GROWN);
    let info = run(Command::new("qemu-img")
        .args(["info", "-f", "vmdk"])
        .arg(&image));
    assert!(info.contains("create type: monolithicSparse"), "{info}");
}

#[test]
fn vhd_dynamic() {
    let t = TestDisk::new();
    let image = twice(t.dir(), "live.vhd", |p, _| {
        let options = vhd::Options {
            virtual_size: Some(GROWN),
            unique_id: evebuild_disk::Guid::derive(b"seed", "vhd"),
            timestamp: 1_700_000_000,
        };
        vhd::write(&t.disk, p, &options).unwrap()
    });
    // qemu-img has no consistency check for VHD: it must say so rather than fail otherwise.
    let (ok, out) = run_status(
        Command::new("qemu-img")
            .args(["check", "-f", "vpc"])
            .arg(&image),
    );
    assert!(!ok && out.contains("does not support checks"), "{out}");
    qemu_compare_with_raw(&t.raw(), "vpc", &image);
    assert_eq!(virtual_size("vpc", &image), GROWN);
    let info = run(Command::new("qemu-img")
        .args(["info", "-f", "vpc"])
        .arg(&image));
    assert!(!info.contains("corrupt"), "{info}");
}

#[test]
fn gce_archive_holds_only_a_sparse_disk_raw() {
    let t = TestDisk::new();
    let archive = twice(t.dir(), "live.img.tar.gz", |p, threads| {
        let options = gce::Options {
            virtual_size: Some(GROWN),
            mtime: 1_700_000_000,
            threads: Some(threads),
        };
        gce::write(&t.disk, p, &options).unwrap()
    });
    run(Command::new("gzip").arg("-t").arg(&archive));
    let listing = run(Command::new("tar").arg("-tvzf").arg(&archive));
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 1, "{listing}");
    let fields: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(fields[0], "-rw-r--r--", "{listing}");
    assert_eq!(fields[1], "root/root", "{listing}");
    assert_eq!(fields[2], GROWN.to_string(), "{listing}");
    assert_eq!(fields.last().unwrap(), &"disk.raw", "{listing}");
    // GNU tar extracts the sparse member to the grown raw image.
    let out = t.dir().join("extract");
    std::fs::create_dir(&out).unwrap();
    run(Command::new("tar")
        .arg("-xSzf")
        .arg(&archive)
        .arg("-C")
        .arg(&out));
    let extracted = out.join("disk.raw");
    let grown = t.dir().join("grown.raw");
    raw::write(&t.disk, &grown, Some(GROWN)).unwrap();
    same_bytes(&grown, &extracted);
    // The archive is what GNU tar makes of the sparse raw image (EVE's command, without -z).
    let gnu = t.dir().join("gnu.tar");
    let mtime = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let linked = t.dir().join("disk.raw");
    std::fs::hard_link(&grown, &linked).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&linked)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    run(Command::new("tar")
        .args([
            "--mode=644",
            "--owner=root",
            "--group=root",
            "-S",
            "-h",
            "-cf",
        ])
        .arg(&gnu)
        .arg("disk.raw")
        .current_dir(t.dir()));
    let mut ours = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&archive).unwrap()),
        &mut ours,
    )
    .unwrap();
    assert!(
        ours == std::fs::read(&gnu).unwrap(),
        "the tar differs from GNU tar's"
    );
    // bsdtar reads it too.
    let listing = run(Command::new("bsdtar").arg("-tvzf").arg(&archive));
    assert!(listing.trim_end().ends_with(" disk.raw"), "{listing}");
    // Only the data is archived.
    assert!(std::fs::metadata(&archive).unwrap().len() < t.data_bytes());
    // No file name or time in the gzip header.
    let head = std::fs::read(&archive).unwrap();
    assert_eq!(&head[3..8], &[0, 0, 0, 0, 0]);
}
