//! # Reproducible FAT12/16/32 images
//!
//! Writes a complete FAT filesystem image (EVE's config.img, the ESPs, the inventory
//! partition) from an entry stream in one pass, with no mkfs, no mtools, no mount and no root:
//! - geometry as `mkfs.fat` 4.2 chooses it for the same size ([`geometry`]): an empty image
//!   differs from `mkfs.fat --invariant -i <id> -n <label>` only in the boot code and OEM name;
//! - directories and files in byte order of their names, clusters allocated depth-first in that
//!   order (each directory, then its children), every chain contiguous;
//! - long (VFAT) names with 8.3 aliases ([`names`]), all times from the entries (the caller
//!   passes SOURCE_DATE_EPOCH-based ones) and the volume label entry from
//!   [`FatOptions::timestamp`], in UTC; the volume id is the caller's.
//!
//! Same entries and options, same bytes. Names FAT cannot hold, two names that differ only in
//! case, symlinks, hard links, devices and FIFOs are errors that name the entry
//! ([`evebuild_tree::Error::Unrepresentable`]); content that does not fit is an error with the
//! smallest image size that would hold it ([`Error::NoSpace`]).
//!
//! Why not a FAT library: `hadris-fat` 2.5 (the one DESIGN.md names) hard-codes 1 or 32
//! reserved sectors and its own cluster-size table, so its volumes are laid out unlike
//! mkfs.fat's (EVE's 5 MiB config.img has 4 reserved sectors, aligned to its clusters); it is a
//! general read-write filesystem whose allocation depends on the order of operations and whose
//! times come from a clock unless every call sets them. A write-once image writer that lays
//! out a known tree is smaller than adapting that, and its output is fixed by construction.
//! `fatfs` 0.3.6 writes subdirectories that fsck.fat rejects.
//!
//! Left out: reading or modifying existing images, FAT mirroring off, one FAT, sector sizes
//! other than 512, OEM code pages in aliases (non-ASCII becomes `_`), file times other than
//! the modification time (creation and access are set to it), hidden/system attributes.

pub mod format;
pub mod geometry;
mod image;
mod layout;
mod names;

pub use format::FatType;
pub use geometry::{FatTypeChoice, Geometry, GeometryError};

use evebuild_tree::{Entry, EntryPath, Kind, MemTree, Sink};
use std::io::{Read, Seek, Write};

/// The name this crate gives its format in errors.
pub(crate) const FORMAT: &str = "FAT";

/// What to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatOptions {
    /// Image size in bytes (a multiple of 512). The filesystem covers whole tracks of it, as
    /// mkfs.fat's does; the image file is always exactly this long.
    pub size: u64,
    /// FAT type: automatic (as mkfs.fat picks it for the size) or forced.
    pub fat_type: FatTypeChoice,
    /// Volume label (up to 11 characters: upper-case letters, digits, space and
    /// `!#$%&'()-@^_`{}~`); `None` for no label.
    pub label: Option<String>,
    /// Volume serial number (derive it from the inputs).
    pub volume_id: u32,
    /// Time of the label entry and of directories the stream only implies (Unix seconds,
    /// usually SOURCE_DATE_EPOCH).
    pub timestamp: i64,
}

impl FatOptions {
    /// Options for an automatic-type image of `size` bytes without a label.
    pub fn new(size: u64, volume_id: u32, timestamp: i64) -> Self {
        FatOptions {
            size,
            fat_type: FatTypeChoice::Auto,
            label: None,
            volume_id,
            timestamp,
        }
    }

    /// Sets the volume label.
    pub fn label(mut self, label: &str) -> Self {
        self.label = Some(label.to_string());
        self
    }

    /// Forces a FAT type.
    pub fn fat_type(mut self, t: FatType) -> Self {
        self.fat_type = FatTypeChoice::Forced(t);
        self
    }
}

/// Why an image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry FAT cannot hold, a short read, a duplicate path.
    #[error(transparent)]
    Entry(#[from] evebuild_tree::Error),
    /// The size cannot hold the requested FAT type.
    #[error(transparent)]
    Geometry(#[from] GeometryError),
    /// An invalid volume label.
    #[error("volume label {label:?}: {why}")]
    Label {
        /// The label given.
        label: String,
        /// What is wrong with it.
        why: String,
    },
    /// Two names in one directory that FAT treats as the same.
    #[error("{a} and {b} differ only in letter case, which FAT does not distinguish; rename one")]
    CaseCollision {
        /// The first name.
        a: EntryPath,
        /// The second name.
        b: EntryPath,
    },
    /// A directory with more entries (long-name slots included) than FAT allows.
    #[error(
        "{dir} needs {needed} directory entries (long names take several); {what} holds at most {max}{hint}"
    )]
    DirectoryFull {
        /// The directory (`/` for the root).
        dir: String,
        /// Entries it needs.
        needed: usize,
        /// Entries it may have.
        max: usize,
        /// "a FAT directory" or "the FAT12/16 root directory".
        what: &'static str,
        /// How to fix it.
        hint: &'static str,
    },
    /// The content does not fit in the image.
    #[error(
        "the content needs {needed_clusters} clusters of {cluster_bytes} bytes, but a {size}-byte {fat_type} image has {clusters}; {fix}"
    )]
    NoSpace {
        /// Image size asked for.
        size: u64,
        /// FAT type of that size.
        fat_type: FatType,
        /// Bytes per cluster at that size.
        cluster_bytes: u64,
        /// Clusters the content needs (files and directories).
        needed_clusters: u64,
        /// Clusters the image has.
        clusters: u32,
        /// The smallest image that holds it, if any ("an image of at least N bytes (M MiB)
        /// holds it").
        fix: String,
        /// The smallest whole-MiB image size that holds the content, if there is one.
        min_size: Option<u64>,
    },
    /// Writing the image failed.
    #[error("writing the FAT image: {0}")]
    Io(#[from] std::io::Error),
}

