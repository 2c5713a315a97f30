//! Change webhooks, the pure part: which event a change is, what an endpoint subscribes to,
//! where a delivery may go, what an answer means, and when the next attempt is due.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::InvalidInput;

/// What a delivery announces (its payload's `type`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
pub enum EventType {
    /// Entries were saved, hidden, shown, activated, deactivated, deleted, rolled back or
    /// imported.
    #[serde(rename = "entries.changed")]
    EntriesChanged,
    /// A release label moved (a promotion or a move back), or a scope's release policy changed.
    #[serde(rename = "label.moved")]
    LabelMoved,
    /// A rollout started, changed its cohort, completed or was aborted.
    #[serde(rename = "rollout.changed")]
    RolloutChanged,
    /// A change request was opened, edited, submitted, approved, rejected, commented on,
    /// scheduled, unscheduled, applied or cancelled.
    #[serde(rename = "change_request.updated")]
    ChangeRequestUpdated,
    /// A test ping an admin sent.
    #[serde(rename = "webhook.ping")]
    Ping,
}

impl EventType {
    pub const ALL: [EventType; 5] = [
        EventType::EntriesChanged,
        EventType::LabelMoved,
        EventType::RolloutChanged,
        EventType::ChangeRequestUpdated,
        EventType::Ping,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::EntriesChanged => "entries.changed",
            EventType::LabelMoved => "label.moved",
            EventType::RolloutChanged => "rollout.changed",
            EventType::ChangeRequestUpdated => "change_request.updated",
            EventType::Ping => "webhook.ping",
        }
    }

    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidInput> {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == value)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|e| e.as_str()).collect();
                InvalidInput::new(
                    field,
                    format!("unknown event type {value:?}; one of {}", known.join(", ")),
                )
            })
    }
}

/// The event types an endpoint wants; empty: all of them (a ping always goes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscription(pub Vec<EventType>);

impl Subscription {
    pub fn wants(&self, event: EventType) -> bool {
        event == EventType::Ping || self.0.is_empty() || self.0.contains(&event)
    }
}

/// What an endpoint's answer to an attempt means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx: delivered.
    Delivered,
    /// 410 Gone: the receiver asks never to be sent anything again; the endpoint is disabled.
    Gone,
    /// Anything else (another status, a redirect, which is never followed, no answer): try
    /// again on the schedule.
    Retry,
}

impl Outcome {
    pub fn of(status: Option<u16>) -> Self {
        match status {
            Some(200..=299) => Outcome::Delivered,
            Some(410) => Outcome::Gone,
            _ => Outcome::Retry,
        }
    }
}

/// The waits between attempts: the first attempt goes at once, attempt `n + 1` waits
/// `delays[n - 1]` after attempt `n` fails; when they run out the delivery has failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetrySchedule(pub Vec<Duration>);

impl RetrySchedule {
    /// When the attempt after `attempts` failed ones is due, or `None`: no attempt is left.
    pub fn after(&self, attempts: u32) -> Option<Duration> {
        let index = usize::try_from(attempts).ok()?.checked_sub(1)?;
        self.0.get(index).copied()
    }

