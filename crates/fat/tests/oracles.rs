//! FAT images checked by the tools the world reads them with: `mkfs.fat` (geometry of empty
//! volumes), `fsck.fat -n` (consistency), `mcopy`/`mtype`/`mdir`/`minfo` (names, contents,
//! label, serial). Needs the Debian packages dosfstools and mtools.

use evebuild_fat::{Error, FatOptions, FatType, FatWriter, tree_to_bytes, write_tree};
use evebuild_tree::{Entry, EntryPath, Kind, MemTree, Sink};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
/// mkfs.fat --invariant's fixed creation time.
const INVARIANT_TIME: i64 = 1_426_325_213;
const SDE: i64 = 1_700_000_000;

/// Runs a tool, failing with the Debian package to install when it is missing.
fn run(tool: &str, package: &str, args: &[&str]) -> std::process::Output {
    Command::new(tool)
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {tool} ({e}): install the Debian package {package}"))
}

fn ok(tool: &str, package: &str, args: &[&str]) -> Vec<u8> {
    let o = run(tool, package, args);
    assert!(
        o.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn fsck_clean(img: &Path) -> String {
    let o = run(
        "fsck.fat",
        "dosfstools",
        &["-n", "-v", img.to_str().unwrap()],
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "fsck.fat -n found problems:\n{text}");
    text
}

/// Deterministic filler bytes.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(seed as u32 % 31) as u8
                ^ seed
        })
        .collect()
}

/// A tree with what FAT writers get wrong: nesting, long and Unicode names, aliases that
/// collide, lower-case short names, empty files and directories, a many-cluster file and a
/// directory of 100 files.
fn sample_tree(big: usize) -> MemTree {
    let mut t = MemTree::new();
    let add = |t: &mut MemTree, p: &str, data: Vec<u8>| t.add_file(p, data, 0o644, SDE).unwrap();
    add(&mut t, "server", b"zedcloud.alpha.zededa.net\n".to_vec());
    add(&mut t, "README.TXT", b"upper".to_vec());
    add(&mut t, "lower.TXT", b"base lower".to_vec());
    add(&mut t, "Mixed.Case.json", b"{}".to_vec());
    add(&mut t, "empty", Vec::new());
    add(&mut t, "big.bin", pattern(big, 7));
    add(
        &mut t,
        "DevicePortConfig/override.json.template",
        b"{\"a\":1}".to_vec(),
    );
    add(
        &mut t,
        "a/b/c/d/deep file name with spaces.txt",
        b"deep".to_vec(),
    );
    add(&mut t, "a/b/sibling", b"s".to_vec());
    add(
        &mut t,
        "unicode/été ☃ 日本語.txt",
        "snow".as_bytes().to_vec(),
    );
    add(&mut t, "unicode/Ωmega", b"o".to_vec());
    for i in 0..100 {
        add(
            &mut t,
            &format!("many/configuration file number {i:03}.json"),
            pattern(i * 37, i as u8),
        );
    }
    // Aliases: the exact short name GRUBCF~1.TMP already exists.
    add(&mut t, "alias/grub.cfg.tmpl", b"tmpl".to_vec());
    add(&mut t, "alias/GRUBCF~1.TMP", b"exact".to_vec());
    add(&mut t, "alias/grub.cfg.tmpl2", b"tmpl2".to_vec());
    t.mkdir_p("empty-dir", SDE).unwrap();
    let name255 = "n".repeat(251) + ".txt";
    add(&mut t, &format!("long/{name255}"), b"255".to_vec());
    t
}

