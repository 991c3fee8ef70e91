//! The in-process builder for Dockerfiles that only assemble files.
//!
//! Supported: `FROM scratch`, `FROM <image in the store>`, `FROM <earlier stage>`, multi-stage
//! builds, `COPY` (`--from=<stage|image>`, `--chmod` (octal), `--chown`, `--exclude`, wildcards,
//! heredocs), `ADD` of local files and local archives (gzip, bzip2, xz, zstd or plain tar,
//! extracted as docker does), `ARG` (also before `FROM`), `ENV`, `LABEL`, `WORKDIR`, `USER`,
//! `ENTRYPOINT`, `CMD`, `SHELL`, `EXPOSE`, `VOLUME`, `STOPSIGNAL`, `HEALTHCHECK`,
//! `MAINTAINER`, `ONBUILD` (recorded). Variables expand as BuildKit expands them.
//!
//! Determinism: one layer per `COPY`/`ADD`/`WORKDIR` that changes something; entries sorted;
//! owners root unless `--chown` (or preserved from a stage or an archive); mtimes clamped to
//! SOURCE_DATE_EPOCH; `created` = SOURCE_DATE_EPOCH.
//!
//! Cost: a stage keeps its files as an in-memory index whose contents stay where they are (the
//! context, a base layer, memory); only the built stage's new layers are made into tars, in
//! one pass that compresses them into the store and hashes their diff_ids
//! ([`layer::write_gzip`]). Stages that are only copied from are never written.
//!
//! Not supported (a container builder does these): `RUN`, remote `ADD` sources, symbolic
//! `--chmod`, `COPY --parents`, base images with `ONBUILD` triggers. Hard links copied out of
//! a stage or an image become separate files.

pub mod fs;
pub mod layer;
mod users;

use crate::Error;
use crate::dockerfile::lex::{Env, Lexer};
use crate::dockerfile::{CmdLine, Command, CopyArgs, Dockerfile, Health, Instruction};
use crate::image_config::{Empty, Healthcheck, History, ImageConfig, rfc3339};
use evebuild_tree::{Entry, EntryPath, Kind, MemTree};
use fs::{Data, Fs, Node};
use layer::BlobSource;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The `PATH` BuildKit gives Linux images that have none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A layer of a base image, as its manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDesc {
    /// `sha256:…` of the blob.
    pub digest: String,
    /// Blob size.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

/// An image resolved for one platform.
#[derive(Debug, Clone)]
pub struct BaseImage {
    /// Its configuration.
    pub config: ImageConfig,
    /// Its layers, bottom first.
    pub layers: Vec<LayerDesc>,
}

/// Where `FROM` and `COPY --from` images come from (the store).
pub trait ImageSource: BlobSource {
    /// The image `reference` (as written, e.g. `lfedge/eve-alpine:abc`) for `linux/<arch>`, or
    /// `None` when it is not available.
    fn resolve(&self, reference: &str, arch: &str) -> Result<Option<BaseImage>, Error>;
}

/// A layer of the built image.
#[derive(Debug, Clone)]
pub enum OutLayer {
    /// Reused from a base image.
    Base(LayerDesc),
    /// Made by this build: its entries in path order (contents in memory or on the host). It
    /// becomes a tar only when the image is stored ([`layer::write_gzip`]).
    New(Arc<Vec<Node>>),
}

/// The result of a build: a config and layers.
#[derive(Debug)]
pub struct Built {
    /// The image configuration. `rootfs.diff_ids` lists the base image's layers; the diff_ids
    /// of the new layers are known once they are written ([`crate::package::write_built`]).
    pub config: ImageConfig,
    /// Layers, bottom first.
    pub layers: Vec<OutLayer>,
}

/// What a native build needs.
pub struct Options<'a> {
    /// Target GOARCH.
    pub arch: &'a str,
    /// The build machine's GOARCH (for `$BUILDPLATFORM`).
    pub build_arch: &'a str,
    /// Build arguments (`--build-arg`), later ones winning.
    pub build_args: &'a [(String, String)],
    /// Labels set on the result, over the Dockerfile's.
    pub labels: &'a [(String, String)],
    /// Every timestamp.
    pub source_date_epoch: i64,
    /// The stage to build (default: the last).
    pub target: Option<&'a str>,
    /// The build context.
    pub context: &'a Fs,
    /// Base images.
    pub images: &'a dyn ImageSource,
}

