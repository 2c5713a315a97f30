//! Building and running the service: the app is *built* (listeners bound, tasks spawned) by
//! [`App::build`], which returns the bound addresses, so tests can ask for port 0.
//!
//! Shutdown is one [`CancellationToken`]: cancelling it stops the listeners from accepting,
//! ends Watch streams, lets the relay publish what is left, and [`App::wait`] returns when every
//! task has ended (or a bound has passed).

use std::{net::SocketAddr, time::Duration};

use mcp_config_proto::{FILE_DESCRIPTOR_SET, server::config_service_server::ConfigServiceServer};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{TcpListener, TcpStream},
    task::JoinSet,
};
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;

use crate::{
    auth::Authenticator,
    cache::ViewCache,
    catalog::Catalog,
    config::{ConfigError, Settings},
    connections::{ConnectionLimits, Gate, Listener},
    edits::Editor,
    events::{self, Bus},
    grpc::{self, ConfigApi, Watcher},
    http::{self, HttpState},
    redis::{self, L2, RedisPublisher, RedisSettings, Subscriber},
    relay::{Channel, Publisher, Relay, RelayHandle},
    render::Limits,
    renderer::Renderer,
    store::{Store, StoreError},
    tls::{Tls, TlsError},
    views::Views,
};

/// Largest gRPC request accepted.
const MAX_GRPC_REQUEST_BYTES: usize = 1024 * 1024;
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
}

