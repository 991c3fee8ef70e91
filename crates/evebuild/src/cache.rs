//! # The image store, as `evebuild cache …`, `pull` and `push` show it
//!
//! Listing, importing (`docker save` and OCI archives), exporting (OCI or docker archive, or an
//! image's flattened filesystem as a tar, like `linuxkit cache export --format filesystem`),
//! removing, verifying, pulling and pushing. Each returns the lines to print.

use crate::artifact::write_atomically;
use anyhow::{Context as _, Result, bail};
use evebuild_oci::{Platform, PullOptions, PushOptions, Reference, Selection, Store};
use std::path::Path;

/// Opens the store at `cache` (or linuxkit's default).
pub fn open(cache: Option<&Path>) -> Result<Store> {
    let root = Store::choose_root(cache);
    Store::open(&root).with_context(|| format!("opening the image store {}", root.display()))
}

fn reference(s: &str) -> Result<Reference> {
    Reference::parse(s).with_context(|| format!("image reference {s:?}"))
}

/// `cache ls`: one line per name: reference, digest, platforms (`*` marks stored ones).
pub fn ls(store: &Store) -> Result<Vec<String>> {
    Ok(store
        .list()?
        .into_iter()
        .map(|e| {
            let platforms: Vec<String> = e
                .platforms
                .iter()
                .map(|(p, stored)| if *stored { format!("{p}*") } else { p.clone() })
                .collect();
            format!("{}  {}  {}", e.name, e.digest, platforms.join(","))
        })
        .collect())
}

/// `cache import <archive> [--name ref]`.
pub fn import(store: &Store, archive: &Path, name: Option<&str>) -> Result<Vec<String>> {
    let name = name.map(reference).transpose()?;
    let refs = evebuild_oci::import_archive(store, archive, name.as_ref())
        .with_context(|| format!("importing {}", archive.display()))?;
    Ok(refs.iter().map(|r| format!("imported {r}")).collect())
}

/// What `cache export` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// An OCI image-layout archive.
    Oci,
    /// A `docker load`-able archive.
    Docker,
    /// The image's flattened filesystem as a tar.
    Filesystem,
}

/// `cache export <ref> --format … --platform … -o <file>`.
pub fn export(
    store: &Store,
    name: &str,
    format: ExportFormat,
    platform: &str,
    out: &Path,
) -> Result<()> {
    let name = reference(name)?;
    let platform: Platform = platform
        .parse()
        .with_context(|| format!("platform {platform:?}"))?;
    write_atomically(out, |f| {
        let w = std::io::BufWriter::new(f);
        match format {
            ExportFormat::Oci => {
                evebuild_oci::export_oci_archive(
                    store,
                    &name,
                    &Selection::Platform(platform.clone()),
                    w,
                )?;
            }
            ExportFormat::Docker => {
                evebuild_oci::export_docker_archive(store, &name, &platform, w)?
            }
            ExportFormat::Filesystem => {
                let image = store.resolve(&name, &platform)?;
                let mut tar = evebuild_tree::tar::TarSink::new(w);
                evebuild_linuxkit::flatten::image_tree(store, &image, &mut tar)?;
                tar.finish()?;
            }
        }
        Ok(())
    })
}

/// `cache rm <ref>…`: removes the names and the blobs nothing else uses.
pub fn rm(store: &Store, names: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for n in names {
        let report = store.remove(&reference(n)?)?;
        out.push(format!(
            "removed {n} ({} blobs freed)",
            report.removed.len()
        ));
    }
    Ok(out)
}

/// `cache verify`: re-hashes every blob; an error when anything is damaged.
pub fn verify(store: &Store) -> Result<Vec<String>> {
    let report = store.verify()?;
    if !report.is_ok() {
        let lines: Vec<String> = report.damage.iter().map(|d| format!("  {d}")).collect();
        bail!(
            "the store at {} is damaged:\n{}\nremove the damaged names with `evebuild cache rm` and \
             pull or build them again",
            store.root().display(),
            lines.join("\n")
        );
    }
    Ok(vec![format!(
        "{}: every blob verified",
        store.root().display()
    )])
}

/// `pull <ref>` for `platform`.
pub fn pull(
    store: &Store,
    name: &str,
    platform: &str,
    insecure: bool,
    force: bool,
) -> Result<Vec<String>> {
    let name = reference(name)?;
    let platform: Platform = platform
        .parse()
        .with_context(|| format!("platform {platform:?}"))?;
    let mut opts = PullOptions::new(platform);
    opts.force = force;
    let image = evebuild_oci::pull(store, &crate::registry::client(insecure)?, &name, &opts)?;
    Ok(vec![format!("{name}  {}", image.manifest_digest())])
}

/// `push <ref> [<remote ref>]`: the store's image (or index with its images) to a registry.
pub fn push(
    store: &Store,
    name: &str,
    remote: Option<&str>,
    insecure: bool,
) -> Result<Vec<String>> {
    let local = reference(name)?;
    let remote = remote
        .map(reference)
        .transpose()?
        .unwrap_or_else(|| local.clone());
    let digest = evebuild_oci::push(
        store,
        &crate::registry::client(insecure)?,
        &local,
        &remote,
        &PushOptions::default(),
    )?;
    Ok(vec![format!("pushed {remote}  {digest}")])
}
