//! # What kind of image is being booted
//!
//! Tells a disk image (raw, qcow2, vmdk, vdi, vhdx, vpc, parallels) from an ISO by content, not
//! by file name, so QEMU gets an explicit `format=` and ISOs are attached as CD-ROMs. A raw
//! disk that also carries an ISO 9660 volume (an isohybrid image) counts as an ISO; EVE's
//! installer.iso is not hybrid and boots only as a CD. Compressed archives (`.img.tar.gz`)
//! are not bootable and are reported as such.

use crate::RunError;
use crate::format::{IMAGE_MAGICS, ISO9660_MAGIC, ISO9660_MAGIC_OFFSET};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// How QEMU is to attach an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageKind {
    /// A disk in the named QEMU format (`raw`, `qcow2`, …).
    Disk {
        /// QEMU's format name.
        format: &'static str,
    },
    /// An ISO 9660 image, attached as a CD-ROM.
    Iso,
}

impl ImageKind {
    /// Looks at the image's content.
    pub fn detect(image: &Path) -> Result<ImageKind, RunError> {
        let io = |source| RunError::Image {
            path: image.to_path_buf(),
            source,
        };
        let mut file = File::open(image).map_err(io)?;
        if read_at(&mut file, 0, 2).map_err(io)? == [0x1f, 0x8b] {
            return Err(RunError::NotBootable {
                path: image.to_path_buf(),
                why: "it is gzip-compressed (a GCP .img.tar.gz?): unpack disk.raw from it first"
                    .into(),
            });
        }
        for m in IMAGE_MAGICS {
            if read_at(&mut file, m.offset, m.magic.len()).map_err(io)? == m.magic {
                return Ok(ImageKind::Disk {
                    format: m.qemu_format,
                });
            }
        }
        if read_at(&mut file, ISO9660_MAGIC_OFFSET, ISO9660_MAGIC.len()).map_err(io)?
            == ISO9660_MAGIC
        {
            return Ok(ImageKind::Iso);
        }
        Ok(ImageKind::Disk { format: "raw" })
    }
}

/// Up to `n` bytes at `offset` (fewer at the end of the file).
fn read_at(file: &mut File, offset: u64, n: usize) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::with_capacity(n);
    file.take(n as u64).read_to_end(&mut buf)?;
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn tool(cmd: &mut Command, package: &str) {
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}: install the Debian package {package}"));
        assert!(out.status.success(), "{cmd:?}: {out:?}");
    }

    /// Every format qemu-img writes is recognised as the format qemu-img says it is.
    #[test]
    fn detects_what_qemu_img_writes() {
        let dir = tempfile::tempdir().unwrap();
        for (fmt, opts) in [
            ("raw", ""),
            ("qcow2", ""),
            ("vmdk", ""),
            ("vdi", ""),
            ("vhdx", ""),
            ("vpc", "subformat=dynamic"),
            ("vpc", "subformat=fixed"),
            ("parallels", ""),
        ] {
            let path = dir.path().join(format!("disk-{fmt}-{}", opts.len()));
            let mut cmd = Command::new("qemu-img");
            cmd.args(["create", "-q", "-f", fmt]);
            if !opts.is_empty() {
                cmd.args(["-o", opts]);
            }
            tool(cmd.arg(&path).arg("4M"), "qemu-utils");
            let info = Command::new("qemu-img")
                .args(["info", "--output=json"])
                .arg(&path)
                .output()
                .unwrap();
            let info = String::from_utf8_lossy(&info.stdout);
            let kind = ImageKind::detect(&path).unwrap();
            let ImageKind::Disk { format } = kind else {
                panic!("{fmt} {opts}: detected as {kind:?}")
            };
            assert!(
                info.contains(&format!("\"format\": \"{format}\"")),
                "{fmt} {opts}: detected {format}, qemu-img info says {info}"
            );
        }
    }

    #[test]
    fn detects_an_iso_written_by_xorriso() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tree")).unwrap();
        std::fs::write(dir.path().join("tree/hello"), "hello").unwrap();
        let iso = dir.path().join("x.iso");
        tool(
            Command::new("xorriso")
                .args(["-as", "mkisofs", "-quiet", "-R", "-V", "EVEISO", "-o"])
                .arg(&iso)
                .arg(dir.path().join("tree")),
            "xorriso",
        );
        assert_eq!(ImageKind::detect(&iso).unwrap(), ImageKind::Iso);
    }

    #[test]
    fn refuses_a_gzip_archive_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("live.img.tar.gz");
        std::fs::write(&gz, [0x1f, 0x8b, 8, 0, 0, 0]).unwrap();
        let err = ImageKind::detect(&gz).unwrap_err().to_string();
        assert!(err.contains("unpack disk.raw"), "{err}");
        let err = ImageKind::detect(&dir.path().join("nope.raw"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope.raw"), "{err}");
    }
}
