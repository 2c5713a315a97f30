//! The relay: publishes committed changes, in revision order, exactly from the outbox.
//!
//! Each unpublished `changes` row is turned into an [`Event`], handed to the
//! [`Publisher`] (the in-process bus, or Redis: L2 keys dropped, then `PUBLISH`), and only then
//! marked published. A failure leaves the row for the next round, after a backoff, so nothing
//! committed is ever lost and nothing is published out of order. On PostgreSQL one replica's
//! relay leads at a time ([`Leadership`]); a commit wakes the relay at once (in process, or
//! announced by PostgreSQL to the leader), and a slow poll catches anything else.

use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};

use backon::{BackoffBuilder, ExponentialBuilder};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    cache::ViewCache,
    domain::Revision,
    redis::RedisError,
    store::{Change, Leadership, Store, StoreError},
};

use super::{
    bus::Bus,
    event::{ChangeEvent, Event},
    publisher::RedisPublisher,
};

/// Changes read at a time.
const BATCH: u32 = 256;

/// Where events go.
#[derive(Clone)]
pub enum Channel {
    /// This process only (no Redis): straight onto the bus.
    Local(Bus),
    /// Redis pub/sub, which every replica (this one included) subscribes to.
    Redis(RedisPublisher),
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
    /// `server_previous`: the revision of the previous event of the same server (what the
    /// server's own Redis channel chains its events by).
    async fn publish(
        &self,
        change: &ChangeEvent,
        server_previous: Revision,
    ) -> Result<(), RedisError> {
        let stale = change.invalidation();
        self.local.invalidate(&stale).await;
        match &self.channel {
            Channel::Local(bus) => bus.publish(Event::Change(change.clone())),
            // Dropped again after: a read between the first drop and the publish script (which
            // drops L2) may have reloaded the old view from L2.
            Channel::Redis(redis) => {
                redis.publish(change, server_previous).await?;
                self.local.invalidate(&stale).await;
            }
        }
        Ok(())
    }
}

/// Most committed changes a handle keeps for the relay; beyond, the oldest are dropped (the
/// relay then reads them from the outbox). Bounds a handle no relay drains.
const HANDED_MAX: usize = 64;

/// Hands this replica's commits to the relay, and wakes it.
#[derive(Clone, Default)]
pub struct RelayHandle {
    wake: Arc<Notify>,
    handed: Arc<std::sync::Mutex<VecDeque<Change>>>,
}

impl RelayHandle {
    /// `changes` have committed: the relay can publish them without reading them back first.
    pub fn committed(&self, changes: &[Change]) {
        {
            let mut handed = self.handed.lock().expect("handed changes lock");
            handed.extend(changes.iter().cloned());
            let excess = handed.len().saturating_sub(HANDED_MAX);
            handed.drain(..excess);
        }
        self.wake.notify_one();
    }

    /// The changes handed over since the last call, in revision order.
    fn take_handed(&self) -> Vec<Change> {
        let mut handed: Vec<Change> =
            std::mem::take(&mut *self.handed.lock().expect("handed changes lock")).into();
        handed.sort_by_key(|change| change.revision);
        handed
    }
}

pub struct Relay {
    store: Store,
    publisher: Publisher,
    handle: RelayHandle,
    poll: Duration,
    progress_every: Duration,
    marks: Marks,
}

/// How long a failed round waits before the next: doubling from 50 ms to 5 s, with jitter so
/// replicas that failed together (Redis went away) do not retry in step.
const RETRY: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(50))
    .with_max_delay(Duration::from_secs(5))
    .with_jitter()
    .without_max_times();

/// Where a round reads its changes and marks them published: the pool (SQLite: one process,
/// no lock needed; marked off the relay's path by [`Marks`]), or the connection that holds the
/// leadership (PostgreSQL: marked there and then, which proves the lock is still held).
enum Outbox<'a> {
    Store(&'a Store, &'a Marks),
    Leader(&'a mut Leadership),
}

