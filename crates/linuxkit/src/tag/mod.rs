//! Package tags: `linuxkit pkg show-tag`, byte-identical to linuxkit 3bf33c3.
//!
//! A package's tag is `<org>/<image>:<tag>` where `<tag>` is its build.yml tag template
//! (default `{{.Hash}}`, an empty result becomes `latest`) rendered with the hash:
//!
//! - the object id of the package directory at the commit (`git rev-parse HEAD:<dir>`; the
//!   commit's root tree when the package is the repository root);
//! - with `extra-sources`: the hex SHA-1 of that id followed by each source's id, as text;
//! - when the directory differs from HEAD (tracked changes, staged or not, or untracked files
//!   that are not ignored): `-dirty-` and the first 7 hex digits of the SHA-256 of the
//!   *contents* of the package's files, tracked ones first then untracked ones, each list in
//!   git's order, as listed from the package directory; directories, symlinks, missing files
//!   and paths that git prints quoted are skipped. Extra sources are not checked for dirt.
//! - `--hash H` replaces all of this (never dirty-suffixed); a package outside any git work
//!   tree gets the empty hash (so `{{.Hash}}` gives `latest`), as in linuxkit.
//!
//! [`show_tags`] resolves many packages with a few git commands per repository (see
//! [`git`]); [`show_tag`] is the one-package form.
//!
//! Deliberate differences from linuxkit: paths are matched literally (linuxkit passes them as
//! git pathspecs, so a directory named `*` would glob); non-regular files (FIFOs, devices)
//! are skipped by the content hash rather than read; a `.git` that git refuses to use is an
//! error instead of silently counting as "not in git".

pub mod git;
pub mod template;

use crate::buildyml::{BuildYml, BuildYmlError, DEFAULT_BUILD_YML, clean_path};
use evebuild_oci::reference_expand;
use git::{GitError, Listing, RelPath, Repo, RepoFinder, git_would_quote, is_under};
use sha1::{Digest, Sha1};
use sha2::Sha256;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The environment variable that overrides the org when `--org` is not given.
pub const ORG_ENV: &str = "LINUXKIT_PKG_ORG";

/// The commit tags are computed at unless told otherwise.
pub const DEFAULT_COMMIT: &str = "HEAD";

/// The options of `linuxkit pkg show-tag` that change the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowTagOptions {
    /// `--build-yml`: the file in the package directory to read (default build.yml).
    pub build_yml: Option<String>,
    /// `--hash`: use this instead of the git hash.
    pub hash: Option<String>,
    /// `--org` (or `LINUXKIT_PKG_ORG`, see [`ShowTagOptions::with_env`]).
    pub org: Option<String>,
    /// `--tag`: a tag template replacing build.yml's.
    pub tag: Option<String>,
    /// `--hash-commit` (default HEAD; the dirty check only applies to HEAD).
    pub hash_commit: String,
    /// `--hash-path`: a parent of the package directory to hash instead of it.
    pub hash_path: Option<PathBuf>,
    /// `--force-dirty`.
    pub force_dirty: bool,
    /// `--dev`: org `$USER`, hash `dev` unless `hash` is given.
    pub dev: bool,
}

impl Default for ShowTagOptions {
    fn default() -> Self {
        ShowTagOptions {
            build_yml: None,
            hash: None,
            org: None,
            tag: None,
            hash_commit: DEFAULT_COMMIT.into(),
            hash_path: None,
            force_dirty: false,
            dev: false,
        }
    }
}

impl ShowTagOptions {
    /// Apply `LINUXKIT_PKG_ORG` (when non-empty) unless an org was given explicitly.
    pub fn with_env(mut self) -> Self {
        if self.org.is_none() {
            self.org = std::env::var(ORG_ENV).ok().filter(|o| !o.is_empty());
        }
        self
    }
}

/// One package to tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRequest {
    /// The package directory (relative to the current directory or absolute).
    pub pkg_dir: PathBuf,
    /// How to tag it.
    pub options: ShowTagOptions,
}

/// A package's resolved tag.
#[derive(Debug, Clone, PartialEq)]
pub struct PkgTag {
    /// Absolute package directory.
    pub pkg_dir: PathBuf,
    /// The build file that was read.
    pub build: BuildYml,
    /// Organisation after overrides.
    pub org: String,
    /// Image name.
    pub image: String,
    /// The hash the template was rendered with.
    pub hash: String,
    /// The rendered template (may be empty; see [`PkgTag::reference`]).
    pub tag: String,
    /// Whether the package differs from the commit (or `--force-dirty`).
    pub dirty: bool,
}

