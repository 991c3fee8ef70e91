//! A registry as the team's shared cache: what one machine built and pushed, another machine
//! (an empty store) takes from the registry instead of building, and gets the same images.

mod common;

use common::*;

#[test]
fn a_second_machine_takes_every_package_from_the_registry() {
    let registry = Registry::start();
    let p = Project::new();
    let first = p.run(&[
        "--registry",
        &registry.addr,
        "--push",
        "ROOTFS_VERSION=0.0.0-test",
        "live",
    ]);
    let pushed = first.stderr().matches("pushed ").count();
    assert!(
        pushed >= 12,
        "six packages, each index and amd64 image pushed:\n{}",
        first.text()
    );

    // Another machine: a fresh store, the same tree.
    let second = p
        .evebuild()
        .env("LINUXKIT_CACHE", p.tmp.path().join("cache-b"))
        .args([
            "--registry",
            &registry.addr,
            "ROOTFS_VERSION=0.0.0-test",
            "--dist",
        ])
        .arg(p.tmp.path().join("dist-b"))
        .arg("live")
        .output()
        .unwrap();
    let second = Run { out: second };
    assert!(second.ok(), "{}", second.text());
    let err = second.stderr();
    for pkg in [
        "kernel",
        "grub",
        "dom0-ztools",
        "fw",
        "storage-init",
        "debug",
    ] {
        assert!(
            err.contains(&format!("pkg/{pkg}: taken from {}", registry.addr)),
            "pkg/{pkg} not taken from the registry:\n{}",
            second.text()
        );
        assert!(
            err.contains(&format!("pkg/{pkg}: up to date")),
            "pkg/{pkg} was rebuilt:\n{}",
            second.text()
        );
    }
    // Same images, so the same artifacts.
    let shas =
        |r: &Run| -> Vec<String> { r.artifacts().into_iter().map(|(_, sha, _)| sha).collect() };
    assert_eq!(shas(&first), shas(&second));
}
