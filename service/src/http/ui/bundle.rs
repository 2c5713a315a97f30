//! Import and export: a bundle pasted or uploaded is previewed entry by entry (create, update,
//! delete, unchanged, each with its diff) before it is applied, all or nothing; export
//! downloads everything, one scope or one server.

use axum::{
    extract::{Query, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use minijinja::{context, value::Serde};
use serde::Deserialize;

use super::{
    diff::diff,
    draft::yaml,
    fields::Fields,
    page::{self, UiError},
    place::{Viewer, Writer},
};
use crate::{
    auth,
    bundle::{self, Bundle, Format, import::Missing},
    domain::{InvalidInput, Scope},
    http::{HttpState, admin::bundle::import_rights},
};

pub(super) async fn page(viewer: Viewer) -> Result<Response, UiError> {
    page::render(
        "bundle.html",
        viewer.principal(),
        context! { text => "", prune => false },
    )
}

/// The bundle a form carries: an uploaded file, else the pasted text; JSON when it starts
/// with `{`.
fn submitted(fields: &Fields) -> Result<(String, Format, bool), InvalidInput> {
    let text = match fields.file("upload") {
        Some(bytes) => String::from_utf8(bytes.to_vec())
            .map_err(|_| InvalidInput::new("upload", "not UTF-8 text"))?,
        None => fields.get("text").to_owned(),
    };
    if text.trim().is_empty() {
        return Err(InvalidInput::new(
            "bundle",
            "paste a bundle or choose a file",
        ));
    }
    let format = if text.trim_start().starts_with('{') {
        Format::Json
    } else {
        Format::Yaml
    };
    Ok((text, format, fields.get("prune") == "yes"))
}

async fn import(
    state: &HttpState,
    viewer: &Viewer,
    fields: &Fields,
    dry_run: bool,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    auth::check_may_write(principal)?;
    let (text, format, prune) = submitted(fields)?;
    let (bundle, plan) = match Bundle::read(text.clone(), format).await {
        Ok(read) => read,
        // Every problem, each with its line, and the text kept for fixing.
        Err(problems) => {
            // Lines found in one pass over the text, off the async workers.
            let fields: Vec<String> = problems.iter().map(|p| p.field.clone()).collect();
            let source = text.clone();
            let lines = tokio::task::spawn_blocking(move || {
                let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
                bundle::lines_of(&source, &fields)
            })
            .await
            .unwrap_or_default();
            let problems: Vec<_> = problems
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let line = lines.get(i).copied().flatten();
                    context! { field => p.field.clone(), message => p.message.clone(), line }
                })
                .collect();
            let capped = problems.len() >= bundle::MAX_PROBLEMS;
            return page::render_with_status(
                StatusCode::BAD_REQUEST,
                "bundle.html",
                principal,
                context! { text, prune, problems, capped, previewed => false },
            );
        }
    };
    let new_orgs = import_rights(principal, &bundle)?;
    let missing = if prune {
        Missing::Delete
    } else {
        Missing::Keep
    };
    let report = state
        .editor
        .import(&plan, missing, dry_run, new_orgs, &principal.subject)
        .await?;
    let as_text = |body: &Option<String>| {
        yaml(
            &body
                .as_deref()
                .and_then(|b| serde_json::from_str(b).ok())
                .unwrap_or_default(),
        )
    };
    let entries: Vec<_> = report
        .entries
        .iter()
        .map(|line| {
            context! {
                scope => line.org.as_str(),
                server => line.server.as_str(),
                kind => line.kind.segment(),
                key => line.key.clone(),
                diff => line.diff.as_str(),
                lines => Serde(diff(&as_text(&line.before), &as_text(&line.after))),
            }
        })
        .collect();
    page::render(
        "bundle.html",
        principal,
        context! {
            text, prune, dry_run, entries,
            added => report.added, changed => report.changed,
            removed => report.removed, unchanged => report.unchanged,
            revisions => report.revisions,
            previewed => true,
        },
    )
}

pub(super) async fn preview(
    _may: Writer,
    State(state): State<HttpState>,
    viewer: Viewer,
    fields: Fields,
) -> Result<Response, UiError> {
    import(&state, &viewer, &fields, true).await
}

pub(super) async fn apply(
    _may: Writer,
    State(state): State<HttpState>,
    viewer: Viewer,
    fields: Fields,
) -> Result<Response, UiError> {
    import(&state, &viewer, &fields, false).await
}

#[derive(Deserialize, Default)]
pub(super) struct ExportQuery {
    /// Empty: every scope (global admins); `defaults`; or an org's slug.
    #[serde(default)]
    scope: String,
    #[serde(default)]
    server: String,
    #[serde(default)]
    format: String,
}

pub(super) async fn export(
    State(state): State<HttpState>,
    viewer: Viewer,
    Query(q): Query<ExportQuery>,
) -> Result<Response, UiError> {
    let principal = viewer.principal();
    let scope = match q.scope.as_str() {
        "" => None,
        "defaults" => Some(Scope::Defaults),
        org => Some(Scope::parse_optional("scope", org)?),
    };
    match &scope {
        None => auth::check_global_admin(principal)?,
        Some(scope) => auth::check_read(principal, scope)?,
    }
    let server = match q.server.as_str() {
        "" => None,
        server => Some(crate::domain::Slug::parse("server", server)?),
    };
    let (format, content_type, extension) = match q.format.as_str() {
        "" | "yaml" => (Format::Yaml, "application/yaml", "yaml"),
        "json" => (Format::Json, "application/json", "json"),
        other => {
            return Err(
                InvalidInput::new("format", format!("{other:?} is not yaml or json")).into(),
            );
        }
    };
    let bundle = bundle::export::export(
        &state.store,
        scope.as_ref(),
        server.as_ref().map(|s| s.as_str()),
    )
    .await?;
    let name = match (&scope, &server) {
        (None, _) => "mcp-config".to_owned(),
        (Some(scope), None) => format!("mcp-config-{}", scope_name(scope)),
        (Some(scope), Some(server)) => format!("mcp-config-{}-{server}", scope_name(scope)),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{extension}\""),
            ),
        ],
        bundle.to_text(format),
    )
        .into_response())
}

fn scope_name(scope: &Scope) -> &str {
    match scope {
        Scope::Defaults => "defaults",
        Scope::Org(org) => org.as_str(),
    }
}
