//! What MCP clients hear when their view changes: `notifications/{prompts,resources}/list_changed`,
//! `notifications/resources/updated` for the resources they subscribed to, and log messages at
//! the level they set.
//!
//! Each legacy session and each `subscriptions/listen` stream follows the announcements of
//! what this replica's L1 dropped ([`Dropped`]), not the bus itself: by the time a client hears
//! of a change the old view is gone, so the list it asks for next is the new one. Events reach
//! the bus from every replica (through Redis), so a change made anywhere reaches every
//! replica's MCP clients. A client whose receiver falls behind may have missed its own
//! changes: it is told both lists changed, never left in silence.
//!
//! A subscribed resource is compared, not trusted to an event's keys: when the org's resources
//! change, the entry that serves each subscribed URI (the resource, or the template it
//! matches) is looked up again and its fingerprint compared with the one the client last heard
//! of, so a change of the default it inherits, an override, a hide or a template all count,
//! and nothing else does. Nothing is rendered for it; a view that cannot be read (the store
//! down) counts as no change, never as a removal.
//!
//! [`Dropped`]: crate::propagation::Dropped

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, SystemTime},
};

#[allow(deprecated)]
// logging is deprecated by 2026-07-28 but still the legacy sessions' protocol
use rmcp::model::{LoggingLevel, LoggingMessageNotificationParam};
use rmcp::{
    RoleServer,
    service::{Peer, SubscriptionSendError, SubscriptionSink},
};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::{
    domain::{Invalidation, Kind, Revision, ViewKey},
    propagation::ViewsDropped,
};

use super::caller::Audience;

/// Most resources one client may subscribe to.
pub const MAX_SUBSCRIPTIONS: usize = 1000;

/// Where one MCP client's notifications go.
pub enum Notifier {
    /// A `subscriptions/listen` stream (protocol 2026-07-28 and later).
    Listen(SubscriptionSink),
    /// A legacy session (protocols with `initialize`).
    Session(Peer<RoleServer>),
}

/// Whoever is told that a list or a resource changed.
pub trait Announce {
    /// Tells the client `kind`'s list changed; false once the client is gone.
    fn list_changed(&self, kind: Kind) -> impl Future<Output = bool> + Send;
    /// Tells the client the resource at `uri` changed; false once the client is gone.
    fn resource_updated(&self, uri: &str) -> impl Future<Output = bool> + Send;
    /// Sends a log message; false once the client is gone.
    #[allow(deprecated)]
    fn log(&self, level: LoggingLevel, message: String) -> impl Future<Output = bool> + Send;
}

/// A notification a listen stream did not ask for is not for it; the stream stays open.
fn delivered(sent: Result<(), SubscriptionSendError>) -> bool {
    matches!(
        sent,
        Ok(())
            | Err(SubscriptionSendError::NotificationNotAccepted(_)
                | SubscriptionSendError::UnsupportedNotification(_))
    )
}

/// Whether a session is still there after sending it a notification: only a closed transport
/// says it is gone. A session whose stream is not open yet (a young session, on a busy
/// replica) misses that one notification and keeps the next; its end stops the forwarding.
fn session_alive(sent: Result<(), rmcp::ServiceError>) -> bool {
    match sent {
        Ok(()) => true,
        Err(rmcp::ServiceError::TransportClosed) => false,
        Err(e) => {
            tracing::debug!(error = %e, "an MCP notification was not delivered");
            true
        }
    }
}

#[allow(deprecated)]
impl Announce for Notifier {
    async fn list_changed(&self, kind: Kind) -> bool {
        match self {
            Self::Listen(sink) => delivered(match kind {
                Kind::Prompts => sink.notify_prompt_list_changed().await,
                Kind::Resources => sink.notify_resource_list_changed().await,
            }),
            Self::Session(peer) => session_alive(match kind {
                Kind::Prompts => peer.notify_prompt_list_changed().await,
                Kind::Resources => peer.notify_resource_list_changed().await,
            }),
        }
    }

    async fn resource_updated(&self, uri: &str) -> bool {
        match self {
            Self::Listen(sink) => delivered(sink.notify_resource_updated(uri).await),
            Self::Session(peer) => session_alive(
                peer.notify_resource_updated(rmcp::model::ResourceUpdatedNotificationParam::new(
                    uri,
                ))
                .await,
            ),
        }
    }

    async fn log(&self, level: LoggingLevel, message: String) -> bool {
        match self {
            // Log messages are not a notification of the 2026-07-28 protocol.
            Self::Listen(_) => true,
            Self::Session(peer) => {
                let mut param = LoggingMessageNotificationParam::new(level, message.into());
                param.logger = Some("mcp-config".to_owned());
                session_alive(peer.notify_logging_message(param).await)
            }
        }
    }
}

