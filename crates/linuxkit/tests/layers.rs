//! Flattening tricky layers: each case builds an image in a temporary store, assembles a
//! yml whose only section is `init: [that image]`, extracts the tar with bsdtar and compares
//! what is on disk with the result the rules demand (hostile-inputs §1, T01–T17).

mod common;
use common::*;

/// Assembles `layers` as the only init image and returns the extracted listing, minus the
/// entries linuxkit adds to every image (dev, etc/hosts …).
fn flatten(layers: &[Vec<u8>]) -> Result<String, String> {
    let f = Fixture::new();
    f.image("test/img:1", layers, Cfg::default());
    let (tar, _) = f.build("init:\n  - test/img:1\n", f.dir.path())?;
    let root = extract(&tar);
    let all = listing(&root.path().join("root"));
    let generated = [
        "dev",
        "dev/pts",
        "dev/shm",
        "etc",
        "etc/hosts",
        "etc/mtab",
        "etc/resolv.conf",
        "proc",
        "sys",
    ];
    Ok(all
        .lines()
        .filter(|l| !generated.contains(&l.split(' ').nth(4).unwrap()))
        // The tests below check mtimes separately; drop them from the comparison.
        .map(|l| {
            let mut f: Vec<&str> = l.split(' ').collect();
            f.remove(3);
            format!("{}\n", f.join(" "))
        })
        .collect())
}

#[test]
fn whiteouts_and_opaque_directories() {
    let got = flatten(&[
        layer(&[
            E::Dir("a", 0o755),
            E::File("a/old1", b"1"),
            E::Dir("a/sub", 0o755),
            E::File("a/sub/x", b"x"),
            E::Dir("w", 0o755),
            E::File("w/gone", b"g"),
            E::File("w/kept", b"k"),
            E::Dir("d", 0o750),
            E::File("d/f", b"f"),
        ]),
        layer(&[
            // T10: the opaque marker comes after a same-layer sibling, which survives.
            E::File("a/new", b"n"),
            E::File("a/.wh..wh..opq", b""),
            E::File("w/.wh.gone", b""),
            E::File(".wh.d", b""),
        ]),
    ])
    .unwrap();
    assert_eq!(
        got,
        "d 0755 0:0 a\n\
         f 0644 0:0 a/new \"n\" nlink=1\n\
         d 0755 0:0 w\n\
         f 0644 0:0 w/kept \"k\" nlink=1\n"
    );
}

#[test]
fn file_directory_replacement_and_symlink_leaf() {
    let got = flatten(&[
        layer(&[
            E::File("fd", b"file"),
            E::Dir("df", 0o700),
            E::File("df/child", b"c"),
            E::Symlink("usr-bin-env", "busybox"),
            E::Symlink("d", "/tmp"),
        ]),
        layer(&[
            E::Dir("fd", 0o711),
            E::File("fd/inner", b"i"),
            E::File("df", b"now a file"),
            // T03: a regular file replaces a symlink leaf.
            E::File("usr-bin-env", b"real"),
            // T05: a directory over a symlink replaces it.
            E::Dir("d", 0o777),
        ]),
        // T15: file, directory, file again in one layer: the last one stays.
        layer(&[
            E::File("t15", b"1"),
            E::Dir("t15", 0o755),
            E::File("t15", b"last"),
        ]),
    ])
    .unwrap();
    assert_eq!(
        got,
        "d 0777 0:0 d\n\
         f 0644 0:0 df \"now a file\" nlink=1\n\
         d 0711 0:0 fd\n\
         f 0644 0:0 fd/inner \"i\" nlink=1\n\
         f 0644 0:0 t15 \"last\" nlink=1\n\
         f 0644 0:0 usr-bin-env \"real\" nlink=1\n"
    );
}

#[test]
fn hard_links_keep_inodes_across_layers() {
    // T08: t2 with links t1 and t3; a later layer rewrites t1 and deletes t2: t3 keeps the old
    // bytes. T06: an absolute link target is normal. The link without parent entries gets
    // implied parents.
    let got = flatten(&[
        layer(&[
            E::File("t2", b"old"),
            E::Link("t1", "t2"),
            E::Link("t3", "/t2"),
            E::Link("deep/er/t4", "./t2"),
        ]),
        layer(&[E::File("t1", b"new"), E::File(".wh.t2", b"")]),
    ])
    .unwrap();
    assert_eq!(
        got,
        "d 0755 0:0 deep\n\
         d 0755 0:0 deep/er\n\
         f 0644 0:0 deep/er/t4 \"old\" nlink=2\n\
         f 0644 0:0 t1 \"new\" nlink=1\n\
         f 0644 0:0 t3 \"old\" nlink=2\n"
    );
}

