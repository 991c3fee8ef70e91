//! LIVE_UPDATE: refreshing an existing live.qcow2 in place instead of converting the whole
//! disk again.
//!
//! EVE's `make LIVE_UPDATE=1 live` builds an ext4 rootfs and untars the new rootfs tar into
//! partition 2 of the existing live.qcow2 with guestfish (a libguestfs appliance VM), so the
//! image drifts from what a full build would make (deleted files stay, the filesystem's
//! layout differs). evebuild keeps its usual guarantee instead: after an update the image's
//! contents are exactly those of a full build, only stored differently.
//!
//! How: every qcow2 evebuild writes is remembered in `.evebuild/<name>.extents.json` — the
//! disk model's extents (offset, length, and a digest: the recorded SHA-256 of the artifact a
//! file extent comes from, or of the bytes) and the qcow2 file's size and time. With
//! LIVE_UPDATE set, when the qcow2 on disk is the one remembered and its virtual size is the
//! one wanted, only the clusters overlapping extents that changed (or went away) are looked
//! at: each is compared with the old image's cluster (inflated if compressed) and, when it
//! differs, written uncompressed into a free cluster of the file (or appended), its L2 entry
//! repointed and the refcounts adjusted — the old cluster's references dropped exactly as the
//! writer counted them, so `qemu-img check` stays clean. Typically that is the rootfs
//! partition's changed clusters and the GPT (whose GUIDs follow the rootfs). The record is
//! removed before the file is touched, so an interrupted update leads to a full rebuild.
//!
//! Left out: images this module cannot account for (another qcow2 version, cluster size or
//! refcount width, snapshots, a refcount table that would need to grow) — those are simply
//! rebuilt in full. Uncompressed updates make the file grow by the changed clusters; a full
//! build (`evebuild live` without LIVE_UPDATE, or `--force`) compacts it again.

use crate::state::State;
use anyhow::{Context as _, Result, bail};
use evebuild_disk::qcow2::format::{
    self as q, CLUSTER, COMPRESSED_SECTOR, COMPRESSED_SECTORS_SHIFT, ENTRY_BYTES, L2_ENTRIES,
    OFLAG_COMPRESSED, OFLAG_COPIED, REFCOUNTS_PER_BLOCK,
};
use evebuild_disk::{Content, Disk};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Host-offset bits of a standard L1/L2 entry (bits 9–55).
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L2 entry flag: the cluster reads as zeros (qcow2 v3).
const OFLAG_ZERO: u64 = 1;

/// One placed extent, as remembered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RememberedExtent {
    offset: u64,
    len: u64,
    digest: String,
}

/// What is remembered of a written qcow2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Remembered {
    virtual_size: u64,
    extents: Vec<RememberedExtent>,
    file_size: u64,
    file_mtime_ns: i128,
}

/// What an in-place update did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UpdateStats {
    /// Clusters compared.
    pub examined: u64,
    /// Clusters rewritten (or zeroed).
    pub rewritten: u64,
}

fn record_path(image: &Path) -> PathBuf {
    let name = image.file_name().unwrap_or_default().to_string_lossy();
    image
        .parent()
        .unwrap_or(Path::new("."))
        .join(".evebuild")
        .join(format!("{name}.extents.json"))
}

fn stat(p: &Path) -> Option<(u64, i128)> {
    let m = std::fs::metadata(p).ok()?;
    Some((
        m.size(),
        i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
    ))
}

/// The extents of `disk` with their digests (`None`: one of them cannot be identified
/// without reading it, so nothing can be remembered).
fn extents(disk: &Disk, state: &State) -> Option<Vec<RememberedExtent>> {
    disk.extents()
        .iter()
        .map(|e| {
            let digest = match &e.content {
                Content::Zeros => "zeros".to_string(),
                Content::Bytes(b) => hex::encode(Sha256::digest(b)),
                Content::File { path, offset, .. } => {
                    format!("{}@{offset}", state.recorded_sha256(path)?)
                }
            };
            Some(RememberedExtent {
                offset: e.offset,
                len: e.len,
                digest,
            })
        })
        .collect()
}

