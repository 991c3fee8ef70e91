//! Block compression: the compressors squashfs images may use, their superblock options, and
//! the per-block choice of xz branch filter.
//!
//! Every data block, fragment block and metadata block is compressed on its own, in the
//! container the kernel expects for that compressor: a whole `.xz` stream with a CRC32 check
//! (as mksquashfs writes it), a zlib stream for gzip, a Zstandard frame, a raw LZ4 block. A
//! block that does not get smaller is stored as it is.
//!
//! xz BCJ filters: mksquashfs's `-Xbcj x86,arm` compresses every data block once plain and
//! once per filter and keeps the smallest, which triples the cost of the dominant step of an
//! EVE build. Here [`BcjChoice::ByContent`] (the default) picks one filter per file from its
//! first bytes: an ELF header whose machine matches a listed filter gets that filter, anything
//! else none. [`BcjChoice::Smallest`] does what mksquashfs does. Either way the superblock lists
//! the filters, as mksquashfs does, and every reader decodes each block's own filter chain from
//! its `.xz` header. Not supported: lz4's high-compression mode, gzip strategies and windows
//! other than 15, the legacy lzma and lzo compressors.

use crate::format::{self, Put};
use std::io::Write;

/// A branch/call/jump filter for xz that makes machine code compress better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Bcj {
    /// x86 and x86-64.
    X86,
    /// 32-bit ARM.
    Arm,
    /// ARM Thumb.
    ArmThumb,
    /// 64-bit ARM (needs squashfs-tools ≥ 4.6 and a kernel with `XZ_DEC_ARM64`).
    Arm64,
    /// PowerPC (big endian).
    PowerPc,
    /// SPARC.
    Sparc,
    /// IA-64.
    Ia64,
    /// RISC-V (needs squashfs-tools ≥ 4.6 and a kernel with `XZ_DEC_RISCV`).
    RiscV,
}

/// One filter's facts.
struct BcjRow {
    filter: Bcj,
    /// Its bit in the superblock's xz options.
    bit: u32,
    /// ELF `e_machine` values whose code it suits.
    machines: &'static [u16],
    /// LZMA2 `lc`, `lp`, `pb` to use with it (squashfs-tools' and xz's recommendations).
    lzma_bits: (u32, u32, u32),
}

const fn row(
    filter: Bcj,
    bit: u32,
    machines: &'static [u16],
    lzma_bits: (u32, u32, u32),
) -> BcjRow {
    BcjRow {
        filter,
        bit,
        machines,
        lzma_bits,
    }
}

/// The filters as data.
const BCJ_TABLE: [BcjRow; 8] = {
    use format::xz_filter_bits as b;
    [
        // EM_386, EM_X86_64
        row(Bcj::X86, b::X86, &[3, 62], (3, 0, 2)),
        // EM_ARM
        row(Bcj::Arm, b::ARM, &[40], (2, 2, 2)),
        // Thumb code is EM_ARM too; only chosen when Arm is not listed.
        row(Bcj::ArmThumb, b::ARMTHUMB, &[40], (3, 1, 2)),
        // EM_AARCH64
        row(Bcj::Arm64, b::ARM64, &[183], (2, 2, 2)),
        // EM_PPC, EM_PPC64
        row(Bcj::PowerPc, b::POWERPC, &[20, 21], (2, 2, 2)),
        // EM_SPARC, EM_SPARC32PLUS, EM_SPARCV9
        row(Bcj::Sparc, b::SPARC, &[2, 18, 43], (2, 2, 2)),
        // EM_IA_64
        row(Bcj::Ia64, b::IA64, &[50], (0, 4, 4)),
        // EM_RISCV
        row(Bcj::RiscV, b::RISCV, &[243], (3, 1, 2)),
    ]
};

impl Bcj {
    fn row(self) -> &'static BcjRow {
        BCJ_TABLE
            .iter()
            .find(|r| r.filter == self)
            .expect("every filter has a row")
    }

    /// The bit for this filter in the xz compressor options.
    pub fn option_bit(self) -> u32 {
        self.row().bit
    }
}

/// How the xz BCJ filter of each data block is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BcjChoice {
    /// One compression per block, with the filter matching the file's ELF machine (fast).
    #[default]
    ByContent,
    /// Compress with no filter and with each listed filter, keep the smallest (mksquashfs).
    Smallest,
}

/// The compressor and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Compression {
    /// xz (LZMA2) with a dictionary of one block.
    Xz {
        /// Preset 0–9 (mksquashfs uses 6).
        level: u32,
        /// The slower "extreme" variant of the preset.
        extreme: bool,
        /// Filters listed in the superblock and available for data blocks.
        bcj: Vec<Bcj>,
        /// How a block's filter is picked.
        choice: BcjChoice,
    },
    /// Zstandard.
    Zstd {
        /// Level 1–22 (mksquashfs uses 15).
        level: i32,
    },
    /// zlib/deflate.
    Gzip {
        /// Level 1–9 (mksquashfs uses 9).
        level: u32,
    },
    /// LZ4 (fast mode).
    Lz4,
}

