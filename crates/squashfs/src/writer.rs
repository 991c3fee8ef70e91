//! The streaming writer: takes entries in stream order, writes file data as it arrives, keeps
//! only metadata, and writes the tables and the superblock in [`SquashfsWriter::finish`].
//!
//! File data: a file is read one block at a time and hashed (SHA-256) as it is read. Up to
//! [`HOLD_BLOCKS`] blocks are held back so that a file that turns out to be a duplicate of an
//! earlier one is never compressed; a longer file is compressed as it streams, and if it turns
//! out to be a duplicate its blocks are dropped and the output position rewound (nothing else
//! can have been written after them). Files smaller than a block, and with `tail_ends` the last
//! partial block of larger files, are packed into fragment blocks.

use crate::compress::{Bcj, Compression};
use crate::format::{self, MAX_IDS};
use crate::pipeline::{Done, Job, Pipeline};
use crate::tables;
use evebuild_tree::{Entry, EntryPath, Error, Kind, Sink};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Seek, SeekFrom, Write};

/// Blocks of one file held back before compression starts (4 MiB at 128 KiB blocks).
pub const HOLD_BLOCKS: usize = 32;

/// Where a squashfs image can be written: seekable, and able to cut off what lies past the end
/// (a duplicate file found last may leave bytes behind the tables).
pub trait Output: Write + Seek {
    /// Sets the length of the output.
    fn set_len(&mut self, len: u64) -> io::Result<()>;
}

impl Output for std::fs::File {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        std::fs::File::set_len(self, len)
    }
}

impl Output for io::Cursor<Vec<u8>> {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.get_mut().truncate(len as usize);
        Ok(())
    }
}

impl<O: Output + ?Sized> Output for &mut O {
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        (**self).set_len(len)
    }
}

/// Attributes of the root directory (it is never an entry of the stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RootDir {
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time.
    pub mtime: i64,
}

/// How an image is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Compressor and its settings.
    pub compression: Compression,
    /// Data block size: a power of two from 4 KiB to 1 MiB (default 128 KiB).
    pub block_size: u32,
    /// The superblock's creation time (e.g. SOURCE_DATE_EPOCH); the clock is never read.
    pub mkfs_time: u32,
    /// The root directory's attributes.
    pub root: RootDir,
    /// Modification time of directories that are implied by deeper entries.
    pub implied_dir_mtime: i64,
    /// Compression threads; 0 means one per available core.
    pub threads: usize,
    /// Store identical files once (mksquashfs does by default).
    pub dedup: bool,
    /// Pack the tail ends of files larger than a block into fragments (mksquashfs `-tailends`).
    pub tail_ends: bool,
    /// Write an export table, so the image can be exported over NFS (mksquashfs's default).
    pub exportable: bool,
    /// Store all-zero blocks as holes (mksquashfs's default).
    pub sparse: bool,
}

impl Default for Options {
    /// mksquashfs's defaults with EVE's compressor (xz, x86 and ARM filters), time 0.
    fn default() -> Self {
        Options {
            compression: Compression::default(),
            block_size: 128 * 1024,
            mkfs_time: 0,
            root: RootDir {
                mode: 0o755,
                uid: 0,
                gid: 0,
                mtime: 0,
            },
            implied_dir_mtime: 0,
            threads: 0,
            dedup: true,
            tail_ends: false,
            exportable: true,
            sparse: true,
        }
    }
}

