//! A tool call through the gateway (`/mcp/{server}` forwarding to the server's upstream)
//! against the same call straight to the upstream, in the same run, interleaved: the latency
//! the gateway adds (one call in flight, a tool that answers at once: the gateway's own cost
//! and nothing else), and the throughput ratio with many in flight, for that tool and for one
//! that waits 20 ms (a tool doing I/O, as real tools do).
//!
//! In-process, as the other in-process scenarios: the upstream, the service and the load
//! share the machine's cores, so under load the gateway's extra hop competes with the
//! upstream for CPU — with the instant tool the throughput ratio is a floor that says what one
//! core pair spends, not what a gateway in front of a remote server costs.

use std::{sync::Arc, time::Duration};

use mcp_config::app::App;
use mcp_config_tests::service::settings;
use rmcp::{
    ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, ServerCapabilities,
        ServerConfig,
    },
    service::{RequestContext, RunningService},
    transport::{
        StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_client::StreamableHttpClientTransportConfig,
        streamable_http_server::session::local::LocalSessionManager,
    },
};

use crate::load::{self, Shape, Stats};

/// How long the I/O-bound tool waits before it answers.
pub const TOOL_WAIT: Duration = Duration::from_millis(20);
/// The targets: p50 overhead, and throughput through the gateway against straight.
pub const OVERHEAD_TARGET_MS: f64 = 1.0;
pub const THROUGHPUT_TARGET: f64 = 0.9;

/// One tool's figures, straight and through the gateway.
pub struct Pair {
    pub tool: &'static str,
    pub straight: Stats,
    pub gateway: Stats,
}

pub struct GatewayFigures {
    pub concurrency: usize,
    /// The instant tool with one call in flight: the latency the gateway adds.
    pub alone: Pair,
    /// Each tool with `concurrency` calls in flight.
    pub pairs: Vec<Pair>,
}

/// An upstream with two tools: `now` answers at once, `io` after [`TOOL_WAIT`].
#[derive(Clone)]
struct Upstream;

impl ServerHandler for Upstream {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        if request.name == "io" {
            tokio::time::sleep(TOOL_WAIT).await;
        }
        Ok(CallToolResult::success(vec![ContentBlock::text(request.name.to_string())]).into())
    }
}

async fn start_upstream() -> anyhow::Result<String> {
    let service = StreamableHttpService::new(
        || Ok(Upstream),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let router = axum::Router::new().nest_service("/mcp", service);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/mcp", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(url)
}

/// `concurrency` sessions to `url` (one per worker, as MCP clients hold them).
async fn sessions(
    url: &str,
    concurrency: usize,
) -> anyhow::Result<Vec<RunningService<RoleClient, ()>>> {
    let mut sessions = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(url),
        );
        sessions.push(().serve(transport).await?);
    }
    Ok(sessions)
}

async fn calls(
    sessions: &[RunningService<RoleClient, ()>],
    tool: &'static str,
    shape: Shape,
) -> Stats {
    let peers: Vec<_> = sessions.iter().map(|s| s.peer().clone()).collect();
    load::drive(shape, move |n| {
        let peer = peers[n % peers.len()].clone();
        async move {
            peer.call_tool(CallToolRequestParams::new(tool))
                .await
                .map(|r| r.content.len())
                .map_err(|_| ())
        }
    })
    .await
}

/// Each tool straight and through the gateway, interleaved `rounds` times; the figures are
/// each side's median by throughput.
pub async fn tool_calls(
    database_url: &str,
    seconds: f64,
    concurrency: usize,
    rounds: usize,
) -> anyhow::Result<GatewayFigures> {
    let upstream = start_upstream().await?;
    let mut config = settings(database_url, None);
    config.mcp.mcp_max_sessions_per_principal = concurrency + 1;
    config.connections.max_connections_per_peer = config.connections.max_connections;
    let app = App::build(&config).await?;
    let registered = reqwest::Client::new()
        .put(format!(
            "http://{}/admin/v1/servers/tools/upstream",
            app.http_addr()
        ))
        .json(&serde_json::json!({"upstream": {"url": upstream}}))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status().is_success(),
        "registering the upstream failed"
    );
    let straight = sessions(&upstream, concurrency).await?;
    let gateway = sessions(
        &format!("http://{}/mcp/tools", app.http_addr()),
        concurrency,
    )
    .await?;
    let shape = Shape {
        concurrency,
        duration: Duration::from_secs_f64(seconds),
        rate: None,
    };
    // Warm both paths (the gateway's upstream sessions open on first use).
    let warm = Shape {
        duration: Duration::from_millis(300),
        ..shape
    };
    calls(&straight, "now", warm).await;
    calls(&gateway, "now", warm).await;
    let interleaved = async |tool: &'static str, shape: Shape| {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            a.push(calls(&straight, tool, shape).await);
            b.push(calls(&gateway, tool, shape).await);
        }
        Pair {
            tool,
            straight: crate::median_by(a, |s| s.rps),
            gateway: crate::median_by(b, |s| s.rps),
        }
    };
    let alone = interleaved(
        "now",
        Shape {
            concurrency: 1,
            ..shape
        },
    )
    .await;
    let mut pairs = Vec::new();
    for tool in ["now", "io"] {
        pairs.push(interleaved(tool, shape).await);
    }
    app.shutdown_token().cancel();
    Ok(GatewayFigures {
        concurrency,
        alone,
        pairs,
    })
}
