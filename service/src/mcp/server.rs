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
#[allow(deprecated)]
// logging is deprecated by 2026-07-28 but still the legacy sessions' protocol
use rmcp::model::SetLevelRequestParams;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CompleteRequestParams, CompleteResult, Extensions, GetPromptRequestParams,
        GetPromptResponse, Implementation, InitializeRequestParams, InitializeResult,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, Reference,
        ServerConfig, SubscribeRequestParams, SubscriptionFilter, UnsubscribeRequestParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    caller::Audience,
    error::to_error_data,
    notify::{self, Interests, Notifier},
};
use crate::{
    domain::{EntryKey, Kind, UriPattern, ViewKey},
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

impl Shared {
    /// Forwards `audience`'s notifications to `notifier` until `stopped`.
    async fn forward(
        &self,
        dropped: tokio::sync::broadcast::Receiver<crate::domain::Invalidation>,
        audience: &Audience,
        notifier: Notifier,
        interests: &Interests,
        stopped: impl Future<Output = ()>,
    ) {
        let views = &self.views;
        notify::forward(
            dropped,
            audience,
            notifier,
            interests,
            |uri| async move { fingerprint(views, audience, &uri).await },
            stopped,
        )
        .await;
    }
}

/// The fingerprint of what serves `uri` in `audience`'s view now (`Ok(None)`: nothing); an
/// error when the view cannot be read (the store is down): nothing is known to have changed.
async fn fingerprint(views: &Views, audience: &Audience, uri: &str) -> Result<Option<u64>, ()> {
    let Ok(uri) = EntryKey::parse(Kind::Resources, uri) else {
        return Ok(None);
    };
    views
        .resource_fingerprint(&key(audience.clone(), Kind::Resources), &uri)
        .await
        .map_err(|e| tracing::debug!(error = %e, "a subscribed resource could not be read"))
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
    /// Its subscribed resources and log level, shared with its notifications.
    interests: Arc<Interests>,
}

impl ConfigServer {
    pub fn new(shared: Shared) -> Self {
        Self {
            shared,
            session: Arc::default(),
        }
    }

    /// The interests of this server's legacy session; a stateless request has none.
    fn interests(&self) -> Result<Arc<Interests>, ErrorData> {
        self.session
            .lock()
            .expect("session lock")
            .as_ref()
            .map(|session| session.interests.clone())
            .ok_or_else(|| {
                ErrorData::invalid_request(
                    "this needs a session (initialize); on 2026-07-28 use subscriptions/listen",
                    None,
                )
            })
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
    #[allow(deprecated)] // logging: see `set_level`
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = mcp::capabilities();
        capabilities.completions = Some(Default::default());
        capabilities.logging = Some(Default::default());
        if let Some(resources) = capabilities.resources.as_mut() {
            resources.subscribe = Some(true);
        }
        ServerConfig::new(capabilities)
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
            interests: Arc::default(),
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
        // Resource templates are listed by `resources/templates/list`.
        let mut result = ListResourcesResult::with_all_items(
            page.resources
                .iter()
                .filter(|r| !r.is_template)
                .map(mcp::resource)
                .collect(),
        );
        result.next_cursor = cursor(page.next_cursor);
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let key = key(audience(&context.extensions)?, Kind::Resources);
        let templates = self
            .shared
            .views
            .resource_templates(&key)
            .await
            .map_err(|e| to_error_data(Kind::Resources, e))?;
        Ok(ListResourceTemplatesResult::with_all_items(
            templates.iter().map(mcp::resource_template).collect(),
        ))
    }

    /// The declared choices of a prompt argument, or of a resource template's URI variable,
    /// that start with what was typed.
    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let audience = audience(&context.extensions)?;
        let wanted = &request.argument.name;
        let unknown = |of: &str| {
            ErrorData::invalid_params(
                format!("argument.name: {of} has no argument {wanted:?}"),
                None,
            )
        };
        let choices = match &request.r#ref {
            Reference::Prompt(prompt) => {
                let name = EntryKey::parse(Kind::Prompts, &prompt.name)
                    .map_err(|e| to_error_data(Kind::Prompts, e))?;
                let prompt = self
                    .shared
                    .views
                    .prompt(&key(audience, Kind::Prompts), &name)
                    .await
                    .map_err(|e| to_error_data(Kind::Prompts, e))?;
                let argument = prompt.arguments.into_iter().find(|a| &a.name == wanted);
                argument
                    .ok_or_else(|| unknown(&format!("prompt {}", prompt.name)))?
                    .choices
            }
            Reference::Resource(template) => {
                let uri = EntryKey::parse(Kind::Resources, &template.uri)
                    .map_err(|e| to_error_data(Kind::Resources, e))?;
                let resource = self
                    .shared
                    .views
                    .resource(&key(audience, Kind::Resources), &uri)
                    .await
                    .map_err(|e| to_error_data(Kind::Resources, e))?;
                let variable_of = UriPattern::parse("uri", &resource.uri)
                    .is_ok_and(|pattern| pattern.variables().any(|v| v == wanted));
                if !variable_of {
                    return Err(unknown(&format!("resource template {}", resource.uri)));
                }
                resource
                    .choices
                    .get(wanted)
                    .map(|c| c.values.clone())
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        Ok(CompleteResult::new(mcp::completion(
            &choices,
            &request.argument.value,
        )))
    }

    #[allow(deprecated)] // logging is deprecated by 2026-07-28; legacy sessions still use it
    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.interests()?.set_log_level(request.level);
        Ok(())
    }

    #[allow(deprecated)] // 2026-07-28 subscribes through subscriptions/listen
    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        let audience = audience(&context.extensions)?;
        EntryKey::parse(Kind::Resources, &request.uri)
            .map_err(|e| to_error_data(Kind::Resources, e))?;
        let interests = self.interests()?;
        if !interests.subscribe(request.uri.clone()) {
            return Err(ErrorData::invalid_request(
                format!(
                    "uri: a session may subscribe to at most {} resources",
                    notify::MAX_SUBSCRIPTIONS
                ),
                None,
            ));
        }
        if let Ok(now) = fingerprint(&self.shared.views, &audience, &request.uri).await {
            interests.settle(&request.uri, now);
        }
        Ok(())
    }

    #[allow(deprecated)]
    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.interests()?.unsubscribe(&request.uri);
        Ok(())
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

    /// Both lists' list_changed, whatever was asked for (a client that did not ask ignores
    /// them), and updates of the resources asked for, up to the bound a session has.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = mcp::list_changed_filter();
        accepted.resource_subscriptions = requested.resource_subscriptions.as_ref().map(|uris| {
            uris.iter()
                .take(notify::MAX_SUBSCRIPTIONS)
                .filter(|uri| EntryKey::parse(Kind::Resources, uri).is_ok())
                .cloned()
                .collect()
        });
        Some(accepted)
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
        // Following changes before the first fingerprints are read: none falls in between.
        let dropped = self.shared.dropped.subscribe();
        let interests = Interests::default();
        for uri in context.accepted().resource_subscriptions.iter().flatten() {
            interests.subscribe(uri.clone());
            if let Ok(now) = fingerprint(&self.shared.views, &audience, uri).await {
                interests.settle(uri, now);
            }
        }
        let notifier = Notifier::Listen(context.sink().clone());
        self.shared
            .forward(dropped, &audience, notifier, &interests, stopped)
            .await;
        Ok(())
    }

    /// Only legacy clients send `notifications/initialized`: their session gets the
    /// notifications until it ends.
    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        let Ok(audience) = audience(&context.extensions) else {
            return;
        };
        let Some((ended, interests)) = self
            .session
            .lock()
            .expect("session lock")
            .as_ref()
            .map(|s| (s.ended.clone(), s.interests.clone()))
        else {
            return;
        };
        // Not the server itself: it holds the session, whose end stops this.
        let shared = self.shared.clone();
        let dropped = shared.dropped.subscribe();
        tokio::spawn(async move {
            let notifier = Notifier::Session(context.peer);
            shared
                .forward(
                    dropped,
                    &audience,
                    notifier,
                    &interests,
                    ended.cancelled_owned(),
                )
                .await;
        });
    }
}
