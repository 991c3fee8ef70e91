//! Disk images: GPT/MBR partition layouts and virtual-disk formats.
//!
//! - [`layout`]: a partition layout engine (fixed GPT numbers, disk order from the list, 1 MiB
//!   rounding, hybrid MBR) producing the tables and a [`disk::Disk`].
//! - [`disk`]: the virtual disk model (file ranges, buffers and zeros at offsets), which every
//!   writer streams from; no raw intermediate is written.
//! - Writers: [`raw`] (sparse), [`qcow2`] (deflate-compressed clusters, parallel), [`vdi`]
//!   (dynamic), [`parallels`] (expandable image + DiskDescriptor.xml bundle), [`vmdk`]
//!   (monolithicSparse), [`vhd`] (dynamic), [`gce`] (`disk.raw` in a GNU sparse tar, gzip).
//!
//! This crate knows nothing about EVE: partition names, GUIDs and sizes come from the caller
//! (EVE's are in `evebuild-eve`'s `partitions` module). Every writer is deterministic: UUIDs
//! come from a caller's seed, times from the caller. Not here: file systems (FAT, ext4,
//! squashfs), reading existing images.

mod blockmap;
pub mod disk;
pub mod gce;
pub mod gpt;
pub mod guid;
pub mod layout;
pub mod mbr;
mod output;
mod par;
pub mod parallels;
pub mod qcow2;
pub mod raw;
pub mod vdi;
pub mod vhd;
pub mod vmdk;

pub use disk::{Content, Disk, Extent};
pub use guid::Guid;
pub use layout::{HybridEntry, Layout, LayoutError, LayoutSpec, MbrSpec, PartSize, PartitionSpec};

use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// Errors of this crate. Each names the file, extent or field concerned.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O error on a file.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done ("read", "write", "create" ...).
        action: &'static str,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A content placed past the end of the disk.
    #[error("{label} at offset {offset} with {len} bytes does not fit a disk of {disk_size} bytes")]
    BeyondDisk {
        /// The content.
        label: String,
        /// Where it was placed.
        offset: u64,
        /// Its length.
        len: u64,
        /// The disk size.
        disk_size: u64,
    },
    /// Two contents overlap.
    #[error("{label} at bytes {range:?} overlaps {other} at {other_range:?}")]
    Overlap {
        /// The content being placed.
        label: String,
        /// Its range.
        range: Range<u64>,
        /// The content already there.
        other: String,
        /// Its range.
        other_range: Range<u64>,
    },
    /// A layout problem.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// The requested virtual size is smaller than the disk.
    #[error("virtual size {virtual_size} is smaller than the disk ({disk_size} bytes)")]
    VirtualSizeTooSmall {
        /// Requested virtual size.
        virtual_size: u64,
        /// The disk's size.
        disk_size: u64,
    },
    /// The format cannot represent this disk.
    #[error("{format}: {why}")]
    Unsupported {
        /// The output format.
        format: &'static str,
        /// What is out of range.
        why: String,
    },
}

impl Error {
    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> Error {
        Error::Io {
            path: path.to_owned(),
            action,
            source,
        }
    }
}

/// [`virtual_size`] for formats that count in 512-byte sectors: fails unless it is a whole
/// number of sectors.
pub(crate) fn sector_virtual_size(
    disk: &Disk,
    requested: Option<u64>,
    format: &'static str,
) -> Result<u64, Error> {
    let size = virtual_size(disk, requested)?;
    if !size.is_multiple_of(512) {
        return Err(Error::Unsupported {
            format,
            why: format!("virtual size {size} is not a multiple of 512"),
        });
    }
    Ok(size)
}

/// The virtual size a writer should give the disk: `requested` if set (it must not be smaller
/// than the disk), else the disk's own size.
pub(crate) fn virtual_size(disk: &Disk, requested: Option<u64>) -> Result<u64, Error> {
    match requested {
        Some(v) if v < disk.size() => Err(Error::VirtualSizeTooSmall {
            virtual_size: v,
            disk_size: disk.size(),
        }),
        Some(v) => Ok(v),
        None => Ok(disk.size()),
    }
}