/// Remembers the qcow2 just written at `image` for a later in-place update.
pub fn remember(disk: &Disk, image: &Path, virtual_size: u64, state: &State) -> Result<()> {
    let rec = record_path(image);
    let (Some(extents), Some((file_size, file_mtime_ns))) = (extents(disk, state), stat(image))
    else {
        let _ = std::fs::remove_file(&rec);
        return Ok(());
    };
    let r = Remembered {
        virtual_size,
        extents,
        file_size,
        file_mtime_ns,
    };
    crate::artifact::write_bytes(&rec, &serde_json::to_vec_pretty(&r)?)
}

/// Byte ranges where the disk described by `old` and `new` may differ.
fn changed_ranges(old: &[RememberedExtent], new: &[RememberedExtent]) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = old
        .iter()
        .filter(|e| !new.contains(e))
        .chain(new.iter().filter(|e| !old.contains(e)))
        .map(|e| e.offset..e.offset + e.len)
        .collect();
    out.sort_by_key(|r| r.start);
    out
}

/// Updates `image` in place to hold `disk` when it is the remembered result of an earlier
/// build; returns `None` (nothing touched) when a full write is needed instead.
pub fn try_update(
    disk: &Disk,
    image: &Path,
    virtual_size: u64,
    state: &State,
) -> Result<Option<UpdateStats>> {
    let rec = record_path(image);
    let Some(old) = std::fs::read(&rec)
        .ok()
        .and_then(|b| serde_json::from_slice::<Remembered>(&b).ok())
    else {
        return Ok(None);
    };
    let Some(new) = extents(disk, state) else {
        return Ok(None);
    };
    if old.virtual_size != virtual_size || stat(image) != Some((old.file_size, old.file_mtime_ns)) {
        return Ok(None);
    }
    let mut qcow = match Qcow2::open(image)? {
        Some(q) if q.size == virtual_size => q,
        _ => return Ok(None),
    };
    // From here on the file is changed: forget it first, so an interruption means a full build.
    std::fs::remove_file(&rec).with_context(|| format!("removing {}", rec.display()))?;
    let mut stats = UpdateStats::default();
    let mut clusters: Vec<u64> = Vec::new();
    for r in changed_ranges(&old.extents, &new) {
        let first = r.start / CLUSTER;
        let last = r.end.div_ceil(CLUSTER).min(virtual_size.div_ceil(CLUSTER));
        clusters.extend(first..last);
    }
    clusters.sort_unstable();
    clusters.dedup();
    let mut want = vec![0u8; CLUSTER as usize];
    // Holes of the new disk (sparse rootfs.img, unwritten ESP) read as zeros without reading.
    let data = disk.data_ranges()?;
    for c in clusters {
        stats.examined += 1;
        let range = c * CLUSTER..(c + 1) * CLUSTER;
        let at = data.partition_point(|r| r.end <= range.start);
        let hole = data.get(at).is_none_or(|r| r.start >= range.end);
        if hole {
            if qcow.is_unallocated(c)? {
                continue;
            }
            want.fill(0);
        } else {
            disk.read_at(c * CLUSTER, &mut want)?;
        }
        let have = qcow.read_cluster(c)?;
        if have == want {
            continue;
        }
        qcow.write_cluster(c, &want)?;
        stats.rewritten += 1;
    }
    qcow.finish()?;
    Ok(Some(stats))
}

impl super::Build<'_> {
    /// LIVE_UPDATE's fast path for `image`: true when it was updated in place to hold `disk`.
    pub fn update_in_place(&self, disk: &Disk, image: &Path, virtual_size: u64) -> Result<bool> {
        let Some(stats) = try_update(disk, image, virtual_size, &self.state)? else {
            self.progress.note(&format!(
                "LIVE_UPDATE: {} is not a previous build's image of this layout; writing it in full",
                image.display()
            ));
            return Ok(false);
        };
        self.progress.note(&format!(
            "LIVE_UPDATE: {} updated in place ({} of {} clusters examined rewritten)",
            image.display(),
            stats.rewritten,
            stats.examined
        ));
        Ok(true)
    }
}

