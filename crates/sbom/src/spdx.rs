//! The SPDX 2.3 JSON document, made deterministic:
//! - `created` is SOURCE_DATE_EPOCH;
//! - SPDX ids are hashes of what identifies a package (ecosystem, name, version, arch, where
//!   it was found), so the same rootfs gives the same ids;
//! - packages are sorted by (purl, name, version, location), relationships by (from, type, to),
//!   extracted licences by id;
//! - the namespace ends in the SHA-256 of the document serialised with an empty namespace.
//!
//! One root package (the rootfs) is the document's only `DESCRIBES`; it `CONTAINS` one
//! package per image section (kernel, init images, containers, volumes), and each of those
//! `CONTAINS` the packages found in it. Packages are `filesAnalyzed: false` and carry no files
//! (no verification codes to compute, no `CONTAINS` → File).

use crate::format::spdx as c;
use crate::license::{Extracted, sanitise};
use evebuild_pkgbuild::image_config::rfc3339;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// What a package is for (SPDX 2.3 `primaryPackagePurpose`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum Purpose {
    /// An operating system (the rootfs, the kernel).
    OperatingSystem,
    /// A container image.
    Container,
    /// A program.
    Application,
    /// A library or module.
    Library,
}

/// A package before ids are assigned.
#[derive(Debug, Clone, Default)]
pub struct Component {
    /// Ecosystem, part of the id (`apk`, `go-module`, `kernel`, `image`, `rootfs`).
    pub ecosystem: String,
    /// Name.
    pub name: String,
    /// Version (may be empty).
    pub version: String,
    /// Architecture (may be empty).
    pub arch: String,
    /// Where it was found (an in-image path or a yml section), part of the id.
    pub location: String,
    /// Package URL.
    pub purl: Option<String>,
    /// CPE 2.3 name.
    pub cpe: Option<String>,
    /// Declared licence as found (not yet an SPDX expression).
    pub license: String,
    /// `Person: …` / `Organization: …`.
    pub supplier: Option<String>,
    /// Download location URL.
    pub download: Option<String>,
    /// How it was found.
    pub source_info: Option<String>,
    /// Summary.
    pub description: Option<String>,
    /// SHA-256 checksum (hex).
    pub sha256: Option<String>,
    /// Purpose.
    pub purpose: Option<Purpose>,
}

impl Component {
    /// The deterministic SPDX id.
    pub fn spdx_id(&self) -> String {
        let mut h = Sha256::new();
        for part in [
            &self.ecosystem,
            &self.name,
            &self.version,
            &self.arch,
            &self.location,
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        let digest = hex::encode(h.finalize());
        format!(
            "SPDXRef-Package-{}-{}-{}",
            sanitise(&self.ecosystem),
            sanitise(&self.name),
            &digest[..16]
        )
    }

    fn sort_key(&self) -> (String, String, String, String) {
        (
            self.purl.clone().unwrap_or_default(),
            self.name.clone(),
            self.version.clone(),
            self.location.clone(),
        )
    }
}

/// How two packages relate (the types evebuild writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Relation {
    /// `a CONTAINS b`.
    Contains,
    /// `a DEPENDENCY_OF b`.
    DependencyOf,
}

impl Relation {
    fn name(self) -> &'static str {
        match self {
            Relation::Contains => "CONTAINS",
            Relation::DependencyOf => "DEPENDENCY_OF",
        }
    }
}

/// Document-level settings.
#[derive(Debug, Clone)]
pub struct DocumentInfo {
    /// Document name (also the root package's name), e.g. `eve-0.0.0-kvm-amd64-generic`.
    pub name: String,
    /// Root package version.
    pub version: String,
    /// Seconds since the epoch for `created`.
    pub created: i64,
    /// Namespace prefix (default [`c::NAMESPACE_BASE`]).
    pub namespace_base: String,
    /// `Tool: …` creator.
    pub tool: String,
}

/// Packages and relationships collected for one document.
#[derive(Debug, Default)]
pub struct Graph {
    /// Packages; the first is the root the document describes.
    pub components: Vec<Component>,
    /// (from, relation, to) as indices into `components`.
    pub relations: BTreeSet<(usize, Relation, usize)>,
    by_id: HashMap<String, usize>,
}

impl Graph {
    /// Adds a package, or returns the index of an identical-id one already added.
    pub fn add(&mut self, c: Component) -> usize {
        let id = c.spdx_id();
        if let Some(&i) = self.by_id.get(&id) {
            return i;
        }
        self.components.push(c);
        self.by_id.insert(id, self.components.len() - 1);
        self.components.len() - 1
    }

    /// Records a relationship.
    pub fn relate(&mut self, from: usize, rel: Relation, to: usize) {
        if from != to {
            self.relations.insert((from, rel, to));
        }
    }

