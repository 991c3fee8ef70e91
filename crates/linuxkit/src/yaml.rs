//! YAML documents as node trees that remember where each node came from.
//!
//! linuxkit and yq read YAML with Go's `gopkg.in/yaml.v3`; the typed readers in this crate
//! (build.yml) and in `evebuild-eve` (image composition) need the same view of a document:
//! key order, the source line of every node (errors name it), the scalar style (a quoted
//! `"10"` is a string, a plain `10` an integer) and yaml.v3's resolution of plain scalars
//! (YAML 1.2 core schema plus its leftovers: `0755` is octal, `0b`/`0o` prefixes,
//! underscores in numbers). Parsing is done by `saphyr-parser`; this module builds the tree.
//!
//! Left out: merge keys (`<<`) are kept as ordinary keys, timestamps resolve as strings,
//! `!!binary` is not decoded, and only the first document of a stream is read (a second
//! document is an error, as it would be silently ignored by linuxkit).

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;

/// A parse failure with its position (1-based line, 0-based column).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line} column {col}: {message}")]
pub struct YamlError {
    /// 1-based line of the offending token.
    pub line: usize,
    /// 0-based column of the offending token.
    pub col: usize,
    /// What went wrong.
    pub message: String,
}

/// How a scalar was written in the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Unquoted: subject to type resolution (`true`, `10`, `~`).
    Plain,
    /// `'…'` or `"…"`: always a string.
    Quoted,
    /// `|` or `>` block: always a string.
    Block,
}

/// A scalar as written: its text after unescaping, its style and its explicit tag, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar {
    /// The scalar's content (escapes processed, block indentation removed).
    pub text: String,
    /// How it was written.
    pub style: Style,
    /// Explicit tag in short form (`!!str`, `!!int`, or a local `!foo`), if one was given.
    pub tag: Option<String>,
}

/// A scalar's value after yaml.v3's type resolution.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved<'a> {
    /// `~`, `null`, empty plain scalar.
    Null,
    /// `true`/`false` in their three spellings (YAML 1.2 core).
    Bool(bool),
    /// An integer that fits in 64 bits (signed or unsigned).
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// Anything else.
    Str(&'a str),
}

/// One node of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based source line where the node starts.
    pub line: usize,
    /// 0-based source column where the node starts.
    pub col: usize,
    /// The node's content.
    pub kind: NodeKind,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar.
    Scalar(Scalar),
    /// A sequence, in order.
    Seq(Vec<Node>),
    /// A mapping, in source order (duplicate keys are kept; readers decide).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar, if this node is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// True for a plain null scalar (`~`, `null`, empty).
    pub fn is_null(&self) -> bool {
        matches!(self.as_scalar().map(Scalar::resolve), Some(Resolved::Null))
    }

    /// A word for the node's kind, for error messages ("mapping", "sequence", "scalar").
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Scalar(s) => match s.resolve() {
                Resolved::Null => "null",
                Resolved::Bool(_) => "boolean",
                Resolved::Int(_) => "integer",
                Resolved::Float(_) => "float",
                Resolved::Str(_) => "string",
            },
            NodeKind::Seq(_) => "sequence",
            NodeKind::Map(_) => "mapping",
        }
    }
}

