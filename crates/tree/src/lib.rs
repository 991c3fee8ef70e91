//! # The filesystem entry model
//!
//! Every filesystem evebuild writes — rootfs.tar, the squashfs or ext4 rootfs.img, the FAT
//! config.img and ESP — is made from one stream of [`Entry`] values fed to a [`Sink`]. The
//! rootfs assembler produces the stream straight from image layers, so no image is ever
//! extracted to the host: names, owners, modes, device numbers and xattrs are data here, never
//! host state.
//!
//! The contract between a producer and a sink:
//! - every path is normalised ([`EntryPath`]) and appears at most once;
//! - a directory comes before its children, a hard link after its target;
//! - a parent directory that never gets an entry of its own is implied (0755, root, the
//!   sink's default time); sinks create it;
//! - the root directory itself is never an entry: its attributes are the sink's options.
//!
//! Producers here: [`MemTree`] (built in memory, replayed in byte order), [`walk_dir`] (a host
//! directory) and [`tar::read_tar`] (a tar stream). Sinks here: [`tar::TarSink`]. The format
//! crates (squashfs, ext4, fat) provide the others.
//!
//! Whatever is written from a stream lands in its file through [`output::write_atomically`].

pub mod output;
pub mod tar;
pub mod time;

mod tee;

mod path;
mod walk;

pub use path::{EntryPath, PathError};
pub use tee::Tee;
pub use walk::{WalkOptions, walk_dir};

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Arc;

/// What kind of filesystem object an entry is, with the data that kind carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file of `size` bytes; its contents come with the entry as a reader.
    File {
        /// Exact number of bytes the accompanying reader yields.
        size: u64,
    },
    /// A symbolic link; the target is stored verbatim, never resolved on the host.
    Symlink {
        /// Link target bytes, as found.
        target: Vec<u8>,
    },
    /// A hard link to an earlier entry of the same stream.
    Hardlink {
        /// The path of the entry this one shares an inode with.
        target: EntryPath,
    },
    /// A character device node.
    CharDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// A block device node.
    BlockDevice {
        /// Device major number.
        major: u32,
        /// Device minor number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
}

impl Kind {
    /// The `S_IFMT` bits for this kind (a hard link reports its target's type as a regular file).
    pub fn type_bits(&self) -> u32 {
        match self {
            Kind::Dir => 0o040000,
            Kind::File { .. } | Kind::Hardlink { .. } => 0o100000,
            Kind::Symlink { .. } => 0o120000,
            Kind::CharDevice { .. } => 0o020000,
            Kind::BlockDevice { .. } => 0o060000,
            Kind::Fifo => 0o010000,
        }
    }
}

/// Extended attributes as (name, value) pairs.
pub type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// One filesystem object: its path, kind and metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Where it lives, relative to the filesystem root.
    pub path: EntryPath,
    /// What it is.
    pub kind: Kind,
    /// Permission bits, including setuid (04000), setgid (02000) and sticky (01000).
    pub mode: u32,
    /// Owner user id.
    pub uid: u32,
    /// Owner group id.
    pub gid: u32,
    /// Modification time, seconds since the Unix epoch.
    pub mtime: i64,
    /// Extended attributes (`security.capability` …), sorted by name.
    pub xattrs: Xattrs,
}

impl Entry {
    /// A directory owned by root with the given mode and time.
    pub fn dir(path: EntryPath, mode: u32, mtime: i64) -> Self {
        Self::new(path, Kind::Dir, mode, mtime)
    }

    /// A regular file owned by root.
    pub fn file(path: EntryPath, size: u64, mode: u32, mtime: i64) -> Self {
        Self::new(path, Kind::File { size }, mode, mtime)
    }

    /// A symbolic link owned by root, mode 0777.
    pub fn symlink(path: EntryPath, target: impl Into<Vec<u8>>, mtime: i64) -> Self {
        Self::new(
            path,
            Kind::Symlink {
                target: target.into(),
            },
            0o777,
            mtime,
        )
    }

