//! Change webhooks end to end: a receiver in the test verifies every delivery with the stock
//! Standard Webhooks library; retries, `410 Gone`, redirects, private addresses, rotation,
//! rights, and two replicas on PostgreSQL (each change delivered once; a replica killed
//! mid-delivery loses nothing).

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::State,
    http::{HeaderMap, StatusCode, header::LOCATION},
    response::{IntoResponse, Response},
    routing::post,
};
use mcp_config::config::Settings;
use mcp_config_tests::{
    eventually,
    postgres::Postgres,
    service::{EXAMPLE_BUNDLE, Service, settings},
    tokens::{jwt_service, token},
};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

/// One request the receiver got, and what it answered.
#[derive(Clone)]
struct Got {
    headers: HeaderMap,
    body: String,
    answered: u16,
}

#[derive(Default)]
struct Script {
    /// Statuses to answer, in order; 200 once they run out.
    answers: VecDeque<u16>,
    /// Where a 3xx answer points.
    location: String,
    /// Hold every request without answering (a hung receiver).
    hang: bool,
    got: Vec<Got>,
}

/// A webhook receiver on a free local port.
struct Receiver {
    url: String,
    script: Arc<Mutex<Script>>,
}

impl Receiver {
    async fn start(answers: &[u16]) -> Self {
        let script = Arc::new(Mutex::new(Script {
            answers: answers.iter().copied().collect(),
            ..Script::default()
        }));
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { url, script }
    }

    fn got(&self) -> Vec<Got> {
        self.script.lock().unwrap().got.clone()
    }

    fn set(&self, change: impl FnOnce(&mut Script)) {
        change(&mut self.script.lock().unwrap());
    }
}

async fn receive(
    State(script): State<Arc<Mutex<Script>>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let (answered, hang, location) = {
        let mut script = script.lock().unwrap();
        let answered = script.answers.pop_front().unwrap_or(200);
        script.got.push(Got {
            headers,
            body,
            answered,
        });
        (answered, script.hang, script.location.clone())
    };
    if hang {
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
    let status = StatusCode::from_u16(answered).unwrap();
    if status.is_redirection() {
        return (status, [(LOCATION, location)]).into_response();
    }
    status.into_response()
}

/// Verifies a delivery as a receiver would, with the stock library.
fn verified(got: &Got, secret: &str) -> bool {
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(got.body.as_bytes(), &got.headers)
        .is_ok()
}

fn id_of(got: &Got) -> String {
    got.headers["webhook-id"].to_str().unwrap().to_owned()
}

/// Webhooks that may reach the test's loopback receivers, with quick retries.
fn quick(settings: &mut Settings) {
    settings.webhooks.webhook_allow_private = true;
    settings.webhooks.webhook_retry_schedule = "100ms,100ms,100ms,100ms".into();
    settings.webhooks.webhook_poll_ms = 50;
    settings.webhooks.webhook_timeout_ms = 2000;
}

/// A SQLite service with [`quick`] webhooks, in a directory that lives as long as the result.
async fn quick_on_sqlite() -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = settings(&mcp_config_tests::service::sqlite_url(dir.path()), None);
    quick(&mut config);
    (dir, Service::start(config).await)
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A bodiless admin API call as the anonymous admin: its status and JSON.
async fn ask(service: &Service, method: Method, path: &str) -> (u16, Value) {
    json_of(service.api().request(method, path).send().await.unwrap()).await
}

/// Registers an endpoint of `scope` (`defaults` or `orgs/acme`) as the anonymous admin.
async fn register(service: &Service, scope: &str, body: Value) -> (u16, Value) {
    let request = service
        .api()
        .request(Method::POST, &format!("/{scope}/webhooks"));
    json_of(request.json(&body).send().await.unwrap()).await
}

async fn deliveries(service: &Service, id: &str) -> Vec<Value> {
    let (status, log) = ask(service, Method::GET, &format!("/webhooks/{id}/deliveries")).await;
    assert_eq!(status, 200, "{log}");
    log["deliveries"].as_array().unwrap().clone()
}

async fn save(service: &Service, org: &str, text: &str) {
    let saved = service
        .api()
        .put_text_prompt(org, "github", "review-pr", text)
        .await;
    let status = saved.status();
    assert_eq!(status, 200, "{}", saved.text().await.unwrap());
}

/// A receiver failing three times then answering 200 gets four signed attempts of one
/// delivery (one `webhook-id`) and exactly one success; the log shows each attempt.
async fn a_delivery_is_retried_until_it_succeeds_once(service: &Service) {
    service.import(EXAMPLE_BUNDLE).await;
    let receiver = Receiver::start(&[500, 503, 500]).await;
    let (status, hook) = register(
        service,
        "orgs/acme",
        json!({"url": receiver.url, "description": "audit", "events": ["entries.changed"]}),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let id = hook["id"].as_str().unwrap().to_owned();

    save(service, "acme", "Hooked").await;
    save(service, "globex", "Another org's change").await;
    assert!(
        eventually(WAIT, || async {
            receiver.got().iter().any(|g| g.answered == 200)
        })
        .await,
        "delivered in the end"
    );
    // Quiet for a while: nothing more comes (no second success, no other org's change).
    tokio::time::sleep(Duration::from_millis(600)).await;
    let got = receiver.got();
    assert_eq!(
        got.iter().map(|g| g.answered).collect::<Vec<_>>(),
        [500, 503, 500, 200]
    );
    assert!(
        got.iter().all(|g| verified(g, &secret)),
        "every attempt verifies"
    );
    let ids: Vec<String> = got.iter().map(id_of).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "one webhook-id: {ids:?}");
    let body: Value = serde_json::from_str(&got[3].body).unwrap();
    assert_eq!(body["type"], "entries.changed");
    assert_eq!(body["data"]["org"], "acme");
    assert_eq!(body["data"]["keys"], json!(["review-pr"]));
    assert_eq!(body["data"]["action"], "update");

    let log = deliveries(service, &id).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["state"], "delivered");
    assert_eq!(log[0]["id"], ids[0].as_str());
    let statuses: Vec<&Value> = log[0]["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!(500), &json!(503), &json!(500), &json!(200)]
    );
}

