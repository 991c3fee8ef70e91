//! Makes a squashfs image from a host directory, like `mksquashfs DIR IMAGE`: the directory is
//! read with `evebuild_tree::walk_dir` (owners and xattrs kept) and streamed into the writer.
//! Used by bench/squashfs.sh to compare with mksquashfs.
//!
//! Usage: `mksquashfs DIR IMAGE [--comp xz|xz-plain|xz-smallest|zstd|gzip|lz4] [--threads N]
//! [--mkfs-time T] [--no-dedup] [--tail-ends]`

use evebuild_squashfs::{BcjChoice, Compression, Options, write_image};
use evebuild_tree::{WalkOptions, walk_dir};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(image)) = (args.next(), args.next()) else {
        eprintln!("usage: mksquashfs DIR IMAGE [--comp C] [--threads N] [--mkfs-time T]");
        return ExitCode::from(2);
    };
    let mut opts = Options::default();
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "--comp" => {
                opts.compression = match val().as_str() {
                    "xz" => Compression::default(),
                    "xz-plain" => Compression::xz_plain(),
                    "xz-smallest" => match Compression::default() {
                        Compression::Xz {
                            level,
                            extreme,
                            bcj,
                            ..
                        } => Compression::Xz {
                            level,
                            extreme,
                            bcj,
                            choice: BcjChoice::Smallest,
                        },
                        c => c,
                    },
                    "zstd" => Compression::Zstd { level: 15 },
                    "gzip" => Compression::Gzip { level: 9 },
                    "lz4" => Compression::Lz4,
                    other => {
                        eprintln!("unknown compressor {other}");
                        return ExitCode::from(2);
                    }
                }
            }
            "--threads" => opts.threads = val().parse().unwrap_or(0),
            "--mkfs-time" => opts.mkfs_time = val().parse().unwrap_or(0),
            "--no-dedup" => opts.dedup = false,
            "--tail-ends" => opts.tail_ends = true,
            other => {
                eprintln!("unknown option {other}");
                return ExitCode::from(2);
            }
        }
    }
    let walk = WalkOptions {
        xattrs: true,
        ..WalkOptions::default()
    };
    let root = PathBuf::from(dir);
    match write_image(&PathBuf::from(image), opts, |sink| {
        walk_dir(&root, None, &walk, sink)
    }) {
        Ok(stats) => {
            eprintln!("{stats:#?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
