//! qcow2 images written straight from the disk model, as `qemu-img convert -c -O qcow2`
//! followed by `qemu-img resize` would leave them: every non-zero 64 KiB cluster deflated
//! (raw deflate, 4 KiB window, level 6, as QEMU does) and stored compressed when that is
//! smaller than a cluster, otherwise stored as is; zero clusters and the area grown by a larger
//! virtual size stay unallocated.
//!
//! Clusters are compressed on worker threads and written in disk order, so the output does not
//! depend on the thread count. File layout: header, L1 table, the data clusters (compressed
//! clusters packed back to back), then the L2 tables, the refcount table and refcount blocks;
//! the header and L1 table are written last. Not here: backing files, snapshots, encryption,
//! zstd, extended L2 entries.

pub mod format;

use crate::disk::{Disk, is_zero};
use crate::output::{BufferedAt, put_at, set_len, write_atomically};
use crate::par::{default_threads, ordered_map};
use crate::{Error, virtual_size};
use flate2::{Compress, Compression, FlushCompress, Status};
use format::{CLUSTER, ENTRY_BYTES, L2_ENTRIES};
use std::collections::BTreeMap;
use std::path::Path;

/// Options for [`write`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Virtual size; larger than the disk means the tail reads as zeros and is unallocated
    /// (`qemu-img resize`). Default: the disk's size.
    pub virtual_size: Option<u64>,
    /// Compress clusters (`qemu-img convert -c`).
    pub compress: bool,
    /// Compression threads; default: the available parallelism.
    pub threads: Option<usize>,
}

/// Clusters per job handed to a worker.
const BATCH: usize = 16;

/// How one cluster is stored.
enum Stored {
    Zero,
    Compressed(Vec<u8>),
    Plain(Vec<u8>),
}

/// Writes `disk` to `dest` as a qcow2 image.
pub fn write(disk: &Disk, dest: &Path, options: &Options) -> Result<(), Error> {
    let size = virtual_size(disk, options.virtual_size)?;
    let l1_entries = size.div_ceil(CLUSTER * L2_ENTRIES);
    if l1_entries > u64::from(u32::MAX) {
        return Err(Error::Unsupported {
            format: "qcow2",
            why: format!("virtual size {size}"),
        });
    }
    let l1_clusters = (l1_entries * ENTRY_BYTES).div_ceil(CLUSTER).max(1);
    let threads = options.threads.unwrap_or_else(default_threads);
    let compress = options.compress;

    write_atomically(dest, |file, path| {
        let mut w = ImageWriter {
            out: BufferedAt::new(file, path),
            pos: (1 + l1_clusters) * CLUSTER,
            l2: BTreeMap::new(),
            refcounts: Vec::new(),
        };
        // Header and L1 clusters are referenced once.
        for c in 0..1 + l1_clusters {
            w.add_ref(c);
        }
        let mut blocks = disk.blocks(CLUSTER)?;
        let jobs = std::iter::from_fn(|| {
            let mut batch = Vec::with_capacity(BATCH);
            for block in blocks.by_ref() {
                match block {
                    Ok(b) => batch.push(b),
                    Err(e) => return Some(Err(e)),
                }
                if batch.len() == BATCH {
                    break;
                }
            }
            (!batch.is_empty()).then_some(Ok(batch))
        });
        ordered_map(
            jobs,
            threads,
            || ClusterCompressor::new(compress),
            |c, batch: Vec<(u64, Vec<u8>)>| {
                batch
                    .into_iter()
                    .map(|(i, data)| (i, c.store(data)))
                    .collect::<Vec<_>>()
            },
            |stored| {
                for (index, s) in stored {
                    w.put_cluster(index, s)?;
                }
                Ok(())
            },
        )?;
        w.finish(size, l1_entries, l1_clusters)
    })
}

/// Per-thread deflate state.
struct ClusterCompressor {
    deflate: Option<Compress>,
    out: Vec<u8>,
}

