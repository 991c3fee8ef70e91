//! Staging: the entry stream laid out as a host directory that `mke2fs -d` can read
//! (directories, regular file contents, symlinks, hard links), plus a record of everything a
//! host copy made without privileges cannot carry — owners, exact modes, setuid bits, times,
//! device nodes, FIFOs, xattrs — from which the debugfs fix-up script is written.
//!
//! Nothing on the host is chowned, mknod'ed or given an xattr: directories are created 0700
//! and files 0600 (the builder's own), and every inode gets its real metadata from the script.
//! Xattrs the host adds on its own (an SELinux label) are listed and removed in the image.

use crate::debugfs::{self, Script};
use crate::format::{self, BLOCK_SIZE, FAST_SYMLINK_MAX, TIME_MAX, TIME_MIN};
use evebuild_tree::{Entry, EntryPath, Error, Kind};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Largest xattr value handed to debugfs (it reads at most one block from the value file).
const MAX_XATTR_VALUE: usize = BLOCK_SIZE as usize;

/// What an entry becomes in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    /// A directory; `implied` when the stream only implied it.
    Dir { implied: bool },
    /// A regular file, staged with its contents.
    File,
    /// A symlink, staged as one.
    Symlink,
    /// A hard link, staged as one; it shares its target's inode and metadata.
    Link,
    /// A FIFO (`p`) or device (`c`, `b`) made by debugfs, with its device number words.
    Special { kind: u8, words: (u32, u32) },
}

/// One entry and what the script must do for it.
#[derive(Debug)]
struct Record {
    node: Node,
    st_mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    /// xattr names and the host files holding their values.
    xattrs: Vec<(Vec<u8>, PathBuf)>,
    /// sha256 of everything about the entry (for the derived UUID).
    digest: [u8; 32],
    /// 4 KiB blocks it adds to `du`.
    blocks: u64,
}

/// A staging directory being filled.
#[derive(Debug)]
pub struct Staging {
    dir: tempfile::TempDir,
    root: PathBuf,
    records: BTreeMap<EntryPath, Record>,
    values: usize,
    timestamp: i64,
}

fn host_name(p: &EntryPath) -> &Path {
    Path::new(OsStr::from_bytes(p.as_bytes()))
}

