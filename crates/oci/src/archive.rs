//! Image archives: importing `docker save` tarballs and OCI archives into the store, exporting an
//! image as an OCI archive or a docker archive.
//!
//! Import reads the tar once, in whatever order its members come: `blobs/sha256/<hex>` members
//! are stored through the verifying writer (their name is the expected digest), legacy
//! `<id>/layer.tar` members are stored under the digest of their bytes, and the small JSON files
//! (`manifest.json`, `index.json`, configs) are kept in memory. A gzip-compressed archive is
//! recognised by its magic. Names are taken, in order of preference, from the caller, from
//! `io.containerd.image.name`, from an `org.opencontainers.image.ref.name` that is a full
//! reference, or from `RepoTags`.
//!
//! For a docker archive an OCI manifest is built (the config bytes are kept verbatim, so the image
//! ID stays the same; layers keep their bytes, with the media type of their compression), and the
//! config's `rootfs.diff_ids` must match the layers.
//!
//! Export writes a reproducible tar (sorted members, mtime 0, uid/gid 0, mode 0644/0755).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufReader, Read, Write};
use std::path::{Component, Path};

use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, MediaType};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::document::{Document, check_descriptor};
use crate::error::{Error, Result};
use crate::format::{
    ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, Compression, INDEX_FILE, INDEX_TYPES,
    MAX_DOCUMENT, MT_OCI_CONFIG, OCI_LAYOUT_CONTENT, OCI_LAYOUT_FILE,
};
use crate::layer::{decompress, layer_media_type};
use crate::platform::Platform;
use crate::reference::Reference;
use crate::store::{Store, canonical_json, read_capped};

/// One entry of a docker archive's `manifest.json`.
#[derive(Debug, Deserialize, serde::Serialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// What an archive held, read once.
#[derive(Default)]
struct Members {
    /// Small files kept in memory, by normalised path.
    small: BTreeMap<String, Vec<u8>>,
    /// Large files stored as blobs, by normalised path.
    stored: BTreeMap<String, (Digest, u64)>,
    /// Symbolic links (legacy docker archives link duplicate layers), by normalised path.
    links: BTreeMap<String, String>,
}

impl Members {
    /// The blob a path names, storing it from memory if it was small.
    fn blob(&mut self, store: &Store, path: &str) -> Result<(Digest, u64)> {
        let mut path = normalise(path);
        for _ in 0..40 {
            if let Some(target) = self.links.get(&path) {
                let base = Path::new(&path).parent().unwrap_or(Path::new(""));
                path = normalise(&base.join(target).to_string_lossy());
                continue;
            }
            break;
        }
        if let Some(b) = self.stored.get(&path) {
            return Ok(b.clone());
        }
        if let Some(bytes) = self.small.get(&path) {
            let b = store.write_blob(bytes)?;
            self.stored.insert(path, b.clone());
            return Ok(b);
        }
        Err(Error::archive(
            path,
            "is named by the archive's manifest but not in it",
        ))
    }
}

/// Folds `./`, `a/../b` and leading `/` out of a member name.
fn normalise(name: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in Path::new(name).components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.join("/")
}

/// Whether a member is worth keeping in memory (JSON and marker files).
fn is_small(name: &str, size: u64) -> bool {
    size <= MAX_DOCUMENT
        && (name.ends_with(".json")
            || name == OCI_LAYOUT_FILE
            || name == "repositories"
            || name.ends_with("/VERSION"))
}

