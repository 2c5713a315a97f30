//! What runs against the cluster while faults strike it: writers on the admin API, a prober of
//! every replica, and the readers whose views the invariants judge.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use mcp_config_client::{ClientConfig, ConfigClient, Source, ViewKind};
use mcp_config_proto::v1::{
    GetPromptsRequest, InvalidationEvent, WatchRequest, config_service_client::ConfigServiceClient,
};
use serde_json::json;
use tokio::{io::AsyncBufReadExt, time::Instant};
use tokio_util::sync::CancellationToken;

use crate::invariants::{Ack, Served, Tally};

/// The org whose view every reader follows, and its server.
pub const ORG: &str = "acme";
pub const SERVER: &str = "github";
/// The Redis channel (the service's default).
pub const CHANNEL: &str = "mcp-config:invalidations";
/// Entries the writers rewrite: defaults (`d*`, every org's) and the org's own (`p*`).
pub const KEYS: [&str; 8] = ["d0", "d1", "d2", "d3", "p0", "p1", "p2", "p3"];

/// Everything observed during the run, for the invariants.
#[derive(Default)]
pub struct Observed {
    pub acks: Vec<Ack>,
    /// When each acknowledgement came, from the run's start.
    pub acked_at: Vec<Duration>,
    /// Write outcomes by kind ("acknowledged", "503", …).
    pub writes: HashMap<&'static str, u64>,
    /// No answer other than success, 503 or UNAVAILABLE (and client-side timeouts).
    pub answers: Tally,
    pub readiness: Vec<ReadySample>,
    /// The raw subscriber's revisions, each with the connection it came on.
    pub subscribed: Vec<(u64, u64)>,
    /// The Watch follower's revisions.
    pub watched: Vec<u64>,
    pub rust_reads: Vec<Served>,
    pub python_reads: Vec<Served>,
    /// Each reader's last view served as current (entry → first message).
    pub rust_view: Option<Texts>,
    pub python_view: Option<Texts>,
    pub python_errors: u64,
}

pub type Texts = HashMap<String, String>;
pub type Shared = Arc<Mutex<Observed>>;

/// One `/readyz` probe of one replica: when it was sent and answered (from the run's start),
/// and what it said (`None`: no answer in time).
#[derive(Clone, Debug)]
pub struct ReadySample {
    pub replica: usize,
    pub sent: Duration,
    pub answered: Duration,
    pub ready: Option<bool>,
}

fn record(observed: &Shared, f: impl FnOnce(&mut Observed)) {
    f(&mut observed.lock().expect("observations lock"));
}

pub fn prompt_path(key: &str) -> String {
    let scope = if key.starts_with('d') {
        "/defaults".to_owned()
    } else {
        format!("/orgs/{ORG}")
    };
    format!("{scope}/servers/{SERVER}/prompts/{key}")
}

pub fn prompt_body(text: &str) -> serde_json::Value {
    json!({"content": {"title": "chaos", "messages": [{"role": "user", "text": text}]}})
}

/// Writes random entries through random replicas until `stop`.
pub async fn write(
    writer: usize,
    admins: Vec<String>,
    observed: Shared,
    seed: u64,
    start: Instant,
    stop: CancellationToken,
) {
    let http = reqwest::Client::new();
    let mut rng = fastrand::Rng::with_seed(seed ^ (writer as u64) << 32);
    let mut sequence = 0u64;
    while !stop.is_cancelled() {
        sequence += 1;
        let key = KEYS[rng.usize(0..KEYS.len())];
        let text = format!("w{writer}-{sequence}");
        let admin = &admins[rng.usize(0..admins.len())];
        let answer = http
            .put(format!("{admin}{}", prompt_path(key)))
            .json(&prompt_body(&text))
            .timeout(Duration::from_secs(5))
            .send()
            .await;
        let outcome = match answer {
            Ok(response) if response.status().is_success() => {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                match body["change"]["revision"].as_u64() {
                    Some(revision) => {
                        let ack = Ack {
                            revision,
                            key: key.to_owned(),
                            text,
                        };
                        let at = start.elapsed();
                        record(&observed, |o| {
                            o.acks.push(ack);
                            o.acked_at.push(at);
                        });
                        "acknowledged"
                    }
                    None => "acknowledged without a revision",
                }
            }
            Ok(response) if response.status().as_u16() == 503 => "503 (store unavailable)",
            Ok(response) => {
                let status = response.status();
                let body = response.text().await.unwrap_or_default();
                record(&observed, |o| {
                    o.answers
                        .check(false, || format!("write answered {status}: {body}"))
                });
                "refused (a violation)"
            }
            Err(e) if e.is_connect() => "replica unreachable",
            Err(_) => "no answer (timeout or cut): outcome unknown",
        };
        record(&observed, |o| *o.writes.entry(outcome).or_default() += 1);
        tokio::time::sleep(Duration::from_millis(rng.u64(10..60))).await;
    }
}

