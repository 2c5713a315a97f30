//! The write path: saves, activation, deletes, rollbacks and bundle imports, each one
//! transaction that also records its change for the relay to publish.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use mcp_config_proto::v1::GetPromptResponse;
use serde::Serialize;

use crate::{
    bundle::{Bundle, Desired, OrgBundle, Plan},
    content::{Content, PromptContent},
    domain::{EntryId, EntryKey, InvalidInput, Kind, Scope, Slug},
    error::{Error, Result},
    relay::RelayHandle,
    renderer::Renderer,
    store::{Change, Head, OrgRow, Store, VersionRow, Write, WriteOp, now_ms},
};

/// Whether an import may create the orgs its bundle names that do not exist yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NewOrgs {
    Allowed,
    Refused,
}

#[derive(Clone)]
pub struct Editor {
    store: Store,
    relay: RelayHandle,
}

/// An entry as the admin API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct EntryView {
    pub key: String,
    pub version: u64,
    pub active: bool,
    pub deleted: bool,
    pub revision: u64,
    pub updated_at: i64,
    pub content: Option<serde_json::Value>,
}

impl EntryView {
    fn from_head(head: Head) -> Self {
        Self {
            content: head
                .body
                .as_deref()
                .and_then(|b| serde_json::from_str(b).ok()),
            key: head.key,
            version: head.version,
            active: head.active,
            deleted: head.deleted,
            revision: head.revision,
            updated_at: head.updated_at,
        }
    }
}

/// What a bundle import did (or, dry, would do) to one entry.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum EntryDiff {
    Added,
    Changed,
    Removed,
    Unchanged,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DiffLine {
    /// `""` for the defaults.
    pub org: String,
    pub server: String,
    pub kind: Kind,
    pub key: String,
    pub diff: EntryDiff,
}

#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ImportReport {
    pub dry_run: bool,
    pub entries: Vec<DiffLine>,
    /// Revisions committed (empty when dry or when nothing changed).
    pub revisions: Vec<u64>,
    pub added: usize,
    pub changed: usize,
    pub removed: usize,
    pub unchanged: usize,
}

/// One (scope, server, kind) of a bundle: the unit an import diffs and commits.
type GroupKey = (Scope, Slug, Kind);

/// How an import treats entries of the servers it names that it does not list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Keep,
    Delete,
}

impl Editor {
    pub fn new(store: Store, relay: RelayHandle) -> Self {
        Self { store, relay }
    }

    async fn commit(&self, writes: &[Write], orgs: &[OrgRow], actor: &str) -> Result<Vec<Change>> {
        let changes = self.store.apply(writes, orgs, actor).await?;
        if !changes.is_empty() {
            self.relay.committed(&changes);
        }
        Ok(changes)
    }

    async fn commit_one(&self, write: Write, actor: &str) -> Result<Change> {
        let mut changes = self
            .commit(std::slice::from_ref(&write), &[], actor)
            .await?;
        Ok(changes.remove(0))
    }

    /// Saves `content` as the next version of `id`.
    pub async fn put(
        &self,
        id: EntryId,
        content: &Content,
        expected_version: Option<u64>,
        actor: &str,
        message: &str,
    ) -> Result<Change> {
        if content.kind() != id.kind {
            return Err(InvalidInput::new("content", "does not match the kind in the path").into());
        }
        content.validate()?;
        let op = WriteOp::Save {
            body: content.to_json(),
            message: message.to_owned(),
        };
        self.commit_one(
            Write {
                id,
                op,
                expected_version,
            },
            actor,
        )
        .await
    }

    pub async fn set_active(
        &self,
        id: EntryId,
        active: bool,
        expected_version: Option<u64>,
        actor: &str,
    ) -> Result<Change> {
        self.commit_one(
            Write {
                id,
                op: WriteOp::SetActive(active),
                expected_version,
            },
            actor,
        )
        .await
    }

