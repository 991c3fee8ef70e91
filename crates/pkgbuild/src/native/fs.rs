//! The filesystem a build stage sees: a flat map of paths to entries whose contents live
//! elsewhere (a host file, memory, or a layer blob of a base image), plus the path rules
//! builders follow (symlinks resolved inside the root, parents before children).
//!
//! Base-image layers are indexed once (metadata only; whiteouts and opaque directories
//! applied); their file contents are read back from the blobs only when a file is copied out.
//! Hard links found in layers are kept as links to their target's contents; when copied they
//! become independent files.

use evebuild_tree::{Entry, EntryPath, Kind};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a file's bytes are.
#[derive(Debug, Clone)]
pub enum Data {
    /// Not a regular file.
    None,
    /// A file on the host (the build context).
    Host(PathBuf),
    /// Bytes in memory.
    Mem(Arc<[u8]>),
    /// Member `path` of the layer blob `blob` (a digest) of a base image.
    Layer {
        /// Digest of the (compressed) layer blob.
        blob: String,
        /// Name of the member inside the layer.
        path: EntryPath,
    },
}

/// One filesystem object and where its contents are.
#[derive(Debug, Clone)]
pub struct Node {
    /// Metadata (the path is the key it is stored under).
    pub entry: Entry,
    /// Contents of a regular file.
    pub data: Data,
}

/// A flat filesystem keyed by path bytes (so a directory's descendants are one range).
#[derive(Debug, Clone, Default)]
pub struct Fs {
    nodes: BTreeMap<Vec<u8>, Node>,
}

/// Symlink hops allowed while resolving one path (Linux's MAXSYMLINKS).
const MAX_HOPS: usize = 40;

impl Fs {
    /// An empty filesystem.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node at exactly `path` (no symlink resolution).
    pub fn get(&self, path: &EntryPath) -> Option<&Node> {
        self.nodes.get(path.as_bytes())
    }

    /// Inserts or replaces a node. A non-directory replacing a directory removes its subtree.
    pub fn insert(&mut self, node: Node) {
        if !matches!(node.entry.kind, Kind::Dir) {
            self.remove_below(&node.entry.path);
        }
        self.nodes.insert(node.entry.path.as_bytes().to_vec(), node);
    }

    /// Removes `path` and everything below it.
    pub fn remove_all(&mut self, path: &EntryPath) {
        self.nodes.remove(path.as_bytes());
        self.remove_below(path);
    }

    fn remove_below(&mut self, path: &EntryPath) {
        let keys: Vec<Vec<u8>> = self.descendant_keys(path).collect();
        for k in keys {
            self.nodes.remove(&k);
        }
    }

    fn descendant_keys<'a>(&'a self, dir: &EntryPath) -> impl Iterator<Item = Vec<u8>> + 'a {
        let mut lo = dir.as_bytes().to_vec();
        lo.push(b'/');
        let mut hi = dir.as_bytes().to_vec();
        hi.push(b'/' + 1);
        self.nodes.range(lo..hi).map(|(k, _)| k.clone())
    }

    /// Everything strictly below directory `dir`, in path order.
    pub fn descendants(&self, dir: &EntryPath) -> Vec<&Node> {
        let mut lo = dir.as_bytes().to_vec();
        lo.push(b'/');
        let mut hi = dir.as_bytes().to_vec();
        hi.push(b'/' + 1);
        self.nodes.range(lo..hi).map(|(_, n)| n).collect()
    }

    /// Every node, in path order.
    pub fn iter(&self) -> impl Iterator<Item = &Node> {
        self.nodes.values()
    }

    /// Resolves symlinks in `path` inside this root (absolute targets start at the root, `..`
    /// stops at it). The last component is followed only with `follow_last`. Returns the
    /// resolved path, which need not exist; `None` is the root itself.
    pub fn resolve(
        &self,
        path: &EntryPath,
        follow_last: bool,
    ) -> Result<Option<EntryPath>, String> {
        let mut hops = 0;
        let mut todo: Vec<Vec<u8>> = path.components().map(|c| c.to_vec()).collect();
        todo.reverse();
        let mut cur: Vec<Vec<u8>> = Vec::new();
        while let Some(c) = todo.pop() {
            match c.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    cur.pop();
                    continue;
                }
                _ => {}
            }
            cur.push(c);
            let is_last = todo.is_empty();
            if is_last && !follow_last {
                break;
            }
            let here = EntryPath::from_bytes(&cur.join(&b'/')).map_err(|e| e.to_string())?;
            if let Some(Node {
                entry:
                    Entry {
                        kind: Kind::Symlink { target },
                        ..
                    },
                ..
            }) = self.get(&here)
            {
                hops += 1;
                if hops > MAX_HOPS {
                    return Err(format!(
                        "too many levels of symbolic links resolving {path}"
                    ));
                }
                cur.pop();
                if target.starts_with(b"/") {
                    cur.clear();
                }
                for part in target.split(|b| *b == b'/').rev() {
                    todo.push(part.to_vec());
                }
            }
        }
        if cur.is_empty() {
            return Ok(None);
        }
        EntryPath::from_bytes(&cur.join(&b'/'))
            .map(Some)
            .map_err(|e| e.to_string())
    }

    /// True when `path` (symlinks followed) is a directory; the root always is.
    pub fn is_dir(&self, path: &EntryPath) -> bool {
        match self.resolve(path, true) {
            Ok(None) => true,
            Ok(Some(p)) => self
                .get(&p)
                .is_some_and(|n| matches!(n.entry.kind, Kind::Dir)),
            Err(_) => false,
        }
    }
}
