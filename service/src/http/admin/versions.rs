//! An entry's history: its versions, one version, the diff of two, and rollback to one.

use std::collections::HashMap;

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, Body, Caller, EntryPath, written::written};
use crate::{domain::InvalidInput, http::HttpState};

fn version_json(v: &crate::store::VersionRow) -> Value {
    json!({
        "version": v.version,
        "content": serde_json::from_str::<Value>(&v.body).unwrap_or(Value::Null),
        "actor": v.actor,
        "message": v.message,
        "revision": v.revision,
        "created_at": v.created_at,
    })
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/versions", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded")), responses((status = 200, description = "every version"), (status = 404)))]
pub(crate) async fn history(State(state): State<HttpState>, path: EntryPath) -> ApiResult {
    let versions = state.catalog.history(&path.readable()?).await?;
    Ok(Json(
        json!({"versions": versions.iter().map(version_json).collect::<Vec<_>>()}),
    ))
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/versions/{version}", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded"), ("version" = u64, Path)), responses((status = 200, description = "one version"), (status = 404)))]
pub(crate) async fn version(
    State(state): State<HttpState>,
    Path(params): Path<HashMap<String, String>>,
    path: EntryPath,
) -> ApiResult {
    let number = parse_version(params.get("version").map_or("", String::as_str), "version")?;
    let version = state.catalog.version(&path.readable()?, number).await?;
    Ok(Json(version_json(&version)))
}

fn parse_version(raw: &str, field: &str) -> Result<u64, InvalidInput> {
    raw.parse()
        .map_err(|_| InvalidInput::new(field, format!("{raw:?} is not a version number")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffQuery {
    from: u64,
    to: u64,
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/diff", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded"), DiffQuery), responses((status = 200, description = "a unified diff of two versions"), (status = 404)))]
pub(crate) async fn diff(
    State(state): State<HttpState>,
    path: EntryPath,
    query: Result<Query<DiffQuery>, QueryRejection>,
) -> ApiResult {
    let Query(DiffQuery { from, to }) = query?;
    let diff = state.catalog.diff(&path.readable()?, from, to).await?;
    Ok(Json(json!({"from": from, "to": to, "diff": diff})))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rollback {
    version: u64,
    expected_version: Option<u64>,
}

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/rollback", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded")), request_body = Rollback, responses((status = 200, description = "the entry after the write, and the change"), (status = 400, description = "invalid input, the field named"), (status = 401), (status = 403), (status = 404), (status = 409, description = "version conflict, with current_version")))]
pub(crate) async fn rollback(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    Body(body): Body<Rollback>,
) -> ApiResult {
    let id = path.writable()?;
    let change = state
        .editor
        .rollback(
            id.clone(),
            body.version,
            body.expected_version,
            caller.actor(),
        )
        .await?;
    written(&state, &caller, &id, change).await
}
