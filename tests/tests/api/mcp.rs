//! The service's own MCP endpoint, `/mcp/{server}`, through rmcp's client (an SDK nobody here
//! wrote): per-org views, renders and their errors, isolation between orgs, list_changed after
//! an admin write, and the session bound.

use mcp_config_tests::{
    eventually,
    mcp::{
        Recorder, WAIT, assert_example_views, assert_render_errors_name_the_problem,
        current_protocol, description_of, expect_prompt_list_changed, prompt_list_changed,
        prompt_names, put_prompt, transport_for,
    },
    postgres::Postgres,
    proxy::{Fault, FaultProxy},
    redis::Redis,
    service::{EXAMPLE_BUNDLE, Service, settings},
    tokens::{example_with_jwt, now, token, token_expiring},
};
use reqwest::StatusCode;
use rmcp::{
    RoleClient, ServiceExt,
    model::GetPromptRequestParams,
    service::{ClientServiceExt, RunningService},
    transport::{
        StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig,
    },
};
use serde_json::json;
use tokio::sync::mpsc;

/// Who an MCP client says it is: an `x-org-id` header and a bearer token, each optional.
#[derive(Default, Clone, Copy)]
struct As<'a> {
    org: Option<&'a str>,
    token: Option<&'a str>,
}

fn org(org: &str) -> As<'_> {
    As {
        org: Some(org),
        token: None,
    }
}

fn transport(service: &Service, who: As<'_>) -> StreamableHttpClientTransportConfig {
    let config = transport_for(service.url("/mcp/github"), who.org);
    match who.token {
        Some(token) => config.auth_header(token),
        None => config,
    }
}

/// A client of the current protocol (`server/discover`, no session).
async fn connect(service: &Service, who: As<'_>) -> Result<RunningService<RoleClient, ()>, String> {
    let transport = StreamableHttpClientTransport::from_config(transport(service, who));
    ().serve_with_lifecycle(transport, current_protocol())
        .await
        .map_err(|e| e.to_string())
}

/// A legacy client (`initialize`, a session) reporting the list_changed it hears on `heard`.
async fn connect_legacy(
    service: &Service,
    who: As<'_>,
    heard: mpsc::UnboundedSender<&'static str>,
) -> Result<RunningService<RoleClient, Recorder>, String> {
    let transport = StreamableHttpClientTransport::from_config(transport(service, who));
    Recorder(heard)
        .serve(transport)
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn each_org_reads_its_own_view_and_no_org_reads_the_defaults() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let acme = connect(&service, org("acme")).await.unwrap();
    let globex = connect(&service, org("globex")).await.unwrap();
    let nobody = connect(&service, As::default()).await.unwrap();

    assert_example_views(&acme, &globex, &nobody).await;
    let listed = acme.list_all_resources().await.unwrap();
    assert!(listed.iter().any(|r| r.uri == "file:///acme/oncall.md"));
}

#[tokio::test]
async fn a_prompt_renders_and_a_missing_argument_is_named() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let acme = connect(&service, org("acme")).await.unwrap();
    let arguments = serde_json::Map::from_iter([
        ("repo".to_owned(), json!("acme/api")),
        ("number".to_owned(), json!(42)),
    ]);

    let rendered = acme
        .get_prompt(GetPromptRequestParams::new("review-pr").with_arguments(arguments))
        .await
        .unwrap();
    let text = serde_json::to_value(&rendered.messages[0].content).unwrap()["text"].clone();
    assert!(
        text.as_str()
            .unwrap()
            .starts_with("Review pull request #42 in acme/api"),
        "{text}"
    );

    assert_render_errors_name_the_problem(&acme).await;
}

