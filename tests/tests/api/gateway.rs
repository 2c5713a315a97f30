//! The gateway through the real service: `/mcp/{server}` in front of an upstream MCP server
//! (an rmcp server in this process, which records what reaches it), with the org's prompts
//! laid over; the registry's admin API; and the hostile upstreams — one that redirects, one
//! that hangs, one that answers too much.

#![allow(deprecated)] // sampling is the legacy sessions' protocol

use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use mcp_config_tests::{
    eventually,
    mcp::{Recorder, WAIT, current_protocol, transport_for},
    service::Service,
};
use rmcp::{
    ClientHandler, ErrorData, RoleClient, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ClientRequest,
        ContentBlock, CreateMessageRequestParams, CreateMessageResult, GetPromptRequestParams,
        GetPromptResult, Implementation, ListPromptsResult, ListToolsResult,
        PaginatedRequestParams, Prompt, PromptMessage, Role, SamplingMessage,
        SamplingMessageContentBlock, ServerCapabilities, ServerConfig, Tool,
    },
    service::{ClientServiceExt, RequestContext, RunningService},
    transport::{
        StreamableHttpClientTransport, StreamableHttpServerConfig, StreamableHttpService,
        streamable_http_server::session::local::LocalSessionManager,
    },
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

const BUNDLE: &str = r#"
defaults:
  tools:
    prompts:
      shared:
        messages: [{role: user, text: "mcp-config's shared prompt"}]
orgs:
  acme:
    servers:
      tools:
        prompts:
          acme-only:
            messages: [{role: user, text: "for acme"}]
        hidden_prompts: [upstream-secret]
  globex: {}
"#;

/// An upstream MCP server: three prompts (one of them shadowed by mcp-config's `shared`, one
/// acme hides) and tools that show what reached it.
#[derive(Clone, Default)]
struct Upstream {
    /// The headers of every HTTP request that reached a tool.
    seen: Arc<Mutex<Vec<axum::http::HeaderMap>>>,
    /// Pings that reached it.
    pings: Arc<AtomicUsize>,
    /// The sessions opened to it, and the org each was opened for.
    sessions: Arc<Mutex<Vec<OpenedFor>>>,
}

/// A session opened to the upstream: the org the gateway said it is for, and its peer.
type OpenedFor = (Option<String>, rmcp::service::Peer<RoleServer>);

impl Upstream {
    /// The sessions opened to it for `org`.
    fn sessions_of(&self, org: &str) -> Vec<rmcp::service::Peer<RoleServer>> {
        (self.sessions.lock().unwrap().iter())
            .filter(|(opened_for, _)| opened_for.as_deref() == Some(org))
            .map(|(_, peer)| peer.clone())
            .collect()
    }

    /// Tells every session opened for `org` that the tools changed; how many were told.
    async fn announce_tools_changed(&self, org: &str) -> usize {
        let peers = self.sessions_of(org);
        let mut told = 0;
        for peer in peers {
            if peer.notify_tool_list_changed().await.is_ok() {
                told += 1;
            }
        }
        told
    }
}

