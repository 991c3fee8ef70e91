//! Layers in and out: indexing a base image's layer blobs into an [`Fs`], reading the
//! contents of the members a build copies, and writing a new layer deterministically
//! (entries sorted, numeric root owners unless told otherwise, mtimes clamped to
//! SOURCE_DATE_EPOCH, gzip at a fixed level with no name and time 0).

use super::fs::{Data, Fs, Node};
use crate::Error;
use evebuild_oci::DigestWriter;
use evebuild_tree::{Entry, EntryPath, Kind, Sink, tar::TarSink};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::sync::Arc;

/// The gzip level new layers are written with (the zlib default, as BuildKit uses).
pub const GZIP_LEVEL: u32 = 6;

/// Wraps a compressed (gzip, zstd, xz, bzip2) or plain stream in the matching decoder, by its
/// magic bytes.
pub fn decompress<'a>(mut r: Box<dyn Read + 'a>) -> io::Result<(Box<dyn Read + 'a>, Compression)> {
    let mut magic = [0u8; 6];
    let mut n = 0;
    while n < magic.len() {
        let got = r.read(&mut magic[n..])?;
        if got == 0 {
            break;
        }
        n += got;
    }
    let head = magic[..n].to_vec();
    let c = Compression::sniff(&head);
    let chained: Box<dyn Read + 'a> = Box::new(io::Cursor::new(head).chain(r));
    let out: Box<dyn Read + 'a> = match c {
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(chained)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(chained)?),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(chained)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(chained)),
        Compression::None => chained,
    };
    Ok((out, c))
}

/// A stream's compression, as told by its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Not compressed.
    None,
    /// gzip.
    Gzip,
    /// zstd.
    Zstd,
    /// xz.
    Xz,
    /// bzip2.
    Bzip2,
}

impl Compression {
    /// By magic bytes: xz and bzip2 here (archives `ADD` unpacks), gzip and zstd as the OCI
    /// store tells them.
    fn sniff(b: &[u8]) -> Compression {
        if b.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if b.starts_with(b"BZh") {
            Compression::Bzip2
        } else {
            match evebuild_oci::Compression::sniff(b) {
                evebuild_oci::Compression::Gzip => Compression::Gzip,
                evebuild_oci::Compression::Zstd => Compression::Zstd,
                evebuild_oci::Compression::None => Compression::None,
            }
        }
    }
}

/// Collects the entries of one layer (metadata only).
struct Collect(Vec<Entry>);

impl Sink for Collect {
    fn add(&mut self, entry: &Entry, _: &mut dyn Read) -> Result<(), evebuild_tree::Error> {
        self.0.push(entry.clone());
        Ok(())
    }
}

/// Applies one layer blob (`blob` is its digest, `reader` its raw bytes) on top of `fs`.
pub fn apply_layer(fs: &mut Fs, blob: &str, reader: Box<dyn Read + '_>) -> Result<(), Error> {
    let ctx = |e: &dyn std::fmt::Display| Error::Other(format!("layer {blob}: {e}"));
    let (r, _) = decompress(reader).map_err(|e| ctx(&e))?;
    let mut c = Collect(Vec::new());
    evebuild_tree::tar::read_tar(r, &mut c).map_err(|e| ctx(&e))?;
    // Whiteouts hide what lower layers had; they never hide this layer's own entries.
    for e in &c.0 {
        let name = e.path.file_name();
        if name == b".wh..wh..opq" {
            if let Some(dir) = e.path.parent() {
                let below: Vec<EntryPath> = fs
                    .descendants(&dir)
                    .iter()
                    .map(|n| n.entry.path.clone())
                    .collect();
                for p in below {
                    fs.remove_all(&p);
                }
            } else {
                let all: Vec<EntryPath> = fs.iter().map(|n| n.entry.path.clone()).collect();
                for p in all {
                    fs.remove_all(&p);
                }
            }
        } else if let Some(hidden) = name.strip_prefix(b".wh.") {
            let target = match e.path.parent() {
                Some(d) => d.join(hidden),
                None => EntryPath::from_bytes(hidden),
            }
            .map_err(|e| ctx(&e))?;
            fs.remove_all(&target);
        }
    }
    for mut e in c.0 {
        if e.path.file_name().starts_with(b".wh.") {
            continue;
        }
        let data = match &e.kind {
            Kind::File { .. } => Data::Layer {
                blob: blob.to_string(),
                path: e.path.clone(),
            },
            Kind::Hardlink { target } => {
                let Some(t) = fs.get(target).cloned() else {
                    return Err(ctx(&format!(
                        "hard link {} points at {target}, which is not in the image",
                        e.path
                    )));
                };
                e.kind = t.entry.kind.clone();
                t.data
            }
            _ => Data::None,
        };
        fs.insert(Node { entry: e, data });
    }
    Ok(())
}

