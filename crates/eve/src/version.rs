//! ROOTFS_VERSION and FULL_VERSION, computed from git exactly as EVE's Makefile does
//! (eve-build-facts §1.2):
//!
//! ```text
//! REPO_BRANCH = git rev-parse --abbrev-ref HEAD | tr / _
//! REPO_SHA    = git describe --match '$^' --abbrev=8 --always --dirty
//! REPO_TAG    = git describe --always --tags, if it is N.N.N[-lts|-rcN]; else snapshot
//! ROOTFS_VERSION = snapshot ? <EVE_SNAPSHOT_VERSION>-<branch>-<sha>[-<UTC %Y-%m-%d.%H.%M> if dirty][-dev]
//!                           : <tag>
//!                  + -<KERNEL_TAG with docker.io/lfedge/eve-kernel:eve-kernel- → k->  if the user gave KERNEL_TAG
//!                  + -<PLATFORM>                                                     unless generic
//! FULL_VERSION   = <ROOTFS_VERSION>-<HV>-<ZARCH>
//! ```
//!
//! `ROOTFS_VERSION=` as an argument replaces all of it. git is run as a program (the same
//! commands as the Makefile), which keeps `describe`'s dirty rule and abbreviation length
//! identical to EVE's; a failing command yields an empty string, as `$(shell …)` does.
//!
//! The dirty suffix is wall-clock time in EVE. The version reaches artifacts (the dist path,
//! config.img's marker, the rootfs), so here it is the time of the tree instead: the newest
//! modification time of the tracked files that differ from HEAD (the changes that make it
//! dirty), which reads like EVE's ("when did I change this") and is the same for every build
//! of the same working tree. `SOURCE_DATE_EPOCH`, when given, pins it. When no changed file
//! is left to look at (only deletions), the last commit's time is used.

use crate::knobs::Knobs;
use evebuild_linuxkit::tag::git::git_output;
use std::path::Path;

/// The part of KERNEL_TAG that `SHORT_KERNEL_TAG` replaces by `k-`.
pub const KERNEL_TAG_PREFIX: &str = "docker.io/lfedge/eve-kernel:eve-kernel-";

/// What the Makefile asks git.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GitFacts {
    /// `REPO_BRANCH` (`/` replaced by `_`; `HEAD` when detached).
    pub branch: String,
    /// `REPO_SHA`: abbreviated commit, `-dirty` appended when tracked files changed.
    pub sha: String,
    /// `git describe --always --tags` output.
    pub describe_tags: String,
}

impl GitFacts {
    /// Ask git in `repo` (three commands, as the Makefile runs them).
    pub fn read(repo: &Path) -> GitFacts {
        let run = |args: &[&str]| git_output(repo, args).unwrap_or_default();
        GitFacts {
            branch: run(&["rev-parse", "--abbrev-ref", "HEAD"]).replace('/', "_"),
            sha: run(&[
                "describe",
                "--match",
                "$^",
                "--abbrev=8",
                "--always",
                "--dirty",
            ]),
            describe_tags: run(&["describe", "--always", "--tags"]),
        }
    }

    /// `REPO_TAG`: the tag if HEAD is exactly a release tag, else `None` ("snapshot").
    pub fn release_tag(&self) -> Option<&str> {
        is_release_tag(&self.describe_tags).then_some(self.describe_tags.as_str())
    }

    /// Whether `REPO_SHA` carries `-dirty`.
    pub fn dirty(&self) -> bool {
        self.sha.contains("-dirty")
    }
}

/// `^[0-9]+\.[0-9]+\.[0-9]+(-lts|-rc[0-9]+)?$`
pub fn is_release_tag(s: &str) -> bool {
    let (core, suffix) = match s.find('-') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let numbers: Vec<&str> = core.split('.').collect();
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    numbers.len() == 3
        && numbers.iter().all(|p| digits(p))
        && match suffix {
            None => true,
            Some("lts") => true,
            Some(rc) => rc.strip_prefix("rc").is_some_and(digits),
        }
}

/// The time in the dirty suffix (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirtyTime(pub i64);

impl DirtyTime {
    /// `SOURCE_DATE_EPOCH` if it is a number, else the newest modification time of the
    /// tracked files of the repository at `repo` that differ from HEAD, else the last commit's
    /// time (0 outside a repository).
    pub fn of_tree(repo: &Path, source_date_epoch: Option<&str>) -> DirtyTime {
        if let Some(t) = source_date_epoch.and_then(|s| s.trim().parse().ok()) {
            return DirtyTime(t);
        }
        let changed = || -> Option<i64> {
            let top = git_output(repo, &["rev-parse", "--show-toplevel"])?;
            let names = git_output(repo, &["diff", "--name-only", "-z", "HEAD"])?;
            names
                .split('\0')
                .filter(|n| !n.is_empty())
                .filter_map(|n| std::fs::symlink_metadata(Path::new(&top).join(n)).ok())
                .filter_map(|m| m.modified().ok())
                .filter_map(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64)
                .max()
        };
        let committed =
            || git_output(repo, &["log", "-1", "--format=%ct"]).and_then(|s| s.parse().ok());
        DirtyTime(changed().or_else(committed).unwrap_or(0))
    }

    /// `date -u +%Y-%m-%d.%H.%M`.
    pub fn format(self) -> String {
        let t = evebuild_tree::time::UtcDateTime::from_unix(self.0);
        format!(
            "{:04}-{:02}-{:02}.{:02}.{:02}",
            t.year, t.month, t.day, t.hour, t.minute
        )
    }
}