impl ClusterCompressor {
    fn new(compress: bool) -> ClusterCompressor {
        let deflate = compress.then(|| {
            Compress::new_with_window_bits(
                Compression::default(),
                false,
                format::DEFLATE_WINDOW_BITS,
            )
        });
        ClusterCompressor {
            deflate,
            out: Vec::with_capacity(CLUSTER as usize),
        }
    }

    fn store(&mut self, data: Vec<u8>) -> Stored {
        if is_zero(&data) {
            return Stored::Zero;
        }
        let Some(deflate) = &mut self.deflate else {
            return Stored::Plain(data);
        };
        deflate.reset();
        self.out.clear();
        // QEMU stores a cluster compressed only if it fits in cluster_size - 1 bytes.
        self.out.reserve(CLUSTER as usize - 1);
        let limit = CLUSTER as usize - 1;
        match deflate.compress_vec(&data, &mut self.out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) if self.out.len() <= limit => {
                Stored::Compressed(self.out[..].to_vec())
            }
            _ => Stored::Plain(data),
        }
    }
}

/// State of an image being written: where data goes next, the L2 entries, the refcounts.
struct ImageWriter<'f> {
    out: BufferedAt<'f>,
    /// Next free byte in the data area.
    pos: u64,
    /// L2 entries by virtual cluster index (only allocated ones).
    l2: BTreeMap<u64, u64>,
    /// Refcount per host cluster.
    refcounts: Vec<u16>,
}

impl ImageWriter<'_> {
    fn add_ref(&mut self, cluster: u64) {
        let c = cluster as usize;
        if self.refcounts.len() <= c {
            self.refcounts.resize(c + 1, 0);
        }
        self.refcounts[c] += 1;
    }

    fn put_cluster(&mut self, index: u64, stored: Stored) -> Result<(), Error> {
        match stored {
            Stored::Zero => {}
            Stored::Plain(data) => {
                let at = self.pos.next_multiple_of(CLUSTER);
                self.out.write_at(at, &data)?;
                self.add_ref(at / CLUSTER);
                self.l2.insert(index, at | format::OFLAG_COPIED);
                self.pos = at + CLUSTER;
            }
            Stored::Compressed(data) => {
                let at = self.pos;
                let sector = format::COMPRESSED_SECTOR;
                let first_sector = at / sector;
                let last_sector = (at + data.len() as u64 - 1) / sector;
                // QEMU reads whole sectors: every cluster those sectors touch is referenced.
                let end = (last_sector + 1) * sector;
                for c in at / CLUSTER..end.div_ceil(CLUSTER) {
                    self.add_ref(c);
                }
                let extra = last_sector - first_sector;
                self.l2.insert(
                    index,
                    format::OFLAG_COMPRESSED | (extra << format::COMPRESSED_SECTORS_SHIFT) | at,
                );
                self.out.write_at(at, &data)?;
                self.pos = at + data.len() as u64;
            }
        }
        Ok(())
    }

    fn finish(mut self, size: u64, l1_entries: u64, l1_clusters: u64) -> Result<(), Error> {
        // Compressed data may be read up to the end of its last sector and its cluster must
        // exist: the data area ends on a cluster boundary.
        let data_end = self.pos.next_multiple_of(CLUSTER);
        self.refcounts.resize((data_end / CLUSTER) as usize, 0);

        // L2 tables, one cluster each, for the L1 slots that have allocated clusters.
        let mut l1 = vec![0u64; l1_entries as usize];
        let mut l2_tables: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        for (&index, &entry) in &self.l2 {
            let table = l2_tables
                .entry(index / L2_ENTRIES)
                .or_insert_with(|| vec![0; CLUSTER as usize]);
            let at = ((index % L2_ENTRIES) * ENTRY_BYTES) as usize;
            table[at..at + 8].copy_from_slice(&entry.to_be_bytes());
        }
        let mut next = data_end;
        for (&l1_index, table) in &l2_tables {
            self.out.write_at(next, table)?;
            l1[l1_index as usize] = next | format::OFLAG_COPIED;
            self.add_ref(next / CLUSTER);
            next += CLUSTER;
        }

        // Refcount table and blocks cover every cluster, themselves included.
        let before = next / CLUSTER;
        let (mut rt_clusters, mut blocks) = (1u64, 1u64);
        loop {
            let total = before + rt_clusters + blocks;
            let need_blocks = total.div_ceil(format::REFCOUNTS_PER_BLOCK);
            let need_rt = (need_blocks * ENTRY_BYTES).div_ceil(CLUSTER);
            if need_blocks == blocks && need_rt == rt_clusters {
                break;
            }
            (blocks, rt_clusters) = (need_blocks, need_rt);
        }
        let rt_offset = next;
        let blocks_offset = rt_offset + rt_clusters * CLUSTER;
        for c in before..before + rt_clusters + blocks {
            self.add_ref(c);
        }
        let mut table = vec![0u8; (rt_clusters * CLUSTER) as usize];
        for b in 0..blocks {
            let at = (b * ENTRY_BYTES) as usize;
            table[at..at + 8].copy_from_slice(&(blocks_offset + b * CLUSTER).to_be_bytes());
        }
        self.out.write_at(rt_offset, &table)?;
        let mut block = vec![0u8; (blocks * CLUSTER) as usize];
        for (i, &r) in self.refcounts.iter().enumerate() {
            block[i * 2..i * 2 + 2].copy_from_slice(&r.to_be_bytes());
        }
        self.out.write_at(blocks_offset, &block)?;
        self.out.flush()?;
        let file_end = blocks_offset + blocks * CLUSTER;

        // L1 table and header last.
        let mut l1_bytes = vec![0u8; (l1_clusters * CLUSTER) as usize];
        for (i, e) in l1.iter().enumerate() {
            l1_bytes[i * 8..i * 8 + 8].copy_from_slice(&e.to_be_bytes());
        }
        let (file, path) = (self.out.file, self.out.path);
        put_at(file, path, CLUSTER, &l1_bytes)?;
        put_at(
            file,
            path,
            0,
            &header(size, l1_entries, rt_offset, rt_clusters),
        )?;
        set_len(file, path, file_end)
    }
}

