//! # Comparing two builds' rootfs
//!
//! What EVE's `tools/rootfs-diff.sh` is for — telling whether two builds of the same sources
//! (a trusted build and CI's, say) made the same rootfs — without mounting, overlays or root.
//! Each side is read as an entry stream ([`open`]): a squashfs rootfs.img ([`squashfs`]), a
//! ext4 rootfs.img ([`ext4`]), a rootfs tar (plain or gzip), a `dist/<arch>/<version>`
//! directory (its `installer/rootfs.img`, else its `rootfs-*.tar`) or an extracted tree. What a
//! side cannot read (an ext4 image's xattrs and device numbers) is left out of the comparison
//! and named by [`Snapshot::unread`].
//!
//! Before comparing, what legitimately differs between builds is normalised away
//! ([`normalise`]: module signatures, the kernel's signing certificate) and the files in
//! [`format::IGNORED`] are left out. Two modes:
//! - [`Mode::Strict`] (default): type, permission bits, owner, xattrs, link target or device
//!   numbers, and SHA-256 of the (normalised) contents; hard links compare as the file they
//!   name. Times are not compared (they are SOURCE_DATE_EPOCH).
//! - [`Mode::Content`]: rootfs-diff.sh's `diff -qr` — symbolic links are followed inside the
//!   tree, only file contents and the kind of object count.
//!
//! The result is one [`Difference`] per path, in path order; an added or removed directory
//! is reported once, not with everything below it.

pub mod ext4;
pub mod format;
pub mod normalise;
pub mod squashfs;

use evebuild_tree::{Entry, EntryPath, Kind, Sink};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Why a side cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The input is not something a rootfs can be read from.
    #[error("{path}: {message}")]
    Input {
        /// The input.
        path: PathBuf,
        /// What is wrong and what to give instead.
        message: String,
    },
    /// Reading the input failed.
    #[error("{path}: {source}")]
    Read {
        /// The input.
        path: PathBuf,
        /// The error.
        source: evebuild_tree::Error,
    },
}

/// What is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Type, mode, owner, xattrs, link target, contents.
    #[default]
    Strict,
    /// Contents only, symbolic links followed (`diff -qr`).
    Content,
}

/// How a path differs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Only in the second rootfs.
    Added,
    /// Only in the first rootfs.
    Removed,
    /// In both, different in these respects (`type`, `mode`, `owner`, `xattrs`, `target`,
    /// `content`).
    Modified(Vec<&'static str>),
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The path, with a leading `/`.
    pub path: String,
    /// How it differs.
    pub change: Change,
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.change {
            Change::Added => write!(f, "+ {}", self.path),
            Change::Removed => write!(f, "- {}", self.path),
            Change::Modified(what) => write!(f, "M {} ({})", self.path, what.join(", ")),
        }
    }
}

/// The kind of an object, with what identifies it beyond metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Object {
    Dir,
    File([u8; 32]),
    Symlink(Vec<u8>),
    Device(char, u32, u32),
    Fifo,
}

impl Object {
    fn type_name(&self) -> &'static str {
        match self {
            Object::Dir => "directory",
            Object::File(_) => "file",
            Object::Symlink(_) => "symlink",
            Object::Device('c', _, _) => "character device",
            Object::Device(..) => "block device",
            Object::Fifo => "fifo",
        }
    }
}

