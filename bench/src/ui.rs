//! The web UI's server-side cost: the page of a scope with 1,000 entries (an org laid over the
//! defaults: inherited, overridden, hidden) and the history of an entry with 200 versions, next
//! to the admin API's JSON of as much data from the same process (the baseline: the defaults'
//! 1,000 entries, and the same 200 versions): the UI adds the overlay and templates to reads
//! of that size.

use std::time::{Duration, Instant};

use mcp_config::{
    app::App,
    bundle::{Bundle, Format, import::Missing},
    content::Content,
    domain::{EntryId, EntryKey, Kind, Scope, Slug},
    edits::NewOrgs,
};
use mcp_config_tests::service::settings;
use serde_json::json;

use crate::load::histogram;

pub const ENTRIES: usize = 1_000;
pub const VERSIONS: u64 = 200;
const SERVER: &str = "ui-bench";
const ORG: &str = "bench";

/// Latency of one page, fetched one request at a time.
pub struct PageLatency {
    pub samples: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

pub struct UiFigures {
    pub scope_page: PageLatency,
    pub scope_json: PageLatency,
    pub history_page: PageLatency,
    pub history_json: PageLatency,
}

/// A scope of [`ENTRIES`] defaults, a tenth overridden and a twentieth hidden by the org.
fn bundle() -> anyhow::Result<Bundle> {
    let prompt = |i: usize, who: &str| {
        json!({"title": format!("Prompt {i} ({who})"), "arguments": [{"name": "repo", "required": true}],
               "messages": [{"role": "user", "text": format!("Step {i}: review {{{{ repo }}}} for {who}.")}]})
    };
    let mut defaults = serde_json::Map::new();
    let mut overrides = serde_json::Map::new();
    let mut hidden = Vec::new();
    for i in 0..ENTRIES {
        let key = format!("prompt-{i:04}");
        defaults.insert(key.clone(), prompt(i, "everyone"));
        if i % 10 == 0 {
            overrides.insert(key.clone(), prompt(i, ORG));
        } else if i % 20 == 5 {
            hidden.push(key);
        }
    }
    let text = json!({
        "defaults": {SERVER: {"prompts": defaults}},
        "orgs": {ORG: {"name": "Benchmark", "servers": {SERVER: {"prompts": overrides, "hidden_prompts": hidden}}}},
    })
    .to_string();
    Ok(Bundle::parse(&text, Format::Json)?)
}

async fn latency(
    client: &reqwest::Client,
    url: &str,
    rounds: usize,
) -> anyhow::Result<PageLatency> {
    let mut h = histogram();
    for _ in 0..rounds {
        let started = Instant::now();
        let response = client.get(url).send().await?.error_for_status()?;
        response.bytes().await?;
        h.record(started.elapsed().as_nanos().max(1) as u64)?;
    }
    let ms = |ns: u64| ns as f64 / 1e6;
    Ok(PageLatency {
        samples: h.len(),
        p50_ms: ms(h.value_at_quantile(0.5)),
        p95_ms: ms(h.value_at_quantile(0.95)),
    })
}

pub async fn pages(database_url: &str, rounds: usize) -> anyhow::Result<UiFigures> {
    let mut config = settings(database_url, None);
    // One subject (anonymous) makes every request here: the per-subject limit would be the
    // figure otherwise.
    config.http.admin_rate_limit = u32::MAX / 4;
    let app = App::build(&config).await?;
    let plan = bundle()?.plan()?;
    app.editor()
        .import(&plan, Missing::Keep, false, NewOrgs::Allowed, "bench")
        .await?;
    let id = EntryId {
        scope: Scope::Org(Slug::parse("org", ORG)?),
        server: Slug::parse("server", SERVER)?,
        kind: Kind::Prompts,
        key: EntryKey::parse(Kind::Prompts, "prompt-0000")?,
    };
    for version in 2..=VERSIONS {
        let content = Content::from_json(
            Kind::Prompts,
            json!({"title": format!("Version {version}"), "messages": [{"role": "user", "text": format!("Text of version {version}\nsecond line")}]}),
        )?;
        app.editor()
            .put(id.clone(), &content, Some(version - 1), "bench", "edited")
            .await?;
    }
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let base = format!("http://{}", app.http_addr());
    let entry = format!("orgs/{ORG}/servers/{SERVER}/prompts/prompt-0000");
    let figures = UiFigures {
        scope_page: latency(&client, &format!("{base}/ui/orgs/{ORG}/{SERVER}"), rounds).await?,
        scope_json: latency(
            &client,
            &format!("{base}/admin/v1/defaults/servers/{SERVER}/prompts"),
            rounds,
        )
        .await?,
        history_page: latency(
            &client,
            &format!("{base}/ui/orgs/{ORG}/{SERVER}/prompts/prompt-0000/history"),
            rounds,
        )
        .await?,
        history_json: latency(
            &client,
            &format!("{base}/admin/v1/{entry}/versions"),
            rounds,
        )
        .await?,
    };
    app.shutdown_token().cancel();
    Ok(figures)
}
