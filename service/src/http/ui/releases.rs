//! An entry's releases: where each label points, the scope's release policy, every move of a
//! label, promotion (and move back) behind a confirmation that shows the diff, and for a default
//! the rollout of a label to a cohort of orgs.

use axum::{
    extract::{Query, State},
    response::{IntoResponse, Redirect, Response},
};
use minijinja::{context, value::Serde};
use serde::Deserialize;
use serde_json::Value;

use super::{
    diff::diff,
    draft::yaml,
    fields::Fields,
    page::{self, UiError},
    place::{Entry, Ui, Viewer, Writer},
};
use crate::{
    domain::{Cohort, EntryId, InvalidInput, Label, ReleasePolicy, Scope},
    http::HttpState,
    store::{LabelMove, MoveTarget, Promotion, RolloutOp, RolloutWrite, Selection},
};

#[derive(Deserialize, Default)]
pub(super) struct Shown {
    /// The label whose rollout is shown (a default's page); `production` when none.
    #[serde(default)]
    rollout: String,
}

fn labels_path(id: &EntryId) -> String {
    format!("{}/labels", page::path_of(id))
}

pub(super) async fn page(
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    Query(shown): Query<Shown>,
) -> Result<Response, UiError> {
    let id = path.readable()?;
    let labels = state.releases.labels_of(&id).await?;
    let history = state.releases.history(&id).await?;
    let versions = state.catalog.history(&id).await?;
    let policy = state.releases.policy(&id.server, &id.scope).await?;
    let rollout_label = Label::parse("rollout", &shown.rollout)?;
    let rollout = match id.scope {
        Scope::Defaults => Some(state.releases.rollout_of(&id, &rollout_label).await?),
        Scope::Org(_) => None,
    };
    let principal = viewer.principal();
    page::render(
        "labels.html",
        principal,
        context! {
            key => id.key.as_str(),
            scope => id.scope.as_str(),
            server => id.server.as_str(),
            base => page::server_path(&id.scope, id.server.as_str()),
            path => page::path_of(&id),
            manual => policy == ReleasePolicy::Manual,
            labels => labels.iter().map(|l| context! {
                label => l.label.as_str(), version => l.state.version,
                active => l.state.active, deleted => l.state.deleted, revision => l.revision,
            }).collect::<Vec<_>>(),
            versions => versions.iter().rev().map(|v| v.version).collect::<Vec<_>>(),
            history => history.iter().map(|m| context! {
                label => m.label.as_str(), revision => m.revision,
                from => m.from.map(|s| s.version), to => m.to.version,
                to_active => m.to.active, to_deleted => m.to.deleted,
                actor => m.actor.clone(), message => m.message.clone(), created_at => m.created_at,
            }).collect::<Vec<_>>(),
            rollout_label => rollout_label.as_str(),
            rollout => rollout.map(|r| context! {
                running => r.current.is_some(),
                target_version => r.current.as_ref().map(|c| c.target_version),
                percent => r.current.as_ref().map(|c| c.cohort.percent),
                orgs => r.current.as_ref().map(|c| c.cohort.orgs.iter().map(ToString::to_string).collect::<Vec<_>>()),
                members => r.members.iter().map(ToString::to_string).collect::<Vec<_>>(),
                history => Serde(r.history),
            }),
            may_write => page::may_write(principal, &id.scope),
        },
    )
}

#[derive(Deserialize)]
pub(super) struct Proposal {
    label: String,
    version: u64,
}

fn text_of(body: &str) -> String {
    yaml(&serde_json::from_str(body).unwrap_or(Value::Null))
}

