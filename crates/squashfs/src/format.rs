//! squashfs 4.0 on-disk constants and record layouts.
//!
//! Source: the Linux kernel's `fs/squashfs/squashfs_fs.h` and squashfs-tools' `squashfs_fs.h`
//! (the format is the same in both). Everything is little-endian. Records are serialised by
//! the `put_*` helpers into byte vectors; nothing here knows about entries or compression.

/// `hsqs`: the superblock magic.
pub const MAGIC: u32 = 0x7371_7368;
/// Format version written: 4.0.
pub const VERSION_MAJOR: u16 = 4;
/// Format version written: 4.0.
pub const VERSION_MINOR: u16 = 0;
/// Size of the superblock at offset 0.
pub const SUPERBLOCK_SIZE: usize = 96;
/// Uncompressed size of one metadata block.
pub const METADATA_SIZE: usize = 8192;
/// Bit 15 of a metadata block header: the block is stored uncompressed.
pub const METADATA_UNCOMPRESSED: u16 = 0x8000;
/// Bit 24 of a data block or fragment size: the block is stored uncompressed.
pub const DATA_UNCOMPRESSED: u32 = 1 << 24;
/// "No fragment" / "no xattrs" marker in inodes.
pub const INVALID_INDEX: u32 = 0xffff_ffff;
/// "No table" marker for optional table offsets in the superblock.
pub const INVALID_TABLE: u64 = 0xffff_ffff_ffff_ffff;
/// Smallest and largest block sizes the kernel accepts.
pub const MIN_BLOCK_SIZE: u32 = 4096;
/// Largest block size (1 MiB).
pub const MAX_BLOCK_SIZE: u32 = 1 << 20;
/// Longest name a directory entry holds.
pub const MAX_NAME: usize = 256;
/// Most entries one directory header may cover.
pub const DIR_HEADER_MAX_ENTRIES: usize = 256;
/// Most distinct uids and gids together (the id index in inodes is 16 bits).
pub const MAX_IDS: usize = 65536;
/// Images are padded to a multiple of this (as mksquashfs does, for loop devices).
pub const PAD_TO: u64 = 4096;
/// Largest device major and minor numbers the 32-bit `rdev` encoding keeps.
pub const MAX_MAJOR: u32 = 0xfff;
/// See [`MAX_MAJOR`].
pub const MAX_MINOR: u32 = 0xf_ffff;

/// Superblock flags (`SQUASHFS_*` bits of `flags`).
pub mod flags {
    /// Identical files were detected and stored once.
    pub const DUPLICATES: u16 = 0x0040;
    /// An export table is present.
    pub const EXPORTABLE: u16 = 0x0080;
    /// Tail ends of larger files are packed into fragments.
    pub const ALWAYS_FRAGMENTS: u16 = 0x0020;
    /// Compressor options follow the superblock.
    pub const COMPRESSOR_OPTIONS: u16 = 0x0400;
}

/// Compressor ids in the superblock.
pub mod compressor {
    /// zlib (deflate with zlib header).
    pub const GZIP: u16 = 1;
    /// xz (LZMA2 in the .xz container).
    pub const XZ: u16 = 4;
    /// LZ4 block format.
    pub const LZ4: u16 = 5;
    /// Zstandard frames.
    pub const ZSTD: u16 = 6;
}

/// xz compressor option bits naming the BCJ filters images may use (squashfs-tools order).
pub mod xz_filter_bits {
    /// x86 (32 and 64 bit) BCJ.
    pub const X86: u32 = 1 << 0;
    /// PowerPC (big endian) BCJ.
    pub const POWERPC: u32 = 1 << 1;
    /// IA-64 BCJ.
    pub const IA64: u32 = 1 << 2;
    /// 32-bit ARM BCJ.
    pub const ARM: u32 = 1 << 3;
    /// ARM Thumb BCJ.
    pub const ARMTHUMB: u32 = 1 << 4;
    /// SPARC BCJ.
    pub const SPARC: u32 = 1 << 5;
    /// ARM64 BCJ (squashfs-tools 4.6 and later, Linux 6.x).
    pub const ARM64: u32 = 1 << 6;
    /// RISC-V BCJ (squashfs-tools 4.6 and later).
    pub const RISCV: u32 = 1 << 7;
}

/// Default compression levels mksquashfs leaves out of the compressor options.
pub const GZIP_DEFAULT_LEVEL: u32 = 9;
/// gzip window bits default.
pub const GZIP_DEFAULT_WINDOW: u16 = 15;
/// zstd level mksquashfs uses by default.
pub const ZSTD_DEFAULT_LEVEL: i32 = 15;
/// lz4 compressor options version ("legacy" frame-less blocks), the only one the kernel takes.
pub const LZ4_LEGACY: u32 = 1;

/// Inode types. Basic types are also the directory entry types.
pub mod inode_type {
    /// Directory.
    pub const DIR: u16 = 1;
    /// Regular file.
    pub const FILE: u16 = 2;
    /// Symbolic link.
    pub const SYMLINK: u16 = 3;
    /// Block device.
    pub const BLKDEV: u16 = 4;
    /// Character device.
    pub const CHRDEV: u16 = 5;
    /// Named pipe.
    pub const FIFO: u16 = 6;
    /// Offset from a basic type to its extended variant (`LDIR` = `DIR` + 7 …).
    pub const EXTENDED: u16 = 7;
}

