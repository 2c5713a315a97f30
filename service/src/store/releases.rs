//! The SQL of release labels: where each label of an entry points, its history, the registry of
//! labels and each scope's release policy. One text for both backends, as in `queries`.

/// A label move of the history (the columns of `label_moves`).
#[derive(sqlx::FromRow)]
struct MoveRecord {
    label: String,
    revision: i64,
    from_version: Option<i64>,
    from_active: Option<bool>,
    from_deleted: Option<bool>,
    to_version: i64,
    to_active: bool,
    to_deleted: bool,
    actor: String,
    message: String,
    created_at: i64,
}

impl TryFrom<MoveRecord> for LabelMoveRow {
    type Error = StoreError;

    fn try_from(row: MoveRecord) -> Result<Self, StoreError> {
        let from = match (row.from_version, row.from_active, row.from_deleted) {
            (Some(version), Some(active), Some(deleted)) => Some(LabelState {
                version: version as u64,
                active,
                deleted,
            }),
            _ => None,
        };
        Ok(LabelMoveRow {
            label: stored_label(&row.label)?,
            revision: row.revision as u64,
            from,
            to: LabelState {
                version: row.to_version as u64,
                active: row.to_active,
                deleted: row.to_deleted,
            },
            actor: row.actor,
            message: row.message,
            created_at: row.created_at,
        })
    }
}

/// A change's detail, with the approval policy an emergency move went past (the audit of every
/// use of the emergency role).
fn with_emergency(mut detail: serde_json::Value, emergency: &Option<String>) -> serde_json::Value {
    if let Some(policy) = emergency {
        detail["emergency"] = serde_json::Value::String(policy.clone());
    }
    detail
}

fn stored_label(name: &str) -> Result<Label, StoreError> {
    Label::parse("label", name)
        .map_err(|e| StoreError::Corrupt(format!("label {name:?}"), e.message))
}

use super::{LabelMoveRow, LabelState, RolloutRow, RolloutStep, StoreError, queries::parse_orgs};
use crate::domain::{Cohort, Label};

/// A rollout in progress (the columns of `rollouts`).
#[derive(sqlx::FromRow)]
struct RolloutRecord {
    target_version: i64,
    percent: i64,
    orgs: String,
    revision: i64,
    updated_at: i64,
}

impl RolloutRecord {
    fn cohort(&self) -> Result<Cohort, StoreError> {
        Ok(Cohort {
            percent: self.percent.clamp(0, 100) as u8,
            orgs: parse_orgs(&self.orgs).map_err(|e| StoreError::Corrupt("rollout".into(), e))?,
        })
    }

    fn row(&self) -> Result<RolloutRow, StoreError> {
        Ok(RolloutRow {
            target_version: self.target_version as u64,
            cohort: self.cohort()?,
            revision: self.revision as u64,
            updated_at: self.updated_at,
        })
    }
}

/// A step of a rollout's history (the columns of `rollout_steps`).
#[derive(sqlx::FromRow)]
struct StepRecord {
    revision: i64,
    action: String,
    target_version: i64,
    percent: i64,
    orgs: String,
    actor: String,
    message: String,
    created_at: i64,
}

impl TryFrom<StepRecord> for RolloutStep {
    type Error = StoreError;

    fn try_from(row: StepRecord) -> Result<Self, StoreError> {
        Ok(RolloutStep {
            revision: row.revision as u64,
            action: row.action,
            target_version: row.target_version as u64,
            percent: row.percent.clamp(0, 100) as u8,
            orgs: parse_orgs(&row.orgs)
                .map_err(|e| StoreError::Corrupt("rollout step".into(), e))?,
            actor: row.actor,
            message: row.message,
            created_at: row.created_at,
        })
    }
}

