//! The service's MCP endpoint under load, next to gRPC on the same in-process service and the
//! same view: `prompts/list` per second through `/mcp/{server}` against `GetPrompts`, and one
//! change announced to many listen streams (from the write's acknowledgment to each receipt).
//!
//! In-process, as the other in-process scenarios: load and service share the machine's cores,
//! so the ratio of the two doors is the figure to read, not either rate alone.

use std::time::{Duration, Instant};

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
use rmcp::{service::ClientServiceExt, transport::StreamableHttpClientTransport};
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
    pub mcp: Stats,
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
        listeners,
        announce: Latency::of(&announce),
    })
}
