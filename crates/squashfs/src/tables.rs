//! The tables written after the data: inodes, directories, fragments, export, ids, xattrs.
//!
//! Inode numbers are given as mksquashfs gives them: depth first, each directory's entries in
//! name order, a subdirectory's contents right after the subdirectory; the root comes last and
//! its parent number is one past the last inode. Inodes are written children first, so every
//! directory listing can refer to inodes already placed; a directory's listing is split into
//! headers (at most 256 entries, one inode block, inode numbers within ±32767 of the header's)
//! and, every 8 KiB of listing, gets an index entry so the kernel's lookup can skip ahead.
//! The inode of a hard-linked file is written once and listed under each of its names.

use crate::compress::Compressor;
use crate::format::{self, MetaRef, Put, inode_type as it};
use crate::metadata::{MetadataWriter, write_lookup_table};
use crate::writer::{DirId, FileData, Inode, InodeId, InodeKind, Options, Tree};
use std::io;

struct Ctx<'a> {
    tree: &'a Tree,
    numbers: Vec<u32>,
    refs: Vec<Option<MetaRef>>,
    inodes: MetadataWriter,
    dirs: MetadataWriter,
    c: Compressor,
}

fn too_big(what: &str) -> io::Error {
    io::Error::other(format!("{what} does not fit in squashfs's 32-bit field"))
}

/// Writes all tables for data ending at `data_end`; returns their bytes (to be written there)
/// and the superblock (without `bytes_used`).
pub fn write_tables(
    tree: &mut Tree,
    opts: &Options,
    data_end: u64,
) -> io::Result<(Vec<u8>, format::Superblock)> {
    resolve_duplicates(tree);
    for d in &mut tree.dirs {
        d.children.sort_by(|a, b| a.0.cmp(&b.0));
    }
    let tree = &*tree;
    let mut ctx = Ctx {
        tree,
        numbers: vec![0; tree.inodes.len()],
        refs: vec![None; tree.inodes.len()],
        inodes: MetadataWriter::new(),
        dirs: MetadataWriter::new(),
        c: Compressor::new(&opts.compression, opts.block_size)?,
    };
    let mut next = 1u32;
    number(&mut ctx, 0, &mut next);
    ctx.numbers[0] = next;
    let inode_count = next;
    write_dir(&mut ctx, 0, inode_count + 1)?;
    let root = ctx.refs[0].expect("root written");

    let Ctx {
        inodes,
        dirs,
        mut c,
        numbers,
        refs,
        ..
    } = ctx;
    let mut sb = format::Superblock {
        inode_count,
        mkfs_time: opts.mkfs_time,
        block_size: opts.block_size,
        fragment_count: tree.fragments.len() as u32,
        compressor: opts.compression.id(),
        flags: 0,
        id_count: tree.ids.len() as u16,
        root_inode: root.packed(),
        ..Default::default()
    };
    if opts.dedup {
        sb.flags |= format::flags::DUPLICATES;
    }
    if opts.tail_ends {
        sb.flags |= format::flags::ALWAYS_FRAGMENTS;
    }
    if opts.compression.options_record(opts.block_size).is_some() {
        sb.flags |= format::flags::COMPRESSOR_OPTIONS;
    }

    let mut out = Vec::new();
    let at = |out: &Vec<u8>| data_end + out.len() as u64;
    sb.inode_table = at(&out);
    out.extend_from_slice(&inodes.finish(&mut c)?.0);
    sb.directory_table = at(&out);
    out.extend_from_slice(&dirs.finish(&mut c)?.0);

    let mut frags = Vec::with_capacity(tree.fragments.len() * format::FRAGMENT_ENTRY_SIZE);
    for (start, size) in &tree.fragments {
        frags.put_u64(*start);
        frags.put_u32(*size);
        frags.put_u32(0);
    }
    let start = at(&out);
    sb.fragment_table = write_lookup_table(&mut out, start, &frags, &[], &mut c)?;

    sb.export_table = format::INVALID_TABLE;
    if opts.exportable {
        let mut by_number = vec![0u64; inode_count as usize];
        for (ino, n) in numbers.iter().enumerate() {
            by_number[*n as usize - 1] = refs[ino].expect("every inode written").packed();
        }
        let mut table = Vec::with_capacity(by_number.len() * 8);
        for r in by_number {
            table.put_u64(r);
        }
        let start = at(&out);
        sb.export_table = write_lookup_table(&mut out, start, &table, &[], &mut c)?;
        sb.flags |= format::flags::EXPORTABLE;
    }

    let mut ids = Vec::with_capacity(tree.ids.len() * 4);
    for id in &tree.ids {
        ids.put_u32(*id);
    }
    let start = at(&out);
    sb.id_table = write_lookup_table(&mut out, start, &ids, &[], &mut c)?;

    sb.xattr_id_table = format::INVALID_TABLE;
    if !tree.xattrs.is_empty() {
        let kv_start = at(&out);
        let mut kv = MetadataWriter::new();
        let mut ids = Vec::with_capacity(tree.xattrs.len() * format::XATTR_ID_SIZE);
        for set in &tree.xattrs {
            let r = kv.position();
            let mut bytes = Vec::new();
            let mut size = 0u32;
            for (prefix, name, value) in set {
                bytes.put_u16(*prefix);
                bytes.put_u16(name.len() as u16);
                bytes.extend_from_slice(name);
                bytes.put_u32(value.len() as u32);
                bytes.extend_from_slice(value);
                let full = format::XATTR_PREFIXES[*prefix as usize].0.len() + name.len();
                size += (full + 1 + value.len()) as u32;
            }
            kv.write(&mut c, &bytes)?;
            ids.put_u64(r.packed());
            ids.put_u32(set.len() as u32);
            ids.put_u32(size);
        }
        out.extend_from_slice(&kv.finish(&mut c)?.0);
        let mut header = Vec::new();
        header.put_u64(kv_start);
        header.put_u32(tree.xattrs.len() as u32);
        header.put_u32(0);
        let start = at(&out);
        sb.xattr_id_table = write_lookup_table(&mut out, start, &ids, &header, &mut c)?;
    }
    Ok((out, sb))
}

