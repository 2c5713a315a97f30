//! How a team tests its MCP server built on the client, with no mcp-config running: the
//! client crate's `FakeService` (feature `testing`) holds the views the test sets, the server
//! under test reads them through the real client and loader, and a real rmcp client checks
//! what an MCP client sees — lists, renders, resources, `list_changed`, and an outage.

use mcp_config_client::{ClientConfig, ConfigClient, Source, testing::FakeService};
use mcp_config_example_server::{config_backed_server, org::OrgResolver, serve};
use mcp_config_proto::v1::{Prompt, PromptArgument, PromptMessage, Resource, resource};
use mcp_config_tests::mcp::{Recorder, WAIT, prompt_names, transport_for};
use rmcp::{
    ServiceExt,
    model::{GetPromptRequestParams, ReadResourceRequestParams},
    transport::StreamableHttpClientTransport,
};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

fn prompt(name: &str, text: &str) -> Prompt {
    Prompt {
        name: name.into(),
        arguments: vec![PromptArgument {
            name: "repo".into(),
            required: true,
            ..Default::default()
        }],
        messages: vec![PromptMessage {
            role: "user".into(),
            text: text.into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The example server on `fake`, at a URL of its own; dropping the token stops it.
async fn example_server(fake: &FakeService) -> (String, ConfigClient, CancellationToken) {
    let client = ConfigClient::connect(ClientConfig {
        source: Source::Watch,
        ..ClientConfig::new(fake.endpoint())
    })
    .await
    .unwrap();
    client.until_following().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let server = config_backed_server(client.clone(), "github", OrgResolver::Header);
    tokio::spawn(serve(
        listener,
        server,
        vec!["127.0.0.1".into()],
        shutdown.clone(),
    ));
    (url, client, shutdown)
}

#[tokio::test]
async fn an_mcp_server_is_tested_against_the_fake_service() {
    let fake = FakeService::start().await;
    fake.set_prompts("", "github", vec![prompt("review-pr", "Review {{ repo }}")]);
    fake.set_prompts(
        "acme",
        "github",
        vec![
            prompt("review-pr", "Acme reviews {{ repo }}"),
            prompt("triage", "Triage {{ repo }}"),
        ],
    );
    fake.set_resources(
        "",
        "github",
        vec![Resource {
            uri: "file:///guide.md".into(),
            name: "guide".into(),
            mime_type: "text/markdown".into(),
            contents: Some(resource::Contents::Text("# Guide".into())),
            ..Default::default()
        }],
    );
    let (url, client, _shutdown) = example_server(&fake).await;

    let (heard, mut changes) = mpsc::unbounded_channel();
    let acme = Recorder(heard)
        .serve(StreamableHttpClientTransport::from_config(transport_for(
            url.clone(),
            Some("acme"),
        )))
        .await
        .unwrap();
    assert_eq!(prompt_names(acme.peer()).await, ["review-pr", "triage"]);
    let rendered = acme
        .get_prompt(
            GetPromptRequestParams::new("review-pr")
                .with_arguments(json!({"repo": "acme/api"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert!(format!("{:?}", rendered.messages[0].content).contains("Acme reviews acme/api"));
    let missing = acme
        .get_prompt(GetPromptRequestParams::new("review-pr"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        missing.contains("repo"),
        "the missing argument is named: {missing}"
    );
    let guide = acme
        .read_resource(ReadResourceRequestParams::new("file:///guide.md"))
        .await
        .unwrap();
    assert!(format!("{guide:?}").contains("# Guide"), "{guide:?}");

    // Another org reads the defaults, and the client says it is not one the service knows.
    let globex = ()
        .serve(StreamableHttpClientTransport::from_config(transport_for(
            url,
            Some("globex"),
        )))
        .await
        .unwrap();
    assert_eq!(prompt_names(globex.peer()).await, ["review-pr"]);
    assert!(
        client
            .prompts("globex", "github")
            .await
            .unwrap()
            .org_unknown
    );
    let calls = fake.list_calls();
    assert!(!client.prompts("acme", "github").await.unwrap().org_unknown);
    assert_eq!(
        fake.list_calls(),
        calls,
        "a current cached view costs no call"
    );

    // A change set in the test reaches the MCP client as list_changed.
    fake.set_prompts(
        "acme",
        "github",
        vec![prompt("triage", "Triage {{ repo }}")],
    );
    let kind = tokio::time::timeout(WAIT, changes.recv())
        .await
        .expect("list_changed");
    assert_eq!(kind, Some("prompts"));
    assert_eq!(prompt_names(acme.peer()).await, ["triage"]);

    // An outage: once the client hears of it (its Watch stream ends), what it read is served
    // stale, and the MCP client still gets the list.
    fake.set_unavailable(true);
    let stale = mcp_config_tests::eventually(WAIT, || async {
        client
            .prompts("acme", "github")
            .await
            .unwrap()
            .stale
            .is_some()
    })
    .await;
    assert!(stale, "served stale while the service is unavailable");
    assert_eq!(prompt_names(acme.peer()).await, ["triage"]);
    fake.set_unavailable(false);
    fake.register_org("globex");
    let known = mcp_config_tests::eventually(WAIT, || async {
        !client
            .prompts("globex", "github")
            .await
            .unwrap()
            .org_unknown
    })
    .await;
    assert!(known, "registering the org is announced and read");
}
