//! Pushing images (one platform's manifest, or a multi-arch index with its platforms) from the
//! store to a registry.
//!
//! Blobs the registry already has (HEAD) are skipped; the others are uploaded monolithically (one
//! PUT) or in PATCH chunks, several at a time. Manifests go up by digest first and the top-level
//! document last under the tag, byte for byte as stored, so a machine pulling it back gets the
//! same digests. An index whose platform manifests are not all in the store (pulls fetch one
//! platform only) can still be pushed when the registry already has the missing ones.

use oci_spec::image::Descriptor;

use crate::client::RegistryClient;
use crate::digest::Digest;
use crate::document::{Document, check_descriptor};
use crate::error::{Error, Result};
use crate::reference::Reference;
use crate::store::Store;

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// 0: upload each blob in one PUT; otherwise PATCH chunks of this many bytes.
    pub chunk_size: u64,
    /// Parallel blob uploads.
    pub jobs: usize,
}

impl Default for PushOptions {
    fn default() -> Self {
        PushOptions {
            chunk_size: 0,
            jobs: 4,
        }
    }
}

/// Pushes the store's `name` to the registry as `remote` (often the same reference); returns the
/// digest of the top-level manifest or index.
pub fn push(
    store: &Store,
    client: &RegistryClient,
    name: &Reference,
    remote: &Reference,
    opts: &PushOptions,
) -> Result<Digest> {
    let desc = store.lookup(name)?.ok_or_else(|| Error::NotFound {
        reference: name.to_string(),
        root: store.root().to_path_buf(),
    })?;
    let top = check_descriptor(&desc, &name.to_string())?;
    match store.read_document(&desc, &format!("manifest of {name}"))? {
        Document::Manifest(_) => push_manifest(store, client, name, remote, &desc, opts)?,
        Document::Index(index) => {
            for child in index.manifests() {
                let d = check_descriptor(child, &format!("index of {name}"))?;
                if store.has_blob(&d) {
                    push_manifest(store, client, name, remote, child, opts)?;
                } else if !client.has_manifest(remote, &d)? {
                    let platform = child
                        .platform()
                        .as_ref()
                        .map_or("no platform".to_string(), |p| {
                            crate::Platform::from_oci(p).to_string()
                        });
                    return Err(Error::MissingBlob {
                        digest: d.to_string(),
                        what: format!(
                            "{platform} manifest of {name}, which {remote} lacks too; pull that platform first"
                        ),
                        root: store.root().to_path_buf(),
                    });
                }
            }
        }
    }
    let bytes = store.read_blob_checked(&desc, &format!("manifest of {name}"))?;
    client.put_manifest(
        remote,
        &remote.registry_reference(),
        desc.media_type().as_ref(),
        &bytes,
    )?;
    Ok(top)
}

/// Uploads one image manifest's blobs, then the manifest by digest.
fn push_manifest(
    store: &Store,
    client: &RegistryClient,
    name: &Reference,
    remote: &Reference,
    desc: &Descriptor,
    opts: &PushOptions,
) -> Result<()> {
    let what = format!("manifest of {name}");
    let manifest = match store.read_document(desc, &what)? {
        Document::Manifest(m) => m,
        Document::Index(_) => {
            return Err(Error::media(
                what,
                "nested indexes are not supported by push",
            ));
        }
    };
    let blobs: Vec<&Descriptor> = std::iter::once(manifest.config())
        .chain(manifest.layers())
        .collect();
    upload_blobs(store, client, remote, &blobs, opts)?;
    let bytes = store.read_blob_checked(desc, &what)?;
    let d = Digest::of(&bytes);
    client.put_manifest(remote, d.as_str(), desc.media_type().as_ref(), &bytes)
}

fn upload_blobs(
    store: &Store,
    client: &RegistryClient,
    remote: &Reference,
    blobs: &[&Descriptor],
    opts: &PushOptions,
) -> Result<()> {
    crate::parallel::for_each(blobs, opts.jobs, |desc| {
        upload_one(store, client, remote, desc, opts)
    })
}

fn upload_one(
    store: &Store,
    client: &RegistryClient,
    remote: &Reference,
    desc: &Descriptor,
    opts: &PushOptions,
) -> Result<()> {
    let d = check_descriptor(desc, &remote.to_string())?;
    if client.has_blob(remote, &d)? {
        return Ok(());
    }
    let size = store.blob_size(&d).ok_or_else(|| Error::MissingBlob {
        digest: d.to_string(),
        what: format!("blob of {remote} to push"),
        root: store.root().to_path_buf(),
    })?;
    if size != desc.size() {
        return Err(Error::SizeMismatch {
            what: format!("stored blob {d} (run `evebuild cache verify`)"),
            expected: desc.size(),
            actual: size,
        });
    }
    let open = || -> Result<Box<dyn std::io::Read + Send>> { Ok(Box::new(store.open_blob(&d)?)) };
    client.upload_blob(remote, &d, size, &open, opts.chunk_size)
}
