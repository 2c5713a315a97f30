//! From an ID token's claims to rights: which claim names the user, their org, their roles, and
//! which groups grant which roles. Pure, so the rules are tested as a table.

use serde_json::{Map, Value};

use crate::{auth::Roles, config::ConfigError, domain::Slug};

/// A role single sign-on may grant. `service` is never one: a person is not an MCP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Reader,
    Editor,
    Admin,
    Emergency,
}

impl Role {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "reader" => Some(Role::Reader),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            "emergency" => Some(Role::Emergency),
            _ => None,
        }
    }

    fn grant(self, roles: &mut Roles) {
        match self {
            Role::Reader => roles.reader = true,
            Role::Editor => roles.editor = true,
            Role::Admin => roles.admin = true,
            Role::Emergency => roles.emergency = true,
        }
    }
}

/// How claims map to rights, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimRules {
    pub subject: String,
    pub org: String,
    pub roles: String,
    pub groups: String,
    group_roles: Vec<(String, Role)>,
    /// Groups whose members may sign in without an org claim, with rights over every org.
    global_groups: Vec<String>,
}

/// Who signed in, with what rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub subject: String,
    pub org: Option<Slug>,
    pub roles: Roles,
}

impl ClaimRules {
    /// `group_roles` as configured: `group=role` each.
    pub fn new(
        subject: &str,
        org: &str,
        roles: &str,
        groups: &str,
        group_roles: &[String],
        global_groups: &[String],
    ) -> Result<Self, ConfigError> {
        let group_roles = group_roles
            .iter()
            .map(|pair| {
                let bad = || {
                    ConfigError(format!(
                        "MCP_CONFIG_OIDC_GROUP_ROLES: {pair:?} is not group=role with role one of reader, editor, admin, emergency"
                    ))
                };
                let (group, role) = pair.split_once('=').ok_or_else(bad)?;
                let role = Role::parse(role.trim()).ok_or_else(bad)?;
                let group = group.trim();
                if group.is_empty() {
                    return Err(bad());
                }
                Ok((group.to_owned(), role))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            subject: subject.to_owned(),
            org: org.to_owned(),
            roles: roles.to_owned(),
            groups: groups.to_owned(),
            group_roles,
            global_groups: global_groups
                .iter()
                .map(|g| g.trim().to_owned())
                .filter(|g| !g.is_empty())
                .collect(),
        })
    }

