//! How cost grows with the work, each as a curve rather than one point: a working set larger
//! than L1 (Zipf-distributed requests over 100,000 views, several L1 budgets, with and without
//! Redis), start-up with more and more orgs in PostgreSQL, and writes (single entries and a
//! large bundle) on PostgreSQL and SQLite with the propagation they cause.
//!
//! Every service here is the real `mcp-config serve` binary (built beside this one), pinned to
//! the server's core; the generator runs on the other.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::Context;
use plotters::prelude::*;
use serde_json::json;

use crate::{
    load::{self, Shape, Stats},
    scenarios::Latency,
};
use mcp_config_tests::{postgres::Postgres, redis::Redis};

/// The service binary, beside this one (`scripts/bench.sh` builds it).
fn service_binary() -> anyhow::Result<std::path::PathBuf> {
    let bin = std::env::current_exe()?.with_file_name("mcp-config");
    anyhow::ensure!(
        bin.exists(),
        "no service binary at {} (cargo build -p mcp-config)",
        bin.display()
    );
    Ok(bin)
}

/// A running `mcp-config serve`, killed on drop.
pub(crate) struct Spawned {
    child: Child,
    pub(crate) grpc: SocketAddr,
    http: SocketAddr,
}

impl Spawned {
    /// Starts the service and returns once `/readyz` answers 200, with the time that took.
    pub(crate) async fn start(
        database_url: &str,
        redis_url: Option<&str>,
        cache_bytes: u64,
        core: Option<usize>,
    ) -> anyhow::Result<(Self, Duration)> {
        let grpc: SocketAddr = ([127, 0, 0, 1], mcp_config_tests::free_port()).into();
        let http: SocketAddr = ([127, 0, 0, 1], mcp_config_tests::free_port()).into();
        let mut args = vec![
            "serve".to_owned(),
            format!("--database-url={database_url}"),
            format!("--grpc-addr={grpc}"),
            format!("--http-addr={http}"),
            format!("--cache-bytes={cache_bytes}"),
            "--admin-rate-limit=10000000".to_owned(),
        ];
        if let Some(url) = redis_url {
            args.push(format!("--redis-url={url}"));
        }
        let bin = service_binary()?;
        let mut command = match core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let started = Instant::now();
        let child = command
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let spawned = Self { child, grpc, http };
        let http_client = reqwest::Client::new();
        loop {
            let ready = http_client
                .get(format!("http://{http}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ready {
                return Ok((spawned, started.elapsed()));
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(120),
                "the service did not get ready"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    /// The service's counters and gauges by name (labels dropped, summed).
    pub(crate) async fn metrics(&self) -> anyhow::Result<HashMap<String, f64>> {
        let text = reqwest::get(format!("http://{}/metrics", self.http))
            .await?
            .text()
            .await?;
        let mut values = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let name = name.split('{').next().unwrap_or(name).to_owned();
            if let Ok(value) = value.parse::<f64>() {
                *values.entry(name).or_default() += value;
            }
        }
        Ok(values)
    }

    pub(crate) fn admin(&self, path: &str) -> String {
        format!("http://{}/admin/v1{path}", self.http)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `orgs` orgs (`org1`…), each with `prompts` prompts of its own on `server`, inserted with one
/// set-based statement per table: the write path one entry at a time would take far longer than
/// what is measured. Returns the database's URL.
pub async fn seed_orgs(
    database_url: &str,
    orgs: usize,
    prompts: usize,
    server: &str,
) -> anyhow::Result<()> {
    let store = mcp_config::store::Store::connect(database_url, 4).await?;
    store.migrate().await?;
    let pool = sqlx::PgPool::connect(database_url).await?;
    let body = serde_json::to_string(
        &json!({"description": "seeded", "messages": [{"role": "user", "text": "Hello {{ name }}, this is a prompt of realistic length for a benchmark of many orgs."}]}),
    )?;
    sqlx::query("INSERT INTO orgs (slug, name, created_at) SELECT 'org' || g, 'Org ' || g, 0 FROM generate_series(1, $1) g")
        .bind(orgs as i64)
        .execute(&pool)
        .await?;
    for table in ["entries", "entry_versions"] {
        let columns = if table == "entries" {
            "(kind, server, org, key, version, active, deleted, revision, updated_at) SELECT 'PROMPTS', $4, 'org' || o, 'p' || p, 1, TRUE, FALSE, 1, 0"
        } else {
            "(kind, server, org, key, version, body, actor, message, revision, created_at) SELECT 'PROMPTS', $4, 'org' || o, 'p' || p, 1, $3, 'bench', '', 1, 0"
        };
        let sql = format!(
            "INSERT INTO {table} {columns} FROM generate_series(1, $1) o, generate_series(1, $2) p"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(orgs as i64)
            .bind(prompts as i64)
            .bind(&body)
            .bind(server)
            .execute(&pool)
            .await?;
    }
    sqlx::query("ANALYZE").execute(&pool).await?;
    Ok(())
}

/// One run of the working-set scenario.
#[derive(Debug, Clone)]
pub struct ZipfPoint {
    pub budget_mib: u64,
    pub l2: bool,
    /// `None`: every request asks for the same view (the all-hit baseline).
    pub exponent: Option<f64>,
    pub stats: Stats,
    /// Share of requests L1 answered (and of L1's misses that L2 answered).
    pub l1_hit_ratio: f64,
    pub l2_hit_ratio: Option<f64>,
}

const ZIPF_SERVER: &str = "zipf";

/// Requests over `views` views (one org each, ~2 KB encoded: eight prompts of the org's own),
/// Zipf-distributed (s = 1.0 and 1.2), against L1 budgets that hold a fraction of them, with
/// and without Redis as L2; the all-hit baseline (one view) on the same service in each setting.
pub async fn zipf(
    smoke: bool,
    pg: &Postgres,
    redis: &Redis,
    cores: Option<(usize, usize)>,
) -> anyhow::Result<Vec<ZipfPoint>> {
    let (views, budgets, seconds): (usize, &[u64], f64) = if smoke {
        (2_000, &[1], 0.5)
    } else {
        (100_000, &[16, 64, 256], 5.0)
    };
    let database = pg.database();
    seed_orgs(&database, views, 8, ZIPF_SERVER).await?;
    let flush = mcp_config::redis::client(&redis.url())?;
    fred::prelude::ClientLike::wait_for_connect(&flush).await?;
    let mut points = Vec::new();
    for &budget_mib in budgets {
        for l2 in [false, true] {
            fred::prelude::ClientLike::flushall::<()>(&flush, false).await?;
            let (service, _) = Spawned::start(
                &database,
                l2.then(|| redis.url()).as_deref(),
                budget_mib << 20,
                cores.map(|c| c.0),
            )
            .await?;
            // Every view asked for once: what is measured is the budget, not first reads (in a
            // short run most of a Zipf tail is asked for the first time).
            warm(&service, ZIPF_SERVER, views).await?;
            for exponent in [None, Some(1.0), Some(1.2)] {
                let (spread, skew) = match exponent {
                    None => (1, 1.0),
                    Some(s) => (views, s),
                };
                let args = |seconds: f64| -> Vec<String> {
                    let mut args = crate::load_args(&service.grpc.to_string(), "2k", seconds, None);
                    args.extend([
                        "--server".into(),
                        ZIPF_SERVER.into(),
                        "--views".into(),
                        spread.to_string(),
                        "--zipf".into(),
                        skew.to_string(),
                    ]);
                    args
                };
                // A warm-up under this distribution settles what L1 keeps.
                crate::run_json(cores.map(|c| c.1), &args(seconds / 2.0))?;
                let before = service.metrics().await?;
                let stats = crate::run_json(cores.map(|c| c.1), &args(seconds))?;
                let after = service.metrics().await?;
                let delta = |name: &str| {
                    after.get(name).copied().unwrap_or(0.0)
                        - before.get(name).copied().unwrap_or(0.0)
                };
                let (hits, misses) = (
                    delta("mcp_config_l1_hits_total"),
                    delta("mcp_config_l1_misses_total"),
                );
                let l2_hits = delta("mcp_config_l2_hits_total");
                let l2_misses = delta("mcp_config_l2_misses_total")
                    + delta("mcp_config_l2_errors_total")
                    + delta("mcp_config_l2_skipped_total");
                points.push(ZipfPoint {
                    budget_mib,
                    l2,
                    exponent,
                    stats,
                    l1_hit_ratio: hits / (hits + misses).max(1.0),
                    l2_hit_ratio: l2.then(|| l2_hits / (l2_hits + l2_misses).max(1.0)),
                });
            }
        }
    }
    Ok(points)
}

/// Start-up with `orgs` × 100 prompts in PostgreSQL.
#[derive(Debug, Clone)]
pub struct StartupPoint {
    pub orgs: usize,
    pub prompts: usize,
    /// Process start → `/readyz` 200, the median of three starts.
    pub ready: Duration,
    pub rss_idle_kib: u64,
    /// After loading `warmed` views.
    pub rss_warm_kib: u64,
    pub warmed: usize,
}

/// Time to ready and resident memory as the data grows: nothing is loaded eagerly, so start-up
/// should not grow with it.
pub async fn startup(
    smoke: bool,
    pg: &Postgres,
    core: Option<usize>,
) -> anyhow::Result<Vec<StartupPoint>> {
    let (sizes, prompts): (&[usize], usize) = if smoke {
        (&[10, 100], 10)
    } else {
        (&[100, 1_000, 10_000], 100)
    };
    let mut points = Vec::new();
    for &orgs in sizes {
        let database = pg.database();
        seed_orgs(&database, orgs, prompts, "cold").await?;
        let mut starts = Vec::new();
        let mut last = None;
        for _ in 0..3 {
            drop(last.take());
            let (service, ready) = Spawned::start(&database, None, 256 << 20, core).await?;
            starts.push(ready);
            last = Some(service);
        }
        starts.sort();
        let service = last.context("a service ran")?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_idle_kib = service.rss_kib();
        let warmed = orgs.min(10_000);
        warm(&service, "cold", warmed).await?;
        points.push(StartupPoint {
            orgs,
            prompts,
            ready: starts[starts.len() / 2],
            rss_idle_kib,
            rss_warm_kib: service.rss_kib(),
            warmed,
        });
    }
    Ok(points)
}

/// Loads the views of `org1`…`org{count}` of `server`, 16 at a time.
async fn warm(service: &Spawned, server: &str, count: usize) -> anyhow::Result<()> {
    use futures::StreamExt;
    use mcp_config_proto::v1::{GetPromptsRequest, config_service_client::ConfigServiceClient};
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", service.grpc))?
        .connect()
        .await?;
    let client = ConfigServiceClient::new(channel).max_decoding_message_size(64 << 20);
    let results: Vec<_> = futures::stream::iter(1..=count)
        .map(|i| {
            let mut client = client.clone();
            async move {
                client
                    .get_prompts(GetPromptsRequest {
                        org_id: format!("org{i}"),
                        server: server.into(),
                        ..Default::default()
                    })
                    .await
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    anyhow::ensure!(failed == 0, "{failed} of {count} warm-up reads failed");
    Ok(())
}

/// Writes on one store.
#[derive(Debug, Clone)]
pub struct WritePoint {
    pub store: &'static str,
    /// Single-entry writes through the admin API, 8 in flight.
    pub writes: Stats,
    /// A write's acknowledgement → its event on the Redis channel, while those writes ran.
    pub propagation: Latency,
    pub bundle_entries: usize,
    pub bundle: Duration,
}

/// The ceiling of a save on PostgreSQL: the transaction the store runs for one save of a
/// default prompt (next revision, head read, version row, head upsert, change row, whose
/// trigger notifies), run by `pgbench` with the same 8 clients on the same cluster and
/// durability settings, with prepared statements as the store uses, without the service around
/// it.
const SAVE_TRANSACTION: &str = r#"\set k random(0, 999)
BEGIN;
UPDATE counters SET value = value + 1 WHERE name = 'revision' RETURNING value AS revision \gset
SELECT coalesce((SELECT version FROM entries WHERE kind = 'PROMPTS' AND server = 'pgbench' AND org = '' AND key = 'k' || :k), 0) + 1 AS version \gset
INSERT INTO entry_versions (kind, server, org, key, version, body, actor, message, revision, created_at) VALUES ('PROMPTS', 'pgbench', '', 'k' || :k, :version, '{"messages":[{"role":"user","text":"write"}]}', 'bench', '', :revision, 0);
INSERT INTO entries (kind, server, org, key, version, active, deleted, revision, updated_at) VALUES ('PROMPTS', 'pgbench', '', 'k' || :k, :version, TRUE, FALSE, :revision, 0) ON CONFLICT (kind, server, org, key) DO UPDATE SET version = excluded.version, active = excluded.active, deleted = excluded.deleted, revision = excluded.revision, updated_at = excluded.updated_at;
INSERT INTO changes (revision, org, server, kind, keys, action, actor, created_at, published) VALUES (:revision, '', 'pgbench', 'PROMPTS', '["k"]', 'update', 'bench', 0, FALSE);
COMMIT;
"#;

/// Saves per second `pgbench` gets from [`SAVE_TRANSACTION`] on `database` (migrated).
fn save_ceiling(pg: &Postgres, database: &str, seconds: f64) -> anyhow::Result<f64> {
    let script = tempfile::NamedTempFile::new()?;
    std::fs::write(script.path(), SAVE_TRANSACTION)?;
    let seconds = seconds.ceil().max(1.0).to_string();
    let file = script.path().display().to_string();
    let report = pg.pgbench(
        database,
        &[
            "-n", "-M", "prepared", "-c", "8", "-j", "2", "-T", &seconds, "-f", &file,
        ],
    );
    report
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .with_context(|| format!("no tps in pgbench's report: {report}"))
}

/// The writes of each store, and the PostgreSQL save's ceiling ([`save_ceiling`]).
pub async fn writes(
    smoke: bool,
    pg: &Postgres,
    redis: &Redis,
    cores: Option<(usize, usize)>,
) -> anyhow::Result<(Vec<WritePoint>, f64)> {
    let (seconds, bundle_entries) = if smoke { (0.5, 200) } else { (5.0, 10_000) };
    let sqlite = format!(
        "sqlite://{}/bench-writes.db",
        std::env::temp_dir().display()
    );
    let _ = std::fs::remove_file(sqlite.trim_start_matches("sqlite://"));
    let mut points = Vec::new();
    let flush = mcp_config::redis::client(&redis.url())?;
    fred::prelude::ClientLike::wait_for_connect(&flush).await?;
    let pg_database = pg.database();
    for (store, database) in [("PostgreSQL", pg_database.clone()), ("SQLite", sqlite)] {
        // Each store's revisions start at 1: the last one's fences are not this one's.
        fred::prelude::ClientLike::flushall::<()>(&flush, false).await?;
        let (service, _) =
            Spawned::start(&database, Some(&redis.url()), 64 << 20, cores.map(|c| c.0)).await?;
        let received = subscribe(&redis.url()).await?;
        let acked: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
        let http = reqwest::Client::new();
        let url = Arc::new(service.admin("/defaults/servers/writes/prompts"));
        let log = acked.clone();
        let writes = load::drive(
            Shape {
                concurrency: 8,
                duration: Duration::from_secs_f64(seconds),
                rate: None,
            },
            move |n| {
                let (http, url, log) = (http.clone(), url.clone(), log.clone());
                async move {
                    let body = json!({"content": {"messages": [{"role": "user", "text": format!("write {n}")}]}});
                    let response = http
                        .put(format!("{url}/k{}", n % 1000))
                        .json(&body)
                        .send()
                        .await
                        .map_err(|_| ())?;
                    let answer: serde_json::Value = response.json().await.map_err(|_| ())?;
                    let revision = answer["change"]["revision"].as_u64().ok_or(())?;
                    log.lock().expect("acks").push((revision, Instant::now()));
                    Ok(0)
                }
            },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let mut h = load::histogram();
        {
            let received = received.lock().expect("receipts");
            for (revision, acked_at) in acked.lock().expect("acks").iter() {
                if let Some(at) = received.get(revision) {
                    let _ =
                        h.record(at.saturating_duration_since(*acked_at).as_nanos().max(1) as u64);
                }
            }
        }
        let bundle = bulk_bundle(bundle_entries);
        let started = Instant::now();
        let response = reqwest::Client::new()
            .post(service.admin("/bundle"))
            .header("content-type", "application/json")
            .body(bundle)
            .timeout(Duration::from_secs(600))
            .send()
            .await?;
        anyhow::ensure!(
            response.status().is_success(),
            "the bundle import failed: {}",
            response.text().await?
        );
        points.push(WritePoint {
            store,
            writes,
            propagation: Latency::of(&h),
            bundle_entries,
            bundle: started.elapsed(),
        });
    }
    // After the services are gone: the ceiling has the cluster to itself.
    let ceiling = save_ceiling(pg, &pg_database, seconds)?;
    Ok((points, ceiling))
}

/// A bundle of `entries` default prompts of one server, as JSON.
fn bulk_bundle(entries: usize) -> String {
    let prompts: serde_json::Map<String, serde_json::Value> = (0..entries)
        .map(|i| {
            (
                format!("bulk-{i}"),
                json!({"description": "imported", "messages": [{"role": "user", "text": format!("Prompt {i}: {{{{ topic }}}}")}]}),
            )
        })
        .collect();
    json!({"defaults": {"bulk": {"prompts": prompts}}}).to_string()
}

/// Every revision heard on the global channel, with when.
async fn subscribe(url: &str) -> anyhow::Result<Arc<Mutex<HashMap<u64, Instant>>>> {
    use fred::prelude::{ClientLike, EventInterface, PubsubInterface};
    let client = fred::prelude::Builder::from_config(fred::prelude::Config::from_url(url)?)
        .build_subscriber_client()?;
    client.init().await?;
    let received: Arc<Mutex<HashMap<u64, Instant>>> = Arc::default();
    let mut messages = client.message_rx();
    client.subscribe("mcp-config:invalidations").await?;
    let sink = received.clone();
    tokio::spawn(async move {
        let _client = client;
        while let Ok(message) = messages.recv().await {
            let at = Instant::now();
            let text: String = message.value.convert().unwrap_or_default();
            if let Ok(event) = mcp_config_proto::v1::InvalidationEvent::from_json(&text)
                && !event.server.is_empty()
            {
                sink.lock().expect("receipts").insert(event.revision, at);
            }
        }
    });
    Ok(received)
}

/// Throughput relative to the all-hit baseline of the same setting, against the L1 budget.
pub fn plot_zipf(points: &[ZipfPoint], path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let budgets: Vec<u64> = {
        let mut b: Vec<u64> = points.iter().map(|p| p.budget_mib).collect();
        b.dedup();
        b
    };
    let (low, high) = (
        *budgets.first().context("a budget")? as f64,
        *budgets.last().context("a budget")? as f64,
    );
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Zipf over the working set: throughput vs the all-hit baseline",
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d((low * 0.8..high * 1.25).log_scale(), 0.0..1.1)?;
    chart
        .configure_mesh()
        .x_desc("L1 budget (MiB, log scale)")
        .y_desc("× all-hit throughput")
        .draw()?;
    let series = [
        (Some(1.0), false, "s = 1.0, no L2", RED),
        (Some(1.2), false, "s = 1.2, no L2", BLUE),
        (Some(1.0), true, "s = 1.0, Redis L2", MAGENTA),
        (Some(1.2), true, "s = 1.2, Redis L2", CYAN),
    ];
    for (exponent, l2, label, color) in series {
        let line: Vec<(f64, f64)> = budgets
            .iter()
            .filter_map(|&budget| {
                let at = |e: Option<f64>| {
                    points
                        .iter()
                        .find(|p| p.budget_mib == budget && p.l2 == l2 && p.exponent == e)
                };
                Some((
                    budget as f64,
                    at(exponent)?.stats.rps / at(None)?.stats.rps.max(1.0),
                ))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
        chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()?;
    root.present()?;
    Ok(())
}

/// Time to ready and resident memory against the number of orgs in the database.
pub fn plot_startup(points: &[StartupPoint], path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (720, 420)).into_drawing_area();
    root.fill(&WHITE)?;
    let most = points.iter().map(|p| p.orgs).max().context("a point")? as f64;
    let fewest = points.iter().map(|p| p.orgs).min().context("a point")? as f64;
    let highest_ms = points
        .iter()
        .map(|p| p.ready.as_secs_f64() * 1e3)
        .fold(10.0, f64::max);
    let mut chart = ChartBuilder::on(&root)
        .caption("Start-up: process start → ready", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(
            (fewest * 0.8..most * 1.25).log_scale(),
            0.0..highest_ms * 1.3,
        )?;
    chart
        .configure_mesh()
        .x_desc(format!(
            "orgs in PostgreSQL, × {} prompts each (log scale)",
            points[0].prompts
        ))
        .y_desc("ms to ready")
        .draw()?;
    let line: Vec<(f64, f64)> = points
        .iter()
        .map(|p| (p.orgs as f64, p.ready.as_secs_f64() * 1e3))
        .collect();
    chart.draw_series(LineSeries::new(line.clone(), BLUE.stroke_width(2)))?;
    chart.draw_series(line.into_iter().map(|p| Circle::new(p, 3, BLUE.filled())))?;
    root.present()?;
    Ok(())
}
