//! The SQL of change requests: approval policies, requests and their trails, and applying a
//! request in one transaction with the saves and label moves it holds. Every change of a
//! request compares and sets its last event's number, so two people acting on one request at
//! once cannot both succeed on what they saw. One text for both backends.

use super::{Change, NewDelivery, Pool, Promotion, Result, Store, StoreError, WebhookRow, Write};

/// Makes the webhook deliveries of a request's event (numbered `seq`; the request as it is after it) for its scope's enabled
/// endpoints: written in the event's transaction, so an acknowledged event is never unannounced.
pub type Announce<'a> =
    &'a (dyn Fn(&ChangeRequestRow, u64, &[WebhookRow]) -> Vec<NewDelivery> + Send + Sync);
use crate::domain::{
    ApprovalPolicy, ApprovalRules, ApproverRole, Kind, Label, RequestItems, RequestState, Revision,
    Scope, Slug,
};

/// An approval policy as stored, with who set it last.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovalPolicyRow {
    pub label: Label,
    pub policy: ApprovalPolicy,
    pub updated_at: i64,
    pub updated_by: String,
}

/// A change request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRequestRow {
    pub id: u64,
    pub server: Slug,
    pub scope: Scope,
    pub title: String,
    pub description: String,
    pub author: String,
    pub state: RequestState,
    pub items: RequestItems,
    /// What approvals are given to ([`RequestItems::hash`]).
    pub content_hash: String,
    pub rules: ApprovalRules,
    /// When a scheduled request applies (ms since the epoch), and who scheduled it.
    pub scheduled_at: Option<i64>,
    pub scheduled_by: Option<String>,
    /// The last revision applying it committed.
    pub applied_revision: Option<Revision>,
    /// The number of its last event: what the next change of it compares.
    pub last_seq: u64,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One event of a request's trail.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestEventRow {
    pub seq: u64,
    pub action: String,
    pub actor: String,
    pub message: String,
    /// The request's content hash when it happened (an approval counts for this hash only).
    pub content_hash: String,
    /// Whether the actor held the admin role.
    pub admin: bool,
    pub created_at: i64,
}

/// What happened to a request, for its trail.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub action: &'static str,
    pub actor: String,
    /// Whether the actor held the admin role.
    pub admin: bool,
    pub message: String,
}

/// Which requests a list shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestFilter {
    /// `None`: every scope.
    pub scope: Option<Scope>,
    pub server: Option<Slug>,
    pub state: Option<RequestState>,
}

/// Where one entry or one of its labels stood when the request was opened (0: nowhere): what
/// applying checks first, so a request never overwrites a change made underneath it.
#[derive(Debug, Clone, PartialEq)]
pub struct BaseCheck {
    pub kind: Kind,
    pub key: String,
    /// `None`: the entry's head.
    pub label: Option<Label>,
    pub expected: u64,
}

/// What applying a request writes, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyPlan {
    pub checks: Vec<BaseCheck>,
    pub writes: Vec<Write>,
    pub promotions: Vec<Promotion>,
    /// Added to the `detail` of every change it commits: which request, who approved it.
    pub trail: serde_json::Value,
}

