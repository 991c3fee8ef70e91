//! EVE's disk partition layouts, as data: make-raw's partition table (GPT numbers, names, type
//! and unique GUIDs, attribute bits, hybrid-MBR entries), the sizes of the seed era and of
//! EVE 17, the presets (live, installer, installed target) and make-raw's `-C` size rule. It
//! turns a make-raw part list (`efi efi_b imga imgb conf conf_win inventory_win installer
//! persist`) into an [`evebuild_disk::LayoutSpec`], which the disk crate places and writes.
//!
//! Sources: `pkg/mkimage-raw-efi/make-raw` in lf-edge/eve at 2c6b415 (EVE 17.3; also
//! golden/make-raw/) and at bd13b1e6d (2024-03, the make-raw the seed BUILD.md describes: 36 MiB
//! ESP, 512 MiB rootfs minimum, 1 MiB CONFIG, no ESP-B).
//!
//! Differences from make-raw, on purpose: conf_win's and inventory_win's unique GUIDs (random in
//! make-raw) are derived from a caller's seed; a part list with neither `efi` nor
//! `inventory_win` gets a plain protective MBR (make-raw would turn its lone 0xEE entry into an
//! active FAT32 entry). Not here: `usb_conf`, the imx8 boot blob (partitions from 8 MiB),
//! installing into an existing Android GPT (HiKey, PART_OFFSET 10), the seed era's FAT-typed
//! `installer` partition. Each is refused with an error naming it.

use evebuild_disk::gpt::format::attr;
use evebuild_disk::mbr::format as mbr;
use evebuild_disk::{
    Disk, Guid, HybridEntry, Layout, LayoutSpec, MbrSpec, PartSize, PartitionSpec,
};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Disk GUID of every EVE disk.
pub const DISK_GUID: Guid = Guid::from_text("ad6871ee-31f9-4cf3-9e09-6f7a25c30050");
/// ESP type (`ef00`).
pub const TYPE_ESP: Guid = Guid::from_text("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
/// Rootfs and installer type: CoreOS "usr", the only type grub's `gptprio.next` considers.
pub const TYPE_USR: Guid = Guid::from_text("5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6");
/// CONFIG type (EVE's own).
pub const TYPE_CONFIG: Guid = Guid::from_text("13307e62-cd9c-4920-8f9b-91b45828b798");
/// Microsoft basic data (conf_win, inventory_win), mountable on Windows and macOS.
pub const TYPE_MS_BASIC_DATA: Guid = Guid::from_text("ebd0a0a2-b9e5-4433-87c0-68b6b72699c7");
/// P3 (persist) type.
pub const TYPE_PERSIST: Guid = Guid::from_text("5f24425a-2dfa-11e8-a270-7b663faccc2c");

/// gptprio "active": priority 2 (bit 49) and successful (bit 56), as make-raw sets on the
/// installer partition, or on IMGA (else IMGB).
pub const GPTPRIO_ACTIVE: u64 = (2 << attr::GPTPRIO_PRIORITY_SHIFT) | attr::GPTPRIO_SUCCESSFUL;
/// First partition sector (FIRST_PART_SEC).
pub const FIRST_LBA: u64 = 2048;
/// Partition sizes are rounded up to 1 MiB (`grow_part`).
pub const ALIGNMENT: u64 = MIB;
/// `calc_image_size` adds 10 MiB "to be on the safe side".
pub const SIZE_MARGIN: u64 = 10 * MIB;
/// `calc_installer_part_size` adds 1 MiB to installer.img before rounding.
pub const INSTALLER_EXTRA: u64 = MIB;
/// Sector where legacy GRUB's stage 2 (BOOT.pc) goes, right after the primary GPT.
pub const STAGE2_LBA: u64 = 34;

/// A make-raw part word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    /// ESP-A, `EFI System`, GPT 1.
    Efi,
    /// ESP-B (EVE 17), `EFI System`, GPT 7.
    EfiB,
    /// Rootfs A, `IMGA`, GPT 2.
    Imga,
    /// Rootfs B, `IMGB`, GPT 3 (created empty).
    Imgb,
    /// `CONFIG` with EVE's type, GPT 4.
    Conf,
    /// `CONFIG` as Microsoft basic data (installer media), GPT 4.
    ConfWin,
    /// `INVENTORY` (installer media), GPT 5.
    InventoryWin,
    /// `INSTALLER` (EVE 17 installer media), GPT 6.
    Installer,
    /// `P3`, the rest of the disk, GPT 9.
    Persist,
}

