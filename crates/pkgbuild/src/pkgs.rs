//! Building every package of a `pkg/` directory (`make pkgs`): dependency order from the
//! Dockerfiles' `FROM`/`COPY --from` lines (EVE's `get-deps` rule, generalised: an image whose
//! repository is another package's `<org>/<image>` makes that package a dependency; `ARG`s
//! expanded with the package's build args), independent packages in parallel on a small thread
//! pool, progress through [`Progress`], and a failure that stops only the packages depending on
//! the failed one.
//!
//! A dependency's current tag feeds its dependants: their `FROM <org>/<image>:<anything>` is
//! resolved to the tag the dependency has now (see [`crate::store_images`]), and since that
//! changes the dependant's recorded inputs, changing a package rebuilds it and everything built
//! on it, and nothing else.

use crate::package::{BuildOptions, BuiltPackage, GitCache, build_tagged_with};
use crate::{Error, deps};
use evebuild_linuxkit::tag::{PkgTag, TagRequest, show_tags};
use evebuild_oci::{Reference, Store};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// Progress of a `pkgs` run, called from worker threads.
pub trait Progress: Sync {
    /// A package starts building (or checking the store).
    fn started(&self, _package: &str) {}
    /// A package is done.
    fn finished(&self, _package: &str, _result: &Result<BuiltPackage, Error>) {}
    /// A package is skipped because a dependency failed.
    fn skipped(&self, _package: &str, _failed_dependency: &str) {}
}

/// A [`Progress`] that reports nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// What happened to each package.
#[derive(Debug, Default)]
pub struct Summary {
    /// Built or found, in completion order.
    pub built: Vec<(String, BuiltPackage)>,
    /// Failed, with the error.
    pub failed: Vec<(String, Error)>,
    /// Not attempted: (package, the failed dependency).
    pub skipped: Vec<(String, String)>,
}

impl Summary {
    /// True when every package was built or found.
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty()
    }
}

/// Options of a `pkgs` run.
#[derive(Debug, Clone)]
pub struct AllOptions {
    /// Per-package build options (tag options, arches, force …).
    pub build: BuildOptions,
    /// Worker threads (at least 1).
    pub jobs: usize,
    /// Package names (directory names) to leave out.
    pub exclude: Vec<String>,
}

