//! The shared cache in Redis (L2): a load that raced a change never stores the old view, and a
//! hung Redis (frozen with SIGSTOP: connections stay up, nothing answers) is read around.

use std::time::Duration;

use fred::prelude::ClientLike;

use mcp_config::{
    domain::{Kind, Label, Labels, Scope, Slug, ViewKey},
    propagation::{ChangeEvent, publisher::RedisPublisher},
    redis::{self, L2, L2Error, RedisSettings},
};
use mcp_config_proto::v1::GetPromptsRequest;
use mcp_config_tests::{
    redis::Redis,
    service::{EXAMPLE_BUNDLE, Service},
};

fn view(org: &str, server: &str) -> ViewKey {
    ViewKey {
        kind: Kind::Prompts,
        scope: Scope::parse_optional("org", org).unwrap(),
        server: Slug::parse("server", server).unwrap(),
        label: Label::Production,
    }
}

/// The change of acme's (or the defaults', for `""`) github prompt `review-pr` at `revision`.
fn change(revision: u64, org: &str) -> ChangeEvent {
    let key = view(org, "github");
    ChangeEvent {
        revision,
        previous_revision: revision - 1,
        scope: key.scope,
        server: key.server,
        kind: key.kind,
        keys: vec!["review-pr".into()],
        labels: Labels::Only(vec![Label::Latest, Label::Production]),
        orgs: Vec::new(),
    }
}

fn settings() -> RedisSettings {
    RedisSettings {
        channel: "l2-test".into(),
        l2_ttl: Duration::from_secs(60),
        l2_timeout: Duration::from_millis(50),
    }
}

async fn connected(redis: &Redis) -> fred::clients::Client {
    let client = redis::client(&redis.url()).unwrap();
    client.wait_for_connect().await.unwrap();
    client
}

#[tokio::test]
async fn a_load_that_raced_a_change_never_stores_the_old_view() {
    let redis = Redis::start();
    let client = connected(&redis).await;
    let (l2, relay) = (
        L2::new(client.clone(), settings()),
        RedisPublisher::new(client, settings()),
    );
    let key = view("acme", "github");
    let body = |text: &str| bytes::Bytes::from(text.to_owned());
    assert!(l2.put(&key, body("read at 5"), 5).await.unwrap());
    assert_eq!(l2.get(&key).await.unwrap(), Some(body("read at 5")));

    // The relay publishes revision 7 for this view: its field goes, the fence rises to 7.
    relay.publish(&change(7, "acme"), 5).await.unwrap();
    assert_eq!(l2.get(&key).await.unwrap(), None);

    // A load that read the store at 6, before the change, finishes now: it must not store.
    assert!(
        !l2.put(&key, body("read at 6"), 6).await.unwrap(),
        "a load older than the fence is refused"
    );
    assert_eq!(l2.get(&key).await.unwrap(), None);
    assert!(l2.put(&key, body("read at 7"), 7).await.unwrap());
    assert_eq!(l2.get(&key).await.unwrap(), Some(body("read at 7")));
}

/// The relay publishes, then marks the change published: a leader that lost its lock between
/// the two, or whose publish was held up on a slow link while another replica took over, hands
/// Redis an event again, or an older one after a newer. Subscribers get each revision once, in
/// order (found by the chaos run: `r232 after r232` on the raw channel).
#[tokio::test]
async fn an_event_published_again_or_late_reaches_subscribers_once() {
    let redis = Redis::start();
    let relay = RedisPublisher::new(connected(&redis).await, settings());
    let mut channel = listen(&redis, "l2-test").await;
    let event = |revision: u64| change(revision, "acme");
    for revision in [7, 7, 8, 7, 9] {
        relay.publish(&event(revision), revision - 1).await.unwrap();
    }
    let mut heard = Vec::new();
    hear_until(&mut channel, &mut heard, 9).await;
    assert_eq!(heard, [7, 8, 9]);
}

