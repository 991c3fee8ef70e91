//! Declared licences as SPDX expressions. A package's licence text (apk's `L:`) is kept when
//! it already is a valid expression; otherwise it is split on spaces, known identifiers kept,
//! operators and parentheses dropped, anything else turned into a `LicenseRef-` (with its
//! text recorded for `hasExtractedLicensingInfos`), and the parts joined with ` AND ` — what
//! syft does, so both tools declare the same thing for the same database.

use crate::format::spdx::NOASSERTION;
use std::collections::BTreeMap;

/// Licence references made so far: id → the text it stands for.
#[derive(Debug, Default, Clone)]
pub struct Extracted(pub BTreeMap<String, String>);

impl Extracted {
    /// The SPDX expression for `text` (NOASSERTION when empty).
    pub fn expression(&mut self, text: &str) -> String {
        let text = text.trim();
        if text.is_empty() {
            return NOASSERTION.to_string();
        }
        if spdx::Expression::parse(text).is_ok() && !text.contains("LicenseRef-") {
            return text.to_string();
        }
        let mut parts: Vec<String> = Vec::new();
        for token in text.split_whitespace() {
            let token = token.trim_matches(|c| c == '(' || c == ')' || c == ',');
            if token.is_empty()
                || ["AND", "OR", "WITH"].contains(&token.to_ascii_uppercase().as_str())
            {
                continue;
            }
            let part = match spdx::license_id(token) {
                Some(id) if token.trim_end_matches('+') == id.name => token.to_string(),
                _ => {
                    let id = format!("LicenseRef-{}", sanitise(token));
                    self.0.insert(id.clone(), token.to_string());
                    id
                }
            };
            if !parts.contains(&part) {
                parts.push(part);
            }
        }
        if parts.is_empty() {
            return NOASSERTION.to_string();
        }
        parts.join(" AND ")
    }
}

/// Keeps the characters an SPDX id may hold (`[A-Za-z0-9.-]`), others become `-`.
pub fn sanitise(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_kept_others_referenced() {
        let mut x = Extracted::default();
        assert_eq!(x.expression("MIT"), "MIT");
        assert_eq!(
            x.expression("GPL-2.0-or-later AND LGPL-2.1-only"),
            "GPL-2.0-or-later AND LGPL-2.1-only"
        );
        assert_eq!(x.expression(""), "NOASSERTION");
        assert_eq!(
            x.expression("MIT custom BSD"),
            "MIT AND LicenseRef-custom AND LicenseRef-BSD"
        );
        assert_eq!(
            x.expression("Public Domain"),
            "LicenseRef-Public AND LicenseRef-Domain"
        );
        assert_eq!(
            x.0.get("LicenseRef-custom").map(String::as_str),
            Some("custom")
        );
    }
}
