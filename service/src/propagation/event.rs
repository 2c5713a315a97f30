//! What propagates: one [`Event`] per committed change, built once from the change log and
//! carried unchanged from the relay through the bus to the caches, Watch streams and MCP
//! sessions; and the progress rule by which a quiet channel is told from a cut one.

use std::time::Duration;

use crate::{
    domain::{Invalidation, Kind, Labels, Revision, Scope, Slug},
    store::Change,
};

/// A committed change, as far as readers care: which views it touched, and where it stands in
/// the order of changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEvent {
    pub revision: Revision,
    /// The revision of the event before this one on the same stream: on the global stream
    /// `revision - 1` (revisions are dense); a filtered stream chains its own.
    pub previous_revision: Revision,
    pub scope: Scope,
    pub server: Slug,
    pub kind: Kind,
    /// The entries changed (prompt names or resource URIs).
    pub keys: Vec<String>,
    /// The labels whose views changed.
    pub labels: Labels,
    /// With the defaults' scope: the only orgs whose views changed; empty: every org's.
    pub orgs: Vec<Slug>,
}

/// What a stream of changes carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Change(ChangeEvent),
    /// No change, only where the sender stands: every change up to this revision has been
    /// sent. A stream that has been quiet sends one now and then, so its reader can tell "no
    /// changes" from "cut off"; a reader behind it has missed something.
    Progress(Revision),
}

impl ChangeEvent {
    /// The event announcing `change`.
    pub fn of(change: &Change) -> Self {
        Self {
            revision: change.revision,
            previous_revision: change.revision.saturating_sub(1),
            scope: change.org.clone(),
            server: change.server.clone(),
            kind: change.kind,
            keys: change.keys.clone(),
            labels: change.labels.clone(),
            orgs: change.orgs.clone(),
        }
    }

    /// What it makes stale: one org's views of the server, or every view of the server when
    /// a default changed (every org inherits it), at the labels it moved.
    pub fn invalidation(&self) -> Invalidation {
        match &self.scope {
            Scope::Defaults => Invalidation::Server {
                kind: self.kind,
                server: self.server.clone(),
                labels: self.labels.clone(),
                orgs: self.orgs.clone(),
            },
            scope => Invalidation::Scope {
                kind: self.kind,
                scope: scope.clone(),
                server: self.server.clone(),
                labels: self.labels.clone(),
            },
        }
    }
}

impl Event {
    /// The event announcing `change`.
    pub fn of(change: &Change) -> Self {
        Self::Change(ChangeEvent::of(change))
    }

    /// The revision a change carries, or where a progress event stands.
    pub fn revision(&self) -> Revision {
        match self {
            Self::Change(change) => change.revision,
            Self::Progress(revision) => *revision,
        }
    }
}

/// How long a reader waits for any message (a change, or progress sent every
/// `progress_every`) before it takes its stream as cut off: three progress periods.
pub fn silence_bound(progress_every: Duration) -> Duration {
    progress_every * 3
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(scope: Scope) -> ChangeEvent {
        ChangeEvent {
            revision: 7,
            previous_revision: 6,
            scope,
            server: Slug::parse("server", "github").unwrap(),
            kind: Kind::Resources,
            keys: vec!["docs://a".into()],
            labels: Labels::All,
            orgs: Vec::new(),
        }
    }

    #[test]
    fn a_default_change_invalidates_the_whole_server_and_an_org_change_its_view() {
        let github = Slug::parse("server", "github").unwrap();
        assert_eq!(
            change(Scope::Defaults).invalidation(),
            Invalidation::Server {
                kind: Kind::Resources,
                server: github.clone(),
                labels: Labels::All,
                orgs: Vec::new(),
            }
        );
        let acme = Scope::Org(Slug::parse("org", "acme").unwrap());
        assert_eq!(
            change(acme.clone()).invalidation(),
            Invalidation::Scope {
                kind: Kind::Resources,
                scope: acme,
                server: github,
                labels: Labels::All,
            }
        );
    }
}
