//! `LIVE_UPDATE=1 live`: after a one-file package change, the live.qcow2 of an earlier ext4
//! build is updated in place — and stays a valid image (`qemu-img check`) whose contents are
//! exactly those of a full build of the new sources (`qemu-img compare`), update after update.

mod common;

use common::*;
use std::path::Path;
use std::process::Command;

const VERSION: &str = "0.0.0-lu";

fn check_clean(image: &Path) {
    let out = Command::new(tool("qemu-img", "qemu-utils"))
        .args(["check", image.to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("No errors were found"),
        "qemu-img check {}:\n{text}",
        image.display()
    );
    assert!(!text.contains("leaked"), "{text}");
}

fn compare(a: &Path, b: &Path) {
    let out = Command::new(tool("qemu-img", "qemu-utils"))
        .args(["compare", "-f", "qcow2", "-F", "qcow2"])
        .args([a, b])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "qemu-img compare {} {}:\n{}{}",
        a.display(),
        b.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn live_update_patches_in_place_and_matches_a_full_build() {
    let p = Project::new();
    let v = format!("ROOTFS_VERSION={VERSION}");
    p.run(&[&v, "ROOTFS_FORMAT=ext4", "live"]);
    let image = p.dist(VERSION).join("live.qcow2");
    check_clean(&image);

    for round in 1..=2 {
        p.write(
            "pkg/debug/bin/debug-service",
            format!("#!/bin/sh\necho round {round}\n"),
        );
        p.commit(&format!("round {round}"));
        let run = p.run(&[&v, "LIVE_UPDATE=1", "live"]);
        assert!(
            run.stderr().contains("updated in place"),
            "round {round}: the image was written in full:\n{}",
            run.text()
        );
        check_clean(&image);

        // A full build of the same sources elsewhere holds the same disk.
        let full = p.tmp.path().join(format!("full-{round}"));
        p.run(&[
            &v,
            "ROOTFS_FORMAT=ext4",
            "--dist",
            full.to_str().unwrap(),
            "live",
        ]);
        let fresh = full.join("amd64").join(VERSION).join("live.qcow2");
        compare(&image, &fresh);
    }

    // Nothing changed: up to date, not even updated.
    let run = p.run(&[&v, "LIVE_UPDATE=1", "live"]);
    assert!(
        run.stderr().contains("everything is up to date"),
        "{}",
        run.text()
    );

    // An image that is not the remembered one is rewritten in full, and still right.
    std::fs::write(&image, b"not a qcow2").unwrap();
    let run = p.run(&[&v, "LIVE_UPDATE=1", "--force", "live"]);
    assert!(!run.stderr().contains("updated in place"), "{}", run.text());
    check_clean(&image);
}
