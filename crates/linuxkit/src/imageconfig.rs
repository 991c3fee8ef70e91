//! linuxkit's image configuration (`moby.ImageConfig`): the settings of a container that both
//! an image's `org.mobyproject.config` label and a yml entry hold, and the `config:` block of
//! a package's build.yml, which `linuxkit pkg build` writes into that label.
//!
//! One set of types serves every reader and writer:
//! - the yml entry and the label are decoded by [`crate::yml`], by linuxkit's JSON-schema
//!   rules;
//! - build.yml's `config:` is decoded here ([`ImageConfig::from_yaml`]), strictly like
//!   linuxkit's build.yml decoder (yaml.v3 with `KnownFields(true)`): unknown keys are errors
//!   at every level, and the nested OCI types accept only the lowercased Go field names yaml.v3
//!   matches (`uidmappings`, `containerid`, `hostid`), which is what linuxkit really accepts;
//! - [`ImageConfig::fields`] walks the struct as Go marshals it (field order, `omitempty`),
//!   and [`ImageConfig::go_json`] / [`ImageConfig::label_json`] write it as `encoding/json`
//!   does (the label, the `metadata: json` dump); [`crate::metadata`] writes the same walk as
//!   yaml.v2 does.
//!
//! `resources` (an OCI `LinuxResources`) is held two ways ([`ResourcesField`]): decoded
//! ([`Resources`], the parts that survive linuxkit's yml decode) for ymls and labels, or as the
//! YAML node for build.yml.
//!
//! Left out: build.yml's `resources` is written to the label key for key as given, without
//! linuxkit's renaming of its nested fields.

use crate::gojson::{Json, ObjBuilder};
use crate::yaml::{
    DecodeError, Node, NodeKind, Value, decode_bool, decode_int, decode_seq, decode_string,
    decode_string_map, decode_strings, decode_struct,
};
use std::collections::BTreeMap;

/// A user or group id as written: a number or a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Id {
    /// A number (kept wide: linuxkit takes a Go `int` and truncates it to 32 bits).
    Num(i128),
    /// A name, resolved later (container names, then the image's passwd/group).
    Name(String),
}

/// An OCI mount (`specs.Mount`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mount {
    /// Mount point in the container.
    pub destination: String,
    /// Filesystem type.
    pub typ: String,
    /// Source path or device.
    pub source: String,
    /// fstab-style options.
    pub options: Vec<String>,
    /// Per-mount uid mappings.
    pub uid_mappings: Vec<IdMapping>,
    /// Per-mount gid mappings.
    pub gid_mappings: Vec<IdMapping>,
}

/// An OCI id mapping (`specs.LinuxIDMapping`). A yml fills only `size` (yaml.v3 matches
/// none of the camelCase keys its schema allows).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdMapping {
    /// First id in the container.
    pub container_id: u32,
    /// First id on the host.
    pub host_id: u32,
    /// Number of ids.
    pub size: u32,
}

/// A device node exposed to the container (`moby.Device`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Device {
    /// Device path, or `all` for a cgroup rule covering the type.
    pub path: String,
    /// `c`, `b`, `u`, `p` or `a`.
    pub typ: String,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Octal file mode as a string.
    pub mode: String,
}

/// The parts of OCI `LinuxResources` that survive linuxkit's decode of a yml.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub devices: Vec<DeviceRule>,
    pub memory: Option<Memory>,
    pub cpu: Option<Cpu>,
    pub pids: Option<i64>,
    pub blockio: Option<Option<u16>>,
    pub network: Option<Vec<(String, u32)>>,
}

/// A device cgroup rule.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeviceRule {
    pub allow: bool,
    pub typ: String,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub access: String,
}

/// Memory limits.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    pub limit: Option<i64>,
    pub reservation: Option<i64>,
    pub swap: Option<i64>,
    pub kernel: Option<i64>,
    pub swappiness: Option<u64>,
}

/// CPU limits.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cpu {
    pub shares: Option<u64>,
    pub quota: Option<i64>,
    pub period: Option<u64>,
    pub cpus: String,
    pub mems: String,
}

