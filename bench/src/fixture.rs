//! The data every target serves: one MCP server per response size, its prompts ~1 KB each.

use mcp_config::{
    bundle::{Bundle, Format, import::Missing},
    content::{Content, PromptContent},
    domain::{EntryId, EntryKey, Kind, Scope, Slug},
    edits::{Editor, NewOrgs},
    wire::EncodedView,
};
use serde_json::json;

/// Response sizes measured: (name, prompts of ~1 KB each).
pub const SIZES: [(&str, usize); 3] = [("2k", 2), ("20k", 20), ("100k", 100)];

/// The org every read is made for; it overrides nothing, so it reads the defaults.
pub const ORG: &str = "bench";

pub fn server_of(size: &str) -> String {
    format!("s{size}")
}

fn prompts_of(size: &str) -> usize {
    SIZES
        .iter()
        .find(|(name, _)| *name == size)
        .map(|(_, n)| *n)
        .expect("a known size")
}

fn prompt(i: usize) -> PromptContent {
    match Content::from_json(Kind::Prompts, prompt_value(format!("Benchmark prompt {i}")))
        .expect("a valid prompt")
    {
        Content::Prompt(p) => p,
        Content::Resource(_) => unreachable!("parsed as a prompt"),
    }
}

fn prompt_value(title: String) -> serde_json::Value {
    let filler = "Explain the change, its risk and how it was tested. ".repeat(16);
    json!({
        "title": title,
        "description": "A prompt of about one kilobyte, like a real review prompt.",
        "arguments": [{"name": "repo", "required": true}, {"name": "number", "required": true}],
        "messages": [{"role": "user", "text": format!("Review #{{{{ number }}}} in {{{{ repo }}}}. {filler}")}],
    })
}

/// Change `round` of `size`'s view: the org's own version of its first prompt, as large as the
/// default it overrides (so the view keeps its size) and different from the previous round's
/// (so every round is a new revision).
pub fn change(size: &str, round: usize) -> anyhow::Result<(EntryId, Content)> {
    let id = EntryId {
        scope: Scope::Org(Slug::parse("org", ORG)?),
        server: Slug::parse("server", &server_of(size))?,
        kind: Kind::Prompts,
        key: EntryKey::parse(Kind::Prompts, &name(0))?,
    };
    let title = format!("Changed prompt {}", round % 2);
    Ok((id, Content::from_json(Kind::Prompts, prompt_value(title))?))
}

fn name(i: usize) -> String {
    format!("prompt-{i:04}")
}

/// A bundle with every size's server, and the org that reads them.
pub fn bundle() -> Bundle {
    let mut text = String::from("defaults:\n");
    for (size, count) in SIZES {
        text.push_str(&format!("  {}:\n    prompts:\n", server_of(size)));
        for i in 0..count {
            let yaml = serde_json::to_string(&prompt(i)).expect("json");
            text.push_str(&format!("      {}: {yaml}\n", name(i)));
        }
    }
    text.push_str(&format!("orgs:\n  {ORG}:\n    name: Benchmark\n"));
    Bundle::parse(&text, Format::Yaml).expect("the fixture bundle parses")
}

/// Imports the fixture bundle through `editor`.
pub async fn import(editor: &Editor) -> mcp_config::error::Result<()> {
    let plan = bundle().plan().expect("the fixture bundle is valid");
    editor
        .import(&plan, Missing::Keep, false, NewOrgs::Allowed, "bench")
        .await
        .map(|_| ())
}

/// The exact view the service serves for `size`, encoded in-process (the bare baseline's
/// precomputed answer).
pub fn encoded(size: &str, revision: u64) -> EncodedView {
    let prompts: Vec<(String, _)> = (0..prompts_of(size))
        .map(|i| (name(i), prompt(i).to_proto(&name(i))))
        .collect();
    EncodedView::build(
        revision,
        false,
        prompts.iter().map(|(n, p)| (n.as_str(), p.clone())),
    )
}

/// Writes a new version of the probe prompt at `url` (an admin API entry URL) and returns the
/// change's revision: the write the propagation scenarios time.
pub async fn write_probe(http: &reqwest::Client, url: &str, round: usize) -> anyhow::Result<u64> {
    let response = http
        .put(url)
        .json(&serde_json::json!({"content": {"messages": [{"role": "user", "text": format!("round {round}")}]}}))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "write failed: {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    Ok(body["change"]["revision"].as_u64().unwrap_or(0))
}
