//! Pulling one platform of an image from a registry into the store.
//!
//! Unlike linuxkit, which writes every platform and attestation of an index (`layout.WriteIndex`),
//! a pull fetches only the wanted platform's manifest, config and layers. The index blob itself
//! is stored too, so the reference resolves as in linuxkit's cache; resolving another platform
//! from it later reports that platform's manifest as missing, and a pull for that platform
//! fetches it.
//!
//! Order and safety: layers (in parallel, each verified by [`BlobWriter`] against digest and size
//! before it becomes visible), then the config, then the platform manifest, then the index, and
//! only then the `index.json` entry — so a reader never finds a name whose content is missing.
//! The whole pull holds a [`Lease`](crate::Lease) so a concurrent garbage collection cannot
//! remove blobs between their write and the tag.
//!
//! Without `force` the store is used when it already holds the complete image (no network);
//! `offline` never touches the network and names what is missing.

use std::sync::Arc;

use oci_spec::image::{Descriptor, ImageConfiguration, MediaType};

use crate::client::RegistryClient;
use crate::digest::Digest;
use crate::document::{Document, check_descriptor};
use crate::error::{Error, Result};
use crate::format::INDEX_TYPES;
use crate::image::Image;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::Store;

/// What a progress report is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobState {
    /// Already in the store; not downloaded.
    Present,
    /// Being downloaded (`done` bytes so far).
    Downloading,
    /// Downloaded and verified.
    Done,
}

/// A progress report for one blob.
#[derive(Debug, Clone)]
pub struct Progress {
    /// The blob.
    pub digest: Digest,
    /// Bytes so far.
    pub done: u64,
    /// Its size.
    pub total: u64,
    /// What happened.
    pub state: BlobState,
}

/// Receives progress reports (from several download threads at once).
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// How to pull.
#[derive(Clone)]
pub struct PullOptions {
    /// The platform to fetch from a multi-arch index.
    pub platform: Platform,
    /// Fetch the manifest from the registry even if the store has the image (`--pull`).
    pub force: bool,
    /// Never use the network; fail naming what is missing (`--offline`).
    pub offline: bool,
    /// Parallel layer downloads.
    pub jobs: usize,
    /// Progress reports.
    pub progress: Option<ProgressFn>,
}

impl PullOptions {
    /// Defaults for `platform`: use the store when complete, 4 parallel downloads.
    pub fn new(platform: Platform) -> Self {
        PullOptions {
            platform,
            force: false,
            offline: false,
            jobs: 4,
            progress: None,
        }
    }
}

impl std::fmt::Debug for PullOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullOptions")
            .field("platform", &self.platform)
            .field("force", &self.force)
            .field("offline", &self.offline)
            .field("jobs", &self.jobs)
            .finish()
    }
}

impl Store {
    /// The image if the store holds all of it (manifest, config, every layer with its size);
    /// otherwise why not, in words.
    pub fn complete_image(
        &self,
        name: &Reference,
        platform: &Platform,
    ) -> Result<std::result::Result<Image, String>> {
        let image = match self.resolve(name, platform) {
            Ok(i) => i,
            Err(
                e @ (Error::NotFound { .. } | Error::MissingBlob { .. } | Error::Platform { .. }),
            ) => {
                return Ok(Err(e.to_string()));
            }
            Err(e) => return Err(e),
        };
        let missing: Vec<String> = image
            .layers()
            .iter()
            .filter(|l| {
                Digest::of_descriptor(l).map_or(true, |d| self.blob_size(&d) != Some(l.size()))
            })
            .map(|l| format!("layer {}", l.digest()))
            .collect();
        if missing.is_empty() {
            Ok(Ok(image))
        } else {
            Ok(Err(format!(
                "missing from the store: {}",
                missing.join(", ")
            )))
        }
    }
}

