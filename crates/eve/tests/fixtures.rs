//! Composition of the self-made fixture tree (tests/fixtures/images) against hand-written
//! expectations (tests/fixtures/expected): HV and platform modifiers, the installer-only
//! modifier, the mini deletions, an insertion after a named service, the pillar variants and
//! the EVE_HV/EVE_PLATFORM patches.

use evebuild_eve::compose::{ImageKind, compose, parse_yaml};
use std::path::Path;

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
}

fn check(
    kind: ImageKind,
    hv: &str,
    platform: &str,
    version: &str,
    expected: &str,
    modifiers: &[&str],
) {
    let images = fixtures().join("images");
    let composed = compose(&images, kind, hv, platform, version).unwrap();
    let want =
        parse_yaml(&std::fs::read_to_string(fixtures().join("expected").join(expected)).unwrap())
            .unwrap();
    assert_eq!(composed.doc, want, "{expected}:\n{}", composed.yaml);
    assert_eq!(
        parse_yaml(&composed.yaml).unwrap(),
        want,
        "{expected}: written text"
    );
    let got: Vec<String> = composed
        .modifiers
        .iter()
        .map(|m| {
            m.strip_prefix(&images)
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(got, modifiers, "{expected}");
}

#[test]
fn platform_modifier_inserts_after_a_service() {
    check(
        ImageKind::Rootfs,
        "kvm",
        "board",
        "0.0.0-master-0123abcd-kvm-board-arm64",
        "rootfs-kvm-board.yml",
        &["modifiers/platform/board/board.yq"],
    );
}

#[test]
fn mini_keeps_only_its_pieces() {
    check(
        ImageKind::Rootfs,
        "mini",
        "generic",
        "1.2.3-mini-generic-amd64",
        "rootfs-mini-generic.yml",
        &["modifiers/hv/mini.yq"],
    );
}

#[test]
fn k_and_dev_select_the_pillar_variant() {
    check(
        ImageKind::Rootfs,
        "k",
        "generic",
        "0.0.0-master-0123abcd-dev-k-generic-amd64",
        "rootfs-k-generic-dev.yml",
        &[],
    );
}

#[test]
fn installer_gets_the_installer_modifier_and_no_services() {
    check(
        ImageKind::Installer,
        "kvm",
        "usb",
        "0.0.0-master-0123abcd-dev-kvm-usb-amd64",
        "installer-kvm-usb.yml",
        &["modifiers/platform/usb/installer.yq"],
    );
    // The rootfs does not get installer.yq.
    let images = fixtures().join("images");
    let rootfs = compose(&images, ImageKind::Rootfs, "kvm", "usb", "1-kvm-usb-amd64").unwrap();
    assert!(rootfs.modifiers.is_empty());
}

#[test]
fn a_modifier_that_yields_nothing_is_an_error() {
    // board.yq finds no newlogd in the installer (no services at all): yq would write an empty
    // file; we stop and name the modifier.
    let images = fixtures().join("images");
    let err = compose(
        &images,
        ImageKind::Installer,
        "kvm",
        "board",
        "1-kvm-board-amd64",
    )
    .unwrap_err();
    assert!(err.to_string().contains("board.yq"), "{err}");
}
