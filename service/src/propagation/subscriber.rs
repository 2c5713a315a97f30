//! Every replica's side of Redis: events from the channel onto this process's bus, with the
//! resync that makes a lost message or an outage cost a replay, never a stale view.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use fred::prelude::{ClientLike, EventInterface, PubsubInterface};
use tokio_util::sync::CancellationToken;

use crate::{
    cache::ViewCache,
    domain::{Invalidation, Revision},
    redis::{self, Emptying, L2, RedisError},
    store::Store,
};

use super::{
    bus::Bus,
    event::{Event, silence_bound},
    wire,
};

/// Waits between attempts to subscribe: doubling from 100 ms to 2 s, with jitter so a fleet of
/// replicas does not resubscribe in step when Redis comes back.
const RESUBSCRIBE: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(Duration::from_secs(2))
    .with_jitter()
    .without_max_times();

/// Why L2 could not be emptied after a resubscription.
#[derive(Debug, thiserror::Error)]
enum ResetError {
    #[error("cannot list the servers to empty: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Redis(#[from] RedisError),
}

/// Every replica's side: events from the channel onto this process's bus.
///
/// On every (re)subscription it drops the whole L1 and replays from the change log what it may
/// have missed, so a lost message or an outage never leaves a stale entry behind for long; on a
/// resubscription it first empties L2 ([`L2::reset`]): the Redis it reached may be another
/// node, which lacks the last drops the relay made. A
/// progress event ahead of the last change heard means a message was lost: the missing changes
/// are replayed. A subscription silent for [`silence_bound`] (a frozen Redis or a partition
/// closes nothing) is taken as cut: L1 stops keeping views until a new subscription is made.
pub struct Subscriber {
    pub url: String,
    pub channel: String,
    pub bus: Bus,
    pub cache: ViewCache,
    pub store: Store,
    /// The L2 this process reads, emptied on a resubscription.
    pub l2: L2,
    /// How often the relay announces progress on the channel.
    pub progress_every: Duration,
}

