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
}

impl Readiness {
    pub fn ready(&self) -> bool {
        self.store && self.migrations
    }
}

pub async fn check(store: &Store) -> Readiness {
    let store_ok = store.ping().await.is_ok();
    let migrations = store_ok && store.migrations_applied().await.unwrap_or(false);
    Readiness {
        store: store_ok,
        migrations,
    }
}

/// Keeps `mcp_config.v1.ConfigService`'s gRPC health status equal to readiness.
pub async fn report_grpc_health(
    store: Store,
    reporter: HealthReporter,
    shutdown: CancellationToken,
) {
    loop {
        if check(&store).await.ready() {
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
