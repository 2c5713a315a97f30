//! Redis: the shared (L2) cache of encoded views and the pub/sub transport of invalidations.
//!
//! L2 layout: one hash per (server, kind) (its name: [`Layout::view_hash`]), with one field per
//! org (`@` for the defaults-only view) holding the encoded response body, and a `#fence` field
//! holding the revision of the newest change the relay applied to it. The relay drops fields and
//! raises the fence in the same script that publishes the event; a loader writes its view only if
//! the fence is not newer than the snapshot it read the view at. So a load that raced a change
//! can never put a stale view back after the relay dropped it.
//!
//! One node, Sentinel and Cluster are all fred's to reach (the URL picks); what a Cluster
//! changes in the names of keys and channels is in [`layout`].

mod layout;

pub use layout::{Layout, check_channel, server_channel};

use std::{future::Future, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use fred::{
    prelude::{
        Builder, Client, ClientLike, Config, EventInterface, HashesInterface, LuaInterface,
        PubsubInterface, ReconnectPolicy,
    },
    types::Value,
};
use mcp_config_proto::v1::InvalidationEvent;
use tokio_util::sync::CancellationToken;

use crate::{
    cache::{Invalidation, ViewCache, ViewKey},
    domain::{Kind, Revision},
    events::{self, Bus},
    store::Store,
};

pub type RedisError = fred::error::Error;

/// How long a command may wait (for a connection, among other things) before it fails, so a
/// Redis outage turns into quick errors rather than stuck requests.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Waits between attempts to subscribe: doubling from 100 ms to 2 s, with jitter so a fleet of
/// replicas does not resubscribe in step when Redis comes back.
const RESUBSCRIBE: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(Duration::from_secs(2))
    .with_jitter()
    .without_max_times();

const DEFAULTS_FIELD: &str = "@";

/// Drops the L2 field(s) of one event, raises the fence and publishes, atomically; does nothing
/// (-1) when the fence already stands at the event's revision. The relay publishes before it
/// marks a change published, so a leader that lost its lock between the two (or whose publish
/// was held up on a slow link while another replica took over) hands the same event, or an
/// older one, to Redis again: the fence, raised by every publish of the view, turns that into
/// nothing, and each revision reaches subscribers once, in order. The server's channel is
/// published with `ARGV[9]`: `SPUBLISH` on a Cluster, where the hash and that channel share one
/// slot, `PUBLISH` elsewhere.
const PUBLISH_SCRIPT: &str = r"
local fence = redis.call('HGET', KEYS[1], '#fence')
if fence and tonumber(fence) >= tonumber(ARGV[3]) then return -1 end
if ARGV[1] == '1' then redis.call('DEL', KEYS[1]) else redis.call('HDEL', KEYS[1], ARGV[2]) end
redis.call('HSET', KEYS[1], '#fence', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call(ARGV[9], ARGV[7], ARGV[8])
return redis.call('PUBLISH', ARGV[5], ARGV[6])
";

/// Stores a view unless a newer change was applied since it was read.
const STORE_SCRIPT: &str = r"
local fence = redis.call('HGET', KEYS[1], '#fence')
if fence and tonumber(fence) > tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1
";

/// Empties one hash and raises its fence to at least `ARGV[1]` — always when `ARGV[4]` is `1`,
/// else only when its fence is foreign: still `ARGV[5]`, the fence seen before the store's newest
/// revision `ARGV[3]` was read, and above it. Such a fence was never raised by this store's
/// changes (the database was restored to an earlier point, or another one shares the channel):
/// it is dropped with the views under it, or it would refuse this store's views and swallow its
/// events until it expired. A fence that moved since it was seen was raised by a publish that
/// may be this store's, newer than the revision read: it stays, or that revision could be
/// published a second time.
const RESET_SCRIPT: &str = r"
local fence = tonumber(redis.call('HGET', KEYS[1], '#fence') or '0')
local foreign = fence == tonumber(ARGV[5]) and fence > tonumber(ARGV[3])
if ARGV[4] ~= '1' and not foreign then return 0 end
if foreign then fence = 0 end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '#fence', tostring(math.max(fence, tonumber(ARGV[1]))))
return redis.call('EXPIRE', KEYS[1], ARGV[2])
";

/// Which hashes [`L2::reset`] empties.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emptying {
    /// Every one (after a reconnection: the Redis answering may have lost drops).
    All,
    /// Only those under a fence this store never raised (at the first subscription).
    Foreign,
}

