//! Change requests and approval policies: a scope's policies
//! (`{scope}/servers/{server}/approval-policies[/{label}]`), its requests
//! (`{scope}/servers/{server}/change-requests`), and one request (`/change-requests/{id}`) with
//! what people do to it (`/change-requests/{id}/{action}`). Rights are the service's
//! ([`crate::change_requests`]); a request of a scope the caller cannot read is not found.

use axum::{
    Json,
    extract::{
        Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
    http::StatusCode,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiResult, Body, Caller,
    changes::ChangeRecord,
    releases::{LabelParam, ServerParams, ServerPath},
};
use crate::{
    change_requests::{Act, Draft, DraftEdit, DraftMove, RequestView},
    content::Content,
    domain::{
        ApprovalPolicy, ApproverRole, EntryKey, InvalidInput, Kind, Label, LabelPolicy,
        RequestState, Scope,
    },
    http::{
        ApiError, HttpState,
        answers::{Conflict, NotFound, NotJson, Refusals, TooLarge},
    },
    store::{ApprovalPolicyRow, ChangeRequestRow, RequestFilter},
};

/// An approval policy to set on a label.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApprovalPolicyRequest {
    /// How many approvals a change request moving the label needs: 1 to 10.
    approvals: u64,
    /// `editor` (editors and admins may approve) or `admin`.
    approver_role: ApproverRole,
    /// The only subjects who may approve; absent or empty: anyone with the role.
    #[serde(default)]
    approvers: Vec<String>,
}

/// A label's approval policy.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApprovalPolicyView {
    #[schema(value_type = String, example = "production")]
    label: Label,
    approvals: u8,
    approver_role: ApproverRole,
    approvers: Vec<String>,
    updated_at: i64,
    updated_by: String,
}

