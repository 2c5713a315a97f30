//! The Rust client against a real service: caching, revalidation, invalidation by Watch and by
//! Redis, change notifications, stale-if-error, and cold starts from a snapshot.

use std::time::Duration;

use mcp_config_client::{
    ClientConfig, ClientError, ConfigClient, Source, Status, StatusEvent, ViewKind,
};
use mcp_config_tests::{
    eventually,
    postgres::Postgres,
    proxy::{Fault, FaultProxy},
    redis::Redis,
    service::{EXAMPLE_BUNDLE, Service, settings},
};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(10);

async fn put_prompt(service: &Service, org: &str, name: &str, text: &str) {
    let response = service
        .api()
        .put_text_prompt(org, "github", name, text)
        .await;
    assert!(response.status().is_success());
}

async fn text_of(client: &ConfigClient, org: &str, name: &str) -> String {
    let view = client.prompts(org, "github").await.unwrap();
    view.items
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.messages[0].text.clone())
        .unwrap_or_default()
}

/// Invalidations from the channel the service publishes on, in `redis`.
fn redis_source(redis: &Redis) -> Source {
    Source::Redis {
        url: redis.url(),
        channel: "mcp-config:invalidations".into(),
    }
}

fn config(service: &Service, source: Source) -> ClientConfig {
    ClientConfig {
        source,
        ..ClientConfig::new(format!("http://{}", service.grpc_addr))
    }
}

#[tokio::test]
async fn s_org_1_an_unknown_org_reads_the_defaults_and_is_told_so_until_registered() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(EXAMPLE_BUNDLE).await;
    let client = ConfigClient::connect(config(&service, Source::Watch))
        .await
        .unwrap();
    let defaults = client.prompts("", "github").await.unwrap();
    let unknown = client.prompts("initech", "github").await.unwrap();
    assert!(unknown.org_unknown && !defaults.org_unknown);
    assert_eq!(unknown.items, defaults.items, "the defaults alone");
    assert!(!client.prompts("acme", "github").await.unwrap().org_unknown);

    client.until_following().await;
    let mut changes = client.changes();
    let created = service
        .api()
        .request(reqwest::Method::POST, "/orgs")
        .json(&json!({"slug": "initech"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let change = tokio::time::timeout(WAIT, changes.recv())
        .await
        .expect("the registration is announced")
        .unwrap();
    assert_eq!(change.org, "initech");
    let known = client.prompts("initech", "github").await.unwrap();
    assert!(!known.org_unknown, "registered, no overrides");
    assert!(known.revision > unknown.revision);
    assert_eq!(known.items, defaults.items);
}

#[tokio::test]
async fn s_inv_1_a_change_reaches_the_client_through_watch_with_a_notification() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(EXAMPLE_BUNDLE).await;
    let client = ConfigClient::connect(config(&service, Source::Watch))
        .await
        .unwrap();
    let mut changes = client.changes();
    let first = client.prompts("acme", "github").await.unwrap();
    assert_eq!(first.items.len(), 4);
    assert!(first.stale.is_none());
    client.until_following().await;
    put_prompt(&service, "acme", "review-pr", "Watch delivered this").await;
    let change = tokio::time::timeout(WAIT, changes.recv())
        .await
        .expect("a change notification")
        .unwrap();
    assert_eq!(
        (change.org.as_str(), change.server.as_str(), change.kind),
        ("acme", "github", ViewKind::Prompts)
    );
    assert_eq!(
        text_of(&client, "acme", "review-pr").await,
        "Watch delivered this"
    );
    let rendered = client
        .prompt(
            "acme",
            "github",
            "security-review",
            [("repo".to_owned(), "acme/api".to_owned())].into(),
        )
        .await
        .unwrap();
    assert!(rendered.messages[0].text.starts_with("Audit acme/api"));
}

#[tokio::test]
async fn s_inv_1_a_change_reaches_the_client_through_redis() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let redis = Redis::start();
    let service = Service::start(settings(&pg.database(), Some(&redis.url()))).await;
    service.import(EXAMPLE_BUNDLE).await;
    let client = ConfigClient::connect(config(&service, redis_source(&redis)))
        .await
        .unwrap();
    assert!(text_of(&client, "acme", "review-pr").await.contains("Acme"));
    client.until_following().await;
    put_prompt(&service, "acme", "review-pr", "Redis delivered this").await;
    assert!(
        eventually(WAIT, || async {
            text_of(&client, "acme", "review-pr").await == "Redis delivered this"
        })
        .await
    );
}

