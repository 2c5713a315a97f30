//! Which organization an MCP request is for.
//!
//! Behind a gateway that authenticates users, the org arrives in an `x-org-id` header. When the
//! server is given the JWT secret, the org comes from the verified `org` claim of the request's
//! bearer token instead, and the header is ignored: a caller must not pick another org's
//! prompts by naming it.

use http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

pub const ORG_HEADER: &str = "x-org-id";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OrgError {
    #[error("a bearer token is required")]
    MissingToken,
    #[error("the bearer token is invalid: {0}")]
    InvalidToken(String),
    #[error("the `{ORG_HEADER}` header is not valid text")]
    InvalidHeader,
}

pub enum OrgResolver {
    /// Trust the `x-org-id` header; no header = defaults only.
    Header,
    /// Take the org from the verified `org` claim of an HS256 bearer token.
    Token(Box<(DecodingKey, Validation)>),
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    org: String,
}

impl OrgResolver {
    pub fn hs256(secret: &[u8]) -> Self {
        Self::Token(Box::new((
            DecodingKey::from_secret(secret),
            Validation::new(Algorithm::HS256),
        )))
    }

    /// The org of this request; empty means "defaults only", as in mcp-config.
    pub fn resolve(&self, request: &Parts) -> Result<String, OrgError> {
        match self {
            Self::Header => match request.headers.get(ORG_HEADER) {
                Some(value) => value
                    .to_str()
                    .map(|org| org.trim().to_owned())
                    .map_err(|_| OrgError::InvalidHeader),
                None => Ok(String::new()),
            },
            Self::Token(verifier) => {
                let (key, validation) = verifier.as_ref();
                let token = request
                    .headers
                    .get(http::header::AUTHORIZATION)
                    .and_then(|value| value.to_str().ok())
                    .and_then(|value| value.strip_prefix("Bearer "))
                    .ok_or(OrgError::MissingToken)?;
                jsonwebtoken::decode::<Claims>(token, key, validation)
                    .map(|data| data.claims.org)
                    .map_err(|e| OrgError::InvalidToken(e.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    const SECRET: &[u8] = b"an example secret of at least 32 bytes!";

    fn request(headers: &[(&str, &str)]) -> Parts {
        let mut builder = http::Request::builder();
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        builder.body(()).expect("request").into_parts().0
    }

    fn token(org: &str, secret: &[u8]) -> String {
        let claims = serde_json::json!({"sub": "u", "org": org, "exp": 4_000_000_000u64});
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .expect("token")
    }

    #[test]
    fn header_mode_reads_the_header_and_defaults_without_it() {
        let orgs = OrgResolver::Header;
        assert_eq!(
            orgs.resolve(&request(&[(ORG_HEADER, "acme")])),
            Ok("acme".into())
        );
        assert_eq!(orgs.resolve(&request(&[])), Ok(String::new()));
    }

    #[test]
    fn token_mode_trusts_the_claim_not_the_header() {
        let orgs = OrgResolver::hs256(SECRET);
        let bearer = format!("Bearer {}", token("acme", SECRET));
        let parts = request(&[("authorization", &bearer), (ORG_HEADER, "globex")]);
        assert_eq!(orgs.resolve(&parts), Ok("acme".into()));
    }

    #[test]
    fn token_mode_refuses_missing_and_forged_tokens() {
        let orgs = OrgResolver::hs256(SECRET);
        assert_eq!(
            orgs.resolve(&request(&[(ORG_HEADER, "acme")])),
            Err(OrgError::MissingToken)
        );
        let forged = format!(
            "Bearer {}",
            token("acme", b"another secret of at least 32 bytes!!")
        );
        assert!(matches!(
            orgs.resolve(&request(&[("authorization", &forged)])),
            Err(OrgError::InvalidToken(_))
        ));
    }
}
