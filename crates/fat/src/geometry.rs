//! Volume geometry: FAT type, cluster size, reserved sectors, FAT length, root directory size
//! and CHS values, chosen the way `mkfs.fat` 4.2 (dosfstools) chooses them for an image file of
//! the same size, so that an image made here is laid out like the one EVE's `mkfs.vfat` makes.
//!
//! The rules, as dosfstools 4.2 applies them to a regular file (no partition offset, 512-byte
//! sectors, 2 FATs):
//! - CHS: up to 256 MiB the SD-card recommendation (2/4/8/16 heads, 16 or 32 sectors per
//!   track), above that LBA-assist (16…255 heads, 63 sectors). Image sizes of the classic
//!   floppies (360, 720, 1200, 1440, 2880 KiB) get the floppy parameters.
//! - The sector count is rounded down to whole tracks.
//! - FAT32 when asked, or automatically from 512 MiB on; its cluster size follows Microsoft's
//!   table (1 sector up to 260 MiB, 8 up to 8 GiB, 16, 32, then 64). FAT12/16 start at 4
//!   sectors per cluster. The cluster size doubles until the chosen (or any, when automatic)
//!   type has a legal cluster count; automatic picks FAT16 over FAT12 when it yields more
//!   clusters.
//! - Above 8192 sectors the reserved area, each FAT and the root directory are padded to whole
//!   clusters so that clusters are aligned to their size.
//!
//! Left out: other sector sizes, one FAT or more than two, Atari variant, bad-block lists.

use crate::format::{FAT32_RESERVED_SECTORS, FatType, MEDIA_FIXED, SECTOR_SIZE};

/// FAT12 upper cluster count (mkfs.fat keeps away from 4085/4086, which Windows and Linux
/// classify differently).
const MAX_CLUST_12: i64 = 4084;
/// FAT16 lower cluster count.
const MIN_CLUST_16: i64 = 4087;
/// FAT16 upper cluster count.
const MAX_CLUST_16: i64 = 65524;
/// FAT32 lower cluster count (only enforced when FAT32 is chosen automatically).
const MIN_CLUST_32: i64 = 65525;
/// FAT32 upper cluster count (28-bit entries).
const MAX_CLUST_32: i64 = 268_435_446;
/// Number of FAT copies.
pub const FAT_COUNT: u32 = 2;
/// Default root directory entries on FAT12/16.
const ROOT_ENTRIES: i64 = 512;
/// Automatic FAT type: FAT32 from this image size on.
const AUTO_FAT32_BYTES: u64 = 512 * 1024 * 1024;
/// Volumes of at most this many sectors are not cluster-aligned ("floppy size").
const ALIGN_MIN_SECTORS: i64 = 8192;

/// Floppy image sizes (KiB) and their parameters: sectors per track, heads, media byte,
/// sectors per cluster, root entries. From dosfstools 4.2 `establish_params`.
const FLOPPIES: [(u64, u16, u16, u8, u32, i64); 5] = [
    (360, 9, 2, 0xFD, 2, 112),
    (720, 9, 2, 0xF9, 2, 112),
    (1200, 15, 2, 0xF9, 1, 224),
    (1440, 18, 2, 0xF0, 1, 224),
    (2880, 36, 2, 0xF0, 2, 224),
];

/// Which FAT type to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FatTypeChoice {
    /// As mkfs.fat picks it for the size.
    #[default]
    Auto,
    /// This type, whatever the size (an error if the size cannot hold it).
    Forced(FatType),
}

/// Why a size cannot hold a FAT filesystem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GeometryError {
    /// Not a whole number of 512-byte sectors.
    #[error("image size {0} bytes is not a multiple of 512")]
    NotSectors(u64),
    /// Too small or too large for the requested type.
    #[error(
        "a {size}-byte image cannot hold a {wanted} filesystem (no legal cluster count with up to 128 sectors per cluster)"
    )]
    NoFit {
        /// Image size in bytes.
        size: u64,
        /// What was asked for ("FAT12", "any FAT").
        wanted: String,
    },
    /// Fewer than 32 KiB of data area (mkfs.fat's lower bound).
    #[error("a {0}-byte image is too small for a FAT filesystem")]
    TooSmall(u64),
    /// More sectors than 32-bit sector numbers can address.
    #[error("a {0}-byte image is larger than FAT can address (2 TiB)")]
    TooLarge(u64),
}

