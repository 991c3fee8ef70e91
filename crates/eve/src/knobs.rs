//! The build knobs (ZARCH, HV, PLATFORM, DEV, ROOTFS_FORMAT, LIVE_UPDATE, MEDIA_SIZE, …):
//! their tables, defaults, precedence and rejections, as EVE's Makefile has them.
//!
//! Source: lf-edge/eve `Makefile` and `kernel-version.mk` at 2c6b4154 (eve-build-facts §1).
//!
//! Precedence follows make: a `KEY=VALUE` argument beats everything; the environment counts
//! only for the knobs EVE assigns with `?=` (ZARCH, PLATFORM, MEDIA_SIZE, ROOTFS_FORMAT,
//! KERNEL_TAG) or does not assign (LIVE_UPDATE, RSTATS, EVE_HASH, EVE_REL). HV, DEV and
//! ROOTFS_VERSION are plain assignments in EVE, so an environment value is ignored.
//!
//! Decisions about the names in the seed document (reference/seed-BUILD.md):
//! - `HV=kubevirt` is accepted as the old name of `k` (EVE renamed the variant).
//! - `HV=acrn` is rejected with EVE's `Unsupported hypervisor acrn`: EVE removed ACRN (commit
//!   "remove acrn hypervisor"); no package, modifier or pillar support is left to build it.
//! - The HV default is `kvm` on every architecture, as in EVE's Makefile (the seed's "mini on
//!   riscv64" is not what EVE does).
//! - `LIVE_UPDATE` with an explicit `ROOTFS_FORMAT=squash` is rejected instead of building a
//!   squashfs that the live update cannot write into (make would let the argument win).
//!
//! Target shortcuts from the seed (`make rootfs-acrn`): [`target_shortcut`].

use std::collections::BTreeMap;

/// Architectures EVE builds for (`ARCHS` in kernel-version.mk).
pub const ARCHES: &[&str] = &["amd64", "arm64", "riscv64"];

/// Platforms per architecture (`PLATFORMS_<arch>` in kernel-version.mk).
pub const PLATFORMS: &[(&str, &[&str])] = &[
    ("amd64", &["generic", "rt"]),
    (
        "arm64",
        &[
            "generic",
            "nvidia-jp5",
            "nvidia-jp6",
            "nvidia-jp7",
            "imx8mp_pollux",
            "imx8mp_epc_r3720",
            "imx8mq_evk",
        ],
    ),
    ("riscv64", &["generic"]),
];

/// Hypervisors EVE accepts (`HV_SUPPORTED` in the Makefile).
pub const HYPERVISORS: &[&str] = &["kvm", "k", "mini", "xen"];

/// Older names accepted for a hypervisor: (name, EVE's name).
pub const HV_ALIASES: &[(&str, &str)] = &[("kubevirt", "k")];

/// Hypervisor names the seed document mentions that EVE no longer builds.
pub const HV_REMOVED: &[&str] = &["acrn"];

/// `HV_DEFAULT`.
pub const DEFAULT_HV: &str = "kvm";
/// `PLATFORM ?= generic`.
pub const DEFAULT_PLATFORM: &str = "generic";
/// `EVE_SNAPSHOT_VERSION`.
pub const DEFAULT_SNAPSHOT_VERSION: &str = "0.0.0";

/// Root filesystem formats (`pkg/mkrootfs-<format>`).
pub const ROOTFS_FORMATS: &[&str] = &["squash", "ext4"];
/// `ROOTFS_FORMAT ?= squash`.
pub const DEFAULT_ROOTFS_FORMAT: &str = "squash";
/// The format `LIVE_UPDATE` forces.
pub const LIVE_UPDATE_ROOTFS_FORMAT: &str = "ext4";

/// `MEDIA_SIZE` defaults in MiB: (HV, size); any other HV gets [`DEFAULT_MEDIA_SIZE_MIB`].
pub const MEDIA_SIZE_MIB_BY_HV: &[(&str, u64)] = &[("k", 65536)];
/// `MEDIA_SIZE ?= 32768`.
pub const DEFAULT_MEDIA_SIZE_MIB: u64 = 32768;

