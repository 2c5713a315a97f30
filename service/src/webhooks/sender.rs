//! Sends one attempt of a delivery: signed by the Standard Webhooks scheme, never following a
//! redirect, bounded in time, and — unless the service allows private addresses — only to
//! public addresses, checked on every resolution (a name that resolves to a private address is
//! refused when it is used, not only when it was registered).

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::{
    domain::{check_url, is_public},
    store::{Claimed, WebhookRow, now_ms},
};

/// What one attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempted {
    /// The HTTP status; `None` when no answer came.
    pub status: Option<u16>,
    /// Why no (good) answer came, for the delivery log; never the response body.
    pub error: String,
    pub took: Duration,
}

#[derive(Clone)]
pub struct Sender {
    client: reqwest::Client,
    allow_private: bool,
}

impl Sender {
    pub fn new(timeout: Duration, allow_private: bool) -> Self {
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            // A proxy from the environment would resolve the name itself, past the check.
            .no_proxy()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(concat!("mcp-config-webhooks/", env!("CARGO_PKG_VERSION")));
        if !allow_private {
            builder = builder.dns_resolver(Arc::new(PublicOnly));
        }
        Self {
            client: builder.build().expect("a webhook HTTP client"),
            allow_private,
        }
    }

    /// Sends attempt `claimed.attempt` of a delivery to `hook`, taking at most `budget` (what
    /// is left of the claim's lease, so another replica never re-claims it mid-send).
    pub async fn send(&self, hook: &WebhookRow, claimed: &Claimed, budget: Duration) -> Attempted {
        let started = Instant::now();
        let failed = |error: String| Attempted {
            status: None,
            error,
            took: started.elapsed(),
        };
        // A literal address never reaches the resolver: checked here, each time.
        let url = match check_url("url", &hook.url, self.allow_private) {
            Ok(url) => url,
            Err(e) => return failed(e.to_string()),
        };
        let timestamp = now_ms() / 1000;
        let signature = match signature(hook, &claimed.id, timestamp, &claimed.payload) {
            Ok(signature) => signature,
            Err(e) => return failed(format!("cannot sign: {e}")),
        };
        let sent = self
            .client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &claimed.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .timeout(budget)
            .body(claimed.payload.clone())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                Attempted {
                    status: Some(status.as_u16()),
                    error: if status.is_success() {
                        String::new()
                    } else if status.is_redirection() {
                        "a redirect, not followed".into()
                    } else {
                        format!("answered {status}")
                    },
                    took: started.elapsed(),
                }
            }
            Err(e) => failed(describe(&e)),
        }
    }
}

/// `v1,<signature>` with the current secret, and with the previous one during a rotation.
fn signature(
    hook: &WebhookRow,
    id: &str,
    timestamp: i64,
    payload: &str,
) -> Result<String, standardwebhooks::WebhookError> {
    let mut secrets = vec![hook.secret.as_str()];
    if !hook.previous_secret.is_empty() && hook.previous_until > now_ms() {
        secrets.push(hook.previous_secret.as_str());
    }
    let signatures = secrets
        .into_iter()
        .map(|secret| {
            standardwebhooks::Webhook::new(secret)?.sign(id, timestamp, payload.as_bytes())
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(signatures.join(" "))
}

/// A transport error as the log shows it: its kind and cause, without the URL (it is the
/// endpoint's, shown next to it).
fn describe(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    let mut cause = String::new();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    if cause.is_empty() {
        kind.to_owned()
    } else {
        format!("{kind}: {cause}")
    }
}

/// Resolves names to their public addresses only; a name with none is an error.
struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> =
                resolved.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(format!(
                    "{host} resolves only to private, loopback or link-local addresses"
                )
                .into());
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Scope;

    #[test]
    fn a_rotation_signs_with_both_secrets_until_the_old_one_expires() {
        let current = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let previous = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let mut hook = WebhookRow {
            id: "wh_1".into(),
            scope: Scope::Defaults,
            url: "https://hooks.example.com/".into(),
            description: String::new(),
            events: Vec::new(),
            secret: current.into(),
            previous_secret: previous.into(),
            previous_until: now_ms() + 60_000,
            enabled: true,
            disabled_reason: String::new(),
            since_revision: 0,
            created_at: 0,
            created_by: String::new(),
        };
        let now = now_ms() / 1000;
        let both = signature(&hook, "msg_1", now, "{}").unwrap();
        assert_eq!(both.split(' ').count(), 2);
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("webhook-id", "msg_1".parse().unwrap());
        headers.insert("webhook-timestamp", now.to_string().parse().unwrap());
        headers.insert("webhook-signature", both.parse().unwrap());
        for secret in [current, previous] {
            let receiver = standardwebhooks::Webhook::new(secret).unwrap();
            assert!(receiver.verify(b"{}", &headers).is_ok(), "{secret}");
        }
        hook.previous_until = now_ms() - 1;
        assert_eq!(
            signature(&hook, "msg_1", 1_700_000_000, "{}")
                .unwrap()
                .split(' ')
                .count(),
            1
        );
    }
}
