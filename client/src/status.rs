//! What a server can report of its client's health (C-STATUS-1, C-STATUS-2): whether calls
//! reach the service, since when they do not and why, as a state and as one event per change.

use std::{
    sync::Mutex,
    time::{Duration, Instant, SystemTime},
};

use tokio::sync::broadcast;

/// Whether the service answers the client's calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// No call has reached the service yet.
    Starting,
    /// The last call reached it (a refusal counts).
    Ready,
    /// Calls have not reached it since `since`; `why` names the kind of failure, never an
    /// address.
    Stale { since: SystemTime, why: String },
}

/// A change of [`Status`], sent once per change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusEvent {
    /// The first call reached the service.
    Ready,
    /// A call could not reach it, after it was starting or ready.
    Stale { since: SystemTime, why: String },
    /// A call reached it again after `stale_for`; the status is ready.
    Recovered { stale_for: Duration },
}

pub(crate) struct Health {
    /// The status, and when it turned stale (monotonic, for `stale_for`).
    state: Mutex<(Status, Option<Instant>)>,
    events: broadcast::Sender<StatusEvent>,
}

impl Health {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new((Status::Starting, None)),
            events: broadcast::channel(64).0,
        }
    }

    pub(crate) fn status(&self) -> Status {
        self.state.lock().expect("health lock").0.clone()
    }

    pub(crate) fn events(&self) -> broadcast::Receiver<StatusEvent> {
        self.events.subscribe()
    }

    /// A call's outcome: `None` when it reached the service, else why not.
    pub(crate) fn record(&self, failure: Option<&str>) {
        let mut state = self.state.lock().expect("health lock");
        let event = match (&state.0, failure) {
            (Status::Starting, None) => StatusEvent::Ready,
            (Status::Stale { .. }, None) => StatusEvent::Recovered {
                stale_for: state.1.map_or(Duration::ZERO, |at| at.elapsed()),
            },
            (Status::Starting | Status::Ready, Some(why)) => StatusEvent::Stale {
                since: SystemTime::now(),
                why: why.to_owned(),
            },
            (Status::Ready, None) | (Status::Stale { .. }, Some(_)) => return,
        };
        *state = match &event {
            StatusEvent::Stale { since, why } => (
                Status::Stale {
                    since: *since,
                    why: why.clone(),
                },
                Some(Instant::now()),
            ),
            StatusEvent::Ready | StatusEvent::Recovered { .. } => (Status::Ready, None),
        };
        // Sent under the lock: listeners see the changes in their order.
        let _ = self.events.send(event);
    }
}

/// Why a call failed with `code`, in words that name no address.
pub(crate) fn why(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::DeadlineExceeded => "the service did not answer in time",
        tonic::Code::Unavailable => "the service is unreachable",
        tonic::Code::Cancelled => "the call was cancelled",
        _ => "the service failed to answer",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_change_is_one_event_and_repeats_send_nothing() {
        let health = Health::new();
        let mut events = health.events();
        assert_eq!(health.status(), Status::Starting);
        health.record(None);
        health.record(None);
        health.record(Some("the service is unreachable"));
        health.record(Some("the service did not answer in time"));
        health.record(None);
        assert_eq!(events.try_recv().unwrap(), StatusEvent::Ready);
        assert!(matches!(
            events.try_recv().unwrap(),
            StatusEvent::Stale { ref why, .. } if why == "the service is unreachable"
        ));
        assert!(matches!(
            events.try_recv().unwrap(),
            StatusEvent::Recovered { .. }
        ));
        assert!(events.try_recv().is_err());
        assert_eq!(health.status(), Status::Ready);
    }

    #[test]
    fn a_client_that_never_reached_the_service_turns_stale() {
        let health = Health::new();
        health.record(Some("the service is unreachable"));
        assert!(matches!(health.status(), Status::Stale { .. }));
    }
}
