//! # A streaming, parallel, reproducible squashfs 4.0 writer
//!
//! [`SquashfsWriter`] is an [`evebuild_tree::Sink`]: the rootfs entry stream goes straight into
//! an image, with nothing extracted to disk. File data is compressed and written as it arrives;
//! only metadata (names, inodes, block sizes) is kept until [`SquashfsWriter::finish`] writes
//! the tables and the superblock. Blocks are compressed on all cores and written in a fixed
//! order, so the image bytes depend only on the entry stream and the [`Options`], never on
//! thread timing, the clock or the host.
//!
//! Why our own writer: backhand (the Rust squashfs crate) writes neither xattrs nor hard links
//! and compresses on one thread, and mksquashfs needs the tree extracted to a directory.
//!
//! ## Format choices (what a reader will find)
//! - squashfs 4.0, little-endian; block size 4 KiB–1 MiB (default 128 KiB); the image is padded
//!   with zeros to a multiple of 4 KiB, as mksquashfs pads it.
//! - Compressors: xz (default; `.xz` streams with CRC32, dictionary = block size, LZMA2 preset
//!   6, 8 KiB dictionary for metadata), zstd, gzip (zlib streams), lz4 (raw blocks). Compressor
//!   options are written exactly when mksquashfs writes them: xz when filters are listed
//!   (dictionary size, filter bits), zstd and gzip for non-default levels, lz4 always.
//! - xz BCJ filters: the superblock lists them (e.g. x86 + ARM like `-Xbcj x86,arm`), and each
//!   file's blocks use the one matching its ELF machine, or none ([`BcjChoice`]).
//! - Data: files are stored in whole blocks, an all-zero block as a hole (size 0). Files
//!   smaller than a block go into fragment blocks; the tail of a larger file does only with
//!   [`Options::tail_ends`] (mksquashfs's defaults). Identical files are stored once
//!   ([`Options::dedup`], compared by SHA-256 of size and contents).
//! - Inodes: basic types unless a field needs the extended one (xattrs, more than one link,
//!   sizes or offsets ≥ 4 GiB, holes; directories with xattrs, more than 256 entries, 8 KiB of
//!   names or an index). Hard links share one inode with the right link count; directories have
//!   2 + subdirectories links. Inode numbers, directory headers and directory indexes follow
//!   mksquashfs (see the `tables` module).
//! - Ids: up to 65,536 distinct uids/gids, else an error naming the entry. Xattrs: `user.`,
//!   `trusted.` and `security.` names are kept (identical sets are stored once, values inline);
//!   any other namespace is an error, never silently dropped.
//! - Times: every inode time comes from its entry (clamped into 1970–2106, counted in
//!   [`Stats::clamped_times`]); implied directories get [`Options::implied_dir_mtime`], the
//!   superblock [`Options::mkfs_time`].
//! - Tables in mksquashfs's order: inodes, directories, fragments, export (on by default, like
//!   mksquashfs; the kernel only needs it for NFS export), ids, xattrs.
//! - Not written: sockets (no entry kind has them), the legacy lzma and lzo compressors, lz4
//!   high-compression mode, out-of-line xattr values, appending to an existing image.

pub mod compress;
pub mod format;

mod metadata;
mod pipeline;
mod tables;
mod writer;

pub use compress::{Bcj, BcjChoice, Compression};
pub use evebuild_tree::Error;
pub use writer::{HOLD_BLOCKS, Options, Output, RootDir, SquashfsWriter, Stats};

use evebuild_tree::Sink;
use std::path::Path;

/// Writes an image to `dest`: `feed` streams the entries into the writer; the image goes to a
/// temporary file next to `dest` and is renamed into place only when it is complete.
pub fn write_image(
    dest: &Path,
    options: Options,
    feed: impl FnOnce(&mut dyn Sink) -> Result<(), Error>,
) -> Result<Stats, Error> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let ctx = |what: &str| format!("{what} {}", dest.display());
    let tmp = tempfile::Builder::new()
        .prefix(".rootfs-")
        .suffix(".img.tmp")
        .tempfile_in(dir)
        .map_err(|e| Error::io(ctx("creating a temporary file for"), e))?;
    let (tmp_file, tmp_path) = tmp.into_parts();
    let mut w = SquashfsWriter::new(tmp_file, options)?;
    feed(&mut w)?;
    let (file, stats) = w.finish()?;
    // Images are build outputs, readable like any other (temporary files start as 0600).
    use std::os::unix::fs::PermissionsExt;
    file.set_permissions(std::fs::Permissions::from_mode(0o644))
        .and_then(|_| file.sync_all())
        .map_err(|e| Error::io(ctx("syncing"), e))?;
    tmp_path
        .persist(dest)
        .map_err(|e| Error::io(ctx("renaming the finished image to"), e.error))?;
    Ok(stats)
}
