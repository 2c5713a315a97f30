//! Change requests: edits and label moves of one server's scope that apply together, in one
//! transaction, once enough people other than the author approved exactly what they hold; and
//! the approval policies that make them the only way (save the emergency role) to move a label.
//!
//! Every operation checks the caller's rights on the request's scope; a request of a scope the
//! caller cannot read is "not found". The state rules are [`crate::domain::next_state`]'s.

pub mod scheduler;

use serde_json::json;

use crate::{
    auth::{self, Principal},
    content::Content,
    domain::{
        ApprovalPolicy, ApprovalRules, EntryId, EntryKey, InvalidInput, Kind, Label, LabelPolicy,
        MAX_ITEMS, RequestAction, RequestEdit, RequestItems, RequestMove, RequestState, Reviewer,
        Scope, Slug, next_state,
    },
    edits::Editor,
    error::{Error, Result},
    propagation::relay::RelayHandle,
    store::{
        ApplyPlan, ApprovalPolicyRow, BaseCheck, Change, ChangeRequestRow, LabelMove, MoveTarget,
        NewEvent, Promotion, RequestEventRow, RequestFilter, Selection, Store, Write, WriteOp,
    },
    store::{NewDelivery, WebhookRow},
};

/// Most requests a list shows.
pub const MAX_LISTED: u32 = 200;
/// Most events a request's trail keeps.
const MAX_EVENTS: usize = 1000;
/// Longest title; longest description or comment.
const MAX_TITLE_BYTES: usize = 200;
const MAX_TEXT_BYTES: usize = 16 * 1024;

/// A request as its author writes it (parsed and checked at the door, each field named).
#[derive(Debug, Clone)]
pub struct Draft {
    pub title: String,
    pub description: String,
    pub edits: Vec<DraftEdit>,
    pub moves: Vec<DraftMove>,
}

#[derive(Debug, Clone)]
pub struct DraftEdit {
    pub key: EntryKey,
    pub content: Content,
}

#[derive(Debug, Clone)]
pub struct DraftMove {
    pub label: Label,
    pub kind: Kind,
    pub key: EntryKey,
    /// `None`: the version this request's edit of the entry saves.
    pub version: Option<u64>,
}

/// What a reviewer or the author does to a request (an edit and applying have their own calls).
#[derive(Debug, Clone)]
pub enum Act {
    Submit,
    /// `content_hash`: what the approver reviewed; if the request changed since, nothing is
    /// approved.
    Approve {
        content_hash: String,
    },
    Reject,
    Cancel,
    Comment,
    /// At this time (ms since the epoch).
    Schedule {
        at: i64,
    },
    Unschedule,
}

/// A request with its trail and the approvals that count for what it holds now.
#[derive(Debug, Clone)]
pub struct RequestView {
    pub request: ChangeRequestRow,
    pub events: Vec<RequestEventRow>,
    /// The rules in force: the request's, with the policies set since on labels it had none
    /// for.
    pub rules: ApprovalRules,
    /// The approvals that count, oldest first: of the current content, given after its last
    /// edit, once per person, by someone the rules in force accept.
    pub approvals: Vec<Approval>,
}

/// An approval that counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub seq: u64,
    pub by: String,
    pub at: i64,
}

impl RequestView {
    pub fn approved_by(&self) -> Vec<String> {
        self.approvals.iter().map(|a| a.by.clone()).collect()
    }

    /// Whether the event numbered `seq` is an approval that counts.
    pub fn counts(&self, seq: u64) -> bool {
        self.approvals.iter().any(|a| a.seq == seq)
    }
}

#[derive(Clone)]
pub struct ChangeRequests {
    store: Store,
    relay: RelayHandle,
    editor: Editor,
}

impl ChangeRequests {
    pub fn new(store: Store, relay: RelayHandle, editor: Editor) -> Self {
        Self {
            store,
            relay,
            editor,
        }
    }

    /// The approval policies of a scope of a server.
    pub async fn policies(
        &self,
        principal: &Principal,
        server: &Slug,
        scope: &Scope,
    ) -> Result<Vec<ApprovalPolicyRow>> {
        auth::check_read(principal, scope)?;
        Ok(self.store.approval_policies(server, scope).await?)
    }

