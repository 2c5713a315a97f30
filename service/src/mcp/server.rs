//! The MCP server of `/mcp/{server}`: an org's effective view of one server, read through
//! [`Views`] (the same L1 cache as gRPC, so an MCP request costs no store load of its own),
//! in front of the server's upstream when the registry names one (`gateway`): what
//! mcp-config defines it answers, the rest it forwards.

use std::sync::{Arc, Mutex};

use mcp_config_proto::mcp;
#[allow(deprecated)]
// logging is deprecated by 2026-07-28 but still the legacy sessions' protocol
use rmcp::model::SetLevelRequestParams;
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{
        CallToolRequestParams, CallToolResponse, ClientNotification, ClientRequest,
        CompleteRequestParams, CompleteResult, Extensions, GetPromptRequestParams,
        GetPromptResponse, Implementation, InitializeRequestParams, InitializeResult,
        ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult, ListToolsResult,
        PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, Reference,
        Request, RequestOptionalParam, ServerConfig, ServerResult, SubscribeRequestParams,
        SubscriptionFilter, UnsubscribeRequestParams,
    },
    service::{NotificationContext, RequestContext, SubscriptionContext},
};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{
    caller::Audience,
    error::{gateway_error, to_error_data},
    lists,
    notify::{self, Interests, Notifier},
};
use crate::{
    domain::{EntryKey, Kind, OrgFilter, Scope, Upstream, UriPattern, ViewKey},
    error::Error,
    gateway::{
        Cover, Cursor, Gateway, GatewayError, Link, Standing,
        link::{self, Downstream},
        listen::{self, Listener},
    },
    listeners::{Door, OpenStreams},
    propagation::Dropped,
    render,
    slots::{Slot, Slots},
    views::Views,
    wire::EncodedView,
};

/// What the MCP servers of one replica share.
#[derive(Clone)]
pub struct Shared {
    pub views: Views,
    pub dropped: Dropped,
    /// One place per open legacy session or listen stream, per replica and per subject.
    pub slots: Arc<Slots>,
    /// Cancelled at shutdown: ends every session's notifications.
    pub shutdown: CancellationToken,
    /// The upstreams `/mcp/{server}` forwards to, and how.
    pub gateway: Gateway,
    /// Who is listening: each session's notifications are listed while they run.
    pub listeners: OpenStreams,
}

/// This replica's drops from now on, and the revision the follower is up to before them.
struct Following {
    from: crate::domain::Revision,
    dropped: tokio::sync::broadcast::Receiver<crate::propagation::ViewsDropped>,
}

impl Shared {
    /// Starts following drops. The newest revision is read first: a drop announced in
    /// between is one the follower gets, never one it is said to be past.
    fn follow(&self) -> Following {
        let from = self.dropped.newest();
        Following {
            from,
            dropped: self.dropped.subscribe(),
        }
    }

    /// Forwards `audience`'s notifications to `notifier` until `stopped`.
    async fn forward(
        &self,
        Following { from, dropped }: Following,
        audience: &Audience,
        notifier: Notifier,
        interests: &Interests,
        stopped: impl Future<Output = ()>,
    ) {
        let views = &self.views;
        let orgs = match &audience.scope {
            Scope::Org(org) => OrgFilter::Only(vec![org.clone()]),
            Scope::Defaults => OrgFilter::Only(Vec::new()),
        };
        let listening = self.listeners.open(
            Door::Mcp,
            &audience.subject,
            &orgs,
            std::slice::from_ref(&audience.server),
            Some(&audience.label),
            from,
        );
        notify::forward(
            dropped,
            audience,
            notifier,
            interests,
            |uri| async move { fingerprint(views, audience, &uri).await },
            |revision| listening.saw(revision),
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
    /// The session's link to its server's upstream (with the entry it was opened for), opened
    /// on the first request that needs it.
    link: Arc<tokio::sync::Mutex<Option<OpenLink>>>,
}

/// A session's upstream link and the registry entry it was opened for.
type OpenLink = (Arc<Upstream>, Arc<Link>);

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
            link: Arc::default(),
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
        label: audience.label,
    }
}

