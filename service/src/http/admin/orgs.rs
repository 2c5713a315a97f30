//! `/orgs`: the orgs, listed and created by global admins only.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{ApiResult, Body, Caller};
use crate::{auth, domain::Slug, http::HttpState};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewOrg {
    slug: String,
    #[serde(default)]
    name: String,
}

#[utoipa::path(get, path = "/admin/v1/orgs", responses((status = 200, description = "every org"), (status = 401), (status = 403)))]
pub(crate) async fn list_orgs(State(state): State<HttpState>, caller: Caller) -> ApiResult {
    auth::check_global_admin(&caller.0)?;
    let orgs = state.catalog.orgs().await?;
    let orgs: Vec<Value> = orgs
        .iter()
        .map(|o| json!({"slug": o.slug, "name": o.name, "created_at": o.created_at, "created_by": o.created_by}))
        .collect();
    Ok(Json(json!({ "orgs": orgs })))
}

#[utoipa::path(post, path = "/admin/v1/orgs", request_body = NewOrg, responses((status = 201, description = "created"), (status = 400), (status = 409, description = "already exists")))]
pub(crate) async fn create_org(
    State(state): State<HttpState>,
    caller: Caller,
    Body(org): Body<NewOrg>,
) -> ApiResult<Response> {
    auth::check_global_admin(&caller.0)?;
    let slug = Slug::parse("slug", &org.slug)?;
    let created = state
        .editor
        .create_org(slug, org.name, caller.actor())
        .await?;
    let body = json!({"slug": created.slug, "name": created.name, "created_at": created.created_at, "created_by": created.created_by});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
