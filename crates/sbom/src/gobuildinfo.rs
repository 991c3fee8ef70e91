//! Go build information from a binary (what `go version -m` prints): the Go version and the
//! module list the linker embeds. Found by its magic (`\xff Go buildinf:`, 16-byte aligned)
//! while the file streams by, so the binary is never held in memory.
//!
//! Only the Go 1.18+ inline layout is read (the header's flag bit 2: version and module text
//! follow the 32-byte header as varint-prefixed strings). Older binaries store pointers into
//! the data segment; they are left out (Go 1.17 left support in 2022).

use crate::format::go;
use memchr::memmem;
use std::io::Read;

/// One module line (`mod`, `dep`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Module {
    /// Module path (`github.com/x/y`).
    pub path: String,
    /// Version (`v1.2.3`, `(devel)`, or empty).
    pub version: String,
    /// `h1:` checksum, when recorded.
    pub sum: String,
}

/// The build information of one binary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildInfo {
    /// `go1.21.5` (anything after a space, like ` X:boringcrypto`, dropped).
    pub go_version: String,
    /// The main package path (`path`).
    pub path: String,
    /// The main module (`mod`), absent in GOPATH builds.
    pub main: Option<Module>,
    /// Dependencies (`dep`, with `=>` replacements applied).
    pub deps: Vec<Module>,
    /// `build` settings (`vcs.revision`, `-ldflags` …), in order.
    pub settings: Vec<(String, String)>,
}

impl BuildInfo {
    /// A build setting's value.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.settings
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `data` until its build information is complete (to the end when it has none).
pub fn scan(data: &mut dyn Read) -> std::io::Result<Option<BuildInfo>> {
    let finder = memmem::Finder::new(go::MAGIC);
    let keep = go::MAGIC.len() - 1;
    let mut buf = vec![0u8; 1 << 20];
    let mut filled = 0usize; // bytes of buf in use
    let mut base = 0u64; // file offset of buf[0]
    let mut found: Option<Vec<u8>> = None;
    loop {
        let n = data.read(&mut buf[filled..])?;
        if n == 0 {
            break;
        }
        filled += n;
        if let Some(info) = &mut found {
            let take = (go::MAX_INFO.saturating_sub(info.len())).min(filled);
            info.extend_from_slice(&buf[..take]);
            filled = 0;
            // Done as soon as the strings are complete: the rest of the binary is not needed.
            if let Some(parsed) = parse(info) {
                return Ok(Some(parsed));
            }
            continue;
        }
        let mut from = 0;
        while let Some(i) = finder.find(&buf[from..filled]) {
            let at = from + i;
            if (base + at as u64).is_multiple_of(go::ALIGN) {
                found = Some(buf[at..filled].to_vec());
                break;
            }
            from = at + 1;
        }
        if let Some(info) = &found {
            filled = 0;
            if let Some(parsed) = parse(info) {
                return Ok(Some(parsed));
            }
        } else {
            // Keep a tail that could start a magic split across reads.
            let tail = filled.saturating_sub(keep);
            buf.copy_within(tail..filled, 0);
            base += tail as u64;
            filled -= tail;
        }
    }
    Ok(found.and_then(|b| parse(&b)))
}

/// Parses a build information blob starting at its magic.
pub fn parse(blob: &[u8]) -> Option<BuildInfo> {
    if blob.len() < go::HEADER || &blob[..go::MAGIC.len()] != go::MAGIC {
        return None;
    }
    if blob[go::FLAGS_AT] & go::FLAG_INLINE == 0 {
        return None;
    }
    let mut at = go::HEADER;
    let version = read_string(blob, &mut at)?;
    let modinfo = read_string(blob, &mut at)?;
    let mut info = BuildInfo {
        go_version: String::from_utf8_lossy(version)
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
        ..Default::default()
    };
    // The module text sits between two 16-byte sentinels.
    let text = if modinfo.len() >= 32
        && modinfo[..16] == go::MODINFO_START
        && modinfo[modinfo.len() - 16..] == go::MODINFO_END
    {
        &modinfo[16..modinfo.len() - 16]
    } else {
        modinfo
    };
    let mut last_dep = false;
    for line in String::from_utf8_lossy(text).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let module = |f: &[&str]| Module {
            path: f.get(1).copied().unwrap_or_default().to_string(),
            version: f.get(2).copied().unwrap_or_default().to_string(),
            sum: f.get(3).copied().unwrap_or_default().to_string(),
        };
        match f[0] {
            "path" => info.path = f.get(1).copied().unwrap_or_default().to_string(),
            "mod" => {
                info.main = Some(module(&f));
                last_dep = false;
            }
            "dep" => {
                info.deps.push(module(&f));
                last_dep = true;
            }
            "=>" => {
                let replacement = module(&f);
                let target = if last_dep {
                    info.deps.last_mut()
                } else {
                    info.main.as_mut()
                };
                if let Some(m) = target {
                    *m = replacement;
                }
            }
            "build" => {
                if let Some((k, v)) = f.get(1).and_then(|kv| kv.split_once('=')) {
                    info.settings.push((k.to_string(), v.to_string()));
                }
            }
            _ => {}
        }
    }
    Some(info)
}