/// An open qcow2 image of the kind evebuild writes (v3, 64 KiB clusters, 16-bit refcounts).
struct Qcow2 {
    file: File,
    path: PathBuf,
    size: u64,
    l1: Vec<u64>,
    l1_offset: u64,
    l1_dirty: bool,
    /// L2 tables read or made, by L1 index, with whether they changed.
    l2: BTreeMap<u64, (Vec<u64>, bool)>,
    rt_offset: u64,
    rt_capacity: u64,
    refcount_blocks: Vec<u64>,
    refcounts: Vec<u16>,
    /// Lowest cluster index that may be free.
    free_hint: u64,
}

impl Qcow2 {
    fn err(&self, what: impl std::fmt::Display) -> anyhow::Error {
        anyhow::anyhow!("{}: {what}", self.path.display())
    }

    fn read_at(&self, at: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, at)
            .with_context(|| format!("reading {} at {at}", self.path.display()))?;
        Ok(buf)
    }

    fn write_at(&self, at: u64, data: &[u8]) -> Result<()> {
        self.file
            .write_all_at(data, at)
            .with_context(|| format!("writing {} at {at}", self.path.display()))
    }

    /// Opens `path`; `None` when it is not an image this module can update.
    fn open(path: &Path) -> Result<Option<Qcow2>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut h = vec![0u8; 112];
        if file.read_exact_at(&mut h, 0).is_err() {
            return Ok(None);
        }
        let u32_at = |at: usize| u32::from_be_bytes(h[at..at + 4].try_into().expect("4"));
        let u64_at = |at: usize| u64::from_be_bytes(h[at..at + 8].try_into().expect("8"));
        use q::header as f;
        let supported = u32_at(f::MAGIC) == q::MAGIC
            && u32_at(f::VERSION) == q::VERSION
            && u32_at(f::CLUSTER_BITS) == q::CLUSTER_BITS
            && u32_at(f::REFCOUNT_ORDER) == q::REFCOUNT_ORDER
            && u64_at(8) == 0 // no backing file
            && u32_at(32) == 0 // no encryption
            && u32_at(60) == 0 // no snapshots
            && u64_at(72) == 0 // no incompatible features
            && h[f::COMPRESSION_TYPE] == q::COMPRESSION_DEFLATE;
        if !supported {
            return Ok(None);
        }
        let size = u64_at(f::SIZE);
        let l1_entries = u64::from(u32_at(f::L1_SIZE));
        let l1_offset = u64_at(f::L1_TABLE_OFFSET);
        let rt_offset = u64_at(f::REFCOUNT_TABLE_OFFSET);
        let rt_clusters = u64::from(u32_at(f::REFCOUNT_TABLE_CLUSTERS));
        let mut q = Qcow2 {
            file,
            path: path.to_path_buf(),
            size,
            l1: Vec::new(),
            l1_offset,
            l1_dirty: false,
            l2: BTreeMap::new(),
            rt_offset,
            rt_capacity: rt_clusters * CLUSTER / ENTRY_BYTES,
            refcount_blocks: Vec::new(),
            refcounts: Vec::new(),
            free_hint: 1,
        };
        let l1 = q.read_at(l1_offset, (l1_entries * ENTRY_BYTES) as usize)?;
        q.l1 = be64s(&l1);
        let rt = q.read_at(rt_offset, (rt_clusters * CLUSTER) as usize)?;
        q.refcount_blocks = be64s(&rt);
        while q.refcount_blocks.last() == Some(&0) {
            q.refcount_blocks.pop();
        }
        for (i, &b) in q.refcount_blocks.clone().iter().enumerate() {
            if b == 0 {
                bail!(q.err(format!("refcount block {i} is missing")));
            }
            let block = q.read_at(b, CLUSTER as usize)?;
            q.refcounts.extend(
                block
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]])),
            );
        }
        Ok(Some(q))
    }

    fn l2_table(&mut self, l1_index: u64) -> Result<&mut (Vec<u64>, bool)> {
        if !self.l2.contains_key(&l1_index) {
            let entry = self.l1[l1_index as usize] & OFFSET_MASK;
            let table = if entry == 0 {
                vec![0; L2_ENTRIES as usize]
            } else {
                be64s(&self.read_at(entry, CLUSTER as usize)?)
            };
            self.l2.insert(l1_index, (table, false));
        }
        Ok(self.l2.get_mut(&l1_index).expect("inserted"))
    }

    fn l2_entry(&mut self, cluster: u64) -> Result<u64> {
        let t = self.l2_table(cluster / L2_ENTRIES)?;
        Ok(t.0[(cluster % L2_ENTRIES) as usize])
    }

    /// Host clusters a compressed cluster's data touches.
    fn compressed_span(entry: u64) -> (u64, usize, Range<u64>) {
        let offset = entry & ((1 << COMPRESSED_SECTORS_SHIFT) - 1);
        let sectors = ((entry & !OFLAG_COMPRESSED) >> COMPRESSED_SECTORS_SHIFT) + 1;
        let end = (offset / COMPRESSED_SECTOR + sectors) * COMPRESSED_SECTOR;
        (
            offset,
            (end - offset) as usize,
            offset / CLUSTER..end.div_ceil(CLUSTER),
        )
    }

    /// True when the guest cluster has no data (reads as zeros without being stored).
    fn is_unallocated(&mut self, cluster: u64) -> Result<bool> {
        let entry = self.l2_entry(cluster)?;
        Ok(entry & OFLAG_COMPRESSED == 0 && (entry & OFFSET_MASK == 0 || entry & OFLAG_ZERO != 0))
    }

    /// The guest cluster's current contents.
    fn read_cluster(&mut self, cluster: u64) -> Result<Vec<u8>> {
        let entry = self.l2_entry(cluster)?;
        if entry & OFLAG_COMPRESSED != 0 {
            let (offset, len, _) = Self::compressed_span(entry);
            let avail = self.file.metadata()?.len().saturating_sub(offset) as usize;
            let data = self.read_at(offset, len.min(avail))?;
            let mut out = Vec::with_capacity(CLUSTER as usize);
            let mut d = flate2::Decompress::new_with_window_bits(false, q::DEFLATE_WINDOW_BITS);
            d.decompress_vec(&data, &mut out, flate2::FlushDecompress::Finish)
                .map_err(|e| self.err(format!("inflating guest cluster {cluster}: {e}")))?;
            if out.len() != CLUSTER as usize {
                bail!(self.err(format!(
                    "guest cluster {cluster} inflates to {} bytes",
                    out.len()
                )));
            }
            return Ok(out);
        }
        let host = entry & OFFSET_MASK;
        if host == 0 || entry & OFLAG_ZERO != 0 {
            return Ok(vec![0; CLUSTER as usize]);
        }
        self.read_at(host, CLUSTER as usize)
    }

    fn refcount_mut(&mut self, host: u64) -> &mut u16 {
        if self.refcounts.len() <= host as usize {
            self.refcounts.resize(host as usize + 1, 0);
        }
        &mut self.refcounts[host as usize]
    }

    fn release(&mut self, host: u64) -> Result<()> {
        let r = self.refcount_mut(host);
        if *r == 0 {
            bail!(self.err(format!(
                "cluster {host} is referenced more often than counted"
            )));
        }
        *r -= 1;
        if *r == 0 {
            self.free_hint = self.free_hint.min(host);
        }
        Ok(())
    }

    /// A free host cluster (refcount 0), now counted once.
    fn allocate(&mut self) -> u64 {
        let mut c = self.free_hint.max(1);
        while (c as usize) < self.refcounts.len() && self.refcounts[c as usize] != 0 {
            c += 1;
        }
        *self.refcount_mut(c) = 1;
        self.free_hint = c + 1;
        c
    }

    /// Points guest `cluster` at new contents `data` (all zeros: unallocated).
    fn write_cluster(&mut self, cluster: u64, data: &[u8]) -> Result<()> {
        let old = self.l2_entry(cluster)?;
        if old & OFLAG_COMPRESSED != 0 {
            for host in Self::compressed_span(old).2 {
                self.release(host)?;
            }
        } else if old & OFFSET_MASK != 0 {
            self.release((old & OFFSET_MASK) / CLUSTER)?;
        }
        let entry = if data.iter().all(|&b| b == 0) {
            0
        } else {
            let host = self.allocate();
            self.write_at(host * CLUSTER, data)?;
            (host * CLUSTER) | OFLAG_COPIED
        };
        let l1_index = cluster / L2_ENTRIES;
        if self.l1[l1_index as usize] & OFFSET_MASK == 0 {
            self.l2_table(l1_index)?;
            let host = self.allocate();
            self.l1[l1_index as usize] = (host * CLUSTER) | OFLAG_COPIED;
            self.l1_dirty = true;
        }
        let t = self.l2_table(l1_index)?;
        t.0[(cluster % L2_ENTRIES) as usize] = entry;
        t.1 = true;
        Ok(())
    }

    /// Writes the changed L2 tables, the L1 table and the refcounts; syncs.
    fn finish(mut self) -> Result<()> {
        for (&i, (table, dirty)) in &self.l2 {
            if *dirty {
                let at = self.l1[i as usize] & OFFSET_MASK;
                self.write_at(at, &to_be64s(table))?;
            }
        }
        if self.l1_dirty {
            self.write_at(self.l1_offset, &to_be64s(&self.l1))?;
        }
        // Refcount blocks must cover every cluster in use, themselves included.
        loop {
            let used = self
                .refcounts
                .iter()
                .rposition(|&r| r != 0)
                .map_or(0, |i| i as u64 + 1);
            let need = used.div_ceil(REFCOUNTS_PER_BLOCK);
            if need <= self.refcount_blocks.len() as u64 {
                break;
            }
            if need > self.rt_capacity {
                bail!(self.err("the refcount table would have to grow; build without LIVE_UPDATE"));
            }
            let host = self.allocate();
            self.refcount_blocks.push(host * CLUSTER);
        }
        for (i, &block) in self.refcount_blocks.iter().enumerate() {
            let from = i * REFCOUNTS_PER_BLOCK as usize;
            let mut bytes = vec![0u8; CLUSTER as usize];
            for (j, r) in self
                .refcounts
                .iter()
                .skip(from)
                .take(REFCOUNTS_PER_BLOCK as usize)
                .enumerate()
            {
                bytes[j * 2..j * 2 + 2].copy_from_slice(&r.to_be_bytes());
            }
            self.write_at(block, &bytes)?;
        }
        self.write_at(self.rt_offset, &to_be64s(&self.refcount_blocks))?;
        let end = self
            .refcounts
            .iter()
            .rposition(|&r| r != 0)
            .map_or(0, |i| i as u64 + 1)
            * CLUSTER;
        let len = self.file.metadata()?.len();
        if end > len {
            self.file.set_len(end)?;
        }
        self.file
            .sync_all()
            .with_context(|| format!("syncing {}", self.path.display()))
    }
}

fn be64s(b: &[u8]) -> Vec<u64> {
    b.chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().expect("8 bytes")))
        .collect()
}

fn to_be64s(v: &[u64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_be_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_ranges_are_the_extents_not_in_both() {
        let e = |offset, len, d: &str| RememberedExtent {
            offset,
            len,
            digest: d.into(),
        };
        let old = [e(0, 10, "a"), e(100, 50, "b"), e(200, 10, "c")];
        let new = [e(0, 10, "a"), e(100, 60, "b2"), e(300, 10, "d")];
        assert_eq!(
            changed_ranges(&old, &new),
            [100..150, 100..160, 200..210, 300..310]
        );
    }
}
