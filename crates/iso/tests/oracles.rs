//! ISO images checked by the tools the world reads them with: xorriso (`-find -exec lsdl`,
//! `-report_el_torito`, `-pvd_info`, `osirrox -extract`), cdrkit's isoinfo (`-d`, `-l`, the
//! plain ISO 9660 tree), libarchive's bsdtar (a third reader), fsck.fat/mtools for the El
//! Torito image, and xorriso itself as the reference writer for the same tree. Needs the
//! Debian packages xorriso, genisoimage, libarchive-tools, dosfstools and mtools.

use evebuild_iso::{Error, IsoOptions, IsoSummary, IsoWriter, Platform, Source, write_tree};
use evebuild_tree::{Entry, EntryPath, Kind, MemTree, Sink};
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

const SDE: i64 = 1_700_000_000;

/// Runs an oracle; returns its standard output and error together.
fn ok(tool: &str, package: &str, args: &[&str]) -> String {
    let o = output(tool, package, args);
    assert!(
        o.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn output(tool: &str, package: &str, args: &[&str]) -> std::process::Output {
    Command::new(evebuild_testkit::tool(tool, package))
        .args(args)
        .env("LC_ALL", "C.UTF-8")
        .env("TZ", "UTC")
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"))
}

fn xorriso(args: &[&str]) -> String {
    ok("xorriso", "xorriso", args)
}

/// Deterministic filler bytes.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(2_654_435_761)
                .rotate_left(u32::from(seed % 31)) as u8
                ^ seed
        })
        .collect()
}

fn p(s: &str) -> EntryPath {
    EntryPath::new(s).unwrap()
}

fn long(c: char, n: usize) -> String {
    std::iter::repeat_n(c, n).collect()
}

/// A tree exercising what Rock Ridge records: modes, owners, long and colliding names,
/// symbolic links (short, absolute, long), a hard link, sizes around sector boundaries and a
/// directory whose records and continuation areas span several sectors.
fn sample_tree() -> MemTree {
    let mut t = MemTree::new();
    t.add_file("EFI/BOOT/grub.cfg", "set timeout=0\n", 0o644, SDE)
        .unwrap();
    t.add_file(
        "boot/.uuid",
        "0123456789abcdef0123456789abcdef\n",
        0o644,
        SDE,
    )
    .unwrap();
    t.add_file("boot/.boot_repository", "", 0o644, SDE).unwrap();
    t.add_file("etc/eve-release", "1.2.3-kvm-amd64\n", 0o644, SDE - 86_400)
        .unwrap();
    t.add_file("sizes/one-sector", pattern(2048, 1), 0o600, SDE)
        .unwrap();
    t.add_file("sizes/just-over", pattern(2049, 2), 0o755, SDE)
        .unwrap();
    t.add_file("sizes/big", pattern(300_001, 3), 0o4755, SDE)
        .unwrap();
    t.add_file("names/Readme", "a", 0o644, SDE).unwrap();
    t.add_file("names/readme", "b", 0o644, SDE).unwrap();
    t.add_file("names/README.txt", "c", 0o644, SDE).unwrap();
    t.add_file("names/with space and ünïcödé", "d", 0o644, SDE)
        .unwrap();
    t.add_file(&format!("names/{}", long('n', 240)), "e", 0o644, SDE)
        .unwrap();
    t.add_file(&format!("names/{}", long('m', 255)), "f", 0o644, SDE)
        .unwrap();
    t.mkdir_p("names/abcdefghij", SDE).unwrap();
    t.mkdir_p("names/abcdefghik", SDE).unwrap();
    let mut owned = Entry::file(p("names/owned"), 0, 0o640, SDE);
    owned.uid = 1000;
    owned.gid = 100;
    t.insert(owned, b"owned\n".to_vec());
    t.insert(
        Entry::symlink(p("links/rel"), "../etc/eve-release", SDE),
        Vec::new(),
    );
    t.insert(
        Entry::symlink(p("links/abs"), "/etc/./eve-release", SDE),
        Vec::new(),
    );
    let far = format!("/{}/{}/x", long('a', 300), long('b', 200));
    t.insert(Entry::symlink(p("links/far"), far, SDE), Vec::new());
    t.insert(
        Entry::new(
            p("links/hard"),
            Kind::Hardlink {
                target: p("sizes/just-over"),
            },
            0o755,
            SDE,
        ),
        Vec::new(),
    );
    for i in 0..60 {
        t.add_file(
            &format!("many/file-with-a-longer-name-number-{i:03}.data"),
            format!("{i}\n"),
            0o644,
            SDE,
        )
        .unwrap();
    }
    t.mkdir_p("a/b/c/d/e/f/g", SDE).unwrap();
    t.add_file("a/b/c/d/e/f/g/deepest", "deep\n", 0o644, SDE)
        .unwrap();
    t
}

