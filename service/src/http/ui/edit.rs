//! Editing: the form (structured fields or raw YAML/JSON), its live template check, the review
//! of the change before it is saved, the save with `expected_version`, and the conflict page
//! when someone saved in between.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use minijinja::{context, value::Serde};
use serde::Deserialize;
use serde_json::Value;

use super::{
    diff::diff,
    draft::{Draft, Tab, yaml},
    fields::Fields,
    page::{self, UiError},
    place::{Entry, ServerPath, Ui, Writer},
};
use crate::{
    auth,
    content::Content,
    domain::{EntryId, EntryKey, InvalidInput, Kind},
    error::Error,
    http::HttpState,
};

#[derive(Deserialize)]
pub(super) struct KindParam {
    kind: String,
}

#[derive(Deserialize, Default)]
pub(super) struct Base {
    /// `default`: start an override from the default's content.
    #[serde(default)]
    base: String,
}

/// The edit form for an entry that does not exist yet.
pub(super) async fn new_entry(
    place: ServerPath,
    Path(KindParam { kind }): Path<KindParam>,
) -> Result<Response, UiError> {
    auth::check_write(&place.principal, &place.scope)?;
    let kind: Kind = kind.parse()?;
    edit_page(
        &place,
        kind,
        &Draft::of("", 0, &Value::Null),
        true,
        None,
        false,
    )
}

/// The edit form of an entry, pre-filled from its content (or from the default's, to
/// override it).
pub(super) async fn existing_entry(
    State(state): State<HttpState>,
    Ui(path): Entry,
    Query(base): Query<Base>,
) -> Result<Response, UiError> {
    let place = ServerPath {
        scope: path.list.scope.clone(),
        server: path.list.server.clone(),
        principal: path.list.principal.clone(),
    };
    let id = path.writable()?;
    let entry = state.catalog.overlaid_entry(&id).await?;
    let own_version = entry.own.as_ref().map_or(0, |e| e.version);
    let content = match (&entry.own, base.base.as_str()) {
        (Some(own), "") if own.content.is_some() => own.content.clone(),
        _ => entry.default.as_ref().and_then(|d| d.content.clone()),
    }
    .unwrap_or(Value::Null);
    let draft = Draft::of(id.key.as_str(), own_version, &content);
    edit_page(&place, id.kind, &draft, false, None, false)
}

/// The edit form; `unsaved`: rendered from a draft sent back (a step of the form, a problem),
/// which leaving the page would lose.
fn edit_page(
    place: &ServerPath,
    kind: Kind,
    draft: &Draft,
    is_new: bool,
    problem: Option<InvalidInput>,
    unsaved: bool,
) -> Result<Response, UiError> {
    let status = if problem.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    page::render_with_status(
        status,
        "edit.html",
        &place.principal,
        context! {
            scope => place.scope.as_str(),
            server => place.server.as_str(),
            base => page::server_path(&place.scope, place.server.as_str()),
            kind => kind.segment(),
            draft => Serde(draft),
            is_new,
            unsaved,
            findings => Serde(draft.findings(kind).unwrap_or_default()),
            problem => problem.map(|p| shown(p, draft.tab == Tab::Raw)),
        },
    )
}

/// A problem as the edit page and the live check show it: the field it names, why, and the id
/// of the form's input it is about (marked invalid, described by the problem, linked from it).
fn shown(problem: InvalidInput, raw_tab: bool) -> minijinja::Value {
    let target = input_of(&problem.field, raw_tab);
    context! { field => problem.field, message => problem.message, target }
}

/// The id of the edit form's input that holds `field` (`messages[1].text` → `message-text-2`),
/// if the form has one: on the raw tab, the raw text holds everything.
fn input_of(field: &str, raw_tab: bool) -> Option<String> {
    if raw_tab {
        return Some("raw".into());
    }
    let head = field.split(['.', '[']).next().unwrap_or("");
    let index = || {
        field
            .strip_prefix(head)?
            .strip_prefix('[')?
            .split(']')
            .next()?
            .parse::<usize>()
            .ok()
    };
    match head {
        "key" | "title" | "description" | "name" | "mime_type" | "text" => Some(head.to_owned()),
        "messages" => {
            let part = if field.ends_with(".role") {
                "role"
            } else {
                "text"
            };
            index().map(|i| format!("message-{part}-{}", i + 1))
        }
        "arguments" => {
            let part = if field.ends_with(".choices") {
                "choices"
            } else {
                "name"
            };
            index().map(|i| format!("argument-{part}-{}", i + 1))
        }
        _ => None,
    }
}

/// A step of the edit form: a row added, removed or moved, a tab switched, or `review`.
pub(super) async fn edit(
    _may: Writer,
    State(state): State<HttpState>,
    place: ServerPath,
    Path(KindParam { kind }): Path<KindParam>,
    fields: Fields,
) -> Result<Response, UiError> {
    auth::check_write(&place.principal, &place.scope)?;
    let kind: Kind = kind.parse()?;
    let is_new = fields.get("is_new") == "yes";
    let draft = Draft::submitted(kind, &fields)?;
    if fields.get("op") != "review" {
        return edit_page(&place, kind, &draft, is_new, None, true);
    }
    let checked = EntryKey::parse(kind, &draft.key).and_then(|key| Ok((key, draft.content(kind)?)));
    let (key, content) = match checked {
        Ok(checked) => checked,
        Err(problem) => return edit_page(&place, kind, &draft, is_new, Some(problem), true),
    };
    let id = EntryId {
        scope: place.scope.clone(),
        server: place.server.clone(),
        kind,
        key,
    };
    review_page(
        &state,
        &place,
        &id,
        &content,
        draft.expected_version,
        "",
        None,
    )
    .await
}

