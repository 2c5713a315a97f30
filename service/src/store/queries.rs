//! The SQL of every store operation, written once and instantiated for each backend.
//!
//! Both dialects accept `$n` placeholders, `ON CONFLICT … DO UPDATE`, `RETURNING` and the same
//! column types, so one text serves both; booleans and 64-bit integers decode natively on each.

/// The columns of a head row with its current content.
macro_rules! select_heads {
    () => {
        "SELECT e.key, e.version, e.active, e.deleted, e.revision, e.updated_at, v.body \
                FROM entries e LEFT JOIN entry_versions v ON v.kind = e.kind AND v.server = e.server \
                AND v.org = e.org AND v.key = e.key AND v.version = e.version"
    };
}

/// The columns of a change.
macro_rules! select_changes {
    () => {
        "SELECT revision, org, server, kind, keys, action, restored_version, labels, orgs, detail, actor, created_at, published FROM changes"
    };
}

/// The columns of the versions of one entry (bound as $1..$4).
macro_rules! select_versions {
    () => {
        "SELECT version, body, actor, message, revision, created_at \
                FROM entry_versions WHERE kind = $1 AND server = $2 AND org = $3 AND key = $4"
    };
}

use super::{Change, ChangeAction, Head, StoreError, UpstreamHead, VersionRow};
use crate::domain::{Kind, Label, Labels, Scope, Slug};

/// A head row as both backends return it (by column name).
#[derive(sqlx::FromRow)]
struct HeadRecord {
    key: String,
    version: i64,
    active: bool,
    deleted: bool,
    revision: i64,
    updated_at: i64,
    body: Option<String>,
}

impl From<HeadRecord> for Head {
    fn from(row: HeadRecord) -> Self {
        Head {
            key: row.key,
            version: row.version as u64,
            active: row.active,
            deleted: row.deleted,
            revision: row.revision as u64,
            updated_at: row.updated_at,
            body: row.body,
        }
    }
}

/// A version row (the columns of [`select_versions`]).
#[derive(sqlx::FromRow)]
struct VersionRecord {
    version: i64,
    body: String,
    actor: String,
    message: String,
    revision: i64,
    created_at: i64,
}

impl From<VersionRecord> for VersionRow {
    fn from(row: VersionRecord) -> Self {
        VersionRow {
            version: row.version as u64,
            body: row.body,
            actor: row.actor,
            message: row.message,
            revision: row.revision as u64,
            created_at: row.created_at,
        }
    }
}

/// The columns of a server's upstream head with its current version's content.
macro_rules! select_upstreams {
    () => {
        "SELECT u.server, u.version, u.deleted, u.revision, u.updated_at, v.body \
                FROM upstreams u JOIN upstream_versions v ON v.server = u.server AND v.version = u.version"
    };
}

/// The columns of the versions of one server's upstream (bound as $1).
macro_rules! select_upstream_versions {
    () => {
        "SELECT version, body, actor, message, revision, created_at FROM upstream_versions WHERE server = $1"
    };
}

/// An upstream head row (the columns of [`select_upstreams`]).
#[derive(sqlx::FromRow)]
struct UpstreamRecord {
    server: String,
    version: i64,
    deleted: bool,
    revision: i64,
    updated_at: i64,
    body: String,
}

impl From<UpstreamRecord> for UpstreamHead {
    fn from(row: UpstreamRecord) -> Self {
        UpstreamHead {
            server: row.server,
            version: row.version as u64,
            deleted: row.deleted,
            revision: row.revision as u64,
            updated_at: row.updated_at,
            body: row.body,
        }
    }
}

/// A change row (the columns of [`select_changes`]); its text columns are parsed into the
/// domain's types, and a row that does not parse is corrupt.
#[derive(sqlx::FromRow)]
struct ChangeRecord {
    revision: i64,
    org: String,
    server: String,
    kind: String,
    keys: String,
    action: String,
    restored_version: Option<i64>,
    labels: String,
    orgs: String,
    detail: String,
    actor: String,
    created_at: i64,
    published: bool,
}

impl TryFrom<ChangeRecord> for Change {
    type Error = StoreError;

    fn try_from(row: ChangeRecord) -> Result<Self, StoreError> {
        let revision = row.revision;
        let corrupt = |e: String| StoreError::Corrupt(format!("change {revision}"), e);
        Ok(Change {
            revision: revision as u64,
            org: Scope::parse_optional("org", &row.org).map_err(|e| corrupt(e.to_string()))?,
            server: Slug::parse("server", &row.server).map_err(|e| corrupt(e.to_string()))?,
            kind: row
                .kind
                .parse::<Kind>()
                .map_err(|e| corrupt(e.to_string()))?,
            keys: serde_json::from_str(&row.keys).map_err(|e| corrupt(e.to_string()))?,
            action: ChangeAction::parse(&row.action)
                .ok_or_else(|| corrupt(format!("unknown action {:?}", row.action)))?,
            restored_version: row.restored_version.map(|v| v as u64),
            labels: parse_labels(&row.labels).map_err(corrupt)?,
            orgs: parse_orgs(&row.orgs).map_err(corrupt)?,
            detail: (!row.detail.is_empty())
                .then(|| serde_json::from_str(&row.detail))
                .transpose()
                .map_err(|e| corrupt(e.to_string()))?,
            actor: row.actor,
            created_at: row.created_at,
            published: row.published,
        })
    }
}

