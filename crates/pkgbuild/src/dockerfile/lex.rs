//! Shell-style word processing for Dockerfile arguments, as BuildKit's frontend does it.
//!
//! [`Lexer::process_word`] expands `$VAR`, `${VAR}`, `${VAR:-x}`, `${VAR-x}`, `${VAR:+x}`,
//! `${VAR+x}`, `${VAR?x}`, `${VAR:?x}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`, `${VAR%%p}` and
//! `${VAR/p/r}`, `${VAR//p/r}`, removes quotes (`'…'` literal, `"…"` with `$` expansion and
//! `\"`, `\$`, `\\` escapes) and the escape character. [`Lexer::process_words`] does the same and
//! then splits on unquoted whitespace that did not come from a variable's value being quoted.
//!
//! Left out (BuildKit has no more either): command substitution, arithmetic, `[...]` classes in
//! `#`/`%`/`/` patterns.

/// Looks up variables during expansion.
pub trait Env {
    /// The value of `name`, or `None` when it is unset.
    fn get(&self, name: &str) -> Option<String>;
}

impl Env for [(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(self.as_slice(), name)
    }
}

/// An environment with no variables.
pub struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _: &str) -> Option<String> {
        None
    }
}

/// A word processor for one escape character.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    escape: char,
    /// Keep quote characters in the output (used to tell quoted heredoc names apart).
    pub raw_quotes: bool,
    /// Keep escape characters in the output.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset: bool,
}

/// Why a word could not be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} in {word:?}")]
pub struct LexError {
    /// What went wrong.
    pub message: String,
    /// The word being processed.
    pub word: String,
}

struct Words {
    words: Vec<String>,
    buf: String,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.buf.is_empty() {
                self.words.push(std::mem::take(&mut self.buf));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }
    fn add_raw_char(&mut self, ch: char) {
        self.buf.push(ch);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.buf.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.buf.is_empty() {
            self.words.push(self.buf);
        }
        self.words
    }
}

struct Scan<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    lex: Lexer,
    raw_escapes: bool,
}

impl Lexer {
    /// A lexer with `escape` (`\` or `` ` ``) as escape character.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
        }
    }

    /// Expands variables and removes quotes, keeping the word whole.
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, LexError> {
        self.run(word, env).map(|(s, _)| s)
    }

    /// Expands variables, removes quotes and splits into words.
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, LexError> {
        self.run(word, env).map(|(_, w)| w)
    }

    fn run(&self, word: &str, env: &dyn Env) -> Result<(String, Vec<String>), LexError> {
        let mut s = Scan {
            chars: word.chars().collect(),
            pos: 0,
            env,
            lex: *self,
            raw_escapes: self.raw_escapes,
        };
        s.stop_on(None, self.raw_escapes)
            .map_err(|message| LexError {
                message,
                word: word.to_string(),
            })
    }
}

