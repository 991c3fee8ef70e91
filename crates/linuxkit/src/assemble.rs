//! The rootfs of a linuxkit yml, streamed into a [`Sink`]: what `linuxkit build --format tar`
//! produces, after extraction.
//!
//! Sections are processed in linuxkit's order — kernel, init, volumes, onboot, onshutdown,
//! services, files — and laid over each other as bsdtar extracting linuxkit's tar would
//! ([`crate::flatten`]). The layout: `boot/{kernel,cmdline,ucode.cpio}` and the expanded
//! `kernel.tar`; init images at `/` with their apk databases merged;
//! `containers/volumes/<name>/{lower,tmp,merged}`; `containers/onboot/NNN-<name>`,
//! `containers/onshutdown/NNN-<name>` and `containers/services/<name>` with `config.json`,
//! `runtime.json` and `lower/` + `tmp` + `rootfs` (or `rootfs/` when read-only), one
//! extraction per image reused across containers (linuxkit's dupMap); linuxkit's
//! exclude/replace/touch rules in every image; the `files:` entries with their parent
//! directories.
//!
//! Deliberate differences from linuxkit's tar, none visible after extraction except where
//! linuxkit is wrong: every path appears once (the entry bsdtar would leave, last wins);
//! opaque whiteouts are honoured; hard links stay inside their image; parent directories an
//! image never wrote get 0755, root and linuxkit's fixed mtime instead of the extraction
//! time.
//!
//! Streaming: a first pass reads every layer's headers to build the tree (metadata only, one
//! image per thread, as many threads as cores); the
//! output is then written as all directories, links, devices and generated files in path
//! order, then the layer files stream by stream in layer order (each layer read once more,
//! front to back), then hard links. Each entry is preceded by its provenance
//! (`LINUXKIT.source`/`LINUXKIT.location`, see [`Sink::annotate`]).
//!
//! Left out: `--input-tar`, `--decompress-kernel`, the SBOM.

use crate::flatten::{Data, Node, Tree, TreeError, stream_tree, write_tree};
use crate::format::{
    APK_INSTALLED, APK_SOURCE, DEFAULT_MTIME, EXCLUDE, HOSTS, MTAB_TARGET, PAX_LOCATION,
    PAX_SOURCE, RESOLV_CONF, RESOLV_SYMLINK, TOUCH_DIRS, VOLUMES_DIR,
};
use crate::imageconfig::{Id, Mount};
use crate::runtime::{self, IdKind, ImageSettings};
use crate::source::{ImageHandle, Images, LayoutData, Stream, visit_members};
use crate::yml::{self, Config};
use evebuild_tree::{EntryPath, Kind, Sink};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Read;
use std::path::PathBuf;

/// What the assembler needs besides the yml.
pub struct AssembleContext<'a> {
    /// Where images come from (already bound to the target platform).
    pub images: &'a dyn Images,
    /// Directory `files:` `source:` paths are relative to (linuxkit: its working directory).
    pub base_dir: PathBuf,
    /// Home directory for `~/` in `source:` (none: `~/` stays literal).
    pub home_dir: Option<PathBuf>,
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Report {
    /// Entries written.
    pub entries: u64,
    /// File bytes written.
    pub bytes: u64,
    /// Images read (expanded references), in first-use order.
    pub images: Vec<String>,
}

/// Why a rootfs cannot be assembled.
#[derive(Debug, thiserror::Error)]
pub enum AssembleError {
    /// A section of the yml cannot be built (names the section and what to fix).
    #[error("{location}: {message}")]
    Section {
        /// `kernel`, `init[0]`, `services[3]`, `files[1]` …
        location: String,
        /// What is wrong.
        message: String,
    },
    /// Reading a layer or writing the output failed.
    #[error(transparent)]
    Stream(#[from] evebuild_tree::Error),
}

fn section_err(location: &str, message: impl std::fmt::Display) -> AssembleError {
    AssembleError::Section {
        location: location.to_string(),
        message: message.to_string(),
    }
}

/// Largest /etc/passwd, /etc/group or apk database read from an image.
const MAX_SMALL_FILE: u64 = 64 << 20;

struct StreamSpec {
    image: usize,
    stream: Stream,
}

struct Plan<'a> {
    ctx: &'a AssembleContext<'a>,
    images: Vec<Box<dyn ImageHandle + 'a>>,
    by_ref: HashMap<String, usize>,
    streams: Vec<StreamSpec>,
    origins: Vec<(String, String)>,
    tree: Tree,
    /// Trees made ahead by [`Plan::prefetch`]: image, stream number, result.
    prefetched: std::collections::VecDeque<(usize, u32, Result<Tree, String>)>,
}