    pub async fn set_policy(
        &self,
        principal: &Principal,
        server: &Slug,
        scope: &Scope,
        label: &Label,
        policy: &ApprovalPolicy,
    ) -> Result<ApprovalPolicyRow> {
        auth::check_admin(principal, scope, "approval policies")?;
        if let Some(why) = ApprovalPolicy::refuses(label) {
            return Err(InvalidInput::new("label", why).into());
        }
        Ok(self
            .store
            .set_approval_policy(server, scope, label, policy, &principal.subject)
            .await?)
    }

    pub async fn delete_policy(
        &self,
        principal: &Principal,
        server: &Slug,
        scope: &Scope,
        label: &Label,
    ) -> Result<()> {
        auth::check_admin(principal, scope, "approval policies")?;
        if self
            .store
            .delete_approval_policy(server, scope, label)
            .await?
        {
            Ok(())
        } else {
            Err(Error::NotFound(format!("approval policy of label {label}")))
        }
    }

    /// Opens a request in `scope` of `server` (in review at once with `submit`).
    pub async fn open(
        &self,
        principal: &Principal,
        server: &Slug,
        scope: &Scope,
        draft: Draft,
        submit: bool,
    ) -> Result<ChangeRequestRow> {
        auth::check_write(principal, scope)?;
        check_draft(&draft)?;
        let items = self.items(server, scope, &draft).await?;
        let rules = ApprovalRules::of(self.policies_of(server, scope, &items).await?);
        let row = ChangeRequestRow {
            id: 0,
            server: server.clone(),
            scope: scope.clone(),
            title: draft.title,
            description: draft.description,
            author: principal.subject.clone(),
            state: if submit {
                RequestState::InReview
            } else {
                RequestState::Draft
            },
            content_hash: items.hash(),
            items,
            rules,
            scheduled_at: None,
            scheduled_by: None,
            applied_revision: None,
            last_seq: 0,
            created_at: 0,
            updated_at: 0,
        };
        let event = event(
            principal,
            if submit {
                "opened for review"
            } else {
                "opened"
            },
            String::new(),
        );
        Ok(self
            .store
            .open_change_request(&row, &event, &announcer(&event))
            .await?)
    }

    /// A request, if the caller may read its scope (else not found, as if it did not exist).
    pub async fn get(&self, principal: &Principal, id: u64) -> Result<RequestView> {
        let not_found = || Error::NotFound(format!("change request {id}"));
        let (request, events) = self.store.change_request(id).await?.ok_or_else(not_found)?;
        if auth::check_read(principal, &request.scope).is_err() {
            return Err(not_found());
        }
        self.view(request, events).await
    }

    async fn view(
        &self,
        request: ChangeRequestRow,
        events: Vec<RequestEventRow>,
    ) -> Result<RequestView> {
        let rules = request.rules.widened(
            self.policies_of(&request.server, &request.scope, &request.items)
                .await?,
        );
        let approvals = approvals(&request, &events, &rules);
        Ok(RequestView {
            request,
            events,
            rules,
            approvals,
        })
    }

    /// The requests of `filter` the caller may read, newest first.
    pub async fn list(
        &self,
        principal: &Principal,
        filter: &RequestFilter,
    ) -> Result<Vec<ChangeRequestRow>> {
        match &filter.scope {
            Some(scope) => auth::check_read(principal, scope)?,
            None => auth::check_global_admin(principal)?,
        }
        Ok(self.store.change_requests(filter, MAX_LISTED).await?)
    }

