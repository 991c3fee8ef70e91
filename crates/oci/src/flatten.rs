//! Flattening an image's layers into one entry stream (like `linuxkit cache export --format
//! filesystem`), honouring whiteouts, opaque whiteouts included.
//!
//! Two passes over the layers with bounded memory: the first reads only the entries' names and
//! kinds and decides, top layer first, which entries survive (an entry is hidden by the same path
//! in a higher layer, by a whiteout of it or of a parent in a higher layer, by an opaque
//! whiteout of a parent directory in a higher layer, or by a non-directory over a parent); the
//! second streams the survivors, bottom layer first, into a [`Sink`]. Within a layer the last
//! entry of a path wins, and an opaque whiteout hides only lower layers. Whiteout files are never
//! emitted.
//!
//! What it leaves out: linuxkit's own rules for building a rootfs (its exclusions, the
//! `/etc/resolv.conf` and mount-point handling, hard links whose target a higher layer
//! replaced): crates/linuxkit flattens for builds; this is the simple export.

use std::collections::HashSet;
use std::io::Read;

use evebuild_tree::{Entry, EntryPath, Kind, Sink};

use crate::error::{Error, Result};
use crate::image::Image;
use crate::store::Store;

const WHITEOUT: &[u8] = b".wh.";
const OPAQUE: &[u8] = b".wh..wh..opq";

/// What pass one learns of an entry.
enum Seen {
    /// A real entry (true: a directory).
    Entry(EntryPath, bool),
    /// `.wh.<name>`: hides `<dir>/<name>` below.
    Whiteout(EntryPath),
    /// `.wh..wh..opq`: hides everything under the directory below (`None`: the image root).
    Opaque(Option<EntryPath>),
}

/// Records names and kinds of one layer.
struct Survey(Vec<Seen>);

fn classify(path: &EntryPath, is_dir: bool) -> Result<Seen> {
    let name = path.file_name();
    let Some(hidden) = name.strip_prefix(WHITEOUT) else {
        return Ok(Seen::Entry(path.clone(), is_dir));
    };
    let parent = path.parent();
    if name == OPAQUE {
        return Ok(Seen::Opaque(parent));
    }
    if hidden.is_empty() || hidden == b"." || hidden == b".." {
        return Err(Error::archive(
            path.as_str_lossy(),
            "whiteout of an empty name, `.` or `..`",
        ));
    }
    let target = match &parent {
        Some(p) => p.join(hidden),
        None => EntryPath::new(hidden),
    }
    .map_err(|e| Error::archive(path.as_str_lossy(), e))?;
    Ok(Seen::Whiteout(target))
}

impl Sink for Survey {
    fn add(&mut self, entry: &Entry, _data: &mut dyn Read) -> Result<(), evebuild_tree::Error> {
        let seen = classify(&entry.path, matches!(entry.kind, Kind::Dir))
            .map_err(|e| evebuild_tree::Error::Tar(e.to_string()))?;
        self.0.push(seen);
        Ok(())
    }
}

/// Emits the entries whose ordinal is marked to keep.
struct Emit<'a> {
    keep: &'a [bool],
    next: usize,
    out: &'a mut dyn Sink,
}

impl Sink for Emit<'_> {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), evebuild_tree::Error> {
        let i = self.next;
        self.next += 1;
        if self.keep.get(i).copied().unwrap_or(false) {
            self.out.add(entry, data)?;
        }
        Ok(())
    }
}

fn layer_err(image: &Image, i: usize, e: evebuild_tree::Error) -> Error {
    Error::archive(
        format!(
            "{} layer {i} ({})",
            image.reference,
            image.layers()[i].digest()
        ),
        e,
    )
}

/// Streams the flattened filesystem of `image` into `out`.
pub fn flatten(store: &Store, image: &Image, out: &mut dyn Sink) -> Result<()> {
    let n = image.layers().len();
    let mut surveys = Vec::with_capacity(n);
    for i in 0..n {
        let mut s = Survey(Vec::new());
        evebuild_tree::tar::read_tar(image.open_layer(store, i)?, &mut s)
            .map_err(|e| layer_err(image, i, e))?;
        surveys.push(s.0);
    }
    // Top layer first: what higher layers claim or hide.
    let mut claimed: HashSet<EntryPath> = HashSet::new();
    let mut gone: HashSet<EntryPath> = HashSet::new();
    let mut opaque: HashSet<Option<EntryPath>> = HashSet::new();
    let mut keeps = vec![Vec::new(); n];
    for i in (0..n).rev() {
        let survey = &surveys[i];
        let mut keep = vec![false; survey.len()];
        let mut in_layer: HashSet<&EntryPath> = HashSet::new();
        for (j, seen) in survey.iter().enumerate().rev() {
            let Seen::Entry(path, _) = seen else { continue };
            if !in_layer.insert(path) || claimed.contains(path) || gone.contains(path) {
                continue;
            }
            let chain = path.ancestors_and_self();
            let parents = &chain[..chain.len() - 1];
            let hidden = opaque.contains(&None)
                || parents
                    .iter()
                    .any(|a| gone.contains(a) || opaque.contains(&Some(a.clone())));
            keep[j] = !hidden;
        }
        for (j, seen) in survey.iter().enumerate() {
            match seen {
                Seen::Entry(path, is_dir) if keep[j] => {
                    claimed.insert(path.clone());
                    if !is_dir {
                        gone.insert(path.clone());
                    }
                }
                Seen::Whiteout(p) => {
                    gone.insert(p.clone());
                }
                Seen::Opaque(d) => {
                    opaque.insert(d.clone());
                }
                _ => {}
            }
        }
        keeps[i] = keep;
    }
    for (i, keep) in keeps.iter().enumerate() {
        let mut emit = Emit {
            keep,
            next: 0,
            out: &mut *out,
        };
        evebuild_tree::tar::read_tar(image.open_layer(store, i)?, &mut emit)
            .map_err(|e| layer_err(image, i, e))?;
    }
    Ok(())
}

/// Writes the flattened filesystem of `image` as a tar to `out`.
pub fn export_filesystem(store: &Store, image: &Image, out: impl std::io::Write) -> Result<()> {
    let mut sink = evebuild_tree::tar::TarSink::new(out);
    flatten(store, image, &mut sink)?;
    sink.finish()
        .map_err(|e| Error::archive("filesystem export", e))?;
    Ok(())
}
