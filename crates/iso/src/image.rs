//! Laying out and writing the image. The tree is numbered into nodes (implied directories
//! added, hard links tied to their targets), named ([`crate::names`]), its directory records
//! and their Rock Ridge entries sized ([`crate::rrip`]); then every sector is assigned before
//! a byte is written, so the image is written front to back:
//!
//! system area (16 zero sectors) · primary volume descriptor · El Torito boot record ·
//! terminator · L and M path tables · directories (path table order) · Rock Ridge
//! continuation areas · boot catalog · boot image · file contents (byte order of paths).
//!
//! Empty files, symbolic links and device nodes have no contents and point at sector 0.

use crate::format::*;
use crate::names::{self, IsoName};
use crate::rrip::{self, Attrs, Packed, Special};
use crate::{Error, IsoOptions, IsoSummary, Source};
use evebuild_tree::{Entry, EntryPath, Kind};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufWriter, Read, Write};

struct Node {
    name: Vec<u8>,
    entry: Entry,
    source: Source,
    parent: usize,
    children: Vec<usize>,
    iso: IsoName,
    nlink: u32,
    /// The node whose inode (contents and attributes) this one shares: itself, or the target
    /// of a hard link.
    inode: usize,
    /// Depth below the root (the root is 0).
    depth: usize,
}

impl Node {
    fn is_dir(&self) -> bool {
        matches!(self.entry.kind, Kind::Dir)
    }
}

/// Whether node `i` has contents of its own to write (not a hard link, not empty).
fn has_contents(nodes: &[Node], i: usize) -> bool {
    let n = &nodes[i];
    n.inode == i && matches!(n.entry.kind, Kind::File { .. }) && !n.source.is_empty()
}

/// One directory record as laid out.
struct Record {
    /// The node it describes (for `.`/`..`, the directory itself / its parent).
    node: usize,
    ident: Vec<u8>,
    su: Packed,
    len: usize,
    /// Byte offset in the directory's extent.
    offset: usize,
    /// Places of the continuation areas `su.parts[1..]` (sector, byte offset).
    areas: Vec<(u32, u32)>,
}

fn sectors(bytes: u64) -> u32 {
    bytes.div_ceil(SECTOR) as u32
}

