//! The example MCP server end to end: a real mcp-config service, the example server on its own
//! port, and the official Rust MCP SDK as the MCP client over streamable HTTP.

use std::net::SocketAddr;

use mcp_config_client::{ClientConfig, ConfigClient, Source};
use mcp_config_example_server::{config_backed_server, org::OrgResolver, serve};
use mcp_config_tests::{
    mcp::{
        Recorder, WAIT, assert_example_views, assert_render_errors_name_the_problem,
        current_protocol, description_of, expect_prompt_list_changed, prompt_list_changed,
        prompt_names, put_prompt, read_text, transport_for,
    },
    redis::Redis,
    service::{EXAMPLE_BUNDLE, Service},
};
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
use tokio_util::sync::CancellationToken;

/// The example server for `github` on a free port, reading from `service`.
struct ExampleServer {
    address: SocketAddr,
    shutdown: CancellationToken,
}

impl ExampleServer {
    async fn start(service: &Service, source: Source) -> Self {
        let config = ClientConfig {
            source,
            ..ClientConfig::new(format!("http://{}", service.grpc_addr))
        };
        let client = ConfigClient::connect(config).await.unwrap();
        // Invalidations must be heard before a test changes anything.
        client.until_following().await;
        let shutdown = CancellationToken::new();
        let server = config_backed_server(client, "github", OrgResolver::Header);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(serve(
            listener,
            server,
            vec!["127.0.0.1".into()],
            shutdown.clone(),
        ));
        Self { address, shutdown }
    }

    fn transport(&self, org: &str) -> StreamableHttpClientTransportConfig {
        transport_for(format!("http://{}/mcp", self.address), Some(org))
    }

    /// An MCP client for `org` (sent as the `x-org-id` header), speaking the current protocol
    /// (2026-07-28: `server/discover`, no session).
    async fn connect(&self, org: &str) -> RunningService<RoleClient, ()> {
        ().serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(self.transport(org)),
            current_protocol(),
        )
        .await
        .expect("the MCP handshake succeeds")
    }

    /// An MCP client for `org` speaking a legacy protocol (`initialize`, a session), reporting
    /// the list_changed notifications it receives on `notified`.
    async fn connect_legacy(
        &self,
        org: &str,
        notified: mpsc::UnboundedSender<&'static str>,
    ) -> RunningService<RoleClient, Recorder> {
        Recorder(notified)
            .serve(StreamableHttpClientTransport::from_config(
                self.transport(org),
            ))
            .await
            .expect("the MCP handshake succeeds")
    }
}

impl Drop for ExampleServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[tokio::test]
async fn an_admin_change_reaches_mcp_clients_as_list_changed_and_a_new_list() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(EXAMPLE_BUNDLE).await;
    let example = ExampleServer::start(&service, Source::Watch).await;
    let acme = example.connect("acme").await;

    assert_eq!(
        prompt_names(&acme).await,
        [
            "release-notes",
            "review-pr",
            "security-review",
            "triage-issue"
        ]
    );
    let mut listening = acme.listen(prompt_list_changed()).await.unwrap();
    assert_eq!(listening.acknowledged().prompts_list_changed, Some(true));

    put_prompt(
        &service,
        "/orgs/acme/servers/github/prompts/review-pr",
        "Changed through the admin API",
        "Review {{ repo }} the new way.",
    )
    .await;
    expect_prompt_list_changed(&mut listening).await;
    assert_eq!(
        description_of(&acme, "review-pr").await.as_deref(),
        Some("Changed through the admin API")
    );
    let rendered = acme
        .get_prompt(GetPromptRequestParams::new("review-pr").with_arguments(
            serde_json::Map::from_iter([("repo".into(), json!("acme/api"))]),
        ))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&rendered.messages[0].content).unwrap()["text"],
        "Review acme/api the new way."
    );
    listening.cancel().await.unwrap();
}

