//! Domain types parsed once at the edge ("parse, don't validate"): a value of one of these types
//! is valid by construction, and every parse error names the field it came from.

mod change_request;
mod label;
mod rollout;
pub mod upstream;
mod uri_template;
mod view;
mod webhook;

pub use change_request::{
    ApprovalPolicy, ApprovalRules, ApproverRole, LabelPolicy, MAX_APPROVALS, MAX_ITEMS,
    RequestAction, RequestEdit, RequestItems, RequestMove, RequestState, Reviewer, next_state,
};
pub use label::{Label, Labels, ReleasePolicy};
pub use rollout::{Cohort, MAX_LISTED_ORGS, bucket};
pub use upstream::Upstream;
pub use uri_template::{UriPattern, is_uri_template};
pub use view::{Invalidation, OrgFilter, ViewKey};
pub use webhook::{EventType, Outcome, RetrySchedule, Subscription, check_url, is_public};

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The input was rejected; `field` says which part of it (e.g. `org_id`, `prompts[2].name`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {message}")]
pub struct InvalidInput {
    pub field: String,
    pub message: String,
}

impl InvalidInput {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same problem, found inside a larger input at `prefix` (e.g. an entry of a bundle).
    pub fn within(self, prefix: &str) -> Self {
        let field = if self.field.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{}", self.field)
        };
        Self {
            field,
            message: self.message,
        }
    }
}

/// Longest prompt name or resource URI accepted.
pub const MAX_KEY_LEN: usize = 512;

/// An org or server identifier: `[a-z0-9][a-z0-9-]{0,62}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidInput> {
        let bytes = value.as_bytes();
        let valid = !bytes.is_empty()
            && bytes.len() <= 63
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(InvalidInput::new(
                field,
                format!("{value:?} is not a slug ([a-z0-9][a-z0-9-]{{0,62}})"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Slug::parse("slug", &raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Whose entries: the system defaults, or one org's overrides.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Defaults,
    Org(Slug),
}

impl Scope {
    /// Parses a request's optional org: empty means the defaults.
    pub fn parse_optional(field: &str, value: &str) -> Result<Self, InvalidInput> {
        if value.is_empty() {
            Ok(Scope::Defaults)
        } else {
            Slug::parse(field, value).map(Scope::Org)
        }
    }

    /// The scope as messages name it: "the defaults" or "org acme".
    pub fn describe(&self) -> String {
        match self {
            Scope::Defaults => "the defaults".to_owned(),
            Scope::Org(org) => format!("org {org}"),
        }
    }

    /// The org column's value: the defaults are stored with an empty org.
    pub fn as_str(&self) -> &str {
        match self {
            Scope::Defaults => "",
            Scope::Org(slug) => slug.as_str(),
        }
    }
}

/// Which of an MCP server's lists an entry belongs to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Kind {
    Prompts,
    Resources,
}

impl Kind {
    pub const ALL: [Kind; 2] = [Kind::Prompts, Kind::Resources];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Prompts => "PROMPTS",
            Kind::Resources => "RESOURCES",
        }
    }

    /// How the admin API's and the UI's paths name it.
    pub fn segment(self) -> &'static str {
        match self {
            Kind::Prompts => "prompts",
            Kind::Resources => "resources",
        }
    }

    /// What the key of an entry of this kind is called in messages and errors.
    pub fn key_field(self) -> &'static str {
        match self {
            Kind::Prompts => "name",
            Kind::Resources => "uri",
        }
    }
}

impl FromStr for Kind {
    type Err = InvalidInput;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        match value {
            "PROMPTS" | "prompts" => Ok(Kind::Prompts),
            "RESOURCES" | "resources" => Ok(Kind::Resources),
            other => Err(InvalidInput::new(
                "kind",
                format!("{other:?} is not prompts or resources"),
            )),
        }
    }
}

/// A prompt name or a resource URI: the key an entry is known by within (scope, server, kind).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct EntryKey(String);

