//! Releases on the real binary: a manual scope stages saves at `latest` until a promotion moves
//! `production`, on PostgreSQL (two replicas sharing Redis) and on SQLite; labels other than
//! production, move back, conflicts between promoters, protected labels and the rights to move.

use futures::future::join;
use mcp_config_proto::v1::GetPromptsRequest;
use mcp_config_tests::{
    eventually,
    mcp::{expect_prompt_list_changed, prompt_list_changed, transport_for},
    postgres::Postgres,
    redis::Redis,
    service::{EXAMPLE_BUNDLE, Service, settings},
    tokens::{jwt_service, token},
};
use reqwest::{Method, StatusCode};
use rmcp::{service::ClientServiceExt, transport::StreamableHttpClientTransport};
use serde_json::{Value, json};
use tonic::Code;

const WAIT: std::time::Duration = std::time::Duration::from_secs(10);
const REVIEW: &str = "/orgs/acme/servers/github/prompts/review-pr";

/// The first message of acme's `review-pr` on `service` at `label` (`""`: production).
async fn review_text(service: &Service, label: &str) -> Result<String, tonic::Status> {
    let view = service
        .grpc()
        .await
        .get_prompts(GetPromptsRequest {
            org_id: "acme".into(),
            server: "github".into(),
            label: label.into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    Ok(view
        .prompts
        .iter()
        .find(|p| p.name == "review-pr")
        .map(|p| p.messages[0].text.clone())
        .unwrap_or_default())
}

async fn send(service: &Service, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
    let response = service
        .api()
        .request(method, path)
        .json(&body)
        .send()
        .await
        .expect("the admin API answers");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Where `label` points in acme's `review-pr`.
async fn label_version(service: &Service, label: &str) -> Option<u64> {
    let response = service
        .api()
        .request(Method::GET, &format!("{REVIEW}/labels"))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    body["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == label)
        .map(|l| l["version"].as_u64().unwrap())
}

/// The whole release path, written through `a` and read through `b` (the same replica on
/// SQLite).
async fn stage_promote_and_move_back(a: &Service, b: &Service) {
    a.import(EXAMPLE_BUNDLE).await;
    let original = review_text(b, "").await.unwrap();
    assert!(original.contains("Acme's checklist"), "{original}");
    let (status, body) = send(
        a,
        Method::PUT,
        "/orgs/acme/servers/github/release-policy",
        json!({"policy": "manual"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"][0]["action"], "policy");
    let before = label_version(a, "production").await.unwrap();
    a.wait_until_published().await;

    // An MCP client reading acme at production, on the reading replica, listening.
    let mcp = ()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(transport_for(
                b.url("/mcp/github"),
                Some("acme"),
            )),
            mcp_config_tests::mcp::current_protocol(),
        )
        .await
        .unwrap();
    let mut listening = mcp.listen(prompt_list_changed()).await.unwrap();

    // Staged: latest has it at once, production does not.
    let saved = a
        .api()
        .put_text_prompt("acme", "github", "review-pr", "Staged review")
        .await;
    assert_eq!(saved.status(), 200);
    let saved: Value = saved.json().await.unwrap();
    assert_eq!(saved["change"]["labels"], json!(["latest"]));
    let staged_version = saved["entry"]["version"].as_u64().unwrap();
    assert!(
        eventually(WAIT, || async {
            review_text(b, "latest").await.unwrap() == "Staged review"
        })
        .await,
        "latest shows the save"
    );
    a.wait_until_published().await;
    assert_eq!(
        review_text(b, "").await.unwrap(),
        original,
        "production waits"
    );
    assert_eq!(review_text(b, "production").await.unwrap(), original);

    // Two promoters from the same production version: one wins, one conflicts, and the
    // winner's move is the only one in the history.
    let promote = |version: u64| {
        send(
            a,
            Method::POST,
            "/orgs/acme/servers/github/labels/production",
            json!({
                "entries": [{"kind": "PROMPTS", "key": "review-pr", "version": version, "expected_version": before}],
                "message": "ship it",
            }),
        )
    };
    let (first, second) = join(promote(staged_version), promote(staged_version)).await;
    let mut statuses = [first.0.as_u16(), second.0.as_u16()];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{first:?} {second:?}");
    let loser = if first.0 == 409 { first.1 } else { second.1 };
    assert_eq!(loser["error"]["code"], "version_conflict", "{loser}");

    expect_prompt_list_changed(&mut listening).await;
    assert!(
        eventually(WAIT, || async {
            review_text(b, "").await.unwrap() == "Staged review"
        })
        .await,
        "the promotion reaches the other replica"
    );
    let rendered = mcp
        .get_prompt(rmcp::model::GetPromptRequestParams::new("review-pr"))
        .await
        .unwrap();
    let text = serde_json::to_value(&rendered.messages[0].content).unwrap()["text"].clone();
    assert_eq!(
        text, "Staged review",
        "the MCP client reads the promoted prompt"
    );

    // Move back: production to the version it was at.
    let (status, body) = send(
        a,
        Method::POST,
        "/orgs/acme/servers/github/labels/production",
        json!({"entries": [{"kind": "PROMPTS", "key": "review-pr", "version": before}], "message": "roll back"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    expect_prompt_list_changed(&mut listening).await;
    assert!(
        eventually(WAIT, || async {
            review_text(b, "").await.unwrap() == original
        })
        .await,
        "the move back reaches the other replica"
    );

    // The label's history: newest first, from and to, who and why.
    let history: Value = a
        .api()
        .request(Method::GET, &format!("{REVIEW}/labels"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let moves = history["history"].as_array().unwrap();
    assert_eq!(moves.len(), 2, "{history}");
    assert_eq!(moves[0]["message"], "roll back");
    assert_eq!(moves[0]["from"]["version"], staged_version);
    assert_eq!(moves[0]["to"]["version"], before);
    assert_eq!(moves[1]["message"], "ship it");
    assert_eq!(moves[1]["from"]["version"], before);

    // A new label: staging points at the staged version for acme only.
    let (status, body) = send(
        a,
        Method::POST,
        "/orgs/acme/servers/github/labels/staging",
        json!({"entries": [{"kind": "PROMPTS", "key": "review-pr", "version": staged_version}]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changes"][0]["labels"], json!(["staging"]));
    assert!(
        eventually(WAIT, || async {
            review_text(b, "staging").await.unwrap() == "Staged review"
        })
        .await
    );
    // Copy staging onto production for the whole scope: the staged text goes live again.
    let (status, body) = send(
        a,
        Method::POST,
        "/orgs/acme/servers/github/labels/production",
        json!({"from": "staging"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        eventually(WAIT, || async {
            review_text(b, "").await.unwrap() == "Staged review"
        })
        .await
    );

    // Unknown labels are errors, never a fallback.
    let unknown = review_text(b, "nope").await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    assert!(unknown.message().contains("nope"), "{unknown:?}");
    let bad = review_text(b, "Not A Label").await.unwrap_err();
    assert_eq!(bad.code(), Code::InvalidArgument);
    assert!(bad.message().starts_with("label:"), "{bad:?}");

    // Back to auto: production follows the head again, and the view's revision moved on.
    let revision_before = b.prompts_of("acme", "github").await.revision;
    let (status, _) = send(
        a,
        Method::PUT,
        "/orgs/acme/servers/github/release-policy",
        json!({"policy": "auto"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        eventually(WAIT, || async {
            b.prompts_of("acme", "github").await.revision > revision_before
        })
        .await,
        "the policy change moves production's revision forward"
    );
    assert_eq!(review_text(b, "").await.unwrap(), "Staged review");
}

#[tokio::test]
async fn a_staged_change_waits_for_promotion_on_postgres_replicas() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let redis = Redis::start();
    let database = pg.database();
    let a = Service::start(settings(&database, Some(&redis.url()))).await;
    let b = Service::start(settings(&database, Some(&redis.url()))).await;
    stage_promote_and_move_back(&a, &b).await;
}

#[tokio::test]
async fn a_staged_change_waits_for_promotion_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    stage_promote_and_move_back(&service, &service).await;
}

#[tokio::test]
async fn auto_scopes_refuse_moving_production_and_nobody_moves_latest() {
    let (_dir, service) = Service::example_on_sqlite().await;
    for (label, says) in [("production", "policy auto"), ("latest", "moves by itself")] {
        let (status, body) = send(
            &service,
            Method::POST,
            &format!("/orgs/acme/servers/github/labels/{label}"),
            json!({"entries": [{"kind": "PROMPTS", "key": "review-pr", "version": 1}]}),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(says),
            "{body}"
        );
    }
    // Bad requests name their field and change nothing.
    for (request, field) in [
        (json!({}), "entries"),
        (json!({"entries": []}), "entries"),
        (
            json!({"entries": [{"kind": "PROMPTS", "key": "review-pr"}]}),
            "entries[0].version",
        ),
        (
            json!({"from": "staging", "message": "x".repeat(5000)}),
            "message",
        ),
        (json!({"from": "staging"}), "from"),
    ] {
        let (status, body) = send(
            &service,
            Method::POST,
            "/orgs/acme/servers/github/labels/staging",
            request,
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["field"], field, "{body}");
    }
    let (status, body) = send(
        &service,
        Method::POST,
        "/orgs/acme/servers/github/labels/staging",
        json!({"entries": [{"kind": "PROMPTS", "key": "review-pr", "version": 99}]}),
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let labels: Value = service
        .api()
        .request(Method::GET, "/labels")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        labels["labels"],
        json!([]),
        "a refused move creates no label"
    );
}

#[tokio::test]
async fn only_admins_move_protected_labels_and_editors_only_their_org() {
    let dir = tempfile::tempdir().unwrap();
    let service = jwt_service(dir.path(), |_| {}).await;
    let admin = token("root", None, &["admin"]);
    let acme_editor = token("ann", Some("acme"), &["editor"]);
    let globex_editor = token("gus", Some("globex"), &["editor"]);
    service.import_as(EXAMPLE_BUNDLE, &admin).await;
    let stage = |who: &str, org: &str| {
        service
            .api()
            .as_token(who)
            .request(
                Method::POST,
                &format!("/orgs/{org}/servers/github/labels/staging"),
            )
            .json(&json!({"entries": [{"kind": "PROMPTS", "key": "review-pr", "version": 1}]}))
            .send()
    };
    assert_eq!(stage(&acme_editor, "acme").await.unwrap().status(), 200);
    assert_eq!(
        stage(&globex_editor, "acme").await.unwrap().status(),
        403,
        "another org's editor"
    );
    let protect = |who: &str| {
        service
            .api()
            .as_token(who)
            .request(Method::PUT, "/labels/staging")
            .json(&json!({"protected": true}))
            .send()
    };
    assert_eq!(protect(&acme_editor).await.unwrap().status(), 403);
    assert_eq!(protect(&admin).await.unwrap().status(), 200);
    let refused = stage(&acme_editor, "acme").await.unwrap();
    assert_eq!(refused.status(), 403);
    let body: Value = refused.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("protected"),
        "{body}"
    );
    assert_eq!(stage(&admin, "acme").await.unwrap().status(), 200);
    // A reader of another org cannot read acme's labels.
    let reader = token("rex", Some("globex"), &["reader"]);
    let peek = service
        .api()
        .as_token(&reader)
        .request(Method::GET, &format!("{REVIEW}/labels"))
        .send()
        .await
        .unwrap();
    assert_eq!(peek.status(), 403);
}
