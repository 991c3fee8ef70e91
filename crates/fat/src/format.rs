//! FAT on-disk format: constants, the boot sector, the FAT32 FSInfo sector, directory entries
//! (short and long-name slots) and FAT date/time encoding.
//!
//! Sources: Microsoft's "FAT: General Overview of On-Disk Format" (fatgen103, 2000) for the
//! structures; the field values mkfs.fat 4.2 writes (drive number, FSInfo placement, backup boot
//! sector) are taken from what that tool produces, so an empty image made here reads like one
//! made by `mkfs.fat`. Only the serialised forms live here; deciding sizes and layout does not.

/// Bytes per logical sector. Only 512 is written (what mkfs.fat uses on image files).
pub const SECTOR_SIZE: u32 = 512;
/// Bytes per directory entry (short entry or long-name slot).
pub const DIR_ENTRY_SIZE: usize = 32;
/// The most entries one directory may hold (cluster chains of directories are limited to
/// 2 MiB; fsck.fat refuses larger ones).
pub const MAX_DIR_ENTRIES: usize = 65536;

/// Directory entry attribute: read-only.
pub const ATTR_READ_ONLY: u8 = 0x01;
/// Directory entry attribute: the volume label entry.
pub const ATTR_VOLUME_ID: u8 = 0x08;
/// Directory entry attribute: a directory.
pub const ATTR_DIRECTORY: u8 = 0x10;
/// Directory entry attribute: archive (set on every file written, as mcopy does).
pub const ATTR_ARCHIVE: u8 = 0x20;
/// Attribute byte that marks a long-name slot (read-only | hidden | system | volume id).
pub const ATTR_LONG_NAME: u8 = 0x0F;

/// Windows NT case flag (directory entry byte 12): the 8-character base is lower case.
pub const CASE_LOWER_BASE: u8 = 0x08;
/// Windows NT case flag: the 3-character extension is lower case.
pub const CASE_LOWER_EXT: u8 = 0x10;

/// Sequence-number flag of the last (first stored) long-name slot.
pub const LFN_LAST: u8 = 0x40;
/// UTF-16 code units per long-name slot.
pub const LFN_CHARS_PER_SLOT: usize = 13;
/// Byte offsets of the 13 UTF-16 code units inside a long-name slot.
const LFN_CHAR_OFFSETS: [usize; LFN_CHARS_PER_SLOT] =
    [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
/// Longest long name, in UTF-16 code units.
pub const LFN_MAX_UNITS: usize = 255;

/// "Media descriptor" byte for fixed media (mkfs.fat's default; also the low byte of FAT[0]).
pub const MEDIA_FIXED: u8 = 0xF8;
/// BIOS drive number mkfs.fat records for media 0xF8.
pub const DRIVE_NUMBER_FIXED: u8 = 0x80;
/// Extended boot signature: volume id, label and type fields follow.
pub const EXT_BOOT_SIGNATURE: u8 = 0x29;
/// Label field value of a volume without a label.
pub const NO_NAME: [u8; 11] = *b"NO NAME    ";
/// OEM name field. fatgen103 recommends this value for the widest driver compatibility.
pub const OEM_NAME: [u8; 8] = *b"MSWIN4.1";

/// FAT32: sector number of the FSInfo sector (mkfs.fat default).
pub const FAT32_INFO_SECTOR: u16 = 1;
/// FAT32: sector number of the backup boot sector (mkfs.fat default with ≥ 7 reserved sectors);
/// the backup FSInfo sector follows it.
pub const FAT32_BACKUP_BOOT_SECTOR: u16 = 6;
/// FAT32: reserved sectors mkfs.fat starts from (before cluster alignment).
pub const FAT32_RESERVED_SECTORS: u32 = 32;
/// FAT32: the first cluster of the root directory (always the first data cluster here).
pub const FAT32_ROOT_CLUSTER: u32 = 2;

/// The three FAT variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FatType {
    /// 12-bit FAT entries (up to 4084 clusters).
    Fat12,
    /// 16-bit FAT entries (4087 to 65524 clusters).
    Fat16,
    /// 28-bit FAT entries in 32-bit slots.
    Fat32,
}

impl FatType {
    /// Bits per FAT entry.
    pub fn bits(self) -> u32 {
        match self {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        }
    }

    /// Mask of the meaningful bits of a FAT entry.
    pub fn entry_mask(self) -> u32 {
        match self {
            FatType::Fat12 => 0x0FFF,
            FatType::Fat16 => 0xFFFF,
            FatType::Fat32 => 0x0FFF_FFFF,
        }
    }

