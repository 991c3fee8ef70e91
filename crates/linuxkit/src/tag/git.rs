//! The git facts a package tag needs, asked of the `git` program in batches.
//!
//! linuxkit runs three to five git commands per package. For a set of packages we run each
//! kind of query once per repository, over all the packages' paths at once:
//!
//! | linuxkit, per package                                        | here, per repository                             |
//! |--------------------------------------------------------------|--------------------------------------------------|
//! | `ls-tree --full-tree <commit> -- <dir>` / `show --format=%T` | `ls-tree -t -z --full-tree <commit> -- <dirs…>`  |
//! | `diff --no-ext-diff --exit-code --quiet HEAD -- <dir>`       | `diff --no-ext-diff --no-renames --name-only -z HEAD -- <dirs…>` |
//! | `ls-files --exclude-standard --others [--error-unmatch] -- <dir>` and `ls-files` | `ls-files -z -t --cached --others --exclude-standard -- <dirs…>` |
//!
//! We use the `git` program rather than a library on purpose: the dirty check must agree with
//! git's own view (index refresh and racy-clean entries, `.gitignore`/`info/exclude`/
//! `core.excludesFile`, clean filters, submodules, sparse and split indexes), and git is
//! already required to have an EVE checkout at all. Batching makes the cost a handful of
//! process starts regardless of the number of packages, and the queries of a repository run
//! concurrently.
//!
//! Paths are handled as bytes (`-z` output); the repository is found by walking up to the
//! nearest `.git` and confirmed with one `rev-parse --show-toplevel` per repository (when
//! `GIT_DIR` or `GIT_WORK_TREE` is set, git is asked for every directory instead).

use std::collections::{BTreeSet, HashMap};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A git command that failed.
#[derive(Debug, thiserror::Error)]
#[error("`git {args}` in {dir} failed: {stderr}")]
pub struct GitError {
    /// The working directory.
    pub dir: PathBuf,
    /// The arguments, space-joined.
    pub args: String,
    /// git's stderr, trimmed (or the spawn error).
    pub stderr: String,
}

/// A work tree, identified by its top-level directory (as git reports it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Repo {
    /// Absolute, symlink-free top-level directory.
    pub top: PathBuf,
}

/// Run git in `dir` and return its stdout; a non-zero exit is an error carrying stderr.
/// Dates are UTC (`format-local:` formats) and no optional lock is taken.
fn git(dir: &Path, args: &[&OsStr]) -> Result<Vec<u8>, GitError> {
    let err = |stderr: String| GitError {
        dir: dir.to_path_buf(),
        args: args
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" "),
        stderr,
    };
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("TZ", "UTC")
        .output()
        .map_err(|e| err(format!("cannot run git (install the `git` package): {e}")))?;
    if !out.status.success() {
        return Err(err(String::from_utf8_lossy(&out.stderr).trim().to_string()));
    }
    Ok(out.stdout)
}

