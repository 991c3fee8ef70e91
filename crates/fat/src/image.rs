//! Writing a laid-out volume: reserved sectors (boot sector; on FAT32 the FSInfo sector and the
//! backup copies at sectors 6 and 7), both FATs, the root directory, every directory's
//! entries, then file contents, each at the offsets the allocation gave it.

use crate::FatOptions;
use crate::format::{
    self, ATTR_ARCHIVE, ATTR_DIRECTORY, ATTR_READ_ONLY, ATTR_VOLUME_ID, BootSector, DIR_ENTRY_SIZE,
    DirEntry, FAT32_BACKUP_BOOT_SECTOR, FAT32_INFO_SECTOR, FatDateTime, FatType, SECTOR_SIZE,
};
use crate::geometry::{FAT_COUNT, Geometry};
use crate::layout::{Allocation, ChildKind, Plan, ROOT};
use std::io::{self, Seek, SeekFrom, Write};

/// Writes at absolute offsets and remembers how far the image has been written.
struct Out<'w, W> {
    w: &'w mut W,
    end: u64,
}

impl<W: Write + Seek> Out<'_, W> {
    fn put(&mut self, offset: u64, bytes: &[u8]) -> io::Result<()> {
        self.w.seek(SeekFrom::Start(offset))?;
        self.w.write_all(bytes)?;
        self.end = self.end.max(offset + bytes.len() as u64);
        Ok(())
    }
}

/// Writes the volume described by `plan` and `alloc` to `w`.
pub fn write<W: Write + Seek>(
    plan: &Plan,
    alloc: &Allocation,
    g: &Geometry,
    opts: &FatOptions,
    label: Option<[u8; 11]>,
    w: &mut W,
) -> io::Result<()> {
    let mut out = Out { w, end: 0 };
    let ss = u64::from(SECTOR_SIZE);

    let boot = BootSector {
        fat_type: g.fat_type,
        sectors_per_cluster: g.sectors_per_cluster as u8,
        reserved_sectors: g.reserved_sectors as u16,
        fat_count: FAT_COUNT as u8,
        root_entries: g.root_entries as u16,
        total_sectors: g.total_sectors,
        media: g.media,
        fat_sectors: g.fat_sectors,
        sectors_per_track: g.sectors_per_track,
        heads: g.heads,
        volume_id: opts.volume_id,
        label: label.unwrap_or(format::NO_NAME),
    }
    .to_bytes();
    let mut reserved = vec![0u8; (u64::from(g.reserved_sectors) * ss) as usize];
    reserved[..512].copy_from_slice(&boot);
    if g.fat_type == FatType::Fat32 {
        let info = format::fsinfo_sector(g.cluster_count - alloc.clusters_used, alloc.last_cluster);
        for (sector, bytes) in [
            (FAT32_INFO_SECTOR, &info),
            (FAT32_BACKUP_BOOT_SECTOR, &boot),
            (FAT32_BACKUP_BOOT_SECTOR + FAT32_INFO_SECTOR, &info),
        ] {
            let at = usize::from(sector) * SECTOR_SIZE as usize;
            reserved[at..at + 512].copy_from_slice(bytes);
        }
    }
    out.put(0, &reserved)?;

    let fat_bytes = (u64::from(g.fat_sectors) * ss) as usize;
    let fat = format::encode_fat(g.fat_type, &alloc.fat, fat_bytes);
    for copy in 0..FAT_COUNT {
        let sector = g.reserved_sectors + copy * g.fat_sectors;
        out.put(u64::from(sector) * ss, &fat)?;
    }

    for (d, dir) in plan.dirs.iter().enumerate() {
        let mut entries: Vec<[u8; DIR_ENTRY_SIZE]> = Vec::with_capacity(dir.slots);
        let dir_time = FatDateTime::from_unix(dir.mtime);
        let dot = |name: &[u8], cluster: u32| {
            let mut n = [b' '; 11];
            n[..name.len()].copy_from_slice(name);
            DirEntry {
                name: n,
                attr: ATTR_DIRECTORY,
                case: 0,
                time: dir_time,
                cluster,
                size: 0,
            }
            .to_bytes()
        };
        if d == ROOT {
            if let Some(label) = label {
                entries.push(
                    DirEntry {
                        name: label,
                        attr: ATTR_VOLUME_ID,
                        case: 0,
                        time: FatDateTime::from_unix(opts.timestamp),
                        cluster: 0,
                        size: 0,
                    }
                    .to_bytes(),
                );
            }
        } else {
            entries.push(dot(b".", alloc.dir_first[d]));
            // `..` of a directory in the root points at cluster 0, even on FAT32.
            let parent = if dir.parent == ROOT {
                0
            } else {
                alloc.dir_first[dir.parent]
            };
            entries.push(dot(b"..", parent));
        }
        for (i, c) in dir.children.iter().enumerate() {
            if let Some(units) = &c.long {
                entries.extend(format::lfn_slots(units, format::lfn_checksum(&c.short)));
            }
            let (attr, size) = match c.kind {
                ChildKind::Dir(_) => (ATTR_DIRECTORY, 0),
                ChildKind::File(data) if c.mode & 0o200 == 0 => {
                    (ATTR_ARCHIVE | ATTR_READ_ONLY, data.len() as u32)
                }
                ChildKind::File(data) => (ATTR_ARCHIVE, data.len() as u32),
            };
            entries.push(
                DirEntry {
                    name: c.short,
                    attr,
                    case: c.case,
                    time: FatDateTime::from_unix(c.mtime),
                    cluster: alloc.child_first[d][i],
                    size,
                }
                .to_bytes(),
            );
        }
        let (offset, bytes) = if d == ROOT && g.fat_type != FatType::Fat32 {
            (
                u64::from(g.root_dir_sector()) * ss,
                g.root_entries as usize * DIR_ENTRY_SIZE,
            )
        } else {
            let clusters = (entries.len() * DIR_ENTRY_SIZE).div_ceil(g.cluster_bytes() as usize);
            (
                g.cluster_offset(alloc.dir_first[d]),
                clusters.max(1) * g.cluster_bytes() as usize,
            )
        };
        let mut buf = entries.concat();
        buf.resize(bytes, 0);
        out.put(offset, &buf)?;
    }

    for (d, dir) in plan.dirs.iter().enumerate() {
        for (i, c) in dir.children.iter().enumerate() {
            if let ChildKind::File(data) = c.kind {
                if data.is_empty() {
                    continue;
                }
                let at = g.cluster_offset(alloc.child_first[d][i]);
                out.put(at, data)?;
                let pad = data.len().next_multiple_of(g.cluster_bytes() as usize) - data.len();
                out.put(at + data.len() as u64, &vec![0u8; pad])?;
            }
        }
    }

    if out.end < opts.size {
        out.put(opts.size - 1, &[0])?;
    }
    out.w.flush()
}
