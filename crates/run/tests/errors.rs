//! What `run` and `verify_boot` say when they cannot boot at all: a missing image, an archive,
//! a QEMU that is not there or refuses to start, firmware that is not there. No VM boots here.

use evebuild_run::{Accel, Firmware, RunError, RunOptions, run, verify_boot};
use regex::Regex;
use std::path::{Path, PathBuf};
use std::time::Duration;

fn tcg() -> RunOptions {
    RunOptions {
        accel: Accel::Tcg,
        network: false,
        ..RunOptions::default()
    }
}

fn verify(image: &Path, opts: &RunOptions) -> RunError {
    verify_boot(
        image,
        &Regex::new("x").unwrap(),
        Duration::from_secs(5),
        opts,
    )
    .unwrap_err()
}

fn disk(dir: &Path) -> PathBuf {
    let p = dir.join("disk.raw");
    std::fs::write(&p, vec![0u8; 1 << 20]).unwrap();
    p
}

#[test]
fn a_missing_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("live.qcow2");
    for err in [verify(&missing, &tcg()), run(&missing, &tcg()).unwrap_err()] {
        assert!(matches!(err, RunError::Image { .. }), "{err}");
        assert!(err.to_string().contains("live.qcow2"), "{err}");
    }
}

#[test]
fn a_missing_qemu_names_the_package() {
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        qemu: "/nonexistent/qemu-system-x86_64".into(),
        ..tcg()
    };
    let err = verify(&disk(dir.path()), &opts);
    assert!(matches!(err, RunError::QemuMissing { .. }), "{err}");
    assert!(err.to_string().contains("qemu-system-x86"), "{err}");
}

#[test]
fn missing_firmware_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        firmware: Some(Firmware::Bios(dir.path().join("OVMF.fd"))),
        ..tcg()
    };
    let err = verify(&disk(dir.path()), &opts);
    assert!(matches!(err, RunError::Firmware { .. }), "{err}");
    assert!(err.to_string().contains("OVMF.fd"), "{err}");
}

#[test]
fn qemu_refusing_to_start_is_an_error_with_its_message_not_a_verdict() {
    let dir = tempfile::tempdir().unwrap();
    // A real QEMU, given a CPU count it rejects before the guest runs.
    let opts = RunOptions { cpus: 0, ..tcg() };
    let image = disk(dir.path());
    let err = verify(&image, &opts);
    let RunError::QemuFailed { stderr, .. } = &err else {
        panic!("expected QemuFailed, got {err}")
    };
    assert!(stderr.contains("CPU topology"), "{stderr}");
    // The log is kept even so.
    let log = std::fs::read_to_string(dir.path().join("disk.raw.boot.log")).unwrap();
    assert!(log.contains("QEMU failed"), "{log}");
}
