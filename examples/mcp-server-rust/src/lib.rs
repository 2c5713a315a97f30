//! An MCP server whose prompts and resources come from mcp-config.
//!
//! The server holds no prompts of its own: each `prompts/list`, `prompts/get`, `resources/list`
//! and `resources/read` asks [`ConfigClient`] for the view of the caller's org (see [`org`]),
//! which answers from its cache and keeps that cache right through mcp-config's invalidations.
//! The same invalidations become `notifications/prompts/list_changed` (and resources) on every
//! open `subscriptions/listen` stream of the affected org, so MCP clients re-list the moment an
//! admin saves a change.

mod convert;
pub mod org;

use std::sync::Arc;

use mcp_config_client::{Changed, ConfigClient, ViewKind};
use mcp_config_proto::mcp;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        Extensions, GetPromptRequestParams, GetPromptResponse, Implementation, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams,
        ReadResourceRequestParams, ReadResourceResponse, ServerConfig, SubscriptionFilter,
    },
    service::{
        NotificationContext, Peer, RequestContext, SubscriptionContext, SubscriptionSendError,
        SubscriptionSink,
    },
    transport::{
        StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::local::LocalSessionManager,
    },
};
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use org::OrgResolver;

/// One MCP server (`github`, `slack`, …) backed by mcp-config.
#[derive(Clone)]
pub struct ConfigBackedServer {
    client: ConfigClient,
    server: Arc<str>,
    orgs: Arc<OrgResolver>,
}

impl ConfigBackedServer {
    pub fn new(client: ConfigClient, server: &str, orgs: OrgResolver) -> Self {
        Self {
            client,
            server: server.into(),
            orgs: Arc::new(orgs),
        }
    }

    /// The org of the HTTP request behind this MCP request.
    fn org(&self, extensions: &Extensions) -> Result<String, ErrorData> {
        let request = extensions
            .get::<http::request::Parts>()
            .ok_or_else(|| ErrorData::internal_error("no HTTP request context", None))?;
        self.orgs
            .resolve(request)
            .map_err(|e| ErrorData::invalid_request(e.to_string(), None))
    }

    /// The resources (and resource templates) the org of this MCP request sees.
    async fn resource_view(
        &self,
        extensions: &Extensions,
    ) -> Result<mcp_config_client::Fetched<mcp_config_proto::v1::Resource>, ErrorData> {
        let org = self.org(extensions)?;
        self.client
            .resources(&org, &self.server)
            .await
            .map_err(convert::error)
    }

    /// Whether a change of mcp-config touches what `org` sees from this server: its own
    /// entries, or a default (empty org) that every org inherits.
    fn affects(&self, change: &Changed, org: &str) -> bool {
        *change.server == *self.server && (change.org.is_empty() || change.org == org)
    }
}

/// Where list_changed notifications of one MCP client go.
enum Notifier {
    /// A `subscriptions/listen` stream (protocol 2026-07-28).
    Subscription(SubscriptionSink),
    /// A legacy session (protocols with `initialize`).
    Session(Peer<RoleServer>),
}

impl Notifier {
    /// Sends `list_changed` for `kind`; false once the client is gone.
    async fn send(&self, kind: ViewKind) -> bool {
        match (self, kind) {
            // A list the stream did not ask about is not for it; the stream stays open.
            (Self::Subscription(sink), ViewKind::Prompts) => {
                delivered(sink.notify_prompt_list_changed().await)
            }
            (Self::Subscription(sink), ViewKind::Resources) => {
                delivered(sink.notify_resource_list_changed().await)
            }
            (Self::Session(peer), ViewKind::Prompts) => {
                peer.notify_prompt_list_changed().await.is_ok()
            }
            (Self::Session(peer), ViewKind::Resources) => {
                peer.notify_resource_list_changed().await.is_ok()
            }
        }
    }
}