/// True when the Dockerfile needs a container builder (it has `RUN`).
pub fn needs_container_builder(df: &Dockerfile) -> bool {
    df.stages.iter().any(|s| s.has_run())
}

#[derive(Clone)]
struct State {
    fs: Option<Fs>,
    pending_base: Vec<LayerDesc>,
    layers: Vec<OutLayer>,
    config: ImageConfig,
    env: Vec<(String, String)>,
    cmd_set: bool,
    arch: String,
}

struct Builder<'a> {
    df: &'a Dockerfile,
    o: &'a Options<'a>,
    lex: Lexer,
    global_env: Vec<(String, String)>,
    stages: Vec<Option<State>>,
}

/// Builds the Dockerfile's target stage.
pub fn build(df: &Dockerfile, o: &Options) -> Result<Built, Error> {
    if let Some(s) = df.stages.iter().find(|s| s.has_run()) {
        let line = s
            .instructions
            .iter()
            .find(|i| matches!(i.command, Command::Run { .. }))
            .map_or(s.line, |i| i.line);
        return Err(Error::Instruction {
            file: df.path.clone(),
            line,
            message: "RUN needs a container builder; the in-process builder only assembles files"
                .into(),
        });
    }
    let mut b = Builder {
        df,
        o,
        lex: Lexer::new(df.escape),
        global_env: Vec::new(),
        stages: vec![None; df.stages.len()],
    };
    b.global_env = b.global_args()?;
    let target = match o.target {
        Some(t) => df
            .stage_index(t, df.stages.len())
            .ok_or_else(|| Error::Other(format!("{}: no stage named {t:?}", df.path.display())))?,
        None => df.stages.len() - 1,
    };
    b.build_stage(target)?;
    let mut st = b.stages[target].take().expect("built");
    for (k, v) in o.labels {
        st.config.config.labels.insert(k.clone(), v.clone());
    }
    st.config.created = Some(rfc3339(o.source_date_epoch));
    st.config.os = "linux".into();
    Ok(Built {
        config: st.config,
        layers: st.layers,
    })
}

fn platform_arch(p: &str) -> Option<String> {
    let mut parts = p.split('/');
    let os = parts.next()?;
    let arch = parts.next()?;
    (os == "linux").then(|| arch.to_string())
}

impl<'a> Builder<'a> {
    fn err(&self, line: usize, message: impl Into<String>) -> Error {
        Error::Instruction {
            file: self.df.path.clone(),
            line,
            message: message.into(),
        }
    }

    fn build_arg(&self, k: &str) -> Option<String> {
        self.o
            .build_args
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    }