/// Asks git in `dir` a question: its stdout trimmed, or `None` when git fails (not a
/// repository, no such revision, git missing) — for callers with a fallback.
pub fn git_output(dir: &Path, args: &[&str]) -> Option<String> {
    let args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
    git(dir, &args)
        .ok()
        .map(|out| String::from_utf8_lossy(&out).trim().to_string())
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// Split NUL-terminated output into byte paths.
fn nul_list(out: &[u8]) -> Vec<Vec<u8>> {
    out.split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

/// Finds the repository of directories, asking git once per repository.
#[derive(Default)]
pub struct RepoFinder {
    confirmed: HashMap<PathBuf, Option<Repo>>,
}

impl RepoFinder {
    /// The repository containing `dir` (an existing directory), or `None` if it is not in a
    /// work tree.
    pub fn find(&mut self, dir: &Path) -> Result<Option<Repo>, GitError> {
        let env_overrides =
            std::env::var_os("GIT_DIR").is_some() || std::env::var_os("GIT_WORK_TREE").is_some();
        let candidate = if env_overrides {
            dir.to_path_buf()
        } else {
            match dir.ancestors().find(|a| a.join(".git").exists()) {
                Some(a) => a.to_path_buf(),
                None => return Ok(None),
            }
        };
        if let Some(known) = self.confirmed.get(&candidate) {
            return Ok(known.clone());
        }
        let repo = match git(&candidate, &[os("rev-parse"), os("--show-toplevel")]) {
            Ok(top) => Some(Repo {
                top: PathBuf::from(OsStr::from_bytes(top.trim_ascii_end())),
            }),
            // A `.git` that git refuses (e.g. "dubious ownership") is an error worth showing,
            // not a silent "not in git" as linuxkit would make it.
            Err(e) if !env_overrides => return Err(e),
            Err(_) => None,
        };
        self.confirmed.insert(candidate, repo.clone());
        Ok(repo)
    }
}

/// A path relative to the repository top, as bytes without a trailing slash ("" = the top).
pub type RelPath = Vec<u8>;

/// What `git ls-files` and `git ls-files --others --exclude-standard` list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Index entries, in index order.
    pub tracked: Vec<RelPath>,
    /// Untracked, non-ignored files, in git's order.
    pub untracked: Vec<RelPath>,
}

/// Is `path` equal to `dir` or below it? (`dir` "" contains everything.)
pub fn is_under(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty()
        || (path.starts_with(dir) && (path.len() == dir.len() || path[dir.len()] == b'/'))
}

fn pathspecs(dirs: &BTreeSet<RelPath>) -> Option<Vec<&OsStr>> {
    if dirs.contains(&Vec::new()) {
        None // the whole repository
    } else {
        Some(dirs.iter().map(|d| OsStr::from_bytes(d)).collect())
    }
}

impl Repo {
    /// `dir` relative to the top, if it is inside this work tree.
    pub fn relative(&self, dir: &Path) -> Option<RelPath> {
        let canonical = dir.canonicalize().ok()?;
        let rel = canonical.strip_prefix(&self.top).ok()?;
        Some(rel.as_os_str().as_bytes().to_vec())
    }

    /// The object ids of `dirs` at `commit`: the entry's id for a sub-path (a tree, or the
    /// commit of a submodule), the commit's root tree for "". Missing paths are absent.
    pub fn tree_hashes(
        &self,
        commit: &str,
        dirs: &BTreeSet<RelPath>,
    ) -> Result<HashMap<RelPath, String>, GitError> {
        let mut found = HashMap::new();
        if dirs.contains(&Vec::new()) {
            let spec = format!("{commit}^{{tree}}");
            let out = git(&self.top, &[os("rev-parse"), os("--verify"), os(&spec)])?;
            found.insert(
                Vec::new(),
                String::from_utf8_lossy(out.trim_ascii()).into_owned(),
            );
        }
        let subdirs: Vec<&OsStr> = dirs
            .iter()
            .filter(|d| !d.is_empty())
            .map(|d| OsStr::from_bytes(d))
            .collect();
        if subdirs.is_empty() {
            return Ok(found);
        }
        let mut args = vec![
            os("ls-tree"),
            os("-t"),
            os("-z"),
            os("--full-tree"),
            os(commit),
            os("--"),
        ];
        args.extend(subdirs);
        let out = git(&self.top, &args)?;
        for record in out.split(|&b| b == 0).filter(|r| !r.is_empty()) {
            // "<mode> SP <type> SP <object> TAB <path>"
            let Some(tab) = record.iter().position(|&b| b == b'\t') else {
                continue;
            };
            let (meta, path) = (&record[..tab], &record[tab + 1..]);
            if !dirs.contains(path) {
                continue;
            }
            if let Some(object) = meta.split(|&b| b == b' ').nth(2) {
                found.insert(path.to_vec(), String::from_utf8_lossy(object).into_owned());
            }
        }
        Ok(found)
    }

    /// Paths (relative to the top) whose work-tree content differs from HEAD, under `dirs`:
    /// staged or not, including deletions. The index is refreshed first, as `git diff` does.
    pub fn changed_since_head(&self, dirs: &BTreeSet<RelPath>) -> Result<Vec<RelPath>, GitError> {
        let mut args = vec![
            os("--literal-pathspecs"),
            os("diff"),
            os("--no-ext-diff"),
            os("--no-renames"),
            os("--name-only"),
            os("-z"),
            os("HEAD"),
            os("--"),
        ];
        args.extend(pathspecs(dirs).unwrap_or_default());
        Ok(nul_list(&git(&self.top, &args)?))
    }

    /// Index entries and untracked, non-ignored files under `dirs`, each list in git's
    /// order (one `ls-files --cached --others --exclude-standard -t` run).
    pub fn listing(&self, dirs: &BTreeSet<RelPath>) -> Result<Listing, GitError> {
        let mut args = vec![
            os("--literal-pathspecs"),
            os("ls-files"),
            os("-z"),
            os("-t"),
            os("--cached"),
            os("--others"),
            os("--exclude-standard"),
            os("--"),
        ];
        args.extend(pathspecs(dirs).unwrap_or_default());
        let mut listing = Listing::default();
        for entry in nul_list(&git(&self.top, &args)?) {
            // "<status tag> <path>"; `?` marks untracked files.
            let (tag, path) = entry.split_at(2.min(entry.len()));
            if tag.first() == Some(&b'?') {
                listing.untracked.push(path.to_vec());
            } else {
                listing.tracked.push(path.to_vec());
            }
        }
        Ok(listing)
    }

    /// `core.quotePath` (default true): whether git's non-`-z` listings quote bytes >= 0x80.
    pub fn quote_path_fully(&self) -> Result<bool, GitError> {
        let value = git_output(
            &self.top,
            &["config", "--type=bool", "--get", "core.quotepath"],
        );
        Ok(value.as_deref() != Some("false"))
    }
}

/// Would git print `path` C-quoted in a listing without `-z`? (control characters, DEL, `"`
/// and `\` always; bytes >= 0x80 when `core.quotePath` is on).
pub fn git_would_quote(path: &[u8], quote_path_fully: bool) -> bool {
    path.iter().any(|&b| {
        b < 0x20 || b == 0x7f || b == b'"' || b == b'\\' || (b >= 0x80 && quote_path_fully)
    })
}
