//! An entry of the defaults or an org: list, get, put, delete, activate, deactivate.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, Body, Caller, EntryPath, written::written};
use crate::{auth, content::Content, http::HttpState};

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources")), responses((status = 200, description = "the scope's entries, inactive and deleted included"), (status = 400), (status = 403)))]
pub(crate) async fn list_entries(State(state): State<HttpState>, path: EntryPath) -> ApiResult {
    auth::check_read(&path.principal, &path.scope)?;
    let entries = state
        .catalog
        .entries(&path.scope, &path.server, path.kind)
        .await?;
    Ok(Json(json!({ "entries": entries })))
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded")), responses((status = 200, description = "the entry"), (status = 404)))]
pub(crate) async fn get_entry(State(state): State<HttpState>, path: EntryPath) -> ApiResult {
    let entry = state.catalog.entry(&path.readable()?).await?;
    Ok(Json(json!(entry)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutEntry {
    content: Value,
    expected_version: Option<u64>,
    #[serde(default)]
    message: String,
}

#[utoipa::path(put, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded")), request_body = PutEntry, responses((status = 200, description = "the entry after the write, and the change"), (status = 400, description = "invalid input, the field named"), (status = 401), (status = 403), (status = 404), (status = 409, description = "version conflict, with current_version")))]
pub(crate) async fn put_entry(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    Body(put): Body<PutEntry>,
) -> ApiResult {
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
        .await?;
    written(&state, &caller, &id, change).await
}

#[derive(Deserialize, Default, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expected {
    expected_version: Option<u64>,
}

#[utoipa::path(delete, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded"), Expected), responses((status = 200, description = "the entry after the write, and the change"), (status = 400, description = "invalid input, the field named"), (status = 401), (status = 403), (status = 404), (status = 409, description = "version conflict, with current_version")))]
pub(crate) async fn delete_entry(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    query: ExpectedQuery,
) -> ApiResult {
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
) -> ApiResult {
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

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/activate", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded"), Expected), responses((status = 200, description = "the entry after the write, and the change"), (status = 400, description = "invalid input, the field named"), (status = 401), (status = 403), (status = 404), (status = 409, description = "version conflict, with current_version")))]
pub(crate) async fn activate(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    query: ExpectedQuery,
) -> ApiResult {
    set_active(state, caller, path, query, true).await
}

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/deactivate", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded"), Expected), responses((status = 200, description = "the entry after the write, and the change"), (status = 400, description = "invalid input, the field named"), (status = 401), (status = 403), (status = 404), (status = 409, description = "version conflict, with current_version")))]
pub(crate) async fn deactivate(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    query: ExpectedQuery,
) -> ApiResult {
    set_active(state, caller, path, query, false).await
}
