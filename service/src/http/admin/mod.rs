//! `/admin/v1`: the routes and what every handler extracts from a request (the caller, an
//! entry's path, a JSON body); the handlers live by resource in the modules below.
//!
//! Entry routes exist twice, under `/defaults` and under `/orgs/{org}`, served by the same
//! handlers. A key (prompt name, resource URI) is one path segment, percent-encoded
//! (`file:%2F%2F%2Fguide.md`).

pub(crate) mod bundle;
pub(crate) mod change_requests;
pub(crate) mod changes;
pub(crate) mod entries;
pub(crate) mod orgs;
pub(crate) mod releases;
pub(crate) mod render;
pub(crate) mod upstreams;
pub(crate) mod versions;
pub(crate) mod webhooks;
mod written;

use axum::{
    Json, Router,
    extract::{FromRequest, FromRequestParts, Path},
    http::request::Parts,
    routing::{get, post},
};
use serde::Deserialize;
use utoipa::IntoParams;

use super::{ApiError, HttpState};
use crate::{
    auth::{self, Principal},
    domain::{EntryId, EntryKey, Kind, Scope, Slug},
    error::Error,
};
use bundle::{export_bundle, import_bundle};
use changes::changes;
use entries::{activate, deactivate, delete_entry, get_entry, list_entries, put_entry};
use orgs::{create_org, list_orgs};
use releases::{
    entry_labels, get_policy, get_rollout, list_labels, post_rollout, promote, put_label,
    put_policy,
};
use render::render_preview;
use upstreams::{
    delete_upstream, get_upstream, list_upstreams, put_upstream, rollback_upstream,
    upstream_history,
};
use versions::{diff, history, rollback, version};
use webhooks::{
    all_webhooks, create_webhook, delete_webhook, get_webhook, list_deliveries, list_webhooks,
    patch_webhook, ping_webhook, redeliver, rotate_webhook,
};

type ApiResult<T> = Result<Json<T>, ApiError>;

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
        )
        .route("/servers/{server}/{kind}/{key}/labels", get(entry_labels))
        .route(
            "/servers/{server}/{kind}/{key}/rollouts/{label}",
            get(get_rollout).post(post_rollout),
        )
        .route(
            "/servers/{server}/release-policy",
            get(get_policy).put(put_policy),
        )
        .route("/servers/{server}/labels/{label}", post(promote))
        .route(
            "/servers/{server}/approval-policies",
            get(change_requests::list_policies),
        )
        .route(
            "/servers/{server}/approval-policies/{label}",
            axum::routing::put(change_requests::put_policy).delete(change_requests::delete_policy),
        )
        .route(
            "/servers/{server}/change-requests",
            get(change_requests::list_requests).post(change_requests::open_request),
        )
        .route("/webhooks", get(list_webhooks).post(create_webhook));
    Router::new()
        .route("/orgs", get(list_orgs).post(create_org))
        .route("/changes", get(changes))
        .route("/labels", get(list_labels))
        .route("/labels/{label}", axum::routing::put(put_label))
        .route("/bundle", get(export_bundle).post(import_bundle))
        .route("/upstreams", get(list_upstreams))
        .route("/change-requests", get(change_requests::all_requests))
        .route(
            "/change-requests/{id}",
            get(change_requests::get_request).patch(change_requests::edit_request),
        )
        .route("/change-requests/{id}/{action}", post(change_requests::act))
        .route("/webhooks", get(all_webhooks))
        .route(
            "/webhooks/{id}",
            get(get_webhook).patch(patch_webhook).delete(delete_webhook),
        )
        .route("/webhooks/{id}/rotate", post(rotate_webhook))
        .route("/webhooks/{id}/deliveries", get(list_deliveries))
        .route(
            "/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(redeliver),
        )
        .route("/webhooks/{id}/ping", post(ping_webhook))
        .route(
            "/servers/{server}/upstream",
            get(get_upstream).put(put_upstream).delete(delete_upstream),
        )
        .route("/servers/{server}/upstream/versions", get(upstream_history))
        .route(
            "/servers/{server}/upstream/rollback",
            post(rollback_upstream),
        )
        .nest("/defaults", entries.clone())
        .nest("/orgs/{org}", entries)
}

/// Who is asking (authenticated by the middleware); its subject is recorded as the actor of
/// every change.
pub struct Caller(pub(crate) Principal);

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
pub(crate) struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Body(value))
    }
}

/// The path parameters naming a server's list of one kind, as they arrive. The org routes'
/// `{org}` is documented by `openapi.rs`, which derives those routes from the defaults' ones.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ListParams {
    #[param(ignore)]
    org: Option<String>,
    /// MCP server slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$", example = "github")]
    server: String,
    /// `prompts` or `resources`.
    #[param(pattern = "^(prompts|resources)$", example = "prompts")]
    kind: String,
}

/// The path parameter naming an entry within its list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct KeyParam {
    /// Prompt name or resource URI, one percent-encoded path segment.
    #[param(min_length = 1, example = "review-pr")]
    key: String,
}

/// A server's list of one kind in one scope, parsed from the path, and who asks.
pub(crate) struct ListPath {
    pub(crate) scope: Scope,
    pub(crate) server: Slug,
    pub(crate) kind: Kind,
    pub(crate) principal: Principal,
}

impl<S: Send + Sync> FromRequestParts<S> for ListPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<ListParams>::from_request_parts(parts, state).await?;
        let scope = match params.org {
            Some(org) => Scope::Org(Slug::parse("org", &org)?),
            None => Scope::Defaults,
        };
        let server = Slug::parse("server", &params.server)?;
        let kind: Kind = params.kind.parse()?;
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        Ok(Self {
            scope,
            server,
            kind,
            principal,
        })
    }
}

/// One entry, parsed from the path, and who asks.
pub(crate) struct EntryPath {
    pub(crate) list: ListPath,
    pub(crate) key: EntryKey,
}

impl EntryPath {
    pub(crate) fn id(self) -> EntryId {
        EntryId {
            scope: self.list.scope,
            server: self.list.server,
            kind: self.list.kind,
            key: self.key,
        }
    }

    /// The entry, if the caller may read its scope.
    pub(crate) fn readable(self) -> Result<EntryId, ApiError> {
        auth::check_read(&self.list.principal, &self.list.scope)?;
        Ok(self.id())
    }

    /// The entry, if the caller may change its scope.
    pub(crate) fn writable(self) -> Result<EntryId, ApiError> {
        auth::check_write(&self.list.principal, &self.list.scope)?;
        Ok(self.id())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for EntryPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let list = ListPath::from_request_parts(parts, state).await?;
        let Path(KeyParam { key }) = Path::from_request_parts(parts, state).await?;
        let key = EntryKey::parse(list.kind, &key)?;
        Ok(Self { list, key })
    }
}
