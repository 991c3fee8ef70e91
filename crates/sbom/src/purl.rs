//! Package URLs (package-url/purl-spec): `pkg:<type>/<namespace>/<name>@<version>?<qualifiers>`
//! with each part percent-encoded as the spec asks and the qualifiers sorted by key.

/// A package URL under construction.
#[derive(Debug, Clone, Default)]
pub struct Purl {
    ty: String,
    namespace: Vec<String>,
    name: String,
    version: String,
    qualifiers: Vec<(String, String)>,
}

impl Purl {
    /// `pkg:<ty>/…/<name>`.
    pub fn new(ty: &str, name: &str) -> Purl {
        Purl {
            ty: ty.to_ascii_lowercase(),
            name: name.to_string(),
            ..Default::default()
        }
    }

    /// Namespace segments (`/`-separated, each encoded on its own).
    pub fn namespace(mut self, ns: &str) -> Purl {
        self.namespace = ns
            .split('/')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        self
    }

    /// `@version` (nothing when empty).
    pub fn version(mut self, v: &str) -> Purl {
        self.version = v.to_string();
        self
    }

    /// A qualifier (nothing when the value is empty).
    pub fn qualifier(mut self, key: &str, value: &str) -> Purl {
        if !value.is_empty() {
            self.qualifiers.push((key.to_string(), value.to_string()));
        }
        self
    }

    /// The canonical string.
    pub fn build(mut self) -> String {
        let mut s = format!("pkg:{}/", self.ty);
        for seg in &self.namespace {
            s.push_str(&encode(seg, false));
            s.push('/');
        }
        s.push_str(&encode(&self.name, false));
        if !self.version.is_empty() {
            s.push('@');
            s.push_str(&encode(&self.version, false));
        }
        self.qualifiers.sort();
        for (i, (k, v)) in self.qualifiers.iter().enumerate() {
            s.push(if i == 0 { '?' } else { '&' });
            s.push_str(k);
            s.push('=');
            s.push_str(&encode(v, true));
        }
        s
    }
}

/// Percent-encodes everything but unreserved characters (and `/` in qualifier values, which
/// the spec leaves readable, e.g. `repository_url=docker.io/library/debian`).
fn encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The Go module path split as purl wants it: everything up to the last `/` is the namespace.
pub fn golang(path: &str, version: &str) -> String {
    let (ns, name) = path.rsplit_once('/').unwrap_or(("", path));
    Purl::new("golang", name)
        .namespace(ns)
        .version(version)
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_sorts() {
        assert_eq!(
            Purl::new("apk", "musl")
                .namespace("alpine")
                .version("1.2.3-r4")
                .qualifier("distro", "alpine-3.18.4")
                .qualifier("arch", "x86_64")
                .build(),
            "pkg:apk/alpine/musl@1.2.3-r4?arch=x86_64&distro=alpine-3.18.4"
        );
        assert_eq!(
            golang("github.com/a/b", "v1.0.0+incompatible"),
            "pkg:golang/github.com/a/b@v1.0.0%2Bincompatible"
        );
        assert_eq!(
            Purl::new("oci", "eve-debug")
                .version("sha256:ab")
                .qualifier("repository_url", "docker.io/lfedge/eve-debug")
                .build(),
            "pkg:oci/eve-debug@sha256%3Aab?repository_url=docker.io/lfedge/eve-debug"
        );
    }
}
