//! GPT on-disk constants (UEFI specification, "GUID Partition Table Disk Layout").
//!
//! Only the 512-byte-sector, 128-entry table that sgdisk and every EVE image use.

/// Bytes per logical sector.
pub const SECTOR: u64 = 512;
/// "EFI PART".
pub const SIGNATURE: &[u8; 8] = b"EFI PART";
/// Header revision 1.0.
pub const REVISION: u32 = 0x0001_0000;
/// Size of the header proper (the rest of its sector is zero).
pub const HEADER_SIZE: u32 = 92;
/// Number of partition entries in the array.
pub const ENTRY_COUNT: u32 = 128;
/// Size of one partition entry.
pub const ENTRY_SIZE: u32 = 128;
/// Sectors the entry array takes (128 × 128 B / 512 B).
pub const ENTRY_ARRAY_SECTORS: u64 = (ENTRY_COUNT as u64 * ENTRY_SIZE as u64) / SECTOR;
/// LBA of the primary header.
pub const PRIMARY_HEADER_LBA: u64 = 1;
/// LBA of the primary entry array.
pub const PRIMARY_ENTRIES_LBA: u64 = 2;
/// First usable LBA: after the MBR, the header and the entry array.
pub const FIRST_USABLE_LBA: u64 = PRIMARY_ENTRIES_LBA + ENTRY_ARRAY_SECTORS;
/// Sectors at the end of the disk taken by the backup entry array and header.
pub const BACKUP_SECTORS: u64 = ENTRY_ARRAY_SECTORS + 1;
/// Partition names are this many UTF-16 code units.
pub const NAME_UNITS: usize = 36;

/// Header field offsets.
pub mod header {
    /// Header CRC32 (computed with this field zeroed).
    pub const CRC: usize = 16;
    /// This header's LBA.
    pub const MY_LBA: usize = 24;
    /// The other header's LBA.
    pub const ALTERNATE_LBA: usize = 32;
    /// First usable LBA.
    pub const FIRST_USABLE: usize = 40;
    /// Last usable LBA.
    pub const LAST_USABLE: usize = 48;
    /// Disk GUID (mixed-endian).
    pub const DISK_GUID: usize = 56;
    /// LBA of this header's entry array.
    pub const ENTRIES_LBA: usize = 72;
    /// Number of entries.
    pub const ENTRY_COUNT: usize = 80;
    /// Size of one entry.
    pub const ENTRY_SIZE: usize = 84;
    /// CRC32 of the entry array.
    pub const ENTRIES_CRC: usize = 88;
}

/// Partition entry field offsets.
pub mod entry {
    /// Partition type GUID (mixed-endian).
    pub const TYPE_GUID: usize = 0;
    /// Unique partition GUID (mixed-endian).
    pub const UNIQUE_GUID: usize = 16;
    /// First LBA.
    pub const FIRST_LBA: usize = 32;
    /// Last LBA (inclusive).
    pub const LAST_LBA: usize = 40;
    /// Attribute bits.
    pub const ATTRIBUTES: usize = 48;
    /// Name, UTF-16LE.
    pub const NAME: usize = 56;
}

/// Attribute bits (UEFI "GPT Partition Entry Attributes" and the ChromeOS/CoreOS gptprio
/// fields in the type-specific bits 48-63).
pub mod attr {
    /// Bit 0: the platform requires the partition.
    pub const REQUIRED: u64 = 1 << 0;
    /// Bit 2: legacy BIOS bootable.
    pub const LEGACY_BIOS_BOOTABLE: u64 = 1 << 2;
    /// First bit of the 4-bit gptprio priority field (bits 48-51).
    pub const GPTPRIO_PRIORITY_SHIFT: u32 = 48;
    /// First bit of the 4-bit gptprio tries-left field (bits 52-55).
    pub const GPTPRIO_TRIES_SHIFT: u32 = 52;
    /// Bit 56: gptprio "successful".
    pub const GPTPRIO_SUCCESSFUL: u64 = 1 << 56;
}