impl Subscriber {
    pub async fn run(self, shutdown: CancellationToken) {
        let client = match redis::subscriber_client(&self.url) {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "invalid Redis configuration; no invalidations from Redis");
                return;
            }
        };
        // Nothing is heard until the first subscription.
        self.cache.set_following(false).await;
        client.connect();
        let silence = silence_bound(self.progress_every);
        // What the store holds as this replica starts: the first subscription replays what
        // commits after it, so a change made before this replica hears the channel still
        // reaches its bus (its Watch streams and MCP sessions), not only its L1.
        let mut last_seen: Revision = self.store.latest_revision().await.unwrap_or(0);
        let mut subscribed_before = false;
        let mut retries = RESUBSCRIBE.build();
        while !shutdown.is_cancelled() {
            let mut messages = client.message_rx();
            let mut reconnects = client.reconnect_rx();
            let subscribed = tokio::select! {
                _ = shutdown.cancelled() => break,
                subscribed = tokio::time::timeout(silence, async {
                    client.wait_for_connect().await?;
                    client.subscribe(self.channel.as_str()).await
                }) => subscribed.unwrap_or_else(|_| Err(RedisError::new(
                    fred::error::ErrorKind::Timeout,
                    "no subscription within the silence bound",
                ))),
            };
            if let Err(e) = subscribed {
                let wait = retries.next().unwrap_or(Duration::from_secs(2));
                tracing::warn!(error = %e, retry_in = ?wait, "cannot subscribe to Redis");
                tokio::time::sleep(wait).await;
                continue;
            }
            let emptying = if subscribed_before {
                Emptying::All
            } else {
                Emptying::Foreign
            };
            if let Err(e) = self.reset_l2(emptying).await {
                let wait = retries.next().unwrap_or(Duration::from_secs(2));
                tracing::warn!(error = %e, retry_in = ?wait, "cannot empty L2 after subscribing");
                tokio::time::sleep(wait).await;
                continue;
            }
            retries = RESUBSCRIBE.build();
            if subscribed_before {
                metrics::counter!(crate::metrics::SUBSCRIBER_RECONNECTS).increment(1);
            }
            subscribed_before = true;
            // Errors from now on: older ones are about the connection just waited for.
            let mut errors = client.error_rx();
            last_seen = self.resync(last_seen).await;
            self.cache.set_following(true).await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = reconnects.recv() => break,
                    // A lost connection (Redis killed, a failover) is a cut now, not after the
                    // silence bound: until then this replica would serve L1 views that the
                    // changes it is not hearing have made stale, and a client that heard them
                    // through the new master would take those answers for current. fred tells
                    // a subscriber client's errors only of its connection (a reader that ended,
                    // a failed connect, a reply that forces a reconnection), and before its
                    // state says so: each one is a cut.
                    _ = errors.recv() => break,
                    heard = tokio::time::timeout(silence, messages.recv()) => match heard {
                        Err(_) => {
                            tracing::warn!(bound = ?silence, "the Redis subscription is silent; taking it as cut");
                            // Unheard from now on: L1 stops serving before the reconnection,
                            // which may take as long again.
                            self.cache.set_following(false).await;
                            let _ = tokio::time::timeout(silence, client.force_reconnection()).await;
                            break;
                        }
                        Ok(Ok(message)) => {
                            let text: Option<String> = message.value.convert().ok();
                            match text.as_deref().map(wire::from_json) {
                                Some(Ok(Event::Progress(revision))) => {
                                    if revision > last_seen {
                                        tracing::warn!(heard = last_seen, published = revision, "missed an invalidation; replaying");
                                        last_seen = self.replay(last_seen).await;
                                    }
                                }
                                Some(Ok(event @ Event::Change(_))) => {
                                    last_seen = last_seen.max(event.revision());
                                    self.bus.publish(event);
                                }
                                // Not an event this process can place: as good as lost.
                                Some(Err(e)) => {
                                    tracing::warn!(error = %e, "an invalidation message that cannot be read; replaying");
                                    self.cache.invalidate(&Invalidation::All).await;
                                    last_seen = self.replay(last_seen).await;
                                }
                                None => tracing::warn!("ignoring a non-text invalidation message"),
                            }
                        }
                        Ok(Err(_)) => break,
                    },
                }
            }
            // Whatever is published until the next subscription goes unheard.
            self.cache.set_following(false).await;
        }
        let _ = client.quit().await;
    }

    /// [`L2::reset`] for every server with a published change: the changes a lost drop
    /// belonged to are in the change log.
    async fn reset_l2(&self, emptying: Emptying) -> Result<(), ResetError> {
        let heads = self.store.latest_published_by_server().await?;
        let fences = self.l2.fences(&heads).await?;
        let latest = self.store.latest_revision().await?;
        Ok(self.l2.reset(&fences, latest, emptying).await?)
    }

    /// Drops all of L1 and puts every change after `last_seen` on the bus; returns the newest
    /// revision accounted for.
    async fn resync(&self, last_seen: Revision) -> Revision {
        self.cache.invalidate(&Invalidation::All).await;
        if last_seen == 0 {
            return self.store.latest_revision().await.unwrap_or(0);
        }
        self.replay(last_seen).await
    }

    /// Puts every change after `from` on the bus; returns the newest revision accounted for.
    async fn replay(&self, mut from: Revision) -> Revision {
        loop {
            match self.store.changes_after(from, 500, None, None).await {
                Ok(changes) if changes.is_empty() => return from,
                Ok(changes) => {
                    for change in &changes {
                        from = change.revision;
                        self.bus.publish(Event::of(change));
                    }
                }
                Err(e) => {
                    self.cache.invalidate(&Invalidation::All).await;
                    tracing::warn!(error = %e, "cannot replay missed changes; L1 was dropped instead");
                    return from;
                }
            }
        }
    }
}
