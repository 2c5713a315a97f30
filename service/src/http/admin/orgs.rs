//! `/orgs`: the orgs, listed and created by global admins only.

use axum::{Json, extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, Body, Caller};
use crate::{
    auth,
    domain::Slug,
    http::{
        ApiError, HttpState,
        answers::{Conflict, NotJson, Refusals, TooLarge},
    },
    store::OrgRow,
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewOrg {
    slug: String,
    #[serde(default)]
    name: String,
}

/// An org as the admin API shows it.
#[derive(Serialize, ToSchema)]
pub(crate) struct Org {
    slug: String,
    name: String,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
    /// The token subject that created it; empty for orgs older than this record.
    created_by: String,
}

impl From<OrgRow> for Org {
    fn from(row: OrgRow) -> Self {
        Self {
            slug: row.slug,
            name: row.name,
            created_at: row.created_at,
            created_by: row.created_by,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct OrgList {
    orgs: Vec<Org>,
}

#[utoipa::path(get, path = "/admin/v1/orgs", responses((status = 200, description = "every org", body = OrgList), Refusals))]
pub(crate) async fn list_orgs(
    State(state): State<HttpState>,
    caller: Caller,
) -> ApiResult<OrgList> {
    auth::check_global_admin(&caller.0)?;
    let orgs = state.catalog.orgs().await?;
    let orgs = orgs.into_iter().map(Org::from).collect();
    Ok(Json(OrgList { orgs }))
}

#[utoipa::path(post, path = "/admin/v1/orgs", request_body = NewOrg, responses((status = 201, description = "created", body = Org), Refusals, TooLarge, NotJson, Conflict))]
pub(crate) async fn create_org(
    State(state): State<HttpState>,
    caller: Caller,
    Body(org): Body<NewOrg>,
) -> Result<(StatusCode, Json<Org>), ApiError> {
    auth::check_global_admin(&caller.0)?;
    let slug = Slug::parse("slug", &org.slug)?;
    let created = state
        .editor
        .create_org(slug, org.name, caller.actor())
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}
