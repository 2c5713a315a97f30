//! The merge rule: what of an upstream's prompts and resources an org's view stands in front
//! of. A name the org's effective view defines is mcp-config's (its entry replaces the
//! upstream's); a name the org (or the defaults) hides — an inactive entry, or a hide marker
//! with no content — is nobody's; any other name passes through from the upstream.

use std::{collections::HashSet, sync::Arc};

use moka::future::Cache;

use crate::{
    domain::{Revision, Scope, ViewKey},
    error::{Error, Result},
    store::Store,
    views::Views,
};

/// (view, revision) pairs whose hidden names a replica keeps.
const CAPACITY: u64 = 10_000;

/// Whether an upstream's name shows through an org's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// mcp-config defines it: its entry is served, the upstream's never.
    Defined,
    /// Hidden for this org: neither listed nor served.
    Hidden,
    /// The upstream's, passed through.
    PassesThrough,
}

/// The names one view defines and hides, at one revision.
pub struct Cover {
    view: Arc<crate::wire::EncodedView>,
    hidden: Arc<HashSet<String>>,
}

impl Cover {
    pub fn standing(&self, name: &str) -> Standing {
        if self.view.message(name).is_some() {
            Standing::Defined
        } else if self.hidden.contains(name) {
            Standing::Hidden
        } else {
            Standing::PassesThrough
        }
    }
}

#[derive(Clone)]
pub struct Shadow {
    views: Views,
    store: Store,
    /// The hidden names of a view at a revision: the revision moves with every hide and
    /// unhide (hidden rows count toward it), so an entry is never stale.
    hidden: Cache<(ViewKey, Revision), Arc<HashSet<String>>>,
    /// The last hidden names read per view: used while the store is down, like the view.
    last_good: Cache<ViewKey, Arc<HashSet<String>>>,
}

impl Shadow {
    pub fn new(views: Views, store: Store) -> Self {
        Self {
            views,
            store,
            hidden: Cache::new(CAPACITY),
            last_good: Cache::new(CAPACITY),
        }
    }

    /// What `key`'s view defines and hides now.
    pub async fn cover(&self, key: &ViewKey) -> Result<Cover> {
        let view = self.views.view(key).await?;
        let read = self
            .hidden
            .try_get_with((key.clone(), view.revision()), async {
                let hidden = Arc::new(self.read_hidden(key).await?);
                self.last_good.insert(key.clone(), hidden.clone()).await;
                Ok::<_, Error>(hidden)
            })
            .await;
        let hidden = match read {
            Ok(hidden) => hidden,
            Err(e) => match self.last_good.get(key).await {
                Some(hidden) if matches!(*e, Error::Store(_)) => hidden,
                _ => return Err(Arc::unwrap_or_clone(e)),
            },
        };
        Ok(Cover { view, hidden })
    }

    async fn read_hidden(&self, key: &ViewKey) -> Result<HashSet<String>> {
        let mut scopes = vec![Scope::Defaults];
        if key.scope != Scope::Defaults {
            scopes.push(key.scope.clone());
        }
        let mut hidden = HashSet::new();
        for scope in scopes {
            let heads = self
                .store
                .list_entries(key.kind, &key.server, &scope)
                .await?;
            hidden.extend(
                heads
                    .into_iter()
                    .filter(|h| !h.active && !h.deleted)
                    .map(|h| h.key),
            );
        }
        Ok(hidden)
    }
}