/// A service on SQLite publishing to its own throwaway Redis, and a client listening there.
async fn with_redis_client(redis: &Redis, dir: &tempfile::TempDir) -> (Service, ConfigClient) {
    let service = Service::sqlite_with_redis(dir, redis).await;
    service.import(EXAMPLE_BUNDLE).await;
    service.wait_until_published().await;
    let client = ConfigClient::connect(config(&service, redis_source(redis)))
        .await
        .unwrap();
    (service, client)
}

/// Told of a change no replica has applied yet (here: one forged on the channel, so every
/// answer stays behind), the client asks again a few times and then serves the answer it has
/// as stale, never as current.
#[tokio::test]
async fn s_floor_2_an_answer_still_behind_after_the_retries_is_served_stale() {
    use fred::prelude::{ClientLike, PubsubInterface};
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let (service, client) = with_redis_client(&redis, &dir).await;
    client.until_following().await;
    let current = client.prompts("acme", "github").await.unwrap();
    assert!(current.stale.is_none());

    let latest = service.latest_revision().await.unwrap();
    let ahead = mcp_config_client::v1::InvalidationEvent {
        revision: latest + 1000,
        previous_revision: latest,
        org_id: "acme".into(),
        server: "github".into(),
        kind: mcp_config_client::v1::Kind::Prompts as i32,
        keys: vec!["review-pr".into()],
        labels: vec![],
        orgs: vec![],
    };
    let mut changes = client.changes();
    let publisher =
        fred::prelude::Builder::from_config(fred::prelude::Config::from_url(&redis.url()).unwrap())
            .build()
            .unwrap();
    publisher.init().await.unwrap();
    let _: i64 = publisher
        .publish("mcp-config:invalidations", ahead.to_json())
        .await
        .unwrap();
    let told = tokio::time::timeout(Duration::from_secs(10), async {
        while changes.recv().await.unwrap().revision != latest + 1000 {}
    })
    .await;
    assert!(told.is_ok(), "the client heard the change");

    let behind = client.prompts("acme", "github").await.unwrap();
    assert_eq!(
        behind.revision, current.revision,
        "the answer the service has"
    );
    assert!(
        behind.stale.is_some(),
        "an answer older than a change the client was told of is not current"
    );
}

#[tokio::test]
async fn s_redis_1_redis_down_the_client_revalidates_every_read_until_it_is_back() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let (service, client) = with_redis_client(&redis, &dir).await;
    assert!(text_of(&client, "acme", "review-pr").await.contains("Acme"));
    client.until_following().await;

    redis.kill();
    put_prompt(
        &service,
        "acme",
        "review-pr",
        "written while Redis was down",
    )
    .await;
    assert!(
        eventually(WAIT, || async {
            text_of(&client, "acme", "review-pr").await == "written while Redis was down"
        })
        .await,
        "while invalidations go unheard, every read revalidates"
    );

    redis.resume();
    service.wait_until_published().await;
    client.until_following().await;
    put_prompt(&service, "acme", "review-pr", "heard again").await;
    assert!(
        eventually(WAIT, || async {
            text_of(&client, "acme", "review-pr").await == "heard again"
        })
        .await,
        "after Redis is back, the client resubscribes by itself"
    );
}

