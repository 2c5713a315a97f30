//! The shared (L2) cache of encoded views: one hash per (server, kind) (its name:
//! [`Layout::view_hash`]), with one field per org (`@` for the defaults-only view) holding the
//! encoded response body, and a `#fence` field holding the revision of the newest change the
//! relay applied to it. The relay drops fields and raises the fence in the same script that
//! publishes the event (`propagation::publisher`); a loader writes its view only if the fence is
//! not newer than the snapshot it read the view at. So a load that raced a change can never put
//! a stale view back after the relay dropped it.

use std::{future::Future, time::Duration};

use bytes::Bytes;
use fred::{
    prelude::{Client, ClientLike, HashesInterface, LuaInterface},
    types::Value,
};

use crate::domain::{Kind, Revision, ViewKey};

use super::{Layout, RedisError, RedisSettings, l2_field};

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
        self.guarded(self.client.hget(hash, l2_field(&key.scope)))
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
            l2_field(&key.scope).into(),
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