/// A duplicate file takes the placement of the file it repeats.
fn resolve_duplicates(tree: &mut Tree) {
    for i in 0..tree.inodes.len() {
        let orig = match &tree.inodes[i].kind {
            InodeKind::File(FileData {
                same_as: Some(o), ..
            }) => *o,
            _ => continue,
        };
        let InodeKind::File(src) = tree.inodes[orig].kind.clone() else {
            unreachable!("duplicates repeat files")
        };
        if let InodeKind::File(f) = &mut tree.inodes[i].kind {
            *f = FileData {
                same_as: None,
                ..src
            };
        }
    }
}

fn child_dir(tree: &Tree, ino: InodeId) -> Option<DirId> {
    match tree.inodes[ino].kind {
        InodeKind::Dir(d) => Some(d),
        _ => None,
    }
}

fn number(ctx: &mut Ctx, dir: DirId, next: &mut u32) {
    for &(_, ino) in &ctx.tree.dirs[dir].children {
        if ctx.numbers[ino] == 0 {
            ctx.numbers[ino] = *next;
            *next += 1;
        }
        if let Some(d) = child_dir(ctx.tree, ino) {
            number(ctx, d, next);
        }
    }
}

fn basic_type(kind: &InodeKind) -> u16 {
    match kind {
        InodeKind::Dir(_) => it::DIR,
        InodeKind::File(_) => it::FILE,
        InodeKind::Symlink(_) => it::SYMLINK,
        InodeKind::Device { block: true, .. } => it::BLKDEV,
        InodeKind::Device { block: false, .. } => it::CHRDEV,
        InodeKind::Fifo => it::FIFO,
    }
}

fn header(b: &mut Vec<u8>, ty: u16, i: &Inode, number: u32) {
    b.put_u16(ty);
    b.put_u16(i.mode);
    b.put_u16(i.uid);
    b.put_u16(i.gid);
    b.put_u32(i.mtime);
    b.put_u32(number);
}