#[derive(Debug, Clone)]
struct Item {
    object: Object,
    mode: u32,
    owner: (u32, u32),
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// One side, read and normalised: path → item.
#[derive(Debug, Default)]
pub struct Snapshot {
    items: BTreeMap<Vec<u8>, Item>,
    kernel: Option<(Item, Vec<u8>)>,
    cert: Option<Vec<u8>>,
    links: Vec<(Vec<u8>, Item, Vec<u8>)>,
    unread: Vec<&'static str>,
}

/// Does `path` match `pattern` (components, `*` for any one component)?
fn matches(pattern: &str, path: &[u8]) -> bool {
    let p: Vec<&[u8]> = pattern.as_bytes().split(|&b| b == b'/').collect();
    let q: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    p.len() == q.len() && p.iter().zip(&q).all(|(a, b)| *a == b"*" || a == b)
}

fn sha(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

impl Sink for Snapshot {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), evebuild_tree::Error> {
        let path = entry.path.as_bytes().to_vec();
        let read = |data: &mut dyn Read| -> Result<Vec<u8>, evebuild_tree::Error> {
            let mut buf = Vec::with_capacity(entry.size() as usize);
            data.read_to_end(&mut buf)
                .map_err(|e| evebuild_tree::Error::io(format!("reading {}", entry.path), e))?;
            Ok(buf)
        };
        let mut item = Item {
            object: Object::Dir,
            mode: entry.mode,
            owner: (entry.uid, entry.gid),
            xattrs: entry.xattrs.clone(),
        };
        item.object = match &entry.kind {
            Kind::Dir => Object::Dir,
            Kind::Symlink { target } => Object::Symlink(target.clone()),
            Kind::CharDevice { major, minor } => Object::Device('c', *major, *minor),
            Kind::BlockDevice { major, minor } => Object::Device('b', *major, *minor),
            Kind::Fifo => Object::Fifo,
            Kind::Hardlink { target } => {
                self.links.push((path, item, target.as_bytes().to_vec()));
                return Ok(());
            }
            Kind::File { .. } => {
                let bytes = read(data)?;
                if matches(format::SIGNING_CERT, &path) {
                    self.cert = Some(bytes);
                    return Ok(());
                }
                if path == format::KERNEL.as_bytes() {
                    self.kernel = Some((item, bytes));
                    return Ok(());
                }
                let name = String::from_utf8_lossy(&path);
                if format::MODULE_SUFFIXES.iter().any(|s| name.ends_with(s)) {
                    Object::File(sha(&normalise::normalise_module(&name, &bytes)))
                } else {
                    Object::File(sha(&bytes))
                }
            }
        };
        self.items.insert(path, item);
        Ok(())
    }
}

impl Snapshot {
    /// Settles what needed the whole stream (the kernel needs the certificate, hard links
    /// their targets) and drops the ignored paths.
    fn finish(mut self) -> Snapshot {
        if let Some((mut item, bytes)) = self.kernel.take() {
            item.object = Object::File(sha(&normalise::normalise_kernel(
                &bytes,
                self.cert.as_deref(),
            )));
            self.items.insert(format::KERNEL.as_bytes().to_vec(), item);
        }
        for (path, mut item, target) in std::mem::take(&mut self.links) {
            if let Some(t) = self.items.get(&target) {
                item.object = t.object.clone();
                item.mode = t.mode;
                item.owner = t.owner;
                item.xattrs = t.xattrs.clone();
            }
            self.items.insert(path, item);
        }
        // Parents a stream left implied (a tar may) are 0755 root directories, as sinks make them.
        let mut implied = Vec::new();
        for p in self.items.keys() {
            let mut cut = p.len();
            while let Some(i) = p[..cut].iter().rposition(|&b| b == b'/') {
                if self.items.contains_key(&p[..i]) {
                    break;
                }
                implied.push(p[..i].to_vec());
                cut = i;
            }
        }
        for p in implied {
            self.items.entry(p).or_insert(Item {
                object: Object::Dir,
                mode: 0o755,
                owner: (0, 0),
                xattrs: Vec::new(),
            });
        }
        self.items
            .retain(|p, _| !format::IGNORED.iter().any(|pat| matches(pat, p)));
        self
    }

    /// What this side could not read (`xattrs`, `device numbers`): left out of comparisons.
    pub fn unread(&self) -> &[&'static str] {
        &self.unread
    }

