//! The read path end to end: the real service on free ports, the example bundle imported
//! through the admin API, read with a real tonic client, on both stores.

use std::collections::HashMap;

use mcp_config_proto::v1::{
    GetPromptRequest, GetPromptsRequest, GetResourcesRequest, Kind, ReadResourceRequest,
    WatchRequest, resource_contents::Contents,
};
use mcp_config_tests::{
    postgres::Postgres,
    redis::Redis,
    service::{EXAMPLE_BUNDLE, Service, next_event, prompts, settings},
};
use tonic::Code;

fn names(response: &mcp_config_proto::v1::GetPromptsResponse) -> Vec<&str> {
    response.prompts.iter().map(|p| p.name.as_str()).collect()
}

async fn reads_the_example_bundle(service: &Service) {
    let report = service.import(EXAMPLE_BUNDLE).await;
    assert_eq!(report["added"], 15, "{report}");
    let mut grpc = service.grpc().await;

    let defaults = grpc
        .get_prompts(prompts("", "github"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        names(&defaults),
        ["release-notes", "review-pr", "triage-issue"]
    );
    assert!(defaults.revision > 0);

    let acme = grpc
        .get_prompts(prompts("acme", "github"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        names(&acme),
        [
            "release-notes",
            "review-pr",
            "security-review",
            "triage-issue"
        ]
    );
    assert_eq!(acme.prompts[1].title, "Review a pull request (Acme)");

    let globex = grpc
        .get_prompts(prompts("globex", "github"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(names(&globex), ["release-notes", "review-pr"]);

    let resources = grpc
        .get_resources(GetResourcesRequest {
            org_id: "globex".into(),
            server: "github".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let uris: Vec<&str> = resources.resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(
        uris,
        ["file:///guides/code-review.md"],
        "globex hides labels.json"
    );

    let unknown = grpc
        .get_prompts(prompts("nobody", "github"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        names(&unknown),
        names(&defaults),
        "an unknown org gets the defaults"
    );
    assert!(unknown.org_unknown, "and is told its org is unknown");
    assert!(!acme.org_unknown && !globex.org_unknown && !defaults.org_unknown);
    let empty = grpc
        .get_prompts(prompts("acme", "no-such-server"))
        .await
        .unwrap()
        .into_inner();
    assert!(empty.prompts.is_empty() && !empty.org_unknown);

    // The same revision again: not modified, no payload.
    let again = grpc
        .get_prompts(GetPromptsRequest {
            known_revision: acme.revision,
            ..prompts("acme", "github")
        })
        .await
        .unwrap()
        .into_inner();
    assert!(again.not_modified);
    assert!(again.prompts.is_empty());
    assert_eq!(again.revision, acme.revision);
    let stale = grpc
        .get_prompts(GetPromptsRequest {
            known_revision: acme.revision - 1,
            ..prompts("acme", "github")
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!stale.not_modified);
    assert_eq!(stale.prompts.len(), 4);

    // Pages of two, by cursor.
    let mut cursor = String::new();
    let mut paged = Vec::new();
    loop {
        let page = grpc
            .get_prompts(GetPromptsRequest {
                page_size: 2,
                cursor: cursor.clone(),
                ..prompts("acme", "github")
            })
            .await
            .unwrap()
            .into_inner();
        paged.extend(page.prompts.into_iter().map(|p| p.name));
        if page.next_cursor.is_empty() {
            break;
        }
        cursor = page.next_cursor;
    }
    assert_eq!(paged, names(&acme));

    // Rendering.
    let arguments: HashMap<String, String> = [
        ("repo", "acme/api"),
        ("number", "42"),
        ("focus", "error handling"),
    ]
    .map(|(k, v)| (k.into(), v.into()))
    .into();
    let rendered = grpc
        .get_prompt(GetPromptRequest {
            org_id: String::new(),
            server: "github".into(),
            name: "review-pr".into(),
            arguments,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        rendered.messages[0].text,
        "Review pull request #42 in acme/api.\nCheck correctness first, then tests, then style.\nPay special attention to: error handling."
    );
    let missing = grpc
        .get_prompt(GetPromptRequest {
            server: "github".into(),
            name: "review-pr".into(),
            arguments: [("repo".to_owned(), "x".to_owned())].into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::InvalidArgument);
    assert!(
        missing.message().contains("number"),
        "{}",
        missing.message()
    );

    let contents = grpc
        .read_resource(ReadResourceRequest {
            org_id: "acme".into(),
            server: "github".into(),
            uri: "file:///acme/oncall.md".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        matches!(&contents.contents[0].contents, Some(Contents::Text(t)) if t.starts_with("# On call"))
    );
}

async fn bad_requests_are_invalid_arguments_naming_the_field(service: &Service) {
    let mut grpc = service.grpc().await;
    let cases = [
        (prompts("Acme!", "github"), "org_id"),
        (prompts("acme", ""), "server"),
        (
            GetPromptsRequest {
                page_size: 1_000_000,
                ..prompts("acme", "github")
            },
            "page_size",
        ),
        (
            GetPromptsRequest {
                cursor: "%%%".into(),
                page_size: 1,
                ..prompts("acme", "github")
            },
            "cursor",
        ),
    ];
    for (request, field) in cases {
        let status = grpc.get_prompts(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with(field),
            "{field}: {}",
            status.message()
        );
    }
    let unknown = grpc
        .get_prompt(GetPromptRequest {
            server: "github".into(),
            name: "nope".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    let bad_uri = grpc
        .read_resource(ReadResourceRequest {
            server: "github".into(),
            uri: "not a uri".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(bad_uri.code(), Code::InvalidArgument);
    assert!(
        bad_uri.message().starts_with("uri"),
        "{}",
        bad_uri.message()
    );
}

#[tokio::test]
async fn the_example_reads_right_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    reads_the_example_bundle(&service).await;
    bad_requests_are_invalid_arguments_naming_the_field(&service).await;
}

#[tokio::test]
async fn the_example_reads_right_on_postgres() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let service = Service::start(settings(&pg.database(), None)).await;
    reads_the_example_bundle(&service).await;
    bad_requests_are_invalid_arguments_naming_the_field(&service).await;
}

/// An org nobody registered reads the defaults and is told so; registering it announces each
/// view it could have read (a change per server and kind of the defaults, no keys), and moves
/// their revision, so a reader holding the "unknown" copy gets the org's own view, never a
/// `not_modified`, and caches (L1, L2) drop that copy.
async fn registering_an_org_ends_its_unknown_views(service: &Service) {
    service.import(EXAMPLE_BUNDLE).await;
    let mut grpc = service.grpc().await;
    let before = grpc
        .get_prompts(prompts("initech", "github"))
        .await
        .unwrap()
        .into_inner();
    assert!(before.org_unknown);
    assert_eq!(
        names(&before),
        ["release-notes", "review-pr", "triage-issue"]
    );
    let cached = service.prompts_of("initech", "github").await;
    assert!(cached.org_unknown, "the cached copy says so too");
    let mut events = grpc
        .watch(WatchRequest {
            orgs: vec!["initech".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();

    let created = service
        .api()
        .request(reqwest::Method::POST, "/orgs")
        .json(&serde_json::json!({"slug": "initech", "name": "Initech"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let mut announced = Vec::new();
    while announced.len() < 5 {
        let event = next_event(&mut events).await;
        assert_eq!(event.org_id, "initech", "{event:?}");
        assert!(event.keys.is_empty(), "no entry changed: {event:?}");
        announced.push((event.server, Kind::try_from(event.kind).unwrap()));
    }
    announced.sort();
    assert_eq!(
        announced,
        [
            ("github".to_owned(), Kind::Prompts),
            ("github".to_owned(), Kind::Resources),
            ("postgres".to_owned(), Kind::Prompts),
            ("postgres".to_owned(), Kind::Resources),
            ("slack".to_owned(), Kind::Prompts),
        ],
        "every server and kind the defaults hold"
    );
    service.wait_until_published().await;
    let after = grpc
        .get_prompts(GetPromptsRequest {
            known_revision: before.revision,
            ..prompts("initech", "github")
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!after.not_modified, "the unknown copy is never confirmed");
    assert!(after.revision > before.revision);
    assert!(!after.org_unknown, "a registered org without overrides");
    assert_eq!(names(&after), names(&before));
    let log = service
        .api()
        .request(reqwest::Method::GET, "/changes?org=initech")
        .send()
        .await
        .unwrap();
    let log: serde_json::Value = log.json().await.unwrap();
    assert!(
        log.to_string().contains("\"register\""),
        "the change log records the registration: {log}"
    );
}

#[tokio::test]
async fn registering_an_org_ends_its_unknown_views_on_sqlite_with_redis() {
    let dir = tempfile::tempdir().unwrap();
    let redis = tokio::task::spawn_blocking(Redis::start).await.unwrap();
    let service = Service::sqlite_with_redis(&dir, &redis).await;
    registering_an_org_ends_its_unknown_views(&service).await;
}

#[tokio::test]
async fn registering_an_org_ends_its_unknown_views_on_postgres() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let service = Service::start(settings(&pg.database(), None)).await;
    registering_an_org_ends_its_unknown_views(&service).await;
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    assert!(service.serving().await, "gRPC health: serving");
    let ready: serde_json::Value = reqwest::get(service.url("/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["ready"], true);
}
