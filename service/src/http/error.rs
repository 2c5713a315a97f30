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
    /// `version_conflict`, `render_busy`, `render_failed`, `pruned`, `unauthenticated`,
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

fn body(
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
) -> Response {
    let error = ErrorDetail {
        code,
        message,
        field,
    };
    let body = ErrorBody {
        error,
        current_version: None,
    };
    (status, Json(body)).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let error = match self {
            ApiError::BadRequest(status, message) => {
                return body(status, "bad_request", message, None);
            }
            ApiError::RateLimited { subject } => {
                let message = format!("too many requests from {subject}");
                let answer = body(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message, None);
                return ([(header::RETRY_AFTER, RETRY_AFTER_SECONDS)], answer).into_response();
            }
            ApiError::Domain(error) => error,
        };
        match error {
            Error::Invalid(InvalidInput { field, message }) => body(
                StatusCode::BAD_REQUEST,
                "invalid_argument",
                format!("{field}: {message}"),
                Some(field),
            ),
            Error::NotFound(what) => body(
                StatusCode::NOT_FOUND,
                "not_found",
                format!("{what} not found"),
                None,
            ),
            Error::AlreadyExists(what) => body(
                StatusCode::CONFLICT,
                "already_exists",
                format!("{what} already exists"),
                None,
            ),
            e @ Error::Conflict { current, .. } => {
                let error = ErrorDetail {
                    code: "version_conflict",
                    message: e.to_string(),
                    field: Some("expected_version".into()),
                };
                let body = ErrorBody {
                    error,
                    current_version: Some(current),
                };
                (StatusCode::CONFLICT, Json(body)).into_response()
            }
            Error::Render(RenderError::MissingArgument(name)) => body(
                StatusCode::BAD_REQUEST,
                "invalid_argument",
                format!("arguments.{name}: missing argument {name:?}"),
                Some(format!("arguments.{name}")),
            ),
            Error::Render(e @ RenderError::TimedOut(_)) => body(
                StatusCode::SERVICE_UNAVAILABLE,
                "render_busy",
                e.to_string(),
                None,
            ),
            Error::Render(e) => body(
                StatusCode::UNPROCESSABLE_ENTITY,
                "render_failed",
                e.to_string(),
                None,
            ),
            e @ Error::Pruned { .. } => body(StatusCode::GONE, "pruned", e.to_string(), None),
            Error::Unauthenticated(why) => {
                body(StatusCode::UNAUTHORIZED, "unauthenticated", why, None)
            }
            Error::Forbidden(why) => body(StatusCode::FORBIDDEN, "permission_denied", why, None),
            Error::Exhausted(why) => body(StatusCode::TOO_MANY_REQUESTS, "exhausted", why, None),
            Error::Store(e) => {
                tracing::error!(error = %e, "store failed");
                body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "store unavailable".into(),
                    None,
                )
            }
        }
    }
}
