//! The background task that marks cached views out of date: from the service's `Watch` stream
//! or from the Redis channel, with every (re)connection and every revision gap marking all of
//! them, since a message may have been missed.

use std::{sync::Arc, time::Duration};

use backon::{BackoffBuilder, ExponentialBuilder};
use fred::{
    clients::SubscriberClient,
    prelude::{ClientLike, EventInterface, PubsubInterface},
};
use futures::StreamExt;
use mcp_config_proto::v1::{self, InvalidationEvent, WatchRequest};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{
    Changed, ConfigClient, Source,
    cache::{Cache, ViewKind},
};

const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Waits between attempts to reopen the Watch stream or resubscribe to Redis: doubling from 100 ms to
/// [`MAX_BACKOFF`], with jitter so a fleet of MCP servers does not reconnect in step after a
/// service restart.
const RECONNECT: ExponentialBuilder = ExponentialBuilder::new()
    .with_min_delay(Duration::from_millis(100))
    .with_max_delay(MAX_BACKOFF)
    .with_jitter()
    .without_max_times();

pub(crate) fn spawn(client: &ConfigClient) {
    let tracker = Tracker::new(
        client.cache.clone(),
        client.changes.clone(),
        &client.config.label,
    );
    let stop = client.stop.clone();
    // A source — a Watch stream, or the Redis channel, where the service's relay announces
    // progress too — silent this long is cut off: a hung peer or a partition delivers nothing
    // and closes nothing.
    let silence = client.config.silence;
    let servers = client.config.servers.clone();
    match client.config.source.clone() {
        Source::Watch => {
            let breaker = client.breaker.clone();
            tokio::spawn(watch(
                client.grpc.clone(),
                tracker,
                breaker,
                servers,
                silence,
                stop,
            ));
        }
        Source::Redis { url, channel } => {
            // A server's own channel carries only its events (gap-free by its own chain).
            let channels = if servers.is_empty() {
                Channels::Global(channel)
            } else {
                Channels::Servers(servers.iter().map(|s| format!("{channel}:{s}")).collect())
            };
            tokio::spawn(redis(url, channels, tracker, silence, stop));
        }
        Source::None => client.cache.set_following(true),
    }
}

/// What one event means for the cached views ([`classify`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// A progress event at or below the last revision seen: nothing changed (C-TRACK-1).
    Progress,
    /// An event at or below the last revision seen: a replay, ignored (C-TRACK-2).
    Replay,
    /// A change may have been missed — a progress event ahead of the last revision seen, a
    /// gap, an event of an unknown kind (C-TRACK-1, C-TRACK-3): every view is out of date.
    Flush,
    /// The views the event names are out of date: its kind and server, of its org or, when
    /// its org is empty (a default changed), of every org (C-TRACK-4).
    Invalidate(ViewKind),
    /// A change of other labels' views than the client's (C-TRACK-5): nothing to drop, but the
    /// chain advances.
    OtherLabel,
}

/// The label a client reads at, as events name it: `production` when the client names none.
pub(crate) fn label_name(label: &str) -> &str {
    if label.is_empty() {
        "production"
    } else {
        label
    }
}

/// The tracker's rules (contract C-TRACK-1..5) in one place: what `event` means to a client
/// reading at `label` given `last`, the last revision seen on its chain (0: none yet), and that
/// chain's last revision after it. The contract vectors (`client/contract-vectors/`) run
/// through it.
pub(crate) fn classify(event: &InvalidationEvent, last: u64, label: &str) -> (Action, u64) {
    // A progress event, the service's "nothing changed, the latest is R" on a quiet stream: no
    // kind, no server, and its revision is its previous one. Nothing changed if the chain is at
    // R; if it is behind, it missed what came between.
    if event.kind == v1::Kind::Unspecified as i32
        && event.server.is_empty()
        && event.revision == event.previous_revision
    {
        let behind = last != 0 && event.revision > last;
        let action = if behind {
            Action::Flush
        } else {
            Action::Progress
        };
        return (action, last.max(event.revision));
    }
    if event.revision <= last {
        return (Action::Replay, last);
    }
    if last != 0 && event.previous_revision != last {
        return (Action::Flush, event.revision);
    }
    let action = match v1::Kind::try_from(event.kind) {
        Ok(v1::Kind::Prompts | v1::Kind::Resources)
            if !event.labels.is_empty() && !event.labels.iter().any(|l| l == label) =>
        {
            Action::OtherLabel
        }
        Ok(v1::Kind::Prompts) => Action::Invalidate(ViewKind::Prompts),
        Ok(v1::Kind::Resources) => Action::Invalidate(ViewKind::Resources),
        _ => Action::Flush,
    };
    (action, event.revision)
}