    /// The automatic platform args, then the global `ARG`s (build args override defaults).
    fn global_args(&self) -> Result<Vec<(String, String)>, Error> {
        let (t, b) = (self.o.arch, self.o.build_arch);
        let mut env: Vec<(String, String)> = [
            ("TARGETPLATFORM", format!("linux/{t}")),
            ("TARGETOS", "linux".into()),
            ("TARGETARCH", t.into()),
            ("TARGETVARIANT", String::new()),
            ("BUILDPLATFORM", format!("linux/{b}")),
            ("BUILDOS", "linux".into()),
            ("BUILDARCH", b.into()),
            ("BUILDVARIANT", String::new()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (k, default) in &self.df.global_args {
            let v = match (self.build_arg(k), default) {
                (Some(v), _) => Some(v),
                (None, Some(d)) => Some(
                    self.lex
                        .process_word(d, &env)
                        .map_err(|e| self.err(self.df.stages[0].line, e.to_string()))?,
                ),
                (None, None) => None,
            };
            if let Some(v) = v {
                env.retain(|(n, _)| n != k);
                env.push((k.clone(), v));
            }
        }
        Ok(env)
    }

    fn build_stage(&mut self, i: usize) -> Result<(), Error> {
        if self.stages[i].is_some() {
            return Ok(());
        }
        let stage = &self.df.stages[i];
        let base = self
            .lex
            .process_word(&stage.base, &self.global_env)
            .map_err(|e| self.err(stage.line, e.to_string()))?;
        let arch = match &stage.platform {
            Some(p) => {
                let p = self
                    .lex
                    .process_word(p, &self.global_env)
                    .map_err(|e| self.err(stage.line, e.to_string()))?;
                platform_arch(&p)
                    .ok_or_else(|| self.err(stage.line, format!("unsupported platform {p:?}")))?
            }
            None => self.o.arch.to_string(),
        };
        let mut st = if base == "scratch" {
            State {
                fs: Some(Fs::new()),
                pending_base: Vec::new(),
                layers: Vec::new(),
                config: ImageConfig::default(),
                env: Vec::new(),
                cmd_set: false,
                arch: arch.clone(),
            }
        } else if let Some(j) = self.df.stage_index(&base, i) {
            self.build_stage(j)?;
            let mut s = self.stages[j].clone().expect("built");
            s.cmd_set = false;
            s
        } else {
            let img = self.resolve_image(&base, &arch, stage.line)?;
            if img
                .config
                .config
                .on_build
                .as_ref()
                .is_some_and(|v| !v.is_empty())
            {
                return Err(self.err(
                    stage.line,
                    format!("{base} has ONBUILD triggers, which evebuild does not run"),
                ));
            }
            State {
                fs: None,
                pending_base: img.layers.clone(),
                layers: img.layers.into_iter().map(OutLayer::Base).collect(),
                config: img.config,
                env: Vec::new(),
                cmd_set: false,
                arch: arch.clone(),
            }
        };
        st.config.architecture = arch;
        st.config.os = "linux".into();
        if !st
            .config
            .config
            .env_pairs()
            .iter()
            .any(|(k, _)| k == "PATH")
        {
            st.config.config.env.push(format!("PATH={DEFAULT_PATH}"));
        }
        st.env = st.config.config.env_pairs();
        for ins in &stage.instructions {
            self.dispatch(i, &mut st, ins)?;
        }
        self.stages[i] = Some(st);
        Ok(())
    }

    fn resolve_image(&self, reference: &str, arch: &str, line: usize) -> Result<BaseImage, Error> {
        self.o.images.resolve(reference, arch)?.ok_or_else(|| {
            self.err(
                line,
                format!(
                    "image {reference} for linux/{arch} is not in the store: build its package \
                     first (evebuild pkg build pkg/<name>) or put it in the store"
                ),
            )
        })
    }

    fn expand(&self, st: &State, word: &str, line: usize) -> Result<String, Error> {
        self.lex
            .process_word(word, &st.env)
            .map_err(|e| self.err(line, e.to_string()))
    }

    fn dispatch(&mut self, idx: usize, st: &mut State, ins: &Instruction) -> Result<(), Error> {
        let line = ins.line;
        let mut made_layer = false;
        match &ins.command {
            Command::Arg(args) => {
                for (k, default) in args {
                    let v = match (self.build_arg(k), default) {
                        (Some(v), _) => Some(v),
                        (None, Some(d)) => Some(self.expand(st, d, line)?),
                        (None, None) => self.global_env.get(k),
                    };
                    if let Some(v) = v {
                        st.env.push((k.clone(), v));
                    }
                }
            }
            Command::Env(pairs) => {
                for (k, v) in pairs {
                    let k = self.expand(st, k, line)?;
                    let v = self.expand(st, v, line)?;
                    if k.is_empty() {
                        return Err(self.err(line, "ENV names can not be blank"));
                    }
                    st.config.config.set_env(&k, &v);
                    st.env.push((k, v));
                }
            }
            Command::Label(pairs) => {
                for (k, v) in pairs {
                    let k = self.expand(st, k, line)?;
                    let v = self.expand(st, v, line)?;
                    if k.is_empty() {
                        return Err(self.err(line, "LABEL names can not be blank"));
                    }
                    st.config.config.labels.insert(k, v);
                }
            }
            Command::Workdir(p) => {
                let p = self.expand(st, p, line)?;
                let wd = join_workdir(&st.config.config.working_dir, &p);
                st.config.config.working_dir = wd.clone();
                if let Ok(path) = EntryPath::new(&wd) {
                    made_layer = self.mkdir_layer(st, &path, line)?;
                }
            }
            Command::User(u) => st.config.config.user = self.expand(st, u, line)?,
            Command::Entrypoint(c) => {
                st.config.config.entrypoint = Some(self.cmd_vec(st, c));
                if !st.cmd_set {
                    st.config.config.cmd = None;
                }
            }
            Command::Cmd(c) => {
                st.config.config.cmd = Some(self.cmd_vec(st, c));
                st.cmd_set = true;
            }
            Command::Shell(s) => st.config.config.shell = Some(s.clone()),
            Command::Expose(ports) => {
                for p in ports {
                    for p in self
                        .lex
                        .process_words(p, &st.env)
                        .map_err(|e| self.err(line, e.to_string()))?
                    {
                        let key = if p.contains('/') {
                            p
                        } else {
                            format!("{p}/tcp")
                        };
                        st.config.config.exposed_ports.insert(key, Empty {});
                    }
                }
            }
            Command::Volume(vs) => {
                for v in vs {
                    let v = self.expand(st, v, line)?;
                    if v.trim().is_empty() {
                        return Err(self.err(line, "VOLUME specified can not be an empty string"));
                    }
                    st.config.config.volumes.insert(v, Empty {});
                }
            }
            Command::StopSignal(s) => st.config.config.stop_signal = self.expand(st, s, line)?,
            Command::Healthcheck(h) => {
                st.config.config.healthcheck = Some(match h {
                    Health::None => Healthcheck {
                        test: vec!["NONE".into()],
                        ..Default::default()
                    },
                    Health::Check {
                        cmd,
                        durations,
                        retries,
                    } => Healthcheck {
                        test: match cmd {
                            CmdLine::Exec(v) => std::iter::once("CMD".to_string())
                                .chain(v.iter().cloned())
                                .collect(),
                            CmdLine::Shell(s) => vec!["CMD-SHELL".into(), s.clone()],
                        },
                        interval: durations[0],
                        timeout: durations[1],
                        start_period: durations[2],
                        start_interval: durations[3],
                        retries: *retries,
                    },
                });
            }
            Command::Maintainer(m) => st.config.author = Some(m.clone()),
            Command::Onbuild(t) => st
                .config
                .config
                .on_build
                .get_or_insert_with(Vec::new)
                .push(t.clone()),
            Command::Copy(c) => made_layer = self.copy(idx, st, c, false, line)?,
            Command::Add(c) => made_layer = self.copy(idx, st, c, true, line)?,
            Command::Run { .. } | Command::From { .. } => {
                return Err(self.err(line, "internal: unexpected instruction"));
            }
        }
        st.config.history.push(History {
            created: Some(rfc3339(self.o.source_date_epoch)),
            created_by: Some(ins.original.clone()),
            comment: Some("evebuild.dockerfile.v0".into()),
            empty_layer: !made_layer,
        });
        Ok(())
    }

    fn cmd_vec(&self, st: &State, c: &CmdLine) -> Vec<String> {
        match c {
            CmdLine::Exec(v) => v.clone(),
            CmdLine::Shell(s) => {
                let mut v = st
                    .config
                    .config
                    .shell
                    .clone()
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
                v.push(s.clone());
                v
            }
        }
    }

    /// Loads the stage's filesystem index (reading base layers the first time).
    fn fs<'s>(&self, st: &'s mut State) -> Result<&'s mut Fs, Error> {
        if st.fs.is_none() {
            let mut fs = Fs::new();
            for l in &st.pending_base {
                layer::apply_layer(&mut fs, &l.digest, self.o.images.open_blob(&l.digest)?)?;
            }
            st.fs = Some(fs);
            st.pending_base.clear();
        }
        Ok(st.fs.as_mut().expect("loaded"))
    }

