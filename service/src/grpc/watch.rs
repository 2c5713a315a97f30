//! `Watch`: the change log replayed from a revision, then live events, with nothing lost
//! between the two and nothing sent twice.
//!
//! The stream subscribes to live events *before* it reads the replay, and drops live events it
//! already sent. Whenever it sees a gap (a lagging receiver, an event lost upstream) it reads the
//! missing revisions from the change log, so a watcher's view of the log is always gap-free.

use std::{
    pin::Pin,
    sync::Arc,
    time::{Duration, SystemTime},
};

use futures::Stream;
use mcp_config_proto::v1::InvalidationEvent;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::to_status;
use crate::{
    auth::Principal,
    domain::{InvalidInput, Label, OrgFilter, Revision, Slug},
    error::{Error, Result},
    lifecycle::Phase,
    listeners::{Door, Listening, OpenStreams},
    propagation::{Bus, ChangeEvent, Event, wire},
    slots::{self, Slots},
    store::Store,
};

pub type EventStream = Pin<Box<dyn Stream<Item = Result<InvalidationEvent, Status>> + Send>>;

/// Rows read from the change log per query while replaying.
const REPLAY_BATCH: u32 = 200;
/// Events buffered per stream before the stream waits for its client.
const STREAM_BUFFER: usize = 64;
/// Bytes of replay pages kept for other streams replaying the same range.
const REPLAY_CACHE_BYTES: u64 = 16 * 1024 * 1024;

/// How many Watch streams may be open: per replica, and per token subject (a fleet of MCP
/// servers sharing one service token shares its allowance).
#[derive(Debug, Clone, Copy)]
pub struct WatchLimits {
    pub streams: usize,
    pub streams_per_principal: usize,
    /// How long a stream may stay silent before it sends a progress event.
    pub progress_every: Duration,
}

#[derive(Clone)]
pub struct Watcher {
    store: Store,
    bus: Bus,
    /// The phase the stream tasks run in: they end when it stops.
    streams: Phase,
    slots: Arc<Slots>,
    progress_every: Duration,
    /// Full pages of the change log as events, shared by every stream replaying them: a full
    /// page after a revision never changes (revisions are dense and commit in order).
    pages: moka::future::Cache<Revision, Arc<[ChangeEvent]>>,
    /// The open streams, for "who is listening".
    listeners: OpenStreams,
}

impl Watcher {
    pub fn new(
        store: Store,
        bus: Bus,
        limits: WatchLimits,
        streams: Phase,
        listeners: OpenStreams,
    ) -> Self {
        Self {
            store,
            bus,
            streams,
            listeners,
            progress_every: limits.progress_every,
            slots: Slots::new(
                "Watch streams",
                "MCP_CONFIG_WATCH_MAX_STREAMS",
                slots::Limits {
                    total: limits.streams,
                    per_principal: limits.streams_per_principal,
                },
            ),
            pages: moka::future::Cache::builder()
                .max_capacity(REPLAY_CACHE_BYTES)
                .weigher(|_, page: &Arc<[ChangeEvent]>| {
                    let bytes: usize = page
                        .iter()
                        .map(|e| {
                            size_of::<ChangeEvent>()
                                + e.server.as_str().len()
                                + e.scope.as_str().len()
                                + e.keys.iter().map(String::len).sum::<usize>()
                        })
                        .sum();
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                })
                .build(),
        }
    }

    /// Events after `since` (0 = from now on) that match the filters (`label`: only changes
    /// of that label's views), until the caller's token expires.
    pub async fn watch(
        &self,
        principal: &Principal,
        since: Revision,
        orgs: OrgFilter,
        servers: Vec<Slug>,
        label: Option<Label>,
    ) -> Result<EventStream> {
        let slot = self.slots.claim(&principal.subject)?;
        let live = self.bus.subscribe();
        let latest = self.store.latest_revision().await?;
        let last = if since == 0 {
            latest
        } else if since > latest {
            return Err(InvalidInput::new(
                "since_revision",
                format!("{since} is after the newest revision ({latest})"),
            )
            .into());
        } else {
            self.check_retained(since).await?;
            since
        };
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let listening = self.listeners.open(
            Door::Watch,
            &principal.subject,
            &orgs,
            &servers,
            label.as_ref(),
            last,
        );
        let stream = Forward {
            listening,
            store: self.store.clone(),
            pages: self.pages.clone(),
            orgs,
            servers,
            label,
            sender,
            last,
            sent: last,
            progress_every: self.progress_every,
            sent_since_progress: false,
        };
        let expires_at = principal.expires_at;
        self.streams.spawn(|shutdown| async move {
            let _slot = slot;
            let open = metrics::gauge!(crate::metrics::WATCH_STREAMS);
            open.increment(1.0);
            stream.run(live, expires_at, shutdown).await;
            open.decrement(1.0);
        });
        Ok(Box::pin(ReceiverStream::new(receiver)))
    }

    async fn check_retained(&self, since: Revision) -> Result<()> {
        let oldest = self.store.oldest_retained_revision().await?;
        if oldest > since.saturating_add(1) {
            return Err(Error::Pruned { since, oldest });
        }
        Ok(())
    }
}

