//! The cataloguing sink: watches a rootfs entry stream go by (beside the image writer, through
//! a `Tee`) and keeps only what the SBOM needs — apk databases, os-release files, the build
//! information of Go binaries, the kernel's version, and which image section each file came
//! from (the stream's `LINUXKIT.source`/`LINUXKIT.location` annotations). Other files are not
//! read beyond their first four bytes (to tell ELF binaries apart).
//!
//! Attribution: an image root is a yml section that names an image (kernel, `init[i]`,
//! `onboot[i]`, `services[i]`, `volume[i]` …). A package belongs to the section whose entry
//! carried it. linuxkit merges the apk databases of the init images into one file; its
//! segments (one per image, see [`crate::apk::parse`]) are given to the init image that wrote
//! most of the files the segment's packages own (segments follow init order, so an image is
//! never earlier than the previous segment's). A stream without annotations (a plain tar)
//! gets one root per container directory and one for everything else.

use crate::apk::{self, ApkPackage};
use crate::format::{
    self, APK_INSTALLED, ELF_MAGIC, KERNEL, MAX_KERNEL, MAX_SMALL_FILE, OS_RELEASE,
};
use crate::gobuildinfo::{self, BuildInfo};
use crate::purl::{self, Purl};
use crate::spdx::{Component, DocumentInfo, Graph, Purpose, Relation};
use evebuild_linuxkit::format::{APK_SOURCE, PAX_LOCATION, PAX_SOURCE};
use evebuild_tree::{Entry, Error, Kind, Sink};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;

/// What the document says about the build, besides what the stream holds.
#[derive(Debug, Clone)]
pub struct Options {
    /// Document name, e.g. `eve-rootfs-0.0.0-kvm-amd64-generic`.
    pub name: String,
    /// The rootfs version (the root package's version).
    pub version: String,
    /// SOURCE_DATE_EPOCH: the document's `created`.
    pub created: i64,
    /// Namespace prefix (default: [`format::spdx::NAMESPACE_BASE`]).
    pub namespace_base: String,
    /// Manifest digests of the images, by reference as the yml names them (expanded): image
    /// roots get a `pkg:oci` PURL pinned to them.
    pub image_digests: BTreeMap<String, String>,
    /// Target architecture (`amd64`), the `arch` qualifier of image PURLs.
    pub arch: String,
}

impl Options {
    /// Options with the default namespace and no image digests.
    pub fn new(name: &str, version: &str, created: i64) -> Options {
        Options {
            name: name.to_string(),
            version: version.to_string(),
            created,
            namespace_base: format::spdx::NAMESPACE_BASE.to_string(),
            image_digests: BTreeMap::new(),
            arch: String::new(),
        }
    }
}

/// Where an entry came from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Origin {
    source: String,
    location: String,
}

/// Something found in the stream.
#[derive(Debug)]
struct Found<T> {
    path: String,
    origin: Option<u32>,
    value: T,
}

/// The cataloguing [`Sink`]. Feed it the rootfs, then call [`Cataloguer::finish`].
#[derive(Debug, Default)]
pub struct Cataloguer {
    origins: Vec<Origin>,
    current: Option<u32>,
    /// Files outside `containers/`, by the origin that wrote them (for init attribution).
    root_files: HashMap<String, u32>,
    /// Container directory (`containers/services/debug`) of each origin that wrote one.
    dirs: BTreeMap<u32, String>,
    databases: Vec<Found<Vec<u8>>>,
    os_release: BTreeMap<(String, String), Vec<u8>>,
    binaries: Vec<Found<BuildInfo>>,
    kernel: Option<Found<String>>,
}

impl Cataloguer {
    /// An empty catalogue.
    pub fn new() -> Cataloguer {
        Cataloguer::default()
    }

    /// Packages found so far (apk records, Go binaries, kernel), for progress reports.
    pub fn found(&self) -> usize {
        self.databases.len() + self.binaries.len() + usize::from(self.kernel.is_some())
    }
}

