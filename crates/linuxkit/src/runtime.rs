//! OCI `config.json` and linuxkit `runtime.json` for a container, by linuxkit's rules
//! (`moby.ConfigToOCI` and the bundle code of moby/build).
//!
//! Values come from the image config, then the image's `org.mobyproject.config` label, then
//! the yml entry; the rightmost value that is *set* wins (an explicit empty list overrides).
//! Mounts are keyed by destination (defaults, then tmpfs, then binds, then mounts) and sorted;
//! namespaces come in linuxkit's order; capabilities expand `all`/`none`, keep the effective
//! set in the given order and sort the others. The JSON follows runtime-spec v1.2.1's field
//! order and `omitempty` rules and Go's encoder ([`crate::gojson`]).
//!
//! One extension: a user or group *name* that is not a container name (linuxkit's only
//! lookup, where it errors) is looked up in the image's `/etc/passwd` or `/etc/group` by the
//! caller's resolver. Every yml linuxkit accepts gives the same output.

use crate::format::{ALL_CAPS, OCI_VERSION, RLIMITS};
use crate::gojson::{Json, ObjBuilder};
use crate::imageconfig::{
    BINDNS_KEYS, DeviceRule, Id, IdMapping, ImageConfig, Interface, Mount, ResourcesField, Runtime,
    id_mappings_json,
};
use crate::yml::Container;
use std::collections::{BTreeMap, BTreeSet};

/// The parts of an image's config that linuxkit reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageSettings {
    /// `Entrypoint`.
    pub entrypoint: Option<Vec<String>>,
    /// `Cmd`.
    pub cmd: Option<Vec<String>>,
    /// `Env`.
    pub env: Option<Vec<String>>,
    /// `WorkingDir`.
    pub working_dir: String,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
}

impl ImageSettings {
    /// Reads the `config` object of an OCI image configuration blob.
    pub fn from_config_json(raw: &[u8]) -> Result<ImageSettings, String> {
        let v: serde_json::Value =
            serde_json::from_slice(raw).map_err(|e| format!("image config is not JSON: {e}"))?;
        let c = v.get("config").cloned().unwrap_or_default();
        let strings = |key: &str| -> Option<Vec<String>> {
            c.get(key)?.as_array().map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
        };
        Ok(ImageSettings {
            entrypoint: strings("Entrypoint"),
            cmd: strings("Cmd"),
            env: strings("Env"),
            working_dir: c
                .get("WorkingDir")
                .and_then(|s| s.as_str())
                .unwrap_or_default()
                .to_string(),
            labels: c
                .get("Labels")
                .and_then(|l| l.as_object())
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// Which id table a name is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// `/etc/passwd`.
    User,
    /// `/etc/group`.
    Group,
}

/// Resolves a user or group name that is not a container name; `Ok(None)` if unknown.
pub type NameResolver<'a> = &'a mut dyn FnMut(IdKind, &str) -> Result<Option<u32>, String>;

/// config.json and the runtime part of a container.
#[derive(Debug, Clone, PartialEq)]
pub struct Bundle {
    /// config.json, as linuxkit writes it.
    pub config_json: String,
    /// The root filesystem is read-only (extract into `rootfs/`, bind-mount it).
    pub readonly: bool,
    /// runtime.json before the rootfs mounts are prepended.
    pub runtime: RuntimeJson,
}

/// linuxkit's `Runtime` after label and yml are merged: every field present.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuntimeJson {
    pub cgroups: Vec<String>,
    pub mounts: Vec<Mount>,
    pub mkdir: Vec<String>,
    pub interfaces: Vec<Interface>,
    /// cgroup, ipc, mnt, net, pid, user, uts.
    pub bind_ns: [String; 7],
    pub namespace: String,
}

impl RuntimeJson {
    /// runtime.json with `first` mounts placed before the configured ones.
    pub fn to_json(&self, first: &[Mount]) -> String {
        ObjBuilder::new()
            .field("cgroups", Json::strs(&self.cgroups))
            .field(
                "mounts",
                Json::Arr(
                    first
                        .iter()
                        .chain(&self.mounts)
                        .map(Mount::go_json)
                        .collect(),
                ),
            )
            .field("mkdir", Json::strs(&self.mkdir))
            .field(
                "interfaces",
                Json::Arr(self.interfaces.iter().map(Interface::go_json).collect()),
            )
            .field(
                "bindNS",
                Json::Obj(
                    BINDNS_KEYS
                        .iter()
                        .zip(&self.bind_ns)
                        .map(|(k, v)| (k.to_string(), Json::str(v)))
                        .collect(),
                ),
            )
            .field("namespace", Json::str(&self.namespace))
            .build()
            .to_go_indent()
    }
}

/// A container whose config cannot be built.
#[derive(Debug, thiserror::Error)]
#[error("{container}: {message}")]
pub struct RuntimeError {
    /// `section[i]` and name.
    pub container: String,
    /// What is wrong.
    pub message: String,
}

/// linuxkit's `updateMountsAndBindsFromVolumes`: binds whose source is a volume name point at
/// the volume's `merged` directory; a read-only volume needs `ro`. Mounts of type bind are
/// checked the same way but, as in linuxkit, not rewritten.
pub fn apply_volumes(
    c: &Container,
    volume: &dyn Fn(&str) -> Option<(String, bool)>,
) -> Result<Container, String> {
    let mut c = c.clone();
    if let Some(mounts) = &c.config.mounts {
        for (i, m) in mounts.iter().enumerate() {
            if m.typ != "bind" || m.source.starts_with('/') {
                continue;
            }
            let (_, ro) = volume(&m.source)
                .ok_or_else(|| format!("volume {} not found in image mount {i}", m.source))?;
            let first = m.options.iter().find(|o| *o == "rw" || *o == "ro");
            if ro && first.map(String::as_str) != Some("ro") {
                return Err(format!(
                    "volume {} is read-only, but attempting to write into container read-write",
                    m.source
                ));
            }
        }
    }
    for binds in [&mut c.config.binds, &mut c.config.binds_add]
        .into_iter()
        .flatten()
    {
        for (i, b) in binds.iter_mut().enumerate() {
            let mut parts: Vec<&str> = b.split(':').collect();
            if parts[0].starts_with('/') {
                continue;
            }
            let (merged, ro) = volume(parts[0])
                .ok_or_else(|| format!("volume {} not found in image bind {i}", parts[0]))?;
            if ro && parts.get(2) != Some(&"ro") {
                return Err(format!(
                    "volume {} is read-only, but attempting to write into container read-write",
                    parts[0]
                ));
            }
            parts[0] = &merged;
            *b = parts.join(":");
        }
    }
    Ok(c)
}

fn pick<'a, T>(label: &'a Option<T>, yml: &'a Option<T>) -> Option<&'a T> {
    yml.as_ref().or(label.as_ref())
}

fn pick_vec(label: &Option<Vec<String>>, yml: &Option<Vec<String>>) -> Vec<String> {
    pick(label, yml).cloned().unwrap_or_default()
}

fn pick_str<'a>(values: &[&'a str]) -> &'a str {
    values
        .iter()
        .rev()
        .find(|s| !s.is_empty())
        .copied()
        .unwrap_or("")
}

