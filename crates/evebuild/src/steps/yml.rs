//! Composed and resolved image ymls: `images/<kind>.yml.in` with the HV and platform
//! modifiers applied (EVE's compose-image-yml.sh) is written to
//! `images/out/<kind>-<hv>-<platform>.yml.in`, its `*_TAG` placeholders resolved (EVE's
//! parse-pkgs.sh) to `images/out/<kind>-<hv>-<platform>.yml`. Only the placeholders the yml
//! uses are computed.

use super::Build;
use crate::artifact::write_if_changed;
use anyhow::Result;
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
        let image = evebuild_eve::yml::image_yml(&cx.project.root, k, kind, &cx.rootfs_version)?;
        let out_in = cx.project.root.join(kind.out_path(&k.hv, &k.platform));
        write_if_changed(&out_in, image.yml_in.as_bytes())?;
        let path = out_in.with_extension("");
        write_if_changed(&path, image.yml.as_bytes())?;
        let ctx = TagContext {
            eve_root: cx.project.root.clone(),
            platform: k.platform.clone(),
            kernel_tag: image.kernel.tag.clone(),
            eve_hash: k.eve_hash.clone(),
            org: None,
        };
        let own_kernel = image
            .kernel
            .package
            .clone()
            .filter(|_| image.yml_in.contains("KERNEL_TAG"));
        let packages = placeholders::used(&image.yml_in)
            .into_iter()
            .filter_map(|p| match p.source {
                Source::Package { dir, variant } => {
                    let req = placeholders::request(&ctx, dir, variant);
                    req.pkg_dir.is_dir().then_some((p.name, req))
                }
                _ => None,
            })
            .chain(own_kernel.map(|pkg_dir| {
                let options = Default::default();
                ("KERNEL_TAG", TagRequest { pkg_dir, options })
            }))
            .collect();
        let y = ResolvedYml {
            path,
            text: image.yml,
            packages,
        };
        self.ymls.insert(kind.name(), y.clone());
        Ok(y)
    }
}
