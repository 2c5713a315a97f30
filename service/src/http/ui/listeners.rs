//! Who is listening: every replica's open Watch streams and MCP sessions the viewer may see,
//! what each follows
//! and the revision it is up to, against the newest revision when its replica reported it
//! ("did everyone get it?").

use axum::{extract::State, response::Response};
use minijinja::context;

use super::{
    page::{self, UiError},
    place::Viewer,
};
use crate::{http::HttpState, listeners::Door};

pub(super) async fn page(
    State(state): State<HttpState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    let mut listeners: Vec<_> = state
        .listeners
        .all(&state.store)
        .await?
        .into_iter()
        .filter(|l| l.visible_to(principal))
        .collect();
    listeners
        .sort_by(|a, b| (&a.servers, &a.orgs, &a.subject).cmp(&(&b.servers, &b.orgs, &b.subject)));
    let rows: Vec<_> = listeners
        .iter()
        .map(|l| {
            context! {
                replica => l.replica.clone(),
                door => match l.door {
                    Door::Watch => "Watch stream",
                    Door::Mcp => "MCP session",
                },
                subject => l.subject.clone(),
                orgs => match &l.orgs {
                    None => "every org".to_owned(),
                    Some(orgs) if orgs.is_empty() => "the defaults only".to_owned(),
                    Some(orgs) => orgs.join(", "),
                },
                servers => if l.servers.is_empty() { "all".to_owned() } else { l.servers.join(", ") },
                label => if l.label.is_empty() { "every label".to_owned() } else { l.label.clone() },
                since_ms => l.since_ms,
                revision => l.revision,
                as_of => l.as_of,
                behind => l.as_of.saturating_sub(l.revision),
            }
        })
        .collect();
    let latest = state.store.latest_revision().await?;
    page::render("listeners.html", principal, context! { rows, latest })
}
