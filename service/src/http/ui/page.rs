//! Pages: the templates (embedded in the binary), what every page knows about who is looking,
//! and the error page every refusal becomes.

use std::sync::LazyLock;

use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};
use minijinja::{Environment, Value, context};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use crate::{
    auth::{self, Principal},
    domain::{EntryId, Scope},
    error::Error,
    http::{ApiError, error::Answer},
};

/// A template per page and per fragment that htmx swaps in.
const TEMPLATES: [(&str, &str); 33] = [
    ("base.html", include_str!("templates/base.html")),
    ("error.html", include_str!("templates/error.html")),
    ("login.html", include_str!("templates/login.html")),
    ("moving_on.html", include_str!("templates/moving_on.html")),
    ("overview.html", include_str!("templates/overview.html")),
    ("scope.html", include_str!("templates/scope.html")),
    ("entry.html", include_str!("templates/entry.html")),
    ("content.html", include_str!("templates/content.html")),
    ("edit.html", include_str!("templates/edit.html")),
    ("lint.html", include_str!("templates/lint.html")),
    ("review.html", include_str!("templates/review.html")),
    ("conflict.html", include_str!("templates/conflict.html")),
    ("save.html", include_str!("templates/save.html")),
    ("diff.html", include_str!("templates/diff.html")),
    ("history.html", include_str!("templates/history.html")),
    ("compare.html", include_str!("templates/compare.html")),
    ("rollback.html", include_str!("templates/rollback.html")),
    ("labels.html", include_str!("templates/labels.html")),
    ("promote.html", include_str!("templates/promote.html")),
    ("playground.html", include_str!("templates/playground.html")),
    ("rendered.html", include_str!("templates/rendered.html")),
    ("delete.html", include_str!("templates/delete.html")),
    ("bundle.html", include_str!("templates/bundle.html")),
    ("changes.html", include_str!("templates/changes.html")),
    ("orgs.html", include_str!("templates/orgs.html")),
    ("upstreams.html", include_str!("templates/upstreams.html")),
    ("webhooks.html", include_str!("templates/webhooks.html")),
    ("webhook.html", include_str!("templates/webhook.html")),
    ("upstream.html", include_str!("templates/upstream.html")),
    (
        "change_requests.html",
        include_str!("templates/change_requests.html"),
    ),
    (
        "change_request.html",
        include_str!("templates/change_request.html"),
    ),
    ("overrides.html", include_str!("templates/overrides.html")),
    ("listeners.html", include_str!("templates/listeners.html")),
];

/// What a path segment may hold unescaped (RFC 3986 unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

static ENVIRONMENT: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    // Every `.html` template escapes what it prints: stored content is shown, never run.
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env.add_filter("segment", |value: String| {
        utf8_percent_encode(&value, SEGMENT).to_string()
    });
    env.add_filter("datetime", datetime);
    env
});

/// Milliseconds since the Unix epoch as a UTC date and time a person reads.
fn datetime(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// What every page knows about who is looking, for its navigation and its controls.
fn viewer(principal: &Principal) -> Value {
    context! {
        subject => principal.subject.clone(),
        signed_in => principal.expires_at.is_some(),
        global_admin => auth::check_global_admin(principal).is_ok(),
        admin => principal.roles.admin,
        writer => auth::check_may_write(principal).is_ok(),
        org => principal.org.as_ref().map(|o| o.as_str().to_owned()),
    }
}

/// Whether `principal` sees the controls that change `scope`.
pub(super) fn may_write(principal: &Principal, scope: &Scope) -> bool {
    auth::check_write(principal, scope).is_ok()
}

/// The UI path of a scope's server: `/ui/defaults/{server}` or `/ui/orgs/{org}/{server}`.
pub(super) fn server_path(scope: &Scope, server: &str) -> String {
    match scope {
        Scope::Defaults => format!("/ui/defaults/{server}"),
        Scope::Org(org) => format!("/ui/orgs/{org}/{server}"),
    }
}

/// An entry's UI path.
pub(super) fn entry_path(scope: &Scope, server: &str, kind: &str, key: &str) -> String {
    format!(
        "{}/{kind}/{}",
        server_path(scope, server),
        utf8_percent_encode(key, SEGMENT)
    )
}

/// An entry's UI path, from its id.
pub(super) fn path_of(id: &EntryId) -> String {
    entry_path(
        &id.scope,
        id.server.as_str(),
        id.kind.segment(),
        id.key.as_str(),
    )
}

/// Renders `template` for `principal` with `context`.
pub(super) fn render(
    template: &str,
    principal: &Principal,
    context: Value,
) -> Result<Response, UiError> {
    render_with_status(StatusCode::OK, template, principal, context)
}

pub(super) fn render_with_status(
    status: StatusCode,
    template: &str,
    principal: &Principal,
    context: Value,
) -> Result<Response, UiError> {
    let context = context! { viewer => viewer(principal), ..context };
    let html = ENVIRONMENT
        .get_template(template)
        .and_then(|t| t.render(context))
        .map_err(|e| UiError::Template(e.to_string()))?;
    Ok((status, Html(html)).into_response())
}

/// Anything a UI request ends with instead of its page: shown as an error page with the
/// status and message the admin API would give.
#[derive(Debug)]
pub enum UiError {
    Answer(StatusCode, String),
    Template(String),
}

impl<E: Into<Error>> From<E> for UiError {
    fn from(error: E) -> Self {
        ApiError::Domain(error.into()).into()
    }
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> Self {
        let Answer {
            status, message, ..
        } = error.answer();
        UiError::Answer(status, message)
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            UiError::Answer(status, message) => (status, message),
            UiError::Template(e) => {
                tracing::error!(error = %e, "a UI template failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page failed to render".into(),
                )
            }
        };
        let page = ErrorPage { status, message };
        let mut response = page.render(None);
        response.extensions_mut().insert(page);
        response
    }
}

/// An error page's status and message, carried on its response so that the sign-in layer,
/// which knows who is looking, renders it again with the viewer's menu (an error page keeps
/// the navigation of every other page).
#[derive(Debug, Clone)]
pub(super) struct ErrorPage {
    status: StatusCode,
    message: String,
}

impl ErrorPage {
    fn render(&self, principal: Option<&Principal>) -> Response {
        let html = ENVIRONMENT
            .get_template("error.html")
            .and_then(|t| {
                t.render(context! {
                    status => self.status.as_u16(),
                    message => self.message.clone(),
                    viewer => principal.map(viewer),
                })
            })
            .unwrap_or_else(|_| "error".into());
        (self.status, Html(html)).into_response()
    }
}

/// `response` as `principal` sees it: an error page rendered again with their menu.
pub(super) fn for_viewer(response: Response, principal: &Principal) -> Response {
    match response.extensions().get::<ErrorPage>() {
        Some(page) => {
            let mut again = page.render(Some(principal));
            for (name, value) in response.headers() {
                if name != axum::http::header::CONTENT_LENGTH
                    && name != axum::http::header::CONTENT_TYPE
                {
                    again.headers_mut().append(name.clone(), value.clone());
                }
            }
            again
        }
        None => response,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_template_compiles() {
        for (name, _) in super::TEMPLATES {
            assert!(super::ENVIRONMENT.get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn keys_become_one_path_segment() {
        let scope = crate::domain::Scope::Defaults;
        assert_eq!(
            super::entry_path(&scope, "docs", "resources", "file:///a b.md"),
            "/ui/defaults/docs/resources/file%3A%2F%2F%2Fa%20b.md"
        );
        assert_eq!(super::datetime(0), "1970-01-01 00:00:00 UTC");
    }
}
