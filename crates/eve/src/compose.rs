//! Image yml composition: what EVE's `tools/compose-image-yml.sh` and the Makefile's modifier
//! discovery make of `images/rootfs.yml.in` / `images/installer.yml.in`
//! (eve-build-facts §3.3, §3.4, §4.1). The result is the text of
//! `images/out/<kind>-<hv>-<platform>.yml.in`, still holding the `*_TAG` placeholders.
//!
//! Steps, in EVE's order:
//! 1. modifiers: `images/modifiers/hv/<HV>.yq`, then (if `images/modifiers/platform/<P>/`
//!    exists) `installer.yq` for the installer and `<P>.yq`, each applied if it is a file
//!    (symlinked modifiers are followed, also when the link was checked out as a plain file
//!    holding its target);
//! 2. the `/etc/eve-hv-type` and `/etc/eve-platform` patches (`contents == "EVE_HV"` /
//!    `"EVE_PLATFORM"` become the HV / platform);
//! 3. the pillar variant: `image == "PILLAR_TAG"` in onboot, then in services, becomes the
//!    placeholder [`pillar_placeholder`] picks from the version argument.
//!
//! The modifiers are yq v4 (mikefarah yq 4.40.5) programs; we run them with jaq (jq
//! semantics). The one difference that matters for EVE's modifiers is iteration: yq yields
//! nothing when `[]` iterates a missing key (`.services[]` on the installer), jq raises an
//! error. [`yq_to_jq`] bridges it by rewriting, at the token level, every iteration `[]`
//! written after a path or term into `[]?` (an empty array literal `[]` is left alone). So
//! iterating null — and also a string or number, where yq's behaviour is not relied upon by
//! any modifier — yields nothing. Everything else the modifiers use (`+=`, `|=`, `del`,
//! `select`, `test`, `limit`, `to_entries`, `as $x`, slices, object literals with bare keys)
//! means the same in both languages. A modifier must produce exactly one document; yq would
//! silently write an empty or multi-document file, we stop with an error naming it.
//!
//! YAML is read with [`evebuild_linuxkit::yaml`] (yaml.v3 scalar resolution, as yq) and
//! written by [`to_yaml`]: block style, strings plain when that reads back as the same
//! string under YAML 1.1 and 1.2, otherwise double-quoted, multi-line strings as literal
//! blocks. Comments and the source's quoting are not kept (yq keeps them); the result is
//! equal as data, which is what linuxkit reads.

use evebuild_linuxkit::yaml::{self, Node, NodeKind, Value, YamlError, resolve_plain, yaml11_bool};
use jaq_core::load::lex::{Lexer, StrPart, Tok, Token};
use jaq_core::load::{Arena, File, Loader, span};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::{Map, Num, Val};
use std::path::{Path, PathBuf};

/// Which image yml is composed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    /// `images/rootfs.yml.in`.
    Rootfs,
    /// `images/installer.yml.in`.
    Installer,
}

impl ImageKind {
    /// `rootfs` or `installer`.
    pub fn name(self) -> &'static str {
        match self {
            ImageKind::Rootfs => "rootfs",
            ImageKind::Installer => "installer",
        }
    }

    /// The template under `images/`.
    pub fn template(self) -> String {
        format!("{}.yml.in", self.name())
    }

    /// `images/out/<kind>-<hv>-<platform>.yml.in` relative to the source root.
    pub fn out_path(self, hv: &str, platform: &str) -> PathBuf {
        PathBuf::from(format!("images/out/{}-{hv}-{platform}.yml.in", self.name()))
    }
}

/// A composition failure, naming the file or modifier.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// A template or modifier could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The YAML is malformed.
    #[error("{path}: {source}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: YamlError,
    },
    /// The yq program does not parse or compile.
    #[error("{origin}: invalid yq expression: {message}")]
    Program {
        /// The modifier file or patch.
        origin: String,
        /// jaq's diagnostics.
        message: String,
    },
    /// The yq program failed on the document.
    #[error("{origin}: {message}")]
    Run {
        /// The modifier file or patch.
        origin: String,
        /// The error value.
        message: String,
    },
    /// The yq program produced no document or several.
    #[error("{origin}: produced {count} documents, expected exactly one")]
    Documents {
        /// The modifier file or patch.
        origin: String,
        /// How many.
        count: usize,
    },
}

