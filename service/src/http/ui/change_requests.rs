//! Change requests in the web UI: the requests a viewer may read, and one request's review
//! page — what it saves (each edit's diff from the version it started from), which labels it
//! moves, who approved what, its trail — with the actions the viewer may take (submit, approve,
//! reject, comment, schedule, unschedule, apply, cancel). The rights are the service's
//! (`change_requests::ChangeRequests`), as in the admin API.

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Redirect, Response},
};
use minijinja::{Value, context, value::Serde};

use super::{
    diff::diff,
    draft::yaml,
    fields::Fields,
    page::{self, UiError},
    place::Viewer,
};
use crate::{
    auth,
    change_requests::Act,
    domain::{EntryId, EntryKey, InvalidInput, Scope},
    http::HttpState,
    store::{ChangeRequestRow, RequestFilter},
};

fn summary(row: &ChangeRequestRow) -> Value {
    context! {
        id => row.id,
        scope => row.scope.as_str().to_owned(),
        server => row.server.as_str().to_owned(),
        title => row.title.clone(),
        author => row.author.clone(),
        state => row.state.as_str(),
        needed => row.rules.approvals_needed,
        scheduled_at => row.scheduled_at,
        updated_at => row.updated_at,
    }
}

pub(super) async fn list(
    State(state): State<HttpState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    let requests = &state.change_requests;
    // A global reader sees every scope's; anyone else their org's and the defaults'.
    let mut rows = if auth::check_global_admin(principal).is_ok() {
        requests.list(principal, &RequestFilter::default()).await?
    } else {
        let mut scopes = vec![Scope::Defaults];
        scopes.extend(principal.org.clone().map(Scope::Org));
        let mut rows = Vec::new();
        for scope in scopes {
            let filter = RequestFilter {
                scope: Some(scope),
                ..RequestFilter::default()
            };
            rows.extend(requests.list(principal, &filter).await?);
        }
        rows
    };
    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
    page::render(
        "change_requests.html",
        principal,
        context! { requests => rows.iter().map(summary).collect::<Vec<_>>() },
    )
}

pub(super) async fn page(
    State(state): State<HttpState>,
    viewer: Viewer,
    Path(id): Path<u64>,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    let view = state.change_requests.get(principal, id).await?;
    let request = &view.request;
    let mut edits = Vec::new();
    for edit in &request.items.edits {
        let entry = EntryId {
            scope: request.scope.clone(),
            server: request.server.clone(),
            kind: edit.kind,
            key: EntryKey::parse(edit.kind, &edit.key)?,
        };
        let before = match edit.base_version {
            0 => String::new(),
            base => yaml(
                &serde_json::from_str(&state.catalog.version(&entry, base).await?.body)
                    .unwrap_or(serde_json::Value::Null),
            ),
        };
        edits.push(context! {
            kind => edit.kind.segment(),
            key => edit.key.clone(),
            path => page::path_of(&entry),
            base => edit.base_version,
            diff => Serde(diff(&before, &yaml(&edit.content))),
        });
    }
    let moves: Vec<Value> = request
        .items
        .moves
        .iter()
        .map(|one| {
            context! {
                label => one.label.as_str().to_owned(),
                kind => one.kind.segment(),
                key => one.key.clone(),
                from => one.base_version,
                to => request.items.target_version(one),
            }
        })
        .collect();
    let events: Vec<Value> = view
        .events
        .iter()
        .map(|e| {
            context! {
                action => e.action.clone(), actor => e.actor.clone(), message => e.message.clone(),
                at => e.created_at,
                counts => view.counts(e.seq),
            }
        })
        .collect();
    let writer = page::may_write(principal, &request.scope);
    let author = request.author == principal.subject;
    let may_review = writer
        && view
            .rules
            .refuses(
                &request.author,
                &crate::domain::Reviewer {
                    subject: &principal.subject,
                    admin: principal.roles.admin,
                },
            )
            .is_none();
    page::render(
        "change_request.html",
        principal,
        context! {
            request => summary(request),
            description => request.description.clone(),
            content_hash => request.content_hash.clone(),
            approved_by => view.approved_by(),
            needed => view.rules.approvals_needed,
            policies => Serde(&view.rules.policies),
            scope_path => page::server_path(&request.scope, request.server.as_str()),
            edits, moves, events,
            may => context! {
                submit => author && request.state == crate::domain::RequestState::Draft,
                review => may_review && request.state == crate::domain::RequestState::InReview
                    && !view.approved_by().contains(&principal.subject),
                reject => may_review && request.state.is_open() && request.state != crate::domain::RequestState::Draft,
                cancel => (author || principal.roles.admin) && writer && request.state.is_open(),
                schedule => writer && matches!(request.state, crate::domain::RequestState::Approved | crate::domain::RequestState::Scheduled),
                apply => writer && matches!(request.state, crate::domain::RequestState::Approved | crate::domain::RequestState::Scheduled),
                unschedule => writer && request.state == crate::domain::RequestState::Scheduled,
                comment => writer,
            },
        },
    )
}

/// One of the review page's buttons.
pub(super) async fn act(
    State(state): State<HttpState>,
    viewer: Viewer,
    Path((id, action)): Path<(u64, String)>,
    fields: Fields,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    let message = fields.get("message").trim().to_owned();
    let act = match action.as_str() {
        "apply" => {
            state.change_requests.apply(principal, id).await?;
            return Ok(Redirect::to(&format!("/ui/change-requests/{id}")).into_response());
        }
        "submit" => Act::Submit,
        "approve" => Act::Approve {
            content_hash: fields.get("content_hash").to_owned(),
        },
        "reject" => Act::Reject,
        "cancel" => Act::Cancel,
        "comment" => Act::Comment,
        "unschedule" => Act::Unschedule,
        "schedule" => Act::Schedule {
            at: schedule_time(fields.get("at"))?,
        },
        other => return Err(crate::error::Error::NotFound(format!("action {other:?}")).into()),
    };
    state
        .change_requests
        .act(principal, id, act, &message)
        .await?;
    Ok(Redirect::to(&format!("/ui/change-requests/{id}")).into_response())
}

/// A `datetime-local` field's value, read as UTC, in ms since the epoch.
fn schedule_time(value: &str) -> Result<i64, InvalidInput> {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let at = time::PrimitiveDateTime::parse(value, format).map_err(|_| {
        InvalidInput::new(
            "at",
            format!("{value:?} is not a date and time (YYYY-MM-DDTHH:MM, UTC)"),
        )
    })?;
    Ok(crate::store::unix_ms(at.assume_utc()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_schedule_is_utc_and_a_bad_one_names_its_field() {
        assert_eq!(
            super::schedule_time("1970-01-02T00:01").unwrap(),
            86_460_000
        );
        assert_eq!(super::schedule_time("tomorrow").unwrap_err().field, "at");
    }
}
