//! Scenarios measured in-process: stampede, propagation, cold loads, L1 memory.

use std::{
    io::Write,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use anyhow::Context;
use fred::prelude::{ClientLike, EventInterface, PubsubInterface};
use futures::StreamExt;
use mcp_config::{
    cache::ViewCache,
    domain::{Kind, Label, Labels, Scope, Slug, ViewKey},
    edits::Editor,
    store::Store,
    views::load_from_store,
};
use mcp_config_proto::v1::{
    GetPromptsRequest, InvalidationEvent, Kind as EventKind, WatchRequest,
    config_service_client::ConfigServiceClient,
};
use mcp_config_tests::service::{Service, settings};
use serde::Serialize;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    sync::mpsc,
};

use crate::{fixture, load::histogram};

#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub(crate) fn of(h: &hdrhistogram::Histogram<u64>) -> Self {
        let ms = |ns: u64| ns as f64 / 1e6;
        Self {
            samples: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// Write → receipt latencies, from two instants: when the write request was sent (includes the
/// write itself: HTTP, transaction, commit) and when it committed ([`CommitClock`]).
#[derive(Debug, Clone, Default)]
pub struct Propagation {
    pub from_request: Latency,
    pub from_commit: Latency,
}

/// When each revision committed, by PostgreSQL's own clock: the commit timestamp of the
/// transaction that wrote its version row (`track_commit_timestamp`, on in the harness's
/// clusters; not its `changes` row, which the relay updates when it marks it published), on the machine's wall clock that the subscribers' receipts use too. Neither the
/// write's acknowledgment (the relay often has the event out before it reaches the writer) nor
/// a `LISTEN` of the benchmark's own (delivered as late as its process gets the CPU) is a
/// measure of the commit.
struct CommitClock {
    db: sqlx::PgPool,
}

impl CommitClock {
    async fn start(database_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            db: sqlx::PgPool::connect(database_url).await?,
        })
    }

    /// When `revision` committed.
    async fn committed(&mut self, revision: u64) -> anyhow::Result<SystemTime> {
        let seconds: f64 = sqlx::query_scalar(
            "SELECT EXTRACT(EPOCH FROM pg_xact_commit_timestamp(xmin))::float8 \
             FROM entry_versions WHERE revision = $1 LIMIT 1",
        )
        .bind(revision as i64)
        .fetch_one(&self.db)
        .await
        .with_context(|| format!("the commit timestamp of revision {revision}"))?;
        Ok(UNIX_EPOCH + Duration::from_secs_f64(seconds))
    }
}

/// `requests` concurrent `GetPrompts` on one cold key: how many store loads they caused.
pub async fn stampede(database_url: &str, requests: usize) -> anyhow::Result<(u64, usize)> {
    let app = mcp_config::app::App::build(&settings(database_url, None)).await?;
    fixture::import(app.editor()).await?;
    let addr = app.grpc_addr();
    let loads_before = app.views().cache().loads();
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(ConfigServiceClient::connect(format!("http://{addr}")).await?);
    }
    let request = GetPromptsRequest {
        org_id: fixture::ORG.into(),
        server: fixture::server_of("100k"),
        ..Default::default()
    };
    let calls = (0..requests).map(|i| {
        let mut client = clients[i % clients.len()].clone();
        let request = request.clone();
        async move { client.get_prompts(request).await.is_ok() }
    });
    let ok = futures::future::join_all(calls)
        .await
        .into_iter()
        .filter(|ok| *ok)
        .count();
    let loads = app.views().cache().loads() - loads_before;
    app.shutdown_token().cancel();
    Ok((loads, ok))
}

/// The service's settings, without the admin rate limit (a propagation run writes hundreds of
/// times in a few seconds) and with the per-peer connection cap at the listener's (its
/// subscribers, up to 1,000, all connect from loopback).
fn writer_settings(database_url: &str, redis_url: Option<&str>) -> mcp_config::config::Settings {
    let mut settings = settings(database_url, redis_url);
    settings.http.admin_rate_limit = 1_000_000;
    settings.connections.max_connections_per_peer = settings.connections.max_connections;
    settings
}

