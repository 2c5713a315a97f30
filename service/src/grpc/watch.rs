//! `Watch`: the change log replayed from a revision, then live events, with nothing lost
//! between the two and nothing sent twice.
//!
//! The stream subscribes to live events *before* it reads the replay, and drops live events it
//! already sent. Whenever it sees a gap (a lagging receiver, an event lost upstream) it reads the
//! missing revisions from the change log, so a watcher's view of the log is always gap-free.

use std::pin::Pin;

use futures::Stream;
use mcp_config_proto::v1::InvalidationEvent;
use tokio::sync::{broadcast::error::RecvError, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;

use super::to_status;
use crate::{
    domain::Revision,
    error::{Error, Result},
    events::{self, Bus},
    store::Store,
};

pub type EventStream = Pin<Box<dyn Stream<Item = Result<InvalidationEvent, Status>> + Send>>;

/// Rows read from the change log per query while replaying.
const REPLAY_BATCH: u32 = 500;
/// Events buffered per stream before the stream waits for its client.
const STREAM_BUFFER: usize = 256;

#[derive(Clone)]
pub struct Watcher {
    store: Store,
    bus: Bus,
    shutdown: CancellationToken,
}

impl Watcher {
    pub fn new(store: Store, bus: Bus, shutdown: CancellationToken) -> Self {
        Self {
            store,
            bus,
            shutdown,
        }
    }

    /// Events after `since` (0 = from now on) that match the filters.
    pub async fn watch(
        &self,
        since: Revision,
        orgs: Vec<String>,
        servers: Vec<String>,
    ) -> Result<EventStream> {
        let live = self.bus.subscribe();
        let last = if since == 0 {
            self.store.latest_revision().await?
        } else {
            self.check_retained(since).await?;
            since
        };
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let stream = Forward {
            store: self.store.clone(),
            orgs,
            servers,
            sender,
            last,
        };
        let shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            let open = metrics::gauge!(crate::metrics::WATCH_STREAMS);
            open.increment(1.0);
            stream.run(live, shutdown).await;
            open.decrement(1.0);
        });
        Ok(Box::pin(ReceiverStream::new(receiver)))
    }

    async fn check_retained(&self, since: Revision) -> Result<()> {
        let oldest = self.store.oldest_retained_revision().await?;
        if oldest > since + 1 {
            return Err(Error::Pruned { since, oldest });
        }
        Ok(())
    }
}

/// One Watch stream's task.
struct Forward {
    store: Store,
    orgs: Vec<String>,
    servers: Vec<String>,
    sender: mpsc::Sender<Result<InvalidationEvent, Status>>,
    /// The last revision this stream has accounted for (sent or filtered out).
    last: Revision,
}

impl Forward {
    async fn run(
        mut self,
        mut live: tokio::sync::broadcast::Receiver<InvalidationEvent>,
        shutdown: CancellationToken,
    ) {
        if self.catch_up().await.is_err() {
            return;
        }
        loop {
            let received = tokio::select! {
                _ = self.sender.closed() => return,
                _ = shutdown.cancelled() => return,
                received = live.recv() => received,
            };
            let outcome = match received {
                Ok(event) if event.revision <= self.last => Ok(()),
                Ok(event) if event.revision == self.last + 1 => self.send(event).await,
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
            let batch = self
                .store
                .changes_after(self.last, REPLAY_BATCH, None, None)
                .await;
            let changes = match batch {
                Ok(changes) => changes,
                Err(e) => return self.fail(Error::from(e)).await,
            };
            if changes.first().is_some_and(|c| c.revision > self.last + 1) {
                let oldest = changes[0].revision;
                return self
                    .fail(Error::Pruned {
                        since: self.last,
                        oldest,
                    })
                    .await;
            }
            let done = changes.len() < REPLAY_BATCH as usize;
            for change in &changes {
                self.send(events::event_of(change)).await?;
            }
            if done {
                return Ok(());
            }
        }
    }

    async fn send(&mut self, event: InvalidationEvent) -> Result<(), ()> {
        self.last = event.revision;
        if !events::matches(&event, &self.orgs, &self.servers) {
            return Ok(());
        }
        self.sender.send(Ok(event)).await.map_err(|_| ())
    }

    async fn fail(&self, error: Error) -> Result<(), ()> {
        let _ = self.sender.send(Err(to_status(error))).await;
        Err(())
    }
}
