//! The only place with SQL: PostgreSQL (production) and SQLite (the embedded default) behind one
//! [`Store`].
//!
//! Every query is written once, in [`queries`], and instantiated for both backends by a macro;
//! the few places where the dialects differ are marked there. Every write is one transaction
//! that takes the next global revision first (see `docs/design.md`, "Stores").

mod leadership;
mod queries;
mod releases;
mod rows;

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::PgPoolOptions,
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

pub use change_requests::{
    Announce, ApplyPlan, ApprovalPolicyRow, BaseCheck, ChangeRequestRow, NewEvent, RequestEventRow,
    RequestFilter,
};
pub use leadership::Leadership;
pub use rows::{
    Change, ChangeAction, ChangeFilter, Head, LabelInfo, LabelMove, LabelMoveRow, LabelRow,
    LabelState, LoadedView, MoveTarget, OrgRow, Promotion, RolloutOp, RolloutRow, RolloutStep,
    RolloutWrite, ScopeFilter, Selection, UpstreamHead, UpstreamOp, UpstreamWrite, VersionRow,
    ViewRow, Write, WriteOp,
};
pub use sessions::{SignInAttempt, UiSession};
pub use webhooks::{AttemptRow, Claimed, DeliveryRow, NewDelivery, Settled, WebhookRow};

use crate::domain::{EntryId, Kind, Label, ReleasePolicy, Revision, Scope, Slug, ViewKey};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("unsupported database URL {0:?}: expected postgres://… or sqlite://…")]
    UnsupportedUrl(String),
    #[error("version conflict: expected version {expected}, current version is {current}")]
    Conflict { expected: u64, current: u64 },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("stored content of {0} is corrupt: {1}")]
    Corrupt(String, String),
    /// What was asked contradicts the state it would change (moving `latest`, say).
    #[error("{0}")]
    Refused(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// Whether the database could not be reached — down, restarting, in recovery, cut off —
    /// rather than refusing what was asked: worth trying again.
    pub fn is_unreachable(&self) -> bool {
        let error = match self {
            StoreError::Database(e)
            | StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => e,
            _ => return false,
        };
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            // Class 08 (connection exception) and 57P0x: starting up, shutting down, crashed.
            sqlx::Error::Database(e) => e
                .code()
                .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
            _ => false,
        }
    }
}

#[derive(Clone, Debug)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// Runs the same code against whichever backend the store was opened with: `$backend` names the
/// module of queries for it, `$pool` the pool.
/// Runs `$body` with `$backend` naming the backend's module of `$queries` (`queries` unless
/// said) and `$pool` its pool.
macro_rules! dispatch {
    ($self:expr, |$backend:ident, $pool:ident| $body:expr) => {
        dispatch!($self, queries, |$backend, $pool| $body)
    };
    ($self:expr, $queries:ident, |$backend:ident, $pool:ident| $body:expr) => {
        match &$self.pool {
            Pool::Postgres($pool) => {
                use $queries::postgres as $backend;
                $body
            }
            Pool::Sqlite($pool) => {
                use $queries::sqlite as $backend;
                $body
            }
        }
    };
}

// After `dispatch!`, which their `Store` methods use.
mod change_requests;
mod listeners;
mod sessions;
mod webhooks;

/// A handle on the database; cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
}

