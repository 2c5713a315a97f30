//! The web UI at handler level: every page answers, every action writes through the same path
//! as the admin API (visible over gRPC and in the change log), and every refusal — a reader's
//! or another org's forged POST, a cross-origin POST, a service token signing in — writes
//! nothing. Stored content is shown as text, never run.

use mcp_config_proto::v1::GetPromptRequest;
use mcp_config_tests::{
    service::{Service, prompts},
    tokens::{example_with_jwt, token, with_token},
};
use reqwest::{Client, StatusCode, header, redirect::Policy};
use serde_json::json;

const ACME: &str = "/ui/orgs/acme/github";

/// A client that shows redirects instead of following them.
fn client() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

async fn page(service: &Service, path: &str) -> (StatusCode, String) {
    let response = client().get(service.url(path)).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

async fn post(service: &Service, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
    let response = client()
        .post(service.url(path))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned());
    (status, location.unwrap_or(response.text().await.unwrap()))
}

/// The value of a hidden input named `name` in `html`, unescaped.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect(name) + marker.len();
    let end = start + html[start..].find('"').unwrap();
    unescape(&html[start..end])
}

fn unescape(text: &str) -> String {
    text.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

async fn version_count(service: &Service, path: &str) -> usize {
    let history: serde_json::Value = Client::new()
        .get(service.admin(&format!("{path}/versions")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    history["versions"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn every_page_answers_and_an_edit_is_reviewed_saved_and_served() {
    let (_dir, service) = Service::example_on_sqlite().await;
    assert_eq!(
        client()
            .get(service.url("/"))
            .send()
            .await
            .unwrap()
            .headers()[header::LOCATION],
        "/ui/"
    );
    for path in [
        "/ui/",
        "/ui/?q=labels",
        "/ui/defaults/github",
        ACME,
        "/ui/orgs/acme/github?state=override",
        "/ui/orgs/acme/github/prompts/review-pr",
        "/ui/orgs/acme/github/prompts/review-pr/edit",
        "/ui/orgs/acme/github/prompts/release-notes/edit?base=default",
        "/ui/orgs/acme/github/prompts/review-pr/history",
        "/ui/orgs/acme/github/prompts/review-pr/compare",
        "/ui/orgs/acme/github/prompts/review-pr/playground",
        "/ui/orgs/acme/github/prompts/review-pr/delete",
        "/ui/orgs/acme/github/new/prompts",
        "/ui/orgs/acme/github/new/resources",
        "/ui/defaults/github/resources/file:%2F%2F%2Fguides%2Fcode-review.md",
        "/ui/changes",
        "/ui/bundle",
        "/ui/orgs",
    ] {
        let (status, html) = page(&service, path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        assert!(html.contains("<h1>"), "{path}");
    }
    let (_, overview) = page(&service, "/ui/").await;
    assert!(overview.contains("Org acme") && overview.contains("Org globex"));
    let (_, scope) = page(&service, "/ui/orgs/acme/github?state=inherited").await;
    assert!(scope.contains("release-notes") && !scope.contains(">review-pr<"));

    // Edit → review (a diff, nothing written yet) → save.
    let entry = "/orgs/acme/servers/github/prompts/review-pr";
    let (status, review) = post(
        &service,
        &format!("{ACME}/edit/prompts"),
        &[
            ("key", "review-pr"),
            ("expected_version", "1"),
            ("title", "Review, carefully"),
            ("argument_name", "repo"),
            ("argument_description", ""),
            ("argument_required", "yes"),
            ("message_role", "user"),
            // As a browser submits a textarea: CRLF line ends.
            ("message_text", "Review {{ repo }}\r\nline by line."),
            ("op", "review"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{review}");
    assert!(
        review.contains("class=\"insert\""),
        "the review shows the diff"
    );
    assert_eq!(
        version_count(&service, entry).await,
        1,
        "a review writes nothing"
    );
    let content = hidden(&review, "content");
    let (status, location) = post(
        &service,
        &format!("{ACME}/save/prompts"),
        &[
            ("key", "review-pr"),
            ("expected_version", "1"),
            ("content", &content),
            ("message", "more care"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location, format!("{ACME}/prompts/review-pr"));
    service.wait_until_published().await;
    let view = service.prompts_of("acme", "github").await;
    let saved = view.prompts.iter().find(|p| p.name == "review-pr").unwrap();
    assert_eq!(saved.title, "Review, carefully");
    assert_eq!(
        saved.messages[0].text, "Review {{ repo }}\nline by line.",
        "served with LF line ends"
    );

    // A second save from the same starting version is a conflict that shows the first one.
    let (status, conflict) = post(
        &service,
        &format!("{ACME}/save/prompts"),
        &[
            ("key", "review-pr"),
            ("expected_version", "1"),
            ("content", &content),
            ("message", "stale tab"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        conflict.contains("Version 2 was saved by anonymous"),
        "{conflict}"
    );
    assert_eq!(hidden(&conflict, "expected_version"), "2");
    assert_eq!(version_count(&service, entry).await, 2);

    // History diff of two versions, then rollback behind its confirmation.
    let (_, history) = page(
        &service,
        &format!("{ACME}/prompts/review-pr/history?from=1&to=2"),
    )
    .await;
    assert!(history.contains("more care") && history.contains("class=\"delete\""));
    let (_, confirm) = page(&service, &format!("{ACME}/prompts/review-pr/rollback?to=1")).await;
    assert!(confirm.contains("creating version 3"), "{confirm}");
    assert!(
        confirm.contains("name=\"message\""),
        "a field for the reason"
    );
    let (status, _) = post(
        &service,
        &format!("{ACME}/prompts/review-pr/rollback"),
        &[
            ("to", "1"),
            ("expected_version", "2"),
            ("message", "version 2 confused reviewers"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(version_count(&service, entry).await, 3);
    let (_, history) = page(&service, &format!("{ACME}/prompts/review-pr/history")).await;
    assert!(
        history.contains("rollback to version 1: version 2 confused reviewers"),
        "the reason is recorded with the version: {history}"
    );

    // The change log lists the UI's changes with their actor, and links their diffs.
    let (_, log) = page(&service, "/ui/changes?org=acme&actor=anonymous").await;
    assert!(log.contains("history?revision="), "{log}");
    assert!(
        log.contains("rollback to version 1"),
        "a rollback is logged as one, with the version it restored: {log}"
    );
    let (_, none) = page(&service, "/ui/changes?actor=nobody").await;
    assert!(none.contains("No changes match"));
}

#[tokio::test]
async fn the_playground_renders_what_get_prompt_answers_and_names_a_missing_argument() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let path = format!("{ACME}/prompts/triage-issue/playground");
    let rendered = client()
        .post(service.url(&path))
        .header("hx-request", "true")
        .form(&[
            ("argument_name", "repo"),
            ("argument_value", "acme/api"),
            ("argument_name", "issue"),
            ("argument_value", "42"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let grpc = service
        .grpc()
        .await
        .get_prompt(GetPromptRequest {
            org_id: "acme".into(),
            server: "github".into(),
            name: "triage-issue".into(),
            arguments: [("repo", "acme/api"), ("issue", "42")]
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let text = &grpc.messages[0].text;
    assert!(
        unescape(&rendered).contains(&format!("<pre>{text}</pre>")),
        "{rendered}"
    );

    let (status, missing) = post(
        &service,
        &path,
        &[("argument_name", "repo"), ("argument_value", "x")],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        missing.contains("missing argument &quot;issue&quot;"),
        "{missing}"
    );

    // A draft renders too, before it is saved.
    let (status, draft) = post(
        &service,
        &format!("{ACME}/draft"),
        &[
            ("message_role", "user"),
            ("message_text", "Hi {{ who }}"),
            ("argument_name", "who"),
            ("argument_value", "Ann"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{draft}");
    assert!(draft.contains("<pre>Hi Ann</pre>"));
}

#[tokio::test]
async fn the_live_check_places_syntax_errors_and_warns_of_undeclared_variables() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let (_, check) = post(
        &service,
        &format!("{ACME}/check/prompts"),
        &[
            ("message_role", "user"),
            ("message_text", "fine {{ repo }}"),
            ("message_role", "user"),
            ("message_text", "line\n{% if %}"),
        ],
    )
    .await;
    assert!(check.contains("Warning in message 1"), "{check}");
    assert!(
        check.contains("Error in message 2, line 2, column"),
        "{check}"
    );
}

#[tokio::test]
async fn hide_unhide_delete_and_import_preview_then_apply() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let entry = format!("{ACME}/prompts/triage-issue");
    let (status, _) = post(&service, &format!("{entry}/switch/deactivate"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, hidden_page) = page(&service, &entry).await;
    assert!(hidden_page.contains("state-hidden"), "{hidden_page}");
    let (status, _) = post(
        &service,
        &format!("{entry}/switch/activate"),
        &[("expected_version", "0")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, shown) = page(&service, &entry).await;
    assert!(shown.contains("state-inherited"));

    let (status, _) = post(
        &service,
        &format!("{ACME}/prompts/review-pr/delete"),
        &[("expected_version", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (_, back) = page(&service, &format!("{ACME}/prompts/review-pr")).await;
    assert!(back.contains("state-inherited"), "the default shows again");

    let before = service.latest_revision().await;
    let bundle = "orgs:\n  acme:\n    servers:\n      github:\n        prompts:\n          hello:\n            messages:\n              - role: user\n                text: Hello\n";
    let (status, preview) = post(&service, "/ui/bundle/preview", &[("text", bundle)]).await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert!(
        preview.contains(">hello<") && preview.contains("create"),
        "{preview}"
    );
    assert_eq!(
        service.latest_revision().await,
        before,
        "a preview writes nothing"
    );
    let (status, broken) = post(&service, "/ui/bundle/preview", &[("text", "orgs:\n  acme:\n    servers:\n      github:\n        prompts:\n          hello:\n            messages: 3\n")]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(broken.contains("messages"), "{broken}");
    // Every problem with its line and field, and the text kept for fixing.
    let two_wrong = "orgs:\n  acme:\n    servers:\n      github:\n        prompts:\n          one:\n            messages: [{role: user, text: \"{% if %}\"}]\n          two:\n            messages:\n              - {role: user, text: \"{{ x\"}\n";
    let (status, listed) = post(&service, "/ui/bundle/preview", &[("text", two_wrong)]).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(listed.contains("2 problems"), "{listed}");
    for (line, field) in [
        (7, "orgs.acme.servers.github.prompts.one.messages[0].text"),
        (10, "orgs.acme.servers.github.prompts.two.messages[0].text"),
    ] {
        assert!(
            listed.contains(&format!("Line {line}, <code>{field}</code>")),
            "{line} {field}: {listed}"
        );
    }
    assert!(
        listed.contains("prompts:\n          one:") && listed.contains("aria-invalid=\"true\""),
        "the pasted text stays in the form: {listed}"
    );
    let (status, applied) = post(&service, "/ui/bundle/apply", &[("text", bundle)]).await;
    assert_eq!(status, StatusCode::OK, "{applied}");
    assert!(applied.contains("Applied: 1 created"));
    assert!(service.latest_revision().await > before);

    let export = client()
        .get(service.url("/ui/bundle/export?scope=acme&format=json"))
        .send()
        .await
        .unwrap();
    assert!(
        export.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains("mcp-config-acme.json")
    );
    let exported: serde_json::Value = export.json().await.unwrap();
    assert!(exported["orgs"]["acme"]["servers"]["github"]["prompts"]["hello"].is_object());
    assert!(exported["orgs"].get("globex").is_none());
    assert!(
        exported["defaults"]
            .as_object()
            .is_none_or(|d| d.is_empty())
    );
}

#[tokio::test]
async fn cross_origin_posts_are_refused_and_pages_forbid_inline_script_and_framing() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let response = client().get(service.url("/ui/")).send().await.unwrap();
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(
        response.headers()[header::X_CONTENT_TYPE_OPTIONS],
        "nosniff"
    );

    let entry = format!("{ACME}/prompts/review-pr");
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let refused = client()
            .post(service.url(&format!("{entry}/switch/deactivate")))
            .header(name, value)
            .form(&[("expected_version", "1")])
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{name}");
    }
    let (_, still) = page(&service, &entry).await;
    assert!(still.contains("state-override"), "nothing was written");
}

#[tokio::test]
async fn hostile_content_is_shown_as_text() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let saved = service
        .api()
        .put_prompt(
            "acme",
            "github",
            "xss",
            json!({
                "title": "<script>alert(1)</script>",
                "messages": [{"role": "user", "text": "<img src=x onerror=alert(1)> {{ '{{' }} raw"}]
            }),
        )
        .await;
    assert_eq!(saved.status(), StatusCode::OK);
    for path in [
        format!("{ACME}/prompts/xss"),
        ACME.to_owned(),
        format!("{ACME}/prompts/xss/edit"),
    ] {
        let (_, html) = page(&service, &path).await;
        assert!(
            !html.contains("<script>alert") && !html.contains("<img src=x"),
            "{path}"
        );
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;") || path.ends_with("edit"),
            "{path}"
        );
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt;") || path == ACME,
            "{path}"
        );
    }
}

/// A request with the UI's session cookie holding `token`.
fn signed_in(request: reqwest::RequestBuilder, token: &str) -> reqwest::RequestBuilder {
    request.header(header::COOKIE, format!("mcp_config_session={token}"))
}

#[tokio::test]
async fn sign_in_roles_and_orgs_are_the_apis() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let anonymous = client().get(service.url("/ui/")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::SEE_OTHER);
    assert_eq!(anonymous.headers()[header::LOCATION], "/ui/login");

    let (status, bad) = post(&service, "/ui/login", &[("token", "not-a-token")]).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{bad}");
    let service_token = token("github-mcp", None, &["service"]);
    let refused = client()
        .post(service.url("/ui/login"))
        .form(&[("token", service_token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.headers().get(header::SET_COOKIE).is_none());

    let reader = token("rob", Some("acme"), &["reader"]);
    let signed = client()
        .post(service.url("/ui/login"))
        .form(&[("token", reader.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(signed.status(), StatusCode::SEE_OTHER);
    let cookie = signed.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age="] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "no TLS here");

    // A reader sees pages but no edit controls, and a forged POST writes nothing.
    let entry = format!("{ACME}/prompts/review-pr");
    let html = signed_in(client().get(service.url(&entry)), &reader)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("<h1>review-pr") && !html.contains("/edit\">Edit<"),
        "{html}"
    );
    let bundle_page = |token: String| {
        let request = signed_in(client().get(service.url("/ui/bundle")), &token);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let shown = bundle_page(reader.clone()).await;
    assert!(
        shown.contains("Export") && !shown.contains("Preview import"),
        "a reader gets no import control that can only fail"
    );
    let editor = token("ed", Some("acme"), &["editor"]);
    assert!(bundle_page(editor).await.contains("Preview import"));
    let forged = signed_in(
        client().post(service.url(&format!("{entry}/switch/deactivate"))),
        &reader,
    )
    .form(&[("expected_version", "1")])
    .send()
    .await
    .unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let admin = token("root", None, &["admin"]);
    let view = service
        .grpc()
        .await
        .get_prompts(with_token(prompts("acme", "github"), &admin))
        .await
        .unwrap()
        .into_inner();
    assert!(
        view.prompts.iter().any(|p| p.name == "review-pr"),
        "still served"
    );

    // An org-bound user never sees another org, not even its name.
    let editor = token("ann", Some("acme"), &["editor"]);
    for path in ["/ui/", "/ui/orgs", "/ui/changes", "/ui/?q=glob"] {
        let html = signed_in(client().get(service.url(path)), &editor)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(!html.contains("globex"), "{path}: {html}");
    }
    for path in [
        "/ui/orgs/globex/github",
        "/ui/changes?org=globex",
        "/ui/bundle/export?scope=globex",
    ] {
        let status = signed_in(client().get(service.url(path)), &editor)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    let other = signed_in(
        client().post(service.url("/ui/orgs/globex/github/prompts/triage-issue/switch/activate")),
        &editor,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(other.status(), StatusCode::FORBIDDEN);
    let create = signed_in(client().post(service.url("/ui/orgs")), &editor)
        .form(&[("slug", "initech")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        create.status(),
        StatusCode::FORBIDDEN,
        "only global admins create orgs"
    );

    let out = signed_in(client().post(service.url("/ui/logout")), &editor)
        .send()
        .await
        .unwrap();
    let cleared = out.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(
        cleared.contains("Max-Age=0") && cleared.contains("Path=/ui"),
        "{cleared}"
    );
}

/// A message the fields tab cannot hold opens in the raw tab and stays there; argument choices
/// are edited in the fields tab, comma-separated.
#[tokio::test]
async fn an_image_prompt_is_edited_raw_and_choices_as_fields() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let content = serde_json::json!({
        "arguments": [{"name": "topic", "choices": ["a", "b"]}],
        "messages": [
            {"role": "user", "image": {"mime_type": "image/png", "data": "AP8="}},
            {"role": "user", "text": "{{ topic }}"},
        ],
    });
    let saved = service
        .api()
        .put_prompt("acme", "github", "look", content.clone())
        .await;
    assert!(saved.status().is_success());

    let (status, html) = page(&service, &format!("{ACME}/prompts/look/edit")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains(r#"name="tab" value="raw""#),
        "opens in the raw tab"
    );
    assert!(unescape(&html).contains("image/png"));
    let (_, refused) = post(
        &service,
        &format!("{ACME}/edit/prompts"),
        &[
            ("key", "look"),
            ("expected_version", "1"),
            ("tab", "raw"),
            ("raw", &content.to_string()),
            ("op", "tab-fields"),
        ],
    )
    .await;
    assert!(refused.contains("messages[0] is not text"), "{refused}");

    let (status, review) = post(
        &service,
        &format!("{ACME}/edit/prompts"),
        &[
            ("key", "pick"),
            ("expected_version", "0"),
            ("argument_name", "topic"),
            ("argument_description", ""),
            ("argument_required", "yes"),
            ("argument_choices", "testing, tracing,"),
            ("message_role", "user"),
            ("message_text", "{{ topic }}"),
            ("op", "review"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{review}");
    let reviewed: serde_json::Value = serde_json::from_str(&hidden(&review, "content")).unwrap();
    assert_eq!(
        reviewed["arguments"][0]["choices"],
        serde_json::json!(["testing", "tracing"])
    );
}

/// The first message of `org`'s `name` of github, served at production.
async fn served_text(service: &Service, org: &str, name: &str) -> String {
    let view = service.prompts_of(org, "github").await;
    view.prompts
        .iter()
        .find(|p| p.name == name)
        .map(|p| p.messages[0].text.clone())
        .unwrap_or_default()
}

#[tokio::test]
async fn releases_are_staged_previewed_promoted_and_rolled_out_from_the_ui() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let review = format!("{ACME}/prompts/review-pr");
    let (status, location) = post(
        &service,
        &format!("{review}/policy"),
        &[("policy", "manual")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    assert!(location.ends_with("/review-pr/labels"), "{location}");
    let original = served_text(&service, "acme", "review-pr").await;
    assert_eq!(
        service
            .api()
            .put_text_prompt("acme", "github", "review-pr", "Staged in the UI")
            .await
            .status(),
        200
    );
    let (status, html) = page(&service, &format!("{review}/labels")).await;
    assert_eq!(status, 200);
    assert!(html.contains("<strong>manual</strong>"), "{html}");
    assert_eq!(
        served_text(&service, "acme", "review-pr").await,
        original,
        "staged, not live"
    );

    // The preview shows what readers at production would get, and carries the CAS.
    let (status, html) = page(
        &service,
        &format!("{review}/promote?label=production&version=2"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(html.contains("Staged in the UI"), "{html}");
    assert_eq!(hidden(&html, "expected_version"), "1");
    let promote = |expected: &'static str| {
        let path = format!("{review}/promote");
        let service = &service;
        async move {
            post(
                service,
                &path,
                &[
                    ("label", "production"),
                    ("version", "2"),
                    ("expected_version", expected),
                    ("message", "from the UI"),
                ],
            )
            .await
        }
    };
    let (status, _) = promote("1").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        served_text(&service, "acme", "review-pr").await,
        "Staged in the UI"
    );
    let (status, html) = promote("1").await;
    assert_eq!(status, StatusCode::CONFLICT, "a stale preview: {html}");
    // The history shows where the labels point, the releases page every move.
    let (_, html) = page(&service, &format!("{review}/history")).await;
    assert!(
        html.contains(
            r#"2 <span class="state">latest</span> <span class="state">production</span>"#
        ),
        "{html}"
    );
    let (_, html) = page(&service, &format!("{review}/labels")).await;
    assert!(html.contains("from the UI"), "{html}");

    // A default rolled out to every org, then aborted.
    let notes = "/ui/defaults/github/prompts/release-notes";
    let (status, _) = post(
        &service,
        &format!("{notes}/policy"),
        &[("policy", "manual")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        service
            .api()
            .put_text_prompt("", "github", "release-notes", "Notes v2")
            .await
            .status(),
        200
    );
    let before = served_text(&service, "globex", "release-notes").await;
    let (status, location) = post(
        &service,
        &format!("{notes}/rollout"),
        &[
            ("label", "production"),
            ("action", "start"),
            ("version", "2"),
            ("percent", "0"),
            ("orgs", "globex"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{location}");
    assert_eq!(
        served_text(&service, "globex", "release-notes").await,
        "Notes v2"
    );
    let (_, html) = page(&service, &format!("{notes}/labels?rollout=production")).await;
    assert!(html.contains("In now (1): globex"), "{html}");
    let (status, _) = post(
        &service,
        &format!("{notes}/rollout"),
        &[("label", "production"), ("action", "abort")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(
        served_text(&service, "globex", "release-notes").await,
        before
    );
    // A bad step is named, and changes nothing.
    let (status, html) = post(
        &service,
        &format!("{notes}/rollout"),
        &[
            ("label", "production"),
            ("action", "start"),
            ("version", "2"),
            ("percent", "300"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(html.contains("percent"), "{html}");
}

/// Every link of the change log opens (a hide of a default has no version of its own: its
/// link still answers, showing the entry's history in that scope).
#[tokio::test]
async fn every_change_log_link_opens_a_page_hides_included() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let hidden = service
        .api()
        .request(
            reqwest::Method::POST,
            "/orgs/acme/servers/github/prompts/triage-issue/deactivate",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::OK);
    let (_, log) = page(&service, "/ui/changes").await;
    let links: Vec<String> = log
        .split("href=\"")
        .skip(1)
        .map(|rest| unescape(&rest[..rest.find('"').unwrap()]))
        .filter(|href| href.starts_with("/ui/"))
        .collect();
    assert!(
        links
            .iter()
            .any(|l| l.ends_with("/ui/orgs/acme/github/prompts/triage-issue")),
        "the hide links the entry: {links:?}"
    );
    assert!(links.iter().any(|l| l.contains("history?revision=")));
    for link in &links {
        let (status, _) = page(&service, link).await;
        assert_eq!(status, StatusCode::OK, "{link}");
    }
}

/// A scope with many prompts is shown a page at a time, sorted as asked, filtered on the
/// server: 250 prompts make three pages of 100.
#[tokio::test]
async fn a_large_scope_is_paged_sorted_and_filtered() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    let mut bundle = String::from("defaults:\n  many:\n    prompts:\n");
    for i in 0..250 {
        // Titles run the other way round from keys, so sorting by title reverses the list.
        bundle.push_str(&format!(
            "      p{i:03}:\n        title: T{:03}\n        messages:\n          - role: user\n            text: hello\n",
            249 - i
        ));
    }
    let imported = service.import(&bundle).await;
    assert_eq!(imported["added"], 250, "{imported}");
    let rows = |html: &str| -> Vec<String> {
        html.split("<th scope=\"row\"><a href=\"")
            .skip(1)
            .map(|rest| {
                let start = rest.find('>').unwrap() + 1;
                rest[start..start + rest[start..].find('<').unwrap()].to_owned()
            })
            .collect()
    };

    let (_, first) = page(&service, "/ui/defaults/many").await;
    let shown = rows(&first);
    assert_eq!(
        (shown.len(), shown[0].as_str(), shown[99].as_str()),
        (100, "p000", "p099")
    );
    assert!(
        first.contains("1–100 of 250 shown") && first.contains("Page 1 of 3"),
        "{first}"
    );
    assert!(first.contains("page=2\" rel=\"next\""));

    let (_, last) = page(&service, "/ui/defaults/many?page=3").await;
    let shown = rows(&last);
    assert_eq!((shown.len(), shown[0].as_str()), (50, "p200"));
    assert!(last.contains("rel=\"prev\"") && !last.contains("rel=\"next\""));

    let (_, by_title) = page(&service, "/ui/defaults/many?sort=title").await;
    assert_eq!(rows(&by_title)[0], "p249", "T000 first");

    let (_, filtered) = page(&service, "/ui/defaults/many?q=p12").await;
    let shown = rows(&filtered);
    assert_eq!(shown.len(), 10, "p120–p129: {shown:?}");
    assert!(!filtered.contains("Page 1 of"), "one page: no paging");
}

#[tokio::test]
async fn an_error_page_keeps_the_viewers_menu_and_diffs_name_their_sides() {
    let (_dir, service) = example_with_jwt(|_| {}).await;
    let editor = token("ed", Some("acme"), &["editor"]);
    let missing = signed_in(
        client().get(service.url(&format!("{ACME}/prompts/no-such"))),
        &editor,
    )
    .send()
    .await
    .unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let html = missing.text().await.unwrap();
    assert!(html.contains("<h1>Error 404</h1>"), "{html}");
    assert!(
        html.contains("Signed in as ed (acme)") && html.contains("/ui/logout"),
        "the viewer's menu stays: {html}"
    );
    assert!(html.contains("Skip to the content") && html.contains("<main id=\"main\">"));

    let compare = signed_in(
        client().get(service.url(&format!("{ACME}/prompts/review-pr/compare"))),
        &editor,
    )
    .send()
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    assert!(
        compare.contains("<span class=\"side-old\">− The default</span>")
            && compare.contains("<span class=\"side-new\">+ Org acme&#x27;s override</span>"),
        "{compare}"
    );
}

#[tokio::test]
async fn an_orgs_changes_of_the_defaults_are_listed_with_their_diffs() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let (status, scope) = page(&service, ACME).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        unescape(&scope).contains(&format!("{ACME}/overrides")),
        "the scope page links it"
    );
    let (status, html) = page(&service, &format!("{ACME}/overrides")).await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let html = unescape(&html);
    assert!(
        html.contains("<h1>What org acme changes on github</h1>"),
        "{html}"
    );
    // acme overrides review-pr in the example bundle; its diff shows both sides.
    assert!(
        html.contains(&format!("<a href=\"{ACME}/prompts/review-pr\">review-pr</a> <span class=\"state state-override\">override</span>")),
        "{html}"
    );
    assert!(
        html.contains("Acme") && html.contains("− The default") && html.contains("+ Org acme's"),
        "{html}"
    );
    for (path, expected) in [
        ("/ui/defaults/github/overrides", StatusCode::NOT_FOUND),
        ("/ui/orgs/nobody-here/github/overrides", StatusCode::OK),
    ] {
        let (status, _) = page(&service, path).await;
        assert_eq!(status, expected, "{path}");
    }
    let (_dir, jwt) = example_with_jwt(|_| {}).await;
    let globex = token("gus", Some("globex"), &["reader"]);
    let refused = signed_in(client().get(jwt.url(&format!("{ACME}/overrides"))), &globex)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "another org's reader"
    );
}

#[tokio::test]
async fn an_edit_problem_is_said_once_and_tied_to_its_input() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let (status, html) = post(
        &service,
        &format!("{ACME}/edit/prompts"),
        &[
            ("key", "broken"),
            ("is_new", "yes"),
            ("expected_version", "0"),
            ("message_role", "user"),
            ("message_text", "fine"),
            ("message_role", "user"),
            ("message_text", "{% if %}"),
            ("op", "review"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{html}");
    assert_eq!(
        html.matches("class=\"problem\"").count(),
        1,
        "said once: {html}"
    );
    let html = unescape(&html);
    assert!(
        html.contains("<a href=\"#message-text-2\">messages[1].text</a>"),
        "linked to its input: {html}"
    );
    assert!(
        html.contains("id=\"message-text-2\" name=\"message_text\" rows=\"6\" cols=\"100\" spellcheck=\"false\" aria-invalid=\"true\" aria-describedby=\"problem\""),
        "the input points back: {html}"
    );
    assert!(!html.contains("id=\"message-text-1\" name=\"message_text\" rows=\"6\" cols=\"100\" spellcheck=\"false\" aria-invalid"));
}

/// A UI page as `token` sees it.
async fn page_as(service: &Service, path: &str, token: &str) -> String {
    signed_in(client().get(service.url(path)), token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn who_is_listening_shows_every_replicas_streams_with_their_revision_to_whom_may_see_them() {
    use mcp_config_proto::v1::WatchRequest;
    use mcp_config_tests::{eventually, postgres::Postgres, service::settings, tokens::SECRET};
    let pg = tokio::task::spawn_blocking(Postgres::start).await.unwrap();
    let database = pg.database();
    let replica = || {
        let mut config = settings(&database, None);
        config.access.auth = mcp_config::config::AuthMode::Jwt;
        config.access.jwt_secret = Some(SECRET.into());
        Service::start(config)
    };
    let (a, b) = (replica().await, replica().await);
    let root = token("root", None, &["admin"]);
    a.import_as(mcp_config_tests::service::EXAMPLE_BUNDLE, &root)
        .await;
    let acme_server = token("acme-mcp", Some("acme"), &["service"]);
    let fleet = token("fleet-mcp", None, &["service"]);
    let mut grpc = a.grpc().await;
    let mut acme_stream = grpc
        .watch(with_token(WatchRequest::default(), &acme_server))
        .await
        .unwrap()
        .into_inner();
    let _fleet_stream = grpc
        .watch(with_token(WatchRequest::default(), &fleet))
        .await
        .unwrap()
        .into_inner();
    let saved = a
        .api()
        .as_token(&root)
        .put_text_prompt("acme", "github", "review-pr", "heard?")
        .await;
    assert_eq!(saved.status(), 200);
    let event = acme_stream.message().await.unwrap().unwrap();
    let latest = event.revision;

    // On the other replica, from the first one's report: acme's reader sees acme's stream,
    // up to the change, and not the fleet's; globex's sees neither; root sees both.
    let acme_reader = token("rob", Some("acme"), &["reader"]);
    let shown = eventually(std::time::Duration::from_secs(20), || async {
        page_as(&b, "/ui/listeners", &acme_reader)
            .await
            .contains(&format!("{latest} (current)"))
    })
    .await;
    let html = page_as(&b, "/ui/listeners", &acme_reader).await;
    assert!(shown, "{html}");
    assert!(
        html.contains("<th scope=\"row\">acme-mcp</th>") && !html.contains("fleet-mcp"),
        "{html}"
    );
    let globex = page_as(
        &b,
        "/ui/listeners",
        &token("gus", Some("globex"), &["admin"]),
    )
    .await;
    assert!(
        !globex.contains("acme-mcp") && globex.contains("No stream you may see is open."),
        "{globex}"
    );
    let everything = page_as(&b, "/ui/listeners", &root).await;
    assert!(
        everything.contains("acme-mcp") && everything.contains("fleet-mcp"),
        "{everything}"
    );

    // A closed stream leaves the list (at once on its own replica).
    drop(acme_stream);
    let gone = eventually(std::time::Duration::from_secs(5), || async {
        !page_as(&a, "/ui/listeners", &root)
            .await
            .contains("acme-mcp")
    })
    .await;
    assert!(gone, "the closed stream is no longer listed");
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_page_holding_a_draft_not_saved_is_marked_so_leaving_it_asks() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let (_, fresh) = page(&service, &format!("{ACME}/prompts/review-pr/edit")).await;
    assert!(
        fresh.contains("data-unsaved-warning")
            && !fresh.contains("data-unsaved>")
            && !fresh.contains("data-unsaved "),
        "an untouched editor: {fresh}"
    );
    let draft = [
        ("key", "review-pr"),
        ("expected_version", "1"),
        ("message_role", "user"),
        ("message_text", "changed"),
    ];
    let (_, stepped) = post(
        &service,
        &format!("{ACME}/edit/prompts"),
        &[draft.as_slice(), &[("op", "add-message")]].concat(),
    )
    .await;
    assert!(
        stepped.contains("data-unsaved-warning data-unsaved"),
        "{stepped}"
    );
    let (_, review) = post(
        &service,
        &format!("{ACME}/edit/prompts"),
        &[draft.as_slice(), &[("op", "review")]].concat(),
    )
    .await;
    assert!(
        review.contains("data-unsaved-warning data-unsaved>"),
        "{review}"
    );
}

#[tokio::test]
async fn a_scope_page_lists_every_change_at_once_and_each_scope_its_own_entries() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let listed =
        |html: &str, key: &str| unescape(html).contains(&format!("/prompts/{key}\">{key}</a>"));
    // Viewed first, so a listing of each scope is held when the changes come.
    let (_, acme) = page(&service, ACME).await;
    let (_, defaults) = page(&service, "/ui/defaults/github").await;
    assert!(!listed(&acme, "acme-only") && !listed(&defaults, "for-everyone"));

    let api = service.api();
    assert_eq!(
        api.put_text_prompt("acme", "github", "acme-only", "mine")
            .await
            .status(),
        200
    );
    let (_, acme) = page(&service, ACME).await;
    let (_, defaults) = page(&service, "/ui/defaults/github").await;
    assert!(listed(&acme, "acme-only"), "a save shows at once");
    assert!(
        !listed(&defaults, "acme-only"),
        "an org's entry is not the defaults'"
    );

    let saved = api
        .put_prompt(
            "",
            "github",
            "for-everyone",
            serde_json::json!({"messages": [{"role": "user", "text": "all"}]}),
        )
        .await;
    assert_eq!(saved.status(), 200);
    let (_, acme) = page(&service, ACME).await;
    assert!(
        listed(&acme, "for-everyone"),
        "a default shows in the org's scope at once"
    );
}
