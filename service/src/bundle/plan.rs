//! A bundle checked and flattened: every slug, key and content validated, each entry with what
//! the bundle wants of it. Everything is checked before anything is written.

use super::{Bundle, ServerEntries};
use crate::{
    content::Content,
    domain::{EntryId, EntryKey, InvalidInput, Kind, Scope, Slug, Upstream},
};

/// What a bundle wants one entry to be.
#[derive(Debug, Clone, PartialEq)]
pub enum Desired {
    Content(Box<Content>),
    Hidden,
}

/// A bundle checked and flattened: the orgs it names and what it wants of each entry.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    pub orgs: Vec<(Slug, String)>,
    pub entries: Vec<(EntryId, Desired)>,
    /// The servers' upstreams the bundle sets, checked.
    pub upstreams: Vec<(Slug, Upstream)>,
}

impl Plan {
    /// Where `id`'s entry is in the bundle, as errors name it
    /// (`orgs.acme.servers.github.prompts.review`).
    pub fn field_of(id: &EntryId) -> String {
        let server = match &id.scope {
            Scope::Defaults => format!("defaults.{}", id.server),
            Scope::Org(org) => format!("orgs.{org}.servers.{}", id.server),
        };
        let list = match id.kind {
            Kind::Prompts => "prompts",
            Kind::Resources => "resources",
        };
        format!("{server}.{list}.{}", id.key.as_str())
    }
}

impl Bundle {
    /// Checks every slug, key and content of the bundle and flattens it.
    pub fn plan(&self) -> Result<Plan, InvalidInput> {
        let mut plan = Plan::default();
        for (server, entries) in &self.defaults {
            let at = format!("defaults.{server}");
            if !entries.hidden_prompts.is_empty() || !entries.hidden_resources.is_empty() {
                return Err(InvalidInput::new(
                    format!("{at}.hidden_prompts"),
                    "only an org can hide a default",
                ));
            }
            plan_server(&mut plan, &Scope::Defaults, server, entries, &at)?;
        }
        for (org, bundle) in &self.orgs {
            let slug = Slug::parse(&format!("orgs.{org}"), org)?;
            let name = if bundle.name.is_empty() {
                org.clone()
            } else {
                bundle.name.clone()
            };
            plan.orgs.push((slug.clone(), name));
            for (server, entries) in &bundle.servers {
                let at = format!("orgs.{org}.servers.{server}");
                plan_server(&mut plan, &Scope::Org(slug.clone()), server, entries, &at)?;
            }
        }
        for (server, upstream) in &self.upstreams {
            let at = format!("upstreams.{server}");
            let slug = Slug::parse(&at, server)?;
            upstream.check().map_err(|e| e.within(&at))?;
            plan.upstreams.push((slug, upstream.clone()));
        }
        Ok(plan)
    }
}

fn plan_server(
    plan: &mut Plan,
    scope: &Scope,
    server: &str,
    entries: &ServerEntries,
    at: &str,
) -> Result<(), InvalidInput> {
    let server = Slug::parse(at, server)?;
    let id = |kind: Kind, key: &str, field: &str| -> Result<EntryId, InvalidInput> {
        let key = EntryKey::parse(kind, key).map_err(|e| InvalidInput::new(field, e.message))?;
        Ok(EntryId {
            scope: scope.clone(),
            server: server.clone(),
            kind,
            key,
        })
    };
    for (name, prompt) in &entries.prompts {
        let field = format!("{at}.prompts.{name}");
        let content = Content::Prompt(prompt.clone());
        content.validate().map_err(|e| e.within(&field))?;
        plan.entries.push((
            id(Kind::Prompts, name, &field)?,
            Desired::Content(Box::new(content)),
        ));
    }
    for (uri, resource) in &entries.resources {
        let field = format!("{at}.resources.{uri}");
        let content = Content::Resource(resource.clone());
        content.validate().map_err(|e| e.within(&field))?;
        plan.entries.push((
            id(Kind::Resources, uri, &field)?,
            Desired::Content(Box::new(content)),
        ));
    }
    for (hidden, kind, list) in [
        (&entries.hidden_prompts, Kind::Prompts, "hidden_prompts"),
        (
            &entries.hidden_resources,
            Kind::Resources,
            "hidden_resources",
        ),
    ] {
        for (i, key) in hidden.iter().enumerate() {
            let field = format!("{at}.{list}[{i}]");
            let own = match kind {
                Kind::Prompts => entries.prompts.contains_key(key),
                Kind::Resources => entries.resources.contains_key(key),
            };
            if own {
                return Err(InvalidInput::new(
                    field,
                    format!("{key:?} is both given and hidden"),
                ));
            }
            plan.entries.push((id(kind, key, &field)?, Desired::Hidden));
        }
    }
    Ok(())
}
