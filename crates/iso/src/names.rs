//! ISO 9660 file identifiers for the plain (non-Rock-Ridge) directory tree: interchange
//! level 1, as `xorriso -as mkisofs` writes them by default — upper-case d-characters, files
//! `NAME.EXT;1` with at most 8 + 3 characters, directories at most 8 characters, everything
//! else `_` (`.boot_repository` → `_BOOT_RE.;1`). The real names are in Rock Ridge `NM`.
//! Names that collide in one directory get a decimal counter at the end of the name part, in
//! byte order of their real names, so the result depends only on the names.

use crate::format::{FILE_VERSION, LEVEL1_EXT_LEN, LEVEL1_NAME_LEN};
use std::collections::BTreeSet;

/// A level 1 identifier: name part and, for files, the extension (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct IsoName {
    /// Name part (1–8 d-characters).
    pub name: Vec<u8>,
    /// Extension (0–3 d-characters) for files, `None` for directories.
    pub ext: Option<Vec<u8>>,
}

impl IsoName {
    /// The file identifier as recorded: `NAME` for directories, `NAME.EXT;1` for files.
    pub fn identifier(&self) -> Vec<u8> {
        let mut id = self.name.clone();
        if let Some(ext) = &self.ext {
            id.push(b'.');
            id.extend_from_slice(ext);
            id.extend_from_slice(FILE_VERSION);
        }
        id
    }

    /// The sort key of ECMA-119 9.3: name part, then extension (both compared as if padded
    /// with spaces, which for d-characters is plain byte order).
    fn key(&self) -> (&[u8], &[u8]) {
        (&self.name, self.ext.as_deref().unwrap_or_default())
    }
}

fn d_char(b: u8) -> u8 {
    match b {
        b'A'..=b'Z' | b'0'..=b'9' | b'_' => b,
        b'a'..=b'z' => b.to_ascii_uppercase(),
        _ => b'_',
    }
}

fn mapped(bytes: &[u8], max: usize) -> Vec<u8> {
    bytes.iter().take(max).map(|&b| d_char(b)).collect()
}

/// The level 1 identifier of `name` before collisions are resolved.
pub fn base(name: &[u8], is_dir: bool) -> IsoName {
    if is_dir {
        return IsoName {
            name: mapped(name, LEVEL1_NAME_LEN),
            ext: None,
        };
    }
    // The last dot separates the extension, unless it starts the name (`.uuid`).
    match name.iter().rposition(|&b| b == b'.').filter(|&i| i > 0) {
        Some(dot) => IsoName {
            name: mapped(&name[..dot], LEVEL1_NAME_LEN),
            ext: Some(mapped(&name[dot + 1..], LEVEL1_EXT_LEN)),
        },
        None => IsoName {
            name: mapped(name, LEVEL1_NAME_LEN),
            ext: Some(Vec::new()),
        },
    }
}

/// Unique identifiers for the children of one directory, given as (real name, is
/// directory) in byte order of the real names; returned in the same order.
pub fn assign(children: &[(&[u8], bool)]) -> Vec<IsoName> {
    let mut taken: BTreeSet<(Vec<u8>, Vec<u8>)> = BTreeSet::new();
    let mut out = Vec::with_capacity(children.len());
    for &(name, is_dir) in children {
        let mut n = base(name, is_dir);
        let stem = n.name.clone();
        let mut counter = 0u64;
        // A file `FOO.;1` and a directory `FOO` count as the same name: readers that drop
        // versions and empty extensions would not tell them apart.
        while !taken.insert((n.name.clone(), n.key().1.to_vec())) {
            counter += 1;
            let digits = counter.to_string().into_bytes();
            let keep = stem.len().min(LEVEL1_NAME_LEN - digits.len());
            n.name = stem[..keep].to_vec();
            n.name.extend_from_slice(&digits);
        }
        out.push(n);
    }
    out
}

/// Orders identifiers as directory records must be ordered (ECMA-119 9.3).
pub fn record_order(a: &IsoName, b: &IsoName) -> std::cmp::Ordering {
    a.key().cmp(&b.key())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str, dir: bool) -> String {
        String::from_utf8(base(name.as_bytes(), dir).identifier()).unwrap()
    }

    #[test]
    fn level1_like_xorriso() {
        assert_eq!(id("rootfs_installer.img", false), "ROOTFS_I.IMG;1");
        assert_eq!(id(".boot_repository", false), "_BOOT_RE.;1");
        assert_eq!(id(".uuid", false), "_UUID.;1");
        assert_eq!(id("eve-release", false), "EVE_RELE.;1");
        assert_eq!(id("grub.cfg", false), "GRUB.CFG;1");
        assert_eq!(id("EFI", true), "EFI");
        assert_eq!(id("boot.d", true), "BOOT_D");
        assert_eq!(id("archive.tar.gz", false), "ARCHIVE_.GZ;1");
    }

    #[test]
    fn collisions_get_counters() {
        let names: [(&[u8], bool); 5] = [
            (b"Readme", false),
            (b"abcdefghij", true),
            (b"abcdefghik", true),
            (b"readme", false),
            (b"readme.", false),
        ];
        let got: Vec<String> = assign(&names)
            .iter()
            .map(|n| String::from_utf8(n.identifier()).unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "README.;1",
                "ABCDEFGH",
                "ABCDEFG1",
                "README1.;1",
                "README2.;1"
            ]
        );
    }
}
