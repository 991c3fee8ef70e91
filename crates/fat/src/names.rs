//! File names on FAT: which names can be stored, when two names are the same to FAT, and the
//! two on-disk forms: an 8.3 short name alone (with the Windows NT case flags for all-lower-case
//! parts, as mtools writes them), or a long (VFAT) name with a generated `BASIS~N.EXT` alias.
//!
//! Aliases follow the steps of Microsoft's fatgen103 ("basis-name generation"): upper-case,
//! drop spaces and leading dots, replace what a short name cannot hold with `_`, keep 8 + 3
//! characters, then add the first free `~N`. Non-ASCII characters become `_` (no OEM code page
//! is assumed), so aliases of non-Latin names are `_~1`-style; the long name is what readers
//! show. Left out: Windows' hash-based aliases after `~4` (we are deterministic anyway).

use crate::format::LFN_MAX_UNITS;

/// ASCII punctuation allowed in short names besides letters and digits.
pub const SHORT_SPECIALS: &[u8] = b"!#$%&'()-@^_`{}~";
/// Characters no FAT name may contain (besides control characters).
const FORBIDDEN: &[char] = &['"', '*', '/', ':', '<', '>', '?', '\\', '|'];

/// Checks that `name` can be stored as a FAT long name and returns it as text, or says why not
/// (phrased to follow "a name …").
pub fn check(name: &[u8]) -> Result<&str, String> {
    let text = std::str::from_utf8(name).map_err(|_| "a name that is not UTF-8".to_string())?;
    if let Some(c) = text.chars().find(|c| (*c as u32) < 0x20) {
        return Err(format!("a name with control character {:#04x}", c as u32));
    }
    if let Some(c) = text.chars().find(|c| FORBIDDEN.contains(c)) {
        return Err(format!("a name with {c:?}"));
    }
    if text.ends_with('.') || text.ends_with(' ') {
        return Err("a name ending in a dot or space (FAT drops them)".into());
    }
    let units = text.encode_utf16().count();
    if units > LFN_MAX_UNITS {
        return Err(format!(
            "a name of {units} UTF-16 units (long names hold {LFN_MAX_UNITS})"
        ));
    }
    Ok(text)
}

/// The identity of a name to FAT readers, which compare names without regard to case.
pub fn fold(name: &str) -> String {
    name.to_uppercase()
}

fn is_short_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || SHORT_SPECIALS.contains(&b)
}

/// Pads `base` and `ext` with spaces into the 11-byte on-disk form.
fn pack(base: &[u8], ext: &[u8]) -> [u8; 11] {
    let mut out = [b' '; 11];
    out[..base.len()].copy_from_slice(base);
    out[8..8 + ext.len()].copy_from_slice(ext);
    out
}

/// The case of the letters of one name part: `Some(true)` all lower, `Some(false)` all upper
/// (or no letters), `None` mixed.
fn part_is_lower(part: &[u8]) -> Option<bool> {
    let lower = part.iter().any(u8::is_ascii_lowercase);
    let upper = part.iter().any(u8::is_ascii_uppercase);
    match (lower, upper) {
        (true, true) => None,
        (l, _) => Some(l),
    }
}

/// If `name` fits the 8.3 form as it is (up to all-lower-case base or extension), its short
/// name and NT case flags; such names need no long-name slots.
pub fn exact_short(name: &str) -> Option<([u8; 11], u8)> {
    let b = name.as_bytes();
    let (base, ext) = match name.find('.') {
        Some(0) => return None,
        Some(i) => (&b[..i], &b[i + 1..]),
        None => (b, &b[..0]),
    };
    if base.is_empty() || base.len() > 8 || ext.len() > 3 || ext.contains(&b'.') {
        return None;
    }
    if !base.iter().chain(ext).all(|&c| is_short_char(c)) {
        return None;
    }
    let mut case = 0;
    if part_is_lower(base)? {
        case |= crate::format::CASE_LOWER_BASE;
    }
    if part_is_lower(ext)? {
        case |= crate::format::CASE_LOWER_EXT;
    }
    Some((
        pack(&base.to_ascii_uppercase(), &ext.to_ascii_uppercase()),
        case,
    ))
}

/// The basis of an alias: up to 8 base and 3 extension characters.
pub fn alias_basis(name: &str) -> (Vec<u8>, Vec<u8>) {
    let mapped: Vec<u8> = name
        .chars()
        .filter(|c| *c != ' ')
        .map(|c| match u8::try_from(c) {
            Ok(b'.') => b'.',
            Ok(b) if is_short_char(b) => b.to_ascii_uppercase(),
            _ => b'_',
        })
        .collect();
    let start = mapped
        .iter()
        .position(|&c| c != b'.')
        .unwrap_or(mapped.len());
    let mapped = &mapped[start..];
    let (base, ext): (Vec<u8>, &[u8]) = match mapped.iter().rposition(|&c| c == b'.') {
        Some(i) => (
            mapped[..i].iter().copied().filter(|&c| c != b'.').collect(),
            &mapped[i + 1..],
        ),
        None => (mapped.to_vec(), &[]),
    };
    let mut base = base;
    base.truncate(8);
    if base.is_empty() {
        base.push(b'_');
    }
    (base, ext[..ext.len().min(3)].to_vec())
}

/// The alias `BASE~N.EXT` for the `n`th candidate (n ≥ 1).
pub fn alias(base: &[u8], ext: &[u8], n: u32) -> [u8; 11] {
    let tail = format!("~{n}");
    let keep = base.len().min(8 - tail.len());
    let mut b = base[..keep].to_vec();
    b.extend_from_slice(tail.as_bytes());
    pack(&b, ext)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_fat_cannot_hold() {
        for bad in [
            &b"a*b"[..],
            b"a?",
            b"x<y",
            b"p|q",
            b"q\"",
            b"c:d",
            b"back\\slash",
            b"tab\there",
            b"\xff\xfe",
            b"dot.",
            b"space ",
        ] {
            assert!(check(bad).is_err(), "{bad:?}");
        }
        assert!(check("a".repeat(255).as_bytes()).is_ok());
        assert!(check("é".repeat(200).as_bytes()).is_ok());
        assert!(check(b" lead space.+,;=[]").is_ok());
    }

    #[test]
    fn short_forms_and_case_flags() {
        assert_eq!(exact_short("README.TXT"), Some((*b"README  TXT", 0)));
        assert_eq!(exact_short("server"), Some((*b"SERVER     ", 0x08)));
        assert_eq!(exact_short("lower.TXT"), Some((*b"LOWER   TXT", 0x08)));
        assert_eq!(exact_short("A.json"), None);
        assert_eq!(exact_short("Mixed.txt"), None);
        assert_eq!(exact_short(".hidden"), None);
        assert_eq!(exact_short("a.b.c"), None);
        assert_eq!(exact_short("ninechars"), None);
        assert_eq!(exact_short("a+b"), None);
    }

    #[test]
    fn alias_bases() {
        let (b, e) = alias_basis("a very long name.json");
        assert_eq!(alias(&b, &e, 1), *b"AVERYL~1JSO");
        let (b, e) = alias_basis(".bashrc");
        assert_eq!(alias(&b, &e, 12), *b"BASHR~12   ");
        let (b, e) = alias_basis("grub.cfg.tmpl");
        assert_eq!(alias(&b, &e, 1), *b"GRUBCF~1TMP");
        let (b, e) = alias_basis("été");
        assert_eq!(alias(&b, &e, 1), *b"_T_~1      ");
    }
}
