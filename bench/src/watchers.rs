//! Propagation from one write to N watchers of a server running as its own process — etcd
//! (`KV/Put` → `Watch`) or mcp-config (an admin write → `Watch`) — measured by the same code,
//! so that `scripts/bench-peers.sh` can set the two side by side in one run.
//!
//! The in-process propagation scenario (`scenarios.rs`) times from PostgreSQL's commit
//! timestamp; etcd has no such clock to read, so here both sides are timed from the moment the
//! write request is sent, which adds the write itself (etcd: raft and its WAL's fsync; ours:
//! HTTP and the SQLite transaction). etcd's messages are declared by hand (only the fields
//! read or sent) rather than generated: the wire format is all the client needs to agree on.

use std::time::SystemTime;

use futures::StreamExt;
use mcp_config_proto::v1::{WatchRequest, config_service_client::ConfigServiceClient};
use tokio::sync::mpsc;
use tonic::{codegen::http::uri::PathAndQuery, transport::Channel};

use crate::scenarios::{Latency, collect, since};

/// Which server the watchers watch.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Peer {
    Etcd,
    McpConfig,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PutRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ResponseHeader {
    #[prost(int64, tag = "3")]
    revision: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct PutResponse {
    #[prost(message, optional, tag = "1")]
    header: Option<ResponseHeader>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct WatchCreateRequest {
    #[prost(bytes = "vec", tag = "1")]
    key: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct EtcdWatchRequest {
    #[prost(message, optional, tag = "1")]
    create_request: Option<WatchCreateRequest>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct KeyValue {
    #[prost(int64, tag = "3")]
    mod_revision: i64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct Event {
    #[prost(message, optional, tag = "2")]
    kv: Option<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct WatchResponse {
    #[prost(message, repeated, tag = "11")]
    events: Vec<Event>,
}

const KEY: &[u8] = b"/mcp-config/bench/probe";

/// Opens `watchers` watch streams, each on its own connection; every event received is sent
/// to the returned channel as (revision, when).
async fn watch(
    peer: Peer,
    grpc: &str,
    watchers: usize,
) -> anyhow::Result<mpsc::UnboundedReceiver<(u64, SystemTime)>> {
    let (sender, received) = mpsc::unbounded_channel();
    for _ in 0..watchers {
        let channel = Channel::from_shared(format!("http://{grpc}"))?
            .connect()
            .await?;
        let sender = sender.clone();
        match peer {
            Peer::Etcd => {
                let mut client = tonic::client::Grpc::new(channel);
                client.ready().await?;
                let create = EtcdWatchRequest {
                    create_request: Some(WatchCreateRequest { key: KEY.to_vec() }),
                };
                // The request stream stays open: etcd cancels a watch whose stream ends.
                let requests =
                    futures::stream::once(async move { create }).chain(futures::stream::pending());
                let codec = tonic_prost::ProstCodec::<EtcdWatchRequest, WatchResponse>::default();
                let path = PathAndQuery::from_static("/etcdserverpb.Watch/Watch");
                let mut stream = client
                    .streaming(tonic::Request::new(requests), path, codec)
                    .await?
                    .into_inner();
                // The first answer confirms the watch was created; after it, events only.
                stream.message().await?;
                tokio::spawn(async move {
                    while let Some(Ok(response)) = stream.next().await {
                        let at = SystemTime::now();
                        for event in response.events {
                            let revision = event.kv.map_or(0, |kv| kv.mod_revision) as u64;
                            let _ = sender.send((revision, at));
                        }
                    }
                });
            }
            Peer::McpConfig => {
                let mut stream = ConfigServiceClient::new(channel)
                    .watch(WatchRequest::default())
                    .await?
                    .into_inner();
                tokio::spawn(async move {
                    while let Some(Ok(event)) = stream.next().await {
                        let _ = sender.send((event.revision, SystemTime::now()));
                    }
                });
            }
        }
    }
    Ok(received)
}

/// One write; returns its revision.
async fn write(
    peer: Peer,
    grpc: &mut Option<tonic::client::Grpc<Channel>>,
    http: &reqwest::Client,
    admin: &str,
    round: usize,
) -> anyhow::Result<u64> {
    match (peer, grpc) {
        (Peer::Etcd, Some(client)) => {
            client.ready().await?;
            let put = PutRequest {
                key: KEY.to_vec(),
                value: format!("round {round}").into_bytes(),
            };
            let codec = tonic_prost::ProstCodec::<PutRequest, PutResponse>::default();
            let path = PathAndQuery::from_static("/etcdserverpb.KV/Put");
            let response = client.unary(tonic::Request::new(put), path, codec).await?;
            Ok(response.into_inner().header.map_or(0, |h| h.revision) as u64)
        }
        _ => {
            let url = format!("{admin}/admin/v1/orgs/bench/servers/s2k/prompts/probe");
            crate::fixture::write_probe(http, &url, round).await
        }
    }
}

/// Write request sent → the event at each of `watchers` watchers, over `rounds` writes.
/// `grpc` is the server's gRPC address; `admin` mcp-config's HTTP base URL (unused for etcd).
pub async fn propagation(
    peer: Peer,
    grpc: &str,
    admin: &str,
    watchers: usize,
    rounds: usize,
) -> anyhow::Result<Latency> {
    let mut received = watch(peer, grpc, watchers).await?;
    let mut client = match peer {
        Peer::Etcd => Some(tonic::client::Grpc::new(
            Channel::from_shared(format!("http://{grpc}"))?
                .connect()
                .await?,
        )),
        Peer::McpConfig => None,
    };
    let http = reqwest::Client::new();
    let mut latencies = crate::load::histogram();
    for round in 0..rounds {
        let start = SystemTime::now();
        let revision = write(peer, &mut client, &http, admin, round).await?;
        let arrivals = collect(&mut received, revision, watchers).await;
        anyhow::ensure!(
            arrivals.len() == watchers,
            "round {round}: {} of {watchers} watchers saw revision {revision}",
            arrivals.len()
        );
        for at in arrivals {
            let _ = latencies.record(since(start, at));
        }
    }
    Ok(Latency::of(&latencies))
}
