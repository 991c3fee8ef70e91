//! The EFI system partition, as make-raw fills it: `EFI/` from the grub package (the rootfs's
//! init image that carries `EFI/BOOT/BOOT*.EFI`), its `grub.cfg` replaced by EVE's chainload
//! stub, in a FAT filesystem one sector smaller than the partition (`dir2vfat`), FAT32 when
//! that is at least 33792 KiB. Written to `.evebuild/efi.img` in the version's directory: an
//! intermediate, not one of EVE's artifacts.
//!
//! Legacy BIOS: on amd64, when the grub package also carries `EFI/BOOT/BOOT.img` (GRUB's
//! i386-pc boot.img) and `EFI/BOOT/BOOT.pc` (a core.img), the disk gets them as make-raw's
//! `deploy_legacy_grub` writes them (see [`evebuild_eve::partitions::LegacyGrub`]).

use super::Build;
use crate::state::KeyBuilder;
use anyhow::{Context as _, Result, bail};
use evebuild_eve::compose::ImageKind;
use evebuild_eve::partitions::LegacyGrub;
use evebuild_fat::{FatOptions, FatType, FatWriter};
use evebuild_tree::{Entry, EntryPath, Kind, MemTree};
use std::path::PathBuf;

/// make-raw formats partitions of at least this many KiB as FAT32 (`mkfs.vfat -F32`).
const FAT32_FROM_KIB: u64 = 33792;

/// FAT options for a partition of `part_size` bytes as make-raw's `dir2vfat` formats it: one
/// sector smaller than the partition, FAT32 from 33792 KiB, the volume id taken from `key`
/// (a hex content key).
pub fn partition_fat(part_size: u64, label: &str, key: &str, sde: i64) -> FatOptions {
    let kib = (part_size / 512 - 1) / 2;
    let volume_id = u32::from_str_radix(&key[..8], 16).expect("a hex key");
    let opts = FatOptions::new(kib * 1024, volume_id, sde).label(label);
    if kib >= FAT32_FROM_KIB {
        opts.fat_type(FatType::Fat32)
    } else {
        opts
    }
}

/// An ESP image and what it holds.
#[derive(Debug, Clone)]
pub struct Esp {
    /// The image file.
    pub path: PathBuf,
    /// Its SHA-256.
    pub sha256: String,
    /// GRUB's legacy-BIOS boot code and stage 2, for the MBR and sector 34 (amd64 grub
    /// packages that carry `EFI/BOOT/BOOT.img` and `EFI/BOOT/BOOT.pc`).
    pub legacy: Option<LegacyGrub>,
}

