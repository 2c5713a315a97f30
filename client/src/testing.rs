//! An in-memory stand-in for the mcp-config service, for the unit tests of code built on this
//! client (feature `testing`): a real gRPC server on a free local port, holding views the test
//! sets, so the real [`ConfigClient`](crate::ConfigClient) — its cache, its invalidations, its
//! local renders — runs unchanged against it. No database, no Redis, no service binary.
//!
//! ```no_run
//! # async fn example() {
//! use mcp_config_client::{ClientConfig, ConfigClient, Source, testing::FakeService};
//! use mcp_config_proto::v1::Prompt;
//!
//! let fake = FakeService::start().await;
//! fake.set_prompts("", "github", vec![Prompt { name: "review-pr".into(), ..Default::default() }]);
//! let client = ConfigClient::connect(ClientConfig {
//!     source: Source::Watch,
//!     ..ClientConfig::new(fake.endpoint())
//! })
//! .await
//! .unwrap();
//! assert_eq!(client.prompts("acme", "github").await.unwrap().items.len(), 1);
//! # }
//! ```
//!
//! Views are effective views, set whole (the fake merges nothing): an org without a view of a
//! server reads the defaults' (org `""`), and is an unknown org (`org_unknown`) unless a view
//! of its own was set or [`FakeService::register_org`] named it. Every set is a change at the
//! next revision, announced on `Watch` as the service announces it, so notifications and
//! `list_changed` flow. `GetPrompt` renders with the client's own renderer (the service's
//! template rules); `ReadResource` answers a resource of that exact URI.

use std::{
    collections::{BTreeSet, HashMap},
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use futures::Stream;
use mcp_config_proto::{
    EncodedResponse,
    server::config_service_server::{ConfigService, ConfigServiceServer},
    v1::{
        GetPromptRequest, GetPromptResponse, GetPromptsRequest, GetPromptsResponse,
        GetResourcesRequest, GetResourcesResponse, InvalidationEvent, Kind, Prompt,
        ReadResourceRequest, ReadResourceResponse, Resource, ResourceContents, WatchRequest,
        resource, resource_contents,
    },
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use crate::local;

/// How often a quiet `Watch` stream says where it stands, so the client takes it as followed.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// The fake service; it stops when dropped.
pub struct FakeService {
    state: Arc<State>,
    addr: SocketAddr,
    stop: CancellationToken,
}

impl FakeService {
    /// Starts serving on a free port of 127.0.0.1, with no views.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free local port");
        let addr = listener.local_addr().expect("a bound address");
        let state = Arc::new(State::default());
        let stop = CancellationToken::new();
        let server = tonic::transport::Server::builder()
            .add_service(ConfigServiceServer::from_arc(state.clone()))
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener),
                stop.clone().cancelled_owned(),
            );
        tokio::spawn(server);
        Self { state, addr, stop }
    }

    /// The endpoint to give [`ClientConfig::new`](crate::ClientConfig::new).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets `org`'s effective prompts of `server` (`""`: the defaults) and announces it.
    pub fn set_prompts(&self, org: &str, server: &str, prompts: Vec<Prompt>) {
        let keys = prompts.iter().map(|p| p.name.clone()).collect();
        self.state
            .set(Kind::Prompts, org, server, keys, Items::Prompts(prompts));
    }

    /// Sets `org`'s effective resources of `server` (`""`: the defaults) and announces it.
    pub fn set_resources(&self, org: &str, server: &str, resources: Vec<Resource>) {
        let keys = resources.iter().map(|r| r.uri.clone()).collect();
        self.state.set(
            Kind::Resources,
            org,
            server,
            keys,
            Items::Resources(resources),
        );
    }

    /// Makes `org` known without views of its own: it reads the defaults, not as unknown.
    /// Announced as the service announces a registration: one change per view the defaults hold.
    pub fn register_org(&self, org: &str) {
        self.state.register(org);
    }

    /// While on, every call fails as a service that cannot be reached does (`UNAVAILABLE`) and
    /// open `Watch` streams end: the client's stale-if-error paths run.
    pub fn set_unavailable(&self, unavailable: bool) {
        self.state.lock().unavailable = unavailable;
        if unavailable {
            self.state
                .cut
                .send_modify(|cuts| *cuts = cuts.wrapping_add(1));
        }
    }

    /// How many `GetPrompts` and `GetResources` calls it answered (or refused), e.g. to see
    /// that a cached read made none.
    pub fn list_calls(&self) -> u64 {
        self.state.lock().list_calls
    }
}

