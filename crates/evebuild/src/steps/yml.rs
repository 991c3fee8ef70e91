//! Composed and resolved image ymls: `images/<kind>.yml.in` with the HV and platform
//! modifiers applied (EVE's compose-image-yml.sh) is written to
//! `images/out/<kind>-<hv>-<platform>.yml.in`, its `*_TAG` placeholders resolved (EVE's
//! parse-pkgs.sh) to `images/out/<kind>-<hv>-<platform>.yml`. Only the placeholders the yml
//! uses are computed.

use super::Build;
use crate::artifact::write_if_changed;
use anyhow::{Context as _, Result};
use evebuild_eve::compose::ImageKind;
use evebuild_eve::placeholders::{self, Source, TagContext};
use evebuild_linuxkit::tag::TagRequest;
use std::path::PathBuf;

/// A resolved yml and where it came from.
#[derive(Debug, Clone)]
pub struct ResolvedYml {
    /// `images/out/<kind>-<hv>-<platform>.yml`.
    pub path: PathBuf,
    /// Its text.
    pub text: String,
    /// The packages of this tree it names: placeholder and the show-tag request (package
    /// directory and build file variant).
    pub packages: Vec<(&'static str, TagRequest)>,
}

impl Build<'_> {
    /// The resolved yml of `kind` (memoised).
    pub fn resolved_yml(&mut self, kind: ImageKind) -> Result<ResolvedYml> {
        if let Some(y) = self.ymls.get(kind.name()) {
            return Ok(y.clone());
        }
        let cx = self.cx;
        let k = &cx.knobs;
        let images = cx.project.images_dir();
        let version_arg = evebuild_eve::version::compose_version_arg(&cx.rootfs_version, k);
        let composed = evebuild_eve::compose::compose(&images, kind, &k.hv, &k.platform, &version_arg)?;
        let out_in = cx.project.root.join(kind.out_path(&k.hv, &k.platform));
        write_if_changed(&out_in, composed.yaml.as_bytes())?;
        let ctx = TagContext {
            eve_root: cx.project.root.clone(),
            platform: k.platform.clone(),
            kernel_tag: cx.kernel.tag.clone(),
            eve_hash: k.eve_hash.clone(),
            org: None,
        };
        let text = placeholders::resolve(&composed.yaml, &ctx)
            .with_context(|| format!("resolving the placeholders of {}", out_in.display()))?;
        let packages = placeholders::used(&composed.yaml)
            .into_iter()
            .filter_map(|p| match p.source {
                Source::Package { dir, variant } => {
                    let req = placeholders::request(&ctx, dir, variant);
                    req.pkg_dir.is_dir().then_some((p.name, req))
                }
                _ => None,
            })
            .chain(self.own_kernel_package(&composed.yaml))
            .collect();
        let path = out_in.with_extension("");
        write_if_changed(&path, text.as_bytes())?;
        let y = ResolvedYml {
            path,
            text,
            packages,
        };
        self.ymls.insert(kind.name(), y.clone());
        Ok(y)
    }

    /// The tree's own kernel package, when KERNEL_TAG comes from it (see
    /// [`crate::context::Context`]) and the yml uses it.
    fn own_kernel_package(&self, yaml: &str) -> Option<(&'static str, TagRequest)> {
        let pkg_dir = self.cx.project.pkg_dir().join("kernel");
        let from_pkg = !self.cx.kernel.from_user && self.cx.kernel.commit.is_empty();
        (from_pkg && yaml.contains("KERNEL_TAG") && pkg_dir.join("build.yml").is_file()).then(|| {
            let options = Default::default();
            ("KERNEL_TAG", TagRequest { pkg_dir, options })
        })
    }
}