fn path(s: &str) -> EntryPath {
    EntryPath::new(s).expect("a valid built-in path")
}

impl<'a> Plan<'a> {
    fn origin(&mut self, source: &str, location: &str) -> u32 {
        self.origins
            .push((source.to_string(), location.to_string()));
        (self.origins.len() - 1) as u32
    }

    fn image(&mut self, reference: &str, location: &str) -> Result<usize, AssembleError> {
        if let Some(i) = self.by_ref.get(reference) {
            return Ok(*i);
        }
        let h = self
            .ctx
            .images
            .resolve(reference)
            .map_err(|e| section_err(location, format!("image {reference}: {e}")))?;
        self.images.push(h);
        self.by_ref
            .insert(reference.to_string(), self.images.len() - 1);
        Ok(self.images.len() - 1)
    }

    /// Pass one over a stream: its tree, metadata only (prefetched when it can be).
    fn flatten(
        &mut self,
        image: usize,
        stream: Stream,
        whiteouts: bool,
        location: &str,
    ) -> Result<(u32, Tree), AssembleError> {
        if stream == Stream::Layers
            && whiteouts
            && self.prefetched.front().is_some_and(|(i, _, _)| *i == image)
        {
            let (_, id, tree) = self.prefetched.pop_front().expect("checked");
            return tree.map(|t| (id, t)).map_err(|e| section_err(location, e));
        }
        self.streams.push(StreamSpec { image, stream });
        let id = (self.streams.len() - 1) as u32;
        let tree = stream_tree(&*self.images[image], stream, id, whiteouts)
            .map_err(|e| section_err(location, e))?;
        Ok((id, tree))
    }