/// The result of composing one image yml.
#[derive(Debug, Clone, PartialEq)]
pub struct Composed {
    /// The document as YAML text (`*.yml.in`).
    pub yaml: String,
    /// The document as data.
    pub doc: Val,
    /// The modifiers applied, in order.
    pub modifiers: Vec<PathBuf>,
    /// The placeholder pillar's `PILLAR_TAG` became.
    pub pillar_placeholder: &'static str,
}

/// The Makefile's `find-modifiers-rootfs` / `find-modifiers-installer` under `images_dir`.
pub fn find_modifiers(
    images_dir: &Path,
    kind: ImageKind,
    hv: &str,
    platform: &str,
) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let hv_mod = images_dir.join(format!("modifiers/hv/{hv}.yq"));
    if hv_mod.exists() {
        found.push(hv_mod);
    }
    let dir = images_dir.join(format!("modifiers/platform/{platform}"));
    if dir.is_dir() {
        let installer = dir.join("installer.yq");
        if kind == ImageKind::Installer && installer.exists() {
            found.push(installer);
        }
        let own = dir.join(format!("{platform}.yq"));
        if own.exists() {
            found.push(own);
        }
    }
    found
}

/// compose-image-yml.sh's flag parsing of the version argument: keep what follows the last
/// run of 8 hex digits (the whole string if there is none), drop `-dirty` plus 18 characters
/// of `[0-9.-]`, split on `-`, and look for the words `dev` and `k`.
pub fn pillar_placeholder(version_arg: &str) -> &'static str {
    let b = version_arg.as_bytes();
    let last_hex_run = (0..b.len().saturating_sub(7))
        .rev()
        .find(|&i| b[i..i + 8].iter().all(u8::is_ascii_hexdigit));
    let flags = match last_hex_run {
        Some(i) => &version_arg[i + 8..],
        None => version_arg,
    };
    let flags = remove_dirty_suffix(flags);
    let bits: Vec<&str> = flags.split('-').collect();
    let (dev, k) = (bits.contains(&"dev"), bits.contains(&"k"));
    match (dev, k) {
        (true, true) => "PILLAR_K_DEV_TAG",
        (true, false) => "PILLAR_DEV_TAG",
        (false, true) => "PILLAR_K_TAG",
        (false, false) => "PILLAR_TAG",
    }
}

