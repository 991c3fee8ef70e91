//! Reading an ext4 rootfs.img (`ROOTFS_FORMAT=ext4`, LIVE_UPDATE builds) as an entry stream,
//! without mounting it.
//!
//! The filesystem is read with the `ext4-view` crate (read-only ext4, pure Rust). It gives
//! names, types, permission bits, owners, file contents and link targets, which is what a
//! comparison needs, but neither extended attributes nor device numbers: those two are
//! reported as [`UNREAD`], and the comparison leaves them out when a side did not read them.
//! The `lost+found` directory that mke2fs adds at the root is not part of the rootfs and is
//! skipped. A file with several names is read once per name (the comparison treats hard links
//! as the file they name).

use evebuild_tree::{Entry, EntryPath, Kind, Sink};
use ext4_view::{Ext4, FileType};
use std::path::Path;

/// What an ext4 side cannot tell the comparison.
pub const UNREAD: &[&str] = &["xattrs", "device numbers"];

/// The ext4 superblock magic (0xEF53, little-endian) at offset 1080 of the image.
pub fn is_ext4(head: &[u8]) -> bool {
    head.len() >= 1082 && head[1080..1082] == [0x53, 0xef]
}

fn bad(path: &Path, what: impl std::fmt::Display) -> evebuild_tree::Error {
    evebuild_tree::Error::io(
        format!("reading the ext4 image {}", path.display()),
        std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string()),
    )
}

/// Streams every entry of the ext4 image at `path` into `sink`, parents before children,
/// names sorted within a directory.
pub fn read_ext4(path: &Path, sink: &mut dyn Sink) -> Result<(), evebuild_tree::Error> {
    let fs = Ext4::load_from_path(path).map_err(|e| bad(path, e))?;
    let mut stack: Vec<ext4_view::PathBuf> = vec![ext4_view::PathBuf::new("/")];
    while let Some(dir) = stack.pop() {
        let mut entries = Vec::new();
        for entry in fs.read_dir(&dir).map_err(|e| bad(path, e))? {
            let entry = entry.map_err(|e| bad(path, e))?;
            let name = entry.file_name();
            let name = name.as_ref();
            let at_root = dir.as_ref() == b"/";
            if name == b"." || name == b".." || (at_root && name == b"lost+found") {
                continue;
            }
            entries.push(entry.path());
        }
        entries.sort_by(|a, b| a.as_ref().cmp(b.as_ref()));
        let mut subdirs = Vec::new();
        for p in entries {
            let meta = fs.symlink_metadata(&p).map_err(|e| bad(path, e))?;
            let rel = EntryPath::from_bytes(&p.as_ref()[1..]).map_err(|e| bad(path, e))?;
            let kind = match meta.file_type() {
                FileType::Directory => Kind::Dir,
                FileType::Regular => Kind::File { size: meta.len() },
                FileType::Symlink => Kind::Symlink {
                    target: fs
                        .read_link(&p)
                        .map_err(|e| bad(path, e))?
                        .as_ref()
                        .to_vec(),
                },
                FileType::CharacterDevice => Kind::CharDevice { major: 0, minor: 0 },
                FileType::BlockDevice => Kind::BlockDevice { major: 0, minor: 0 },
                FileType::Fifo => Kind::Fifo,
                FileType::Socket => continue,
            };
            let mut e = Entry::new(
                rel,
                kind,
                u32::from(meta.mode()) & 0o7777,
                meta.modified().seconds(),
            );
            e.uid = meta.uid();
            e.gid = meta.gid();
            if matches!(e.kind, Kind::File { .. }) {
                let data = fs.read(&p).map_err(|e| bad(path, e))?;
                sink.add(&e, &mut &data[..])?;
            } else {
                sink.add(&e, &mut std::io::empty())?;
            }
            if matches!(e.kind, Kind::Dir) {
                subdirs.push(p);
            }
        }
        // Depth first, in name order: the last pushed is visited first.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok(())
}
