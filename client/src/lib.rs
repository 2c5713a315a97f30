//! Rust client of mcp-config for MCP servers.
//!
//! [`ConfigClient`] keeps the effective views it fetched, and keeps them right:
//!
//! - an invalidation source — the service's `Watch` stream (no Redis needed) or the Redis
//!   channel — marks views stale the moment a change is published; the next read revalidates
//!   with `known_revision`, so an unchanged view costs a tiny `not_modified` answer;
//! - on a reconnect of that source, or a gap in the revisions it saw, every view is marked stale:
//!   correctness never depends on a message arriving;
//! - when the service is unreachable, the last known view is served flagged
//!   [`Fetched::stale`] with its age, for up to [`ClientConfig::max_stale`], then reads fail;
//!   a read that has such a view waits for the service at most [`ClientConfig::read_budget`]
//!   (the request goes on in the background and updates the cache) unless a change past that
//!   view was announced (then it waits, as a read after `list_changed` must), and after repeated
//!   failures a circuit breaker stops calling the service for [`ClientConfig::breaker_cooldown`]
//!   — a hung service never holds a read that has something to answer;
//! - an optional snapshot file lets a cold process start while the service is down;
//! - [`ConfigClient::prompt`] renders a prompt of a cached view itself while the service cannot
//!   be reached, with the service's template rules (`mcp-config-templates`, checked against the
//!   shared vectors in `client/render-vectors/`);
//! - [`ClientConfig::label`] reads every view at a release label (`staging`, …) instead of
//!   `production`;
//! - [`ConfigClient::changes`] tells the MCP server which (org, server, kind) changed, so it can
//!   send `notifications/prompts/list_changed` to its own clients;
//! - with the feature `mcp`, `loader` serves an rmcp server's prompts and resources from the
//!   client in a few lines, list_changed wired, with a static fallback;
//! - [`Fetched::org_unknown`] tells an org the service does not know (it reads the defaults)
//!   from one without overrides;
//! - with the feature `testing`, `testing::FakeService` is an in-memory service for the unit
//!   tests of code built on the client.
//!
//! ```no_run
//! # async fn example() -> Result<(), mcp_config_client::ClientError> {
//! use mcp_config_client::{ClientConfig, ConfigClient, Source};
//!
//! let client = ConfigClient::connect(ClientConfig::new("http://127.0.0.1:50051")).await?;
//! let prompts = client.prompts("acme", "github").await?;
//! for prompt in prompts.items.iter() {
//!     println!("{} (revision {})", prompt.name, prompts.revision);
//! }
//! let mut changes = client.changes();
//! tokio::spawn(async move {
//!     while let Ok(change) = changes.recv().await {
//!         println!("{change:?} changed: tell MCP clients the list changed");
//!     }
//! });
//! # Ok(()) }
//! ```

mod breaker;
mod cache;
mod invalidation;
#[cfg(feature = "mcp")]
pub mod loader;
mod local;
mod snapshot;
mod status;
#[cfg(feature = "testing")]
pub mod testing;

