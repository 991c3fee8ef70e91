//! ext4 images checked with e2fsck and debugfs (Debian package e2fsprogs), built once as
//! root and once as an unprivileged user (`setpriv`, util-linux), which must agree byte for
//! byte.

use evebuild_ext4::{Ext4Options, Ext4Writer, SizeRule, format};
use evebuild_tree::{Entry, EntryPath, Kind, MemTree, Sink};
use std::fs;
use std::path::Path;
use std::process::Command;

const SDE: i64 = 1_700_000_000;
const MIB: u64 = 1024 * 1024;
/// Names a line-based fix-up script has to quote.
const ODD_NAMES: [&str; 5] = [
    "name with spaces",
    "quote\"name",
    "#hash",
    "tab\tname",
    "ünïcödé",
];

fn p(s: impl AsRef<[u8]>) -> EntryPath {
    EntryPath::new(s).unwrap()
}

fn with(mut e: Entry, uid: u32, gid: u32, mtime: i64) -> Entry {
    (e.uid, e.gid, e.mtime) = (uid, gid, mtime);
    e
}

/// Targets of the lengths where ext4 switches from in-inode to block symlinks.
fn target(len: usize) -> String {
    let mut t = String::from("/");
    while t.len() < len {
        t.push_str("abcdefgh/");
    }
    t.truncate(len);
    t
}

/// What an EVE rootfs holds that a staging directory made without root cannot: root-owned
/// files, setuid, capabilities, devices, FIFOs, hard links, odd names and times.
fn sample_tree() -> MemTree {
    let mut t = MemTree::new();
    let file = |t: &mut MemTree, path: &str, data: Vec<u8>, mode: u32| {
        t.insert(Entry::file(p(path), 0, mode, SDE - 100), data)
    };
    for (d, mode) in [
        ("bin", 0o755),
        ("dev", 0o755),
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("usr/lib", 0o755),
    ] {
        t.insert(Entry::dir(p(d), mode, SDE - 50), Vec::new());
    }
    t.insert(
        with(
            Entry::dir(p("home/user"), 0o700, SDE),
            1000,
            1000,
            1_000_000_000,
        ),
        Vec::new(),
    );
    file(
        &mut t,
        "bin/busybox",
        b"\x7fELF busybox".repeat(1000),
        0o755,
    );
    let mut ping = Entry::file(p("bin/ping"), 0, 0o4755, SDE - 100);
    ping.xattrs = vec![(
        b"security.capability".to_vec(),
        vec![
            1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    )];
    t.insert(ping, b"ping".to_vec());
    t.insert(
        with(Entry::file(p("etc/shadow"), 0, 0o640, 0), 0, 42, 0),
        b"root:*:".to_vec(),
    );
    file(&mut t, "etc/empty", Vec::new(), 0o644);
    file(
        &mut t,
        "usr/lib/big.so",
        (0..3 * MIB as usize).map(|i| (i * 7 % 251) as u8).collect(),
        0o755,
    );
    t.insert(
        with(
            Entry::file(p("home/user/high-ids"), 0, 0o600, 0),
            100_000,
            200_000,
            1 << 33,
        ),
        b"x".to_vec(),
    );
    t.insert(
        with(Entry::file(p("etc/neg-time"), 0, 0o644, 0), 0, 0, -5),
        Vec::new(),
    );
    t.insert(
        with(Entry::file(p("etc/minus-one"), 0, 0o644, 0), 0, 0, -1),
        Vec::new(),
    );
    for link in ["bin/ls", "bin/sh"] {
        t.insert(
            Entry::new(
                p(link),
                Kind::Hardlink {
                    target: p("bin/busybox"),
                },
                0o755,
                SDE,
            ),
            Vec::new(),
        );
    }
    for n in [59, 60, 61, 4095] {
        t.insert(
            Entry::symlink(p(format!("links/l{n}")), target(n), SDE),
            Vec::new(),
        );
    }
    t.insert(
        Entry::symlink(p("etc/mtab"), "/proc/mounts", SDE),
        Vec::new(),
    );
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
        with(
            Entry::new(
                p("dev/sda"),
                Kind::BlockDevice { major: 8, minor: 0 },
                0o660,
                SDE,
            ),
            0,
            6,
            SDE,
        ),
        Vec::new(),
    );
    t.insert(
        Entry::new(
            p("dev/big"),
            Kind::CharDevice {
                major: 300,
                minor: 70_000,
            },
            0o600,
            SDE,
        ),
        Vec::new(),
    );
    t.insert(
        Entry::new(p("run/initctl"), Kind::Fifo, 0o620, SDE),
        Vec::new(),
    );
    let mut dir_x = Entry::dir(p("var/attr"), 0o755, SDE);
    dir_x.xattrs = vec![(b"user.comment".to_vec(), b"a \"quoted\" value\n".to_vec())];
    t.insert(dir_x, Vec::new());
    for name in ODD_NAMES {
        file(
            &mut t,
            &format!("names/{name}"),
            name.as_bytes().to_vec(),
            0o644,
        );
    }
    t.insert(
        Entry::file(p(b"names/\xff\xfe"), 0, 0o644, SDE),
        b"bytes".to_vec(),
    );
    file(
        &mut t,
        &format!("names/{}", "n".repeat(255)),
        b"255".to_vec(),
        0o644,
    );
    t
}