#[test]
fn special_files_xattrs_and_odd_names_are_kept() {
    let long: &'static str =
        Box::leak(format!("{}/{}", "l".repeat(120), "n".repeat(80)).into_boxed_str());
    let got = flatten(&[layer(&[
        E::Char("dev-zero", 1, 5),
        E::Fifo("fifo"),
        E::FileAttr("suid", b"s", 0o4755, 1000, 1001),
        E::Xattr(
            "ping",
            b"elf",
            "security.capability",
            b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
        ),
        E::File(long, b"long"),
        E::Raw(b"raw-\xff\xfe".to_vec(), b"bytes"),
        E::File("raw-\u{fffd}", b"replacement char"),
        E::Symlink("abs", "../../../../etc/shadow"),
    ])])
    .unwrap();
    let expected = format!(
        "l 0777 0:0 abs -> ../../../../etc/shadow\n\
         c 0666 0:0 dev-zero 1:5\n\
         p 0644 0:0 fifo\n\
         d 0755 0:0 {}\n\
         f 0644 0:0 {long} \"long\" nlink=1\n\
         f 0644 0:0 ping \"elf\" nlink=1\n\
         f 0644 0:0 raw-\u{fffd} \"replacement char\" nlink=1\n\
         f 0644 0:0 raw-\u{fffd}\u{fffd} \"bytes\" nlink=1\n\
         f 4755 1000:1001 suid \"s\" nlink=1\n",
        "l".repeat(120)
    );
    assert_eq!(got, expected);
}

#[test]
fn symlink_targets_are_stored_exactly() {
    // T17: targets of 60, 61 and 4095 bytes (the ext4 fast-symlink edge and PATH_MAX).
    let t60: &'static str = Box::leak("a".repeat(60).into_boxed_str());
    let t61: &'static str = Box::leak("b".repeat(61).into_boxed_str());
    let t4095: &'static str = Box::leak(format!("/{}", "c/".repeat(2047)).into_boxed_str());
    let got = flatten(&[layer(&[
        E::Symlink("s60", t60),
        E::Symlink("s61", t61),
        E::Symlink("s4095", t4095),
    ])])
    .unwrap();
    assert_eq!(
        got,
        format!("l 0777 0:0 s4095 -> {t4095}\nl 0777 0:0 s60 -> {t60}\nl 0777 0:0 s61 -> {t61}\n")
    );
}

#[test]
fn xattrs_reach_the_tar() {
    let f = Fixture::new();
    let cap = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    f.image(
        "test/img:1",
        &[layer(&[E::Xattr(
            "ping",
            b"elf",
            "security.capability",
            cap,
        )])],
        Cfg::default(),
    );
    let (tar, _) = f.build("init: [test/img:1]\n", f.dir.path()).unwrap();
    let mut ar = tar::Archive::new(&tar[..]);
    let mut found = false;
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.path_bytes().as_ref() == b"ping" {
            for x in e.pax_extensions().unwrap().unwrap() {
                let x = x.unwrap();
                if x.key().unwrap() == "SCHILY.xattr.security.capability" {
                    assert_eq!(x.value_bytes(), cap);
                    found = true;
                }
            }
        }
    }
    assert!(found);
}

#[test]
fn hostile_layers_are_refused() {
    let cases: Vec<(&str, Vec<Vec<u8>>, &str)> = vec![
        (
            "T01 ../ name",
            vec![layer(&[E::File("../../evil", b"x")])],
            "climbs above",
        ),
        (
            "T02 write through a symlinked parent",
            vec![
                layer(&[E::Symlink("etc", "/")]),
                layer(&[E::File("etc/passwd", b"x")]),
            ],
            "E-SYMLINK-PARENT",
        ),
        (
            "T07 link escaping",
            vec![layer(&[E::Link("l", "../../x")])],
            "climbs above",
        ),
        (
            "T07 link to a directory",
            vec![layer(&[E::Dir("d", 0o755), E::Link("l", "d")])],
            "E-HARDLINK",
        ),
        (
            "T07 link to an unseen name",
            vec![layer(&[E::Link("l", "nowhere")])],
            "E-HARDLINK",
        ),
        (
            "T09 .wh. alone",
            vec![layer(&[E::Dir("etc", 0o755), E::File("etc/.wh.", b"")])],
            "E-WHITEOUT",
        ),
        (
            "T09 .wh..",
            vec![layer(&[E::File(".wh..", b"")])],
            "E-WHITEOUT",
        ),
    ];
    for (what, layers, want) in cases {
        let err = flatten(&layers).expect_err(what);
        assert!(err.contains(want), "{what}: {err}");
    }
    // `.wh...` normalises to a whiteout of `..`: refused too.
    let err = flatten(&[layer(&[E::Dir("a", 0o755), E::File("a/.wh...", b"")])]);
    assert!(err.is_err(), "{err:?}");
    // A 256-byte component (T17).
    let name: &'static str = Box::leak("x".repeat(256).into_boxed_str());
    assert!(
        flatten(&[layer(&[E::File(name, b"")])])
            .unwrap_err()
            .contains("too long")
    );
}
