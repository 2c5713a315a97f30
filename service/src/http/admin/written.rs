//! What a write answers: the change it made, and the entry after it when the writer may read it.

use axum::Json;
use serde_json::json;

use super::{ApiResult, Caller, changes::change_json};
use crate::{auth, domain::EntryId, http::HttpState, store::Change};

/// The change a write made, with the entry after it when the caller may read it (an editor
/// without an org writes every org but reads only the defaults).
pub(super) async fn written(
    state: &HttpState,
    caller: &Caller,
    id: &EntryId,
    change: Change,
) -> ApiResult {
    if auth::check_read(&caller.0, &id.scope).is_err() {
        return Ok(Json(json!({"change": change_json(&change)})));
    }
    let entry = state.catalog.entry(id).await?;
    Ok(Json(
        json!({"entry": entry, "change": change_json(&change)}),
    ))
}
