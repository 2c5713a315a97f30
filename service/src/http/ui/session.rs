//! Who is looking. In mode `jwt` a person signs in either by pasting a token, verified exactly
//! as an API token is and kept in an HttpOnly, SameSite=Strict cookie that expires with it, or
//! with single sign-on ([`crate::sso`]), which opens a server-side session whose random id is
//! such a cookie. In mode `none` (loopback only) nobody signs in.
//!
//! Only the cookie that must come back with the identity provider's redirect, the sign-in's
//! state, is SameSite=Lax (and scoped to the callback, for ten minutes). The callback answers
//! with a page that moves on to the overview itself, so the Strict session cookie it sets is
//! sent from then on.

use std::time::{Duration, SystemTime};

use axum::{
    Form,
    extract::{Query, Request, State},
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
    sso::{ATTEMPT_LIFETIME, Callback, Sso},
};

/// The pasted token.
const TOKEN_COOKIE: &str = "mcp_config_session";
/// A single sign-on session's id.
const SESSION_COOKIE: &str = "mcp_config_sso";
/// A single sign-on under way: its state, until the callback.
const STATE_COOKIE: &str = "mcp_config_sign_in";
const STATE_COOKIE_PATH: &str = "/ui/login/oidc";

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
        match signed_in(&state, &jar).await {
            Ok(Some(principal)) => principal,
            Ok(None) => return sign_in_again(jar),
            Err(error) => return UiError::from(ApiError::Domain(error)).into_response(),
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

/// The principal of the request's session: a single sign-on session that is open, or a pasted
/// token that is still valid. `None`: sign in (again).
async fn signed_in(state: &HttpState, jar: &CookieJar) -> Result<Option<Principal>, Error> {
    if let (Some(sso), Some(cookie)) = (&state.sso, jar.get(SESSION_COOKIE)) {
        return sso.session(cookie.value()).await;
    }
    Ok(jar
        .get(TOKEN_COOKIE)
        .and_then(|cookie| principal_of(state, cookie.value()).ok()))
}

fn sign_in_again(jar: CookieJar) -> Response {
    let jar = jar
        .remove(removal(TOKEN_COOKIE, "/ui"))
        .remove(removal(SESSION_COOKIE, "/ui"));
    (jar, Redirect::to("/ui/login")).into_response()
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
    login_page(&state, StatusCode::OK, None)
}

/// The sign-in page: single sign-on first where it is configured (with why it is unavailable,
/// if it is), then the token form.
fn login_page(
    state: &HttpState,
    status: StatusCode,
    problem: Option<String>,
) -> Result<Response, UiError> {
    let nobody = Principal::nobody();
    let sso = state.sso.as_ref().map(|sso| {
        let unavailable = sso.unavailable().map(|e| e.to_string());
        context! { name => sso.config().name.clone(), unavailable }
    });
    page::render_with_status(status, "login.html", &nobody, context! { problem, sso })
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
            return login_page(&state, answer.status, Some(answer.message));
        }
    };
    let lifetime = principal
        .expires_at
        .and_then(|at| at.duration_since(SystemTime::now()).ok())
        .unwrap_or_default();
    let jar = end_session(&state, jar).await?.0;
    let cookie = strict(&state, TOKEN_COOKIE, token, lifetime);
    Ok((jar.add(cookie), Redirect::to("/ui/")).into_response())
}

/// Starts a single sign-on: the browser goes to the provider, carrying the state in a Lax
/// cookie that comes back with the provider's redirect.
pub(super) async fn start_sso(
    State(state): State<HttpState>,
    jar: CookieJar,
) -> Result<Response, UiError> {
    let sso = configured(&state)?;
    let started = match sso.begin().await {
        Ok(started) => started,
        Err(error) => return refused(&state, jar, error),
    };
    // A new sign-in ends the session this browser has: the callback, reached from the
    // provider's site, does not see its Strict cookie.
    let (jar, _) = end_session(&state, jar).await?;
    let cookie = Cookie::build((STATE_COOKIE, started.state))
        .path(STATE_COOKIE_PATH)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure(&state))
        .max_age(seconds(ATTEMPT_LIFETIME));
    Ok((
        jar.add(cookie),
        Redirect::to(started.authorize_url.as_str()),
    )
        .into_response())
}

