//! YAML text exactly as gopkg.in/yaml.v2 (v2.4.0) `Marshal` writes it.
//!
//! linuxkit's `metadata: yaml` file (EVE reads it back from /etc/linuxkit-eve-config.yml) is
//! `yaml.v2.Marshal` of the resolved config, so the bytes follow yaml.v2's encoder and its
//! libyaml-derived emitter. This is a port of the parts that a config reaches, written from
//! their rules:
//! - block mappings indented by 2; sequences under a mapping key are not indented; empty
//!   sequences and mappings print in flow style as `[]` and `{}`;
//! - a string containing a newline is a literal block (`|`, `|-`, `|+`, with an indentation
//!   hint when it starts with a space or newline); a string that would read back as another
//!   type (`true`, `yes`, `~`, `-1`, `1.5`, `0x1`, `2017-04-18`, `1:20` …) is double-quoted;
//!   any other string is plain unless the emitter's analysis forbids it (leading or trailing
//!   space, `: `, ` #`, indicator first characters …), then single-quoted, or double-quoted
//!   when it holds characters single quotes cannot carry;
//! - plain and quoted scalars are folded at spaces once the line passes 80 columns;
//! - keys longer than 128 characters or spanning lines use the explicit `? ` form.
//!
//! Left out: anchors, tags, flow collections with content and non-UTF-8 data (`!!binary`);
//! a config never produces them.

use crate::yaml;

/// A value to marshal, shaped like what yaml.v2 sees after reflection.
#[derive(Debug, Clone, PartialEq)]
pub enum Y {
    /// A Go string (style chosen by yaml.v2's rules).
    Str(String),
    /// A number, boolean or `null`, written plain as given.
    Plain(String),
    /// A slice.
    Seq(Vec<Y>),
    /// A struct or map, keys in output order (callers sort Go maps with [`sort_keys`]).
    Map(Vec<(String, Y)>),
}

impl Y {
    /// A string.
    pub fn str(s: impl Into<String>) -> Y {
        Y::Str(s.into())
    }

    /// `null`.
    pub fn null() -> Y {
        Y::Plain("null".into())
    }

    /// A boolean.
    pub fn bool(b: bool) -> Y {
        Y::Plain(if b { "true" } else { "false" }.into())
    }

    /// An integer.
    pub fn int(i: impl std::fmt::Display) -> Y {
        Y::Plain(i.to_string())
    }

    /// A slice of strings.
    pub fn strs<S: AsRef<str>>(items: &[S]) -> Y {
        Y::Seq(items.iter().map(|s| Y::str(s.as_ref())).collect())
    }
}

/// `yaml.Marshal(v)`.
pub fn marshal(v: &Y) -> String {
    let mut e = Emitter {
        out: String::new(),
        column: 0,
        whitespace: true,
        indention: true,
        indent: -1,
        indents: Vec::new(),
    };
    e.node(v, Ctx::default());
    if !e.out.ends_with('\n') {
        e.out.push('\n');
    }
    e.out
}

/// yaml.v2's map key order (its `keyList.Less`): letters compare by code point, runs of
/// digits compare by value, and a letter sorts after a non-letter.
pub fn sort_keys<T>(pairs: &mut [(String, T)]) {
    pairs.sort_by(|(a, _), (b, _)| {
        if key_less(a, b) {
            std::cmp::Ordering::Less
        } else if key_less(b, a) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
}

fn key_less(a: &str, b: &str) -> bool {
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let mut i = 0;
    while i < ar.len() && i < br.len() {
        if ar[i] == br[i] {
            i += 1;
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i] < br[i];
        }
        if al || bl {
            return bl;
        }
        let (mut an, mut bn): (i64, i64) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an.wrapping_mul(10).wrapping_add(ar[ai] as i64 - '0' as i64);
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn.wrapping_mul(10).wrapping_add(br[bi] as i64 - '0' as i64);
            bi += 1;
        }
        if an != bn {
            return an < bn;
        }
        if ai != bi {
            return ai < bi;
        }
        return ar[i] < br[i];
    }
    ar.len() < br.len()
}

const BEST_INDENT: i64 = 2;
const BEST_WIDTH: i64 = 80;

