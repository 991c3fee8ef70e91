//! Image references, expanded the way linuxkit's `ReferenceExpand` does.
//!
//! `alpine:3.19` becomes `docker.io/library/alpine:3.19`; `lfedge/eve-pillar:abc` becomes
//! `docker.io/lfedge/eve-pillar:abc` (two components whose first has no `.` or `:` and is not
//! `localhost`); anything else is kept. No `:latest` is added: an untagged reference is stored
//! and looked up untagged, as in linuxkit's cache. The expanded text is what `index.json`
//! annotations hold, so [`Reference`]'s `Display` is exactly that.
//!
//! The grammar checked is Docker's (distribution/reference): lowercase path components joined by
//! `.`, `_`, `__` or dashes, an optional `host[:port]` domain, a tag of at most 128 word
//! characters, dots and dashes, and a validated `sha256` digest.

use std::fmt;
use std::str::FromStr;

use crate::digest::Digest;
use crate::error::Error;

/// Registry host of Docker Hub as written in references.
pub const DOCKER_HUB: &str = "docker.io";
const MAX_NAME: usize = 255;
const MAX_TAG: usize = 128;

/// A parsed, expanded image reference.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Expanded name without tag or digest, e.g. `docker.io/library/alpine`.
    name: String,
    /// Byte length of the registry part of `name` (0 when the name has no domain).
    domain_len: usize,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses `s` after expanding it like linuxkit's `ReferenceExpand`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::InvalidReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        let expanded = reference_expand(s);
        let (rest, digest) = match expanded.rsplit_once('@') {
            Some((rest, d)) => (rest, Some(Digest::parse(d)?)),
            None => (expanded.as_str(), None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(|r| bad(&r))?;
        }
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        if name.len() > MAX_NAME {
            return Err(bad("the name is longer than 255 characters"));
        }
        let components: Vec<&str> = name.split('/').collect();
        let has_domain = components.len() > 1 && is_domain_like(components[0]);
        let (domain_len, path) = if has_domain {
            check_domain(components[0]).map_err(|r| bad(&r))?;
            (components[0].len(), &components[1..])
        } else {
            (0, &components[..])
        };
        for c in path {
            check_path_component(c).map_err(|r| bad(&r))?;
        }
        Ok(Reference {
            name: name.to_string(),
            domain_len,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// The registry host (`docker.io`, `localhost:5000`, `ghcr.io`).
    pub fn registry(&self) -> &str {
        if self.domain_len == 0 {
            DOCKER_HUB
        } else {
            &self.name[..self.domain_len]
        }
    }

    /// The repository path inside the registry (`library/alpine`, `lfedge/eve-pillar`).
    pub fn repository(&self) -> &str {
        if self.domain_len == 0 {
            &self.name
        } else {
            &self.name[self.domain_len + 1..]
        }
    }

    /// The expanded name without tag or digest (`docker.io/library/alpine`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tag, if any (no `latest` is implied).
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same name with another tag and no digest (`…:<tag>-amd64` for per-arch images).
    pub fn with_tag(&self, tag: &str) -> Result<Reference, Error> {
        check_tag(tag).map_err(|reason| Error::InvalidReference {
            reference: format!("{}:{tag}", self.name),
            reason,
        })?;
        Ok(Reference {
            name: self.name.clone(),
            domain_len: self.domain_len,
            tag: Some(tag.to_string()),
            digest: None,
        })
    }

    /// The same name pinned to a digest (the tag is kept).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// What a registry is asked for: the digest if pinned, else the tag, else `latest` (the
    /// registry API has no untagged name).
    pub fn registry_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }
}

/// linuxkit's `ReferenceExpand` (without its `:latest` option): one component →
/// `docker.io/library/…`; two components whose first has no `.` or `:` and is not `localhost`
/// → `docker.io/…`; anything else is kept. The text is not validated ([`Reference::parse`]
/// does that).
pub fn reference_expand(s: &str) -> String {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [_] => format!("{DOCKER_HUB}/library/{s}"),
        [first, _] if !first.contains('.') && !first.contains(':') && *first != "localhost" => {
            format!("{DOCKER_HUB}/{s}")
        }
        _ => s.to_string(),
    }
}

fn is_domain_like(c: &str) -> bool {
    c.contains('.')
        || c.contains(':')
        || c == "localhost"
        || c.chars().any(|c| c.is_ascii_uppercase())
}

