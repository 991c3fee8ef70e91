//! The linuxkit image configuration (`moby.ImageConfig`): the `config:` block of a package's
//! build.yml, which `linuxkit pkg build` bakes into the image label `org.mobyproject.config`,
//! and the per-container part of a linuxkit yml entry.
//!
//! Decoding is strict like linuxkit's build.yml decoder (yaml.v3 with `KnownFields(true)`):
//! unknown keys are errors at every level, and the nested OCI types accept only the lowercased
//! Go field names yaml.v3 matches (`uidmappings`, `containerid`, `hostid`), which is what
//! linuxkit really accepts. [`ImageConfig::label_json`] writes the label exactly as Go's
//! `encoding/json` does (struct field order, `omitempty`, sorted map keys, HTML escaping).
//!
//! Left out: `resources` (an OCI `LinuxResources`) is kept as the YAML node and written to the
//! label key-for-key as given, without linuxkit's renaming of its nested fields.

use crate::yaml::{
    DecodeError, Node, NodeKind, Value, decode_bool, decode_int, decode_seq, decode_string,
    decode_string_map, decode_strings, decode_struct,
};

/// A numeric or named user/group id (`uid: 0`, `gid: nogroup`).
#[derive(Debug, Clone, PartialEq)]
pub enum Id {
    /// A number.
    Num(i64),
    /// A name, resolved later against the image or other containers.
    Name(String),
}

/// An OCI mount (`specs.Mount`, keys as yaml.v3 matches them).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mount {
    /// Mount point in the container.
    pub destination: String,
    /// Filesystem type.
    pub mount_type: String,
    /// Source path or device.
    pub source: String,
    /// fstab-style options.
    pub options: Vec<String>,
    /// Per-mount uid mappings.
    pub uid_mappings: Vec<IdMapping>,
    /// Per-mount gid mappings.
    pub gid_mappings: Vec<IdMapping>,
}

/// An OCI id mapping (`specs.LinuxIDMapping`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IdMapping {
    /// First id in the container.
    pub container_id: u32,
    /// First id on the host.
    pub host_id: u32,
    /// Number of ids.
    pub size: u32,
}

/// A device node exposed to the container (`moby.Device`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Device {
    /// Device path, or `all` for a cgroup rule covering the type.
    pub path: String,
    /// `c`, `b`, `u`, `p` or `a`.
    pub device_type: String,
    /// Major number.
    pub major: i64,
    /// Minor number.
    pub minor: i64,
    /// Octal file mode as a string.
    pub mode: String,
}

/// A network interface moved into the container at run time (`moby.Interface`).
#[derive(Debug, Clone, PartialEq, Default)]
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
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BindNamespaces {
    /// cgroup namespace path.
    pub cgroup: Option<String>,
    /// ipc namespace path.
    pub ipc: Option<String>,
    /// mount namespace path.
    pub mnt: Option<String>,
    /// network namespace path.
    pub net: Option<String>,
    /// pid namespace path.
    pub pid: Option<String>,
    /// user namespace path.
    pub user: Option<String>,
    /// uts namespace path.
    pub uts: Option<String>,
}

/// Configuration applied at run time rather than in the OCI spec (`moby.Runtime`).
#[derive(Debug, Clone, PartialEq, Default)]
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
    pub bind_ns: BindNamespaces,
    /// Namespace to run in.
    pub namespace: Option<String>,
}

/// `moby.ImageConfig`: every field optional; `Some(vec![])` is an explicit empty list, which
/// linuxkit distinguishes from an absent one.
#[derive(Debug, Clone, PartialEq, Default)]
#[allow(missing_docs)] // field names are the linuxkit keys, documented in linuxkit-facts §1
pub struct ImageConfig {
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
    /// Kept as written; see the module notes.
    pub resources: Option<Node>,
    pub sysctl: Option<Vec<(String, String)>>,
    pub rlimits: Option<Vec<String>>,
    pub uid_mappings: Option<Vec<IdMapping>>,
    pub gid_mappings: Option<Vec<IdMapping>>,
    pub annotations: Option<Vec<(String, String)>>,
    pub runtime: Option<Runtime>,
}

