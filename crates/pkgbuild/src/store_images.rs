//! Base images for builds, read from the OCI store, with the substitution that keeps a tree of
//! packages consistent: a reference to the repository of a package being built in the same
//! tree (`lfedge/eve-alpine:<anything>`) resolves to that package's current tag.

use crate::Error;
use crate::image_config::ImageConfig;
use crate::native::layer::BlobSource;
use crate::native::{BaseImage, ImageSource, LayerDesc};
use evebuild_oci::{Digest, Platform, Reference, Store};
use std::collections::BTreeMap;
use std::io::Read;

/// The store, plus repository → current reference substitutions.
pub struct StoreImages<'a> {
    /// The store.
    pub store: &'a Store,
    /// Expanded repository name (`docker.io/lfedge/eve-alpine`) → reference to use instead.
    pub substitutions: &'a BTreeMap<String, Reference>,
}

impl StoreImages<'_> {
    /// The reference `written` stands for after substitution.
    pub fn effective(&self, written: &str) -> Result<Reference, Error> {
        let r = Reference::parse(written)
            .map_err(|e| Error::Other(format!("image reference {written:?}: {e}")))?;
        if r.digest().is_none()
            && let Some(s) = self.substitutions.get(r.name())
        {
            return Ok(s.clone());
        }
        Ok(r)
    }

    /// The image for `linux/<arch>`, or `None` when the store does not have it.
    pub fn image(&self, written: &str, arch: &str) -> Result<Option<evebuild_oci::Image>, Error> {
        let r = self.effective(written)?;
        if self.store.lookup(&r).map_err(oci_err)?.is_none() {
            return Ok(None);
        }
        self.store
            .resolve(&r, &Platform::linux(arch))
            .map(Some)
            .map_err(oci_err)
    }
}

/// An oci error as ours.
pub fn oci_err(e: evebuild_oci::Error) -> Error {
    Error::Other(e.to_string())
}

impl BlobSource for StoreImages<'_> {
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + '_>, Error> {
        let d = Digest::parse(digest).map_err(oci_err)?;
        Ok(Box::new(self.store.open_blob(&d).map_err(oci_err)?))
    }
}

impl ImageSource for StoreImages<'_> {
    fn resolve(&self, reference: &str, arch: &str) -> Result<Option<BaseImage>, Error> {
        let Some(img) = self.image(reference, arch)? else {
            return Ok(None);
        };
        let config: ImageConfig = serde_json::from_slice(&img.config_raw)
            .map_err(|e| Error::Other(format!("config of {reference}: {e}")))?;
        let layers = img
            .layers()
            .iter()
            .map(|d| LayerDesc {
                digest: d.digest().to_string(),
                size: d.size(),
                media_type: d.media_type().to_string(),
            })
            .collect();
        Ok(Some(BaseImage { config, layers }))
    }
}