/// Splits an in-image path into its image root (`""`, `containers/services/x/lower`,
/// `containers/volumes/v/lower`) and the path inside it.
pub fn split_root(path: &str) -> (&str, &str) {
    let parts: Vec<&str> = path.splitn(5, '/').collect();
    if parts.len() >= 4 && parts[0] == "containers" {
        let section = parts[1];
        let root_dir = parts[3];
        let is_root = match section {
            "onboot" | "onshutdown" | "services" => root_dir == "lower" || root_dir == "rootfs",
            "volumes" => root_dir == "lower",
            _ => false,
        };
        if is_root {
            let len = parts[..4].iter().map(|p| p.len() + 1).sum::<usize>() - 1;
            let rest = path.get(len + 1..).unwrap_or("");
            return (&path[..len], rest);
        }
    }
    ("", path)
}

/// `containers/<section>/<name>` of a path under a container, if it is one.
fn container_dir(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.splitn(4, '/').collect();
    (parts.len() >= 3 && parts[0] == "containers").then(|| parts[..3].join("/"))
}

fn read_all(data: &mut dyn Read, limit: u64, path: &str) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    data.take(limit)
        .read_to_end(&mut out)
        .map_err(|e| Error::io(format!("reading {path} for the SBOM"), e))?;
    Ok(out)
}

impl Sink for Cataloguer {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), Error> {
        let path = entry.path.as_str_lossy().into_owned();
        if let (Some(o), Some(dir)) = (self.current, container_dir(&path)) {
            self.dirs.entry(o).or_insert(dir);
        }
        let Kind::File { size } = entry.kind else {
            return Ok(());
        };
        if let Some(o) = self.current
            && !path.starts_with("containers/")
        {
            self.root_files.insert(path.clone(), o);
        }
        let (prefix, rel) = split_root(&path);
        let origin = self.current;
        let found = |value| Found {
            path: path.clone(),
            origin,
            value,
        };
        if rel == APK_INSTALLED {
            let bytes = read_all(data, MAX_SMALL_FILE, &path)?;
            self.databases.push(Found {
                path: path.clone(),
                origin,
                value: bytes,
            });
        } else if OS_RELEASE.contains(&rel) {
            let bytes = read_all(data, MAX_SMALL_FILE, &path)?;
            self.os_release
                .insert((prefix.to_string(), rel.to_string()), bytes);
        } else if path == KERNEL {
            let bytes = read_all(data, MAX_KERNEL, &path)?;
            if let Some(v) = crate::kernel::version(&bytes) {
                self.kernel = Some(Found {
                    path: path.clone(),
                    origin,
                    value: v,
                });
            }
        } else if size >= 64 {
            let mut magic = [0u8; 4];
            data.read_exact(&mut magic)
                .map_err(|e| Error::io(format!("reading {path} for the SBOM"), e))?;
            if &magic == ELF_MAGIC {
                let mut rest = (&magic[..]).chain(data);
                let info = gobuildinfo::scan(&mut rest)
                    .map_err(|e| Error::io(format!("reading {path} for the SBOM"), e))?;
                if let Some(info) = info {
                    self.binaries.push(found(info));
                }
            }
        }
        Ok(())
    }

    fn annotate(&mut self, records: &[(String, Vec<u8>)]) {
        let get = |k: &str| {
            records
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        };
        let (Some(source), Some(location)) = (get(PAX_SOURCE), get(PAX_LOCATION)) else {
            self.current = None;
            return;
        };
        let o = Origin { source, location };
        let i = match self.origins.iter().position(|x| *x == o) {
            Some(i) => i,
            None => {
                self.origins.push(o);
                self.origins.len() - 1
            }
        };
        self.current = Some(i as u32);
    }
}

/// Whether a yml section names an image (its entries make an image root).
fn is_image_section(o: &Origin) -> bool {
    let section = o.location.split('[').next().unwrap_or("");
    let known = matches!(
        section,
        "kernel" | "init" | "onboot" | "onshutdown" | "services" | "volume"
    );
    known
        && o.location != "init"
        && !o.source.is_empty()
        && !o.source.starts_with("linuxkit.")
        && o.source != APK_SOURCE
        && o.source != "empty"
}

/// `(repository, tag)` of an image reference.
fn split_reference(reference: &str) -> (&str, &str) {
    let name = reference.split('@').next().unwrap_or(reference);
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (name, ""),
    }
}