#[derive(Debug, Clone, Copy, Default)]
struct Ctx {
    mapping: bool,
    simple_key: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

struct Emitter {
    out: String,
    column: i64,
    whitespace: bool,
    indention: bool,
    indent: i64,
    indents: Vec<i64>,
}

/// What the emitter's scalar analysis allows.
struct Analysis {
    multiline: bool,
    block_plain: bool,
    single_quoted: bool,
    block: bool,
}

impl Emitter {
    fn put(&mut self, c: char) {
        self.out.push(c);
        self.column += 1;
    }

    fn put_break(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        if self.indent < 0 {
            self.indent = if flow { BEST_INDENT } else { 0 };
        } else if !indentless {
            self.indent += BEST_INDENT;
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(-1);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.max(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.put_break();
        }
        while self.column < indent {
            self.put(' ');
        }
        self.whitespace = true;
        self.indention = true;
    }

    fn indicator(
        &mut self,
        ind: &str,
        need_whitespace: bool,
        is_whitespace: bool,
        is_indention: bool,
    ) {
        if need_whitespace && !self.whitespace {
            self.put(' ');
        }
        for c in ind.chars() {
            self.put(c);
        }
        self.whitespace = is_whitespace;
        self.indention = self.indention && is_indention;
    }

    fn node(&mut self, v: &Y, ctx: Ctx) {
        match v {
            Y::Str(s) => {
                let style = if s.contains('\n') {
                    Style::Literal
                } else if resolves_plain_to_string(s) {
                    Style::Plain
                } else {
                    Style::Double
                };
                self.scalar(s, style, ctx);
            }
            Y::Plain(s) => self.scalar(s, Style::Plain, ctx),
            Y::Seq(items) if items.is_empty() => self.indicator("[]", true, false, false),
            Y::Map(pairs) if pairs.is_empty() => self.indicator("{}", true, false, false),
            Y::Seq(items) => {
                self.increase_indent(false, ctx.mapping && !self.indention);
                for item in items {
                    self.write_indent();
                    self.indicator("-", true, false, true);
                    self.node(item, Ctx::default());
                }
                self.pop_indent();
            }
            Y::Map(pairs) => {
                self.increase_indent(false, false);
                for (k, val) in pairs {
                    self.write_indent();
                    let a = analyze(k);
                    if !a.multiline && k.chars().count() <= 128 {
                        self.node(
                            &Y::Str(k.clone()),
                            Ctx {
                                mapping: true,
                                simple_key: true,
                            },
                        );
                        self.indicator(":", false, false, false);
                    } else {
                        self.indicator("?", true, false, true);
                        self.node(
                            &Y::Str(k.clone()),
                            Ctx {
                                mapping: true,
                                simple_key: false,
                            },
                        );
                        self.write_indent();
                        self.indicator(":", true, false, true);
                    }
                    self.node(
                        val,
                        Ctx {
                            mapping: true,
                            simple_key: false,
                        },
                    );
                }
                self.pop_indent();
            }
        }
    }

    fn scalar(&mut self, value: &str, requested: Style, ctx: Ctx) {
        let a = analyze(value);
        let mut style = requested;
        if ctx.simple_key && a.multiline {
            style = Style::Double;
        }
        if style == Style::Plain && (!a.block_plain || (value.is_empty() && ctx.simple_key)) {
            style = Style::Single;
        }
        if style == Style::Single && !a.single_quoted {
            style = Style::Double;
        }
        if style == Style::Literal && (!a.block || ctx.simple_key) {
            style = Style::Double;
        }
        self.increase_indent(true, false);
        let allow_breaks = !ctx.simple_key;
        match style {
            Style::Plain => self.plain(value, allow_breaks),
            Style::Single => self.single(value, allow_breaks),
            Style::Double => self.double(value, allow_breaks),
            Style::Literal => self.literal(value),
        }
        self.pop_indent();
    }

    fn plain(&mut self, value: &str, allow_breaks: bool) {
        if !self.whitespace {
            self.put(' ');
        }
        self.folded(value, allow_breaks, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn write_break(&mut self, c: char) {
        if c == '\n' {
            self.put_break();
        } else {
            self.out.push(c);
            self.column = 0;
        }
    }

    fn single(&mut self, value: &str, allow_breaks: bool) {
        self.indicator("'", true, false, false);
        self.folded(value, allow_breaks, true);
        self.indicator("'", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    /// The text of a plain or (`single`) single-quoted scalar: a space past the best width
    /// becomes a line break (in a single-quoted one, not the first or last character), line
    /// breaks are written as YAML folds them, and in a single-quoted one `'` is doubled.
    fn folded(&mut self, value: &str, allow_breaks: bool, single: bool) {
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        let mut breaks = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                let inner = !single || (i > 0 && i < chars.len() - 1);
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && inner
                    && chars.get(i + 1) != Some(&' ')
                {
                    self.write_indent();
                } else {
                    self.put(c);
                }
                spaces = true;
            } else if is_break(c) {
                if !breaks && c == '\n' {
                    self.put_break();
                }
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                if single && c == '\'' {
                    self.put('\'');
                }
                self.put(c);
                self.indention = false;
                spaces = false;
                breaks = false;
            }
        }
    }

    fn double(&mut self, value: &str, allow_breaks: bool) {
        self.indicator("\"", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if !is_printable(c) || c == '\u{feff}' || is_break(c) || c == '"' || c == '\\' {
                self.put('\\');
                let short = match c {
                    '\0' => Some('0'),
                    '\u{7}' => Some('a'),
                    '\u{8}' => Some('b'),
                    '\t' => Some('t'),
                    '\n' => Some('n'),
                    '\u{b}' => Some('v'),
                    '\u{c}' => Some('f'),
                    '\r' => Some('r'),
                    '\u{1b}' => Some('e'),
                    '"' => Some('"'),
                    '\\' => Some('\\'),
                    '\u{85}' => Some('N'),
                    '\u{a0}' => Some('_'),
                    '\u{2028}' => Some('L'),
                    '\u{2029}' => Some('P'),
                    _ => None,
                };
                match short {
                    Some(s) => self.put(s),
                    None => {
                        let v = c as u32;
                        let (p, w) = if v <= 0xff {
                            ('x', 2)
                        } else if v <= 0xffff {
                            ('u', 4)
                        } else {
                            ('U', 8)
                        };
                        self.put(p);
                        for ch in format!("{v:0w$X}").chars() {
                            self.put(ch);
                        }
                    }
                }
                spaces = false;
            } else if c == ' ' {
                if allow_breaks
                    && !spaces
                    && self.column > BEST_WIDTH
                    && i > 0
                    && i < chars.len() - 1
                {
                    self.write_indent();
                    if chars[i + 1] == ' ' {
                        self.put('\\');
                    }
                } else {
                    self.put(c);
                }
                spaces = true;
            } else {
                self.put(c);
                spaces = false;
            }
        }
        self.indicator("\"", false, false, false);
        self.whitespace = false;
        self.indention = false;
    }

    fn literal(&mut self, value: &str) {
        self.indicator("|", true, false, false);
        let chars: Vec<char> = value.chars().collect();
        if chars.first().is_some_and(|c| *c == ' ' || is_break(*c)) {
            self.indicator(&BEST_INDENT.to_string(), false, false, false);
        }
        let n = chars.len();
        let chomp = if n == 0 || !is_break(chars[n - 1]) {
            Some("-")
        } else if n == 1 || is_break(chars[n - 2]) {
            Some("+")
        } else {
            None
        };
        if let Some(ch) = chomp {
            self.indicator(ch, false, false, false);
        }
        self.put_break();
        self.indention = true;
        self.whitespace = true;
        let mut breaks = true;
        for &c in &chars {
            if is_break(c) {
                self.write_break(c);
                self.indention = true;
                breaks = true;
            } else {
                if breaks {
                    self.write_indent();
                }
                self.put(c);
                self.indention = false;
                breaks = false;
            }
        }
    }
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0a
        || (0x20..=0x7e).contains(&v)
        || (0xa0..=0xd7ff).contains(&v)
        || ((0xe000..=0xfffd).contains(&v) && v != 0xfeff)
        || (0x10000..=0x10ffff).contains(&v)
}

/// libyaml's `yaml_emitter_analyze_scalar`, for block context.
fn analyze(value: &str) -> Analysis {
    if value.is_empty() {
        return Analysis {
            multiline: false,
            block_plain: true,
            single_quoted: true,
            block: false,
        };
    }
    let chars: Vec<char> = value.chars().collect();
    let mut block_indicators = value.starts_with("---") || value.starts_with("...");
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut previous_space, mut previous_break) = (false, false);
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = chars.get(i + 1).is_none_or(|n| *n == ' ' || *n == '\t');
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == chars.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            line_breaks = true;
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == chars.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = c == ' ' || c == '\t' || is_break(c);
    }
    let mut a = Analysis {
        multiline: line_breaks,
        block_plain: true,
        single_quoted: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.block_plain = false;
        a.single_quoted = false;
    }
    if space_break || special {
        a.block_plain = false;
        a.single_quoted = false;
        a.block = false;
    }
    if line_breaks || block_indicators {
        a.block_plain = false;
    }
    a
}

/// yaml.v2's `stringv` test: would the text read back as a string if written plain?
fn resolves_plain_to_string(s: &str) -> bool {
    if yaml::yaml11_bool(s).is_some() || s == "<<" || is_base60_float(s) {
        return false;
    }
    matches!(yaml::resolve_plain(s), yaml::Value::Str(_))
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`.
fn is_base60_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    if i >= b.len() || !b[i].is_ascii_digit() {
        return false;
    }
    while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
        i += 1;
    }
    let mut groups = 0;
    while i < b.len() && b[i] == b':' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 2 {
            i += 1;
        }
        let group = &b[start..i];
        let ok = match group.len() {
            1 => true,
            2 => group[0] <= b'5',
            _ => false,
        };
        if !ok {
            return false;
        }
        groups += 1;
    }
    if groups == 0 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'_') {
            i += 1;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pairs: Vec<(&str, Y)>) -> Y {
        Y::Map(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    #[test]
    fn block_layout_matches_yaml_v2() {
        let v = m(vec![
            (
                "kernel",
                m(vec![
                    ("image", Y::str("docker.io/x:1")),
                    ("cmdline", Y::str("a b")),
                ]),
            ),
            ("init", Y::strs(&["a", "b"])),
            ("onshutdown", Y::Seq(vec![])),
            (
                "files",
                Y::Seq(vec![m(vec![
                    ("path", Y::str("/etc/x")),
                    ("contents", Y::str("l1\nl2\n")),
                    ("command", Y::strs(&["-1", "true", "", "a: b", " lead"])),
                    (
                        "r",
                        m(vec![
                            ("n", Y::null()),
                            ("x", Y::null()),
                            ("e", Y::Map(vec![])),
                        ]),
                    ),
                ])]),
            ),
        ]);
        assert_eq!(
            marshal(&v),
            "kernel:\n  image: docker.io/x:1\n  cmdline: a b\ninit:\n- a\n- b\nonshutdown: []\nfiles:\n- path: /etc/x\n  contents: |\n    l1\n    l2\n  command:\n  - \"-1\"\n  - \"true\"\n  - \"\"\n  - 'a: b'\n  - ' lead'\n  r:\n    \"n\": null\n    x: null\n    e: {}\n"
        );
    }

    #[test]
    fn literal_chomping_and_quoting_rules() {
        let one = |s: &str| marshal(&m(vec![("k", Y::str(s))]));
        assert_eq!(one("EVE_HV"), "k: EVE_HV\n");
        assert_eq!(one("a\nb"), "k: |-\n  a\n  b\n");
        assert_eq!(one("a\n\n"), "k: |+\n  a\n\n");
        assert_eq!(one(" a\n"), "k: |2\n   a\n");
        assert_eq!(one("yes"), "k: \"yes\"\n");
        assert_eq!(one("1:20"), "k: \"1:20\"\n");
        assert_eq!(one("2017-04-18"), "k: \"2017-04-18\"\n");
        assert_eq!(one("tab\there"), "k: \"tab\\there\"\n");
        assert_eq!(one("it's #1"), "k: 'it''s #1'\n");
        assert_eq!(one("0644"), "k: \"0644\"\n");
        let long = "word ".repeat(30);
        let out = one(long.trim_end());
        assert!(out.lines().count() > 1, "{out}");
        assert!(out.lines().all(|l| l.len() <= 90), "{out}");
    }

    #[test]
    fn keys_sort_naturally() {
        let mut k: Vec<(String, ())> = ["a10", "a9", "B", "a", "_x"]
            .iter()
            .map(|s| (s.to_string(), ()))
            .collect();
        sort_keys(&mut k);
        let names: Vec<_> = k.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(names, ["_x", "B", "a", "a9", "a10"]);
    }
}
