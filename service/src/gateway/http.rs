//! The gateway's HTTP client to upstreams: reqwest with no redirects (an upstream address is
//! the admin's alone, never one the upstream names), bounded connects and https verified
//! against the system's CAs and the operator's own (`--gateway-upstream-ca`). It puts each
//! forwarded request's W3C trace context on its HTTP request — one trace spans client,
//! gateway and upstream — and, with a signing key, a fresh context token on every request.

use std::{collections::HashMap, sync::Arc, time::Duration};

use futures::stream::BoxStream;
use http::{HeaderName, HeaderValue};
use rmcp::{
    model::{ClientJsonRpcMessage, GetMeta, JsonRpcMessage},
    transport::streamable_http_client::{
        SseError, StreamableHttpClient, StreamableHttpError, StreamableHttpPostResponse,
        StreamableHttpResponseLimits,
    },
};
use sse_stream::Sse;

use super::signer::ContextSigner;
use crate::{
    domain::{Scope, Slug, upstream::CONTEXT_TOKEN_HEADER},
    tls::TlsError,
};

/// Longest wait for an upstream's TCP and TLS handshake; the request's own bound is the
/// entry's timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// reqwest, as rmcp's streamable HTTP client, with the gateway's policy.
#[derive(Clone)]
pub struct UpstreamHttp {
    client: reqwest_mcp::Client,
    /// Who a link's requests vouch for, signed anew on each (tokens are short-lived, links not).
    vouched: Option<Arc<Vouched>>,
}

/// The context a link's token names.
pub struct Vouched {
    pub signer: ContextSigner,
    pub scope: Scope,
    pub subject: String,
    pub server: Slug,
}

impl UpstreamHttp {
    /// The client, trusting the system's CAs for https upstreams and those in `extra_roots`
    /// (PEM) too.
    pub fn new(extra_roots: Option<&[u8]>) -> Result<Self, TlsError> {
        let roots = match extra_roots {
            Some(pem) => {
                let roots = reqwest_mcp::Certificate::from_pem_bundle(pem).map_err(|e| {
                    TlsError(format!(
                        "the gateway upstream CA is not PEM certificates: {e}"
                    ))
                })?;
                if roots.is_empty() {
                    return Err(TlsError(
                        "the gateway upstream CA holds no certificate".into(),
                    ));
                }
                roots
            }
            None => Vec::new(),
        };
        let client = reqwest_mcp::Client::builder()
            .redirect(reqwest_mcp::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_certs_merge(roots)
            // As rmcp's own client: a pooled connection whose last response body was not read
            // to its end stalls the next request ~40 ms on delayed ACKs (measured: 46 ms p50
            // per forwarded tool call with pooling, see docs/BENCHMARKS.md).
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| TlsError(format!("the gateway's upstream client: {e}")))?;
        Ok(Self {
            client,
            vouched: None,
        })
    }

    /// The same client for one link, vouching for its caller when there is a signer.
    pub fn vouching(&self, vouched: Option<Vouched>) -> Self {
        Self {
            client: self.client.clone(),
            vouched: vouched.map(Arc::new),
        }
    }

    /// The headers of one POST: the link's, the message's trace context, a fresh token.
    fn headers_of(
        &self,
        message: &ClientJsonRpcMessage,
        headers: HashMap<HeaderName, HeaderValue>,
    ) -> HashMap<HeaderName, HeaderValue> {
        let mut headers = with_trace_headers(message, headers);
        if let Some(v) = &self.vouched
            && let Ok(token) =
                HeaderValue::from_str(&v.signer.sign(&v.scope, &v.subject, &v.server))
        {
            headers.insert(HeaderName::from_static(CONTEXT_TOKEN_HEADER), token);
        }
        headers
    }
}

/// The trace context a message carries in `_meta` (SEP-414), as HTTP headers.
fn with_trace_headers(
    message: &ClientJsonRpcMessage,
    mut headers: HashMap<HeaderName, HeaderValue>,
) -> HashMap<HeaderName, HeaderValue> {
    let JsonRpcMessage::Request(request) = message else {
        return headers;
    };
    let meta = &request.request.get_meta().0;
    for (name, value) in [
        ("traceparent", meta.get_traceparent()),
        ("tracestate", meta.get_tracestate()),
    ] {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(v).ok()) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    headers
}

impl StreamableHttpClient for UpstreamHttp {
    type Error = reqwest_mcp::Error;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let headers = self.headers_of(&message, custom_headers);
        self.client
            .post_message(uri, message, session_id, auth_header, headers)
            .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let headers = self.headers_of(&message, custom_headers);
        self.client
            .post_message_with_max_sse_event_size(
                uri,
                message,
                session_id,
                auth_header,
                headers,
                max_sse_event_size,
            )
            .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, StreamableHttpError<Self::Error>> {
        let headers = self.headers_of(&message, custom_headers);
        self.client
            .post_message_with_response_limits(
                uri,
                message,
                session_id,
                auth_header,
                headers,
                limits,
            )
            .await
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), StreamableHttpError<Self::Error>> {
        self.client
            .delete_session(uri, session_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.client
            .get_stream(uri, session_id, last_event_id, auth_header, custom_headers)
            .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<BoxStream<'static, Result<Sse, SseError>>, StreamableHttpError<Self::Error>> {
        self.client
            .get_stream_with_max_sse_event_size(
                uri,
                session_id,
                last_event_id,
                auth_header,
                custom_headers,
                max_sse_event_size,
            )
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upstream_ca_without_a_certificate_is_refused() {
        for pem in [&b"not a certificate"[..], b""] {
            let refused = UpstreamHttp::new(Some(pem)).err().expect("refused");
            assert!(refused.0.contains("gateway upstream CA"), "{refused}");
        }
        assert!(UpstreamHttp::new(None).is_ok());
    }
}
