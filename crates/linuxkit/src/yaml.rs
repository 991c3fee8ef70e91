//! YAML documents read as Go's `gopkg.in/yaml.v3` reads them, as node trees that remember
//! where each node came from.
//!
//! linuxkit and yq read YAML with yaml.v3, and so do the readers of this workspace: the linuxkit
//! yml and image labels ([`crate::yml`]), build.yml ([`crate::buildyml`],
//! [`crate::imageconfig`]) and EVE's image composition (`evebuild-eve`). They share one view of
//! a document: key order, the source line and column of every node (errors name them), the
//! scalar style (a quoted `"10"` is a string, a plain `10` an integer), the explicit tag, and
//! yaml.v3's resolution of plain scalars ([`resolve_plain`]: YAML 1.2 core schema plus its
//! leftovers — `0755` is octal, `0b`/`0o` prefixes, `_` in numbers, `YYYY-MM-DD…` timestamps).
//! Parsing is done by `saphyr-parser`; this module builds the tree.
//!
//! Two entry points, as yaml.v3 has two layers:
//! - [`parse`]: the node tree (yaml.v3's `Node`, what yq works on). Merge keys (`<<`) and
//!   duplicate keys are kept as written; readers decide. A second document is an error (it
//!   would be silently ignored by linuxkit).
//! - [`parse_value`]: what `yaml.Unmarshal` into a generic value sees (linuxkit validates its
//!   ymls that way): the first document only, merge keys applied (explicit keys win), a
//!   duplicate key an error naming both lines, the core tags checked (`!!int` on a non-integer,
//!   and any tag that is not a core one, are errors).
//!
//! Hardening (hostile-inputs §4), for both: the text is capped in size ([`MAX_TEXT`]), nesting
//! in depth ([`MAX_DEPTH`]), and alias expansion has a node budget ([`MAX_NODES`], no billion
//! laughs). An alias is expanded into a copy of its anchor's node placed where the alias is.
//!
//! The typed decoding helpers ([`decode_struct`], [`decode_string`] …) follow yaml.v3's
//! decoding into Go structs with `KnownFields(true)`.
//!
//! Left out: `!!binary` is not decoded, timestamps are kept as their text.

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use std::collections::HashMap;

/// Largest document accepted, in bytes.
pub const MAX_TEXT: usize = 16 << 20;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 128;
/// Most nodes one document may expand to (aliases included).
pub const MAX_NODES: usize = 100_000;

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
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

