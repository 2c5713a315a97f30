//! Resource templates (MCP `resources/templates/list`): a resource whose URI is an RFC 6570
//! URI template, read with any URI it matches, its text rendered with the URI's variables.
//!
//! Level 2 (`{var}`, `{+var}`, `{#var}`): matching a URI back to its variables is what a
//! server of templates needs, and RFC 6570 defines only expansion; `uri-template-ex` does both
//! for that level.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, LazyLock},
};

use uri_template_ex::UriTemplate;

use super::{InvalidInput, is_identifier};

/// Whether a resource's URI is meant as a template: a save of one must parse as a
/// [`UriPattern`]. Reads go by [`UriPattern::cached`]: a key with a `{` stored before templates
/// existed that is no template stays a resource of its own.
pub fn is_uri_template(uri: &str) -> bool {
    uri.contains('{')
}

/// A parsed resource template URI.
pub struct UriPattern(UriTemplate);

/// Parsed templates by URI: a read that misses every resource tries each template of the view,
/// and compiling a template (a regex) per read would cost more than the read.
static PATTERNS: LazyLock<moka::sync::Cache<String, Option<Arc<UriPattern>>>> =
    LazyLock::new(|| moka::sync::Cache::new(10_000));

impl UriPattern {
    /// Parses `uri`; each variable must be an identifier, since it becomes a template variable
    /// of the resource's text.
    pub fn parse(field: &str, uri: &str) -> Result<Self, InvalidInput> {
        let template = UriTemplate::new(uri).map_err(|e| {
            InvalidInput::new(
                field,
                format!("not an RFC 6570 URI template: {}", e.to_string().trim()),
            )
        })?;
        if template.var_names().next().is_none() {
            return Err(InvalidInput::new(
                field,
                "a URI template needs a {variable}",
            ));
        }
        if let Some(bad) = template.var_names().find(|name| !is_identifier(name)) {
            return Err(InvalidInput::new(
                field,
                format!("{{{bad}}}: a variable must be an identifier (letters, digits, _)"),
            ));
        }
        let mut seen = HashSet::new();
        if let Some(twice) = template.var_names().find(|name| !seen.insert(*name)) {
            return Err(InvalidInput::new(
                field,
                format!("{{{twice}}} appears twice: each variable names one part of the URI"),
            ));
        }
        Ok(Self(template))
    }

    /// The template `uri` is, parsed once per process (`None`: it is none).
    pub fn cached(uri: &str) -> Option<Arc<Self>> {
        if !is_uri_template(uri) {
            return None;
        }
        PATTERNS.get_with_by_ref(uri, || Self::parse("uri", uri).ok().map(Arc::new))
    }

    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.0.var_names()
    }

    /// The variables of `uri` if it matches, percent-decoded.
    pub fn matches(&self, uri: &str) -> Option<HashMap<String, String>> {
        let captures = self.0.captures(uri)?;
        captures
            .iter()
            .map(|(name, found)| {
                let value = match found {
                    Some(m) => m.value().ok()?.into_owned(),
                    None => String::new(),
                };
                Some((name.to_owned(), value))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_matching_uri_gives_its_variables_and_others_do_not_match() {
        let pattern = UriPattern::parse("uri", "test://template/{id}/data").unwrap();
        assert_eq!(pattern.variables().collect::<Vec<_>>(), ["id"]);
        let vars = pattern.matches("test://template/123/data").unwrap();
        assert_eq!(vars["id"], "123");
        assert_eq!(
            pattern.matches("test://template/a%20b/data").unwrap()["id"],
            "a b"
        );
        assert!(pattern.matches("test://template/1/2/data").is_none());
        assert!(pattern.matches("test://other/1/data").is_none());
    }

    #[test]
    fn variables_must_be_identifiers_and_present() {
        assert!(UriPattern::parse("uri", "file:///{a-b}").is_err());
        assert!(UriPattern::parse("uri", "file:///{unclosed").is_err());
        assert!(
            UriPattern::parse("uri", "x:{a}/{a}").is_err(),
            "a variable twice"
        );
        assert!(UriPattern::cached("file:///{ok}").is_some());
        assert!(UriPattern::cached("file:///{not ok}").is_none());
        assert!(UriPattern::cached("file:///plain").is_none());
        let err = UriPattern::parse("uri", "file:///{}").err().unwrap();
        assert_eq!(err.field, "uri");
        assert!(is_uri_template("file:///{x}") && !is_uri_template("file:///x"));
    }
}
