//! Change webhooks: endpoints per scope (`{scope}/webhooks`), one endpoint (`/webhooks/{id}`),
//! its secret's rotation, its delivery log, a redelivery and a test ping. Admins only: an
//! admin bound to an org manages that org's endpoints; the defaults' need an admin without one.

use axum::{
    Json,
    extract::{FromRequestParts, Path, Query, State, rejection::QueryRejection},
    http::{StatusCode, request::Parts},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, Body, Caller};
use crate::{
    domain::{EventType, Scope, Slug},
    http::{
        ApiError, HttpState,
        answers::{Conflict, NotFound, NotJson, Refusals, TooLarge},
    },
    store::{AttemptRow, DeliveryRow, WebhookRow},
    webhooks::{EndpointSpec, MAX_LISTED_DELIVERIES},
};

/// The scope of `/defaults/webhooks` or `/orgs/{org}/webhooks`.
pub(crate) struct ScopePath(Scope);

#[derive(Deserialize)]
struct ScopeParams {
    org: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ScopePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<ScopeParams>::from_request_parts(parts, state).await?;
        Ok(Self(match params.org {
            Some(org) => Scope::Org(Slug::parse("org", &org)?),
            None => Scope::Defaults,
        }))
    }
}

/// The path parameter naming an endpoint.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct WebhookParam {
    /// The endpoint's id (`wh_…`).
    id: String,
}

/// The path parameters naming one delivery of an endpoint.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct DeliveryParams {
    /// The endpoint's id (`wh_…`).
    id: String,
    /// The delivery's id (`msg_…`, its `webhook-id` header).
    delivery: String,
}

/// An endpoint to register, or what to change of one (absent fields stay).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EndpointRequest {
    /// Where deliveries go: `http` or `https`, no credentials; a private, loopback or
    /// link-local address is refused unless the service allows them.
    url: Option<String>,
    description: Option<String>,
    /// The event types wanted; empty or absent: every type (`webhook.ping` always goes).
    events: Option<Vec<EventType>>,
    /// Turn it off, or on again (also after the service disabled it on a `410 Gone`).
    enabled: Option<bool>,
}

impl From<EndpointRequest> for EndpointSpec {
    fn from(r: EndpointRequest) -> Self {
        Self {
            url: r.url,
            description: r.description,
            events: r.events,
            enabled: r.enabled,
        }
    }
}

/// An endpoint as the API shows it: its secret only when it was just made (registration,
/// rotation).
#[derive(Serialize, ToSchema)]
pub(crate) struct Endpoint {
    id: String,
    /// The org whose changes it gets; absent: the defaults'.
    org: Option<String>,
    url: String,
    description: String,
    events: Vec<EventType>,
    enabled: bool,
    /// Why the service disabled it; empty otherwise.
    disabled_reason: String,
    /// The `whsec_` signing secret, shown when registered or rotated, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// Until when (ms since the epoch) the secret before the last rotation still signs.
    previous_secret_until: Option<i64>,
    created_at: i64,
    created_by: String,
}

