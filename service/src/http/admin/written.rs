//! What a write answers: the change it made, and the entry after it when the writer may read it.

use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use super::{ApiResult, Caller, changes::ChangeRecord};
use crate::{auth, domain::EntryId, entry::EntryView, http::HttpState, store::Change};

/// The answer of a write.
#[derive(Serialize, ToSchema)]
pub(crate) struct Written {
    /// The entry after the write; left out when the writer may not read it (an editor without
    /// an org writes every org but reads only the defaults).
    #[serde(skip_serializing_if = "Option::is_none")]
    entry: Option<EntryView>,
    change: ChangeRecord,
}

/// The answer to a write that made `change` to `id`.
pub(super) async fn written(
    state: &HttpState,
    caller: &Caller,
    id: &EntryId,
    change: Change,
) -> ApiResult<Written> {
    let entry = match auth::check_read(&caller.0, &id.scope) {
        Ok(()) => Some(state.catalog.entry(id).await?),
        Err(_) => None,
    };
    let change = change.into();
    Ok(Json(Written { entry, change }))
}
