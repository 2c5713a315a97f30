//! The in-process fan-out of events to this replica's caches, Watch streams and MCP sessions.

use std::sync::{
    Arc,
    atomic::{AtomicU64, Ordering},
};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::{
    cache::ViewCache,
    domain::{Invalidation, Revision},
};

use super::event::Event;

/// Events as they reach this replica: from its own relay (no Redis) or from the Redis channel.
#[derive(Clone)]
pub struct Bus {
    sender: broadcast::Sender<Event>,
}

impl Bus {
    /// `capacity` events may be buffered per receiver; a receiver that falls further behind
    /// is told it lagged and must resync.
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
        }
    }

    pub fn publish(&self, event: Event) {
        // No receiver is fine: nobody is listening yet.
        let _ = self.sender.send(event);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }

    pub fn receivers(&self) -> usize {
        self.sender.receiver_count()
    }
}

/// A drop as announced: what was dropped, and the revision of the change that dropped it.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewsDropped {
    pub what: Invalidation,
    pub revision: Revision,
}

/// What this replica's L1 has dropped, announced after the drop, so that whoever re-reads on
/// hearing of it (an MCP client told its list changed) gets the new view. Events arrive on the
/// bus from another replica (through Redis) as soon as here, and an MCP session following the
/// bus itself could be told before the old view is gone.
#[derive(Clone)]
pub struct Dropped {
    sender: broadcast::Sender<ViewsDropped>,
    /// The revision of the newest drop announced (a session opened now is up to it).
    newest: Arc<AtomicU64>,
}

impl Dropped {
    /// `capacity` drops may be buffered per receiver, as on the [`Bus`].
    pub fn new(capacity: usize) -> Self {
        Self {
            sender: broadcast::channel(capacity).0,
            newest: Arc::default(),
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ViewsDropped> {
        self.sender.subscribe()
    }

    /// The revision of the newest drop announced so far.
    pub fn newest(&self) -> Revision {
        self.newest.load(Ordering::Relaxed)
    }

    /// Nothing older than `revision` is left to drop (every change up to it was handled).
    pub fn progress(&self, revision: Revision) {
        self.newest.fetch_max(revision, Ordering::Relaxed);
    }

    fn announce(&self, what: Invalidation, revision: Revision) {
        self.newest.fetch_max(revision, Ordering::Relaxed);
        // No receiver is fine: no MCP client is following.
        let _ = self.sender.send(ViewsDropped { what, revision });
    }
}

/// Drops this replica's L1 entries as events arrive, and then announces each drop on
/// `dropped`. An event whose `previous_revision` is not the last one seen, or a receiver that
/// lagged, means something was missed: drop everything.
pub async fn invalidate_on_events(
    bus: Bus,
    cache: ViewCache,
    dropped: Dropped,
    shutdown: CancellationToken,
) {
    let mut events = bus.subscribe();
    let mut last: Revision = 0;
    loop {
        let received = tokio::select! {
            _ = shutdown.cancelled() => return,
            received = events.recv() => received,
        };
        let what = match received {
            Ok(Event::Progress(revision)) => {
                dropped.progress(revision);
                continue;
            }
            Ok(Event::Change(change)) if change.revision <= last => continue,
            Ok(Event::Change(change)) => {
                let gap = last != 0 && change.previous_revision != last;
                last = change.revision;
                if gap {
                    Invalidation::All
                } else {
                    change.invalidation()
                }
            }
            Err(broadcast::error::RecvError::Lagged(_)) => Invalidation::All,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        cache.invalidate(&what).await;
        dropped.announce(what, last);
    }
}
