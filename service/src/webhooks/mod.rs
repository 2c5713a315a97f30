//! Change webhooks: endpoints admins register per scope, to which every committed change of
//! that scope is delivered, signed by the Standard Webhooks scheme. Deliveries are made from the
//! change log in the database ([`plan`], run by the worker's fan-out), so a crash loses none;
//! the [`worker`] sends them with retries, and the [`sender`] keeps them away from addresses
//! they must not reach.

pub mod sender;
pub mod worker;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use rand::RngCore;
use serde_json::json;

use crate::{
    auth::{self, Principal},
    domain::{EventType, InvalidInput, Scope, check_url},
    error::{Error, Result},
    store::{
        Change, ChangeAction, ChangeRequestRow, DeliveryRow, NewDelivery, NewEvent, Store,
        WebhookRow, now_ms,
    },
};

/// Most deliveries the log shows.
pub const MAX_LISTED_DELIVERIES: u32 = 200;
/// How long the secret before a rotation still signs, so receivers can switch without a gap.
const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

/// What an admin gives to register an endpoint, or to change one.
#[derive(Debug, Clone, Default)]
pub struct EndpointSpec {
    pub url: Option<String>,
    pub description: Option<String>,
    pub events: Option<Vec<EventType>>,
    pub enabled: Option<bool>,
}

/// The endpoints and their deliveries, each operation checked for the caller's rights: an
/// admin of the endpoint's scope (an admin bound to an org for that org only; the defaults'
/// endpoints need an admin without an org). Another org's endpoint is "not found".
#[derive(Clone)]
pub struct Webhooks {
    store: Store,
    allow_private: bool,
}

impl Webhooks {
    pub fn new(store: Store, allow_private: bool) -> Self {
        Self {
            store,
            allow_private,
        }
    }

    pub async fn create(
        &self,
        principal: &Principal,
        scope: Scope,
        spec: EndpointSpec,
    ) -> Result<WebhookRow> {
        auth::check_admin(principal, &scope, "webhooks")?;
        if let Scope::Org(org) = &scope
            && !self
                .store
                .list_orgs()
                .await?
                .iter()
                .any(|o| o.slug == org.as_str())
        {
            return Err(Error::NotFound(format!("org {:?}", org.as_str())));
        }
        let url = spec
            .url
            .ok_or_else(|| InvalidInput::new("url", "required"))?;
        let row = WebhookRow {
            id: format!("wh_{}", random_hex(8)),
            scope,
            url: check_url("url", &url, self.allow_private)?.to_string(),
            description: spec.description.unwrap_or_default(),
            events: spec.events.unwrap_or_default(),
            secret: new_secret(),
            previous_secret: String::new(),
            previous_until: 0,
            enabled: true,
            disabled_reason: String::new(),
            since_revision: 0,
            created_at: now_ms(),
            created_by: principal.subject.clone(),
        };
        Ok(self.store.insert_webhook(&row).await?)
    }

    /// The endpoints of `scope` the caller may see; `None`: of every scope it may see.
    pub async fn list(
        &self,
        principal: &Principal,
        scope: Option<&Scope>,
    ) -> Result<Vec<WebhookRow>> {
        if let Some(scope) = scope {
            auth::check_admin(principal, scope, "webhooks")?;
        } else if !principal.roles.admin {
            return Err(Error::Forbidden("webhooks need the admin role".into()));
        }
        let rows = self.store.webhooks(scope).await?;
        Ok(rows
            .into_iter()
            .filter(|row| auth::check_admin(principal, &row.scope, "webhooks").is_ok())
            .collect())
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> Result<WebhookRow> {
        let row = self.store.webhook(id).await?;
        match row {
            Some(row) if auth::check_admin(principal, &row.scope, "webhooks").is_ok() => Ok(row),
            Some(_) if !principal.roles.admin => {
                Err(Error::Forbidden("webhooks need the admin role".into()))
            }
            _ => Err(Error::NotFound(format!("webhook {id:?}"))),
        }
    }

    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        spec: EndpointSpec,
    ) -> Result<WebhookRow> {
        let mut row = self.get(principal, id).await?;
        if let Some(url) = spec.url {
            row.url = check_url("url", &url, self.allow_private)?.to_string();
        }
        if let Some(description) = spec.description {
            row.description = description;
        }
        if let Some(events) = spec.events {
            row.events = events;
        }
        let enabled = spec.enabled;
        let mut row = self.saved(row).await?;
        // Apart from the rest: a toggle must not undo a concurrent `410 Gone` or rotation.
        if let Some(enabled) = enabled {
            self.store.set_webhook_enabled(id, enabled).await?;
            row.enabled = enabled;
            row.disabled_reason.clear();
        }
        Ok(row)
    }