/// The sample tree as `a.iso` in `dir`, no boot image.
fn sample_iso(dir: &Path) -> PathBuf {
    build(
        &sample_tree(),
        &IsoOptions::new("EVEISO", SDE),
        dir,
        "a.iso",
    )
    .0
}

fn build(tree: &MemTree, opts: &IsoOptions, dir: &Path, name: &str) -> (PathBuf, IsoSummary) {
    let path = dir.join(name);
    let f = fs::File::create(&path).unwrap();
    let s = write_tree(tree, opts, f).unwrap();
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        u64::from(s.sectors) * 2048
    );
    (path, s)
}

/// `xorriso -find / -exec lsdl` without the dates: path → "mode nlink uid gid size [-> target]".
fn listing(iso: &Path) -> BTreeMap<String, String> {
    let out = xorriso(&[
        "-indev",
        iso.to_str().unwrap(),
        "-find",
        "/",
        "-exec",
        "lsdl",
    ]);
    let mut m = BTreeMap::new();
    // Entry lines start with a mode string and a link count.
    let is_entry = |l: &&str| {
        let mut f = l.split_whitespace();
        f.next()
            .is_some_and(|m| m.len() == 10 && "-dlcbps".contains(&m[..1]))
            && f.next().is_some_and(|n| n.parse::<u32>().is_ok())
    };
    for line in out.lines().filter(is_entry) {
        let q = line.find(" '/").unwrap();
        let fields: Vec<&str> = line[..q].split_whitespace().collect();
        let (path, target) = match line[q + 2..].split_once("' -> '") {
            Some((a, b)) => (a.to_string(), format!(" -> {}", b.trim_end_matches('\''))),
            None => (line[q + 2..].trim_matches('\'').to_string(), String::new()),
        };
        m.insert(path, format!("{}{target}", fields[..5].join(" ")));
    }
    m
}

#[test]
fn xorriso_reads_rock_ridge_names_modes_owners_links() {
    let dir = tempfile::tempdir().unwrap();
    let iso = sample_iso(dir.path());
    let l = listing(&iso);
    let get = |k: &str| {
        l.get(k)
            .unwrap_or_else(|| panic!("{k} missing from {l:#?}"))
            .as_str()
    };
    // xorriso shows 1 link for every directory, whatever Rock Ridge says.
    assert_eq!(get("/"), "drwxr-xr-x 1 0 0 0");
    assert_eq!(get("/boot/.boot_repository"), "-rw-r--r-- 1 0 0 0");
    assert_eq!(get("/sizes/one-sector"), "-rw------- 1 0 0 2048");
    // Without Rock Ridge inode numbers xorriso counts one link per file; isoinfo (below) shows
    // the recorded count and the shared extent.
    assert_eq!(get("/sizes/just-over"), "-rwxr-xr-x 1 0 0 2049");
    assert_eq!(get("/links/hard"), "-rwxr-xr-x 1 0 0 2049");
    assert_eq!(get("/sizes/big"), "-rwsr-xr-x 1 0 0 300001");
    assert_eq!(get("/names/owned"), "-rw-r----- 1 1000 100 6");
    assert_eq!(
        get("/links/rel"),
        "lrwxrwxrwx 1 0 0 0 -> ../etc/eve-release"
    );
    assert_eq!(
        get("/links/abs"),
        "lrwxrwxrwx 1 0 0 0 -> /etc/./eve-release"
    );
    let far = format!("/{}/{}/x", long('a', 300), long('b', 200));
    assert_eq!(get("/links/far"), format!("lrwxrwxrwx 1 0 0 0 -> {far}"));
    assert!(l.contains_key(&format!("/names/{}", long('n', 240))));
    assert!(l.contains_key(&format!("/names/{}", long('m', 255))));
    assert!(l.contains_key("/names/with space and ünïcödé"));
    assert!(l.contains_key("/a/b/c/d/e/f/g/deepest"));
    for i in 0..60 {
        assert!(l.contains_key(&format!("/many/file-with-a-longer-name-number-{i:03}.data")));
    }
    let mut want: Vec<String> = sample_tree()
        .iter()
        .map(|(e, _)| e.path.to_string())
        .collect();
    // `links/` is only implied by its children: the writer makes it 0755, root.
    want.extend(["/".into(), "/links".into()]);
    want.sort();
    assert_eq!(get("/links"), "drwxr-xr-x 1 0 0 0");
    assert_eq!(
        l.keys().cloned().collect::<Vec<_>>(),
        want,
        "every entry and the root, nothing else"
    );
}

