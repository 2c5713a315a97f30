//! Operations: metrics move with requests, readiness follows the store, a store restart is
//! survived.

use std::time::Duration;

use mcp_config_proto::v1::GetPromptsRequest;
use mcp_config_tests::{
    eventually,
    postgres::Postgres,
    service::{EXAMPLE_BUNDLE, Service, prompts, settings},
};

/// The longest a test waits for the service to get somewhere: a bound, never a timing
/// assertion.
const WAIT: Duration = Duration::from_secs(30);

const HITS: &str = "mcp_config_l1_hits_total";

/// The value of the first sample of `metric` whose labels contain every one of `labels`.
fn sample(text: &str, metric: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|line| line.starts_with(metric) && labels.iter().all(|l| line.contains(l)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .next()
        .unwrap_or(0.0)
}

/// The recorder is the process's, shared with every other test running meanwhile: each delta
/// below is a lower bound (what this test did), never an exact count.
#[tokio::test]
async fn metrics_count_requests_and_cache_hits() {
    let (_dir, service) = Service::example_on_sqlite().await;
    service.wait_until_published().await;
    let scrape = || async {
        reqwest::get(service.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    let before = scrape().await;
    // The import's invalidations reach the cache on a task of their own after they are
    // published, and one landing amid a round of reads costs it a hit. Rounds repeat until one
    // meets a quiet cache, instead of sleeping a guessed time before a single round.
    let last_scrape = std::sync::Mutex::new(String::new());
    let quiet = eventually(WAIT, || async {
        let start = scrape().await;
        let mut grpc = service.grpc().await;
        for _ in 0..3 {
            grpc.get_prompts(prompts("acme", "github")).await.unwrap();
        }
        assert!(grpc.get_prompts(prompts("NOT OK", "github")).await.is_err());
        let end = scrape().await;
        let hits = sample(&end, HITS, &[]) - sample(&start, HITS, &[]);
        *last_scrape.lock().unwrap() = end;
        hits >= 2.0
    })
    .await;
    let after = last_scrape.into_inner().unwrap();
    assert!(quiet, "no round had two of its three reads hit: {after}");

    let ok = ["method=\"GetPrompts\"", "code=\"OK\""];
    let invalid = ["method=\"GetPrompts\"", "code=\"INVALID_ARGUMENT\""];
    let delta = |metric: &str, labels: &[&str]| {
        sample(&after, metric, labels) - sample(&before, metric, labels)
    };
    assert!(
        delta("mcp_config_grpc_requests_total", &ok) >= 3.0,
        "{after}"
    );
    assert!(
        delta("mcp_config_grpc_requests_total", &invalid) >= 1.0,
        "{after}"
    );
    assert!(delta("mcp_config_l1_misses_total", &[]) >= 1.0);
    assert!(sample(&after, "mcp_config_l1_bytes", &[]) > 0.0);
    assert!(
        after.contains("mcp_config_grpc_request_seconds_bucket"),
        "latency is a histogram"
    );
}

/// PostgreSQL restarted under a running service: cached reads go on, writes get 503 naming
/// the cause, readiness follows, and everything recovers by itself.
#[tokio::test]
async fn a_store_restart_is_survived_without_restarting_the_service() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let service = Service::start(settings(&pg.database(), None)).await;
    service.import(EXAMPLE_BUNDLE).await;
    // Published first: the import's own invalidations would otherwise drop the view read next.
    service.wait_until_published().await;
    let mut grpc = service.grpc().await;
    let read = GetPromptsRequest {
        org_id: "acme".into(),
        server: "github".into(),
        ..Default::default()
    };
    let before = grpc.get_prompts(read.clone()).await.unwrap().into_inner();
    let ready = || async {
        reqwest::get(service.url("/readyz"))
            .await
            .unwrap()
            .status()
            .is_success()
    };
    assert!(ready().await);
    let serving = || service.serving();
    assert!(serving().await);

    pg.stop();
    let cached = grpc.get_prompts(read.clone()).await.unwrap().into_inner();
    assert_eq!(
        cached.revision, before.revision,
        "a cached view is still served"
    );
    let refused = service
        .api()
        .put_text_prompt("acme", "github", "outage", "during")
        .await;
    assert_eq!(refused.status(), reqwest::StatusCode::SERVICE_UNAVAILABLE);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["message"], "store unavailable", "{body}");
    assert!(
        eventually(WAIT, || async { !ready().await }).await,
        "not ready without the store"
    );
    assert!(
        eventually(WAIT, || async { !serving().await }).await,
        "gRPC health follows"
    );

    pg.resume();
    assert!(eventually(WAIT, ready).await, "ready again");
    assert!(eventually(WAIT, serving).await, "serving again");
    assert!(
        eventually(WAIT, || async {
            service
                .api()
                .put_text_prompt("acme", "github", "outage", "after")
                .await
                .status()
                .is_success()
        })
        .await,
        "writes work again"
    );
    let read_back = eventually(WAIT, || {
        let (mut grpc, read) = (grpc.clone(), read.clone());
        async move {
            grpc.get_prompts(read)
                .await
                .is_ok_and(|view| view.into_inner().prompts.iter().any(|p| p.name == "outage"))
        }
    })
    .await;
    assert!(read_back, "the write after the restart is read back");
    let alive = reqwest::get(service.url("/healthz")).await.unwrap();
    assert!(alive.status().is_success());
}

/// A replica (re)started while PostgreSQL is down (a rescheduled pod during a database
/// restart) waits for it and comes up with it, rather than exiting. Found by the chaos run: a
/// replica killed and restarted inside a PostgreSQL outage never came back.
#[tokio::test]
async fn a_replica_started_while_the_store_is_down_comes_up_with_it() {
    let pg = std::sync::Arc::new(tokio::task::spawn_blocking(Postgres::start).await.unwrap());
    let database = pg.database();
    let stopped = pg.clone();
    tokio::task::spawn_blocking(move || stopped.stop())
        .await
        .unwrap();
    let starting = tokio::spawn(Service::start(settings(&database, None)));
    // What is asserted is an absence (the start neither gave up nor came up), so this waits a
    // window rather than for a condition: long enough for several failed attempts (100 ms,
    // doubling), after which the start must still be waiting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !starting.is_finished(),
        "the start gave up or succeeded without a database"
    );
    let resumed = pg.clone();
    tokio::task::spawn_blocking(move || resumed.resume())
        .await
        .unwrap();
    let service = tokio::time::timeout(WAIT, starting)
        .await
        .expect("the replica came up once the store was back")
        .unwrap();
    service.import(EXAMPLE_BUNDLE).await;
    let view = service.prompts_of("acme", "github").await;
    assert!(!view.prompts.is_empty());
}
