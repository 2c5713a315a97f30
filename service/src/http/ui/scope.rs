//! A scope's server: its prompts and resources with where each stands for that scope,
//! filtered by text and by standing, sorted, a page at a time (a scope of 10,000 prompts sends
//! one page of rows, not 10,000).

use axum::{
    extract::{Query, State},
    response::Response,
};
use minijinja::{context, value::Serde};
use serde::{Deserialize, Serialize};

use super::{
    page::{self, UiError},
    place::ServerPath,
};
use crate::{auth, catalog::Listed, domain::Scope, http::HttpState, overlay::Standing};

/// Rows of each kind one page shows.
const PAGE_ROWS: usize = 100;

#[derive(Deserialize, Default)]
pub(super) struct Filter {
    #[serde(default)]
    q: String,
    #[serde(default)]
    state: String,
    /// `key` (the default), `title`, or `updated` (newest first).
    #[serde(default)]
    sort: String,
    /// Which page of each kind's rows, from 1.
    page: Option<usize>,
}

/// The orders the page offers, by their `sort` value.
const SORTS: [(&str, &str); 3] = [
    ("key", "key"),
    ("title", "title"),
    ("updated", "last updated"),
];

impl Filter {
    /// Whether an entry matches: its key, title or name contains the text (ignoring case) and
    /// it stands as asked.
    fn admits(&self, entry: &Listed) -> bool {
        let text = self.q.trim().to_lowercase();
        let text_matches = text.is_empty()
            || [&entry.key, &entry.title, &entry.name]
                .iter()
                .any(|field| field.to_lowercase().contains(&text));
        text_matches && (self.state.is_empty() || entry.standing.as_str() == self.state)
    }
}

/// Puts rows in the order `sort` names (an unknown one: by key, as the store lists them).
fn sort_rows(rows: &mut [Row], sort: &str) {
    match sort {
        "title" => rows.sort_by(|a, b| {
            a.title
                .to_lowercase()
                .cmp(&b.title.to_lowercase())
                .then(a.key.cmp(b.key))
        }),
        "updated" => rows.sort_by(|a, b| b.updated_at.cmp(&a.updated_at).then(a.key.cmp(b.key))),
        _ => {}
    }
}

/// What the page shows of an entry (its content stays out of the template's context: a scope
/// of a thousand entries renders the same row data whatever their templates hold).
#[derive(Serialize)]
struct Row<'a> {
    key: &'a str,
    standing: &'static str,
    title: &'a str,
    version: u64,
    updated_at: i64,
}

impl<'a> Row<'a> {
    fn of(entry: &'a Listed) -> Self {
        Self {
            key: &entry.key,
            standing: entry.standing.as_str(),
            title: if entry.title.is_empty() {
                &entry.name
            } else {
                &entry.title
            },
            version: entry.version,
            updated_at: entry.updated_at,
        }
    }
}

pub(super) async fn page(
    State(state): State<HttpState>,
    place: ServerPath,
    Query(filter): Query<Filter>,
) -> Result<Response, UiError> {
    let listing = state.catalog.listing(&place.scope, &place.server).await?;
    let page_number = filter.page.unwrap_or(1).max(1);
    let mut pages = 1;
    let kinds: Vec<_> = listing
        .kinds
        .iter()
        .map(|(kind, counts, all)| {
            let mut matching: Vec<Row> = all
                .iter()
                .filter(|e| filter.admits(e))
                .map(Row::of)
                .collect();
            sort_rows(&mut matching, &filter.sort);
            pages = pages.max(matching.len().div_ceil(PAGE_ROWS));
            let first = (page_number - 1) * PAGE_ROWS;
            let shown: Vec<&Row> = matching.iter().skip(first).take(PAGE_ROWS).collect();
            context! {
                kind => kind.segment(), counts => Serde(counts),
                matching => matching.len(), first => first + 1, last => first + shown.len(),
                entries => Serde(shown),
            }
        })
        .collect();
    let in_defaults = place.scope == Scope::Defaults;
    let standings: Vec<&str> = Standing::ALL
        .iter()
        .filter(|s| match s {
            Standing::Default => in_defaults,
            Standing::Inactive => true,
            _ => !in_defaults,
        })
        .map(|s| s.as_str())
        .collect();
    // The merge with an upstream is the registry's, which global admins alone may read.
    let gateway = match auth::check_global_admin(&place.principal) {
        Ok(()) => state
            .gateway
            .registry
            .lookup(&place.server)
            .await?
            .is_some(),
        Err(_) => false,
    };
    page::render(
        "scope.html",
        &place.principal,
        context! {
            gateway,
            scope => place.scope.as_str(),
            server => place.server.as_str(),
            base => page::server_path(&place.scope, place.server.as_str()),
            may_write => page::may_write(&place.principal, &place.scope),
            kinds,
            q => filter.q,
            state => filter.state,
            standings,
            sort => filter.sort,
            sorts => SORTS.iter().map(|&(value, name)| context! { value, name }).collect::<Vec<_>>(),
            page => page_number,
            pages,
        },
    )
}
