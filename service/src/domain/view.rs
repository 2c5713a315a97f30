//! What a change makes stale, and who wants to hear of it: the keys propagation speaks in.

use super::{Kind, Label, Labels, Scope, Slug};

/// One effective view: what a reader of `scope` gets for `server`'s list of `kind`, at `label`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ViewKey {
    pub kind: Kind,
    pub scope: Scope,
    pub server: Slug,
    pub label: Label,
}

/// What a change makes stale in a cache of views.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invalidation {
    /// One scope's views of a server (an org's, or the defaults-only one) at `labels`.
    Scope {
        kind: Kind,
        scope: Scope,
        server: Slug,
        labels: Labels,
    },
    /// Every view of a server of this kind at `labels` (a default changed, so every org sees
    /// it), or, with `orgs`, those orgs' views only (a rollout's cohort moved).
    Server {
        kind: Kind,
        server: Slug,
        labels: Labels,
        orgs: Vec<Slug>,
    },
    /// Everything (after a reconnect or a gap in the event stream).
    All,
}

impl Invalidation {
    /// Whether the view `key` is stale after this.
    pub fn covers(&self, key: &ViewKey) -> bool {
        match self {
            Self::All => true,
            Self::Server {
                kind,
                server,
                labels,
                orgs,
            } => {
                let org_touched =
                    orgs.is_empty() || matches!(&key.scope, Scope::Org(org) if orgs.contains(org));
                *kind == key.kind
                    && *server == key.server
                    && labels.contains(&key.label)
                    && org_touched
            }
            Self::Scope {
                kind,
                scope,
                server,
                labels,
            } => {
                *kind == key.kind
                    && *scope == key.scope
                    && *server == key.server
                    && labels.contains(&key.label)
            }
        }
    }
}

/// The orgs whose changes a reader gets. The defaults' changes reach every reader: every org
/// inherits them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgFilter {
    /// Every org's.
    Any,
    /// These orgs' only; none listed: the defaults' only.
    Only(Vec<Slug>),
}

impl OrgFilter {
    /// Whether a reader with this filter, following `servers` (none: every server), wants a
    /// change of `scope` on `server`.
    pub fn wants(&self, scope: &Scope, server: &Slug, servers: &[Slug]) -> bool {
        let org_wanted = match (self, scope) {
            (OrgFilter::Any, _) | (_, Scope::Defaults) => true,
            (OrgFilter::Only(orgs), Scope::Org(org)) => orgs.contains(org),
        };
        org_wanted && (servers.is_empty() || servers.contains(server))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_let_the_defaults_through() {
        let slug = |s: &str| Slug::parse("s", s).unwrap();
        let org = |s: &str| Scope::Org(slug(s));
        let github = slug("github");
        let orgs = OrgFilter::Only(vec![slug("acme")]);
        assert!(orgs.wants(&org("acme"), &github, &[]));
        assert!(orgs.wants(&Scope::Defaults, &github, &[]));
        assert!(!orgs.wants(&org("globex"), &github, &[]));
        assert!(!OrgFilter::Any.wants(&org("acme"), &github, &[slug("slack")]));
        let defaults_only = OrgFilter::Only(vec![]);
        assert!(defaults_only.wants(&Scope::Defaults, &github, &[]));
        assert!(!defaults_only.wants(&org("acme"), &github, &[]));
    }
}