#[tokio::test]
async fn a_token_of_one_org_reads_that_org_only() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let acme_token = token("ann", Some("acme"), &["reader"]);
    let acme = connect(
        &service,
        As {
            org: None,
            token: Some(&acme_token),
        },
    )
    .await
    .unwrap();
    assert!(prompt_names(&acme).await.contains(&"triage-issue".into()));

    let asking_for_globex = As {
        org: Some("globex"),
        token: Some(&acme_token),
    };
    assert!(
        connect(&service, asking_for_globex).await.is_err(),
        "a token of acme asking for globex is refused"
    );
    assert!(
        connect(&service, org("acme")).await.is_err(),
        "no token, no MCP"
    );

    let server_token = token("github-mcp", None, &["service"]);
    let for_globex = As {
        org: Some("globex"),
        token: Some(&server_token),
    };
    let globex = connect(&service, for_globex).await.unwrap();
    assert_eq!(
        prompt_names(&globex).await,
        ["release-notes", "review-pr"],
        "a service token reads the org it names"
    );
}

#[tokio::test]
async fn an_admin_write_is_announced_to_listen_streams_and_sessions_of_that_view() {
    let (_dir, service) = Service::example_on_sqlite().await;
    // The import's own announcements must be out before the clients start listening.
    service.wait_until_published().await;
    let acme = connect(&service, org("acme")).await.unwrap();
    let mut listening = acme.listen(prompt_list_changed()).await.unwrap();
    let (heard, mut legacy_heard) = mpsc::unbounded_channel();
    let legacy = connect_legacy(&service, org("acme"), heard).await.unwrap();
    let (globex_heard, mut globex_notes) = mpsc::unbounded_channel();
    let _globex = connect_legacy(&service, org("globex"), globex_heard)
        .await
        .unwrap();

    put_prompt(
        &service,
        "/orgs/acme/servers/github/prompts/review-pr",
        "Changed through the admin API",
        "Review {{ repo }}.",
    )
    .await;

    expect_prompt_list_changed(&mut listening).await;
    let kind = tokio::time::timeout(WAIT, legacy_heard.recv()).await;
    assert_eq!(kind.expect("list_changed in time"), Some("prompts"));
    assert_eq!(
        description_of(&legacy, "review-pr").await.as_deref(),
        Some("Changed through the admin API"),
        "told of the change, the client reads the new view"
    );
    assert!(
        globex_notes.try_recv().is_err(),
        "globex's view did not change"
    );

    put_prompt(
        &service,
        "/defaults/servers/github/prompts/release-notes",
        "A default every org inherits",
        "Notes for {{ repo }}.",
    )
    .await;
    let kind = tokio::time::timeout(WAIT, globex_notes.recv()).await;
    assert_eq!(kind.expect("list_changed in time"), Some("prompts"));
    listening.cancel().await.unwrap();
}