    /// Pass one for every image the sections will flatten, in parallel: the same images, in
    /// the same order, with the same stream numbers as the sequential walk would give them.
    fn prefetch(&mut self, config: &Config) -> Result<(), AssembleError> {
        let mut jobs: Vec<(String, String)> = Vec::new();
        if !config.kernel.image.is_empty() {
            jobs.push((config.kernel.image.clone(), "kernel".into()));
        }
        for (i, r) in config.init.iter().flatten().enumerate() {
            jobs.push((r.clone(), format!("init[{i}]")));
        }
        for (i, v) in config.volumes.iter().flatten().enumerate() {
            if !v.image.is_empty() && v.format != "oci" {
                jobs.push((
                    evebuild_oci::reference_expand(&v.image),
                    format!("volume[{i}]"),
                ));
            }
        }
        let mut seen = HashSet::new();
        for (section, i, c) in config.containers() {
            if seen.insert(c.image.clone()) {
                jobs.push((c.image.clone(), format!("{section}[{i}]")));
            }
        }
        let mut work = Vec::new();
        for (r, loc) in &jobs {
            let image = self.image(r, loc)?;
            self.streams.push(StreamSpec {
                image,
                stream: Stream::Layers,
            });
            work.push((image, (self.streams.len() - 1) as u32));
        }
        let results: Vec<std::sync::Mutex<Option<Result<Tree, String>>>> =
            work.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let next = std::sync::atomic::AtomicUsize::new(0);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(work.len());
        let images = &self.images;
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(|| {
                    loop {
                        let j = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((image, id)) = work.get(j) else {
                            break;
                        };
                        let tree = stream_tree(&*images[*image], Stream::Layers, *id, true);
                        *results[j].lock().expect("no panics while holding it") = Some(tree);
                    }
                });
            }
        });
        for ((image, id), r) in work.into_iter().zip(results) {
            let tree = r.into_inner().expect("unpoisoned").expect("every job ran");
            self.prefetched.push_back((image, id, tree));
        }
        Ok(())
    }

    fn dir(&mut self, p: &EntryPath, origin: u32) -> Result<(), AssembleError> {
        self.insert(p.clone(), Node::dir(0o755, DEFAULT_MTIME, origin))
    }

    fn insert(&mut self, p: EntryPath, node: Node) -> Result<(), AssembleError> {
        let loc = self.origins[node.origin as usize].1.clone();
        self.tree.insert(p, node).map_err(|e| section_err(&loc, e))
    }

    /// linuxkit's `tarPrefix`: every directory of `p`, 0755.
    fn prefix_dirs(&mut self, p: &EntryPath, origin: u32) -> Result<(), AssembleError> {
        for a in p.ancestors_and_self() {
            self.dir(&a, origin)?;
        }
        Ok(())
    }

    /// Reads a regular file of a stream (bounded).
    fn read_member(&self, node: &Node, what: &str) -> Result<Vec<u8>, String> {
        let Data::Member {
            stream,
            layer,
            ordinal,
            ..
        } = node.data
        else {
            return Ok(Vec::new());
        };
        if node.kind.clone()
            != (Kind::File {
                size: node_size(node),
            })
            || node_size(node) > MAX_SMALL_FILE
        {
            return Err(format!("{what} is larger than {MAX_SMALL_FILE} bytes"));
        }
        let spec = &self.streams[stream as usize];
        let mut out = Vec::new();
        visit_members(
            &*self.images[spec.image],
            spec.stream,
            &mut |l, k, _, data| {
                if (l, k) == (layer, ordinal) {
                    data.take(MAX_SMALL_FILE)
                        .read_to_end(&mut out)
                        .map_err(|e| evebuild_tree::Error::io(format!("reading {what}"), e))?;
                }
                Ok(())
            },
        )
        .map_err(|e| e.to_string())?;
        Ok(out)
    }
}

fn node_size(n: &Node) -> u64 {
    match n.kind {
        Kind::File { size } => size,
        _ => 0,
    }
}

/// linuxkit's exclude/replace/touch rules, as they end up after extraction.
fn linuxkit_rules(tree: &mut Tree, resolv_symlink: bool) -> Result<(), TreeError> {
    for p in EXCLUDE {
        let p = path(p);
        match tree.map.get(&p).map(|n| n.kind == Kind::Dir) {
            Some(true) => tree.insert(p, Node::dir(0o755, DEFAULT_MTIME, 0))?,
            Some(false) => tree.remove(&p, None),
            None => {}
        }
    }
    for d in TOUCH_DIRS {
        tree.insert(path(d), Node::dir(0o755, DEFAULT_MTIME, 0))?;
    }
    tree.insert(
        path("etc/hosts"),
        Node::inline(HOSTS.as_bytes(), 0o644, DEFAULT_MTIME, 0),
    )?;
    let resolv = if resolv_symlink {
        Node::symlink(RESOLV_SYMLINK, 0o644, DEFAULT_MTIME, 0)
    } else {
        Node::inline(RESOLV_CONF.as_bytes(), 0o644, DEFAULT_MTIME, 0)
    };
    tree.insert(path("etc/resolv.conf"), resolv)?;
    match tree.map.get_mut(&path("etc/mtab")) {
        Some(n) => n.mtime = DEFAULT_MTIME,
        None => tree.insert(
            path("etc/mtab"),
            Node::symlink(MTAB_TARGET, 0o755, DEFAULT_MTIME, 0),
        )?,
    }
    Ok(())
}

