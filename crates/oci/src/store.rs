//! The store: an OCI image layout on disk that linuxkit's cache (`~/.linuxkit/cache`) can share.
//!
//! Layout: `oci-layout`, `index.json` and `blobs/sha256/<hex>`, plus linuxkit's `.lock`.
//! `index.json` entries are descriptors annotated `org.opencontainers.image.ref.name=<full ref>`
//! (`docker.io/lfedge/eve-pillar:<tag>` for a multi-arch index, `…:<tag>-amd64` for one
//! architecture's image), and a new entry replaces those with the same name, as linuxkit does.
//!
//! Safety rules (hostile-inputs §2, §5):
//! - A blob is written to a unique temporary file in `blobs/sha256`, hashed while it is written,
//!   checked against the expected digest and size, fsynced, renamed to its digest and the
//!   directory fsynced. Until the rename nothing else can see it; an identical existing blob is
//!   simply replaced by the same bytes. A writer holds an fcntl lock on its temporary file, so a
//!   later [`Store::open`] can tell abandoned temporaries (killed writers) from live ones and
//!   sweeps them.
//! - `index.json` is rewritten the same way (temp + fsync + rename), under the exclusive `.lock`,
//!   and read under the shared one (linuxkit rewrites it in place).
//! - Digests are validated ([`Digest`]) before they become paths.
//!
//! What it leaves out: blob garbage collection and verification live in `maintain.rs`,
//! platform resolution in `image.rs`, the decompressed-layer cache (`evebuild/layers/`) in
//! `layer_cache.rs`.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use oci_spec::image::{Descriptor, ImageIndex, MediaType};
use rustix::fs::{FlockOperation, fcntl_lock};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::format::{
    ANNOTATION_REF_NAME, BLOBS_DIR, INDEX_FILE, MAX_DOCUMENT, MAX_STORE_INDEX, MT_OCI_INDEX,
    OCI_LAYOUT_CONTENT, OCI_LAYOUT_FILE, TEMP_PREFIX,
};
use crate::lock::{Lease, StoreLock};
use crate::reference::Reference;

/// Environment variable naming the store directory (linuxkit's).
pub const CACHE_ENV: &str = "LINUXKIT_CACHE";

/// Temporary files younger than this are never swept, even when unlocked: a writer takes its
/// lock right after creating the file, and this closes that window.
const SWEEP_MIN_AGE: Duration = Duration::from_secs(10);