#[test]
fn osirrox_and_bsdtar_extract_identical_contents() {
    let dir = tempfile::tempdir().unwrap();
    let tree = sample_tree();
    let iso = sample_iso(dir.path());
    let x = dir.path().join("x");
    xorriso(&[
        "-osirrox",
        "on",
        "-indev",
        iso.to_str().unwrap(),
        "-extract",
        "/",
        x.to_str().unwrap(),
    ]);
    let b = dir.path().join("b");
    fs::create_dir(&b).unwrap();
    ok(
        "bsdtar",
        "libarchive-tools",
        &["-xf", iso.to_str().unwrap(), "-C", b.to_str().unwrap()],
    );
    for out in [&x, &b] {
        for (e, data) in tree.iter() {
            let host = out.join(e.path.as_str_lossy().as_ref());
            let meta = fs::symlink_metadata(&host)
                .unwrap_or_else(|err| panic!("{}: {err}", host.display()));
            match &e.kind {
                Kind::File { .. } => {
                    assert_eq!(fs::read(&host).unwrap(), data, "{}", host.display());
                    assert_eq!(
                        meta.permissions().mode() & 0o7777,
                        e.mode,
                        "{}",
                        host.display()
                    );
                }
                Kind::Hardlink { target } => {
                    let (_, td) = tree.get(target).unwrap();
                    assert_eq!(fs::read(&host).unwrap(), td);
                }
                Kind::Symlink { target } => {
                    assert_eq!(
                        fs::read_link(&host).unwrap().as_os_str().as_encoded_bytes(),
                        &target[..]
                    );
                }
                Kind::Dir => assert!(meta.is_dir()),
                _ => unreachable!(),
            }
        }
    }
}

#[test]
fn isoinfo_sees_level1_tree_rock_ridge_and_no_joliet() {
    let dir = tempfile::tempdir().unwrap();
    let iso = sample_iso(dir.path());
    let d = ok(
        "isoinfo",
        "genisoimage",
        &["-d", "-i", iso.to_str().unwrap()],
    );
    assert!(d.contains("Volume id: EVEISO"), "{d}");
    assert!(d.contains("NO Joliet present"), "{d}");
    assert!(d.contains("Rock Ridge signatures version 1 found"), "{d}");
    assert!(d.contains("Logical block size is: 2048"), "{d}");
    let size = fs::metadata(&iso).unwrap().len() / 2048;
    assert!(d.contains(&format!("Volume size is: {size}")), "{d}");
    let plain = ok(
        "isoinfo",
        "genisoimage",
        &["-l", "-i", iso.to_str().unwrap()],
    );
    for name in [
        "_UUID.;1",
        "_BOOT_RE.;1",
        "EVE_RELE.;1",
        "README.TXT;1",
        "README.;1",
        "README1.;1",
        "ABCDEFGH",
        "ABCDEFG1",
    ] {
        assert!(
            plain.contains(&format!(" {name} ")) || plain.contains(&format!(" {name}\n")),
            "{name} in\n{plain}"
        );
    }
    // The hard link: two records, the recorded link count, one extent.
    let rr = ok(
        "isoinfo",
        "genisoimage",
        &["-R", "-l", "-i", iso.to_str().unwrap()],
    );
    let line = |name: &str| {
        rr.lines()
            .find(|l| l.ends_with(&format!("]  {name} ")))
            .unwrap_or_else(|| panic!("{name} in\n{rr}"))
            .to_string()
    };
    let (a, b) = (line("just-over"), line("hard"));
    assert!(
        a.starts_with("-rwxr-xr-x   2") && b.starts_with("-rwxr-xr-x   2"),
        "{a}\n{b}"
    );
    let extent = |l: &str| l[l.find('[').unwrap()..l.find(']').unwrap()].to_string();
    assert_eq!(extent(&a), extent(&b));
    // Extract one file by its ISO 9660 path with a reader that ignores Rock Ridge.
    let o = output(
        "isoinfo",
        "genisoimage",
        &["-i", iso.to_str().unwrap(), "-x", "/SIZES/BIG.;1"],
    );
    assert_eq!(o.stdout, pattern(300_001, 3));
}

