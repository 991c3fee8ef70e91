//! Splitting a Dockerfile into instructions, as BuildKit's parser does.
//!
//! Handles: a UTF-8 byte-order mark; CRLF line ends; the parser directives `# escape=`,
//! `# syntax=` and `# check=` (only before anything else, each at most once); comments, also
//! inside line continuations; empty continuation lines (accepted with a warning, as BuildKit
//! does); the escape character at the end of a line as continuation; heredocs (`<<EOF`,
//! `<<-EOF` stripping leading tabs, quoted names that turn expansion off, several per line)
//! after `RUN`, `COPY` and `ADD` in shell form. What each instruction's arguments mean is
//! [`super::instruction`]'s job.

use super::lex::{Lexer, NoEnv};

/// One instruction as written: keyword, flags (`--from=x`), the rest of the line, heredocs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawInstruction {
    /// The keyword, lowercased (`from`, `copy` …).
    pub keyword: String,
    /// The flags before the arguments, without interpretation (`--chown=1:1`).
    pub flags: Vec<String>,
    /// The arguments after the flags, continuation lines joined, trimmed.
    pub rest: String,
    /// The joined line as written (for messages and history).
    pub original: String,
    /// Heredocs whose bodies follow this instruction.
    pub heredocs: Vec<Heredoc>,
    /// First line (1-based).
    pub line: usize,
    /// Last line (1-based), including continuation and heredoc lines.
    pub end_line: usize,
}

/// A here-document attached to an instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word, which is also the file name for `COPY <<NAME`.
    pub name: String,
    /// File descriptor number written before `<<` (`3<<EOF`), 0 when none.
    pub fd: u32,
    /// Variables in the body are expanded (the name was not quoted).
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from the body lines.
    pub chomp: bool,
    /// The body, line ends included as written.
    pub content: String,
}

/// A parsed Dockerfile before instructions are interpreted.
#[derive(Debug, Clone)]
pub struct RawDockerfile {
    /// Instructions in order.
    pub instructions: Vec<RawInstruction>,
    /// The escape character (`\` unless `# escape=` says otherwise).
    pub escape: char,
    /// Things BuildKit warns about (empty continuation lines), with their line.
    pub warnings: Vec<(usize, String)>,
}

/// A syntax error at a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    /// 1-based line the problem is on (or starts on).
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

const DIRECTIVES: [&str; 3] = ["syntax", "escape", "check"];

struct Directives {
    done: bool,
    seen: Vec<String>,
    escape: char,
}

impl Directives {
    /// Looks at a (newline- and left-trimmed) line while directives are still allowed.
    fn line(&mut self, line: &str) -> Result<bool, String> {
        if self.done {
            return Ok(false);
        }
        let Some(body) = line.strip_prefix('#') else {
            self.done = true;
            return Ok(false);
        };
        let body = body.trim_start();
        let Some((key, value)) = split_directive(body) else {
            self.done = true;
            return Ok(false);
        };
        let key = key.to_ascii_lowercase();
        if !DIRECTIVES.contains(&key.as_str()) {
            self.done = true;
            return Ok(false);
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        if key == "escape" {
            match value {
                "\\" => self.escape = '\\',
                "`" => self.escape = '`',
                other => {
                    return Err(format!(
                        "invalid escape token '{other}' does not match ` or \\"
                    ));
                }
            }
        }
        Ok(true)
    }
}

/// `name = value` with name `[a-zA-Z][a-zA-Z0-9]*`, value trimmed and non-empty.
fn split_directive(body: &str) -> Option<(&str, &str)> {
    let name_end = body
        .char_indices()
        .find(|(_, c)| !c.is_ascii_alphanumeric())
        .map(|(i, _)| i)
        .unwrap_or(body.len());
    let name = &body[..name_end];
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let value = body[name_end..].trim_start().strip_prefix('=')?.trim();
    (!value.is_empty()).then_some((name, value))
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Strips a trailing continuation (escape char followed only by blanks, not itself escaped).
/// Returns the line without it, and whether it was there.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(escape) else {
        return (line, false);
    };
    if before.is_empty() {
        return ("", true);
    }
    if before.ends_with(escape) {
        return (line, false);
    }
    (before, true)
}

