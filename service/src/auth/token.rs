//! Authentication: a bearer token (a JWT, checked against a pinned algorithm and a key, a
//! public key or a JWKS file reloaded when it changes) into a [`Principal`].

use std::{
    path::PathBuf,
    sync::{Arc, RwLock},
    time::{Duration, Instant, SystemTime},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use secrecy::ExposeSecret;
use serde::Deserialize;

use super::{Principal, Roles};
use crate::{
    config::{AccessSettings, AuthMode, ConfigError, JwtAlgorithm},
    domain::Slug,
    error::Error,
};

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default)]
    org: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// How often a JWKS file is checked for changes.
const JWKS_RECHECK: Duration = Duration::from_secs(1);

enum Keys {
    Static(DecodingKey),
    Jwks {
        path: PathBuf,
        loaded: RwLock<LoadedJwks>,
    },
}

struct LoadedJwks {
    modified: Option<SystemTime>,
    checked: Instant,
    set: JwkSet,
}

fn read_jwks(path: &PathBuf) -> Result<(Option<SystemTime>, JwkSet), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let set = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a JWKS: {e}", path.display()))?;
    Ok((std::fs::metadata(path).and_then(|m| m.modified()).ok(), set))
}

/// Turns `Authorization` values into principals.
#[derive(Clone)]
pub struct Authenticator {
    jwt: Option<Arc<(Validation, Keys)>>,
}

impl Authenticator {
    pub fn open() -> Self {
        Self { jwt: None }
    }

    pub fn from_settings(settings: &AccessSettings) -> Result<Self, ConfigError> {
        if settings.auth == AuthMode::None {
            return Ok(Self::open());
        }
        let algorithm = match settings.jwt_algorithm {
            JwtAlgorithm::Hs256 => Algorithm::HS256,
            JwtAlgorithm::Rs256 => Algorithm::RS256,
            JwtAlgorithm::Es256 => Algorithm::ES256,
        };
        let bad = |what: String| ConfigError(what);
        let keys = match (
            &settings.jwt_secret,
            &settings.jwt_public_key,
            &settings.jwt_jwks,
            algorithm,
        ) {
            (Some(secret), None, None, Algorithm::HS256) => {
                let secret = secret.expose_secret();
                if secret.len() < 32 {
                    return Err(bad("MCP_CONFIG_JWT_SECRET must be at least 32 bytes".into()));
                }
                Keys::Static(DecodingKey::from_secret(secret.as_bytes()))
            }
            (None, Some(path), None, Algorithm::RS256 | Algorithm::ES256) => {
                let pem = std::fs::read(path).map_err(|e| {
                    bad(format!(
                        "cannot read MCP_CONFIG_JWT_PUBLIC_KEY {}: {e}",
                        path.display()
                    ))
                })?;
                let key = if algorithm == Algorithm::RS256 {
                    DecodingKey::from_rsa_pem(&pem)
                } else {
                    DecodingKey::from_ec_pem(&pem)
                };
                Keys::Static(key.map_err(|e| {
                    bad(format!("MCP_CONFIG_JWT_PUBLIC_KEY {}: {e}", path.display()))
                })?)
            }
            (None, None, Some(path), Algorithm::RS256 | Algorithm::ES256) => {
                let (modified, set) = read_jwks(path).map_err(bad)?;
                Keys::Jwks {
                    path: path.clone(),
                    loaded: RwLock::new(LoadedJwks {
                        modified,
                        checked: Instant::now(),
                        set,
                    }),
                }
            }
            _ => {
                return Err(bad(
                    "MCP_CONFIG_AUTH=jwt needs exactly one key matching MCP_CONFIG_JWT_ALGORITHM: \
                     MCP_CONFIG_JWT_SECRET for HS256, MCP_CONFIG_JWT_PUBLIC_KEY or MCP_CONFIG_JWT_JWKS for RS256/ES256"
                        .into(),
                ));
            }
        };
        let mut validation = Validation::new(algorithm);
        // A configured issuer or audience must be present, not merely right when present.
        let mut required = vec!["exp", "sub"];
        required.extend(settings.jwt_issuer.as_ref().map(|_| "iss"));
        required.extend(settings.jwt_audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        validation.validate_nbf = true;
        validation.leeway = settings.jwt_leeway_secs;
        if let Some(issuer) = &settings.jwt_issuer {
            validation.set_issuer(&[issuer]);
        }
        match &settings.jwt_audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        Ok(Self {
            jwt: Some(Arc::new((validation, keys))),
        })
    }

    /// Whether callers must present a token (mode `jwt`); in mode `none` everyone is
    /// [`Principal::anonymous`].
    pub fn requires_token(&self) -> bool {
        self.jwt.is_some()
    }

    /// The principal of an `Authorization` header value.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Principal, Error> {
        let Some(jwt) = &self.jwt else {
            return Ok(Principal::anonymous());
        };
        let (validation, keys) = &**jwt;
        let authorization =
            authorization.ok_or_else(|| Error::Unauthenticated("missing bearer token".into()))?;
        // The scheme is case-insensitive (RFC 7235).
        let token = match authorization.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim_start(),
            _ => {
                return Err(Error::Unauthenticated(
                    "authorization is not a bearer token".into(),
                ));
            }
        };
        let invalid =
            |e: jsonwebtoken::errors::Error| Error::Unauthenticated(format!("invalid token: {e}"));
        let claims = match keys {
            Keys::Static(key) => {
                jsonwebtoken::decode::<Claims>(token, key, validation)
                    .map_err(invalid)?
                    .claims
            }
            Keys::Jwks { path, loaded } => {
                let header = jsonwebtoken::decode_header(token).map_err(invalid)?;
                reload_if_changed(path, loaded);
                let set = loaded.read().expect("jwks lock");
                let jwk = match &header.kid {
                    Some(kid) => set.set.find(kid),
                    None => set.set.keys.first(),
                }
                .ok_or_else(|| Error::Unauthenticated("no key for this token's kid".into()))?;
                let key = DecodingKey::from_jwk(jwk).map_err(invalid)?;
                jsonwebtoken::decode::<Claims>(token, &key, validation)
                    .map_err(invalid)?
                    .claims
            }
        };
        // An empty or blank claim is refused, not read as "no org": for an admin, no org means
        // every org.
        let org = claims
            .org
            .map(|o| Slug::parse("org claim", &o))
            .transpose()
            .map_err(|e| Error::Unauthenticated(e.to_string()))?;
        let expires_at = SystemTime::UNIX_EPOCH
            + Duration::from_secs(claims.exp.saturating_add(validation.leeway));
        Ok(Principal {
            subject: claims.sub,
            org,
            roles: Roles::parse(&claims.roles),
            expires_at: Some(expires_at),
        })
    }
}

fn reload_if_changed(path: &PathBuf, loaded: &RwLock<LoadedJwks>) {
    if loaded.read().expect("jwks lock").checked.elapsed() < JWKS_RECHECK {
        return;
    }
    let mut current = loaded.write().expect("jwks lock");
    current.checked = Instant::now();
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if modified == current.modified {
        return;
    }
    match read_jwks(path) {
        Ok((modified, set)) => {
            current.modified = modified;
            current.set = set;
            tracing::info!(path = %path.display(), "reloaded the JWKS");
        }
        Err(e) => tracing::warn!(error = %e, "keeping the previous JWKS"),
    }
}