/// `ROOTFS_MAXSIZE_MB`: 10240 for HV=k or a PLATFORM containing `nvidia`, else 290.
pub const ROOTFS_MAXSIZE_MB: u64 = 290;
/// The larger cap.
pub const ROOTFS_MAXSIZE_MB_LARGE: u64 = 10240;

/// `uname -m` names mapped to EVE's (`HOSTARCH`); others pass through unchanged.
pub const HOST_ARCH_NAMES: &[(&str, &str)] = &[("x86_64", "amd64"), ("aarch64", "arm64")];

/// Targets that accept a `-<hv>` suffix (the seed's `rootfs-acrn` shortcut).
pub const HV_SHORTCUT_TARGETS: &[&str] = &[
    "rootfs",
    "live",
    "live-raw",
    "live-qcow2",
    "live-vdi",
    "live-parallels",
    "live-gcp",
    "live-vmdk",
    "live-vhd",
    "installer",
    "installer-raw",
    "installer-iso",
    "installer-net",
    "installer-qcow2",
    "rootfs.tar",
    "sbom",
];

/// Whether `make pkgs` builds the package directory `name` (the Makefile's `PKGS` filter:
/// `grep -Ev "eve|alpine|sources$"` for HV=k, else also `kube` and `external-boot-image$`).
pub fn in_pkgs(name: &str, hv: &str) -> bool {
    let excluded = name.contains("eve")
        || name.contains("alpine")
        || name.ends_with("sources")
        || (hv != "k" && (name.contains("kube") || name.ends_with("external-boot-image")));
    !excluded
}

/// `KEY=VALUE` arguments and the environment, as make sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    /// `KEY=VALUE` arguments (make's command-line variables).
    pub command_line: BTreeMap<String, String>,
    /// The process environment.
    pub environment: BTreeMap<String, String>,
}

impl Vars {
    /// Build from `KEY=VALUE` strings and an environment.
    pub fn new<'a>(
        args: impl IntoIterator<Item = &'a str>,
        environment: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, KnobError> {
        let mut command_line = BTreeMap::new();
        for a in args {
            let (k, v) = a
                .split_once('=')
                .ok_or_else(|| KnobError::Assignment(a.to_string()))?;
            command_line.insert(k.to_string(), v.to_string());
        }
        Ok(Vars {
            command_line,
            environment: environment.into_iter().collect(),
        })
    }

    /// Value of a `?=` knob (or one EVE never assigns): command line, then environment.
    pub fn soft(&self, key: &str) -> Option<&str> {
        self.command_line
            .get(key)
            .or_else(|| self.environment.get(key))
            .map(String::as_str)
    }

    /// Value of a knob EVE assigns with `=` or `:=`: only the command line overrides it.
    pub fn hard(&self, key: &str) -> Option<&str> {
        self.command_line.get(key).map(String::as_str)
    }
}

/// The resolved knobs of one build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Knobs {
    /// Target architecture.
    pub zarch: String,
    /// Build host architecture (EVE's name).
    pub host_arch: String,
    /// Hypervisor (aliases already mapped).
    pub hv: String,
    /// Platform.
    pub platform: String,
    /// DEV=y.
    pub dev: bool,
    /// RSTATS=y (package variant selection only).
    pub rstats: bool,
    /// squash or ext4.
    pub rootfs_format: String,
    /// LIVE_UPDATE given (non-empty).
    pub live_update: bool,
    /// Final virtual disk size in MiB.
    pub media_size_mib: u64,
    /// KERNEL_TAG as given by the user (argument or environment), before the kernel table.
    pub kernel_tag: Option<String>,
    /// ROOTFS_VERSION given as an argument (overrides the computed version).
    pub rootfs_version: Option<String>,
    /// EVE_SNAPSHOT_VERSION (default 0.0.0).
    pub snapshot_version: String,
    /// EVE_HASH (`--hash` for package tags).
    pub eve_hash: Option<String>,
    /// EVE_REL (release tag).
    pub eve_rel: Option<String>,
    /// Everything the knobs were resolved from.
    pub vars: Vars,
}

