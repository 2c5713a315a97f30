//! `/bundle`: every scope's entries as one document, imported (all or nothing) and exported.

use axum::{
    Json,
    extract::{FromRequest, Query, State, rejection::QueryRejection},
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiResult, Caller};
use crate::{
    auth::{self, Principal},
    bundle::{
        self, Bundle, Format,
        import::{ImportReport, Missing},
    },
    domain::{InvalidInput, Scope, Slug},
    edits::NewOrgs,
    error::Error,
    http::{
        ApiError, HttpState,
        answers::{Conflict, NotFound, Refusals, TooLarge},
    },
};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportQuery {
    #[serde(default)]
    dry_run: bool,
    /// Delete entries of the listed servers that the bundle does not list.
    #[serde(default)]
    prune: bool,
}

/// The scopes a bundle writes to.
fn bundle_scopes(bundle: &Bundle) -> Result<Vec<Scope>, InvalidInput> {
    let mut scopes = Vec::new();
    if !bundle.defaults.is_empty() {
        scopes.push(Scope::Defaults);
    }
    for org in bundle.orgs.keys() {
        scopes.push(Scope::Org(Slug::parse(&format!("orgs.{org}"), org)?));
    }
    Ok(scopes)
}

/// Whether `principal` may import `bundle` (it writes every scope the bundle names), and
/// whether the import may create the orgs it names that do not exist yet.
pub(crate) fn import_rights(principal: &Principal, bundle: &Bundle) -> Result<NewOrgs, Error> {
    auth::check_may_write(principal)?;
    for scope in bundle_scopes(bundle)? {
        auth::check_write(principal, &scope)?;
    }
    if !bundle.upstreams.is_empty() {
        // The registry says where the gateway sends every org's traffic: admins' alone.
        auth::check_global_admin(principal)?;
    }
    Ok(match auth::check_global_admin(principal) {
        Ok(()) => NewOrgs::Allowed,
        Err(_) => NewOrgs::Refused,
    })
}

fn format_of(headers: &HeaderMap) -> Format {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.contains("json") {
        Format::Json
    } else {
        Format::Yaml
    }
}

/// Imports a bundle (YAML, or JSON with a JSON content type): all or nothing, or with
/// `dry_run=true` only the diff.
#[utoipa::path(post, path = "/admin/v1/bundle", params(ImportQuery), request_body(content = String, content_type = "application/yaml", description = "a bundle (YAML, or JSON with a JSON content type)"), responses((status = 200, description = "the diff (and revisions committed)", body = ImportReport), Refusals, NotFound, Conflict, TooLarge))]
pub(crate) async fn import_bundle(
    State(state): State<HttpState>,
    caller: Caller,
    query: Result<Query<ImportQuery>, QueryRejection>,
    request: axum::extract::Request,
) -> ApiResult<ImportReport> {
    // Nothing of the body is read before the caller is known to be able to write somewhere.
    auth::check_may_write(&caller.0)?;
    let Query(q) = query?;
    let format = format_of(request.headers());
    let body = String::from_request(request, &()).await?;
    // The API's error names one field: the first problem of the bundle.
    let (bundle, plan) = Bundle::read(body, format)
        .await
        .map_err(|mut problems| crate::error::Error::from(problems.swap_remove(0)))?;
    let new_orgs = import_rights(&caller.0, &bundle)?;
    let missing = if q.prune {
        Missing::Delete
    } else {
        Missing::Keep
    };
    let report = state
        .editor
        .import(&plan, missing, q.dry_run, new_orgs, caller.actor())
        .await?;
    Ok(Json(report))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExportQuery {
    /// `yaml` (the default) or `json`.
    #[param(pattern = "^(yaml|json)$")]
    format: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/bundle", params(ExportQuery), responses((status = 200, description = "every scope's entries as one bundle", content((Bundle = "application/yaml"), (Bundle = "application/json"))), Refusals))]
pub(crate) async fn export_bundle(
    State(state): State<HttpState>,
    caller: Caller,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    auth::check_global_admin(&caller.0)?;
    let Query(q) = query?;
    let (format, content_type) = match q.format.as_deref() {
        None | Some("yaml") => (Format::Yaml, "application/yaml"),
        Some("json") => (Format::Json, "application/json"),
        Some(other) => {
            return Err(
                InvalidInput::new("format", format!("{other:?} is not yaml or json")).into(),
            );
        }
    };
    let bundle = bundle::export::export(&state.store, None, None).await?;
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        bundle.to_text(format),
    )
        .into_response())
}
