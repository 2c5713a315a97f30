//! The context token: what the gateway vouches for (org, subject, server), signed HS256 and
//! valid for a minute, so an upstream can verify who asks instead of trusting headers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::domain::{InvalidInput, Scope, Slug};

/// How long a context token is valid: a link reuses its token for this long at most.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(60);
/// Shortest key accepted, as for the service's own HS256 secret.
const MIN_KEY_BYTES: usize = 32;

/// The claims an upstream reads: `iss` is always `mcp-config`, `aud` the server.
#[derive(Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct ContextClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    /// The org; empty for the defaults.
    pub org: String,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Clone)]
pub struct ContextSigner(EncodingKey);

impl ContextSigner {
    pub fn new(key: &SecretString) -> Result<Self, InvalidInput> {
        let key = key.expose_secret().as_bytes();
        if key.len() < MIN_KEY_BYTES {
            return Err(InvalidInput::new(
                "gateway_signing_key",
                format!("must be at least {MIN_KEY_BYTES} bytes"),
            ));
        }
        Ok(Self(EncodingKey::from_secret(key)))
    }

    pub fn sign(&self, scope: &Scope, subject: &str, server: &Slug) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let claims = ContextClaims {
            iss: "mcp-config".into(),
            aud: server.to_string(),
            sub: subject.to_owned(),
            org: scope.as_str().to_owned(),
            iat: now,
            exp: now + TOKEN_LIFETIME.as_secs(),
        };
        jsonwebtoken::encode(&Header::default(), &claims, &self.0).expect("HS256 signs")
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    #[test]
    fn an_upstream_with_the_key_reads_org_subject_and_server() {
        let key = SecretString::from("k".repeat(32));
        let signer = ContextSigner::new(&key).unwrap();
        let acme = Scope::Org(Slug::parse("org", "acme").unwrap());
        let token = signer.sign(&acme, "alice", &Slug::parse("server", "github").unwrap());
        let mut validation = Validation::default();
        validation.set_audience(&["github"]);
        validation.set_issuer(&["mcp-config"]);
        let read = jsonwebtoken::decode::<ContextClaims>(
            &token,
            &DecodingKey::from_secret("k".repeat(32).as_bytes()),
            &validation,
        )
        .unwrap()
        .claims;
        assert_eq!((read.org.as_str(), read.sub.as_str()), ("acme", "alice"));
        assert_eq!(read.exp - read.iat, TOKEN_LIFETIME.as_secs());
        let wrong = DecodingKey::from_secret("x".repeat(32).as_bytes());
        assert!(jsonwebtoken::decode::<ContextClaims>(&token, &wrong, &validation).is_err());
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(ContextSigner::new(&SecretString::from("short")).is_err());
    }
}
