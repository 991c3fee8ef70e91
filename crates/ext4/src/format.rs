//! ext4 facts this writer relies on: the mke2fs configuration it pins, EVE's size rule, the
//! range of inode times and the encoding of device numbers in an inode.

/// Filesystem block size (EVE: `mkfs.ext4 -b 4096`).
pub const BLOCK_SIZE: u64 = 4096;
/// Volume label EVE gives the rootfs (`-L eve_rootfs`).
pub const EVE_LABEL: &str = "eve_rootfs";
/// EVE's size rule adds this many blocks to the content's (pkg/mkrootfs-ext4 `make-rootfs`).
pub const EVE_EXTRA_BLOCKS: u64 = 16000;
/// EVE's size rule adds this much headroom for LIVE_UPDATE.
pub const EVE_HEADROOM: u64 = 800 * 1024 * 1024;
/// Targets shorter than this are stored in the inode ("fast" symlinks).
pub const FAST_SYMLINK_MAX: usize = 59;

/// The mke2fs configuration used for every image (given as `MKE2FS_CONFIG`), so the host's
/// /etc/mke2fs.conf never changes the result. The ext4 feature list is e2fsprogs 1.46's default
/// (also Debian bookworm's): 1.47 upstream adds `metadata_csum_seed` (an incompat feature
/// older GRUBs refuse) and `orphan_file` (kernels before 5.15 mount it read-only). The size
/// classes are upstream's.
pub const MKE2FS_CONF: &str = "\
[defaults]
\tbase_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
\tdefault_mntopts = acl,user_xattr
\tenable_periodic_fsck = 0
\tblocksize = 4096
\tinode_size = 256
\tinode_ratio = 16384

[fs_types]
\text4 = {
\t\tfeatures = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
\t}
\tsmall = {
\t\tblocksize = 1024
\t\tinode_ratio = 4096
\t}
\tfloppy = {
\t\tblocksize = 1024
\t\tinode_ratio = 8192
\t}
\tbig = {
\t\tinode_ratio = 32768
\t}
\thuge = {
\t\tinode_ratio = 65536
\t}
";

/// Earliest inode time ext4 can hold with 256-byte inodes (32-bit signed seconds).
pub const TIME_MIN: i64 = -(1 << 31);
/// Latest inode time: two extra epoch bits extend the range to 2446-05-10.
pub const TIME_MAX: i64 = (1 << 34) - (1 << 31) - 1;

/// EVE's image size for content that `du -sk` counts as `du_kib`:
/// `(du_kib / 4 + 16000) * 4096 + 800 MiB` (already a whole number of KiB).
pub fn eve_image_size(du_kib: u64) -> u64 {
    (du_kib / 4 + EVE_EXTRA_BLOCKS) * BLOCK_SIZE + EVE_HEADROOM
}

/// The two device-number words of an inode's block map (`i_block[0]`, `i_block[1]`): the old
/// 8:8 encoding when both fit, the new 12:20 one otherwise (as the kernel and e2fsprogs do).
pub fn device_words(major: u32, minor: u32) -> (u32, u32) {
    if major < 256 && minor < 256 {
        (major << 8 | minor, 0)
    } else {
        (0, (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_rule_and_device_numbers() {
        // 100 MiB of content: 25600 + 16000 blocks, plus 800 MiB.
        assert_eq!(
            eve_image_size(100 * 1024),
            41_600 * 4096 + 800 * 1024 * 1024
        );
        assert_eq!(device_words(1, 3), (0x103, 0));
        assert_eq!(
            device_words(300, 70_000),
            (0, 0x70 | 300 << 8 | 0x11100 << 12)
        );
    }
}
