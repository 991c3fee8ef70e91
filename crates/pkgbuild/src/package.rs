//! Building one package directory into the store, as `linuxkit pkg build` does: its show-tag
//! name, one image per architecture (`<tag>-<arch>`) and the multi-arch index (`<tag>`), with
//! the build args and labels linuxkit passes.
//!
//! An architecture is skipped when the store already has its image (manifest, config and layers)
//! *and* the image was made from the same inputs: evebuild records, as the manifest annotation
//! [`INPUTS_ANNOTATION`], a hash of the resolved base images' manifest digests and the build
//! args. linuxkit's tag covers only the package's own files (linuxkit#4180), so without this a
//! package whose base package changed (and whose `FROM` follows it, see
//! [`crate::store_images`]) would not be rebuilt. Images without the annotation (pulled, or
//! made by linuxkit) count as present, as in linuxkit. `force` rebuilds regardless.
//!
//! Left out: `depends.docker-images` (needs a registry), `--release` tags; pushing is
//! [`crate::push`]'s job.

use crate::delegate::{self, Builder};
use crate::dockerfile::Dockerfile;
use crate::image_config::ImageConfig;
use crate::native::{self, OutLayer};
use crate::store_images::{StoreImages, oci_err};
use crate::{Error, context};
use evebuild_linuxkit::tag::git::git_output;
use evebuild_linuxkit::tag::{PkgTag, ShowTagOptions, show_tag};
use evebuild_oci::spec::Descriptor;
use evebuild_oci::{Digest, Platform, Reference, Store, format};
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Manifest annotation holding the hash of a build's inputs beyond the package tag.
pub const INPUTS_ANNOTATION: &str = "org.lfedge.evebuild.inputs";

/// How to build a package.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// How to compute the tag (`--build-yml`, `--hash`, `--org` …).
    pub tag: ShowTagOptions,
    /// Architectures to build (replaces build.yml `arches`, like `--platforms`).
    pub arches: Option<Vec<String>>,
    /// Rebuild even when the store has the image.
    pub force: bool,
    /// Timestamps; default: the commit time of the last commit touching the package.
    pub source_date_epoch: Option<i64>,
    /// Extra build args (`--build-arg-file` lines), over build.yml's.
    pub build_args: Vec<(String, String)>,
    /// Repository → reference substitutions for `FROM` (see [`crate::store_images`]).
    pub substitutions: BTreeMap<String, Reference>,
    /// Which builder to use for Dockerfiles with `RUN` (default: the first one found).
    pub builder: Option<Builder>,
}

/// What a package build did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltPackage {
    /// The package's canonical reference (`docker.io/lfedge/eve-x:<tag>`), the index.
    pub reference: Reference,
    /// Per architecture: (arch, manifest digest, rebuilt).
    pub arches: Vec<(String, Digest, bool)>,
    /// Digest of the multi-arch index.
    pub index: Digest,
    /// True when any architecture was built (not found in the store).
    pub rebuilt: bool,
}

/// The host's architecture as a GOARCH name.
pub fn host_arch() -> String {
    Platform::host().architecture
}

/// Builds the package in `pkg_dir` into `store`.
pub fn build_package(
    store: &Store,
    pkg_dir: &Path,
    o: &BuildOptions,
) -> Result<BuiltPackage, Error> {
    let tag = show_tag(pkg_dir, &o.tag).map_err(|e| Error::Other(e.to_string()))?;
    build_tagged(store, &tag, o)
}

/// Builds a package whose tag is already computed.
pub fn build_tagged(store: &Store, tag: &PkgTag, o: &BuildOptions) -> Result<BuiltPackage, Error> {
    build_tagged_with(store, tag, o, &GitCache::default())
}

