//! VDI (VirtualBox disk image) constants, as QEMU's `block/vdi.c` reads and writes them.
//! Little-endian; UUIDs in mixed-endian (IPRT) order.

/// Text at the start of the header (QEMU's; VirtualBox accepts any).
pub const TEXT: &[u8] = b"<<< QEMU VM Virtual Disk Image >>>\n";
/// Signature.
pub const SIGNATURE: u32 = 0xbeda_107f;
/// Version 1.1.
pub const VERSION: u32 = 0x0001_0001;
/// Header size field (bytes after the pre-header).
pub const HEADER_SIZE: u32 = 0x180;
/// Image type 1: dynamic (blocks allocated on write).
pub const TYPE_DYNAMIC: u32 = 1;
/// Offset of the block map.
pub const BMAP_OFFSET: u64 = 0x200;
/// Sector size.
pub const SECTOR: u64 = 512;
/// Block size (QEMU supports only 1 MiB).
pub const BLOCK: u64 = 1 << 20;
/// Block-map entry of a block that is not allocated (reads as zeros).
pub const UNALLOCATED: u32 = 0xffff_ffff;
/// Most blocks QEMU accepts.
pub const MAX_BLOCKS: u64 = 0x3fff_ffff;

/// Header field offsets.
pub mod header {
    /// Signature.
    pub const SIGNATURE: usize = 0x40;
    /// Version.
    pub const VERSION: usize = 0x44;
    /// Header size.
    pub const HEADER_SIZE: usize = 0x48;
    /// Image type.
    pub const IMAGE_TYPE: usize = 0x4c;
    /// Offset of the block map.
    pub const OFFSET_BMAP: usize = 0x154;
    /// Offset of the data blocks.
    pub const OFFSET_DATA: usize = 0x158;
    /// Sector size.
    pub const SECTOR_SIZE: usize = 0x168;
    /// Disk size in bytes (u64).
    pub const DISK_SIZE: usize = 0x170;
    /// Block size.
    pub const BLOCK_SIZE: usize = 0x178;
    /// Blocks in the image.
    pub const BLOCKS_IN_IMAGE: usize = 0x180;
    /// Blocks allocated.
    pub const BLOCKS_ALLOCATED: usize = 0x184;
    /// Image UUID.
    pub const UUID_IMAGE: usize = 0x188;
    /// UUID of the last snapshot.
    pub const UUID_LAST_SNAP: usize = 0x198;
    /// Total header length.
    pub const LEN: usize = 0x200;
}
