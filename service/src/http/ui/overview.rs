//! The overview: the defaults and every org the viewer may read, each server with how many
//! prompts and resources it serves and how many the org overrides, adds or hides; searchable
//! by org, server and key.

use axum::{
    extract::{Query, State},
    response::Response,
};
use minijinja::{context, value::Serde};
use serde::Deserialize;

use super::{
    page::{self, UiError},
    place::Viewer,
};
use crate::{
    auth,
    domain::{Kind, Scope, Slug},
    http::HttpState,
    overlay::Counts,
};

#[derive(Deserialize, Default)]
pub(super) struct Search {
    #[serde(default)]
    q: String,
}

pub(super) async fn page(
    State(state): State<HttpState>,
    viewer: Viewer,
    Query(search): Query<Search>,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    let mut scopes = vec![Scope::Defaults];
    for org in state.catalog.orgs().await? {
        let scope = Scope::Org(Slug::parse("org", &org.slug)?);
        // An org-bound viewer never learns of other orgs, not even their names or counts.
        if auth::check_read(principal, &scope).is_ok() {
            scopes.push(scope);
        }
    }
    let text = search.q.trim().to_lowercase();
    let mut listed = Vec::new();
    for scope in scopes {
        let scope_matches = text.is_empty() || scope.as_str().contains(&text);
        let mut servers = Vec::new();
        for server in state.catalog.servers(&scope).await? {
            let slug = Slug::parse("server", &server)?;
            let mut counts = Vec::new();
            let mut keys = Vec::new();
            for kind in Kind::ALL {
                let entries = state.catalog.overlaid(&scope, &slug, kind).await?;
                counts.push(Counts::of(&entries));
                if !text.is_empty() {
                    keys.extend(
                        entries
                            .iter()
                            .filter(|e| e.key.to_lowercase().contains(&text))
                            .map(|e| {
                                let path =
                                    page::entry_path(&scope, &server, kind.segment(), &e.key);
                                context! { key => e.key.clone(), path }
                            }),
                    );
                }
            }
            if scope_matches || server.contains(&text) || !keys.is_empty() {
                servers.push(context! {
                    path => page::server_path(&scope, &server),
                    server,
                    prompts => Serde(counts[0]),
                    resources => Serde(counts[1]),
                    keys,
                });
            }
        }
        if scope_matches || !servers.is_empty() {
            listed.push(context! {
                org => scope.as_str(),
                servers,
                may_write => page::may_write(principal, &scope),
            });
        }
    }
    page::render(
        "overview.html",
        principal,
        context! { scopes => listed, q => search.q },
    )
}
