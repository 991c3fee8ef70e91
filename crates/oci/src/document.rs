//! Parsing manifests and indexes strictly: the raw bytes are what was verified, and they are parsed
//! once, into either an index or an image manifest, never both.
//!
//! Checks (hostile-inputs §2, T18/T19): a document with both `manifests` and `layers` is refused
//! (CVE-2021-41190); the media type in the body, the one announced (descriptor or Content-Type)
//! and the shape must agree; `schemaVersion` is 2; every descriptor inside carries a valid sha256
//! digest; JSON keys match exactly and duplicates are errors (serde's derive rejects duplicate
//! fields). Schema 1 manifests and other artifact types are not supported.

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::format::{INDEX_TYPES, MANIFEST_TYPES, MAX_BLOB, MT_OCI_INDEX, MT_OCI_MANIFEST};

/// A parsed manifest or index.
#[derive(Debug, Clone)]
pub enum Document {
    /// An image index (OCI) or manifest list (Docker).
    Index(Box<ImageIndex>),
    /// An image manifest (OCI or Docker schema 2).
    Manifest(Box<ImageManifest>),
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    schema_version: Option<i64>,
    media_type: Option<String>,
    manifests: Option<IgnoredAny>,
    layers: Option<IgnoredAny>,
    config: Option<IgnoredAny>,
}

impl Document {
    /// Parses `bytes`; `announced` is the media type the descriptor or HTTP response gave, and
    /// `what` names the document in errors.
    pub fn parse(bytes: &[u8], announced: Option<&str>, what: &str) -> Result<Document> {
        let bad = |reason: String| Error::media(what, reason);
        let probe: Probe = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("not a JSON manifest or index: {e}")))?;
        if probe.manifests.is_some() && (probe.layers.is_some() || probe.config.is_some()) {
            return Err(bad(
                "has both `manifests` and `layers`/`config`: ambiguous, refused".into(),
            ));
        }
        if probe.schema_version != Some(2) {
            return Err(bad(format!(
                "schemaVersion is {:?}, only 2 is supported",
                probe.schema_version
            )));
        }
        let announced = announced.filter(|a| !a.is_empty() && !is_generic(a));
        if let (Some(body), Some(ann)) = (&probe.media_type, announced)
            && body != ann
        {
            return Err(bad(format!(
                "body says mediaType {body}, but it was announced as {ann}"
            )));
        }
        let media_type = probe.media_type.as_deref().or(announced);
        let is_index = match media_type {
            Some(mt) if INDEX_TYPES.contains(&mt) => true,
            Some(mt) if MANIFEST_TYPES.contains(&mt) => false,
            Some(mt) => return Err(bad(format!("unsupported media type {mt}"))),
            None if probe.manifests.is_some() => true,
            None if probe.layers.is_some() => false,
            None => return Err(bad("neither an index nor an image manifest".into())),
        };
        if is_index && probe.layers.is_some() || !is_index && probe.manifests.is_some() {
            return Err(bad("its content does not match its media type".into()));
        }
        let doc = if is_index {
            let idx: ImageIndex =
                serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid index: {e}")))?;
            Document::Index(Box::new(idx))
        } else {
            let m: ImageManifest =
                serde_json::from_slice(bytes).map_err(|e| bad(format!("invalid manifest: {e}")))?;
            Document::Manifest(Box::new(m))
        };
        for d in doc.descriptors() {
            check_descriptor(d, what)?;
        }
        Ok(doc)
    }

    /// The descriptors this document points at.
    pub fn descriptors(&self) -> Vec<&Descriptor> {
        match self {
            Document::Index(i) => i.manifests().iter().collect(),
            Document::Manifest(m) => std::iter::once(m.config()).chain(m.layers()).collect(),
        }
    }

    /// The media type of the document (from its body, else the OCI type of its kind).
    pub fn media_type(&self) -> String {
        match self {
            Document::Index(i) => i
                .media_type()
                .as_ref()
                .map_or(MT_OCI_INDEX.to_string(), |m| m.to_string()),
            Document::Manifest(m) => m
                .media_type()
                .as_ref()
                .map_or(MT_OCI_MANIFEST.to_string(), |m| m.to_string()),
        }
    }
}

/// Content-Types registries use when they do not know better; they say nothing about the body.
fn is_generic(mt: &str) -> bool {
    matches!(
        mt,
        "application/json" | "application/octet-stream" | "text/plain"
    )
}

/// A descriptor is usable only with a valid sha256 digest and a size within budget.
pub fn check_descriptor(d: &Descriptor, what: &str) -> Result<Digest> {
    let digest = Digest::of_descriptor(d).map_err(|_| {
        Error::media(
            what,
            format!(
                "refers to {:?}, which is not a sha256:<64 hex> digest",
                d.digest().to_string()
            ),
        )
    })?;
    if d.size() > MAX_BLOB {
        return Err(Error::Limit {
            what: format!("{what}: blob {digest}"),
            size: d.size(),
            limit: MAX_BLOB,
        });
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_ambiguous_and_mismatched() {
        let both = br#"{"schemaVersion":2,"manifests":[],"layers":[],"config":{"mediaType":"a","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":0}}"#;
        let e = Document::parse(both, None, "m").unwrap_err().to_string();
        assert!(e.contains("both"), "{e}");
        let idx = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#;
        assert!(matches!(
            Document::parse(idx, None, "i").unwrap(),
            Document::Index(_)
        ));
        let e = Document::parse(idx, Some(MT_OCI_MANIFEST), "i")
            .unwrap_err()
            .to_string();
        assert!(e.contains("announced"), "{e}");
        let dup = br#"{"schemaVersion":2,"schemaVersion":2,"manifests":[]}"#;
        assert!(Document::parse(dup, None, "d").is_err());
        let neg = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855","size":-1}]}"#;
        assert!(Document::parse(neg, None, "n").is_err());
        let trav = br#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../x","size":1}]}"#;
        assert!(Document::parse(trav, None, "t").is_err());
    }
}