impl Store {
    /// Opens `url` (`postgres://…` or `sqlite://path`, the file created if missing).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect(url)
                    .await?,
            )
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true);
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await?,
            )
        } else {
            return Err(StoreError::UnsupportedUrl(crate::secrets::redact_url(url)));
        };
        Ok(Self { pool })
    }

    /// Applies the pending migrations of this backend.
    pub async fn migrate(&self) -> Result<()> {
        match &self.pool {
            Pool::Postgres(pool) => sqlx::migrate!("../migrations/postgres").run(pool).await?,
            Pool::Sqlite(pool) => sqlx::migrate!("../migrations/sqlite").run(pool).await?,
        }
        Ok(())
    }

    /// Whether every migration this build knows has been applied.
    pub async fn migrations_applied(&self) -> Result<bool> {
        let (applied, known) = match &self.pool {
            Pool::Postgres(pool) => (
                queries::postgres::applied_migrations(pool).await?,
                sqlx::migrate!("../migrations/postgres").iter().count(),
            ),
            Pool::Sqlite(pool) => (
                queries::sqlite::applied_migrations(pool).await?,
                sqlx::migrate!("../migrations/sqlite").iter().count(),
            ),
        };
        Ok(applied as usize >= known)
    }

    /// The PostgreSQL pool, for what only PostgreSQL has (advisory locks, LISTEN/NOTIFY).
    pub fn postgres(&self) -> Option<&PgPool> {
        match &self.pool {
            Pool::Postgres(pool) => Some(pool),
            Pool::Sqlite(_) => None,
        }
    }

    pub async fn ping(&self) -> Result<()> {
        dispatch!(self, |q, pool| q::ping(pool).await)
    }

    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }

    /// The rows of one effective view (defaults and, with an org, that org's rows) and the
    /// global revision they were read at, in one statement so both come from one snapshot.
    pub async fn load_view(&self, key: &ViewKey) -> Result<LoadedView> {
        dispatch!(self, |q, pool| q::load_view(
            pool,
            key.kind,
            &key.server,
            &key.scope,
            &key.label
        )
        .await)
    }

    /// Moves a label in entries of one scope, in one transaction (one revision per kind).
    pub async fn promote(&self, promotion: &Promotion, actor: &str) -> Result<Vec<Change>> {
        dispatch!(self, releases, |q, pool| {
            let mut tx = pool.begin().await?;
            let changes = q::promote(&mut tx, promotion, actor).await?;
            // Nothing moved: the revision it took goes back (revisions have no gaps).
            if !changes.is_empty() {
                tx.commit().await?;
            }
            Ok(changes)
        })
    }

    /// Sets a scope's release policy; the changes it committed (none if it had that policy).
    pub async fn set_policy(
        &self,
        server: &Slug,
        scope: &Scope,
        policy: ReleasePolicy,
        actor: &str,
    ) -> Result<Vec<Change>> {
        dispatch!(self, releases, |q, pool| {
            let mut tx = pool.begin().await?;
            let changes = q::set_policy(&mut tx, server, scope, policy, actor).await?;
            // The policy it had: the revision it took goes back (revisions have no gaps).
            if !changes.is_empty() {
                tx.commit().await?;
            }
            Ok(changes)
        })
    }

    pub async fn policy(&self, server: &Slug, scope: &Scope) -> Result<ReleasePolicy> {
        dispatch!(self, releases, |q, pool| q::policy_of(pool, server, scope)
            .await)
    }

    /// A scope's own entries of a server at `label`, with the content each points at.
    pub async fn entries_at(
        &self,
        kind: Kind,
        server: &Slug,
        scope: &Scope,
        label: &Label,
    ) -> Result<Vec<Head>> {
        dispatch!(self, releases, |q, pool| q::entries_at(
            pool, kind, server, scope, label
        )
        .await)
    }

    /// The labels of one entry besides `latest` (which is its head).
    pub async fn labels_of(&self, id: &EntryId) -> Result<Vec<LabelRow>> {
        dispatch!(self, releases, |q, pool| q::labels_of(pool, id).await)
    }

    /// Every move of every label of one entry, newest first.
    pub async fn label_history(&self, id: &EntryId) -> Result<Vec<LabelMoveRow>> {
        dispatch!(self, releases, |q, pool| q::label_history(pool, id).await)
    }

    /// Starts, changes, completes or aborts a rollout, in one transaction with one revision.
    pub async fn rollout(&self, write: &RolloutWrite, actor: &str) -> Result<Change> {
        dispatch!(self, releases, |q, pool| {
            let mut tx = pool.begin().await?;
            let change = q::rollout(&mut tx, write, actor).await?;
            tx.commit().await?;
            Ok(change)
        })
    }

    /// The rollout in progress on a default entry's label, if any, and every step of its
    /// rollouts, newest first.
    pub async fn rollout_of(
        &self,
        id: &EntryId,
        label: &Label,
    ) -> Result<(Option<RolloutRow>, Vec<RolloutStep>)> {
        dispatch!(self, releases, |q, pool| q::rollout_of(pool, id, label)
            .await)
    }

    /// The labels, every one (`org` `None`) or those a reader of `org` can know.
    pub async fn list_labels(&self, org: Option<&Slug>) -> Result<Vec<LabelInfo>> {
        dispatch!(self, releases, |q, pool| q::list_labels(
            pool,
            org.map(Slug::as_str)
        )
        .await)
    }

    pub async fn set_label(
        &self,
        label: &Label,
        protected: bool,
        actor: &str,
    ) -> Result<LabelInfo> {
        dispatch!(self, releases, |q, pool| q::set_label(
            pool, label, protected, actor
        )
        .await)
    }

    /// Head rows (with current content) of one scope's entries of a server, including
    /// inactive ones and, if asked, deleted ones.
    pub async fn list_entries(
        &self,
        kind: Kind,
        server: &Slug,
        scope: &Scope,
    ) -> Result<Vec<Head>> {
        dispatch!(self, |q, pool| q::list_entries(pool, kind, server, scope)
            .await)
    }

    /// The servers that have entries (of either kind) in a scope.
    pub async fn list_servers(&self, scope: &Scope) -> Result<Vec<String>> {
        dispatch!(self, |q, pool| q::list_servers(pool, scope).await)
    }

    pub async fn head(&self, id: &EntryId) -> Result<Option<Head>> {
        dispatch!(self, |q, pool| q::head(pool, id).await)
    }

    pub async fn history(&self, id: &EntryId) -> Result<Vec<VersionRow>> {
        dispatch!(self, |q, pool| q::history(pool, id).await)
    }

    pub async fn version(&self, id: &EntryId, version: u64) -> Result<Option<VersionRow>> {
        dispatch!(self, |q, pool| q::version(pool, id, version).await)
    }

    /// Applies `writes` (and `upstreams`, each at a revision of its own) in one transaction,
    /// all or nothing. Writes are grouped by (scope, server, kind); each group gets one
    /// revision and one `changes` row. Returns the changes committed.
    pub async fn apply(
        &self,
        writes: &[Write],
        orgs: &[OrgRow],
        upstreams: &[UpstreamWrite],
        actor: &str,
    ) -> Result<Vec<Change>> {
        dispatch!(self, |q, pool| {
            let mut tx = pool.begin().await?;
            let changes = q::apply(&mut tx, writes, orgs, upstreams, actor).await?;
            tx.commit().await?;
            Ok(changes)
        })
    }

    /// Registers an org; returns the changes that tell readers its views are no longer an
    /// unknown org's.
    pub async fn create_org(&self, org: &OrgRow) -> Result<Vec<Change>> {
        dispatch!(self, |q, pool| {
            let mut tx = pool.begin().await?;
            let changes = q::create_org(&mut tx, org).await?;
            tx.commit().await?;
            Ok(changes)
        })
    }

    /// A server's upstream, deleted or not; `None` if it never had one.
    pub async fn upstream(&self, server: &Slug) -> Result<Option<UpstreamHead>> {
        dispatch!(self, |q, pool| q::upstream(pool, server).await)
    }

    /// Every server's upstream that is not deleted, by server.
    pub async fn upstreams(&self) -> Result<Vec<UpstreamHead>> {
        dispatch!(self, |q, pool| q::upstreams(pool).await)
    }

    /// Every version of a server's upstream, oldest first: who set what, when and why.
    pub async fn upstream_history(&self, server: &Slug) -> Result<Vec<VersionRow>> {
        dispatch!(self, |q, pool| q::upstream_history(pool, server).await)
    }

    /// One version of a server's upstream.
    pub async fn upstream_version(
        &self,
        server: &Slug,
        version: u64,
    ) -> Result<Option<VersionRow>> {
        dispatch!(self, |q, pool| q::upstream_version(pool, server, version)
            .await)
    }

    pub async fn write_upstream(&self, write: &UpstreamWrite, actor: &str) -> Result<UpstreamHead> {
        dispatch!(self, |q, pool| {
            let mut tx = pool.begin().await?;
            let head = q::write_upstream(&mut tx, write, actor).await?;
            tx.commit().await?;
            Ok(head)
        })
    }

    pub async fn list_orgs(&self) -> Result<Vec<OrgRow>> {
        dispatch!(self, |q, pool| q::list_orgs(pool).await)
    }

    /// Changes after `revision` in revision order, at most `limit`, optionally of one org
    /// (plus the defaults') and one server.
    pub async fn changes_after(
        &self,
        revision: Revision,
        limit: u32,
        org: Option<&str>,
        server: Option<&str>,
    ) -> Result<Vec<Change>> {
        dispatch!(self, |q, pool| q::changes_after(
            pool, revision, limit, org, server
        )
        .await)
    }

    /// The change log newest first: at most `limit` changes before revision `before` (from the
    /// newest when `None`) that `filter` lets through.
    pub async fn change_log(
        &self,
        filter: &ChangeFilter,
        before: Option<Revision>,
        limit: u32,
    ) -> Result<Vec<Change>> {
        dispatch!(self, |q, pool| q::change_log(pool, filter, before, limit)
            .await)
    }

    /// Unpublished changes in revision order, at most `limit`.
    /// The oldest changes after `after` not marked published.
    pub async fn unpublished(&self, after: Revision, limit: u32) -> Result<Vec<Change>> {
        dispatch!(self, |q, pool| q::unpublished(pool, after, limit).await)
    }

    pub async fn mark_published(&self, from: Revision, through: Revision) -> Result<()> {
        dispatch!(self, |q, pool| q::mark_published(pool, from, through).await)
    }

    /// The newest committed revision.
    /// The revision of the newest change a scope's server shows (its own entries' and, for an
    /// org, the defaults'): what the scope lists cannot have changed while it stays the same.
    pub async fn scope_revision(&self, scope: &Scope, server: &Slug) -> Result<Revision> {
        dispatch!(self, |q, pool| q::scope_revision(
            pool,
            scope.as_str(),
            server.as_str()
        )
        .await)
    }

    pub async fn latest_revision(&self) -> Result<Revision> {
        dispatch!(self, |q, pool| q::latest_revision(pool).await)
    }

    /// The oldest revision still in the change log (0 if it is empty): Watch cannot replay
    /// from before it.
    /// Per server, the newest revision whose change has been published.
    pub async fn latest_published_by_server(&self) -> Result<Vec<(String, Revision)>> {
        dispatch!(self, |q, pool| q::latest_published_by_server(pool).await)
    }

    pub async fn oldest_retained_revision(&self) -> Result<Revision> {
        dispatch!(self, |q, pool| q::oldest_retained_revision(pool).await)
    }

    /// Deletes published changes older than `before_ms`, keeping the newest one so the log
    /// always knows the current revision. Returns how many were deleted.
    pub async fn prune_changes(&self, before_ms: i64) -> Result<u64> {
        dispatch!(self, |q, pool| q::prune_changes(pool, before_ms).await)
    }
}

/// A time as milliseconds since the Unix epoch, as the store keeps times.
pub(crate) fn unix_ms(at: time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// A duration in the milliseconds the store's time columns count (saturating).
pub(crate) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {}