#[tokio::test]
async fn s_gap_1_a_revision_gap_on_the_channel_marks_every_view() {
    use fred::prelude::{ClientLike, PubsubInterface};

    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let (service, client) = with_redis_client(&redis, &dir).await;
    client.prompts("acme", "github").await.unwrap();
    let mut changes = client.changes();
    client.until_following().await;
    // A real change first: the client learns the current revision.
    let response = reqwest::Client::new()
        .put(service.admin("/defaults/servers/slack/prompts/draft-announcement"))
        .json(&json!({"content": {"messages": [{"role": "user", "text": "{{ topic }}"}]}}))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let real = tokio::time::timeout(WAIT, changes.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((real.org.as_str(), real.server.as_str()), ("", "slack"));

    // An event about another server whose previous revision is not the last one seen: events
    // in between were lost, and any of them could have been about acme's github prompts.
    let publisher =
        fred::prelude::Builder::from_config(fred::prelude::Config::from_url(&redis.url()).unwrap())
            .build()
            .unwrap();
    publisher.init().await.unwrap();
    let gap = r#"{"revision":"1000","previousRevision":"999","server":"slack","kind":"PROMPTS"}"#;
    let _: i64 = publisher
        .publish("mcp-config:invalidations", gap)
        .await
        .unwrap();
    let change = tokio::time::timeout(WAIT, changes.recv())
        .await
        .expect("the gap flushes every view")
        .unwrap();
    assert_eq!(
        (change.org.as_str(), change.server.as_str(), change.kind),
        ("acme", "github", ViewKind::Prompts)
    );
}

#[tokio::test]
async fn s_stale_1_s_snap_1_service_down_serves_the_last_view_flagged_stale_then_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mcp-config.db").display());
    let mut base = settings(&url, None);
    base.listen.grpc_addr = format!("127.0.0.1:{}", mcp_config_tests::free_port())
        .parse()
        .unwrap();
    let service = Service::start(base.clone()).await;
    service.import(EXAMPLE_BUNDLE).await;
    let snapshot = dir.path().join("client-snapshot.json");
    let client_config = ClientConfig {
        max_stale: Duration::from_secs(2),
        revalidate_after: Duration::from_millis(1),
        snapshot: Some(snapshot.clone()),
        timeout: Duration::from_millis(500),
        ..config(&service, Source::Watch)
    };
    let client = ConfigClient::connect(client_config.clone()).await.unwrap();
    let live_asked = std::time::Instant::now();
    let live = client.prompts("globex", "github").await.unwrap();
    assert!(live.stale.is_none());

    service.stop().await;
    let stale = client.prompts("globex", "github").await.unwrap();
    assert_eq!(stale.items.len(), live.items.len());
    assert!(
        stale.stale.is_some(),
        "served from the last known view, flagged"
    );
    let unknown = client.prompts("acme", "slack").await.unwrap_err();
    assert!(
        matches!(unknown, ClientError::Unavailable(_)),
        "{unknown:?}"
    );

    // A cold process with the snapshot starts while the service is down.
    let cold = ConfigClient::connect(client_config.clone()).await.unwrap();
    let from_snapshot = cold.prompts("globex", "github").await.unwrap();
    assert_eq!(from_snapshot.items.len(), live.items.len());
    assert!(from_snapshot.stale.is_some());

    // Refused once the last view is older than max_stale: waited for as that condition (a
    // loaded machine may get there late), then checked not to have come early.
    assert!(
        eventually(WAIT, || async {
            matches!(
                client.prompts("globex", "github").await,
                Err(ClientError::Unavailable(_))
            )
        })
        .await,
        "past max_stale"
    );
    assert!(
        live_asked.elapsed() > client_config.max_stale,
        "refused before the view was max_stale old"
    );

    let _back = Service::start(base).await;
    assert!(
        eventually(WAIT, || async {
            client
                .prompts("globex", "github")
                .await
                .is_ok_and(|v| v.stale.is_none())
        })
        .await
    );
}

#[tokio::test]
async fn s_err_1_bad_requests_are_reported_not_served_stale() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    let client = ConfigClient::connect(config(&service, Source::None))
        .await
        .unwrap();
    let err = client.prompts("Not A Slug", "github").await.unwrap_err();
    let ClientError::Rejected(status) = err else {
        panic!("{err:?}")
    };
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
}