/// What a promotion would do: the diff from where the label points to the version, with the
/// label's current version as the compare-and-set.
pub(super) async fn confirm_promote(
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    Query(proposal): Query<Proposal>,
) -> Result<Response, UiError> {
    let id = path.writable()?;
    let label = Label::parse("label", &proposal.label)?;
    let current = state
        .releases
        .labels_of(&id)
        .await?
        .into_iter()
        .find(|l| l.label == label)
        .map(|l| l.state.version);
    let text_at = |version: Option<u64>| {
        let state = state.clone();
        let id = id.clone();
        async move {
            match version.filter(|v| *v > 0) {
                Some(version) => {
                    Ok::<_, UiError>(text_of(&state.catalog.version(&id, version).await?.body))
                }
                None => Ok(String::new()),
            }
        }
    };
    let before = text_at(current).await?;
    let after = text_at(Some(proposal.version)).await?;
    page::render(
        "promote.html",
        viewer.principal(),
        context! {
            key => id.key.as_str(),
            scope => id.scope.as_str(),
            path => page::path_of(&id),
            label => label.as_str(),
            current,
            to => proposal.version,
            diff => Serde(diff(&before, &after)),
        },
    )
}

pub(super) async fn promote(
    _may: Writer,
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    fields: Fields,
) -> Result<Response, UiError> {
    let id = path.writable()?;
    let label = Label::parse("label", fields.get("label"))?;
    let version = fields
        .number("version")?
        .ok_or_else(|| InvalidInput::new("version", "choose a version"))?;
    let principal = viewer.principal();
    let promotion = Promotion {
        scope: id.scope.clone(),
        server: id.server.clone(),
        label,
        selection: Selection::Only(vec![LabelMove {
            kind: id.kind,
            key: id.key.as_str().to_owned(),
            to: MoveTarget::Version(version),
            expected_version: fields.number("expected_version")?,
        }]),
        message: fields.get("message").to_owned(),
        emergency: None,
    };
    state
        .releases
        .promote(&promotion, &principal.roles, &principal.subject)
        .await?;
    Ok(Redirect::to(&labels_path(&id)).into_response())
}

pub(super) async fn policy(
    _may: Writer,
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    fields: Fields,
) -> Result<Response, UiError> {
    let id = path.writable()?;
    let policy = match fields.get("policy") {
        "auto" => ReleasePolicy::Auto,
        "manual" => ReleasePolicy::Manual,
        other => {
            return Err(
                InvalidInput::new("policy", format!("{other:?} is not auto or manual")).into(),
            );
        }
    };
    state
        .releases
        .set_policy(&id.server, &id.scope, policy, &viewer.principal().subject)
        .await?;
    Ok(Redirect::to(&labels_path(&id)).into_response())
}

pub(super) async fn rollout(
    _may: Writer,
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    fields: Fields,
) -> Result<Response, UiError> {
    let id = path.writable()?;
    let label = Label::parse("label", fields.get("label"))?;
    let cohort = || -> Result<Cohort, InvalidInput> {
        let orgs: Vec<String> = fields
            .get("orgs")
            .split([',', ' ', '\n'])
            .map(str::trim)
            .filter(|org| !org.is_empty())
            .map(str::to_owned)
            .collect();
        Cohort::parse(fields.number("percent")?.unwrap_or(0), &orgs)
    };
    let op = match fields.get("action") {
        "start" => RolloutOp::Start {
            target_version: fields
                .number("version")?
                .ok_or_else(|| InvalidInput::new("version", "choose a version"))?,
            cohort: cohort()?,
        },
        "set" => RolloutOp::Set(cohort()?),
        "complete" => RolloutOp::Complete,
        "abort" => RolloutOp::Abort,
        other => {
            return Err(
                InvalidInput::new("action", format!("{other:?} is no rollout step")).into(),
            );
        }
    };
    if id.scope != Scope::Defaults {
        return Err(InvalidInput::new("org", "a rollout is of a default entry").into());
    }
    let principal = viewer.principal();
    let write = RolloutWrite {
        server: id.server.clone(),
        kind: id.kind,
        key: id.key.as_str().to_owned(),
        label: label.clone(),
        op,
        message: fields.get("message").to_owned(),
        emergency: None,
    };
    state
        .releases
        .rollout(&write, &principal.roles, &principal.subject)
        .await?;
    Ok(Redirect::to(&format!("{}?rollout={label}", labels_path(&id))).into_response())
}
