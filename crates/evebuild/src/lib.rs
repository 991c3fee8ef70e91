//! # The evebuild engine
//!
//! Turns an EVE-shaped source tree, knobs and make-style targets into artifacts under
//! `dist/<arch>/<version>/`, as EVE's Makefile does, without docker, root or loop devices.
//!
//! The engine plans the work (which packages, images and disks a target needs), keys every
//! step by the content of its inputs ([`state`]), skips what is up to date, and runs the
//! format writers of the other evebuild crates. It never parses command lines or prints:
//! the `evebuild` binary does that through [`progress::Progress`].

pub mod artifact;
pub mod cache;
pub mod context;
pub mod progress;
pub mod project;
pub mod registry;
pub mod session;
pub mod state;
pub mod steps;
pub mod target;

/// The knobs `evebuild --help` lists, with what each selects.
pub const KNOB_HELP: &[(&str, &str)] = &[
    (
        "ZARCH",
        "target architecture: amd64, arm64, riscv64 (default: this machine's)",
    ),
    (
        "HV",
        "hypervisor: kvm (default), k, mini, xen; the seed's acrn and kubevirt",
    ),
    (
        "PLATFORM",
        "generic (default), rt, nvidia-jp5/6/7, imx8mp_pollux, …",
    ),
    (
        "ROOTFS_VERSION",
        "version to build (default: computed from git)",
    ),
    ("ROOTFS_FORMAT", "squash (default) or ext4"),
    (
        "DEV",
        "y: development build (-dev versions and package variants)",
    ),
    (
        "LIVE_UPDATE",
        "set: ext4 rootfs, update the live image in place",
    ),
    (
        "MEDIA_SIZE",
        "virtual disk size in MiB of live.qcow2/vdi/parallels/gcp",
    ),
    (
        "KERNEL_TAG",
        "kernel image to use instead of the kernel table's",
    ),
    (
        "SOURCE_DATE_EPOCH",
        "time stamped into artifacts (default: last commit time)",
    ),
];