impl Outbox<'_> {
    /// The oldest changes after `published` (the last this relay published, if any) that are
    /// not marked published.
    async fn unpublished(
        &mut self,
        published: Option<Revision>,
    ) -> Result<Vec<Change>, StoreError> {
        match self {
            Outbox::Store(store, _) => store.unpublished(published.unwrap_or(0), BATCH).await,
            Outbox::Leader(leader) => leader.unpublished(BATCH).await,
        }
    }

    /// Whether a commit after `published` has been announced (PostgreSQL's `NOTIFY`); on
    /// SQLite every commit of the one process is handed to the relay, so none is.
    fn announced_after(&self, published: Option<Revision>) -> bool {
        match self {
            Outbox::Store(..) => false,
            Outbox::Leader(leader) => leader.announced() > published.unwrap_or(0),
        }
    }

    async fn mark_published(
        &mut self,
        from: Revision,
        through: Revision,
    ) -> Result<(), StoreError> {
        match self {
            Outbox::Store(_, marks) => {
                marks.add(from, through);
                Ok(())
            }
            Outbox::Leader(leader) => leader.mark_published(from, through).await,
        }
    }
}

/// The published changes still to be marked so in the outbox, on SQLite, where the mark is
/// written off the relay's path: SQLite has one write lock for the whole database, and a relay
/// that waited for it behind busy writers would hold back every event after (the mark is
/// bookkeeping; the event is what readers wait for). Marks coalesce into one statement. A crash
/// between a publish and its mark publishes the change again at the next start, which every
/// subscriber takes as already heard (revision order on the bus and Watch; the fence on Redis).
#[derive(Clone, Default)]
struct Marks {
    pending: Arc<std::sync::Mutex<Option<(Revision, Revision)>>>,
    wake: Arc<Notify>,
}

impl Marks {
    fn add(&self, from: Revision, through: Revision) {
        self.merge(from, through);
        self.wake.notify_one();
    }

    fn merge(&self, from: Revision, through: Revision) {
        let mut pending = self.pending.lock().expect("marks lock");
        *pending = Some(match *pending {
            Some((earliest, latest)) => (earliest.min(from), latest.max(through)),
            None => (from, through),
        });
    }

    fn take(&self) -> Option<(Revision, Revision)> {
        self.pending.lock().expect("marks lock").take()
    }

    /// Writes the marks as they come until `stop`, then the last of them.
    async fn write(self, store: Store, stop: CancellationToken) {
        loop {
            let stopping = tokio::select! {
                _ = self.wake.notified() => false,
                _ = stop.cancelled() => true,
            };
            while let Some((from, through)) = self.take() {
                if let Err(e) = store.mark_published(from, through).await {
                    tracing::warn!(error = %e, through, "cannot mark changes published yet");
                    self.merge(from, through);
                    if stopping {
                        return;
                    }
                    tokio::time::sleep(MARK_RETRY).await;
                }
            }
            if stopping {
                return;
            }
        }
    }
}

/// How long a failed mark waits before it is tried again.
const MARK_RETRY: Duration = Duration::from_millis(100);

impl Relay {
    /// `progress_every`: how often the leading relay announces on the Redis channel the
    /// newest revision it has published, so subscribers can tell a quiet channel from a cut one.
    pub fn new(
        store: Store,
        publisher: Publisher,
        handle: RelayHandle,
        poll: Duration,
        progress_every: Duration,
    ) -> Self {
        Self {
            store,
            publisher,
            handle,
            poll,
            progress_every,
            marks: Marks::default(),
        }
    }

