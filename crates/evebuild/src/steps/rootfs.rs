//! The rootfs: the resolved yml assembled with linuxkit's semantics straight from the image
//! layers in the store, streamed into the squashfs (or ext4) writer — and, when asked for,
//! into `rootfs-<platform>.tar` in the same pass. Nothing is extracted to disk.
//!
//! `files:` `source:` paths are relative to `installer/`, as in EVE (makerootfs.sh runs
//! linuxkit there), where `eve_version`, `eve_platform` and the tree's `pkg/eve/installer/*`
//! (`etc_issue` …) are put first.

use super::Build;
use crate::artifact::{write_atomically, write_if_changed};
use crate::session::ArtifactReport;
use crate::state::KeyBuilder;
use anyhow::{Result, bail};
use evebuild_eve::compose::ImageKind;
use evebuild_eve::grub;
use evebuild_ext4::{Ext4Options, Ext4Writer};
use evebuild_linuxkit::assemble::{AssembleContext, assemble};
use evebuild_linuxkit::source::StoreImages;
use evebuild_linuxkit::yml::{self, Config};
use evebuild_squashfs::{Options as SquashOptions, RootDir, SquashfsWriter};
use evebuild_tree::tar::TarSink;
use evebuild_tree::{Entry, EntryPath, Sink, Tee};
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
        self.installer_dir_files()?;

        let key = self.assembly_key("rootfs", &yml.text, &config, &[])?;
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
        // Both outputs come from one assembly: build them together when either is stale.
        let stale = cx.force || outputs.iter().any(|(_, p)| !self.state.is_fresh(p, &key));
        if stale {
            self.progress.start("rootfs", None);
            self.write_rootfs(&config, want, &image_path, &tar_path, None)?;
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

    /// `installer/rootfs.img` alone.
    pub fn rootfs_img(&mut self) -> Result<ArtifactReport> {
        let want = RootfsOutputs {
            image: true,
            tar: false,
        };
        Ok(self.rootfs(want)?.remove(0))
    }

    /// The key of an assembly of `config` (resolved from `yml_text`): the yml, the format, the
    /// time, every image's manifest and every `files:` source. `known` gives the SHA-256 of
    /// sources that are artifacts of this build, so they are not read again.
    pub(crate) fn assembly_key(
        &mut self,
        name: &str,
        yml_text: &str,
        config: &Config,
        known: &[(PathBuf, String)],
    ) -> Result<String> {
        let cx = self.cx;
        let mut key = KeyBuilder::new(name);
        key.add("yml", yml_text)
            .add("format", &cx.knobs.rootfs_format)
            .add("epoch", cx.source_date_epoch.to_string());
        for reference in image_refs(config) {
            let image = self.ensure_image(&reference)?;
            key.add("image", &reference)
                .add("manifest", image.manifest_descriptor.digest().to_string());
        }
        for f in config.files.iter().flatten() {
            if !f.source.is_empty() {
                let p = yml::source_path(&f.source, &cx.installer_dir, home().as_deref());
                match known.iter().find(|(k, _)| *k == p) {
                    Some((_, sha)) => key.add("source", sha),
                    None => key.add_file("source", &p)?,
                };
            }
        }
        Ok(key.finish())
    }

    /// Assembles `config` into the image `image_path` (ROOTFS_FORMAT) and/or the tar
    /// `tar_path`, as `want` says, in one pass; `also` gets what the image gets (only what it
    /// [wants](Sink::wants); nothing when no image is written).
    pub(crate) fn write_rootfs(
        &self,
        config: &Config,
        want: RootfsOutputs,
        image_path: &Path,
        tar_path: &Path,
        mut also: Option<&mut dyn Sink>,
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
        // What goes into the image goes to `also` too (cmdline.env included).
        let with_also = |img: &mut dyn Sink, also: Option<&mut dyn Sink>| -> Result<()> {
            match also {
                Some(also) => assemble_into(Some(&mut WithCmdlineEnv(&mut Tee::new(img, also)))),
                None => assemble_into(Some(&mut WithCmdlineEnv(img))),
            }
        };
        if !want.image {
            return assemble_into(None);
        }
        let sde = cx.source_date_epoch;
        match cx.knobs.rootfs_format.as_str() {
            "squash" => write_atomically(image_path, |f| {
                let mut sq = SquashfsWriter::new(f, squash_options(sde, cx.jobs))?;
                with_also(&mut sq, also.take())?;
                sq.finish()?;
                Ok(())
            }),
            "ext4" => {
                let mut ext4 = Ext4Writer::new(image_path, Ext4Options::eve(sde))?;
                with_also(&mut ext4, also.take())?;
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

/// Adds `boot/cmdline.env` — the kernel command line as a GRUB environment block — right after
/// `boot/cmdline`, so that a stock GRUB (which has no `cat --set`) can read it with `load_env`
/// (see `evebuild_eve::grub`). Only the filesystem images get it; rootfs.tar stays linuxkit's.
struct WithCmdlineEnv<'a>(&'a mut dyn Sink);

impl Sink for WithCmdlineEnv<'_> {
    fn add(
        &mut self,
        entry: &Entry,
        data: &mut dyn std::io::Read,
    ) -> Result<(), evebuild_tree::Error> {
        if entry.path.as_bytes() != b"boot/cmdline" || entry.size() > 64 * 1024 {
            return self.0.add(entry, data);
        }
        let mut cmdline = Vec::new();
        data.read_to_end(&mut cmdline)
            .map_err(|e| evebuild_tree::Error::io("reading boot/cmdline", e))?;
        self.0.add(entry, &mut &cmdline[..])?;
        let text = String::from_utf8_lossy(&cmdline);
        let env = grub::cmdline_env(&text).map_err(|e| evebuild_tree::Error::Unrepresentable {
            path: entry.path.clone(),
            what: format!("the kernel command line ({e})"),
            format: "a GRUB environment block",
        })?;
        let path = EntryPath::new(grub::CMDLINE_ENV_PATH).expect("a valid path");
        let env_entry = Entry::file(path, env.len() as u64, 0o644, entry.mtime);
        self.0.add(&env_entry, &mut &env[..])
    }

    fn annotate(&mut self, records: &[(String, Vec<u8>)]) {
        self.0.annotate(records);
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
