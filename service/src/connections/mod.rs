//! Admitting and bounding client connections on both listeners.
//!
//! Why: nothing used to bound a connection that said nothing. A peer could open sockets and send
//! nothing, or half a request, and each held a file descriptor for good; about 1,300 of them
//! (no token needed: nothing is authenticated before the first request) ran the process out of
//! descriptors, and `/healthz` and gRPC timed out with it (issue 12). So every connection is
//! bounded before any of its bytes is read, at three depths:
//!
//! - admission ([`Gate`]): a place under a per-listener cap and a per-peer cap, taken when the
//!   connection is accepted and given back when it closes; a connection without a place is
//!   closed at once. The per-peer cap keeps one client from taking every place.
//! - the transport ([`Admitted`]): a connection that moves no bytes either way for the idle
//!   timeout is closed, whatever state it is stuck in (mid-handshake, before the HTTP/2 preface,
//!   between requests), on both listeners alike.
//! - the protocols ([`ConnectionLimits::configure_http`], [`ConnectionLimits::configure_grpc`],
//!   and the TLS handshake timeout in [`crate::tls`]): HTTP/1 headers must arrive in time,
//!   HTTP/2 clients must answer pings (and their answers are what keeps a quiet Watch stream
//!   from idling out), and an HTTP/2 connection carries a bounded number of streams.

mod gate;
mod idle;

use std::time::Duration;

use hyper_util::{
    rt::{TokioExecutor, TokioTimer},
    server::conn::auto,
};

pub use gate::{Gate, Listener};
pub use idle::Admitted;

use crate::config::ConnectionSettings;

/// The bounds on client connections, from the settings; each listener applies them on its own.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub max_connections_per_peer: usize,
    pub idle_timeout: Duration,
    pub header_read_timeout: Duration,
    pub http2_keepalive_interval: Duration,
    pub http2_keepalive_timeout: Duration,
    pub max_concurrent_streams: u32,
}

impl ConnectionLimits {
    pub fn from_settings(settings: &ConnectionSettings) -> Self {
        Self {
            max_connections: settings.max_connections,
            max_connections_per_peer: settings.max_connections_per_peer,
            idle_timeout: Duration::from_secs(settings.idle_timeout_secs),
            header_read_timeout: Duration::from_secs(settings.header_read_timeout_secs),
            http2_keepalive_interval: Duration::from_secs(settings.http2_keepalive_secs),
            http2_keepalive_timeout: Duration::from_secs(settings.http2_keepalive_timeout_secs),
            max_concurrent_streams: settings.max_concurrent_streams,
        }
    }

    /// Applies the protocol bounds to the HTTP listener's hyper builder. hyper enforces the
    /// header read timeout and keepalive pings only with a timer, so both get one.
    pub fn configure_http(&self, builder: &mut auto::Builder<TokioExecutor>) {
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .keep_alive_interval(self.http2_keepalive_interval)
            .keep_alive_timeout(self.http2_keepalive_timeout)
            .max_concurrent_streams(self.max_concurrent_streams);
    }

    /// Applies the protocol bounds to the gRPC server (tonic's default is no stream limit and
    /// no pings).
    pub fn configure_grpc(&self, server: tonic::transport::Server) -> tonic::transport::Server {
        server
            .http2_keepalive_interval(Some(self.http2_keepalive_interval))
            .http2_keepalive_timeout(Some(self.http2_keepalive_timeout))
            .max_concurrent_streams(self.max_concurrent_streams)
    }
}

#[cfg(test)]
impl ConnectionLimits {
    /// Limits with these caps and idle timeout, and the protocol bounds of the defaults.
    pub(crate) fn for_tests(
        max_connections: usize,
        max_connections_per_peer: usize,
        idle_timeout: Duration,
    ) -> Self {
        Self {
            max_connections,
            max_connections_per_peer,
            idle_timeout,
            header_read_timeout: Duration::from_secs(10),
            http2_keepalive_interval: Duration::from_secs(30),
            http2_keepalive_timeout: Duration::from_secs(20),
            max_concurrent_streams: 128,
        }
    }
}
