//! Test helpers: a tree with every case the writer must keep, running the real squashfs tools,
//! and snapshots of host directories (what unsquashfs extracted, what the kernel mounted) to
//! compare with what went in.

#![allow(dead_code, missing_docs)]

use evebuild_squashfs::{Options, SquashfsWriter, Stats};
use evebuild_tree::{Entry, EntryPath, Kind, MemTree};
use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;

pub use evebuild_testkit::{noise, run, tool};

pub const BS: usize = 128 * 1024;
pub const ROOT_MTIME: i64 = 1_700_000_000;
pub const IMPLIED_MTIME: i64 = 1_650_000_000;
/// A valid VFS capability (v2, effective, cap_net_raw): the kernel checks what is set.
pub const CAP_NET_RAW: &[u8] = &[
    1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

pub fn p(s: impl AsRef<[u8]>) -> EntryPath {
    EntryPath::new(s).unwrap()
}

/// Something that looks like machine code for `machine` behind an ELF header, with many
/// call opcodes so that BCJ filters actually change it.
pub fn fake_elf(machine: u16, len: usize, seed: u64) -> Vec<u8> {
    let mut v = noise(len, seed);
    for (i, b) in v.iter_mut().enumerate() {
        if i % 7 == 0 {
            *b = 0xe8;
        }
        if i % 11 == 3 {
            *b = 0xeb;
        }
    }
    v[..4].copy_from_slice(b"\x7fELF");
    v[4] = 2;
    v[5] = 1;
    v[18..20].copy_from_slice(&machine.to_le_bytes());
    v
}

fn put(t: &mut MemTree, path: &str, kind: Kind, mode: u32, mtime: i64, data: Vec<u8>) -> Entry {
    let e = Entry::new(p(path), kind, mode, mtime);
    t.insert(e.clone(), data);
    e
}

/// The tree every round-trip test uses.
pub fn sample_tree() -> MemTree {
    let mut t = MemTree::new();
    let time = std::cell::Cell::new(1_600_000_000i64);
    let tick = || {
        time.set(time.get() + 97);
        time.get()
    };
    let dir = |t: &mut MemTree, path: &str, mode: u32| {
        put(t, path, Kind::Dir, mode, tick(), Vec::new());
    };
    dir(&mut t, "bin", 0o755);
    dir(&mut t, "etc", 0o755);
    dir(&mut t, "home", 0o755);
    dir(&mut t, "home/user", 0o700);
    dir(&mut t, "dev", 0o755);
    dir(&mut t, "empty", 0o1777);
    dir(&mut t, "many", 0o755);
    dir(&mut t, "data", 0o750);

    let file = |t: &mut MemTree, path: &str, mode: u32, data: Vec<u8>| {
        put(t, path, Kind::File { size: 0 }, mode, tick(), data)
    };
    file(&mut t, "etc/empty-file", 0o644, Vec::new());
    file(&mut t, "etc/hostname", 0o644, b"eve\n".to_vec());
    file(&mut t, "data/exact", 0o644, noise(BS, 1));
    file(&mut t, "data/one-less", 0o644, noise(BS - 1, 2));
    file(&mut t, "data/one-more", 0o644, noise(BS + 1, 3));
    let pattern = noise(4096, 4);
    file(
        &mut t,
        "data/repeated-5m",
        0o644,
        pattern.repeat(5 * 1024 * 1024 / 4096),
    );
    // A duplicate of a file longer than the writer holds back, as the last data of the image.
    file(
        &mut t,
        "zz-last-copy-of-5m",
        0o600,
        pattern.repeat(5 * 1024 * 1024 / 4096),
    );
    file(&mut t, "data/copy-of-exact", 0o640, noise(BS, 1));
    let mut holes = noise(3 * BS + 1000, 5);
    holes[BS..2 * BS].fill(0);
    file(&mut t, "data/holes", 0o644, holes);
    file(&mut t, "data/zeros", 0o644, vec![0; 2 * BS + 17]);
    file(
        &mut t,
        "bin/x86-tool",
        0o755,
        fake_elf(62, 3 * BS + 5000, 6),
    );
    file(&mut t, "bin/arm-tool", 0o755, fake_elf(40, BS + 999, 7));
    file(&mut t, "bin/small-x86", 0o755, fake_elf(62, 3000, 8));
    file(&mut t, "bin/su", 0o4755, b"#!/bin/sh\nexec true\n".to_vec());
    file(&mut t, "bin/sgid", 0o2711, b"sgid".to_vec());

    let mut ping = Entry::file(p("bin/ping"), 0, 0o755, tick());
    ping.xattrs = vec![(b"security.capability".to_vec(), CAP_NET_RAW.to_vec())];
    t.insert(ping, fake_elf(62, 5000, 9));
    let mut owned = Entry::file(p("home/user/notes"), 0, 0o640, tick());
    owned.uid = 1000;
    owned.gid = 5000;
    owned.xattrs = vec![
        (b"user.comment".to_vec(), b"hello".to_vec()),
        (b"user.empty".to_vec(), Vec::new()),
    ];
    t.insert(owned, b"mine".to_vec());
    let mut home = t.get(&p("home/user")).unwrap().0.clone();
    home.uid = 1000;
    home.gid = 5000;
    home.xattrs = vec![(b"trusted.overlay.opaque".to_vec(), b"y".to_vec())];
    t.insert(home, Vec::new());

    // Hard links: one inode with three names, in different directories.
    file(&mut t, "bin/busybox", 0o755, fake_elf(62, 20000, 10));
    for link in ["bin/sh", "etc/busybox-link"] {
        let e = Entry::new(
            p(link),
            Kind::Hardlink {
                target: p("bin/busybox"),
            },
            0o755,
            tick(),
        );
        t.insert(e, Vec::new());
    }

    for (name, len) in [("short", 1), ("l60", 60), ("l61", 61), ("l4095", 4095)] {
        let target: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
        let e = Entry::symlink(p(format!("etc/{name}")), target, tick());
        t.insert(e, Vec::new());
    }
    let e = Entry::symlink(p("etc/dangling"), "../nowhere/at/all", tick());
    t.insert(e, Vec::new());

    let dev = |major, minor| (major, minor);
    for (name, (major, minor), block) in [
        ("null", dev(1, 3), false),
        ("sda", dev(8, 0), true),
        ("nvme", dev(259, 70000), true),
        ("tty", dev(4095, 1_048_575), false),
    ] {
        let kind = if block {
            Kind::BlockDevice { major, minor }
        } else {
            Kind::CharDevice { major, minor }
        };
        put(
            &mut t,
            &format!("dev/{name}"),
            kind,
            0o660,
            tick(),
            Vec::new(),
        );
    }
    put(&mut t, "dev/initctl", Kind::Fifo, 0o600, tick(), Vec::new());

    let mut odd = Entry::file(p(b"data/caf\xe9-\xff"), 0, 0o644, tick());
    odd.mode = 0o644;
    t.insert(odd, b"latin-1".to_vec());
    t.insert(
        Entry::file(p("x".repeat(255)), 0, 0o644, tick()),
        b"long".to_vec(),
    );

    // A 200-character path of nested directories.
    let mut long = String::new();
    while long.len() < 180 {
        if !long.is_empty() {
            long.push('/');
        }
        long.push_str("deep-directory");
        put(&mut t, &long, Kind::Dir, 0o755, tick(), Vec::new());
    }
    let leaf = format!("{long}/{}", "f".repeat(199 - long.len()));
    assert_eq!(leaf.len(), 200);
    file(&mut t, &leaf, 0o644, b"far down".to_vec());

    // 3000 entries in one directory: the kernel looks names up through its index.
    for i in 0..3000 {
        let name = format!("many/entry-{i:05}");
        match i % 10 {
            0 => put(&mut t, &name, Kind::Dir, 0o755, tick(), Vec::new()),
            1 => put(
                &mut t,
                &name,
                Kind::Symlink {
                    target: format!("entry-{:05}", i + 1).into_bytes(),
                },
                0o777,
                tick(),
                Vec::new(),
            ),
            2 => file(&mut t, &name, 0o644, b"same small content".to_vec()),
            _ => file(&mut t, &name, 0o644, format!("file {i}\n").into_bytes()),
        };
    }
    t
}

/// Entries that are not in the tree but implied by a deeper path, added to the stream after it.
pub fn implied_entries() -> Vec<(Entry, Vec<u8>)> {
    vec![(
        Entry::file(p("implied/parents/file"), 3, 0o644, 1_234_567_890),
        b"abc".to_vec(),
    )]
}

pub fn options() -> Options {
    Options {
        mkfs_time: 1_700_000_001,
        root: evebuild_squashfs::RootDir {
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: ROOT_MTIME,
        },
        implied_dir_mtime: IMPLIED_MTIME,
        ..Options::default()
    }
}

/// Writes `tree` (then the implied entries) into an in-memory image.
pub fn build(tree: &MemTree, opts: Options) -> (Vec<u8>, Stats) {
    let mut w = SquashfsWriter::new(std::io::Cursor::new(Vec::new()), opts).unwrap();
    tree.replay(&mut w).unwrap();
    for (e, d) in implied_entries() {
        evebuild_tree::Sink::add(&mut w, &e, &mut &d[..]).unwrap();
    }
    let (out, stats) = w.finish().unwrap();
    (out.into_inner(), stats)
}

/// Extracts an image with unsquashfs into `dir/name` and returns that path.
pub fn unsquash(image: &Path, dir: &Path, name: &str) -> PathBuf {
    let out = dir.join(name);
    run(Command::new(tool("unsquashfs", "squashfs-tools"))
        .arg("-no-progress")
        .arg("-d")
        .arg(&out)
        .arg(image));
    out
}

/// What a path looks like on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub nlink: u64,
    /// File contents, link target, or "major:minor".
    pub data: Vec<u8>,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

pub type Snapshot = BTreeMap<Vec<u8>, Node>;
/// Extended attributes of one path: (name, value), sorted.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Every path below `root` (relative, bytes), with `root` itself as the empty path. Xattrs are
/// read with `getfattr -d -m -` (package attr).
pub fn snapshot(root: &Path) -> Snapshot {
    let mut snap = Snapshot::new();
    let mut ino_paths: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
    let mut stack = vec![(root.to_path_buf(), Vec::new())];
    while let Some((host, rel)) = stack.pop() {
        let md = std::fs::symlink_metadata(&host).unwrap();
        let ft = md.file_type();
        let (kind, data) = if ft.is_dir() {
            for d in std::fs::read_dir(&host).unwrap() {
                let d = d.unwrap();
                let mut r = rel.clone();
                if !r.is_empty() {
                    r.push(b'/');
                }
                r.extend_from_slice(d.file_name().as_bytes());
                stack.push((d.path(), r));
            }
            ('d', Vec::new())
        } else if ft.is_symlink() {
            let t = std::fs::read_link(&host).unwrap();
            ('l', t.as_os_str().as_bytes().to_vec())
        } else if ft.is_file() {
            ino_paths.entry(md.ino()).or_default().push(rel.clone());
            ('f', std::fs::read(&host).unwrap())
        } else {
            let r = md.rdev();
            let major = ((r >> 32) & 0xffff_f000) | ((r >> 8) & 0xfff);
            let minor = ((r >> 12) & 0xffff_ff00) | (r & 0xff);
            let k = if ft.is_char_device() {
                'c'
            } else if ft.is_block_device() {
                'b'
            } else {
                assert!(ft.is_fifo(), "unexpected file type at {host:?}");
                'p'
            };
            let data = if k == 'p' {
                Vec::new()
            } else {
                format!("{major}:{minor}").into_bytes()
            };
            (k, data)
        };
        snap.insert(
            rel,
            Node {
                kind,
                mode: md.mode() & 0o7777,
                uid: md.uid(),
                gid: md.gid(),
                mtime: md.mtime(),
                nlink: md.nlink(),
                data,
                xattrs: Vec::new(),
            },
        );
    }
    for (path, xattrs) in getfattr(root) {
        snap.get_mut(&path)
            .unwrap_or_else(|| panic!("getfattr names unknown path {path:?}"))
            .xattrs = xattrs;
    }
    snap
}

/// `getfattr -R -d -m - -e hex` below root, parsed: path → sorted (name, value).
fn getfattr(root: &Path) -> BTreeMap<Vec<u8>, Xattrs> {
    let out = Command::new(tool("getfattr", "attr"))
        .args(["-R", "-h", "-d", "-m", "-", "-e", "hex", "--absolute-names"])
        .arg(root)
        .output()
        .expect("getfattr is missing: install the Debian package attr");
    let text = out.stdout;
    let prefix = root.as_os_str().as_bytes();
    let mut res: BTreeMap<Vec<u8>, Xattrs> = BTreeMap::new();
    let mut cur: Option<Vec<u8>> = None;
    for line in text.split(|b| *b == b'\n') {
        if let Some(f) = line.strip_prefix(b"# file: ") {
            let f = unescape(f);
            let rel = f[prefix.len()..].strip_prefix(b"/").unwrap_or(&[]).to_vec();
            cur = Some(rel);
        } else if let Some(eq) = line.iter().position(|b| *b == b'=') {
            let name = line[..eq].to_vec();
            let hex = &line[eq + 1..];
            let hex = hex.strip_prefix(b"0x").unwrap_or(hex);
            let value = (0..hex.len() / 2)
                .map(|i| {
                    u8::from_str_radix(std::str::from_utf8(&hex[2 * i..2 * i + 2]).unwrap(), 16)
                        .unwrap()
                })
                .collect();
            let path = cur.clone().expect("an attribute after a file line");
            let v = res.entry(path).or_default();
            v.push((name, value));
            v.sort();
        } else if !line.is_empty() {
            // getfattr prints a bare name for an empty value in some versions.
            let path = cur.clone().expect("an attribute after a file line");
            let v = res.entry(path).or_default();
            v.push((line.to_vec(), Vec::new()));
            v.sort();
        }
    }
    res
}

/// Undoes getfattr's octal escapes (`\351`) and `\\`.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'\\'
            && i + 3 < s.len()
            && s[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (s[i + 1] - b'0') * 64 + (s[i + 2] - b'0') * 8 + (s[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else if s[i] == b'\\' && s.get(i + 1) == Some(&b'\\') {
            out.push(b'\\');
            i += 2;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

/// What the host should show for `tree` plus the implied entries, written with `opts`.
pub fn expected(tree: &MemTree, opts: &Options) -> Snapshot {
    let mut snap = Snapshot::new();
    let r = opts.root;
    let dir_node = |mode, uid, gid, mtime| Node {
        kind: 'd',
        mode,
        uid,
        gid,
        mtime,
        nlink: 2,
        data: Vec::new(),
        xattrs: Vec::new(),
    };
    snap.insert(Vec::new(), dir_node(r.mode, r.uid, r.gid, r.mtime));
    let implied = implied_entries();
    let all: Vec<(Entry, Vec<u8>)> = tree
        .iter()
        .map(|(e, d)| (e.clone(), d.to_vec()))
        .chain(implied)
        .collect();
    let mut links: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for (e, d) in &all {
        for a in e.path.ancestors_and_self() {
            if a != e.path && !snap.contains_key(a.as_bytes()) {
                snap.insert(
                    a.as_bytes().to_vec(),
                    dir_node(0o755, 0, 0, opts.implied_dir_mtime),
                );
            }
        }
        let (kind, data) = match &e.kind {
            Kind::Dir => ('d', Vec::new()),
            Kind::File { .. } => ('f', d.clone()),
            Kind::Symlink { target } => ('l', target.clone()),
            Kind::CharDevice { major, minor } => ('c', format!("{major}:{minor}").into_bytes()),
            Kind::BlockDevice { major, minor } => ('b', format!("{major}:{minor}").into_bytes()),
            Kind::Fifo => ('p', Vec::new()),
            Kind::Hardlink { target } => {
                links.push((e.path.as_bytes().to_vec(), target.as_bytes().to_vec()));
                continue;
            }
        };
        snap.insert(
            e.path.as_bytes().to_vec(),
            Node {
                kind,
                mode: e.mode,
                uid: e.uid,
                gid: e.gid,
                mtime: e.mtime,
                nlink: if kind == 'd' { 2 } else { 1 },
                data,
                xattrs: e.xattrs.clone(),
            },
        );
    }
    for (link, target) in &links {
        snap.get_mut(target).unwrap().nlink += 1;
        let _ = link;
    }
    for (link, target) in links {
        let node = snap[&target].clone();
        snap.insert(link, node);
    }
    // Directories: two links plus one per subdirectory.
    let dirs: Vec<Vec<u8>> = snap
        .iter()
        .filter(|(_, n)| n.kind == 'd')
        .map(|(k, _)| k.clone())
        .collect();
    for d in dirs {
        if d.is_empty() {
            continue;
        }
        let parent = match d.iter().rposition(|b| *b == b'/') {
            Some(i) => d[..i].to_vec(),
            None => Vec::new(),
        };
        snap.get_mut(&parent).unwrap().nlink += 1;
    }
    snap
}

/// Compares two snapshots entry by entry, with a readable first difference.
pub fn assert_same(what: &str, got: &Snapshot, want: &Snapshot) {
    let gk: Vec<_> = got.keys().collect();
    let wk: Vec<_> = want.keys().collect();
    if gk != wk {
        let missing: Vec<_> = want
            .keys()
            .filter(|k| !got.contains_key(*k))
            .map(|k| String::from_utf8_lossy(k))
            .take(5)
            .collect();
        let extra: Vec<_> = got
            .keys()
            .filter(|k| !want.contains_key(*k))
            .map(|k| String::from_utf8_lossy(k))
            .take(5)
            .collect();
        panic!("{what}: paths differ; missing {missing:?}, extra {extra:?}");
    }
    for (k, w) in want {
        let g = &got[k];
        if g != w {
            let short = |n: &Node| {
                let mut n = n.clone();
                if n.data.len() > 64 {
                    n.data = format!("<{} bytes>", n.data.len()).into_bytes();
                }
                n
            };
            panic!(
                "{what}: {:?} differs\n got: {:?}\nwant: {:?}",
                String::from_utf8_lossy(k),
                short(g),
                short(w)
            );
        }
    }
}
