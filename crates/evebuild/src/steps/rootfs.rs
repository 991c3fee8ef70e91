//! The rootfs: the resolved yml assembled with linuxkit's semantics straight from the image
//! layers in the store, streamed into the squashfs (or ext4) writer — and, when asked for,
//! into `rootfs-<platform>.tar` in the same pass. Nothing is extracted to disk.
//!
//! The SBOM (`installer/rootfs-<platform>.spdx.json`, EVE's `sbom` target) is catalogued in
//! the same pass by another branch of the tee ([`evebuild_sbom::Cataloguer`]); it is keyed like
//! the rootfs, and when only some outputs are stale only those are written (asking for the SBOM
//! of an up-to-date rootfs.img assembles once more into the cataloguer alone). It is not put
//! into the rootfs itself (see the evebuild-sbom crate for why).
//!
//! `files:` `source:` paths are relative to `installer/`, as in EVE (makerootfs.sh runs
//! linuxkit there), where `eve_version`, `eve_platform` and the tree's `pkg/eve/installer/*`
//! (`etc_issue` …) are put first.

use super::Build;
use crate::artifact::{write_atomically, write_bytes, write_if_changed};
use crate::session::ArtifactReport;
use crate::state::KeyBuilder;
use anyhow::{Result, bail};
use evebuild_eve::compose::ImageKind;
use evebuild_eve::grub;
use evebuild_ext4::{Ext4Options, Ext4Writer};
use evebuild_linuxkit::assemble::{AssembleContext, assemble};
use evebuild_linuxkit::source::StoreImages;
use evebuild_linuxkit::yml::{self, Config};
use evebuild_sbom::{Cataloguer, Options as SbomOptions};
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
    /// `installer/rootfs-<platform>.spdx.json`.
    pub sbom: bool,
}

impl std::ops::BitOr for RootfsOutputs {
    type Output = RootfsOutputs;
    fn bitor(self, o: RootfsOutputs) -> RootfsOutputs {
        RootfsOutputs {
            image: self.image || o.image,
            tar: self.tar || o.tar,
            sbom: self.sbom || o.sbom,
        }
    }
}

