//! The scheduler every replica runs: applies scheduled change requests when their time comes.
//! The schedule lives in the database, so it survives restarts; applying claims the request
//! in its transaction, so with several replicas a request is applied once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::ChangeRequests;
use crate::store::now_ms;

pub async fn run(requests: ChangeRequests, every: Duration, stop: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        match requests.apply_due(now_ms()).await {
            Ok(0) => {}
            Ok(applied) => tracing::info!(applied, "scheduled change requests applied"),
            Err(e) => {
                tracing::warn!(error = %e, "cannot apply scheduled change requests; retrying")
            }
        }
    }
}