/// Pulls `name` for `opts.platform` into `store` (see the module doc) and returns the image.
pub fn pull(
    store: &Store,
    client: &RegistryClient,
    name: &Reference,
    opts: &PullOptions,
) -> Result<Image> {
    if !opts.force || opts.offline {
        match store.complete_image(name, &opts.platform)? {
            Ok(image) => return Ok(image),
            Err(missing) if opts.offline => {
                return Err(Error::Offline {
                    reference: name.to_string(),
                    missing,
                });
            }
            Err(_) => {}
        }
    }
    let _lease = store.lease()?;
    let top = client.get_manifest(name, &name.registry_reference())?;
    let what = format!("{name} ({})", top.digest);
    let doc = Document::parse(&top.bytes, top.content_type.as_deref(), &what)?;
    let top_desc = Descriptor::new(
        MediaType::from(doc.media_type().as_str()),
        top.bytes.len() as u64,
        top.digest.to_oci(),
    );

    let (manifest_desc, manifest_bytes, manifest) = match doc {
        Document::Manifest(m) => (top_desc.clone(), top.bytes.clone(), *m),
        Document::Index(index) => {
            let entry = choose_platform(name, index.manifests(), &opts.platform)?;
            let d = check_descriptor(entry, &what)?;
            let child = client.get_manifest(name, d.as_str())?;
            if child.bytes.len() as u64 != entry.size() {
                return Err(Error::SizeMismatch {
                    what: format!("manifest {d} of {name}"),
                    expected: entry.size(),
                    actual: child.bytes.len() as u64,
                });
            }
            let child_what = format!("manifest {d} of {name}");
            match Document::parse(&child.bytes, Some(entry.media_type().as_ref()), &child_what)? {
                Document::Manifest(m) => (entry.clone(), child.bytes, *m),
                Document::Index(_) => {
                    return Err(Error::media(
                        child_what,
                        "nested indexes are not supported by pull",
                    ));
                }
            }
        }
    };

    // Config first (small, and a bad one stops the pull before the layers download).
    let config_desc = manifest.config().clone();
    fetch_blobs(
        store,
        client,
        name,
        std::slice::from_ref(&config_desc),
        opts,
    )?;
    let config_raw = store.read_blob_checked(&config_desc, &format!("config of {name}"))?;
    serde_json::from_slice::<ImageConfiguration>(&config_raw).map_err(|e| {
        Error::media(
            format!("config {} of {name}", config_desc.digest()),
            format!("invalid image config: {e}"),
        )
    })?;
    fetch_blobs(store, client, name, manifest.layers(), opts)?;

    store.write_blob(&manifest_bytes)?;
    if INDEX_TYPES.contains(&top_desc.media_type().as_ref()) {
        store.write_blob(&top.bytes)?;
    }
    store.tag(name, top_desc)?;
    store.load_image(name, manifest_desc)
}

/// The index entry for `platform`, or an error listing what the index offers.
fn choose_platform<'a>(
    name: &Reference,
    entries: &'a [Descriptor],
    platform: &Platform,
) -> Result<&'a Descriptor> {
    let mut available = Vec::new();
    for e in entries {
        if INDEX_TYPES.contains(&e.media_type().as_ref()) {
            available.push(format!("{} (nested index, not supported)", e.digest()));
            continue;
        }
        match e.platform() {
            Some(p) => {
                let p = Platform::from_oci(p);
                if platform.matches(&p) {
                    return Ok(e);
                }
                available.push(if p.is_unknown() {
                    format!("{p} (attestation)")
                } else {
                    p.to_string()
                });
            }
            None => available.push(format!("{} (no platform)", e.digest())),
        }
    }
    Err(Error::Platform {
        reference: name.to_string(),
        wanted: platform.to_string(),
        available,
    })
}

/// Downloads the blobs of `descs` the store lacks, `opts.jobs` at a time; the first error stops
/// the others and is returned.
fn fetch_blobs(
    store: &Store,
    client: &RegistryClient,
    name: &Reference,
    descs: &[Descriptor],
    opts: &PullOptions,
) -> Result<()> {
    let mut todo = Vec::new();
    for desc in descs {
        let d = check_descriptor(desc, &format!("manifest of {name}"))?;
        if store.blob_size(&d) == Some(desc.size()) {
            report(opts, &d, desc.size(), desc.size(), BlobState::Present);
        } else {
            todo.push((d, desc.size()));
        }
    }
    crate::parallel::for_each(&todo, opts.jobs, |(d, size)| {
        fetch_one(store, client, name, d, *size, opts)
    })
}

fn fetch_one(
    store: &Store,
    client: &RegistryClient,
    name: &Reference,
    d: &Digest,
    size: u64,
    opts: &PullOptions,
) -> Result<()> {
    let mut w = store.begin_blob()?;
    report(opts, d, 0, size, BlobState::Downloading);
    let mut on_bytes = |done: u64| report(opts, d, done, size, BlobState::Downloading);
    client.fetch_blob(name, d, size, &mut w, &mut on_bytes)?;
    w.commit(Some(d), Some(size), &format!("blob {d} of {name}"))?;
    report(opts, d, size, size, BlobState::Done);
    Ok(())
}

fn report(opts: &PullOptions, d: &Digest, done: u64, total: u64, state: BlobState) {
    if let Some(p) = &opts.progress {
        p(&Progress {
            digest: d.clone(),
            done,
            total,
            state,
        });
    }
}