#[test]
fn volume_descriptor_times_come_from_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let iso = sample_iso(dir.path());
    let pvd = xorriso(&["-indev", iso.to_str().unwrap(), "-pvd_info"]);
    assert!(pvd.contains("Creation Time: 2023111422132000"), "{pvd}");
    assert!(pvd.contains("Modif. Time  : 2023111422132000"), "{pvd}");
    assert!(pvd.contains("Expir. Time  : 0000000000000000"), "{pvd}");
    let ls = xorriso(&[
        "-indev",
        iso.to_str().unwrap(),
        "-lsdl",
        "/etc/eve-release",
        "/boot",
    ]);
    assert!(
        ls.contains("Nov 13  2023") || ls.contains("Nov 13 22:13"),
        "{ls}"
    );
}

/// A FAT image holding EFI/BOOT/BOOTX64.EFI and a grub.cfg, like EVE's boot.img.
fn efi_image(dir: &Path) -> (PathBuf, Vec<u8>) {
    let mut t = MemTree::new();
    let loader = pattern(200_000, 7);
    t.add_file("EFI/BOOT/BOOTX64.EFI", loader.clone(), 0o644, SDE)
        .unwrap();
    t.add_file(
        "EFI/BOOT/grub.cfg",
        "configfile ($dev)/EFI/BOOT/grub.cfg\n",
        0o644,
        SDE,
    )
    .unwrap();
    let kib = (loader.len() as u64 / 1024 + 511) / 32 * 32;
    let opts = evebuild_fat::FatOptions::new(kib * 1024, 0x1234_5678, SDE);
    let bytes = evebuild_fat::tree_to_bytes(&t, &opts).unwrap();
    let path = dir.join("boot.img");
    fs::write(&path, &bytes).unwrap();
    (path, bytes)
}

#[test]
fn one_hidden_uefi_el_torito_entry_whose_image_is_a_clean_fat() {
    let dir = tempfile::tempdir().unwrap();
    let (img, bytes) = efi_image(dir.path());
    let opts = IsoOptions::new("EVEISO", SDE).boot(Platform::Uefi, Source::file(&img).unwrap());
    let (iso, s) = build(&sample_tree(), &opts, dir.path(), "boot.iso");
    let report = xorriso(&[
        "-indev",
        iso.to_str().unwrap(),
        "-report_el_torito",
        "plain",
    ]);
    let imgs: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("El Torito boot img :"))
        .collect();
    assert_eq!(imgs.len(), 1, "{report}");
    let f: Vec<&str> = imgs[0].split_whitespace().collect();
    // El Torito boot img :   1  UEFI  y   none  0x0000  0x00   <ldsiz>  <lba>
    assert_eq!(&f[5..10], ["1", "UEFI", "y", "none", "0x0000"], "{report}");
    let (lba, count) = s.boot_image.unwrap();
    assert_eq!(f[12], lba.to_string());
    assert_eq!(f[11], count.to_string());
    assert_eq!(u64::from(count) * 512, bytes.len() as u64);
    assert!(
        report.contains(&format!(
            "El Torito catalog  : {}  1",
            s.boot_catalog.unwrap()
        )),
        "{report}"
    );
    // The image at that LBA is the FAT image, byte for byte, and fsck.fat finds it clean.
    let all = fs::read(&iso).unwrap();
    let at = lba as usize * 2048;
    let extracted = &all[at..at + count as usize * 512];
    assert_eq!(extracted, &bytes[..]);
    let x = dir.path().join("extracted.img");
    fs::write(&x, extracted).unwrap();
    ok("fsck.fat", "dosfstools", &["-n", x.to_str().unwrap()]);
    let cfg = ok(
        "mtype",
        "mtools",
        &["-i", x.to_str().unwrap(), "::/EFI/BOOT/grub.cfg"],
    );
    assert!(cfg.contains("configfile"), "{cfg}");
    // Hidden: neither the image nor the catalog is in the tree.
    let l = listing(&iso);
    assert!(
        !l.keys()
            .any(|k| k.contains("boot.img") || k.contains("catalog")),
        "{l:#?}"
    );
    let d = ok(
        "isoinfo",
        "genisoimage",
        &["-d", "-i", iso.to_str().unwrap()],
    );
    assert!(d.contains("Arch 239"), "{d}");
    assert!(d.contains("Boot media 0 (No Emulation Boot)"), "{d}");
    // No hybrid MBR: the system area is empty.
    assert!(all[..16 * 2048].iter().all(|&b| b == 0));
}