fn read_members(store: &Store, input: impl Read + Send, what: &str) -> Result<Members> {
    let mut input = BufReader::with_capacity(1 << 17, input);
    let head = io::BufRead::fill_buf(&mut input).map_err(|e| Error::archive(what, e))?;
    // docker save tarballs come plain or gzipped.
    let reader = if Compression::sniff(head) == Compression::Gzip {
        decompress(input, Compression::Gzip, what)?
    } else {
        Box::new(input)
    };
    let mut tar = tar::Archive::new(reader);
    let mut members = Members::default();
    for entry in tar.entries().map_err(|e| Error::archive(what, e))? {
        let mut entry = entry.map_err(|e| Error::archive(what, e))?;
        let name = normalise(&String::from_utf8_lossy(&entry.path_bytes()));
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Some(target) = entry.link_name_bytes() {
                let target = String::from_utf8_lossy(&target).into_owned();
                // Hard link targets are archive paths; symlinks are relative to the member.
                let target = if kind.is_hard_link() {
                    format!("/{target}")
                } else {
                    target
                };
                members.links.insert(name, target);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.size();
        let member = format!("{what}: {name}");
        if let Some(hex) = name.strip_prefix("blobs/sha256/") {
            let expected = Digest::parse(&format!("sha256:{hex}")).map_err(|_| {
                Error::archive(&member, "is under blobs/sha256 but not named by a digest")
            })?;
            let stored = if store.blob_size(&expected) == Some(size) {
                io::copy(&mut entry, &mut io::sink()).map_err(|e| Error::archive(&member, e))?;
                (expected, size)
            } else {
                store.write_blob_from(&mut entry, Some(&expected))?
            };
            members.stored.insert(name, stored);
        } else if is_small(&name, size) {
            let bytes = read_capped(&mut entry, MAX_DOCUMENT, &member)?;
            members.small.insert(name, bytes);
        } else {
            let stored = store.write_blob_from(&mut entry, None)?;
            members.stored.insert(name, stored);
        }
    }
    Ok(members)
}

/// Imports a `docker save` tarball or an OCI archive (optionally gzip-compressed) into the store
/// and returns the names it was tagged with. `name` names the image when the archive does not,
/// or overrides the archive's name when it holds a single image.
pub fn import_archive(
    store: &Store,
    path: &Path,
    name: Option<&Reference>,
) -> Result<Vec<Reference>> {
    let file = std::fs::File::open(path).map_err(|e| Error::io("opening the archive", path, e))?;
    import_archive_from(store, file, &path.display().to_string(), name)
}

/// [`import_archive`] from a stream; `what` names it in errors.
pub fn import_archive_from(
    store: &Store,
    input: impl Read + Send,
    what: &str,
    name: Option<&Reference>,
) -> Result<Vec<Reference>> {
    let _lease = store.lease()?;
    let mut members = read_members(store, input, what)?;
    if members.small.contains_key(INDEX_FILE) && members.small.contains_key(OCI_LAYOUT_FILE) {
        import_oci(store, &mut members, what, name)
    } else if members.small.contains_key("manifest.json") {
        import_docker(store, &mut members, what, name)
    } else {
        Err(Error::archive(
            what,
            "neither an OCI archive (oci-layout, index.json) nor a docker archive (manifest.json)",
        ))
    }
}

fn import_oci(
    store: &Store,
    members: &mut Members,
    what: &str,
    name: Option<&Reference>,
) -> Result<Vec<Reference>> {
    let index: ImageIndex = serde_json::from_slice(&members.small[INDEX_FILE])
        .map_err(|e| Error::archive(format!("{what}: index.json"), e))?;
    let entries = index.manifests();
    check_one_if_named(name, entries.len(), what)?;
    let mut tagged = Vec::new();
    for e in entries {
        check_descriptor(e, what)?;
        check_complete(store, e, what)?;
        let annotations = e.annotations().clone().unwrap_or_default();
        let full = |k: &str| {
            annotations.get(k).and_then(|v| {
                Reference::parse(v)
                    .ok()
                    .filter(|_| v.contains('/') || v.contains(':'))
            })
        };
        let r = match name {
            Some(n) => n.clone(),
            None => match full(ANNOTATION_CONTAINERD_NAME).or_else(|| full(ANNOTATION_REF_NAME)) {
                Some(r) => r,
                None => {
                    return Err(Error::archive(
                        what,
                        format!("image {} has no name; give one", e.digest()),
                    ));
                }
            },
        };
        let mut desc = e.clone();
        desc.set_annotations(None);
        store.tag(&r, desc)?;
        tagged.push(r);
    }
    Ok(tagged)
}

/// A name given by the caller can only name an archive's single image.
fn check_one_if_named(name: Option<&Reference>, images: usize, what: &str) -> Result<()> {
    if name.is_some() && images != 1 {
        return Err(Error::archive(
            what,
            format!("holds {images} images; a name can only be given to one"),
        ));
    }
    Ok(())
}

/// Checks that every blob `desc` reaches is stored (an archive may hold only some platforms of
/// an index; then the platform manifests that are absent are allowed, as after a pull).
fn check_complete(store: &Store, desc: &Descriptor, what: &str) -> Result<()> {
    let d = check_descriptor(desc, what)?;
    if !store.has_blob(&d) {
        return Err(Error::MissingBlob {
            digest: d.to_string(),
            what: format!("image in {what}"),
            root: store.root().to_path_buf(),
        });
    }
    match store.read_document(desc, what)? {
        Document::Index(i) => {
            for m in i.manifests() {
                if store.has_blob(&check_descriptor(m, what)?) {
                    check_complete(store, m, what)?;
                }
            }
        }
        Document::Manifest(m) => {
            for b in std::iter::once(m.config()).chain(m.layers()) {
                let d = check_descriptor(b, what)?;
                if store.blob_size(&d) != Some(b.size()) {
                    return Err(Error::MissingBlob {
                        digest: d.to_string(),
                        what: format!("blob of {} in {what}", desc.digest()),
                        root: store.root().to_path_buf(),
                    });
                }
            }
        }
    }
    Ok(())
}

fn import_docker(
    store: &Store,
    members: &mut Members,
    what: &str,
    name: Option<&Reference>,
) -> Result<Vec<Reference>> {
    let manifest: Vec<DockerManifestEntry> =
        serde_json::from_slice(&members.small["manifest.json"])
            .map_err(|e| Error::archive(format!("{what}: manifest.json"), e))?;
    check_one_if_named(name, manifest.len(), what)?;
    let mut tagged = Vec::new();
    for item in &manifest {
        let (config_digest, config_size) = members.blob(store, &item.config)?;
        let config_raw = store.read_blob(&config_digest)?;
        let config: ImageConfiguration = serde_json::from_slice(&config_raw).map_err(|e| {
            Error::archive(
                format!("{what}: {}", item.config),
                format!("invalid image config: {e}"),
            )
        })?;
        let mut layers = Vec::new();
        for (i, path) in item.layers.iter().enumerate() {
            let (d, size) = members.blob(store, path)?;
            let (compression, diff_id) = sniff_layer(store, &d)?;
            let expected = config.rootfs().diff_ids().get(i);
            if expected.map(String::as_str) != Some(diff_id.as_str()) {
                return Err(Error::archive(
                    format!("{what}: {path}"),
                    format!(
                        "uncompressed digest {diff_id} is not the config's diff_id {expected:?} for layer {i}"
                    ),
                ));
            }
            layers.push(Descriptor::new(
                MediaType::from(layer_media_type(compression)),
                size,
                d.to_oci(),
            ));
        }
        let config_desc = Descriptor::new(
            MediaType::from(MT_OCI_CONFIG),
            config_size,
            config_digest.to_oci(),
        );
        let platform = Platform {
            os: config.os().to_string(),
            architecture: config.architecture().to_string(),
            variant: config.variant().clone(),
        };
        let desc = store.write_manifest(config_desc, layers, None, Some(&platform))?;
        let names: Vec<Reference> = match name {
            Some(n) => vec![n.clone()],
            None => item
                .repo_tags
                .iter()
                .flatten()
                .map(|t| Reference::parse(t))
                .collect::<Result<_>>()?,
        };
        if names.is_empty() {
            return Err(Error::archive(
                what,
                format!("image {} has no RepoTags; give it a name", item.config),
            ));
        }
        for n in names {
            store.tag(&n, desc.clone())?;
            tagged.push(n);
        }
    }
    Ok(tagged)
}

/// The compression of a stored layer (by magic) and its uncompressed digest.
fn sniff_layer(store: &Store, d: &Digest) -> Result<(Compression, Digest)> {
    let mut f = BufReader::new(store.open_blob(d)?);
    let head = io::BufRead::fill_buf(&mut f)
        .map_err(|e| Error::io("reading a layer", store.blob_path(d), e))?;
    let compression = Compression::sniff(head);
    if compression == Compression::None {
        return Ok((compression, d.clone()));
    }
    let mut r = decompress(f, compression, &format!("layer {d}"))?;
    let mut h = Sha256::new();
    io::copy(&mut r, &mut h).map_err(|e| Error::archive(format!("layer {d}"), e))?;
    Ok((compression, Digest::from_hasher(h)))
}

/// Writes members to a reproducible tar.
struct TarOut<W: Write> {
    tar: tar::Builder<W>,
    dirs: BTreeSet<String>,
}

impl<W: Write> TarOut<W> {
    fn new(out: W) -> Self {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        TarOut {
            tar,
            dirs: BTreeSet::new(),
        }
    }

    fn header(kind: tar::EntryType, size: u64, mode: u32) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn dir(&mut self, path: &str) -> Result<()> {
        if self.dirs.insert(path.to_string()) {
            let mut h = Self::header(tar::EntryType::Directory, 0, 0o755);
            self.tar
                .append_data(&mut h, format!("{path}/"), io::empty())
                .map_err(|e| Error::archive(path, e))?;
        }
        Ok(())
    }

    fn file(&mut self, path: &str, size: u64, data: impl Read) -> Result<()> {
        let mut h = Self::header(tar::EntryType::Regular, size, 0o644);
        self.tar
            .append_data(&mut h, path, data)
            .map_err(|e| Error::archive(path, e))
    }

    fn finish(self) -> Result<W> {
        self.tar
            .into_inner()
            .map_err(|e| Error::archive("archive", e))
    }
}

/// What to export of a reference.
#[derive(Debug, Clone)]
pub enum Selection {
    /// The reference's manifest or index with everything it reaches (all must be stored).
    All,
    /// One platform's image manifest.
    Platform(Platform),
}

/// The descriptor to export and the blobs it needs, sorted.
fn export_closure(
    store: &Store,
    name: &Reference,
    selection: &Selection,
) -> Result<(Descriptor, Vec<(Digest, u64)>)> {
    let top = store.lookup(name)?.ok_or_else(|| Error::NotFound {
        reference: name.to_string(),
        root: store.root().to_path_buf(),
    })?;
    let root = match selection {
        Selection::All => top,
        Selection::Platform(p) => store.select_manifest(name, &top, p)?,
    };
    let mut blobs = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(desc) = stack.pop() {
        let d = check_descriptor(&desc, &name.to_string())?;
        if store.blob_size(&d) != Some(desc.size()) {
            return Err(Error::MissingBlob {
                digest: d.to_string(),
                what: format!(
                    "part of {name} to export (export one platform, or pull the others first)"
                ),
                root: store.root().to_path_buf(),
            });
        }
        blobs.insert(d, desc.size());
        let mt = desc.media_type().to_string();
        if INDEX_TYPES.contains(&mt.as_str())
            || crate::format::MANIFEST_TYPES.contains(&mt.as_str())
        {
            match store.read_document(&desc, &name.to_string())? {
                Document::Index(i) => stack.extend(i.manifests().iter().cloned()),
                Document::Manifest(m) => stack
                    .extend(std::iter::once(m.config().clone()).chain(m.layers().iter().cloned())),
            }
        }
    }
    Ok((root, blobs.into_iter().collect()))
}

/// Writes `name` (all of it, or one platform) as an OCI archive: `oci-layout`, `index.json`
/// with one entry named by the full reference, and the blobs. Returns the exported digest.
pub fn export_oci_archive(
    store: &Store,
    name: &Reference,
    selection: &Selection,
    out: impl Write,
) -> Result<Digest> {
    let (root, blobs) = export_closure(store, name, selection)?;
    let mut desc = root.clone();
    desc.set_annotations(Some(
        [
            (ANNOTATION_REF_NAME.to_string(), name.to_string()),
            (ANNOTATION_CONTAINERD_NAME.to_string(), name.to_string()),
        ]
        .into_iter()
        .collect(),
    ));
    let mut index = ImageIndex::default();
    index.set_schema_version(2);
    index.set_media_type(Some(MediaType::from(crate::format::MT_OCI_INDEX)));
    index.set_manifests(vec![desc]);
    let index_bytes = canonical_json(&index)?;
    let mut tar = TarOut::new(out);
    tar.dir("blobs")?;
    tar.dir("blobs/sha256")?;
    for (d, size) in &blobs {
        tar.file(
            &format!("blobs/sha256/{}", d.hex()),
            *size,
            store.open_blob(d)?,
        )?;
    }
    tar.file(INDEX_FILE, index_bytes.len() as u64, &index_bytes[..])?;
    tar.file(
        OCI_LAYOUT_FILE,
        OCI_LAYOUT_CONTENT.len() as u64,
        OCI_LAYOUT_CONTENT.as_bytes(),
    )?;
    tar.finish()?;
    Digest::of_descriptor(&root)
}

/// Writes one platform of `name` as a docker archive (`docker load` format: `manifest.json`,
/// the config, and each layer uncompressed under its diff_id). `name` must have a tag.
pub fn export_docker_archive(
    store: &Store,
    name: &Reference,
    platform: &Platform,
    out: impl Write,
) -> Result<()> {
    if name.tag().is_none() {
        return Err(Error::archive(
            name.to_string(),
            "a docker archive names images by tag; give a tagged reference",
        ));
    }
    let image = store.resolve(name, platform)?;
    let config_digest = Digest::of_descriptor(image.manifest.config())?;
    let mut layer_paths = Vec::new();
    let mut layers = Vec::new();
    for (i, desc) in image.layers().iter().enumerate() {
        // Count the uncompressed size first: tar headers need it before the data.
        let mut h = Sha256::new();
        let size = io::copy(&mut image.open_layer(store, i)?, &mut h)
            .map_err(|e| Error::archive(format!("layer {}", desc.digest()), e))?;
        let diff_id = Digest::from_hasher(h);
        layer_paths.push(format!("blobs/sha256/{}", diff_id.hex()));
        layers.push((i, diff_id, size));
    }
    let manifest = vec![DockerManifestEntry {
        config: format!("blobs/sha256/{}", config_digest.hex()),
        repo_tags: Some(vec![name.to_string()]),
        layers: layer_paths,
    }];
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| Error::archive("manifest.json", e))?;
    let mut tar = TarOut::new(out);
    tar.dir("blobs")?;
    tar.dir("blobs/sha256")?;
    tar.file(
        &format!("blobs/sha256/{}", config_digest.hex()),
        image.config_raw.len() as u64,
        &image.config_raw[..],
    )?;
    let mut written = BTreeSet::new();
    for (i, diff_id, size) in layers {
        if written.insert(diff_id.clone()) {
            tar.file(
                &format!("blobs/sha256/{}", diff_id.hex()),
                size,
                image.open_layer(store, i)?,
            )?;
        }
    }
    tar.file(
        "manifest.json",
        manifest_bytes.len() as u64,
        &manifest_bytes[..],
    )?;
    tar.finish()?;
    Ok(())
}
