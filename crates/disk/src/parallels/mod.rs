//! Parallels images: the expandable image file (header, BAT, non-zero 1 MiB clusters), as
//! `qemu-img convert -O parallels` writes it, and the bundle directory EVE ships as
//! `live.parallels/`: the image named `<prefix>.0.{<guid>}.hds` plus the `DiskDescriptor.xml`
//! that EVE's `tools/parallels_disk.sh` writes, with its `uuidgen` UID replaced by a caller's
//! GUID.
//!
//! Not here: the Format Extension cluster (dirty bitmaps), snapshots chains.

pub mod format;

use crate::blockmap::write_allocated;
use crate::disk::Disk;
use crate::guid::Guid;
use crate::output::{BufferedAt, put_at, set_len, write_atomically};
use crate::{Error, sector_virtual_size, virtual_size};
use std::path::Path;

/// Writes `disk` to `dest` as a Parallels expandable image of `size` bytes (default: the disk's
/// size).
pub fn write(disk: &Disk, dest: &Path, size: Option<u64>) -> Result<(), Error> {
    let size = sector_virtual_size(disk, size, "parallels")?;
    let sectors = size / format::SECTOR;
    let bat_entries = size.div_ceil(format::CLUSTER);
    if bat_entries > u64::from(u32::MAX) {
        return Err(Error::Unsupported {
            format: "parallels",
            why: format!("virtual size {size}"),
        });
    }
    let data_offset =
        (format::HEADER_LEN as u64 + bat_entries * 4).next_multiple_of(format::CLUSTER);

    write_atomically(dest, |file, path| {
        let mut out = BufferedAt::new(file, path);
        let allocations = write_allocated(disk, &mut out, format::CLUSTER, data_offset, &[])?;
        let mut head = vec![0u8; format::HEADER_LEN + bat_entries as usize * 4];
        head[..16].copy_from_slice(format::MAGIC_EXT);
        let put32 = |b: &mut [u8], at: usize, v: u64| {
            b[at..at + 4].copy_from_slice(&(v as u32).to_le_bytes())
        };
        use format::header as h;
        put32(&mut head, h::VERSION, format::VERSION.into());
        put32(&mut head, h::HEADS, format::HEADS.into());
        put32(
            &mut head,
            h::CYLINDERS,
            sectors / u64::from(format::HEADS) / format::SECTORS_PER_TRACK,
        );
        put32(&mut head, h::TRACKS, format::CLUSTER / format::SECTOR);
        put32(&mut head, h::BAT_ENTRIES, bat_entries);
        head[h::NB_SECTORS..h::NB_SECTORS + 8].copy_from_slice(&sectors.to_le_bytes());
        put32(&mut head, h::IN_USE, 0);
        put32(&mut head, h::DATA_OFF, data_offset / format::SECTOR);
        for a in &allocations {
            let at = format::HEADER_LEN + a.index as usize * 4;
            put32(&mut head, at, a.offset / format::CLUSTER);
        }
        put_at(file, path, 0, &head)?;
        set_len(
            file,
            path,
            data_offset + allocations.len() as u64 * format::CLUSTER,
        )
    })
}

/// What names a Parallels bundle.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// Virtual size; default the disk's size.
    pub virtual_size: Option<u64>,
    /// Image file prefix: the image is `<prefix>.0.{<image_guid>}.hds` (EVE: `live`).
    pub prefix: String,
    /// GUID of the image and of its snapshot (EVE's fixed
    /// `5fbaabe3-6958-40ff-92a7-860e329aab41`).
    pub image_guid: Guid,
    /// The disk's UID (random in EVE; derive it).
    pub disk_uid: Guid,
    /// Disk name in the descriptor (EVE: `eve`).
    pub name: String,
}

impl Bundle {
    /// The image file name inside the bundle.
    pub fn image_name(&self) -> String {
        format!("{}.0.{}.hds", self.prefix, self.image_guid.braced())
    }

    /// `DiskDescriptor.xml` for an image of `size` bytes, line for line as EVE's
    /// `tools/parallels_disk.sh` writes it.
    pub fn descriptor(&self, size: u64) -> String {
        let sectors = size / format::SECTOR;
        let cylinders = sectors / u64::from(format::HEADS) / format::SECTORS_PER_TRACK;
        let zero = Guid::NIL.braced();
        let image = self.image_guid.braced();
        format!(
            "<?xml version='1.0' encoding='UTF-8'?>
<Parallels_disk_image Version=\"1.0\">
    <Disk_Parameters>
        <Disk_size>{sectors}</Disk_size>
        <Cylinders>{cylinders}</Cylinders>
        <PhysicalSectorSize>512</PhysicalSectorSize>
        <Heads>{heads}</Heads>
        <Sectors>{spt}</Sectors>
        <Padding>0</Padding>
        <Encryption>
            <Engine>{zero}</Engine>
            <Data></Data>
        </Encryption>
        <UID>{uid}</UID>
        <Name>{name}</Name>
        <Miscellaneous>
            <CompatLevel>level2</CompatLevel>
            <Bootable>1</Bootable>
            <SuspendState>0</SuspendState>
        </Miscellaneous>
    </Disk_Parameters>
    <StorageData>
        <Storage>
            <Start>0</Start>
            <End>{sectors}</End>
            <Blocksize>{blocksize}</Blocksize>
            <Image>
                <GUID>{image}</GUID>
                <Type>Compressed</Type>
                <File>{file}</File>
            </Image>
        </Storage>
    </StorageData>
    <Snapshots>
        <Shot>
            <GUID>{image}</GUID>
            <ParentGUID>{zero}</ParentGUID>
        </Shot>
    </Snapshots>
</Parallels_disk_image>
",
            heads = format::HEADS,
            spt = format::SECTORS_PER_TRACK,
            uid = self.disk_uid.braced(),
            name = self.name,
            blocksize = format::DESCRIPTOR_BLOCKSIZE,
            file = self.image_name(),
        )
    }
}

/// Writes the bundle directory `dir` (replacing it, as EVE's `rm -rf; mkdir` does): the image
/// and `DiskDescriptor.xml`. The directory is assembled next to `dir` and renamed into place.
pub fn write_bundle(disk: &Disk, dir: &Path, bundle: &Bundle) -> Result<(), Error> {
    let size = virtual_size(disk, bundle.virtual_size)?;
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".evebuild-")
        .tempdir_in(parent)
        .map_err(|e| Error::io(parent, "create a temporary directory in", e))?;
    write(disk, &tmp.path().join(bundle.image_name()), Some(size))?;
    let descriptor = tmp.path().join(format::DESCRIPTOR);
    std::fs::write(&descriptor, bundle.descriptor(size))
        .map_err(|e| Error::io(&descriptor, "write", e))?;
    set_dir_mode(tmp.path())?;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| Error::io(dir, "remove the old", e))?;
    }
    let tmp = tmp.keep();
    std::fs::rename(&tmp, dir).map_err(|e| Error::io(dir, "rename into place", e))
}

fn set_dir_mode(dir: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| Error::io(dir, "set permissions of", e))
}