/// The layout of a FAT volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Geometry {
    /// FAT variant.
    pub fat_type: FatType,
    /// Sectors of the volume (whole tracks; may be less than the image).
    pub total_sectors: u32,
    /// Sectors per cluster.
    pub sectors_per_cluster: u32,
    /// Reserved sectors before the first FAT.
    pub reserved_sectors: u32,
    /// Sectors per FAT copy.
    pub fat_sectors: u32,
    /// Root directory entries (FAT12/16); 0 on FAT32.
    pub root_entries: u32,
    /// Data clusters (numbered from 2).
    pub cluster_count: u32,
    /// Media descriptor.
    pub media: u8,
    /// CHS sectors per track.
    pub sectors_per_track: u16,
    /// CHS heads.
    pub heads: u16,
}

impl Geometry {
    /// The geometry mkfs.fat 4.2 gives an image file of `size` bytes.
    pub fn for_size(size: u64, choice: FatTypeChoice) -> Result<Self, GeometryError> {
        if !size.is_multiple_of(u64::from(SECTOR_SIZE)) {
            return Err(GeometryError::NotSectors(size));
        }
        let ss = i64::from(SECTOR_SIZE);
        let device_sectors = size / u64::from(SECTOR_SIZE);
        if device_sectors > u64::from(u32::MAX) {
            return Err(GeometryError::TooLarge(size));
        }

        // CHS and starting parameters (establish_params).
        let (mut spt, mut heads): (u16, u16) = if device_sectors <= 524_288 {
            let heads = match device_sectors {
                0..=32_768 => 2,
                32_769..=65_536 => 4,
                65_537..=262_144 => 8,
                _ => 16,
            };
            (if device_sectors <= 4096 { 16 } else { 32 }, heads)
        } else {
            let heads = match device_sectors {
                s if s <= 16 * 63 * 1024 => 16,
                s if s <= 32 * 63 * 1024 => 32,
                s if s <= 64 * 63 * 1024 => 64,
                s if s <= 128 * 63 * 1024 => 128,
                _ => 255,
            };
            (63, heads)
        };
        let mut media = MEDIA_FIXED;
        let mut cluster: u32 = 4;
        let mut root_entries = ROOT_ENTRIES;
        if let Some(f) = FLOPPIES.iter().find(|f| f.0 * 1024 == size) {
            (spt, heads, media, cluster, root_entries) = (f.1, f.2, f.3, f.4, f.5);
        }
        let wanted = match choice {
            FatTypeChoice::Forced(t) => Some(t),
            FatTypeChoice::Auto if size >= AUTO_FAT32_BYTES => Some(FatType::Fat32),
            FatTypeChoice::Auto => None,
        };
        if wanted == Some(FatType::Fat32) {
            let s = device_sectors;
            cluster = if s > 32 * 1024 * 1024 * 2 {
                64
            } else if s > 16 * 1024 * 1024 * 2 {
                32
            } else if s > 8 * 1024 * 1024 * 2 {
                16
            } else if s > 260 * 1024 * 2 {
                8
            } else {
                1
            };
            root_entries = 0;
        }
        let reserved: i64 = if wanted == Some(FatType::Fat32) {
            i64::from(FAT32_RESERVED_SECTORS)
        } else {
            1
        };

        // setup_tables: whole tracks, then search for a cluster size.
        let num_sectors = (device_sectors / u64::from(spt) * u64::from(spt)) as i64;
        let align = num_sectors > ALIGN_MIN_SECTORS;
        let align_to = |n: i64, c: i64| if align { (n + c - 1) & !(c - 1) } else { n };
        let root_dir_sectors = (root_entries * 32 + ss - 1) / ss;
        let nf = i64::from(FAT_COUNT);
        let cdiv = |a: i64, b: i64| (a + b - 1) / b;
        // A negative cluster count (the FATs alone overflow the volume) is "none".
        let legal = |c: i64, max: i64| if c > max || c < 0 { 0 } else { c };

        let mut found = None;
        while cluster <= 128 {
            let cs = i64::from(cluster);
            let fatdata32 = num_sectors - align_to(reserved, cs);
            let fatdata1216 = fatdata32 - align_to(root_dir_sectors, cs);

            let c12 = 2 * (fatdata1216 * ss + nf * 3) / (2 * cs * ss + nf * 3);
            let len12 = align_to(cdiv(((c12 + 2) * 3 + 1) >> 1, ss), cs);
            let c12 = (fatdata1216 - nf * len12) / cs;
            let c12 = legal(c12, ((len12 * 2 * ss) / 3).min(MAX_CLUST_12));

            let c16 = (fatdata1216 * ss + nf * 4) / (cs * ss + nf * 2);
            let len16 = align_to(cdiv((c16 + 2) * 2, ss), cs);
            let c16 = (fatdata1216 - nf * len16) / cs;
            let mut c16 = legal(c16, ((len16 * ss) / 2).min(MAX_CLUST_16));
            if c16 != 0 && c16 < MIN_CLUST_16 {
                c16 = 0;
            }

            let c32 = (fatdata32 * ss + nf * 8) / (cs * ss + nf * 4);
            let len32 = align_to(cdiv((c32 + 2) * 4, ss), cs);
            let c32 = (fatdata32 - nf * len32) / cs;
            let mut c32 = legal(c32, ((len32 * ss) / 4).min(MAX_CLUST_32));
            if c32 != 0 && c32 < MIN_CLUST_32 && choice != FatTypeChoice::Forced(FatType::Fat32) {
                c32 = 0;
            }

            let pick = match wanted {
                None if c12 != 0 || c16 != 0 => Some(if c16 > c12 {
                    (FatType::Fat16, c16, len16)
                } else {
                    (FatType::Fat12, c12, len12)
                }),
                Some(FatType::Fat12) if c12 != 0 => Some((FatType::Fat12, c12, len12)),
                Some(FatType::Fat16) if c16 != 0 => Some((FatType::Fat16, c16, len16)),
                Some(FatType::Fat32) if c32 != 0 => Some((FatType::Fat32, c32, len32)),
                _ => None,
            };
            if let Some(p) = pick {
                found = Some(p);
                break;
            }
            cluster <<= 1;
        }
        let Some((fat_type, clusters, fat_len)) = found else {
            return Err(GeometryError::NoFit {
                size,
                wanted: wanted.map_or("FAT".into(), |t| t.to_string()),
            });
        };
        let cs = i64::from(cluster);
        let reserved = align_to(reserved, cs);
        let root_entries = if fat_type == FatType::Fat32 {
            0
        } else if align {
            align_to(root_dir_sectors, cs) * (ss / 32)
        } else {
            root_entries
        };
        let g = Geometry {
            fat_type,
            total_sectors: num_sectors as u32,
            sectors_per_cluster: cluster,
            reserved_sectors: reserved as u32,
            fat_sectors: fat_len as u32,
            root_entries: root_entries as u32,
            cluster_count: clusters as u32,
            media,
            sectors_per_track: spt,
            heads,
        };
        // mkfs.fat wants at least 32 KiB (in whole KiB blocks) after the metadata.
        if size / 1024 < u64::from(g.data_start_sector()).div_ceil(2) + 32 {
            return Err(GeometryError::TooSmall(size));
        }
        Ok(g)
    }

