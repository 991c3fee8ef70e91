//! Rock Ridge: the SUSP entries of one directory record (`PX` mode/links/owner, `TF` times,
//! `NM` the real name, `SL` a symlink target, `PN` a device number, and on the root's `.`
//! record `SP` and the `ER` extension reference), and how they are split between the record
//! itself and continuation areas (`CE`) when they do not fit in it. Long names and targets are
//! cut into several `NM`/`SL` entries; each continuation area fits in one sector, as Linux's
//! isofs requires.

use crate::format::*;

/// What Rock Ridge records about one file.
#[derive(Debug, Clone)]
pub struct Attrs {
    /// Full `st_mode` (type and permission bits).
    pub mode: u32,
    /// Link count.
    pub nlink: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time (also used as access and attribute-change time).
    pub mtime: i64,
}

/// Type-specific Rock Ridge data.
#[derive(Debug, Clone, Copy)]
pub enum Special<'a> {
    /// Nothing more (files, directories, FIFOs).
    None,
    /// A symbolic link to this target.
    Symlink(&'a [u8]),
    /// A device with these numbers.
    Device(u32, u32),
}

fn entry(sig: &[u8; 2], body: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(4 + body.len());
    e.extend_from_slice(sig);
    e.push((4 + body.len()) as u8);
    e.push(SUSP_VERSION);
    e.extend_from_slice(body);
    e
}

/// `SP`: SUSP is in use, no bytes skipped (the first entry of the root's `.` record).
pub fn sp() -> Vec<u8> {
    entry(b"SP", &[SP_CHECK[0], SP_CHECK[1], 0])
}

/// `ER`: the Rock Ridge extension reference.
pub fn er() -> Vec<u8> {
    let mut body = vec![
        RRIP_ID.len() as u8,
        RRIP_DESCRIPTOR.len() as u8,
        RRIP_SOURCE.len() as u8,
        1,
    ];
    body.extend_from_slice(RRIP_ID);
    body.extend_from_slice(RRIP_DESCRIPTOR);
    body.extend_from_slice(RRIP_SOURCE);
    entry(b"ER", &body)
}

fn px(a: &Attrs) -> Vec<u8> {
    let mut body = Vec::with_capacity(PX_LEN - 4);
    for v in [a.mode, a.nlink, a.uid, a.gid] {
        push_both32(&mut body, v);
    }
    entry(b"PX", &body)
}

fn tf(a: &Attrs) -> Vec<u8> {
    let mut body = vec![TF_MODIFY_ACCESS_ATTRIBUTES];
    for _ in 0..3 {
        body.extend_from_slice(&short_date(a.mtime));
    }
    entry(b"TF", &body)
}

fn pn(major: u32, minor: u32) -> Vec<u8> {
    let (high, low) = pn_words(major, minor);
    let mut body = Vec::with_capacity(PN_LEN - 4);
    push_both32(&mut body, high);
    push_both32(&mut body, low);
    entry(b"PN", &body)
}

/// Room for data in one NM or SL entry after its 5 header bytes.
const ENTRY_ROOM: usize = SUSP_MAX_ENTRY - 5;

/// `NM` entries for `name`, split into pieces that each fit one entry.
fn nm(name: &[u8]) -> Vec<Vec<u8>> {
    let pieces: Vec<&[u8]> = name.chunks(ENTRY_ROOM).collect();
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut body = vec![if i < last { RR_CONTINUE } else { 0 }];
            body.extend_from_slice(p);
            entry(b"NM", &body)
        })
        .collect()
}