    pub async fn delete(
        &self,
        id: EntryId,
        expected_version: Option<u64>,
        actor: &str,
    ) -> Result<Change> {
        self.commit_one(
            Write {
                id,
                op: WriteOp::Delete,
                expected_version,
            },
            actor,
        )
        .await
    }

    /// Saves the content of an old version as a new version.
    pub async fn rollback(
        &self,
        id: EntryId,
        to_version: u64,
        expected_version: Option<u64>,
        actor: &str,
    ) -> Result<Change> {
        let old = self.version(&id, to_version).await?;
        let message = format!("rollback to version {to_version}");
        let op = WriteOp::Save {
            body: old.body,
            message,
        };
        self.commit_one(
            Write {
                id,
                op,
                expected_version,
            },
            actor,
        )
        .await
    }

    pub async fn entry(&self, id: &EntryId) -> Result<EntryView> {
        match self.store.head(id).await? {
            Some(head) => Ok(EntryView::from_head(head)),
            None => Err(not_found(id)),
        }
    }

    pub async fn entries(
        &self,
        scope: &Scope,
        server: &Slug,
        kind: Kind,
    ) -> Result<Vec<EntryView>> {
        let heads = self.store.list_entries(kind, server, scope).await?;
        Ok(heads.into_iter().map(EntryView::from_head).collect())
    }

    pub async fn history(&self, id: &EntryId) -> Result<Vec<VersionRow>> {
        let versions = self.store.history(id).await?;
        if versions.is_empty() {
            return Err(not_found(id));
        }
        Ok(versions)
    }

