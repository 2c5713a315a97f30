//! Connections that say nothing (issue 12): silent and half-sent connections are closed, the
//! caps per peer and per listener close the connections beyond them at once while other peers
//! are still served, and a quiet Watch stream is not mistaken for a silent connection.
//!
//! Every wait is bounded generously ([`BOUND`]); no test asserts how long anything took.

use std::net::Ipv4Addr;

use futures::StreamExt;
use mcp_config_proto::v1::WatchRequest;
use mcp_config_tests::{
    eventually,
    raw::{BOUND, closed_by_server, connect_from, greeted},
    service::{EXAMPLE_BUNDLE, Service},
};
use tokio::{io::AsyncWriteExt, net::TcpStream};

#[tokio::test]
async fn connections_that_say_nothing_are_closed_on_both_ports() {
    let dir = tempfile::tempdir().unwrap();
    let service =
        Service::sqlite_with(&dir, &["--idle-timeout-secs=2", "--http2-keepalive-secs=1"]).await;
    for addr in [service.grpc_addr, service.http_addr] {
        let mut silent = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_by_server(&mut silent).await,
            "a connection to {addr} that sent nothing is still open"
        );
    }
}

#[tokio::test]
async fn connections_that_never_speak_are_closed_at_the_header_read_timeout_on_both_ports() {
    let dir = tempfile::tempdir().unwrap();
    // The idle timeout stays at its 300 s and HTTP/2 pings are off the table (the gRPC port's
    // greeting is written, never answered): only the silence bound can close these in time.
    let service = Service::sqlite_with(&dir, &["--header-read-timeout-secs=1"]).await;
    for addr in [service.grpc_addr, service.http_addr] {
        let mut silent = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_by_server(&mut silent).await,
            "a connection to {addr} that never spoke is still open"
        );
    }
}

#[tokio::test]
async fn a_half_sent_request_is_closed_after_the_header_read_timeout() {
    let dir = tempfile::tempdir().unwrap();
    // The idle timeout stays at its 300 s: only the header read timeout can close this in time.
    let service = Service::sqlite_with(&dir, &["--header-read-timeout-secs=1"]).await;
    let mut half = TcpStream::connect(service.http_addr).await.unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    assert!(
        closed_by_server(&mut half).await,
        "a request whose headers never end is still open"
    );
}

#[tokio::test]
async fn a_peer_at_its_cap_is_refused_while_other_peers_are_served() {
    let dir = tempfile::tempdir().unwrap();
    // Held connections wait between requests under the header read timeout: keep them open.
    let service = Service::sqlite_with(
        &dir,
        &[
            "--max-connections-per-peer=5",
            "--header-read-timeout-secs=120",
        ],
    )
    .await;
    let healthz = service.url("/healthz");
    let from = |address: Ipv4Addr| {
        reqwest::Client::builder()
            .local_address(std::net::IpAddr::from(address))
            .build()
            .unwrap()
    };
    let attacker = Ipv4Addr::new(127, 0, 0, 1);

    // Five clients from one address, each keeping its (served) connection open.
    let mut held = Vec::new();
    for _ in 0..5 {
        let client = from(attacker);
        let answer = client.get(&healthz).send().await.unwrap();
        assert!(answer.status().is_success());
        held.push(client);
    }
    assert!(
        from(attacker).get(&healthz).send().await.is_err(),
        "a sixth connection from {attacker} was served"
    );
    let other = from(Ipv4Addr::new(127, 0, 0, 2))
        .get(&healthz)
        .send()
        .await
        .unwrap();
    assert!(other.status().is_success(), "another peer is not served");

    drop(held.pop());
    let place_given_back = eventually(BOUND, || async {
        from(attacker).get(&healthz).send().await.is_ok()
    })
    .await;
    assert!(
        place_given_back,
        "{attacker} is still refused after closing a connection"
    );
}

#[tokio::test]
async fn the_listener_cap_counts_every_peer() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite_with(&dir, &["--max-connections=3"]).await;
    let grpc = service.grpc_addr;
    let peer = |n: u8| Ipv4Addr::new(127, 0, 0, n);

    let mut held = Vec::new();
    for n in 1..=3 {
        let mut admitted = connect_from(peer(n), grpc).await;
        assert!(greeted(&mut admitted).await, "{} was refused", peer(n));
        held.push(admitted);
    }
    let mut fourth = connect_from(peer(4), grpc).await;
    assert!(
        !greeted(&mut fourth).await,
        "a fourth connection was served over a cap of 3"
    );

    drop(held.pop());
    let place_given_back = eventually(BOUND, || async {
        greeted(&mut connect_from(peer(4), grpc).await).await
    })
    .await;
    assert!(place_given_back, "still refused after a connection closed");
}

#[tokio::test]
async fn a_quiet_watch_stream_outlives_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let service =
        Service::sqlite_with(&dir, &["--idle-timeout-secs=2", "--http2-keepalive-secs=1"]).await;
    let mut events = service
        .grpc()
        .await
        .watch(WatchRequest::default())
        .await
        .unwrap()
        .into_inner();
    // Longer than the idle timeout with no calls and no events: only the server's pings and
    // the client's answers cross the connection, and they must be enough to keep it. A
    // connection opened after the stream and silent since is closed once the idle timeout has
    // passed on the service's own clock; waiting for that, rather than for a guessed time,
    // proves the stream has been quiet for longer than the timeout.
    let mut later_and_silent = TcpStream::connect(service.grpc_addr).await.unwrap();
    assert!(
        closed_by_server(&mut later_and_silent).await,
        "the idle timeout never closed a silent connection"
    );
    service.import(EXAMPLE_BUNDLE).await;
    let event = tokio::time::timeout(BOUND, events.next())
        .await
        .expect("an event within the bound");
    assert!(
        matches!(event, Some(Ok(_))),
        "the Watch stream ended: {event:?}"
    );
}
