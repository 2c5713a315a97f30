//! HS256 tokens for tests, the service started to accept them, and requests that carry them.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use mcp_config::config::{AuthMode, Settings};
use serde_json::{Value, json};
use tonic::Request;

use crate::service::{EXAMPLE_BUNDLE, Service, settings, sqlite_url};

/// The HS256 secret of [`jwt_service`].
pub const SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token of exactly these claims.
pub fn token_with(claims: Value, algorithm: Algorithm, secret: &str) -> String {
    encode(
        &Header::new(algorithm),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A token of `sub`, in `org` (if any), with `roles`, valid for 10 minutes.
pub fn token(sub: &str, org: Option<&str>, roles: &[&str]) -> String {
    token_expiring(sub, org, roles, now() + 600)
}

/// Like [`token`], expiring at `exp` (seconds since the epoch).
pub fn token_expiring(sub: &str, org: Option<&str>, roles: &[&str], exp: u64) -> String {
    let mut claims = json!({"sub": sub, "roles": roles, "exp": exp});
    if let Some(org) = org {
        claims["org"] = json!(org);
    }
    token_with(claims, Algorithm::HS256, SECRET)
}

/// A SQLite service in `dir` that takes [`SECRET`]'s tokens, with `configure` applied last.
pub async fn jwt_service(dir: &std::path::Path, configure: impl FnOnce(&mut Settings)) -> Service {
    let mut config = settings(&sqlite_url(dir), None);
    config.access.auth = AuthMode::Jwt;
    config.access.jwt_secret = Some(SECRET.into());
    configure(&mut config);
    Service::start(config).await
}

/// A [`jwt_service`] in a new temp dir, the example bundle imported by a global admin.
pub async fn example_with_jwt(
    configure: impl FnOnce(&mut Settings),
) -> (tempfile::TempDir, Service) {
    let dir = tempfile::tempdir().unwrap();
    let service = jwt_service(dir.path(), configure).await;
    service
        .import_as(EXAMPLE_BUNDLE, &token("root", None, &["admin"]))
        .await;
    (dir, service)
}

/// A gRPC request of `message` with `token` as its bearer.
pub fn with_token<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}
