//! Every prompt and resource feature of MCP through the real binary, over MCP (rmcp's client)
//! and gRPC: message content other than text, embedded resources that follow the org's
//! overrides, resource templates, completion, subscriptions to a resource across replicas,
//! log levels, pagination of a large scope, and the bad input each of them can meet.

#![allow(deprecated)] // resources/subscribe and logging are the legacy sessions' protocol

use std::collections::HashSet;

use mcp_config_proto::v1::{
    GetPromptRequest, ReadResourceRequest, prompt_message::Content, resource_contents::Contents,
};
use mcp_config_tests::{
    mcp::{WAIT, current_protocol, transport_for},
    postgres::Postgres,
    redis::Redis,
    service::{Service, settings},
};
use rmcp::{
    ClientHandler, RoleClient, ServiceExt,
    model::{
        ContentBlock, GetPromptRequestParams, LoggingLevel, LoggingMessageNotificationParam,
        PaginatedRequestParams, ReadResourceRequestParams, ResourceContents,
        ResourceUpdatedNotificationParam, SetLevelRequestParams, SubscribeRequestParams,
    },
    service::{ClientServiceExt, NotificationContext, RunningService},
    transport::StreamableHttpClientTransport,
};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// Defaults of server `media` with a prompt of every content kind and a resource template;
/// acme overrides the guide every prompt embeds, and the template.
const BUNDLE: &str = r#"
defaults:
  media:
    prompts:
      show:
        arguments:
          - name: topic
            required: true
            choices: [testing, tracing, templates, security]
        messages:
          - role: user
            image: {mime_type: image/png, data: AP8=}
          - role: assistant
            audio: {mime_type: audio/wav, data: UklGRg==}
          - role: user
            resource: {uri: "file:///guides/{{ topic }}.md"}
          - role: user
            resource: {uri: "note://{{ topic }}", mime_type: text/plain, text: "Notes on {{ topic }}"}
          - role: user
            resource_link: {uri: "file:///guides/{{ topic }}.md", name: guide}
          - role: user
            text: Explain {{ topic }}.
    resources:
      "file:///guides/testing.md":
        name: testing
        mime_type: text/markdown
        text: Test everything.
      "file:///users/{id}/profile":
        name: profile
        mime_type: text/plain
        text: "Profile of {{ id }}"
        choices: {id: ["42", "43", "7"]}
orgs:
  acme:
    servers:
      media:
        resources:
          "file:///guides/testing.md":
            name: testing
            mime_type: text/markdown
            text: Acme tests in production.
          "file:///users/{id}/profile":
            name: profile
            text: "Acme profile of {{ id }}"
  globex: {}
"#;

async fn media_service() -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(BUNDLE).await;
    (dir, service)
}

/// What a legacy session hears besides list changes: `updated <uri>` and `log <message>`.
struct Listener(mpsc::UnboundedSender<String>);

impl ClientHandler for Listener {
    async fn on_resource_updated(
        &self,
        params: ResourceUpdatedNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self.0.send(format!("updated {}", params.uri));
    }

    async fn on_logging_message(
        &self,
        params: LoggingMessageNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        let _ = self
            .0
            .send(format!("log {}", params.data.as_str().unwrap_or("")));
    }
}

async fn connect(service: &Service, server: &str, org: &str) -> RunningService<RoleClient, ()> {
    let transport = StreamableHttpClientTransport::from_config(transport_for(
        service.url(&format!("/mcp/{server}")),
        Some(org),
    ));
    ().serve_with_lifecycle(transport, current_protocol())
        .await
        .expect("connects")
}

async fn session(
    service: &Service,
    server: &str,
    org: &str,
) -> (
    RunningService<RoleClient, Listener>,
    mpsc::UnboundedReceiver<String>,
) {
    let (heard, notes) = mpsc::unbounded_channel();
    let transport = StreamableHttpClientTransport::from_config(transport_for(
        service.url(&format!("/mcp/{server}")),
        Some(org),
    ));
    (
        Listener(heard).serve(transport).await.expect("connects"),
        notes,
    )
}

fn topic(topic: &str) -> serde_json::Map<String, Value> {
    serde_json::Map::from_iter([("topic".to_owned(), json!(topic))])
}

