//! The change log (the audit trail), newest first, a page at a time, filtered by scope,
//! server, kind, actor and day range; every row links to the diff of what it changed.

use axum::{
    extract::{Query, State},
    response::Response,
};
use minijinja::{context, value::Serde};
use serde::Deserialize;

use super::{
    page::{self, UiError},
    place::Viewer,
};
use crate::{
    auth::{self, Principal},
    domain::{InvalidInput, Kind, Scope, Slug},
    error::Error,
    http::HttpState,
    store::{ChangeAction, ChangeFilter, ScopeFilter},
};

const PAGE: u32 = 50;

#[derive(Deserialize, Default)]
pub(super) struct ChangesQuery {
    #[serde(default)]
    org: String,
    #[serde(default)]
    server: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    actor: String,
    /// First day shown, `YYYY-MM-DD` (UTC).
    #[serde(default)]
    since: String,
    /// Last day shown.
    #[serde(default)]
    until: String,
    before: Option<u64>,
}

/// Midnight (UTC) of a `YYYY-MM-DD` day, in milliseconds, `days_after` days later.
fn day_ms(field: &str, day: &str, days_after: i64) -> Result<Option<i64>, InvalidInput> {
    if day.is_empty() {
        return Ok(None);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    let date = time::Date::parse(day, format)
        .map_err(|_| InvalidInput::new(field, format!("{day:?} is not a YYYY-MM-DD date")))?;
    let midnight = date.midnight().assume_utc() + time::Duration::days(days_after);
    Ok(Some(crate::store::unix_ms(midnight)))
}

/// The scopes the viewer may list changes of, narrowed to the one asked for.
fn scopes(principal: &Principal, asked: &str) -> Result<ScopeFilter, Error> {
    if asked.is_empty() {
        return Ok(if auth::check_global_admin(principal).is_ok() {
            ScopeFilter::Any
        } else if let Some(own) = &principal.org {
            auth::check_read(principal, &Scope::Org(own.clone()))?;
            ScopeFilter::OrgAndDefaults(own.clone())
        } else {
            auth::check_read(principal, &Scope::Defaults)?;
            ScopeFilter::Only(Scope::Defaults)
        });
    }
    let scope = match asked {
        "defaults" => Scope::Defaults,
        org => Scope::Org(Slug::parse("org", org)?),
    };
    auth::check_read(principal, &scope)?;
    Ok(ScopeFilter::Only(scope))
}

impl ChangesQuery {
    fn filter(&self, principal: &Principal) -> Result<ChangeFilter, Error> {
        let optional = |field: &str, value: &str| {
            (!value.is_empty())
                .then(|| Slug::parse(field, value))
                .transpose()
        };
        Ok(ChangeFilter {
            scopes: scopes(principal, &self.org)?,
            server: optional("server", &self.server)?,
            kind: (!self.kind.is_empty())
                .then(|| self.kind.parse::<Kind>())
                .transpose()?,
            actor: (!self.actor.is_empty()).then(|| self.actor.clone()),
            since_ms: day_ms("since", &self.since, 0)?,
            until_ms: day_ms("until", &self.until, 1)?,
        })
    }
}

pub(super) async fn page(
    State(state): State<HttpState>,
    viewer: Viewer,
    Query(q): Query<ChangesQuery>,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    let filter = q.filter(principal)?;
    let changes = state.catalog.change_log(&filter, q.before, PAGE).await?;
    let next = (changes.len() == PAGE as usize)
        .then(|| changes.last().map(|c| c.revision))
        .flatten();
    let rows: Vec<_> = changes
        .iter()
        .map(|change| {
            let keys: Vec<_> = change
                .keys
                .iter()
                .map(|key| {
                    let path = page::entry_path(
                        &change.org,
                        change.server.as_str(),
                        change.kind.segment(),
                        key,
                    );
                    // A hide or unhide writes a marker, not a version: it links to the entry
                    // (the default, shown hidden or not), which has no history of its own here.
                    let link = if matches!(change.action, ChangeAction::Hide | ChangeAction::Unhide)
                    {
                        path
                    } else {
                        format!("{path}/history?revision={}", change.revision)
                    };
                    context! { key, diff => link }
                })
                .collect();
            context! {
                revision => change.revision,
                scope => change.org.as_str(),
                server => change.server.as_str(),
                kind => change.kind.segment(),
                action => Serde(change.action),
                restored_version => change.restored_version,
                actor => change.actor.clone(),
                created_at => change.created_at,
                keys,
                emergency => change.detail.as_ref().and_then(|d| d["emergency"].as_str()).map(str::to_owned),
                request => change.detail.as_ref().and_then(|d| d["change_request"]["id"].as_u64()),
            }
        })
        .collect();
    page::render(
        "changes.html",
        principal,
        context! {
            rows, next,
            org => q.org, server => q.server, kind => q.kind, actor => q.actor,
            since => q.since, until => q.until,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_are_utc_midnights_and_bad_dates_name_their_field() {
        assert_eq!(day_ms("since", "1970-01-02", 0).unwrap(), Some(86_400_000));
        assert_eq!(day_ms("until", "1970-01-01", 1).unwrap(), Some(86_400_000));
        assert_eq!(day_ms("since", "", 0).unwrap(), None);
        assert_eq!(day_ms("since", "yesterday", 0).unwrap_err().field, "since");
    }
}
