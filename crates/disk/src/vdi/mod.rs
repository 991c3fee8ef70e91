//! VDI images (VirtualBox), dynamic: a header, a block map and the non-zero 1 MiB blocks in
//! disk order. Equivalent to `qemu-img convert -O vdi`, except that the image and snapshot
//! UUIDs come from the caller instead of being random.
//!
//! Not here: static (preallocated) images, differencing images.

pub mod format;

use crate::blockmap::write_allocated;
use crate::disk::Disk;
use crate::guid::Guid;
use crate::output::{BufferedAt, put_at, set_len, write_atomically};
use crate::{Error, sector_virtual_size};
use std::path::Path;

/// Options for [`write`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Virtual size; default the disk's size. The tail beyond the disk is unallocated.
    pub virtual_size: Option<u64>,
    /// Image UUID.
    pub uuid_image: Guid,
    /// Last-snapshot UUID.
    pub uuid_last_snap: Guid,
}

impl Options {
    /// Options with both UUIDs derived from `seed`.
    pub fn from_seed(seed: &[u8], virtual_size: Option<u64>) -> Options {
        Options {
            virtual_size,
            uuid_image: Guid::derive(seed, "vdi image"),
            uuid_last_snap: Guid::derive(seed, "vdi last snapshot"),
        }
    }
}

/// Writes `disk` to `dest` as a dynamic VDI image.
pub fn write(disk: &Disk, dest: &Path, options: &Options) -> Result<(), Error> {
    let size = sector_virtual_size(disk, options.virtual_size, "vdi")?;
    let blocks = size.div_ceil(format::BLOCK);
    if blocks > format::MAX_BLOCKS {
        return Err(Error::Unsupported {
            format: "vdi",
            why: format!("virtual size {size}"),
        });
    }
    let bmap_len = (blocks * 4).next_multiple_of(format::SECTOR);
    let data_offset = format::BMAP_OFFSET + bmap_len;

    write_atomically(dest, |file, path| {
        let mut out = BufferedAt::new(file, path);
        let allocations = write_allocated(disk, &mut out, format::BLOCK, data_offset, &[])?;
        let mut bmap = vec![0u8; bmap_len as usize];
        for entry in bmap.chunks_exact_mut(4).take(blocks as usize) {
            entry.copy_from_slice(&format::UNALLOCATED.to_le_bytes());
        }
        for (ordinal, a) in allocations.iter().enumerate() {
            let at = a.index as usize * 4;
            bmap[at..at + 4].copy_from_slice(&(ordinal as u32).to_le_bytes());
        }
        put_at(file, path, format::BMAP_OFFSET, &bmap)?;
        let h = header(size, blocks, allocations.len() as u64, data_offset, options);
        put_at(file, path, 0, &h)?;
        set_len(
            file,
            path,
            data_offset + allocations.len() as u64 * format::BLOCK,
        )
    })
}

fn header(size: u64, blocks: u64, allocated: u64, data_offset: u64, o: &Options) -> Vec<u8> {
    use format::header as h;
    let mut b = vec![0u8; h::LEN];
    let put32 =
        |b: &mut [u8], at: usize, v: u64| b[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes());
    b[..format::TEXT.len()].copy_from_slice(format::TEXT);
    put32(&mut b, h::SIGNATURE, format::SIGNATURE.into());
    put32(&mut b, h::VERSION, format::VERSION.into());
    put32(&mut b, h::HEADER_SIZE, format::HEADER_SIZE.into());
    put32(&mut b, h::IMAGE_TYPE, format::TYPE_DYNAMIC.into());
    put32(&mut b, h::OFFSET_BMAP, format::BMAP_OFFSET);
    put32(&mut b, h::OFFSET_DATA, data_offset);
    put32(&mut b, h::SECTOR_SIZE, format::SECTOR);
    b[h::DISK_SIZE..h::DISK_SIZE + 8].copy_from_slice(&size.to_le_bytes());
    put32(&mut b, h::BLOCK_SIZE, format::BLOCK);
    put32(&mut b, h::BLOCKS_IN_IMAGE, blocks);
    put32(&mut b, h::BLOCKS_ALLOCATED, allocated);
    b[h::UUID_IMAGE..h::UUID_IMAGE + 16].copy_from_slice(&o.uuid_image.to_mixed_endian());
    b[h::UUID_LAST_SNAP..h::UUID_LAST_SNAP + 16]
        .copy_from_slice(&o.uuid_last_snap.to_mixed_endian());
    b
}