impl Build<'_> {
    /// `installer/rootfs.img` (and `rootfs-<platform>.tar` when `tar`), for the yml of `kind`.
    pub fn rootfs(&mut self, asked: RootfsOutputs) -> Result<Vec<ArtifactReport>> {
        let cx = self.cx;
        // Outputs other goals of the session will want are made in the same pass.
        let want = asked | self.rootfs_also;
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

        let mut key = self.assembly_key("rootfs", &yml.text, &config, &[])?;
        key.push_str(&format!("-cap{}", cx.knobs.rootfs_maxsize_mb()));
        let image_path = cx.installer_dir.join("rootfs.img");
        let tar_path = cx
            .build_dir
            .join(format!("rootfs-{}.tar", cx.knobs.platform));
        let sbom_path = sbom_path(cx);
        let mut outputs = Vec::new();
        if want.image {
            outputs.push(("rootfs.img", image_path.clone()));
        }
        if want.tar {
            outputs.push(("rootfs.tar", tar_path.clone()));
        }
        if want.sbom {
            outputs.push(("sbom", sbom_path.clone()));
        }
        let mut reports = Vec::new();
        // The outputs come from one assembly: the stale ones are written together.
        let is_stale = |p: &Path| cx.force || !self.state.is_fresh(p, &key);
        let stale = RootfsOutputs {
            image: want.image && is_stale(&image_path),
            tar: want.tar && is_stale(&tar_path),
            sbom: want.sbom && is_stale(&sbom_path),
        };
        if stale.image || stale.tar || stale.sbom {
            self.progress.start("rootfs", None);
            self.write_rootfs(&config, stale, &image_path, &tar_path, None)?;
            if stale.image {
                // An image over the cap is not kept: a later run must not take it for done.
                self.check_size_cap(&image_path).inspect_err(|_| {
                    let _ = std::fs::remove_file(&image_path);
                })?;
            }
            self.progress
                .finish("rootfs", crate::progress::Outcome::Built);
        }
        for (name, path) in outputs {
            reports.push(self.step(name, &path, &key, true, |_| Ok(()))?);
        }
        // Callers index the reports by what they asked for.
        reports.retain(|r| {
            asked.image && r.path == image_path
                || asked.tar && r.path == tar_path
                || asked.sbom && r.path == sbom_path
        });
        Ok(reports)
    }

    /// `installer/rootfs.img` alone.
    pub fn rootfs_img(&mut self) -> Result<ArtifactReport> {
        let want = RootfsOutputs {
            image: true,
            ..Default::default()
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
    /// `tar_path`, and the SBOM, as `want` says, in one pass; `also` gets what the image gets
    /// (only what it [wants](Sink::wants); nothing when no image is written).
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
        let mut catalogue = want.sbom.then(Cataloguer::new);
        // One assembly feeds every output: the tar, the image (and `also`), the cataloguer.
        let assemble_into = |image: Option<&mut dyn Sink>, catalogue: Option<&mut Cataloguer>| {
            assemble_all(
                config,
                &actx,
                want.tar.then_some(tar_path),
                image,
                catalogue,
            )
        };
        // What goes into the image goes to `also` too (cmdline.env included).
        let with_also = |img: &mut dyn Sink,
                         also: Option<&mut dyn Sink>,
                         catalogue: Option<&mut Cataloguer>|
         -> Result<()> {
            match also {
                Some(also) => assemble_into(
                    Some(&mut WithCmdlineEnv(&mut Tee::new(img, also))),
                    catalogue,
                ),
                None => assemble_into(Some(&mut WithCmdlineEnv(img)), catalogue),
            }
        };
        let sde = cx.source_date_epoch;
        match (want.image, cx.knobs.rootfs_format.as_str()) {
            (false, _) => assemble_into(None, catalogue.as_mut())?,
            (true, "squash") => write_atomically(image_path, |f| {
                let mut sq = SquashfsWriter::new(f, squash_options(sde, cx.jobs))?;
                with_also(&mut sq, also.take(), catalogue.as_mut())?;
                sq.finish()?;
                Ok(())
            })?,
            (true, "ext4") => {
                let mut ext4 = Ext4Writer::new(image_path, Ext4Options::eve(sde))?;
                with_also(&mut ext4, also.take(), catalogue.as_mut())?;
                ext4.finish()?;
            }
            (true, other) => {
                bail!("ROOTFS_FORMAT={other} is not a rootfs format (use squash or ext4)")
            }
        }
        if let Some(c) = catalogue {
            let mut opts = SbomOptions::new(
                &format!("eve-rootfs-{}-{}", cx.full_version, cx.knobs.platform),
                &cx.full_version,
                sde,
            );
            for reference in image_refs(config) {
                let digest = self
                    .ensure_image(&reference)?
                    .manifest_descriptor
                    .digest()
                    .to_string();
                opts.image_digests.insert(reference, digest);
            }
            opts.arch = cx.knobs.zarch.clone();
            write_bytes(&sbom_path(cx), &c.finish(&opts).to_json())?;
        }
        Ok(())
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

/// `installer/rootfs-<platform>.spdx.json`, EVE's `$(SBOM)`.
pub fn sbom_path(cx: &crate::context::Context) -> PathBuf {
    cx.installer_dir
        .join(format!("rootfs-{}.spdx.json", cx.knobs.platform))
}

/// Assembles `config` once into the image and cataloguer given and, with `tar`, a tar there.
fn assemble_all(
    config: &Config,
    actx: &AssembleContext<'_>,
    tar: Option<&Path>,
    image: Option<&mut dyn Sink>,
    catalogue: Option<&mut Cataloguer>,
) -> Result<()> {
    let mut run = |s: &mut dyn Sink| -> Result<()> {
        assemble(config, actx, s)?;
        Ok(())
    };
    let Some(tar_path) = tar else {
        let mut sinks: Vec<&mut dyn Sink> = Vec::new();
        if let Some(i) = image {
            sinks.push(i);
        }
        if let Some(c) = catalogue {
            sinks.push(c);
        }
        return fan_out(sinks, &mut run);
    };
    write_atomically(tar_path, |f| {
        let mut tar = TarSink::new(std::io::BufWriter::with_capacity(1 << 20, f));
        {
            let mut sinks: Vec<&mut dyn Sink> = vec![&mut tar];
            if let Some(i) = image {
                sinks.push(i);
            }
            if let Some(c) = catalogue {
                sinks.push(c);
            }
            fan_out(sinks, &mut run)?;
        }
        tar.finish()?;
        Ok(())
    })
}

/// Runs `run` once over every sink in `sinks`, teeing the stream (nothing to do without one).
fn fan_out(
    mut sinks: Vec<&mut dyn Sink>,
    run: &mut dyn FnMut(&mut dyn Sink) -> Result<()>,
) -> Result<()> {
    match sinks.len() {
        0 => Ok(()),
        1 => run(sinks.pop().expect("one sink")),
        _ => {
            let first = sinks.remove(0);
            fan_out(sinks, &mut |rest| run(&mut Tee::new(&mut *first, rest)))
        }
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