impl Drop for FakeService {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

enum Items {
    Prompts(Vec<Prompt>),
    Resources(Vec<Resource>),
}

struct View {
    revision: u64,
    items: Items,
}

#[derive(Default)]
struct Views {
    revision: u64,
    by_key: HashMap<(Kind, String, String), View>,
    orgs: BTreeSet<String>,
    /// Every change announced, for a `Watch` that resumes from a revision.
    log: Vec<InvalidationEvent>,
    unavailable: bool,
    list_calls: u64,
}

impl Views {
    fn announce(
        &mut self,
        kind: Kind,
        org: &str,
        server: &str,
        keys: Vec<String>,
    ) -> InvalidationEvent {
        self.revision += 1;
        let event = InvalidationEvent {
            revision: self.revision,
            previous_revision: self.revision - 1,
            org_id: org.to_owned(),
            server: server.to_owned(),
            kind: kind as i32,
            keys,
            ..Default::default()
        };
        self.log.push(event.clone());
        event
    }

    /// The view `org` reads, and whether its org is unknown.
    fn effective(&self, kind: Kind, org: &str, server: &str) -> (Option<&View>, bool) {
        let own = self.by_key.get(&(kind, org.to_owned(), server.to_owned()));
        let unknown = !org.is_empty() && !self.orgs.contains(org);
        let view = own.or_else(|| self.by_key.get(&(kind, String::new(), server.to_owned())));
        (view, unknown)
    }
}

struct State {
    views: Mutex<Views>,
    events: broadcast::Sender<InvalidationEvent>,
    /// Bumped to end every open `Watch` stream.
    cut: tokio::sync::watch::Sender<u64>,
}

impl Default for State {
    fn default() -> Self {
        Self {
            views: Mutex::default(),
            events: broadcast::channel(1024).0,
            cut: tokio::sync::watch::Sender::new(0),
        }
    }
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Views> {
        self.views.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, kind: Kind, org: &str, server: &str, keys: Vec<String>, items: Items) {
        let mut views = self.lock();
        if !org.is_empty() {
            views.orgs.insert(org.to_owned());
        }
        let event = views.announce(kind, org, server, keys);
        let view = View {
            revision: event.revision,
            items,
        };
        views
            .by_key
            .insert((kind, org.to_owned(), server.to_owned()), view);
        // No stream listening is no error.
        let _ = self.events.send(event);
    }

    fn register(&self, org: &str) {
        let mut views = self.lock();
        if !views.orgs.insert(org.to_owned()) {
            return;
        }
        let defaults: BTreeSet<(Kind, String)> = views
            .by_key
            .keys()
            .filter(|(_, scope, _)| scope.is_empty())
            .map(|(kind, _, server)| (*kind, server.clone()))
            .collect();
        for (kind, server) in defaults {
            let event = views.announce(kind, org, &server, Vec::new());
            if let Some(view) = views.by_key.get_mut(&(kind, String::new(), server.clone())) {
                // The org's reads of it move past the copy that said "unknown".
                view.revision = event.revision;
            }
            let _ = self.events.send(event);
        }
    }

    fn reachable(&self) -> Result<MutexGuard<'_, Views>, Status> {
        let views = self.lock();
        if views.unavailable {
            return Err(Status::unavailable("the fake service is set unavailable"));
        }
        Ok(views)
    }

