//! The partition layout engine: from a list of partitions (in on-disk order) to sector ranges,
//! the GPT, the protective or hybrid MBR, and a [`Disk`] with the tables in place.
//!
//! Placement follows make-raw's `grow_part`: the first partition starts at `first_lba`, each
//! size is rounded up to `alignment`, the next partition starts right after, and a
//! [`PartSize::Rest`] partition (which must be last) ends at the last usable sector. Partition
//! numbers are fixed by the caller and independent of disk order. [`LayoutSpec::required_size`]
//! is make-raw's `-C` computation (requested sizes + a margin, rounded up) and
//! [`LayoutSpec::place`] refuses a disk smaller than that with make-raw's message.
//!
//! The hybrid MBR is what `sgdisk -h<n>:<n>:EE` followed by fdisk's `a`/`t` edits gives: the
//! listed partitions in order, then a 0xEE entry from sector 1 up to the first listed
//! partition. The module knows nothing about EVE: names, GUIDs, sizes and MBR types are data
//! from the caller. Not here: 4 KiB sectors, reusing an existing table (Android GPTs), blobs
//! before the first partition other than through [`Disk::add`].

use crate::Error;
use crate::disk::Disk;
use crate::gpt::{Gpt, GptEntry, format as gpt_format};
use crate::guid::Guid;
use crate::mbr::{Mbr, MbrEntry, format as mbr_format};
use std::fmt;
use std::path::Path;

const SECTOR: u64 = gpt_format::SECTOR;
const MIB: u64 = 1 << 20;

/// How big a partition is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartSize {
    /// This many bytes, rounded up to the layout's alignment when placed (the unrounded value
    /// counts in [`LayoutSpec::required_size`], as in make-raw).
    Bytes(u64),
    /// The rest of the disk, up to the last usable sector. `min` is what it counts in
    /// [`LayoutSpec::required_size`] (make-raw counts the size of persist.img).
    Rest {
        /// Bytes counted towards the required disk size.
        min: u64,
    },
}

/// One partition of a layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// The caller's short name for the partition (make-raw's part word, e.g. `imga`); used in
    /// messages and to find the partition again.
    pub key: String,
    /// GPT partition number (1..=128), independent of the position on disk.
    pub number: u32,
    /// GPT partition name (PARTLABEL).
    pub name: String,
    /// Partition type GUID.
    pub type_guid: Guid,
    /// Unique partition GUID.
    pub unique_guid: Guid,
    /// GPT attribute bits (see [`crate::gpt::format::attr`]).
    pub attributes: u64,
    /// Size.
    pub size: PartSize,
}

/// A partition mirrored in a hybrid MBR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HybridEntry {
    /// GPT number of the partition to mirror.
    pub partition: u32,
    /// MBR partition type byte.
    pub kind: u8,
    /// Status 0x80 (active).
    pub active: bool,
}

/// Which MBR goes in sector 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MbrSpec {
    /// A standard protective MBR (one 0xEE entry over the whole disk).
    Protective,
    /// Up to three GPT partitions mirrored in MBR entries 1.., then a 0xEE entry covering
    /// sector 1 up to the first mirrored partition.
    Hybrid(Vec<HybridEntry>),
}

/// A layout to place on a disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayoutSpec {
    /// Disk GUID.
    pub disk_guid: Guid,
    /// Sector where the first partition starts (2048 for a 1 MiB offset).
    pub first_lba: u64,
    /// Partition sizes are rounded up to this many bytes (a multiple of 512).
    pub alignment: u64,
    /// Bytes added to the sum of the partition sizes by [`LayoutSpec::required_size`].
    pub size_margin: u64,
    /// Partitions in on-disk order.
    pub partitions: Vec<PartitionSpec>,
    /// Sector 0.
    pub mbr: MbrSpec,
}