/// [`build_tagged`] for one of many packages: `git` keeps what git said about their
/// repositories, so it is asked once per repository.
pub fn build_tagged_with(
    store: &Store,
    tag: &PkgTag,
    o: &BuildOptions,
    git: &GitCache,
) -> Result<BuiltPackage, Error> {
    let pkg_dir = tag.pkg_dir.as_path();
    let b = &tag.build;
    let reference = Reference::parse(&tag.canonical())
        .map_err(|e| Error::Other(format!("{}: {e}", pkg_dir.display())))?;
    let arches = o.arches.clone().unwrap_or_else(|| b.arches.clone());
    if b.dockerfile.split('/').any(|c| c == "..") {
        return Err(Error::Other(format!(
            "{}: dockerfile {:?} must stay inside the package",
            pkg_dir.display(),
            b.dockerfile
        )));
    }
    let df_path = pkg_dir.join(&b.dockerfile);
    let df = Dockerfile::read(&df_path)?;
    let git = git_facts(pkg_dir, tag.dirty, git);
    let sde = match o.source_date_epoch {
        Some(t) => t,
        None => git.as_ref().map_or(0, |g| g.last_change),
    };
    let (explicit_args, build_args) = build_args(tag, o, git.as_ref())?;
    let labels = labels(tag, git.as_ref());
    let build_yml = pkg_dir.join(o.tag.build_yml.as_deref().unwrap_or("build.yml"));
    let mut sources = vec![context::Source {
        host: pkg_dir.to_path_buf(),
        dest: None,
    }];
    for x in b
        .extra_sources(pkg_dir, &build_yml)
        .map_err(|e| Error::Other(e.to_string()))?
    {
        let dest = evebuild_tree::EntryPath::new(&x.dst).map_err(|e| {
            Error::Other(format!(
                "{}: extra-sources destination {:?}: {e}",
                build_yml.display(),
                x.dst
            ))
        })?;
        sources.push(context::Source {
            host: x.src,
            dest: Some(dest),
        });
    }
    let images = StoreImages {
        store,
        substitutions: &o.substitutions,
    };
    let needs_builder = native::needs_container_builder(&df);
    let mut results = Vec::new();
    for arch in &arches {
        let arch_ref = reference
            .with_tag(&format!("{}-{arch}", reference.tag().unwrap_or("latest")))
            .map_err(oci_err)?;
        let key = inputs_key(&df, &images, arch, &explicit_args, needs_builder)?;
        if !o.force
            && let Some(d) = present(store, &arch_ref, &key)?
        {
            results.push((arch.clone(), d, false));
            continue;
        }
        let desc = if needs_builder {
            let builder = match o.builder {
                Some(b) => b,
                None => delegate::find_builder()?,
            };
            delegate::build(&delegate::Request {
                builder,
                dockerfile: &df,
                context: &sources,
                arch,
                build_args: &build_args,
                labels: &labels,
                source_date_epoch: sde,
                network: b.network,
                no_cache: b.disable_cache,
                images: &images,
                store,
                annotations: BTreeMap::from([(INPUTS_ANNOTATION.to_string(), key.clone())]),
            })?
        } else {
            let ctx = context::load(&sources, &df_path)?;
            let built = native::build(
                &df,
                &native::Options {
                    arch,
                    build_arch: &host_arch(),
                    build_args: &build_args,
                    labels: &labels,
                    source_date_epoch: sde,
                    target: None,
                    context: &ctx,
                    images: &images,
                },
            )?;
            write_built(store, &built.config, &built.layers, &key)?
        };
        store.tag(&arch_ref, desc.clone()).map_err(oci_err)?;
        let d = Digest::of_descriptor(&desc).map_err(oci_err)?;
        results.push((arch.clone(), d, true));
    }
    let index = write_index(store, &reference, &results)?;
    Ok(BuiltPackage {
        rebuilt: results.iter().any(|r| r.2),
        reference,
        arches: results,
        index,
    })
}

/// Stores a natively built image: new layers (compressed, their diff_ids added to the config),
/// config, manifest (with the inputs annotation).
pub fn write_built(
    store: &Store,
    config: &ImageConfig,
    layers: &[OutLayer],
    key: &str,
) -> Result<Descriptor, Error> {
    let mut config = config.clone();
    let mut descs = Vec::new();
    for l in layers {
        let (digest, size, mt) = match l {
            OutLayer::Base(b) => (b.digest.clone(), b.size, b.media_type.clone()),
            OutLayer::New(nodes) => {
                let mut blob = store.begin_blob().map_err(oci_err)?;
                let diff_id = native::layer::write_gzip(nodes, &mut blob)?;
                config.rootfs.diff_ids.push(diff_id);
                let (d, size) = blob.commit(None, None, "layer").map_err(oci_err)?;
                (d.to_string(), size, format::MT_OCI_LAYER_GZIP.to_string())
            }
        };
        let d = Digest::parse(&digest).map_err(oci_err)?;
        descs.push(Descriptor::new(mt.as_str().into(), size, d.to_oci()));
    }
    let config_desc = store
        .put_json(format::MT_OCI_CONFIG, &config)
        .map_err(oci_err)?;
    let platform = Platform::linux(&config.architecture);
    store
        .write_manifest(
            config_desc,
            descs,
            Some(BTreeMap::from([(
                INPUTS_ANNOTATION.to_string(),
                key.to_string(),
            )])),
            Some(&platform),
        )
        .map_err(oci_err)
}

