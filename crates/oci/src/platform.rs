//! Target platforms (`linux/amd64`, `linux/arm/v7`) and how an index entry is matched to one.
//!
//! Matching follows linuxkit (os and architecture) but, unlike linuxkit, also honours the variant
//! when one is asked for (`arm64` without a variant equals `arm64/v8`). `unknown/unknown` entries
//! (buildkit attestations) never match.

use std::fmt;
use std::str::FromStr;

use crate::error::Error;

/// An OS/architecture/variant triple.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Platform {
    /// GOOS name (`linux`).
    pub os: String,
    /// GOARCH name (`amd64`, `arm64`, `riscv64`).
    pub architecture: String,
    /// CPU variant (`v7`, `v8`), if any.
    pub variant: Option<String>,
}

impl Platform {
    /// `linux/<arch>`.
    pub fn linux(arch: &str) -> Self {
        Platform {
            os: "linux".into(),
            architecture: arch.into(),
            variant: None,
        }
    }

    /// The platform of the machine running this code (GOARCH names).
    pub fn host() -> Self {
        Self::linux(match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "riscv64" => "riscv64",
            "arm" => "arm",
            "s390x" => "s390x",
            "powerpc64" => "ppc64le",
            other => other,
        })
    }

    /// The platform an `oci-spec` platform describes.
    pub fn from_oci(p: &oci_spec::image::Platform) -> Self {
        Platform {
            os: p.os().to_string(),
            architecture: p.architecture().to_string(),
            variant: p.variant().clone(),
        }
    }

    /// This platform as an `oci-spec` platform.
    pub fn to_oci(&self) -> oci_spec::image::Platform {
        let mut p = oci_spec::image::Platform::default();
        p.set_os(self.os.as_str().into());
        p.set_architecture(self.architecture.as_str().into());
        p.set_variant(self.variant.clone());
        p
    }

    /// Whether an index entry for `candidate` serves this (wanted) platform.
    pub fn matches(&self, candidate: &Platform) -> bool {
        if candidate.is_unknown() || self.os != candidate.os {
            return false;
        }
        if self.architecture != candidate.architecture {
            return false;
        }
        match &self.variant {
            None => true,
            Some(v) => {
                normalise_variant(&self.architecture, Some(v))
                    == normalise_variant(&candidate.architecture, candidate.variant.as_deref())
            }
        }
    }

    /// Whether this is the `unknown/unknown` platform buildkit gives attestation manifests.
    pub fn is_unknown(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }
}

fn normalise_variant<'a>(arch: &str, variant: Option<&'a str>) -> Option<&'a str> {
    match (arch, variant) {
        ("arm64", None) => Some("v8"),
        (_, v) => v,
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = Error;
    /// Parses `os/arch[/variant]`.
    fn from_str(s: &str) -> Result<Self, Error> {
        let parts: Vec<&str> = s.split('/').collect();
        let bad = || Error::InvalidReference {
            reference: s.to_string(),
            reason: "a platform is os/arch or os/arch/variant, e.g. linux/amd64".into(),
        };
        if parts.iter().any(|p| p.is_empty()) {
            return Err(bad());
        }
        match parts.as_slice() {
            [os, arch] => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: None,
            }),
            [os, arch, v] => Ok(Platform {
                os: os.to_string(),
                architecture: arch.to_string(),
                variant: Some(v.to_string()),
            }),
            _ => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_matching() {
        let v7: Platform = "linux/arm/v7".parse().unwrap();
        let v6: Platform = "linux/arm/v6".parse().unwrap();
        assert!(!v7.matches(&v6));
        assert!(Platform::linux("arm").matches(&v6));
        let arm64: Platform = "linux/arm64/v8".parse().unwrap();
        assert!(arm64.matches(&Platform::linux("arm64")));
        assert!(!Platform::linux("amd64").matches(&Platform::linux("arm64")));
        let unknown: Platform = "unknown/unknown".parse().unwrap();
        assert!(!unknown.matches(&unknown));
        assert_eq!(v7.to_string(), "linux/arm/v7");
    }
}