    /// Replaces what a request holds (its author only). When the content changes, the
    /// approvals given before stop counting and review starts again; a new title or
    /// description alone changes neither.
    pub async fn edit(
        &self,
        principal: &Principal,
        id: u64,
        draft: Draft,
    ) -> Result<ChangeRequestRow> {
        let view = self.get(principal, id).await?;
        let request = &view.request;
        auth::check_write(principal, &request.scope)?;
        if request.author != principal.subject {
            return Err(Error::Forbidden(format!(
                "only the author ({}) edits change request {id}",
                request.author
            )));
        }
        check_draft(&draft)?;
        check_trail(&view)?;
        let state = next_state(
            request.state,
            RequestAction::Edit,
            view.rules.approvals_needed,
        )
        .map_err(Error::Refused)?;
        let items = self.items(&request.server, &request.scope, &draft).await?;
        let hash = items.hash();
        let content_changed = hash != request.content_hash;
        let (state, scheduled_at, scheduled_by) = if content_changed {
            (state, None, None)
        } else {
            (
                request.state,
                request.scheduled_at,
                request.scheduled_by.clone(),
            )
        };
        let edited = ChangeRequestRow {
            title: draft.title,
            description: draft.description,
            state,
            content_hash: hash,
            rules: view.rules.widened(
                self.policies_of(&request.server, &request.scope, &items)
                    .await?,
            ),
            items,
            scheduled_at,
            scheduled_by,
            ..request.clone()
        };
        let event = match (content_changed, view.approvals.len()) {
            (false, _) => event(principal, "retitled", String::new()),
            (true, 0) => event(principal, RequestAction::Edit.event(), String::new()),
            (true, n) => event(
                principal,
                RequestAction::Edit.event(),
                format!("the content changed: {n} approval(s) voided"),
            ),
        };
        Ok(self
            .store
            .update_change_request(&edited, &event, &announcer(&event))
            .await?)
    }

    /// Submits, approves, rejects, cancels, comments on, schedules or unschedules a request.
    pub async fn act(
        &self,
        principal: &Principal,
        id: u64,
        act: Act,
        message: &str,
    ) -> Result<ChangeRequestRow> {
        if message.len() > MAX_TEXT_BYTES {
            return Err(InvalidInput::new(
                "message",
                format!("longer than {MAX_TEXT_BYTES} bytes"),
            )
            .into());
        }
        let view = self.get(principal, id).await?;
        let request = &view.request;
        auth::check_write(principal, &request.scope)?;
        check_trail(&view)?;
        let is_author = request.author == principal.subject;
        let reviewer = Reviewer {
            subject: &principal.subject,
            admin: principal.roles.admin,
        };
        let mut next = ChangeRequestRow {
            rules: view.rules.clone(),
            ..request.clone()
        };
        let action = match &act {
            Act::Comment => {
                if message.trim().is_empty() {
                    return Err(InvalidInput::new("message", "a comment needs text").into());
                }
                let event = event(principal, "commented", message.to_owned());
                return Ok(self
                    .store
                    .update_change_request(&next, &event, &announcer(&event))
                    .await?);
            }
            Act::Submit | Act::Cancel if !is_author && !principal.roles.admin => {
                return Err(Error::Forbidden(format!(
                    "only the author ({}) or an admin does this to change request {id}",
                    request.author
                )));
            }
            Act::Submit => RequestAction::Submit,
            Act::Cancel => RequestAction::Cancel,
            Act::Approve { content_hash } => {
                if let Some(why) = view.rules.refuses(&request.author, &reviewer) {
                    return Err(Error::Forbidden(why));
                }
                if *content_hash != request.content_hash {
                    return Err(Error::Refused(format!(
                        "change request {id} changed since it was reviewed: review it again"
                    )));
                }
                if view.approved_by().contains(&principal.subject) {
                    return Err(Error::Refused(format!(
                        "{} has approved change request {id} already",
                        principal.subject
                    )));
                }
                RequestAction::Approve {
                    approvals: u8::try_from(view.approvals.len() + 1).unwrap_or(u8::MAX),
                }
            }
            Act::Reject => {
                if let Some(why) = view.rules.refuses(&request.author, &reviewer) {
                    return Err(Error::Forbidden(why));
                }
                RequestAction::Reject
            }
            Act::Schedule { at } => {
                self.check_may_apply(&view, principal).await?;
                next.scheduled_at = Some(*at);
                next.scheduled_by = Some(principal.subject.clone());
                RequestAction::Schedule
            }
            Act::Unschedule => {
                next.scheduled_at = None;
                next.scheduled_by = None;
                RequestAction::Unschedule
            }
        };
        next.state = next_state(request.state, action, view.rules.approvals_needed)
            .map_err(Error::Refused)?;
        let event = event(
            principal,
            action.event(),
            match act {
                Act::Schedule { at } => format!("for {at}"),
                _ => message.to_owned(),
            },
        );
        Ok(self
            .store
            .update_change_request(&next, &event, &announcer(&event))
            .await?)
    }

