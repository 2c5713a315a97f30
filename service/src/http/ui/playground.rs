//! The template playground: a prompt (any version, or a draft not saved yet) rendered by the
//! service's own renderer — the text `GetPrompt` answers — from a form of its declared
//! arguments and the variables its templates use; errors are shown in place.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use minijinja::context;
use serde::Deserialize;

use super::{
    draft::Draft,
    fields::Fields,
    page::{self, UiError},
    place::{Entry, ServerPath, Ui, Viewer},
};
use crate::{
    content::{Content, PromptContent},
    domain::{EntryId, InvalidInput, Kind, Label, Scope},
    error::Error,
    http::HttpState,
    overlay::Standing,
    render::{self, CompiledPrompt},
};

/// The playground's argument inputs: the declared arguments, then any other variable the
/// templates use (a render without it fails, which the playground should show).
fn inputs(prompt: &PromptContent, given: &HashMap<String, String>) -> Vec<minijinja::Value> {
    let mut names: Vec<(String, bool, String)> = prompt
        .arguments
        .iter()
        .map(|a| (a.name.clone(), a.required, a.description.clone()))
        .collect();
    if let Ok(compiled) = CompiledPrompt::compile(prompt.templates()) {
        for variable in compiled.variables() {
            if !names.iter().any(|(n, _, _)| n == variable) {
                names.push((
                    variable.to_owned(),
                    false,
                    "used by a template, not declared".into(),
                ));
            }
        }
    }
    names
        .into_iter()
        .map(|(name, required, description)| {
            let value = given.get(&name).cloned().unwrap_or_default();
            context! { name, required, description, value }
        })
        .collect()
}

/// The arguments a playground form gives: blank inputs are not given.
fn arguments(fields: &Fields) -> Result<HashMap<String, String>, InvalidInput> {
    let given: HashMap<String, String> = fields
        .all("argument_name")
        .zip(fields.all("argument_value"))
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    render::check_arguments(&given)?;
    Ok(given)
}

/// The scope whose stored prompt renders for this entry: an org shows an inherited default.
async fn rendered_id(state: &HttpState, id: EntryId) -> Result<EntryId, Error> {
    let entry = state.catalog.overlaid_entry(&id).await?;
    Ok(match entry.standing {
        Standing::Inherited => EntryId {
            scope: Scope::Defaults,
            ..id
        },
        _ => id,
    })
}

#[derive(Deserialize, Default)]
pub(super) struct VersionQuery {
    version: Option<u64>,
}

pub(super) async fn page(
    State(state): State<HttpState>,
    viewer: Viewer,
    Ui(path): Entry,
    Query(query): Query<VersionQuery>,
) -> Result<Response, UiError> {
    let id = path.readable()?;
    show(&state, &viewer, id, query.version, HashMap::new(), None).await
}

pub(super) async fn render(
    State(state): State<HttpState>,
    viewer: Viewer,
    headers: HeaderMap,
    Ui(path): Entry,
    fields: Fields,
) -> Result<Response, UiError> {
    let id = path.readable()?;
    let version = fields.number("version")?;
    let given = arguments(&fields)?;
    let source = rendered_id(&state, id.clone()).await?;
    let rendered = state
        .catalog
        // An inherited default renders as the org's clients get it: with the org's resources.
        .preview(
            &source,
            version,
            given.clone(),
            &state.views,
            &id.view_key(Label::Production),
        )
        .await
        .map(|r| r.messages);
    if headers.contains_key("hx-request") {
        return output(&viewer, rendered);
    }
    show(&state, &viewer, id, version, given, Some(rendered)).await
}

/// The output part of the page (what htmx swaps in): the rendered messages or the error.
/// Always 200: htmx swaps only successful answers, and the error is the content here.
fn output(
    viewer: &Viewer,
    rendered: Result<Vec<mcp_config_proto::v1::PromptMessage>, Error>,
) -> Result<Response, UiError> {
    let (_, messages, problem) = outcome(rendered);
    page::render(
        "rendered.html",
        viewer.principal(),
        context! { messages, problem },
    )
}