impl Scan<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words {
            words: Vec::new(),
            buf: String::new(),
            in_word: false,
        };
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let v = self.dollar()?;
                    result.push_str(&v);
                    words.add_string(&v);
                }
                '<' => {
                    let v = self.possible_heredoc();
                    result.push_str(&v);
                    words.add_raw_string(&v);
                }
                '\'' => {
                    let v = self.single_quote()?;
                    result.push_str(&v);
                    words.add_raw_string(&v);
                }
                '"' => {
                    let v = self.double_quote()?;
                    result.push_str(&v);
                    words.add_raw_string(&v);
                }
                _ => {
                    self.next();
                    if ch == self.lex.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            None => break,
                            Some(c) => {
                                words.add_raw_char(c);
                                result.push(c);
                            }
                        }
                    } else {
                        words.add_char(ch);
                        result.push(ch);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn single_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next().unwrap_or('\'');
        if self.lex.raw_quotes {
            out.push(open);
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
                Some('\'') => {
                    if self.lex.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Result<String, String> {
        let mut out = String::new();
        let open = self.next().unwrap_or('"');
        if self.lex.raw_quotes {
            out.push(open);
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.lex.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(_) => {
                    let mut c = self.next().unwrap_or_default();
                    if c == self.lex.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lex.escape => {
                                c = self.next().unwrap_or_default();
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".into();
        }
        self.next();
        let mut out = String::from("<<");
        while let Some(c) = self.peek().filter(|c| *c == ' ' || *c == '\t') {
            out.push(c);
            self.next();
        }
        out
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            name.push(ch);
            self.next();
        }
        name
    }

    fn dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.env.get(&name) {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.name();
        let mut op = self.next();
        let mut ops = op.map(String::from).unwrap_or_default();
        let value = self.env.get(&name);
        match op {
            Some('}') => Ok(match value {
                Some(v) => v,
                None if self.lex.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let null_is_unset = op == Some(':');
                if null_is_unset {
                    op = self.next();
                    ops.extend(op);
                }
                let raw = matches!(op, Some('#' | '%'));
                if null_is_unset && raw {
                    return Err(format!("unsupported modifier ({ops}) in substitution"));
                }
                let word = match self.stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) if self.peek().is_none() => {
                        let _ = e;
                        return Err("syntax error: missing '}'".into());
                    }
                    Err(e) => return Err(e),
                };
                if value.is_none() && self.lex.skip_unset {
                    return Ok(format!("${{{name}{ops}{word}}}"));
                }
                let empty = value
                    .as_deref()
                    .is_none_or(|v| null_is_unset && v.is_empty());
                match op {
                    Some('-') => Ok(if empty {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    Some('+') => Ok(if empty { String::new() } else { word }),
                    Some('?') => match value {
                        None => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            }
                        )),
                        Some(v) if null_is_unset && v.is_empty() => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be empty"
                            } else {
                                &word
                            }
                        )),
                        Some(v) => Ok(v),
                    },
                    Some(c @ ('#' | '%')) => {
                        let (greedy, pat) = match word.strip_prefix(c) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let v = value.unwrap_or_default();
                        Ok(if c == '#' {
                            trim_prefix(&pat, &v, greedy)?
                        } else {
                            trim_suffix(&pat, &v, greedy)?
                        })
                    }
                    _ => Err(format!("unsupported modifier ({ops}) in substitution")),
                }
            }
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let missing = |s: &Self, what: &str, e: String| {
                    if s.peek().is_none() {
                        format!("syntax error: missing '{what}'")
                    } else {
                        e
                    }
                };
                let pat = self
                    .stop_on(Some('/'), true)
                    .map_err(|e| missing(self, "/' in ${}", e))?
                    .0;
                let rep = self
                    .stop_on(Some('}'), true)
                    .map_err(|e| missing(self, "}", e))?
                    .0;
                let Some(v) = value else {
                    if self.lex.skip_unset {
                        return Ok(format!("${{{name}/{pat}/{rep}}}"));
                    }
                    return Ok(String::new());
                };
                let p = Pattern::parse(&pat)?;
                Ok(p.replace(&v, &rep, all))
            }
            _ => Err(format!("unsupported modifier ({ops}) in substitution")),
        }
    }
}

/// A shell wildcard pattern (`*`, `?`, `\` escapes) as used in `${VAR#p}` and friends.
#[derive(Debug)]
struct Pattern(Vec<Tok>);

#[derive(Debug, Clone, Copy, PartialEq)]
enum Tok {
    Star,
    Any,
    Lit(char),
}

impl Pattern {
    fn parse(p: &str) -> Result<Self, String> {
        let mut out = Vec::new();
        let mut it = p.chars().peekable();
        while let Some(c) = it.next() {
            match c {
                '*' => out.push(Tok::Star),
                '?' => out.push(Tok::Any),
                '\\' => match it.peek().copied() {
                    Some('}' | '/') => {}
                    Some(n @ ('*' | '?' | '\\')) => {
                        it.next();
                        out.push(Tok::Lit(n));
                    }
                    Some(n) => {
                        return Err(format!(
                            "invalid pattern ({p}) in substitution: invalid escape '\\{n}'"
                        ));
                    }
                    None => out.push(Tok::Lit('\\')),
                },
                c => out.push(Tok::Lit(c)),
            }
        }
        Ok(Pattern(out))
    }

