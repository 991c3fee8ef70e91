//! Raw disk images, written sparse: only non-zero 4 KiB pages are written, zeros are seeked
//! over and the file is extended to its size, so a 14 GiB live.raw holding 300 MB of data
//! takes 300 MB on the host.
//!
//! Not here: preallocated (non-sparse) output; write to a block device with `dd` instead.

use crate::disk::{Disk, is_zero};
use crate::output::{put_at, set_len, write_atomically};
use crate::{Error, virtual_size};
use std::path::Path;

/// Granularity of hole detection.
const PAGE: usize = 4096;
/// Bytes read at a time.
const CHUNK: u64 = 1 << 20;

/// Writes `disk` to `dest` as a sparse raw image of `size` bytes (default: the disk's size;
/// larger sizes are zeros at the end, like `qemu-img resize -f raw`).
pub fn write(disk: &Disk, dest: &Path, size: Option<u64>) -> Result<(), Error> {
    let size = virtual_size(disk, size)?;
    write_atomically(dest, |file, path| {
        for block in disk.blocks(CHUNK)? {
            let (index, buf) = block?;
            let base = index * CHUNK;
            let valid = (disk.size() - base).min(CHUNK) as usize;
            let mut page = 0;
            while page < valid {
                // A run of non-zero pages is written with one call.
                let start = page;
                while page < valid && !is_zero(&buf[page..(page + PAGE).min(valid)]) {
                    page += PAGE;
                }
                let end = page.min(valid);
                if end > start {
                    put_at(file, path, base + start as u64, &buf[start..end])?;
                }
                page += PAGE;
            }
        }
        set_len(file, path, size)
    })
}
