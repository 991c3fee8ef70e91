//! Google Compute Engine image archives (`live.img.tar.gz`): one member `disk.raw`, the disk
//! grown to the virtual size, stored as a GNU (old format) sparse file so that only its data is
//! archived, mode 0644, owner and group root, mtime from the caller (SOURCE_DATE_EPOCH),
//! gzip-compressed without name or time. It extracts with `tar -xS` (or plain `tar -x`) to the
//! raw image. EVE makes it with `tar --mode=644 --owner=root --group=root -S -h -czvf`.
//!
//! The data map is found at 4 KiB granularity (a first pass over the disk's data), the archive
//! is then streamed and deflated in parallel 1 MiB chunks (each primed with the previous 32 KiB,
//! as pigz does) into a single gzip member. Not here: other member names, other tar formats.

pub mod format;

use crate::disk::{Disk, is_zero};
use crate::output::{put, write_atomically};
use crate::par::{default_threads, ordered_map};
use crate::{Error, virtual_size};
use flate2::{Compress, Compression, FlushCompress};
use std::ops::Range;
use std::path::Path;

/// The member name GCE requires.
pub const MEMBER: &str = "disk.raw";

/// Options for [`write`].
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Size of `disk.raw`; default the disk's size (EVE: MEDIA_SIZE).
    pub virtual_size: Option<u64>,
    /// Modification time of `disk.raw`, Unix seconds.
    pub mtime: u64,
    /// Compression threads; default: the available parallelism.
    pub threads: Option<usize>,
}

/// Hole-detection granularity.
const PAGE: u64 = 4096;
/// Uncompressed bytes per compression job.
const CHUNK: usize = 1 << 20;
/// deflate window: the dictionary carried from one chunk to the next.
const WINDOW: usize = 32 * 1024;

/// Writes `disk` to `dest` as a gzip-compressed tar holding the sparse file `disk.raw`.
pub fn write(disk: &Disk, dest: &Path, options: &Options) -> Result<(), Error> {
    let size = virtual_size(disk, options.virtual_size)?;
    let map = data_map(disk)?;
    let mut head = member_header(&map, size, options.mtime);
    let stored: u64 = map.iter().map(|r| r.end - r.start).sum();
    let mut tail_len =
        (format::BLOCK as u64 - stored % format::BLOCK as u64) % format::BLOCK as u64;
    let before_end = head.len() as u64 + stored + tail_len;
    // End-of-archive: two zero blocks, then padding to a whole record.
    let total = (before_end + 2 * format::BLOCK as u64).next_multiple_of(format::RECORD as u64);
    tail_len += total - before_end;

    let threads = options.threads.unwrap_or_else(default_threads);
    write_atomically(dest, |file, path| {
        put(file, path, &format::GZIP_HEADER)?;
        let mut crc = crc32fast::Hasher::new();
        let mut stream = TarStream {
            disk,
            head: std::mem::take(&mut head),
            map: map.iter(),
            current: 0..0,
            tail: tail_len,
        };
        let mut previous_tail: Vec<u8> = Vec::new();
        let chunks = std::iter::from_fn(|| match stream.next_chunk() {
            Ok(Some(chunk)) => {
                let dict = std::mem::replace(
                    &mut previous_tail,
                    chunk[chunk.len().saturating_sub(WINDOW)..].to_vec(),
                );
                Some(Ok((dict, chunk)))
            }
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        });
        ordered_map(
            chunks,
            threads,
            || Compress::new(Compression::default(), false),
            |deflate, (dict, chunk): (Vec<u8>, Vec<u8>)| {
                let mut chunk_crc = crc32fast::Hasher::new();
                chunk_crc.update(&chunk);
                (deflate_chunk(deflate, &dict, &chunk), chunk_crc)
            },
            |(compressed, chunk_crc)| {
                crc.combine(&chunk_crc);
                put(file, path, &compressed)
            },
        )?;
        put(file, path, &format::DEFLATE_FINAL_EMPTY_BLOCK)?;
        let mut trailer = crc.finalize().to_le_bytes().to_vec();
        trailer.extend_from_slice(&(total as u32).to_le_bytes());
        put(file, path, &trailer)
    })
}

/// Deflates `chunk` as a run of sync-flushed blocks that may refer back into `dict`.
fn deflate_chunk(deflate: &mut Compress, dict: &[u8], chunk: &[u8]) -> Vec<u8> {
    deflate.reset();
    if !dict.is_empty() {
        deflate
            .set_dictionary(dict)
            .expect("a fresh raw deflate stream accepts a dictionary");
    }
    let mut out = Vec::with_capacity(chunk.len() + chunk.len() / 1000 + 64);
    let start_in = deflate.total_in();
    loop {
        let consumed = (deflate.total_in() - start_in) as usize;
        deflate
            .compress_vec(&chunk[consumed..], &mut out, FlushCompress::Sync)
            .expect("deflate of in-memory data cannot fail");
        let consumed = (deflate.total_in() - start_in) as usize;
        // Done when all input is in and the flush fitted (room left in the buffer).
        if consumed == chunk.len() && out.len() < out.capacity() {
            return out;
        }
        out.reserve(out.capacity().max(4096));
    }
}