#[tokio::test]
async fn a_service_token_reads_any_org_when_the_service_requires_auth() {
    let secret = "a-test-secret-that-is-long-enough-for-hs256";
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mcp-config.db").display());
    let mut with_auth = settings(&url, None);
    with_auth.access.auth = mcp_config::config::AuthMode::Jwt;
    with_auth.access.jwt_secret = Some(secret.into());
    let service = Service::start(with_auth).await;
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let token = |roles: &[&str]| {
        let claims = json!({"sub": "github-mcp", "roles": roles, "exp": exp});
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let imported = reqwest::Client::new()
        .post(service.admin("/bundle"))
        .bearer_auth(token(&["admin"]))
        .header("content-type", "application/yaml")
        .body(EXAMPLE_BUNDLE)
        .send()
        .await
        .unwrap();
    assert!(imported.status().is_success());

    let with_token = ConfigClient::connect(ClientConfig {
        token: Some(token(&["service"])),
        ..config(&service, Source::Watch)
    })
    .await
    .unwrap();
    assert_eq!(
        with_token
            .prompts("globex", "github")
            .await
            .unwrap()
            .items
            .len(),
        2
    );
    let without = ConfigClient::connect(config(&service, Source::None))
        .await
        .unwrap();
    let ClientError::Rejected(status) = without.prompts("globex", "github").await.unwrap_err()
    else {
        panic!("rejected")
    };
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
}

/// The snapshot fixture a client wrote (`client/fixtures/snapshot-{writer}.json`), copied so a
/// read never rewrites it.
fn fixture_copy(dir: &tempfile::TempDir, writer: &str) -> std::path::PathBuf {
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(format!("snapshot-{writer}.json"));
    let copy = dir.path().join(format!("{writer}.json"));
    std::fs::copy(&fixture, &copy).unwrap_or_else(|e| panic!("{}: {e}", fixture.display()));
    copy
}

/// S-SNAP-2: a cold client with no service serves the views in a snapshot written by any
/// client (the fixtures hold globex's github prompts and acme's github resources).
#[tokio::test]
async fn s_snap_2_snapshots_written_by_every_client_are_read() {
    let dir = tempfile::tempdir().unwrap();
    for writer in ["python", "typescript", "rust"] {
        let cold = ConfigClient::connect(ClientConfig {
            source: Source::None,
            snapshot: Some(fixture_copy(&dir, writer)),
            timeout: Duration::from_millis(500),
            // The fixtures were written long ago: any age is accepted here.
            max_stale: Duration::MAX,
            ..ClientConfig::new("http://127.0.0.1:9")
        })
        .await
        .unwrap();
        let prompts = cold.prompts("globex", "github").await.unwrap();
        assert!(prompts.stale.is_some(), "{writer}");
        let names: Vec<&str> = prompts.items.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["release-notes", "review-pr"], "{writer}");
        let resources = cold.resources("acme", "github").await.unwrap();
        assert!(
            resources
                .items
                .iter()
                .any(|r| r.uri == "file:///acme/oncall.md"),
            "{writer}"
        );
    }
}

/// S-SNAP-2, the writing side: this client's snapshot of the fixtures' two views names them and
/// their revisions as the other clients' files do. `WRITE_FIXTURES=1` refreshes
/// `client/fixtures/snapshot-rust.json`, which the Python and TypeScript suites read.
#[tokio::test]
async fn s_snap_2_this_clients_snapshot_is_the_shared_format() {
    let (dir, service) = Service::example_on_sqlite().await;
    let snapshot = dir.path().join("rust-snapshot.json");
    let client = ConfigClient::connect(ClientConfig {
        source: Source::None,
        snapshot: Some(snapshot.clone()),
        ..config(&service, Source::None)
    })
    .await
    .unwrap();
    client.prompts("globex", "github").await.unwrap();
    client.resources("acme", "github").await.unwrap();
    let ids = |path: &std::path::Path| -> Vec<(String, String, String, u64)> {
        let views: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let mut ids: Vec<_> = views
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                let text = |name: &str| v["id"][name].as_str().unwrap().to_owned();
                (
                    text("kind"),
                    text("org"),
                    text("server"),
                    v["revision"].as_u64().unwrap(),
                )
            })
            .collect();
        ids.sort();
        ids
    };
    let python = fixture_copy(&dir, "python");
    assert_eq!(ids(&snapshot), ids(&python));
    if std::env::var_os("WRITE_FIXTURES").is_some() {
        let fixture =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/snapshot-rust.json");
        std::fs::copy(&snapshot, fixture).unwrap();
    }
}