/// Follows symbolic links inside `tree` (at most 40), as a chroot would.
fn resolve_in_tree<'t>(tree: &'t Tree, start: &str) -> Result<(&'t Node, String), String> {
    let mut current = start.to_string();
    for _ in 0..40 {
        let p = EntryPath::new(&current).map_err(|e| e.to_string())?;
        let mut rewritten = None;
        for a in p.ancestors_and_self() {
            match tree.map.get(&a) {
                None => return Err(format!("/{current} does not exist in the image")),
                Some(Node {
                    kind: Kind::Symlink { target },
                    ..
                }) => {
                    let target = String::from_utf8_lossy(target).into_owned();
                    let rest = &p.as_str_lossy()[a.as_bytes().len()..];
                    let base = if target.starts_with('/') {
                        String::new()
                    } else {
                        a.parent()
                            .map(|d| d.as_str_lossy().into_owned())
                            .unwrap_or_default()
                    };
                    rewritten = Some(format!("{base}/{target}{rest}"));
                    break;
                }
                Some(n) if a == p => return Ok((n, current)),
                Some(_) => {}
            }
        }
        current = rewritten.expect("a symlink was found");
    }
    Err(format!("/{start}: too many levels of symbolic links"))
}

/// Looks `name` up in the image's /etc/passwd or /etc/group (regular files only, bounded).
fn lookup_name(
    plan: &Plan<'_>,
    tree: &Tree,
    kind: IdKind,
    name: &str,
) -> Result<Option<u32>, String> {
    let file = match kind {
        IdKind::User => "etc/passwd",
        IdKind::Group => "etc/group",
    };
    let (node, real) =
        resolve_in_tree(tree, file).map_err(|e| format!("looking up {name:?} in /{file}: {e}"))?;
    if !matches!(node.kind, Kind::File { .. }) {
        return Err(format!(
            "looking up {name:?}: /{file} (/{real}) is not a regular file"
        ));
    }
    let text = plan.read_member(node, &format!("/{file}"))?;
    for line in String::from_utf8_lossy(&text).lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() >= 3 && f[0] == name {
            // passwd: name:x:uid:gid…; group: name:x:gid:members — the id is field 3 of both.
            let field = f[2];
            return field
                .parse()
                .map(Some)
                .map_err(|_| format!("/{file}: bad id for {name:?}: {field:?}"));
        }
    }
    Ok(None)
}

/// Assembles the rootfs of `config` into `sink`.
pub fn assemble(
    config: &Config,
    ctx: &AssembleContext<'_>,
    sink: &mut dyn Sink,
) -> Result<Report, AssembleError> {
    let mut plan = Plan {
        ctx,
        images: Vec::new(),
        by_ref: HashMap::new(),
        streams: Vec::new(),
        origins: Vec::new(),
        tree: Tree::default(),
        prefetched: Default::default(),
    };
    plan.prefetch(config)?;
    kernel(&mut plan, config)?;
    init(&mut plan, config)?;
    volumes(&mut plan, config)?;
    containers(&mut plan, config)?;
    files(&mut plan, config)?;
    emit(&plan, sink)
}