/// Bytes of the common inode header (type, mode, uid, gid, mtime, number).
pub const INODE_HEADER_SIZE: usize = 16;
/// Bytes of one directory header (count, start, inode number).
pub const DIR_HEADER_SIZE: usize = 12;
/// Bytes of one directory entry before its name.
pub const DIR_ENTRY_SIZE: usize = 8;
/// Bytes of one directory index entry before its name.
pub const DIR_INDEX_SIZE: usize = 12;
/// Bytes of one fragment table entry.
pub const FRAGMENT_ENTRY_SIZE: usize = 16;
/// Bytes of one xattr id table entry.
pub const XATTR_ID_SIZE: usize = 16;
/// Xattr name-prefix ids, with the prefix they stand for. Other namespaces cannot be stored.
pub const XATTR_PREFIXES: [(&[u8], u16); 3] = [(b"user.", 0), (b"trusted.", 1), (b"security.", 2)];

/// A position in a metadata table: the start of the compressed block (relative to the table)
/// and the offset inside its uncompressed contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MetaRef {
    /// Byte offset of the metadata block from the start of its table.
    pub block: u64,
    /// Offset inside the uncompressed block (< 8192).
    pub offset: u16,
}

impl MetaRef {
    /// The 48-bit packed form used for inode references (`block << 16 | offset`).
    pub fn packed(self) -> u64 {
        (self.block << 16) | u64::from(self.offset)
    }
}

/// Little-endian serialisation helpers for records built in byte vectors.
pub trait Put {
    /// Appends a u16.
    fn put_u16(&mut self, v: u16);
    /// Appends a u32.
    fn put_u32(&mut self, v: u32);
    /// Appends a u64.
    fn put_u64(&mut self, v: u64);
}

impl Put for Vec<u8> {
    fn put_u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn put_u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
}

/// The superblock (all fields of the 96-byte record).
#[derive(Debug, Clone, Default)]
pub struct Superblock {
    /// Number of inodes.
    pub inode_count: u32,
    /// Filesystem creation time.
    pub mkfs_time: u32,
    /// Data block size.
    pub block_size: u32,
    /// Number of fragment blocks.
    pub fragment_count: u32,
    /// Compressor id ([`compressor`]).
    pub compressor: u16,
    /// Superblock flags ([`flags`]).
    pub flags: u16,
    /// Number of distinct uids/gids.
    pub id_count: u16,
    /// Reference of the root directory inode.
    pub root_inode: u64,
    /// End of the last table (image size before padding).
    pub bytes_used: u64,
    /// Start of the id lookup table.
    pub id_table: u64,
    /// Start of the xattr id table header, or [`INVALID_TABLE`].
    pub xattr_id_table: u64,
    /// Start of the inode table.
    pub inode_table: u64,
    /// Start of the directory table.
    pub directory_table: u64,
    /// Start of the fragment lookup table.
    pub fragment_table: u64,
    /// Start of the export lookup table, or [`INVALID_TABLE`].
    pub export_table: u64,
}

impl Superblock {
    /// The 96 bytes written at offset 0.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(SUPERBLOCK_SIZE);
        b.put_u32(MAGIC);
        b.put_u32(self.inode_count);
        b.put_u32(self.mkfs_time);
        b.put_u32(self.block_size);
        b.put_u32(self.fragment_count);
        b.put_u16(self.compressor);
        b.put_u16(self.block_size.trailing_zeros() as u16);
        b.put_u16(self.flags);
        b.put_u16(self.id_count);
        b.put_u16(VERSION_MAJOR);
        b.put_u16(VERSION_MINOR);
        b.put_u64(self.root_inode);
        b.put_u64(self.bytes_used);
        b.put_u64(self.id_table);
        b.put_u64(self.xattr_id_table);
        b.put_u64(self.inode_table);
        b.put_u64(self.directory_table);
        b.put_u64(self.fragment_table);
        b.put_u64(self.export_table);
        debug_assert_eq!(b.len(), SUPERBLOCK_SIZE);
        b
    }
}

/// Encodes a device number the way the kernel's `new_decode_dev` reads it back.
pub fn encode_rdev(major: u32, minor: u32) -> u32 {
    (major << 8) | (minor & 0xff) | ((minor & !0xff) << 12)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rdev_matches_the_kernel_decoding() {
        // new_decode_dev: major = (dev & 0xfff00) >> 8, minor = (dev & 0xff) | ((dev >> 12) & 0xfff00)
        for (major, minor) in [(1, 3), (8, 0), (0xfff, 0xf_ffff), (253, 0x1234)] {
            let d = encode_rdev(major, minor);
            assert_eq!((d & 0xfff00) >> 8, major);
            assert_eq!((d & 0xff) | ((d >> 12) & 0xfff00), minor);
        }
    }
}
