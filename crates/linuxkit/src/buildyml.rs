//! A package's `build.yml` (linuxkit `pkglib.pkgInfo`), read as `linuxkit pkg` reads it, and
//! the choice between a package's build-*.yml variants that EVE makes.
//!
//! linuxkit decodes build.yml with yaml.v3 and `KnownFields(true)` on top of its defaults
//! (org `linuxkit`, tag `{{.Hash}}`, dockerfile `Dockerfile`, arches amd64/arm64/riscv64,
//! gitrepo `https://github.com/linuxkit/linuxkit`). So do we: unknown keys are errors naming
//! the key and its line, bools take YAML 1.1 spellings (`network: yes`), a null value keeps
//! the default, and an empty `image` is rejected.
//!
//! Variant selection comes in EVE's two flavours: [`tags_variant`] is parse-pkgs.sh's rule
//! (used for image tags), [`build_variant`] the Makefile's `get_pkg_build_yml` (used for
//! `make pkg/<x>`). They differ: parse-pkgs names build-dev.yml/build-k.yml without checking
//! that they exist.
//!
//! Left out: `@lkt:pkg:` build-arg expansion and `depends.docker-images` resolution happen at
//! build time (the package builder), not here; they are parsed and kept as written.

use crate::imageconfig::ImageConfig;
use crate::yaml::{
    self, DecodeError, Node, decode_bool, decode_string, decode_strings, decode_struct,
};
use std::path::{Path, PathBuf};

/// The file name linuxkit reads when `--build-yml` is not given.
pub const DEFAULT_BUILD_YML: &str = "build.yml";

/// linuxkit's defaults for fields build.yml leaves out (`pkglib.NewPkgInfo`).
pub mod defaults {
    /// Default image organisation.
    pub const ORG: &str = "linuxkit";
    /// Default tag template.
    pub const TAG: &str = "{{.Hash}}";
    /// Default Dockerfile name.
    pub const DOCKERFILE: &str = "Dockerfile";
    /// Default architectures.
    pub const ARCHES: &[&str] = &["amd64", "arm64", "riscv64"];
    /// Default source repository label.
    pub const GITREPO: &str = "https://github.com/linuxkit/linuxkit";
}

/// The keys build.yml may contain, in linuxkit's struct order.
pub const BUILD_YML_KEYS: &[&str] = &[
    "image",
    "org",
    "tag",
    "dockerfile",
    "arches",
    "extra-sources",
    "gitrepo",
    "network",
    "disable-cache",
    "config",
    "buildArgs",
    "depends",
];

/// `depends.docker-images`: images saved into the build context.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DockerImagesDepends {
    /// Directory (in the context) to save each image into.
    pub target_dir: String,
    /// Single tar file (in the context) to save all images into.
    pub target: String,
    /// File listing images, one per line.
    pub from_file: String,
    /// Images, pinned by digest.
    pub list: Vec<String>,
}

/// A parsed build.yml with linuxkit's defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildYml {
    /// Image name without org (required).
    pub image: String,
    /// Image organisation.
    pub org: String,
    /// Tag template (Go text/template over `{{.Hash}}`); empty means `{{.Hash}}`.
    pub tag: String,
    /// Dockerfile name, relative to the package directory.
    pub dockerfile: String,
    /// Architectures the package builds for.
    pub arches: Vec<String>,
    /// Extra source directories, `src:dst`, as written.
    pub extra_sources: Vec<String>,
    /// Source repository label.
    pub gitrepo: String,
    /// Allow network access while building.
    pub network: bool,
    /// Build without the builder's cache.
    pub disable_cache: bool,
    /// The image configuration baked into the image label.
    pub config: Option<ImageConfig<Node>>,
    /// `K=V` build arguments (`None` when absent, which linuxkit distinguishes from `[]`).
    pub build_args: Option<Vec<String>>,
    /// `depends.docker-images`.
    pub docker_images: DockerImagesDepends,
}

/// One `extra-sources` entry resolved against the package directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraSource {
    /// Absolute source directory (relative entries are joined to the package directory).
    pub src: PathBuf,
    /// Destination in the build context (a cleaned Unix path).
    pub dst: String,
}

