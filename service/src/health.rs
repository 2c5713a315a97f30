//! Readiness: one check, reported both at `/readyz` and by gRPC health.

use std::time::Duration;

use mcp_config_proto::server::config_service_server::ConfigServiceServer;
use tokio_util::sync::CancellationToken;
use tonic_health::server::HealthReporter;

use crate::{grpc::ConfigApi, store::Store};

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
    let bound_ms = i64::try_from(relay_bound.as_millis()).unwrap_or(i64::MAX);
    let relay = match store.unpublished(1).await {
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

/// Keeps `mcp_config.v1.ConfigService`'s gRPC health status equal to readiness.
pub async fn report_grpc_health(
    store: Store,
    relay_bound: Duration,
    reporter: HealthReporter,
    shutdown: CancellationToken,
) {
    loop {
        if check(&store, relay_bound).await.ready() {
            reporter
                .set_serving::<ConfigServiceServer<ConfigApi>>()
                .await;
        } else {
            reporter
                .set_not_serving::<ConfigServiceServer<ConfigApi>>()
                .await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(RECHECK) => {}
        }
    }
}
