//! Looking after the store: listing its names, removing one, collecting unreferenced blobs (and
//! the decompressed-layer cache entries of layers no image has), and verifying every blob
//! against its digest.
//!
//! Reachability starts at the `index.json` entries and follows every stored index and manifest
//! (a multi-arch index pulled for one platform points at manifests that are not stored; those
//! are not errors for `gc`, and `verify` reports them as absent platforms, not as damage).
//! Collection runs under the exclusive `.lock` and waits for writers' leases, so it never removes
//! a blob that a concurrent pull has written but not yet tagged.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::PathBuf;

use oci_spec::image::Descriptor;

use crate::digest::{Digest, DigestWriter};
use crate::document::Document;
use crate::error::{Error, Result};
use crate::format::{BLOBS_DIR, INDEX_TYPES, MANIFEST_TYPES, TEMP_PREFIX};
use crate::lock::{Collection, StoreLock};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::{Store, ref_name};

/// One name in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// The full reference (the ref-name annotation), or `<unnamed>`.
    pub name: String,
    /// What it points at.
    pub digest: Digest,
    /// Its media type.
    pub media_type: String,
    /// For an index, its platforms, each marked whether its manifest is stored; for a manifest,
    /// its descriptor's platform if any.
    pub platforms: Vec<(String, bool)>,
}

/// What a garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// The blobs removed.
    pub removed: Vec<Digest>,
    /// Bytes freed.
    pub freed: u64,
}

/// A problem `verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damage {
    /// A blob whose content does not hash to its name.
    Corrupt {
        /// Its name.
        digest: Digest,
        /// What it hashes to.
        actual: Digest,
    },
    /// A referenced blob that is absent (or of the wrong size).
    Missing {
        /// Its digest.
        digest: Digest,
        /// Who needs it.
        needed_by: String,
    },
    /// A file in `blobs/sha256` that is not named by a digest.
    Stray(PathBuf),
    /// A document that cannot be parsed.
    Unreadable {
        /// Its digest.
        digest: Digest,
        /// Why.
        reason: String,
    },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Corrupt { digest, actual } => {
                write!(f, "corrupt blob {digest}: its content hashes to {actual}")
            }
            Damage::Missing { digest, needed_by } => {
                write!(f, "missing blob {digest}, needed by {needed_by}")
            }
            Damage::Stray(p) => write!(f, "stray file {}", p.display()),
            Damage::Unreadable { digest, reason } => {
                write!(f, "unreadable document {digest}: {reason}")
            }
        }
    }
}

/// What `verify` found.
#[derive(Debug, Clone, Default)]
pub struct VerifyReport {
    /// Blobs re-hashed.
    pub checked: usize,
    /// Bytes re-hashed.
    pub bytes: u64,
    /// Problems, in blob-name order.
    pub damage: Vec<Damage>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.damage.is_empty()
    }
}

impl Store {
    /// Every named entry of `index.json`, in file order.
    pub fn list(&self) -> Result<Vec<ListEntry>> {
        let mut out = Vec::new();
        for e in self.entries()? {
            let digest = Digest::of_descriptor(&e)?;
            let media_type = e.media_type().to_string();
            let platforms = if INDEX_TYPES.contains(&media_type.as_str()) && self.has_blob(&digest)
            {
                match self.read_document(&e, "index") {
                    Ok(Document::Index(i)) => i
                        .manifests()
                        .iter()
                        .map(|m| {
                            let present = Digest::of_descriptor(m).is_ok_and(|d| self.has_blob(&d));
                            (platform_label(m), present)
                        })
                        .collect(),
                    _ => Vec::new(),
                }
            } else {
                e.platform()
                    .iter()
                    .map(|p| (Platform::from_oci(p).to_string(), true))
                    .collect()
            };
            out.push(ListEntry {
                name: ref_name(&e).unwrap_or("<unnamed>").to_string(),
                digest,
                media_type,
                platforms,
            });
        }
        Ok(out)
    }

    /// Removes the name `name` and collects the blobs nothing else references.
    pub fn remove(&self, name: &Reference) -> Result<GcReport> {
        if !self.untag(name)? {
            return Err(Error::NotFound {
                reference: name.to_string(),
                root: self.root().to_path_buf(),
            });
        }
        self.gc()
    }

