//! The one mapping from the service's [`Error`], and the gateway's [`GatewayError`], to an MCP
//! (JSON-RPC) error.
//!
//! The caller's mistakes keep the service's message, which names the argument or entry at
//! fault; the store's failures are logged and answered without their detail.

use rmcp::ErrorData;

use crate::{domain::Kind, error::Error, gateway::GatewayError, render::RenderError};

/// JSON-RPC's server-error range: the upstream could not be reached, timed out, or the call was
/// cancelled — the request is not at fault, and another try may work.
const UPSTREAM_FAILED: i32 = -32010;

/// The MCP error of a forwarded request that failed: the upstream's own error unchanged,
/// anything else naming the server and what went wrong.
pub fn gateway_error(error: GatewayError) -> ErrorData {
    match error {
        GatewayError::Upstream(error) => error,
        e @ GatewayError::NoUpstream(_) => ErrorData::new(
            rmcp::model::ErrorCode::METHOD_NOT_FOUND,
            e.to_string(),
            None,
        ),
        e @ GatewayError::Unexpected(_) => ErrorData::internal_error(e.to_string(), None),
        e => {
            tracing::warn!(error = %e, "forwarding to an upstream failed");
            ErrorData::new(rmcp::model::ErrorCode(UPSTREAM_FAILED), e.to_string(), None)
        }
    }
}

/// The MCP error of `error`, met while answering about `kind`: the spec answers an unknown
/// prompt with invalid-params and an unknown resource with resource-not-found.
pub fn to_error_data(kind: Kind, error: impl Into<Error>) -> ErrorData {
    match error.into() {
        Error::Invalid(invalid) => {
            ErrorData::invalid_params(format!("{}: {}", invalid.field, invalid.message), None)
        }
        Error::NotFound(what) => match kind {
            Kind::Prompts => ErrorData::invalid_params(format!("{what} not found"), None),
            Kind::Resources => ErrorData::resource_not_found(format!("{what} not found"), None),
        },
        Error::Render(RenderError::MissingArgument(name)) => {
            ErrorData::invalid_params(format!("arguments.{name}: missing argument {name:?}"), None)
        }
        Error::Store(e) => {
            tracing::error!(error = %e, "store failed");
            ErrorData::internal_error("store unavailable", None)
        }
        e @ (Error::Unauthenticated(_) | Error::Forbidden(_)) => {
            ErrorData::invalid_request(e.to_string(), None)
        }
        other => ErrorData::internal_error(other.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_argument_is_invalid_params_naming_it() {
        let error = to_error_data(Kind::Prompts, RenderError::MissingArgument("number".into()));
        assert_eq!(error.code, ErrorData::invalid_params("", None).code);
        assert!(error.message.contains("number"), "{}", error.message);
    }

    #[test]
    fn an_unknown_resource_is_resource_not_found() {
        let error = to_error_data(Kind::Resources, Error::NotFound("file:///x".into()));
        assert_eq!(error.code, ErrorData::resource_not_found("", None).code);
    }
}
