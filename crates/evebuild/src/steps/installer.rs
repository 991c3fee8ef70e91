//! The installer media, as EVE's Makefile makes them from `images/installer.yml.in`:
//!
//! - `installer/installer.img` — the installer rootfs (the live rootfs.img, config.img and
//!   persist.img inside it as files) assembled like the rootfs and written in ROOTFS_FORMAT
//!   (squashfs, or ext4), with
//!   `installer.tar` (EVE's `installer.tar` target) from the same pass when asked. The same
//!   pass keeps what the ISO takes from that rootfs (`EFI/`, `boot/`, `etc/eve-release`) in
//!   `.evebuild/installer-iso-tree.tar`, so the ISO never reads the squashfs back;
//! - `installer.raw` — make-raw's installer layout: the seed's `efi imga conf_win` (the
//!   installer rootfs in IMGA), or with `LAYOUT=eve17` EVE 17's
//!   `efi conf_win installer inventory_win`; the ESP is the live one plus the installer's
//!   `boot/.boot_repository`, `boot/.uuid` and `UsbInvocationScript.txt`; `installer.qcow2`
//!   is the same disk through the disk writers;
//! - `installer.iso` — make-efi's ISO: the tree above at the root, `boot/.boot_repository`,
//!   `boot/.uuid`, the installer rootfs as `rootfs_installer.img`, and one hidden UEFI El
//!   Torito FAT image holding `EFI/BOOT/*` with EVE's ISO stub as `grub.cfg`.
//!
//! Both `.uuid` files are derived from the build's content keys, not from /dev/random.
//! [`Build::installer_dir_files`] copies the tree's `pkg/eve/installer/*` into `installer/`, as
//! EVE's `$(INSTALLER)` rule does (grub_installer.cfg and etc_issue are `files:` sources of
//! the ymls); the rootfs step runs it.
//!
//! Differences from EVE, on purpose: rootfs_installer.img is installer.img itself (what
//! runme.sh's `installer_iso` does), not a second xz squashfs of installer.tar; when the
//! kernel package brings no `boot/initrd.img`, the ISO has none (make-efi would build a
//! busybox initrd). Not here: `installer.net`, the imx8 blob, u-boot and BIOS pieces.

use super::Build;
use super::disk::PlannedDisk;
use super::rootfs::RootfsOutputs;
use crate::artifact::{write_atomically, write_if_changed};
use crate::context::Era;
use crate::progress::Outcome;
use crate::session::ArtifactReport;
use crate::state::KeyBuilder;
use crate::target::DiskFormat;
use anyhow::{Context as _, Result, bail};
use evebuild_eve::compose::ImageKind;
use evebuild_eve::grub::{ISO_STUB_CFG, ISO_VOLUME_LABEL};
use evebuild_eve::installer as media;
use evebuild_eve::partitions::{self, Inputs, Part, Preset};
use evebuild_iso::{IsoOptions, IsoWriter, Platform, Source};
use evebuild_linuxkit::yml::Config;
use evebuild_tree::tar::{TarSink, read_tar};
use evebuild_tree::{Entry, EntryPath, Kind, MemTree, Sink};
use std::path::PathBuf;

/// Where the installer image step keeps what the ISO takes from the installer rootfs.
const ISO_TREE: &str = ".evebuild/installer-iso-tree.tar";

/// What the installer image step is asked to write besides installer.img.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstallerOutputs {
    /// `installer.tar` (linuxkit's tar of the installer rootfs).
    pub tar: bool,
}

/// The installer rootfs image and its companions.
#[derive(Debug, Clone)]
pub struct InstallerImage {
    /// `installer/installer.img`.
    pub image: ArtifactReport,
    /// `installer.tar`, when asked for.
    pub tar: Option<ArtifactReport>,
    /// The tar of `EFI/`, `boot/` and `etc/eve-release` of the installer rootfs.
    pub iso_tree: ArtifactReport,
}

/// Keeps the parts of the installer rootfs that make-efi copies to the ISO root, less what
/// its `-m 'rootfs-*'` leaves out.
#[derive(Default)]
struct IsoPick(MemTree);

