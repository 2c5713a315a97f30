//! An rmcp server's prompts and resources from mcp-config (feature `mcp`).
//!
//! [`ConfigLoader`] answers `prompts/list`, `prompts/get`, `resources/list`,
//! `resources/templates/list` and `resources/read` for an org from [`ConfigClient`] and turns
//! mcp-config's changes into `list_changed` notifications. A server with nothing else to serve
//! uses [`LoaderServer`] as its whole handler:
//!
//! ```no_run
//! # async fn example() -> Result<(), mcp_config_client::ClientError> {
//! use mcp_config_client::{ClientConfig, ConfigClient, loader::{ConfigLoader, LoaderServer}};
//!
//! let client = ConfigClient::connect(ClientConfig::new("http://127.0.0.1:50051")).await?;
//! let loader = ConfigLoader::new(client, "github");
//! let server = LoaderServer::new(loader, |_extensions| Ok("acme".to_owned()));
//! // serve `server` with rmcp's streamable HTTP service, as any `ServerHandler`
//! # let _ = server; Ok(()) }
//! ```
//!
//! A server with tools of its own keeps its handler and answers the five list and read methods
//! with the loader's (one line each); its `on_initialized` calls
//! [`ConfigLoader::follow_session`] and its `listen` [`ConfigLoader::forward_changes`], so its
//! clients hear list_changed.
//!
//! A [`Fallback`] — what the server hard-coded before — is served while the service cannot
//! answer and no copy of the view is known (a server started with the service down); a fallback
//! prompt answers its messages as given (nothing is rendered). Once the service answers, the
//! org's clients are told both lists changed and read mcp-config's.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use mcp_config_proto::mcp;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        Extensions, GetPromptRequestParams, GetPromptResponse, GetPromptResult, ListPromptsResult,
        ListResourceTemplatesResult, ListResourcesResult, PaginatedRequestParams, Prompt,
        PromptMessage, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
        Resource, ResourceContents, ServerCapabilities, ServerConfig, SubscriptionFilter,
    },
    service::{
        NotificationContext, Peer, RequestContext, SubscriptionContext, SubscriptionSendError,
        SubscriptionSink,
    },
};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::{CancellationToken, DropGuard};
use tonic::Code;

use crate::{Changed, ClientError, ConfigClient, ViewKind};

/// How often a view served from the fallback is asked for again, until the service answers.
const RECOVERY_PROBE: Duration = Duration::from_secs(1);

/// The views served from the fallback at once, each with its probe: the org is the caller's
/// word, so past this a view has no fallback (its read fails as the client's does).
const MAX_FALLBACK_VIEWS: usize = 1_000;

/// How often a followed legacy session is checked for its end.
const SESSION_CHECK: Duration = Duration::from_secs(5);

/// What a server hard-coded, served while mcp-config cannot answer and nothing is cached.
#[derive(Debug, Clone, Default)]
pub struct Fallback {
    pub prompts: Vec<FallbackPrompt>,
    pub resources: Vec<FallbackResource>,
}

/// A prompt and the messages it answers, as given.
#[derive(Debug, Clone)]
pub struct FallbackPrompt {
    pub prompt: Prompt,
    pub messages: Vec<PromptMessage>,
}

/// A resource and its contents.
#[derive(Debug, Clone)]
pub struct FallbackResource {
    pub resource: Resource,
    pub contents: Vec<ResourceContents>,
}

/// One MCP server's (`github`, `slack`, …) prompts and resources, per org, from mcp-config.
#[derive(Clone)]
pub struct ConfigLoader {
    client: ConfigClient,
    server: Arc<str>,
    fallback: Arc<Fallback>,
    /// The views answered from the fallback, each with a probe asking until the service
    /// answers.
    on_fallback: Arc<Mutex<HashSet<(String, ViewKind)>>>,
    /// A view that left the fallback, announced as a change (revision 0).
    recovered: broadcast::Sender<Changed>,
    stop: CancellationToken,
    _stop_on_drop: Arc<DropGuard>,
}