/// Writes a non-directory inode and remembers where it went.
fn write_inode(ctx: &mut Ctx, ino: InodeId) -> io::Result<()> {
    let i = &ctx.tree.inodes[ino];
    let number = ctx.numbers[ino];
    let has_xattr = i.xattr != format::INVALID_INDEX;
    let basic = basic_type(&i.kind);
    let mut b = Vec::with_capacity(64);
    match &i.kind {
        InodeKind::File(f) => {
            let start = f.start.unwrap_or(0);
            let (frag, offset) = f.fragment.unwrap_or((format::INVALID_INDEX, 0));
            let extended = i.nlink > 1
                || f.size > u64::from(u32::MAX)
                || start > u64::from(u32::MAX)
                || f.sparse > 0
                || has_xattr;
            if extended {
                header(&mut b, basic + it::EXTENDED, i, number);
                b.put_u64(start);
                b.put_u64(f.size);
                // As mksquashfs: the count of bytes in holes, below the file size.
                b.put_u64(f.sparse.min(f.size.saturating_sub(1)));
                b.put_u32(i.nlink);
                b.put_u32(frag);
                b.put_u32(offset);
                b.put_u32(i.xattr);
            } else {
                header(&mut b, basic, i, number);
                b.put_u32(start as u32);
                b.put_u32(frag);
                b.put_u32(offset);
                b.put_u32(f.size as u32);
            }
            for s in &f.blocks {
                b.put_u32(*s);
            }
        }
        InodeKind::Symlink(target) => {
            header(
                &mut b,
                basic + if has_xattr { it::EXTENDED } else { 0 },
                i,
                number,
            );
            b.put_u32(i.nlink);
            b.put_u32(target.len() as u32);
            b.extend_from_slice(target);
            if has_xattr {
                b.put_u32(i.xattr);
            }
        }
        InodeKind::Device { rdev, .. } => {
            header(
                &mut b,
                basic + if has_xattr { it::EXTENDED } else { 0 },
                i,
                number,
            );
            b.put_u32(i.nlink);
            b.put_u32(*rdev);
            if has_xattr {
                b.put_u32(i.xattr);
            }
        }
        InodeKind::Fifo => {
            header(
                &mut b,
                basic + if has_xattr { it::EXTENDED } else { 0 },
                i,
                number,
            );
            b.put_u32(i.nlink);
            if has_xattr {
                b.put_u32(i.xattr);
            }
        }
        InodeKind::Dir(_) => unreachable!("directories are written by write_dir"),
    }
    ctx.refs[ino] = Some(ctx.inodes.position());
    ctx.inodes.write(&mut ctx.c, &b)
}

/// A directory listing: its bytes and index entries (listing offset, first name).
struct Listing {
    bytes: Vec<u8>,
    index: Vec<(u32, Vec<u8>)>,
}