    /// Lengths (in chars) of the prefixes of `s` the pattern matches completely.
    fn prefix_matches(&self, s: &[char]) -> Vec<usize> {
        // Positions in `s` reachable after consuming each token.
        let mut states = vec![0usize];
        for t in &self.0 {
            let mut next = Vec::new();
            for &i in &states {
                match t {
                    Tok::Star => next.extend(i..=s.len()),
                    Tok::Any if i < s.len() => next.push(i + 1),
                    Tok::Lit(c) if s.get(i) == Some(c) => next.push(i + 1),
                    _ => {}
                }
            }
            next.sort_unstable();
            next.dedup();
            states = next;
        }
        states
    }

    fn reversed(&self) -> Pattern {
        Pattern(self.0.iter().rev().copied().collect())
    }

    fn replace(&self, v: &str, rep: &str, all: bool) -> String {
        let s: Vec<char> = v.chars().collect();
        let mut out = String::new();
        let mut i = 0;
        while i <= s.len() {
            // Leftmost match, longest at that position (greedy `*`).
            let m = self.prefix_matches(&s[i..]).into_iter().max();
            match m {
                Some(len) if len > 0 || !self.0.is_empty() => {
                    out.push_str(rep);
                    if len == 0 {
                        if i < s.len() {
                            out.push(s[i]);
                        }
                        i += 1;
                    } else {
                        i += len;
                    }
                    if !all {
                        out.extend(s.get(i..).unwrap_or_default());
                        return out;
                    }
                }
                _ => {
                    if i < s.len() {
                        out.push(s[i]);
                    }
                    i += 1;
                }
            }
        }
        out
    }
}

fn trim_prefix(pat: &str, v: &str, greedy: bool) -> Result<String, String> {
    let p = Pattern::parse(pat)?;
    let s: Vec<char> = v.chars().collect();
    let m = p.prefix_matches(&s);
    let cut = if greedy {
        m.iter().max()
    } else {
        m.iter().min()
    };
    Ok(match cut {
        Some(&n) => s[n..].iter().collect(),
        None => v.to_string(),
    })
}

fn trim_suffix(pat: &str, v: &str, greedy: bool) -> Result<String, String> {
    let p = Pattern::parse(pat)?.reversed();
    let mut s: Vec<char> = v.chars().collect();
    s.reverse();
    let m = p.prefix_matches(&s);
    let cut = if greedy {
        m.iter().max()
    } else {
        m.iter().min()
    };
    Ok(match cut {
        Some(&n) => s[n..].iter().rev().collect(),
        None => v.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        [
            ("A", "alpha"),
            ("E", ""),
            ("P", "/usr/local/bin"),
            ("S", "x y"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn expands_like_buildkit() {
        let l = Lexer::new('\\');
        let e = env();
        let cases = [
            ("$A", "alpha"),
            ("${A}x", "alphax"),
            ("$Ax", ""),
            ("${U:-def}", "def"),
            ("${E:-def}", "def"),
            ("${E-def}", ""),
            ("${A:+set}", "set"),
            ("${E:+set}", ""),
            ("${E+set}", "set"),
            ("${U+set}", ""),
            ("'$A'", "$A"),
            ("\"$A\"", "alpha"),
            ("\\$A", "$A"),
            ("\"a\\\"b\"", "a\"b"),
            ("\"a\\nb\"", "a\\nb"),
            ("${P#*/}", "usr/local/bin"),
            ("${P##*/}", "bin"),
            ("${P%/*}", "/usr/local"),
            ("${P%%/l*}", "/usr"),
            ("${P/usr/opt}", "/opt/local/bin"),
            ("${P//l/L}", "/usr/LocaL/bin"),
            ("$", "$"),
            ("a$", "a$"),
        ];
        for (w, want) in cases {
            assert_eq!(l.process_word(w, &e).unwrap(), want, "{w}");
        }
        assert!(
            l.process_word("${U?}", &e)
                .unwrap_err()
                .message
                .contains("U: is not allowed to be unset")
        );
        assert!(l.process_word("${A", &e).is_err());
        assert!(l.process_word("'open", &e).is_err());
    }

    #[test]
    fn splits_after_expansion_but_not_quoted() {
        let l = Lexer::new('\\');
        let e = env();
        assert_eq!(
            l.process_words("a $S \"$S\" 'c d'", &e).unwrap(),
            ["a", "x", "y", "x y", "c d"]
        );
        let b = Lexer::new('`');
        assert_eq!(b.process_word("a`$b", &e).unwrap(), "a$b");
    }
}
