//! A squashfs 4.0 reader that streams an image's tree into a [`Sink`], with owners, modes,
//! device numbers, hard links and xattrs — what a mount would show, without mounting.
//!
//! Why our own: backhand (the Rust squashfs crate) does not read xattrs, which the strict
//! comparison needs. Constants come from evebuild's squashfs writer ([`evebuild_squashfs::format`]).
//! Compressors: gzip, xz (any BCJ filter the stream names), zstd and lz4. Left out: the legacy
//! lzma and lzo compressors, squashfs 3.x and older, big-endian images. Inode times are passed
//! on, as the image holds them.

use evebuild_squashfs::format::{
    DATA_UNCOMPRESSED, INVALID_INDEX, INVALID_TABLE, MAGIC, METADATA_SIZE, METADATA_UNCOMPRESSED,
    SUPERBLOCK_SIZE, XATTR_PREFIXES, compressor, inode_type,
};
use evebuild_tree::{Entry, EntryPath, Error, Kind, Sink};
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Extended attributes as entries carry them: (full name, value), sorted.
type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// Xattr type flag: the value is stored out of line (a reference to another value).
const XATTR_VALUE_OOL: u16 = 0x100;
/// Entries per metadata block of the id, fragment and xattr id tables.
const IDS_PER_BLOCK: u64 = METADATA_SIZE as u64 / 4;
const FRAGMENTS_PER_BLOCK: u64 = METADATA_SIZE as u64 / 16;
const XATTR_IDS_PER_BLOCK: u64 = METADATA_SIZE as u64 / 16;

/// True when `head` (the first bytes of a file) is a squashfs superblock.
pub fn is_squashfs(head: &[u8]) -> bool {
    head.len() >= 4 && u32::from_le_bytes([head[0], head[1], head[2], head[3]]) == MAGIC
}

fn bad(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Tar(format!(
        "{}: not a readable squashfs image: {what}",
        path.display()
    ))
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// A position in a metadata table: block start relative to the table, offset in the block.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Pos {
    block: u64,
    offset: usize,
}

impl Pos {
    fn from_ref(r: u64) -> Pos {
        Pos {
            block: r >> 16,
            offset: (r & 0xffff) as usize,
        }
    }
}

struct Image<'p> {
    path: &'p Path,
    file: File,
    compressor: u16,
    block_size: u64,
    inode_table: u64,
    directory_table: u64,
    ids: Vec<u32>,
    fragments: Vec<(u64, u32)>,
    xattr_start: u64,
    xattr_ids: Vec<(u64, u32)>,
    /// Decompressed metadata blocks by absolute offset: (data, absolute offset of the next).
    cache: HashMap<u64, (Vec<u8>, u64)>,
}

