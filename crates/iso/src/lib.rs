//! # Reproducible ISO 9660 images
//!
//! Writes a CD/UEFI-bootable ISO 9660 image from an entry stream, as
//! `xorriso -as mkisofs -R -e boot.img -hide boot.img -hide boot.catalog -no-emul-boot -V …`
//! makes EVE's installer.iso, with no xorriso, no mount and no root:
//! - a primary volume descriptor whose identifier the caller gives and whose times are
//!   [`IsoOptions::timestamp`] (SOURCE_DATE_EPOCH); no Joliet, no hybrid MBR/GPT;
//! - interchange level 1 identifiers ([`names`]) and Rock Ridge 1.09 ([`rrip`]) for the real
//!   names, POSIX modes, owners, link counts, times, symbolic links and device numbers;
//! - directory records and path tables sorted as ECMA-119 asks, files in byte order of their
//!   paths, every time taken from the entries (or the options for the root and the
//!   directories the stream only implies);
//! - optionally one El Torito boot entry (no emulation; UEFI or BIOS platform) whose image and
//!   boot catalog are written but hidden, listed in no directory (`-hide`).
//!
//! Same entries and options, same bytes. File contents given through the [`Sink`] are held in
//! memory; large files are added with [`IsoWriter::add_file_from`] and streamed from the
//! host file when the image is written, so an image of any size needs little memory. The
//! output is written front to back (no seeking), so it can go to a pipe.
//!
//! Left out: Joliet, ISO 9660:1999, files of 4 GiB or more (multi-extent), directories deeper
//! than 8 levels (Rock Ridge relocation), several boot entries, hybrid (isohybrid) images,
//! zisofs, AAIP (ACLs, xattrs: entry xattrs are not recorded), appending sessions and
//! reading images. Each limit is an error naming the entry.

pub mod format;
mod image;
pub mod names;
pub mod rrip;

pub use format::Platform;

use evebuild_tree::{Entry, EntryPath, Kind, MemTree, Sink};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a file's contents come from when the image is written.
#[derive(Debug, Clone)]
pub enum Source {
    /// Bytes held in memory.
    Bytes(Arc<[u8]>),
    /// A host file of this size, read when the image is written.
    File {
        /// The file.
        path: PathBuf,
        /// Its size when it was added; a different size when writing is an error.
        size: u64,
    },
}

impl Source {
    /// A host file, with its current size.
    pub fn file(path: &Path) -> Result<Source, Error> {
        let size = std::fs::metadata(path)
            .map_err(|e| Error::io(format!("reading the size of {}", path.display()), e))?
            .len();
        Ok(Source::File {
            path: path.to_path_buf(),
            size,
        })
    }

    /// Number of bytes.
    pub fn len(&self) -> u64 {
        match self {
            Source::Bytes(b) => b.len() as u64,
            Source::File { size, .. } => *size,
        }
    }

    /// True for no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The El Torito boot image: written to the medium, named by the boot catalog, hidden from
/// the directory tree.
#[derive(Debug, Clone)]
pub struct BootImage {
    /// Platform of the (single, default) entry.
    pub platform: Platform,
    /// The image (for UEFI, a FAT filesystem with `EFI/BOOT/BOOT*.EFI`).
    pub source: Source,
}

/// What to make.
#[derive(Debug, Clone)]
pub struct IsoOptions {
    /// Volume identifier: up to 32 d-characters (`A`–`Z`, `0`–`9`, `_`), e.g. `EVEISO`.
    pub volume_id: String,
    /// Creation and modification time of the volume, and time of the root directory and of
    /// directories the stream only implies (usually SOURCE_DATE_EPOCH).
    pub timestamp: i64,
    /// Permission bits of the root directory.
    pub root_mode: u32,
    /// Owner of the root directory.
    pub root_uid: u32,
    /// Group of the root directory.
    pub root_gid: u32,
    /// The El Torito boot image, if the medium boots.
    pub boot: Option<BootImage>,
}

impl IsoOptions {
    /// Options for a volume `volume_id` stamped `timestamp`, root 0755 root:root, no boot.
    pub fn new(volume_id: &str, timestamp: i64) -> Self {
        IsoOptions {
            volume_id: volume_id.to_string(),
            timestamp,
            root_mode: 0o755,
            root_uid: 0,
            root_gid: 0,
            boot: None,
        }
    }

