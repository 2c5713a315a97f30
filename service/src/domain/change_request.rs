//! Change requests, the pure part: the approval policy that protects a label, what a request
//! holds (edits and label moves of one server's scope) and the hash its approvals are given to,
//! who may approve it, and which state each action leads to.
//!
//! A request's approvals are kept as events carrying the content hash they approved; editing
//! the request changes the hash, so the earlier approvals stop counting without being erased.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::{InvalidInput, Kind, Label};

/// Most approvals a policy may ask for.
pub const MAX_APPROVALS: u8 = 10;
/// Most edits plus moves one request holds.
pub const MAX_ITEMS: usize = 1000;
/// Most subjects a policy may name as its approvers.
const MAX_SUBJECTS: usize = 100;
/// Longest subject a policy names.
const MAX_SUBJECT_LEN: usize = 256;

/// Which role an approver needs (an admin may approve whatever an editor may).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApproverRole {
    Editor,
    Admin,
}

impl ApproverRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }

    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidInput> {
        [Self::Editor, Self::Admin]
            .into_iter()
            .find(|r| r.as_str() == value)
            .ok_or_else(|| InvalidInput::new(field, format!("{value:?} is not editor or admin")))
    }
}

/// What moving one label of one scope of a server needs: this many approvals by people of this
/// role (and, when `subjects` is not empty, only these people). While it is in force the label
/// moves only by an applied change request, or by someone holding the emergency role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalPolicy {
    /// 1 to 10.
    pub approvals: u8,
    pub approver_role: ApproverRole,
    /// The only subjects who may approve; empty: anyone with the role.
    #[serde(default)]
    pub approvers: Vec<String>,
}

impl ApprovalPolicy {
    /// A policy as an admin sets it, each problem named by its field.
    pub fn new(
        approvals: u64,
        approver_role: ApproverRole,
        approvers: Vec<String>,
    ) -> Result<Self, InvalidInput> {
        if !(1..=u64::from(MAX_APPROVALS)).contains(&approvals) {
            return Err(InvalidInput::new(
                "approvals",
                format!("{approvals} is not between 1 and {MAX_APPROVALS}"),
            ));
        }
        if approvers.len() > MAX_SUBJECTS {
            return Err(InvalidInput::new(
                "approvers",
                format!("more than {MAX_SUBJECTS} subjects"),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, subject) in approvers.iter().enumerate() {
            if subject.trim().is_empty()
                || subject.trim() != subject
                || subject.len() > MAX_SUBJECT_LEN
            {
                return Err(InvalidInput::new(
                    format!("approvers[{i}]"),
                    format!(
                        "a subject is 1 to {MAX_SUBJECT_LEN} bytes, without spaces around it (a token's `sub` exactly)"
                    ),
                ));
            }
            if !seen.insert(subject) {
                return Err(InvalidInput::new(
                    format!("approvers[{i}]"),
                    format!("{subject:?} is listed twice"),
                ));
            }
        }
        if !approvers.is_empty() && approvers.len() < usize::from(approvals as u8) {
            return Err(InvalidInput::new(
                "approvers",
                format!(
                    "{} subjects cannot give {approvals} approvals",
                    approvers.len()
                ),
            ));
        }
        Ok(Self {
            approvals: approvals as u8,
            approver_role,
            approvers,
        })
    }

    /// Why `label` cannot have an approval policy, if it cannot: `latest` moves with every save.
    pub fn refuses(label: &Label) -> Option<&'static str> {
        matches!(label, Label::Latest).then_some(
            "`latest` moves with every save: protect `production` or a named label instead",
        )
    }
}

/// Where a request is in its life. Applied, rejected and cancelled are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    Draft,
    InReview,
    Approved,
    Scheduled,
    Applied,
    Rejected,
    Cancelled,
}

impl RequestState {
    pub const ALL: [RequestState; 7] = [
        Self::Draft,
        Self::InReview,
        Self::Approved,
        Self::Scheduled,
        Self::Applied,
        Self::Rejected,
        Self::Cancelled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::InReview => "in_review",
            Self::Approved => "approved",
            Self::Scheduled => "scheduled",
            Self::Applied => "applied",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }

    pub fn parse(field: &str, value: &str) -> Result<Self, InvalidInput> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|s| s.as_str()).collect();
                InvalidInput::new(
                    field,
                    format!("unknown state {value:?}; one of {}", known.join(", ")),
                )
            })
    }

    /// Whether the request can still change (be edited, approved, applied, cancelled).
    pub fn is_open(self) -> bool {
        !matches!(self, Self::Applied | Self::Rejected | Self::Cancelled)
    }
}

/// A new version of one entry that a request saves when it is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestEdit {
    pub kind: Kind,
    pub key: String,
    /// The content as stored (validated when the request was opened or edited).
    pub content: serde_json::Value,
    /// The entry's version when the request was opened or last edited (0: none); applying
    /// fails if the entry has moved on since.
    pub base_version: u64,
}

/// A label of one entry that a request moves when it is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestMove {
    pub label: Label,
    pub kind: Kind,
    pub key: String,
    /// The version the label goes to; `None`: the version this request's edit of the entry
    /// saves.
    pub version: Option<u64>,
    /// The version the label pointed at when the request was opened or last edited (0: it did
    /// not point at the entry); applying fails if it has moved since.
    pub base_version: u64,
}

/// What a request changes, in the order it is applied: the edits, then the moves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestItems {
    pub edits: Vec<RequestEdit>,
    pub moves: Vec<RequestMove>,
}