impl PkgTag {
    /// `org/image:tag` (tag `latest` when the template rendered empty) — show-tag's output.
    pub fn reference(&self) -> String {
        let tag = if self.tag.is_empty() {
            "latest"
        } else {
            &self.tag
        };
        format!("{}/{}:{}", self.org, self.image, tag)
    }

    /// `--canonical` output: linuxkit's `ReferenceExpand` of [`PkgTag::reference`].
    pub fn canonical(&self) -> String {
        reference_expand(&self.reference())
    }
}

/// Why a tag could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    /// The build file is unreadable or invalid.
    #[error(transparent)]
    BuildYml(#[from] BuildYmlError),
    /// A git command failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The directory has no entry at the commit.
    #[error("package {dir} is not in git at {commit} (commit it, or pass --hash)")]
    NotInGit {
        /// The directory.
        dir: PathBuf,
        /// The commit.
        commit: String,
    },
    /// An extra source is outside any git work tree.
    #[error("source {src} not in a git repository (extra-sources of {pkg})")]
    SourceNotInGit {
        /// The source directory.
        src: PathBuf,
        /// The package.
        pkg: PathBuf,
    },
    /// `--hash-path` is not a parent of the package.
    #[error("Hash path is not a prefix of the package path ({hash_path} vs {pkg})")]
    HashPathNotPrefix {
        /// The hash path.
        hash_path: PathBuf,
        /// The package.
        pkg: PathBuf,
    },
    /// The package path cannot be made absolute.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The tag template is invalid.
    #[error(transparent)]
    Template(#[from] template::TemplateError),
}

/// Tag one package (`linuxkit pkg show-tag [options] <pkg_dir>`).
pub fn show_tag(pkg_dir: &Path, options: &ShowTagOptions) -> Result<PkgTag, TagError> {
    let request = TagRequest {
        pkg_dir: pkg_dir.to_path_buf(),
        options: options.clone(),
    };
    Ok(show_tags(std::slice::from_ref(&request))?.remove(0))
}

/// What one request needs from git, once its files are read.
struct Prepared<'a> {
    options: &'a ShowTagOptions,
    pkg_path: PathBuf,
    build: BuildYml,
    /// The package's repository and its paths there: the package and the hashed directory.
    git: Option<(Repo, RelPath, RelPath)>,
    /// Extra sources: repository and path, when the hash is computed from git.
    extra: Vec<(Repo, RelPath)>,
}

/// Everything asked of one repository, answered in one pass per kind of question.
#[derive(Default)]
struct RepoQueries {
    /// Paths whose object id is needed, per commit.
    trees: BTreeMap<String, BTreeSet<RelPath>>,
    /// Paths checked for changes against HEAD.
    dirty_dirs: BTreeSet<RelPath>,
    /// Paths whose files are listed (dirt and content hashes).
    listed_dirs: BTreeSet<RelPath>,
}

#[derive(Default)]
struct RepoAnswers {
    trees: HashMap<(String, RelPath), String>,
    changed: Vec<RelPath>,
    listing: Listing,
    quote_fully: bool,
}

impl RepoQueries {
    /// Ask git everything at once: the commands run concurrently.
    fn answer(&self, repo: &Repo) -> Result<RepoAnswers, GitError> {
        std::thread::scope(|scope| {
            let trees = scope.spawn(|| {
                let mut found = HashMap::new();
                for (commit, dirs) in &self.trees {
                    for (rel, id) in repo.tree_hashes(commit, dirs)? {
                        found.insert((commit.clone(), rel), id);
                    }
                }
                Ok::<_, GitError>(found)
            });
            let changed = scope.spawn(|| {
                if self.dirty_dirs.is_empty() {
                    Ok(Vec::new())
                } else {
                    repo.changed_since_head(&self.dirty_dirs)
                }
            });
            let listing = scope.spawn(|| {
                if self.listed_dirs.is_empty() {
                    Ok(Listing::default())
                } else {
                    repo.listing(&self.listed_dirs)
                }
            });
            let quote_fully = repo.quote_path_fully()?;
            Ok(RepoAnswers {
                trees: trees
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))?,
                changed: changed
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))?,
                listing: listing
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e))?,
                quote_fully,
            })
        })
    }
}