impl ConfigLoader {
    pub fn new(client: ConfigClient, server: &str) -> Self {
        let stop = CancellationToken::new();
        Self {
            client,
            server: server.into(),
            fallback: Arc::default(),
            on_fallback: Arc::default(),
            recovered: broadcast::channel(64).0,
            _stop_on_drop: Arc::new(stop.clone().drop_guard()),
            stop,
        }
    }

    /// Serves `fallback` while the service cannot answer and no copy of a view is known.
    pub fn with_fallback(mut self, fallback: Fallback) -> Self {
        self.fallback = Arc::new(fallback);
        self
    }

    /// The capabilities the loader's methods serve: prompts and resources, with list_changed.
    pub fn capabilities() -> ServerCapabilities {
        mcp::capabilities()
    }

    pub async fn list_prompts(&self, org: &str) -> Result<ListPromptsResult, ErrorData> {
        let prompts = match self.client.prompts(org, &self.server).await {
            Ok(view) => view.items.iter().map(mcp::prompt).collect(),
            Err(e) => {
                self.fall_back(org, ViewKind::Prompts, e)?;
                let prompts = &self.fallback.prompts;
                prompts.iter().map(|p| p.prompt.clone()).collect()
            }
        };
        Ok(ListPromptsResult::with_all_items(prompts))
    }

    /// `request`'s prompt rendered by the service.
    pub async fn get_prompt(
        &self,
        org: &str,
        request: GetPromptRequestParams,
    ) -> Result<GetPromptResult, ErrorData> {
        let arguments = mcp::arguments(request.arguments);
        match self
            .client
            .prompt(org, &self.server, &request.name, arguments)
            .await
        {
            Ok(rendered) => Ok(mcp::rendered(rendered)),
            Err(e) => {
                let given = self
                    .fallback
                    .prompts
                    .iter()
                    .find(|p| p.prompt.name == request.name);
                match given {
                    Some(given) if self.on_fallback(org, ViewKind::Prompts, &e) => {
                        let mut result = GetPromptResult::new(given.messages.clone());
                        result.description = given.prompt.description.clone();
                        Ok(result)
                    }
                    _ => Err(error(e)),
                }
            }
        }
    }

    /// The org's resources; templates are listed by [`ConfigLoader::list_resource_templates`].
    pub async fn list_resources(&self, org: &str) -> Result<ListResourcesResult, ErrorData> {
        let resources = match self.client.resources(org, &self.server).await {
            Ok(view) => view
                .items
                .iter()
                .filter(|r| !r.is_template)
                .map(mcp::resource)
                .collect(),
            Err(e) => {
                self.fall_back(org, ViewKind::Resources, e)?;
                let resources = &self.fallback.resources;
                resources.iter().map(|r| r.resource.clone()).collect()
            }
        };
        Ok(ListResourcesResult::with_all_items(resources))
    }

    pub async fn list_resource_templates(
        &self,
        org: &str,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let templates = match self.client.resources(org, &self.server).await {
            Ok(view) => view
                .items
                .iter()
                .filter(|r| r.is_template)
                .map(mcp::resource_template)
                .collect(),
            Err(e) => {
                self.fall_back(org, ViewKind::Resources, e)?;
                Vec::new()
            }
        };
        Ok(ListResourceTemplatesResult::with_all_items(templates))
    }

    pub async fn read_resource(
        &self,
        org: &str,
        request: ReadResourceRequestParams,
    ) -> Result<ReadResourceResult, ErrorData> {
        match self
            .client
            .read_resource(org, &self.server, &request.uri)
            .await
        {
            Ok(contents) => Ok(mcp::contents(contents)),
            Err(e) => {
                let given = self.fallback.resources.iter();
                match given.into_iter().find(|r| r.resource.uri == request.uri) {
                    Some(given) if self.on_fallback(org, ViewKind::Resources, &e) => {
                        Ok(ReadResourceResult::new(given.contents.clone()))
                    }
                    _ => Err(error(e)),
                }
            }
        }
    }

