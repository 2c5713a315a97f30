//! TLS for both listeners (rustls, ring): the gRPC port with optional client-certificate
//! verification (mTLS for MCP servers), the HTTP port with server authentication only (admin
//! callers authenticate with bearer tokens). Both bound the handshake: a client that connects
//! and never finishes it is dropped after `MCP_CONFIG_TLS_HANDSHAKE_TIMEOUT_SECS`.

use std::{path::Path, sync::Arc, time::Duration};

use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use crate::config::TlsSettings;

#[derive(Debug, thiserror::Error)]
#[error("TLS: {0}")]
pub struct TlsError(pub String);

pub(crate) fn read(path: &Path, what: &str) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path)
        .map_err(|e| TlsError(format!("cannot read the {what} {}: {e}", path.display())))
}

/// Makes ring the process's rustls provider, once (later calls change nothing). The binary
/// holds two providers (reqwest 0.13 brings aws-lc-rs for the gateway's client), and a library
/// that builds its rustls configuration without naming one — tonic's server TLS — cannot pick
/// between them and panics; everything this service names itself is ring.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The certificate and key, when TLS is configured.
pub struct Tls {
    cert: Vec<u8>,
    key: Vec<u8>,
    client_ca: Option<Vec<u8>>,
    handshake_timeout: Duration,
}

impl Tls {
    pub fn from_settings(settings: &TlsSettings) -> Result<Option<Self>, TlsError> {
        match (&settings.tls_cert, &settings.tls_key) {
            (None, None) if settings.tls_client_ca.is_some() => Err(TlsError(
                "MCP_CONFIG_TLS_CLIENT_CA needs MCP_CONFIG_TLS_CERT and MCP_CONFIG_TLS_KEY".into(),
            )),
            (None, None) => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(Self {
                cert: read(cert, "certificate")?,
                key: read(key, "key")?,
                client_ca: settings
                    .tls_client_ca
                    .as_deref()
                    .map(|ca| read(ca, "client CA"))
                    .transpose()?,
                handshake_timeout: Duration::from_secs(settings.tls_handshake_timeout_secs),
            })),
            _ => Err(TlsError(
                "MCP_CONFIG_TLS_CERT and MCP_CONFIG_TLS_KEY go together".into(),
            )),
        }
    }

    /// The gRPC listener's configuration; with a client CA, clients must present a certificate
    /// it signed.
    pub fn grpc(&self) -> ServerTlsConfig {
        let config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.cert, &self.key))
            .timeout(self.handshake_timeout);
        match &self.client_ca {
            Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
            None => config,
        }
    }

    /// The HTTP listener's acceptor: it handshakes on what `A` (admission) accepted.
    pub fn http<A>(&self, admission: A) -> Result<RustlsAcceptor<A>, TlsError> {
        let bad = |e: &dyn std::fmt::Display| TlsError(e.to_string());
        let certs = CertificateDer::pem_slice_iter(&self.cert)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(&e))?;
        let key = PrivateKeyDer::from_pem_slice(&self.key).map_err(|e| bad(&e))?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&e))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(
            RustlsAcceptor::new(RustlsConfig::from_config(Arc::new(config)))
                .handshake_timeout(self.handshake_timeout)
                .acceptor(admission),
        )
    }
}
