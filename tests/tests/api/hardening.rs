//! Attacks a tenant holding an ordinary token (or a token with no rights) can make, each
//! against the real service: work before permission, costly input, Watch beyond its rights or
//! limits, writes that reveal, claims that widen rights, names that look alike.

use std::time::Duration;

use futures::StreamExt;
use mcp_config_proto::v1::{
    GetPromptRequest, WatchRequest, config_service_client::ConfigServiceClient,
};
use mcp_config_tests::{
    service::{Service, next_event, prompts},
    tokens::{example_with_jwt, now, token, token_expiring, with_token},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::{Code, transport::Channel};

/// The longest any single step may take here: a bound for a test that would otherwise hang,
/// never a timing assertion.
const HANG: Duration = Duration::from_secs(30);

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The entry at admin API `path` does not exist: the refused save wrote nothing.
async fn assert_nothing_saved(service: &Service, token: &str, path: &str) {
    let read = service
        .api()
        .as_token(token)
        .request(Method::GET, path)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::NOT_FOUND, "nothing was saved");
}

/// The newest revision, read by a global admin.
async fn latest_revision(service: &Service) -> Option<u64> {
    service
        .latest_revision_as(&token("root", None, &["admin"]))
        .await
}

/// Sends `head` (a request line, headers, and the start of a body far shorter than it
/// announces) and returns the status line of the answer: only a server that answers before
/// reading the body answers at all.
async fn answer_before_the_body(service: &Service, head: &str) -> String {
    let mut connection = tokio::net::TcpStream::connect(service.http_addr)
        .await
        .unwrap();
    connection.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 64];
    let read = tokio::time::timeout(HANG, connection.read(&mut answer))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    String::from_utf8_lossy(&answer[..read]).to_string()
}

#[tokio::test]
async fn a_token_without_a_write_role_is_refused_before_its_bundle_is_read() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let head = format!(
        "POST /admin/v1/bundle HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/yaml\r\nContent-Length: 16000000\r\n\r\ndefaults:\n",
        token("mallory", None, &[])
    );
    let status_line = answer_before_the_body(&service, &head).await;
    assert!(status_line.starts_with("HTTP/1.1 403"), "{status_line}");
}

