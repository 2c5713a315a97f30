//! Redis as production runs it, started for real: a 3-master Cluster (views cached in their
//! server's slot, changes on sharded per-server channels) and a Sentinel group failing over in
//! the middle of a stream of writes, with two replicas on one PostgreSQL.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use fred::{
    clients::SubscriberClient,
    prelude::{ClientLike, EventInterface, HashesInterface, PubsubInterface},
};
use mcp_config_client::{ClientConfig, ConfigClient, Source, ViewKind};
use mcp_config_proto::v1::WatchRequest;
use mcp_config_tests::{
    eventually,
    postgres::Postgres,
    redis::Redis,
    redis_cluster::RedisCluster,
    redis_sentinel::RedisSentinel,
    service::{EXAMPLE_BUNDLE, Service, next_event, prompts, settings_with, sqlite_url},
};
use serde_json::Value;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// Far above a failover (a second to notice, a second or two to agree and promote) and the
/// relay's longest backoff (5 s): reaching it means the thing never happened.
const WAIT: Duration = Duration::from_secs(60);
const CHANNEL: &str = "mcp-config:invalidations";
const GITHUB_CHANNEL: &str = "mcp-config:invalidations:github";

/// Events heard on one channel by a plain subscriber that resubscribes after a reconnection:
/// changes, and the relay's progress announcements apart.
struct Heard {
    events: Arc<Mutex<Vec<Value>>>,
    progress: Arc<Mutex<Vec<Value>>>,
    _client: SubscriberClient,
}

impl Heard {
    /// `sharded`: `SSUBSCRIBE` (a server's channel on a Cluster) rather than `SUBSCRIBE`.
    async fn start(url: &str, channel: &str, sharded: bool) -> Self {
        let config = fred::prelude::Config::from_url(url).unwrap();
        let mut builder = fred::prelude::Builder::from_config(config);
        builder.set_policy(fred::prelude::ReconnectPolicy::new_constant(0, 50));
        let client = builder.build_subscriber_client().unwrap();
        client.init().await.unwrap();
        client.manage_subscriptions();
        let events = Arc::new(Mutex::new(Vec::new()));
        let progress = Arc::new(Mutex::new(Vec::new()));
        let mut rx = client.message_rx();
        let (changes_sink, progress_sink) = (events.clone(), progress.clone());
        tokio::spawn(async move {
            while let Ok(message) = rx.recv().await {
                let text: String = message.value.convert().unwrap();
                let event: Value = serde_json::from_str(&text).unwrap();
                if event["server"].as_str().is_some_and(|s| !s.is_empty()) {
                    changes_sink.lock().await.push(event);
                } else {
                    progress_sink.lock().await.push(event);
                }
            }
        });
        if sharded {
            client.ssubscribe(channel).await.unwrap();
        } else {
            client.subscribe(channel).await.unwrap();
        }
        Self {
            events,
            progress,
            _client: client,
        }
    }

    async fn revisions(&self) -> Vec<u64> {
        self.events
            .lock()
            .await
            .iter()
            .map(|e| e["revision"].as_str().unwrap().parse().unwrap())
            .collect()
    }

    async fn heard(&self, revision: u64) -> bool {
        self.revisions().await.contains(&revision)
    }
}

/// The text of `acme`'s `review-pr` as the service answers it.
/// A plain client of the Redis at `url` (one node or a Cluster), connected.
async fn connected(url: &str) -> fred::clients::Client {
    let client = fred::prelude::Builder::from_config(fred::prelude::Config::from_url(url).unwrap())
        .build()
        .unwrap();
    client.init().await.unwrap();
    client
}

/// Reads acme's github prompts once and waits until the view is in its L2 hash.
async fn assert_read_and_cached(service: &Service, redis: &fred::clients::Client, hash: &str) {
    assert!(served_text(service).await.contains("Acme's checklist"));
    let cached = eventually(WAIT, || async {
        redis.hexists::<bool, _, _>(hash, "acme").await.unwrap()
    })
    .await;
    assert!(cached, "the view is not in L2");
}

async fn served_text(service: &Service) -> String {
    let view = service.prompts_of("acme", "github").await;
    review_pr(view.prompts.iter())
}

/// The text of `acme`'s `review-pr` as the client reads it; `None` if the read failed or was
/// served stale (the service unreachable).
async fn client_text(client: &ConfigClient) -> Option<String> {
    let view = client.prompts("acme", "github").await.ok()?;
    view.stale.is_none().then(|| review_pr(view.items.iter()))
}

