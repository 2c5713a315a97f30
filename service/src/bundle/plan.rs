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

/// Most problems one bundle's check lists.
pub const MAX_PROBLEMS: usize = 100;

impl Bundle {
    /// Checks every slug, key and content of the bundle and flattens it; the first problem.
    pub fn plan(&self) -> Result<Plan, InvalidInput> {
        self.check().map_err(|mut problems| problems.swap_remove(0))
    }

    /// Checks every slug, key and content of the bundle and flattens it; every problem (at
    /// most [`MAX_PROBLEMS`]), in the order of the bundle.
    pub fn check(&self) -> Result<Plan, Vec<InvalidInput>> {
        let mut problems = Vec::new();
        let plan = self.plan_into(&mut problems);
        if problems.is_empty() {
            Ok(plan)
        } else {
            problems.truncate(MAX_PROBLEMS);
            Err(problems)
        }
    }

    fn plan_into(&self, problems: &mut Vec<InvalidInput>) -> Plan {
        let mut note = |result: Result<(), InvalidInput>| {
            if let Err(problem) = result {
                problems.push(problem);
            }
        };
        let mut plan = Plan::default();
        for (server, entries) in &self.defaults {
            let at = format!("defaults.{server}");
            if !entries.hidden_prompts.is_empty() || !entries.hidden_resources.is_empty() {
                note(Err(InvalidInput::new(
                    format!("{at}.hidden_prompts"),
                    "only an org can hide a default",
                )));
            }
            plan_server(&mut plan, &Scope::Defaults, server, entries, &at, &mut note);
        }
        for (org, bundle) in &self.orgs {
            let slug = match Slug::parse(&format!("orgs.{org}"), org) {
                Ok(slug) => slug,
                Err(problem) => {
                    note(Err(problem));
                    continue;
                }
            };
            let name = if bundle.name.is_empty() {
                org.clone()
            } else {
                bundle.name.clone()
            };
            plan.orgs.push((slug.clone(), name));
            for (server, entries) in &bundle.servers {
                let at = format!("orgs.{org}.servers.{server}");
                plan_server(
                    &mut plan,
                    &Scope::Org(slug.clone()),
                    server,
                    entries,
                    &at,
                    &mut note,
                );
            }
        }
        for (server, upstream) in &self.upstreams {
            let at = format!("upstreams.{server}");
            note(Slug::parse(&at, server).and_then(|slug| {
                upstream.check().map_err(|e| e.within(&at))?;
                plan.upstreams.push((slug, upstream.clone()));
                Ok(())
            }));
        }
        plan
    }
}

/// Plans one server's entries of a scope, noting each problem and going on.
fn plan_server(
    plan: &mut Plan,
    scope: &Scope,
    server: &str,
    entries: &ServerEntries,
    at: &str,
    note: &mut impl FnMut(Result<(), InvalidInput>),
) {
    let server = match Slug::parse(at, server) {
        Ok(server) => server,
        Err(problem) => return note(Err(problem)),
    };
    let id = |kind: Kind, key: &str, field: &str| -> Result<EntryId, InvalidInput> {
        let key = EntryKey::parse(kind, key).map_err(|e| InvalidInput::new(field, e.message))?;
        Ok(EntryId {
            scope: scope.clone(),
            server: server.clone(),
            kind,
            key,
        })
    };
    let contents =
        entries
            .prompts
            .iter()
            .map(|(name, prompt)| (Kind::Prompts, name, Content::Prompt(prompt.clone())))
            .chain(entries.resources.iter().map(|(uri, resource)| {
                (Kind::Resources, uri, Content::Resource(resource.clone()))
            }));
    for (kind, key, content) in contents {
        let field = format!("{at}.{}.{key}", kind.segment());
        note(
            content
                .validate()
                .map_err(|e| e.within(&field))
                .and_then(|()| {
                    plan.entries
                        .push((id(kind, key, &field)?, Desired::Content(Box::new(content))));
                    Ok(())
                }),
        );
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
                note(Err(InvalidInput::new(
                    field,
                    format!("{key:?} is both given and hidden"),
                )));
                continue;
            }
            note(id(kind, key, &field).map(|id| plan.entries.push((id, Desired::Hidden))));
        }
    }
}
