//! Normalised in-image paths.
//!
//! Names are bytes (a layer may carry non-UTF-8 names, and a lossy conversion would make
//! `\xff` collide with a real U+FFFD). A normalised path is relative to the image root, has no
//! empty, `.` or `..` components and no leading or trailing `/`. `..` is folded; one that would
//! climb above the root is an error, as are components longer than 255 bytes and paths longer
//! than 4095 bytes.

use std::fmt;

/// Longest component a Linux filesystem stores.
pub const MAX_COMPONENT: usize = 255;
/// Longest path (PATH_MAX - 1).
pub const MAX_PATH: usize = 4095;

/// Why a name cannot be used as an in-image path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `..` would leave the image root.
    #[error("path {0:?} climbs above the image root")]
    Escapes(String),
    /// The name is the root itself (`.`, `/`, empty) where an entry was expected.
    #[error("path {0:?} names the image root, not an entry in it")]
    Root(String),
    /// A component or the whole path is too long.
    #[error("path {0:?} is too long (components ≤ 255 bytes, paths ≤ 4095 bytes)")]
    TooLong(String),
    /// A NUL byte inside a name.
    #[error("path {0:?} contains a NUL byte")]
    Nul(String),
}

/// A normalised, relative in-image path (see the module doc).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryPath(Vec<u8>);

impl EntryPath {
    /// Normalises `raw` (a `&str`, `&[u8]` …) into an entry path.
    pub fn new(raw: impl AsRef<[u8]>) -> Result<Self, PathError> {
        Self::from_bytes(raw.as_ref())
    }

    /// Normalises raw bytes into an entry path.
    pub fn from_bytes(raw: &[u8]) -> Result<Self, PathError> {
        let show = || String::from_utf8_lossy(raw).into_owned();
        if raw.contains(&0) {
            return Err(PathError::Nul(show()));
        }
        let mut parts: Vec<&[u8]> = Vec::new();
        for c in raw.split(|b| *b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    if parts.pop().is_none() {
                        return Err(PathError::Escapes(show()));
                    }
                }
                c if c.len() > MAX_COMPONENT => return Err(PathError::TooLong(show())),
                c => parts.push(c),
            }
        }
        if parts.is_empty() {
            return Err(PathError::Root(show()));
        }
        let joined = parts.join(&b'/');
        if joined.len() > MAX_PATH {
            return Err(PathError::TooLong(show()));
        }
        Ok(EntryPath(joined))
    }

    /// The path's bytes (no leading `/`).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The path as text, with invalid UTF-8 replaced (for messages and UTF-8-only formats).
    pub fn as_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The last component.
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|b| *b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// The parent directory, or `None` for a top-level entry.
    pub fn parent(&self) -> Option<EntryPath> {
        self.0
            .iter()
            .rposition(|b| *b == b'/')
            .map(|i| EntryPath(self.0[..i].to_vec()))
    }

    /// Every ancestor from the top down, then this path itself (`a`, `a/b`, `a/b/c`).
    pub fn ancestors_and_self(&self) -> Vec<EntryPath> {
        let mut out = Vec::new();
        for (i, b) in self.0.iter().enumerate() {
            if *b == b'/' {
                out.push(EntryPath(self.0[..i].to_vec()));
            }
        }
        out.push(self.clone());
        out
    }

    /// Components, top down.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|b| *b == b'/')
    }

    /// True when this path lies strictly below directory `dir`.
    pub fn starts_with_dir(&self, dir: &EntryPath) -> bool {
        self.0.len() > dir.0.len() && self.0.starts_with(&dir.0) && self.0[dir.0.len()] == b'/'
    }

    /// `self/child` (the child is normalised relative to this path).
    pub fn join(&self, child: impl AsRef<[u8]>) -> Result<EntryPath, PathError> {
        let mut raw = self.0.clone();
        raw.push(b'/');
        raw.extend_from_slice(child.as_ref());
        EntryPath::from_bytes(&raw)
    }

    /// Number of components.
    pub fn depth(&self) -> usize {
        self.0.iter().filter(|b| **b == b'/').count() + 1
    }
}

impl fmt::Display for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.as_str_lossy())
    }
}

impl fmt::Debug for EntryPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str_lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_an_extractor_that_stays_inside() {
        let ok = [
            ("/etc/a", "etc/a"),
            ("./etc/b", "etc/b"),
            ("etc//c/", "etc/c"),
            ("a/../b", "b"),
            ("a/./b/..", "a"),
        ];
        for (raw, want) in ok {
            assert_eq!(
                EntryPath::new(raw).unwrap().as_bytes(),
                want.as_bytes(),
                "{raw}"
            );
        }
        assert!(matches!(
            EntryPath::new("../../evil"),
            Err(PathError::Escapes(_))
        ));
        assert!(matches!(
            EntryPath::new("a/../../x"),
            Err(PathError::Escapes(_))
        ));
        for root in [".", "/", "", "./"] {
            assert!(
                matches!(EntryPath::new(root), Err(PathError::Root(_))),
                "{root}"
            );
        }
        assert!(matches!(
            EntryPath::new("x".repeat(256)),
            Err(PathError::TooLong(_))
        ));
        assert!(EntryPath::new("x".repeat(255)).is_ok());
    }

    #[test]
    fn keeps_non_utf8_names_distinct() {
        let a = EntryPath::new(b"\xff\xfe").unwrap();
        let b = EntryPath::new("\u{fffd}").unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn relations() {
        let p = EntryPath::new("a/b/c").unwrap();
        assert_eq!(p.parent().unwrap().as_bytes(), b"a/b");
        assert_eq!(p.file_name(), b"c");
        assert_eq!(p.depth(), 3);
        assert!(p.starts_with_dir(&EntryPath::new("a").unwrap()));
        assert!(
            !EntryPath::new("ab")
                .unwrap()
                .starts_with_dir(&EntryPath::new("a").unwrap())
        );
        let names: Vec<_> = p
            .ancestors_and_self()
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(names, ["/a", "/a/b", "/a/b/c"]);
    }
}
