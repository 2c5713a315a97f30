//! The MCP server of `/mcp/{server}`: an org's effective view of one server, read through
//! [`Views`] (the same L1 cache as gRPC, so an MCP request costs no store load of its own).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use mcp_config_proto::{
    mcp,
    v1::{GetPromptsResponse, GetResourcesResponse},
};
use prost::Message;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        Extensions, GetPromptRequestParams, GetPromptResponse, Implementation,
        InitializeRequestParams, InitializeResult, ListPromptsResult, ListResourcesResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ServerConfig,
        SubscriptionFilter,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    caller::Audience,
    error::to_error_data,
    notify::{self, Notifier},
};
use crate::{
    domain::{EntryKey, Kind, ViewKey},
    propagation::Dropped,
    render,
    slots::{Slot, Slots},
    views::{ListQuery, Views},
};

/// Items per page of `prompts/list` and `resources/list`: clients follow `nextCursor`.
const PAGE_SIZE: usize = 100;

/// What the MCP servers of one replica share.
#[derive(Clone)]
pub struct Shared {
    pub views: Views,
    pub dropped: Dropped,
    /// One place per open legacy session or listen stream, per replica and per subject.
    pub slots: Arc<Slots>,
    /// Cancelled at shutdown: ends every session's notifications.
    pub shutdown: CancellationToken,
}

/// One MCP server instance: rmcp makes one per legacy session, and one per stateless request.
#[derive(Clone)]
pub struct ConfigServer {
    shared: Shared,
    /// Set by `initialize`: the session's slot, and the end of its notifications when the
    /// session (and with it this server) is dropped.
    session: Arc<Mutex<Option<Session>>>,
}

struct Session {
    _slot: Slot,
    _ended: DropGuard,
    ended: CancellationToken,
}

impl ConfigServer {
    pub fn new(shared: Shared) -> Self {
        Self {
            shared,
            session: Arc::default(),
        }
    }

    /// A place for one more session or listen stream of `audience`'s subject.
    fn slot(&self, audience: &Audience) -> Result<Slot, ErrorData> {
        self.shared
            .slots
            .claim(&audience.subject)
            // The kind only matters to a missing entry, which a claim never is.
            .map_err(|e| to_error_data(Kind::Prompts, e))
    }
}

/// The [`Audience`] the `caller` middleware decided for the HTTP request behind this MCP one.
fn audience(extensions: &Extensions) -> Result<Audience, ErrorData> {
    extensions
        .get::<axum::http::request::Parts>()
        .and_then(|request| request.extensions.get::<Audience>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("no authorised caller", None))
}

fn key(audience: Audience, kind: Kind) -> ViewKey {
    ViewKey {
        kind,
        scope: audience.scope,
        server: audience.server,
    }
}

impl ConfigServer {
    /// One page of `kind`'s view after `request`'s cursor, decoded as `M`.
    async fn page<M: Message + Default>(
        &self,
        kind: Kind,
        request: Option<PaginatedRequestParams>,
        extensions: &Extensions,
    ) -> Result<M, ErrorData> {
        let query = ListQuery {
            key: key(audience(extensions)?, kind),
            known_revision: 0,
            page_size: PAGE_SIZE,
            cursor: request.and_then(|r| r.cursor).unwrap_or_default(),
        };
        let page = self
            .shared
            .views
            .list(&query)
            .await
            .map_err(|e| to_error_data(kind, e))?;
        M::decode(page.0).map_err(|e| ErrorData::internal_error(e.to_string(), None))
    }
}

/// `next_cursor` of a view page, as MCP spells "no more": absent.
fn cursor(next: String) -> Option<String> {
    (!next.is_empty()).then_some(next)
}

impl ServerHandler for ConfigServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(mcp::capabilities())
            .with_server_info(Implementation::new("mcp-config", env!("CARGO_PKG_VERSION")))
    }

    /// A legacy session takes one of the replica's slots for as long as it lives.
    async fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<InitializeResult, ErrorData> {
        let slot = self.slot(&audience(&context.extensions)?)?;
        let ended = self.shared.shutdown.child_token();
        *self.session.lock().expect("session lock") = Some(Session {
            _slot: slot,
            _ended: ended.clone().drop_guard(),
            ended,
        });
        context.peer.set_peer_info(request.clone());
        self.negotiate_initialize(&request)
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let page: GetPromptsResponse = self
            .page(Kind::Prompts, request, &context.extensions)
            .await?;
        let mut result =
            ListPromptsResult::with_all_items(page.prompts.iter().map(mcp::prompt).collect());
        result.next_cursor = cursor(page.next_cursor);
        Ok(result)
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let key = key(audience(&context.extensions)?, Kind::Prompts);
        let name = EntryKey::parse(Kind::Prompts, &request.name)
            .map_err(|e| to_error_data(Kind::Prompts, e))?;
        // MCP arguments are strings; anything else is rendered as its JSON text.
        let arguments: HashMap<String, String> = request
            .arguments
            .unwrap_or_default()
            .into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect();
        render::check_arguments(&arguments).map_err(|e| to_error_data(Kind::Prompts, e))?;
        let rendered = self
            .shared
            .views
            .render_prompt(&key, &name, arguments)
            .await
            .map_err(|e| to_error_data(Kind::Prompts, e))?;
        Ok(mcp::rendered(rendered).into())
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let page: GetResourcesResponse = self
            .page(Kind::Resources, request, &context.extensions)
            .await?;
        let mut result =
            ListResourcesResult::with_all_items(page.resources.iter().map(mcp::resource).collect());
        result.next_cursor = cursor(page.next_cursor);
        Ok(result)
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let key = key(audience(&context.extensions)?, Kind::Resources);
        let uri = EntryKey::parse(Kind::Resources, &request.uri)
            .map_err(|e| to_error_data(Kind::Resources, e))?;
        let contents = self
            .shared
            .views
            .read_resource(&key, &uri)
            .await
            .map_err(|e| to_error_data(Kind::Resources, e))?;
        Ok(mcp::contents(contents).into())
    }

    fn accepted_subscription_filter(
        &self,
        _requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        Some(mcp::list_changed_filter())
    }

    /// A listen stream takes one of the replica's slots while it is open.
    async fn listen(&self, context: SubscriptionContext) -> Result<(), ErrorData> {
        let audience = audience(&context.request_context().extensions)?;
        let _slot = self.slot(&audience)?;
        let stopped = async {
            tokio::select! {
                () = context.cancelled() => {}
                () = self.shared.shutdown.cancelled() => {}
            }
        };
        let notifier = Notifier::Listen(context.sink().clone());
        notify::forward(
            self.shared.dropped.subscribe(),
            &audience,
            notifier,
            stopped,
        )
        .await;
        Ok(())
    }

    /// Only legacy clients send `notifications/initialized`: their session gets the
    /// notifications until it ends.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Ok(audience) = audience(&context.extensions) else {
            return;
        };
        let Some(ended) = self
            .session
            .lock()
            .expect("session lock")
            .as_ref()
            .map(|s| s.ended.clone())
        else {
            return;
        };
        let dropped = self.shared.dropped.subscribe();
        tokio::spawn(async move {
            let notifier = Notifier::Session(context.peer);
            notify::forward(dropped, &audience, notifier, ended.cancelled_owned()).await;
        });
    }
}