    pub async fn version(&self, id: &EntryId, version: u64) -> Result<VersionRow> {
        self.store
            .version(id, version)
            .await?
            .ok_or_else(|| Error::NotFound(format!("version {version} of {}", describe(id))))
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
    /// `GetPrompt` would, for the admin's preview.
    pub async fn preview(
        &self,
        id: &EntryId,
        version: Option<u64>,
        arguments: HashMap<String, String>,
        renderer: &Renderer,
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
                    .ok_or_else(|| not_found(id))?;
                let body = head.body.ok_or_else(|| {
                    InvalidInput::new(
                        "version",
                        "this entry has no content (it only hides a default)",
                    )
                })?;
                (body, head.revision)
            }
        };
        let prompt: PromptContent = serde_json::from_str(&body).map_err(corrupt)?;
        let prompt = Arc::new(prompt.to_proto(id.key.as_str()));
        let messages = renderer.render(prompt.clone(), arguments).await?;
        Ok(GetPromptResponse {
            description: prompt.description.clone(),
            messages,
            revision,
        })
    }

    pub async fn create_org(&self, slug: Slug, name: String, actor: &str) -> Result<OrgRow> {
        let name = if name.is_empty() {
            slug.to_string()
        } else {
            name
        };
        let org = OrgRow {
            slug: slug.to_string(),
            name,
            created_at: now_ms(),
            created_by: actor.to_owned(),
        };
        self.store.create_org(&org).await?;
        // Creating an org changes no view, so it has no revision (and no event); the org's row
        // records who created it.
        tracing::info!(org = %org.slug, actor, "org created");
        Ok(org)
    }

    pub async fn orgs(&self) -> Result<Vec<OrgRow>> {
        Ok(self.store.list_orgs().await?)
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

    /// Imports a bundle: computes the diff against the store and, unless `dry_run`, applies it
    /// in one transaction (all or nothing; a concurrent edit of a touched entry aborts it).
    pub async fn import(
        &self,
        plan: &Plan,
        missing: Missing,
        dry_run: bool,
        new_orgs: NewOrgs,
        actor: &str,
    ) -> Result<ImportReport> {
        if new_orgs == NewOrgs::Refused {
            let existing = self.store.list_orgs().await?;
            if let Some((slug, _)) = plan
                .orgs
                .iter()
                .find(|(slug, _)| !existing.iter().any(|o| o.slug == slug.as_str()))
            {
                return Err(Error::Forbidden(format!(
                    "org {slug} does not exist, and only an admin without an org claim creates orgs"
                )));
            }
        }
        let (lines, writes) = self.diff_plan(plan, missing).await?;
        let mut report = ImportReport {
            dry_run,
            ..Default::default()
        };
        for line in &lines {
            match line.diff {
                EntryDiff::Added => report.added += 1,
                EntryDiff::Changed => report.changed += 1,
                EntryDiff::Removed => report.removed += 1,
                EntryDiff::Unchanged => report.unchanged += 1,
            }
        }
        report.entries = lines;
        if !dry_run {
            let orgs: Vec<OrgRow> = plan
                .orgs
                .iter()
                .map(|(slug, name)| OrgRow {
                    slug: slug.to_string(),
                    name: name.clone(),
                    created_at: now_ms(),
                    created_by: actor.to_owned(),
                })
                .collect();
            report.revisions = self
                .commit(&writes, &orgs, actor)
                .await?
                .iter()
                .map(|c| c.revision)
                .collect();
        }
        Ok(report)
    }

    async fn diff_plan(
        &self,
        plan: &Plan,
        missing: Missing,
    ) -> Result<(Vec<DiffLine>, Vec<Write>)> {
        let mut groups: BTreeMap<GroupKey, Vec<(&EntryKey, &Desired)>> = BTreeMap::new();
        for (id, desired) in &plan.entries {
            groups
                .entry((id.scope.clone(), id.server.clone(), id.kind))
                .or_default()
                .push((&id.key, desired));
        }
        let (mut lines, mut writes) = (Vec::new(), Vec::new());
        for ((scope, server, kind), wanted) in groups {
            let heads: HashMap<String, Head> = self
                .store
                .list_entries(kind, &server, &scope)
                .await?
                .into_iter()
                .map(|h| (h.key.clone(), h))
                .collect();
            let id = |key: &EntryKey| EntryId {
                scope: scope.clone(),
                server: server.clone(),
                kind,
                key: key.clone(),
            };
            let line = |key: &str, diff| DiffLine {
                org: scope.as_str().to_owned(),
                server: server.to_string(),
                kind,
                key: key.to_owned(),
                diff,
            };
            for (key, desired) in &wanted {
                let head = heads.get(key.as_str()).filter(|h| !h.deleted);
                let (diff, ops) = entry_diff(kind, head, desired);
                let expected_version = Some(heads.get(key.as_str()).map_or(0, |h| h.version));
                for (i, op) in ops.into_iter().enumerate() {
                    let expected_version = if i == 0 { expected_version } else { None };
                    writes.push(Write {
                        id: id(key),
                        op,
                        expected_version,
                    });
                }
                lines.push(line(key.as_str(), diff));
            }
            if missing == Missing::Delete {
                let listed: Vec<&str> = wanted.iter().map(|(k, _)| k.as_str()).collect();
                for head in heads
                    .values()
                    .filter(|h| !h.deleted && !listed.contains(&h.key.as_str()))
                {
                    let key = EntryKey::parse(kind, &head.key)?;
                    writes.push(Write {
                        id: id(&key),
                        op: WriteOp::Delete,
                        expected_version: Some(head.version),
                    });
                    lines.push(line(&head.key, EntryDiff::Removed));
                }
            }
        }
        lines.sort_by(|a, b| {
            (&a.org, &a.server, a.kind, &a.key).cmp(&(&b.org, &b.server, b.kind, &b.key))
        });
        Ok((lines, writes))
    }

    /// Exports the defaults and every org as a bundle (active content and hidden defaults).
    pub async fn export(&self) -> Result<Bundle> {
        let mut bundle = Bundle::default();
        for server in self.store.list_servers(&Scope::Defaults).await? {
            let entries = self.export_server(&Scope::Defaults, &server).await?;
            bundle.defaults.insert(server, entries);
        }
        for org in self.store.list_orgs().await? {
            let scope = Scope::Org(Slug::parse("org", &org.slug)?);
            let mut servers = BTreeMap::new();
            for server in self.store.list_servers(&scope).await? {
                servers.insert(server.clone(), self.export_server(&scope, &server).await?);
            }
            bundle.orgs.insert(
                org.slug,
                OrgBundle {
                    name: org.name,
                    servers,
                },
            );
        }
        Ok(bundle)
    }

    async fn export_server(
        &self,
        scope: &Scope,
        server: &str,
    ) -> Result<crate::bundle::ServerEntries> {
        let server = Slug::parse("server", server)?;
        let mut entries = crate::bundle::ServerEntries::default();
        for kind in Kind::ALL {
            for head in self.store.list_entries(kind, &server, scope).await? {
                if head.deleted {
                    continue;
                }
                let body = head.body.as_deref().filter(|_| head.active);
                match (kind, body) {
                    (Kind::Prompts, Some(body)) => {
                        entries
                            .prompts
                            .insert(head.key, serde_json::from_str(body).map_err(corrupt)?);
                    }
                    (Kind::Resources, Some(body)) => {
                        entries
                            .resources
                            .insert(head.key, serde_json::from_str(body).map_err(corrupt)?);
                    }
                    (Kind::Prompts, None) if *scope != Scope::Defaults => {
                        entries.hidden_prompts.push(head.key)
                    }
                    (Kind::Resources, None) if *scope != Scope::Defaults => {
                        entries.hidden_resources.push(head.key)
                    }
                    (_, None) => {}
                }
            }
        }
        Ok(entries)
    }
}