/// The distro an image root declares in os-release: `(ID, VERSION_ID)`.
fn distro(os_release: &BTreeMap<(String, String), Vec<u8>>, prefix: &str) -> (String, String) {
    let text = OS_RELEASE
        .iter()
        .find_map(|rel| os_release.get(&(prefix.to_string(), rel.to_string())))
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default();
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_string())
            .unwrap_or_default()
    };
    (field("ID"), field("VERSION_ID"))
}

/// `Person: Name (email)` from apk's `Name <email>`.
fn person(maintainer: &str) -> Option<String> {
    let m = maintainer.trim();
    if m.is_empty() {
        return None;
    }
    Some(match m.split_once('<') {
        Some((name, rest)) => format!(
            "Person: {} ({})",
            name.trim(),
            rest.trim_end_matches('>').trim()
        ),
        None => format!("Person: {m}"),
    })
}

impl Cataloguer {
    /// The document of everything seen.
    pub fn finish(self, opts: &Options) -> Sbom {
        let mut g = Graph::default();
        let top = g.add(Component {
            ecosystem: "rootfs".into(),
            name: opts.name.clone(),
            version: opts.version.clone(),
            purpose: Some(Purpose::OperatingSystem),
            ..Default::default()
        });
        // One root per image section (or per container directory without annotations).
        let mut roots: HashMap<u32, usize> = HashMap::new();
        for (i, o) in self.origins.iter().enumerate() {
            if !is_image_section(o) {
                continue;
            }
            let (repo, tag) = split_reference(&o.source);
            let short = repo.rsplit('/').next().unwrap_or(repo);
            let dir = self.dirs.get(&(i as u32));
            let mut purl = Purl::new("oci", short)
                .qualifier("repository_url", repo)
                .qualifier("tag", tag)
                .qualifier("arch", &opts.arch);
            if let Some(d) = opts.image_digests.get(&o.source) {
                purl = purl.version(d);
            }
            let where_ = dir.map(|d| format!(" at /{d}")).unwrap_or_default();
            let root = g.add(Component {
                ecosystem: "image".into(),
                name: short.to_string(),
                version: tag.to_string(),
                location: o.location.clone(),
                purl: Some(purl.build()),
                source_info: Some(format!(
                    "linuxkit yml section {}{where_}: {}",
                    o.location, o.source
                )),
                purpose: Some(if o.location == "kernel" {
                    Purpose::OperatingSystem
                } else {
                    Purpose::Container
                }),
                ..Default::default()
            });
            g.relate(top, Relation::Contains, root);
            roots.insert(i as u32, root);
        }
        let mut dir_roots: BTreeMap<String, usize> = BTreeMap::new();
        let mut root_of = |g: &mut Graph, origin: Option<u32>, path: &str| -> usize {
            if let Some(r) = origin.and_then(|o| roots.get(&o)) {
                return *r;
            }
            if origin.is_some() {
                return top;
            }
            let Some(dir) = container_dir(path) else {
                return top;
            };
            *dir_roots.entry(dir.clone()).or_insert_with(|| {
                let r = g.add(Component {
                    ecosystem: "image".into(),
                    name: dir.rsplit('/').next().unwrap_or(&dir).to_string(),
                    location: dir.clone(),
                    source_info: Some(format!("container directory /{dir}")),
                    purpose: Some(Purpose::Container),
                    ..Default::default()
                });
                g.relate(top, Relation::Contains, r);
                r
            })
        };

        if let Some(k) = &self.kernel {
            let root = root_of(&mut g, k.origin, &k.path);
            let v = &k.value;
            let c = g.add(Component {
                ecosystem: "kernel".into(),
                name: "linux-kernel".into(),
                version: v.clone(),
                location: format!("/{}", k.path),
                purl: Some(Purl::new("generic", "linux-kernel").version(v).build()),
                cpe: Some(format!("{}:{v}:*:*:*:*:*:*:*", format::KERNEL_CPE)),
                source_info: Some(format!("kernel release in /{}", k.path)),
                purpose: Some(Purpose::OperatingSystem),
                ..Default::default()
            });
            g.relate(root, Relation::Contains, c);
        }

        for db in &self.databases {
            let packages = apk::parse(&db.value);
            let (prefix, _) = split_root(&db.path);
            let (id, version_id) = distro(&self.os_release, prefix);
            let merged = db
                .origin
                .is_some_and(|o| self.origins[o as usize].source == APK_SOURCE);
            let segment_roots = if merged {
                self.init_segments(&packages)
            } else {
                Vec::new()
            };
            let mut idx = Vec::with_capacity(packages.len());
            for p in &packages {
                let root = match segment_roots.get(p.segment) {
                    Some(Some(o)) => root_of(&mut g, Some(*o), &db.path),
                    Some(None) => top,
                    None => root_of(&mut g, db.origin, &db.path),
                };
                let c = g.add(apk_component(p, &db.path, &id, &version_id));
                g.relate(root, Relation::Contains, c);
                idx.push(c);
            }
            // Dependencies, within this database.
            let mut providers: HashMap<&str, usize> = HashMap::new();
            for (p, &c) in packages.iter().zip(&idx) {
                for n in p.provided_names() {
                    providers.entry(n).or_insert(c);
                }
            }
            for (p, &c) in packages.iter().zip(&idx) {
                for d in p.depends.iter().filter_map(|d| apk::dependency_name(d)) {
                    if let Some(&dep) = providers.get(d) {
                        g.relate(dep, Relation::DependencyOf, c);
                    }
                }
            }
        }

        for b in &self.binaries {
            let root = root_of(&mut g, b.origin, &b.path);
            go_components(&mut g, root, b);
        }
        Sbom {
            graph: g,
            info: DocumentInfo {
                name: opts.name.clone(),
                version: opts.version.clone(),
                created: opts.created,
                namespace_base: opts.namespace_base.clone(),
                tool: format!("evebuild-{}", env!("CARGO_PKG_VERSION")),
            },
        }
    }