/// Applies events to the cache and tells listeners what changed.
pub(crate) struct Tracker {
    cache: Arc<Cache>,
    changes: broadcast::Sender<Changed>,
    /// The label the client reads at (`production` for none).
    label: String,
    last: u64,
    /// Whether the source was connected before: the next connection is a reconnection.
    connected_before: bool,
}

impl Tracker {
    pub(crate) fn new(cache: Arc<Cache>, changes: broadcast::Sender<Changed>, label: &str) -> Self {
        Tracker {
            cache,
            changes,
            label: label_name(label).to_owned(),
            last: 0,
            connected_before: false,
        }
    }

    /// A tracker of another chain of revisions (another server's channel) on the same views.
    fn sibling(&self) -> Tracker {
        Tracker {
            last: self.last,
            ..Tracker::new(self.cache.clone(), self.changes.clone(), &self.label)
        }
    }

    pub(crate) fn on_event(&mut self, event: &InvalidationEvent) {
        let (action, last) = classify(event, self.last, &self.label);
        self.last = last;
        match action {
            Action::Progress | Action::Replay | Action::OtherLabel => {}
            Action::Flush => self.flush(),
            Action::Invalidate(kind) => {
                // A default whose rollout moved names the orgs it moved (C-TRACK-6).
                let orgs = if event.org_id.is_empty() && !event.orgs.is_empty() {
                    &event.orgs[..]
                } else {
                    std::slice::from_ref(&event.org_id)
                };
                for org in orgs {
                    self.cache
                        .invalidate(kind, org, &event.server, event.revision);
                    let _ = self.changes.send(Changed {
                        org: org.clone(),
                        server: event.server.clone(),
                        kind,
                        revision: event.revision,
                    });
                }
            }
        }
    }

    /// Applies one Redis message, the event's proto3 JSON (`None`: not text). One that cannot
    /// be read may hide a change, so it flushes (C-TRACK-3).
    pub(crate) fn on_message(&mut self, text: Option<&str>) {
        match text.map(InvalidationEvent::from_json) {
            Some(Ok(event)) => self.on_event(&event),
            _ => self.flush(),
        }
    }

    /// The source is (again) delivering events (contract C-SRC-2, C-SRC-3). Whatever changed
    /// before — while it was away, or between a view's fetch and the first subscription — was
    /// never heard, so every view is marked out of date; a reconnection also announces each.
    fn connected(&mut self) {
        if self.connected_before {
            self.flush();
        } else {
            self.cache.invalidate_all();
        }
        self.connected_before = true;
        self.cache.set_following(true);
    }

    /// The source is gone: until it is back, every read revalidates.
    fn disconnected(&mut self) {
        self.cache.set_following(false);
    }

    /// Marks every view out of date and announces each as changed.
    pub(crate) fn flush(&mut self) {
        self.cache.invalidate_all();
        for (id, _) in self.cache.snapshot() {
            let _ = self.changes.send(Changed {
                org: id.org,
                server: id.server,
                kind: id.kind,
                revision: 0,
            });
        }
    }
}

