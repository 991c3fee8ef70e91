//! Constants of the formats the SBOM reads and writes, with where they come from.

/// The apk database of installed packages, relative to an image root (apk-tools).
pub const APK_INSTALLED: &str = "lib/apk/db/installed";
/// os-release, relative to an image root; `etc/os-release` is often a symlink to it.
pub const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];
/// The kernel linuxkit puts into the rootfs.
pub const KERNEL: &str = "boot/kernel";

/// Largest apk database, os-release or kernel read into memory.
pub const MAX_SMALL_FILE: u64 = 64 << 20;
/// Largest kernel read into memory (a compressed kernel is decompressed to at most this).
pub const MAX_KERNEL: u64 = 256 << 20;

/// ELF magic.
pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";

/// Go build information (`debug/buildinfo`, Go 1.18 and later): the 14-byte magic of the
/// 32-byte header, aligned to 16 bytes in the binary.
pub mod go {
    /// `buildInfoMagic`.
    pub const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
    /// Size of the header the version and module strings follow.
    pub const HEADER: usize = 32;
    /// Alignment of the header in the file.
    pub const ALIGN: u64 = 16;
    /// Header byte 15: flag bits.
    pub const FLAGS_AT: usize = 15;
    /// Flag: the strings are inline (varint length + bytes) after the header (Go 1.18+).
    pub const FLAG_INLINE: u8 = 0x2;
    /// Sentinel before the module information text (`runtime/debug` modinfo).
    pub const MODINFO_START: [u8; 16] = [
        0x30, 0x77, 0xaf, 0x0c, 0x92, 0x74, 0x08, 0x02, 0x41, 0xe1, 0xc1, 0x07, 0xe6, 0xd6, 0x18,
        0xe6,
    ];
    /// Sentinel after the module information text.
    pub const MODINFO_END: [u8; 16] = [
        0xf9, 0x32, 0x43, 0x31, 0x86, 0x18, 0x20, 0x72, 0x00, 0x82, 0x42, 0x10, 0x41, 0x16, 0xd8,
        0xf2,
    ];
    /// Bytes kept after the magic to parse the header and strings (module lists of large
    /// programs run to tens of KiB).
    pub const MAX_INFO: usize = 1 << 20;
}

/// The x86 Linux boot protocol (`Documentation/arch/x86/boot.rst`).
pub mod bzimage {
    /// `HdrS` at 0x202.
    pub const HEADER_MAGIC: &[u8; 4] = b"HdrS";
    /// Offset of the magic.
    pub const HEADER_MAGIC_AT: usize = 0x202;
    /// Offset of `kernel_version` (u16, little-endian; the string is at it + 0x200).
    pub const KERNEL_VERSION_AT: usize = 0x20e;
    /// Base the `kernel_version` pointer is relative to.
    pub const KERNEL_VERSION_BASE: usize = 0x200;
}

/// gzip magic (a compressed arm64 `Image.gz`).
pub const GZIP_MAGIC: &[u8; 2] = b"\x1f\x8b";
/// The kernel banner every kernel image holds uncompressed (`linux_banner`).
pub const LINUX_BANNER: &[u8] = b"Linux version ";

/// SPDX 2.3 document constants (spdx-spec 2.3 §6).
pub mod spdx {
    /// `spdxVersion`.
    pub const VERSION: &str = "SPDX-2.3";
    /// `dataLicense`, the only one allowed.
    pub const DATA_LICENSE: &str = "CC0-1.0";
    /// The document's own id.
    pub const DOCUMENT_ID: &str = "SPDXRef-DOCUMENT";
    /// "No assertion".
    pub const NOASSERTION: &str = "NOASSERTION";
    /// Where evebuild's namespaces start (a URI that names, it need not resolve).
    pub const NAMESPACE_BASE: &str = "https://lfedge.org/eve/spdx";
}

/// The Linux kernel's CPE vendor and product (NVD).
pub const KERNEL_CPE: &str = "cpe:2.3:o:linux:linux_kernel";
/// The Go standard library's CPE vendor and product (NVD).
pub const GO_CPE: &str = "cpe:2.3:a:golang:go";
