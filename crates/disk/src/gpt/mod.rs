//! GPT serialisation: the primary header and entry array (LBA 1-33) and the backup copy at
//! the end of the disk, with their CRC32s, as sgdisk writes them for a 512-byte-sector disk.
//!
//! Partition numbers are entry indices + 1, so a table can put partition 7 on disk before
//! partition 4 (EVE does). This module only serialises; placing partitions is
//! [`crate::layout`]'s job. Not here: reading or repairing existing tables, 4 KiB sectors,
//! entry arrays other than 128 × 128 bytes.

pub mod format;

use crate::guid::Guid;
use format::{entry, header};

/// One used GPT entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GptEntry {
    /// Partition number, 1-based (the entry index + 1).
    pub number: u32,
    /// Partition type GUID.
    pub type_guid: Guid,
    /// Unique partition GUID (PARTUUID).
    pub unique_guid: Guid,
    /// First sector.
    pub first_lba: u64,
    /// Last sector, inclusive.
    pub last_lba: u64,
    /// Attribute bits (see [`format::attr`]).
    pub attributes: u64,
    /// Partition name (PARTLABEL), at most 36 UTF-16 code units.
    pub name: String,
}

/// A GPT for a disk of `disk_sectors` 512-byte sectors.
#[derive(Clone, Debug)]
pub struct Gpt {
    /// Disk GUID.
    pub disk_guid: Guid,
    /// Size of the disk in sectors.
    pub disk_sectors: u64,
    /// Used entries, any order; their numbers must be distinct and within 1..=128.
    pub entries: Vec<GptEntry>,
}

impl Gpt {
    /// First usable sector (34).
    pub fn first_usable_lba(&self) -> u64 {
        format::FIRST_USABLE_LBA
    }

    /// Last usable sector: just before the backup entry array.
    pub fn last_usable_lba(&self) -> u64 {
        self.disk_sectors - format::BACKUP_SECTORS - 1
    }

    /// LBA of the backup header (the disk's last sector).
    pub fn backup_header_lba(&self) -> u64 {
        self.disk_sectors - 1
    }

    /// LBA of the backup entry array.
    pub fn backup_entries_lba(&self) -> u64 {
        self.disk_sectors - format::BACKUP_SECTORS
    }

    /// The 16 KiB entry array.
    pub fn entry_array(&self) -> Vec<u8> {
        let mut out = vec![0u8; (format::ENTRY_COUNT * format::ENTRY_SIZE) as usize];
        for e in &self.entries {
            assert!(
                (1..=format::ENTRY_COUNT).contains(&e.number),
                "GPT partition number {} outside 1..=128",
                e.number
            );
            let at = (e.number as usize - 1) * format::ENTRY_SIZE as usize;
            let slot = &mut out[at..at + format::ENTRY_SIZE as usize];
            slot[entry::TYPE_GUID..entry::TYPE_GUID + 16]
                .copy_from_slice(&e.type_guid.to_mixed_endian());
            slot[entry::UNIQUE_GUID..entry::UNIQUE_GUID + 16]
                .copy_from_slice(&e.unique_guid.to_mixed_endian());
            put_u64(slot, entry::FIRST_LBA, e.first_lba);
            put_u64(slot, entry::LAST_LBA, e.last_lba);
            put_u64(slot, entry::ATTRIBUTES, e.attributes);
            for (i, unit) in e.name.encode_utf16().take(format::NAME_UNITS).enumerate() {
                slot[entry::NAME + 2 * i..entry::NAME + 2 * i + 2]
                    .copy_from_slice(&unit.to_le_bytes());
            }
        }
        out
    }

    /// One header sector. `backup` selects the copy at the end of the disk.
    fn header_sector(&self, backup: bool, entries_crc: u32) -> [u8; format::SECTOR as usize] {
        let mut s = [0u8; format::SECTOR as usize];
        s[..8].copy_from_slice(format::SIGNATURE);
        put_u32(&mut s, 8, format::REVISION);
        put_u32(&mut s, 12, format::HEADER_SIZE);
        let (my, alternate, entries) = if backup {
            (
                self.backup_header_lba(),
                format::PRIMARY_HEADER_LBA,
                self.backup_entries_lba(),
            )
        } else {
            (
                format::PRIMARY_HEADER_LBA,
                self.backup_header_lba(),
                format::PRIMARY_ENTRIES_LBA,
            )
        };
        put_u64(&mut s, header::MY_LBA, my);
        put_u64(&mut s, header::ALTERNATE_LBA, alternate);
        put_u64(&mut s, header::FIRST_USABLE, self.first_usable_lba());
        put_u64(&mut s, header::LAST_USABLE, self.last_usable_lba());
        s[header::DISK_GUID..header::DISK_GUID + 16]
            .copy_from_slice(&self.disk_guid.to_mixed_endian());
        put_u64(&mut s, header::ENTRIES_LBA, entries);
        put_u32(&mut s, header::ENTRY_COUNT, format::ENTRY_COUNT);
        put_u32(&mut s, header::ENTRY_SIZE, format::ENTRY_SIZE);
        put_u32(&mut s, header::ENTRIES_CRC, entries_crc);
        let crc = crc32fast::hash(&s[..format::HEADER_SIZE as usize]);
        put_u32(&mut s, header::CRC, crc);
        s
    }

    /// LBA 1 to 33: the primary header followed by the entry array.
    pub fn primary(&self) -> Vec<u8> {
        let entries = self.entry_array();
        let mut out = self
            .header_sector(false, crc32fast::hash(&entries))
            .to_vec();
        out.extend_from_slice(&entries);
        out
    }

    /// The last 33 sectors of the disk: the backup entry array followed by the backup header.
    pub fn backup(&self) -> Vec<u8> {
        let mut out = self.entry_array();
        let crc = crc32fast::hash(&out);
        out.extend_from_slice(&self.header_sector(true, crc));
        out
    }
}

pub(crate) fn put_u32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

pub(crate) fn put_u64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