    /// Whether a prompt or resource of `org`'s `kind` that failed with `e` is answered from the
    /// fallback: only while the service cannot answer and that list is the fallback's (never
    /// while a copy of the org's view, with its overrides and hides, is served).
    fn on_fallback(&self, org: &str, kind: ViewKind, e: &ClientError) -> bool {
        matches!(e, ClientError::Unavailable(_))
            && self
                .on_fallback
                .lock()
                .expect("fallback lock")
                .contains(&(org.to_owned(), kind))
    }

    /// Whether `e`, a failed read of `org`'s `kind`, is answered from the fallback; when it is,
    /// the view is asked for again until the service answers, and then announced as changed.
    fn fall_back(&self, org: &str, kind: ViewKind, e: ClientError) -> Result<(), ErrorData> {
        let has_fallback = match kind {
            ViewKind::Prompts => !self.fallback.prompts.is_empty(),
            ViewKind::Resources => !self.fallback.resources.is_empty(),
        };
        if !has_fallback || !matches!(e, ClientError::Unavailable(_)) {
            return Err(error(e));
        }
        let view = (org.to_owned(), kind);
        let mut on_fallback = self.on_fallback.lock().expect("fallback lock");
        if !on_fallback.contains(&view) && on_fallback.len() >= MAX_FALLBACK_VIEWS {
            return Err(error(e));
        }
        if on_fallback.insert(view) {
            tracing::warn!(org, server = %self.server, ?kind, "mcp-config unreachable: serving the fallback");
            // Not the loader itself: its last clone's drop stops the probe.
            let probe = Probe {
                client: self.client.clone(),
                server: self.server.clone(),
                on_fallback: self.on_fallback.clone(),
                recovered: self.recovered.clone(),
                stop: self.stop.clone(),
            };
            tokio::spawn(probe.run(org.to_owned(), kind));
        }
        Ok(())
    }

    /// Whether `change` touches what `org` sees from this server: its own entries, or a
    /// default (empty org) that every org inherits.
    fn affects(&self, change: &Changed, org: &str) -> bool {
        *change.server == *self.server && (change.org.is_empty() || change.org == org)
    }

    /// Turns the changes that affect `org` (and its views leaving the fallback) into
    /// list_changed notifications to `notifier`, until `stopped` or the client is gone.
    pub async fn forward_changes(
        &self,
        org: &str,
        notifier: Notifier,
        stopped: impl Future<Output = ()>,
    ) {
        let mut changes = self.client.changes();
        let mut recovered = self.recovered.subscribe();
        tokio::pin!(stopped);
        loop {
            let change = tokio::select! {
                () = &mut stopped => return,
                change = changes.recv() => change,
                change = recovered.recv() => change,
            };
            let delivered = match change {
                Ok(change) if self.affects(&change, org) => notifier.send(change.kind).await,
                Ok(_) => true,
                // Missed changes may have been ours: say both lists changed.
                Err(RecvError::Lagged(_)) => {
                    notifier.send(ViewKind::Prompts).await
                        && notifier.send(ViewKind::Resources).await
                }
                Err(RecvError::Closed) => return,
            };
            if !delivered {
                tracing::debug!(org, "MCP client gone: no more list_changed");
                return;
            }
        }
    }
}

/// What asks for a view served from the fallback until the service answers.
struct Probe {
    client: ConfigClient,
    server: Arc<str>,
    on_fallback: Arc<Mutex<HashSet<(String, ViewKind)>>>,
    recovered: broadcast::Sender<Changed>,
    stop: CancellationToken,
}