fn build_nodes(
    opts: &IsoOptions,
    entries: BTreeMap<EntryPath, (Entry, Source)>,
) -> Result<Vec<Node>, Error> {
    let root_path = EntryPath::new("root").expect("valid");
    let mut root_entry = Entry::dir(root_path, opts.root_mode, opts.timestamp);
    root_entry.uid = opts.root_uid;
    root_entry.gid = opts.root_gid;
    let mut nodes = vec![Node {
        name: Vec::new(),
        entry: root_entry,
        source: Source::Bytes(Vec::new().into()),
        parent: 0,
        children: Vec::new(),
        iso: IsoName {
            name: Vec::new(),
            ext: None,
        },
        nlink: 1,
        inode: 0,
        depth: 0,
    }];
    let mut index: HashMap<EntryPath, usize> = HashMap::new();

    fn dir_of(
        p: Option<EntryPath>,
        child: &EntryPath,
        nodes: &mut Vec<Node>,
        index: &mut HashMap<EntryPath, usize>,
        time: i64,
    ) -> Result<usize, Error> {
        let Some(p) = p else { return Ok(0) };
        if let Some(&i) = index.get(&p) {
            if !nodes[i].is_dir() {
                return Err(Error::ParentNotDirectory {
                    parent: p,
                    child: child.clone(),
                });
            }
            return Ok(i);
        }
        // A directory the stream only implies: 0755, root, the options' time.
        let parent = dir_of(p.parent(), &p, nodes, index, time)?;
        let entry = Entry::dir(p.clone(), 0o755, time);
        Ok(push(
            nodes,
            index,
            parent,
            entry,
            Source::Bytes(Vec::new().into()),
        ))
    }

    fn push(
        nodes: &mut Vec<Node>,
        index: &mut HashMap<EntryPath, usize>,
        parent: usize,
        entry: Entry,
        source: Source,
    ) -> usize {
        let i = nodes.len();
        index.insert(entry.path.clone(), i);
        nodes[parent].children.push(i);
        nodes.push(Node {
            name: entry.path.file_name().to_vec(),
            depth: nodes[parent].depth + 1,
            entry,
            source,
            parent,
            children: Vec::new(),
            iso: IsoName {
                name: Vec::new(),
                ext: None,
            },
            nlink: 1,
            inode: i,
        });
        i
    }

    for (path, (entry, source)) in entries {
        let parent = dir_of(path.parent(), &path, &mut nodes, &mut index, opts.timestamp)?;
        push(&mut nodes, &mut index, parent, entry, source);
    }

    // Hard links share their target's contents and attributes; the target counts them.
    for i in 0..nodes.len() {
        if let Kind::Hardlink { target } = &nodes[i].entry.kind {
            let t = index
                .get(target)
                .copied()
                .filter(|&t| matches!(nodes[t].entry.kind, Kind::File { .. }))
                .ok_or_else(|| evebuild_tree::Error::Hardlink {
                    link: nodes[i].entry.path.clone(),
                    target: target.clone(),
                })?;
            nodes[i].inode = t;
            nodes[t].nlink += 1;
        }
    }
    for i in 0..nodes.len() {
        if nodes[i].is_dir() {
            let subdirs = nodes[i]
                .children
                .iter()
                .filter(|&&c| nodes[c].is_dir())
                .count();
            nodes[i].nlink = 2 + subdirs as u32;
            if nodes[i].depth + 1 > MAX_LEVELS {
                return Err(Error::TooDeep(nodes[i].entry.path.clone()));
            }
        }
    }
    // Level 1 names per directory, then records in identifier order.
    for i in 0..nodes.len() {
        if nodes[i].children.is_empty() {
            continue;
        }
        let kids: Vec<(Vec<u8>, bool)> = nodes[i]
            .children
            .iter()
            .map(|&c| (nodes[c].name.clone(), nodes[c].is_dir()))
            .collect();
        let refs: Vec<(&[u8], bool)> = kids.iter().map(|(n, d)| (n.as_slice(), *d)).collect();
        for (&c, iso) in nodes[i].children.clone().iter().zip(names::assign(&refs)) {
            nodes[c].iso = iso;
        }
        let mut children = std::mem::take(&mut nodes[i].children);
        children.sort_by(|&a, &b| names::record_order(&nodes[a].iso, &nodes[b].iso));
        nodes[i].children = children;
    }
    Ok(nodes)
}

fn attrs(nodes: &[Node], i: usize) -> Attrs {
    let n = &nodes[nodes[i].inode];
    Attrs {
        mode: n.entry.st_mode(),
        nlink: n.nlink,
        uid: n.entry.uid,
        gid: n.entry.gid,
        mtime: n.entry.mtime,
    }
}

/// Bytes of a directory record before its system use area: the fixed part, the identifier
/// and the pad byte that follows an identifier of even length (9.1.12).
fn head_len(ident: &[u8]) -> usize {
    DR_FIXED_LEN + ident.len() + usize::from(ident.len().is_multiple_of(2))
}

fn record(node: usize, ident: Vec<u8>, entries: Vec<Vec<u8>>) -> Record {
    let fixed = head_len(&ident);
    let su = rrip::pack(entries, DR_MAX_LEN - fixed);
    let len = (fixed + su.part_len(0)).next_multiple_of(2);
    Record {
        node,
        ident,
        su,
        len,
        offset: 0,
        areas: Vec::new(),
    }
}

/// The records of directory `d`: `.`, `..`, then its children.
fn records_of(nodes: &[Node], d: usize) -> Vec<Record> {
    let parent = nodes[d].parent;
    let mut recs = vec![
        record(
            d,
            vec![ID_SELF],
            rrip::entries(&attrs(nodes, d), None, Special::None, d == 0),
        ),
        record(
            parent,
            vec![ID_PARENT],
            rrip::entries(&attrs(nodes, parent), None, Special::None, false),
        ),
    ];
    for &c in &nodes[d].children {
        let special = match &nodes[c].entry.kind {
            Kind::Symlink { target } => Special::Symlink(target),
            Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } => {
                Special::Device(*major, *minor)
            }
            _ => Special::None,
        };
        let entries = rrip::entries(&attrs(nodes, c), Some(&nodes[c].name), special, false);
        recs.push(record(c, nodes[c].iso.identifier(), entries));
    }
    // Records never straddle a sector boundary.
    let mut offset = 0;
    for r in &mut recs {
        if offset % SECTOR as usize + r.len > SECTOR as usize {
            offset = offset.next_multiple_of(SECTOR as usize);
        }
        r.offset = offset;
        offset += r.len;
    }
    recs
}

