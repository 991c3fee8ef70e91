//! The subset of GNU make that EVE's `kernel-version.mk` and `kernel-commits.mk` are written
//! in, evaluated in-process so that a source tree's own kernel table (and its own error
//! messages) decide the kernel, as `make` would.
//!
//! Supported: variable assignment with `=`, `:=`/`::=`, `?=` and `+=` (an `export` prefix is
//! ignored); command-line and environment variables with make's precedence (a command-line
//! variable beats every assignment, an environment variable only `?=`); `ifeq`/`ifneq` in both
//! the `(a,b)` and the quoted forms, `ifdef`/`ifndef`, `else`, `else if…`, `endif`, nested;
//! `include`/`-include`/`sinclude` (relative to the base directory, like make's current
//! directory); `#` comments and `\` line continuations; references `$(V)`, `${V}`, `$V`,
//! `$$`, computed names (`$(KVER_$(PLATFORM))`); the functions `filter`, `filter-out`,
//! `findstring`, `if`, `or`, `and`, `subst`, `patsubst`, `strip`, `firstword`, `word`,
//! `words`, `origin`, `error`, `warning` and `info`.
//!
//! Not supported (an error naming the line): rules and recipes, `define`, `override`,
//! `eval`/`call`/`shell`/`wildcard` and other functions. Trailing white space of values is
//! kept, as make keeps it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Where a variable's value came from (make's `$(origin)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Given as `VAR=value` on the command line.
    CommandLine,
    /// Taken from the environment.
    Environment,
    /// Assigned in a makefile.
    File,
}

impl Origin {
    fn name(self) -> &'static str {
        match self {
            Origin::CommandLine => "command line",
            Origin::Environment => "environment",
            Origin::File => "file",
        }
    }
}

#[derive(Debug, Clone)]
struct Var {
    value: String,
    recursive: bool,
    origin: Origin,
}

/// A failure while reading or evaluating a makefile.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// A makefile could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A construct outside the supported subset, or malformed.
    #[error("{path}:{line}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The makefile called `$(error …)`; `message` is its text without surrounding quotes.
    #[error("{message}")]
    Error {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// The error text.
        message: String,
    },
}

/// Where evaluation currently is (for error messages).
#[derive(Clone, Default)]
struct Location {
    path: PathBuf,
    line: usize,
}

/// A make evaluation context: variables and the base directory for includes.
pub struct Make {
    vars: HashMap<String, Var>,
    base_dir: PathBuf,
    at: Location,
    depth: usize,
}

/// One open conditional.
struct Cond {
    /// Lines in the current branch are evaluated.
    active: bool,
    /// Some branch of this conditional was taken already.
    taken: bool,
    /// The enclosing context is active.
    parent_active: bool,
}

const FUNCTIONS: &[&str] = &[
    "filter",
    "filter-out",
    "findstring",
    "if",
    "or",
    "and",
    "subst",
    "patsubst",
    "strip",
    "firstword",
    "word",
    "words",
    "origin",
    "error",
    "warning",
    "info",
];

impl Make {
    /// A context whose `include`s are resolved against `base_dir`.
    pub fn new(base_dir: &Path) -> Self {
        Make {
            vars: HashMap::new(),
            base_dir: base_dir.to_path_buf(),
            at: Location::default(),
            depth: 0,
        }
    }

    /// Define a variable as given on the command line (beats every assignment).
    pub fn set_command_line(&mut self, name: &str, value: &str) {
        self.define(name, value, false, Origin::CommandLine);
    }

    /// Define a variable from the environment (beats only `?=`).
    pub fn set_environment(&mut self, name: &str, value: &str) {
        if self
            .vars
            .get(name)
            .is_none_or(|v| v.origin == Origin::Environment)
        {
            self.define(name, value, false, Origin::Environment);
        }
    }

    /// Assign a simple variable as a makefile line `name := value` would.
    pub fn set_file(&mut self, name: &str, value: &str) {
        if self
            .vars
            .get(name)
            .is_none_or(|v| v.origin != Origin::CommandLine)
        {
            self.define(name, value, false, Origin::File);
        }
    }

    fn define(&mut self, name: &str, value: &str, recursive: bool, origin: Origin) {
        self.vars.insert(
            name.to_string(),
            Var {
                value: value.to_string(),
                recursive,
                origin,
            },
        );
    }

