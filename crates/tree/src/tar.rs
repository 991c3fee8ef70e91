//! Tar streams as entry sources and sinks.
//!
//! [`TarSink`] writes a deterministic ustar/PAX archive: numeric owners with empty user and
//! group names, no atime/ctime, PAX records only where ustar cannot hold a value (long or
//! non-ASCII names, xattrs as `SCHILY.xattr.*`, big ids) plus any records the caller attaches
//! (linuxkit's `LINUXKIT.source`/`LINUXKIT.location`). [`read_tar`] turns an archive into an
//! entry stream, normalising names; it applies no whiteout logic (that is layer flattening's
//! job).

use crate::{Entry, EntryPath, Error, Kind, PathError, Sink};
use std::io::{Read, Write};

/// Largest value an 8-byte octal ustar numeric field holds.
const USTAR_MAX_ID: u64 = 0o7_777_777;
/// Largest size an 12-byte octal ustar size field holds.
const USTAR_MAX_SIZE: u64 = 0o77_777_777_777;

/// Writes entries as a tar archive.
pub struct TarSink<W: Write> {
    out: tar::Builder<W>,
    extra_pax: Vec<(String, Vec<u8>)>,
}

impl<W: Write> TarSink<W> {
    /// A sink writing to `out`.
    pub fn new(out: W) -> Self {
        let mut out = tar::Builder::new(out);
        out.mode(tar::HeaderMode::Deterministic);
        TarSink {
            out,
            extra_pax: Vec::new(),
        }
    }

    /// PAX records to attach to every following entry (replaces the previous set).
    pub fn set_extra_pax(&mut self, records: Vec<(String, Vec<u8>)>) {
        self.extra_pax = records;
    }

    /// Writes the end-of-archive marker and returns the writer.
    pub fn finish(self) -> Result<W, Error> {
        self.out
            .into_inner()
            .map_err(|e| Error::io("finishing tar archive", e))
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), Error> {
        let mut pax: Vec<(String, Vec<u8>)> = self.extra_pax.clone();
        let mut h = tar::Header::new_ustar();
        let (ty, size) = match &entry.kind {
            Kind::Dir => (tar::EntryType::Directory, 0),
            Kind::File { size } => (tar::EntryType::Regular, *size),
            Kind::Symlink { .. } => (tar::EntryType::Symlink, 0),
            Kind::Hardlink { .. } => (tar::EntryType::Link, 0),
            Kind::CharDevice { .. } => (tar::EntryType::Char, 0),
            Kind::BlockDevice { .. } => (tar::EntryType::Block, 0),
            Kind::Fifo => (tar::EntryType::Fifo, 0),
        };
        h.set_entry_type(ty);
        h.set_mode(entry.mode & 0o7777);
        h.set_mtime(entry.mtime.max(0) as u64);
        if size > USTAR_MAX_SIZE {
            pax.push(("size".into(), size.to_string().into_bytes()));
            h.set_size(0);
        } else {
            h.set_size(size);
        }
        for (key, id, set) in [
            (
                "uid",
                entry.uid,
                &mut tar::Header::set_uid as &mut dyn FnMut(&mut tar::Header, u64),
            ),
            ("gid", entry.gid, &mut tar::Header::set_gid),
        ] {
            if u64::from(id) > USTAR_MAX_ID {
                pax.push((key.into(), id.to_string().into_bytes()));
                set(&mut h, 0);
            } else {
                set(&mut h, u64::from(id));
            }
        }
        if let Kind::CharDevice { major, minor } | Kind::BlockDevice { major, minor } = entry.kind {
            h.set_device_major(major)
                .and_then(|_| h.set_device_minor(minor))
                .map_err(|e| Error::io(format!("device numbers of {}", entry.path), e))?;
        }
        let name = entry.path.as_bytes();
        if !set_ustar_name(&mut h, name) {
            pax.push(("path".into(), name.to_vec()));
        }
        let link: Option<&[u8]> = match &entry.kind {
            Kind::Symlink { target } => Some(target),
            Kind::Hardlink { target } => Some(target.as_bytes()),
            _ => None,
        };
        if let Some(link) = link {
            let ustar = h.as_ustar_mut().expect("ustar header");
            if link.len() <= 100 && link.is_ascii() {
                ustar.linkname[..link.len()].copy_from_slice(link);
            } else {
                let n = link.len().min(100);
                ustar.linkname[..n].copy_from_slice(&link[..n]);
                pax.push(("linkpath".into(), link.to_vec()));
            }
        }
        // PAX text is UTF-8; raw names need `hdrcharset=BINARY` or readers (bsdtar) refuse them.
        let utf8 = |k: &str| {
            pax.iter()
                .all(|(key, v)| key != k || std::str::from_utf8(v).is_ok())
        };
        if !utf8("path") || !utf8("linkpath") {
            pax.insert(0, ("hdrcharset".into(), b"BINARY".to_vec()));
        }
        for (k, v) in &entry.xattrs {
            let k = String::from_utf8(k.clone()).map_err(|_| Error::Unrepresentable {
                path: entry.path.clone(),
                what: "an extended attribute name that is not UTF-8".into(),
                format: "tar",
            })?;
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        if !pax.is_empty() {
            self.out
                .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), &v[..])))
                .map_err(|e| Error::io(format!("writing tar header of {}", entry.path), e))?;
        }
        h.set_cksum();
        let mut counted = CountingReader { inner: data, n: 0 };
        let body: &mut dyn Read = if size > 0 {
            &mut counted
        } else {
            &mut std::io::empty()
        };
        self.out
            .append(&h, body)
            .map_err(|e| Error::io(format!("writing {} to tar", entry.path), e))?;
        if size > 0 && counted.n != size {
            return Err(Error::ShortData {
                path: entry.path.clone(),
                expected: size,
                got: counted.n,
            });
        }
        Ok(())
    }

    fn annotate(&mut self, records: &[(String, Vec<u8>)]) {
        self.set_extra_pax(records.to_vec());
    }
}

