//! # config.img: EVE's configuration partition (pkg/mkconf `make-config`)
//!
//! EVE makes it by piping `tar -h` of conf/ into a container that extracts it, descends through
//! the single-entry directory levels the tar prefix adds, touches
//! `origin.<date>.<ROOTFS_VERSION>`, runs `mkfs.vfat -n EVE` and `mcopy -s`. Here the same
//! image is written directly:
//! - conf/'s contents go at the root of the FAT volume, symlinks followed (as `tar -h` does);
//!   only conf/ itself is the root, there is no descending into a conf/ that happens to hold
//!   just one directory (a quirk of make-config's prefix stripping that we do not copy);
//! - the empty marker `origin.<YYYY-MM-DD>.<ROOTFS_VERSION>` is added at the root, the date
//!   taken from SOURCE_DATE_EPOCH in UTC (EVE uses the build machine's clock and time zone);
//! - label `EVE`; size 1 MiB (the seed's layout, [`SEED_SIZE`]) or 5 MiB (EVE 17,
//!   [`EVE17_SIZE`]), both FAT12 with mkfs.fat's geometry;
//! - every time stamp is SOURCE_DATE_EPOCH; the volume id is the first four bytes of a sha256
//!   over the content listing (EVE's is random).
//!
//! Left out: `soft_serial` (added by `runme.sh live` and the installer, not by make-config) and
//! copying `/in/*` over an existing image.

use evebuild_fat::{FatOptions, FatSummary, FatWriter, format::UtcDateTime};
use evebuild_tree::output::{OutputError, write_atomically};
use evebuild_tree::{Entry, EntryPath, Kind, MemTree, WalkOptions, walk_dir};
use sha2::{Digest, Sha256};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

/// The config partition of the seed's layouts (and EVE before 17.0): 1024 KiB.
pub const SEED_SIZE: u64 = 1024 * 1024;
/// EVE 17's CONF_PART_SIZE: 5 MiB (FAT12, 4 sectors per cluster).
pub const EVE17_SIZE: u64 = 5 * 1024 * 1024;
/// Volume label make-config gives it.
pub const LABEL: &str = "EVE";

/// What to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigImgOptions {
    /// Image size in bytes ([`SEED_SIZE`] or [`EVE17_SIZE`]).
    pub size: u64,
    /// ROOTFS_VERSION, recorded in the marker file's name.
    pub rootfs_version: String,
    /// SOURCE_DATE_EPOCH: every time stamp and the marker's date.
    pub source_date_epoch: i64,
}

impl ConfigImgOptions {
    /// The seed's 1 MiB config.img.
    pub fn new(rootfs_version: &str, source_date_epoch: i64) -> Self {
        ConfigImgOptions {
            size: SEED_SIZE,
            rootfs_version: rootfs_version.to_string(),
            source_date_epoch,
        }
    }
}

/// Why config.img could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConfigImgError {
    /// Reading conf/ failed (a dangling symlink, an unreadable file …).
    #[error("reading {dir}: {source}")]
    Read {
        /// The conf directory.
        dir: PathBuf,
        /// What went wrong.
        source: evebuild_tree::Error,
    },
    /// ROOTFS_VERSION cannot be part of a file name.
    #[error(
        "ROOTFS_VERSION {0:?} cannot be part of the marker file name origin.<date>.<version> (no '/', NUL or empty)"
    )]
    Version(String),
    /// The FAT writer refused the content (too big, a name FAT cannot hold …).
    #[error("config.img from {dir}: {source}")]
    Fat {
        /// The conf directory.
        dir: PathBuf,
        /// What the FAT writer said.
        source: evebuild_fat::Error,
    },
    /// Writing the output file failed.
    #[error(transparent)]
    Write(#[from] OutputError),
}

/// The name of the marker file: `origin.<YYYY-MM-DD>.<ROOTFS_VERSION>` (date in UTC).
pub fn marker_name(rootfs_version: &str, source_date_epoch: i64) -> String {
    let d = UtcDateTime::from_unix(source_date_epoch);
    format!(
        "origin.{:04}-{:02}-{:02}.{rootfs_version}",
        d.year, d.month, d.day
    )
}

/// The tree config.img holds: conf/'s contents (symlinks followed, owned by root, times set to
/// SOURCE_DATE_EPOCH) plus the empty origin marker.
pub fn config_tree(conf_dir: &Path, opts: &ConfigImgOptions) -> Result<MemTree, ConfigImgError> {
    let sde = opts.source_date_epoch;
    let walk = WalkOptions {
        dereference: true,
        all_root: true,
        mtime: Some(sde),
        xattrs: false,
    };
    let mut tree = MemTree::new();
    walk_dir(conf_dir, None, &walk, &mut tree).map_err(|source| ConfigImgError::Read {
        dir: conf_dir.to_path_buf(),
        source,
    })?;
    let version = &opts.rootfs_version;
    let marker = EntryPath::new(marker_name(version, sde))
        .ok()
        .filter(|p| p.depth() == 1 && !version.is_empty())
        .ok_or_else(|| ConfigImgError::Version(version.clone()))?;
    // `touch` keeps a file that is already there.
    if tree.get(&marker).is_none() {
        tree.insert(Entry::file(marker, 0, 0o644, sde), Vec::new());
    }
    Ok(tree)
}

/// The volume id: the first four bytes (little-endian) of a sha256 over the listing of `tree`
/// (every path, its kind and its contents, in byte order) and the image size.
pub fn volume_id(tree: &MemTree, size: u64) -> u32 {
    let mut h = Sha256::new();
    h.update(b"evebuild config.img volume id\0");
    h.update(size.to_le_bytes());
    for (e, data) in tree.iter() {
        h.update(e.path.as_bytes());
        h.update([0, u8::from(e.kind == Kind::Dir)]);
        h.update((data.len() as u64).to_le_bytes());
        h.update(data);
    }
    let d = h.finalize();
    u32::from_le_bytes([d[0], d[1], d[2], d[3]])
}

/// Writes config.img for the contents of `conf_dir` to `out` (a new file or empty buffer).
pub fn write_config_img<W: Write + Seek>(
    conf_dir: &Path,
    opts: &ConfigImgOptions,
    out: &mut W,
) -> Result<FatSummary, ConfigImgError> {
    let tree = config_tree(conf_dir, opts)?;
    let fat_err = |source| ConfigImgError::Fat {
        dir: conf_dir.to_path_buf(),
        source,
    };
    let fat_opts = FatOptions::new(
        opts.size,
        volume_id(&tree, opts.size),
        opts.source_date_epoch,
    )
    .label(LABEL);
    let mut w = FatWriter::new(fat_opts).map_err(fat_err)?;
    tree.replay(&mut w)
        .map_err(|e| fat_err(evebuild_fat::Error::Entry(e)))?;
    w.finish(out).map_err(fat_err)
}

/// Builds `output` (config.img) from `conf_dir`: written to a temporary file next to it and
/// renamed into place when complete.
pub fn build_config_img(
    conf_dir: &Path,
    opts: &ConfigImgOptions,
    output: &Path,
) -> Result<FatSummary, ConfigImgError> {
    write_atomically(output, |f| write_config_img(conf_dir, opts, f))
}