fn corrupt(e: serde_json::Error) -> Error {
    crate::store::StoreError::Corrupt("entry".into(), e.to_string()).into()
}

/// How one wanted entry differs from its head, and the writes that make it so.
fn entry_diff(kind: Kind, head: Option<&Head>, desired: &Desired) -> (EntryDiff, Vec<WriteOp>) {
    let stored = head
        .and_then(|h| h.body.as_deref())
        .and_then(|body| match kind {
            Kind::Prompts => serde_json::from_str(body).ok().map(Content::Prompt),
            Kind::Resources => serde_json::from_str(body).ok().map(Content::Resource),
        });
    let active = head.is_some_and(|h| h.active);
    match desired {
        Desired::Content(content) => {
            let save = WriteOp::Save {
                body: content.to_json(),
                message: "import".to_owned(),
            };
            match (head, stored.as_ref() == Some(&**content), active) {
                (None, _, _) => (EntryDiff::Added, vec![save]),
                (Some(_), true, true) => (EntryDiff::Unchanged, vec![]),
                (Some(_), true, false) => (EntryDiff::Changed, vec![WriteOp::SetActive(true)]),
                (Some(_), false, true) => (EntryDiff::Changed, vec![save]),
                (Some(_), false, false) => {
                    (EntryDiff::Changed, vec![save, WriteOp::SetActive(true)])
                }
            }
        }
        Desired::Hidden => match (head, active) {
            (Some(_), false) => (EntryDiff::Unchanged, vec![]),
            (None, _) => (EntryDiff::Added, vec![WriteOp::SetActive(false)]),
            (Some(_), true) => (EntryDiff::Changed, vec![WriteOp::SetActive(false)]),
        },
    }
}

fn describe(id: &EntryId) -> String {
    let scope = match &id.scope {
        Scope::Defaults => "the defaults".to_owned(),
        Scope::Org(org) => format!("org {org}"),
    };
    format!(
        "{} {:?} of server {} in {scope}",
        id.kind.key_field(),
        id.key.as_str(),
        id.server
    )
}

fn not_found(id: &EntryId) -> Error {
    Error::NotFound(describe(id))
}
