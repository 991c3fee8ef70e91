//! The linuxkit yml schema: parsing, validation and `@pkg:` templates.
//!
//! [`Config::parse`] does what linuxkit's `moby.NewConfig` does: it reads the YAML (yaml.v3
//! rules, see [`crate::yaml::parse_value`]), checks it against linuxkit's JSON schema (every object is
//! closed: an unknown key is an error, reported with the key, where it is and its line; types
//! are checked as JSON schema checks them, so `readonly: yes` or an unquoted `mode: 0644` are
//! errors as in linuxkit), applies `@pkg:` templates when asked, then decodes the typed
//! structures, checks that service names and volume names are unique and volume names match
//! `^[a-z0-9_-]*$`, and expands image references (`ReferenceExpand`).
//!
//! The typed decode keeps linuxkit's quirks, because they decide what lands in config.json and
//! in the metadata dump: optional fields keep "not set" apart from "set to empty" (`Option`);
//! the OCI sub-structures that have no yaml tags in linuxkit only match lower-case keys in
//! yaml.v3, so the camelCase keys its schema allows (`hostID`, `containerID`, `kernelTCP`,
//! `disableOOMKiller`, `realtimeRuntime`, `realtimePeriod`, `leafWeight`, `weightDevice`,
//! `throttle*`, `hugepageLimits`, `classID`) are accepted and dropped. `trust:` is accepted
//! and ignored. A template scalar that starts with `@` but not `@pkg:` becomes empty, and a
//! `@pkg:` that cannot be resolved stays as written, as linuxkit's resolver does.
//!
//! The container settings are linuxkit's image configuration, typed once for ymls, labels and
//! build.yml in [`crate::imageconfig`]; the decoding by schema rules is here.
//!
//! Left out: merging several ymls (`AppendConfig`); EVE composes one yml first.

use crate::imageconfig::{
    BINDNS_KEYS, BindNs, Cpu, DEVICE_KEYS, Device, DeviceRule, IMAGE_CONFIG_KEYS, INTERFACE_KEYS,
    Id, IdMapping, ImageConfig, Interface, MOUNT_KEYS, Memory, Mount, RUNTIME_KEYS, Resources,
    Runtime,
};
use crate::yaml::{self, Node, NodeKind, Style, Value};
use evebuild_oci::reference_expand;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

/// A yml that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum YmlError {
    /// Not YAML, or over a budget.
    #[error("{file}: {source}")]
    Yaml {
        /// The yml's name.
        file: String,
        /// What the YAML reader said.
        source: yaml::YamlError,
    },
    /// YAML that does not fit linuxkit's schema or rules.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The yml's name.
        file: String,
        /// 1-based line (0 when the problem has no place).
        line: usize,
        /// What is wrong and where in the structure.
        message: String,
    },
}

/// The whole yml.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// `kernel:`.
    pub kernel: Kernel,
    /// `init:` image references (expanded).
    pub init: Option<Vec<String>>,
    /// `onboot:`.
    pub onboot: Option<Vec<Container>>,
    /// `onshutdown:`.
    pub onshutdown: Option<Vec<Container>>,
    /// `services:`.
    pub services: Option<Vec<Container>>,
    /// `files:`.
    pub files: Option<Vec<File>>,
    /// `volumes:`.
    pub volumes: Option<Vec<Volume>>,
}

/// `kernel:`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Kernel {
    /// Image reference (expanded); empty when there is no kernel section image.
    pub image: String,
    /// Written verbatim to `boot/cmdline`.
    pub cmdline: String,
    /// Name of the kernel file in the image (`kernel` when empty).
    pub binary: String,
    /// Name of the modules tarball (`kernel.tar` when unset; `""`/`none`: no tarball).
    pub tar: Option<String>,
    /// Name of the microcode cpio (none when unset).
    pub ucode: Option<String>,
}

/// An entry of `onboot:`, `onshutdown:` or `services:`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Container {
    /// `name:`.
    pub name: String,
    /// `image:` (expanded).
    pub image: String,
    /// Everything else (also what an image's `org.mobyproject.config` label may hold).
    pub config: ImageConfig,
}

/// `files:` entry.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct File {
    pub path: String,
    pub directory: bool,
    pub symlink: String,
    pub contents: Option<String>,
    pub source: String,
    pub metadata: String,
    pub optional: bool,
    pub mode: String,
    pub uid: Option<Id>,
    pub gid: Option<Id>,
}

