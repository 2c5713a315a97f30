//! The store as a bundle: the defaults and every org, active content and hidden defaults.

use std::collections::BTreeMap;

use super::{Bundle, OrgBundle, ServerEntries};
use crate::{
    catalog::corrupt,
    domain::{Kind, Scope, Slug},
    error::Result,
    store::Store,
};

/// Exports the defaults and every org as a bundle (active content and hidden defaults).
pub async fn export(store: &Store) -> Result<Bundle> {
    let mut bundle = Bundle::default();
    for server in store.list_servers(&Scope::Defaults).await? {
        let entries = export_server(store, &Scope::Defaults, &server).await?;
        bundle.defaults.insert(server, entries);
    }
    for org in store.list_orgs().await? {
        let scope = Scope::Org(Slug::parse("org", &org.slug)?);
        let mut servers = BTreeMap::new();
        for server in store.list_servers(&scope).await? {
            servers.insert(server.clone(), export_server(store, &scope, &server).await?);
        }
        bundle.orgs.insert(
            org.slug,
            OrgBundle {
                name: org.name,
                servers,
            },
        );
    }
    Ok(bundle)
}

impl Bundle {
    /// The part of the bundle about one scope (`None`: every scope) and, optionally, one
    /// server of it.
    pub fn narrowed(mut self, scope: Option<&Scope>, server: Option<&str>) -> Self {
        match scope {
            None => {}
            Some(Scope::Defaults) => self.orgs.clear(),
            Some(Scope::Org(org)) => {
                self.defaults.clear();
                self.orgs.retain(|slug, _| slug == org.as_str());
            }
        }
        if let Some(server) = server {
            self.defaults.retain(|name, _| name == server);
            for org in self.orgs.values_mut() {
                org.servers.retain(|name, _| name == server);
            }
        }
        self
    }
}

async fn export_server(store: &Store, scope: &Scope, server: &str) -> Result<ServerEntries> {
    let server = Slug::parse("server", server)?;
    let mut entries = ServerEntries::default();
    for kind in Kind::ALL {
        for head in store.list_entries(kind, &server, scope).await? {
            if head.deleted {
                continue;
            }
            let body = head.body.as_deref().filter(|_| head.active);
            match (kind, body) {
                (Kind::Prompts, Some(body)) => {
                    entries.prompts.insert(
                        head.key.clone(),
                        serde_json::from_str(body).map_err(|e| corrupt(&head.key, &e))?,
                    );
                }
                (Kind::Resources, Some(body)) => {
                    entries.resources.insert(
                        head.key.clone(),
                        serde_json::from_str(body).map_err(|e| corrupt(&head.key, &e))?,
                    );
                }
                (Kind::Prompts, None) if *scope != Scope::Defaults => {
                    entries.hidden_prompts.push(head.key)
                }
                (Kind::Resources, None) if *scope != Scope::Defaults => {
                    entries.hidden_resources.push(head.key)
                }
                (_, None) => {}
            }
        }
    }
    Ok(entries)
}
