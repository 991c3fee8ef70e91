//! MBR on-disk constants (the classic PC partition table) and the CHS geometry gdisk uses.

/// Bytes of boot code before the disk signature.
pub const BOOT_CODE: usize = 440;
/// Bytes a boot loader stage 1 may overwrite (boot code, disk signature and the two reserved
/// bytes), as `dd bs=446 count=1` does.
pub const BOOT_AREA: usize = 446;
/// Offset of the 32-bit disk signature.
pub const DISK_SIGNATURE: usize = 440;
/// Offset of the first of the four 16-byte partition entries.
pub const ENTRIES: usize = 446;
/// Size of one partition entry.
pub const ENTRY_SIZE: usize = 16;
/// Number of primary entries.
pub const ENTRY_COUNT: usize = 4;
/// Offset of the 0x55 0xAA boot signature.
pub const BOOT_SIGNATURE: usize = 510;

/// Entry status byte of an active (bootable) partition.
pub const STATUS_ACTIVE: u8 = 0x80;
/// Partition type of a GPT protective partition.
pub const TYPE_GPT_PROTECTIVE: u8 = 0xEE;
/// Partition type FAT32 with LBA addressing.
pub const TYPE_FAT32_LBA: u8 = 0x0C;
/// Partition type HPFS/NTFS/exFAT, which gdisk uses for Microsoft basic data.
pub const TYPE_NTFS_EXFAT: u8 = 0x07;
/// Partition type EFI system partition.
pub const TYPE_EFI_SYSTEM: u8 = 0xEF;

/// Heads per cylinder of the geometry gdisk assumes for CHS fields.
pub const HEADS: u64 = 255;
/// Sectors per track of that geometry.
pub const SECTORS_PER_TRACK: u64 = 63;
/// Cylinders CHS can address; LBAs beyond are written as the maximum CHS value.
pub const CYLINDERS: u64 = 1024;
/// The CHS triple written for an LBA that CHS cannot express.
pub const CHS_MAX: [u8; 3] = [254, 255, 255];