    /// Applies an approved (or scheduled) request now, in one transaction.
    pub async fn apply(&self, principal: &Principal, id: u64) -> Result<Vec<Change>> {
        let view = self.get(principal, id).await?;
        auth::check_write(principal, &view.request.scope)?;
        self.check_may_apply(&view, principal).await?;
        self.apply_view(
            &view,
            &event(principal, RequestAction::Apply.event(), String::new()),
        )
        .await
    }

    /// Whether `principal` may apply (or schedule) the request: a protected label it moves
    /// moves only by an admin, as a direct move would.
    async fn check_may_apply(&self, view: &RequestView, principal: &Principal) -> Result<()> {
        if principal.roles.admin {
            return Ok(());
        }
        let moved = view.request.items.labels();
        let protected = self.store.list_labels(None).await?;
        match protected
            .iter()
            .find(|l| l.protected && moved.contains(&l.name))
        {
            Some(label) => Err(Error::Forbidden(format!(
                "label {} is protected: only admins apply or schedule a request that moves it",
                label.name
            ))),
            None => Ok(()),
        }
    }

    async fn apply_view(&self, view: &RequestView, event: &NewEvent) -> Result<Vec<Change>> {
        let request = &view.request;
        next_state(
            request.state,
            RequestAction::Apply,
            view.rules.approvals_needed,
        )
        .map_err(Error::Refused)?;
        // A policy set since the request was approved may ask for more.
        if view.approvals.len() < usize::from(view.rules.approvals_needed) {
            return Err(Error::Refused(format!(
                "change request {} needs {} approvals under the approval policies in force and has {}: ask for more reviews",
                request.id,
                view.rules.approvals_needed,
                view.approvals.len()
            )));
        }
        let plan = plan(view)?;
        let changes = self
            .store
            .apply_change_request(request, &plan, event, &announcer(event))
            .await?;
        self.relay.committed(&changes);
        Ok(changes)
    }

    /// Applies the scheduled requests that are due, as the people who scheduled them. One that
    /// cannot be applied goes back to approved with the reason in its trail. Returns how many
    /// were applied by this call (another replica may apply the others: a request applies once).
    pub async fn apply_due(&self, now: i64) -> Result<usize> {
        let mut applied = 0;
        for id in self.store.due_change_requests(now, 20).await? {
            match self.apply_scheduled(id).await {
                Ok(true) => applied += 1,
                Ok(false) => {}
                Err(Error::Store(e)) if e.is_unreachable() => return Err(Error::Store(e)),
                // One request that cannot even be read never holds up the others.
                Err(e) => {
                    tracing::warn!(request = id, error = %e, "a scheduled change request could not be applied")
                }
            }
        }
        Ok(applied)
    }

    /// Applies one due request; `false` if it is no longer scheduled or could not be applied
    /// (then it is approved again, the reason in its trail).
    async fn apply_scheduled(&self, id: u64) -> Result<bool> {
        let Some((request, events)) = self.store.change_request(id).await? else {
            return Ok(false);
        };
        if request.state != RequestState::Scheduled {
            return Ok(false);
        }
        let actor = request
            .scheduled_by
            .clone()
            .unwrap_or_else(|| request.author.clone());
        let view = self.view(request, events).await?;
        let applying = NewEvent {
            action: RequestAction::Apply.event(),
            actor: actor.clone(),
            admin: false,
            message: "as scheduled".into(),
        };
        match self.apply_view(&view, &applying).await {
            Ok(_) => Ok(true),
            Err(Error::Store(e)) => Err(Error::Store(e)),
            Err(e) => {
                tracing::warn!(request = id, error = %e, "a scheduled change request could not be applied");
                let request = &view.request;
                let back = ChangeRequestRow {
                    state: next_state(
                        request.state,
                        RequestAction::ApplyFailed,
                        view.rules.approvals_needed,
                    )
                    .map_err(Error::Refused)?,
                    scheduled_at: None,
                    scheduled_by: None,
                    ..request.clone()
                };
                let failed = NewEvent {
                    action: RequestAction::ApplyFailed.event(),
                    actor,
                    admin: false,
                    message: e.to_string(),
                };
                // Another replica may have acted on it meanwhile: then its state stands.
                if let Err(e) = self
                    .store
                    .update_change_request(&back, &failed, &announcer(&failed))
                    .await
                {
                    tracing::debug!(request = id, error = %e, "the request changed meanwhile");
                }
                Ok(false)
            }
        }
    }

