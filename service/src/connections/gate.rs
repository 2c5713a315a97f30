//! Admission: a place for each connection under the listener's cap and its peer's cap.
//!
//! The counts live under one mutex, held for a few instructions per accept and per close and
//! never across an await; a peer's entry is removed when its last connection closes, so the map
//! never holds more entries than there are open connections. A refused connection is dropped
//! (closed) before anything of it is read, counted in a metric, and logged at warn at most once
//! a minute per listener (the rest at debug), so an attack cannot flood the log either.

use std::{
    collections::{HashMap, hash_map::Entry},
    io,
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use tokio::net::{TcpListener, TcpStream};
use tokio_stream::{Stream, StreamExt};
use tonic::transport::server::TcpIncoming;

use super::{Admitted, ConnectionLimits};
use crate::metrics::{CONNECTIONS_IDLE_CLOSED, CONNECTIONS_OPEN, CONNECTIONS_REFUSED};

/// The listener a connection came to (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    Grpc,
    Http,
}

impl Listener {
    fn label(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::Http => "http",
        }
    }
}

/// Which cap a refused connection ran into (a metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    Listener,
    Peer,
}

impl Refusal {
    fn label(self) -> &'static str {
        match self {
            Self::Listener => "listener",
            Self::Peer => "peer",
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_peer: HashMap<IpAddr, usize>,
}

struct Shared {
    listener: Listener,
    max_connections: usize,
    max_per_peer: usize,
    idle_timeout: Duration,
    silent_timeout: Duration,
    counts: Mutex<Counts>,
    /// Refusals worth a warning: one a minute.
    warnings: governor::DefaultDirectRateLimiter,
    open: metrics::Gauge,
    idle_closed: metrics::Counter,
}

/// Admits the connections of one listener. Clones share the counts.
#[derive(Clone)]
pub struct Gate(Arc<Shared>);

impl Gate {
    pub fn new(listener: Listener, limits: &ConnectionLimits) -> Self {
        crate::metrics::handle();
        let label = listener.label();
        Self(Arc::new(Shared {
            listener,
            max_connections: limits.max_connections,
            max_per_peer: limits.max_connections_per_peer,
            idle_timeout: limits.idle_timeout,
            silent_timeout: limits.header_read_timeout,
            counts: Mutex::default(),
            warnings: governor::RateLimiter::direct(governor::Quota::per_minute(NonZeroU32::MIN)),
            open: metrics::gauge!(CONNECTIONS_OPEN, "listener" => label),
            idle_closed: metrics::counter!(CONNECTIONS_IDLE_CLOSED, "listener" => label),
        }))
    }

    /// `stream` with its place taken, or `None` when a cap is full (and then `stream` is
    /// dropped, which closes it).
    pub fn admit(&self, stream: TcpStream) -> Option<Admitted<TcpStream>> {
        // A peer that is already gone has nothing to admit.
        let peer = stream.peer_addr().ok()?.ip();
        match self.reserve(peer) {
            Ok(place) => Some(Admitted::new(
                stream,
                place,
                self.0.idle_timeout,
                self.0.silent_timeout,
            )),
            Err(refusal) => {
                self.refused(peer, refusal);
                None
            }
        }
    }