fn record_bytes(extent: u32, size: u32, time: i64, flags: u8, ident: &[u8], su: &[u8]) -> Vec<u8> {
    let su_at = head_len(ident);
    let len = (su_at + su.len()).next_multiple_of(2);
    let mut r = vec![0u8; len];
    r[0] = len as u8;
    both32(&mut r, 2, extent);
    both32(&mut r, 10, size);
    r[18..25].copy_from_slice(&short_date(time));
    r[25] = flags;
    both16(&mut r, 28, 1);
    r[32] = ident.len() as u8;
    r[DR_FIXED_LEN..DR_FIXED_LEN + ident.len()].copy_from_slice(ident);
    r[su_at..su_at + su.len()].copy_from_slice(su);
    r
}

fn padded_text(out: &mut [u8], text: &[u8]) {
    out.fill(b' ');
    out[..text.len()].copy_from_slice(text);
}

fn descriptor(kind: u8) -> Vec<u8> {
    let mut v = vec![0u8; SECTOR as usize];
    v[0] = kind;
    v[1..6].copy_from_slice(STANDARD_ID);
    v[6] = VD_VERSION;
    v
}

/// Everything's place on the medium.
struct Plan {
    nodes: Vec<Node>,
    /// Directories in path table order.
    dirs: Vec<usize>,
    /// Records of each directory of `dirs`.
    records: Vec<Vec<Record>>,
    /// Extent (sector) and data length of each node.
    extent: Vec<(u32, u32)>,
    path_table_len: usize,
    l_table: u32,
    m_table: u32,
    ce_start: u32,
    ce_sectors: u32,
    catalog: Option<u32>,
    boot_image: Option<u32>,
    total: u32,
}

fn plan(opts: &IsoOptions, entries: BTreeMap<EntryPath, (Entry, Source)>) -> Result<Plan, Error> {
    let nodes = build_nodes(opts, entries)?;
    let mut dirs = vec![0];
    let mut i = 0;
    while i < dirs.len() {
        let d = dirs[i];
        dirs.extend(nodes[d].children.iter().filter(|&&c| nodes[c].is_dir()));
        i += 1;
    }
    if dirs.len() > usize::from(u16::MAX) {
        return Err(Error::TooManyDirectories(dirs.len()));
    }
    let mut records: Vec<Vec<Record>> = dirs.iter().map(|&d| records_of(&nodes, d)).collect();
    let path_table_len: usize = dirs
        .iter()
        .map(|&d| {
            let len = nodes[d].iso.name.len().max(1);
            PT_FIXED_LEN + len + len % 2
        })
        .sum();

    let mut lba = SYSTEM_AREA_SECTORS + 1; // after the primary volume descriptor
    if opts.boot.is_some() {
        lba += 1;
    }
    lba += 1; // terminator
    let pt_sectors = sectors(path_table_len as u64);
    let (l_table, m_table) = (lba, lba + pt_sectors);
    lba += 2 * pt_sectors;

    let mut extent = vec![(0u32, 0u32); nodes.len()];
    for (k, &d) in dirs.iter().enumerate() {
        let last = records[k].last().expect("`.` and `..`");
        let n = sectors((last.offset + last.len) as u64);
        extent[d] = (lba, n * SECTOR as u32);
        lba += n;
    }
    // Continuation areas, packed into sectors without crossing a boundary.
    let ce_start = lba;
    let mut at = 0usize;
    for recs in &mut records {
        for r in recs {
            for part in 1..r.su.parts.len() {
                let len = r.su.part_len(part);
                if at % SECTOR as usize + len > SECTOR as usize {
                    at = at.next_multiple_of(SECTOR as usize);
                }
                let sector = ce_start + (at / SECTOR as usize) as u32;
                r.areas.push((sector, (at % SECTOR as usize) as u32));
                at += len;
            }
        }
    }
    let ce_sectors = sectors(at as u64);
    lba += ce_sectors;
    let (catalog, boot_image) = match &opts.boot {
        Some(b) => {
            let c = lba;
            lba += 1 + sectors(b.source.len());
            (Some(c), Some(c + 1))
        }
        None => (None, None),
    };
    for i in (0..nodes.len()).filter(|&i| has_contents(&nodes, i)) {
        let len = nodes[i].source.len();
        extent[i] = (lba, len as u32);
        lba += sectors(len);
    }
    for i in 0..nodes.len() {
        extent[i] = extent[nodes[i].inode];
    }
    Ok(Plan {
        nodes,
        dirs,
        records,
        extent,
        path_table_len,
        l_table,
        m_table,
        ce_start,
        ce_sectors,
        catalog,
        boot_image,
        total: lba,
    })
}