/// Whether a listen stream is still there after a send: a notification outside its filter is
/// refused by the sink, but the stream is not gone.
fn delivered(sent: Result<(), SubscriptionSendError>) -> bool {
    matches!(
        sent,
        Ok(()) | Err(SubscriptionSendError::NotificationNotAccepted(_))
    )
}

impl ConfigBackedServer {
    /// Turns mcp-config's changes that affect `org` into list_changed notifications, until
    /// `stopped` or the client is gone.
    async fn forward_changes(
        &self,
        org: &str,
        notifier: Notifier,
        stopped: impl Future<Output = ()>,
    ) {
        let mut changes = self.client.changes();
        tokio::pin!(stopped);
        loop {
            let delivered = tokio::select! {
                () = &mut stopped => return,
                change = changes.recv() => match change {
                    Ok(change) if self.affects(&change, org) => notifier.send(change.kind).await,
                    Ok(_) => true,
                    // Missed changes may have been ours: say both lists changed.
                    Err(RecvError::Lagged(_)) => {
                        notifier.send(ViewKind::Prompts).await
                            && notifier.send(ViewKind::Resources).await
                    }
                    Err(RecvError::Closed) => return,
                },
            };
            if !delivered {
                tracing::debug!(org, "MCP client gone: no more list_changed");
                return;
            }
        }
    }
}

/// What the example announces at the handshake for `server`: its capabilities and its name.
pub fn server_info(server: &str) -> ServerConfig {
    ServerConfig::new(mcp::capabilities()).with_server_info(Implementation::new(
        format!("mcp-config-example-{server}"),
        env!("CARGO_PKG_VERSION"),
    ))
}

impl ServerHandler for ConfigBackedServer {
    fn get_info(&self) -> ServerConfig {
        server_info(&self.server)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let org = self.org(&context.extensions)?;
        let view = self
            .client
            .prompts(&org, &self.server)
            .await
            .map_err(convert::error)?;
        Ok(ListPromptsResult::with_all_items(
            view.items.iter().map(mcp::prompt).collect(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let org = self.org(&context.extensions)?;
        let arguments = request
            .arguments
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect();
        let rendered = self
            .client
            .prompt(&org, &self.server, &request.name, arguments)
            .await
            .map_err(convert::error)?;
        Ok(mcp::rendered(rendered).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let view = self.resource_view(&context.extensions).await?;
        // Resource templates are listed by `resources/templates/list`.
        Ok(ListResourcesResult::with_all_items(
            view.items
                .iter()
                .filter(|r| !r.is_template)
                .map(mcp::resource)
                .collect(),
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let view = self.resource_view(&context.extensions).await?;
        Ok(ListResourceTemplatesResult::with_all_items(
            view.items
                .iter()
                .filter(|r| r.is_template)
                .map(mcp::resource_template)
                .collect(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let org = self.org(&context.extensions)?;
        let contents = self
            .client
            .read_resource(&org, &self.server, &request.uri)
            .await
            .map_err(convert::error)?;
        Ok(mcp::contents(contents).into())
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(mcp::list_changed_filter())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let org = self.org(&context.request_context().extensions)?;
        let notifier = Notifier::Subscription(context.sink().clone());
        self.forward_changes(&org, notifier, context.cancelled())
            .await;
        Ok(())
    }

    /// Only legacy clients send `notifications/initialized`: their session gets the
    /// notifications directly.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Ok(org) = self.org(&context.extensions) else {
            return;
        };
        let server = self.clone();
        tokio::spawn(async move {
            server
                .forward_changes(
                    &org,
                    Notifier::Session(context.peer),
                    std::future::pending(),
                )
                .await;
        });
    }
}

/// Serves `server`'s MCP endpoint (streamable HTTP) at `/mcp` on `listener` until `shutdown`,
/// which also ends the open subscription streams.
///
/// Any handler, not only [`ConfigBackedServer`]: the benchmarks serve a hard-coded prompt list
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
