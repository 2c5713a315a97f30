//! Credentials in settings kept out of logs, `config print` and `Debug` output.
//!
//! The drivers take credentials in more places than the userinfo of a URL: PostgreSQL reads
//! `?password=` (and `sslpassword=`), fred reads `sentinelPassword=`, an OTLP collector URL may
//! carry userinfo. So a URL is redacted by parsing it: the password of its userinfo and the
//! value of every query parameter whose name says it holds a credential are masked. A URL that
//! does not parse is not shown at all.

use url::Url;

const MASK: &str = "***";

/// Words in a query parameter's name that mark its value as a credential.
const CREDENTIAL_WORDS: [&str; 5] = ["pass", "secret", "token", "key", "auth"];

/// `url` with its credentials masked, for showing.
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = Url::parse(url) else {
        return "(an unparseable URL, not shown)".to_owned();
    };
    if parsed.password().is_some() {
        // Only fails for URLs that cannot have credentials, which then have none.
        let _ = parsed.set_password(Some(MASK));
    }
    if parsed.query().is_some() {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let lowered = name.to_lowercase();
                let value = if CREDENTIAL_WORDS.iter().any(|w| lowered.contains(w)) {
                    MASK.to_owned()
                } else {
                    value.into_owned()
                };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string().replace("%2A%2A%2A", MASK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_credential_form_the_drivers_accept_is_masked() {
        for (url, secret) in [
            ("postgres://app:hunter2@db:5432/config", "hunter2"),
            (
                "postgres://app@db/config?password=hunter2&sslmode=require",
                "hunter2",
            ),
            ("postgres://app@db/config?sslpassword=hunter2", "hunter2"),
            ("sqlite://mcp-config.db?key=hunter2", "hunter2"),
            (
                "redis-sentinel://:hunter2@s1:26379/mymaster?sentinelPassword=s3cret",
                "s3cret",
            ),
            (
                "redis-sentinel://:hunter2@s1:26379/mymaster?sentinelPassword=s3cret",
                "hunter2",
            ),
            ("rediss://default:hunter2@cache:6380", "hunter2"),
            ("http://collector:hunter2@otel:4317", "hunter2"),
            ("https://otel:4317/v1?api_token=hunter2", "hunter2"),
        ] {
            let shown = redact_url(url);
            assert!(!shown.contains(secret), "{url} shown as {shown}");
            assert!(shown.contains(MASK), "{shown}");
        }
        assert_eq!(
            redact_url("postgres://app@db/config?sslmode=require"),
            "postgres://app@db/config?sslmode=require",
            "nothing secret, nothing changed"
        );
        assert!(!redact_url("not a url with hunter2").contains("hunter2"));
    }
}