/// What a client last heard of a subscribed resource.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Heard {
    /// Not read yet (the store was down when it subscribed): the first reading sets it.
    Unknown,
    /// The fingerprint of the entry serving it (`None`: nothing did).
    Fingerprint(Option<u64>),
}

/// What one client asked to hear beyond list changes: the resources it subscribed to, and the
/// lowest level of log message it wants (none until it sets one).
#[derive(Default)]
pub struct Interests {
    /// Subscribed URI → what the client last heard of it.
    resources: Mutex<HashMap<String, Heard>>,
    #[allow(deprecated)]
    log_level: Mutex<Option<LoggingLevel>>,
}

impl Interests {
    /// Subscribes to `uri`, whose contents now have `fingerprint`; false when the client
    /// already holds [`MAX_SUBSCRIPTIONS`] others.
    pub fn subscribe(&self, uri: String) -> bool {
        let mut resources = self.resources.lock().expect("interests lock");
        if resources.len() >= MAX_SUBSCRIPTIONS && !resources.contains_key(&uri) {
            return false;
        }
        resources.entry(uri).or_insert(Heard::Unknown);
        true
    }

    /// What the client heard of `uri` when it subscribed, read after [`Interests::subscribe`]
    /// so that a change in between is not missed; kept only if no change was compared since.
    pub fn settle(&self, uri: &str, fingerprint: Option<u64>) {
        let mut resources = self.resources.lock().expect("interests lock");
        if let Some(heard @ Heard::Unknown) = resources.get_mut(uri) {
            *heard = Heard::Fingerprint(fingerprint);
        }
    }

    pub fn unsubscribe(&self, uri: &str) {
        self.resources.lock().expect("interests lock").remove(uri);
    }

    fn subscribed(&self) -> Vec<String> {
        self.resources
            .lock()
            .expect("interests lock")
            .keys()
            .cloned()
            .collect()
    }

    /// Records `uri`'s new fingerprint; whether it differs from the last one heard of (a URI
    /// unsubscribed meanwhile, or whose first fingerprint was never read, never counts).
    fn changed(&self, uri: &str, fingerprint: Option<u64>) -> bool {
        let mut resources = self.resources.lock().expect("interests lock");
        let Some(heard) = resources.get_mut(uri) else {
            return false;
        };
        let before = std::mem::replace(heard, Heard::Fingerprint(fingerprint));
        matches!(before, Heard::Fingerprint(last) if last != fingerprint)
    }

    #[allow(deprecated)]
    pub fn set_log_level(&self, level: LoggingLevel) {
        *self.log_level.lock().expect("interests lock") = Some(level);
    }

    /// Whether a message at `level` is for this client.
    #[allow(deprecated)]
    fn wants(&self, level: LoggingLevel) -> bool {
        self.log_level
            .lock()
            .expect("interests lock")
            .is_some_and(|lowest| level as u8 >= lowest as u8)
    }
}

/// The lists of `audience`'s view (at its label) that `dropped` changed: its own org's view,
/// or a default of its server (every org inherits it), or everything.
pub fn lists_changed(dropped: &Invalidation, audience: &Audience) -> &'static [Kind] {
    const PROMPTS: &[Kind] = &[Kind::Prompts];
    const RESOURCES: &[Kind] = &[Kind::Resources];
    const BOTH: &[Kind] = &[Kind::Prompts, Kind::Resources];
    let touched = |kind| {
        dropped.covers(&ViewKey {
            kind,
            scope: audience.scope.clone(),
            server: audience.server.clone(),
            label: audience.label.clone(),
        })
    };
    match (touched(Kind::Prompts), touched(Kind::Resources)) {
        (true, true) => BOTH,
        (true, false) => PROMPTS,
        (false, true) => RESOURCES,
        (false, false) => &[],
    }
}

