//! An admitted connection: its IO, holding its place under the caps, failing once no byte has
//! moved either way for the idle timeout, or when the peer has sent nothing at all within the
//! silence bound (the header read timeout).
//!
//! Why the silence bound: the gRPC port greets every connection with its HTTP/2 settings, and
//! those bytes written would count as activity, so a peer that never sends a preface (or an
//! HTTP/1 request line) would hold its place for the whole idle timeout.
//!
//! Why at the IO and not in hyper: a connection can stall before any protocol timeout applies
//! (a TLS handshake not begun, an HTTP/2 preface never sent, protocol detection waiting for its
//! first bytes), and one wrapper serves both listeners. Bytes *written* count as activity too,
//! so a client downloading a long answer is not cut off for sending nothing meanwhile; a client
//! that stops reading stalls the writes and idles out like any other. Moving bytes only records
//! the time; the sleep, when it fires, re-arms itself from the last activity, so the hot path
//! never touches the timer.

use std::{
    future::Future,
    io,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep},
};
use tonic::transport::server::Connected;

use super::gate::Place;

/// The IO of a connection a [`Gate`](super::Gate) admitted.
pub struct Admitted<T> {
    io: T,
    idle_timeout: Duration,
    /// How long the peer may stay silent before its first byte.
    silent_timeout: Duration,
    opened: Instant,
    /// Whether the peer has sent a byte yet.
    heard: bool,
    last_active: Instant,
    deadline: Pin<Box<Sleep>>,
    /// So the idle closure is counted once, however often the IO is polled after it.
    timed_out: bool,
    /// Given back when the connection is dropped.
    place: Place,
}

impl<T> Admitted<T> {
    pub(super) fn new(
        io: T,
        place: Place,
        idle_timeout: Duration,
        silent_timeout: Duration,
    ) -> Self {
        let now = Instant::now();
        Self {
            io,
            idle_timeout,
            silent_timeout,
            opened: now,
            heard: false,
            last_active: now,
            deadline: Box::pin(tokio::time::sleep_until(
                now + idle_timeout.min(silent_timeout),
            )),
            timed_out: false,
            place,
        }
    }

    /// Called when the IO would wait: an error once the connection has been idle too long,
    /// otherwise arms the wake-up for when it would be.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while self.deadline.as_mut().poll(cx).is_ready() {
            let due = if self.heard {
                self.last_active + self.idle_timeout
            } else {
                (self.opened + self.silent_timeout).min(self.last_active + self.idle_timeout)
            };
            if due <= Instant::now() {
                if !self.timed_out {
                    self.timed_out = true;
                    self.place.closed_idle();
                }
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                ));
            }
            self.deadline.as_mut().reset(due);
        }
        Ok(())
    }

    /// `polled`, a poll of the IO, with bytes moved recorded as activity and a wait bounded by
    /// the idle timeout.
    fn observe<R>(
        &mut self,
        cx: &mut Context<'_>,
        polled: Poll<io::Result<R>>,
        moved_bytes: impl FnOnce(&R) -> bool,
    ) -> Poll<io::Result<R>> {
        match polled {
            Poll::Ready(Ok(done)) => {
                if moved_bytes(&done) {
                    self.last_active = Instant::now();
                }
                Poll::Ready(Ok(done))
            }
            Poll::Pending => match self.poll_idle(cx) {
                Ok(()) => Poll::Pending,
                Err(e) => Poll::Ready(Err(e)),
            },
            failed => failed,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Admitted<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        let read = buf.filled().len() > before;
        this.heard |= read;
        this.observe(cx, polled, |()| read)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Admitted<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write(cx, buf);
        this.observe(cx, polled, |written| *written > 0)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.observe(cx, polled, |written| *written > 0)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// tonic reads the peer's address (and, under TLS, its certificates) through this.
impl<T: Connected> Connected for Admitted<T> {
    type ConnectInfo = T::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

    use super::*;
    use crate::connections::{ConnectionLimits, Gate, Listener};

    const IDLE: Duration = Duration::from_secs(5);
    const SILENT: Duration = Duration::from_secs(2);

    /// The server's end of an admitted in-memory connection, and the client's end.
    fn connection() -> (Admitted<DuplexStream>, DuplexStream) {
        let gate = Gate::new(Listener::Grpc, &ConnectionLimits::for_tests(1, 1, IDLE));
        let place = gate.reserve("10.0.0.1".parse().unwrap()).unwrap();
        let (client, server) = tokio::io::duplex(64);
        (Admitted::new(server, place, IDLE, SILENT), client)
    }

    // Time is paused: it moves only when every task waits, straight to the next timer, so
    // these tests are exact and take no real time.

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_says_nothing_fails_after_the_silence_bound() {
        let (mut server, _client) = connection();
        let started = Instant::now();
        let err = server.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            started.elapsed(),
            SILENT,
            "at the silence bound, not before"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_written_to_a_peer_that_never_spoke_do_not_keep_it_open() {
        let (mut server, mut client) = connection();
        server.write_all(b"settings").await.unwrap();
        client.read_exact(&mut [0; 8]).await.unwrap();
        let started = Instant::now();
        server.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(started.elapsed(), SILENT);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_spoke_once_and_went_quiet_fails_after_the_idle_timeout() {
        let (mut server, mut client) = connection();
        client.write_all(b"x").await.unwrap();
        server.read_exact(&mut [0; 1]).await.unwrap();
        let started = Instant::now();
        let err = server.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= IDLE, "not before the idle timeout");
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_that_keeps_talking_outlives_the_idle_timeout() {
        let (mut server, mut client) = connection();
        let talking = async move {
            for _ in 0..4 {
                client.write_all(b"x").await.unwrap();
                tokio::time::sleep(IDLE - Duration::from_secs(1)).await;
            }
            client
        };
        let listening = async {
            let mut byte = [0; 1];
            for _ in 0..4 {
                server.read_exact(&mut byte).await.unwrap();
            }
        };
        let (_client, ()) = tokio::join!(talking, listening);
        let err = server.read(&mut [0; 8]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn bytes_written_count_as_activity() {
        let (mut server, mut client) = connection();
        client.write_all(b"x").await.unwrap();
        server.read_exact(&mut [0; 1]).await.unwrap();
        for _ in 0..4 {
            tokio::time::sleep(IDLE - Duration::from_secs(1)).await;
            server.write_all(b"x").await.unwrap();
            client.read_exact(&mut [0; 1]).await.unwrap();
        }
        let started = Instant::now();
        server.read(&mut [0; 8]).await.unwrap_err();
        assert!(
            started.elapsed() >= IDLE,
            "the idle time counts from the last byte written"
        );
    }
}