async fn watch(
    mut grpc: crate::Grpc,
    mut tracker: Tracker,
    breaker: std::sync::Arc<crate::breaker::Breaker>,
    servers: Vec<String>,
    silence: Duration,
    stop: CancellationToken,
) {
    let mut retries = RECONNECT.build();
    while !stop.is_cancelled() {
        let request = WatchRequest {
            since_revision: tracker.last,
            servers: servers.clone(),
            label: tracker.label.clone(),
            ..Default::default()
        };
        // Opening is bounded too: a hung service may take the request and never answer it.
        let opened = tokio::select! {
            _ = stop.cancelled() => return,
            opened = tokio::time::timeout(silence, grpc.watch(request)) => opened.unwrap_or_else(|_| {
                Err(tonic::Status::deadline_exceeded("the Watch stream did not open in time"))
            }),
        };
        match opened {
            Ok(stream) => {
                // An open stream proves the service reachable: reads need not wait out the
                // breaker's cool-down after a restart.
                breaker.record(true);
                tracker.connected();
                retries = RECONNECT.build();
                let mut stream = stream.into_inner();
                loop {
                    let next = tokio::select! {
                        _ = stop.cancelled() => return,
                        next = tokio::time::timeout(silence, stream.next()) => next,
                    };
                    let Ok(next) = next else {
                        tracing::debug!(
                            "the Watch stream said nothing for {silence:?}; reconnecting"
                        );
                        break;
                    };
                    match next {
                        Some(Ok(event)) => tracker.on_event(&event),
                        Some(Err(status)) if status.code() == tonic::Code::OutOfRange => {
                            tracker.last = 0;
                            break;
                        }
                        _ => break,
                    }
                }
                tracker.disconnected();
            }
            Err(status) => {
                tracing::debug!(%status, "cannot open the Watch stream; retrying");
                if status.code() == tonic::Code::OutOfRange {
                    tracker.last = 0;
                }
            }
        }
        let wait = retries.next().unwrap_or(MAX_BACKOFF);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// The Redis channels a client follows.
enum Channels {
    /// The global one: every event, classic pub/sub on every topology.
    Global(String),
    /// Some servers' own: classic pub/sub on one node or behind Sentinel, sharded
    /// (`SSUBSCRIBE`) on a Cluster, where the service `SPUBLISH`es them.
    Servers(Vec<String>),
}

impl Channels {
    fn names(&self) -> Vec<String> {
        match self {
            Channels::Global(channel) => vec![channel.clone()],
            Channels::Servers(channels) => channels.clone(),
        }
    }

    async fn subscribe(&self, subscriber: &SubscriberClient) -> Result<(), fred::error::Error> {
        match self {
            Channels::Servers(channels) if subscriber.is_clustered() => {
                // One command each: every channel may live on another shard.
                for channel in channels {
                    subscriber.ssubscribe(channel.as_str()).await?;
                }
                Ok(())
            }
            _ => subscriber.subscribe(self.names()).await,
        }
    }
}

/// Follows `channels` (the global one, or some servers' own): each has its own chain of
/// revisions, so each has its own tracker; connections and flushes concern every view, so the
/// first tracker reports them.
async fn redis(
    url: String,
    channels: Channels,
    tracker: Tracker,
    silence: Duration,
    stop: CancellationToken,
) {
    let mut trackers: Vec<(String, Tracker)> = channels
        .names()
        .into_iter()
        .map(|channel| (channel, tracker.sibling()))
        .collect();
    let subscriber = match fred::prelude::Config::from_url(&url).and_then(|config| {
        let mut builder = fred::prelude::Builder::from_config(config);
        builder.set_policy(fred::prelude::ReconnectPolicy::new_exponential(
            0, 100, 2_000, 2,
        ));
        builder.build_subscriber_client()
    }) {
        Ok(subscriber) => subscriber,
        Err(e) => {
            tracing::error!(error = %e, "invalid Redis URL; no invalidations");
            return;
        }
    };
    subscriber.connect();
    let mut retries = RECONNECT.build();
    // Said once per outage (C-SRC-10): set when the source fails, cleared once it connects.
    let mut said = false;
    while !stop.is_cancelled() {
        let mut messages = subscriber.message_rx();
        let subscribed = tokio::select! {
            _ = stop.cancelled() => break,
            subscribed = tokio::time::timeout(silence, async {
                subscriber.wait_for_connect().await?;
                channels.subscribe(&subscriber).await
            }) => subscribed,
        };
        if !matches!(subscribed, Ok(Ok(()))) {
            if !said {
                said = true;
                let why = match &subscribed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no connection within {silence:?}"),
                };
                tracing::error!(
                    error = %why,
                    "the Redis invalidation source cannot connect; retrying, and reads revalidate with the service meanwhile (check the Redis URL, or use the Watch source)"
                );
            }
            let wait = retries.next().unwrap_or(MAX_BACKOFF);
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
            continue;
        }
        retries = RECONNECT.build();
        if said {
            tracing::info!("the Redis invalidation source is connected");
            said = false;
        }
        // Reconnections and errors from now on. Older ones are about the connection just
        // waited for: fred reports the first connection as a reconnection too, and taking that
        // for one flushed every view when the first connection was slow.
        let mut reconnects = subscriber.reconnect_rx();
        let mut errors = subscriber.error_rx();
        trackers[0].1.connected();
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = reconnects.recv() => break,
                // fred tells a subscriber client's errors only of its connection (a reader that
                // ended, a failed connect, a reply that forces a reconnection), and before its
                // state says so: each one means events may be missed from now on.
                _ = errors.recv() => break,
                heard = tokio::time::timeout(silence, messages.recv()) => match heard {
                    Err(_) => {
                        tracing::debug!("the Redis channel said nothing for {silence:?}; reconnecting");
                        // Unheard from now on: no view is current while the reconnection
                        // takes its time.
                        trackers[0].1.disconnected();
                        let _ = tokio::time::timeout(silence, subscriber.force_reconnection()).await;
                        break;
                    }
                    Ok(Ok(message)) => {
                        let Some((_, tracker)) = trackers
                            .iter_mut()
                            .find(|(channel, _)| *channel == *message.channel)
                        else {
                            continue;
                        };
                        let text: Option<String> = message.value.convert().ok();
                        tracker.on_message(text.as_deref());
                    }
                    Ok(Err(_)) => break,
                },
            }
        }
        trackers[0].1.disconnected();
    }
    let _ = subscriber.quit().await;
}

