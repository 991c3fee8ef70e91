//! A yml that uses every section and field the EVE-shaped golden does not (kernel binary,
//! `tar: none` and ucode; onshutdown; every container field; volumes without an image; files
//! with symlink, mode, owners, optional sources and `metadata: json`; `trust:`), compared
//! with tests/golden/fields. Also: names resolved through the image's /etc/passwd and
//! /etc/group, and their hostile cases (T29).

mod common;
use common::*;
use std::path::Path;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/fields");

fn images(f: &Fixture, passwd: Vec<E>) {
    f.image(
        "example.org/kernel:2",
        &[
            layer(&[
                E::FileAttr("vmlinuz", b"kernel-bytes", 0o600, 0, 0),
                E::File("kernel", b"not this one"),
            ]),
            layer(&[E::FileAttr("intel-ucode.cpio", b"ucode", 0o644, 0, 0)]),
        ],
        Cfg::default(),
    );
    f.image(
        "example.org/base:1",
        &[layer(&[
            E::File("etc/os-release", b"base"),
            E::File("etc/mtab", b"kept with a new mtime"),
        ])],
        Cfg::default(),
    );
    let mut tool = vec![E::FileAttr("bin/tool", b"tool", 0o755, 0, 0)];
    tool.extend(passwd);
    f.image(
        "example.org/tool:1",
        &[layer(&tool)],
        Cfg {
            label: Some(
                r#"{"capabilities":["CAP_CHOWN"],"binds":["/label:/label"],"env":["FROM=label"]}"#
                    .into(),
            ),
            cmd: Some(vec!["/bin/tool"]),
            ..Cfg::default()
        },
    );
}

fn passwd() -> Vec<E> {
    vec![
        E::File(
            "etc/passwd",
            b"root:x:0:0::/root:/bin/sh\ndaemon:x:2:2::/:/sbin/nologin\n",
        ),
        E::File("etc/group", b"root:x:0:\nstaff:x:50:\n"),
    ]
}

fn build(passwd: Vec<E>) -> Result<Vec<u8>, String> {
    let f = Fixture::new();
    images(&f, passwd);
    let yml = std::fs::read_to_string(Path::new(GOLDEN).join("fields.yml")).unwrap();
    f.build(&yml, f.dir.path()).map(|(t, _)| t)
}

#[test]
fn every_field_matches_golden() {
    let tar = build(passwd()).unwrap();
    let root = extract(&tar);
    let r = root.path().join("root");
    let mut out = vec![("rootfs.listing".to_string(), listing(&r))];
    for b in [
        "containers/onboot/000-everything",
        "containers/onshutdown/000-bye",
    ] {
        for file in ["config.json", "runtime.json"] {
            let name = format!("{}.{file}", b.rsplit('/').next().unwrap());
            out.push((name, std::fs::read_to_string(r.join(b).join(file)).unwrap()));
        }
    }
    out.push((
        "config.json".into(),
        std::fs::read_to_string(r.join("etc/config.json")).unwrap(),
    ));
    check_golden(GOLDEN, out);
}

#[test]
fn hostile_passwd_files_are_refused_by_name() {
    // T29: /etc/passwd pointing at a device: an error naming the file, no hang.
    let err = build(vec![
        E::Char("dev/zero", 1, 5),
        E::Symlink("etc/passwd", "/dev/zero"),
        E::File("etc/group", b"staff:x:50:\n"),
    ])
    .unwrap_err();
    assert!(
        err.contains("/etc/passwd") && err.contains("not a regular file"),
        "{err}"
    );
    // A symlink loop.
    let err = build(vec![
        E::Symlink("etc/passwd", "passwd2"),
        E::Symlink("etc/passwd2", "passwd"),
    ])
    .unwrap_err();
    assert!(err.contains("too many levels"), "{err}");
    // A name in neither the container names nor the image.
    let err = build(vec![
        E::File("etc/passwd", b"root:x:0:0::/:/bin/sh\n"),
        E::File("etc/group", b"staff:x:50:\n"),
    ])
    .unwrap_err();
    assert!(err.contains("cannot find id: daemon"), "{err}");
}
