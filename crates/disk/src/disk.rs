//! The virtual disk model: a disk of N bytes made of contents placed at offsets.
//!
//! Each [`Extent`] is a range of a host file (a rootfs image), an in-memory buffer (GPT sectors,
//! a small FAT image) or explicit zeros; everything not covered reads as zeros. Every output
//! format is written by streaming blocks out of this model ([`Disk::blocks`]), so no raw
//! intermediate is ever needed. Holes in host files are found with `SEEK_DATA`/`SEEK_HOLE`
//! and never read.
//!
//! Not here: writing into the model (it is read-only once built), files that change while a
//! writer runs (a short read is reported as an error naming the file).

use crate::Error;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What fills an extent.
#[derive(Clone, Debug)]
pub enum Content {
    /// Bytes of a host file starting at `offset`.
    File {
        /// The file's path, for error messages.
        path: PathBuf,
        /// The open file.
        file: Arc<File>,
        /// Offset in the file of the extent's first byte.
        offset: u64,
    },
    /// An in-memory buffer, as long as the extent.
    Bytes(Arc<[u8]>),
    /// Zeros (the same as leaving the range out; kept so a layout can say "wipe this").
    Zeros,
}

/// One placed content.
#[derive(Clone, Debug)]
pub struct Extent {
    /// Offset on the disk in bytes.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// What fills it.
    pub content: Content,
    /// What it is, for error messages (e.g. `IMGA (rootfs.img)`).
    pub label: String,
}

impl Extent {
    fn end(&self) -> u64 {
        self.offset + self.len
    }
}

/// A virtual disk: a size and non-overlapping extents.
#[derive(Clone, Debug)]
pub struct Disk {
    size: u64,
    extents: Vec<Extent>,
}

impl Disk {
    /// An all-zero disk of `size` bytes.
    pub fn new(size: u64) -> Disk {
        Disk {
            size,
            extents: Vec::new(),
        }
    }

    /// Size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The extents, sorted by offset.
    pub fn extents(&self) -> &[Extent] {
        &self.extents
    }

    /// Places `content` at `offset..offset+len`. Fails if the range leaves the disk or overlaps
    /// an extent already placed.
    pub fn add(
        &mut self,
        offset: u64,
        len: u64,
        content: Content,
        label: impl Into<String>,
    ) -> Result<(), Error> {
        let label = label.into();
        if let Content::Bytes(b) = &content {
            assert_eq!(
                b.len() as u64,
                len,
                "buffer length must equal the extent length"
            );
        }
        let end = offset.checked_add(len).filter(|&e| e <= self.size);
        let Some(end) = end else {
            return Err(Error::BeyondDisk {
                label,
                offset,
                len,
                disk_size: self.size,
            });
        };
        if len == 0 {
            return Ok(());
        }
        let at = self.extents.partition_point(|e| e.offset < offset);
        let clash = [at.checked_sub(1), Some(at)]
            .into_iter()
            .flatten()
            .filter_map(|i| self.extents.get(i))
            .find(|e| e.offset < end && offset < e.end());
        if let Some(other) = clash {
            return Err(Error::Overlap {
                label,
                range: offset..end,
                other: other.label.clone(),
                other_range: other.offset..other.end(),
            });
        }
        self.extents.insert(
            at,
            Extent {
                offset,
                len,
                content,
                label,
            },
        );
        Ok(())
    }

    /// Places the whole of the file at `path` at `offset`; returns its length.
    pub fn add_file(
        &mut self,
        offset: u64,
        path: &Path,
        label: impl Into<String>,
    ) -> Result<u64, Error> {
        let file = File::open(path).map_err(|e| Error::io(path, "open", e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(path, "stat", e))?
            .len();
        let content = Content::File {
            path: path.to_owned(),
            file: Arc::new(file),
            offset: 0,
        };
        self.add(offset, len, content, label)?;
        Ok(len)
    }

    /// Places an in-memory buffer at `offset`.
    pub fn add_bytes(
        &mut self,
        offset: u64,
        bytes: impl Into<Arc<[u8]>>,
        label: impl Into<String>,
    ) -> Result<(), Error> {
        let bytes = bytes.into();
        self.add(offset, bytes.len() as u64, Content::Bytes(bytes), label)
    }

    /// Fills `buf` with the disk's bytes at `offset` (zeros where nothing is placed; reads past
    /// the end of the disk are zeros too).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        buf.fill(0);
        let end = offset + buf.len() as u64;
        let first = self.extents.partition_point(|e| e.end() <= offset);
        for e in self.extents[first..].iter().take_while(|e| e.offset < end) {
            let from = e.offset.max(offset);
            let to = e.end().min(end);
            let dst = &mut buf[(from - offset) as usize..(to - offset) as usize];
            match &e.content {
                Content::Zeros => {}
                Content::Bytes(b) => {
                    dst.copy_from_slice(&b[(from - e.offset) as usize..(to - e.offset) as usize])
                }
                Content::File {
                    path,
                    file,
                    offset: file_offset,
                } => file
                    .read_exact_at(dst, file_offset + (from - e.offset))
                    .map_err(|err| Error::io(path, "read", err))?,
            }
        }
        Ok(())
    }