/// A frozen Redis (SIGSTOP: nothing closes, nothing arrives) is taken as cut once the channel
/// has been silent for `silence` — the service announces progress on it every second here —
/// and reads revalidate: a change made meanwhile is read, not the cached view.
#[tokio::test]
async fn s_src_6_a_silent_redis_channel_is_taken_as_cut_and_reads_revalidate() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let service = Service::chatty_example(&dir, &redis).await;
    let client = ConfigClient::connect(ClientConfig {
        silence: Duration::from_secs(3),
        ..config(&service, redis_source(&redis))
    })
    .await
    .unwrap();
    client.until_following().await;
    // Read once following: the view is current, served from the client's cache from now on.
    assert!(text_of(&client, "acme", "review-pr").await.contains("Acme"));
    let cached = client.prompts("acme", "github").await.unwrap();
    assert!(cached.stale.is_none());

    redis.freeze();
    put_prompt(&service, "acme", "review-pr", "written while Redis hung").await;
    assert!(
        text_of(&client, "acme", "review-pr").await.contains("Acme"),
        "not told yet: the cached view"
    );
    let read = eventually(Duration::from_secs(20), || async {
        text_of(&client, "acme", "review-pr").await == "written while Redis hung"
    })
    .await;
    redis.thaw();
    assert!(read, "the client kept trusting a channel that said nothing");
    client.until_following().await;
}

/// A hung service (its link blackholed: open connections stall, nothing closes) is told from
/// a quiet one by the Watch stream's silence: past the bound the client stops trusting its
/// cache, serves the last view marked stale while calls time out, and the change made
/// meanwhile once the service answers again.
#[tokio::test]
async fn s_src_6_a_hung_service_is_taken_as_cut_and_the_cached_view_is_served_stale() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let service = Service::chatty_example(&dir, &redis).await;
    let link = FaultProxy::start(service.grpc_addr).await;
    let client = ConfigClient::connect(ClientConfig {
        silence: Duration::from_secs(3),
        timeout: Duration::from_millis(500),
        ..ClientConfig::new(format!("http://{}", link.addr()))
    })
    .await
    .unwrap();
    client.until_following().await;
    assert!(text_of(&client, "acme", "review-pr").await.contains("Acme"));

    link.set(Fault::Blackhole);
    put_prompt(
        &service,
        "acme",
        "review-pr",
        "written while the service hung",
    )
    .await;
    let served_stale = eventually(Duration::from_secs(20), || async {
        client
            .prompts("acme", "github")
            .await
            .is_ok_and(|view| view.stale.is_some())
    })
    .await;
    let during = text_of(&client, "acme", "review-pr").await;
    link.set(Fault::None);
    assert!(
        served_stale,
        "the client kept trusting a stream that said nothing"
    );
    assert!(
        during.contains("Acme"),
        "the last known view, not an error: {during}"
    );
    let read = eventually(Duration::from_secs(20), || async {
        text_of(&client, "acme", "review-pr").await == "written while the service hung"
    })
    .await;
    assert!(
        read,
        "the change made while the service hung is read once it answers"
    );
}

