//! Disk images: the live layout (the seed's `efi imga imgb conf persist`, or EVE 17's
//! `efi efi_b conf imga` with `LAYOUT=eve17`) placed as `make-raw -C` does, its partitions
//! filled from the ESP, rootfs.img, config.img and persist.img, and written in the asked
//! format straight from those files — live.qcow2 never goes through a raw copy. The grown
//! formats (qcow2, vdi, parallels, gcp) get MEDIA_SIZE as their virtual size, as EVE's rules
//! resize them; raw, vmdk and vhd keep the layout's size.

use super::Build;
use crate::context::Era;
use crate::session::ArtifactReport;
use crate::state::KeyBuilder;
use crate::target::DiskFormat;
use anyhow::{Context as _, Result, bail};
use evebuild_disk::{Disk, Guid, Layout};
use evebuild_eve::partitions::{self, Inputs, Preset};
use std::path::PathBuf;

/// EVE's fixed GUID in the parallels image name (`PARALLELS_UUID` in the Makefile).
const PARALLELS_IMAGE_GUID: Guid = Guid::from_text("5fbaabe3-6958-40ff-92a7-860e329aab41");

/// A disk ready to be written: its layout, the model, and a key over all of it.
pub struct PlannedDisk {
    /// The placed partition table.
    pub layout: Layout,
    /// The disk model.
    pub disk: Disk,
    /// Content key of everything on the disk.
    pub key: String,
}

impl Build<'_> {
    /// The live disk (memoised parts; the disk model is cheap).
    pub fn live_disk(&mut self) -> Result<PlannedDisk> {
        let cx = self.cx;
        let rootfs = self.rootfs_img()?;
        let config = self.config_img()?;
        let persist = self.persist_img()?;
        let preset: &Preset = match cx.era {
            Era::Seed => &partitions::SEED_LIVE,
            Era::Eve17 => &partitions::EVE17_LIVE,
        };
        let mut key = KeyBuilder::new("live disk");
        key.add("preset", preset.name)
            .add("rootfs", &rootfs.sha256)
            .add("config", &config.sha256)
            .add("persist", &persist.sha256);
        let inputs = Inputs {
            rootfs: rootfs.size,
            installer: 0,
            persist: persist.size,
            guid_seed: key.finish().into_bytes(),
        };
        let layout = preset
            .layout_spec(&inputs)?
            .place_sized()
            .context("placing the live partitions")?;
        let esp = self.esp(layout.partition("efi")?.len())?;
        key.add("esp", &esp.sha256);
        let mut disk = partitions::disk(&layout, esp.legacy.as_ref())?;
        layout.add_file(&mut disk, "efi", &esp.path)?;
        layout.add_file(&mut disk, "imga", &rootfs.path)?;
        layout.add_file(&mut disk, "conf", &config.path)?;
        if preset.parts.contains(&partitions::Part::Persist) {
            layout.add_file(&mut disk, "persist", &persist.path)?;
        }
        if preset.parts.contains(&partitions::Part::EfiB) {
            let empty = self.empty_fat(layout.partition("efi_b")?.len(), "EVE")?;
            layout.add_file(&mut disk, "efi_b", &empty)?;
        }
        key.add("layout", layout.to_string());
        Ok(PlannedDisk {
            layout,
            disk,
            key: key.finish(),
        })
    }

    /// `live.<fmt>`.
    pub fn live(&mut self, format: DiskFormat) -> Result<ArtifactReport> {
        let planned = self.live_disk()?;
        self.write_disk(&planned, "live", format)
    }

    /// Writes a planned disk as `<build_dir>/<stem>.<fmt>` (EVE's names).
    pub fn write_disk(
        &mut self,
        planned: &PlannedDisk,
        stem: &str,
        format: DiskFormat,
    ) -> Result<ArtifactReport> {
        let cx = self.cx;
        let media = cx.knobs.media_size_mib * 1024 * 1024;
        let raw_size = planned.disk.size();
        let grown = media.max(raw_size);
        let out: PathBuf = match format {
            DiskFormat::Gcp => cx.build_dir.join(format!("{stem}.img.tar.gz")),
            f => cx.build_dir.join(format!("{stem}.{}", f.name())),
        };
        let mut key = KeyBuilder::new("disk format");
        key.add("disk", &planned.key).add("format", format.name());
        if matches!(
            format,
            DiskFormat::Qcow2 | DiskFormat::Vdi | DiskFormat::Parallels | DiskFormat::Gcp
        ) {
            key.add("media", grown.to_string());
        }
        let key = key.finish();
        let seed = key.as_bytes().to_vec();
        let disk = &planned.disk;
        let threads = Some(cx.jobs);
        let sde = cx.source_date_epoch.max(0) as u64;
        let name = out
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        self.step(&name, &out, &key, true, |b| {
            use evebuild_disk::*;
            match format {
                DiskFormat::Raw => raw::write(disk, &out, None)?,
                DiskFormat::Qcow2 => {
                    if !(cx.knobs.live_update && b.update_in_place(disk, &out, grown)?) {
                        qcow2::write(
                            disk,
                            &out,
                            &qcow2::Options {
                                virtual_size: Some(grown),
                                compress: true,
                                threads,
                            },
                        )?;
                    }
                    super::live_update::remember(disk, &out, grown, &b.state)?;
                }
                DiskFormat::Vdi => {
                    vdi::write(disk, &out, &vdi::Options::from_seed(&seed, Some(grown)))?
                }
                DiskFormat::Parallels => parallels::write_bundle(
                    disk,
                    &out,
                    &parallels::Bundle {
                        virtual_size: Some(grown),
                        prefix: stem.to_string(),
                        image_guid: PARALLELS_IMAGE_GUID,
                        disk_uid: Guid::derive(&seed, "parallels disk"),
                        name: "eve".into(),
                    },
                )?,
                DiskFormat::Gcp => gce::write(
                    disk,
                    &out,
                    &gce::Options {
                        virtual_size: Some(grown),
                        mtime: sde,
                        threads,
                    },
                )?,
                DiskFormat::Vmdk => vmdk::write(
                    disk,
                    &out,
                    &vmdk::Options {
                        virtual_size: None,
                        cid: u32::from_str_radix(&key[..8], 16).expect("hex"),
                    },
                )?,
                DiskFormat::Vhd => vhd::write(
                    disk,
                    &out,
                    &vhd::Options {
                        virtual_size: None,
                        unique_id: Guid::derive(&seed, "vhd"),
                        timestamp: sde,
                    },
                )?,
                DiskFormat::Iso => {
                    bail!("an ISO is made from the installer, not from a disk layout")
                }
            }
            Ok(())
        })
    }

    /// An empty FAT filesystem filling a partition of `part_size` bytes (efi_b, inventory_win).
    pub fn empty_fat(&mut self, part_size: u64, label: &str) -> Result<PathBuf> {
        let cx = self.cx;
        let key = KeyBuilder::new("empty fat")
            .add("size", part_size.to_string())
            .add("label", label)
            .add("epoch", cx.source_date_epoch.to_string())
            .finish();
        let path = cx.build_dir.join(format!(
            ".evebuild/empty-{}-{part_size}.img",
            label.to_lowercase()
        ));
        let sde = cx.source_date_epoch;
        self.step("empty FAT", &path, &key, false, |_| {
            let w = evebuild_fat::FatWriter::new(super::esp::partition_fat(
                part_size, label, &key, sde,
            ))?;
            crate::artifact::write_atomically(&path, |f| {
                w.finish(f)?;
                Ok(())
            })
        })?;
        Ok(path)
    }
}