/// Admin write → event received by each of `subscribers` Watch streams; `rounds` writes.
pub async fn propagation_watch(
    database_url: &str,
    subscribers: usize,
    rounds: usize,
) -> anyhow::Result<Propagation> {
    let service = Service::start(writer_settings(database_url, None)).await;
    service
        .import(&fixture::bundle().to_text(mcp_config::bundle::Format::Yaml))
        .await;
    let (sender, mut received) = mpsc::unbounded_channel::<(u64, SystemTime)>();
    let mut streams = Vec::new();
    for _ in 0..subscribers {
        let mut client =
            ConfigServiceClient::connect(format!("http://{}", service.grpc_addr)).await?;
        let stream = client.watch(WatchRequest::default()).await?.into_inner();
        streams.push(stream);
    }
    for mut stream in streams {
        let sender = sender.clone();
        tokio::spawn(async move {
            while let Some(Ok(event)) = stream.next().await {
                let _ = sender.send((event.revision, SystemTime::now()));
            }
        });
    }
    let mut commits = CommitClock::start(database_url).await?;
    measure_writes(&service, subscribers, rounds, &mut received, &mut commits).await
}

/// Admin write → event received by each of `subscribers` Redis subscribers (through the relay).
pub async fn propagation_redis(
    database_url: &str,
    redis_url: &str,
    subscribers: usize,
    rounds: usize,
    core: Option<usize>,
) -> anyhow::Result<Propagation> {
    let service = Service::start(writer_settings(database_url, Some(redis_url))).await;
    service
        .import(&fixture::bundle().to_text(mcp_config::bundle::Format::Yaml))
        .await;
    let (_subscribers, mut received) =
        subscribe_raw(redis_url, subscribers, &[GLOBAL_CHANNEL.to_owned()], core).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Drain what the import published.
    while received.try_recv().is_ok() {}
    let mut commits = CommitClock::start(database_url).await?;
    measure_writes(&service, subscribers, rounds, &mut received, &mut commits).await
}

/// Raw `PUBLISH` → receive by each of `subscribers`: the transport floor.
pub async fn raw_publish(
    redis_url: &str,
    subscribers: usize,
    rounds: usize,
    core: Option<usize>,
) -> anyhow::Result<Latency> {
    let (_subscribers, mut received) =
        subscribe_raw(redis_url, subscribers, &[GLOBAL_CHANNEL.to_owned()], core).await?;
    let publisher =
        fred::prelude::Builder::from_config(fred::prelude::Config::from_url(redis_url)?).build()?;
    publisher.init().await?;
    let mut h = histogram();
    for round in 1..=rounds as u64 {
        // The same bytes the relay publishes for a write of the propagation scenarios.
        let event = InvalidationEvent {
            revision: round,
            previous_revision: round - 1,
            org_id: fixture::ORG.into(),
            server: fixture::server_of("2k"),
            kind: EventKind::Prompts as i32,
            keys: vec!["probe".into()],
            labels: vec!["latest".into(), "production".into()],
            orgs: vec![],
        };
        let payload = event.to_json();
        let start = SystemTime::now();
        let _: i64 = publisher
            .publish("mcp-config:invalidations", payload)
            .await?;
        for at in collect(&mut received, round, subscribers).await {
            let _ = h.record(since(start, at));
        }
    }
    Ok(Latency::of(&h))
}

const GLOBAL_CHANNEL: &str = "mcp-config:invalidations";
/// Servers a fleet is spread over in the fan-out scenario.
pub const FANOUT_SERVERS: usize = 20;

/// What one fleet size measured: each event to the subscribers that want it, through the
/// global channel (every subscriber gets every event) and through per-server channels (each
/// subscriber follows its server's only).
pub struct Fanout {
    pub subscribers: usize,
    pub global: Latency,
    pub per_server: Latency,
    /// Messages Redis delivered per event, each way.
    pub global_deliveries: f64,
    pub per_server_deliveries: f64,
}

