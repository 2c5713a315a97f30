//! The admin reads: entries of a scope, one entry, its versions and their diff, a render
//! preview, orgs and the change log. Nothing here writes.

use std::{collections::HashMap, sync::Arc};

use moka::ops::compute::{CompResult, Op};

use crate::{
    content::PromptContent,
    domain::{EntryId, InvalidInput, Kind, Label, Scope, Slug, ViewKey},
    entry::EntryView,
    error::{Error, Result},
    overlay::{self, Counts, Overlaid, Standing},
    store::{Change, ChangeFilter, OrgRow, Store, VersionRow},
    views::Views,
};
use mcp_config_proto::v1::GetPromptResponse;

#[derive(Clone)]
pub struct Catalog {
    store: Store,
    /// Scope listings by scope and server, each read at the revision of the scope's newest
    /// change: a scope of 10,000 prompts is read and laid over its defaults once per change of
    /// that scope (or of the defaults it inherits), not once per page view nor per change of
    /// another tenant.
    listings: moka::future::Cache<(Scope, Slug), Arc<Listing>>,
}

/// Bytes all the cached listings may hold together (their rows' text and a fixed cost a row).
const LISTINGS_BYTES: u64 = 64 * 1024 * 1024;

/// What a listed row costs beyond its text: the struct, the vector's slot, the strings' heads.
const ROW_OVERHEAD: usize = 128;

/// A scope's server as its page lists it, read at `revision`: per kind, how many entries stand
/// where, and each key's row.
pub struct Listing {
    pub revision: u64,
    pub kinds: [(Kind, Counts, Vec<Listed>); 2],
}

/// What a listing shows of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub standing: Standing,
    /// The content's title (empty: none).
    pub title: String,
    /// The content's name (a resource's; empty: none).
    pub name: String,
    pub version: u64,
    pub updated_at: i64,
}

impl Listing {
    /// The bytes it holds, as the cache weighs it.
    fn bytes(&self) -> usize {
        let rows = self.kinds.iter().flat_map(|(_, _, rows)| rows);
        rows.map(|row| ROW_OVERHEAD + row.key.len() + row.title.len() + row.name.len())
            .sum()
    }
}

impl Listed {
    fn of(entry: &Overlaid) -> Self {
        let content = entry.content();
        let text = |field: &str| {
            content
                .and_then(|c| c.get(field))
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_owned()
        };
        let head = entry.own.as_ref().or(entry.default.as_ref());
        Self {
            key: entry.key.clone(),
            standing: entry.standing,
            title: text("title"),
            name: text("name"),
            version: head.map_or(0, |h| h.version),
            updated_at: head.map_or(0, |h| h.updated_at),
        }
    }
}

impl Catalog {
    pub fn new(store: Store) -> Self {
        let listings = moka::future::Cache::builder()
            .weigher(|_, listing: &Arc<Listing>| {
                u32::try_from(listing.bytes().max(1)).unwrap_or(u32::MAX)
            })
            .max_capacity(LISTINGS_BYTES)
            .build();
        Self { store, listings }
    }