/// Tag many packages with a few git commands per repository; results are in request order.
pub fn show_tags(requests: &[TagRequest]) -> Result<Vec<PkgTag>, TagError> {
    let mut finder = RepoFinder::default();
    let prepared = requests
        .iter()
        .map(|r| prepare(r, &mut finder))
        .collect::<Result<Vec<_>, _>>()?;

    let mut queries: BTreeMap<Repo, RepoQueries> = BTreeMap::new();
    for p in &prepared {
        let commit = &p.options.hash_commit;
        if let Some((repo, pkg_rel, hash_rel)) = &p.git {
            let q = queries.entry(repo.clone()).or_default();
            if p.options.hash.is_none() && !p.options.dev {
                q.trees
                    .entry(commit.clone())
                    .or_default()
                    .insert(hash_rel.clone());
                q.listed_dirs.insert(pkg_rel.clone());
            }
            if commit == DEFAULT_COMMIT {
                q.dirty_dirs.insert(hash_rel.clone());
                q.listed_dirs.insert(hash_rel.clone());
            }
        }
        for (repo, rel) in &p.extra {
            let q = queries.entry(repo.clone()).or_default();
            q.trees
                .entry(commit.clone())
                .or_default()
                .insert(rel.clone());
        }
    }
    let answers = queries
        .iter()
        .map(|(repo, q)| Ok((repo.clone(), q.answer(repo)?)))
        .collect::<Result<BTreeMap<_, _>, GitError>>()?;

    prepared
        .into_iter()
        .map(|p| {
            let dirty = p.git.as_ref().is_some_and(|(repo, _, hash_rel)| {
                let a = &answers[repo];
                let changed = p.options.hash_commit == DEFAULT_COMMIT
                    && (a.changed.iter().any(|c| is_under(c, hash_rel))
                        || a.listing.untracked.iter().any(|u| is_under(u, hash_rel)));
                p.options.force_dirty || changed
            });
            finish(p, dirty, &answers)
        })
        .collect()
}

fn prepare<'a>(request: &'a TagRequest, finder: &mut RepoFinder) -> Result<Prepared<'a>, TagError> {
    let options = &request.options;
    let pkg_path = absolute(&request.pkg_dir)?;
    let build_file = options.build_yml.as_deref().unwrap_or(DEFAULT_BUILD_YML);
    let build = BuildYml::load(&pkg_path, build_file)?;
    let sources = build.extra_sources(&pkg_path, &pkg_path.join(build_file))?;
    let hash_path = match &options.hash_path {
        None => pkg_path.clone(),
        Some(h) => {
            let h = absolute(h)?;
            if !pkg_path
                .as_os_str()
                .as_bytes()
                .starts_with(h.as_os_str().as_bytes())
            {
                return Err(TagError::HashPathNotPrefix {
                    hash_path: h,
                    pkg: pkg_path,
                });
            }
            h
        }
    };
    let needs_tree = options.hash.is_none() && !options.dev;
    let mut extra = Vec::new();
    if needs_tree {
        for source in &sources {
            let not_in_git = || TagError::SourceNotInGit {
                src: source.src.clone(),
                pkg: pkg_path.clone(),
            };
            let repo = if source.src.is_dir() {
                finder.find(&source.src)?.ok_or_else(not_in_git)?
            } else {
                return Err(not_in_git());
            };
            let rel = repo.relative(&source.src).ok_or_else(not_in_git)?;
            extra.push((repo, rel));
        }
    }
    let git = match finder.find(&pkg_path)? {
        None => None,
        Some(repo) => {
            let rel_of = |dir: &Path| {
                repo.relative(dir).ok_or_else(|| TagError::NotInGit {
                    dir: dir.to_path_buf(),
                    commit: options.hash_commit.clone(),
                })
            };
            let pkg_rel = rel_of(&pkg_path)?;
            let hash_rel = rel_of(&hash_path)?;
            Some((repo, pkg_rel, hash_rel))
        }
    };
    Ok(Prepared {
        options,
        pkg_path,
        build,
        git,
        extra,
    })
}