/// The "who is listening" page's rows of MCP sessions, as (orgs, "up to" text).
async fn mcp_rows(service: &Service) -> (u64, Vec<(String, String)>) {
    let html = reqwest::get(service.url("/ui/listeners"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let newest = html
        .split("the newest revision now is <strong>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .and_then(|n| n.parse().ok())
        .expect("the page names the newest revision");
    let rows = html
        .split("<tr>")
        .filter(|row| row.contains("<td>MCP session</td>"))
        .map(|row| {
            let cells: Vec<&str> = row
                .split("<td>")
                .skip(1)
                .map(|cell| cell.split("</td>").next().unwrap_or(""))
                .collect();
            // Through, servers, orgs, label, since, up to, replica.
            (cells[2].to_owned(), cells[5].trim().to_owned())
        })
        .collect();
    (newest, rows)
}

#[tokio::test]
async fn mcp_sessions_are_listed_with_the_revision_they_were_told_of() {
    let (_dir, service) = Service::example_on_sqlite().await;
    service.wait_until_published().await;
    let (heard, mut acme_heard) = mpsc::unbounded_channel();
    let acme = connect_legacy(&service, org("acme"), heard).await.unwrap();
    let (globex_heard, _globex_notes) = mpsc::unbounded_channel();
    let globex = connect_legacy(&service, org("globex"), globex_heard)
        .await
        .unwrap();
    let listed = eventually(WAIT, || async { mcp_rows(&service).await.1.len() == 2 }).await;
    assert!(listed, "{:?}", mcp_rows(&service).await);

    put_prompt(
        &service,
        "/orgs/acme/servers/github/prompts/review-pr",
        "Heard by acme",
        "Review {{ repo }}.",
    )
    .await;
    let kind = tokio::time::timeout(WAIT, acme_heard.recv()).await;
    assert_eq!(kind.expect("list_changed in time"), Some("prompts"));
    // Both are up to the change: acme was told of it, globex had nothing to be told.
    let current = eventually(WAIT, || async {
        let (newest, rows) = mcp_rows(&service).await;
        let mut orgs: Vec<String> = rows
            .iter()
            .filter(|(_, up_to)| *up_to == format!("{newest} (current)"))
            .map(|(orgs, _)| orgs.clone())
            .collect();
        orgs.sort();
        orgs == ["acme", "globex"]
    })
    .await;
    assert!(current, "{:?}", mcp_rows(&service).await);

    // A session that ends leaves the list.
    acme.cancel().await.unwrap();
    globex.cancel().await.unwrap();
    let gone = eventually(WAIT, || async { mcp_rows(&service).await.1.is_empty() }).await;
    assert!(gone, "{:?}", mcp_rows(&service).await);
}

/// PostgreSQL, Redis, and a replica that has imported and published the example bundle: what
/// another replica started next to it sees.
async fn writer_with_example() -> (Postgres, Redis, String, Service) {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let redis = Redis::start();
    let database = pg.database();
    let writer = Service::start(settings(&database, Some(&redis.url()))).await;
    writer.import(EXAMPLE_BUNDLE).await;
    writer.wait_until_published().await;
    (pg, redis, database, writer)
}

#[tokio::test]
async fn a_write_through_one_replica_reaches_the_mcp_clients_of_another_with_the_new_view() {
    let (_pg, redis, database, writer) = writer_with_example().await;
    // Started after the import is out, the reader hears of nothing but the write below.
    let reader = Service::start(settings(&database, Some(&redis.url()))).await;
    let (heard, mut notes) = mpsc::unbounded_channel();
    let acme = connect_legacy(&reader, org("acme"), heard).await.unwrap();
    assert_eq!(
        description_of(&acme, "review-pr").await.as_deref(),
        Some("Acme's review checklist, security first."),
        "the reader's L1 holds the old view"
    );

    let new = "Changed through the other replica";
    put_prompt(
        &writer,
        "/orgs/acme/servers/github/prompts/review-pr",
        new,
        "Review {{ repo }}.",
    )
    .await;
    let note = tokio::time::timeout(WAIT, notes.recv()).await;
    assert_eq!(note.expect("list_changed in time"), Some("prompts"));
    assert_eq!(
        description_of(&acme, "review-pr").await.as_deref(),
        Some(new),
        "told of the change, the client reads the new view"
    );
}

#[tokio::test]
async fn sessions_beyond_the_replica_bound_are_refused_until_one_ends() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite_with(&dir, &["--mcp-max-sessions=1"]).await;
    service.import(EXAMPLE_BUNDLE).await;
    let (heard, _notes) = mpsc::unbounded_channel();
    let first = connect_legacy(&service, org("acme"), heard.clone())
        .await
        .unwrap();

    let refused = connect_legacy(&service, org("acme"), heard.clone())
        .await
        .err()
        .expect("one session is the bound");
    assert!(
        refused.to_string().contains("MCP_CONFIG_MCP_MAX_SESSIONS"),
        "{refused}"
    );
    let stateless = connect(&service, org("acme")).await.unwrap();
    assert!(
        !prompt_names(&stateless).await.is_empty(),
        "requests without a session are not bounded by it"
    );

    first.cancel().await.unwrap();
    let admitted = eventually(WAIT, || async {
        connect_legacy(&service, org("acme"), heard.clone())
            .await
            .is_ok()
    })
    .await;
    assert!(admitted, "a closed session frees its slot");
}

/// A raw POST to the MCP endpoint: an `initialize` padded to `padding` bytes, with `headers`.
async fn raw_post(service: &Service, headers: &[(&str, &str)], padding: usize) -> StatusCode {
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "raw", "version": "0", "padding": "x".repeat(padding)},
        },
    });
    let mut request = reqwest::Client::new()
        .post(service.url("/mcp/github"))
        .header("accept", "application/json, text/event-stream")
        .json(&initialize);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn foreign_hosts_and_origins_and_oversized_bodies_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite_with(&dir, &["--mcp-max-request-bytes=4096"]).await;
    assert!(raw_post(&service, &[], 0).await.is_success());

    assert_eq!(
        raw_post(&service, &[("host", "rebound.example")], 0).await,
        StatusCode::FORBIDDEN,
        "a name that resolved to loopback is not ours (DNS rebinding)"
    );
    assert_eq!(
        raw_post(&service, &[("origin", "http://rebound.example")], 0).await,
        StatusCode::FORBIDDEN,
        "no browser origin is allowed by default"
    );
    let local = format!("localhost:{}", service.http_addr.port());
    let same_origin = format!("http://{local}");
    assert!(
        raw_post(&service, &[("host", &local), ("origin", &same_origin)], 0)
            .await
            .is_success(),
        "a page of the service's own origin (the conformance suite's client) is answered"
    );
    assert_eq!(
        raw_post(&service, &[], 8192).await,
        StatusCode::PAYLOAD_TOO_LARGE
    );
}