    pub async fn delete(&self, principal: &Principal, id: &str) -> Result<WebhookRow> {
        let row = self.get(principal, id).await?;
        if self.store.delete_webhook(id).await? {
            Ok(row)
        } else {
            Err(Error::NotFound(format!("webhook {id:?}")))
        }
    }

    /// A new secret; the current one keeps signing (a second signature) for a day, so
    /// receivers accept both while they switch.
    pub async fn rotate(&self, principal: &Principal, id: &str) -> Result<WebhookRow> {
        self.get(principal, id).await?;
        let until = now_ms() + ROTATION_OVERLAP_MS;
        self.store
            .rotate_webhook_secret(id, &new_secret(), until)
            .await?;
        self.get(principal, id).await
    }

    pub async fn deliveries(
        &self,
        principal: &Principal,
        id: &str,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>> {
        self.get(principal, id).await?;
        Ok(self
            .store
            .deliveries(id, limit.clamp(1, MAX_LISTED_DELIVERIES))
            .await?)
    }

    /// Sends a delivery again (one more attempt, now).
    pub async fn redeliver(&self, principal: &Principal, id: &str, delivery: &str) -> Result<()> {
        check_on(&self.get(principal, id).await?)?;
        self.store.redeliver(id, delivery, now_ms()).await?;
        Ok(())
    }

    /// Queues a `webhook.ping` to the endpoint; returns the delivery's id.
    pub async fn ping(&self, principal: &Principal, id: &str) -> Result<String> {
        let row = self.get(principal, id).await?;
        check_on(&row)?;
        let now = now_ms();
        let delivery = NewDelivery {
            id: format!("msg_ping_{}", random_hex(8)),
            webhook: row.id.clone(),
            revision: 0,
            event: EventType::Ping,
            payload: envelope(EventType::Ping, now, json!({"webhook": row.id})),
        };
        self.store.add_delivery(&delivery, now).await?;
        Ok(delivery.id)
    }

    async fn saved(&self, row: WebhookRow) -> Result<WebhookRow> {
        if self.store.update_webhook(&row).await? {
            Ok(row)
        } else {
            Err(Error::NotFound(format!("webhook {:?}", row.id)))
        }
    }
}

/// A delivery to an endpoint that is off would wait until it is on: refused instead.
fn check_on(row: &WebhookRow) -> Result<()> {
    if row.enabled {
        Ok(())
    } else {
        Err(Error::Refused(format!(
            "webhook {:?} is off; turn it on first",
            row.id
        )))
    }
}

/// The event a change is; `None` for an org's registration, which no endpoint can hear (an
/// org's endpoints come after it, and it changes no entry).
pub fn event_of(action: ChangeAction) -> Option<EventType> {
    Some(match action {
        ChangeAction::Promote | ChangeAction::Policy => EventType::LabelMoved,
        ChangeAction::Rollout => EventType::RolloutChanged,
        ChangeAction::Register => return None,
        ChangeAction::Create
        | ChangeAction::Update
        | ChangeAction::Hide
        | ChangeAction::Unhide
        | ChangeAction::Activate
        | ChangeAction::Deactivate
        | ChangeAction::Delete
        | ChangeAction::Rollback
        | ChangeAction::Import => EventType::EntriesChanged,
    })
}

/// The deliveries of one committed change: one to each enabled endpoint of the change's scope
/// that wants its event and was registered before it. The id is the same for every attempt
/// (receivers deduplicate on `webhook-id`).
pub fn plan(change: &Change, hooks: &[WebhookRow]) -> Vec<NewDelivery> {
    let Some(event) = event_of(change.action) else {
        return Vec::new();
    };
    hooks
        .iter()
        .filter(|hook| {
            hook.enabled
                && hook.scope == change.org
                && change.revision > hook.since_revision
                && crate::domain::Subscription(hook.events.clone()).wants(event)
        })
        .map(|hook| NewDelivery {
            id: format!("msg_{}_{}", change.revision, hook.id),
            webhook: hook.id.clone(),
            revision: change.revision,
            event,
            payload: envelope(event, change.created_at, change_data(change)),
        })
        .collect()
}

/// The deliveries of a change request's event (its `seq`-th): one to each enabled endpoint of
/// the request's scope that wants `change_request.updated`.
pub fn plan_request(
    request: &ChangeRequestRow,
    event: &NewEvent,
    seq: u64,
    hooks: &[WebhookRow],
) -> Vec<NewDelivery> {
    let kind = EventType::ChangeRequestUpdated;
    let data = json!({
        "id": request.id,
        "org": match &request.scope {
            Scope::Defaults => None,
            Scope::Org(org) => Some(org.as_str()),
        },
        "server": request.server.as_str(),
        "title": request.title,
        "author": request.author,
        "state": request.state.as_str(),
        "event": event.action,
        "actor": event.actor,
        "message": event.message,
        "approvals_needed": request.rules.approvals_needed,
        "scheduled_at": request.scheduled_at,
        "applied_revision": request.applied_revision,
    });
    let now = now_ms();
    hooks
        .iter()
        .filter(|hook| {
            hook.enabled
                && hook.scope == request.scope
                && crate::domain::Subscription(hook.events.clone()).wants(kind)
        })
        .map(|hook| NewDelivery {
            id: format!("msg_cr{}_{seq}_{}", request.id, hook.id),
            webhook: hook.id.clone(),
            revision: 0,
            event: kind,
            payload: envelope(kind, now, data.clone()),
        })
        .collect()
}

fn change_data(change: &Change) -> serde_json::Value {
    let labels = match &change.labels {
        crate::domain::Labels::All => None,
        crate::domain::Labels::Only(labels) => Some(
            labels
                .iter()
                .map(|l| l.as_str().to_owned())
                .collect::<Vec<_>>(),
        ),
    };
    json!({
        "revision": change.revision,
        "org": match &change.org {
            Scope::Defaults => None,
            Scope::Org(org) => Some(org.as_str()),
        },
        "server": change.server.as_str(),
        "kind": change.kind.as_str(),
        "keys": change.keys,
        "action": change.action.as_str(),
        "labels": labels,
        "orgs": change.orgs.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
        "detail": change.detail,
        "actor": change.actor,
    })
}

/// The Standard Webhooks payload: `{type, timestamp, data}`.
fn envelope(event: EventType, at_ms: i64, data: serde_json::Value) -> String {
    let timestamp = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    json!({"type": event.as_str(), "timestamp": timestamp, "data": data}).to_string()
}

/// A signing secret in the Standard Webhooks form: `whsec_` and 24 random bytes, base64.
fn new_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    format!("whsec_{}", BASE64.encode(bytes))
}

