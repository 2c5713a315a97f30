//! `/admin/v1`: orgs, entries of the defaults or an org (list, get, put, delete, activate,
//! deactivate), versions, diff, rollback, render preview, the change log and bundles.
//!
//! Entry routes exist twice, under `/defaults` and under `/orgs/{org}`, served by the same
//! handlers. A key (prompt name, resource URI) is one path segment, percent-encoded
//! (`file:%2F%2F%2Fguide.md`).

use std::collections::HashMap;

use axum::{
    Json, Router,
    extract::{
        FromRequest, FromRequestParts, Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, HttpState};
use crate::{
    auth::{self, Principal},
    error::Error,
};
use crate::{
    bundle::import::Missing,
    bundle::{self, Bundle, Format},
    content::Content,
    domain::{EntryId, EntryKey, InvalidInput, Kind, Scope, Slug},
    edits::NewOrgs,
    render,
    store::Change,
};

type ApiResult<T = Json<Value>> = Result<T, ApiError>;

/// Most changes one page of the change log returns.
const MAX_CHANGES_PAGE: u32 = 1000;

pub fn routes() -> Router<HttpState> {
    let entries = Router::new()
        .route("/servers/{server}/{kind}", get(list_entries))
        .route(
            "/servers/{server}/{kind}/{key}",
            get(get_entry).put(put_entry).delete(delete_entry),
        )
        .route("/servers/{server}/{kind}/{key}/activate", post(activate))
        .route(
            "/servers/{server}/{kind}/{key}/deactivate",
            post(deactivate),
        )
        .route("/servers/{server}/{kind}/{key}/versions", get(history))
        .route(
            "/servers/{server}/{kind}/{key}/versions/{version}",
            get(version),
        )
        .route("/servers/{server}/{kind}/{key}/diff", get(diff))
        .route("/servers/{server}/{kind}/{key}/rollback", post(rollback))
        .route(
            "/servers/{server}/{kind}/{key}/render",
            post(render_preview),
        );
    Router::new()
        .route("/orgs", get(list_orgs).post(create_org))
        .route("/changes", get(changes))
        .route("/bundle", get(export_bundle).post(import_bundle))
        .nest("/defaults", entries.clone())
        .nest("/orgs/{org}", entries)
}

/// Who is asking (authenticated by the middleware); its subject is recorded as the actor of
/// every change.
pub struct Caller(Principal);

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let principal = parts.extensions.get::<Principal>().cloned();
        principal
            .map(Caller)
            .ok_or_else(|| Error::Unauthenticated("no credentials".into()).into())
    }
}

impl Caller {
    fn actor(&self) -> &str {
        &self.0.subject
    }
}

/// JSON bodies whose rejections (syntax, unknown fields, size) become 4xx naming the problem.
pub(super) struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Body(value))
    }
}

/// The path parameters of an entry route, parsed.
pub(super) struct EntryPath {
    scope: Scope,
    server: Slug,
    kind: Kind,
    key: Option<EntryKey>,
    principal: Principal,
}

impl EntryPath {
    fn id(self) -> Result<EntryId, ApiError> {
        let key = self
            .key
            .ok_or_else(|| InvalidInput::new("key", "missing"))?;
        Ok(EntryId {
            scope: self.scope,
            server: self.server,
            kind: self.kind,
            key,
        })
    }

    /// The entry, if the caller may read its scope.
    fn readable(self) -> Result<EntryId, ApiError> {
        auth::check_read(&self.principal, &self.scope)?;
        self.id()
    }

    /// The entry, if the caller may change its scope.
    fn writable(self) -> Result<EntryId, ApiError> {
        auth::check_write(&self.principal, &self.scope)?;
        self.id()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for EntryPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params): Path<HashMap<String, String>> = Path::from_request_parts(parts, state)
            .await
            .map_err(|e: PathRejection| {
                ApiError::BadRequest(StatusCode::BAD_REQUEST, e.body_text())
            })?;
        let scope = match params.get("org") {
            Some(org) => Scope::Org(Slug::parse("org", org)?),
            None => Scope::Defaults,
        };
        let server = Slug::parse("server", params.get("server").map_or("", String::as_str))?;
        let kind: Kind = params.get("kind").map_or("", String::as_str).parse()?;
        let key = params
            .get("key")
            .map(|k| EntryKey::parse(kind, k))
            .transpose()?;
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        Ok(Self {
            scope,
            server,
            kind,
            key,
            principal,
        })
    }
}

