//! The real service, built in-process on free ports, with real gRPC and HTTP clients.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::Parser;
use futures::StreamExt;
use mcp_config::{app::App, config::Settings};
use mcp_config_proto::v1::{
    GetPromptsRequest, GetPromptsResponse, InvalidationEvent,
    config_service_client::ConfigServiceClient,
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    settings: Settings,
}

/// The `mcp-config` executable beside the running one (a benchmark in `target/release`, a test
/// in `target/debug/deps`), or `MCP_CONFIG_BIN`: the service built in-process starts it for its
/// render workers.
pub fn service_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("MCP_CONFIG_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the running executable");
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("mcp-config"))
        .find(|path| path.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no mcp-config executable beside {} (cargo build -p mcp-config)",
                exe.display()
            )
        })
}

/// A renderer as the service builds one, its workers started from [`service_binary`].
pub fn renderer() -> mcp_config::renderer::Renderer {
    use mcp_config::renderer::{RENDER_DEADLINE, Renderer, RendererSettings, WorkerProgram};
    Renderer::new(RendererSettings {
        program: WorkerProgram {
            path: service_binary(),
            memory_limit_bytes: 256 << 20,
        },
        workers: 3,
        limits: mcp_config::render::Limits::default(),
        deadline: RENDER_DEADLINE,
    })
}

/// Settings as `mcp-config serve` would parse them from these flags, on port 0.
pub fn settings(database_url: &str, redis_url: Option<&str>) -> Settings {
    settings_with(database_url, redis_url, &[])
}

/// [`settings`] with `extra` flags (`"--flag=value"`) after the harness's own.
pub fn settings_with(database_url: &str, redis_url: Option<&str>, extra: &[&str]) -> Settings {
    let mut args = vec![
        "mcp-config".to_owned(),
        format!("--database-url={database_url}"),
        "--grpc-addr=127.0.0.1:0".to_owned(),
        "--http-addr=127.0.0.1:0".to_owned(),
        "--relay-poll-ms=200".to_owned(),
        format!("--render-worker={}", service_binary().display()),
    ];
    if let Some(url) = redis_url {
        args.push(format!("--redis-url={url}"));
    }
    args.extend(extra.iter().map(|flag| (*flag).to_owned()));
    Cli::parse_from(args).settings
}

/// The URL of a SQLite database file in `dir`.
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("mcp-config.db").display())
}

/// A `GetPrompts` request for `org`'s (empty: the defaults') view of `server`.
pub fn prompts(org: &str, server: &str) -> GetPromptsRequest {
    GetPromptsRequest {
        org_id: org.into(),
        server: server.into(),
        ..Default::default()
    }
}

/// The longest [`next_event`] waits: far above any propagation, so reaching it means the event
/// never came.
const EVENT_BOUND: Duration = Duration::from_secs(30);

/// The next event of a Watch stream; panics if the stream ends, fails, or stays quiet for
/// [`EVENT_BOUND`].
pub async fn next_event(stream: &mut tonic::Streaming<InvalidationEvent>) -> InvalidationEvent {
    tokio::time::timeout(EVENT_BOUND, stream.next())
        .await
        .expect("an event in time")
        .expect("the stream is open")
        .unwrap()
}

/// A running service; shut down when dropped.
pub struct Service {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    shutdown: CancellationToken,
    finished: Option<tokio::task::JoinHandle<()>>,
}

impl Service {
    pub async fn start(settings: Settings) -> Self {
        let app = App::build(&settings).await.expect("the service starts");
        let (grpc_addr, http_addr, shutdown) =
            (app.grpc_addr(), app.http_addr(), app.shutdown_token());
        let finished = Some(tokio::spawn(app.wait()));
        Self {
            grpc_addr,
            http_addr,
            shutdown,
            finished,
        }
    }

    /// A temp-file SQLite service (no Redis).
    pub async fn sqlite(dir: &tempfile::TempDir) -> Self {
        Self::sqlite_with(dir, &[]).await
    }

    /// A temp-file SQLite service (no Redis) started with `extra` flags.
    pub async fn sqlite_with(dir: &tempfile::TempDir, extra: &[&str]) -> Self {
        Self::start(settings_with(&sqlite_url(dir.path()), None, extra)).await
    }

    /// A temp-file SQLite service (no Redis) with the example bundle imported, and its dir.
    pub async fn example_on_sqlite() -> (tempfile::TempDir, Self) {
        let dir = tempfile::tempdir().unwrap();
        let service = Self::sqlite(&dir).await;
        service.import(EXAMPLE_BUNDLE).await;
        (dir, service)
    }

