//! What a chaos run strikes: PostgreSQL, Redis and replicas of the real binary, each replica
//! reaching the two through fault proxies of its own, and a balancing proxy in front of the
//! replicas' gRPC ports for the clients (what a Kubernetes Service would be).

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::Mutex,
    time::Duration,
};

use anyhow::{Context, bail};
use mcp_config_tests::{free_port, postgres::Postgres, proxy::FaultProxy, redis::Redis};

/// How often the replicas' relays announce progress: short, so a silent channel or stream is
/// told from a quiet one within seconds.
pub const PROGRESS_SECS: u64 = 1;
/// How long a change may wait for the relay before a replica reports not ready: short, so a
/// Redis outage of a few seconds (the relay cannot publish) shows on `/readyz`.
pub const RELAY_STUCK_SECS: u64 = 1;

pub struct Cluster {
    pub postgres: Postgres,
    pub redis: Redis,
    pub replicas: Vec<Replica>,
    /// The replicas' gRPC ports behind one address.
    pub front: FaultProxy,
    _logs: tempfile::TempDir,
}

impl Cluster {
    pub async fn start(bin: &Path, replicas: usize) -> anyhow::Result<Self> {
        let postgres = tokio::task::spawn_blocking(Postgres::start_durable).await?;
        let redis = Redis::start();
        let database_url = postgres.database();
        let logs = tempfile::Builder::new()
            .prefix("mcp-config-chaos-")
            .tempdir()?;
        let mut started = Vec::new();
        for index in 0..replicas {
            let replica = Replica::new(
                index,
                bin,
                &database_url,
                postgres.port(),
                redis.port(),
                logs.path(),
            )
            .await;
            replica.spawn()?;
            // One at a time: the first applies the migrations, and leads the relay.
            replica.until_ready(Duration::from_secs(60)).await?;
            started.push(replica);
        }
        let front = FaultProxy::balancing(started.iter().map(|r| r.grpc).collect()).await;
        Ok(Self {
            postgres,
            redis,
            replicas: started,
            front,
            _logs: logs,
        })
    }
}

pub struct Replica {
    pub index: usize,
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    pub postgres_link: FaultProxy,
    pub redis_link: FaultProxy,
    command: Vec<String>,
    log: PathBuf,
    child: Mutex<Option<Child>>,
}

impl Replica {
    async fn new(
        index: usize,
        bin: &Path,
        database_url: &str,
        postgres_port: u16,
        redis_port: u16,
        logs: &Path,
    ) -> Self {
        let postgres_link = FaultProxy::start(([127, 0, 0, 1], postgres_port).into()).await;
        let redis_link = FaultProxy::start(([127, 0, 0, 1], redis_port).into()).await;
        let grpc: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let http: SocketAddr = ([127, 0, 0, 1], free_port()).into();
        let linked_database = database_url.replacen(
            &format!(":{postgres_port}/"),
            &format!(":{}/", postgres_link.port()),
            1,
        );
        let command = vec![
            bin.display().to_string(),
            "serve".into(),
            format!("--database-url={linked_database}"),
            format!("--redis-url=redis://{}", redis_link.addr()),
            format!("--grpc-addr={grpc}"),
            format!("--http-addr={http}"),
            "--relay-poll-ms=200".into(),
            format!("--watch-progress-secs={PROGRESS_SECS}"),
            format!("--relay-stuck-secs={RELAY_STUCK_SECS}"),
            "--admin-rate-limit=100000".into(),
        ];
        Self {
            index,
            grpc,
            http,
            postgres_link,
            redis_link,
            command,
            log: logs.join(format!("replica-{index}.log")),
            child: Mutex::new(None),
        }
    }

    pub fn spawn(&self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let child = Command::new(&self.command[0])
            .args(&self.command[1..])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.command[0]))?;
        *self.child.lock().expect("child lock") = Some(child);
        Ok(())
    }

    /// `kill -9`: no shutdown, no last relay round.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().expect("child lock").take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child
            .lock()
            .expect("child lock")
            .as_ref()
            .map(Child::id)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub fn admin(&self, path: &str) -> String {
        self.url(&format!("/admin/v1{path}"))
    }

    /// The last lines the replica logged, for a report of what went wrong.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    pub async fn ready(&self) -> bool {
        let answer = reqwest::Client::new()
            .get(self.url("/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        answer.is_ok_and(|r| r.status().is_success())
    }

    pub async fn until_ready(&self, bound: Duration) -> anyhow::Result<()> {
        if !mcp_config_tests::eventually(bound, || self.ready()).await {
            bail!(
                "replica {} not ready within {bound:?}:\n{}",
                self.index,
                self.log_tail(20)
            );
        }
        Ok(())
    }

    /// Open file descriptors and resident memory (KiB), from /proc.
    pub fn resources(&self) -> Option<(usize, u64)> {
        let pid = self.pid()?;
        let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let rss = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        Some((fds, rss))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}
