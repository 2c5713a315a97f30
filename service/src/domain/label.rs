//! Release labels: named pointers from an entry to one of its states, and the policy that says
//! whether a save moves `production` by itself.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{InvalidInput, Slug};

/// A release label. `production` is what a read that names no label gets; `latest` is every
/// entry's newest state and moves by itself; any other slug is a label created by moving it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Label {
    #[default]
    Production,
    Latest,
    Named(Slug),
}

impl Label {
    pub const PRODUCTION: &'static str = "production";
    pub const LATEST: &'static str = "latest";

    /// A label as a caller names it; empty is `production` (every door's default).
    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidInput> {
        match value {
            "" | Self::PRODUCTION => Ok(Self::Production),
            Self::LATEST => Ok(Self::Latest),
            other => Slug::parse(field, other).map(Self::Named).map_err(|_| {
                InvalidInput::new(
                    field,
                    format!("{other:?} is not a label name ([a-z0-9][a-z0-9-]{{0,62}})"),
                )
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Self::Production => Self::PRODUCTION,
            Self::Latest => Self::LATEST,
            Self::Named(name) => name.as_str(),
        }
    }

    /// Whether this label points where each entry's head is, in a scope of `policy`: `latest`
    /// always, `production` in an auto scope. Such a label has no rows of its own.
    pub fn follows_head(&self, policy: ReleasePolicy) -> bool {
        matches!(
            (self, policy),
            (Self::Latest, _) | (Self::Production, ReleasePolicy::Auto)
        )
    }

    /// Why this label cannot be moved (promoted, rolled out) in a scope of `policy`, if it
    /// cannot: `latest` moves with every save, and so does `production` in an auto scope.
    pub fn unmovable(&self, policy: ReleasePolicy) -> Option<&'static str> {
        match (self, policy) {
            (Self::Latest, _) => Some("`latest` moves by itself: every save moves it"),
            (Self::Production, ReleasePolicy::Auto) => Some(
                "`production` follows every save of this scope (release policy auto); set the policy to manual first",
            ),
            _ => None,
        }
    }

    /// Whether views at this label are shared through L2: only `production` ones, the views
    /// fleets read; a staging view is read by few and stays in L1 and the store.
    pub fn is_production(&self) -> bool {
        matches!(self, Self::Production)
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Label {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Label {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Label::parse("label", &raw).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Which labels a change moved: the views at other labels are untouched by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Labels {
    /// Every label (what a change recorded before labels existed means).
    All,
    Only(Vec<Label>),
}

impl Labels {
    pub fn contains(&self, label: &Label) -> bool {
        match self {
            Self::All => true,
            Self::Only(labels) => labels.contains(label),
        }
    }

    /// The labels as stored and sent: none listed means every label.
    pub fn as_slice(&self) -> &[Label] {
        match self {
            Self::All => &[],
            Self::Only(labels) => labels,
        }
    }

    /// The labels named on the wire or in the change log; none: every label.
    pub fn from_names<'a>(
        field: &str,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InvalidInput> {
        let labels = names
            .into_iter()
            .map(|name| Label::parse(field, name))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(if labels.is_empty() {
            Self::All
        } else {
            Self::Only(labels)
        })
    }
}

/// Whether a save of a scope (the defaults or an org, for one server) goes live by itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReleasePolicy {
    /// Every save moves `production` with `latest` (the behaviour before labels).
    #[default]
    Auto,
    /// A save moves only `latest`; `production` moves when someone promotes.
    Manual,
}

impl ReleasePolicy {
    /// The labels a save in a scope of this policy moves.
    pub fn saved_labels(self) -> Labels {
        match self {
            Self::Auto => Labels::Only(vec![Label::Latest, Label::Production]),
            Self::Manual => Labels::Only(vec![Label::Latest]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_production_and_names_are_slugs() {
        assert_eq!(Label::parse("label", "").unwrap(), Label::Production);
        assert_eq!(Label::parse("label", "latest").unwrap(), Label::Latest);
        assert_eq!(
            Label::parse("label", "staging").unwrap().as_str(),
            "staging"
        );
        let bad = Label::parse("label", "Staging!").unwrap_err();
        assert_eq!(bad.field, "label");
        assert!(bad.message.contains("not a label name"), "{}", bad.message);
    }

    #[test]
    fn a_change_naming_no_label_touches_every_label() {
        let none = Labels::from_names("labels", []).unwrap();
        assert!(none.contains(&Label::Named(Slug::parse("l", "canary").unwrap())));
        let manual = ReleasePolicy::Manual.saved_labels();
        assert!(manual.contains(&Label::Latest));
        assert!(!manual.contains(&Label::Production));
        assert!(
            ReleasePolicy::Auto
                .saved_labels()
                .contains(&Label::Production)
        );
    }
}