#[tokio::test]
async fn a_delivery_is_retried_until_it_succeeds_once_on_sqlite() {
    let (_dir, service) = quick_on_sqlite().await;
    a_delivery_is_retried_until_it_succeeds_once(&service).await;
}

#[tokio::test]
async fn a_delivery_is_retried_until_it_succeeds_once_on_postgres() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let mut config = settings(&pg.database(), None);
    quick(&mut config);
    let service = Service::start(config).await;
    a_delivery_is_retried_until_it_succeeds_once(&service).await;
}

#[tokio::test]
async fn gone_disables_the_endpoint_redirects_are_not_followed_and_retries_run_out() {
    let (_dir, service) = quick_on_sqlite().await;
    service.import(EXAMPLE_BUNDLE).await;
    let gone = Receiver::start(&[410]).await;
    let elsewhere = Receiver::start(&[]).await;
    let redirecting = Receiver::start(&[302, 302, 302, 302, 302]).await;
    redirecting.set(|s| s.location = elsewhere.url.clone());
    let (_, gone_hook) = register(&service, "defaults", json!({"url": gone.url})).await;
    let (_, redirect_hook) = register(&service, "defaults", json!({"url": redirecting.url})).await;

    let saved = service
        .api()
        .put_text_prompt("", "github", "review-pr", "new default")
        .await;
    assert_eq!(saved.status(), 200);
    let gone_id = gone_hook["id"].as_str().unwrap();
    let disabled = eventually(WAIT, || async {
        let (_, hook) = ask(&service, Method::GET, &format!("/webhooks/{gone_id}")).await;
        hook["enabled"] == false
    })
    .await;
    assert!(disabled, "410 Gone disables the endpoint");
    let (_, hook) = ask(&service, Method::GET, &format!("/webhooks/{gone_id}")).await;
    assert!(
        hook["disabled_reason"].as_str().unwrap().contains("410"),
        "{hook}"
    );
    assert!(
        hook.get("secret").is_none(),
        "a secret is shown only when made"
    );

    let redirect_id = redirect_hook["id"].as_str().unwrap();
    let failed = eventually(WAIT, || async {
        deliveries(&service, redirect_id)
            .await
            .first()
            .is_some_and(|d| d["state"] == "failed")
    })
    .await;
    assert!(failed, "five redirects: the retries ran out");
    let log = deliveries(&service, redirect_id).await;
    assert_eq!(log[0]["attempts"], 5);
    assert!(
        log[0]["log"][0]["error"]
            .as_str()
            .unwrap()
            .contains("redirect"),
        "{log:?}"
    );
    assert!(
        elsewhere.got().is_empty(),
        "the redirect was never followed"
    );

    let (status, refused) = ask(&service, Method::POST, &format!("/webhooks/{gone_id}/ping")).await;
    assert_eq!(status, 409, "a ping to an endpoint that is off: {refused}");

    // Another change: the disabled endpoint gets nothing more.
    let before = gone.got().len();
    let saved = service
        .api()
        .put_text_prompt("", "github", "review-pr", "again")
        .await;
    assert_eq!(saved.status(), 200);
    assert!(eventually(WAIT, || async { redirecting.got().len() >= 6 }).await);
    assert_eq!(gone.got().len(), before);

    // Redeliver and ping: one more attempt each, answered by the receiver's default 200.
    let delivery = log[0]["id"].as_str().unwrap();
    let redelivered = service
        .api()
        .request(
            Method::POST,
            &format!("/webhooks/{redirect_id}/deliveries/{delivery}/redeliver"),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(redelivered.status(), 202);
    let (status, pinged) = ask(
        &service,
        Method::POST,
        &format!("/webhooks/{redirect_id}/ping"),
    )
    .await;
    assert_eq!(status, 202, "{pinged}");
    let ping_id = pinged["delivery"].as_str().unwrap().to_owned();
    let both = eventually(WAIT, || async {
        let got = redirecting.got();
        let ok = |id: &str| got.iter().any(|g| id_of(g) == id && g.answered == 200);
        ok(delivery) && ok(&ping_id)
    })
    .await;
    assert!(both, "the redelivery and the ping arrived");
    let ping = redirecting
        .got()
        .into_iter()
        .find(|g| id_of(g) == ping_id)
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&ping.body).unwrap()["type"],
        "webhook.ping"
    );
}

