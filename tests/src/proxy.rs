//! A TCP fault proxy: sits on a link (a replica to PostgreSQL, to Redis, a client to the
//! service) and makes it slow, silent or cut, the way networks fail.
//!
//! With several upstreams it also stands in for a Kubernetes Service: each new connection goes
//! to the next upstream that accepts it, so clients behind it survive the loss of one replica.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{
        TcpListener, TcpStream,
        tcp::{OwnedReadHalf, OwnedWriteHalf},
    },
    sync::{mpsc, watch},
    time::Instant,
};
use tokio_util::task::AbortOnDropHandle;

/// What the link does to the bytes that cross it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Bytes pass at once.
    None,
    /// Every byte arrives this much later (a slow or distant link; throughput is kept).
    Delay(Duration),
    /// Nothing passes either way and nothing is closed: new connections hang and open ones
    /// stall, as in a partition. Held bytes flow again when the fault ends.
    Blackhole,
}

struct Link {
    upstreams: Vec<SocketAddr>,
    next: AtomicUsize,
    fault: watch::Sender<Fault>,
    /// Raised to cut every open connection with a reset.
    resets: watch::Sender<u64>,
}

/// A proxy listening on a free loopback port; stops (and drops its connections) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    link: Arc<Link>,
    _accepting: AbortOnDropHandle<()>,
}

impl FaultProxy {
    /// A proxy to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        Self::balancing(vec![upstream]).await
    }

    /// A proxy that spreads connections over `upstreams`, skipping those that refuse.
    pub async fn balancing(upstreams: Vec<SocketAddr>) -> Self {
        assert!(!upstreams.is_empty(), "a proxy needs an upstream");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let addr = listener.local_addr().expect("a bound address");
        let link = Arc::new(Link {
            upstreams,
            next: AtomicUsize::new(0),
            fault: watch::Sender::new(Fault::None),
            resets: watch::Sender::new(0),
        });
        let accepting = AbortOnDropHandle::new(tokio::spawn(accept(listener, link.clone())));
        Self {
            addr,
            link,
            _accepting: accepting,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn fault(&self) -> Fault {
        *self.link.fault.borrow()
    }

    /// Applies `fault` to new and open connections alike.
    pub fn set(&self, fault: Fault) {
        self.link.fault.send_replace(fault);
    }

    /// Cuts every open connection with a TCP reset (new ones are accepted as usual).
    pub fn reset_all(&self) {
        self.link.resets.send_modify(|generation| *generation += 1);
    }
}

async fn accept(listener: TcpListener, link: Arc<Link>) {
    while let Ok((client, _)) = listener.accept().await {
        tokio::spawn(serve(client, link.clone()));
    }
}

/// Waits while the link is blackholed; returns the fault in force after.
async fn passable(fault: &mut watch::Receiver<Fault>) -> Fault {
    let passing = fault
        .wait_for(|fault| *fault != Fault::Blackhole)
        .await
        .map(|fault| *fault);
    match passing {
        Ok(fault) => fault,
        // The proxy is gone: nothing will ever pass again.
        Err(_) => std::future::pending().await,
    }
}

async fn serve(client: TcpStream, link: Arc<Link>) {
    let mut resets = link.resets.subscribe();
    resets.mark_unchanged();
    let mut fault = link.fault.subscribe();
    passable(&mut fault).await;
    let Some(upstream) = connect_upstream(&link).await else {
        return;
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let pumps = async {
        tokio::join!(
            pump(client_read, upstream_write, link.fault.subscribe()),
            pump(upstream_read, client_write, link.fault.subscribe()),
        )
    };
    tokio::select! {
        (to_upstream, to_client) = pumps => {
            // Both halves ended by themselves: the sockets close normally.
            drop((to_upstream, to_client));
        }
        _ = resets.changed() => {
            // Dropping the pumps drops the sockets; zero linger turns the close into a reset.
        }
    }
}

/// The first upstream, from the next in turn, that accepts a connection.
async fn connect_upstream(link: &Link) -> Option<TcpStream> {
    let start = link.next.fetch_add(1, Ordering::Relaxed);
    for offset in 0..link.upstreams.len() {
        let upstream = link.upstreams[(start + offset) % link.upstreams.len()];
        if let Ok(stream) = TcpStream::connect(upstream).await {
            return Some(stream);
        }
    }
    None
}

/// Copies one direction, each chunk held back by the fault in force when it was read. Returns
/// the writing half so the connection can still be reset after this direction ended.
async fn pump(
    mut from: OwnedReadHalf,
    to: OwnedWriteHalf,
    mut fault: watch::Receiver<Fault>,
) -> OwnedWriteHalf {
    let _ = from.as_ref().set_zero_linger();
    let _ = to.as_ref().set_zero_linger();
    let (chunks, mut due) = mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let mut writer_fault = fault.clone();
    let writing = async move {
        let mut to = to;
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            passable(&mut writer_fault).await;
            if to.write_all(&chunk).await.is_err() {
                break;
            }
        }
        let _ = to.shutdown().await;
        to
    };
    let reading = async move {
        let mut buf = vec![0; 16 * 1024];
        loop {
            let delay = match passable(&mut fault).await {
                Fault::Delay(delay) => delay,
                _ => Duration::ZERO,
            };
            match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if chunks
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    };
    let ((), to) = tokio::join!(reading, writing);
    to
}