fn text_of(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

impl ServerHandler for Upstream {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_prompts()
                .build(),
        )
    }

    async fn on_initialized(&self, context: rmcp::service::NotificationContext<RoleServer>) {
        let org = (context.extensions.get::<axum::http::request::Parts>())
            .and_then(|parts| parts.headers.get("x-mcp-config-org"))
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        self.sessions.lock().unwrap().push((org, context.peer));
    }

    async fn ping(&self, _context: RequestContext<RoleServer>) -> Result<(), ErrorData> {
        self.pings.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({"type": "object"}).as_object().unwrap().clone();
        Ok(ListToolsResult::with_all_items(
            ["headers", "ask", "slow", "huge"]
                .into_iter()
                .map(|name| Tool::new(name, format!("the {name} tool"), schema.clone()))
                .collect(),
        ))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        let headers = context
            .extensions
            .get::<axum::http::request::Parts>()
            .map(|parts| parts.headers.clone())
            .unwrap_or_default();
        self.seen.lock().unwrap().push(headers.clone());
        let text = match request.name.as_ref() {
            "headers" => {
                let of = |name: &str| {
                    headers
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                json!({
                    "org": of("x-mcp-config-org"),
                    "subject": of("x-mcp-config-subject"),
                    "request_id": of("x-request-id"),
                    "traceparent": of("traceparent"),
                    "authorization": of("authorization"),
                    "context_token": of("x-mcp-config-context"),
                })
                .to_string()
            }
            "ask" => {
                let asked = CreateMessageRequestParams::new(
                    vec![SamplingMessage::new(
                        Role::User,
                        SamplingMessageContentBlock::text("which model?"),
                    )],
                    10,
                );
                let answer = context
                    .peer
                    .create_message(asked)
                    .await
                    .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
                format!("the client's model said it is {}", answer.model)
            }
            "slow" => {
                tokio::time::sleep(Duration::from_secs(120)).await;
                "too late".into()
            }
            "huge" => "x".repeat(6 * 1024 * 1024),
            other => return Err(ErrorData::invalid_params(format!("no tool {other}"), None)),
        };
        Ok(CallToolResult::success(vec![ContentBlock::text(text)]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(
            ["shared", "upstream-only", "upstream-secret"]
                .into_iter()
                .map(|name| Prompt::new(name, Some("the upstream's"), None))
                .collect(),
        ))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::GetPromptResponse, ErrorData> {
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("the upstream's {}", request.name),
        )])
        .into())
    }
}

/// The upstream at `/mcp`, a redirect to it at `/moved`; the address.
async fn start_upstream(upstream: Upstream) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_upstream(upstream, listener));
    addr
}

/// `upstream` at `/mcp` with sessions of its own, as one process of it would serve them.
fn upstream_service(upstream: Upstream) -> StreamableHttpService<Upstream, LocalSessionManager> {
    StreamableHttpService::new(
        move || Ok(upstream.clone()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    )
}

/// Serves [`start_upstream`]'s routes on `listener` until dropped.
async fn serve_upstream(upstream: Upstream, listener: tokio::net::TcpListener) {
    let router = axum::Router::new()
        .nest_service("/mcp", upstream_service(upstream))
        .route(
            "/moved",
            axum::routing::any(|| async {
                (
                    axum::http::StatusCode::TEMPORARY_REDIRECT,
                    [(axum::http::header::LOCATION, "/mcp")],
                )
            }),
        );
    let _ = axum::serve(listener, router).await;
}

/// [`start_upstream`] over TLS, its certificate signed by the CA in `certs`
/// (`scripts/gen-test-certs.sh`).
async fn start_tls_upstream(upstream: Upstream, certs: &std::path::Path) -> SocketAddr {
    let router = axum::Router::new().nest_service("/mcp", upstream_service(upstream));
    let tls = mcp_config::tls::Tls::from_settings(&mcp_config::config::TlsSettings {
        tls_cert: Some(certs.join("server.pem")),
        tls_key: Some(certs.join("server.key")),
        tls_client_ca: None,
        tls_handshake_timeout_secs: 5,
    })
    .unwrap()
    .expect("a certificate and key");
    let acceptor = tls.http(axum_server::accept::DefaultAcceptor).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let server = axum_server::from_tcp(listener).unwrap().acceptor(acceptor);
    tokio::spawn(async move { server.serve(router.into_make_service()).await });
    addr
}

/// A client of the gateway that samples (answers `sampling/createMessage` as `test-model`).
struct Sampler(Recorder);

impl ClientHandler for Sampler {
    fn get_info(&self) -> ClientConfig {
        ClientConfig::new(
            ClientCapabilities::builder().enable_sampling().build(),
            Implementation::new("sampler", "1"),
        )
    }

    async fn create_message(
        &self,
        _params: CreateMessageRequestParams,
        _context: RequestContext<RoleClient>,
    ) -> Result<CreateMessageResult, ErrorData> {
        Ok(CreateMessageResult::new(
            SamplingMessage::new(Role::Assistant, SamplingMessageContentBlock::text("hi")),
            "test-model".into(),
        ))
    }

    async fn on_prompt_list_changed(
        &self,
        context: rmcp::service::NotificationContext<RoleClient>,
    ) {
        self.0.on_prompt_list_changed(context).await;
    }
}

/// A legacy session of `org` to the gateway's `tools` server, sending `headers` too.
async fn session(
    service: &Service,
    org: &str,
    headers: &[(&str, &str)],
) -> (
    RunningService<RoleClient, Sampler>,
    mpsc::UnboundedReceiver<&'static str>,
) {
    let mut config = transport_for(service.url("/mcp/tools"), Some(org));
    for (name, value) in headers {
        config
            .custom_headers
            .insert(name.parse().unwrap(), value.parse().unwrap());
    }
    let (heard, changes) = mpsc::unbounded_channel();
    let client = Sampler(Recorder(heard))
        .serve(StreamableHttpClientTransport::from_config(config))
        .await
        .expect("connects");
    (client, changes)
}

async fn call(client: &RunningService<RoleClient, Sampler>, tool: &str) -> Result<String, String> {
    client
        .call_tool(CallToolRequestParams::new(tool.to_owned()))
        .await
        .map(|r| text_of(&r))
        .map_err(|e| e.to_string())
}

async fn prompt_names(client: &RunningService<RoleClient, Sampler>) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_prompts()
        .await
        .expect("prompts/list")
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    names
}

