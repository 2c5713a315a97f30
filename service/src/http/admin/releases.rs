//! Releases: a scope's release policy, moving a label (promotion, move back), an entry's labels
//! with their history, and the registry of labels.

use axum::{
    Json,
    extract::{FromRequestParts, Path, State},
    http::request::Parts,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiResult, Body, Caller, EntryPath, KeyParam, ListParams, changes::ChangeRecord};
use crate::{
    auth::{self, Principal},
    domain::{Cohort, EntryId, InvalidInput, Kind, Label, ReleasePolicy, Scope, Slug},
    http::{
        ApiError, HttpState,
        answers::{Conflict, NotFound, NotJson, Refusals, TooLarge},
    },
    releases::{EntryLabel, Rollout},
    store::{
        LabelInfo, LabelMove, LabelMoveRow, LabelState, MoveTarget, Promotion, RolloutOp,
        RolloutStep, RolloutWrite, Selection,
    },
};

/// Longest reason a label move records.
const MAX_MESSAGE_BYTES: usize = 4096;
/// Most entries one promotion names.
const MAX_ENTRIES: usize = 1000;

/// The path parameters naming a server of one scope.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ServerParams {
    #[param(ignore)]
    org: Option<String>,
    /// MCP server slug.
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$", example = "github")]
    server: String,
}

/// A server of one scope, parsed from the path, and who asks.
pub(crate) struct ServerPath {
    pub(crate) scope: Scope,
    pub(crate) server: Slug,
    pub(crate) principal: Principal,
}

impl<S: Send + Sync> FromRequestParts<S> for ServerPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<ServerParams>::from_request_parts(parts, state).await?;
        let scope = match params.org {
            Some(org) => Scope::Org(Slug::parse("org", &org)?),
            None => Scope::Defaults,
        };
        let server = Slug::parse("server", &params.server)?;
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        Ok(Self {
            scope,
            server,
            principal,
        })
    }
}

/// The path parameter naming a label.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct LabelParam {
    /// A label: `production`, or a name such as `staging` (`latest` cannot be moved).
    #[param(pattern = "^[a-z0-9][a-z0-9-]{0,62}$", example = "staging")]
    pub(crate) label: String,
}

/// A scope's release policy for one server.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PolicyView {
    /// `auto`: every save moves `production`; `manual`: saves move only `latest`, and
    /// `production` moves when someone promotes.
    policy: ReleasePolicy,
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/release-policy", params(ServerParams), responses((status = 200, description = "the scope's release policy", body = PolicyView), Refusals))]
pub(crate) async fn get_policy(
    State(state): State<HttpState>,
    path: ServerPath,
) -> ApiResult<PolicyView> {
    auth::check_read(&path.principal, &path.scope)?;
    let policy = state.releases.policy(&path.server, &path.scope).await?;
    Ok(Json(PolicyView { policy }))
}

/// The changes a release write committed (none when it changed nothing).
#[derive(Serialize, ToSchema)]
pub(crate) struct Released {
    changes: Vec<ChangeRecord>,
}

#[utoipa::path(put, path = "/admin/v1/defaults/servers/{server}/release-policy", params(ServerParams), request_body = PolicyView, responses((status = 200, description = "the changes committed: one per kind at `production`, none if the policy was already this", body = Released), Refusals, NotFound, TooLarge, NotJson))]
pub(crate) async fn put_policy(
    State(state): State<HttpState>,
    caller: Caller,
    path: ServerPath,
    Body(put): Body<PolicyView>,
) -> ApiResult<Released> {
    auth::check_write(&path.principal, &path.scope)?;
    let changes = state
        .releases
        .set_policy(&path.server, &path.scope, put.policy, caller.actor())
        .await?;
    Ok(Json(Released {
        changes: changes.into_iter().map(Into::into).collect(),
    }))
}

/// One entry a promotion moves.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromotedEntry {
    kind: Kind,
    /// Prompt name or resource URI.
    key: String,
    /// The version to point the label at (published live); without it, the entry moves to
    /// what the request's `from` label points at.
    version: Option<u64>,
    /// The version the label points at now (0: it does not point at the entry); a mismatch
    /// is a conflict and nothing moves.
    expected_version: Option<u64>,
}