impl Image<'_> {
    fn read_at(&self, at: u64, len: usize) -> Result<Vec<u8>, Error> {
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, at)
            .map_err(|e| Error::io(format!("reading {} at {at}", self.path.display()), e))?;
        Ok(buf)
    }

    fn decompress(&self, data: &[u8], max: usize) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(max);
        let res = match self.compressor {
            compressor::GZIP => flate2::read::ZlibDecoder::new(data)
                .take(max as u64)
                .read_to_end(&mut out)
                .map(|_| ()),
            compressor::XZ => liblzma::read::XzDecoder::new(data)
                .take(max as u64)
                .read_to_end(&mut out)
                .map(|_| ()),
            compressor::ZSTD => zstd::stream::read::Decoder::new(data)
                .and_then(|d| d.take(max as u64).read_to_end(&mut out))
                .map(|_| ()),
            compressor::LZ4 => match lz4_flex::block::decompress(data, max) {
                Ok(v) => {
                    out = v;
                    Ok(())
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            },
            other => {
                return Err(bad(
                    self.path,
                    format!("compressor {other} is not supported"),
                ));
            }
        };
        res.map_err(|e| bad(self.path, format!("decompressing a block: {e}")))?;
        Ok(out)
    }

    /// The metadata block at absolute offset `at`.
    fn meta_block(&mut self, at: u64) -> Result<(&[u8], u64), Error> {
        if !self.cache.contains_key(&at) {
            let h = self.read_at(at, 2)?;
            let header = le16(&h, 0);
            let size = (header & !METADATA_UNCOMPRESSED) as usize;
            let raw = self.read_at(at + 2, size)?;
            let data = if header & METADATA_UNCOMPRESSED != 0 {
                raw
            } else {
                self.decompress(&raw, METADATA_SIZE)?
            };
            self.cache.insert(at, (data, at + 2 + size as u64));
        }
        let (d, next) = &self.cache[&at];
        Ok((d, *next))
    }

    /// `len` bytes of the metadata table at `table` from `pos`; returns the position after.
    fn meta(&mut self, table: u64, mut pos: Pos, len: usize) -> Result<(Vec<u8>, Pos), Error> {
        let mut out = Vec::with_capacity(len);
        while out.len() < len {
            let (data, next) = self.meta_block(table + pos.block)?;
            if pos.offset >= data.len() {
                if data.is_empty() {
                    return Err(bad(self.path, "empty metadata block"));
                }
                pos = Pos {
                    block: next - table,
                    offset: pos.offset - data.len(),
                };
                continue;
            }
            let take = (len - out.len()).min(data.len() - pos.offset);
            out.extend_from_slice(&data[pos.offset..pos.offset + take]);
            pos.offset += take;
        }
        Ok((out, pos))
    }

    /// A lookup table: `count` records of `size` bytes in metadata blocks listed at `index`.
    fn lookup(
        &mut self,
        index: u64,
        count: u64,
        per_block: u64,
        size: usize,
    ) -> Result<Vec<u8>, Error> {
        let blocks = count.div_ceil(per_block);
        let list = self.read_at(index, blocks as usize * 8)?;
        let mut out = Vec::with_capacity(count as usize * size);
        for b in 0..blocks as usize {
            let at = le64(&list, b * 8);
            let want = ((count - b as u64 * per_block).min(per_block)) as usize * size;
            let (data, _) = self.meta(
                at,
                Pos {
                    block: 0,
                    offset: 0,
                },
                want,
            )?;
            out.extend_from_slice(&data);
        }
        Ok(out)
    }

    fn xattrs(&mut self, index: u32) -> Result<Xattrs, Error> {
        if index == INVALID_INDEX {
            return Ok(Vec::new());
        }
        let &(r, count) = self
            .xattr_ids
            .get(index as usize)
            .ok_or_else(|| bad(self.path, format!("xattr index {index} out of range")))?;
        let table = self.xattr_start;
        let mut pos = Pos::from_ref(r);
        let mut out = Vec::new();
        for _ in 0..count {
            let (h, p) = self.meta(table, pos, 4)?;
            let (ty, name_len) = (le16(&h, 0), le16(&h, 2) as usize);
            let (name, p) = self.meta(table, p, name_len)?;
            let (vs, p) = self.meta(table, p, 4)?;
            let (value, p) = self.meta(table, p, le32(&vs, 0) as usize)?;
            pos = p;
            let value = if ty & XATTR_VALUE_OOL != 0 {
                let (vs, p) = self.meta(table, Pos::from_ref(le64(&value, 0)), 4)?;
                self.meta(table, p, le32(&vs, 0) as usize)?.0
            } else {
                value
            };
            let prefix = XATTR_PREFIXES
                .iter()
                .find(|(_, id)| *id == ty & 0xff)
                .map(|(p, _)| *p)
                .ok_or_else(|| bad(self.path, format!("xattr prefix id {}", ty & 0xff)))?;
            let mut full = prefix.to_vec();
            full.extend_from_slice(&name);
            out.push((full, value));
        }
        out.sort();
        Ok(out)
    }

    fn id(&self, i: u16) -> Result<u32, Error> {
        self.ids
            .get(i as usize)
            .copied()
            .ok_or_else(|| bad(self.path, format!("id index {i} out of range")))
    }

    /// A regular file's contents.
    fn file_data(
        &mut self,
        start: u64,
        size: u64,
        fragment: u32,
        frag_offset: u32,
        sizes: &[u32],
    ) -> Result<Vec<u8>, Error> {
        let mut out = Vec::with_capacity(size as usize);
        let mut at = start;
        for &s in sizes {
            let want = (size - out.len() as u64).min(self.block_size) as usize;
            let len = (s & !DATA_UNCOMPRESSED) as usize;
            if len == 0 {
                out.resize(out.len() + want, 0);
                continue;
            }
            let raw = self.read_at(at, len)?;
            at += len as u64;
            let data = if s & DATA_UNCOMPRESSED != 0 {
                raw
            } else {
                self.decompress(&raw, self.block_size as usize)?
            };
            out.extend_from_slice(&data[..want.min(data.len())]);
        }
        if fragment != INVALID_INDEX && (out.len() as u64) < size {
            let &(fstart, fsize) = self
                .fragments
                .get(fragment as usize)
                .ok_or_else(|| bad(self.path, format!("fragment {fragment} out of range")))?;
            let len = (fsize & !DATA_UNCOMPRESSED) as usize;
            let raw = self.read_at(fstart, len)?;
            let block = if fsize & DATA_UNCOMPRESSED != 0 {
                raw
            } else {
                self.decompress(&raw, self.block_size as usize)?
            };
            let want = (size - out.len() as u64) as usize;
            let from = frag_offset as usize;
            let piece = block
                .get(from..from + want)
                .ok_or_else(|| bad(self.path, "fragment shorter than the file's tail"))?;
            out.extend_from_slice(piece);
        }
        if out.len() as u64 != size {
            return Err(bad(self.path, "file data shorter than its size"));
        }
        Ok(out)
    }
}