/// Why a layout cannot be placed.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// The disk is smaller than [`LayoutSpec::required_size`]; make-raw's pre-flight message.
    #[error(
        "ERROR: partition layout requires {required_mib} MiB but disk image is only {actual_mib} MiB.\nRequested partitions: {}",
        .parts.join(" ")
    )]
    TooSmall {
        /// Required size in MiB (rounded down, as make-raw prints it).
        required_mib: u64,
        /// Actual size in MiB (rounded down).
        actual_mib: u64,
        /// The partition keys, in order.
        parts: Vec<String>,
    },
    /// A partition ends past the last usable sector.
    #[error(
        "partition {key} ({name}) would end at sector {last_lba} but the last usable sector is {last_usable}: make the disk larger"
    )]
    DoesNotFit {
        /// Key of the partition.
        key: String,
        /// Its GPT name.
        name: String,
        /// Where it would end.
        last_lba: u64,
        /// The GPT's last usable sector.
        last_usable: u64,
    },
    /// Two partitions share a GPT number, or a number is outside 1..=128.
    #[error("partition {key} has GPT number {number}, which is {why}")]
    BadNumber {
        /// Key of the partition.
        key: String,
        /// Its number.
        number: u32,
        /// "already used by X" or "outside 1..=128".
        why: String,
    },
    /// A [`PartSize::Rest`] partition is not the last one.
    #[error("partition {key} takes the rest of the disk, so it must be the last in the list")]
    RestNotLast {
        /// Key of the partition.
        key: String,
    },
    /// The hybrid MBR names a partition the layout does not have, or one MBR cannot address.
    #[error("hybrid MBR: {0}")]
    Hybrid(String),
    /// The disk size is not a whole number of sectors, or too small to hold a GPT.
    #[error("disk size {0} bytes is not a positive multiple of 512 large enough for a GPT")]
    BadDiskSize(u64),
    /// No partition has this key.
    #[error("the layout has no partition {0:?}")]
    NoSuchPartition(String),
    /// A content is larger than its partition.
    #[error("{label} is {len} bytes but partition {key} holds only {room} bytes")]
    ContentTooBig {
        /// What was being placed.
        label: String,
        /// Its length.
        len: u64,
        /// The partition's key.
        key: String,
        /// The partition's size in bytes.
        room: u64,
    },
}

impl LayoutSpec {
    /// make-raw's `calc_image_size` (the `-C` size): the requested partition sizes (unrounded)
    /// plus the margin, rounded up to 1 MiB.
    pub fn required_size(&self) -> u64 {
        let sum: u64 = self
            .partitions
            .iter()
            .map(|p| match p.size {
                PartSize::Bytes(b) => b,
                PartSize::Rest { min } => min,
            })
            .sum();
        (sum + self.size_margin).div_ceil(MIB) * MIB
    }

    fn keys(&self) -> Vec<String> {
        self.partitions.iter().map(|p| p.key.clone()).collect()
    }

