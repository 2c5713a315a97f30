//! What an MCP server pays per read through the Rust client, against the real service (in
//! process, SQLite, the example bundle): a cached read (the view is current: no call at all), a
//! revalidation (every read asks with `known_revision` and gets `not_modified`: the cost after
//! an invalidation when nothing changed), and a `GetPrompt` (rendered by the service each time)
//! for scale. Sequential reads after a warm-up, as `client/typescript/bench/reads.ts` does for
//! the TypeScript client, so the figures sit side by side.

use std::{
    future::Future,
    time::{Duration, Instant},
};

use mcp_config_client::{ClientConfig, ConfigClient, Source};
use mcp_config_tests::service::Service;

use crate::load::histogram;

/// One kind of read: p50 and p99 in µs, and reads per second.
pub struct Reads {
    pub p50_us: f64,
    pub p99_us: f64,
    pub per_second: f64,
}

pub struct ClientFigures {
    pub cached: Reads,
    pub revalidation: Reads,
    pub get_prompt: Reads,
}

async fn measure<F, Fut>(count: usize, mut read: F) -> anyhow::Result<Reads>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    for _ in 0..(count / 10).min(500) {
        read().await?;
    }
    let mut h = histogram();
    let started = Instant::now();
    for _ in 0..count {
        let t = Instant::now();
        read().await?;
        h.record(t.elapsed().as_nanos().max(1) as u64)?;
    }
    let us = |ns: u64| ns as f64 / 1e3;
    Ok(Reads {
        p50_us: us(h.value_at_quantile(0.5)),
        p99_us: us(h.value_at_quantile(0.99)),
        per_second: count as f64 / started.elapsed().as_secs_f64(),
    })
}

pub async fn reads(smoke: bool) -> anyhow::Result<ClientFigures> {
    let (_dir, service) = Service::example_on_sqlite().await;
    let endpoint = format!("http://{}", service.grpc_addr);
    let cached = ConfigClient::connect(ClientConfig::new(endpoint.clone())).await?;
    tokio::time::timeout(Duration::from_secs(10), cached.until_following()).await?;
    let revalidating = ConfigClient::connect(ClientConfig {
        source: Source::None,
        revalidate_after: Duration::ZERO,
        ..ClientConfig::new(endpoint.clone())
    })
    .await?;
    let (many, few) = if smoke {
        (2_000, 200)
    } else {
        (200_000, 5_000)
    };
    let cached_reads = measure(many, || async {
        cached.prompts("acme", "github").await?;
        Ok(())
    })
    .await?;
    let revalidations = measure(few, || async {
        revalidating.prompts("acme", "github").await?;
        Ok(())
    })
    .await?;
    let arguments: std::collections::HashMap<String, String> =
        [("repo", "acme/api"), ("number", "7")]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .into();
    let renders = measure(few, || async {
        revalidating
            .prompt("acme", "github", "review-pr", arguments.clone())
            .await?;
        Ok(())
    })
    .await?;
    Ok(ClientFigures {
        cached: cached_reads,
        revalidation: revalidations,
        get_prompt: renders,
    })
}