impl Staging {
    /// A new staging directory inside `parent`. Implied directories get `timestamp`.
    pub fn new(parent: &Path, timestamp: i64) -> io::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix(".ext4-staging-")
            .tempdir_in(parent)?;
        let root = dir.path().join("root");
        fs::DirBuilder::new().mode(0o700).create(&root)?;
        fs::DirBuilder::new()
            .mode(0o700)
            .create(dir.path().join("xattr"))?;
        Ok(Staging {
            dir,
            root,
            records: BTreeMap::new(),
            values: 0,
            timestamp,
        })
    }

    /// The directory mke2fs populates the image from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// A path for a helper file of the build (config, script) outside the staged tree.
    pub fn aux(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn host(&self, p: &EntryPath) -> PathBuf {
        self.root.join(host_name(p))
    }

    /// Stages one entry.
    pub fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), Error> {
        let path = &entry.path;
        let unrepresentable = |what: String| Error::Unrepresentable {
            path: path.clone(),
            what,
            format: "ext4 (mke2fs + debugfs)",
        };
        let io_err = |what: &str, e| Error::io(format!("staging {path}: {what}"), e);
        if let Some(why) = path.components().find_map(debugfs::unscriptable) {
            return Err(unrepresentable(format!("a name with {why}")));
        }
        match self.records.get(path) {
            Some(r) if r.node == (Node::Dir { implied: true }) && entry.kind == Kind::Dir => {}
            Some(_) => return Err(Error::Duplicate(path.clone())),
            None => self.parents(path)?,
        }
        let mut xattrs = Vec::new();
        for (name, value) in &entry.xattrs {
            if let Some(why) = debugfs::unscriptable(name) {
                return Err(unrepresentable(format!("an xattr name with {why}")));
            }
            if value.len() > MAX_XATTR_VALUE {
                return Err(unrepresentable(format!(
                    "xattr {} with a {}-byte value (at most {MAX_XATTR_VALUE})",
                    String::from_utf8_lossy(name),
                    value.len()
                )));
            }
            let file = self.dir.path().join("xattr").join(self.values.to_string());
            self.values += 1;
            fs::write(&file, value).map_err(|e| io_err("writing an xattr value", e))?;
            xattrs.push((name.clone(), file));
        }

        let host = self.host(path);
        let mut content = Sha256::new();
        let (node, blocks, detail): (Node, u64, Vec<u8>) = match &entry.kind {
            Kind::Dir => {
                if !self.records.contains_key(path) {
                    fs::DirBuilder::new()
                        .mode(0o700)
                        .create(&host)
                        .map_err(|e| io_err("creating the directory", e))?;
                }
                (Node::Dir { implied: false }, 1, Vec::new())
            }
            Kind::File { size } => {
                let mut f = fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&host)
                    .map_err(|e| io_err("creating the file", e))?;
                let got = copy_hashing(&mut data.take(size + 1), &mut f, &mut content)
                    .map_err(|e| io_err("copying contents", e))?;
                if got != *size {
                    return Err(Error::ShortData {
                        path: path.clone(),
                        expected: *size,
                        got,
                    });
                }
                (Node::File, size.div_ceil(BLOCK_SIZE), Vec::new())
            }
            Kind::Symlink { target } => {
                if target.is_empty() {
                    return Err(unrepresentable("a symlink with an empty target".into()));
                }
                std::os::unix::fs::symlink(OsStr::from_bytes(target), &host)
                    .map_err(|e| io_err("creating the symlink", e))?;
                let blocks = u64::from(target.len() > FAST_SYMLINK_MAX);
                (Node::Symlink, blocks, target.clone())
            }
            Kind::Hardlink { target } => {
                if self.records.get(target).map(|r| &r.node) != Some(&Node::File) {
                    return Err(Error::Hardlink {
                        link: path.clone(),
                        target: target.clone(),
                    });
                }
                fs::hard_link(self.host(target), &host)
                    .map_err(|e| io_err("creating the hard link", e))?;
                (Node::Link, 0, target.as_bytes().to_vec())
            }
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                let kind = if matches!(entry.kind, Kind::CharDevice { .. }) {
                    b'c'
                } else {
                    b'b'
                };
                let words = format::device_words(*major, *minor);
                (
                    Node::Special { kind, words },
                    0,
                    format!("{kind}{major}:{minor}").into_bytes(),
                )
            }
            Kind::Fifo => (
                Node::Special {
                    kind: b'p',
                    words: (0, 0),
                },
                0,
                Vec::new(),
            ),
        };

        let mut h = Sha256::new();
        h.update(path.as_bytes());
        h.update([0]);
        h.update(entry.st_mode().to_le_bytes());
        h.update(entry.uid.to_le_bytes());
        h.update(entry.gid.to_le_bytes());
        h.update(entry.mtime.to_le_bytes());
        h.update((detail.len() as u64).to_le_bytes());
        h.update(&detail);
        h.update(content.finalize());
        for (name, value) in &entry.xattrs {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name);
            h.update((value.len() as u64).to_le_bytes());
            h.update(value);
        }
        self.records.insert(
            path.clone(),
            Record {
                node,
                st_mode: entry.st_mode(),
                uid: entry.uid,
                gid: entry.gid,
                mtime: entry.mtime.clamp(TIME_MIN, TIME_MAX),
                xattrs,
                digest: h.finalize().into(),
                blocks,
            },
        );
        Ok(())
    }

    /// Creates the missing parent directories of `path` as implied ones.
    fn parents(&mut self, path: &EntryPath) -> Result<(), Error> {
        let Some(parent) = path.parent() else {
            return Ok(());
        };
        for dir in parent.ancestors_and_self() {
            match self.records.get(&dir).map(|r| &r.node) {
                Some(Node::Dir { .. }) => continue,
                Some(_) => {
                    return Err(Error::Unrepresentable {
                        path: path.clone(),
                        what: format!("an entry below {dir}, which is not a directory"),
                        format: "ext4",
                    });
                }
                None => {}
            }
            fs::DirBuilder::new()
                .mode(0o700)
                .create(self.host(&dir))
                .map_err(|e| Error::io(format!("staging {dir}"), e))?;
            let mut h = Sha256::new();
            h.update(dir.as_bytes());
            h.update(b"\0implied");
            self.records.insert(
                dir,
                Record {
                    node: Node::Dir { implied: true },
                    st_mode: 0o040755,
                    uid: 0,
                    gid: 0,
                    mtime: self.timestamp,
                    xattrs: Vec::new(),
                    digest: h.finalize().into(),
                    blocks: 1,
                },
            );
        }
        Ok(())
    }

    /// `du -sk` of the staged tree as an ext4 host with 4 KiB blocks counts it: each regular
    /// file (once per inode) its size in whole blocks, each directory (the root included) one
    /// block, each symlink of 60 bytes or more one block, everything else nothing.
    pub fn du_kib(&self) -> u64 {
        (1 + self.records.values().map(|r| r.blocks).sum::<u64>()) * (BLOCK_SIZE / 1024)
    }

    /// sha256 over every entry's digest, in path order: the same content, however it was
    /// streamed, gives the same value.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for r in self.records.values() {
            h.update(r.digest);
        }
        h.finalize().into()
    }

    /// The fix-up script: the root's metadata, then directory by directory (in path order)
    /// special files, modes, owners, times and xattrs of each child.
    pub fn script(&self) -> Result<Script, Error> {
        let mut s = Script::new();
        s.set_inode(b"/", 0o040755, 0, 0, self.timestamp);
        for name in self.host_xattrs(&self.root)? {
            s.ea_rm(b"/", &name);
        }
        let mut by_dir: BTreeMap<Option<EntryPath>, Vec<(&EntryPath, &Record)>> = BTreeMap::new();
        for (p, r) in &self.records {
            by_dir.entry(p.parent()).or_default().push((p, r));
        }
        for (dir, children) in by_dir {
            s.cd(dir.iter().flat_map(|d| d.components()));
            for (p, r) in children {
                let leaf = p.file_name();
                match r.node {
                    Node::Link => continue,
                    Node::Special { kind, words } => {
                        s.mknod(leaf, kind);
                        if kind != b'p' {
                            s.set_device(leaf, words);
                        }
                    }
                    _ => {}
                }
                s.set_inode(leaf, r.st_mode, r.uid, r.gid, r.mtime);
                if !matches!(r.node, Node::Special { .. }) {
                    for name in self.host_xattrs(&self.host(p))? {
                        if !r.xattrs.iter().any(|(n, _)| *n == name) {
                            s.ea_rm(leaf, &name);
                        }
                    }
                }
                for (name, file) in &r.xattrs {
                    s.ea_set(leaf, name, file.as_os_str().as_bytes());
                }
            }
        }
        Ok(s)
    }

    /// Xattrs the host put on a staged object by itself (this writer sets none).
    fn host_xattrs(&self, host: &Path) -> Result<Vec<Vec<u8>>, Error> {
        match xattr::list(host) {
            Ok(names) => Ok(names.map(|n| n.as_bytes().to_vec()).collect()),
            Err(e) if e.kind() == io::ErrorKind::Unsupported => Ok(Vec::new()),
            Err(e) => Err(Error::io(
                format!("listing xattrs of {}", host.display()),
                e,
            )),
        }
    }
}

/// Copies `r` to `w`, feeding the bytes to `h`; returns the byte count.
fn copy_hashing(r: &mut dyn Read, w: &mut dyn Write, h: &mut Sha256) -> io::Result<u64> {
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let got = match r.read(&mut buf) {
            Ok(0) => return Ok(n),
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..got]);
        w.write_all(&buf[..got])?;
        n += got as u64;
    }
}