    /// Number of paths compared.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing was read.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Follows symbolic links inside the tree (at most 40), as `diff` on a mounted tree would.
    fn resolve(&self, path: &[u8]) -> Option<&Item> {
        let mut cur = path.to_vec();
        for _ in 0..40 {
            let item = self.items.get(&cur)?;
            let Object::Symlink(target) = &item.object else {
                return Some(item);
            };
            let base: Vec<u8> = if target.starts_with(b"/") {
                Vec::new()
            } else {
                match cur.iter().rposition(|&b| b == b'/') {
                    Some(i) => cur[..i].to_vec(),
                    None => Vec::new(),
                }
            };
            let mut joined = base;
            joined.push(b'/');
            joined.extend_from_slice(target);
            cur = EntryPath::from_bytes(&joined).ok()?.as_bytes().to_vec();
        }
        None
    }
}

/// Reads one side: a squashfs image, a tar (plain or gzip), a `dist/<arch>/<version>`
/// directory or an extracted tree.
pub fn open(input: &Path) -> Result<Snapshot, DiffError> {
    let err = |message: String| DiffError::Input {
        path: input.to_path_buf(),
        message,
    };
    let read_err = |source| DiffError::Read {
        path: input.to_path_buf(),
        source,
    };
    let mut snap = Snapshot::default();
    let meta = std::fs::metadata(input).map_err(|e| err(e.to_string()))?;
    if meta.is_dir() {
        if let Some(image) = build_output(input) {
            return open(&image);
        }
        let opts = evebuild_tree::WalkOptions {
            xattrs: true,
            ..Default::default()
        };
        evebuild_tree::walk_dir(input, None, &opts, &mut snap).map_err(read_err)?;
        return Ok(snap.finish());
    }
    let mut head = vec![0u8; 4096];
    let n = std::fs::File::open(input)
        .and_then(|mut f| read_up_to(&mut f, &mut head))
        .map_err(|e| err(e.to_string()))?;
    head.truncate(n);
    if squashfs::is_squashfs(&head) {
        squashfs::read_squashfs(input, &mut snap).map_err(read_err)?;
    } else if ext4::is_ext4(&head) {
        ext4::read_ext4(input, &mut snap).map_err(read_err)?;
        snap.unread = ext4::UNREAD.to_vec();
    } else if head.starts_with(b"\x1f\x8b") {
        let f = std::fs::File::open(input).map_err(|e| err(e.to_string()))?;
        evebuild_tree::tar::read_tar(flate2::read::GzDecoder::new(f), &mut snap)
            .map_err(read_err)?;
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        let f = std::fs::File::open(input).map_err(|e| err(e.to_string()))?;
        evebuild_tree::tar::read_tar(std::io::BufReader::new(f), &mut snap).map_err(read_err)?;
    } else {
        return Err(err(
            "not a squashfs or ext4 image, a tar or a directory: give rootfs.img, rootfs-<platform>.tar \
             or dist/<arch>/<version>"
                .into(),
        ));
    }
    Ok(snap.finish())
}

fn read_up_to(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// The rootfs a build output directory holds: `installer/rootfs.img`, else a `rootfs-*.tar`.
fn build_output(dir: &Path) -> Option<PathBuf> {
    let img = dir.join("installer/rootfs.img");
    if img.is_file() {
        return Some(img);
    }
    let mut tars: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("rootfs-") && n.ends_with(".tar"))
        })
        .collect();
    tars.sort();
    tars.into_iter().next()
}

/// Compares two sides.
pub fn diff(a: &Snapshot, b: &Snapshot, mode: Mode) -> Vec<Difference> {
    let unread = unread_by_either(a, b);
    let mut out: Vec<Difference> = Vec::new();
    let mut paths: Vec<&Vec<u8>> = a.items.keys().chain(b.items.keys()).collect();
    paths.sort();
    paths.dedup();
    let mut gone: Vec<&[u8]> = Vec::new(); // tops of added/removed subtrees
    for p in paths {
        let under_gone = gone
            .last()
            .is_some_and(|g| p.starts_with(g) && p.get(g.len()) == Some(&b'/'));
        let shown = format!("/{}", String::from_utf8_lossy(p));
        let change = match (a.items.get(p), b.items.get(p)) {
            (Some(_), None) | (None, Some(_)) if under_gone => continue,
            (Some(_), None) => {
                gone.push(p);
                Change::Removed
            }
            (None, Some(_)) => {
                gone.push(p);
                Change::Added
            }
            (Some(x), Some(y)) => {
                let what = match mode {
                    Mode::Strict => strict(x, y, &unread),
                    Mode::Content => content(a.resolve(p), b.resolve(p)),
                };
                if what.is_empty() {
                    continue;
                }
                Change::Modified(what)
            }
            (None, None) => continue,
        };
        out.push(Difference {
            path: shown,
            change,
        });
    }
    out
}