#[tokio::test]
async fn a_ui_form_is_refused_before_it_is_read_unless_its_sender_may_submit_it() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let form_to = |path: &str, token: &str, length: usize| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: mcp_config_session={token}\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\na=1&b=2&"
        )
    };
    // A reader's 14 MB form to the edit and save routes, and to a bundle import.
    let reader = token("rob", Some("acme"), &["reader"]);
    for path in [
        "/ui/orgs/acme/github/edit/prompts",
        "/ui/orgs/acme/github/save/prompts",
        "/ui/orgs/acme/github/prompts/review-pr/switch/deactivate",
        "/ui/bundle/apply",
        "/ui/orgs",
    ] {
        let status = answer_before_the_body(&service, &form_to(path, &reader, 14_000_000)).await;
        assert!(status.starts_with("HTTP/1.1 403"), "{path}: {status}");
    }
    // An editor of acme, to globex: refused the same way.
    let editor = token("ann", Some("acme"), &["editor"]);
    let path = "/ui/orgs/globex/github/save/prompts";
    let status = answer_before_the_body(&service, &form_to(path, &editor, 14_000)).await;
    assert!(status.starts_with("HTTP/1.1 403"), "{path}: {status}");
    // The editor's own form, larger than the cap: 413 before it is read.
    let path = "/ui/orgs/acme/github/edit/prompts";
    let status = answer_before_the_body(&service, &form_to(path, &editor, 64 << 20)).await;
    assert!(status.starts_with("HTTP/1.1 413"), "{path}: {status}");
    // Within the byte cap but of more fields than the field cap: 413, naming the setting.
    let fields = vec![("x", "1"); 5000];
    let answer = reqwest::Client::new()
        .post(service.url(path))
        .header("cookie", format!("mcp_config_session={editor}"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let text = answer.text().await.unwrap();
    assert!(text.contains("MCP_CONFIG_UI_MAX_FORM_FIELDS"), "{text}");
}

#[tokio::test]
async fn a_token_that_grants_no_role_cannot_sign_in_to_the_ui() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let nothing = token("nobody", Some("acme"), &[]);
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(service.url("/ui/login"))
        .form(&[("token", nothing.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::FORBIDDEN);
    assert!(answer.headers().get("set-cookie").is_none());
    let page = answer.text().await.unwrap();
    assert!(page.contains("grants no role"), "{page}");
    // A session cookie holding it (set by hand) shows no page either.
    let page = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(service.url("/ui/"))
        .header("cookie", format!("mcp_config_session={nothing}"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn yaml_alias_bombs_and_deep_nesting_are_refused_and_change_nothing() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let before = latest_revision(&service).await;
    let root = token("root", None, &["admin"]);
    let mut bomb = format!("x: &big \"{}\"\nys:\n", "a".repeat(10_000));
    for _ in 0..500 {
        bomb.push_str("  - *big\n");
    }
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for (body, says) in [(bomb, "aliases"), (deep, "")] {
        let (status, error) = json_of(
            service
                .api()
                .as_token(&root)
                .request(Method::POST, "/bundle")
                .header("content-type", "application/yaml")
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["error"]["field"], "bundle", "{error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(says),
            "{error}"
        );
    }
    assert_eq!(latest_revision(&service).await, before);
}

fn looping_prompt(messages: usize) -> Value {
    let text = "{% for i in range(3000) %}.{% endfor %}";
    json!({"content": {"messages": vec![json!({"role": "user", "text": text}); messages]}})
}

#[tokio::test]
async fn a_prompt_whose_render_would_exhaust_the_budget_is_refused_at_save() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let editor = token("ann", Some("acme"), &["editor"]);
    let path = "/orgs/acme/servers/github/prompts/spin";
    for (messages, says) in [
        (20_000, "at most 100 messages"),
        (40, "cannot render within"),
    ] {
        let (status, error) = json_of(
            service
                .api()
                .as_token(&editor)
                .request(Method::PUT, path)
                .json(&looping_prompt(messages))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
        assert_eq!(error["error"]["field"], "content.messages", "{error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(says),
            "{error}"
        );
    }
    assert_nothing_saved(&service, &editor, path).await;
}

#[tokio::test]
async fn a_render_that_grows_with_its_arguments_stops_at_the_prompts_budget() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let editor = token("ann", Some("acme"), &["editor"]);
    let content = json!({"content": {
        "arguments": [{"name": "text", "required": true}],
        "messages": [{"role": "user", "text": "{% for c in text %}{{ c }}{{ c }}{% endfor %}"}],
    }});
    let saved = service
        .api()
        .as_token(&editor)
        .request(Method::PUT, "/orgs/acme/servers/github/prompts/echo")
        .json(&content)
        .send()
        .await
        .unwrap();
    assert_eq!(
        saved.status(),
        StatusCode::OK,
        "cheap with sample arguments"
    );

    let mut grpc = service.grpc().await;
    let render = |text: String| {
        with_token(
            GetPromptRequest {
                server: "github".into(),
                name: "echo".into(),
                arguments: [("text".to_owned(), text)].into(),
                ..Default::default()
            },
            &token("svc", Some("acme"), &["reader"]),
        )
    };
    let short = grpc
        .get_prompt(render("ab".into()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(short.messages[0].text, "aabb");
    let long = grpc
        .get_prompt(render("x".repeat(60_000)))
        .await
        .unwrap_err();
    assert_eq!(long.code(), Code::ResourceExhausted, "{long:?}");

    // The preview takes the same argument caps as GetPrompt.
    let arguments: serde_json::Map<String, Value> =
        (0..65).map(|i| (format!("a{i}"), json!("x"))).collect();
    let (status, error) = json_of(
        service
            .api()
            .as_token(&editor)
            .request(
                Method::POST,
                "/orgs/acme/servers/github/prompts/echo/render",
            )
            .json(&json!({ "arguments": arguments }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["field"], "arguments", "{error}");
}

async fn watch(
    service: &Service,
    token: &str,
    request: WatchRequest,
) -> Result<tonic::Streaming<mcp_config_proto::v1::InvalidationEvent>, tonic::Status> {
    let mut grpc = service.grpc().await;
    grpc.watch(with_token(request, token))
        .await
        .map(|r| r.into_inner())
}

/// The org ids of every event up to revision `until`, from a stream replaying from 0.
async fn orgs_seen(
    stream: &mut tonic::Streaming<mcp_config_proto::v1::InvalidationEvent>,
    until: u64,
) -> Vec<String> {
    let mut orgs = Vec::new();
    loop {
        let event = next_event(stream).await;
        orgs.push(event.org_id.clone());
        if event.revision >= until {
            return orgs;
        }
    }
}

#[tokio::test]
async fn watch_tells_each_token_only_what_it_may_read() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    for (who, denied) in [
        ("no role, no org", token("mallory", None, &[])),
        ("no role, an org", token("mallory", Some("acme"), &[])),
    ] {
        let refused = watch(&service, &denied, WatchRequest::default())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{who}");
    }
    let orgless_reader = token("rob", None, &["reader"]);
    let refused = watch(
        &service,
        &orgless_reader,
        WatchRequest {
            orgs: vec!["acme".into()],
            ..Default::default()
        },
    )
    .await
    .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);

    // The example bundle wrote the defaults, then acme's and globex's entries: a replay from
    // the start shows each token its share only.
    let latest = latest_revision(&service).await.unwrap();
    let replay = WatchRequest {
        since_revision: 1,
        ..Default::default()
    };
    let mut defaults_only = watch(&service, &orgless_reader, replay.clone())
        .await
        .unwrap();
    let mut acme_only = watch(
        &service,
        &token("ann", Some("acme"), &["reader"]),
        replay.clone(),
    )
    .await
    .unwrap();
    let mut everything = watch(&service, &token("svc", None, &["service"]), replay)
        .await
        .unwrap();
    // One more change, to the defaults, which every stream sees: each has an event to end on.
    let saved = service
        .api()
        .as_token(&token("root", None, &["admin"]))
        .request(Method::PUT, "/defaults/servers/github/prompts/marker")
        .json(&json!({"content": {"messages": [{"role": "user", "text": "m"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), StatusCode::OK);
    let until = latest + 1;

    let seen = orgs_seen(&mut defaults_only, until).await;
    assert!(seen.iter().all(String::is_empty), "defaults only: {seen:?}");
    let seen = orgs_seen(&mut acme_only, until).await;
    assert!(seen.iter().any(|o| o == "acme"), "{seen:?}");
    assert!(seen.iter().all(|o| o.is_empty() || o == "acme"), "{seen:?}");
    let seen = orgs_seen(&mut everything, until).await;
    assert!(seen.iter().any(|o| o == "globex"), "{seen:?}");
}

#[tokio::test]
async fn a_watch_ends_when_its_token_expires() {
    let (_dir, service) = example_with_jwt(|c| c.access.jwt_leeway_secs = 0).await;
    let short_lived = token_expiring("svc", None, &["service"], now() + 2);
    let mut stream = watch(&service, &short_lived, WatchRequest::default())
        .await
        .unwrap();
    let ended = tokio::time::timeout(HANG, stream.next())
        .await
        .expect("the stream ends")
        .expect("with a status");
    assert_eq!(ended.unwrap_err().code(), Code::Unauthenticated);
}

#[tokio::test]
async fn watch_streams_are_capped_per_token_subject() {
    let (_dir, service) = example_with_jwt(|c| c.watch.watch_max_streams_per_principal = 3).await;
    let fleet = token("fleet", None, &["service"]);
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(
            watch(&service, &fleet, WatchRequest::default())
                .await
                .unwrap(),
        );
    }
    let refused = watch(&service, &fleet, WatchRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(
        watch(
            &service,
            &token("other", None, &["service"]),
            WatchRequest::default()
        )
        .await
        .is_ok(),
        "another subject is not held to the first one's limit"
    );
    open.pop();
    let reopened = mcp_config_tests::eventually(HANG, || async {
        watch(&service, &fleet, WatchRequest::default())
            .await
            .is_ok()
    })
    .await;
    assert!(reopened, "a closed stream gives its slot back");
}

#[tokio::test]
async fn only_a_global_admin_creates_orgs_and_the_creator_is_recorded() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let bundle = "orgs:\n  newco:\n    servers:\n      github:\n        prompts:\n          p: {messages: [{role: user, text: hi}]}\n";
    let root = token("root", None, &["admin"]);
    let refused = service
        .api()
        .as_token(&token("ed", None, &["editor"]))
        .import(bundle)
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let orgs = || async {
        json_of(
            service
                .api()
                .as_token(&root)
                .request(Method::GET, "/orgs")
                .send()
                .await
                .unwrap(),
        )
        .await
        .1["orgs"]
            .as_array()
            .unwrap()
            .clone()
    };
    assert!(!orgs().await.iter().any(|o| o["slug"] == "newco"));

    let created = service.api().as_token(&root).import(bundle).await;
    assert_eq!(created.status(), StatusCode::OK);
    let made = service
        .api()
        .as_token(&root)
        .request(Method::POST, "/orgs")
        .json(&json!({"slug": "initech"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), StatusCode::CREATED);
    let orgs = orgs().await;
    for slug in ["newco", "initech"] {
        let org = orgs.iter().find(|o| o["slug"] == slug).unwrap();
        assert_eq!(org["created_by"], "root", "{org}");
    }
}

#[tokio::test]
async fn a_write_answers_only_with_what_the_writer_may_read() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let orgless_editor = token("ed", None, &["editor"]);
    let path = "/orgs/acme/servers/github/prompts/review-pr";
    let (status, _) = json_of(
        service
            .api()
            .as_token(&orgless_editor)
            .request(Method::GET, path)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "this token cannot read acme");
    let (status, body) = json_of(
        service
            .api()
            .as_token(&orgless_editor)
            .request(Method::POST, &format!("{path}/deactivate"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["change"]["revision"].as_u64().is_some(), "{body}");
    assert!(body.get("entry").is_none(), "the content leaked: {body}");
}

#[tokio::test]
async fn claims_are_taken_exactly() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    for org in ["", " "] {
        let (status, _) = json_of(
            service
                .api()
                .as_token(&token("root", Some(org), &["admin"]))
                .request(Method::GET, "/orgs")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "org claim {org:?}");
    }
    let lowercase_scheme = reqwest::Client::new()
        .get(service.admin("/orgs"))
        .header(
            "authorization",
            format!("bearer {}", token("root", None, &["admin"])),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(lowercase_scheme.status(), StatusCode::OK);

    let acme_service = token("acme-mcp", Some("acme"), &["service"]);
    let mut grpc = service.grpc().await;
    let other_org = grpc
        .get_prompts(with_token(prompts("globex", "github"), &acme_service))
        .await
        .unwrap_err();
    assert_eq!(other_org.code(), Code::PermissionDenied);
}

#[tokio::test]
async fn names_that_look_alike_are_one_name_or_refused() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let editor = token("ann", Some("acme"), &["editor"]);
    let prompt = json!({"content": {"messages": [{"role": "user", "text": "hi"}]}});
    let put = |key: &'static str| {
        service
            .api()
            .as_token(&editor)
            .request(
                Method::PUT,
                &format!("/orgs/acme/servers/github/prompts/{key}"),
            )
            .json(&prompt)
            .send()
    };
    let (status, error) = json_of(put("re%E2%80%8Bview").await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["field"], "name", "{error}");

    let (_, composed) = json_of(put("caf%C3%A9").await.unwrap()).await;
    let (_, decomposed) = json_of(put("cafe%CC%81").await.unwrap()).await;
    assert_eq!(composed["entry"]["version"], 1, "{composed}");
    assert_eq!(
        decomposed["entry"]["version"], 2,
        "the decomposed spelling is the same entry: {decomposed}"
    );
}

/// A template cheap with the sample arguments a save checks it with, and costly with the
/// argument a hostile caller gives: minijinja's lazy repeated sequence, indexed from the end,
/// is walked item by item with no fuel paid for it.
const HOSTILE: &str = "{{ ([1, 2, 3] * (n | int))[-1] }}";
/// Enough repetitions to run for many seconds (30,000,000 items: ~6 s on a release build).
const HOSTILE_N: &str = "30000000";

#[tokio::test]
async fn a_hostile_render_is_stopped_at_its_deadline_and_never_starves_another_org() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let editor = token("ann", Some("acme"), &["editor"]);
    let saved = service
        .api()
        .as_token(&editor)
        .request(Method::PUT, "/orgs/acme/servers/github/prompts/spin")
        .json(&json!({"content": {
            "arguments": [{"name": "n", "required": true}],
            "messages": [{"role": "user", "text": HOSTILE}],
        }}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        saved.status(),
        StatusCode::OK,
        "cheap with sample arguments"
    );
    let stopped_before = service
        .metric("mcp_config_render_workers_stopped_total", &[])
        .await;

    // Four acme clients render it in a loop, as fast as they are answered.
    let attack = |mut grpc: ConfigServiceClient<Channel>, round: usize| async move {
        let mut refused = Vec::new();
        for _ in 0..round {
            let request = with_token(
                GetPromptRequest {
                    server: "github".into(),
                    name: "spin".into(),
                    arguments: [("n".to_owned(), HOSTILE_N.to_owned())].into(),
                    ..Default::default()
                },
                &token("mallory", Some("acme"), &["reader"]),
            );
            refused.push(grpc.get_prompt(request).await.unwrap_err());
        }
        refused
    };
    let mut attackers = Vec::new();
    for _ in 0..4 {
        attackers.push(tokio::spawn(attack(service.grpc().await, 3)));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Meanwhile globex renders an ordinary prompt and reads its view: every call answered.
    let mut grpc = service.grpc().await;
    let reader = token("svc", Some("globex"), &["reader"]);
    let mut answered = 0;
    while !attackers.iter().all(|a| a.is_finished()) {
        let rendered = grpc
            .get_prompt(with_token(
                GetPromptRequest {
                    server: "github".into(),
                    name: "review-pr".into(),
                    arguments: [("repo", "globex/app"), ("number", "7")]
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .into(),
                    ..Default::default()
                },
                &reader,
            ))
            .await
            .expect("another org's render is answered while acme attacks")
            .into_inner();
        assert!(rendered.messages[0].text.contains("#7 in globex/app"));
        let view = grpc
            .get_prompts(with_token(prompts("globex", "github"), &reader))
            .await
            .expect("another org's view is answered while acme attacks");
        assert!(!view.into_inner().prompts.is_empty());
        answered += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answered >= 6, "globex was answered {answered} times");
    let mut refusals = 0.0;
    for attacker in attackers {
        for status in tokio::time::timeout(HANG, attacker).await.unwrap().unwrap() {
            assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
            refusals += 1.0;
        }
    }
    assert_eq!(refusals, 12.0);
    // The hostile renders answered "did not finish" had their workers killed: the work stopped
    // and the slot came back (else the attackers' later rounds would only wait and time out).
    // The recorder is the test process's, shared with other tests: a lower bound only.
    let stopped = service
        .metric("mcp_config_render_workers_stopped_total", &[])
        .await
        - stopped_before;
    assert!(stopped >= 1.0, "no worker was stopped");
}

#[tokio::test]
async fn a_save_whose_check_outlives_the_budget_is_refused_and_never_stalls_the_service() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let editor = token("ann", Some("acme"), &["editor"]);
    let path = "/orgs/acme/servers/github/prompts/spin";
    let costly = service
        .api()
        .as_token(&editor)
        .request(Method::PUT, path)
        .json(&json!({"content": {"messages": [
            {"role": "user", "text": "{{ ([1, 2, 3] * 30000000)[-1] }}"},
        ]}}))
        .send();
    let save = tokio::spawn(async move { json_of(costly.await.unwrap()).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // While the check runs: the service answers its health check and other orgs' reads.
    let health = reqwest::get(service.url("/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let mut grpc = service.grpc().await;
    grpc.get_prompts(with_token(
        prompts("globex", "github"),
        &token("svc", Some("globex"), &["reader"]),
    ))
    .await
    .expect("another org's read is answered during the check");

    let (status, error) = tokio::time::timeout(HANG, save).await.unwrap().unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["field"], "content.messages", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("\"spin\""), "names the prompt: {message}");
    assert!(
        message.contains("fuel") && message.contains("2s"),
        "names the budget: {message}"
    );
    assert_nothing_saved(&service, &editor, path).await;
}

#[tokio::test]
async fn a_watch_from_past_the_newest_revision_is_refused_naming_the_field() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let reader = token("svc", Some("acme"), &["reader"]);
    for since in [u64::MAX, u64::MAX - 1, 1_000_000] {
        let Err(refused) = watch(
            &service,
            &reader,
            WatchRequest {
                since_revision: since,
                ..Default::default()
            },
        )
        .await
        else {
            panic!("a revision from the future ({since}) is refused");
        };
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().contains("since_revision"), "{refused:?}");
    }
    // The service still serves Watch after them.
    let mut stream = watch(
        &service,
        &reader,
        WatchRequest {
            since_revision: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert!(next_event(&mut stream).await.revision >= 2);
}

#[tokio::test]
async fn reflection_answers_in_both_versions() {
    use tonic_reflection::pb::{v1, v1alpha};
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", service.grpc_addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut alpha = v1alpha::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = v1alpha::ServerReflectionRequest {
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
        ..Default::default()
    };
    let mut answers = alpha
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .expect("v1alpha is served")
        .into_inner();
    let answer = answers.next().await.unwrap().unwrap();
    let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("{answer:?}")
    };
    assert!(
        list.service
            .iter()
            .any(|s| s.name == "mcp_config.v1.ConfigService"),
        "{list:?}"
    );
    let mut current = v1::server_reflection_client::ServerReflectionClient::new(channel);
    let request = v1::ServerReflectionRequest {
        message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
        ..Default::default()
    };
    assert!(
        current
            .server_reflection_info(futures::stream::iter([request]))
            .await
            .is_ok(),
        "v1 is served"
    );
}

/// A request to `path` on the service's HTTP port with `headers`, as a page of a rebinding
/// attacker's would send it (the connection goes to loopback, the names are the attacker's).
async fn status_with(
    service: &Service,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> StatusCode {
    let mut request = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .request(method, service.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn dns_rebinding_is_refused_on_every_route_in_every_auth_mode() {
    let dir = tempfile::tempdir().unwrap();
    let open = Service::sqlite_with(&dir, &["--allowed-host=config.example.com"]).await;
    let (_jwt_dir, with_tokens) = example_with_jwt(|_| {}).await;
    for service in [&open, &with_tokens] {
        for path in [
            "/admin/v1/orgs",
            "/ui/",
            "/ui/login",
            "/mcp/github",
            "/healthz",
        ] {
            assert_eq!(
                status_with(service, Method::GET, path, &[("host", "evil.example")]).await,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
    }
    // The names the service is reached by are answered: an address, localhost, an allowed name.
    let port = open.http_addr.port();
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "config.example.com".to_owned(),
    ] {
        assert_eq!(
            status_with(&open, Method::GET, "/admin/v1/orgs", &[("host", &host)]).await,
            StatusCode::OK,
            "{host}"
        );
    }
    // A state-changing request without a token, from another site's page: refused, nothing made.
    let own = format!("localhost:{port}");
    let create = |origin: &'static str| {
        let own = own.clone();
        let open = &open;
        async move {
            reqwest::Client::new()
                .post(open.url("/admin/v1/orgs"))
                .header("host", own)
                .header("origin", origin)
                .json(&json!({"slug": "rebound"}))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(create("http://evil.example").await, StatusCode::FORBIDDEN);
    let (status, orgs) = json_of(reqwest::get(open.url("/admin/v1/orgs")).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!orgs.to_string().contains("rebound"), "{orgs}");
}
