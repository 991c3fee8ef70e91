//! The `*_TAG` placeholders of EVE's templates and their substitution, as
//! `tools/parse-pkgs.sh` does it (eve-build-facts §4.2).
//!
//! [`PLACEHOLDERS`] is parse-pkgs's `gen_tags` list, in its order, with where each value comes
//! from. Substitution is plain text, global (comments included) and ordered: each name is
//! replaced everywhere before the next is looked at, which is why `MEMORY_MONITOR_TAG` is
//! replaced before `MONITOR_TAG` (a substring of it) and never clobbered.
//!
//! Package tags are `linuxkit pkg show-tag [--build-yml …] [--hash $EVE_HASH] <root>/pkg/<dir>`
//! with parse-pkgs's variant rule ([`evebuild_linuxkit::buildyml::tags_variant`]); only
//! pillar has dev/k variants. Only the placeholders a text actually contains are computed,
//! all in one batch ([`evebuild_linuxkit::tag::show_tags`]).
//!
//! Deliberate differences: values are inserted literally (parse-pkgs goes through `sed`, where
//! `&`, `\` or `#` in a value would be misread), and a `*_TAG` word left in the result is an
//! error naming it and its line ([`check_unresolved`]) instead of reaching linuxkit.

use evebuild_linuxkit::buildyml::{VariantKnobs, tags_variant};
use evebuild_linuxkit::tag::{ShowTagOptions, TagError, TagRequest, show_tags};
use std::path::{Path, PathBuf};

/// Which build file of a package a placeholder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PkgVariant {
    /// build-<PLATFORM>.yml if present, else build.yml.
    Platform,
    /// build-dev.yml.
    Dev,
    /// build-k.yml.
    K,
    /// build-k-dev.yml.
    KDev,
}

/// Where a placeholder's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The tag of `pkg/<dir>`.
    Package {
        /// Directory under `pkg/`.
        dir: &'static str,
        /// Which build file.
        variant: PkgVariant,
    },
    /// The EVE source root (`CURDIR`).
    CurDir,
    /// KERNEL_TAG.
    KernelTag,
    /// `zededa/eve:<EVE_HASH or the empty-blob id>`.
    EveTag,
    /// Listed but never set by parse-pkgs (empty).
    Empty,
}

/// One placeholder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placeholder {
    /// The text replaced.
    pub name: &'static str,
    /// What replaces it.
    pub source: Source,
}

const fn pkg(name: &'static str, dir: &'static str) -> Placeholder {
    variant(name, dir, PkgVariant::Platform)
}

const fn variant(name: &'static str, dir: &'static str, variant: PkgVariant) -> Placeholder {
    Placeholder {
        name,
        source: Source::Package { dir, variant },
    }
}

const fn other(name: &'static str, source: Source) -> Placeholder {
    Placeholder { name, source }
}

/// parse-pkgs.sh's `gen_tags`, in order (lf-edge/eve 2c6b4154).
pub const PLACEHOLDERS: &[Placeholder] = &[
    other("CURDIR", Source::CurDir),
    other("KERNEL_TAG", Source::KernelTag),
    pkg("FW_TAG", "fw"),
    pkg("XENTOOLS_TAG", "xen-tools"),
    pkg("NODE_EXPORTER_TAG", "node-exporter"),
    pkg("VECTOR_TAG", "vector"),
    pkg("DOM0ZTOOLS_TAG", "dom0-ztools"),
    pkg("RNGD_TAG", "rngd"),
    pkg("XEN_TAG", "xen"),
    other("TESTMSVCS_TAG", Source::Empty),
    pkg("PILLAR_TAG", "pillar"),
    variant("PILLAR_DEV_TAG", "pillar", PkgVariant::Dev),
    variant("PILLAR_K_TAG", "pillar", PkgVariant::K),
    variant("PILLAR_K_DEV_TAG", "pillar", PkgVariant::KDev),
    pkg("STORAGE_INIT_TAG", "storage-init"),
    pkg("WWAN_TAG", "wwan"),
    pkg("GUACD_TAG", "guacd"),
    pkg("GRUB_TAG", "grub"),
    pkg("UBOOT_TAG", "u-boot"),
    pkg("GPTTOOLS_TAG", "gpt-tools"),
    pkg("NEWLOGD_TAG", "newlog"),
    pkg("NVIDIA_TAG", "nvidia"),
    pkg("EDGEVIEW_TAG", "edgeview"),
    pkg("WATCHDOG_TAG", "watchdog"),
    pkg("MEMORY_MONITOR_TAG", "memory-monitor"),
    pkg("MKRAW_TAG", "mkimage-raw-efi"),
    pkg("MKISO_TAG", "mkimage-iso-efi"),
    pkg("MKCONF_TAG", "mkconf"),
    pkg("DEBUG_TAG", "debug"),
    pkg("VTPM_TAG", "vtpm"),
    pkg("UEFI_TAG", "uefi"),
    other("EVE_TAG", Source::EveTag),
    pkg("IPXE_TAG", "ipxe"),
    pkg("KEXEC_TAG", "kexec"),
    pkg("KDUMP_TAG", "kdump"),
    pkg("BPFTRACE_TAG", "bpftrace"),
    pkg("MEASURE_CONFIG_TAG", "measure-config"),
    pkg("BSP_IMX_TAG", "bsp-imx"),
    pkg("APPARMOR_TAG", "apparmor"),
    pkg("KUBE_TAG", "kube"),
    pkg("RECOVERTPM_TAG", "recovertpm"),
    pkg("UDEV_TAG", "udev"),
    pkg("INSTALLER_TAG", "installer"),
    pkg("MONITOR_TAG", "monitor"),
    pkg("OPTEE_CLIENT_TAG", "optee-client"),
];

