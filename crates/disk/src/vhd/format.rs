//! VHD constants (Microsoft "Virtual Hard Disk Image Format Specification" 1.0), for dynamic
//! disks. Big-endian.

/// Footer cookie.
pub const FOOTER_COOKIE: &[u8; 8] = b"conectix";
/// Dynamic disk header cookie.
pub const DYNAMIC_COOKIE: &[u8; 8] = b"cxsparse";
/// Footer "features": reserved bit, always set.
pub const FEATURES: u32 = 2;
/// File format version 1.0.
pub const VERSION: u32 = 0x0001_0000;
/// Creator application: QEMU's tag for images whose size is the footer's current size (not
/// the CHS geometry), so readers take the exact size.
pub const CREATOR_APP: &[u8; 4] = b"qem2";
/// Creator version (QEMU's).
pub const CREATOR_VERSION: u32 = 0x0005_0003;
/// Creator host OS "Wi2k", as QEMU writes.
pub const CREATOR_OS: &[u8; 4] = b"Wi2k";
/// Disk type 3: dynamic.
pub const TYPE_DYNAMIC: u32 = 3;
/// Seconds from the Unix epoch to the VHD epoch (2000-01-01 00:00:00 UTC).
pub const EPOCH_OFFSET: u64 = 946_684_800;
/// Sector size.
pub const SECTOR: u64 = 512;
/// Block size of a dynamic disk (2 MiB).
pub const BLOCK: u64 = 2 << 20;
/// Offset of the dynamic disk header (right after the footer copy).
pub const DYNAMIC_HEADER_OFFSET: u64 = 512;
/// Length of the dynamic disk header.
pub const DYNAMIC_HEADER_LEN: usize = 1024;
/// Offset of the BAT.
pub const BAT_OFFSET: u64 = DYNAMIC_HEADER_OFFSET + DYNAMIC_HEADER_LEN as u64;
/// BAT entry of an unallocated block.
pub const UNALLOCATED: u32 = 0xffff_ffff;
/// Largest size the CHS geometry can describe (65535 × 16 × 255 sectors).
pub const MAX_CHS_SECTORS: u64 = 65535 * 16 * 255;

/// Footer field offsets.
pub mod footer {
    /// Features.
    pub const FEATURES: usize = 8;
    /// Format version.
    pub const VERSION: usize = 12;
    /// Offset of the dynamic header (u64).
    pub const DATA_OFFSET: usize = 16;
    /// Time stamp, seconds since 2000.
    pub const TIMESTAMP: usize = 24;
    /// Creator application.
    pub const CREATOR_APP: usize = 28;
    /// Creator version.
    pub const CREATOR_VERSION: usize = 32;
    /// Creator host OS.
    pub const CREATOR_OS: usize = 36;
    /// Original size (u64).
    pub const ORIGINAL_SIZE: usize = 40;
    /// Current size (u64).
    pub const CURRENT_SIZE: usize = 48;
    /// Geometry: cylinders u16, heads u8, sectors u8.
    pub const GEOMETRY: usize = 56;
    /// Disk type.
    pub const DISK_TYPE: usize = 60;
    /// Checksum (one's complement of the byte sum).
    pub const CHECKSUM: usize = 64;
    /// Unique id.
    pub const UNIQUE_ID: usize = 68;
}

/// Dynamic disk header field offsets.
pub mod dynamic {
    /// Data offset (unused, all ones).
    pub const DATA_OFFSET: usize = 8;
    /// BAT offset (u64).
    pub const TABLE_OFFSET: usize = 16;
    /// Header version.
    pub const VERSION: usize = 24;
    /// BAT entries.
    pub const MAX_TABLE_ENTRIES: usize = 28;
    /// Block size.
    pub const BLOCK_SIZE: usize = 32;
    /// Checksum.
    pub const CHECKSUM: usize = 36;
}
