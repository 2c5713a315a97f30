//! A hung peer is not a closed one: with Redis frozen (SIGSTOP), connections stay up and
//! nothing answers. The read path must not wait on it.

use std::time::Duration;

use fred::prelude::ClientLike;

use mcp_config::{
    cache::ViewKey,
    domain::{Kind, Scope, Slug},
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
    }
}

#[tokio::test]
async fn a_frozen_redis_costs_a_few_reads_a_deadline_and_then_none() {
    let redis = Redis::start();
    let client = redis::client(&redis.url()).unwrap();
    client.wait_for_connect().await.unwrap();
    let l2 = L2::new(
        client,
        RedisSettings {
            channel: "faults".into(),
            l2_ttl: Duration::from_secs(60),
            l2_timeout: Duration::from_millis(50),
        },
    );
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