    /// End-of-chain marker (the value mkfs.fat writes; any value ≥ …FF8 ends a chain).
    pub fn end_of_chain(self) -> u32 {
        0x0FFF_FFF8 & self.entry_mask()
    }

    /// The 8-byte file system type string of the boot sector.
    pub fn type_string(self) -> [u8; 8] {
        match self {
            FatType::Fat12 => *b"FAT12   ",
            FatType::Fat16 => *b"FAT16   ",
            FatType::Fat32 => *b"FAT32   ",
        }
    }
}

impl std::fmt::Display for FatType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FAT{}", self.bits())
    }
}

/// Serialises FAT entries (cluster numbers) for one FAT copy.
pub fn encode_fat(fat_type: FatType, entries: &[u32], fat_bytes: usize) -> Vec<u8> {
    let mut out = vec![0u8; fat_bytes];
    for (i, &v) in entries.iter().enumerate() {
        let v = v & fat_type.entry_mask();
        match fat_type {
            FatType::Fat12 => {
                let o = i * 3 / 2;
                if i % 2 == 0 {
                    out[o] = v as u8;
                    out[o + 1] = (out[o + 1] & 0xF0) | ((v >> 8) as u8 & 0x0F);
                } else {
                    out[o] = (out[o] & 0x0F) | ((v as u8 & 0x0F) << 4);
                    out[o + 1] = (v >> 4) as u8;
                }
            }
            FatType::Fat16 => out[i * 2..i * 2 + 2].copy_from_slice(&(v as u16).to_le_bytes()),
            FatType::Fat32 => out[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes()),
        }
    }
    out
}

/// The fields of a boot sector (BIOS parameter block and extended fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSector {
    /// FAT variant (decides the layout of the extended fields).
    pub fat_type: FatType,
    /// Sectors per cluster.
    pub sectors_per_cluster: u8,
    /// Sectors before the first FAT (boot sector, FSInfo, backups).
    pub reserved_sectors: u16,
    /// Number of FAT copies.
    pub fat_count: u8,
    /// Root directory entries (FAT12/16; 0 on FAT32).
    pub root_entries: u16,
    /// Total sectors of the volume.
    pub total_sectors: u32,
    /// Media descriptor.
    pub media: u8,
    /// Sectors per FAT copy.
    pub fat_sectors: u32,
    /// CHS geometry: sectors per track.
    pub sectors_per_track: u16,
    /// CHS geometry: heads.
    pub heads: u16,
    /// Volume serial number.
    pub volume_id: u32,
    /// Volume label field (space padded; `NO NAME` when there is none).
    pub label: [u8; 11],
}

impl BootSector {
    /// The 512-byte sector.
    pub fn to_bytes(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        let fat32 = self.fat_type == FatType::Fat32;
        // Offset of the extended fields (drive number …) and of the boot code.
        let (ext, code) = if fat32 { (64, 90) } else { (36, 62) };
        b[0] = 0xEB;
        b[1] = (code - 2) as u8;
        b[2] = 0x90;
        b[3..11].copy_from_slice(&OEM_NAME);
        b[11..13].copy_from_slice(&(SECTOR_SIZE as u16).to_le_bytes());
        b[13] = self.sectors_per_cluster;
        b[14..16].copy_from_slice(&self.reserved_sectors.to_le_bytes());
        b[16] = self.fat_count;
        b[17..19].copy_from_slice(&self.root_entries.to_le_bytes());
        if self.total_sectors < 65536 {
            b[19..21].copy_from_slice(&(self.total_sectors as u16).to_le_bytes());
        } else {
            b[32..36].copy_from_slice(&self.total_sectors.to_le_bytes());
        }
        b[21] = self.media;
        if !fat32 {
            b[22..24].copy_from_slice(&(self.fat_sectors as u16).to_le_bytes());
        }
        b[24..26].copy_from_slice(&self.sectors_per_track.to_le_bytes());
        b[26..28].copy_from_slice(&self.heads.to_le_bytes());
        // Hidden sectors (28..32) stay 0: the image is made on its own, as with mkfs.fat -C.
        if fat32 {
            b[36..40].copy_from_slice(&self.fat_sectors.to_le_bytes());
            // 40: flags (FATs mirrored), 42: version 0.0.
            b[44..48].copy_from_slice(&FAT32_ROOT_CLUSTER.to_le_bytes());
            b[48..50].copy_from_slice(&FAT32_INFO_SECTOR.to_le_bytes());
            b[50..52].copy_from_slice(&FAT32_BACKUP_BOOT_SECTOR.to_le_bytes());
        }
        b[ext] = if self.media == MEDIA_FIXED {
            DRIVE_NUMBER_FIXED
        } else {
            0
        };
        b[ext + 2] = EXT_BOOT_SIGNATURE;
        b[ext + 3..ext + 7].copy_from_slice(&self.volume_id.to_le_bytes());
        b[ext + 7..ext + 18].copy_from_slice(&self.label);
        b[ext + 18..ext + 26].copy_from_slice(&self.fat_type.type_string());
        let stub = boot_stub(0x7C00 + code as u16);
        b[code..code + stub.len()].copy_from_slice(&stub);
        b[510] = 0x55;
        b[511] = 0xAA;
        b
    }
}