/// A rejected knob value, with EVE's wording where EVE rejects it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnobError {
    /// ZARCH is not an EVE architecture.
    #[error("Unsupported architecture {0}")]
    Architecture(String),
    /// PLATFORM is not listed for ZARCH.
    #[error("Unsupported combination of ZARCH={zarch} and PLATFORM={platform}")]
    Platform {
        /// The architecture.
        zarch: String,
        /// The platform.
        platform: String,
    },
    /// A `$(error …)` raised by the source tree's kernel table, verbatim (EVE's table raises
    /// the architecture and platform messages above, and "KERNEL_VERSION is not defined…" /
    /// "KERNEL_COMMIT_… is not defined…").
    #[error("{0}")]
    KernelTable(String),
    /// HV is not an EVE hypervisor.
    #[error("Unsupported hypervisor {0}")]
    Hypervisor(String),
    /// ROOTFS_FORMAT is neither squash nor ext4.
    #[error("Unsupported ROOTFS_FORMAT={0} (use squash or ext4)")]
    RootfsFormat(String),
    /// LIVE_UPDATE with a format it cannot update.
    #[error(
        "LIVE_UPDATE needs ROOTFS_FORMAT=ext4 (a squashfs root cannot be updated in place), \
         but ROOTFS_FORMAT={0} was given; drop one of them"
    )]
    LiveUpdateFormat(String),
    /// MEDIA_SIZE is not a number of MiB.
    #[error("MEDIA_SIZE={0} is not a size in MiB (e.g. MEDIA_SIZE=32768)")]
    MediaSize(String),
    /// An argument is not `KEY=VALUE`.
    #[error("`{0}` is not a KEY=VALUE assignment")]
    Assignment(String),
}

/// EVE's name for a `uname -m` machine name (`HOSTARCH`).
pub fn host_arch(machine: &str) -> String {
    HOST_ARCH_NAMES
        .iter()
        .find(|(m, _)| *m == machine)
        .map_or(machine, |(_, a)| a)
        .to_string()
}

/// The platforms of an architecture, if it is one.
pub fn platforms(zarch: &str) -> Option<&'static [&'static str]> {
    PLATFORMS.iter().find(|(a, _)| *a == zarch).map(|(_, p)| *p)
}

/// Map an HV alias to EVE's name.
pub fn canonical_hv(hv: &str) -> &str {
    HV_ALIASES
        .iter()
        .find(|(alias, _)| *alias == hv)
        .map_or(hv, |(_, name)| name)
}

/// Split a seed-style shortcut target: `rootfs-acrn` → (`rootfs`, `acrn`), `live-raw-xen` →
/// (`live-raw`, `xen`). The suffix must name a hypervisor (EVE's, an alias, or a removed one,
/// which validation then rejects) and the rest a target that takes the shortcut.
pub fn target_shortcut(target: &str) -> Option<(String, String)> {
    let (base, hv) = target.rsplit_once('-')?;
    let known = HYPERVISORS.contains(&hv)
        || HV_ALIASES.iter().any(|(a, _)| *a == hv)
        || HV_REMOVED.contains(&hv);
    (known && HV_SHORTCUT_TARGETS.contains(&base)).then(|| (base.to_string(), hv.to_string()))
}