/// `subscribers` spread over [`FANOUT_SERVERS`] servers; `rounds` events, one server's each
/// in turn, published as the relay publishes (global and the server's channel, one script);
/// latency from the publish to each receipt by a subscriber of that server.
pub async fn fanout(
    redis_url: &str,
    subscribers: usize,
    rounds: usize,
    core: Option<usize>,
) -> anyhow::Result<Fanout> {
    let servers: Vec<String> = (0..FANOUT_SERVERS)
        .map(|i| format!("fleet-{i:02}"))
        .collect();
    let client = mcp_config::redis::client(redis_url)?;
    client.wait_for_connect().await?;
    let publisher = mcp_config::propagation::publisher::RedisPublisher::new(
        client,
        mcp_config::redis::RedisSettings {
            channel: GLOBAL_CHANNEL.into(),
            l2_ttl: Duration::from_secs(60),
            l2_timeout: Duration::from_millis(50),
        },
    );
    let server_channels: Vec<String> = servers
        .iter()
        .map(|s| mcp_config::redis::server_channel(GLOBAL_CHANNEL, s))
        .collect();
    let mut results = Vec::new();
    let mut revision = 0;
    for channels in [vec![GLOBAL_CHANNEL.to_owned()], server_channels] {
        let (_fleet, mut received) = subscribe_raw(redis_url, subscribers, &channels, core).await?;
        let (mut h, mut delivered) = (histogram(), 0usize);
        for round in 0..rounds {
            revision += 1;
            let server = round % FANOUT_SERVERS;
            // Subscriber i follows channel i mod n: with per-server channels, the server's
            // share of the fleet; with the global one, all of it.
            let expected = if channels.len() == 1 {
                subscribers
            } else {
                (0..subscribers)
                    .filter(|i| i % FANOUT_SERVERS == server)
                    .count()
            };
            let event = mcp_config::propagation::ChangeEvent {
                revision,
                previous_revision: revision - 1,
                scope: Scope::Org(Slug::parse("org", fixture::ORG)?),
                server: Slug::parse("server", &servers[server])?,
                kind: Kind::Prompts,
                keys: vec!["probe".into()],
                labels: Labels::Only(vec![Label::Latest, Label::Production]),
                orgs: Vec::new(),
            };
            let start = SystemTime::now();
            publisher.publish(&event, revision - 1).await?;
            let arrivals = collect(&mut received, revision, expected).await;
            delivered += arrivals.len();
            for at in arrivals {
                let _ = h.record(since(start, at));
            }
        }
        results.push((Latency::of(&h), delivered as f64 / rounds as f64));
    }
    let (per_server, per_server_deliveries) = results.pop().expect("two runs");
    let (global, global_deliveries) = results.pop().expect("two runs");
    Ok(Fanout {
        subscribers,
        global,
        per_server,
        global_deliveries,
        per_server_deliveries,
    })
}

/// The revision of an event as published (proto3 JSON); 0 if it is not one.
fn revision_of(payload: &str) -> u64 {
    InvalidationEvent::from_json(payload).map_or(0, |event| event.revision)
}

/// `subscribers` Redis subscribers in a process of their own (`mcp-config-bench subscribe`,
/// pinned to `core`), so that fanning an event out to a fleet does not compete for CPU with the
/// service and its relay in this process. Receipts arrive as (revision, wall-clock time).
async fn subscribe_raw(
    url: &str,
    subscribers: usize,
    channels: &[String],
    core: Option<usize>,
) -> anyhow::Result<(
    tokio::process::Child,
    mpsc::UnboundedReceiver<(u64, SystemTime)>,
)> {
    let args = [
        "subscribe".to_owned(),
        "--url".to_owned(),
        url.to_owned(),
        "--subscribers".to_owned(),
        subscribers.to_string(),
        "--channels".to_owned(),
        channels.join(","),
    ];
    let mut child = tokio::process::Command::from(crate::command(core, &args)?)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().context("the subscribers' stdout")?).lines();
    anyhow::ensure!(
        lines.next_line().await?.as_deref() == Some("ready"),
        "the subscribers did not start"
    );
    let (sender, received) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let mut fields = line
                .split_whitespace()
                .map(|f| f.parse::<u64>().unwrap_or(0));
            let (revision, nanos) = (fields.next().unwrap_or(0), fields.next().unwrap_or(0));
            let _ = sender.send((revision, UNIX_EPOCH + Duration::from_nanos(nanos)));
        }
    });
    Ok((child, received))
}