/// A network interface moved into the container at run time (`moby.Interface`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Interface {
    /// Interface name.
    pub name: String,
    /// Type of interface to create.
    pub add: String,
    /// Peer name for veth pairs.
    pub peer: String,
    /// Create the interface in the root namespace first.
    pub create_in_root: bool,
}

/// Namespace paths to bind after start (`moby.Namespaces`).
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BindNs {
    pub cgroup: Option<String>,
    pub ipc: Option<String>,
    pub mnt: Option<String>,
    pub net: Option<String>,
    pub pid: Option<String>,
    pub user: Option<String>,
    pub uts: Option<String>,
}

/// Configuration applied at run time rather than in the OCI spec (`moby.Runtime`, goes to
/// runtime.json).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Runtime {
    /// cgroups to create.
    pub cgroups: Option<Vec<String>>,
    /// Mounts to make before start.
    pub mounts: Option<Vec<Mount>>,
    /// Directories to create.
    pub mkdir: Option<Vec<String>>,
    /// Interfaces to set up.
    pub interfaces: Option<Vec<Interface>>,
    /// Namespaces to bind.
    pub bind_ns: BindNs,
    /// Namespace to run in.
    pub namespace: Option<String>,
}

/// `moby.ImageConfig`: every field optional; `Some(vec![])` is an explicit empty list, which
/// linuxkit distinguishes from an absent one. `R` is how `resources` is held
/// ([`ResourcesField`]).
#[derive(Debug, Clone, PartialEq)]
#[allow(missing_docs)] // field names are the linuxkit keys, documented in linuxkit-facts §1
pub struct ImageConfig<R = Resources> {
    pub capabilities: Option<Vec<String>>,
    pub capabilities_add: Option<Vec<String>>,
    pub ambient: Option<Vec<String>>,
    pub mounts: Option<Vec<Mount>>,
    pub binds: Option<Vec<String>>,
    pub binds_add: Option<Vec<String>>,
    pub devices: Option<Vec<Device>>,
    pub tmpfs: Option<Vec<String>>,
    pub command: Option<Vec<String>>,
    pub env: Option<Vec<String>>,
    pub cwd: String,
    pub net: String,
    pub pid: String,
    pub ipc: String,
    pub uts: String,
    pub userns: String,
    pub hostname: String,
    pub readonly: Option<bool>,
    pub masked_paths: Option<Vec<String>>,
    pub readonly_paths: Option<Vec<String>>,
    pub uid: Option<Id>,
    pub gid: Option<Id>,
    pub additional_gids: Option<Vec<Id>>,
    pub no_new_privileges: Option<bool>,
    pub oom_score_adj: Option<i64>,
    pub rootfs_propagation: Option<String>,
    pub cgroups_path: Option<String>,
    pub resources: Option<R>,
    pub sysctl: Option<BTreeMap<String, String>>,
    pub rlimits: Option<Vec<String>>,
    pub uid_mappings: Option<Vec<IdMapping>>,
    pub gid_mappings: Option<Vec<IdMapping>>,
    pub annotations: Option<BTreeMap<String, String>>,
    pub runtime: Option<Runtime>,
}

// Not derived: `R` needs no default (it only ever sits in an `Option`).
impl<R> Default for ImageConfig<R> {
    fn default() -> Self {
        ImageConfig {
            capabilities: None,
            capabilities_add: None,
            ambient: None,
            mounts: None,
            binds: None,
            binds_add: None,
            devices: None,
            tmpfs: None,
            command: None,
            env: None,
            cwd: String::new(),
            net: String::new(),
            pid: String::new(),
            ipc: String::new(),
            uts: String::new(),
            userns: String::new(),
            hostname: String::new(),
            readonly: None,
            masked_paths: None,
            readonly_paths: None,
            uid: None,
            gid: None,
            additional_gids: None,
            no_new_privileges: None,
            oom_score_adj: None,
            rootfs_propagation: None,
            cgroups_path: None,
            resources: None,
            sysctl: None,
            rlimits: None,
            uid_mappings: None,
            gid_mappings: None,
            annotations: None,
            runtime: None,
        }
    }
}