/// The per-arch manifest digest when the store has `name` with its config and layers, made
/// from inputs `key` (or with no recorded inputs).
fn present(store: &Store, name: &Reference, key: &str) -> Result<Option<Digest>, Error> {
    if store.lookup(name).map_err(oci_err)?.is_none() {
        return Ok(None);
    }
    let arch = name
        .tag()
        .and_then(|t| t.rsplit('-').next())
        .unwrap_or_default()
        .to_string();
    let Ok(img) = store.resolve(name, &Platform::linux(&arch)) else {
        return Ok(None);
    };
    for l in img.layers() {
        let d = Digest::of_descriptor(l).map_err(oci_err)?;
        if !store.has_blob(&d) {
            return Ok(None);
        }
    }
    let recorded = img
        .manifest
        .annotations()
        .as_ref()
        .and_then(|a| a.get(INPUTS_ANNOTATION).cloned());
    if recorded.is_some_and(|r| r != key) {
        return Ok(None);
    }
    Ok(Some(img.manifest_digest()))
}

/// Writes and tags the multi-arch index: existing entries for other platforms are kept, those
/// for the built platforms replaced (linuxkit's `IndexWrite` merge).
fn write_index(
    store: &Store,
    reference: &Reference,
    arches: &[(String, Digest, bool)],
) -> Result<Digest, Error> {
    let mut entries: Vec<Descriptor> = Vec::new();
    if let Some(old) = store.lookup(reference).map_err(oci_err)?
        && let Ok(evebuild_oci::Document::Index(idx)) = store.read_document(&old, "index")
    {
        for m in idx.manifests() {
            let arch = m.platform().as_ref().map(|p| p.architecture().to_string());
            if arch.is_some_and(|a| !arches.iter().any(|(x, _, _)| *x == a)) {
                entries.push(m.clone());
            }
        }
    }
    for (arch, d, _) in arches {
        let bytes = store.read_blob(d).map_err(oci_err)?;
        let mut desc = Descriptor::new(
            format::MT_OCI_MANIFEST.into(),
            bytes.len() as u64,
            d.to_oci(),
        );
        desc.set_platform(Some(Platform::linux(arch).to_oci()));
        entries.push(desc);
    }
    entries.sort_by_key(|e| {
        e.platform()
            .as_ref()
            .map(|p| p.architecture().to_string())
            .unwrap_or_default()
    });
    let desc = store.write_index(entries).map_err(oci_err)?;
    store.tag(reference, desc.clone()).map_err(oci_err)?;
    Digest::of_descriptor(&desc).map_err(oci_err)
}

/// Hash of what, beyond the package's files, decides the image: resolved base images (by
/// manifest digest), the build args build.yml and the caller give, and whether a container
/// builder makes it. linuxkit's per-commit defaults (REVISION, GOPKGVERSION) are left out, so
/// a commit elsewhere does not rebuild a package, as in linuxkit.
fn inputs_key(
    df: &Dockerfile,
    images: &StoreImages,
    arch: &str,
    build_args: &[(String, String)],
    delegated: bool,
) -> Result<String, Error> {
    let mut h = Sha256::new();
    h.update(if delegated { "builder\n" } else { "native\n" });
    for (k, v) in build_args {
        h.update(format!("arg {k}={v}\n"));
    }
    for r in crate::deps::image_refs(df, build_args, arch) {
        let d = match images.image(&r, arch) {
            Ok(Some(img)) => img.manifest_digest().to_string(),
            _ => "missing".into(),
        };
        h.update(format!("base {r} {d}\n"));
    }
    Ok(format!("sha256:{}", hex::encode(h.finalize())))
}

/// What git says about the package.
pub struct GitFacts {
    /// HEAD commit (empty when dirty, as linuxkit leaves REVISION unset then).
    pub revision: String,
    /// linuxkit's GOPKGVERSION (`v0.0.0-<UTC date>-<12 hex>`).
    pub go_pkg_version: String,
    /// Commit time of the last commit touching the package.
    pub last_change: i64,
}

/// What git says about HEAD of each repository (keyed by the directory holding `.git`), for
/// the packages of one run.
#[derive(Debug, Default)]
pub struct GitCache {
    heads: Mutex<HashMap<PathBuf, Option<(String, String)>>>,
}