impl Sink for IsoPick {
    fn add(
        &mut self,
        entry: &Entry,
        data: &mut dyn std::io::Read,
    ) -> Result<(), evebuild_tree::Error> {
        if self.wants(entry) {
            self.0.add(entry, data)?;
        }
        Ok(())
    }

    fn wants(&self, entry: &Entry) -> bool {
        let excluded = entry.path.components().any(media::iso_excludes);
        !excluded
            && media::ISO_FROM_ROOTFS.iter().any(|p| {
                let p = EntryPath::new(p).expect("valid");
                entry.path == p || entry.path.starts_with_dir(&p)
            })
    }
}

impl Build<'_> {
    /// Copies `pkg/eve/installer/*` of the tree into `installer/` (EVE's `$(INSTALLER)` rule;
    /// a tree without that directory has nothing to copy).
    pub fn installer_dir_files(&self) -> Result<()> {
        let src = self.cx.project.pkg_dir().join("eve/installer");
        let Ok(dir) = std::fs::read_dir(&src) else {
            return Ok(());
        };
        let mut names: Vec<_> = dir.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for name in names {
            let from = src.join(&name);
            if from.is_file() {
                let bytes =
                    std::fs::read(&from).with_context(|| format!("reading {}", from.display()))?;
                write_if_changed(&self.cx.installer_dir.join(&name), &bytes)?;
            }
        }
        Ok(())
    }

    /// `installer/installer.img` (and `installer.tar` when asked).
    pub fn installer_img(&mut self, want: InstallerOutputs) -> Result<InstallerImage> {
        let cx = self.cx;
        let rootfs = self.rootfs_img()?;
        let config = self.config_img()?;
        let persist = self.persist_img()?;
        let yml = self.resolved_yml(ImageKind::Installer)?;
        self.ensure_packages(&yml.packages)?;
        let parsed = Config::parse(&yml.text, &yml.path.display().to_string())?;
        let known = [&rootfs, &config, &persist].map(|a| (a.path.clone(), a.sha256.clone()));
        let key = self.assembly_key("installer", &yml.text, &parsed, &known)?;

        let image_path = cx.installer_dir.join("installer.img");
        let tar_path = cx.build_dir.join("installer.tar");
        let tree_path = cx.build_dir.join(ISO_TREE);
        // An output is fresh when this session made it or its recorded key matches; only
        // stale ones are written (the image and the ISO tree come from the same pass).
        let fresh = |b: &Self, p: &PathBuf| {
            b.done.contains_key(p) || (!cx.force && b.state.is_fresh(p, &key))
        };
        let image_stale = !fresh(self, &image_path) || !fresh(self, &tree_path);
        let tar_stale = want.tar && !fresh(self, &tar_path);
        if image_stale || tar_stale {
            self.progress.start("installer.img", None);
            let mut pick = IsoPick::default();
            let outputs = RootfsOutputs {
                image: image_stale,
                tar: tar_stale,
                sbom: false,
            };
            let also = image_stale.then_some(&mut pick as &mut dyn Sink);
            self.write_rootfs(&parsed, outputs, &image_path, &tar_path, also)?;
            if image_stale {
                write_atomically(&tree_path, |f| {
                    let mut tar = TarSink::new(std::io::BufWriter::new(f));
                    pick.0.replay(&mut tar)?;
                    tar.finish()?;
                    Ok(())
                })?;
            }
            self.progress.finish("installer.img", Outcome::Built);
        }
        let image = self.step("installer.img", &image_path, &key, true, |_| Ok(()))?;
        let iso_tree = self.step("ISO tree", &tree_path, &key, false, |_| Ok(()))?;
        let tar = match want.tar {
            true => Some(self.step("installer.tar", &tar_path, &key, true, |_| Ok(()))?),
            false => None,
        };
        Ok(InstallerImage {
            image,
            tar,
            iso_tree,
        })
    }

    /// The installer disk: the era's installer preset with the installer rootfs in IMGA
    /// (seed) or INSTALLER (EVE 17).
    pub fn installer_disk(&mut self) -> Result<PlannedDisk> {
        let cx = self.cx;
        let image = self.installer_img(InstallerOutputs::default())?.image;
        let config = self.config_img()?;
        let (preset, rootfs_part): (&Preset, &str) = match cx.era {
            Era::Seed => (&partitions::SEED_INSTALLER, "imga"),
            Era::Eve17 => (&partitions::EVE17_INSTALLER, "installer"),
        };
        let mut key = KeyBuilder::new("installer disk");
        key.add("preset", preset.name)
            .add("installer", &image.sha256)
            .add("config", &config.sha256);
        let seed = key.finish();
        let inputs = Inputs {
            rootfs: image.size,
            installer: image.size,
            persist: 0,
            guid_seed: seed.clone().into_bytes(),
        };
        let layout = preset
            .layout_spec(&inputs)?
            .place_sized()
            .context("placing the installer partitions")?;
        let extras = esp_extras(&boot_uuid("installer.raw", &seed), cx.source_date_epoch)?;
        let esp = self.esp_with(layout.partition("efi")?.len(), "efi-installer.img", &extras)?;
        key.add("esp", &esp.sha256);
        let mut disk = partitions::disk(&layout, esp.legacy.as_ref())?;
        layout.add_file(&mut disk, "efi", &esp.path)?;
        layout.add_file(&mut disk, rootfs_part, &image.path)?;
        layout.add_file(&mut disk, "conf_win", &config.path)?;
        if preset.parts.contains(&Part::InventoryWin) {
            let part = layout.partition("inventory_win")?.len();
            let inventory = self.empty_fat(part, "INVENTORY")?;
            layout.add_file(&mut disk, "inventory_win", &inventory)?;
        }
        key.add("layout", layout.to_string());
        Ok(PlannedDisk {
            layout,
            disk,
            key: key.finish(),
        })
    }

    /// `installer.<fmt>`: raw, qcow2 or iso.
    pub fn installer(&mut self, format: DiskFormat) -> Result<ArtifactReport> {
        match format {
            DiskFormat::Iso => self.installer_iso(),
            DiskFormat::Raw | DiskFormat::Qcow2 => {
                let planned = self.installer_disk()?;
                self.write_disk(&planned, "installer", format)
            }
            other => bail!(
                "installer-{} is not made: the installer comes as raw, qcow2 or iso",
                other.name()
            ),
        }
    }

    /// `installer.iso`.
    pub fn installer_iso(&mut self) -> Result<ArtifactReport> {
        let cx = self.cx;
        let sde = cx.source_date_epoch;
        let img = self.installer_img(InstallerOutputs::default())?;
        let key = KeyBuilder::new("installer.iso")
            .add("installer.img", &img.image.sha256)
            .add("tree", &img.iso_tree.sha256)
            .add("stub", ISO_STUB_CFG)
            .add("label", ISO_VOLUME_LABEL)
            .add("epoch", sde.to_string())
            .finish();
        let out = cx.build_dir.join("installer.iso");
        self.step("installer.iso", &out, &key, true, |_| {
            let mut picked = MemTree::new();
            let f = std::fs::File::open(&img.iso_tree.path)
                .with_context(|| format!("opening {}", img.iso_tree.path.display()))?;
            read_tar(std::io::BufReader::new(f), &mut picked)?;
            let boot = boot_image(&picked, sde, &key)?;
            let opts = IsoOptions::new(ISO_VOLUME_LABEL, sde)
                .boot(Platform::Uefi, Source::Bytes(boot.into()));
            let mut iso = IsoWriter::new(opts)?;
            // make-efi copies with `cp -r` as root: modes kept, owned by root, new times
            // (here SOURCE_DATE_EPOCH).
            let mut tree = MemTree::new();
            for (e, data) in picked.iter() {
                let mut e = e.clone();
                (e.uid, e.gid, e.mtime) = (0, 0, sde);
                tree.insert(e, data.to_vec());
            }
            let uuid = boot_uuid("installer.iso", &img.image.sha256);
            for (e, d) in boot_markers(&uuid, sde)?.iter() {
                if tree.get(&e.path).is_none() || !matches!(e.kind, Kind::Dir) {
                    tree.insert(e.clone(), d.to_vec());
                }
            }
            tree.replay(&mut iso)?;
            let rootfs = Entry::file(path(media::ISO_ROOTFS_IMAGE), 0, 0o644, sde);
            iso.add_file_from(&rootfs, &img.image.path)?;
            write_atomically(&out, |f| {
                iso.finish(f)?;
                Ok(())
            })
        })
    }
}