/// `volumes:` entry.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Volume {
    pub name: String,
    /// As written (linuxkit does not expand volume images in the metadata dump).
    pub image: String,
    pub readonly: bool,
    pub format: String,
    pub platforms: Vec<String>,
}

/// Resolves `@pkg:<dir>` templates: the full tag (`org/image:tag`) of the package in `dir`.
pub trait PackageTags {
    /// The package's full tag, or why it cannot be computed.
    fn full_tag(&self, pkg_dir: &Path) -> Result<String, String>;
}

const TOP_KEYS: &[&str] = &[
    "kernel",
    "init",
    "onboot",
    "onshutdown",
    "services",
    "trust",
    "files",
    "volumes",
];
const KERNEL_KEYS: &[&str] = &["image", "cmdline", "binary", "tar", "ucode"];
/// A container entry's keys: its name and image, then the image configuration's.
static IMAGE_KEYS: LazyLock<Vec<&str>> = LazyLock::new(|| {
    ["name", "image"]
        .into_iter()
        .chain(IMAGE_CONFIG_KEYS.iter().copied())
        .collect()
});
const FILE_KEYS: &[&str] = &[
    "path",
    "directory",
    "symlink",
    "contents",
    "source",
    "metadata",
    "optional",
    "mode",
    "uid",
    "gid",
];
const VOLUME_KEYS: &[&str] = &["name", "image", "readonly", "format", "platforms"];
const IDMAP_KEYS: &[&str] = &["hostID", "containerID", "size"];
const RESOURCES_KEYS: &[&str] = &[
    "devices",
    "memory",
    "cpu",
    "pids",
    "blockio",
    "hugepageLimits",
    "network",
];
const DEVCG_KEYS: &[&str] = &["allow", "type", "major", "minor", "access"];
const MEMORY_KEYS: &[&str] = &[
    "limit",
    "reservation",
    "swap",
    "kernel",
    "kernelTCP",
    "swappiness",
    "disableOOMKiller",
];
const CPU_KEYS: &[&str] = &[
    "shares",
    "quota",
    "period",
    "realtimeRuntime",
    "realtimePeriod",
    "cpus",
    "mems",
];
const BLOCKIO_KEYS: &[&str] = &[
    "weight",
    "leafWeight",
    "weightDevice",
    "throttleReadBpsDevice",
    "throttleWriteBpsDevice",
    "throttleReadIOPSDevice",
    "throttleWriteIOPSDevice",
];

impl Config {
    /// Parses a yml without templates (as linuxkit does for stdin, URLs and `--input-tar`).
    pub fn parse(text: &str, file_name: &str) -> Result<Config, YmlError> {
        Self::parse_with(text, file_name, None)
    }

    /// Parses a yml; with `templates`, `@pkg:<dir>` scalars are replaced by package tags,
    /// `<dir>` relative to `yml_dir`.
    pub fn parse_with(
        text: &str,
        file_name: &str,
        templates: Option<(&Path, &dyn PackageTags)>,
    ) -> Result<Config, YmlError> {
        let mut root = yaml::parse_value(text).map_err(|source| YmlError::Yaml {
            file: file_name.to_string(),
            source,
        })?;
        let d = Decoder { file: file_name };
        // Validation and decoding are one walk; templates apply first but never change
        // structure, so a schema error is reported the same with or without them.
        if let Some((dir, tags)) = templates {
            apply_templates(&mut root, dir, tags);
        }
        d.config(&root)
    }

    /// Every container of onboot, onshutdown and services, with its section name and index.
    pub fn containers(&self) -> impl Iterator<Item = (&'static str, usize, &Container)> {
        [
            ("onboot", &self.onboot),
            ("onshutdown", &self.onshutdown),
            ("services", &self.services),
        ]
        .into_iter()
        .flat_map(|(s, list)| {
            list.iter()
                .flatten()
                .enumerate()
                .map(move |(i, c)| (s, i, c))
        })
    }

    /// The volume called `name`.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().flatten().find(|v| v.name == name)
    }
}