/// Message printed if a machine tries to boot the volume from its boot sector.
const BOOT_MESSAGE: &[u8] = b"This volume is not bootable.\r\n\0";

/// A 16-bit real-mode stub for the boot sector, loaded at `load_addr`: print [`BOOT_MESSAGE`]
/// through the BIOS teletype call, then `int 18h` (boot failure: the BIOS tries the next
/// device). EVE boots through UEFI or the MBR's GRUB, so this only matters for a user who
/// points a legacy BIOS at the partition itself.
fn boot_stub(load_addr: u16) -> Vec<u8> {
    const MESSAGE_AT: u16 = 0x18;
    let msg = load_addr + MESSAGE_AT;
    let mut code = vec![
        0x0E, // push cs
        0x1F, // pop ds
        0xBE,
        msg as u8,
        (msg >> 8) as u8, // mov si, message
        0xAC,             // next: lodsb
        0x84,
        0xC0, // test al, al
        0x74,
        0x09, // jz done
        0xB4,
        0x0E, // mov ah, 0x0e
        0xBB,
        0x07,
        0x00, // mov bx, 7
        0xCD,
        0x10, // int 0x10
        0xEB,
        0xF2, // jmp next
        0xCD,
        0x18, // done: int 0x18
        0xF4, // hlt
        0xEB,
        0xFD, // jmp hlt
    ];
    debug_assert_eq!(code.len(), MESSAGE_AT as usize);
    code.extend_from_slice(BOOT_MESSAGE);
    code
}

/// The FAT32 FSInfo sector: free cluster count and allocation hint.
pub fn fsinfo_sector(free_clusters: u32, last_allocated: u32) -> [u8; 512] {
    let mut b = [0u8; 512];
    b[0..4].copy_from_slice(b"RRaA");
    b[0x1E4..0x1E8].copy_from_slice(b"rrAa");
    b[0x1E8..0x1EC].copy_from_slice(&free_clusters.to_le_bytes());
    b[0x1EC..0x1F0].copy_from_slice(&last_allocated.to_le_bytes());
    b[510] = 0x55;
    b[511] = 0xAA;
    b
}

/// A FAT timestamp: date and 2-second time in the on-disk bit layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FatDateTime {
    /// Bits 15–9 year − 1980, 8–5 month, 4–0 day.
    pub date: u16,
    /// Bits 15–11 hour, 10–5 minute, 4–0 seconds / 2.
    pub time: u16,
}

pub use evebuild_tree::time::UtcDateTime;

/// First instant FAT can record: 1980-01-01 00:00:00 UTC.
pub const FAT_EPOCH_MIN: i64 = 315_532_800;
/// Last instant FAT can record: 2107-12-31 23:59:58 UTC.
pub const FAT_EPOCH_MAX: i64 = 4_354_819_198;

impl FatDateTime {
    /// Encodes a Unix time as a UTC FAT timestamp. Times before 1980 become 1980-01-01 00:00:00
    /// (what mkfs.fat does); times after 2107 become the last representable instant.
    pub fn from_unix(secs: i64) -> Self {
        let t = UtcDateTime::from_unix(secs.clamp(FAT_EPOCH_MIN, FAT_EPOCH_MAX));
        FatDateTime {
            date: (((t.year - 1980) as u16) << 9) | ((t.month as u16) << 5) | t.day as u16,
            time: ((t.hour as u16) << 11) | ((t.minute as u16) << 5) | (t.second as u16 / 2),
        }
    }
}

