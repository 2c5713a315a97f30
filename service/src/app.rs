//! Building and running the service: the app is *built* (listeners bound, tasks spawned) by
//! [`App::build`], which returns the bound addresses, so tests can ask for port 0.
//!
//! Building is a sequence of named steps (store, invalidation, listeners, gRPC, HTTP); every
//! task they start belongs to the app's [`Lifecycle`]. Shutdown is one [`CancellationToken`]:
//! cancelling it stops the listeners and ends Watch streams, then the relay publishes what is
//! left, and [`App::wait`] returns when every task has ended (or a bound has passed).

use std::{net::SocketAddr, time::Duration};

use fred::prelude::ClientLike;
use mcp_config_proto::{FILE_DESCRIPTOR_SET, server::config_service_server::ConfigServiceServer};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
};
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

use crate::{
    auth::Authenticator,
    cache::ViewCache,
    catalog::Catalog,
    change_requests::{self, ChangeRequests},
    config::{ConfigError, Settings},
    connections::{ConnectionLimits, Gate, Listener},
    edits::Editor,
    gateway::{ContextSigner, Gateway, http::UpstreamHttp},
    grpc::{self, ConfigApi, WatchLimits, Watcher},
    http::{self, HttpState},
    lifecycle::Lifecycle,
    listeners::OpenStreams,
    mcp::{self, McpDoor},
    propagation::{
        Bus, Dropped, bus,
        publisher::RedisPublisher,
        relay::{self, Channel, Publisher, Relay, RelayHandle},
        subscriber::Subscriber,
    },
    redis::{self, L2, RedisSettings},
    releases::Releases,
    render::Limits,
    renderer::{RENDER_DEADLINE, Renderer, RendererSettings, WorkerProgram},
    store::{Store, StoreError},
    tls::{Tls, TlsError},
    views::Views,
};

/// Largest gRPC request accepted.
const MAX_GRPC_REQUEST_BYTES: usize = 1024 * 1024;
/// How often each replica looks for scheduled change requests that are due.
const SCHEDULER_POLL: Duration = Duration::from_secs(1);
/// Events buffered per in-process subscriber before it counts as lagging (and resyncs).
const BUS_CAPACITY: usize = 4096;
/// How long shutdown waits for in-flight work before giving up on it.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("invalid Redis configuration: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot build gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error(transparent)]
    Invalid(#[from] crate::domain::InvalidInput),
}

pub struct App {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    lifecycle: Lifecycle,
    store: Store,
    views: Views,
    editor: Editor,
}

/// What the invalidation step hands on: the relay's handle (commits wake it), the shared L2
/// (with Redis) and the in-process bus.
struct Invalidation {
    relay: RelayHandle,
    l2: Option<L2>,
    bus: Bus,
    dropped: Dropped,
}

/// How renders run: worker processes of `--render-worker` (this executable by default).
fn renderer_settings(settings: &Settings) -> Result<RendererSettings, StartError> {
    let path = match &settings.render.render_worker {
        Some(path) => path.clone(),
        None => std::env::current_exe().map_err(|e| {
            ConfigError(format!(
                "cannot find this executable for --render-worker: {e}"
            ))
        })?,
    };
    let workers = settings
        .render
        .render_workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()) + 1);
    Ok(RendererSettings {
        program: WorkerProgram {
            path,
            memory_limit_bytes: settings
                .render
                .render_memory_mib
                .saturating_mul(1024 * 1024),
        },
        workers,
        limits: Limits::default(),
        deadline: RENDER_DEADLINE,
    })
}

/// Both listeners, bound (port 0 resolved).
struct Listeners {
    grpc: TcpListener,
    grpc_addr: SocketAddr,
    http: TcpListener,
    http_addr: SocketAddr,
}