fn listing(ctx: &Ctx, dir: DirId) -> Listing {
    let mut l = Listing {
        bytes: Vec::new(),
        index: Vec::new(),
    };
    // Open header: its offset in the listing, entries so far, inode block, base number.
    let mut open: Option<(usize, u32, u64, u32)> = None;
    let mut chunk_start = 0usize;
    let close = |bytes: &mut Vec<u8>, (at, count, block, base): (usize, u32, u64, u32)| {
        let mut h = Vec::with_capacity(format::DIR_HEADER_SIZE);
        h.put_u32(count - 1);
        h.put_u32(block as u32);
        h.put_u32(base);
        bytes[at..at + format::DIR_HEADER_SIZE].copy_from_slice(&h);
    };
    for (name, ino) in &ctx.tree.dirs[dir].children {
        let r = ctx.refs[*ino].expect("children are written before their directory");
        let n = ctx.numbers[*ino];
        let entry_len = format::DIR_ENTRY_SIZE + name.len();
        let new_chunk =
            open.is_some() && l.bytes.len() + entry_len - chunk_start > format::METADATA_SIZE;
        let need_header = match open {
            None => true,
            Some((_, count, block, base)) => {
                count as usize == format::DIR_HEADER_MAX_ENTRIES
                    || block != r.block
                    || !(-32768..=32767).contains(&(i64::from(n) - i64::from(base)))
                    || new_chunk
            }
        };
        if need_header {
            if let Some(h) = open.take() {
                if new_chunk {
                    l.index.push((l.bytes.len() as u32, name.clone()));
                    chunk_start = l.bytes.len();
                }
                close(&mut l.bytes, h);
            }
            open = Some((l.bytes.len(), 0, r.block, n));
            l.bytes.extend_from_slice(&[0; format::DIR_HEADER_SIZE]);
        }
        let (_, count, _, base) = open.as_mut().expect("a header is open");
        l.bytes.put_u16(r.offset);
        l.bytes
            .put_u16((i64::from(n) - i64::from(*base)) as i16 as u16);
        l.bytes.put_u16(basic_type(&ctx.tree.inodes[*ino].kind));
        l.bytes.put_u16((name.len() - 1) as u16);
        l.bytes.extend_from_slice(name);
        *count += 1;
    }
    if let Some(h) = open {
        close(&mut l.bytes, h);
    }
    l
}

/// Writes a directory's subtree, its listing and its inode.
fn write_dir(ctx: &mut Ctx, dir: DirId, parent_number: u32) -> io::Result<()> {
    let tree = ctx.tree;
    let d = &tree.dirs[dir];
    let my_number = ctx.numbers[d.inode];
    for &(_, ino) in &d.children {
        match child_dir(tree, ino) {
            Some(sub) => write_dir(ctx, sub, my_number)?,
            None if ctx.refs[ino].is_none() => write_inode(ctx, ino)?,
            None => {}
        }
    }
    let l = listing(ctx, dir);
    // Place the listing, noting the directory-table block of each indexed header.
    let start = ctx.dirs.position();
    let mut index = Vec::with_capacity(l.index.len());
    let mut written = 0usize;
    for (at, name) in &l.index {
        ctx.dirs
            .write(&mut ctx.c, &l.bytes[written..*at as usize])?;
        written = *at as usize;
        index.push((*at, ctx.dirs.position().block, name));
    }
    ctx.dirs.write(&mut ctx.c, &l.bytes[written..])?;

    let i = &tree.inodes[d.inode];
    let file_size = l.bytes.len() as u64 + 3;
    let name_bytes: usize = d
        .children
        .iter()
        .map(|(n, _)| n.len() + format::DIR_ENTRY_SIZE)
        .sum();
    let extended = i.xattr != format::INVALID_INDEX
        || d.children.len() > format::DIR_HEADER_MAX_ENTRIES
        || name_bytes >= format::METADATA_SIZE
        || !index.is_empty()
        || file_size > u64::from(u16::MAX);
    let block = u32::try_from(start.block).map_err(|_| too_big("the directory table"))?;
    let nlink = 2 + d.subdirs;
    let mut b = Vec::with_capacity(40);
    if extended {
        header(&mut b, it::DIR + it::EXTENDED, i, my_number);
        b.put_u32(nlink);
        b.put_u32(u32::try_from(file_size).map_err(|_| too_big("a directory listing"))?);
        b.put_u32(block);
        b.put_u32(parent_number);
        b.put_u16(index.len() as u16);
        b.put_u16(start.offset);
        b.put_u32(i.xattr);
        for (at, iblock, name) in index {
            b.put_u32(at);
            b.put_u32(u32::try_from(iblock).map_err(|_| too_big("the directory table"))?);
            b.put_u32((name.len() - 1) as u32);
            b.extend_from_slice(name);
        }
    } else {
        header(&mut b, it::DIR, i, my_number);
        b.put_u32(block);
        b.put_u32(nlink);
        b.put_u16(file_size as u16);
        b.put_u16(start.offset);
        b.put_u32(parent_number);
    }
    ctx.refs[d.inode] = Some(ctx.inodes.position());
    ctx.inodes.write(&mut ctx.c, &b)
}
