//! What an MCP server pays per read through the Rust client, per view size, next to the reads
//! it would make without the client's cache, all from the same process and timed by the same
//! function: a cached read (the view is current: no call at all) against a Redis `GET` of the
//! same bytes and a `GetPrompts` call; then the two reads an invalidation leads to — the
//! revalidation with `known_revision` (nothing changed: `not_modified`) and the full reload (the
//! view changed: the whole body fetched and decoded).
//!
//! Sequential reads after a warm-up, as `client/typescript/bench/reads.ts` does for the
//! TypeScript client, so the figures sit side by side. The service runs in this process (SQLite,
//! the fixture's views), Redis as the other scenarios' one.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use bytes::Bytes;
use fred::prelude::{ClientLike, KeysInterface};
use mcp_config::app::App;
use mcp_config_client::{ClientConfig, ConfigClient, Source};
use mcp_config_proto::v1::{GetPromptsRequest, config_service_client::ConfigServiceClient};
use mcp_config_tests::service::settings;
use tokio::sync::broadcast::error::RecvError;

use crate::{fixture, load::histogram};

/// The client's cache hit must be at least this many times a Redis `GET` (issue 18).
pub const CACHED_VS_REDIS_TARGET: f64 = 100.0;

/// One kind of read: p50 and p99 in µs, and reads per second.
pub struct Reads {
    pub p50_us: f64,
    pub p99_us: f64,
    pub per_second: f64,
}

/// The reads of one view size.
pub struct SizeReads {
    pub size: &'static str,
    /// The encoded view (`GetPromptsResponse`), the bytes Redis holds.
    pub bytes: usize,
    pub cached: Reads,
    pub redis_get: Reads,
    pub get_prompts: Reads,
    pub revalidation: Reads,
    pub reload: Reads,
}

pub struct ClientFigures {
    pub sizes: Vec<SizeReads>,
    /// `GetPrompt` of the smallest view's first prompt (rendered by the service each time).
    pub get_prompt: Reads,
    /// An empty read through the same timing: what the timer itself adds to every figure.
    pub floor: Reads,
}

/// How many reads of each kind a run times, in how many interleaved chunks.
struct Counts {
    cached: usize,
    calls: usize,
    reloads: usize,
    chunks: usize,
}

/// The reads of one kind timed so far, over every chunk.
struct Timings {
    histogram: hdrhistogram::Histogram<u64>,
    timed: Duration,
    count: usize,
    /// Rounds run, warm-ups included: each round's number is new (a reload's change differs
    /// from the one before it).
    rounds: usize,
}

impl Timings {
    fn new() -> Self {
        Self {
            histogram: histogram(),
            timed: Duration::ZERO,
            count: 0,
            rounds: 0,
        }
    }

    fn reads(&self) -> Reads {
        let us = |ns: u64| ns as f64 / 1e3;
        Reads {
            p50_us: us(self.histogram.value_at_quantile(0.5)),
            p99_us: us(self.histogram.value_at_quantile(0.99)),
            per_second: self.count as f64 / self.timed.as_secs_f64().max(f64::MIN_POSITIVE),
        }
    }
}

/// Times `count` calls of `read`, one after another, after a warm-up, into `timings`.
async fn measure<F, Fut>(timings: &mut Timings, count: usize, mut read: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    measure_prepared(timings, count, |_| async { Ok(()) }, |_| read()).await
}

/// Times `count` calls of `read`, one after another, after a warm-up, into `timings`;
/// `prepare(round)` runs before each, untimed (the change a reload follows). Per second is
/// over the timed reads only.
async fn measure_prepared<P, PFut, F, Fut>(
    timings: &mut Timings,
    count: usize,
    mut prepare: P,
    mut read: F,
) -> anyhow::Result<()>
where
    P: FnMut(usize) -> PFut,
    PFut: Future<Output = anyhow::Result<()>>,
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for _ in 0..(count / 10).min(500) {
        let round = timings.rounds;
        timings.rounds += 1;
        prepare(round).await?;
        read(round).await?;
    }
    for _ in 0..count {
        let round = timings.rounds;
        timings.rounds += 1;
        prepare(round).await?;
        let t = Instant::now();
        read(round).await?;
        let elapsed = t.elapsed();
        timings.timed += elapsed;
        timings.count += 1;
        timings.histogram.record(elapsed.as_nanos().max(1) as u64)?;
    }
    Ok(())
}