/// One row of make-raw's partition table.
#[derive(Clone, Copy, Debug)]
pub struct PartRow {
    /// The part.
    pub part: Part,
    /// make-raw's word for it.
    pub word: &'static str,
    /// GPT partition number (with PART_OFFSET 0).
    pub number: u32,
    /// GPT name (PARTLABEL).
    pub name: &'static str,
    /// Type GUID.
    pub type_guid: Guid,
    /// Fixed unique GUID; `None` where make-raw leaves it random (derived here).
    pub unique_guid: Option<Guid>,
    /// GPT attribute bits set when the partition is created.
    pub attributes: u64,
    /// MBR type byte sgdisk gives the partition in a hybrid MBR (its GPT type code / 0x100).
    pub mbr_type: u8,
}

/// make-raw's partition table (section "5.1 Constants" of the EVE build facts).
pub const TABLE: [PartRow; 9] = [
    PartRow {
        part: Part::Efi,
        word: "efi",
        number: 1,
        name: "EFI System",
        type_guid: TYPE_ESP,
        unique_guid: Some(Guid::from_text("ad6871ee-31f9-4cf3-9e09-6f7a25c30051")),
        attributes: attr::LEGACY_BIOS_BOOTABLE,
        mbr_type: mbr::TYPE_EFI_SYSTEM,
    },
    PartRow {
        part: Part::Imga,
        word: "imga",
        number: 2,
        name: "IMGA",
        type_guid: TYPE_USR,
        unique_guid: Some(Guid::from_text("ad6871ee-31f9-4cf3-9e09-6f7a25c30052")),
        attributes: 0,
        mbr_type: 0x85,
    },
    PartRow {
        part: Part::Imgb,
        word: "imgb",
        number: 3,
        name: "IMGB",
        type_guid: TYPE_USR,
        unique_guid: Some(Guid::from_text("ad6871ee-31f9-4cf3-9e09-6f7a25c30053")),
        attributes: 0,
        mbr_type: 0x85,
    },
    PartRow {
        part: Part::Conf,
        word: "conf",
        number: 4,
        name: "CONFIG",
        type_guid: TYPE_CONFIG,
        unique_guid: Some(Guid::from_text("ad6871ee-31f9-4cf3-9e09-6f7a25c30054")),
        attributes: 0,
        mbr_type: 0xff,
    },
    PartRow {
        part: Part::ConfWin,
        word: "conf_win",
        number: 4,
        name: "CONFIG",
        type_guid: TYPE_MS_BASIC_DATA,
        unique_guid: None,
        attributes: 0,
        mbr_type: mbr::TYPE_NTFS_EXFAT,
    },
    PartRow {
        part: Part::InventoryWin,
        word: "inventory_win",
        number: 5,
        name: "INVENTORY",
        type_guid: TYPE_MS_BASIC_DATA,
        unique_guid: None,
        attributes: 0,
        mbr_type: mbr::TYPE_NTFS_EXFAT,
    },
    PartRow {
        part: Part::Installer,
        word: "installer",
        number: 6,
        name: "INSTALLER",
        type_guid: TYPE_USR,
        unique_guid: Some(Guid::from_text("ad6871ee-31f9-4cf3-9e09-6f7a25c30060")),
        attributes: 0,
        mbr_type: 0x85,
    },
    PartRow {
        part: Part::EfiB,
        word: "efi_b",
        number: 7,
        name: "EFI System",
        type_guid: TYPE_ESP,
        unique_guid: Some(Guid::from_text("ad6871ee-31f9-4cf3-9e09-6f7a25c30056")),
        attributes: 0,
        mbr_type: mbr::TYPE_EFI_SYSTEM,
    },
    PartRow {
        part: Part::Persist,
        word: "persist",
        number: 9,
        name: "P3",
        type_guid: TYPE_PERSIST,
        unique_guid: Some(Guid::from_text("ad6871ee-31f9-4cf3-9e09-6f7a25c30059")),
        attributes: 0,
        mbr_type: 0xff,
    },
];