impl Default for Compression {
    /// xz with the x86 and ARM filters, as EVE's `mksquashfs -comp xz -Xbcj x86,arm`.
    fn default() -> Self {
        Compression::Xz {
            level: 6,
            extreme: false,
            bcj: vec![Bcj::X86, Bcj::Arm],
            choice: BcjChoice::ByContent,
        }
    }
}

impl Compression {
    /// Plain xz at mksquashfs's level, no filters.
    pub fn xz_plain() -> Self {
        Compression::Xz {
            level: 6,
            extreme: false,
            bcj: Vec::new(),
            choice: BcjChoice::ByContent,
        }
    }

    /// Checks the settings; the message says which value is wrong.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Compression::Xz { level, .. } if *level > 9 => {
                Err(format!("xz level {level} is out of range 0–9"))
            }
            Compression::Zstd { level } if !(1..=22).contains(level) => {
                Err(format!("zstd level {level} is out of range 1–22"))
            }
            Compression::Gzip { level } if !(1..=9).contains(level) => {
                Err(format!("gzip level {level} is out of range 1–9"))
            }
            _ => Ok(()),
        }
    }

    /// The superblock compressor id.
    pub fn id(&self) -> u16 {
        match self {
            Compression::Xz { .. } => format::compressor::XZ,
            Compression::Zstd { .. } => format::compressor::ZSTD,
            Compression::Gzip { .. } => format::compressor::GZIP,
            Compression::Lz4 => format::compressor::LZ4,
        }
    }

    /// The compressor options record written after the superblock, when mksquashfs would
    /// write one (non-default settings; always for lz4).
    pub fn options_record(&self, block_size: u32) -> Option<Vec<u8>> {
        let mut b = Vec::new();
        match self {
            Compression::Xz { bcj, .. } => {
                if bcj.is_empty() {
                    return None;
                }
                b.put_u32(block_size);
                b.put_u32(bcj.iter().fold(0, |acc, f| acc | f.option_bit()));
            }
            Compression::Zstd { level } => {
                if *level == format::ZSTD_DEFAULT_LEVEL {
                    return None;
                }
                b.put_u32(*level as u32);
            }
            Compression::Gzip { level } => {
                if *level == format::GZIP_DEFAULT_LEVEL {
                    return None;
                }
                b.put_u32(*level);
                b.put_u16(format::GZIP_DEFAULT_WINDOW);
                b.put_u16(0);
            }
            Compression::Lz4 => {
                b.put_u32(format::LZ4_LEGACY);
                b.put_u32(0);
            }
        }
        Some(b)
    }

    /// The filter a file's blocks get, from the file's first bytes.
    pub fn filter_for(&self, head: &[u8]) -> Option<Bcj> {
        let Compression::Xz {
            bcj,
            choice: BcjChoice::ByContent,
            ..
        } = self
        else {
            return None;
        };
        let machine = elf_machine(head)?;
        bcj.iter()
            .copied()
            .find(|f| f.row().machines.contains(&machine))
    }
}

/// `e_machine` of an ELF header at the start of `head`.
fn elf_machine(head: &[u8]) -> Option<u16> {
    if head.len() < 20 || &head[..4] != b"\x7fELF" {
        return None;
    }
    let raw = [head[18], head[19]];
    Some(match head[5] {
        2 => u16::from_be_bytes(raw),
        _ => u16::from_le_bytes(raw),
    })
}

/// What came out of compressing one block.
#[derive(Debug)]
pub enum Packed {
    /// Compressed bytes.
    Compressed(Vec<u8>),
    /// The original bytes (compression did not help).
    Stored(Vec<u8>),
}

impl Packed {
    /// The bytes to write.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Packed::Compressed(b) | Packed::Stored(b) => b,
        }
    }

    /// The size field of a data block or fragment entry (bit 24 set when stored).
    pub fn data_size_field(&self) -> u32 {
        match self {
            Packed::Compressed(b) => b.len() as u32,
            Packed::Stored(b) => b.len() as u32 | format::DATA_UNCOMPRESSED,
        }
    }
}

/// Per-thread compression state (encoder contexts are reused between blocks).
pub struct Compressor {
    compression: Compression,
    block_size: u32,
    zstd: Option<zstd::bulk::Compressor<'static>>,
}

impl Compressor {
    /// A compressor for images with this block size.
    pub fn new(compression: &Compression, block_size: u32) -> std::io::Result<Self> {
        let zstd = match compression {
            Compression::Zstd { level } => Some(zstd::bulk::Compressor::new(*level)?),
            _ => None,
        };
        Ok(Compressor {
            compression: compression.clone(),
            block_size,
            zstd,
        })
    }

