//! Where a UI request points (a scope's server, an entry) and who asks, parsed as the admin
//! API parses them; a bad path or a refusal becomes the UI's error page.

use axum::{
    extract::{FromRequestParts, Path, RawPathParams},
    http::request::Parts,
};
use serde::Deserialize;

use super::page::UiError;
use crate::{
    auth::{self, Principal},
    domain::{Scope, Slug},
    http::{
        ApiError,
        admin::{Caller, EntryPath},
    },
};

/// An admin API extractor whose rejection is shown as a page.
pub(super) struct Ui<T>(pub T);

impl<S: Send + Sync, T: FromRequestParts<S, Rejection = ApiError>> FromRequestParts<S> for Ui<T> {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(Ui(T::from_request_parts(parts, state).await?))
    }
}

/// Who is looking (put in place by the sign-in layer).
pub(super) type Viewer = Ui<Caller>;

impl Viewer {
    pub(super) fn principal(&self) -> &Principal {
        &self.0.0
    }
}

/// An entry and who asks.
pub(super) type Entry = Ui<EntryPath>;

#[derive(Deserialize)]
struct ServerParams {
    org: Option<String>,
    server: String,
}

/// A scope's server (the defaults' or one org's), readable by the viewer.
pub(super) struct ServerPath {
    pub scope: Scope,
    pub server: Slug,
    pub principal: Principal,
}

impl<S: Send + Sync> FromRequestParts<S> for ServerPath {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<ServerParams>::from_request_parts(parts, state)
            .await
            .map_err(ApiError::from)?;
        let scope = match params.org {
            Some(org) => Scope::Org(Slug::parse("org", &org)?),
            None => Scope::Defaults,
        };
        let server = Slug::parse("server", &params.server)?;
        let Ui(Caller(principal)) = Viewer::from_request_parts(parts, state).await?;
        auth::check_read(&principal, &scope)?;
        Ok(Self {
            scope,
            server,
            principal,
        })
    }
}

/// A viewer who may write where the request points: the scope of its path (`/ui/orgs/{org}/…`,
/// `/ui/defaults/…`), or anywhere for a route without one (bundles). An extractor, so a form
/// is refused before its body is read.
pub(super) struct Writer;

impl<S: Send + Sync> FromRequestParts<S> for Writer {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ui(Caller(principal)) = Viewer::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.status(), e.body_text()))?;
        let param = |name: &str| params.iter().find(|(n, _)| *n == name).map(|(_, v)| v);
        match (param("org"), param("server")) {
            (Some(org), _) => auth::check_write(&principal, &Scope::Org(Slug::parse("org", org)?))?,
            (None, Some(_)) => auth::check_write(&principal, &Scope::Defaults)?,
            (None, None) => auth::check_may_write(&principal)?,
        }
        Ok(Writer)
    }
}

/// A viewer who is a global admin (creating orgs), checked before the form is read.
pub(super) struct GlobalAdmin;

impl<S: Send + Sync> FromRequestParts<S> for GlobalAdmin {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Ui(Caller(principal)) = Viewer::from_request_parts(parts, state).await?;
        auth::check_global_admin(&principal)?;
        Ok(GlobalAdmin)
    }
}
