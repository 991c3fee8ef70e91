//! Images in the store: resolving a reference to one platform's manifest and config, and writing
//! configs, manifests and indexes.
//!
//! Resolution follows linuxkit (first index entry whose os and architecture match, recursing into
//! nested indexes; a single manifest is used whatever its architecture) with two deliberate
//! differences: a requested variant must match, and `unknown/unknown` attestation entries are
//! skipped. A missing platform is an error that lists the platforms the index has (eve#3683).
//! Every document read is re-hashed against its descriptor first.

use std::collections::BTreeMap;
use std::io::Read;

use oci_spec::image::{
    Descriptor, ImageConfiguration, ImageIndex, ImageManifest, ImageManifestBuilder, MediaType,
};

use crate::digest::Digest;
use crate::document::Document;
use crate::error::{Error, Result};
use crate::format::{MT_OCI_CONFIG, MT_OCI_INDEX, MT_OCI_MANIFEST};
use crate::layer;
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::Store;

/// One platform's image, resolved from the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// The reference it was resolved from.
    pub reference: Reference,
    /// Descriptor of the image manifest.
    pub manifest_descriptor: Descriptor,
    /// The image manifest.
    pub manifest: ImageManifest,
    /// The parsed image config.
    pub config: ImageConfiguration,
    /// The config's exact bytes (for labels oci-spec does not model, and for re-export).
    pub config_raw: Vec<u8>,
}

impl Image {
    /// The layer descriptors, bottom first.
    pub fn layers(&self) -> &[Descriptor] {
        self.manifest.layers()
    }

    /// The uncompressed tar stream of layer `i`.
    pub fn open_layer(&self, store: &Store, i: usize) -> Result<Box<dyn Read + Send>> {
        let desc = self.layers().get(i).ok_or_else(|| {
            Error::media(
                format!("{} ({})", self.reference, self.manifest_descriptor.digest()),
                format!("has {} layers, layer {i} asked for", self.layers().len()),
            )
        })?;
        layer::open_layer(store, desc)
    }

    /// The platform the config declares.
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.config.os().to_string(),
            architecture: self.config.architecture().to_string(),
            variant: self.config.variant().clone(),
        }
    }

    /// The config's `Labels` (e.g. `org.mobyproject.config`), sorted.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .config()
            .as_ref()
            .and_then(|c| c.labels().clone())
            .map(|l| l.into_iter().collect())
            .unwrap_or_default()
    }

    /// The digest of the manifest.
    pub fn manifest_digest(&self) -> Digest {
        Digest::of_descriptor(&self.manifest_descriptor).expect("validated when resolved")
    }
}

/// A label describing a platform entry of an index, for error messages.
fn describe_platform(desc: &Descriptor) -> String {
    match desc.platform() {
        Some(p) => {
            let p = Platform::from_oci(p);
            if p.is_unknown() {
                format!("{p} (attestation)")
            } else {
                p.to_string()
            }
        }
        None => format!("{} (no platform)", desc.digest()),
    }
}

impl Store {
    /// The image `name` stands for on `platform`.
    pub fn resolve(&self, name: &Reference, platform: &Platform) -> Result<Image> {
        let root = self.lookup(name)?.ok_or_else(|| Error::NotFound {
            reference: name.to_string(),
            root: self.root().to_path_buf(),
        })?;
        let manifest_descriptor = self.select_manifest(name, &root, platform)?;
        self.load_image(name, manifest_descriptor)
    }

    /// Reads and parses the document `desc` points at.
    pub fn read_document(&self, desc: &Descriptor, what: &str) -> Result<Document> {
        let bytes = self.read_blob_checked(desc, what)?;
        Document::parse(
            &bytes,
            Some(desc.media_type().as_ref()),
            &format!("{what} {}", desc.digest()),
        )
    }

    /// Walks from `root` (an index or a manifest) to the manifest for `platform`.
    pub fn select_manifest(
        &self,
        name: &Reference,
        root: &Descriptor,
        platform: &Platform,
    ) -> Result<Descriptor> {
        match self.read_document(root, &format!("manifest of {name}"))? {
            Document::Manifest(_) => Ok(root.clone()),
            Document::Index(index) => {
                let mut seen = Vec::new();
                if let Some(found) = self.find_in_index(name, &index, platform, &mut seen, 0)? {
                    return Ok(found);
                }
                Err(Error::Platform {
                    reference: name.to_string(),
                    wanted: platform.to_string(),
                    available: seen,
                })
            }
        }
    }

