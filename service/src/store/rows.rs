//! What the store reads and writes, in the domain's types.

use crate::domain::{EntryId, Kind, Revision};

/// One head row of an effective view's query, with the content of its current version.
#[derive(Debug, Clone, PartialEq)]
pub struct ViewRow {
    /// Empty for a default.
    pub org: String,
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

#[derive(Debug, Clone, PartialEq)]
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
    /// Empty for a change of the defaults.
    pub org: String,
    pub server: String,
    pub kind: Kind,
    pub keys: Vec<String>,
    pub action: String,
    pub actor: String,
    pub created_at: i64,
    pub published: bool,
}

/// What a write does to one entry.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    /// A new version with this (validated) content.
    Save { body: String, message: String },
    /// Activate or deactivate; deactivating an org entry that does not exist hides the default.
    SetActive(bool),
    /// Remove the entry; an org's deleted override lets the default show again.
    Delete,
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub id: EntryId,
    pub op: WriteOp,
    /// The version the writer saw (0 = none); `None` = last writer wins.
    pub expected_version: Option<u64>,
}