impl Scalar {
    /// Resolve the scalar's type as yaml.v3 does for an untyped target.
    pub fn resolve(&self) -> Resolved<'_> {
        match self.tag.as_deref() {
            Some("!!str") | Some("!!binary") => return Resolved::Str(&self.text),
            Some("!!null") => return Resolved::Null,
            None | Some("!!bool") | Some("!!int") | Some("!!float") | Some("!!timestamp") => {}
            // An unknown or local tag: yaml.v3 keeps the text.
            Some(_) => return Resolved::Str(&self.text),
        }
        if self.style != Style::Plain && self.tag.is_none() {
            return Resolved::Str(&self.text);
        }
        resolve_plain(&self.text)
    }

    /// The text if the scalar resolves to a string.
    pub fn as_str(&self) -> Option<&str> {
        match self.resolve() {
            Resolved::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// yaml.v3's resolution of a plain scalar (`resolve.go`), minus timestamps.
pub fn resolve_plain(text: &str) -> Resolved<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first == b'.' {
        if let Some(f) = parse_go_float(text) {
            return Resolved::Float(f);
        }
    } else if first.is_ascii_digit() || first == b'+' || first == b'-' {
        let plain: String = text.chars().filter(|&c| c != '_').collect();
        if let Some(i) = parse_go_int_base0(&plain) {
            return Resolved::Int(i);
        }
        if is_yaml_style_float(&plain)
            && let Some(f) = parse_go_float(&plain)
        {
            return Resolved::Float(f);
        }
    }
    Resolved::Str(text)
}

/// Go's `strconv.ParseInt(s, 0, 64)` / `ParseUint(s, 0, 64)`: sign, then `0x`, `0o`, `0b` or
/// a leading `0` (octal), else decimal. Returns a value in i64 ∪ u64 range.
fn parse_go_int_base0(s: &str) -> Option<i128> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok()?;
    let value = if neg {
        -(i128::try_from(magnitude).ok()?)
    } else {
        i128::try_from(magnitude).ok()?
    };
    let fits = if neg {
        value >= i64::MIN as i128
    } else {
        value <= u64::MAX as i128
    };
    fits.then_some(value)
}

/// yaml.v3's `yamlStyleFloat`: `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn is_yaml_style_float(s: &str) -> bool {
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

fn parse_go_float(s: &str) -> Option<f64> {
    // Rust accepts the same decimal syntax as Go's ParseFloat for what reaches here, except
    // that it also takes "inf"/"nan" words, which the callers never pass.
    s.parse::<f64>().ok()
}

/// Parse the first (and only) document of `text`. An empty stream gives `None`.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0usize;
    while let Some(event) = parser.next_event() {
        let (event, span) = event.map_err(|e| YamlError {
            line: e.marker().line(),
            col: e.marker().col(),
            message: e.info().to_string(),
        })?;
        match event {
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(YamlError {
                        line: span.start.line(),
                        col: span.start.col(),
                        message: "more than one YAML document; only one is expected".into(),
                    });
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            other => builder.event(other, span)?,
        }
    }
    Ok(builder.root)
}

/// Assembles nodes from parser events.
#[derive(Default)]
struct Builder {
    /// Open collections: the node under construction, its anchor, and for mappings a pending key.
    stack: Vec<(Node, usize, Option<Node>)>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let at = |kind| Node {
            line: span.start.line(),
            col: span.start.col(),
            kind,
        };
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                };
                let tag = tag.map(|t| short_tag(&t.handle, &t.suffix));
                let node = at(NodeKind::Scalar(Scalar {
                    text: text.into_owned(),
                    style,
                    tag,
                }));
                self.complete(node, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                self.stack
                    .push((at(NodeKind::Seq(Vec::new())), anchor, None));
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push((at(NodeKind::Map(Vec::new())), anchor, None));
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, _) = self.stack.pop().expect("parser balances collections");
                self.complete(node, anchor)
            }
            Event::Alias(id) => {
                let mut node = self.anchors.get(&id).cloned().ok_or_else(|| YamlError {
                    line: span.start.line(),
                    col: span.start.col(),
                    message: "alias to an unknown anchor".into(),
                })?;
                node.line = span.start.line();
                node.col = span.start.col();
                self.complete(node, 0)
            }
            _ => Ok(()),
        }
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some((parent, _, pending)) => match &mut parent.kind {
                NodeKind::Seq(items) => items.push(node),
                NodeKind::Map(entries) => match pending.take() {
                    None => *pending = Some(node),
                    Some(key) => entries.push((key, node)),
                },
                NodeKind::Scalar(_) => unreachable!("scalars are never open"),
            },
        }
        Ok(())
    }
}

