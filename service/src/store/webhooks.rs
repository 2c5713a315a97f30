//! The SQL of change webhooks: endpoints, the fan-out of committed changes into deliveries (a
//! cursor over the change log, moved in the transaction that writes the deliveries), claiming
//! due deliveries across replicas, and each attempt's record. One text for both backends.

use super::{Change, Pool, Result, Store, StoreError};
use crate::domain::{EventType, Revision, Scope};

/// A registered endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRow {
    pub id: String,
    pub scope: Scope,
    pub url: String,
    pub description: String,
    /// Empty: every event type.
    pub events: Vec<EventType>,
    pub secret: String,
    /// The secret before the last rotation, still signed with until `previous_until` (ms).
    pub previous_secret: String,
    pub previous_until: i64,
    pub enabled: bool,
    /// Why the service disabled it (a `410 Gone`); empty otherwise.
    pub disabled_reason: String,
    /// Changes up to this revision predate it and are not delivered to it.
    pub since_revision: Revision,
    pub created_at: i64,
    pub created_by: String,
}

/// A delivery to be written by the fan-out (or a ping).
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery {
    pub id: String,
    pub webhook: String,
    pub revision: Revision,
    pub event: EventType,
    pub payload: String,
}

/// A delivery as the log shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub id: String,
    pub revision: Revision,
    pub event: String,
    pub payload: String,
    pub state: String,
    pub attempts: u32,
    pub next_at: i64,
    pub created_at: i64,
    pub log: Vec<AttemptRow>,
}

/// One attempt of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRow {
    pub attempt: u32,
    pub at: i64,
    /// The HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    pub error: String,
    pub duration_ms: i64,
}

/// A delivery claimed for one attempt: this replica alone sends attempt `attempt`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    pub id: String,
    pub webhook: String,
    pub payload: String,
    pub attempt: u32,
    /// When the claim ends (ms): the attempt must be over by then.
    pub lease_until: i64,
}

/// How an attempt ended, as the delivery records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    /// Try again at this time (ms).
    RetryAt(i64),
    /// No attempt is left.
    Failed,
    /// The endpoint answered 410 Gone: it is disabled.
    Gone,
}

impl Settled {
    fn state(self) -> &'static str {
        match self {
            Settled::Delivered => "delivered",
            Settled::RetryAt(_) => "pending",
            Settled::Failed | Settled::Gone => "failed",
        }
    }
}

#[derive(sqlx::FromRow)]
struct WebhookRecord {
    id: String,
    org: String,
    url: String,
    description: String,
    events: String,
    secret: String,
    previous_secret: String,
    previous_until: i64,
    enabled: bool,
    disabled_reason: String,
    since_revision: i64,
    created_at: i64,
    created_by: String,
}

impl TryFrom<WebhookRecord> for WebhookRow {
    type Error = StoreError;

    fn try_from(r: WebhookRecord) -> Result<Self> {
        let corrupt = |e: String| StoreError::Corrupt(format!("webhook {}", r.id), e);
        let names: Vec<String> =
            serde_json::from_str(&r.events).map_err(|e| corrupt(e.to_string()))?;
        let events = names
            .iter()
            .map(|n| EventType::parse("events", n).map_err(|e| corrupt(e.message.clone())))
            .collect::<Result<_>>()?;
        Ok(WebhookRow {
            scope: Scope::parse_optional("org", &r.org).map_err(|e| corrupt(e.message))?,
            events,
            id: r.id,
            url: r.url,
            description: r.description,
            secret: r.secret,
            previous_secret: r.previous_secret,
            previous_until: r.previous_until,
            enabled: r.enabled,
            disabled_reason: r.disabled_reason,
            since_revision: r.since_revision as u64,
            created_at: r.created_at,
            created_by: r.created_by,
        })
    }
}

fn stored_events(events: &[EventType]) -> String {
    let names: Vec<&str> = events.iter().map(|e| e.as_str()).collect();
    serde_json::to_string(&names).expect("names serialize")
}

#[derive(sqlx::FromRow)]
struct DeliveryRecord {
    id: String,
    revision: i64,
    event: String,
    payload: String,
    state: String,
    attempts: i64,
    next_at: i64,
    created_at: i64,
}

#[derive(sqlx::FromRow)]
struct AttemptRecord {
    delivery: String,
    attempt: i64,
    at: i64,
    status: i64,
    error: String,
    duration_ms: i64,
}