impl Plan {
    fn dir_record(&self, r: &Record) -> Vec<u8> {
        let n = &self.nodes[r.node];
        let (extent, size) = self.extent[r.node];
        let flags = if n.is_dir() { FLAG_DIRECTORY } else { 0 };
        let su = r.su.part_bytes(0, r.areas.first().copied());
        record_bytes(extent, size, n.entry.mtime, flags, &r.ident, &su)
    }

    fn primary_descriptor(&self, opts: &IsoOptions) -> Vec<u8> {
        let mut v = descriptor(VD_PRIMARY);
        padded_text(&mut v[8..40], b"");
        padded_text(&mut v[40..72], opts.volume_id.as_bytes());
        both32(&mut v, 80, self.total);
        both16(&mut v, 120, 1);
        both16(&mut v, 124, 1);
        both16(&mut v, 128, SECTOR as u16);
        both32(&mut v, 132, self.path_table_len as u32);
        v[140..144].copy_from_slice(&self.l_table.to_le_bytes());
        v[148..152].copy_from_slice(&self.m_table.to_be_bytes());
        let (extent, size) = self.extent[0];
        let root = record_bytes(
            extent,
            size,
            opts.timestamp,
            FLAG_DIRECTORY,
            &[ID_SELF],
            &[],
        );
        v[156..156 + root.len()].copy_from_slice(&root);
        // Volume set, publisher, preparer, application, copyright, abstract, bibliography.
        padded_text(&mut v[190..813], b"");
        v[813..830].copy_from_slice(&long_date(opts.timestamp));
        v[830..847].copy_from_slice(&long_date(opts.timestamp));
        v[847..864].copy_from_slice(&DATE_UNSET);
        v[864..881].copy_from_slice(&DATE_UNSET);
        v[881] = FILE_STRUCTURE_VERSION;
        v
    }

    fn boot_record(&self, catalog: u32) -> Vec<u8> {
        let mut v = descriptor(VD_BOOT_RECORD);
        v[7..7 + EL_TORITO_ID.len()].copy_from_slice(EL_TORITO_ID);
        v[EL_TORITO_CATALOG_PTR..EL_TORITO_CATALOG_PTR + 4].copy_from_slice(&catalog.to_le_bytes());
        v
    }

    fn catalog(&self, opts: &IsoOptions) -> (Vec<u8>, u16) {
        let boot = opts.boot.as_ref().expect("a boot image");
        let mut c = vec![0u8; SECTOR as usize];
        c[0] = VALIDATION_HEADER_ID;
        c[1] = boot.platform.id();
        c[30..32].copy_from_slice(&VALIDATION_KEY);
        let sum = c[..CATALOG_ENTRY_LEN].chunks(2).fold(0u16, |s, w| {
            s.wrapping_add(u16::from_le_bytes([w[0], w[1]]))
        });
        c[28..30].copy_from_slice(&0u16.wrapping_sub(sum).to_le_bytes());
        let e = &mut c[CATALOG_ENTRY_LEN..2 * CATALOG_ENTRY_LEN];
        e[0] = BOOTABLE;
        e[1] = NO_EMULATION;
        let count = boot.source.len().div_ceil(VIRTUAL_SECTOR) as u16;
        e[6..8].copy_from_slice(&count.to_le_bytes());
        e[8..12].copy_from_slice(&self.boot_image.expect("placed").to_le_bytes());
        (c, count)
    }