    /// The origin of a variable, or `None` if it is undefined.
    pub fn origin(&self, name: &str) -> Option<Origin> {
        self.vars.get(name).map(|v| v.origin)
    }

    /// The expanded value of a variable ("" if undefined).
    pub fn get(&mut self, name: &str) -> Result<String, MakeError> {
        self.lookup(name)
    }

    /// Read and evaluate a makefile (relative paths are taken from the base directory).
    pub fn include(&mut self, file: &Path) -> Result<(), MakeError> {
        let path = self.base_dir.join(file);
        let text = std::fs::read_to_string(&path).map_err(|source| MakeError::Io {
            path: path.clone(),
            source,
        })?;
        self.eval_text(&text, &path)
    }

    /// Evaluate makefile text; `path` names it in errors.
    pub fn eval_text(&mut self, text: &str, path: &Path) -> Result<(), MakeError> {
        let saved = std::mem::replace(
            &mut self.at,
            Location {
                path: path.to_path_buf(),
                line: 0,
            },
        );
        let mut conds: Vec<Cond> = Vec::new();
        for (line_no, line) in logical_lines(text) {
            self.at.line = line_no;
            let line = strip_comment(&line);
            let trimmed = line.trim_start();
            if trimmed.trim().is_empty() {
                continue;
            }
            let (word, rest) = split_word(trimmed);
            let active = conds.last().is_none_or(|c| c.active);
            match word {
                "ifeq" | "ifneq" | "ifdef" | "ifndef" => {
                    let truth = if active {
                        self.condition(word, rest)?
                    } else {
                        false
                    };
                    conds.push(Cond {
                        active: active && truth,
                        taken: truth,
                        parent_active: active,
                    });
                }
                "else" => {
                    let Some(c) = conds.last_mut() else {
                        return Err(self.syntax("`else` without a conditional"));
                    };
                    let (word, cond_rest) = split_word(rest.trim());
                    let parent_active = c.parent_active;
                    let taken = c.taken;
                    let truth = if word.is_empty() {
                        true
                    } else if matches!(word, "ifeq" | "ifneq" | "ifdef" | "ifndef") {
                        parent_active && !taken && self.condition(word, cond_rest)?
                    } else {
                        return Err(self.syntax("unexpected text after `else`"));
                    };
                    let c = conds.last_mut().expect("checked above");
                    c.active = parent_active && !taken && truth;
                    c.taken |= c.active;
                }
                "endif" => {
                    if conds.pop().is_none() {
                        return Err(self.syntax("`endif` without a conditional"));
                    }
                }
                _ if !active => {}
                "include" | "-include" | "sinclude" => {
                    let files = self.expand(rest)?;
                    for f in files.split_whitespace() {
                        let path = self.base_dir.join(f);
                        if word != "include" && !path.exists() {
                            continue;
                        }
                        self.depth += 1;
                        if self.depth > 32 {
                            return Err(self.syntax("includes nested too deeply"));
                        }
                        let result = self.include(Path::new(f));
                        self.depth -= 1;
                        result?;
                    }
                }
                _ => self.statement(trimmed)?,
            }
        }
        if !conds.is_empty() {
            return Err(self.syntax("missing `endif`"));
        }
        self.at = saved;
        Ok(())
    }

    fn syntax(&self, message: &str) -> MakeError {
        MakeError::Syntax {
            path: self.at.path.clone(),
            line: self.at.line,
            message: message.to_string(),
        }
    }

