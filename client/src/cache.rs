//! The client's views: the last one fetched per (kind, org, server), with whether it is known
//! to be current.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use mcp_config_proto::v1::{Prompt, Resource};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum ViewKind {
    Prompts,
    Resources,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub(crate) struct ViewId {
    pub kind: ViewKind,
    pub org: String,
    pub server: String,
}

impl ViewId {
    pub fn new(kind: ViewKind, org: &str, server: &str) -> Self {
        Self {
            kind,
            org: org.to_owned(),
            server: server.to_owned(),
        }
    }
}

/// A view as a caller gets it.
#[derive(Debug, Clone)]
pub struct Fetched<T> {
    pub items: Arc<Vec<T>>,
    pub revision: u64,
    /// `Some(age)` when the service could not be reached and this is the last known view,
    /// last confirmed `age` ago.
    pub stale: Option<Duration>,
}

impl<T> Fetched<T> {
    pub(crate) fn empty(revision: u64) -> Self {
        Self {
            items: Arc::new(Vec::new()),
            revision,
            stale: None,
        }
    }
}

#[derive(Clone)]
pub(crate) enum Items {
    Prompts(Arc<Vec<Prompt>>),
    Resources(Arc<Vec<Resource>>),
}

/// The item types a view holds.
pub(crate) trait Item: Sized + Clone {
    fn wrap(items: Arc<Vec<Self>>) -> Items;
    fn unwrap(items: &Items) -> Option<Arc<Vec<Self>>>;
}

impl Item for Prompt {
    fn wrap(items: Arc<Vec<Self>>) -> Items {
        Items::Prompts(items)
    }
    fn unwrap(items: &Items) -> Option<Arc<Vec<Self>>> {
        match items {
            Items::Prompts(p) => Some(p.clone()),
            Items::Resources(_) => None,
        }
    }
}

impl Item for Resource {
    fn wrap(items: Arc<Vec<Self>>) -> Items {
        Items::Resources(items)
    }
    fn unwrap(items: &Items) -> Option<Arc<Vec<Self>>> {
        match items {
            Items::Resources(r) => Some(r.clone()),
            Items::Prompts(_) => None,
        }
    }
}

#[derive(Clone)]
pub(crate) struct Entry {
    pub revision: u64,
    pub items: Items,
    /// When the service last confirmed this view.
    pub confirmed: Instant,
    /// False once an invalidation (or a reconnect, or a gap) says it may be out of date.
    pub current: bool,
}

/// A cached view of items `T`.
pub(crate) struct Known<T> {
    pub revision: u64,
    items: Arc<Vec<T>>,
    confirmed: Instant,
    current: bool,
}

impl<T> Known<T> {
    pub fn is_fresh(&self, revalidate_after: Duration) -> bool {
        self.current && self.confirmed.elapsed() < revalidate_after
    }

    pub fn age(&self) -> Duration {
        self.confirmed.elapsed()
    }

    pub fn fetched(&self) -> Fetched<T> {
        Fetched {
            items: self.items.clone(),
            revision: self.revision,
            stale: None,
        }
    }

    pub fn stale(&self) -> Fetched<T> {
        Fetched {
            items: self.items.clone(),
            revision: self.revision,
            stale: Some(self.age()),
        }
    }
}

#[derive(Default)]
pub(crate) struct Cache {
    entries: RwLock<HashMap<ViewId, Entry>>,
}

impl Cache {
    pub fn get<T: Item>(&self, id: &ViewId) -> Option<Known<T>> {
        let entries = self.entries.read().expect("cache lock");
        let entry = entries.get(id)?;
        Some(Known {
            revision: entry.revision,
            items: T::unwrap(&entry.items)?,
            confirmed: entry.confirmed,
            current: entry.current,
        })
    }

    pub fn store<T: Item>(&self, id: &ViewId, revision: u64, items: Vec<T>) -> Known<T> {
        let items = Arc::new(items);
        let entry = Entry {
            revision,
            items: T::wrap(items.clone()),
            confirmed: Instant::now(),
            current: true,
        };
        self.entries
            .write()
            .expect("cache lock")
            .insert(id.clone(), entry);
        Known {
            revision,
            items,
            confirmed: Instant::now(),
            current: true,
        }
    }

    /// The service said the view at `revision` is still current.
    pub fn revalidated<T: Item>(&self, id: &ViewId, revision: u64) -> Option<Known<T>> {
        {
            let mut entries = self.entries.write().expect("cache lock");
            let entry = entries.get_mut(id)?;
            entry.revision = revision;
            entry.confirmed = Instant::now();
            entry.current = true;
        }
        self.get(id)
    }

    /// Marks the views an event names as out of date (an empty org: every org's view of that
    /// server). They stay for stale-if-error and `known_revision` revalidation.
    pub fn invalidate(&self, kind: ViewKind, org: &str, server: &str) {
        let mut entries = self.entries.write().expect("cache lock");
        for (id, entry) in entries.iter_mut() {
            if id.kind == kind && id.server == server && (org.is_empty() || id.org == org) {
                entry.current = false;
            }
        }
    }

    pub fn invalidate_all(&self) {
        for entry in self.entries.write().expect("cache lock").values_mut() {
            entry.current = false;
        }
    }

    pub fn snapshot(&self) -> Vec<(ViewId, Entry)> {
        self.entries
            .read()
            .expect("cache lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    pub fn restore(&self, id: ViewId, entry: Entry) {
        self.entries
            .write()
            .expect("cache lock")
            .entry(id)
            .or_insert(entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(name: &str) -> Prompt {
        Prompt {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_default_change_marks_every_orgs_view_of_that_server() {
        let cache = Cache::default();
        for org in ["", "acme", "globex"] {
            cache.store(
                &ViewId::new(ViewKind::Prompts, org, "github"),
                1,
                vec![prompt("a")],
            );
        }
        cache.store(
            &ViewId::new(ViewKind::Prompts, "acme", "slack"),
            1,
            vec![prompt("a")],
        );
        cache.invalidate(ViewKind::Prompts, "", "github");
        let current = |org: &str, server: &str| {
            cache
                .get::<Prompt>(&ViewId::new(ViewKind::Prompts, org, server))
                .unwrap()
                .is_fresh(Duration::from_secs(60))
        };
        assert!(
            !current("", "github") && !current("acme", "github") && !current("globex", "github")
        );
        assert!(current("acme", "slack"));
        cache.invalidate(ViewKind::Prompts, "acme", "slack");
        assert!(!current("acme", "slack"));
    }

    #[test]
    fn an_invalidated_view_is_kept_for_stale_reads_and_revalidation() {
        let cache = Cache::default();
        let id = ViewId::new(ViewKind::Prompts, "acme", "github");
        cache.store(&id, 7, vec![prompt("a")]);
        cache.invalidate_all();
        let known = cache.get::<Prompt>(&id).unwrap();
        assert!(!known.is_fresh(Duration::from_secs(60)));
        assert_eq!(known.stale().items[0].name, "a");
        let again = cache.revalidated::<Prompt>(&id, 7).unwrap();
        assert!(again.is_fresh(Duration::from_secs(60)));
        assert!(cache.get::<Resource>(&id).is_none(), "kinds never mix");
    }
}