#[test]
fn same_entries_same_bytes_whatever_the_order_of_adding() {
    let dir = tempfile::tempdir().unwrap();
    let tree = sample_tree();
    let opts = IsoOptions::new("EVEISO", SDE);
    let (a, _) = build(&tree, &opts, dir.path(), "a.iso");
    // The same entries in reverse order, the big file streamed from the host.
    let big = dir.path().join("big");
    fs::write(&big, tree.get(&p("sizes/big")).unwrap().1).unwrap();
    let mut w = IsoWriter::new(opts.clone()).unwrap();
    let mut all: Vec<(Entry, Vec<u8>)> =
        tree.iter().map(|(e, d)| (e.clone(), d.to_vec())).collect();
    all.reverse();
    for (e, d) in &all {
        if e.path == p("sizes/big") {
            w.add_file_from(e, &big).unwrap();
        } else {
            w.add(e, &mut &d[..]).unwrap();
        }
    }
    let b = dir.path().join("b.iso");
    w.finish(fs::File::create(&b).unwrap()).unwrap();
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "images differ"
    );
}

#[test]
fn same_tree_as_xorriso_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let tree = sample_tree();
    // The tree on disk, without owners other than the current user's.
    let (links, rest): (Vec<_>, Vec<_>) = tree
        .iter()
        .partition(|(e, _)| matches!(e.kind, Kind::Hardlink { .. }));
    // libisofs refuses a link target with a component longer than 255 bytes.
    let far = p("links/far");
    for (e, data) in rest.into_iter().chain(links).filter(|(e, _)| e.path != far) {
        let host = src.join(e.path.as_str_lossy().as_ref());
        match &e.kind {
            Kind::Dir => fs::create_dir_all(&host).unwrap(),
            Kind::File { .. } => {
                fs::create_dir_all(host.parent().unwrap()).unwrap();
                fs::write(&host, data).unwrap();
                fs::set_permissions(&host, fs::Permissions::from_mode(e.mode)).unwrap();
            }
            Kind::Symlink { target } => {
                fs::create_dir_all(host.parent().unwrap()).unwrap();
                symlink(String::from_utf8(target.clone()).unwrap(), &host).unwrap();
            }
            Kind::Hardlink { target } => {
                fs::create_dir_all(host.parent().unwrap()).unwrap();
                fs::hard_link(src.join(target.as_str_lossy().as_ref()), &host).unwrap();
            }
            _ => unreachable!(),
        }
    }
    let reference = dir.path().join("xorriso.iso");
    xorriso(&[
        "-as",
        "mkisofs",
        "-R",
        "-V",
        "EVEISO",
        "-o",
        reference.to_str().unwrap(),
        src.to_str().unwrap(),
    ]);
    let (ours, _) = build(
        &tree,
        &IsoOptions::new("EVEISO", SDE),
        dir.path(),
        "ours.iso",
    );
    // Same names, types, permissions, sizes and targets (owners differ: see above).
    let strip = |m: BTreeMap<String, String>| -> BTreeMap<String, String> {
        m.into_iter()
            .map(|(k, v)| {
                let f: Vec<&str> = v.splitn(6, ' ').collect();
                let rest = f.get(5).map(|r| format!(" {r}")).unwrap_or_default();
                (k, format!("{} {} {}{rest}", f[0], f[1], f[4]))
            })
            .collect()
    };
    let mut ours = strip(listing(&ours));
    assert!(ours.remove("/links/far").is_some());
    assert_eq!(ours, strip(listing(&reference)));
}

