//! Dockerfiles: parsing ([`parse`]), argument syntax ([`instruction`]) and variable expansion
//! ([`lex`]), following BuildKit's frontend (the `dockerfile.v0` frontend linuxkit drives).
//!
//! [`Dockerfile::parse`] gives the global `ARG`s (before the first `FROM`) and the stages.
//! Errors name the file and line.

pub mod instruction;
pub mod lex;
pub mod parse;

pub use instruction::{CmdLine, Command, CopyArgs, Health, Instruction, Stage};

use std::path::{Path, PathBuf};

/// A syntax error in a Dockerfile, with its file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}:{line}: {message}", file.display())]
pub struct SyntaxError {
    /// The Dockerfile.
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone)]
pub struct Dockerfile {
    /// Where it was read from (for messages).
    pub path: PathBuf,
    /// The escape character.
    pub escape: char,
    /// `ARG`s before the first `FROM`: visible to `FROM` lines, and to stages that redeclare them.
    pub global_args: Vec<(String, Option<String>)>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// Warnings (line, message), e.g. empty continuation lines.
    pub warnings: Vec<(usize, String)>,
}

impl Dockerfile {
    /// Parses `text`; `path` is used in error messages.
    pub fn parse(text: &str, path: &Path) -> Result<Dockerfile, SyntaxError> {
        let err = |line, message| SyntaxError {
            file: path.to_path_buf(),
            line,
            message,
        };
        let raw = parse::parse(text).map_err(|e| err(e.line, e.message))?;
        let mut global_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for ri in &raw.instructions {
            let command = instruction::interpret(ri, raw.escape).map_err(|m| err(ri.line, m))?;
            match command {
                Command::From {
                    image,
                    name,
                    platform,
                } => {
                    if let Some(n) = &name
                        && stages.iter().any(|s| s.name.as_ref() == Some(n))
                    {
                        return Err(err(ri.line, format!("duplicate stage name {n:?}")));
                    }
                    stages.push(Stage {
                        base: image,
                        name,
                        platform,
                        line: ri.line,
                        instructions: Vec::new(),
                    });
                }
                command => match stages.last_mut() {
                    Some(stage) => stage.instructions.push(Instruction {
                        command,
                        line: ri.line,
                        original: ri.original.clone(),
                    }),
                    None => match command {
                        Command::Arg(args) => global_args.extend(args),
                        _ => {
                            return Err(err(
                                ri.line,
                                format!(
                                    "{} before the first FROM (only ARG may come before FROM)",
                                    ri.keyword.to_ascii_uppercase()
                                ),
                            ));
                        }
                    },
                },
            }
        }
        if stages.is_empty() {
            return Err(err(1, "no FROM instruction".into()));
        }
        Ok(Dockerfile {
            path: path.to_path_buf(),
            escape: raw.escape,
            global_args,
            stages,
            warnings: raw.warnings,
        })
    }

    /// Reads and parses a Dockerfile from disk.
    pub fn read(path: &Path) -> Result<Dockerfile, crate::Error> {
        let bytes = std::fs::read(path).map_err(|e| crate::Error::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|_| {
            crate::Error::Syntax(SyntaxError {
                file: path.to_path_buf(),
                line: 1,
                message: "not UTF-8 text".into(),
            })
        })?;
        Ok(Dockerfile::parse(&text, path)?)
    }

    /// Index of the stage called `name` (or numbered `name`), if any.
    pub fn stage_index(&self, name: &str, before: usize) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        if let Some(i) = self.stages[..before]
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Some(i);
        }
        name.parse::<usize>().ok().filter(|i| *i < before)
    }
}