/// One Watch stream's task.
struct Forward {
    /// Its place in the list of who is listening, with the revision it is up to.
    listening: Listening,
    store: Store,
    pages: moka::future::Cache<Revision, Arc<[ChangeEvent]>>,
    orgs: OrgFilter,
    servers: Vec<Slug>,
    label: Option<Label>,
    sender: mpsc::Sender<Result<InvalidationEvent, Status>>,
    /// The last revision this stream has accounted for (sent or filtered out).
    last: Revision,
    /// Where its reader stands: the revision of the last event sent (or where the stream
    /// started). Sent events chain `previous_revision` through it and progress reports it, so a
    /// filtered stream has no gaps for its reader: the changes of orgs or servers it does not
    /// see are not changes it missed.
    sent: Revision,
    progress_every: Duration,
    /// Whether an event went out since the last progress tick.
    sent_since_progress: bool,
}

impl Forward {
    async fn run(
        mut self,
        mut live: tokio::sync::broadcast::Receiver<Event>,
        expires_at: Option<SystemTime>,
        shutdown: CancellationToken,
    ) {
        let expiry = async {
            match expires_at {
                Some(at) => {
                    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
                    tokio::time::sleep(left).await;
                }
                None => std::future::pending().await,
            }
        };
        tokio::pin!(expiry);
        if self.catch_up().await.is_err() {
            return;
        }
        let start = tokio::time::Instant::now() + self.progress_every;
        let mut progress = tokio::time::interval_at(start, self.progress_every);
        loop {
            let received = tokio::select! {
                _ = self.sender.closed() => return,
                _ = shutdown.cancelled() => return,
                _ = progress.tick() => {
                    if self.progress().await.is_err() {
                        return;
                    }
                    continue;
                }
                _ = &mut expiry => {
                    let _ = self.fail(Error::Unauthenticated("the token expired".into())).await;
                    return;
                }
                received = live.recv() => received,
            };
            let outcome = match received {
                // Each stream says where it stands itself (`progress`).
                Ok(Event::Progress(_)) => Ok(()),
                Ok(Event::Change(change)) if change.revision <= self.last => Ok(()),
                Ok(Event::Change(change)) if change.revision == self.last + 1 => {
                    self.send(change).await
                }
                Ok(_) | Err(RecvError::Lagged(_)) => self.catch_up().await,
                Err(RecvError::Closed) => return,
            };
            if outcome.is_err() {
                return;
            }
        }
    }

    /// Sends everything in the change log after `last`. Fails when the client is gone or the
    /// stream had to end (its revision was pruned, the store failed).
    async fn catch_up(&mut self) -> Result<(), ()> {
        loop {
            let page = match self.page_after(self.last).await {
                Ok(page) => page,
                Err(e) => return self.fail(e).await,
            };
            if page.first().is_some_and(|e| e.revision > self.last + 1) {
                let oldest = page[0].revision;
                return self
                    .fail(Error::Pruned {
                        since: self.last,
                        oldest,
                    })
                    .await;
            }
            let done = page.len() < REPLAY_BATCH as usize;
            for event in page.iter() {
                self.send(event.clone()).await?;
            }
            if done {
                return Ok(());
            }
        }
    }

    /// The events of the change log after `after`, one page: a full page from the shared
    /// cache (or read once for every stream asking), a partial one (the log's end) always read.
    async fn page_after(&self, after: Revision) -> Result<Arc<[ChangeEvent]>> {
        if let Some(page) = self.pages.get(&after).await {
            return Ok(page);
        }
        let changes = self
            .store
            .changes_after(after, REPLAY_BATCH, None, None)
            .await?;
        let page: Arc<[ChangeEvent]> = changes.iter().map(ChangeEvent::of).collect();
        if page.len() == REPLAY_BATCH as usize {
            self.pages.insert(after, page.clone()).await;
        }
        Ok(page)
    }

    async fn send(&mut self, mut change: ChangeEvent) -> Result<(), ()> {
        self.last = change.revision;
        let label_wanted = self
            .label
            .as_ref()
            .is_none_or(|label| change.labels.contains(label));
        if !label_wanted
            || !self
                .orgs
                .wants(&change.scope, &change.server, &self.servers)
        {
            // Not for this stream: it is up to here as much as before it.
            self.listening.saw(self.last);
            return Ok(());
        }
        change.previous_revision = std::mem::replace(&mut self.sent, change.revision);
        self.sent_since_progress = true;
        let event = wire::to_proto(&Event::Change(change));
        self.sender.send(Ok(event)).await.map_err(|_| ())?;
        // Handed to the stream (a slow client's full buffer holds it back until then).
        self.listening.saw(self.last);
        Ok(())
    }

    /// A stream that sent nothing for a while says where it stands, so a client that hears
    /// nothing at all for longer can tell a cut-off (hung) stream from a quiet one.
    async fn progress(&mut self) -> Result<(), ()> {
        if std::mem::take(&mut self.sent_since_progress) {
            return Ok(());
        }
        let event = wire::to_proto(&Event::Progress(self.sent));
        self.sender.send(Ok(event)).await.map_err(|_| ())
    }

    async fn fail(&self, error: Error) -> Result<(), ()> {
        let _ = self.sender.send(Err(to_status(error))).await;
        Err(())
    }
}
