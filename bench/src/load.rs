//! The load generator: many concurrent requests over several connections, for a fixed time,
//! closed-loop (as fast as the target answers) or open-loop at a fixed offered rate. Latency is
//! measured from when a request was *due*, so a slow target cannot hide its queueing
//! (no coordinated omission).

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use fred::prelude::{ClientLike, KeysInterface};
use hdrhistogram::Histogram;
use mcp_config_proto::{
    EncodedResponse,
    v1::{GetPromptsRequest, config_service_client::ConfigServiceClient},
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use tonic::transport::Channel;

/// What one run measured.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub seconds: f64,
    pub rps: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub response_bytes: usize,
}

impl Stats {
    pub fn of(
        histogram: &Histogram<u64>,
        errors: u64,
        elapsed: Duration,
        response_bytes: usize,
    ) -> Self {
        let requests = histogram.len();
        Self {
            requests,
            errors,
            seconds: elapsed.as_secs_f64(),
            rps: requests as f64 / elapsed.as_secs_f64(),
            p50_us: histogram.value_at_quantile(0.50) as f64 / 1000.0,
            p90_us: histogram.value_at_quantile(0.90) as f64 / 1000.0,
            p99_us: histogram.value_at_quantile(0.99) as f64 / 1000.0,
            p999_us: histogram.value_at_quantile(0.999) as f64 / 1000.0,
            response_bytes,
        }
    }
}

/// How a run offers its load.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub concurrency: usize,
    pub duration: Duration,
    /// Requests per second across all workers; `None` = as fast as possible.
    pub rate: Option<f64>,
}

pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds")
}

/// Runs `call` from `shape.concurrency` workers; `call(worker)` returns the response size or
/// an error.
async fn drive<F, Fut>(shape: Shape, call: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<usize, ()>> + Send,
{
    let call = Arc::new(call);
    let merged = Arc::new(Mutex::new((histogram(), 0u64, 0usize)));
    let start = Instant::now();
    let deadline = start + shape.duration;
    let interval = shape
        .rate
        .map(|rate| Duration::from_secs_f64(shape.concurrency as f64 / rate));
    let workers: Vec<_> = (0..shape.concurrency)
        .map(|worker| {
            let (call, merged) = (call.clone(), merged.clone());
            tokio::spawn(async move {
                let mut local = histogram();
                let (mut errors, mut bytes) = (0u64, 0usize);
                // Spread open-loop workers over one interval so they do not fire together.
                let mut due = start
                    + interval.map_or(Duration::ZERO, |i| {
                        i.mul_f64(worker as f64 / shape.concurrency as f64)
                    });
                while due < deadline {
                    if interval.is_some() {
                        tokio::time::sleep_until(due.into()).await;
                    } else {
                        due = Instant::now();
                    }
                    match call(worker).await {
                        Ok(size) => {
                            bytes = size;
                            let _ = local.record(due.elapsed().as_nanos() as u64);
                        }
                        Err(()) => errors += 1,
                    }
                    if let Some(interval) = interval {
                        due += interval;
                    }
                }
                let mut merged = merged.lock().await;
                let _ = merged.0.add(&local);
                merged.1 += errors;
                merged.2 = merged.2.max(bytes);
            })
        })
        .collect();
    futures::future::join_all(workers).await;
    let elapsed = start.elapsed();
    let merged = merged.lock().await;
    Stats::of(&merged.0, merged.1, elapsed, merged.2)
}

const GET_PROMPTS: &str = "/mcp_config.v1.ConfigService/GetPrompts";

/// A `GetPrompts` caller that does not decode the answer's view: the response is read as an
/// [`EncodedResponse`], whose decoding skips each top-level field. With the generator on one
/// core, a full decode of every view made the *generator* the bottleneck at 2 KB, and the ratios
/// measured the client's prost decoding instead of the servers.
#[derive(Clone)]
struct RawGetPrompts(tonic::client::Grpc<Channel>);

impl RawGetPrompts {
    async fn call(&mut self, request: GetPromptsRequest) -> Result<(), tonic::Status> {
        self.0
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let codec = tonic_prost::ProstCodec::<GetPromptsRequest, EncodedResponse>::default();
        let path = tonic::codegen::http::uri::PathAndQuery::from_static(GET_PROMPTS);
        self.0
            .unary(tonic::Request::new(request), path, codec)
            .await
            .map(|_| ())
    }
}

/// `GetPrompts` against a gRPC target, over `connections` connections.
pub async fn grpc(
    addr: &str,
    server: &str,
    org: &str,
    connections: usize,
    shape: Shape,
) -> anyhow::Result<Stats> {
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        channels.push(
            Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?,
        );
    }
    let request = GetPromptsRequest {
        org_id: org.into(),
        server: server.into(),
        ..Default::default()
    };
    // Warm up, fully decoded: the first request fills the cache, checks the target answers a
    // real view, and gives the response size.
    let warm = ConfigServiceClient::new(channels[0].clone())
        .max_decoding_message_size(64 << 20)
        .get_prompts(request.clone())
        .await?
        .into_inner();
    anyhow::ensure!(
        !warm.prompts.is_empty(),
        "the target at {addr} served an empty view of {server}: {warm:?}"
    );
    let size = prost::Message::encoded_len(&warm);
    let clients: Arc<Vec<RawGetPrompts>> = Arc::new(
        channels
            .into_iter()
            .map(|channel| {
                RawGetPrompts(tonic::client::Grpc::new(channel).max_decoding_message_size(64 << 20))
            })
            .collect(),
    );
    Ok(drive(shape, move |worker| {
        let mut client = clients[worker % clients.len()].clone();
        let request = request.clone();
        async move {
            client.call(request).await.map_err(|_| ())?;
            Ok(size)
        }
    })
    .await)
}

/// Redis `GET` of a value of the same bytes, with fred.
pub async fn redis_get(
    url: &str,
    body: Bytes,
    connections: usize,
    shape: Shape,
) -> anyhow::Result<Stats> {
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        let client =
            fred::prelude::Builder::from_config(fred::prelude::Config::from_url(url)?).build()?;
        client.init().await?;
        clients.push(client);
    }
    let _: () = clients[0]
        .set("bench:view", body, None, None, false)
        .await?;
    let clients = Arc::new(clients);
    Ok(drive(shape, move |worker| {
        let client = clients[worker % clients.len()].clone();
        async move {
            let value: Option<Bytes> = client.get("bench:view").await.map_err(|_| ())?;
            value.map(|v| v.len()).ok_or(())
        }
    })
    .await)
}
