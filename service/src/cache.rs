//! The in-process (L1) cache of encoded effective views.
//!
//! Weighed by bytes, not entries, so memory stays within the configured budget however many orgs
//! are read. Concurrent misses on one key share one load. The TTL is a safety net only:
//! invalidation events drop entries the moment a change is published. While invalidations go
//! unheard (the Redis subscription is down or silent), nothing is kept: every read loads, so a
//! replica cut off from the channel serves what the store says, never an entry it cannot know
//! to be stale.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::Duration,
};

use moka::future::Cache;

use crate::{
    domain::{Invalidation, Labels, ViewKey},
    error::Error,
    wire::EncodedView,
};

#[derive(Clone)]
pub struct ViewCache {
    entries: Cache<ViewKey, Arc<EncodedView>>,
    /// Bumped by every invalidation, so a load that raced one is not kept.
    epoch: Arc<AtomicU64>,
    loads: Arc<AtomicU64>,
    /// Whether invalidations are being heard; while not, loads are shared but not kept.
    following: Arc<AtomicBool>,
}

impl ViewCache {
    pub fn new(max_bytes: u64, ttl: Duration) -> Self {
        let entries = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(|key: &ViewKey, view: &Arc<EncodedView>| {
                let key_bytes =
                    key.server.as_str().len() + key.scope.as_str().len() + key.label.as_str().len();
                view.weight().saturating_add(key_bytes as u32)
            })
            .time_to_live(ttl)
            .eviction_listener(|_key, _view, cause| {
                if cause.was_evicted() {
                    metrics::counter!(crate::metrics::L1_EVICTIONS).increment(1);
                }
            })
            .support_invalidation_closures()
            .build();
        Self {
            entries,
            epoch: Arc::default(),
            loads: Arc::default(),
            following: Arc::new(AtomicBool::new(true)),
        }
    }

    /// Whether invalidations are heard. Turning it off drops every entry (any may already be
    /// stale) and keeps none until it is on again; the source that turns it on has accounted
    /// for every change until then (a subscription's resync).
    pub async fn set_following(&self, following: bool) {
        let was = self.following.swap(following, Ordering::SeqCst);
        if was && !following {
            self.invalidate(&Invalidation::All).await;
        }
        metrics::gauge!(crate::metrics::L1_FOLLOWING).set(f64::from(u8::from(following)));
    }

    /// The cached view of `key`, or the result of `load()`, shared by every caller that misses
    /// on `key` while it runs.
    pub async fn get_or_load<F, Fut>(
        &self,
        key: &ViewKey,
        load: F,
    ) -> Result<Arc<EncodedView>, Arc<Error>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<EncodedView, Error>>,
    {
        if !self.following.load(Ordering::SeqCst) {
            // Shared by concurrent callers, then dropped: an entry nobody can invalidate.
            let view = Box::pin(self.load_once(key.clone(), load())).await;
            self.entries.invalidate(key).await;
            return view;
        }
        if let Some(view) = self.entries.get(key).await {
            metrics::counter!(crate::metrics::L1_HITS).increment(1);
            return Ok(view);
        }
        // Boxed, and the load only built here: moka's entry future and the load are large
        // state machines, and a hit that carried them would pay for moving them (profiled:
        // memmove was the service's largest cost over the bare server).
        Box::pin(self.load_once(key.clone(), load())).await
    }

    async fn load_once<Fut>(&self, key: ViewKey, load: Fut) -> Result<Arc<EncodedView>, Arc<Error>>
    where
        Fut: Future<Output = Result<EncodedView, Error>>,
    {
        let epoch = self.epoch.load(Ordering::SeqCst);
        let loads = &self.loads;
        let entry = self
            .entries
            .entry(key.clone())
            .or_try_insert_with(async {
                loads.fetch_add(1, Ordering::Relaxed);
                load.await.map(Arc::new)
            })
            .await?;
        if !entry.is_fresh() {
            metrics::counter!(crate::metrics::L1_HITS).increment(1);
        } else {
            metrics::counter!(crate::metrics::L1_MISSES).increment(1);
        }
        if entry.is_fresh() && self.epoch.load(Ordering::SeqCst) != epoch {
            // An invalidation arrived while this was loading: the value may predate it. The
            // caller may use it (it was current when asked), the cache may not keep it.
            self.entries.invalidate(&key).await;
        }
        Ok(entry.into_value())
    }