    fn find_in_index(
        &self,
        name: &Reference,
        index: &ImageIndex,
        platform: &Platform,
        seen: &mut Vec<String>,
        depth: usize,
    ) -> Result<Option<Descriptor>> {
        const MAX_DEPTH: usize = 8;
        for entry in index.manifests() {
            let mt = entry.media_type().to_string();
            if crate::format::INDEX_TYPES.contains(&mt.as_str()) {
                if depth >= MAX_DEPTH || !self.has_blob(&Digest::of_descriptor(entry)?) {
                    seen.push(format!("{} (nested index, not stored)", entry.digest()));
                    continue;
                }
                if let Document::Index(inner) =
                    self.read_document(entry, &format!("nested index of {name}"))?
                    && let Some(found) =
                        self.find_in_index(name, &inner, platform, seen, depth + 1)?
                {
                    return Ok(Some(found));
                }
                continue;
            }
            seen.push(describe_platform(entry));
            if let Some(p) = entry.platform()
                && platform.matches(&Platform::from_oci(p))
            {
                return Ok(Some(entry.clone()));
            }
        }
        Ok(None)
    }

    /// Loads the manifest `desc` and its config.
    pub fn load_image(&self, name: &Reference, desc: Descriptor) -> Result<Image> {
        let manifest = match self.read_document(&desc, &format!("manifest of {name}"))? {
            Document::Manifest(m) => *m,
            Document::Index(_) => {
                return Err(Error::media(
                    format!("{name} ({})", desc.digest()),
                    "is an index where an image manifest was expected",
                ));
            }
        };
        let config_raw = self.read_blob_checked(manifest.config(), &format!("config of {name}"))?;
        let config: ImageConfiguration = serde_json::from_slice(&config_raw).map_err(|e| {
            Error::media(
                format!("config {} of {name}", manifest.config().digest()),
                format!("invalid image config: {e}"),
            )
        })?;
        Ok(Image {
            reference: name.clone(),
            manifest_descriptor: desc,
            manifest,
            config,
            config_raw,
        })
    }

    /// Stores an image config.
    pub fn write_config(&self, config: &ImageConfiguration) -> Result<Descriptor> {
        self.put_json(MT_OCI_CONFIG, config)
    }

    /// Stores an OCI image manifest for `config` and `layers` and returns its descriptor,
    /// carrying `platform` (as an index entry needs it).
    pub fn write_manifest(
        &self,
        config: Descriptor,
        layers: Vec<Descriptor>,
        annotations: Option<BTreeMap<String, String>>,
        platform: Option<&Platform>,
    ) -> Result<Descriptor> {
        let mut m = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::from(MT_OCI_MANIFEST))
            .config(config)
            .layers(layers)
            .build()
            .map_err(|e| Error::media("image manifest", e.to_string()))?;
        m.set_annotations(annotations.map(|a| a.into_iter().collect()));
        let mut desc = self.put_json(MT_OCI_MANIFEST, &m)?;
        desc.set_platform(platform.map(Platform::to_oci));
        Ok(desc)
    }

    /// Stores a complete image: the config (its `rootfs.diff_ids` are set from `layers`) and the
    /// manifest; returns the manifest descriptor with the config's platform.
    pub fn write_image(
        &self,
        config: &ImageConfiguration,
        layers: &[layer::Layer],
    ) -> Result<Descriptor> {
        let mut config = config.clone();
        let mut rootfs = config.rootfs().clone();
        rootfs.set_typ("layers".to_string());
        rootfs.set_diff_ids(layers.iter().map(|l| l.diff_id.to_string()).collect());
        config.set_rootfs(rootfs);
        let config_desc = self.write_config(&config)?;
        let platform = Platform {
            os: config.os().to_string(),
            architecture: config.architecture().to_string(),
            variant: config.variant().clone(),
        };
        self.write_manifest(
            config_desc,
            layers.iter().map(|l| l.descriptor.clone()).collect(),
            None,
            Some(&platform),
        )
    }

    /// Stores an OCI image index of `manifests` (each should carry its platform).
    pub fn write_index(&self, manifests: Vec<Descriptor>) -> Result<Descriptor> {
        let mut idx = ImageIndex::default();
        idx.set_schema_version(2);
        idx.set_media_type(Some(MediaType::from(MT_OCI_INDEX)));
        idx.set_manifests(manifests);
        self.put_json(MT_OCI_INDEX, &idx)
    }
}
