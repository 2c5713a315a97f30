//! `…/{key}/render`: a prompt rendered for preview, as `GetPrompt` would render it.

use std::collections::HashMap;

use axum::{Json, extract::State};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use super::{ApiResult, Body, EntryPath};
use crate::{http::HttpState, render};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RenderRequest {
    #[serde(default)]
    arguments: HashMap<String, String>,
    /// A version to preview instead of the current one.
    version: Option<u64>,
}

/// Renders a prompt of this scope (its current or a given version) as `GetPrompt` would.
#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/render", params(("server" = String, Path, description = "MCP server slug"), ("kind" = String, Path, description = "prompts or resources"), ("key" = String, Path, description = "prompt name or resource URI, percent-encoded")), request_body = RenderRequest, responses((status = 200, description = "the rendered messages"), (status = 400, description = "a missing argument, named"), (status = 422, description = "render limits")))]
pub(crate) async fn render_preview(
    State(state): State<HttpState>,
    path: EntryPath,
    Body(request): Body<RenderRequest>,
) -> ApiResult {
    let id = path.readable()?;
    render::check_arguments(&request.arguments)?;
    let rendered = state
        .catalog
        .preview(&id, request.version, request.arguments, &state.renderer)
        .await?;
    let messages: Vec<Value> = rendered
        .messages
        .iter()
        .map(|m| json!({"role": m.role, "text": m.text}))
        .collect();
    Ok(Json(
        json!({"description": rendered.description, "messages": messages, "revision": rendered.revision}),
    ))
}