/// An OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the store at `root`, creating the layout if it is missing, and sweeps temporary
    /// files abandoned by killed writers.
    pub fn open(root: &Path) -> Result<Store> {
        let blobs = root.join(BLOBS_DIR);
        fs::create_dir_all(&blobs).map_err(|e| Error::io("creating the store", &blobs, e))?;
        let store = Store {
            root: root.to_path_buf(),
        };
        let layout = root.join(OCI_LAYOUT_FILE);
        if !layout.exists() {
            store.write_file_atomic(root, OCI_LAYOUT_FILE, OCI_LAYOUT_CONTENT.as_bytes())?;
        }
        if !root.join(INDEX_FILE).exists() {
            let _lock = StoreLock::acquire(root, true)?;
            if !root.join(INDEX_FILE).exists() {
                store.write_index_file(&empty_index())?;
            }
        }
        store.sweep_temporaries()?;
        Ok(store)
    }

    /// `$LINUXKIT_CACHE`, else `~/.linuxkit/cache` (linuxkit's default).
    pub fn default_root() -> PathBuf {
        if let Some(dir) = std::env::var_os(CACHE_ENV).filter(|v| !v.is_empty()) {
            return PathBuf::from(dir);
        }
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join(".linuxkit").join("cache")
    }

    /// The store directory to use: `cache` (a `--cache` option) if given, else
    /// [`Store::default_root`].
    pub fn choose_root(cache: Option<&Path>) -> PathBuf {
        cache.map_or_else(Self::default_root, Path::to_path_buf)
    }

    /// The layout's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob with digest `d` lives (whether or not it exists).
    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.root.join(BLOBS_DIR).join(d.hex())
    }

    /// Whether the blob is present.
    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_size(d).is_some()
    }

    /// The size of the blob, if present.
    pub fn blob_size(&self, d: &Digest) -> Option<u64> {
        fs::metadata(self.blob_path(d))
            .ok()
            .filter(|m| m.is_file())
            .map(|m| m.len())
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, d: &Digest) -> Result<File> {
        let path = self.blob_path(d);
        File::open(&path).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::MissingBlob {
                    digest: d.to_string(),
                    what: "blob".into(),
                    root: self.root.clone(),
                }
            } else {
                Error::io("opening a blob", path, e)
            }
        })
    }

    /// Reads a small blob (a manifest, index or config) into memory, refusing blobs over
    /// [`MAX_DOCUMENT`].
    pub fn read_blob(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(d);
        read_capped(
            self.open_blob(d)?,
            MAX_DOCUMENT,
            &path.display().to_string(),
        )
    }

    /// Reads a small blob and checks it against its descriptor (size and digest): documents are
    /// re-hashed on every read, so a blob damaged on disk is never parsed.
    pub fn read_blob_checked(&self, desc: &Descriptor, what: &str) -> Result<Vec<u8>> {
        let d = Digest::of_descriptor(desc)?;
        if desc.size() > MAX_DOCUMENT {
            return Err(Error::Limit {
                what: format!("{what} {d}"),
                size: desc.size(),
                limit: MAX_DOCUMENT,
            });
        }
        let bytes = self.read_blob(&d).map_err(|e| match e {
            Error::MissingBlob { digest, root, .. } => Error::MissingBlob {
                digest,
                what: what.to_string(),
                root,
            },
            e => e,
        })?;
        check_bytes(
            &bytes,
            &d,
            desc.size(),
            &format!("{what} in {}", self.root.display()),
        )?;
        Ok(bytes)
    }

    /// Stores `bytes` as a blob.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<(Digest, u64)> {
        let d = Digest::of(bytes);
        if self.blob_size(&d) == Some(bytes.len() as u64) {
            return Ok((d, bytes.len() as u64));
        }
        let mut w = self.begin_blob()?;
        w.write_all(bytes)
            .map_err(|e| Error::io("writing a blob", &w.path, e))?;
        w.commit(Some(&d), Some(bytes.len() as u64), "blob")
    }

    /// Stores everything `r` yields as a blob; with `expected`, the content must have that digest
    /// or nothing is stored.
    pub fn write_blob_from(
        &self,
        mut r: impl Read,
        expected: Option<&Digest>,
    ) -> Result<(Digest, u64)> {
        let mut w = self.begin_blob()?;
        io::copy(&mut r, &mut w).map_err(|e| Error::io("writing a blob", &w.path, e))?;
        w.commit(expected, None, "blob")
    }

    /// Starts writing a blob of not yet known digest.
    pub fn begin_blob(&self) -> Result<BlobWriter> {
        let dir = self.root.join(BLOBS_DIR);
        let (file, path) = create_temp(&dir)?;
        Ok(BlobWriter {
            out: Some(BufWriter::with_capacity(1 << 18, file)),
            path,
            dir,
            hasher: Sha256::new(),
            len: 0,
        })
    }

    /// Serialises `value` as canonical JSON (sorted keys, compact), stores it, and returns its
    /// descriptor with `media_type`.
    pub fn put_json<T: Serialize>(&self, media_type: &str, value: &T) -> Result<Descriptor> {
        let bytes = canonical_json(value)?;
        let (d, size) = self.write_blob(&bytes)?;
        Ok(Descriptor::new(
            MediaType::from(media_type),
            size,
            d.to_oci(),
        ))
    }

    /// A lease keeping garbage collection away while blobs are written and then tagged: hold
    /// one from the first blob written to the last `tag` (pulls and imports do).
    pub fn lease(&self) -> Result<Lease> {
        Lease::acquire(&self.root)
    }

    /// All `index.json` entries.
    pub fn entries(&self) -> Result<Vec<Descriptor>> {
        let _lock = StoreLock::acquire(&self.root, false)?;
        Ok(self.read_index_file()?.manifests().clone())
    }

    /// Names `desc` `name` in `index.json`, replacing the entries with that name.
    pub fn tag(&self, name: &Reference, desc: Descriptor) -> Result<()> {
        Digest::of_descriptor(&desc)?;
        let full = name.to_string();
        let mut desc = desc;
        let mut annotations = desc.annotations().clone().unwrap_or_default();
        annotations.insert(ANNOTATION_REF_NAME.to_string(), full.clone());
        desc.set_annotations(Some(annotations));
        self.update_index(|entries| {
            entries.retain(|e| ref_name(e) != Some(full.as_str()));
            entries.push(desc);
        })
    }

    /// Removes the entries named `name`; returns whether there was one.
    pub fn untag(&self, name: &Reference) -> Result<bool> {
        let full = name.to_string();
        let mut found = false;
        self.update_index(|entries| {
            let before = entries.len();
            entries.retain(|e| ref_name(e) != Some(full.as_str()));
            found = entries.len() != before;
        })?;
        Ok(found)
    }

    /// The descriptor `name` stands for: by digest if it pins one (an `index.json` entry, else
    /// any stored manifest or index blob), otherwise the entry annotated with the full name.
    pub fn lookup(&self, name: &Reference) -> Result<Option<Descriptor>> {
        let entries = self.entries()?;
        if let Some(d) = name.digest() {
            if let Some(e) = entries.iter().find(|e| e.digest().as_ref() == d.as_str()) {
                return Ok(Some(e.clone()));
            }
            if let Some(size) = self.blob_size(d) {
                let bytes = self.read_blob(d)?;
                let kind = crate::document::Document::parse(&bytes, None, d.as_str())?;
                return Ok(Some(Descriptor::new(
                    MediaType::from(kind.media_type().as_str()),
                    size,
                    d.to_oci(),
                )));
            }
            return Ok(None);
        }
        let full = name.to_string();
        Ok(entries
            .into_iter()
            .find(|e| ref_name(e) == Some(full.as_str())))
    }

    /// Runs `change` on the entries of `index.json` under the exclusive lock and writes the
    /// result atomically.
    fn update_index(&self, change: impl FnOnce(&mut Vec<Descriptor>)) -> Result<()> {
        let _lock = StoreLock::acquire(&self.root, true)?;
        let mut index = self.read_index_file()?;
        let mut entries = index.manifests().clone();
        change(&mut entries);
        index.set_manifests(entries);
        self.write_index_file(&index)
    }

    fn read_index_file(&self) -> Result<ImageIndex> {
        let path = self.root.join(INDEX_FILE);
        let file = File::open(&path).map_err(|e| Error::io("reading the store index", &path, e))?;
        let bytes = read_capped(file, MAX_STORE_INDEX, &path.display().to_string())?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::media(
                path.display().to_string(),
                format!(
                    "not a valid OCI index ({e}); the store is damaged: run `evebuild cache verify`, \
                     or remove {} to start afresh",
                    path.display()
                ),
            )
        })
    }

    fn write_index_file(&self, index: &ImageIndex) -> Result<()> {
        // linuxkit (ggcr) indents index.json with three spaces; keep it diff-friendly alike.
        let value = sorted_value(index)?;
        let mut out = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"   ");
        let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
        value
            .serialize(&mut ser)
            .map_err(|e| Error::media(INDEX_FILE, e.to_string()))?;
        self.write_file_atomic(&self.root, INDEX_FILE, &out)
    }

    /// Writes `dir/name` via a locked temporary file, fsync and rename, then fsyncs `dir`.
    pub(crate) fn write_file_atomic(&self, dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
        let (mut file, tmp) = create_temp(dir)?;
        let result = (|| {
            file.write_all(bytes)?;
            file.sync_all()
        })();
        let dest = dir.join(name);
        if let Err(e) = result.and_then(|_| fs::rename(&tmp, &dest)) {
            let _ = fs::remove_file(&tmp);
            return Err(Error::io("writing", dest, e));
        }
        sync_dir(dir)
    }

    /// Removes temporary files left by writers that died (their lock is no longer held).
    pub fn sweep_temporaries(&self) -> Result<usize> {
        let mut removed = 0;
        for dir in [
            self.root.clone(),
            self.root.join(BLOBS_DIR),
            self.layer_cache_dir(),
        ] {
            let listing = match fs::read_dir(&dir) {
                Ok(l) => l,
                Err(e) if e.kind() == io::ErrorKind::NotFound && dir != self.root => continue,
                Err(e) => return Err(Error::io("listing", dir, e)),
            };
            for entry in listing.flatten() {
                let name = entry.file_name();
                let Some(name) = name.to_str() else { continue };
                if !name.starts_with(TEMP_PREFIX) || is_own_temp(name) {
                    continue;
                }
                let path = entry.path();
                if abandoned(&path) && fs::remove_file(&path).is_ok() {
                    tracing::debug!("removed abandoned temporary file {}", path.display());
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// A blob being written: hashes what it is given; [`BlobWriter::commit`] verifies and publishes
/// it, dropping it without commit removes the temporary file.
pub struct BlobWriter {
    out: Option<BufWriter<File>>,
    path: PathBuf,
    dir: PathBuf,
    hasher: Sha256,
    len: u64,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets everything written (a download restarts from byte 0).
    pub fn reset(&mut self) -> Result<()> {
        let out = self.out.as_mut().expect("writer is open until commit");
        let r = out.flush().and_then(|_| {
            let f = out.get_mut();
            f.set_len(0)?;
            io::Seek::seek(f, io::SeekFrom::Start(0)).map(|_| ())
        });
        r.map_err(|e| Error::io("restarting a blob", &self.path, e))?;
        self.hasher = Sha256::new();
        self.len = 0;
        Ok(())
    }

    /// Checks the content against `expected` digest and size (`what` names it in errors), then
    /// makes it visible under its digest. On any mismatch the temporary file is removed.
    pub fn commit(
        mut self,
        expected: Option<&Digest>,
        size: Option<u64>,
        what: &str,
    ) -> Result<(Digest, u64)> {
        let mut out = self.out.take().expect("commit runs once");
        let file = out
            .flush()
            .map_err(|e| Error::io("writing a blob", &self.path, e))
            .and_then(|_| {
                out.into_inner()
                    .map_err(|e| Error::io("writing a blob", &self.path, e.into_error()))
            })?;
        let digest = Digest::from_hasher(std::mem::take(&mut self.hasher));
        if let Some(size) = size
            && size != self.len
        {
            return Err(Error::SizeMismatch {
                what: format!(
                    "{what} {}",
                    expected.map_or(digest.as_str(), |d| d.as_str())
                ),
                expected: size,
                actual: self.len,
            });
        }
        if let Some(exp) = expected
            && *exp != digest
        {
            return Err(Error::DigestMismatch {
                what: what.to_string(),
                expected: exp.to_string(),
                actual: digest.to_string(),
            });
        }
        file.sync_all()
            .map_err(|e| Error::io("syncing a blob", &self.path, e))?;
        let dest = self.dir.join(digest.hex());
        fs::rename(&self.path, &dest).map_err(|e| Error::io("publishing a blob", &dest, e))?;
        self.path = PathBuf::new();
        drop(file);
        sync_dir(&self.dir)?;
        Ok((digest, self.len))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.as_mut().expect("writer is open").write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().expect("writer is open").flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Checks `bytes` against an expected digest and size.
pub(crate) fn check_bytes(bytes: &[u8], expected: &Digest, size: u64, what: &str) -> Result<()> {
    if bytes.len() as u64 != size {
        return Err(Error::SizeMismatch {
            what: format!("{what} {expected}"),
            expected: size,
            actual: bytes.len() as u64,
        });
    }
    let actual = Digest::of(bytes);
    if actual != *expected {
        return Err(Error::DigestMismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            actual: actual.to_string(),
        });
    }
    Ok(())
}

/// Reads at most `cap` bytes; one more is an error (so a lying size cannot exhaust memory).
pub(crate) fn read_capped(r: impl Read, cap: u64, what: &str) -> Result<Vec<u8>> {
    read_capped_or(r, cap, what, |e| Error::io("reading", what, e))
}

/// [`read_capped`] with the error a failed read becomes (an HTTP body's is a network error).
pub(crate) fn read_capped_or(
    r: impl Read,
    cap: u64,
    what: &str,
    read_err: impl FnOnce(std::io::Error) -> Error,
) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    r.take(cap + 1).read_to_end(&mut buf).map_err(read_err)?;
    if buf.len() as u64 > cap {
        return Err(Error::Limit {
            what: what.to_string(),
            size: buf.len() as u64,
            limit: cap,
        });
    }
    Ok(buf)
}

/// The `org.opencontainers.image.ref.name` annotation of an entry.
pub fn ref_name(desc: &Descriptor) -> Option<&str> {
    desc.annotations()
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_REF_NAME))
        .map(String::as_str)
}

fn empty_index() -> ImageIndex {
    let mut index = ImageIndex::default();
    index.set_media_type(Some(MediaType::from(MT_OCI_INDEX)));
    index.set_manifests(Vec::new());
    index
}

/// `value` as JSON with every object's keys sorted (oci-spec keeps annotations and labels in
/// hash maps, whose order would otherwise change from run to run).
pub(crate) fn sorted_value<T: Serialize>(value: &T) -> Result<serde_json::Value> {
    fn sort(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(map) => {
                let sorted: BTreeMap<String, serde_json::Value> =
                    map.into_iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().collect())
            }
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(sort).collect())
            }
            other => other,
        }
    }
    let v =
        serde_json::to_value(value).map_err(|e| Error::media("serialising JSON", e.to_string()))?;
    Ok(sort(v))
}

