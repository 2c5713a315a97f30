//! The gateway's registry entry: where `/mcp/{server}` forwards what mcp-config does not answer
//! itself (tools, the upstream's own prompts and resources, its requests to the client), and
//! what of the caller may go with it.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::InvalidInput;

/// A forwarded request's time bound when the entry names none.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The longest time bound an entry may set: a tool may run long, but never unbounded.
pub const MAX_TIMEOUT_MS: u64 = 300_000;
/// Most caller headers an entry may pass on.
pub const MAX_PASS_HEADERS: usize = 32;
/// Longest upstream URL accepted.
const MAX_URL_LEN: usize = 2048;

/// Headers the gateway sets or owns itself; the caller's never pass, whatever an entry says.
/// The org and subject headers are the gateway's word to the upstream: a client that sends one
/// must not be believed (the gateway strips it by never copying it).
pub const RESERVED_HEADERS: &[&str] = &[
    "accept",
    "authorization",
    "connection",
    "content-length",
    "content-type",
    "cookie",
    "host",
    "keep-alive",
    "last-event-id",
    "mcp-protocol-version",
    "mcp-session-id",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "x-org-id",
    CONTEXT_ORG_HEADER,
    CONTEXT_SUBJECT_HEADER,
    CONTEXT_TOKEN_HEADER,
    "traceparent",
    "tracestate",
];

/// The org the caller's request was decided for (absent for the defaults).
pub const CONTEXT_ORG_HEADER: &str = "x-mcp-config-org";
/// The caller's token subject.
pub const CONTEXT_SUBJECT_HEADER: &str = "x-mcp-config-subject";
/// A short-lived token the gateway signs, naming org, subject and server, for an upstream that
/// verifies rather than trusts headers (sent when the service has a signing key).
pub const CONTEXT_TOKEN_HEADER: &str = "x-mcp-config-context";

/// One server's upstream, as an admin sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// The upstream's streamable HTTP endpoint: `http` or `https` (verified against the system's
    /// CAs and `MCP_CONFIG_GATEWAY_UPSTREAM_CA`), no credentials in it.
    #[schema(example = "http://github-mcp.tools.svc:3000/mcp")]
    pub url: String,
    /// Longest a forwarded request may take, in milliseconds (1..=300000).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Caller headers passed on to the upstream, by name (lowercase; never the reserved ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pass_headers: Vec<String>,
    /// Whether the caller's own `Authorization` goes to the upstream too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forward_token: bool,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

impl Upstream {
    /// Checks every field, naming the first bad one; a checked entry is what the store keeps.
    pub fn check(&self) -> Result<(), InvalidInput> {
        check_url(&self.url)?;
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(InvalidInput::new(
                "timeout_ms",
                format!("must be 1..={MAX_TIMEOUT_MS}"),
            ));
        }
        if self.pass_headers.len() > MAX_PASS_HEADERS {
            return Err(InvalidInput::new(
                "pass_headers",
                format!("at most {MAX_PASS_HEADERS} headers"),
            ));
        }
        for (i, name) in self.pass_headers.iter().enumerate() {
            check_pass_header(name).map_err(|message| {
                InvalidInput::new(format!("pass_headers[{i}]"), format!("{name:?} {message}"))
            })?;
        }
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

fn check_url(raw: &str) -> Result<(), InvalidInput> {
    let invalid = |message: &str| InvalidInput::new("url", message);
    if raw.len() > MAX_URL_LEN {
        return Err(invalid(&format!("longer than {MAX_URL_LEN} bytes")));
    }
    let url = url::Url::parse(raw).map_err(|e| invalid(&format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(
            "must be http or https (stdio upstreams are not served)",
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "must not hold credentials (they would show in every export)",
        ));
    }
    if url.fragment().is_some() {
        return Err(invalid("must not have a #fragment"));
    }
    Ok(())
}

fn check_pass_header(name: &str) -> Result<(), &'static str> {
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err("is not a header name");
    }
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err("must be lowercase");
    }
    if RESERVED_HEADERS.contains(&name) || name.starts_with("proxy-") || name.starts_with("sec-") {
        return Err("is set by the gateway itself and never passed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(url: &str) -> Upstream {
        Upstream {
            url: url.into(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            pass_headers: Vec::new(),
            forward_token: false,
        }
    }

    fn refused_field(upstream: &Upstream) -> String {
        match upstream.check() {
            Ok(()) => format!("accepted: {}", upstream.url),
            Err(e) => e.field,
        }
    }

    #[test]
    fn an_http_endpoint_is_accepted() {
        assert!(upstream("http://127.0.0.1:3000/mcp").check().is_ok());
        assert!(upstream("http://tools.example.com/mcp?x=1").check().is_ok());
        assert!(upstream("https://tools.example.com/mcp").check().is_ok());
    }

    #[test]
    fn urls_without_a_host_with_credentials_or_of_another_scheme_are_refused() {
        for url in [
            "ftp://example.com/mcp",
            "file:///etc/passwd",
            "http://user:secret@example.com/mcp",
            "http://example.com/mcp#top",
            "not a url",
            "stdio:server",
        ] {
            assert_eq!(refused_field(&upstream(url)), "url", "{url}");
        }
    }

    #[test]
    fn the_timeout_is_bounded() {
        let mut entry = upstream("http://a/mcp");
        entry.timeout_ms = 0;
        assert_eq!(refused_field(&entry), "timeout_ms");
        entry.timeout_ms = MAX_TIMEOUT_MS + 1;
        assert_eq!(refused_field(&entry), "timeout_ms");
    }

    #[test]
    fn reserved_or_malformed_headers_cannot_be_passed() {
        for name in [
            "x-org-id",
            "x-mcp-config-org",
            "authorization",
            "Cookie",
            "proxy-foo",
            "bad header",
            "traceparent",
        ] {
            let mut entry = upstream("http://a/mcp");
            entry.pass_headers = vec!["x-request-id".into(), name.into()];
            assert_eq!(refused_field(&entry), "pass_headers[1]", "{name}");
        }
    }

    #[test]
    fn a_missing_timeout_is_the_default_and_unknown_fields_are_refused() {
        let entry: Upstream = serde_json::from_str(r#"{"url": "http://a/mcp"}"#).unwrap();
        assert_eq!(entry.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert!(serde_json::from_str::<Upstream>(r#"{"url": "http://a/mcp", "x": 1}"#).is_err());
    }
}
