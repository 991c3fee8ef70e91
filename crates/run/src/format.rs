//! # On-disk constants this crate reads
//!
//! The magic numbers that tell disk image formats apart (so QEMU is told the format instead of
//! guessing, which it refuses to do safely for raw images) and the fields of the Linux x86 boot
//! header that carry the kernel's version string.

/// A disk image format QEMU can boot, recognised by a magic at a fixed place.
pub struct ImageMagic {
    /// QEMU's name for the format (`-drive format=`).
    pub qemu_format: &'static str,
    /// Byte offset of the magic.
    pub offset: u64,
    /// The magic bytes.
    pub magic: &'static [u8],
}

/// Disk image magics, checked in order; a file matching none is raw. Sources: QEMU's
/// block drivers (qcow2.c `QCOW_MAGIC`, vmdk.c `VMDK4_MAGIC`, vdi.c `VDI_SIGNATURE` at
/// 0x40 little-endian, vhdx.c file identifier, vpc.c cookie at the start of dynamic images,
/// parallels.c signatures). A fixed-size VHD is a raw disk with a footer and boots as raw, as
/// QEMU's own probing treats it.
pub const IMAGE_MAGICS: &[ImageMagic] = &[
    ImageMagic {
        qemu_format: "qcow2",
        offset: 0,
        magic: b"QFI\xfb",
    },
    ImageMagic {
        qemu_format: "vmdk",
        offset: 0,
        magic: b"KDMV",
    },
    ImageMagic {
        qemu_format: "vdi",
        offset: 0x40,
        magic: &[0x7f, 0x10, 0xda, 0xbe],
    },
    ImageMagic {
        qemu_format: "vhdx",
        offset: 0,
        magic: b"vhdxfile",
    },
    ImageMagic {
        qemu_format: "vpc",
        offset: 0,
        magic: b"conectix",
    },
    ImageMagic {
        qemu_format: "parallels",
        offset: 0,
        magic: b"WithoutFreeSpace",
    },
    ImageMagic {
        qemu_format: "parallels",
        offset: 0,
        magic: b"WithouFreSpacExt",
    },
];

/// ISO 9660: the primary volume descriptor's standard identifier, sector 16 + 1 (ECMA-119 §8.4).
pub const ISO9660_MAGIC_OFFSET: u64 = 0x8001;
/// The ISO 9660 standard identifier.
pub const ISO9660_MAGIC: &[u8] = b"CD001";

/// Linux x86 boot protocol (Documentation/arch/x86/boot.rst): the setup header's `header`
/// field, "HdrS".
pub const BZIMAGE_HDRS_OFFSET: usize = 0x202;
/// The value of the `header` field.
pub const BZIMAGE_HDRS: &[u8] = b"HdrS";
/// The boot protocol version (u16 LE); `kernel_version` exists from 2.00 on.
pub const BZIMAGE_PROTOCOL_OFFSET: usize = 0x206;
/// `kernel_version` (u16 LE): the version string's offset minus 0x200.
pub const BZIMAGE_KERNEL_VERSION_OFFSET: usize = 0x20e;
/// What `kernel_version` is relative to.
pub const BZIMAGE_KERNEL_VERSION_BASE: usize = 0x200;
