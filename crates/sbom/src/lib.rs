//! # The SBOM of a rootfs
//!
//! A deterministic, valid SPDX 2.3 JSON document describing what a rootfs holds, catalogued
//! from the same entry stream the image writer consumes: [`Cataloguer`] is a
//! [`evebuild_tree::Sink`], so the engine tees the assembled rootfs into it while rootfs.img is
//! written, and nothing is read twice.
//!
//! What is catalogued (the parts of syft's image catalogers EVE's SBOM relies on):
//! - apk databases ([`apk`]) of the init images (linuxkit's merged `lib/apk/db/installed`)
//!   and of each container and volume (`containers/<section>/<name>/{lower,rootfs}/…`), with
//!   PURLs `pkg:apk/<distro id>/<name>@<version>?arch=…&distro=<id>-<VERSION_ID>` (the distro
//!   from the image's os-release; `alpine` with no `distro` qualifier when the image has none,
//!   where syft would give no PURL at all) and their dependencies;
//! - Go build information of ELF binaries ([`gobuildinfo`]): main module, dependencies and
//!   `stdlib` (with the Go CPE);
//! - the kernel ([`kernel`]): `pkg:generic/linux-kernel@<release>` and the Linux CPE.
//!
//! Each package sits under one root package per image section of the yml (kernel, init images,
//! containers, volumes — found from the stream's provenance annotations), and those under one
//! rootfs package the document describes ([`spdx`] says how the output is made deterministic).
//!
//! ## Not in the rootfs
//! linuxkit writes its merged SBOM into the rootfs as `/sbom.spdx.json`; evebuild does not.
//! The document describes the rootfs's contents, so putting it inside would make the image
//! depend on a description of itself (a second pass, or a document that cannot cover the
//! bytes it sits in), and every change of the cataloguer would change rootfs.img. linuxkit's
//! copy only works because it merely concatenates the source images' attestations. EVE reads
//! the SBOM from the rootfs tar only to copy it to `installer/rootfs-<platform>.spdx.json`,
//! which evebuild writes directly, in the same pass as rootfs.img.
//!
//! Left out: kernel modules, Rust (cargo-auditable) and Python packages, syft's
//! binary-classifier matches, per-file entries (`filesAnalyzed` is false), Go binaries older
//! than Go 1.18.

pub mod apk;
pub mod catalogue;
pub mod format;
pub mod gobuildinfo;
pub mod kernel;
pub mod license;
pub mod purl;
pub mod spdx;
pub mod validate;

pub use catalogue::{Cataloguer, Options, Sbom};
