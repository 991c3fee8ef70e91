//! VMDK images, monolithicSparse (one file: header, embedded descriptor, grain directory and
//! its redundant copy, grain tables, then the non-zero 64 KiB grains uncompressed), as
//! `qemu-img convert -O vmdk` writes them, with the descriptor's CID from the caller instead
//! of random.
//!
//! Not here: streamOptimized (compressed grains with markers), split or flat extents.

pub mod format;

use crate::blockmap::write_allocated;
use crate::disk::Disk;
use crate::output::{BufferedAt, put_at, set_len, write_atomically};
use crate::{Error, sector_virtual_size};
use std::path::Path;

/// Options for [`write`].
#[derive(Clone, Debug)]
pub struct Options {
    /// Virtual size; default the disk's size.
    pub virtual_size: Option<u64>,
    /// Content ID written in the descriptor (random in qemu-img).
    pub cid: u32,
}

/// Writes `disk` to `dest` as a monolithicSparse VMDK. The descriptor names the extent by
/// `dest`'s file name, so the file must keep that name.
pub fn write(disk: &Disk, dest: &Path, options: &Options) -> Result<(), Error> {
    let size = sector_virtual_size(disk, options.virtual_size, "vmdk")?;
    let capacity = size / format::SECTOR;
    let grain = format::GRAIN_SECTORS * format::SECTOR;
    let gts = capacity.div_ceil(format::GRAIN_SECTORS * format::GT_ENTRIES);
    let gd_sectors = (gts * 4).div_ceil(format::SECTOR);
    let gt_sectors = format::GT_ENTRIES * 4 / format::SECTOR;
    let rgd = format::DESCRIPTOR_OFFSET + format::DESCRIPTOR_SECTORS;
    let rgt = rgd + gd_sectors;
    let gd = rgt + gts * gt_sectors;
    let gt = gd + gd_sectors;
    let overhead = (gt + gts * gt_sectors).next_multiple_of(format::GRAIN_SECTORS);
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let descriptor = descriptor(capacity, options.cid, &name);
    if descriptor.len() as u64 > format::DESCRIPTOR_SECTORS * format::SECTOR {
        return Err(Error::Unsupported {
            format: "vmdk",
            why: format!("file name {name:?} too long"),
        });
    }

    write_atomically(dest, |file, path| {
        let mut out = BufferedAt::new(file, path);
        let allocations = write_allocated(disk, &mut out, grain, overhead * format::SECTOR, &[])?;
        let mut tables = vec![0u8; (gts * gt_sectors * format::SECTOR) as usize];
        for a in &allocations {
            let at = a.index as usize * 4;
            tables[at..at + 4].copy_from_slice(&((a.offset / format::SECTOR) as u32).to_le_bytes());
        }
        let mut meta = vec![0u8; (overhead * format::SECTOR) as usize];
        let sector = |s: u64| (s * format::SECTOR) as usize;
        meta[..format::SECTOR as usize].copy_from_slice(&header(capacity, rgd, gd, overhead));
        meta[sector(format::DESCRIPTOR_OFFSET)..][..descriptor.len()]
            .copy_from_slice(descriptor.as_bytes());
        for (dir, tables_at) in [(rgd, rgt), (gd, gt)] {
            for i in 0..gts {
                let at = sector(dir) + i as usize * 4;
                let table = (tables_at + i * gt_sectors) as u32;
                meta[at..at + 4].copy_from_slice(&table.to_le_bytes());
            }
            meta[sector(tables_at)..][..tables.len()].copy_from_slice(&tables);
        }
        put_at(file, path, 0, &meta)?;
        set_len(
            file,
            path,
            overhead * format::SECTOR + allocations.len() as u64 * grain,
        )
    })
}

fn header(capacity: u64, rgd: u64, gd: u64, overhead: u64) -> [u8; 512] {
    use format::header as h;
    let mut b = [0u8; 512];
    let put64 = |b: &mut [u8], at: usize, v: u64| b[at..at + 8].copy_from_slice(&v.to_le_bytes());
    b[..4].copy_from_slice(&format::MAGIC.to_le_bytes());
    b[h::VERSION..h::VERSION + 4].copy_from_slice(&format::VERSION.to_le_bytes());
    b[h::FLAGS..h::FLAGS + 4]
        .copy_from_slice(&(format::FLAG_NL_DETECT | format::FLAG_RGD).to_le_bytes());
    put64(&mut b, h::CAPACITY, capacity);
    put64(&mut b, h::GRAIN_SIZE, format::GRAIN_SECTORS);
    put64(&mut b, h::DESCRIPTOR_OFFSET, format::DESCRIPTOR_OFFSET);
    put64(&mut b, h::DESCRIPTOR_SIZE, format::DESCRIPTOR_SECTORS);
    b[h::GT_ENTRIES..h::GT_ENTRIES + 4].copy_from_slice(&(format::GT_ENTRIES as u32).to_le_bytes());
    put64(&mut b, h::RGD_OFFSET, rgd);
    put64(&mut b, h::GD_OFFSET, gd);
    put64(&mut b, h::OVERHEAD, overhead);
    b[h::NEWLINE_TEST..h::NEWLINE_TEST + 4].copy_from_slice(b"\n \r\n");
    b
}

fn descriptor(capacity: u64, cid: u32, name: &str) -> String {
    let cylinders =
        (capacity / (format::HEADS * format::SECTORS_PER_TRACK)).min(format::MAX_CYLINDERS);
    format!(
        "# Disk DescriptorFile
version=1
CID={cid:08x}
parentCID=ffffffff
createType=\"monolithicSparse\"

# Extent description
RW {capacity} SPARSE \"{name}\"

# The Disk Data Base
#DDB

ddb.virtualHWVersion = \"4\"
ddb.geometry.cylinders = \"{cylinders}\"
ddb.geometry.heads = \"{heads}\"
ddb.geometry.sectors = \"{spt}\"
ddb.adapterType = \"ide\"
",
        heads = format::HEADS,
        spt = format::SECTORS_PER_TRACK,
    )
}
