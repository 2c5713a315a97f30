//! The store as a bundle: the defaults and every org, active content and hidden defaults.

use std::collections::BTreeMap;

use super::{Bundle, OrgBundle, ServerEntries};
use crate::{
    domain::{Kind, Scope, Slug},
    error::{Error, Result},
    store::Store,
};

/// Exports the defaults and every org as a bundle (active content and hidden defaults), or only
/// one scope (`Some`) and one server of it: what is not asked for is never read.
pub async fn export(store: &Store, scope: Option<&Scope>, server: Option<&str>) -> Result<Bundle> {
    let wanted = |name: &String| server.is_none_or(|server| server == name);
    let mut bundle = Bundle::default();
    if matches!(scope, None | Some(Scope::Defaults)) {
        for name in store.list_servers(&Scope::Defaults).await? {
            if wanted(&name) {
                let entries = export_server(store, &Scope::Defaults, &name).await?;
                bundle.defaults.insert(name, entries);
            }
        }
    }
    if matches!(scope, Some(Scope::Defaults)) {
        return Ok(bundle);
    }
    if scope.is_none() {
        for head in store.upstreams().await? {
            if wanted(&head.server) {
                let upstream = serde_json::from_str(&head.body)
                    .map_err(|e| Error::corrupt(&head.server, &e))?;
                bundle.upstreams.insert(head.server, upstream);
            }
        }
    }
    for org in store.list_orgs().await? {
        if let Some(Scope::Org(only)) = scope
            && only.as_str() != org.slug
        {
            continue;
        }
        let org_scope = Scope::Org(Slug::parse("org", &org.slug)?);
        let mut servers = BTreeMap::new();
        for name in store.list_servers(&org_scope).await? {
            if wanted(&name) {
                let entries = export_server(store, &org_scope, &name).await?;
                servers.insert(name, entries);
            }
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
                        serde_json::from_str(body).map_err(|e| Error::corrupt(&head.key, &e))?,
                    );
                }
                (Kind::Resources, Some(body)) => {
                    entries.resources.insert(
                        head.key.clone(),
                        serde_json::from_str(body).map_err(|e| Error::corrupt(&head.key, &e))?,
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