impl EntryKey {
    pub fn parse(kind: Kind, value: &str) -> Result<Self, InvalidInput> {
        let field = kind.key_field();
        if value.is_empty() {
            return Err(InvalidInput::new(field, "must not be empty"));
        }
        if value.len() > MAX_KEY_LEN {
            return Err(InvalidInput::new(
                field,
                format!("longer than {MAX_KEY_LEN} bytes"),
            ));
        }
        if value.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(InvalidInput::new(
                field,
                "must not contain whitespace or control characters",
            ));
        }
        // Zero-width, bidirectional and other format characters make two keys that look the
        // same (or a key that reads backwards).
        if let Some(c) = value.chars().find(|&c| {
            unicode_general_category::get_general_category(c)
                == unicode_general_category::GeneralCategory::Format
        }) {
            return Err(InvalidInput::new(
                field,
                format!(
                    "must not contain invisible or bidirectional characters (U+{:04X})",
                    c as u32
                ),
            ));
        }
        // One spelling per name: a decomposed "café" is the composed one.
        let value: String = unicode_normalization::UnicodeNormalization::nfc(value).collect();
        let value = value.as_str();
        if kind == Kind::Resources && !looks_like_uri(value) {
            return Err(InvalidInput::new(
                field,
                format!("{value:?} is not a URI (scheme:rest)"),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EntryKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether `name` can be used as a template variable.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128
}

/// RFC 3986's `scheme ":" …`: a letter, then letters, digits, `+`, `-` or `.`, then a colon.
fn looks_like_uri(value: &str) -> bool {
    match value.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

/// One global, strictly increasing number per committed change.
pub type Revision = u64;

/// On the wire a scope is its org's slug, and the defaults are `""` (as in events and the
/// change log).
impl Serialize for Scope {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = String::deserialize(deserializer)?;
        Scope::parse_optional("org", &value).map_err(serde::de::Error::custom)
    }
}

/// Identifies one entry: its scope, server, kind and key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntryId {
    pub scope: Scope,
    pub server: Slug,
    pub kind: Kind,
    pub key: EntryKey,
}

impl EntryId {
    /// The view of its own scope that holds the entry, at `label`.
    pub fn view_key(&self, label: Label) -> ViewKey {
        ViewKey {
            kind: self.kind,
            scope: self.scope.clone(),
            server: self.server.clone(),
            label,
        }
    }
}

/// How an entry is named in messages (not-found errors say this, whichever door was used).
impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} of server {} in ",
            self.kind.key_field(),
            self.key.as_str(),
            self.server
        )?;
        match &self.scope {
            Scope::Defaults => f.write_str("the defaults"),
            Scope::Org(org) => write!(f, "org {org}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_follow_the_designs_rule() {
        for good in ["acme", "a", "0-team", &"a".repeat(63)] {
            assert!(Slug::parse("org_id", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Acme",
            "-acme",
            "ac me",
            "acme_1",
            "ä",
            &"a".repeat(64),
            "a;drop",
        ] {
            let err = Slug::parse("org_id", bad).unwrap_err();
            assert_eq!(err.field, "org_id", "{bad}");
        }
    }

    #[test]
    fn empty_org_means_the_defaults() {
        assert_eq!(
            Scope::parse_optional("org_id", "").unwrap(),
            Scope::Defaults
        );
        assert_eq!(
            Scope::parse_optional("org_id", "acme").unwrap().as_str(),
            "acme"
        );
    }

    #[test]
    fn keys_that_look_alike_are_one_key_or_refused() {
        let composed = EntryKey::parse(Kind::Prompts, "caf\u{e9}").unwrap();
        let decomposed = EntryKey::parse(Kind::Prompts, "cafe\u{301}").unwrap();
        assert_eq!(composed, decomposed, "NFC: one spelling per name");
        for invisible in [
            "re\u{200b}view",
            "review\u{202e}fdp",
            "\u{2066}x",
            "\u{feff}x",
        ] {
            let err = EntryKey::parse(Kind::Prompts, invisible).unwrap_err();
            assert_eq!(err.field, "name", "{invisible:?}");
            assert!(err.message.contains("invisible"), "{}", err.message);
        }
        assert!(EntryKey::parse(Kind::Resources, "file:///caf\u{e9}/\u{200d}").is_err());
    }

    #[test]
    fn resource_keys_must_be_uris_and_prompt_keys_plain_names() {
        assert!(EntryKey::parse(Kind::Resources, "file:///docs/readme.md").is_ok());
        assert!(EntryKey::parse(Kind::Resources, "docs/readme.md").is_err());
        assert!(EntryKey::parse(Kind::Resources, "1http://x").is_err());
        assert!(EntryKey::parse(Kind::Prompts, "review-pr").is_ok());
        assert_eq!(
            EntryKey::parse(Kind::Prompts, "has space")
                .unwrap_err()
                .field,
            "name"
        );
        assert_eq!(
            EntryKey::parse(Kind::Resources, "").unwrap_err().field,
            "uri"
        );
    }

    #[test]
    fn nested_errors_keep_the_path_to_the_field() {
        let err = InvalidInput::new("name", "bad").within("orgs.acme.servers.github.prompts[1]");
        assert_eq!(err.field, "orgs.acme.servers.github.prompts[1].name");
    }
}