/// Compact JSON with sorted keys: the bytes of every manifest, index and config evebuild writes.
pub fn canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(&sorted_value(value)?)
        .map_err(|e| Error::media("serialising JSON", e.to_string()))
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Creates `dir/.tmp.<pid>.<nonce>` exclusively and takes an fcntl lock on it that lives as long
/// as the file is open (and so as long as the writing process).
pub(crate) fn create_temp(dir: &Path) -> Result<(File, PathBuf)> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    for _ in 0..16 {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{TEMP_PREFIX}{}.{n}-{nanos:x}", std::process::id());
        let path = dir.join(name);
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                fcntl_lock(&file, FlockOperation::NonBlockingLockExclusive)
                    .map_err(|e| Error::io("locking a temporary file", &path, e.into()))?;
                return Ok((file, path));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io("creating a temporary file", path, e)),
        }
    }
    Err(Error::io(
        "creating a temporary file",
        dir,
        io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"),
    ))
}

fn is_own_temp(name: &str) -> bool {
    let pid = std::process::id().to_string();
    name[TEMP_PREFIX.len()..]
        .split('.')
        .next()
        .is_some_and(|p| p == pid)
}

/// A temporary file nobody holds the lock of, old enough not to be mid-creation.
fn abandoned(path: &Path) -> bool {
    let old_enough = fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= SWEEP_MIN_AGE);
    if !old_enough {
        return false;
    }
    let Ok(file) = OpenOptions::new().read(true).write(true).open(path) else {
        return false;
    };
    let free = fcntl_lock(&file, FlockOperation::NonBlockingLockExclusive).is_ok();
    if free {
        let _ = fcntl_lock(&file, FlockOperation::Unlock);
    }
    free
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("syncing directory", dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_roundtrip_and_mismatch_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (d, n) = store.write_blob(b"hello").unwrap();
        assert_eq!(n, 5);
        assert_eq!(store.read_blob(&d).unwrap(), b"hello");
        let wrong = Digest::of(b"other");
        let err = store
            .write_blob_from(&b"hello!"[..], Some(&wrong))
            .unwrap_err();
        assert!(err.to_string().contains(wrong.as_str()), "{err}");
        let names: Vec<_> = fs::read_dir(dir.path().join(BLOBS_DIR))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from(d.hex())]);
    }
}
