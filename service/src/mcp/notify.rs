//! `notifications/{prompts,resources}/list_changed` for the MCP clients whose view changed.
//!
//! Each legacy session and each `subscriptions/listen` stream follows the announcements of
//! what this replica's L1 dropped ([`Dropped`]), not the bus itself: by the time a client hears
//! of a change the old view is gone, so the list it asks for next is the new one. Events reach
//! the bus from every replica (through Redis), so a change made anywhere reaches every
//! replica's MCP clients. A client whose receiver falls behind may have missed its own
//! changes: it is told both lists changed, never left in silence.

use std::time::{Duration, SystemTime};

use rmcp::{
    RoleServer,
    service::{Peer, SubscriptionSendError, SubscriptionSink},
};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::domain::{Invalidation, Kind};

use super::caller::Audience;

/// Where one MCP client's list_changed notifications go.
pub enum Notifier {
    /// A `subscriptions/listen` stream (protocol 2026-07-28 and later).
    Listen(SubscriptionSink),
    /// A legacy session (protocols with `initialize`).
    Session(Peer<RoleServer>),
}

/// Whoever is told that a list changed.
pub trait Announce {
    /// Tells the client `kind`'s list changed; false once the client is gone.
    fn list_changed(&self, kind: Kind) -> impl Future<Output = bool> + Send;
}

impl Announce for Notifier {
    async fn list_changed(&self, kind: Kind) -> bool {
        match self {
            Self::Listen(sink) => {
                let sent = match kind {
                    Kind::Prompts => sink.notify_prompt_list_changed().await,
                    Kind::Resources => sink.notify_resource_list_changed().await,
                };
                // A list the stream did not ask about is not for it; the stream stays open.
                matches!(
                    sent,
                    Ok(()) | Err(SubscriptionSendError::NotificationNotAccepted(_))
                )
            }
            Self::Session(peer) => match kind {
                Kind::Prompts => peer.notify_prompt_list_changed().await.is_ok(),
                Kind::Resources => peer.notify_resource_list_changed().await.is_ok(),
            },
        }
    }
}

/// The lists of `audience`'s view that `dropped` changed: its own org's view, or a default of
/// its server (every org inherits it), or everything.
pub fn lists_changed(dropped: &Invalidation, audience: &Audience) -> &'static [Kind] {
    const PROMPTS: &[Kind] = &[Kind::Prompts];
    const RESOURCES: &[Kind] = &[Kind::Resources];
    const BOTH: &[Kind] = &[Kind::Prompts, Kind::Resources];
    let (kind, touched) = match dropped {
        Invalidation::All => return BOTH,
        Invalidation::Server { kind, server } => (kind, *server == audience.server),
        Invalidation::View(key) => (
            &key.kind,
            key.server == audience.server && key.scope == audience.scope,
        ),
    };
    match (touched, kind) {
        (false, _) => &[],
        (true, Kind::Prompts) => PROMPTS,
        (true, Kind::Resources) => RESOURCES,
    }
}

/// Forwards the changes of `audience`'s view to `notifier` until `stopped`, the client is
/// gone, or the caller's token expires (a stream checks its token's expiry like a request).
pub async fn forward(
    mut dropped: Receiver<Invalidation>,
    audience: &Audience,
    notifier: impl Announce,
    stopped: impl Future<Output = ()>,
) {
    let expired = tokio::time::sleep(until(audience.expires_at));
    tokio::pin!(stopped, expired);
    loop {
        let lists = tokio::select! {
            () = &mut stopped => return,
            () = &mut expired => {
                tracing::debug!("MCP client's token expired: no more list_changed");
                return;
            }
            received = dropped.recv() => match received {
                Ok(what) => lists_changed(&what, audience),
                Err(RecvError::Lagged(_)) => lists_changed(&Invalidation::All, audience),
                Err(RecvError::Closed) => return,
            },
        };
        for kind in lists {
            if !notifier.list_changed(*kind).await {
                tracing::debug!("MCP client gone: no more list_changed");
                return;
            }
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
    use crate::domain::{Scope, Slug, ViewKey};

    fn slug(s: &str) -> Slug {
        Slug::parse("s", s).unwrap()
    }

    fn acme_github() -> Audience {
        Audience {
            scope: Scope::Org(slug("acme")),
            server: slug("github"),
            subject: "ann".into(),
            expires_at: None,
        }
    }

    fn view(org: &str, server: &str, kind: Kind) -> Invalidation {
        Invalidation::View(ViewKey {
            kind,
            scope: Scope::Org(slug(org)),
            server: slug(server),
        })
    }

    /// Records what it is told.
    #[derive(Default)]
    struct Heard(std::sync::Mutex<Vec<Kind>>);

    impl Announce for &Heard {
        async fn list_changed(&self, kind: Kind) -> bool {
            self.0.lock().unwrap().push(kind);
            true
        }
    }

    #[tokio::test]
    async fn a_receiver_that_fell_behind_hears_both_lists_changed() {
        let (sender, receiver) = tokio::sync::broadcast::channel(1);
        // Capacity 1: the second drop pushes the first out, so the receiver lags.
        sender
            .send(view("globex", "github", Kind::Prompts))
            .unwrap();
        sender
            .send(view("globex", "github", Kind::Prompts))
            .unwrap();
        drop(sender);
        let heard = Heard::default();
        forward(receiver, &acme_github(), &heard, std::future::pending()).await;
        assert_eq!(
            *heard.0.lock().unwrap(),
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
        };
        assert_eq!(lists_changed(&default, &acme), [Kind::Prompts]);
        assert_eq!(
            lists_changed(&Invalidation::All, &acme),
            [Kind::Prompts, Kind::Resources]
        );
    }
}
