//! One MCP client session to an upstream, opened for one downstream session (or one stateless
//! request) and closed with it: requests go up with the caller's context, the upstream's
//! requests and notifications come back down to the same client.
//!
//! JSON-RPC ids are per hop (each side numbers its own requests, and each answer reaches the
//! request it answers); progress tokens are mapped back to the client's own, and a client's
//! cancellation cancels the upstream request.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use http::{HeaderName, HeaderValue, request::Parts};
use rmcp::{
    ErrorData, RoleClient, RoleServer,
    model::{
        ClientCapabilities, ClientConfig, ClientRequest, ClientResult, ErrorCode, Implementation,
        ProgressToken, RequestMetaObject, ServerNotification, ServerRequest, ServerResult,
    },
    service::{
        NotificationContext, Peer, PeerRequestOptions, RequestContext, RunningService, Service,
        ServiceError, ServiceExt, SubscriptionSink,
    },
    transport::{
        StreamableHttpClientTransport,
        streamable_http_client::{StreamableHttpClientTransportConfig, StreamableHttpError},
    },
};

use super::{
    GatewayError,
    http::{UpstreamHttp, Vouched},
    signer::ContextSigner,
};
use crate::domain::{Kind, Scope, Slug, Upstream, upstream};

/// Largest JSON answer or SSE event taken from an upstream: a tool result beyond it fails
/// the call, never the gateway's memory.
pub const MAX_UPSTREAM_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// Requests one link has in flight to its upstream at once.
const MAX_IN_FLIGHT: usize = 16;

/// Who a link speaks for: the caller the gateway authenticated, and the request that opened it.
pub struct Caller<'a> {
    pub scope: &'a Scope,
    pub subject: &'a str,
    pub server: &'a Slug,
    /// The HTTP request that opened the link: its passed headers and (if the entry says so)
    /// its token go to the upstream.
    pub request: Option<&'a Parts>,
}

/// An open session to an upstream.
pub struct Link {
    service: RunningService<RoleClient, Relay>,
    progress: Progress,
    timeout: Duration,
    server: Slug,
}

impl Link {
    /// Opens a session to `upstream` for `caller`, its answers and requests relayed to
    /// `downstream`; bounded by the entry's timeout.
    pub async fn open(
        http: &UpstreamHttp,
        signer: Option<&ContextSigner>,
        upstream: &Upstream,
        caller: Caller<'_>,
        downstream: Downstream,
        capabilities: ClientCapabilities,
    ) -> Result<Self, GatewayError> {
        let progress = Progress::default();
        let relay = Relay {
            downstream,
            progress: progress.clone(),
            info: ClientConfig::new(
                capabilities,
                Implementation::new("mcp-config-gateway", env!("CARGO_PKG_VERSION")),
            ),
            timeout: upstream.timeout(),
        };
        // A listen stream's session is watched (`answers_ping`) and reopened by its owner, who
        // then tells the stream what it may have missed; rmcp's silent re-initialisation of an
        // expired session would hide the gap.
        let expired = match relay.downstream {
            Downstream::Client(_) => ExpiredSession::Reinitialise,
            Downstream::Listen(_) => ExpiredSession::Fail,
        };
        let service = connect(http, signer, upstream, &caller, relay, expired).await?;
        Ok(Self {
            service,
            progress,
            timeout: upstream.timeout(),
            server: caller.server.clone(),
        })
    }

    /// Whether the upstream lists `kind` at all: its capabilities say so.
    pub fn offers(&self, kind: Kind) -> bool {
        offers(self.service.peer(), kind)
    }

    /// Whether the upstream session has ended (the upstream went away): open a new one.
    pub fn is_closed(&self) -> bool {
        self.service.is_closed() || self.service.peer().is_transport_closed()
    }

    /// Whether the upstream still answers on this session, within the entry's timeout: a
    /// session the upstream forgot (it restarted) looks open until something is sent on it.
    pub async fn answers_ping(&self) -> bool {
        let ping = ClientRequest::PingRequest(Default::default());
        let asked = self.service.peer().send_request(ping);
        matches!(tokio::time::timeout(self.timeout, asked).await, Ok(Ok(_)))
    }

