//! Single sign-on's settings, checked together: a configuration that cannot work is refused
//! at start-up with the variable to fix.

use std::time::Duration;

use openidconnect::{ClientId, ClientSecret, IssuerUrl, PostLogoutRedirectUrl, RedirectUrl, Scope};
use secrecy::ExposeSecret;
use url::Url;

use super::{CALLBACK_PATH, ClaimRules};
use crate::config::{ConfigError, Settings};

/// Single sign-on as configured.
#[derive(Clone)]
pub struct SsoConfig {
    pub(super) issuer: IssuerUrl,
    pub(super) client_id: ClientId,
    pub(super) client_secret: Option<ClientSecret>,
    pub(super) redirect: RedirectUrl,
    pub(super) post_logout: PostLogoutRedirectUrl,
    pub(super) scopes: Vec<Scope>,
    pub(super) rules: ClaimRules,
    pub(super) session_lifetime: Duration,
    /// The provider's name, on the sign-in button.
    pub name: String,
    /// Whether browsers reach the service over https (its cookies are then `Secure`).
    pub https: bool,
}

impl SsoConfig {
    /// Single sign-on's settings, checked; `None` when no issuer is set.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, ConfigError> {
        let oidc = &settings.oidc;
        let Some(issuer) = &oidc.oidc_issuer else {
            return Ok(None);
        };
        let bad = |what: String| ConfigError(what);
        if settings.access.auth != crate::config::AuthMode::Jwt {
            return Err(bad(
                "MCP_CONFIG_OIDC_ISSUER needs MCP_CONFIG_AUTH=jwt (with auth none nobody signs in)"
                    .into(),
            ));
        }
        let issuer = IssuerUrl::new(issuer.clone())
            .map_err(|e| bad(format!("MCP_CONFIG_OIDC_ISSUER {issuer:?}: {e}")))?;
        let client_id = oidc
            .oidc_client_id
            .clone()
            .ok_or_else(|| bad("MCP_CONFIG_OIDC_ISSUER needs MCP_CONFIG_OIDC_CLIENT_ID".into()))?;
        let redirect_text = oidc.oidc_redirect_url.clone().ok_or_else(|| {
            bad(format!(
                "MCP_CONFIG_OIDC_ISSUER needs MCP_CONFIG_OIDC_REDIRECT_URL (https://<this service>{CALLBACK_PATH})"
            ))
        })?;
        let redirect = Url::parse(&redirect_text).map_err(|e| {
            bad(format!(
                "MCP_CONFIG_OIDC_REDIRECT_URL {redirect_text:?}: {e}"
            ))
        })?;
        if redirect.path() != CALLBACK_PATH || !matches!(redirect.scheme(), "http" | "https") {
            return Err(bad(format!(
                "MCP_CONFIG_OIDC_REDIRECT_URL {redirect_text:?} must be http(s)://<this service>{CALLBACK_PATH}"
            )));
        }
        let mut login = redirect.clone();
        login.set_path("/ui/login");
        login.set_query(None);
        let rules = ClaimRules::new(
            &oidc.oidc_subject_claim,
            &oidc.oidc_org_claim,
            &oidc.oidc_roles_claim,
            &oidc.oidc_groups_claim,
            &oidc.oidc_group_roles,
            &oidc.oidc_global_groups,
        )?;
        let scopes = oidc
            .oidc_scopes
            .iter()
            .map(|s| s.trim())
            .filter(|s| !s.is_empty() && *s != "openid")
            .map(|s| Scope::new(s.to_owned()))
            .collect();
        Ok(Some(Self {
            issuer,
            client_id: ClientId::new(client_id),
            client_secret: oidc
                .oidc_client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose_secret().to_owned())),
            https: redirect.scheme() == "https",
            redirect: RedirectUrl::from_url(redirect),
            post_logout: PostLogoutRedirectUrl::from_url(login),
            scopes,
            rules,
            session_lifetime: Duration::from_secs(oidc.oidc_session_hours * 3600),
            name: oidc.oidc_name.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::config::tests::Cli;

    fn checked(extra: &[&str]) -> Result<Option<SsoConfig>, ConfigError> {
        let base = [
            "mcp-config",
            "--auth=jwt",
            "--jwt-secret=0123456789abcdef0123456789abcdef",
            "--oidc-issuer=https://idp.example.com",
            "--oidc-client-id=mcp-config",
        ];
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        SsoConfig::from_settings(&Cli::parse_from(args).settings)
    }

    fn refused(extra: &[&str]) -> String {
        checked(extra).err().expect("refused").to_string()
    }

    #[test]
    fn single_sign_on_settings_are_checked_together() {
        assert!(refused(&[]).contains("needs MCP_CONFIG_OIDC_REDIRECT_URL"));
        assert!(
            refused(&["--oidc-redirect-url=https://config.example.com/callback"])
                .contains("must be http(s)://<this service>/ui/login/oidc/callback")
        );
        let good = "--oidc-redirect-url=https://config.example.com/ui/login/oidc/callback";
        assert!(
            refused(&[good, "--oidc-group-role=admins"]).contains("MCP_CONFIG_OIDC_GROUP_ROLES")
        );
        let config = checked(&[good]).unwrap().unwrap();
        assert!(config.https, "an https callback makes the cookies Secure");

        let without_jwt = Cli::parse_from([
            "mcp-config",
            "--oidc-issuer=https://idp.example.com",
            "--oidc-client-id=mcp-config",
            good,
        ])
        .settings;
        let err = SsoConfig::from_settings(&without_jwt)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("needs MCP_CONFIG_AUTH=jwt"), "{err}");
        let unset = Cli::parse_from(["mcp-config"]).settings;
        assert!(SsoConfig::from_settings(&unset).unwrap().is_none());
    }
}