    fn mkdir_layer(&self, st: &mut State, path: &EntryPath, line: usize) -> Result<bool, Error> {
        let sde = self.o.source_date_epoch;
        let owner =
            users::resolve_owner(self, st, &st.config.config.user.clone(), line).unwrap_or((0, 0));
        let fs = self.fs(st)?;
        let mut nodes = BTreeMap::new();
        mkdir_parents(fs, path, true, owner, sde, &mut nodes).map_err(|m| self.err(line, m))?;
        self.commit_layer(st, nodes)
    }

    /// Adds `nodes` to `st` as a new layer (nothing when empty). Returns whether it did.
    fn commit_layer(&self, st: &mut State, nodes: BTreeMap<Vec<u8>, Node>) -> Result<bool, Error> {
        if nodes.is_empty() {
            return Ok(false);
        }
        let mut nodes: Vec<Node> = nodes.into_values().collect();
        layer::load_layer_data(&mut nodes, self.o.images)?;
        let fs = self.fs(st)?;
        for n in &nodes {
            fs.insert(n.clone());
        }
        st.layers.push(OutLayer::New(Arc::new(nodes)));
        Ok(true)
    }

    fn copy(
        &mut self,
        idx: usize,
        st: &mut State,
        c: &CopyArgs,
        is_add: bool,
        line: usize,
    ) -> Result<bool, Error> {
        let sde = self.o.source_date_epoch;
        let sources: Vec<String> = c
            .sources
            .iter()
            .map(|s| self.expand(st, s, line))
            .collect::<Result<_, _>>()?;
        let dest_raw = self.expand(st, &c.dest, line)?;
        let chmod = match &c.chmod {
            Some(m) => Some(u32::from_str_radix(m, 8).ok().filter(|m| *m <= 0o7777).ok_or_else(
                || {
                    self.err(
                        line,
                        format!("invalid chmod parameter: {m:?}; it should be an octal mode between 0 and 07777"),
                    )
                },
            )?),
            None => None,
        };
        let chown = match &c.chown {
            Some(u) => {
                let u = self.expand(st, u, line)?;
                Some(users::resolve_owner(self, st, &u, line)?)
            }
            None => None,
        };
        let n_inputs = sources.len() + c.heredocs.len();
        let dest_dir_syntax =
            dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/.");
        if n_inputs > 1 && !dest_dir_syntax {
            return Err(self.err(
                line,
                "when copying more than one source, the destination must be a directory and end with a /",
            ));
        }
        let dest_abs = join_workdir(&st.config.config.working_dir, &dest_raw);
        let dest_path = EntryPath::new(&dest_abs).ok();

        // The source filesystem.
        let from_stage_state;
        let (src_fs, from_context): (&Fs, bool) = match &c.from {
            None => (self.o.context, true),
            Some(f) => {
                let f = self.expand(st, f, line)?;
                if let Some(j) = self.df.stage_index(&f, idx) {
                    self.build_stage(j)?;
                    let mut s = self.stages[j].take().expect("built");
                    self.fs(&mut s)?;
                    from_stage_state = s.fs.clone();
                    self.stages[j] = Some(s);
                } else {
                    let img = self.resolve_image(&f, &st.arch, line)?;
                    let mut fs = Fs::new();
                    for l in &img.layers {
                        layer::apply_layer(
                            &mut fs,
                            &l.digest,
                            self.o.images.open_blob(&l.digest)?,
                        )?;
                    }
                    from_stage_state = Some(fs);
                }
                (from_stage_state.as_ref().expect("set"), false)
            }
        };
        let exclude = crate::ignore::Ignore::parse(&c.exclude.join("\n"));

        // Resolve sources to (path in src_fs or root, name used under a directory dest).
        let mut items: Vec<(Option<EntryPath>, Vec<u8>)> = Vec::new();
        for s in &sources {
            if is_remote(s) {
                return Err(self.err(
                    line,
                    format!("{s}: remote sources are not supported (download it into the package, or use a container builder)"),
                ));
            }
            let norm = normalise_source(s);
            if has_wildcard(&norm) {
                for p in glob(src_fs, &norm) {
                    let name = p.file_name().to_vec();
                    let r = src_fs.resolve(&p, true).map_err(|m| self.err(line, m))?;
                    items.push((r, name));
                }
                continue;
            }
            let p = if norm.is_empty() {
                None
            } else {
                Some(EntryPath::new(&norm).map_err(|e| self.err(line, e.to_string()))?)
            };
            let resolved = match &p {
                None => None,
                Some(p) => src_fs.resolve(p, true).map_err(|m| self.err(line, m))?,
            };
            if let Some(r) = &resolved
                && src_fs.get(r).is_none()
            {
                let hint = if from_context {
                    " in the build context (check the path, extra-sources and .dockerignore)"
                } else {
                    ""
                };
                return Err(self.err(line, format!("{s}: not found{hint}")));
            }
            let name = p.map(|p| p.file_name().to_vec()).unwrap_or_default();
            items.push((resolved, name));
        }

        let owner_of = |e: &Entry| -> (u32, u32) {
            match chown {
                Some(o) => o,
                None if from_context => (0, 0),
                None => (e.uid, e.gid),
            }
        };
        let adjust = |mut e: Entry, path: EntryPath| -> Entry {
            e.path = path;
            (e.uid, e.gid) = owner_of(&e);
            if let Some(m) = chmod
                && !matches!(e.kind, Kind::Symlink { .. })
            {
                e.mode = m;
            }
            e.mtime = e.mtime.min(sde);
            if from_context {
                e.xattrs.clear();
            }
            e
        };

        let dest_fs = self.fs(st)?;
        let dest_is_dir = dest_dir_syntax
            || items.len() > 1
            || dest_path.as_ref().is_none_or(|d| dest_fs.is_dir(d));
        let mut out: BTreeMap<Vec<u8>, Node> = BTreeMap::new();
        let parent_owner = chown.unwrap_or((0, 0));

        // Where something named `name` lands.
        let target_for = |dest_fs: &Fs, name: &[u8]| -> Result<EntryPath, String> {
            let base = match &dest_path {
                Some(d) => dest_fs.resolve(d, true)?,
                None => None,
            };
            if dest_is_dir {
                match base {
                    Some(b) => b.join(name).map_err(|e| e.to_string()),
                    None => EntryPath::from_bytes(name).map_err(|e| e.to_string()),
                }
            } else {
                let d = dest_path
                    .clone()
                    .ok_or("copying a file onto / needs a directory destination")?;
                let parent = match d.parent() {
                    Some(p) => dest_fs.resolve(&p, true)?,
                    None => None,
                };
                match parent {
                    Some(p) => p.join(d.file_name()).map_err(|e| e.to_string()),
                    None => Ok(EntryPath::from_bytes(d.file_name()).map_err(|e| e.to_string())?),
                }
            }
        };

        for (src, name) in &items {
            let node = src.as_ref().and_then(|p| src_fs.get(p));
            let is_dir = node.is_none_or(|n| matches!(n.entry.kind, Kind::Dir));
            if is_dir {
                // Copy the directory's contents into dest.
                let base = match &dest_path {
                    Some(d) => dest_fs.resolve(d, true).map_err(|m| self.err(line, m))?,
                    None => None,
                };
                if let Some(b) = &base {
                    if let Some(parent) = b.parent() {
                        mkdir_parents(dest_fs, &parent, true, parent_owner, sde, &mut out)
                            .map_err(|m| self.err(line, m))?;
                    }
                    if !dest_fs.is_dir(b) && !out.contains_key(b.as_bytes()) {
                        let e = match node {
                            Some(n) => adjust(n.entry.clone(), b.clone()),
                            None => {
                                let mut e = Entry::dir(b.clone(), chmod.unwrap_or(0o755), sde);
                                (e.uid, e.gid) = parent_owner;
                                e
                            }
                        };
                        out.insert(
                            b.as_bytes().to_vec(),
                            Node {
                                entry: e,
                                data: Data::None,
                            },
                        );
                    }
                }
                let children: Vec<&Node> = match src {
                    Some(p) => src_fs.descendants(p),
                    None => src_fs.iter().collect(),
                };
                let strip = src.as_ref().map_or(0, |p| p.as_bytes().len() + 1);
                for ch in children {
                    let rel = &ch.entry.path.as_bytes()[strip..];
                    if !exclude.is_empty() && exclude.excludes(&String::from_utf8_lossy(rel)) {
                        continue;
                    }
                    let target = match &base {
                        Some(b) => b.join(rel),
                        None => EntryPath::from_bytes(rel),
                    }
                    .map_err(|e| self.err(line, e.to_string()))?;
                    out.insert(
                        target.as_bytes().to_vec(),
                        Node {
                            entry: adjust(ch.entry.clone(), target),
                            data: ch.data.clone(),
                        },
                    );
                }
                continue;
            }
            let node = node.expect("checked");
            if !exclude.is_empty() && exclude.excludes(&String::from_utf8_lossy(name)) {
                continue;
            }
            if is_add && matches!(node.entry.kind, Kind::File { .. }) {
                let bytes = read_node(node, self.o.images)?;
                if let Some(tree) = try_archive(&bytes) {
                    let base = match &dest_path {
                        Some(d) => dest_fs.resolve(d, true).map_err(|m| self.err(line, m))?,
                        None => None,
                    };
                    if let Some(b) = &base {
                        mkdir_parents(dest_fs, b, true, parent_owner, sde, &mut out)
                            .map_err(|m| self.err(line, m))?;
                    }
                    for (e, data) in archive_nodes(&tree) {
                        let target = match &base {
                            Some(b) => b.join(e.path.as_bytes()),
                            None => Ok(e.path.clone()),
                        }
                        .map_err(|e| self.err(line, e.to_string()))?;
                        let mut e = e;
                        e.path = target.clone();
                        if let Some(o) = chown {
                            (e.uid, e.gid) = o;
                        }
                        e.mtime = e.mtime.min(sde);
                        out.insert(target.as_bytes().to_vec(), Node { entry: e, data });
                    }
                    continue;
                }
            }
            let target = target_for(dest_fs, name).map_err(|m| self.err(line, m))?;
            if let Some(parent) = target.parent() {
                mkdir_parents(dest_fs, &parent, true, parent_owner, sde, &mut out)
                    .map_err(|m| self.err(line, m))?;
            }
            out.insert(
                target.as_bytes().to_vec(),
                Node {
                    entry: adjust(node.entry.clone(), target),
                    data: node.data.clone(),
                },
            );
        }
        for h in &c.heredocs {
            let content = if h.expand {
                self.lex
                    .process_word(&h.content, &st.env)
                    .map_err(|e| self.err(line, e.to_string()))?
            } else {
                h.content.clone()
            };
            let content = if h.chomp {
                content
                    .split_inclusive('\n')
                    .map(|l| l.trim_start_matches('\t'))
                    .collect()
            } else {
                content
            };
            let dest_fs = self.fs(st)?;
            let target = target_for(dest_fs, h.name.as_bytes()).map_err(|m| self.err(line, m))?;
            if let Some(parent) = target.parent() {
                mkdir_parents(dest_fs, &parent, true, parent_owner, sde, &mut out)
                    .map_err(|m| self.err(line, m))?;
            }
            let mut e = Entry::file(
                target.clone(),
                content.len() as u64,
                chmod.unwrap_or(0o644),
                sde,
            );
            (e.uid, e.gid) = parent_owner;
            out.insert(
                target.as_bytes().to_vec(),
                Node {
                    entry: e,
                    data: Data::Mem(content.into_bytes().into()),
                },
            );
        }
        self.commit_layer(st, out)
    }
}