impl From<ApprovalPolicyRow> for ApprovalPolicyView {
    fn from(row: ApprovalPolicyRow) -> Self {
        Self {
            label: row.label,
            approvals: row.policy.approvals,
            approver_role: row.policy.approver_role,
            approvers: row.policy.approvers,
            updated_at: row.updated_at,
            updated_by: row.updated_by,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct ApprovalPolicyList {
    policies: Vec<ApprovalPolicyView>,
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/approval-policies", params(ServerParams), responses((status = 200, description = "the scope's approval policies, by label", body = ApprovalPolicyList), Refusals))]
pub(crate) async fn list_policies(
    State(state): State<HttpState>,
    path: ServerPath,
) -> ApiResult<ApprovalPolicyList> {
    let policies = state
        .change_requests
        .policies(&path.principal, &path.server, &path.scope)
        .await?;
    Ok(Json(ApprovalPolicyList {
        policies: policies.into_iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(put, path = "/admin/v1/defaults/servers/{server}/approval-policies/{label}", params(ServerParams, LabelParam), request_body = ApprovalPolicyRequest, responses((status = 200, description = "the policy in force: moving the label now needs an approved change request", body = ApprovalPolicyView), Refusals, NotFound, Conflict, TooLarge, NotJson))]
pub(crate) async fn put_policy(
    State(state): State<HttpState>,
    path: ServerPath,
    label: Result<Path<LabelParam>, PathRejection>,
    Body(request): Body<ApprovalPolicyRequest>,
) -> ApiResult<ApprovalPolicyView> {
    let Path(LabelParam { label }) = label?;
    let label = Label::parse("label", &label)?;
    let policy = ApprovalPolicy::new(request.approvals, request.approver_role, request.approvers)?;
    let row = state
        .change_requests
        .set_policy(&path.principal, &path.server, &path.scope, &label, &policy)
        .await?;
    Ok(Json(row.into()))
}

/// A removed policy.
#[derive(Serialize, ToSchema)]
pub(crate) struct ApprovalPolicyRemoved {
    #[schema(value_type = String)]
    label: Label,
}

#[utoipa::path(delete, path = "/admin/v1/defaults/servers/{server}/approval-policies/{label}", params(ServerParams, LabelParam), responses((status = 200, description = "the policy is gone: the label moves directly again", body = ApprovalPolicyRemoved), Refusals, NotFound))]
pub(crate) async fn delete_policy(
    State(state): State<HttpState>,
    path: ServerPath,
    label: Result<Path<LabelParam>, PathRejection>,
) -> ApiResult<ApprovalPolicyRemoved> {
    let Path(LabelParam { label }) = label?;
    let label = Label::parse("label", &label)?;
    state
        .change_requests
        .delete_policy(&path.principal, &path.server, &path.scope, &label)
        .await?;
    Ok(Json(ApprovalPolicyRemoved { label }))
}

/// A new version of an entry that the request saves.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EditRequest {
    kind: Kind,
    /// Prompt name or resource URI.
    key: String,
    #[schema(value_type = Content)]
    content: Value,
}

/// A label the request moves.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveRequest {
    /// `production` or a named label (not `latest`).
    label: String,
    kind: Kind,
    key: String,
    /// The version to point the label at; absent: the version this request's edit of the
    /// entry saves.
    version: Option<u64>,
}

/// What a request holds: a title, why, and its edits and moves (replaced whole by an edit).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DraftRequest {
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    edits: Vec<EditRequest>,
    #[serde(default)]
    moves: Vec<MoveRequest>,
    /// Open it for review at once (else it is a draft until submitted). Only when opening.
    #[serde(default)]
    submit: bool,
}

impl DraftRequest {
    /// The draft, every bad field named (`edits[1].content.messages`, `moves[0].label`).
    fn draft(self) -> Result<(Draft, bool), InvalidInput> {
        let edits = self
            .edits
            .into_iter()
            .enumerate()
            .map(|(i, edit)| {
                let at = |e: InvalidInput| e.within(&format!("edits[{i}]"));
                Ok(DraftEdit {
                    key: EntryKey::parse(edit.kind, &edit.key)
                        .map_err(|e| InvalidInput::new(format!("edits[{i}].key"), e.message))?,
                    content: Content::from_json(edit.kind, edit.content)
                        .map_err(|e| at(e.within("content")))?,
                })
            })
            .collect::<Result<_, InvalidInput>>()?;
        let moves = self
            .moves
            .into_iter()
            .enumerate()
            .map(|(i, one)| {
                Ok(DraftMove {
                    label: Label::parse(&format!("moves[{i}].label"), &one.label)?,
                    kind: one.kind,
                    key: EntryKey::parse(one.kind, &one.key)
                        .map_err(|e| InvalidInput::new(format!("moves[{i}].key"), e.message))?,
                    version: one.version,
                })
            })
            .collect::<Result<_, InvalidInput>>()?;
        Ok((
            Draft {
                title: self.title,
                description: self.description,
                edits,
                moves,
            },
            self.submit,
        ))
    }
}

/// An edit of a request: what it saves, at which base.
#[derive(Serialize, ToSchema)]
pub(crate) struct EditView {
    kind: Kind,
    key: String,
    #[schema(value_type = Object)]
    content: Value,
    /// The entry's version the request started from (0: none); the save is the next.
    base_version: u64,
}

/// A move of a request.
#[derive(Serialize, ToSchema)]
pub(crate) struct MoveView {
    #[schema(value_type = String)]
    label: Label,
    kind: Kind,
    key: String,
    /// The version the label goes to (the edit's new version when the request saves it).
    version: u64,
    /// Where the label pointed when the request started (0: not at the entry).
    base_version: u64,
}

/// One event of a request's trail.
#[derive(Serialize, ToSchema)]
pub(crate) struct EventView {
    seq: u64,
    /// `opened`, `opened for review`, `edited` (the content), `retitled`, `submitted`,
    /// `approved`, `rejected`, `commented`, `scheduled`, `unscheduled`, `applied`,
    /// `apply_failed`, `cancelled`.
    action: String,
    actor: String,
    message: String,
    /// Whether it is an approval that counts (of what the request holds now, given after its
    /// last edit of the content, by someone the policies accept).
    counts: bool,
    created_at: i64,
}

/// A change request, whole.
#[derive(Serialize, ToSchema)]
pub(crate) struct RequestDetail {
    #[serde(flatten)]
    summary: RequestSummary,
    description: String,
    /// What approvals are given to; send it back with an approval.
    content_hash: String,
    approved_by: Vec<String>,
    /// The policies each approver must satisfy: those in force when the request was opened,
    /// and those set since on labels it moves that had none.
    policies: Vec<LabelPolicy>,
    edits: Vec<EditView>,
    moves: Vec<MoveView>,
    events: Vec<EventView>,
}

/// A change request in a list.
#[derive(Serialize, ToSchema)]
pub(crate) struct RequestSummary {
    id: u64,
    /// Absent: the defaults.
    org: Option<String>,
    server: String,
    title: String,
    author: String,
    state: RequestState,
    approvals_needed: u8,
    /// When a scheduled request applies (ms since the epoch).
    scheduled_at: Option<i64>,
    /// The last revision applying it committed.
    applied_revision: Option<u64>,
    created_at: i64,
    updated_at: i64,
}

impl From<&ChangeRequestRow> for RequestSummary {
    fn from(row: &ChangeRequestRow) -> Self {
        Self {
            id: row.id,
            org: match &row.scope {
                Scope::Defaults => None,
                Scope::Org(org) => Some(org.as_str().to_owned()),
            },
            server: row.server.as_str().to_owned(),
            title: row.title.clone(),
            author: row.author.clone(),
            state: row.state,
            approvals_needed: row.rules.approvals_needed,
            scheduled_at: row.scheduled_at,
            applied_revision: row.applied_revision,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl From<RequestView> for RequestDetail {
    fn from(view: RequestView) -> Self {
        let approved_by = view.approved_by();
        let counted: Vec<u64> = view.approvals.iter().map(|a| a.seq).collect();
        let policies = view.rules.policies.clone();
        let needed = view.rules.approvals_needed;
        let request = view.request;
        let items = &request.items;
        let moves = items
            .moves
            .iter()
            .map(|one| MoveView {
                label: one.label.clone(),
                kind: one.kind,
                key: one.key.clone(),
                version: items.target_version(one),
                base_version: one.base_version,
            })
            .collect();
        let events = view
            .events
            .into_iter()
            .map(|e| EventView {
                counts: counted.contains(&e.seq),
                seq: e.seq,
                action: e.action,
                actor: e.actor,
                message: e.message,
                created_at: e.created_at,
            })
            .collect();
        let mut summary = RequestSummary::from(&request);
        summary.approvals_needed = needed;
        Self {
            summary,
            description: request.description.clone(),
            content_hash: request.content_hash.clone(),
            approved_by,
            policies,
            edits: items
                .edits
                .iter()
                .map(|e| EditView {
                    kind: e.kind,
                    key: e.key.clone(),
                    content: e.content.clone(),
                    base_version: e.base_version,
                })
                .collect(),
            moves,
            events,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(crate) struct RequestList {
    change_requests: Vec<RequestSummary>,
}

/// Which requests a list shows.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Only requests in this state (`draft`, `in_review`, `approved`, `scheduled`, `applied`,
    /// `rejected`, `cancelled`).
    state: Option<String>,
}

impl ListQuery {
    fn state(&self) -> Result<Option<RequestState>, InvalidInput> {
        self.state
            .as_deref()
            .map(|s| RequestState::parse("state", s))
            .transpose()
    }
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/change-requests", params(ServerParams, ListQuery), responses((status = 200, description = "the scope's change requests, newest first (at most 200)", body = RequestList), Refusals))]
pub(crate) async fn list_requests(
    State(state): State<HttpState>,
    path: ServerPath,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<RequestList> {
    let Query(query) = query?;
    let filter = RequestFilter {
        scope: Some(path.scope.clone()),
        server: Some(path.server.clone()),
        state: query.state()?,
    };
    let rows = state.change_requests.list(&path.principal, &filter).await?;
    Ok(Json(RequestList {
        change_requests: rows.iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(get, path = "/admin/v1/change-requests", params(ListQuery), responses((status = 200, description = "every scope's change requests, newest first (at most 200; admins without an org)", body = RequestList), Refusals))]
pub(crate) async fn all_requests(
    State(state): State<HttpState>,
    caller: Caller,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> ApiResult<RequestList> {
    let Query(query) = query?;
    let filter = RequestFilter {
        state: query.state()?,
        ..RequestFilter::default()
    };
    let rows = state.change_requests.list(&caller.0, &filter).await?;
    Ok(Json(RequestList {
        change_requests: rows.iter().map(Into::into).collect(),
    }))
}

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/change-requests", params(ServerParams), request_body = DraftRequest, responses((status = 201, description = "the request, opened as a draft (or in review with `submit`)", body = RequestDetail), Refusals, NotFound, TooLarge, NotJson))]
pub(crate) async fn open_request(
    State(state): State<HttpState>,
    path: ServerPath,
    Body(request): Body<DraftRequest>,
) -> Result<(StatusCode, Json<RequestDetail>), ApiError> {
    let (draft, submit) = request.draft()?;
    let row = state
        .change_requests
        .open(&path.principal, &path.server, &path.scope, draft, submit)
        .await?;
    let view = state.change_requests.get(&path.principal, row.id).await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

/// The path parameter naming a request.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct RequestParam {
    /// The request's number.
    id: u64,
}

#[utoipa::path(get, path = "/admin/v1/change-requests/{id}", params(RequestParam), responses((status = 200, description = "the request, its trail and who approved what it holds now", body = RequestDetail), Refusals, NotFound))]
pub(crate) async fn get_request(
    State(state): State<HttpState>,
    caller: Caller,
    path: Result<Path<RequestParam>, PathRejection>,
) -> ApiResult<RequestDetail> {
    let Path(RequestParam { id }) = path?;
    let view = state.change_requests.get(&caller.0, id).await?;
    Ok(Json(view.into()))
}

#[utoipa::path(patch, path = "/admin/v1/change-requests/{id}", params(RequestParam), request_body = DraftRequest, responses((status = 200, description = "the request after the edit (its author only); a changed content voids the approvals and starts review again", body = RequestDetail), Refusals, NotFound, Conflict, TooLarge, NotJson))]
pub(crate) async fn edit_request(
    State(state): State<HttpState>,
    caller: Caller,
    path: Result<Path<RequestParam>, PathRejection>,
    Body(request): Body<DraftRequest>,
) -> ApiResult<RequestDetail> {
    let Path(RequestParam { id }) = path?;
    if request.submit {
        return Err(
            InvalidInput::new("submit", "only when opening; submit a draft by its action").into(),
        );
    }
    let (draft, _) = request.draft()?;
    state.change_requests.edit(&caller.0, id, draft).await?;
    let view = state.change_requests.get(&caller.0, id).await?;
    Ok(Json(view.into()))
}

/// The path parameters naming an action on a request.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ActionParams {
    /// The request's number.
    id: u64,
    /// `submit`, `approve`, `reject`, `cancel`, `comment`, `schedule`, `unschedule` or `apply`.
    #[param(pattern = "^(submit|approve|reject|cancel|comment|schedule|unschedule|apply)$")]
    action: String,
}

/// What comes with an action.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct ActionRequest {
    /// Why (a comment's text; kept in the trail).
    #[serde(default)]
    message: String,
    /// With `approve` (required): the `content_hash` reviewed; if the request changed since,
    /// nothing is approved (409).
    content_hash: Option<String>,
    /// With `schedule`: when to apply it (RFC 3339, e.g. `2026-12-24T06:00:00Z`).
    at: Option<String>,
}

/// What an action did: the request after it, and for `apply` the changes committed.
#[derive(Serialize, ToSchema)]
pub(crate) struct ActionDone {
    change_request: RequestDetail,
    /// The changes applying committed (one per kind and per label moved); empty otherwise.
    changes: Vec<ChangeRecord>,
}

#[utoipa::path(post, path = "/admin/v1/change-requests/{id}/{action}", params(ActionParams), request_body(content = ActionRequest, description = "optional: a message, the reviewed hash, the schedule's time"), responses((status = 200, description = "the request after the action (and the changes an `apply` committed)", body = ActionDone), Refusals, NotFound, Conflict, TooLarge))]
pub(crate) async fn act(
    State(state): State<HttpState>,
    caller: Caller,
    path: Result<Path<ActionParams>, PathRejection>,
    body: axum::body::Bytes,
) -> ApiResult<ActionDone> {
    let Path(ActionParams { id, action }) = path?;
    // The body is optional: most actions need nothing but the path.
    let request: ActionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        ActionRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| InvalidInput::new("body", format!("not an action's JSON: {e}")))?
    };
    let principal = &caller.0;
    let at = |request: &ActionRequest| -> Result<i64, InvalidInput> {
        let text = request
            .at
            .as_deref()
            .ok_or_else(|| InvalidInput::new("at", "a schedule needs the time to apply at"))?;
        let when =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map_err(|e| {
                    InvalidInput::new("at", format!("{text:?} is not an RFC 3339 time: {e}"))
                })?;
        Ok(crate::store::unix_ms(when))
    };
    let act = match action.as_str() {
        "apply" => {
            let changes = state.change_requests.apply(principal, id).await?;
            let view = state.change_requests.get(principal, id).await?;
            return Ok(Json(ActionDone {
                change_request: view.into(),
                changes: changes.into_iter().map(Into::into).collect(),
            }));
        }
        "submit" => Act::Submit,
        "approve" => Act::Approve {
            content_hash: request.content_hash.clone().ok_or_else(|| {
                InvalidInput::new(
                    "content_hash",
                    "an approval names the content it approves (the request's `content_hash`)",
                )
            })?,
        },
        "reject" => Act::Reject,
        "cancel" => Act::Cancel,
        "comment" => Act::Comment,
        "schedule" => Act::Schedule { at: at(&request)? },
        "unschedule" => Act::Unschedule,
        other => {
            return Err(InvalidInput::new(
                "action",
                format!("unknown action {other:?}; one of submit, approve, reject, cancel, comment, schedule, unschedule, apply"),
            )
            .into());
        }
    };
    state
        .change_requests
        .act(principal, id, act, &request.message)
        .await?;
    let view = state.change_requests.get(principal, id).await?;
    Ok(Json(ActionDone {
        change_request: view.into(),
        changes: Vec::new(),
    }))
}
