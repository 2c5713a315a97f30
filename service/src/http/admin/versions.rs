//! An entry's history: its versions, one version, the diff of two, and rollback to one.

use axum::{
    Json,
    extract::{
        Path, Query, State,
        rejection::{PathRejection, QueryRejection},
    },
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{
    ApiResult, Body, Caller, EntryPath, KeyParam, ListParams,
    written::{Written, written},
};
use crate::{
    content::Content,
    domain::InvalidInput,
    error::Error,
    http::{
        HttpState,
        answers::{Conflict, NotFound, NotJson, Refusals, TooLarge},
    },
    store::VersionRow,
};

/// One immutable version of an entry.
#[derive(Serialize, ToSchema)]
pub(crate) struct VersionView {
    version: u64,
    /// The content this version saved.
    #[schema(value_type = Content)]
    content: Value,
    /// The token subject that saved it.
    actor: String,
    message: String,
    revision: u64,
    /// Milliseconds since the Unix epoch.
    created_at: i64,
}

impl TryFrom<VersionRow> for VersionView {
    type Error = Error;

    /// Stored content that does not decode is an error, never shown as `null`.
    fn try_from(row: VersionRow) -> Result<Self, Error> {
        Ok(Self {
            version: row.version,
            content: serde_json::from_str(&row.body)
                .map_err(|e| Error::corrupt(&format!("version {}", row.version), &e))?,
            actor: row.actor,
            message: row.message,
            revision: row.revision,
            created_at: row.created_at,
        })
    }
}

/// Every version of an entry, oldest first.
#[derive(Serialize, ToSchema)]
pub(crate) struct VersionList {
    versions: Vec<VersionView>,
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/versions", params(ListParams, KeyParam), responses((status = 200, description = "every version", body = VersionList), Refusals, NotFound))]
pub(crate) async fn history(
    State(state): State<HttpState>,
    path: EntryPath,
) -> ApiResult<VersionList> {
    let versions = state.catalog.history(&path.readable()?).await?;
    let versions = versions
        .into_iter()
        .map(VersionView::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(VersionList { versions }))
}

/// The path parameter naming one version. Read as text so that a bad one is an
/// `invalid_argument` naming the field, like every other input.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct VersionParam {
    /// The version number.
    #[param(value_type = u64)]
    version: String,
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/versions/{version}", params(ListParams, KeyParam, VersionParam), responses((status = 200, description = "one version", body = VersionView), Refusals, NotFound))]
pub(crate) async fn version(
    State(state): State<HttpState>,
    path: EntryPath,
    number: Result<Path<VersionParam>, PathRejection>,
) -> ApiResult<VersionView> {
    let Path(VersionParam { version }) = number?;
    let number = parse_version(&version, "version")?;
    let version = state.catalog.version(&path.readable()?, number).await?;
    Ok(Json(version.try_into()?))
}

fn parse_version(raw: &str, field: &str) -> Result<u64, InvalidInput> {
    raw.parse()
        .map_err(|_| InvalidInput::new(field, format!("{raw:?} is not a version number")))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiffQuery {
    from: u64,
    to: u64,
}

/// Two versions' content compared.
#[derive(Serialize, ToSchema)]
pub(crate) struct VersionDiff {
    from: u64,
    to: u64,
    /// A unified diff of the two contents (as pretty JSON).
    diff: String,
}

#[utoipa::path(get, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/diff", params(ListParams, KeyParam, DiffQuery), responses((status = 200, description = "a unified diff of two versions", body = VersionDiff), Refusals, NotFound))]
pub(crate) async fn diff(
    State(state): State<HttpState>,
    path: EntryPath,
    query: Result<Query<DiffQuery>, QueryRejection>,
) -> ApiResult<VersionDiff> {
    let Query(DiffQuery { from, to }) = query?;
    let diff = state.catalog.diff(&path.readable()?, from, to).await?;
    Ok(Json(VersionDiff { from, to, diff }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Rollback {
    version: u64,
    expected_version: Option<u64>,
    /// Why, recorded in the new version's message after "rollback to version N".
    #[serde(default)]
    message: String,
}

#[utoipa::path(post, path = "/admin/v1/defaults/servers/{server}/{kind}/{key}/rollback", params(ListParams, KeyParam), request_body = Rollback, responses((status = 200, description = "the entry after the write, and the change", body = Written), Refusals, NotFound, Conflict, TooLarge, NotJson))]
pub(crate) async fn rollback(
    State(state): State<HttpState>,
    caller: Caller,
    path: EntryPath,
    Body(body): Body<Rollback>,
) -> ApiResult<Written> {
    let id = path.writable()?;
    let change = state
        .editor
        .rollback(
            id.clone(),
            body.version,
            body.expected_version,
            caller.actor(),
            &body.message,
        )
        .await?;
    written(&state, &caller, &id, change).await
}