/// The data (non-hole) regions of the disk at 4 KiB granularity.
fn data_map(disk: &Disk) -> Result<Vec<Range<u64>>, Error> {
    let block = 1 << 20;
    let mut map: Vec<Range<u64>> = Vec::new();
    for b in disk.blocks(block)? {
        let (index, data) = b?;
        for (i, page) in data.chunks(PAGE as usize).enumerate() {
            let start = index * block + i as u64 * PAGE;
            if start >= disk.size() || is_zero(page) {
                continue;
            }
            let end = (start + PAGE).min(disk.size());
            match map.last_mut() {
                Some(last) if last.end == start => last.end = end,
                _ => map.push(start..end),
            }
        }
    }
    Ok(map)
}

/// Header block(s) of the sparse member: GNU tar's map lists the data regions and then an empty
/// region at the end of the file.
fn member_header(map: &[Range<u64>], size: u64, mtime: u64) -> Vec<u8> {
    use format::header as h;
    let mut entries: Vec<(u64, u64)> = map.iter().map(|r| (r.start, r.end - r.start)).collect();
    entries.push((size, 0));
    let stored: u64 = map.iter().map(|r| r.end - r.start).sum();
    let mut b = vec![0u8; format::BLOCK];
    b[h::NAME..h::NAME + MEMBER.len()].copy_from_slice(MEMBER.as_bytes());
    numeric(&mut b, h::MODE, 0o644);
    numeric(&mut b, h::UID, 0);
    numeric(&mut b, h::GID, 0);
    numeric(&mut b, h::SIZE, stored);
    numeric(&mut b, h::MTIME, mtime);
    b[h::TYPEFLAG] = format::TYPE_SPARSE;
    b[h::MAGIC..h::MAGIC + 8].copy_from_slice(format::MAGIC_OLDGNU);
    b[h::UNAME..h::UNAME + 4].copy_from_slice(b"root");
    b[h::GNAME..h::GNAME + 4].copy_from_slice(b"root");
    numeric(&mut b, h::REALSIZE, size);
    let (first, rest) = entries.split_at(entries.len().min(format::HEADER_SPARSE_ENTRIES));
    put_sparse(&mut b[h::SPARSE..], first);
    b[h::IS_EXTENDED] = u8::from(!rest.is_empty());
    // The checksum is computed with its own field as spaces.
    b[h::CHKSUM.0..h::CHKSUM.0 + h::CHKSUM.1].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    let text = format!("{sum:06o}\0 ");
    b[h::CHKSUM.0..h::CHKSUM.0 + 8].copy_from_slice(text.as_bytes());

    let mut groups = rest.chunks(format::EXTENSION_SPARSE_ENTRIES).peekable();
    while let Some(group) = groups.next() {
        let mut ext = vec![0u8; format::BLOCK];
        put_sparse(&mut ext, group);
        ext[h::EXT_IS_EXTENDED] = u8::from(groups.peek().is_some());
        b.extend_from_slice(&ext);
    }
    b
}

fn put_sparse(buf: &mut [u8], entries: &[(u64, u64)]) {
    for (i, &(offset, len)) in entries.iter().enumerate() {
        let at = i * format::SPARSE_ENTRY;
        numeric(buf, (at, 12), offset);
        numeric(buf, (at + 12, 12), len);
    }
}

/// A numeric tar field: zero-padded octal and a NUL, or GNU base-256 when too large.
fn numeric(buf: &mut [u8], (at, width): (usize, usize), value: u64) {
    let field = &mut buf[at..at + width];
    let text = format!("{value:0w$o}", w = width - 1);
    if text.len() < width {
        field[..width - 1].copy_from_slice(text.as_bytes());
        field[width - 1] = 0;
    } else {
        field.fill(0);
        field[0] = 0x80;
        let be = value.to_be_bytes();
        field[width - 8..].copy_from_slice(&be);
    }
}

/// The uncompressed archive, produced in chunks: header blocks, the data regions, then
/// padding and the end-of-archive blocks (`tail` zero bytes).
struct TarStream<'a> {
    disk: &'a Disk,
    head: Vec<u8>,
    map: std::slice::Iter<'a, Range<u64>>,
    current: Range<u64>,
    tail: u64,
}

impl TarStream<'_> {
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        let mut chunk = std::mem::take(&mut self.head);
        while chunk.len() < CHUNK {
            if self.current.is_empty() {
                match self.map.next() {
                    Some(r) => self.current = r.clone(),
                    None => break,
                }
            }
            let n = (self.current.end - self.current.start).min((CHUNK - chunk.len()) as u64);
            let at = chunk.len();
            chunk.resize(at + n as usize, 0);
            self.disk.read_at(self.current.start, &mut chunk[at..])?;
            self.current.start += n;
        }
        if chunk.len() < CHUNK && self.current.is_empty() {
            let n = self.tail.min((CHUNK - chunk.len()) as u64);
            chunk.resize(chunk.len() + n as usize, 0);
            self.tail -= n;
        }
        Ok((!chunk.is_empty()).then_some(chunk))
    }
}
