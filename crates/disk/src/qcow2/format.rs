//! qcow2 on-disk constants (QEMU `docs/interop/qcow2.rst`), for version 3 images with 64 KiB
//! clusters, 16-bit refcounts and deflate compression, the defaults of `qemu-img convert -c`.
//! All fields are big-endian.

/// "QFI\xfb".
pub const MAGIC: u32 = 0x5146_49fb;
/// Format version written.
pub const VERSION: u32 = 3;
/// log2 of the cluster size.
pub const CLUSTER_BITS: u32 = 16;
/// Cluster size in bytes.
pub const CLUSTER: u64 = 1 << CLUSTER_BITS;
/// log2 of the refcount width in bits (16-bit refcounts).
pub const REFCOUNT_ORDER: u32 = 4;
/// Bytes per refcount entry.
pub const REFCOUNT_BYTES: u64 = 1 << (REFCOUNT_ORDER - 3);
/// Length of the version-3 header including the compression-type byte and its padding.
pub const HEADER_LENGTH: u32 = 112;
/// Compression type 0: deflate.
pub const COMPRESSION_DEFLATE: u8 = 0;
/// Bytes per L1/L2/refcount-table entry.
pub const ENTRY_BYTES: u64 = 8;
/// Entries in one L2 table.
pub const L2_ENTRIES: u64 = CLUSTER / ENTRY_BYTES;
/// Refcounts in one refcount block.
pub const REFCOUNTS_PER_BLOCK: u64 = CLUSTER / REFCOUNT_BYTES;

/// L1/L2 entry flag: the cluster's refcount is exactly one.
pub const OFLAG_COPIED: u64 = 1 << 63;
/// L2 entry flag: the cluster is compressed.
pub const OFLAG_COMPRESSED: u64 = 1 << 62;
/// Bit where a compressed-cluster descriptor's "additional sectors" field starts
/// (`62 - (cluster_bits - 8)`); the host offset is in the bits below it.
pub const COMPRESSED_SECTORS_SHIFT: u32 = 62 - (CLUSTER_BITS - 8);
/// Sector size used by compressed-cluster descriptors.
pub const COMPRESSED_SECTOR: u64 = 512;
/// deflate window bits QEMU decompresses with (raw deflate, 4 KiB window): compressed
/// clusters must not refer further back than this.
pub const DEFLATE_WINDOW_BITS: u8 = 12;

/// Header field offsets.
pub mod header {
    /// Magic.
    pub const MAGIC: usize = 0;
    /// Version.
    pub const VERSION: usize = 4;
    /// log2 cluster size.
    pub const CLUSTER_BITS: usize = 20;
    /// Virtual size in bytes.
    pub const SIZE: usize = 24;
    /// Entries in the L1 table.
    pub const L1_SIZE: usize = 36;
    /// Offset of the L1 table.
    pub const L1_TABLE_OFFSET: usize = 40;
    /// Offset of the refcount table.
    pub const REFCOUNT_TABLE_OFFSET: usize = 48;
    /// Clusters of the refcount table.
    pub const REFCOUNT_TABLE_CLUSTERS: usize = 56;
    /// log2 of the refcount width.
    pub const REFCOUNT_ORDER: usize = 96;
    /// Header length.
    pub const HEADER_LENGTH: usize = 100;
    /// Compression type byte.
    pub const COMPRESSION_TYPE: usize = 104;
    /// First header extension (here only the end marker: type 0, length 0).
    pub const EXTENSIONS: usize = 112;
}
/// deflate level QEMU compresses with (Z_DEFAULT_COMPRESSION).
pub const DEFLATE_LEVEL: i32 = 6;
/// deflate memLevel QEMU compresses with.
pub const DEFLATE_MEM_LEVEL: i32 = 9;
