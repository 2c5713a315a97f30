//! Prometheus metrics: one recorder per process, rendered at `/metrics`, and the tower layer
//! that counts and times every gRPC call by method and status.
//!
//! | metric | meaning |
//! |---|---|
//! | `mcp_config_grpc_requests_total{method,code}` | gRPC calls answered |
//! | `mcp_config_grpc_request_seconds{method}` | gRPC latency histogram |
//! | `mcp_config_l1_hits_total`, `…_l1_misses_total`, `…_l1_evictions_total` | in-process cache |
//! | `mcp_config_l1_bytes` | bytes held by the in-process cache (as weighed) |
//! | `mcp_config_l2_hits_total`, `…_l2_misses_total`, `…_l2_errors_total` | Redis cache |
//! | `mcp_config_l2_skipped_total` | Redis cache calls skipped while the breaker rests L2 |
//! | `mcp_config_store_load_seconds` | one view's load from the store (query + merge + encode) |
//! | `mcp_config_relay_lag` | newest revision − last published revision |
//! | `mcp_config_relay_publish_errors_total` | failed publish rounds (Redis down, …) |
//! | `mcp_config_subscriber_reconnects_total` | Redis (re)subscriptions after the first |
//! | `mcp_config_watch_streams` | open Watch streams |
//! | `mcp_config_connections_open{listener}` | open client connections, by listener |
//! | `mcp_config_connections_refused_total{listener,reason}` | connections closed at once: a cap was full |
//! | `mcp_config_connections_idle_closed_total{listener}` | connections closed for moving no bytes |
//! | `mcp_config_l1_following` | 1 while invalidations are heard (L1 keeps views), 0 while not |
//! | `mcp_config_renders_timed_out_total` | prompt renders that missed their deadline |
//! | `mcp_config_render_workers_stopped_total` | render workers killed at a deadline or a memory cap |
//! | `mcp_config_mcp_lists_encoded_total` | MCP list requests answered from their encoded form, ahead of rmcp |
//! | `process_*` | the standard process metrics: CPU seconds, resident memory, open fds, … |

use std::{
    future::Future,
    pin::Pin,
    sync::OnceLock,
    task::{Context, Poll},
    time::Instant,
};

use axum::http;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

pub const GRPC_REQUESTS: &str = "mcp_config_grpc_requests_total";
pub const WEBHOOK_ATTEMPTS: &str = "mcp_config_webhook_attempts_total";
pub const GRPC_SECONDS: &str = "mcp_config_grpc_request_seconds";
pub const L1_HITS: &str = "mcp_config_l1_hits_total";
pub const L1_MISSES: &str = "mcp_config_l1_misses_total";
pub const L1_EVICTIONS: &str = "mcp_config_l1_evictions_total";
pub const L1_BYTES: &str = "mcp_config_l1_bytes";
pub const L1_FOLLOWING: &str = "mcp_config_l1_following";
pub const L2_HITS: &str = "mcp_config_l2_hits_total";
pub const L2_MISSES: &str = "mcp_config_l2_misses_total";
pub const L2_ERRORS: &str = "mcp_config_l2_errors_total";
pub const L2_SKIPPED: &str = "mcp_config_l2_skipped_total";
pub const STORE_LOAD_SECONDS: &str = "mcp_config_store_load_seconds";
pub const RELAY_LAG: &str = "mcp_config_relay_lag";
pub const RELAY_PUBLISH_ERRORS: &str = "mcp_config_relay_publish_errors_total";
pub const SUBSCRIBER_RECONNECTS: &str = "mcp_config_subscriber_reconnects_total";
pub const WATCH_STREAMS: &str = "mcp_config_watch_streams";
pub const CONNECTIONS_OPEN: &str = "mcp_config_connections_open";
pub const CONNECTIONS_REFUSED: &str = "mcp_config_connections_refused_total";
pub const CONNECTIONS_IDLE_CLOSED: &str = "mcp_config_connections_idle_closed_total";
pub const RENDERS_TIMED_OUT: &str = "mcp_config_renders_timed_out_total";
pub const RENDER_WORKERS_STOPPED: &str = "mcp_config_render_workers_stopped_total";
pub const MCP_LISTS_ENCODED: &str = "mcp_config_mcp_lists_encoded_total";

