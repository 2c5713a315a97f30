//! The upstream's side of a `subscriptions/listen` stream (protocol 2026-07-28): a listen
//! stream has no session for the upstream's notifications to come down, so the gateway holds
//! an upstream session of its own for the stream's life and relays what the upstream announces
//! (its tools, prompts or resources changed) into the stream.
//!
//! The link is opened again when the upstream session ends or stops answering pings (the
//! upstream restarted and forgot it) or the registry points elsewhere; whatever the upstream
//! announced meanwhile is lost with it, so a reopened link tells the stream every list may
//! have changed.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use http::request::Parts;
use rmcp::{model::ClientCapabilities, service::SubscriptionSink};

use super::{
    Gateway,
    link::{Caller, Downstream, Link},
};
use crate::domain::{Scope, Slug};

/// How often an open link is checked for its end and its registry entry for a change: the
/// registry itself is fresh within two seconds.
const RECHECK: Duration = Duration::from_secs(2);
/// How often the upstream is asked whether it still knows the link's session (a restarted
/// upstream forgets it and says nothing).
const PING_EVERY: Duration = Duration::from_secs(15);
/// A link that lasted this long was a good one: the next reopen starts its backoff afresh. One
/// that ends sooner (an upstream that accepts sessions and drops them) backs off further.
const STABLE: Duration = Duration::from_secs(30);
/// Waits between attempts to reach an upstream that cannot be reached: from 1 s to 30 s, with
/// jitter, so the listen streams of an upstream that went down do not retry in step.
const REOPEN: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_secs(1))
    .with_max_delay(Duration::from_secs(30))
    .with_jitter()
    .without_max_times();

/// Who a listen stream is, as the link to its upstream speaks for it.
pub struct Listener {
    pub scope: Scope,
    pub subject: String,
    pub server: Slug,
    /// The HTTP request that opened the stream: its passed headers (and, where the entry says
    /// so, its token) go to the upstream.
    pub request: Option<Parts>,
}

impl Listener {
    fn caller(&self) -> Caller<'_> {
        Caller {
            scope: &self.scope,
            subject: &self.subject,
            server: &self.server,
            request: self.request.as_ref(),
        }
    }
}

/// Relays the upstream's notifications into `sink` for as long as it is polled (the stream's
/// life: drop it when the stream ends). A server without an upstream costs a registry lookup
/// every [`RECHECK`].
pub async fn relay_upstream(gateway: &Gateway, listener: Listener, sink: SubscriptionSink) {
    let mut backoff = REOPEN.build();
    let mut linked_before = false;
    loop {
        let Ok(Some(entry)) = gateway.registry.lookup(&listener.server).await else {
            tokio::time::sleep(RECHECK).await;
            continue;
        };
        let link = match Link::open(
            &gateway.http,
            gateway.signer.as_ref(),
            &entry,
            listener.caller(),
            Downstream::Listen(sink.clone()),
            // Nothing to ask of the client: a listen stream answers no requests.
            ClientCapabilities::default(),
        )
        .await
        {
            Ok(link) => link,
            Err(e) => {
                tracing::debug!(error = %e, server = %listener.server, "a listen stream's upstream is unavailable; retrying");
                tokio::time::sleep(backoff.next().unwrap_or(RECHECK)).await;
                continue;
            }
        };
        if linked_before {
            announce_everything_changed(&sink).await;
        }
        linked_before = true;
        let opened = tokio::time::Instant::now();
        let mut pinged = opened;
        loop {
            tokio::time::sleep(RECHECK).await;
            let current = gateway.registry.lookup(&listener.server).await;
            if matches!(&current, Ok(now) if now.as_ref() != Some(&entry)) || link.is_closed() {
                break;
            }
            if pinged.elapsed() >= PING_EVERY {
                pinged = tokio::time::Instant::now();
                if !link.answers_ping().await {
                    tracing::debug!(server = %listener.server, "a listen stream's upstream session no longer answers; reopening");
                    break;
                }
            }
        }
        if opened.elapsed() >= STABLE {
            backoff = REOPEN.build();
        } else {
            tokio::time::sleep(backoff.next().unwrap_or(RECHECK)).await;
        }
    }
}

/// What a stream may have missed while its upstream was away: every list it accepted.
async fn announce_everything_changed(sink: &SubscriptionSink) {
    let accepted = sink.accepted();
    if accepted.tools_list_changed == Some(true) {
        let _ = sink.notify_tool_list_changed().await;
    }
    if accepted.prompts_list_changed == Some(true) {
        let _ = sink.notify_prompt_list_changed().await;
    }
    if accepted.resources_list_changed == Some(true) {
        let _ = sink.notify_resource_list_changed().await;
    }
}
