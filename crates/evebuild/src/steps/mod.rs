//! # Build steps
//!
//! Each artifact EVE's Makefile makes is one step here, in the order of EVE's pipeline:
//! composed and resolved ymls ([`yml`]), packages into the store ([`packages`]), the rootfs
//! ([`rootfs`]), config.img ([`config`]), the ESP ([`esp`]), the disks ([`disk`]; with
//! LIVE_UPDATE an existing live.qcow2 is refreshed in place, [`live_update`]) and the
//! installer media ([`installer`]). A
//! [`Build`] memoises each step's result, so targets that share inputs (`live live-vdi`) build
//! them once, and each step is skipped when its recorded key (see [`crate::state`]) matches.

pub mod config;
pub mod disk;
pub mod esp;
pub mod installer;
pub mod live_update;
pub mod packages;
pub mod rootfs;
pub mod yml;

use crate::context::Context;
use crate::progress::{Outcome, Progress};
use crate::session::{ArtifactReport, Summary};
use crate::state::State;
use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One build: the context, what has been done so far, and the up-to-date records.
pub struct Build<'a> {
    /// The settled context.
    pub cx: &'a Context,
    /// Where events go.
    pub progress: &'a dyn Progress,
    /// Recorded keys of the version's output directory.
    pub state: State,
    /// What the session reports at the end.
    pub summary: Summary,
    /// Finished artifacts by path (memo).
    done: BTreeMap<PathBuf, ArtifactReport>,
    /// Resolved ymls by image kind (memo).
    pub(crate) ymls: BTreeMap<&'static str, yml::ResolvedYml>,
    /// Packages already ensured in the store (memo): pkg dir → canonical reference.
    pub(crate) packages: BTreeMap<PathBuf, String>,
    /// Rootfs outputs to make whenever the rootfs is assembled (other goals of the session
    /// want them: one pass instead of two).
    pub rootfs_also: rootfs::RootfsOutputs,
}

impl<'a> Build<'a> {
    /// A build of `cx`.
    pub fn new(cx: &'a Context, progress: &'a dyn Progress) -> Build<'a> {
        Build {
            state: State::load(&cx.build_dir),
            cx,
            progress,
            summary: Summary::default(),
            done: BTreeMap::new(),
            ymls: BTreeMap::new(),
            packages: BTreeMap::new(),
            rootfs_also: Default::default(),
        }
    }

    /// Runs the step that makes `output` unless its key is recorded; `make` writes the
    /// artifact (atomically). Reports the artifact either way, once per session.
    pub fn step(
        &mut self,
        name: &str,
        output: &Path,
        key: &str,
        report: bool,
        make: impl FnOnce(&mut Self) -> Result<()>,
    ) -> Result<ArtifactReport> {
        if let Some(done) = self.done.get(output) {
            return Ok(done.clone());
        }
        let outcome = if !self.cx.force && self.state.is_fresh(output, key) {
            self.progress.finish(name, Outcome::UpToDate);
            Outcome::UpToDate
        } else {
            self.progress.start(name, None);
            make(self)?;
            self.progress.finish(name, Outcome::Built);
            Outcome::Built
        };
        let sha256 = match (outcome, self.state.recorded_sha256(output)) {
            (Outcome::UpToDate, Some(sha)) => sha.to_string(),
            _ => self.state.record(output, key)?,
        };
        let size = artifact_size(output);
        let a = ArtifactReport {
            path: output.to_path_buf(),
            size,
            sha256,
            outcome,
        };
        self.done.insert(output.to_path_buf(), a.clone());
        if report {
            self.summary.artifacts.push(a.clone());
        }
        Ok(a)
    }
}

impl Build<'_> {
    /// Points `dist/<arch>/current` at this version's directory (EVE's `current` target): a
    /// symbolic link with an absolute target, replaced atomically.
    pub fn current(&mut self) -> Result<()> {
        let link = self.cx.dist_arch.join("current");
        let tmp = self
            .cx
            .dist_arch
            .join(format!(".current.{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(&self.cx.build_dir, &tmp)?;
        std::fs::rename(&tmp, &link)?;
        Ok(())
    }
}

/// Size of a file, or the total of the files in a directory (live.parallels/).
fn artifact_size(p: &Path) -> u64 {
    match std::fs::metadata(p) {
        Ok(m) if m.is_dir() => std::fs::read_dir(p)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}
