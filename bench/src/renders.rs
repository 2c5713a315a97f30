//! One org's reads while another org renders hostile templates as fast as it is answered:
//! the render workers' fairness, measured on the real binary. The baseline is the same reads of
//! the same service with nobody attacking, in the same run.
//!
//! The victim (org `calm`) alternates `GetPrompt` (rendered in a worker each time) and
//! `GetPrompts` (a cached view, no render) from a few sequential clients; the attacker (org
//! `storm`) keeps many `GetPrompt`s of a template that runs until its deadline in flight, each
//! client asking again the moment it is refused. The idle run also gives the cost of the render
//! path itself (worker round trip included): `GetPrompt`'s p50 over `GetPrompts`'.

use std::time::{Duration, Instant};

use mcp_config_proto::v1::{
    GetPromptRequest, GetPromptsRequest, config_service_client::ConfigServiceClient,
};
use serde_json::json;
use tokio::sync::watch;
use tonic::{Code, transport::Channel};

use crate::{growth::Spawned, load::histogram, scenarios::Latency};

const SERVER: &str = "render-bench";
const VICTIM: &str = "calm";
const ATTACKER: &str = "storm";
/// Cheap with the sample arguments a save checks, runs until the deadline with the attacker's.
const HOSTILE: &str = "{{ ([1, 2, 3] * (n | int))[-1] }}";
const HOSTILE_N: &str = "30000000";
/// Sequential victim clients, and attacking clients kept in flight.
const VICTIMS: usize = 2;
const ATTACKERS: usize = 16;

/// The victim's latencies in one run.
pub struct VictimReads {
    pub get_prompt: Latency,
    pub get_prompts: Latency,
    /// Victim calls that failed (any status): the target is none.
    pub errors: u64,
}

pub struct RenderFairness {
    pub idle: VictimReads,
    pub attacked: VictimReads,
    /// The attacker's answers: stopped at the deadline or refused while its share was busy.
    pub attacker_refused: u64,
    /// Attacker calls answered otherwise (the target is none).
    pub attacker_other: u64,
    /// Workers killed at their deadline during the attack (`mcp_config_render_workers_stopped_total`).
    pub workers_stopped: f64,
}

fn bundle() -> String {
    json!({"orgs": {
        VICTIM: {"name": "Calm", "servers": {SERVER: {"prompts": {"hello": {
            "arguments": [{"name": "repo", "required": true}],
            "messages": [{"role": "user", "text": "Review {{ repo }} with care; list {{ repo | upper }}'s risks."}],
        }}}}},
        ATTACKER: {"name": "Storm", "servers": {SERVER: {"prompts": {"spin": {
            "arguments": [{"name": "n", "required": true}],
            "messages": [{"role": "user", "text": HOSTILE}],
        }}}}},
    }})
    .to_string()
}

fn get_prompt(org: &str, name: &str, argument: (&str, &str)) -> GetPromptRequest {
    GetPromptRequest {
        org_id: org.into(),
        server: SERVER.into(),
        name: name.into(),
        arguments: [(argument.0.to_owned(), argument.1.to_owned())].into(),
        ..Default::default()
    }
}

/// `VICTIMS` sequential clients alternating the two reads for `duration`.
async fn victim_reads(
    grpc: &ConfigServiceClient<Channel>,
    duration: Duration,
) -> anyhow::Result<VictimReads> {
    let mut clients = Vec::new();
    for _ in 0..VICTIMS {
        let mut grpc = grpc.clone();
        clients.push(tokio::spawn(async move {
            let (mut rendered, mut listed) = (histogram(), histogram());
            let mut errors = 0;
            let until = Instant::now() + duration;
            while Instant::now() < until {
                let started = Instant::now();
                let answer = grpc
                    .get_prompt(get_prompt(VICTIM, "hello", ("repo", "acme/api")))
                    .await;
                rendered.record(started.elapsed().as_nanos().max(1) as u64)?;
                errors += u64::from(answer.is_err());
                let started = Instant::now();
                let answer = grpc
                    .get_prompts(GetPromptsRequest {
                        org_id: VICTIM.into(),
                        server: SERVER.into(),
                        ..Default::default()
                    })
                    .await;
                listed.record(started.elapsed().as_nanos().max(1) as u64)?;
                errors += u64::from(answer.is_err());
            }
            anyhow::Ok((rendered, listed, errors))
        }));
    }
    let (mut rendered, mut listed, mut errors) = (histogram(), histogram(), 0);
    for client in clients {
        let (r, l, e) = client.await??;
        rendered.add(r)?;
        listed.add(l)?;
        errors += e;
    }
    Ok(VictimReads {
        get_prompt: Latency::of(&rendered),
        get_prompts: Latency::of(&listed),
        errors,
    })
}

/// One attacking client: asks again the moment it is answered, until told to stop. Returns
/// (refused with `RESOURCE_EXHAUSTED`, answered any other way).
async fn attack(mut grpc: ConfigServiceClient<Channel>, stop: watch::Receiver<bool>) -> (u64, u64) {
    let (mut refused, mut other) = (0, 0);
    while !*stop.borrow() {
        match grpc
            .get_prompt(get_prompt(ATTACKER, "spin", ("n", HOSTILE_N)))
            .await
        {
            Err(status) if status.code() == Code::ResourceExhausted => refused += 1,
            _ => other += 1,
        }
    }
    (refused, other)
}

pub async fn fairness(
    smoke: bool,
    database_url: &str,
    core: Option<usize>,
) -> anyhow::Result<RenderFairness> {
    let duration = Duration::from_secs_f64(if smoke { 1.0 } else { 15.0 });
    let (service, _) = Spawned::start(database_url, None, 64 << 20, core).await?;
    let imported = reqwest::Client::new()
        .post(service.admin("/bundle"))
        .header("content-type", "application/json")
        .body(bundle())
        .send()
        .await?;
    anyhow::ensure!(
        imported.status().is_success(),
        "the render bundle import failed: {}",
        imported.text().await?
    );
    let channel = Channel::from_shared(format!("http://{}", service.grpc))?
        .connect()
        .await?;
    let grpc = ConfigServiceClient::new(channel);
    // Warm: the victim's view cached, its template compiled in the workers.
    victim_reads(&grpc, Duration::from_millis(200)).await?;
    let idle = victim_reads(&grpc, duration).await?;

    let stopped = |metrics: std::collections::HashMap<String, f64>| {
        metrics
            .get("mcp_config_render_workers_stopped_total")
            .copied()
            .unwrap_or(0.0)
    };
    let stopped_before = stopped(service.metrics().await?);
    let (stop, stopping) = watch::channel(false);
    // The attacker's own connection, as a separate client would have.
    let attacker_channel = Channel::from_shared(format!("http://{}", service.grpc))?
        .connect()
        .await?;
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|_| {
            tokio::spawn(attack(
                ConfigServiceClient::new(attacker_channel.clone()),
                stopping.clone(),
            ))
        })
        .collect();
    // Let the attacker's renders take every worker it may hold.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let attacked = victim_reads(&grpc, duration).await?;
    stop.send(true)?;
    let (mut attacker_refused, mut attacker_other) = (0, 0);
    for attacker in attackers {
        let (refused, other) = attacker.await?;
        attacker_refused += refused;
        attacker_other += other;
    }
    let workers_stopped = stopped(service.metrics().await?) - stopped_before;
    Ok(RenderFairness {
        idle,
        attacked,
        attacker_refused,
        attacker_other,
        workers_stopped,
    })
}