    /// Compresses a data or fragment block with the given filter (ignored unless xz).
    pub fn data_block(&mut self, data: Vec<u8>, filter: Option<Bcj>) -> std::io::Result<Packed> {
        let dict = self.block_size;
        let out = match &self.compression {
            Compression::Xz {
                bcj,
                choice: BcjChoice::Smallest,
                level,
                extreme,
            } => {
                let mut best = xz(&data, *level, *extreme, dict, None)?;
                for f in bcj {
                    let c = xz(&data, *level, *extreme, dict, Some(*f))?;
                    if c.len() < best.len() {
                        best = c;
                    }
                }
                best
            }
            Compression::Xz { level, extreme, .. } => xz(&data, *level, *extreme, dict, filter)?,
            _ => self.generic(&data)?,
        };
        Ok(Self::pick(data, out))
    }

    /// Compresses one metadata block (never with a BCJ filter; xz uses an 8 KiB dictionary).
    pub fn metadata_block(&mut self, data: Vec<u8>) -> std::io::Result<Packed> {
        let out = match &self.compression {
            Compression::Xz { level, extreme, .. } => {
                xz(&data, *level, *extreme, format::METADATA_SIZE as u32, None)?
            }
            _ => self.generic(&data)?,
        };
        Ok(Self::pick(data, out))
    }

    fn pick(data: Vec<u8>, out: Vec<u8>) -> Packed {
        if out.len() < data.len() {
            Packed::Compressed(out)
        } else {
            Packed::Stored(data)
        }
    }

    fn generic(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        match &self.compression {
            Compression::Zstd { .. } => self
                .zstd
                .as_mut()
                .expect("zstd compressor set up")
                .compress(data),
            Compression::Gzip { level } => {
                let mut e = flate2::write::ZlibEncoder::new(
                    Vec::with_capacity(data.len()),
                    flate2::Compression::new(*level),
                );
                e.write_all(data)?;
                e.finish()
            }
            Compression::Lz4 => Ok(lz4_flex::block::compress(data)),
            Compression::Xz { .. } => unreachable!("xz is handled by the callers"),
        }
    }
}

/// One `.xz` stream (CRC32 check) holding `data`, LZMA2 preceded by `filter` if any.
fn xz(
    data: &[u8],
    level: u32,
    extreme: bool,
    dict: u32,
    filter: Option<Bcj>,
) -> std::io::Result<Vec<u8>> {
    use liblzma::stream::{Action, Check, Filters, LzmaOptions, Status, Stream};
    let preset = level
        | if extreme {
            liblzma::stream::PRESET_EXTREME
        } else {
            0
        };
    let mut opts = LzmaOptions::new_preset(preset).map_err(std::io::Error::other)?;
    opts.dict_size(dict);
    let mut filters = Filters::new();
    if let Some(f) = filter {
        let (lc, lp, pb) = f.row().lzma_bits;
        opts.literal_context_bits(lc)
            .literal_position_bits(lp)
            .position_bits(pb);
        match f {
            Bcj::X86 => filters.x86(),
            Bcj::Arm => filters.arm(),
            Bcj::ArmThumb => filters.arm_thumb(),
            Bcj::Arm64 => filters.arm64(),
            Bcj::PowerPc => filters.powerpc(),
            Bcj::Sparc => filters.sparc(),
            Bcj::Ia64 => filters.ia64(),
            Bcj::RiscV => filters.riscv(),
        };
    }
    filters.lzma2(&opts);
    let mut stream =
        Stream::new_stream_encoder(&filters, Check::Crc32).map_err(std::io::Error::other)?;
    // Room for incompressible data plus the container; the caller keeps whichever is smaller.
    let mut out = Vec::with_capacity(data.len() + data.len() / 16 + 256);
    loop {
        let consumed = stream.total_in() as usize;
        match stream
            .process_vec(&data[consumed..], &mut out, Action::Finish)
            .map_err(std::io::Error::other)?
        {
            Status::StreamEnd => return Ok(out),
            _ => out.reserve(4096),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_machine_picks_listed_filters_only() {
        let mut x86 = vec![0u8; 64];
        x86[..4].copy_from_slice(b"\x7fELF");
        x86[5] = 1;
        x86[18] = 62;
        let mut arm = x86.clone();
        arm[18] = 40;
        let c = Compression::default();
        assert_eq!(c.filter_for(&x86), Some(Bcj::X86));
        assert_eq!(c.filter_for(&arm), Some(Bcj::Arm));
        assert_eq!(c.filter_for(b"#!/bin/sh\n"), None);
        assert_eq!(Compression::xz_plain().filter_for(&x86), None);
    }
}