/// The package directories under `pkg_root` (those with a build.yml or the chosen variant).
pub fn package_dirs(pkg_root: &Path, build_yml: Option<&str>) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let rd = std::fs::read_dir(pkg_root).map_err(|e| Error::io(pkg_root, e))?;
    for e in rd {
        let p = e.map_err(|e| Error::io(pkg_root, e))?.path();
        let has = p.join("build.yml").is_file() || build_yml.is_some_and(|b| p.join(b).is_file());
        if p.is_dir() && has {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// The dependency graph: package name → names of the packages it reads images of.
pub fn dependencies(
    tags: &[PkgTag],
    arch: &str,
) -> Result<BTreeMap<String, BTreeSet<String>>, Error> {
    let repo_of: BTreeMap<String, String> = tags
        .iter()
        .filter_map(|t| {
            Reference::parse(&t.canonical())
                .ok()
                .map(|r| (r.name().to_string(), name_of(t)))
        })
        .collect();
    let mut graph = BTreeMap::new();
    for t in tags {
        let df_path = t.pkg_dir.join(&t.build.dockerfile);
        // A Dockerfile that does not parse fails when its package builds; it reads nothing.
        let Ok(df) = crate::dockerfile::Dockerfile::read(&df_path) else {
            graph.insert(name_of(t), BTreeSet::new());
            continue;
        };
        let args: Vec<(String, String)> = t
            .build
            .build_args
            .iter()
            .flatten()
            .filter_map(|l| {
                l.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
        let mut ds = BTreeSet::new();
        for r in deps::image_refs(&df, &args, arch) {
            if let Ok(r) = Reference::parse(&r)
                && let Some(p) = repo_of.get(r.name())
                && *p != name_of(t)
            {
                ds.insert(p.clone());
            }
        }
        graph.insert(name_of(t), ds);
    }
    Ok(graph)
}

fn name_of(t: &PkgTag) -> String {
    t.pkg_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Builds every package under `pkg_root`.
pub fn build_all(
    store: &Store,
    pkg_root: &Path,
    o: &AllOptions,
    progress: &dyn Progress,
) -> Result<Summary, Error> {
    let dirs: Vec<PathBuf> = package_dirs(pkg_root, o.build.tag.build_yml.as_deref())?
        .into_iter()
        .filter(|d| {
            !d.file_name()
                .is_some_and(|n| o.exclude.iter().any(|x| *x == n.to_string_lossy()))
        })
        .collect();
    let requests: Vec<TagRequest> = dirs
        .iter()
        .map(|d| {
            let mut options = o.build.tag.clone();
            if options
                .build_yml
                .as_deref()
                .is_some_and(|b| !d.join(b).is_file())
            {
                options.build_yml = None;
            }
            TagRequest {
                pkg_dir: d.clone(),
                options,
            }
        })
        .collect();
    let tags = show_tags(&requests).map_err(|e| Error::Other(e.to_string()))?;
    let arch = o
        .build
        .arches
        .as_ref()
        .and_then(|a| a.first().cloned())
        .unwrap_or_else(crate::package::host_arch);
    let graph = dependencies(&tags, &arch)?;
    if let Some(cycle) = find_cycle(&graph) {
        return Err(Error::Other(format!(
            "packages depend on each other in a cycle: {}",
            cycle.join(" → ")
        )));
    }
    let mut build = o.build.clone();
    for t in &tags {
        if let Ok(r) = Reference::parse(&t.canonical()) {
            build.substitutions.insert(r.name().to_string(), r);
        }
    }
    let by_name: BTreeMap<String, &PkgTag> = tags.iter().map(|t| (name_of(t), t)).collect();

    let mut summary = Summary::default();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut failed: BTreeMap<String, String> = BTreeMap::new(); // name → root failure
    let mut running: BTreeSet<String> = BTreeSet::new();
    let mut waiting: BTreeSet<String> = graph.keys().cloned().collect();
    let jobs = o.jobs.max(1);
    let git = GitCache::default();
    let git = &git;
    let (tx, rx) = mpsc::channel::<(String, Result<BuiltPackage, Error>)>();
    std::thread::scope(|scope| {
        loop {
            // Skip what cannot build; start what can.
            let names: Vec<String> = waiting.iter().cloned().collect();
            for n in names {
                let ds = &graph[&n];
                if let Some(bad) = ds.iter().find(|d| failed.contains_key(*d)) {
                    let root = failed[bad].clone();
                    progress.skipped(&n, &root);
                    summary.skipped.push((n.clone(), root.clone()));
                    failed.insert(n.clone(), root);
                    waiting.remove(&n);
                    continue;
                }
                if running.len() < jobs && ds.iter().all(|d| done.contains(d)) {
                    waiting.remove(&n);
                    running.insert(n.clone());
                    let tx = tx.clone();
                    let tag = by_name[&n];
                    let build = &build;
                    scope.spawn(move || {
                        progress.started(&n);
                        let r = build_tagged_with(store, tag, build, git);
                        let _ = tx.send((n, r));
                    });
                }
            }
            if running.is_empty() {
                break;
            }
            let Ok((n, r)) = rx.recv() else { break };
            running.remove(&n);
            progress.finished(&n, &r);
            match r {
                Ok(b) => {
                    done.insert(n.clone());
                    summary.built.push((n, b));
                }
                Err(e) => {
                    failed.insert(n.clone(), n.clone());
                    summary.failed.push((n, e));
                }
            }
        }
    });
    Ok(summary)
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(n) {
            Some(2) => return None,
            Some(1) => {
                let start = stack.iter().position(|s| s == n).unwrap_or(0);
                let mut c = stack[start..].to_vec();
                c.push(n.to_string());
                return Some(c);
            }
            _ => {}
        }
        state.insert(n.to_string(), 1);
        stack.push(n.to_string());
        for d in g.get(n).into_iter().flatten() {
            if let Some(c) = visit(d, g, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(n.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in graph.keys() {
        if let Some(c) = visit(n, graph, &mut state, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}