/// `SL` entries for `target`: component records (`/`, `.`, `..`, names cut into continued
/// pieces), packed into as few entries as fit.
///
/// Where one entry ends and the next begins, readers disagree on whether a new path
/// component starts (Linux adds the `/`, libarchive does not), so a boundary is put inside a
/// name, whose first piece carries the continue flag: then all of them join it without a `/`.
/// (Only an entry with no name of two bytes or more — over a hundred `..` in a row — ends on a
/// whole component.)
fn sl(target: &[u8]) -> Vec<Vec<u8>> {
    let is_text = |r: &(u8, Vec<u8>)| r.0 & (SL_CURRENT | SL_PARENT | SL_ROOT) == 0;
    let mut queue: std::collections::VecDeque<(u8, Vec<u8>)> = Default::default();
    if target.starts_with(b"/") {
        queue.push_back((SL_ROOT, Vec::new()));
    }
    for part in target.split(|&b| b == b'/').filter(|p| !p.is_empty()) {
        match part {
            b"." => queue.push_back((SL_CURRENT, Vec::new())),
            b".." => queue.push_back((SL_PARENT, Vec::new())),
            _ => {
                let pieces: Vec<&[u8]> = part.chunks(ENTRY_ROOM - 2).collect();
                let last = pieces.len() - 1;
                for (i, p) in pieces.iter().enumerate() {
                    queue.push_back((if i < last { RR_CONTINUE } else { 0 }, p.to_vec()));
                }
            }
        }
    }
    let size = |e: &Vec<(u8, Vec<u8>)>| e.iter().map(|r| 2 + r.1.len()).sum::<usize>();
    let mut entries: Vec<Vec<(u8, Vec<u8>)>> = vec![Vec::new()];
    while let Some(rec) = queue.pop_front() {
        let cur = entries.last_mut().expect("one entry");
        let room = ENTRY_ROOM - size(cur);
        if 2 + rec.1.len() <= room {
            cur.push(rec);
            continue;
        }
        if is_text(&rec) && room >= 3 {
            // End this entry with the first piece of the name.
            let k = room - 2;
            cur.push((RR_CONTINUE, rec.1[..k].to_vec()));
            queue.push_front((rec.0, rec.1[k..].to_vec()));
        } else {
            queue.push_front(rec);
            // End it inside the last name of the entry that has two bytes to split, moving
            // what follows that name to the next entry.
            if let Some(pos) = cur.iter().rposition(|r| is_text(r) && r.1.len() >= 2) {
                for r in cur.drain(pos + 1..).rev() {
                    queue.push_front(r);
                }
                let (flags, text) = cur.pop().expect("found");
                let k = text.len() - 1;
                cur.push((RR_CONTINUE, text[..k].to_vec()));
                queue.push_front((flags, text[k..].to_vec()));
            }
        }
        entries.push(Vec::new());
    }
    let last = entries.len() - 1;
    entries
        .into_iter()
        .enumerate()
        .map(|(i, recs)| {
            let mut body = vec![if i < last { RR_CONTINUE } else { 0 }];
            for (flags, text) in recs {
                body.push(flags);
                body.push(text.len() as u8);
                body.extend_from_slice(&text);
            }
            entry(b"SL", &body)
        })
        .collect()
}

/// The SUSP entries of one record: `name` is `None` for `.` and `..`; `root_self` adds `SP`
/// (first) and `ER` for the root directory's `.` record.
pub fn entries(a: &Attrs, name: Option<&[u8]>, special: Special, root_self: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if root_self {
        out.push(sp());
    }
    out.push(px(a));
    out.push(tf(a));
    if let Some(n) = name {
        out.extend(nm(n));
    }
    match special {
        Special::None => {}
        Special::Symlink(t) => out.extend(sl(t)),
        Special::Device(major, minor) => out.push(pn(major, minor)),
    }
    if root_self {
        out.push(er());
    }
    out
}

/// SUSP entries split into the record's own system use area (`parts[0]`) and continuation
/// areas (`parts[1..]`); every part but the last is followed by a `CE` to the next.
#[derive(Debug, Clone, Default)]
pub struct Packed {
    /// The entries of each part, concatenated (without the `CE`).
    pub parts: Vec<Vec<u8>>,
}

impl Packed {
    /// Length of part `i` including its `CE`.
    pub fn part_len(&self, i: usize) -> usize {
        self.parts[i].len() + if i + 1 < self.parts.len() { CE_LEN } else { 0 }
    }

    /// Part `i` with its `CE` pointing at the next part, placed at `next` (sector, offset).
    pub fn part_bytes(&self, i: usize, next: Option<(u32, u32)>) -> Vec<u8> {
        let mut b = self.parts[i].clone();
        if i + 1 < self.parts.len() {
            let (block, offset) = next.expect("a continuation area has a place");
            let mut body = Vec::with_capacity(CE_LEN - 4);
            push_both32(&mut body, block);
            push_both32(&mut body, offset);
            push_both32(&mut body, self.part_len(i + 1) as u32);
            b.extend_from_slice(&entry(b"CE", &body));
        }
        b
    }
}

