//! `dir2iso <dir> <image> [VOLUME_ID] [--efi-boot <fat image>]`: an ISO 9660 image of a host
//! directory's contents (owners root, times from SOURCE_DATE_EPOCH or 0), with Rock Ridge and
//! optionally a hidden UEFI El Torito image — what
//! `xorriso -as mkisofs -R [-e boot.img -no-emul-boot -hide …] -V ID` makes. Regular files are
//! streamed from the host when the image is written. For comparing with xorriso by hand and
//! in bench/.

use evebuild_iso::{IsoOptions, IsoWriter, Platform, Source};
use evebuild_tree::{Entry, Kind, Sink, WalkOptions, walk_dir};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Adds files by host path instead of holding their contents.
struct ByPath<'a> {
    root: PathBuf,
    iso: &'a mut IsoWriter,
}

impl Sink for ByPath<'_> {
    fn add(&mut self, e: &Entry, data: &mut dyn Read) -> Result<(), evebuild_tree::Error> {
        if matches!(e.kind, Kind::File { .. }) {
            let host = self.root.join(e.path.as_str_lossy().as_ref());
            return self.iso.add_file_from(e, &host).map_err(|err| {
                evebuild_tree::Error::io(format!("{}", host.display()), std::io::Error::other(err))
            });
        }
        self.iso.add(e, data)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (dir, img) = match &args[..] {
        [d, i, ..] => (d, i),
        _ => {
            return Err("usage: dir2iso <dir> <image> [VOLUME_ID] [--efi-boot <fat image>]".into());
        }
    };
    let volume = args
        .get(2)
        .filter(|a| !a.starts_with("--"))
        .map_or("CDROM", String::as_str);
    let sde: i64 = std::env::var("SOURCE_DATE_EPOCH").map_or(Ok(0), |s| s.parse())?;
    let mut opts = IsoOptions::new(volume, sde);
    if let Some(i) = args.iter().position(|a| a == "--efi-boot") {
        let boot = args.get(i + 1).ok_or("--efi-boot needs an image")?;
        opts = opts.boot(Platform::Uefi, Source::file(Path::new(boot))?);
    }
    let mut iso = IsoWriter::new(opts)?;
    let walk = WalkOptions {
        dereference: false,
        all_root: true,
        mtime: Some(sde),
        xattrs: false,
    };
    let mut sink = ByPath {
        root: PathBuf::from(dir),
        iso: &mut iso,
    };
    walk_dir(Path::new(dir), None, &walk, &mut sink)?;
    let tmp = format!("{img}.tmp");
    let s = iso.finish(std::fs::File::create(&tmp)?)?;
    std::fs::rename(tmp, img)?;
    eprintln!("{s:?}");
    Ok(())
}
