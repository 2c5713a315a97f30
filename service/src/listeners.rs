//! Who is listening: the Watch streams and MCP sessions open on this replica, what each
//! follows and the revision it last saw. Every replica reports its own to the store every few seconds, so any replica
//! shows them all — the first question after a change is "did everyone get it?".

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::{
    auth::{self, Principal},
    domain::{Label, OrgFilter, Revision, Slug},
    error::Result,
    store::{Store, millis, now_ms},
};

/// How often each replica rewrites its report.
pub const REPORT_EVERY: Duration = Duration::from_secs(5);
/// A report not rewritten for this many periods is a replica that is gone.
const STALE_AFTER_REPORTS: i64 = 3;

/// How a listener follows changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Door {
    /// A gRPC `Watch` stream: it is up to a revision once that revision's event was sent.
    #[default]
    Watch,
    /// An MCP session or listen stream of `/mcp/{server}`: it is up to a revision once every
    /// `list_changed` that revision's change means for it was sent.
    Mcp,
}

/// One open stream, as a report and the page show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listener {
    /// The replica it is open on.
    pub replica: String,
    #[serde(default)]
    pub door: Door,
    /// The token subject that opened it.
    pub subject: String,
    /// The orgs whose changes it gets; `None`: every org's; empty: the defaults' only.
    pub orgs: Option<Vec<String>>,
    /// The servers it follows; empty: all.
    pub servers: Vec<String>,
    /// The label whose changes it gets; empty: every label's.
    pub label: String,
    pub since_ms: i64,
    /// The revision it is up to: every change it follows up to here was handed to it.
    pub revision: Revision,
    /// The newest revision when this was read (a report's time: compare `revision` with it).
    #[serde(default)]
    pub as_of: Revision,
}

impl Listener {
    /// Whether `principal` may see this stream: a global admin every stream; an org's reader
    /// the streams that follow exactly their org (another tenant's subjects never show).
    pub fn visible_to(&self, principal: &Principal) -> bool {
        if auth::check_global_admin(principal).is_ok() {
            return true;
        }
        match (&principal.org, &self.orgs) {
            (Some(own), Some(orgs)) => {
                auth::check_read(principal, &crate::domain::Scope::Org(own.clone())).is_ok()
                    && orgs.len() == 1
                    && orgs[0] == own.as_str()
            }
            _ => false,
        }
    }
}

struct Open {
    listener: Listener,
    revision: Arc<AtomicU64>,
}

struct Inner {
    replica: String,
    next: AtomicU64,
    open: Mutex<HashMap<u64, Open>>,
}

/// This replica's open streams; cheap to clone.
#[derive(Clone)]
pub struct OpenStreams {
    inner: Arc<Inner>,
}