/// `SHORT_KERNEL_TAG`.
pub fn short_kernel_tag(kernel_tag: &str) -> String {
    kernel_tag.replace(KERNEL_TAG_PREFIX, "k-")
}

/// ROOTFS_VERSION from the knobs and git facts.
pub fn rootfs_version(knobs: &Knobs, git: &GitFacts, dirty_time: DirtyTime) -> String {
    if let Some(v) = &knobs.rootfs_version {
        return v.clone();
    }
    let mut version = match git.release_tag() {
        Some(tag) => tag.to_string(),
        None => {
            let dirty = if git.dirty() {
                format!("-{}", dirty_time.format())
            } else {
                String::new()
            };
            let dev = if knobs.dev { "-dev" } else { "" };
            format!(
                "{}-{}-{}{dirty}{dev}",
                knobs.snapshot_version, git.branch, git.sha
            )
        }
    };
    if let Some(k) = &knobs.kernel_tag {
        let short = short_kernel_tag(k);
        if !short.is_empty() {
            version = format!("{version}-{short}");
        }
    }
    if let Some(p) = knobs.tag_platform() {
        version = format!("{version}-{p}");
    }
    version
}

/// FULL_VERSION: `<ROOTFS_VERSION>-<HV>-<ZARCH>` (installer/eve_version, /etc/eve-release).
pub fn full_version(rootfs_version: &str, knobs: &Knobs) -> String {
    format!("{rootfs_version}-{}-{}", knobs.hv, knobs.zarch)
}

/// The `-v` argument the Makefile gives compose-image-yml.sh:
/// `<ROOTFS_VERSION>-<HV>-<PLATFORM>-<ZARCH>`.
pub fn compose_version_arg(rootfs_version: &str, knobs: &Knobs) -> String {
    format!(
        "{rootfs_version}-{}-{}-{}",
        knobs.hv, knobs.platform, knobs.zarch
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knobs::Vars;

    #[test]
    fn release_tag_pattern() {
        for ok in ["17.3.0", "1.2.3-lts", "14.5.1-rc12"] {
            assert!(is_release_tag(ok), "{ok}");
        }
        for bad in [
            "17.3",
            "17.3.0-1-gabc",
            "v1.2.3",
            "1.2.3-rc",
            "1.2.3-beta",
            "snapshot",
            "",
        ] {
            assert!(!is_release_tag(bad), "{bad}");
        }
    }

    #[test]
    fn dates_format_like_date_u() {
        assert_eq!(DirtyTime(0).format(), "1970-01-01.00.00");
        assert_eq!(DirtyTime(1_795_778_820).format(), "2026-11-27.11.27");
        assert_eq!(DirtyTime(951_825_600).format(), "2000-02-29.12.00");
        assert_eq!(
            DirtyTime::of_tree(Path::new("/nonexistent"), Some("60")),
            DirtyTime(60)
        );
    }

    fn knobs(args: &[&str]) -> Knobs {
        Knobs::resolve(Vars::new(args.iter().copied(), []).unwrap(), "x86_64").unwrap()
    }

    #[test]
    fn version_shapes() {
        let git = GitFacts {
            branch: "master".into(),
            sha: "2c6b4154".into(),
            describe_tags: "17.3.0-5-g2c6b4154".into(),
        };
        let t = DirtyTime(1_795_778_820);
        assert_eq!(
            rootfs_version(&knobs(&[]), &git, t),
            "0.0.0-master-2c6b4154"
        );
        assert_eq!(
            rootfs_version(&knobs(&["DEV=y"]), &git, t),
            "0.0.0-master-2c6b4154-dev"
        );
        let k = knobs(&["ZARCH=arm64", "PLATFORM=nvidia-jp6"]);
        assert_eq!(
            rootfs_version(&k, &git, t),
            "0.0.0-master-2c6b4154-nvidia-jp6"
        );
        let dirty = GitFacts {
            sha: "2c6b4154-dirty".into(),
            ..git.clone()
        };
        assert_eq!(
            rootfs_version(&knobs(&["DEV=y"]), &dirty, t),
            "0.0.0-master-2c6b4154-dirty-2026-11-27.11.27-dev"
        );
        let kt = knobs(&["KERNEL_TAG=docker.io/lfedge/eve-kernel:eve-kernel-amd64-v6-x-gcc"]);
        assert_eq!(
            rootfs_version(&kt, &git, t),
            "0.0.0-master-2c6b4154-k-amd64-v6-x-gcc"
        );
        let tagged = GitFacts {
            describe_tags: "17.3.0".into(),
            ..git.clone()
        };
        assert_eq!(rootfs_version(&knobs(&["DEV=y"]), &tagged, t), "17.3.0");
        assert_eq!(rootfs_version(&k, &tagged, t), "17.3.0-nvidia-jp6");
        let over = knobs(&["ROOTFS_VERSION=snapshot", "PLATFORM=rt"]);
        assert_eq!(rootfs_version(&over, &git, t), "snapshot");
        assert_eq!(
            full_version("17.3.0", &knobs(&["HV=xen"])),
            "17.3.0-xen-amd64"
        );
        assert_eq!(
            compose_version_arg("0.0.0-master-2c6b4154", &knobs(&["HV=k"])),
            "0.0.0-master-2c6b4154-k-generic-amd64"
        );
    }
}