fn review_pr<'a>(mut prompts: impl Iterator<Item = &'a mcp_config_proto::v1::Prompt>) -> String {
    prompts
        .find(|p| p.name == "review-pr")
        .map(|p| p.messages[0].text.clone())
        .unwrap_or_default()
}

/// A client of `service` invalidated from Redis at `url`, following `servers`' channels (none:
/// the global one), taking 3 s of silence as a cut (the relay announces every second).
///
/// These tests hold that a Redis failure never makes the client serve stale while the service
/// answers; the read budget (C-STALE-4: a slow answer traded for the cached view, stale) is
/// therefore the call timeout here, so that an answer slowed by a loaded machine is waited for
/// rather than counted as Redis's fault.
async fn redis_client(service: &Service, url: &str, servers: &[&str]) -> ConfigClient {
    let config = ClientConfig::new(format!("http://{}", service.grpc_addr));
    ConfigClient::connect(ClientConfig {
        source: Source::Redis {
            url: url.to_owned(),
            channel: CHANNEL.into(),
        },
        servers: servers.iter().map(|s| (*s).to_owned()).collect(),
        silence: Duration::from_secs(3),
        read_budget: config.timeout,
        ..config
    })
    .await
    .unwrap()
}

/// How many subscribers `channel` has on the Cluster (a shard channel lives on one node).
async fn shard_subscribers(cluster: &RedisCluster, channel: &str) -> usize {
    let ports = cluster.ports().to_vec();
    let channel = channel.to_owned();
    tokio::task::spawn_blocking(move || {
        ports
            .iter()
            .map(|port| {
                let out = std::process::Command::new("redis-cli")
                    .args(["-h", "127.0.0.1", "-p", &port.to_string()])
                    .args(["pubsub", "shardnumsub", &channel])
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                text.lines()
                    .nth(1)
                    .and_then(|n| n.trim().parse::<usize>().ok())
                    .unwrap_or(0)
            })
            .sum()
    })
    .await
    .unwrap()
}

/// Runs `act` on the group off the async workers (it waits on processes).
async fn blocking<T: Send + 'static>(
    group: &Arc<RedisSentinel>,
    act: impl FnOnce(&RedisSentinel) -> T + Send + 'static,
) -> T {
    let group = group.clone();
    tokio::task::spawn_blocking(move || act(&group))
        .await
        .unwrap()
}

#[tokio::test]
async fn on_a_cluster_views_are_cached_in_their_servers_slot_and_changes_reach_shard_subscribers() {
    let cluster = tokio::task::spawn_blocking(RedisCluster::start)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let service = Service::start(settings_with(
        &sqlite_url(dir.path()),
        Some(&cluster.url()),
        &["--watch-progress-secs=1"],
    ))
    .await;
    service.import(EXAMPLE_BUNDLE).await;
    service.wait_until_published().await;

    // A read puts the view in L2, in the hash of (github, prompts), in the slot of github's
    // channel.
    let hash = "{mcp-config:invalidations:github}:views:PROMPTS";
    assert_eq!(
        fred::util::redis_keyslot(hash.as_bytes()),
        fred::util::redis_keyslot(GITHUB_CHANNEL.as_bytes())
    );
    let redis = connected(&cluster.url()).await;
    assert_read_and_cached(&service, &redis, hash).await;

    let sharded = Heard::start(&cluster.url(), GITHUB_CHANNEL, true).await;
    let global = Heard::start(&cluster.url(), CHANNEL, false).await;
    let client = redis_client(&service, &cluster.url(), &["github"]).await;
    assert!(
        client_text(&client)
            .await
            .unwrap()
            .contains("Acme's checklist")
    );
    let mut changes = client.changes();
    // The raw subscriber and the client: both on github's shard before anything is written.
    let subscribed = eventually(WAIT, || async {
        shard_subscribers(&cluster, GITHUB_CHANNEL).await >= 2
    })
    .await;
    assert!(
        subscribed,
        "the client never subscribed to github's shard channel"
    );

    let written = service
        .api()
        .put_text_prompt("acme", "github", "review-pr", "Acme reviews, sharded")
        .await;
    assert_eq!(written.status(), 200);
    let revision = service.latest_revision().await.unwrap();

    assert!(
        eventually(WAIT, || sharded.heard(revision)).await,
        "github's shard channel did not carry the change"
    );
    assert!(
        eventually(WAIT, || global.heard(revision)).await,
        "the global channel did not carry the change"
    );
    let event = sharded.events.lock().await.last().cloned().unwrap();
    assert_eq!(event["orgId"], "acme");
    assert_eq!(event["server"], "github");

    let changed = tokio::time::timeout(WAIT, changes.recv())
        .await
        .expect("the client announces the change")
        .unwrap();
    assert_eq!(
        (changed.org.as_str(), changed.server.as_str(), changed.kind),
        ("acme", "github", ViewKind::Prompts)
    );
    assert_eq!(
        client_text(&client).await.as_deref(),
        Some("Acme reviews, sharded")
    );
    let fence: Option<String> = redis.hget(hash, "#fence").await.unwrap();
    assert_eq!(
        fence,
        Some(revision.to_string()),
        "the publish script raised the fence of github's hash"
    );
    assert_eq!(served_text(&service).await, "Acme reviews, sharded");

    // The relay's progress on github's channel is sharded too, at github's last revision.
    let announced = eventually(WAIT, || async {
        sharded
            .progress
            .lock()
            .await
            .iter()
            .any(|p| p["revision"].as_str() == Some(revision.to_string().as_str()))
    })
    .await;
    assert!(announced, "no progress on github's shard channel");
}

