//! Interpreting raw instructions: each keyword's argument syntax, its flags, and the grouping
//! into global `ARG`s and stages.
//!
//! Arguments stay unexpanded here (expansion needs the build's variables); quoting is kept
//! where BuildKit keeps it until expansion. Unknown keywords and unknown or malformed flags are
//! errors that name the line. `ONBUILD` is parsed and recorded but never triggered.

use super::parse::{Heredoc, RawInstruction, json_array};

/// A command line in exec (JSON) or shell form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmdLine {
    /// `["a", "b"]`: run as given.
    Exec(Vec<String>),
    /// `a b`: run through the stage's shell.
    Shell(String),
}

/// `COPY`/`ADD` arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    /// Sources (unexpanded words).
    pub sources: Vec<String>,
    /// Destination (unexpanded).
    pub dest: String,
    /// `--from=`: a stage name, stage index or image reference.
    pub from: Option<String>,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=`: octal mode.
    pub chmod: Option<String>,
    /// `--link` (no effect on the result here: layers are always independent).
    pub link: bool,
    /// `--exclude=` patterns.
    pub exclude: Vec<String>,
    /// Inline sources from heredocs, as (file name, contents, expand).
    pub heredocs: Vec<Heredoc>,
}

/// `HEALTHCHECK` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// `HEALTHCHECK NONE`.
    None,
    /// `HEALTHCHECK [opts] CMD …`.
    Check {
        /// The test command.
        cmd: CmdLine,
        /// `--interval`, `--timeout`, `--start-period`, `--start-interval` in nanoseconds.
        durations: [Option<i64>; 4],
        /// `--retries`.
        retries: Option<i64>,
    },
}

/// One interpreted instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `FROM [--platform=p] image [AS name]`.
    From {
        /// Image reference or `scratch` or a stage name (unexpanded).
        image: String,
        /// Stage name, lowercased.
        name: Option<String>,
        /// `--platform=` (unexpanded).
        platform: Option<String>,
    },
    /// `ARG name[=default] …`.
    Arg(Vec<(String, Option<String>)>),
    /// `ENV k=v …` (unexpanded words).
    Env(Vec<(String, String)>),
    /// `LABEL k=v …` (unexpanded words).
    Label(Vec<(String, String)>),
    /// `COPY`.
    Copy(CopyArgs),
    /// `ADD`.
    Add(CopyArgs),
    /// `RUN` (executed only by a container builder).
    Run {
        /// The command.
        cmd: CmdLine,
        /// Its flags (`--mount=…`, `--network=…`).
        flags: Vec<String>,
    },
    /// `WORKDIR path`.
    Workdir(String),
    /// `USER user[:group]`.
    User(String),
    /// `ENTRYPOINT`.
    Entrypoint(CmdLine),
    /// `CMD`.
    Cmd(CmdLine),
    /// `SHELL ["exe", "arg"]`.
    Shell(Vec<String>),
    /// `EXPOSE port[/proto] …`.
    Expose(Vec<String>),
    /// `VOLUME path …`.
    Volume(Vec<String>),
    /// `STOPSIGNAL sig`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Health),
    /// `MAINTAINER name` (deprecated; becomes the `author` field).
    Maintainer(String),
    /// `ONBUILD instruction` (recorded in the image config).
    Onbuild(String),
}

/// An interpreted instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// What it does.
    pub command: Command,
    /// First line (1-based).
    pub line: usize,
    /// The instruction as written (continuations joined), for history records.
    pub original: String,
}

/// A build stage: its `FROM` and what follows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// The `FROM` base (unexpanded).
    pub base: String,
    /// Stage name (lowercase), if it has one.
    pub name: Option<String>,
    /// `FROM --platform=` (unexpanded).
    pub platform: Option<String>,
    /// Line of the `FROM`.
    pub line: usize,
    /// Instructions after the `FROM`.
    pub instructions: Vec<Instruction>,
}

impl Stage {
    /// True when any instruction of this stage is a `RUN`.
    pub fn has_run(&self) -> bool {
        self.instructions
            .iter()
            .any(|i| matches!(i.command, Command::Run { .. }))
    }
}

/// Interprets one raw instruction; errors are messages for its line.
pub fn interpret(raw: &RawInstruction, escape: char) -> Result<Command, String> {
    let rest = raw.rest.as_str();
    let no_flags = |kw: &str| -> Result<(), String> {
        match raw.flags.first() {
            Some(f) => Err(format!("unknown flag: {} (for {kw})", flag_name(f))),
            None => Ok(()),
        }
    };
    let kw = raw.keyword.as_str();
    let cmd = match kw {
        "from" => {
            let flags = Flags::parse(&raw.flags, &["platform"], kw)?;
            let words = split_blank(rest);
            let (image, name) = match words.as_slice() {
                [image] => (image.clone(), None),
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                    let name = name.to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(format!(
                            "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                        ));
                    }
                    (image.clone(), Some(name))
                }
                _ => return Err("FROM requires either one or three arguments".into()),
            };
            Command::From {
                image,
                name,
                platform: flags.value("platform"),
            }
        }
        "arg" => {
            no_flags(kw)?;
            let words = parse_words(rest, escape);
            if words.is_empty() {
                return Err("ARG requires at least one argument".into());
            }
            let mut args = Vec::new();
            for w in words {
                match w.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".into()),
                    Some((k, v)) => args.push((k.to_string(), Some(v.to_string()))),
                    None => args.push((w, None)),
                }
            }
            Command::Arg(args)
        }
        "env" | "label" => {
            no_flags(kw)?;
            let pairs = parse_name_val(rest, &kw.to_ascii_uppercase(), escape)?;
            if kw == "env" {
                Command::Env(pairs)
            } else {
                Command::Label(pairs)
            }
        }
        "copy" | "add" => {
            let allowed: &[&str] = if kw == "copy" {
                &["from", "chown", "chmod", "link", "exclude", "parents"]
            } else {
                &[
                    "chown",
                    "chmod",
                    "link",
                    "exclude",
                    "keep-git-dir",
                    "checksum",
                    "unpack",
                ]
            };
            let flags = Flags::parse(&raw.flags, allowed, kw)?;
            if flags.has("parents") {
                return Err("COPY --parents is not supported".into());
            }
            for f in ["keep-git-dir", "checksum"] {
                if flags.has(f) {
                    return Err(format!(
                        "ADD --{f} applies to remote sources, which are not supported"
                    ));
                }
            }
            let mut words = match json_array(rest) {
                Some(r) => r?,
                None => split_blank(rest),
            };
            let heredoc_names: Vec<String> = raw.heredocs.iter().map(|h| h.name.clone()).collect();
            if words.len() < 2 && raw.heredocs.is_empty() || words.is_empty() {
                return Err(format!(
                    "{} requires at least two arguments, but only {} provided",
                    kw.to_ascii_uppercase(),
                    words.len()
                ));
            }
            let dest = words.pop().unwrap_or_default();
            // Heredoc words (`<<EOF`) among the sources become inline files.
            let sources: Vec<String> = words
                .into_iter()
                .filter(|w| {
                    super::parse::parse_heredoc(w)
                        .ok()
                        .flatten()
                        .is_none_or(|h| !heredoc_names.contains(&h.name))
                })
                .collect();
            Command::Copy(CopyArgs {
                sources,
                dest,
                from: flags.value("from"),
                chown: flags.value("chown"),
                chmod: flags.value("chmod"),
                link: flags.has("link"),
                exclude: flags.values("exclude"),
                heredocs: raw.heredocs.clone(),
            })
            .into_add_if(kw == "add", flags.value("unpack"))?
        }
        "run" => Command::Run {
            cmd: cmd_line(rest)?,
            flags: raw.flags.clone(),
        },
        "workdir" => {
            no_flags(kw)?;
            if rest.is_empty() {
                return Err("WORKDIR requires exactly one argument".into());
            }
            Command::Workdir(rest.to_string())
        }
        "user" => {
            no_flags(kw)?;
            if rest.is_empty() {
                return Err("USER requires exactly one argument".into());
            }
            Command::User(rest.to_string())
        }
        "entrypoint" => {
            no_flags(kw)?;
            Command::Entrypoint(cmd_line(rest)?)
        }
        "cmd" => {
            no_flags(kw)?;
            Command::Cmd(cmd_line(rest)?)
        }
        "shell" => {
            no_flags(kw)?;
            match json_array(rest) {
                Some(Ok(v)) if !v.is_empty() => Command::Shell(v),
                _ => return Err("SHELL requires the arguments to be in JSON form".into()),
            }
        }
        "expose" | "volume" => {
            no_flags(kw)?;
            let words = match (kw, json_array(rest)) {
                ("volume", Some(r)) => r?,
                _ => split_blank(rest),
            };
            if words.is_empty() {
                return Err(format!(
                    "{} requires at least one argument",
                    kw.to_ascii_uppercase()
                ));
            }
            if kw == "expose" {
                Command::Expose(words)
            } else {
                Command::Volume(words)
            }
        }
        "stopsignal" => {
            no_flags(kw)?;
            if rest.is_empty() {
                return Err("STOPSIGNAL requires exactly one argument".into());
            }
            Command::StopSignal(rest.to_string())
        }
        "maintainer" => Command::Maintainer(rest.to_string()),
        "onbuild" => {
            let sub = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_lowercase();
            if matches!(sub.as_str(), "onbuild" | "from" | "maintainer" | "") {
                return Err(format!("{sub:?} isn't allowed as an ONBUILD trigger"));
            }
            Command::Onbuild(rest.to_string())
        }
        "healthcheck" => Command::Healthcheck(health(raw)?),
        other => {
            return Err(format!(
                "unknown instruction: {}",
                other.to_ascii_uppercase()
            ));
        }
    };
    Ok(cmd)
}

impl Command {
    fn into_add_if(self, add: bool, unpack: Option<String>) -> Result<Command, String> {
        match (self, add) {
            (Command::Copy(c), true) => {
                if let Some(u) = unpack
                    && u != "true"
                {
                    return Err("ADD --unpack=false is not supported".into());
                }
                Ok(Command::Add(c))
            }
            (c, _) => Ok(c),
        }
    }
}

fn health(raw: &RawInstruction) -> Result<Health, String> {
    let rest = raw.rest.trim();
    let (typ, cmd) = match rest.split_once(char::is_whitespace) {
        Some((t, c)) => (t, c.trim_start()),
        None => (rest, ""),
    };
    if typ.eq_ignore_ascii_case("none") {
        if !cmd.is_empty() || !raw.flags.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        return Ok(Health::None);
    }
    if !typ.eq_ignore_ascii_case("cmd") {
        return Err(format!("unknown type {typ:?} in HEALTHCHECK (try CMD)"));
    }
    let flags = Flags::parse(
        &raw.flags,
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        "healthcheck",
    )?;
    let mut durations = [None; 4];
    for (i, name) in ["interval", "timeout", "start-period", "start-interval"]
        .iter()
        .enumerate()
    {
        if let Some(v) = flags.value(name) {
            durations[i] = Some(
                parse_duration(&v)
                    .ok_or_else(|| format!("HEALTHCHECK --{name}: cannot parse duration {v:?}"))?,
            );
        }
    }
    let retries = match flags.value("retries") {
        Some(v) => Some(
            v.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| format!("HEALTHCHECK --retries must be a number ≥ 0, not {v:?}"))?,
        ),
        None => None,
    };
    if cmd.is_empty() {
        return Err("missing command after HEALTHCHECK CMD".into());
    }
    Ok(Health::Check {
        cmd: cmd_line(cmd)?,
        durations,
        retries,
    })
}

/// Go `time.ParseDuration` for the units Docker accepts (ns, us, ms, s, m, h), in ns.
fn parse_duration(s: &str) -> Option<i64> {
    if s == "0" {
        return Some(0);
    }
    let mut total = 0f64;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += num * mult;
        rest = &rest[u..];
    }
    Some(total as i64)
}

fn cmd_line(rest: &str) -> Result<CmdLine, String> {
    match json_array(rest) {
        Some(r) => Ok(CmdLine::Exec(r?)),
        None => Ok(CmdLine::Shell(rest.to_string())),
    }
}

fn valid_stage_name(n: &str) -> bool {
    let mut cs = n.chars();
    cs.next().is_some_and(|c| c.is_ascii_lowercase())
        && cs.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn flag_name(f: &str) -> &str {
    f.split('=').next().unwrap_or(f)
}

/// BuildKit's blank characters (`[\t\v\f\r ]`).
const BLANKS: [char; 5] = [' ', '\t', '\u{b}', '\u{c}', '\r'];

/// Splits on runs of blanks (BuildKit's `[\t\v\f\r ]+`), no quote handling.
fn split_blank(s: &str) -> Vec<String> {
    s.split(BLANKS)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Words separated by whitespace, quotes and escapes kept for later expansion.
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut buf = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            None => {
                if c.is_whitespace() {
                    if in_word && (blank_ok || !buf.is_empty()) {
                        words.push(std::mem::take(&mut buf));
                    }
                    in_word = false;
                    blank_ok = false;
                    i += 1;
                    continue;
                }
                in_word = true;
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                if c == escape {
                    if i + 1 == chars.len() {
                        i += 1;
                        continue;
                    }
                    buf.push(c);
                    i += 1;
                }
                buf.push(chars[i]);
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                if c == escape && q != '\'' {
                    if i + 1 == chars.len() {
                        quote = None;
                        i += 1;
                        continue;
                    }
                    buf.push(c);
                    i += 1;
                }
                buf.push(chars[i]);
            }
        }
        i += 1;
    }
    if in_word && (blank_ok || !buf.is_empty()) {
        words.push(buf);
    }
    words
}

/// `KEY value…` (legacy) or `k=v k2="v 2"` pairs.
fn parse_name_val(rest: &str, kw: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Err(format!("{kw} requires at least one argument"));
    };
    if !first.contains('=') {
        let mut parts = rest.splitn(2, BLANKS);
        let k = parts.next().unwrap_or("");
        let v = parts
            .next()
            .map(|v| v.trim_start_matches([' ', '\t']))
            .unwrap_or("");
        if v.is_empty() {
            return Err(format!("{kw} must have two arguments"));
        }
        return Ok(vec![(k.to_string(), v.to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

/// Flags given to one instruction.
struct Flags(Vec<(String, Option<String>)>);

impl Flags {
    fn parse(raw: &[String], allowed: &[&str], kw: &str) -> Result<Flags, String> {
        let mut out = Vec::new();
        for f in raw {
            let body = f.strip_prefix("--").unwrap_or(f);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            if !allowed.contains(&name) {
                return Err(format!(
                    "unknown flag: --{name} (for {})",
                    kw.to_ascii_uppercase()
                ));
            }
            let boolean = matches!(name, "link" | "parents" | "keep-git-dir" | "unpack");
            if value.is_none() && !boolean {
                return Err(format!("missing a value on flag: --{name}"));
            }
            if value.as_deref() == Some("") && !boolean && name != "chmod" {
                return Err(format!("missing a value on flag: --{name}"));
            }
            out.push((name.to_string(), value));
        }
        Ok(Flags(out))
    }
    fn value(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    }
    fn values(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }
    fn has(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|(n, v)| n == name && v.as_deref().is_none_or(|v| v != "false"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dockerfile::parse::parse;

    fn one(line: &str) -> Result<Command, String> {
        let d = parse(&format!("FROM scratch\n{line}\n")).unwrap();
        interpret(&d.instructions[1], d.escape)
    }

    #[test]
    fn env_forms() {
        assert_eq!(
            one("ENV A b c").unwrap(),
            Command::Env(vec![("A".into(), "b c".into())])
        );
        assert_eq!(
            one("ENV A=\"b c\" D=e").unwrap(),
            Command::Env(vec![
                ("A".into(), "\"b c\"".into()),
                ("D".into(), "e".into())
            ])
        );
        assert!(one("ENV A=1 B").is_err());
        assert!(one("ENV A").is_err());
    }

    #[test]
    fn copy_and_errors() {
        let Command::Copy(c) = one("COPY --from=b --chmod=755 a b /d/").unwrap() else {
            panic!()
        };
        assert_eq!(
            (c.sources, c.dest, c.from),
            (vec!["a".into(), "b".into()], "/d/".into(), Some("b".into()))
        );
        assert!(
            one("COPY --frm=b a /")
                .unwrap_err()
                .contains("unknown flag: --frm")
        );
        assert!(one("COPY a").is_err());
        assert!(
            one("FROBNICATE x")
                .unwrap_err()
                .contains("unknown instruction: FROBNICATE")
        );
        assert!(matches!(
            one("CMD [\"a\", \"b\"]").unwrap(),
            Command::Cmd(CmdLine::Exec(_))
        ));
        assert!(matches!(
            one("CMD [\"a\" \"b\"]").unwrap(),
            Command::Cmd(CmdLine::Shell(_))
        ));
        assert!(one("CMD [\"a\", 1]").is_err());
        assert!(matches!(
            one("HEALTHCHECK --interval=5s --retries=3 CMD true").unwrap(),
            Command::Healthcheck(Health::Check {
                durations: [Some(5_000_000_000), None, None, None],
                retries: Some(3),
                ..
            })
        ));
    }

    #[test]
    fn from_forms() {
        let d = parse("FROM --platform=$BUILDPLATFORM a/b:c AS Build\n").unwrap();
        assert_eq!(
            interpret(&d.instructions[0], '\\').unwrap(),
            Command::From {
                image: "a/b:c".into(),
                name: Some("build".into()),
                platform: Some("$BUILDPLATFORM".into())
            }
        );
        let d = parse("FROM a b\n").unwrap();
        assert!(interpret(&d.instructions[0], '\\').is_err());
    }
}
