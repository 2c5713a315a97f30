//! What an org changes of a server's defaults: each entry it overrides, adds, hides or switches
//! off, with the diff against the default (a reviewer's first question about a tenant).

use axum::{extract::State, response::Response};
use minijinja::{context, value::Serde};

use super::{
    diff::diff,
    draft::yaml,
    page::{self, UiError},
    place::ServerPath,
};
use crate::{
    domain::Scope,
    error::Error,
    http::HttpState,
    overlay::{Overlaid, Standing},
};

pub(super) async fn page(
    State(state): State<HttpState>,
    place: ServerPath,
) -> Result<Response, UiError> {
    let Scope::Org(org) = &place.scope else {
        return Err(Error::NotFound("the defaults change nothing of themselves".into()).into());
    };
    let overlaid = state
        .catalog
        .overlaid_kinds(&place.scope, &place.server)
        .await?;
    let content = |view: Option<&crate::entry::EntryView>| {
        yaml(
            view.and_then(|v| v.content.as_ref())
                .unwrap_or(&serde_json::Value::Null),
        )
    };
    let base = page::server_path(&place.scope, place.server.as_str());
    let kinds: Vec<_> = overlaid
        .into_iter()
        .map(|(kind, all)| {
            let changed: Vec<_> = all
                .iter()
                .filter(|e: &&Overlaid| {
                    matches!(
                        e.standing,
                        Standing::Override | Standing::Added | Standing::Hidden | Standing::Inactive
                    )
                })
                .map(|e| {
                    // A hidden or switched-off entry: the default against nothing served.
                    let own = match e.standing {
                        Standing::Hidden | Standing::Inactive => String::new(),
                        _ => content(e.own.as_ref()),
                    };
                    context! {
                        key => e.key.clone(),
                        standing => e.standing.as_str(),
                        path => page::entry_path(&place.scope, place.server.as_str(), kind.segment(), &e.key),
                        diff => Serde(diff(&content(e.default.as_ref()), &own)),
                    }
                })
                .collect();
            context! { kind => kind.segment(), changed }
        })
        .collect();
    page::render(
        "overrides.html",
        &place.principal,
        context! {
            org => org.as_str(), server => place.server.as_str(), base, kinds,
        },
    )
}