/// What [`SquashfsWriter::finish`] reports.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Size of the image file (padded to 4 KiB).
    pub image_bytes: u64,
    /// Bytes used by the filesystem (the superblock's `bytes_used`).
    pub bytes_used: u64,
    /// Inodes written.
    pub inodes: u32,
    /// Regular files (inodes).
    pub files: u64,
    /// Directories, root included.
    pub directories: u64,
    /// Extra names of hard-linked inodes.
    pub hard_links: u64,
    /// Bytes of file contents taken in (duplicates included).
    pub file_bytes: u64,
    /// Data blocks written.
    pub data_blocks: u64,
    /// Data blocks stored as holes.
    pub sparse_blocks: u64,
    /// Fragment blocks written.
    pub fragment_blocks: u64,
    /// Files stored as a reference to an identical earlier file.
    pub duplicate_files: u64,
    /// Bytes of file contents not stored thanks to that.
    pub duplicate_bytes: u64,
    /// Data and fragment blocks by the xz filter picked for them from their content: none, x86,
    /// ARM, other (all "none" for other compressors and for [`crate::BcjChoice::Smallest`]).
    pub blocks_by_filter: [u64; 4],
    /// Timestamps outside 1970–2106 that were clamped into range.
    pub clamped_times: u64,
}

pub(crate) type InodeId = usize;
pub(crate) type DirId = usize;
/// One stored xattr: prefix id, name without the prefix, value.
pub(crate) type StoredXattr = (u16, Vec<u8>, Vec<u8>);
/// Xattrs as entries carry them: full name, value.
type XattrSet = Vec<(Vec<u8>, Vec<u8>)>;

/// Where a file's data lives.
#[derive(Debug, Default, Clone)]
pub(crate) struct FileData {
    pub size: u64,
    /// Position of the first block (set when block 0 is placed).
    pub start: Option<u64>,
    pub blocks: Vec<u32>,
    pub fragment: Option<(u32, u32)>,
    pub sparse: u64,
    /// The identical earlier file whose data this one shares.
    pub same_as: Option<InodeId>,
}

#[derive(Debug, Clone)]
pub(crate) enum InodeKind {
    Dir(DirId),
    File(FileData),
    Symlink(Vec<u8>),
    Device { block: bool, rdev: u32 },
    Fifo,
}

#[derive(Debug, Clone)]
pub(crate) struct Inode {
    pub kind: InodeKind,
    pub mode: u16,
    pub uid: u16,
    pub gid: u16,
    pub mtime: u32,
    pub xattr: u32,
    pub nlink: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Dir {
    pub inode: InodeId,
    pub children: Vec<(Vec<u8>, InodeId)>,
    pub subdirs: u32,
    pub implied: bool,
}

/// Everything kept about the tree until the tables are written.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub inodes: Vec<Inode>,
    pub dirs: Vec<Dir>,
    pub ids: Vec<u32>,
    /// Xattr sets: (prefix id, name without prefix, value).
    pub xattrs: Vec<Vec<StoredXattr>>,
    /// Fragment blocks: position and size field.
    pub fragments: Vec<(u64, u32)>,
}

/// What the next result of the pipeline belongs to.
enum Target {
    Block { inode: InodeId, index: usize },
    Fragment(usize),
    Discard,
}

/// A streaming squashfs 4.0 writer; see the crate documentation.
pub struct SquashfsWriter<W: Output> {
    out: W,
    opts: Options,
    pos: u64,
    high_water: u64,
    seek_needed: bool,
    pipeline: Pipeline,
    targets: VecDeque<Target>,
    tree: Tree,
    paths: HashMap<Vec<u8>, InodeId>,
    id_index: HashMap<u32, u16>,
    xattr_index: HashMap<XattrSet, u32>,
    dedup: HashMap<[u8; 32], InodeId>,
    frag: Vec<u8>,
    frag_filter_bytes: Vec<(Option<Bcj>, u64)>,
    stats: Stats,
}

fn unrepresentable(path: &EntryPath, what: impl Into<String>) -> Error {
    Error::Unrepresentable {
        path: path.clone(),
        what: what.into(),
        format: "squashfs",
    }
}

fn filter_slot(f: Option<Bcj>) -> usize {
    match f {
        None => 0,
        Some(Bcj::X86) => 1,
        Some(Bcj::Arm) => 2,
        Some(_) => 3,
    }
}