/// Forwards the changes of `audience`'s view to `notifier` until `stopped`, the client is
/// gone, or the caller's token expires (a stream checks its token's expiry like a request).
/// `fingerprint_of` reads a subscribed resource's fingerprint now (an error: it cannot tell);
/// `handled` hears the revision of each drop once everything it means was sent.
#[allow(deprecated)]
pub async fn forward<F: Future<Output = Result<Option<u64>, ()>>>(
    mut dropped: Receiver<ViewsDropped>,
    audience: &Audience,
    notifier: impl Announce,
    interests: &Interests,
    fingerprint_of: impl Fn(String) -> F,
    handled: impl Fn(Revision),
    stopped: impl Future<Output = ()>,
) {
    let expired = tokio::time::sleep(until(audience.expires_at));
    tokio::pin!(stopped, expired);
    loop {
        let (lists, revision) = tokio::select! {
            () = &mut stopped => return,
            () = &mut expired => {
                tracing::debug!("MCP client's token expired: no more notifications");
                return;
            }
            received = dropped.recv() => match received {
                Ok(drop) => (lists_changed(&drop.what, audience), Some(drop.revision)),
                Err(RecvError::Lagged(_)) => {
                    if interests.wants(LoggingLevel::Warning) {
                        let message = "changes were missed: both lists may have changed".to_owned();
                        if !notifier.log(LoggingLevel::Warning, message).await {
                            return;
                        }
                    }
                    (lists_changed(&Invalidation::All, audience), None)
                }
                Err(RecvError::Closed) => return,
            },
        };
        for kind in lists {
            if !notifier.list_changed(*kind).await {
                tracing::debug!("MCP client gone: no more notifications");
                return;
            }
            if interests.wants(LoggingLevel::Info) {
                let message = format!(
                    "{} of {}/{} changed",
                    kind.segment(),
                    audience.scope.as_str(),
                    audience.server.as_str()
                );
                if !notifier.log(LoggingLevel::Info, message).await {
                    return;
                }
            }
            if *kind != Kind::Resources {
                continue;
            }
            for uri in interests.subscribed() {
                let Ok(now) = fingerprint_of(uri.clone()).await else {
                    continue;
                };
                if interests.changed(&uri, now) && !notifier.resource_updated(&uri).await {
                    return;
                }
            }
        }
        if let Some(revision) = revision {
            handled(revision);
        }
    }
}