    /// The rights `claims` grant, or why they grant none (said to the user as it is).
    pub fn grant(&self, claims: &Map<String, Value>) -> Result<Grant, String> {
        let subject = match claims.get(&self.subject) {
            Some(Value::String(subject)) if !subject.trim().is_empty() => subject.clone(),
            _ => {
                return Err(format!(
                    "the ID token has no claim {:?} naming you",
                    self.subject
                ));
            }
        };
        let role_names = names(claims.get(&self.roles));
        let groups = groups(claims.get(&self.groups));
        // No org means every org (as for a token without one): only members of a group
        // configured for that may have it; anyone else without an org is refused.
        let org = match claims.get(&self.org) {
            None if self.global_groups.iter().any(|g| groups.contains(g)) => None,
            None | Some(Value::Null) => {
                return Err(format!(
                    "you signed in as {subject}, but the ID token has no org claim {:?}; without one, \
                     only members of {} may sign in (with rights over every org)",
                    self.org,
                    if self.global_groups.is_empty() {
                        "a group configured for that (none is)".to_owned()
                    } else {
                        self.global_groups.join(", ")
                    }
                ));
            }
            Some(Value::String(org)) => Some(Slug::parse("org claim", org).map_err(|_| {
                format!(
                    "your org claim {:?} is {org:?}, which is not an org name (lowercase letters, digits and dashes)",
                    self.org
                )
            })?),
            Some(other) => {
                return Err(format!(
                    "your org claim {:?} is {other}, not one org name",
                    self.org
                ));
            }
        };
        let mut roles = Roles::default();
        for role in role_names.iter().filter_map(|name| Role::parse(name)) {
            role.grant(&mut roles);
        }
        for (group, role) in &self.group_roles {
            if groups.contains(group) {
                role.grant(&mut roles);
            }
        }
        if !(roles.reader || roles.editor || roles.admin) {
            return Err(format!(
                "you signed in as {subject}, but nothing grants you a role here: your {:?} claim lists {}, \
                 and your {:?} claim lists {} ({}); ask whoever manages your account at the identity provider for a role",
                self.roles,
                listed(&role_names),
                self.groups,
                listed(&groups),
                if self.group_roles.is_empty() {
                    "no group grants a role here".to_owned()
                } else {
                    format!(
                        "the groups that grant roles are {}",
                        self.group_roles
                            .iter()
                            .map(|(group, _)| group.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ));
        }
        Ok(Grant {
            subject,
            org,
            roles,
        })
    }
}

/// The groups claim: a list of group names, or one name (a group's name may hold spaces).
fn groups(claim: Option<&Value>) -> Vec<String> {
    match claim {
        Some(Value::String(group)) => vec![group.clone()],
        other => names(other),
    }
}

/// A claim's names: a list of strings, or one string of names separated by spaces or commas
/// (as some providers send scopes and roles).
fn names(claim: Option<&Value>) -> Vec<String> {
    match claim {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        Some(Value::String(text)) => text
            .split([' ', ','])
            .filter(|name| !name.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

fn listed(names: &[String]) -> String {
    if names.is_empty() {
        "nothing".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rules(group_roles: &[&str]) -> ClaimRules {
        let group_roles: Vec<String> = group_roles.iter().map(|s| (*s).to_owned()).collect();
        ClaimRules::new(
            "email",
            "org",
            "roles",
            "groups",
            &group_roles,
            &["platform".to_owned()],
        )
        .unwrap()
    }

    fn claims(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn roles_come_from_the_roles_claim_and_from_groups() {
        let rules = rules(&["prompt-admins=admin", "writers=editor"]);
        let cases = [
            (
                json!({"roles": ["reader"]}),
                Roles {
                    reader: true,
                    ..Default::default()
                },
            ),
            (
                json!({"roles": "reader editor"}),
                Roles {
                    reader: true,
                    editor: true,
                    ..Default::default()
                },
            ),
            (
                json!({"groups": ["writers"]}),
                Roles {
                    editor: true,
                    ..Default::default()
                },
            ),
            (
                json!({"groups": "writers"}),
                Roles {
                    editor: true,
                    ..Default::default()
                },
            ),
            (
                json!({"roles": ["emergency"], "groups": ["prompt-admins", "other"]}),
                Roles {
                    admin: true,
                    emergency: true,
                    ..Default::default()
                },
            ),
            // `service` is never granted to a person.
            (
                json!({"roles": ["service", "reader"]}),
                Roles {
                    reader: true,
                    ..Default::default()
                },
            ),
        ];
        for (extra, expected) in cases {
            let mut claims_value = json!({"email": "a@x", "org": "acme"});
            claims_value
                .as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            let grant = rules.grant(&claims(claims_value.clone())).unwrap();
            assert_eq!(grant.roles, expected, "{claims_value}");
            assert_eq!(
                (grant.subject.as_str(), grant.org.unwrap().as_str()),
                ("a@x", "acme")
            );
        }
        // A group's name is one name, spaces and all: "Domain Admins" is not "admins".
        let rules = ClaimRules::new(
            "email",
            "org",
            "roles",
            "groups",
            &["admins=admin".to_owned()],
            &[],
        )
        .unwrap();
        let refused = rules
            .grant(&claims(
                json!({"email": "a@x", "org": "acme", "groups": "Domain admins"}),
            ))
            .unwrap_err();
        assert!(refused.contains("nothing grants you a role"), "{refused}");
    }

    #[test]
    fn the_org_comes_from_its_claim_and_no_org_only_to_a_global_group() {
        let rules = rules(&[]);
        let grant = rules
            .grant(&claims(
                json!({"email": "a@x", "org": "acme", "roles": ["editor"]}),
            ))
            .unwrap();
        assert_eq!(grant.org.unwrap().as_str(), "acme");
        // No org claim: every org, so only for members of a global group.
        let global = rules
            .grant(&claims(
                json!({"email": "a@x", "roles": ["admin"], "groups": ["platform"]}),
            ))
            .unwrap();
        assert_eq!(global.org, None);
        for orgless in [
            json!({"email": "a@x", "roles": ["admin"]}),
            json!({"email": "a@x", "roles": ["admin"], "groups": ["sales"]}),
            json!({"email": "a@x", "org": null, "roles": ["admin"], "groups": ["platform"]}),
        ] {
            let refused = rules.grant(&claims(orgless.clone())).unwrap_err();
            assert!(
                refused.contains("has no org claim \"org\""),
                "{orgless}: {refused}"
            );
            assert!(refused.contains("only members of platform"), "{refused}");
        }
        for bad in [json!("Acme Corp"), json!(""), json!(["acme", "globex"])] {
            let refused = rules
                .grant(&claims(
                    json!({"email": "a@x", "org": bad, "roles": ["editor"]}),
                ))
                .unwrap_err();
            assert!(refused.contains("org claim \"org\""), "{refused}");
        }
    }

    #[test]
    fn no_role_or_no_subject_is_refused_with_the_reason() {
        let rules = rules(&["prompt-admins=admin"]);
        let refused = rules
            .grant(&claims(json!({"email": "a@x", "org": "acme", "roles": ["emergency", "service"], "groups": ["sales"]})))
            .unwrap_err();
        assert!(refused.contains("you signed in as a@x"), "{refused}");
        assert!(
            refused.contains("\"roles\" claim lists emergency, service"),
            "{refused}"
        );
        assert!(
            refused.contains("\"groups\" claim lists sales"),
            "{refused}"
        );
        assert!(
            refused.contains("the groups that grant roles are prompt-admins"),
            "{refused}"
        );
        let nameless = rules
            .grant(&claims(
                json!({"sub": "x", "org": "acme", "roles": ["admin"]}),
            ))
            .unwrap_err();
        assert!(nameless.contains("no claim \"email\""), "{nameless}");
    }

    #[test]
    fn group_roles_are_checked_when_configured() {
        for bad in ["admins", "admins=owner", "=admin", "x=service"] {
            let error = ClaimRules::new("sub", "org", "roles", "groups", &[bad.to_owned()], &[])
                .unwrap_err();
            assert!(
                error.0.contains("MCP_CONFIG_OIDC_GROUP_ROLES"),
                "{bad}: {}",
                error.0
            );
        }
    }
}