/// The provider's redirect back: finishes the sign-in and opens a session under a new id (the
/// one this browser had was ended when the sign-in started), or says why not.
pub(super) async fn finish_sso(
    State(state): State<HttpState>,
    jar: CookieJar,
    Query(callback): Query<Callback>,
) -> Result<Response, UiError> {
    let sso = configured(&state)?;
    let started = jar.get(STATE_COOKIE).map(|c| c.value().to_owned());
    let jar = jar.remove(removal(STATE_COOKIE, STATE_COOKIE_PATH));
    let opened = match sso.finish(callback, started.as_deref()).await {
        Ok(opened) => opened,
        Err(error) => return refused(&state, jar, error),
    };
    let jar = jar.remove(removal(TOKEN_COOKIE, "/ui")).add(strict(
        &state,
        SESSION_COOKIE,
        opened.id,
        opened.lifetime,
    ));
    let page = moving_on(
        &opened.principal,
        "Signed in",
        format!("Signed in as {}.", opened.principal.subject),
        "/ui/",
        "Continue to the overview",
    )?;
    Ok((jar, page).into_response())
}

/// Ends the session: the single sign-on session is deleted (and the provider's ended too,
/// where it supports that), a pasted token's cookie forgotten.
pub(super) async fn sign_out(
    State(state): State<HttpState>,
    jar: CookieJar,
) -> Result<Response, UiError> {
    let (jar, provider_logout) = end_session(&state, jar).await?;
    let jar = jar.remove(removal(TOKEN_COOKIE, "/ui"));
    let Some(provider_logout) = provider_logout else {
        return Ok((jar, Redirect::to("/ui/login")).into_response());
    };
    // A page, not a redirect: the UI's forms may only lead to the UI (`form-action 'self'`).
    let page = moving_on(
        &Principal::nobody(),
        "Signed out",
        "Signed out here; now at your identity provider.".to_owned(),
        provider_logout.as_str(),
        "Continue to sign out there",
    )?;
    Ok((jar, page).into_response())
}

/// A page that moves the browser on to `next` by itself (a meta refresh), with a link for
/// when it does not.
fn moving_on(
    viewer: &Principal,
    heading: &str,
    message: String,
    next: &str,
    next_label: &str,
) -> Result<Response, UiError> {
    page::render(
        "moving_on.html",
        viewer,
        context! { heading, message, next, next_label },
    )
}

/// Deletes this browser's single sign-on session, if it has one; answers where the provider
/// ends its own.
async fn end_session(
    state: &HttpState,
    jar: CookieJar,
) -> Result<(CookieJar, Option<url::Url>), UiError> {
    let (Some(sso), Some(cookie)) = (&state.sso, jar.get(SESSION_COOKIE)) else {
        return Ok((jar, None));
    };
    let provider_logout = sso
        .sign_out(cookie.value())
        .await
        .map_err(|e| UiError::from(ApiError::Domain(e)))?;
    Ok((jar.remove(removal(SESSION_COOKIE, "/ui")), provider_logout))
}

fn configured(state: &HttpState) -> Result<&Sso, UiError> {
    state.sso.as_ref().ok_or_else(|| {
        UiError::from(ApiError::Domain(Error::NotFound(
            "single sign-on (no OpenID provider is configured)".into(),
        )))
    })
}

/// The sign-in page again, saying why single sign-on did not happen.
fn refused(
    state: &HttpState,
    jar: CookieJar,
    error: crate::sso::SsoError,
) -> Result<Response, UiError> {
    let answer = ApiError::SignIn(error).answer();
    // Anyone may send a callback: refusals are noted, not alarms (the provider's own
    // failures are logged where they happen, with their cause).
    tracing::info!(status = %answer.status, message = %answer.message, "a sign-in did not happen");
    Ok((jar, login_page(state, answer.status, Some(answer.message))?).into_response())
}

fn secure(state: &HttpState) -> bool {
    state.secure_cookies || state.sso.as_ref().is_some_and(|sso| sso.config().https)
}

/// A session cookie: HttpOnly, SameSite=Strict, for the UI's paths, for `lifetime`.
fn strict(
    state: &HttpState,
    name: &'static str,
    value: String,
    lifetime: Duration,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/ui")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .max_age(seconds(lifetime))
        .build()
}

fn seconds(duration: Duration) -> time::Duration {
    time::Duration::seconds(i64::try_from(duration.as_secs()).unwrap_or(i64::MAX))
}

/// A cookie as it must be named to be removed (same path).
fn removal(name: &'static str, path: &'static str) -> Cookie<'static> {
    Cookie::build(name).path(path).build()
}