    /// Deletes every blob not reachable from `index.json`, abandoned temporary files, and the
    /// decompressed-layer cache entries of layers no reachable image has.
    pub fn gc(&self) -> Result<GcReport> {
        let _collection = Collection::acquire(self.root())?;
        let _lock = StoreLock::acquire(self.root(), true)?;
        self.sweep_temporaries()?;
        let entries = self.read_entries_locked()?;
        let (reachable, _, configs) = self.reachable(&entries);
        let mut report = GcReport::default();
        for (digest, path) in self.blob_files()?.0 {
            if reachable.contains_key(&digest) {
                continue;
            }
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path)
                .map_err(|e| Error::io("removing an unreferenced blob", &path, e))?;
            report.freed += size;
            report.removed.push(digest);
        }
        report.freed += self.prune_layer_cache(&self.live_diff_ids(&configs))?;
        Ok(report)
    }

    /// Re-hashes every blob and checks that everything `index.json` reaches is present.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        let (blobs, strays) = self.blob_files()?;
        for (digest, path) in &blobs {
            let f = fs::File::open(path).map_err(|e| Error::io("verifying a blob", path, e))?;
            let mut hashed = DigestWriter::new(io::sink());
            io::copy(&mut io::BufReader::with_capacity(1 << 18, f), &mut hashed)
                .map_err(|e| Error::io("verifying a blob", path, e))?;
            let (_, actual, bytes) = hashed.finish();
            report.bytes += bytes;
            report.checked += 1;
            if actual != *digest {
                report.damage.push(Damage::Corrupt {
                    digest: digest.clone(),
                    actual,
                });
            }
        }
        report.damage.extend(strays.into_iter().map(Damage::Stray));
        let entries = self.entries()?;
        let (reachable, mut problems, _) = self.reachable(&entries);
        for (digest, (size, needed_by, optional)) in reachable {
            if optional {
                continue;
            }
            if self.blob_size(&digest) != Some(size) {
                problems.push(Damage::Missing { digest, needed_by });
            }
        }
        report.damage.extend(problems);
        Ok(report)
    }

    fn read_entries_locked(&self) -> Result<Vec<Descriptor>> {
        // The caller holds the lock; read the file directly.
        let path = self.root().join(crate::format::INDEX_FILE);
        let bytes = fs::read(&path).map_err(|e| Error::io("reading the store index", &path, e))?;
        let index: oci_spec::image::ImageIndex = serde_json::from_slice(&bytes)
            .map_err(|e| Error::media(path.display().to_string(), e.to_string()))?;
        Ok(index.manifests().clone())
    }

    /// Blob files by digest, and the files that are not blobs (temporaries excluded).
    fn blob_files(&self) -> Result<(BTreeMap<Digest, PathBuf>, Vec<PathBuf>)> {
        let dir = self.root().join(BLOBS_DIR);
        let mut blobs = BTreeMap::new();
        let mut strays = Vec::new();
        for entry in fs::read_dir(&dir).map_err(|e| Error::io("listing blobs", &dir, e))? {
            let entry = entry.map_err(|e| Error::io("listing blobs", &dir, e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            match Digest::parse(&format!("sha256:{name}")) {
                Ok(d) if entry.file_type().is_ok_and(|t| t.is_file()) => {
                    blobs.insert(d, entry.path());
                }
                _ => strays.push(entry.path()),
            }
        }
        strays.sort();
        Ok((blobs, strays))
    }

    /// The diff_ids the image configs `configs` list (configs that cannot be read list none).
    fn live_diff_ids(&self, configs: &[Descriptor]) -> BTreeSet<Digest> {
        #[derive(serde::Deserialize)]
        struct Config {
            rootfs: Option<RootFs>,
        }
        #[derive(serde::Deserialize)]
        struct RootFs {
            diff_ids: Option<Vec<String>>,
        }
        let mut live = BTreeSet::new();
        for c in configs {
            let Ok(bytes) = self.read_blob_checked(c, "image config") else {
                continue;
            };
            let Ok(config) = serde_json::from_slice::<Config>(&bytes) else {
                continue;
            };
            let ids = config.rootfs.and_then(|r| r.diff_ids).unwrap_or_default();
            live.extend(ids.iter().filter_map(|d| Digest::parse(d).ok()));
        }
        live
    }

    /// Every digest reachable from `entries` → (size, who needs it, whether its absence is
    /// expected: a platform manifest of an index pulled for another platform); plus unreadable
    /// documents, and the config descriptors of the reachable manifests.
    #[allow(clippy::type_complexity)]
    fn reachable(
        &self,
        entries: &[Descriptor],
    ) -> (
        BTreeMap<Digest, (u64, String, bool)>,
        Vec<Damage>,
        Vec<Descriptor>,
    ) {
        let mut seen: BTreeMap<Digest, (u64, String, bool)> = BTreeMap::new();
        let mut problems = Vec::new();
        let mut configs = Vec::new();
        let mut stack: Vec<(Descriptor, String, bool)> = entries
            .iter()
            .map(|e| {
                (
                    e.clone(),
                    ref_name(e).unwrap_or("<unnamed>").to_string(),
                    false,
                )
            })
            .collect();
        let mut visited = BTreeSet::new();
        while let Some((desc, who, optional)) = stack.pop() {
            let Ok(d) = Digest::of_descriptor(&desc) else {
                continue;
            };
            let entry = seen
                .entry(d.clone())
                .or_insert((desc.size(), who.clone(), optional));
            entry.2 &= optional;
            if !visited.insert(d.clone()) || !self.has_blob(&d) {
                continue;
            }
            let mt = desc.media_type().to_string();
            if !INDEX_TYPES.contains(&mt.as_str()) && !MANIFEST_TYPES.contains(&mt.as_str()) {
                continue;
            }
            match self.read_document(&desc, &who) {
                Ok(Document::Index(i)) => {
                    for m in i.manifests() {
                        let child = format!("{who} ({})", platform_label(m));
                        stack.push((m.clone(), child, true));
                    }
                }
                Ok(Document::Manifest(m)) => {
                    configs.push(m.config().clone());
                    stack.push((m.config().clone(), format!("{who} (config)"), false));
                    for (i, l) in m.layers().iter().enumerate() {
                        stack.push((l.clone(), format!("{who} (layer {i})"), false));
                    }
                }
                Err(Error::DigestMismatch { .. }) => {}
                Err(e) => problems.push(Damage::Unreadable {
                    digest: d,
                    reason: e.to_string(),
                }),
            }
        }
        (seen, problems, configs)
    }
}

fn platform_label(m: &Descriptor) -> String {
    m.platform().as_ref().map_or_else(
        || "no platform".to_string(),
        |p| Platform::from_oci(p).to_string(),
    )
}