    /// Places the partitions on a disk of `disk_size` bytes.
    pub fn place(&self, disk_size: u64) -> Result<Layout, LayoutError> {
        let required = self.required_size();
        if required > disk_size {
            return Err(LayoutError::TooSmall {
                required_mib: required / MIB,
                actual_mib: disk_size / MIB,
                parts: self.keys(),
            });
        }
        if !disk_size.is_multiple_of(SECTOR)
            || disk_size / SECTOR < gpt_format::FIRST_USABLE_LBA + gpt_format::BACKUP_SECTORS + 1
        {
            return Err(LayoutError::BadDiskSize(disk_size));
        }
        let disk_sectors = disk_size / SECTOR;
        let mut gpt = Gpt {
            disk_guid: self.disk_guid,
            disk_sectors,
            entries: Vec::new(),
        };
        let last_usable = gpt.last_usable_lba();
        let mut placed: Vec<PlacedPartition> = Vec::new();
        let mut next = self.first_lba;
        for (i, p) in self.partitions.iter().enumerate() {
            let why = if !(1..=gpt_format::ENTRY_COUNT).contains(&p.number) {
                Some("outside 1..=128".to_owned())
            } else {
                placed
                    .iter()
                    .find(|q| q.spec.number == p.number)
                    .map(|q| format!("already used by {}", q.spec.key))
            };
            if let Some(why) = why {
                return Err(LayoutError::BadNumber {
                    key: p.key.clone(),
                    number: p.number,
                    why,
                });
            }
            let last_lba = match p.size {
                PartSize::Bytes(b) => {
                    let rounded = b.div_ceil(self.alignment) * self.alignment;
                    next + rounded / SECTOR - 1
                }
                PartSize::Rest { .. } => {
                    if i + 1 != self.partitions.len() {
                        return Err(LayoutError::RestNotLast { key: p.key.clone() });
                    }
                    last_usable
                }
            };
            if last_lba > last_usable || next > last_lba {
                return Err(LayoutError::DoesNotFit {
                    key: p.key.clone(),
                    name: p.name.clone(),
                    last_lba,
                    last_usable,
                });
            }
            placed.push(PlacedPartition {
                spec: p.clone(),
                first_lba: next,
                last_lba,
            });
            next = last_lba + 1;
        }
        gpt.entries = placed
            .iter()
            .map(|p| GptEntry {
                number: p.spec.number,
                type_guid: p.spec.type_guid,
                unique_guid: p.spec.unique_guid,
                first_lba: p.first_lba,
                last_lba: p.last_lba,
                attributes: p.spec.attributes,
                name: p.spec.name.clone(),
            })
            .collect();
        let mbr = match &self.mbr {
            MbrSpec::Protective => Mbr::protective(disk_sectors),
            MbrSpec::Hybrid(list) => hybrid_mbr(list, &placed, disk_sectors)?,
        };
        Ok(Layout {
            disk_size,
            partitions: placed,
            gpt,
            mbr,
        })
    }

    /// Places the partitions on a disk of exactly [`LayoutSpec::required_size`] bytes, as
    /// `make-raw -C` does.
    pub fn place_sized(&self) -> Result<Layout, LayoutError> {
        self.place(self.required_size())
    }
}

fn hybrid_mbr(
    list: &[HybridEntry],
    placed: &[PlacedPartition],
    disk_sectors: u64,
) -> Result<Mbr, LayoutError> {
    if list.len() > mbr_format::ENTRY_COUNT - 1 {
        return Err(LayoutError::Hybrid(format!(
            "{} partitions listed; a hybrid MBR holds at most 3 besides its 0xEE entry",
            list.len()
        )));
    }
    let mut mbr = Mbr {
        boot_code: Vec::new(),
        disk_signature: 0,
        entries: [None; 4],
    };
    for (slot, h) in list.iter().enumerate() {
        let p = placed
            .iter()
            .find(|p| p.spec.number == h.partition)
            .ok_or_else(|| {
                LayoutError::Hybrid(format!("partition {} is not in the layout", h.partition))
            })?;
        let sectors = p.last_lba - p.first_lba + 1;
        if p.last_lba > u64::from(u32::MAX) {
            return Err(LayoutError::Hybrid(format!(
                "partition {} ({}) ends past sector 2^32, which MBR cannot address",
                h.partition, p.spec.key
            )));
        }
        mbr.entries[slot] = Some(MbrEntry {
            active: h.active,
            kind: h.kind,
            first_lba: p.first_lba as u32,
            sectors: sectors as u32,
        });
    }
    // gdisk: the 0xEE entry runs from sector 1 to the end of the free space after it, i.e.
    // up to the first mirrored partition (or the end of the disk).
    let first_used = mbr
        .entries
        .iter()
        .flatten()
        .map(|e| u64::from(e.first_lba))
        .min();
    let ee_last = first_used
        .map_or(disk_sectors - 1, |f| f - 1)
        .min(u64::from(u32::MAX));
    mbr.entries[list.len()] = Some(MbrEntry {
        active: false,
        kind: mbr_format::TYPE_GPT_PROTECTIVE,
        first_lba: 1,
        sectors: ee_last as u32,
    });
    Ok(mbr)
}

