//! Single sign-on to the web UI with OpenID Connect: the authorization code flow with PKCE,
//! `state` and `nonce`, and the sessions it opens.
//!
//! - A sign-in under way is a row keyed by the hash of its `state`, holding the nonce and the
//!   PKCE verifier; the callback takes (deletes) it, so a state and the code that comes back
//!   with it are good once, on whichever replica the browser reaches.
//! - The state also sits in a short-lived cookie of the browser that started the sign-in; a
//!   callback whose state is not that browser's is refused (nobody can sign a victim in as
//!   themselves by sending them a callback link).
//! - The ID token is verified by `openidconnect` (signature by the provider's keys, issuer,
//!   audience = this client, expiry, nonce); its claims map to rights by [`ClaimRules`].
//! - A session is a random id in a cookie, a row keyed by its hash; a new one at every sign-in;
//!   sign-out deletes it and, where the provider supports it, ends the provider's session too.
//! - The provider is discovered in the background: an unreachable or misconfigured provider is
//!   logged and shown on the sign-in page, and never holds up the gRPC port or the admin API.

mod claims;
mod config;
mod provider;

use std::{
    str::FromStr,
    sync::{Arc, RwLock},
    time::{Duration, SystemTime},
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, CsrfToken, LogoutRequest,
    Nonce, PkceCodeChallenge, PkceCodeVerifier, RequestTokenError, core::CoreResponseType,
};
use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;
use url::Url;

pub use claims::{ClaimRules, Grant};
pub use config::SsoConfig;
use provider::{IdToken, Provider, chain};

use crate::{
    auth::{Principal, Roles},
    domain::Slug,
    error::Error,
    store::{SignInAttempt, Store, UiSession, millis, now_ms},
};

/// The path of the callback, which the configured redirect URL must end in.
pub const CALLBACK_PATH: &str = "/ui/login/oidc/callback";

/// How long a sign-in may take at the provider.
pub const ATTEMPT_LIFETIME: Duration = Duration::from_secs(600);

/// Most sign-ins kept under way at once (all replicas): a new one beyond it evicts the oldest,
/// so opening the start page in a loop fills no table and locks nobody out (at worst a
/// person's sign-in is evicted and started again).
const MOST_ATTEMPTS: i64 = 10_000;

/// How often a discovered provider is read again (its signing keys rotate).
const REDISCOVER: Duration = Duration::from_secs(3600);

/// The longest wait between discovery attempts while the provider does not answer.
const LONGEST_RETRY: Duration = Duration::from_secs(60);

/// Why a sign-in did not happen; each is said to the person on the sign-in page.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The provider is not (yet) discovered or does not answer (the cause is logged, not
    /// shown: it may name internal hosts).
    #[error("single sign-on is unavailable: {0}")]
    Unavailable(String),
    /// The callback does not finish a sign-in this browser started, or the provider's answer
    /// does not hold up.
    #[error("sign-in refused: {0}")]
    Refused(String),
    /// Signed in at the provider, but the claims grant no role here.
    #[error("{0}")]
    NoRole(String),
    #[error(transparent)]
    Store(#[from] Error),
}

impl From<crate::store::StoreError> for SsoError {
    fn from(error: crate::store::StoreError) -> Self {
        SsoError::Store(error.into())
    }
}

/// What discovery has found so far.
enum Discovery {
    Pending,
    Ready(Arc<Provider>),
    /// Not found; the cause is logged.
    Failed,
}

/// Single sign-on: cheap to clone.
#[derive(Clone)]
pub struct Sso {
    config: Arc<SsoConfig>,
    store: Store,
    http: reqwest::Client,
    discovery: Arc<RwLock<Discovery>>,
    /// Asks the discovery loop to try again now (someone wants to sign in).
    retry_now: Arc<tokio::sync::Notify>,
}

/// A sign-in's start: where to send the browser, and the state its cookie keeps.
pub struct Started {
    pub authorize_url: Url,
    pub state: String,
}

/// The provider's answer at the callback, as the browser brings it.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// A session just opened: the id its cookie carries, who it is for, and for how long.
pub struct Opened {
    pub id: String,
    pub principal: Principal,
    pub lifetime: Duration,
}

impl Sso {
    pub fn new(config: SsoConfig, store: Store) -> Self {
        Self {
            config: Arc::new(config),
            store,
            http: provider::http_client(),
            discovery: Arc::new(RwLock::new(Discovery::Pending)),
            retry_now: Arc::new(tokio::sync::Notify::new()),
        }
    }

    pub fn config(&self) -> &SsoConfig {
        &self.config
    }

