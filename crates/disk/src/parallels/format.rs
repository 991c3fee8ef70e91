//! Parallels expandable image constants (QEMU `docs/interop/parallels.rst`) and the
//! DiskDescriptor.xml parameters of a Parallels disk bundle (QEMU `docs/interop/prl-xml.txt`).
//! Little-endian.

/// Magic of the extended variant, whose BAT counts in clusters (what QEMU writes).
pub const MAGIC_EXT: &[u8; 16] = b"WithouFreSpacExt";
/// Version.
pub const VERSION: u32 = 2;
/// Geometry heads.
pub const HEADS: u32 = 16;
/// Geometry sectors per track (cylinders = sectors / heads / this).
pub const SECTORS_PER_TRACK: u64 = 32;
/// Sector size.
pub const SECTOR: u64 = 512;
/// Cluster size (QEMU's default, 2048 sectors).
pub const CLUSTER: u64 = 1 << 20;
/// Header length; the BAT follows.
pub const HEADER_LEN: usize = 64;

/// Header field offsets.
pub mod header {
    /// Version.
    pub const VERSION: usize = 16;
    /// Heads.
    pub const HEADS: usize = 20;
    /// Cylinders.
    pub const CYLINDERS: usize = 24;
    /// Cluster size in sectors ("tracks").
    pub const TRACKS: usize = 28;
    /// BAT entries.
    pub const BAT_ENTRIES: usize = 32;
    /// Disk size in sectors (u64).
    pub const NB_SECTORS: usize = 36;
    /// In-use marker (0 for an image that is not open).
    pub const IN_USE: usize = 44;
    /// Offset of the data area in sectors.
    pub const DATA_OFF: usize = 48;
}

/// The bundle's descriptor file name.
pub const DESCRIPTOR: &str = "DiskDescriptor.xml";
/// Storage block size written in the descriptor (sectors).
pub const DESCRIPTOR_BLOCKSIZE: u32 = 2048;
