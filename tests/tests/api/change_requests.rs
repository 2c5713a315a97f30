//! Change requests on the real binary: an approval policy refuses direct moves of its label
//! (the emergency role excepted, and audited), a request's approvals are the content they
//! approved (an edit voids them, the author never counts), applying is one transaction that
//! fails cleanly when an entry moved underneath, and a scheduled apply survives a restart and
//! runs once with two replicas (PostgreSQL). Rights are tried with tokens of another org.

use std::time::Duration;

use mcp_config::config::{AuthMode, Settings};
use mcp_config_proto::v1::GetPromptsRequest;
use mcp_config_tests::{
    eventually,
    postgres::Postgres,
    service::{EXAMPLE_BUNDLE, Service, settings},
    tokens::{SECRET, jwt_service, token, with_token},
};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(10);
const SCOPE: &str = "/orgs/acme/servers/github";

/// The people of these tests: a global admin, acme's editors and admin, one who may act in an
/// emergency, and an editor of another org.
struct People {
    root: String,
    ann: String,
    bob: String,
    carol: String,
    em: String,
    eve: String,
}

impl People {
    fn new() -> Self {
        Self {
            root: token("root", None, &["admin"]),
            ann: token("ann", Some("acme"), &["editor"]),
            bob: token("bob", Some("acme"), &["editor"]),
            carol: token("carol", Some("acme"), &["admin"]),
            em: token("em", Some("acme"), &["editor", "emergency"]),
            eve: token("eve", Some("globex"), &["editor"]),
        }
    }
}

fn with_jwt(config: &mut Settings) {
    config.access.auth = AuthMode::Jwt;
    config.access.jwt_secret = Some(SECRET.into());
}