#[tokio::test]
async fn one_token_subject_cannot_take_every_session() {
    let (_dir, service) = example_with_jwt(|s| s.mcp.mcp_max_sessions_per_principal = 1).await;
    let (heard, _notes) = mpsc::unbounded_channel();
    let gateway = token("gateway", None, &["service"]);
    let as_gateway = As {
        org: Some("acme"),
        token: Some(&gateway),
    };
    let _first = connect_legacy(&service, as_gateway, heard.clone())
        .await
        .unwrap();

    let refused = connect_legacy(&service, as_gateway, heard.clone())
        .await
        .err()
        .expect("one session per subject is the bound");
    assert!(
        refused
            .to_string()
            .contains("MCP_CONFIG_MCP_MAX_SESSIONS_PER_PRINCIPAL"),
        "{refused}"
    );
    let other = token("ann", Some("acme"), &["reader"]);
    let as_ann = As {
        org: None,
        token: Some(&other),
    };
    assert!(
        connect_legacy(&service, as_ann, heard).await.is_ok(),
        "another subject still gets a session"
    );
}

#[tokio::test]
async fn a_listen_stream_ends_when_its_token_expires() {
    let (_dir, service) = example_with_jwt(|c| c.access.jwt_leeway_secs = 0).await;
    let short_lived = token_expiring("gateway", None, &["service"], now() + 2);
    let gateway = As {
        org: Some("acme"),
        token: Some(&short_lived),
    };
    let acme = connect(&service, gateway).await.unwrap();
    let mut listening = acme.listen(prompt_list_changed()).await.unwrap();

    // The import's list_changed may come first; the stream must end after them.
    let ended = tokio::time::timeout(WAIT, async {
        while let Ok(Some(_notification)) = listening.next().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ends within the wait");
}

/// A change committed after a replica started but before it could subscribe to Redis (its link
/// to Redis down at first) still reaches that replica's MCP sessions: its first subscription
/// replays what was committed since it started, not only drops its L1.
#[tokio::test]
async fn a_change_made_before_a_replica_first_hears_redis_reaches_its_mcp_clients() {
    let (_pg, redis, database, writer) = writer_with_example().await;
    let link = FaultProxy::start(([127, 0, 0, 1], redis.port()).into()).await;
    link.set(Fault::Blackhole);
    let reader = Service::start(settings(
        &database,
        Some(&format!("redis://{}", link.addr())),
    ))
    .await;
    let (heard, mut notes) = mpsc::unbounded_channel();
    let acme = connect_legacy(&reader, org("acme"), heard).await.unwrap();
    assert!(description_of(&acme, "review-pr").await.is_some());

    put_prompt(
        &writer,
        "/orgs/acme/servers/github/prompts/review-pr",
        "Changed before the reader heard Redis",
        "Review {{ repo }}.",
    )
    .await;
    writer.wait_until_published().await;
    link.set(Fault::None);
    let note = tokio::time::timeout(WAIT * 3, notes.recv()).await;
    assert_eq!(note.expect("list_changed in time"), Some("prompts"));
}

/// One stateless list request of the current protocol, sent raw: `accept` decides who reads it
/// (a quoted parameter is left to rmcp; the plain one is answered ahead of it).
async fn raw_list(
    service: &Service,
    method: &str,
    org: Option<&str>,
    params: serde_json::Value,
    accept: &str,
) -> serde_json::Value {
    raw_list_by(
        &reqwest::Client::new(),
        service,
        method,
        org,
        params,
        accept,
    )
    .await
}

/// [`raw_list`] from `http`.
async fn raw_list_by(
    http: &reqwest::Client,
    service: &Service,
    method: &str,
    org: Option<&str>,
    mut params: serde_json::Value,
    accept: &str,
) -> serde_json::Value {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
    });
    let mut request = http
        .post(service.url("/mcp/github"))
        .header("accept", accept)
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", method)
        .json(&json!({"jsonrpc": "2.0", "id": "r-7", "method": method, "params": params}));
    if let Some(org) = org {
        request = request.header("x-org-id", org);
    }
    let response = request.send().await.unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "application/json",
        "{method}"
    );
    response.json().await.unwrap()
}

