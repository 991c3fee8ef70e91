//! The decompressed-layer cache: plain tar copies of compressed layer blobs, so that readers
//! that go over a layer more than once (the rootfs assembler reads every layer twice) and
//! builds that read the same images again pay for decompression once per layer, ever.
//!
//! Layout: `<store>/evebuild/layers/<diff_id hex>`, the layer's uncompressed tar followed by a
//! 32-byte trailer (see [`crate::format::LAYER_CACHE_MAGIC`]): magic, the tar's size and its
//! CRC-32. Keyed by the diff_id, so two compressions of the same tar share one entry.
//!
//! Filling: the first [`Store::open_layer_cached`] of a layer that has no entry decompresses
//! the blob and hands the bytes to its caller while writing them to a locked temporary file
//! (swept like the store's others when its writer dies) and hashing them. When the caller has
//! read to the end, the SHA-256 must equal the diff_id — a layer that does not match is an
//! error, not an entry — and the file gets its trailer and is renamed into place. A caller that
//! stops early leaves no entry. Concurrent fillers of one layer each write their own temporary
//! file and the last rename wins; both hold the same bytes, and readers keep the file they
//! opened. A cache that cannot be written (read-only store, full disk) only costs speed.
//!
//! Trust: an entry is used only when its trailer is intact, its length is the recorded size
//! and its bytes have the recorded CRC-32; anything else is a miss and the entry is rebuilt.
//! The content check reads the whole file, once per process and file (a process-wide memo keyed
//! by device, inode, size and mtime; entries this process wrote count as checked). The entry is
//! not fsynced: after a crash it is a complete, checked file or a miss, never a wrong layer
//! (containerd#10457 left 0-byte files behind; here they fail the size check).
//!
//! Size: the cache holds one plain copy of every compressed layer a rootfs was assembled from —
//! about the uncompressed size of those images (EVE's rootfs images: ~1–2 GiB per
//! architecture), on top of the compressed blobs. [`Store::gc`] (and so [`Store::remove`])
//! drops the entries of layers no stored image has; deleting the directory is always safe.
//!
//! Plain (uncompressed) layers are read from their blobs and never cached.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use oci_spec::image::Descriptor;
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::format::{
    Compression, LAYER_CACHE_DIR, LAYER_CACHE_MAGIC, LAYER_CACHE_TRAILER, TEMP_PREFIX,
};
use crate::image::Image;
use crate::layer::{LayerReader, decompress, layer_compression_of};
use crate::store::{Store, create_temp};

/// Buffer size for reading and writing cache files.
const BUF: usize = 1 << 17;

/// Identity of a cache file whose content was checked (or written) by this process.
type FileId = (u64, u64, u64, i64, i64);

fn file_id(m: &fs::Metadata) -> FileId {
    (m.dev(), m.ino(), m.len(), m.mtime(), m.mtime_nsec())
}

fn checked() -> &'static Mutex<HashSet<FileId>> {
    static CHECKED: OnceLock<Mutex<HashSet<FileId>>> = OnceLock::new();
    CHECKED.get_or_init(Default::default)
}

fn trailer(size: u64, crc: u32) -> [u8; LAYER_CACHE_TRAILER] {
    let mut t = [0u8; LAYER_CACHE_TRAILER];
    t[..16].copy_from_slice(LAYER_CACHE_MAGIC);
    t[16..24].copy_from_slice(&size.to_le_bytes());
    t[24..28].copy_from_slice(&crc.to_le_bytes());
    t
}

/// Opens the cache file at `path` if it is intact: its tar, positioned at 0 and limited to its
/// size. Any problem is a miss (`None`).
fn open_entry(path: &Path) -> Option<LayerReader> {
    let mut file = File::open(path).ok()?;
    let meta = file.metadata().ok()?;
    let size = meta.len().checked_sub(LAYER_CACHE_TRAILER as u64)?;
    let mut t = [0u8; LAYER_CACHE_TRAILER];
    file.seek(SeekFrom::Start(size)).ok()?;
    file.read_exact(&mut t).ok()?;
    let crc = u32::from_le_bytes(t[24..28].try_into().expect("4 bytes"));
    if t != trailer(size, crc) {
        tracing::debug!("layer cache {}: bad trailer", path.display());
        return None;
    }
    let id = file_id(&meta);
    let known = checked()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .contains(&id);
    file.seek(SeekFrom::Start(0)).ok()?;
    if !known {
        let mut h = crc32fast::Hasher::new();
        let mut buf = vec![0u8; BUF];
        let mut r = (&mut file).take(size);
        let mut n = 0u64;
        loop {
            let k = r.read(&mut buf).ok()?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            n += k as u64;
        }
        if n != size || h.finalize() != crc {
            tracing::debug!("layer cache {}: content does not match", path.display());
            return None;
        }
        checked()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id);
        file.seek(SeekFrom::Start(0)).ok()?;
    }
    Some(LayerReader::file(file, size))
}

/// A cache entry being written: a locked temporary file in the cache directory, removed on drop
/// unless committed.
struct EntryWriter {
    out: BufWriter<File>,
    tmp: PathBuf,
    dest: PathBuf,
    crc: crc32fast::Hasher,
    sha: Sha256,
    len: u64,
}

