//! The client's views: the last one fetched per (kind, org, server), with whether it is known
//! to be current.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
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
    /// The org is not registered with the service: the items are the defaults alone (as they
    /// would be for an org without overrides, which says `false`).
    pub org_unknown: bool,
    /// `Some(age)` when the service could not be reached and this is the last known view,
    /// last confirmed `age` ago.
    pub stale: Option<Duration>,
}

impl<T> Fetched<T> {
    pub(crate) fn empty(revision: u64) -> Self {
        Self {
            items: Arc::new(Vec::new()),
            revision,
            org_unknown: false,
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
    pub org_unknown: bool,
    pub items: Items,
    /// When the service last confirmed this view.
    pub confirmed: Instant,
    /// False once an invalidation (or a reconnect, or a gap) says it may be out of date.
    pub current: bool,
}

/// A cached view of items `T`.
pub(crate) struct Known<T> {
    pub revision: u64,
    org_unknown: bool,
    items: Arc<Vec<T>>,
    confirmed: Instant,
    current: bool,
}

impl<T> Known<T> {
    pub fn items(&self) -> &[T] {
        &self.items
    }

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
            org_unknown: self.org_unknown,
            stale: None,
        }
    }

    pub fn stale(&self) -> Fetched<T> {
        Fetched {
            items: self.items.clone(),
            revision: self.revision,
            org_unknown: self.org_unknown,
            stale: Some(self.age()),
        }
    }
}

/// The views, and what the invalidations seen so far require of an answer before it may be
/// called current.
#[derive(Default)]
pub(crate) struct Cache {
    entries: RwLock<HashMap<ViewId, Entry>>,
    /// Per (kind, org, server): the revision of the last event about it (org empty: a default,
    /// so every org of that server). A view answered below it predates a change we were told
    /// of: the replica that answered has not applied the change yet.
    floors: RwLock<HashMap<ViewId, u64>>,
    /// Raised by every [`Cache::invalidate_all`]: an answer to a request sent before a flush
    /// may predate a change that was missed.
    generation: AtomicU64,
    /// Whether the invalidation source is connected. While it is not, no view is current:
    /// every read revalidates (a small `not_modified` when nothing changed), since a change
    /// would go unheard.
    following: tokio::sync::watch::Sender<bool>,
}

/// How far an answer can be trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trust {
    Current,
    /// Older than an event about this view: ask again.
    Behind,
    /// A flush happened while it was in flight: keep it, revalidate on the next read.
    Unsure,
}

impl Cache {
    #[cfg(test)]
    pub fn following() -> Self {
        let cache = Self::default();
        cache.set_following(true);
        cache
    }

    pub fn get<T: Item>(&self, id: &ViewId) -> Option<Known<T>> {
        let entries = self.entries.read().expect("cache lock");
        let entry = entries.get(id)?;
        Some(Known {
            revision: entry.revision,
            org_unknown: entry.org_unknown,
            items: T::unwrap(&entry.items)?,
            confirmed: entry.confirmed,
            current: entry.current && *self.following.borrow(),
        })
    }

    /// Whether invalidations are being heard (see [`Cache::following`]).
    pub fn set_following(&self, following: bool) {
        self.following.send_replace(following);
    }

    /// Waits until invalidations are being heard.
    pub async fn until_following(&self) {
        let mut following = self.following.subscribe();
        // The sender lives as long as `self`: the wait cannot end in an error.
        let _ = following.wait_for(|heard| *heard).await;
    }

    /// The generation to pass to [`Cache::trust`] for a request about to be sent.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The revision of the last change announced for `id`'s view (its org's or a default's).
    fn floor(&self, id: &ViewId) -> u64 {
        let floors = self.floors.read().expect("cache lock");
        let floor = |org: &str| {
            floors
                .get(&ViewId::new(id.kind, org, &id.server))
                .copied()
                .unwrap_or(0)
        };
        floor("").max(floor(&id.org))
    }

    /// Whether a change past `revision` was announced for `id`'s view: a view at `revision`
    /// is then known to be out of date, not merely unconfirmed.
    pub fn announced_past(&self, id: &ViewId, revision: u64) -> bool {
        revision < self.floor(id)
    }

    /// Whether an answer at `revision` to a request sent at `generation` is current.
    pub fn trust(&self, id: &ViewId, revision: u64, generation: u64) -> Trust {
        if self.announced_past(id, revision) {
            Trust::Behind
        } else if generation != self.generation() {
            Trust::Unsure
        } else {
            Trust::Current
        }
    }

    pub fn store<T: Item>(
        &self,
        id: &ViewId,
        revision: u64,
        org_unknown: bool,
        items: Vec<T>,
        trust: Trust,
    ) -> Known<T> {
        let items = Arc::new(items);
        let current = trust == Trust::Current;
        let entry = Entry {
            revision,
            org_unknown,
            items: T::wrap(items.clone()),
            confirmed: Instant::now(),
            current,
        };
        self.entries
            .write()
            .expect("cache lock")
            .insert(id.clone(), entry);
        Known {
            revision,
            org_unknown,
            items,
            confirmed: Instant::now(),
            current,
        }
    }