/// A change's labels as the log holds them: a JSON array of names; `''` (a change recorded
/// before labels existed) is every label.
fn parse_labels(stored: &str) -> Result<Labels, String> {
    if stored.is_empty() {
        return Ok(Labels::All);
    }
    let names: Vec<String> = serde_json::from_str(stored).map_err(|e| e.to_string())?;
    Labels::from_names("labels", names.iter().map(String::as_str)).map_err(|e| e.to_string())
}

/// A JSON array of org slugs as stored (a change's orgs, a rollout's cohort); `''` is none.
pub(super) fn parse_orgs(stored: &str) -> Result<Vec<Slug>, String> {
    if stored.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = serde_json::from_str(stored).map_err(|e| e.to_string())?;
    names
        .iter()
        .map(|name| Slug::parse("orgs", name).map_err(|e| e.to_string()))
        .collect()
}

/// The stored form of org slugs ([`parse_orgs`] reads it back).
pub(super) fn stored_orgs(orgs: &[Slug]) -> String {
    if orgs.is_empty() {
        return String::new();
    }
    serde_json::to_string(orgs).expect("slugs serialize")
}

/// The stored form of a change's labels ([`parse_labels`] reads it back).
fn stored_labels(labels: &Labels) -> String {
    match labels {
        Labels::All => String::new(),
        Labels::Only(labels) => {
            let names: Vec<&str> = labels.iter().map(Label::as_str).collect();
            serde_json::to_string(&names).expect("names serialize")
        }
    }
}

