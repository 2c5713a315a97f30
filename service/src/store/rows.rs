//! What the store reads and writes, in the domain's types.

use serde::Serialize;

use crate::domain::{Cohort, EntryId, Kind, Label, Labels, Revision, Scope, Slug};

/// One head row of an effective view's query, with the content of its current version.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewRow {
    pub org: Scope,
    pub key: String,
    pub active: bool,
    pub deleted: bool,
    pub revision: Revision,
    /// `None` for a hide marker (version 0), which has no content.
    pub body: Option<String>,
}

/// The rows of an effective view and the global revision they were read at.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedView {
    pub snapshot: Revision,
    pub rows: Vec<ViewRow>,
    /// The view's scope names no registered org: it reads the defaults alone.
    pub org_unknown: bool,
}

impl LoadedView {
    /// The view of `scope` from its rows, where `registered_at` is the revision at which the
    /// scope's org was registered (`None`: no such org). A registration counts in the view's
    /// revision as an entry's change would, so the view an org read while unknown is never
    /// answered `not_modified` once it is registered: it rides along as a tombstone row,
    /// which moves the revision and shows nothing.
    pub fn new(
        snapshot: Revision,
        scope: &Scope,
        registered_at: Option<Revision>,
        mut rows: Vec<ViewRow>,
    ) -> Self {
        let Scope::Org(_) = scope else {
            return Self {
                snapshot,
                rows,
                org_unknown: false,
            };
        };
        if let Some(revision) = registered_at.filter(|r| *r > 0) {
            rows.push(ViewRow {
                org: scope.clone(),
                key: String::new(),
                active: false,
                deleted: true,
                revision,
                body: None,
            });
        }
        Self {
            snapshot,
            rows,
            org_unknown: registered_at.is_none(),
        }
    }
}

/// The head of one entry of one scope.
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    pub key: String,
    pub version: u64,
    pub active: bool,
    pub deleted: bool,
    pub revision: Revision,
    pub updated_at: i64,
    pub body: Option<String>,
}

/// One immutable version of an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionRow {
    pub version: u64,
    pub body: String,
    pub actor: String,
    pub message: String,
    pub revision: Revision,
    pub created_at: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct OrgRow {
    pub slug: String,
    pub name: String,
    pub created_at: i64,
    /// Who created it (the token subject); empty for orgs created before this was recorded.
    pub created_by: String,
}

/// One committed change: an audit record, an outbox message and a Watch event at once.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub revision: Revision,
    pub org: Scope,
    pub server: Slug,
    pub kind: Kind,
    pub keys: Vec<String>,
    pub action: ChangeAction,
    /// The version a rollback restored.
    pub restored_version: Option<u64>,
    /// The labels whose views it touched.
    pub labels: Labels,
    /// With the defaults' scope: the only orgs whose views it changed (a rollout's cohort
    /// moved); empty: every org's.
    pub orgs: Vec<Slug>,
    /// What a label move or a rollout step did beyond its keys: why, and from which version to
    /// which (`None` for other changes).
    pub detail: Option<serde_json::Value>,
    pub actor: String,
    pub created_at: i64,
    pub published: bool,
}

/// What a change did, as the change log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    Create,
    Update,
    /// An org hid a default.
    Hide,
    /// An org showed a default it had hidden.
    Unhide,
    Activate,
    Deactivate,
    Delete,
    /// An old version's content saved as the new version ([`Change::restored_version`]).
    Rollback,
    /// Several entries of one (scope, server, kind) at once.
    Import,
    /// A label moved: a promotion, or a move back ([`LabelMoveRow`] has from and to).
    Promote,
    /// A scope's release policy changed (its production views follow the head again, or stop).
    Policy,
    /// A rollout of a default's label started, changed its cohort, completed or was aborted.
    Rollout,
    /// An org was registered: its views, which read as an unknown org's until now, read as
    /// its own (no entry changed; see `org_unknown` on the read responses).
    Register,
}

impl ChangeAction {
    const ALL: [ChangeAction; 13] = [
        ChangeAction::Create,
        ChangeAction::Update,
        ChangeAction::Hide,
        ChangeAction::Unhide,
        ChangeAction::Activate,
        ChangeAction::Deactivate,
        ChangeAction::Delete,
        ChangeAction::Rollback,
        ChangeAction::Import,
        ChangeAction::Promote,
        ChangeAction::Policy,
        ChangeAction::Rollout,
        ChangeAction::Register,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChangeAction::Create => "create",
            ChangeAction::Update => "update",
            ChangeAction::Hide => "hide",
            ChangeAction::Unhide => "unhide",
            ChangeAction::Activate => "activate",
            ChangeAction::Deactivate => "deactivate",
            ChangeAction::Delete => "delete",
            ChangeAction::Rollback => "rollback",
            ChangeAction::Import => "import",
            ChangeAction::Promote => "promote",
            ChangeAction::Policy => "policy",
            ChangeAction::Rollout => "rollout",
            ChangeAction::Register => "register",
        }
    }

    /// The action of a stored change, `None` if the log holds something else.
    pub fn parse(stored: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == stored)
    }
}

/// What a write does to one entry.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// A new version with this (validated) content.
    Save {
        body: String,
        message: String,
        /// The version whose content this is, when it rolls back to one.
        restores: Option<u64>,
    },
    /// Activate or deactivate; deactivating an org entry that does not exist hides the default.
    SetActive(bool),
    /// Remove the entry; an org's deleted override lets the default show again.
    Delete,
}