/// Why a build.yml could not be used.
#[derive(Debug, thiserror::Error)]
pub enum BuildYmlError {
    /// The file could not be read.
    #[error("{path}: cannot read the package's build file: {source}")]
    Read {
        /// The build.yml path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed.
    #[error("{path}: {source}")]
    Syntax {
        /// The build.yml path.
        path: PathBuf,
        /// The parse error with its position.
        source: yaml::YamlError,
    },
    /// A field is unknown, duplicated or of the wrong type.
    #[error("{path}:{}: {}", .source.line, .source.message)]
    Field {
        /// The build.yml path.
        path: PathBuf,
        /// The decoding error with its line.
        source: DecodeError,
    },
    /// The file has no content.
    #[error("{path}: the build file is empty; it needs at least `image:`")]
    Empty {
        /// The build.yml path.
        path: PathBuf,
    },
    /// `image:` is missing or empty (linuxkit: "Image field is required").
    #[error("{path}: Image field is required (add `image: <name>`)")]
    NoImage {
        /// The build.yml path.
        path: PathBuf,
    },
    /// An `extra-sources` entry is not `src:dst`.
    #[error("{path}: bad source format in {entry} (expected `src:dst`)")]
    ExtraSource {
        /// The build.yml path.
        path: PathBuf,
        /// The offending entry.
        entry: String,
    },
}

impl BuildYml {
    /// Read `<pkg_dir>/<file>`.
    pub fn load(pkg_dir: &Path, file: &str) -> Result<Self, BuildYmlError> {
        let path = pkg_dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|source| BuildYmlError::Read {
            path: path.clone(),
            source,
        })?;
        Self::parse(&text, &path)
    }

    /// Parse build.yml text; `path` is only used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, BuildYmlError> {
        let node = yaml::parse(text)
            .map_err(|source| BuildYmlError::Syntax {
                path: path.to_path_buf(),
                source,
            })?
            .ok_or_else(|| BuildYmlError::Empty {
                path: path.to_path_buf(),
            })?;
        let b = Self::decode(&node).map_err(|source| BuildYmlError::Field {
            path: path.to_path_buf(),
            source,
        })?;
        if b.image.is_empty() {
            return Err(BuildYmlError::NoImage {
                path: path.to_path_buf(),
            });
        }
        Ok(b)
    }

    fn decode(node: &Node) -> Result<Self, DecodeError> {
        let mut b = BuildYml {
            image: String::new(),
            org: defaults::ORG.into(),
            tag: defaults::TAG.into(),
            dockerfile: defaults::DOCKERFILE.into(),
            arches: defaults::ARCHES.iter().map(|s| s.to_string()).collect(),
            extra_sources: Vec::new(),
            gitrepo: defaults::GITREPO.into(),
            network: false,
            disable_cache: false,
            config: None,
            build_args: None,
            docker_images: DockerImagesDepends::default(),
        };
        let keep = |field: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        decode_struct(node, "build.yml", BUILD_YML_KEYS, |key, v| {
            match key {
                "image" => keep(&mut b.image, decode_string(v, key)?),
                "org" => keep(&mut b.org, decode_string(v, key)?),
                "tag" => keep(&mut b.tag, decode_string(v, key)?),
                "dockerfile" => keep(&mut b.dockerfile, decode_string(v, key)?),
                "arches" => b.arches = decode_strings(v, key)?.unwrap_or_default(),
                "extra-sources" => b.extra_sources = decode_strings(v, key)?.unwrap_or_default(),
                "gitrepo" => keep(&mut b.gitrepo, decode_string(v, key)?),
                "network" => b.network = decode_bool(v, key)?.unwrap_or(b.network),
                "disable-cache" => {
                    b.disable_cache = decode_bool(v, key)?.unwrap_or(b.disable_cache)
                }
                "config" => {
                    b.config = (!v.is_null())
                        .then(|| ImageConfig::from_yaml(v))
                        .transpose()?
                }
                "buildArgs" => b.build_args = decode_strings(v, key)?,
                _ => decode_depends(v, &mut b.docker_images)?,
            }
            Ok(())
        })?;
        Ok(b)
    }

    /// The `extra-sources` entries split and resolved against `pkg_dir` (linuxkit: split on
    /// `:` into exactly two parts, clean both, join a relative source to the package dir).
    pub fn extra_sources(
        &self,
        pkg_dir: &Path,
        build_yml_path: &Path,
    ) -> Result<Vec<ExtraSource>, BuildYmlError> {
        self.extra_sources
            .iter()
            .map(|entry| {
                let parts: Vec<&str> = entry.split(':').collect();
                let [src, dst] = parts[..] else {
                    return Err(BuildYmlError::ExtraSource {
                        path: build_yml_path.to_path_buf(),
                        entry: entry.clone(),
                    });
                };
                let src = clean_path(Path::new(src));
                let src = if src.is_absolute() {
                    src
                } else {
                    clean_path(&pkg_dir.join(src))
                };
                Ok(ExtraSource {
                    src,
                    dst: clean_path(Path::new(dst)).to_string_lossy().into_owned(),
                })
            })
            .collect()
    }
}

