//! The whole path as an MCP client sees it: `prompts/list` per second through the example MCP
//! server (`examples/mcp-server-rust`) reading mcp-config, against the same server with the
//! same prompts hard-coded — the state mcp-config replaces.
//!
//! Both are served by the example's own `serve` (rmcp's streamable HTTP service, axum), and both
//! answer with the same prompts: the only difference is where they come from — the client's
//! cache (the caller's org resolved, the view looked up, its prompts converted to MCP's form on
//! every request) or a list converted once at start by the same function, as a server with its
//! prompts in its code holds them. Same load on both, interleaved repeats, each side's median.
//!
//! In-process, as the other MCP scenario: load, servers and service share the machine's cores,
//! so the ratio is the figure to read.

use std::{sync::Arc, time::Duration};

use mcp_config::app::App;
use mcp_config_client::{ClientConfig, ConfigClient};
use mcp_config_example_server::{config_backed_server, org::OrgResolver, serve, server_info};
use mcp_config_proto::mcp;
use mcp_config_tests::{
    mcp::{current_protocol, transport_for},
    service::settings,
};
use rmcp::{
    ErrorData, RoleServer, ServerHandler,
    model::{ListPromptsResult, PaginatedRequestParams, Prompt, ServerConfig},
    service::{ClientServiceExt, RequestContext},
    transport::StreamableHttpClientTransport,
};
use tokio_util::sync::CancellationToken;

use crate::{
    fixture,
    load::{self, Shape, Stats},
};

/// The MCP path must keep at least this share of the hard-coded server's rate (issue 18).
pub const TARGET: f64 = 0.95;

/// One view size: each side's median run.
pub struct SizeFigures {
    pub size: &'static str,
    pub prompts: usize,
    pub config_backed: Stats,
    pub hard_coded: Stats,
    /// Each side's slowest and fastest run (req/s): how far one run is from another here.
    pub config_backed_range: (f64, f64),
    pub hard_coded_range: (f64, f64),
}

fn range(runs: &[Stats]) -> (f64, f64) {
    runs.iter().fold((f64::INFINITY, 0.0), |(low, high), run| {
        (low.min(run.rps), high.max(run.rps))
    })
}

pub struct McpServerFigures {
    pub concurrency: usize,
    pub seconds: f64,
    pub repeats: usize,
    pub sizes: Vec<SizeFigures>,
}

/// An MCP server with its prompts in its code: the list it answers never changes and is the
/// same for every caller.
#[derive(Clone)]
struct HardCoded {
    server: Arc<str>,
    prompts: Arc<Vec<Prompt>>,
}

impl ServerHandler for HardCoded {
    /// As the example server's, so both handshakes are the same.
    fn get_info(&self) -> ServerConfig {
        server_info(&self.server)
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(self.prompts.to_vec()))
    }
}

/// A served MCP endpoint, stopped on drop.
struct Endpoint {
    uri: String,
    shutdown: CancellationToken,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn start<S>(server: S) -> anyhow::Result<Endpoint>
where
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let uri = format!("http://{}/mcp", listener.local_addr()?);
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(
        listener,
        server,
        vec!["127.0.0.1".into()],
        shutdown.clone(),
    ));
    Ok(Endpoint { uri, shutdown })
}

/// `prompts/list` against `endpoint` for `shape`, one MCP client (current protocol, no session)
/// per request in flight.
async fn list_prompts(endpoint: &Endpoint, shape: Shape) -> anyhow::Result<Stats> {
    let mut clients = Vec::with_capacity(shape.concurrency);
    for _ in 0..shape.concurrency {
        let transport = StreamableHttpClientTransport::from_config(transport_for(
            endpoint.uri.clone(),
            Some(fixture::ORG),
        ));
        clients.push(
            ().serve_with_lifecycle(transport, current_protocol())
                .await?,
        );
    }
    let peers: Vec<_> = clients.iter().map(|c| c.peer().clone()).collect();
    let expected = peers[0].list_prompts(None).await?.prompts.len();
    let stats = load::drive(shape, move |n| {
        let peer = peers[n % peers.len()].clone();
        async move {
            match peer.list_prompts(None).await {
                Ok(listed) if listed.prompts.len() == expected => Ok(listed.prompts.len()),
                _ => Err(()),
            }
        }
    })
    .await;
    for client in clients {
        let _ = client.cancel().await;
    }
    Ok(stats)
}

pub async fn prompts_list(
    smoke: bool,
    database_url: &str,
    seconds: f64,
) -> anyhow::Result<McpServerFigures> {
    let app = App::build(&settings(database_url, None)).await?;
    fixture::import(app.editor()).await?;
    let concurrency = if smoke { 4 } else { 32 };
    // Five runs a side, not three: the two sides differ by a few µs of a ~300 µs request, less
    // than what a neighbour's burst on this 2-core machine moves one run.
    let repeats = if smoke { 1 } else { 5 };
    let shape = Shape {
        concurrency,
        duration: Duration::from_secs_f64(seconds),
        rate: None,
    };
    let sizes: &[&'static str] = if smoke {
        &["2k"]
    } else {
        &["2k", "20k", "100k"]
    };
    let mut figures = Vec::with_capacity(sizes.len());
    for &size in sizes {
        eprintln!("  prompts/list of the {size} view");
        let server = fixture::server_of(size);
        let client = ConfigClient::connect(ClientConfig {
            servers: vec![server.clone()],
            ..ClientConfig::new(format!("http://{}", app.grpc_addr()))
        })
        .await?;
        tokio::time::timeout(Duration::from_secs(10), client.until_following()).await?;
        let view = client.prompts(fixture::ORG, &server).await?;
        let hard_coded = start(HardCoded {
            server: server.as_str().into(),
            prompts: Arc::new(view.items.iter().map(mcp::prompt).collect()),
        })
        .await?;
        let config_backed =
            start(config_backed_server(client, &server, OrgResolver::Header)).await?;
        let mut runs: [Vec<Stats>; 2] = Default::default();
        for _ in 0..repeats {
            runs[0].push(list_prompts(&config_backed, shape).await?);
            runs[1].push(list_prompts(&hard_coded, shape).await?);
        }
        let (config_backed_range, hard_coded_range) = (range(&runs[0]), range(&runs[1]));
        let [config_backed, hard_coded] = runs.map(|runs| crate::median_by(runs, |s| s.rps));
        figures.push(SizeFigures {
            size,
            prompts: view.items.len(),
            config_backed,
            hard_coded,
            config_backed_range,
            hard_coded_range,
        });
    }
    app.shutdown_token().cancel();
    Ok(McpServerFigures {
        concurrency,
        seconds,
        repeats,
        sizes: figures,
    })
}
