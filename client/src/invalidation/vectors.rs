//! The client-contract vectors (`client/contract-vectors/*.json`, the same files the Python and
//! TypeScript suites run): each step feeds the real [`Tracker`] one Redis message or one source
//! event, then checks what it did to a cache holding the vector's views. The format is the
//! folder's README.

use std::{collections::HashMap, path::PathBuf};

use mcp_config_proto::v1::{Prompt, Resource};
use serde::Deserialize;

use super::*;
use crate::cache::{Trust, ViewId};

/// Far below the safety-net revalidation: only the tracker makes a view not current here.
const MINUTE: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vector {
    name: String,
    scenario: String,
    #[allow(dead_code)]
    rules: Vec<String>,
    #[allow(dead_code)]
    description: String,
    /// The label the client reads at; none: `production`.
    #[serde(default)]
    label: String,
    views: Vec<ViewId>,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    input: Input,
    expect: Expect,
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    /// A Redis message: the event's JSON object, or the text as is (a string).
    message: Option<serde_json::Value>,
    /// The Redis channel it came on (each is a chain of its own); none: the default chain.
    channel: Option<String>,
    /// `connected` or `disconnected`.
    source: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    action: String,
    view: Option<ViewId>,
    last: Option<String>,
}

fn vectors() -> Vec<Vector> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("contract-vectors");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no vectors in {}", dir.display());
    paths
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).expect("a readable vector");
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

fn store(cache: &Cache, id: &ViewId) {
    match id.kind {
        ViewKind::Prompts => {
            cache.store(id, 1, false, vec![Prompt::default()], Trust::Current);
        }
        ViewKind::Resources => {
            cache.store(id, 1, false, vec![Resource::default()], Trust::Current);
        }
    }
}

fn fresh(cache: &Cache, id: &ViewId) -> bool {
    match id.kind {
        ViewKind::Prompts => cache
            .get::<Prompt>(id)
            .expect("a stored view")
            .is_fresh(MINUTE),
        ViewKind::Resources => cache
            .get::<Resource>(id)
            .expect("a stored view")
            .is_fresh(MINUTE),
    }
}

fn names(ids: impl IntoIterator<Item = ViewId>) -> Vec<String> {
    let mut names: Vec<String> = ids
        .into_iter()
        .map(|id| format!("{:?} {:?} {:?}", id.kind, id.org, id.server))
        .collect();
    names.sort();
    names
}

/// What an action does to the views: the ones it announces, the ones it leaves out of date, and
/// whether it raises the generation (a flush or a connection).
fn expected(expect: &Expect, views: &[ViewId]) -> (Vec<String>, Vec<String>, bool) {
    let all = || names(views.iter().cloned());
    match expect.action.as_str() {
        "ignore" => (vec![], vec![], false),
        "drop_view" => {
            let view = expect.view.clone().expect("drop_view names its view");
            let named = views.iter().filter(|id| {
                id.kind == view.kind
                    && id.server == view.server
                    && (view.org.is_empty() || id.org == view.org)
            });
            (names([view.clone()]), names(named.cloned()), false)
        }
        "drop_all" => (all(), all(), true),
        "distrust_all" => (vec![], all(), true),
        "unfollow" => (vec![], all(), false),
        other => panic!("unknown action {other:?}"),
    }
}

#[test]
fn contract_vectors() {
    for vector in vectors() {
        let cache = Arc::new(Cache::default());
        let (changes, mut announced) = broadcast::channel(1024);
        // As the Redis source keeps them: one tracker per channel, all of the same views, the
        // first (the default chain) told of connections.
        let base = Tracker::new(cache.clone(), changes, &vector.label);
        let mut trackers: HashMap<String, Tracker> = HashMap::new();
        trackers.insert(String::new(), base.sibling());
        for (n, step) in vector.steps.iter().enumerate() {
            let at = format!("{} ({}) step {}", vector.name, vector.scenario, n + 1);
            for id in &vector.views {
                store(&cache, id);
            }
            let generation = cache.generation();
            let chain = step.input.channel.clone().unwrap_or_default();
            let tracker = trackers
                .entry(chain.clone())
                .or_insert_with(|| base.sibling());
            match (&step.input.message, step.input.source.as_deref()) {
                (Some(serde_json::Value::String(text)), None) => tracker.on_message(Some(text)),
                (Some(event), None) => tracker.on_message(Some(&event.to_string())),
                (None, Some("connected")) if chain.is_empty() => tracker.connected(),
                (None, Some("disconnected")) if chain.is_empty() => tracker.disconnected(),
                _ => panic!("{at}: an input is one message, or one source event (no channel)"),
            }

            let mut heard = vec![];
            while let Ok(change) = announced.try_recv() {
                heard.push(ViewId::new(change.kind, &change.org, &change.server));
            }
            let out_of_date = vector.views.iter().filter(|id| !fresh(&cache, id));
            let observed = (
                names(heard),
                names(out_of_date.cloned()),
                cache.generation() != generation,
            );
            assert_eq!(
                observed,
                expected(&step.expect, &vector.views),
                "{at}: {} (announced, out of date, generation raised)",
                step.expect.action
            );
            if let Some(last) = &step.expect.last {
                assert_eq!(
                    trackers[&chain].last.to_string(),
                    *last,
                    "{at}: last revision"
                );
            }
        }
    }
}
