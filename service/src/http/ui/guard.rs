//! What every UI response and request goes through: a state-changing request must come from
//! the UI's own pages, and every answer tells the browser to run only the UI's own scripts and
//! never inside another site's frame.

use axum::{
    Router,
    extract::Request,
    http::{HeaderMap, HeaderValue, Method, StatusCode, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
};
use tower_http::set_header::SetResponseHeaderLayer;

use crate::http::HttpState;

/// Scripts and styles from the UI's own files only: no inline script, no CDN; forms post to
/// the UI only; no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// `routes` behind the same-origin check, every answer with the UI's security headers (and not
/// kept by caches unless a route says otherwise).
pub(super) fn guarded(routes: Router<HttpState>) -> Router<HttpState> {
    let set =
        |name, value| SetResponseHeaderLayer::overriding(name, HeaderValue::from_static(value));
    routes
        .layer(middleware::from_fn(refuse_cross_origin))
        .layer(set(
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY,
        ))
        .layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
}

async fn refuse_cross_origin(request: Request, next: Next) -> Response {
    let changes_state = !matches!(*request.method(), Method::GET | Method::HEAD);
    if changes_state && let Err(why) = same_origin(request.headers()) {
        return (StatusCode::FORBIDDEN, why).into_response();
    }
    next.run(request).await
}

/// Refuses a request a browser sent on another site's behalf. Browsers send `Sec-Fetch-Site`
/// and `Origin` with every POST; a client that sends neither is not a browser (and has no
/// cookie to ride on unless it holds the token itself).
fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site"))
        && !matches!(site, "same-origin" | "none")
    {
        return Err("cross-site request refused");
    }
    if let Some(origin) = text(header::ORIGIN) {
        let host = text(header::HOST).unwrap_or("");
        let origin_host = origin
            .split_once("://")
            .map_or("", |(_, rest)| rest.trim_end_matches('/'));
        if origin == "null" || origin_host != host {
            return Err("cross-origin request refused");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn only_same_origin_requests_change_state() {
        let host = ("host", "127.0.0.1:8080");
        for allowed in [
            vec![host],
            vec![host, ("origin", "http://127.0.0.1:8080")],
            vec![host, ("sec-fetch-site", "same-origin")],
            vec![host, ("sec-fetch-site", "none")],
        ] {
            assert!(same_origin(&headers(&allowed)).is_ok(), "{allowed:?}");
        }
        for refused in [
            vec![host, ("origin", "http://evil.example")],
            vec![host, ("origin", "null")],
            vec![host, ("origin", "http://127.0.0.1:8081")],
            vec![host, ("sec-fetch-site", "cross-site")],
            vec![host, ("sec-fetch-site", "same-site")],
        ] {
            assert!(same_origin(&headers(&refused)).is_err(), "{refused:?}");
        }
    }
}
