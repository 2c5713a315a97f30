//! Orgs: the list the viewer may see, and creating one (global admins only).

use axum::{
    extract::State,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::context;

use super::{
    fields::Fields,
    page::{self, UiError},
    place::{GlobalAdmin, Viewer},
};
use crate::{
    auth,
    domain::{Scope, Slug},
    http::HttpState,
};

pub(super) async fn page(
    State(state): State<HttpState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    let mut orgs = Vec::new();
    for org in state.catalog.orgs().await? {
        let scope = Scope::Org(Slug::parse("org", &org.slug)?);
        if auth::check_read(principal, &scope).is_ok() {
            orgs.push(context! {
                slug => org.slug, name => org.name,
                created_at => org.created_at, created_by => org.created_by,
            });
        }
    }
    page::render("orgs.html", principal, context! { orgs })
}

pub(super) async fn create(
    _may: GlobalAdmin,
    State(state): State<HttpState>,
    viewer: Viewer,
    fields: Fields,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    auth::check_global_admin(principal)?;
    let slug = Slug::parse("slug", fields.get("slug").trim())?;
    state
        .editor
        .create_org(
            slug,
            fields.get("name").trim().to_owned(),
            &principal.subject,
        )
        .await?;
    Ok(Redirect::to("/ui/orgs").into_response())
}
