//! The effective view: the defaults of a server overlaid by one org's entries.
//!
//! Pure: rows in, view out. An org's active entry replaces (or adds) the entry of its key, an
//! inactive one hides it, a deleted one lets the default show again; inactive and deleted
//! defaults are gone for everyone. The view's revision is the highest revision of any row that
//! touched it, hidden and deleted ones included, so a change that removes an entry still moves it.

use std::collections::BTreeMap;

use crate::{
    domain::{Revision, Scope},
    store::ViewRow,
};

/// The entries of an effective view, sorted by key, with their stored content.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EffectiveView {
    pub revision: Revision,
    /// (key, stored JSON content), sorted by key.
    pub entries: Vec<(String, String)>,
}

/// Merges the rows of the defaults and of at most one org.
pub fn resolve(rows: Vec<ViewRow>) -> EffectiveView {
    let revision = rows.iter().map(|r| r.revision).max().unwrap_or(0);
    let (defaults, overrides): (Vec<_>, Vec<_>) =
        rows.into_iter().partition(|r| r.org == Scope::Defaults);
    let mut entries = BTreeMap::new();
    for row in defaults {
        if let (true, false, Some(body)) = (row.active, row.deleted, row.body) {
            entries.insert(row.key, body);
        }
    }
    for row in overrides {
        match (row.deleted, row.active, row.body) {
            (true, _, _) => {}
            (false, false, _) => {
                entries.remove(&row.key);
            }
            (false, true, Some(body)) => {
                entries.insert(row.key, body);
            }
            (false, true, None) => {}
        }
    }
    EffectiveView {
        revision,
        entries: entries.into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(org: &str, key: &str, revision: Revision, body: &str) -> ViewRow {
        ViewRow {
            org: Scope::parse_optional("org", org).unwrap(),
            key: key.into(),
            active: true,
            deleted: false,
            revision,
            body: Some(body.into()),
        }
    }

    fn keys_and_bodies(view: &EffectiveView) -> Vec<(&str, &str)> {
        view.entries
            .iter()
            .map(|(k, b)| (k.as_str(), b.as_str()))
            .collect()
    }

    #[test]
    fn defaults_only_when_no_org_rows() {
        let view = resolve(vec![row("", "b", 2, "B"), row("", "a", 1, "A")]);
        assert_eq!(keys_and_bodies(&view), [("a", "A"), ("b", "B")]);
        assert_eq!(view.revision, 2);
    }

    #[test]
    fn an_override_replaces_the_default_whole() {
        let view = resolve(vec![
            row("", "a", 1, "default"),
            row("acme", "a", 5, "acme's"),
        ]);
        assert_eq!(keys_and_bodies(&view), [("a", "acme's")]);
        assert_eq!(view.revision, 5);
    }

    #[test]
    fn an_org_adds_entries_of_its_own_in_key_order() {
        let view = resolve(vec![
            row("", "m", 1, "M"),
            row("acme", "a", 3, "A"),
            row("acme", "z", 4, "Z"),
        ]);
        assert_eq!(keys_and_bodies(&view), [("a", "A"), ("m", "M"), ("z", "Z")]);
    }

    #[test]
    fn an_inactive_org_row_hides_the_default_and_still_moves_the_revision() {
        let hide = ViewRow {
            active: false,
            body: None,
            ..row("acme", "a", 9, "")
        };
        let view = resolve(vec![row("", "a", 1, "A"), row("", "b", 2, "B"), hide]);
        assert_eq!(keys_and_bodies(&view), [("b", "B")]);
        assert_eq!(view.revision, 9);
    }

    #[test]
    fn a_deleted_override_lets_the_default_show_again() {
        let deleted = ViewRow {
            deleted: true,
            ..row("acme", "a", 7, "old override")
        };
        let view = resolve(vec![row("", "a", 1, "A"), deleted]);
        assert_eq!(keys_and_bodies(&view), [("a", "A")]);
        assert_eq!(view.revision, 7);
    }

    #[test]
    fn inactive_and_deleted_defaults_are_gone() {
        let inactive = ViewRow {
            active: false,
            ..row("", "a", 1, "A")
        };
        let deleted = ViewRow {
            deleted: true,
            ..row("", "b", 2, "B")
        };
        let view = resolve(vec![inactive, deleted]);
        assert!(view.entries.is_empty());
        assert_eq!(view.revision, 2);
    }

    #[test]
    fn an_empty_view_has_revision_zero() {
        assert_eq!(resolve(vec![]), EffectiveView::default());
    }
}
