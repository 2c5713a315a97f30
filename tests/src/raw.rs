//! Raw TCP clients, for the connections a real client would never make: silent, half-sent, or
//! from a chosen loopback address.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::Duration,
};

use tokio::{
    io::AsyncReadExt,
    net::{TcpSocket, TcpStream},
};

/// The longest these helpers wait for the service to act: far above every timeout a test sets,
/// so reaching it means the service did not act at all.
pub const BOUND: Duration = Duration::from_secs(30);

/// A connection to `to` from the loopback address `from`. Linux routes all of 127.0.0.0/8 to
/// loopback, so each address is a different peer to the service.
pub async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket
        .bind(SocketAddr::new(from.into(), 0))
        .expect("a loopback address to bind");
    socket.connect(to).await.expect("the service accepts")
}

/// Whether the service closed `stream` (end of stream or reset) within [`BOUND`]; whatever it
/// sent before is read and dropped.
pub async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buf = [0; 1024];
    let until_closed = async { while let Ok(1..) = stream.read(&mut buf).await {} };
    tokio::time::timeout(BOUND, until_closed).await.is_ok()
}

/// Whether the service sent `stream` something within [`BOUND`] rather than closing it. The
/// gRPC listener greets every connection it serves with its HTTP/2 settings, so on that port
/// this tells an admitted connection from a refused one.
pub async fn greeted(stream: &mut TcpStream) -> bool {
    let mut buf = [0; 1024];
    matches!(
        tokio::time::timeout(BOUND, stream.read(&mut buf)).await,
        Ok(Ok(1..))
    )
}