/// `ConfigToOCI`: config.json and the runtime settings of container `c` (binds already
/// rewritten by [`apply_volumes`]). `id_map` maps container names to the ids linuxkit gives
/// them; `names` resolves other names.
pub fn config_to_oci(
    c: &Container,
    image: &ImageSettings,
    id_map: &BTreeMap<String, u32>,
    names: NameResolver<'_>,
) -> Result<Bundle, String> {
    let label = match image.labels.get("org.mobyproject.config") {
        Some(text) if !text.is_empty() => {
            ImageConfig::parse_label(text, &c.image).map_err(|e| e.to_string())?
        }
        _ => ImageConfig::default(),
    };
    let y = &c.config;

    let image_args: Option<Vec<String>> = match (&image.entrypoint, &image.cmd) {
        (None, None) => None,
        (e, cmd) => Some(e.iter().chain(cmd.iter()).flatten().cloned().collect()),
    };
    let args = pick(&label.command, &y.command).cloned().or(image_args);
    let env = pick(&label.env, &y.env)
        .cloned()
        .or_else(|| image.env.clone());
    let cwd = pick_str(&["/", &image.working_dir, &label.cwd, &y.cwd]).to_string();
    let readonly = pick(&label.readonly, &y.readonly).copied().unwrap_or(false);

    let mut mounts: BTreeMap<String, Mount> = BTreeMap::new();
    let mut add = |dest: &str, typ: &str, source: &str, options: Vec<String>| {
        mounts.insert(
            dest.to_string(),
            Mount {
                destination: dest.to_string(),
                typ: typ.to_string(),
                source: source.to_string(),
                options,
                ..Mount::default()
            },
        );
    };
    let ro = |mut v: Vec<&str>| {
        if readonly {
            v.push("ro");
        }
        v.into_iter().map(String::from).collect::<Vec<_>>()
    };
    add(
        "/proc",
        "proc",
        "proc",
        ro_none(&["nosuid", "nodev", "noexec", "relatime"]),
    );
    add(
        "/dev",
        "tmpfs",
        "tmpfs",
        ro(vec!["nosuid", "strictatime", "mode=755", "size=65536k"]),
    );
    add(
        "/dev/pts",
        "devpts",
        "devpts",
        ro_none(&[
            "nosuid",
            "noexec",
            "newinstance",
            "ptmxmode=0666",
            "mode=0620",
        ]),
    );
    add(
        "/sys",
        "sysfs",
        "sysfs",
        ro(vec!["nosuid", "noexec", "nodev"]),
    );
    add(
        "/sys/fs/cgroup",
        "cgroup",
        "cgroup",
        ro_none(&["nosuid", "noexec", "nodev", "relatime", "ro"]),
    );
    for t in pick_vec(&label.tmpfs, &y.tmpfs) {
        let parts: Vec<&str> = t.split(':').collect();
        if parts.len() > 2 {
            return Err(format!("cannot parse tmpfs, too many ':': {t}"));
        }
        let opts = parts
            .get(1)
            .map(|o| o.split(',').map(String::from).collect())
            .unwrap_or_default();
        add(parts[0], "tmpfs", "tmpfs", opts);
    }
    let binds = match (&y.binds, &label.binds, &y.binds_add) {
        (Some(b), _, _) => b.clone(),
        (None, l, a) => l.iter().chain(a.iter()).flatten().cloned().collect(),
    };
    for b in binds {
        let parts: Vec<&str> = b.split(':').collect();
        if parts.len() < 2 {
            return Err(format!("cannot parse bind, missing ':': {b}"));
        }
        if parts.len() > 3 {
            return Err(format!("cannot parse bind, too many ':': {b}"));
        }
        let opts = match parts.get(2) {
            Some(o) => o.split(',').chain(["rbind"]).map(String::from).collect(),
            None => ro_none(&["rw", "rbind", "rshared"]),
        };
        add(parts[1], "bind", parts[0], opts);
    }
    for m in pick(&label.mounts, &y.mounts).cloned().unwrap_or_default() {
        let mut typ = m.typ.clone();
        if typ.is_empty()
            && matches!(
                m.source.as_str(),
                "mqueue" | "devpts" | "proc" | "sysfs" | "cgroup"
            )
        {
            typ = m.source.clone();
        }
        if typ.is_empty() && m.destination == "/dev" {
            typ = "tmpfs".into();
        }
        if typ.is_empty() {
            return Err(format!(
                "mount for destination {} is missing type",
                m.destination
            ));
        }
        let source = if m.source.is_empty() {
            typ.clone()
        } else {
            m.source.clone()
        };
        let mut dest = m.destination.clone();
        if dest.is_empty() {
            dest = match typ.as_str() {
                "proc" => "/proc",
                "devpts" => "/dev/pts",
                "sysfs" => "/sys",
                "cgroup" => "/sys/fs/cgroup",
                "mqueue" => "/dev/mqueue",
                _ => return Err(format!("mount type {typ} is missing destination")),
            }
            .into();
        }
        mounts.insert(
            dest.clone(),
            Mount {
                destination: dest,
                typ,
                source,
                ..m
            },
        );
    }

    let mut namespaces = Vec::new();
    let mut ns = |typ: &str, value: &str, default: &str, new: &[&str]| {
        let v = if value.is_empty() { default } else { value };
        if v != "host" && v != "root" {
            let path = if new.contains(&v) { "" } else { v };
            namespaces.push(
                ObjBuilder::new()
                    .field("type", Json::str(typ))
                    .omitempty("path", Json::str(path))
                    .build(),
            );
        }
    };
    ns(
        "network",
        pick_str(&[&label.net, &y.net]),
        "root",
        &["none", "new"],
    );
    ns("ipc", pick_str(&[&label.ipc, &y.ipc]), "root", &["new"]);
    ns("uts", pick_str(&[&label.uts, &y.uts]), "root", &["new"]);
    ns("pid", pick_str(&[&label.pid, &y.pid]), "", &["new"]);
    ns(
        "user",
        pick_str(&[&label.userns, &y.userns]),
        "root",
        &["new"],
    );
    namespaces.push(ObjBuilder::new().field("type", Json::str("mount")).build());

    let expand = |list: Vec<String>| -> Vec<String> {
        if list.len() == 1 {
            match list[0].to_lowercase().as_str() {
                "none" => return vec![],
                "all" => return ALL_CAPS.iter().map(|s| s.to_string()).collect(),
                _ => {}
            }
        }
        list
    };
    let caps = expand(
        match (&y.capabilities, &label.capabilities, &y.capabilities_add) {
            (Some(c), _, _) => c.clone(),
            (None, l, a) => l.iter().chain(a.iter()).flatten().cloned().collect(),
        },
    );
    let ambient = expand(pick_vec(&label.ambient, &y.ambient));
    for cap in caps.iter().chain(&ambient) {
        if !ALL_CAPS.contains(&cap.as_str()) {
            return Err(format!("unknown capability: {cap}"));
        }
    }
    let bounding: Vec<String> = caps
        .iter()
        .chain(&ambient)
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();

    let mut rlimits = Vec::new();
    for r in pick_vec(&label.rlimits, &y.rlimits) {
        let parts: Vec<&str> = r.splitn(3, ',').collect();
        if parts.len() != 3 {
            return Err(format!("cannot parse rlimit: {r}"));
        }
        let mut name = parts[0].trim().to_uppercase();
        if !name.starts_with("RLIMIT_") {
            name = format!("RLIMIT_{name}");
        }
        let limit = |s: &str| -> Result<u64, String> {
            let s = s.trim();
            if s.eq_ignore_ascii_case("unlimited") {
                Ok(u64::MAX)
            } else {
                s.parse::<u64>()
                    .map_err(|e| format!("cannot parse {s} as uint64: {e}"))
            }
        };
        let (soft, hard) = (limit(parts[1])?, limit(parts[2])?);
        if !RLIMITS.contains(&name.as_str()) {
            return Err(format!("unknown limit: {name}"));
        }
        rlimits.push(
            ObjBuilder::new()
                .field("type", Json::str(name))
                .field("hard", Json::UInt(hard))
                .field("soft", Json::UInt(soft))
                .build(),
        );
    }

    let mut numeric = |id: Option<&Id>, kind: IdKind| -> Result<u32, String> {
        match id {
            None => Ok(0),
            Some(Id::Num(n)) => i64::try_from(*n)
                .map(|n| n as u32)
                .map_err(|_| "bad type for uid or gid".to_string()),
            Some(Id::Name(s)) if s.is_empty() || s == "root" => Ok(0),
            Some(Id::Name(s)) => match id_map.get(s) {
                Some(v) => Ok(*v),
                None => names(kind, s)?.ok_or_else(|| format!("cannot find id: {s}")),
            },
        }
    };
    let uid = numeric(pick(&label.uid, &y.uid), IdKind::User)?;
    let gid = numeric(pick(&label.gid, &y.gid), IdKind::Group)?;
    let mut additional = Vec::new();
    for g in pick(&label.additional_gids, &y.additional_gids)
        .into_iter()
        .flatten()
    {
        additional.push(Json::UInt(numeric(Some(g), IdKind::Group)?.into()));
    }

    let mut resources = pick(&label.resources, &y.resources)
        .cloned()
        .unwrap_or_default();
    let mut devices = Vec::new();
    for d in pick(&label.devices, &y.devices)
        .cloned()
        .unwrap_or_default()
    {
        if d.path == "all" {
            resources.devices.push(DeviceRule {
                allow: true,
                typ: d.typ.clone(),
                access: "rwm".into(),
                ..Default::default()
            });
            continue;
        }
        let mode = parse_octal_i32(&d.mode)
            .ok_or_else(|| format!("cannot parse device mode as octal value: {:?}", d.mode))?;
        devices.push(
            ObjBuilder::new()
                .field("path", Json::str(&d.path))
                .field("type", Json::str(&d.typ))
                .field("major", Json::Int(d.major))
                .field("minor", Json::Int(d.minor))
                .field("fileMode", Json::UInt(u64::from(mode as u32)))
                .build(),
        );
        resources.devices.push(DeviceRule {
            allow: true,
            typ: d.typ.clone(),
            major: Some(d.major),
            minor: Some(d.minor),
            access: "rwm".into(),
        });
    }

    let map_json = |m: Option<&BTreeMap<String, String>>| {
        Json::Obj(
            m.into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), Json::str(v)))
                .collect(),
        )
    };
    let user = ObjBuilder::new()
        .field("uid", Json::UInt(uid.into()))
        .field("gid", Json::UInt(gid.into()))
        .omitempty("additionalGids", Json::Arr(additional))
        .build();
    let capabilities = ObjBuilder::new()
        .omitempty("bounding", Json::strs(&bounding))
        .omitempty("effective", Json::strs(&caps))
        .omitempty("inheritable", Json::strs(&bounding))
        .omitempty("permitted", Json::strs(&bounding))
        .omitempty("ambient", Json::strs(&ambient))
        .build();
    let process = ObjBuilder::new()
        .field("user", user)
        .omitempty("args", args.map(|a| Json::strs(&a)).unwrap_or(Json::Null))
        .omitempty("env", env.map(|e| Json::strs(&e)).unwrap_or(Json::Null))
        .field("cwd", Json::str(cwd))
        .field("capabilities", capabilities)
        .omitempty("rlimits", Json::Arr(rlimits))
        .omitempty(
            "noNewPrivileges",
            Json::Bool(
                pick(&label.no_new_privileges, &y.no_new_privileges)
                    .copied()
                    .unwrap_or(false),
            ),
        )
        .some(
            "oomScoreAdj",
            pick(&label.oom_score_adj, &y.oom_score_adj).map(|v| Json::Int(*v)),
        )
        .build();
    let no_maps: Vec<IdMapping> = Vec::new();
    let linux = ObjBuilder::new()
        .omitempty(
            "uidMappings",
            id_mappings_json(pick(&label.uid_mappings, &y.uid_mappings).unwrap_or(&no_maps)),
        )
        .omitempty(
            "gidMappings",
            id_mappings_json(pick(&label.gid_mappings, &y.gid_mappings).unwrap_or(&no_maps)),
        )
        .omitempty("sysctl", map_json(pick(&label.sysctl, &y.sysctl)))
        .field("resources", resources.go_json())
        .omitempty(
            "cgroupsPath",
            Json::str(
                pick(&label.cgroups_path, &y.cgroups_path)
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .field("namespaces", Json::Arr(namespaces))
        .omitempty("devices", Json::Arr(devices))
        .omitempty(
            "rootfsPropagation",
            Json::str(
                pick(&label.rootfs_propagation, &y.rootfs_propagation)
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .omitempty(
            "maskedPaths",
            Json::strs(&pick_vec(&label.masked_paths, &y.masked_paths)),
        )
        .omitempty(
            "readonlyPaths",
            Json::strs(&pick_vec(&label.readonly_paths, &y.readonly_paths)),
        )
        .build();
    let spec = ObjBuilder::new()
        .field("ociVersion", Json::str(OCI_VERSION))
        .field("process", process)
        .field(
            "root",
            ObjBuilder::new()
                .field("path", Json::str("rootfs"))
                .omitempty("readonly", Json::Bool(readonly))
                .build(),
        )
        .omitempty(
            "hostname",
            Json::str(pick_str(&[&label.hostname, &y.hostname])),
        )
        .omitempty(
            "mounts",
            Json::Arr(mounts.values().map(Mount::go_json).collect()),
        )
        .omitempty(
            "annotations",
            map_json(pick(&label.annotations, &y.annotations)),
        )
        .field("linux", linux)
        .build();

    Ok(Bundle {
        config_json: spec.to_go_indent(),
        readonly,
        runtime: merge_runtime(label.runtime.as_ref(), y.runtime.as_ref()),
    })
}

fn ro_none(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Go's `strconv.ParseInt(s, 8, 32)`.
fn parse_octal_i32(s: &str) -> Option<i32> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let v = i64::from_str_radix(digits, 8).ok()?;
    i32::try_from(if neg { -v } else { v }).ok()
}

/// `assignRuntime`: label and yml merged field by field, yml winning.
fn merge_runtime(label: Option<&Runtime>, yml: Option<&Runtime>) -> RuntimeJson {
    let empty = Runtime::default();
    let (l, y) = (label.unwrap_or(&empty), yml.unwrap_or(&empty));
    let s = |a: &Option<String>, b: &Option<String>| pick(a, b).cloned().unwrap_or_default();
    RuntimeJson {
        cgroups: pick_vec(&l.cgroups, &y.cgroups),
        mounts: pick(&l.mounts, &y.mounts).cloned().unwrap_or_default(),
        mkdir: pick_vec(&l.mkdir, &y.mkdir),
        interfaces: pick(&l.interfaces, &y.interfaces)
            .cloned()
            .unwrap_or_default(),
        bind_ns: [
            s(&l.bind_ns.cgroup, &y.bind_ns.cgroup),
            s(&l.bind_ns.ipc, &y.bind_ns.ipc),
            s(&l.bind_ns.mnt, &y.bind_ns.mnt),
            s(&l.bind_ns.net, &y.bind_ns.net),
            s(&l.bind_ns.pid, &y.bind_ns.pid),
            s(&l.bind_ns.user, &y.bind_ns.user),
            s(&l.bind_ns.uts, &y.bind_ns.uts),
        ],
        namespace: s(&l.namespace, &y.namespace),
    }
}