#[tokio::test]
async fn each_org_sees_its_own_view_and_errors_name_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(EXAMPLE_BUNDLE).await;
    let example = ExampleServer::start(&service, Source::Watch).await;
    let (acme, globex, anonymous) = (
        example.connect("acme").await,
        example.connect("globex").await,
        example.connect("").await,
    );

    assert_example_views(&acme, &globex, &anonymous).await;

    assert_render_errors_name_the_problem(&acme).await;
}

#[tokio::test]
async fn a_default_changed_over_redis_notifies_every_org() {
    let redis = Redis::start();
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite_with_redis(&dir, &redis).await;
    service.import(EXAMPLE_BUNDLE).await;
    service.wait_until_published().await;
    let source = Source::Redis {
        url: redis.url(),
        channel: "mcp-config:invalidations".into(),
    };
    let example = ExampleServer::start(&service, source).await;
    let globex = example.connect("globex").await;
    assert_eq!(
        description_of(&globex, "release-notes").await,
        None,
        "the bundle's default has no description"
    );
    let mut listening = globex.listen(prompt_list_changed()).await.unwrap();

    put_prompt(
        &service,
        "/defaults/servers/github/prompts/release-notes",
        "Release notes, now with a description",
        "Notes for {{ repo }}.",
    )
    .await;
    expect_prompt_list_changed(&mut listening).await;
    assert_eq!(
        description_of(&globex, "release-notes").await.as_deref(),
        Some("Release notes, now with a description")
    );
}

#[tokio::test]
async fn legacy_sessions_get_list_changed_on_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(EXAMPLE_BUNDLE).await;
    let example = ExampleServer::start(&service, Source::Watch).await;
    let (notified, mut notifications) = mpsc::unbounded_channel();
    let acme = example.connect_legacy("acme", notified).await;
    assert_eq!(
        description_of(&acme, "review-pr").await.as_deref(),
        Some("Acme's review checklist, security first.")
    );

    put_prompt(
        &service,
        "/orgs/acme/servers/github/prompts/review-pr",
        "Changed for legacy clients",
        "Review {{ repo }}.",
    )
    .await;
    let kind = tokio::time::timeout(WAIT, notifications.recv())
        .await
        .expect("list_changed within the wait");
    assert_eq!(kind, Some("prompts"));
    assert_eq!(
        description_of(&acme, "review-pr").await.as_deref(),
        Some("Changed for legacy clients")
    );
}

/// Every content kind and resource templates, served through the client library.
#[tokio::test]
async fn images_embedded_resources_and_resource_templates_pass_through_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service
        .import(
            r##"
defaults:
  github:
    prompts:
      look:
        messages:
          - role: user
            image: {mime_type: image/png, data: AP8=}
          - role: user
            resource: {uri: "file:///guide.md"}
    resources:
      "file:///guide.md": {name: guide, mime_type: text/markdown, text: "# Guide"}
      "repo://{owner}/{name}/readme": {name: readme, text: "Readme of {{ owner }}/{{ name }}"}
orgs:
  acme: {}
"##,
        )
        .await;
    let example = ExampleServer::start(&service, Source::Watch).await;
    let acme = example.connect("acme").await;

    let rendered = acme
        .get_prompt(GetPromptRequestParams::new("look"))
        .await
        .unwrap();
    let blocks: Vec<serde_json::Value> = rendered
        .messages
        .iter()
        .map(|m| serde_json::to_value(&m.content).unwrap())
        .collect();
    assert_eq!(
        blocks[0],
        json!({"type": "image", "data": "AP8=", "mimeType": "image/png"})
    );
    assert_eq!(blocks[1]["resource"]["text"], "# Guide");

    let resources = acme.list_all_resources().await.unwrap();
    assert_eq!(
        resources.iter().map(|r| r.uri.as_str()).collect::<Vec<_>>(),
        ["file:///guide.md"]
    );
    let templates = acme.list_all_resource_templates().await.unwrap();
    assert_eq!(templates[0].uri_template, "repo://{owner}/{name}/readme");
    assert_eq!(
        read_text(&acme, "repo://acme/api/readme").await.0,
        "Readme of acme/api"
    );
}
