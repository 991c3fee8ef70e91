//! # A build session
//!
//! One invocation of evebuild: the request (project, knobs, targets, options) is resolved
//! into a [`Context`] — knobs validated, version computed, output directory chosen — before
//! any work starts, then each goal is built through the artifact steps in [`crate::steps`].

use crate::context::{Context, hv_override};
use crate::progress::{Outcome, Progress};
use crate::project::Project;
use crate::steps::Build;
use crate::steps::rootfs::RootfsOutputs;
use crate::target::{Goal, Target};
use anyhow::{Result, bail};
use evebuild_eve::compose::ImageKind;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What the user asked for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The directory evebuild was started in.
    pub cwd: PathBuf,
    /// `-C <dir>`.
    pub project: Option<PathBuf>,
    /// Knobs given on the command line (KEY=VALUE and flags).
    pub knobs: BTreeMap<String, String>,
    /// The process environment (knobs not given on the command line are read from here, as
    /// make does).
    pub environment: BTreeMap<String, String>,
    /// Target words, as typed.
    pub goals: Vec<String>,
    /// `--dist`.
    pub dist: Option<PathBuf>,
    /// `--cache`.
    pub cache: Option<PathBuf>,
    /// `-n`.
    pub dry_run: bool,
    /// `--force`.
    pub force: bool,
    /// `--pull`.
    pub pull: bool,
    /// `--offline`.
    pub offline: bool,
    /// `-j`.
    pub jobs: Option<usize>,
    /// `--registry`: a registry used as a shared package cache.
    pub registry: Option<String>,
    /// `--push`: publish packages to the registry.
    pub push: bool,
    /// `--insecure`: plain HTTP to every registry.
    pub insecure: bool,
}

/// One artifact the session produced or found up to date.
#[derive(Debug, Clone)]
pub struct ArtifactReport {
    /// Where it is.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// SHA-256 of its contents (hex).
    pub sha256: String,
    /// Whether it was rebuilt.
    pub outcome: Outcome,
}

/// What a session did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Lines for standard output (`version`, `kernel-tag`, the dry-run plan).
    pub printed: Vec<String>,
    /// Notes for the user.
    pub notes: Vec<String>,
    /// Artifacts, in the order they were finished.
    pub artifacts: Vec<ArtifactReport>,
}

/// Options of `pkg show-tag`.
#[derive(Debug, Clone, Default)]
pub struct ShowTagOptions {
    /// `--canonical`.
    pub canonical: bool,
    /// `--build-yml`.
    pub build_yml: Option<String>,
    /// `--hash`.
    pub hash: Option<String>,
    /// `--org`.
    pub org: Option<String>,
}

/// Builds the request's goals.
pub fn build(req: &Request, progress: &dyn Progress) -> Result<Summary> {
    let project = Project::discover(req.project.as_deref(), &req.cwd)?;
    if req.goals.is_empty() {
        bail!("no target given: try `evebuild live`, or `evebuild --help` for the list");
    }
    let goals = req
        .goals
        .iter()
        .map(|w| Goal::parse(w))
        .collect::<Result<Vec<_>, _>>()?;
    // A `<target>-<hv>` shortcut sets HV for the whole invocation, as with make.
    let hv = goals.iter().find_map(|g| g.hv.clone());
    let cx = Context::resolve(req, project, hv_override(req, hv.as_deref()))?;
    if cx.project.is_bundled_example {
        progress.note(&format!(
            "building the bundled example {} (use -C <dir> for another tree)",
            cx.project.root.display()
        ));
    }
    if cx.project.pkg_dir().join("kernel/kit").is_dir() {
        progress.note(&kit_note(&cx.project.root));
    }
    let mut b = Build::new(&cx, progress);
    // The SBOM is catalogued in the pass that writes rootfs.img when both are wanted.
    b.rootfs_also.sbom = goals.iter().any(|g| g.target == Target::Sbom);
    if req.dry_run {
        b.summary.printed = plan(&cx, &goals);
        return Ok(b.summary);
    }
    for g in &goals {
        build_goal(&mut b, &g.target)?;
    }
    Ok(b.summary)
}

