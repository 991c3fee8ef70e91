//! # Targets
//!
//! The make-style goals an EVE developer types (`live`, `live-vdi`, `rootfs-kvm`,
//! `installer-iso`, `pkg/pillar`, `eve-pillar` …), parsed into [`Target`] values. A target
//! with an HV suffix (`rootfs-<hv>`, the seed's shortcut) carries that HV as a knob override.

use std::fmt;

/// Virtual-disk formats a live or installer image can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiskFormat {
    /// A plain raw disk (`live.raw`).
    Raw,
    /// Compressed qcow2, grown to MEDIA_SIZE (`live.qcow2`, what `live` makes).
    Qcow2,
    /// VirtualBox (`live.vdi`).
    Vdi,
    /// Parallels (`live.parallels/`).
    Parallels,
    /// Google Compute Engine (`live.img.tar.gz`).
    Gcp,
    /// VMware (`live.vmdk`).
    Vmdk,
    /// Hyper-V / Azure (`live.vhd`).
    Vhd,
    /// A UEFI-bootable ISO (installer only).
    Iso,
}

impl DiskFormat {
    /// Every format with the name used in targets and file suffixes.
    pub const ALL: [(DiskFormat, &'static str); 8] = [
        (DiskFormat::Raw, "raw"),
        (DiskFormat::Qcow2, "qcow2"),
        (DiskFormat::Vdi, "vdi"),
        (DiskFormat::Parallels, "parallels"),
        (DiskFormat::Gcp, "gcp"),
        (DiskFormat::Vmdk, "vmdk"),
        (DiskFormat::Vhd, "vhd"),
        (DiskFormat::Iso, "iso"),
    ];

    /// The name used in targets (`live-<name>`).
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(f, _)| *f == self)
            .map(|(_, n)| *n)
            .unwrap_or("raw")
    }

    fn parse(s: &str) -> Option<DiskFormat> {
        Self::ALL.iter().find(|(_, n)| *n == s).map(|(f, _)| *f)
    }
}

/// One thing to build (or print).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    /// The live disk image in a format (`live` = qcow2).
    Live(DiskFormat),
    /// The installer image in a format (`installer` = raw).
    Installer(DiskFormat),
    /// `installer.tar`, linuxkit's tar of the installer rootfs (also `installertar`).
    InstallerTar,
    /// `installer/installer.img`, the installer rootfs image (`installer-img`).
    InstallerImg,
    /// `installer/rootfs.img` (squashfs or ext4).
    Rootfs,
    /// `rootfs-<platform>.tar`, linuxkit's layout.
    RootfsTar,
    /// `installer/config.img`.
    Config,
    /// The SPDX SBOM of the rootfs.
    Sbom,
    /// Every package under pkg/.
    Pkgs,
    /// One package (`pkg/<name>` or `eve-<name>`).
    Pkg(String),
    /// Print ROOTFS_VERSION.
    Version,
    /// Print KERNEL_TAG.
    KernelTag,
    /// Point `dist/<arch>/current` at this version's directory.
    Current,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Live(DiskFormat::Qcow2) => write!(f, "live"),
            Target::Live(fmt) => write!(f, "live-{}", fmt.name()),
            Target::Installer(DiskFormat::Raw) => write!(f, "installer"),
            Target::Installer(fmt) => write!(f, "installer-{}", fmt.name()),
            Target::InstallerTar => write!(f, "installer.tar"),
            Target::InstallerImg => write!(f, "installer-img"),
            Target::Rootfs => write!(f, "rootfs"),
            Target::RootfsTar => write!(f, "rootfs.tar"),
            Target::Config => write!(f, "config"),
            Target::Sbom => write!(f, "sbom"),
            Target::Pkgs => write!(f, "pkgs"),
            Target::Pkg(name) => write!(f, "pkg/{name}"),
            Target::Version => write!(f, "version"),
            Target::KernelTag => write!(f, "kernel-tag"),
            Target::Current => write!(f, "current"),
        }
    }
}

/// A target as typed, with the HV its name selected (`rootfs-xen` → `rootfs` with HV=xen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Goal {
    /// What to build.
    pub target: Target,
    /// The HV named by a `<target>-<hv>` shortcut.
    pub hv: Option<String>,
}

/// A word that is neither a known target nor a `<target>-<hv>` shortcut.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown target `{0}`: expected one of live, live-<format>, rootfs, rootfs-<hv>, rootfs.tar, \
     installer, installer-<format>, installer.tar, installer-img, config, sbom, pkgs, \
     pkg/<name>, eve-<name>, version, kernel-tag, current (formats: raw qcow2 vdi parallels \
     gcp vmdk vhd iso)"
)]
pub struct UnknownTarget(pub String);