/// The diff of a draft against what the scope shows now, a change message, and Save.
async fn review_page(
    state: &HttpState,
    place: &ServerPath,
    id: &EntryId,
    content: &Content,
    expected_version: u64,
    message: &str,
    conflict: Option<minijinja::Value>,
) -> Result<Response, UiError> {
    let current = match state.catalog.overlaid_entry(id).await {
        Ok(entry) => entry.content().cloned().unwrap_or(Value::Null),
        Err(Error::NotFound(_)) => Value::Null,
        Err(e) => return Err(e.into()),
    };
    let draft: Value = serde_json::from_str(&content.to_json()).expect("content is JSON");
    let status = if conflict.is_some() {
        StatusCode::CONFLICT
    } else {
        StatusCode::OK
    };
    page::render_with_status(
        status,
        if conflict.is_some() {
            "conflict.html"
        } else {
            "review.html"
        },
        &place.principal,
        context! {
            scope => place.scope.as_str(),
            server => place.server.as_str(),
            base => page::server_path(&place.scope, place.server.as_str()),
            kind => id.kind.segment(),
            key => id.key.as_str(),
            expected_version,
            message,
            content => content.to_json(),
            diff => Serde(diff(&yaml(&current), &yaml(&draft))),
            conflict,
        },
    )
}

/// The live check of the edit form's templates (an htmx fragment).
pub(super) async fn check(
    _may: Writer,
    place: ServerPath,
    Path(KindParam { kind }): Path<KindParam>,
    fields: Fields,
) -> Result<Response, UiError> {
    let kind: Kind = kind.parse()?;
    let draft = Draft::submitted(kind, &fields)?;
    let (findings, problem) = match draft.findings(kind) {
        Ok(findings) => {
            let problem = draft.content(kind).err();
            (findings, problem)
        }
        Err(problem) => (Vec::new(), Some(problem)),
    };
    page::render(
        "lint.html",
        &place.principal,
        context! {
            findings => Serde(findings),
            problem => problem.map(|p| shown(p, draft.tab == Tab::Raw)),
        },
    )
}

/// Saves a reviewed draft; a version conflict shows what the other save changed and lets the
/// user put their draft on top of it.
pub(super) async fn save(
    _may: Writer,
    State(state): State<HttpState>,
    place: ServerPath,
    Path(KindParam { kind }): Path<KindParam>,
    fields: Fields,
) -> Result<Response, UiError> {
    auth::check_write(&place.principal, &place.scope)?;
    let kind: Kind = kind.parse()?;
    let key = EntryKey::parse(kind, fields.get("key"))?;
    let value: Value = serde_json::from_str(fields.get("content"))
        .map_err(|e| InvalidInput::new("content", e.to_string()))?;
    let content = Content::from_json(kind, value)?;
    let expected = fields.number("expected_version")?.unwrap_or(0);
    let message = fields.get("message");
    let id = EntryId {
        scope: place.scope.clone(),
        server: place.server.clone(),
        kind,
        key,
    };
    let saved = state
        .editor
        .put(
            id.clone(),
            &content,
            Some(expected),
            &place.principal.subject,
            message,
        )
        .await;
    match saved {
        Ok(_) => {
            let path = page::path_of(&id);
            Ok(Redirect::to(&path).into_response())
        }
        Err(Error::Conflict { current, .. }) => {
            let theirs = state.catalog.version(&id, current).await?;
            let mine_based_on = match expected {
                0 => Value::Null,
                v => serde_json::from_str(&state.catalog.version(&id, v).await?.body)
                    .unwrap_or(Value::Null),
            };
            let their_content: Value = serde_json::from_str(&theirs.body).unwrap_or(Value::Null);
            let conflict = context! {
                version => theirs.version,
                actor => theirs.actor,
                message => theirs.message,
                created_at => theirs.created_at,
                their_diff => Serde(diff(&yaml(&mine_based_on), &yaml(&their_content))),
            };
            review_page(
                &state,
                &place,
                &id,
                &content,
                current,
                message,
                Some(conflict),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::input_of;

    #[test]
    fn a_problem_points_at_the_input_that_holds_its_field() {
        assert_eq!(
            input_of("messages[1].text", false).as_deref(),
            Some("message-text-2")
        );
        assert_eq!(
            input_of("messages[0].role", false).as_deref(),
            Some("message-role-1")
        );
        assert_eq!(
            input_of("arguments[2].name", false).as_deref(),
            Some("argument-name-3")
        );
        assert_eq!(input_of("title", false).as_deref(), Some("title"));
        assert_eq!(input_of("messages[1].text", true).as_deref(), Some("raw"));
        assert_eq!(input_of("content", false), None);
    }
}