#[tokio::test]
async fn a_prompt_carries_every_content_kind_and_embeds_the_orgs_own_resource() {
    let (_dir, service) = media_service().await;
    let acme = connect(&service, "media", "acme").await;
    let rendered = acme
        .get_prompt(GetPromptRequestParams::new("show").with_arguments(topic("testing")))
        .await
        .unwrap();
    let blocks: Vec<Value> = rendered
        .messages
        .iter()
        .map(|m| serde_json::to_value(&m.content).unwrap())
        .collect();
    assert_eq!(
        blocks[0],
        json!({"type": "image", "data": "AP8=", "mimeType": "image/png"})
    );
    assert_eq!(blocks[1]["type"], "audio");
    assert_eq!(blocks[1]["data"], "UklGRg==");
    assert_eq!(
        blocks[2]["resource"],
        json!({"uri": "file:///guides/testing.md", "mimeType": "text/markdown", "text": "Acme tests in production."}),
        "acme's prompt embeds acme's own guide"
    );
    assert_eq!(blocks[3]["resource"]["uri"], "note://testing");
    assert_eq!(blocks[3]["resource"]["text"], "Notes on testing");
    assert_eq!(blocks[4]["type"], "resource_link");
    assert_eq!(blocks[4]["uri"], "file:///guides/testing.md");
    assert!(
        matches!(&rendered.messages[5].content, ContentBlock::Text(t) if t.text == "Explain testing.")
    );

    let globex = connect(&service, "media", "globex").await;
    let rendered = globex
        .get_prompt(GetPromptRequestParams::new("show").with_arguments(topic("testing")))
        .await
        .unwrap();
    assert_eq!(
        serde_json::to_value(&rendered.messages[2].content).unwrap()["resource"]["text"],
        "Test everything.",
        "globex inherits the default"
    );

    // gRPC carries the same parts, bytes as bytes.
    let response = service
        .grpc()
        .await
        .get_prompt(GetPromptRequest {
            org_id: "acme".into(),
            server: "media".into(),
            name: "show".into(),
            arguments: [("topic".to_owned(), "testing".to_owned())].into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    match &response.messages[0].content {
        Some(Content::Image(image)) => assert_eq!(image.data, [0, 255]),
        other => panic!("an image expected, got {other:?}"),
    }
    match &response.messages[2].content {
        Some(Content::Resource(resource)) => assert_eq!(
            resource.contents,
            Some(Contents::Text("Acme tests in production.".into()))
        ),
        other => panic!("a resource expected, got {other:?}"),
    }

    // An embedded resource the org does not have is named, not rendered empty.
    let missing = acme
        .get_prompt(GetPromptRequestParams::new("show").with_arguments(topic("tracing")))
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("file:///guides/tracing.md"), "{missing}");
    // A URI the caller's argument makes invalid names the message part it is in.
    let invalid = acme
        .get_prompt(GetPromptRequestParams::new("show").with_arguments(topic("a b")))
        .await
        .unwrap_err()
        .to_string();
    assert!(invalid.contains("messages[2].resource.uri"), "{invalid}");
}

#[tokio::test]
async fn resource_templates_are_listed_apart_and_read_with_their_uris_variables_per_org() {
    let (_dir, service) = media_service().await;
    let acme = connect(&service, "media", "acme").await;
    let listed: Vec<String> = acme
        .list_all_resources()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.uri.clone())
        .collect();
    assert_eq!(
        listed,
        ["file:///guides/testing.md"],
        "a template is not a resource"
    );
    let templates = acme.list_all_resource_templates().await.unwrap();
    assert_eq!(templates.len(), 1);
    assert_eq!(templates[0].uri_template, "file:///users/{id}/profile");

    let read = |mcp: &RunningService<RoleClient, ()>, uri: &'static str| {
        let peer = mcp.peer().clone();
        async move {
            let read = peer
                .read_resource(ReadResourceRequestParams::new(uri))
                .await
                .map_err(|e| e.to_string())?;
            match read.contents.into_iter().next() {
                Some(ResourceContents::TextResourceContents { text, uri, .. }) => Ok((uri, text)),
                other => Err(format!("text expected, got {other:?}")),
            }
        }
    };
    assert_eq!(
        read(&acme, "file:///users/42/profile").await.unwrap(),
        (
            "file:///users/42/profile".to_owned(),
            "Acme profile of 42".to_owned()
        )
    );
    let globex = connect(&service, "media", "globex").await;
    assert_eq!(
        read(&globex, "file:///users/a%20b/profile")
            .await
            .unwrap()
            .1,
        "Profile of a b",
        "the variable is percent-decoded; globex reads the default template"
    );
    let unmatched = read(&globex, "file:///users/42/settings")
        .await
        .unwrap_err();
    assert!(
        unmatched.contains("file:///users/42/settings"),
        "{unmatched}"
    );

    let over_grpc = service
        .grpc()
        .await
        .read_resource(ReadResourceRequest {
            org_id: "acme".into(),
            server: "media".into(),
            uri: "file:///users/7/profile".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        over_grpc.contents[0].contents,
        Some(Contents::Text("Acme profile of 7".into()))
    );
}

