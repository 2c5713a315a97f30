//! The write path: saves, activation, deletes, rollbacks and bundle imports, each one
//! transaction that also records its change for the relay to publish.

use crate::{
    bundle::{
        Desired, Plan,
        import::{self, EntryDiff, ImportReport, Missing},
    },
    catalog::Catalog,
    content::{
        Content, PromptArgument, PromptContent, PromptMessage, ResourceBody, ResourceContent, Role,
    },
    domain::{EntryId, InvalidInput, Kind, Slug, UriPattern, is_uri_template},
    error::{Error, Result},
    propagation::relay::RelayHandle,
    render::{self, RenderError},
    renderer::Renderer,
    store::{Change, OrgRow, Store, UpstreamWrite, Write, WriteOp, now_ms},
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
    /// For the reads a write makes (a rollback reads the version it restores).
    catalog: Catalog,
    /// Checks what rendering a saved prompt costs, off the async workers.
    renderer: Renderer,
}

impl Editor {
    pub fn new(store: Store, relay: RelayHandle, renderer: Renderer) -> Self {
        Self {
            catalog: Catalog::new(store.clone()),
            store,
            relay,
            renderer,
        }
    }

    /// Refuses a prompt, or a resource template's text, that does not compile or cannot
    /// render within the budget with sample arguments, naming it (`field`) and the budget;
    /// every save runs this once, in a render worker under the render deadline, so a costly
    /// template never holds an async worker.
    /// `within` is where the entry is in a larger input (a bundle); alone, the field is the
    /// content's own (`messages`, `text`).
    async fn check_cost(
        &self,
        id: &EntryId,
        content: &Content,
        within: Option<&str>,
    ) -> Result<()> {
        let field = |own: &str| within.map_or_else(|| own.to_owned(), |at| format!("{at}.{own}"));
        let template;
        let (prompt, field) = match content {
            Content::Prompt(prompt) => (
                prompt,
                within.map_or_else(|| "messages".to_owned(), str::to_owned),
            ),
            Content::Resource(resource) => match resource_template(id, resource, field)? {
                Some(as_prompt) => {
                    template = as_prompt;
                    (&template, field("text"))
                }
                None => return Ok(()),
            },
        };
        match self.renderer.check_cost(id.scope.as_str(), prompt).await {
            Ok(()) => Ok(()),
            Err(
                e @ (RenderError::TooMuchWork(_)
                | RenderError::OutputTooLarge(_)
                | RenderError::MemoryExceeded(_)
                | RenderError::TimedOut(_)),
            ) => Err(InvalidInput::new(
                field,
                format!(
                    "{} {:?} cannot render within the budget ({}) with sample arguments: {e}",
                    match id.kind {
                        Kind::Prompts => "prompt",
                        Kind::Resources => "resource template",
                    },
                    id.key.as_str(),
                    self.renderer.budget()
                ),
            )
            .into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks content a change request will save: what a save of it would check, so an approved
    /// request never fails on its own content.
    pub async fn check_content(&self, id: &EntryId, content: &Content) -> Result<()> {
        if content.kind() != id.kind {
            return Err(InvalidInput::new("content", "does not match the entry's kind").into());
        }
        content.validate()?;
        self.check_cost(id, content, None).await
    }

    async fn commit(
        &self,
        writes: &[Write],
        orgs: &[OrgRow],
        upstreams: &[UpstreamWrite],
        actor: &str,
    ) -> Result<Vec<Change>> {
        let changes = self.store.apply(writes, orgs, upstreams, actor).await?;
        if !changes.is_empty() {
            self.relay.committed(&changes);
        }
        Ok(changes)
    }

    async fn commit_one(&self, write: Write, actor: &str) -> Result<Change> {
        let mut changes = self
            .commit(std::slice::from_ref(&write), &[], &[], actor)
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
        self.check_cost(&id, content, None).await?;
        let op = WriteOp::Save {
            body: content.to_json(),
            message: message.to_owned(),
            restores: None,
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

    /// Saves the content of an old version as a new version; the version's message says so,
    /// with `reason` when one is given.
    pub async fn rollback(
        &self,
        id: EntryId,
        to_version: u64,
        expected_version: Option<u64>,
        actor: &str,
        reason: &str,
    ) -> Result<Change> {
        let old = self.catalog.version(&id, to_version).await?;
        let message = match reason.trim() {
            "" => format!("rollback to version {to_version}"),
            reason => format!("rollback to version {to_version}: {reason}"),
        };
        let op = WriteOp::Save {
            body: old.body,
            message,
            restores: Some(to_version),
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
        let changes = self.store.create_org(&org).await?;
        if !changes.is_empty() {
            self.relay.committed(&changes);
        }
        tracing::info!(org = %org.slug, actor, "org created");
        Ok(org)
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
        for (id, desired) in &plan.entries {
            if let Desired::Content(content) = desired {
                let field = Plan::field_of(id);
                self.check_cost(id, content, Some(&field)).await?;
            }
        }
        let (lines, writes) = import::diff(&self.store, plan, missing).await?;
        let (upstream_lines, upstream_writes) = import::diff_upstreams(&self.store, plan).await?;
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
        report.upstreams = upstream_lines;
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
                .commit(&writes, &orgs, &upstream_writes, actor)
                .await?
                .iter()
                .map(|c| c.revision)
                .collect();
        }
        Ok(report)
    }
}

/// A resource template's text as the prompt a save checks: one message, the URI's variables
/// its required arguments. `None` for any other resource. A text that does not compile, or uses
/// a variable the URI does not have, is refused here naming `field`.
fn resource_template(
    id: &EntryId,
    resource: &ResourceContent,
    field: impl Fn(&str) -> String,
) -> Result<Option<PromptContent>> {
    let variables: Vec<String> = if is_uri_template(id.key.as_str()) {
        let pattern = UriPattern::parse("uri", id.key.as_str())?;
        pattern.variables().map(str::to_owned).collect()
    } else {
        Vec::new()
    };
    if let Some(unknown) = resource.choices.keys().find(|k| !variables.contains(k)) {
        return Err(InvalidInput::new(
            field(&format!("choices.{unknown}")),
            "choices are for the variables of a resource template's URI",
        )
        .into());
    }
    let ResourceBody::Text(text) = &resource.body else {
        return Ok(None);
    };
    if variables.is_empty() {
        return Ok(None);
    }
    let variables: Vec<&str> = variables.iter().map(String::as_str).collect();
    if let Some(finding) = render::lint([text.as_str()], &variables).into_iter().next() {
        return Err(InvalidInput::new(field("text"), finding.text).into());
    }
    Ok(Some(PromptContent {
        title: String::new(),
        description: String::new(),
        arguments: variables
            .iter()
            .map(|name| PromptArgument {
                name: (*name).to_owned(),
                description: String::new(),
                required: true,
                choices: Vec::new(),
            })
            .collect(),
        messages: vec![PromptMessage::text(Role::User, text.clone())],
        icons: Vec::new(),
    }))
}