impl Probe {
    /// Asks for `org`'s `kind` until the service answers, then announces it changed.
    async fn run(self, org: String, kind: ViewKind) {
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                () = tokio::time::sleep(RECOVERY_PROBE) => {}
            }
            let answered = match kind {
                ViewKind::Prompts => self.client.prompts(&org, &self.server).await.map(drop),
                ViewKind::Resources => self.client.resources(&org, &self.server).await.map(drop),
            };
            if !matches!(answered, Err(ClientError::Unavailable(_))) {
                break;
            }
        }
        self.on_fallback
            .lock()
            .expect("fallback lock")
            .remove(&(org.clone(), kind));
        tracing::info!(org, server = %self.server, ?kind, "mcp-config answers: fallback left");
        let _ = self.recovered.send(Changed {
            org,
            server: self.server.to_string(),
            kind,
            revision: 0,
        });
    }
}

impl ConfigLoader {
    /// Sends a legacy session `org`'s list_changed from now on, until the session is gone:
    /// what a handler's `on_initialized` calls.
    pub fn follow_session(&self, org: String, peer: Peer<RoleServer>) {
        let loader = self.clone();
        tokio::spawn(async move {
            // Ends with the session, even one whose org never changes.
            let watched = peer.clone();
            let ended = async move {
                while !watched.is_transport_closed() {
                    tokio::time::sleep(SESSION_CHECK).await;
                }
            };
            loader
                .forward_changes(&org, Notifier::Session(peer), ended)
                .await;
        });
    }
}

/// The MCP error a failed mcp-config call becomes: the caller's mistakes keep the service's
/// message (it names the argument or entry), an outage is an internal error without addresses.
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

/// Where list_changed notifications of one MCP client go.
pub enum Notifier {
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

/// Decides the org of an MCP request from its extensions (the HTTP request's parts are there
/// under streamable HTTP).
pub trait OrgOf: Fn(&Extensions) -> Result<String, ErrorData> + Send + Sync + 'static {}

impl<F> OrgOf for F where F: Fn(&Extensions) -> Result<String, ErrorData> + Send + Sync + 'static {}

/// A whole MCP server of mcp-config's prompts and resources: the loader's methods for the org
/// `org_of` decides, list_changed to legacy sessions and listen streams.
pub struct LoaderServer {
    loader: ConfigLoader,
    org_of: Arc<dyn OrgOf>,
    info: ServerConfig,
}

impl Clone for LoaderServer {
    fn clone(&self) -> Self {
        Self {
            loader: self.loader.clone(),
            org_of: self.org_of.clone(),
            info: self.info.clone(),
        }
    }
}

impl LoaderServer {
    pub fn new(loader: ConfigLoader, org_of: impl OrgOf) -> Self {
        Self {
            loader,
            org_of: Arc::new(org_of),
            info: ServerConfig::new(ConfigLoader::capabilities()),
        }
    }

    /// Announces `info` at the handshake (its name, say) instead of the bare capabilities.
    pub fn with_info(mut self, info: ServerConfig) -> Self {
        self.info = info;
        self
    }
}

impl ServerHandler for LoaderServer {
    fn get_info(&self) -> ServerConfig {
        self.info.clone()
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let org = (self.org_of)(&context.extensions)?;
        self.loader.list_prompts(&org).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let org = (self.org_of)(&context.extensions)?;
        Ok(self.loader.get_prompt(&org, request).await?.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let org = (self.org_of)(&context.extensions)?;
        self.loader.list_resources(&org).await
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let org = (self.org_of)(&context.extensions)?;
        self.loader.list_resource_templates(&org).await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let org = (self.org_of)(&context.extensions)?;
        Ok(self.loader.read_resource(&org, request).await?.into())
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(mcp::list_changed_filter())
    }

    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let org = (self.org_of)(&context.request_context().extensions)?;
        let notifier = Notifier::Subscription(context.sink().clone());
        self.loader
            .forward_changes(&org, notifier, context.cancelled())
            .await;
        Ok(())
    }

    /// Only legacy clients send `notifications/initialized`: their session gets the
    /// notifications directly.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Ok(org) = (self.org_of)(&context.extensions) else {
            return;
        };
        self.loader.follow_session(org, context.peer);
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