/// A parsed inode.
struct Inode {
    entry_kind: Kind,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    number: u32,
    nlink: u32,
    xattr: u32,
    dir: Option<(Pos, usize)>,
    data: Option<(u64, u64, u32, u32, Vec<u32>)>,
}

fn read_inode(img: &mut Image<'_>, at: Pos) -> Result<Inode, Error> {
    let t = img.inode_table;
    let (h, p) = img.meta(t, at, 16)?;
    let ty = le16(&h, 0);
    let mut inode = Inode {
        entry_kind: Kind::Fifo,
        mode: u32::from(le16(&h, 2)) & 0o7777,
        uid: img.id(le16(&h, 4))?,
        gid: img.id(le16(&h, 6))?,
        mtime: i64::from(le32(&h, 8)),
        number: le32(&h, 12),
        nlink: 1,
        xattr: INVALID_INDEX,
        dir: None,
        data: None,
    };
    let ext = ty > inode_type::EXTENDED;
    let base = if ext { ty - inode_type::EXTENDED } else { ty };
    match base {
        inode_type::DIR if !ext => {
            let (b, _) = img.meta(t, p, 16)?;
            let pos = Pos {
                block: u64::from(le32(&b, 0)),
                offset: le16(&b, 10) as usize,
            };
            inode.nlink = le32(&b, 4);
            inode.dir = Some((pos, le16(&b, 8) as usize));
            inode.entry_kind = Kind::Dir;
        }
        inode_type::DIR => {
            let (b, _) = img.meta(t, p, 24)?;
            inode.nlink = le32(&b, 0);
            let pos = Pos {
                block: u64::from(le32(&b, 8)),
                offset: le16(&b, 18) as usize,
            };
            inode.dir = Some((pos, le32(&b, 4) as usize));
            inode.xattr = le32(&b, 20);
            inode.entry_kind = Kind::Dir;
        }
        inode_type::FILE => {
            let (start, size, fragment, frag_offset, p) = if ext {
                let (b, p) = img.meta(t, p, 40)?;
                inode.nlink = le32(&b, 24);
                inode.xattr = le32(&b, 36);
                (le64(&b, 0), le64(&b, 8), le32(&b, 28), le32(&b, 32), p)
            } else {
                let (b, p) = img.meta(t, p, 16)?;
                (
                    u64::from(le32(&b, 0)),
                    u64::from(le32(&b, 12)),
                    le32(&b, 4),
                    le32(&b, 8),
                    p,
                )
            };
            let blocks = if fragment == INVALID_INDEX {
                size.div_ceil(img.block_size)
            } else {
                size / img.block_size
            };
            let (b, _) = img.meta(t, p, blocks as usize * 4)?;
            let sizes = (0..blocks as usize).map(|i| le32(&b, i * 4)).collect();
            inode.data = Some((start, size, fragment, frag_offset, sizes));
            inode.entry_kind = Kind::File { size };
        }
        inode_type::SYMLINK => {
            let (b, p) = img.meta(t, p, 8)?;
            inode.nlink = le32(&b, 0);
            let (target, p) = img.meta(t, p, le32(&b, 4) as usize)?;
            if ext {
                inode.xattr = le32(&img.meta(t, p, 4)?.0, 0);
            }
            inode.entry_kind = Kind::Symlink { target };
        }
        inode_type::BLKDEV | inode_type::CHRDEV => {
            let (b, p) = img.meta(t, p, 8)?;
            inode.nlink = le32(&b, 0);
            let dev = le32(&b, 4);
            let (major, minor) = ((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00));
            if ext {
                inode.xattr = le32(&img.meta(t, p, 4)?.0, 0);
            }
            inode.entry_kind = if base == inode_type::BLKDEV {
                Kind::BlockDevice { major, minor }
            } else {
                Kind::CharDevice { major, minor }
            };
        }
        inode_type::FIFO => {
            let (b, p) = img.meta(t, p, 4)?;
            inode.nlink = le32(&b, 0);
            if ext {
                inode.xattr = le32(&img.meta(t, p, 4)?.0, 0);
            }
        }
        other => {
            return Err(bad(
                img.path,
                format!("inode type {other} is not supported"),
            ));
        }
    }
    Ok(inode)
}