impl GitCache {
    /// HEAD's commit id and `<UTC commit date>-<12 hex>` for the repository of `pkg_dir`.
    fn head(&self, pkg_dir: &Path) -> Option<(String, String)> {
        let key = pkg_dir
            .ancestors()
            .find(|a| a.join(".git").exists())
            .unwrap_or(pkg_dir)
            .to_path_buf();
        let mut heads = self.heads.lock().unwrap_or_else(|e| e.into_inner());
        heads
            .entry(key)
            .or_insert_with(|| {
                let out = git_output(
                    pkg_dir,
                    &[
                        "--no-pager",
                        "show",
                        "--quiet",
                        "--abbrev=12",
                        "--date=format-local:%Y%m%d%H%M%S",
                        "--format=%H%n%cd-%h",
                        "HEAD",
                    ],
                )?;
                let (id, date) = out.split_once('\n')?;
                Some((id.to_string(), date.to_string()))
            })
            .clone()
    }
}

/// Facts from git for the package, `None` outside a repository (or one without commits).
/// HEAD is asked about once per repository and `git`; the package's last change, once per
/// package.
pub fn git_facts(pkg_dir: &Path, dirty: bool, git_cache: &GitCache) -> Option<GitFacts> {
    let (head, date) = git_cache.head(pkg_dir)?;
    let last_change = git_output(pkg_dir, &["log", "-1", "--format=%ct", "--", "."])
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Some(GitFacts {
        revision: if dirty { String::new() } else { head },
        go_pkg_version: format!("v0.0.0-{date}"),
        last_change,
    })
}

/// Build args as pairs.
type Args = Vec<(String, String)>;

/// build.yml buildArgs (with `@lkt:` expansion), then the extra ones; and those followed by
/// linuxkit's defaults for what is still unset: SOURCE, REVISION, GOPKGVERSION, PKG_HASH,
/// PKG_IMAGE.
fn build_args(
    tag: &PkgTag,
    o: &BuildOptions,
    git: Option<&GitFacts>,
) -> Result<(Args, Args), Error> {
    let mut out: Vec<(String, String)> = Vec::new();
    let set = |out: &mut Vec<(String, String)>, k: String, v: String| {
        out.retain(|(n, _)| *n != k);
        out.push((k, v));
    };
    let build_yml = tag
        .pkg_dir
        .join(o.tag.build_yml.as_deref().unwrap_or("build.yml"));
    for line in tag.build.build_args.iter().flatten() {
        for (k, v) in crate::buildargs::expand(line, &build_yml)? {
            set(&mut out, k, v);
        }
    }
    for (k, v) in &o.build_args {
        set(&mut out, k.trim().to_string(), v.trim().to_string());
    }
    let explicit = out.clone();
    let has = |out: &Vec<(String, String)>, k: &str| out.iter().any(|(n, _)| n == k);
    let mut defaults: Vec<(&str, String)> = Vec::new();
    if git.is_some() && !tag.build.gitrepo.is_empty() {
        defaults.push(("SOURCE", tag.build.gitrepo.clone()));
    }
    if let Some(g) = git {
        if !g.revision.is_empty() {
            defaults.push(("REVISION", g.revision.clone()));
        }
        defaults.push(("GOPKGVERSION", g.go_pkg_version.clone()));
    }
    if !tag.hash.is_empty() {
        defaults.push(("PKG_HASH", tag.hash.clone()));
    }
    defaults.push(("PKG_IMAGE", format!("{}/{}", tag.org, tag.image)));
    for (k, v) in defaults {
        if !has(&out, k) {
            out.push((k.to_string(), v));
        }
    }
    Ok((explicit, out))
}

/// The labels linuxkit sets on every package image.
fn labels(tag: &PkgTag, git: Option<&GitFacts>) -> Vec<(String, String)> {
    let mut l = Vec::new();
    if let Some(g) = git {
        if !tag.build.gitrepo.is_empty() {
            l.push((
                "org.opencontainers.image.source".into(),
                tag.build.gitrepo.clone(),
            ));
        }
        if !g.revision.is_empty() {
            l.push((
                "org.opencontainers.image.revision".into(),
                g.revision.clone(),
            ));
        }
    }
    if let Some(c) = &tag.build.config {
        l.push(("org.mobyproject.config".into(), c.label_json()));
    }
    l.push((
        "org.mobyproject.linuxkit.version".into(),
        format!("evebuild-{}", env!("CARGO_PKG_VERSION")),
    ));
    l.push(("org.mobyproject.linuxkit.revision".into(), "unknown".into()));
    l
}

/// The package directory `arg` names: `pkg/<x>` as given, or `eve-<x>` → `<root>/<x>`.
pub fn package_dir(pkg_root: &Path, arg: &str) -> PathBuf {
    let p = Path::new(arg);
    if p.is_dir() {
        return p.to_path_buf();
    }
    let name = arg.strip_prefix("eve-").unwrap_or(arg);
    let name = name.strip_prefix("pkg/").unwrap_or(name);
    pkg_root.join(name)
}
