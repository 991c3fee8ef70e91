//! The build context: the package directory plus its `extra-sources` (each `src:dst` placed at
//! `dst`), minus what `.dockerignore` (or `<Dockerfile>.dockerignore`) excludes, as an [`Fs`]
//! whose files are read from the host when a layer is written.
//!
//! Owners are not taken from the host (context files are copied as root unless `--chown`);
//! modes and mtimes are (mtimes get clamped to SOURCE_DATE_EPOCH when copied).

use crate::Error;
use crate::ignore::Ignore;
use crate::native::fs::{Data, Fs, Node};
use evebuild_tree::{Entry, EntryPath, Kind, Sink, WalkOptions, walk_dir};
use std::io::Read;
use std::path::{Path, PathBuf};

/// One directory (or file) placed into the context.
#[derive(Debug, Clone)]
pub struct Source {
    /// Host path.
    pub host: PathBuf,
    /// Where it goes in the context (`None`: the root).
    pub dest: Option<EntryPath>,
}

/// Reads the context. `dockerfile` is the Dockerfile's file name (for `<name>.dockerignore`).
pub fn load(sources: &[Source], dockerfile: &Path) -> Result<Fs, Error> {
    let mut fs = Fs::new();
    for s in sources {
        let md = std::fs::symlink_metadata(&s.host).map_err(|e| Error::io(&s.host, e))?;
        if let Some(dest) = &s.dest {
            for parent in dest.ancestors_and_self().iter().take(dest.depth() - 1) {
                if fs.get(parent).is_none() {
                    fs.insert(dir_node(parent.clone()));
                }
            }
        }
        if md.is_dir() {
            if let Some(dest) = &s.dest {
                let mut e = Entry::dir(dest.clone(), md_mode(&md), md_mtime(&md));
                e.uid = 0;
                fs.insert(Node {
                    entry: e,
                    data: Data::None,
                });
            }
            let mut sink = Record {
                fs: &mut fs,
                host: &s.host,
                prefix: s.dest.as_ref(),
            };
            let opts = WalkOptions {
                all_root: true,
                ..Default::default()
            };
            walk_dir(&s.host, s.dest.as_ref(), &opts, &mut sink)
                .map_err(|e| Error::Other(format!("reading {}: {e}", s.host.display())))?;
        } else {
            let Some(dest) = &s.dest else {
                return Err(Error::Other(format!(
                    "{}: the build context root must be a directory",
                    s.host.display()
                )));
            };
            let target = std::fs::metadata(&s.host).map_err(|e| Error::io(&s.host, e))?;
            fs.insert(Node {
                entry: Entry::file(
                    dest.clone(),
                    target.len(),
                    md_mode(&target),
                    md_mtime(&target),
                ),
                data: Data::Host(s.host.clone()),
            });
        }
    }
    let root = sources
        .iter()
        .find(|s| s.dest.is_none())
        .map(|s| s.host.clone());
    if let Some(root) = root {
        let name = dockerfile
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let specific = dockerfile.with_file_name(format!("{name}.dockerignore"));
        let general = root.join(".dockerignore");
        let chosen = [specific, general].into_iter().find(|p| p.is_file());
        if let Some(p) = chosen {
            let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            apply_ignore(&mut fs, &Ignore::parse(&text));
        }
    }
    Ok(fs)
}

fn apply_ignore(fs: &mut Fs, ig: &Ignore) {
    if ig.is_empty() {
        return;
    }
    let all: Vec<(EntryPath, bool)> = fs
        .iter()
        .map(|n| (n.entry.path.clone(), matches!(n.entry.kind, Kind::Dir)))
        .collect();
    // Keep what is not excluded, and the parent directories of what is kept.
    let mut keep = std::collections::BTreeSet::new();
    for (p, _) in &all {
        if !ig.excludes(&p.as_str_lossy()) {
            for a in p.ancestors_and_self() {
                keep.insert(a);
            }
        }
    }
    for (p, _) in all {
        if !keep.contains(&p) && fs.get(&p).is_some() {
            fs.remove_all(&p);
        }
    }
}

fn dir_node(path: EntryPath) -> Node {
    Node {
        entry: Entry::dir(path, 0o755, 0),
        data: Data::None,
    }
}

fn md_mode(md: &std::fs::Metadata) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o7777
}

fn md_mtime(md: &std::fs::Metadata) -> i64 {
    std::os::unix::fs::MetadataExt::mtime(md)
}

struct Record<'a> {
    fs: &'a mut Fs,
    host: &'a Path,
    prefix: Option<&'a EntryPath>,
}

impl Sink for Record<'_> {
    fn add(&mut self, entry: &Entry, _: &mut dyn Read) -> Result<(), evebuild_tree::Error> {
        let rel = match self.prefix {
            Some(p) => &entry.path.as_bytes()[p.as_bytes().len() + 1..],
            None => entry.path.as_bytes(),
        };
        let host = self
            .host
            .join(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(rel));
        let mut e = entry.clone();
        let data = match &e.kind {
            Kind::File { .. } => Data::Host(host),
            Kind::Hardlink { .. } => {
                let len = std::fs::metadata(&host)
                    .map_err(|err| evebuild_tree::Error::io(host.display().to_string(), err))?
                    .len();
                e.kind = Kind::File { size: len };
                Data::Host(host)
            }
            _ => Data::None,
        };
        self.fs.insert(Node { entry: e, data });
        Ok(())
    }
}