/// A node's value after yaml.v3's type resolution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    /// `~`, `null`, empty plain scalar.
    Null,
    /// `true`/`false` in their three spellings (YAML 1.2 core).
    Bool(bool),
    /// An integer that fits in 64 bits, signed or unsigned (Go `int`, or `uint64` above
    /// `i64::MAX`).
    Int(i128),
    /// A floating-point number.
    Float(f64),
    /// A plain `YYYY-MM-DD[…]` timestamp (Go `time.Time`), as written.
    Timestamp(&'a str),
    /// A string: quoted, block, or a plain scalar that resolves to nothing else.
    Str(&'a str),
    /// A sequence.
    Seq(&'a [Node]),
    /// A mapping, in document order.
    Map(&'a [(Node, Node)]),
}

impl Value<'_> {
    /// The type as JSON schema names it (`string`, `integer`, `number`, `object` …), for
    /// schema-style messages.
    pub fn schema_type(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Timestamp(_) => "timestamp",
            Value::Str(_) => "string",
            Value::Seq(_) => "array",
            Value::Map(_) => "object",
        }
    }

    /// The value as it would appear in a message (strings quoted).
    pub fn describe(&self) -> String {
        match self {
            Value::Str(s) | Value::Timestamp(s) => format!("{s:?}"),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => "null".into(),
            Value::Seq(_) => "a sequence".into(),
            Value::Map(_) => "a mapping".into(),
        }
    }

    /// Equal as yaml.v3 compares mapping keys: resolved values, not positions.
    fn same(&self, other: &Value<'_>) -> bool {
        match (self, other) {
            (Value::Seq(a), Value::Seq(b)) => {
                a.len() == b.len() && a.iter().zip(*b).all(|(x, y)| x.value().same(&y.value()))
            }
            (Value::Map(a), Value::Map(b)) => {
                a.len() == b.len()
                    && a.iter().zip(*b).all(|((ka, va), (kb, vb))| {
                        ka.value().same(&kb.value()) && va.value().same(&vb.value())
                    })
            }
            (Value::Seq(_) | Value::Map(_), _) | (_, Value::Seq(_) | Value::Map(_)) => false,
            (a, b) => a == b,
        }
    }
}

impl Node {
    /// The scalar, if this node is one.
    pub fn as_scalar(&self) -> Option<&Scalar> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// The node's resolved value.
    pub fn value(&self) -> Value<'_> {
        match &self.kind {
            NodeKind::Scalar(s) => s.resolve(),
            NodeKind::Seq(items) => Value::Seq(items),
            NodeKind::Map(entries) => Value::Map(entries),
        }
    }

    /// True for a null scalar (`~`, `null`, empty).
    pub fn is_null(&self) -> bool {
        matches!(self.value(), Value::Null)
    }

    /// A word for the node's kind, for error messages ("mapping", "sequence", "string" …).
    pub fn kind_name(&self) -> &'static str {
        match self.value() {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Timestamp(_) => "timestamp",
            Value::Str(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }
}

impl Scalar {
    /// Resolve the scalar's type as yaml.v3 does for an untyped target: a core tag decides
    /// (`!!float 1` is a float), another tag or a quoted or block style keeps the text.
    pub fn resolve(&self) -> Value<'_> {
        match self.tag.as_deref() {
            Some("!!str") | Some("!!binary") => return Value::Str(&self.text),
            Some("!!null") => return Value::Null,
            Some("!!float") => {
                return match resolve_plain(&self.text) {
                    Value::Int(i) => Value::Float(i as f64),
                    other => other,
                };
            }
            None | Some("!!bool") | Some("!!int") | Some("!!timestamp") => {}
            // An unknown or local tag: yaml.v3 keeps the text.
            Some(_) => return Value::Str(&self.text),
        }
        if self.style != Style::Plain && self.tag.is_none() {
            return Value::Str(&self.text);
        }
        resolve_plain(&self.text)
    }

    /// The text if the scalar resolves to a string.
    pub fn as_str(&self) -> Option<&str> {
        match self.resolve() {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// yaml.v3's resolution of an untagged plain scalar (`resolve.go`).
pub fn resolve_plain(text: &str) -> Value<'_> {
    match text {
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
    match text.as_bytes()[0] {
        b'.' => match parse_go_float(text) {
            Some(f) => Value::Float(f),
            None => Value::Str(text),
        },
        b'0'..=b'9' | b'+' | b'-' => {
            if is_timestamp(text) {
                return Value::Timestamp(text);
            }
            let plain: String = text.chars().filter(|&c| c != '_').collect();
            if let Some(i) = parse_go_int(&plain) {
                return Value::Int(i);
            }
            if is_yaml_style_float(&plain)
                && let Some(f) = parse_go_float(&plain)
            {
                return Value::Float(f);
            }
            Value::Str(text)
        }
        _ => Value::Str(text),
    }
}

/// YAML 1.1's booleans (`y`, `yes`, `on` … and their `n`/`no`/`off` opposites), which yaml.v3
/// takes for typed bool fields and yaml.v2 and other YAML 1.1 readers take everywhere.
pub fn yaml11_bool(text: &str) -> Option<bool> {
    match text {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => Some(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)`, then `ParseUint(s, 0, 64)`: a sign (only for the
/// signed parse), then `0x`, `0o`, `0b` or a leading `0` (octal), else decimal. Returns a
/// value in i64 ∪ u64 range, or `None` when the text is no such integer.
fn parse_go_int(s: &str) -> Option<i128> {
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
    let magnitude = i128::try_from(u128::from_str_radix(digits, radix).ok()?).ok()?;
    let signed = body.len() < s.len();
    let value = if neg { -magnitude } else { magnitude };
    let fits_int = (i64::MIN as i128..=i64::MAX as i128).contains(&value);
    // ParseUint takes what ParseInt cannot, but no sign.
    let fits_uint = !signed && value <= u64::MAX as i128;
    (fits_int || fits_uint).then_some(value)
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

/// Go's `strconv.ParseFloat(s, 64)` for what reaches it here: the decimal forms of
/// [`is_yaml_style_float`] (Rust's parser agrees with Go's on them; `inf`/`nan` words and hex
/// floats never get here, `.inf` and friends are matched before).
fn parse_go_float(s: &str) -> Option<f64> {
    if !is_yaml_style_float(s) {
        return None;
    }
    s.parse().ok()
}

/// yaml's timestamp check: `YYYY-M-D` optionally followed by `[Tt ]h:m:s[.frac][Z|±hh:mm]`
/// (the `T`/`t` forms need a zone, the space form has none).
fn is_timestamp(s: &str) -> bool {
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

/// Parse the one document of `text` into its node tree (see the module notes). An empty
/// stream gives `None`; a second document is an error.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    build(text, false)
}

/// Parse the first document of `text` as `yaml.Unmarshal` into a generic value sees it
/// (see the module notes). An empty document is a null scalar.
pub fn parse_value(text: &str) -> Result<Node, YamlError> {
    let root = build(text, true)?.unwrap_or(Node {
        line: 1,
        col: 0,
        kind: NodeKind::Scalar(Scalar {
            text: String::new(),
            style: Style::Plain,
            tag: None,
        }),
    });
    unmarshal(root)
}

fn error_at(node: &Node, message: impl Into<String>) -> YamlError {
    YamlError {
        line: node.line,
        col: node.col,
        message: message.into(),
    }
}

fn build(text: &str, first_only: bool) -> Result<Option<Node>, YamlError> {
    if text.len() > MAX_TEXT {
        return Err(YamlError {
            line: 1,
            col: 0,
            message: format!("the document is larger than {MAX_TEXT} bytes"),
        });
    }
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
            Event::DocumentEnd if first_only => break,
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
            other => builder.event(other, span)?,
        }
    }
    Ok(builder.root)
}

/// Assembles nodes from parser events, within the budgets.
#[derive(Default)]
struct Builder {
    /// Open collections: the node under construction, its anchor, and for mappings a pending key.
    stack: Vec<(Node, usize, Option<Node>)>,
    /// Anchored nodes with their sizes in nodes.
    anchors: HashMap<usize, (Node, usize)>,
    root: Option<Node>,
    /// Nodes made so far, alias copies included.
    nodes: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<(), YamlError> {
        let (line, col) = (span.start.line(), span.start.col());
        let at = |kind| Node { line, col, kind };
        let starts_node = matches!(
            event,
            Event::Scalar(..)
                | Event::SequenceStart(..)
                | Event::MappingStart(..)
                | Event::Alias(_)
        );
        if starts_node && self.stack.len() > MAX_DEPTH {
            return Err(YamlError {
                line,
                col,
                message: format!("nesting deeper than {MAX_DEPTH} levels"),
            });
        }
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let style = match style {
                    ScalarStyle::Plain => Style::Plain,
                    ScalarStyle::SingleQuoted | ScalarStyle::DoubleQuoted => Style::Quoted,
                    ScalarStyle::Literal | ScalarStyle::Folded => Style::Block,
                };
                let tag = tag.map(|t| short_tag(&t.handle, &t.suffix));
                self.count(1, line, col)?;
                let node = at(NodeKind::Scalar(Scalar {
                    text: text.into_owned(),
                    style,
                    tag,
                }));
                self.complete(node, anchor)
            }
            Event::SequenceStart(anchor, _) => {
                self.count(1, line, col)?;
                self.stack
                    .push((at(NodeKind::Seq(Vec::new())), anchor, None));
                Ok(())
            }
            Event::MappingStart(anchor, _) => {
                self.count(1, line, col)?;
                self.stack
                    .push((at(NodeKind::Map(Vec::new())), anchor, None));
                Ok(())
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let (node, anchor, _) = self.stack.pop().expect("parser balances collections");
                self.complete(node, anchor)
            }
            Event::Alias(id) => {
                let size = self
                    .anchors
                    .get(&id)
                    .map(|(_, size)| *size)
                    .ok_or_else(|| YamlError {
                        line,
                        col,
                        message: "alias to an unknown anchor".into(),
                    })?;
                // The budget is checked before the copy is made.
                self.count(size, line, col)?;
                let kind = self.anchors[&id].0.kind.clone();
                self.complete(at(kind), 0)
            }
            _ => Ok(()),
        }
    }

    fn count(&mut self, n: usize, line: usize, col: usize) -> Result<(), YamlError> {
        self.nodes += n;
        if self.nodes > MAX_NODES {
            return Err(YamlError {
                line,
                col,
                message: format!(
                    "the document expands to more than {MAX_NODES} nodes (alias bomb?)"
                ),
            });
        }
        Ok(())
    }

    fn complete(&mut self, node: Node, anchor: usize) -> Result<(), YamlError> {
        if anchor != 0 {
            self.anchors
                .insert(anchor, (node.clone(), size_of_tree(&node)));
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

fn size_of_tree(n: &Node) -> usize {
    match &n.kind {
        NodeKind::Scalar(_) => 1,
        NodeKind::Seq(items) => 1 + items.iter().map(size_of_tree).sum::<usize>(),
        NodeKind::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| size_of_tree(k) + size_of_tree(v))
                .sum::<usize>()
        }
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

/// yaml.v3's decoding into a generic value, on a node tree: tags checked, merge keys applied,
/// duplicate keys refused (children first, so merged mappings are complete).
fn unmarshal(node: Node) -> Result<Node, YamlError> {
    let Node { line, col, kind } = node;
    let kind = match kind {
        NodeKind::Scalar(s) => {
            check_tag(&s, line, col)?;
            NodeKind::Scalar(s)
        }
        NodeKind::Seq(items) => {
            NodeKind::Seq(items.into_iter().map(unmarshal).collect::<Result<_, _>>()?)
        }
        NodeKind::Map(entries) => {
            let mut pairs: Vec<(Node, Node)> = Vec::with_capacity(entries.len());
            let mut merged: Vec<(Node, Node)> = Vec::new();
            for (key, value) in entries {
                let is_merge = key
                    .as_scalar()
                    .is_some_and(|s| s.text == "<<" && s.style == Style::Plain && s.tag.is_none());
                let key = unmarshal(key)?;
                let value = unmarshal(value)?;
                if is_merge {
                    merge_into(&mut merged, value)?;
                    continue;
                }
                if let Some((prev, _)) = pairs.iter().find(|(k, _)| k.value().same(&key.value())) {
                    return Err(error_at(
                        &key,
                        format!(
                            "mapping key {} already defined at line {}",
                            key.value().describe(),
                            prev.line
                        ),
                    ));
                }
                pairs.push((key, value));
            }
            for (k, v) in merged {
                if !pairs.iter().any(|(pk, _)| pk.value().same(&k.value())) {
                    pairs.push((k, v));
                }
            }
            NodeKind::Map(pairs)
        }
    };
    Ok(Node { line, col, kind })
}

fn check_tag(s: &Scalar, line: usize, col: usize) -> Result<(), YamlError> {
    let bad = |message: String| YamlError { line, col, message };
    let want = |what: &str| bad(format!("cannot decode {:?} as {what}", s.text));
    match (s.tag.as_deref(), resolve_plain(&s.text)) {
        (None | Some("!" | "!!str" | "!!null"), _) => Ok(()),
        (Some("!!bool"), Value::Bool(_)) | (Some("!!int"), Value::Int(_)) => Ok(()),
        (Some("!!float"), Value::Int(_) | Value::Float(_)) => Ok(()),
        (Some("!!bool"), _) => Err(want("a boolean")),
        (Some("!!int"), _) => Err(want("an integer")),
        (Some("!!float"), _) => Err(want("a float")),
        (Some(other), _) => Err(bad(format!(
            "unsupported YAML tag {other} (only the core !!str, !!int, !!bool, !!float, !!null \
             tags are understood)"
        ))),
    }
}

fn merge_into(merged: &mut Vec<(Node, Node)>, value: Node) -> Result<(), YamlError> {
    let not_a_map = |n: &Node| error_at(n, "map merge requires a map or a sequence of maps");
    match value.kind {
        NodeKind::Map(pairs) => {
            for (k, v) in pairs {
                if !merged.iter().any(|(mk, _)| mk.value().same(&k.value())) {
                    merged.push((k, v));
                }
            }
            Ok(())
        }
        NodeKind::Seq(items) => {
            for item in items {
                if !matches!(item.kind, NodeKind::Map(_)) {
                    return Err(not_a_map(&item));
                }
                merge_into(merged, item)?;
            }
            Ok(())
        }
        NodeKind::Scalar(_) => Err(not_a_map(&value)),
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

/// A bool field with yaml.v3's YAML 1.1 leniency for typed bools ([`yaml11_bool`]), quoted or
/// not. Null is `None`.
pub fn decode_bool(node: &Node, field: &str) -> Result<Option<bool>, DecodeError> {
    let Some(scalar) = node.as_scalar() else {
        return Err(DecodeError::at(
            node,
            format!("`{field}` must be a boolean, found a {}", node.kind_name()),
        ));
    };
    match scalar.resolve() {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::Str(s) if yaml11_bool(s).is_some() => Ok(yaml11_bool(s)),
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
        Value::Null => Ok(None),
        Value::Int(i) => i64::try_from(i).map(Some).map_err(|_| bad()),
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
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

    fn scalar(text: &str) -> Value<'_> {
        resolve_plain(text)
    }

    #[test]
    fn resolves_like_yaml_v3() {
        assert_eq!(scalar("yes"), Value::Str("yes"));
        assert_eq!(scalar("True"), Value::Bool(true));
        assert_eq!(scalar("~"), Value::Null);
        assert_eq!(scalar("0755"), Value::Int(0o755));
        assert_eq!(scalar("0o17"), Value::Int(15));
        assert_eq!(scalar("0x1F"), Value::Int(31));
        assert_eq!(scalar("-0b101"), Value::Int(-5));
        assert_eq!(scalar("1_000"), Value::Int(1000));
        assert_eq!(scalar("-999"), Value::Int(-999));
        assert_eq!(scalar("1.5"), Value::Float(1.5));
        assert_eq!(scalar(".5"), Value::Float(0.5));
        assert_eq!(scalar("1e3"), Value::Float(1000.0));
        assert_eq!(scalar("089"), Value::Float(89.0));
        assert_eq!(scalar("08"), Value::Float(8.0));
        assert_eq!(scalar("v1.3.0"), Value::Str("v1.3.0"));
        assert_eq!(scalar("1.2.3"), Value::Str("1.2.3"));
        assert_eq!(scalar("-"), Value::Str("-"));
        assert_eq!(scalar("2017-04-18"), Value::Timestamp("2017-04-18"));
        assert_eq!(scalar("18446744073709551615"), Value::Int(u64::MAX as i128));
        // ParseUint takes no sign; past u64 nothing is an integer.
        assert_eq!(
            scalar("+18446744073709551615"),
            Value::Float(18446744073709551615.0)
        );
        assert_eq!(
            scalar("0x80000000000000000000000000000000"),
            Value::Str("0x80000000000000000000000000000000")
        );
    }

    #[test]
    fn core_tags_decide_the_type() {
        let root = parse("[!!str 1, !!float 2, !!int '3', !foo 4, ! 5]")
            .unwrap()
            .unwrap();
        let NodeKind::Seq(items) = &root.kind else {
            panic!("sequence expected")
        };
        let values: Vec<Value> = items.iter().map(Node::value).collect();
        assert_eq!(
            values,
            [
                Value::Str("1"),
                Value::Float(2.0),
                Value::Int(3),
                Value::Str("4"),
                Value::Str("5")
            ]
        );
        assert!(parse_value("a: !!str 1\nb: !!float 2\n").is_ok());
        let e = parse_value("a: !!int x\n").unwrap_err();
        assert!(e.message.contains("as an integer"), "{e}");
        let e = parse_value("a: !foo x\n").unwrap_err();
        assert!(e.message.contains("unsupported YAML tag !foo"), "{e}");
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
        assert_eq!(items[0].value(), Value::Str("10"));
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

    #[test]
    fn values_take_the_first_document_and_refuse_duplicate_keys() {
        let v = parse_value("a: 1\n---\nb: [\n").unwrap();
        assert!(matches!(v.value(), Value::Map(m) if m.len() == 1));
        assert!(parse_value("").unwrap().is_null());
        let e = parse_value("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.message.contains("already defined at line 1"), "{e}");
        // The tree keeps them: readers decide.
        assert!(parse("a: 1\na: 2\n").is_ok());
    }

    #[test]
    fn values_apply_merge_keys() {
        let n = parse_value("base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\n").unwrap();
        let Value::Map(p) = n.value() else { panic!() };
        let Value::Map(m) = p[1].1.value() else {
            panic!()
        };
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].1.value(), Value::Int(3));
        assert_eq!(m[1].1.value(), Value::Int(1));
        assert!(parse_value("m:\n  <<: 1\n").is_err());
    }

    #[test]
    fn budgets_stop_bombs() {
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
        // Stopped by our depth cap, or for flow collections already by the parser's own.
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        assert!(parse(&deep).is_err());
        let block = |depth: usize| -> String {
            (0..depth)
                .map(|d| format!("{}- \n", "  ".repeat(d)))
                .collect()
        };
        let e = parse(&block(MAX_DEPTH + 2)).unwrap_err();
        assert!(e.message.contains("nesting deeper"), "{e}");
        assert!(parse(&block(MAX_DEPTH)).is_ok());
        let big = "#".repeat(MAX_TEXT + 1);
        assert!(parse_value(&big).is_err());
    }
}