/// How an [`ImageConfig`] holds `resources`, and how it is written as JSON.
pub trait ResourcesField {
    /// The value as Go's `encoding/json` writes it.
    fn go_json(&self) -> Json;
}

/// Decoded (ymls and labels): `specs.LinuxResources` as Go marshals what linuxkit's decode can
/// fill.
impl ResourcesField for Resources {
    fn go_json(&self) -> Json {
        let int = |v: Option<i64>| v.map(Json::Int);
        let uint = |v: Option<u64>| v.map(Json::UInt);
        let devices = self.devices.iter().map(|d| {
            ObjBuilder::new()
                .field("allow", Json::Bool(d.allow))
                .omitempty("type", Json::str(&d.typ))
                .some("major", int(d.major))
                .some("minor", int(d.minor))
                .omitempty("access", Json::str(&d.access))
                .build()
        });
        ObjBuilder::new()
            .omitempty("devices", Json::Arr(devices.collect()))
            .some(
                "memory",
                self.memory.as_ref().map(|m| {
                    ObjBuilder::new()
                        .some("limit", int(m.limit))
                        .some("reservation", int(m.reservation))
                        .some("swap", int(m.swap))
                        .some("kernel", int(m.kernel))
                        .some("swappiness", uint(m.swappiness))
                        .build()
                }),
            )
            .some(
                "cpu",
                self.cpu.as_ref().map(|c| {
                    ObjBuilder::new()
                        .some("shares", uint(c.shares))
                        .some("quota", int(c.quota))
                        .some("period", uint(c.period))
                        .omitempty("cpus", Json::str(&c.cpus))
                        .omitempty("mems", Json::str(&c.mems))
                        .build()
                }),
            )
            .some(
                "pids",
                self.pids
                    .map(|l| ObjBuilder::new().field("limit", Json::Int(l)).build()),
            )
            .some(
                "blockIO",
                self.blockio.map(|w| {
                    ObjBuilder::new()
                        .some("weight", w.map(|w| Json::UInt(w.into())))
                        .build()
                }),
            )
            .some(
                "network",
                self.network.as_ref().map(|p| {
                    let priorities = p.iter().map(|(n, prio)| {
                        ObjBuilder::new()
                            .field("name", Json::str(n))
                            .field("priority", Json::UInt((*prio).into()))
                            .build()
                    });
                    ObjBuilder::new()
                        .omitempty("priorities", Json::Arr(priorities.collect()))
                        .build()
                }),
            )
            .build()
    }
}

/// As written (build.yml): the YAML node as JSON, keys in source order.
impl ResourcesField for Node {
    fn go_json(&self) -> Json {
        match &self.kind {
            NodeKind::Scalar(s) => match s.resolve() {
                Value::Null => Json::Null,
                Value::Bool(b) => Json::Bool(b),
                Value::Int(i) if i < 0 => Json::Int(i as i64),
                Value::Int(i) => Json::UInt(i as u64),
                Value::Float(f) if f.is_finite() => Json::Number(format!("{f}")),
                Value::Float(_) => Json::Null,
                Value::Str(t) | Value::Timestamp(t) => Json::str(t),
                Value::Seq(_) | Value::Map(_) => unreachable!("a scalar resolves to a scalar"),
            },
            NodeKind::Seq(items) => Json::Arr(items.iter().map(|n| n.go_json()).collect()),
            NodeKind::Map(entries) => Json::Obj(
                entries
                    .iter()
                    .map(|(k, v)| {
                        let key = k.as_scalar().map(|s| s.text.clone()).unwrap_or_default();
                        (key, v.go_json())
                    })
                    .collect(),
            ),
        }
    }
}

