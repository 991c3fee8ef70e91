//! JSON text exactly as Go's `encoding/json` `MarshalIndent` and `Marshal` write it.
//!
//! linuxkit writes config.json, runtime.json and the `metadata: json` dump with
//! `json.MarshalIndent(v, "", "    ")`, and an image's `org.mobyproject.config` label with
//! `json.Marshal`. The byte-level rules that differ from serde_json: `<`,
//! `>` and `&` are escaped as `\u003c`/`\u003e`/`\u0026` (HTML-safe), as are U+2028 and U+2029;
//! `\b` `\f` `\n` `\r` `\t` have short escapes and other control bytes become `\u00XX`; empty
//! arrays and objects print as `[]`/`{}`; keys stay in the order the Go struct declares them
//! (callers build [`Json::Obj`] in that order; Go maps are sorted, so callers sort those).
//! Field omission (`omitempty`) is the caller's choice when building the value.

/// A JSON value with ordered object keys.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true`/`false`.
    Bool(bool),
    /// A signed integer.
    Int(i64),
    /// An unsigned integer.
    UInt(u64),
    /// A number written as given (a YAML float carried over as written).
    Number(String),
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in output order.
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// A string value.
    pub fn str(s: impl Into<String>) -> Json {
        Json::Str(s.into())
    }

    /// An array of strings.
    pub fn strs<S: AsRef<str>>(items: &[S]) -> Json {
        Json::Arr(items.iter().map(|s| Json::str(s.as_ref())).collect())
    }

    /// `Marshal(v)`: no whitespace at all.
    pub fn to_go_compact(&self) -> String {
        let mut out = String::new();
        self.write(&mut out, 0, None);
        out
    }

    /// `MarshalIndent(v, "", "    ")`.
    pub fn to_go_indent(&self) -> String {
        self.to_go_indent_with("    ")
    }

    /// `MarshalIndent(v, "", indent)`.
    pub fn to_go_indent_with(&self, indent: &str) -> String {
        let mut out = String::new();
        self.write(&mut out, 0, Some(indent));
        out
    }

    /// Writes the value at nesting `depth`, each element on its own line indented by `indent`
    /// per level, or all on one line without spaces when `indent` is `None`.
    fn write(&self, out: &mut String, depth: usize, indent: Option<&str>) {
        let nl = |out: &mut String, d: usize| {
            if let Some(indent) = indent {
                out.push('\n');
                for _ in 0..d {
                    out.push_str(indent);
                }
            }
        };
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => out.push_str(&i.to_string()),
            Json::UInt(u) => out.push_str(&u.to_string()),
            Json::Number(n) => out.push_str(n),
            Json::Str(s) => write_string(out, s),
            Json::Arr(items) if items.is_empty() => out.push_str("[]"),
            Json::Obj(fields) if fields.is_empty() => out.push_str("{}"),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    nl(out, depth + 1);
                    item.write(out, depth + 1, indent);
                }
                nl(out, depth);
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    nl(out, depth + 1);
                    write_string(out, k);
                    out.push_str(if indent.is_some() { ": " } else { ":" });
                    v.write(out, depth + 1, indent);
                }
                nl(out, depth);
                out.push('}');
            }
        }
    }
}

/// Go's `encodeState.string` with `escapeHTML` on.
fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An object builder that applies Go's `omitempty` rules field by field.
#[derive(Debug, Default)]
pub struct ObjBuilder(Vec<(String, Json)>);

impl ObjBuilder {
    /// An empty object.
    pub fn new() -> Self {
        Self::default()
    }

    /// Always writes the field.
    pub fn field(mut self, key: &str, v: Json) -> Self {
        self.0.push((key.to_string(), v));
        self
    }

    /// Writes the field unless it is Go's empty value (`false`, 0, `""`, null, empty array
    /// or object).
    pub fn omitempty(self, key: &str, v: Json) -> Self {
        let empty = match &v {
            Json::Null => true,
            Json::Bool(b) => !b,
            Json::Int(i) => *i == 0,
            Json::UInt(u) => *u == 0,
            Json::Number(n) => n.parse::<f64>().is_ok_and(|f| f == 0.0),
            Json::Str(s) => s.is_empty(),
            Json::Arr(a) => a.is_empty(),
            Json::Obj(o) => o.is_empty(),
        };
        if empty { self } else { self.field(key, v) }
    }

    /// Writes the field when it is present (a Go pointer that is not nil).
    pub fn some(self, key: &str, v: Option<Json>) -> Self {
        match v {
            Some(v) => self.field(key, v),
            None => self,
        }
    }

    /// The object.
    pub fn build(self) -> Json {
        Json::Obj(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go_marshal_indent() {
        let v = ObjBuilder::new()
            .field("a", Json::str("<x> & \u{2028} \t\u{1}"))
            .field("b", Json::Arr(vec![]))
            .field("c", Json::Obj(vec![]))
            .field("d", Json::Arr(vec![Json::Int(-1), Json::UInt(u64::MAX)]))
            .omitempty("e", Json::str(""))
            .build();
        assert_eq!(
            v.to_go_indent(),
            "{\n    \"a\": \"\\u003cx\\u003e \\u0026 \\u2028 \\t\\u0001\",\n    \"b\": [],\n    \"c\": {},\n    \"d\": [\n        -1,\n        18446744073709551615\n    ]\n}"
        );
    }

    #[test]
    fn matches_go_marshal() {
        let v = ObjBuilder::new()
            .field("a", Json::str("\u{8}\u{c}<"))
            .field(
                "b",
                Json::Arr(vec![Json::Number("1.5".into()), Json::Obj(vec![])]),
            )
            .build();
        assert_eq!(v.to_go_compact(), r#"{"a":"\b\f\u003c","b":[1.5,{}]}"#);
    }
}