#[tokio::test]
async fn completion_offers_the_declared_choices_that_start_with_what_was_typed() {
    let (_dir, service) = media_service().await;
    let acme = connect(&service, "media", "acme").await;
    let values = acme
        .complete_prompt_simple("show", "topic", "te")
        .await
        .unwrap();
    assert_eq!(values, ["testing", "templates"]);
    assert!(
        acme.complete_prompt_simple("show", "topic", "x")
            .await
            .unwrap()
            .is_empty()
    );
    let unknown = acme
        .complete_prompt_simple("show", "colour", "")
        .await
        .unwrap_err()
        .to_string();
    assert!(unknown.contains("colour"), "{unknown}");

    let globex = connect(&service, "media", "globex").await;
    let ids = globex
        .complete_resource_simple("file:///users/{id}/profile", "id", "4")
        .await
        .unwrap();
    assert_eq!(
        ids,
        ["42", "43"],
        "a template's variable completes from its choices"
    );
    let overridden = acme
        .complete_resource_simple("file:///users/{id}/profile", "id", "4")
        .await
        .unwrap();
    assert!(overridden.is_empty(), "acme's own template declares none");
    let not_a_variable = acme
        .complete_resource_simple("file:///users/{id}/profile", "name", "")
        .await
        .unwrap_err()
        .to_string();
    assert!(not_a_variable.contains("name"), "{not_a_variable}");
}

#[tokio::test]
async fn bad_content_is_refused_naming_the_field_and_nothing_is_saved() {
    let (_dir, service) = media_service().await;
    let api = service.api();
    let refused = [
        (
            "prompts",
            "two-parts",
            json!({"messages": [{"role": "user", "text": "a", "image": {"mime_type": "image/png", "data": "AP8="}}]}),
            "exactly one of text",
        ),
        (
            "prompts",
            "no-mime",
            json!({"messages": [{"role": "user", "image": {"mime_type": "", "data": "AP8="}}]}),
            "messages[0].image.mime_type",
        ),
        (
            "prompts",
            "not-base64",
            json!({"messages": [{"role": "user", "audio": {"mime_type": "audio/wav", "data": "!!"}}]}),
            "not base64",
        ),
        (
            "prompts",
            "bad-uri-template",
            json!({"messages": [{"role": "user", "resource": {"uri": "{{ oops"}}]}),
            "messages[0].resource.uri",
        ),
        (
            "resources",
            "file:///{not-an-identifier}",
            json!({"name": "x", "text": "x"}),
            "identifier",
        ),
        (
            "resources",
            "file:///users/{id}",
            json!({"name": "x", "text": "{{ other }}"}),
            "other",
        ),
        (
            "resources",
            "file:///users/{id}/card",
            json!({"name": "x", "text": "{{ id }}", "choices": {"name": ["a"]}}),
            "choices.name",
        ),
    ];
    for (kind, key, content, expected) in refused {
        let response = if kind == "prompts" {
            api.put_prompt("", "media", key, content).await
        } else {
            api.put_resource("", "media", key, content).await
        };
        assert_eq!(response.status(), 400, "{key}");
        let body = response.text().await.unwrap();
        assert!(body.contains(expected), "{key}: {body}");
        let stored = api.entry("", "media", kind, key).await.status();
        assert!(
            stored == 404 || stored == 400,
            "{key} was not saved: {stored}"
        );
    }
}

