//! The gateway's upstreams (global admins only): every server's, set one, and one server's
//! with its history, rollback, removal, and what a client of a chosen org sees through the
//! gateway — the merge rule, shown on the upstream's live lists.

use axum::{
    extract::{Path, Query, State},
    response::{IntoResponse, Redirect, Response},
};
use minijinja::{context, value::Serde};
use serde::Deserialize;

use super::{
    fields::Fields,
    page::{self, UiError},
    place::{GlobalAdmin, Viewer},
};
use crate::{
    domain::{InvalidInput, Scope, Slug, Upstream, upstream::DEFAULT_TIMEOUT_MS},
    http::HttpState,
};

pub(super) async fn list(
    _may: GlobalAdmin,
    State(state): State<HttpState>,
    viewer: Viewer,
) -> Result<Response, UiError> {
    let upstreams: Vec<_> = state
        .gateway
        .registry
        .all()
        .await?
        .into_iter()
        .map(|r| {
            context! {
                server => r.server.to_string(), version => r.version,
                updated_at => r.updated_at, upstream => Serde(r.upstream),
            }
        })
        .collect();
    page::render(
        "upstreams.html",
        viewer.principal(),
        context! { upstreams, default_timeout_ms => DEFAULT_TIMEOUT_MS },
    )
}

/// The form's entry: the same checks as the admin API's, naming the form's fields.
fn upstream_of(fields: &Fields) -> Result<Upstream, InvalidInput> {
    let timeout_ms = fields.number("timeout_ms")?.unwrap_or(DEFAULT_TIMEOUT_MS);
    let upstream = Upstream {
        url: fields.get("url").trim().to_owned(),
        timeout_ms,
        pass_headers: fields
            .get("pass_headers")
            .split(',')
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect(),
        forward_token: fields.get("forward_token") == "on",
    };
    upstream.check()?;
    Ok(upstream)
}

pub(super) async fn set(
    _may: GlobalAdmin,
    State(state): State<HttpState>,
    viewer: Viewer,
    fields: Fields,
) -> Result<Response, UiError> {
    let server = Slug::parse("server", fields.get("server").trim())?;
    let upstream = upstream_of(&fields)?;
    let expected = fields.number("expected_version")?;
    state
        .gateway
        .registry
        .set(
            &server,
            &upstream,
            expected,
            &viewer.principal().subject,
            fields.get("message").trim(),
        )
        .await?;
    Ok(Redirect::to(&format!("/ui/upstreams/{server}")).into_response())
}

#[derive(Deserialize, Default)]
pub(super) struct SeenBy {
    /// The org whose view the preview stands the upstream's names against (none: defaults).
    #[serde(default)]
    org: String,
}

pub(super) async fn page(
    _may: GlobalAdmin,
    State(state): State<HttpState>,
    viewer: Viewer,
    Path(server): Path<String>,
    Query(seen_by): Query<SeenBy>,
) -> Result<Response, UiError> {
    let server = Slug::parse("server", &server)?;
    let registered = state.gateway.registry.get(&server).await?;
    let history = state.gateway.registry.history(&server).await?;
    let versions: Vec<_> = history
        .into_iter()
        .rev()
        .map(|v| {
            let upstream: Option<Upstream> = serde_json::from_str(&v.body).ok();
            context! {
                version => v.version, actor => v.actor, message => v.message,
                created_at => v.created_at, url => upstream.map(|u| u.url),
            }
        })
        .collect();
    let orgs: Vec<String> = state
        .catalog
        .orgs()
        .await?
        .into_iter()
        .map(|o| o.slug)
        .collect();
    let scope = Scope::parse_optional("org", &seen_by.org)?;
    // The upstream is asked live; when it cannot answer, the page says why and still shows
    // the entry and its history.
    let preview = state
        .gateway
        .preview(
            &registered.upstream,
            &scope,
            &viewer.principal().subject,
            &server,
        )
        .await;
    let (preview, preview_error) = match preview {
        Ok(preview) => (Some(Serde(preview)), None),
        Err(e) => (None, Some(e.to_string())),
    };
    page::render(
        "upstream.html",
        viewer.principal(),
        context! {
            server => server.to_string(), version => registered.version,
            updated_at => registered.updated_at, upstream => Serde(registered.upstream),
            versions, orgs, seen_by => seen_by.org, preview, preview_error,
        },
    )
}

pub(super) async fn rollback(
    _may: GlobalAdmin,
    State(state): State<HttpState>,
    viewer: Viewer,
    Path(server): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    let server = Slug::parse("server", &server)?;
    let version = fields
        .number("version")?
        .ok_or_else(|| InvalidInput::new("version", "missing"))?;
    state
        .gateway
        .registry
        .rollback(
            &server,
            version,
            fields.number("expected_version")?,
            &viewer.principal().subject,
        )
        .await?;
    Ok(Redirect::to(&format!("/ui/upstreams/{server}")).into_response())
}

pub(super) async fn delete(
    _may: GlobalAdmin,
    State(state): State<HttpState>,
    viewer: Viewer,
    Path(server): Path<String>,
    fields: Fields,
) -> Result<Response, UiError> {
    let server = Slug::parse("server", &server)?;
    state
        .gateway
        .registry
        .delete(
            &server,
            fields.number("expected_version")?,
            &viewer.principal().subject,
        )
        .await?;
    Ok(Redirect::to("/ui/upstreams").into_response())
}
