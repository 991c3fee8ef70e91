//! The `metadata: yaml` / `metadata: json` dump of the resolved yml.
//!
//! linuxkit marshals its `Moby` struct after rewriting kernel, init and container images to
//! their expanded references (volume images stay as written): with gopkg.in/yaml.v2 for
//! `yaml` ([`crate::yamlv2`]) and `json.MarshalIndent(…, "", "    ")` for `json`
//! ([`crate::gojson`]). Field names, order and omission follow the Go struct tags: yaml.v2
//! uses the `yaml` tags (or the lower-cased field name for the OCI structs, which have none,
//! and prints their unset fields as `null`/`[]`/`{}`), JSON the `json` tags.

use crate::gojson::{Json, ObjBuilder};
use crate::imageconfig::{Device, Field, Id, IdMapping, Mount, Resources, Runtime};
use crate::yamlv2::{self, Y};
use crate::yml::{Config, Container, File, Volume};
use std::collections::BTreeMap;

/// `yaml.v2.Marshal` of the config.
pub fn to_yaml(c: &Config) -> String {
    let images =
        |list: &Option<Vec<Container>>| Y::Seq(list.iter().flatten().map(container_y).collect());
    let mut kernel = vec![("image".to_string(), Y::str(&c.kernel.image))];
    opt_str(&mut kernel, "cmdline", &c.kernel.cmdline);
    opt_str(&mut kernel, "binary", &c.kernel.binary);
    if let Some(t) = &c.kernel.tar {
        kernel.push(("tar".into(), Y::str(t)));
    }
    if let Some(u) = &c.kernel.ucode {
        kernel.push(("ucode".into(), Y::str(u)));
    }
    let top = Y::Map(vec![
        ("kernel".into(), Y::Map(kernel)),
        (
            "init".into(),
            Y::strs(c.init.as_deref().unwrap_or_default()),
        ),
        ("onboot".into(), images(&c.onboot)),
        ("onshutdown".into(), images(&c.onshutdown)),
        ("services".into(), images(&c.services)),
        (
            "files".into(),
            Y::Seq(c.files.iter().flatten().map(file_y).collect()),
        ),
        (
            "volumes".into(),
            Y::Seq(c.volumes.iter().flatten().map(volume_y).collect()),
        ),
    ]);
    yamlv2::marshal(&top)
}

/// `json.MarshalIndent` of the config.
pub fn to_json(c: &Config) -> String {
    let list = |v: &Option<Vec<Container>>| match v {
        None => Json::Null,
        Some(v) => Json::Arr(v.iter().map(container_json).collect()),
    };
    let kernel = ObjBuilder::new()
        .field("image", Json::str(&c.kernel.image))
        .omitempty("cmdline", Json::str(&c.kernel.cmdline))
        .omitempty("binary", Json::str(&c.kernel.binary))
        .some("tar", c.kernel.tar.as_ref().map(Json::str))
        .some("ucode", c.kernel.ucode.as_ref().map(Json::str))
        .build();
    ObjBuilder::new()
        .field("kernel", kernel)
        .field(
            "init",
            c.init.as_ref().map_or(Json::Null, |i| Json::strs(i)),
        )
        .field("onboot", list(&c.onboot))
        .field("onshutdown", list(&c.onshutdown))
        .field("services", list(&c.services))
        .field(
            "files",
            c.files
                .as_ref()
                .map_or(Json::Null, |f| Json::Arr(f.iter().map(file_json).collect())),
        )
        .field(
            "volumes",
            c.volumes.as_ref().map_or(Json::Null, |v| {
                Json::Arr(v.iter().map(volume_json).collect())
            }),
        )
        .build()
        .to_go_indent()
}

fn opt_str(out: &mut Vec<(String, Y)>, key: &str, v: &str) {
    if !v.is_empty() {
        out.push((key.into(), Y::str(v)));
    }
}

fn id_y(id: &Id) -> Y {
    match id {
        Id::Num(n) => Y::int(n),
        Id::Name(s) => Y::str(s),
    }
}

fn idmaps_y(maps: &[IdMapping]) -> Y {
    Y::Seq(
        maps.iter()
            .map(|m| {
                Y::Map(vec![
                    ("containerid".into(), Y::int(m.container_id)),
                    ("hostid".into(), Y::int(m.host_id)),
                    ("size".into(), Y::int(m.size)),
                ])
            })
            .collect(),
    )
}

fn mount_y(m: &Mount) -> Y {
    Y::Map(vec![
        ("destination".into(), Y::str(&m.destination)),
        ("type".into(), Y::str(&m.typ)),
        ("source".into(), Y::str(&m.source)),
        ("options".into(), Y::strs(&m.options)),
        ("uidmappings".into(), idmaps_y(&m.uid_mappings)),
        ("gidmappings".into(), idmaps_y(&m.gid_mappings)),
    ])
}

