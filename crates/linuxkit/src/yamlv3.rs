//! Reading linuxkit ymls the way linuxkit's yaml.v3 decoder sees them, with line numbers.
//!
//! linuxkit decodes a yml into a generic value, validates that against its JSON schema, then
//! decodes it again into structs. This module produces the generic value: a [`Node`] tree
//! whose scalars are resolved like yaml.v3 resolves untyped plain scalars (`true`/`false`,
//! `null`/`~`/empty, decimal/`0x`/`0o`/`0b`/leading-zero-octal integers with `_` separators,
//! floats, `YYYY-MM-DD…` timestamps), quoted scalars staying strings. Every node keeps its
//! line so errors can point at it.
//!
//! Hardening (hostile-inputs §4): the text is capped in size, nesting depth is capped, alias
//! expansion has a node budget (no billion laughs), and a duplicate key is an error naming
//! both lines, as yaml.v3 reports it. Merge keys (`<<`) are honoured; explicit keys win.
//! Left out: multi-document streams (only the first document is read, as yaml.v3's
//! `Decode` does) and custom tags other than the core `!!str`/`!!int`/… ones.

use saphyr_parser::{Event, Parser, ScalarStyle};
use std::collections::HashMap;

/// Largest yml accepted.
pub const MAX_TEXT: usize = 16 << 20;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 128;
/// Most nodes one document may expand to (aliases included).
pub const MAX_NODES: usize = 100_000;

/// A parsed YAML node and the line it starts on (1-based).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// 1-based line of the node's first character.
    pub line: usize,
}

/// A resolved YAML value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer (yaml.v3 gives Go `int`, or `uint64` above `i64::MAX`).
    Int(i128),
    /// A float.
    Float(f64),
    /// A string (quoted, block or a plain scalar that resolves to nothing else).
    Str(String),
    /// A value yaml.v3 resolves to another type (a timestamp): kept as text for messages.
    Other(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// A short name of the type, for messages (`string`, `integer` …), as JSON schema says it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Other(_) => "timestamp",
            Value::Seq(_) => "array",
            Value::Map(_) => "object",
        }
    }
}

/// A YAML syntax or budget error.
#[derive(Debug, Clone, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct YamlError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn err(line: usize, message: impl Into<String>) -> YamlError {
    YamlError {
        line,
        message: message.into(),
    }
}

/// Parses the first document of `text`. An empty document is `Null`.
pub fn parse(text: &str) -> Result<Node, YamlError> {
    if text.len() > MAX_TEXT {
        return Err(err(
            1,
            format!("the document is larger than {MAX_TEXT} bytes"),
        ));
    }
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
    };
    loop {
        let (ev, line) = b.next()?;
        match ev {
            Event::StreamStart | Event::DocumentStart(_) | Event::Nothing => continue,
            Event::StreamEnd | Event::DocumentEnd => {
                return Ok(Node {
                    value: Value::Null,
                    line,
                });
            }
            ev => return b.node(ev, line, 0),
        }
    }
}

struct Builder<'a> {
    parser: Parser<'a, saphyr_parser::StrInput<'a>>,
    anchors: HashMap<usize, (Node, usize)>,
    nodes: usize,
}

impl<'a> Builder<'a> {
    fn next(&mut self) -> Result<(Event<'a>, usize), YamlError> {
        match self.parser.next_event() {
            None => Err(err(0, "unexpected end of the document")),
            Some(Err(e)) => Err(err(e.marker().line(), e.info().to_string())),
            Some(Ok((ev, span))) => Ok((ev, span.start.line())),
        }
    }