fn strict(x: &Item, y: &Item, unread: &[&str]) -> Vec<&'static str> {
    let mut what = Vec::new();
    let devices_read = !unread.contains(&"device numbers");
    match (&x.object, &y.object) {
        (Object::File(h1), Object::File(h2)) if h1 != h2 => what.push("content"),
        (Object::Symlink(t1), Object::Symlink(t2)) if t1 != t2 => what.push("target"),
        (Object::Device(..), Object::Device(..)) if devices_read && x.object != y.object => {
            what.push("device")
        }
        (a, b) if a.type_name() != b.type_name() => what.push("type"),
        _ => {}
    }
    if x.mode != y.mode {
        what.push("mode");
    }
    if x.owner != y.owner {
        what.push("owner");
    }
    if x.xattrs != y.xattrs && !unread.contains(&"xattrs") {
        what.push("xattrs");
    }
    what
}

fn content(x: Option<&Item>, y: Option<&Item>) -> Vec<&'static str> {
    match (x.map(|i| &i.object), y.map(|i| &i.object)) {
        (Some(Object::File(h1)), Some(Object::File(h2))) if h1 != h2 => vec!["content"],
        (Some(a), Some(b)) if a.type_name() != b.type_name() => vec!["type"],
        (Some(_), None) | (None, Some(_)) => vec!["type"],
        _ => Vec::new(),
    }
}

/// Reads and compares two sides; also returns what either side could not read (left out).
pub fn compare(
    a: &Path,
    b: &Path,
    mode: Mode,
) -> Result<(Vec<Difference>, Vec<&'static str>), DiffError> {
    let left = open(a)?;
    let right = open(b)?;
    Ok((diff(&left, &right, mode), unread_by_either(&left, &right)))
}

/// What one side or the other could not read, sorted, once each.
fn unread_by_either(a: &Snapshot, b: &Snapshot) -> Vec<&'static str> {
    let mut unread: Vec<&'static str> = a.unread.iter().chain(&b.unread).copied().collect();
    unread.sort_unstable();
    unread.dedup();
    unread
}

#[cfg(test)]
mod tests {
    use super::*;
    use evebuild_tree::MemTree;

    fn snap(t: &MemTree) -> Snapshot {
        let mut s = Snapshot::default();
        t.replay(&mut s).unwrap();
        s.finish()
    }

    #[test]
    fn reports_added_removed_and_what_changed() {
        let mut a = MemTree::new();
        a.add_file("etc/a", "one", 0o644, 0).unwrap();
        a.add_file("gone/x/y", "y", 0o644, 0).unwrap();
        a.add_file("etc/eve-release", "1.0", 0o644, 0).unwrap();
        a.insert(
            Entry::symlink(EntryPath::new("etc/l").unwrap(), "a", 0),
            Vec::new(),
        );
        let mut b = MemTree::new();
        b.add_file("etc/a", "two", 0o755, 0).unwrap();
        b.add_file("new/z", "z", 0o644, 0).unwrap();
        b.add_file("etc/eve-release", "2.0", 0o644, 0).unwrap();
        b.add_file("etc/l", "one", 0o644, 0).unwrap();
        let d: Vec<String> = diff(&snap(&a), &snap(&b), Mode::Strict)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(
            d,
            [
                "M /etc/a (content, mode)",
                "M /etc/l (type, mode)",
                "- /gone",
                "+ /new"
            ]
        );
        // Content mode: modes do not count, the symlink is followed to /etc/a's contents.
        let c: Vec<String> = diff(&snap(&a), &snap(&b), Mode::Content)
            .iter()
            .map(|d| d.to_string())
            .collect();
        assert_eq!(c, ["M /etc/a (content)", "- /gone", "+ /new"]);
    }
}
