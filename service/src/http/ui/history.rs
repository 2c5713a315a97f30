//! An entry's history: every version with who saved it, when and why; the diff of any two;
//! an override against its default; and rollback, behind a confirmation showing what it does.

use axum::{
    extract::{Query, State},
    response::{IntoResponse, Redirect, Response},
};
use minijinja::{context, value::Serde};
use serde::Deserialize;
use serde_json::Value;

use super::{
    diff::diff,
    draft::yaml,
    fields::Fields,
    page::{self, UiError},
    place::{Entry, Ui, Viewer, Writer},
};
use crate::{http::HttpState, store::VersionRow};

#[derive(Deserialize, Default)]
pub(super) struct Pick {
    from: Option<u64>,
    to: Option<u64>,
    /// The change log links a change by its revision: the version it made, against the one
    /// before.
    revision: Option<u64>,
    #[serde(default)]
    layout: String,
}

fn text_of(version: &VersionRow) -> String {
    yaml(&serde_json::from_str(&version.body).unwrap_or(Value::Null))
}

pub(super) async fn page(
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    Query(pick): Query<Pick>,
) -> Result<Response, UiError> {
    let id = path.readable()?;
    let versions = state.catalog.history(&id).await?;
    // An entry never saved in this scope has no labels (and no versions) to show.
    let labels = match state.releases.labels_of(&id).await {
        Err(crate::error::Error::NotFound(_)) => Vec::new(),
        labels => labels?,
    };
    let labels_at = |version: u64| {
        labels
            .iter()
            .filter(|l| l.state.version == version && l.state.active && !l.state.deleted)
            .map(|l| l.label.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let latest = versions.last().map_or(0, |v| v.version);
    let by_revision = pick
        .revision
        .and_then(|r| versions.iter().find(|v| v.revision == r))
        .map(|v| v.version);
    let to = by_revision.or(pick.to).unwrap_or(latest);
    let from = match by_revision {
        Some(v) => v.saturating_sub(1),
        None => pick.from.unwrap_or(to.saturating_sub(1)),
    };
    let text = |number: u64| {
        versions
            .iter()
            .find(|v| v.version == number)
            .map(text_of)
            .unwrap_or_default()
    };
    let principal = viewer.principal();
    page::render(
        "history.html",
        principal,
        context! {
            key => id.key.as_str(),
            scope => id.scope.as_str(),
            server => id.server.as_str(),
            base => page::server_path(&id.scope, id.server.as_str()),
            path => page::path_of(&id),
            renders => id.kind == crate::domain::Kind::Prompts,
            versions => versions.iter().rev().map(|v| context! {
                version => v.version, actor => v.actor.clone(), message => v.message.clone(),
                created_at => v.created_at, revision => v.revision, labels => labels_at(v.version),
            }).collect::<Vec<_>>(),
            from, to, latest,
            split => pick.layout == "split",
            diff => Serde(diff(&text(from), &text(to))),
            may_write => page::may_write(principal, &id.scope),
        },
    )
}

/// An org's override against the default it replaces.
pub(super) async fn compare(
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
) -> Result<Response, UiError> {
    let id = path.readable()?;
    let entry = state.catalog.overlaid_entry(&id).await?;
    let content = |e: Option<&crate::entry::EntryView>| {
        yaml(e.and_then(|e| e.content.as_ref()).unwrap_or(&Value::Null))
    };
    page::render(
        "compare.html",
        viewer.principal(),
        context! {
            key => id.key.as_str(),
            scope => id.scope.as_str(),
            path => page::path_of(&id),
            diff => Serde(diff(&content(entry.default.as_ref()), &content(entry.own.as_ref()))),
        },
    )
}

#[derive(Deserialize)]
pub(super) struct Target {
    to: u64,
}

/// What a rollback would do: the diff from the current version to the target, and the
/// version it creates.
pub(super) async fn confirm_rollback(
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    Query(Target { to }): Query<Target>,
) -> Result<Response, UiError> {
    let id = path.writable()?;
    let head = state.catalog.entry(&id).await?;
    let current = state.catalog.version(&id, head.version).await?;
    let target = state.catalog.version(&id, to).await?;
    page::render(
        "rollback.html",
        viewer.principal(),
        context! {
            key => id.key.as_str(),
            scope => id.scope.as_str(),
            path => page::path_of(&id),
            to,
            current => head.version,
            creates => head.version + 1,
            diff => Serde(diff(&text_of(&current), &text_of(&target))),
        },
    )
}

pub(super) async fn rollback(
    _may: Writer,
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    fields: Fields,
) -> Result<Response, UiError> {
    let id = path.writable()?;
    let to = fields.number("to")?.unwrap_or(0);
    let expected = fields.number("expected_version")?;
    state
        .editor
        .rollback(
            id.clone(),
            to,
            expected,
            &viewer.principal().subject,
            fields.get("message"),
        )
        .await?;
    Ok(Redirect::to(&format!("{}/history", page::path_of(&id))).into_response())
}