impl RequestItems {
    /// The hash approvals are given to: any change of an edit's content, a move, or a base
    /// changes it.
    pub fn hash(&self) -> String {
        let bytes = serde_json::to_vec(self).expect("request items serialize");
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Checks what a request may hold in a scope of `policy`: something, not too much, each
    /// entry edited once and each label of an entry moved once, no label that moves by itself,
    /// a move "to this request's edit" having that edit.
    pub fn check(&self, policy: super::ReleasePolicy) -> Result<(), InvalidInput> {
        if self.edits.is_empty() && self.moves.is_empty() {
            return Err(InvalidInput::new(
                "edits",
                "a change request needs at least one edit or move",
            ));
        }
        if self.edits.len() + self.moves.len() > MAX_ITEMS {
            return Err(InvalidInput::new(
                "moves",
                format!("more than {MAX_ITEMS} edits and moves"),
            ));
        }
        let mut edited = BTreeSet::new();
        for (i, edit) in self.edits.iter().enumerate() {
            if !edited.insert((edit.kind, edit.key.as_str())) {
                return Err(InvalidInput::new(
                    format!("edits[{i}].key"),
                    format!("{:?} is edited twice", edit.key),
                ));
            }
        }
        let mut moved = BTreeSet::new();
        for (i, one) in self.moves.iter().enumerate() {
            if let Some(why) = one.label.unmovable(policy) {
                return Err(InvalidInput::new(format!("moves[{i}].label"), why));
            }
            if !moved.insert((&one.label, one.kind, one.key.as_str())) {
                return Err(InvalidInput::new(
                    format!("moves[{i}].key"),
                    format!("label {} of {:?} is moved twice", one.label, one.key),
                ));
            }
            if one.version.is_none() && !edited.contains(&(one.kind, one.key.as_str())) {
                return Err(InvalidInput::new(
                    format!("moves[{i}].version"),
                    format!(
                        "no version given and the request does not edit {:?}",
                        one.key
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The version a move points its label at: its own, or the one its entry's edit saves.
    pub fn target_version(&self, one: &RequestMove) -> u64 {
        one.version.unwrap_or_else(|| {
            self.edits
                .iter()
                .find(|e| e.kind == one.kind && e.key == one.key)
                .map_or(0, |e| e.base_version + 1)
        })
    }

    /// The labels the request moves.
    pub fn labels(&self) -> BTreeSet<Label> {
        self.moves.iter().map(|m| m.label.clone()).collect()
    }
}

/// The approval rules a request was opened under: how many approvals it needs (fixed then; an
/// edit adding a stricter label raises it, nothing lowers it) and the policies each approver
/// must satisfy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApprovalRules {
    pub approvals_needed: u8,
    pub policies: Vec<LabelPolicy>,
}

/// The policy protecting one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LabelPolicy {
    #[schema(value_type = String)]
    pub label: Label,
    #[serde(flatten)]
    pub policy: ApprovalPolicy,
}

impl ApprovalRules {
    /// The rules of the policies in force for the labels a request moves; a request no policy
    /// covers still needs one approval (it asks for a review).
    pub fn of(policies: Vec<LabelPolicy>) -> Self {
        let approvals_needed = policies
            .iter()
            .map(|p| p.policy.approvals)
            .max()
            .unwrap_or(1)
            .max(1);
        Self {
            approvals_needed,
            policies,
        }
    }

    /// These rules after an edit, under `now` (the policies of the edited request's labels):
    /// policies of labels it did not have join, and the count never goes down.
    pub fn widened(&self, now: Vec<LabelPolicy>) -> Self {
        let mut policies = self.policies.clone();
        for policy in now {
            if !policies.iter().any(|p| p.label == policy.label) {
                policies.push(policy);
            }
        }
        let mut rules = Self::of(policies);
        rules.approvals_needed = rules.approvals_needed.max(self.approvals_needed);
        rules
    }

    /// Why `reviewer` may not approve (or reject) a request of `author` under these rules, if
    /// not. Write rights on the scope are checked by the caller.
    pub fn refuses(&self, author: &str, reviewer: &Reviewer<'_>) -> Option<String> {
        if reviewer.subject == author {
            return Some("the author of a change request cannot approve or reject it".into());
        }
        for LabelPolicy { label, policy } in &self.policies {
            if policy.approver_role == ApproverRole::Admin && !reviewer.admin {
                return Some(format!(
                    "the approval policy of label {label} needs an admin to approve"
                ));
            }
            if !policy.approvers.is_empty()
                && !policy.approvers.iter().any(|s| s == reviewer.subject)
            {
                return Some(format!(
                    "the approval policy of label {label} names who may approve, and {:?} is not one of them",
                    reviewer.subject
                ));
            }
        }
        None
    }
}

/// Who reviews a request.
#[derive(Debug, Clone, Copy)]
pub struct Reviewer<'a> {
    pub subject: &'a str,
    pub admin: bool,
}

/// What someone does to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestAction {
    Edit,
    Submit,
    /// With the number of distinct approvals of the current content once this one counts.
    Approve {
        approvals: u8,
    },
    Reject,
    Cancel,
    Schedule,
    Unschedule,
    Apply,
    /// A scheduled apply that could not be applied goes back to approved, saying why.
    ApplyFailed,
}

impl RequestAction {
    /// The event of an approval: what counts approvals in a trail.
    pub const APPROVED: &'static str = "approved";
    /// The event of an edit of the content: approvals before it no longer count.
    pub const EDITED: &'static str = "edited";

    /// The name its event has in the request's trail.
    pub fn event(self) -> &'static str {
        match self {
            Self::Edit => Self::EDITED,
            Self::Submit => "submitted",
            Self::Approve { .. } => Self::APPROVED,
            Self::Reject => "rejected",
            Self::Cancel => "cancelled",
            Self::Schedule => "scheduled",
            Self::Unschedule => "unscheduled",
            Self::Apply => "applied",
            Self::ApplyFailed => "apply_failed",
        }
    }
}

/// The state `action` leads to from `state` for a request needing `needed` approvals, or why it
/// cannot be done now.
pub fn next_state(
    state: RequestState,
    action: RequestAction,
    needed: u8,
) -> Result<RequestState, String> {
    use RequestAction as A;
    use RequestState as S;
    let next = match (state, action) {
        (S::Draft, A::Edit) => S::Draft,
        // An edit voids the approvals: review starts again, a schedule is dropped.
        (S::InReview | S::Approved | S::Scheduled, A::Edit) => S::InReview,
        (S::Draft, A::Submit) => S::InReview,
        (S::InReview, A::Approve { approvals }) if approvals >= needed => S::Approved,
        (S::InReview, A::Approve { .. }) => S::InReview,
        // More approvals than needed (a policy set since may ask for them) change nothing.
        (S::Approved | S::Scheduled, A::Approve { .. }) => state,
        (S::InReview | S::Approved | S::Scheduled, A::Reject) => S::Rejected,
        (S::Draft | S::InReview | S::Approved | S::Scheduled, A::Cancel) => S::Cancelled,
        (S::Approved | S::Scheduled, A::Schedule) => S::Scheduled,
        (S::Scheduled, A::Unschedule | A::ApplyFailed) => S::Approved,
        (S::Approved | S::Scheduled, A::Apply) => S::Applied,
        (state, action) => {
            return Err(format!(
                "a change request that is {} cannot be {}",
                state.as_str(),
                action.event()
            ));
        }
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Slug;

    fn staging() -> Label {
        Label::Named(Slug::parse("label", "staging").unwrap())
    }

    fn edit(key: &str, base: u64) -> RequestEdit {
        RequestEdit {
            kind: Kind::Prompts,
            key: key.into(),
            content: serde_json::json!({"messages": [{"role": "user", "content": key}]}),
            base_version: base,
        }
    }

    fn to_edit(label: Label, key: &str) -> RequestMove {
        RequestMove {
            label,
            kind: Kind::Prompts,
            key: key.into(),
            version: None,
            base_version: 1,
        }
    }

    #[test]
    fn policies_are_bounded_and_name_their_field() {
        assert_eq!(
            ApprovalPolicy::new(0, ApproverRole::Editor, vec![])
                .unwrap_err()
                .field,
            "approvals"
        );
        assert_eq!(
            ApprovalPolicy::new(11, ApproverRole::Editor, vec![])
                .unwrap_err()
                .field,
            "approvals"
        );
        let twice =
            ApprovalPolicy::new(1, ApproverRole::Admin, vec!["a".into(), "a".into()]).unwrap_err();
        assert_eq!(twice.field, "approvers[1]");
        let padded =
            ApprovalPolicy::new(1, ApproverRole::Admin, vec![" carol".into()]).unwrap_err();
        assert_eq!(padded.field, "approvers[0]");
        let too_few =
            ApprovalPolicy::new(3, ApproverRole::Editor, vec!["a".into(), "b".into()]).unwrap_err();
        assert_eq!(too_few.field, "approvers");
        assert!(ApprovalPolicy::new(10, ApproverRole::Editor, vec![]).is_ok());
        assert!(ApprovalPolicy::refuses(&Label::Latest).is_some());
        assert!(ApprovalPolicy::refuses(&Label::Production).is_none());
    }

    #[test]
    fn the_hash_follows_content_moves_and_bases() {
        let items = RequestItems {
            edits: vec![edit("greet", 1)],
            moves: vec![to_edit(Label::Production, "greet")],
        };
        let same = items.clone();
        assert_eq!(items.hash(), same.hash());
        assert_eq!(items.hash().len(), 64);
        let mut other_content = items.clone();
        other_content.edits[0].content = serde_json::json!({"messages": []});
        assert_ne!(items.hash(), other_content.hash());
        let mut other_base = items.clone();
        other_base.edits[0].base_version = 2;
        assert_ne!(items.hash(), other_base.hash());
        let mut other_label = items.clone();
        other_label.moves[0].label = staging();
        assert_ne!(items.hash(), other_label.hash());
    }

    #[test]
    fn items_are_checked_and_moves_to_an_edit_resolve() {
        let manual = crate::domain::ReleasePolicy::Manual;
        let empty = RequestItems::default().check(manual).unwrap_err();
        assert_eq!(empty.field, "edits");
        let twice = RequestItems {
            edits: vec![edit("greet", 1), edit("greet", 1)],
            moves: vec![],
        };
        assert_eq!(twice.check(manual).unwrap_err().field, "edits[1].key");
        let orphan = RequestItems {
            edits: vec![],
            moves: vec![to_edit(Label::Production, "greet")],
        };
        assert_eq!(orphan.check(manual).unwrap_err().field, "moves[0].version");
        let latest = RequestItems {
            edits: vec![edit("greet", 1)],
            moves: vec![to_edit(Label::Latest, "greet")],
        };
        assert_eq!(latest.check(manual).unwrap_err().field, "moves[0].label");
        let good = RequestItems {
            edits: vec![edit("greet", 4)],
            moves: vec![
                to_edit(Label::Production, "greet"),
                RequestMove {
                    version: Some(2),
                    ..to_edit(staging(), "greet")
                },
            ],
        };
        good.check(manual).unwrap();
        let auto = crate::domain::ReleasePolicy::Auto;
        assert_eq!(
            good.check(auto).unwrap_err().field,
            "moves[0].label",
            "production follows saves in an auto scope"
        );
        assert_eq!(good.target_version(&good.moves[0]), 5);
        assert_eq!(good.target_version(&good.moves[1]), 2);
        assert_eq!(good.labels().len(), 2);
    }

    fn rules(approvals: u8, role: ApproverRole, approvers: &[&str]) -> ApprovalRules {
        ApprovalRules::of(vec![LabelPolicy {
            label: Label::Production,
            policy: ApprovalPolicy {
                approvals,
                approver_role: role,
                approvers: approvers.iter().map(|s| s.to_string()).collect(),
            },
        }])
    }

    #[test]
    fn approvers_are_not_the_author_and_satisfy_every_policy() {
        let editor = |subject| Reviewer {
            subject,
            admin: false,
        };
        let open = rules(2, ApproverRole::Editor, &[]);
        assert!(
            open.refuses("ann", &editor("ann"))
                .unwrap()
                .contains("author")
        );
        assert!(open.refuses("ann", &editor("bob")).is_none());
        let admins = rules(1, ApproverRole::Admin, &[]);
        assert!(
            admins
                .refuses("ann", &editor("bob"))
                .unwrap()
                .contains("admin")
        );
        assert!(
            admins
                .refuses(
                    "ann",
                    &Reviewer {
                        subject: "bob",
                        admin: true
                    }
                )
                .is_none()
        );
        let named = rules(1, ApproverRole::Editor, &["carol"]);
        assert!(
            named
                .refuses("ann", &editor("bob"))
                .unwrap()
                .contains("bob")
        );
        assert!(named.refuses("ann", &editor("carol")).is_none());
        assert_eq!(ApprovalRules::of(vec![]).approvals_needed, 1);
    }

    #[test]
    fn rules_widen_but_never_lower() {
        let three = rules(3, ApproverRole::Editor, &[]);
        let widened = three.widened(vec![LabelPolicy {
            label: staging(),
            policy: ApprovalPolicy {
                approvals: 1,
                approver_role: ApproverRole::Admin,
                approvers: vec![],
            },
        }]);
        assert_eq!(widened.approvals_needed, 3);
        assert_eq!(widened.policies.len(), 2);
        assert_eq!(three.widened(vec![]).approvals_needed, 3);
    }

    #[test]
    fn states_follow_the_table() {
        use RequestAction as A;
        use RequestState as S;
        assert_eq!(next_state(S::Draft, A::Submit, 2), Ok(S::InReview));
        assert_eq!(
            next_state(S::InReview, A::Approve { approvals: 1 }, 2),
            Ok(S::InReview)
        );
        assert_eq!(
            next_state(S::InReview, A::Approve { approvals: 2 }, 2),
            Ok(S::Approved)
        );
        assert_eq!(next_state(S::Approved, A::Edit, 2), Ok(S::InReview));
        assert_eq!(next_state(S::Scheduled, A::Edit, 2), Ok(S::InReview));
        assert_eq!(next_state(S::Approved, A::Schedule, 2), Ok(S::Scheduled));
        assert_eq!(next_state(S::Scheduled, A::Unschedule, 2), Ok(S::Approved));
        assert_eq!(next_state(S::Scheduled, A::Apply, 2), Ok(S::Applied));
        assert!(next_state(S::InReview, A::Apply, 2).is_err());
        assert!(next_state(S::Draft, A::Approve { approvals: 5 }, 1).is_err());
        assert_eq!(
            next_state(S::Scheduled, A::Approve { approvals: 3 }, 2),
            Ok(S::Scheduled)
        );
        let applied = next_state(S::Applied, A::Cancel, 1).unwrap_err();
        assert!(applied.contains("applied"), "{applied}");
        for state in RequestState::ALL {
            assert_eq!(RequestState::parse("state", state.as_str()), Ok(state));
        }
    }
}
