//! The service's MCP endpoint under load, next to gRPC on the same in-process service and the
//! same view: `prompts/list` per second through `/mcp/{server}` against `GetPrompts`, and one
//! change announced to many listen streams (from the write's acknowledgment to each receipt).
//!
//! In-process, as the other in-process scenarios: load and service share the machine's cores,
//! so the ratio of the two doors is the figure to read, not either rate alone.

use std::time::{Duration, Instant};

use futures::{FutureExt, future::BoxFuture};
use mcp_config::{
    app::App,
    content::Content,
    domain::{EntryId, EntryKey, Kind, Scope, Slug},
};
use mcp_config_proto::v1::{GetPromptsRequest, config_service_client::ConfigServiceClient};
use mcp_config_tests::{
    mcp::{current_protocol, prompt_list_changed, transport_for},
    service::settings,
};
use rmcp::{
    model::ListPromptsResult, service::ClientServiceExt, transport::StreamableHttpClientTransport,
};
use serde_json::json;

use crate::{
    fixture,
    load::{self, Shape, Stats, histogram},
    scenarios::Latency,
};

/// What the scenario measured.
pub struct McpFigures {
    pub concurrency: usize,
    pub grpc: Stats,
    /// Through rmcp's client (a worker task per client, each message turned into JSON twice).
    pub mcp: Stats,
    /// Of the `mcp` answers, how many came from their encoded form.
    pub mcp_encoded: u64,
    /// The same request from a plain pooled HTTP client, its answer decoded into rmcp's
    /// typed result: the endpoint's own cost.
    pub wire: Stats,
    /// Of the `wire` answers, how many came from their encoded form (ahead of rmcp).
    pub wire_encoded: u64,
    pub listeners: usize,
    pub announce: Latency,
}

pub async fn endpoint(
    database_url: &str,
    seconds: f64,
    concurrency: usize,
    listeners: usize,
) -> anyhow::Result<McpFigures> {
    let mut config = settings(database_url, None);
    config.mcp.mcp_max_sessions_per_principal = concurrency + listeners + 1;
    config.connections.max_connections_per_peer = config.connections.max_connections;
    let app = App::build(&config).await?;
    fixture::import(app.editor()).await?;
    let server = fixture::server_of("2k");
    let shape = Shape {
        concurrency,
        duration: Duration::from_secs_f64(seconds),
        rate: None,
    };

    let grpc = ConfigServiceClient::connect(format!("http://{}", app.grpc_addr())).await?;
    let request = GetPromptsRequest {
        org_id: fixture::ORG.into(),
        server: server.clone(),
        ..Default::default()
    };
    let grpc = load::drive(shape, move |_| {
        let (mut grpc, request) = (grpc.clone(), request.clone());
        async move {
            grpc.get_prompts(request)
                .await
                .map(|r| r.get_ref().prompts.len())
                .map_err(|_| ())
        }
    })
    .await;

    let uri = format!("http://{}/mcp/{server}", app.http_addr());
    // One pooled HTTP client, as a long-running MCP client holds (rmcp's default client
    // opens a connection per request).
    let http = reqwest_mcp::Client::new();
    let connect = || async {
        let transport = StreamableHttpClientTransport::with_client(
            http.clone(),
            transport_for(uri.clone(), Some(fixture::ORG)),
        );
        ().serve_with_lifecycle(transport, current_protocol()).await
    };
    let mut clients = Vec::with_capacity(concurrency);
    for _ in 0..concurrency {
        clients.push(connect().await?);
    }
    let peers: Vec<_> = clients.iter().map(|c| c.peer().clone()).collect();
    let before = encoded_answers();
    let mcp = load::drive(shape, move |n| {
        let peer = peers[n % peers.len()].clone();
        async move {
            peer.list_prompts(None)
                .await
                .map(|r| r.prompts.len())
                .map_err(|_| ())
        }
    })
    .await;

    let mcp_encoded = encoded_answers() - before;
    let before = encoded_answers();
    let wire = load::drive(shape, wire_list(reqwest::Client::new(), uri.clone())).await;
    let wire_encoded = encoded_answers() - before;
    let mut listening = Vec::with_capacity(listeners);
    let mut listeners_clients = Vec::with_capacity(listeners);
    for _ in 0..listeners {
        let client = connect().await?;
        listening.push(client.listen(prompt_list_changed()).await?);
        listeners_clients.push(client);
    }
    let id = EntryId {
        scope: Scope::Org(Slug::parse("org", fixture::ORG)?),
        server: Slug::parse("server", &server)?,
        kind: Kind::Prompts,
        key: EntryKey::parse(Kind::Prompts, "announced")?,
    };
    let content = Content::from_json(
        Kind::Prompts,
        json!({"messages": [{"role": "user", "text": "changed"}]}),
    )?;
    app.editor().put(id, &content, None, "bench", "").await?;
    let acknowledged = Instant::now();
    let receipts = listening.into_iter().map(|mut subscription| async move {
        match tokio::time::timeout(Duration::from_secs(30), subscription.next()).await {
            Ok(Ok(Some(_))) => Some(acknowledged.elapsed()),
            _ => None,
        }
    });
    let mut announce = histogram();
    for received in futures::future::join_all(receipts)
        .await
        .into_iter()
        .flatten()
    {
        announce.record(received.as_nanos().max(1) as u64)?;
    }
    app.shutdown_token().cancel();
    Ok(McpFigures {
        concurrency,
        grpc,
        mcp,
        mcp_encoded,
        wire,
        wire_encoded,
        listeners,
        announce: Latency::of(&announce),
    })
}

/// `prompts/list` as a current-protocol client sends it (its `_meta`, `Mcp-Method` and
/// `MCP-Protocol-Version`), from `http`; the answer decoded into rmcp's `ListPromptsResult`.
fn wire_list(
    http: reqwest::Client,
    uri: String,
) -> impl Fn(usize) -> BoxFuture<'static, Result<usize, ()>> + Send + Sync + 'static {
    #[derive(serde::Deserialize)]
    struct Answer {
        result: ListPromptsResult,
    }
    let body = bytes::Bytes::from(
        json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "prompts/list",
            "params": {"_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                "io.modelcontextprotocol/clientInfo": {"name": "bench", "version": "1"},
            }},
        })
        .to_string(),
    );
    let uri = reqwest::Url::parse(&uri).expect("the endpoint's URL");
    move |_| {
        let request = http
            .post(uri.clone())
            .header("accept", "application/json, text/event-stream")
            .header("content-type", "application/json")
            .header("mcp-protocol-version", "2026-07-28")
            .header("mcp-method", "prompts/list")
            .header("x-org-id", fixture::ORG)
            .body(body.clone());
        async move {
            let answer = request
                .send()
                .await
                .map_err(drop)?
                .bytes()
                .await
                .map_err(drop)?;
            let answer: Answer = serde_json::from_slice(&answer).map_err(drop)?;
            Ok(answer.result.prompts.len())
        }
        .boxed()
    }
}

/// `mcp_config_mcp_lists_encoded_total` of this process.
fn encoded_answers() -> u64 {
    mcp_config::metrics::render()
        .lines()
        .find_map(|line| line.strip_prefix("mcp_config_mcp_lists_encoded_total "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map_or(0, |value| value as u64)
}
