//! `prompts/list` and `resources/list`: mcp-config's own pages of them, and the stateless
//! requests answered from their JSON encoded once per view, page and revision.
//!
//! A stateless list request is most of an MCP server's traffic, and rmcp's pipeline for it (a
//! service loop per request, the typed result converted and serialised each time) cost more
//! than half the rate `GetPrompts` reaches on the same view. The requests that need nothing
//! of that pipeline are answered ahead of it here: the current protocol's per-request form
//! (its `_meta` complete and agreeing with `MCP-Protocol-Version`, `Mcp-Method` naming the
//! body's method), no session, a server without an upstream, a view that reads. Anything
//! else, and every error, goes on to rmcp unchanged, so it still decides what is valid and
//! how a refusal reads; the answers are the same bytes rmcp would send (a test holds them
//! equal).

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderMap, Method, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use mcp_config_proto::{
    mcp,
    v1::{GetPromptsResponse, GetResourcesResponse},
};
use moka::future::Cache;
use prost::Message;
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, GetMeta, ListPromptsResult, ListResourcesResult, Prompt,
    ProtocolVersion, Resource, ServerResult,
};

use rmcp::ErrorData;

use super::{caller::Audience, error::to_error_data};
use crate::{
    domain::{Kind, Revision, ViewKey},
    gateway::Gateway,
    views::Views,
    wire::EncodedView,
};

/// Items per page of `prompts/list` and `resources/list`: clients follow `nextCursor`.
pub const PAGE_SIZE: usize = 100;

/// The bytes of encoded list answers kept per replica: a page is at most [`PAGE_SIZE`]
/// items, so this holds the first pages of thousands of views.
const ENCODED_BYTES: u64 = 32 << 20;

/// A list request body larger than this is no plain list request: rmcp reads it.
const MAX_LIST_REQUEST_BYTES: usize = 16 << 10;

/// What an encoded answer costs beyond its bytes (the cache's own bookkeeping), so many small
/// answers weigh what they hold.
const ENTRY_OVERHEAD: usize = 256;

/// mcp-config's page of `prompts/list` after `cursor` in `view`, and the next cursor.
pub fn prompts_page(
    view: &EncodedView,
    cursor: &str,
) -> Result<(Vec<Prompt>, Option<String>), ErrorData> {
    let page: GetPromptsResponse = decode_page(view, cursor, Kind::Prompts)?;
    let prompts = page.prompts.iter().map(mcp::prompt).collect();
    Ok((prompts, next_cursor(page.next_cursor)))
}

/// mcp-config's page of `resources/list` after `cursor` in `view` (templates are listed by
/// `resources/templates/list`), and the next cursor.
pub fn resources_page(
    view: &EncodedView,
    cursor: &str,
) -> Result<(Vec<Resource>, Option<String>), ErrorData> {
    let page: GetResourcesResponse = decode_page(view, cursor, Kind::Resources)?;
    let resources = page
        .resources
        .iter()
        .filter(|r| !r.is_template)
        .map(mcp::resource)
        .collect();
    Ok((resources, next_cursor(page.next_cursor)))
}

/// The page of `view` after `cursor`, decoded as `M`.
fn decode_page<M: Message + Default>(
    view: &EncodedView,
    cursor: &str,
    kind: Kind,
) -> Result<M, ErrorData> {
    let page = view
        .page(cursor, PAGE_SIZE)
        .map_err(|e| to_error_data(kind, e))?;
    M::decode(page.0).map_err(|e| ErrorData::internal_error(e.to_string(), None))
}

/// `next_cursor` of a view page, as MCP spells "no more": absent.
fn next_cursor(next: String) -> Option<String> {
    (!next.is_empty()).then_some(next)
}

/// The encoded answers, and what deciding one needs.
pub struct EncodedLists {
    views: Views,
    gateway: Gateway,
    /// The `result` of a view's first page, with the view's revision it was made at. Only
    /// first pages: a cursor is the caller's text, and a cache keyed by it would be theirs to
    /// fill.
    encoded: Cache<ViewKey, (Revision, Bytes)>,
    /// The largest list request body read here: the door's own bound, if lower.
    max_request_bytes: usize,
}