fn device_y(d: &Device) -> Y {
    let mut v = vec![
        ("path".to_string(), Y::str(&d.path)),
        ("type".into(), Y::str(&d.typ)),
        ("major".into(), Y::int(d.major)),
        ("minor".into(), Y::int(d.minor)),
    ];
    opt_str(&mut v, "mode", &d.mode);
    Y::Map(v)
}

fn string_map_y(m: &BTreeMap<String, String>) -> Y {
    let mut pairs: Vec<(String, Y)> = m.iter().map(|(k, v)| (k.clone(), Y::str(v))).collect();
    yamlv2::sort_keys(&mut pairs);
    Y::Map(pairs)
}

fn opt_y<T>(v: &Option<T>, f: impl Fn(&T) -> Y) -> Y {
    v.as_ref().map_or(Y::null(), f)
}

fn resources_y(r: &Resources) -> Y {
    let int = |v: &Option<i64>| opt_y(v, |x| Y::int(x));
    let memory = opt_y(&r.memory, |m| {
        Y::Map(vec![
            ("limit".into(), int(&m.limit)),
            ("reservation".into(), int(&m.reservation)),
            ("swap".into(), int(&m.swap)),
            ("kernel".into(), int(&m.kernel)),
            ("kerneltcp".into(), Y::null()),
            ("swappiness".into(), opt_y(&m.swappiness, |x| Y::int(x))),
            ("disableoomkiller".into(), Y::null()),
            ("usehierarchy".into(), Y::null()),
            ("checkbeforeupdate".into(), Y::null()),
        ])
    });
    let cpu = opt_y(&r.cpu, |c| {
        Y::Map(vec![
            ("shares".into(), opt_y(&c.shares, |x| Y::int(x))),
            ("quota".into(), int(&c.quota)),
            ("burst".into(), Y::null()),
            ("period".into(), opt_y(&c.period, |x| Y::int(x))),
            ("realtimeruntime".into(), Y::null()),
            ("realtimeperiod".into(), Y::null()),
            ("cpus".into(), Y::str(&c.cpus)),
            ("mems".into(), Y::str(&c.mems)),
            ("idle".into(), Y::null()),
        ])
    });
    let blockio = opt_y(&r.blockio, |w| {
        let mut v = vec![
            ("weight".to_string(), opt_y(w, |x| Y::int(x))),
            ("leafweight".into(), Y::null()),
        ];
        for k in [
            "weightdevice",
            "throttlereadbpsdevice",
            "throttlewritebpsdevice",
            "throttlereadiopsdevice",
            "throttlewriteiopsdevice",
        ] {
            v.push((k.into(), Y::Seq(vec![])));
        }
        Y::Map(v)
    });
    let network = opt_y(&r.network, |p| {
        Y::Map(vec![
            ("classid".into(), Y::null()),
            (
                "priorities".into(),
                Y::Seq(
                    p.iter()
                        .map(|(n, prio)| {
                            Y::Map(vec![
                                ("name".into(), Y::str(n)),
                                ("priority".into(), Y::int(prio)),
                            ])
                        })
                        .collect(),
                ),
            ),
        ])
    });
    Y::Map(vec![
        (
            "devices".into(),
            Y::Seq(
                r.devices
                    .iter()
                    .map(|d| {
                        Y::Map(vec![
                            ("allow".into(), Y::bool(d.allow)),
                            ("type".into(), Y::str(&d.typ)),
                            ("major".into(), int(&d.major)),
                            ("minor".into(), int(&d.minor)),
                            ("access".into(), Y::str(&d.access)),
                        ])
                    })
                    .collect(),
            ),
        ),
        ("memory".into(), memory),
        ("cpu".into(), cpu),
        (
            "pids".into(),
            opt_y(&r.pids, |l| Y::Map(vec![("limit".into(), Y::int(l))])),
        ),
        ("blockio".into(), blockio),
        ("hugepagelimits".into(), Y::Seq(vec![])),
        ("network".into(), network),
        ("rdma".into(), Y::Map(vec![])),
        ("unified".into(), Y::Map(vec![])),
    ])
}