/// A short (8.3) directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Name and extension, space padded (first byte 0xE5 already escaped as 0x05).
    pub name: [u8; 11],
    /// Attribute bits.
    pub attr: u8,
    /// NT case flags ([`CASE_LOWER_BASE`], [`CASE_LOWER_EXT`]).
    pub case: u8,
    /// Creation, access and modification time (all the same here).
    pub time: FatDateTime,
    /// First cluster (0 for empty files and for `..` pointing at the root).
    pub cluster: u32,
    /// File size in bytes (0 for directories).
    pub size: u32,
}

impl DirEntry {
    /// The 32 on-disk bytes.
    pub fn to_bytes(&self) -> [u8; DIR_ENTRY_SIZE] {
        let mut b = [0u8; DIR_ENTRY_SIZE];
        b[0..11].copy_from_slice(&self.name);
        if b[0] == 0xE5 {
            b[0] = 0x05;
        }
        b[11] = self.attr;
        b[12] = self.case;
        // 13: creation time, 10 ms units: 0 (2-second resolution like the other times).
        b[14..16].copy_from_slice(&self.time.time.to_le_bytes());
        b[16..18].copy_from_slice(&self.time.date.to_le_bytes());
        b[18..20].copy_from_slice(&self.time.date.to_le_bytes());
        b[20..22].copy_from_slice(&((self.cluster >> 16) as u16).to_le_bytes());
        b[22..24].copy_from_slice(&self.time.time.to_le_bytes());
        b[24..26].copy_from_slice(&self.time.date.to_le_bytes());
        b[26..28].copy_from_slice(&(self.cluster as u16).to_le_bytes());
        b[28..32].copy_from_slice(&self.size.to_le_bytes());
        b
    }
}

/// Checksum of an 11-byte short name, stored in each of its long-name slots.
pub fn lfn_checksum(short: &[u8; 11]) -> u8 {
    short
        .iter()
        .fold(0u8, |sum, &c| sum.rotate_right(1).wrapping_add(c))
}

/// The long-name slots for `units` (UTF-16), in on-disk order (last part first).
pub fn lfn_slots(units: &[u16], checksum: u8) -> Vec<[u8; DIR_ENTRY_SIZE]> {
    let count = units.len().div_ceil(LFN_CHARS_PER_SLOT);
    let mut slots = Vec::with_capacity(count);
    for seq in (1..=count).rev() {
        let mut b = [0u8; DIR_ENTRY_SIZE];
        b[0] = seq as u8 | if seq == count { LFN_LAST } else { 0 };
        b[11] = ATTR_LONG_NAME;
        b[13] = checksum;
        let start = (seq - 1) * LFN_CHARS_PER_SLOT;
        for (k, off) in LFN_CHAR_OFFSETS.iter().enumerate() {
            // After the name: one NUL terminator, then 0xFFFF padding.
            let unit = match units.get(start + k) {
                Some(&u) => u,
                None if start + k == units.len() => 0x0000,
                None => 0xFFFF,
            };
            b[*off..off + 2].copy_from_slice(&unit.to_le_bytes());
        }
        slots.push(b);
    }
    slots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert_like_gmtime() {
        // 2024-02-29 12:34:56 UTC, a leap day.
        let t = UtcDateTime::from_unix(1_709_210_096);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second),
            (2024, 2, 29, 12, 34, 56)
        );
        let t = UtcDateTime::from_unix(-1);
        assert_eq!((t.year, t.month, t.day, t.second), (1969, 12, 31, 59));
        // mkfs.fat --invariant's fixed time 1426325213 = 2015-03-14 09:26:53.
        let f = FatDateTime::from_unix(1_426_325_213);
        assert_eq!(f.date, (35 << 9) | (3 << 5) | 14);
        assert_eq!(f.time, (9 << 11) | (26 << 5) | 26);
        assert_eq!(
            FatDateTime::from_unix(0),
            FatDateTime::from_unix(FAT_EPOCH_MIN)
        );
        assert_eq!(FatDateTime::from_unix(FAT_EPOCH_MIN).date, 0x21);
    }

    #[test]
    fn fat12_packs_two_entries_in_three_bytes() {
        let b = encode_fat(FatType::Fat12, &[0xFF8, 0xFFF, 0x003, 0xABC], 6);
        assert_eq!(b, [0xF8, 0xFF, 0xFF, 0x03, 0xC0, 0xAB]);
    }
}
