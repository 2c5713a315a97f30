//! Change propagation: replicas on one PostgreSQL and one Redis, raw Redis subscribers, Redis
//! outages, and the Watch stream.

use std::{sync::Arc, time::Duration};

use fred::prelude::{ClientLike, EventInterface, PubsubInterface};
use mcp_config_proto::v1::{InvalidationEvent, WatchRequest};
use mcp_config_tests::{
    eventually,
    postgres::Postgres,
    redis::Redis,
    service::{EXAMPLE_BUNDLE, Service, next_event, prompts, settings, sqlite_url},
};
use serde_json::{Value, json};
use tokio::sync::Mutex;
use tonic::Code;

const WAIT: Duration = Duration::from_secs(10);

/// Messages received on the invalidation channel by a plain Redis subscriber.
struct RawSubscriber {
    messages: Arc<Mutex<Vec<Value>>>,
    _client: fred::clients::SubscriberClient,
}

impl RawSubscriber {
    async fn start(url: &str) -> Self {
        let config = fred::prelude::Config::from_url(url).unwrap();
        let mut builder = fred::prelude::Builder::from_config(config);
        builder.set_policy(fred::prelude::ReconnectPolicy::new_constant(0, 20));
        let client = builder.build_subscriber_client().unwrap();
        client.init().await.unwrap();
        client.manage_subscriptions();
        let messages = Arc::new(Mutex::new(Vec::new()));
        let mut rx = client.message_rx();
        let sink = messages.clone();
        tokio::spawn(async move {
            while let Ok(message) = rx.recv().await {
                let text: String = message.value.convert().unwrap();
                let event: Value = serde_json::from_str(&text).unwrap();
                // The relay's progress announcements (no server) are not changes.
                if event["server"].as_str().is_some_and(|s| !s.is_empty()) {
                    sink.lock().await.push(event);
                }
            }
        });
        client.subscribe("mcp-config:invalidations").await.unwrap();
        Self {
            messages,
            _client: client,
        }
    }

    async fn revisions(&self) -> Vec<u64> {
        self.messages
            .lock()
            .await
            .iter()
            .map(|m| m["revision"].as_str().unwrap().parse().unwrap())
            .collect()
    }
}