impl Endpoint {
    fn of(row: WebhookRow, show_secret: bool) -> Self {
        Self {
            org: match &row.scope {
                Scope::Defaults => None,
                Scope::Org(org) => Some(org.as_str().to_owned()),
            },
            secret: show_secret.then(|| row.secret.clone()),
            previous_secret_until: (!row.previous_secret.is_empty()).then_some(row.previous_until),
            id: row.id,
            url: row.url,
            description: row.description,
            events: row.events,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            created_at: row.created_at,
            created_by: row.created_by,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct EndpointList {
    webhooks: Vec<Endpoint>,
}

/// One delivery and its attempts.
#[derive(Serialize, ToSchema)]
pub(crate) struct Delivery {
    /// Its `webhook-id`, the same for every attempt.
    id: String,
    /// The change it announces (0 for a ping).
    revision: u64,
    event: String,
    /// `pending`, `delivered` or `failed`.
    state: String,
    attempts: u32,
    /// When the next attempt is due (pending), or when it settled (ms since the epoch).
    next_at: i64,
    created_at: i64,
    /// The body sent, as JSON text.
    payload: String,
    log: Vec<Attempt>,
}

/// One attempt: when, the HTTP status (absent: no answer), why it failed, how long it took.
#[derive(Serialize, ToSchema)]
pub(crate) struct Attempt {
    attempt: u32,
    at: i64,
    status: Option<u16>,
    error: String,
    duration_ms: i64,
}

impl From<AttemptRow> for Attempt {
    fn from(a: AttemptRow) -> Self {
        Self {
            attempt: a.attempt,
            at: a.at,
            status: a.status,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

impl From<DeliveryRow> for Delivery {
    fn from(d: DeliveryRow) -> Self {
        Self {
            id: d.id,
            revision: d.revision,
            event: d.event,
            state: d.state,
            attempts: d.attempts,
            next_at: d.next_at,
            created_at: d.created_at,
            payload: d.payload,
            log: d.log.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DeliveryList {
    deliveries: Vec<Delivery>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct DeliveryQuery {
    /// How many of the newest deliveries (at most 200).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A delivery queued (a redelivery, a ping).
#[derive(Serialize, ToSchema)]
pub(crate) struct Queued {
    /// The delivery's id (its `webhook-id`).
    delivery: String,
}

#[utoipa::path(get, path = "/admin/v1/defaults/webhooks", responses((status = 200, description = "the scope's endpoints", body = EndpointList), Refusals))]
pub(crate) async fn list_webhooks(
    State(state): State<HttpState>,
    caller: Caller,
    ScopePath(scope): ScopePath,
) -> ApiResult<EndpointList> {
    let rows = state.webhooks.list(&caller.0, Some(&scope)).await?;
    Ok(Json(EndpointList {
        webhooks: rows.into_iter().map(|r| Endpoint::of(r, false)).collect(),
    }))
}

#[utoipa::path(post, path = "/admin/v1/defaults/webhooks", request_body = EndpointRequest, responses((status = 201, description = "registered; the only answer that shows its secret, with a rotation's", body = Endpoint), Refusals, NotFound, TooLarge, NotJson))]
pub(crate) async fn create_webhook(
    State(state): State<HttpState>,
    caller: Caller,
    ScopePath(scope): ScopePath,
    Body(request): Body<EndpointRequest>,
) -> Result<(StatusCode, Json<Endpoint>), ApiError> {
    let row = state
        .webhooks
        .create(&caller.0, scope, request.into())
        .await?;
    Ok((StatusCode::CREATED, Json(Endpoint::of(row, true))))
}

#[utoipa::path(get, path = "/admin/v1/webhooks", responses((status = 200, description = "every endpoint the caller administers", body = EndpointList), Refusals))]
pub(crate) async fn all_webhooks(
    State(state): State<HttpState>,
    caller: Caller,
) -> ApiResult<EndpointList> {
    let rows = state.webhooks.list(&caller.0, None).await?;
    Ok(Json(EndpointList {
        webhooks: rows.into_iter().map(|r| Endpoint::of(r, false)).collect(),
    }))
}

#[utoipa::path(get, path = "/admin/v1/webhooks/{id}", params(WebhookParam), responses((status = 200, description = "the endpoint", body = Endpoint), Refusals, NotFound))]
pub(crate) async fn get_webhook(
    State(state): State<HttpState>,
    caller: Caller,
    Path(WebhookParam { id }): Path<WebhookParam>,
) -> ApiResult<Endpoint> {
    let row = state.webhooks.get(&caller.0, &id).await?;
    Ok(Json(Endpoint::of(row, false)))
}

#[utoipa::path(patch, path = "/admin/v1/webhooks/{id}", params(WebhookParam), request_body = EndpointRequest, responses((status = 200, description = "changed", body = Endpoint), Refusals, NotFound, TooLarge, NotJson))]
pub(crate) async fn patch_webhook(
    State(state): State<HttpState>,
    caller: Caller,
    Path(WebhookParam { id }): Path<WebhookParam>,
    Body(request): Body<EndpointRequest>,
) -> ApiResult<Endpoint> {
    let row = state
        .webhooks
        .update(&caller.0, &id, request.into())
        .await?;
    Ok(Json(Endpoint::of(row, false)))
}

#[utoipa::path(delete, path = "/admin/v1/webhooks/{id}", params(WebhookParam), responses((status = 200, description = "deleted, with its deliveries: what it was", body = Endpoint), Refusals, NotFound))]
pub(crate) async fn delete_webhook(
    State(state): State<HttpState>,
    caller: Caller,
    Path(WebhookParam { id }): Path<WebhookParam>,
) -> ApiResult<Endpoint> {
    let row = state.webhooks.delete(&caller.0, &id).await?;
    Ok(Json(Endpoint::of(row, false)))
}

#[utoipa::path(post, path = "/admin/v1/webhooks/{id}/rotate", params(WebhookParam), responses((status = 200, description = "a new secret; the old one still signs (a second signature) for a day", body = Endpoint), Refusals, NotFound))]
pub(crate) async fn rotate_webhook(
    State(state): State<HttpState>,
    caller: Caller,
    Path(WebhookParam { id }): Path<WebhookParam>,
) -> ApiResult<Endpoint> {
    let row = state.webhooks.rotate(&caller.0, &id).await?;
    Ok(Json(Endpoint::of(row, true)))
}

#[utoipa::path(get, path = "/admin/v1/webhooks/{id}/deliveries", params(WebhookParam, DeliveryQuery), responses((status = 200, description = "the newest deliveries, newest first, with every attempt", body = DeliveryList), Refusals, NotFound))]
pub(crate) async fn list_deliveries(
    State(state): State<HttpState>,
    caller: Caller,
    Path(WebhookParam { id }): Path<WebhookParam>,
    query: Result<Query<DeliveryQuery>, QueryRejection>,
) -> ApiResult<DeliveryList> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(50).min(MAX_LISTED_DELIVERIES);
    let rows = state.webhooks.deliveries(&caller.0, &id, limit).await?;
    Ok(Json(DeliveryList {
        deliveries: rows.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/admin/v1/webhooks/{id}/deliveries/{delivery}/redeliver", params(DeliveryParams), responses((status = 202, description = "due again now: one more attempt", body = Queued), Refusals, NotFound, Conflict))]
pub(crate) async fn redeliver(
    State(state): State<HttpState>,
    caller: Caller,
    Path(DeliveryParams { id, delivery }): Path<DeliveryParams>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    state.webhooks.redeliver(&caller.0, &id, &delivery).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { delivery })))
}

#[utoipa::path(post, path = "/admin/v1/webhooks/{id}/ping", params(WebhookParam), responses((status = 202, description = "a `webhook.ping` queued; its delivery id", body = Queued), Refusals, NotFound, Conflict))]
pub(crate) async fn ping_webhook(
    State(state): State<HttpState>,
    caller: Caller,
    Path(WebhookParam { id }): Path<WebhookParam>,
) -> Result<(StatusCode, Json<Queued>), ApiError> {
    let delivery = state.webhooks.ping(&caller.0, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(Queued { delivery })))
}
