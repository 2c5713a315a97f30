//! The one mapping from the service's [`Error`] to an HTTP response.
//!
//! Every error body is an [`ErrorBody`], `{"error": {"code": …, "message": …, "field": …}}`; a
//! version conflict also carries `current_version`.

use axum::{
    Json,
    extract::rejection::{JsonRejection, PathRejection, QueryRejection, StringRejection},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{domain::InvalidInput, error::Error, render::RenderError};

/// An admin API error.
#[derive(Debug)]
pub enum ApiError {
    Domain(Error),
    /// The request itself could not be read (malformed JSON, unknown field, bad query).
    BadRequest(StatusCode, String),
    /// This token subject is over its admin request rate. Only the HTTP door has the limiter,
    /// so this is not a domain [`Error`]; its answer tells the client when to try again.
    RateLimited {
        subject: String,
    },
    /// A single sign-on that did not happen (the web UI's callback only).
    SignIn(crate::sso::SsoError),
}

/// The body of every error answer of the admin API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
    /// The entry's current version, on a version conflict (`version_conflict`) only.
    #[serde(skip_serializing_if = "Option::is_none")]
    current_version: Option<u64>,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// What kind of error: `bad_request`, `invalid_argument`, `not_found`, `already_exists`,
    /// `version_conflict`, `render_busy`, `render_unavailable`, `render_failed`, `pruned`, `unauthenticated`,
    /// `permission_denied`, `exhausted`, `rate_limited` or `unavailable`.
    code: &'static str,
    message: String,
    /// The input at fault (`slug`, `content.messages[0].text`, `arguments.name`), when one is.
    #[schema(required = true)]
    field: Option<String>,
}

/// Seconds a rate-limited caller is told to wait: the limiter refills at least one request a
/// second, whatever the configured rate.
const RETRY_AFTER_SECONDS: &str = "1";

impl<E: Into<Error>> From<E> for ApiError {
    fn from(error: E) -> Self {
        ApiError::Domain(error.into())
    }
}

/// A body that could not be read: too large and wrong media type keep their status, anything
/// else is a 400.
fn unreadable_body(status: StatusCode, text: String) -> ApiError {
    let status = match status {
        StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE => status,
        _ => StatusCode::BAD_REQUEST,
    };
    ApiError::BadRequest(status, text)
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        unreadable_body(rejection.status(), rejection.body_text())
    }
}

impl From<StringRejection> for ApiError {
    fn from(rejection: StringRejection) -> Self {
        unreadable_body(rejection.status(), rejection.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(StatusCode::BAD_REQUEST, rejection.body_text())
    }
}

/// How an error is answered, whatever the door: the admin API's JSON body and the web UI's
/// error page both come from this.
pub(crate) struct Answer {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// The entry's version now, on a version conflict.
    pub current_version: Option<u64>,
}

impl Answer {
    fn new(status: StatusCode, code: &'static str, message: String, field: Option<String>) -> Self {
        Self {
            status,
            code,
            message,
            field,
            current_version: None,
        }
    }
}

/// The one mapping from the service's [`Error`] to a status, a code and a message.
pub(crate) fn answer(error: Error) -> Answer {
    match error {
        Error::Invalid(InvalidInput { field, message }) => Answer::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("{field}: {message}"),
            Some(field),
        ),
        Error::NotFound(what) => Answer::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
            None,
        ),
        Error::AlreadyExists(what) => Answer::new(
            StatusCode::CONFLICT,
            "already_exists",
            format!("{what} already exists"),
            None,
        ),
        e @ Error::Conflict { current, .. } => Answer {
            current_version: Some(current),
            ..Answer::new(
                StatusCode::CONFLICT,
                "version_conflict",
                e.to_string(),
                Some("expected_version".into()),
            )
        },
        Error::Render(RenderError::MissingArgument(name)) => Answer::new(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            format!("arguments.{name}: missing argument {name:?}"),
            Some(format!("arguments.{name}")),
        ),
        Error::Render(e @ RenderError::TimedOut(_)) => Answer::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "render_busy",
            e.to_string(),
            None,
        ),
        Error::Render(e @ RenderError::Busy(_)) => Answer::new(
            StatusCode::TOO_MANY_REQUESTS,
            "render_busy",
            e.to_string(),
            None,
        ),
        Error::Render(e @ RenderError::Unavailable(_)) => Answer::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "render_unavailable",
            e.to_string(),
            None,
        ),
        Error::Render(e) => Answer::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "render_failed",
            e.to_string(),
            None,
        ),
        e @ Error::Pruned { .. } => Answer::new(StatusCode::GONE, "pruned", e.to_string(), None),
        Error::Refused(why) => Answer::new(StatusCode::CONFLICT, "failed_precondition", why, None),
        Error::Unauthenticated(why) => {
            Answer::new(StatusCode::UNAUTHORIZED, "unauthenticated", why, None)
        }
        Error::Forbidden(why) => Answer::new(StatusCode::FORBIDDEN, "permission_denied", why, None),
        Error::Exhausted(why) => Answer::new(StatusCode::TOO_MANY_REQUESTS, "exhausted", why, None),
        Error::Store(e) => {
            tracing::error!(error = %e, "store failed");
            Answer::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "store unavailable".into(),
                None,
            )
        }
    }
}

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                field: self.field,
            },
            current_version: self.current_version,
        };
        (self.status, Json(body)).into_response()
    }
}

impl ApiError {
    /// How this error is answered (the web UI shows the same status and message).
    pub(crate) fn answer(self) -> Answer {
        match self {
            ApiError::BadRequest(status, message) => {
                Answer::new(status, "bad_request", message, None)
            }
            ApiError::RateLimited { subject } => Answer::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("too many requests from {subject}"),
                None,
            ),
            ApiError::Domain(error) => answer(error),
            ApiError::SignIn(error) => {
                use crate::sso::SsoError;
                let (status, code) = match error {
                    SsoError::Store(error) => return answer(error),
                    SsoError::Unavailable(_) => {
                        (StatusCode::SERVICE_UNAVAILABLE, "sso_unavailable")
                    }
                    SsoError::Refused(_) => (StatusCode::BAD_REQUEST, "sign_in_refused"),
                    SsoError::NoRole(_) => (StatusCode::FORBIDDEN, "no_role"),
                };
                Answer::new(status, code, error.to_string(), None)
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let rate_limited = matches!(self, ApiError::RateLimited { .. });
        let answer = self.answer().into_response();
        if rate_limited {
            ([(header::RETRY_AFTER, RETRY_AFTER_SECONDS)], answer).into_response()
        } else {
            answer
        }
    }
}
