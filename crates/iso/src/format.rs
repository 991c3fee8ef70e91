//! ISO 9660 (ECMA-119), SUSP (IEEE P1281), Rock Ridge (RRIP 1.09, IEEE P1282 draft) and
//! El Torito constants and field encoders: everything about the bytes on the medium, kept in
//! one place with the clause it comes from.

use evebuild_tree::time::UtcDateTime;

/// Logical sector (and block) size (ECMA-119 6.1.2; every CD-ROM uses 2048).
pub const SECTOR: u64 = 2048;
/// Sectors 0–15 are the System Area, left zero here (no hybrid MBR/GPT).
pub const SYSTEM_AREA_SECTORS: u32 = 16;
/// Standard identifier of every volume descriptor (8.1.2).
pub const STANDARD_ID: &[u8; 5] = b"CD001";
/// Volume descriptor version (8.1.3).
pub const VD_VERSION: u8 = 1;
/// Volume descriptor type: boot record (8.2; El Torito's pointer to the catalog).
pub const VD_BOOT_RECORD: u8 = 0;
/// Volume descriptor type: primary (8.4).
pub const VD_PRIMARY: u8 = 1;
/// Volume descriptor type: set terminator (8.3).
pub const VD_TERMINATOR: u8 = 255;
/// File structure version of the primary volume descriptor (8.4.31).
pub const FILE_STRUCTURE_VERSION: u8 = 1;
/// Length of the volume identifier field (8.4.6), in d-characters.
pub const VOLUME_ID_LEN: usize = 32;

/// Fixed part of a directory record, before the file identifier (9.1).
pub const DR_FIXED_LEN: usize = 33;
/// Largest directory record: its length is one byte (9.1.1), and records have even length.
pub const DR_MAX_LEN: usize = 254;
/// File flag: the record describes a directory (9.1.6).
pub const FLAG_DIRECTORY: u8 = 0x02;
/// File identifier of a directory's own record (`.`, 7.6.2).
pub const ID_SELF: u8 = 0x00;
/// File identifier of the parent's record (`..`, 7.6.2).
pub const ID_PARENT: u8 = 0x01;
/// Fixed part of a path table record (9.4).
pub const PT_FIXED_LEN: usize = 8;
/// Deepest directory hierarchy allowed (6.8.2.1: at most 8 levels, the root is level 1).
pub const MAX_LEVELS: usize = 8;
/// Interchange level 1 file names: at most 8 d-characters, a dot, at most 3 (7.5.1, 10.1).
pub const LEVEL1_NAME_LEN: usize = 8;
/// Interchange level 1 extension length.
pub const LEVEL1_EXT_LEN: usize = 3;
/// File version number suffix of every file identifier (7.5.1).
pub const FILE_VERSION: &[u8] = b";1";

/// El Torito: the boot system identifier of the boot record volume descriptor.
pub const EL_TORITO_ID: &[u8] = b"EL TORITO SPECIFICATION";
/// Offset of the boot catalog pointer in the boot record volume descriptor.
pub const EL_TORITO_CATALOG_PTR: usize = 71;
/// El Torito catalog entries are 32 bytes.
pub const CATALOG_ENTRY_LEN: usize = 32;
/// Validation entry header id.
pub const VALIDATION_HEADER_ID: u8 = 0x01;
/// Validation entry key bytes (offsets 30, 31).
pub const VALIDATION_KEY: [u8; 2] = [0x55, 0xAA];
/// Boot indicator of a bootable entry.
pub const BOOTABLE: u8 = 0x88;
/// Boot media type: no emulation.
pub const NO_EMULATION: u8 = 0x00;
/// El Torito counts the boot image in 512-byte "virtual sectors", in 16 bits.
pub const VIRTUAL_SECTOR: u64 = 512;
/// Largest boot image an initial entry can describe (0xFFFF virtual sectors).
pub const MAX_BOOT_IMAGE: u64 = 0xFFFF * VIRTUAL_SECTOR;

/// El Torito platform ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// 80x86 BIOS (0x00).
    X86Bios,
    /// UEFI (0xEF): the image is a FAT filesystem holding `EFI/BOOT/BOOT*.EFI`.
    Uefi,
}

impl Platform {
    /// The platform id byte.
    pub fn id(self) -> u8 {
        match self {
            Platform::X86Bios => 0x00,
            Platform::Uefi => 0xEF,
        }
    }
}