    /// A draft's items with the base each starts from (where the entry and each moved label
    /// stand now), every edit's content checked as a save would check it.
    async fn items(&self, server: &Slug, scope: &Scope, draft: &Draft) -> Result<RequestItems> {
        let policy = self.store.policy(server, scope).await?;
        let id = |kind, key: &EntryKey| EntryId {
            scope: scope.clone(),
            server: server.clone(),
            kind,
            key: key.clone(),
        };
        let mut items = RequestItems::default();
        for (i, edit) in draft.edits.iter().enumerate() {
            let entry = id(edit.content.kind(), &edit.key);
            self.editor
                .check_content(&entry, &edit.content)
                .await
                .map_err(|e| e.within(&format!("edits[{i}].content")))?;
            let base_version = self.store.head(&entry).await?.map_or(0, |h| h.version);
            items.edits.push(RequestEdit {
                kind: entry.kind,
                key: edit.key.as_str().to_owned(),
                content: serde_json::from_str(&edit.content.to_json())
                    .map_err(|e| Error::corrupt("content", &e))?,
                base_version,
            });
        }
        for (i, one) in draft.moves.iter().enumerate() {
            let entry = id(one.kind, &one.key);
            if let Some(version) = one.version
                && self.store.version(&entry, version).await?.is_none()
            {
                return Err(InvalidInput::new(
                    format!("moves[{i}].version"),
                    format!("{entry} has no version {version}"),
                )
                .into());
            }
            let base_version = self
                .store
                .labels_of(&entry)
                .await?
                .into_iter()
                .find(|row| row.label == one.label)
                .map_or(0, |row| row.state.version);
            items.moves.push(RequestMove {
                label: one.label.clone(),
                kind: one.kind,
                key: one.key.as_str().to_owned(),
                version: one.version,
                base_version,
            });
        }
        items.check(policy)?;
        Ok(items)
    }

    /// The approval policies in force for the labels `items` moves.
    async fn policies_of(
        &self,
        server: &Slug,
        scope: &Scope,
        items: &RequestItems,
    ) -> Result<Vec<LabelPolicy>> {
        let labels = items.labels();
        if labels.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .store
            .approval_policies(server, scope)
            .await?
            .into_iter()
            .filter(|row| labels.contains(&row.label))
            .map(|row| LabelPolicy {
                label: row.label,
                policy: row.policy,
            })
            .collect())
    }
}

fn event(principal: &Principal, action: &'static str, message: String) -> NewEvent {
    NewEvent {
        action,
        actor: principal.subject.clone(),
        admin: principal.roles.admin,
        message,
    }
}

/// Announces `event` to its request's scope's webhooks, in the event's transaction.
fn announcer(
    event: &NewEvent,
) -> impl Fn(&ChangeRequestRow, u64, &[WebhookRow]) -> Vec<NewDelivery> + Send + Sync + '_ {
    move |request, seq, hooks| crate::webhooks::plan_request(request, event, seq, hooks)
}

/// The approvals that count under `rules`: of the request's current content, after its last
/// edit of the content (so content changed and changed back does not revive them), once per
/// person, by someone the rules accept (role as recorded when they approved, named subjects).
fn approvals(
    request: &ChangeRequestRow,
    events: &[RequestEventRow],
    rules: &ApprovalRules,
) -> Vec<Approval> {
    let since = events
        .iter()
        .rposition(|e| e.action == RequestAction::EDITED)
        .map_or(0, |i| i + 1);
    let mut counted: Vec<Approval> = Vec::new();
    for event in &events[since..] {
        let reviewer = Reviewer {
            subject: &event.actor,
            admin: event.admin,
        };
        if event.action == RequestAction::APPROVED
            && event.content_hash == request.content_hash
            && !counted.iter().any(|a| a.by == event.actor)
            && rules.refuses(&request.author, &reviewer).is_none()
        {
            counted.push(Approval {
                seq: event.seq,
                by: event.actor.clone(),
                at: event.created_at,
            });
        }
    }
    counted
}