/// A label move in one scope of a server.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromoteRequest {
    /// Copy what this label points at (`staging` to `production`, say): for every entry it
    /// points at when `entries` is left out, else for the listed entries without a version.
    #[schema(value_type = Option<String>, example = "staging")]
    from: Option<Label>,
    /// The entries to move; left out: every entry `from` points at.
    entries: Option<Vec<PromotedEntry>>,
    /// Why (shown in the label's history).
    #[serde(default)]
    message: String,
}

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/labels/{label}", params(ServerParams, LabelParam), request_body = PromoteRequest, responses((status = 200, description = "the label moved: one change per kind, all in one transaction", body = Released), Refusals, NotFound, Conflict, TooLarge, NotJson))]
pub(crate) async fn promote(
    State(state): State<HttpState>,
    caller: Caller,
    path: ServerPath,
    Path(LabelParam { label }): Path<LabelParam>,
    Body(request): Body<PromoteRequest>,
) -> ApiResult<Released> {
    auth::check_write(&path.principal, &path.scope)?;
    let promotion = promotion(path.scope, path.server, &label, request)?;
    let changes = state
        .releases
        .promote(&promotion, &path.principal.roles, caller.actor())
        .await?;
    Ok(Json(Released {
        changes: changes.into_iter().map(Into::into).collect(),
    }))
}