use std::{
    any::Any,
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::future::{BoxFuture, FutureExt, Shared};

use mcp_config_proto::v1::{
    GetPromptRequest, GetPromptResponse, GetPromptsRequest, GetResourcesRequest, Prompt,
    ReadResourceRequest, ReadResourceResponse, Resource,
    config_service_client::ConfigServiceClient,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tonic::{
    Code,
    metadata::{Ascii, MetadataValue},
    service::{Interceptor, interceptor::InterceptedService},
    transport::Channel,
};

pub use breaker::FAILURES_TO_OPEN;
pub use cache::{Fetched, ViewKind};
pub use mcp_config_proto::v1;
pub use status::{Status, StatusEvent};

use breaker::Breaker;
use cache::{Cache, Trust, ViewId};
use status::Health;

/// How often, and how patiently, a read asks again when the answer predates an event.
/// A list answer as the service gave it (`GetPromptsResponse` / `GetResourcesResponse`).
#[derive(Clone)]
struct Listed<T> {
    revision: u64,
    not_modified: bool,
    org_unknown: bool,
    items: Vec<T>,
}

/// A list answer, with the cache generation its request was sent at.
type Answer<T> = (Listed<T>, u64);
/// A list request in flight, shared by every read of the same view meanwhile.
type Asked<T> = Shared<BoxFuture<'static, Result<Answer<T>, tonic::Status>>>;
/// The requests in flight by view and known revision, each an [`Asked`] of its item type.
type InFlight = Arc<Mutex<HashMap<(ViewId, u64), Box<dyn Any + Send>>>>;

const BEHIND_RETRIES: u32 = 5;
const BEHIND_BACKOFF: Duration = Duration::from_millis(50);

/// Where invalidations come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The service's `Watch` stream (works without Redis).
    Watch,
    /// The Redis channel the service publishes on. `url` picks the topology as fred reads it:
    /// `redis://host:port` (one node), `redis-sentinel://sentinel:port?sentinelServiceName=…`,
    /// `redis-cluster://node:port?node=other:port`.
    Redis { url: String, channel: String },
    /// None: views are revalidated when older than [`ClientConfig::revalidate_after`] only.
    None,
}

#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub endpoint: String,
    pub source: Source,
    /// How long the last known view may be served while the service cannot be reached.
    pub max_stale: Duration,
    /// A view older than this is revalidated even without an invalidation (safety net).
    pub revalidate_after: Duration,
    /// Views are saved here after each fetch and loaded at start, for cold starts while the
    /// service is down.
    pub snapshot: Option<PathBuf>,
    /// Per-call timeout: how long a read with nothing cached waits for the service.
    pub timeout: Duration,
    /// How long a read that holds a view younger than `max_stale` waits for the service before
    /// it answers that view, stale (its request goes on and updates the cache). Not when a
    /// change past the view was announced: that read waits up to `timeout`.
    pub read_budget: Duration,
    /// How long the service is not called after repeated failures to reach it
    /// ([`breaker::FAILURES_TO_OPEN`] in a row); then one call probes it.
    pub breaker_cooldown: Duration,
    /// Bearer token (a `service` JWT) sent with every call when the service runs with auth.
    pub token: Option<String>,
    /// How long the invalidation source may say nothing before it is taken as cut off (a hung
    /// service or Redis closes nothing). The service sends progress every
    /// `MCP_CONFIG_WATCH_PROGRESS_SECS` (5) on both sources; keep this at three times that.
    pub silence: Duration,
    /// The MCP servers whose views this process reads (`github`, …); empty: every server.
    /// Invalidations of other servers are then never received: the Watch stream is filtered,
    /// and the Redis source subscribes to these servers' own channels (`<channel>:<server>`,
    /// sharded on a Redis Cluster: `SSUBSCRIBE`) instead of the global one.
    pub servers: Vec<String>,
    /// The release label every read is at (`staging`, `latest`, …); empty: `production`.
    /// Changes that move only other labels are not heard as changes (C-TRACK-5).
    pub label: String,
}

impl ClientConfig {
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            endpoint: endpoint.into(),
            source: Source::Watch,
            max_stale: Duration::from_secs(3600),
            revalidate_after: Duration::from_secs(300),
            snapshot: None,
            timeout: Duration::from_secs(5),
            read_budget: Duration::from_millis(50),
            breaker_cooldown: Duration::from_secs(5),
            token: None,
            silence: Duration::from_secs(15),
            servers: Vec::new(),
            label: String::new(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid endpoint: {0}")]
    Endpoint(String),
    #[error("the service rejected the request: {0}")]
    Rejected(tonic::Status),
    /// The status stays the error's source, for logs; the message never carries it: a
    /// transport error names internal addresses, and this text reaches MCP clients.
    #[error(
        "the mcp-config service is unreachable and no view younger than the stale limit is known"
    )]
    Unavailable(#[source] tonic::Status),
}

