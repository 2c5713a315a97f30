//! The MCP door: streamable HTTP at `/mcp/{server}` on the HTTP port, serving the caller's
//! org's effective view of `server` to any MCP client or gateway, with no MCP server of its own
//! to write.
//!
//! rmcp speaks the protocol, both lifecycles: the current one (stateless requests,
//! `server/discover`, `subscriptions/listen`) and the legacy `initialize` sessions. Around it,
//! the service decides who is asking before any MCP work ([`caller`]), answers from the same
//! L1 cache as gRPC ([`server`]; the plain list requests from their JSON encoded once per
//! revision, ahead of rmcp: [`lists`]), tells clients when their view changed ([`notify`]) and maps
//! its errors in one place ([`error`]). Sessions and listen streams share one per-replica
//! bound and one per token subject; sessions idle out; request bodies are bounded; `Host` and `Origin` are checked
//! against allow-lists (DNS rebinding).

mod caller;
mod error;
mod lists;
mod notify;
mod server;

use std::{sync::Arc, time::Duration};

use axum::{Router, middleware};
use rmcp::transport::{
    StreamableHttpServerConfig, StreamableHttpService,
    streamable_http_server::session::local::LocalSessionManager,
};
use tokio_util::sync::CancellationToken;

pub use caller::Audience;

use crate::{
    auth::Authenticator,
    config::McpSettings,
    gateway::Gateway,
    propagation::Dropped,
    slots::{self, Slots},
    views::Views,
};
use lists::EncodedLists;
use server::{ConfigServer, Shared};

/// What the MCP door is built from.
pub struct McpDoor {
    pub views: Views,
    pub authenticator: Authenticator,
    pub dropped: Dropped,
    /// Cancelled at shutdown: ends sessions, listen streams and their notifications.
    pub shutdown: CancellationToken,
    /// The upstreams of the servers that have one.
    pub gateway: Gateway,
    /// Who is listening: MCP sessions are listed with the Watch streams.
    pub listeners: crate::listeners::OpenStreams,
}

/// The routes of `/mcp/{server}`, to merge into the HTTP port's router.
pub fn router(door: McpDoor, settings: &McpSettings) -> Router {
    let lists = Arc::new(EncodedLists::new(
        door.views.clone(),
        door.gateway.clone(),
        settings.mcp_max_request_bytes,
    ));
    let shared = Shared {
        views: door.views,
        dropped: door.dropped,
        slots: Slots::new(
            "MCP sessions and listen streams",
            "MCP_CONFIG_MCP_MAX_SESSIONS",
            slots::Limits {
                total: settings.mcp_max_sessions,
                per_principal: settings.mcp_max_sessions_per_principal,
            },
        ),
        shutdown: door.shutdown.clone(),
        gateway: door.gateway,
        listeners: door.listeners,
    };
    let mut sessions = LocalSessionManager::default();
    sessions.session_config.keep_alive = Some(Duration::from_secs(settings.mcp_session_idle_secs));
    let mut config = StreamableHttpServerConfig::default()
        // `Host` and `Origin` are checked for every route of the port (`http::origin`).
        .disable_allowed_hosts()
        .disable_allowed_origins()
        .with_max_request_body_bytes(settings.mcp_max_request_bytes)
        // A stateless request's answer as one JSON body rather than a one-event SSE stream
        // (rmcp falls back to SSE when a handler sends anything before its answer).
        .with_json_response(true);
    config.cancellation_token = door.shutdown;
    let service = StreamableHttpService::new(
        move || Ok(ConfigServer::new(shared.clone())),
        Arc::new(sessions),
        config,
    );
    Router::new()
        .route_service("/mcp/{server}", service)
        // Inside `authorise`: a list answered ahead of rmcp is still the caller's own view.
        .route_layer(middleware::from_fn_with_state(lists, lists::answer))
        .route_layer(middleware::from_fn_with_state(
            door.authenticator,
            caller::authorise,
        ))
}