impl EntryWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)?;
        self.crc.update(buf);
        self.sha.update(buf);
        self.len += buf.len() as u64;
        Ok(())
    }

    /// Checks the bytes against `diff_id`; on a match, publishes the entry (a failure to do so
    /// is only logged). A mismatch is an error for the reader.
    fn finish(mut self, diff_id: &Digest, what: &str) -> io::Result<()> {
        let actual = Digest::from_hasher(std::mem::take(&mut self.sha));
        if actual != *diff_id {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{what} decompresses to {actual}, but the image config gives its diff_id as \
                     {diff_id}: the image is damaged; pull or build it again"
                ),
            ));
        }
        let crc = std::mem::take(&mut self.crc).finalize();
        let published = (|| {
            self.out.write_all(&trailer(self.len, crc))?;
            self.out.flush()?;
            let id = file_id(&self.out.get_ref().metadata()?);
            fs::rename(&self.tmp, &self.dest)?;
            checked()
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id);
            io::Result::Ok(())
        })();
        match published {
            Ok(()) => self.tmp = PathBuf::new(),
            Err(e) => tracing::debug!("layer cache {}: not stored: {e}", self.dest.display()),
        }
        Ok(())
    }
}

impl Drop for EntryWriter {
    fn drop(&mut self) {
        if !self.tmp.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// The decompressed stream, copied into a new cache entry as it is read.
struct Filling<R> {
    inner: R,
    entry: Option<EntryWriter>,
    diff_id: Digest,
    what: String,
}

impl<R: Read> Read for Filling<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            if let Some(entry) = self.entry.take() {
                entry.finish(&self.diff_id, &self.what)?;
            }
        } else if let Some(entry) = &mut self.entry
            && let Err(e) = entry.write(&buf[..n])
        {
            tracing::debug!("layer cache {}: not stored: {e}", entry.dest.display());
            self.entry = None;
        }
        Ok(n)
    }
}

impl Store {
    /// The layer cache directory.
    pub fn layer_cache_dir(&self) -> PathBuf {
        self.root().join(LAYER_CACHE_DIR)
    }

    /// Where the cache entry of the layer with `diff_id` lives (whether or not it exists).
    pub fn layer_cache_path(&self, diff_id: &Digest) -> PathBuf {
        self.layer_cache_dir().join(diff_id.hex())
    }

    /// The uncompressed tar of layer blob `desc`, whose diff_id is `diff_id`, through the
    /// decompressed-layer cache (see the module doc): from the cache entry when it is intact,
    /// else decompressed from the blob while the entry is written. The entry is complete only
    /// when the stream is read to its end; reading it to the end also checks the diff_id.
    pub fn open_layer_cached(&self, desc: &Descriptor, diff_id: &Digest) -> Result<LayerReader> {
        let (digest, compression) = layer_compression_of(desc)?;
        if compression == Compression::None {
            let file = self.open_blob(&digest)?;
            let len = file
                .metadata()
                .map_err(|e| Error::io("reading a layer", self.blob_path(&digest), e))?
                .len();
            return Ok(LayerReader::file(file, len));
        }
        let dest = self.layer_cache_path(diff_id);
        if let Some(r) = open_entry(&dest) {
            return Ok(r);
        }
        let what = format!("layer {digest}");
        let blob = BufReader::with_capacity(BUF, self.open_blob(&digest)?);
        let inner = decompress(blob, compression, &what)?;
        let dir = self.layer_cache_dir();
        let entry = fs::create_dir_all(&dir)
            .map_err(|e| Error::io("creating the layer cache", &dir, e))
            .and_then(|_| create_temp(&dir));
        let entry = match entry {
            Ok((file, tmp)) => Some(EntryWriter {
                out: BufWriter::with_capacity(BUF, file),
                tmp,
                dest,
                crc: crc32fast::Hasher::new(),
                sha: Sha256::new(),
                len: 0,
            }),
            Err(e) => {
                tracing::debug!("layer cache: not used: {e}");
                None
            }
        };
        Ok(LayerReader::stream(Box::new(Filling {
            inner,
            entry,
            diff_id: diff_id.clone(),
            what,
        })))
    }

    /// Removes the cache entries whose diff_id is not in `live`; returns the bytes freed.
    pub(crate) fn prune_layer_cache(&self, live: &BTreeSet<Digest>) -> Result<u64> {
        let dir = self.layer_cache_dir();
        let listing = match fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(Error::io("listing the layer cache", dir, e)),
        };
        let mut freed = 0;
        for entry in listing.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMP_PREFIX) {
                continue;
            }
            if Digest::parse(&format!("sha256:{name}")).is_ok_and(|d| live.contains(&d)) {
                continue;
            }
            let path = entry.path();
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path)
                .map_err(|e| Error::io("removing a stale layer cache entry", &path, e))?;
            freed += size;
        }
        Ok(freed)
    }
}

impl Image {
    /// The uncompressed tar stream of layer `i`, through the store's decompressed-layer cache
    /// (see [`Store::open_layer_cached`]). An image whose config does not list a diff_id for
    /// every layer is read from its blobs.
    pub fn open_layer_cached(&self, store: &Store, i: usize) -> Result<LayerReader> {
        let diff_ids = self.config.rootfs().diff_ids();
        match (self.layers().get(i), diff_ids.get(i)) {
            (Some(desc), Some(d)) if diff_ids.len() == self.layers().len() => {
                let diff_id = Digest::parse(d)?;
                store.open_layer_cached(desc, &diff_id)
            }
            _ => Ok(LayerReader::stream(self.open_layer(store, i)?)),
        }
    }
}
