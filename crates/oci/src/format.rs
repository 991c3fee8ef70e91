//! Constants of the OCI image layout, the OCI/Docker media types and the store's budgets.
//!
//! Sources: the OCI image spec (image-layout.md, media-types.md, annotations.md), Docker's image
//! manifest v2 schema 2, distribution-spec#293 (manifest size), and linuxkit's cache (the
//! `.lock` file and the `org.opencontainers.image.ref.name` annotation holding the full name).

/// Name of the layout marker file.
pub const OCI_LAYOUT_FILE: &str = "oci-layout";
/// Contents of the layout marker file.
pub const OCI_LAYOUT_CONTENT: &str = "{\"imageLayoutVersion\":\"1.0.0\"}";
/// Name of the top-level index.
pub const INDEX_FILE: &str = "index.json";
/// Directory of SHA-256 blobs, relative to the store root.
pub const BLOBS_DIR: &str = "blobs/sha256";
/// The lock file linuxkit's cache holds (fcntl write lock) while reading or writing `index.json`.
pub const LOCK_FILE: &str = ".lock";
/// Lease file: writers hold a shared fcntl lock on it, garbage collection an exclusive one.
pub const LEASE_FILE: &str = ".evebuild-lease";
/// Prefix of temporary files written next to their final place.
pub const TEMP_PREFIX: &str = ".tmp.";
/// Directory of the decompressed-layer cache, relative to the store root. linuxkit (ggcr's
/// `layout.Path`) reads only `oci-layout`, `index.json` and `blobs/`, and its garbage collection
/// walks `blobs/` only, so an extra directory beside them is invisible to it.
pub const LAYER_CACHE_DIR: &str = "evebuild/layers";
/// Magic at the start of a layer cache file's trailer (format version 1).
pub const LAYER_CACHE_MAGIC: &[u8; 16] = b"evebuild-layer\x001";
/// Length of a layer cache file's trailer: magic, tar size (u64 LE), CRC-32 of the tar (u32
/// LE), four zero bytes.
pub const LAYER_CACHE_TRAILER: usize = 32;

/// Annotation holding the full reference an `index.json` entry is known by.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation containerd and buildkit use for the image name in exported archives.
pub const ANNOTATION_CONTAINERD_NAME: &str = "io.containerd.image.name";

/// OCI image index.
pub const MT_OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// OCI image manifest.
pub const MT_OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image config.
pub const MT_OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// OCI uncompressed layer.
pub const MT_OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
/// OCI gzip layer.
pub const MT_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// OCI zstd layer.
pub const MT_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker manifest list.
pub const MT_DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image manifest.
pub const MT_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker image config.
pub const MT_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker gzip layer.
pub const MT_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker uncompressed layer (rare, but valid).
pub const MT_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// Docker zstd layer (as written by buildx).
pub const MT_DOCKER_LAYER_ZSTD: &str = "application/vnd.docker.image.rootfs.diff.tar.zstd";

/// Media types of image indexes (OCI and Docker).
pub const INDEX_TYPES: &[&str] = &[MT_OCI_INDEX, MT_DOCKER_LIST];
/// Media types of image manifests (OCI and Docker).
pub const MANIFEST_TYPES: &[&str] = &[MT_OCI_MANIFEST, MT_DOCKER_MANIFEST];

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain tar.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
}

/// First bytes of a gzip stream (RFC 1952).
pub const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// First bytes of a zstd frame (RFC 8878).
pub const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

impl Compression {
    /// The compression of a stream that starts with `head`, by its magic bytes (plain when
    /// neither gzip nor zstd).
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Layer media types and their compression.
pub const LAYER_TYPES: &[(&str, Compression)] = &[
    (MT_OCI_LAYER, Compression::None),
    (MT_OCI_LAYER_GZIP, Compression::Gzip),
    (MT_OCI_LAYER_ZSTD, Compression::Zstd),
    (MT_DOCKER_LAYER, Compression::None),
    (MT_DOCKER_LAYER_GZIP, Compression::Gzip),
    (MT_DOCKER_LAYER_ZSTD, Compression::Zstd),
    // Non-distributable layers: same bytes, a different promise about redistribution.
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        Compression::None,
    ),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        Compression::Gzip,
    ),
    (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        Compression::Zstd,
    ),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        Compression::Gzip,
    ),
];

/// The compression of a layer media type, or `None` when it is not a layer type we know.
pub fn layer_compression(media_type: &str) -> Option<Compression> {
    LAYER_TYPES
        .iter()
        .find(|(mt, _)| *mt == media_type)
        .map(|(_, c)| *c)
}

/// Largest manifest, index or config document read into memory (distribution-spec#293 asks
/// registries to accept at least 4 MB; 8 MiB leaves room and bounds memory).
pub const MAX_DOCUMENT: u64 = 8 << 20;
/// Largest `index.json` of the store read into memory.
pub const MAX_STORE_INDEX: u64 = 64 << 20;
/// Largest blob accepted from anywhere (announced sizes above this are refused before reading).
pub const MAX_BLOB: u64 = 1 << 40;