fn build_goal(b: &mut Build<'_>, target: &Target) -> Result<()> {
    let cx = b.cx;
    match target {
        Target::Version => b.summary.printed.push(cx.rootfs_version.clone()),
        Target::KernelTag => b.summary.printed.push(cx.kernel.tag.clone()),
        Target::Live(format) => {
            b.live(*format)?;
            b.current()?;
        }
        Target::Rootfs => {
            b.rootfs(RootfsOutputs {
                image: true,
                ..Default::default()
            })?;
            b.current()?;
        }
        Target::RootfsTar => {
            b.rootfs(RootfsOutputs {
                tar: true,
                ..Default::default()
            })?;
        }
        Target::Config => {
            b.config_img()?;
        }
        Target::Current => b.current()?,
        Target::Pkg(name) => {
            let dir = cx.project.pkg_dir().join(name);
            if !dir.join("build.yml").is_file() {
                bail!("{} is not a package: it has no build.yml", dir.display());
            }
            let req = evebuild_linuxkit::tag::TagRequest {
                pkg_dir: dir,
                options: Default::default(),
            };
            let refs = b.ensure_packages(&[("", req)])?;
            b.summary.printed.extend(refs);
        }
        Target::Installer(format) => {
            b.installer(*format)?;
            b.current()?;
        }
        Target::InstallerTar => {
            b.installer_img(crate::steps::installer::InstallerOutputs { tar: true })?;
        }
        Target::InstallerImg => {
            b.installer_img(Default::default())?;
        }
        Target::Pkgs => b.all_packages()?,
        Target::Sbom => {
            b.rootfs(RootfsOutputs {
                sbom: true,
                ..Default::default()
            })?;
        }
    }
    Ok(())
}

/// Which boot kit the bundled example's packages carry (see scripts/boot-kit.sh).
fn kit_note(root: &Path) -> String {
    match evebuild_run::kit_status(root) {
        evebuild_run::KitStatus::Real { kernel_version } => {
            format!("boot kit: real (Debian kernel {kernel_version}, GRUB, busybox)")
        }
        evebuild_run::KitStatus::Placeholder => {
            "boot kit: placeholders (the images will not boot; \
            scripts/boot-kit.sh prepares a real kit)"
                .to_string()
        }
        evebuild_run::KitStatus::Incomplete { problems } => format!(
            "boot kit: incomplete ({}); rerun scripts/boot-kit.sh",
            problems.join("; ")
        ),
    }
}

/// The artifact a bootable target makes, building it first (`evebuild run live` like EVE's
/// `make run-live`).
pub fn bootable_image(req: &Request, target: &str, progress: &dyn Progress) -> Result<PathBuf> {
    let mut req = req.clone();
    req.goals = vec![target.to_string()];
    let summary = build(&req, progress)?;
    let want = match target {
        "live" | "live-qcow2" => "live.qcow2",
        "live-raw" => "live.raw",
        "installer" | "installer-raw" => "installer.raw",
        "installer-iso" => "installer.iso",
        "installer-qcow2" => "installer.qcow2",
        other => bail!(
            "`{other}` is not a bootable target: use live, live-raw, installer-raw or installer-iso"
        ),
    };
    summary
        .artifacts
        .iter()
        .map(|a| a.path.clone())
        .find(|p| p.file_name().is_some_and(|n| n == want))
        .ok_or_else(|| anyhow::anyhow!("building {target} made no {want}"))
}

/// What a dry run prints: the settled context and the artifacts each goal makes.
fn plan(cx: &Context, goals: &[Goal]) -> Vec<String> {
    let mut out = vec![
        format!("project         {}", cx.project.root.display()),
        format!(
            "knobs           ZARCH={} HV={} PLATFORM={} ROOTFS_FORMAT={}",
            cx.knobs.zarch, cx.knobs.hv, cx.knobs.platform, cx.knobs.rootfs_format
        ),
        format!("ROOTFS_VERSION  {}", cx.rootfs_version),
        format!("KERNEL_TAG      {}", cx.kernel.tag),
        format!("output          {}", cx.build_dir.display()),
    ];
    for g in goals {
        out.push(format!("target          {}", g.target));
    }
    out
}

/// The composed and resolved yml of `image` (`rootfs` or `installer`).
pub fn resolved_yml(req: &Request, image: &str) -> Result<String> {
    let project = Project::discover(req.project.as_deref(), &req.cwd)?;
    let kind = match image {
        "rootfs" => ImageKind::Rootfs,
        "installer" => ImageKind::Installer,
        other => bail!("unknown image `{other}`: use rootfs or installer"),
    };
    let cx = Context::resolve(req, project, hv_override(req, None))?;
    let mut b = Build::new(&cx, &crate::progress::Silent);
    Ok(b.resolved_yml(kind)?.text)
}

/// A package's tag, as `linuxkit pkg show-tag` prints it.
pub fn show_tag(dir: &Path, opts: ShowTagOptions) -> Result<String> {
    let lk = evebuild_linuxkit::tag::ShowTagOptions {
        build_yml: opts.build_yml,
        hash: opts.hash,
        org: opts.org,
        ..Default::default()
    }
    .with_env();
    let tag = evebuild_linuxkit::tag::show_tag(dir, &lk)?;
    Ok(if opts.canonical {
        tag.canonical()
    } else {
        tag.reference()
    })
}