/// The image name of `EVE_TAG`.
pub const EVE_TAG_IMAGE: &str = "zededa/eve";

/// `git hash-object` of empty input: what parse-pkgs's EVE_TAG always hashes.
pub const EMPTY_BLOB_ID: &str = "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391";

/// What the values depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagContext {
    /// The EVE source root (packages are `<root>/pkg/<dir>`; it is also CURDIR).
    pub eve_root: PathBuf,
    /// PLATFORM (selects build-<PLATFORM>.yml).
    pub platform: String,
    /// KERNEL_TAG.
    pub kernel_tag: String,
    /// EVE_HASH: `--hash` for every package and the EVE_TAG value.
    pub eve_hash: Option<String>,
    /// `--org` (parse-pkgs's `LINUXKIT_ORG_TARGET`).
    pub org: Option<String>,
}

/// Why placeholders could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum PlaceholderError {
    /// A package tag could not be computed.
    #[error("{name} (pkg/{dir}): {source}")]
    Tag {
        /// The placeholder.
        name: &'static str,
        /// The package directory.
        dir: &'static str,
        /// The cause.
        source: TagError,
    },
    /// `*_TAG` words are left in the text.
    #[error(
        "unresolved placeholder {} on line {}{} (no package provides it; \
         is the name misspelt, or missing from the placeholder table?)",
        .found[0].0, .found[0].1,
        if .found.len() > 1 { format!(" and {} more", .found.len() - 1) } else { String::new() }
    )]
    Unresolved {
        /// Each placeholder left, with its 1-based line.
        found: Vec<(String, usize)>,
    },
}

/// The placeholders `text` uses, in substitution order (a name hidden inside a longer one
/// that is replaced first does not count).
pub fn used(text: &str) -> Vec<&'static Placeholder> {
    let mut rest = text.to_string();
    let mut found = Vec::new();
    for p in PLACEHOLDERS {
        if rest.contains(p.name) {
            found.push(p);
            rest = rest.replace(p.name, "\0");
        }
    }
    found
}