impl Default for OpenStreams {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenStreams {
    pub fn new() -> Self {
        let replica = format!("replica-{:08x}", rand::random::<u32>());
        Self {
            inner: Arc::new(Inner {
                replica,
                next: AtomicU64::new(1),
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Registers a stream that starts at `revision`; it is listed until the guard drops.
    pub fn open(
        &self,
        door: Door,
        subject: &str,
        orgs: &OrgFilter,
        servers: &[Slug],
        label: Option<&Label>,
        revision: Revision,
    ) -> Listening {
        let id = self.inner.next.fetch_add(1, Ordering::Relaxed);
        let seen = Arc::new(AtomicU64::new(revision));
        let listener = Listener {
            replica: self.inner.replica.clone(),
            door,
            subject: subject.to_owned(),
            orgs: match orgs {
                OrgFilter::Any => None,
                OrgFilter::Only(orgs) => Some(orgs.iter().map(|o| o.as_str().to_owned()).collect()),
            },
            servers: servers.iter().map(|s| s.as_str().to_owned()).collect(),
            label: label.map(|l| l.as_str().to_owned()).unwrap_or_default(),
            since_ms: now_ms(),
            revision,
            as_of: revision,
        };
        self.lock().insert(
            id,
            Open {
                listener,
                revision: seen.clone(),
            },
        );
        Listening {
            id,
            listeners: self.clone(),
            seen,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
        self.inner
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This replica's open streams now, `newest` being the newest revision.
    pub fn snapshot(&self, newest: Revision) -> Vec<Listener> {
        let mut listeners: Vec<Listener> = self
            .lock()
            .values()
            .map(|open| Listener {
                revision: open.revision.load(Ordering::Relaxed),
                as_of: newest,
                ..open.listener.clone()
            })
            .collect();
        listeners.sort_by_key(|l| l.since_ms);
        listeners
    }

    /// Every replica's open streams: this one's now, the others' as last reported.
    pub async fn all(&self, store: &Store) -> Result<Vec<Listener>> {
        let fresh_since = now_ms() - STALE_AFTER_REPORTS * millis(REPORT_EVERY);
        let mut all = self.snapshot(store.latest_revision().await?);
        for (replica, report) in store.listener_reports(fresh_since).await? {
            if replica == self.inner.replica {
                continue;
            }
            match serde_json::from_str::<Vec<Listener>>(&report) {
                Ok(listeners) => all.extend(listeners),
                Err(e) => tracing::warn!(%replica, error = %e, "a listener report does not read"),
            }
        }
        Ok(all)
    }

    /// Rewrites this replica's report every [`REPORT_EVERY`] until stopped; then reports none
    /// (its streams closed with it).
    pub async fn report(self, store: Store, stop: CancellationToken) {
        let mut tick = tokio::time::interval(REPORT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => {
                    self.write(&store, &[]).await;
                    return;
                }
                _ = tick.tick() => {}
            }
            match store.latest_revision().await {
                Ok(newest) => self.write(&store, &self.snapshot(newest)).await,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot report this replica's listeners; retrying")
                }
            }
        }
    }

    async fn write(&self, store: &Store, listeners: &[Listener]) {
        let report = serde_json::to_string(listeners).expect("listeners serialize");
        let now = now_ms();
        let stale_before = now - 2 * STALE_AFTER_REPORTS * millis(REPORT_EVERY);
        if let Err(e) = store
            .report_listeners(&self.inner.replica, &report, now, stale_before)
            .await
        {
            tracing::debug!(error = %e, "cannot report this replica's listeners; retrying");
        }
    }
}

/// A stream's place in the list; it leaves the list when dropped.
pub struct Listening {
    id: u64,
    listeners: OpenStreams,
    seen: Arc<AtomicU64>,
}

impl Listening {
    /// The stream has every change it follows up to `revision`.
    pub fn saw(&self, revision: Revision) {
        // Never back: a late drop of an older revision does not undo a newer one.
        self.seen.fetch_max(revision, Ordering::Relaxed);
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.listeners.lock().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Roles;

    fn principal(org: Option<&str>, roles: &[&str]) -> Principal {
        Principal {
            subject: "viewer".into(),
            org: org.map(|o| Slug::parse("org", o).unwrap()),
            roles: Roles::parse(&roles.iter().map(|r| r.to_string()).collect::<Vec<_>>()),
            expires_at: None,
        }
    }

    #[test]
    fn a_stream_is_listed_while_open_with_what_it_saw_and_only_to_whom_may_see_it() {
        let listeners = OpenStreams::new();
        let acme = OrgFilter::Only(vec![Slug::parse("org", "acme").unwrap()]);
        let stream = listeners.open(Door::Watch, "github-mcp", &acme, &[], None, 7);
        let every_org = listeners.open(Door::Mcp, "fleet", &OrgFilter::Any, &[], None, 7);
        stream.saw(9);
        let listed = listeners.snapshot(9);
        assert_eq!(listed.len(), 2);
        let of_acme = listed.iter().find(|l| l.subject == "github-mcp").unwrap();
        assert_eq!(
            (of_acme.revision, of_acme.orgs.clone()),
            (9, Some(vec!["acme".to_owned()]))
        );
        assert!(of_acme.visible_to(&principal(Some("acme"), &["reader"])));
        assert!(!of_acme.visible_to(&principal(Some("globex"), &["admin"])));
        let fleet = listed.iter().find(|l| l.subject == "fleet").unwrap();
        assert!(!fleet.visible_to(&principal(Some("acme"), &["admin"])));
        assert!(fleet.visible_to(&principal(None, &["admin"])));
        drop(stream);
        drop(every_org);
        assert!(listeners.snapshot(9).is_empty());
    }
}