    /// Discovers the provider until it answers, then again every hour (keys rotate), until
    /// `stop`. A failure is logged with its cause; a provider found before is kept meanwhile.
    pub async fn discover_until_stopped(self, stop: CancellationToken) {
        let mut retry = Duration::from_secs(1);
        loop {
            let config = &self.config;
            let discovering = provider::discover(
                &self.http,
                &config.issuer,
                &config.client_id,
                config.client_secret.as_ref(),
                &config.redirect,
            );
            let found = tokio::select! {
                () = stop.cancelled() => return,
                found = discovering => found,
            };
            let wait = match found {
                Ok(provider) => {
                    tracing::info!(
                        issuer = config.issuer.as_str(),
                        "OpenID provider discovered"
                    );
                    *self.discovery.write().expect("discovery lock") =
                        Discovery::Ready(Arc::new(provider));
                    retry = Duration::from_secs(1);
                    REDISCOVER
                }
                Err(error) => {
                    tracing::error!(
                        %error,
                        "single sign-on is unavailable until the OpenID provider answers \
                         (token sign-in, gRPC and the admin API are not affected)"
                    );
                    let mut discovery = self.discovery.write().expect("discovery lock");
                    if !matches!(*discovery, Discovery::Ready(_)) {
                        *discovery = Discovery::Failed;
                    }
                    let wait = retry;
                    retry = (retry * 2).min(LONGEST_RETRY);
                    wait
                }
            };
            let asked = async {
                self.retry_now.notified().await;
                // However often people ask, the provider is asked at most this often.
                tokio::time::sleep(Duration::from_secs(1)).await;
            };
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(wait) => {}
                () = asked => {}
            }
        }
    }

    /// Why single sign-on cannot be used now, if it cannot (for the sign-in page).
    pub fn unavailable(&self) -> Option<SsoError> {
        self.ready().err()
    }

    fn ready(&self) -> Result<Arc<Provider>, SsoError> {
        match &*self.discovery.read().expect("discovery lock") {
            Discovery::Ready(provider) => Ok(provider.clone()),
            Discovery::Pending => Err(SsoError::Unavailable(
                "the identity provider has not been reached yet; try again in a moment".into(),
            )),
            Discovery::Failed => Err(SsoError::Unavailable(
                "the identity provider cannot be reached; the service's log says why".into(),
            )),
        }
    }

    /// The provider for a sign-in; when there is none, discovery is tried again at once (a
    /// provider back up is used without waiting out the backoff).
    fn provider(&self) -> Result<Arc<Provider>, SsoError> {
        self.ready().inspect_err(|_| self.retry_now.notify_one())
    }

    /// Starts a sign-in: records its nonce and PKCE verifier under its state.
    pub async fn begin(&self) -> Result<Started, SsoError> {
        let provider = self.provider()?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (authorize_url, state, nonce) = provider
            .client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scopes(self.config.scopes.iter().cloned())
            .set_pkce_challenge(challenge)
            .url();
        let now = now_ms();
        let state_hash = digest(state.secret());
        let attempt = SignInAttempt {
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            expires_at: now + millis(ATTEMPT_LIFETIME),
        };
        self.store
            .begin_sign_in(&state_hash, &attempt, now, MOST_ATTEMPTS)
            .await?;
        Ok(Started {
            authorize_url,
            state: state.secret().clone(),
        })
    }

    /// Finishes a sign-in at the callback: `started` is the state this browser's cookie kept.
    pub async fn finish(
        &self,
        callback: Callback,
        started: Option<&str>,
    ) -> Result<Opened, SsoError> {
        let refused = |why: &str| SsoError::Refused(why.to_owned());
        let ours = callback.state.is_some() && callback.state.as_deref() == started;
        let not_ours = || {
            refused(
                "this sign-in was not started in this browser (its state is not the one this browser was given); start again",
            )
        };
        if let Some(error) = callback.error {
            // The provider's refusal of this browser's sign-in is said as it is (and uses the
            // sign-in up); anyone else's text is not shown on this site's page.
            let Some(state) = callback.state.as_deref().filter(|_| ours) else {
                return Err(not_ours());
            };
            self.store.take_sign_in(&digest(state)).await?;
            let detail = callback
                .error_description
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            return Err(SsoError::Refused(format!(
                "the identity provider answered {error}{detail}"
            )));
        }
        let state = callback
            .state
            .ok_or_else(|| refused("the identity provider's answer has no state"))?;
        if !ours {
            return Err(not_ours());
        }
        // Taken before anything else is looked at: a state is good for one try.
        let attempt = self
            .store
            .take_sign_in(&digest(&state))
            .await?
            .ok_or_else(|| refused("this sign-in is unknown or was already used; start again"))?;
        if attempt.expires_at <= now_ms() {
            return Err(refused(
                "this sign-in took longer than 10 minutes; start again",
            ));
        }
        let code = callback
            .code
            .ok_or_else(|| refused("the identity provider's answer has no code"))?;
        let provider = self.provider()?;
        let tokens = provider
            .client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|e| SsoError::Unavailable(chain(&e)))?
            .set_pkce_verifier(PkceCodeVerifier::new(attempt.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %chain(&e), "the identity provider did not exchange a code");
                match e {
                    // Its own refusal (`invalid_grant`, `invalid_client`): the code names it.
                    RequestTokenError::ServerResponse(answer) => SsoError::Refused(format!(
                        "the identity provider did not exchange the code ({})",
                        answer.error()
                    )),
                    _ => SsoError::Unavailable(
                        "the identity provider did not answer the code's exchange; the service's log says why"
                            .into(),
                    ),
                }
            })?;
        let id_token = tokens
            .extra_fields()
            .id_token()
            .ok_or_else(|| refused("the identity provider sent no ID token"))?;
        let verified = id_token
            .claims(
                &provider.client.id_token_verifier(),
                &Nonce::new(attempt.nonce),
            )
            .map_err(|e| {
                if matches!(e, ClaimsVerificationError::SignatureVerification(_)) {
                    // Perhaps the provider rotated its keys: read them again.
                    self.retry_now.notify_one();
                }
                SsoError::Refused(format!("the ID token is not valid: {}", chain(&e)))
            })?;
        let claims = match serde_json::to_value(verified) {
            Ok(serde_json::Value::Object(claims)) => claims,
            _ => return Err(refused("the ID token's claims are not an object")),
        };
        let grant = self.config.rules.grant(&claims).map_err(SsoError::NoRole)?;
        self.open(grant, id_token).await
    }

    /// Opens a session for `grant` under a new random id.
    async fn open(&self, grant: Grant, id_token: &IdToken) -> Result<Opened, SsoError> {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let id = URL_SAFE_NO_PAD.encode(bytes);
        let now = now_ms();
        let lifetime = self.config.session_lifetime;
        let session = UiSession {
            subject: grant.subject.clone(),
            org: grant.org.as_ref().map(|o| o.as_str().to_owned()),
            roles: grant.roles.names().join(" "),
            id_token: id_token.to_string(),
            expires_at: now + millis(lifetime),
        };
        self.store
            .open_ui_session(&digest(&id), &session, now)
            .await?;
        Ok(Opened {
            id,
            principal: principal(&session)?,
            lifetime,
        })
    }

    /// The principal of a session cookie's id, if the session is open.
    pub async fn session(&self, id: &str) -> Result<Option<Principal>, Error> {
        match self.store.ui_session(&digest(id), now_ms()).await? {
            Some(session) => Ok(Some(principal(&session)?)),
            None => Ok(None),
        }
    }

    /// Ends a session; answers where to send the browser to end the provider's session too
    /// (when the provider supports it).
    pub async fn sign_out(&self, id: &str) -> Result<Option<Url>, Error> {
        let Some(session) = self.store.close_ui_session(&digest(id)).await? else {
            return Ok(None);
        };
        let Ok(provider) = self.provider() else {
            return Ok(None);
        };
        let Some(end_session) = provider.end_session.clone() else {
            return Ok(None);
        };
        let mut logout = LogoutRequest::from(end_session)
            .set_client_id(self.config.client_id.clone())
            .set_post_logout_redirect_uri(self.config.post_logout.clone());
        if let Ok(id_token) = IdToken::from_str(&session.id_token) {
            logout = logout.set_id_token_hint(&id_token);
        }
        Ok(Some(logout.http_get_url()))
    }
}

/// The principal a stored session stands for.
fn principal(session: &UiSession) -> Result<Principal, Error> {
    let org = session
        .org
        .as_deref()
        .map(|org| Slug::parse("org", org))
        .transpose()?;
    let names: Vec<String> = session.roles.split(' ').map(str::to_owned).collect();
    Ok(Principal {
        subject: session.subject.clone(),
        org,
        roles: Roles::parse(&names),
        expires_at: Some(
            SystemTime::UNIX_EPOCH + Duration::from_millis(session.expires_at.max(0) as u64),
        ),
    })
}

/// What is stored in place of a secret the browser holds.
fn digest(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}