impl WriteOp {
    /// The version a rollback restores; `None` for every other write.
    pub fn restored_version(&self) -> Option<u64> {
        match self {
            WriteOp::Save { restores, .. } => *restores,
            _ => None,
        }
    }
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub id: EntryId,
    pub op: WriteOp,
    /// The version the writer saw (0 = none); `None` = last writer wins.
    pub expected_version: Option<u64>,
}

/// Which changes of the log to list (every field narrows it; `None` lets everything through).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeFilter {
    pub scopes: ScopeFilter,
    pub server: Option<Slug>,
    pub kind: Option<Kind>,
    pub actor: Option<String>,
    /// Milliseconds since the Unix epoch: changes at or after this.
    pub since_ms: Option<i64>,
    /// Changes before this.
    pub until_ms: Option<i64>,
}

/// The scopes whose changes a change-log query lists.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ScopeFilter {
    #[default]
    Any,
    Only(Scope),
    /// An org's changes and the defaults' (what an org-bound reader may see).
    OrgAndDefaults(Slug),
}

/// A server's upstream: the head of its registry entry and its current version's content.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamHead {
    pub server: String,
    pub version: u64,
    /// Deleted: the server has no upstream now; its history is kept.
    pub deleted: bool,
    pub revision: Revision,
    pub updated_at: i64,
    /// The current version's content (the last one before a delete).
    pub body: String,
}

/// What a write does to a server's upstream.
#[derive(Debug, Clone, PartialEq)]
pub enum UpstreamOp {
    /// A new version with this (validated) content.
    Set {
        body: String,
        message: String,
    },
    Delete,
}

/// One write of a server's upstream, refused when `expected_version` is given and is not the
/// current one (0: none).
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamWrite {
    pub server: Slug,
    pub op: UpstreamOp,
    pub expected_version: Option<u64>,
}

/// What a label points at in one entry: a version and the flags a read shows with it, so a
/// label can publish a hide (version 0, inactive), a deactivation or a deletion as well as
/// content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LabelState {
    pub version: u64,
    pub active: bool,
    pub deleted: bool,
}

impl LabelState {
    /// A version published live.
    pub fn live(version: u64) -> Self {
        Self {
            version,
            active: true,
            deleted: false,
        }
    }
}

/// One label of one entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRow {
    pub label: Label,
    pub state: LabelState,
    pub revision: Revision,
    pub updated_at: i64,
}

/// Where a move takes a label.
#[derive(Debug, Clone, PartialEq)]
pub enum MoveTarget {
    /// This version of the entry, live.
    Version(u64),
    /// Whatever this other label points at in the entry (`staging` → `production`).
    Label(Label),
}

/// One label move in one entry, refused when `expected_version` is given and is not what the
/// label points at now (0: it does not point at the entry).
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMove {
    pub kind: Kind,
    pub key: String,
    pub to: MoveTarget,
    pub expected_version: Option<u64>,
}

/// Which entries of a scope a promotion moves.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// These, each to its own target.
    Only(Vec<LabelMove>),
    /// Every entry (of both kinds) the source label points at, to what it points at.
    Every { from: Label },
}

/// A label moved in entries of one scope of one server, in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Promotion {
    pub scope: Scope,
    pub server: Slug,
    pub label: Label,
    pub selection: Selection,
    /// Why (shown in the label's history).
    pub message: String,
    /// The approval policy an emergency move went past: recorded with the change.
    pub emergency: Option<String>,
}

/// One move of a label, as its history shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelMoveRow {
    pub label: Label,
    pub revision: Revision,
    /// `None`: the label did not point at the entry before.
    pub from: Option<LabelState>,
    pub to: LabelState,
    pub actor: String,
    pub message: String,
    pub created_at: i64,
}

/// A label that exists besides `latest` (and `production`, which always does).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelInfo {
    pub name: Label,
    /// Only admins may move it.
    pub protected: bool,
    /// Set by a global admin for every org to see; else known only where it points.
    pub declared: bool,
    pub created_at: i64,
    pub created_by: String,
}

/// A rollout in progress: the label's target for the orgs of the cohort.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutRow {
    pub target_version: u64,
    pub cohort: Cohort,
    pub revision: Revision,
    pub updated_at: i64,
}

/// What a rollout write does.
#[derive(Debug, Clone, PartialEq)]
pub enum RolloutOp {
    /// The cohort reads `target_version` (live) at the label from now on.
    Start { target_version: u64, cohort: Cohort },
    /// A new cohort (a higher percentage, more orgs, or fewer).
    Set(Cohort),
    /// Everyone: the label moves to the target and the rollout ends.
    Complete,
    /// No one: the rollout ends and the label stays where it was.
    Abort,
}

impl RolloutOp {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Start { .. } => "start",
            Self::Set(_) => "set",
            Self::Complete => "complete",
            Self::Abort => "abort",
        }
    }
}

/// One rollout write, on a label of a default entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutWrite {
    pub server: Slug,
    pub kind: Kind,
    pub key: String,
    pub label: Label,
    pub op: RolloutOp,
    pub message: String,
    /// The approval policy an emergency step went past: recorded with the change.
    pub emergency: Option<String>,
}

/// One step of a rollout, as its history shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RolloutStep {
    pub revision: Revision,
    /// `start`, `set`, `complete` or `abort`.
    pub action: String,
    pub target_version: u64,
    pub percent: u8,
    pub orgs: Vec<Slug>,
    pub actor: String,
    pub message: String,
    pub created_at: i64,
}
