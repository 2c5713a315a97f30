//! MCP clients for tests, on rmcp's client (the official Rust SDK): the lifecycles to connect
//! with, a handler that reports list_changed, and the reads and admin writes tests repeat.

use std::collections::HashMap;

use rmcp::{
    ClientHandler, RoleClient,
    model::{
        GetPromptRequestParams, ProtocolVersion, ReadResourceRequestParams, ResourceContents,
        ServerNotification, SubscriptionFilter,
    },
    service::{ClientLifecycleMode, NotificationContext, Peer, Subscription},
    transport::streamable_http_client::StreamableHttpClientTransportConfig,
};
use serde_json::json;
use tokio::sync::mpsc;

use crate::service::Service;

/// Far above any propagation: reaching it means the notification never came.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The current protocol (2026-07-28: `server/discover`, no session).
pub fn current_protocol() -> ClientLifecycleMode {
    ClientLifecycleMode::Discover {
        preferred_versions: vec![ProtocolVersion::LATEST],
    }
}

/// A streamable HTTP client's configuration for `uri`, sending `org` as `x-org-id` if given.
pub fn transport_for(uri: String, org: Option<&str>) -> StreamableHttpClientTransportConfig {
    let config = StreamableHttpClientTransportConfig::with_uri(uri);
    match org {
        Some(org) => config.custom_headers(HashMap::from([(
            "x-org-id".parse().expect("a header name"),
            org.parse().expect("a header value"),
        )])),
        None => config,
    }
}

/// A legacy client's handler: the list_changed notifications of its session are sent on.
pub struct Recorder(pub mpsc::UnboundedSender<&'static str>);

impl ClientHandler for Recorder {
    async fn on_prompt_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.0.send("prompts");
    }

    async fn on_resource_list_changed(&self, _context: NotificationContext<RoleClient>) {
        let _ = self.0.send("resources");
    }
}

/// A listen filter of the prompts' list_changed only.
pub fn prompt_list_changed() -> SubscriptionFilter {
    SubscriptionFilter::builder().prompts_list_changed().build()
}

/// Waits (at most [`WAIT`]) for the next notification on `listening`: it must say the prompts
/// changed.
pub async fn expect_prompt_list_changed(listening: &mut Subscription) {
    let notification = tokio::time::timeout(WAIT, listening.next())
        .await
        .expect("list_changed within the wait")
        .expect("a notification")
        .expect("the subscription is open");
    assert!(
        matches!(
            notification,
            ServerNotification::PromptListChangedNotification(_)
        ),
        "{notification:?}"
    );
}

pub async fn prompt_names(mcp: &Peer<RoleClient>) -> Vec<String> {
    let prompts = mcp.list_all_prompts().await.expect("prompts/list");
    prompts.into_iter().map(|p| p.name).collect()
}

pub async fn description_of(mcp: &Peer<RoleClient>, name: &str) -> Option<String> {
    let prompts = mcp.list_all_prompts().await.expect("prompts/list");
    prompts
        .into_iter()
        .find(|p| p.name == name)
        .and_then(|p| p.description)
}

/// The text and MIME type of the text resource at `uri`, as `mcp` reads it.
pub async fn read_text(mcp: &Peer<RoleClient>, uri: &str) -> (String, Option<String>) {
    let read = mcp
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .expect("resources/read");
    match read.contents.into_iter().next() {
        Some(ResourceContents::TextResourceContents {
            text, mime_type, ..
        }) => (text, mime_type),
        other => panic!("text expected, got {other:?}"),
    }
}

/// Saves a prompt of one `repo` argument at `path` through the admin API (no token).
pub async fn put_prompt(service: &Service, path: &str, description: &str, text: &str) {
    let response = reqwest::Client::new()
        .put(service.admin(path))
        .json(&json!({"content": {
            "description": description,
            "arguments": [{"name": "repo", "required": true}],
            "messages": [{"role": "user", "text": text}],
        }}))
        .send()
        .await
        .expect("the admin API answers");
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap_or_default()
    );
}

/// Checks the example bundle's views as three MCP clients see them: acme's and globex's own
/// prompts, the defaults for a client of no org, and acme's resource readable by acme only.
pub async fn assert_example_views(
    acme: &Peer<RoleClient>,
    globex: &Peer<RoleClient>,
    no_org: &Peer<RoleClient>,
) {
    assert_eq!(
        prompt_names(acme).await,
        [
            "release-notes",
            "review-pr",
            "security-review",
            "triage-issue"
        ]
    );
    assert_eq!(
        description_of(acme, "review-pr").await.as_deref(),
        Some("Acme's review checklist, security first.")
    );
    assert_eq!(
        prompt_names(globex).await,
        ["release-notes", "review-pr"],
        "globex hides triage-issue"
    );
    assert_eq!(
        description_of(no_org, "review-pr").await.as_deref(),
        Some("Reviews a pull request for correctness, tests and style."),
        "no org: the defaults"
    );
    let (text, mime_type) = read_text(acme, "file:///acme/oncall.md").await;
    assert!(text.starts_with("# On call"), "{text}");
    assert_eq!(mime_type.as_deref(), Some("text/markdown"));
    let not_globex = globex
        .read_resource(ReadResourceRequestParams::new("file:///acme/oncall.md"))
        .await
        .expect_err("acme's resource is not globex's");
    assert!(not_globex.to_string().contains("oncall.md"), "{not_globex}");
}

/// Checks that `acme`'s failed renders say what is wrong: a missing argument is an
/// invalid-params error naming it, an unknown prompt an error naming the prompt.
pub async fn assert_render_errors_name_the_problem(acme: &Peer<RoleClient>) {
    let only_repo = serde_json::Map::from_iter([("repo".to_owned(), json!("acme/api"))]);
    let missing = acme
        .get_prompt(GetPromptRequestParams::new("review-pr").with_arguments(only_repo))
        .await
        .expect_err("number is required");
    assert!(
        missing.to_string().contains("-32602"),
        "invalid params: {missing}"
    );
    assert!(missing.to_string().contains("number"), "{missing}");
    let unknown = acme
        .get_prompt(GetPromptRequestParams::new("no-such-prompt"))
        .await
        .expect_err("unknown prompt");
    assert!(unknown.to_string().contains("no-such-prompt"), "{unknown}");
}
