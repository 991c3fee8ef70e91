//! The debugfs fix-up script: commands that give inodes what an unprivileged staging directory
//! cannot carry (owners, exact modes, device nodes, FIFOs, xattrs, times).
//!
//! debugfs (e2fsprogs 1.47.0) reads a script line by line with `fgets` into an 8 KiB buffer,
//! cuts it at the first `\n` or `\r`, treats a line starting with `#` as a comment and splits
//! the rest like a shell without escapes: words separated by spaces or tabs, `"…"` quoting
//! with `""` for a literal quote. So any name without a newline, carriage return or NUL can be
//! given quoted; commands address children of the current directory (`cd` one component at a
//! time) so no line is longer than two names. `mknod` only creates in the current directory.

/// Longest command line debugfs reads whole (BUFSIZ minus the newline and NUL).
const MAX_LINE: usize = 8190;

/// Why a byte string cannot appear in a script.
pub fn unscriptable(name: &[u8]) -> Option<&'static str> {
    if name.contains(&b'\n') || name.contains(&b'\r') {
        Some("a newline or carriage return")
    } else {
        None
    }
}

/// `name` as one debugfs word.
fn quote(name: &[u8]) -> Vec<u8> {
    let mut q = Vec::with_capacity(name.len() + 2);
    q.push(b'"');
    for &b in name {
        if b == b'"' {
            q.push(b'"');
        }
        q.push(b);
    }
    q.push(b'"');
    q
}

/// Time argument of `set_inode_field`. debugfs reads `@<seconds>`, but takes −1 for a parse
/// error, so that one value goes in as its raw low word instead.
fn time_arg(t: i64) -> Option<String> {
    (t != -1).then(|| format!("@{t}"))
}

/// A script being written.
#[derive(Debug, Default)]
pub struct Script {
    buf: Vec<u8>,
    lines: usize,
}

impl Script {
    /// An empty script.
    pub fn new() -> Self {
        Self::default()
    }

    /// The script's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Number of commands.
    pub fn len(&self) -> usize {
        self.lines
    }

    /// True when there are no commands.
    pub fn is_empty(&self) -> bool {
        self.lines == 0
    }

    fn line(&mut self, words: &[&[u8]]) {
        let start = self.buf.len();
        for (i, w) in words.iter().enumerate() {
            if i > 0 {
                self.buf.push(b' ');
            }
            self.buf.extend_from_slice(w);
        }
        debug_assert!(self.buf.len() - start <= MAX_LINE, "debugfs line too long");
        self.buf.push(b'\n');
        self.lines += 1;
    }

    /// `cd /` then one `cd` per component of `dir` (components top down).
    pub fn cd<'a>(&mut self, components: impl IntoIterator<Item = &'a [u8]>) {
        self.line(&[b"cd", b"/"]);
        for c in components {
            self.line(&[b"cd", &quote(c)]);
        }
    }

    /// Creates a FIFO, character or block device `name` in the current directory.
    /// `kind` is `p`, `c` or `b`; devices are created as 0:0 and get their numbers from
    /// [`Script::set_device`].
    pub fn mknod(&mut self, name: &[u8], kind: u8) {
        match kind {
            b'p' => self.line(&[b"mknod", &quote(name), b"p"]),
            _ => self.line(&[b"mknod", &quote(name), &[kind], b"0", b"0"]),
        }
    }

    /// Writes the device number words of `name` (see [`crate::format::device_words`]).
    pub fn set_device(&mut self, name: &[u8], words: (u32, u32)) {
        self.sif(name, "block[0]", &words.0.to_string());
        self.sif(name, "block[1]", &words.1.to_string());
    }

    /// `set_inode_field name field value`; `name` is relative to the current directory, or
    /// `/` for the root.
    pub fn sif(&mut self, name: &[u8], field: &str, value: &str) {
        let target = if name == b"/" {
            b"/".to_vec()
        } else {
            quote(name)
        };
        self.line(&[b"sif", &target, field.as_bytes(), value.as_bytes()]);
    }

    /// Sets mode (type and permission bits), owner and all four times of `name`.
    pub fn set_inode(&mut self, name: &[u8], st_mode: u32, uid: u32, gid: u32, time: i64) {
        self.sif(name, "mode", &format!("0{st_mode:o}"));
        self.sif(name, "uid", &uid.to_string());
        self.sif(name, "gid", &gid.to_string());
        for field in ["atime", "ctime", "mtime", "crtime"] {
            match time_arg(time) {
                Some(t) => self.sif(name, field, &t),
                None => {
                    self.sif(name, &format!("{field}_lo"), &u32::MAX.to_string());
                    self.sif(name, &format!("{field}_hi"), "0");
                }
            }
        }
    }

    /// Sets xattr `attr` of `name` to the contents of host file `value_file`.
    pub fn ea_set(&mut self, name: &[u8], attr: &[u8], value_file: &[u8]) {
        self.line(&[
            b"ea_set",
            b"-f",
            &quote(value_file),
            &quote(name),
            &quote(attr),
        ]);
    }

    /// Removes xattr `attr` of `name`.
    pub fn ea_rm(&mut self, name: &[u8], attr: &[u8]) {
        self.line(&[b"ea_rm", &quote(name), &quote(attr)]);
    }
}

/// The lines of debugfs's stderr that report problems (everything but its version banner).
pub fn problems(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("debugfs 1."))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_commands() {
        let mut s = Script::new();
        s.cd([&b"dir with space"[..], b"a\"b"]);
        s.mknod(b"null", b'c');
        s.set_inode(b"x", 0o104755, 0, 0, -1);
        s.ea_set(b"ping", b"security.capability", b"/tmp/v 1");
        let text = String::from_utf8(s.bytes().to_vec()).unwrap();
        assert!(
            text.starts_with("cd /\ncd \"dir with space\"\ncd \"a\"\"b\"\nmknod \"null\" c 0 0\n")
        );
        assert!(text.contains("sif \"x\" mode 0104755\n"));
        assert!(text.contains("sif \"x\" mtime_lo 4294967295\nsif \"x\" mtime_hi 0\n"));
        assert!(text.ends_with("ea_set -f \"/tmp/v 1\" \"ping\" \"security.capability\"\n"));
        assert_eq!(unscriptable(b"a\nb"), Some("a newline or carriage return"));
        assert_eq!(unscriptable(b"a \"b\" #c"), None);
    }
}
