//! The relay: publishes committed changes, in revision order, exactly from the outbox.
//!
//! Each unpublished `changes` row is turned into an [`InvalidationEvent`], handed to the
//! [`Publisher`] (the in-process bus, or Redis: L2 keys dropped, then `PUBLISH`), and only then
//! marked published. A failure leaves the row for the next round, after a backoff, so nothing
//! committed is ever lost and nothing is published out of order. A commit wakes the relay at
//! once; a slow poll catches anything else (another replica's commits, a lost wake-up).

use std::{sync::Arc, time::Duration};

use mcp_config_proto::v1::InvalidationEvent;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{cache::ViewCache, events, store::Store};

/// Changes read per round.
const BATCH: u32 = 256;
/// How soon to try again when another replica's relay holds the lock.
const LOCK_RETRY: Duration = Duration::from_millis(20);

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
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(50);
        loop {
            let wait = match self.publish_pending().await {
                Ok(Some(_)) => {
                    backoff = Duration::from_millis(50);
                    self.poll
                }
                // Another replica is publishing; it may have read its batch before our commit,
                // so look again soon rather than at the next poll.
                Ok(None) => LOCK_RETRY,
                Err(e) => {
                    metrics::counter!(crate::metrics::RELAY_PUBLISH_ERRORS).increment(1);
                    tracing::warn!(error = %e, retry_in = ?backoff, "relay could not publish; changes wait");
                    let wait = backoff;
                    backoff = (backoff * 2).min(self.max_backoff);
                    wait
                }
            };
            self.record_lag().await;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.handle.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
        if let Err(e) = self.publish_pending().await {
            tracing::warn!(error = %e, "relay stopped with unpublished changes; the next start publishes them");
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

    /// Publishes every unpublished change in order; returns how many, or `None` when another
    /// replica's relay holds the lock.
    pub async fn publish_pending(&self) -> Result<Option<usize>, RelayError> {
        let _lock = match self.store.postgres() {
            Some(pool) => match crate::store::RelayLock::try_acquire(pool).await? {
                Some(lock) => Some(lock),
                None => return Ok(None),
            },
            None => None,
        };
        let mut published = 0;
        loop {
            let batch = self.store.unpublished(BATCH).await?;
            for change in &batch {
                self.publisher.publish(&events::event_of(change)).await?;
                self.store.mark_published(change.revision).await?;
                published += 1;
            }
            if batch.len() < BATCH as usize {
                return Ok(Some(published));
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Redis(#[from] crate::redis::RedisError),
}
