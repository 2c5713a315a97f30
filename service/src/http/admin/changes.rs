//! `/changes`: the change log (the audit record of every write), paged by revision.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use super::{ApiResult, Caller};
use crate::{
    auth,
    domain::{InvalidInput, Scope, Slug},
    http::HttpState,
    store::Change,
};

/// Most changes one page of the change log returns.
const MAX_CHANGES_PAGE: u32 = 1000;

pub(super) fn change_json(change: &Change) -> Value {
    json!({
        "revision": change.revision,
        "org": change.org,
        "server": change.server,
        "kind": change.kind,
        "keys": change.keys,
        "action": change.action,
        "actor": change.actor,
        "created_at": change.created_at,
        "published": change.published,
    })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangesQuery {
    #[serde(default)]
    after: u64,
    limit: Option<u32>,
    org: Option<String>,
    server: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/changes", params(ChangesQuery), responses((status = 200, description = "a page of the change log"), (status = 400), (status = 403)))]
pub(crate) async fn changes(
    State(state): State<HttpState>,
    caller: Caller,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = query?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_CHANGES_PAGE {
        return Err(InvalidInput::new("limit", format!("between 1 and {MAX_CHANGES_PAGE}")).into());
    }
    if let Some(org) = &q.org {
        Slug::parse("org", org)?;
    }
    if let Some(server) = &q.server {
        Slug::parse("server", server)?;
    }
    match &q.org {
        Some(org) => auth::check_read(&caller.0, &Scope::Org(Slug::parse("org", org)?))?,
        None => auth::check_global_admin(&caller.0)?,
    }
    let changes = state
        .catalog
        .changes(q.after, limit, q.org.as_deref(), q.server.as_deref())
        .await?;
    let next_after = changes.last().map(|c| c.revision);
    Ok(Json(
        json!({"changes": changes.iter().map(change_json).collect::<Vec<_>>(), "next_after": next_after}),
    ))
}