/// A client of one server (`servers: ["github"]`) hears that server's changes only: the Watch
/// stream is filtered and the Redis source follows github's own channel. A slack change before
/// a github one is never announced, and the github one is, without a gap being taken for a
/// missed event (which would announce every view).
#[tokio::test]
async fn a_client_of_one_server_hears_only_that_servers_changes() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let (service, _everything) = with_redis_client(&redis, &dir).await;
    for source in [Source::Watch, redis_source(&redis)] {
        let client = ConfigClient::connect(ClientConfig {
            servers: vec!["github".into()],
            ..config(&service, source.clone())
        })
        .await
        .unwrap();
        client.until_following().await;
        client.prompts("acme", "github").await.unwrap();
        let mut changes = client.changes();
        let slack = reqwest::Client::new()
            .put(service.admin("/defaults/servers/slack/prompts/one-server"))
            .json(&json!({"content": {"messages": [{"role": "user", "text": "slack"}]}}))
            .send()
            .await
            .unwrap();
        assert!(slack.status().is_success());
        let text = format!("only github ({source:?})");
        put_prompt(&service, "acme", "review-pr", &text).await;
        let heard = tokio::time::timeout(WAIT, changes.recv())
            .await
            .expect("a change within the bound")
            .unwrap();
        assert_eq!(
            (heard.org.as_str(), heard.server.as_str(), heard.kind),
            ("acme", "github", ViewKind::Prompts),
            "{source:?}"
        );
        assert!(
            changes.try_recv().is_err(),
            "{source:?}: nothing else announced"
        );
        assert_eq!(text_of(&client, "acme", "review-pr").await, text);
    }
}

/// A hung service never holds a read that has a view to answer: with a 30 s call timeout, the
/// read answers its cached view, stale, after the read budget, and the change saved meanwhile
/// is read once the service answers. After repeated failures the breaker stops calling: a
/// change made once the service is back stays unread until the cool-down lets a probe through.
#[tokio::test]
async fn s_hung_1_a_hung_service_costs_a_cached_read_its_budget_and_the_breaker_stops_calling() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let link = FaultProxy::start(service.grpc_addr).await;
    let patient = ConfigClient::connect(ClientConfig {
        source: Source::None,
        timeout: Duration::from_secs(30),
        revalidate_after: Duration::from_millis(1),
        ..ClientConfig::new(format!("http://{}", link.addr()))
    })
    .await
    .unwrap();
    assert!(
        text_of(&patient, "acme", "review-pr")
            .await
            .contains("Acme")
    );

    link.set(Fault::Blackhole);
    put_prompt(
        &service,
        "acme",
        "review-pr",
        "written while the service hung",
    )
    .await;
    let during = tokio::time::timeout(Duration::from_secs(10), patient.prompts("acme", "github"))
        .await
        .expect("answered from the cache, not after the 30 s call timeout")
        .unwrap();
    assert!(during.stale.is_some(), "flagged stale");
    let text = &during
        .items
        .iter()
        .find(|p| p.name == "review-pr")
        .unwrap()
        .messages[0]
        .text;
    assert!(text.contains("Acme"), "the last known view: {text}");
    link.set(Fault::None);
    assert!(
        eventually(WAIT, || async {
            text_of(&patient, "acme", "review-pr").await == "written while the service hung"
        })
        .await,
        "the change is read once the service answers"
    );

    // The breaker: calls that fail fast (a short timeout), three in a row, open it.
    let quick = ConfigClient::connect(ClientConfig {
        source: Source::None,
        timeout: Duration::from_millis(200),
        revalidate_after: Duration::from_millis(1),
        breaker_cooldown: Duration::from_secs(3),
        ..ClientConfig::new(format!("http://{}", link.addr()))
    })
    .await
    .unwrap();
    assert_eq!(
        text_of(&quick, "acme", "review-pr").await,
        "written while the service hung"
    );
    link.set(Fault::Blackhole);
    assert!(
        eventually(WAIT, || async {
            quick
                .prompts("acme", "github")
                .await
                .is_ok_and(|read| read.stale.is_some())
        })
        .await
    );
    for _ in 0..mcp_config_client::FAILURES_TO_OPEN {
        // Each read's call fails after the timeout, the read itself answering stale at once.
        tokio::time::sleep(Duration::from_millis(400)).await;
        let read = quick.prompts("acme", "github").await.unwrap();
        assert!(read.stale.is_some());
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    link.set(Fault::None);
    put_prompt(
        &service,
        "acme",
        "review-pr",
        "made while the breaker was open",
    )
    .await;
    let not_asked = quick.prompts("acme", "github").await.unwrap();
    assert!(
        not_asked.stale.is_some(),
        "open: the service is back but not called"
    );
    let unknown = quick.prompts("acme", "slack").await.unwrap_err();
    assert!(
        matches!(unknown, ClientError::Unavailable(_)),
        "open, nothing cached: refused at once: {unknown:?}"
    );
    assert!(
        !unknown.to_string().contains("127.0.0.1"),
        "no address in the error's message: {unknown}"
    );
    assert!(
        eventually(WAIT, || async {
            text_of(&quick, "acme", "review-pr").await == "made while the breaker was open"
        })
        .await,
        "after the cool-down a probe finds the service back"
    );
}