/// The `subscribe` command: `subscribers` connections on the channel; prints `ready`, then one
/// `revision unix-nanos` line per message received.
pub async fn serve_subscribers(
    url: &str,
    subscribers: usize,
    channels: &[String],
) -> anyhow::Result<()> {
    let (sender, mut receipts) = mpsc::unbounded_channel::<(u64, SystemTime)>();
    let mut clients = Vec::with_capacity(subscribers);
    for i in 0..subscribers {
        let client = fred::prelude::Builder::from_config(fred::prelude::Config::from_url(url)?)
            .build_subscriber_client()?;
        client.init().await?;
        let mut rx = client.message_rx();
        let sender = sender.clone();
        tokio::spawn(async move {
            while let Ok(message) = rx.recv().await {
                let at = SystemTime::now();
                let text: String = message.value.convert().unwrap_or_default();
                let _ = sender.send((revision_of(&text), at));
            }
        });
        client
            .subscribe(channels[i % channels.len()].as_str())
            .await?;
        clients.push(client);
    }
    // The receipt times are taken before this: a slow write delays the report, not the figure.
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready")?;
    out.flush()?;
    while let Some((revision, at)) = receipts.recv().await {
        let nanos = at.duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        writeln!(out, "{revision} {nanos}")?;
        out.flush()?;
    }
    Ok(())
}

/// Nanoseconds from `start` to `at`; 0 when `at` came first.
pub(crate) fn since(start: SystemTime, at: SystemTime) -> u64 {
    at.duration_since(start).unwrap_or_default().as_nanos() as u64
}

async fn measure_writes(
    service: &Service,
    subscribers: usize,
    rounds: usize,
    received: &mut mpsc::UnboundedReceiver<(u64, SystemTime)>,
    commits: &mut CommitClock,
) -> anyhow::Result<Propagation> {
    let http = reqwest::Client::new();
    let url = service.admin(&format!(
        "/orgs/{}/servers/{}/prompts/probe",
        fixture::ORG,
        fixture::server_of("2k")
    ));
    let (mut from_request, mut from_commit) = (histogram(), histogram());
    for round in 0..rounds {
        let start = SystemTime::now();
        let revision = fixture::write_probe(&http, &url, round).await?;
        let committed = commits.committed(revision).await?;
        for at in collect(received, revision, subscribers).await {
            let _ = from_request.record(since(start, at));
            let _ = from_commit.record(since(committed, at));
        }
    }
    Ok(Propagation {
        from_request: Latency::of(&from_request),
        from_commit: Latency::of(&from_commit),
    })
}