    /// Both kinds of a scope's server as a list shows them, current as of the scope's newest
    /// change (read again only when the scope or its defaults changed since).
    pub async fn listing(&self, scope: &Scope, server: &Slug) -> Result<Arc<Listing>> {
        // Every write of entries records its change in the same transaction, and revisions
        // commit in order (the counter row is each write's first lock).
        let revision = self.store.scope_revision(scope, server).await?;
        let key = (scope.clone(), server.clone());
        // Held at this revision or a later one: nothing it lists has changed since. (Not
        // equal only: pruning old changes can lower the number without any change.)
        let current = |held: &Listing| held.revision >= revision;
        if let Some(listing) = self.listings.get(&key).await
            && current(&listing)
        {
            return Ok(listing);
        }
        // One read per key at a time: viewers of a scope that just changed wait for the first
        // one's read instead of each reading 10,000 rows.
        let computed = self
            .listings
            .entry(key)
            .and_try_compute_with(|held| async move {
                if held.is_some_and(|held| current(held.value())) {
                    return Ok(Op::Nop);
                }
                let kinds = self
                    .overlaid_kinds(scope, server)
                    .await?
                    .map(|(kind, all)| {
                        let rows = all.iter().map(Listed::of).collect();
                        (kind, Counts::of(&all), rows)
                    });
                // Read at `revision` or later: a change in between only makes the next view
                // read again.
                Ok::<_, Error>(Op::Put(Arc::new(Listing { revision, kinds })))
            })
            .await?;
        match computed {
            CompResult::Inserted(entry)
            | CompResult::ReplacedWith(entry)
            | CompResult::Unchanged(entry) => Ok(entry.into_value()),
            CompResult::StillNone(_) | CompResult::Removed(_) => {
                unreachable!("a listing is only put, or kept when one is held")
            }
        }
    }

    pub async fn entry(&self, id: &EntryId) -> Result<EntryView> {
        match self.store.head(id).await? {
            Some(head) => EntryView::from_head(head),
            None => Err(Error::NotFound(id.to_string())),
        }
    }

    pub async fn entries(
        &self,
        scope: &Scope,
        server: &Slug,
        kind: Kind,
    ) -> Result<Vec<EntryView>> {
        let heads = self.store.list_entries(kind, server, scope).await?;
        heads.into_iter().map(EntryView::from_head).collect()
    }

    /// A scope's own entries of a server as `label` has them (versions and content it points
    /// at).
    pub async fn entries_at(
        &self,
        scope: &Scope,
        server: &Slug,
        kind: Kind,
        label: &Label,
    ) -> Result<Vec<EntryView>> {
        let heads = self.store.entries_at(kind, server, scope, label).await?;
        heads.into_iter().map(EntryView::from_head).collect()
    }

    /// Every key of a scope's server with where it stands: an org's entries laid over the
    /// defaults (inherited, overridden, added, hidden, inactive).
    pub async fn overlaid(
        &self,
        scope: &Scope,
        server: &Slug,
        kind: Kind,
    ) -> Result<Vec<Overlaid>> {
        // Both reads at once: each is a query of its own.
        let defaults = async {
            match scope {
                Scope::Defaults => Ok(Vec::new()),
                Scope::Org(_) => self.entries(&Scope::Defaults, server, kind).await,
            }
        };
        let (own, defaults) = tokio::try_join!(self.entries(scope, server, kind), defaults)?;
        Ok(overlay::overlay(own, defaults, *scope != Scope::Defaults))
    }

    /// Both kinds of a scope's server, overlaid as [`Catalog::overlaid`] does, read at once.
    pub async fn overlaid_kinds(
        &self,
        scope: &Scope,
        server: &Slug,
    ) -> Result<[(Kind, Vec<Overlaid>); 2]> {
        let (prompts, resources) = tokio::try_join!(
            self.overlaid(scope, server, Kind::Prompts),
            self.overlaid(scope, server, Kind::Resources),
        )?;
        Ok([(Kind::Prompts, prompts), (Kind::Resources, resources)])
    }

    /// One key of a scope with where it stands; not found when it shows nowhere.
    pub async fn overlaid_entry(&self, id: &EntryId) -> Result<Overlaid> {
        let head = |id: EntryId| async move {
            self.store
                .head(&id)
                .await?
                .map(EntryView::from_head)
                .transpose()
        };
        let own = head(id.clone()).await?;
        let default = match id.scope {
            Scope::Defaults => None,
            Scope::Org(_) => {
                head(EntryId {
                    scope: Scope::Defaults,
                    ..id.clone()
                })
                .await?
            }
        };
        let org_scope = id.scope != Scope::Defaults;
        let standing = overlay::standing(own.as_ref(), default.as_ref(), org_scope)
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        Ok(Overlaid {
            key: id.key.to_string(),
            standing,
            own,
            default: default.filter(|d| !d.deleted && d.active),
        })
    }

