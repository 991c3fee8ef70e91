//! Which images a Dockerfile reads: its `FROM` and `COPY --from` references that are not
//! stages, with `ARG`s expanded (global `ARG` defaults, overridden by build args, plus the
//! automatic platform args). This decides package build order (EVE's `get-deps`) and the inputs
//! a build is keyed by.

use crate::dockerfile::lex::Lexer;
use crate::dockerfile::{Command, Dockerfile};

/// The image references (as written after expansion) the Dockerfile's stages read, in order,
/// without repeats. `scratch` and stage names are left out; unexpandable ones are skipped.
pub fn image_refs(df: &Dockerfile, build_args: &[(String, String)], arch: &str) -> Vec<String> {
    let lex = Lexer::new(df.escape);
    let mut env: Vec<(String, String)> = [
        ("TARGETPLATFORM", format!("linux/{arch}")),
        ("TARGETOS", "linux".into()),
        ("TARGETARCH", arch.into()),
        ("BUILDPLATFORM", format!("linux/{arch}")),
        ("BUILDOS", "linux".into()),
        ("BUILDARCH", arch.into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, default) in &df.global_args {
        let given = build_args
            .iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone());
        let v = given.or_else(|| {
            default
                .as_ref()
                .and_then(|d| lex.process_word(d, &env).ok())
        });
        if let Some(v) = v {
            env.push((k.clone(), v));
        }
    }
    let mut out: Vec<String> = Vec::new();
    let push = |r: String, out: &mut Vec<String>| {
        if r != "scratch" && !r.is_empty() && !out.contains(&r) {
            out.push(r);
        }
    };
    for (i, s) in df.stages.iter().enumerate() {
        if let Ok(base) = lex.process_word(&s.base, &env)
            && df.stage_index(&base, i).is_none()
        {
            push(base, &mut out);
        }
        for ins in &s.instructions {
            if let Command::Copy(c) | Command::Add(c) = &ins.command
                && let Some(f) = &c.from
                && let Ok(f) = lex.process_word(f, &env)
                && df.stage_index(&f, i).is_none()
            {
                push(f, &mut out);
            }
        }
    }
    out
}
