//! `mcp-config-bench`: the load generator, the baseline servers, and `all`, which runs every
//! scenario side by side with its baselines and writes `docs/BENCHMARKS.md`.
//!
//! Servers and the generator run as separate processes pinned to separate cores (`taskset`)
//! when the machine has it, since on 2 cores an unpinned generator steals the server's CPU.

mod clients;
mod fixture;
mod gateway;
mod growth;
mod load;
mod mcp;
mod mcp_server;
mod renders;
mod report;
mod scenarios;
mod targets;
mod ui;
mod watchers;

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::Context;
use clap::{Parser, Subcommand};
use load::{Shape, Stats};
use mcp_config_tests::{postgres::Postgres, redis::Redis};
use targets::Target;

/// The allocator `mcp-config serve` runs with, so every target here runs with it too.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mcp-config-bench",
    about = "Benchmarks of mcp-config against its baselines"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve one target until killed (prints `ready` once it listens).
    Serve {
        #[arg(long, value_enum)]
        target: Target,
        #[arg(long)]
        addr: SocketAddr,
        #[arg(long, default_value = "sqlite::memory:")]
        database_url: String,
        #[arg(long, default_value = "2k")]
        size: String,
    },
    /// Drive `GetPrompts` against a target; prints the stats as JSON.
    Load {
        #[arg(long)]
        addr: String,
        #[arg(long, default_value = "2k")]
        size: String,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 4)]
        connections: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Offered requests per second; unset = as fast as the target answers.
        #[arg(long)]
        rate: Option<f64>,
        /// The server whose views are asked for (default: the size's fixture server).
        #[arg(long)]
        server: Option<String>,
        /// Ask for `org1` … `org{views}`, Zipf-distributed with `--zipf` as exponent.
        #[arg(long, requires = "zipf")]
        views: Option<usize>,
        #[arg(long)]
        zipf: Option<f64>,
    },
    /// Drive Redis `GET` of the same bytes; prints the stats as JSON.
    RedisGet {
        #[arg(long)]
        url: String,
        #[arg(long, default_value = "2k")]
        size: String,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 4)]
        connections: usize,
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
    },
    /// Subscribe to the invalidation channel; prints `ready`, then `revision unix-nanos` per
    /// message received (the propagation scenarios run their subscribers this way).
    Subscribe {
        #[arg(long)]
        url: String,
        #[arg(long, default_value_t = 1)]
        subscribers: usize,
        /// The channels, one per subscriber in turn (subscriber i follows channel i mod n).
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "mcp-config:invalidations"
        )]
        channels: Vec<String>,
    },
    /// Write → event at each of N watch streams of a server run as a process (etcd or
    /// mcp-config; `scripts/bench-peers.sh` runs both); prints the latency as JSON.
    Watchers {
        #[arg(long, value_enum)]
        peer: watchers::Peer,
        /// The server's gRPC address.
        #[arg(long)]
        grpc: String,
        /// mcp-config's HTTP base URL, where the writes go (unused for etcd).
        #[arg(long, default_value = "")]
        admin: String,
        #[arg(long, default_value_t = 1)]
        watchers: usize,
        #[arg(long, default_value_t = 100)]
        rounds: usize,
    },
    /// Every scenario and baseline; writes the report.
    All {
        /// A CI-sized run: seconds, not minutes. Its figures mean nothing.
        #[arg(long)]
        smoke: bool,
        #[arg(long, default_value = "docs/BENCHMARKS.md")]
        out: PathBuf,
        /// Only these scenarios (for profiling one); the report then lists only them.
        #[arg(long, value_enum, value_delimiter = ',')]
        only: Vec<Scenario>,
    },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Throughput,
    Stampede,
    Propagation,
    Cold,
    Miss,
    Memory,
    Mcp,
    Ui,
    Fanout,
    Clients,
    Zipf,
    Startup,
    Writes,
    /// `prompts/list` through the example MCP server, on mcp-config vs hard-coded.
    McpServer,
    /// One org's reads while another renders hostile templates, against the same reads idle.
    Renders,
    /// A tool call through the gateway against the same call straight to the upstream.
    Gateway,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Cmd::Serve {
            target,
            addr,
            database_url,
            size,
        } => targets::serve(target, addr, &database_url, &size).await,
        Cmd::Load {
            addr,
            size,
            concurrency,
            connections,
            seconds,
            rate,
            server,
            views,
            zipf,
        } => {
            let shape = Shape {
                concurrency,
                duration: Duration::from_secs_f64(seconds),
                rate,
            };
            let orgs = match (views, zipf) {
                (Some(views), Some(exponent)) => load::Orgs::Zipf { views, exponent },
                _ => load::Orgs::One(fixture::ORG),
            };
            let server = server.unwrap_or_else(|| fixture::server_of(&size));
            let stats = load::grpc(&addr, &server, orgs, connections, shape).await?;
            println!("{}", serde_json::to_string(&stats)?);
            Ok(())
        }
        Cmd::RedisGet {
            url,
            size,
            concurrency,
            connections,
            seconds,
        } => {
            let body = fixture::encoded(&size, 1).full().0;
            let shape = Shape {
                concurrency,
                duration: Duration::from_secs_f64(seconds),
                rate: None,
            };
            let stats = load::redis_get(&url, body, connections, shape).await?;
            println!("{}", serde_json::to_string(&stats)?);
            Ok(())
        }
        Cmd::Subscribe {
            url,
            subscribers,
            channels,
        } => scenarios::serve_subscribers(&url, subscribers, &channels).await,
        Cmd::Watchers {
            peer,
            grpc,
            admin,
            watchers,
            rounds,
        } => {
            let latency = watchers::propagation(peer, &grpc, &admin, watchers, rounds).await?;
            println!("{}", serde_json::to_string(&latency)?);
            Ok(())
        }
        Cmd::All { smoke, out, only } => run_all(smoke, out, &only).await,
    }
}