/// Copies everything out with mcopy and compares it with the tree, name by name.
fn assert_reads_back(img: &Path, tree: &MemTree) {
    let out = tempfile::tempdir().unwrap();
    ok(
        "mcopy",
        "mtools",
        &[
            "-s",
            "-n",
            "-i",
            img.to_str().unwrap(),
            "::/",
            out.path().to_str().unwrap(),
        ],
    );
    let mut seen = MemTree::new();
    evebuild_tree::walk_dir(out.path(), None, &Default::default(), &mut seen).unwrap();
    let got: Vec<(String, bool, Vec<u8>)> = seen
        .iter()
        .map(|(e, d)| (e.path.to_string(), e.kind == Kind::Dir, d.to_vec()))
        .collect();
    let want: Vec<(String, bool, Vec<u8>)> = tree
        .iter()
        .map(|(e, d)| (e.path.to_string(), e.kind == Kind::Dir, d.to_vec()))
        .collect();
    let names = |v: &[(String, bool, Vec<u8>)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&got), names(&want), "names read back by mcopy");
    for (g, w) in got.iter().zip(&want) {
        assert!(g == w, "{} differs when read back", w.0);
    }
}

fn build(dir: &Path, name: &str, tree: &MemTree, opts: &FatOptions) -> PathBuf {
    let path = dir.join(name);
    let mut f = fs::File::create(&path).unwrap();
    write_tree(tree, opts, &mut f).unwrap();
    path
}

/// Empty volumes are laid out exactly like mkfs.fat 4.2's: every byte but the boot code and
/// OEM name is the same.
#[test]
fn empty_volumes_match_mkfs_fat() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(u64, Option<FatType>, Option<&str>)] = &[
        (MIB, None, Some("EVE")),
        (1440 * KIB, None, Some("FLOPPY")),
        (5 * MIB, None, Some("EVE")),
        (36 * MIB, None, Some("EVE")),
        (36 * MIB, Some(FatType::Fat32), Some("EVE")),
        (40240 * KIB, None, Some("INVENTORY")),
        (100 * MIB, Some(FatType::Fat16), None),
        (16 * MIB, Some(FatType::Fat12), Some("EVE")),
        (600 * MIB, None, Some("EVE")),
        (2_097_151 * KIB, Some(FatType::Fat32), Some("EVE")),
    ];
    for &(size, forced, label) in cases {
        let ours = dir.path().join("ours.img");
        let theirs = dir.path().join("theirs.img");
        let _ = fs::remove_file(&theirs);
        let mut opts = FatOptions::new(size, 0x0A0B_0C0D, INVARIANT_TIME);
        opts.label = label.map(str::to_string);
        if let Some(t) = forced {
            opts = opts.fat_type(t);
        }
        build(dir.path(), "ours.img", &MemTree::new(), &opts);
        let kib = (size / KIB).to_string();
        let mut args = vec![
            "--invariant",
            "-i",
            "0a0b0c0d",
            "-C",
            theirs.to_str().unwrap(),
        ];
        let fflag;
        if let Some(t) = forced {
            fflag = format!("-F{}", t.bits());
            args.insert(0, &fflag);
        }
        if let Some(l) = label {
            args.splice(0..0, ["-n", l]);
        }
        args.push(&kib);
        ok("mkfs.fat", "dosfstools", &args);
        assert_eq!(
            fs::metadata(&ours).unwrap().len(),
            fs::metadata(&theirs).unwrap().len()
        );
        // Compare the metadata area (reserved sectors, FATs, root) plus a margin.
        let head = |p: &Path| {
            let mut b = vec![0u8; (8 * MIB).min(size) as usize];
            fs::File::open(p).unwrap().read_exact(&mut b).unwrap();
            b
        };
        let (mut a, mut b) = (head(&ours), head(&theirs));
        let fat32 = b[22] == 0 && b[23] == 0;
        let code = if fat32 { 90 } else { 62 };
        for img in [&mut a, &mut b] {
            img[3..11].fill(0); // OEM name
            img[code..510].fill(0); // boot code
            if fat32 {
                img[6 * 512 + 3..6 * 512 + 11].fill(0);
                img[6 * 512 + code..6 * 512 + 510].fill(0);
            }
        }
        let first_diff = a.iter().zip(&b).position(|(x, y)| x != y);
        assert_eq!(
            first_diff, None,
            "size {size} {forced:?}: first differing byte"
        );
        fsck_clean(&ours);
    }
}