    /// The init origin of each segment of the merged init database (`None`: no file of the
    /// segment's packages was seen).
    fn init_segments(&self, packages: &[ApkPackage]) -> Vec<Option<u32>> {
        let segments = packages
            .iter()
            .map(|p| p.segment)
            .max()
            .map_or(0, |m| m + 1);
        let init_index = |o: u32| -> Option<usize> {
            let loc = &self.origins[o as usize].location;
            loc.strip_prefix("init[")?.strip_suffix(']')?.parse().ok()
        };
        let mut out = Vec::with_capacity(segments);
        let mut floor = 0usize;
        for s in 0..segments {
            let mut votes: BTreeMap<(usize, u32), usize> = BTreeMap::new();
            for p in packages.iter().filter(|p| p.segment == s) {
                for f in &p.files {
                    if let Some(&o) = self.root_files.get(f)
                        && let Some(i) = init_index(o)
                        && i >= floor
                    {
                        *votes.entry((i, o)).or_default() += 1;
                    }
                }
            }
            // Most votes; on a tie, the earliest init image.
            let best = votes
                .iter()
                .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(&(i, o), _)| (i, o));
            if let Some((i, _)) = best {
                floor = i;
            }
            out.push(best.map(|(_, o)| o));
        }
        out
    }
}

fn apk_component(p: &ApkPackage, db_path: &str, distro_id: &str, version_id: &str) -> Component {
    let namespace = if distro_id.is_empty() {
        "alpine"
    } else {
        distro_id
    };
    let distro = if version_id.is_empty() {
        String::new()
    } else {
        format!("{namespace}-{version_id}")
    };
    let mut purl = Purl::new("apk", &p.name)
        .namespace(namespace)
        .version(&p.version)
        .qualifier("arch", &p.arch);
    if !p.origin.is_empty() && p.origin != p.name {
        purl = purl.qualifier("upstream", &p.origin);
    }
    // purl qualifiers are sorted; syft puts distro last, which sorting gives too.
    purl = purl.qualifier("distro", &distro);
    Component {
        ecosystem: "apk".into(),
        name: p.name.clone(),
        version: p.version.clone(),
        arch: p.arch.clone(),
        location: format!("/{db_path}"),
        purl: Some(purl.build()),
        license: p.license.clone(),
        supplier: person(&p.maintainer),
        download: Some(p.url.clone()),
        source_info: Some(format!("acquired package info from APK DB: /{db_path}")),
        description: (!p.description.is_empty()).then(|| p.description.clone()),
        ..Default::default()
    }
}