/// Puts `name` into the ustar name/prefix fields if it fits there as ASCII; false otherwise
/// (a PAX `path` record must carry it, and a truncated copy stays in the header).
fn set_ustar_name(h: &mut tar::Header, name: &[u8]) -> bool {
    let ustar = h.as_ustar_mut().expect("ustar header");
    if name.is_ascii() {
        if name.len() <= 100 {
            ustar.name[..name.len()].copy_from_slice(name);
            return true;
        }
        // Split at a '/' so that prefix ≤ 155 and name ≤ 100.
        if let Some(split) = name
            .iter()
            .enumerate()
            .filter(|(i, b)| **b == b'/' && *i <= 155 && name.len() - i - 1 <= 100)
            .map(|(i, _)| i)
            .next()
        {
            ustar.prefix[..split].copy_from_slice(&name[..split]);
            ustar.name[..name.len() - split - 1].copy_from_slice(&name[split + 1..]);
            return true;
        }
    }
    let n = name.len().min(100);
    ustar.name[..n].copy_from_slice(&name[..n]);
    false
}

struct CountingReader<'a> {
    inner: &'a mut dyn Read,
    n: u64,
}

impl Read for CountingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let got = self.inner.read(buf)?;
        self.n += got as u64;
        Ok(got)
    }
}