/// Splits text into lines that keep their `\n`.
fn lines_with_ends(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// Parses Dockerfile text.
pub fn parse(text: &str) -> Result<RawDockerfile, LineError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = lines_with_ends(text);
    let mut d = Directives {
        done: false,
        seen: Vec::new(),
        escape: '\\',
    };
    let mut out = Vec::new();
    let mut warnings = Vec::new();
    let mut i = 0;
    let err = |line: usize, message: String| LineError { line, message };
    while i < lines.len() {
        let first = trim_newline(lines[i]).trim_start();
        d.line(first).map_err(|m| err(i + 1, m))?;
        i += 1;
        let start = i;
        let first = if is_comment(first) { "" } else { first };
        let (mut body, mut cont) = trim_continuation(first, d.escape);
        if !cont && body.is_empty() {
            continue;
        }
        let mut joined = body.to_string();
        let mut empty_continuation = false;
        while cont && i < lines.len() {
            let raw = lines[i];
            let l = trim_newline(raw);
            d.line(l).map_err(|m| err(i + 1, m))?;
            i += 1;
            if is_comment(l) {
                continue;
            }
            if l.trim_start().is_empty() {
                empty_continuation = true;
                continue;
            }
            (body, cont) = trim_continuation(l, d.escape);
            joined.push_str(body);
        }
        if empty_continuation {
            warnings.push((start, format!("empty continuation line found in: {joined}")));
        }
        let (keyword, flags, rest) = split_command(&joined, d.escape).map_err(|m| err(start, m))?;
        let keyword = keyword.to_ascii_lowercase();
        let mut ins = RawInstruction {
            keyword,
            flags,
            rest,
            original: joined.clone(),
            heredocs: Vec::new(),
            line: start,
            end_line: i,
        };
        if can_contain_heredoc(&ins) && joined.contains("<<") {
            let docs = heredocs_from_line(&joined).map_err(|m| err(start, m))?;
            for mut doc in docs {
                let mut content = String::new();
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let mut candidate = trim_newline(raw);
                    if doc.chomp {
                        candidate = candidate.trim_start_matches('\t');
                    }
                    if candidate == doc.name {
                        terminated = true;
                        break;
                    }
                    content.push_str(raw);
                }
                if !terminated {
                    return Err(err(
                        start,
                        format!("unterminated heredoc (no line {:?} after it)", doc.name),
                    ));
                }
                doc.content = content;
                ins.heredocs.push(doc);
            }
            ins.end_line = i;
        }
        out.push(ins);
    }
    if out.is_empty() {
        return Err(err(lines.len().max(1), "file with no instructions".into()));
    }
    Ok(RawDockerfile {
        instructions: out,
        escape: d.escape,
        warnings,
    })
}

fn can_contain_heredoc(ins: &RawInstruction) -> bool {
    let (kw, rest) = if ins.keyword == "onbuild" {
        let mut parts = ins.rest.splitn(2, char::is_whitespace);
        (
            parts.next().unwrap_or("").to_ascii_lowercase(),
            parts.next().unwrap_or("").to_string(),
        )
    } else {
        (ins.keyword.clone(), ins.rest.clone())
    };
    matches!(kw.as_str(), "run" | "copy" | "add") && json_array(&rest).is_none()
}

/// The rest of a line as a JSON string array, if it is one.
pub fn json_array(rest: &str) -> Option<Result<Vec<String>, String>> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return None;
    }
    let v: serde_json::Value = serde_json::from_str(rest).ok()?;
    let arr = v.as_array()?;
    Some(
        arr.iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    "when using JSON array syntax, arrays must be comprised of strings only"
                        .to_string()
                })
            })
            .collect(),
    )
}

fn heredocs_from_line(line: &str) -> Result<Vec<Heredoc>, String> {
    let mut raw = Lexer::new('\\');
    raw.raw_quotes = true;
    raw.raw_escapes = true;
    raw.skip_unset = true;
    let words = raw.process_words(line, &NoEnv).unwrap_or_default();
    let mut docs = Vec::new();
    for w in words {
        if let Some(doc) = parse_heredoc(&w)? {
            docs.push(doc);
        }
    }
    Ok(docs)
}

/// Recognises one heredoc word: `[fd]<<[-]NAME`, with NAME possibly quoted.
pub fn parse_heredoc(word: &str) -> Result<Option<Heredoc>, String> {
    let digits = word.chars().take_while(char::is_ascii_digit).count();
    let Some(after) = word[digits..].strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(a) => (true, a),
        None => (false, after),
    };
    let rest = after.trim_start();
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let mut lex = Lexer::new('\\');
    lex.skip_unset = true;
    let words = lex.process_words(rest, &NoEnv).map_err(|e| e.to_string())?;
    if words.len() != 1 {
        return Ok(None);
    }
    lex.raw_quotes = true;
    let raw_words = lex.process_words(rest, &NoEnv).map_err(|e| e.to_string())?;
    let quotes = |s: &str| s.matches(['\'', '"']).count();
    let expand = quotes(&words[0]) == quotes(raw_words.first().map(String::as_str).unwrap_or(""));
    Ok(Some(Heredoc {
        name: words[0].clone(),
        fd: word[..digits].parse().unwrap_or(0),
        expand,
        chomp,
        content: String::new(),
    }))
}