    /// The service said the view at `revision` is still what it holds.
    pub fn revalidated<T: Item>(
        &self,
        id: &ViewId,
        revision: u64,
        trust: Trust,
    ) -> Option<Known<T>> {
        {
            let mut entries = self.entries.write().expect("cache lock");
            let entry = entries.get_mut(id)?;
            entry.revision = revision;
            entry.confirmed = Instant::now();
            entry.current = trust == Trust::Current;
        }
        self.get(id)
    }

    /// Marks the views an event of `revision` names as out of date (an empty org: every org's
    /// view of that server). They stay for stale-if-error and `known_revision` revalidation.
    pub fn invalidate(&self, kind: ViewKind, org: &str, server: &str, revision: u64) {
        let floor = ViewId::new(kind, org, server);
        let mut floors = self.floors.write().expect("cache lock");
        let known = floors.entry(floor).or_default();
        *known = (*known).max(revision);
        drop(floors);
        let mut entries = self.entries.write().expect("cache lock");
        for (id, entry) in entries.iter_mut() {
            if id.kind == kind && id.server == server && (org.is_empty() || id.org == org) {
                entry.current = false;
            }
        }
    }

    pub fn invalidate_all(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
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
        let cache = Cache::following();
        for org in ["", "acme", "globex"] {
            cache.store(
                &ViewId::new(ViewKind::Prompts, org, "github"),
                1,
                false,
                vec![prompt("a")],
                Trust::Current,
            );
        }
        cache.store(
            &ViewId::new(ViewKind::Prompts, "acme", "slack"),
            1,
            false,
            vec![prompt("a")],
            Trust::Current,
        );
        cache.invalidate(ViewKind::Prompts, "", "github", 2);
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
        cache.invalidate(ViewKind::Prompts, "acme", "slack", 3);
        assert!(!current("acme", "slack"));
    }

    #[test]
    fn an_invalidated_view_is_kept_for_stale_reads_and_revalidation() {
        let cache = Cache::following();
        let id = ViewId::new(ViewKind::Prompts, "acme", "github");
        cache.store(&id, 7, false, vec![prompt("a")], Trust::Current);
        cache.invalidate_all();
        let known = cache.get::<Prompt>(&id).unwrap();
        assert!(!known.is_fresh(Duration::from_secs(60)));
        assert_eq!(known.stale().items[0].name, "a");
        let again = cache.revalidated::<Prompt>(&id, 7, Trust::Current).unwrap();
        assert!(again.is_fresh(Duration::from_secs(60)));
        assert!(cache.get::<Resource>(&id).is_none(), "kinds never mix");
    }

    #[test]
    fn s_floor_1_an_answer_older_than_an_event_about_its_view_is_behind() {
        let cache = Cache::following();
        let acme = ViewId::new(ViewKind::Prompts, "acme", "github");
        let globex = ViewId::new(ViewKind::Prompts, "globex", "github");
        let generation = cache.generation();
        cache.invalidate(ViewKind::Prompts, "acme", "github", 10);
        assert_eq!(cache.trust(&acme, 9, generation), Trust::Behind);
        assert_eq!(cache.trust(&acme, 10, generation), Trust::Current);
        assert_eq!(
            cache.trust(&globex, 9, generation),
            Trust::Current,
            "another org"
        );
        cache.invalidate(ViewKind::Prompts, "", "github", 12);
        assert_eq!(
            cache.trust(&globex, 11, generation),
            Trust::Behind,
            "a default"
        );
        let resources = ViewId::new(ViewKind::Resources, "acme", "github");
        assert_eq!(
            cache.trust(&resources, 1, generation),
            Trust::Current,
            "another kind"
        );
    }

    #[test]
    fn s_flush_1_an_answer_to_a_request_sent_before_a_flush_is_not_current() {
        let cache = Cache::following();
        let id = ViewId::new(ViewKind::Prompts, "acme", "github");
        let before = cache.generation();
        cache.invalidate_all();
        assert_eq!(cache.trust(&id, 5, before), Trust::Unsure);
        let view = cache.store(&id, 5, false, vec![prompt("a")], Trust::Unsure);
        assert!(
            !view.is_fresh(Duration::from_secs(60)),
            "revalidated on the next read"
        );
        assert_eq!(cache.trust(&id, 5, cache.generation()), Trust::Current);
    }

    #[test]
    fn nothing_is_current_while_invalidations_go_unheard() {
        let cache = Cache::following();
        let id = ViewId::new(ViewKind::Prompts, "acme", "github");
        cache.store(&id, 5, false, vec![prompt("a")], Trust::Current);
        cache.set_following(false);
        let known = cache.get::<Prompt>(&id).unwrap();
        assert!(!known.is_fresh(Duration::from_secs(60)));
        assert_eq!(
            known.stale().items[0].name,
            "a",
            "still there for stale-if-error"
        );
        cache.set_following(true);
        assert!(
            cache
                .get::<Prompt>(&id)
                .unwrap()
                .is_fresh(Duration::from_secs(60))
        );
    }
}