fn decode_depends(node: &Node, out: &mut DockerImagesDepends) -> Result<(), DecodeError> {
    decode_struct(node, "depends", &["docker-images"], |_, v| {
        let keys = ["target-dir", "target", "from-file", "list"];
        decode_struct(v, "docker-images", &keys, |key, v| {
            let text = || decode_string(v, key).map(Option::unwrap_or_default);
            match key {
                "target-dir" => out.target_dir = text()?,
                "target" => out.target = text()?,
                "from-file" => out.from_file = text()?,
                _ => out.list = decode_strings(v, key)?.unwrap_or_default(),
            }
            Ok(())
        })
    })
}

/// Lexical path cleaning as Go's `filepath.Clean` (no file system access).
pub fn clean_path(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component> = Vec::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => match out.last() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                Some(Component::RootDir) => {}
                _ => out.push(c),
            },
            other => out.push(other),
        }
    }
    if out.is_empty() {
        PathBuf::from(".")
    } else {
        out.iter().collect()
    }
}

/// What a build selects a package's build-*.yml by.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VariantKnobs {
    /// HV=k (the Kubernetes flavour).
    pub k: bool,
    /// DEV=y.
    pub dev: bool,
    /// RSTATS=y (only the Makefile's rule looks at it).
    pub rstats: bool,
    /// PLATFORM.
    pub platform: String,
}

/// parse-pkgs.sh's `_linuxkit_tag` rule: `Some(file)` to pass as `--build-yml`, `None` for
/// the default. dev+k → build-k-dev.yml, dev → build-dev.yml, k → build-k.yml (none of these
/// checked for existence), else build-<PLATFORM>.yml when that file exists.
pub fn tags_variant(pkg_dir: &Path, knobs: &VariantKnobs) -> Option<String> {
    match (knobs.dev, knobs.k) {
        (true, true) => Some("build-k-dev.yml".into()),
        (true, false) => Some("build-dev.yml".into()),
        (false, true) => Some("build-k.yml".into()),
        (false, false) => platform_file(pkg_dir, &knobs.platform),
    }
}

/// The Makefile's `get_pkg_build_yml` (used for `make pkg/<x>`): HV=k → build-k-dev.yml (DEV=y
/// and present), else build-k.yml (present), else the platform rule; RSTATS=y →
/// build-rstats.yml if present else build.yml; DEV=y → build-dev.yml if present else
/// build.yml; otherwise build-<PLATFORM>.yml if present, else build.yml.
pub fn build_variant(pkg_dir: &Path, knobs: &VariantKnobs) -> String {
    let present = |name: &str| pkg_dir.join(name).is_file().then(|| name.to_string());
    let platform_or_default =
        || platform_file(pkg_dir, &knobs.platform).unwrap_or_else(|| DEFAULT_BUILD_YML.into());
    if knobs.k {
        knobs
            .dev
            .then(|| present("build-k-dev.yml"))
            .flatten()
            .or_else(|| present("build-k.yml"))
            .unwrap_or_else(platform_or_default)
    } else if knobs.rstats {
        present("build-rstats.yml").unwrap_or_else(|| DEFAULT_BUILD_YML.into())
    } else if knobs.dev {
        present("build-dev.yml").unwrap_or_else(|| DEFAULT_BUILD_YML.into())
    } else {
        platform_or_default()
    }
}