    /// A list answer: the view `org` reads (or none), as the service encodes it.
    fn list(
        &self,
        kind: Kind,
        org: &str,
        server: &str,
        known_revision: u64,
    ) -> Result<EncodedResponse, Status> {
        let mut views = self.lock();
        views.list_calls += 1;
        if views.unavailable {
            return Err(Status::unavailable("the fake service is set unavailable"));
        }
        let (view, org_unknown) = views.effective(kind, org, server);
        let revision = view.map_or(0, |v| v.revision);
        if known_revision != 0 && known_revision == revision {
            return Ok(EncodedResponse::encode(&GetPromptsResponse {
                revision,
                not_modified: true,
                ..Default::default()
            }));
        }
        Ok(match view.map(|v| &v.items) {
            Some(Items::Resources(resources)) => EncodedResponse::encode(&GetResourcesResponse {
                revision,
                resources: resources.clone(),
                org_unknown,
                ..Default::default()
            }),
            Some(Items::Prompts(prompts)) => EncodedResponse::encode(&GetPromptsResponse {
                revision,
                prompts: prompts.clone(),
                org_unknown,
                ..Default::default()
            }),
            None => EncodedResponse::encode(&GetPromptsResponse {
                org_unknown,
                ..Default::default()
            }),
        })
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<InvalidationEvent, Status>> + Send>>;

/// One `Watch` stream: the changes after its start (or after the revision it resumes from) of
/// the servers it asked for, chained along the stream as a filtered stream of the service
/// chains its own, and progress while quiet.
struct Feed {
    replay: std::vec::IntoIter<InvalidationEvent>,
    live: broadcast::Receiver<InvalidationEvent>,
    cut: tokio::sync::watch::Receiver<u64>,
    servers: BTreeSet<String>,
    /// The last revision this stream stands at.
    last: u64,
}

impl Feed {
    async fn next(&mut self) -> Option<InvalidationEvent> {
        loop {
            let mut event = match self.replay.next() {
                Some(event) => event,
                None => tokio::select! {
                    // A stream that fell behind ends; the client resumes from its revision.
                    event = self.live.recv() => event.ok()?,
                    _ = self.cut.changed() => return None,
                    () = tokio::time::sleep(PROGRESS_EVERY) => {
                        return Some(InvalidationEvent {
                            revision: self.last,
                            previous_revision: self.last,
                            ..Default::default()
                        });
                    }
                },
            };
            let wanted = self.servers.is_empty() || self.servers.contains(&event.server);
            if event.revision <= self.last || !wanted {
                continue;
            }
            if self.last != 0 {
                event.previous_revision = self.last;
            }
            self.last = event.revision;
            return Some(event);
        }
    }
}

#[tonic::async_trait]
impl ConfigService for State {
    async fn get_prompts(
        &self,
        request: Request<GetPromptsRequest>,
    ) -> Result<Response<EncodedResponse>, Status> {
        let r = request.into_inner();
        self.list(Kind::Prompts, &r.org_id, &r.server, r.known_revision)
            .map(Response::new)
    }

    async fn get_resources(
        &self,
        request: Request<GetResourcesRequest>,
    ) -> Result<Response<EncodedResponse>, Status> {
        let r = request.into_inner();
        self.list(Kind::Resources, &r.org_id, &r.server, r.known_revision)
            .map(Response::new)
    }

    async fn get_prompt(
        &self,
        request: Request<GetPromptRequest>,
    ) -> Result<Response<GetPromptResponse>, Status> {
        let r = request.into_inner();
        let views = self.reachable()?;
        let (view, _) = views.effective(Kind::Prompts, &r.org_id, &r.server);
        let found = view.and_then(|v| match &v.items {
            Items::Prompts(prompts) => prompts
                .iter()
                .find(|p| p.name == r.name)
                .map(|p| (p, v.revision)),
            Items::Resources(_) => None,
        });
        let (prompt, revision) =
            found.ok_or_else(|| Status::not_found(format!("prompt {:?} not found", r.name)))?;
        let messages = local::render(prompt, &r.arguments).map_err(|e| local::status_of(&e))?;
        Ok(Response::new(GetPromptResponse {
            description: prompt.description.clone(),
            messages,
            revision,
        }))
    }

    async fn read_resource(
        &self,
        request: Request<ReadResourceRequest>,
    ) -> Result<Response<ReadResourceResponse>, Status> {
        let r = request.into_inner();
        let views = self.reachable()?;
        let (view, _) = views.effective(Kind::Resources, &r.org_id, &r.server);
        let found = view.and_then(|v| match &v.items {
            Items::Resources(resources) => resources
                .iter()
                .find(|res| res.uri == r.uri && !res.is_template)
                .map(|res| (res, v.revision)),
            Items::Prompts(_) => None,
        });
        let (resource, revision) =
            found.ok_or_else(|| Status::not_found(format!("resource {:?} not found", r.uri)))?;
        let contents = resource.contents.clone().map(|c| match c {
            resource::Contents::Text(text) => resource_contents::Contents::Text(text),
            resource::Contents::Blob(blob) => resource_contents::Contents::Blob(blob),
        });
        Ok(Response::new(ReadResourceResponse {
            contents: vec![ResourceContents {
                uri: resource.uri.clone(),
                mime_type: resource.mime_type.clone(),
                contents,
            }],
            revision,
        }))
    }

    type WatchStream = EventStream;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let r = request.into_inner();
        let mut cut = self.cut.subscribe();
        cut.mark_unchanged();
        let feed = {
            let views = self.reachable()?;
            let replay: Vec<InvalidationEvent> = if r.since_revision == 0 {
                Vec::new()
            } else {
                views
                    .log
                    .iter()
                    .filter(|e| e.revision > r.since_revision)
                    .cloned()
                    .collect()
            };
            Feed {
                replay: replay.into_iter(),
                live: self.events.subscribe(),
                cut,
                servers: r.servers.into_iter().collect(),
                last: if r.since_revision == 0 {
                    views.revision
                } else {
                    r.since_revision
                },
            }
        };
        let events = futures::stream::unfold(feed, |mut feed| async move {
            feed.next().await.map(|event| (Ok(event), feed))
        });
        Ok(Response::new(Box::pin(events)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_without_views_reads_the_defaults_and_is_unknown_until_registered() {
        let state = State::default();
        state.set(
            Kind::Prompts,
            "",
            "github",
            vec!["a".into()],
            Items::Prompts(vec![Prompt {
                name: "a".into(),
                ..Default::default()
            }]),
        );
        let unknown = state.lock().effective(Kind::Prompts, "acme", "github").1;
        assert!(unknown);
        state.register("acme");
        let views = state.lock();
        let (view, unknown) = views.effective(Kind::Prompts, "acme", "github");
        assert!(!unknown);
        assert_eq!(
            view.map(|v| v.revision),
            Some(2),
            "the registration moved it"
        );
        assert_eq!(views.log.len(), 2);
    }
}