/// Waits (at most 10 s) for `subscribers` receipts of `revision`; returns when each arrived.
pub(crate) async fn collect(
    received: &mut mpsc::UnboundedReceiver<(u64, SystemTime)>,
    revision: u64,
    subscribers: usize,
) -> Vec<SystemTime> {
    let mut arrivals = Vec::with_capacity(subscribers);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while arrivals.len() < subscribers {
        match tokio::time::timeout_at(deadline, received.recv()).await {
            Ok(Some((r, at))) if r == revision => arrivals.push(at),
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    arrivals
}

/// The view's query as it was before release labels: the head rows of the defaults and the
/// org, and the snapshot revision. The baseline of [`ColdLoads::before_labels`].
const PRE_LABEL_QUERY: &str = "SELECT c.value, e.org, e.key, e.active, e.deleted, e.revision, v.body \
     FROM counters c \
     LEFT JOIN entries e ON e.kind = $1 AND e.server = $2 AND e.org IN ('', $3) \
     LEFT JOIN entry_versions v ON v.kind = e.kind AND v.server = e.server \
       AND v.org = e.org AND v.key = e.key AND v.version = e.version \
     WHERE c.name = 'revision'";

/// Cold loads of production views, and the same loads through the query before labels.
#[derive(Debug, Clone)]
pub struct ColdLoads {
    pub production: Latency,
    pub before_labels: Latency,
}

/// One view loaded, merged and encoded through [`PRE_LABEL_QUERY`].
async fn load_before_labels(pool: &sqlx::PgPool, key: &ViewKey) -> anyhow::Result<usize> {
    type Row = (
        i64,
        Option<String>,
        Option<String>,
        Option<bool>,
        Option<bool>,
        Option<i64>,
        Option<String>,
    );
    let rows: Vec<Row> = sqlx::query_as(PRE_LABEL_QUERY)
        .bind(key.kind.as_str())
        .bind(key.server.as_str())
        .bind(key.scope.as_str())
        .fetch_all(pool)
        .await?;
    let rows = rows
        .into_iter()
        .filter_map(|(_, org, key, active, deleted, revision, body)| {
            Some(mcp_config::store::ViewRow {
                org: Scope::parse_optional("org", &org?).ok()?,
                key: key?,
                active: active?,
                deleted: deleted?,
                revision: revision? as u64,
                body,
            })
        })
        .collect();
    Ok(mcp_config::views::merge_and_encode(key.kind, rows, false)?.len())
}

/// Cold loads (no cache) of `sample` orgs' views out of `orgs` × `prompts` entries in
/// PostgreSQL ([`crate::growth::seed_orgs`]), at production through the service's query, and
/// each also through the query before labels (alternating which goes first), so the cost of
/// labels on the store path is a ratio of the same run.
pub async fn cold_loads(
    database_url: &str,
    orgs: usize,
    prompts: usize,
    sample: usize,
) -> anyhow::Result<ColdLoads> {
    crate::growth::seed_orgs(database_url, orgs, prompts, "cold").await?;
    let store = Store::connect(database_url, 4).await?;
    let pool = store
        .postgres()
        .context("cold loads run on PostgreSQL")?
        .clone();
    let (mut labeled, mut before) = (histogram(), histogram());
    let server = Slug::parse("server", "cold")?;
    for i in 0..sample {
        let org = format!("org{}", 1 + (i * 7919) % orgs);
        let key = ViewKey {
            kind: Kind::Prompts,
            scope: Scope::Org(Slug::parse("org", &org)?),
            server: server.clone(),
            label: Label::Production,
        };
        for turn in 0..2 {
            let start = Instant::now();
            if (i + turn) % 2 == 0 {
                let (view, _) = load_from_store(&store, &key).await?;
                let _ = labeled.record(start.elapsed().as_nanos() as u64);
                anyhow::ensure!(view.len() == prompts, "{org} has {} prompts", view.len());
            } else {
                let len = load_before_labels(&pool, &key).await?;
                let _ = before.record(start.elapsed().as_nanos() as u64);
                anyhow::ensure!(len == prompts, "{org} has {len} prompts before labels");
            }
        }
    }
    Ok(ColdLoads {
        production: Latency::of(&labeled),
        before_labels: Latency::of(&before),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub orgs: usize,
    pub budget_bytes: u64,
    pub weighted_bytes: u64,
    pub entries_kept: u64,
    pub rss_growth_bytes: u64,
}

fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u64>().ok())
        })
        .map_or(0, |pages| pages * 4096)
}

