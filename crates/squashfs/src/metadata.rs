//! Metadata tables: a byte stream cut into 8 KiB blocks, each compressed on its own and
//! prefixed with a 16-bit length (bit 15 set when stored uncompressed).
//!
//! Inode, directory, fragment, id, export and xattr tables are all written this way. A
//! position in a table is a [`MetaRef`]: where its block starts in the compressed table, and the
//! offset inside the block. Full blocks are compressed as soon as they fill, so the current
//! position is always exact (a record that ends a block leaves the position at the start of the
//! next one).

use crate::compress::{Compressor, Packed};
use crate::format::{self, MetaRef, Put};

/// Builds one metadata table in memory.
pub struct MetadataWriter {
    out: Vec<u8>,
    buf: Vec<u8>,
    block_starts: Vec<u64>,
}

impl MetadataWriter {
    /// An empty table.
    pub fn new() -> Self {
        MetadataWriter {
            out: Vec::new(),
            buf: Vec::with_capacity(format::METADATA_SIZE),
            block_starts: Vec::new(),
        }
    }

    /// Where the next byte will go.
    pub fn position(&self) -> MetaRef {
        MetaRef {
            block: self.out.len() as u64,
            offset: self.buf.len() as u16,
        }
    }

    /// Appends bytes, compressing every block that fills up.
    pub fn write(&mut self, c: &mut Compressor, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let n = (format::METADATA_SIZE - self.buf.len()).min(bytes.len());
            self.buf.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.buf.len() == format::METADATA_SIZE {
                self.flush(c)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, c: &mut Compressor) -> std::io::Result<()> {
        let block = std::mem::replace(&mut self.buf, Vec::with_capacity(format::METADATA_SIZE));
        self.block_starts.push(self.out.len() as u64);
        let packed = c.metadata_block(block)?;
        let header = match &packed {
            Packed::Compressed(b) => b.len() as u16,
            Packed::Stored(b) => b.len() as u16 | format::METADATA_UNCOMPRESSED,
        };
        self.out.put_u16(header);
        self.out.extend_from_slice(packed.bytes());
        Ok(())
    }

    /// Compresses the last, partial block and returns the table bytes and where each block
    /// starts (relative to the table).
    pub fn finish(mut self, c: &mut Compressor) -> std::io::Result<(Vec<u8>, Vec<u64>)> {
        if !self.buf.is_empty() {
            self.flush(c)?;
        }
        Ok((self.out, self.block_starts))
    }
}

/// Appends a table of fixed-size records (ids, fragments, export refs, xattr ids) at absolute
/// offset `at` of the image: the records' metadata blocks, then `header` (the xattr table has
/// one), then the list of the blocks' absolute positions. Returns where `header` (or, without
/// one, the position list) starts: what the superblock points at.
pub fn write_lookup_table(
    image: &mut Vec<u8>,
    at: u64,
    records: &[u8],
    header: &[u8],
    c: &mut Compressor,
) -> std::io::Result<u64> {
    let mut m = MetadataWriter::new();
    m.write(c, records)?;
    let (bytes, starts) = m.finish(c)?;
    image.extend_from_slice(&bytes);
    image.extend_from_slice(header);
    for s in starts {
        image.put_u64(at + s);
    }
    Ok(at + bytes.len() as u64)
}
