//! VMDK hosted sparse extent constants (VMware "Virtual Disk Format 1.1", `SparseExtentHeader`),
//! with the values `qemu-img convert -O vmdk` uses for a monolithicSparse image.
//! Little-endian; offsets and sizes in 512-byte sectors.

/// "KDMV".
pub const MAGIC: u32 = 0x564d_444b;
/// Version 1.
pub const VERSION: u32 = 1;
/// Flag: valid new-line detection test.
pub const FLAG_NL_DETECT: u32 = 1 << 0;
/// Flag: a redundant grain directory is present.
pub const FLAG_RGD: u32 = 1 << 1;
/// Sector size.
pub const SECTOR: u64 = 512;
/// Grain size in sectors (64 KiB).
pub const GRAIN_SECTORS: u64 = 128;
/// Grain table entries per grain table.
pub const GT_ENTRIES: u64 = 512;
/// Sector of the embedded descriptor.
pub const DESCRIPTOR_OFFSET: u64 = 1;
/// Sectors reserved for the embedded descriptor.
pub const DESCRIPTOR_SECTORS: u64 = 20;
/// Geometry heads written in the descriptor.
pub const HEADS: u64 = 16;
/// Geometry sectors per track written in the descriptor.
pub const SECTORS_PER_TRACK: u64 = 63;
/// Largest cylinder count written in the descriptor.
pub const MAX_CYLINDERS: u64 = 16383;

/// Header field offsets.
pub mod header {
    /// Version.
    pub const VERSION: usize = 4;
    /// Flags.
    pub const FLAGS: usize = 8;
    /// Capacity in sectors (u64).
    pub const CAPACITY: usize = 12;
    /// Grain size in sectors (u64).
    pub const GRAIN_SIZE: usize = 20;
    /// Descriptor offset (u64).
    pub const DESCRIPTOR_OFFSET: usize = 28;
    /// Descriptor size (u64).
    pub const DESCRIPTOR_SIZE: usize = 36;
    /// Grain table entries per grain table (u32).
    pub const GT_ENTRIES: usize = 44;
    /// Redundant grain directory offset (u64).
    pub const RGD_OFFSET: usize = 48;
    /// Grain directory offset (u64).
    pub const GD_OFFSET: usize = 56;
    /// Metadata size: where the grains start (u64).
    pub const OVERHEAD: usize = 64;
    /// The four line-ending test characters "\n \r\n".
    pub const NEWLINE_TEST: usize = 73;
}
