//! Who is asking, and what they may do.
//!
//! Authentication turns a bearer token into a [`Principal`]; authorization is a handful of pure
//! functions over it, so the rules read in one place and are tested as a table:
//!
//! - every read (and Watch) needs a role;
//! - reads: a `service` token without an `org` claim (an MCP server's own identity) reads any
//!   org it names (in the request or in `x-org-id`); any token with an `org` claim — a service
//!   token too — reads that org only (and the defaults it inherits), asking for another is
//!   `PERMISSION_DENIED`; an admin without an `org` claim reads everything; other tokens without
//!   an org read the defaults only;
//! - Watch follows the read rules: the events of the orgs the caller may read, and the
//!   defaults'; a stream ends when its token expires;
//! - writes need `editor` or `admin`; a token with an `org` claim writes that org only;
//! - org management needs an `admin` token with no `org` claim;
//! - an `org` claim is a slug or the token is refused: an empty claim never means "no org".
//!
//! In mode `none` every caller is `anonymous` with every right (development only; the
//! configuration refuses it on a non-loopback address).

use std::{
    path::PathBuf,
    sync::{Arc, RwLock},
    time::{Duration, Instant, SystemTime},
};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::{
    config::{AuthMode, ConfigError, JwtAlgorithm, Settings},
    domain::{InvalidInput, OrgFilter, Scope, Slug},
    error::Error,
};

/// What a caller may do, by role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles {
    pub reader: bool,
    pub editor: bool,
    pub admin: bool,
    pub service: bool,
}

impl Roles {
    fn parse(names: &[String]) -> Self {
        let has = |role: &str| names.iter().any(|n| n == role);
        Self {
            reader: has("reader"),
            editor: has("editor"),
            admin: has("admin"),
            service: has("service"),
        }
    }

    const ALL: Roles = Roles {
        reader: true,
        editor: true,
        admin: true,
        service: true,
    };
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject, recorded as the actor of every change.
    pub subject: String,
    /// The org a user token belongs to; `None` for service and global tokens.
    pub org: Option<Slug>,
    pub roles: Roles,
    /// When the token stops being accepted (its `exp` plus the leeway); `None` when
    /// authentication is off. Long-lived streams end then.
    pub expires_at: Option<SystemTime>,
}

impl Principal {
    /// The caller when authentication is off.
    pub fn anonymous() -> Self {
        Self {
            subject: "anonymous".into(),
            org: None,
            roles: Roles::ALL,
            expires_at: None,
        }
    }

    fn may_read_anything(&self) -> bool {
        let roles = self.roles;
        roles.reader || roles.editor || roles.admin || roles.service
    }

    /// Reads every org it names: a service identity or an admin, without an `org` claim.
    fn reads_every_org(&self) -> bool {
        self.org.is_none() && (self.roles.service || self.roles.admin)
    }
}

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

    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
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

fn forbidden(why: impl Into<String>) -> Error {
    Error::Forbidden(why.into())
}

/// The `x-org-id` header: the org a caller that may read several asks for.
pub const ORG_HEADER: axum::http::HeaderName = axum::http::HeaderName::from_static("x-org-id");

/// The org named by the [`ORG_HEADER`] of `headers` (gRPC metadata or an HTTP request's), if any.
pub fn header_org(headers: &axum::http::HeaderMap) -> Result<Option<Scope>, InvalidInput> {
    // By a parsed name: looking a header up by `&str` parses the name on every call.
    match headers.get(&ORG_HEADER) {
        None => Ok(None),
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| InvalidInput::new("x-org-id", "not ASCII"))?;
            Scope::parse_optional("x-org-id", value).map(Some)
        }
    }
}