/// One set field of an [`ImageConfig`], borrowed, for writers that walk the struct.
#[allow(missing_docs)]
pub enum Field<'a, R> {
    Strs(&'a [String]),
    Str(&'a str),
    Bool(bool),
    Int(i64),
    Id(&'a Id),
    Ids(&'a [Id]),
    Mounts(&'a [Mount]),
    Devices(&'a [Device]),
    Resources(&'a R),
    StrMap(&'a BTreeMap<String, String>),
    IdMappings(&'a [IdMapping]),
    Runtime(&'a Runtime),
}

impl<R> ImageConfig<R> {
    /// The fields Go marshals, in struct order, each with its key: the unset ones (`nil`
    /// pointers and slices, empty strings) are left out.
    pub fn fields<'a>(&'a self) -> Vec<(&'static str, Field<'a, R>)> {
        use Field::*;
        let mut v: Vec<(&'static str, Field<'a, R>)> = Vec::new();
        let mut push = |k: &'static str, f: Option<Field<'a, R>>| {
            if let Some(f) = f {
                v.push((k, f));
            }
        };
        let strs = |l: &'a Option<Vec<String>>| l.as_deref().map(Strs);
        push("capabilities", strs(&self.capabilities));
        push("capabilities.add", strs(&self.capabilities_add));
        push("ambient", strs(&self.ambient));
        push("mounts", self.mounts.as_deref().map(Mounts));
        push("binds", strs(&self.binds));
        push("binds.add", strs(&self.binds_add));
        push("devices", self.devices.as_deref().map(Devices));
        push("tmpfs", strs(&self.tmpfs));
        push("command", strs(&self.command));
        push("env", strs(&self.env));
        for (k, s) in [
            ("cwd", &self.cwd),
            ("net", &self.net),
            ("pid", &self.pid),
            ("ipc", &self.ipc),
            ("uts", &self.uts),
            ("userns", &self.userns),
            ("hostname", &self.hostname),
        ] {
            push(k, (!s.is_empty()).then_some(Str(s)));
        }
        push("readonly", self.readonly.map(Bool));
        push("maskedPaths", strs(&self.masked_paths));
        push("readonlyPaths", strs(&self.readonly_paths));
        push("uid", self.uid.as_ref().map(Id));
        push("gid", self.gid.as_ref().map(Id));
        push("additionalGids", self.additional_gids.as_deref().map(Ids));
        push("noNewPrivileges", self.no_new_privileges.map(Bool));
        push("oomScoreAdj", self.oom_score_adj.map(Int));
        push(
            "rootfsPropagation",
            self.rootfs_propagation.as_deref().map(Str),
        );
        push("cgroupsPath", self.cgroups_path.as_deref().map(Str));
        push("resources", self.resources.as_ref().map(Resources));
        push("sysctl", self.sysctl.as_ref().map(StrMap));
        push("rlimits", strs(&self.rlimits));
        push("uidMappings", self.uid_mappings.as_deref().map(IdMappings));
        push("gidMappings", self.gid_mappings.as_deref().map(IdMappings));
        push("annotations", self.annotations.as_ref().map(StrMap));
        push("runtime", self.runtime.as_ref().map(Runtime));
        v
    }
}

impl<R: ResourcesField> ImageConfig<R> {
    /// The struct as Go's `encoding/json` sees it.
    pub fn go_json(&self) -> Json {
        Json::Obj(
            self.fields()
                .into_iter()
                .map(|(k, f)| (k.to_string(), f.go_json()))
                .collect(),
        )
    }

    /// The `org.mobyproject.config` label value: Go `json.Marshal` of the struct.
    pub fn label_json(&self) -> String {
        self.go_json().to_go_compact()
    }
}

impl<R: ResourcesField> Field<'_, R> {
    /// The field's value as Go's `encoding/json` writes it.
    pub fn go_json(&self) -> Json {
        match self {
            Field::Strs(v) => Json::strs(v),
            Field::Str(s) => Json::str(*s),
            Field::Bool(b) => Json::Bool(*b),
            Field::Int(i) => Json::Int(*i),
            Field::Id(id) => id.go_json(),
            Field::Ids(ids) => Json::Arr(ids.iter().map(Id::go_json).collect()),
            Field::Mounts(m) => Json::Arr(m.iter().map(Mount::go_json).collect()),
            Field::Devices(d) => Json::Arr(d.iter().map(Device::go_json).collect()),
            Field::Resources(r) => r.go_json(),
            Field::StrMap(m) => {
                Json::Obj(m.iter().map(|(k, v)| (k.clone(), Json::str(v))).collect())
            }
            Field::IdMappings(m) => id_mappings_json(m),
            Field::Runtime(r) => r.go_json(),
        }
    }
}

impl Id {
    /// A number or a string.
    pub fn go_json(&self) -> Json {
        match self {
            Id::Num(n) if *n < 0 => Json::Int(*n as i64),
            Id::Num(n) => Json::UInt(*n as u64),
            Id::Name(s) => Json::str(s),
        }
    }
}

impl Mount {
    /// `specs.Mount` as Go marshals it.
    pub fn go_json(&self) -> Json {
        ObjBuilder::new()
            .field("destination", Json::str(&self.destination))
            .omitempty("type", Json::str(&self.typ))
            .omitempty("source", Json::str(&self.source))
            .omitempty("options", Json::strs(&self.options))
            .omitempty("uidMappings", id_mappings_json(&self.uid_mappings))
            .omitempty("gidMappings", id_mappings_json(&self.gid_mappings))
            .build()
    }
}

/// `[]specs.LinuxIDMapping` as Go marshals it.
pub fn id_mappings_json(maps: &[IdMapping]) -> Json {
    Json::Arr(
        maps.iter()
            .map(|m| {
                ObjBuilder::new()
                    .field("containerID", Json::UInt(m.container_id.into()))
                    .field("hostID", Json::UInt(m.host_id.into()))
                    .field("size", Json::UInt(m.size.into()))
                    .build()
            })
            .collect(),
    )
}

impl Device {
    /// `moby.Device` as Go marshals it.
    pub fn go_json(&self) -> Json {
        ObjBuilder::new()
            .field("path", Json::str(&self.path))
            .field("type", Json::str(&self.typ))
            .field("major", Json::Int(self.major))
            .field("minor", Json::Int(self.minor))
            .omitempty("mode", Json::str(&self.mode))
            .build()
    }
}

impl Interface {
    /// `moby.Interface` as Go marshals it.
    pub fn go_json(&self) -> Json {
        ObjBuilder::new()
            .omitempty("name", Json::str(&self.name))
            .omitempty("add", Json::str(&self.add))
            .omitempty("peer", Json::str(&self.peer))
            .field("createInRoot", Json::Bool(self.create_in_root))
            .build()
    }
}

impl BindNs {
    /// The namespaces in struct order, with their keys.
    pub fn pairs(&self) -> [(&'static str, Option<&String>); 7] {
        [
            ("cgroup", self.cgroup.as_ref()),
            ("ipc", self.ipc.as_ref()),
            ("mnt", self.mnt.as_ref()),
            ("net", self.net.as_ref()),
            ("pid", self.pid.as_ref()),
            ("user", self.user.as_ref()),
            ("uts", self.uts.as_ref()),
        ]
    }
}

impl Runtime {
    /// `moby.Runtime` as Go marshals it (`bindNS` is not a pointer: always written).
    pub fn go_json(&self) -> Json {
        let bind_ns = self
            .bind_ns
            .pairs()
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), Json::str(v?))))
            .collect();
        ObjBuilder::new()
            .some("cgroups", self.cgroups.as_ref().map(|c| Json::strs(c)))
            .some(
                "mounts",
                self.mounts
                    .as_ref()
                    .map(|m| Json::Arr(m.iter().map(Mount::go_json).collect())),
            )
            .some("mkdir", self.mkdir.as_ref().map(|c| Json::strs(c)))
            .some(
                "interfaces",
                self.interfaces
                    .as_ref()
                    .map(|i| Json::Arr(i.iter().map(Interface::go_json).collect())),
            )
            .field("bindNS", Json::Obj(bind_ns))
            .some("namespace", self.namespace.as_ref().map(Json::str))
            .build()
    }
}

// ---- keys and build.yml's `config:` ----

/// Keys of a mount, as yaml.v3 matches `specs.Mount` (and linuxkit's schema allows).
pub const MOUNT_KEYS: &[&str] = &[
    "destination",
    "type",
    "source",
    "options",
    "uidmappings",
    "gidmappings",
];
/// Keys of a device.
pub const DEVICE_KEYS: &[&str] = &["path", "type", "major", "minor", "mode"];
/// Keys of `runtime:`.
pub const RUNTIME_KEYS: &[&str] = &[
    "cgroups",
    "mounts",
    "mkdir",
    "interfaces",
    "bindNS",
    "namespace",
];
/// Keys of a runtime interface.
pub const INTERFACE_KEYS: &[&str] = &["name", "add", "peer", "createInRoot"];
/// Keys of `runtime.bindNS`.
pub const BINDNS_KEYS: &[&str] = &["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"];

/// The keys of the image configuration, in linuxkit's struct order.
pub const IMAGE_CONFIG_KEYS: &[&str] = &[
    "capabilities",
    "capabilities.add",
    "ambient",
    "mounts",
    "binds",
    "binds.add",
    "devices",
    "tmpfs",
    "command",
    "env",
    "cwd",
    "net",
    "pid",
    "ipc",
    "uts",
    "userns",
    "hostname",
    "readonly",
    "maskedPaths",
    "readonlyPaths",
    "uid",
    "gid",
    "additionalGids",
    "noNewPrivileges",
    "oomScoreAdj",
    "rootfsPropagation",
    "cgroupsPath",
    "resources",
    "sysctl",
    "rlimits",
    "uidMappings",
    "gidMappings",
    "annotations",
    "runtime",
];

impl ImageConfig<Node> {
    /// Decode build.yml's `config:` mapping strictly (see the module notes).
    pub fn from_yaml(node: &Node) -> Result<Self, DecodeError> {
        let mut c = ImageConfig::default();
        decode_struct(node, "config", IMAGE_CONFIG_KEYS, |key, v| c.set(key, v))?;
        Ok(c)
    }

    /// Set one field from its YAML node.
    fn set(&mut self, key: &str, v: &Node) -> Result<(), DecodeError> {
        let s = |v: &Node| decode_string(v, key);
        let list = |v: &Node| decode_strings(v, key);
        let map = |v: &Node| {
            decode_string_map(v, key).map(|m| m.map(|pairs| pairs.into_iter().collect()))
        };
        match key {
            "capabilities" => self.capabilities = list(v)?,
            "capabilities.add" => self.capabilities_add = list(v)?,
            "ambient" => self.ambient = list(v)?,
            "mounts" => self.mounts = decode_seq(v, key, mount)?,
            "binds" => self.binds = list(v)?,
            "binds.add" => self.binds_add = list(v)?,
            "devices" => self.devices = decode_seq(v, key, device)?,
            "tmpfs" => self.tmpfs = list(v)?,
            "command" => self.command = list(v)?,
            "env" => self.env = list(v)?,
            "cwd" => set_plain(&mut self.cwd, s(v)?),
            "net" => set_plain(&mut self.net, s(v)?),
            "pid" => set_plain(&mut self.pid, s(v)?),
            "ipc" => set_plain(&mut self.ipc, s(v)?),
            "uts" => set_plain(&mut self.uts, s(v)?),
            "userns" => set_plain(&mut self.userns, s(v)?),
            "hostname" => set_plain(&mut self.hostname, s(v)?),
            "readonly" => self.readonly = decode_bool(v, key)?,
            "maskedPaths" => self.masked_paths = list(v)?,
            "readonlyPaths" => self.readonly_paths = list(v)?,
            "uid" => self.uid = id(v, key)?,
            "gid" => self.gid = id(v, key)?,
            "additionalGids" => {
                self.additional_gids = decode_seq(v, key, |n| {
                    id(n, key)?.ok_or_else(|| DecodeError::at(n, "additionalGids entry is null"))
                })?
            }
            "noNewPrivileges" => self.no_new_privileges = decode_bool(v, key)?,
            "oomScoreAdj" => self.oom_score_adj = decode_int(v, key)?,
            "rootfsPropagation" => self.rootfs_propagation = s(v)?,
            "cgroupsPath" => self.cgroups_path = s(v)?,
            "resources" => self.resources = (!v.is_null()).then(|| v.clone()),
            "sysctl" => self.sysctl = map(v)?,
            "rlimits" => self.rlimits = list(v)?,
            "uidMappings" => self.uid_mappings = decode_seq(v, key, id_mapping)?,
            "gidMappings" => self.gid_mappings = decode_seq(v, key, id_mapping)?,
            "annotations" => self.annotations = map(v)?,
            _ => self.runtime = (!v.is_null()).then(|| runtime(v)).transpose()?,
        }
        Ok(())
    }
}

fn set_plain(field: &mut String, value: Option<String>) {
    if let Some(v) = value {
        *field = v;
    }
}

/// A number (in Go `int64` range) or a name; null is `None`.
fn id(node: &Node, field: &str) -> Result<Option<Id>, DecodeError> {
    match node.value() {
        Value::Null => Ok(None),
        Value::Int(i) if i64::try_from(i).is_ok() => Ok(Some(Id::Num(i))),
        Value::Int(_) => Err(DecodeError::at(node, format!("`{field}` is out of range"))),
        Value::Str(s) | Value::Timestamp(s) => Ok(Some(Id::Name(s.to_string()))),
        _ => Err(DecodeError::at(
            node,
            format!(
                "`{field}` must be a number or a name, found a {}",
                node.kind_name()
            ),
        )),
    }
}

fn u32_field(node: &Node, field: &str) -> Result<u32, DecodeError> {
    let v = decode_int(node, field)?.unwrap_or(0);
    u32::try_from(v).map_err(|_| DecodeError::at(node, format!("`{field}` is out of range")))
}

fn id_mapping(node: &Node) -> Result<IdMapping, DecodeError> {
    let mut m = IdMapping::default();
    decode_struct(
        node,
        "id mapping",
        &["containerid", "hostid", "size"],
        |k, v| {
            match k {
                "containerid" => m.container_id = u32_field(v, k)?,
                "hostid" => m.host_id = u32_field(v, k)?,
                _ => m.size = u32_field(v, k)?,
            }
            Ok(())
        },
    )?;
    Ok(m)
}

fn mount(node: &Node) -> Result<Mount, DecodeError> {
    let mut m = Mount::default();
    decode_struct(node, "mount", MOUNT_KEYS, |k, v| {
        match k {
            "destination" => set_plain(&mut m.destination, decode_string(v, k)?),
            "type" => set_plain(&mut m.typ, decode_string(v, k)?),
            "source" => set_plain(&mut m.source, decode_string(v, k)?),
            "options" => m.options = decode_strings(v, k)?.unwrap_or_default(),
            "uidmappings" => m.uid_mappings = decode_seq(v, k, id_mapping)?.unwrap_or_default(),
            _ => m.gid_mappings = decode_seq(v, k, id_mapping)?.unwrap_or_default(),
        }
        Ok(())
    })?;
    Ok(m)
}

fn device(node: &Node) -> Result<Device, DecodeError> {
    let mut d = Device::default();
    decode_struct(node, "device", DEVICE_KEYS, |k, v| {
        match k {
            "path" => set_plain(&mut d.path, decode_string(v, k)?),
            "type" => set_plain(&mut d.typ, decode_string(v, k)?),
            "major" => d.major = decode_int(v, k)?.unwrap_or(0),
            "minor" => d.minor = decode_int(v, k)?.unwrap_or(0),
            _ => set_plain(&mut d.mode, decode_string(v, k)?),
        }
        Ok(())
    })?;
    Ok(d)
}

fn interface(node: &Node) -> Result<Interface, DecodeError> {
    let mut i = Interface::default();
    decode_struct(node, "interface", INTERFACE_KEYS, |k, v| {
        match k {
            "name" => set_plain(&mut i.name, decode_string(v, k)?),
            "add" => set_plain(&mut i.add, decode_string(v, k)?),
            "peer" => set_plain(&mut i.peer, decode_string(v, k)?),
            _ => i.create_in_root = decode_bool(v, k)?.unwrap_or(false),
        }
        Ok(())
    })?;
    Ok(i)
}

fn runtime(node: &Node) -> Result<Runtime, DecodeError> {
    let mut r = Runtime::default();
    decode_struct(node, "runtime", RUNTIME_KEYS, |k, v| {
        match k {
            "cgroups" => r.cgroups = decode_strings(v, k)?,
            "mounts" => r.mounts = decode_seq(v, k, mount)?,
            "mkdir" => r.mkdir = decode_strings(v, k)?,
            "interfaces" => r.interfaces = decode_seq(v, k, interface)?,
            "bindNS" => {
                let ns = &mut r.bind_ns;
                decode_struct(v, "bindNS", BINDNS_KEYS, |k, v| {
                    let value = decode_string(v, k)?;
                    match k {
                        "cgroup" => ns.cgroup = value,
                        "ipc" => ns.ipc = value,
                        "mnt" => ns.mnt = value,
                        "net" => ns.net = value,
                        "pid" => ns.pid = value,
                        "user" => ns.user = value,
                        _ => ns.uts = value,
                    }
                    Ok(())
                })?
            }
            _ => r.namespace = decode_string(v, k)?,
        }
        Ok(())
    })?;
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn config(text: &str) -> Result<ImageConfig<Node>, DecodeError> {
        ImageConfig::from_yaml(&parse(text).unwrap().unwrap())
    }

    #[test]
    fn label_follows_go_struct_order_and_escaping() {
        let c = config(
            "pid: host\nbinds: [/a:/b]\ncapabilities: [all]\nnet: host\n\
             devices:\n  - path: all\n    type: a\nrootfsPropagation: shared\n\
             readonly: yes\nuid: 0\ngid: nogroup\nsysctl: {b: '1', a: '<2>'}\nbinds.add: []\n",
        )
        .unwrap();
        assert_eq!(
            c.label_json(),
            "{\"capabilities\":[\"all\"],\"binds\":[\"/a:/b\"],\"binds.add\":[],\
             \"devices\":[{\"path\":\"all\",\"type\":\"a\",\"major\":0,\"minor\":0}],\
             \"net\":\"host\",\"pid\":\"host\",\"readonly\":true,\"uid\":0,\"gid\":\"nogroup\",\
             \"rootfsPropagation\":\"shared\",\"sysctl\":{\"a\":\"\\u003c2\\u003e\",\"b\":\"1\"}}"
        );
        assert_eq!(ImageConfig::<Node>::default().label_json(), "{}");
    }

    #[test]
    fn resources_are_written_as_given() {
        let c =
            config("resources:\n  memory: {limit: 5, swappiness: 1.5}\n  blockio: {}\n").unwrap();
        assert_eq!(
            c.label_json(),
            "{\"resources\":{\"memory\":{\"limit\":5,\"swappiness\":1.5},\"blockio\":{}}}"
        );
    }

    #[test]
    fn unknown_keys_are_errors_at_every_level() {
        let e = config("pid: host\nbogus: 1\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("`bogus`"), "{e}");
        let e = config("mounts:\n  - destination: /x\n    Options: [ro]\n").unwrap_err();
        assert_eq!(e.line, 3);
        let e = config("uidMappings:\n  - containerID: 0\n").unwrap_err();
        assert!(e.message.contains("containerID"), "{e}");
    }

    #[test]
    fn runtime_always_writes_bind_ns() {
        let c = config("runtime:\n  mkdir: [/x]\n").unwrap();
        assert_eq!(
            c.label_json(),
            "{\"runtime\":{\"mkdir\":[\"/x\"],\"bindNS\":{}}}"
        );
    }
}
