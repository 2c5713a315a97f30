//! Who is looking: in mode `jwt` a person signs in by pasting a token, which is verified
//! exactly as an API token is and kept in an HttpOnly, SameSite=Strict cookie scoped to `/ui`
//! that expires with the token. In mode `none` (loopback only) nobody signs in.

use std::time::SystemTime;

use axum::{
    Form,
    extract::{Request, State},
    http::StatusCode,
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use minijinja::context;
use serde::Deserialize;

use super::page::{self, UiError};
use crate::{
    auth::Principal,
    error::Error,
    http::{ApiError, HttpState},
};

const COOKIE: &str = "mcp_config_session";

/// Authenticates a UI request by its session cookie (everyone is anonymous in mode `none`)
/// and holds its subject to the admin API's rate limit; the handlers find the [`Principal`]
/// where the admin API's do.
pub(super) async fn require_sign_in(
    State(state): State<HttpState>,
    jar: CookieJar,
    mut request: Request,
    next: Next,
) -> Response {
    let principal = if state.authenticator.requires_token() {
        match jar
            .get(COOKIE)
            .map(|cookie| principal_of(&state, cookie.value()))
        {
            Some(Ok(principal)) => principal,
            // A missing, expired or no longer valid token: sign in (again).
            _ => return (jar.remove(removal()), Redirect::to("/ui/login")).into_response(),
        }
    } else {
        Principal::anonymous()
    };
    if state.rate_limiter.check_key(&principal.subject).is_err() {
        return UiError::from(ApiError::RateLimited {
            subject: principal.subject,
        })
        .into_response();
    }
    request.extensions_mut().insert(principal.clone());
    super::page::for_viewer(next.run(request).await, &principal)
}

/// The principal of a token a person may sign in with: a valid token that grants a role, and
/// not a service's.
fn principal_of(state: &HttpState, token: &str) -> Result<Principal, Error> {
    let principal = state
        .authenticator
        .authenticate(Some(&format!("Bearer {token}")))?;
    if principal.roles.service {
        return Err(Error::Forbidden(
            "service tokens cannot sign in to the UI".into(),
        ));
    }
    let roles = &principal.roles;
    if !(roles.reader || roles.editor || roles.admin) {
        return Err(Error::Forbidden(
            "this token grants no role (reader, editor or admin), so there is nothing to sign in to"
                .into(),
        ));
    }
    Ok(principal)
}

pub(super) async fn page(State(state): State<HttpState>) -> Result<Response, UiError> {
    if !state.authenticator.requires_token() {
        return Ok(Redirect::to("/ui/").into_response());
    }
    login_page(StatusCode::OK, None)
}

fn login_page(status: StatusCode, problem: Option<String>) -> Result<Response, UiError> {
    let nobody = Principal {
        expires_at: None,
        roles: Default::default(),
        ..Principal::anonymous()
    };
    page::render_with_status(status, "login.html", &nobody, context! { problem })
}

#[derive(Deserialize)]
pub(super) struct SignIn {
    token: String,
}

pub(super) async fn sign_in(
    State(state): State<HttpState>,
    jar: CookieJar,
    Form(form): Form<SignIn>,
) -> Result<Response, UiError> {
    if !state.authenticator.requires_token() {
        return Ok(Redirect::to("/ui/").into_response());
    }
    let token = form.token.trim().to_owned();
    let principal = match principal_of(&state, &token) {
        Ok(principal) => principal,
        Err(e) => {
            let answer = crate::http::error::answer(e);
            return login_page(answer.status, Some(answer.message));
        }
    };
    let lifetime = principal
        .expires_at
        .and_then(|at| at.duration_since(SystemTime::now()).ok())
        .unwrap_or_default();
    let cookie = Cookie::build((COOKIE, token))
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .max_age(time::Duration::seconds(
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        ));
    Ok((jar.add(cookie), Redirect::to("/ui/")).into_response())
}

pub(super) async fn sign_out(jar: CookieJar) -> Response {
    (jar.remove(removal()), Redirect::to("/ui/login")).into_response()
}

/// The cookie as it must be named to be removed (same path).
fn removal() -> Cookie<'static> {
    Cookie::build(COOKIE).path("/ui").build()
}