/// Adds to `out` the directories of `path` (itself too when `inclusive`) that exist neither in
/// `fs` nor in `out`.
fn mkdir_parents(
    fs: &Fs,
    path: &EntryPath,
    inclusive: bool,
    owner: (u32, u32),
    sde: i64,
    out: &mut BTreeMap<Vec<u8>, Node>,
) -> Result<(), String> {
    let all = path.ancestors_and_self();
    let n = if inclusive { all.len() } else { all.len() - 1 };
    for a in &all[..n] {
        if out.contains_key(a.as_bytes()) {
            continue;
        }
        match fs.resolve(a, true)? {
            None => continue,
            Some(r) if fs.get(&r).is_some() => {
                if !fs.is_dir(&r) {
                    return Err(format!("{a} exists and is not a directory"));
                }
                continue;
            }
            Some(_) => {}
        }
        let mut e = Entry::dir(a.clone(), 0o755, sde);
        (e.uid, e.gid) = owner;
        out.insert(
            a.as_bytes().to_vec(),
            Node {
                entry: e,
                data: Data::None,
            },
        );
    }
    Ok(())
}

fn read_node(n: &Node, blobs: &dyn BlobSource) -> Result<Vec<u8>, Error> {
    match &n.data {
        Data::Host(p) => std::fs::read(p).map_err(|e| Error::io(p, e)),
        Data::Mem(b) => Ok(b.to_vec()),
        Data::None => Ok(Vec::new()),
        Data::Layer { .. } => {
            let mut one = vec![n.clone()];
            layer::load_layer_data(&mut one, blobs)?;
            read_node(&one[0], blobs)
        }
    }
}