impl<W: Output> SquashfsWriter<W> {
    /// Starts an image in `out` (written from its current start, offset 0).
    pub fn new(mut out: W, opts: Options) -> Result<Self, Error> {
        let bs = opts.block_size;
        if !bs.is_power_of_two() || !(format::MIN_BLOCK_SIZE..=format::MAX_BLOCK_SIZE).contains(&bs)
        {
            return Err(Error::io(
                "squashfs options",
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("block size {bs} is not a power of two from 4 KiB to 1 MiB"),
                ),
            ));
        }
        opts.compression.validate().map_err(|m| {
            Error::io(
                "squashfs options",
                io::Error::new(io::ErrorKind::InvalidInput, m),
            )
        })?;
        let threads = match opts.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let pipeline = Pipeline::new(&opts.compression, bs, threads)
            .map_err(|e| Error::io("starting compression threads", e))?;
        // The superblock and compressor options are written last; leave room for them.
        let mut header = vec![0u8; format::SUPERBLOCK_SIZE];
        if let Some(rec) = opts.compression.options_record(bs) {
            header.extend_from_slice(
                &(rec.len() as u16 | format::METADATA_UNCOMPRESSED).to_le_bytes(),
            );
            header.extend_from_slice(&rec);
        }
        out.seek(SeekFrom::Start(0))
            .and_then(|_| out.write_all(&header))
            .map_err(|e| Error::io("writing the squashfs header", e))?;
        let pos = header.len() as u64;
        let mut w = SquashfsWriter {
            out,
            pos,
            high_water: pos,
            seek_needed: false,
            pipeline,
            targets: VecDeque::new(),
            tree: Tree::default(),
            paths: HashMap::new(),
            id_index: HashMap::new(),
            xattr_index: HashMap::new(),
            dedup: HashMap::new(),
            frag: Vec::new(),
            frag_filter_bytes: Vec::new(),
            stats: Stats::default(),
            opts,
        };
        let root = w.opts.root;
        let (uid, gid) = (w.id(root.uid, None)?, w.id(root.gid, None)?);
        let mtime = w.time(root.mtime);
        w.tree.dirs.push(Dir {
            inode: 0,
            children: Vec::new(),
            subdirs: 0,
            implied: false,
        });
        w.tree.inodes.push(Inode {
            kind: InodeKind::Dir(0),
            mode: (root.mode & 0o7777) as u16,
            uid,
            gid,
            mtime,
            xattr: format::INVALID_INDEX,
            nlink: 1,
        });
        Ok(w)
    }

    fn time(&mut self, t: i64) -> u32 {
        match u32::try_from(t) {
            Ok(v) => v,
            Err(_) => {
                self.stats.clamped_times += 1;
                t.clamp(0, i64::from(u32::MAX)) as u32
            }
        }
    }

    fn id(&mut self, id: u32, path: Option<&EntryPath>) -> Result<u16, Error> {
        if let Some(i) = self.id_index.get(&id) {
            return Ok(*i);
        }
        if self.tree.ids.len() >= MAX_IDS {
            let p = path
                .cloned()
                .unwrap_or_else(|| EntryPath::new("(root)").expect("valid"));
            return Err(unrepresentable(
                &p,
                format!(
                    "owner id {id}: the image already has {MAX_IDS} distinct uids and gids, \
                     the most squashfs can store; map owners to fewer ids"
                ),
            ));
        }
        let i = self.tree.ids.len() as u16;
        self.tree.ids.push(id);
        self.id_index.insert(id, i);
        Ok(i)
    }

    fn xattr(&mut self, e: &Entry) -> Result<u32, Error> {
        if e.xattrs.is_empty() {
            return Ok(format::INVALID_INDEX);
        }
        if let Some(i) = self.xattr_index.get(&e.xattrs) {
            return Ok(*i);
        }
        let mut set = Vec::with_capacity(e.xattrs.len());
        for (name, value) in &e.xattrs {
            let Some((prefix, id)) = format::XATTR_PREFIXES
                .iter()
                .find(|(p, _)| name.starts_with(p) && name.len() > p.len())
            else {
                return Err(unrepresentable(
                    &e.path,
                    format!(
                        "extended attribute {:?} (squashfs keeps only user.*, trusted.* and \
                         security.*; remove it from the input)",
                        String::from_utf8_lossy(name)
                    ),
                ));
            };
            if name.len() > 255 || value.len() > 65536 {
                return Err(unrepresentable(
                    &e.path,
                    format!(
                        "extended attribute {:?} is too long (name ≤ 255, value ≤ 65536 bytes)",
                        String::from_utf8_lossy(name)
                    ),
                ));
            }
            set.push((*id, name[prefix.len()..].to_vec(), value.clone()));
        }
        let i = self.tree.xattrs.len() as u32;
        self.tree.xattrs.push(set);
        self.xattr_index.insert(e.xattrs.clone(), i);
        Ok(i)
    }

    /// The directory at `path`, creating implied directories on the way.
    fn dir_at(&mut self, path: Option<EntryPath>, child: &EntryPath) -> Result<DirId, Error> {
        let Some(path) = path else { return Ok(0) };
        if let Some(&ino) = self.paths.get(path.as_bytes()) {
            return match self.tree.inodes[ino].kind {
                InodeKind::Dir(d) => Ok(d),
                _ => Err(unrepresentable(
                    child,
                    format!("its parent {path} is not a directory"),
                )),
            };
        }
        let parent = self.dir_at(path.parent(), &path)?;
        let mtime = self.time(self.opts.implied_dir_mtime);
        let (uid, gid) = (self.id(0, None)?, self.id(0, None)?);
        let ino = self.push_inode(
            parent,
            &path,
            Inode {
                kind: InodeKind::Dir(self.tree.dirs.len()),
                mode: 0o755,
                uid,
                gid,
                mtime,
                xattr: format::INVALID_INDEX,
                nlink: 1,
            },
        );
        Ok(self.new_dir(parent, ino, true))
    }

    fn new_dir(&mut self, parent: DirId, inode: InodeId, implied: bool) -> DirId {
        let d = self.tree.dirs.len();
        self.tree.dirs.push(Dir {
            inode,
            children: Vec::new(),
            subdirs: 0,
            implied,
        });
        self.tree.dirs[parent].subdirs += 1;
        d
    }

    fn push_inode(&mut self, parent: DirId, path: &EntryPath, inode: Inode) -> InodeId {
        let id = self.tree.inodes.len();
        self.tree.inodes.push(inode);
        self.link(parent, path, id);
        id
    }

    fn link(&mut self, parent: DirId, path: &EntryPath, id: InodeId) {
        self.tree.dirs[parent]
            .children
            .push((path.file_name().to_vec(), id));
        self.paths.insert(path.as_bytes().to_vec(), id);
    }

    fn write_at_pos(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.seek_needed {
            self.out.seek(SeekFrom::Start(self.pos))?;
            self.seek_needed = false;
        }
        self.out.write_all(bytes)?;
        self.pos += bytes.len() as u64;
        self.high_water = self.high_water.max(self.pos);
        Ok(())
    }

    /// Writes one finished block where it belongs.
    fn place(&mut self, done: io::Result<Done>) -> Result<(), Error> {
        let done = done.map_err(|e| Error::io("compressing a squashfs block", e))?;
        let target = self
            .targets
            .pop_front()
            .expect("every submitted block has a target");
        let ctx = |e| Error::io("writing squashfs data", e);
        match target {
            Target::Discard => {}
            Target::Block { inode, index } => {
                let pos = self.pos;
                let field = match done {
                    Done::Sparse(n) => {
                        self.stats.sparse_blocks += 1;
                        self.file_mut(inode).sparse += n as u64;
                        0
                    }
                    Done::Packed(p) => {
                        self.write_at_pos(p.bytes()).map_err(ctx)?;
                        self.stats.data_blocks += 1;
                        p.data_size_field()
                    }
                };
                let f = self.file_mut(inode);
                if index == 0 {
                    f.start = Some(pos);
                }
                f.blocks[index] = field;
            }
            Target::Fragment(i) => {
                let Done::Packed(p) = done else {
                    unreachable!("fragments are never checked for holes")
                };
                self.tree.fragments[i] = (self.pos, p.data_size_field());
                self.write_at_pos(p.bytes()).map_err(ctx)?;
                self.stats.fragment_blocks += 1;
            }
        }
        Ok(())
    }

    fn file_mut(&mut self, inode: InodeId) -> &mut FileData {
        match &mut self.tree.inodes[inode].kind {
            InodeKind::File(f) => f,
            _ => unreachable!("blocks belong to files"),
        }
    }

    /// Places finished blocks; waits while too many are in flight (or for all, when `all`).
    fn drain(&mut self, all: bool) -> Result<(), Error> {
        loop {
            let wait = all || self.pipeline.full();
            match self.pipeline.next_done(wait) {
                Some(d) => self.place(d)?,
                None => return Ok(()),
            }
        }
    }

    fn submit(&mut self, target: Target, job: Job) -> Result<(), Error> {
        self.stats.blocks_by_filter[filter_slot(job.filter)] += 1;
        self.targets.push_back(target);
        self.pipeline.submit(job);
        self.drain(false)
    }

    fn submit_blocks(
        &mut self,
        inode: InodeId,
        first: usize,
        blocks: Vec<Vec<u8>>,
        filter: Option<Bcj>,
    ) -> Result<(), Error> {
        for (i, data) in blocks.into_iter().enumerate() {
            let job = Job {
                data,
                filter,
                detect_sparse: self.opts.sparse,
            };
            self.submit(
                Target::Block {
                    inode,
                    index: first + i,
                },
                job,
            )?;
        }
        Ok(())
    }

    /// Drops the blocks of a file found to be a duplicate after it started streaming.
    fn discard(&mut self, inode: InodeId) {
        for t in self.targets.iter_mut() {
            if matches!(t, Target::Block { inode: i, .. } if *i == inode) {
                *t = Target::Discard;
            }
        }
        if let Some(start) = self.file_mut(inode).start {
            self.pos = start;
            self.seek_needed = true;
        }
    }

    fn flush_fragment(&mut self) -> Result<(), Error> {
        if self.frag.is_empty() {
            return Ok(());
        }
        let data = std::mem::take(&mut self.frag);
        let filter = std::mem::take(&mut self.frag_filter_bytes)
            .into_iter()
            .max_by_key(|(f, n)| (*n, f.is_none()))
            .and_then(|(f, _)| f);
        let i = self.tree.fragments.len();
        self.tree.fragments.push((0, 0));
        self.submit(
            Target::Fragment(i),
            Job {
                data,
                filter,
                detect_sparse: false,
            },
        )
    }

    fn add_to_fragment(&mut self, tail: &[u8], filter: Option<Bcj>) -> Result<(u32, u32), Error> {
        if self.frag.len() + tail.len() > self.opts.block_size as usize {
            self.flush_fragment()?;
        }
        let at = (self.tree.fragments.len() as u32, self.frag.len() as u32);
        self.frag.extend_from_slice(tail);
        match self
            .frag_filter_bytes
            .iter_mut()
            .find(|(f, _)| *f == filter)
        {
            Some((_, n)) => *n += tail.len() as u64,
            None => self.frag_filter_bytes.push((filter, tail.len() as u64)),
        }
        Ok(at)
    }

    fn read_exact(
        data: &mut dyn Read,
        buf: &mut [u8],
        path: &EntryPath,
        expected: u64,
        done: u64,
    ) -> Result<(), Error> {
        let mut got = 0;
        while got < buf.len() {
            match data.read(&mut buf[got..]) {
                Ok(0) => {
                    return Err(Error::ShortData {
                        path: path.clone(),
                        expected,
                        got: done + got as u64,
                    });
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(format!("reading {path}"), e)),
            }
        }
        Ok(())
    }

    /// Streams one file's contents into data blocks and fragments.
    fn add_data(&mut self, inode: InodeId, e: &Entry, data: &mut dyn Read) -> Result<(), Error> {
        let size = e.size();
        let bs = u64::from(self.opts.block_size);
        let to_fragment = size < bs || (self.opts.tail_ends && !size.is_multiple_of(bs));
        let nblocks = if to_fragment {
            size / bs
        } else {
            size.div_ceil(bs)
        };
        let tail_len = if to_fragment { size % bs } else { 0 };
        self.file_mut(inode).blocks = vec![0; nblocks as usize];
        self.stats.file_bytes += size;

        let mut hasher = Sha256::new();
        hasher.update(size.to_le_bytes());
        let mut held: Vec<Vec<u8>> = Vec::new();
        let mut first_held = 0usize;
        let mut filter = None;
        let mut read = 0u64;
        for i in 0..nblocks {
            let len = bs.min(size - read) as usize;
            let mut buf = vec![0u8; len];
            Self::read_exact(data, &mut buf, &e.path, size, read)?;
            read += len as u64;
            if i == 0 {
                filter = self.opts.compression.filter_for(&buf);
            }
            hasher.update(&buf);
            held.push(buf);
            if held.len() >= HOLD_BLOCKS {
                let n = held.len();
                self.submit_blocks(inode, first_held, std::mem::take(&mut held), filter)?;
                first_held += n;
            }
        }
        let mut tail = vec![0u8; tail_len as usize];
        Self::read_exact(data, &mut tail, &e.path, size, read)?;
        if nblocks == 0 {
            filter = self.opts.compression.filter_for(&tail);
        }
        hasher.update(&tail);
        let mut probe = [0u8; 1];
        if matches!(data.read(&mut probe), Ok(n) if n > 0) {
            return Err(Error::ShortData {
                path: e.path.clone(),
                expected: size,
                got: size + 1,
            });
        }
        let hash: [u8; 32] = hasher.finalize().into();

        if self.opts.dedup && size > 0 {
            if let Some(&orig) = self.dedup.get(&hash) {
                if first_held > 0 {
                    self.discard(inode);
                }
                let f = self.file_mut(inode);
                f.same_as = Some(orig);
                f.blocks.clear();
                f.start = None;
                self.stats.duplicate_files += 1;
                self.stats.duplicate_bytes += size;
                return Ok(());
            }
            self.dedup.insert(hash, inode);
        }
        self.submit_blocks(inode, first_held, held, filter)?;
        if !tail.is_empty() {
            let at = self.add_to_fragment(&tail, filter)?;
            self.file_mut(inode).fragment = Some(at);
        }
        Ok(())
    }

    /// Writes the tables and the superblock, pads the image to 4 KiB and returns the output.
    pub fn finish(mut self) -> Result<(W, Stats), Error> {
        self.flush_fragment()?;
        self.drain(true)?;
        let data_end = self.pos;
        let (tail, sb) = tables::write_tables(&mut self.tree, &self.opts, data_end)
            .map_err(|e| Error::io("writing the squashfs tables", e))?;
        let ctx = |e| Error::io("writing the squashfs image", e);
        self.write_at_pos(&tail).map_err(ctx)?;
        let bytes_used = self.pos;
        let padded = bytes_used.div_ceil(format::PAD_TO) * format::PAD_TO;
        self.write_at_pos(&vec![0u8; (padded - bytes_used) as usize])
            .map_err(ctx)?;
        let sb = format::Superblock { bytes_used, ..sb };
        self.out
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.out.write_all(&sb.to_bytes()))
            .map_err(ctx)?;
        if self.high_water > padded {
            self.out.set_len(padded).map_err(ctx)?;
        }
        self.out.flush().map_err(ctx)?;
        let mut stats = self.stats;
        stats.image_bytes = padded;
        stats.bytes_used = bytes_used;
        stats.inodes = sb.inode_count;
        for i in &self.tree.inodes {
            match i.kind {
                InodeKind::Dir(_) => stats.directories += 1,
                InodeKind::File(_) => stats.files += 1,
                _ => {}
            }
        }
        Ok((self.out, stats))
    }
}