    /// An assignment or a line that only calls functions.
    fn statement(&mut self, line: &str) -> Result<(), MakeError> {
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        if let Some((name, op, value)) = split_assignment(line) {
            let name = self.expand(name.trim())?;
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(self.syntax("unsupported assignment"));
            }
            let value = value.trim_start();
            let existing = self.vars.get(&name).cloned();
            if existing
                .as_ref()
                .is_some_and(|v| v.origin == Origin::CommandLine)
            {
                return Ok(());
            }
            match op {
                "=" => self.define(&name, value, true, Origin::File),
                ":=" | "::=" => {
                    let v = self.expand(value)?;
                    self.define(&name, &v, false, Origin::File);
                }
                "?=" => {
                    if existing.is_none() {
                        self.define(&name, value, true, Origin::File);
                    }
                }
                _ => {
                    // "+=": keeps the flavour of the existing variable.
                    let (old, recursive) = existing
                        .map(|v| (v.value, v.recursive))
                        .unwrap_or((String::new(), true));
                    let addition = if recursive {
                        value.to_string()
                    } else {
                        self.expand(value)?
                    };
                    let joined = if old.is_empty() {
                        addition
                    } else {
                        format!("{old} {addition}")
                    };
                    self.define(&name, &joined, recursive, Origin::File);
                }
            }
            return Ok(());
        }
        if line.starts_with('$') {
            let out = self.expand(line)?;
            if out.trim().is_empty() {
                return Ok(());
            }
        }
        Err(self.syntax(&format!(
            "unsupported make construct `{line}` (only assignments, conditionals and includes)"
        )))
    }

    fn condition(&mut self, word: &str, rest: &str) -> Result<bool, MakeError> {
        match word {
            "ifdef" | "ifndef" => {
                // ifdef looks at the raw value; it does not expand it.
                let name = self.expand(rest.trim())?;
                let defined = self
                    .vars
                    .get(name.trim())
                    .is_some_and(|v| !v.value.is_empty());
                Ok(defined == (word == "ifdef"))
            }
            _ => {
                let (a, b) = self.comparison_args(rest.trim())?;
                let (a, b) = (self.expand(&a)?, self.expand(&b)?);
                Ok((a == b) == (word == "ifeq"))
            }
        }
    }

    /// The two operands of `ifeq`: `(a,b)`, `"a" "b"` or `'a' 'b'`.
    fn comparison_args(&self, text: &str) -> Result<(String, String), MakeError> {
        if let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
            let parts = split_args(inner);
            if parts.len() == 2 {
                return Ok((parts[0].trim_end().to_string(), parts[1].trim().to_string()));
            }
        } else {
            let quoted: Vec<&str> = text
                .split(['"', '\''])
                .enumerate()
                .filter(|(i, _)| i % 2 == 1)
                .map(|(_, s)| s)
                .collect();
            if quoted.len() == 2 {
                return Ok((quoted[0].to_string(), quoted[1].to_string()));
            }
        }
        Err(self.syntax("malformed conditional"))
    }

    fn lookup(&mut self, name: &str) -> Result<String, MakeError> {
        let Some(var) = self.vars.get(name).cloned() else {
            return Ok(String::new());
        };
        if !var.recursive {
            return Ok(var.value);
        }
        self.depth += 1;
        if self.depth > 64 {
            return Err(self.syntax(&format!("variable `{name}` references itself")));
        }
        let out = self.expand(&var.value);
        self.depth -= 1;
        out
    }

    /// Expand references and function calls in `text`.
    pub fn expand(&mut self, text: &str) -> Result<String, MakeError> {
        let mut out = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '$' {
                out.push(c);
                continue;
            }
            match chars.next() {
                None => {}
                Some((_, '$')) => out.push('$'),
                Some((j, open @ ('(' | '{'))) => {
                    let close = if open == '(' { ')' } else { '}' };
                    let body_start = j + 1;
                    let end = matching_close(text, body_start, open, close)
                        .ok_or_else(|| self.syntax("unterminated variable reference"))?;
                    let body = &text[body_start..end];
                    while chars.peek().is_some_and(|&(k, _)| k <= end) {
                        chars.next();
                    }
                    out.push_str(&self.reference(body)?);
                }
                Some((_, single)) => {
                    let _ = i;
                    out.push_str(&self.lookup(&single.to_string())?);
                }
            }
        }
        Ok(out)
    }

    fn reference(&mut self, body: &str) -> Result<String, MakeError> {
        let (word, rest) = split_word(body);
        if FUNCTIONS.contains(&word) && body.len() > word.len() {
            return self.function(word, rest.trim_start());
        }
        let name = self.expand(body)?;
        self.lookup(&name)
    }

    fn function(&mut self, name: &str, args_text: &str) -> Result<String, MakeError> {
        let args = split_args(args_text);
        let arg = |i: usize| args.get(i).copied().unwrap_or("");
        Ok(match name {
            "if" => {
                let cond = self.expand(arg(0))?;
                if !cond.trim().is_empty() {
                    self.expand(arg(1))?
                } else {
                    self.expand(arg(2))?
                }
            }
            "or" => {
                for a in &args {
                    let v = self.expand(a)?;
                    if !v.trim().is_empty() {
                        return Ok(v);
                    }
                }
                String::new()
            }
            "and" => {
                let mut last = String::new();
                for a in &args {
                    last = self.expand(a)?;
                    if last.trim().is_empty() {
                        return Ok(String::new());
                    }
                }
                last
            }
            "error" => {
                let text = self.expand(args_text)?;
                return Err(MakeError::Error {
                    path: self.at.path.clone(),
                    line: self.at.line,
                    message: unquote(text.trim()).to_string(),
                });
            }
            "warning" | "info" => {
                self.expand(args_text)?;
                String::new()
            }
            "origin" => {
                let n = self.expand(args_text)?;
                self.origin(n.trim())
                    .map_or("undefined", Origin::name)
                    .to_string()
            }
            _ => {
                let expanded: Vec<String> = args
                    .iter()
                    .map(|a| self.expand(a))
                    .collect::<Result<_, _>>()?;
                let e = |i: usize| expanded.get(i).map(String::as_str).unwrap_or("");
                match name {
                    "filter" | "filter-out" => {
                        let pats: Vec<&str> = e(0).split_whitespace().collect();
                        let keep = name == "filter";
                        e(1).split_whitespace()
                            .filter(|w| pats.iter().any(|p| pattern_match(p, w)) == keep)
                            .collect::<Vec<_>>()
                            .join(" ")
                    }
                    "findstring" => {
                        if e(1).contains(e(0)) {
                            e(0).to_string()
                        } else {
                            String::new()
                        }
                    }
                    "subst" => e(2).replace(e(0), e(1)),
                    "patsubst" => e(2)
                        .split_whitespace()
                        .map(|w| pattern_replace(e(0), e(1), w))
                        .collect::<Vec<_>>()
                        .join(" "),
                    "strip" => e(0).split_whitespace().collect::<Vec<_>>().join(" "),
                    "firstword" => e(0).split_whitespace().next().unwrap_or("").to_string(),
                    "words" => e(0).split_whitespace().count().to_string(),
                    _ => {
                        // "word"
                        let n: usize = e(0)
                            .trim()
                            .parse()
                            .map_err(|_| self.syntax("non-numeric first argument to `word`"))?;
                        if n == 0 {
                            return Err(self.syntax("first argument to `word` must be > 0"));
                        }
                        e(1).split_whitespace().nth(n - 1).unwrap_or("").to_string()
                    }
                }
            }
        })
    }
}

