//! KERNEL_TAG: the kernel image of a build, from the source tree's `kernel-version.mk` (which
//! includes `kernel-commits.mk`), evaluated by [`crate::make`] with the build's knobs.
//!
//! We evaluate the tree's own files rather than keep a copy of the table: the table changes
//! with every kernel bump, and the files also carry EVE's checks and messages ("Unsupported
//! architecture …", "Unsupported combination of ZARCH=… and PLATFORM=…", "KERNEL_VERSION is
//! not defined…", "KERNEL_COMMIT_… is not defined…"), which come out verbatim. The order is
//! EVE's: the kernel table is included before the Makefile checks the hypervisor, so
//! [`resolve`] runs the table first and then [`Knobs::validate_after_kernel`].
//!
//! `KERNEL_TAG=` given by the user (argument or environment) wins over the table (the file
//! uses `?=`), but the table's checks still run, as in make.

use crate::knobs::{KnobError, Knobs};
use crate::make::{Make, MakeError};
use std::path::{Path, PathBuf};

/// The kernel table's file name at the top of an EVE tree.
pub const KERNEL_VERSION_MK: &str = "kernel-version.mk";

/// The kernel a build uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelInfo {
    /// `KERNEL_TAG`: the image reference.
    pub tag: String,
    /// Whether the user gave KERNEL_TAG (it then also suffixes ROOTFS_VERSION).
    pub from_user: bool,
    /// `KERNEL_VERSION`, e.g. `v6.12.96`.
    pub version: String,
    /// `KERNEL_FLAVOR`, e.g. `generic` or `nvidia-jp6`.
    pub flavor: String,
    /// `KERNEL_CONFIG_FLAVOR` as used in the tag: empty or `<flavor>-`.
    pub config_flavor: String,
    /// `KERNEL_COMMIT` (12 hex digits).
    pub commit: String,
    /// `KERNEL_BRANCH`.
    pub branch: String,
    /// `KERNEL_DOCKER_TAG`.
    pub docker_tag: String,
    /// The tree's own kernel package when the tag is its tag (see [`resolve`]).
    pub package: Option<PathBuf>,
}

impl KernelInfo {
    /// A kernel known only by its image reference.
    fn tag_only(tag: String, from_user: bool, package: Option<PathBuf>) -> Self {
        KernelInfo {
            tag,
            from_user,
            version: String::new(),
            flavor: String::new(),
            config_flavor: String::new(),
            commit: String::new(),
            branch: String::new(),
            docker_tag: String::new(),
            package,
        }
    }
}

/// Why the kernel could not be determined.
#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    /// A knob is rejected (by the tree's kernel table or by the Makefile's checks).
    #[error(transparent)]
    Rejected(#[from] KnobError),
    /// The table could not be read or is outside the supported make subset.
    #[error("kernel table: {0}")]
    Table(MakeError),
    /// The tree has no kernel table, no kernel package, and KERNEL_TAG was not given.
    #[error(
        "{0} not found and the tree has no pkg/kernel; pass KERNEL_TAG=<image> or build from \
         an EVE source tree"
    )]
    NoTable(PathBuf),
    /// The tag of the tree's own kernel package could not be computed.
    #[error("KERNEL_TAG from {}: {source}", dir.display())]
    OwnPackage {
        /// The package directory.
        dir: PathBuf,
        /// Why.
        source: evebuild_linuxkit::tag::TagError,
    },
}

/// The package a tree without a kernel table builds its kernel from.
pub const OWN_KERNEL_PACKAGE: &str = "pkg/kernel";

/// Evaluate `<source_root>/kernel-version.mk` for `knobs`, then EVE's later checks.
///
/// A tree without a kernel table (a small EVE-shaped project such as evebuild's bundled
/// example) that has its own [`OWN_KERNEL_PACKAGE`] uses that package's tag as KERNEL_TAG;
/// KERNEL_TAG given by the user wins over both.
pub fn resolve(source_root: &Path, knobs: &Knobs) -> Result<KernelInfo, KernelError> {
    let table = source_root.join(KERNEL_VERSION_MK);
    if !table.is_file() {
        knobs.validate()?;
        if let Some(tag) = &knobs.kernel_tag {
            return Ok(KernelInfo::tag_only(tag.clone(), true, None));
        }
        let own = source_root.join(OWN_KERNEL_PACKAGE);
        if !own.join("build.yml").is_file() {
            return Err(KernelError::NoTable(table));
        }
        let tag =
            evebuild_linuxkit::tag::show_tag(&own, &Default::default()).map_err(|source| {
                KernelError::OwnPackage {
                    dir: own.clone(),
                    source,
                }
            })?;
        return Ok(KernelInfo::tag_only(tag.reference(), false, Some(own)));
    }
    let mut make = Make::new(source_root);
    for (k, v) in &knobs.vars.environment {
        make.set_environment(k, v);
    }
    for (k, v) in &knobs.vars.command_line {
        make.set_command_line(k, v);
    }
    // The Makefile's own `ZARCH ?= $(HOSTARCH)` and `PLATFORM ?= generic`.
    if make.origin("ZARCH").is_none() {
        make.set_file("ZARCH", &knobs.zarch);
    }
    if make.origin("PLATFORM").is_none() {
        make.set_file("PLATFORM", &knobs.platform);
    }
    make.include(Path::new(KERNEL_VERSION_MK))
        .map_err(|e| match e {
            MakeError::Error { message, .. } => {
                KernelError::Rejected(KnobError::KernelTable(message))
            }
            other => KernelError::Table(other),
        })?;
    knobs.validate_after_kernel()?;
    let mut get = |name: &str| make.get(name).map_err(KernelError::Table);
    Ok(KernelInfo {
        tag: get("KERNEL_TAG")?,
        from_user: knobs.kernel_tag.is_some(),
        version: get("KERNEL_VERSION")?,
        flavor: get("KERNEL_FLAVOR")?,
        config_flavor: get("KERNEL_CONFIG_FLAVOR")?,
        commit: get("KERNEL_COMMIT")?,
        branch: get("KERNEL_BRANCH")?,
        docker_tag: get("KERNEL_DOCKER_TAG")?,
        package: None,
    })
}