async fn prompt_text(client: &RunningService<RoleClient, Sampler>, name: &str) -> String {
    let prompt = client
        .get_prompt(GetPromptRequestParams::new(name))
        .await
        .expect("prompts/get");
    prompt.messages[0]
        .content
        .as_text()
        .map(|t| t.text.clone())
        .expect("a text message")
}

#[tokio::test]
async fn the_gateway_forwards_tools_and_lays_the_orgs_prompts_over_the_upstreams() {
    let upstream = Upstream::default();
    let addr = start_upstream(upstream.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let signing_key = "k".repeat(32);
    let service =
        Service::sqlite_with(&dir, &[&format!("--gateway-signing-key={signing_key}")]).await;
    service.import(BUNDLE).await;
    let registered = service
        .api()
        .put_upstream(
            "tools",
            json!({"url": format!("http://{addr}/mcp"), "pass_headers": ["x-request-id"]}),
        )
        .await;
    assert_eq!(
        registered.status(),
        200,
        "{}",
        registered.text().await.unwrap()
    );

    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (acme, mut changes) = session(
        &service,
        "acme",
        &[
            ("x-mcp-config-org", "evil"),
            ("x-request-id", "req-1"),
            ("traceparent", traceparent),
        ],
    )
    .await;

    // Tools are the upstream's.
    let tools: Vec<String> = acme
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert_eq!(tools, ["headers", "ask", "slow", "huge"]);

    // What reached the upstream: the gateway's word on the org, never the client's; the
    // subject; the passed header; the client's trace; no token of the caller's.
    let seen: Value = serde_json::from_str(&call(&acme, "headers").await.unwrap()).unwrap();
    assert_eq!(seen["org"], "acme");
    assert_eq!(seen["subject"], "anonymous");
    assert_eq!(seen["request_id"], "req-1");
    assert_eq!(
        seen["traceparent"].as_str().unwrap().split('-').nth(1),
        Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        "{seen}"
    );
    assert_eq!(seen["authorization"], Value::Null);
    // The signed context token names the org, the subject and the server.
    let mut validation = jsonwebtoken::Validation::default();
    validation.set_audience(&["tools"]);
    let claims = jsonwebtoken::decode::<BTreeMap<String, Value>>(
        seen["context_token"].as_str().expect("a context token"),
        &jsonwebtoken::DecodingKey::from_secret(signing_key.as_bytes()),
        &validation,
    )
    .expect("the token verifies with the key")
    .claims;
    assert_eq!(claims["org"], "acme");
    assert_eq!(claims["sub"], "anonymous");

    // The upstream's request to the client reaches the client, and its answer the upstream.
    assert_eq!(
        call(&acme, "ask").await.unwrap(),
        "the client's model said it is test-model"
    );

    // A ping goes on to the upstream over the session's open link.
    let pings = upstream.pings.load(Ordering::SeqCst);
    acme.send_request(ClientRequest::PingRequest(Default::default()))
        .await
        .expect("the gateway and the upstream answer a ping");
    assert_eq!(upstream.pings.load(Ordering::SeqCst), pings + 1);

    // Prompts: the org's view, plus the upstream's that it neither defines nor hides.
    assert_eq!(
        prompt_names(&acme).await,
        ["acme-only", "shared", "upstream-only"]
    );
    assert_eq!(
        prompt_text(&acme, "shared").await,
        "mcp-config's shared prompt"
    );
    assert_eq!(
        prompt_text(&acme, "upstream-only").await,
        "the upstream's upstream-only"
    );
    assert!(
        acme.get_prompt(GetPromptRequestParams::new("upstream-secret"))
            .await
            .is_err(),
        "a prompt the org hides is not served from the upstream either"
    );
    let (globex, _) = session(&service, "globex", &[]).await;
    assert_eq!(
        prompt_names(&globex).await,
        ["shared", "upstream-only", "upstream-secret"]
    );

    // A save in mcp-config reaches the gateway's session as list_changed.
    service
        .api()
        .put_text_prompt("acme", "tools", "new-one", "new")
        .await;
    let heard = tokio::time::timeout(WAIT, changes.recv()).await.unwrap();
    assert_eq!(heard, Some("prompts"));
    assert!(prompt_names(&acme).await.contains(&"new-one".to_owned()));

    // The current (stateless) protocol reaches the same tools.
    let stateless = current_client(&service, "globex").await;
    let answer = stateless
        .call_tool(CallToolRequestParams::new("headers"))
        .await
        .unwrap();
    let seen: Value = serde_json::from_str(&text_of(&answer)).unwrap();
    assert_eq!(seen["org"], "globex");
    // A stateless list of a server with an upstream is the merged one (never the encoded
    // answer of mcp-config's half alone).
    let mut names: Vec<_> = stateless
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    names.sort();
    assert_eq!(names, ["shared", "upstream-only", "upstream-secret"]);
}

#[tokio::test]
async fn a_hung_redirecting_or_flooding_upstream_fails_its_tools_and_never_the_prompts() {
    let addr = start_upstream(Upstream::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(BUNDLE).await;

    // Redirects are never followed: the tools fail, mcp-config's prompts still answer.
    service
        .api()
        .put_upstream("tools", json!({"url": format!("http://{addr}/moved")}))
        .await;
    let (acme, _) = session(&service, "acme", &[]).await;
    let refused = acme.list_all_tools().await.unwrap_err().to_string();
    assert!(refused.contains("unavailable"), "{refused}");
    // A ping is the gateway's to answer: the session lives while its prompts answer.
    acme.send_request(ClientRequest::PingRequest(Default::default()))
        .await
        .expect("the gateway answers a ping with its upstream down");
    assert_eq!(prompt_names(&acme).await, ["acme-only", "shared"]);
    drop(acme);

    // A call longer than the entry's timeout fails with a clear error, in about that time.
    service
        .api()
        .put_upstream(
            "tools",
            json!({"url": format!("http://{addr}/mcp"), "timeout_ms": 500}),
        )
        .await;
    // The registry is fresh within two seconds on every replica; this one wrote it.
    let (acme, _) = session(&service, "acme", &[]).await;
    let started = std::time::Instant::now();
    let timed_out = call(&acme, "slow").await.unwrap_err();
    assert!(timed_out.contains("did not answer within"), "{timed_out}");
    assert!(started.elapsed() < Duration::from_secs(30));

    // An answer larger than the gateway takes fails the call, not the session.
    let flood = call(&acme, "huge").await.unwrap_err();
    assert!(!flood.is_empty());
    assert!(
        call(&acme, "headers").await.is_ok(),
        "the session still works"
    );
}

/// A 2026-07-28 client (no session) of `org` to the gateway's `tools` server.
async fn current_client(service: &Service, org: &str) -> RunningService<RoleClient, ()> {
    ().serve_with_lifecycle(
        StreamableHttpClientTransport::from_config(transport_for(
            service.url("/mcp/tools"),
            Some(org),
        )),
        current_protocol(),
    )
    .await
    .expect("a 2026-07-28 client connects")
}

/// The next notification of a listen stream, if one comes within `wait`.
async fn next_within(
    listening: &mut rmcp::service::Subscription,
    wait: Duration,
) -> Option<rmcp::model::ServerNotification> {
    tokio::time::timeout(wait, listening.next())
        .await
        .ok()
        .and_then(|next| next.ok().flatten())
}

#[tokio::test]
async fn a_listen_stream_hears_the_upstreams_announcements_and_mcp_configs() {
    use rmcp::model::{ServerNotification, SubscriptionFilter};
    let upstream = Upstream::default();
    let addr = start_upstream(upstream.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(BUNDLE).await;
    service.wait_until_published().await;
    let put = service
        .api()
        .put_upstream("tools", json!({"url": format!("http://{addr}/mcp")}))
        .await;
    assert_eq!(put.status(), 200);
    let acme = current_client(&service, "acme").await;
    let filter = SubscriptionFilter::builder()
        .tools_list_changed()
        .prompts_list_changed()
        .build();
    let mut listening = acme.listen(filter).await.unwrap();

    // The stream's upstream session opens in the background: announce until it is there.
    let deadline = tokio::time::Instant::now() + WAIT;
    let heard = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the upstream's tools/list_changed never reached the listen stream"
        );
        upstream.announce_tools_changed("acme").await;
        if let Some(heard) = next_within(&mut listening, Duration::from_millis(300)).await {
            break heard;
        }
    };
    assert!(
        matches!(heard, ServerNotification::ToolListChangedNotification(_)),
        "{heard:?}"
    );
    // Another org's sessions are not this stream's: nothing was opened for globex.
    assert_eq!(upstream.announce_tools_changed("globex").await, 0);

    // mcp-config's own change reaches the same stream.
    let saved = service
        .api()
        .put_text_prompt("acme", "tools", "acme-only", "changed for acme")
        .await;
    assert_eq!(saved.status(), 200);
    let heard = loop {
        let next = next_within(&mut listening, WAIT)
            .await
            .expect("a notification");
        if !matches!(next, ServerNotification::ToolListChangedNotification(_)) {
            break next;
        }
    };
    assert!(
        matches!(heard, ServerNotification::PromptListChangedNotification(_)),
        "{heard:?}"
    );

    // The registry points elsewhere: the stream's link moves, and the stream is told the
    // lists may have changed (what the new upstream announced before is not known).
    let other = Upstream::default();
    let other_addr = start_upstream(other.clone()).await;
    service
        .api()
        .put_upstream("tools", json!({"url": format!("http://{other_addr}/mcp")}))
        .await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while other.sessions_of("acme").is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the stream's link never moved to the new upstream"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut told = Vec::new();
    while told.len() < 2 {
        told.push(
            next_within(&mut listening, WAIT)
                .await
                .expect("told after the move"),
        );
    }
    assert!(
        told.iter()
            .any(|n| matches!(n, ServerNotification::ToolListChangedNotification(_)))
            && told
                .iter()
                .any(|n| matches!(n, ServerNotification::PromptListChangedNotification(_))),
        "{told:?}"
    );
    assert_eq!(other.announce_tools_changed("acme").await, 1);
    assert!(
        matches!(
            next_within(&mut listening, WAIT).await,
            Some(ServerNotification::ToolListChangedNotification(_))
        ),
        "the new upstream's announcement reaches the stream"
    );
    listening.cancel().await.unwrap();
}

#[tokio::test]
async fn a_listen_stream_opens_a_new_upstream_session_when_the_upstream_restarts() {
    use rmcp::model::{ServerNotification, SubscriptionFilter};
    let upstream = Upstream::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let first = tokio::spawn(serve_upstream(upstream.clone(), listener));
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(BUNDLE).await;
    service
        .api()
        .put_upstream("tools", json!({"url": format!("http://{addr}/mcp")}))
        .await;
    let acme = current_client(&service, "acme").await;
    let filter = SubscriptionFilter::builder().tools_list_changed().build();
    let mut listening = acme.listen(filter).await.unwrap();
    assert!(
        eventually(WAIT, || async { !upstream.sessions_of("acme").is_empty() }).await,
        "the stream's upstream session opened"
    );

    // The upstream restarts on the same address and knows no session of before: the stream's
    // link finds out (its session no longer answers), opens another, and tells the stream its
    // tools may have changed.
    first.abort();
    let _ = first.await;
    let restarted = Upstream::default();
    let listener = loop {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => break listener,
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    };
    tokio::spawn(serve_upstream(restarted.clone(), listener));
    let told = next_within(&mut listening, Duration::from_secs(60)).await;
    assert!(
        matches!(
            told,
            Some(ServerNotification::ToolListChangedNotification(_))
        ),
        "{told:?}"
    );
    assert!(
        !restarted.sessions_of("acme").is_empty(),
        "a session of the restarted upstream"
    );
    assert_eq!(restarted.announce_tools_changed("acme").await, 1);
    assert!(matches!(
        next_within(&mut listening, WAIT).await,
        Some(ServerNotification::ToolListChangedNotification(_))
    ));
    listening.cancel().await.unwrap();
}

#[tokio::test]
async fn an_https_upstream_is_reached_through_the_operators_ca_and_refused_without_it() {
    let certs = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/gen-test-certs.sh");
    let made = std::process::Command::new("bash")
        .arg(script)
        .arg(certs.path())
        .status()
        .unwrap();
    assert!(made.success(), "gen-test-certs.sh failed");
    let addr = start_tls_upstream(Upstream::default(), certs.path()).await;
    let upstream = json!({"url": format!("https://localhost:{}/mcp", addr.port())});

    // Trusting the operator's CA: tools go through over TLS with the org's context.
    let dir = tempfile::tempdir().unwrap();
    let ca = format!(
        "--gateway-upstream-ca={}",
        certs.path().join("ca.pem").display()
    );
    let service = Service::sqlite_with(&dir, &[&ca]).await;
    service.import(BUNDLE).await;
    let registered = service.api().put_upstream("tools", upstream.clone()).await;
    assert_eq!(registered.status(), 200);
    let (acme, _) = session(&service, "acme", &[]).await;
    let seen: Value = serde_json::from_str(&call(&acme, "headers").await.unwrap()).unwrap();
    assert_eq!(seen["org"], "acme");
    assert_eq!(
        prompt_names(&acme).await,
        ["acme-only", "shared", "upstream-only"]
    );
    drop(acme);

    // Without it the certificate is not trusted: tools fail saying so, prompts still answer.
    let dir = tempfile::tempdir().unwrap();
    let untrusting = Service::sqlite(&dir).await;
    untrusting.import(BUNDLE).await;
    untrusting.api().put_upstream("tools", upstream).await;
    let (acme, _) = session(&untrusting, "acme", &[]).await;
    let refused = acme.list_all_tools().await.unwrap_err().to_string();
    assert!(
        refused.contains("unavailable") && refused.contains("certificate"),
        "{refused}"
    );
    assert_eq!(prompt_names(&acme).await, ["acme-only", "shared"]);
}

#[tokio::test]
async fn the_registry_is_versioned_checked_and_for_admins_only() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    let bad = service
        .api()
        .put_upstream("tools", json!({"url": "ftp://example.com/mcp"}))
        .await;
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("upstream.url"),
        "{body}"
    );
    let reserved = service
        .api()
        .put_upstream(
            "tools",
            json!({"url": "http://a/mcp", "pass_headers": ["x-mcp-config-org"]}),
        )
        .await;
    assert_eq!(reserved.status(), 400);
    let missing = reqwest::get(service.admin("/servers/tools/upstream"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404, "nothing was saved by the refusals");

    service
        .api()
        .put_upstream("tools", json!({"url": "http://one/mcp"}))
        .await;
    service
        .api()
        .put_upstream("tools", json!({"url": "http://two/mcp"}))
        .await;
    let history: Value = service
        .api()
        .upstream_history("tools")
        .await
        .json()
        .await
        .unwrap();
    let urls: Vec<&str> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["upstream"]["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, ["http://one/mcp", "http://two/mcp"]);
    assert_eq!(history["versions"][0]["actor"], "anonymous");
    let rolled: Value = service
        .api()
        .rollback_upstream("tools", 1)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            rolled["version"].as_u64(),
            rolled["upstream"]["url"].as_str()
        ),
        (Some(3), Some("http://one/mcp"))
    );
    // A stale writer is refused.
    let stale = reqwest::Client::new()
        .put(service.admin("/servers/tools/upstream"))
        .json(&json!({"upstream": {"url": "http://x/mcp"}, "expected_version": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 409);

    // Upstreams travel in bundles: exported, and imported back unchanged.
    let bundle = reqwest::get(service.admin("/bundle"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        bundle.contains("upstreams:") && bundle.contains("http://one/mcp"),
        "{bundle}"
    );
    let report = service.import(&bundle).await;
    assert_eq!(report["upstreams"][0]["diff"], "unchanged", "{report}");
}

#[tokio::test]
async fn only_global_admins_touch_the_registry() {
    use mcp_config_tests::tokens;
    let dir = tempfile::tempdir().unwrap();
    let service = tokens::jwt_service(dir.path(), |_| {}).await;
    let org_admin = tokens::token("alice", Some("acme"), &["admin"]);
    for (method, path) in [
        (reqwest::Method::GET, "/upstreams"),
        (reqwest::Method::GET, "/servers/tools/upstream"),
        (reqwest::Method::PUT, "/servers/tools/upstream"),
        (reqwest::Method::DELETE, "/servers/tools/upstream"),
    ] {
        let answer = reqwest::Client::new()
            .request(method.clone(), service.admin(path))
            .header("x-org-id", "acme")
            .bearer_auth(&org_admin)
            .json(&json!({"upstream": {"url": "http://evil/mcp"}}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{method} {path}");
    }
    let with_upstream = "upstreams:\n  tools: {url: \"http://evil/mcp\"}\n";
    let answer = service
        .api()
        .as_token(&org_admin)
        .import(with_upstream)
        .await;
    assert_eq!(answer.status(), 403);
}

/// The web UI's upstream pages: set through the form, the merge rule shown on the upstream's
/// live lists for a chosen org, rollback and removal; a bad form saves nothing.
#[tokio::test]
async fn the_ui_sets_an_upstream_and_shows_what_each_org_sees() {
    let addr = start_upstream(Upstream::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(BUNDLE).await;
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let post = async |path: &str, form: &[(&str, &str)]| {
        browser
            .post(service.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    };
    let page = async |path: &str| {
        let answer = browser.get(service.url(path)).send().await.unwrap();
        (answer.status(), answer.text().await.unwrap())
    };

    let bad = post(
        "/ui/upstreams",
        &[("server", "tools"), ("url", "ftp://nowhere/mcp")],
    )
    .await;
    assert_eq!(bad.status(), 400);
    assert!(bad.text().await.unwrap().contains("url"));
    let (_, empty) = page("/ui/upstreams").await;
    assert!(empty.contains("No server has an upstream yet."), "{empty}");

    let url = format!("http://{addr}/mcp");
    let saved = post(
        "/ui/upstreams",
        &[
            ("server", "tools"),
            ("url", &url),
            ("timeout_ms", "5000"),
            ("pass_headers", "x-request-id, x-tenant"),
            ("message", "first"),
        ],
    )
    .await;
    assert_eq!(saved.status(), 303);
    assert_eq!(saved.headers()["location"], "/ui/upstreams/tools");
    let entry: Value = service
        .api()
        .upstream_history("tools")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        entry["versions"][0]["upstream"]["pass_headers"],
        json!(["x-request-id", "x-tenant"])
    );

    // Through acme's eyes: its own prompt first, the upstream's `shared` replaced, its
    // hidden one hidden, the rest passing through.
    let (status, acme) = page("/ui/upstreams/tools?org=acme").await;
    assert_eq!(status, 200, "{acme}");
    let row = |html: &str, name: &str| {
        let start = html
            .find(&format!("<th scope=\"row\">{name}</th>"))
            .unwrap_or_else(|| panic!("{name} in {html}"));
        html[start..start + html[start..].find("</tr>").unwrap()].to_owned()
    };
    assert!(row(&acme, "shared").contains("replaced by mcp-config"));
    assert!(row(&acme, "upstream-secret").contains("hidden"));
    assert!(row(&acme, "upstream-only").contains("passes through"));
    let (_, scope) = page("/ui/orgs/acme/tools").await;
    assert!(
        scope.contains("href=\"/ui/upstreams/tools?org=acme\""),
        "the scope page points to the merge: {scope}"
    );
    let (_, globex) = page("/ui/upstreams/tools?org=globex").await;
    assert!(row(&globex, "upstream-secret").contains("passes through"));

    // Rollback and removal.
    post(
        "/ui/upstreams",
        &[
            ("server", "tools"),
            ("url", "http://127.0.0.1:9/mcp"),
            ("expected_version", "1"),
        ],
    )
    .await;
    let (_, down) = page("/ui/upstreams/tools").await;
    assert!(
        down.contains("The upstream could not be listed"),
        "an unreachable upstream is said, the page still answers: {down}"
    );
    let rolled = post(
        "/ui/upstreams/tools/rollback",
        &[("version", "1"), ("expected_version", "2")],
    )
    .await;
    assert_eq!(rolled.status(), 303);
    let now: Value = reqwest::get(service.admin("/servers/tools/upstream"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (now["version"].as_u64(), now["upstream"]["url"].as_str()),
        (Some(3), Some(url.as_str()))
    );
    let stale = post("/ui/upstreams/tools/delete", &[("expected_version", "2")]).await;
    assert_eq!(stale.status(), 409);
    let removed = post("/ui/upstreams/tools/delete", &[("expected_version", "3")]).await;
    assert_eq!(removed.status(), 303);
    let gone = reqwest::get(service.admin("/servers/tools/upstream"))
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
}

#[tokio::test]
async fn the_ui_upstream_pages_are_for_global_admins_only() {
    use mcp_config_tests::tokens;
    let dir = tempfile::tempdir().unwrap();
    let service = tokens::jwt_service(dir.path(), |_| {}).await;
    let org_admin = tokens::token("alice", Some("acme"), &["admin"]);
    let cookie = format!("mcp_config_session={org_admin}");
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    for path in ["/ui/upstreams", "/ui/upstreams/tools"] {
        let answer = browser
            .get(service.url(path))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 403, "{path}");
    }
    let forged = browser
        .post(service.url("/ui/upstreams"))
        .header("cookie", &cookie)
        .form(&[("server", "tools"), ("url", "http://evil/mcp")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    let root = tokens::token("root", None, &["admin"]);
    let none = reqwest::Client::new()
        .get(service.admin("/upstreams"))
        .bearer_auth(root)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        none["upstreams"],
        json!([]),
        "the forged form saved nothing"
    );
}