/// Join `\`-continued lines; yields (first line number, text).
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let (start, mut acc) = pending.take().unwrap_or((i + 1, String::new()));
        if let Some(body) = line.strip_suffix('\\') {
            acc.push_str(body.trim_end());
            acc.push(' ');
            pending = Some((start, acc));
        } else {
            acc.push_str(if acc.is_empty() {
                line
            } else {
                line.trim_start()
            });
            out.push((start, acc));
        }
    }
    if let Some(p) = pending {
        out.push(p);
    }
    out
}

fn strip_comment(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'#') => {
                out.push('#');
                chars.next();
            }
            '#' => break,
            c => out.push(c),
        }
    }
    out
}

/// The first word (up to white space or `(`/`{` for conditionals) and the rest.
fn split_word(text: &str) -> (&str, &str) {
    let end = text
        .find(|c: char| c.is_whitespace() || c == '(')
        .unwrap_or(text.len());
    (&text[..end], &text[end..])
}

/// Find the assignment operator at the top level of `line`.
fn split_assignment(line: &str) -> Option<(&str, &'static str, &str)> {
    let bytes = line.as_bytes();
    let mut depth = 0i32;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'(' | b'{' => depth += 1,
            b')' | b'}' => depth -= 1,
            b'=' if depth == 0 => {
                let before = &line[..i];
                for op in ["::", ":", "?", "+"] {
                    if let Some(name) = before.strip_suffix(op) {
                        let op = match op {
                            "::" => "::=",
                            ":" => ":=",
                            "?" => "?=",
                            _ => "+=",
                        };
                        return Some((name, op, &line[i + 1..]));
                    }
                }
                return Some((before, "=", &line[i + 1..]));
            }
            b':' if depth == 0 && !line[i..].starts_with(":=") && !line[i..].starts_with("::=") => {
                return None; // a rule
            }
            _ => {}
        }
    }
    None
}

