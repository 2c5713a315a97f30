//! The HTTP door: the admin API under `/admin/v1`, the web UI under `/ui`, and `/healthz` /
//! `/readyz`.

pub(crate) mod admin;
mod answers;
pub(crate) mod error;
mod openapi;
pub mod origin;
mod ui;

use axum::{
    Json, Router,
    extract::{DefaultBodyLimit, Request, State},
    http::{StatusCode, header},
    middleware::{self, Next},
    response::Response,
    routing::get,
};
use serde_json::json;

pub use error::ApiError;

use crate::{
    auth::Authenticator, bundle::MAX_BUNDLE_BYTES, cache::ViewCache, catalog::Catalog,
    edits::Editor, renderer::Renderer, store::Store,
};

/// What the HTTP handlers share.
#[derive(Clone)]
pub struct HttpState {
    pub editor: Editor,
    pub releases: crate::releases::Releases,
    pub catalog: Catalog,
    pub store: Store,
    pub renderer: Renderer,
    pub authenticator: Authenticator,
    pub cache: ViewCache,
    /// For previews: a rendered prompt's embedded resources are read from the views.
    pub views: crate::views::Views,
    /// How long a change may wait for the relay before the replica reports not ready.
    pub relay_bound: std::time::Duration,
    /// Whether the UI's session cookie is marked `Secure` (the HTTP port serves TLS).
    pub secure_cookies: bool,
    /// Single sign-on to the web UI, when an OpenID provider is configured.
    pub sso: Option<crate::sso::Sso>,
    /// How large a web UI form may be.
    pub form_limits: FormLimits,
    /// Admin API (and UI) requests per token subject.
    pub rate_limiter: std::sync::Arc<governor::DefaultKeyedRateLimiter<String>>,
    /// The gateway: its upstreams, set by admins, and the preview of what an org sees.
    pub gateway: crate::gateway::Gateway,
    /// Change webhooks: endpoints and their delivery logs.
    pub webhooks: crate::webhooks::Webhooks,
    /// Change requests and approval policies.
    pub change_requests: crate::change_requests::ChangeRequests,
    /// Who is listening: this replica's Watch streams, and the others' reports.
    pub listeners: crate::listeners::OpenStreams,
}

/// The caps of a web UI form body, checked before it is buffered.
#[derive(Debug, Clone, Copy)]
pub struct FormLimits {
    pub max_bytes: usize,
    pub max_fields: usize,
}

/// A limiter of `per_second` admin requests per token subject, with bursts of twice that.
pub fn rate_limiter(per_second: u32) -> std::sync::Arc<governor::DefaultKeyedRateLimiter<String>> {
    let rate = std::num::NonZeroU32::new(per_second.max(1)).expect("at least 1");
    let burst = rate.saturating_mul(std::num::NonZeroU32::new(2).expect("2"));
    std::sync::Arc::new(governor::RateLimiter::keyed(
        governor::Quota::per_second(rate).allow_burst(burst),
    ))
}

/// How often subjects that have been idle long enough to be back at a full burst are dropped
/// from the limiter (it keeps one entry per subject it has seen otherwise).
const RATE_LIMITER_SWEEP: std::time::Duration = std::time::Duration::from_secs(60);

/// Drops the rate limiter's idle subjects every [`RATE_LIMITER_SWEEP`] until shutdown.
pub async fn forget_idle_callers(
    limiter: std::sync::Arc<governor::DefaultKeyedRateLimiter<String>>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut every = tokio::time::interval(RATE_LIMITER_SWEEP);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        limiter.retain_recent();
        limiter.shrink_to_fit();
    }
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
        .merge(ui::routes(state.clone()))
        .layer(DefaultBodyLimit::max(MAX_BUNDLE_BYTES))
        .with_state(state)
}

/// Authenticates an admin API request and holds its subject to the rate limit; the handler
/// finds the [`Principal`] in its extensions.
async fn authenticate(
    State(state): State<HttpState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let principal = state.authenticator.authenticate(header)?;
    if state.rate_limiter.check_key(&principal.subject).is_err() {
        return Err(ApiError::RateLimited {
            subject: principal.subject,
        });
    }
    request.extensions_mut().insert(principal);
    Ok(next.run(request).await)
}

/// Prometheus metrics (text format).
async fn metrics(State(state): State<HttpState>) -> String {
    metrics::gauge!(crate::metrics::L1_BYTES).set(state.cache.weighted_size().await as f64);
    crate::metrics::render()
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

#[cfg(test)]
mod tests {
    #[test]
    fn idle_subjects_leave_the_rate_limiter() {
        let limiter = super::rate_limiter(1000);
        for subject in ["ann", "bob", "cid"] {
            assert!(limiter.check_key(&subject.to_owned()).is_ok());
        }
        assert_eq!(limiter.len(), 3);
        std::thread::sleep(std::time::Duration::from_millis(20));
        limiter.retain_recent();
        assert_eq!(limiter.len(), 0, "back at a full burst: forgotten");
    }
}