/// Defines the release queries for one sqlx database type in a module of its own.
macro_rules! backend {
    ($module:ident, $db:ty) => {
        pub mod $module {
            use std::collections::BTreeMap;

            use super::super::queries::$module::{insert_change, next_revision, org_exists, policy};
            use super::super::{
                Change, ChangeAction, LabelInfo, LabelMove, LabelMoveRow, LabelRow, LabelState, MoveTarget,
                Promotion, Result, Selection, StoreError, now_ms,
            };
            use super::super::queries::stored_orgs;
            use super::super::{RolloutOp, RolloutRow, RolloutStep, RolloutWrite};
            use super::{MoveRecord, RolloutRecord, StepRecord, stored_label, with_emergency};
            use crate::domain::{Cohort, MAX_LISTED_ORGS};
            use crate::domain::{EntryId, Kind, Label, Labels, ReleasePolicy, Revision, Scope, Slug};

            type Pool = sqlx::Pool<$db>;
            type Tx<'t> = sqlx::Transaction<'t, $db>;

            /// Where `label` points in one entry now: the head for `latest` (and for
            /// `production` in an auto scope), else the label's row; `None` if nowhere.
            pub(in crate::store) async fn state_at(
                tx: &mut Tx<'_>,
                kind: Kind,
                server: &Slug,
                scope: &Scope,
                key: &str,
                label: &Label,
                policy: ReleasePolicy,
            ) -> Result<Option<LabelState>> {
                let follows_head = label.follows_head(policy);
                let row: Option<(i64, bool, bool)> = if follows_head {
                    sqlx::query_as(
                        "SELECT version, active, deleted FROM entries WHERE kind = $1 AND server = $2 AND org = $3 AND key = $4",
                    )
                    .bind(kind.as_str())
                    .bind(server.as_str())
                    .bind(scope.as_str())
                    .bind(key)
                    .fetch_optional(&mut **tx)
                    .await?
                } else {
                    sqlx::query_as(
                        "SELECT version, active, deleted FROM entry_labels \
                         WHERE kind = $1 AND server = $2 AND org = $3 AND key = $4 AND label = $5",
                    )
                    .bind(kind.as_str())
                    .bind(server.as_str())
                    .bind(scope.as_str())
                    .bind(key)
                    .bind(label.as_str())
                    .fetch_optional(&mut **tx)
                    .await?
                };
                Ok(row.map(|(version, active, deleted)| LabelState { version: version as u64, active, deleted }))
            }

            /// The entries `label` points at in a scope of a server, both kinds.
            async fn keys_at(
                tx: &mut Tx<'_>,
                server: &Slug,
                scope: &Scope,
                label: &Label,
                policy: ReleasePolicy,
            ) -> Result<Vec<(Kind, String)>> {
                let follows_head = label.follows_head(policy);
                let rows: Vec<(String, String)> = if follows_head {
                    sqlx::query_as("SELECT kind, key FROM entries WHERE server = $1 AND org = $2 ORDER BY kind, key")
                        .bind(server.as_str())
                        .bind(scope.as_str())
                        .fetch_all(&mut **tx)
                        .await?
                } else {
                    sqlx::query_as(
                        "SELECT kind, key FROM entry_labels WHERE server = $1 AND org = $2 AND label = $3 ORDER BY kind, key",
                    )
                    .bind(server.as_str())
                    .bind(scope.as_str())
                    .bind(label.as_str())
                    .fetch_all(&mut **tx)
                    .await?
                };
                rows.into_iter()
                    .map(|(kind, key)| {
                        let kind = kind.parse::<Kind>().map_err(|e| StoreError::Corrupt(key.clone(), e.to_string()))?;
                        Ok((kind, key))
                    })
                    .collect()
            }

            async fn version_exists(tx: &mut Tx<'_>, id: &EntryId, version: u64) -> Result<bool> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT version FROM entry_versions WHERE kind = $1 AND server = $2 AND org = $3 AND key = $4 AND version = $5",
                )
                .bind(id.kind.as_str())
                .bind(id.server.as_str())
                .bind(id.scope.as_str())
                .bind(id.key.as_str())
                .bind(version as i64)
                .fetch_optional(&mut **tx)
                .await?;
                Ok(row.is_some())
            }

            #[allow(clippy::too_many_arguments)]
            async fn set_label_row(
                tx: &mut Tx<'_>,
                kind: Kind,
                server: &Slug,
                scope: &Scope,
                key: &str,
                label: &Label,
                state: LabelState,
                revision: Revision,
                now: i64,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO entry_labels (kind, server, org, label, key, version, active, deleted, revision, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                     ON CONFLICT (kind, server, org, label, key) DO UPDATE SET version = excluded.version, \
                     active = excluded.active, deleted = excluded.deleted, revision = excluded.revision, \
                     updated_at = excluded.updated_at",
                )
                .bind(kind.as_str())
                .bind(server.as_str())
                .bind(scope.as_str())
                .bind(label.as_str())
                .bind(key)
                .bind(state.version as i64)
                .bind(state.active)
                .bind(state.deleted)
                .bind(revision as i64)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Refuses to move `label` where it moves by itself ([`Label::unmovable`]).
            fn refuse_unmovable(label: &Label, policy: ReleasePolicy, scope: &Scope, server: &Slug) -> Result<()> {
                match label.unmovable(policy) {
                    Some(why) => Err(StoreError::Refused(format!("{why} ({}, server {server})", scope.describe()))),
                    None => Ok(()),
                }
            }

            #[allow(clippy::too_many_arguments)]
            async fn insert_move(
                tx: &mut Tx<'_>,
                id: &EntryId,
                label: &Label,
                revision: Revision,
                from: Option<LabelState>,
                to: LabelState,
                actor: &str,
                message: &str,
                now: i64,
            ) -> Result<()> {
                sqlx::query(
                    "INSERT INTO label_moves (kind, server, org, key, label, revision, from_version, from_active, \
                     from_deleted, to_version, to_active, to_deleted, actor, message, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
                )
                .bind(id.kind.as_str())
                .bind(id.server.as_str())
                .bind(id.scope.as_str())
                .bind(id.key.as_str())
                .bind(label.as_str())
                .bind(revision as i64)
                .bind(from.map(|s| s.version as i64))
                .bind(from.map(|s| s.active))
                .bind(from.map(|s| s.deleted))
                .bind(to.version as i64)
                .bind(to.active)
                .bind(to.deleted)
                .bind(actor)
                .bind(message)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Moves a label in entries of one scope: one revision and one change per kind,
            /// all in one transaction; nothing moves if any move is refused. No change (nothing
            /// selected): the caller rolls back, so the revision taken is not spent.
            pub async fn promote(tx: &mut Tx<'_>, promotion: &Promotion, actor: &str) -> Result<Vec<Change>> {
                let Promotion { scope, server, label, selection, message, emergency } = promotion;
                // The label's history says so too, not only the change log.
                let message = &match emergency {
                    Some(policy) => format!("{message} [emergency: went past the {policy}]"),
                    None => message.clone(),
                };
                // First, so the transaction holds the write lock before it reads (SQLite).
                let mut first_revision = Some(next_revision(tx).await?);
                if let Scope::Org(slug) = scope && !org_exists(tx, slug.as_str()).await? {
                    return Err(StoreError::NotFound(format!("org {:?}", slug.as_str())));
                }
                let policy = policy(&mut **tx, server, scope).await?;
                refuse_unmovable(label, policy, scope, server)?;
                let moves: Vec<LabelMove> = match selection {
                    Selection::Only(moves) => moves.clone(),
                    Selection::Every { from } => keys_at(tx, server, scope, from, policy)
                        .await?
                        .into_iter()
                        .map(|(kind, key)| LabelMove { kind, key, to: MoveTarget::Label(from.clone()), expected_version: None })
                        .collect(),
                };
                if let Label::Named(_) = label {
                    sqlx::query(
                        "INSERT INTO labels (name, protected, declared, created_at, created_by) VALUES ($1, FALSE, FALSE, $2, $3) \
                         ON CONFLICT (name) DO NOTHING",
                    )
                    .bind(label.as_str())
                    .bind(now_ms())
                    .bind(actor)
                    .execute(&mut **tx)
                    .await?;
                }
                let mut by_kind: BTreeMap<Kind, Vec<&LabelMove>> = BTreeMap::new();
                for one in &moves {
                    by_kind.entry(one.kind).or_default().push(one);
                }
                let now = now_ms();
                let mut changes = Vec::new();
                for (kind, group) in by_kind {
                    let revision = match first_revision.take() {
                        Some(revision) => revision,
                        None => next_revision(tx).await?,
                    };
                    let mut moved = Vec::with_capacity(group.len());
                    for one in &group {
                        let id = EntryId {
                            scope: scope.clone(),
                            server: server.clone(),
                            kind,
                            key: crate::domain::EntryKey::parse(kind, &one.key)
                                .map_err(|e| StoreError::Corrupt(one.key.clone(), e.message))?,
                        };
                        let from = state_at(tx, kind, server, scope, &one.key, label, policy).await?;
                        let current = from.map_or(0, |s| s.version);
                        if let Some(expected) = one.expected_version && expected != current {
                            return Err(StoreError::Conflict { expected, current });
                        }
                        let to = match &one.to {
                            MoveTarget::Version(version) => {
                                if !version_exists(tx, &id, *version).await? {
                                    return Err(StoreError::NotFound(format!("version {version} of {id}")));
                                }
                                LabelState::live(*version)
                            }
                            MoveTarget::Label(source) => state_at(tx, kind, server, scope, &one.key, source, policy)
                                .await?
                                .ok_or_else(|| StoreError::NotFound(format!("label {:?} of {id}", source.as_str())))?,
                        };
                        set_label_row(tx, kind, server, scope, &one.key, label, to, revision, now).await?;
                        insert_move(tx, &id, label, revision, from, to, actor, message, now).await?;
                        moved.push(serde_json::json!({"key": one.key, "from": from, "to": to}));
                    }
                    let change = Change {
                        revision,
                        org: scope.clone(),
                        server: server.clone(),
                        kind,
                        keys: group.iter().map(|m| m.key.clone()).collect(),
                        action: ChangeAction::Promote,
                        restored_version: None,
                        labels: Labels::Only(vec![label.clone()]),
                        orgs: Vec::new(),
                        detail: Some(with_emergency(serde_json::json!({"message": message, "moves": moved}), emergency)),
                        actor: actor.to_owned(),
                        created_at: now,
                        published: false,
                    };
                    insert_change(tx, &change).await?;
                    changes.push(change);
                }
                Ok(changes)
            }

            /// Sets a scope's release policy. Turning manual pins `production` where the head
            /// stands (no view changes); turning auto lets it follow the head again. Either is
            /// one change per kind at `production`; setting the policy a scope has is nothing
            /// (and the caller rolls back, so the revision taken is not spent).
            pub async fn set_policy(
                tx: &mut Tx<'_>,
                server: &Slug,
                scope: &Scope,
                wanted: ReleasePolicy,
                actor: &str,
            ) -> Result<Vec<Change>> {
                // First, so the transaction holds the write lock before it reads (SQLite).
                let revision = next_revision(tx).await?;
                if let Scope::Org(slug) = scope && !org_exists(tx, slug.as_str()).await? {
                    return Err(StoreError::NotFound(format!("org {:?}", slug.as_str())));
                }
                if policy(&mut **tx, server, scope).await? == wanted {
                    return Ok(Vec::new());
                }
                let now = now_ms();
                let manual = wanted == ReleasePolicy::Manual;
                if !manual {
                    let protected: Option<(i64,)> = sqlx::query_as(
                        "SELECT approvals FROM approval_policies WHERE server = $1 AND org = $2 AND label = 'production'",
                    )
                    .bind(server.as_str())
                    .bind(scope.as_str())
                    .fetch_optional(&mut **tx)
                    .await?;
                    if let Some((approvals,)) = protected {
                        return Err(StoreError::Refused(format!(
                            "the approval policy of `production` (server {server}, {approvals} approvals) needs saves that do not move it: remove the policy before setting the release policy to auto"
                        )));
                    }
                }
                if manual {
                    sqlx::query(
                        "INSERT INTO entry_labels (kind, server, org, label, key, version, active, deleted, revision, updated_at) \
                         SELECT kind, server, org, 'production', key, version, active, deleted, revision, updated_at \
                         FROM entries WHERE server = $1 AND org = $2",
                    )
                    .bind(server.as_str())
                    .bind(scope.as_str())
                    .execute(&mut **tx)
                    .await?;
                } else {
                    sqlx::query("DELETE FROM entry_labels WHERE server = $1 AND org = $2 AND label = 'production'")
                        .bind(server.as_str())
                        .bind(scope.as_str())
                        .execute(&mut **tx)
                        .await?;
                    // A rollout of production ends with it: production is the head again.
                    sqlx::query("DELETE FROM rollouts WHERE server = $1 AND $2 = '' AND label = 'production'")
                        .bind(server.as_str())
                        .bind(scope.as_str())
                        .execute(&mut **tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO release_policies (server, org, manual, revision, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (server, org) DO UPDATE SET manual = excluded.manual, \
                     revision = excluded.revision, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(server.as_str())
                .bind(scope.as_str())
                .bind(manual)
                .bind(revision as i64)
                .bind(now)
                .bind(actor)
                .execute(&mut **tx)
                .await?;
                let mut changes = Vec::new();
                for (i, kind) in [Kind::Prompts, Kind::Resources].into_iter().enumerate() {
                    // The first change has the revision the policy row carries; the second its own.
                    let revision = if i == 0 { revision } else { next_revision(tx).await? };
                    let change = Change {
                        revision,
                        org: scope.clone(),
                        server: server.clone(),
                        kind,
                        keys: Vec::new(),
                        action: ChangeAction::Policy,
                        restored_version: None,
                        labels: Labels::Only(vec![Label::Production]),
                        orgs: Vec::new(),
                        detail: Some(serde_json::json!({"policy": wanted})),
                        actor: actor.to_owned(),
                        created_at: now,
                        published: false,
                    };
                    insert_change(tx, &change).await?;
                    changes.push(change);
                }
                Ok(changes)
            }

            /// Starts, changes, completes or aborts the rollout of a default entry's label: one
            /// revision, one change naming the orgs whose view changed (all of them, by an
            /// empty list, past [`MAX_LISTED_ORGS`]).
            pub async fn rollout(tx: &mut Tx<'_>, write: &RolloutWrite, actor: &str) -> Result<Change> {
                // First, so the transaction holds the write lock before it reads (SQLite).
                let revision = next_revision(tx).await?;
                let RolloutWrite { server, kind, key, label, op, message, emergency } = write;
                let scope = Scope::Defaults;
                let id = EntryId {
                    scope: scope.clone(),
                    server: server.clone(),
                    kind: *kind,
                    key: crate::domain::EntryKey::parse(*kind, key).map_err(|e| StoreError::Corrupt(key.clone(), e.message))?,
                };
                let policy = policy(&mut **tx, server, &scope).await?;
                refuse_unmovable(label, policy, &scope, server)?;
                if state_at(tx, *kind, server, &scope, key, label, policy).await?.is_none() {
                    return Err(StoreError::NotFound(format!(
                        "label {:?} of {id} (move it to the entry before rolling out)",
                        label.as_str()
                    )));
                }
                let existing: Option<RolloutRecord> = sqlx::query_as(
                    "SELECT target_version, percent, orgs, revision, updated_at FROM rollouts \
                     WHERE kind = $1 AND server = $2 AND label = $3 AND key = $4",
                )
                .bind(kind.as_str())
                .bind(server.as_str())
                .bind(label.as_str())
                .bind(key)
                .fetch_optional(&mut **tx)
                .await?;
                let no_rollout = || StoreError::NotFound(format!("rollout of label {:?} of {id}", label.as_str()));
                let (before, after, target) = match (op, &existing) {
                    (RolloutOp::Start { .. }, Some(_)) => {
                        return Err(StoreError::Refused(format!(
                            "a rollout of label {:?} of {id} is in progress: set its cohort, complete or abort it",
                            label.as_str()
                        )));
                    }
                    (RolloutOp::Start { target_version, cohort }, None) => {
                        if !version_exists(tx, &id, *target_version).await? {
                            return Err(StoreError::NotFound(format!("version {target_version} of {id}")));
                        }
                        (None, Some(cohort.clone()), *target_version)
                    }
                    (_, None) => return Err(no_rollout()),
                    (RolloutOp::Set(cohort), Some(old)) => (Some(old.cohort()?), Some(cohort.clone()), old.target_version as u64),
                    (RolloutOp::Complete, Some(old)) => (Some(old.cohort()?), Some(Cohort::everyone()), old.target_version as u64),
                    (RolloutOp::Abort, Some(old)) => (Some(old.cohort()?), None, old.target_version as u64),
                };
                let slugs: Vec<(String,)> = sqlx::query_as("SELECT slug FROM orgs ORDER BY slug").fetch_all(&mut **tx).await?;
                let orgs: Vec<Slug> = slugs
                    .into_iter()
                    .map(|(slug,)| Slug::parse("org", &slug).map_err(|e| StoreError::Corrupt(slug.clone(), e.message)))
                    .collect::<Result<_>>()?;
                if let Some(cohort) = &after
                    && let Some(unknown) = cohort.orgs.iter().find(|org| !orgs.contains(org))
                {
                    return Err(StoreError::NotFound(format!("org {:?}", unknown.as_str())));
                }
                let member = |cohort: &Option<Cohort>, org: &Slug| {
                    cohort.as_ref().is_some_and(|c| c.contains(org, server, *kind, key))
                };
                let mut changed: Vec<Slug> = orgs.into_iter().filter(|org| member(&before, org) != member(&after, org)).collect();
                // Completing moves the label itself, so every view changes (the defaults-only
                // one too, which no cohort holds): no list.
                if changed.len() > MAX_LISTED_ORGS || matches!(op, RolloutOp::Complete) {
                    changed.clear();
                }
                let now = now_ms();
                match op {
                    RolloutOp::Start { .. } | RolloutOp::Set(_) => {
                        let cohort = after.clone().expect("a start or a set has a cohort");
                        sqlx::query(
                            "INSERT INTO rollouts (kind, server, label, key, target_version, percent, orgs, revision, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (kind, server, label, key) DO UPDATE SET \
                             percent = excluded.percent, orgs = excluded.orgs, revision = excluded.revision, updated_at = excluded.updated_at",
                        )
                        .bind(kind.as_str())
                        .bind(server.as_str())
                        .bind(label.as_str())
                        .bind(key)
                        .bind(target as i64)
                        .bind(i64::from(cohort.percent))
                        .bind(stored_orgs(&cohort.orgs))
                        .bind(revision as i64)
                        .bind(now)
                        .execute(&mut **tx)
                        .await?;
                    }
                    RolloutOp::Complete | RolloutOp::Abort => {
                        sqlx::query("DELETE FROM rollouts WHERE kind = $1 AND server = $2 AND label = $3 AND key = $4")
                            .bind(kind.as_str())
                            .bind(server.as_str())
                            .bind(label.as_str())
                            .bind(key)
                            .execute(&mut **tx)
                            .await?;
                    }
                }
                if let RolloutOp::Complete = op {
                    let from = state_at(tx, *kind, server, &scope, key, label, policy).await?;
                    let to = LabelState::live(target);
                    set_label_row(tx, *kind, server, &scope, key, label, to, revision, now).await?;
                    insert_move(tx, &id, label, revision, from, to, actor, message, now).await?;
                }
                let step_cohort = after.clone().or(before).unwrap_or_default();
                sqlx::query(
                    "INSERT INTO rollout_steps (kind, server, label, key, revision, action, target_version, percent, orgs, actor, message, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(kind.as_str())
                .bind(server.as_str())
                .bind(label.as_str())
                .bind(key)
                .bind(revision as i64)
                .bind(op.as_str())
                .bind(target as i64)
                .bind(i64::from(if matches!(op, RolloutOp::Abort) { 0 } else { step_cohort.percent }))
                .bind(stored_orgs(&step_cohort.orgs))
                .bind(actor)
                .bind(message)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                let change = Change {
                    revision,
                    org: scope,
                    server: server.clone(),
                    kind: *kind,
                    keys: vec![key.clone()],
                    action: ChangeAction::Rollout,
                    restored_version: None,
                    labels: Labels::Only(vec![label.clone()]),
                    orgs: changed,
                    detail: Some(with_emergency(
                        serde_json::json!({
                            "message": message,
                            "step": op.as_str(),
                            "version": target,
                            "percent": step_cohort.percent,
                            "orgs": step_cohort.orgs,
                        }),
                        emergency,
                    )),
                    actor: actor.to_owned(),
                    created_at: now,
                    published: false,
                };
                insert_change(tx, &change).await?;
                Ok(change)
            }

            /// The rollout in progress on a default entry's label, and every step of its
            /// rollouts, newest first.
            pub async fn rollout_of(pool: &Pool, id: &EntryId, label: &Label) -> Result<(Option<RolloutRow>, Vec<RolloutStep>)> {
                let current: Option<RolloutRecord> = sqlx::query_as(
                    "SELECT target_version, percent, orgs, revision, updated_at FROM rollouts \
                     WHERE kind = $1 AND server = $2 AND label = $3 AND key = $4",
                )
                .bind(id.kind.as_str())
                .bind(id.server.as_str())
                .bind(label.as_str())
                .bind(id.key.as_str())
                .fetch_optional(pool)
                .await?;
                let steps: Vec<StepRecord> = sqlx::query_as(
                    "SELECT revision, action, target_version, percent, orgs, actor, message, created_at FROM rollout_steps \
                     WHERE kind = $1 AND server = $2 AND label = $3 AND key = $4 ORDER BY revision DESC",
                )
                .bind(id.kind.as_str())
                .bind(id.server.as_str())
                .bind(label.as_str())
                .bind(id.key.as_str())
                .fetch_all(pool)
                .await?;
                Ok((
                    current.map(|r| r.row()).transpose()?,
                    steps.into_iter().map(RolloutStep::try_from).collect::<Result<_>>()?,
                ))
            }

            /// A scope's own entries of a server at `label` (what the label points at, with
            /// that version's content): the head rows for `latest` and for `production` in an
            /// auto scope. A label the scope cannot know is not found, as in a view.
            pub async fn entries_at(pool: &Pool, kind: Kind, server: &Slug, scope: &Scope, label: &Label) -> Result<Vec<super::super::Head>> {
                let policy = policy(pool, server, scope).await?;
                let follows_head = label.follows_head(policy);
                if follows_head {
                    return super::super::queries::$module::list_entries(pool, kind, server, scope).await;
                }
                if let Label::Named(_) = label {
                    let (known,): (i64,) = sqlx::query_as(
                        "SELECT COUNT(*) FROM labels n WHERE n.name = $1 AND (n.declared OR EXISTS ( \
                         SELECT 1 FROM entry_labels k WHERE k.label = $1 AND k.org IN ('', $2)))",
                    )
                    .bind(label.as_str())
                    .bind(scope.as_str())
                    .fetch_one(pool)
                    .await?;
                    if known == 0 {
                        return Err(StoreError::NotFound(format!("label {:?}", label.as_str())));
                    }
                }
                let rows: Vec<(String, i64, bool, bool, i64, i64, Option<String>)> = sqlx::query_as(
                    "SELECT l.key, l.version, l.active, l.deleted, l.revision, l.updated_at, v.body \
                     FROM entry_labels l LEFT JOIN entry_versions v ON v.kind = l.kind AND v.server = l.server \
                     AND v.org = l.org AND v.key = l.key AND v.version = l.version \
                     WHERE l.kind = $1 AND l.server = $2 AND l.org = $3 AND l.label = $4 ORDER BY l.key",
                )
                .bind(kind.as_str())
                .bind(server.as_str())
                .bind(scope.as_str())
                .bind(label.as_str())
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(key, version, active, deleted, revision, updated_at, body)| super::super::Head {
                        key,
                        version: version as u64,
                        active,
                        deleted,
                        revision: revision as u64,
                        updated_at,
                        body,
                    })
                    .collect())
            }

            /// Every label of one entry besides `latest`, by name.
            pub async fn labels_of(pool: &Pool, id: &EntryId) -> Result<Vec<LabelRow>> {
                let rows: Vec<(String, i64, bool, bool, i64, i64)> = sqlx::query_as(
                    "SELECT label, version, active, deleted, revision, updated_at FROM entry_labels \
                     WHERE kind = $1 AND server = $2 AND org = $3 AND key = $4 ORDER BY label",
                )
                .bind(id.kind.as_str())
                .bind(id.server.as_str())
                .bind(id.scope.as_str())
                .bind(id.key.as_str())
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(label, version, active, deleted, revision, updated_at)| {
                        Ok(LabelRow {
                            label: stored_label(&label)?,
                            state: LabelState { version: version as u64, active, deleted },
                            revision: revision as u64,
                            updated_at,
                        })
                    })
                    .collect()
            }

            /// Every move of every label of one entry, newest first.
            pub async fn label_history(pool: &Pool, id: &EntryId) -> Result<Vec<LabelMoveRow>> {
                let rows: Vec<MoveRecord> = sqlx::query_as(
                    "SELECT label, revision, from_version, from_active, from_deleted, to_version, to_active, to_deleted, \
                     actor, message, created_at FROM label_moves \
                     WHERE kind = $1 AND server = $2 AND org = $3 AND key = $4 ORDER BY revision DESC, label",
                )
                .bind(id.kind.as_str())
                .bind(id.server.as_str())
                .bind(id.scope.as_str())
                .bind(id.key.as_str())
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(LabelMoveRow::try_from).collect()
            }

            pub async fn policy_of(pool: &Pool, server: &Slug, scope: &Scope) -> Result<ReleasePolicy> {
                policy(pool, server, scope).await
            }

            /// The labels created so far (and `production` when it was given a row to be
            /// protected), by name; for a reader of `org` (`Some`), only those it can know:
            /// declared, or pointing somewhere in the defaults or that org.
            pub async fn list_labels(pool: &Pool, org: Option<&str>) -> Result<Vec<LabelInfo>> {
                let rows: Vec<(String, bool, bool, i64, String)> = sqlx::query_as(
                    "SELECT name, protected, declared, created_at, created_by FROM labels n \
                     WHERE $1 = '*' OR n.declared OR EXISTS (SELECT 1 FROM entry_labels k WHERE k.label = n.name AND k.org IN ('', $1)) \
                     ORDER BY name",
                )
                .bind(org.unwrap_or("*"))
                .fetch_all(pool)
                .await?;
                rows.into_iter()
                    .map(|(name, protected, declared, created_at, created_by)| {
                        Ok(LabelInfo { name: stored_label(&name)?, protected, declared, created_at, created_by })
                    })
                    .collect()
            }

            /// Declares a label (every org may read at it; no entry points at it yet) or
            /// changes whether it is protected.
            pub async fn set_label(pool: &Pool, label: &Label, protected: bool, actor: &str) -> Result<LabelInfo> {
                let now = now_ms();
                sqlx::query(
                    "INSERT INTO labels (name, protected, declared, created_at, created_by) VALUES ($1, $2, TRUE, $3, $4) \
                     ON CONFLICT (name) DO UPDATE SET protected = excluded.protected, declared = TRUE",
                )
                .bind(label.as_str())
                .bind(protected)
                .bind(now)
                .bind(actor)
                .execute(pool)
                .await?;
                let (created_at, created_by): (i64, String) =
                    sqlx::query_as("SELECT created_at, created_by FROM labels WHERE name = $1")
                        .bind(label.as_str())
                        .fetch_one(pool)
                        .await?;
                Ok(LabelInfo { name: label.clone(), protected, declared: true, created_at, created_by })
            }
        }
    };
}

backend!(postgres, sqlx::Postgres);
backend!(sqlite, sqlx::Sqlite);
