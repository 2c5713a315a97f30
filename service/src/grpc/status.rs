//! The one mapping from the service's [`Error`] to a gRPC [`Status`].

use tonic::{Code, Status};

use crate::{domain::InvalidInput, error::Error, render::RenderError};

pub fn to_status(error: impl Into<Error>) -> Status {
    match error.into() {
        Error::Invalid(InvalidInput { field, message }) => {
            Status::invalid_argument(format!("{field}: {message}"))
        }
        Error::NotFound(what) => Status::not_found(format!("{what} not found")),
        Error::AlreadyExists(what) => Status::already_exists(format!("{what} already exists")),
        Error::Conflict { expected, current } => Status::aborted(format!(
            "version conflict: expected version {expected}, current version is {current}"
        )),
        Error::Render(RenderError::MissingArgument(name)) => {
            Status::invalid_argument(format!("arguments.{name}: missing argument {name:?}"))
        }
        Error::Render(e @ RenderError::Template { .. }) => {
            Status::failed_precondition(e.to_string())
        }
        Error::Render(e @ RenderError::Unavailable(_)) => {
            Status::new(Code::Unavailable, e.to_string())
        }
        Error::Render(e) => Status::new(Code::ResourceExhausted, e.to_string()),
        e @ Error::Pruned { .. } => Status::out_of_range(e.to_string()),
        Error::Refused(why) => Status::failed_precondition(why),
        Error::Unauthenticated(why) => Status::unauthenticated(why),
        Error::Forbidden(why) => Status::permission_denied(why),
        Error::Exhausted(why) => Status::resource_exhausted(why),
        Error::Store(e) => {
            tracing::error!(error = %e, "store failed");
            Status::unavailable("store unavailable")
        }
    }
}