impl Part {
    /// This part's row of [`TABLE`].
    pub fn row(self) -> &'static PartRow {
        TABLE
            .iter()
            .find(|r| r.part == self)
            .expect("every part has a row")
    }

    /// make-raw's word.
    pub fn word(self) -> &'static str {
        self.row().word
    }

    /// Parses one make-raw word.
    pub fn parse(word: &str) -> Result<Part, PartitionError> {
        if let Some(r) = TABLE.iter().find(|r| r.word == word) {
            return Ok(r.part);
        }
        Err(match word {
            "usb_conf" => PartitionError::Unsupported {
                what: "usb_conf (a DevicePortConfig USB stick)".into(),
                era: "any",
            },
            _ => PartitionError::UnknownPart(word.to_owned()),
        })
    }

    /// Parses a part list as make-raw does: words separated by white space, across arguments
    /// (`"efi conf_win installer inventory_win"` is one argument in the Makefile).
    pub fn parse_list<'a>(
        args: impl IntoIterator<Item = &'a str>,
    ) -> Result<Vec<Part>, PartitionError> {
        args.into_iter()
            .flat_map(str::split_whitespace)
            .map(Part::parse)
            .collect()
    }
}

/// Partition sizes of one era; every field can be overridden.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// ESP-A (EFI_PART_SIZE).
    pub esp: u64,
    /// ESP-B (EFI_B_PART_SIZE); `None` where the era has no ESP-B.
    pub esp_b: Option<u64>,
    /// Smallest IMGA/IMGB (ROOTFS_PART_SIZE_MIN); larger rootfs images get larger partitions.
    pub rootfs_min: u64,
    /// CONFIG (CONF_PART_SIZE).
    pub conf: u64,
    /// INVENTORY (WIN_INVENTORY_PART_SIZE, 40240 KiB, which rounds to 40 MiB).
    pub inventory: u64,
    /// IMGB is sized from rootfs.img like IMGA (seed era) instead of from an empty image B
    /// (EVE 17: ROOTFS_IMG_B is forced empty, so IMGB is `rootfs_min`).
    pub imgb_from_rootfs: bool,
    /// The era has the INSTALLER partition (EVE 17; the seed era's `installer` was a FAT
    /// partition of another kind).
    pub installer_partition: bool,
}

impl Sizes {
    /// The seed era (make-raw at bd13b1e6d, 2024-03).
    pub const SEED: Sizes = Sizes {
        esp: 36 * MIB,
        esp_b: None,
        rootfs_min: 512 * MIB,
        conf: MIB,
        inventory: 40240 * 1024,
        imgb_from_rootfs: true,
        installer_partition: false,
    };

    /// EVE 17 (make-raw at 2c6b415).
    pub const EVE17: Sizes = Sizes {
        esp: 2 * GIB,
        esp_b: Some(2 * GIB),
        rootfs_min: 10 * GIB,
        conf: 5 * MIB,
        inventory: 40240 * 1024,
        imgb_from_rootfs: false,
        installer_partition: true,
    };
}

/// A named part list with its era's sizes.
#[derive(Clone, Copy, Debug)]
pub struct Preset {
    /// Name (`eve17-live` …).
    pub name: &'static str,
    /// Parts in on-disk order.
    pub parts: &'static [Part],
    /// Sizes.
    pub sizes: Sizes,
    /// Where the list comes from.
    pub source: &'static str,
}

/// The seed's live image: make-raw's default list of that era.
pub const SEED_LIVE: Preset = Preset {
    name: "seed-live",
    parts: &[Part::Efi, Part::Imga, Part::Imgb, Part::Conf, Part::Persist],
    sizes: Sizes::SEED,
    source: "seed BUILD.md: live.raw (makeflash.sh -C, make-raw's default parts)",
};

/// The seed's installer image.
pub const SEED_INSTALLER: Preset = Preset {
    name: "seed-installer",
    parts: &[Part::Efi, Part::Imga, Part::ConfWin],
    sizes: Sizes::SEED,
    source: "seed BUILD.md: installer.raw (makeflash.sh -C live.raw \"efi imga conf_win\")",
};

/// EVE 17's live image (LIVE_PART_SPEC).
pub const EVE17_LIVE: Preset = Preset {
    name: "eve17-live",
    parts: &[Part::Efi, Part::EfiB, Part::Conf, Part::Imga],
    sizes: Sizes::EVE17,
    source: "EVE Makefile LIVE_PART_SPEC = efi efi_b conf imga",
};

/// EVE 17's installer image.
pub const EVE17_INSTALLER: Preset = Preset {
    name: "eve17-installer",
    parts: &[
        Part::Efi,
        Part::ConfWin,
        Part::Installer,
        Part::InventoryWin,
    ],
    sizes: Sizes::EVE17,
    source: "EVE Makefile installer.raw: \"efi conf_win installer inventory_win\"",
};

