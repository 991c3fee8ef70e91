//! The rootfs: the resolved yml assembled with linuxkit's semantics straight from the image
//! layers in the store, streamed into the squashfs (or ext4) writer — and, when asked for,
//! into `rootfs-<platform>.tar` in the same pass. Nothing is extracted to disk.
//!
//! `files:` `source:` paths are relative to `installer/`, as in EVE (makerootfs.sh runs
//! linuxkit there), where `eve_version` and `eve_platform` are written first.

use super::Build;
use crate::artifact::{write_atomically, write_if_changed};
use crate::session::ArtifactReport;
use crate::state::KeyBuilder;
use anyhow::{Result, bail};
use evebuild_eve::compose::ImageKind;
use evebuild_ext4::{Ext4Options, Ext4Writer};
use evebuild_linuxkit::assemble::{AssembleContext, assemble};
use evebuild_linuxkit::source::StoreImages;
use evebuild_linuxkit::yml::{self, Config};
use evebuild_squashfs::{Options as SquashOptions, RootDir, SquashfsWriter};
use evebuild_tree::tar::TarSink;
use evebuild_tree::{Sink, Tee};
use std::path::{Path, PathBuf};

/// What the rootfs step is asked to write.
#[derive(Debug, Clone, Copy, Default)]
pub struct RootfsOutputs {
    /// `installer/rootfs.img`.
    pub image: bool,
    /// `rootfs-<platform>.tar`.
    pub tar: bool,
}

impl Build<'_> {
    /// `installer/rootfs.img` (and `rootfs-<platform>.tar` when `tar`), for the yml of `kind`.
    pub fn rootfs(&mut self, want: RootfsOutputs) -> Result<Vec<ArtifactReport>> {
        let cx = self.cx;
        let yml = self.resolved_yml(ImageKind::Rootfs)?;
        self.ensure_packages(&yml.packages)?;
        let config = Config::parse(&yml.text, &yml.path.display().to_string())?;
        write_if_changed(
            &cx.installer_dir.join("eve_version"),
            cx.full_version.as_bytes(),
        )?;
        write_if_changed(
            &cx.installer_dir.join("eve_platform"),
            cx.knobs.eve_platform_file().as_bytes(),
        )?;

        let mut key = KeyBuilder::new("rootfs");
        key.add("yml", &yml.text)
            .add("format", &cx.knobs.rootfs_format)
            .add("epoch", cx.source_date_epoch.to_string());
        for reference in image_refs(&config) {
            let image = self.ensure_image(&reference)?;
            key.add("image", &reference)
                .add("manifest", image.manifest_descriptor.digest().to_string());
        }
        for f in config.files.iter().flatten() {
            if !f.source.is_empty() {
                let p = yml::source_path(&f.source, &cx.installer_dir, home().as_deref());
                key.add_file("source", &p)?;
            }
        }
        let image_path = cx.installer_dir.join("rootfs.img");
        let tar_path = cx
            .build_dir
            .join(format!("rootfs-{}.tar", cx.knobs.platform));
        let mut outputs = Vec::new();
        if want.image {
            outputs.push(("rootfs.img", image_path.clone()));
        }
        if want.tar {
            outputs.push(("rootfs.tar", tar_path.clone()));
        }
        let mut reports = Vec::new();
        let key = key.finish();
        // Both outputs come from one assembly: build them together when either is stale.
        let stale = cx.force || outputs.iter().any(|(_, p)| !self.state.is_fresh(p, &key));
        if stale {
            self.progress.start("rootfs", None);
            self.write_rootfs(&config, want, &image_path, &tar_path)?;
            self.progress
                .finish("rootfs", crate::progress::Outcome::Built);
        }
        for (name, path) in outputs {
            reports.push(self.step(name, &path, &key, true, |_| Ok(()))?);
        }
        if want.image {
            self.check_size_cap(&image_path)?;
        }
        Ok(reports)
    }

    fn write_rootfs(
        &self,
        config: &Config,
        want: RootfsOutputs,
        image_path: &Path,
        tar_path: &Path,
    ) -> Result<()> {
        let cx = self.cx;
        let images = StoreImages {
            store: &cx.store,
            platform: cx.platform(),
        };
        let actx = AssembleContext {
            images: &images,
            base_dir: cx.installer_dir.clone(),
            home_dir: home(),
        };
        // The tar (when asked for) and the image are fed by one assembly.
        let assemble_into = |image: Option<&mut dyn Sink>| -> Result<()> {
            match (want.tar, image) {
                (true, image) => write_atomically(tar_path, |f| {
                    let mut tar = TarSink::new(std::io::BufWriter::with_capacity(1 << 20, f));
                    match image {
                        Some(img) => assemble(config, &actx, &mut Tee::new(&mut tar, img))?,
                        None => assemble(config, &actx, &mut tar)?,
                    };
                    tar.finish()?;
                    Ok(())
                }),
                (false, Some(img)) => {
                    assemble(config, &actx, img)?;
                    Ok(())
                }
                (false, None) => Ok(()),
            }
        };
        if !want.image {
            return assemble_into(None);
        }
        let sde = cx.source_date_epoch;
        match cx.knobs.rootfs_format.as_str() {
            "squash" => write_atomically(image_path, |f| {
                let mut sq = SquashfsWriter::new(f, squash_options(sde, cx.jobs))?;
                assemble_into(Some(&mut sq))?;
                sq.finish()?;
                Ok(())
            }),
            "ext4" => {
                let mut ext4 = Ext4Writer::new(image_path, Ext4Options::eve(sde))?;
                assemble_into(Some(&mut ext4))?;
                ext4.finish()?;
                Ok(())
            }
            other => bail!("ROOTFS_FORMAT={other} is not a rootfs format (use squash or ext4)"),
        }
    }

    /// EVE's cap on the squashfs rootfs (older EVE's partitions must take the update).
    fn check_size_cap(&self, image: &std::path::Path) -> Result<()> {
        if self.cx.knobs.rootfs_format != "squash" {
            return Ok(());
        }
        let max_mb = self.cx.knobs.rootfs_maxsize_mb();
        let size = std::fs::metadata(image)?.len();
        if size > max_mb * 1024 * 1024 {
            bail!(
                "ERROR: size of {} is greater than {max_mb}MB (bigger than allocated partition)",
                image.display()
            );
        }
        Ok(())
    }
}

/// EVE's mksquashfs settings (xz with the x86 and ARM filters, 128 KiB blocks) with every
/// time fixed to SOURCE_DATE_EPOCH.
fn squash_options(sde: i64, threads: usize) -> SquashOptions {
    SquashOptions {
        mkfs_time: sde as u32,
        root: RootDir {
            mode: 0o755,
            uid: 0,
            gid: 0,
            mtime: sde,
        },
        implied_dir_mtime: sde,
        threads,
        ..Default::default()
    }
}

/// Every image reference a yml names (kernel, init, volumes, containers), expanded, once.
pub fn image_refs(config: &Config) -> Vec<String> {
    let mut refs = Vec::new();
    let mut push = |r: &str| {
        let e = evebuild_oci::reference_expand(r);
        if !r.is_empty() && !refs.contains(&e) {
            refs.push(e);
        }
    };
    push(&config.kernel.image);
    for i in config.init.iter().flatten() {
        push(i);
    }
    for v in config.volumes.iter().flatten() {
        push(&v.image);
    }
    for (_, _, c) in config.containers() {
        push(&c.image);
    }
    refs
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}