fn header(size: u64, l1_entries: u64, rt_offset: u64, rt_clusters: u64) -> Vec<u8> {
    use format::header as h;
    let mut b = vec![0u8; CLUSTER as usize];
    let put32 = |b: &mut [u8], at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    put32(&mut b, h::MAGIC, format::MAGIC);
    put32(&mut b, h::VERSION, format::VERSION);
    put32(&mut b, h::CLUSTER_BITS, format::CLUSTER_BITS);
    b[h::SIZE..h::SIZE + 8].copy_from_slice(&size.to_be_bytes());
    put32(&mut b, h::L1_SIZE, l1_entries as u32);
    b[h::L1_TABLE_OFFSET..h::L1_TABLE_OFFSET + 8].copy_from_slice(&CLUSTER.to_be_bytes());
    b[h::REFCOUNT_TABLE_OFFSET..h::REFCOUNT_TABLE_OFFSET + 8]
        .copy_from_slice(&rt_offset.to_be_bytes());
    put32(&mut b, h::REFCOUNT_TABLE_CLUSTERS, rt_clusters as u32);
    put32(&mut b, h::REFCOUNT_ORDER, format::REFCOUNT_ORDER);
    put32(&mut b, h::HEADER_LENGTH, format::HEADER_LENGTH);
    b[h::COMPRESSION_TYPE] = format::COMPRESSION_DEFLATE;
    // Header extension area: only the end marker (type 0, length 0), already zero.
    debug_assert!(h::EXTENSIONS + 8 <= b.len());
    b
}