fn kernel(plan: &mut Plan<'_>, config: &Config) -> Result<(), AssembleError> {
    let k = &config.kernel;
    if k.image.is_empty() {
        return Ok(());
    }
    let loc = "kernel";
    let img = plan.image(&k.image, loc)?;
    let (_, tree) = plan.flatten(img, Stream::Layers, true, loc)?;
    let origin = plan.origin(&k.image, loc);
    let binary = if k.binary.is_empty() {
        "kernel"
    } else {
        &k.binary
    };
    let tar = match k.tar.as_deref() {
        None => "kernel.tar",
        Some("none") => "",
        Some(t) => t,
    };
    let ucode = k.ucode.as_deref().unwrap_or("");
    #[derive(PartialEq)]
    enum Role {
        Kernel,
        Tar,
        Ucode,
    }
    let mut found = Vec::new();
    for (name, role) in [
        (binary, Role::Kernel),
        (tar, Role::Tar),
        (ucode, Role::Ucode),
    ] {
        if name.is_empty() {
            continue;
        }
        let Ok(p) = EntryPath::new(name) else {
            continue;
        };
        if let Some(n) = tree.map.get(&p)
            && let Data::Member { layer, ordinal, .. } = n.data
        {
            found.push(((layer, ordinal), role, n.clone()));
        }
    }
    if !found.iter().any(|(_, r, _)| *r == Role::Kernel) {
        return Err(section_err(
            loc,
            format!("did not find kernel {binary:?} in kernel image {}", k.image),
        ));
    }
    if !tar.is_empty() && !found.iter().any(|(_, r, _)| *r == Role::Tar) {
        return Err(section_err(
            loc,
            format!(
                "did not find kernel tar {tar:?} in kernel image {}",
                k.image
            ),
        ));
    }
    // linuxkit sees the image top layer first, each layer in tar order.
    found.sort_by_key(|((layer, ordinal), _, _)| (std::cmp::Reverse(*layer), *ordinal));
    let boot = path("boot");
    let mut boot_done = false;
    for ((layer, ordinal), role, n) in found {
        let as_boot_file = |n: &Node| Node {
            uid: 0,
            gid: 0,
            mtime: DEFAULT_MTIME,
            origin,
            layer: 0,
            implied: false,
            ..n.clone()
        };
        match role {
            Role::Kernel | Role::Ucode => {
                if !boot_done {
                    plan.dir(&boot, origin)?;
                    boot_done = true;
                }
                if role == Role::Kernel {
                    let cmdline = Node::inline(k.cmdline.as_bytes(), 0o644, DEFAULT_MTIME, origin);
                    plan.insert(path("boot/cmdline"), cmdline)?;
                    plan.insert(path("boot/kernel"), as_boot_file(&n))?;
                } else {
                    plan.insert(path("boot/ucode.cpio"), as_boot_file(&n))?;
                }
            }
            Role::Tar => {
                let (_, modules) =
                    plan.flatten(img, Stream::Nested { layer, ordinal }, false, loc)?;
                plan.tree
                    .overlay(None, modules, origin)
                    .map_err(|e| section_err(loc, e))?;
            }
        }
    }
    Ok(())
}

fn init(plan: &mut Plan<'_>, config: &Config) -> Result<(), AssembleError> {
    let mut dbs = Vec::new();
    for (i, r) in config.init.iter().flatten().enumerate() {
        let loc = format!("init[{i}]");
        let img = plan.image(r, &loc)?;
        let (_, mut tree) = plan.flatten(img, Stream::Layers, true, &loc)?;
        if let Some(db) = tree.map.get(&path(APK_INSTALLED)) {
            let bytes = plan
                .read_member(db, APK_INSTALLED)
                .map_err(|e| section_err(&loc, e))?;
            dbs.push(bytes);
        }
        linuxkit_rules(&mut tree, true).map_err(|e| section_err(&loc, e))?;
        let origin = plan.origin(r, &loc);
        plan.tree
            .overlay(None, tree, origin)
            .map_err(|e| section_err(&loc, e))?;
    }
    if dbs.len() > 1 {
        let mut merged = Vec::new();
        for db in dbs {
            merged.extend_from_slice(&db);
            merged.extend_from_slice(b"\n\n");
        }
        let origin = plan.origin(APK_SOURCE, "init");
        plan.insert(path(APK_INSTALLED), Node::inline(merged, 0o644, 0, origin))?;
    }
    Ok(())
}