impl Knobs {
    /// Resolve the knobs from `vars` with EVE's defaults; `machine` is `uname -m` of the build
    /// host. Only malformed values are errors here; [`Knobs::validate`] checks combinations.
    pub fn resolve(vars: Vars, machine: &str) -> Result<Knobs, KnobError> {
        let host_arch = host_arch(machine);
        let zarch = vars.soft("ZARCH").unwrap_or(&host_arch).to_string();
        let hv = canonical_hv(vars.hard("HV").unwrap_or(DEFAULT_HV)).to_string();
        let platform = vars
            .soft("PLATFORM")
            .unwrap_or(DEFAULT_PLATFORM)
            .to_string();
        let dev = vars.hard("DEV") == Some("y");
        let rstats = vars.soft("RSTATS") == Some("y");
        let live_update = vars.soft("LIVE_UPDATE").is_some_and(|v| !v.is_empty());
        let rootfs_format = if live_update {
            match vars.hard("ROOTFS_FORMAT") {
                Some(f) if f != LIVE_UPDATE_ROOTFS_FORMAT => {
                    return Err(KnobError::LiveUpdateFormat(f.to_string()));
                }
                _ => LIVE_UPDATE_ROOTFS_FORMAT.to_string(),
            }
        } else {
            vars.soft("ROOTFS_FORMAT")
                .unwrap_or(DEFAULT_ROOTFS_FORMAT)
                .to_string()
        };
        let media_size_mib = match vars.soft("MEDIA_SIZE") {
            Some(s) => s.parse().map_err(|_| KnobError::MediaSize(s.to_string()))?,
            None => MEDIA_SIZE_MIB_BY_HV
                .iter()
                .find(|(h, _)| *h == hv)
                .map_or(DEFAULT_MEDIA_SIZE_MIB, |(_, s)| *s),
        };
        let nonempty = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(str::to_string);
        Ok(Knobs {
            kernel_tag: nonempty(vars.soft("KERNEL_TAG")),
            rootfs_version: vars.hard("ROOTFS_VERSION").map(str::to_string),
            snapshot_version: vars
                .hard("EVE_SNAPSHOT_VERSION")
                .unwrap_or(DEFAULT_SNAPSHOT_VERSION)
                .to_string(),
            eve_hash: nonempty(vars.soft("EVE_HASH")),
            eve_rel: nonempty(vars.soft("EVE_REL")),
            zarch,
            host_arch,
            hv,
            platform,
            dev,
            rstats,
            rootfs_format,
            live_update,
            media_size_mib,
            vars,
        })
    }

    /// Check the combination against the built-in tables in EVE's order: architecture,
    /// platform (kernel-version.mk, included first), then hypervisor (Makefile), then the
    /// root filesystem format. With a source tree, [`crate::kernel::resolve`] runs the
    /// tree's own kernel table instead of the first two checks.
    pub fn validate(&self) -> Result<(), KnobError> {
        self.validate_arch_platform()?;
        self.validate_after_kernel()
    }

    /// The checks kernel-version.mk makes (built-in tables).
    pub fn validate_arch_platform(&self) -> Result<(), KnobError> {
        let plats =
            platforms(&self.zarch).ok_or_else(|| KnobError::Architecture(self.zarch.clone()))?;
        if !plats.contains(&self.platform.as_str()) {
            return Err(KnobError::Platform {
                zarch: self.zarch.clone(),
                platform: self.platform.clone(),
            });
        }
        Ok(())
    }

    /// The checks that come after the kernel table: hypervisor, then rootfs format.
    pub fn validate_after_kernel(&self) -> Result<(), KnobError> {
        if !HYPERVISORS.contains(&self.hv.as_str()) {
            return Err(KnobError::Hypervisor(self.hv.clone()));
        }
        if !ROOTFS_FORMATS.contains(&self.rootfs_format.as_str()) {
            return Err(KnobError::RootfsFormat(self.rootfs_format.clone()));
        }
        Ok(())
    }

    /// Building for another architecture than the host's (`CROSS=1`).
    pub fn cross(&self) -> bool {
        self.zarch != self.host_arch
    }

    /// `TAGPLAT`: the platform unless it is generic.
    pub fn tag_platform(&self) -> Option<&str> {
        (self.platform != DEFAULT_PLATFORM).then_some(self.platform.as_str())
    }

    /// Content of `installer/eve_platform`: `imx8` for any imx8 platform, else PLATFORM.
    pub fn eve_platform_file(&self) -> &str {
        if self.platform.contains("imx8") {
            "imx8"
        } else {
            &self.platform
        }
    }