impl App {
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        settings.validate()?;
        crate::tls::install_crypto_provider();
        let authenticator = Authenticator::from_settings(&settings.access)?;
        let tls = Tls::from_settings(&settings.tls)?;
        let store = open_store(settings).await?;
        let lifecycle = Lifecycle::default();
        let cache = ViewCache::new(settings.cache.cache_bytes, settings.cache_ttl());
        let invalidation = start_invalidation(settings, &store, &cache, &lifecycle)?;
        // The L1 is empty: whatever is read from now on is at least this new.
        invalidation
            .dropped
            .progress(store.latest_revision().await?);
        let renderer = Renderer::new(renderer_settings(settings)?);
        let views = Views::new(store.clone(), cache, invalidation.l2, renderer.clone());
        let releases = Releases::new(store.clone(), invalidation.relay.clone());
        let editor = Editor::new(store.clone(), invalidation.relay.clone(), renderer.clone());
        let change_requests =
            ChangeRequests::new(store.clone(), invalidation.relay, editor.clone());
        lifecycle.background.spawn(|stop| {
            change_requests::scheduler::run(change_requests.clone(), SCHEDULER_POLL, stop)
        });
        let listeners = bind_listeners(settings).await?;
        let (grpc_addr, http_addr) = (listeners.grpc_addr, listeners.http_addr);
        crate::metrics::handle();
        let watching = OpenStreams::new();
        lifecycle
            .background
            .spawn(|stop| watching.clone().report(store.clone(), stop));
        let api = ConfigApi::new(
            views.clone(),
            Watcher::new(
                store.clone(),
                invalidation.bus,
                WatchLimits {
                    streams: settings.watch.watch_max_streams,
                    streams_per_principal: settings.watch.watch_max_streams_per_principal,
                    progress_every: settings.progress_every(),
                },
                lifecycle.servers.clone(),
                watching.clone(),
            ),
        );
        serve_grpc(
            settings,
            &store,
            &lifecycle,
            tls.as_ref(),
            authenticator.clone(),
            api,
            listeners.grpc,
        )
        .await?;
        let signer = settings
            .mcp
            .gateway_signing_key
            .as_ref()
            .map(ContextSigner::new)
            .transpose()?;
        let upstream_ca = (settings.mcp.gateway_upstream_ca.as_deref())
            .map(|path| crate::tls::read(path, "gateway upstream CA"))
            .transpose()?;
        let upstream_http = UpstreamHttp::new(upstream_ca.as_deref())?;
        let gateway = Gateway::new(store.clone(), views.clone(), upstream_http, signer);
        let webhooks = start_webhooks(settings, &store, &lifecycle)?;
        let rate_limiter = http::rate_limiter(settings.http.admin_rate_limit);
        lifecycle
            .background
            .spawn(|stop| http::forget_idle_callers(rate_limiter.clone(), stop));
        let router = http::router(HttpState {
            editor: editor.clone(),
            releases,
            catalog: Catalog::new(store.clone()),
            store: store.clone(),
            renderer,
            authenticator: authenticator.clone(),
            cache: views.cache().clone(),
            views: views.clone(),
            relay_bound: settings.relay_bound(),
            secure_cookies: tls.is_some(),
            sso: start_sso(settings, &store, &lifecycle)?,
            form_limits: http::FormLimits {
                max_bytes: settings.http.ui_max_form_bytes,
                max_fields: settings.http.ui_max_form_fields,
            },
            rate_limiter,
            gateway: gateway.clone(),
            webhooks,
            change_requests,
            listeners: watching.clone(),
        })
        .merge(mcp::router(
            McpDoor {
                views: views.clone(),
                authenticator,
                dropped: invalidation.dropped,
                shutdown: lifecycle.servers.stop_token(),
                gateway,
                listeners: watching,
            },
            &settings.mcp,
        ))
        .layer(axum::middleware::from_fn_with_state(
            http::origin::AllowedOrigins::new(
                &settings.http.allowed_hosts,
                &settings.http.allowed_origins,
            ),
            http::origin::guard,
        ));
        serve_admin(
            settings,
            &lifecycle,
            tls.as_ref(),
            router,
            listeners.http,
            http_addr,
        )?;
        tracing::info!(%grpc_addr, %http_addr, database = %crate::secrets::redact_url(&settings.store.database_url), "mcp-config started");
        Ok(Self {
            grpc_addr,
            http_addr,
            lifecycle,
            store,
            views,
            editor,
        })
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Cancel it to shut the app down.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.lifecycle.servers.stop_token()
    }

    pub fn views(&self) -> &Views {
        &self.views
    }

    pub fn editor(&self) -> &Editor {
        &self.editor
    }

    /// Waits until shutdown is asked for and every task has ended (at most [`SHUTDOWN_GRACE`]
    /// after the request), then closes the store.
    pub async fn wait(self) {
        self.lifecycle.run_until_stopped(SHUTDOWN_GRACE).await;
        self.store.close().await;
    }
}

/// Single sign-on, when configured, with its provider discovered in the background.
fn start_sso(
    settings: &Settings,
    store: &Store,
    lifecycle: &Lifecycle,
) -> Result<Option<crate::sso::Sso>, StartError> {
    let Some(config) = crate::sso::SsoConfig::from_settings(settings)? else {
        return Ok(None);
    };
    let sso = crate::sso::Sso::new(config, store.clone());
    let discovering = sso.clone();
    lifecycle
        .background
        .spawn(|stop| discovering.discover_until_stopped(stop));
    Ok(Some(sso))
}

