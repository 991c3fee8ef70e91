//! Layer blobs: reading one decompressed by its media type, and writing a tar stream as a
//! compressed layer while computing both digests (the blob's and the uncompressed `diff_id`).
//!
//! Compression is chosen by media type only (gzip, zstd or none); an unknown layer type is an
//! error rather than a guess. gzip output is reproducible: flate2 writes no file name and a zero
//! mtime in the header, and the compression level is fixed.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};

use flate2::Compression as GzLevel;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use oci_spec::image::{Descriptor, MediaType};

use crate::digest::{Digest, DigestWriter};
use crate::error::{Error, Result};
use crate::format::{
    Compression, MT_OCI_LAYER, MT_OCI_LAYER_GZIP, MT_OCI_LAYER_ZSTD, layer_compression,
};
use crate::store::{BlobWriter, Store};

/// gzip level used for layers evebuild writes (the level Docker and buildkit use by default).
pub const GZIP_LEVEL: u32 = 6;
/// zstd level used for layers evebuild writes.
pub const ZSTD_LEVEL: i32 = 3;

/// A layer written to the store.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Descriptor of the (compressed) blob.
    pub descriptor: Descriptor,
    /// sha256 of the uncompressed tar (goes into the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
}

/// The digest and compression of the layer blob `desc` (an unknown media type is an error).
pub(crate) fn layer_compression_of(desc: &Descriptor) -> Result<(Digest, Compression)> {
    let digest = Digest::of_descriptor(desc)?;
    let mt = desc.media_type().to_string();
    let compression = layer_compression(&mt).ok_or_else(|| {
        Error::media(
            format!("layer {digest}"),
            format!(
                "unsupported layer media type {mt} (expected a tar, tar+gzip or tar+zstd layer)"
            ),
        )
    })?;
    Ok((digest, compression))
}

/// Opens the layer blob `desc` of `store` and returns its uncompressed tar stream.
pub fn open_layer(store: &Store, desc: &Descriptor) -> Result<Box<dyn Read + Send>> {
    let (digest, compression) = layer_compression_of(desc)?;
    let file = BufReader::with_capacity(1 << 17, store.open_blob(&digest)?);
    decompress(file, compression, &format!("layer {digest}"))
}

/// A layer's uncompressed tar stream that can skip forward, as tar readers skip the contents
/// they do not want ([`evebuild_tree::tar::read_tar_seekable`]). [`Seek`] supports
/// `SeekFrom::Current(n)` with `n ≥ 0` only: over a plain tar file it seeks, over a
/// decompressing stream it reads and discards.
pub struct LayerReader {
    pos: u64,
    source: Source,
}

enum Source {
    /// The tar is bytes `0..end` of a file.
    File { r: BufReader<File>, end: u64 },
    /// The tar is everything the stream yields.
    Stream(Box<dyn Read + Send>),
}

/// Read buffer over plain tar files: big enough for few system calls when contents are read,
/// small enough that skipping a file's contents and reading the next header reads little.
const FILE_BUF: usize = 1 << 16;

impl LayerReader {
    /// The first `len` bytes of `file` (at offset 0).
    pub(crate) fn file(file: File, len: u64) -> LayerReader {
        LayerReader {
            pos: 0,
            source: Source::File {
                r: BufReader::with_capacity(FILE_BUF, file),
                end: len,
            },
        }
    }

    /// Everything `r` yields.
    pub(crate) fn stream(r: Box<dyn Read + Send>) -> LayerReader {
        LayerReader {
            pos: 0,
            source: Source::Stream(r),
        }
    }
}

impl Read for LayerReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.source {
            Source::File { r, end } => {
                let left = end.saturating_sub(self.pos);
                let max = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                r.read(&mut buf[..max])?
            }
            Source::Stream(r) => r.read(buf)?,
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for LayerReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(n) = to else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a layer stream only skips forward",
            ));
        };
        let n = u64::try_from(n).map_err(|_| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                "a layer stream only skips forward",
            )
        })?;
        match &mut self.source {
            Source::File { r, .. } => {
                r.seek_relative(i64::try_from(n).expect("from an i64"))?;
                self.pos += n;
            }
            Source::Stream(r) => self.pos += io::copy(&mut r.take(n), &mut io::sink())?,
        }
        Ok(self.pos)
    }
}

/// Wraps `r` in the decoder for `compression`.
pub fn decompress<'a>(
    r: impl Read + Send + 'a,
    compression: Compression,
    what: &str,
) -> Result<Box<dyn Read + Send + 'a>> {
    Ok(match compression {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(MultiGzDecoder::new(r)),
        Compression::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(r).map_err(|e| Error::archive(what, e))?)
        }
    })
}

/// Media type of an OCI layer with `compression`.
pub fn layer_media_type(compression: Compression) -> &'static str {
    match compression {
        Compression::None => MT_OCI_LAYER,
        Compression::Gzip => MT_OCI_LAYER_GZIP,
        Compression::Zstd => MT_OCI_LAYER_ZSTD,
    }
}

impl Store {
    /// Stores the tar stream `tar` as a layer compressed with `compression`.
    pub fn write_layer(&self, mut tar: impl Read, compression: Compression) -> Result<Layer> {
        let blob = self.begin_blob()?;
        let path = || self.root().display().to_string();
        let io_err = |e: io::Error| Error::archive(format!("writing a layer into {}", path()), e);
        // The diff id is the digest of the uncompressed side.
        let (blob, diff_id): (BlobWriter, Digest) = match compression {
            Compression::None => {
                let mut w = DigestWriter::new(blob);
                io::copy(&mut tar, &mut w).map_err(io_err)?;
                let (blob, diff_id, _) = w.finish();
                (blob, diff_id)
            }
            Compression::Gzip => {
                let mut w = DigestWriter::new(GzEncoder::new(blob, GzLevel::new(GZIP_LEVEL)));
                io::copy(&mut tar, &mut w).map_err(io_err)?;
                let (gz, diff_id, _) = w.finish();
                (gz.finish().map_err(io_err)?, diff_id)
            }
            Compression::Zstd => {
                let enc = zstd::stream::write::Encoder::new(blob, ZSTD_LEVEL).map_err(io_err)?;
                let mut w = DigestWriter::new(enc);
                io::copy(&mut tar, &mut w).map_err(io_err)?;
                let (enc, diff_id, _) = w.finish();
                (enc.finish().map_err(io_err)?, diff_id)
            }
        };
        let (digest, size) = blob.commit(None, None, "layer")?;
        Ok(Layer {
            descriptor: Descriptor::new(
                MediaType::from(layer_media_type(compression)),
                size,
                digest.to_oci(),
            ),
            diff_id,
        })
    }
}