    /// Parses `5s,5m,30m,2h`: humantime durations, comma-separated.
    pub fn parse(field: &str, text: &str) -> Result<Self, InvalidInput> {
        text.split(',')
            .map(|part| {
                humantime::parse_duration(part.trim())
                    .map_err(|e| InvalidInput::new(field, format!("{part:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }
}

/// Checks an endpoint's URL as given by an admin: `http` or `https`, a host, no credentials;
/// a literal address must be public unless `allow_private`. (A name is checked each time it
/// is resolved, by the sender.)
pub fn check_url(field: &str, text: &str, allow_private: bool) -> Result<url::Url, InvalidInput> {
    let url = url::Url::parse(text).map_err(|e| InvalidInput::new(field, e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(InvalidInput::new(field, "must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(InvalidInput::new(field, "must not carry credentials"));
    }
    let literal = match url.host() {
        None => return Err(InvalidInput::new(field, "must name a host")),
        Some(url::Host::Domain(_)) => None,
        Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
    };
    if let Some(ip) = literal
        && !allow_private
        && !is_public(ip)
    {
        return Err(InvalidInput::new(
            field,
            format!(
                "{ip} is a private, loopback or link-local address (refused unless the service allows private webhook addresses)"
            ),
        ));
    }
    Ok(url)
}

/// Whether a delivery may go to `ip` when private addresses are not allowed: not loopback,
/// private, link-local (cloud metadata lives there), unspecified, shared, reserved, multicast
/// or broadcast; in IPv6 only global unicast (`2000::/3`), and an IPv4 address carried in an
/// IPv6 one (mapped, compatible, NAT64, 6to4) is judged as that IPv4 address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let shared = a == 100 && (64..128).contains(&b);
    let ietf = a == 192 && b == 0 && c == 0;
    let benchmarking = a == 198 && (b == 18 || b == 19);
    let reserved = a >= 240;
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || shared
        || ietf
        || benchmarking
        || reserved
        || a == 0)
}

/// The IPv4 address an IPv6 one carries: mapped (`::ffff:a.b.c.d`), compatible (`::a.b.c.d`),
/// NAT64 (`64:ff9b::/96`, `64:ff9b:1::/48`) or 6to4 (`2002:AABB:CCDD::/48`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let last = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    match s {
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(last(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(last(hi, lo)),
        [0x64, 0xff9b, 1, ..] => Some(last(s[6], s[7])),
        [0x2002, hi, lo, ..] => Some(last(hi, lo)),
        _ => None,
    }
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    // Global unicast only: ULA, link- and site-local, multicast, loopback, unspecified and
    // the other special ranges are all outside it.
    let global_unicast = (ip.segments()[0] & 0xe000) == 0x2000;
    let documentation = ip.segments()[..2] == [0x2001, 0xdb8];
    global_unicast && !documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schedule_spaces_attempts_then_runs_out() {
        let schedule = RetrySchedule::parse("delays", "5s, 5m,2h").unwrap();
        assert_eq!(schedule.after(1), Some(Duration::from_secs(5)));
        assert_eq!(schedule.after(3), Some(Duration::from_secs(7200)));
        assert_eq!(
            schedule.after(4),
            None,
            "four attempts: the last one failed"
        );
        assert_eq!(
            RetrySchedule::parse("delays", "5s,soon").unwrap_err().field,
            "delays"
        );
    }

    #[test]
    fn answers_mean_delivered_gone_or_retry() {
        assert_eq!(Outcome::of(Some(204)), Outcome::Delivered);
        assert_eq!(Outcome::of(Some(410)), Outcome::Gone);
        assert_eq!(
            Outcome::of(Some(302)),
            Outcome::Retry,
            "a redirect is not followed"
        );
        assert_eq!(Outcome::of(Some(500)), Outcome::Retry);
        assert_eq!(Outcome::of(None), Outcome::Retry);
    }

    #[test]
    fn private_loopback_and_link_local_addresses_are_refused() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://10.1.2.3/",
            "http://169.254.169.254/latest/meta-data",
            "http://[::1]/",
            "http://[::ffff:192.168.0.1]/",
            "http://[fd00::1]/",
            "http://0.0.0.0/",
            "http://[::a9fe:a9fe]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://[2002:a9fe:a9fe::1]/",
            "http://[fec0::1]/",
            "http://198.18.0.1/",
            "http://240.0.0.1/",
            "http://192.0.0.8/",
        ] {
            let refused = check_url("url", url, false).unwrap_err();
            assert_eq!(refused.field, "url", "{url}");
        }
        assert!(check_url("url", "http://127.0.0.1:9/hook", true).is_ok());
        assert!(check_url("url", "https://93.184.215.14/hook", false).is_ok());
        assert!(check_url("url", "https://[2606:4700::1111]/hook", false).is_ok());
        assert!(
            check_url("url", "https://[2002:5db8:d70e::1]/hook", false).is_ok(),
            "6to4 of a public IPv4"
        );
        assert!(check_url("url", "https://hooks.example.com/x", false).is_ok());
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "not a url",
        ] {
            assert!(check_url("url", bad, true).is_err(), "{bad}");
        }
    }

    #[test]
    fn an_empty_subscription_wants_everything_and_a_ping_always_goes() {
        let labels = Subscription(vec![EventType::LabelMoved]);
        assert!(labels.wants(EventType::LabelMoved) && labels.wants(EventType::Ping));
        assert!(!labels.wants(EventType::EntriesChanged));
        assert!(Subscription::default().wants(EventType::RolloutChanged));
    }
}
