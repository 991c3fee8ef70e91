//! # evebuild-oci: image references and an OCI image store that linuxkit can share
//!
//! - [`Reference`]: image names expanded the way linuxkit does (`alpine` →
//!   `docker.io/library/alpine`, no `:latest` added).
//! - [`Digest`]: validated `sha256:<hex>` digests, safe to join into paths.
//! - [`Store`]: an OCI image layout (`~/.linuxkit/cache` by default) with linuxkit's `index.json`
//!   naming (`org.opencontainers.image.ref.name` = full reference) and its `.lock`; blobs are
//!   verified before they become visible, and every update is crash-safe.
//! - [`Image`]: one platform's manifest and config, with decompressed layer streams.
//!
//! What it leaves out: flattening layers into a root filesystem with linuxkit's exact rules
//! (crates/linuxkit does that); Docker schema 1 manifests; digests other than sha256.

mod archive;
mod client;
mod credentials;
mod digest;
mod document;
mod error;
mod flatten;
pub mod format;
mod image;
mod layer;
mod lock;
mod maintain;
mod platform;
mod pull;
mod push;
mod reference;
mod store;

pub use archive::{
    Selection, export_docker_archive, export_oci_archive, import_archive, import_archive_from,
    write_atomically,
};
pub use client::{ClientOptions, FetchedManifest, RegistryClient};
pub use credentials::{Credential, Keychain};
pub use digest::Digest;
pub use document::{Document, check_descriptor};
pub use error::{Error, Result};
pub use flatten::{export_filesystem, flatten};
pub use format::Compression;
pub use image::Image;
pub use layer::{Layer, decompress, layer_media_type, open_layer};
pub use lock::{Collection, Lease};
pub use maintain::{Damage, GcReport, ListEntry, VerifyReport};
pub use platform::Platform;
pub use pull::{BlobState, Progress, ProgressFn, PullOptions, pull};
pub use push::{PushOptions, push};
pub use reference::Reference;
pub use store::{BlobWriter, CACHE_ENV, Store, canonical_json, ref_name};

/// The `oci-spec` image types this crate's API speaks (re-exported so callers need not depend on
/// the same version themselves).
pub use oci_spec::image as spec;