/// A uvarint-prefixed string at `*at`.
fn read_string<'a>(b: &'a [u8], at: &mut usize) -> Option<&'a [u8]> {
    let mut len: u64 = 0;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*at)?;
        *at += 1;
        len |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            let end = at.checked_add(usize::try_from(len).ok()?)?;
            let s = b.get(*at..end)?;
            *at = end;
            return Some(s);
        }
    }
    None
}

/// Builds a blob in the Go 1.18+ layout (tests and fixtures).
pub fn encode(go_version: &str, modinfo: &str) -> Vec<u8> {
    let mut b = go::MAGIC.to_vec();
    b.push(8); // pointer size
    b.push(go::FLAG_INLINE);
    b.resize(go::HEADER, 0);
    let mut text = go::MODINFO_START.to_vec();
    text.extend_from_slice(modinfo.as_bytes());
    text.extend_from_slice(&go::MODINFO_END);
    for s in [go_version.as_bytes(), &text[..]] {
        let mut n = s.len() as u64;
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                b.push(byte);
                break;
            }
            b.push(byte | 0x80);
        }
        b.extend_from_slice(s);
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODINFO: &str = "path\texample.com/app/cmd/app\nmod\texample.com/app\t(devel)\t\n\
dep\tgithub.com/a/b\tv1.2.3\th1:AAAA\ndep\tgolang.org/x/sys\tv0.1.0\th1:BBBB\n\
=>\tgithub.com/fork/sys\tv0.1.1\th1:CCCC\nbuild\t-ldflags=-X main.version=1.0\n\
build\tvcs.revision=0123456789abcdef\n";

    #[test]
    fn parses_the_inline_layout_with_replacements() {
        let info = parse(&encode("go1.21.5 X:boringcrypto", MODINFO)).unwrap();
        assert_eq!(info.go_version, "go1.21.5");
        assert_eq!(info.path, "example.com/app/cmd/app");
        assert_eq!(info.main.as_ref().unwrap().version, "(devel)");
        assert_eq!(info.deps.len(), 2);
        assert_eq!(info.deps[1].path, "github.com/fork/sys");
        assert_eq!(info.deps[1].version, "v0.1.1");
        assert_eq!(info.setting("vcs.revision"), Some("0123456789abcdef"));
    }

    #[test]
    fn scan_finds_an_aligned_header_across_reads_only() {
        // Magic at an unaligned offset is ignored; the aligned one is found even when it
        // straddles the 1 MiB read buffer.
        let blob = encode("go1.22.0", MODINFO);
        let mut file = vec![0u8; (1 << 20) - 6];
        file.extend_from_slice(&blob[..20]); // unaligned decoy at 1 MiB - 6
        file.resize(file.len().next_multiple_of(16) + 16 * 5 - 5, 0);
        let at = file.len().next_multiple_of(16);
        file.resize(at, 0);
        file.extend_from_slice(&blob);
        file.extend_from_slice(&[0u8; 100]);
        let info = scan(&mut &file[..]).unwrap().unwrap();
        assert_eq!(info.go_version, "go1.22.0");
        assert!(scan(&mut &vec![0u8; 5000][..]).unwrap().is_none());
    }
}