    /// Announces the newest published revision on the Redis channel, if this relay leads.
    async fn announce_progress(&self, standing: &Standing) {
        let Channel::Redis(redis) = &self.publisher.channel else {
            return;
        };
        if self.store.postgres().is_some() && standing.leadership.is_none() {
            return;
        }
        // Known once a round has run: every server's last published revision, whose greatest
        // is the newest published revision of all.
        let Some(heads) = &standing.server_heads else {
            return;
        };
        let newest = heads.values().copied().max().unwrap_or(0);
        if let Err(e) = redis.announce_progress(newest).await {
            tracing::debug!(error = %e, "could not announce progress");
            return;
        }
        for (server, revision) in heads {
            if let Err(e) = redis.announce_server_progress(server, *revision).await {
                tracing::debug!(error = %e, server, "could not announce progress");
                return;
            }
        }
    }

    /// Runs until `shutdown`, then publishes what is left (if it can) and returns.
    ///
    /// A round runs at once after a commit of this replica, on a commit of another one
    /// announced while this relay leads, and every `poll` otherwise; a replica that does not
    /// lead tries to take over at each of them.
    pub async fn run(self, shutdown: CancellationToken) {
        let marking = CancellationToken::new();
        let marker = self.store.postgres().is_none().then(|| {
            tokio::spawn(
                self.marks
                    .clone()
                    .write(self.store.clone(), marking.clone()),
            )
        });
        let mut standing = Standing::default();
        let mut retries = RETRY.build();
        let mut progress = tokio::time::interval(self.progress_every);
        progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let wait = match self.round(&mut standing).await {
                Ok(true) => {
                    retries = RETRY.build();
                    // Everything this round read is out; the next commit wakes the relay.
                    metrics::gauge!(crate::metrics::RELAY_LAG).set(0.0);
                    self.poll
                }
                Ok(false) => {
                    self.record_lag().await;
                    self.poll
                }
                Err(e) => {
                    if matches!(e, RelayError::Store(_)) {
                        // The lock's connection may be gone: start again from a fresh one.
                        standing.leadership = None;
                    }
                    metrics::counter!(crate::metrics::RELAY_PUBLISH_ERRORS).increment(1);
                    let wait = retries.next().unwrap_or(self.poll);
                    tracing::warn!(error = %e, retry_in = ?wait, "relay could not publish; changes wait");
                    self.record_lag().await;
                    wait
                }
            };
            let published = standing.published.unwrap_or(0);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.handle.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
                _ = announced_after(&mut standing.leadership, published) => {}
                _ = progress.tick() => self.announce_progress(&standing).await,
            }
        }
        if let Err(e) = self.round(&mut standing).await {
            tracing::warn!(error = %e, "relay stopped with unpublished changes; the next start publishes them");
        }
        if let Some(leader) = standing.leadership {
            leader.release().await;
        }
        marking.cancel();
        if let Some(marker) = marker {
            let _ = marker.await;
        }
    }

    /// Sets the lag gauge: how many committed revisions are not published yet.
    async fn record_lag(&self) {
        let (Ok(latest), Ok(pending)) = (
            self.store.latest_revision().await,
            self.store.unpublished(0, 1).await,
        ) else {
            return;
        };
        let lag = pending
            .first()
            .map_or(0, |first| latest + 1 - first.revision);
        metrics::gauge!(crate::metrics::RELAY_LAG).set(lag as f64);
    }

    /// Publishes every unpublished change in order, taking the leadership first if the store
    /// is shared; `false` when another replica's relay leads.
    async fn round(&self, standing: &mut Standing) -> Result<bool, RelayError> {
        let Standing {
            leadership,
            published,
            server_heads,
        } = standing;
        let outbox = match self.store.postgres() {
            None => Outbox::Store(&self.store, &self.marks),
            Some(pool) => {
                if leadership.is_none() {
                    // Another replica may have published since this one last led.
                    *published = None;
                    *server_heads = None;
                    *leadership = Leadership::try_acquire(pool).await?;
                }
                match leadership {
                    Some(leader) => Outbox::Leader(leader),
                    None => {
                        // The leader publishes them, announced by PostgreSQL.
                        self.handle.take_handed();
                        return Ok(false);
                    }
                }
            }
        };
        if server_heads.is_none() {
            *server_heads = Some(
                self.store
                    .latest_published_by_server()
                    .await?
                    .into_iter()
                    .collect(),
            );
        }
        let heads = server_heads.as_mut().expect("loaded above");
        self.publish(outbox, published, heads).await?;
        Ok(true)
    }

    async fn publish(
        &self,
        mut outbox: Outbox<'_>,
        published: &mut Option<Revision>,
        heads: &mut HashMap<String, Revision>,
    ) -> Result<(), RelayError> {
        // This replica's own commits, when they are the very next revisions, go out without
        // being read back first: one database round trip less between a commit and its event.
        let mut handed = Vec::new();
        let mut gapless = true;
        for change in self.handle.take_handed() {
            let Some(last) = handed.last().map(|c: &Change| c.revision).or(*published) else {
                gapless = false;
                break;
            };
            if change.revision <= last {
                continue;
            }
            if change.revision != last + 1 {
                gapless = false;
                break;
            }
            handed.push(change);
        }
        self.publish_run(&mut outbox, &handed, published, heads)
            .await?;
        // Then the outbox itself: other replicas' commits, and whatever was not handed over.
        // Not when the handed changes ran on from the last published without a gap and no
        // newer commit was announced: the read would find nothing, and it is a query per save
        // under load. A commit announced later wakes the relay; the poll catches the rest.
        if gapless && !handed.is_empty() && !outbox.announced_after(*published) {
            return Ok(());
        }
        loop {
            let batch = outbox.unpublished(*published).await?;
            self.publish_run(&mut outbox, &batch, published, heads)
                .await?;
            if batch.len() < BATCH as usize {
                return Ok(());
            }
        }
    }

    /// Publishes consecutive `changes` in order, then marks them published in one statement:
    /// one commit a round, not one a change. A failure marks what went out before it; after a
    /// crash before the mark, the next relay publishes those again, which Redis takes as
    /// already published (the view's fence).
    async fn publish_run(
        &self,
        outbox: &mut Outbox<'_>,
        changes: &[Change],
        published: &mut Option<Revision>,
        heads: &mut HashMap<String, Revision>,
    ) -> Result<(), RelayError> {
        let Some(first) = changes.first().map(|c| c.revision) else {
            return Ok(());
        };
        let mut sent = Ok(());
        let mut through = None;
        for change in changes {
            let server = change.server.as_str();
            let previous = heads.get(server).copied().unwrap_or(0);
            if let Err(e) = self
                .publisher
                .publish(&ChangeEvent::of(change), previous)
                .await
            {
                sent = Err(e.into());
                break;
            }
            heads.insert(server.to_owned(), change.revision);
            through = Some(change.revision);
        }
        if let Some(through) = through {
            outbox.mark_published(first, through).await?;
            *published = Some(through);
        }
        sent
    }
}

/// What a relay knows between rounds.
#[derive(Default)]
struct Standing {
    /// Held while this replica leads (PostgreSQL only).
    leadership: Option<Leadership>,
    /// The last revision this relay published since it began to lead (on SQLite: since it
    /// started); `None` until it has published one. The next to publish is the one after.
    published: Option<Revision>,
    /// Per server, the last revision published (loaded when the relay begins to lead): the
    /// `previousRevision` of that server's next event on its own channel.
    server_heads: Option<HashMap<String, Revision>>,
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
    Redis(#[from] RedisError),
}

/// Deletes published changes past the retention period, hourly.
pub async fn prune_changes(store: Store, retention: Duration, shutdown: CancellationToken) {
    let retention_ms = crate::store::millis(retention);
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let before = crate::store::now_ms().saturating_sub(retention_ms);
        match store.prune_changes(before).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned old changes"),
            Err(e) => tracing::warn!(error = %e, "cannot prune changes"),
        }
    }
}
