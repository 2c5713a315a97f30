//! The HTTP door: the admin API under `/admin/v1`, and `/healthz` / `/readyz`.

mod admin;
mod error;
mod openapi;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

pub use error::ApiError;

use crate::{
    auth::Authenticator, bundle::MAX_BUNDLE_BYTES, cache::ViewCache, edits::Editor, render::Limits,
    store::Store,
};

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub editor: Editor,
    pub store: Store,
    pub render_limits: Limits,
    pub authenticator: Authenticator,
    pub cache: ViewCache,
    /// How long a change may wait for the relay before the replica reports not ready.
    pub relay_bound: std::time::Duration,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { Json(json!({"status": "ok"})) }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route(
            "/admin/v1/openapi.json",
            get(|| async { Json(openapi::document()) }),
        )
        .nest(
            "/admin/v1",
            admin::routes().layer(middleware::from_fn_with_state(state.clone(), authenticate)),
        )
        .layer(DefaultBodyLimit::max(MAX_BUNDLE_BYTES))
        .with_state(state)
}

/// Authenticates an admin API request; the handler finds the [`Principal`] in its extensions.
async fn authenticate(
    State(state): State<HttpState>,
    mut request: Request,
    next: Next,
) -> Response {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    match state.authenticator.authenticate(header) {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Prometheus metrics (text format).
async fn metrics(State(state): State<HttpState>) -> String {
    metrics::gauge!(crate::metrics::L1_BYTES).set(state.cache.weighted_size().await as f64);
    crate::metrics::handle().render()
}

/// Ready when the store answers and every migration of this build is applied.
async fn readyz(State(state): State<HttpState>) -> (StatusCode, Json<serde_json::Value>) {
    let readiness = crate::health::check(&state.store, state.relay_bound).await;
    let status = if readiness.ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({"ready": readiness.ready(), "store": readiness.store, "migrations": readiness.migrations, "relay": readiness.relay}),
        ),
    )
}