/// Probes each replica's `/readyz` and `GetPrompts` until `stop`.
pub async fn probe(
    replica: usize,
    http_addr: SocketAddr,
    grpc_addr: SocketAddr,
    start: Instant,
    observed: Shared,
    stop: CancellationToken,
) {
    let http = reqwest::Client::new();
    let channel = tonic::transport::Channel::from_shared(format!("http://{grpc_addr}"))
        .expect("an endpoint")
        .timeout(Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(1))
        .connect_lazy();
    let mut grpc = ConfigServiceClient::new(channel);
    while !stop.is_cancelled() {
        let sent = start.elapsed();
        let ready = http
            .get(format!("http://{http_addr}/readyz"))
            .timeout(Duration::from_secs(2))
            .send()
            .await
            .ok()
            .map(|r| r.status().is_success());
        let sample = ReadySample {
            replica,
            sent,
            answered: start.elapsed(),
            ready,
        };
        let read = grpc.get_prompts(prompts_request()).await;
        record(&observed, |o| {
            o.readiness.push(sample);
            if let Err(status) = read {
                // A replica killed mid-call breaks the connection: the client's transport
                // reports it (as UNKNOWN), the service answered nothing.
                let cut = std::error::Error::source(&status)
                    .is_some_and(|e| e.is::<tonic::transport::Error>());
                let allowed = cut
                    || matches!(
                        status.code(),
                        tonic::Code::Unavailable
                            | tonic::Code::DeadlineExceeded
                            | tonic::Code::Cancelled
                    );
                o.answers.check(allowed, || {
                    format!("replica {replica} answered GetPrompts with {status:?}")
                });
            } else {
                o.answers.check(true, String::new);
            }
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

pub fn prompts_request() -> GetPromptsRequest {
    GetPromptsRequest {
        org_id: ORG.into(),
        server: SERVER.into(),
        ..Default::default()
    }
}

/// A raw Redis subscriber of the global channel, straight to Redis: what every revision looks
/// like on the wire. Each reconnection starts a new connection number.
pub async fn subscribe(redis_url: String, observed: Shared, stop: CancellationToken) {
    use fred::prelude::{ClientLike, EventInterface, PubsubInterface};
    let config = fred::prelude::Config::from_url(&redis_url).expect("a Redis URL");
    let mut builder = fred::prelude::Builder::from_config(config);
    builder.set_policy(fred::prelude::ReconnectPolicy::new_constant(0, 100));
    let client = builder.build_subscriber_client().expect("a subscriber");
    let connection = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut reconnects = client.reconnect_rx();
    let counter = connection.clone();
    tokio::spawn(async move {
        while reconnects.recv().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let mut messages = client.message_rx();
    client.init().await.expect("Redis answers");
    client.manage_subscriptions();
    client.subscribe(CHANNEL).await.expect("subscribed");
    loop {
        let message = tokio::select! {
            _ = stop.cancelled() => break,
            message = messages.recv() => message,
        };
        let Ok(message) = message else { break };
        let text: String = message.value.convert().unwrap_or_default();
        let Ok(event) = InvalidationEvent::from_json(&text) else {
            continue;
        };
        if event.server.is_empty() {
            continue; // progress
        }
        let on = connection.load(std::sync::atomic::Ordering::Relaxed);
        record(&observed, |o| o.subscribed.push((on, event.revision)));
    }
    let _ = client.quit().await;
}

/// Follows the Watch stream through the front proxy from `since`, resuming after the last
/// revision it saw whenever the stream ends, fails or goes silent.
pub async fn watch(front: SocketAddr, since: u64, observed: Shared, stop: CancellationToken) {
    let silence = Duration::from_secs(3 * crate::cluster::PROGRESS_SECS);
    let mut last = since;
    while !stop.is_cancelled() {
        let stream = async {
            let mut grpc = ConfigServiceClient::connect(format!("http://{front}"))
                .await
                .ok()?;
            let request = WatchRequest {
                since_revision: last,
                ..Default::default()
            };
            grpc.watch(request).await.ok().map(|r| r.into_inner())
        };
        let Ok(Some(mut stream)) = tokio::time::timeout(Duration::from_secs(3), stream).await
        else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return,
                next = tokio::time::timeout(silence, stream.next()) => next,
            };
            let Ok(Some(Ok(event))) = next else { break };
            if event.server.is_empty() {
                continue; // progress
            }
            last = event.revision;
            record(&observed, |o| o.watched.push(event.revision));
        }
    }
}

fn texts_of(prompts: &[mcp_config_proto::v1::Prompt]) -> Texts {
    prompts
        .iter()
        .map(|p| {
            let text = p
                .messages
                .first()
                .map(|m| m.text.clone())
                .unwrap_or_default();
            (p.name.clone(), text)
        })
        .collect()
}

/// The Rust client on the Redis channel, through the front proxy: after every change it is
/// told of, and every 250 ms, it reads the view and records what it served.
pub async fn rust_reader(
    front: SocketAddr,
    redis_url: String,
    observed: Shared,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut config = ClientConfig::new(format!("http://{front}"));
    config.source = Source::Redis {
        url: redis_url,
        channel: CHANNEL.into(),
    };
    config.silence = Duration::from_secs(3 * crate::cluster::PROGRESS_SECS);
    config.timeout = Duration::from_secs(2);
    let client = ConfigClient::connect(config).await?;
    let mut changes = client.changes();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = tick.tick() => 0,
            changed = changes.recv() => match changed {
                Ok(c) if c.server == SERVER && c.kind == ViewKind::Prompts && (c.org.is_empty() || c.org == ORG) => c.revision,
                _ => continue,
            },
        };
        let Ok(view) = client.prompts(ORG, SERVER).await else {
            continue;
        };
        let served = Served {
            event,
            revision: view.revision,
            stale: view.stale.is_some(),
        };
        let texts = (!served.stale).then(|| texts_of(&view.items));
        record(&observed, |o| {
            o.rust_reads.push(served);
            if texts.is_some() {
                o.rust_view = texts;
            }
        });
    }
}

/// The Python client on the Watch source, through the front proxy, in a process of its own
/// (`chaos/python/reader.py`): its reports are recorded as the Rust reader's are.
pub async fn python_reader(
    python: &Path,
    front: SocketAddr,
    log: &Path,
    observed: Shared,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/reader.py");
    let mut child = tokio::process::Command::new(python)
        .arg(script)
        .args([front.to_string(), ORG.into(), SERVER.into()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(log)?)
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = tokio::io::BufReader::new(child.stdout.take().expect("piped")).lines();
    loop {
        let line = tokio::select! {
            _ = stop.cancelled() => break,
            line = lines.next_line() => line?,
        };
        let Some(line) = line else {
            anyhow::bail!("the Python reader exited: see {}", log.display());
        };
        let report: serde_json::Value = serde_json::from_str(&line)?;
        if report.get("error").is_some() {
            record(&observed, |o| o.python_errors += 1);
            continue;
        }
        let served = Served {
            event: report["event"].as_u64().unwrap_or(0),
            revision: report["revision"].as_u64().unwrap_or(0),
            stale: report["stale"].as_bool().unwrap_or(true),
        };
        let texts: Option<Texts> = (!served.stale)
            .then(|| serde_json::from_value(report["texts"].clone()).ok())
            .flatten();
        record(&observed, |o| {
            o.python_reads.push(served);
            if texts.is_some() {
                o.python_view = texts;
            }
        });
    }
    let _ = child.kill().await;
    Ok(())
}

/// The view of one replica, read straight from it.
pub async fn replica_view(grpc_addr: SocketAddr) -> Option<Texts> {
    let mut grpc = ConfigServiceClient::connect(format!("http://{grpc_addr}"))
        .await
        .ok()?;
    let view = tokio::time::timeout(Duration::from_secs(2), grpc.get_prompts(prompts_request()))
        .await
        .ok()?
        .ok()?
        .into_inner();
    Some(texts_of(&view.prompts))
}
