//! MBR sector 0: protective and hybrid MBRs in front of a GPT, as sgdisk `-h` and fdisk build
//! them.
//!
//! CHS fields use gdisk's 255-head, 63-sector geometry, so entries match sgdisk byte for byte.
//! Not here: extended/logical partitions, reading existing MBRs.

pub mod format;

/// One primary MBR partition entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MbrEntry {
    /// Status byte 0x80 (active) instead of 0.
    pub active: bool,
    /// Partition type byte.
    pub kind: u8,
    /// First sector.
    pub first_lba: u32,
    /// Length in sectors.
    pub sectors: u32,
}

/// Sector 0: boot code, disk signature and four primary entries.
#[derive(Clone, Debug)]
pub struct Mbr {
    /// Up to 446 bytes written from offset 0 (boot code, and over the disk signature when
    /// longer than 440 bytes, as `dd bs=446` of a GRUB `boot.img` does).
    pub boot_code: Vec<u8>,
    /// Disk signature at offset 440 (sgdisk writes 0).
    pub disk_signature: u32,
    /// The four primary entries; `None` is an empty slot.
    pub entries: [Option<MbrEntry>; format::ENTRY_COUNT],
}

/// The CHS triple (head, sector | cylinder high bits, cylinder low bits) gdisk writes for `lba`.
pub fn chs(lba: u64) -> [u8; 3] {
    use format::{CHS_MAX, CYLINDERS, HEADS, SECTORS_PER_TRACK};
    if lba == 0 {
        return [0, 0, 0];
    }
    if lba >= HEADS * SECTORS_PER_TRACK * CYLINDERS {
        return CHS_MAX;
    }
    let cylinder = lba / (HEADS * SECTORS_PER_TRACK);
    let rest = lba % (HEADS * SECTORS_PER_TRACK);
    let head = rest / SECTORS_PER_TRACK;
    let sector = rest % SECTORS_PER_TRACK + 1;
    [
        head as u8,
        (sector + (cylinder >> 8) * 64) as u8,
        (cylinder & 0xff) as u8,
    ]
}

impl Mbr {
    /// A standard protective MBR: one 0xEE entry from sector 1 to the end of the disk (capped
    /// at 2^32-1 sectors).
    pub fn protective(disk_sectors: u64) -> Mbr {
        let sectors = (disk_sectors - 1).min(u64::from(u32::MAX)) as u32;
        Mbr {
            boot_code: Vec::new(),
            disk_signature: 0,
            entries: [
                Some(MbrEntry {
                    active: false,
                    kind: format::TYPE_GPT_PROTECTIVE,
                    first_lba: 1,
                    sectors,
                }),
                None,
                None,
                None,
            ],
        }
    }

    /// The 512-byte sector.
    pub fn to_bytes(&self) -> [u8; 512] {
        let mut s = [0u8; 512];
        s[format::DISK_SIGNATURE..format::DISK_SIGNATURE + 4]
            .copy_from_slice(&self.disk_signature.to_le_bytes());
        let code = &self.boot_code[..self.boot_code.len().min(format::BOOT_AREA)];
        s[..code.len()].copy_from_slice(code);
        for (i, e) in self.entries.iter().enumerate() {
            let Some(e) = e else { continue };
            let at = format::ENTRIES + i * format::ENTRY_SIZE;
            let last = u64::from(e.first_lba) + u64::from(e.sectors) - 1;
            s[at] = if e.active { format::STATUS_ACTIVE } else { 0 };
            s[at + 1..at + 4].copy_from_slice(&chs(u64::from(e.first_lba)));
            s[at + 4] = e.kind;
            s[at + 5..at + 8].copy_from_slice(&chs(last));
            s[at + 8..at + 12].copy_from_slice(&e.first_lba.to_le_bytes());
            s[at + 12..at + 16].copy_from_slice(&e.sectors.to_le_bytes());
        }
        s[format::BOOT_SIGNATURE] = 0x55;
        s[format::BOOT_SIGNATURE + 1] = 0xAA;
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chs_matches_gdisk_geometry() {
        // Values fdisk prints for sgdisk-made EVE images (golden make-raw MBR bytes).
        assert_eq!(chs(2048), [0x20, 0x21, 0x00]);
        assert_eq!(chs(4196351), [0x35, 0x70, 0x05]);
        assert_eq!(chs(1), [0x00, 0x02, 0x00]);
        assert_eq!(chs(2047), [0x20, 0x20, 0x00]);
        assert_eq!(chs(255 * 63 * 1024), format::CHS_MAX);
    }
}
