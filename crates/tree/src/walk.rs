//! Reading a host directory as an entry stream.
//!
//! Children are visited in byte order of their names, so the stream never depends on the
//! order the host filesystem returns them in. File contents are streamed, not loaded.

use crate::{Entry, EntryPath, Error, Kind, Sink, Xattrs};
use std::collections::HashMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// How [`walk_dir`] maps host metadata onto entries.
#[derive(Debug, Clone, Default)]
pub struct WalkOptions {
    /// Follow symbolic links and store what they point at (as `tar -h` does for conf/).
    pub dereference: bool,
    /// Store every entry as owned by root (0:0) instead of the host owner.
    pub all_root: bool,
    /// Store this modification time instead of the host's (e.g. SOURCE_DATE_EPOCH).
    pub mtime: Option<i64>,
    /// Read extended attributes from the host.
    pub xattrs: bool,
}

/// Streams the contents of host directory `root` (not the directory itself) into `sink`,
/// under the in-image prefix `prefix` (or at the top when `None`).
pub fn walk_dir(
    root: &Path,
    prefix: Option<&EntryPath>,
    opts: &WalkOptions,
    sink: &mut dyn Sink,
) -> Result<(), Error> {
    let mut links = HashMap::new();
    walk_inner(root, prefix, opts, sink, &mut links)
}

fn walk_inner(
    dir: &Path,
    prefix: Option<&EntryPath>,
    opts: &WalkOptions,
    sink: &mut dyn Sink,
    links: &mut HashMap<(u64, u64), EntryPath>,
) -> Result<(), Error> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .map_err(|e| Error::io(format!("reading directory {}", dir.display()), e))?
        .map(|d| d.map(|d| d.file_name()))
        .collect::<Result<_, _>>()
        .map_err(|e| Error::io(format!("reading directory {}", dir.display()), e))?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let host = dir.join(&name);
        let path = match prefix {
            Some(p) => p.join(name.as_bytes())?,
            None => EntryPath::new(name.as_bytes())?,
        };
        let md = if opts.dereference {
            fs::metadata(&host)
        } else {
            fs::symlink_metadata(&host)
        }
        .map_err(|e| Error::io(format!("reading {}", host.display()), e))?;
        let ft = md.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            let t = fs::read_link(&host)
                .map_err(|e| Error::io(format!("reading link {}", host.display()), e))?;
            Kind::Symlink {
                target: t.as_os_str().as_bytes().to_vec(),
            }
        } else if ft.is_file() {
            match (opts.dereference, md.nlink() > 1) {
                (false, true) => match links.get(&(md.dev(), md.ino())) {
                    Some(first) => Kind::Hardlink {
                        target: first.clone(),
                    },
                    None => {
                        links.insert((md.dev(), md.ino()), path.clone());
                        Kind::File { size: md.len() }
                    }
                },
                _ => Kind::File { size: md.len() },
            }
        } else if ft.is_char_device() || ft.is_block_device() {
            let rdev = md.rdev();
            let (major, minor) = (dev_major(rdev), dev_minor(rdev));
            if ft.is_char_device() {
                Kind::CharDevice { major, minor }
            } else {
                Kind::BlockDevice { major, minor }
            }
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            // Sockets have no place in an image.
            continue;
        };
        let mut entry = Entry::new(path, kind, md.mode(), opts.mtime.unwrap_or(md.mtime()));
        if !opts.all_root {
            entry.uid = md.uid();
            entry.gid = md.gid();
        }
        if opts.xattrs && !ft.is_symlink() {
            entry.xattrs = read_xattrs(&host)?;
        }
        match &entry.kind {
            Kind::File { .. } => {
                let mut f = fs::File::open(&host)
                    .map_err(|e| Error::io(format!("opening {}", host.display()), e))?;
                sink.add(&entry, &mut f)?;
            }
            Kind::Dir => {
                sink.add(&entry, &mut std::io::empty())?;
                walk_inner(&host, Some(&entry.path), opts, sink, links)?;
            }
            _ => sink.add(&entry, &mut std::io::empty())?,
        }
    }
    Ok(())
}

fn read_xattrs(host: &Path) -> Result<Xattrs, Error> {
    let ctx = || format!("reading extended attributes of {}", host.display());
    let mut out = Vec::new();
    for name in xattr::list(host).map_err(|e| Error::io(ctx(), e))? {
        if let Some(v) = xattr::get(host, &name).map_err(|e| Error::io(ctx(), e))? {
            out.push((name.as_bytes().to_vec(), v));
        }
    }
    out.sort();
    Ok(out)
}

/// Major number of a Linux `dev_t`.
pub(crate) fn dev_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

/// Minor number of a Linux `dev_t`.
pub(crate) fn dev_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemTree;

    #[test]
    fn walks_sorted_with_links_and_dereference() {
        let d = tempfile::tempdir().unwrap();
        let r = d.path();
        fs::create_dir(r.join("sub")).unwrap();
        fs::write(r.join("sub/b"), "bee").unwrap();
        fs::write(r.join("a"), "ay").unwrap();
        fs::hard_link(r.join("a"), r.join("c")).unwrap();
        std::os::unix::fs::symlink("sub/b", r.join("l")).unwrap();

        let mut t = MemTree::new();
        walk_dir(r, None, &WalkOptions::default(), &mut t).unwrap();
        let p = |s| EntryPath::new(s).unwrap();
        assert!(matches!(
            t.get(&p("c")).unwrap().0.kind,
            Kind::Hardlink { .. }
        ));
        assert_eq!(
            t.get(&p("l")).unwrap().0.kind,
            Kind::Symlink {
                target: b"sub/b".to_vec()
            }
        );

        let mut t = MemTree::new();
        let opts = WalkOptions {
            dereference: true,
            all_root: true,
            mtime: Some(7),
            xattrs: false,
        };
        walk_dir(r, Some(&p("conf")), &opts, &mut t).unwrap();
        let (e, data) = t.get(&p("conf/l")).unwrap();
        assert_eq!((e.uid, e.mtime, data), (0, 7, &b"bee"[..]));
        assert_eq!(t.get(&p("conf/c")).unwrap().1, b"ay");
    }
}
