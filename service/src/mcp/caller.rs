//! The org of an MCP request, by the read rules of gRPC (`auth::read_scope`): decided in a
//! middleware before rmcp reads a byte of the body, so a refused caller costs nothing and the
//! handler only ever sees an authorised view.

use std::time::SystemTime;

use axum::{
    extract::{Path, Request, State},
    http::header,
    middleware::Next,
    response::Response,
};

use crate::{
    auth::{self, Authenticator},
    domain::{Scope, Slug},
    error::Error,
    http::ApiError,
};

/// Whose view of which server an MCP request reads; in the extensions of the request's
/// `http::request::Parts`, where rmcp hands them to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub scope: Scope,
    pub server: Slug,
    /// The token's subject: sessions and listen streams are bounded per subject.
    pub subject: String,
    /// When the caller's token stops being accepted: a listen stream ends then.
    pub expires_at: Option<SystemTime>,
}

/// Authenticates the request, decides its [`Audience`] and hands it on; a caller without a
/// valid token, or asking for an org its token may not read, is answered here (401/403).
pub async fn authorise(
    State(authenticator): State<Authenticator>,
    Path(server): Path<String>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let audience = audience(&authenticator, &server, request.headers())?;
    request.extensions_mut().insert(audience);
    Ok(next.run(request).await)
}

fn audience(
    authenticator: &Authenticator,
    server: &str,
    headers: &axum::http::HeaderMap,
) -> Result<Audience, Error> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let principal = authenticator.authenticate(authorization)?;
    let server = Slug::parse("server", server)?;
    let scope = auth::read_scope(&principal, Scope::Defaults, auth::header_org(headers)?)?;
    Ok(Audience {
        scope,
        server,
        subject: principal.subject,
        expires_at: principal.expires_at,
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    header::HeaderName::from_static(name),
                    value.parse().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn without_authentication_the_header_names_the_org_and_its_absence_the_defaults() {
        let open = Authenticator::open();
        let acme = audience(&open, "github", &headers(&[("x-org-id", "acme")])).unwrap();
        assert_eq!(acme.scope.as_str(), "acme");
        assert_eq!(acme.server.as_str(), "github");
        let nobody = audience(&open, "github", &headers(&[])).unwrap();
        assert_eq!(nobody.scope, Scope::Defaults);
        assert!(audience(&open, "Not A Slug", &headers(&[])).is_err());
    }
}