/// A promotion request, checked: every field that is wrong is named.
fn promotion(
    scope: Scope,
    server: Slug,
    label: &str,
    request: PromoteRequest,
) -> Result<Promotion, InvalidInput> {
    let label = Label::parse("label", label)?;
    if request.message.len() > MAX_MESSAGE_BYTES {
        return Err(InvalidInput::new(
            "message",
            format!("longer than {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    if request.from.as_ref() == Some(&label) {
        return Err(InvalidInput::new(
            "from",
            format!("the label {label} cannot be copied onto itself"),
        ));
    }
    let selection = match (request.entries, request.from) {
        (None, Some(from)) => Selection::Every { from },
        (None, None) => {
            return Err(InvalidInput::new(
                "entries",
                "name the entries to move, or a `from` label to copy",
            ));
        }
        (Some(entries), _) if entries.is_empty() || entries.len() > MAX_ENTRIES => {
            return Err(InvalidInput::new(
                "entries",
                format!("between 1 and {MAX_ENTRIES} entries"),
            ));
        }
        (Some(entries), from) => Selection::Only(
            entries
                .into_iter()
                .enumerate()
                .map(|(i, entry)| {
                    let key = crate::domain::EntryKey::parse(entry.kind, &entry.key)
                        .map_err(|e| e.within(&format!("entries[{i}].key")))?;
                    let to = match (entry.version, &from) {
                        (Some(0), _) => {
                            return Err(InvalidInput::new(
                                format!("entries[{i}].version"),
                                "versions start at 1",
                            ));
                        }
                        (Some(version), _) => MoveTarget::Version(version),
                        (None, Some(from)) => MoveTarget::Label(from.clone()),
                        (None, None) => {
                            return Err(InvalidInput::new(
                                format!("entries[{i}].version"),
                                "give a version, or a `from` label for the request",
                            ));
                        }
                    };
                    Ok(LabelMove {
                        kind: entry.kind,
                        key: key.as_str().to_owned(),
                        to,
                        expected_version: entry.expected_version,
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(Promotion {
        scope,
        server,
        label,
        selection,
        message: request.message,
        emergency: None,
    })
}

/// Where one label of an entry points.
#[derive(Serialize, ToSchema)]
pub(crate) struct LabelView {
    #[schema(value_type = String, example = "production")]
    label: Label,
    /// 0 with `active` false: the label hides the default of this key.
    version: u64,
    active: bool,
    deleted: bool,
    /// The revision that moved it there.
    revision: u64,
}

impl From<EntryLabel> for LabelView {
    fn from(entry: EntryLabel) -> Self {
        let LabelState {
            version,
            active,
            deleted,
        } = entry.state;
        Self {
            label: entry.label,
            version,
            active,
            deleted,
            revision: entry.revision,
        }
    }
}

/// One move of a label.
#[derive(Serialize, ToSchema)]
pub(crate) struct LabelMoveView {
    #[schema(value_type = String)]
    label: Label,
    revision: u64,
    /// Absent when the label did not point at the entry before.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    from: Option<LabelState>,
    #[schema(value_type = Object)]
    to: LabelState,
    actor: String,
    message: String,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl From<LabelMoveRow> for LabelMoveView {
    fn from(row: LabelMoveRow) -> Self {
        Self {
            label: row.label,
            revision: row.revision,
            from: row.from,
            to: row.to,
            actor: row.actor,
            message: row.message,
            created_at: row.created_at,
        }
    }
}

/// An entry's labels and every move of them.
#[derive(Serialize, ToSchema)]
pub(crate) struct EntryLabels {
    /// `latest`, `production`, then the others by name.
    labels: Vec<LabelView>,
    /// Newest first.
    history: Vec<LabelMoveView>,
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/labels", params(ListParams, KeyParam), responses((status = 200, description = "where each label points, and the labels' history", body = EntryLabels), Refusals, NotFound))]
pub(crate) async fn entry_labels(
    State(state): State<HttpState>,
    path: EntryPath,
) -> ApiResult<EntryLabels> {
    let id = path.readable()?;
    let labels = state.releases.labels_of(&id).await?;
    let history = state.releases.history(&id).await?;
    Ok(Json(EntryLabels {
        labels: labels.into_iter().map(Into::into).collect(),
        history: history.into_iter().map(Into::into).collect(),
    }))
}

/// The labels created so far.
#[derive(Serialize, ToSchema)]
pub(crate) struct LabelList {
    #[schema(value_type = Vec<Object>)]
    labels: Vec<LabelInfo>,
}

#[utoipa::path(get, path = "/admin/v1/labels", responses((status = 200, description = "the labels the caller can know besides `latest` (and `production` unless protected): a caller bound to an org sees the declared ones and those pointing in the defaults or its org", body = LabelList), Refusals))]
pub(crate) async fn list_labels(
    State(state): State<HttpState>,
    caller: Caller,
) -> ApiResult<LabelList> {
    Ok(Json(LabelList {
        labels: state.releases.labels(caller.0.org.as_ref()).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutLabel {
    /// Only admins may move a protected label.
    protected: bool,
}

#[utoipa::path(put, path = "/admin/v1/labels/{label}", params(LabelParam), request_body = PutLabel, responses((status = 200, description = "the label, created if new", body = Object), Refusals, TooLarge, NotJson))]
pub(crate) async fn put_label(
    State(state): State<HttpState>,
    caller: Caller,
    Path(LabelParam { label }): Path<LabelParam>,
    Body(put): Body<PutLabel>,
) -> ApiResult<LabelInfo> {
    auth::check_global_admin(&caller.0)?;
    let label = Label::parse("label", &label)?;
    let info = state
        .releases
        .set_label(&label, put.protected, caller.actor())
        .await?;
    Ok(Json(info))
}

/// What a rollout request does.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RolloutAction {
    /// The cohort reads `version` at the label from now on (the others: where it points).
    Start,
    /// A new cohort: raise the percentage, add orgs (or take them out).
    Set,
    /// Everyone: the label moves to the target and the rollout ends.
    Complete,
    /// No one: the rollout ends and the label stays where it was.
    Abort,
}

/// A step of a default entry's rollout at one label.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RolloutRequest {
    action: RolloutAction,
    /// The target version (`start` only).
    version: Option<u64>,
    /// The share of orgs in the cohort, 0..=100 (`start` and `set`), stable: raising it keeps
    /// every org that was in.
    percent: Option<u64>,
    /// Orgs in the cohort whatever their share (`start` and `set`).
    #[serde(default)]
    orgs: Vec<String>,
    /// Why (shown in the rollout's history).
    #[serde(default)]
    message: String,
}

/// A rollout request, checked: every field that is wrong is named.
fn rollout_write(
    id: EntryId,
    label: &str,
    request: RolloutRequest,
) -> Result<RolloutWrite, InvalidInput> {
    if id.scope != Scope::Defaults {
        return Err(InvalidInput::new(
            "org",
            "a rollout is of a default entry: the orgs are its cohort (`orgs`, `percent`)",
        ));
    }
    let label = Label::parse("label", label)?;
    if request.message.len() > MAX_MESSAGE_BYTES {
        return Err(InvalidInput::new(
            "message",
            format!("longer than {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    let cohort = || -> Result<Cohort, InvalidInput> {
        let percent = request
            .percent
            .ok_or_else(|| InvalidInput::new("percent", "required: 0 to 100"))?;
        Cohort::parse(percent, &request.orgs)
    };
    let unused = |field: &str, given: bool| {
        if given {
            Err(InvalidInput::new(
                field,
                "only `start` and `set` take a cohort",
            ))
        } else {
            Ok(())
        }
    };
    let op = match request.action {
        RolloutAction::Start => RolloutOp::Start {
            target_version: request
                .version
                .filter(|v| *v > 0)
                .ok_or_else(|| InvalidInput::new("version", "required: the version to roll out"))?,
            cohort: cohort()?,
        },
        RolloutAction::Set => {
            unused("version", request.version.is_some())?;
            RolloutOp::Set(cohort()?)
        }
        RolloutAction::Complete | RolloutAction::Abort => {
            unused("percent", request.percent.is_some())?;
            unused("orgs", !request.orgs.is_empty())?;
            unused("version", request.version.is_some())?;
            match request.action {
                RolloutAction::Complete => RolloutOp::Complete,
                _ => RolloutOp::Abort,
            }
        }
    };
    Ok(RolloutWrite {
        server: id.server,
        kind: id.kind,
        key: id.key.as_str().to_owned(),
        label,
        op,
        message: request.message,
        emergency: None,
    })
}

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/rollouts/{label}", params(ListParams, KeyParam, LabelParam), request_body = RolloutRequest, responses((status = 200, description = "the rollout's change: one revision, naming the orgs whose view changed", body = Released), Refusals, NotFound, Conflict, TooLarge, NotJson))]
pub(crate) async fn post_rollout(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    Path(LabelParam { label }): Path<LabelParam>,
    Body(request): Body<RolloutRequest>,
) -> ApiResult<Released> {
    let roles = path.list.principal.roles;
    let write = rollout_write(path.writable()?, &label, request)?;
    let change = state
        .releases
        .rollout(&write, &roles, caller.actor())
        .await?;
    Ok(Json(Released {
        changes: vec![change.into()],
    }))
}

/// A rollout's state.
#[derive(Serialize, ToSchema)]
pub(crate) struct RolloutView {
    /// Absent when no rollout is in progress.
    #[serde(skip_serializing_if = "Option::is_none")]
    target_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    percent: Option<u8>,
    /// The orgs listed in the cohort.
    #[schema(value_type = Vec<String>)]
    orgs: Vec<Slug>,
    /// Every org that reads the target now.
    #[schema(value_type = Vec<String>)]
    members: Vec<Slug>,
    /// Newest first.
    #[schema(value_type = Vec<Object>)]
    history: Vec<RolloutStep>,
}

impl From<Rollout> for RolloutView {
    fn from(rollout: Rollout) -> Self {
        let (target_version, percent, orgs) = match rollout.current {
            Some(current) => (
                Some(current.target_version),
                Some(current.cohort.percent),
                current.cohort.orgs,
            ),
            None => (None, None, Vec::new()),
        };
        Self {
            target_version,
            percent,
            orgs,
            members: rollout.members,
            history: rollout.history,
        }
    }
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/rollouts/{label}", params(ListParams, KeyParam, LabelParam), responses((status = 200, description = "the rollout in progress (if any), the orgs in its cohort, and its history", body = RolloutView), Refusals, NotFound))]
pub(crate) async fn get_rollout(
    State(state): State<HttpState>,
    path: EntryPath,
    Path(LabelParam { label }): Path<LabelParam>,
) -> ApiResult<RolloutView> {
    let id = path.readable()?;
    let label = Label::parse("label", &label)?;
    let rollout = state.releases.rollout_of(&id, &label).await?;
    Ok(Json(rollout.into()))
}
