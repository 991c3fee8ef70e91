//! Content digests: `sha256:<64 lowercase hex>`, validated before anything joins them into a path.
//!
//! Only SHA-256 is supported: it is the only algorithm linuxkit's cache, Docker and every registry
//! EVE uses produce. A digest of another algorithm is refused rather than stored under a name the
//! rest of the world cannot find (CVE-2024-3727: `sha256:../../x` must never reach a path).

use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::Error;

/// A validated SHA-256 content digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    /// Always `sha256:` followed by 64 lowercase hex digits.
    text: String,
}

const PREFIX: &str = "sha256:";

impl Digest {
    /// Parses and validates a digest string.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let hex = s
            .strip_prefix(PREFIX)
            .ok_or_else(|| Error::InvalidDigest(s.to_string()))?;
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Error::InvalidDigest(s.to_string()));
        }
        Ok(Digest {
            text: s.to_string(),
        })
    }

    /// The digest of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest a finished hasher computed.
    pub fn from_hasher(hasher: Sha256) -> Self {
        Digest {
            text: format!("{PREFIX}{}", hex::encode(hasher.finalize())),
        }
    }

    /// The 64 hex digits (the blob's file name in a layout).
    pub fn hex(&self) -> &str {
        &self.text[PREFIX.len()..]
    }

    /// The full `sha256:…` text.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The digest of a descriptor, validated.
    pub fn of_descriptor(desc: &oci_spec::image::Descriptor) -> Result<Self, Error> {
        Self::parse(desc.digest().as_ref())
    }

    /// This digest as an `oci-spec` digest (for building descriptors).
    pub fn to_oci(&self) -> oci_spec::image::Digest {
        oci_spec::image::Digest::from_str(&self.text).expect("a validated sha256 digest")
    }
}

impl FromStr for Digest {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse(s)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<&Digest> for oci_spec::image::Digest {
    fn from(d: &Digest) -> Self {
        d.to_oci()
    }
}

/// A writer that hashes and counts what passes through it to `inner`: the digest and size
/// of a stream while it is written (a blob, or the uncompressed side of a compressor).
pub struct DigestWriter<W> {
    inner: W,
    hasher: Sha256,
    written: u64,
}

impl<W: Write> DigestWriter<W> {
    /// Passes everything on to `inner`.
    pub fn new(inner: W) -> Self {
        DigestWriter {
            inner,
            hasher: Sha256::new(),
            written: 0,
        }
    }

    /// The inner writer, the digest and the number of bytes of what was written.
    pub fn finish(self) -> (W, Digest, u64) {
        (self.inner, Digest::from_hasher(self.hasher), self.written)
    }
}

impl<W: Write> Write for DigestWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_and_rejects_traversal() {
        let d = Digest::of(b"");
        assert_eq!(
            d.as_str(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(d.as_str()).unwrap(), d);
        for bad in [
            "sha256:../x",
            "sha256:../../etc/passwd",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855/",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad} accepted");
        }
    }
}