/// Which view changed (org empty: a default, so every org of that server).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changed {
    pub org: String,
    pub server: String,
    pub kind: ViewKind,
    /// The change's revision: a read of this view from now on answers at this revision or a
    /// newer one. 0 when the view is announced because changes may have been missed (a gap, a
    /// reconnection): then it may have changed at any revision.
    pub revision: u64,
}

/// Whether a failed call means "the service is not there" (serve stale) or "the request is
/// wrong" (report it).
/// Why `answer` did not reach the service; `None` when it did (a refusal did).
fn failure_of<T>(answer: &Result<T, tonic::Status>) -> Option<&'static str> {
    match answer {
        Err(status) if unreachable(status) => Some(status::why(status.code())),
        _ => None,
    }
}

fn unreachable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Unknown
            | Code::Internal
            | Code::Cancelled
    )
}

/// Adds the bearer token and the caller's W3C trace context (`traceparent`, from the current
/// `tracing` span when it is exported with OpenTelemetry) to every call.
#[derive(Clone)]
pub(crate) struct Bearer(Option<MetadataValue<Ascii>>);

impl Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        let context =
            tracing_opentelemetry::OpenTelemetrySpanExt::context(&tracing::Span::current());
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut MetadataInjector(request.metadata_mut()))
        });
        Ok(request)
    }
}

/// Writes trace context into gRPC metadata.
struct MetadataInjector<'a>(&'a mut tonic::metadata::MetadataMap);

impl opentelemetry::propagation::Injector for MetadataInjector<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(key), Ok(value)) = (
            tonic::metadata::MetadataKey::from_bytes(key.as_bytes()),
            value.parse(),
        ) {
            self.0.insert(key, value);
        }
    }
}

pub(crate) type Grpc = ConfigServiceClient<InterceptedService<Channel, Bearer>>;

#[derive(Clone)]
pub struct ConfigClient {
    grpc: Grpc,
    cache: Arc<Cache>,
    /// The list requests in flight, by view and known revision (C-VIEW-5): concurrent reads of
    /// one view share one. Each is an [`Asked`] of its view's item type, so type-erased.
    asking: InFlight,
    breaker: Arc<Breaker>,
    health: Arc<Health>,
    changes: broadcast::Sender<Changed>,
    config: Arc<ClientConfig>,
    stop: CancellationToken,
    _guard: Arc<StopOnDrop>,
}