/// Cores for (server, generator), when `taskset` can pin them.
fn cores() -> Option<(usize, usize)> {
    let pinnable = Command::new("taskset")
        .args(["-c", "0", "true"])
        .status()
        .is_ok_and(|s| s.success());
    let count = std::thread::available_parallelism().map_or(1, |n| n.get());
    (pinnable && count >= 2).then_some((1, 0))
}

/// Moves a running process (every thread) and its current children to `core`; the children it
/// forks later inherit it. Baselines backed by PostgreSQL or Redis then get the server's one
/// core in all, as the service does, instead of also taking the generator's.
fn pin(pid: u32, core: usize) -> anyhow::Result<()> {
    let children =
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    let pids =
        std::iter::once(pid.to_string()).chain(children.split_whitespace().map(String::from));
    for pid in pids {
        let status = Command::new("taskset")
            .args(["-a", "-c", "-p", &core.to_string(), &pid])
            .stdout(Stdio::null())
            .status()?;
        anyhow::ensure!(status.success(), "taskset -p {pid} failed");
    }
    Ok(())
}

pub(crate) fn command(core: Option<usize>, args: &[String]) -> anyhow::Result<Command> {
    let exe = std::env::current_exe()?;
    Ok(match core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(core.to_string()).arg(exe).args(args);
            c
        }
        None => {
            let mut c = Command::new(exe);
            c.args(args);
            c
        }
    })
}

