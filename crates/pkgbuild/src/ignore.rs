//! `.dockerignore` patterns, with the semantics of moby's `patternmatcher` (what BuildKit
//! applies to the build context).
//!
//! Lines starting with `#` are comments; lines are trimmed; `!` re-includes; patterns are
//! cleaned (`./a/` → `a`, leading `/` dropped). `*` and `?` do not cross `/`, `**` matches any
//! number of directories, `[...]` is a character class, `\` escapes. A path is excluded when
//! the last pattern matching it (or one of its parent directories) is not a `!` pattern.
//!
//! Note: linuxkit itself sends the whole package directory (linuxkit#3517); evebuild honours
//! `.dockerignore` as `docker build` does.

/// A compiled list of patterns.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pat>,
}

#[derive(Debug, Clone)]
struct Pat {
    exclusion: bool,
    toks: Vec<Tok>,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `*`: any run of non-`/` characters.
    Star,
    /// `?`: one non-`/` character.
    Quest,
    /// `**` (followed by more pattern): any number of whole directories, possibly none.
    DirStar,
    /// `**` at the end: anything.
    Rest,
    /// `[...]`: (negated, ranges).
    Class(bool, Vec<(char, char)>),
}

impl Ignore {
    /// Parses the text of a `.dockerignore` file.
    pub fn parse(text: &str) -> Ignore {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
            }
            let cleaned = clean(p);
            patterns.push(Pat {
                exclusion,
                toks: compile(&cleaned),
            });
        }
        Ignore { patterns }
    }

    /// True when there are no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// True when `path` (relative, `/`-separated, no leading `/`) is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let parents: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let hit = matches(&p.toks, &path.chars().collect::<Vec<_>>())
                || parents
                    .iter()
                    .any(|d| matches(&p.toks, &d.chars().collect::<Vec<_>>()));
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

/// Go's `filepath.Clean` on a relative or absolute slash path, then a leading `/` dropped.
fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !abs {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    if joined.is_empty() {
        if abs { "/".into() } else { ".".into() }
    } else {
        joined
    }
}

fn compile(p: &str) -> Vec<Tok> {
    let cs: Vec<char> = p.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        i += 1;
        match c {
            '*' if cs.get(i) == Some(&'*') => {
                i += 1;
                if cs.get(i) == Some(&'/') {
                    i += 1;
                }
                out.push(if i >= cs.len() {
                    Tok::Rest
                } else {
                    Tok::DirStar
                });
            }
            '*' => out.push(Tok::Star),
            '?' => out.push(Tok::Quest),
            '\\' => {
                if let Some(&n) = cs.get(i) {
                    out.push(Tok::Lit(n));
                    i += 1;
                }
            }
            '[' => {
                let mut j = i;
                let neg = matches!(cs.get(j), Some('^' | '!'));
                if neg {
                    j += 1;
                }
                let mut ranges = Vec::new();
                let mut closed = false;
                while j < cs.len() {
                    if cs[j] == ']' && (j > i + usize::from(neg)) {
                        closed = true;
                        break;
                    }
                    let mut lo = cs[j];
                    if lo == '\\' && j + 1 < cs.len() {
                        j += 1;
                        lo = cs[j];
                    }
                    let hi = if cs.get(j + 1) == Some(&'-')
                        && cs.get(j + 2).is_some_and(|c| *c != ']')
                    {
                        j += 2;
                        cs[j]
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                    j += 1;
                }
                if closed {
                    out.push(Tok::Class(neg, ranges));
                    i = j + 1;
                } else {
                    out.push(Tok::Lit('['));
                }
            }
            c => out.push(Tok::Lit(c)),
        }
    }
    out
}

fn matches(toks: &[Tok], s: &[char]) -> bool {
    let Some((t, rest)) = toks.split_first() else {
        return s.is_empty();
    };
    match t {
        Tok::Lit(c) => s.first() == Some(c) && matches(rest, &s[1..]),
        Tok::Quest => s.first().is_some_and(|c| *c != '/') && matches(rest, &s[1..]),
        Tok::Class(neg, ranges) => {
            s.first().is_some_and(|c| {
                *c != '/' && (ranges.iter().any(|(lo, hi)| lo <= c && c <= hi) != *neg)
            }) && matches(rest, &s[1..])
        }
        Tok::Star => {
            let mut i = 0;
            loop {
                if matches(rest, &s[i..]) {
                    return true;
                }
                if i == s.len() || s[i] == '/' {
                    return false;
                }
                i += 1;
            }
        }
        Tok::DirStar => {
            // `(.*/)?`: nothing, or anything ending with a `/`.
            if matches(rest, s) {
                return true;
            }
            (0..s.len()).any(|i| s[i] == '/' && matches(rest, &s[i + 1..]))
        }
        Tok::Rest => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patternmatcher_semantics() {
        let ig = Ignore::parse(
            "# comment\n*.md\n!README.md\n/build/\ndocs/**/*.tmp\n**/secret\n  tmp?  \n[ab]x\n",
        );
        for (p, want) in [
            ("x.md", true),
            ("README.md", false),
            ("sub/x.md", false),
            ("build", true),
            ("build/a/b", true),
            ("docs/a.tmp", true),
            ("docs/x/y/a.tmp", true),
            ("secret", true),
            ("a/b/secret", true),
            ("a/b/secret/c", true),
            ("tmp1", true),
            ("tmp12", false),
            ("ax", true),
            ("cx", false),
            ("src/main.rs", false),
        ] {
            assert_eq!(ig.excludes(p), want, "{p}");
        }
    }

    #[test]
    fn reinclude_below_excluded_dir() {
        let ig = Ignore::parse("out\n!out/keep\n");
        assert!(ig.excludes("out/x"));
        assert!(!ig.excludes("out/keep"));
        assert!(ig.excludes("out"));
    }
}
