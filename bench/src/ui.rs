//! The web UI's server-side cost: the page of a scope of 300 and of 10,000 prompts (an org laid
//! over the defaults: inherited, overridden, hidden), its time to first byte and to the last
//! byte, and the history of an entry with 200 versions, next to the admin API's JSON of as much
//! data from the same process (the baseline: the defaults' entries, and the same 200 versions):
//! the UI adds the overlay and templates to reads of that size.

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

/// The scope sizes measured: a team's, and a large platform's.
pub const SCOPE_SIZES: [usize; 2] = [300, 10_000];
pub const VERSIONS: u64 = 200;
const ORG: &str = "bench";

/// Latency of one page, fetched one request at a time: to its first byte (the answer's head)
/// and to its last.
pub struct PageLatency {
    pub samples: u64,
    pub first_byte_p50_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
}

/// The scope page of a scope of `entries` prompts (read again at each revision, so measured
/// as a view at an unchanged revision and as the first view after a change), and the admin
/// API's JSON of its defaults.
pub struct ScopeFigures {
    pub entries: usize,
    pub page: PageLatency,
    pub page_after_change: PageLatency,
    pub json: PageLatency,
}

pub struct UiFigures {
    pub scopes: Vec<ScopeFigures>,
    pub history_page: PageLatency,
    pub history_json: PageLatency,
}

/// A scope of `entries` defaults on `server`, a tenth overridden and a twentieth hidden by the
/// org.
fn bundle(server: &str, entries: usize) -> anyhow::Result<Bundle> {
    let prompt = |i: usize, who: &str| {
        json!({"title": format!("Prompt {i} ({who})"), "arguments": [{"name": "repo", "required": true}],
               "messages": [{"role": "user", "text": format!("Step {i}: review {{{{ repo }}}} for {who}.")}]})
    };
    let mut defaults = serde_json::Map::new();
    let mut overrides = serde_json::Map::new();
    let mut hidden = Vec::new();
    for i in 0..entries {
        let key = format!("prompt-{i:05}");
        defaults.insert(key.clone(), prompt(i, "everyone"));
        if i % 10 == 0 {
            overrides.insert(key.clone(), prompt(i, ORG));
        } else if i % 20 == 5 {
            hidden.push(key);
        }
    }
    let text = json!({
        "defaults": {server: {"prompts": defaults}},
        "orgs": {ORG: {"name": "Benchmark", "servers": {server: {"prompts": overrides, "hidden_prompts": hidden}}}},
    })
    .to_string();
    Ok(Bundle::parse(&text, Format::Json)?)
}

async fn latency(
    client: &reqwest::Client,
    url: &str,
    rounds: usize,
) -> anyhow::Result<PageLatency> {
    latency_after(client, url, rounds, || async { Ok(()) }).await
}

/// [`latency`], with `before` run (and not timed) ahead of each request.
async fn latency_after<F, Fut>(
    client: &reqwest::Client,
    url: &str,
    rounds: usize,
    mut before: F,
) -> anyhow::Result<PageLatency>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let (mut first, mut last) = (histogram(), histogram());
    for _ in 0..rounds {
        before().await?;
        let started = Instant::now();
        let response = client.get(url).send().await?.error_for_status()?;
        first.record(started.elapsed().as_nanos().max(1) as u64)?;
        response.bytes().await?;
        last.record(started.elapsed().as_nanos().max(1) as u64)?;
    }
    let ms = |ns: u64| ns as f64 / 1e6;
    Ok(PageLatency {
        samples: last.len(),
        first_byte_p50_ms: ms(first.value_at_quantile(0.5)),
        p50_ms: ms(last.value_at_quantile(0.5)),
        p95_ms: ms(last.value_at_quantile(0.95)),
    })
}

pub async fn pages(database_url: &str, rounds: usize) -> anyhow::Result<UiFigures> {
    let mut config = settings(database_url, None);
    // One subject (anonymous) makes every request here: the per-subject limit would be the
    // figure otherwise.
    config.http.admin_rate_limit = u32::MAX / 4;
    let app = App::build(&config).await?;
    let server_of = |entries: usize| format!("ui-bench-{entries}");
    for entries in SCOPE_SIZES {
        let plan = bundle(&server_of(entries), entries)?.plan()?;
        app.editor()
            .import(&plan, Missing::Keep, false, NewOrgs::Allowed, "bench")
            .await?;
    }
    let server = server_of(SCOPE_SIZES[0]);
    let id = EntryId {
        scope: Scope::Org(Slug::parse("org", ORG)?),
        server: Slug::parse("server", &server)?,
        kind: Kind::Prompts,
        key: EntryKey::parse(Kind::Prompts, "prompt-00000")?,
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
    let mut scopes = Vec::new();
    for entries in SCOPE_SIZES {
        let server = server_of(entries);
        let url = format!("{base}/ui/orgs/{ORG}/{server}");
        // A change the page shows: a default of its server, saved again before each view.
        let moving = EntryId {
            scope: Scope::Defaults,
            server: Slug::parse("server", &server)?,
            kind: Kind::Prompts,
            key: EntryKey::parse(Kind::Prompts, "moving")?,
        };
        let mut saved = None;
        let page_after_change = latency_after(&client, &url, rounds.div_ceil(4), || {
            let (editor, moving, expected) = (app.editor(), moving.clone(), saved);
            saved = Some(saved.map_or(1, |v| v + 1));
            async move {
                let content = Content::from_json(
                    Kind::Prompts,
                    json!({"messages": [{"role": "user", "text": format!("change {expected:?}")}]}),
                )?;
                editor
                    .put(moving, &content, expected, "bench", "moved")
                    .await?;
                Ok(())
            }
        })
        .await?;
        scopes.push(ScopeFigures {
            entries,
            page: latency(&client, &url, rounds).await?,
            page_after_change,
            json: latency(
                &client,
                &format!("{base}/admin/v1/defaults/servers/{server}/prompts"),
                rounds,
            )
            .await?,
        });
    }
    let entry = format!("orgs/{ORG}/servers/{server}/prompts/prompt-00000");
    let figures = UiFigures {
        scopes,
        history_page: latency(
            &client,
            &format!("{base}/ui/orgs/{ORG}/{server}/prompts/prompt-00000/history"),
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