fn platform_file(pkg_dir: &Path, platform: &str) -> Option<String> {
    let name = format!("build-{platform}.yml");
    pkg_dir.join(&name).is_file().then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<BuildYml, BuildYmlError> {
        BuildYml::parse(text, Path::new("pkg/x/build.yml"))
    }

    #[test]
    fn defaults_fill_what_is_missing() {
        let b = parse("image: eve-x\n").unwrap();
        assert_eq!(b.org, "linuxkit");
        assert_eq!(b.tag, "{{.Hash}}");
        assert_eq!(b.dockerfile, "Dockerfile");
        assert_eq!(b.arches, ["amd64", "arm64", "riscv64"]);
        assert_eq!(b.gitrepo, "https://github.com/linuxkit/linuxkit");
        assert!(!b.network && !b.disable_cache && b.config.is_none() && b.build_args.is_none());
    }

    #[test]
    fn real_eve_shapes() {
        let b = parse(
            "# comment\nimage: eve-fw\norg: lfedge\ntag: \"{{.Hash}}-generic\"\n\
             buildArgs:\n  - PLATFORM=generic\nnetwork: yes\ndisable-cache: Off\n\
             config:\n  pid: host\n  devices:\n    - path: all\n      type: a\n",
        )
        .unwrap();
        assert_eq!(b.org, "lfedge");
        assert_eq!(b.tag, "{{.Hash}}-generic");
        assert_eq!(
            b.build_args.as_deref(),
            Some(&["PLATFORM=generic".to_string()][..])
        );
        assert!(b.network);
        assert!(!b.disable_cache);
        assert_eq!(b.config.unwrap().pid, "host");
    }

    #[test]
    fn unknown_key_names_key_and_line() {
        let e = parse("image: x\norg: y\nnetwrok: yes\n").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("pkg/x/build.yml:3: unknown key `netwrok`"),
            "{msg}"
        );
        let e = parse("image: x\ndepends:\n  docker-images:\n    lst: []\n").unwrap_err();
        assert!(e.to_string().contains(":4: unknown key `lst`"), "{e}");
    }

    #[test]
    fn rejections() {
        assert!(matches!(
            parse("org: x\n"),
            Err(BuildYmlError::NoImage { .. })
        ));
        assert!(matches!(
            parse("image: ''\n"),
            Err(BuildYmlError::NoImage { .. })
        ));
        assert!(matches!(parse(""), Err(BuildYmlError::Empty { .. })));
        let e = parse("image: x\nnetwork: maybe\n").unwrap_err();
        assert!(
            e.to_string().contains(":2: `network` must be a boolean"),
            "{e}"
        );
        let e = parse("image: x\nimage: y\n").unwrap_err();
        assert!(e.to_string().contains("given twice"), "{e}");
        assert!(matches!(
            parse("- image: x\n"),
            Err(BuildYmlError::Field { .. })
        ));
    }

    #[test]
    fn null_values_keep_defaults_and_empty_tag_is_kept() {
        let b = parse("image: x\norg:\ntag: ''\narches:\n").unwrap();
        assert_eq!(b.org, "linuxkit");
        assert_eq!(b.tag, "");
        assert!(b.arches.is_empty());
    }

    #[test]
    fn extra_sources_split_and_resolve() {
        let b =
            parse("image: x\nextra-sources:\n  - ../common:/common/\n  - /abs/./d:x\n").unwrap();
        let pkg = Path::new("/repo/pkg/x");
        let s = b.extra_sources(pkg, Path::new("b.yml")).unwrap();
        assert_eq!(s[0].src, Path::new("/repo/pkg/common"));
        assert_eq!(s[0].dst, "/common");
        assert_eq!(s[1].src, Path::new("/abs/d"));
        let b = parse("image: x\nextra-sources: [a:b:c]\n").unwrap();
        assert!(b.extra_sources(pkg, Path::new("b.yml")).is_err());
    }

    #[test]
    fn variant_rules() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let knobs = |k, dev, platform: &str| VariantKnobs {
            k,
            dev,
            rstats: false,
            platform: platform.into(),
        };
        assert_eq!(
            tags_variant(d, &knobs(true, true, "generic")).as_deref(),
            Some("build-k-dev.yml")
        );
        assert_eq!(
            tags_variant(d, &knobs(false, true, "generic")).as_deref(),
            Some("build-dev.yml")
        );
        assert_eq!(
            tags_variant(d, &knobs(true, false, "generic")).as_deref(),
            Some("build-k.yml")
        );
        assert_eq!(tags_variant(d, &knobs(false, false, "nvidia-jp6")), None);
        std::fs::write(d.join("build-nvidia-jp6.yml"), "image: x\n").unwrap();
        assert_eq!(
            tags_variant(d, &knobs(false, false, "nvidia-jp6")).as_deref(),
            Some("build-nvidia-jp6.yml")
        );
        // The Makefile checks existence and falls back.
        assert_eq!(
            build_variant(d, &knobs(true, true, "nvidia-jp6")),
            "build-nvidia-jp6.yml"
        );
        assert_eq!(
            build_variant(d, &knobs(false, true, "generic")),
            "build.yml"
        );
        std::fs::write(d.join("build-k.yml"), "image: x\n").unwrap();
        assert_eq!(
            build_variant(d, &knobs(true, true, "generic")),
            "build-k.yml"
        );
        std::fs::write(d.join("build-rstats.yml"), "image: x\n").unwrap();
        let rstats = VariantKnobs {
            rstats: true,
            ..knobs(false, true, "generic")
        };
        assert_eq!(build_variant(d, &rstats), "build-rstats.yml");
    }
}