/// A replica's first subscription lowers a foreign fence (one above the store's newest
/// revision). The chaos run (seed 1) once heard `r273 after r273`: the replica read the store's
/// newest revision, the relay then committed-and-published the next one, and the reset took that
/// fresh fence for foreign, lowered it, and the relay's repeat of the same event went through.
/// The interleaving, step by step: a fence is foreign only if it has not moved since it was seen,
/// before the store was read.
#[tokio::test]
async fn a_fence_raised_while_a_replica_subscribes_is_never_taken_for_foreign() {
    let redis = Redis::start();
    let client = connected(&redis).await;
    let (l2, relay) = (
        L2::new(client.clone(), settings()),
        RedisPublisher::new(client, settings()),
    );
    let mut channel = listen(&redis, "l2-test").await;
    let event = |revision: u64| change(revision, "acme");
    relay.publish(&event(6), 5).await.unwrap();

    // The replica subscribes: it sees the fences, then reads the store's newest revision (6).
    let fences = l2.fences(&[("github".to_owned(), 6)]).await.unwrap();
    let latest = 6;
    // Meanwhile the relay commits and publishes revision 7...
    relay.publish(&event(7), 6).await.unwrap();
    // ...before the replica's reset runs, with the revision it read.
    l2.reset(&fences, latest, redis::Emptying::Foreign)
        .await
        .unwrap();
    // A leader that lost its lock before marking 7 published hands it to Redis again.
    relay.publish(&event(7), 6).await.unwrap();
    relay.publish(&event(8), 7).await.unwrap();

    let mut heard = Vec::new();
    hear_until(&mut channel, &mut heard, 8).await;
    assert_eq!(heard, [6, 7, 8], "each revision published once");

    // A fence that really is foreign (above anything the store holds, unmoved) is still
    // lowered, so this store's next event is not swallowed.
    relay.publish(&event(100), 99).await.unwrap();
    let fences = l2.fences(&[("github".to_owned(), 8)]).await.unwrap();
    l2.reset(&fences, 8, redis::Emptying::Foreign)
        .await
        .unwrap();
    relay.publish(&event(9), 8).await.unwrap();
    hear_until(&mut channel, &mut heard, 9).await;
    assert_eq!(heard, [6, 7, 8, 100, 9]);
}

#[tokio::test]
async fn a_frozen_redis_costs_a_few_reads_a_deadline_and_then_none() {
    let redis = Redis::start();
    let l2 = L2::new(connected(&redis).await, settings());
    assert!(matches!(l2.get(&view("acme", "github")).await, Ok(None)));

    redis.freeze();
    let mut outcomes = Vec::new();
    for org in ["a", "b", "c", "d", "e"] {
        outcomes.push(match l2.get(&view(org, "github")).await {
            Err(L2Error::TimedOut(_)) => "timed out",
            Err(L2Error::Resting) => "skipped",
            other => panic!("a frozen Redis answered {other:?}"),
        });
    }
    assert_eq!(
        outcomes,
        ["timed out", "timed out", "timed out", "skipped", "skipped"],
        "three deadlines open the breaker; later reads do not wait at all"
    );
    redis.thaw();
}

#[tokio::test]
async fn reads_are_answered_from_the_store_while_redis_is_frozen() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start();
    let service = Service::sqlite_with_redis(&dir, &redis).await;
    service.import(EXAMPLE_BUNDLE).await;
    let mut grpc = service.grpc().await;
    redis.freeze();
    for (org, server) in [
        ("acme", "github"),
        ("globex", "github"),
        ("", "slack"),
        ("acme", "postgres"),
    ] {
        let answer = grpc
            .get_prompts(GetPromptsRequest {
                org_id: org.into(),
                server: server.into(),
                ..Default::default()
            })
            .await;
        assert!(answer.is_ok(), "{org}/{server}: {answer:?}");
    }
    redis.thaw();
}

/// Messages on `channel` heard by a plain subscriber, as JSON.
async fn listen(
    redis: &Redis,
    channel: &str,
) -> tokio::sync::mpsc::UnboundedReceiver<serde_json::Value> {
    use fred::interfaces::{EventInterface, PubsubInterface};
    let config = fred::prelude::Config::from_url(&redis.url()).unwrap();
    let client = fred::prelude::Builder::from_config(config)
        .build_subscriber_client()
        .unwrap();
    client.init().await.unwrap();
    let mut messages = client.message_rx();
    client.subscribe(channel).await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let _client = client;
        while let Ok(message) = messages.recv().await {
            let text: String = message.value.convert().unwrap();
            if tx.send(serde_json::from_str(&text).unwrap()).is_err() {
                return;
            }
        }
    });
    rx
}

#[tokio::test]
async fn the_relay_announces_the_published_revision_on_a_quiet_channel() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start();
    let service = Service::chatty_example(&dir, &redis).await;
    let latest = service.latest_revision().await.unwrap();
    let mut heard = listen(&redis, "mcp-config:invalidations").await;
    let progress = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let message = heard.recv().await.unwrap();
            if message["server"].as_str().unwrap_or("").is_empty() {
                return message;
            }
        }
    })
    .await
    .expect("no progress announced within 10 s");
    assert_eq!(
        progress["revision"].as_str(),
        Some(latest.to_string().as_str())
    );
    assert_eq!(progress["revision"], progress["previousRevision"]);
}

