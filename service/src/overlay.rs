//! How each entry of a scope stands for the people who edit it: a default an org inherits,
//! overrides or hides, an org's own addition, an inactive entry.
//!
//! Pure: the heads of the defaults and of one org in, one line per key out. It agrees with
//! [`crate::resolve`] on what an MCP server sees (the states that are [`Standing::served`]).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::entry::EntryView;

/// Where an entry stands in one scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Standing {
    /// An active entry of the defaults (in the defaults' own scope).
    Default,
    /// A default this org shows as it is.
    Inherited,
    /// An org entry that replaces a default of the same key.
    Override,
    /// An org entry with no default of its key.
    Added,
    /// A default this org hides (a marker without content).
    Hidden,
    /// An entry with content that is switched off (an org's also hides the default).
    Inactive,
}

impl Standing {
    /// Whether MCP servers see the entry.
    pub fn served(self) -> bool {
        matches!(
            self,
            Standing::Default | Standing::Inherited | Standing::Override | Standing::Added
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Default => "default",
            Standing::Inherited => "inherited",
            Standing::Override => "override",
            Standing::Added => "added",
            Standing::Hidden => "hidden",
            Standing::Inactive => "inactive",
        }
    }

    pub const ALL: [Standing; 6] = [
        Standing::Default,
        Standing::Inherited,
        Standing::Override,
        Standing::Added,
        Standing::Hidden,
        Standing::Inactive,
    ];
}

/// One key of a scope: its standing, the scope's own head (none for an inherited default) and
/// the default's (none in the defaults' scope, or when there is no default).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overlaid {
    pub key: String,
    pub standing: Standing,
    pub own: Option<EntryView>,
    pub default: Option<EntryView>,
}

impl Overlaid {
    /// The content a person reads for this key: the scope's own when it has some, else the
    /// default's.
    pub fn content(&self) -> Option<&serde_json::Value> {
        self.own
            .as_ref()
            .and_then(|own| own.content.as_ref())
            .or_else(|| self.default.as_ref().and_then(|d| d.content.as_ref()))
    }
}

/// The standing of one key, given the scope's own head and the default's; `None` when the key
/// shows nowhere (deleted, or an org's deleted entry over no default).
pub fn standing(
    own: Option<&EntryView>,
    default: Option<&EntryView>,
    org_scope: bool,
) -> Option<Standing> {
    let own = own.filter(|e| !e.deleted);
    let default = default.filter(|d| !d.deleted && d.active);
    if !org_scope {
        return own.map(|e| {
            if e.active {
                Standing::Default
            } else {
                Standing::Inactive
            }
        });
    }
    match (own, default) {
        (Some(e), _) if !e.active && e.content.is_none() => Some(Standing::Hidden),
        (Some(e), _) if !e.active => Some(Standing::Inactive),
        (Some(_), Some(_)) => Some(Standing::Override),
        (Some(_), None) => Some(Standing::Added),
        (None, Some(_)) => Some(Standing::Inherited),
        (None, None) => None,
    }
}

/// Every key of a scope with its standing, sorted by key. `defaults` is empty in the defaults'
/// own scope (`own` holds them then).
pub fn overlay(own: Vec<EntryView>, defaults: Vec<EntryView>, org_scope: bool) -> Vec<Overlaid> {
    let mut keys: BTreeMap<String, (Option<EntryView>, Option<EntryView>)> = BTreeMap::new();
    for entry in own {
        let key = entry.key.clone();
        keys.entry(key).or_default().0 = Some(entry);
    }
    for entry in defaults {
        let key = entry.key.clone();
        keys.entry(key).or_default().1 = Some(entry);
    }
    keys.into_iter()
        .filter_map(|(key, (own, default))| {
            let standing = standing(own.as_ref(), default.as_ref(), org_scope)?;
            Some(Overlaid {
                key,
                standing,
                own,
                default: default.filter(|d| !d.deleted && d.active),
            })
        })
        .collect()
}

/// How many entries of each kind of standing a list has.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Entries MCP servers see.
    pub served: usize,
    pub overrides: usize,
    pub added: usize,
    pub hidden: usize,
    pub inactive: usize,
}

impl Counts {
    pub fn of(entries: &[Overlaid]) -> Self {
        let mut counts = Counts::default();
        for entry in entries {
            counts.served += usize::from(entry.standing.served());
            match entry.standing {
                Standing::Override => counts.overrides += 1,
                Standing::Added => counts.added += 1,
                Standing::Hidden => counts.hidden += 1,
                Standing::Inactive => counts.inactive += 1,
                Standing::Default | Standing::Inherited => {}
            }
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(key: &str, version: u64, active: bool, deleted: bool) -> EntryView {
        EntryView {
            key: key.into(),
            version,
            active,
            deleted,
            revision: 1,
            updated_at: 0,
            content: (version > 0).then(|| json!({"messages": []})),
        }
    }

    #[test]
    fn every_standing_of_an_org_key() {
        let default = entry("a", 1, true, false);
        let cases = [
            (None, Some(&default), Some(Standing::Inherited)),
            (
                Some(entry("a", 2, true, false)),
                Some(&default),
                Some(Standing::Override),
            ),
            (
                Some(entry("a", 1, true, false)),
                None,
                Some(Standing::Added),
            ),
            (
                Some(entry("a", 0, false, false)),
                Some(&default),
                Some(Standing::Hidden),
            ),
            (
                Some(entry("a", 3, false, false)),
                Some(&default),
                Some(Standing::Inactive),
            ),
            // A deleted override lets the default show again.
            (
                Some(entry("a", 3, true, true)),
                Some(&default),
                Some(Standing::Inherited),
            ),
            (Some(entry("a", 3, true, true)), None, None),
        ];
        for (own, default, expected) in cases {
            assert_eq!(standing(own.as_ref(), default, true), expected, "{own:?}");
        }
    }

    #[test]
    fn an_inactive_or_deleted_default_is_not_inherited() {
        let off = entry("a", 1, false, false);
        let gone = entry("a", 1, true, true);
        assert_eq!(standing(None, Some(&off), true), None);
        assert_eq!(standing(None, Some(&gone), true), None);
        assert_eq!(standing(Some(&off), None, false), Some(Standing::Inactive));
        assert_eq!(standing(Some(&gone), None, false), None);
    }

    #[test]
    fn overlay_merges_keys_and_counts_them() {
        let defaults = vec![
            entry("a", 1, true, false),
            entry("b", 1, true, false),
            entry("c", 1, true, false),
        ];
        let own = vec![
            entry("b", 2, true, false),
            entry("c", 0, false, false),
            entry("d", 1, true, false),
        ];
        let lines = overlay(own, defaults, true);
        let standings: Vec<_> = lines.iter().map(|l| (l.key.as_str(), l.standing)).collect();
        assert_eq!(
            standings,
            [
                ("a", Standing::Inherited),
                ("b", Standing::Override),
                ("c", Standing::Hidden),
                ("d", Standing::Added),
            ]
        );
        assert_eq!(
            Counts::of(&lines),
            Counts {
                served: 3,
                overrides: 1,
                added: 1,
                hidden: 1,
                inactive: 0
            }
        );
        assert!(lines[2].content().is_some(), "a hidden default still reads");
    }
}