#[test]
fn populated_volumes_pass_fsck_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let cases: &[(u64, Option<FatType>, usize, &str)] = &[
        (MIB, None, 300 * 1024, "FAT12"),
        (5 * MIB, None, 3 * 1024 * 1024 + 5, "FAT12"),
        (36 * MIB, None, 20 * 1024 * 1024 + 1, "FAT16"),
        (36 * MIB, Some(FatType::Fat32), 20 * 1024 * 1024, "FAT32"),
        (
            2_097_151 * KIB,
            Some(FatType::Fat32),
            9 * 1024 * 1024 + 3,
            "FAT32",
        ),
    ];
    for &(size, forced, big, fat) in cases {
        let tree = sample_tree(big);
        let mut opts = FatOptions::new(size, 0xDEAD_BEEF, SDE).label("EVE");
        if let Some(t) = forced {
            opts = opts.fat_type(t);
        }
        let img = build(dir.path(), "p.img", &tree, &opts);
        let report = fsck_clean(&img);
        assert!(
            report.contains(&format!("2 FATs, {} bit entries", &fat[3..])),
            "{report}"
        );
        let minfo =
            String::from_utf8(ok("minfo", "mtools", &["-i", img.to_str().unwrap(), "::"])).unwrap();
        assert!(minfo.contains("serial number: DEADBEEF"), "{minfo}");
        assert!(minfo.contains("disk label=\"EVE        \""), "{minfo}");
        assert!(
            minfo.contains(&format!("disk type=\"{fat}   \"")),
            "{minfo}"
        );
        assert_reads_back(&img, &tree);

        let img_s = img.to_str().unwrap();
        let listing = String::from_utf8(ok("mdir", "mtools", &["-/", "-i", img_s, "::"])).unwrap();
        for name in [
            "lower    TXT",
            "server",
            "Mixed.Case.json",
            "deep file name with spaces.txt",
        ] {
            assert!(listing.contains(name), "mdir -/ lacks {name}:\n{listing}");
        }
        assert!(listing.contains("Volume in drive : is EVE"), "{listing}");
        let big_back = ok("mtype", "mtools", &["-i", img_s, "::/big.bin"]);
        assert!(big_back == pattern(big, 7), "mtype big.bin");
        let deep = ok(
            "mtype",
            "mtools",
            &["-i", img_s, "::/a/b/c/d/deep file name with spaces.txt"],
        );
        assert_eq!(deep, b"deep");
        // The alias of grub.cfg.tmpl steps over the existing short name GRUBCF~1.TMP.
        let alias = String::from_utf8(ok("mdir", "mtools", &["-i", img_s, "::/alias"])).unwrap();
        assert!(alias.contains("GRUBCF~2 TMP"), "{alias}");
        assert!(alias.contains("GRUBCF~3 TMP"), "{alias}");
    }
}

#[test]
fn same_input_same_bytes_whatever_the_order() {
    let tree = sample_tree(70_000);
    let opts = FatOptions::new(5 * MIB, 1, SDE).label("EVE");
    let a = tree_to_bytes(&tree, &opts).unwrap();
    // The same entries streamed in reverse order into the sink.
    let mut w = FatWriter::new(opts.clone()).unwrap();
    let entries: Vec<(Entry, Vec<u8>)> =
        tree.iter().map(|(e, d)| (e.clone(), d.to_vec())).collect();
    for (e, d) in entries.iter().rev() {
        w.add(e, &mut &d[..]).unwrap();
    }
    let mut b = std::io::Cursor::new(Vec::new());
    w.finish(&mut b).unwrap();
    assert!(a == b.into_inner(), "entry order changed the image");
    assert!(a == tree_to_bytes(&tree, &opts).unwrap());
    assert_eq!(a.len() as u64, 5 * MIB);
}

