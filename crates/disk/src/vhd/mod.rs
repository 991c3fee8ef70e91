//! VHD images, dynamic: footer copy, dynamic header, BAT, then the non-zero 2 MiB blocks (each
//! preceded by its all-ones sector bitmap), then the footer. Like `qemu-img convert -O vpc -o
//! force_size=on`: the size is exact (creator `qem2`), the geometry follows the VHD
//! specification's algorithm; the unique id and time stamp come from the caller.
//!
//! Not here: fixed and differencing VHDs, VHDX.

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
    /// Virtual size; default the disk's size.
    pub virtual_size: Option<u64>,
    /// The footer's unique id.
    pub unique_id: Guid,
    /// Creation time, Unix seconds (SOURCE_DATE_EPOCH); stored relative to 2000-01-01.
    pub timestamp: u64,
}

/// Writes `disk` to `dest` as a dynamic VHD.
pub fn write(disk: &Disk, dest: &Path, options: &Options) -> Result<(), Error> {
    let size = sector_virtual_size(disk, options.virtual_size, "vhd")?;
    let blocks = size.div_ceil(format::BLOCK);
    if blocks > u64::from(u32::MAX) {
        return Err(Error::Unsupported {
            format: "vhd",
            why: format!("virtual size {size}"),
        });
    }
    let bat_len = (blocks * 4).next_multiple_of(format::SECTOR);
    let data_offset = format::BAT_OFFSET + bat_len;
    let bitmap = vec![0xffu8; (format::BLOCK / format::SECTOR / 8) as usize];
    let footer = footer(size, options);

    write_atomically(dest, |file, path| {
        let mut out = BufferedAt::new(file, path);
        let allocations = write_allocated(disk, &mut out, format::BLOCK, data_offset, &bitmap)?;
        let mut bat = vec![0xffu8; bat_len as usize];
        for a in &allocations {
            let at = a.index as usize * 4;
            bat[at..at + 4].copy_from_slice(&((a.offset / format::SECTOR) as u32).to_be_bytes());
        }
        let mut head = footer.to_vec();
        head.extend_from_slice(&dynamic_header(blocks));
        head.extend_from_slice(&bat);
        put_at(file, path, 0, &head)?;
        let end = data_offset + allocations.len() as u64 * (bitmap.len() as u64 + format::BLOCK);
        put_at(file, path, end, &footer)?;
        set_len(file, path, end + format::SECTOR)
    })
}

/// One's complement of the byte sum, the VHD checksum.
fn checksum(bytes: &[u8]) -> u32 {
    !bytes
        .iter()
        .fold(0u32, |s, &b| s.wrapping_add(u32::from(b)))
}

/// Cylinders, heads, sectors per track per the VHD specification (appendix "CHS
/// Calculation").
fn geometry(size: u64) -> (u16, u8, u8) {
    let total = (size / format::SECTOR).min(format::MAX_CHS_SECTORS);
    let (spt, heads, cyl_heads) = if total >= 65535 * 16 * 63 {
        (255, 16, total / 255)
    } else {
        let mut spt = 17;
        let mut cyl_heads = total / spt;
        let mut heads = cyl_heads.div_ceil(1024).max(4);
        if cyl_heads >= heads * 1024 || heads > 16 {
            (spt, heads, cyl_heads) = (31, 16, total / 31);
        }
        if cyl_heads >= heads * 1024 {
            (spt, heads, cyl_heads) = (63, 16, total / 63);
        }
        (spt, heads, cyl_heads)
    };
    ((cyl_heads / heads) as u16, heads as u8, spt as u8)
}

fn footer(size: u64, o: &Options) -> [u8; 512] {
    use format::footer as f;
    let mut b = [0u8; 512];
    b[..8].copy_from_slice(format::FOOTER_COOKIE);
    b[f::FEATURES..f::FEATURES + 4].copy_from_slice(&format::FEATURES.to_be_bytes());
    b[f::VERSION..f::VERSION + 4].copy_from_slice(&format::VERSION.to_be_bytes());
    b[f::DATA_OFFSET..f::DATA_OFFSET + 8]
        .copy_from_slice(&format::DYNAMIC_HEADER_OFFSET.to_be_bytes());
    let stamp = o
        .timestamp
        .saturating_sub(format::EPOCH_OFFSET)
        .min(u64::from(u32::MAX)) as u32;
    b[f::TIMESTAMP..f::TIMESTAMP + 4].copy_from_slice(&stamp.to_be_bytes());
    b[f::CREATOR_APP..f::CREATOR_APP + 4].copy_from_slice(format::CREATOR_APP);
    b[f::CREATOR_VERSION..f::CREATOR_VERSION + 4]
        .copy_from_slice(&format::CREATOR_VERSION.to_be_bytes());
    b[f::CREATOR_OS..f::CREATOR_OS + 4].copy_from_slice(format::CREATOR_OS);
    b[f::ORIGINAL_SIZE..f::ORIGINAL_SIZE + 8].copy_from_slice(&size.to_be_bytes());
    b[f::CURRENT_SIZE..f::CURRENT_SIZE + 8].copy_from_slice(&size.to_be_bytes());
    let (c, h, s) = geometry(size);
    b[f::GEOMETRY..f::GEOMETRY + 2].copy_from_slice(&c.to_be_bytes());
    b[f::GEOMETRY + 2] = h;
    b[f::GEOMETRY + 3] = s;
    b[f::DISK_TYPE..f::DISK_TYPE + 4].copy_from_slice(&format::TYPE_DYNAMIC.to_be_bytes());
    b[f::UNIQUE_ID..f::UNIQUE_ID + 16].copy_from_slice(o.unique_id.as_bytes());
    let sum = checksum(&b);
    b[f::CHECKSUM..f::CHECKSUM + 4].copy_from_slice(&sum.to_be_bytes());
    b
}

fn dynamic_header(blocks: u64) -> [u8; format::DYNAMIC_HEADER_LEN] {
    use format::dynamic as d;
    let mut b = [0u8; format::DYNAMIC_HEADER_LEN];
    b[..8].copy_from_slice(format::DYNAMIC_COOKIE);
    b[d::DATA_OFFSET..d::DATA_OFFSET + 8].copy_from_slice(&u64::MAX.to_be_bytes());
    b[d::TABLE_OFFSET..d::TABLE_OFFSET + 8].copy_from_slice(&format::BAT_OFFSET.to_be_bytes());
    b[d::VERSION..d::VERSION + 4].copy_from_slice(&format::VERSION.to_be_bytes());
    b[d::MAX_TABLE_ENTRIES..d::MAX_TABLE_ENTRIES + 4]
        .copy_from_slice(&(blocks as u32).to_be_bytes());
    b[d::BLOCK_SIZE..d::BLOCK_SIZE + 4].copy_from_slice(&(format::BLOCK as u32).to_be_bytes());
    let sum = checksum(&b);
    b[d::CHECKSUM..d::CHECKSUM + 4].copy_from_slice(&sum.to_be_bytes());
    b
}

#[cfg(test)]
mod tests {
    #[test]
    fn geometry_matches_the_specification_examples() {
        // 100 MiB: what qemu-img writes for `create -f vpc 100M` (cylinders 1004, 12 heads,
        // 17 sectors) comes from the same algorithm applied to its rounded size.
        assert_eq!(super::geometry(104_865_792), (1004, 12, 17));
    }
}