    /// A temp-file SQLite service publishing to (and caching in) `redis`.
    pub async fn sqlite_with_redis(dir: &tempfile::TempDir, redis: &crate::redis::Redis) -> Self {
        Self::start(settings(&sqlite_url(dir.path()), Some(&redis.url()))).await
    }

    /// [`Service::sqlite_with_redis`], announcing progress on the channel every second (and
    /// on quiet Watch streams), with the example bundle imported and published: for tests of
    /// what a silent channel means.
    pub async fn chatty_example(dir: &tempfile::TempDir, redis: &crate::redis::Redis) -> Self {
        let redis_url = format!("--redis-url={}", redis.url());
        let service = Self::sqlite_with(dir, &[&redis_url, "--watch-progress-secs=1"]).await;
        service.import(EXAMPLE_BUNDLE).await;
        service.wait_until_published().await;
        service
    }

    pub async fn grpc(&self) -> ConfigServiceClient<Channel> {
        ConfigServiceClient::connect(format!("http://{}", self.grpc_addr))
            .await
            .expect("gRPC connects")
    }

    /// `org`'s view of `server`'s prompts, read over gRPC; panics if the read fails.
    pub async fn prompts_of(&self, org: &str, server: &str) -> GetPromptsResponse {
        self.grpc()
            .await
            .get_prompts(prompts(org, server))
            .await
            .expect("GetPrompts answers")
            .into_inner()
    }

    /// Whether the gRPC health service reports the config service as serving.
    pub async fn serving(&self) -> bool {
        let Ok(channel) = Channel::from_shared(format!("http://{}", self.grpc_addr))
            .unwrap()
            .connect()
            .await
        else {
            return false;
        };
        let request = HealthCheckRequest {
            service: "mcp_config.v1.ConfigService".into(),
        };
        HealthClient::new(channel)
            .check(request)
            .await
            .is_ok_and(|r| r.into_inner().status() == ServingStatus::Serving)
    }

    /// The value of metric `name` on `/metrics`, from the line that also carries every one of
    /// `labels` (`method="GetPrompts"`); 0 when there is none.
    pub async fn metric(&self, name: &str, labels: &[&str]) -> f64 {
        let text = reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|line| line.starts_with(name))
            .find(|line| labels.iter().all(|label| line.contains(label)))
            .and_then(|line| line.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0)
    }

    /// Typed calls to this service's admin API ([`crate::admin_api::AdminApi`]).
    pub fn api(&self) -> crate::admin_api::AdminApi<'_> {
        crate::admin_api::AdminApi::new(self)
    }

    pub fn admin(&self, path: &str) -> String {
        format!("http://{}/admin/v1{path}", self.http_addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    /// Imports a bundle through the admin API and returns the report.
    pub async fn import(&self, yaml: &str) -> serde_json::Value {
        self.import_by(yaml, None).await
    }

    /// [`Service::import`] with `token` as the bearer.
    pub async fn import_as(&self, yaml: &str, token: &str) -> serde_json::Value {
        self.import_by(yaml, Some(token)).await
    }

    async fn import_by(&self, yaml: &str, token: Option<&str>) -> serde_json::Value {
        let api = match token {
            Some(token) => self.api().as_token(token),
            None => self.api(),
        };
        let response = api.import(yaml).await;
        assert!(
            response.status().is_success(),
            "import failed: {}",
            response.text().await.unwrap()
        );
        response.json().await.unwrap()
    }

    /// The first 1,000 entries of the change log, as `/changes` answers them (to `token`).
    async fn changes(&self, token: Option<&str>) -> serde_json::Value {
        let mut request = reqwest::Client::new().get(self.admin("/changes?limit=1000"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    /// The newest revision in the change log (`next_after` of `/changes`); `None` when empty.
    pub async fn latest_revision(&self) -> Option<u64> {
        self.changes(None).await["next_after"].as_u64()
    }

    /// [`Service::latest_revision`], read with `token` (one that may read every org's changes).
    pub async fn latest_revision_as(&self, token: &str) -> Option<u64> {
        self.changes(Some(token)).await["next_after"].as_u64()
    }

    /// Waits (at most 10 s) until the relay has published every change committed so far.
    pub async fn wait_until_published(&self) {
        let published = crate::eventually(std::time::Duration::from_secs(10), || async {
            self.changes(None).await["changes"]
                .as_array()
                .unwrap()
                .iter()
                .all(|c| c["published"] == true)
        })
        .await;
        assert!(published, "the relay did not publish every change in time");
    }

    /// Shuts down and waits until it has stopped.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(finished) = self.finished.take() {
            let _ = finished.await;
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// The example bundle shipped in `examples/`.
pub const EXAMPLE_BUNDLE: &str = include_str!("../../examples/bundle.yaml");
