//! The one error type of the OCI crate.
//!
//! Every variant names what it was about (a path, a digest, a reference, a URL) and, where there is
//! one, the fix. Categories follow the store's threat model: a digest or size that does not match
//! (`Digest`, `Size`), a document that is not what it claims (`Media`), a platform that is absent
//! (`Platform`), a budget exceeded (`Limit`), and plain I/O and network failures.

use std::path::PathBuf;

/// Errors of references, the store, registries and archives.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A digest string that is not `sha256:<64 lowercase hex>`.
    #[error("invalid digest {0:?}: expected sha256:<64 lowercase hex digits>")]
    InvalidDigest(String),
    /// An image reference that cannot be parsed.
    #[error("invalid image reference {reference:?}: {reason}")]
    InvalidReference {
        /// The text given.
        reference: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Content whose hash is not the digest it was announced with. Nothing was stored.
    #[error("{what}: content has digest {actual}, expected {expected}; nothing was stored")]
    DigestMismatch {
        /// Where the content came from (a URL, a file, a blob).
        what: String,
        /// The announced digest.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// Content whose length is not the size it was announced with. Nothing was stored.
    #[error("{what}: expected {expected} bytes, got {actual}; nothing was stored")]
    SizeMismatch {
        /// Where the content came from.
        what: String,
        /// The announced size.
        expected: u64,
        /// The bytes received (or the first byte count past the announced size).
        actual: u64,
    },
    /// A document that is malformed or whose kind is not what it should be.
    #[error("{what}: {reason}")]
    Media {
        /// The document (a digest, a file, a URL).
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A size or count over a budget.
    #[error("{what}: {size} bytes exceeds the limit of {limit} bytes")]
    Limit {
        /// What was being read.
        what: String,
        /// Its (announced or actual) size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// The wanted platform is not in an image index.
    #[error(
        "{reference} has no image for {wanted}; it has: {}",
        if available.is_empty() { "nothing usable".to_string() } else { available.join(", ") }
    )]
    Platform {
        /// The reference resolved.
        reference: String,
        /// The platform asked for.
        wanted: String,
        /// The platforms listed in the index.
        available: Vec<String>,
    },
    /// A reference with no entry in the store.
    #[error("{reference} is not in the store at {root}; pull or import it first")]
    NotFound {
        /// The reference looked up.
        reference: String,
        /// The store.
        root: PathBuf,
    },
    /// A blob the store should have but does not.
    #[error("blob {digest} ({what}) is missing from the store at {root}")]
    MissingBlob {
        /// The digest.
        digest: String,
        /// What it is (a manifest, the config of …, a layer of …).
        what: String,
        /// The store.
        root: PathBuf,
    },
    /// Offline mode and the store lacks something a pull would fetch.
    #[error("offline: {reference} cannot be used without the network: {missing}")]
    Offline {
        /// The reference.
        reference: String,
        /// What is missing.
        missing: String,
    },
    /// A registry answered with an error.
    #[error("registry {url}: {status}{}", if detail.is_empty() { String::new() } else { format!(": {detail}") })]
    Registry {
        /// The URL requested.
        url: String,
        /// HTTP status or failure.
        status: String,
        /// The registry's error message or a hint.
        detail: String,
    },
    /// A network-level failure talking to a registry.
    #[error("registry {url}: {source}")]
    Http {
        /// The URL requested.
        url: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A malformed `~/.docker/config.json` or credential entry.
    #[error("credentials in {path}: {reason}")]
    Credentials {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// An I/O error, with the path it concerned.
    #[error("{path}: {op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// An archive or layer that cannot be read or written.
    #[error("{what}: {reason}")]
    Archive {
        /// The archive or layer.
        what: String,
        /// What went wrong.
        reason: String,
    },
}

impl Error {
    /// True when the registry or the store does not have what was asked for (HTTP 404, or no
    /// store entry), as opposed to a failure.
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::NotFound { .. } => true,
            Error::Registry { status, .. } => status.starts_with("404"),
            _ => false,
        }
    }

    /// An I/O error on `path` while doing `op`.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// A malformed or mistyped document.
    pub fn media(what: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Media {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// An unreadable or unwritable archive.
    pub fn archive(what: impl Into<String>, reason: impl std::fmt::Display) -> Self {
        Error::Archive {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
