//! The subset of Go's text/template that package tag templates use.
//!
//! linuxkit renders the tag with `template.New("tag").Parse(t).Execute(w, map{"Hash": h})`.
//! Supported here: literal text, `{{.Hash}}` (any spacing), `{{.}}` (prints
//! `map[Hash:<h>]` as Go does), another field `{{.X}}` (prints `<no value>`, as Go does for a
//! missing map key), comments `{{/* … */}}`, and the trim markers `{{-` / `-}}`.
//! Anything else (pipelines, functions, `if`/`range`, custom delimiters) is rejected with an
//! error naming the construct; none of EVE's or linuxkit's packages use one.

/// A template outside the supported subset, or malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tag template `{template}`: {reason}")]
pub struct TemplateError {
    /// The template text.
    pub template: String,
    /// What is wrong.
    pub reason: String,
}

/// Render `template` with `.Hash` = `hash`.
pub fn render(template: &str, hash: &str) -> Result<String, TemplateError> {
    let fail = |reason: &str| TemplateError {
        template: template.to_string(),
        reason: reason.to_string(),
    };
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let mut text = &rest[..open];
        let mut action = &rest[open + 2..];
        // "{{- " trims the whitespace before the action; the marker needs a space after it.
        if let Some(a) = action
            .strip_prefix("- ")
            .or_else(|| action.strip_prefix("-\t"))
        {
            text = text.trim_end_matches(is_go_space);
            action = a;
        }
        out.push_str(text);
        let close = action.find("}}").ok_or_else(|| fail("unclosed action"))?;
        let mut body = &action[..close];
        rest = &action[close + 2..];
        if let Some(b) = body.strip_suffix(" -").or_else(|| body.strip_suffix("\t-")) {
            body = b;
            rest = rest.trim_start_matches(is_go_space);
        }
        let body = body.trim_matches(is_go_space);
        if body.starts_with("/*") && body.ends_with("*/") {
            continue;
        }
        match body {
            ".Hash" => out.push_str(hash),
            "." => out.push_str(&format!("map[Hash:{hash}]")),
            field
                if field.len() > 1
                    && field.starts_with('.')
                    && field[1..].chars().all(|c| c.is_alphanumeric() || c == '_') =>
            {
                out.push_str("<no value>")
            }
            other => {
                return Err(fail(&format!(
                    "`{{{{{other}}}}}` is not supported (only `{{{{.Hash}}}}` is)"
                )));
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn renders_the_supported_subset() {
        assert_eq!(render("{{.Hash}}", "ab").unwrap(), "ab");
        assert_eq!(render("{{ .Hash }}-dev", "ab").unwrap(), "ab-dev");
        assert_eq!(
            render("v1-{{.Hash}}-kube-dev", "ab").unwrap(),
            "v1-ab-kube-dev"
        );
        assert_eq!(render("x  {{- .Hash -}}  y", "ab").unwrap(), "xaby");
        assert_eq!(render("{{/* note */}}fixed", "ab").unwrap(), "fixed");
        assert_eq!(render("{{.Other}}", "ab").unwrap(), "<no value>");
        assert_eq!(render("{{.}}", "ab").unwrap(), "map[Hash:ab]");
        assert_eq!(render("", "ab").unwrap(), "");
        assert!(render("{{.Hash", "ab").is_err());
        assert!(render("{{printf \"%s\" .Hash}}", "ab").is_err());
    }
}
