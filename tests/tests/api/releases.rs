//! Releases on the real binary: a manual scope stages saves at `latest` until a promotion moves
//! `production`, on PostgreSQL (two replicas sharing Redis) and on SQLite; labels other than
//! production, move back, conflicts between promoters, protected labels and the rights to move.

use futures::future::join;
use mcp_config::domain::{Kind, Slug, bucket};
use mcp_config_proto::v1::GetPromptsRequest;
use mcp_config_tests::{
    eventually,
    mcp::{expect_prompt_list_changed, prompt_list_changed, transport_for},
    postgres::Postgres,
    redis::Redis,
    service::{EXAMPLE_BUNDLE, Service, settings},
    tokens::{jwt_service, token, with_token},
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
    // The change log has each move too: who, which label, from which version to which, why.
    let (_, log) = send(a, Method::GET, "/changes?org=acme&limit=100", Value::Null).await;
    let promotions: Vec<&Value> = log["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "promote")
        .collect();
    assert_eq!(promotions.len(), 2, "{log}");
    assert_eq!(promotions[0]["detail"]["message"], "ship it");
    let back = promotions[1];
    assert_eq!(back["labels"], json!(["production"]));
    assert_eq!(back["actor"], "anonymous");
    assert_eq!(back["detail"]["message"], "roll back");
    assert_eq!(back["detail"]["moves"][0]["key"], "review-pr");
    assert_eq!(
        back["detail"]["moves"][0]["from"]["version"],
        staged_version
    );
    assert_eq!(back["detail"]["moves"][0]["to"]["version"], before);
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

    // The admin API lists a scope's entries as a label has them.
    let listed = |label: &'static str| async move {
        let body: Value = a
            .api()
            .request(
                Method::GET,
                &format!("/orgs/acme/servers/github/prompts?label={label}"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == "review-pr")
            .map(|e| e["version"].as_u64().unwrap())
    };
    assert_eq!(listed("staging").await, Some(staged_version));
    assert_eq!(listed("latest").await, Some(staged_version));
    let (status, _) = send(
        a,
        Method::GET,
        "/orgs/acme/servers/github/prompts?label=nope",
        Value::Null,
    )
    .await;
    assert_eq!(status, 404);

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

/// Two replicas on one throwaway PostgreSQL and one Redis (kept alive by the first two).
async fn replicas() -> (Postgres, Redis, Service, Service) {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let redis = Redis::start();
    let database = pg.database();
    let a = Service::start(settings(&database, Some(&redis.url()))).await;
    let b = Service::start(settings(&database, Some(&redis.url()))).await;
    (pg, redis, a, b)
}

#[tokio::test]
async fn a_staged_change_waits_for_promotion_on_postgres_replicas() {
    let (_pg, _redis, a, b) = replicas().await;
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
    // Acme's label is acme's to know: globex neither lists it nor reads at it.
    let listed = |who: String| {
        let service = &service;
        async move {
            let body: Value = service
                .api()
                .as_token(&who)
                .request(Method::GET, "/labels")
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["labels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["name"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(listed(acme_editor.clone()).await, ["staging"]);
    assert!(listed(globex_editor.clone()).await.is_empty());
    let at_staging = |org: &str, who: &str| {
        with_token(
            GetPromptsRequest {
                org_id: org.into(),
                server: "github".into(),
                label: "staging".into(),
                ..Default::default()
            },
            who,
        )
    };
    let mut grpc = service.grpc().await;
    assert!(
        grpc.get_prompts(at_staging("acme", &acme_editor))
            .await
            .is_ok()
    );
    let hidden = grpc
        .get_prompts(at_staging("globex", &globex_editor))
        .await
        .unwrap_err();
    assert_eq!(hidden.code(), Code::NotFound, "{hidden:?}");
    let protect = |who: &str| {
        service
            .api()
            .as_token(who)
            .request(Method::PUT, "/labels/staging")
            .json(&json!({"protected": true}))
            .send()
    };
    assert_eq!(protect(&acme_editor).await.unwrap().status(), 403);
    let latest = service
        .api()
        .as_token(&admin)
        .request(Method::PUT, "/labels/latest")
        .json(&json!({"protected": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(latest.status(), 400, "latest is no label to protect");
    let body: Value = latest.json().await.unwrap();
    assert_eq!(body["error"]["field"], "label", "{body}");
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

/// The first message of `org`'s prompt `greet` of server `tools` at production.
async fn greeting(service: &Service, org: &str) -> String {
    let view = service.prompts_of(org, "tools").await;
    view.prompts
        .iter()
        .find(|p| p.name == "greet")
        .map(|p| p.messages[0].text.clone())
        .unwrap_or_default()
}

/// The orgs (of `orgs`) in a cohort of `percent` of the default `greet` of `tools`.
fn expected_members(orgs: &[String], percent: u8) -> Vec<String> {
    let server = Slug::parse("server", "tools").unwrap();
    orgs.iter()
        .filter(|org| {
            let org = Slug::parse("org", org).unwrap();
            bucket(&org, &server, Kind::Prompts, "greet") < percent
        })
        .cloned()
        .collect()
}

async fn rollout(a: &Service, body: Value) -> (StatusCode, Value) {
    send(
        a,
        Method::POST,
        "/defaults/servers/tools/prompts/greet/rollouts/production",
        body,
    )
    .await
}

async fn members(a: &Service) -> Vec<String> {
    let body: Value = a
        .api()
        .request(
            Method::GET,
            "/defaults/servers/tools/prompts/greet/rollouts/production",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    serde_json::from_value(body["members"].clone()).unwrap()
}

/// Until every org of `orgs` reads, through `b`, "v2" when in `cohort` and "v1" otherwise.
async fn assert_cohort(b: &Service, orgs: &[String], cohort: &[String]) {
    for org in orgs {
        let wanted = if cohort.contains(org) { "v2" } else { "v1" };
        assert!(
            eventually(WAIT, || async { greeting(b, org).await == wanted }).await,
            "{org} should read {wanted}"
        );
    }
}

/// A rollout of a default, started, raised, completed, and another aborted: written through
/// `a`, read through `b`.
async fn roll_out_a_default(a: &Service, b: &Service) {
    let orgs: Vec<String> = (0..30).map(|i| format!("org{i}")).collect();
    for org in &orgs {
        let (status, body) =
            send(a, Method::POST, "/orgs", json!({"slug": org, "name": org})).await;
        assert!(status.is_success(), "{body}");
    }
    let api = a.api();
    let save = |text: &'static str| api.put_text_prompt("", "tools", "greet", text);
    assert_eq!(save("v1").await.status(), 200);
    let (status, _) = send(
        a,
        Method::PUT,
        "/defaults/servers/tools/release-policy",
        json!({"policy": "manual"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(save("v2").await.status(), 200);
    assert_cohort(b, &orgs, &[]).await;

    let ten = expected_members(&orgs, 10);
    let fifty = expected_members(&orgs, 50);
    assert!(!fifty.is_empty() && fifty.len() < orgs.len(), "{fifty:?}");
    let (status, body) = rollout(
        a,
        json!({"action": "start", "version": 2, "percent": 10, "orgs": ["org29"], "message": "try it"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut cohort = ten.clone();
    if !cohort.contains(&"org29".to_owned()) {
        cohort.push("org29".into());
    }
    cohort.sort();
    let mut changed: Vec<String> =
        serde_json::from_value(body["changes"][0]["orgs"].clone()).unwrap();
    changed.sort();
    assert_eq!(
        changed, cohort,
        "the event names the orgs that moved, only them"
    );
    let mut listed = members(a).await;
    listed.sort();
    assert_eq!(listed, cohort);
    assert_cohort(b, &orgs, &cohort).await;
    assert_eq!(
        greeting(b, "").await,
        "v1",
        "the defaults-only view is in no cohort"
    );

    // 50 %: everyone who was in stays in.
    let (status, body) = rollout(
        a,
        json!({"action": "set", "percent": 50, "orgs": ["org29"]}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let mut bigger = fifty.clone();
    if !bigger.contains(&"org29".to_owned()) {
        bigger.push("org29".into());
    }
    assert!(cohort.iter().all(|org| bigger.contains(org)));
    let changed: Vec<String> = serde_json::from_value(body["changes"][0]["orgs"].clone()).unwrap();
    assert!(
        changed.iter().all(|org| !cohort.contains(org)),
        "{changed:?}"
    );
    assert_cohort(b, &orgs, &bigger).await;

    // A second start is refused while one runs; complete moves the label for everyone.
    let (status, _) = rollout(a, json!({"action": "start", "version": 2, "percent": 5})).await;
    assert_eq!(status, 409);
    let (status, body) = rollout(a, json!({"action": "complete", "message": "done"})).await;
    assert_eq!(status, 200, "{body}");
    assert_cohort(b, &orgs, &orgs).await;
    assert_eq!(greeting(b, "").await, "v2");
    let (status, _) = rollout(a, json!({"action": "abort"})).await;
    assert_eq!(status, 404, "no rollout left to abort");

    // Abort: a rollout back to version 1 at 100 % then aborted leaves everyone on v2.
    let (status, body) = rollout(a, json!({"action": "start", "version": 1, "percent": 100})).await;
    assert_eq!(status, 200, "{body}");
    assert!(eventually(WAIT, || async { greeting(b, "org0").await == "v1" }).await);
    let (status, _) = rollout(a, json!({"action": "abort", "message": "no"})).await;
    assert_eq!(status, 200);
    assert!(eventually(WAIT, || async { greeting(b, "org0").await == "v2" }).await);
    let history: Value = a
        .api()
        .request(
            Method::GET,
            "/defaults/servers/tools/prompts/greet/rollouts/production",
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = history["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|step| step["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["abort", "start", "complete", "set", "start"]);
    assert!(history.get("target_version").is_none(), "{history}");
}

#[tokio::test]
async fn a_rollout_reaches_its_cohort_only_on_postgres_replicas() {
    let (_pg, _redis, a, b) = replicas().await;
    roll_out_a_default(&a, &b).await;
}

#[tokio::test]
async fn a_rollout_reaches_its_cohort_only_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    roll_out_a_default(&service, &service).await;
}

#[tokio::test]
async fn rollout_requests_name_what_is_wrong() {
    let (_dir, service) = Service::example_on_sqlite().await;
    for (path, request, status, field) in [
        (
            "/orgs/acme/servers/github/prompts/review-pr/rollouts/staging",
            json!({"action": "start", "version": 1, "percent": 10}),
            400,
            Some("org"),
        ),
        (
            "/defaults/servers/github/prompts/review-pr/rollouts/staging",
            json!({"action": "start", "percent": 10}),
            400,
            Some("version"),
        ),
        (
            "/defaults/servers/github/prompts/review-pr/rollouts/staging",
            json!({"action": "start", "version": 1, "percent": 101}),
            400,
            Some("percent"),
        ),
        (
            "/defaults/servers/github/prompts/review-pr/rollouts/staging",
            json!({"action": "abort", "percent": 5}),
            400,
            Some("percent"),
        ),
        (
            "/defaults/servers/github/prompts/review-pr/rollouts/staging",
            json!({"action": "start", "version": 1, "percent": 10, "orgs": ["Bad Org"]}),
            400,
            Some("orgs[0]"),
        ),
        (
            "/defaults/servers/github/prompts/review-pr/rollouts/production",
            json!({"action": "start", "version": 1, "percent": 10}),
            409,
            None,
        ),
    ] {
        let (got, body) = send(&service, Method::POST, path, request).await;
        assert_eq!(got.as_u16(), status, "{path} {body}");
        if let Some(field) = field {
            assert_eq!(body["error"]["field"], field, "{body}");
        }
    }
    // A label that does not point at the entry yet cannot be rolled out.
    let (got, body) = send(
        &service,
        Method::POST,
        "/defaults/servers/github/prompts/review-pr/rollouts/staging",
        json!({"action": "start", "version": 1, "percent": 10}),
    )
    .await;
    assert_eq!(got, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("move it"),
        "{body}"
    );
}