fn volumes(plan: &mut Plan<'_>, config: &Config) -> Result<(), AssembleError> {
    for (i, v) in config.volumes.iter().flatten().enumerate() {
        let loc = format!("volume[{i}]");
        let reference = (!v.image.is_empty()).then(|| evebuild_oci::reference_expand(&v.image));
        let origin = plan.origin(reference.as_deref().unwrap_or("empty"), &loc);
        let base = path(VOLUMES_DIR)
            .join(&v.name)
            .map_err(|e| section_err(&loc, e))?;
        let lower = base.join("lower").expect("valid");
        plan.prefix_dirs(&lower, origin)?;
        if let Some(r) = &reference {
            if v.format == "oci" {
                let members = plan
                    .ctx
                    .images
                    .oci_layout(r, &v.platforms)
                    .map_err(|e| section_err(&loc, e))?;
                for m in members {
                    let p = lower.join(&m.name).map_err(|e| section_err(&loc, e))?;
                    // linuxkit's layout writer sets no mtime: Go writes 0.
                    let node = match m.data {
                        _ if m.dir => Node::dir(0o755, 0, origin),
                        LayoutData::Bytes(b) => Node::inline(b, 0o644, 0, origin),
                        LayoutData::Blob(d, size) => {
                            Node::new(Kind::File { size }, 0o644, 0, Data::Blob(d), origin)
                        }
                        LayoutData::None => Node::inline(Vec::new(), 0o644, 0, origin),
                    };
                    plan.insert(p, node)?;
                }
            } else {
                let img = plan.image(r, &loc)?;
                let (_, mut tree) = plan.flatten(img, Stream::Layers, true, &loc)?;
                linuxkit_rules(&mut tree, true).map_err(|e| section_err(&loc, e))?;
                plan.tree
                    .overlay(Some(&lower), tree, origin)
                    .map_err(|e| section_err(&loc, e))?;
            }
        }
        let vol_origin = plan.origin("linuxkit.volumes", &loc);
        for d in ["tmp", "merged"] {
            plan.dir(&base.join(d).expect("valid"), vol_origin)?;
        }
    }
    Ok(())
}

fn containers(plan: &mut Plan<'_>, config: &Config) -> Result<(), AssembleError> {
    let mut id_map = BTreeMap::new();
    for (n, (_, _, c)) in config.containers().enumerate() {
        id_map.insert(c.name.clone(), 100 + n as u32);
    }
    let volume = |name: &str| {
        config
            .volume(name)
            .map(|v| (format!("/{VOLUMES_DIR}/{}/merged", v.name), v.readonly))
    };
    // dupMap: reference → (directory of the first extraction, its tree for name lookups).
    let mut dup: HashMap<String, (String, Tree)> = HashMap::new();
    for (section, i, c) in config.containers() {
        let loc = format!("{section}[{i}]");
        let dir = match section {
            "services" => format!("containers/{section}/{}", c.name),
            _ => format!("containers/{section}/{i:03}-{}", c.name),
        };
        let prefix = EntryPath::new(&dir).map_err(|e| section_err(&loc, e))?;
        let img = plan.image(&c.image, &loc)?;
        let settings = ImageSettings::from_config_json(plan.images[img].config_json())
            .map_err(|e| section_err(&loc, e))?;
        let origin = plan.origin(&c.image, &loc);
        let with_volumes = runtime::apply_volumes(c, &volume).map_err(|e| section_err(&loc, e))?;

        let first = !dup.contains_key(&c.image);
        let tree = if first {
            let (_, mut tree) = plan.flatten(img, Stream::Layers, true, &loc)?;
            linuxkit_rules(&mut tree, false).map_err(|e| section_err(&loc, e))?;
            Some(tree)
        } else {
            None
        };
        let bundle = {
            let lookup_tree = tree.as_ref().unwrap_or_else(|| &dup[&c.image].1);
            let plan_ref: &Plan<'_> = plan;
            let mut names =
                |kind: IdKind, name: &str| lookup_name(plan_ref, lookup_tree, kind, name);
            runtime::config_to_oci(&with_volumes, &settings, &id_map, &mut names)
                .map_err(|e| section_err(&loc, format!("{}: {e}", c.name)))?
        };
        let root_name = if bundle.readonly { "rootfs" } else { "lower" };
        let root = match tree {
            Some(tree) => {
                let root = prefix.join(root_name).expect("valid");
                plan.prefix_dirs(&root, origin)?;
                let lookup = tree.clone();
                plan.tree
                    .overlay(Some(&root), tree, origin)
                    .map_err(|e| section_err(&loc, e))?;
                dup.insert(c.image.clone(), (root.as_str_lossy().into_owned(), lookup));
                root.as_str_lossy().into_owned()
            }
            None => {
                plan.prefix_dirs(&prefix, origin)?;
                dup[&c.image].0.clone()
            }
        };
        plan.insert(
            prefix.join("config.json").expect("valid"),
            Node::inline(
                bundle.config_json.into_bytes(),
                0o644,
                DEFAULT_MTIME,
                origin,
            ),
        )?;
        let mount = |dest: String, typ: &str, source: &str, options: Vec<String>| Mount {
            destination: dest,
            typ: typ.into(),
            source: source.into(),
            options,
            ..Mount::default()
        };
        let rootfs_mounts = if !bundle.readonly {
            plan.dir(&prefix.join("tmp").expect("valid"), origin)?;
            plan.dir(&prefix.join("rootfs").expect("valid"), origin)?;
            let tmp = format!("/{dir}/tmp");
            vec![
                mount(tmp.clone(), "tmpfs", "tmpfs", vec![]),
                mount(
                    tmp.clone(),
                    "",
                    "",
                    vec!["remount".into(), "private".into()],
                ),
                mount(
                    format!("/{dir}/rootfs"),
                    "overlay",
                    "overlay",
                    vec![
                        format!("lowerdir=/{root}"),
                        format!("upperdir={tmp}/upper"),
                        format!("workdir={tmp}/work"),
                    ],
                ),
            ]
        } else {
            if !first {
                plan.dir(&prefix.join("rootfs").expect("valid"), origin)?;
            }
            vec![mount(
                format!("/{dir}/rootfs"),
                "",
                &format!("/{root}"),
                vec!["bind".into()],
            )]
        };
        plan.insert(
            prefix.join("runtime.json").expect("valid"),
            Node::inline(
                bundle.runtime.to_json(&rootfs_mounts).into_bytes(),
                0o644,
                DEFAULT_MTIME,
                origin,
            ),
        )?;
    }
    Ok(())
}