fn path(p: &str) -> EntryPath {
    EntryPath::new(p).expect("a valid constant path")
}

/// `boot/.uuid` of the medium `what`, from a content key.
fn boot_uuid(what: &str, key: &str) -> String {
    let seed = KeyBuilder::new("boot uuid")
        .add("medium", what)
        .add("key", key)
        .finish();
    media::boot_uuid(&hex::decode(seed).expect("a hex key"))
}

/// The files that mark installer media (make-efi and make-raw both write them).
fn boot_markers(uuid: &str, sde: i64) -> Result<MemTree> {
    let mut t = MemTree::new();
    t.add_file(media::BOOT_REPOSITORY, "", 0o644, sde)?;
    t.add_file(media::BOOT_UUID, uuid, 0o644, sde)?;
    Ok(t)
}

/// What make-raw's `efi_installer_extension` adds to the installer's ESP.
fn esp_extras(uuid: &str, sde: i64) -> Result<MemTree> {
    let mut t = boot_markers(uuid, sde)?;
    t.add_file(
        media::USB_INVOCATION_SCRIPT_PATH,
        media::USB_INVOCATION_SCRIPT,
        0o644,
        sde,
    )?;
    Ok(t)
}

/// make-efi's El Torito image: `EFI/BOOT/*` of the installer rootfs with EVE's ISO stub as
/// `grub.cfg`, in a FAT image sized from the loader (no label, volume id from `key`).
fn boot_image(picked: &MemTree, sde: i64, key: &str) -> Result<Vec<u8>> {
    let dir = path(media::EFI_BOOT_DIR);
    let mut fat = MemTree::new();
    let mut loaders = Vec::new();
    for (e, data) in picked.iter() {
        if e.path.parent().as_ref() != Some(&dir) {
            continue;
        }
        // mcopy reads through links and skips directories.
        let data = match &e.kind {
            Kind::File { .. } => data,
            Kind::Hardlink { target } => picked.get(target).map(|(_, d)| d).unwrap_or_default(),
            Kind::Symlink { target } => match picked.get(&dir.join(target)?) {
                Some((t, d)) if matches!(t.kind, Kind::File { .. }) => d,
                _ => bail!(
                    "{} is a symbolic link that does not lead to a file in {}",
                    e.path,
                    media::EFI_BOOT_DIR
                ),
            },
            _ => continue,
        };
        if media::is_loader(e.path.file_name()) {
            loaders.push((e.path.clone(), data.len() as u64));
        }
        fat.insert(Entry::file(e.path.clone(), 0, 0o644, sde), data.to_vec());
    }
    let [(_, loader_size)] = loaders[..] else {
        bail!(
            "the installer rootfs has {} UEFI loaders {}/BOOT*EFI ({:?}); the ISO's boot image \
             is sized from exactly one (it comes from the grub package)",
            loaders.len(),
            media::EFI_BOOT_DIR,
            loaders
                .iter()
                .map(|(p, _)| p.to_string())
                .collect::<Vec<_>>()
        );
    };
    fat.add_file(media::GRUB_CFG, ISO_STUB_CFG, 0o644, sde)?;
    let volume_id = u32::from_str_radix(&key[..8], 16).expect("a hex key");
    let opts = evebuild_fat::FatOptions::new(media::boot_image_size(loader_size), volume_id, sde);
    evebuild_fat::tree_to_bytes(&fat, &opts).context("making the ISO's El Torito FAT image")
}
