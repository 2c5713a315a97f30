//! The client's errors as MCP errors (the messages themselves convert in
//! `mcp_config_proto::mcp`).

use mcp_config_client::ClientError;
use rmcp::ErrorData;
use tonic::Code;

/// The MCP error a failed mcp-config call becomes: the caller's mistakes keep the service's
/// message (it names the argument or entry), an outage is an internal error.
pub fn error(error: ClientError) -> ErrorData {
    match error {
        ClientError::Rejected(status) => {
            let message = status.message().to_owned();
            match status.code() {
                Code::NotFound => ErrorData::resource_not_found(message, None),
                Code::InvalidArgument | Code::OutOfRange => {
                    ErrorData::invalid_params(message, None)
                }
                Code::PermissionDenied | Code::Unauthenticated => {
                    ErrorData::invalid_request(message, None)
                }
                _ => ErrorData::internal_error(message, None),
            }
        }
        other => ErrorData::internal_error(other.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejected_requests_keep_the_service_message() {
        let not_found = error(ClientError::Rejected(tonic::Status::not_found(
            "no prompt `nope`",
        )));
        assert_eq!(not_found.message, "no prompt `nope`");
        let missing = error(ClientError::Rejected(tonic::Status::invalid_argument(
            "arguments.number: missing",
        )));
        assert_eq!(missing.code, ErrorData::invalid_params("", None).code);
    }
}