/// The keys of [`ImageConfig`], in linuxkit's struct order.
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

impl ImageConfig {
    /// Decode a `config:` mapping strictly.
    pub fn from_yaml(node: &Node) -> Result<Self, DecodeError> {
        let mut c = ImageConfig::default();
        decode_struct(node, "config", IMAGE_CONFIG_KEYS, |key, v| {
            c.set(key, v).map(|_| ())
        })?;
        Ok(c)
    }

    /// Set one field from its YAML node; returns false for a key that is not an image
    /// config key (so that image entries can add `name` and `image`).
    pub fn set(&mut self, key: &str, v: &Node) -> Result<bool, DecodeError> {
        let s = |v: &Node| decode_string(v, key);
        let list = |v: &Node| decode_strings(v, key);
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
            "sysctl" => self.sysctl = decode_string_map(v, key)?,
            "rlimits" => self.rlimits = list(v)?,
            "uidMappings" => self.uid_mappings = decode_seq(v, key, id_mapping)?,
            "gidMappings" => self.gid_mappings = decode_seq(v, key, id_mapping)?,
            "annotations" => self.annotations = decode_string_map(v, key)?,
            "runtime" => self.runtime = (!v.is_null()).then(|| runtime(v)).transpose()?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The `org.mobyproject.config` label value: Go `json.Marshal` of the struct.
    pub fn label_json(&self) -> String {
        let mut o = GoObject::default();
        o.opt(
            "capabilities",
            self.capabilities.as_ref().map(|v| strings(v)),
        );
        o.opt(
            "capabilities.add",
            self.capabilities_add.as_ref().map(|v| strings(v)),
        );
        o.opt("ambient", self.ambient.as_ref().map(|v| strings(v)));
        o.opt("mounts", self.mounts.as_ref().map(|v| array(v, mount_json)));
        o.opt("binds", self.binds.as_ref().map(|v| strings(v)));
        o.opt("binds.add", self.binds_add.as_ref().map(|v| strings(v)));
        o.opt(
            "devices",
            self.devices.as_ref().map(|v| array(v, device_json)),
        );
        o.opt("tmpfs", self.tmpfs.as_ref().map(|v| strings(v)));
        o.opt("command", self.command.as_ref().map(|v| strings(v)));
        o.opt("env", self.env.as_ref().map(|v| strings(v)));
        o.nonempty("cwd", &self.cwd);
        o.nonempty("net", &self.net);
        o.nonempty("pid", &self.pid);
        o.nonempty("ipc", &self.ipc);
        o.nonempty("uts", &self.uts);
        o.nonempty("userns", &self.userns);
        o.nonempty("hostname", &self.hostname);
        o.opt("readonly", self.readonly.map(|b| b.to_string()));
        o.opt(
            "maskedPaths",
            self.masked_paths.as_ref().map(|v| strings(v)),
        );
        o.opt(
            "readonlyPaths",
            self.readonly_paths.as_ref().map(|v| strings(v)),
        );
        o.opt("uid", self.uid.as_ref().map(id_json));
        o.opt("gid", self.gid.as_ref().map(id_json));
        o.opt(
            "additionalGids",
            self.additional_gids.as_ref().map(|v| array(v, id_json)),
        );
        o.opt(
            "noNewPrivileges",
            self.no_new_privileges.map(|b| b.to_string()),
        );
        o.opt("oomScoreAdj", self.oom_score_adj.map(|i| i.to_string()));
        o.opt(
            "rootfsPropagation",
            self.rootfs_propagation.as_deref().map(go_string),
        );
        o.opt("cgroupsPath", self.cgroups_path.as_deref().map(go_string));
        o.opt("resources", self.resources.as_ref().map(node_json));
        o.opt("sysctl", self.sysctl.as_ref().map(|m| sorted_map(m)));
        o.opt("rlimits", self.rlimits.as_ref().map(|v| strings(v)));
        o.opt(
            "uidMappings",
            self.uid_mappings
                .as_ref()
                .map(|v| array(v, id_mapping_json)),
        );
        o.opt(
            "gidMappings",
            self.gid_mappings
                .as_ref()
                .map(|v| array(v, id_mapping_json)),
        );
        o.opt(
            "annotations",
            self.annotations.as_ref().map(|m| sorted_map(m)),
        );
        o.opt("runtime", self.runtime.as_ref().map(runtime_json));
        o.finish()
    }
}

fn set_plain(field: &mut String, value: Option<String>) {
    if let Some(v) = value {
        *field = v;
    }
}

fn id(node: &Node, field: &str) -> Result<Option<Id>, DecodeError> {
    match node.value() {
        Value::Null => Ok(None),
        Value::Int(i) => i64::try_from(i)
            .map(|i| Some(Id::Num(i)))
            .map_err(|_| DecodeError::at(node, format!("`{field}` is out of range"))),
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
    let keys = [
        "destination",
        "type",
        "source",
        "options",
        "uidmappings",
        "gidmappings",
    ];
    decode_struct(node, "mount", &keys, |k, v| {
        match k {
            "destination" => set_plain(&mut m.destination, decode_string(v, k)?),
            "type" => set_plain(&mut m.mount_type, decode_string(v, k)?),
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
    decode_struct(
        node,
        "device",
        &["path", "type", "major", "minor", "mode"],
        |k, v| {
            match k {
                "path" => set_plain(&mut d.path, decode_string(v, k)?),
                "type" => set_plain(&mut d.device_type, decode_string(v, k)?),
                "major" => d.major = decode_int(v, k)?.unwrap_or(0),
                "minor" => d.minor = decode_int(v, k)?.unwrap_or(0),
                _ => set_plain(&mut d.mode, decode_string(v, k)?),
            }
            Ok(())
        },
    )?;
    Ok(d)
}

fn interface(node: &Node) -> Result<Interface, DecodeError> {
    let mut i = Interface::default();
    decode_struct(
        node,
        "interface",
        &["name", "add", "peer", "createInRoot"],
        |k, v| {
            match k {
                "name" => set_plain(&mut i.name, decode_string(v, k)?),
                "add" => set_plain(&mut i.add, decode_string(v, k)?),
                "peer" => set_plain(&mut i.peer, decode_string(v, k)?),
                _ => i.create_in_root = decode_bool(v, k)?.unwrap_or(false),
            }
            Ok(())
        },
    )?;
    Ok(i)
}

fn runtime(node: &Node) -> Result<Runtime, DecodeError> {
    let mut r = Runtime::default();
    let keys = [
        "cgroups",
        "mounts",
        "mkdir",
        "interfaces",
        "bindNS",
        "namespace",
    ];
    decode_struct(node, "runtime", &keys, |k, v| {
        match k {
            "cgroups" => r.cgroups = decode_strings(v, k)?,
            "mounts" => r.mounts = decode_seq(v, k, mount)?,
            "mkdir" => r.mkdir = decode_strings(v, k)?,
            "interfaces" => r.interfaces = decode_seq(v, k, interface)?,
            "bindNS" => {
                let ns = &mut r.bind_ns;
                let keys = ["cgroup", "ipc", "mnt", "net", "pid", "user", "uts"];
                decode_struct(v, "bindNS", &keys, |k, v| {
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

// ---- Go encoding/json output ----

/// A JSON object being written in field order.
#[derive(Default)]
struct GoObject {
    out: String,
}

impl GoObject {
    fn field(&mut self, key: &str, json: String) {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        self.out.push_str(&go_string(key));
        self.out.push(':');
        self.out.push_str(&json);
    }
    fn opt(&mut self, key: &str, json: Option<String>) {
        if let Some(j) = json {
            self.field(key, j);
        }
    }
    fn nonempty(&mut self, key: &str, value: &str) {
        if !value.is_empty() {
            self.field(key, go_string(value));
        }
    }
    fn finish(mut self) -> String {
        if self.out.is_empty() {
            self.out.push('{');
        }
        self.out.push('}');
        self.out
    }
}

/// A JSON string as Go's encoding/json writes it (HTML-safe escaping, U+2028/2029 escaped).
pub fn go_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn array<T>(items: &[T], f: impl Fn(&T) -> String) -> String {
    let parts: Vec<String> = items.iter().map(f).collect();
    format!("[{}]", parts.join(","))
}

fn strings(items: &[String]) -> String {
    array(items, |s| go_string(s))
}

fn sorted_map(m: &[(String, String)]) -> String {
    let sorted: std::collections::BTreeMap<&str, &str> =
        m.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let parts: Vec<String> = sorted
        .iter()
        .map(|(k, v)| format!("{}:{}", go_string(k), go_string(v)))
        .collect();
    format!("{{{}}}", parts.join(","))
}

fn id_json(id: &Id) -> String {
    match id {
        Id::Num(n) => n.to_string(),
        Id::Name(s) => go_string(s),
    }
}

fn id_mapping_json(m: &IdMapping) -> String {
    format!(
        "{{\"containerID\":{},\"hostID\":{},\"size\":{}}}",
        m.container_id, m.host_id, m.size
    )
}

fn mount_json(m: &Mount) -> String {
    let mut o = GoObject::default();
    o.field("destination", go_string(&m.destination));
    o.nonempty("type", &m.mount_type);
    o.nonempty("source", &m.source);
    o.opt(
        "options",
        (!m.options.is_empty()).then(|| strings(&m.options)),
    );
    o.opt(
        "uidMappings",
        (!m.uid_mappings.is_empty()).then(|| array(&m.uid_mappings, id_mapping_json)),
    );
    o.opt(
        "gidMappings",
        (!m.gid_mappings.is_empty()).then(|| array(&m.gid_mappings, id_mapping_json)),
    );
    o.finish()
}

fn device_json(d: &Device) -> String {
    let mut o = GoObject::default();
    o.field("path", go_string(&d.path));
    o.field("type", go_string(&d.device_type));
    o.field("major", d.major.to_string());
    o.field("minor", d.minor.to_string());
    o.nonempty("mode", &d.mode);
    o.finish()
}

fn runtime_json(r: &Runtime) -> String {
    let mut o = GoObject::default();
    o.opt("cgroups", r.cgroups.as_ref().map(|v| strings(v)));
    o.opt("mounts", r.mounts.as_ref().map(|v| array(v, mount_json)));
    o.opt("mkdir", r.mkdir.as_ref().map(|v| strings(v)));
    o.opt(
        "interfaces",
        r.interfaces.as_ref().map(|v| {
            array(v, |i| {
                let mut o = GoObject::default();
                o.nonempty("name", &i.name);
                o.nonempty("add", &i.add);
                o.nonempty("peer", &i.peer);
                o.field("createInRoot", i.create_in_root.to_string());
                o.finish()
            })
        }),
    );
    let ns = &r.bind_ns;
    let mut b = GoObject::default();
    for (k, v) in [
        ("cgroup", &ns.cgroup),
        ("ipc", &ns.ipc),
        ("mnt", &ns.mnt),
        ("net", &ns.net),
        ("pid", &ns.pid),
        ("user", &ns.user),
        ("uts", &ns.uts),
    ] {
        o_opt_str(&mut b, k, v);
    }
    o.field("bindNS", b.finish());
    o.opt("namespace", r.namespace.as_deref().map(go_string));
    o.finish()
}

fn o_opt_str(o: &mut GoObject, key: &str, v: &Option<String>) {
    o.opt(key, v.as_deref().map(go_string));
}

/// A YAML node as JSON, keys in source order (used for `resources`).
fn node_json(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar(s) => match s.resolve() {
            Value::Null => "null".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) if f.is_finite() => format!("{f}"),
            Value::Float(_) => "null".into(),
            Value::Str(t) | Value::Timestamp(t) => go_string(t),
            Value::Seq(_) | Value::Map(_) => unreachable!("a scalar resolves to a scalar"),
        },
        NodeKind::Seq(items) => array(items, node_json),
        NodeKind::Map(entries) => {
            let mut o = GoObject::default();
            for (k, v) in entries {
                let key = k.as_scalar().map(|s| s.text.clone()).unwrap_or_default();
                o.field(&key, node_json(v));
            }
            o.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse;

    fn config(text: &str) -> Result<ImageConfig, DecodeError> {
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
        assert_eq!(ImageConfig::default().label_json(), "{}");
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
