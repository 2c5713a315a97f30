//! TLS on both listeners, and mTLS on gRPC: certificates made by scripts/gen-test-certs.sh.

use std::{path::Path, process::Command};

use mcp_config_proto::v1::config_service_client::ConfigServiceClient;
use mcp_config_tests::{
    raw::closed_by_server,
    service::{Service, prompts, settings, settings_with, sqlite_url},
};
use tokio::{io::AsyncWriteExt, net::TcpStream};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

fn make_certs(dir: &Path) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/gen-test-certs.sh");
    let status = Command::new("bash").arg(script).arg(dir).status().unwrap();
    assert!(status.success(), "gen-test-certs.sh failed");
}

async fn read_over(channel: Result<Channel, tonic::transport::Error>) -> bool {
    let Ok(channel) = channel else { return false };
    ConfigServiceClient::new(channel)
        .get_prompts(prompts("", "github"))
        .await
        .is_ok()
}

#[tokio::test]
async fn grpc_requires_tls_and_a_client_certificate_and_http_serves_https() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    let pem = |name: &str| std::fs::read(dir.path().join(name)).unwrap();
    let mut config = settings(&sqlite_url(dir.path()), None);
    config.tls.tls_cert = Some(dir.path().join("server.pem"));
    config.tls.tls_key = Some(dir.path().join("server.key"));
    config.tls.tls_client_ca = Some(dir.path().join("ca.pem"));
    let service = Service::start(config).await;
    let port = service.grpc_addr.port();

    let trusted = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(pem("ca.pem")))
        .domain_name("localhost");
    let with_identity = trusted
        .clone()
        .identity(Identity::from_pem(pem("client.pem"), pem("client.key")));
    let https = |tls: ClientTlsConfig| async move {
        Channel::from_shared(format!("https://127.0.0.1:{port}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
    };
    assert!(
        read_over(https(with_identity).await).await,
        "mTLS with a client certificate works"
    );
    assert!(
        !read_over(https(trusted).await).await,
        "no client certificate: refused"
    );
    let plain = Channel::from_shared(format!("http://127.0.0.1:{port}"))
        .unwrap()
        .connect()
        .await;
    assert!(!read_over(plain).await, "plaintext: refused");

    let ca = reqwest::Certificate::from_pem(&pem("ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let health = client
        .get(format!(
            "https://127.0.0.1:{}/healthz",
            service.http_addr.port()
        ))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
    let plain_http = reqwest::get(service.url("/healthz")).await;
    assert!(
        plain_http.is_err() || !plain_http.unwrap().status().is_success(),
        "plain HTTP refused"
    );
}

#[tokio::test]
async fn a_tls_handshake_left_unfinished_is_closed_on_both_ports() {
    let dir = tempfile::tempdir().unwrap();
    make_certs(dir.path());
    // The idle timeout stays at its 300 s: only the handshake timeout can close these in time.
    let mut config = settings_with(
        &sqlite_url(dir.path()),
        None,
        &["--tls-handshake-timeout-secs=1"],
    );
    config.tls.tls_cert = Some(dir.path().join("server.pem"));
    config.tls.tls_key = Some(dir.path().join("server.key"));
    let service = Service::start(config).await;
    for addr in [service.grpc_addr, service.http_addr] {
        let mut stalled = TcpStream::connect(addr).await.unwrap();
        // The header of a handshake record, and nothing of the record itself.
        stalled.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
        assert!(
            closed_by_server(&mut stalled).await,
            "an unfinished TLS handshake with {addr} is still open"
        );
    }
}