/// The webhooks' admin side, and their delivery worker, which every replica runs (claims in
/// the database keep replicas from sending the same attempt).
fn start_webhooks(
    settings: &Settings,
    store: &Store,
    lifecycle: &Lifecycle,
) -> Result<crate::webhooks::Webhooks, StartError> {
    let hooks = &settings.webhooks;
    let timeout = Duration::from_millis(hooks.webhook_timeout_ms);
    let worker = crate::webhooks::worker::Worker {
        store: store.clone(),
        sender: crate::webhooks::sender::Sender::new(timeout, hooks.webhook_allow_private),
        schedule: crate::domain::RetrySchedule::parse(
            "webhook-retry-schedule",
            &hooks.webhook_retry_schedule,
        )?,
        poll: Duration::from_millis(hooks.webhook_poll_ms),
        timeout,
        lease: timeout + Duration::from_secs(5),
        concurrency: hooks.webhook_concurrency,
    };
    lifecycle.background.spawn(|stop| worker.run(stop));
    Ok(crate::webhooks::Webhooks::new(
        store.clone(),
        hooks.webhook_allow_private,
    ))
}

/// Connects to the database and applies the migrations (unless told not to), waiting for a
/// database that cannot be reached yet: a replica (re)started while PostgreSQL is down or in
/// recovery comes up with it, instead of exiting and waiting out a crash-loop backoff.
async fn open_store(settings: &Settings) -> Result<Store, StartError> {
    let mut waits = backon::BackoffBuilder::build(OPEN_RETRY);
    loop {
        match try_open_store(settings).await {
            Err(e) if e.is_unreachable() => {
                let wait = waits.next().unwrap_or(Duration::from_secs(2));
                tracing::warn!(error = %e, retry_in = ?wait, "cannot reach the database yet");
                tokio::time::sleep(wait).await;
            }
            opened => return Ok(opened?),
        }
    }
}

/// Waits between attempts to open the store: doubling from 100 ms to 2 s, with jitter.
const OPEN_RETRY: backon::ExponentialBuilder = backon::ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(Duration::from_secs(2))
    .with_jitter()
    .without_max_times();

async fn try_open_store(settings: &Settings) -> Result<Store, StoreError> {
    let store = Store::connect(
        &settings.store.database_url,
        settings.store.db_max_connections,
    )
    .await?;
    if !settings.store.no_migrate {
        store.migrate().await?;
    }
    Ok(store)
}

/// Starts what carries changes out: the relay (and beside it the pruning of the change log it
/// publishes from), the Redis subscriber with Redis, and this replica's L1 invalidation.
fn start_invalidation(
    settings: &Settings,
    store: &Store,
    cache: &ViewCache,
    lifecycle: &Lifecycle,
) -> Result<Invalidation, StartError> {
    let background = &lifecycle.background;
    let bus = Bus::new(BUS_CAPACITY);
    let relay_handle = RelayHandle::default();
    let (channel, l2) = match &settings.redis.redis_url {
        Some(url) => {
            let redis_settings = RedisSettings {
                channel: settings.redis.channel.clone(),
                l2_ttl: settings.cache_ttl(),
                l2_timeout: Duration::from_millis(settings.redis.l2_timeout_ms.max(1)),
            };
            let client = redis::client(url)?;
            redis::check_channel(&settings.redis.channel, client.is_clustered())?;
            let l2 = L2::new(client.clone(), redis_settings.clone());
            let subscriber = Subscriber {
                url: url.clone(),
                channel: settings.redis.channel.clone(),
                bus: bus.clone(),
                cache: cache.clone(),
                store: store.clone(),
                l2: l2.clone(),
                progress_every: settings.progress_every(),
            };
            background.spawn(|stop| subscriber.run(stop));
            (
                Channel::Redis(RedisPublisher::new(client, redis_settings)),
                Some(l2),
            )
        }
        None => (Channel::Local(bus.clone()), None),
    };
    let publisher = Publisher {
        channel,
        local: cache.clone(),
    };
    let relay = Relay::new(
        store.clone(),
        publisher,
        relay_handle.clone(),
        settings.relay_poll(),
        settings.progress_every(),
    );
    background.spawn(|stop| relay.run(stop));
    background.spawn(|stop| relay::prune_changes(store.clone(), settings.change_retention(), stop));
    let dropped = Dropped::new(BUS_CAPACITY);
    background
        .spawn(|stop| bus::invalidate_on_events(bus.clone(), cache.clone(), dropped.clone(), stop));
    background.spawn(crate::metrics::upkeep);
    Ok(Invalidation {
        relay: relay_handle,
        l2,
        bus,
        dropped,
    })
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    let bind_error = |source| StartError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let bound = listener.local_addr().map_err(bind_error)?;
    Ok((listener, bound))
}