    /// The admitted connections of `listener`, for tonic's `serve_with_incoming_shutdown`.
    pub fn incoming(
        self,
        listener: TcpListener,
    ) -> impl Stream<Item = io::Result<Admitted<TcpStream>>> {
        TcpIncoming::from(listener)
            .with_nodelay(Some(true))
            .filter_map(move |accepted| accepted.map(|stream| self.admit(stream)).transpose())
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        // The counts stay consistent even if a holder panicked: no code under the lock can.
        self.0.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a place for a connection from `peer`, or says which cap is full.
    pub(super) fn reserve(&self, peer: IpAddr) -> Result<Place, Refusal> {
        let peer = peer_key(peer);
        let mut counts = self.counts();
        if counts.total >= self.0.max_connections {
            return Err(Refusal::Listener);
        }
        let from_peer = counts.per_peer.get(&peer).copied().unwrap_or(0);
        if from_peer >= self.0.max_per_peer {
            return Err(Refusal::Peer);
        }
        counts.total += 1;
        counts.per_peer.insert(peer, from_peer + 1);
        drop(counts);
        self.0.open.increment(1.0);
        Ok(Place {
            gate: self.clone(),
            peer,
        })
    }

    fn refused(&self, peer: IpAddr, refusal: Refusal) {
        let (listener, reason) = (self.0.listener.label(), refusal.label());
        metrics::counter!(CONNECTIONS_REFUSED, "listener" => listener, "reason" => reason)
            .increment(1);
        if self.0.warnings.check().is_ok() {
            tracing::warn!(
                listener,
                %peer,
                cap = reason,
                "connection refused: too many open connections (more this minute are logged at debug)"
            );
        } else {
            tracing::debug!(listener, %peer, cap = reason, "connection refused");
        }
    }
}

/// A connection's place under the caps, given back when dropped.
pub(super) struct Place {
    gate: Gate,
    peer: IpAddr,
}

impl Place {
    /// Counts this connection as closed for saying nothing.
    pub(super) fn closed_idle(&self) {
        self.gate.0.idle_closed.increment(1);
    }
}

impl std::fmt::Debug for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Place").field("peer", &self.peer).finish()
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut counts = self.gate.counts();
        counts.total -= 1;
        if let Entry::Occupied(mut from_peer) = counts.per_peer.entry(self.peer) {
            *from_peer.get_mut() -= 1;
            if *from_peer.get() == 0 {
                from_peer.remove();
            }
        }
        drop(counts);
        self.gate.0.open.decrement(1.0);
    }
}

/// The address a peer is counted under: an IPv4 address as is (also when mapped into IPv6), an
/// IPv6 address by its /64, since one host normally holds a whole /64 and could otherwise open
/// connections from as many addresses as it likes.
fn peer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// For axum-server: admission as the first step of accepting an HTTP connection (before TLS).
impl<S> axum_server::accept::Accept<TcpStream, S> for Gate {
    type Stream = Admitted<TcpStream>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Self::Stream, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        std::future::ready(
            self.admit(stream)
                .map(|admitted| (admitted, service))
                .ok_or_else(|| io::Error::other("connection refused: too many open connections")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(max_connections: usize, max_connections_per_peer: usize) -> Gate {
        let limits = ConnectionLimits::for_tests(
            max_connections,
            max_connections_per_peer,
            Duration::from_secs(300),
        );
        Gate::new(Listener::Http, &limits)
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_peer_at_its_cap_is_refused_while_others_are_admitted() {
        let gate = gate(10, 2);
        let _held = [gate.reserve(ip("10.0.0.1")), gate.reserve(ip("10.0.0.1"))]
            .map(|place| place.expect("under the peer cap"));
        assert_eq!(gate.reserve(ip("10.0.0.1")).err(), Some(Refusal::Peer));
        assert!(gate.reserve(ip("10.0.0.2")).is_ok());
    }

    #[test]
    fn the_listener_cap_counts_every_peer() {
        let gate = gate(2, 2);
        let _a = gate.reserve(ip("10.0.0.1")).unwrap();
        let _b = gate.reserve(ip("10.0.0.2")).unwrap();
        assert_eq!(gate.reserve(ip("10.0.0.3")).err(), Some(Refusal::Listener));
    }

    #[test]
    fn a_closed_connection_gives_its_place_back_and_its_peer_is_forgotten() {
        let gate = gate(1, 1);
        let place = gate.reserve(ip("10.0.0.1")).unwrap();
        assert!(gate.reserve(ip("10.0.0.1")).is_err());
        drop(place);
        assert!(gate.counts().per_peer.is_empty());
        assert!(gate.reserve(ip("10.0.0.1")).is_ok());
    }

    #[test]
    fn an_ipv6_slash_64_counts_as_one_peer_and_mapped_ipv4_as_itself() {
        assert_eq!(peer_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(
            peer_key(ip("2001:db8:1:2:aaaa::1")),
            peer_key(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            peer_key(ip("2001:db8:1:2::1")),
            peer_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(peer_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
    }
}