#[test]
fn times_come_from_the_entries_and_the_label_from_the_timestamp() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = MemTree::new();
    // 2021-06-15 13:45:30 UTC; its parent directory is only implied.
    t.insert(
        Entry::file(
            EntryPath::new("sub/f.txt").unwrap(),
            1,
            0o444,
            1_623_764_730,
        ),
        b"x".to_vec(),
    );
    let img = build(
        dir.path(),
        "t.img",
        &t,
        &FatOptions::new(MIB, 5, SDE).label("EVE"),
    );
    let listing = String::from_utf8(ok(
        "mdir",
        "mtools",
        &["-i", img.to_str().unwrap(), "::/sub"],
    ))
    .unwrap();
    assert!(listing.contains("2021-06-15  13:45"), "{listing}");
    // Implied directory: the timestamp (2023-11-14 22:13:20 UTC).
    let root =
        String::from_utf8(ok("mdir", "mtools", &["-i", img.to_str().unwrap(), "::"])).unwrap();
    assert!(root.contains("2023-11-14  22:13"), "{root}");
    // Owner-read-only → the read-only attribute.
    let attrs = String::from_utf8(ok(
        "mattrib",
        "mtools",
        &["-i", img.to_str().unwrap(), "::/sub/f.txt"],
    ))
    .unwrap();
    assert!(attrs.trim_start().starts_with("A    R"), "{attrs}");
}

#[test]
fn empty_tree_is_a_valid_volume() {
    let dir = tempfile::tempdir().unwrap();
    let opts = FatOptions::new(2_097_151 * KIB, 9, SDE)
        .label("EVE")
        .fat_type(FatType::Fat32);
    let img = build(dir.path(), "e.img", &MemTree::new(), &opts);
    fsck_clean(&img);
    let listing =
        String::from_utf8(ok("mdir", "mtools", &["-i", img.to_str().unwrap(), "::"])).unwrap();
    assert!(listing.contains("No files"), "{listing}");
}

fn err_of(tree: &MemTree, opts: &FatOptions) -> Error {
    tree_to_bytes(tree, opts).expect_err("should fail")
}

#[test]
fn unrepresentable_entries_are_named() {
    let opts = FatOptions::new(MIB, 1, SDE);
    let p = |s: &str| EntryPath::new(s).unwrap();
    let specials = [
        Entry::symlink(p("etc/link"), "target", SDE),
        Entry::new(
            p("dev/null"),
            Kind::CharDevice { major: 1, minor: 3 },
            0o666,
            SDE,
        ),
        Entry::new(
            p("dev/sda"),
            Kind::BlockDevice { major: 8, minor: 0 },
            0o660,
            SDE,
        ),
        Entry::new(p("run/fifo"), Kind::Fifo, 0o644, SDE),
        Entry::new(p("hl"), Kind::Hardlink { target: p("x") }, 0o644, SDE),
    ];
    for e in specials {
        let mut w = FatWriter::new(opts.clone()).unwrap();
        let msg = w.add(&e, &mut std::io::empty()).unwrap_err().to_string();
        assert!(msg.starts_with(&e.path.to_string()), "{msg}");
        assert!(msg.contains("cannot be stored in FAT"), "{msg}");
        let mut t = MemTree::new();
        t.insert(e.clone(), Vec::new());
        assert!(
            err_of(&t, &opts)
                .to_string()
                .starts_with(&e.path.to_string())
        );
    }
    for bad in [
        "a*b",
        "q?",
        "x<y",
        "x>y",
        "p|q",
        "say\"hi\"",
        "c:d",
        "back\\slash",
        "ctl\u{1}",
        "dot.",
        "sp ",
    ] {
        let mut t = MemTree::new();
        t.add_file(&format!("dir/{bad}"), b"x".to_vec(), 0o644, SDE)
            .unwrap();
        let msg = err_of(&t, &opts).to_string();
        assert!(
            msg.contains("cannot be stored in FAT") && msg.contains("/dir/"),
            "{bad}: {msg}"
        );
    }
    let mut t = MemTree::new();
    t.insert(
        Entry::file(EntryPath::new(b"bad\xff").unwrap(), 1, 0o644, SDE),
        b"x".to_vec(),
    );
    assert!(err_of(&t, &opts).to_string().contains("not UTF-8"));
}

