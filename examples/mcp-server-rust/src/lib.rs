//! An MCP server whose prompts and resources come from mcp-config.
//!
//! The server holds no prompts of its own: each `prompts/list`, `prompts/get`, `resources/list`
//! and `resources/read` asks [`ConfigClient`] for the view of the caller's org (see [`org`]),
//! which answers from its cache and keeps that cache right through mcp-config's invalidations.
//! The same invalidations become `notifications/prompts/list_changed` (and resources) on every
//! open `subscriptions/listen` stream of the affected org, so MCP clients re-list the moment an
//! admin saves a change.

pub mod org;

use std::sync::Arc;

use mcp_config_client::{
    ConfigClient,
    loader::{ConfigLoader, LoaderServer},
};
use rmcp::{
    ErrorData, ServerHandler,
    model::{Implementation, ServerConfig},
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::local::LocalSessionManager,
    },
};
use tokio_util::sync::CancellationToken;

use org::OrgResolver;

/// One MCP server (`github`, `slack`, …) backed by mcp-config: the client crate's loader, with
/// the org of each request decided by `orgs`.
pub fn config_backed_server(client: ConfigClient, server: &str, orgs: OrgResolver) -> LoaderServer {
    let orgs = Arc::new(orgs);
    let org_of = move |extensions: &rmcp::model::Extensions| {
        let request = extensions
            .get::<http::request::Parts>()
            .ok_or_else(|| ErrorData::internal_error("no HTTP request context", None))?;
        orgs.resolve(request)
            .map_err(|e| ErrorData::invalid_request(e.to_string(), None))
    };
    LoaderServer::new(ConfigLoader::new(client, server), org_of).with_info(server_info(server))
}

/// What the example announces at the handshake for `server`: its capabilities and its name.
pub fn server_info(server: &str) -> ServerConfig {
    ServerConfig::new(ConfigLoader::capabilities()).with_server_info(Implementation::new(
        format!("mcp-config-example-{server}"),
        env!("CARGO_PKG_VERSION"),
    ))
}

/// Serves `server`'s MCP endpoint (streamable HTTP) at `/mcp` on `listener` until `shutdown`,
/// which also ends the open subscription streams.
///
/// Any handler, not only the loader's: the benchmarks serve a hard-coded prompt list
/// through this same transport, so the only difference they measure is where prompts come from.
pub async fn serve<S>(
    listener: tokio::net::TcpListener,
    server: S,
    allowed_hosts: Vec<String>,
    shutdown: CancellationToken,
) -> std::io::Result<()>
where
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    let mut config = StreamableHttpServerConfig::default().with_allowed_hosts(allowed_hosts);
    config.cancellation_token = shutdown.clone();
    let mcp = StreamableHttpService::new(
        move || Ok(server.clone()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    let router = axum::Router::new().nest_service("/mcp", mcp);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
