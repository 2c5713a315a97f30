//! The registry of upstreams: one versioned entry per server, written by admins, read by the
//! gateway on every session through a short-lived per-replica cache.

use std::{sync::Arc, time::Duration};

use moka::future::Cache;

use crate::{
    domain::{Slug, Upstream},
    error::{Error, Result},
    store::{Store, UpstreamHead, UpstreamOp, UpstreamWrite, VersionRow},
};

/// How long a replica serves what it last read of a server's upstream: a registry change
/// reaches every replica's new sessions within this (see docs/design.md, "Gateway").
pub const FRESH_FOR: Duration = Duration::from_secs(2);
/// Servers whose registry entry a replica keeps, found or not: `/mcp/{anything}` is a lookup.
const CAPACITY: u64 = 10_000;

/// A server's upstream as stored: the entry and the version it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Registered {
    pub server: Slug,
    pub version: u64,
    pub updated_at: i64,
    pub upstream: Upstream,
}

#[derive(Clone)]
pub struct Registry {
    store: Store,
    fresh: Cache<Slug, Option<Arc<Upstream>>>,
    /// What each server's entry was at the last good read: served while the store is down.
    last_good: Cache<Slug, Option<Arc<Upstream>>>,
}

impl Registry {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            fresh: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(FRESH_FOR)
                .build(),
            last_good: Cache::builder().max_capacity(CAPACITY).build(),
        }
    }

    /// The upstream `/mcp/{server}` forwards to, if any: fresh within [`FRESH_FOR`], the last
    /// good read while the store cannot be reached.
    pub async fn lookup(&self, server: &Slug) -> Result<Option<Arc<Upstream>>> {
        let read = self
            .fresh
            .try_get_with(server.clone(), async {
                let head = self.store.upstream(server).await?;
                let upstream = head
                    .filter(|h| !h.deleted)
                    .map(|h| decode(&h).map(|r| Arc::new(r.upstream)))
                    .transpose()?;
                self.last_good
                    .insert(server.clone(), upstream.clone())
                    .await;
                Ok::<_, Error>(upstream)
            })
            .await;
        match read {
            Ok(upstream) => Ok(upstream),
            Err(e) => match self.last_good.get(server).await {
                Some(upstream) if matches!(*e, Error::Store(_)) => Ok(upstream),
                _ => Err(Arc::unwrap_or_clone(e)),
            },
        }
    }

    /// A server's current upstream, for its editors; not found when it has none.
    pub async fn get(&self, server: &Slug) -> Result<Registered> {
        match self.store.upstream(server).await? {
            Some(head) if !head.deleted => decode(&head),
            _ => Err(not_found(server)),
        }
    }

    /// Every server's upstream, by server.
    pub async fn all(&self) -> Result<Vec<Registered>> {
        self.store.upstreams().await?.iter().map(decode).collect()
    }

    /// Every version, oldest first (deleted ones' included): the audit of who pointed the
    /// server where, when and why.
    pub async fn history(&self, server: &Slug) -> Result<Vec<VersionRow>> {
        let history = self.store.upstream_history(server).await?;
        if history.is_empty() {
            return Err(not_found(server));
        }
        Ok(history)
    }

    /// Saves `upstream` as the server's next version.
    pub async fn set(
        &self,
        server: &Slug,
        upstream: &Upstream,
        expected_version: Option<u64>,
        actor: &str,
        message: &str,
    ) -> Result<Registered> {
        upstream.check()?;
        let body = serde_json::to_string(upstream).expect("an upstream serializes");
        let op = UpstreamOp::Set {
            body,
            message: message.to_owned(),
        };
        self.write(server, op, expected_version, actor).await
    }

    /// Saves an earlier version's entry as the next version.
    pub async fn rollback(
        &self,
        server: &Slug,
        version: u64,
        expected_version: Option<u64>,
        actor: &str,
    ) -> Result<Registered> {
        let old = self
            .store
            .upstream_version(server, version)
            .await?
            .ok_or_else(|| Error::NotFound(format!("version {version} of {server}'s upstream")))?;
        let op = UpstreamOp::Set {
            body: old.body,
            message: format!("rollback to version {version}"),
        };
        self.write(server, op, expected_version, actor).await
    }

    /// Removes the server's upstream (its history stays): `/mcp/{server}` serves
    /// mcp-config's prompts and resources alone again. Returns the version removed.
    pub async fn delete(
        &self,
        server: &Slug,
        expected_version: Option<u64>,
        actor: &str,
    ) -> Result<Registered> {
        self.write(server, UpstreamOp::Delete, expected_version, actor)
            .await
    }

    async fn write(
        &self,
        server: &Slug,
        op: UpstreamOp,
        expected_version: Option<u64>,
        actor: &str,
    ) -> Result<Registered> {
        let deleting = op == UpstreamOp::Delete;
        let write = UpstreamWrite {
            server: server.clone(),
            op,
            expected_version,
        };
        let head = self.store.write_upstream(&write, actor).await?;
        // This replica's next session sees the write at once; the others within FRESH_FOR.
        self.fresh.invalidate(server).await;
        tracing::info!(%server, version = head.version, deleted = deleting, actor, "upstream written");
        decode(&head)
    }
}

fn not_found(server: &Slug) -> Error {
    Error::NotFound(format!("upstream of server {server}"))
}

fn decode(head: &UpstreamHead) -> Result<Registered> {
    let upstream: Upstream =
        serde_json::from_str(&head.body).map_err(|e| Error::corrupt(&head.server, &e))?;
    Ok(Registered {
        server: Slug::parse("server", &head.server)?,
        version: head.version,
        updated_at: head.updated_at,
        upstream,
    })
}