struct StopOnDrop(CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl ConfigClient {
    /// Prepares a client; it connects lazily, so it starts even while the service is down.
    pub async fn connect(config: ClientConfig) -> Result<Self, ClientError> {
        let channel = Channel::from_shared(config.endpoint.clone())
            .map_err(|e| ClientError::Endpoint(e.to_string()))?
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .connect_lazy();
        let bearer = match &config.token {
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| ClientError::Endpoint("the token is not ASCII".into()))?,
            ),
            None => None,
        };
        let cache = Arc::new(Cache::default());
        if let Some(path) = &config.snapshot {
            snapshot::load(path, &cache);
        }
        let (changes, _) = broadcast::channel(1024);
        let stop = CancellationToken::new();
        let client = Self {
            grpc: ConfigServiceClient::with_interceptor(channel, Bearer(bearer))
                .max_decoding_message_size(64 << 20),
            cache,
            asking: Arc::default(),
            breaker: Arc::new(Breaker::new(config.breaker_cooldown)),
            health: Arc::new(Health::new()),
            changes,
            config: Arc::new(config),
            stop: stop.clone(),
            _guard: Arc::new(StopOnDrop(stop)),
        };
        invalidation::spawn(&client);
        Ok(client)
    }

    /// Waits until the invalidation source is connected, so that a change made from now on is
    /// heard (right after [`ConfigClient::connect`] it is still connecting in the background).
    /// Returns at once with [`Source::None`].
    pub async fn until_following(&self) {
        self.cache.until_following().await;
    }

    /// Whether the service answers this client's calls now (C-STATUS-1).
    pub fn status(&self) -> Status {
        self.health.status()
    }

    /// Each change of [`ConfigClient::status`], once (C-STATUS-2): for a server's health
    /// reports.
    pub fn status_events(&self) -> broadcast::Receiver<StatusEvent> {
        self.health.events()
    }

    /// Notifications of changed views, for `list_changed` notifications.
    pub fn changes(&self) -> broadcast::Receiver<Changed> {
        self.changes.subscribe()
    }

    /// The effective prompts of `org` (empty = defaults only) for `server`.
    pub async fn prompts(&self, org: &str, server: &str) -> Result<Fetched<Prompt>, ClientError> {
        let id = ViewId::new(ViewKind::Prompts, org, server);
        let grpc = self.grpc.clone();
        let label = self.config.label.clone();
        self.fetch(&id, |known| {
            let mut grpc = grpc.clone();
            let request = GetPromptsRequest {
                org_id: org.into(),
                server: server.into(),
                known_revision: known,
                label: label.clone(),
                ..Default::default()
            };
            async move {
                let r = grpc.get_prompts(request).await?.into_inner();
                Ok(Listed {
                    revision: r.revision,
                    not_modified: r.not_modified,
                    org_unknown: r.org_unknown,
                    items: r.prompts,
                })
            }
        })
        .await
    }

    /// The effective resources of `org` for `server`.
    pub async fn resources(
        &self,
        org: &str,
        server: &str,
    ) -> Result<Fetched<Resource>, ClientError> {
        let id = ViewId::new(ViewKind::Resources, org, server);
        let grpc = self.grpc.clone();
        let label = self.config.label.clone();
        self.fetch(&id, |known| {
            let mut grpc = grpc.clone();
            let request = GetResourcesRequest {
                org_id: org.into(),
                server: server.into(),
                known_revision: known,
                label: label.clone(),
                ..Default::default()
            };
            async move {
                let r = grpc.get_resources(request).await?.into_inner();
                Ok(Listed {
                    revision: r.revision,
                    not_modified: r.not_modified,
                    org_unknown: r.org_unknown,
                    items: r.resources,
                })
            }
        })
        .await
    }

    /// One prompt rendered by the service; while the service cannot be reached (or the
    /// breaker is open), rendered here from the cached view of the org's prompts if it is
    /// younger than [`ClientConfig::max_stale`] and holds the prompt, with the service's
    /// template rules (C-RENDER-1). Its `revision` is then the cached view's.
    pub async fn prompt(
        &self,
        org: &str,
        server: &str,
        name: &str,
        arguments: HashMap<String, String>,
    ) -> Result<GetPromptResponse, ClientError> {
        if !self.breaker.allows() {
            return self
                .render_cached(org, server, name, &arguments)
                .unwrap_or_else(|| {
                    Err(ClientError::Unavailable(tonic::Status::unavailable(
                        "not called: the service failed repeatedly (circuit open)",
                    )))
                });
        }
        let request = GetPromptRequest {
            org_id: org.into(),
            server: server.into(),
            name: name.into(),
            arguments: arguments.clone(),
            label: self.config.label.clone(),
        };
        let answer = self.grpc.clone().get_prompt(request).await;
        self.observe(&answer);
        match answer {
            Ok(answer) => Ok(answer.into_inner()),
            Err(status) if unreachable(&status) => self
                .render_cached(org, server, name, &arguments)
                .unwrap_or(Err(ClientError::Unavailable(status))),
            Err(status) => Err(ClientError::Rejected(status)),
        }
    }

    /// `name` rendered locally from the cached prompts of (org, server), if a usable view
    /// holds it; a render that fails fails as the service's would.
    fn render_cached(
        &self,
        org: &str,
        server: &str,
        name: &str,
        arguments: &HashMap<String, String>,
    ) -> Option<Result<GetPromptResponse, ClientError>> {
        let id = ViewId::new(ViewKind::Prompts, org, server);
        let view = self
            .cache
            .get::<Prompt>(&id)
            .filter(|view| view.age() <= self.config.max_stale)?;
        let prompt = view.items().iter().find(|p| p.name == name)?;
        Some(
            local::render(prompt, arguments)
                .map(|messages| GetPromptResponse {
                    description: prompt.description.clone(),
                    messages,
                    revision: view.revision,
                })
                .map_err(|e| ClientError::Rejected(local::status_of(&e))),
        )
    }

    /// One resource's contents; while the service cannot be reached (or the breaker is open),
    /// those of a resource of that URI in the cached view of the org's resources, if younger
    /// than [`ClientConfig::max_stale`]. A URI read through a resource template is the
    /// service's to render: unavailable then.
    pub async fn read_resource(
        &self,
        org: &str,
        server: &str,
        uri: &str,
    ) -> Result<ReadResourceResponse, ClientError> {
        if !self.breaker.allows() {
            return self.read_cached(org, server, uri).ok_or_else(|| {
                ClientError::Unavailable(tonic::Status::unavailable(
                    "not called: the service failed repeatedly (circuit open)",
                ))
            });
        }
        let request = ReadResourceRequest {
            org_id: org.into(),
            server: server.into(),
            uri: uri.into(),
            label: self.config.label.clone(),
        };
        let answer = self.grpc.clone().read_resource(request).await;
        self.observe(&answer);
        match answer {
            Ok(answer) => Ok(answer.into_inner()),
            Err(status) if unreachable(&status) => self
                .read_cached(org, server, uri)
                .ok_or(ClientError::Unavailable(status)),
            Err(status) => Err(ClientError::Rejected(status)),
        }
    }

    /// The contents of the resource `uri` in the cached resources of (org, server), if a usable
    /// view holds it (not a template).
    fn read_cached(&self, org: &str, server: &str, uri: &str) -> Option<ReadResourceResponse> {
        let id = ViewId::new(ViewKind::Resources, org, server);
        let view = self
            .cache
            .get::<Resource>(&id)
            .filter(|view| view.age() <= self.config.max_stale)?;
        let resource = view
            .items()
            .iter()
            .find(|r| r.uri == uri && !r.is_template)?;
        let contents = resource.contents.clone().map(|contents| match contents {
            v1::resource::Contents::Text(text) => v1::resource_contents::Contents::Text(text),
            v1::resource::Contents::Blob(blob) => v1::resource_contents::Contents::Blob(blob),
        });
        Some(ReadResourceResponse {
            contents: vec![v1::ResourceContents {
                uri: uri.to_owned(),
                mime_type: resource.mime_type.clone(),
                contents,
            }],
            revision: view.revision,
        })
    }

    /// Records whether a call reached the service, for [`ConfigClient::status`].
    fn observe<T>(&self, answer: &Result<T, tonic::Status>) {
        self.health.record(failure_of(answer));
    }

    /// `call(known)`, or the same request already in flight for `id` at `known`, shared.
    fn ask_shared<T, Fut>(&self, id: &ViewId, known: u64, call: impl FnOnce() -> Fut) -> Asked<T>
    where
        T: cache::Item + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Listed<T>, tonic::Status>> + Send + 'static,
    {
        let key = (id.clone(), known);
        let mut asking = self.asking.lock().expect("asking lock");
        if let Some(asked) = asking.get(&key).and_then(|a| a.downcast_ref::<Asked<T>>()) {
            return asked.clone();
        }
        let generation = self.cache.generation();
        let (in_flight, done) = (self.asking.clone(), key.clone());
        let (breaker, health) = (self.breaker.clone(), self.health.clone());
        let request = call();
        let asked: Asked<T> = async move {
            let answer = request.await;
            in_flight.lock().expect("asking lock").remove(&done);
            let failure = failure_of(&answer);
            breaker.record(failure.is_none());
            health.record(failure);
            Ok((answer?, generation))
        }
        .boxed()
        .shared();
        asking.insert(key, Box::new(asked.clone()));
        asked
    }

    async fn fetch<T, F, Fut>(&self, id: &ViewId, call: F) -> Result<Fetched<T>, ClientError>
    where
        T: cache::Item + Send + Sync + 'static,
        F: Fn(u64) -> Fut,
        Fut: std::future::Future<Output = Result<Listed<T>, tonic::Status>> + Send + 'static,
    {
        let mut behind_retries = 0;
        loop {
            let known = self.cache.get::<T>(id);
            if let Some(fresh) = known
                .as_ref()
                .filter(|k| k.is_fresh(self.config.revalidate_after))
            {
                return Ok(fresh.fetched());
            }
            let usable = known.as_ref().filter(|k| k.age() <= self.config.max_stale);
            if !self.breaker.allows() {
                return match usable {
                    Some(view) => Ok(view.stale()),
                    None => Err(ClientError::Unavailable(tonic::Status::unavailable(
                        "not called: the service failed repeatedly (circuit open)",
                    ))),
                };
            }
            let known_revision = known.as_ref().map_or(0, |k| k.revision);
            let asked = self.ask_shared(id, known_revision, || call(known_revision));
            // Something to answer that is not known to be outdated: the service gets the read
            // budget, then the request goes on without this read and its answer still reaches
            // the cache. A view past which a change was announced is not served on a slow
            // answer (its MCP clients were just told the list changed): that read waits.
            let budgeted = usable.filter(|view| !self.cache.announced_past(id, view.revision));
            let answer = match budgeted {
                Some(view) => {
                    match tokio::time::timeout(self.config.read_budget, asked.clone()).await {
                        Ok(answer) => answer,
                        Err(_) => {
                            let (client, id, had) = (self.clone(), id.clone(), known.is_some());
                            tokio::spawn(async move {
                                if let Ok(answer) = asked.await {
                                    client.settle(&id, had, answer);
                                }
                            });
                            return Ok(view.stale());
                        }
                    }
                }
                None => asked.await,
            };
            let answer = match answer {
                Ok(answer) => answer,
                Err(status) if unreachable(&status) => {
                    return match usable {
                        Some(view) => Ok(view.stale()),
                        None => Err(ClientError::Unavailable(status)),
                    };
                }
                Err(status) => return Err(ClientError::Rejected(status)),
            };
            let revision = answer.0.revision;
            let (view, trust) = self.settle(id, known.is_some(), answer);
            // The replica that answered has not applied a change we were already told of
            // (its own invalidation is on its way): ask again shortly, a few times, then
            // serve the answer as stale (C-FLOOR-2): it is older than a change the caller may
            // have been told of, so never current; the next read revalidates.
            let behind = trust == Trust::Behind;
            if behind && behind_retries < BEHIND_RETRIES {
                behind_retries += 1;
                tokio::time::sleep(BEHIND_BACKOFF * behind_retries).await;
                continue;
            }
            return Ok(view
                .map(|v| if behind { v.stale() } else { v.fetched() })
                .unwrap_or_else(|| Fetched::empty(revision)));
        }
    }

    /// Puts an answer in the cache (and the snapshot), whoever waits for it: the view it makes
    /// and how far it can be trusted.
    fn settle<T: cache::Item + Send + Sync + 'static>(
        &self,
        id: &ViewId,
        had_view: bool,
        (listed, generation): Answer<T>,
    ) -> (Option<cache::Known<T>>, Trust) {
        let Listed {
            revision,
            not_modified,
            org_unknown,
            items,
        } = listed;
        let trust = self.cache.trust(id, revision, generation);
        let view = if not_modified && had_view {
            self.cache.revalidated::<T>(id, revision, trust)
        } else {
            let view = self.cache.store(id, revision, org_unknown, items, trust);
            if let Some(path) = &self.config.snapshot {
                snapshot::save(path, &self.cache);
            }
            Some(view)
        };
        (view, trust)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn calls_carry_the_current_trace_context() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("mcp-server handles prompts/list");
            let _entered = span.enter();
            let trace_id = tracing_opentelemetry::OpenTelemetrySpanExt::context(&span)
                .span()
                .span_context()
                .trace_id();
            let request = Bearer(None).call(tonic::Request::new(())).unwrap();
            let traceparent = request
                .metadata()
                .get("traceparent")
                .expect("a traceparent")
                .to_str()
                .unwrap();
            assert!(traceparent.contains(&trace_id.to_string()), "{traceparent}");
        });
    }
}
