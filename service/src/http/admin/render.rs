//! `…/{key}/render`: a prompt rendered for preview, as `GetPrompt` would render it.

use std::collections::HashMap;

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiResult, Body, EntryPath, KeyParam, ListParams};
use crate::{
    content::PromptMessage,
    domain::Label,
    http::{
        HttpState,
        answers::{NotFound, NotJson, Refusals, RenderFailed, TooLarge},
    },
    render,
};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenderRequest {
    #[serde(default)]
    arguments: HashMap<String, String>,
    /// A version to preview instead of the current one.
    version: Option<u64>,
}

/// A rendered prompt, as `GetPrompt` would answer it.
#[derive(Serialize, ToSchema)]
pub(crate) struct RenderPreview {
    description: String,
    /// In the content's own JSON form, rendered (embedded resources read).
    messages: Vec<PromptMessage>,
    /// The revision of the content that was rendered.
    revision: u64,
}

/// Renders a prompt of this scope (its current or a given version) as `GetPrompt` would.
#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/render", params(ListParams, KeyParam), request_body = RenderRequest, responses((status = 200, description = "the rendered messages", body = RenderPreview), Refusals, NotFound, TooLarge, NotJson, RenderFailed))]
pub(crate) async fn render_preview(
    State(state): State<HttpState>,
    path: EntryPath,
    Body(request): Body<RenderRequest>,
) -> ApiResult<RenderPreview> {
    let id = path.readable()?;
    render::check_arguments(&request.arguments)?;
    let rendered = state
        .catalog
        .preview(
            &id,
            request.version,
            request.arguments,
            &state.views,
            &id.view_key(Label::Production),
        )
        .await?;
    Ok(Json(RenderPreview {
        description: rendered.description,
        messages: rendered.messages.into_iter().map(Into::into).collect(),
        revision: rendered.revision,
    }))
}