/// Streams `tree` into an image at `out` in a valid order other than byte order: deeper
/// entries last, siblings reversed, hard links at the end.
fn build(
    tree: &MemTree,
    out: &Path,
    opts: Ext4Options,
    shuffle: bool,
) -> evebuild_ext4::Ext4Summary {
    let mut w = Ext4Writer::new(out, opts).unwrap();
    if shuffle {
        let mut entries: Vec<(&Entry, &[u8])> = tree.iter().collect();
        entries.sort_by_key(|(e, _)| {
            let link = matches!(e.kind, Kind::Hardlink { .. });
            (
                link,
                e.path.depth(),
                std::cmp::Reverse(e.path.as_bytes().to_vec()),
            )
        });
        for (e, d) in entries {
            w.add(e, &mut &d[..]).unwrap();
        }
    } else {
        tree.replay(&mut w).unwrap();
    }
    w.finish().unwrap()
}

/// Runs `cmd`, failing the test with its output unless it succeeds; returns stdout.
fn run(cmd: &mut Command, package: &str) -> Vec<u8> {
    let o = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}: install the Debian package {package}"));
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o.stdout
}

fn debugfs_bytes(img: &Path, request: &str) -> Vec<u8> {
    run(
        Command::new("debugfs").args(["-R", request]).arg(img),
        "e2fsprogs",
    )
}

fn debugfs(img: &Path, request: &str) -> String {
    String::from_utf8_lossy(&debugfs_bytes(img, request)).into_owned()
}

/// A 64 MiB image (instead of EVE's 800 MiB of headroom) for the tests that compare bytes.
fn small() -> Ext4Options {
    Ext4Options {
        size: SizeRule::Fixed(64 * MIB),
        ..Ext4Options::eve(SDE)
    }
}

fn stat(img: &Path, path: &str) -> String {
    let s = debugfs(img, &format!("stat \"{}\"", path.replace('"', "\"\"")));
    assert!(s.contains("Inode:"), "{path} not found: {s}");
    s
}

fn e2fsck_clean(img: &Path) {
    run(Command::new("e2fsck").arg("-fn").arg(img), "e2fsprogs");
}

fn field<'a>(stat: &'a str, name: &str) -> &'a str {
    let at = stat
        .find(name)
        .unwrap_or_else(|| panic!("no {name} in {stat}"));
    stat[at + name.len()..].split_whitespace().next().unwrap()
}

