//! Releases: moving labels between an entry's versions (promotion and move back), each
//! scope's release policy, and the registry of labels. Each write is one transaction whose
//! changes the relay publishes like a save's.

use crate::{
    auth::Roles,
    domain::{ApproverRole, EntryId, InvalidInput, Label, ReleasePolicy, Scope, Slug},
    error::{Error, Result},
    propagation::relay::RelayHandle,
    store::{
        Change, LabelInfo, LabelMoveRow, LabelState, Promotion, RolloutRow, RolloutStep,
        RolloutWrite, Store,
    },
};

/// A default entry's label under rollout: where it stands, who is in, and every step.
#[derive(Debug, Clone, PartialEq)]
pub struct Rollout {
    /// `None`: no rollout in progress.
    pub current: Option<RolloutRow>,
    /// The orgs that read the target now, by slug.
    pub members: Vec<Slug>,
    /// Newest first.
    pub history: Vec<RolloutStep>,
}

/// Where one label of an entry points.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryLabel {
    pub label: Label,
    pub state: LabelState,
    /// The revision that moved it there.
    pub revision: u64,
}

#[derive(Clone)]
pub struct Releases {
    store: Store,
    relay: RelayHandle,
}

impl Releases {
    pub fn new(store: Store, relay: RelayHandle) -> Self {
        Self { store, relay }
    }

    /// Moves `promotion.label`: a protected label only for an admin, a label under an approval
    /// policy only by a change request or with the emergency role (recorded with the change).
    pub async fn promote(
        &self,
        promotion: &Promotion,
        roles: &Roles,
        actor: &str,
    ) -> Result<Vec<Change>> {
        self.check_protection(&promotion.label, roles.admin).await?;
        let emergency = self
            .check_approvals(&promotion.server, &promotion.scope, &promotion.label, roles)
            .await?;
        let promotion = Promotion {
            emergency,
            ..promotion.clone()
        };
        let changes = self.store.promote(&promotion, actor).await?;
        self.relay.committed(&changes);
        Ok(changes)
    }

    async fn check_protection(&self, label: &Label, may_move_protected: bool) -> Result<()> {
        if !may_move_protected && self.is_protected(label).await? {
            return Err(Error::Forbidden(format!(
                "label {label} is protected: only admins may move it"
            )));
        }
        Ok(())
    }

    /// Refuses a direct move of a label an approval policy covers (409 naming the policy),
    /// unless the mover holds the emergency role: then what it went past, for the change.
    async fn check_approvals(
        &self,
        server: &Slug,
        scope: &Scope,
        label: &Label,
        roles: &Roles,
    ) -> Result<Option<String>> {
        let policies = self.store.approval_policies(server, scope).await?;
        let Some(row) = policies.iter().find(|p| p.label == *label) else {
            return Ok(None);
        };
        let policy = format!(
            "approval policy of label {label} ({}, server {server}): {} approval{} by {}",
            scope.describe(),
            row.policy.approvals,
            if row.policy.approvals == 1 { "" } else { "s" },
            match row.policy.approver_role {
                ApproverRole::Editor => "editors",
                ApproverRole::Admin => "admins",
            }
        );
        if roles.emergency {
            return Ok(Some(policy));
        }
        Err(Error::Refused(format!(
            "{policy}: label {label} moves only by an approved change request (or with the emergency role)"
        )))
    }

    /// Starts, changes, completes or aborts a rollout of a default entry's label (a protected
    /// label: only for an admin; a label under an approval policy: only with the emergency
    /// role).
    pub async fn rollout(
        &self,
        write: &RolloutWrite,
        roles: &Roles,
        actor: &str,
    ) -> Result<Change> {
        self.check_protection(&write.label, roles.admin).await?;
        let emergency = self
            .check_approvals(&write.server, &Scope::Defaults, &write.label, roles)
            .await?;
        let write = RolloutWrite {
            emergency,
            ..write.clone()
        };
        let change = self.store.rollout(&write, actor).await?;
        self.relay.committed(std::slice::from_ref(&change));
        Ok(change)
    }

    /// The rollout of `label` of a default entry, with the orgs in its cohort now.
    pub async fn rollout_of(&self, id: &EntryId, label: &Label) -> Result<Rollout> {
        let (current, history) = self.store.rollout_of(id, label).await?;
        let members = match &current {
            None => Vec::new(),
            Some(rollout) => self
                .store
                .list_orgs()
                .await?
                .into_iter()
                .filter_map(|org| Slug::parse("org", &org.slug).ok())
                .filter(|org| {
                    rollout
                        .cohort
                        .contains(org, &id.server, id.kind, id.key.as_str())
                })
                .collect(),
        };
        Ok(Rollout {
            current,
            members,
            history,
        })
    }

    async fn is_protected(&self, label: &Label) -> Result<bool> {
        Ok(self
            .store
            .list_labels(None)
            .await?
            .iter()
            .any(|l| l.name == *label && l.protected))
    }

    pub async fn policy(&self, server: &Slug, scope: &Scope) -> Result<ReleasePolicy> {
        Ok(self.store.policy(server, scope).await?)
    }

    /// Sets a scope's release policy; the changes committed (none if it already had it).
    pub async fn set_policy(
        &self,
        server: &Slug,
        scope: &Scope,
        policy: ReleasePolicy,
        actor: &str,
    ) -> Result<Vec<Change>> {
        let changes = self.store.set_policy(server, scope, policy, actor).await?;
        self.relay.committed(&changes);
        Ok(changes)
    }

    /// Every label of an entry: `latest` (its head), `production` (the head in an auto
    /// scope), then the others by name. Not found if the entry has never been saved.
    pub async fn labels_of(&self, id: &EntryId) -> Result<Vec<EntryLabel>> {
        let head = self
            .store
            .head(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_string()))?;
        let head_state = LabelState {
            version: head.version,
            active: head.active,
            deleted: head.deleted,
        };
        let at_head = |label| EntryLabel {
            label,
            state: head_state,
            revision: head.revision,
        };
        let mut labels = vec![at_head(Label::Latest)];
        if Label::Production.follows_head(self.store.policy(&id.server, &id.scope).await?) {
            labels.push(at_head(Label::Production));
        }
        let rows = self.store.labels_of(id).await?;
        let (production, others): (Vec<_>, Vec<_>) = rows
            .into_iter()
            .partition(|row| row.label == Label::Production);
        labels.extend(production.into_iter().chain(others).map(|row| EntryLabel {
            label: row.label,
            state: row.state,
            revision: row.revision,
        }));
        Ok(labels)
    }

    pub async fn history(&self, id: &EntryId) -> Result<Vec<LabelMoveRow>> {
        Ok(self.store.label_history(id).await?)
    }

    /// The labels a caller bound to `org` can know (all of them for `None`).
    pub async fn labels(&self, org: Option<&Slug>) -> Result<Vec<LabelInfo>> {
        Ok(self.store.list_labels(org).await?)
    }

    /// Creates a label or changes its protection; `latest` is no label to protect (nobody
    /// moves it).
    pub async fn set_label(
        &self,
        label: &Label,
        protected: bool,
        actor: &str,
    ) -> Result<LabelInfo> {
        if *label == Label::Latest {
            return Err(InvalidInput::new(
                "label",
                "`latest` moves by itself with every save: it is no label to declare or protect",
            )
            .into());
        }
        Ok(self.store.set_label(label, protected, actor).await?)
    }
}
