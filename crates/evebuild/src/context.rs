//! # The resolved build context
//!
//! Everything a build step needs, settled before any work starts: the project, the validated
//! knobs, the version, the kernel, where artifacts go, the image store and the time stamped
//! into artifacts. A rejected knob combination stops here with EVE's message.

use crate::project::Project;
use crate::session::Request;
use anyhow::{Context as _, Result};
use evebuild_eve::kernel::KernelInfo;
use evebuild_eve::knobs::{Knobs, Vars};
use evebuild_linuxkit::tag::git::git_output;
use std::path::PathBuf;

/// linuxkit's fixed time for generated entries (2017-04-18T16:30:00Z): the SOURCE_DATE_EPOCH
/// of a tree that is not in git.
pub const FALLBACK_EPOCH: i64 = 1_492_533_000;

/// Which era's disk layouts to build (knob `LAYOUT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// The seed BUILD.md's layouts: live = efi imga imgb conf persist, 36 MiB ESP, 1 MiB conf.
    Seed,
    /// EVE 17's: live = efi efi_b conf imga, 2 GiB ESPs, 10 GiB rootfs partition, 5 MiB conf.
    Eve17,
}

/// A settled build.
#[derive(Debug)]
pub struct Context {
    /// The source tree.
    pub project: Project,
    /// Validated knobs.
    pub knobs: Knobs,
    /// The kernel image.
    pub kernel: KernelInfo,
    /// ROOTFS_VERSION.
    pub rootfs_version: String,
    /// FULL_VERSION (`<version>-<hv>-<arch>`).
    pub full_version: String,
    /// `dist/<arch>`.
    pub dist_arch: PathBuf,
    /// `dist/<arch>/<version>`.
    pub build_dir: PathBuf,
    /// `dist/<arch>/<version>/installer`.
    pub installer_dir: PathBuf,
    /// The image store.
    pub store: evebuild_oci::Store,
    /// Time stamped into artifacts.
    pub source_date_epoch: i64,
    /// Disk layout era.
    pub era: Era,
    /// Parallel jobs.
    pub jobs: usize,
    /// Rebuild everything.
    pub force: bool,
    /// Never use the network.
    pub offline: bool,
    /// Re-fetch manifests.
    pub pull: bool,
    /// The registry used as a shared package cache (`--registry`).
    pub remote: Option<crate::registry::Remote>,
    /// Publish packages to the registry (`--push`).
    pub push: bool,
}

/// Knob names whose `-<hv>` shortcut is handled by the target parser.
pub fn hv_override(req: &Request, hv: Option<&str>) -> Vars {
    let mut vars = Vars {
        command_line: req.knobs.clone(),
        environment: req.environment.clone(),
    };
    if let Some(hv) = hv {
        vars.command_line.insert("HV".into(), hv.into());
    }
    vars
}

impl Context {
    /// Resolves knobs, kernel and version for `project`; fails with EVE's message on a rejected
    /// combination.
    pub fn resolve(req: &Request, project: Project, vars: Vars) -> Result<Context> {
        let machine = uname_m();
        let knobs = Knobs::resolve(vars, &machine)?;
        let kernel = evebuild_eve::kernel::resolve(&project.root, &knobs)?;
        let sde = source_date_epoch(&project, &req.environment);
        let rootfs_version = evebuild_eve::yml::rootfs_version(
            &project.root,
            &knobs,
            req.environment.get("SOURCE_DATE_EPOCH").map(String::as_str),
        );
        let full_version = evebuild_eve::version::full_version(&rootfs_version, &knobs);
        let dist = match &req.dist {
            Some(d) if d.is_absolute() => d.clone(),
            Some(d) => req.cwd.join(d),
            None => project.root.join("dist"),
        };
        let dist_arch = dist.join(&knobs.zarch);
        let build_dir = dist_arch.join(&rootfs_version);
        let installer_dir = build_dir.join("installer");
        let store_root = req
            .cache
            .clone()
            .unwrap_or_else(evebuild_oci::Store::default_root);
        let store = evebuild_oci::Store::open(&store_root)
            .with_context(|| format!("opening the image store {}", store_root.display()))?;
        if req.push && req.registry.is_none() {
            anyhow::bail!("--push needs --registry <host>[/<prefix>] to know where to push");
        }
        let era = match knobs.vars.soft("LAYOUT") {
            None | Some("seed") => Era::Seed,
            Some("eve17") => Era::Eve17,
            Some(other) => {
                anyhow::bail!("LAYOUT={other} is not a disk layout era (use seed or eve17)")
            }
        };
        Ok(Context {
            project,
            kernel,
            rootfs_version,
            full_version,
            dist_arch,
            build_dir,
            installer_dir,
            store,
            source_date_epoch: sde,
            era,
            jobs: req
                .jobs
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            force: req.force,
            offline: req.offline,
            pull: req.pull,
            remote: req.registry.clone().map(|base| crate::registry::Remote {
                base,
                insecure: req.insecure,
            }),
            push: req.push,
            knobs,
        })
    }

    /// Platform the store resolves images for.
    pub fn platform(&self) -> evebuild_oci::Platform {
        evebuild_oci::Platform::linux(&self.knobs.zarch)
    }
}

/// SOURCE_DATE_EPOCH: the environment's, else the time of the project's last commit, else
/// [`FALLBACK_EPOCH`].
fn source_date_epoch(project: &Project, env: &std::collections::BTreeMap<String, String>) -> i64 {
    if let Some(v) = env
        .get("SOURCE_DATE_EPOCH")
        .and_then(|v| v.trim().parse().ok())
    {
        return v;
    }
    git_output(&project.root, &["log", "-1", "--format=%ct"])
        .and_then(|s| s.parse().ok())
        .unwrap_or(FALLBACK_EPOCH)
}

/// This machine's architecture, as EVE names it (amd64, arm64, riscv64).
pub fn host_arch() -> String {
    evebuild_eve::knobs::host_arch(&uname_m())
}

fn uname_m() -> String {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64",
        "aarch64" => "aarch64",
        "riscv64" => "riscv64",
        other => other,
    }
    .to_string()
}
