//! GNU tar "oldgnu" sparse member constants (GNU tar manual, "GNU Tar Sparse Formats",
//! old GNU format), as `tar -S` writes by default, and gzip header constants (RFC 1952).

/// Tar block size.
pub const BLOCK: usize = 512;
/// GNU tar pads the archive to a multiple of its record (blocking factor 20).
pub const RECORD: usize = 20 * BLOCK;
/// Type flag of an old-GNU sparse file.
pub const TYPE_SPARSE: u8 = b'S';
/// Magic and version of the old GNU format: "ustar  \0".
pub const MAGIC_OLDGNU: &[u8; 8] = b"ustar  \0";
/// Sparse map entries in the header block.
pub const HEADER_SPARSE_ENTRIES: usize = 4;
/// Sparse map entries in one extension block.
pub const EXTENSION_SPARSE_ENTRIES: usize = 21;
/// Bytes of one sparse entry (offset[12], numbytes[12]).
pub const SPARSE_ENTRY: usize = 24;

/// Header field offsets and widths.
pub mod header {
    /// name[100].
    pub const NAME: usize = 0;
    /// mode[8].
    pub const MODE: (usize, usize) = (100, 8);
    /// uid[8].
    pub const UID: (usize, usize) = (108, 8);
    /// gid[8].
    pub const GID: (usize, usize) = (116, 8);
    /// size[12]: bytes stored in the archive.
    pub const SIZE: (usize, usize) = (124, 12);
    /// mtime[12].
    pub const MTIME: (usize, usize) = (136, 12);
    /// chksum[8].
    pub const CHKSUM: (usize, usize) = (148, 8);
    /// typeflag.
    pub const TYPEFLAG: usize = 156;
    /// magic[6] + version[2].
    pub const MAGIC: usize = 257;
    /// uname[32].
    pub const UNAME: usize = 265;
    /// gname[32].
    pub const GNAME: usize = 297;
    /// First of four sparse entries.
    pub const SPARSE: usize = 386;
    /// isextended: an extension block follows.
    pub const IS_EXTENDED: usize = 482;
    /// realsize[12]: the file's real size.
    pub const REALSIZE: (usize, usize) = (483, 12);
    /// isextended flag in an extension block.
    pub const EXT_IS_EXTENDED: usize = 504;
}

/// gzip member header without name, comment or time: ID1 ID2 CM=deflate FLG=0 MTIME=0
/// XFL=0 OS=3 (Unix), as `gzip -n` writes.
pub const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
/// An empty final fixed-Huffman deflate block, ending a stream whose earlier blocks were
/// sync-flushed.
pub const DEFLATE_FINAL_EMPTY_BLOCK: [u8; 2] = [0x03, 0x00];