    fn count(&mut self, n: usize, line: usize) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(err(
                line,
                format!("the document expands to more than {MAX_NODES} nodes (alias bomb?)"),
            ));
        }
        Ok(())
    }

    fn node(&mut self, ev: Event<'a>, line: usize, depth: usize) -> Result<Node, YamlError> {
        if depth > MAX_DEPTH {
            return Err(err(line, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.count(1, line)?;
        let (node, anchor) = match ev {
            Event::Alias(id) => {
                // The budget is checked before the copy is made.
                let size = self
                    .anchors
                    .get(&id)
                    .map(|(_, size)| *size)
                    .ok_or_else(|| err(line, "alias to an unknown anchor"))?;
                self.count(size, line)?;
                return Ok(self.anchors[&id].0.clone());
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = tag.map(|t| format!("{}{}", t.handle, t.suffix));
                let value = resolve_scalar(&text, style, tag.as_deref(), line)?;
                (Node { value, line }, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, l) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, l, depth + 1)?);
                }
                (
                    Node {
                        value: Value::Seq(items),
                        line,
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, _) => {
                let mut pairs: Vec<(Node, Node)> = Vec::new();
                let mut merged: Vec<(Node, Node)> = Vec::new();
                loop {
                    let (ev, l) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let is_merge =
                        matches!(&ev, Event::Scalar(t, ScalarStyle::Plain, _, None) if t == "<<");
                    let key = self.node(ev, l, depth + 1)?;
                    let (ev, vl) = self.next()?;
                    let value = self.node(ev, vl, depth + 1)?;
                    if is_merge {
                        merge_into(&mut merged, value)?;
                        continue;
                    }
                    if let Some((prev, _)) = pairs.iter().find(|(k, _)| k.value == key.value) {
                        return Err(err(
                            key.line,
                            format!(
                                "mapping key {} already defined at line {}",
                                describe(&key.value),
                                prev.line
                            ),
                        ));
                    }
                    pairs.push((key, value));
                }
                for (k, v) in merged {
                    if !pairs.iter().any(|(pk, _)| pk.value == k.value) {
                        pairs.push((k, v));
                    }
                }
                (
                    Node {
                        value: Value::Map(pairs),
                        line,
                    },
                    anchor,
                )
            }
            other => return Err(err(line, format!("unexpected YAML event {other:?}"))),
        };
        if anchor != 0 {
            let size = size_of_tree(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        Ok(node)
    }
}

fn size_of_tree(n: &Node) -> usize {
    match &n.value {
        Value::Seq(items) => 1 + items.iter().map(size_of_tree).sum::<usize>(),
        Value::Map(pairs) => {
            1 + pairs
                .iter()
                .map(|(k, v)| size_of_tree(k) + size_of_tree(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

fn merge_into(merged: &mut Vec<(Node, Node)>, value: Node) -> Result<(), YamlError> {
    match value.value {
        Value::Map(pairs) => {
            for (k, v) in pairs {
                if !merged.iter().any(|(mk, _)| mk.value == k.value) {
                    merged.push((k, v));
                }
            }
            Ok(())
        }
        Value::Seq(items) => {
            for item in items {
                if !matches!(item.value, Value::Map(_)) {
                    return Err(err(
                        item.line,
                        "map merge requires a map or a sequence of maps",
                    ));
                }
                merge_into(merged, item)?;
            }
            Ok(())
        }
        _ => Err(err(
            value.line,
            "map merge requires a map or a sequence of maps",
        )),
    }
}

/// A value as it would appear in a message.
pub fn describe(v: &Value) -> String {
    match v {
        Value::Str(s) | Value::Other(s) => format!("{s:?}"),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Seq(_) => "a sequence".into(),
        Value::Map(_) => "a mapping".into(),
    }
}

fn resolve_scalar(
    text: &str,
    style: ScalarStyle,
    tag: Option<&str>,
    line: usize,
) -> Result<Value, YamlError> {
    let bad = |what: &str| err(line, format!("cannot decode {text:?} as {what}"));
    match tag {
        None | Some("!") => {}
        Some("!!str") => return Ok(Value::Str(text.to_string())),
        Some("!!null") => return Ok(Value::Null),
        Some("!!bool") => {
            return match resolve_plain(text) {
                Value::Bool(b) => Ok(Value::Bool(b)),
                _ => Err(bad("a boolean")),
            };
        }
        Some("!!int") => {
            return match resolve_plain(text) {
                Value::Int(i) => Ok(Value::Int(i)),
                _ => Err(bad("an integer")),
            };
        }
        Some("!!float") => {
            return match resolve_plain(text) {
                Value::Int(i) => Ok(Value::Float(i as f64)),
                Value::Float(f) => Ok(Value::Float(f)),
                _ => Err(bad("a float")),
            };
        }
        Some(other) => {
            return Err(err(
                line,
                format!(
                    "unsupported YAML tag {other} (only the core !!str, !!int, !!bool, !!float, !!null tags are understood)"
                ),
            ));
        }
    }
    if tag.is_some() || style != ScalarStyle::Plain {
        return Ok(Value::Str(text.to_string()));
    }
    Ok(resolve_plain(text))
}

/// How yaml.v3 resolves an untagged plain scalar.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        _ => {}
    }
    match s.as_bytes()[0] {
        b'.' => match go_parse_float(s) {
            Some(f) => Value::Float(f),
            None => Value::Str(s.to_string()),
        },
        b'0'..=b'9' | b'+' | b'-' => {
            if is_timestamp(s) {
                return Value::Other(s.to_string());
            }
            if let Some(i) = numeric_int(s) {
                return Value::Int(i);
            }
            let plain: String = s.chars().filter(|c| *c != '_').collect();
            if is_yaml_style_float(&plain)
                && let Some(f) = go_parse_float(&plain)
            {
                return Value::Float(f);
            }
            Value::Str(s.to_string())
        }
        _ => Value::Str(s.to_string()),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint(s, 0, 64)` on `s` with `_` removed, plus
/// the `0b`/`0o` forms yaml adds. Returns `None` when the text is no integer.
pub fn numeric_int(s: &str) -> Option<i128> {
    let plain: String = s.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match plain.as_bytes().first()? {
        b'-' => (true, &plain[1..]),
        b'+' => (false, &plain[1..]),
        _ => (false, &plain[..]),
    };
    let (radix, digits) = if let Some(r) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, r)
    } else if let Some(r) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, r)
    } else if let Some(r) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, r)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let mag = u128::from_str_radix(digits, radix).ok()?;
    let v = if neg { -(mag as i128) } else { mag as i128 };
    // Go: int64 for the signed parse, uint64 for what only the unsigned parse accepts.
    if neg && v < i64::MIN as i128 {
        return None;
    }
    if v > u64::MAX as i128 {
        return None;
    }
    if v > i64::MAX as i128 && (neg || s.starts_with('+')) {
        // ParseUint rejects a sign.
        return None;
    }
    Some(v)
}

/// yaml's `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
pub fn is_yaml_style_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseFloat(s, 64)` for the decimal, `inf`/`nan` and hex forms.
pub fn go_parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let unsigned = lower.trim_start_matches(['+', '-']);
    if lower.len() - unsigned.len() > 1 {
        return None;
    }
    if matches!(unsigned, "inf" | "infinity" | "nan") {
        return lower.replace("infinity", "inf").parse().ok();
    }
    if unsigned.starts_with("0x") {
        // A hex float needs a p exponent; its value does not matter to callers here.
        return unsigned.contains('p').then_some(0.0);
    }
    if s.contains('_') || !is_yaml_style_float(s) {
        return None;
    }
    s.parse().ok()
}

/// yaml's timestamp check: `YYYY-M-D` optionally followed by `[Tt ]h:m:s[.frac][Z|±hh:mm]`
/// (the `T`/`t` forms need a zone, the space form has none).
pub fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let mut i = 5;
    let num = |i: &mut usize, max_len: usize| -> Option<u32> {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() && *i - start < max_len {
            *i += 1;
        }
        if *i == start {
            return None;
        }
        s[start..*i].parse().ok()
    };
    let year: u32 = s[..4].parse().unwrap_or(0);
    let Some(month) = num(&mut i, 2) else {
        return false;
    };
    if i >= b.len() || b[i] != b'-' {
        return false;
    }
    i += 1;
    let Some(day) = num(&mut i, 2) else {
        return false;
    };
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return false;
    }
    if i == b.len() {
        return true;
    }
    let sep = b[i];
    if sep != b'T' && sep != b't' && sep != b' ' {
        return false;
    }
    i += 1;
    let (Some(h), true) = (num(&mut i, 2), i < b.len() && b[i] == b':') else {
        return false;
    };
    i += 1;
    let (Some(m), true) = (num(&mut i, 2), i < b.len() && b[i] == b':') else {
        return false;
    };
    i += 1;
    let Some(sec) = num(&mut i, 2) else {
        return false;
    };
    if h > 23 || m > 59 || sec > 59 {
        return false;
    }
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if sep == b' ' {
        return i == b.len();
    }
    match b.get(i) {
        Some(b'Z') => i + 1 == b.len(),
        Some(b'+') | Some(b'-') => {
            let z = &b[i + 1..];
            z.len() == 5
                && z[0].is_ascii_digit()
                && z[1].is_ascii_digit()
                && z[2] == b':'
                && z[3].is_ascii_digit()
                && z[4].is_ascii_digit()
        }
        _ => false,
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Value {
        parse(text).unwrap().value
    }

    #[test]
    fn resolves_scalars_like_yaml_v3() {
        assert_eq!(resolve_plain("0644"), Value::Int(0o644));
        assert_eq!(resolve_plain("1_000"), Value::Int(1000));
        assert_eq!(resolve_plain("-1"), Value::Int(-1));
        assert_eq!(resolve_plain("0x1F"), Value::Int(31));
        assert_eq!(resolve_plain("yes"), Value::Str("yes".into()));
        assert_eq!(resolve_plain("true"), Value::Bool(true));
        assert_eq!(resolve_plain("~"), Value::Null);
        assert_eq!(resolve_plain("1.5"), Value::Float(1.5));
        assert_eq!(resolve_plain("08"), Value::Float(8.0));
        assert_eq!(
            resolve_plain("2017-04-18"),
            Value::Other("2017-04-18".into())
        );
        assert_eq!(resolve_plain("1.2.3"), Value::Str("1.2.3".into()));
        assert_eq!(
            resolve_plain("18446744073709551615"),
            Value::Int(u64::MAX as i128)
        );
    }

    #[test]
    fn quoted_scalars_stay_strings_and_lines_are_kept() {
        let n = parse("a: \"1\"\nb:\n  - 2\n").unwrap();
        let Value::Map(pairs) = n.value else { panic!() };
        assert_eq!(pairs[0].1.value, Value::Str("1".into()));
        assert_eq!(pairs[1].0.line, 2);
        let Value::Seq(items) = &pairs[1].1.value else {
            panic!()
        };
        assert_eq!(items[0].value, Value::Int(2));
        assert_eq!(items[0].line, 3);
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let e = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("already defined at line 1"), "{e}");
    }

    #[test]
    fn alias_bombs_are_stopped() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let start = std::time::Instant::now();
        let e = parse(&text).unwrap_err();
        assert!(e.message.contains("alias bomb"), "{e}");
        assert!(start.elapsed().as_secs() < 1);
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn merges_and_empty_documents() {
        assert_eq!(v(""), Value::Null);
        let n = v("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n");
        let Value::Map(p) = n else { panic!() };
        let Value::Map(m) = &p[1].1.value else {
            panic!()
        };
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1.value, Value::Int(3));
        assert_eq!(m[1].1.value, Value::Int(1));
    }
}