/// A stored change request (the columns of `change_requests`).
#[derive(sqlx::FromRow)]
struct RequestRecord {
    id: i64,
    server: String,
    org: String,
    title: String,
    description: String,
    author: String,
    state: String,
    items: String,
    content_hash: String,
    rules: String,
    scheduled_at: Option<i64>,
    scheduled_by: Option<String>,
    applied_revision: Option<i64>,
    last_seq: i64,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<RequestRecord> for ChangeRequestRow {
    type Error = StoreError;

    fn try_from(r: RequestRecord) -> Result<Self> {
        let corrupt = |e: String| StoreError::Corrupt(format!("change request {}", r.id), e);
        Ok(Self {
            id: r.id as u64,
            server: Slug::parse("server", &r.server).map_err(|e| corrupt(e.message))?,
            scope: Scope::parse_optional("org", &r.org).map_err(|e| corrupt(e.message))?,
            state: RequestState::parse("state", &r.state).map_err(|e| corrupt(e.message))?,
            items: serde_json::from_str(&r.items).map_err(|e| corrupt(e.to_string()))?,
            rules: serde_json::from_str(&r.rules).map_err(|e| corrupt(e.to_string()))?,
            title: r.title,
            description: r.description,
            author: r.author,
            content_hash: r.content_hash,
            scheduled_at: r.scheduled_at,
            scheduled_by: r.scheduled_by,
            applied_revision: r.applied_revision.map(|v| v as u64),
            last_seq: r.last_seq as u64,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct EventRecord {
    seq: i64,
    action: String,
    actor: String,
    message: String,
    content_hash: String,
    admin: bool,
    created_at: i64,
}

impl From<EventRecord> for RequestEventRow {
    fn from(r: EventRecord) -> Self {
        Self {
            seq: r.seq as u64,
            action: r.action,
            actor: r.actor,
            message: r.message,
            content_hash: r.content_hash,
            admin: r.admin,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct PolicyRecord {
    label: String,
    approvals: i64,
    approver_role: String,
    approvers: String,
    updated_at: i64,
    updated_by: String,
}

impl TryFrom<PolicyRecord> for ApprovalPolicyRow {
    type Error = StoreError;

    fn try_from(r: PolicyRecord) -> Result<Self> {
        let corrupt = |e: String| StoreError::Corrupt(format!("approval policy {}", r.label), e);
        let approver_role = ApproverRole::parse("approver_role", &r.approver_role)
            .map_err(|e| corrupt(e.message))?;
        Ok(Self {
            label: Label::parse("label", &r.label).map_err(|e| corrupt(e.message))?,
            policy: ApprovalPolicy {
                approvals: r.approvals.clamp(1, 10) as u8,
                approver_role,
                approvers: serde_json::from_str(&r.approvers)
                    .map_err(|e| corrupt(e.to_string()))?,
            },
            updated_at: r.updated_at,
            updated_by: r.updated_by,
        })
    }
}

fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).expect("change request parts serialize")
}

/// The columns of a request.
macro_rules! request_columns {
    () => {
        "id, server, org, title, description, author, state, items, content_hash, rules, \
         scheduled_at, scheduled_by, applied_revision, last_seq, created_at, updated_at"
    };
}

/// Defines the change-request queries for one sqlx database type in a module of its own.
macro_rules! backend {
    ($module:ident, $db:ty) => {
        pub mod $module {
            use super::super::queries::$module::{set_change_detail, org_exists};
            use super::super::webhooks::$module::deliver_in;
            use super::super::releases::$module::{promote, state_at};
            use super::super::queries::$module::apply as apply_writes;
            use super::super::queries::$module::policy as release_policy;
            use super::super::{Change, Result, StoreError, now_ms};
            use super::{
                Announce, ApplyPlan, ApprovalPolicyRow, ChangeRequestRow, EventRecord, NewEvent, PolicyRecord,
                RequestEventRow, RequestFilter, RequestRecord, json,
            };
            use crate::domain::{ApprovalPolicy, Label, ReleasePolicy, RequestState, Scope, Slug};

            type Pool = sqlx::Pool<$db>;
            type Tx<'t> = sqlx::Transaction<'t, $db>;

            /// Sets the policy of a label; `production` only where the release policy is
            /// manual (in an auto scope every save would move it without approval).
            pub async fn set_policy(
                pool: &Pool,
                server: &Slug,
                scope: &Scope,
                label: &Label,
                policy: &ApprovalPolicy,
                actor: &str,
            ) -> Result<ApprovalPolicyRow> {
                let mut tx = pool.begin().await?;
                let now = now_ms();
                // The writers' lock first (SQLite: before any read), as a release policy's switch
                // takes it: the two cannot interleave and leave `production` protected in an auto
                // scope.
                sqlx::query("UPDATE counters SET value = value WHERE name = 'revision'").execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO approval_policies (server, org, label, approvals, approver_role, approvers, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (server, org, label) DO UPDATE SET \
                     approvals = excluded.approvals, approver_role = excluded.approver_role, approvers = excluded.approvers, \
                     updated_at = excluded.updated_at, updated_by = excluded.updated_by",
                )
                .bind(server.as_str())
                .bind(scope.as_str())
                .bind(label.as_str())
                .bind(i64::from(policy.approvals))
                .bind(policy.approver_role.as_str())
                .bind(json(&policy.approvers))
                .bind(now)
                .bind(actor)
                .execute(&mut *tx)
                .await?;
                if let Scope::Org(slug) = scope && !org_exists(&mut tx, slug.as_str()).await? {
                    return Err(StoreError::NotFound(format!("org {:?}", slug.as_str())));
                }
                if *label == Label::Production && release_policy(&mut *tx, server, scope).await? == ReleasePolicy::Auto {
                    return Err(StoreError::Refused(format!(
                        "every save moves `production` here (release policy auto, server {server}): set the release policy to manual before protecting it with approvals"
                    )));
                }
                tx.commit().await?;
                Ok(ApprovalPolicyRow { label: label.clone(), policy: policy.clone(), updated_at: now, updated_by: actor.to_owned() })
            }

            pub async fn delete_policy(pool: &Pool, server: &Slug, scope: &Scope, label: &Label) -> Result<bool> {
                let done = sqlx::query("DELETE FROM approval_policies WHERE server = $1 AND org = $2 AND label = $3")
                    .bind(server.as_str())
                    .bind(scope.as_str())
                    .bind(label.as_str())
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn policies(pool: &Pool, server: &Slug, scope: &Scope) -> Result<Vec<ApprovalPolicyRow>> {
                let rows: Vec<PolicyRecord> = sqlx::query_as(
                    "SELECT label, approvals, approver_role, approvers, updated_at, updated_by FROM approval_policies \
                     WHERE server = $1 AND org = $2 ORDER BY label",
                )
                .bind(server.as_str())
                .bind(scope.as_str())
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(ApprovalPolicyRow::try_from).collect()
            }

            /// Records an event of a request (and its scope's webhook deliveries).
            #[allow(clippy::too_many_arguments)]
            async fn insert_event(
                tx: &mut Tx<'_>,
                row: &ChangeRequestRow,
                seq: u64,
                event: &NewEvent,
                now: i64,
                announce: Announce<'_>,
            ) -> Result<()> {
                let (id, hash) = (row.id, &row.content_hash);
                sqlx::query(
                    "INSERT INTO change_request_events (request_id, seq, action, actor, message, content_hash, admin, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id as i64)
                .bind(seq as i64)
                .bind(event.action)
                .bind(&event.actor)
                .bind(&event.message)
                .bind(hash)
                .bind(event.admin)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                deliver_in(tx, row.scope.as_str(), now, |hooks| announce(row, seq, hooks)).await
            }

            /// Opens a request (its id the next of the counter) with its first event.
            pub async fn open(pool: &Pool, row: &ChangeRequestRow, event: &NewEvent, announce: Announce<'_>) -> Result<ChangeRequestRow> {
                let mut tx = pool.begin().await?;
                let (id,): (i64,) =
                    sqlx::query_as("UPDATE counters SET value = value + 1 WHERE name = 'change_requests' RETURNING value")
                        .fetch_one(&mut *tx)
                        .await?;
                if let Scope::Org(slug) = &row.scope && !org_exists(&mut tx, slug.as_str()).await? {
                    return Err(StoreError::NotFound(format!("org {:?}", slug.as_str())));
                }
                let now = now_ms();
                let row = ChangeRequestRow { id: id as u64, last_seq: 1, created_at: now, updated_at: now, ..row.clone() };
                sqlx::query(concat!(
                    "INSERT INTO change_requests (", request_columns!(), ") \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
                ))
                .bind(id)
                .bind(row.server.as_str())
                .bind(row.scope.as_str())
                .bind(&row.title)
                .bind(&row.description)
                .bind(&row.author)
                .bind(row.state.as_str())
                .bind(json(&row.items))
                .bind(&row.content_hash)
                .bind(json(&row.rules))
                .bind(row.scheduled_at)
                .bind(&row.scheduled_by)
                .bind(row.applied_revision.map(|r| r as i64))
                .bind(1_i64)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
                insert_event(&mut tx, &row, 1, event, now, announce).await?;
                tx.commit().await?;
                Ok(row)
            }

            pub async fn get(pool: &Pool, id: u64) -> Result<Option<(ChangeRequestRow, Vec<RequestEventRow>)>> {
                let row: Option<RequestRecord> =
                    sqlx::query_as(concat!("SELECT ", request_columns!(), " FROM change_requests WHERE id = $1"))
                        .bind(id as i64)
                        .fetch_optional(pool)
                        .await?;
                let Some(row) = row else { return Ok(None) };
                let events: Vec<EventRecord> = sqlx::query_as(
                    "SELECT seq, action, actor, message, content_hash, admin, created_at FROM change_request_events \
                     WHERE request_id = $1 ORDER BY seq",
                )
                .bind(id as i64)
                .fetch_all(pool)
                .await?;
                Ok(Some((ChangeRequestRow::try_from(row)?, events.into_iter().map(Into::into).collect())))
            }

            /// Newest first.
            pub async fn list(pool: &Pool, filter: &RequestFilter, limit: u32) -> Result<Vec<ChangeRequestRow>> {
                let rows: Vec<RequestRecord> = sqlx::query_as(concat!(
                    "SELECT ", request_columns!(), " FROM change_requests \
                     WHERE ($1 IS NULL OR org = $1) AND ($2 IS NULL OR server = $2) AND ($3 IS NULL OR state = $3) \
                     ORDER BY id DESC LIMIT $4"
                ))
                .bind(filter.scope.as_ref().map(Scope::as_str))
                .bind(filter.server.as_ref().map(Slug::as_str))
                .bind(filter.state.map(RequestState::as_str))
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(ChangeRequestRow::try_from).collect()
            }

            /// Claims the request for one change: its `last_seq` must still be `seen`.
            async fn claim(tx: &mut Tx<'_>, id: u64, seen: u64, now: i64) -> Result<u64> {
                let done = sqlx::query(
                    "UPDATE change_requests SET last_seq = last_seq + 1, updated_at = $3 WHERE id = $1 AND last_seq = $2",
                )
                .bind(id as i64)
                .bind(seen as i64)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::Refused(format!(
                        "change request {id} changed meanwhile (someone else acted on it): read it again"
                    )));
                }
                Ok(seen + 1)
            }

            /// Writes `row`'s state, text, items, rules and schedule, with `event`, if the
            /// request is still as its writer saw it (`row.last_seq`).
            pub async fn update(pool: &Pool, row: &ChangeRequestRow, event: &NewEvent, announce: Announce<'_>) -> Result<ChangeRequestRow> {
                let mut tx = pool.begin().await?;
                let now = now_ms();
                let seq = claim(&mut tx, row.id, row.last_seq, now).await?;
                sqlx::query(
                    "UPDATE change_requests SET title = $2, description = $3, state = $4, items = $5, content_hash = $6, \
                     rules = $7, scheduled_at = $8, scheduled_by = $9 WHERE id = $1",
                )
                .bind(row.id as i64)
                .bind(&row.title)
                .bind(&row.description)
                .bind(row.state.as_str())
                .bind(json(&row.items))
                .bind(&row.content_hash)
                .bind(json(&row.rules))
                .bind(row.scheduled_at)
                .bind(&row.scheduled_by)
                .execute(&mut *tx)
                .await?;
                let row = ChangeRequestRow { last_seq: seq, updated_at: now, ..row.clone() };
                insert_event(&mut tx, &row, seq, event, now, announce).await?;
                tx.commit().await?;
                Ok(row)
            }

            /// Applies a request in one transaction: claims it, checks that nothing it changes
            /// moved since it was opened, saves its edits, moves its labels, marks it applied.
            pub async fn apply(
                pool: &Pool,
                row: &ChangeRequestRow,
                plan: &ApplyPlan,
                event: &NewEvent,
                announce: Announce<'_>,
            ) -> Result<Vec<Change>> {
                let mut tx = pool.begin().await?;
                let now = now_ms();
                let seq = claim(&mut tx, row.id, row.last_seq, now).await?;
                let policy = release_policy(&mut *tx, &row.server, &row.scope).await?;
                for check in &plan.checks {
                    let label = check.label.clone().unwrap_or(Label::Latest);
                    let now_at = state_at(&mut tx, check.kind, &row.server, &row.scope, &check.key, &label, policy)
                        .await?
                        .map_or(0, |s| s.version);
                    if now_at != check.expected {
                        let what = match &check.label {
                            None => format!("{} {:?}", check.kind.as_str().to_lowercase(), check.key),
                            Some(label) => format!("label {label} of {} {:?}", check.kind.as_str().to_lowercase(), check.key),
                        };
                        return Err(StoreError::Refused(format!(
                            "{what} changed since the request was opened (version {} then, {now_at} now): edit the request to start from what is there now",
                            check.expected
                        )));
                    }
                }
                let mut changes = apply_writes(&mut tx, &plan.writes, &[], &[], &event.actor).await?;
                for promotion in &plan.promotions {
                    changes.extend(promote(&mut tx, promotion, &event.actor).await?);
                }
                for change in &mut changes {
                    let mut detail = change.detail.take().unwrap_or_else(|| serde_json::json!({}));
                    detail["change_request"] = plan.trail.clone();
                    set_change_detail(&mut tx, change.revision, &detail).await?;
                    change.detail = Some(detail);
                }
                let last = changes.iter().map(|c| c.revision as i64).max();
                sqlx::query(
                    "UPDATE change_requests SET state = $2, applied_revision = $3, scheduled_at = NULL WHERE id = $1",
                )
                .bind(row.id as i64)
                .bind(RequestState::Applied.as_str())
                .bind(last)
                .execute(&mut *tx)
                .await?;
                let applied = ChangeRequestRow {
                    state: RequestState::Applied,
                    applied_revision: last.map(|r| r as u64),
                    scheduled_at: None,
                    last_seq: seq,
                    updated_at: now,
                    ..row.clone()
                };
                insert_event(&mut tx, &applied, seq, event, now, announce).await?;
                tx.commit().await?;
                Ok(changes)
            }

            /// The scheduled requests due at `now`, oldest schedule first.
            pub async fn due(pool: &Pool, now: i64, limit: u32) -> Result<Vec<u64>> {
                let rows: Vec<(i64,)> = sqlx::query_as(
                    "SELECT id FROM change_requests WHERE state = 'scheduled' AND scheduled_at <= $1 \
                     ORDER BY scheduled_at, id LIMIT $2",
                )
                .bind(now)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(|(id,)| id as u64).collect())
            }
        }
    };
}

backend!(postgres, sqlx::Postgres);
backend!(sqlite, sqlx::Sqlite);

impl Store {
    pub async fn set_approval_policy(
        &self,
        server: &Slug,
        scope: &Scope,
        label: &Label,
        policy: &ApprovalPolicy,
        actor: &str,
    ) -> Result<ApprovalPolicyRow> {
        dispatch!(self, self, |q, pool| q::set_policy(
            pool, server, scope, label, policy, actor
        )
        .await)
    }

    pub async fn delete_approval_policy(
        &self,
        server: &Slug,
        scope: &Scope,
        label: &Label,
    ) -> Result<bool> {
        dispatch!(self, self, |q, pool| q::delete_policy(
            pool, server, scope, label
        )
        .await)
    }

    /// The approval policies of one scope of a server, by label.
    pub async fn approval_policies(
        &self,
        server: &Slug,
        scope: &Scope,
    ) -> Result<Vec<ApprovalPolicyRow>> {
        dispatch!(self, self, |q, pool| q::policies(pool, server, scope).await)
    }

    pub async fn open_change_request(
        &self,
        row: &ChangeRequestRow,
        event: &NewEvent,
        announce: Announce<'_>,
    ) -> Result<ChangeRequestRow> {
        dispatch!(self, self, |q, pool| q::open(pool, row, event, announce)
            .await)
    }

    /// A request and its trail, oldest event first.
    pub async fn change_request(
        &self,
        id: u64,
    ) -> Result<Option<(ChangeRequestRow, Vec<RequestEventRow>)>> {
        dispatch!(self, self, |q, pool| q::get(pool, id).await)
    }

    pub async fn change_requests(
        &self,
        filter: &RequestFilter,
        limit: u32,
    ) -> Result<Vec<ChangeRequestRow>> {
        dispatch!(self, self, |q, pool| q::list(pool, filter, limit).await)
    }

    pub async fn update_change_request(
        &self,
        row: &ChangeRequestRow,
        event: &NewEvent,
        announce: Announce<'_>,
    ) -> Result<ChangeRequestRow> {
        dispatch!(self, self, |q, pool| q::update(pool, row, event, announce)
            .await)
    }

    pub async fn apply_change_request(
        &self,
        row: &ChangeRequestRow,
        plan: &ApplyPlan,
        event: &NewEvent,
        announce: Announce<'_>,
    ) -> Result<Vec<Change>> {
        dispatch!(self, self, |q, pool| q::apply(
            pool, row, plan, event, announce
        )
        .await)
    }

    pub async fn due_change_requests(&self, now: i64, limit: u32) -> Result<Vec<u64>> {
        dispatch!(self, self, |q, pool| q::due(pool, now, limit).await)
    }
}
