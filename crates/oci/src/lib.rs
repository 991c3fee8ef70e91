//! # evebuild-oci: image references and an OCI image store that linuxkit can share
//!
//! - [`Reference`]: image names expanded the way linuxkit does (`alpine` →
//!   `docker.io/library/alpine`, no `:latest` added); [`Digest`]: validated `sha256:<hex>`
//!   digests, safe to join into paths; [`Platform`]: `os/arch[/variant]`.
//! - [`Store`]: an OCI image layout (`~/.linuxkit/cache`, or `$LINUXKIT_CACHE`, or a `--cache`
//!   option through [`Store::choose_root`]) with linuxkit's `index.json` naming
//!   (`org.opencontainers.image.ref.name` = the full reference; `…:<tag>-<arch>` for one
//!   architecture's image, the bare tag for the index) and its `.lock`. Blobs are verified
//!   before they become visible and every update is crash-safe. [`Store::resolve`] gives an
//!   [`Image`]: one platform's manifest and config, with decompressed layer streams
//!   ([`Image::open_layer_cached`] keeps a decompressed copy of compressed layers in the store,
//!   so readers that come back to a layer decompress it once).
//! - Writing images: [`Store::write_layer`], [`Store::write_image`], [`Store::write_index`],
//!   [`Store::tag`]; hold a [`Store::lease`] from the first blob to the last tag, so a concurrent
//!   [`Store::gc`] cannot collect blobs that are not named yet.
//! - Registries: [`RegistryClient`] (HTTPS with rustls+ring, plain HTTP for localhost or
//!   `insecure`; credentials from `~/.docker/config.json` through [`Keychain`]); [`pull`] fetches
//!   one platform (with `force` for `--pull`, `offline` for `--offline`), [`push`] sends an image
//!   or a multi-arch index.
//! - Archives: [`import_archive`] (`docker save` tarballs and OCI archives, gzip or not),
//!   [`export_oci_archive`], [`export_docker_archive`].
//! - Maintenance: [`Store::list`], [`Store::remove`], [`Store::gc`], [`Store::verify`].
//!
//! The API is synchronous; parallel downloads and uploads use scoped threads, and the HTTP
//! client's runtime stays inside reqwest.
//!
//! What it leaves out: flattening layers into a filesystem (crates/linuxkit does that, with
//! linuxkit's rules, for builds and for `cache export --format filesystem`); Docker schema 1
//! manifests; digests other than sha256; registry mirrors.

mod archive;
mod client;
mod credentials;
mod digest;
mod document;
mod error;
pub mod format;
mod image;
mod layer;
mod layer_cache;
mod lock;
mod maintain;
mod parallel;
mod platform;
mod pull;
mod push;
mod reference;
mod store;

pub use archive::{
    Selection, export_docker_archive, export_oci_archive, import_archive, import_archive_from,
};
pub use client::{ClientOptions, FetchedManifest, RegistryClient};
pub use credentials::{Credential, Keychain};
pub use digest::{Digest, DigestWriter};
pub use document::{Document, check_descriptor};
pub use error::{Error, Result};
pub use format::Compression;
pub use image::Image;
pub use layer::{Layer, LayerReader, decompress, layer_media_type, open_layer};
pub use lock::{Collection, Lease};
pub use maintain::{Damage, GcReport, ListEntry, VerifyReport};
pub use platform::Platform;
pub use pull::{BlobState, Progress, ProgressFn, PullOptions, pull};
pub use push::{PushOptions, push};
pub use reference::{Reference, reference_expand};
pub use store::{BlobWriter, CACHE_ENV, Store, canonical_json, ref_name};

/// The `oci-spec` image types this crate's API speaks (re-exported so callers need not depend on
/// the same version themselves).
pub use oci_spec::image as spec;