fn files(plan: &mut Plan<'_>, config: &Config) -> Result<(), AssembleError> {
    let mut id_map = BTreeMap::new();
    for (n, (_, _, c)) in config.containers().enumerate() {
        id_map.insert(c.name.clone(), 100 + n as u32);
    }
    let mut added: HashSet<String> = HashSet::new();
    for (i, f) in config.files.iter().flatten().enumerate() {
        let loc = format!("files[{i}]");
        let err = |m: String| section_err(&loc, format!("{}: {m}", f.path));
        if f.path.is_empty() {
            return Err(section_err(&loc, "did not specify path for file"));
        }
        let rel = f.path.strip_prefix('/').unwrap_or(&f.path).to_string();
        let mut mode: u32 = if f.directory { 0o700 } else { 0o600 };
        if !f.mode.is_empty() {
            mode = u32::from_str_radix(&f.mode, 8)
                .ok()
                .filter(|m| *m <= i32::MAX as u32)
                .ok_or_else(|| {
                    err(format!(
                        "cannot parse file mode {:?} as an octal value",
                        f.mode
                    ))
                })?;
        }
        let mut dir_mode = mode;
        for (any, x) in [(0o700, 0o100), (0o070, 0o010), (0o007, 0o001)] {
            if dir_mode & any != 0 {
                dir_mode |= x;
            }
        }
        let id = |v: &Option<Id>| -> Result<u32, AssembleError> {
            match v {
                None => Ok(0),
                Some(Id::Num(n)) => Ok(*n as i64 as u32),
                Some(Id::Name(s)) if s.is_empty() || s == "root" => Ok(0),
                Some(Id::Name(s)) => id_map
                    .get(s)
                    .copied()
                    .ok_or_else(|| err(format!("cannot find id: {s}"))),
            }
        };
        let (uid, gid) = (id(&f.uid)?, id(&f.gid)?);
        let origin = plan.origin("linuxkit.files", &loc);

        let mut data = None;
        if !f.directory && f.symlink.is_empty() && f.contents.is_none() {
            if f.source.is_empty() && f.metadata.is_empty() {
                return Err(err("contents of file not specified".into()));
            }
            if !f.source.is_empty() && !f.metadata.is_empty() {
                return Err(err("specified Source and Metadata for file".into()));
            }
            if !f.source.is_empty() {
                let src =
                    yml::source_path(&f.source, &plan.ctx.base_dir, plan.ctx.home_dir.as_deref());
                match std::fs::metadata(&src) {
                    Err(_) if f.optional => continue,
                    Err(e) => return Err(err(format!("source {}: {e}", src.display()))),
                    Ok(m) => data = Some((Data::Host(src), m.len())),
                }
            } else {
                let text = match f.metadata.as_str() {
                    "yaml" => crate::metadata::to_yaml(config),
                    "json" => crate::metadata::to_json(config),
                    other => return Err(err(format!("unsupported metadata type: {other}"))),
                };
                let len = text.len() as u64;
                data = Some((Data::Inline(text.into_bytes().into()), len));
            }
        } else {
            if !f.metadata.is_empty() {
                return Err(err("specified Contents and Metadata for file".into()));
            }
            if !f.source.is_empty() {
                return Err(err("specified Contents and Source for file".into()));
            }
        }
        let parent = rel.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
        let mut root = String::new();
        for part in parent.split('/').filter(|p| !p.is_empty() && *p != ".") {
            if !root.is_empty() {
                root.push('/');
            }
            root.push_str(part);
            if added.insert(root.clone()) {
                let p = EntryPath::new(&root).map_err(|e| err(e.to_string()))?;
                let mut d = Node::dir(dir_mode, DEFAULT_MTIME, origin);
                (d.uid, d.gid) = (uid, gid);
                plan.insert(p, d)?;
            }
        }
        added.insert(rel.clone());
        let p = EntryPath::new(&rel).map_err(|e| err(e.to_string()))?;
        let mut node = if f.directory {
            if f.contents.is_some() {
                return Err(err("directory with contents not allowed".into()));
            }
            Node::dir(mode, DEFAULT_MTIME, origin)
        } else if !f.symlink.is_empty() {
            Node::symlink(&f.symlink, mode, DEFAULT_MTIME, origin)
        } else {
            let (data, size) = match (data, &f.contents) {
                (Some(d), _) => d,
                (None, Some(c)) => (Data::Inline(c.as_bytes().into()), c.len() as u64),
                (None, None) => (Data::Inline(Vec::new().into()), 0),
            };
            Node::new(Kind::File { size }, mode, DEFAULT_MTIME, data, origin)
        };
        (node.uid, node.gid) = (uid, gid);
        plan.insert(p, node)?;
    }
    Ok(())
}

/// Writes the plan's tree into `sink`, each entry preceded by its provenance when it changes.
fn emit(plan: &Plan<'_>, sink: &mut dyn Sink) -> Result<Report, AssembleError> {
    let mut report = Report {
        images: plan
            .images
            .iter()
            .map(|i| i.reference().to_string())
            .collect(),
        ..Report::default()
    };
    let streams: Vec<(&dyn ImageHandle, Stream)> = plan
        .streams
        .iter()
        .map(|s| (&*plan.images[s.image], s.stream))
        .collect();
    let open_blob = |digest: &str| plan.ctx.images.open_blob(digest);
    let mut current = None;
    write_tree(
        &plan.tree,
        &streams,
        &open_blob,
        &mut |node, entry, data| {
            if current != Some(node.origin) {
                let (s, l) = &plan.origins[node.origin as usize];
                sink.annotate(&[
                    (PAX_SOURCE.to_string(), s.clone().into_bytes()),
                    (PAX_LOCATION.to_string(), l.clone().into_bytes()),
                ]);
                current = Some(node.origin);
            }
            sink.add(entry, data)?;
            report.entries += 1;
            report.bytes += entry.size();
            Ok(())
        },
    )?;
    Ok(report)
}
