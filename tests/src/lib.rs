//! The test harness: throwaway PostgreSQL and Redis servers (one node, a Cluster, a Sentinel
//! group), and the real service on free ports.
//!
//! Every server is started by the test that uses it, on a free port, with its data in a temp
//! dir, and stopped when its guard drops (also when the test panics). Nothing here touches a
//! server on a standard port.

pub mod admin_api;
pub mod mcp;
pub mod postgres;
pub mod proxy;
pub mod raw;
pub mod redis;
pub mod redis_cluster;
pub mod redis_sentinel;
pub mod service;
pub mod tokens;

use std::{net::TcpListener, time::Duration};

/// A TCP port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Polls `check` until it holds or `timeout` passes; returns whether it held.
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