    /// Sends `request` up on behalf of the downstream request `context`: with its `_meta`
    /// (trace context, client metadata), its progress reported back under the client's own
    /// token, cancelled when the client cancels, bounded by the entry's timeout.
    pub async fn forward(
        &self,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, GatewayError> {
        let mut meta: RequestMetaObject = context.meta.clone();
        let client_token = meta.get_progress_token();
        if meta.0.get_traceparent().is_none()
            && let Some(parts) = context.extensions.get::<Parts>()
        {
            for name in ["traceparent", "tracestate"] {
                if let Some(value) = parts.headers.get(name).and_then(|v| v.to_str().ok()) {
                    meta.0.0.insert(name.into(), value.into());
                }
            }
        }
        let options = PeerRequestOptions::with_timeout(self.timeout).with_meta(meta);
        let handle = self
            .service
            .peer()
            .send_cancellable_request(request, options)
            .await
            .map_err(|e| self.failed(e))?;
        let upstream_token = handle.progress_token.clone();
        if let Some(token) = &client_token {
            self.progress.map(upstream_token.clone(), token.clone());
        }
        let _unmap = self.progress.unmap_on_drop(upstream_token);
        tokio::select! {
            answer = handle.await_response() => answer.map_err(|e| self.failed(e)),
            () = context.ct.cancelled() => Err(GatewayError::Cancelled),
        }
    }

    /// Tells the upstream something the client announced (its roots changed).
    pub async fn notify(&self, notification: rmcp::model::ClientNotification) {
        if let Err(e) = self.service.peer().send_notification(notification).await {
            tracing::debug!(error = %e, server = %self.server, "the upstream missed a notification");
        }
    }

    fn failed(&self, error: ServiceError) -> GatewayError {
        match error {
            ServiceError::McpError(error) => GatewayError::Upstream(error),
            ServiceError::Timeout { timeout } => GatewayError::TimedOut {
                server: self.server.clone(),
                after: timeout,
            },
            ServiceError::TransportSend(error) => GatewayError::Unavailable {
                server: self.server.clone(),
                detail: told_transport(&error),
            },
            other => GatewayError::Unavailable {
                server: self.server.clone(),
                detail: told(&other),
            },
        }
    }
}

/// Whether the server at the other end of `peer` declared a list of `kind` (unknown: yes).
pub fn offers(peer: &Peer<RoleClient>, kind: Kind) -> bool {
    peer.peer_info().is_none_or(|info| match kind {
        Kind::Prompts => info.capabilities.prompts.is_some(),
        Kind::Resources => info.capabilities.resources.is_some(),
    })
}

/// Opens an MCP client session to `upstream` as `caller`, `client` answering what the upstream
/// asks; with the gateway's context, bounds and client policy, within the entry's timeout.
pub async fn connect<S: Service<RoleClient>>(
    http: &UpstreamHttp,
    signer: Option<&ContextSigner>,
    upstream: &Upstream,
    caller: &Caller<'_>,
    client: S,
    expired: ExpiredSession,
) -> Result<RunningService<RoleClient, S>, GatewayError> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(upstream.url.as_str());
    config.reinit_on_expired_session = matches!(expired, ExpiredSession::Reinitialise);
    config.custom_headers = context_headers(upstream, caller);
    config.max_concurrent_requests = MAX_IN_FLIGHT;
    config.max_json_response_size = MAX_UPSTREAM_MESSAGE_BYTES;
    config.max_sse_event_size = MAX_UPSTREAM_MESSAGE_BYTES;
    if upstream.forward_token {
        config.auth_header = caller
            .request
            .and_then(|r| r.headers.get(http::header::AUTHORIZATION))
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or(v.strip_prefix("bearer ")))
            .map(str::to_owned);
    }
    let vouched = signer.map(|signer| Vouched {
        signer: signer.clone(),
        scope: caller.scope.clone(),
        subject: caller.subject.to_owned(),
        server: caller.server.clone(),
    });
    let transport = StreamableHttpClientTransport::with_client(http.vouching(vouched), config);
    let server = caller.server;
    tokio::time::timeout(upstream.timeout(), client.serve(transport))
        .await
        .map_err(|_| GatewayError::TimedOut {
            server: server.clone(),
            after: upstream.timeout(),
        })?
        .map_err(|e| GatewayError::Unavailable {
            server: server.clone(),
            // rmcp keeps the transport's error beside the message, not as its source.
            detail: match &e {
                rmcp::service::ClientInitializeError::TransportError { error, .. } => {
                    told_transport(error)
                }
                other => told(other),
            },
        })
}