/// `sed -r 's/-dirty[0-9.\-]{18}//g'`.
fn remove_dirty_suffix(s: &str) -> String {
    const MARK: &str = "-dirty";
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(MARK) {
        let tail = &rest[i + MARK.len()..];
        let suffix_ok = tail.len() >= 18
            && tail.as_bytes()[..18]
                .iter()
                .all(|c| c.is_ascii_digit() || *c == b'.' || *c == b'-');
        if suffix_ok {
            out.push_str(&rest[..i]);
            rest = &tail[18..];
        } else {
            out.push_str(&rest[..i + 1]);
            rest = &rest[i + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Compose `<images_dir>/<kind>.yml.in` for `hv`/`platform` with the version argument the
/// Makefile passes (`<ROOTFS_VERSION>-<HV>-<PLATFORM>-<ZARCH>`).
pub fn compose(
    images_dir: &Path,
    kind: ImageKind,
    hv: &str,
    platform: &str,
    version_arg: &str,
) -> Result<Composed, ComposeError> {
    let template = images_dir.join(kind.template());
    let mut doc = read_yaml_file(&template)?;
    let modifiers = find_modifiers(images_dir, kind, hv, platform);
    for m in &modifiers {
        let program = read_modifier(m)?;
        doc = apply_yq(&program, doc, &m.display().to_string(), None)?;
    }
    let patch_contents = |doc: Val, token: &str, value: &str| {
        let program = format!("(.files[] | select(.contents == \"{token}\")).contents |= $value");
        apply_yq(&program, doc, &format!("{token} patch"), Some(value))
    };
    doc = patch_contents(doc, "EVE_HV", hv)?;
    doc = patch_contents(doc, "EVE_PLATFORM", platform)?;
    let pillar = pillar_placeholder(version_arg);
    for section in ["onboot", "services"] {
        let program = format!("(.{section}[] | select(.image == \"PILLAR_TAG\").image) |= $value");
        doc = apply_yq(&program, doc, "pillar variant patch", Some(pillar))?;
    }
    Ok(Composed {
        yaml: to_yaml(&doc),
        doc,
        modifiers,
        pillar_placeholder: pillar,
    })
}

/// Read a modifier, following symbolic links — including a link checked out as a plain file
/// that holds its target path (git's form of a symlink where `core.symlinks` is false), as
/// EVE's nvidia-jp5 modifier is in some checkouts and copies.
fn read_modifier(path: &Path) -> Result<String, ComposeError> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| ComposeError::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    let text = read(path)?;
    let target = text.trim_end_matches('\n');
    let looks_like_link = target.ends_with(".yq")
        && !target.contains(char::is_whitespace)
        && !target.contains(['|', '(', '=', '"']);
    if looks_like_link {
        let linked = path.parent().unwrap_or(Path::new(".")).join(target);
        if linked.is_file() {
            return read(&linked);
        }
    }
    Ok(text)
}

fn read_yaml_file(path: &Path) -> Result<Val, ComposeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ComposeError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_yaml(&text).map_err(|source| ComposeError::Yaml {
        path: path.to_path_buf(),
        source,
    })
}

/// Parse YAML text into a jaq value (an empty document is null).
pub fn parse_yaml(text: &str) -> Result<Val, YamlError> {
    Ok(yaml::parse(text)?.map_or(Val::Null, |n| node_to_val(&n)))
}

/// A YAML node as a jaq value, scalars resolved as yaml.v3 resolves them.
pub fn node_to_val(node: &Node) -> Val {
    match &node.kind {
        NodeKind::Scalar(s) => match s.resolve() {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::from(b),
            Value::Int(i) => match isize::try_from(i) {
                Ok(i) => Val::from(i),
                Err(_) => Val::Num(Num::Dec(jaq_json::Rc::new(i.to_string()))),
            },
            Value::Float(f) if f.is_finite() && s.tag.is_none() => {
                Val::Num(Num::Dec(jaq_json::Rc::new(s.text.clone())))
            }
            Value::Float(f) => Val::from(f),
            // yq keeps a timestamp as its text.
            Value::Str(t) | Value::Timestamp(t) => Val::from(t.to_string()),
            Value::Seq(_) | Value::Map(_) => unreachable!("a scalar resolves to a scalar"),
        },
        NodeKind::Seq(items) => {
            Val::Arr(jaq_json::Rc::new(items.iter().map(node_to_val).collect()))
        }
        NodeKind::Map(entries) => {
            let mut m = Map::default();
            for (k, v) in entries {
                let key = k
                    .as_scalar()
                    .map_or_else(|| node_to_val(k), |s| Val::from(s.text.clone()));
                m.insert(key, node_to_val(v));
            }
            Val::obj(m)
        }
    }
}

/// Definitions put in front of every program so that deletion and update follow jq's (and
/// yq's) path semantics: `del(f)` deletes the paths of `f` from the last to the first, and
/// `__yq_update(f; g)` is `f |= g` computed over `path(f)` (jaq's native update would
/// write `null` back into a missing key when `f` selects nothing), and `setpath` creates
/// missing objects and arrays on the way as jq's does.
const PRELUDE: &str = "def delpaths($ps): reduce ($ps | unique | reverse)[] as $p (.; getpath($p) |= empty); \
def del(f): delpaths([path(f)]); \
def setpath($p; $v): if $p == [] then $v else $p[0] as $k \
  | (if . == null then (if ($k | type) == \"number\" then [] else {} end) else . end) as $c \
  | $c | .[$k] = ($c[$k] | setpath($p[1:]; $v)) end; \
def __yq_update(f; g): reduce path(f) as $p (.; [getpath($p) | g] as $v \
  | if $v == [] then delpaths([$p]) else setpath($p; $v[0]) end); ";

/// Rewrite a yq v4 program for jaq (see the module notes):
/// - every iteration `[]` that follows a path or term and is not already optional becomes
///   `[]?`, so that iterating a missing key yields nothing;
/// - every update `LHS |= RHS` becomes `__yq_update(LHS; RHS)` (path-based, as jq and yq).
///
/// The operands of `|=` are found at the token level with jq's precedence: they extend to the
/// nearest `|`, `,`, `//`, `;`, `:`, another assignment or a keyword in the same bracket.
pub fn yq_to_jq(program: &str) -> Result<String, String> {
    let tokens = Lexer::new(program)
        .lex()
        .map_err(|errs| format!("cannot tokenise: {errs:?}"))?;
    let mut edits = Vec::new();
    collect_edits(program, &tokens, &mut edits);
    // Stable sort: edits at the same offset keep the order they were made in.
    edits.sort_by_key(|e| (e.0, e.1));
    let mut out = String::with_capacity(program.len() + 16 * edits.len());
    let mut last = 0;
    for (start, end, text) in edits {
        out.push_str(&program[last..start]);
        out.push_str(&text);
        last = end;
    }
    out.push_str(&program[last..]);
    Ok(out)
}

/// An edit: replace `program[start..end]` by the text.
type Edit = (usize, usize, String);

const KEYWORDS: &[&str] = &[
    "def", "if", "then", "elif", "else", "end", "as", "reduce", "foreach", "try", "catch", "label",
    "import", "include", "and", "or",
];

/// Operators that end the operand of an update.
const BOUNDARIES: &[&str] = &[
    "|", ",", "//", ";", ":", "=", "|=", "+=", "-=", "*=", "/=", "%=", "//=",
];

fn collect_edits(program: &str, tokens: &[Token<&str>], edits: &mut Vec<Edit>) {
    let is_boundary = |t: &Token<&str>| match t {
        Token(s, Tok::Sym) => BOUNDARIES.contains(s),
        Token(s, Tok::Word) => KEYWORDS.contains(s) && !matches!(*s, "and" | "or"),
        _ => false,
    };
    for (i, token) in tokens.iter().enumerate() {
        let Token(s, tok) = token;
        match tok {
            Tok::Block(inner) => {
                let empty_brackets = s.starts_with('[') && inner.len() == 1;
                let after_term = i > 0 && follows_term(&tokens[i - 1]);
                let optional = matches!(tokens.get(i + 1), Some(Token("?", Tok::Sym)));
                if empty_brackets && after_term && !optional {
                    let end = span(program, s).end;
                    edits.push((end, end, "?".into()));
                }
                collect_edits(program, inner, edits);
            }
            Tok::Str(parts) => {
                for part in parts {
                    if let StrPart::Term(t) = part {
                        collect_edits(program, std::slice::from_ref(t), edits);
                    }
                }
            }
            Tok::Sym if *s == "|=" => {
                let lhs_start = tokens[..i]
                    .iter()
                    .rposition(is_boundary)
                    .map_or(0, |b| b + 1);
                let rhs_end = tokens[i + 1..]
                    .iter()
                    .position(is_boundary)
                    .map_or(tokens.len(), |b| i + 1 + b);
                if lhs_start == i || rhs_end == i + 1 {
                    continue; // malformed; let the parser report it
                }
                let lhs_at = span(program, tokens[lhs_start].0).start;
                let op = span(program, s);
                let rhs_end_at = span(program, tokens[rhs_end - 1].0).end;
                edits.push((lhs_at, lhs_at, "__yq_update(".into()));
                edits.push((op.start, op.end, ";".into()));
                edits.push((rhs_end_at, rhs_end_at, ")".into()));
            }
            _ => {}
        }
    }
}

/// Can a path suffix (`[…]`) follow this token?
fn follows_term(Token(s, tok): &Token<&str>) -> bool {
    match tok {
        Tok::Sym => s.starts_with('.') || *s == "?" || *s == ")" || *s == "]" || *s == "}",
        Tok::Word => !KEYWORDS.contains(s) || *s == "end",
        Tok::Var | Tok::Str(_) | Tok::Block(_) => true,
        Tok::Num | Tok::Fmt => false,
    }
}

/// Run a yq program (after [`yq_to_jq`]) on `doc`; `$value` is bound to `value` if given.
/// `origin` names the program in errors.
pub fn apply_yq(
    program: &str,
    doc: Val,
    origin: &str,
    value: Option<&str>,
) -> Result<Val, ComposeError> {
    let program_error = |message: String| ComposeError::Program {
        origin: origin.to_string(),
        message,
    };
    let code = format!("{PRELUDE}{}", yq_to_jq(program).map_err(program_error)?);
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let arena = Arena::default();
    let modules = Loader::new(defs)
        .load(
            &arena,
            File {
                code: &code,
                path: (),
            },
        )
        .map_err(|e| program_error(format!("{e:?}")))?;
    let globals: Vec<&str> = value.iter().map(|_| "$value").collect();
    let filter = Compiler::default()
        .with_funs(funs)
        .with_global_vars(globals)
        .compile(modules)
        .map_err(|e| program_error(format!("{e:?}")))?;
    let vars: Vec<Val> = value.iter().map(|v| Val::from(v.to_string())).collect();
    let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new(vars));
    let outputs = filter
        .id
        .run((ctx, doc))
        .map(unwrap_valr)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ComposeError::Run {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
    match <[Val; 1]>::try_from(outputs) {
        Ok([one]) => Ok(one),
        Err(outputs) => Err(ComposeError::Documents {
            origin: origin.to_string(),
            count: outputs.len(),
        }),
    }
}

/// Write a value as a block-style YAML document (ends with a newline).
pub fn to_yaml(doc: &Val) -> String {
    let mut out = String::new();
    match doc {
        Val::Obj(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Val::Arr(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        scalar => {
            out.push_str(&scalar_text(scalar, 0));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, m: &Map, level: usize) {
    for (k, v) in m.iter() {
        indent(out, level);
        let key = match k {
            Val::TStr(_) | Val::BStr(_) => string_text(&val_str(k), level, true),
            other => scalar_text(other, level),
        };
        out.push_str(&key);
        out.push(':');
        write_value_after_key(out, v, level);
    }
}

fn write_value_after_key(out: &mut String, v: &Val, level: usize) {
    match v {
        Val::Obj(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, level + 2);
        }
        Val::Arr(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, level + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&scalar_text(scalar, level + 2));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, items: &[Val], level: usize) {
    for item in items {
        indent(out, level);
        out.push('-');
        match item {
            Val::Obj(m) if !m.is_empty() => {
                // The first key goes on the dash line, the rest aligned under it.
                let mut first = String::new();
                write_map(&mut first, m, level + 2);
                out.push(' ');
                out.push_str(&first[level + 2..]);
            }
            Val::Arr(a) if !a.is_empty() => {
                let mut nested = String::new();
                write_seq(&mut nested, a, level + 2);
                out.push(' ');
                out.push_str(&nested[level + 2..]);
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar, level + 2));
                out.push('\n');
            }
        }
    }
}

fn val_str(v: &Val) -> String {
    match v {
        Val::TStr(b) | Val::BStr(b) => String::from_utf8_lossy(b).into_owned(),
        other => other.to_string(),
    }
}

/// A scalar (or empty collection) as YAML text; `level` is the indentation of block content.
fn scalar_text(v: &Val, level: usize) -> String {
    match v {
        Val::Null => "null".into(),
        Val::Bool(b) => b.to_string(),
        Val::Num(n) => match n {
            Num::Float(f) if f.is_nan() => ".nan".into(),
            Num::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
            n => n.to_string(),
        },
        Val::TStr(_) | Val::BStr(_) => string_text(&val_str(v), level, false),
        Val::Arr(_) => "[]".into(),
        Val::Obj(_) => "{}".into(),
    }
}

/// Would `s` read back as the same string if written plain?
fn plain_ok(s: &str) -> bool {
    const INDICATORS: &str = "-?:,[]{}#&*!|>'\"%@`";
    let Some(first) = s.chars().next() else {
        return false;
    };
    // A YAML 1.1 boolean word is never written plain: some readers take it as a boolean.
    matches!(resolve_plain(s), Value::Str(_))
        && yaml11_bool(s).is_none()
        && !INDICATORS.contains(first)
        && !s.starts_with(' ')
        && !s.ends_with(' ')
        && !s.ends_with(':')
        && !s.contains(": ")
        && !s.contains(" #")
        && s.chars()
            .all(|c| c >= ' ' && c != '\u{7f}' && c != '\u{feff}')
}

fn string_text(s: &str, level: usize, is_key: bool) -> String {
    if plain_ok(s) {
        return s.to_string();
    }
    if !is_key && let Some(block) = literal_block(s, level) {
        return block;
    }
    double_quoted(s)
}

/// A literal block scalar for multi-line text, when it can represent `s` exactly.
fn literal_block(s: &str, level: usize) -> Option<String> {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let representable = s.contains('\n')
        && !body.is_empty()
        && !body.starts_with(' ')
        && !body.starts_with('\n')
        && body
            .chars()
            .all(|c| c == '\n' || c == '\t' || (c >= ' ' && c != '\u{7f}'))
        && body
            .split('\n')
            .all(|l| l.is_empty() || !l.trim().is_empty());
    if !representable {
        return None;
    }
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let mut out = format!("|{chomp}");
    for line in s.strip_suffix('\n').unwrap_or(s).split('\n') {
        out.push('\n');
        if !line.is_empty() {
            indent(&mut out, level);
            out.push_str(line);
        }
    }
    Some(out)
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' || c == '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iteration_rewrite() {
        assert_eq!(yq_to_jq(".services[]").unwrap(), ".services[]?");
        assert_eq!(yq_to_jq(".a[]?").unwrap(), ".a[]?");
        assert_eq!(yq_to_jq(".a = []").unwrap(), ".a = []");
        assert_eq!(yq_to_jq(".a += [] | .[]").unwrap(), ".a += [] | .[]?");
        assert_eq!(
            yq_to_jq("del(.init[] | select(test(\"[]\")))").unwrap(),
            "del(.init[]? | select(test(\"[]\")))"
        );
        assert_eq!(
            yq_to_jq("$x[] , (.a)[] , f[]").unwrap(),
            "$x[]? , (.a)[]? , f[]?"
        );
        assert_eq!(
            yq_to_jq("if . then [] else [] end").unwrap(),
            "if . then [] else [] end"
        );
        assert_eq!(yq_to_jq(".a[0][]").unwrap(), ".a[0][]?");
        assert_eq!(
            yq_to_jq("(.files[] | select(.c == \"X\")).c |= \"k\"").unwrap(),
            "__yq_update((.files[]? | select(.c == \"X\")).c ; \"k\")"
        );
        assert_eq!(
            yq_to_jq("limit(1; .s) as $i | .s |= .[0:$i] + [1] | .x").unwrap(),
            "limit(1; .s) as $i | __yq_update(.s ; .[0:$i] + [1]) | .x"
        );
        assert_eq!(yq_to_jq("a // b |= c").unwrap(), "a // __yq_update(b ; c)");
    }

    #[test]
    fn missing_keys_iterate_to_nothing() {
        let doc = parse_yaml("kernel: {image: x}\n").unwrap();
        let out = apply_yq(
            "del(.services[] | select(.name != \"debug\"))",
            doc.clone(),
            "t",
            None,
        )
        .unwrap();
        assert_eq!(out, doc);
        let update = "(.services[] | select(.image == \"P\").image) |= \"Q\"";
        assert_eq!(apply_yq(update, doc.clone(), "t", None).unwrap(), doc);
        assert_eq!(
            apply_yq("(.b.c[]) |= 1", doc.clone(), "t", None).unwrap(),
            doc
        );
        let out = apply_yq(".services += [{\"name\": \"kube\"}]", doc, "t", None).unwrap();
        assert_eq!(
            to_yaml(&out),
            "kernel:\n  image: x\nservices:\n  - name: kube\n"
        );
    }

    #[test]
    fn pillar_flags() {
        let cases = [
            ("0.0.0-master-2c6b4154-kvm-generic-amd64", "PILLAR_TAG"),
            (
                "0.0.0-master-2c6b4154-dev-kvm-generic-amd64",
                "PILLAR_DEV_TAG",
            ),
            ("0.0.0-master-2c6b4154-k-generic-amd64", "PILLAR_K_TAG"),
            (
                "0.0.0-master-2c6b4154-dev-k-generic-amd64",
                "PILLAR_K_DEV_TAG",
            ),
            (
                "0.0.0-master-2c6b4154-dirty-2026-11-27.11.07-dev-k-rt-amd64",
                "PILLAR_K_DEV_TAG",
            ),
            ("17.3.0-k-generic-amd64", "PILLAR_K_TAG"),
            ("17.3.0-dev-xen-generic-amd64", "PILLAR_DEV_TAG"),
            // Greedy: a later run of 8 hex digits hides the flags before it.
            ("0.0.0-master-2c6b4154-dev-kvm-deadbeef-amd64", "PILLAR_TAG"),
        ];
        for (v, want) in cases {
            assert_eq!(pillar_placeholder(v), want, "{v}");
        }
        // The 18 characters include the dash that follows the date.
        assert_eq!(remove_dirty_suffix("-dirty-2026-11-27.11.07-dev"), "dev");
        assert_eq!(remove_dirty_suffix("-dirty-short"), "-dirty-short");
    }

    #[test]
    fn yaml_round_trip_keeps_data() {
        let text = "a: \"10\"\nb: 10\nc: yes\nd: \"\"\ne: ~\nf: 1.50\ng: \"x: y\"\n\
                    h: |\n  one\n  two\ni: [\"-x\", \"@y\", \" z\", \"#\", \"a #b\", \"null\"]\nj: {}\nk: []\n\
                    l: \"tab\\there\"\nm: \"end\\n\\n\"\nn: \"\\u00e9t\u{e9}\"\n";
        let v = parse_yaml(text).unwrap();
        let written = to_yaml(&v);
        assert_eq!(parse_yaml(&written).unwrap(), v, "{written}");
        assert!(written.contains("h: |\n  one\n  two\n"), "{written}");
        assert!(written.contains("f: 1.50\n"), "{written}");
        assert!(written.contains("a: \"10\"\n"), "{written}");
    }

    #[test]
    fn deletion_and_update_follow_jq() {
        let doc = parse_yaml("l: [1, 2, 3, 4]\ns: [{n: a}, {n: b}]\n").unwrap();
        let run = |p: &str| to_yaml(&apply_yq(p, doc.clone(), "t", None).unwrap());
        assert_eq!(run("delpaths([[\"l\",0],[\"l\",1]]) | .l"), "- 3\n- 4\n");
        assert_eq!(run("del(.l[] | select(. > 1)) | .l"), "- 1\n");
        assert_eq!(
            run("(.s[] | select(.n == \"b\").n) |= \"c\" | .s[1].n"),
            "c\n"
        );
        assert_eq!(run(".x.z |= 5 | .x"), "z: 5\n");
        assert_eq!(
            run(
                "limit(1; .l | to_entries[] | select(.value == 3) | .key + 1) as $i | .l |= .[0:$i] + [9] + .[$i:] | .l"
            ),
            "- 1\n- 2\n- 3\n- 9\n- 4\n"
        );
    }

    #[test]
    fn documents_must_be_one() {
        let doc = parse_yaml("a: 1\n").unwrap();
        assert!(matches!(
            apply_yq("empty", doc.clone(), "m", None),
            Err(ComposeError::Documents { count: 0, .. })
        ));
        assert!(matches!(
            apply_yq(".a, .a", doc.clone(), "m", None),
            Err(ComposeError::Documents { count: 2, .. })
        ));
        assert!(matches!(
            apply_yq(".a |", doc, "m", None),
            Err(ComposeError::Program { .. })
        ));
    }
}