/// A target server process, killed on drop.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve(
    target: Target,
    size: &str,
    database_url: &str,
    core: Option<usize>,
) -> anyhow::Result<(Served, String)> {
    let addr = format!("127.0.0.1:{}", mcp_config_tests::free_port());
    let target_name = clap::ValueEnum::to_possible_value(&target)
        .context("every target has a name")?
        .get_name()
        .to_owned();
    let args: Vec<String> = [
        "serve",
        "--target",
        &target_name,
        "--addr",
        &addr,
        "--database-url",
        database_url,
        "--size",
        size,
    ]
    .map(String::from)
    .into();
    let child = command(core, &args)?
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let served = Served(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(&addr).is_err() {
        anyhow::ensure!(Instant::now() < deadline, "{target_name} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok((served, addr))
}

pub(crate) fn run_json(core: Option<usize>, args: &[String]) -> anyhow::Result<Stats> {
    let output = command(core, args)?.output()?;
    anyhow::ensure!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout)?;
    serde_json::from_str(text.trim()).with_context(|| format!("stats of {args:?}: {text}"))
}

/// The highest rate the generator paces with room to spare on one core of these 2-core VMs. In
/// open loop every request costs it wake-ups (~75 µs of its CPU a request at 10 k/s, against
/// ~18 µs under full load, where work is batched): near 20 k/s its core saturates and its own
/// queueing (a p50 in milliseconds, for every target alike) swamps what is measured.
const OPEN_LOOP_CEILING: f64 = 15_000.0;

/// The run whose `figure` is the median.
pub(crate) fn median_by(mut runs: Vec<Stats>, figure: impl Fn(&Stats) -> f64) -> Stats {
    runs.sort_by(|a, b| figure(a).total_cmp(&figure(b)));
    runs.swap_remove(runs.len() / 2)
}

pub(crate) fn load_args(addr: &str, size: &str, seconds: f64, rate: Option<f64>) -> Vec<String> {
    let mut args: Vec<String> = [
        "load",
        "--addr",
        addr,
        "--size",
        size,
        "--seconds",
        &seconds.to_string(),
    ]
    .map(String::from)
    .into();
    if let Some(rate) = rate {
        args.extend(["--rate".to_owned(), format!("{rate:.0}")]);
    }
    args
}

async fn run_all(smoke: bool, out: PathBuf, only: &[Scenario]) -> anyhow::Result<()> {
    let wanted = |scenario| only.is_empty() || only.contains(&scenario);
    let seconds = if smoke { 0.5 } else { 5.0 };
    let repeats = if smoke { 1 } else { 3 };
    let cores = cores();
    let (server_core, load_core) = (cores.map(|c| c.0), cores.map(|c| c.1));
    let pg = tokio::task::spawn_blocking(Postgres::start).await?;
    let redis = Redis::start();
    if let Some(core) = server_core {
        pin(pg.pid().context("the PostgreSQL postmaster's pid")?, core)?;
        pin(redis.pid().context("the Redis server's pid")?, core)?;
    }
    let mut report = report::Report::new(smoke, cores.is_some());

    let sizes: &[&str] = match (wanted(Scenario::Throughput), smoke) {
        (false, _) => &[],
        (true, true) => &["2k"],
        (true, false) => &["2k", "20k", "100k"],
    };
    for size in sizes {
        eprintln!("throughput, {size}");
        let sqlite = format!(
            "sqlite://{}/bench-{size}.db",
            std::env::temp_dir().display()
        );
        let _ = std::fs::remove_file(sqlite.trim_start_matches("sqlite://"));
        let redis_args: Vec<String> = [
            "redis-get",
            "--url",
            &redis.url(),
            "--size",
            size,
            "--seconds",
            &seconds.to_string(),
        ]
        .map(String::from)
        .into();
        let direct_database = pg.database();
        let run = |target, database: &str, rate| -> anyhow::Result<Stats> {
            let (served, addr) = serve(target, size, database, server_core)?;
            let stats = run_json(load_core, &load_args(&addr, size, seconds, rate));
            drop(served);
            stats
        };
        // Interleaved repeats, each target's median: one run per target is at the mercy of
        // whatever else the machine did in those seconds.
        let mut runs: [Vec<Stats>; 5] = Default::default();
        for _ in 0..repeats {
            runs[0].push(run(Target::Bare, "sqlite::memory:", None)?);
            runs[1].push(run(Target::Service, &sqlite, None)?);
            runs[2].push(run(Target::Direct, &direct_database, None)?);
            runs[3].push(run(Target::DirectTokioPostgres, &direct_database, None)?);
            runs[4].push(run_json(load_core, &redis_args)?);
        }
        let [bare, service, direct, direct_tokio_postgres, redis_get] =
            runs.map(|runs| median_by(runs, |s| s.rps));
        let half = Some((bare.rps / 2.0).min(OPEN_LOOP_CEILING));
        let mut half_runs: [Vec<Stats>; 2] = Default::default();
        for _ in 0..repeats {
            half_runs[0].push(run(Target::Bare, "sqlite::memory:", half)?);
            half_runs[1].push(run(Target::Service, &sqlite, half)?);
        }
        let [bare_half, service_half] = half_runs.map(|runs| median_by(runs, |s| s.p50_us));
        report.throughput(
            size,
            report::Throughput {
                bare,
                service,
                direct,
                direct_tokio_postgres,
                redis_get,
            },
            bare_half,
            service_half,
        );
    }

    if wanted(Scenario::Stampede) {
        stampede(&mut report).await?;
    }
    if wanted(Scenario::Propagation) {
        propagation(&mut report, smoke, &pg, &redis, load_core).await?;
    }
    if wanted(Scenario::Cold) {
        cold(&mut report, smoke, &pg).await?;
    }
    if wanted(Scenario::Miss) {
        eprintln!("miss paths");
        let rounds = if smoke { 20 } else { 1_000 };
        let (from_l2, from_store) =
            scenarios::miss_paths(&pg.database(), &redis.url(), rounds).await?;
        report.miss_paths(from_l2, from_store);
    }
    if wanted(Scenario::Memory) {
        eprintln!("L1 memory");
        let (orgs, budget) = if smoke {
            (2_000, 1 << 20)
        } else {
            (100_000, 64 << 20)
        };
        report.memory(scenarios::l1_memory(orgs, budget).await?);
    }

    if wanted(Scenario::Mcp) {
        eprintln!("MCP endpoint");
        let database = format!("sqlite://{}/bench-mcp.db", std::env::temp_dir().display());
        let _ = std::fs::remove_file(database.trim_start_matches("sqlite://"));
        let (concurrency, listeners) = if smoke { (4, 20) } else { (32, 1_000) };
        report.mcp(mcp::endpoint(&database, seconds, concurrency, listeners).await?);
    }

    if wanted(Scenario::Gateway) {
        eprintln!("gateway: tool calls through /mcp/{{server}} vs straight");
        let database = format!(
            "sqlite://{}/bench-gateway.db",
            std::env::temp_dir().display()
        );
        let _ = std::fs::remove_file(database.trim_start_matches("sqlite://"));
        let (concurrency, rounds) = if smoke { (4, 1) } else { (32, 3) };
        report.gateway(gateway::tool_calls(&database, seconds, concurrency, rounds).await?);
    }

    if wanted(Scenario::Fanout) {
        eprintln!("fan-out: global vs per-server channels");
        let (fleets, rounds): (&[usize], usize) = if smoke {
            (&[100], 20)
        } else {
            (&[1_000, 5_000], 200)
        };
        for &subscribers in fleets {
            report.fanout(scenarios::fanout(&redis.url(), subscribers, rounds, load_core).await?);
        }
    }
    if wanted(Scenario::Clients) {
        eprintln!("reads through the Rust client");
        let database = format!(
            "sqlite://{}/bench-clients.db",
            std::env::temp_dir().display()
        );
        let _ = std::fs::remove_file(database.trim_start_matches("sqlite://"));
        report.clients(clients::reads(smoke, &database, &redis.url()).await?);
        eprintln!("cached reads through the Rust client with the service hung");
        let database = format!("sqlite://{}/bench-hung.db", std::env::temp_dir().display());
        let _ = std::fs::remove_file(database.trim_start_matches("sqlite://"));
        report.hung_reads(clients::hung(smoke, &database).await?);
    }
    if wanted(Scenario::McpServer) {
        eprintln!("prompts/list through the example MCP server");
        let database = format!(
            "sqlite://{}/bench-mcp-server.db",
            std::env::temp_dir().display()
        );
        let _ = std::fs::remove_file(database.trim_start_matches("sqlite://"));
        report.mcp_server(mcp_server::prompts_list(smoke, &database, seconds).await?);
    }
    let plots = out
        .parent()
        .map_or_else(|| PathBuf::from("bench"), |dir| dir.join("bench"));
    if wanted(Scenario::Zipf) {
        eprintln!("working set larger than L1 (Zipf)");
        let points = growth::zipf(smoke, &pg, &redis, cores).await?;
        growth::plot_zipf(&points, &plots.join("zipf.svg"))?;
        report.zipf(&points);
    }
    if wanted(Scenario::Startup) {
        eprintln!("start-up with many orgs");
        let points = growth::startup(smoke, &pg, server_core).await?;
        growth::plot_startup(&points, &plots.join("startup.svg"))?;
        report.startup(&points);
    }
    if wanted(Scenario::Writes) {
        eprintln!("write throughput");
        let (points, ceiling) = growth::writes(smoke, &pg, &redis, cores).await?;
        report.writes(&points, ceiling);
    }
    if wanted(Scenario::Renders) {
        eprintln!("render fairness under a hostile org");
        let database = format!(
            "sqlite://{}/bench-renders.db",
            std::env::temp_dir().display()
        );
        let _ = std::fs::remove_file(database.trim_start_matches("sqlite://"));
        report.renders(&renders::fairness(smoke, &database, server_core).await?);
    }
    if wanted(Scenario::Ui) {
        eprintln!("web UI pages");
        let database = format!("sqlite://{}/bench-ui.db", std::env::temp_dir().display());
        let _ = std::fs::remove_file(database.trim_start_matches("sqlite://"));
        report.ui(ui::pages(&database, if smoke { 5 } else { 200 }).await?);
    }

    let text = report.render();
    std::fs::write(&out, &text).with_context(|| format!("writing {}", out.display()))?;
    println!("{text}");
    Ok(())
}

async fn stampede(report: &mut report::Report) -> anyhow::Result<()> {
    eprintln!("stampede");
    let stampede_db = format!(
        "sqlite://{}/bench-stampede.db",
        std::env::temp_dir().display()
    );
    let _ = std::fs::remove_file(stampede_db.trim_start_matches("sqlite://"));
    let (loads, ok) = scenarios::stampede(&stampede_db, 1000).await?;
    report.stampede(1000, ok, loads);
    Ok(())
}

async fn propagation(
    report: &mut report::Report,
    smoke: bool,
    pg: &Postgres,
    redis: &Redis,
    subscribers_core: Option<usize>,
) -> anyhow::Result<()> {
    eprintln!("propagation");
    let fleet: &[usize] = if smoke { &[1, 10] } else { &[1, 100, 1000] };
    for &n in fleet {
        // Enough rounds for a p99 with one subscriber; fleets give n samples a round.
        let rounds = if smoke { 3 } else { (3000 / n).clamp(30, 300) };
        let raw = scenarios::raw_publish(&redis.url(), n, rounds, subscribers_core).await?;
        let via_redis =
            scenarios::propagation_redis(&pg.database(), &redis.url(), n, rounds, subscribers_core)
                .await?;
        let via_watch = scenarios::propagation_watch(&pg.database(), n, rounds).await?;
        report.propagation(n, raw, via_redis, via_watch);
    }
    Ok(())
}

async fn cold(report: &mut report::Report, smoke: bool, pg: &Postgres) -> anyhow::Result<()> {
    eprintln!("cold loads");
    let (orgs, prompts, sample) = if smoke {
        (100, 10, 50)
    } else {
        (10_000, 100, 1_000)
    };
    let cold = scenarios::cold_loads(&pg.database(), orgs, prompts, sample).await?;
    report.cold(orgs, prompts, cold);
    Ok(())
}