/// The headers every request of a link carries: the gateway's word on who asks (never the
/// caller's: reserved names are not passable), and the caller headers the entry lets pass.
fn context_headers(upstream: &Upstream, caller: &Caller<'_>) -> HashMap<HeaderName, HeaderValue> {
    let mut headers = HashMap::new();
    if let Some(parts) = caller.request {
        for name in &upstream.pass_headers {
            if let (Ok(name), Some(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                parts.headers.get(name.as_str()),
            ) {
                headers.insert(name, value.clone());
            }
        }
    }
    let mut set = |name: &'static str, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    };
    if let Scope::Org(org) = caller.scope {
        set(upstream::CONTEXT_ORG_HEADER, org.as_str());
    }
    set(upstream::CONTEXT_SUBJECT_HEADER, caller.subject);
    headers
}

/// The client's progress token of each upstream request in flight, by the token rmcp gave it
/// upstream.
#[derive(Clone, Default)]
struct Progress(Arc<Mutex<HashMap<ProgressToken, ProgressToken>>>);

impl Progress {
    fn map(&self, upstream: ProgressToken, client: ProgressToken) {
        self.0
            .lock()
            .expect("progress lock")
            .insert(upstream, client);
    }

    fn client_token(&self, upstream: &ProgressToken) -> Option<ProgressToken> {
        self.0.lock().expect("progress lock").get(upstream).cloned()
    }

    fn unmap_on_drop(&self, upstream: ProgressToken) -> Unmap {
        Unmap {
            progress: self.clone(),
            token: upstream,
        }
    }
}

/// Forgets a request's progress token when its forwarding ends, however it ends.
struct Unmap {
    progress: Progress,
    token: ProgressToken,
}

impl Drop for Unmap {
    fn drop(&mut self) {
        self.progress
            .0
            .lock()
            .expect("progress lock")
            .remove(&self.token);
    }
}

/// What a link does when the upstream no longer knows its session (it restarted).
#[derive(Debug, Clone, Copy)]
pub enum ExpiredSession {
    /// Opens a new one and goes on (rmcp's own reinitialisation).
    Reinitialise,
    /// Fails the request: the link's owner reopens it and knows there was a gap.
    Fail,
}

/// Where a link's upstream traffic goes down to.
#[derive(Clone)]
pub enum Downstream {
    /// A legacy session or a stateless request: the upstream's requests (sampling,
    /// elicitation, roots, ping) are asked of the client, its notifications told.
    Client(Peer<RoleServer>),
    /// A `subscriptions/listen` stream (2026-07-28): the upstream's notifications the stream
    /// accepted go down it; it answers no requests but pings (its link asks for no client
    /// capability, so an upstream has nothing else to ask).
    Listen(SubscriptionSink),
}

/// The client side of a link: what the upstream asks of the client (sampling, elicitation,
/// roots, ping) is asked of the downstream client, and what it announces is announced to it.
pub struct Relay {
    downstream: Downstream,
    progress: Progress,
    info: ClientConfig,
    timeout: Duration,
}

impl Service<RoleClient> for Relay {
    async fn handle_request(
        &self,
        request: ServerRequest,
        context: RequestContext<RoleClient>,
    ) -> Result<ClientResult, ErrorData> {
        let downstream = match &self.downstream {
            Downstream::Client(peer) => peer,
            Downstream::Listen(_) => {
                return match request {
                    ServerRequest::PingRequest(_) => Ok(ClientResult::empty(())),
                    _ => Err(ErrorData::new(
                        ErrorCode::METHOD_NOT_FOUND,
                        "a listen stream answers no requests",
                        None,
                    )),
                };
            }
        };
        let options = PeerRequestOptions::with_timeout(self.timeout);
        let handle = downstream
            .send_cancellable_request(request, options)
            .await
            .map_err(client_failed)?;
        tokio::select! {
            answer = handle.await_response() => answer.map_err(client_failed),
            () = context.ct.cancelled() => Err(ErrorData::internal_error("cancelled by the upstream", None)),
        }
    }

    async fn handle_notification(
        &self,
        notification: ServerNotification,
        _context: NotificationContext<RoleClient>,
    ) -> Result<(), ErrorData> {
        let notification = match notification {
            ServerNotification::ProgressNotification(mut progress) => {
                // Progress of a request no client asked about (or one already answered).
                let Some(token) = self.progress.client_token(&progress.params.progress_token)
                else {
                    return Ok(());
                };
                progress.params.progress_token = token;
                ServerNotification::ProgressNotification(progress)
            }
            // The upstream cancelling its own request is handled by rmcp (`context.ct`).
            ServerNotification::CancelledNotification(_) => return Ok(()),
            other => other,
        };
        match &self.downstream {
            // A client that went away is the session's end, not the upstream's error.
            Downstream::Client(peer) => {
                let _ = peer.send_notification(notification).await;
            }
            // A listen link subscribes to none of the upstream's resources: an update would
            // be the upstream speaking for a URI the stream subscribed to at mcp-config.
            Downstream::Listen(_)
                if matches!(
                    notification,
                    ServerNotification::ResourceUpdatedNotification(_)
                ) => {}
            // What the stream did not accept (tools when it asked for prompts, log messages,
            // which 2026-07-28 streams do not carry) is not for it.
            Downstream::Listen(sink) => {
                if let Err(e) = sink.send(notification).await {
                    tracing::debug!(error = %e, "an upstream notification the listen stream does not take");
                }
            }
        }
        Ok(())
    }

    fn get_info(&self) -> ClientConfig {
        self.info.clone()
    }
}

/// The part of an rmcp transport error a client can act on ("unexpected server response: HTTP
/// 307 …"), without the transport's type names that wrap it.
/// What went wrong, as the caller is told it: the error without rmcp's wrappers, then each
/// cause it does not already say — the one that matters (an untrusted certificate, a refused
/// connection) is often only in the chain.
fn told(error: &dyn std::error::Error) -> String {
    let mut told = innermost(&error.to_string());
    let mut cause = error.source();
    while let Some(error) = cause {
        let said = innermost(&error.to_string());
        if !told.contains(&said) {
            told = format!("{told}: {said}");
        }
        cause = error.source();
    }
    told
}

/// [`told`] of a transport's error, from the HTTP client's own error where there is one: rmcp
/// holds it as its message's argument, not as its source.
fn told_transport(error: &rmcp::transport::DynamicTransportError) -> String {
    match error
        .error
        .downcast_ref::<StreamableHttpError<reqwest_mcp::Error>>()
    {
        Some(StreamableHttpError::Client(client)) => {
            let told = told(client);
            // reqwest names the URL; its query may hold what the admin keeps out of logs.
            match client.url().filter(|url| url.query().is_some()) {
                Some(url) => {
                    let mut bare = url.clone();
                    bare.set_query(None);
                    told.replace(url.as_str(), bare.as_str())
                }
                None => told,
            }
        }
        _ => told(error),
    }
}

fn innermost(message: &str) -> String {
    let inner = message.rsplit("] error: ").next().unwrap_or(message);
    let inner = inner.split(", when send").next().unwrap_or(inner);
    inner.trim().to_owned()
}

fn client_failed(error: ServiceError) -> ErrorData {
    match error {
        ServiceError::McpError(error) => error,
        other => ErrorData::internal_error(format!("the client did not answer: {other}"), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transport_error_is_told_without_its_wrappers() {
        let raw = "Send message error Transport [rmcp::transport::worker::WorkerTransport<X<Y>>] error: unexpected server response: HTTP 307 Temporary Redirect: , when send initialize request";
        assert_eq!(
            innermost(raw),
            "unexpected server response: HTTP 307 Temporary Redirect:"
        );
        assert_eq!(innermost("connection refused"), "connection refused");
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{said}")]
    struct Chained {
        said: &'static str,
        #[source]
        cause: Option<Box<Chained>>,
    }

    #[test]
    fn a_cause_the_error_does_not_say_is_told_too() {
        let chain = |said, cause| Chained { said, cause };
        let certificate = chain("invalid peer certificate: UnknownIssuer", None);
        let client = chain(
            "error sending request for url (https://tools:8443/mcp)",
            Some(Box::new(chain(
                "client error (Connect)",
                Some(Box::new(certificate)),
            ))),
        );
        assert_eq!(
            told(&client),
            "error sending request for url (https://tools:8443/mcp): client error (Connect): \
             invalid peer certificate: UnknownIssuer"
        );
        let repeated = chain(
            "connection refused (os error 111)",
            Some(Box::new(chain("connection refused", None))),
        );
        assert_eq!(told(&repeated), "connection refused (os error 111)");
    }
}
