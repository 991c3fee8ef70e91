//! Packages and base images in the store: every package of the tree a yml names is built for
//! ZARCH (skipped when the store already has it, as linuxkit does), and every other image is
//! taken from the store or pulled (never with `--offline`).

use super::Build;
use anyhow::{Context as _, Result};
use evebuild_linuxkit::tag::TagRequest;
use evebuild_oci::{PullOptions, Reference, RegistryClient};
use evebuild_pkgbuild::BuildOptions;

impl Build<'_> {
    /// Ensures the packages of `requests` are in the store; returns their canonical references.
    pub fn ensure_packages(&mut self, requests: &[(&'static str, TagRequest)]) -> Result<Vec<String>> {
        let mut refs = Vec::new();
        for (_, req) in requests {
            if let Some(r) = self.packages.get(&req.pkg_dir) {
                refs.push(r.clone());
                continue;
            }
            let name = format!(
                "pkg/{}",
                req.pkg_dir.file_name().unwrap_or_default().to_string_lossy()
            );
            self.progress.start(&name, None);
            let opts = BuildOptions {
                tag: req.options.clone(),
                arches: Some(vec![self.cx.knobs.zarch.clone()]),
                force: self.cx.force,
                ..Default::default()
            };
            let built = evebuild_pkgbuild::build_package(&self.cx.store, &req.pkg_dir, &opts)
                .with_context(|| format!("building {}", req.pkg_dir.display()))?;
            let outcome = if built.rebuilt {
                crate::progress::Outcome::Built
            } else {
                crate::progress::Outcome::UpToDate
            };
            self.progress.finish(&name, outcome);
            let r = built.reference.to_string();
            self.packages.insert(req.pkg_dir.clone(), r.clone());
            refs.push(r);
        }
        Ok(refs)
    }

    /// Ensures `reference` resolves in the store for ZARCH, pulling it unless offline.
    pub fn ensure_image(&self, reference: &str) -> Result<evebuild_oci::Image> {
        let r = Reference::parse(reference).with_context(|| format!("image reference {reference:?}"))?;
        let platform = self.cx.platform();
        if !self.cx.pull {
            if let Ok(image) = self.cx.store.resolve(&r, &platform) {
                return Ok(image);
            }
        }
        let mut opts = PullOptions::new(platform);
        opts.force = self.cx.pull;
        opts.offline = self.cx.offline;
        opts.jobs = self.cx.jobs.max(4);
        let client = RegistryClient::new(Default::default())?;
        self.progress.note(&format!("pulling {r}"));
        Ok(evebuild_oci::pull(&self.cx.store, &client, &r, &opts)?)
    }
}
