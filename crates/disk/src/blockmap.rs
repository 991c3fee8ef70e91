//! The common core of the block-map formats (VDI, Parallels, VMDK, VHD): the non-zero blocks
//! of a disk are appended one after another, each optionally preceded by a fixed prefix (VHD's
//! sector bitmap), and the caller records where each landed in its table.

use crate::Error;
use crate::disk::{Disk, is_zero};
use crate::output::BufferedAt;

/// Where one allocated block was written.
pub(crate) struct Allocation {
    /// Block index in the virtual disk.
    pub index: u64,
    /// File offset of the block (of its prefix, if any).
    pub offset: u64,
}

/// Writes every non-zero `block_size` block of `disk` at `first_offset + n × (prefix + block)`
/// for n = 0, 1, …, and returns where each went, in disk order.
pub(crate) fn write_allocated(
    disk: &Disk,
    out: &mut BufferedAt<'_>,
    block_size: u64,
    first_offset: u64,
    prefix: &[u8],
) -> Result<Vec<Allocation>, Error> {
    let stride = prefix.len() as u64 + block_size;
    let mut allocations = Vec::new();
    for block in disk.blocks(block_size)? {
        let (index, data) = block?;
        if is_zero(&data) {
            continue;
        }
        let offset = first_offset + allocations.len() as u64 * stride;
        if !prefix.is_empty() {
            out.write_at(offset, prefix)?;
        }
        out.write_at(offset + prefix.len() as u64, &data)?;
        allocations.push(Allocation { index, offset });
    }
    out.flush()?;
    Ok(allocations)
}