fn random_hex(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Kind, Labels, Slug};

    fn hook(id: &str, scope: Scope, events: Vec<EventType>) -> WebhookRow {
        WebhookRow {
            id: id.into(),
            scope,
            url: "https://hooks.example.com/".into(),
            description: String::new(),
            events,
            secret: new_secret(),
            previous_secret: String::new(),
            previous_until: 0,
            enabled: true,
            disabled_reason: String::new(),
            since_revision: 3,
            created_at: 0,
            created_by: "admin".into(),
        }
    }

    fn change(revision: u64, org: Scope, action: ChangeAction) -> Change {
        Change {
            revision,
            org,
            server: Slug::parse("server", "github").unwrap(),
            kind: Kind::Prompts,
            keys: vec!["review-pr".into()],
            action,
            restored_version: None,
            labels: Labels::All,
            orgs: Vec::new(),
            detail: None,
            actor: "alice".into(),
            created_at: 1_700_000_000_000,
            published: false,
        }
    }

    #[test]
    fn a_change_goes_to_the_endpoints_of_its_scope_that_want_it_and_came_before_it() {
        let acme = Scope::Org(Slug::parse("org", "acme").unwrap());
        let hooks = [
            hook("a", acme.clone(), Vec::new()),
            hook("b", acme.clone(), vec![EventType::LabelMoved]),
            hook("c", Scope::Defaults, Vec::new()),
            WebhookRow {
                enabled: false,
                ..hook("d", acme.clone(), Vec::new())
            },
        ];
        let save = plan(&change(4, acme.clone(), ChangeAction::Update), &hooks);
        assert_eq!(
            save.iter().map(|d| d.webhook.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(save[0].id, "msg_4_a");
        let payload: serde_json::Value = serde_json::from_str(&save[0].payload).unwrap();
        assert_eq!(payload["type"], "entries.changed");
        assert_eq!(payload["data"]["org"], "acme");
        assert_eq!(payload["timestamp"], "2023-11-14T22:13:20Z");
        let moved = plan(&change(5, acme.clone(), ChangeAction::Promote), &hooks);
        assert_eq!(moved.len(), 2, "a wants everything, b label moves");
        assert!(
            plan(&change(3, acme, ChangeAction::Update), &hooks).is_empty(),
            "before them"
        );
        let default = plan(&change(6, Scope::Defaults, ChangeAction::Rollout), &hooks);
        assert_eq!(
            default
                .iter()
                .map(|d| d.webhook.as_str())
                .collect::<Vec<_>>(),
            ["c"]
        );
    }

    #[test]
    fn secrets_are_standard_webhooks_secrets() {
        let secret = new_secret();
        assert!(secret.starts_with("whsec_"));
        assert!(standardwebhooks::Webhook::new(&secret).is_ok());
        assert_ne!(secret, new_secret());
    }
}