/// Connection settings shared by the clients of one process.
#[derive(Clone, Debug)]
pub struct RedisSettings {
    /// The pub/sub channel; L2 keys use it as their prefix too.
    pub channel: String,
    pub l2_ttl: Duration,
    /// How long a read-path call (L2 get or put) may take before it counts as failed.
    pub l2_timeout: Duration,
}

/// Why an L2 call gave nothing. Every case is read around: L2 is an optimisation, never a
/// dependency.
#[derive(Debug, thiserror::Error)]
pub enum L2Error {
    #[error(transparent)]
    Redis(#[from] RedisError),
    /// Redis did not answer in time: hung (a partition, a frozen or failing-over node), not
    /// closed, so the connection still looks up.
    #[error("Redis did not answer within {0:?}")]
    TimedOut(Duration),
    /// The breaker is open after consecutive failures: not even tried.
    #[error("skipped: L2 failed repeatedly and is rested")]
    Resting,
}

/// Consecutive failed L2 calls that open the breaker, and how long it then stays open before
/// one call is tried again.
const BREAKER_FAILURES: u32 = 3;
const BREAKER_REST: Duration = Duration::from_secs(5);

type Breaker = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

fn breaker() -> Breaker {
    failsafe::Config::new()
        .failure_policy(failsafe::failure_policy::consecutive_failures(
            BREAKER_FAILURES,
            failsafe::backoff::constant(BREAKER_REST),
        ))
        .build()
}

fn builder(url: &str) -> Result<Builder, RedisError> {
    let mut builder = Builder::from_config(Config::from_url(url)?);
    builder
        .with_connection_config(|c| {
            c.connection_timeout = COMMAND_TIMEOUT;
            c.internal_command_timeout = COMMAND_TIMEOUT;
        })
        .with_performance_config(|p| p.default_command_timeout = COMMAND_TIMEOUT)
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2));
    Ok(builder)
}

/// A command client, connecting (and reconnecting) in the background.
pub fn client(url: &str) -> Result<Client, RedisError> {
    let client = builder(url)?.build()?;
    client.connect();
    Ok(client)
}

fn field(org: &str) -> &str {
    if org.is_empty() { DEFAULTS_FIELD } else { org }
}

/// The L2 cache. Every call has a short deadline and goes through a circuit breaker, so a hung
/// Redis costs the first few reads `l2_timeout` each and the rest nothing: they go straight to
/// the store until the breaker tries Redis again.
#[derive(Clone)]
pub struct L2 {
    client: Client,
    settings: RedisSettings,
    layout: Layout,
    breaker: Breaker,
}

impl L2 {
    pub fn new(client: Client, settings: RedisSettings) -> Self {
        Self {
            layout: Layout::new(&settings.channel, client.is_clustered()),
            client,
            settings,
            breaker: breaker(),
        }
    }

    /// Runs one call under the deadline and the breaker.
    async fn guarded<T>(
        &self,
        call: impl Future<Output = Result<T, RedisError>>,
    ) -> Result<T, L2Error> {
        use failsafe::futures::CircuitBreaker;
        let deadline = self.settings.l2_timeout;
        let timed = async move {
            match tokio::time::timeout(deadline, call).await {
                Ok(result) => result.map_err(L2Error::from),
                Err(_) => Err(L2Error::TimedOut(deadline)),
            }
        };
        self.breaker.call(timed).await.map_err(|e| match e {
            failsafe::Error::Inner(e) => e,
            failsafe::Error::Rejected => L2Error::Resting,
        })
    }