    pub async fn invalidate(&self, what: &Invalidation) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        match what {
            // One scope at named labels: those keys, no scan.
            Invalidation::Scope {
                kind,
                scope,
                server,
                labels: Labels::Only(labels),
            } => {
                for label in labels {
                    let key = ViewKey {
                        kind: *kind,
                        scope: scope.clone(),
                        server: server.clone(),
                        label: label.clone(),
                    };
                    self.entries.invalidate(&key).await;
                }
            }
            Invalidation::All => self.entries.invalidate_all(),
            other => {
                let other = other.clone();
                self.entries
                    .invalidate_entries_if(move |key, _| other.covers(key))
                    .expect("invalidation closures are enabled");
            }
        }
    }

    /// Store loads started so far (misses that were not coalesced into another's load).
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// Bytes held, as weighed (after pending maintenance has run).
    pub async fn weighted_size(&self) -> u64 {
        self.entries.run_pending_tasks().await;
        self.entries.weighted_size()
    }

    pub fn entry_count(&self) -> u64 {
        self.entries.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Kind, Label, Scope, Slug};
    use mcp_config_proto::v1::Prompt;

    fn key(org: &str) -> ViewKey {
        ViewKey {
            kind: Kind::Prompts,
            scope: Scope::parse_optional("org", org).unwrap(),
            server: Slug::parse("server", "github").unwrap(),
            label: Label::Production,
        }
    }

    fn view(revision: u64, size: usize) -> EncodedView {
        let prompt = Prompt {
            name: "p".into(),
            description: "x".repeat(size),
            ..Default::default()
        };
        EncodedView::build(revision, false, [("p", prompt)])
    }

    #[tokio::test]
    async fn concurrent_misses_on_one_key_load_once() {
        let cache = ViewCache::new(1 << 20, Duration::from_secs(60));
        let acme = key("acme");
        let calls = (0..100).map(|_| {
            cache.get_or_load(&acme, || async {
                tokio::time::sleep(Duration::from_millis(20)).await;
                Ok(view(1, 10))
            })
        });
        let views = futures::future::join_all(calls).await;
        assert!(views.iter().all(|v| v.as_ref().unwrap().revision() == 1));
        assert_eq!(cache.loads(), 1);
    }

    #[tokio::test]
    async fn memory_stays_within_the_byte_budget() {
        let budget = 200_000;
        let cache = ViewCache::new(budget, Duration::from_secs(60));
        for i in 0..1_000 {
            cache
                .get_or_load(&key(&format!("org{i}")), || async { Ok(view(1, 1_000)) })
                .await
                .unwrap();
        }
        let held = cache.weighted_size().await;
        assert!(held <= budget, "{held} > {budget}");
        assert!(cache.entry_count() < 1_000);
    }

    #[tokio::test]
    async fn a_default_change_drops_every_orgs_view_of_that_server() {
        let cache = ViewCache::new(1 << 20, Duration::from_secs(60));
        for org in ["", "acme", "globex"] {
            cache
                .get_or_load(&key(org), || async { Ok(view(1, 1)) })
                .await
                .unwrap();
        }
        let server = Slug::parse("server", "github").unwrap();
        cache
            .invalidate(&Invalidation::Server {
                kind: Kind::Prompts,
                server,
                labels: Labels::All,
                orgs: Vec::new(),
            })
            .await;
        for org in ["", "acme", "globex"] {
            cache
                .get_or_load(&key(org), || async { Ok(view(2, 1)) })
                .await
                .unwrap();
        }
        assert_eq!(cache.loads(), 6);
    }

    #[tokio::test]
    async fn a_load_that_raced_an_invalidation_is_not_kept() {
        let cache = ViewCache::new(1 << 20, Duration::from_secs(60));
        let racing = cache.clone();
        let stale = cache
            .get_or_load(&key("acme"), || async move {
                racing
                    .invalidate(&Invalidation::Scope {
                        kind: Kind::Prompts,
                        scope: key("acme").scope,
                        server: key("acme").server,
                        labels: Labels::Only(vec![Label::Production]),
                    })
                    .await;
                Ok(view(1, 1))
            })
            .await
            .unwrap();
        assert_eq!(stale.revision(), 1);
        let fresh = cache
            .get_or_load(&key("acme"), || async { Ok(view(2, 1)) })
            .await
            .unwrap();
        assert_eq!(fresh.revision(), 2);
    }
}