fn change_json(change: &Change) -> Value {
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct NewOrg {
    slug: String,
    #[serde(default)]
    name: String,
}

#[utoipa::path(get, path = "/admin/v1/orgs", responses((status = 200, description = "every org"), (status = 401), (status = 403)))]
pub(super) async fn list_orgs(State(state): State<HttpState>, caller: Caller) -> ApiResult {
    auth::check_global_admin(&caller.0)?;
    let orgs = state.catalog.orgs().await?;
    let orgs: Vec<Value> = orgs
        .iter()
        .map(|o| json!({"slug": o.slug, "name": o.name, "created_at": o.created_at, "created_by": o.created_by}))
        .collect();
    Ok(Json(json!({ "orgs": orgs })))
}

#[utoipa::path(post, path = "/admin/v1/orgs", request_body = NewOrg, responses((status = 201, description = "created"), (status = 400), (status = 409, description = "already exists")))]
pub(super) async fn create_org(
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

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources")), responses((status = 200, description = "the scope's entries, inactive and deleted included"), (status = 400), (status = 403)))]
pub(super) async fn list_entries(State(state): State<HttpState>, path: EntryPath) -> ApiResult {
    auth::check_read(&path.principal, &path.scope)?;
    let entries = state
        .catalog
        .entries(&path.scope, &path.server, path.kind)
        .await?;
    Ok(Json(json!({ "entries": entries })))
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded")), responses((status = 200, description = "the entry"), (status = 404)))]
pub(super) async fn get_entry(State(state): State<HttpState>, path: EntryPath) -> ApiResult {
    let entry = state.catalog.entry(&path.readable()?).await?;
    Ok(Json(json!(entry)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PutEntry {
    content: Value,
    expected_version: Option<u64>,
    #[serde(default)]
    message: String,
}

/// The change a write made, with the entry after it when the caller may read it (an editor
/// without an org writes every org but reads only the defaults).
async fn written(state: &HttpState, caller: &Caller, id: &EntryId, change: Change) -> ApiResult {
    if auth::check_read(&caller.0, &id.scope).is_err() {
        return Ok(Json(json!({"change": change_json(&change)})));
    }
    let entry = state.catalog.entry(id).await?;
    Ok(Json(
        json!({"entry": entry, "change": change_json(&change)}),
    ))
}

#[utoipa::path(put, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded")), request_body = PutEntry, responses((status = 200, description = "the entry after the write, and the change"), (status = 400, description = "invalid input, the field named"), (status = 401), (status = 403), (status = 404), (status = 409, description = "version conflict, with current_version")))]
pub(super) async fn put_entry(
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
pub(super) struct Expected {
    expected_version: Option<u64>,
}

#[utoipa::path(delete, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded"), Expected), responses((status = 200, description = "the entry after the write, and the change"), (status = 400, description = "invalid input, the field named"), (status = 401), (status = 403), (status = 404), (status = 409, description = "version conflict, with current_version")))]
pub(super) async fn delete_entry(
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
pub(super) async fn activate(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    query: ExpectedQuery,
) -> ApiResult {
    set_active(state, caller, path, query, true).await
}

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/deactivate", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded"), Expected), responses((status = 200, description = "the entry after the write, and the change"), (status = 400, description = "invalid input, the field named"), (status = 401), (status = 403), (status = 404), (status = 409, description = "version conflict, with current_version")))]
pub(super) async fn deactivate(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    query: ExpectedQuery,
) -> ApiResult {
    set_active(state, caller, path, query, false).await
}

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
pub(super) async fn history(State(state): State<HttpState>, path: EntryPath) -> ApiResult {
    let versions = state.catalog.history(&path.readable()?).await?;
    Ok(Json(
        json!({"versions": versions.iter().map(version_json).collect::<Vec<_>>()}),
    ))
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/versions/{version}", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded"), ("version" = u64, Path)), responses((status = 200, description = "one version"), (status = 404)))]
pub(super) async fn version(
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
pub(super) struct DiffQuery {
    from: u64,
    to: u64,
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/diff", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded"), DiffQuery), responses((status = 200, description = "a unified diff of two versions"), (status = 404)))]
pub(super) async fn diff(
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
pub(super) struct Rollback {
    version: u64,
    expected_version: Option<u64>,
}

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/rollback", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded")), request_body = Rollback, responses((status = 200, description = "the entry after the write, and the change"), (status = 400, description = "invalid input, the field named"), (status = 401), (status = 403), (status = 404), (status = 409, description = "version conflict, with current_version")))]
pub(super) async fn rollback(
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RenderRequest {
    #[serde(default)]
    arguments: HashMap<String, String>,
    /// A version to preview instead of the current one.
    version: Option<u64>,
}

/// Renders a prompt of this scope (its current or a given version) as `GetPrompt` would.
#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/render", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded")), request_body = RenderRequest, responses((status = 200, description = "the rendered messages"), (status = 400, description = "a missing argument, named"), (status = 422, description = "render limits")))]
pub(super) async fn render_preview(
    State(state): State<HttpState>,
    path: EntryPath,
    Body(request): Body<RenderRequest>,
) -> ApiResult {
    let id = path.readable()?;
    render::check_arguments(&request.arguments)?;
    let rendered = state
        .catalog
        .preview(&id, request.version, request.arguments, &state.renderer)
        .await?;
    let messages: Vec<Value> = rendered
        .messages
        .iter()
        .map(|m| json!({"role": m.role, "text": m.text}))
        .collect();
    Ok(Json(
        json!({"description": rendered.description, "messages": messages, "revision": rendered.revision}),
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ChangesQuery {
    #[serde(default)]
    after: u64,
    limit: Option<u32>,
    org: Option<String>,
    server: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/changes", params(ChangesQuery), responses((status = 200, description = "a page of the change log"), (status = 400), (status = 403)))]
pub(super) async fn changes(
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ImportQuery {
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
#[utoipa::path(post, path = "/admin/v1/bundle", params(ImportQuery), request_body(content = String, content_type = "application/yaml", description = "a bundle (YAML, or JSON with a JSON content type)"), responses((status = 200, description = "the diff (and revisions committed)"), (status = 400, description = "the first problem, by its path in the bundle"), (status = 409), (status = 413)))]
pub(super) async fn import_bundle(
    State(state): State<HttpState>,
    caller: Caller,
    query: Result<Query<ImportQuery>, QueryRejection>,
    request: axum::extract::Request,
) -> ApiResult {
    // Nothing of the body is read before the caller is known to be able to write somewhere.
    auth::check_may_write(&caller.0)?;
    let Query(q) = query?;
    let format = format_of(request.headers());
    let body = String::from_request(request, &()).await?;
    let (bundle, plan) = Bundle::read(body, format).await?;
    for scope in bundle_scopes(&bundle)? {
        auth::check_write(&caller.0, &scope)?;
    }
    let missing = if q.prune {
        Missing::Delete
    } else {
        Missing::Keep
    };
    let new_orgs = match auth::check_global_admin(&caller.0) {
        Ok(()) => NewOrgs::Allowed,
        Err(_) => NewOrgs::Refused,
    };
    let report = state
        .editor
        .import(&plan, missing, q.dry_run, new_orgs, caller.actor())
        .await?;
    Ok(Json(json!(report)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ExportQuery {
    format: Option<String>,
}

#[utoipa::path(get, path = "/admin/v1/bundle", params(ExportQuery), responses((status = 200, description = "the bundle"), (status = 400), (status = 403)))]
pub(super) async fn export_bundle(
    State(state): State<HttpState>,
    caller: Caller,
    query: Result<Query<ExportQuery>, QueryRejection>,
) -> ApiResult<Response> {
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
    let bundle = bundle::export::export(&state.store).await?;
    Ok((
        [(header::CONTENT_TYPE, content_type)],
        bundle.to_text(format),
    )
        .into_response())
}