fn finish(
    p: Prepared<'_>,
    dirty: bool,
    answers: &BTreeMap<Repo, RepoAnswers>,
) -> Result<PkgTag, TagError> {
    let options = p.options;
    let commit = &options.hash_commit;
    let mut org = p.build.org.clone();
    let mut hash = options.hash.clone().unwrap_or_default();
    if options.dev {
        org = std::env::var("USER").unwrap_or_default();
        if hash.is_empty() {
            hash = "dev".into();
        }
    }
    if let Some(o) = &options.org {
        org = o.clone();
    }
    if let (true, Some((repo, pkg_rel, hash_rel))) = (hash.is_empty(), &p.git) {
        let a = &answers[repo];
        let tree_of = |repo: &Repo, rel: &RelPath| {
            answers[repo]
                .trees
                .get(&(commit.clone(), rel.clone()))
                .cloned()
                .ok_or_else(|| TagError::NotInGit {
                    dir: repo.top.join(std::ffi::OsStr::from_bytes(rel)),
                    commit: commit.clone(),
                })
        };
        hash = tree_of(repo, hash_rel)?;
        if !p.extra.is_empty() {
            let mut joined = hash;
            for (src_repo, rel) in &p.extra {
                joined.push_str(&tree_of(src_repo, rel)?);
            }
            hash = hex::encode(Sha1::digest(joined.as_bytes()));
        }
        if dirty {
            let content = content_hash(&p.pkg_path, pkg_rel, a)?;
            hash = format!("{hash}-dirty-{}", &content[..7]);
        }
    }
    let template = match &options.tag {
        Some(t) if !t.is_empty() => t.as_str(),
        _ if p.build.tag.is_empty() => crate::buildyml::defaults::TAG,
        _ => p.build.tag.as_str(),
    };
    let tag = template::render(template, &hash)?;
    Ok(PkgTag {
        pkg_dir: p.pkg_path,
        org,
        image: p.build.image.clone(),
        hash,
        tag,
        dirty,
        build: p.build,
    })
}

/// linuxkit's `contentHash`: SHA-256 over the contents of the files `git ls-files` then
/// `git ls-files --exclude-standard --others` list from the package directory, processed as
/// linuxkit processes that text (joined with a newline, whitespace-trimmed, split in lines).
fn content_hash(pkg_path: &Path, pkg_rel: &RelPath, a: &RepoAnswers) -> Result<String, TagError> {
    let listing = |paths: &[RelPath]| {
        let mut text = Vec::new();
        for path in paths.iter().filter(|p| is_under(p, pkg_rel)) {
            let rel = if pkg_rel.is_empty() {
                &path[..]
            } else {
                &path[pkg_rel.len() + 1..]
            };
            if git_would_quote(rel, a.quote_fully) {
                // git would print it C-quoted; linuxkit cannot stat that name. Keep a line that
                // cannot name a file so trimming and line splitting stay as linuxkit's.
                text.extend_from_slice(b"\"\0\"");
            } else {
                text.extend_from_slice(rel);
            }
            text.push(b'\n');
        }
        text
    };
    let mut all = listing(&a.listing.tracked);
    all.push(b'\n');
    all.extend(listing(&a.listing.untracked));
    let mut hasher = Sha256::new();
    for line in go_trim_space(&all).split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line.contains(&0) {
            continue;
        }
        let path = pkg_path.join(std::ffi::OsStr::from_bytes(line));
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.file_type().is_file() {
            continue;
        }
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        std::io::copy(&mut file, &mut hasher).map_err(|source| TagError::Io {
            path: path.clone(),
            source,
        })?;
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Go's `strings.TrimSpace` on bytes (ASCII white space and Unicode spaces at the ends).
fn go_trim_space(mut s: &[u8]) -> &[u8] {
    loop {
        let lead = std::str::from_utf8(&s[..s.len().min(4)])
            .ok()
            .or_else(|| {
                (1..4)
                    .rev()
                    .find_map(|n| std::str::from_utf8(&s[..s.len().min(n)]).ok())
            })
            .and_then(|t| t.chars().next());
        match lead {
            Some(c) if c.is_whitespace() => s = &s[c.len_utf8()..],
            _ => break,
        }
    }
    loop {
        let trail = (1..=4.min(s.len()))
            .find_map(|n| std::str::from_utf8(&s[s.len() - n..]).ok())
            .and_then(|t| t.chars().next_back());
        match trail {
            Some(c) if c.is_whitespace() => s = &s[..s.len() - c.len_utf8()],
            _ => break,
        }
    }
    s
}

fn absolute(p: &Path) -> Result<PathBuf, TagError> {
    std::path::absolute(p)
        .map(|a| clean_path(&a))
        .map_err(|source| TagError::Io {
            path: p.to_path_buf(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_space_like_go() {
        assert_eq!(go_trim_space(b" \t a b\n\n"), b"a b");
        assert_eq!(go_trim_space("\u{a0}x\u{85}".as_bytes()), b"x");
        assert_eq!(go_trim_space(b"\xffx\xff"), b"\xffx\xff");
        assert_eq!(go_trim_space(b"\n"), b"");
    }
}
