//! The final image yml of a build (`images/out/<kind>-<hv>-<platform>.yml`): the knobs'
//! kernel and version, composition ([`crate::compose`]) and placeholder resolution
//! ([`crate::placeholders`]) put together in the Makefile's order. This is what
//! `evebuild yml rootfs|installer` prints and what the rootfs assembly reads.

use crate::compose::{self, ComposeError, ImageKind};
use crate::kernel::{self, KernelError, KernelInfo};
use crate::knobs::Knobs;
use crate::placeholders::{self, PlaceholderError, TagContext};
use crate::version::{self, DirtyTime, GitFacts};
use std::path::{Path, PathBuf};

/// Everything known about one image yml.
#[derive(Debug, Clone)]
pub struct ImageYml {
    /// The composed text with placeholders (`*.yml.in`).
    pub yml_in: String,
    /// The resolved text (`*.yml`).
    pub yml: String,
    /// The modifiers applied.
    pub modifiers: Vec<PathBuf>,
    /// The kernel.
    pub kernel: KernelInfo,
    /// ROOTFS_VERSION used for the pillar variant.
    pub rootfs_version: String,
}

/// Why the image yml could not be made.
#[derive(Debug, thiserror::Error)]
pub enum YmlError {
    /// Knobs or kernel table.
    #[error(transparent)]
    Kernel(#[from] KernelError),
    /// Composition.
    #[error(transparent)]
    Compose(#[from] ComposeError),
    /// Placeholders.
    #[error(transparent)]
    Placeholders(#[from] PlaceholderError),
}

/// ROOTFS_VERSION of the tree at `source_root` (`evebuild version`): the knobs' override, or
/// git's facts with the dirty time from `source_date_epoch` (else the tree's changes).
pub fn rootfs_version(
    source_root: &Path,
    knobs: &Knobs,
    source_date_epoch: Option<&str>,
) -> String {
    if let Some(v) = &knobs.rootfs_version {
        return v.clone();
    }
    let facts = GitFacts::read(source_root);
    // The dirty time asks git about the changed files: only a dirty tree needs it.
    let dirty_time = if facts.dirty() {
        DirtyTime::of_tree(source_root, source_date_epoch)
    } else {
        DirtyTime(0)
    };
    version::rootfs_version(knobs, &facts, dirty_time)
}

/// Compose and resolve `<source_root>/images/<kind>.yml.in` for `knobs`.
pub fn image_yml(
    source_root: &Path,
    knobs: &Knobs,
    kind: ImageKind,
    rootfs_version: &str,
) -> Result<ImageYml, YmlError> {
    let kernel = kernel::resolve(source_root, knobs)?;
    let version_arg = version::compose_version_arg(rootfs_version, knobs);
    let composed = compose::compose(
        &source_root.join("images"),
        kind,
        &knobs.hv,
        &knobs.platform,
        &version_arg,
    )?;
    let ctx = TagContext {
        eve_root: source_root.to_path_buf(),
        platform: knobs.platform.clone(),
        kernel_tag: kernel.tag.clone(),
        eve_hash: knobs.eve_hash.clone(),
        org: None,
    };
    let yml = placeholders::resolve(&composed.yaml, &ctx)?;
    Ok(ImageYml {
        yml_in: composed.yaml,
        yml,
        modifiers: composed.modifiers,
        kernel,
        rootfs_version: rootfs_version.to_string(),
    })
}
