//! `dir2ext4 <dir> <image> [MiB]`: an ext4 image of a host directory's contents (owners,
//! modes, xattrs and times as found; EVE's size rule unless a size is given), for comparing
//! with `mkfs.ext4 -d` by hand and in bench/. SOURCE_DATE_EPOCH sets the filesystem times.

use evebuild_ext4::{Ext4Options, Ext4Writer, SizeRule};
use evebuild_tree::{WalkOptions, walk_dir};
use std::path::Path;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, img, rest @ ..] = &args[..] else {
        return Err("usage: dir2ext4 <dir> <image> [MiB]".into());
    };
    let sde: i64 = std::env::var("SOURCE_DATE_EPOCH").map_or(Ok(0), |s| s.parse())?;
    let mut opts = Ext4Options::eve(sde);
    if let Some(mib) = rest.first() {
        opts.size = SizeRule::Fixed(mib.parse::<u64>()? * 1024 * 1024);
    }
    let mut w = Ext4Writer::new(Path::new(img), opts)?;
    let walk = WalkOptions {
        xattrs: true,
        ..WalkOptions::default()
    };
    walk_dir(Path::new(dir), None, &walk, &mut w)?;
    let s = w.finish()?;
    eprintln!("{} bytes, du {} KiB", s.size, s.du_kib);
    Ok(())
}