fn runtime_y(r: &Runtime) -> Y {
    let mut v = Vec::new();
    if let Some(c) = &r.cgroups {
        v.push(("cgroups".to_string(), Y::strs(c)));
    }
    if let Some(m) = &r.mounts {
        v.push(("mounts".into(), Y::Seq(m.iter().map(mount_y).collect())));
    }
    if let Some(m) = &r.mkdir {
        v.push(("mkdir".into(), Y::strs(m)));
    }
    if let Some(i) = &r.interfaces {
        v.push((
            "interfaces".into(),
            Y::Seq(
                i.iter()
                    .map(|i| {
                        let mut f = Vec::new();
                        opt_str(&mut f, "name", &i.name);
                        opt_str(&mut f, "add", &i.add);
                        opt_str(&mut f, "peer", &i.peer);
                        f.push(("createInRoot".into(), Y::bool(i.create_in_root)));
                        Y::Map(f)
                    })
                    .collect(),
            ),
        ));
    }
    let ns = r.bind_ns.pairs();
    if ns.iter().any(|(_, v)| v.is_some()) {
        v.push((
            "bindNS".into(),
            Y::Map(
                ns.into_iter()
                    .filter_map(|(k, v)| Some((k.to_string(), Y::str(v?))))
                    .collect(),
            ),
        ));
    }
    if let Some(n) = &r.namespace {
        v.push(("namespace".into(), Y::str(n)));
    }
    Y::Map(v)
}

fn field_y(f: &Field<'_, Resources>) -> Y {
    match f {
        Field::Strs(v) => Y::strs(v),
        Field::Str(s) => Y::str(*s),
        Field::Bool(b) => Y::bool(*b),
        Field::Int(i) => Y::int(i),
        Field::Id(id) => id_y(id),
        Field::Ids(ids) => Y::Seq(ids.iter().map(id_y).collect()),
        Field::Mounts(m) => Y::Seq(m.iter().map(mount_y).collect()),
        Field::Devices(d) => Y::Seq(d.iter().map(device_y).collect()),
        Field::Resources(r) => resources_y(r),
        Field::StrMap(m) => string_map_y(m),
        Field::IdMappings(m) => idmaps_y(m),
        Field::Runtime(r) => runtime_y(r),
    }
}

fn container_y(c: &Container) -> Y {
    let mut v = vec![
        ("name".to_string(), Y::str(&c.name)),
        ("image".into(), Y::str(&c.image)),
    ];
    v.extend(
        c.config
            .fields()
            .iter()
            .map(|(k, f)| (k.to_string(), field_y(f))),
    );
    Y::Map(v)
}

fn container_json(c: &Container) -> Json {
    let mut v = vec![
        ("name".to_string(), Json::str(&c.name)),
        ("image".into(), Json::str(&c.image)),
    ];
    v.extend(
        c.config
            .fields()
            .iter()
            .map(|(k, f)| (k.to_string(), f.go_json())),
    );
    Json::Obj(v)
}

fn file_y(f: &File) -> Y {
    let mut v = vec![
        ("path".to_string(), Y::str(&f.path)),
        ("directory".into(), Y::bool(f.directory)),
    ];
    opt_str(&mut v, "symlink", &f.symlink);
    if let Some(c) = &f.contents {
        v.push(("contents".into(), Y::str(c)));
    }
    opt_str(&mut v, "source", &f.source);
    opt_str(&mut v, "metadata", &f.metadata);
    v.push(("optional".into(), Y::bool(f.optional)));
    opt_str(&mut v, "mode", &f.mode);
    if let Some(u) = &f.uid {
        v.push(("uid".into(), id_y(u)));
    }
    if let Some(g) = &f.gid {
        v.push(("gid".into(), id_y(g)));
    }
    Y::Map(v)
}

fn file_json(f: &File) -> Json {
    ObjBuilder::new()
        .field("path", Json::str(&f.path))
        .field("directory", Json::Bool(f.directory))
        .omitempty("symlink", Json::str(&f.symlink))
        .some("contents", f.contents.as_ref().map(Json::str))
        .omitempty("source", Json::str(&f.source))
        .omitempty("metadata", Json::str(&f.metadata))
        .field("optional", Json::Bool(f.optional))
        .omitempty("mode", Json::str(&f.mode))
        .some("uid", f.uid.as_ref().map(Id::go_json))
        .some("gid", f.gid.as_ref().map(Id::go_json))
        .build()
}

fn volume_y(v: &Volume) -> Y {
    let mut f = vec![("name".to_string(), Y::str(&v.name))];
    opt_str(&mut f, "image", &v.image);
    if v.readonly {
        f.push(("readonly".into(), Y::bool(true)));
    }
    opt_str(&mut f, "format", &v.format);
    if !v.platforms.is_empty() {
        f.push(("platforms".into(), Y::strs(&v.platforms)));
    }
    Y::Map(f)
}

fn volume_json(v: &Volume) -> Json {
    ObjBuilder::new()
        .field("name", Json::str(&v.name))
        .omitempty("image", Json::str(&v.image))
        .omitempty("readonly", Json::Bool(v.readonly))
        .omitempty("format", Json::str(&v.format))
        .omitempty("platforms", Json::strs(&v.platforms))
        .build()
}