/// `Some(tree)` when `bytes` is a (possibly compressed) tar archive, as `ADD` recognises them.
fn try_archive(bytes: &[u8]) -> Option<MemTree> {
    if bytes.is_empty() {
        return None;
    }
    let (r, _) = layer::decompress(Box::new(bytes)).ok()?;
    let mut tree = MemTree::new();
    let mut first = [0u8; 512];
    let mut r = r;
    let mut n = 0;
    while n < 512 {
        match r.read(&mut first[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return None,
        }
    }
    if n < 512 || tar::Header::from_byte_slice(&first).cksum().ok()? != header_sum(&first) {
        return None;
    }
    let all = std::io::Read::chain(&first[..], r);
    evebuild_tree::tar::read_tar(all, &mut tree).ok()?;
    Some(tree)
}

use std::io::Read as _;

fn header_sum(h: &[u8; 512]) -> u32 {
    h.iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum()
}

fn archive_nodes(tree: &MemTree) -> Vec<(Entry, Data)> {
    let mut out = Vec::new();
    for (e, d) in tree.iter() {
        match &e.kind {
            Kind::Hardlink { target } => {
                if let Some((t, td)) = tree.get(target) {
                    let mut e = e.clone();
                    e.kind = t.kind.clone();
                    out.push((e, Data::Mem(td.into())));
                }
            }
            Kind::File { .. } => out.push((e.clone(), Data::Mem(d.into()))),
            _ => out.push((e.clone(), Data::None)),
        }
    }
    out
}

/// `WORKDIR`/destination joining: absolute stays, relative joins the working directory.
fn join_workdir(wd: &str, p: &str) -> String {
    let joined = if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{p}", if wd.is_empty() { "/" } else { wd })
    };
    let mut parts: Vec<&str> = Vec::new();
    for c in joined.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// A source path relative to the source root, `..` unable to climb above it.
fn normalise_source(s: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn is_remote(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
}

fn has_wildcard(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Paths of `fs` matching a `filepath.Match`-style pattern, component by component.
fn glob(fs: &Fs, pattern: &str) -> Vec<EntryPath> {
    let pats: Vec<&str> = pattern.split('/').collect();
    fs.iter()
        .filter(|n| {
            let comps: Vec<&[u8]> = n.entry.path.components().collect();
            comps.len() == pats.len()
                && comps
                    .iter()
                    .zip(&pats)
                    .all(|(c, p)| component_match(p.as_bytes(), c))
        })
        .map(|n| n.entry.path.clone())
        .collect()
}

pub(crate) fn component_match(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| component_match(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && component_match(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(end) = p.iter().skip(1).position(|b| *b == b']').map(|i| i + 1) else {
                return s.first() == Some(&b'[') && component_match(&p[1..], &s[1..]);
            };
            let Some(&c) = s.first() else { return false };
            let mut class = &p[1..end];
            let neg = matches!(class.first(), Some(b'^' | b'!'));
            if neg {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != neg && component_match(&p[end + 1..], &s[1..])
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && component_match(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && component_match(&p[1..], &s[1..]),
    }
}