    /// Makes the medium bootable with `image` as its one no-emulation El Torito entry.
    pub fn boot(mut self, platform: Platform, image: Source) -> Self {
        self.boot = Some(BootImage {
            platform,
            source: image,
        });
        self
    }
}

/// Why an image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A duplicate path, a bad hard link, a short read.
    #[error(transparent)]
    Entry(#[from] evebuild_tree::Error),
    /// The volume identifier is not up to 32 d-characters.
    #[error("volume identifier {0:?}: use at most 32 of A-Z, 0-9 and _ (ISO 9660 d-characters)")]
    VolumeId(String),
    /// A directory deeper than ISO 9660 allows without relocation.
    #[error(
        "{0}: directories nest deeper than the 8 levels ISO 9660 allows (Rock Ridge directory \
         relocation is not supported); flatten the tree"
    )]
    TooDeep(EntryPath),
    /// More directories than a path table can number.
    #[error("{0} directories: an ISO 9660 path table numbers at most 65535")]
    TooManyDirectories(usize),
    /// A file ISO 9660 level 1/2 cannot hold in one extent.
    #[error(
        "{path}: {size} bytes; files of 4 GiB or more need multi-extent files, which this \
         writer does not make"
    )]
    FileTooLarge {
        /// The file.
        path: EntryPath,
        /// Its size.
        size: u64,
    },
    /// A boot image the catalog cannot describe.
    #[error(
        "the El Torito boot image is {0} bytes; an entry describes at most {max} bytes",
        max = format::MAX_BOOT_IMAGE
    )]
    BootImageTooLarge(u64),
    /// An entry below something that is not a directory.
    #[error("{child}: its parent {parent} is not a directory")]
    ParentNotDirectory {
        /// The parent.
        parent: EntryPath,
        /// The entry.
        child: EntryPath,
    },
    /// A host file changed size between being added and being written.
    #[error(
        "{path}: it was {expected} bytes when added to the ISO and is {got} bytes now; do not \
         change inputs while the image is written"
    )]
    SourceChanged {
        /// The host file.
        path: PathBuf,
        /// Size when added.
        expected: u64,
        /// Bytes read.
        got: u64,
    },
    /// Reading a source or writing the image failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

impl Error {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// Where things ended up on the medium.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsoSummary {
    /// Volume size in 2048-byte sectors (the image is this many sectors long).
    pub sectors: u32,
    /// Sector of the El Torito boot catalog.
    pub boot_catalog: Option<u32>,
    /// Sector of the boot image and its length in 512-byte virtual sectors.
    pub boot_image: Option<(u32, u16)>,
}

/// An entry [`Sink`] that collects a tree and writes it as an ISO 9660 image on
/// [`finish`](IsoWriter::finish).
#[derive(Debug)]
pub struct IsoWriter {
    opts: IsoOptions,
    entries: BTreeMap<EntryPath, (Entry, Source)>,
}

impl IsoWriter {
    /// Checks the options and starts an empty tree.
    pub fn new(opts: IsoOptions) -> Result<Self, Error> {
        let id = opts.volume_id.as_bytes();
        if id.len() > format::VOLUME_ID_LEN
            || !id
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || *b == b'_')
        {
            return Err(Error::VolumeId(opts.volume_id.clone()));
        }
        if let Some(b) = &opts.boot
            && b.source.len() > format::MAX_BOOT_IMAGE
        {
            return Err(Error::BootImageTooLarge(b.source.len()));
        }
        Ok(IsoWriter {
            opts,
            entries: BTreeMap::new(),
        })
    }

    fn insert(&mut self, entry: &Entry, source: Source) -> Result<(), Error> {
        if self.entries.contains_key(&entry.path) {
            return Err(evebuild_tree::Error::Duplicate(entry.path.clone()).into());
        }
        if source.len() > u64::from(u32::MAX) {
            return Err(Error::FileTooLarge {
                path: entry.path.clone(),
                size: source.len(),
            });
        }
        let mut entry = entry.clone();
        if let Kind::File { size } = &mut entry.kind {
            *size = source.len();
        }
        self.entries.insert(entry.path.clone(), (entry, source));
        Ok(())
    }

    /// Adds a regular file whose contents are read from `path` when the image is written
    /// (the entry's size is taken from the file now).
    pub fn add_file_from(&mut self, entry: &Entry, path: &Path) -> Result<(), Error> {
        let source = Source::file(path)?;
        let entry = Entry {
            kind: Kind::File { size: source.len() },
            ..entry.clone()
        };
        self.insert(&entry, source)
    }

    /// Lays out and writes the image to `out`, front to back.
    pub fn finish<W: Write>(self, out: W) -> Result<IsoSummary, Error> {
        image::write(&self.opts, self.entries, out)
    }
}

impl Sink for IsoWriter {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), evebuild_tree::Error> {
        let mut buf = Vec::new();
        if let Kind::File { size } = entry.kind {
            data.read_to_end(&mut buf)
                .map_err(|e| evebuild_tree::Error::io(format!("reading {}", entry.path), e))?;
            if buf.len() as u64 != size {
                return Err(evebuild_tree::Error::ShortData {
                    path: entry.path.clone(),
                    expected: size,
                    got: buf.len() as u64,
                });
            }
        }
        self.insert(entry, Source::Bytes(buf.into()))
            .map_err(|e| match e {
                Error::Entry(e) => e,
                other => evebuild_tree::Error::Unrepresentable {
                    path: entry.path.clone(),
                    what: other.to_string(),
                    format: "ISO 9660",
                },
            })
    }
}

/// Writes `tree` as an ISO 9660 image to `out`.
pub fn write_tree<W: Write>(
    tree: &MemTree,
    opts: &IsoOptions,
    out: W,
) -> Result<IsoSummary, Error> {
    let mut w = IsoWriter::new(opts.clone())?;
    tree.replay(&mut w)?;
    w.finish(out)
}