/// The scope a read is answered for: `requested` (from the request body) or, if empty, the
/// `x-org-id` header's org, as the caller's token allows.
pub fn read_scope(
    principal: &Principal,
    requested: Scope,
    header_org: Option<Scope>,
) -> Result<Scope, Error> {
    if !principal.may_read_anything() {
        return Err(forbidden("the token has no role that may read"));
    }
    let named = match requested {
        Scope::Defaults => header_org.unwrap_or(Scope::Defaults),
        org => org,
    };
    if principal.reads_every_org() {
        return Ok(named);
    }
    match (&principal.org, named) {
        (Some(own), Scope::Defaults) => Ok(Scope::Org(own.clone())),
        (Some(own), Scope::Org(asked)) if *own == asked => Ok(Scope::Org(asked)),
        (Some(own), Scope::Org(asked)) => Err(forbidden(format!(
            "a token of org {own} cannot read org {asked}"
        ))),
        (None, Scope::Defaults) => Ok(Scope::Defaults),
        (None, Scope::Org(asked)) => Err(forbidden(format!(
            "a token without an org cannot read org {asked}"
        ))),
    }
}

/// Whether the caller may look at entries of `scope` through the admin API. Everyone with a
/// role may see the defaults (every org sees them anyway).
pub fn check_read(principal: &Principal, scope: &Scope) -> Result<(), Error> {
    match read_scope(principal, scope.clone(), None)? {
        _ if *scope == Scope::Defaults => Ok(()),
        granted if granted == *scope => Ok(()),
        _ => Err(forbidden(format!(
            "this token cannot read {}",
            scope.as_str()
        ))),
    }
}

/// The orgs whose events a Watch gets, given the orgs it asked for (none: all it may read).
/// The read rules apply: an org-bound token gets its org's events, a token without an org
/// that cannot read every org gets the defaults' events only.
pub fn watch_filter(principal: &Principal, requested: Vec<Slug>) -> Result<OrgFilter, Error> {
    if !principal.may_read_anything() {
        return Err(forbidden("the token has no role that may read"));
    }
    if principal.reads_every_org() {
        return Ok(if requested.is_empty() {
            OrgFilter::Any
        } else {
            OrgFilter::Only(requested)
        });
    }
    match &principal.org {
        Some(own) => match requested.iter().find(|asked| *asked != own) {
            Some(other) => Err(forbidden(format!(
                "a token of org {own} cannot watch org {other}"
            ))),
            None => Ok(OrgFilter::Only(vec![own.clone()])),
        },
        None => match requested.first() {
            Some(asked) => Err(forbidden(format!(
                "a token without an org cannot watch org {asked}"
            ))),
            None => Ok(OrgFilter::Only(Vec::new())),
        },
    }
}

/// Whether the caller may change anything at all: checked before a write's body is read.
pub fn check_may_write(principal: &Principal) -> Result<(), Error> {
    if principal.roles.editor || principal.roles.admin {
        Ok(())
    } else {
        Err(forbidden("writes need the editor or admin role"))
    }
}

/// Whether the caller may change entries of `scope`.
pub fn check_write(principal: &Principal, scope: &Scope) -> Result<(), Error> {
    check_may_write(principal)?;
    match (&principal.org, scope) {
        (None, _) => Ok(()),
        (Some(own), Scope::Org(org)) if own == org => Ok(()),
        (Some(own), Scope::Org(org)) => Err(forbidden(format!(
            "an editor of org {own} cannot change org {org}"
        ))),
        (Some(own), Scope::Defaults) => Err(forbidden(format!(
            "an editor of org {own} cannot change the defaults"
        ))),
    }
}

