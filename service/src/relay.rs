//! The relay: publishes committed changes, in revision order, exactly from the outbox.
//!
//! Each unpublished `changes` row is turned into an [`InvalidationEvent`], handed to the
//! [`Publisher`] (the in-process bus, or Redis: L2 keys dropped, then `PUBLISH`), and only then
//! marked published. A failure leaves the row for the next round, after a backoff, so nothing
//! committed is ever lost and nothing is published out of order. On PostgreSQL one replica's
//! relay leads at a time ([`Leadership`]); a commit wakes the relay at once (in process, or
//! announced by PostgreSQL to the leader), and a slow poll catches anything else.

use std::{sync::Arc, time::Duration};

use mcp_config_proto::v1::InvalidationEvent;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    cache::ViewCache,
    domain::Revision,
    events,
    store::{Change, Leadership, Store, StoreError},
};

/// Changes read at a time.
const BATCH: u32 = 256;

/// Where events go.
#[derive(Clone)]
pub enum Channel {
    /// This process only (no Redis): straight onto the bus.
    Local(events::Bus),
    /// Redis pub/sub, which every replica (this one included) subscribes to.
    Redis(crate::redis::RedisPublisher),
}

/// Publishes events, and drops this replica's L1 entries of each without waiting for the event
/// to come back through the channel: a client told of a change must not be served the old view
/// by the replica that published it.
#[derive(Clone)]
pub struct Publisher {
    pub channel: Channel,
    pub local: ViewCache,
}

impl Publisher {
    async fn publish(&self, event: &InvalidationEvent) -> Result<(), crate::redis::RedisError> {
        let stale = events::invalidation_of(event);
        self.local.invalidate(&stale).await;
        match &self.channel {
            Channel::Local(bus) => bus.publish(event.clone()),
            // Dropped again after: a read between the first drop and the publish script (which
            // drops L2) may have reloaded the old view from L2.
            Channel::Redis(redis) => {
                redis.publish(event).await?;
                self.local.invalidate(&stale).await;
            }
        }
        Ok(())
    }
}

/// Wakes the relay after a commit.
#[derive(Clone, Default)]
pub struct RelayHandle {
    wake: Arc<Notify>,
}

impl RelayHandle {
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

pub struct Relay {
    store: Store,
    publisher: Publisher,
    handle: RelayHandle,
    poll: Duration,
    max_backoff: Duration,
}

/// Where a round reads its changes: the pool (SQLite: one process, no lock needed), or the
/// connection that holds the leadership (PostgreSQL).
enum Outbox<'a> {
    Store(&'a Store),
    Leader(&'a mut Leadership),
}

impl Outbox<'_> {
    async fn unpublished(&mut self) -> Result<Vec<Change>, StoreError> {
        match self {
            Outbox::Store(store) => store.unpublished(BATCH).await,
            Outbox::Leader(leader) => leader.unpublished(BATCH).await,
        }
    }

    async fn mark_published(&mut self, revision: Revision) -> Result<(), StoreError> {
        match self {
            Outbox::Store(store) => store.mark_published(revision).await,
            Outbox::Leader(leader) => leader.mark_published(revision).await,
        }
    }
}

impl Relay {
    pub fn new(store: Store, publisher: Publisher, handle: RelayHandle, poll: Duration) -> Self {
        Self {
            store,
            publisher,
            handle,
            poll,
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Runs until `shutdown`, then publishes what is left (if it can) and returns.
    ///
    /// A round runs at once after a commit of this replica, on a commit of another one
    /// announced while this relay leads, and every `poll` otherwise; a replica that does not
    /// lead tries to take over at each of them.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut leadership = None;
        let mut published: Revision = 0;
        let mut backoff = Duration::from_millis(50);
        loop {
            let wait = match self.round(&mut leadership).await {
                Ok(Some(through)) => {
                    backoff = Duration::from_millis(50);
                    published = published.max(through);
                    // Everything this round read is out; the next commit wakes the relay.
                    metrics::gauge!(crate::metrics::RELAY_LAG).set(0.0);
                    self.poll
                }
                Ok(None) => {
                    self.record_lag().await;
                    self.poll
                }
                Err(e) => {
                    if matches!(e, RelayError::Store(_)) {
                        // The lock's connection may be gone: start again from a fresh one.
                        leadership = None;
                    }
                    metrics::counter!(crate::metrics::RELAY_PUBLISH_ERRORS).increment(1);
                    tracing::warn!(error = %e, retry_in = ?backoff, "relay could not publish; changes wait");
                    self.record_lag().await;
                    let wait = backoff;
                    backoff = (backoff * 2).min(self.max_backoff);
                    wait
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.handle.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = announced_after(&mut leadership, published) => {}
            }
        }
        if let Err(e) = self.round(&mut leadership).await {
            tracing::warn!(error = %e, "relay stopped with unpublished changes; the next start publishes them");
        }
        if let Some(leader) = leadership {
            leader.release().await;
        }
    }

    /// Sets the lag gauge: how many committed revisions are not published yet.
    async fn record_lag(&self) {
        let (Ok(latest), Ok(pending)) = (
            self.store.latest_revision().await,
            self.store.unpublished(1).await,
        ) else {
            return;
        };
        let lag = pending
            .first()
            .map_or(0, |first| latest + 1 - first.revision);
        metrics::gauge!(crate::metrics::RELAY_LAG).set(lag as f64);
    }

    /// Publishes every unpublished change in order, taking the leadership first if the store
    /// is shared; returns the last revision published (0: none), or `None` when another
    /// replica's relay leads.
    async fn round(
        &self,
        leadership: &mut Option<Leadership>,
    ) -> Result<Option<Revision>, RelayError> {
        let Some(pool) = self.store.postgres() else {
            return self.publish(Outbox::Store(&self.store)).await.map(Some);
        };
        if leadership.is_none() {
            *leadership = Leadership::try_acquire(pool).await?;
        }
        match leadership {
            Some(leader) => self.publish(Outbox::Leader(leader)).await.map(Some),
            None => Ok(None),
        }
    }

    async fn publish(&self, mut outbox: Outbox<'_>) -> Result<Revision, RelayError> {
        let mut through = 0;
        loop {
            let batch = outbox.unpublished().await?;
            for change in &batch {
                self.publisher.publish(&events::event_of(change)).await?;
                outbox.mark_published(change.revision).await?;
                through = change.revision;
            }
            if batch.len() < BATCH as usize {
                return Ok(through);
            }
        }
    }
}

/// Returns once a commit above `published` is announced to the leader; never for a follower.
async fn announced_after(leadership: &mut Option<Leadership>, published: Revision) {
    match leadership {
        Some(leader) => leader.committed_after(published).await,
        None => std::future::pending().await,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Redis(#[from] crate::redis::RedisError),
}