const PLAIN_ACCEPT: &str = "application/json, text/event-stream";

/// The encoded-lists counter, which is process-wide: every service of this test binary counts
/// into it, so a test can only tell that it moved by at least its own calls.
async fn encoded_lists(service: &Service) -> f64 {
    service
        .metric("mcp_config_mcp_lists_encoded_total", &[])
        .await
}

/// [`raw_list`] answered ahead of rmcp: the counter moved across the call.
async fn encoded_list(
    service: &Service,
    method: &str,
    org: Option<&str>,
    params: serde_json::Value,
) -> serde_json::Value {
    let before = encoded_lists(service).await;
    let answer = raw_list(service, method, org, params, PLAIN_ACCEPT).await;
    assert!(
        encoded_lists(service).await >= before + 1.0,
        "{method} {org:?} was not encoded"
    );
    answer
}

/// [`raw_list`] left to rmcp: across one of a few tries the counter did not move at all
/// (other tests' lists may move it during any one).
async fn rmcp_list(
    service: &Service,
    method: &str,
    org: Option<&str>,
    params: serde_json::Value,
    accept: &str,
) -> serde_json::Value {
    for _ in 0..10 {
        let before = encoded_lists(service).await;
        let answer = raw_list(service, method, org, params.clone(), accept).await;
        if encoded_lists(service).await == before {
            return answer;
        }
    }
    panic!("{method} {org:?}: the counter moved across every try: encoded, not rmcp's");
}
const RMCP_ONLY_ACCEPT: &str = "application/json, text/event-stream;profile=\"x\"";