fn matching_close(text: &str, from: usize, open: char, close: char) -> Option<usize> {
    let mut depth = 1;
    for (i, c) in text[from..].char_indices() {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(from + i);
            }
        }
    }
    None
}

/// Split function arguments on top-level commas.
fn split_args(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '{' => depth += 1,
            ')' | '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

fn pattern_match(pattern: &str, word: &str) -> bool {
    match pattern.split_once('%') {
        None => pattern == word,
        Some((pre, post)) => {
            word.len() >= pre.len() + post.len() && word.starts_with(pre) && word.ends_with(post)
        }
    }
}

fn pattern_replace(pattern: &str, replacement: &str, word: &str) -> String {
    match pattern.split_once('%') {
        None if pattern == word => replacement.to_string(),
        None => word.to_string(),
        Some((pre, post)) if pattern_match(pattern, word) => {
            let stem = &word[pre.len()..word.len() - post.len()];
            replacement.replacen('%', stem, 1)
        }
        Some(_) => word.to_string(),
    }
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(text: &str, setup: impl FnOnce(&mut Make)) -> Result<Make, MakeError> {
        let mut m = Make::new(Path::new("."));
        setup(&mut m);
        m.eval_text(text, Path::new("test.mk"))?;
        Ok(m)
    }

    #[test]
    fn assignment_flavours_and_precedence() {
        let mut m = eval(
            "A = $(B)x\nB := b\nC ?= c\nD ?= d\nE = e\nE += f\nF := 1\nF += $(B)\nG = g\n",
            |m| {
                m.set_environment("C", "env");
                m.set_environment("G", "env");
                m.set_command_line("E", "cmd");
            },
        )
        .unwrap();
        assert_eq!(m.get("A").unwrap(), "bx");
        assert_eq!(m.get("C").unwrap(), "env");
        assert_eq!(m.get("D").unwrap(), "d");
        assert_eq!(m.get("E").unwrap(), "cmd");
        assert_eq!(m.get("F").unwrap(), "1 b");
        assert_eq!(m.get("G").unwrap(), "g");
        assert_eq!(m.origin("C"), Some(Origin::Environment));
        assert_eq!(m.origin("Z"), None);
    }

    #[test]
    fn conditionals_and_functions() {
        let text = "X=arm64\nP=nvidia-jp6\nifeq ($(X), amd64)\n  R=a\nelse ifeq ($(X), arm64)\n\
                    ifeq (, $(findstring nvidia,$(P)))\n    R=g\n  else\n    K_nvidia-jp6=v5\n\
                    R=$(K_$(P))\n  endif\nelse\n  R=z\nendif\n\
                    O=$(origin R) $(origin nope)\nF=$(filter b% c, a b1 c d)\n\
                    N=$(filter-out a,a b)\nS=$(subst eve-kernel-,k-,x eve-kernel-1)\n\
                    I=$(if $(Q),yes,no)-$(if $(X),$(X)-,)\nW=$(word 2,a b c) $(words a b)\n";
        let mut m = eval(text, |_| {}).unwrap();
        assert_eq!(m.get("R").unwrap(), "v5");
        assert_eq!(m.get("O").unwrap(), "file undefined");
        assert_eq!(m.get("F").unwrap(), "b1 c");
        assert_eq!(m.get("N").unwrap(), "b");
        assert_eq!(m.get("S").unwrap(), "x k-1");
        assert_eq!(m.get("I").unwrap(), "no-arm64-");
        assert_eq!(m.get("W").unwrap(), "b 2");
    }

    #[test]
    fn error_calls_only_in_taken_branches() {
        let ok = eval("ifeq (a,b)\n  $(error \"no\")\nendif\n", |_| {});
        assert!(ok.is_ok());
        let err = eval(
            "X=q\nifeq (a,a)\n  $(error \"Unsupported $(X)\")\nendif\n",
            |_| {},
        )
        .err()
        .unwrap();
        match err {
            MakeError::Error { line, message, .. } => {
                assert_eq!(line, 3);
                assert_eq!(message, "Unsupported q");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn unsupported_constructs_are_named() {
        let err = eval("all: x\n\techo\n", |_| {}).err().unwrap();
        assert!(err.to_string().contains("test.mk:1"), "{err}");
        assert!(eval("ifeq (a,a)\n", |_| {}).is_err());
        assert!(eval("endif\n", |_| {}).is_err());
    }
}
