//! An entry of the defaults or an org: list, get, put, delete, activate, deactivate.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiResult, Body, Caller, EntryPath, KeyParam, ListParams, ListPath,
    written::{Written, written},
};
use crate::{
    auth,
    content::Content,
    domain::Label,
    entry::EntryView,
    http::{
        HttpState,
        answers::{Conflict, NotFound, NotJson, Refusals, TooLarge},
    },
};

/// The entries of a server's list in one scope.
#[derive(Serialize, ToSchema)]
pub(crate) struct EntryList {
    entries: Vec<EntryView>,
}

/// The label a list is read at.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AtLabel {
    /// A release label: the entries as it points at them (their versions and content). Left
    /// out: the entries' heads (`latest`), with every save.
    #[param(example = "production")]
    label: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}", params(ListParams, AtLabel), responses((status = 200, description = "the scope's entries, inactive and deleted included", body = EntryList), Refusals, NotFound))]
pub(crate) async fn list_entries(
    State(state): State<HttpState>,
    path: ListPath,
    query: Result<Query<AtLabel>, QueryRejection>,
) -> ApiResult<EntryList> {
    auth::check_read(&path.principal, &path.scope)?;
    let Query(at) = query?;
    let entries = match at.label {
        None => {
            state
                .catalog
                .entries(&path.scope, &path.server, path.kind)
                .await?
        }
        Some(label) => {
            let label = Label::parse("label", &label)?;
            state
                .catalog
                .entries_at(&path.scope, &path.server, path.kind, &label)
                .await?
        }
    };
    Ok(Json(EntryList { entries }))
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}", params(ListParams, KeyParam), responses((status = 200, description = "the entry", body = EntryView), Refusals, NotFound))]
pub(crate) async fn get_entry(
    State(state): State<HttpState>,
    path: EntryPath,
) -> ApiResult<EntryView> {
    let entry = state.catalog.entry(&path.readable()?).await?;
    Ok(Json(entry))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutEntry {
    /// Read as JSON first so that a content error names its field under `content`.
    #[schema(value_type = Content)]
    content: Value,
    expected_version: Option<u64>,
    #[serde(default)]
    message: String,
}

#[utoipa::path(put, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}", params(ListParams, KeyParam), request_body = PutEntry, responses((status = 200, description = "the entry after the write, and the change", body = Written), Refusals, NotFound, Conflict, TooLarge, NotJson))]
pub(crate) async fn put_entry(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    Body(put): Body<PutEntry>,
) -> ApiResult<Written> {
    let id = path.writable()?;
    let content = Content::from_json(id.kind, put.content).map_err(|e| e.within("content"))?;
    let change = state
        .editor
        .put(
            id.clone(),
            &content,
            put.expected_version,
            caller.actor(),
            &put.message,
        )
        .await
        .map_err(|e| e.within("content"))?;
    written(&state, &caller, &id, change).await
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expected {
    /// The version the writer last saw (0: none); another current version is a conflict.
    pub(crate) expected_version: Option<u64>,
}

#[utoipa::path(delete, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}", params(ListParams, KeyParam, Expected), responses((status = 200, description = "the entry after the write, and the change", body = Written), Refusals, NotFound, Conflict))]
pub(crate) async fn delete_entry(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    query: ExpectedQuery,
) -> ApiResult<Written> {
    let Query(expected) = query?;
    let id = path.writable()?;
    let change = state
        .editor
        .delete(id.clone(), expected.expected_version, caller.actor())
        .await?;
    written(&state, &caller, &id, change).await
}

type ExpectedQuery = Result<Query<Expected>, QueryRejection>;

async fn set_active(
    state: HttpState,
    caller: Caller,
    path: EntryPath,
    query: ExpectedQuery,
    active: bool,
) -> ApiResult<Written> {
    let Query(expected) = query?;
    let id = path.writable()?;
    let change = state
        .editor
        .set_active(
            id.clone(),
            active,
            expected.expected_version,
            caller.actor(),
        )
        .await?;
    written(&state, &caller, &id, change).await
}

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/activate", params(ListParams, KeyParam, Expected), responses((status = 200, description = "the entry after the write, and the change", body = Written), Refusals, NotFound, Conflict))]
pub(crate) async fn activate(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    query: ExpectedQuery,
) -> ApiResult<Written> {
    set_active(state, caller, path, query, true).await
}

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/deactivate", params(ListParams, KeyParam, Expected), responses((status = 200, description = "the entry after the write, and the change", body = Written), Refusals, NotFound, Conflict))]
pub(crate) async fn deactivate(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    query: ExpectedQuery,
) -> ApiResult<Written> {
    set_active(state, caller, path, query, false).await
}