impl ConfigServer {
    /// The caller's view of `kind`.
    async fn view(
        &self,
        kind: Kind,
        extensions: &Extensions,
    ) -> Result<Arc<EncodedView>, ErrorData> {
        self.shared
            .views
            .view(&key(audience(extensions)?, kind))
            .await
            .map_err(|e| to_error_data(kind, e))
    }
}

/// What a forwarded request expects back; any other result is the upstream's mistake.
macro_rules! answer {
    ($result:expr, $variant:ident) => {
        match $result {
            ServerResult::$variant(answer) => Ok(answer),
            _ => Err(gateway_error(GatewayError::Unexpected(stringify!(
                $variant
            )))),
        }
    };
}

impl ConfigServer {
    /// The link to the server's upstream, opened for this session on first use (and again
    /// when the upstream session ended or the registry points elsewhere); `None` when the
    /// server has no upstream.
    async fn link(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Result<Option<Arc<Link>>, ErrorData> {
        let audience = audience(&context.extensions)?;
        let gateway = &self.shared.gateway;
        let Some(upstream) = gateway
            .registry
            .lookup(&audience.server)
            .await
            .map_err(|e| to_error_data(Kind::Prompts, e))?
        else {
            return Ok(None);
        };
        let mut held = self.link.lock().await;
        if let Some((opened_for, link)) = held.as_ref()
            && **opened_for == *upstream
            && !link.is_closed()
        {
            return Ok(Some(link.clone()));
        }
        let caller = link::Caller {
            scope: &audience.scope,
            subject: &audience.subject,
            server: &audience.server,
            request: context.extensions.get::<axum::http::request::Parts>(),
        };
        let link = Link::open(
            &gateway.http,
            gateway.signer.as_ref(),
            &upstream,
            caller,
            Downstream::Client(context.peer.clone()),
            context.client_capabilities().unwrap_or_default(),
        )
        .await
        .map_err(gateway_error)?;
        let link = Arc::new(link);
        *held = Some((upstream, link.clone()));
        Ok(Some(link))
    }

    /// Sends `request` to the upstream; a server without one refuses it.
    async fn forward(
        &self,
        request: ClientRequest,
        context: &RequestContext<RoleServer>,
    ) -> Result<ServerResult, ErrorData> {
        let audience = audience(&context.extensions)?;
        let link = self
            .link(context)
            .await?
            .ok_or_else(|| gateway_error(GatewayError::NoUpstream(audience.server)))?;
        link.forward(request, context).await.map_err(gateway_error)
    }

    /// Whether the server has an upstream (its lists are merged).
    async fn has_upstream(&self, audience: &Audience) -> Result<bool, ErrorData> {
        let upstream = self.shared.gateway.registry.lookup(&audience.server).await;
        Ok(upstream
            .map_err(|e| to_error_data(Kind::Prompts, e))?
            .is_some())
    }

    /// Whether the upstream lists `kind` now: it declared the list, and can be reached (when
    /// it cannot, mcp-config's half answers alone, and the reason is logged).
    async fn upstream_offers(&self, kind: Kind, context: &RequestContext<RoleServer>) -> bool {
        match self.link(context).await {
            Ok(link) => link.is_some_and(|link| link.offers(kind)),
            Err(e) => {
                tracing::warn!(error = %e.message, "upstream unavailable; mcp-config's half answers");
                false
            }
        }
    }

    /// What the org's view of `kind` defines and hides, for the merge rule.
    async fn cover(&self, audience: &Audience, kind: Kind) -> Result<Cover, ErrorData> {
        self.shared
            .gateway
            .shadow
            .cover(&key(audience.clone(), kind))
            .await
            .map_err(|e| to_error_data(kind, e))
    }

    /// A name mcp-config does not serve: the upstream's, unless the org hides it. `missing`
    /// is mcp-config's own answer, kept when the name is not the upstream's to answer.
    async fn passes_through(
        &self,
        audience: &Audience,
        kind: Kind,
        name: &str,
    ) -> Result<bool, ErrorData> {
        if !self.has_upstream(audience).await? {
            return Ok(false);
        }
        let cover = self.cover(audience, kind).await?;
        Ok(cover.standing(name) == Standing::PassesThrough)
    }

    /// One page of `kind`'s list for `audience`: mcp-config's pages (`ours` reads one after
    /// a cursor) and, when the server has an upstream, then the upstream's (`theirs` asks for
    /// one), less the names the org's view stands in front of. When the upstream fails,
    /// mcp-config's half still answers.
    async fn list_page<T>(
        &self,
        context: &RequestContext<RoleServer>,
        kind: Kind,
        cursor: Option<String>,
        ours: impl AsyncFnOnce(String) -> Result<(Vec<T>, Option<String>), ErrorData>,
        theirs: impl AsyncFnOnce(Option<String>) -> Result<(Vec<T>, Option<String>), ErrorData>,
        name_of: impl Fn(&T) -> &str,
    ) -> Result<(Vec<T>, Option<String>), ErrorData> {
        let audience = &audience(&context.extensions)?;
        if !self.has_upstream(audience).await? {
            return ours(cursor.unwrap_or_default()).await;
        }
        let cover = self.cover(audience, kind).await?;
        let cursor =
            Cursor::parse(cursor.as_deref()).map_err(|e| to_error_data(Kind::Prompts, e))?;
        let (mut items, upstream_cursor) = match cursor {
            Cursor::Upstream(theirs) => (Vec::new(), Some(theirs.to_owned())),
            start @ (Cursor::Start | Cursor::Ours(_)) => {
                let from = match start {
                    Cursor::Ours(c) => c.to_owned(),
                    _ => String::new(),
                };
                let (items, next) = ours(from).await?;
                if let Some(next) = next {
                    return Ok((items, Some(Cursor::ours(&next))));
                }
                (items, None)
            }
        };
        if upstream_cursor.is_none() && !self.upstream_offers(kind, context).await {
            return Ok((items, None));
        }
        match theirs(upstream_cursor).await {
            Ok((upstream_items, next)) => {
                items.extend(
                    upstream_items
                        .into_iter()
                        .filter(|item| cover.standing(name_of(item)) == Standing::PassesThrough),
                );
                Ok((items, next.map(|n| Cursor::upstream(&n))))
            }
            Err(e) if matches!(cursor, Cursor::Upstream(_)) => Err(e),
            Err(e) => {
                tracing::warn!(error = %e.message, "upstream list failed; mcp-config's half answers");
                Ok((items, None))
            }
        }
    }
}

impl ServerHandler for ConfigServer {
    #[allow(deprecated)] // logging: see `set_level`
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = mcp::capabilities();
        // Tools are the upstream's: listed when the server has one, an empty list otherwise.
        capabilities.tools = rmcp::model::ServerCapabilities::builder()
            .enable_tools()
            .enable_tool_list_changed()
            .build()
            .tools;
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
        let ours = async |cursor: String| {
            let view = self.view(Kind::Prompts, &context.extensions).await?;
            lists::prompts_page(&view, &cursor)
        };
        let cursor = request.and_then(|r| r.cursor);
        let theirs = async |cursor: Option<String>| {
            let request = PaginatedRequestParams::default().with_cursor(cursor);
            let result = self
                .forward(
                    ClientRequest::ListPromptsRequest(RequestOptionalParam::with_param(request)),
                    &context,
                )
                .await?;
            let page = answer!(result, ListPromptsResult)?;
            Ok((page.prompts, page.next_cursor))
        };
        let (prompts, next) = self
            .list_page(&context, Kind::Prompts, cursor, ours, theirs, |p| {
                p.name.as_str()
            })
            .await?;
        let mut result = ListPromptsResult::with_all_items(prompts);
        result.next_cursor = next;
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
        let original = request.clone();
        let arguments = mcp::arguments(request.arguments);
        render::check_arguments(&arguments).map_err(|e| to_error_data(Kind::Prompts, e))?;
        let rendered = self
            .shared
            .views
            .render_prompt(&key, &name, arguments)
            .await;
        match rendered {
            Ok(rendered) => Ok(mcp::rendered(rendered).into()),
            Err(Error::NotFound(_))
                if self
                    .passes_through(
                        &audience(&context.extensions)?,
                        Kind::Prompts,
                        &original.name,
                    )
                    .await? =>
            {
                let result = self
                    .forward(
                        ClientRequest::GetPromptRequest(Request::new(original)),
                        &context,
                    )
                    .await?;
                match result {
                    ServerResult::GetPromptResult(r) => Ok(r.into()),
                    ServerResult::InputRequiredResult(r) => Ok(r.into()),
                    _ => Err(gateway_error(GatewayError::Unexpected("prompts/get"))),
                }
            }
            Err(e) => Err(to_error_data(Kind::Prompts, e)),
        }
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let ours = async |cursor: String| {
            let view = self.view(Kind::Resources, &context.extensions).await?;
            lists::resources_page(&view, &cursor)
        };
        let cursor = request.and_then(|r| r.cursor);
        let theirs = async |cursor: Option<String>| {
            let request = PaginatedRequestParams::default().with_cursor(cursor);
            let result = self
                .forward(
                    ClientRequest::ListResourcesRequest(RequestOptionalParam::with_param(request)),
                    &context,
                )
                .await?;
            let page = answer!(result, ListResourcesResult)?;
            Ok((page.resources, page.next_cursor))
        };
        let (resources, next) = self
            .list_page(&context, Kind::Resources, cursor, ours, theirs, |r| {
                r.uri.as_str()
            })
            .await?;
        let mut result = ListResourcesResult::with_all_items(resources);
        result.next_cursor = next;
        Ok(result)
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        let audience = audience(&context.extensions)?;
        let key = key(audience.clone(), Kind::Resources);
        let templates = self
            .shared
            .views
            .resource_templates(&key)
            .await
            .map_err(|e| to_error_data(Kind::Resources, e))?;
        let mut templates: Vec<_> = templates.iter().map(mcp::resource_template).collect();
        if self.has_upstream(&audience).await?
            && self.upstream_offers(Kind::Resources, &context).await
        {
            let cover = self.cover(&audience, Kind::Resources).await?;
            let request = RequestOptionalParam::with_param(PaginatedRequestParams::default());
            match self
                .forward(
                    ClientRequest::ListResourceTemplatesRequest(request),
                    &context,
                )
                .await
                .and_then(|result| answer!(result, ListResourceTemplatesResult))
            {
                Ok(theirs) => templates.extend(
                    theirs
                        .resource_templates
                        .into_iter()
                        .filter(|t| cover.standing(&t.uri_template) == Standing::PassesThrough),
                ),
                Err(e) => tracing::warn!(error = %e.message, "upstream templates unavailable"),
            }
        }
        Ok(ListResourceTemplatesResult::with_all_items(templates))
    }