#[test]
fn image_carries_owners_modes_devices_links_xattrs_and_times() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("rootfs.img");
    let tree = sample_tree();
    let summary = build(&tree, &img, Ext4Options::eve(SDE), false);
    e2fsck_clean(&img);
    assert_eq!(fs::metadata(&img).unwrap().len(), summary.size);
    assert_eq!(summary.size, format::eve_image_size(summary.du_kib));
    // Nothing of the staging directory is left behind.
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["rootfs.img"]);

    let dumpe2fs = run(Command::new("dumpe2fs").arg("-h").arg(&img), "e2fsprogs");
    let sb = String::from_utf8_lossy(&dumpe2fs);
    assert!(sb.contains("Filesystem volume name:   eve_rootfs"), "{sb}");
    assert!(
        sb.contains(&format!(
            "Filesystem UUID:          {}",
            evebuild_ext4::uuid_string(&summary.uuid)
        )),
        "{sb}"
    );
    assert!(
        sb.contains(&format!(
            "Directory Hash Seed:      {}",
            evebuild_ext4::uuid_string(&summary.hash_seed)
        )),
        "{sb}"
    );
    assert!(sb.contains("Block size:               4096"), "{sb}");
    assert!(
        sb.contains("Filesystem created:       Tue Nov 14 22:13:20 2023"),
        "{sb}"
    );

    let ping = stat(&img, "/bin/ping");
    assert_eq!(field(&ping, "Mode:"), "04755");
    assert_eq!((field(&ping, "User:"), field(&ping, "Group:")), ("0", "0"));
    let caps = debugfs(&img, "ea_list /bin/ping");
    assert!(
        caps.contains("security.capability (20) = 01 00 00 02 00 20 00 00"),
        "{caps}"
    );
    let shadow = stat(&img, "/etc/shadow");
    assert_eq!(
        (field(&shadow, "Mode:"), field(&shadow, "Group:")),
        ("0640", "42")
    );
    let tmp = stat(&img, "/tmp");
    assert_eq!(field(&tmp, "Mode:"), "01777");
    let home = stat(&img, "/home/user");
    assert_eq!(
        (
            field(&home, "Mode:"),
            field(&home, "User:"),
            field(&home, "Group:")
        ),
        ("0700", "1000", "1000")
    );
    let high = stat(&img, "/home/user/high-ids");
    assert_eq!(
        (field(&high, "User:"), field(&high, "Group:")),
        ("100000", "200000")
    );
    // 2^33 seconds: low word 0, epoch bits 2 in the extra word.
    assert_eq!(field(&high, "mtime:"), "0x00000000:00000002");
    assert_eq!(
        field(&stat(&img, "/etc/neg-time"), "mtime:"),
        "0xfffffffb:00000000"
    );
    let m1 = stat(&img, "/etc/minus-one");
    for t in ["atime:", "ctime:", "mtime:", "crtime:"] {
        assert_eq!(field(&m1, t), "0xffffffff:00000000", "{t}");
    }
    // Every time of a file is its entry's mtime; the root's is SOURCE_DATE_EPOCH.
    let bb = stat(&img, "/bin/busybox");
    for t in ["atime:", "ctime:", "mtime:", "crtime:"] {
        assert_eq!(
            field(&bb, t),
            format!("0x{:08x}:00000000", SDE - 100),
            "{t}"
        );
    }
    assert_eq!(field(&bb, "Links:"), "3");
    let root = stat(&img, "/");
    assert_eq!(
        (field(&root, "Mode:"), field(&root, "User:")),
        ("0755", "0")
    );
    assert_eq!(field(&root, "mtime:"), format!("0x{SDE:08x}:00000000"));
    let busybox_ino = field(&bb, "Inode:");
    assert_eq!(field(&stat(&img, "/bin/sh"), "Inode:"), busybox_ino);
    assert_eq!(field(&stat(&img, "/bin/ls"), "Inode:"), busybox_ino);

    let null = stat(&img, "/dev/null");
    assert!(null.contains("Type: character special"), "{null}");
    assert!(null.contains("Device major/minor number: 01:03"), "{null}");
    assert_eq!(field(&null, "Mode:"), "0666");
    let sda = stat(&img, "/dev/sda");
    assert!(
        sda.contains("Type: block special") && sda.contains("major/minor number: 08:00"),
        "{sda}"
    );
    assert_eq!(field(&sda, "Group:"), "6");
    let big = stat(&img, "/dev/big");
    assert!(
        big.contains("Device major/minor number: 300:70000"),
        "{big}"
    );
    let fifo = stat(&img, "/run/initctl");
    assert!(fifo.contains("Type: FIFO"), "{fifo}");
    assert_eq!(field(&fifo, "Mode:"), "0620");
    let implied = stat(&img, "/run");
    assert_eq!(
        (field(&implied, "Mode:"), field(&implied, "mtime:")),
        ("0755", format!("0x{SDE:08x}:00000000").as_str())
    );

    for n in [59, 60, 61, 4095] {
        let path = format!("/links/l{n}");
        let s = stat(&img, &path);
        assert!(s.contains("Type: symlink"), "{s}");
        assert_eq!(field(&s, "Size:"), n.to_string());
        let got = if n < 60 {
            let at = s.find("Fast link dest: \"").expect("fast symlink") + 17;
            s[at..at + n].to_string()
        } else {
            debugfs(&img, &format!("cat {path}"))
        };
        assert_eq!(got, target(n), "symlink of {n} bytes");
    }

    let ea = debugfs(&img, "ea_list /var/attr");
    assert!(
        ea.contains(r#"user.comment (17) = "a \"quoted\" value\n""#),
        "{ea}"
    );
    let names = debugfs(&img, "ls -p /names");
    let long = "n".repeat(255);
    for name in ODD_NAMES.iter().copied().chain([long.as_str()]) {
        assert!(
            names.contains(&format!("/{name}/")),
            "{name:?} missing from {names}"
        );
        let s = stat(&img, &format!("/names/{name}"));
        assert_eq!(field(&s, "Mode:"), "0644");
    }
    let content = debugfs(&img, "cat \"/names/quote\"\"name\"");
    assert_eq!(content, "quote\"name");
    let big_lib = debugfs_bytes(&img, "cat /usr/lib/big.so");
    assert!(
        big_lib == tree.get(&p("usr/lib/big.so")).unwrap().1,
        "big.so contents"
    );
}