    /// The servers a scope has entries for; an org's include the ones it inherits.
    pub async fn servers(&self, scope: &Scope) -> Result<Vec<String>> {
        let mut servers = self.store.list_servers(scope).await?;
        if *scope != Scope::Defaults {
            servers.extend(self.store.list_servers(&Scope::Defaults).await?);
            servers.sort();
            servers.dedup();
        }
        Ok(servers)
    }

    pub async fn history(&self, id: &EntryId) -> Result<Vec<VersionRow>> {
        let versions = self.store.history(id).await?;
        if versions.is_empty() {
            return Err(Error::NotFound(id.to_string()));
        }
        Ok(versions)
    }

    pub async fn version(&self, id: &EntryId, version: u64) -> Result<VersionRow> {
        self.store
            .version(id, version)
            .await?
            .ok_or_else(|| Error::NotFound(format!("version {version} of {id}")))
    }

    /// A unified diff of the content of two versions (pretty JSON).
    pub async fn diff(&self, id: &EntryId, from: u64, to: u64) -> Result<String> {
        let (old, new) = (self.version(id, from).await?, self.version(id, to).await?);
        let pretty = |body: &str| {
            serde_json::from_str::<serde_json::Value>(body)
                .and_then(|v| serde_json::to_string_pretty(&v))
                .map(|pretty| pretty + "\n")
                .unwrap_or_else(|_| body.to_owned())
        };
        let (old, new) = (pretty(&old.body), pretty(&new.body));
        Ok(similar::TextDiff::from_lines(&old, &new)
            .unified_diff()
            .header(&format!("version {from}"), &format!("version {to}"))
            .to_string())
    }

    /// Renders a prompt of this scope — its current content, or a given version — as
    /// `GetPrompt` would, for the admin's preview, its embedded resources read from the view
    /// `reading_as` (an org previewing a default it inherits reads its own resources).
    pub async fn preview(
        &self,
        id: &EntryId,
        version: Option<u64>,
        arguments: HashMap<String, String>,
        views: &Views,
        reading_as: &ViewKey,
    ) -> Result<GetPromptResponse> {
        if id.kind != Kind::Prompts {
            return Err(InvalidInput::new("kind", "only prompts render").into());
        }
        let (body, revision) = match version {
            Some(v) => {
                let version = self.version(id, v).await?;
                (version.body, version.revision)
            }
            None => {
                let head = self
                    .store
                    .head(id)
                    .await?
                    .filter(|h| !h.deleted)
                    .ok_or_else(|| Error::NotFound(id.to_string()))?;
                let body = head.body.ok_or_else(|| {
                    InvalidInput::new(
                        "version",
                        "this entry has no content (it only hides a default)",
                    )
                })?;
                (body, head.revision)
            }
        };
        let prompt: PromptContent =
            serde_json::from_str(&body).map_err(|e| Error::corrupt(id.key.as_str(), &e))?;
        let prompt = Arc::new(prompt.to_proto(id.key.as_str()));
        let messages = views
            .render_messages(reading_as, prompt.clone(), arguments)
            .await?;
        Ok(GetPromptResponse {
            description: prompt.description.clone(),
            messages,
            revision,
        })
    }

    pub async fn orgs(&self) -> Result<Vec<OrgRow>> {
        Ok(self.store.list_orgs().await?)
    }

    /// The change log newest first, filtered, a page of `limit` before `before`.
    pub async fn change_log(
        &self,
        filter: &ChangeFilter,
        before: Option<u64>,
        limit: u32,
    ) -> Result<Vec<Change>> {
        Ok(self.store.change_log(filter, before, limit).await?)
    }

    pub async fn changes(
        &self,
        after: u64,
        limit: u32,
        org: Option<&str>,
        server: Option<&str>,
    ) -> Result<Vec<Change>> {
        Ok(self.store.changes_after(after, limit, org, server).await?)
    }
}