/// Latency buckets, in seconds: from a cache hit (tens of µs) to a slow miss.
const BUCKETS: [f64; 12] = [
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 1.0,
];

/// What a metric is, for its HELP and TYPE lines.
#[derive(Clone, Copy)]
enum Type {
    Counter,
    Gauge,
    Histogram,
}

/// Every metric the service records, with its HELP text (the table above, as data).
const CATALOG: [(&str, Type, &str); 23] = [
    (
        GRPC_REQUESTS,
        Type::Counter,
        "gRPC calls answered, by method and status code",
    ),
    (
        WEBHOOK_ATTEMPTS,
        Type::Counter,
        "webhook delivery attempts, by outcome (delivered, retry, failed, gone)",
    ),
    (
        GRPC_SECONDS,
        Type::Histogram,
        "gRPC call latency, by method",
    ),
    (
        L1_HITS,
        Type::Counter,
        "views served from the in-process cache",
    ),
    (
        L1_MISSES,
        Type::Counter,
        "views not in the in-process cache",
    ),
    (
        L1_EVICTIONS,
        Type::Counter,
        "views evicted from the in-process cache for space",
    ),
    (
        L1_BYTES,
        Type::Gauge,
        "bytes held by the in-process cache, as weighed",
    ),
    (
        L1_FOLLOWING,
        Type::Gauge,
        "1 while invalidations are heard (the in-process cache keeps views), 0 while not (every read loads)",
    ),
    (L2_HITS, Type::Counter, "views served from Redis"),
    (L2_MISSES, Type::Counter, "views not in Redis"),
    (
        L2_ERRORS,
        Type::Counter,
        "Redis cache reads or writes that failed or timed out (read around)",
    ),
    (
        L2_SKIPPED,
        Type::Counter,
        "Redis cache calls skipped while the breaker rests L2",
    ),
    (
        STORE_LOAD_SECONDS,
        Type::Histogram,
        "one view's load from the store: query, merge, encode",
    ),
    (
        RELAY_LAG,
        Type::Gauge,
        "newest revision minus the last published revision",
    ),
    (
        RELAY_PUBLISH_ERRORS,
        Type::Counter,
        "relay rounds that could not publish",
    ),
    (
        SUBSCRIBER_RECONNECTS,
        Type::Counter,
        "Redis resubscriptions after the first (each drops L1)",
    ),
    (WATCH_STREAMS, Type::Gauge, "open Watch streams"),
    (
        CONNECTIONS_OPEN,
        Type::Gauge,
        "open client connections, by listener",
    ),
    (
        CONNECTIONS_REFUSED,
        Type::Counter,
        "connections closed at once because a cap was full, by listener and cap",
    ),
    (
        CONNECTIONS_IDLE_CLOSED,
        Type::Counter,
        "connections closed for moving no bytes, by listener",
    ),
    (
        RENDERS_TIMED_OUT,
        Type::Counter,
        "prompt renders that missed their deadline",
    ),
    (
        RENDER_WORKERS_STOPPED,
        Type::Counter,
        "render workers killed mid-job (deadline) or ended by their memory limit, and replaced",
    ),
    (
        MCP_LISTS_ENCODED,
        Type::Counter,
        "MCP list requests answered from their encoded form, ahead of rmcp's pipeline",
    ),
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
static PROCESS: OnceLock<metrics_process::Collector> = OnceLock::new();

/// The process's recorder, installed on first use (every app of a process shares it), with
/// every metric of [`CATALOG`] described and the unlabelled ones (and those whose labels are a
/// fixed set) registered at zero, so `/metrics` shows the whole set before the first request.
///
/// A host that installed a recorder of its own keeps it: this recorder is then not global,
/// the service's metrics go to the host's, and `/metrics` shows only the process metrics.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("seconds".into()), &BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "a metrics recorder is already installed; the service's metrics go to it"
            );
        }
        register_all();
        handle
    })
}

