//! The apk database of installed packages (`lib/apk/db/installed`), as apk-tools writes it:
//! records separated by blank lines, each line `X:value`. Kept: name (`P`), version (`V`),
//! arch (`A`), licence (`L`), description (`T`), URL (`U`), origin (`o`), maintainer (`m`),
//! dependencies (`D`), provides (`p`) and the owned files (`F` directory, `R` file in it).
//! Everything else (checksums, sizes, ACLs, triggers) is skipped. Records without a name are
//! dropped; empty values count as absent.

/// One installed package.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApkPackage {
    /// `P`.
    pub name: String,
    /// `V`.
    pub version: String,
    /// `A`.
    pub arch: String,
    /// `L`, as written (not necessarily an SPDX expression).
    pub license: String,
    /// `T`.
    pub description: String,
    /// `U`.
    pub url: String,
    /// `o`: the source package it was built from.
    pub origin: String,
    /// `m`: `Name <email>`.
    pub maintainer: String,
    /// `D`, split on spaces (`name`, `name>=1.2`, `so:libc.musl-x86_64.so.1`, `!conflict`).
    pub depends: Vec<String>,
    /// `p`, split on spaces (`name=1.2`, `so:libz.so.1=1.3`, `cmd:sh`).
    pub provides: Vec<String>,
    /// Owned files, relative to the image root.
    pub files: Vec<String>,
    /// Index of the database segment the record is in (init databases are concatenations,
    /// see [`parse`]).
    pub segment: usize,
}

impl ApkPackage {
    /// The names a dependency can be satisfied by: its name and each provided name (the part
    /// before `=`).
    pub fn provided_names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.name.as_str()).chain(
            self.provides
                .iter()
                .map(|p| p.split_once('=').map_or(p.as_str(), |(n, _)| n)),
        )
    }
}

/// The name a `D:` token asks for, or `None` for a conflict (`!name`).
pub fn dependency_name(token: &str) -> Option<&str> {
    if token.starts_with('!') {
        return None;
    }
    let end = token.find(['<', '>', '=', '~']).unwrap_or(token.len());
    Some(&token[..end]).filter(|n| !n.is_empty())
}

/// Parses a database. Records separated by two or more blank lines are in different
/// segments: linuxkit joins the databases of init images with an extra blank line, and apk
/// itself never writes two in a row.
pub fn parse(text: &[u8]) -> Vec<ApkPackage> {
    let text = String::from_utf8_lossy(text);
    let mut out = Vec::new();
    let mut cur = ApkPackage::default();
    let mut dir = String::new();
    let mut blank_run = 0usize;
    let mut segment = 0usize;
    let flush = |cur: &mut ApkPackage, out: &mut Vec<ApkPackage>| {
        let p = std::mem::take(cur);
        if !p.name.is_empty() {
            out.push(p);
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            blank_run += 1;
            if blank_run == 1 {
                flush(&mut cur, &mut out);
                dir.clear();
            } else if blank_run == 2 && !out.is_empty() {
                segment += 1;
            }
            continue;
        }
        blank_run = 0;
        cur.segment = segment;
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if value.is_empty() || key.len() != 1 {
            continue;
        }
        let v = value.to_string();
        match key {
            "P" => cur.name = v,
            "V" => cur.version = v,
            "A" => cur.arch = v,
            "L" => cur.license = v,
            "T" => cur.description = v,
            "U" => cur.url = v,
            "o" => cur.origin = v,
            "m" => cur.maintainer = v,
            "D" => cur.depends = v.split_whitespace().map(String::from).collect(),
            "p" => cur.provides = v.split_whitespace().map(String::from).collect(),
            "F" => dir = v.trim_matches('/').to_string(),
            "R" if dir.is_empty() => cur.files.push(v),
            "R" => cur.files.push(format!("{dir}/{v}")),
            _ => {}
        }
    }
    flush(&mut cur, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DB: &str = "C:Q1abc=\nP:musl\nV:1.2.3-r4\nA:x86_64\nS:1\nI:2\nT:the musl c library\n\
U:https://musl.libc.org/\nL:MIT\no:musl\nm:Natanael Copa <ncopa@alpinelinux.org>\n\
p:so:libc.musl-x86_64.so.1=1\nF:lib\nR:ld-musl-x86_64.so.1\nZ:Q1xyz=\nR:libc.musl-x86_64.so.1\n\n\
P:busybox\nV:1.36.1-r2\nA:x86_64\nD:so:libc.musl-x86_64.so.1 !bb-old\nL:GPL-2.0-only\n\
F:bin\nR:busybox\n\n\n\nP:zlib\nV:1.3-r0\nA:x86_64\nL:\nF:lib\nR:libz.so.1\n\n";

    #[test]
    fn records_fields_files_and_segments() {
        let p = parse(DB.as_bytes());
        assert_eq!(p.len(), 3);
        assert_eq!(p[0].name, "musl");
        assert_eq!(p[0].version, "1.2.3-r4");
        assert_eq!(
            p[0].files,
            ["lib/ld-musl-x86_64.so.1", "lib/libc.musl-x86_64.so.1"]
        );
        assert_eq!(p[0].maintainer, "Natanael Copa <ncopa@alpinelinux.org>");
        assert_eq!(p[1].depends, ["so:libc.musl-x86_64.so.1", "!bb-old"]);
        assert_eq!(p[1].files, ["bin/busybox"]);
        assert_eq!((p[0].segment, p[1].segment, p[2].segment), (0, 0, 1));
        assert_eq!(p[2].license, "", "an empty value is absent");
        assert!(
            p[0].provided_names()
                .any(|n| n == "so:libc.musl-x86_64.so.1")
        );
    }

    #[test]
    fn dependency_names() {
        assert_eq!(dependency_name("musl>=1.2"), Some("musl"));
        assert_eq!(dependency_name("so:libz.so.1"), Some("so:libz.so.1"));
        assert_eq!(dependency_name("!conflict"), None);
    }
}