/// Defines the query functions for one sqlx database type in a module of its own.
macro_rules! backend {
    ($module:ident, $db:ty) => {
        pub mod $module {
            use std::collections::BTreeMap;

            use super::super::{
                Change, ChangeAction, ChangeFilter, Head, LoadedView, OrgRow, Result, ScopeFilter, StoreError,
                UpstreamHead, UpstreamOp, UpstreamWrite, VersionRow, ViewRow, Write, WriteOp, now_ms,
            };
            use super::{ChangeRecord, HeadRecord, UpstreamRecord, VersionRecord, parse_orgs, stored_labels, stored_orgs};
            use crate::domain::{Cohort, EntryId, Kind, Label, Labels, ReleasePolicy, Revision, Scope, Slug};

            type Pool = sqlx::Pool<$db>;
            type Tx<'t> = sqlx::Transaction<'t, $db>;

            pub async fn ping(pool: &Pool) -> Result<()> {
                sqlx::query("SELECT 1").execute(pool).await?;
                Ok(())
            }

            pub async fn applied_migrations(pool: &Pool) -> Result<i64> {
                let count: Result<(i64,), sqlx::Error> =
                    sqlx::query_as("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                        .fetch_one(pool)
                        .await;
                match count {
                    Ok((n,)) => Ok(n),
                    // No migrations table yet: nothing applied.
                    Err(sqlx::Error::Database(_)) => Ok(0),
                    Err(e) => Err(e.into()),
                }
            }

            /// The rows of one effective view at `label`, per scope: the head rows (`latest`,
            /// and `production` of an auto scope), or else the label's rows; at `production`,
            /// each manual scope's policy row too, as a tombstone (it moves the revision, shows
            /// nothing). A default's row under a rollout reads the rollout's target when the
            /// view's org is in the cohort. An unknown label is not found, and so is a label
            /// the view's scope cannot know: undeclared, and pointing nowhere in the defaults or
            /// the org.
            pub async fn load_view(pool: &Pool, kind: Kind, server: &Slug, scope: &Scope, label: &Label) -> Result<LoadedView> {
                // The heads, as before labels, and how many of the two scopes have a release
                // policy row: at `latest` the heads are the view; at `production` too when
                // neither scope is manual (the common case, at the cost it always had).
                if matches!(label, Label::Latest | Label::Production) {
                    let rows: Vec<(i64, i64, Option<i64>, Option<String>, Option<String>, Option<bool>, Option<bool>, Option<i64>, Option<String>)> =
                        sqlx::query_as(
                            "SELECT c.value, (SELECT COUNT(*) FROM release_policies p WHERE p.server = $2 AND p.org IN ('', $3)), \
                               (SELECT o.revision FROM orgs o WHERE o.slug = $3), \
                               e.org, e.key, e.active, e.deleted, e.revision, v.body \
                             FROM counters c \
                             LEFT JOIN entries e ON e.kind = $1 AND e.server = $2 AND e.org IN ('', $3) \
                             LEFT JOIN entry_versions v ON v.kind = e.kind AND v.server = e.server \
                               AND v.org = e.org AND v.key = e.key AND v.version = e.version \
                             WHERE c.name = 'revision'",
                        )
                        .bind(kind.as_str())
                        .bind(server.as_str())
                        .bind(scope.as_str())
                        .fetch_all(pool)
                        .await?;
                    let policies = rows.first().map_or(0, |r| r.1);
                    if matches!(label, Label::Latest) || policies == 0 {
                        let snapshot = rows.first().map_or(0, |r| r.0 as u64);
                        let registered_at = rows.first().and_then(|r| r.2).map(|r| r as u64);
                        let rows = rows
                            .into_iter()
                            .filter_map(|(_, _, _, org, key, active, deleted, revision, body)| {
                                Some((org?, key?, active?, deleted?, revision?, body))
                            })
                            .map(|(org, key, active, deleted, revision, body)| {
                                let org = Scope::parse_optional("org", &org)
                                    .map_err(|e| StoreError::Corrupt(key.clone(), e.to_string()))?;
                                Ok(ViewRow { org, key, active, deleted, revision: revision as u64, body })
                            })
                            .collect::<Result<_>>()?;
                        return Ok(LoadedView::new(snapshot, scope, registered_at, rows));
                    }
                }
                type Row = (
                    Option<i64>, Option<i64>, Option<i64>, Option<String>, Option<String>, Option<bool>, Option<bool>,
                    Option<i64>, Option<String>, Option<i64>, Option<String>, Option<i64>, Option<String>,
                );
                // Three branches: head rows of the scopes that follow the head at this label,
                // label rows (with a default's rollout), and manual scopes' policy rows as
                // tombstones. Only the first branch carries the snapshot and whether the label
                // is known.
                let rows: Vec<Row> =
                    sqlx::query_as(
                        "SELECT c.value, CASE WHEN $4 IN ('production', 'latest') THEN 1 ELSE ( \
                           SELECT COUNT(*) FROM labels n WHERE n.name = $4 AND (n.declared OR EXISTS ( \
                           SELECT 1 FROM entry_labels k WHERE k.label = $4 AND k.org IN ('', $3)))) END, \
                           (SELECT o.revision FROM orgs o WHERE o.slug = $3), \
                           e.org, e.key, e.active, e.deleted, e.revision, v.body, \
                           NULL, NULL, NULL, NULL \
                         FROM counters c \
                         LEFT JOIN entries e ON e.kind = $1 AND e.server = $2 AND e.org IN ('', $3) \
                           AND ($4 = 'latest' OR ($4 = 'production' AND NOT EXISTS ( \
                             SELECT 1 FROM release_policies p WHERE p.server = $2 AND p.org = e.org AND p.manual))) \
                         LEFT JOIN entry_versions v ON v.kind = e.kind AND v.server = e.server \
                           AND v.org = e.org AND v.key = e.key AND v.version = e.version \
                         WHERE c.name = 'revision' \
                         UNION ALL \
                         SELECT NULL, NULL, NULL, l.org, l.key, l.active, l.deleted, l.revision, v.body, \
                           r.percent, r.orgs, r.revision, rv.body \
                         FROM entry_labels l \
                         LEFT JOIN entry_versions v ON v.kind = l.kind AND v.server = l.server \
                           AND v.org = l.org AND v.key = l.key AND v.version = l.version \
                         LEFT JOIN rollouts r ON l.org = '' AND $3 <> '' AND r.kind = l.kind AND r.server = l.server \
                           AND r.label = l.label AND r.key = l.key \
                         LEFT JOIN entry_versions rv ON rv.kind = r.kind AND rv.server = r.server AND rv.org = '' \
                           AND rv.key = r.key AND rv.version = r.target_version \
                         WHERE l.kind = $1 AND l.server = $2 AND l.org IN ('', $3) AND l.label = $4 \
                         UNION ALL \
                         SELECT NULL, NULL, NULL, p.org, '', FALSE, TRUE, p.revision, NULL, NULL, NULL, NULL, NULL \
                         FROM release_policies p \
                         WHERE $4 = 'production' AND p.server = $2 AND p.org IN ('', $3)",
                    )
                    .bind(kind.as_str())
                    .bind(server.as_str())
                    .bind(scope.as_str())
                    .bind(label.as_str())
                    .fetch_all(pool)
                    .await?;
                let head = rows.iter().find(|r| r.0.is_some());
                let snapshot = head.and_then(|r| r.0).map_or(0, |v| v as u64);
                let label_known = head.and_then(|r| r.1).is_some_and(|known| known > 0);
                let registered_at = head.and_then(|r| r.2).map(|r| r as u64);
                if matches!(label, Label::Named(_)) && !label_known {
                    return Err(StoreError::NotFound(format!("label {:?}", label.as_str())));
                }
                let mut view_rows = Vec::with_capacity(rows.len());
                for (_, _, _, org, key, active, deleted, revision, body, percent, orgs, rollout_revision, target) in rows {
                    let (Some(org), Some(key), Some(active), Some(deleted), Some(revision)) = (org, key, active, deleted, revision) else {
                        continue;
                    };
                    let org = Scope::parse_optional("org", &org)
                        .map_err(|e| StoreError::Corrupt(key.clone(), e.to_string()))?;
                    let mut row = ViewRow { org, key, active, deleted, revision: revision as u64, body };
                    if let (Some(percent), Some(orgs), Some(rollout_revision), Scope::Org(reader)) =
                        (percent, orgs, rollout_revision, scope)
                    {
                        let cohort = Cohort {
                            percent: percent.clamp(0, 100) as u8,
                            orgs: parse_orgs(&orgs).map_err(|e| StoreError::Corrupt(row.key.clone(), e))?,
                        };
                        row.revision = row.revision.max(rollout_revision as u64);
                        if cohort.contains(reader, server, kind, &row.key) {
                            row.body = target;
                            row.active = true;
                            row.deleted = false;
                        }
                    }
                    view_rows.push(row);
                }
                Ok(LoadedView::new(snapshot, scope, registered_at, view_rows))
            }

            /// The release policy of one scope of a server (no row: auto).
            pub async fn policy<'e>(
                db: impl sqlx::Executor<'e, Database = $db>,
                server: &Slug,
                scope: &Scope,
            ) -> Result<ReleasePolicy> {
                let row: Option<(bool,)> = sqlx::query_as("SELECT manual FROM release_policies WHERE server = $1 AND org = $2")
                    .bind(server.as_str())
                    .bind(scope.as_str())
                    .fetch_optional(db)
                    .await?;
                Ok(match row {
                    Some((true,)) => ReleasePolicy::Manual,
                    _ => ReleasePolicy::Auto,
                })
            }

            pub async fn list_entries(pool: &Pool, kind: Kind, server: &Slug, scope: &Scope) -> Result<Vec<Head>> {
                let rows: Vec<HeadRecord> = sqlx::query_as(concat!(select_heads!(), " WHERE e.kind = $1 AND e.server = $2 AND e.org = $3 ORDER BY e.key"))
                .bind(kind.as_str())
                .bind(server.as_str())
                .bind(scope.as_str())
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(Head::from).collect())
            }

            pub async fn list_servers(pool: &Pool, scope: &Scope) -> Result<Vec<String>> {
                let rows: Vec<(String,)> =
                    sqlx::query_as("SELECT DISTINCT server FROM entries WHERE org = $1 ORDER BY server")
                        .bind(scope.as_str())
                        .fetch_all(pool)
                        .await?;
                Ok(rows.into_iter().map(|r| r.0).collect())
            }

            pub async fn head(pool: &Pool, id: &EntryId) -> Result<Option<Head>> {
                let row: Option<HeadRecord> = sqlx::query_as(concat!(select_heads!(), " WHERE e.kind = $1 AND e.server = $2 AND e.org = $3 AND e.key = $4"))
                .bind(id.kind.as_str())
                .bind(id.server.as_str())
                .bind(id.scope.as_str())
                .bind(id.key.as_str())
                .fetch_optional(pool)
                .await?;
                Ok(row.map(Head::from))
            }
            pub async fn history(pool: &Pool, id: &EntryId) -> Result<Vec<VersionRow>> {
                let rows: Vec<VersionRecord> = sqlx::query_as(concat!(select_versions!(), " ORDER BY version"))
                    .bind(id.kind.as_str())
                    .bind(id.server.as_str())
                    .bind(id.scope.as_str())
                    .bind(id.key.as_str())
                    .fetch_all(pool)
                    .await?;
                Ok(rows.into_iter().map(VersionRow::from).collect())
            }

            pub async fn version(pool: &Pool, id: &EntryId, version: u64) -> Result<Option<VersionRow>> {
                let row: Option<VersionRecord> = sqlx::query_as(concat!(select_versions!(), " AND version = $5"))
                    .bind(id.kind.as_str())
                    .bind(id.server.as_str())
                    .bind(id.scope.as_str())
                    .bind(id.key.as_str())
                    .bind(version as i64)
                    .fetch_optional(pool)
                    .await?;
                Ok(row.map(VersionRow::from))
            }

            /// Takes the next global revision. It must be the first statement of a write
            /// transaction: it locks the counter row, so writers commit in revision order (and
            /// on SQLite it takes the write lock before any read, avoiding a stale snapshot).
            pub(in crate::store) async fn next_revision(tx: &mut Tx<'_>) -> Result<Revision> {
                let (value,): (i64,) = sqlx::query_as(
                    "UPDATE counters SET value = value + 1 WHERE name = 'revision' RETURNING value",
                )
                .fetch_one(&mut **tx)
                .await?;
                Ok(value as u64)
            }

            pub(in crate::store) async fn org_exists(tx: &mut Tx<'_>, slug: &str) -> Result<bool> {
                let row: Option<(String,)> = sqlx::query_as("SELECT slug FROM orgs WHERE slug = $1")
                    .bind(slug)
                    .fetch_optional(&mut **tx)
                    .await?;
                Ok(row.is_some())
            }

            /// Registers `org` unless it exists (`None` then). Every view the org can have
            /// read while unknown, its view of each server and kind the defaults hold, gets a
            /// change of its own (no keys): readers drop the copy that says "unknown org", and
            /// the view's revision moves past it. The org row keeps the last of those revisions,
            /// which counts in the revision of each of its views.
            pub(in crate::store) async fn register_org(tx: &mut Tx<'_>, org: &OrgRow) -> Result<Option<Vec<Change>>> {
                // The writers' lock first, as `next_revision` would take it, even when no
                // revision follows (no defaults yet).
                sqlx::query("UPDATE counters SET value = value WHERE name = 'revision'").execute(&mut **tx).await?;
                let inserted = sqlx::query(
                    "INSERT INTO orgs (slug, name, created_at, created_by, revision) VALUES ($1, $2, $3, $4, 0) ON CONFLICT (slug) DO NOTHING",
                )
                .bind(&org.slug)
                .bind(&org.name)
                .bind(org.created_at)
                .bind(&org.created_by)
                .execute(&mut **tx)
                .await?;
                if inserted.rows_affected() == 0 {
                    return Ok(None);
                }
                let scope = Scope::parse_optional("org", &org.slug).map_err(|e| StoreError::Corrupt(org.slug.clone(), e.to_string()))?;
                let views: Vec<(String, String)> =
                    sqlx::query_as("SELECT DISTINCT server, kind FROM entries WHERE org = '' ORDER BY server, kind")
                        .fetch_all(&mut **tx)
                        .await?;
                let mut changes = Vec::with_capacity(views.len());
                for (server, kind) in views {
                    let corrupt = |e: &dyn std::fmt::Display| StoreError::Corrupt(server.clone(), e.to_string());
                    let change = Change {
                        revision: next_revision(tx).await?,
                        org: scope.clone(),
                        server: Slug::parse("server", &server).map_err(|e| corrupt(&e))?,
                        kind: kind.parse::<Kind>().map_err(|e| corrupt(&e))?,
                        keys: Vec::new(),
                        action: ChangeAction::Register,
                        restored_version: None,
                        labels: Labels::All,
                        orgs: Vec::new(),
                        detail: None,
                        actor: org.created_by.clone(),
                        created_at: org.created_at,
                        published: false,
                    };
                    insert_change(tx, &change).await?;
                    changes.push(change);
                }
                if let Some(last) = changes.last() {
                    sqlx::query("UPDATE orgs SET revision = $1 WHERE slug = $2")
                        .bind(last.revision as i64)
                        .bind(&org.slug)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(Some(changes))
            }

            pub async fn create_org(tx: &mut Tx<'_>, org: &OrgRow) -> Result<Vec<Change>> {
                register_org(tx, org).await?.ok_or_else(|| StoreError::AlreadyExists(format!("org {:?}", org.slug)))
            }

            pub async fn list_orgs(pool: &Pool) -> Result<Vec<OrgRow>> {
                Ok(sqlx::query_as("SELECT slug, name, created_at, created_by FROM orgs ORDER BY slug").fetch_all(pool).await?)
            }

            pub async fn apply(
                tx: &mut Tx<'_>,
                writes: &[Write],
                orgs: &[OrgRow],
                upstreams: &[UpstreamWrite],
                actor: &str,
            ) -> Result<Vec<Change>> {
                let mut groups: BTreeMap<(&Scope, &Slug, Kind), Vec<&Write>> = BTreeMap::new();
                for write in writes {
                    let id = &write.id;
                    groups.entry((&id.scope, &id.server, id.kind)).or_default().push(write);
                }
                let now = now_ms();
                let mut changes = Vec::with_capacity(groups.len());
                for new_org in orgs {
                    changes.extend(register_org(tx, new_org).await?.unwrap_or_default());
                }
                for ((org, server, kind), group) in groups {
                    let revision = next_revision(tx).await?;
                    if let Scope::Org(slug) = org && !org_exists(tx, slug.as_str()).await? {
                        return Err(StoreError::NotFound(format!("org {:?}", slug.as_str())));
                    }
                    let mut actions = Vec::with_capacity(group.len());
                    for write in &group {
                        actions.push(apply_one(tx, write, revision, actor, now).await?);
                    }
                    let keys: Vec<String> = group.iter().map(|w| w.id.key.as_str().to_owned()).collect();
                    let (action, restored_version) = match (&actions[..], &group[..]) {
                        ([action], [write]) => (*action, write.op.restored_version()),
                        _ => (ChangeAction::Import, None),
                    };
                    let labels = policy(&mut **tx, server, org).await?.saved_labels();
                    let change = Change {
                        revision,
                        org: org.clone(),
                        server: server.clone(),
                        kind,
                        keys,
                        action,
                        restored_version,
                        labels,
                        orgs: Vec::new(),
                        detail: None,
                        actor: actor.to_owned(),
                        created_at: now,
                        published: false,
                    };
                    insert_change(tx, &change).await?;
                    changes.push(change);
                }
                for write in upstreams {
                    write_upstream(tx, write, actor).await?;
                }
                Ok(changes)
            }

            pub async fn upstream<'e>(
                db: impl sqlx::Executor<'e, Database = $db>,
                server: &Slug,
            ) -> Result<Option<UpstreamHead>> {
                let row: Option<UpstreamRecord> = sqlx::query_as(concat!(select_upstreams!(), " WHERE u.server = $1"))
                    .bind(server.as_str())
                    .fetch_optional(db)
                    .await?;
                Ok(row.map(UpstreamHead::from))
            }

            pub async fn upstreams(pool: &Pool) -> Result<Vec<UpstreamHead>> {
                let rows: Vec<UpstreamRecord> =
                    sqlx::query_as(concat!(select_upstreams!(), " WHERE NOT u.deleted ORDER BY u.server"))
                        .fetch_all(pool)
                        .await?;
                Ok(rows.into_iter().map(UpstreamHead::from).collect())
            }

            pub async fn upstream_history(pool: &Pool, server: &Slug) -> Result<Vec<VersionRow>> {
                let rows: Vec<VersionRecord> = sqlx::query_as(concat!(select_upstream_versions!(), " ORDER BY version"))
                    .bind(server.as_str())
                    .fetch_all(pool)
                    .await?;
                Ok(rows.into_iter().map(VersionRow::from).collect())
            }

            pub async fn upstream_version(pool: &Pool, server: &Slug, version: u64) -> Result<Option<VersionRow>> {
                let row: Option<VersionRecord> = sqlx::query_as(concat!(select_upstream_versions!(), " AND version = $2"))
                    .bind(server.as_str())
                    .bind(version as i64)
                    .fetch_optional(pool)
                    .await?;
                Ok(row.map(VersionRow::from))
            }

            /// Sets or deletes one server's upstream at a revision of its own. A set is a new
            /// version (numbering goes on after a delete); a delete keeps the history.
            pub async fn write_upstream(tx: &mut Tx<'_>, write: &UpstreamWrite, actor: &str) -> Result<UpstreamHead> {
                let revision = next_revision(tx).await?;
                let now = now_ms();
                let server = write.server.as_str();
                let head: Option<(i64, bool)> =
                    sqlx::query_as("SELECT version, deleted FROM upstreams WHERE server = $1")
                        .bind(server)
                        .fetch_optional(&mut **tx)
                        .await?;
                let (current, deleted) = head.unwrap_or((0, true));
                // A deleted upstream is no version at all to a writer that expects one.
                let live = if deleted { 0 } else { current as u64 };
                if let Some(expected) = write.expected_version && expected != live {
                    return Err(StoreError::Conflict { expected, current: live });
                }
                let (version, deleted) = match &write.op {
                    UpstreamOp::Set { body, message } => {
                        let version = current + 1;
                        sqlx::query(
                            "INSERT INTO upstream_versions (server, version, body, actor, message, revision, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7)",
                        )
                        .bind(server)
                        .bind(version)
                        .bind(body)
                        .bind(actor)
                        .bind(message)
                        .bind(revision as i64)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                        (version, false)
                    }
                    UpstreamOp::Delete if deleted => {
                        return Err(StoreError::NotFound(format!("upstream of server {server:?}")));
                    }
                    UpstreamOp::Delete => (current, true),
                };
                sqlx::query(
                    "INSERT INTO upstreams (server, version, deleted, revision, updated_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (server) DO UPDATE SET version = $2, deleted = $3, revision = $4, updated_at = $5",
                )
                .bind(server)
                .bind(version)
                .bind(deleted)
                .bind(revision as i64)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                upstream(&mut **tx, &write.server)
                    .await?
                    .ok_or_else(|| StoreError::NotFound(format!("upstream of server {server:?}")))
            }

            /// Rewrites what a committed change says beyond its keys (a change request's apply adds
            /// the request's trail to each change it commits, in the same transaction).
            pub(in crate::store) async fn set_change_detail(tx: &mut Tx<'_>, revision: Revision, detail: &serde_json::Value) -> Result<()> {
                sqlx::query("UPDATE changes SET detail = $2 WHERE revision = $1")
                    .bind(revision as i64)
                    .bind(detail.to_string())
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            pub(in crate::store) async fn insert_change(tx: &mut Tx<'_>, change: &Change) -> Result<()> {
                sqlx::query(
                    "INSERT INTO changes (revision, org, server, kind, keys, action, restored_version, labels, orgs, detail, actor, created_at, published) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, FALSE)",
                )
                .bind(change.revision as i64)
                .bind(change.org.as_str())
                .bind(change.server.as_str())
                .bind(change.kind.as_str())
                .bind(serde_json::to_string(&change.keys).expect("keys serialize"))
                .bind(change.action.as_str())
                .bind(change.restored_version.map(|v| v as i64))
                .bind(stored_labels(&change.labels))
                .bind(stored_orgs(&change.orgs))
                .bind(change.detail.as_ref().map_or_else(String::new, ToString::to_string))
                .bind(&change.actor)
                .bind(change.created_at)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            async fn head_for_update(tx: &mut Tx<'_>, id: &EntryId) -> Result<Option<(i64, bool, bool)>> {
                Ok(sqlx::query_as(
                    "SELECT version, active, deleted FROM entries \
                     WHERE kind = $1 AND server = $2 AND org = $3 AND key = $4",
                )
                .bind(id.kind.as_str())
                .bind(id.server.as_str())
                .bind(id.scope.as_str())
                .bind(id.key.as_str())
                .fetch_optional(&mut **tx)
                .await?)
            }

            async fn upsert_head(
                tx: &mut Tx<'_>,
                id: &EntryId,
                version: i64,
                active: bool,
                deleted: bool,
                revision: Revision,
                now: i64,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO entries (kind, server, org, key, version, active, deleted, revision, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                     ON CONFLICT (kind, server, org, key) DO UPDATE SET version = excluded.version, \
                     active = excluded.active, deleted = excluded.deleted, revision = excluded.revision, \
                     updated_at = excluded.updated_at",
                )
                .bind(id.kind.as_str())
                .bind(id.server.as_str())
                .bind(id.scope.as_str())
                .bind(id.key.as_str())
                .bind(version)
                .bind(active)
                .bind(deleted)
                .bind(revision as i64)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Applies one write at `revision`; returns the action recorded for it.
            async fn apply_one(
                tx: &mut Tx<'_>,
                write: &Write,
                revision: Revision,
                actor: &str,
                now: i64,
            ) -> Result<ChangeAction> {
                let id = &write.id;
                let head = head_for_update(tx, id).await?;
                let current = head.map(|h| h.0).unwrap_or(0);
                if let Some(expected) = write.expected_version {
                    if expected as i64 != current {
                        return Err(StoreError::Conflict { expected, current: current as u64 });
                    }
                }
                let not_found = || StoreError::NotFound(id.to_string());
                match &write.op {
                    WriteOp::Save { body, message, restores } => {
                        let version = current + 1;
                        // A live entry keeps its active flag; a new, deleted or hide-marker one
                        // becomes active.
                        let active = match head {
                            Some((v, active, false)) if v > 0 => active,
                            _ => true,
                        };
                        sqlx::query(
                            "INSERT INTO entry_versions (kind, server, org, key, version, body, actor, message, revision, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                        )
                        .bind(id.kind.as_str())
                        .bind(id.server.as_str())
                        .bind(id.scope.as_str())
                        .bind(id.key.as_str())
                        .bind(version)
                        .bind(body)
                        .bind(actor)
                        .bind(message)
                        .bind(revision as i64)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                        upsert_head(tx, id, version, active, false, revision, now).await?;
                        Ok(match (restores, current) {
                            (Some(_), _) => ChangeAction::Rollback,
                            (None, 0) => ChangeAction::Create,
                            (None, _) => ChangeAction::Update,
                        })
                    }
                    WriteOp::SetActive(active) => match head {
                        None if *active || id.scope == Scope::Defaults => Err(not_found()),
                        None => {
                            upsert_head(tx, id, 0, false, false, revision, now).await?;
                            Ok(ChangeAction::Hide)
                        }
                        Some((0, _, _)) if *active => {
                            upsert_head(tx, id, 0, true, true, revision, now).await?;
                            Ok(ChangeAction::Unhide)
                        }
                        Some((_, _, true)) if *active => Err(not_found()),
                        Some((version, _, _)) => {
                            upsert_head(tx, id, version, *active, false, revision, now).await?;
                            Ok(if *active { ChangeAction::Activate } else { ChangeAction::Deactivate })
                        }
                    },
                    WriteOp::Delete => match head {
                        Some((version, active, false)) => {
                            upsert_head(tx, id, version, active, true, revision, now).await?;
                            Ok(ChangeAction::Delete)
                        }
                        _ => Err(not_found()),
                    },
                }
            }

            pub async fn changes_after(
                pool: &Pool,
                revision: Revision,
                limit: u32,
                org: Option<&str>,
                server: Option<&str>,
            ) -> Result<Vec<Change>> {
                let rows: Vec<ChangeRecord> = sqlx::query_as(concat!(select_changes!(), " WHERE revision > $1 AND ($2 = '' OR org = $2 OR org = '') \
                     AND ($3 = '' OR server = $3) ORDER BY revision LIMIT $4"))
                .bind(revision as i64)
                .bind(org.unwrap_or(""))
                .bind(server.unwrap_or(""))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(Change::try_from).collect()
            }

            pub async fn change_log(
                pool: &Pool,
                filter: &ChangeFilter,
                before: Option<Revision>,
                limit: u32,
            ) -> Result<Vec<Change>> {
                let (mode, org) = match &filter.scopes {
                    ScopeFilter::Any => (0_i64, ""),
                    ScopeFilter::Only(scope) => (1, scope.as_str()),
                    ScopeFilter::OrgAndDefaults(org) => (2, org.as_str()),
                };
                let rows: Vec<ChangeRecord> = sqlx::query_as(concat!(select_changes!(), " WHERE revision < $1 \
                     AND ($2 = 0 OR ($2 = 1 AND org = $3) OR ($2 = 2 AND (org = $3 OR org = ''))) \
                     AND ($4 = '' OR server = $4) AND ($5 = '' OR kind = $5) AND ($6 = '' OR actor = $6) \
                     AND created_at >= $7 AND created_at < $8 ORDER BY revision DESC LIMIT $9"))
                .bind(before.map_or(i64::MAX, |r| r as i64))
                .bind(mode)
                .bind(org)
                .bind(filter.server.as_ref().map_or("", Slug::as_str))
                .bind(filter.kind.map_or("", Kind::as_str))
                .bind(filter.actor.as_deref().unwrap_or(""))
                .bind(filter.since_ms.unwrap_or(i64::MIN))
                .bind(filter.until_ms.unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(Change::try_from).collect()
            }

            /// In a transaction: the changes after `after`, oldest first, at most `limit`.
            pub async fn changes_in(tx: &mut Tx<'_>, after: Revision, limit: u32) -> Result<Vec<Change>> {
                let rows: Vec<ChangeRecord> =
                    sqlx::query_as(concat!(select_changes!(), " WHERE revision > $1 ORDER BY revision LIMIT $2"))
                        .bind(after as i64)
                        .bind(i64::from(limit))
                        .fetch_all(&mut **tx)
                        .await?;
                rows.into_iter().map(Change::try_from).collect()
            }

            /// On the pool, or on the connection that holds the relay's lock: the oldest
            /// changes after `after` not marked published.
            pub async fn unpublished<'e>(
                db: impl sqlx::Executor<'e, Database = $db>,
                after: Revision,
                limit: u32,
            ) -> Result<Vec<Change>> {
                let rows: Vec<ChangeRecord> =
                    sqlx::query_as(concat!(select_changes!(), " WHERE NOT published AND revision > $1 ORDER BY revision LIMIT $2"))
                        .bind(after as i64)
                        .bind(i64::from(limit))
                        .fetch_all(db)
                        .await?;
                rows.into_iter().map(Change::try_from).collect()
            }

            /// Marks the changes `from..=through` published: one statement (and commit) for
            /// a whole round of the relay.
            pub async fn mark_published<'e>(
                db: impl sqlx::Executor<'e, Database = $db>,
                from: Revision,
                through: Revision,
            ) -> Result<()> {
                sqlx::query(
                    "UPDATE changes SET published = TRUE WHERE revision BETWEEN $1 AND $2 AND NOT published",
                )
                .bind(from as i64)
                .bind(through as i64)
                .execute(db)
                .await?;
                Ok(())
            }

            /// The newest change of `org`'s (or the defaults') entries of `server`, and of the
            /// defaults' the org inherits: two index lookups on `changes (org, server, revision)`.
            pub async fn scope_revision(pool: &Pool, org: &str, server: &str) -> Result<Revision> {
                let (value,): (i64,) = sqlx::query_as(
                    "SELECT COALESCE(MAX(newest), 0) FROM ( \
                     SELECT MAX(revision) AS newest FROM changes WHERE org = $1 AND server = $2 \
                     UNION ALL \
                     SELECT MAX(revision) AS newest FROM changes WHERE org = '' AND server = $2) AS scopes",
                )
                .bind(org)
                .bind(server)
                .fetch_one(pool)
                .await?;
                Ok(value as u64)
            }

            pub async fn latest_revision(pool: &Pool) -> Result<Revision> {
                let (value,): (i64,) = sqlx::query_as("SELECT value FROM counters WHERE name = 'revision'")
                    .fetch_one(pool)
                    .await?;
                Ok(value as u64)
            }

            pub async fn latest_published_by_server(pool: &Pool) -> Result<Vec<(String, Revision)>> {
                let rows: Vec<(String, i64)> = sqlx::query_as(
                    "SELECT server, MAX(revision) FROM changes WHERE published GROUP BY server",
                )
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(|(server, revision)| (server, revision as u64)).collect())
            }

            pub async fn oldest_retained_revision(pool: &Pool) -> Result<Revision> {
                let (value,): (Option<i64>,) =
                    sqlx::query_as("SELECT MIN(revision) FROM changes").fetch_one(pool).await?;
                Ok(value.unwrap_or(0) as u64)
            }

            pub async fn prune_changes(pool: &Pool, before_ms: i64) -> Result<u64> {
                let done = sqlx::query(
                    "DELETE FROM changes WHERE published AND created_at < $1 \
                     AND revision < (SELECT MAX(revision) FROM changes) \
                     AND revision <= (SELECT value FROM counters WHERE name = 'webhooks')",
                )
                .bind(before_ms)
                .execute(pool)
                .await?;
                // Settled webhook deliveries (with their attempts) are kept as long.
                sqlx::query("DELETE FROM webhook_deliveries WHERE state <> 'pending' AND created_at < $1")
                    .bind(before_ms)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

backend!(postgres, sqlx::Postgres);
backend!(sqlite, sqlx::Sqlite);