#[tokio::test]
async fn private_addresses_are_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = settings(&mcp_config_tests::service::sqlite_url(dir.path()), None);
    config.webhooks.webhook_poll_ms = 50;
    let service = Service::start(config).await;
    service.import(EXAMPLE_BUNDLE).await;
    let receiver = Receiver::start(&[]).await;
    let (status, refused) = register(&service, "defaults", json!({"url": receiver.url})).await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        refused.to_string().contains("url"),
        "names the field: {refused}"
    );
    for url in [
        "http://169.254.169.254/latest",
        "http://[::1]/hook",
        "ftp://example.com/",
    ] {
        let (status, body) = register(&service, "defaults", json!({"url": url})).await;
        assert_eq!(status, 400, "{url}: {body}");
    }
    let (status, body) = register(
        &service,
        "defaults",
        json!({"url": receiver.url, "events": ["everything"]}),
    )
    .await;
    assert_eq!(status, 400, "{body}");

    // A name is checked when it is resolved: `localhost` is accepted, then never reached.
    let by_name = receiver.url.replace("127.0.0.1", "localhost");
    let (status, hook) = register(&service, "defaults", json!({"url": by_name})).await;
    assert_eq!(status, 201, "{hook}");
    let saved = service
        .api()
        .put_text_prompt("", "github", "review-pr", "x")
        .await;
    assert_eq!(saved.status(), 200);
    let id = hook["id"].as_str().unwrap();
    let refused = eventually(WAIT, || async {
        deliveries(&service, id).await.first().is_some_and(|d| {
            d["log"][0]["error"]
                .as_str()
                .is_some_and(|e| e.contains("private"))
        })
    })
    .await;
    assert!(refused, "{:?}", deliveries(&service, id).await);
    assert!(receiver.got().is_empty());
}