/// The main module's version: its own, else a pseudo-version from the VCS stamp.
fn main_version(info: &BuildInfo) -> String {
    let v = info.main.as_ref().map(|m| m.version.as_str()).unwrap_or("");
    if !v.is_empty() && v != "(devel)" {
        return v.to_string();
    }
    match (info.setting("vcs.revision"), info.setting("vcs.time")) {
        (Some(rev), Some(time)) if rev.len() >= 12 => {
            let stamp: String = time.chars().filter(char::is_ascii_digit).take(14).collect();
            format!("v0.0.0-{stamp}-{}", &rev[..12])
        }
        _ => String::new(),
    }
}

/// `h1:<base64 sha256>` as hex.
fn h1_hex(sum: &str) -> Option<String> {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD
        .decode(sum.strip_prefix("h1:")?)
        .ok()?;
    (b.len() == 32).then(|| hex::encode(b))
}

fn go_components(g: &mut Graph, root: usize, b: &Found<BuildInfo>) {
    let info = &b.value;
    let location = format!("/{}", b.path);
    let source_info = Some(format!("go module information from the binary /{}", b.path));
    let module = |path: &str, version: &str, sum: &str, purpose| Component {
        ecosystem: "go-module".into(),
        name: path.to_string(),
        version: version.to_string(),
        location: location.clone(),
        purl: Some(purl::golang(path, version)),
        source_info: source_info.clone(),
        sha256: h1_hex(sum),
        purpose: Some(purpose),
        ..Default::default()
    };
    let main_path = info
        .main
        .as_ref()
        .map(|m| m.path.as_str())
        .filter(|p| !p.is_empty())
        .unwrap_or(&info.path);
    let main_sum = info.main.as_ref().map(|m| m.sum.as_str()).unwrap_or("");
    let main = (!main_path.is_empty()).then(|| {
        g.add(module(
            main_path,
            &main_version(info),
            main_sum,
            Purpose::Application,
        ))
    });
    let mut parts = Vec::new();
    for d in &info.deps {
        parts.push(g.add(module(&d.path, &d.version, &d.sum, Purpose::Library)));
    }
    if let Some(go) = info.go_version.strip_prefix("go") {
        parts.push(g.add(Component {
            ecosystem: "go-module".into(),
            name: "stdlib".into(),
            version: info.go_version.clone(),
            location: location.clone(),
            purl: Some(Purl::new("golang", "stdlib").version(go).build()),
            cpe: Some(format!("{}:{go}:-:*:*:*:*:*:*", format::GO_CPE)),
            license: "BSD-3-Clause".into(),
            source_info: source_info.clone(),
            purpose: Some(Purpose::Library),
            ..Default::default()
        }));
    }
    if let Some(m) = main {
        g.relate(root, Relation::Contains, m);
    }
    for p in parts {
        g.relate(root, Relation::Contains, p);
        if let Some(m) = main {
            g.relate(p, Relation::DependencyOf, m);
        }
    }
}

/// A finished SBOM: the package graph and the document settings.
#[derive(Debug)]
pub struct Sbom {
    /// Packages and relationships.
    pub graph: Graph,
    /// Document settings.
    pub info: DocumentInfo,
}

impl Sbom {
    /// The SPDX 2.3 JSON document.
    pub fn to_json(&self) -> Vec<u8> {
        self.graph.to_json(&self.info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_of_paths() {
        assert_eq!(
            split_root("lib/apk/db/installed"),
            ("", "lib/apk/db/installed")
        );
        assert_eq!(
            split_root("containers/services/debug/lower/lib/apk/db/installed"),
            ("containers/services/debug/lower", "lib/apk/db/installed")
        );
        assert_eq!(
            split_root("containers/onboot/000-x/rootfs/etc/os-release"),
            ("containers/onboot/000-x/rootfs", "etc/os-release")
        );
        assert_eq!(
            split_root("containers/services/debug/config.json"),
            ("", "containers/services/debug/config.json")
        );
        assert_eq!(
            split_reference("docker.io/lfedge/eve-x:abc"),
            ("docker.io/lfedge/eve-x", "abc")
        );
        assert_eq!(
            split_reference("localhost:5000/x"),
            ("localhost:5000/x", "")
        );
        assert_eq!(
            person("Natanael Copa <ncopa@alpinelinux.org>").as_deref(),
            Some("Person: Natanael Copa (ncopa@alpinelinux.org)")
        );
    }
}