/// The disk EVE 17's installer writes: make-raw's default list (no `-C`, pre-sized disk).
pub const EVE17_TARGET: Preset = Preset {
    name: "eve17-target",
    parts: &[
        Part::Efi,
        Part::EfiB,
        Part::Imga,
        Part::Imgb,
        Part::Conf,
        Part::Persist,
    ],
    sizes: Sizes::EVE17,
    source: "make-raw default PARTS (the installer's target disk)",
};

/// All presets.
pub const PRESETS: [&Preset; 5] = [
    &SEED_LIVE,
    &SEED_INSTALLER,
    &EVE17_LIVE,
    &EVE17_INSTALLER,
    &EVE17_TARGET,
];

/// The sizes of the input images that partition sizes depend on, and the seed for the GUIDs
/// make-raw leaves random.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// rootfs.img (IMGA).
    pub rootfs: u64,
    /// installer.img (INSTALLER).
    pub installer: u64,
    /// persist.img (counted by `-C`; P3 takes the rest of the disk anyway).
    pub persist: u64,
    /// Seed for conf_win's and inventory_win's unique GUIDs (e.g. a hash of the build inputs).
    pub guid_seed: Vec<u8>,
}

/// What a part list cannot be turned into a layout for.
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// A word make-raw does not know.
    #[error(
        "unknown partition {0:?}: make-raw knows efi efi_b imga imgb conf conf_win inventory_win installer persist"
    )]
    UnknownPart(String),
    /// Something make-raw does that evebuild does not.
    #[error("{what} is not supported ({era} era)")]
    Unsupported {
        /// What.
        what: String,
        /// Which era's sizes were asked for.
        era: &'static str,
    },
    /// legacy GRUB's stage 2 does not fit before the first partition.
    #[error(
        "BOOT.pc is {len} bytes but only {room} bytes fit between the GPT and the first partition"
    )]
    Stage2TooBig {
        /// Its length.
        len: usize,
        /// The room.
        room: u64,
    },
    /// From the disk crate.
    #[error(transparent)]
    Disk(#[from] evebuild_disk::Error),
}

fn round_up_mib(b: u64) -> u64 {
    b.div_ceil(MIB) * MIB
}

/// The layout for `parts` (in disk order) with `sizes` and `inputs`, as make-raw builds it.
pub fn layout_spec(
    parts: &[Part],
    sizes: &Sizes,
    inputs: &Inputs,
) -> Result<LayoutSpec, PartitionError> {
    let era = if sizes.installer_partition {
        "EVE 17"
    } else {
        "seed"
    };
    let rootfs_part = |image: u64| image.max(sizes.rootfs_min);
    // make-raw sets gptprio "active" on the installer partition if there is one, and on IMGA
    // (else IMGB).
    let mut bootable = Vec::new();
    if parts.contains(&Part::Installer) {
        bootable.push(Part::Installer);
    }
    bootable.extend(
        [Part::Imga, Part::Imgb]
            .into_iter()
            .find(|p| parts.contains(p)),
    );

    let mut partitions = Vec::with_capacity(parts.len());
    let mut hybrid: Vec<u32> = Vec::new();
    for &part in parts {
        let row = part.row();
        let size = match part {
            Part::Efi => PartSize::Bytes(sizes.esp),
            Part::EfiB => {
                PartSize::Bytes(sizes.esp_b.ok_or_else(|| PartitionError::Unsupported {
                    what: "efi_b (ESP-B)".into(),
                    era,
                })?)
            }
            Part::Imga => PartSize::Bytes(rootfs_part(inputs.rootfs)),
            Part::Imgb => PartSize::Bytes(rootfs_part(if sizes.imgb_from_rootfs {
                inputs.rootfs
            } else {
                0
            })),
            Part::Conf | Part::ConfWin => PartSize::Bytes(sizes.conf),
            Part::InventoryWin => PartSize::Bytes(sizes.inventory),
            Part::Installer if sizes.installer_partition => {
                PartSize::Bytes(round_up_mib(INSTALLER_EXTRA + inputs.installer))
            }
            Part::Installer => {
                return Err(PartitionError::Unsupported {
                    what: "installer (the seed era's FAT installer partition)".into(),
                    era,
                });
            }
            Part::Persist => PartSize::Rest {
                min: inputs.persist,
            },
        };
        // The hybrid MBR list: efi adds itself, inventory_win adds CONFIG's number and its own.
        match part {
            Part::Efi => hybrid.push(row.number),
            Part::InventoryWin => hybrid.extend([Part::ConfWin.row().number, row.number]),
            _ => {}
        }
        let mut attributes = row.attributes;
        if bootable.contains(&part) {
            attributes |= GPTPRIO_ACTIVE;
        }
        partitions.push(PartitionSpec {
            key: row.word.to_owned(),
            number: row.number,
            name: row.name.to_owned(),
            type_guid: row.type_guid,
            unique_guid: row
                .unique_guid
                .unwrap_or_else(|| Guid::derive(&inputs.guid_seed, row.word)),
            attributes,
            size,
        });
    }

    let mbr = if hybrid.is_empty() {
        MbrSpec::Protective
    } else {
        let entries = hybrid
            .iter()
            .enumerate()
            .map(|(i, &number)| {
                let kind = parts
                    .iter()
                    .map(|p| p.row())
                    .find(|r| r.number == number)
                    .map_or(mbr::TYPE_NTFS_EXFAT, |r| r.mbr_type);
                // fdisk's `a 1` and `t 1 c` (adjust_protective_mbr) edit the first entry.
                if i == 0 {
                    HybridEntry {
                        partition: number,
                        kind: mbr::TYPE_FAT32_LBA,
                        active: true,
                    }
                } else {
                    HybridEntry {
                        partition: number,
                        kind,
                        active: false,
                    }
                }
            })
            .collect();
        MbrSpec::Hybrid(entries)
    };

    Ok(LayoutSpec {
        disk_guid: DISK_GUID,
        first_lba: FIRST_LBA,
        alignment: ALIGNMENT,
        size_margin: SIZE_MARGIN,
        partitions,
        mbr,
    })
}