#[test]
fn same_content_same_bytes_whatever_the_order_and_clock() {
    let dir = tempfile::tempdir().unwrap();
    let tree = sample_tree();
    let opts = small();
    let a = dir.path().join("a.img");
    let b = dir.path().join("b.img");
    let sa = build(&tree, &a, opts.clone(), false);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let sb = build(&tree, &b, opts.clone(), true);
    assert_eq!(sa, sb);
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "two builds differ"
    );
    // Other content, other UUID.
    let mut other = tree.clone();
    other
        .add_file("etc/hostname", b"eve".to_vec(), 0o644, SDE)
        .unwrap();
    let sc = build(&other, &dir.path().join("c.img"), opts, false);
    assert_ne!(sa.uuid, sc.uuid);
}

/// The product must not need root: the same image comes out of a build run as `nobody`.
#[test]
fn unprivileged_build_gives_the_same_image() {
    let dir = tempfile::tempdir().unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let mine = dir.path().join("root.img");
    let theirs = dir.path().join("nobody.img");
    build(&sample_tree(), &mine, small(), false);
    let exe = std::env::current_exe().unwrap();
    run(
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(exe)
            .args([
                "--exact",
                "child_build_for_unprivileged_test",
                "--ignored",
                "--test-threads=1",
            ])
            .env("EVEBUILD_EXT4_CHILD_OUT", &theirs),
        "util-linux",
    );
    assert!(
        fs::read(&mine).unwrap() == fs::read(&theirs).unwrap(),
        "root and nobody builds differ"
    );
    e2fsck_clean(&theirs);
}

/// Run by [`unprivileged_build_gives_the_same_image`] as another user.
#[test]
#[ignore]
fn child_build_for_unprivileged_test() {
    let Some(out) = std::env::var_os("EVEBUILD_EXT4_CHILD_OUT") else {
        return;
    };
    assert_ne!(
        fs::metadata("/proc/self")
            .map(|m| std::os::unix::fs::MetadataExt::uid(&m))
            .unwrap(),
        0,
        "the child must not run as root"
    );
    build(&sample_tree(), Path::new(&out), small(), false);
}

#[test]
fn unstorable_entries_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.img");
    let cases = [
        Entry::file(p("etc/new\nline"), 0, 0o644, SDE),
        Entry::symlink(p("empty-link"), "", SDE),
        Entry::new(
            p("hl"),
            Kind::Hardlink {
                target: p("missing"),
            },
            0o644,
            SDE,
        ),
    ];
    for e in cases {
        let mut w = Ext4Writer::new(&out, Ext4Options::eve(SDE)).unwrap();
        let err = w.add(&e, &mut std::io::empty()).unwrap_err().to_string();
        assert!(err.contains(&e.path.to_string()), "{err}");
    }
    let mut big = Entry::file(p("f"), 0, 0o644, SDE);
    big.xattrs = vec![(b"user.big".to_vec(), vec![0; 5000])];
    let mut w = Ext4Writer::new(&out, Ext4Options::eve(SDE)).unwrap();
    let err = w.add(&big, &mut std::io::empty()).unwrap_err().to_string();
    assert!(
        err.contains("/f") && err.contains("5000-byte value"),
        "{err}"
    );
    drop(w);
    // Too small a fixed size: mke2fs's own message, naming the image.
    let mut w = Ext4Writer::new(
        &out,
        Ext4Options {
            size: SizeRule::Fixed(2 * MIB),
            ..Ext4Options::eve(SDE)
        },
    )
    .unwrap();
    let data = vec![1u8; 4 * MIB as usize];
    w.add(
        &Entry::file(p("big"), data.len() as u64, 0o644, SDE),
        &mut &data[..],
    )
    .unwrap();
    let err = w.finish().unwrap_err().to_string();
    assert!(err.contains("mke2fs failed building"), "{err}");
    assert!(!out.exists());
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "temporary files left behind: {left:?}");
}
