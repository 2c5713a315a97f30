//! Which requests the HTTP port answers by their `Host` and `Origin`: the defence against DNS
//! rebinding and against pages of other sites, for every route (admin API, UI, MCP) and every
//! auth mode.
//!
//! A page on `evil.example` whose name the attacker re-points at 127.0.0.1 reaches a local
//! service with `Host: evil.example`: so a `Host` must be an IP literal (a rebinding attack
//! always comes with a name, and probes and in-cluster clients that dial an address keep
//! working), `localhost`, or a name the operator allowed (`--allowed-host`). A page of another
//! site sends its own `Origin`: so a request with an `Origin` must be same-origin (its authority
//! is the `Host`) or allowed (`--allowed-origin`). Clients that are not browsers send no
//! `Origin`.

use std::net::IpAddr;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// The names and origins allowed besides IP literals, `localhost` and same-origin requests.
#[derive(Debug, Clone, Default)]
pub struct AllowedOrigins {
    /// `name` (any port) or `name:port`.
    hosts: Vec<String>,
    /// `scheme://name:port`, the port may be `*`.
    origins: Vec<String>,
}

impl AllowedOrigins {
    pub fn new(hosts: &[String], origins: &[String]) -> Self {
        Self {
            hosts: hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            origins: origins.iter().map(|o| o.to_ascii_lowercase()).collect(),
        }
    }

    /// Why a request with these headers is refused, if it is. `authority` is the request
    /// target's: HTTP/2 carries the host there (`:authority`), with no `Host` header.
    fn refusal(&self, headers: &HeaderMap, authority: Option<&str>) -> Option<String> {
        let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
        // A `Host` that is there but not text is refused, never replaced by the authority.
        let host = match headers.get(header::HOST) {
            Some(host) => host.to_str().unwrap_or(""),
            None => authority.unwrap_or(""),
        }
        .to_ascii_lowercase();
        if !self.host_allowed(&host) {
            return Some(format!(
                "Host {host:?} is not allowed: add it with --allowed-host (MCP_CONFIG_ALLOWED_HOSTS)"
            ));
        }
        let origin = text(header::ORIGIN)?.to_ascii_lowercase();
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        if authority == Some(host.as_str()) || self.origin_allowed(&origin) {
            return None;
        }
        Some(format!(
            "Origin {origin:?} is not allowed: add it with --allowed-origin (MCP_CONFIG_ALLOWED_ORIGINS)"
        ))
    }

    fn host_allowed(&self, host: &str) -> bool {
        let name = name_of(host);
        name.parse::<IpAddr>().is_ok()
            || name == "localhost"
            || self
                .hosts
                .iter()
                .any(|allowed| allowed == host || allowed == name)
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        self.origins
            .iter()
            .any(|allowed| match allowed.strip_suffix(":*") {
                Some(any_port) => {
                    origin == any_port
                        || origin
                            .strip_prefix(any_port)
                            .and_then(|rest| rest.strip_prefix(':'))
                            .is_some_and(|port| port.bytes().all(|b| b.is_ascii_digit()))
                }
                None => allowed == origin,
            })
    }
}

/// The name of `host` without its port (`[::1]:8080` → `::1`).
fn name_of(host: &str) -> &str {
    if let Some(bracketed) = host.strip_prefix('[') {
        return bracketed.split(']').next().unwrap_or("");
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

pub async fn guard(
    State(allowed): State<AllowedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    let authority = request.uri().authority().map(|a| a.as_str());
    match allowed.refusal(request.headers(), authority) {
        Some(why) => (StatusCode::FORBIDDEN, why).into_response(),
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn refused(allowed: &AllowedOrigins, host: &str, origin: Option<&str>) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        allowed.refusal(&headers, None).is_some()
    }

    #[test]
    fn without_a_host_header_the_targets_authority_is_the_host() {
        // HTTP/2 (h2c, or TLS with ALPN h2): the host is the `:authority` pseudo-header.
        let allowed = AllowedOrigins::new(&[], &[]);
        let none = HeaderMap::new();
        assert!(allowed.refusal(&none, Some("127.0.0.1:8080")).is_none());
        assert!(allowed.refusal(&none, Some("evil.example")).is_some());
        assert!(allowed.refusal(&none, None).is_some());
        let mut origin = HeaderMap::new();
        origin.insert(
            header::ORIGIN,
            HeaderValue::from_static("http://evil.example"),
        );
        assert!(allowed.refusal(&origin, Some("localhost:8080")).is_some());
        let mut opaque = HeaderMap::new();
        opaque.insert(header::HOST, HeaderValue::from_bytes(b"\xff").unwrap());
        assert!(allowed.refusal(&opaque, Some("127.0.0.1")).is_some());
    }

    #[test]
    fn names_must_be_allowed_addresses_need_not() {
        let allowed = AllowedOrigins::new(&["config.example.com".into()], &[]);
        for host in [
            "localhost:8080",
            "127.0.0.1:8080",
            "[::1]:8080",
            "10.1.2.3",
            "config.example.com",
            "CONFIG.example.com:443",
        ] {
            assert!(!refused(&allowed, host, None), "{host}");
        }
        for host in [
            "evil.example",
            "evil.example:8080",
            "localhost.evil.example",
            "",
        ] {
            assert!(refused(&allowed, host, None), "{host}");
        }
    }

    #[test]
    fn an_origin_must_be_the_hosts_own_or_allowed() {
        let allowed = AllowedOrigins::new(&[], &["https://app.example.com".into()]);
        let host = "localhost:8080";
        assert!(!refused(&allowed, host, Some("http://localhost:8080")));
        assert!(!refused(&allowed, host, Some("https://app.example.com")));
        assert!(refused(&allowed, host, Some("http://evil.example")));
        assert!(refused(&allowed, host, Some("http://localhost:9999")));
        assert!(refused(&allowed, host, Some("null")));
        let any_port = AllowedOrigins::new(&[], &["http://localhost:*".into()]);
        assert!(!refused(&any_port, host, Some("http://localhost:3000")));
        assert!(refused(&any_port, host, Some("http://localhost.evil:3000")));
    }
}
