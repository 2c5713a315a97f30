//! The org of an MCP request, by the read rules of gRPC (`auth::read_scope`): decided in a
//! middleware before rmcp reads a byte of the body, so a refused caller costs nothing and the
//! handler only ever sees an authorised view.

use std::time::SystemTime;

use axum::{
    extract::{Path, Query, Request, State},
    http::header,
    middleware::Next,
    response::Response,
};

use crate::{
    auth::{self, Authenticator},
    domain::{Label, Scope, Slug},
    error::Error,
    http::ApiError,
};

/// Whose view of which server an MCP request reads; in the extensions of the request's
/// `http::request::Parts`, where rmcp hands them to the handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audience {
    pub scope: Scope,
    pub server: Slug,
    /// The release label read at: the `label` query parameter, else the `Mcp-Config-Label`
    /// header, else `production`.
    pub label: Label,
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
    Query(query): Query<LabelQuery>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let audience = audience(
        &authenticator,
        &server,
        query.label.as_deref(),
        request.headers(),
    )?;
    request.extensions_mut().insert(audience);
    Ok(next.run(request).await)
}

/// The query parameters of an MCP request that mcp-config reads (others are ignored).
#[derive(Debug, serde::Deserialize)]
pub struct LabelQuery {
    label: Option<String>,
}

/// The header naming the label to read at, for clients that cannot add a query parameter.
const LABEL_HEADER: &str = "mcp-config-label";

fn audience(
    authenticator: &Authenticator,
    server: &str,
    query_label: Option<&str>,
    headers: &axum::http::HeaderMap,
) -> Result<Audience, Error> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let principal = authenticator.authenticate(authorization)?;
    let server = Slug::parse("server", server)?;
    let label = match query_label {
        Some(label) => Label::parse("label", label)?,
        None => match headers.get(LABEL_HEADER) {
            Some(value) => Label::parse(
                LABEL_HEADER,
                value.to_str().map_err(|_| {
                    crate::domain::InvalidInput::new(LABEL_HEADER, "not visible ASCII")
                })?,
            )?,
            None => Label::Production,
        },
    };
    let scope = auth::read_scope(&principal, Scope::Defaults, auth::header_org(headers)?)?;
    Ok(Audience {
        scope,
        server,
        label,
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
        let acme = audience(&open, "github", None, &headers(&[("x-org-id", "acme")])).unwrap();
        assert_eq!(acme.scope.as_str(), "acme");
        assert_eq!(acme.server.as_str(), "github");
        assert_eq!(acme.label, Label::Production);
        let nobody = audience(&open, "github", None, &headers(&[])).unwrap();
        assert_eq!(nobody.scope, Scope::Defaults);
        assert!(audience(&open, "Not A Slug", None, &headers(&[])).is_err());
    }

    #[test]
    fn the_label_comes_from_the_query_else_the_header() {
        let open = Authenticator::open();
        let staged = headers(&[("mcp-config-label", "staging")]);
        assert_eq!(
            audience(&open, "github", None, &staged)
                .unwrap()
                .label
                .as_str(),
            "staging"
        );
        assert_eq!(
            audience(&open, "github", Some("latest"), &staged)
                .unwrap()
                .label,
            Label::Latest
        );
        let Err(Error::Invalid(bad)) = audience(&open, "github", Some("No!"), &staged) else {
            panic!("a bad label is refused");
        };
        assert_eq!(bad.field, "label");
    }
}