/// How long until `expires_at`; about forever without one.
fn until(expires_at: Option<SystemTime>) -> Duration {
    const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    expires_at.map_or(FOREVER, |at| {
        at.duration_since(SystemTime::now()).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Label, Labels, Scope, Slug};

    fn slug(s: &str) -> Slug {
        Slug::parse("s", s).unwrap()
    }

    fn acme_github() -> Audience {
        Audience {
            scope: Scope::Org(slug("acme")),
            server: slug("github"),
            label: Label::Production,
            subject: "ann".into(),
            expires_at: None,
        }
    }

    /// A drop as the bus announces it (the revision matters to no test here).
    fn dropped(what: Invalidation) -> ViewsDropped {
        ViewsDropped { what, revision: 1 }
    }

    fn view(org: &str, server: &str, kind: Kind) -> Invalidation {
        Invalidation::Scope {
            kind,
            scope: Scope::Org(slug(org)),
            server: slug(server),
            labels: Labels::Only(vec![Label::Latest, Label::Production]),
        }
    }

    /// Records what it is told.
    #[derive(Default)]
    struct Heard {
        lists: std::sync::Mutex<Vec<Kind>>,
        updated: std::sync::Mutex<Vec<String>>,
        logs: std::sync::Mutex<Vec<String>>,
    }

    #[allow(deprecated)]
    impl Announce for &Heard {
        async fn list_changed(&self, kind: Kind) -> bool {
            self.lists.lock().unwrap().push(kind);
            true
        }

        async fn resource_updated(&self, uri: &str) -> bool {
            self.updated.lock().unwrap().push(uri.to_owned());
            true
        }

        async fn log(&self, level: LoggingLevel, message: String) -> bool {
            self.logs
                .lock()
                .unwrap()
                .push(format!("{level:?}: {message}"));
            true
        }
    }

    async fn no_fingerprint(_: String) -> Result<Option<u64>, ()> {
        Ok(None)
    }

    /// What acme's github client hears of everything `receiver` holds (its sender dropped).
    async fn heard_by_acme<F: Future<Output = Result<Option<u64>, ()>>>(
        receiver: Receiver<ViewsDropped>,
        interests: &Interests,
        fingerprint_of: impl Fn(String) -> F,
    ) -> Heard {
        let heard = Heard::default();
        forward(
            receiver,
            &acme_github(),
            &heard,
            interests,
            fingerprint_of,
            |_| {},
            std::future::pending(),
        )
        .await;
        heard
    }

    #[tokio::test]
    #[allow(deprecated)]
    async fn subscribed_resources_are_announced_only_when_their_contents_changed() {
        let (sender, receiver) = tokio::sync::broadcast::channel(8);
        let interests = Interests::default();
        for uri in [
            "test://same",
            "test://edited",
            "test://gone",
            "test://dropped",
            "test://unreadable",
        ] {
            assert!(interests.subscribe(uri.into()));
            interests.settle(uri, Some(1));
        }
        assert!(interests.subscribe("test://never-read".into()));
        interests.unsubscribe("test://dropped");
        interests.set_log_level(LoggingLevel::Warning);
        sender
            .send(dropped(view("acme", "github", Kind::Resources)))
            .unwrap();
        sender
            .send(dropped(view("acme", "github", Kind::Prompts)))
            .unwrap();
        drop(sender);
        let now = |uri: String| async move {
            match uri.as_str() {
                "test://same" | "test://never-read" => Ok(Some(1)),
                "test://edited" | "test://dropped" => Ok(Some(2)),
                "test://unreadable" => Err(()),
                _ => Ok(None),
            }
        };
        let heard = heard_by_acme(receiver, &interests, now).await;
        let mut updated = heard.updated.lock().unwrap().clone();
        updated.sort();
        assert_eq!(updated, ["test://edited", "test://gone"]);
        assert_eq!(
            *heard.lists.lock().unwrap(),
            [Kind::Resources, Kind::Prompts]
        );
        assert!(
            heard.logs.lock().unwrap().is_empty(),
            "info is below the level set"
        );
    }

    #[tokio::test]
    #[allow(deprecated)]
    async fn log_messages_follow_the_level_the_client_set() {
        let run = |level: Option<LoggingLevel>| async move {
            let (sender, receiver) = tokio::sync::broadcast::channel(8);
            let interests = Interests::default();
            if let Some(level) = level {
                interests.set_log_level(level);
            }
            sender
                .send(dropped(view("acme", "github", Kind::Prompts)))
                .unwrap();
            drop(sender);
            let heard = heard_by_acme(receiver, &interests, no_fingerprint).await;
            heard.logs.into_inner().unwrap()
        };
        assert!(run(None).await.is_empty(), "no level set: no log messages");
        assert_eq!(
            run(Some(LoggingLevel::Debug)).await,
            ["Info: prompts of acme/github changed"]
        );
        assert!(run(Some(LoggingLevel::Error)).await.is_empty());
    }

    #[test]
    fn subscriptions_are_bounded() {
        let interests = Interests::default();
        for i in 0..MAX_SUBSCRIPTIONS {
            assert!(interests.subscribe(format!("test://{i}")));
        }
        assert!(!interests.subscribe("test://one-more".into()));
        assert!(
            interests.subscribe("test://0".into()),
            "a URI held already is not one more"
        );
    }

    #[tokio::test]
    async fn a_receiver_that_fell_behind_hears_both_lists_changed() {
        let (sender, receiver) = tokio::sync::broadcast::channel(1);
        // Capacity 1: the second drop pushes the first out, so the receiver lags.
        sender
            .send(dropped(view("globex", "github", Kind::Prompts)))
            .unwrap();
        sender
            .send(dropped(view("globex", "github", Kind::Prompts)))
            .unwrap();
        drop(sender);
        let heard = heard_by_acme(receiver, &Interests::default(), no_fingerprint).await;
        assert_eq!(
            *heard.lists.lock().unwrap(),
            [Kind::Prompts, Kind::Resources],
            "globex's change is not acme's, but what was missed might have been"
        );
    }

    #[test]
    fn own_views_and_inherited_defaults_are_announced_and_nothing_else() {
        let acme = acme_github();
        assert_eq!(
            lists_changed(&view("acme", "github", Kind::Resources), &acme),
            [Kind::Resources]
        );
        assert!(lists_changed(&view("globex", "github", Kind::Prompts), &acme).is_empty());
        assert!(lists_changed(&view("acme", "slack", Kind::Prompts), &acme).is_empty());
        let default = Invalidation::Server {
            kind: Kind::Prompts,
            server: slug("github"),
            labels: Labels::All,
            orgs: Vec::new(),
        };
        assert_eq!(lists_changed(&default, &acme), [Kind::Prompts]);
        let rolled = |org: &str| Invalidation::Server {
            kind: Kind::Prompts,
            server: slug("github"),
            labels: Labels::All,
            orgs: vec![slug(org)],
        };
        assert_eq!(lists_changed(&rolled("acme"), &acme), [Kind::Prompts]);
        assert!(
            lists_changed(&rolled("globex"), &acme).is_empty(),
            "a rollout that moved globex only"
        );
        assert_eq!(lists_changed(&default, &acme), [Kind::Prompts]);
        let staged = Invalidation::Scope {
            kind: Kind::Prompts,
            scope: Scope::Org(slug("acme")),
            server: slug("github"),
            labels: Labels::Only(vec![Label::Latest]),
        };
        assert!(
            lists_changed(&staged, &acme).is_empty(),
            "a save that moved only `latest` is no change at production"
        );
        assert_eq!(
            lists_changed(&Invalidation::All, &acme),
            [Kind::Prompts, Kind::Resources]
        );
    }
}