/// Whether the caller may create orgs, read every org's changes and export everything.
pub fn check_global_admin(principal: &Principal) -> Result<(), Error> {
    if principal.roles.admin && principal.org.is_none() {
        Ok(())
    } else {
        Err(forbidden("this needs an admin token without an org claim"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn org(s: &str) -> Scope {
        Scope::Org(Slug::parse("org", s).unwrap())
    }

    fn principal(org_claim: Option<&str>, roles: &[&str]) -> Principal {
        Principal {
            subject: "u".into(),
            org: org_claim.map(|o| Slug::parse("org", o).unwrap()),
            roles: Roles::parse(&roles.iter().map(|r| r.to_string()).collect::<Vec<_>>()),
            expires_at: None,
        }
    }

    #[test]
    fn reads_follow_the_design() {
        let acme_reader = principal(Some("acme"), &["reader"]);
        assert_eq!(
            read_scope(&acme_reader, Scope::Defaults, None).unwrap(),
            org("acme"),
            "a user reads its own org"
        );
        assert_eq!(
            read_scope(&acme_reader, org("acme"), None).unwrap(),
            org("acme")
        );
        assert!(matches!(
            read_scope(&acme_reader, org("globex"), None),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            read_scope(&acme_reader, Scope::Defaults, Some(org("globex"))),
            Err(Error::Forbidden(_))
        ));

        let acme_server = principal(Some("acme"), &["service"]);
        assert!(
            read_scope(&acme_server, org("globex"), None).is_err(),
            "a service token with an org claim is held to that org"
        );
        assert_eq!(
            read_scope(&acme_server, Scope::Defaults, None).unwrap(),
            org("acme")
        );

        let mcp_server = principal(None, &["service"]);
        assert_eq!(
            read_scope(&mcp_server, org("globex"), None).unwrap(),
            org("globex")
        );
        assert_eq!(
            read_scope(&mcp_server, Scope::Defaults, Some(org("acme"))).unwrap(),
            org("acme"),
            "x-org-id"
        );
        assert_eq!(
            read_scope(&mcp_server, Scope::Defaults, None).unwrap(),
            Scope::Defaults,
            "no org: defaults"
        );

        let orgless = principal(None, &["reader"]);
        assert_eq!(
            read_scope(&orgless, Scope::Defaults, None).unwrap(),
            Scope::Defaults
        );
        assert!(read_scope(&orgless, org("acme"), None).is_err());
        assert!(
            read_scope(&principal(Some("acme"), &[]), Scope::Defaults, None).is_err(),
            "no role, no read"
        );
    }

    #[test]
    fn watch_follows_the_read_rules() {
        let slug = |s: &str| Slug::parse("org", s).unwrap();
        let only = |orgs: &[&str]| OrgFilter::Only(orgs.iter().map(|o| slug(o)).collect());
        assert!(
            watch_filter(&principal(None, &[]), vec![]).is_err(),
            "no role, no events"
        );
        assert!(watch_filter(&principal(Some("acme"), &[]), vec![]).is_err());
        assert_eq!(
            watch_filter(&principal(None, &["reader"]), vec![]).unwrap(),
            only(&[]),
            "an orgless reader gets the defaults' events only"
        );
        assert!(watch_filter(&principal(None, &["editor"]), vec![slug("acme")]).is_err());
        assert_eq!(
            watch_filter(&principal(Some("acme"), &["reader"]), vec![]).unwrap(),
            only(&["acme"])
        );
        assert!(
            watch_filter(&principal(Some("acme"), &["service"]), vec![slug("globex")]).is_err()
        );
        assert_eq!(
            watch_filter(&principal(None, &["service"]), vec![]).unwrap(),
            OrgFilter::Any
        );
        assert_eq!(
            watch_filter(&principal(None, &["admin"]), vec![slug("globex")]).unwrap(),
            only(&["globex"])
        );
    }

    #[test]
    fn writes_need_an_editor_of_that_org() {
        let acme_editor = principal(Some("acme"), &["editor"]);
        assert!(check_write(&acme_editor, &org("acme")).is_ok());
        assert!(check_write(&acme_editor, &org("globex")).is_err());
        assert!(check_write(&acme_editor, &Scope::Defaults).is_err());
        assert!(check_write(&principal(Some("acme"), &["reader"]), &org("acme")).is_err());
        assert!(check_write(&principal(None, &["service"]), &org("acme")).is_err());
        assert!(check_write(&principal(None, &["admin"]), &Scope::Defaults).is_ok());
        assert!(check_global_admin(&principal(None, &["admin"])).is_ok());
        assert!(check_global_admin(&principal(Some("acme"), &["admin"])).is_err());
        assert!(check_global_admin(&principal(None, &["editor"])).is_err());
    }
}
