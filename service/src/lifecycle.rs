//! One owner for every task the app runs, and the order they stop in.
//!
//! Tasks run in two phases. The *servers* phase holds the listeners and the Watch streams they
//! open; the *background* phase holds the relay, the Redis subscriber, cache upkeep and the
//! periodic jobs. Shutdown stops the servers first and waits for them to drain, then stops the
//! background: the relay's last round then publishes every write the servers acknowledged.
//! Each phase is a [`TaskTracker`] (which, unlike a `JoinSet`, keeps no handle per task, so a
//! phase can hold thousands of short-lived stream tasks) with the token that stops it.

use std::{future::Future, time::Duration};

use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Tasks stopped together by one token.
#[derive(Clone, Default)]
pub struct Phase {
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Phase {
    /// Spawns the task `start` makes from this phase's stop token.
    pub fn spawn<F>(&self, start: impl FnOnce(CancellationToken) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(start(self.stop.clone()));
    }

    /// The token that stops this phase (cancelled: its tasks are asked to end).
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops the phase and waits until its tasks have ended or `deadline` has passed; returns
    /// whether they all ended.
    async fn stop(&self, deadline: tokio::time::Instant) -> bool {
        self.stop.cancel();
        self.tracker.close();
        tokio::time::timeout_at(deadline, self.tracker.wait())
            .await
            .is_ok()
    }
}

/// The app's two phases.
#[derive(Clone, Default)]
pub struct Lifecycle {
    pub servers: Phase,
    pub background: Phase,
}

impl Lifecycle {
    /// Waits until the servers' stop token is cancelled, then stops both phases in order, all
    /// within `grace`. Tasks still running after it are left to the runtime's end.
    pub async fn run_until_stopped(&self, grace: Duration) {
        self.servers.stop.cancelled().await;
        let deadline = tokio::time::Instant::now() + grace;
        let servers = self.servers.stop(deadline).await;
        let background = self.background.stop(deadline).await;
        if !(servers && background) {
            tracing::warn!(
                servers_drained = servers,
                background_drained = background,
                "shutdown grace period over; abandoning remaining work"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test]
    async fn servers_drain_before_the_background_is_stopped() {
        let lifecycle = Lifecycle::default();
        let order = Arc::new(Mutex::new(Vec::new()));
        let (server_order, background_order) = (order.clone(), order.clone());
        let background_token = lifecycle.background.stop_token();
        lifecycle.servers.spawn(|stop| async move {
            stop.cancelled().await;
            // Still draining: the background must not have been told to stop yet.
            let background_stopped = background_token.is_cancelled();
            server_order.lock().unwrap().push(format!(
                "server drained (background stopped: {background_stopped})"
            ));
        });
        lifecycle.background.spawn(|stop| async move {
            stop.cancelled().await;
            background_order
                .lock()
                .unwrap()
                .push("background stopped".to_owned());
        });
        lifecycle.servers.stop_token().cancel();
        lifecycle.run_until_stopped(Duration::from_secs(5)).await;
        assert_eq!(
            *order.lock().unwrap(),
            [
                "server drained (background stopped: false)",
                "background stopped"
            ]
        );
    }
}