impl EncodedLists {
    pub fn new(views: Views, gateway: Gateway, max_request_bytes: usize) -> Self {
        Self {
            views,
            gateway,
            encoded: Cache::builder()
                .weigher(|key: &ViewKey, (_, body): &(Revision, Bytes)| {
                    let bytes = body.len() + key.scope.as_str().len() + key.server.as_str().len();
                    u32::try_from(bytes + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
                })
                .max_capacity(ENCODED_BYTES)
                .build(),
            max_request_bytes: max_request_bytes.min(MAX_LIST_REQUEST_BYTES),
        }
    }

    /// The answer to `body` if it is a list request this module answers; `None` sends it
    /// on to rmcp.
    async fn answer(&self, parts: &Parts, body: &[u8], kind: Kind) -> Option<Response> {
        let ClientJsonRpcMessage::Request(request) = serde_json::from_slice(body).ok()? else {
            return None;
        };
        let cursor = match (&request.request, kind) {
            (ClientRequest::ListPromptsRequest(r), Kind::Prompts) => r.params.as_ref(),
            (ClientRequest::ListResourcesRequest(r), Kind::Resources) => r.params.as_ref(),
            _ => return None,
        }
        .and_then(|params| params.cursor.clone())
        .unwrap_or_default();
        let meta = request.request.get_meta();
        let current = ProtocolVersion::V_2026_07_28;
        if meta.protocol_version() != Some(current.clone())
            || !meta.missing_required_keys(&current).is_empty()
        {
            return None;
        }
        let audience = parts.extensions.get::<Audience>()?;
        if self
            .gateway
            .registry
            .lookup(&audience.server)
            .await
            .ok()?
            .is_some()
        {
            return None;
        }
        let key = ViewKey {
            kind,
            scope: audience.scope.clone(),
            server: audience.server.clone(),
            label: audience.label.clone(),
        };
        let result = self.result(key, cursor).await.ok()?;
        metrics::counter!(crate::metrics::MCP_LISTS_ENCODED).increment(1);
        let mut answer = Vec::with_capacity(result.len() + 64);
        answer.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
        serde_json::to_writer(&mut answer, &request.id).ok()?;
        answer.extend_from_slice(br#","result":"#);
        answer.extend_from_slice(&result);
        answer.push(b'}');
        Some(([(header::CONTENT_TYPE, "application/json")], answer).into_response())
    }

    /// The `result` of the page after `cursor` in `key`'s view; a first page encoded at most
    /// once per revision of the view.
    async fn result(&self, key: ViewKey, cursor: String) -> Result<Bytes, ErrorData> {
        let view = self
            .views
            .view(&key)
            .await
            .map_err(|e| to_error_data(key.kind, e))?;
        if !cursor.is_empty() {
            return encode(&view, key.kind, &cursor);
        }
        if let Some((revision, body)) = self.encoded.get(&key).await
            && revision == view.revision()
        {
            return Ok(body);
        }
        let body = encode(&view, key.kind, &cursor)?;
        self.encoded
            .insert(key, (view.revision(), body.clone()))
            .await;
        Ok(body)
    }
}

/// The `result` JSON of `kind`'s page after `cursor` in `view`, as rmcp would send it.
fn encode(view: &EncodedView, kind: Kind, cursor: &str) -> Result<Bytes, ErrorData> {
    let mut result = match kind {
        Kind::Prompts => {
            let (prompts, next) = prompts_page(view, cursor)?;
            let mut result = ListPromptsResult::with_all_items(prompts);
            result.next_cursor = next;
            ServerResult::ListPromptsResult(result)
        }
        Kind::Resources => {
            let (resources, next) = resources_page(view, cursor)?;
            let mut result = ListResourcesResult::with_all_items(resources);
            result.next_cursor = next;
            ServerResult::ListResourcesResult(result)
        }
    };
    // As rmcp's handler does for a peer of the current protocol.
    result.fill_missing_cache_hints();
    serde_json::to_vec(&result)
        .map(Bytes::from)
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))
}

/// Answers the list requests [`EncodedLists`] can; sends every other request on, its body
/// untouched (read only when the headers already say it is a list request of the current
/// protocol).
pub async fn answer(
    State(lists): State<Arc<EncodedLists>>,
    request: Request,
    next: Next,
) -> Response {
    let Some((kind, length)) = list_request(request.method(), request.headers())
        .filter(|(_, length)| *length <= lists.max_request_bytes)
    else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, length).await else {
        return (StatusCode::BAD_REQUEST, "Bad Request: the body ended early").into_response();
    };
    if let Some(answer) = lists.answer(&parts, &body, kind).await {
        return answer;
    }
    next.run(Request::from_parts(parts, Body::from(body))).await
}

