//! The snapshot file: the views a process knew, so a cold start can serve them (as stale)
//! while the service is unreachable.

use std::{
    path::Path,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use mcp_config_proto::v1::{GetPromptsResponse, GetResourcesResponse};
use prost::Message;
use serde::{Deserialize, Serialize};

use crate::cache::{Cache, Entry, Items, ViewId, ViewKind};

#[derive(Serialize, Deserialize)]
struct Saved {
    id: ViewId,
    revision: u64,
    /// When the service last confirmed it, in ms since the epoch.
    confirmed_ms: u128,
    /// The view as an encoded list response, base64.
    body: String,
}

fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

/// Writes every known view (atomically: a temp file renamed over the old one).
pub(crate) fn save(path: &Path, cache: &Cache) {
    let now = now_ms();
    let saved: Vec<Saved> = cache
        .snapshot()
        .into_iter()
        .map(|(id, entry)| {
            let body = match &entry.items {
                Items::Prompts(p) => GetPromptsResponse {
                    revision: entry.revision,
                    org_unknown: entry.org_unknown,
                    prompts: p.to_vec(),
                    ..Default::default()
                }
                .encode_to_vec(),
                Items::Resources(r) => GetResourcesResponse {
                    revision: entry.revision,
                    org_unknown: entry.org_unknown,
                    resources: r.to_vec(),
                    ..Default::default()
                }
                .encode_to_vec(),
            };
            Saved {
                id,
                revision: entry.revision,
                confirmed_ms: now - entry.confirmed.elapsed().as_millis(),
                body: BASE64.encode(body),
            }
        })
        .collect();
    let temp = path.with_extension("tmp");
    let written = serde_json::to_vec(&saved)
        .map_err(std::io::Error::other)
        .and_then(|bytes| std::fs::write(&temp, bytes))
        .and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = written {
        tracing::warn!(error = %e, path = %path.display(), "cannot write the snapshot");
    }
}

/// Loads a snapshot's views as out of date (to be revalidated, or served stale).
pub(crate) fn load(path: &Path, cache: &Cache) {
    let Ok(bytes) = std::fs::read(path) else {
        return;
    };
    let Ok(saved) = serde_json::from_slice::<Vec<Saved>>(&bytes) else {
        tracing::warn!(path = %path.display(), "ignoring an unreadable snapshot");
        return;
    };
    let now = now_ms();
    for view in saved {
        let Ok(body) = BASE64.decode(&view.body) else {
            continue;
        };
        let decoded = match view.id.kind {
            ViewKind::Prompts => GetPromptsResponse::decode(body.as_slice()).map(|r| {
                (
                    r.org_unknown,
                    Items::Prompts(std::sync::Arc::new(r.prompts)),
                )
            }),
            ViewKind::Resources => GetResourcesResponse::decode(body.as_slice()).map(|r| {
                (
                    r.org_unknown,
                    Items::Resources(std::sync::Arc::new(r.resources)),
                )
            }),
        };
        let Ok((org_unknown, items)) = decoded else {
            continue;
        };
        let age = Duration::from_millis(now.saturating_sub(view.confirmed_ms) as u64);
        let confirmed = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
        cache.restore(
            view.id,
            Entry {
                revision: view.revision,
                org_unknown,
                items,
                confirmed,
                current: false,
            },
        );
    }
}