fn register_all() {
    for (name, kind, help) in CATALOG {
        match kind {
            Type::Counter => metrics::describe_counter!(name, help),
            Type::Gauge => metrics::describe_gauge!(name, help),
            Type::Histogram => metrics::describe_histogram!(name, help),
        }
    }
    for name in [
        L1_HITS,
        L1_MISSES,
        L1_EVICTIONS,
        L2_HITS,
        L2_MISSES,
        L2_ERRORS,
        L2_SKIPPED,
        RELAY_PUBLISH_ERRORS,
        SUBSCRIBER_RECONNECTS,
        RENDERS_TIMED_OUT,
        RENDER_WORKERS_STOPPED,
        MCP_LISTS_ENCODED,
    ] {
        metrics::counter!(name).absolute(0);
    }
    for name in [L1_BYTES, RELAY_LAG, WATCH_STREAMS] {
        metrics::gauge!(name).set(0.0);
    }
    metrics::gauge!(L1_FOLLOWING).set(1.0);
    for method in METHODS {
        metrics::counter!(GRPC_REQUESTS, "method" => method, "code" => "OK").absolute(0);
        // Registered without a sample: rendered with zero counts.
        let _ = metrics::histogram!(GRPC_SECONDS, "method" => method);
    }
    let _ = metrics::histogram!(STORE_LOAD_SECONDS);
    for listener in ["grpc", "http"] {
        metrics::gauge!(CONNECTIONS_OPEN, "listener" => listener).set(0.0);
        metrics::counter!(CONNECTIONS_IDLE_CLOSED, "listener" => listener).absolute(0);
        for reason in ["listener", "peer"] {
            metrics::counter!(CONNECTIONS_REFUSED, "listener" => listener, "reason" => reason)
                .absolute(0);
        }
    }
    let process = PROCESS.get_or_init(metrics_process::Collector::default);
    process.describe();
}

/// The Prometheus text of every metric, the process's (CPU, resident memory, open file
/// descriptors, …) read now.
pub fn render() -> String {
    let handle = handle();
    if let Some(process) = PROCESS.get() {
        process.collect();
    }
    handle.render()
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Folds recorded histogram samples into their buckets until `shutdown`. The recorder keeps
/// every sample until then: without this, a process nobody scrapes grows by 8 bytes a request
/// (hundreds of MB an hour at full load), and the first scrape pays for all of it at once.
pub async fn upkeep(shutdown: tokio_util::sync::CancellationToken) {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = every.tick() => handle().run_upkeep(),
        }
    }
}

/// Method labels, from a fixed set so labels never grow without bound; the last one stands
/// for every other path.
const METHODS: [&str; 7] = [
    "GetPrompts",
    "GetResources",
    "GetPrompt",
    "ReadResource",
    "Watch",
    "Check",
    "other",
];

/// Status labels; `TRANSPORT_ERROR` is a call that ended without an answer.
const CODES: [&str; 11] = [
    "OK",
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "OUT_OF_RANGE",
    "UNAVAILABLE",
    "UNAUTHENTICATED",
    "OTHER",
    "TRANSPORT_ERROR",
];

fn label_index(labels: &[&str], label: &str) -> usize {
    labels
        .iter()
        .position(|l| *l == label)
        .expect("labels come from the fixed set")
}

/// The index in [`METHODS`] of a gRPC path's method.
fn method_of(path: &str) -> usize {
    let name = path.rsplit('/').next().unwrap_or_default();
    let known = &METHODS[..METHODS.len() - 1];
    known.iter().position(|m| *m == name).unwrap_or(known.len())
}

static GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// The index in [`CODES`] of an answer's status: a trailers-only (error) answer carries
/// `grpc-status` in its headers; a successful unary answer carries it in trailers, after the
/// headers.
fn code_of(headers: &http::HeaderMap) -> usize {
    let label = match headers.get(&GRPC_STATUS).map(|v| v.as_bytes()) {
        None | Some(b"0") => "OK",
        Some(b"3") => "INVALID_ARGUMENT",
        Some(b"5") => "NOT_FOUND",
        Some(b"7") => "PERMISSION_DENIED",
        Some(b"8") => "RESOURCE_EXHAUSTED",
        Some(b"9") => "FAILED_PRECONDITION",
        Some(b"11") => "OUT_OF_RANGE",
        Some(b"14") => "UNAVAILABLE",
        Some(b"16") => "UNAUTHENTICATED",
        Some(_) => "OTHER",
    };
    label_index(&CODES, label)
}

/// One method's handles, registered on first use. Looking a labelled metric up in the
/// registry hashes and allocates its key on every call; a cached handle is an atomic add.
struct MethodMetrics {
    requests: [OnceLock<metrics::Counter>; CODES.len()],
    seconds: OnceLock<metrics::Histogram>,
}

static CALLS: [MethodMetrics; METHODS.len()] = [const {
    MethodMetrics {
        requests: [const { OnceLock::new() }; CODES.len()],
        seconds: OnceLock::new(),
    }
}; METHODS.len()];

/// Counts and times one answered call.
fn observe(method: usize, code: usize, elapsed: std::time::Duration) {
    let calls = &CALLS[method];
    calls.requests[code]
        .get_or_init(|| {
            handle();
            metrics::counter!(GRPC_REQUESTS, "method" => METHODS[method], "code" => CODES[code])
        })
        .increment(1);
    calls
        .seconds
        .get_or_init(|| {
            handle();
            metrics::histogram!(GRPC_SECONDS, "method" => METHODS[method])
        })
        .record(elapsed.as_secs_f64());
}

/// Counts and times every gRPC call and, when traces are exported, runs it in a span that
/// continues the caller's W3C trace context. One layer, so a call pays for one boxed future.
#[derive(Clone, Copy, Default)]
pub struct GrpcObserveLayer {
    pub traced: bool,
}

impl<S> tower::Layer<S> for GrpcObserveLayer {
    type Service = GrpcObserve<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcObserve {
            inner,
            traced: self.traced,
        }
    }
}

#[derive(Clone)]
pub struct GrpcObserve<S> {
    inner: S,
    traced: bool,
}

impl<S, B, R> tower::Service<http::Request<B>> for GrpcObserve<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send,
    R: Send,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let method = method_of(request.uri().path());
        let span = self.traced.then(|| {
            let span =
                tracing::info_span!("grpc", rpc.method = METHODS[method], otel.kind = "server");
            let _ = span.set_parent(crate::telemetry::remote_context(request.headers()));
            span
        });
        let start = Instant::now();
        let answer = self.inner.call(request);
        let observed = async move {
            let response = answer.await;
            let code = match &response {
                Ok(response) => code_of(response.headers()),
                Err(_) => label_index(&CODES, "TRANSPORT_ERROR"),
            };
            observe(method, code, start.elapsed());
            response
        };
        match span {
            Some(span) => Box::pin(observed.instrument(span)),
            None => Box::pin(observed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_a_fixed_set() {
        assert_eq!(
            METHODS[method_of("/mcp_config.v1.ConfigService/GetPrompts")],
            "GetPrompts"
        );
        assert_eq!(METHODS[method_of("/evil/../x")], "other");
        assert_eq!(METHODS[method_of("/x/other")], "other");
        let mut headers = http::HeaderMap::new();
        assert_eq!(CODES[code_of(&headers)], "OK");
        headers.insert("grpc-status", "3".parse().unwrap());
        assert_eq!(CODES[code_of(&headers)], "INVALID_ARGUMENT");
        headers.insert("grpc-status", "2".parse().unwrap());
        assert_eq!(CODES[code_of(&headers)], "OTHER");
    }
}