/// The list `kind` and the body's declared length when the headers are those of a stateless
/// list request of the current protocol that rmcp would accept.
fn list_request(method: &Method, headers: &HeaderMap) -> Option<(Kind, usize)> {
    if method != Method::POST || headers.contains_key("mcp-session-id") {
        return None;
    }
    let kind = match single(headers, "mcp-method")? {
        "prompts/list" => Kind::Prompts,
        "resources/list" => Kind::Resources,
        _ => return None,
    };
    if single(headers, "mcp-protocol-version")? != ProtocolVersion::V_2026_07_28.as_str() {
        return None;
    }
    let content_type = single(headers, header::CONTENT_TYPE.as_str())?;
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case("application/json") || !accepts_json_and_sse(headers) {
        return None;
    }
    let length = single(headers, header::CONTENT_LENGTH.as_str())?
        .parse::<usize>()
        .ok()
        .filter(|length| *length <= MAX_LIST_REQUEST_BYTES)?;
    Some((kind, length))
}

/// The one value of header `name`, if it has exactly one and it is text.
fn single<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    values.next().is_none().then_some(())?;
    value.to_str().ok()
}

/// Whether `Accept` takes both JSON and an event stream, as rmcp requires of a POST. A quoted
/// parameter (where a comma may hide) is left to rmcp's own reading.
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let (mut json, mut sse) = (false, false);
    for value in headers.get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else {
            return false;
        };
        if value.contains('"') {
            return false;
        }
        for range in value.split(',') {
            let mut parameters = range.split(';');
            let essence = parameters.next().unwrap_or_default().trim();
            let refused = parameters.any(|parameter| {
                parameter.split_once('=').is_some_and(|(name, weight)| {
                    name.trim().eq_ignore_ascii_case("q") && is_zero_weight(weight.trim())
                })
            });
            if refused {
                continue;
            }
            json |= essence.eq_ignore_ascii_case("application/json");
            sse |= essence.eq_ignore_ascii_case("text/event-stream");
        }
    }
    json && sse
}

/// A weight of exactly zero (RFC 9110: up to three decimals): the range is refused. A
/// malformed weight refuses nothing, as rmcp reads it.
fn is_zero_weight(weight: &str) -> bool {
    let (whole, fraction) = weight.split_once('.').unwrap_or((weight, ""));
    whole == "0" && fraction.len() <= 3 && fraction.bytes().all(|digit| digit == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    const LIST: [(&str, &str); 5] = [
        ("mcp-method", "prompts/list"),
        ("mcp-protocol-version", "2026-07-28"),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("content-length", "120"),
    ];

    #[test]
    fn a_current_stateless_list_request_is_recognised_by_its_headers() {
        assert_eq!(
            list_request(&Method::POST, &headers(&LIST)),
            Some((Kind::Prompts, 120))
        );
        let mut resources = LIST;
        resources[0].1 = "resources/list";
        assert_eq!(
            list_request(&Method::POST, &headers(&resources)),
            Some((Kind::Resources, 120))
        );
    }

    #[test]
    fn anything_else_is_left_to_rmcp() {
        assert_eq!(list_request(&Method::GET, &headers(&LIST)), None);
        let mut with_session = LIST.to_vec();
        with_session.push(("mcp-session-id", "s"));
        assert_eq!(list_request(&Method::POST, &headers(&with_session)), None);
        let mut twice = LIST.to_vec();
        twice.push(("mcp-method", "prompts/list"));
        assert_eq!(list_request(&Method::POST, &headers(&twice)), None);
        for (index, changed) in [
            (0, "prompts/get"),
            (1, "2025-11-25"),
            (2, "text/plain"),
            (3, "application/json"),
            (3, "application/json, text/event-stream;q=0"),
            (3, "application/json, text/event-stream;q=0.000"),
            (3, "application/json, text/event-stream;q=0"),
            (3, "application/json, text/event-stream;x=\"a,b\""),
            (4, "20000"),
            (4, "many"),
        ] {
            let mut changed_headers = LIST;
            changed_headers[index].1 = changed;
            assert_eq!(
                list_request(&Method::POST, &headers(&changed_headers)),
                None,
                "{changed}"
            );
        }
        let mut no_length = LIST.to_vec();
        no_length.pop();
        assert_eq!(list_request(&Method::POST, &headers(&no_length)), None);
    }

    #[test]
    fn a_weighted_accept_still_accepts() {
        let mut weighted = LIST;
        weighted[3].1 = "application/json;q=0.5, text/event-stream;q=0.9";
        assert!(list_request(&Method::POST, &headers(&weighted)).is_some());
        // A malformed weight refuses nothing.
        weighted[3].1 = "application/json;q=0.0001, text/event-stream;q=zero";
        assert!(list_request(&Method::POST, &headers(&weighted)).is_some());
    }
}