async fn first_message(service: &Service, org: &str, prompt: &str) -> String {
    let mut grpc = service.grpc().await;
    let view = grpc
        .get_prompts(prompts(org, "github"))
        .await
        .unwrap()
        .into_inner();
    view.prompts
        .iter()
        .find(|p| p.name == prompt)
        .map(|p| p.messages[0].text.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn a_write_through_one_replica_reaches_the_others_and_raw_subscribers() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let redis = Redis::start();
    let database = pg.database();
    let a = Service::start(settings(&database, Some(&redis.url()))).await;
    let b = Service::start(settings(&database, Some(&redis.url()))).await;
    let c = Service::start(settings(&database, Some(&redis.url()))).await;
    let raw = RawSubscriber::start(&redis.url()).await;

    a.import(EXAMPLE_BUNDLE).await;
    // Warm B's and C's caches with the current view.
    for replica in [&b, &c] {
        assert!(
            first_message(replica, "acme", "review-pr")
                .await
                .contains("Acme's checklist")
        );
    }
    let written = a
        .api()
        .put_text_prompt(
            "acme",
            "github",
            "review-pr",
            "Acme reviews, second edition",
        )
        .await;
    assert_eq!(written.status(), 200);
    for replica in [&b, &c] {
        let seen = eventually(WAIT, || async {
            first_message(replica, "acme", "review-pr").await == "Acme reviews, second edition"
        })
        .await;
        assert!(seen, "a replica still serves the old prompt");
    }
    // A default changed through B reaches every org's view on C.
    assert_eq!(
        b.api()
            .put_text_prompt("", "github", "release-notes", "Notes v2")
            .await
            .status(),
        200
    );
    let seen = eventually(WAIT, || async {
        first_message(&c, "globex", "release-notes").await == "Notes v2"
    })
    .await;
    assert!(seen, "globex on C still sees the old default");

    let latest = a.latest_revision().await.unwrap();
    assert!(
        eventually(WAIT, || async {
            raw.revisions().await.last() == Some(&latest)
        })
        .await
    );
    let revisions = raw.revisions().await;
    let expected: Vec<u64> = (1..=latest).collect();
    assert_eq!(revisions, expected, "every revision once, in order");
    let messages = raw.messages.lock().await;
    let acme = &messages[messages.len() - 2];
    assert_eq!(acme["orgId"], "acme");
    assert_eq!(acme["server"], "github");
    assert_eq!(acme["kind"], "PROMPTS");
    assert_eq!(acme["keys"], json!(["review-pr"]));
    assert_eq!(
        acme["previousRevision"].as_str().unwrap(),
        (latest - 2).to_string()
    );
    let default = &messages[messages.len() - 1];
    assert_eq!(default["orgId"], "", "a default's event has an empty org");
}

#[tokio::test]
async fn redis_down_loses_no_event_and_reads_keep_working() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let redis = Redis::start();
    let database = pg.database();
    let mut impatient = settings(&database, Some(&redis.url()));
    impatient.propagation.relay_stuck_secs = 1;
    let a = Service::start(impatient).await;
    let b = Service::start(settings(&database, Some(&redis.url()))).await;
    a.import(EXAMPLE_BUNDLE).await;
    let before: Value = reqwest::get(a.admin("/changes?limit=1000"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let before = before["next_after"].as_u64().unwrap();
    assert!(
        first_message(&b, "acme", "review-pr")
            .await
            .contains("Acme")
    );

    // Everything so far is published; what follows is written during the outage.
    a.wait_until_published().await;
    redis.kill();
    for i in 1..=3 {
        let written = a
            .api()
            .put_text_prompt(
                "acme",
                "github",
                "review-pr",
                &format!("during the outage {i}"),
            )
            .await;
        assert_eq!(written.status(), 200, "writes go on without Redis");
    }
    // Reads keep working on both replicas, from L1 or from the store.
    assert!(!first_message(&a, "globex", "review-pr").await.is_empty());
    // B heard none of the outage's writes, and its L1 held acme's view: it took the lost
    // connection for a cut and reads the store, well before its silence bound (3 × the default
    // 5 s progress, above WAIT) would have told it.
    assert!(
        eventually(WAIT, || async {
            first_message(&b, "acme", "review-pr").await == "during the outage 3"
        })
        .await,
        "B served the view from before the outage while Redis was down"
    );

    // Changes waiting longer than the bound make the replica report not ready (relay stuck).
    let readiness = || async {
        reqwest::get(a.url("/readyz"))
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };
    assert!(
        eventually(WAIT, || async { readiness().await["relay"] == false }).await,
        "relay reported stuck"
    );

    redis.resume();
    let raw = RawSubscriber::start(&redis.url()).await;
    let expected: Vec<u64> = (before + 1..=before + 3).collect();
    let all_published = eventually(Duration::from_secs(20), || async {
        raw.revisions().await == expected
    })
    .await;
    assert!(
        all_published,
        "after the outage: {:?}, wanted {expected:?}",
        raw.revisions().await
    );
    let seen = eventually(WAIT, || async {
        first_message(&b, "acme", "review-pr").await == "during the outage 3"
    })
    .await;
    assert!(seen, "B resynced after Redis came back");
    assert!(
        eventually(WAIT, || async { readiness().await["ready"] == true }).await,
        "ready again"
    );
}

#[tokio::test]
async fn watch_replays_from_a_revision_then_goes_live_with_filters() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let mut grpc = service.grpc().await;

    let mut all = grpc
        .watch(WatchRequest {
            since_revision: 2,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let third = next_event(&mut all).await;
    assert_eq!((third.revision, third.previous_revision), (3, 2));

    let mut globex = grpc
        .watch(WatchRequest {
            since_revision: 1,
            orgs: vec!["globex".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        service
            .api()
            .put_text_prompt("globex", "github", "review-pr", "live")
            .await
            .status(),
        200
    );
    let mut seen = Vec::new();
    let live = loop {
        let event = next_event(&mut globex).await;
        assert!(
            event.org_id.is_empty() || event.org_id == "globex",
            "the filter let {event:?} through"
        );
        seen.push(event.org_id.clone());
        if event.keys == ["review-pr"] && event.org_id == "globex" {
            break event;
        }
    };
    assert!(
        seen.iter().any(String::is_empty),
        "defaults' events pass the org filter"
    );
    assert_eq!(
        seen.iter().filter(|o| *o == "globex").count(),
        3,
        "globex's two hides, then the live write"
    );

    // The unfiltered stream has every revision, in order, with no gaps.
    let mut last = third.revision;
    while last < live.revision {
        let event = next_event(&mut all).await;
        assert_eq!(event.revision, last + 1);
        last = event.revision;
    }
}

#[tokio::test]
async fn watch_from_a_pruned_revision_is_out_of_range() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path());
    let service = Service::start(settings(&url, None)).await;
    service.import(EXAMPLE_BUNDLE).await;
    let store = mcp_config::store::Store::connect(&url, 1).await.unwrap();
    assert!(
        eventually(WAIT, || async {
            store.unpublished(0, 1).await.unwrap().is_empty()
        })
        .await
    );
    // Published, and once the webhooks' fan-out has passed them, pruned.
    assert!(
        eventually(WAIT, || async {
            store.prune_changes(i64::MAX).await.unwrap() > 0
        })
        .await
    );

    let mut grpc = service.grpc().await;
    let status = grpc
        .watch(WatchRequest {
            since_revision: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    let latest = store.latest_revision().await.unwrap();
    assert!(
        grpc.watch(WatchRequest {
            since_revision: latest - 1,
            ..Default::default()
        })
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn a_subscriber_told_of_a_change_reads_the_new_view_from_the_publishing_replica() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite_with_redis(&dir, &redis).await;
    service.import(EXAMPLE_BUNDLE).await;
    service.wait_until_published().await;

    // An MCP server's reaction to an event: read the view again, at once.
    let subscriber =
        fred::prelude::Builder::from_config(fred::prelude::Config::from_url(&redis.url()).unwrap())
            .build_subscriber_client()
            .unwrap();
    subscriber.init().await.unwrap();
    let mut messages = subscriber.message_rx();
    let mut grpc = service.grpc().await;
    let request = prompts("acme", "github");
    let reads = Arc::new(Mutex::new(Vec::new()));
    let recorded = reads.clone();
    let reader = tokio::spawn(async move {
        while let Ok(message) = messages.recv().await {
            let text: String = message.value.convert().unwrap();
            let event = InvalidationEvent::from_json(&text).unwrap();
            let view = grpc
                .get_prompts(request.clone())
                .await
                .unwrap()
                .into_inner();
            recorded.lock().await.push((event.revision, view.revision));
        }
    });
    subscriber
        .subscribe("mcp-config:invalidations")
        .await
        .unwrap();

    for round in 0..20 {
        // Warm the cache with the current view, then change it.
        first_message(&service, "acme", "review-pr").await;
        let response = service
            .api()
            .put_text_prompt("acme", "github", "review-pr", &format!("round {round}"))
            .await;
        assert!(response.status().is_success());
        assert!(
            eventually(WAIT, || async { reads.lock().await.len() > round }).await,
            "event {round} arrived"
        );
    }
    reader.abort();
    for (event, view) in reads.lock().await.iter() {
        assert!(
            view >= event,
            "told of revision {event}, the replica still served revision {view}"
        );
    }
}

#[tokio::test]
async fn a_watcher_told_of_a_change_reads_the_new_view() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let mut grpc = service.grpc().await;
    let mut stream = grpc
        .watch(WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    let request = prompts("acme", "github");
    for round in 0..20 {
        first_message(&service, "acme", "review-pr").await;
        let response = service
            .api()
            .put_text_prompt("acme", "github", "review-pr", &format!("round {round}"))
            .await;
        assert!(response.status().is_success());
        let event = next_event(&mut stream).await;
        let view = grpc
            .get_prompts(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(
            view.revision >= event.revision,
            "told of revision {}, still served revision {}",
            event.revision,
            view.revision
        );
    }
}

/// The backends holding the relay's advisory lock.
async fn relay_lock_holders(db: &sqlx::PgPool) -> Vec<i32> {
    sqlx::query_scalar("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted")
        .fetch_all(db)
        .await
        .unwrap()
}

/// The latest revision, once every change is published.
async fn published_through(service: &Service) -> u64 {
    service.wait_until_published().await;
    service.latest_revision().await.unwrap()
}

#[tokio::test]
async fn the_leader_publishes_another_replicas_commit_at_once_not_at_its_poll() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let redis = Redis::start();
    let database = pg.database();
    // A poll far beyond the test's patience: only a commit's announcement can wake the leader.
    let slow_poll = |database: &str| {
        let mut settings = settings(database, Some(&redis.url()));
        settings.propagation.relay_poll_ms = 600_000;
        settings
    };
    let db = sqlx::PgPool::connect(&database).await.unwrap();
    let leader = Service::start(slow_poll(&database)).await;
    assert!(
        eventually(WAIT, || async { relay_lock_holders(&db).await.len() == 1 }).await,
        "the first replica did not take the relay's lock"
    );
    let follower = Service::start(slow_poll(&database)).await;
    let raw = RawSubscriber::start(&redis.url()).await;

    follower.import(EXAMPLE_BUNDLE).await;
    assert_eq!(
        follower
            .api()
            .put_text_prompt("acme", "github", "review-pr", "From the follower")
            .await
            .status(),
        200
    );
    let latest = published_through(&follower).await;
    assert!(
        eventually(WAIT, || async {
            raw.revisions().await.last() == Some(&latest)
        })
        .await
    );
    assert_eq!(raw.revisions().await, (1..=latest).collect::<Vec<_>>());
    assert_eq!(
        first_message(&leader, "acme", "review-pr").await,
        "From the follower"
    );
    assert_eq!(relay_lock_holders(&db).await.len(), 1, "one leader only");
}

#[tokio::test]
async fn leadership_moves_when_its_replica_stops_and_when_its_connection_dies() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let redis = Redis::start();
    let database = pg.database();
    let db = sqlx::PgPool::connect(&database).await.unwrap();
    let first = Service::start(settings(&database, Some(&redis.url()))).await;
    assert!(eventually(WAIT, || async { relay_lock_holders(&db).await.len() == 1 }).await);
    let first_holder = relay_lock_holders(&db).await[0];
    let second = Service::start(settings(&database, Some(&redis.url()))).await;
    let raw = RawSubscriber::start(&redis.url()).await;
    second.import(EXAMPLE_BUNDLE).await;
    published_through(&second).await;

    // The leading replica stops: the other one takes over.
    first.stop().await;
    assert_eq!(
        second
            .api()
            .put_text_prompt("acme", "github", "review-pr", "After the leader left")
            .await
            .status(),
        200
    );
    published_through(&second).await;
    let holders = relay_lock_holders(&db).await;
    assert!(
        holders.len() == 1 && holders[0] != first_holder,
        "the remaining replica did not take the lock: {holders:?}"
    );

    // The new leader's lock connection dies (a database proxy's failover, an idle reaper): the
    // lock goes with it; the relay notices at its next round and takes it again.
    let terminated: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(holders[0])
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(terminated);
    assert_eq!(
        second
            .api()
            .put_text_prompt("acme", "github", "review-pr", "After the lost lock")
            .await
            .status(),
        200
    );
    let latest = published_through(&second).await;
    let now = relay_lock_holders(&db).await;
    assert!(
        now.len() == 1 && now[0] != holders[0],
        "the relay did not take the lock again: {now:?}"
    );
    assert!(
        eventually(WAIT, || async {
            raw.revisions().await.last() == Some(&latest)
        })
        .await
    );
    let mut revisions = raw.revisions().await;
    assert!(
        revisions.is_sorted(),
        "published out of order: {revisions:?}"
    );
    revisions.dedup();
    assert_eq!(
        revisions,
        (1..=latest).collect::<Vec<_>>(),
        "every revision"
    );
    assert_eq!(
        first_message(&second, "acme", "review-pr").await,
        "After the lost lock"
    );
}

#[tokio::test]
async fn concurrent_writes_are_published_once_each_in_revision_order() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let redis = Redis::start();
    let database = pg.database();
    let service = Service::start(settings(&database, Some(&redis.url()))).await;
    let raw = RawSubscriber::start(&redis.url()).await;
    service.import(EXAMPLE_BUNDLE).await;
    service.wait_until_published().await;

    // Writers race: their commits reach the relay in any order, some while it is publishing.
    let writes = (0..24).map(|i| {
        let service = &service;
        async move {
            let org = ["acme", "globex", ""][i % 3];
            service
                .api()
                .put_text_prompt(org, "github", &format!("race-{i}"), &format!("text {i}"))
                .await
        }
    });
    for response in futures::future::join_all(writes).await {
        assert_eq!(response.status(), 200);
    }
    let latest = published_through(&service).await;
    assert!(
        eventually(WAIT, || async {
            raw.revisions().await.last() == Some(&latest)
        })
        .await
    );
    assert_eq!(
        raw.revisions().await,
        (1..=latest).collect::<Vec<_>>(),
        "every revision once, in order"
    );
}

/// A quiet Watch stream says where it stands, so a client can tell "no changes" from "cut off".
#[tokio::test]
async fn a_quiet_watch_stream_sends_progress_at_the_latest_revision() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = settings(&sqlite_url(dir.path()), None);
    config.propagation.watch_progress_secs = 1;
    let service = Service::start(config).await;
    service.import(EXAMPLE_BUNDLE).await;
    let latest = service.latest_revision().await.unwrap();
    let mut stream = service
        .grpc()
        .await
        .watch(WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    let progress = next_event(&mut stream).await;
    assert_eq!(
        progress,
        InvalidationEvent {
            revision: latest,
            previous_revision: latest,
            ..Default::default()
        },
        "no change, only where the stream stands"
    );
}

/// A Watch stream filtered to one org chains `previous_revision` through the events it sends
/// and reports progress at the last of them: other orgs' changes are not gaps for its reader
/// (which would otherwise take each one as a missed event and flush every view).
#[tokio::test]
async fn a_filtered_watch_stream_has_no_gaps_for_its_reader() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = settings(&sqlite_url(dir.path()), None);
    config.propagation.watch_progress_secs = 1;
    let service = Service::start(config).await;
    service.import(EXAMPLE_BUNDLE).await;
    let start = service.latest_revision().await.unwrap();
    let mut stream = service
        .grpc()
        .await
        .watch(WatchRequest {
            orgs: vec!["acme".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    for org in ["acme", "globex", "acme", "globex"] {
        assert!(
            service
                .api()
                .put_text_prompt(org, "github", "review-pr", org)
                .await
                .status()
                .is_success()
        );
    }
    let first = next_event(&mut stream).await;
    let second = next_event(&mut stream).await;
    assert_eq!(
        (first.revision, first.previous_revision),
        (start + 1, start)
    );
    assert_eq!(
        (second.revision, second.previous_revision),
        (start + 3, start + 1),
        "globex's change in between is not a gap"
    );
    let progress = next_event(&mut stream).await;
    assert_eq!(
        (
            progress.revision,
            progress.previous_revision,
            progress.server.as_str()
        ),
        (start + 3, start + 3, ""),
        "progress at the last event sent, not at globex's later change"
    );
}
