//! An entry's page — its content as a person reads it, its version, who saved it and when —
//! and the actions that only switch or remove it.

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use minijinja::{context, value::Serde};
use serde::Deserialize;

use super::{
    fields::Fields,
    page::{self, UiError},
    place::{Entry, Ui, Viewer, Writer},
};
use crate::{domain::InvalidInput, http::HttpState, overlay::Standing};

pub(super) async fn page(
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
) -> Result<Response, UiError> {
    let id = path.readable()?;
    let entry = state.catalog.overlaid_entry(&id).await?;
    // Who saved what is shown: the scope's own version, or the inherited default's.
    let shown = match (&entry.own, &entry.default) {
        (Some(own), _) if own.version > 0 => Some((id.clone(), own.version)),
        (_, Some(default)) => Some((
            crate::domain::EntryId {
                scope: crate::domain::Scope::Defaults,
                ..id.clone()
            },
            default.version,
        )),
        _ => None,
    };
    let saved = match shown {
        Some((of, version)) => Some(state.catalog.version(&of, version).await?),
        None => None,
    };
    let principal = viewer.principal();
    page::render(
        "entry.html",
        principal,
        context! {
            scope => id.scope.as_str(),
            server => id.server.as_str(),
            kind => id.kind.segment(),
            key => id.key.as_str(),
            base => page::server_path(&id.scope, id.server.as_str()),
            path => page::path_of(&id),
            standing => entry.standing.as_str(),
            served => entry.standing.served(),
            own_version => entry.own.as_ref().map(|e| e.version),
            content => Serde(entry.content()),
            saved => saved.map(|v| context! { version => v.version, actor => v.actor, message => v.message, created_at => v.created_at }),
            may_write => page::may_write(principal, &id.scope),
            has_default => entry.default.is_some(),
            overridable => entry.standing == Standing::Inherited,
        },
    )
}

pub(super) async fn confirm_delete(
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
) -> Result<Response, UiError> {
    let id = path.writable()?;
    let entry = state.catalog.entry(&id).await?;
    page::render(
        "delete.html",
        viewer.principal(),
        context! {
            key => id.key.as_str(),
            scope => id.scope.as_str(),
            path => page::path_of(&id),
            version => entry.version,
            reverts_to_default => state.catalog.overlaid_entry(&id).await?.default.is_some(),
        },
    )
}

pub(super) async fn delete(
    _may: Writer,
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    fields: Fields,
) -> Result<Response, UiError> {
    let id = path.writable()?;
    let expected = fields.number("expected_version")?;
    state
        .editor
        .delete(id.clone(), expected, &viewer.principal().subject)
        .await?;
    Ok(Redirect::to(&page::server_path(&id.scope, id.server.as_str())).into_response())
}

#[derive(Deserialize)]
pub(super) struct SwitchParams {
    action: String,
}

/// Activates or deactivates an entry; for an org, deactivating a default it inherits hides it
/// and activating the marker shows it again.
pub(super) async fn switch(
    _may: Writer,
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    Path(SwitchParams { action }): Path<SwitchParams>,
    fields: Fields,
) -> Result<Response, UiError> {
    let active = match action.as_str() {
        "activate" => true,
        "deactivate" => false,
        other => {
            return Err(InvalidInput::new(
                "action",
                format!("{other:?} is not activate or deactivate"),
            )
            .into());
        }
    };
    let id = path.writable()?;
    let expected = fields.number("expected_version")?;
    state
        .editor
        .set_active(id.clone(), active, expected, &viewer.principal().subject)
        .await?;
    let back = page::path_of(&id);
    Ok(Redirect::to(&back).into_response())
}
