//! A yml with the structure of EVE's images/rootfs.yml.in, assembled from small local
//! images, extracted with bsdtar and compared with the expected tree, config.json,
//! runtime.json and metadata files in tests/golden/eve (golden/README.md says which rule each
//! part checks). Set `EVEBUILD_BLESS=1` to rewrite the golden files after a reviewed change.

mod common;
use common::*;
use std::path::Path;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/eve");

fn modules_tar() -> Vec<u8> {
    layer(&[
        E::Dir("lib/modules/6.1.0", 0o755),
        E::File("lib/modules/6.1.0/modules.dep", b"kernel/a.ko:\n"),
        E::FileAttr("lib/modules/6.1.0/a.ko", b"\x7fELF-module", 0o644, 0, 0),
    ])
}

/// The stand-in images.
fn images(f: &Fixture) {
    let tar: &'static [u8] = Box::leak(modules_tar().into_boxed_slice());
    f.image(
        "lfedge/eve-kernel:k1",
        &[layer(&[
            E::FileAttr("kernel", b"bzImage-bytes", 0o644, 0, 0),
            E::File("kernel.tar", tar),
            E::File("System.map", b"map"),
        ])],
        Cfg::default(),
    );
    f.image(
        "linuxkit/init:v1.3.0",
        &[layer(&[
            E::Dir("etc", 0o755),
            E::File("etc/hostname", b"builder"),
            E::File("etc/hosts", b"1.2.3.4 builder"),
            E::Dir("lib/apk/db", 0o755),
            E::File("lib/apk/db/installed", b"P:busybox"),
            E::FileAttr("init", b"#!/bin/sh", 0o755, 0, 0),
            E::Dir("dev", 0o700),
            E::Char("dev/null", 1, 3),
        ])],
        Cfg::default(),
    );
    f.image(
        "linuxkit/runc:v1.3.0",
        &[layer(&[E::FileAttr("usr/bin/runc", b"runc", 0o755, 0, 0)])],
        Cfg::default(),
    );
    f.image(
        "linuxkit/getty:v1.3.0",
        &[layer(&[
            E::Dir("lib/apk/db", 0o755),
            E::File("lib/apk/db/installed", b"P:getty"),
            E::FileAttr("etc/init.d/001-getty", b"getty", 0o755, 0, 0),
        ])],
        Cfg::default(),
    );
    f.image(
        "lfedge/eve-dom0-ztools:z1",
        &[layer(&[
            E::FileAttr("usr/bin/zboot", b"zboot", 0o755, 0, 0),
            E::File(".dockerenv", b""),
        ])],
        Cfg::default(),
    );
    f.image(
        "lfedge/eve-rngd:r1",
        &[layer(&[E::FileAttr("sbin/rngd", b"rngd", 0o755, 0, 0)])],
        Cfg {
            entrypoint: Some(vec!["/sbin/rngd"]),
            env: Some(vec!["PATH=/sbin:/bin"]),
            ..Cfg::default()
        },
    );
    f.image(
        "linuxkit/sysctl:43ac1d39da329c3567fcb9689e5ca99de6d169b6",
        &[layer(&[E::FileAttr("usr/bin/sysctl", b"sysctl", 0o755, 0, 0)])],
        Cfg {
            label: Some(r#"{"net":"host","pid":"host","ipc":"host","capabilities":["CAP_SYS_ADMIN"],"readonly":true,"binds":["/etc/sysctl.d:/etc/sysctl.d"]}"#.into()),
            cmd: Some(vec!["/usr/bin/sysctl", "-p"]),
            ..Cfg::default()
        },
    );
    f.image(
        "lfedge/eve-pillar:p1",
        &[
            layer(&[E::Dir("opt/zededa/bin", 0o755), E::FileAttr("opt/zededa/bin/zedbox", b"zedbox-v1", 0o755, 0, 0), E::File("etc/resolv.conf", b"nameserver 8.8.8.8")]),
            layer(&[E::FileAttr("opt/zededa/bin/zedbox", b"zedbox-v2", 0o755, 0, 0), E::Link("opt/zededa/bin/client", "opt/zededa/bin/zedbox")]),
        ],
        Cfg {
            label: Some(r#"{"capabilities":["all"],"net":"host","pid":"host","binds":["/dev:/dev","/run:/run"],"tmpfs":["/tmp"],"devices":[{"path":"all","type":"a"}],"rlimits":["nofile,1024,unlimited"]}"#.into()),
            entrypoint: Some(vec!["/opt/zededa/bin/entrypoint.sh"]),
            workdir: Some("/opt/zededa"),
            ..Cfg::default()
        },
    );
    f.image(
        "lfedge/eve-newlogd:n1",
        &[layer(&[E::FileAttr(
            "usr/bin/newlogd",
            b"newlogd",
            0o755,
            0,
            0,
        )])],
        Cfg {
            cmd: Some(vec!["/usr/bin/newlogd"]),
            ..Cfg::default()
        },
    );
    f.image(
        "lfedge/eve-debug:d1",
        &[layer(&[
            E::FileAttr("usr/bin/sshd", b"sshd", 0o755, 0, 0),
            E::Symlink("etc/resolv.conf", "/run/resolv.conf"),
            E::Dir("etc", 0o700),
        ])],
        Cfg {
            label: Some("net: host\npid: host\nuid: newlogd\n".into()),
            ..Cfg::default()
        },
    );
}

fn build() -> (Vec<u8>, tempfile::TempDir) {
    let f = Fixture::new();
    images(&f);
    let base = tempfile::tempdir().unwrap();
    std::fs::write(base.path().join("eve_version"), "0.0.0-test").unwrap();
    let yml = std::fs::read_to_string(Path::new(GOLDEN).join("rootfs.yml")).unwrap();
    let (tar, report) = f.build(&yml, base.path()).unwrap();
    assert_eq!(report.images.len(), 10);
    (tar, base)
}

/// The golden files of this test, and what the assembly produced for each.
fn outputs(tar: &[u8]) -> Vec<(String, String)> {
    let root = extract(tar);
    let r = root.path().join("root");
    let mut out = vec![("rootfs.listing".to_string(), listing(&r))];
    let mut bundles: Vec<_> = ["onboot", "services"]
        .iter()
        .flat_map(|s| {
            std::fs::read_dir(r.join("containers").join(s))
                .unwrap()
                .map(|e| e.unwrap().path())
        })
        .collect();
    bundles.sort();
    for b in bundles {
        let name = format!(
            "{}-{}",
            b.parent().unwrap().file_name().unwrap().to_string_lossy(),
            b.file_name().unwrap().to_string_lossy()
        );
        for file in ["config.json", "runtime.json"] {
            out.push((
                format!("{name}.{file}"),
                std::fs::read_to_string(b.join(file)).unwrap(),
            ));
        }
    }
    out.push((
        "linuxkit-eve-config.yml".into(),
        std::fs::read_to_string(r.join("etc/linuxkit-eve-config.yml")).unwrap(),
    ));
    out.push((
        "lib-apk-db-installed".into(),
        std::fs::read_to_string(r.join("lib/apk/db/installed")).unwrap(),
    ));
    out
}

#[test]
fn eve_shaped_rootfs_matches_golden() {
    let (tar, _base) = build();
    check_golden(GOLDEN, outputs(&tar));
}

#[test]
fn tar_is_readable_by_gnu_tar_unique_and_deterministic() {
    let (a, _b1) = build();
    let (b, _b2) = build();
    assert_eq!(a, b, "two builds differ");
    let names = tar_names(&a);
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "a path appears twice");
    // Parents before children.
    let mut seen = std::collections::HashSet::new();
    for n in &names {
        let n = n.trim_end_matches('/');
        if let Some((parent, _)) = n.rsplit_once('/') {
            assert!(seen.contains(parent), "{n} before its parent");
        }
        seen.insert(n.to_string());
    }
    // Provenance records (for --input-tar style reuse).
    let mut ar = tar::Archive::new(&a[..]);
    let mut sources = std::collections::BTreeMap::new();
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let path = String::from_utf8_lossy(&e.path_bytes()).into_owned();
        let mut rec = (String::new(), String::new());
        for x in e.pax_extensions().unwrap().into_iter().flatten() {
            let x = x.unwrap();
            match x.key().unwrap() {
                "LINUXKIT.source" => rec.0 = x.value().unwrap().to_string(),
                "LINUXKIT.location" => rec.1 = x.value().unwrap().to_string(),
                _ => {}
            }
        }
        sources.insert(path, rec);
    }
    let rec = |p: &str| sources[p].clone();
    assert_eq!(
        rec("boot/kernel"),
        ("docker.io/lfedge/eve-kernel:k1".into(), "kernel".into())
    );
    assert_eq!(
        rec("lib/modules/6.1.0/a.ko"),
        ("docker.io/lfedge/eve-kernel:k1".into(), "kernel".into())
    );
    assert_eq!(
        rec("usr/bin/runc"),
        ("docker.io/linuxkit/runc:v1.3.0".into(), "init[1]".into())
    );
    assert_eq!(
        rec("lib/apk/db/installed"),
        ("LINUXKIT.apkinit".into(), "init".into())
    );
    assert_eq!(
        rec("containers/volumes/debug-tools/merged"),
        ("linuxkit.volumes".into(), "volume[0]".into())
    );
    assert_eq!(
        rec("containers/services/pillar/config.json"),
        (
            "docker.io/lfedge/eve-pillar:p1".into(),
            "services[2]".into()
        )
    );
    assert_eq!(
        rec("etc/eve-release"),
        ("linuxkit.files".into(), "files[0]".into())
    );
}
