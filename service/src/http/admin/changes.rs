//! `/changes`: the change log (the audit record of every write), paged by revision.

use axum::{
    Json,
    extract::{Query, State, rejection::QueryRejection},
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, Caller};
use crate::{
    auth,
    domain::{InvalidInput, Kind, Scope, Slug},
    http::{HttpState, answers::Refusals},
    store::{Change, ChangeAction},
};

/// Most changes one page of the change log returns.
const MAX_CHANGES_PAGE: u32 = 1000;

/// One committed change, as the change log and a write's answer show it.
#[derive(Serialize, ToSchema)]
pub(crate) struct ChangeRecord {
    revision: u64,
    /// Empty for a change of the defaults.
    #[schema(value_type = String)]
    org: Scope,
    #[schema(value_type = String)]
    server: Slug,
    kind: Kind,
    /// The keys the change touched.
    keys: Vec<String>,
    /// What the change did (`import` when one change wrote several keys).
    #[schema(value_type = String, example = "rollback")]
    action: ChangeAction,
    /// The version a `rollback` restored; absent for every other action.
    #[serde(skip_serializing_if = "Option::is_none")]
    restored_version: Option<u64>,
    /// The labels whose views it changed (`latest`, and `production` in an auto scope, for a
    /// save); empty: every label (a change from before labels existed).
    labels: Vec<String>,
    /// With the defaults' scope: the only orgs whose views it changed (a rollout moved them);
    /// empty: every org's.
    #[schema(value_type = Vec<String>)]
    orgs: Vec<Slug>,
    /// What a label move (`promote`: why, and each entry's label state from and to), a rollout
    /// step (`rollout`: why, the step, the target version and the cohort) or a policy change
    /// did; absent for other actions.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    detail: Option<serde_json::Value>,
    /// The token subject that made it.
    actor: String,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
    /// Whether the relay has published it to the other replicas yet.
    published: bool,
}

impl From<Change> for ChangeRecord {
    fn from(change: Change) -> Self {
        Self {
            revision: change.revision,
            org: change.org,
            server: change.server,
            kind: change.kind,
            keys: change.keys,
            action: change.action,
            restored_version: change.restored_version,
            labels: change
                .labels
                .as_slice()
                .iter()
                .map(|l| l.as_str().to_owned())
                .collect(),
            orgs: change.orgs,
            detail: change.detail,
            actor: change.actor,
            created_at: change.created_at,
            published: change.published,
        }
    }
}

/// A page of the change log.
#[derive(Serialize, ToSchema)]
pub(crate) struct ChangePage {
    changes: Vec<ChangeRecord>,
    /// The `after` that asks for the next page; null when this page is empty.
    #[schema(required = true)]
    next_after: Option<u64>,
}

impl From<Vec<Change>> for ChangePage {
    fn from(changes: Vec<Change>) -> Self {
        Self {
            next_after: changes.last().map(|c| c.revision),
            changes: changes.into_iter().map(ChangeRecord::from).collect(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangesQuery {
    /// Changes after this revision.
    #[serde(default)]
    after: u64,
    /// How many at most (100 unless given).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Only this org's changes (a global admin may leave it out for all of them).
    org: Option<String>,
    /// Only this server's changes.
    server: Option<String>,
}

impl ChangesQuery {
    /// The page size (within bounds) and the org, once the org and server are known to be slugs.
    fn checked(&self) -> Result<(u32, Option<Slug>), InvalidInput> {
        let limit = self.limit.unwrap_or(100);
        if limit == 0 || limit > MAX_CHANGES_PAGE {
            return Err(InvalidInput::new(
                "limit",
                format!("between 1 and {MAX_CHANGES_PAGE}"),
            ));
        }
        let org = self.org.as_deref();
        let org = org.map(|o| Slug::parse("org", o)).transpose()?;
        if let Some(server) = &self.server {
            Slug::parse("server", server)?;
        }
        Ok((limit, org))
    }
}

#[utoipa::path(get, path = "/admin/v1/changes", params(ChangesQuery), responses((status = 200, description = "a page of the change log", body = ChangePage), Refusals))]
pub(crate) async fn changes(
    State(state): State<HttpState>,
    caller: Caller,
    query: Result<Query<ChangesQuery>, QueryRejection>,
) -> ApiResult<ChangePage> {
    let Query(q) = query?;
    let (limit, org) = q.checked()?;
    match org {
        Some(org) => auth::check_read(&caller.0, &Scope::Org(org))?,
        None => auth::check_global_admin(&caller.0)?,
    }
    let changes = state
        .catalog
        .changes(q.after, limit, q.org.as_deref(), q.server.as_deref())
        .await?;
    Ok(Json(changes.into()))
}
