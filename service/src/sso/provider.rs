//! The OpenID provider as this service knows it: its discovery document, the client built on
//! it, and the HTTP client that talks to it (no redirects followed, every call bounded).

use std::time::Duration;

use openidconnect::{
    AdditionalClaims, Client, ClientId, ClientSecret, EmptyExtraTokenFields, EndSessionUrl,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl, RedirectUrl,
    StandardErrorResponse, StandardTokenResponse,
    core::{
        CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
        CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreRevocableToken,
        CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
    },
};
use serde::{Deserialize, Serialize};

/// Every claim of an ID token beyond the standard ones, kept as sent: which of them name the
/// org, the roles and the groups is configuration ([`super::claims::ClaimRules`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtherClaims {
    #[serde(flatten)]
    pub claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

type TokenFields = IdTokenFields<
    OtherClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

pub type TokenResponse = StandardTokenResponse<TokenFields, CoreTokenType>;

pub type IdToken = openidconnect::IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// The client as built from discovery: authorization endpoint known, token endpoint checked
/// when used.
pub type OidcClient = Client<
    OtherClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    TokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A discovered provider.
pub struct Provider {
    pub client: OidcClient,
    /// Where the provider ends its own session (RP-initiated logout), if it says.
    pub end_session: Option<EndSessionUrl>,
}

/// How long one call to the provider may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP client for the provider: redirects are not followed (a provider answers its
/// endpoints directly; following one would let a redirect point the service elsewhere).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(CALL_TIMEOUT)
        .build()
        .expect("the TLS backend initialises")
}

/// Reads the issuer's discovery document and keys and builds the client.
pub async fn discover(
    http: &reqwest::Client,
    issuer: &IssuerUrl,
    client_id: &ClientId,
    client_secret: Option<&ClientSecret>,
    redirect: &RedirectUrl,
) -> Result<Provider, String> {
    let metadata = openidconnect::ProviderMetadataWithLogout::discover_async(issuer.clone(), http)
        .await
        .map_err(|e| format!("discovery of {} failed: {}", issuer.as_str(), chain(&e)))?;
    let end_session = metadata.additional_metadata().end_session_endpoint.clone();
    let client =
        OidcClient::from_provider_metadata(metadata, client_id.clone(), client_secret.cloned())
            .set_redirect_uri(redirect.clone());
    Ok(Provider {
        client,
        end_session,
    })
}

/// An error with its causes, as one line.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