/// A partition with its place on the disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlacedPartition {
    /// What was asked for.
    pub spec: PartitionSpec,
    /// First sector.
    pub first_lba: u64,
    /// Last sector, inclusive.
    pub last_lba: u64,
}

impl PlacedPartition {
    /// Byte offset on the disk.
    pub fn offset(&self) -> u64 {
        self.first_lba * SECTOR
    }

    /// Length in bytes.
    pub fn len(&self) -> u64 {
        (self.last_lba - self.first_lba + 1) * SECTOR
    }

    /// Always false: a placed partition has at least one sector.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// A placed layout: partitions with sectors, the GPT and the MBR.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Disk size in bytes.
    pub disk_size: u64,
    /// Partitions in on-disk order.
    pub partitions: Vec<PlacedPartition>,
    /// The partition table.
    pub gpt: Gpt,
    /// Sector 0 (without boot code; see [`Layout::disk`]).
    pub mbr: Mbr,
}

impl Layout {
    /// The partition with this key.
    pub fn partition(&self, key: &str) -> Result<&PlacedPartition, LayoutError> {
        self.partitions
            .iter()
            .find(|p| p.spec.key == key)
            .ok_or_else(|| LayoutError::NoSuchPartition(key.to_owned()))
    }

    /// Sectors 0-33: the MBR (with `boot_code`, at most 446 bytes, over its start) and the
    /// primary GPT.
    pub fn head(&self, boot_code: &[u8]) -> Vec<u8> {
        let mut mbr = self.mbr.clone();
        mbr.boot_code = boot_code.to_vec();
        let mut out = mbr.to_bytes().to_vec();
        out.extend_from_slice(&self.gpt.primary());
        out
    }

    /// A disk of this layout's size holding the MBR and both GPT copies; partition contents
    /// are added with [`Layout::add_file`] and [`Layout::add_bytes`].
    pub fn disk(&self, boot_code: &[u8]) -> Result<Disk, Error> {
        let mut disk = Disk::new(self.disk_size);
        disk.add_bytes(0, self.head(boot_code), "MBR and primary GPT")?;
        let backup = self.gpt.backup_entries_lba() * SECTOR;
        disk.add_bytes(backup, self.gpt.backup(), "backup GPT")?;
        Ok(disk)
    }

    fn room(&self, key: &str, label: &str, len: u64) -> Result<u64, LayoutError> {
        let p = self.partition(key)?;
        if len > p.len() {
            return Err(LayoutError::ContentTooBig {
                label: label.to_owned(),
                len,
                key: key.to_owned(),
                room: p.len(),
            });
        }
        Ok(p.offset())
    }

    /// Places the file at `path` at the start of partition `key` (as make-raw's `dd` does).
    pub fn add_file(&self, disk: &mut Disk, key: &str, path: &Path) -> Result<(), Error> {
        let len = std::fs::metadata(path)
            .map_err(|e| Error::io(path, "stat", e))?
            .len();
        let label = format!("{key} ({})", path.display());
        let offset = self.room(key, &label, len)?;
        disk.add_file(offset, path, label)?;
        Ok(())
    }

    /// Places an in-memory image at the start of partition `key`.
    pub fn add_bytes(&self, disk: &mut Disk, key: &str, bytes: Vec<u8>) -> Result<(), Error> {
        let label = format!("{key} image");
        let offset = self.room(key, &label, bytes.len() as u64)?;
        disk.add_bytes(offset, bytes, label)
    }
}

impl fmt::Display for Layout {
    /// A table like `sgdisk -p` prints, in disk order.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "disk {} bytes, GUID {}",
            self.disk_size, self.gpt.disk_guid
        )?;
        for p in &self.partitions {
            writeln!(
                f,
                "#{:<3} {:<12} {:>10}..{:<10} type {} guid {} attrs {:016x}",
                p.spec.number,
                p.spec.name,
                p.first_lba,
                p.last_lba,
                p.spec.type_guid,
                p.spec.unique_guid,
                p.spec.attributes
            )?;
        }
        Ok(())
    }
}