/// The read budget serves a view that is merely unconfirmed, never one a change was announced
/// past: with every answer 300 ms late, a read after the change notification waits for the new
/// view (an MCP client told `list_changed` re-reads and must get it), while a read of a view
/// that is only old answers it stale within the budget.
#[tokio::test]
async fn s_hung_2_a_slow_answer_is_waited_for_after_a_change_was_announced() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let link = FaultProxy::start(service.grpc_addr).await;
    let client = ConfigClient::connect(ClientConfig {
        revalidate_after: Duration::from_secs(3600),
        ..ClientConfig::new(format!("http://{}", link.addr()))
    })
    .await
    .unwrap();
    client.until_following().await;
    assert!(text_of(&client, "acme", "review-pr").await.contains("Acme"));
    let mut changes = client.changes();
    // Set before the change: the proxy applies a fault from the next chunk it reads.
    link.set(Fault::Delay(Duration::from_millis(300)));
    put_prompt(&service, "acme", "review-pr", "announced, then slow").await;
    tokio::time::timeout(WAIT, changes.recv())
        .await
        .expect("the change is announced")
        .unwrap();
    let after = client.prompts("acme", "github").await.unwrap();
    assert!(
        after.stale.is_none(),
        "waited for the answer, not served stale"
    );
    let text = &after
        .items
        .iter()
        .find(|p| p.name == "review-pr")
        .unwrap()
        .messages[0]
        .text;
    assert_eq!(text, "announced, then slow");

    let old = ConfigClient::connect(ClientConfig {
        source: Source::None,
        revalidate_after: Duration::from_millis(1),
        ..ClientConfig::new(format!("http://{}", link.addr()))
    })
    .await
    .unwrap();
    // Nothing cached: the first read waits for its (slow) answer; the second is only old.
    old.prompts("acme", "github").await.unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await; // past revalidate_after
    let unconfirmed = old.prompts("acme", "github").await.unwrap();
    link.set(Fault::None);
    assert!(
        unconfirmed.stale.is_some(),
        "only old, no change announced: served within the budget"
    );
}

#[tokio::test]
async fn s_status_1_each_change_of_status_is_one_event_naming_no_address() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mcp-config.db").display());
    let mut base = settings(&url, None);
    base.listen.grpc_addr = format!("127.0.0.1:{}", mcp_config_tests::free_port())
        .parse()
        .unwrap();
    let service = Service::start(base.clone()).await;
    service.import(EXAMPLE_BUNDLE).await;
    let client = ConfigClient::connect(ClientConfig {
        timeout: Duration::from_millis(500),
        revalidate_after: Duration::from_millis(1),
        breaker_cooldown: Duration::from_millis(1),
        ..config(&service, Source::None)
    })
    .await
    .unwrap();
    let mut events = client.status_events();
    assert_eq!(client.status(), Status::Starting);

    client.prompts("acme", "github").await.unwrap();
    client.prompts("globex", "github").await.unwrap();
    assert_eq!(events.recv().await.unwrap(), StatusEvent::Ready);
    assert_eq!(client.status(), Status::Ready);

    service.stop().await;
    for _ in 0..3 {
        let _ = client.prompts("acme", "github").await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let StatusEvent::Stale { since, why } = events.recv().await.unwrap() else {
        panic!("stale expected");
    };
    assert!(since <= std::time::SystemTime::now());
    assert!(!why.contains("127.0.0.1") && !why.is_empty(), "{why}");
    assert!(matches!(client.status(), Status::Stale { .. }));
    assert!(
        events.try_recv().is_err(),
        "failures in a row are one change"
    );

    let _service = Service::start(base).await;
    assert!(
        eventually(WAIT, || async {
            client
                .prompts("acme", "github")
                .await
                .is_ok_and(|v| v.stale.is_none())
        })
        .await
    );
    assert!(matches!(
        events.recv().await.unwrap(),
        StatusEvent::Recovered { stale_for } if stale_for > Duration::ZERO
    ));
    assert_eq!(client.status(), Status::Ready);
    assert!(events.try_recv().is_err());
}