    /// A miss while Redis is unreachable (closed), so reads go straight to the store.
    pub async fn get(&self, key: &ViewKey) -> Result<Option<Bytes>, L2Error> {
        if !self.client.is_connected() {
            return Ok(None);
        }
        let hash = self.layout.view_hash(key.kind, key.server.as_str());
        self.guarded(self.client.hget(hash, field(key.scope.as_str())))
            .await
    }

    /// Stores `body`, read at `snapshot`, unless the relay has since applied a newer change.
    pub async fn put(
        &self,
        key: &ViewKey,
        body: Bytes,
        snapshot: Revision,
    ) -> Result<bool, L2Error> {
        let hash = self.layout.view_hash(key.kind, key.server.as_str());
        let args: Vec<Value> = vec![
            field(key.scope.as_str()).into(),
            Value::Bytes(body),
            snapshot.to_string().into(),
            self.settings.l2_ttl.as_secs().max(1).to_string().into(),
        ];
        let stored: i64 = self
            .guarded(self.client.eval(STORE_SCRIPT, vec![hash], args))
            .await?;
        Ok(stored == 1)
    }

    /// The fences of every server in `heads` (server, last published revision) as they stand
    /// now: [`L2::reset`] takes a fence for foreign only if it is still what was seen here,
    /// before the store's newest revision was read. Read in the other order, a fence this
    /// store's relay raised in between would look foreign, be lowered, and let that revision
    /// be published twice.
    pub async fn fences(&self, heads: &[(String, Revision)]) -> Result<Vec<Fence>, RedisError> {
        let mut fences = Vec::with_capacity(heads.len() * 2);
        for (server, head) in heads {
            for kind in [Kind::Prompts, Kind::Resources] {
                let hash = self.layout.view_hash(kind, server);
                let seen: Option<Revision> = self.client.hget(&hash, "#fence").await?;
                fences.push(Fence {
                    hash,
                    head: *head,
                    seen: seen.unwrap_or(0),
                });
            }
        }
        Ok(fences)
    }

    /// Empties the hashes of `fences` and raises each fence to at least its server's head, so
    /// nothing older than what was published can be read from L2 or stored again; a fence
    /// above `latest` (the store's newest revision, read after the fences were seen) that has
    /// not moved since is one this store never raised, and is lowered.
    ///
    /// For after a reconnection: the Redis answering now may be a replica promoted by a
    /// failover, or a restart from a snapshot, either of which may lack the last drops the relay
    /// made (replication is asynchronous), and a view they dropped would be served again.
    /// Not under the read path's deadline and breaker: it is no read, and it must be done.
    pub async fn reset(
        &self,
        fences: &[Fence],
        latest: Revision,
        emptying: Emptying,
    ) -> Result<(), RedisError> {
        let ttl = self.settings.l2_ttl.as_secs().max(1).to_string();
        for fence in fences {
            let args: Vec<Value> = vec![
                fence.head.to_string().into(),
                ttl.clone().into(),
                latest.to_string().into(),
                if emptying == Emptying::All { "1" } else { "0" }.into(),
                fence.seen.to_string().into(),
            ];
            let _: i64 = self
                .client
                .eval(RESET_SCRIPT, vec![fence.hash.clone()], args)
                .await?;
        }
        Ok(())
    }
}

/// One L2 hash's fence as [`L2::fences`] saw it, with its server's last published revision.
#[derive(Clone, Debug)]
pub struct Fence {
    hash: String,
    head: Revision,
    seen: Revision,
}

/// The relay's side: drop L2, raise the fence, publish.
#[derive(Clone)]
pub struct RedisPublisher {
    client: Client,
    settings: RedisSettings,
    layout: Layout,
}

impl RedisPublisher {
    pub fn new(client: Client, settings: RedisSettings) -> Self {
        Self {
            layout: Layout::new(&settings.channel, client.is_clustered()),
            client,
            settings,
        }
    }

