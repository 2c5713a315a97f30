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

/// Runs `call` as `shape` says; `call(n)` (n counts the requests, for picking a connection)
/// returns the response size or an error.
pub(crate) async fn drive<F, Fut>(shape: Shape, call: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<usize, ()>> + Send + 'static,
{
    match shape.rate {
        None => closed_loop(shape, call).await,
        Some(rate) => open_loop(shape, rate, call).await,
    }
}

/// `shape.concurrency` workers, each sending its next request as soon as its last one answered.
async fn closed_loop<F, Fut>(shape: Shape, call: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<usize, ()>> + Send + 'static,
{
    let call = Arc::new(call);
    let merged = Arc::new(Mutex::new((histogram(), 0u64, 0usize)));
    let start = Instant::now();
    let deadline = start + shape.duration;
    let workers: Vec<_> = (0..shape.concurrency)
        .map(|worker| {
            let (call, merged) = (call.clone(), merged.clone());
            tokio::spawn(async move {
                let mut local = histogram();
                let (mut errors, mut bytes) = (0u64, 0usize);
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    match call(worker).await {
                        Ok(size) => {
                            bytes = size;
                            let _ = local.record(sent.elapsed().as_nanos() as u64);
                        }
                        Err(()) => errors += 1,
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

/// Requests due at a fixed rate, evenly spaced, at most `shape.concurrency` in flight; each
/// latency counts from when its request was due, so a target that falls behind is charged for
/// the queue it builds.
///
/// The schedule is kept by a thread of its own with `std::thread::sleep` (high-resolution
/// timers, tens of µs late): tokio's timer wheel has a 1 ms resolution, so paced from tokio the
/// requests of a whole millisecond left together, and their burst queued at the target: at
/// 24 k/s, 24 requests at once, a p50 of ~1.5 ms that measured the generator's bursts, not the
/// servers.
async fn open_loop<F, Fut>(shape: Shape, rate: f64, call: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<usize, ()>> + Send + 'static,
{
    let start = Instant::now();
    let deadline = start + shape.duration;
    let (due_tx, mut due_rx) = tokio::sync::mpsc::unbounded_channel();
    let pacer = std::thread::spawn(move || pace(rate, start, deadline, due_tx));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(shape.concurrency));
    let mut answers = tokio::task::JoinSet::new();
    let (mut latencies, mut errors, mut bytes) = (histogram(), 0u64, 0usize);
    let mut record = |answer: (Duration, Result<usize, ()>)| match answer {
        (latency, Ok(size)) => {
            bytes = size;
            let _ = latencies.record(latency.as_nanos() as u64);
        }
        (_, Err(())) => errors += 1,
    };
    let mut sent = 0usize;
    while let Some(due) = due_rx.recv().await {
        let permit = in_flight
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        let answer = call(sent);
        answers.spawn(async move {
            let answer = answer.await;
            drop(permit);
            (due.elapsed(), answer)
        });
        sent += 1;
        while let Some(done) = answers.try_join_next() {
            record(done.expect("a request task panicked"));
        }
    }
    while let Some(done) = answers.join_next().await {
        record(done.expect("a request task panicked"));
    }
    pacer.join().expect("the pacer panicked");
    Stats::of(&latencies, errors, start.elapsed(), bytes)
}

/// Sends the due instant of every request, `1 / rate` apart, from `start` until `deadline`.
fn pace(
    rate: f64,
    start: Instant,
    deadline: Instant,
    due_tx: tokio::sync::mpsc::UnboundedSender<Instant>,
) {
    let interval = Duration::from_secs_f64(1.0 / rate);
    let mut due = start;
    while due < deadline {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let now = Instant::now();
        while due <= now && due < deadline {
            if due_tx.send(due).is_err() {
                return;
            }
            due += interval;
        }
    }
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

/// Which org's view each request asks for.
#[derive(Debug, Clone, Copy)]
pub enum Orgs<'a> {
    /// Always this one (every request a cache hit once warm).
    One(&'a str),
    /// `org1` … `org{views}`, Zipf-distributed with this exponent: `org1` the most asked.
    Zipf { views: usize, exponent: f64 },
}

/// `GetPrompts` against a gRPC target, over `connections` connections.
pub async fn grpc(
    addr: &str,
    server: &str,
    orgs: Orgs<'_>,
    connections: usize,
    shape: Shape,
) -> anyhow::Result<Stats> {
    let org = match orgs {
        Orgs::One(org) => org.to_owned(),
        Orgs::Zipf { .. } => "org1".to_owned(),
    };
    let zipf = match orgs {
        Orgs::One(_) => None,
        Orgs::Zipf { views, exponent } => Some(rand_distr::Zipf::new(views as f64, exponent)?),
    };
    let mut channels = Vec::with_capacity(connections);
    for _ in 0..connections.max(1) {
        channels.push(
            Channel::from_shared(format!("http://{addr}"))?
                .connect()
                .await?,
        );
    }
    let request = GetPromptsRequest {
        org_id: org,
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
    Ok(drive(shape, move |n| {
        let mut client = clients[n % clients.len()].clone();
        let mut request = request.clone();
        if let Some(zipf) = &zipf {
            let rank: f64 = rand::Rng::sample(&mut rand::rng(), zipf);
            request.org_id = format!("org{}", rank as u64);
        }
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
    Ok(drive(shape, move |n| {
        let client = clients[n % clients.len()].clone();
        async move {
            let value: Option<Bytes> = client.get("bench:view").await.map_err(|_| ())?;
            value.map(|v| v.len()).ok_or(())
        }
    })
    .await)
}