#[test]
fn case_collisions_are_errors() {
    let mut t = MemTree::new();
    t.add_file("conf/Server", b"a".to_vec(), 0o644, SDE)
        .unwrap();
    t.add_file("conf/server", b"b".to_vec(), 0o644, SDE)
        .unwrap();
    let msg = err_of(&t, &FatOptions::new(MIB, 1, SDE)).to_string();
    assert!(
        msg.contains("/conf/Server and /conf/server differ only in letter case"),
        "{msg}"
    );
    let mut t = MemTree::new();
    t.add_file("Été", b"a".to_vec(), 0o644, SDE).unwrap();
    t.add_file("été", b"b".to_vec(), 0o644, SDE).unwrap();
    assert!(matches!(
        err_of(&t, &FatOptions::new(MIB, 1, SDE)),
        Error::CaseCollision { .. }
    ));
}

#[test]
fn content_that_does_not_fit_names_the_size_needed() {
    let mut t = MemTree::new();
    t.add_file("huge", pattern(3 * MIB as usize, 1), 0o644, SDE)
        .unwrap();
    let opts = FatOptions::new(MIB, 1, SDE).label("EVE");
    let err = err_of(&t, &opts);
    let Error::NoSpace {
        min_size: Some(min),
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert!(err.to_string().contains("MiB) holds it"), "{err}");
    // The size named really holds it, and one MiB less does not.
    let fits = FatOptions {
        size: *min,
        ..opts.clone()
    };
    tree_to_bytes(&t, &fits).unwrap();
    let smaller = FatOptions {
        size: *min - MIB,
        ..opts.clone()
    };
    assert!(matches!(err_of(&t, &smaller), Error::NoSpace { .. }));
    // A forced type keeps its type while growing: FAT12 reaches 3 MiB at 8 KiB clusters.
    let err = err_of(&t, &FatOptions::new(MIB, 1, SDE).fat_type(FatType::Fat12));
    let Error::NoSpace {
        min_size: Some(min12),
        ..
    } = err
    else {
        panic!("{err}")
    };
    let g = evebuild_fat::Geometry::for_size(
        min12,
        evebuild_fat::FatTypeChoice::Forced(FatType::Fat12),
    )
    .unwrap();
    assert_eq!(g.fat_type, FatType::Fat12);
}

#[test]
fn fat12_root_directory_limit() {
    let mut t = MemTree::new();
    for i in 0..300 {
        t.add_file(&format!("long name {i}.txt"), Vec::new(), 0o644, SDE)
            .unwrap();
    }
    let err = err_of(&t, &FatOptions::new(5 * MIB, 1, SDE));
    assert!(
        err.to_string().contains("/ needs 900 directory entries")
            && err.to_string().contains("holds at most 512"),
        "{err}"
    );
}

#[test]
fn bad_options_are_refused() {
    for (opts, want) in [
        (FatOptions::new(MIB + 100, 1, SDE), "not a multiple of 512"),
        (
            FatOptions::new(16 * KIB, 1, SDE),
            "cannot hold a FAT filesystem",
        ),
        (FatOptions::new(40 * KIB, 1, SDE), "too small"),
        (
            FatOptions::new(MIB, 1, SDE).label("eve"),
            "'e' is not allowed",
        ),
        (
            FatOptions::new(MIB, 1, SDE).label("TWELVECHARSX"),
            "longer than 11",
        ),
        (
            FatOptions::new(MIB, 1, SDE).fat_type(FatType::Fat16),
            "cannot hold a FAT16",
        ),
    ] {
        let msg = FatWriter::new(opts).unwrap_err().to_string();
        assert!(msg.contains(want), "{msg} (wanted {want:?})");
    }
}

/// UEFI firmware (OVMF under QEMU, no KVM) finds and runs `EFI/BOOT/BOOTX64.EFI` (a GRUB that
/// prints a marker and halts) from an ESP written here, inside a GPT disk as make-raw lays it
/// out. Needs qemu-system-x86, ovmf, grub-efi-amd64-bin and gdisk.
#[test]
fn uefi_firmware_boots_from_the_esp() {
    const MARKER: &str = "EVEBUILD-ESP-BOOTED";
    let dir = tempfile::tempdir().unwrap();
    let grub = dir.path().join("BOOTX64.EFI");
    ok(
        "grub-mkimage",
        "grub-efi-amd64-bin",
        &[
            "-O",
            "x86_64-efi",
            "-p",
            "/EFI/BOOT",
            "-o",
            grub.to_str().unwrap(),
            "fat",
            "part_gpt",
            "normal",
            "echo",
            "halt",
        ],
    );
    let mut t = MemTree::new();
    t.add_file("EFI/BOOT/BOOTX64.EFI", fs::read(&grub).unwrap(), 0o644, SDE)
        .unwrap();
    t.add_file(
        "EFI/BOOT/grub.cfg",
        format!("echo {MARKER}\nhalt\n"),
        0o644,
        SDE,
    )
    .unwrap();
    // The ESP as make-raw sizes it: mkfs is given (2 GiB − 1 sector) in whole KiB.
    let esp = FatOptions::new(2_097_151 * KIB, 0x1234_5678, SDE)
        .label("EVE")
        .fat_type(FatType::Fat32);
    let disk = dir.path().join("disk.raw");
    let f = fs::File::create(&disk).unwrap();
    f.set_len(2 * 1024 * MIB + 2 * MIB).unwrap();
    drop(f);
    ok(
        "sgdisk",
        "gdisk",
        &[
            "-n",
            "1:2048:+2097151K",
            "-t",
            "1:ef00",
            disk.to_str().unwrap(),
        ],
    );
    let f = fs::OpenOptions::new().write(true).open(&disk).unwrap();
    // Writing through an offset view of the disk file: the writer seeks relative to it.
    let mut part = Offset { f, base: MIB };
    write_tree(&t, &esp, &mut part).unwrap();
    let out = run(
        "timeout",
        "coreutils",
        &[
            "120",
            "qemu-system-x86_64",
            "-machine",
            "q35",
            "-m",
            "512",
            "-nographic",
            "-no-reboot",
            "-bios",
            "/usr/share/ovmf/OVMF.fd",
            "-serial",
            "mon:stdio",
            "-drive",
            &format!("file={},format=raw,if=virtio", disk.display()),
        ],
    );
    let console = String::from_utf8_lossy(&out.stdout);
    assert!(
        console.contains(MARKER),
        "no {MARKER} on the console (install qemu-system-x86 and ovmf):\n{}",
        console
            .chars()
            .rev()
            .take(2000)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    );
}

/// A file seen from `base` on, so that offset 0 is the partition's first byte.
struct Offset {
    f: fs::File,
    base: u64,
}

impl std::io::Write for Offset {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.f.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.f.flush()
    }
}

impl std::io::Seek for Offset {
    fn seek(&mut self, pos: std::io::SeekFrom) -> std::io::Result<u64> {
        let std::io::SeekFrom::Start(n) = pos else {
            unimplemented!("the FAT writer seeks from the start only")
        };
        Ok(self.f.seek(std::io::SeekFrom::Start(self.base + n))? - self.base)
    }
}