/// A directory's entries: (name, inode position).
fn read_dir(img: &mut Image<'_>, at: Pos, size: usize) -> Result<Vec<(Vec<u8>, Pos)>, Error> {
    let mut out = Vec::new();
    // The recorded size counts the implied "." and ".." (3 bytes).
    let mut left = size.saturating_sub(3);
    let mut pos = at;
    let t = img.directory_table;
    while left >= 12 {
        let (h, p) = img.meta(t, pos, 12)?;
        let (count, start) = (le32(&h, 0) + 1, le32(&h, 4));
        pos = p;
        left -= 12;
        for _ in 0..count {
            let (e, p) = img.meta(t, pos, 8)?;
            let name_len = le16(&e, 6) as usize + 1;
            let (name, p) = img.meta(t, p, name_len)?;
            pos = p;
            left = left.saturating_sub(8 + name_len);
            out.push((
                name,
                Pos {
                    block: u64::from(start),
                    offset: le16(&e, 0) as usize,
                },
            ));
        }
    }
    Ok(out)
}

/// Streams the tree of the squashfs image at `path` into `sink` (parents first, names in
/// byte order; later names of a multiply-linked file become hard links to the first).
pub fn read_squashfs(path: &Path, sink: &mut dyn Sink) -> Result<(), Error> {
    let file = File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let mut sb = vec![0u8; SUPERBLOCK_SIZE];
    file.read_exact_at(&mut sb, 0)
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if !is_squashfs(&sb) {
        return Err(bad(path, "no squashfs magic"));
    }
    if le16(&sb, 28) != 4 {
        return Err(bad(
            path,
            format!("version {}.{}", le16(&sb, 28), le16(&sb, 30)),
        ));
    }
    let mut img = Image {
        path,
        file,
        compressor: le16(&sb, 20),
        block_size: u64::from(le32(&sb, 12)),
        inode_table: le64(&sb, 64),
        directory_table: le64(&sb, 72),
        ids: Vec::new(),
        fragments: Vec::new(),
        xattr_start: 0,
        xattr_ids: Vec::new(),
        cache: HashMap::new(),
    };
    let id_count = u64::from(le16(&sb, 26));
    let ids = img.lookup(le64(&sb, 48), id_count, IDS_PER_BLOCK, 4)?;
    img.ids = (0..id_count as usize).map(|i| le32(&ids, i * 4)).collect();
    let frag_count = u64::from(le32(&sb, 16));
    let frag_table = le64(&sb, 80);
    if frag_count > 0 && frag_table != INVALID_TABLE {
        let f = img.lookup(frag_table, frag_count, FRAGMENTS_PER_BLOCK, 16)?;
        img.fragments = (0..frag_count as usize)
            .map(|i| (le64(&f, i * 16), le32(&f, i * 16 + 8)))
            .collect();
    }
    let xattr_table = le64(&sb, 56);
    if xattr_table != INVALID_TABLE {
        let h = img.read_at(xattr_table, 16)?;
        img.xattr_start = le64(&h, 0);
        let count = u64::from(le32(&h, 8));
        let blocks = count.div_ceil(XATTR_IDS_PER_BLOCK);
        let list = img.read_at(xattr_table + 16, blocks as usize * 8)?;
        let mut raw = Vec::new();
        for b in 0..blocks as usize {
            let want = ((count - b as u64 * XATTR_IDS_PER_BLOCK).min(XATTR_IDS_PER_BLOCK)) as usize;
            let (d, _) = img.meta(
                le64(&list, b * 8),
                Pos {
                    block: 0,
                    offset: 0,
                },
                want * 16,
            )?;
            raw.extend_from_slice(&d);
        }
        img.xattr_ids = (0..count as usize)
            .map(|i| (le64(&raw, i * 16), le32(&raw, i * 16 + 8)))
            .collect();
    }
    let root = read_inode(&mut img, Pos::from_ref(le64(&sb, 32)))?;
    let mut seen: HashMap<u32, EntryPath> = HashMap::new();
    let mut stack: Vec<(Option<EntryPath>, Inode)> = vec![(None, root)];
    while let Some((path, inode)) = stack.pop() {
        if let Some(p) = &path {
            emit(&mut img, p, &inode, &mut seen, sink)?;
        }
        if let Some((at, size)) = inode.dir {
            let mut children = read_dir(&mut img, at, size)?;
            children.sort_by(|a, b| b.0.cmp(&a.0)); // popped in byte order
            for (name, pos) in children {
                let child = match &path {
                    Some(p) => p.join(&name)?,
                    None => EntryPath::from_bytes(&name)?,
                };
                stack.push((Some(child), read_inode(&mut img, pos)?));
            }
        }
    }
    Ok(())
}

fn emit(
    img: &mut Image<'_>,
    path: &EntryPath,
    inode: &Inode,
    seen: &mut HashMap<u32, EntryPath>,
    sink: &mut dyn Sink,
) -> Result<(), Error> {
    let mut entry = Entry::new(
        path.clone(),
        inode.entry_kind.clone(),
        inode.mode,
        inode.mtime,
    );
    entry.uid = inode.uid;
    entry.gid = inode.gid;
    entry.xattrs = img.xattrs(inode.xattr)?;
    if !matches!(inode.entry_kind, Kind::Dir) && inode.nlink > 1 {
        if let Some(first) = seen.get(&inode.number) {
            entry.kind = Kind::Hardlink {
                target: first.clone(),
            };
            return sink.add(&entry, &mut std::io::empty());
        }
        seen.insert(inode.number, path.clone());
    }
    match &inode.data {
        Some((start, size, fragment, offset, sizes)) => {
            let data = img.file_data(*start, *size, *fragment, *offset, sizes)?;
            sink.add(&entry, &mut &data[..])
        }
        None => sink.add(&entry, &mut std::io::empty()),
    }
}
