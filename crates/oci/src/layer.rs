//! Layer blobs: reading one decompressed by its media type, and writing a tar stream as a
//! compressed layer while computing both digests (the blob's and the uncompressed `diff_id`).
//!
//! Compression is chosen by media type only (gzip, zstd or none); an unknown layer type is an
//! error rather than a guess. gzip output is reproducible: flate2 writes no file name and a zero
//! mtime in the header, and the compression level is fixed.

use std::io::{self, BufReader, Read};

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

/// Opens the layer blob `desc` of `store` and returns its uncompressed tar stream.
pub fn open_layer(store: &Store, desc: &Descriptor) -> Result<Box<dyn Read + Send>> {
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
    let file = BufReader::with_capacity(1 << 17, store.open_blob(&digest)?);
    decompress(file, compression, &format!("layer {digest}"))
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