/// Fills an L1 of `budget` bytes with `orgs` distinct ~2 KB views.
pub async fn l1_memory(orgs: usize, budget: u64) -> anyhow::Result<Memory> {
    let before = rss_bytes();
    let cache = ViewCache::new(budget, Duration::from_secs(300));
    let template = fixture::encoded("2k", 1);
    let server = Slug::parse("server", "s2k")?;
    for i in 0..orgs {
        let key = ViewKey {
            kind: Kind::Prompts,
            scope: Scope::Org(Slug::parse("org", &format!("org{i}"))?),
            server: server.clone(),
            label: Label::Production,
        };
        let view = mcp_config::wire::EncodedView::from_body(bytes::Bytes::copy_from_slice(
            &template.full().0,
        ))?;
        cache
            .get_or_load(&key, || async move { Ok(view) })
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let weighted = cache.weighted_size().await;
    Ok(Memory {
        orgs,
        budget_bytes: budget,
        weighted_bytes: weighted,
        entries_kept: cache.entry_count(),
        rss_growth_bytes: rss_bytes().saturating_sub(before),
    })
}

/// A miss path timed whole, and the same work timed part by part (p50s, ms).
#[derive(Debug, Clone, Default)]
pub struct MissPath {
    pub whole: Latency,
    pub parts: Latency,
}

/// The two L1 miss paths of a 2 KB view against the sum of their parts, `rounds` times each:
/// served from L2 (GET + decode + L1 insert) and loaded from the store (L2 GET that misses +
/// query, merge and encode + the fenced L2 SET + L1 insert).
pub async fn miss_paths(
    database_url: &str,
    redis_url: &str,
    rounds: usize,
) -> anyhow::Result<(MissPath, MissPath)> {
    use mcp_config::{
        domain::Invalidation,
        redis::{L2, RedisSettings},
        views::Views,
        wire::EncodedView,
    };

    let store = Store::connect(database_url, 4).await?;
    store.migrate().await?;
    fixture::import(&Editor::new(
        store.clone(),
        mcp_config::propagation::relay::RelayHandle::default(),
        mcp_config_tests::service::renderer(),
    ))
    .await?;
    let client = mcp_config::redis::client(redis_url)?;
    client.wait_for_connect().await?;
    let l2_under = |channel: String| {
        L2::new(
            client.clone(),
            RedisSettings {
                channel,
                l2_ttl: Duration::from_secs(300),
                l2_timeout: Duration::from_millis(50),
            },
        )
    };
    let cache = ViewCache::new(64 << 20, Duration::from_secs(300));
    let key = ViewKey {
        kind: Kind::Prompts,
        scope: Scope::Org(Slug::parse("org", fixture::ORG)?),
        server: Slug::parse("server", &fixture::server_of("2k"))?,
        label: Label::Production,
    };
    let only_this_view = Invalidation::Scope {
        kind: key.kind,
        scope: key.scope.clone(),
        server: key.server.clone(),
        labels: Labels::Only(vec![Label::Production]),
    };
    let forget = || cache.invalidate(&only_this_view);
    let elapsed = |start: Instant| start.elapsed().as_nanos() as u64;
    let fail = |e: std::sync::Arc<mcp_config::error::Error>| anyhow::anyhow!("{e}");

    // From L2: one L2 that stays filled.
    let filled = l2_under("bench:miss:l2".into());
    let views = Views::new(
        store.clone(),
        cache.clone(),
        Some(filled.clone()),
        mcp_config_tests::service::renderer(),
    );
    views.view(&key).await?;
    let (mut whole, mut parts) = (histogram(), histogram());
    for _ in 0..rounds {
        forget().await;
        let start = Instant::now();
        views.view(&key).await?;
        let _ = whole.record(elapsed(start));

        forget().await;
        let start = Instant::now();
        let body = filled.get(&key).await?.context("the view is in L2")?;
        let view = EncodedView::from_body(body)?;
        cache
            .get_or_load(&key, || async { Ok(view) })
            .await
            .map_err(fail)?;
        let _ = parts.record(elapsed(start));
    }
    let from_l2 = MissPath {
        whole: Latency::of(&whole),
        parts: Latency::of(&parts),
    };

    // From the store: a fresh L2 namespace each round, so its GET misses and its SET stores.
    let (mut whole, mut parts) = (histogram(), histogram());
    for round in 0..rounds {
        forget().await;
        let empty = l2_under(format!("bench:miss:store:{round}:whole"));
        let views = Views::new(
            store.clone(),
            cache.clone(),
            Some(empty),
            mcp_config_tests::service::renderer(),
        );
        let start = Instant::now();
        views.view(&key).await?;
        let _ = whole.record(elapsed(start));

        forget().await;
        let empty = l2_under(format!("bench:miss:store:{round}:parts"));
        let start = Instant::now();
        anyhow::ensure!(empty.get(&key).await?.is_none(), "a fresh L2 namespace");
        let (view, snapshot) = load_from_store(&store, &key).await?;
        empty.put(&key, view.full().0, snapshot).await?;
        cache
            .get_or_load(&key, || async { Ok(view) })
            .await
            .map_err(fail)?;
        let _ = parts.record(elapsed(start));
    }
    let from_store = MissPath {
        whole: Latency::of(&whole),
        parts: Latency::of(&parts),
    };
    Ok((from_l2, from_store))
}
