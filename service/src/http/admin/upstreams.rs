//! `/servers/{server}/upstream`: the gateway's registry — where `/mcp/{server}` forwards, set,
//! read, rolled back and removed by global admins only (it routes every org's traffic).

use axum::{
    Json,
    extract::{Path, Query, State, rejection::QueryRejection},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, Body, Caller, entries::Expected};
use crate::{
    auth,
    domain::{Slug, Upstream},
    error::Error,
    gateway::Registered,
    http::{
        ApiError, HttpState,
        answers::{Conflict, NotFound, NotJson, Refusals, TooLarge},
    },
    store::VersionRow,
};

/// The path parameter naming a server.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ServerParam {
    /// MCP server slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$", example = "github")]
    server: String,
}

/// A server's upstream and the version it is.
#[derive(Serialize, ToSchema)]
pub(crate) struct UpstreamView {
    server: String,
    version: u64,
    /// Milliseconds since the Unix epoch.
    updated_at: i64,
    upstream: Upstream,
}

impl From<Registered> for UpstreamView {
    fn from(registered: Registered) -> Self {
        Self {
            server: registered.server.to_string(),
            version: registered.version,
            updated_at: registered.updated_at,
            upstream: registered.upstream,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct UpstreamList {
    upstreams: Vec<UpstreamView>,
}

/// One immutable version of a server's upstream.
#[derive(Serialize, ToSchema)]
pub(crate) struct UpstreamVersion {
    version: u64,
    upstream: Upstream,
    /// The token subject that set it.
    actor: String,
    message: String,
    revision: u64,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl TryFrom<VersionRow> for UpstreamVersion {
    type Error = Error;

    fn try_from(row: VersionRow) -> Result<Self, Error> {
        Ok(Self {
            version: row.version,
            upstream: serde_json::from_str(&row.body)
                .map_err(|e| Error::corrupt(&format!("upstream version {}", row.version), &e))?,
            actor: row.actor,
            message: row.message,
            revision: row.revision,
            created_at: row.created_at,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct UpstreamHistory {
    versions: Vec<UpstreamVersion>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutUpstream {
    upstream: Upstream,
    /// The version the writer last saw (0: none); another current version is a conflict.
    expected_version: Option<u64>,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RollbackUpstream {
    /// The version whose entry becomes the next version.
    version: u64,
    expected_version: Option<u64>,
}

/// The server of the path, once the caller is known to be a global admin.
fn admin_server(caller: &Caller, server: &str) -> Result<Slug, ApiError> {
    auth::check_global_admin(&caller.0)?;
    Ok(Slug::parse("server", server)?)
}

#[utoipa::path(get, path = "/admin/v1/upstreams", responses((status = 200, description = "every server's upstream", body = UpstreamList), Refusals))]
pub(crate) async fn list_upstreams(
    State(state): State<HttpState>,
    caller: Caller,
) -> ApiResult<UpstreamList> {
    auth::check_global_admin(&caller.0)?;
    let upstreams = state.gateway.registry.all().await?;
    Ok(Json(UpstreamList {
        upstreams: upstreams.into_iter().map(UpstreamView::from).collect(),
    }))
}

#[utoipa::path(get, path = "/admin/v1/servers/{server}/upstream", params(ServerParam), responses((status = 200, description = "the server's upstream", body = UpstreamView), Refusals, NotFound))]
pub(crate) async fn get_upstream(
    State(state): State<HttpState>,
    caller: Caller,
    Path(ServerParam { server }): Path<ServerParam>,
) -> ApiResult<UpstreamView> {
    let server = admin_server(&caller, &server)?;
    Ok(Json(state.gateway.registry.get(&server).await?.into()))
}

#[utoipa::path(put, path = "/admin/v1/servers/{server}/upstream", params(ServerParam), request_body = PutUpstream, responses((status = 200, description = "the upstream after the write", body = UpstreamView), Refusals, Conflict, TooLarge, NotJson))]
pub(crate) async fn put_upstream(
    State(state): State<HttpState>,
    caller: Caller,
    Path(ServerParam { server }): Path<ServerParam>,
    Body(put): Body<PutUpstream>,
) -> ApiResult<UpstreamView> {
    let server = admin_server(&caller, &server)?;
    let written = state
        .gateway
        .registry
        .set(
            &server,
            &put.upstream,
            put.expected_version,
            caller.actor(),
            &put.message,
        )
        .await
        .map_err(|e| e.within("upstream"))?;
    Ok(Json(written.into()))
}

#[utoipa::path(delete, path = "/admin/v1/servers/{server}/upstream", params(ServerParam, Expected), responses((status = 200, description = "removed (the version removed); its history stays", body = UpstreamView), Refusals, NotFound, Conflict))]
pub(crate) async fn delete_upstream(
    State(state): State<HttpState>,
    caller: Caller,
    Path(ServerParam { server }): Path<ServerParam>,
    query: Result<Query<Expected>, QueryRejection>,
) -> ApiResult<UpstreamView> {
    let Query(expected) = query?;
    let server = admin_server(&caller, &server)?;
    let removed = state
        .gateway
        .registry
        .delete(&server, expected.expected_version, caller.actor())
        .await?;
    Ok(Json(removed.into()))
}

#[utoipa::path(get, path = "/admin/v1/servers/{server}/upstream/versions", params(ServerParam), responses((status = 200, description = "every version, oldest first: who set what, when, why", body = UpstreamHistory), Refusals, NotFound))]
pub(crate) async fn upstream_history(
    State(state): State<HttpState>,
    caller: Caller,
    Path(ServerParam { server }): Path<ServerParam>,
) -> ApiResult<UpstreamHistory> {
    let server = admin_server(&caller, &server)?;
    let versions = state
        .gateway
        .registry
        .history(&server)
        .await?
        .into_iter()
        .map(UpstreamVersion::try_from)
        .collect::<Result<_, Error>>()?;
    Ok(Json(UpstreamHistory { versions }))
}

#[utoipa::path(post, path = "/admin/v1/servers/{server}/upstream/rollback", params(ServerParam), request_body = RollbackUpstream, responses((status = 200, description = "the upstream after the rollback", body = UpstreamView), Refusals, NotFound, Conflict, NotJson))]
pub(crate) async fn rollback_upstream(
    State(state): State<HttpState>,
    caller: Caller,
    Path(ServerParam { server }): Path<ServerParam>,
    Body(rollback): Body<RollbackUpstream>,
) -> ApiResult<UpstreamView> {
    let server = admin_server(&caller, &server)?;
    let written = state
        .gateway
        .registry
        .rollback(
            &server,
            rollback.version,
            rollback.expected_version,
            caller.actor(),
        )
        .await?;
    Ok(Json(written.into()))
}