/// Sessions of acme on one replica subscribe to a resource; writes go through another replica.
#[tokio::test]
async fn a_subscribed_resource_is_announced_when_it_changes_for_the_org_on_any_replica() {
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let redis = Redis::start();
    let database = pg.database();
    let writer = Service::start(settings(&database, Some(&redis.url()))).await;
    writer.import(BUNDLE).await;
    writer.wait_until_published().await;
    let reader = Service::start(settings(&database, Some(&redis.url()))).await;
    let (acme, mut heard) = session(&reader, "media", "acme").await;
    for uri in ["file:///guides/testing.md", "file:///users/1/profile"] {
        acme.subscribe(SubscribeRequestParams::new(uri))
            .await
            .unwrap();
    }
    acme.set_level(SetLevelRequestParams::new(LoggingLevel::Info))
        .await
        .unwrap();

    let api = writer.api();
    let mut notes = Vec::new();
    // The reader subscribes to Redis in the background once started: a change made before it
    // has may reach it late. Each try is a new change; the suite runs many services at once on
    // few cores, so the bound is generous, never a timing.
    for attempt in 0..3 {
        let saved = api
            .put_resource(
                "acme",
                "media",
                "file:///users/{id}/profile",
                json!({"name": "profile", "text": format!("New profile {attempt} of {{{{ id }}}}")}),
            )
            .await;
        assert!(saved.status().is_success());
        while !notes.iter().any(|n: &String| n.starts_with("updated")) {
            let Ok(note) = tokio::time::timeout(WAIT, heard.recv()).await else {
                break;
            };
            notes.push(note.unwrap());
        }
        if notes.iter().any(|n| n.starts_with("updated")) {
            break;
        }
    }
    assert!(
        notes.contains(&"log resources of acme/media changed".to_owned()),
        "{notes:?}"
    );
    assert_eq!(
        notes
            .iter()
            .filter(|n| n.starts_with("updated"))
            .collect::<Vec<_>>(),
        ["updated file:///users/1/profile"],
        "the template's change reaches the URI read through it, and only that one"
    );

    // A change of globex's resources, and of acme's prompts, updates no subscribed resource.
    let saved = api
        .put_resource(
            "globex",
            "media",
            "file:///guides/testing.md",
            json!({"name": "t", "text": "Globex"}),
        )
        .await;
    assert!(saved.status().is_success());
    let saved = api
        .put_resource(
            "",
            "media",
            "file:///guides/other.md",
            json!({"name": "o", "text": "Other"}),
        )
        .await;
    assert!(saved.status().is_success());
    let note = tokio::time::timeout(WAIT, heard.recv())
        .await
        .expect("told in time");
    assert_eq!(
        note.as_deref(),
        Some("log resources of acme/media changed"),
        "a default acme inherits changed its list, not its subscribed resources"
    );
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), heard.recv())
            .await
            .is_err(),
        "nothing else"
    );
}

/// 10,000 prompts page by page over MCP, with a prompt added and one deleted between pages:
/// every prompt that was there all along is listed once.
#[tokio::test]
async fn a_large_scope_pages_with_cursors_that_hold_across_a_change() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    let prompts: serde_json::Map<String, Value> = (0..10_000)
        .map(|i| {
            (
                format!("p{i:05}"),
                json!({"messages": [{"role": "user", "text": "x"}]}),
            )
        })
        .collect();
    let bundle = json!({"defaults": {"big": {"prompts": prompts}}, "orgs": {"acme": {}}});
    service.import(&bundle.to_string()).await;
    let client = connect(&service, "big", "acme").await;

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = client
            .list_prompts(Some(PaginatedRequestParams::default().with_cursor(cursor)))
            .await
            .unwrap();
        pages += 1;
        seen.extend(page.prompts.into_iter().map(|p| p.name));
        if pages == 3 {
            let api = service.api();
            assert!(
                api.put_text_prompt("", "big", "p00000a", "new")
                    .await
                    .status()
                    .is_success()
            );
            let gone = api
                .request(
                    reqwest::Method::DELETE,
                    "/defaults/servers/big/prompts/p09999",
                )
                .send()
                .await
                .unwrap();
            assert!(gone.status().is_success(), "{}", gone.text().await.unwrap());
        }
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert!(pages >= 100, "{pages} pages");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no prompt listed twice");
    for i in 0..9_999 {
        assert!(unique.contains(&format!("p{i:05}")), "p{i:05} listed");
    }
}