    /// The document as pretty-printed JSON (ends with a newline).
    pub fn to_json(&self, info: &DocumentInfo) -> Vec<u8> {
        let mut extracted = Extracted::default();
        let ids: Vec<String> = self.components.iter().map(Component::spdx_id).collect();
        let mut order: Vec<usize> = (0..self.components.len()).collect();
        order.sort_by_key(|&i| (i != 0, self.components[i].sort_key(), ids[i].clone()));
        let packages: Vec<Package> = order
            .iter()
            .map(|&i| package(&self.components[i], &ids[i], &mut extracted))
            .collect();
        let mut relationships: Vec<(String, &str, String)> = self
            .relations
            .iter()
            .map(|&(a, r, b)| (ids[a].clone(), r.name(), ids[b].clone()))
            .collect();
        if !ids.is_empty() {
            relationships.push((c::DOCUMENT_ID.to_string(), "DESCRIBES", ids[0].clone()));
        }
        relationships.sort();
        relationships.dedup();
        let mut doc = Document {
            spdx_version: c::VERSION,
            data_license: c::DATA_LICENSE,
            spdx_id: c::DOCUMENT_ID,
            name: info.name.clone(),
            document_namespace: String::new(),
            creation_info: CreationInfo {
                creators: vec![
                    "Organization: LF Edge".to_string(),
                    format!("Tool: {}", info.tool),
                ],
                created: rfc3339(info.created),
            },
            packages,
            has_extracted_licensing_infos: extracted
                .0
                .iter()
                .map(|(id, text)| ExtractedLicense {
                    license_id: id.clone(),
                    extracted_text: text.clone(),
                    name: text.clone(),
                })
                .collect(),
            relationships: relationships
                .into_iter()
                .map(|(a, r, b)| Relationship {
                    spdx_element_id: a,
                    relationship_type: r,
                    related_spdx_element: b,
                })
                .collect(),
        };
        let blank = serde_json::to_vec(&doc).expect("serialisable");
        let digest = hex::encode(Sha256::digest(&blank));
        doc.document_namespace = format!(
            "{}/{}/{digest}",
            info.namespace_base.trim_end_matches('/'),
            sanitise(&info.name)
        );
        let mut out = serde_json::to_vec_pretty(&doc).expect("serialisable");
        out.push(b'\n');
        out
    }
}

fn package(c: &Component, id: &str, extracted: &mut Extracted) -> Package {
    let mut refs = Vec::new();
    if let Some(cpe) = &c.cpe {
        refs.push(ExternalRef {
            reference_category: "SECURITY",
            reference_type: "cpe23Type",
            reference_locator: cpe.clone(),
        });
    }
    if let Some(purl) = &c.purl {
        refs.push(ExternalRef {
            reference_category: "PACKAGE-MANAGER",
            reference_type: "purl",
            reference_locator: purl.clone(),
        });
    }
    Package {
        name: c.name.clone(),
        spdx_id: id.to_string(),
        version_info: (!c.version.is_empty()).then(|| c.version.clone()),
        supplier: Some(
            c.supplier
                .clone()
                .unwrap_or_else(|| c::NOASSERTION.to_string()),
        ),
        download_location: c
            .download
            .clone()
            .filter(|u| is_download_url(u))
            .unwrap_or_else(|| c::NOASSERTION.to_string()),
        files_analyzed: false,
        checksums: c
            .sha256
            .iter()
            .map(|v| Checksum {
                algorithm: "SHA256",
                checksum_value: v.clone(),
            })
            .collect(),
        source_info: c.source_info.clone(),
        license_concluded: c::NOASSERTION,
        license_declared: extracted.expression(&c.license),
        copyright_text: c::NOASSERTION,
        description: c.description.clone(),
        external_refs: refs,
        primary_package_purpose: c.purpose,
    }
}

/// A URL SPDX accepts as a download location (no spaces, a scheme it knows).
fn is_download_url(u: &str) -> bool {
    ["http://", "https://", "ftp://", "git://", "git+https://"]
        .iter()
        .any(|s| u.starts_with(s))
        && u.len() > 8
        && !u.chars().any(|c| c.is_whitespace() || c == '"')
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    spdx_version: &'static str,
    data_license: &'static str,
    #[serde(rename = "SPDXID")]
    spdx_id: &'static str,
    name: String,
    document_namespace: String,
    creation_info: CreationInfo,
    packages: Vec<Package>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    has_extracted_licensing_infos: Vec<ExtractedLicense>,
    relationships: Vec<Relationship>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreationInfo {
    creators: Vec<String>,
    created: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Package {
    name: String,
    #[serde(rename = "SPDXID")]
    spdx_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version_info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    supplier: Option<String>,
    download_location: String,
    files_analyzed: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    checksums: Vec<Checksum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source_info: Option<String>,
    license_concluded: &'static str,
    license_declared: String,
    copyright_text: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    external_refs: Vec<ExternalRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    primary_package_purpose: Option<Purpose>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Checksum {
    algorithm: &'static str,
    checksum_value: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExternalRef {
    reference_category: &'static str,
    reference_type: &'static str,
    reference_locator: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ExtractedLicense {
    license_id: String,
    extracted_text: String,
    name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Relationship {
    spdx_element_id: String,
    relationship_type: &'static str,
    related_spdx_element: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_sanitised() {
        let c = Component {
            ecosystem: "apk".into(),
            name: "libstdc++".into(),
            version: "1".into(),
            ..Default::default()
        };
        let id = c.spdx_id();
        assert!(id.starts_with("SPDXRef-Package-apk-libstdc---"), "{id}");
        assert_eq!(id, c.clone().spdx_id());
        assert!(
            id.chars()
                .skip("SPDXRef-".len())
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        );
    }
}
