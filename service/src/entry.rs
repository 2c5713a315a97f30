//! One entry as its editors see it (the admin API, the web UI, bundle export): the read model
//! the admin reads build and the overlay lays an org's entries over the defaults with.

use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    content::Content,
    error::{Error, Result},
    store::Head,
};

/// An entry as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq, ToSchema)]
pub struct EntryView {
    /// The prompt name or resource URI.
    pub key: String,
    /// The current version; 0 for an org's marker that only hides a default.
    pub version: u64,
    pub active: bool,
    pub deleted: bool,
    /// The revision of the entry's last change.
    pub revision: u64,
    /// Milliseconds since the Unix epoch.
    pub updated_at: i64,
    /// The current version's content; null for a hide marker.
    #[schema(required = true, value_type = Option<Content>)]
    pub content: Option<serde_json::Value>,
}

impl EntryView {
    pub(crate) fn from_head(head: Head) -> Result<Self> {
        let content = head
            .body
            .as_deref()
            .map(|body| serde_json::from_str(body).map_err(|e| Error::corrupt(&head.key, &e)))
            .transpose()?;
        Ok(Self {
            content,
            key: head.key,
            version: head.version,
            active: head.active,
            deleted: head.deleted,
            revision: head.revision,
            updated_at: head.updated_at,
        })
    }
}