/// Packs `entries` in order: into the record while they fit in `room` bytes, then into
/// continuation areas of at most one sector, leaving room for each `CE`.
pub fn pack(entries: Vec<Vec<u8>>, room: usize) -> Packed {
    let mut parts: Vec<Vec<u8>> = vec![Vec::new()];
    let mut cap = room;
    let total: usize = entries.iter().map(Vec::len).sum();
    let mut left = total;
    for e in entries {
        let cur = parts.last_mut().expect("one part");
        let fits_all = cur.len() + left <= cap;
        if !fits_all && cur.len() + e.len() + CE_LEN > cap {
            parts.push(Vec::new());
            cap = SECTOR as usize;
        }
        left -= e.len();
        parts.last_mut().expect("one part").extend_from_slice(&e);
    }
    Packed { parts }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs() -> Attrs {
        Attrs {
            mode: 0o100644,
            nlink: 1,
            uid: 0,
            gid: 0,
            mtime: 0,
        }
    }

    #[test]
    fn fixed_lengths() {
        assert_eq!(px(&attrs()).len(), PX_LEN);
        assert_eq!(pn(1, 2).len(), PN_LEN);
        assert_eq!(sp().len(), 7);
    }

    #[test]
    fn long_names_and_targets_split() {
        let name = vec![b'n'; 600];
        let e = nm(&name);
        assert_eq!(e.len(), 3);
        assert!(
            e.iter()
                .all(|x| x.len() <= SUSP_MAX_ENTRY && x[2] as usize == x.len())
        );
        assert_eq!(e[0][4] & RR_CONTINUE, RR_CONTINUE);
        assert_eq!(e[2][4] & RR_CONTINUE, 0);
        let target = [b"/a/".as_slice(), &[b'x'; 700], b"/../."].concat();
        let s = sl(&target);
        assert!(s.len() >= 3);
        assert!(
            s.iter()
                .all(|x| x.len() <= SUSP_MAX_ENTRY && x[2] as usize == x.len())
        );
        // Names between `..` and `.` components: boundaries still fall inside names.
        let dots: Vec<u8> = (0..60)
            .flat_map(|i| format!("dir-{i}/.././").into_bytes())
            .collect();
        for target in [target, dots] {
            let entries = sl(&target);
            for e in &entries[..entries.len() - 1] {
                let mut at = 5;
                let mut last_flags = 0;
                while at < e.len() {
                    last_flags = e[at];
                    at += 2 + e[at + 1] as usize;
                }
                assert_eq!(
                    last_flags, RR_CONTINUE,
                    "an entry ends on a whole component"
                );
            }
            // Joining the components back gives the target.
            let mut out = Vec::new();
            let mut sep = false;
            for e in &entries {
                let mut at = 5;
                while at < e.len() {
                    let (flags, len) = (e[at], e[at + 1] as usize);
                    if sep {
                        out.push(b'/');
                    }
                    match flags & !RR_CONTINUE {
                        SL_ROOT => out.push(b'/'),
                        SL_CURRENT => out.push(b'.'),
                        SL_PARENT => out.extend_from_slice(b".."),
                        _ => out.extend_from_slice(&e[at + 2..at + 2 + len]),
                    }
                    sep = flags & (RR_CONTINUE | SL_ROOT) == 0;
                    at += 2 + len;
                }
            }
            let want = target.strip_suffix(b"/").unwrap_or(&target);
            assert_eq!(String::from_utf8_lossy(&out), String::from_utf8_lossy(want));
        }
    }

    #[test]
    fn packing_moves_the_rest_to_continuation_areas() {
        let e = entries(&attrs(), Some(&[b'a'; 300]), Special::None, true);
        let total: usize = e.iter().map(Vec::len).sum();
        let p = pack(e, 200);
        assert!(p.part_len(0) <= 200);
        assert!(p.parts.len() >= 2);
        assert_eq!(p.parts.iter().map(Vec::len).sum::<usize>(), total);
        assert_eq!(&p.parts[0][..2], b"SP");
        let small = pack(vec![vec![0; 10], vec![0; 10]], 20);
        assert_eq!(small.parts.len(), 1);
    }
}
