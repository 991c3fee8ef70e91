//! # Knowing what is up to date
//!
//! Every step that makes an artifact has a key: a SHA-256 over everything its output depends
//! on (the content hashes of its inputs, its options, the evebuild version). After a step
//! succeeds, the key is recorded beside its output in `<output dir>/.evebuild/state.json`,
//! with the artifact's size, modification time and SHA-256. A later run skips the step when
//! the recorded key is the same and the file on disk still has the recorded size and time —
//! file times alone never decide anything, keys do.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Builds a step key from labelled parts.
#[derive(Clone, Default)]
pub struct KeyBuilder(Sha256);

impl KeyBuilder {
    /// A key for the step `name`, salted with the evebuild version.
    pub fn new(name: &str) -> Self {
        let mut k = KeyBuilder(Sha256::new());
        k.add("evebuild", env!("CARGO_PKG_VERSION"));
        k.add("step", name);
        k
    }

    /// Adds a labelled value.
    pub fn add(&mut self, label: &str, value: impl AsRef<[u8]>) -> &mut Self {
        let v = value.as_ref();
        self.0.update((label.len() as u64).to_le_bytes());
        self.0.update(label.as_bytes());
        self.0.update((v.len() as u64).to_le_bytes());
        self.0.update(v);
        self
    }

    /// Adds the SHA-256 of a file's contents (or a marker that it is absent).
    pub fn add_file(&mut self, label: &str, path: &Path) -> io::Result<&mut Self> {
        match fs::File::open(path) {
            Ok(f) => {
                let h = sha256_reader(f)?;
                Ok(self.add(label, h))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(self.add(label, "<absent>")),
            Err(e) => Err(e),
        }
    }

    /// The finished key, as hex.
    pub fn finish(&self) -> String {
        hex::encode(self.0.clone().finalize())
    }
}

/// SHA-256 of everything a reader yields, as hex.
pub fn sha256_reader(mut r: impl Read) -> io::Result<String> {
    let mut h = Sha256::new();
    io::copy(&mut io::BufReader::with_capacity(1 << 20, &mut r), &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// SHA-256 of a file, as hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    sha256_reader(fs::File::open(path)?)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
struct Record {
    key: String,
    size: u64,
    mtime_ns: i128,
    sha256: String,
}

/// The recorded keys of one output directory.
#[derive(Debug)]
pub struct State {
    file: PathBuf,
    records: BTreeMap<String, Record>,
}

impl State {
    /// Loads the state of `dir` (an unreadable or corrupt state file counts as empty: every
    /// step is rebuilt, nothing is trusted).
    pub fn load(dir: &Path) -> State {
        let file = dir.join(".evebuild/state.json");
        let records = fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        State { file, records }
    }

    /// True when `artifact` exists and was built with `key`.
    pub fn is_fresh(&self, artifact: &Path, key: &str) -> bool {
        let Some(r) = self.records.get(&name(artifact)) else {
            return false;
        };
        r.key == key
            && stat(artifact).is_some_and(|(size, mtime)| (size, mtime) == (r.size, r.mtime_ns))
    }

    /// The SHA-256 recorded for a fresh artifact.
    pub fn recorded_sha256(&self, artifact: &Path) -> Option<&str> {
        self.records.get(&name(artifact)).map(|r| r.sha256.as_str())
    }

    /// Records that `artifact` was just built with `key`; returns its SHA-256.
    pub fn record(&mut self, artifact: &Path, key: &str) -> io::Result<String> {
        let sha256 = if artifact.is_dir() {
            String::new()
        } else {
            sha256_file(artifact)?
        };
        let (size, mtime_ns) = stat(artifact).unwrap_or_default();
        self.records.insert(
            name(artifact),
            Record {
                key: key.to_string(),
                size,
                mtime_ns,
                sha256: sha256.clone(),
            },
        );
        self.save()?;
        Ok(sha256)
    }

    fn save(&self) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(&self.records)?;
        evebuild_tree::output::write_atomically(&self.file, |f| f.write_all(&json))
    }
}

fn name(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn stat(p: &Path) -> Option<(u64, i128)> {
    let md = fs::metadata(p).ok()?;
    Some((
        md.size(),
        i128::from(md.mtime()) * 1_000_000_000 + i128::from(md.mtime_nsec()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_only_with_same_key_and_untouched_file() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a.img");
        fs::write(&a, "one").unwrap();
        let mut s = State::load(d.path());
        assert!(!s.is_fresh(&a, "k1"));
        s.record(&a, "k1").unwrap();
        let s = State::load(d.path());
        assert!(s.is_fresh(&a, "k1"));
        assert!(!s.is_fresh(&a, "k2"));
        fs::write(&a, "changed!").unwrap();
        assert!(!s.is_fresh(&a, "k1"));
    }

    #[test]
    fn keys_separate_labels_and_values() {
        let k = |a: &str, b: &str| KeyBuilder::new("s").add(a, b).finish();
        assert_ne!(k("ab", "c"), k("a", "bc"));
        assert_eq!(k("a", "b"), k("a", "b"));
    }
}
