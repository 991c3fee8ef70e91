//! `dir2fat <dir> <image> <KiB> [LABEL]`: a FAT image of a host directory's contents (symlinks
//! followed, times from SOURCE_DATE_EPOCH or 0), the way make-raw's `dir2vfat` makes one with
//! mkfs.vfat + mcopy. For comparing with those tools by hand and in bench/.

use evebuild_fat::{FatOptions, FatWriter};
use evebuild_tree::{WalkOptions, walk_dir};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, img, kib, rest @ ..] = &args[..] else {
        return Err("usage: dir2fat <dir> <image> <KiB> [LABEL]".into());
    };
    let sde: i64 = std::env::var("SOURCE_DATE_EPOCH").map_or(Ok(0), |s| s.parse())?;
    let mut opts = FatOptions::new(kib.parse::<u64>()? * 1024, 0x4556_4500, sde);
    opts.label = rest.first().cloned();
    let mut w = FatWriter::new(opts)?;
    let walk = WalkOptions {
        dereference: true,
        all_root: true,
        mtime: Some(sde),
        xattrs: false,
    };
    walk_dir(Path::new(dir), None, &walk, &mut w)?;
    let tmp = format!("{img}.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    let s = w.finish(&mut f)?;
    std::fs::rename(tmp, img)?;
    eprintln!("{:?}, {} clusters used", s.geometry, s.clusters_used);
    Ok(())
}
