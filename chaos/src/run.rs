//! One run: the cluster up, the workload on, the faults struck, the convergence timed, the
//! invariants judged.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    path::PathBuf,
    sync::Arc,
    time::Duration,
};

use anyhow::Context;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::{
    cluster::Cluster,
    faults::{self, Action, Fault, Shape, Target},
    invariants::{self, Tally},
    workload::{self, KEYS, ORG, Observed, ReadySample, Shared, Texts},
};

pub struct Settings {
    pub bin: PathBuf,
    pub python: Option<PathBuf>,
    pub shape: Shape,
    pub writers: usize,
    pub convergence_bound: Duration,
}

/// A fault as it was struck: from and until when (from the run's start).
pub struct Struck {
    pub fault: Fault,
    pub from: Duration,
    pub until: Duration,
}

pub struct Outcome {
    pub seed: u64,
    pub duration: Duration,
    pub replicas: usize,
    pub struck: Vec<Struck>,
    pub writes: BTreeMap<&'static str, u64>,
    pub python: bool,
    /// Each invariant, by name.
    pub invariants: Vec<(&'static str, Tally)>,
    /// How long each part took to converge once the faults ended (None: not within the bound).
    pub convergence: Vec<(String, Option<Duration>)>,
    /// What the raw subscriber missed or heard again around its reconnections (pub/sub promises
    /// nothing there; the service and the clients replay or revalidate).
    pub reconnections: invariants::Reconnections,
    pub witness: Option<((usize, u64), (usize, u64))>,
    pub revisions: usize,
}

impl Outcome {
    pub fn held(&self) -> bool {
        self.invariants.iter().all(|(_, tally)| tally.held())
    }
}

/// A PostgreSQL outage is seen by `/readyz` within this long (its check fails at once; the
/// margin covers a probe that started just before).
const READINESS_GRACE: Duration = Duration::from_secs(2);

pub async fn run(settings: Settings) -> anyhow::Result<Outcome> {
    let shape = &settings.shape;
    let cluster = Arc::new(Cluster::start(&settings.bin, shape.replicas).await?);
    let admins: Vec<String> = cluster.replicas.iter().map(|r| r.admin("")).collect();
    let base = set_up(&admins[0]).await?;
    let observed: Shared = Shared::default();
    let start = Instant::now();
    let stop_writes = CancellationToken::new();
    let stop_reads = CancellationToken::new();
    let mut readers = tokio::task::JoinSet::new();
    let redis_url = cluster.redis.url();
    readers.spawn(workload::subscribe(
        redis_url.clone(),
        observed.clone(),
        stop_reads.clone(),
    ));
    readers.spawn(workload::watch(
        cluster.front.addr(),
        base,
        observed.clone(),
        stop_reads.clone(),
    ));
    {
        let (front, observed, stop) = (cluster.front.addr(), observed.clone(), stop_reads.clone());
        let url = redis_url.clone();
        readers.spawn(async move {
            if let Err(e) = workload::rust_reader(front, url, observed, stop).await {
                eprintln!("the Rust reader stopped: {e:#}");
            }
        });
    }
    let python_log =
        std::env::temp_dir().join(format!("mcp-config-chaos-python-{}.log", shape.seed));
    if let Some(python) = settings.python.clone() {
        let (front, observed, stop) = (cluster.front.addr(), observed.clone(), stop_reads.clone());
        let log = python_log.clone();
        readers.spawn(async move {
            if let Err(e) = workload::python_reader(&python, front, &log, observed, stop).await {
                eprintln!("the Python reader stopped: {e:#}");
            }
        });
    }
    for replica in &cluster.replicas {
        readers.spawn(workload::probe(
            replica.index,
            replica.http,
            replica.grpc,
            start,
            observed.clone(),
            stop_reads.clone(),
        ));
    }
    let mut writers = tokio::task::JoinSet::new();
    for writer in 0..settings.writers {
        writers.spawn(workload::write(
            writer,
            admins.clone(),
            observed.clone(),
            shape.seed,
            start,
            stop_writes.clone(),
        ));
    }

    // The witness's footprint once warm, before the first fault.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let witness = &cluster.replicas[shape.witness];
    let witness_before = witness.resources();

    let mut striking = tokio::task::JoinSet::new();
    for fault in faults::plan(shape) {
        striking.spawn(strike(cluster.clone(), fault, start));
    }
    let mut struck = Vec::new();
    while let Some(done) = striking.join_next().await {
        struck.push(done??);
    }
    struck.sort_by_key(|s| s.from);
    tokio::time::sleep_until(start + shape.duration).await;
    stop_writes.cancel();
    while writers.join_next().await.is_some() {}

    let convergence = converge(
        &cluster,
        &admins,
        &observed,
        settings.python.is_some(),
        settings.convergence_bound,
    )
    .await?;
    stop_reads.cancel();
    while readers.join_next().await.is_some() {}
    let witness_after = witness.resources();

    let log = change_log(&admins[0], base).await?;
    let observed = Arc::try_unwrap(observed)
        .map_err(|_| anyhow::anyhow!("a reader outlived the run"))?
        .into_inner()
        .expect("observations lock");
    let truth = truth(&admins[0]).await?;
    let judged = judge(
        &observed,
        &log,
        &truth,
        &struck,
        &convergence,
        settings.convergence_bound,
    );
    let mut invariants = judged.0;
    if let (Some(before), Some(after)) = (witness_before, witness_after) {
        let mut leaks = Tally::default();
        leaks.check(after.0 <= before.0 + 16, || {
            format!(
                "witness replica's open files grew from {} to {}",
                before.0, after.0
            )
        });
        leaks.check(after.1 <= before.1 * 2 + 32 * 1024, || {
            format!(
                "witness replica's resident memory grew from {} KiB to {} KiB",
                before.1, after.1
            )
        });
        invariants.push(("no replica leaks file descriptors or memory", leaks));
    }
    Ok(Outcome {
        seed: shape.seed,
        duration: shape.duration,
        replicas: shape.replicas,
        struck,
        writes: observed.writes.iter().map(|(k, v)| (*k, *v)).collect(),
        python: settings.python.is_some(),
        invariants,
        convergence,
        reconnections: judged.1,
        witness: witness_before.zip(witness_after),
        revisions: log.len(),
    })
}

/// The org and one version of every entry; returns the revision the run starts after.
async fn set_up(admin: &str) -> anyhow::Result<u64> {
    let http = reqwest::Client::new();
    http.post(format!("{admin}/orgs"))
        .json(&serde_json::json!({"slug": ORG, "name": "Acme"}))
        .send()
        .await?
        .error_for_status()?;
    for key in KEYS {
        http.put(format!("{admin}{}", workload::prompt_path(key)))
            .json(&workload::prompt_body("initial"))
            .send()
            .await?
            .error_for_status()?;
    }
    Ok(change_log(admin, 0)
        .await?
        .keys()
        .max()
        .copied()
        .unwrap_or(0))
}

/// The change log after `after`: revision → the key it wrote.
async fn change_log(admin: &str, mut after: u64) -> anyhow::Result<BTreeMap<u64, String>> {
    let http = reqwest::Client::new();
    let mut log = BTreeMap::new();
    loop {
        let page: serde_json::Value = http
            .get(format!("{admin}/changes?after={after}&limit=1000"))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let changes = page["changes"].as_array().context("a page of changes")?;
        if changes.is_empty() {
            return Ok(log);
        }
        for change in changes {
            let revision = change["revision"].as_u64().context("a revision")?;
            let key = change["keys"][0].as_str().unwrap_or_default().to_owned();
            log.insert(revision, key);
            after = revision;
        }
    }
}

/// Every entry's text as the store holds it.
async fn truth(admin: &str) -> anyhow::Result<Texts> {
    let http = reqwest::Client::new();
    let mut texts = Texts::new();
    for key in KEYS {
        let entry: serde_json::Value = http
            .get(format!("{admin}{}", workload::prompt_path(key)))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let text = entry["content"]["messages"][0]["text"]
            .as_str()
            .with_context(|| format!("the text of {key} in {entry}"))?;
        texts.insert(key.to_owned(), text.to_owned());
    }
    Ok(texts)
}

/// Strikes one fault at its time and undoes it when it ends.
async fn strike(cluster: Arc<Cluster>, fault: Fault, start: Instant) -> anyhow::Result<Struck> {
    tokio::time::sleep_until(start + fault.at).await;
    let from = start.elapsed();
    let link = |target: Target| match target {
        Target::PostgresLink(r) => Some(&cluster.replicas[r].postgres_link),
        Target::RedisLink(r) => Some(&cluster.replicas[r].redis_link),
        _ => None,
    };
    match (fault.target, fault.action) {
        (Target::Replica(r), _) => cluster.replicas[r].kill(),
        (Target::Postgres, _) => {
            let cluster = cluster.clone();
            tokio::task::spawn_blocking(move || cluster.postgres.crash()).await?;
        }
        (Target::Redis, Action::Kill) => cluster.redis.kill(),
        (Target::Redis, _) => cluster.redis.freeze(),
        (target, Action::Delay(delay)) => link(target)
            .expect("a link")
            .set(mcp_config_tests::proxy::Fault::Delay(delay)),
        (target, Action::Blackhole) => link(target)
            .expect("a link")
            .set(mcp_config_tests::proxy::Fault::Blackhole),
        (target, _) => link(target).expect("a link").reset_all(),
    }
    tokio::time::sleep(fault.hold).await;
    let until = start.elapsed();
    match (fault.target, fault.action) {
        (Target::Replica(r), _) => cluster.replicas[r].spawn()?,
        (Target::Postgres, _) => {
            let cluster = cluster.clone();
            tokio::task::spawn_blocking(move || cluster.postgres.resume()).await?;
        }
        (Target::Redis, Action::Kill) => {
            let cluster = cluster.clone();
            tokio::task::spawn_blocking(move || cluster.redis.resume()).await?;
        }
        (Target::Redis, _) => cluster.redis.thaw(),
        (_, Action::Reset) => {}
        (target, _) => link(target)
            .expect("a link")
            .set(mcp_config_tests::proxy::Fault::None),
    }
    Ok(Struck { fault, from, until })
}

/// Waits, once every fault has ended, until each part shows the final state; returns how long
/// each took.
async fn converge(
    cluster: &Cluster,
    admins: &[String],
    observed: &Shared,
    python: bool,
    bound: Duration,
) -> anyhow::Result<Vec<(String, Option<Duration>)>> {
    let healed = Instant::now();
    let mut names: Vec<String> = cluster
        .replicas
        .iter()
        .map(|r| {
            format!(
                "replica {} ready, relay lag 0, serving the final view",
                r.index
            )
        })
        .collect();
    names.extend([
        "Watch follower at the last revision".to_owned(),
        "Rust client (Redis) serving the final view".to_owned(),
    ]);
    if python {
        names.push("Python client (Watch) serving the final view".to_owned());
    }
    let mut done: Vec<Option<Duration>> = vec![None; names.len()];
    while healed.elapsed() < bound && done.iter().any(Option::is_none) {
        let Ok(truth) = truth(&admins[0]).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let latest = change_log(&admins[0], 0)
            .await
            .ok()
            .and_then(|log| log.keys().max().copied());
        for (i, replica) in cluster.replicas.iter().enumerate() {
            if done[i].is_none()
                && replica.ready().await
                && relay_lag(&replica.url("/metrics")).await == Some(0)
                && workload::replica_view(replica.grpc).await.as_ref() == Some(&truth)
            {
                done[i] = Some(healed.elapsed());
            }
        }
        let n = cluster.replicas.len();
        let (watched, rust, python) = {
            let o = observed.lock().expect("observations lock");
            (
                o.watched.last().copied(),
                o.rust_view.clone(),
                o.python_view.clone(),
            )
        };
        let checks = [
            latest.is_some() && watched == latest,
            rust.as_ref() == Some(&truth),
            python.as_ref() == Some(&truth),
        ];
        for (offset, holds) in checks.into_iter().enumerate().take(names.len() - n) {
            if done[n + offset].is_none() && holds {
                done[n + offset] = Some(healed.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(names.into_iter().zip(done).collect())
}

async fn relay_lag(metrics_url: &str) -> Option<u64> {
    let text = reqwest::get(metrics_url).await.ok()?.text().await.ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("mcp_config_relay_lag "))
        .and_then(|value| value.trim().parse::<f64>().ok())
        .map(|lag| lag as u64)
}

type Judged = (Vec<(&'static str, Tally)>, invariants::Reconnections);

fn judge(
    observed: &Observed,
    log: &BTreeMap<u64, String>,
    truth: &Texts,
    struck: &[Struck],
    convergence: &[(String, Option<Duration>)],
    bound: Duration,
) -> Judged {
    let revisions: BTreeSet<u64> = log.keys().copied().collect();
    let mut acknowledged = invariants::acks_in_log(&observed.acks, log);
    // The newest acknowledged write of each entry is what the store holds, unless a later
    // write (one whose answer was lost) replaced it.
    let mut newest: HashMap<&str, &invariants::Ack> = HashMap::new();
    for ack in &observed.acks {
        let slot = newest.entry(ack.key.as_str()).or_insert(ack);
        if ack.revision > slot.revision {
            *slot = ack;
        }
    }
    for (key, ack) in newest {
        let replaced = log.range(ack.revision + 1..).any(|(_, k)| k == key);
        acknowledged.check(replaced || truth.get(key) == Some(&ack.text), || {
            format!(
                "{key}: the store holds {:?}, not the acknowledged {:?} (r{})",
                truth.get(key),
                ack.text,
                ack.revision
            )
        });
    }
    let watch = invariants::complete_sequence(&observed.watched, &revisions);
    let (raw, missed) = invariants::subscriber_sequence(&observed.subscribed, &revisions);
    let rust = invariants::never_older_than_told(&observed.rust_reads);
    let python = invariants::never_older_than_told(&observed.python_reads);
    let readiness = readiness(&observed.readiness, struck, &observed.acked_at);
    let mut converged = Tally::default();
    for (name, at) in convergence {
        converged.check(at.is_some(), || format!("{name}: not within {bound:?}"));
    }
    let mut answered = observed.answers.clone();
    answered.checks += observed.writes.values().sum::<u64>();
    (
        vec![
            (
                "every acknowledged write is in the change log and the store",
                acknowledged,
            ),
            (
                "a Watch from the start sees every revision once, in order",
                watch,
            ),
            (
                "one Redis connection carries each revision once, in order",
                raw,
            ),
            (
                "the Rust client never serves as current a view older than a change it heard",
                rust,
            ),
            (
                "the Python client never serves as current a view older than a change it heard",
                python,
            ),
            ("no error besides 503 / UNAVAILABLE", answered),
            (
                "/readyz is not ready while PostgreSQL is unreachable or the relay is stuck",
                readiness,
            ),
            ("everything converges once the faults end", converged),
        ],
        missed,
    )
}

/// Every probe sent and answered inside an outage (after the grace) said not ready: PostgreSQL
/// stopped (every replica) or a replica's link to it blackholed (that replica): the store is
/// unreachable; Redis killed or frozen: the relay cannot publish, so once a change committed
/// during the outage has waited longer than the relay bound, it is stuck (every replica). A
/// Redis outage with no such change (PostgreSQL down too) leaves nothing waiting: ready is right.
fn readiness(samples: &[ReadySample], struck: &[Struck], acked_at: &[Duration]) -> Tally {
    let mut tally = Tally::default();
    let relay_stuck = Duration::from_secs(crate::cluster::RELAY_STUCK_SECS);
    for outage in struck {
        let (affected, after): (&dyn Fn(usize) -> bool, Duration) =
            match (outage.fault.target, outage.fault.action) {
                (Target::Postgres, _) => (&|_| true, READINESS_GRACE),
                (Target::PostgresLink(r), Action::Blackhole) => {
                    (&move |replica| replica == r, READINESS_GRACE)
                }
                (Target::Redis, _) => (&|_| true, relay_stuck + READINESS_GRACE),
                _ => continue,
            };
        let from = outage.from + after;
        for sample in samples {
            let waiting = outage.fault.target != Target::Redis
                || acked_at.iter().any(|at| {
                    *at >= outage.from && *at + relay_stuck + READINESS_GRACE <= sample.sent
                });
            if waiting
                && affected(sample.replica)
                && sample.sent >= from
                && sample.answered <= outage.until
            {
                tally.check(sample.ready != Some(true), || {
                    format!(
                        "replica {} said ready at {:.1}s, during {}",
                        sample.replica,
                        sample.sent.as_secs_f64(),
                        outage.fault
                    )
                });
            }
        }
    }
    tally
}