    fn path_table(&self, big_endian: bool) -> Vec<u8> {
        let mut number: HashMap<usize, u16> = HashMap::new();
        let mut t = Vec::with_capacity(self.path_table_len);
        for (k, &d) in self.dirs.iter().enumerate() {
            number.insert(d, k as u16 + 1);
            let n = &self.nodes[d];
            let ident: &[u8] = if d == 0 { &[ID_SELF] } else { &n.iso.name };
            let (loc, parent) = (self.extent[d].0, number[&n.parent]);
            t.push(ident.len() as u8);
            t.push(0);
            if big_endian {
                t.extend_from_slice(&loc.to_be_bytes());
                t.extend_from_slice(&parent.to_be_bytes());
            } else {
                t.extend_from_slice(&loc.to_le_bytes());
                t.extend_from_slice(&parent.to_le_bytes());
            }
            t.extend_from_slice(ident);
            if ident.len() % 2 == 1 {
                t.push(0);
            }
        }
        t.resize(sectors(t.len() as u64) as usize * SECTOR as usize, 0);
        t
    }

    fn directories(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, &d) in self.dirs.iter().enumerate() {
            let (extent, size) = self.extent[d];
            debug_assert_eq!(
                (out.len() / SECTOR as usize) as u32,
                extent - self.extent[self.dirs[0]].0
            );
            let mut buf = vec![0u8; size as usize];
            for r in &self.records[k] {
                let b = self.dir_record(r);
                buf[r.offset..r.offset + b.len()].copy_from_slice(&b);
            }
            out.extend_from_slice(&buf);
        }
        out
    }

    fn continuation_areas(&self) -> Vec<u8> {
        let mut out = vec![0u8; self.ce_sectors as usize * SECTOR as usize];
        for r in self.records.iter().flatten() {
            for (i, &(sector, offset)) in r.areas.iter().enumerate() {
                let b = r.su.part_bytes(i + 1, r.areas.get(i + 1).copied());
                let at = (sector - self.ce_start) as usize * SECTOR as usize + offset as usize;
                out[at..at + b.len()].copy_from_slice(&b);
            }
        }
        out
    }
}

fn io(context: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |e| Error::io(context, e)
}

/// Copies `source` to `out` and pads it to a whole sector.
fn copy_source<W: Write>(out: &mut W, source: &Source, what: &str) -> Result<(), Error> {
    let len = source.len();
    match source {
        Source::Bytes(b) => out.write_all(b).map_err(io("writing the ISO image"))?,
        Source::File { path, size } => {
            let f = std::fs::File::open(path)
                .map_err(|e| Error::io(format!("opening {} ({what})", path.display()), e))?;
            let got = std::io::copy(&mut f.take(size + 1), out)
                .map_err(|e| Error::io(format!("copying {} ({what})", path.display()), e))?;
            if got != *size {
                return Err(Error::SourceChanged {
                    path: path.clone(),
                    expected: *size,
                    got,
                });
            }
        }
    }
    let pad = (sectors(len) as u64 * SECTOR - len) as usize;
    out.write_all(&vec![0u8; pad])
        .map_err(io("writing the ISO image"))
}

pub(crate) fn write<W: Write>(
    opts: &IsoOptions,
    entries: BTreeMap<EntryPath, (Entry, Source)>,
    out: W,
) -> Result<IsoSummary, Error> {
    let p = plan(opts, entries)?;
    // Everything before the contents is small: assemble it, then stream the contents.
    let mut head = vec![0u8; SYSTEM_AREA_SECTORS as usize * SECTOR as usize];
    head.extend(p.primary_descriptor(opts));
    if let Some(c) = p.catalog {
        head.extend(p.boot_record(c));
    }
    head.extend(descriptor(VD_TERMINATOR));
    head.extend(p.path_table(false));
    head.extend(p.path_table(true));
    head.extend(p.directories());
    head.extend(p.continuation_areas());
    let mut boot_summary = None;
    if let (Some(lba), Some(_)) = (p.boot_image, &opts.boot) {
        let (catalog, count) = p.catalog(opts);
        head.extend(catalog);
        boot_summary = Some((lba, count));
    }
    let mut w = BufWriter::with_capacity(1 << 20, out);
    w.write_all(&head).map_err(io("writing the ISO image"))?;
    if let Some(boot) = &opts.boot {
        copy_source(&mut w, &boot.source, "the El Torito boot image")?;
    }
    for i in (0..p.nodes.len()).filter(|&i| has_contents(&p.nodes, i)) {
        let n = &p.nodes[i];
        copy_source(&mut w, &n.source, &n.entry.path.to_string())?;
    }
    w.flush().map_err(io("writing the ISO image"))?;
    Ok(IsoSummary {
        sectors: p.total,
        boot_catalog: p.catalog,
        boot_image: boot_summary,
    })
}