/// `prompts/list` and `resources/list` answered from their JSON encoded once per revision
/// (ahead of rmcp) answer exactly what rmcp answers for the same request: every org, both
/// pages of a long list, ids kept; a save is listed at once; a bad cursor is rmcp's own error.
/// The counter shows which path answered.
#[tokio::test]
async fn encoded_list_answers_are_rmcp_answers() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let prompts: serde_json::Map<String, serde_json::Value> = (0..130)
        .map(|i| {
            (
                format!("bulk-{i:03}"),
                json!({
                    "description": format!("bulk prompt {i} — \"quoted\""),
                    "arguments": [{"name": "repo", "required": i % 2 == 0}],
                    "messages": [{"role": "user", "text": "about {{ repo }}"}],
                }),
            )
        })
        .collect();
    service
        .import(&json!({"defaults": {"github": {"prompts": prompts}}}).to_string())
        .await;
    let mut cursor = None;
    for org in [Some("acme"), Some("globex"), None] {
        for method in ["prompts/list", "resources/list"] {
            let fast = encoded_list(&service, method, org, json!({})).await;
            let slow = rmcp_list(&service, method, org, json!({}), RMCP_ONLY_ACCEPT).await;
            assert_eq!(fast, slow, "{method} for {org:?}");
            assert_eq!(fast["id"], "r-7");
            assert!(fast["result"].is_object(), "{fast}");
            if method == "prompts/list" && org == Some("acme") {
                cursor = fast["result"]["nextCursor"].as_str().map(str::to_owned);
            }
        }
    }
    let cursor = cursor.expect("130 prompts take two pages");
    let page = json!({"cursor": cursor});
    let fast = raw_list(
        &service,
        "prompts/list",
        Some("acme"),
        page.clone(),
        PLAIN_ACCEPT,
    )
    .await;
    let slow = raw_list(
        &service,
        "prompts/list",
        Some("acme"),
        page,
        RMCP_ONLY_ACCEPT,
    )
    .await;
    assert_eq!(fast, slow);
    assert!(fast["result"].get("nextCursor").is_none(), "{fast}");

    put_prompt(
        &service,
        "/orgs/acme/servers/github/prompts/zz-new",
        "new",
        "x",
    )
    .await;
    let page = json!({"cursor": cursor});
    let after = raw_list(&service, "prompts/list", Some("acme"), page, PLAIN_ACCEPT).await;
    let names: Vec<_> = after["result"]["prompts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        names.last().map(String::as_str),
        Some("zz-new"),
        "{names:?}"
    );

    // A bad cursor is rmcp's to refuse, whichever way it was asked.
    let bad = json!({"cursor": "not-a-cursor"});
    let fast = rmcp_list(
        &service,
        "prompts/list",
        Some("acme"),
        bad.clone(),
        PLAIN_ACCEPT,
    )
    .await;
    let slow = rmcp_list(
        &service,
        "prompts/list",
        Some("acme"),
        bad,
        RMCP_ONLY_ACCEPT,
    )
    .await;
    assert_eq!(fast, slow);
    assert_eq!(fast["error"]["code"], -32602, "{fast}");
    assert!(
        fast["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cursor"),
        "{fast}"
    );
}

/// HTTP/2 clients (h2c here; TLS with ALPN h2 alike) send the host as `:authority`, with no
/// `Host` header: the port answers them as it answers HTTP/1.1, and checks that host alike.
#[tokio::test]
async fn http2_clients_are_answered_and_their_host_checked() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve("evil.example", service.http_addr)
        .build()
        .unwrap();
    let health = h2.get(service.url("/healthz")).send().await.unwrap();
    assert_eq!(health.version(), reqwest::Version::HTTP_2);
    assert_eq!(health.status(), StatusCode::OK);
    let port = service.http_addr.port();
    let rebound = h2
        .get(format!("http://evil.example:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status(), StatusCode::FORBIDDEN);

    let over_h2 = raw_list_by(
        &h2,
        &service,
        "prompts/list",
        Some("acme"),
        json!({}),
        PLAIN_ACCEPT,
    )
    .await;
    let over_h1 = raw_list(
        &service,
        "prompts/list",
        Some("acme"),
        json!({}),
        PLAIN_ACCEPT,
    )
    .await;
    assert_eq!(over_h2, over_h1);
    assert!(!over_h2["result"]["prompts"].as_array().unwrap().is_empty());
}