async fn call(
    service: &Service,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let request = service.api().as_token(token).request(method, path);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    let response = request.send().await.expect("the admin API answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The first message of acme's `review-pr` at `label` (`""`: production), read as root.
async fn review_text(service: &Service, root: &str, label: &str) -> String {
    let view = service
        .grpc()
        .await
        .get_prompts(with_token(
            GetPromptsRequest {
                org_id: "acme".into(),
                server: "github".into(),
                label: label.into(),
                ..Default::default()
            },
            root,
        ))
        .await
        .expect("acme's prompts")
        .into_inner();
    view.prompts
        .iter()
        .find(|p| p.name == "review-pr")
        .map(|p| p.messages[0].text.clone())
        .unwrap_or_default()
}

fn prompt(text: &str) -> Value {
    json!({"messages": [{"role": "user", "text": text}]})
}

/// The example bundle, acme's github scope manual, and `production` there needing two
/// approvals by editors.
async fn protected_scope(service: &Service, people: &People) {
    service.import_as(EXAMPLE_BUNDLE, &people.root).await;
    let (status, body) = call(
        service,
        &people.carol,
        Method::PUT,
        &format!("{SCOPE}/release-policy"),
        Some(json!({"policy": "manual"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let policy = json!({"approvals": 2, "approver_role": "editor"});
    let path = format!("{SCOPE}/approval-policies/production");
    let (status, body) = call(
        service,
        &people.ann,
        Method::PUT,
        &path,
        Some(policy.clone()),
    )
    .await;
    assert_eq!(status, 403, "an editor sets no policy: {body}");
    let (status, body) = call(service, &people.carol, Method::PUT, &path, Some(policy)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approvals"], 2);
}

/// Opens a request of `author` saving `text` as review-pr and moving production to it.
async fn open(service: &Service, author: &str, text: &str) -> Value {
    let (status, body) = call(
        service,
        author,
        Method::POST,
        &format!("{SCOPE}/change-requests"),
        Some(json!({
            "title": "New review checklist",
            "description": "Shorter, clearer.",
            "edits": [{"kind": "PROMPTS", "key": "review-pr", "content": prompt(text)}],
            "moves": [{"label": "production", "kind": "PROMPTS", "key": "review-pr"}],
            "submit": true,
        })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn act(service: &Service, who: &str, id: u64, action: &str, body: Value) -> (u16, Value) {
    call(
        service,
        who,
        Method::POST,
        &format!("/change-requests/{id}/{action}"),
        Some(body),
    )
    .await
}

/// Approves request `id` as `who`, naming the content it holds now (read by a global admin).
async fn approve(service: &Service, who: &str, id: u64) -> (u16, Value) {
    let root = token("root", None, &["admin"]);
    let (_, now) = call(
        service,
        &root,
        Method::GET,
        &format!("/change-requests/{id}"),
        None,
    )
    .await;
    act(
        service,
        who,
        id,
        "approve",
        json!({"content_hash": now["content_hash"]}),
    )
    .await
}

#[tokio::test]
async fn a_protected_label_moves_only_by_an_approved_request_or_in_an_emergency_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let service = jwt_service(dir.path(), |_| {}).await;
    a_protected_label_moves_only_by_an_approved_request_or_in_an_emergency(&service).await;
}

#[tokio::test]
async fn a_protected_label_moves_only_by_an_approved_request_or_in_an_emergency_on_postgres() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let mut config = settings(&pg.database(), None);
    with_jwt(&mut config);
    let service = Service::start(config).await;
    a_protected_label_moves_only_by_an_approved_request_or_in_an_emergency(&service).await;
    service.stop().await;
}

async fn a_protected_label_moves_only_by_an_approved_request_or_in_an_emergency(service: &Service) {
    let people = People::new();
    protected_scope(service, &people).await;
    let before = review_text(service, &people.root, "").await;
    assert!(before.contains("Acme's checklist"), "{before}");

    // A direct move is refused for everyone, naming the policy; nothing moves.
    let labels = format!("{SCOPE}/prompts/review-pr/labels");
    let (_, current) = call(service, &people.root, Method::GET, &labels, None).await;
    let production = |labels: &Value| {
        labels["labels"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["label"] == "production")
            .map(|l| l["version"].as_u64().unwrap())
            .unwrap()
    };
    let at = production(&current);
    for who in [&people.ann, &people.carol] {
        let (status, body) = call(
            service,
            who,
            Method::POST,
            &format!("{SCOPE}/labels/production"),
            Some(json!({"entries": [{"kind": "PROMPTS", "key": "review-pr", "version": 1}]})),
        )
        .await;
        assert_eq!(status, 409, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("approval policy of label production")
                && message.contains("2 approvals"),
            "{message}"
        );
    }
    // Nor may the scope go back to auto (saves would move production unapproved).
    let (status, body) = call(
        service,
        &people.carol,
        Method::PUT,
        &format!("{SCOPE}/release-policy"),
        Some(json!({"policy": "auto"})),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("approval policy"),
        "{body}"
    );

    // A request: opened in review, two approvals needed, invisible to another org.
    let request = open(service, &people.ann, "Checklist v2").await;
    let id = request["id"].as_u64().unwrap();
    assert_eq!(request["state"], "in_review");
    assert_eq!(request["approvals_needed"], 2);
    assert_eq!(
        request["moves"][0]["version"],
        request["edits"][0]["base_version"].as_u64().unwrap() + 1
    );
    let (status, _) = call(
        service,
        &people.eve,
        Method::GET,
        &format!("/change-requests/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 404, "another org's editor does not see it");
    let (status, _) = approve(service, &people.eve, id).await;
    assert_eq!(status, 404, "nor approves it");
    let (status, _) = call(
        service,
        &people.eve,
        Method::GET,
        &format!("{SCOPE}/change-requests"),
        None,
    )
    .await;
    assert_eq!(status, 403, "nor lists acme's");

    // The author never approves; an approval counts for the content it saw.
    let (status, body) = approve(service, &people.ann, id).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("author"),
        "{body}"
    );
    let first_hash = request["content_hash"].as_str().unwrap().to_owned();
    let (status, body) = act(
        service,
        &people.bob,
        id,
        "approve",
        json!({"content_hash": first_hash}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["change_request"]["approved_by"], json!(["bob"]));
    assert_eq!(body["change_request"]["state"], "in_review");
    let (status, _) = approve(service, &people.bob, id).await;
    assert_eq!(status, 409, "one approval per person");

    // An edit of the content voids bob's approval: review starts again.
    let (status, edited) = call(
        service,
        &people.bob,
        Method::PATCH,
        &format!("/change-requests/{id}"),
        Some(json!({"title": "hijack", "edits": [{"kind": "PROMPTS", "key": "review-pr", "content": prompt("bob's")}]})),
    )
    .await;
    assert_eq!(status, 403, "only the author edits: {edited}");
    let (status, edited) = call(
        service,
        &people.ann,
        Method::PATCH,
        &format!("/change-requests/{id}"),
        Some(json!({
            "title": "New review checklist",
            "edits": [{"kind": "PROMPTS", "key": "review-pr", "content": prompt("Checklist v3")}],
            "moves": [{"label": "production", "kind": "PROMPTS", "key": "review-pr"}],
        })),
    )
    .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(edited["approved_by"], json!([]));
    assert_eq!(edited["state"], "in_review");
    let voided = edited["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(voided["action"], "edited");
    assert!(
        voided["message"]
            .as_str()
            .unwrap()
            .contains("1 approval(s) voided"),
        "{voided}"
    );
    let (status, body) = act(
        service,
        &people.bob,
        id,
        "approve",
        json!({"content_hash": first_hash}),
    )
    .await;
    assert_eq!(
        status, 409,
        "an approval of what it no longer holds: {body}"
    );

    // Not applicable before approval; bob and carol approve; bob applies.
    let (status, _) = act(service, &people.bob, id, "apply", json!({})).await;
    assert_eq!(status, 409);
    for who in [&people.bob, &people.carol] {
        let (status, body) = act(
            service,
            who,
            id,
            "approve",
            json!({"content_hash": edited["content_hash"]}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, applied) = act(service, &people.bob, id, "apply", json!({})).await;
    assert_eq!(status, 200, "{applied}");
    assert_eq!(applied["change_request"]["state"], "applied");
    let changes = applied["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "a save and a promotion: {changes:?}");
    for change in changes {
        assert_eq!(change["detail"]["change_request"]["id"], id);
        assert_eq!(
            change["detail"]["change_request"]["approved_by"],
            json!(["bob", "carol"])
        );
    }
    assert!(
        eventually(WAIT, || async {
            review_text(service, &people.root, "").await == "Checklist v3"
        })
        .await,
        "production shows the applied request"
    );
    let (status, _) = act(service, &people.bob, id, "apply", json!({})).await;
    assert_eq!(status, 409, "applied once");
    let trail: Vec<String> = applied["change_request"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["action"].as_str().unwrap(),
                e["actor"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            "opened for review ann",
            "approved bob",
            "edited ann",
            "approved bob",
            "approved carol",
            "applied bob"
        ]
    );

    // The emergency role moves it directly, and the change says so.
    let (status, body) = call(
        service,
        &people.em,
        Method::POST,
        &format!("{SCOPE}/labels/production"),
        Some(json!({"entries": [{"kind": "PROMPTS", "key": "review-pr", "version": at}], "message": "outage"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let emergency = body["changes"][0]["detail"]["emergency"].as_str().unwrap();
    assert!(
        emergency.contains("approval policy of label production"),
        "{emergency}"
    );
    assert_eq!(body["changes"][0]["actor"], "em");
    assert!(
        eventually(WAIT, || async {
            review_text(service, &people.root, "").await == before
        })
        .await,
        "production is back"
    );
}

#[tokio::test]
async fn applying_fails_cleanly_when_an_entry_moved_underneath_and_drafts_and_cancels_follow_the_rules()
 {
    let dir = tempfile::tempdir().unwrap();
    let service = jwt_service(dir.path(), |_| {}).await;
    let people = People::new();
    protected_scope(&service, &people).await;
    let request = open(&service, &people.ann, "Checklist v2").await;
    let id = request["id"].as_u64().unwrap();
    for who in [&people.bob, &people.carol] {
        let (status, body) = approve(&service, who, id).await;
        assert_eq!(status, 200, "{body}");
    }
    // Someone saves review-pr directly (latest only: the scope is manual).
    let saved = service
        .api()
        .as_token(&people.bob)
        .put_text_prompt("acme", "github", "review-pr", "saved underneath")
        .await;
    assert_eq!(saved.status(), 200);
    let production = review_text(&service, &people.root, "").await;
    let (status, body) = act(&service, &people.bob, id, "apply", json!({})).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("prompts \"review-pr\" changed since the request was opened"),
        "{message}"
    );
    assert_eq!(
        review_text(&service, &people.root, "latest").await,
        "saved underneath"
    );
    assert_eq!(
        review_text(&service, &people.root, "").await,
        production,
        "nothing applied"
    );
    let (_, still) = call(
        &service,
        &people.bob,
        Method::GET,
        &format!("/change-requests/{id}"),
        None,
    )
    .await;
    assert_eq!(still["state"], "approved");

    // Bad input names its field and opens nothing.
    for (body, field) in [
        (
            json!({"title": "", "moves": [{"label": "production", "kind": "PROMPTS", "key": "review-pr", "version": 1}]}),
            "title",
        ),
        (json!({"title": "t"}), "edits"),
        (
            json!({"title": "t", "moves": [{"label": "latest", "kind": "PROMPTS", "key": "review-pr", "version": 1}]}),
            "moves[0].label",
        ),
        (
            json!({"title": "t", "moves": [{"label": "production", "kind": "PROMPTS", "key": "review-pr"}]}),
            "moves[0].version",
        ),
        (
            json!({"title": "t", "edits": [{"kind": "PROMPTS", "key": "x", "content": {"messages": [{"role": "nobody", "text": "x"}]}}]}),
            "edits[0].content.messages[0].role",
        ),
    ] {
        let (status, answer) = call(
            &service,
            &people.ann,
            Method::POST,
            &format!("{SCOPE}/change-requests"),
            Some(body),
        )
        .await;
        assert_eq!(status, 400, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (_, listed) = call(
        &service,
        &people.ann,
        Method::GET,
        &format!("{SCOPE}/change-requests"),
        None,
    )
    .await;
    assert_eq!(
        listed["change_requests"].as_array().unwrap().len(),
        1,
        "{listed}"
    );

    // A draft is not reviewed until submitted; its author (or an admin) cancels it.
    let (status, draft) = call(
        &service,
        &people.ann,
        Method::POST,
        &format!("{SCOPE}/change-requests"),
        Some(json!({"title": "later", "moves": [{"label": "production", "kind": "PROMPTS", "key": "review-pr", "version": 1}]})),
    )
    .await;
    assert_eq!(status, 201, "{draft}");
    assert_eq!(draft["state"], "draft");
    let draft_id = draft["id"].as_u64().unwrap();
    let (status, _) = approve(&service, &people.bob, draft_id).await;
    assert_eq!(status, 409, "a draft is not in review");
    let (status, _) = act(&service, &people.bob, draft_id, "cancel", json!({})).await;
    assert_eq!(status, 403, "not bob's to cancel");
    let (status, body) = act(
        &service,
        &people.ann,
        draft_id,
        "comment",
        json!({"message": "parking this"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = act(&service, &people.ann, draft_id, "cancel", json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["change_request"]["state"], "cancelled");
    let (_, cancelled) = call(
        &service,
        &people.ann,
        Method::GET,
        &format!("{SCOPE}/change-requests?state=cancelled"),
        None,
    )
    .await;
    assert_eq!(cancelled["change_requests"][0]["id"], draft_id);

    // A schedule that is taken back does not apply.
    let request = open(&service, &people.ann, "Scheduled, then not").await;
    let id = request["id"].as_u64().unwrap();
    for who in [&people.bob, &people.carol] {
        approve(&service, who, id).await;
    }
    let soon = time::OffsetDateTime::now_utc() + Duration::from_millis(1500);
    let at = soon
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, body) = act(
        &service,
        &people.bob,
        id,
        "schedule",
        json!({"at": "tomorrow"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("at")),
        "{body}"
    );
    let (status, body) = act(&service, &people.bob, id, "schedule", json!({"at": at})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["change_request"]["state"], "scheduled");
    let (status, body) = act(&service, &people.bob, id, "unschedule", json!({})).await;
    assert_eq!(status, 200, "{body}");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let (_, after) = call(
        &service,
        &people.bob,
        Method::GET,
        &format!("/change-requests/{id}"),
        None,
    )
    .await;
    assert_eq!(after["state"], "approved", "{after}");
}

/// A scheduled request survives its replicas' restart and is applied once by two new replicas
/// polling the same PostgreSQL.
#[tokio::test]
async fn a_scheduled_apply_survives_a_restart_and_runs_once_with_two_replicas() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let database = pg.database();
    let replica = || {
        let mut config = settings(&database, None);
        with_jwt(&mut config);
        Service::start(config)
    };
    let people = People::new();
    let a = replica().await;
    protected_scope(&a, &people).await;
    let request = open(&a, &people.ann, "Applied by the scheduler").await;
    let id = request["id"].as_u64().unwrap();
    for who in [&people.bob, &people.carol] {
        let (status, body) = approve(&a, who, id).await;
        assert_eq!(status, 200, "{body}");
    }
    let due = time::OffsetDateTime::now_utc() + Duration::from_secs(2);
    let at = due
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (status, body) = act(&a, &people.bob, id, "schedule", json!({"at": at})).await;
    assert_eq!(status, 200, "{body}");
    a.stop().await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let (b, c) = futures::join!(replica(), replica());
    let applied = eventually(WAIT, || async {
        let (_, now) = call(
            &b,
            &people.bob,
            Method::GET,
            &format!("/change-requests/{id}"),
            None,
        )
        .await;
        now["state"] == "applied"
    })
    .await;
    assert!(applied, "the scheduler applied it");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, done) = call(
        &c,
        &people.bob,
        Method::GET,
        &format!("/change-requests/{id}"),
        None,
    )
    .await;
    let applied_events: Vec<&Value> = done["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "applied")
        .collect();
    assert_eq!(applied_events.len(), 1, "{done}");
    assert_eq!(
        applied_events[0]["actor"], "bob",
        "applied as the one who scheduled it"
    );
    let (_, log) = call(
        &b,
        &people.root,
        Method::GET,
        "/changes?org=acme&limit=50",
        None,
    )
    .await;
    let of_request = log["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["detail"]["change_request"]["id"] == id)
        .count();
    assert_eq!(of_request, 2, "one save and one promotion, once: {log}");
    assert_eq!(
        review_text(&c, &people.root, "").await,
        "Applied by the scheduler"
    );
    b.stop().await;
    c.stop().await;
}

/// A UI request with `token`'s session cookie.
fn ui(service: &Service, method: Method, path: &str, token: &str) -> reqwest::RequestBuilder {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .request(method, service.url(path))
        .header("cookie", format!("mcp_config_session={token}"))
}

async fn ui_page(service: &Service, path: &str, token: &str) -> (u16, String) {
    let response = ui(service, Method::GET, path, token).send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn ui_post(service: &Service, path: &str, token: &str, form: &[(&str, &str)]) -> u16 {
    let response = ui(service, Method::POST, path, token)
        .form(form)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn the_web_ui_reviews_approves_and_applies_and_the_change_log_shows_requests_and_emergencies()
{
    let dir = tempfile::tempdir().unwrap();
    let service = jwt_service(dir.path(), |_| {}).await;
    let people = People::new();
    protected_scope(&service, &people).await;
    let request = open(&service, &people.ann, "Checklist from the UI").await;
    let id = request["id"].as_u64().unwrap();
    let path = format!("/ui/change-requests/{id}");

    let (status, list) = ui_page(&service, "/ui/change-requests", &people.bob).await;
    assert_eq!(status, 200);
    assert!(
        list.contains(&format!("#{id} New review checklist")),
        "{list}"
    );
    let (status, list) = ui_page(&service, "/ui/change-requests", &people.eve).await;
    assert_eq!(status, 200);
    assert!(
        !list.contains("New review checklist"),
        "another org's list does not show it"
    );
    let (status, _) = ui_page(&service, &path, &people.eve).await;
    assert_eq!(status, 404);

    // The author sees no approve button; a reviewer sees the diff and approves what it shows.
    let (_, own) = ui_page(&service, &path, &people.ann).await;
    assert!(!own.contains("/approve"), "the author cannot approve");
    let (status, review) = ui_page(&service, &path, &people.bob).await;
    assert_eq!(status, 200);
    assert!(
        review.contains("Checklist from the UI") && review.contains("Acme"),
        "the diff's two sides: {review}"
    );
    assert!(
        review.contains("<th scope=\"row\">production</th>"),
        "the move: {review}"
    );
    let marker = "name=\"content_hash\" value=\"";
    let start = review.find(marker).expect("an approve form") + marker.len();
    let hash = review[start..start + 64].to_owned();
    assert_eq!(hash, request["content_hash"].as_str().unwrap());
    // Each step as a reviewer takes it, and what the UI answers (303: done, back to the page).
    for (who, action, form, expected) in [
        (
            &people.bob,
            "approve",
            vec![("content_hash", hash.as_str())],
            303,
        ),
        (
            &people.eve,
            "approve",
            vec![("content_hash", hash.as_str())],
            404,
        ),
        (
            &people.carol,
            "approve",
            vec![("content_hash", "stale")],
            409,
        ),
        (
            &people.carol,
            "approve",
            vec![("content_hash", hash.as_str())],
            303,
        ),
        (&people.bob, "schedule", vec![("at", "soon")], 400),
        (&people.bob, "comment", vec![("message", "ship it")], 303),
        (&people.bob, "apply", vec![], 303),
    ] {
        let status = ui_post(&service, &format!("{path}/{action}"), who, &form).await;
        assert_eq!(status, expected, "{action} (form {form:?})");
    }
    let (_, applied) = ui_page(&service, &path, &people.ann).await;
    assert!(applied.contains("State</dt><dd>applied"), "{applied}");
    assert!(
        applied.contains("ship it") && applied.contains("2 of 2 (bob, carol)"),
        "{applied}"
    );
    assert_eq!(
        review_text(&service, &people.root, "").await,
        "Checklist from the UI"
    );

    // The change log links the request; an emergency move is marked.
    let (status, _) = call(
        &service,
        &people.em,
        Method::POST,
        &format!("{SCOPE}/labels/production"),
        Some(json!({"entries": [{"kind": "PROMPTS", "key": "review-pr", "version": 1}]})),
    )
    .await;
    assert_eq!(status, 200);
    let (_, log) = ui_page(&service, "/ui/changes?org=acme", &people.carol).await;
    assert!(log.contains(&format!("change request #{id}")), "{log}");
    assert!(log.contains(">emergency</strong>"), "{log}");
}

/// Opens (in review) a request of `who` moving `label` of review-pr to version 1.
async fn open_move(service: &Service, who: &str, label: &str) -> u64 {
    let (status, body) = call(
        service,
        who,
        Method::POST,
        &format!("{SCOPE}/change-requests"),
        Some(json!({"title": format!("{label} to v1"), "submit": true,
            "moves": [{"label": label, "kind": "PROMPTS", "key": "review-pr", "version": 1}]})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_u64().unwrap()
}

#[tokio::test]
async fn approvals_are_of_what_was_reviewed_and_policies_and_protection_in_force_apply() {
    let dir = tempfile::tempdir().unwrap();
    let service = jwt_service(dir.path(), |_| {}).await;
    let people = People::new();
    protected_scope(&service, &people).await;

    // An approval names what it approves; content changed and changed back revives nothing.
    let request = open(&service, &people.ann, "Checklist X").await;
    let id = request["id"].as_u64().unwrap();
    let (status, body) = act(&service, &people.bob, id, "approve", json!({})).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("content_hash")),
        "{body}"
    );
    assert_eq!(approve(&service, &people.bob, id).await.0, 200);
    let edit = |text: &str| {
        json!({"title": "New review checklist",
            "edits": [{"kind": "PROMPTS", "key": "review-pr", "content": prompt(text)}],
            "moves": [{"label": "production", "kind": "PROMPTS", "key": "review-pr"}]})
    };
    for text in ["Checklist Y", "Checklist X"] {
        let (status, body) = call(
            &service,
            &people.ann,
            Method::PATCH,
            &format!("/change-requests/{id}"),
            Some(edit(text)),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, back) = call(
        &service,
        &people.bob,
        Method::GET,
        &format!("/change-requests/{id}"),
        None,
    )
    .await;
    assert_eq!(
        back["content_hash"], request["content_hash"],
        "the same content again"
    );
    assert_eq!(
        back["approved_by"],
        json!([]),
        "bob's approval of X before the edits stays void"
    );
    let (status, body) = call(&service, &people.ann, Method::PATCH, &format!("/change-requests/{id}"), Some(json!({"title": "Renamed only", "edits": [{"kind": "PROMPTS", "key": "review-pr", "content": prompt("Checklist X")}], "moves": [{"label": "production", "kind": "PROMPTS", "key": "review-pr"}]}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["events"].as_array().unwrap().last().unwrap()["action"],
        "retitled"
    );

    // A label without a policy needs one approval; a policy set afterwards holds at apply.
    let staging = open_move(&service, &people.ann, "staging").await;
    let (status, body) = approve(&service, &people.bob, staging).await;
    assert_eq!(
        (status, body["change_request"]["state"].as_str()),
        (200, Some("approved")),
        "{body}"
    );
    let (status, body) = call(
        &service,
        &people.carol,
        Method::PUT,
        &format!("{SCOPE}/approval-policies/staging"),
        Some(json!({"approvals": 2, "approver_role": "admin"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = act(&service, &people.bob, staging, "apply", json!({})).await;
    assert_eq!(status, 409, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("needs 2 approvals") && message.contains("has 0"),
        "{message}"
    );

    // A protected label moves by a request only when an admin applies it.
    let (status, body) = call(
        &service,
        &people.root,
        Method::PUT,
        "/labels/canary",
        Some(json!({"protected": true})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let canary = open_move(&service, &people.ann, "canary").await;
    assert_eq!(approve(&service, &people.bob, canary).await.0, 200);
    let (status, body) = act(&service, &people.bob, canary, "apply", json!({})).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("protected"),
        "{body}"
    );
    let (status, body) = act(&service, &people.carol, canary, "apply", json!({})).await;
    assert_eq!(status, 200, "{body}");

    // A move to a version that does not exist, or of production where saves move it, is
    // refused when opened.
    let (status, body) = call(&service, &people.ann, Method::POST, &format!("{SCOPE}/change-requests"),
        Some(json!({"title": "t", "moves": [{"label": "staging", "kind": "PROMPTS", "key": "review-pr", "version": 99}]}))).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("moves[0].version")),
        "{body}"
    );
    let (status, body) = call(&service, &people.ann, Method::POST, "/defaults/servers/github/change-requests",
        Some(json!({"title": "t", "moves": [{"label": "production", "kind": "PROMPTS", "key": "review-pr", "version": 1}]}))).await;
    assert_eq!(
        status, 403,
        "an org's editor opens nothing in the defaults: {body}"
    );
    let (status, body) = call(&service, &people.root, Method::POST, "/defaults/servers/github/change-requests",
        Some(json!({"title": "t", "moves": [{"label": "production", "kind": "PROMPTS", "key": "review-pr", "version": 1}]}))).await;
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("moves[0].label")),
        "{body}"
    );
}