/// Streams a tar archive into `sink`. Names are normalised (a leading `/` or `./` is dropped,
/// `..` that escapes is an error); directory entries naming the root (`./`) are skipped, other
/// entries naming it are an error; PAX and GNU long
/// names and `SCHILY.xattr.*` records are honoured.
pub fn read_tar(input: impl Read, sink: &mut dyn Sink) -> Result<(), Error> {
    let mut ar = tar::Archive::new(input);
    let entries = ar
        .entries()
        .map_err(|e| Error::Tar(format!("reading archive: {e}")))?;
    for item in entries {
        let mut item = item.map_err(|e| Error::Tar(format!("reading entry: {e}")))?;
        let raw = item.path_bytes().into_owned();
        let path = match EntryPath::from_bytes(&raw) {
            Ok(p) => p,
            // A directory entry for the root (`./`) carries nothing a tree can hold; anything
            // else naming the root (a `.` symlink) is refused.
            Err(PathError::Root(_)) if item.header().entry_type().is_dir() => continue,
            Err(e) => return Err(e.into()),
        };
        let h = item.header().clone();
        let num = |r: std::io::Result<u64>, what: &str| {
            r.map_err(|e| Error::Tar(format!("{path}: bad {what}: {e}")))
        };
        let mode = num(h.mode().map(u64::from), "mode")? as u32;
        let uid = num(h.uid(), "uid")? as u32;
        let gid = num(h.gid(), "gid")? as u32;
        let mtime = num(h.mtime(), "mtime")? as i64;
        let link = || -> Result<Vec<u8>, Error> {
            item.link_name_bytes()
                .map(|l| l.into_owned())
                .ok_or_else(|| Error::Tar(format!("{path}: link without a target")))
        };
        let kind = match h.entry_type() {
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                Kind::File { size: item.size() }
            }
            tar::EntryType::Symlink => Kind::Symlink { target: link()? },
            tar::EntryType::Link => Kind::Hardlink {
                target: EntryPath::from_bytes(&link()?)?,
            },
            tar::EntryType::Char | tar::EntryType::Block => {
                let major = num(h.device_major().map(|d| u64::from(d.unwrap_or(0))), "major")?;
                let minor = num(h.device_minor().map(|d| u64::from(d.unwrap_or(0))), "minor")?;
                let (major, minor) = (major as u32, minor as u32);
                if h.entry_type() == tar::EntryType::Char {
                    Kind::CharDevice { major, minor }
                } else {
                    Kind::BlockDevice { major, minor }
                }
            }
            tar::EntryType::Fifo => Kind::Fifo,
            other => {
                return Err(Error::Tar(format!(
                    "{path}: unsupported tar entry type {:?}",
                    other.as_byte() as char
                )));
            }
        };
        let mut xattrs = Vec::new();
        if let Some(exts) = item
            .pax_extensions()
            .map_err(|e| Error::Tar(format!("{path}: bad PAX header: {e}")))?
        {
            for ext in exts {
                let ext = ext.map_err(|e| Error::Tar(format!("{path}: bad PAX record: {e}")))?;
                if let Some(name) = ext.key_bytes().strip_prefix(b"SCHILY.xattr.") {
                    xattrs.push((name.to_vec(), ext.value_bytes().to_vec()));
                }
            }
        }
        xattrs.sort();
        let entry = Entry {
            path,
            kind,
            mode: mode & 0o7777,
            uid,
            gid,
            mtime,
            xattrs,
        };
        sink.add(&entry, &mut item)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MemTree;

    #[test]
    fn round_trips_long_and_odd_names_links_devices_and_xattrs() {
        let mut t = MemTree::new();
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
        t.add_file(&long, "long", 0o644, 5).unwrap();
        t.add_file("bin/ping", "elf", 0o4755, 5).unwrap();
        let mut ping = t
            .get(&EntryPath::new("bin/ping").unwrap())
            .unwrap()
            .0
            .clone();
        ping.xattrs = vec![(b"security.capability".to_vec(), vec![1, 0, 0, 2])];
        ping.uid = 3_000_000;
        t.insert(ping, &b"elf"[..]);
        let odd = EntryPath::new(b"\xff\xfe").unwrap();
        t.insert(Entry::file(odd.clone(), 0, 0o600, 5), Vec::new());
        t.insert(
            Entry::symlink(EntryPath::new("l").unwrap(), "x".repeat(300), 5),
            Vec::new(),
        );
        t.insert(
            Entry::new(
                EntryPath::new("h").unwrap(),
                Kind::Hardlink {
                    target: EntryPath::new("bin/ping").unwrap(),
                },
                0o4755,
                5,
            ),
            Vec::new(),
        );
        t.insert(
            Entry::new(
                EntryPath::new("dev/null").unwrap(),
                Kind::CharDevice { major: 1, minor: 3 },
                0o666,
                5,
            ),
            Vec::new(),
        );

        let mut sink = TarSink::new(Vec::new());
        t.replay(&mut sink).unwrap();
        let bytes = sink.finish().unwrap();

        let mut back = MemTree::new();
        read_tar(&bytes[..], &mut back).unwrap();
        let a: Vec<_> = t.iter().map(|(e, d)| (e.clone(), d.to_vec())).collect();
        let b: Vec<_> = back.iter().map(|(e, d)| (e.clone(), d.to_vec())).collect();
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_escaping_names() {
        let mut raw = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(0);
        h.as_gnu_mut().unwrap().name[..10].copy_from_slice(b"../../evil");
        h.set_cksum();
        raw.append(&h, &[][..]).unwrap();
        let bytes = raw.into_inner().unwrap();
        let err = read_tar(&bytes[..], &mut MemTree::new()).unwrap_err();
        assert!(err.to_string().contains("climbs above"), "{err}");
    }
}
