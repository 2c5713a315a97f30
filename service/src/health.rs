//! Readiness: one check, reported both at `/readyz` and by gRPC health.

use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tonic::server::NamedService;
use tonic_health::server::HealthReporter;

use crate::store::Store;

/// How often gRPC health is brought in line with readiness.
const RECHECK: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Readiness {
    /// The store answers.
    pub store: bool,
    /// Every migration this build knows is applied.
    pub migrations: bool,
    /// No committed change has waited for the relay longer than the bound.
    pub relay: bool,
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.store && self.migrations && self.relay
    }
}

/// Checks the store, the migrations and the relay: a change unpublished for longer than
/// `relay_bound` means invalidations are not getting out.
pub async fn check(store: &Store, relay_bound: Duration) -> Readiness {
    let store_ok = store.ping().await.is_ok();
    let migrations = store_ok && store.migrations_applied().await.unwrap_or(false);
    let bound_ms = crate::store::millis(relay_bound);
    let relay = match store.unpublished(0, 1).await {
        Ok(pending) => pending
            .first()
            .is_none_or(|oldest| crate::store::now_ms() - oldest.created_at <= bound_ms),
        Err(_) => false,
    };
    Readiness {
        store: store_ok,
        migrations,
        relay,
    }
}

/// Keeps the gRPC health status of service `S` (`mcp_config.v1.ConfigService`) equal to
/// readiness.
pub async fn report_grpc_health<S: NamedService>(
    store: Store,
    relay_bound: Duration,
    reporter: HealthReporter,
    shutdown: CancellationToken,
) {
    loop {
        if check(&store, relay_bound).await.ready() {
            reporter.set_serving::<S>().await;
        } else {
            reporter.set_not_serving::<S>().await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RECHECK) => {}
        }
    }
}