fn short_tag(handle: &str, suffix: &str) -> String {
    const LONG: &str = "tag:yaml.org,2002:";
    if handle == "!!" {
        format!("!!{suffix}")
    } else if let Some(rest) = format!("{handle}{suffix}").strip_prefix(LONG) {
        format!("!!{rest}")
    } else {
        format!("{handle}{suffix}")
    }
}

/// A typed-decoding failure at a source line, worded for the user.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct DecodeError {
    /// 1-based line of the offending node.
    pub line: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl DecodeError {
    /// An error located at `node`.
    pub fn at(node: &Node, message: impl Into<String>) -> Self {
        DecodeError {
            line: node.line,
            message: message.into(),
        }
    }
}

/// Strict decoding of yaml.v3 struct semantics with `KnownFields(true)`: visit every key of
/// the mapping `node` with `visit(key, value)`. Unknown keys and keys given twice are errors
/// naming the key and its line; a null node is an empty struct.
pub fn decode_struct(
    node: &Node,
    type_name: &str,
    known: &[&str],
    mut visit: impl FnMut(&str, &Node) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let entries = match &node.kind {
        NodeKind::Map(entries) => entries,
        _ if node.is_null() => return Ok(()),
        _ => {
            return Err(DecodeError::at(
                node,
                format!(
                    "{type_name} must be a mapping, found a {}",
                    node.kind_name()
                ),
            ));
        }
    };
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (key, value) in entries {
        let name = match key.as_scalar() {
            Some(s) => s.text.as_str(),
            None => {
                return Err(DecodeError::at(
                    key,
                    format!("{type_name} keys must be scalars"),
                ));
            }
        };
        if !known.contains(&name) {
            return Err(DecodeError::at(
                key,
                format!(
                    "unknown key `{name}` in {type_name} (known keys: {})",
                    known.join(", ")
                ),
            ));
        }
        if let Some(first) = seen.insert(name.to_string(), key.line) {
            return Err(DecodeError::at(
                key,
                format!("key `{name}` in {type_name} is given twice (first on line {first})"),
            ));
        }
        visit(name, value)?;
    }
    Ok(())
}

/// A string field: any scalar's text (yaml.v3 accepts `tag: 123` as "123"); null is `None`.
pub fn decode_string(node: &Node, field: &str) -> Result<Option<String>, DecodeError> {
    match &node.kind {
        NodeKind::Scalar(_) if node.is_null() => Ok(None),
        NodeKind::Scalar(s) => Ok(Some(s.text.clone())),
        _ => Err(DecodeError::at(
            node,
            format!("`{field}` must be a string, found a {}", node.kind_name()),
        )),
    }
}

/// A bool field with yaml.v3's YAML 1.1 leniency for typed bools: `y`, `yes`, `on` (and their
/// capitalised forms) are true, `n`, `no`, `off` false, quoted or not. Null is `None`.
pub fn decode_bool(node: &Node, field: &str) -> Result<Option<bool>, DecodeError> {
    let Some(scalar) = node.as_scalar() else {
        return Err(DecodeError::at(
            node,
            format!("`{field}` must be a boolean, found a {}", node.kind_name()),
        ));
    };
    match scalar.resolve() {
        Resolved::Null => Ok(None),
        Resolved::Bool(b) => Ok(Some(b)),
        Resolved::Str("y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON") => Ok(Some(true)),
        Resolved::Str("n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF") => Ok(Some(false)),
        _ => Err(DecodeError::at(
            node,
            format!(
                "`{field}` must be a boolean (true/false, yes/no, on/off), found `{}`",
                scalar.text
            ),
        )),
    }
}

/// An integer field; whole floats are accepted as yaml.v3 does. Null is `None`.
pub fn decode_int(node: &Node, field: &str) -> Result<Option<i64>, DecodeError> {
    let bad = || {
        DecodeError::at(
            node,
            format!("`{field}` must be an integer, found a {}", node.kind_name()),
        )
    };
    let scalar = node.as_scalar().ok_or_else(bad)?;
    match scalar.resolve() {
        Resolved::Null => Ok(None),
        Resolved::Int(i) => i64::try_from(i).map(Some).map_err(|_| bad()),
        Resolved::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
        _ => Err(bad()),
    }
}

