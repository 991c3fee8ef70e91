//! Where images come from: resolved images with their config and layer streams.
//!
//! The assembler asks an [`Images`] for each reference; [`StoreImages`] answers from the OCI
//! store of `evebuild-oci` for one platform. Layer streams are decompressed tar streams read
//! front to back; nothing is extracted to disk. [`visit_members`] walks the members of an
//! image's layers (or of a tar stored inside one of them, for the kernel's `kernel.tar`),
//! numbering them so a second walk can find the same member again.

use evebuild_tree::{Entry, Error as TreeError, Sink, tar::read_tar};
use std::io::Read;

/// A resolved image: config and layers of one platform.
pub trait ImageHandle {
    /// The reference it was resolved from (expanded), for messages and provenance.
    fn reference(&self) -> &str;
    /// The raw image configuration JSON.
    fn config_json(&self) -> &[u8];
    /// Number of layers.
    fn layer_count(&self) -> usize;
    /// A name of layer `i` for messages (its digest).
    fn layer_name(&self, i: usize) -> String;
    /// The uncompressed tar stream of layer `i` (bottom layer is 0).
    fn open_layer(&self, i: usize) -> Result<Box<dyn Read + '_>, String>;
}

/// Resolves references to images.
pub trait Images {
    /// The image `reference` (already expanded) names for the target platform.
    fn resolve(&self, reference: &str) -> Result<Box<dyn ImageHandle + '_>, String>;
}

/// Images from an `evebuild-oci` store, for one platform.
pub struct StoreImages<'a> {
    /// The store.
    pub store: &'a evebuild_oci::Store,
    /// The platform to pick from multi-platform indexes.
    pub platform: evebuild_oci::Platform,
}

struct StoreImage<'a> {
    store: &'a evebuild_oci::Store,
    reference: String,
    image: evebuild_oci::Image,
}

impl Images for StoreImages<'_> {
    fn resolve(&self, reference: &str) -> Result<Box<dyn ImageHandle + '_>, String> {
        let r = evebuild_oci::Reference::parse(reference).map_err(|e| e.to_string())?;
        let image = self
            .store
            .resolve(&r, &self.platform)
            .map_err(|e| e.to_string())?;
        Ok(Box::new(StoreImage {
            store: self.store,
            reference: reference.to_string(),
            image,
        }))
    }
}

impl ImageHandle for StoreImage<'_> {
    fn reference(&self) -> &str {
        &self.reference
    }
    fn config_json(&self) -> &[u8] {
        &self.image.config_raw
    }
    fn layer_count(&self) -> usize {
        self.image.layers().len()
    }
    fn layer_name(&self, i: usize) -> String {
        self.image
            .layers()
            .get(i)
            .map(|d| d.digest().to_string())
            .unwrap_or_default()
    }
    fn open_layer(&self, i: usize) -> Result<Box<dyn Read + '_>, String> {
        self.image
            .open_layer(self.store, i)
            .map(|r| r as Box<dyn Read>)
            .map_err(|e| e.to_string())
    }
}

/// Which members a walk covers: all layers of an image, or the tar stored as member
/// `(layer, ordinal)` of one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Every layer, bottom first.
    Layers,
    /// The tar inside one member.
    Nested {
        /// Layer of the member.
        layer: u32,
        /// Ordinal of the member in that layer.
        ordinal: u32,
    },
}

/// Callback of [`visit_members`]: layer index, member ordinal, the entry and its data.
pub type Visitor<'v> = dyn FnMut(u32, u32, &Entry, &mut dyn Read) -> Result<(), TreeError> + 'v;

/// Walks the members of `stream` of `image` in order. Names are normalised (an escaping
/// name is an error naming the layer); members naming the root are skipped.
pub fn visit_members(
    image: &dyn ImageHandle,
    stream: Stream,
    f: &mut Visitor<'_>,
) -> Result<(), TreeError> {
    let layers: Vec<u32> = match stream {
        Stream::Layers => (0..image.layer_count() as u32).collect(),
        Stream::Nested { layer, .. } => vec![layer],
    };
    for l in layers {
        let reader = image.open_layer(l as usize).map_err(|e| {
            TreeError::Tar(format!(
                "{}: layer {}: {e}",
                image.reference(),
                image.layer_name(l as usize)
            ))
        })?;
        let context = |e: TreeError| {
            TreeError::Tar(format!(
                "{}: layer {}: {e}",
                image.reference(),
                image.layer_name(l as usize)
            ))
        };
        match stream {
            Stream::Layers => read_tar(
                reader,
                &mut Counter {
                    layer: l,
                    ordinal: 0,
                    f,
                },
            )
            .map_err(context)?,
            Stream::Nested { ordinal, .. } => {
                let mut found = false;
                let mut outer = |_: u32, k: u32, _: &Entry, data: &mut dyn Read| {
                    if k == ordinal {
                        found = true;
                        read_tar(
                            data,
                            &mut Counter {
                                layer: 0,
                                ordinal: 0,
                                f: &mut *f,
                            },
                        )?;
                    }
                    Ok(())
                };
                read_tar(
                    reader,
                    &mut Counter {
                        layer: l,
                        ordinal: 0,
                        f: &mut outer,
                    },
                )
                .map_err(context)?;
                if !found {
                    return Err(TreeError::Tar(format!(
                        "{}: member {ordinal} of layer {l} vanished",
                        image.reference()
                    )));
                }
            }
        }
    }
    Ok(())
}

struct Counter<'a, 'v> {
    layer: u32,
    ordinal: u32,
    f: &'a mut Visitor<'v>,
}

impl Sink for Counter<'_, '_> {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), TreeError> {
        let r = (self.f)(self.layer, self.ordinal, entry, data);
        self.ordinal += 1;
        r
    }
}