async fn bind_listeners(settings: &Settings) -> Result<Listeners, StartError> {
    let (grpc, grpc_addr) = bind(settings.listen.grpc_addr).await?;
    let (http, http_addr) = bind(settings.listen.http_addr).await?;
    Ok(Listeners {
        grpc,
        grpc_addr,
        http,
        http_addr,
    })
}

/// Serves `ConfigService`, health (kept current by a background task) and reflection.
async fn serve_grpc(
    settings: &Settings,
    store: &Store,
    lifecycle: &Lifecycle,
    tls: Option<&Tls>,
    authenticator: Authenticator,
    api: ConfigApi,
    listener: TcpListener,
) -> Result<(), StartError> {
    let relay_bound = settings.relay_bound();
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    if crate::health::check(store, relay_bound).await.ready() {
        health_reporter
            .set_serving::<ConfigServiceServer<ConfigApi>>()
            .await;
    }
    let health_store = store.clone();
    lifecycle.background.spawn(|stop| {
        crate::health::report_grpc_health::<ConfigServiceServer<ConfigApi>>(
            health_store,
            relay_bound,
            health_reporter,
            stop,
        )
    });
    // Both versions of reflection: grpcurl speaks v1, Python's grpcio-reflection and older
    // tools only v1alpha.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let (reflection_v1, reflection_v1alpha) =
        (reflection().build_v1()?, reflection().build_v1alpha()?);
    let limits = ConnectionLimits::from_settings(&settings.connections);
    let mut server = limits.configure_grpc(tonic::transport::Server::builder());
    if let Some(tls) = tls {
        server = server
            .tls_config(tls.grpc())
            .map_err(|e| StartError::Tls(TlsError(e.to_string())))?;
    }
    let incoming = Gate::new(Listener::Grpc, &limits).incoming(listener);
    let router = server
        .layer(crate::metrics::GrpcObserveLayer {
            traced: settings.telemetry.otlp_endpoint.is_some(),
        })
        .add_service(InterceptedService::new(
            ConfigServiceServer::new(api).max_decoding_message_size(MAX_GRPC_REQUEST_BYTES),
            grpc::authenticate(authenticator),
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha);
    lifecycle.servers.spawn(|stop| async move {
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "gRPC server failed");
        }
    });
    Ok(())
}

/// Serves the admin API, health and metrics on the HTTP listener (TLS when configured).
fn serve_admin(
    settings: &Settings,
    lifecycle: &Lifecycle,
    tls: Option<&Tls>,
    router: axum::Router,
    listener: TcpListener,
    addr: SocketAddr,
) -> Result<(), StartError> {
    let bind_error = |source| StartError::Bind { addr, source };
    let mut server =
        axum_server::from_tcp(listener.into_std().map_err(bind_error)?).map_err(bind_error)?;
    let limits = ConnectionLimits::from_settings(&settings.connections);
    limits.configure_http(server.http_builder());
    let gate = Gate::new(Listener::Http, &limits);
    match tls {
        None => {
            let server = server.acceptor(gate);
            lifecycle
                .servers
                .spawn(|stop| serve_http(server, router, stop));
        }
        Some(tls) => {
            let server = server.acceptor(tls.http(gate)?);
            lifecycle
                .servers
                .spawn(|stop| serve_http(server, router, stop));
        }
    }
    Ok(())
}

/// Serves `router` until `shutdown`, then drains for at most [`SHUTDOWN_GRACE`]. One path for
/// plaintext and TLS: `A` admits each connection, and then (under TLS) handshakes.
async fn serve_http<A>(
    server: axum_server::Server<SocketAddr, A>,
    router: axum::Router,
    shutdown: CancellationToken,
) where
    A: axum_server::accept::Accept<TcpStream, axum::Router, Service = axum::Router>
        + Clone
        + Send
        + Sync
        + 'static,
    A::Stream: AsyncRead + AsyncWrite + Unpin + Send,
    A::Future: Send,
{
    let handle = axum_server::Handle::new();
    let serving = server
        .handle(handle.clone())
        .serve(router.into_make_service());
    tokio::pin!(serving);
    let served = tokio::select! {
        served = &mut serving => served,
        () = shutdown.cancelled() => {
            handle.graceful_shutdown(Some(SHUTDOWN_GRACE));
            serving.await
        }
    };
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP server failed");
    }
}

/// Ends when the process is asked to stop (Ctrl-C or SIGTERM).
pub async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