    /// An entry of any kind owned by root.
    pub fn new(path: EntryPath, kind: Kind, mode: u32, mtime: i64) -> Self {
        Entry {
            path,
            kind,
            mode: mode & 0o7777,
            uid: 0,
            gid: 0,
            mtime,
            xattrs: Vec::new(),
        }
    }

    /// Size of the file contents (0 for everything but regular files).
    pub fn size(&self) -> u64 {
        match self.kind {
            Kind::File { size } => size,
            _ => 0,
        }
    }

    /// Full `st_mode`: type bits and permission bits.
    pub fn st_mode(&self) -> u32 {
        self.kind.type_bits() | (self.mode & 0o7777)
    }
}

/// Errors shared by producers and sinks of entry streams.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name that cannot be stored (escapes the root, empty, too long …).
    #[error(transparent)]
    Path(#[from] PathError),
    /// A hard link whose target is not an earlier regular file of the stream.
    #[error("hard link {link} points at {target}, which is not an earlier regular file")]
    Hardlink {
        /// The link.
        link: EntryPath,
        /// What it points at.
        target: EntryPath,
    },
    /// The same path was given twice.
    #[error("{0} appears twice in one entry stream")]
    Duplicate(EntryPath),
    /// A file's reader gave a different number of bytes than its entry declared.
    #[error("{path}: expected {expected} bytes of contents, got {got}")]
    ShortData {
        /// The file.
        path: EntryPath,
        /// Declared size.
        expected: u64,
        /// Bytes actually read.
        got: u64,
    },
    /// A malformed tar stream.
    #[error("tar: {0}")]
    Tar(String),
    /// The sink cannot represent this entry (a device node on FAT, a huge uid …).
    #[error("{path}: {what} cannot be stored in {format}")]
    Unrepresentable {
        /// The entry.
        path: EntryPath,
        /// What about it.
        what: String,
        /// The target format.
        format: &'static str,
    },
    /// An I/O error, with what was being done.
    #[error("{context}: {source}")]
    Io {
        /// What was being read or written.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Something that consumes an entry stream (a tar writer, a squashfs writer …).
pub trait Sink {
    /// Adds one entry. For [`Kind::File`], `data` yields exactly `entry.size()` bytes; for other
    /// kinds it yields nothing and need not be read.
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), Error>;

    /// Records describing where the following entries come from (linuxkit's
    /// `LINUXKIT.source`/`LINUXKIT.location`), replacing the previous set. Tar writes them as PAX
    /// records; sinks with nowhere to keep them ignore them (the default). Wrappers forward them.
    fn annotate(&mut self, records: &[(String, Vec<u8>)]) {
        let _ = records;
    }

    /// Whether this sink keeps `entry` at all. A sink that only collects part of a stream says
    /// no to the rest, so that [`Tee`] does not stage contents nobody reads; it must still
    /// accept (and may ignore) what it declined. Wrappers forward it.
    fn wants(&self, entry: &Entry) -> bool {
        let _ = entry;
        true
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), Error> {
        (**self).add(entry, data)
    }

    fn annotate(&mut self, records: &[(String, Vec<u8>)]) {
        (**self).annotate(records)
    }

    fn wants(&self, entry: &Entry) -> bool {
        (**self).wants(entry)
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), Error> {
        (**self).add(entry, data)
    }

    fn annotate(&mut self, records: &[(String, Vec<u8>)]) {
        (**self).annotate(records)
    }

    fn wants(&self, entry: &Entry) -> bool {
        (**self).wants(entry)
    }
}

/// An in-memory tree: entries keyed by path, with file contents held in memory. Good for small
/// filesystems (config.img, the ESP, tests); the rootfs streams instead.
#[derive(Debug, Default, Clone)]
pub struct MemTree {
    entries: BTreeMap<EntryPath, (Entry, Arc<[u8]>)>,
}

impl MemTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Inserts or replaces an entry; `data` is the file contents (ignored for non-files, and the
    /// entry's size is set from it for files).
    pub fn insert(&mut self, mut entry: Entry, data: impl Into<Arc<[u8]>>) {
        let data: Arc<[u8]> = data.into();
        if let Kind::File { size } = &mut entry.kind {
            *size = data.len() as u64;
        }
        self.entries.insert(entry.path.clone(), (entry, data));
    }

    /// Adds a root-owned directory (mode 0755) and any missing parents.
    pub fn mkdir_p(&mut self, path: &str, mtime: i64) -> Result<(), PathError> {
        let p = EntryPath::new(path)?;
        for a in p.ancestors_and_self() {
            self.entries
                .entry(a.clone())
                .or_insert_with(|| (Entry::dir(a, 0o755, mtime), Arc::from(&[][..])));
        }
        Ok(())
    }

    /// Adds a root-owned regular file (and its missing parent directories).
    pub fn add_file(
        &mut self,
        path: &str,
        contents: impl Into<Vec<u8>>,
        mode: u32,
        mtime: i64,
    ) -> Result<(), PathError> {
        let p = EntryPath::new(path)?;
        if let Some(parent) = p.parent() {
            self.mkdir_p(parent.as_str_lossy().as_ref(), mtime)?;
        }
        let contents = contents.into();
        self.insert(Entry::file(p, contents.len() as u64, mode, mtime), contents);
        Ok(())
    }

    /// The entry at `path`, if any.
    pub fn get(&self, path: &EntryPath) -> Option<(&Entry, &[u8])> {
        self.entries.get(path).map(|(e, d)| (e, &d[..]))
    }

    /// Removes an entry and everything below it.
    pub fn remove_all(&mut self, path: &EntryPath) {
        let doomed: Vec<EntryPath> = self
            .entries
            .keys()
            .filter(|k| *k == path || k.starts_with_dir(path))
            .cloned()
            .collect();
        for k in doomed {
            self.entries.remove(&k);
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when the tree holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in byte order of their paths (parents before children).
    pub fn iter(&self) -> impl Iterator<Item = (&Entry, &[u8])> {
        self.entries.values().map(|(e, d)| (e, &d[..]))
    }

    /// Feeds every entry to `sink`: byte order of paths, hard links after everything else.
    pub fn replay(&self, sink: &mut dyn Sink) -> Result<(), Error> {
        let (links, rest): (Vec<_>, Vec<_>) = self
            .entries
            .values()
            .partition(|(e, _)| matches!(e.kind, Kind::Hardlink { .. }));
        for (e, d) in rest.into_iter().chain(links) {
            sink.add(e, &mut &d[..])?;
        }
        Ok(())
    }
}

impl Sink for MemTree {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), Error> {
        let mut buf = Vec::with_capacity(entry.size() as usize);
        if let Kind::File { size } = entry.kind {
            data.read_to_end(&mut buf)
                .map_err(|e| Error::io(format!("reading {}", entry.path), e))?;
            if buf.len() as u64 != size {
                return Err(Error::ShortData {
                    path: entry.path.clone(),
                    expected: size,
                    got: buf.len() as u64,
                });
            }
        }
        self.insert(entry.clone(), buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_puts_parents_first_and_links_last() {
        let mut t = MemTree::new();
        t.add_file("b/z", "z", 0o644, 0).unwrap();
        t.insert(
            Entry::new(
                EntryPath::new("a-link").unwrap(),
                Kind::Hardlink {
                    target: EntryPath::new("b/z").unwrap(),
                },
                0o644,
                0,
            ),
            Vec::new(),
        );
        t.add_file("a/y", "y", 0o644, 0).unwrap();
        let mut out = Vec::new();
        struct Names<'a>(&'a mut Vec<String>);
        impl Sink for Names<'_> {
            fn add(&mut self, e: &Entry, _: &mut dyn Read) -> Result<(), Error> {
                self.0.push(e.path.to_string());
                Ok(())
            }
        }
        t.replay(&mut Names(&mut out)).unwrap();
        assert_eq!(out, ["/a", "/a/y", "/b", "/b/z", "/a-link"]);
    }
}
