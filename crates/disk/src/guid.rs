//! GUIDs as partition tables and virtual-disk headers store them.
//!
//! A [`Guid`] keeps the 16 bytes in text order (the order of the hex digits in
//! `ad6871ee-31f9-4cf3-9e09-6f7a25c30050`). GPT, VDI and VHD differ in how they lay those bytes
//! on disk: GPT and VDI use the "mixed-endian" Microsoft order ([`Guid::to_mixed_endian`]),
//! VHD uses text order. GUIDs that a tool would pick at random are derived from a caller's seed
//! instead ([`Guid::derive`]), so that an artifact built twice is the same.
//!
//! Not here: GUID generation from clocks or random numbers (nothing in evebuild may use them).

use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// A 128-bit GUID in text byte order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid([u8; 16]);

/// A string that is not a GUID of the form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
#[derive(Debug, thiserror::Error)]
#[error(
    "{text:?} is not a GUID: expected 8-4-4-4-12 hex digits like ad6871ee-31f9-4cf3-9e09-6f7a25c30050"
)]
pub struct GuidError {
    /// The text that failed to parse.
    pub text: String,
}

const fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

const fn parse_bytes(s: &[u8]) -> Option<[u8; 16]> {
    // Optional braces, as in `{5fbaabe3-6958-40ff-92a7-860e329aab41}`.
    let (start, end) = if s.len() == 38 && s[0] == b'{' && s[37] == b'}' {
        (1, 37)
    } else {
        (0, s.len())
    };
    if end - start != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    let mut i = start;
    let mut n = 0;
    while i < end {
        let pos = i - start;
        if pos == 8 || pos == 13 || pos == 18 || pos == 23 {
            if s[i] != b'-' {
                return None;
            }
            i += 1;
            continue;
        }
        let (Some(hi), Some(lo)) = (hex_value(s[i]), hex_value(s[i + 1])) else {
            return None;
        };
        out[n] = (hi << 4) | lo;
        n += 1;
        i += 2;
    }
    Some(out)
}

impl Guid {
    /// The all-zero GUID.
    pub const NIL: Guid = Guid([0; 16]);

    /// Parses a GUID at compile time; for data tables. Panics (a compile error in a `const`)
    /// on malformed text.
    pub const fn from_text(text: &str) -> Guid {
        match parse_bytes(text.as_bytes()) {
            Some(b) => Guid(b),
            None => panic!("malformed GUID literal"),
        }
    }

    /// The GUID whose text-order bytes are `bytes`.
    pub const fn from_bytes(bytes: [u8; 16]) -> Guid {
        Guid(bytes)
    }

    /// The bytes in text order.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// The bytes in the mixed-endian order GPT entries and VDI headers use: the first three
    /// groups little-endian, the last two as written.
    pub fn to_mixed_endian(&self) -> [u8; 16] {
        let b = &self.0;
        [
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ]
    }

    /// Reads a GUID stored in mixed-endian order (the inverse of [`Guid::to_mixed_endian`]).
    pub fn from_mixed_endian(b: &[u8; 16]) -> Guid {
        Guid([
            b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        ])
    }

    /// A GUID that stands in for a random one: SHA-256 of `seed` and `purpose`, shaped as a
    /// version-4 GUID. The same seed and purpose always give the same GUID; different
    /// purposes (e.g. `"conf_win"`, `"inventory_win"`) give unrelated GUIDs.
    pub fn derive(seed: &[u8], purpose: &str) -> Guid {
        let mut h = Sha256::new();
        h.update(b"evebuild-guid\0");
        h.update((seed.len() as u64).to_le_bytes());
        h.update(seed);
        h.update(purpose.as_bytes());
        let digest = h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&digest[..16]);
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        Guid(b)
    }

    /// Text form with braces, as Parallels descriptors write it: `{xxxxxxxx-...}`.
    pub fn braced(&self) -> String {
        format!("{{{self}}}")
    }
}

impl FromStr for Guid {
    type Err = GuidError;
    fn from_str(s: &str) -> Result<Guid, GuidError> {
        parse_bytes(s.as_bytes())
            .map(Guid)
            .ok_or_else(|| GuidError { text: s.to_owned() })
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, byte) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_mixed_endian() {
        let g = Guid::from_text("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        assert_eq!(g.to_string(), "c12a7328-f81f-11d2-ba4b-00a0c93ec93b");
        // The ESP type GUID as every GPT stores it.
        assert_eq!(
            g.to_mixed_endian(),
            [
                0x28, 0x73, 0x2a, 0xc1, 0x1f, 0xf8, 0xd2, 0x11, 0xba, 0x4b, 0x00, 0xa0, 0xc9, 0x3e,
                0xc9, 0x3b
            ]
        );
        assert_eq!(Guid::from_mixed_endian(&g.to_mixed_endian()), g);
        assert_eq!(
            "{C12A7328-F81F-11D2-BA4B-00A0C93EC93B}"
                .parse::<Guid>()
                .unwrap(),
            g
        );
        assert!(
            "c12a7328-f81f-11d2-ba4b-00a0c93ec93"
                .parse::<Guid>()
                .is_err()
        );
    }

    #[test]
    fn derived_guids_are_stable_and_distinct() {
        let a = Guid::derive(b"seed", "conf_win");
        assert_eq!(a, Guid::derive(b"seed", "conf_win"));
        assert_ne!(a, Guid::derive(b"seed", "inventory_win"));
        assert_ne!(a, Guid::derive(b"seed2", "conf_win"));
        assert_eq!(a.as_bytes()[6] >> 4, 4);
    }
}