impl ImageConfig {
    /// Parses an `org.mobyproject.config` label (YAML or JSON). `name` and `image` are
    /// refused, as linuxkit refuses them.
    pub fn parse_label(text: &str, image: &str) -> Result<ImageConfig, YmlError> {
        let file = format!("label org.mobyproject.config of {image}");
        let root = yaml::parse_value(text).map_err(|source| YmlError::Yaml {
            file: file.clone(),
            source,
        })?;
        let d = Decoder { file: &file };
        let Value::Map(pairs) = root.value() else {
            return Err(d.invalid(root.line, "the label is not an object"));
        };
        for key in ["name", "image"] {
            if let Some((k, _)) = pairs.iter().find(|(k, _)| k.value() == Value::Str(key)) {
                return Err(d.invalid(k.line, format!("{key} cannot be set in metadata label")));
            }
        }
        let obj = d.object(&root, "label", &IMAGE_KEYS)?;
        d.image_config(&obj)
    }
}

fn apply_templates(node: &mut Node, dir: &Path, tags: &dyn PackageTags) {
    match &mut node.kind {
        NodeKind::Scalar(s) => {
            let Some(text) = s.as_str().filter(|t| t.starts_with('@')) else {
                return;
            };
            let replaced = match text.strip_prefix("@pkg:") {
                Some(pkg) => tags
                    .full_tag(&dir.join(pkg))
                    .unwrap_or_else(|_| text.to_string()),
                None => String::new(),
            };
            // The replacement is a string whatever it looks like.
            s.text = replaced;
            s.style = Style::Quoted;
        }
        NodeKind::Seq(items) => items.iter_mut().for_each(|n| apply_templates(n, dir, tags)),
        NodeKind::Map(pairs) => pairs.iter_mut().for_each(|(k, v)| {
            apply_templates(k, dir, tags);
            apply_templates(v, dir, tags);
        }),
    }
}

/// `ctx.key`, or `key` at the top.
fn join(ctx: &str, key: &str) -> String {
    if ctx.is_empty() {
        key.to_string()
    } else {
        format!("{ctx}.{key}")
    }
}

struct Decoder<'f> {
    file: &'f str,
}

/// A mapping checked against its allowed keys.
struct Obj<'a> {
    ctx: String,
    line: usize,
    pairs: Vec<(&'a str, &'a Node)>,
}

impl<'a> Obj<'a> {
    fn get(&self, key: &str) -> Option<&'a Node> {
        self.pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

impl Decoder<'_> {
    fn invalid(&self, line: usize, message: impl Into<String>) -> YmlError {
        YmlError::Invalid {
            file: self.file.to_string(),
            line,
            message: message.into(),
        }
    }

    fn wrong_type(&self, ctx: &str, n: &Node, want: &str) -> YmlError {
        self.invalid(
            n.line,
            format!(
                "{ctx}: invalid type, expected {want}, got {} {}",
                n.value().schema_type(),
                n.value().describe()
            ),
        )
    }