#[cfg(test)]
mod vectors;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Trust, ViewId};
    use mcp_config_proto::v1::Prompt;

    fn event(revision: u64, previous: u64, org: &str) -> InvalidationEvent {
        InvalidationEvent {
            revision,
            previous_revision: previous,
            org_id: org.into(),
            server: "github".into(),
            kind: v1::Kind::Prompts as i32,
            ..Default::default()
        }
    }

    #[test]
    fn s_track_1_a_progress_event_is_no_change_unless_the_tracker_is_behind() {
        let cache = Arc::new(Cache::following());
        let (changes, mut received) = broadcast::channel(16);
        let mut tracker = Tracker::new(cache.clone(), changes, "");
        tracker.last = 5;
        let acme = ViewId::new(ViewKind::Prompts, "acme", "github");
        cache.store(&acme, 1, false, vec![Prompt::default()], Trust::Current);
        let progress = |revision| InvalidationEvent {
            revision,
            previous_revision: revision,
            ..Default::default()
        };
        assert_eq!(
            classify(&progress(5), 5, "production"),
            (Action::Progress, 5)
        );
        assert_eq!(
            classify(&event(6, 5, "acme"), 5, "production"),
            (Action::Invalidate(ViewKind::Prompts), 6)
        );
        tracker.on_event(&progress(5));
        assert!(
            received.try_recv().is_err(),
            "at the latest: nothing changed"
        );
        assert_eq!(tracker.last, 5);
        tracker.on_event(&progress(7));
        assert!(
            received.try_recv().is_ok(),
            "behind: every view is announced"
        );
        assert_eq!(tracker.last, 7);
    }

    /// S-SRC-2: a view fetched before the first subscription may predate a change nobody
    /// heard of; the first connection distrusts it without announcing anything.
    #[test]
    fn s_src_2_the_first_connection_distrusts_views_fetched_before_it() {
        let cache = Arc::new(Cache::default());
        let (changes, mut received) = broadcast::channel(16);
        let mut tracker = Tracker::new(cache.clone(), changes, "");
        let acme = ViewId::new(ViewKind::Prompts, "acme", "github");
        let generation = cache.generation();
        cache.store(&acme, 1, false, vec![Prompt::default()], Trust::Current);
        tracker.connected();
        let view = cache.get::<Prompt>(&acme).unwrap();
        assert!(!view.is_fresh(Duration::from_secs(60)), "not current");
        assert_eq!(
            cache.trust(&acme, 1, generation),
            Trust::Unsure,
            "an answer to a request sent before the connection is unsure"
        );
        assert!(received.try_recv().is_err(), "nothing is announced");
    }

    #[test]
    fn s_gap_2_a_gap_in_revisions_marks_every_view() {
        let cache = Arc::new(Cache::following());
        let (changes, mut received) = broadcast::channel(16);
        let mut tracker = Tracker::new(cache.clone(), changes, "");
        let acme = ViewId::new(ViewKind::Prompts, "acme", "github");
        let slack = ViewId::new(ViewKind::Prompts, "acme", "slack");
        cache.store(&acme, 1, false, vec![Prompt::default()], Trust::Current);
        cache.store(&slack, 1, false, vec![Prompt::default()], Trust::Current);
        let fresh = |id: &ViewId| {
            cache
                .get::<Prompt>(id)
                .unwrap()
                .is_fresh(Duration::from_secs(60))
        };

        tracker.on_event(&event(5, 4, "globex"));
        assert!(fresh(&acme) && fresh(&slack), "another org's change");
        assert_eq!(received.try_recv().unwrap().org, "globex");

        tracker.on_event(&event(7, 6, "globex"));
        assert!(
            !fresh(&acme) && !fresh(&slack),
            "revision 6 was missed: everything is suspect"
        );
    }
}