/// The columns of an endpoint.
macro_rules! webhook_columns {
    () => {
        "id, org, url, description, events, secret, previous_secret, previous_until, \
         enabled, disabled_reason, since_revision, created_at, created_by"
    };
}

/// Defines the webhook queries for one sqlx database type in a module of its own.
macro_rules! backend {
    ($module:ident, $db:ty) => {
        pub mod $module {
            use super::super::queries::$module::changes_in;
            use super::super::{Change, Result, StoreError};
            use super::{
                AttemptRecord, AttemptRow, Claimed, DeliveryRecord, DeliveryRow, NewDelivery, Settled,
                WebhookRecord, WebhookRow, stored_events,
            };

            type Pool = sqlx::Pool<$db>;
            type Tx<'t> = sqlx::Transaction<'t, $db>;

            /// Inserts an endpoint that gets the changes after the latest one (one statement:
            /// on SQLite a read before the write could fail on a concurrent writer).
            pub async fn insert(pool: &Pool, row: &WebhookRow) -> Result<WebhookRow> {
                let mut tx = pool.begin().await?;
                // The fan-out's lock: no fan-out runs between reading `since` and committing,
                // so the endpoint misses no change after it.
                sqlx::query("UPDATE counters SET value = value WHERE name = 'webhooks'").execute(&mut *tx).await?;
                let (since,): (i64,) = sqlx::query_as(
                    "INSERT INTO webhooks (id, org, url, description, events, secret, previous_secret, previous_until, \
                     enabled, disabled_reason, since_revision, created_at, created_by) \
                     SELECT $1, $2, $3, $4, $5, $6, '', 0, TRUE, '', value, $7, $8 FROM counters WHERE name = 'revision' \
                     RETURNING since_revision",
                )
                .bind(&row.id)
                .bind(row.scope.as_str())
                .bind(&row.url)
                .bind(&row.description)
                .bind(stored_events(&row.events))
                .bind(&row.secret)
                .bind(row.created_at)
                .bind(&row.created_by)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(WebhookRow { since_revision: since as u64, ..row.clone() })
            }

            pub async fn list(pool: &Pool, org: Option<&str>) -> Result<Vec<WebhookRow>> {
                let rows: Vec<WebhookRecord> = sqlx::query_as(concat!(
                    "SELECT ", webhook_columns!(), " FROM webhooks WHERE $1 IS NULL OR org = $1 ORDER BY org, created_at, id"
                ))
                .bind(org)
                .fetch_all(pool)
                .await?;
                rows.into_iter().map(WebhookRow::try_from).collect()
            }

            pub async fn get(pool: &Pool, id: &str) -> Result<Option<WebhookRow>> {
                let row: Option<WebhookRecord> = sqlx::query_as(concat!("SELECT ", webhook_columns!(), " FROM webhooks WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                row.map(WebhookRow::try_from).transpose()
            }

            /// Writes where deliveries go and what they are: URL, description, events (not the
            /// state or the secrets, which change by their own statements).
            pub async fn update(pool: &Pool, row: &WebhookRow) -> Result<bool> {
                let done = sqlx::query("UPDATE webhooks SET url = $2, description = $3, events = $4 WHERE id = $1")
                    .bind(&row.id)
                    .bind(&row.url)
                    .bind(&row.description)
                    .bind(stored_events(&row.events))
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn set_enabled(pool: &Pool, id: &str, enabled: bool) -> Result<bool> {
                let done = sqlx::query("UPDATE webhooks SET enabled = $2, disabled_reason = '' WHERE id = $1")
                    .bind(id)
                    .bind(enabled)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            /// A new secret; the current one becomes the previous, signing until `until`.
            pub async fn rotate(pool: &Pool, id: &str, secret: &str, until: i64) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE webhooks SET previous_secret = secret, secret = $2, previous_until = $3 WHERE id = $1",
                )
                .bind(id)
                .bind(secret)
                .bind(until)
                .execute(pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub async fn delete(pool: &Pool, id: &str) -> Result<bool> {
                let done = sqlx::query("DELETE FROM webhooks WHERE id = $1").bind(id).execute(pool).await?;
                Ok(done.rows_affected() == 1)
            }

            /// Turns the changes after the fan-out's cursor (at most `limit`) into the
            /// deliveries `plan` makes of them, and moves the cursor past them, in one
            /// transaction: a change gets its deliveries exactly once, whichever replica runs
            /// this and whenever it crashes. Returns how many deliveries were written.
            pub async fn fan_out(
                pool: &Pool,
                limit: u32,
                plan: impl Fn(&Change, &[WebhookRow]) -> Vec<NewDelivery>,
            ) -> Result<usize> {
                let counters: Vec<(String, i64)> =
                    sqlx::query_as("SELECT name, value FROM counters WHERE name IN ('revision', 'webhooks')")
                        .fetch_all(pool)
                        .await?;
                let value = |name: &str| counters.iter().find(|c| c.0 == name).map_or(0, |c| c.1);
                if value("webhooks") >= value("revision") {
                    return Ok(0);
                }
                let mut tx = pool.begin().await?;
                // The cursor's row lock (on SQLite the write lock) first: one fan-out at a time.
                let (cursor,): (i64,) =
                    sqlx::query_as("UPDATE counters SET value = value WHERE name = 'webhooks' RETURNING value")
                        .fetch_one(&mut *tx)
                        .await?;
                // Every change up to the committed revision is visible from here on (writers
                // commit in revision order); some revisions have no change (an upstream's).
                let (committed,): (i64,) = sqlx::query_as("SELECT value FROM counters WHERE name = 'revision'")
                    .fetch_one(&mut *tx)
                    .await?;
                let changes = changes_in(&mut tx, cursor as u64, limit).await?;
                let last = match changes.last() {
                    Some(change) if changes.len() as u64 == u64::from(limit) => change.revision,
                    Some(change) => change.revision.max(committed as u64),
                    None => committed as u64,
                };
                let hooks: Vec<WebhookRecord> = sqlx::query_as(concat!("SELECT ", webhook_columns!(), " FROM webhooks WHERE enabled"))
                    .fetch_all(&mut *tx)
                    .await?;
                let hooks = hooks.into_iter().map(WebhookRow::try_from).collect::<Result<Vec<_>>>()?;
                let mut written = 0;
                for change in &changes {
                    for delivery in plan(change, &hooks) {
                        insert_delivery(&mut tx, &delivery, change.created_at).await?;
                        written += 1;
                    }
                }
                sqlx::query("UPDATE counters SET value = $1 WHERE name = 'webhooks'")
                    .bind(last as i64)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(written)
            }

            /// Writes, in the caller's transaction, the deliveries `plan` makes for the enabled
            /// endpoints of `scope` (an event that is no change of the log: a change request's).
            pub(in crate::store) async fn deliver_in(
                tx: &mut Tx<'_>,
                scope: &str,
                now: i64,
                plan: impl FnOnce(&[WebhookRow]) -> Vec<NewDelivery>,
            ) -> Result<()> {
                let hooks: Vec<WebhookRecord> =
                    sqlx::query_as(concat!("SELECT ", webhook_columns!(), " FROM webhooks WHERE enabled AND org = $1"))
                        .bind(scope)
                        .fetch_all(&mut **tx)
                        .await?;
                let hooks = hooks.into_iter().map(WebhookRow::try_from).collect::<Result<Vec<_>>>()?;
                for delivery in plan(&hooks) {
                    insert_delivery(tx, &delivery, now).await?;
                }
                Ok(())
            }

            async fn insert_delivery(tx: &mut Tx<'_>, delivery: &NewDelivery, now: i64) -> Result<()> {
                sqlx::query(
                    "INSERT INTO webhook_deliveries (id, webhook, revision, event, payload, state, attempts, next_at, lease_until, created_at) \
                     VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, 0, $6)",
                )
                .bind(&delivery.id)
                .bind(&delivery.webhook)
                .bind(delivery.revision as i64)
                .bind(delivery.event.as_str())
                .bind(&delivery.payload)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            pub async fn add_delivery(pool: &Pool, delivery: &NewDelivery, now: i64) -> Result<()> {
                let mut tx = pool.begin().await?;
                insert_delivery(&mut tx, delivery, now).await?;
                tx.commit().await?;
                Ok(())
            }

            /// Claims at most `limit` due deliveries for one attempt each, until `lease_until`:
            /// of each enabled endpoint the oldest due one, and none of an endpoint with an
            /// attempt in flight anywhere (so a slow endpoint holds one attempt, never others').
            /// The conditions are checked again on the row the update locks, so two replicas
            /// never claim the same attempt.
            pub async fn claim(pool: &Pool, now: i64, lease_until: i64, limit: u32) -> Result<Vec<Claimed>> {
                let rows: Vec<(String, String, String, i64)> = sqlx::query_as(
                    "UPDATE webhook_deliveries SET attempts = attempts + 1, lease_until = $2 \
                     WHERE state = 'pending' AND next_at <= $1 AND lease_until <= $1 AND id IN ( \
                       SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook \
                       WHERE w.enabled AND d.state = 'pending' AND d.next_at <= $1 AND d.lease_until <= $1 \
                         AND d.id = (SELECT o.id FROM webhook_deliveries o WHERE o.webhook = d.webhook \
                           AND o.state = 'pending' AND o.next_at <= $1 ORDER BY o.next_at, o.id LIMIT 1) \
                         AND NOT EXISTS (SELECT 1 FROM webhook_deliveries f WHERE f.webhook = d.webhook \
                           AND f.state = 'pending' AND f.lease_until > $1) \
                       ORDER BY d.next_at LIMIT $3) \
                     RETURNING id, webhook, payload, attempts",
                )
                .bind(now)
                .bind(lease_until)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(id, webhook, payload, attempts)| Claimed { id, webhook, payload, attempt: attempts as u32, lease_until })
                    .collect())
            }

            /// Records attempt `attempt` of a delivery and what follows from it. The delivery
            /// moves on only if no other replica claimed a later attempt meanwhile (its lease
            /// ran out); the attempt is recorded either way.
            pub async fn settle(
                pool: &Pool,
                claimed: &Claimed,
                attempt: &AttemptRow,
                settled: Settled,
            ) -> Result<()> {
                let mut tx = pool.begin().await?;
                // The endpoint's row before the delivery's, in the order a DELETE of the
                // endpoint locks them (its cascade), so the two never deadlock.
                if settled == Settled::Gone {
                    sqlx::query("UPDATE webhooks SET enabled = FALSE, disabled_reason = $2 WHERE id = $1")
                        .bind(&claimed.webhook)
                        .bind("the endpoint answered 410 Gone")
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO webhook_attempts (delivery, attempt, at, status, error, duration_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(&claimed.id)
                .bind(i64::from(attempt.attempt))
                .bind(attempt.at)
                .bind(i64::from(attempt.status.unwrap_or(0)))
                .bind(&attempt.error)
                .bind(attempt.duration_ms)
                .execute(&mut *tx)
                .await?;
                let next_at = match settled {
                    Settled::RetryAt(at) => at,
                    _ => attempt.at,
                };
                sqlx::query(
                    "UPDATE webhook_deliveries SET state = $3, next_at = $4, lease_until = 0 \
                     WHERE id = $1 AND attempts = $2",
                )
                .bind(&claimed.id)
                .bind(i64::from(claimed.attempt))
                .bind(settled.state())
                .bind(next_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            /// The newest `limit` deliveries of an endpoint, newest first, with their attempts.
            pub async fn deliveries(pool: &Pool, webhook: &str, limit: u32) -> Result<Vec<DeliveryRow>> {
                let rows: Vec<DeliveryRecord> = sqlx::query_as(
                    "SELECT id, revision, event, payload, state, attempts, next_at, created_at \
                     FROM webhook_deliveries WHERE webhook = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
                )
                .bind(webhook)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
                let attempts: Vec<AttemptRecord> = sqlx::query_as(
                    "SELECT a.delivery, a.attempt, a.at, a.status, \
                     a.error, a.duration_ms FROM webhook_attempts a WHERE a.delivery IN ( \
                       SELECT id FROM webhook_deliveries WHERE webhook = $1 ORDER BY created_at DESC, id DESC LIMIT $2) \
                     ORDER BY a.attempt",
                )
                .bind(webhook)
                .bind(i64::from(limit))
                .fetch_all(pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|r| DeliveryRow {
                        log: attempts
                            .iter()
                            .filter(|a| a.delivery == r.id)
                            .map(|a| AttemptRow {
                                attempt: a.attempt as u32,
                                at: a.at,
                                status: u16::try_from(a.status).ok().filter(|s| *s != 0),
                                error: a.error.clone(),
                                duration_ms: a.duration_ms,
                            })
                            .collect(),
                        id: r.id,
                        revision: r.revision as u64,
                        event: r.event,
                        payload: r.payload,
                        state: r.state,
                        attempts: r.attempts as u32,
                        next_at: r.next_at,
                        created_at: r.created_at,
                    })
                    .collect())
            }

            /// Makes a delivery of `webhook` due again now (one more attempt, whatever its
            /// state); `false` if it has no such delivery.
            pub async fn redeliver(pool: &Pool, webhook: &str, delivery: &str, now: i64) -> Result<bool> {
                let done = sqlx::query(
                    "UPDATE webhook_deliveries SET state = 'pending', next_at = $3, lease_until = 0 \
                     WHERE id = $2 AND webhook = $1 AND lease_until <= $3",
                )
                .bind(webhook)
                .bind(delivery)
                .bind(now)
                .execute(pool)
                .await?;
                if done.rows_affected() == 1 {
                    return Ok(true);
                }
                let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM webhook_deliveries WHERE id = $2 AND webhook = $1")
                    .bind(webhook)
                    .bind(delivery)
                    .fetch_optional(pool)
                    .await?;
                Err(match exists {
                    Some(_) => StoreError::Refused(format!("delivery {delivery:?} has an attempt in flight")),
                    None => StoreError::NotFound(format!("delivery {delivery:?} of webhook {webhook:?}")),
                })
            }
        }
    };
}

backend!(postgres, sqlx::Postgres);
backend!(sqlite, sqlx::Sqlite);

impl Store {
    pub async fn insert_webhook(&self, row: &WebhookRow) -> Result<WebhookRow> {
        dispatch!(self, self, |q, pool| q::insert(pool, row).await)
    }

    /// The endpoints of one scope (`None`: of every scope).
    pub async fn webhooks(&self, scope: Option<&Scope>) -> Result<Vec<WebhookRow>> {
        dispatch!(self, self, |q, pool| q::list(
            pool,
            scope.map(Scope::as_str)
        )
        .await)
    }

    pub async fn webhook(&self, id: &str) -> Result<Option<WebhookRow>> {
        dispatch!(self, self, |q, pool| q::get(pool, id).await)
    }

    pub async fn update_webhook(&self, row: &WebhookRow) -> Result<bool> {
        dispatch!(self, self, |q, pool| q::update(pool, row).await)
    }

    pub async fn set_webhook_enabled(&self, id: &str, enabled: bool) -> Result<bool> {
        dispatch!(self, self, |q, pool| q::set_enabled(pool, id, enabled)
            .await)
    }

    pub async fn rotate_webhook_secret(&self, id: &str, secret: &str, until: i64) -> Result<bool> {
        dispatch!(self, self, |q, pool| q::rotate(pool, id, secret, until)
            .await)
    }

    pub async fn delete_webhook(&self, id: &str) -> Result<bool> {
        dispatch!(self, self, |q, pool| q::delete(pool, id).await)
    }

    /// See the backends' `fan_out`.
    pub async fn fan_out(
        &self,
        limit: u32,
        plan: impl Fn(&Change, &[WebhookRow]) -> Vec<NewDelivery>,
    ) -> Result<usize> {
        dispatch!(self, self, |q, pool| q::fan_out(pool, limit, plan).await)
    }

    /// A delivery made outside the fan-out (a test ping).
    pub async fn add_delivery(&self, delivery: &NewDelivery, now: i64) -> Result<()> {
        dispatch!(self, self, |q, pool| q::add_delivery(pool, delivery, now)
            .await)
    }

    pub async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<Claimed>> {
        dispatch!(self, self, |q, pool| q::claim(
            pool,
            now,
            lease_until,
            limit
        )
        .await)
    }

    pub async fn settle_delivery(
        &self,
        claimed: &Claimed,
        attempt: &AttemptRow,
        settled: Settled,
    ) -> Result<()> {
        dispatch!(self, self, |q, pool| q::settle(
            pool, claimed, attempt, settled
        )
        .await)
    }

    pub async fn deliveries(&self, webhook: &str, limit: u32) -> Result<Vec<DeliveryRow>> {
        dispatch!(self, self, |q, pool| q::deliveries(pool, webhook, limit)
            .await)
    }

    pub async fn redeliver(&self, webhook: &str, delivery: &str, now: i64) -> Result<bool> {
        dispatch!(self, self, |q, pool| q::redeliver(
            pool, webhook, delivery, now
        )
        .await)
    }
}