/// A list of strings (each element as [`decode_string`], null elements are ""). Null is `None`.
pub fn decode_strings(node: &Node, field: &str) -> Result<Option<Vec<String>>, DecodeError> {
    decode_seq(node, field, |item| {
        Ok(decode_string(item, field)?.unwrap_or_default())
    })
}

/// A list whose elements are decoded by `item`. Null is `None`.
pub fn decode_seq<T>(
    node: &Node,
    field: &str,
    mut item: impl FnMut(&Node) -> Result<T, DecodeError>,
) -> Result<Option<Vec<T>>, DecodeError> {
    match &node.kind {
        NodeKind::Seq(items) => items
            .iter()
            .map(&mut item)
            .collect::<Result<_, _>>()
            .map(Some),
        _ if node.is_null() => Ok(None),
        _ => Err(DecodeError::at(
            node,
            format!("`{field}` must be a list, found a {}", node.kind_name()),
        )),
    }
}

/// A string-to-string mapping, in source order. Null is `None`.
pub fn decode_string_map(
    node: &Node,
    field: &str,
) -> Result<Option<Vec<(String, String)>>, DecodeError> {
    match &node.kind {
        NodeKind::Map(entries) => entries
            .iter()
            .map(|(k, v)| {
                Ok((
                    decode_string(k, field)?.unwrap_or_default(),
                    decode_string(v, field)?.unwrap_or_default(),
                ))
            })
            .collect::<Result<_, _>>()
            .map(Some),
        _ if node.is_null() => Ok(None),
        _ => Err(DecodeError::at(
            node,
            format!("`{field}` must be a mapping, found a {}", node.kind_name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str) -> Resolved<'_> {
        resolve_plain(text)
    }

    #[test]
    fn resolves_like_yaml_v3() {
        assert_eq!(scalar("yes"), Resolved::Str("yes"));
        assert_eq!(scalar("True"), Resolved::Bool(true));
        assert_eq!(scalar("~"), Resolved::Null);
        assert_eq!(scalar("0755"), Resolved::Int(0o755));
        assert_eq!(scalar("0o17"), Resolved::Int(15));
        assert_eq!(scalar("0x1F"), Resolved::Int(31));
        assert_eq!(scalar("-0b101"), Resolved::Int(-5));
        assert_eq!(scalar("1_000"), Resolved::Int(1000));
        assert_eq!(scalar("-999"), Resolved::Int(-999));
        assert_eq!(scalar("1.5"), Resolved::Float(1.5));
        assert_eq!(scalar(".5"), Resolved::Float(0.5));
        assert_eq!(scalar("1e3"), Resolved::Float(1000.0));
        assert_eq!(scalar("089"), Resolved::Float(89.0));
        assert_eq!(scalar("v1.3.0"), Resolved::Str("v1.3.0"));
        assert_eq!(scalar("-"), Resolved::Str("-"));
        assert_eq!(
            scalar("18446744073709551615"),
            Resolved::Int(u64::MAX as i128)
        );
    }

    #[test]
    fn tree_keeps_order_lines_styles_and_aliases() {
        let doc = "a: 1\nb:\n  - \"10\"\n  - &x {k: v}\n  - *x\n";
        let root = parse(doc).unwrap().unwrap();
        let NodeKind::Map(entries) = &root.kind else {
            panic!("mapping expected")
        };
        assert_eq!(entries[0].0.as_scalar().unwrap().text, "a");
        assert_eq!(entries[1].1.line, 3);
        let NodeKind::Seq(items) = &entries[1].1.kind else {
            panic!("sequence expected")
        };
        assert_eq!(items[0].as_scalar().unwrap().resolve(), Resolved::Str("10"));
        assert_eq!(items[1].kind, items[2].kind);
        assert_eq!(items[2].line, 5);
    }

    #[test]
    fn errors_carry_positions() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1, "{err}");
        assert!(parse("a: 1\n---\nb: 2\n").is_err());
        assert_eq!(parse("").unwrap(), None);
    }
}