    /// Byte ranges that may hold non-zero data, sorted and merged. Holes of host files and
    /// [`Content::Zeros`] extents are left out; the ranges may still contain zeros.
    pub fn data_ranges(&self) -> Result<Vec<Range<u64>>, Error> {
        let mut out: Vec<Range<u64>> = Vec::new();
        let mut push = |r: Range<u64>| {
            if r.is_empty() {
                return;
            }
            match out.last_mut() {
                Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
                _ => out.push(r),
            }
        };
        for e in &self.extents {
            match &e.content {
                Content::Zeros => {}
                Content::Bytes(_) => push(e.offset..e.end()),
                Content::File { path, file, offset } => {
                    for r in file_data_ranges(file, *offset..offset + e.len)
                        .map_err(|err| Error::io(path, "find data regions of", err))?
                    {
                        push(e.offset + (r.start - offset)..e.offset + (r.end - offset));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The blocks of `block_size` bytes that may hold data, in order, each read into a buffer
    /// of `block_size` bytes (zero-padded past the end of the disk). Blocks not yielded are
    /// all zeros.
    pub fn blocks(&self, block_size: u64) -> Result<Blocks<'_>, Error> {
        let mut indices: Vec<Range<u64>> = Vec::new();
        for r in self.data_ranges()? {
            let first = r.start / block_size;
            let last = r.end.div_ceil(block_size);
            match indices.last_mut() {
                Some(prev) if prev.end >= first => prev.end = prev.end.max(last),
                _ => indices.push(first..last),
            }
        }
        Ok(Blocks {
            disk: self,
            block_size,
            ranges: indices.into_iter(),
            current: 0..0,
        })
    }
}

/// Iterator over data blocks: `(block index, contents)`. See [`Disk::blocks`].
pub struct Blocks<'a> {
    disk: &'a Disk,
    block_size: u64,
    ranges: std::vec::IntoIter<Range<u64>>,
    current: Range<u64>,
}

impl Blocks<'_> {
    /// Indices of the blocks still to come (without reading them).
    pub fn remaining_indices(&self) -> impl Iterator<Item = u64> + '_ {
        self.current
            .clone()
            .chain(self.ranges.as_slice().iter().flat_map(|r| r.clone()))
    }
}

impl Iterator for Blocks<'_> {
    type Item = Result<(u64, Vec<u8>), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let index = match self.current.next() {
            Some(i) => i,
            None => {
                self.current = self.ranges.next()?;
                self.current.next()?
            }
        };
        let mut buf = vec![0u8; self.block_size as usize];
        Some(
            self.disk
                .read_at(index * self.block_size, &mut buf)
                .map(|()| (index, buf)),
        )
    }
}

/// The data (non-hole) ranges of `range` in `file`, per `SEEK_DATA`/`SEEK_HOLE`. File systems
/// without hole support report one data range, which is still correct.
fn file_data_ranges(file: &File, range: Range<u64>) -> io::Result<Vec<Range<u64>>> {
    use rustix::fs::{SeekFrom, seek};
    let mut out = Vec::new();
    let mut pos = range.start;
    while pos < range.end {
        let data = match seek(file, SeekFrom::Data(pos)) {
            Ok(d) => d,
            Err(rustix::io::Errno::NXIO) => break, // no data after pos
            Err(e) => return Err(e.into()),
        };
        if data >= range.end {
            break;
        }
        let hole = seek(file, SeekFrom::Hole(data))?;
        out.push(data..hole.min(range.end));
        pos = hole;
    }
    Ok(out)
}

/// True if `buf` is all zero bytes.
pub fn is_zero(buf: &[u8]) -> bool {
    let words = buf.chunks_exact(16);
    let tail = words.remainder();
    tail.iter().all(|&b| b == 0)
        && words
            .into_iter()
            .all(|w| u128::from_ne_bytes(w.try_into().expect("16 bytes")) == 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, Write};

    #[test]
    fn reads_zero_fill_and_overlaps_are_refused() {
        let mut d = Disk::new(100);
        d.add_bytes(10, vec![1u8; 10], "a").unwrap();
        d.add_bytes(30, vec![2u8; 10], "b").unwrap();
        assert!(matches!(
            d.add_bytes(15, vec![3u8; 10], "c"),
            Err(Error::Overlap { .. })
        ));
        assert!(matches!(
            d.add_bytes(95, vec![3u8; 10], "c"),
            Err(Error::BeyondDisk { .. })
        ));
        let mut buf = [9u8; 40];
        d.read_at(5, &mut buf).unwrap();
        let mut want = [0u8; 40];
        want[5..15].fill(1);
        want[25..35].fill(2);
        assert_eq!(buf, want);
    }

    #[test]
    fn file_holes_are_not_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sparse");
        let mut f = File::create(&path).unwrap();
        f.write_all(&[7u8; 4096]).unwrap();
        f.seek(io::SeekFrom::Start(8 << 20)).unwrap();
        f.write_all(&[8u8; 4096]).unwrap();
        drop(f);
        let mut d = Disk::new(64 << 20);
        d.add_file(1 << 20, &path, "sparse").unwrap();
        let ranges = d.data_ranges().unwrap();
        // tmpfs and ext4 both report two data regions; a file system without holes one.
        assert!(ranges.len() == 2 || ranges.len() == 1, "{ranges:?}");
        assert_eq!(ranges[0].start, 1 << 20);
        let blocks: Vec<u64> = d.blocks(1 << 20).unwrap().map(|b| b.unwrap().0).collect();
        if ranges.len() == 2 {
            assert_eq!(blocks, vec![1, 9]);
        }
        assert!(is_zero(&[0u8; 33]) && !is_zero(&[0, 0, 1]));
    }
}