/// The title of acme's `review-pr` as `service` serves it over gRPC.
async fn review_title(service: &Service) -> String {
    let view = service
        .grpc()
        .await
        .get_prompts(mcp_config_tests::service::prompts("acme", "github"))
        .await
        .unwrap()
        .into_inner();
    view.prompts
        .into_iter()
        .find(|p| p.name == "review-pr")
        .map(|p| p.title)
        .unwrap()
}

/// A replica whose subscription goes silent (Redis frozen: nothing closes) stops trusting its
/// cache within the silence bound, and serves a change another replica committed from the
/// store, while Redis is still frozen.
#[tokio::test]
async fn a_replica_cut_off_by_a_frozen_redis_serves_changes_from_the_store() {
    let pg = tokio::task::spawn_blocking(mcp_config_tests::postgres::Postgres::start)
        .await
        .unwrap();
    let redis = Redis::start();
    let database = pg.database();
    let flags = [
        format!("--redis-url={}", redis.url()),
        "--watch-progress-secs=1".to_owned(),
    ];
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = Service::start(mcp_config_tests::service::settings_with(
        &database, None, &flags,
    ))
    .await;
    let b = Service::start(mcp_config_tests::service::settings_with(
        &database, None, &flags,
    ))
    .await;
    a.import(EXAMPLE_BUNDLE).await;
    a.wait_until_published().await;
    let before = review_title(&b).await;

    redis.freeze();
    let saved = reqwest::Client::new()
        .put(a.admin("/orgs/acme/servers/github/prompts/review-pr"))
        .json(&serde_json::json!({"content": {"title": "Changed while Redis hung", "messages": [{"role": "user", "text": "x"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), reqwest::StatusCode::OK);
    let served = mcp_config_tests::eventually(Duration::from_secs(20), || async {
        review_title(&b).await == "Changed while Redis hung"
    })
    .await;
    redis.thaw();
    assert_ne!(before, "Changed while Redis hung");
    assert!(served, "replica b kept serving its cached view");
}

/// Appends the revisions heard on `channel` to `heard` until `last` is heard.
async fn hear_until(
    channel: &mut tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
    heard: &mut Vec<u64>,
    last: u64,
) {
    while heard.last() != Some(&last) {
        let message = next(channel).await;
        heard.push(message["revision"].as_str().unwrap().parse().unwrap());
    }
}

/// The next message of `rx`, within 10 s.
async fn next(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<serde_json::Value>,
) -> serde_json::Value {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a message within 10 s")
        .unwrap()
}

/// Each event also goes to its server's channel (`<channel>:<server>`), chained by that
/// server's previous event, and the relay announces each server's progress there: a fleet of
/// one server's MCP servers hears only that server, without gaps.
#[tokio::test]
async fn each_server_has_a_gap_free_channel_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let redis = Redis::start();
    let service = Service::chatty_example(&dir, &redis).await;
    let mut github = listen(&redis, "mcp-config:invalidations:github").await;
    let mut slack = listen(&redis, "mcp-config:invalidations:slack").await;
    let start = service.latest_revision().await.unwrap();
    for (org, server) in [("acme", "github"), ("", "slack"), ("globex", "github")] {
        let saved = service
            .api()
            .put_text_prompt(org, server, "per-server", "x")
            .await;
        assert!(saved.status().is_success());
    }
    let revision =
        |m: &serde_json::Value, field: &str| -> u64 { m[field].as_str().unwrap().parse().unwrap() };
    // Progress may come first: skip it.
    let mut first = next(&mut github).await;
    while first["server"].as_str().unwrap_or("").is_empty() {
        first = next(&mut github).await;
    }
    let second = next(&mut github).await;
    assert_eq!(revision(&first, "revision"), start + 1);
    assert_eq!(
        (
            revision(&second, "revision"),
            revision(&second, "previousRevision")
        ),
        (start + 3, start + 1),
        "slack's change in between is no gap on github's channel"
    );
    assert_eq!(second["orgId"], "globex");
    let progress = loop {
        let message = next(&mut github).await;
        if message["server"].as_str().unwrap_or("").is_empty() {
            break message;
        }
    };
    assert_eq!(revision(&progress, "revision"), start + 3);
    let mut on_slack = next(&mut slack).await;
    while on_slack["server"].as_str().unwrap_or("").is_empty() {
        on_slack = next(&mut slack).await;
    }
    assert_eq!(revision(&on_slack, "revision"), start + 2);
    assert_eq!(on_slack["server"], "slack");
}