#[tokio::test]
async fn a_sentinel_failover_during_writes_loses_no_event_and_readers_keep_answering() {
    let group = Arc::new(
        tokio::task::spawn_blocking(RedisSentinel::start)
            .await
            .unwrap(),
    );
    let url = group.url();
    // Two replicas on one PostgreSQL: what `reader` serves after a write through `writer` is
    // up to date only if the event reached it through Redis (or it replayed what it missed).
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let database = pg.database();
    let replica = || settings_with(&database, Some(&url), &["--watch-progress-secs=1"]);
    let writer = Service::start(replica()).await;
    let reader = Service::start(replica()).await;
    writer.import(EXAMPLE_BUNDLE).await;
    writer.wait_until_published().await;
    let start = writer.latest_revision().await.unwrap();
    assert!(served_text(&reader).await.contains("Acme's checklist"));

    let raw = Heard::start(&url, CHANNEL, false).await;
    let client = Arc::new(redis_client(&reader, &url, &[]).await);
    let mut watch = reader
        .grpc()
        .await
        .watch(WatchRequest {
            since_revision: start,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    // Readers through the client and straight through gRPC, until the end.
    let stop = CancellationToken::new();
    let (reads, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut readers = Vec::new();
    for through_client in [true, false] {
        let (client, stop, reads, failures) = (
            client.clone(),
            stop.clone(),
            reads.clone(),
            failures.clone(),
        );
        let mut grpc = reader.grpc().await;
        let mut pace = tokio::time::interval(Duration::from_millis(10));
        readers.push(tokio::spawn(async move {
            while !stop.is_cancelled() {
                let answered = if through_client {
                    client_text(&client).await.is_some()
                } else {
                    grpc.get_prompts(prompts("acme", "github")).await.is_ok()
                };
                reads.fetch_add(1, Ordering::Relaxed);
                if !answered {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                pace.tick().await;
            }
        }));
    }

    // A steady stream of writes: some before the master dies, more while the sentinels fail
    // over, more after.
    let mut pace = tokio::time::interval(Duration::from_millis(100));
    let mut written = 0;
    let mut write = async |written: &mut u32| {
        pace.tick().await;
        *written += 1;
        let text = format!("Acme reviews, edition {written}");
        let response = writer
            .api()
            .put_text_prompt("acme", "github", "review-pr", &text)
            .await;
        assert_eq!(response.status(), 200, "writes do not need Redis");
    };
    for _ in 0..10 {
        write(&mut written).await;
    }
    blocking(&group, |group| group.kill_master()).await;
    // Until the sentinels name the replica as the master.
    let deadline = tokio::time::Instant::now() + WAIT;
    let promoted = Some(group.replica_port());
    while blocking(&group, |group| group.current_master_port()).await != promoted {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the sentinels did not fail over"
        );
        write(&mut written).await;
    }
    assert!(
        written > 10,
        "no write fell between the kill and the failover"
    );
    for _ in 0..10 {
        write(&mut written).await;
    }
    let last = format!("Acme reviews, edition {written}");
    let end = writer.latest_revision().await.unwrap();
    assert_eq!(end, start + u64::from(written));

    // Every change goes out through the new master: the outbox kept what could not be
    // published while there was none.
    writer.wait_until_published().await;
    assert!(
        eventually(WAIT, || raw.heard(end)).await,
        "a subscriber through Sentinel never heard the last change"
    );
    // In order; a change may come twice (its script ran on the old master, the reply was lost
    // with it, and the relay published it again through the new one).
    let revisions = raw.revisions().await;
    assert!(
        revisions.windows(2).all(|w| w[0] <= w[1]),
        "events out of order: {revisions:?}"
    );
    // Every revision reaches a Watch, once and in order.
    for expected in start + 1..=end {
        let change = loop {
            let event = next_event(&mut watch).await;
            if !event.server.is_empty() {
                break event;
            }
        };
        assert_eq!(change.revision, expected);
    }
    let converged = eventually(WAIT, || async {
        client_text(&client).await.as_deref() == Some(last.as_str())
    })
    .await;
    if !converged {
        let view = client.prompts("acme", "github").await;
        let seen = view
            .as_ref()
            .map(|v| (v.revision, v.stale, review_pr(v.items.iter())));
        panic!(
            "the client never converged to the last write ({last:?} at revision {end}): it \
             answers {seen:?} while the replica serves {:?}, status {:?}",
            served_text(&reader).await,
            client.status()
        );
    }
    assert!(
        eventually(WAIT, || async { served_text(&reader).await == last }).await,
        "the other replica never converged to the last write"
    );

    stop.cancel();
    for reader in readers {
        reader.await.unwrap();
    }
    assert!(reads.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "a read failed or was served stale while Redis failed over"
    );
}

#[tokio::test]
async fn after_a_reconnection_l2_serves_no_view_the_old_master_had_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start();
    let service = Service::chatty_example(&dir, &redis).await;
    let hash = "mcp-config:invalidations:views:PROMPTS:github";
    let l2 = connected(&redis.url()).await;
    assert_read_and_cached(&service, &l2, hash).await;
    let old_view: bytes::Bytes = l2.hget(hash, "acme").await.unwrap();
    let old_fence: String = l2.hget(hash, "#fence").await.unwrap();

    let written = service
        .api()
        .put_text_prompt(
            "acme",
            "github",
            "review-pr",
            "Acme reviews, after the failover",
        )
        .await;
    assert_eq!(written.status(), 200);
    service.wait_until_published().await;
    let latest = service.latest_revision().await.unwrap();
    // What a promoted replica that missed the relay's last drop holds: the old view under the
    // old fence.
    let _: i64 = l2
        .hset(
            hash,
            vec![
                ("acme", fred::types::Value::Bytes(old_view)),
                ("#fence", old_fence.into()),
            ],
        )
        .await
        .unwrap();
    // The subscriber's connection drops, as every connection does in a failover.
    let killed = std::process::Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &redis.port().to_string()])
        .args(["client", "kill", "type", "pubsub"])
        .output()
        .unwrap();
    assert!(killed.status.success());

    assert!(
        eventually(WAIT, || async {
            served_text(&service).await == "Acme reviews, after the failover"
        })
        .await,
        "the view the old master had dropped is served again"
    );
    let fence: String = l2.hget(hash, "#fence").await.unwrap();
    assert!(
        fence.parse::<u64>().unwrap() >= latest,
        "the fence is back up"
    );
}

