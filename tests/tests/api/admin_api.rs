//! The admin HTTP API: versions, conflicts, rollback, diff, preview, bundles, and bad input
//! answered with a 4xx that names the problem while nothing is written or published.

use mcp_config_tests::service::{EXAMPLE_BUNDLE, Service};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn edit_history_diff_rollback_and_preview() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let http = Client::new();
    let url = service.admin("/orgs/acme/servers/github/prompts/security-review");
    let put = |text: &str, expected: u64| {
        http.put(&url).json(&json!({
            "content": {"arguments": [{"name": "repo", "required": true}], "messages": [{"role": "user", "text": text}]},
            "expected_version": expected,
            "message": "tighten"
        }))
    };
    let saved: Value = put("Audit {{ repo }} twice.", 1)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(saved["entry"]["version"], 2);
    assert_eq!(saved["change"]["keys"], json!(["security-review"]));

    let conflict = put("Too late", 1).send().await.unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let body: Value = conflict.json().await.unwrap();
    assert_eq!(body["current_version"], 2);
    assert_eq!(body["error"]["field"], "expected_version");

    let history: Value = http
        .get(format!("{url}/versions"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(history["versions"].as_array().unwrap().len(), 2);
    let diff: Value = http
        .get(format!("{url}/diff?from=1&to=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        diff["diff"]
            .as_str()
            .unwrap()
            .contains("+      \"text\": \"Audit {{ repo }} twice.\""),
        "{diff}"
    );

    let preview: Value = http
        .post(format!("{url}/render"))
        .json(&json!({"arguments": {"repo": "acme/api"}, "version": 1}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        preview["messages"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Audit acme/api for secrets"),
        "{preview}"
    );

    let rolled: Value = service
        .api()
        .rollback("acme", "github", "prompts", "security-review", 1)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rolled["entry"]["version"], 3);
    assert_eq!(rolled["change"]["action"], "rollback", "{rolled}");
    assert_eq!(rolled["change"]["restored_version"], 1, "{rolled}");
    let current: Value = service
        .api()
        .entry("acme", "github", "prompts", "security-review")
        .await
        .json()
        .await
        .unwrap();
    assert!(
        current["content"]["messages"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("Audit {{ repo }} for secrets")
    );

    let hidden = http
        .post(service.admin("/orgs/acme/servers/github/prompts/triage-issue/deactivate"))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::OK);
    let listed: Value = http
        .get(service.admin("/orgs/acme/servers/github/prompts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let triage = listed["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["key"] == "triage-issue")
        .unwrap();
    assert_eq!(triage["active"], false);

    let log: Value = http
        .get(service.admin("/changes?org=acme&limit=2&after=0"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(log["changes"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let document: Value = reqwest::get(service.admin("/openapi.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."));
    let paths = document["paths"].as_object().unwrap();
    for path in [
        "/admin/v1/bundle",
        "/admin/v1/orgs/{org}/servers/{server}/{kind}/{key}/render",
    ] {
        assert!(paths.contains_key(path), "{path}");
    }
    let put = &paths["/admin/v1/defaults/servers/{server}/{kind}/{key}"]["put"];
    assert!(put["responses"]["409"].is_object(), "{put}");
}

#[tokio::test]
async fn orgs_are_created_once_and_listed() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let http = Client::new();
    let created = http
        .post(service.admin("/orgs"))
        .json(&json!({"slug": "initech", "name": "Initech"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let again = http
        .post(service.admin("/orgs"))
        .json(&json!({"slug": "initech"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    let orgs: Value = http
        .get(service.admin("/orgs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let slugs: Vec<&str> = orgs["orgs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["acme", "globex", "initech"]);
}

#[tokio::test]
async fn a_dry_run_import_reports_the_diff_and_writes_nothing() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let before = service.latest_revision().await;
    let changed = EXAMPLE_BUNDLE.replace("Summarize the last", "Summarise the last");
    let report: Value = Client::new()
        .post(service.admin("/bundle?dry_run=true"))
        .header("content-type", "application/yaml")
        .body(changed)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (report["changed"].as_u64(), report["unchanged"].as_u64()),
        (Some(1), Some(14)),
        "{report}"
    );
    let line = report["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["diff"] == "changed")
        .unwrap();
    assert_eq!(
        (line["server"].as_str(), line["key"].as_str()),
        (Some("slack"), Some("summarize-channel"))
    );
    assert_eq!(service.latest_revision().await, before);
}

/// Each request is bad in one way; each must get `status` with `needle` in its message, and
/// write and publish nothing.
#[tokio::test]
async fn bad_input_is_a_4xx_naming_the_problem_and_changes_nothing() {
    let (_dir, service) = Service::example_on_sqlite().await;
    let http = Client::new();
    let before = service.latest_revision().await;
    let prompt_url = service.admin("/defaults/servers/github/prompts/review-pr");
    let good_content = json!({"messages": [{"role": "user", "text": "hi"}]});
    let huge = "x".repeat(17 * 1024 * 1024);
    let one_bad_entry = EXAMPLE_BUNDLE.replace("Draft a short, friendly", "Draft {{ a short");

    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str)> = vec![
        (
            http.put(&prompt_url)
                .header("content-type", "application/json")
                .body("{not json"),
            StatusCode::BAD_REQUEST,
            "JSON",
        ),
        (
            http.put(&prompt_url)
                .json(&json!({"content": good_content, "colour": "red"})),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (
            http.put(&prompt_url).json(
                &json!({"content": {"messages": [{"role": "user", "text": "hi"}], "colour": 1}}),
            ),
            StatusCode::BAD_REQUEST,
            "colour",
        ),
        (
            http.put(&prompt_url)
                .json(&json!({"content": {"messages": [{"role": "robot", "text": "hi"}]}})),
            StatusCode::BAD_REQUEST,
            "robot",
        ),
        (
            http.put(&prompt_url)
                .json(&json!({"content": {"messages": [{"role": "user", "text": "{% for %}"}]}})),
            StatusCode::BAD_REQUEST,
            "content.messages[0].text",
        ),
        (
            http.put(&prompt_url)
                .header("content-type", "application/json")
                .body(huge.clone()),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            http.put(service.admin("/orgs/Not_A_Slug/servers/github/prompts/x"))
                .json(&json!({"content": good_content})),
            StatusCode::BAD_REQUEST,
            "org",
        ),
        (
            http.put(service.admin("/defaults/servers/github/resources/not-a-uri"))
                .json(&json!({"content": {"name": "x", "text": "y"}})),
            StatusCode::BAD_REQUEST,
            "uri",
        ),
        (
            http.put(service.admin("/defaults/servers/github/widgets/x"))
                .json(&json!({"content": good_content})),
            StatusCode::BAD_REQUEST,
            "kind",
        ),
        (
            http.put(service.admin("/orgs/nobody/servers/github/prompts/x"))
                .json(&json!({"content": good_content})),
            StatusCode::NOT_FOUND,
            "nobody",
        ),
        (
            http.delete(service.admin("/defaults/servers/github/prompts/never-existed")),
            StatusCode::NOT_FOUND,
            "never-existed",
        ),
        (
            http.delete(format!("{prompt_url}?expected_version=7")),
            StatusCode::CONFLICT,
            "expected version 7",
        ),
        (
            http.post(format!("{prompt_url}/rollback"))
                .json(&json!({"version": 99})),
            StatusCode::NOT_FOUND,
            "version 99",
        ),
        (
            http.post(format!("{prompt_url}/render"))
                .json(&json!({"arguments": {"repo": "x"}})),
            StatusCode::BAD_REQUEST,
            "number",
        ),
        (
            http.get(service.admin("/changes?limit=0")),
            StatusCode::BAD_REQUEST,
            "limit",
        ),
        (
            http.get(service.admin("/changes?after=banana")),
            StatusCode::BAD_REQUEST,
            "after",
        ),
        (
            http.post(service.admin("/bundle"))
                .header("content-type", "application/yaml")
                .body(one_bad_entry),
            StatusCode::BAD_REQUEST,
            "defaults.slack.prompts.draft-announcement.messages[0].text",
        ),
        (
            http.post(service.admin("/bundle"))
                .header("content-type", "application/yaml")
                .body("orgs: [1, 2]"),
            StatusCode::BAD_REQUEST,
            "orgs",
        ),
        (
            http.post(service.admin("/bundle"))
                .header("content-type", "application/json")
                .body("{\"defaults\": {\"github\": {\"prompts\": 5}}}"),
            StatusCode::BAD_REQUEST,
            "defaults.github.prompts",
        ),
        (
            http.post(service.admin("/bundle")).body(huge),
            StatusCode::PAYLOAD_TOO_LARGE,
            "",
        ),
        (
            http.post(service.admin("/orgs"))
                .json(&json!({"slug": "-bad"})),
            StatusCode::BAD_REQUEST,
            "slug",
        ),
        (
            http.get(service.admin("/bundle?format=xml")),
            StatusCode::BAD_REQUEST,
            "format",
        ),
    ];
    for (i, (request, status, needle)) in cases.into_iter().enumerate() {
        let response = request.send().await.unwrap();
        let got = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(got, status, "case {i}: {text}");
        assert!(text.contains(needle), "case {i}: {needle:?} not in {text}");
    }
    assert_eq!(
        service.latest_revision().await,
        before,
        "nothing was written"
    );
}