pub async fn reads(
    smoke: bool,
    database_url: &str,
    redis_url: &str,
) -> anyhow::Result<ClientFigures> {
    let app = App::build(&settings(database_url, None)).await?;
    fixture::import(app.editor()).await?;
    let endpoint = format!("http://{}", app.grpc_addr());
    let redis =
        fred::prelude::Builder::from_config(fred::prelude::Config::from_url(redis_url)?).build()?;
    redis.init().await?;
    let counts = if smoke {
        Counts {
            cached: 2_000,
            calls: 100,
            reloads: 20,
            chunks: 1,
        }
    } else {
        Counts {
            cached: 200_000,
            calls: 5_000,
            reloads: 1_000,
            chunks: 5,
        }
    };
    let sizes: &[&'static str] = if smoke {
        &["2k"]
    } else {
        &["2k", "20k", "100k"]
    };
    let mut floor = Timings::new();
    let mut figures = Vec::with_capacity(sizes.len());
    for &size in sizes {
        eprintln!("  reads of the {size} view");
        figures.push(reads_of(&app, &endpoint, &redis, size, &counts, &mut floor).await?);
    }

    let renderer = ConfigClient::connect(ClientConfig {
        source: Source::None,
        ..ClientConfig::new(endpoint)
    })
    .await?;
    let arguments: std::collections::HashMap<String, String> =
        [("repo", "acme/api"), ("number", "7")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
    let server = fixture::server_of(sizes[0]);
    let mut get_prompt = Timings::new();
    measure(&mut get_prompt, counts.calls, || async {
        renderer
            .prompt(fixture::ORG, &server, "prompt-0000", arguments.clone())
            .await?;
        Ok(())
    })
    .await?;
    let _ = redis.quit().await;
    app.shutdown_token().cancel();
    Ok(ClientFigures {
        sizes: figures,
        get_prompt: get_prompt.reads(),
        floor: floor.reads(),
    })
}

/// The reads of `size`'s view, each kind's in `counts.chunks` chunks taken in turn, so that
/// whatever else the machine does in those seconds falls on every kind alike.
async fn reads_of(
    app: &App,
    endpoint: &str,
    redis: &fred::prelude::Client,
    size: &'static str,
    counts: &Counts,
    floor: &mut Timings,
) -> anyhow::Result<SizeReads> {
    let server = fixture::server_of(size);
    let body = fixture::encoded(size, 1).full().0;
    let bytes = body.len();
    // Follows the Watch stream, as an MCP server's client does: its view stays current until a
    // change is announced.
    let cached = ConfigClient::connect(ClientConfig {
        servers: vec![server.clone()],
        ..ClientConfig::new(endpoint)
    })
    .await?;
    tokio::time::timeout(Duration::from_secs(10), cached.until_following()).await?;
    let key = format!("bench:client:{size}");
    let _: () = redis.set(key.as_str(), body, None, None, false).await?;
    let grpc = ConfigServiceClient::connect(endpoint.to_owned())
        .await?
        .max_decoding_message_size(64 << 20);
    let request = GetPromptsRequest {
        org_id: fixture::ORG.into(),
        server: server.clone(),
        ..Default::default()
    };
    // Every read revalidates (no invalidation source, no freshness): the round trip a read
    // makes after an invalidation of a view that did not change.
    let revalidating = ConfigClient::connect(ClientConfig {
        source: Source::None,
        revalidate_after: Duration::ZERO,
        ..ClientConfig::new(endpoint)
    })
    .await?;

    let [
        mut cached_reads,
        mut redis_gets,
        mut calls,
        mut revalidations,
        mut reloads,
    ] = std::array::from_fn(|_| Timings::new());
    for _ in 0..counts.chunks {
        let cached_count = counts.cached / counts.chunks;
        let calls_count = counts.calls / counts.chunks;
        // The timer's own cost: an empty read through the same function.
        measure(floor, cached_count, || async { Ok(()) }).await?;
        measure(&mut cached_reads, cached_count, || async {
            cached.prompts(fixture::ORG, &server).await?;
            Ok(())
        })
        .await?;
        measure(&mut redis_gets, calls_count, || async {
            let value: Option<Bytes> = redis.get(key.as_str()).await?;
            anyhow::ensure!(value.is_some_and(|v| v.len() == bytes), "{key} is missing");
            Ok(())
        })
        .await?;
        measure(&mut calls, calls_count, || async {
            let view = grpc
                .clone()
                .get_prompts(request.clone())
                .await?
                .into_inner();
            anyhow::ensure!(!view.prompts.is_empty(), "an empty view of {server}");
            Ok(())
        })
        .await?;
        measure(&mut revalidations, calls_count, || async {
            revalidating.prompts(fixture::ORG, &server).await?;
            Ok(())
        })
        .await?;
        // Each round changes the view, waits until the client has heard it, and lets the
        // service load the new view (as the first replica to read it would): the timed read is
        // the client's own reload, whole body fetched and decoded.
        measure_prepared(
            &mut reloads,
            counts.reloads / counts.chunks,
            |round| {
                let (cached, grpc, request, server) = (&cached, &grpc, &request, &server);
                async move {
                    let mut changes = cached.changes();
                    let (id, content) = fixture::change(size, round)?;
                    app.editor().put(id, &content, None, "bench", "").await?;
                    tokio::time::timeout(Duration::from_secs(10), async {
                        loop {
                            match changes.recv().await {
                                Ok(change) if change.server == server.as_str() => return Ok(()),
                                Ok(_) => {}
                                Err(RecvError::Lagged(_)) => return Ok(()),
                                Err(RecvError::Closed) => anyhow::bail!("the client stopped"),
                            }
                        }
                    })
                    .await??;
                    grpc.clone().get_prompts(request.clone()).await?;
                    Ok(())
                }
            },
            |_| async {
                let view = cached.prompts(fixture::ORG, &server).await?;
                anyhow::ensure!(view.stale.is_none(), "a stale view of {server}");
                Ok(())
            },
        )
        .await?;
    }

    Ok(SizeReads {
        size,
        bytes,
        cached: cached_reads.reads(),
        redis_get: redis_gets.reads(),
        get_prompts: calls.reads(),
        revalidation: revalidations.reads(),
        reload: reloads.reads(),
    })
}

/// A cached read with the service hung (its link blackholed: connections accepted, nothing
/// answered, nothing closed), through a client whose views always revalidate: what an MCP
/// server waits per read while the service hangs. The client's call timeout is the default
/// (5 s); the read budget and then the circuit breaker are what bound the reads.
pub struct HungReads {
    pub reads: Reads,
    /// Reads timed, every one answered stale (a fresh answer fails the run).
    pub count: usize,
    pub timeout: Duration,
}

pub async fn hung(smoke: bool, database_url: &str) -> anyhow::Result<HungReads> {
    let app = App::build(&settings(database_url, None)).await?;
    fixture::import(app.editor()).await?;
    let link = mcp_config_tests::proxy::FaultProxy::start(app.grpc_addr()).await;
    let config = ClientConfig {
        source: Source::None,
        revalidate_after: Duration::ZERO,
        ..ClientConfig::new(format!("http://{}", link.addr()))
    };
    let timeout = config.timeout;
    let client = ConfigClient::connect(config).await?;
    let server = fixture::server_of("2k");
    client.prompts(fixture::ORG, &server).await?;
    link.set(mcp_config_tests::proxy::Fault::Blackhole);
    let count = if smoke { 20 } else { 400 };
    let mut timings = Timings::new();
    measure(&mut timings, count, || async {
        let read = client.prompts(fixture::ORG, &server).await?;
        anyhow::ensure!(
            read.stale.is_some(),
            "a hung service's view is served stale"
        );
        Ok(())
    })
    .await?;
    link.set(mcp_config_tests::proxy::Fault::None);
    app.shutdown_token().cancel();
    Ok(HungReads {
        reads: timings.reads(),
        count: timings.count,
        timeout,
    })
}