#[test]
fn devices_and_fifos_keep_their_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = MemTree::new();
    t.insert(
        Entry::new(
            p("dev/null"),
            Kind::CharDevice { major: 1, minor: 3 },
            0o666,
            SDE,
        ),
        Vec::new(),
    );
    t.insert(
        Entry::new(
            p("dev/sda1"),
            Kind::BlockDevice { major: 8, minor: 1 },
            0o660,
            SDE,
        ),
        Vec::new(),
    );
    t.insert(
        Entry::new(p("dev/fifo"), Kind::Fifo, 0o600, SDE),
        Vec::new(),
    );
    let (iso, _) = build(&t, &IsoOptions::new("DEVS", SDE), dir.path(), "d.iso");
    let out = xorriso(&["-indev", iso.to_str().unwrap(), "-lsdl", "/dev/*"]);
    let line = |name: &str| {
        out.lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("{name}: {out}"))
            .to_string()
    };
    let null: Vec<String> = line("null").split_whitespace().map(String::from).collect();
    assert!(null[0].starts_with("crw-rw-rw-"), "{out}");
    assert!(
        line("null").contains("1,3") || line("null").contains("1, 3"),
        "{out}"
    );
    assert!(line("sda1").starts_with("brw-rw----"), "{out}");
    assert!(
        line("sda1").contains("8,1") || line("sda1").contains("8, 1"),
        "{out}"
    );
    assert!(line("fifo").starts_with("prw-------"), "{out}");
}

#[test]
fn refuses_what_it_cannot_write() {
    assert!(matches!(
        IsoWriter::new(IsoOptions::new("eveiso", SDE)),
        Err(Error::VolumeId(_))
    ));
    assert!(matches!(
        IsoWriter::new(IsoOptions::new(&long('A', 33), SDE)),
        Err(Error::VolumeId(_))
    ));
    let mut t = MemTree::new();
    t.mkdir_p("1/2/3/4/5/6/7/8", SDE).unwrap();
    let e = write_tree(&t, &IsoOptions::new("X", SDE), std::io::sink()).unwrap_err();
    assert!(
        matches!(e, Error::TooDeep(ref p) if p.to_string() == "/1/2/3/4/5/6/7/8"),
        "{e}"
    );
    let mut w = IsoWriter::new(IsoOptions::new("X", SDE)).unwrap();
    let e = Entry::file(p("a"), 1, 0o644, SDE);
    w.add(&e, &mut &b"x"[..]).unwrap();
    assert!(w.add(&e, &mut &b"x"[..]).is_err());
    let mut w = IsoWriter::new(IsoOptions::new("X", SDE)).unwrap();
    w.add(&Entry::file(p("f"), 1, 0o644, SDE), &mut &b"x"[..])
        .unwrap();
    w.add(&Entry::file(p("f/g"), 1, 0o644, SDE), &mut &b"y"[..])
        .unwrap();
    assert!(matches!(
        w.finish(std::io::sink()),
        Err(Error::ParentNotDirectory { .. })
    ));
    // A host file that changes size between adding and writing.
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("f");
    fs::write(&f, "abc").unwrap();
    let mut w = IsoWriter::new(IsoOptions::new("X", SDE)).unwrap();
    w.add_file_from(&Entry::file(p("f"), 0, 0o644, SDE), &f)
        .unwrap();
    fs::write(&f, "abcdef").unwrap();
    assert!(matches!(
        w.finish(std::io::sink()),
        Err(Error::SourceChanged { .. })
    ));
}
