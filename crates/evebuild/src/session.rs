//! # A build session
//!
//! One invocation of evebuild: the request (project, knobs, targets, options) is resolved
//! into a [`Context`] — knobs validated, version computed, output directory chosen — before
//! any work starts, then each goal is built through the artifact steps in [`crate::steps`].

use crate::progress::{Outcome, Progress};
use crate::project::Project;
use crate::target::{Goal, Target};
use anyhow::{Context as _, Result, bail};
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
    if project.is_bundled_example {
        progress.note(&format!(
            "building the bundled example {} (use -C <dir> for another tree)",
            project.root.display()
        ));
    }
    if req.goals.is_empty() {
        bail!("no target given: try `evebuild live`, or `evebuild --help` for the list");
    }
    let goals = req
        .goals
        .iter()
        .map(|w| Goal::parse(w, &|_| false))
        .collect::<Result<Vec<_>, _>>()?;
    let _ = (goals, Target::Version, Path::new(""));
    bail!("building is not wired up yet")
}

/// The composed and resolved yml of `image` (`rootfs` or `installer`).
pub fn resolved_yml(req: &Request, image: &str) -> Result<String> {
    let _project = Project::discover(req.project.as_deref(), &req.cwd)?;
    bail!("yml {image}: not wired up yet")
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
    Ok(if opts.canonical { tag.canonical() } else { tag.reference() })
}
