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
    pub fn ensure_packages(
        &mut self,
        requests: &[(&'static str, TagRequest)],
    ) -> Result<Vec<String>> {
        let mut refs = Vec::new();
        for (_, req) in requests {
            if let Some(r) = self.packages.get(&req.pkg_dir) {
                refs.push(r.clone());
                continue;
            }
            let name = format!(
                "pkg/{}",
                req.pkg_dir
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
            );
            self.progress.start(&name, None);
            let cx = self.cx;
            let arch = cx.knobs.zarch.clone();
            let opts = BuildOptions {
                tag: req.options.clone(),
                arches: Some(vec![arch.clone()]),
                force: cx.force,
                ..Default::default()
            };
            let tag = evebuild_linuxkit::tag::show_tag(&req.pkg_dir, &req.options)
                .with_context(|| format!("computing the tag of {}", req.pkg_dir.display()))?;
            let index_ref = Reference::parse(&tag.canonical())?;
            let arch_ref =
                index_ref.with_tag(&format!("{}-{arch}", index_ref.tag().unwrap_or("latest")))?;
            if let Some(remote) = &cx.remote
                && !cx.force
                && cx.store.lookup(&arch_ref)?.is_none()
                && remote.fetch(&cx.store, &arch_ref, &cx.platform(), cx.jobs.max(4))?
            {
                self.progress
                    .note(&format!("{name}: taken from {}", remote.base));
            }
            let built = evebuild_pkgbuild::package::build_tagged(&cx.store, &tag, &opts)
                .with_context(|| format!("building {}", req.pkg_dir.display()))?;
            if let (true, Some(remote)) = (cx.push, &cx.remote) {
                for r in [&arch_ref, &index_ref] {
                    let pushed = remote.publish(&cx.store, r, cx.jobs.max(4))?;
                    self.progress.note(&format!("pushed {pushed}"));
                }
            }
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
        let r = Reference::parse(reference)
            .with_context(|| format!("image reference {reference:?}"))?;
        let platform = self.cx.platform();
        if !self.cx.pull
            && let Ok(image) = self.cx.store.resolve(&r, &platform)
        {
            return Ok(image);
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

/// Reports package events as engine progress.
struct PkgProgress<'a>(&'a dyn crate::progress::Progress);

impl evebuild_pkgbuild::Progress for PkgProgress<'_> {
    fn started(&self, package: &str) {
        self.0.start(&format!("pkg/{package}"), None);
    }

    fn finished(
        &self,
        package: &str,
        result: &Result<evebuild_pkgbuild::BuiltPackage, evebuild_pkgbuild::Error>,
    ) {
        let outcome = match result {
            Ok(b) if !b.rebuilt => crate::progress::Outcome::UpToDate,
            _ => crate::progress::Outcome::Built,
        };
        match result {
            Ok(_) => self.0.finish(&format!("pkg/{package}"), outcome),
            Err(e) => self.0.note(&format!("pkg/{package}: FAILED: {e}")),
        }
    }

    fn skipped(&self, package: &str, failed_dependency: &str) {
        self.0.note(&format!(
            "pkg/{package}: skipped, its dependency pkg/{failed_dependency} failed"
        ));
    }
}

impl Build<'_> {
    /// `pkgs`: every package of the tree for ZARCH, in dependency order, independent ones in
    /// parallel, as EVE's Makefile lists them (directories named like eve, alpine or sources,
    /// and kube/external-boot-image unless HV=k, are left out).
    pub fn all_packages(&mut self) -> Result<()> {
        let cx = self.cx;
        let pkg_root = cx.project.pkg_dir();
        let exclude = std::fs::read_dir(&pkg_root)
            .with_context(|| format!("reading {}", pkg_root.display()))?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !evebuild_eve::knobs::in_pkgs(n, &cx.knobs.hv))
            .collect();
        let opts = evebuild_pkgbuild::AllOptions {
            build: BuildOptions {
                arches: Some(vec![cx.knobs.zarch.clone()]),
                force: cx.force,
                ..Default::default()
            },
            jobs: cx.jobs,
            exclude,
        };
        let summary =
            evebuild_pkgbuild::build_all(&cx.store, &pkg_root, &opts, &PkgProgress(self.progress))?;
        for (name, built) in &summary.built {
            self.summary
                .printed
                .push(format!("pkg/{name}  {}", built.reference));
        }
        if !summary.failed.is_empty() {
            let failed: Vec<String> = summary
                .failed
                .iter()
                .map(|(n, e)| format!("  pkg/{n}: {e}"))
                .collect();
            let skipped: Vec<String> = summary
                .skipped
                .iter()
                .map(|(n, dep)| format!("  pkg/{n} (needs pkg/{dep})"))
                .collect();
            anyhow::bail!(
                "{} package(s) failed:\n{}{}",
                summary.failed.len(),
                failed.join("\n"),
                if skipped.is_empty() {
                    String::new()
                } else {
                    format!(
                        "\nskipped because a dependency failed:\n{}",
                        skipped.join("\n")
                    )
                }
            );
        }
        Ok(())
    }
}
