//! The delivery worker every replica runs: turns new changes into deliveries (the fan-out),
//! claims due deliveries and sends each attempt, at most `concurrency` at once and at most one
//! per endpoint, then records what happened and when the next attempt is due. Claims are
//! leases in the database: a replica that dies mid-attempt loses nothing (the lease runs out
//! and another replica makes the next attempt), and no attempt is claimed twice.

use std::{sync::Arc, time::Duration};

use tokio::{sync::Semaphore, task::JoinSet};
use tokio_util::sync::CancellationToken;

use super::{plan, sender::Sender};
use crate::{
    domain::{Outcome, RetrySchedule},
    store::{AttemptRow, Claimed, Settled, Store, now_ms},
};

/// Most changes one fan-out round turns into deliveries.
const FAN_OUT_BATCH: u32 = 500;
/// What an attempt leaves of its lease unused, so it ends before another replica may claim.
const LEASE_MARGIN_MS: i64 = 2000;
/// Less time than this left of a lease: no attempt is started (the lease runs out and the
/// delivery is claimed again).
const LEAST_BUDGET_MS: i64 = 500;

#[derive(Clone)]
pub struct Worker {
    pub store: Store,
    pub sender: Sender,
    pub schedule: RetrySchedule,
    /// How often it looks for changes and due deliveries.
    pub poll: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
    /// How long a claim holds: past the request timeout, so a live attempt is never re-claimed
    /// (an attempt that starts late gets what is left of it).
    pub lease: Duration,
    pub concurrency: usize,
}

impl Worker {
    pub async fn run(self, stop: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.concurrency.max(1)));
        // Attempts in flight end with the worker: a stopped replica sends nothing more, and
        // its leases run out for another replica.
        let mut attempts = JoinSet::new();
        let mut every = tokio::time::interval(self.poll);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = every.tick() => {}
                Some(_) = attempts.join_next() => continue,
            }
            if let Err(e) = self.store.fan_out(FAN_OUT_BATCH, plan).await {
                tracing::warn!(error = %e, "webhook fan-out failed; retrying");
            }
            let free = slots.available_permits();
            if free == 0 {
                continue;
            }
            let now = now_ms();
            let lease_until = now + i64::try_from(self.lease.as_millis()).unwrap_or(i64::MAX / 2);
            let claimed = match self
                .store
                .claim_deliveries(now, lease_until, u32::try_from(free).unwrap_or(u32::MAX))
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot claim webhook deliveries; retrying");
                    continue;
                }
            };
            for claimed in claimed {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    break;
                };
                let worker = self.clone();
                attempts.spawn(async move {
                    worker.attempt(claimed).await;
                    drop(slot);
                });
            }
        }
    }

    async fn attempt(&self, claimed: Claimed) {
        // A deleted endpoint took its deliveries with it.
        let Ok(Some(hook)) = self.store.webhook(&claimed.webhook).await else {
            return;
        };
        let budget = claimed.lease_until - now_ms() - LEASE_MARGIN_MS;
        if budget < LEAST_BUDGET_MS {
            tracing::warn!(delivery = %claimed.id, "a webhook claim ran short before its attempt; it will be claimed again");
            return;
        }
        let budget = Duration::from_millis(u64::try_from(budget).unwrap_or(0)).min(self.timeout);
        let sent = self.sender.send(&hook, &claimed, budget).await;
        let outcome = Outcome::of(sent.status);
        let at = now_ms();
        let settled = match outcome {
            Outcome::Delivered => Settled::Delivered,
            Outcome::Gone => Settled::Gone,
            Outcome::Retry => match self.schedule.after(claimed.attempt) {
                Some(wait) => {
                    Settled::RetryAt(at + i64::try_from(wait.as_millis()).unwrap_or(i64::MAX / 2))
                }
                None => Settled::Failed,
            },
        };
        metrics::counter!(crate::metrics::WEBHOOK_ATTEMPTS, "outcome" => outcome_label(settled))
            .increment(1);
        let record = AttemptRow {
            attempt: claimed.attempt,
            at,
            status: sent.status,
            error: sent.error,
            duration_ms: crate::store::millis(sent.took),
        };
        if let Err(e) = self.store.settle_delivery(&claimed, &record, settled).await {
            // The lease runs out and the delivery is attempted again: at least once.
            tracing::warn!(error = %e, delivery = %claimed.id, "cannot record a webhook attempt");
        }
    }
}

fn outcome_label(settled: Settled) -> &'static str {
    match settled {
        Settled::Delivered => "delivered",
        Settled::RetryAt(_) => "retry",
        Settled::Failed => "failed",
        Settled::Gone => "gone",
    }
}
