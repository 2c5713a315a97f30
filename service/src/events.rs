//! Invalidation events: built from committed changes, carried in-process on a broadcast bus,
//! and on Redis as the proto3 JSON of `InvalidationEvent`.

use mcp_config_proto::v1::{self, InvalidationEvent};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{
    cache::{Invalidation, ViewCache, ViewKey},
    domain::{Kind, Revision, Scope, Slug},
    store::Change,
};

/// The event announcing `change`. Revisions are dense (every revision is one committed change),
/// so the previous event's revision is always `revision - 1`.
pub fn event_of(change: &Change) -> InvalidationEvent {
    InvalidationEvent {
        revision: change.revision,
        previous_revision: change.revision.saturating_sub(1),
        org_id: change.org.as_str().to_owned(),
        server: change.server.to_string(),
        kind: proto_kind(change.kind) as i32,
        keys: change.keys.clone(),
    }
}

/// A progress event: no change, only where the sender stands (`revision` = `previous_revision`
/// = the latest revision it accounted for; no kind, no server). A stream that has been quiet
/// sends one now and then, so its reader can tell "no changes" from "cut off"; a reader behind
/// it has missed something.
pub fn progress(revision: Revision) -> InvalidationEvent {
    InvalidationEvent {
        revision,
        previous_revision: revision,
        ..Default::default()
    }
}

/// Whether `event` is a [`progress`] event rather than a change.
pub fn is_progress(event: &InvalidationEvent) -> bool {
    event.kind == v1::Kind::Unspecified as i32
        && event.server.is_empty()
        && event.revision == event.previous_revision
}

fn proto_kind(kind: Kind) -> v1::Kind {
    match kind {
        Kind::Prompts => v1::Kind::Prompts,
        Kind::Resources => v1::Kind::Resources,
    }
}

/// What an event drops from a view cache; everything, if the event cannot be understood.
pub fn invalidation_of(event: &InvalidationEvent) -> Invalidation {
    let kind = match v1::Kind::try_from(event.kind) {
        Ok(v1::Kind::Prompts) => Kind::Prompts,
        Ok(v1::Kind::Resources) => Kind::Resources,
        _ => return Invalidation::All,
    };
    let (Ok(server), Ok(scope)) = (
        Slug::parse("server", &event.server),
        Scope::parse_optional("org_id", &event.org_id),
    ) else {
        return Invalidation::All;
    };
    match scope {
        Scope::Defaults => Invalidation::Server { kind, server },
        scope => Invalidation::View(ViewKey {
            kind,
            scope,
            server,
        }),
    }
}

/// The orgs whose events a Watch gets. The defaults' events reach every Watch: every org
/// inherits them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgFilter {
    /// Every org's.
    Any,
    /// These orgs' only; none listed: the defaults' only.
    Only(Vec<Slug>),
}

/// Whether a Watch with these filters wants `event` (no servers: every server's).
pub fn matches(event: &InvalidationEvent, orgs: &OrgFilter, servers: &[Slug]) -> bool {
    let org_wanted = match orgs {
        OrgFilter::Any => true,
        OrgFilter::Only(orgs) => {
            event.org_id.is_empty() || orgs.iter().any(|o| o.as_str() == event.org_id)
        }
    };
    org_wanted && (servers.is_empty() || servers.iter().any(|s| s.as_str() == event.server))
}

/// The in-process fan-out of events to this replica's cache and Watch streams.
#[derive(Clone)]
pub struct Bus {
    sender: broadcast::Sender<InvalidationEvent>,
}

impl Bus {
    /// `capacity` events may be buffered per receiver; a receiver that falls further behind
    /// is told it lagged and must resync.
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
        }
    }

    pub fn publish(&self, event: InvalidationEvent) {
        // No receiver is fine: nobody is listening yet.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<InvalidationEvent> {
        self.sender.subscribe()
    }

    pub fn receivers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// What this replica's L1 has dropped, announced after the drop, so that whoever re-reads on
/// hearing of it (an MCP client told its list changed) gets the new view. Events arrive on the
/// bus from another replica (through Redis) as soon as here, and an MCP session following the
/// bus itself could be told before the old view is gone.
#[derive(Clone)]
pub struct Dropped {
    sender: broadcast::Sender<Invalidation>,
}

impl Dropped {
    /// `capacity` drops may be buffered per receiver, as on the [`Bus`].
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Invalidation> {
        self.sender.subscribe()
    }

    fn announce(&self, what: Invalidation) {
        // No receiver is fine: no MCP client is following.
        let _ = self.sender.send(what);
    }
}

/// Drops this replica's L1 entries as events arrive, and then announces each drop on
/// `dropped`. An event whose `previous_revision` is not the last one seen, or a receiver that
/// lagged, means something was missed: drop everything.
pub async fn invalidate_on_events(
    bus: Bus,
    cache: ViewCache,
    dropped: Dropped,
    shutdown: CancellationToken,
) {
    let mut events = bus.subscribe();
    let mut last: Revision = 0;
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            received = events.recv() => received,
        };
        match received {
            Ok(event) if event.revision <= last => {}
            Ok(event) => {
                let gap = last != 0 && event.previous_revision != last;
                last = event.revision;
                let what = if gap {
                    Invalidation::All
                } else {
                    invalidation_of(&event)
                };
                cache.invalidate(&what).await;
                dropped.announce(what);
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                cache.invalidate(&Invalidation::All).await;
                dropped.announce(Invalidation::All);
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_default_change_invalidates_the_whole_server() {
        let event = InvalidationEvent {
            server: "github".into(),
            kind: v1::Kind::Resources as i32,
            ..Default::default()
        };
        assert_eq!(
            invalidation_of(&event),
            Invalidation::Server {
                kind: Kind::Resources,
                server: Slug::parse("s", "github").unwrap()
            }
        );
        assert_eq!(
            invalidation_of(&InvalidationEvent::default()),
            Invalidation::All
        );
    }

    #[test]
    fn watch_filters_let_defaults_through() {
        let event = |org: &str| InvalidationEvent {
            org_id: org.into(),
            server: "github".into(),
            ..Default::default()
        };
        let slug = |s: &str| Slug::parse("s", s).unwrap();
        let orgs = OrgFilter::Only(vec![slug("acme")]);
        assert!(matches(&event("acme"), &orgs, &[]));
        assert!(matches(&event(""), &orgs, &[]));
        assert!(!matches(&event("globex"), &orgs, &[]));
        assert!(!matches(&event("acme"), &OrgFilter::Any, &[slug("slack")]));
        let defaults_only = OrgFilter::Only(vec![]);
        assert!(matches(&event(""), &defaults_only, &[]));
        assert!(!matches(&event("acme"), &defaults_only, &[]));
    }
}