/// What was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FatSummary {
    /// The volume's layout.
    pub geometry: Geometry,
    /// Data clusters in use (directories and files).
    pub clusters_used: u32,
}

/// An entry [`Sink`] that collects a tree and writes it as a FAT image on [`finish`].
///
/// Contents are held in memory until then: FAT images here (config.img, ESP contents) are a
/// few MiB even when the volume is large.
///
/// [`finish`]: FatWriter::finish
#[derive(Debug)]
pub struct FatWriter {
    opts: FatOptions,
    tree: MemTree,
}

impl FatWriter {
    /// Checks the options (size, type, label) and starts an empty tree.
    pub fn new(opts: FatOptions) -> Result<Self, Error> {
        Geometry::for_size(opts.size, opts.fat_type)?;
        label_field(opts.label.as_deref())?;
        Ok(FatWriter {
            opts,
            tree: MemTree::new(),
        })
    }

    /// Lays out and writes the image to `out`, which must read as zeros where nothing is
    /// written (a new file or an empty buffer): unused clusters are left untouched, as mkfs.fat
    /// leaves them. Sets the length of `out` to [`FatOptions::size`].
    pub fn finish<W: Write + Seek>(self, out: &mut W) -> Result<FatSummary, Error> {
        write_tree(&self.tree, &self.opts, out)
    }
}

impl Sink for FatWriter {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), evebuild_tree::Error> {
        check_entry(entry)?;
        self.tree.add(entry, data)
    }
}

/// Writes `tree` as a FAT image to `out` (see [`FatWriter::finish`] for what `out` must be).
pub fn write_tree<W: Write + Seek>(
    tree: &MemTree,
    opts: &FatOptions,
    out: &mut W,
) -> Result<FatSummary, Error> {
    let geometry = Geometry::for_size(opts.size, opts.fat_type)?;
    let label = label_field(opts.label.as_deref())?;
    let plan = layout::Plan::new(tree, opts.timestamp, label.is_some())?;
    let alloc = plan.allocate(&geometry, opts)?;
    image::write(&plan, &alloc, &geometry, opts, label, out)?;
    Ok(FatSummary {
        clusters_used: alloc.clusters_used,
        geometry,
    })
}

/// Writes `tree` as a FAT image into a new byte vector of [`FatOptions::size`] bytes.
pub fn tree_to_bytes(tree: &MemTree, opts: &FatOptions) -> Result<Vec<u8>, Error> {
    let mut out = std::io::Cursor::new(Vec::new());
    write_tree(tree, opts, &mut out)?;
    Ok(out.into_inner())
}

/// Whether one entry, on its own, can be stored: a directory or a regular file below 4 GiB
/// whose name FAT can hold.
pub(crate) fn check_entry(entry: &Entry) -> Result<(), evebuild_tree::Error> {
    let unrepresentable = |what: String| evebuild_tree::Error::Unrepresentable {
        path: entry.path.clone(),
        what,
        format: FORMAT,
    };
    let what = match &entry.kind {
        Kind::Dir => None,
        Kind::File { size } if *size > u64::from(u32::MAX) => Some(format!(
            "a file of {size} bytes (FAT files hold at most 4 GiB − 1 byte)"
        )),
        Kind::File { .. } => None,
        Kind::Symlink { .. } => {
            Some("a symbolic link (store its target's contents instead)".into())
        }
        Kind::Hardlink { .. } => Some("a hard link".into()),
        Kind::CharDevice { .. } | Kind::BlockDevice { .. } => Some("a device node".into()),
        Kind::Fifo => Some("a FIFO".into()),
    };
    if let Some(what) = what {
        return Err(unrepresentable(what));
    }
    for c in entry.path.components() {
        names::check(c).map_err(unrepresentable)?;
    }
    Ok(())
}

/// The 11-byte label field for the boot sector and label entry, or `None` for no label.
fn label_field(label: Option<&str>) -> Result<Option<[u8; 11]>, Error> {
    let Some(label) = label else { return Ok(None) };
    let bad = |why: &str| Error::Label {
        label: label.to_string(),
        why: why.to_string(),
    };
    if label.len() > 11 {
        return Err(bad("longer than 11 characters"));
    }
    if label.is_empty() || label.starts_with(' ') {
        return Err(bad("empty or starting with a space"));
    }
    if let Some(c) = label.bytes().find(|&c| {
        !(c == b' '
            || c.is_ascii_uppercase()
            || c.is_ascii_digit()
            || names::SHORT_SPECIALS.contains(&c))
    }) {
        return Err(bad(&format!(
            "{:?} is not allowed (use upper-case letters, digits, space and !#$%&'()-@^_`{{}}~)",
            c as char
        )));
    }
    let mut field = [b' '; 11];
    field[..label.len()].copy_from_slice(label.as_bytes());
    Ok(Some(field))
}