impl Build<'_> {
    /// The ESP image for a partition of `part_size` bytes.
    pub fn esp(&mut self, part_size: u64) -> Result<Esp> {
        self.esp_with(part_size, "efi.img", &MemTree::new())
    }

    /// The ESP image for a partition of `part_size` bytes with `extras` added at its root
    /// (the installer's `boot/.uuid` …), written to `.evebuild/<file_name>`.
    pub fn esp_with(&mut self, part_size: u64, file_name: &str, extras: &MemTree) -> Result<Esp> {
        let cx = self.cx;
        let yml = self.resolved_yml(ImageKind::Rootfs)?;
        self.ensure_packages(&yml.packages)?;
        let grub = self.grub_image(&yml.packages)?;
        let mut tree = MemTree::new();
        evebuild_linuxkit::flatten::image_tree(&cx.store, &grub, &mut tree)
            .with_context(|| format!("reading {}", grub.reference))?;
        let mut esp = esp_tree(&tree, cx.source_date_epoch)
            .with_context(|| format!("{} has no EFI/BOOT/BOOT*.EFI", grub.reference))?;
        extras.replay(&mut esp)?;
        let legacy = if cx.knobs.zarch == "amd64" {
            legacy_grub(&esp).with_context(|| format!("legacy-BIOS GRUB of {}", grub.reference))?
        } else {
            None
        };
        let mut key = KeyBuilder::new("esp");
        key.add("grub", grub.manifest_descriptor.digest().to_string())
            .add("stub", evebuild_eve::grub::ESP_STUB_CFG)
            .add("size", part_size.to_string())
            .add("epoch", cx.source_date_epoch.to_string());
        for (e, data) in extras.iter() {
            key.add("extra", e.path.as_bytes()).add("data", data);
        }
        let key = key.finish();
        let path = cx.build_dir.join(".evebuild").join(file_name);
        let sde = cx.source_date_epoch;
        let report = self.step("ESP", &path, &key, false, |_| {
            let mut w = FatWriter::new(partition_fat(part_size, "EVE", &key, sde))?;
            esp.replay(&mut w)?;
            crate::artifact::write_atomically(&path, |f| {
                w.finish(f)?;
                Ok(())
            })
        })?;
        Ok(Esp {
            path,
            sha256: report.sha256,
            legacy,
        })
    }

    /// The grub package's image: the init image of the rootfs that carries EFI/BOOT.
    fn grub_image(
        &self,
        packages: &[(&'static str, evebuild_linuxkit::tag::TagRequest)],
    ) -> Result<evebuild_oci::Image> {
        let Some(reference) = packages
            .iter()
            .find(|(name, _)| *name == "GRUB_TAG")
            .and_then(|(_, req)| self.packages.get(&req.pkg_dir))
        else {
            bail!(
                "the rootfs yml has no GRUB_TAG package (pkg/grub): the ESP needs its \
                 EFI/BOOT/BOOT*.EFI"
            );
        };
        self.ensure_image(reference)
    }
}

/// make-raw's `deploy_legacy_grub` input: `EFI/BOOT/BOOT.img` and `EFI/BOOT/BOOT.pc` of the
/// ESP, when the grub package has `BOOT.pc`.
fn legacy_grub(esp: &MemTree) -> Result<Option<LegacyGrub>> {
    let file = |name: &str| {
        let path = EntryPath::new(format!("EFI/BOOT/{name}")).expect("valid");
        esp.get(&path).map(|(_, data)| data.to_vec())
    };
    let Some(boot_pc) = file("BOOT.pc") else {
        return Ok(None);
    };
    let Some(boot_img) = file("BOOT.img") else {
        bail!("EFI/BOOT/BOOT.pc comes without EFI/BOOT/BOOT.img (GRUB's i386-pc boot.img)");
    };
    Ok(Some(LegacyGrub::new(&boot_img, &boot_pc)?))
}

/// `EFI/` of the grub image with EVE's stub as `EFI/BOOT/grub.cfg`, every time `sde`.
fn esp_tree(image: &MemTree, sde: i64) -> Result<MemTree> {
    let mut esp = MemTree::new();
    let efi = EntryPath::new("EFI").expect("valid");
    let mut has_loader = false;
    for (e, data) in image.iter() {
        if !(e.path == efi || e.path.starts_with_dir(&efi)) {
            continue;
        }
        // `cp -L`: links become what they point at; FAT has no links or owners.
        let kind = match &e.kind {
            Kind::Dir => Kind::Dir,
            Kind::File { .. } | Kind::Hardlink { .. } => Kind::File { size: 0 },
            _ => continue,
        };
        let data = match &e.kind {
            Kind::Hardlink { target } => image
                .get(target)
                .map(|(_, d)| d.to_vec())
                .unwrap_or_default(),
            _ => data.to_vec(),
        };
        let name = e.path.file_name();
        if e.path.depth() == 3 && name.starts_with(b"BOOT") && name.ends_with(b".EFI") {
            has_loader = true;
        }
        esp.insert(Entry::new(e.path.clone(), kind, e.mode, sde), data);
    }
    if !has_loader {
        bail!("no loader");
    }
    esp.add_file(
        "EFI/BOOT/grub.cfg",
        evebuild_eve::grub::ESP_STUB_CFG,
        0o644,
        sde,
    )?;
    Ok(esp)
}