    /// Bytes per cluster.
    pub fn cluster_bytes(&self) -> u64 {
        u64::from(self.sectors_per_cluster) * u64::from(SECTOR_SIZE)
    }

    /// Sectors of the fixed root directory (0 on FAT32).
    pub fn root_dir_sectors(&self) -> u32 {
        (self.root_entries * 32).div_ceil(SECTOR_SIZE)
    }

    /// First sector of the fixed root directory (FAT12/16).
    pub fn root_dir_sector(&self) -> u32 {
        self.reserved_sectors + FAT_COUNT * self.fat_sectors
    }

    /// First sector of cluster 2.
    pub fn data_start_sector(&self) -> u32 {
        self.root_dir_sector() + self.root_dir_sectors()
    }

    /// Byte offset of data cluster `n` (n ≥ 2).
    pub fn cluster_offset(&self, n: u32) -> u64 {
        (u64::from(self.data_start_sector())
            + u64::from(n - 2) * u64::from(self.sectors_per_cluster))
            * u64::from(SECTOR_SIZE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eve_sizes_match_the_facts() {
        // config.img (EVE 17): 5 MiB FAT12, 4 sectors/cluster, 2547 clusters, 512 root
        // entries, 4 reserved sectors.
        let g = Geometry::for_size(5 * 1024 * 1024, FatTypeChoice::Auto).unwrap();
        assert_eq!(
            (
                g.fat_type,
                g.sectors_per_cluster,
                g.cluster_count,
                g.root_entries,
                g.reserved_sectors
            ),
            (FatType::Fat12, 4, 2547, 512, 4)
        );
        // The ESP: mkfs.fat is given 2 GiB − 1 sector in KiB, giving 4194288 sectors, FAT32,
        // 8 sectors per cluster, 32 reserved sectors.
        let g =
            Geometry::for_size(2_097_151 * 1024, FatTypeChoice::Forced(FatType::Fat32)).unwrap();
        assert_eq!(
            (
                g.fat_type,
                g.total_sectors,
                g.sectors_per_cluster,
                g.reserved_sectors
            ),
            (FatType::Fat32, 4_194_288, 8, 32)
        );
    }
}
