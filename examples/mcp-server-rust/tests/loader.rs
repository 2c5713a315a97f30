//! The client crate's loader (`mcp_config_client::loader`) in rmcp servers other than the
//! example: one with tools of its own, and one started while the service is down, serving its
//! hard-coded fallback until mcp-config answers. The official Rust MCP SDK is the client.

use std::time::Duration;

use mcp_config_client::{
    ClientConfig, ConfigClient, Source,
    loader::{ConfigLoader, Fallback, FallbackPrompt},
};
use mcp_config_example_server::serve;
use mcp_config_tests::{
    eventually,
    mcp::{Recorder, WAIT, current_protocol, prompt_names, transport_for},
    service::{EXAMPLE_BUNDLE, Service, settings},
};
use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt,
    model::{
        CallToolRequestParams, CallToolResult, ContentBlock, Extensions, GetPromptRequestParams,
        GetPromptResponse, ListPromptsResult, ListToolsResult, PaginatedRequestParams, Prompt,
        PromptMessage, Role, ServerCapabilities, ServerConfig, Tool,
    },
    service::{ClientServiceExt, NotificationContext, RequestContext},
    transport::StreamableHttpClientTransport,
};
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The org of a request: its `x-org-id` header.
fn org_of(extensions: &Extensions) -> Result<String, ErrorData> {
    let parts = extensions
        .get::<http::request::Parts>()
        .ok_or_else(|| ErrorData::internal_error("no HTTP request", None))?;
    Ok(parts
        .headers
        .get("x-org-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned())
}

/// A server with a tool of its own whose prompts come from mcp-config: two lines per method.
#[derive(Clone)]
struct ToolsAndPrompts {
    loader: ConfigLoader,
}

impl ServerHandler for ToolsAndPrompts {
    fn get_info(&self) -> ServerConfig {
        let mut capabilities = ConfigLoader::capabilities();
        capabilities.tools = ServerCapabilities::builder().enable_tools().build().tools;
        ServerConfig::new(capabilities)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let schema = json!({"type": "object"}).as_object().unwrap().clone();
        Ok(ListToolsResult::with_all_items(vec![Tool::new(
            "echo",
            "says what it is given",
            schema,
        )]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<rmcp::model::CallToolResponse, ErrorData> {
        let said = request
            .arguments
            .and_then(|a| a.get("text").cloned())
            .unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::text(said.to_string())]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        let org = org_of(&context.extensions)?;
        self.loader.list_prompts(&org).await
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        let org = org_of(&context.extensions)?;
        Ok(self.loader.get_prompt(&org, request).await?.into())
    }

    async fn on_initialized(&self, context: NotificationContext<RoleServer>) {
        if let Ok(org) = org_of(&context.extensions) {
            self.loader.follow_session(org, context.peer);
        }
    }
}

/// Serves `handler` at `/mcp` on a free port; the URL, and what stops it.
async fn start<S>(handler: S) -> (String, CancellationToken)
where
    S: ServerHandler + Clone + Send + Sync + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    tokio::spawn(serve(
        listener,
        handler,
        vec!["127.0.0.1".into()],
        shutdown.clone(),
    ));
    (url, shutdown)
}

fn text_of(message: &PromptMessage) -> String {
    serde_json::to_value(&message.content).unwrap()["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn a_server_with_its_own_tools_serves_each_orgs_prompts_next_to_them() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let client = ConfigClient::connect(ClientConfig::new(format!("http://{}", service.grpc_addr)))
        .await
        .unwrap();
    let loader = ConfigLoader::new(client, "github");
    let (url, _shutdown) = start(ToolsAndPrompts { loader }).await;

    for org in ["acme", "globex"] {
        let mcp = ()
            .serve_with_lifecycle(
                StreamableHttpClientTransport::from_config(transport_for(url.clone(), Some(org))),
                current_protocol(),
            )
            .await
            .unwrap();
        let tools = mcp.list_all_tools().await.unwrap();
        assert_eq!(
            tools.iter().map(|t| t.name.as_ref()).collect::<Vec<_>>(),
            ["echo"]
        );
        let echoed = mcp
            .call_tool(
                CallToolRequestParams::new("echo")
                    .with_arguments(json!({"text": "hi"}).as_object().unwrap().clone()),
            )
            .await
            .unwrap();
        assert!(format!("{:?}", echoed.content).contains("hi"));

        let served = service.prompts_of(org, "github").await;
        let expected: Vec<_> = served.prompts.iter().map(|p| p.name.clone()).collect();
        assert!(!expected.is_empty());
        assert_eq!(prompt_names(mcp.peer()).await, expected, "{org}");
    }
    let acme = ()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(transport_for(url, Some("acme"))),
            current_protocol(),
        )
        .await
        .unwrap();
    let arguments = json!({"repo": "acme/api", "number": 7});
    let rendered = acme
        .get_prompt(
            GetPromptRequestParams::new("review-pr")
                .with_arguments(arguments.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert!(
        text_of(&rendered.messages[0]).contains("#7 in acme/api"),
        "{rendered:?}"
    );
}

#[tokio::test]
async fn a_server_started_with_the_service_down_serves_its_fallback_until_mcp_config_answers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("mcp-config.db").display());
    let mut later = settings(&url, None);
    later.listen.grpc_addr = format!("127.0.0.1:{}", mcp_config_tests::free_port())
        .parse()
        .unwrap();
    // No invalidation source: what the clients hear is the loader's own announcement.
    let client = ConfigClient::connect(ClientConfig {
        source: Source::None,
        // Every read asks again: the probe may have read the view before the import.
        revalidate_after: Duration::from_millis(1),
        timeout: Duration::from_millis(500),
        breaker_cooldown: Duration::from_millis(200),
        ..ClientConfig::new(format!("http://{}", later.listen.grpc_addr))
    })
    .await
    .unwrap();
    let hard_coded = FallbackPrompt {
        prompt: Prompt::new("hello", Some("the hard-coded greeting"), None),
        messages: vec![PromptMessage::new_text(Role::User, "hello from the code")],
    };
    let loader = ConfigLoader::new(client, "github").with_fallback(Fallback {
        prompts: vec![hard_coded],
        resources: Vec::new(),
    });
    let (mcp_url, _shutdown) = start(ToolsAndPrompts { loader }).await;
    let (heard, mut changes) = mpsc::unbounded_channel();
    let acme = Recorder(heard)
        .serve(StreamableHttpClientTransport::from_config(transport_for(
            mcp_url,
            Some("acme"),
        )))
        .await
        .unwrap();

    assert_eq!(prompt_names(acme.peer()).await, ["hello"]);
    let given = acme
        .get_prompt(GetPromptRequestParams::new("hello"))
        .await
        .unwrap();
    assert_eq!(text_of(&given.messages[0]), "hello from the code");
    let unknown = acme
        .get_prompt(GetPromptRequestParams::new("review-pr"))
        .await
        .unwrap_err()
        .to_string();
    assert!(!unknown.contains("127.0.0.1"), "{unknown}");

    let service = Service::start(later).await;
    service.import(EXAMPLE_BUNDLE).await;
    let kind = tokio::time::timeout(WAIT, changes.recv())
        .await
        .expect("list_changed once mcp-config answers");
    assert_eq!(kind, Some("prompts"));
    // The service may have answered before the import: its change follows.
    let served = eventually(WAIT, || async {
        prompt_names(acme.peer()).await
            == service
                .prompts_of("acme", "github")
                .await
                .prompts
                .iter()
                .map(|p| p.name.clone())
                .collect::<Vec<_>>()
    })
    .await;
    let names = prompt_names(acme.peer()).await;
    assert!(served, "{names:?}");
    assert!(names.contains(&"review-pr".to_owned()), "{names:?}");
    assert!(!names.contains(&"hello".to_owned()), "{names:?}");
}

#[tokio::test]
async fn the_fallback_never_stands_in_for_an_orgs_view_it_has_seen() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(EXAMPLE_BUNDLE).await;
    let client = ConfigClient::connect(ClientConfig {
        source: Source::None,
        timeout: Duration::from_millis(500),
        revalidate_after: Duration::from_millis(1),
        ..ClientConfig::new(format!("http://{}", service.grpc_addr))
    })
    .await
    .unwrap();
    // The fallback has a prompt of the name acme's view has.
    let hard_coded = FallbackPrompt {
        prompt: Prompt::new("review-pr", Some("the hard-coded one"), None),
        messages: vec![PromptMessage::new_text(Role::User, "hard-coded review")],
    };
    let loader = ConfigLoader::new(client, "github").with_fallback(Fallback {
        prompts: vec![hard_coded],
        resources: Vec::new(),
    });
    let (mcp_url, _shutdown) = start(ToolsAndPrompts { loader }).await;
    let acme = ()
        .serve_with_lifecycle(
            StreamableHttpClientTransport::from_config(transport_for(mcp_url, Some("acme"))),
            current_protocol(),
        )
        .await
        .unwrap();
    let seen = prompt_names(acme.peer()).await;

    service.stop().await;
    // The view seen is served stale, not the fallback; a render is the client's own, from that
    // view (C-RENDER-1), never the fallback's.
    assert_eq!(prompt_names(acme.peer()).await, seen);
    let arguments = json!({"repo": "acme/api", "number": 7});
    let render = acme
        .get_prompt(
            GetPromptRequestParams::new("review-pr")
                .with_arguments(arguments.as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    let text = serde_json::to_value(&render.messages[0].content).unwrap()["text"].clone();
    let text = text.as_str().unwrap();
    assert!(
        text.starts_with("Review pull request #7 in acme/api using Acme's checklist"),
        "{text}"
    );
}
