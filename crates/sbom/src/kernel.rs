//! The version of a kernel image: from the x86 boot header of a bzImage (`kernel_version`,
//! the string `uname -r` prints first), else from the `Linux version ` banner of an
//! uncompressed image (arm64 `Image`) or of a gzip-compressed one (`Image.gz`).
//!
//! Left out: banners inside compressed payloads other than gzip (a non-x86 zImage with xz).

use crate::format::{GZIP_MAGIC, LINUX_BANNER, MAX_KERNEL, bzimage};
use std::io::Read;

/// The kernel release (`6.1.0-13-amd64`), if the image names one.
pub fn version(image: &[u8]) -> Option<String> {
    if let Some(v) = bzimage_version(image) {
        return Some(v);
    }
    if image.starts_with(GZIP_MAGIC) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(image)
            .take(MAX_KERNEL)
            .read_to_end(&mut out)
            .ok()?;
        return banner_version(&out);
    }
    banner_version(image)
}

fn bzimage_version(image: &[u8]) -> Option<String> {
    let magic = image.get(bzimage::HEADER_MAGIC_AT..bzimage::HEADER_MAGIC_AT + 4)?;
    if magic != bzimage::HEADER_MAGIC {
        return None;
    }
    let ptr = image.get(bzimage::KERNEL_VERSION_AT..bzimage::KERNEL_VERSION_AT + 2)?;
    let ptr = u16::from_le_bytes([ptr[0], ptr[1]]) as usize;
    if ptr == 0 {
        return None;
    }
    let text = image.get(ptr + bzimage::KERNEL_VERSION_BASE..)?;
    first_word(text)
}

fn banner_version(image: &[u8]) -> Option<String> {
    let at = memchr::memmem::find(image, LINUX_BANNER)?;
    first_word(&image[at + LINUX_BANNER.len()..])
}

/// The first space-delimited word of a NUL-terminated string, if it looks like a release.
fn first_word(text: &[u8]) -> Option<String> {
    let end = text
        .iter()
        .position(|&b| b == 0 || b == b' ' || b == b'\n')
        .unwrap_or(text.len().min(128));
    let word = std::str::from_utf8(&text[..end]).ok()?;
    let ok = word.len() <= 64
        && word.starts_with(|c: char| c.is_ascii_digit())
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._+-~".contains(c));
    ok.then(|| word.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bzimage_header_banner_and_gzip() {
        let mut bz = vec![0u8; 0x800];
        bz[0x202..0x206].copy_from_slice(b"HdrS");
        bz[0x20e..0x210].copy_from_slice(&0x400u16.to_le_bytes());
        bz[0x600..0x600 + 20].copy_from_slice(b"6.1.0-13-amd64 (deb)");
        assert_eq!(version(&bz).as_deref(), Some("6.1.0-13-amd64"));

        let image = b"\0\0junkLinux version 6.6.30-eve (root@x) #1 SMP\n".to_vec();
        assert_eq!(version(&image).as_deref(), Some("6.6.30-eve"));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &image).unwrap();
        assert_eq!(
            version(&gz.finish().unwrap()).as_deref(),
            Some("6.6.30-eve")
        );
        assert_eq!(version(b"a placeholder, not a kernel"), None);
    }
}