/// Something that opens layer blobs by digest.
pub trait BlobSource {
    /// The raw (compressed) bytes of blob `digest`.
    fn open_blob(&self, digest: &str) -> Result<Box<dyn Read + '_>, Error>;
}

/// Replaces [`Data::Layer`] contents of `nodes` by the bytes read from their blobs (one pass
/// per blob).
pub fn load_layer_data(nodes: &mut [Node], blobs: &dyn BlobSource) -> Result<(), Error> {
    let mut wanted: BTreeMap<String, BTreeSet<EntryPath>> = BTreeMap::new();
    for n in nodes.iter() {
        if let Data::Layer { blob, path } = &n.data {
            wanted.entry(blob.clone()).or_default().insert(path.clone());
        }
    }
    let mut got: BTreeMap<(String, EntryPath), Arc<[u8]>> = BTreeMap::new();
    for (blob, paths) in wanted {
        let (r, _) = decompress(blobs.open_blob(&blob)?)
            .map_err(|e| Error::Other(format!("layer {blob}: {e}")))?;
        struct Grab<'a> {
            blob: &'a str,
            paths: &'a BTreeSet<EntryPath>,
            got: &'a mut BTreeMap<(String, EntryPath), Arc<[u8]>>,
        }
        impl Sink for Grab<'_> {
            fn add(&mut self, e: &Entry, data: &mut dyn Read) -> Result<(), evebuild_tree::Error> {
                if matches!(e.kind, Kind::File { .. }) && self.paths.contains(&e.path) {
                    let mut buf = Vec::with_capacity(e.size() as usize);
                    data.read_to_end(&mut buf).map_err(|err| {
                        evebuild_tree::Error::io(format!("reading {}", e.path), err)
                    })?;
                    self.got
                        .insert((self.blob.to_string(), e.path.clone()), buf.into());
                }
                Ok(())
            }
        }
        let mut g = Grab {
            blob: &blob,
            paths: &paths,
            got: &mut got,
        };
        evebuild_tree::tar::read_tar(r, &mut g)
            .map_err(|e| Error::Other(format!("layer {blob}: {e}")))?;
    }
    for n in nodes.iter_mut() {
        if let Data::Layer { blob, path } = &n.data {
            let Some(bytes) = got.get(&(blob.clone(), path.clone())) else {
                return Err(Error::Other(format!(
                    "layer {blob}: member {path} not found"
                )));
            };
            n.data = Data::Mem(bytes.clone());
        }
    }
    Ok(())
}

/// Writes the layer made of `nodes` (in path order, contents loaded or on the host) into `out`
/// as a gzip-compressed tar (no name, time 0, level [`GZIP_LEVEL`]), in one pass; returns the
/// `sha256:` of the uncompressed tar (the layer's diff_id).
pub fn write_gzip(nodes: &[Node], out: impl Write) -> Result<String, Error> {
    let write_err = |e: io::Error| Error::Other(format!("writing layer: {e}"));
    let tree_err = |e: evebuild_tree::Error| Error::Other(format!("writing layer: {e}"));
    let gz = flate2::GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(out, flate2::Compression::new(GZIP_LEVEL));
    let mut tar = TarSink::new(DigestWriter::new(gz));
    for n in nodes {
        match &n.data {
            Data::Host(p) => {
                let mut f = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
                tar.add(&n.entry, &mut f).map_err(tree_err)?;
            }
            Data::Mem(b) => tar.add(&n.entry, &mut &b[..]).map_err(tree_err)?,
            Data::None => tar.add(&n.entry, &mut io::empty()).map_err(tree_err)?,
            Data::Layer { path, .. } => {
                return Err(Error::Other(format!(
                    "internal: contents of {path} were not loaded before writing the layer"
                )));
            }
        }
    }
    let (gz, diff_id, _) = tar.finish().map_err(tree_err)?.finish();
    gz.finish().map_err(write_err)?;
    Ok(diff_id.to_string())
}