/// Splits `KEYWORD --flag=x --flag2 rest…` into its parts.
fn split_command(line: &str, escape: char) -> Result<(String, Vec<String>, String), String> {
    let line = line.trim();
    let mut it = line.splitn(2, is_blank);
    let cmd = it.next().unwrap_or("").to_string();
    let after = it.next().unwrap_or("");
    let (rest, flags) = extract_flags(after, escape);
    Ok((cmd, flags, rest.trim().to_string()))
}

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

/// Takes the leading `--name[=value]` words off `line` (quotes and escapes inside them are
/// processed), returning what follows and the flags.
fn extract_flags(line: &str, escape: char) -> (String, Vec<String>) {
    let chars: Vec<char> = line.chars().collect();
    let mut flags = Vec::new();
    let mut i = 0;
    loop {
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        if i >= chars.len() {
            return (String::new(), flags);
        }
        if !(chars[i] == '-' && chars.get(i + 1) == Some(&'-')) {
            return (chars[i..].iter().collect(), flags);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        while i < chars.len() {
            let c = chars[i];
            match quote {
                None if c.is_whitespace() => break,
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    blank_ok = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == escape => {
                    if i + 1 < chars.len() {
                        i += 1;
                        word.push(chars[i]);
                    }
                }
                _ => word.push(c),
            }
            i += 1;
        }
        if word == "--" {
            return (chars[i..].iter().collect(), flags);
        }
        if blank_ok || !word.is_empty() {
            flags.push(word);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kw(d: &RawDockerfile) -> Vec<(String, String, usize)> {
        d.instructions
            .iter()
            .map(|i| (i.keyword.clone(), i.rest.clone(), i.line))
            .collect()
    }

    #[test]
    fn continuations_comments_bom_crlf() {
        let text = "\u{feff}# syntax=docker/dockerfile:1\r\nFROM scratch\r\nCOPY a \\\r\n# a comment\r\n\r\n   b /\r\nENV X=1\n";
        let d = parse(text).unwrap();
        assert_eq!(
            kw(&d),
            [
                ("from".into(), "scratch".into(), 2),
                ("copy".into(), "a    b /".into(), 3),
                ("env".into(), "X=1".into(), 7),
            ]
        );
        assert_eq!(d.warnings.len(), 1);
        assert_eq!(d.instructions[1].end_line, 6);
    }

    #[test]
    fn escape_directive_only_at_top() {
        let d = parse("# escape=`\nFROM scratch\nCOPY a `\n  b c\n").unwrap();
        assert_eq!(d.escape, '`');
        assert_eq!(d.instructions[1].rest, "a   b c");
        // Late: just a comment; backslash stays the continuation character.
        let d = parse("FROM scratch\n# escape=`\nCOPY a \\\n b c\n").unwrap();
        assert_eq!(d.escape, '\\');
        assert_eq!(d.instructions[1].rest, "a  b c");
        assert!(parse("# escape=x\nFROM scratch\n").is_err());
        assert!(parse("# escape=`\n# escape=\\\nFROM scratch\n").is_err());
    }

    #[test]
    fn heredocs() {
        let text =
            "FROM scratch\nCOPY <<EOF <<-'END' /dst/\nhello $X\r\nEOF\n\tbye\n\tEND\nLABEL a=b\n";
        let d = parse(text).unwrap();
        let c = &d.instructions[1];
        assert_eq!(c.heredocs.len(), 2);
        assert_eq!(c.heredocs[0].name, "EOF");
        assert_eq!(c.heredocs[0].content, "hello $X\r\n");
        assert!(c.heredocs[0].expand);
        assert_eq!(c.heredocs[1].name, "END");
        assert!(c.heredocs[1].chomp && !c.heredocs[1].expand);
        assert_eq!(c.heredocs[1].content, "\tbye\n");
        assert_eq!(d.instructions[2].line, 7);
        assert!(parse("FROM scratch\nRUN <<EOF\nno end\n").is_err());
        // JSON form never has heredocs.
        let d = parse("FROM scratch\nRUN [\"echo\", \"<<EOF\"]\nLABEL a=b\n").unwrap();
        assert!(d.instructions[1].heredocs.is_empty());
    }

    #[test]
    fn flags() {
        let d =
            parse("FROM scratch\nCOPY --from=build --chmod=0755 --chown=\"a b\" x y\n").unwrap();
        let c = &d.instructions[1];
        assert_eq!(c.flags, ["--from=build", "--chmod=0755", "--chown=a b"]);
        assert_eq!(c.rest, "x y");
    }

    #[test]
    fn escaped_escape_is_not_continuation() {
        let d = parse("FROM scratch\nLABEL a=b\\\\\nLABEL c=d\n").unwrap();
        assert_eq!(d.instructions.len(), 3);
    }
}
