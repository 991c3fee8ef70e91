//! build.yml `buildArgs` values that name other packages (linuxkit `TransformBuildArgValue`):
//! `K=@lkt:pkg:<path>` becomes `K=<that package's tag>`; `K_%=@lkt:pkgs:<glob>` becomes one
//! `K_<IMAGE>=<tag>` per package directory the glob matches (`%` replaced by the image name
//! upper-cased with `-` and `/` as `_`). Paths are relative to the build.yml's directory. Tags
//! are computed with the default build.yml at HEAD, as linuxkit does.

use crate::Error;
use evebuild_linuxkit::tag::{ShowTagOptions, show_tag};
use std::path::{Path, PathBuf};

/// Expands one `K=V` line.
pub fn expand(line: &str, build_yml: &Path) -> Result<Vec<(String, String)>, Error> {
    let bad = |m: String| Error::Other(format!("{}: buildArgs {line:?}: {m}", build_yml.display()));
    let Some((key, val)) = line.split_once('=') else {
        return Err(bad("must be in format 'arg=value'".into()));
    };
    let Some(special) = val.strip_prefix("@lkt:") else {
        return Ok(vec![(key.to_string(), val.to_string())]);
    };
    let anchor = build_yml.parent().unwrap_or(Path::new("."));
    let tag_of = |dir: &Path| {
        show_tag(dir, &ShowTagOptions::default().with_env()).map_err(|e| bad(e.to_string()))
    };
    if let Some(p) = special.strip_prefix("pkg:") {
        let dir = anchor.join(p);
        return Ok(vec![(key.to_string(), tag_of(&dir)?.reference())]);
    }
    if let Some(p) = special.strip_prefix("pkgs:") {
        if !key.contains('%') {
            return Err(bad(format!(
                "invalid build arg key {key:?}, must contain a '%'"
            )));
        }
        let dirs = glob_dirs(&anchor.join(p));
        if dirs.is_empty() {
            return Err(bad(format!("no packages found matching path {p:?}")));
        }
        let mut out = Vec::new();
        for d in dirs {
            let t = tag_of(&d)?;
            let image = format!("{}/{}", t.org, t.image)
                .replace(['/', '-'], "_")
                .to_uppercase();
            out.push((key.replace('%', &image), t.reference()));
        }
        return Ok(out);
    }
    Err(bad(format!("unknown linuxkit build arg value {val:?}")))
}

/// Directories matching `pattern` (wildcards in any component), hidden ones skipped, sorted.
fn glob_dirs(pattern: &Path) -> Vec<PathBuf> {
    let mut current = vec![PathBuf::new()];
    for comp in pattern.components() {
        let c = comp.as_os_str().to_string_lossy().into_owned();
        let mut next = Vec::new();
        for base in &current {
            if c.contains(['*', '?', '[']) {
                let dir = if base.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    base.as_path()
                };
                let mut names: Vec<String> = std::fs::read_dir(dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| crate::native::component_match(c.as_bytes(), n.as_bytes()))
                    .collect();
                names.sort();
                next.extend(names.into_iter().map(|n| base.join(n)));
            } else {
                next.push(base.join(comp));
            }
        }
        current = next;
    }
    current
        .into_iter()
        .filter(|p| p.is_dir())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect()
}