fn check_domain(d: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        let (v6, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("registry {d:?} has an unclosed ["))?;
        if v6.is_empty() || !v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return Err(format!("registry {d:?} is not a valid IPv6 address"));
        }
        match after {
            "" => return Ok(()),
            p => (
                "",
                p.strip_prefix(':')
                    .ok_or_else(|| format!("registry {d:?}"))?,
            ),
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, p),
            None => (d, ""),
        }
    };
    if d.contains(':') && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!("registry {d:?} has an invalid port"));
    }
    for label in host.split('.').filter(|_| !host.is_empty()) {
        let ok = !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-');
        if !ok {
            return Err(format!("registry {d:?} is not a valid host name"));
        }
    }
    Ok(())
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn check_path_component(c: &str) -> Result<(), String> {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    let ok = !b.is_empty() && alnum(b[0]) && alnum(b[b.len() - 1]) && {
        let mut i = 0;
        let mut good = true;
        while i < b.len() {
            if alnum(b[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < b.len() && !alnum(b[i]) {
                i += 1;
            }
            let sep = &c[start..i];
            good &= sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        }
        good
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "path component {c:?} must be lowercase letters and digits joined by '.', '_', '__' or '-'"
        ))
    }
}

/// `[\w][\w.-]{0,127}`
fn check_tag(t: &str) -> Result<(), String> {
    let word = |x: u8| x.is_ascii_alphanumeric() || x == b'_';
    let b = t.as_bytes();
    if b.is_empty()
        || b.len() > MAX_TAG
        || !word(b[0])
        || !b.iter().all(|&x| word(x) || x == b'.' || x == b'-')
    {
        return Err(format!(
            "tag {t:?} must be 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
        ));
    }
    Ok(())
}

impl FromStr for Reference {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_expand_is_linuxkits() {
        assert_eq!(reference_expand("alpine:3"), "docker.io/library/alpine:3");
        assert_eq!(
            reference_expand("lfedge/eve-x:ab"),
            "docker.io/lfedge/eve-x:ab"
        );
        assert_eq!(reference_expand("localhost/x:1"), "localhost/x:1");
        assert_eq!(reference_expand("reg.io/x:1"), "reg.io/x:1");
        assert_eq!(reference_expand("reg:5000/x"), "reg:5000/x");
        assert_eq!(reference_expand("a/b/c:1"), "a/b/c:1");
    }

    #[test]
    fn expands_like_linuxkit() {
        let cases = [
            (
                "alpine",
                "docker.io/library/alpine",
                "docker.io",
                "library/alpine",
            ),
            (
                "alpine:3.19",
                "docker.io/library/alpine:3.19",
                "docker.io",
                "library/alpine",
            ),
            (
                "lfedge/eve-pillar:abc-amd64",
                "docker.io/lfedge/eve-pillar:abc-amd64",
                "docker.io",
                "lfedge/eve-pillar",
            ),
            ("localhost/foo:1", "localhost/foo:1", "localhost", "foo"),
            (
                "localhost:5000/foo",
                "localhost:5000/foo",
                "localhost:5000",
                "foo",
            ),
            (
                "127.0.0.1:5000/a/b:t",
                "127.0.0.1:5000/a/b:t",
                "127.0.0.1:5000",
                "a/b",
            ),
            ("ghcr.io/x/y", "ghcr.io/x/y", "ghcr.io", "x/y"),
            (
                "docker.io/lfedge/eve:1",
                "docker.io/lfedge/eve:1",
                "docker.io",
                "lfedge/eve",
            ),
        ];
        for (input, full, reg, repo) in cases {
            let r = Reference::parse(input).unwrap();
            assert_eq!(r.to_string(), full, "{input}");
            assert_eq!(r.registry(), reg, "{input}");
            assert_eq!(r.repository(), repo, "{input}");
        }
        let r = Reference::parse("alpine").unwrap();
        assert_eq!(r.tag(), None);
        assert_eq!(r.registry_reference(), "latest");
        let d = Digest::of(b"x");
        let r = Reference::parse(&format!("lfedge/eve:1@{d}")).unwrap();
        assert_eq!(r.tag(), Some("1"));
        assert_eq!(r.digest(), Some(&d));
        assert_eq!(r.to_string(), format!("docker.io/lfedge/eve:1@{d}"));
        assert_eq!(
            r.with_tag("1-amd64").unwrap().to_string(),
            "docker.io/lfedge/eve:1-amd64"
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "Alpine",
            "foo:",
            "foo:-x",
            "a//b",
            "foo@sha256:../x",
            "foo/bar:t@sha256:1234",
            "foo..bar",
            "localhost:abc/foo",
            "foo_-bar",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