impl<W: Output> Sink for SquashfsWriter<W> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> Result<(), Error> {
        let parent = self.dir_at(e.path.parent(), &e.path)?;
        if let Some(&existing) = self.paths.get(e.path.as_bytes()) {
            // A directory that was implied earlier may still get its own entry.
            if let (InodeKind::Dir(d), Kind::Dir) = (&self.tree.inodes[existing].kind, &e.kind) {
                let d = *d;
                if self.tree.dirs[d].implied {
                    self.tree.dirs[d].implied = false;
                    let attrs = self.attrs(e)?;
                    let ino = &mut self.tree.inodes[existing];
                    (ino.mode, ino.uid, ino.gid, ino.mtime, ino.xattr) = attrs;
                    return Ok(());
                }
            }
            return Err(Error::Duplicate(e.path.clone()));
        }
        if let Kind::Hardlink { target } = &e.kind {
            let Some(&ino) = self.paths.get(target.as_bytes()) else {
                return Err(Error::Hardlink {
                    link: e.path.clone(),
                    target: target.clone(),
                });
            };
            if matches!(self.tree.inodes[ino].kind, InodeKind::Dir(_)) {
                return Err(Error::Hardlink {
                    link: e.path.clone(),
                    target: target.clone(),
                });
            }
            self.tree.inodes[ino].nlink += 1;
            self.stats.hard_links += 1;
            self.link(parent, &e.path, ino);
            return Ok(());
        }
        let kind = match &e.kind {
            Kind::Dir => InodeKind::Dir(self.tree.dirs.len()),
            Kind::File { size } => InodeKind::File(FileData {
                size: *size,
                ..FileData::default()
            }),
            Kind::Symlink { target } => {
                if target.is_empty() || target.len() > 4095 || target.contains(&0) {
                    return Err(unrepresentable(
                        &e.path,
                        "a symlink target must be 1–4095 bytes without NUL",
                    ));
                }
                InodeKind::Symlink(target.clone())
            }
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                if *major > format::MAX_MAJOR || *minor > format::MAX_MINOR {
                    return Err(unrepresentable(
                        &e.path,
                        format!(
                            "device {major}:{minor} (squashfs keeps majors ≤ 4095 and minors \
                             ≤ 1048575)"
                        ),
                    ));
                }
                InodeKind::Device {
                    block: matches!(e.kind, Kind::BlockDevice { .. }),
                    rdev: format::encode_rdev(*major, *minor),
                }
            }
            Kind::Fifo => InodeKind::Fifo,
            Kind::Hardlink { .. } => unreachable!("handled above"),
        };
        let (mode, uid, gid, mtime, xattr) = self.attrs(e)?;
        let is_dir = matches!(kind, InodeKind::Dir(_));
        let is_file = matches!(kind, InodeKind::File(_));
        let ino = self.push_inode(
            parent,
            &e.path,
            Inode {
                kind,
                mode,
                uid,
                gid,
                mtime,
                xattr,
                nlink: 1,
            },
        );
        if is_dir {
            self.new_dir(parent, ino, false);
        }
        if is_file {
            self.add_data(ino, e, data)?;
        }
        Ok(())
    }
}

impl<W: Output> SquashfsWriter<W> {
    fn attrs(&mut self, e: &Entry) -> Result<(u16, u16, u16, u32, u32), Error> {
        let uid = self.id(e.uid, Some(&e.path))?;
        let gid = self.id(e.gid, Some(&e.path))?;
        let mtime = self.time(e.mtime);
        let xattr = self.xattr(e)?;
        Ok(((e.mode & 0o7777) as u16, uid, gid, mtime, xattr))
    }
}
