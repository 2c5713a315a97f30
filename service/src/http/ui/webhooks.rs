//! Change webhooks in the web UI (admins; an org's admin sees its org's): the endpoints with a
//! form to register one (its secret shown once, on the page that follows), and one endpoint
//! with its delivery log, a test ping, a redelivery per delivery, rotation, turning it off or on,
//! and removal. The rights are the webhooks' own (`webhooks::Webhooks`), as in the admin API.

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use minijinja::{Value, context};

use super::{
    fields::Fields,
    page::{self, UiError},
    place::Viewer,
};
use crate::{
    auth::Principal,
    domain::{EventType, Scope},
    http::HttpState,
    store::{DeliveryRow, WebhookRow},
    webhooks::EndpointSpec,
};

/// Deliveries the endpoint's page shows.
const SHOWN_DELIVERIES: u32 = 50;

fn endpoint(row: &WebhookRow) -> Value {
    context! {
        id => row.id.clone(),
        scope => row.scope.as_str().to_owned(),
        url => row.url.clone(),
        description => row.description.clone(),
        events => row.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        enabled => row.enabled,
        disabled_reason => row.disabled_reason.clone(),
        rotating_until => (!row.previous_secret.is_empty()).then_some(row.previous_until),
        created_at => row.created_at,
        created_by => row.created_by.clone(),
    }
}

fn delivery(row: &DeliveryRow) -> Value {
    let log: Vec<Value> = row
        .log
        .iter()
        .map(|a| {
            context! {
                attempt => a.attempt, at => a.at, status => a.status,
                error => a.error.clone(), duration_ms => a.duration_ms,
            }
        })
        .collect();
    context! {
        id => row.id.clone(), revision => row.revision, event => row.event.clone(),
        state => row.state.clone(), attempts => row.attempts, next_at => row.next_at,
        created_at => row.created_at, log,
    }
}

/// The scopes whose endpoints `principal` may register: its org, or the defaults and every org.
async fn scopes_for(state: &HttpState, principal: &Principal) -> Result<Vec<String>, UiError> {
    Ok(match &principal.org {
        Some(org) => vec![org.as_str().to_owned()],
        None => std::iter::once(String::new())
            .chain(state.catalog.orgs().await?.into_iter().map(|o| o.slug))
            .collect(),
    })
}

pub(super) async fn list(
    State(state): State<HttpState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    render_list(&state, viewer.principal(), None).await
}

async fn render_list(
    state: &HttpState,
    principal: &Principal,
    created: Option<(WebhookRow, String)>,
) -> Result<Response, UiError> {
    let hooks = state.webhooks.list(principal, None).await?;
    let scopes = scopes_for(state, principal).await?;
    let events: Vec<&str> = EventType::ALL
        .iter()
        .filter(|e| **e != EventType::Ping)
        .map(|e| e.as_str())
        .collect();
    page::render(
        "webhooks.html",
        principal,
        context! {
            webhooks => hooks.iter().map(endpoint).collect::<Vec<_>>(),
            scopes, events,
            created => created.map(|(row, secret)| context! { id => row.id, url => row.url, secret }),
        },
    )
}

pub(super) async fn create(
    State(state): State<HttpState>,
    viewer: Viewer,
    fields: Fields,
) -> Result<Response, UiError> {
    let scope = Scope::parse_optional("scope", fields.get("scope"))?;
    let events = fields
        .all("events")
        .map(|e| EventType::parse("events", e))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = EndpointSpec {
        url: Some(fields.get("url").trim().to_owned()),
        description: Some(fields.get("description").trim().to_owned()),
        events: Some(events),
        enabled: None,
    };
    let row = state
        .webhooks
        .create(viewer.principal(), scope, spec)
        .await?;
    let secret = row.secret.clone();
    render_list(&state, viewer.principal(), Some((row, secret))).await
}

pub(super) async fn page(
    State(state): State<HttpState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> Result<Response, UiError> {
    render_page(&state, viewer.principal(), &id, None).await
}

async fn render_page(
    state: &HttpState,
    principal: &Principal,
    id: &str,
    new_secret: Option<String>,
) -> Result<Response, UiError> {
    let row = state.webhooks.get(principal, id).await?;
    let deliveries = state
        .webhooks
        .deliveries(principal, id, SHOWN_DELIVERIES)
        .await?;
    page::render(
        "webhook.html",
        principal,
        context! {
            webhook => endpoint(&row),
            deliveries => deliveries.iter().map(delivery).collect::<Vec<_>>(),
            new_secret,
        },
    )
}

/// One of the endpoint page's buttons: `ping`, `rotate`, `enable`, `disable` or `delete`.
pub(super) async fn act(
    State(state): State<HttpState>,
    viewer: Viewer,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    let hooks = &state.webhooks;
    let toggled = |enabled| EndpointSpec {
        enabled: Some(enabled),
        ..EndpointSpec::default()
    };
    match action.as_str() {
        "ping" => {
            hooks.ping(principal, &id).await?;
        }
        "rotate" => {
            let row = hooks.rotate(principal, &id).await?;
            return render_page(&state, principal, &id, Some(row.secret)).await;
        }
        "enable" => {
            hooks.update(principal, &id, toggled(true)).await?;
        }
        "disable" => {
            hooks.update(principal, &id, toggled(false)).await?;
        }
        "delete" => {
            hooks.delete(principal, &id).await?;
            return Ok(Redirect::to("/ui/webhooks").into_response());
        }
        other => {
            return Err(crate::error::Error::NotFound(format!("action {other:?}")).into());
        }
    }
    Ok(Redirect::to(&format!("/ui/webhooks/{id}")).into_response())
}

pub(super) async fn redeliver(
    State(state): State<HttpState>,
    viewer: Viewer,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, UiError> {
    state
        .webhooks
        .redeliver(viewer.principal(), &id, &delivery)
        .await?;
    Ok(Redirect::to(&format!("/ui/webhooks/{id}")).into_response())
}