    /// The declared choices of a prompt argument, or of a resource template's URI variable,
    /// that start with what was typed.
    async fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let audience = audience(&context.extensions)?;
        let upstreams = match &request.r#ref {
            Reference::Prompt(prompt) => {
                self.passes_through(&audience, Kind::Prompts, &prompt.name)
                    .await?
            }
            Reference::Resource(template) => {
                self.passes_through(&audience, Kind::Resources, &template.uri)
                    .await?
            }
            _ => false,
        };
        if upstreams {
            let result = self
                .forward(
                    ClientRequest::CompleteRequest(Request::new(request)),
                    &context,
                )
                .await?;
            return answer!(result, CompleteResult);
        }
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
        context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        self.interests()?.set_log_level(request.level);
        if self.has_upstream(&audience(&context.extensions)?).await? {
            // The upstream's own log messages follow the same level; one that cannot take it
            // does not undo the session's.
            if let Err(e) = self
                .forward(
                    ClientRequest::SetLevelRequest(Request::new(request)),
                    &context,
                )
                .await
            {
                tracing::debug!(error = %e.message, "the upstream did not take the log level");
            }
        }
        Ok(())
    }

    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        // Without an upstream there are no tools: an empty list, so a client can use this
        // endpoint as its one connection either way.
        if !self.has_upstream(&audience(&context.extensions)?).await? {
            return Ok(ListToolsResult::default());
        }
        let request = RequestOptionalParam::with_param(request.unwrap_or_default());
        let result = self
            .forward(ClientRequest::ListToolsRequest(request), &context)
            .await?;
        answer!(result, ListToolsResult)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let result = self
            .forward(
                ClientRequest::CallToolRequest(Request::new(request)),
                &context,
            )
            .await?;
        // 2026-07-28's multi-round trips (input required, tasks) go back to the client as
        // the upstream answered them.
        match result {
            ServerResult::CallToolResult(r) => Ok(r.into()),
            ServerResult::InputRequiredResult(r) => Ok(r.into()),
            ServerResult::CreateTaskResult(r) => Ok(r.into()),
            _ => Err(gateway_error(GatewayError::Unexpected("tools/call"))),
        }
    }

    /// A ping goes on to the upstream when this session's link to it is open, so the upstream
    /// sees the client is there; the answer is the gateway's own (a client pings to know its
    /// session lives, and it does while prompts and resources answer), the upstream's failure
    /// only logged. Never opens a link.
    async fn ping(&self, context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        let link = self
            .link
            .lock()
            .await
            .as_ref()
            .filter(|(_, link)| !link.is_closed())
            .map(|(_, link)| link.clone());
        if let Some(link) = link {
            let ping = ClientRequest::PingRequest(Default::default());
            if let Err(e) = link.forward(ping, &context).await {
                tracing::debug!(error = %e, "the upstream did not answer a ping");
            }
        }
        Ok(())
    }

    async fn on_roots_list_changed(&self, _context: NotificationContext<RoleServer>) {
        let link = self
            .link
            .lock()
            .await
            .as_ref()
            .map(|(_, link)| link.clone());
        if let Some(link) = link {
            link.notify(ClientNotification::RootsListChangedNotification(
                Default::default(),
            ))
            .await;
        }
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
        if self
            .passes_through(&audience, Kind::Resources, &request.uri)
            .await?
        {
            let result = self
                .forward(
                    ClientRequest::SubscribeRequest(Request::new(request)),
                    &context,
                )
                .await?;
            answer!(result, EmptyResult)?;
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
        let audience = audience(&context.extensions)?;
        let key = key(audience.clone(), Kind::Resources);
        let uri = EntryKey::parse(Kind::Resources, &request.uri)
            .map_err(|e| to_error_data(Kind::Resources, e))?;
        match self.shared.views.read_resource(&key, &uri).await {
            Ok(contents) => Ok(mcp::contents(contents).into()),
            Err(Error::NotFound(_))
                if self
                    .passes_through(&audience, Kind::Resources, &request.uri)
                    .await? =>
            {
                let result = self
                    .forward(
                        ClientRequest::ReadResourceRequest(Request::new(request)),
                        &context,
                    )
                    .await?;
                match result {
                    ServerResult::ReadResourceResult(r) => Ok(r.into()),
                    ServerResult::InputRequiredResult(r) => Ok(r.into()),
                    _ => Err(gateway_error(GatewayError::Unexpected("resources/read"))),
                }
            }
            Err(e) => Err(to_error_data(Kind::Resources, e)),
        }
    }

    /// Both lists' list_changed, whatever was asked for (a client that did not ask ignores
    /// them), the tools' when asked for (an upstream's), and updates of the resources asked
    /// for, up to the bound a session has.
    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        let mut accepted = mcp::list_changed_filter();
        accepted.tools_list_changed = requested.tools_list_changed.filter(|asked| *asked);
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
        let dropped = self.shared.follow();
        let interests = Interests::default();
        for uri in context.accepted().resource_subscriptions.iter().flatten() {
            interests.subscribe(uri.clone());
            if let Ok(now) = fingerprint(&self.shared.views, &audience, uri).await {
                interests.settle(uri, now);
            }
        }
        let notifier = Notifier::Listen(context.sink().clone());
        // The upstream's announcements too, for as long as the stream's own run.
        let listener = Listener {
            scope: audience.scope.clone(),
            subject: audience.subject.clone(),
            server: audience.server.clone(),
            request: (context.request_context().extensions)
                .get::<axum::http::request::Parts>()
                .cloned(),
        };
        let upstream =
            listen::relay_upstream(&self.shared.gateway, listener, context.sink().clone());
        tokio::select! {
            () = self.shared.forward(dropped, &audience, notifier, &interests, stopped) => {}
            () = upstream => {}
        }
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
        let dropped = shared.follow();
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