    /// `ROOTFS_MAXSIZE_MB` for the squashfs size check; a `ROOTFS_MAXSIZE_MB=` argument wins,
    /// as a make command-line variable does.
    pub fn rootfs_maxsize_mb(&self) -> u64 {
        if let Some(mb) = self
            .vars
            .hard("ROOTFS_MAXSIZE_MB")
            .and_then(|v| v.parse().ok())
        {
            mb
        } else if self.hv == "k" || self.platform.contains("nvidia") {
            ROOTFS_MAXSIZE_MB_LARGE
        } else {
            ROOTFS_MAXSIZE_MB
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knobs(args: &[&str], env: &[(&str, &str)]) -> Result<Knobs, KnobError> {
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        Knobs::resolve(Vars::new(args.iter().copied(), env)?, "x86_64")
    }

    #[test]
    fn defaults() {
        let k = knobs(&[], &[]).unwrap();
        assert_eq!(k.zarch, "amd64");
        assert_eq!(k.hv, "kvm");
        assert_eq!(k.platform, "generic");
        assert!(!k.dev && !k.live_update && !k.cross());
        assert_eq!(k.rootfs_format, "squash");
        assert_eq!(k.media_size_mib, 32768);
        assert_eq!(knobs(&["HV=k"], &[]).unwrap().media_size_mib, 65536);
        assert_eq!(
            Knobs::resolve(Vars::default(), "aarch64").unwrap().zarch,
            "arm64"
        );
        assert_eq!(
            Knobs::resolve(Vars::default(), "riscv64").unwrap().zarch,
            "riscv64"
        );
    }

    #[test]
    fn precedence_follows_make() {
        let k = knobs(
            &["PLATFORM=rt"],
            &[
                ("ZARCH", "arm64"),
                ("HV", "xen"),
                ("DEV", "y"),
                ("PLATFORM", "x"),
                ("MEDIA_SIZE", "100"),
            ],
        )
        .unwrap();
        assert_eq!(k.zarch, "arm64", "ZARCH ?= takes the environment");
        assert_eq!(k.hv, "kvm", "HV = ignores the environment");
        assert!(!k.dev, "DEV = ignores the environment");
        assert_eq!(k.platform, "rt", "the command line wins");
        assert_eq!(k.media_size_mib, 100);
        assert!(knobs(&["DEV=y"], &[]).unwrap().dev);
        assert!(!knobs(&["DEV=yes"], &[]).unwrap().dev, "only exactly y");
        let k = knobs(&["ROOTFS_VERSION=1.2.3"], &[("KERNEL_TAG", "x/k:1")]).unwrap();
        assert_eq!(k.rootfs_version.as_deref(), Some("1.2.3"));
        assert_eq!(k.kernel_tag.as_deref(), Some("x/k:1"));
        assert_eq!(
            knobs(&[], &[("ROOTFS_VERSION", "9")])
                .unwrap()
                .rootfs_version,
            None
        );
    }

    #[test]
    fn live_update_forces_ext4() {
        let k = knobs(&[], &[("LIVE_UPDATE", "1"), ("ROOTFS_FORMAT", "squash")]).unwrap();
        assert_eq!(k.rootfs_format, "ext4");
        assert!(k.live_update);
        assert_eq!(
            knobs(&["LIVE_UPDATE=1", "ROOTFS_FORMAT=squash"], &[]).unwrap_err(),
            KnobError::LiveUpdateFormat("squash".into())
        );
        assert!(!knobs(&["LIVE_UPDATE="], &[]).unwrap().live_update);
        assert_eq!(
            knobs(&["ROOTFS_FORMAT=ext4"], &[]).unwrap().rootfs_format,
            "ext4"
        );
    }

    #[test]
    fn aliases_and_shortcuts() {
        assert_eq!(knobs(&["HV=kubevirt"], &[]).unwrap().hv, "k");
        for hv in HYPERVISORS.iter().chain(&["kubevirt", "acrn"]) {
            assert_eq!(
                target_shortcut(&format!("rootfs-{hv}")),
                Some(("rootfs".to_string(), hv.to_string()))
            );
        }
        assert_eq!(
            target_shortcut("live-qcow2-xen"),
            Some(("live-qcow2".into(), "xen".into()))
        );
        assert_eq!(target_shortcut("live-qcow2"), None);
        assert_eq!(target_shortcut("rootfs-foo"), None);
        assert_eq!(target_shortcut("pkg-xen"), None);
    }

    #[test]
    fn derived_values() {
        let k = knobs(&["ZARCH=arm64", "PLATFORM=imx8mp_pollux"], &[]).unwrap();
        assert_eq!(k.tag_platform(), Some("imx8mp_pollux"));
        assert_eq!(k.eve_platform_file(), "imx8");
        assert!(k.cross());
        assert_eq!(k.rootfs_maxsize_mb(), 290);
        let k = knobs(&["ZARCH=arm64", "PLATFORM=nvidia-jp6"], &[]).unwrap();
        assert_eq!(k.rootfs_maxsize_mb(), 10240);
        assert_eq!(knobs(&[], &[]).unwrap().tag_platform(), None);
    }

    #[test]
    fn rejections_in_eve_order() {
        let err = |args: &[&str]| {
            knobs(args, &[])
                .unwrap()
                .validate()
                .unwrap_err()
                .to_string()
        };
        // The architecture is checked first, then the platform, then the hypervisor.
        assert_eq!(
            err(&["ZARCH=x", "PLATFORM=y", "HV=z"]),
            "Unsupported architecture x"
        );
        assert_eq!(
            err(&["PLATFORM=nvidia-jp6", "HV=z"]),
            "Unsupported combination of ZARCH=amd64 and PLATFORM=nvidia-jp6"
        );
        assert_eq!(
            err(&["ZARCH=riscv64", "PLATFORM=rt"]),
            "Unsupported combination of ZARCH=riscv64 and PLATFORM=rt"
        );
        assert_eq!(
            err(&["ZARCH=arm64", "PLATFORM=adam"]),
            "Unsupported combination of ZARCH=arm64 and PLATFORM=adam"
        );
        assert_eq!(
            err(&["HV=foo", "ROOTFS_FORMAT=zip"]),
            "Unsupported hypervisor foo"
        );
        assert_eq!(err(&["HV=acrn"]), "Unsupported hypervisor acrn");
        assert_eq!(err(&["HV="]), "Unsupported hypervisor ");
        assert_eq!(
            err(&["ROOTFS_FORMAT=zip"]),
            "Unsupported ROOTFS_FORMAT=zip (use squash or ext4)"
        );
        // Every platform of another architecture is rejected.
        for (zarch, _) in PLATFORMS {
            for (other, plats) in PLATFORMS {
                for p in *plats {
                    let ok = platforms(zarch).unwrap().contains(p);
                    let r = knobs(&[&format!("ZARCH={zarch}"), &format!("PLATFORM={p}")], &[])
                        .unwrap()
                        .validate();
                    assert_eq!(r.is_ok(), ok, "{zarch} {p} (listed for {other})");
                }
            }
        }
    }

    #[test]
    fn every_listed_combination_is_accepted() {
        let mut n = 0;
        for (zarch, plats) in PLATFORMS {
            for p in *plats {
                for hv in HYPERVISORS.iter().chain(&["kubevirt"]) {
                    for format in ROOTFS_FORMATS {
                        let args = [
                            format!("ZARCH={zarch}"),
                            format!("PLATFORM={p}"),
                            format!("HV={hv}"),
                            format!("ROOTFS_FORMAT={format}"),
                        ];
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        knobs(&args, &[]).unwrap().validate().unwrap();
                        n += 1;
                    }
                }
            }
        }
        assert_eq!(n, 10 * 5 * 2);
    }

    #[test]
    fn malformed_values() {
        assert_eq!(
            knobs(&["MEDIA_SIZE=32G"], &[]).unwrap_err(),
            KnobError::MediaSize("32G".into())
        );
        assert!(matches!(knobs(&["HV"], &[]), Err(KnobError::Assignment(_))));
    }
}