fn outcome(
    rendered: Result<Vec<mcp_config_proto::v1::PromptMessage>, Error>,
) -> (StatusCode, Vec<minijinja::Value>, Option<String>) {
    match rendered {
        Ok(messages) => (
            StatusCode::OK,
            messages
                .into_iter()
                .map(|m| {
                    let message = crate::content::PromptMessage::from(m);
                    context! { role => message.role.as_str(), text => message.content.preview() }
                })
                .collect(),
            None,
        ),
        Err(e) => {
            let answer = crate::http::error::answer(e);
            (answer.status, Vec::new(), Some(answer.message))
        }
    }
}

async fn show(
    state: &HttpState,
    viewer: &Viewer,
    id: EntryId,
    version: Option<u64>,
    given: HashMap<String, String>,
    rendered: Option<Result<Vec<mcp_config_proto::v1::PromptMessage>, Error>>,
) -> Result<Response, UiError> {
    if id.kind != Kind::Prompts {
        return Err(InvalidInput::new("kind", "only prompts render").into());
    }
    let source = rendered_id(state, id.clone()).await?;
    let body = match version {
        Some(v) => state.catalog.version(&source, v).await?.body,
        None => {
            let entry = state.catalog.entry(&source).await?;
            entry.content.map(|c| c.to_string()).unwrap_or_default()
        }
    };
    let prompt: PromptContent = serde_json::from_str(&body)
        .map_err(|e| crate::error::Error::corrupt(id.key.as_str(), &e))?;
    let shown = rendered.is_some();
    let (status, messages, problem) = rendered.map_or((StatusCode::OK, Vec::new(), None), outcome);
    page::render_with_status(
        status,
        "playground.html",
        viewer.principal(),
        context! {
            key => id.key.as_str(),
            scope => id.scope.as_str(),
            path => page::path_of(&id),
            action => format!("{}/playground", page::path_of(&id)),
            version,
            inputs => inputs(&prompt, &given),
            messages, problem,
            rendered => shown,
        },
    )
}

/// A draft that is not saved yet, rendered the same way: from the edit form's fields (or the
/// `content` a previous draft render carried).
pub(super) async fn draft(
    State(state): State<HttpState>,
    place: ServerPath,
    headers: HeaderMap,
    fields: Fields,
) -> Result<Response, UiError> {
    let content = match fields.get("content") {
        "" => Draft::submitted(Kind::Prompts, &fields)?.content(Kind::Prompts)?,
        json => Content::from_json(
            Kind::Prompts,
            serde_json::from_str(json).map_err(|e| InvalidInput::new("content", e.to_string()))?,
        )?,
    };
    let Content::Prompt(prompt) = &content else {
        return Err(InvalidInput::new("kind", "only prompts render").into());
    };
    let given = arguments(&fields)?;
    let key = match fields.get("key") {
        "" => "draft",
        key => key,
    };
    let rendered = state
        .renderer
        .render(
            place.scope.as_str(),
            Arc::new(prompt.to_proto(key)),
            given.clone(),
        )
        .await
        .map_err(Error::from);
    let viewer = Ui(crate::http::admin::Caller(place.principal.clone()));
    if headers.contains_key("hx-request") && !fields.get("content").is_empty() {
        return output(&viewer, rendered);
    }
    let (status, messages, problem) = outcome(rendered);
    let base = page::server_path(&place.scope, place.server.as_str());
    page::render_with_status(
        status,
        "playground.html",
        &place.principal,
        context! {
            key,
            scope => place.scope.as_str(),
            path => base.clone(),
            action => format!("{base}/draft"),
            draft => content.to_json(),
            // Back to the edit form with the draft (as YAML), not to what is saved: the
            // playground never loses an edit.
            back => context! {
                action => format!("{base}/edit/prompts"),
                is_new => fields.get("is_new"),
                expected_version => fields.get("expected_version"),
                raw => super::draft::yaml(&serde_json::to_value(&content).unwrap_or_default()),
            },
            inputs => inputs(prompt, &given),
            messages, problem,
            rendered => true,
        },
    )
}