    fn object<'a>(&self, n: &'a Node, ctx: &str, allowed: &[&str]) -> Result<Obj<'a>, YmlError> {
        let Value::Map(pairs) = n.value() else {
            return Err(self.wrong_type(ctx, n, "object"));
        };
        let mut out = Vec::new();
        for (k, v) in pairs {
            let Value::Str(key) = k.value() else {
                return Err(self.invalid(
                    k.line,
                    format!("{ctx}: key {} is not a string", k.value().describe()),
                ));
            };
            if !allowed.contains(&key) {
                return Err(self.invalid(
                    k.line,
                    format!(
                        "{ctx}: unknown key {key:?} (allowed: {})",
                        allowed.join(", ")
                    ),
                ));
            }
            out.push((key, v));
        }
        Ok(Obj {
            ctx: ctx.to_string(),
            line: n.line,
            pairs: out,
        })
    }

    fn str(&self, o: &Obj, key: &str) -> Result<Option<String>, YmlError> {
        match o.get(key) {
            None => Ok(None),
            Some(n) => match n.value() {
                Value::Str(s) => Ok(Some(s.to_string())),
                _ => Err(self.wrong_type(&join(&o.ctx, key), n, "string")),
            },
        }
    }

    fn string(&self, o: &Obj, key: &str) -> Result<String, YmlError> {
        Ok(self.str(o, key)?.unwrap_or_default())
    }

    fn bool(&self, o: &Obj, key: &str) -> Result<Option<bool>, YmlError> {
        match o.get(key) {
            None => Ok(None),
            Some(n) => match n.value() {
                Value::Bool(b) => Ok(Some(b)),
                _ => Err(self.wrong_type(&join(&o.ctx, key), n, "boolean")),
            },
        }
    }

    fn int(&self, o: &Obj, key: &str) -> Result<Option<i128>, YmlError> {
        match o.get(key) {
            None => Ok(None),
            Some(n) => match n.value() {
                Value::Int(i) => Ok(Some(i)),
                _ => Err(self.wrong_type(&join(&o.ctx, key), n, "integer")),
            },
        }
    }

    fn int_as<T: TryFrom<i128>>(&self, o: &Obj, key: &str) -> Result<Option<T>, YmlError> {
        match self.int(o, key)? {
            None => Ok(None),
            Some(i) => T::try_from(i).map(Some).map_err(|_| {
                self.invalid(
                    o.get(key).map_or(o.line, |n| n.line),
                    format!("{}.{key}: {i} is out of range", o.ctx),
                )
            }),
        }
    }

    fn id(&self, ctx: &str, n: &Node) -> Result<Id, YmlError> {
        match n.value() {
            Value::Str(s) => Ok(Id::Name(s.to_string())),
            Value::Int(i) => Ok(Id::Num(i)),
            _ => Err(self.wrong_type(ctx, n, "string or integer")),
        }
    }

    fn opt_id(&self, o: &Obj, key: &str) -> Result<Option<Id>, YmlError> {
        o.get(key)
            .map(|n| self.id(&join(&o.ctx, key), n))
            .transpose()
    }

    fn list<T>(
        &self,
        o: &Obj,
        key: &str,
        mut item: impl FnMut(&Node, &str) -> Result<T, YmlError>,
    ) -> Result<Option<Vec<T>>, YmlError> {
        let Some(n) = o.get(key) else { return Ok(None) };
        let ctx = join(&o.ctx, key);
        let Value::Seq(items) = n.value() else {
            return Err(self.wrong_type(&ctx, n, "array"));
        };
        items
            .iter()
            .enumerate()
            .map(|(i, n)| item(n, &format!("{ctx}[{i}]")))
            .collect::<Result<Vec<T>, _>>()
            .map(Some)
    }

    fn strings(&self, o: &Obj, key: &str) -> Result<Option<Vec<String>>, YmlError> {
        self.list(o, key, |n, ctx| match n.value() {
            Value::Str(s) => Ok(s.to_string()),
            _ => Err(self.wrong_type(ctx, n, "string")),
        })
    }

    fn string_map(&self, o: &Obj, key: &str) -> Result<Option<BTreeMap<String, String>>, YmlError> {
        let Some(n) = o.get(key) else { return Ok(None) };
        let ctx = join(&o.ctx, key);
        let Value::Map(pairs) = n.value() else {
            return Err(self.wrong_type(&ctx, n, "object"));
        };
        let mut out = BTreeMap::new();
        for (k, v) in pairs {
            let (Value::Str(k), Value::Str(v)) = (k.value(), v.value()) else {
                let bad = if matches!(k.value(), Value::Str(_)) {
                    v
                } else {
                    k
                };
                return Err(self.wrong_type(&ctx, bad, "string"));
            };
            out.insert(k.to_string(), v.to_string());
        }
        Ok(Some(out))
    }

    fn config(&self, root: &Node) -> Result<Config, YmlError> {
        if root.is_null() {
            return Ok(Config::default());
        }
        let o = self.object(root, "", TOP_KEYS)?;
        let mut c = Config::default();
        if let Some(k) = o.get("kernel") {
            let k = self.object(k, "kernel", KERNEL_KEYS)?;
            c.kernel = Kernel {
                image: self.string(&k, "image").map(|s| {
                    if s.is_empty() {
                        s
                    } else {
                        reference_expand(&s)
                    }
                })?,
                cmdline: self.string(&k, "cmdline")?,
                binary: self.string(&k, "binary")?,
                tar: self.str(&k, "tar")?,
                ucode: self.str(&k, "ucode")?,
            };
        }
        if let Some(t) = o.get("trust") {
            let t = self.object(t, "trust", &["image", "org"])?;
            self.strings(&t, "image")?;
            self.strings(&t, "org")?;
        }
        c.init = self
            .strings(&o, "init")?
            .map(|v| v.iter().map(|s| reference_expand(s)).collect());
        for (section, slot) in [
            ("onboot", &mut c.onboot),
            ("onshutdown", &mut c.onshutdown),
            ("services", &mut c.services),
        ] {
            *slot = self.list(&o, section, |n, ctx| self.container(n, ctx))?;
        }
        c.files = self.list(&o, "files", |n, ctx| self.file(n, ctx))?;
        c.volumes = self.list(&o, "volumes", |n, ctx| {
            let v = self.object(n, ctx, VOLUME_KEYS)?;
            let format = self.string(&v, "format")?;
            if !matches!(format.as_str(), "" | "oci" | "filesystem") && v.get("format").is_some() {
                return Err(self.invalid(
                    v.get("format").map_or(n.line, |f| f.line),
                    format!("{ctx}.format must be one of \"oci\", \"filesystem\""),
                ));
            }
            Ok(Volume {
                name: self.string(&v, "name")?,
                image: self.string(&v, "image")?,
                readonly: self.bool(&v, "readonly")?.unwrap_or(false),
                format,
                platforms: self.strings(&v, "platforms")?.unwrap_or_default(),
            })
        })?;
        self.check_names(&c, root)?;
        Ok(c)
    }

    fn check_names(&self, c: &Config, root: &Node) -> Result<(), YmlError> {
        let line_of = |section: &str, i: usize| -> usize {
            let Value::Map(pairs) = root.value() else {
                return 0;
            };
            pairs
                .iter()
                .find(|(k, _)| k.value() == Value::Str(section))
                .and_then(|(_, v)| match v.value() {
                    Value::Seq(items) => items.get(i).map(|n| n.line),
                    _ => None,
                })
                .unwrap_or(0)
        };
        let mut seen = std::collections::HashSet::new();
        for (i, s) in c.services.iter().flatten().enumerate() {
            if !seen.insert(&s.name) {
                return Err(self.invalid(
                    line_of("services", i),
                    format!("duplicate service name: {}", s.name),
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, v) in c.volumes.iter().flatten().enumerate() {
            let ok = v
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
            if !ok {
                return Err(self.invalid(
                    line_of("volumes", i),
                    format!("invalid volume name: {} (allowed: a-z 0-9 _ -)", v.name),
                ));
            }
            if !seen.insert(&v.name) {
                return Err(self.invalid(
                    line_of("volumes", i),
                    format!("duplicate volume name: {}", v.name),
                ));
            }
        }
        Ok(())
    }

    fn container(&self, n: &Node, ctx: &str) -> Result<Container, YmlError> {
        let o = self.object(n, ctx, &IMAGE_KEYS)?;
        let mut missing = ["name", "image"].into_iter().filter(|k| o.get(k).is_none());
        if let Some(k) = missing.next() {
            return Err(self.invalid(n.line, format!("{ctx}: {k} is required")));
        }
        Ok(Container {
            name: self.string(&o, "name")?,
            image: reference_expand(&self.string(&o, "image")?),
            config: self.image_config(&o)?,
        })
    }

    fn image_config(&self, o: &Obj) -> Result<ImageConfig, YmlError> {
        Ok(ImageConfig {
            capabilities: self.strings(o, "capabilities")?,
            capabilities_add: self.strings(o, "capabilities.add")?,
            ambient: self.strings(o, "ambient")?,
            mounts: self.list(o, "mounts", |n, ctx| self.mount(n, ctx))?,
            binds: self.strings(o, "binds")?,
            binds_add: self.strings(o, "binds.add")?,
            devices: self.list(o, "devices", |n, ctx| {
                let d = self.object(n, ctx, DEVICE_KEYS)?;
                Ok(Device {
                    path: self.string(&d, "path")?,
                    typ: self.string(&d, "type")?,
                    major: self.int_as(&d, "major")?.unwrap_or(0),
                    minor: self.int_as(&d, "minor")?.unwrap_or(0),
                    mode: self.string(&d, "mode")?,
                })
            })?,
            tmpfs: self.strings(o, "tmpfs")?,
            command: self.strings(o, "command")?,
            env: self.strings(o, "env")?,
            cwd: self.string(o, "cwd")?,
            net: self.string(o, "net")?,
            pid: self.string(o, "pid")?,
            ipc: self.string(o, "ipc")?,
            uts: self.string(o, "uts")?,
            userns: self.string(o, "userns")?,
            hostname: self.string(o, "hostname")?,
            readonly: self.bool(o, "readonly")?,
            masked_paths: self.strings(o, "maskedPaths")?,
            readonly_paths: self.strings(o, "readonlyPaths")?,
            uid: self.opt_id(o, "uid")?,
            gid: self.opt_id(o, "gid")?,
            additional_gids: self.list(o, "additionalGids", |n, ctx| self.id(ctx, n))?,
            no_new_privileges: self.bool(o, "noNewPrivileges")?,
            oom_score_adj: self.int_as(o, "oomScoreAdj")?,
            rootfs_propagation: self.str(o, "rootfsPropagation")?,
            cgroups_path: self.str(o, "cgroupsPath")?,
            resources: o
                .get("resources")
                .map(|n| self.resources(n, &format!("{}.resources", o.ctx)))
                .transpose()?,
            sysctl: self.string_map(o, "sysctl")?,
            rlimits: self.strings(o, "rlimits")?,
            uid_mappings: self.list(o, "uidMappings", |n, ctx| self.idmap(n, ctx))?,
            gid_mappings: self.list(o, "gidMappings", |n, ctx| self.idmap(n, ctx))?,
            annotations: self.string_map(o, "annotations")?,
            runtime: o
                .get("runtime")
                .map(|n| self.runtime(n, &format!("{}.runtime", o.ctx)))
                .transpose()?,
        })
    }

    fn mount(&self, n: &Node, ctx: &str) -> Result<Mount, YmlError> {
        let m = self.object(n, ctx, MOUNT_KEYS)?;
        Ok(Mount {
            destination: self.string(&m, "destination")?,
            typ: self.string(&m, "type")?,
            source: self.string(&m, "source")?,
            options: self.strings(&m, "options")?.unwrap_or_default(),
            uid_mappings: self
                .list(&m, "uidmappings", |n, ctx| self.idmap(n, ctx))?
                .unwrap_or_default(),
            gid_mappings: self
                .list(&m, "gidmappings", |n, ctx| self.idmap(n, ctx))?
                .unwrap_or_default(),
        })
    }

    fn idmap(&self, n: &Node, ctx: &str) -> Result<IdMapping, YmlError> {
        let m = self.object(n, ctx, IDMAP_KEYS)?;
        // Schema-checked, then dropped by yaml.v3 (it only knows `hostid`/`containerid`).
        self.int(&m, "hostID")?;
        self.int(&m, "containerID")?;
        Ok(IdMapping {
            size: self.int_as(&m, "size")?.unwrap_or(0),
            ..IdMapping::default()
        })
    }

    fn resources(&self, n: &Node, ctx: &str) -> Result<Resources, YmlError> {
        let r = self.object(n, ctx, RESOURCES_KEYS)?;
        let sub = |key: &str, keys: &[&str]| -> Result<Option<Obj<'_>>, YmlError> {
            r.get(key)
                .map(|n| self.object(n, &format!("{ctx}.{key}"), keys))
                .transpose()
        };
        let mut out = Resources {
            devices: self
                .list(&r, "devices", |n, ctx| {
                    let d = self.object(n, ctx, DEVCG_KEYS)?;
                    Ok(DeviceRule {
                        allow: self.bool(&d, "allow")?.unwrap_or(false),
                        typ: self.string(&d, "type")?,
                        major: self.int_as(&d, "major")?,
                        minor: self.int_as(&d, "minor")?,
                        access: self.string(&d, "access")?,
                    })
                })?
                .unwrap_or_default(),
            ..Resources::default()
        };
        if let Some(m) = sub("memory", MEMORY_KEYS)? {
            self.int(&m, "kernelTCP")?;
            self.bool(&m, "disableOOMKiller")?;
            out.memory = Some(Memory {
                limit: self.int_as(&m, "limit")?,
                reservation: self.int_as(&m, "reservation")?,
                swap: self.int_as(&m, "swap")?,
                kernel: self.int_as(&m, "kernel")?,
                swappiness: self.int_as(&m, "swappiness")?,
            });
        }
        if let Some(c) = sub("cpu", CPU_KEYS)? {
            self.int(&c, "realtimeRuntime")?;
            self.int(&c, "realtimePeriod")?;
            out.cpu = Some(Cpu {
                shares: self.int_as(&c, "shares")?,
                quota: self.int_as(&c, "quota")?,
                period: self.int_as(&c, "period")?,
                cpus: self.string(&c, "cpus")?,
                mems: self.string(&c, "mems")?,
            });
        }
        if let Some(p) = sub("pids", &["limit"])? {
            out.pids = Some(self.int_as(&p, "limit")?.unwrap_or(0));
        }
        if let Some(b) = sub("blockio", BLOCKIO_KEYS)? {
            self.int(&b, "leafWeight")?;
            out.blockio = Some(self.int_as(&b, "weight")?);
        }
        if let Some(h) = r.get("hugepageLimits") {
            let Value::Seq(_) = h.value() else {
                return Err(self.wrong_type(&format!("{ctx}.hugepageLimits"), h, "array"));
            };
        }
        if let Some(nw) = sub("network", &["classID", "priorities"])? {
            self.int(&nw, "classID")?;
            out.network = Some(
                self.list(&nw, "priorities", |n, ctx| {
                    let p = self.object(n, ctx, &["name", "priority"])?;
                    Ok((
                        self.string(&p, "name")?,
                        self.int_as(&p, "priority")?.unwrap_or(0),
                    ))
                })?
                .unwrap_or_default(),
            );
        }
        Ok(out)
    }

    fn runtime(&self, n: &Node, ctx: &str) -> Result<Runtime, YmlError> {
        let r = self.object(n, ctx, RUNTIME_KEYS)?;
        let bind_ns = match r.get("bindNS") {
            None => BindNs::default(),
            Some(n) => {
                let b = self.object(n, &format!("{ctx}.bindNS"), BINDNS_KEYS)?;
                BindNs {
                    cgroup: self.str(&b, "cgroup")?,
                    ipc: self.str(&b, "ipc")?,
                    mnt: self.str(&b, "mnt")?,
                    net: self.str(&b, "net")?,
                    pid: self.str(&b, "pid")?,
                    user: self.str(&b, "user")?,
                    uts: self.str(&b, "uts")?,
                }
            }
        };
        Ok(Runtime {
            cgroups: self.strings(&r, "cgroups")?,
            mounts: self.list(&r, "mounts", |n, ctx| self.mount(n, ctx))?,
            mkdir: self.strings(&r, "mkdir")?,
            interfaces: self.list(&r, "interfaces", |n, ctx| {
                let i = self.object(n, ctx, INTERFACE_KEYS)?;
                Ok(Interface {
                    name: self.string(&i, "name")?,
                    add: self.string(&i, "add")?,
                    peer: self.string(&i, "peer")?,
                    create_in_root: self.bool(&i, "createInRoot")?.unwrap_or(false),
                })
            })?,
            bind_ns,
            namespace: self.str(&r, "namespace")?,
        })
    }

    fn file(&self, n: &Node, ctx: &str) -> Result<File, YmlError> {
        let f = self.object(n, ctx, FILE_KEYS)?;
        Ok(File {
            path: self.string(&f, "path")?,
            directory: self.bool(&f, "directory")?.unwrap_or(false),
            symlink: self.string(&f, "symlink")?,
            contents: self.str(&f, "contents")?,
            source: self.string(&f, "source")?,
            metadata: self.string(&f, "metadata")?,
            optional: self.bool(&f, "optional")?.unwrap_or(false),
            mode: self.string(&f, "mode")?,
            uid: self.opt_id(&f, "uid")?,
            gid: self.opt_id(&f, "gid")?,
        })
    }
}

/// Where a `files:` `source:` points: `~/` expands to `home`, a relative path is relative to
/// `base` (linuxkit: the process's working directory).
pub fn source_path(source: &str, base: &Path, home: Option<&Path>) -> PathBuf {
    if source.len() > 2
        && let (Some(rest), Some(home)) = (source.strip_prefix("~/"), home)
    {
        return home.join(rest);
    }
    base.join(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text, "t.yml").unwrap_err().to_string()
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_key_and_line() {
        let e = err("kernel:\n  image: k\nservices:\n  - name: a\n    image: b\n    bogus: 1\n");
        assert_eq!(
            e.lines().next().unwrap().split(": unknown").next().unwrap(),
            "t.yml:6: services[0]"
        );
        assert!(e.contains("\"bogus\""), "{e}");
        assert!(
            err("volumes:\n- name: v\n  readonly: yes\n")
                .contains("t.yml:3: volumes[0].readonly: invalid type, expected boolean")
        );
        assert!(err("files:\n- path: a\n  mode: 0644\n").contains("expected string"));
        assert!(err("onboot:\n- name: a\n").contains("image is required"));
        assert!(
            err("services:\n- {name: a, image: b}\n- {name: a, image: c}\n")
                .contains("t.yml:3: duplicate service name")
        );
        assert!(err("volumes:\n- name: Bad\n").contains("invalid volume name"));
        assert!(err("foo: 1\n").contains("unknown key \"foo\""));
    }

    #[test]
    fn keeps_set_and_unset_apart_and_expands_images() {
        let c = Config::parse(
            "kernel:\n  image: lfedge/eve-kernel:x\n  tar: none\ninit:\n  - linuxkit/init:v1\n  - busybox\n  - ghcr.io/a/b:1\nonboot:\n  - name: a\n    image: localhost/x:1\n    binds: []\n    resources: {memory: {limit: 5, kernelTCP: 3}, network: {classID: 1}}\n    uidMappings: [{hostID: 1000, containerID: 0, size: 1}]\ntrust:\n  org: [linuxkit]\n",
            "t.yml",
        )
        .unwrap();
        assert_eq!(c.kernel.image, "docker.io/lfedge/eve-kernel:x");
        assert_eq!(c.kernel.tar.as_deref(), Some("none"));
        assert_eq!(
            c.init.unwrap(),
            [
                "docker.io/linuxkit/init:v1",
                "docker.io/library/busybox",
                "ghcr.io/a/b:1"
            ]
        );
        let a = &c.onboot.unwrap()[0];
        assert_eq!(a.image, "localhost/x:1");
        assert_eq!(a.config.binds, Some(vec![]));
        assert_eq!(a.config.binds_add, None);
        let r = a.config.resources.as_ref().unwrap();
        assert_eq!(r.memory.as_ref().unwrap().limit, Some(5));
        assert_eq!(r.network, Some(vec![]));
        assert_eq!(
            a.config.uid_mappings.as_ref().unwrap()[0],
            IdMapping {
                size: 1,
                ..Default::default()
            }
        );
        assert_eq!(c.services, None);
    }

    #[test]
    fn templates_follow_linuxkit_resolver() {
        struct Tags;
        impl PackageTags for Tags {
            fn full_tag(&self, dir: &Path) -> Result<String, String> {
                match dir.to_str().unwrap() {
                    "/src/images/../pkg/pillar" => Ok("lfedge/eve-pillar:abc".into()),
                    other => Err(format!("no package at {other}")),
                }
            }
        }
        let c = Config::parse_with(
            "onboot:\n- name: p\n  image: \"@pkg:../pkg/pillar\"\n  command: [\"@pkg:../pkg/missing\", \"@other\"]\n",
            "t.yml",
            Some((Path::new("/src/images"), &Tags)),
        )
        .unwrap();
        let p = &c.onboot.unwrap()[0];
        assert_eq!(p.image, "docker.io/lfedge/eve-pillar:abc");
        assert_eq!(
            p.config.command.as_ref().unwrap(),
            &["@pkg:../pkg/missing", ""]
        );
    }

    #[test]
    fn labels_written_from_build_yml_read_back() {
        let node = crate::yaml::parse(
            "capabilities: [CAP_SYS_ADMIN]\nbinds.add: []\nreadonly: yes\nuid: 0\n\
             gid: nogroup\nsysctl: {b: '1', a: '2'}\nrootfsPropagation: shared\n\
             devices: [{path: /dev/x, type: c, major: 1, minor: 2, mode: '0600'}]\n\
             runtime: {mkdir: [/x], bindNS: {net: /run/netns/n}}\n",
        )
        .unwrap()
        .unwrap();
        let built = ImageConfig::from_yaml(&node).unwrap();
        let read = ImageConfig::parse_label(&built.label_json(), "x").unwrap();
        assert_eq!(read.capabilities, built.capabilities);
        assert_eq!(read.binds_add, Some(vec![]));
        assert_eq!(read.readonly, Some(true));
        assert_eq!((&read.uid, &read.gid), (&built.uid, &built.gid));
        assert_eq!(read.sysctl, built.sysctl);
        assert_eq!(read.rootfs_propagation, built.rootfs_propagation);
        assert_eq!(read.devices, built.devices);
        assert_eq!(read.runtime, built.runtime);
    }

    #[test]
    fn labels_refuse_name_and_image() {
        let l =
            ImageConfig::parse_label(r#"{"capabilities":["all"],"binds":["/a:/b"]}"#, "x").unwrap();
        assert_eq!(l.capabilities, Some(vec!["all".to_string()]));
        assert!(
            ImageConfig::parse_label(r#"{"name":"x"}"#, "img")
                .unwrap_err()
                .to_string()
                .contains("name cannot be set")
        );
    }
}