impl Preset {
    /// This preset's layout for `inputs`.
    pub fn layout_spec(&self, inputs: &Inputs) -> Result<LayoutSpec, PartitionError> {
        layout_spec(self.parts, &self.sizes, inputs)
    }
}

/// Legacy-BIOS GRUB pieces as make-raw's `deploy_legacy_grub` writes them.
#[derive(Clone, Debug)]
pub struct LegacyGrub {
    /// The first 446 bytes of sector 0: GRUB's boot.img with byte 92 (the stage 2 sector
    /// pointer) set to 34.
    pub mbr_code: Vec<u8>,
    /// BOOT.pc padded to whole sectors, for sector 34, with byte 500 (the next-sector
    /// pointer) set to 35.
    pub stage2: Vec<u8>,
}

impl LegacyGrub {
    /// From the contents of EFI/BOOT/BOOT.img and EFI/BOOT/BOOT.pc.
    pub fn new(boot_img: &[u8], boot_pc: &[u8]) -> Result<LegacyGrub, PartitionError> {
        let room = (FIRST_LBA - STAGE2_LBA) * 512;
        if boot_pc.len() as u64 > room {
            return Err(PartitionError::Stage2TooBig {
                len: boot_pc.len(),
                room,
            });
        }
        let mut mbr_code = boot_img[..boot_img.len().min(mbr::BOOT_AREA)].to_vec();
        mbr_code.resize(mbr::BOOT_AREA, 0);
        mbr_code[92] = STAGE2_LBA as u8;
        let mut stage2 = boot_pc.to_vec();
        stage2.resize(boot_pc.len().max(1).next_multiple_of(512), 0);
        stage2[500] = STAGE2_LBA as u8 + 1;
        Ok(LegacyGrub { mbr_code, stage2 })
    }
}

/// The disk for a placed layout: MBR (with legacy GRUB's boot code if given), both GPTs and
/// GRUB's stage 2; partition contents are added with [`Layout::add_file`] and
/// [`Layout::add_bytes`] under the part words (`imga`, `conf` …).
pub fn disk(layout: &Layout, legacy: Option<&LegacyGrub>) -> Result<Disk, PartitionError> {
    let mut disk = layout.disk(legacy.map_or(&[][..], |l| &l.mbr_code))?;
    if let Some(l) = legacy {
        disk.add_bytes(
            STAGE2_LBA * 512,
            l.stage2.clone(),
            "legacy GRUB stage 2 (BOOT.pc)",
        )?;
    }
    Ok(disk)
}