/// The target names `evebuild --help` lists, with what each makes.
pub const TARGET_HELP: &[(&str, &str)] = &[
    ("live", "the live image, live.qcow2 (EVE's `make live`)"),
    (
        "live-<format>",
        "the live image as raw, qcow2, vdi, parallels, gcp, vmdk or vhd",
    ),
    (
        "rootfs",
        "installer/rootfs.img (squashfs, or ext4 with ROOTFS_FORMAT=ext4)",
    ),
    (
        "rootfs-<hv>",
        "the rootfs for that hypervisor (the seed's shortcut)",
    ),
    ("rootfs.tar", "rootfs-<platform>.tar in linuxkit's layout"),
    ("installer", "the installer image, installer.raw"),
    ("installer-<format>", "the installer as raw, iso or qcow2"),
    (
        "installer.tar, installer-img",
        "the installer rootfs: installer.tar, installer/installer.img",
    ),
    ("config", "installer/config.img (FAT, from conf/)"),
    ("sbom", "the SPDX SBOM of the rootfs"),
    ("pkgs", "every package under pkg/"),
    (
        "pkg/<name>, eve-<name>",
        "one package, into the image store",
    ),
    ("version", "print ROOTFS_VERSION"),
    ("kernel-tag", "print KERNEL_TAG"),
    ("current", "point dist/<arch>/current at this version"),
];

impl Goal {
    /// Parses a make-style target word, including the seed's `<target>-<hv>` shortcuts
    /// (`rootfs-acrn`, `live-raw-xen`) for every HV EVE's knob table knows.
    pub fn parse(word: &str) -> Result<Goal, UnknownTarget> {
        let w = word.trim_end_matches('/');
        if let Some(target) = Self::plain(w) {
            return Ok(Goal { target, hv: None });
        }
        if let Some((base, hv)) = evebuild_eve::knobs::target_shortcut(w)
            && let Some(target) = Self::plain(&base)
        {
            return Ok(Goal {
                target,
                hv: Some(hv),
            });
        }
        Err(UnknownTarget(word.to_string()))
    }

    fn plain(w: &str) -> Option<Target> {
        let t = match w {
            "live" => Target::Live(DiskFormat::Qcow2),
            "installer" => Target::Installer(DiskFormat::Raw),
            "installer.tar" | "installertar" => Target::InstallerTar,
            "installer-img" => Target::InstallerImg,
            "rootfs" => Target::Rootfs,
            "rootfs.tar" => Target::RootfsTar,
            "config" => Target::Config,
            "sbom" => Target::Sbom,
            "pkgs" => Target::Pkgs,
            "version" => Target::Version,
            "kernel-tag" => Target::KernelTag,
            "current" => Target::Current,
            _ => {
                if let Some(name) = w.strip_prefix("pkg/").or_else(|| w.strip_prefix("eve-")) {
                    return (!name.is_empty() && !name.contains('/'))
                        .then(|| Target::Pkg(name.to_string()));
                }
                let (base, suffix) = w.split_once('-')?;
                let f = DiskFormat::parse(suffix)?;
                match base {
                    "live" if f != DiskFormat::Iso => Target::Live(f),
                    "installer"
                        if matches!(f, DiskFormat::Raw | DiskFormat::Iso | DiskFormat::Qcow2) =>
                    {
                        Target::Installer(f)
                    }
                    _ => return None,
                }
            }
        };
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_target_form() {
        let cases = [
            ("live", Target::Live(DiskFormat::Qcow2), None),
            ("live-raw", Target::Live(DiskFormat::Raw), None),
            ("live-gcp", Target::Live(DiskFormat::Gcp), None),
            ("live-parallels", Target::Live(DiskFormat::Parallels), None),
            ("installer", Target::Installer(DiskFormat::Raw), None),
            ("installer-iso", Target::Installer(DiskFormat::Iso), None),
            ("rootfs-acrn", Target::Rootfs, Some("acrn")),
            ("rootfs-kvm", Target::Rootfs, Some("kvm")),
            ("live-xen", Target::Live(DiskFormat::Qcow2), Some("xen")),
            ("live-raw-k", Target::Live(DiskFormat::Raw), Some("k")),
            ("pkg/pillar", Target::Pkg("pillar".into()), None),
            ("pkg/pillar/", Target::Pkg("pillar".into()), None),
            ("eve-pillar", Target::Pkg("pillar".into()), None),
            ("rootfs.tar", Target::RootfsTar, None),
            ("installer.tar", Target::InstallerTar, None),
            ("installertar", Target::InstallerTar, None),
            ("installer-img", Target::InstallerImg, None),
            (
                "installer-qcow2",
                Target::Installer(DiskFormat::Qcow2),
                None,
            ),
        ];
        for (word, target, want_hv) in cases {
            let g = Goal::parse(word).unwrap();
            assert_eq!((g.target, g.hv.as_deref()), (target, want_hv), "{word}");
        }
        for bad in [
            "lve",
            "live-iso",
            "installer-vdi",
            "rootfs-foo",
            "pkg/",
            "pkg/a/b",
        ] {
            assert!(Goal::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_round_trips() {
        for word in [
            "live",
            "live-vdi",
            "installer",
            "installer-iso",
            "pkg/x",
            "rootfs.tar",
        ] {
            assert_eq!(Goal::parse(word).unwrap().target.to_string(), word);
        }
    }
}