/// A database restored to an earlier point (or another one on the same channel) meets fences in
/// Redis that its own changes never raised. Left standing, they would refuse its views and
/// swallow its events (the publish script takes an event at or below the fence for one already
/// published) until they expired: at its first subscription a replica drops every fence above
/// its store's newest revision.
#[tokio::test]
async fn a_fence_from_another_timeline_does_not_swallow_this_stores_events() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start();
    let redis_flag = format!("--redis-url={}", redis.url());
    let service = Service::sqlite_with(&dir, &[&redis_flag]).await;
    service.import(EXAMPLE_BUNDLE).await;
    service.wait_until_published().await;
    service.stop().await;
    // What a later timeline left behind: a fence far above anything this store holds.
    let hash = "mcp-config:invalidations:views:PROMPTS:github";
    let l2 = connected(&redis.url()).await;
    let _: i64 = l2.hset(hash, ("#fence", "1000000")).await.unwrap();

    let service = Service::sqlite_with(&dir, &[&redis_flag]).await;
    let raw = Heard::start(&redis.url(), "mcp-config:invalidations", false).await;
    let written = service
        .api()
        .put_text_prompt("acme", "github", "review-pr", "Written after the restore")
        .await;
    assert_eq!(written.status(), 200);
    let revision = service.latest_revision().await.unwrap();
    assert!(
        eventually(WAIT, || async {
            raw.events
                .lock()
                .await
                .iter()
                .any(|e| e["revision"].as_str().and_then(|r| r.parse().ok()) == Some(revision))
        })
        .await,
        "the event of r{revision} was swallowed by a foreign fence"
    );
    let fence: String = l2.hget(hash, "#fence").await.unwrap();
    assert!(fence.parse::<u64>().unwrap() <= revision, "fence {fence}");
}