    /// Publishes `event` on the global channel and on its server's; there, `previousRevision`
    /// is `server_previous`, the revision of that server's previous event, so each server's
    /// channel is gap-free for its subscribers as the global one is.
    pub async fn publish(
        &self,
        event: &InvalidationEvent,
        server_previous: Revision,
    ) -> Result<(), RedisError> {
        if !self.client.is_connected() {
            return Err(RedisError::new(
                fred::error::ErrorKind::IO,
                "not connected to Redis",
            ));
        }
        let kind = match events::invalidation_of(event) {
            Invalidation::View(key) => key.kind,
            Invalidation::Server { kind, .. } => kind,
            Invalidation::All => Kind::Prompts,
        };
        let hash = self.layout.view_hash(kind, &event.server);
        let whole = if event.org_id.is_empty() { "1" } else { "0" };
        let args: Vec<Value> = vec![
            whole.into(),
            field(&event.org_id).into(),
            event.revision.to_string().into(),
            self.settings.l2_ttl.as_secs().max(1).to_string().into(),
            self.layout.channel().into(),
            event.to_json().into(),
            self.layout.server_channel(&event.server).into(),
            InvalidationEvent {
                previous_revision: server_previous,
                ..event.clone()
            }
            .to_json()
            .into(),
            self.layout.server_publish().into(),
        ];
        let receivers: i64 = self.client.eval(PUBLISH_SCRIPT, vec![hash], args).await?;
        if receivers < 0 {
            tracing::debug!(revision = event.revision, "already published");
        }
        Ok(())
    }
}

impl RedisPublisher {
    /// Says on the channel that every change up to `revision` has been published (a
    /// [`events::progress`] event): a subscriber that hears nothing, not even this, for
    /// [`silence_bound`] is cut off, and one behind it missed a message.
    pub async fn announce_progress(&self, revision: Revision) -> Result<(), RedisError> {
        let _receivers: i64 = self
            .client
            .publish(self.layout.channel(), events::progress(revision).to_json())
            .await?;
        Ok(())
    }

    /// [`RedisPublisher::announce_progress`] on one server's channel, at that server's last
    /// published revision.
    pub async fn announce_server_progress(
        &self,
        server: &str,
        revision: Revision,
    ) -> Result<(), RedisError> {
        let (channel, progress) = (
            self.layout.server_channel(server),
            events::progress(revision).to_json(),
        );
        let _receivers: i64 = if self.layout.sharded() {
            self.client.spublish(channel, progress).await?
        } else {
            self.client.publish(channel, progress).await?
        };
        Ok(())
    }
}

/// Why L2 could not be emptied after a resubscription.
#[derive(Debug, thiserror::Error)]
enum ResetError {
    #[error("cannot list the servers to empty: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Redis(#[from] RedisError),
}

/// How long a subscriber waits for any message — a change or the relay's progress every
/// `progress_every` — before it takes itself as cut off: three progress periods.
pub fn silence_bound(progress_every: Duration) -> Duration {
    progress_every * 3
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
        let client = match builder(&self.url).and_then(|b| b.build_subscriber_client()) {
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
            last_seen = self.resync(last_seen).await;
            self.cache.set_following(true).await;
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = reconnects.recv() => break,
                    heard = tokio::time::timeout(silence, messages.recv()) => match heard {
                        Err(_) => {
                            tracing::warn!(bound = ?silence, "the Redis subscription is silent; taking it as cut");
                            let _ = tokio::time::timeout(silence, client.force_reconnection()).await;
                            break;
                        }
                        Ok(Ok(message)) => {
                            let text: Option<String> = message.value.convert().ok();
                            match text.as_deref().map(InvalidationEvent::from_json) {
                                Some(Ok(event)) if events::is_progress(&event) => {
                                    if event.revision > last_seen {
                                        tracing::warn!(heard = last_seen, published = event.revision, "missed an invalidation; replaying");
                                        last_seen = self.replay(last_seen).await;
                                    }
                                }
                                Some(Ok(event)) => {
                                    last_seen = last_seen.max(event.revision);
                                    self.bus.publish(event);
                                }
                                _ => tracing::warn!("ignoring a malformed invalidation message"),
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
                        self.bus.publish(events::event_of(change));
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
