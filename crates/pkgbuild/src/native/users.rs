//! `--chown` and `WORKDIR` owners: `user[:group]` as numbers, or names looked up in the
//! stage's own `/etc/passwd` and `/etc/group`. A user given without a group gets the same
//! number as its group, as docker does.

use super::{Builder, State, read_node};
use crate::Error;
use evebuild_tree::EntryPath;

/// Resolves `spec` (`user`, `user:group`, numeric or named) in the stage `st`.
pub(super) fn resolve_owner(
    b: &Builder<'_>,
    st: &mut State,
    spec: &str,
    line: usize,
) -> Result<(u32, u32), Error> {
    if spec.is_empty() {
        return Ok((0, 0));
    }
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(b, st, "etc/passwd", user, 2)?.ok_or_else(|| {
            b.err(
                line,
                format!("unable to find user {user}: no matching entries in /etc/passwd"),
            )
        })?,
    };
    let gid = match group {
        None => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(b, st, "etc/group", g, 2)?.ok_or_else(|| {
                b.err(
                    line,
                    format!("unable to find group {g}: no matching entries in /etc/group"),
                )
            })?,
        },
    };
    Ok((uid, gid))
}

/// Field `field` (0-based) of the line of `file` whose first field is `name`.
fn lookup(
    b: &Builder<'_>,
    st: &mut State,
    file: &str,
    name: &str,
    field: usize,
) -> Result<Option<u32>, Error> {
    let fs = b.fs(st)?;
    let path = EntryPath::new(file).expect("static path");
    let Some(real) = fs.resolve(&path, true).map_err(Error::Other)? else {
        return Ok(None);
    };
    let Some(node) = fs.get(&real) else {
        return Ok(None);
    };
    let text = read_node(node, b.o.images)?;
    Ok(String::from_utf8_lossy(&text).lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.first() == Some(&name))
            .then(|| f.get(field).and_then(|v| v.parse().ok()))
            .flatten()
    }))
}