/// SUSP: a continuation area pointer (`CE`) is 28 bytes.
pub const CE_LEN: usize = 28;
/// SUSP: the `SP` indicator's check bytes.
pub const SP_CHECK: [u8; 2] = [0xBE, 0xEF];
/// SUSP and RRIP entry version.
pub const SUSP_VERSION: u8 = 1;
/// Largest SUSP entry (its length is one byte).
pub const SUSP_MAX_ENTRY: usize = 255;
/// RRIP 1.09 `PX` (mode, links, uid, gid; no inode number) is 36 bytes.
pub const PX_LEN: usize = 36;
/// RRIP `PN` (device number) is 20 bytes.
pub const PN_LEN: usize = 20;
/// RRIP `TF` flags: modification, access and attribute-change times, short form.
pub const TF_MODIFY_ACCESS_ATTRIBUTES: u8 = 0x02 | 0x04 | 0x08;
/// RRIP `NM`/`SL` flag: continued in the next entry (or component).
pub const RR_CONTINUE: u8 = 0x01;
/// RRIP `SL` component flag: `.`.
pub const SL_CURRENT: u8 = 0x02;
/// RRIP `SL` component flag: `..`.
pub const SL_PARENT: u8 = 0x04;
/// RRIP `SL` component flag: `/` (an absolute target).
pub const SL_ROOT: u8 = 0x08;
/// The extension reference RRIP 1.09 asks for (RRIP 4.3), as Linux, libisofs and
/// cdrkit recognise it.
pub const RRIP_ID: &[u8] = b"RRIP_1991A";
/// Its descriptor text (RRIP 4.3).
pub const RRIP_DESCRIPTOR: &[u8] =
    b"THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS";
/// Its source text (RRIP 4.3).
pub const RRIP_SOURCE: &[u8] = b"PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  \
SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.";

/// Writes `v` as both-byte-order 32 bits (7.3.3) at `out[at..at + 8]`.
pub fn both32(out: &mut [u8], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
    out[at + 4..at + 8].copy_from_slice(&v.to_be_bytes());
}

/// Writes `v` as both-byte-order 16 bits (7.2.3) at `out[at..at + 4]`.
pub fn both16(out: &mut [u8], at: usize, v: u16) {
    out[at..at + 2].copy_from_slice(&v.to_le_bytes());
    out[at + 2..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Appends `v` as both-byte-order 32 bits.
pub fn push_both32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
    out.extend_from_slice(&v.to_be_bytes());
}

/// The 7-byte recording date of directory records and RRIP `TF` (9.1.5), UTC; times outside
/// 1900–2155 are clamped to the nearest representable instant.
pub fn short_date(secs: i64) -> [u8; 7] {
    let t = UtcDateTime::from_unix(secs.clamp(SHORT_DATE_MIN, SHORT_DATE_MAX));
    [
        (t.year - 1900) as u8,
        t.month as u8,
        t.day as u8,
        t.hour as u8,
        t.minute as u8,
        t.second as u8,
        0,
    ]
}

/// 1900-01-01 00:00:00 UTC, the first instant of [`short_date`].
const SHORT_DATE_MIN: i64 = -2_208_988_800;
/// 2155-12-31 23:59:59 UTC, the last instant of [`short_date`].
const SHORT_DATE_MAX: i64 = 5_869_439_999;

/// The 17-byte volume descriptor date (8.4.26.1: `YYYYMMDDHHMMSScc` and a zone offset), UTC;
/// years are clamped to 0001–9999.
pub fn long_date(secs: i64) -> [u8; 17] {
    let t = UtcDateTime::from_unix(secs);
    let year = t.year.clamp(1, 9999);
    let text = format!(
        "{year:04}{:02}{:02}{:02}{:02}{:02}00",
        t.month, t.day, t.hour, t.minute, t.second
    );
    let mut out = [0u8; 17];
    out[..16].copy_from_slice(text.as_bytes());
    out
}

/// A volume descriptor date that is "not specified" (8.4.26.1): sixteen `0` digits and zero.
pub const DATE_UNSET: [u8; 17] = *b"0000000000000000\0";

/// The `dev_t` that glibc's `makedev` makes, split into RRIP `PN`'s high and low words, as
/// mkisofs and libisofs write them (and Linux's isofs reads them back for common numbers).
pub fn pn_words(major: u32, minor: u32) -> (u32, u32) {
    let (major, minor) = (u64::from(major), u64::from(minor));
    let dev = ((major & 0xffff_f000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffff_ff00) << 12)
        | (minor & 0xff);
    ((dev >> 32) as u32, dev as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(short_date(1_700_000_000), [123, 11, 14, 22, 13, 20, 0]);
        assert_eq!(&long_date(1_700_000_000)[..16], b"2023111422132000");
        assert_eq!(short_date(i64::MIN)[0], 0);
        assert_eq!(short_date(i64::MAX)[0], 255);
    }

    #[test]
    fn both_orders() {
        let mut b = [0u8; 8];
        both32(&mut b, 0, 0x0102_0304);
        assert_eq!(b, [4, 3, 2, 1, 1, 2, 3, 4]);
    }

    #[test]
    fn device_numbers() {
        assert_eq!(pn_words(8, 1), (0, 0x801));
        assert_eq!(pn_words(0, 5), (0, 5));
    }
}