#[tokio::test]
async fn org_admins_manage_only_their_own_orgs_webhooks_and_rotation_signs_with_both_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let service = jwt_service(dir.path(), quick).await;
    let admin = token("root", None, &["admin"]);
    let acme_admin = token("ann", Some("acme"), &["admin"]);
    let acme_editor = token("ed", Some("acme"), &["editor"]);
    let globex_admin = token("gus", Some("globex"), &["admin"]);
    let imported = service.import_as(EXAMPLE_BUNDLE, &admin).await;
    assert!(imported["added"].as_u64().unwrap() > 0);
    let receiver = Receiver::start(&[]).await;
    let call = |token: &str, method: Method, path: String, body: Option<Value>| {
        let request = service.api().as_token(token).request(method, &path);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        async move { json_of(request.send().await.unwrap()).await }
    };
    let hook = json!({"url": receiver.url});
    let (status, acme_hook) = call(
        &acme_admin,
        Method::POST,
        "/orgs/acme/webhooks".into(),
        Some(hook.clone()),
    )
    .await;
    assert_eq!(status, 201, "{acme_hook}");
    let id = acme_hook["id"].as_str().unwrap().to_owned();
    for (token, method, path, expected) in [
        (
            &acme_editor,
            Method::POST,
            "/orgs/acme/webhooks".to_owned(),
            403,
        ),
        (
            &acme_admin,
            Method::POST,
            "/defaults/webhooks".to_owned(),
            403,
        ),
        (
            &globex_admin,
            Method::POST,
            "/orgs/acme/webhooks".to_owned(),
            403,
        ),
        (
            &globex_admin,
            Method::GET,
            "/orgs/acme/webhooks".to_owned(),
            403,
        ),
        (&globex_admin, Method::GET, format!("/webhooks/{id}"), 404),
        (
            &globex_admin,
            Method::DELETE,
            format!("/webhooks/{id}"),
            404,
        ),
        (
            &globex_admin,
            Method::GET,
            format!("/webhooks/{id}/deliveries"),
            404,
        ),
        (&acme_editor, Method::GET, format!("/webhooks/{id}"), 403),
        (
            &admin,
            Method::POST,
            "/orgs/initech/webhooks".to_owned(),
            404,
        ),
    ] {
        let body = (method == Method::POST).then(|| hook.clone());
        let (status, answer) = call(token, method.clone(), path.clone(), body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
    }
    let (_, listed) = call(&globex_admin, Method::GET, "/webhooks".into(), None).await;
    assert_eq!(
        listed["webhooks"],
        json!([]),
        "another org's endpoints are not listed"
    );
    let (_, listed) = call(&admin, Method::GET, "/webhooks".into(), None).await;
    assert_eq!(listed["webhooks"].as_array().unwrap().len(), 1);

    // Rotation: the next delivery verifies with the new secret and with the old one.
    let old = acme_hook["secret"].as_str().unwrap().to_owned();
    let (status, rotated) = call(
        &acme_admin,
        Method::POST,
        format!("/webhooks/{id}/rotate"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(old, new);
    let saved = service
        .api()
        .as_token(&acme_admin)
        .put_text_prompt("acme", "github", "review-pr", "rotated")
        .await;
    assert_eq!(saved.status(), 200);
    assert!(eventually(WAIT, || async { !receiver.got().is_empty() }).await);
    let got = &receiver.got()[0];
    assert!(
        verified(got, &new) && verified(got, &old),
        "both secrets verify during a rotation"
    );
    assert!(!verified(got, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"));
}

/// Two replicas on one PostgreSQL: each change reaches the endpoint once; then a replica
/// killed while its attempt is in flight loses nothing: the lease runs out and the other
/// replica makes the next attempt.
#[tokio::test]
async fn two_replicas_deliver_each_change_once_and_a_killed_one_loses_nothing() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let database = pg.database();
    let replica = || {
        let mut config = settings(&database, None);
        quick(&mut config);
        config.webhooks.webhook_timeout_ms = 1000;
        Service::start(config)
    };
    let (a, b) = (replica().await, replica().await);
    let imported = a.import(EXAMPLE_BUNDLE).await;
    assert_eq!(imported["added"], 15, "{imported}");
    let receiver = Receiver::start(&[]).await;
    let (_, hook) = register(&a, "orgs/acme", json!({"url": receiver.url})).await;
    let id = hook["id"].as_str().unwrap().to_owned();
    for round in 0..10 {
        let writer = if round % 2 == 0 { &a } else { &b };
        save(writer, "acme", &format!("round {round}")).await;
    }
    assert!(eventually(WAIT, || async { receiver.got().len() >= 10 }).await);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut ids: Vec<String> = receiver.got().iter().map(id_of).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (ids.len(), receiver.got().len()),
        (10, 10),
        "each change once"
    );

    b.stop().await;
    receiver.set(|s| s.hang = true);
    save(&a, "acme", "in flight when its replica dies").await;
    assert!(
        eventually(WAIT, || async { receiver.got().len() == 11 }).await,
        "attempt 1 in flight"
    );
    a.stop().await;
    receiver.set(|s| s.hang = false);
    let c = replica().await;
    let delivered = eventually(Duration::from_secs(30), || async {
        deliveries(&c, &id)
            .await
            .first()
            .is_some_and(|d| d["state"] == "delivered")
    })
    .await;
    assert!(delivered, "{:?}", deliveries(&c, &id).await);
    let log = deliveries(&c, &id).await;
    // The stopped replica's attempt (or two, had its first timed out before the stop), then
    // the next replica's, delivered: the same message every time.
    assert!(log[0]["attempts"].as_u64().unwrap() >= 2, "{log:?}");
    let got = receiver.got();
    assert_eq!(got.last().unwrap().answered, 200);
    assert!(
        got[10..].iter().all(|g| id_of(g) == id_of(&got[10])),
        "the same message again"
    );
}

/// The web UI registers an endpoint (its secret shown once), pings it, shows each delivery
/// with its attempts, rotates the secret, turns the endpoint off and deletes it.
#[tokio::test]
async fn the_web_ui_registers_pings_shows_the_log_rotates_and_deletes() {
    let (_dir, service) = quick_on_sqlite().await;
    service.import(EXAMPLE_BUNDLE).await;
    let receiver = Receiver::start(&[]).await;
    let ui = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = |path: &str, fields: &[(&str, &str)]| ui.post(service.url(path)).form(fields).send();
    let created = form(
        "/ui/webhooks",
        &[
            ("scope", "acme"),
            ("url", &receiver.url),
            ("description", "audit log"),
            ("events", "label.moved"),
            ("events", "entries.changed"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(created.status(), 200);
    let html = created.text().await.unwrap();
    let marker = "id=\"secret\" readonly value=\"";
    let start = html.find(marker).expect("the secret, once") + marker.len();
    // As the page shows it: HTML-escaped (a base64 secret may hold `/`).
    let shown_secret = html[start..start + html[start..].find('"').unwrap()].to_owned();
    let secret = shown_secret.replace("&#x2f;", "/");
    assert!(secret.starts_with("whsec_"), "{secret}");

    let hooks: Value = service
        .api()
        .request(Method::GET, "/orgs/acme/webhooks")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hook = &hooks["webhooks"][0];
    assert_eq!(hook["events"], json!(["label.moved", "entries.changed"]));
    let id = hook["id"].as_str().unwrap().to_owned();
    let list = ui
        .get(service.url("/ui/webhooks"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        list.contains(receiver.url.split('/').nth(2).unwrap()) && !list.contains(&shown_secret),
        "listed, its secret not shown again"
    );

    let pinged = form(&format!("/ui/webhooks/{id}/ping"), &[]).await.unwrap();
    assert_eq!(pinged.status(), 303);
    assert!(eventually(WAIT, || async { !receiver.got().is_empty() }).await);
    assert!(verified(&receiver.got()[0], &secret));
    let shown = eventually(WAIT, || async {
        let page = ui
            .get(service.url(&format!("/ui/webhooks/{id}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        page.contains("webhook.ping") && page.contains("delivered")
    })
    .await;
    assert!(shown, "the page shows the delivery and its attempt");

    let rotated = form(&format!("/ui/webhooks/{id}/rotate"), &[])
        .await
        .unwrap();
    let html = rotated.text().await.unwrap();
    assert!(
        html.contains("Secret rotated") && !html.contains(&shown_secret),
        "a new secret"
    );
    let off = form(&format!("/ui/webhooks/{id}/disable"), &[])
        .await
        .unwrap();
    assert_eq!(off.status(), 303);
    let hook: Value = service
        .api()
        .request(Method::GET, &format!("/webhooks/{id}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(hook["enabled"], false);
    let bad = form(&format!("/ui/webhooks/{id}/explode"), &[])
        .await
        .unwrap();
    assert_eq!(bad.status(), 404);
    let deleted = form(&format!("/ui/webhooks/{id}/delete"), &[])
        .await
        .unwrap();
    assert_eq!(deleted.status(), 303);
    let gone = service
        .api()
        .request(Method::GET, &format!("/webhooks/{id}"))
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

/// A change request's life reaches an endpoint that asked for `change_request.updated` (and
/// only that), signed, one delivery per event, in order.
#[tokio::test]
async fn change_request_events_are_delivered_to_the_endpoints_that_want_them() {
    let dir = tempfile::tempdir().unwrap();
    let service = jwt_service(dir.path(), quick).await;
    let (root, ann, bob) = (
        token("root", None, &["admin"]),
        token("ann", Some("acme"), &["editor"]),
        token("bob", Some("acme"), &["editor"]),
    );
    service.import_as(EXAMPLE_BUNDLE, &root).await;
    let (requests, saves) = (Receiver::start(&[]).await, Receiver::start(&[]).await);
    let call = |token: &str, method: Method, path: &str, body: Value| {
        let request = service
            .api()
            .as_token(token)
            .request(method, path)
            .json(&body);
        async move { json_of(request.send().await.unwrap()).await }
    };
    let (status, hook) = call(
        &root,
        Method::POST,
        "/orgs/acme/webhooks",
        json!({"url": requests.url, "events": ["change_request.updated"]}),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    let secret = hook["secret"].as_str().unwrap().to_owned();
    let (status, _) = call(
        &root,
        Method::POST,
        "/orgs/acme/webhooks",
        json!({"url": saves.url, "events": ["entries.changed"]}),
    )
    .await;
    assert_eq!(status, 201);

    let (status, opened) = call(
        &ann,
        Method::POST,
        "/orgs/acme/servers/github/change-requests",
        json!({"title": "Announce me", "submit": true, "edits": [
            {"kind": "PROMPTS", "key": "review-pr", "content": {"messages": [{"role": "user", "text": "v2"}]}}
        ]}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    let id = opened["id"].as_u64().unwrap();
    let approval = json!({"content_hash": opened["content_hash"]});
    for (action, body) in [("approve", approval), ("apply", json!({}))] {
        let (status, body) = call(
            &bob,
            Method::POST,
            &format!("/change-requests/{id}/{action}"),
            body,
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    assert!(eventually(WAIT, || async { requests.got().len() >= 3 }).await);
    assert!(
        eventually(WAIT, || async { !saves.got().is_empty() }).await,
        "the applied save is an entries.changed"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = requests.got();
    assert!(got.iter().all(|g| verified(g, &secret)), "signed");
    let events: Vec<(String, String, String)> = got
        .iter()
        .map(|g| {
            let body: Value = serde_json::from_str(&g.body).unwrap();
            assert_eq!(body["type"], "change_request.updated");
            assert_eq!(body["data"]["id"], id);
            (
                body["data"]["event"].as_str().unwrap().to_owned(),
                body["data"]["actor"].as_str().unwrap().to_owned(),
                body["data"]["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("opened for review", "ann", "in_review"),
        ("approved", "bob", "approved"),
        ("applied", "bob", "applied"),
    ]
    .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
    assert_eq!(events, expected);
    let saved: Value = serde_json::from_str(&saves.got()[0].body).unwrap();
    assert_eq!(
        saved["data"]["detail"]["change_request"]["id"], id,
        "{saved}"
    );
    assert_eq!(
        saves.got().len(),
        1,
        "no change-request event to an endpoint that did not ask"
    );
}