/// A request's trail is bounded: past this many events it takes no more (cancel it and open
/// another).
fn check_trail(view: &RequestView) -> Result<()> {
    if view.events.len() >= MAX_EVENTS {
        return Err(Error::Refused(format!(
            "change request {} has {MAX_EVENTS} events, the most one keeps: open another",
            view.request.id
        )));
    }
    Ok(())
}

/// What can be checked of a draft before any of it is read from the store.
fn check_draft(draft: &Draft) -> Result<()> {
    if draft.edits.len() + draft.moves.len() > MAX_ITEMS {
        return Err(
            InvalidInput::new("moves", format!("more than {MAX_ITEMS} edits and moves")).into(),
        );
    }
    check_text(draft)
}

fn check_text(draft: &Draft) -> Result<()> {
    if draft.title.trim().is_empty() || draft.title.len() > MAX_TITLE_BYTES {
        return Err(InvalidInput::new(
            "title",
            format!("a title is 1 to {MAX_TITLE_BYTES} bytes, not blank"),
        )
        .into());
    }
    if draft.description.len() > MAX_TEXT_BYTES {
        return Err(InvalidInput::new(
            "description",
            format!("longer than {MAX_TEXT_BYTES} bytes"),
        )
        .into());
    }
    Ok(())
}

/// What applying `view`'s request writes: its edits (each expecting its base), then one
/// promotion per label it moves, and the checks of every base.
fn plan(view: &RequestView) -> Result<ApplyPlan> {
    let request = &view.request;
    let items = &request.items;
    let entry = |kind, key: &str| -> Result<EntryId> {
        Ok(EntryId {
            scope: request.scope.clone(),
            server: request.server.clone(),
            kind,
            key: EntryKey::parse(kind, key)?,
        })
    };
    let mut checks = Vec::new();
    let mut writes = Vec::new();
    for edit in &items.edits {
        checks.push(BaseCheck {
            kind: edit.kind,
            key: edit.key.clone(),
            label: None,
            expected: edit.base_version,
        });
        writes.push(Write {
            id: entry(edit.kind, &edit.key)?,
            op: WriteOp::Save {
                body: edit.content.to_string(),
                message: format!("change request {}: {}", request.id, request.title),
                restores: None,
            },
            expected_version: Some(edit.base_version),
        });
    }
    let mut promotions: Vec<Promotion> = Vec::new();
    for one in &items.moves {
        checks.push(BaseCheck {
            kind: one.kind,
            key: one.key.clone(),
            label: Some(one.label.clone()),
            expected: one.base_version,
        });
        let moved = LabelMove {
            kind: one.kind,
            key: one.key.clone(),
            to: MoveTarget::Version(items.target_version(one)),
            expected_version: Some(one.base_version),
        };
        match promotions.iter_mut().find(|p| p.label == one.label) {
            Some(Promotion {
                selection: Selection::Only(moves),
                ..
            }) => moves.push(moved),
            _ => promotions.push(Promotion {
                scope: request.scope.clone(),
                server: request.server.clone(),
                label: one.label.clone(),
                selection: Selection::Only(vec![moved]),
                message: format!("change request {}: {}", request.id, request.title),
                emergency: None,
            }),
        }
    }
    let trail = json!({
        "id": request.id,
        "title": request.title,
        "author": request.author,
        "opened_at": request.created_at,
        "approved_by": view.approved_by(),
        "approvals": view
            .approvals
            .iter()
            .map(|a| json!({"by": a.by, "at": a.at}))
            .collect::<Vec<_>>(),
    });
    Ok(ApplyPlan {
        checks,
        writes,
        promotions,
        trail,
    })
}