pub struct App {
    grpc_addr: SocketAddr,
    http_addr: SocketAddr,
    /// Stops the listeners (and Watch streams).
    shutdown: CancellationToken,
    /// The servers: drained first.
    tasks: JoinSet<()>,
    /// Stops the relay and the other background tasks, once the servers have drained, so the
    /// relay's last round publishes every write the servers acknowledged.
    background: CancellationToken,
    background_tasks: JoinSet<()>,
    store: Store,
    views: Views,
    editor: Editor,
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

impl App {
    pub async fn build(settings: &Settings) -> Result<Self, StartError> {
        settings.validate()?;
        let relay_bound = Duration::from_secs(settings.relay_stuck_secs);
        let authenticator = Authenticator::from_settings(settings)?;
        let tls = Tls::from_settings(settings)?;
        let store = Store::connect(&settings.database_url, settings.db_max_connections).await?;
        if !settings.no_migrate {
            store.migrate().await?;
        }
        let shutdown = CancellationToken::new();
        let background = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut background_tasks = JoinSet::new();
        let cache = ViewCache::new(settings.cache_bytes, settings.cache_ttl());
        let bus = Bus::new(BUS_CAPACITY);
        let relay_handle = RelayHandle::default();

        let (channel, l2) = match &settings.redis_url {
            Some(url) => {
                let redis_settings = RedisSettings {
                    channel: settings.channel.clone(),
                    l2_ttl: settings.cache_ttl(),
                };
                let client = redis::client(url)?;
                let subscriber = Subscriber {
                    url: url.clone(),
                    channel: settings.channel.clone(),
                    bus: bus.clone(),
                    cache: cache.clone(),
                    store: store.clone(),
                };
                background_tasks.spawn(subscriber.run(background.clone()));
                (
                    Channel::Redis(RedisPublisher::new(client.clone(), redis_settings.clone())),
                    Some(L2::new(client, redis_settings)),
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
        );
        background_tasks.spawn(relay.run(background.clone()));
        background_tasks.spawn(events::invalidate_on_events(
            bus.clone(),
            cache.clone(),
            background.clone(),
        ));
        background_tasks.spawn(prune_changes(
            store.clone(),
            settings.change_retention(),
            background.clone(),
        ));
        background_tasks.spawn(crate::metrics::upkeep(background.clone()));

        let renderer = Renderer::new(Limits::default());
        let views = Views::new(store.clone(), cache, l2, renderer.clone());
        let editor = Editor::new(store.clone(), relay_handle);

        let grpc_listener = bind(settings.grpc_addr).await?;
        let grpc_addr = grpc_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: settings.grpc_addr,
                source,
            })?;
        let http_listener = bind(settings.http_addr).await?;
        let http_addr = http_listener
            .local_addr()
            .map_err(|source| StartError::Bind {
                addr: settings.http_addr,
                source,
            })?;

        let (health_reporter, health_service) = tonic_health::server::health_reporter();
        if crate::health::check(&store, relay_bound).await.ready() {
            health_reporter
                .set_serving::<ConfigServiceServer<ConfigApi>>()
                .await;
        }
        background_tasks.spawn(crate::health::report_grpc_health(
            store.clone(),
            relay_bound,
            health_reporter,
            background.clone(),
        ));
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()?;
        let api = ConfigApi::new(
            views.clone(),
            Watcher::new(
                store.clone(),
                bus,
                settings.watch_limits(),
                shutdown.clone(),
            ),
        );
        crate::metrics::handle();
        let connection_limits = ConnectionLimits::from_settings(settings);
        let mut grpc_server = connection_limits.configure_grpc(tonic::transport::Server::builder());
        if let Some(tls) = &tls {
            grpc_server = grpc_server
                .tls_config(tls.grpc())
                .map_err(|e| StartError::Tls(TlsError(e.to_string())))?;
        }
        let grpc = grpc_server
            .layer(crate::metrics::GrpcObserveLayer {
                traced: settings.otlp_endpoint.is_some(),
            })
            .add_service(InterceptedService::new(
                ConfigServiceServer::new(api).max_decoding_message_size(MAX_GRPC_REQUEST_BYTES),
                grpc::authenticate(authenticator.clone()),
            ))
            .add_service(health_service)
            .add_service(reflection)
            .serve_with_incoming_shutdown(
                Gate::new(Listener::Grpc, &connection_limits).incoming(grpc_listener),
                shutdown.clone().cancelled_owned(),
            );
        tasks.spawn(async move {
            if let Err(e) = grpc.await {
                tracing::error!(error = %e, "gRPC server failed");
            }
        });

        let rate_limiter = http::rate_limiter(settings.admin_rate_limit);
        background_tasks.spawn(http::forget_idle_callers(
            rate_limiter.clone(),
            background.clone(),
        ));
        let router = http::router(HttpState {
            editor: editor.clone(),
            catalog: Catalog::new(store.clone()),
            store: store.clone(),
            renderer,
            authenticator,
            cache: views.cache().clone(),
            relay_bound,
            rate_limiter: rate_limiter.clone(),
        });
        let http_bind = |source| StartError::Bind {
            addr: http_addr,
            source,
        };
        let mut http_server = axum_server::from_tcp(http_listener.into_std().map_err(http_bind)?)
            .map_err(http_bind)?;
        connection_limits.configure_http(http_server.http_builder());
        let http_gate = Gate::new(Listener::Http, &connection_limits);
        match &tls {
            None => tasks.spawn(serve_http(
                http_server.acceptor(http_gate),
                router,
                shutdown.clone(),
            )),
            Some(tls) => tasks.spawn(serve_http(
                http_server.acceptor(tls.http(http_gate)?),
                router,
                shutdown.clone(),
            )),
        };
        tracing::info!(%grpc_addr, %http_addr, database = %crate::secrets::redact_url(&settings.database_url), "mcp-config started");
        Ok(Self {
            grpc_addr,
            http_addr,
            shutdown,
            tasks,
            background,
            background_tasks,
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
        self.shutdown.clone()
    }

    pub fn views(&self) -> &Views {
        &self.views
    }

    pub fn editor(&self) -> &Editor {
        &self.editor
    }

    /// Waits until shutdown is asked for and every task has ended (at most [`SHUTDOWN_GRACE`]
    /// after the request), then closes the store.
    pub async fn wait(mut self) {
        self.shutdown.cancelled().await;
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        let servers = tokio::time::timeout_at(deadline, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.background.cancel();
        let background = tokio::time::timeout_at(deadline, async {
            while self.background_tasks.join_next().await.is_some() {}
        })
        .await;
        if servers.is_err() || background.is_err() {
            tracing::warn!("shutdown grace period over; abandoning remaining work");
            self.tasks.abort_all();
            self.background_tasks.abort_all();
        }
        self.store.close().await;
    }
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

/// Deletes published changes past the retention period, hourly.
async fn prune_changes(store: Store, retention: Duration, shutdown: CancellationToken) {
    let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
    let mut every = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => {}
        }
        let before = crate::store::now_ms().saturating_sub(retention_ms);
        match store.prune_changes(before).await {
            Ok(0) => {}
            Ok(pruned) => tracing::info!(pruned, "pruned old changes"),
            Err(e) => tracing::warn!(error = %e, "cannot prune changes"),
        }
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