/// The values of `which`, computed together (one batch of git queries).
pub fn values(
    ctx: &TagContext,
    which: &[&'static Placeholder],
) -> Result<Vec<(&'static str, String)>, PlaceholderError> {
    let packages: Vec<(&Placeholder, &'static str, TagRequest)> = which
        .iter()
        .filter_map(|p| match p.source {
            Source::Package { dir, variant } => Some((*p, dir, request(ctx, dir, variant))),
            _ => None,
        })
        .collect();
    let requests: Vec<TagRequest> = packages.iter().map(|(_, _, r)| r.clone()).collect();
    let tags = show_tags(&requests).map_err(|source| {
        // Name the first package whose tag fails on its own, for a precise message.
        let culprit = packages
            .iter()
            .find(|(_, _, r)| show_tags(std::slice::from_ref(r)).is_err());
        match culprit {
            Some((p, dir, _)) => PlaceholderError::Tag {
                name: p.name,
                dir,
                source,
            },
            None => PlaceholderError::Tag {
                name: packages[0].0.name,
                dir: packages[0].1,
                source,
            },
        }
    })?;
    let mut tags = tags.into_iter();
    Ok(which
        .iter()
        .map(|p| {
            let value = match p.source {
                Source::Package { .. } => tags.next().expect("one tag per package").reference(),
                Source::CurDir => ctx.eve_root.to_string_lossy().into_owned(),
                Source::KernelTag => ctx.kernel_tag.clone(),
                Source::EveTag => format!(
                    "{EVE_TAG_IMAGE}:{}",
                    ctx.eve_hash.as_deref().unwrap_or(EMPTY_BLOB_ID)
                ),
                Source::Empty => String::new(),
            };
            (p.name, value)
        })
        .collect())
}

/// The show-tag request of package `dir` in the variant a placeholder uses (the build file
/// parse-pkgs.sh would pass with `--build-yml`).
pub fn request(ctx: &TagContext, dir: &str, variant: PkgVariant) -> TagRequest {
    let pkg_dir = ctx.eve_root.join("pkg").join(dir);
    let (k, dev) = match variant {
        PkgVariant::Platform => (false, false),
        PkgVariant::Dev => (false, true),
        PkgVariant::K => (true, false),
        PkgVariant::KDev => (true, true),
    };
    let knobs = VariantKnobs {
        k,
        dev,
        rstats: false,
        platform: ctx.platform.clone(),
    };
    let options = ShowTagOptions {
        build_yml: tags_variant(&pkg_dir, &knobs),
        hash: ctx.eve_hash.clone(),
        org: ctx.org.clone(),
        ..ShowTagOptions::default()
    };
    TagRequest { pkg_dir, options }
}

/// parse-pkgs.sh without arguments: every `NAME=value`, in order.
pub fn table(ctx: &TagContext) -> Result<Vec<(&'static str, String)>, PlaceholderError> {
    let all: Vec<&'static Placeholder> = PLACEHOLDERS.iter().collect();
    values(ctx, &all)
}

/// Ordered plain-text substitution of `values` (given in any order; applied in
/// [`PLACEHOLDERS`] order, then any names not in the table in the order given).
pub fn substitute(text: &str, values: &[(&str, String)]) -> String {
    let mut out = text.to_string();
    let ordered = PLACEHOLDERS
        .iter()
        .filter_map(|p| values.iter().find(|(n, _)| *n == p.name))
        .chain(
            values
                .iter()
                .filter(|(n, _)| !PLACEHOLDERS.iter().any(|p| p.name == *n)),
        );
    for (name, value) in ordered {
        if out.contains(name) {
            out = out.replace(name, value);
        }
    }
    out
}

/// Fail if a `*_TAG` word (`[A-Z0-9_]+_TAG`, not part of a longer word) is left.
pub fn check_unresolved(text: &str) -> Result<(), PlaceholderError> {
    let mut found = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
        let mut i = 0;
        while i < bytes.len() {
            if word(bytes[i]) {
                let start = i;
                while i < bytes.len() && word(bytes[i]) {
                    i += 1;
                }
                let w = &line[start..i];
                let shape = w.len() > 4
                    && w.ends_with("_TAG")
                    && w.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                if shape {
                    found.push((w.to_string(), n + 1));
                }
            } else {
                i += 1;
            }
        }
    }
    if found.is_empty() {
        Ok(())
    } else {
        Err(PlaceholderError::Unresolved { found })
    }
}

/// Resolve the placeholders of `text`: compute only the used ones, substitute in order,
/// and check that none is left.
pub fn resolve(text: &str, ctx: &TagContext) -> Result<String, PlaceholderError> {
    let used = used(text);
    let vals = values(ctx, &used)?;
    let out = substitute(text, &vals);
    check_unresolved(&out)?;
    Ok(out)
}

/// `CURDIR` as parse-pkgs prints it for `root`.
pub fn curdir(root: &Path) -> String {
    root.to_string_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_protects_longer_names() {
        let text = "a: MEMORY_MONITOR_TAG\nb: MONITOR_TAG\n";
        let out = substitute(
            text,
            &[
                ("MONITOR_TAG", "m:1".into()),
                ("MEMORY_MONITOR_TAG", "mm:2".into()),
            ],
        );
        assert_eq!(out, "a: mm:2\nb: m:1\n");
        let names: Vec<&str> = used(text).iter().map(|p| p.name).collect();
        assert_eq!(names, ["MEMORY_MONITOR_TAG", "MONITOR_TAG"]);
        assert_eq!(used("x: MEMORY_MONITOR_TAG\n").len(), 1);
    }

    #[test]
    fn substitution_is_global_and_plain() {
        let out = substitute("# FW_TAG\n- FW_TAG\n", &[("FW_TAG", "o/fw:&\\1".into())]);
        assert_eq!(out, "# o/fw:&\\1\n- o/fw:&\\1\n");
        assert_eq!(
            substitute("TESTMSVCS_TAGx", &[("TESTMSVCS_TAG", String::new())]),
            "x"
        );
    }

    #[test]
    fn unresolved_words_are_named_with_lines() {
        assert!(check_unresolved("image: lfedge/eve:abc\n# NOT_A_TAGX\n").is_ok());
        let err = check_unresolved("a: 1\nimage: FOO_TAG\nb: PILLAR_X_TAG-dev\n").unwrap_err();
        match &err {
            PlaceholderError::Unresolved { found } => {
                assert_eq!(
                    found,
                    &[("FOO_TAG".to_string(), 2), ("PILLAR_X_TAG".to_string(), 3)]
                )
            }
            other => panic!("{other}"),
        }
        assert!(
            err.to_string()
                .starts_with("unresolved placeholder FOO_TAG on line 2 and 1 more")
        );
    }

    #[test]
    fn table_has_every_package_of_eve() {
        for name in [
            "MKRAW_TAG",
            "MKISO_TAG",
            "XENTOOLS_TAG",
            "NEWLOGD_TAG",
            "BSP_IMX_TAG",
        ] {
            assert!(PLACEHOLDERS.iter().any(|p| p.name == name), "{name}");
        }
        let mut names: Vec<&str> = PLACEHOLDERS.iter().map(|p| p.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), PLACEHOLDERS.len());
    }
}
