//! What an import changes: a bundle's plan compared with the store, entry by entry, as the
//! diff a dry run shows and the writes a real one commits.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Desired, Plan};
use crate::{
    content::Content,
    domain::{EntryId, EntryKey, Kind, Scope, Slug},
    error::Result,
    store::{Head, Store, UpstreamOp, UpstreamWrite, Write, WriteOp},
};

/// What a bundle import did (or, dry, would do) to one entry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum EntryDiff {
    Added,
    Changed,
    Removed,
    Unchanged,
}

impl EntryDiff {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryDiff::Added => "added",
            EntryDiff::Changed => "changed",
            EntryDiff::Removed => "removed",
            EntryDiff::Unchanged => "unchanged",
        }
    }
}

/// One entry of an import's diff.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct DiffLine {
    /// `""` for the defaults, in JSON.
    #[schema(value_type = String)]
    pub org: Scope,
    #[schema(value_type = String)]
    pub server: Slug,
    pub kind: Kind,
    pub key: String,
    pub diff: EntryDiff,
    /// The stored content before the import and the content after it (JSON; `None` where
    /// there is none), for a person to review; the API's report leaves them out.
    #[serde(skip)]
    pub before: Option<String>,
    #[serde(skip)]
    pub after: Option<String>,
}

/// What an import did, or (dry) would do: the diff entry by entry, and its counts.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default, ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    pub entries: Vec<DiffLine>,
    /// Revisions committed (empty when dry or when nothing changed).
    pub revisions: Vec<u64>,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
    /// The upstreams the bundle sets, server by server (never removed by an import).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub upstreams: Vec<UpstreamLine>,
}

/// What an import did (or, dry, would do) to one server's upstream.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct UpstreamLine {
    #[schema(value_type = String)]
    pub server: Slug,
    pub diff: EntryDiff,
}

/// The upstream lines of `plan` and the writes that apply them: a set whose content is the
/// stored one is unchanged, and not written.
pub async fn diff_upstreams(
    store: &Store,
    plan: &Plan,
) -> Result<(Vec<UpstreamLine>, Vec<UpstreamWrite>)> {
    let (mut lines, mut writes) = (Vec::new(), Vec::new());
    for (server, upstream) in &plan.upstreams {
        let body = serde_json::to_string(upstream).expect("an upstream serializes");
        let diff = match store.upstream(server).await? {
            Some(head) if !head.deleted && head.body == body => EntryDiff::Unchanged,
            Some(head) if !head.deleted => EntryDiff::Changed,
            _ => EntryDiff::Added,
        };
        if diff != EntryDiff::Unchanged {
            writes.push(UpstreamWrite {
                server: server.clone(),
                op: UpstreamOp::Set {
                    body,
                    message: "bundle import".into(),
                },
                expected_version: None,
            });
        }
        lines.push(UpstreamLine {
            server: server.clone(),
            diff,
        });
    }
    Ok((lines, writes))
}

/// One (scope, server, kind) of a bundle: the unit an import diffs and commits.
type GroupKey = (Scope, Slug, Kind);

/// How an import treats entries of the servers it names that it does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Keep,
    Delete,
}

/// The diff of `plan` against the store, and the writes that apply it.
pub async fn diff(
    store: &Store,
    plan: &Plan,
    missing: Missing,
) -> Result<(Vec<DiffLine>, Vec<Write>)> {
    let mut groups: BTreeMap<GroupKey, Vec<(&EntryKey, &Desired)>> = BTreeMap::new();
    for (id, desired) in &plan.entries {
        groups
            .entry((id.scope.clone(), id.server.clone(), id.kind))
            .or_default()
            .push((&id.key, desired));
    }
    let (mut lines, mut writes) = (Vec::new(), Vec::new());
    for ((scope, server, kind), wanted) in groups {
        let heads: HashMap<String, Head> = store
            .list_entries(kind, &server, &scope)
            .await?
            .into_iter()
            .map(|h| (h.key.clone(), h))
            .collect();
        let id = |key: &EntryKey| EntryId {
            scope: scope.clone(),
            server: server.clone(),
            kind,
            key: key.clone(),
        };
        let line = |key: &str, diff, head: Option<&Head>, after: Option<String>| DiffLine {
            org: scope.clone(),
            server: server.clone(),
            kind,
            key: key.to_owned(),
            diff,
            before: head.filter(|h| h.active).and_then(|h| h.body.clone()),
            after,
        };
        for (key, desired) in &wanted {
            let head = heads.get(key.as_str()).filter(|h| !h.deleted);
            let (diff, ops) = entry_diff(kind, head, desired);
            let expected_version = Some(heads.get(key.as_str()).map_or(0, |h| h.version));
            for (i, op) in ops.into_iter().enumerate() {
                let expected_version = if i == 0 { expected_version } else { None };
                writes.push(Write {
                    id: id(key),
                    op,
                    expected_version,
                });
            }
            let after = match desired {
                Desired::Content(content) => Some(content.to_json()),
                Desired::Hidden => None,
            };
            lines.push(line(key.as_str(), diff, head, after));
        }
        if missing == Missing::Delete {
            let listed: Vec<&str> = wanted.iter().map(|(k, _)| k.as_str()).collect();
            for head in heads
                .values()
                .filter(|h| !h.deleted && !listed.contains(&h.key.as_str()))
            {
                let key = EntryKey::parse(kind, &head.key)?;
                writes.push(Write {
                    id: id(&key),
                    op: WriteOp::Delete,
                    expected_version: Some(head.version),
                });
                lines.push(line(&head.key, EntryDiff::Removed, Some(head), None));
            }
        }
    }
    lines.sort_by(|a, b| {
        (&a.org, &a.server, a.kind, &a.key).cmp(&(&b.org, &b.server, b.kind, &b.key))
    });
    Ok((lines, writes))
}

/// How one wanted entry differs from its head, and the writes that make it so.
fn entry_diff(kind: Kind, head: Option<&Head>, desired: &Desired) -> (EntryDiff, Vec<WriteOp>) {
    let stored = head
        .and_then(|h| h.body.as_deref())
        .and_then(|body| match kind {
            Kind::Prompts => serde_json::from_str(body).ok().map(Content::Prompt),
            Kind::Resources => serde_json::from_str(body).ok().map(Content::Resource),
        });
    let active = head.is_some_and(|h| h.active);
    match desired {
        Desired::Content(content) => {
            let save = WriteOp::Save {
                body: content.to_json(),
                message: "import".to_owned(),
                restores: None,
            };
            match (head, stored.as_ref() == Some(&**content), active) {
                (None, _, _) => (EntryDiff::Added, vec![save]),
                (Some(_), true, true) => (EntryDiff::Unchanged, vec![]),
                (Some(_), true, false) => (EntryDiff::Changed, vec![WriteOp::SetActive(true)]),
                (Some(_), false, true) => (EntryDiff::Changed, vec![save]),
                (Some(_), false, false) => {
                    (EntryDiff::Changed, vec![save, WriteOp::SetActive(true)])
                }
            }
        }
        Desired::Hidden => match (head, active) {
            (Some(_), false) => (EntryDiff::Unchanged, vec![]),
            (None, _) => (EntryDiff::Added, vec![WriteOp::SetActive(false)]),
            (Some(_), true) => (EntryDiff::Changed, vec![WriteOp::SetActive(false)]),
        },
    }
}