/// Log lines written by the tracing subscriber of one test.
#[derive(Clone, Default)]
struct Logs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn c_src_10_a_redis_source_that_cannot_connect_says_so_once_and_reads_go_on() {
    let logs = Logs::default();
    let written = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || written.clone())
        .with_max_level(tracing::Level::ERROR)
        .finish();
    // This test's runtime runs on this thread: the source's task logs here.
    let _logging = tracing::subscriber::set_default(subscriber);
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(EXAMPLE_BUNDLE).await;
    let closed = mcp_config_tests::free_port();
    let client = ConfigClient::connect(ClientConfig {
        silence: Duration::from_millis(300),
        ..config(
            &service,
            Source::Redis {
                url: format!("redis://127.0.0.1:{closed}"),
                channel: "mcp-config:invalidations".into(),
            },
        )
    })
    .await
    .unwrap();

    for _ in 0..10 {
        assert!(client.prompts("acme", "github").await.is_ok());
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let said = text
        .matches("the Redis invalidation source cannot connect")
        .count();
    assert_eq!(said, 1, "{text}");
}

/// S-RENDER-1: with the service down, a prompt of a cached view renders here, as the service
/// rendered it; a render that fails fails as the service's does; a prompt of no cached view is
/// unavailable; a resource of a cached view reads from it.
#[tokio::test]
async fn s_render_1_service_down_a_cached_prompt_renders_locally_as_the_service_did() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let client = ConfigClient::connect(ClientConfig {
        timeout: Duration::from_millis(500),
        ..config(&service, Source::Watch)
    })
    .await
    .unwrap();
    let arguments = std::collections::HashMap::from([
        ("repo".to_owned(), "acme/api".to_owned()),
        ("number".to_owned(), "42".to_owned()),
        ("focus".to_owned(), "<migrations> & tests".to_owned()),
    ]);
    client.prompts("globex", "github").await.unwrap();
    client.resources("globex", "github").await.unwrap();
    let guide = "file:///guides/code-review.md";
    let live_guide = client
        .read_resource("globex", "github", guide)
        .await
        .unwrap();
    let live = client
        .prompt("globex", "github", "review-pr", arguments.clone())
        .await
        .unwrap();
    let live_missing = client
        .prompt("globex", "github", "review-pr", Default::default())
        .await
        .unwrap_err();

    service.stop().await;
    let local = client
        .prompt("globex", "github", "review-pr", arguments)
        .await
        .unwrap();
    assert_eq!(local.messages, live.messages, "rendered here as there");
    assert_eq!(local.description, live.description);
    let local_missing = client
        .prompt("globex", "github", "review-pr", Default::default())
        .await
        .unwrap_err();
    match (live_missing, local_missing) {
        (ClientError::Rejected(there), ClientError::Rejected(here)) => {
            assert_eq!(here.code(), there.code());
            assert_eq!(here.message(), there.message());
        }
        other => panic!("{other:?}"),
    }
    let uncached = client
        .prompt("acme", "slack", "anything", Default::default())
        .await
        .unwrap_err();
    assert!(
        matches!(uncached, ClientError::Unavailable(_)),
        "{uncached:?}"
    );
    // A resource of the cached view reads from it, as the service answered.
    let local_guide = client
        .read_resource("globex", "github", guide)
        .await
        .unwrap();
    assert_eq!(local_guide.contents, live_guide.contents);
    let unknown = client
        .read_resource("globex", "github", "file:///nowhere.md")
        .await
        .unwrap_err();
    assert!(
        matches!(unknown, ClientError::Unavailable(_)),
        "{unknown:?}"
    );
}
