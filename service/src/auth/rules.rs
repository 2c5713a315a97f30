//! Authorization: what a [`Principal`] may read, watch and write, as pure functions over it
//! (the rules are listed in the module above and tested here as a table).

use super::Principal;
use crate::{
    domain::{InvalidInput, OrgFilter, Scope, Slug},
    error::Error,
};

fn forbidden(why: impl Into<String>) -> Error {
    Error::Forbidden(why.into())
}

/// The `x-org-id` header: the org a caller that may read several asks for.
pub const ORG_HEADER: axum::http::HeaderName = axum::http::HeaderName::from_static("x-org-id");

/// The org named by the [`ORG_HEADER`] of `headers` (gRPC metadata or an HTTP request's), if any.
pub fn header_org(headers: &axum::http::HeaderMap) -> Result<Option<Scope>, InvalidInput> {
    // By a parsed name: looking a header up by `&str` parses the name on every call.
    match headers.get(&ORG_HEADER) {
        None => Ok(None),
        Some(value) => {
            let value = value
                .to_str()
                .map_err(|_| InvalidInput::new("x-org-id", "not ASCII"))?;
            Scope::parse_optional("x-org-id", value).map(Some)
        }
    }
}

/// The scope a read is answered for: `requested` (from the request body) or, if empty, the
/// `x-org-id` header's org, as the caller's token allows.
pub fn read_scope(
    principal: &Principal,
    requested: Scope,
    header_org: Option<Scope>,
) -> Result<Scope, Error> {
    if !principal.may_read_anything() {
        return Err(forbidden("the token has no role that may read"));
    }
    let named = match requested {
        Scope::Defaults => header_org.unwrap_or(Scope::Defaults),
        org => org,
    };
    if principal.reads_every_org() {
        return Ok(named);
    }
    match (&principal.org, named) {
        (Some(own), Scope::Defaults) => Ok(Scope::Org(own.clone())),
        (Some(own), Scope::Org(asked)) if *own == asked => Ok(Scope::Org(asked)),
        (Some(own), Scope::Org(asked)) => Err(forbidden(format!(
            "a token of org {own} cannot read org {asked}"
        ))),
        (None, Scope::Defaults) => Ok(Scope::Defaults),
        (None, Scope::Org(asked)) => Err(forbidden(format!(
            "a token without an org cannot read org {asked}"
        ))),
    }
}

/// Whether the caller may look at entries of `scope` through the admin API. Everyone with a
/// role may see the defaults (every org sees them anyway).
pub fn check_read(principal: &Principal, scope: &Scope) -> Result<(), Error> {
    match read_scope(principal, scope.clone(), None)? {
        _ if *scope == Scope::Defaults => Ok(()),
        granted if granted == *scope => Ok(()),
        _ => Err(forbidden(format!(
            "this token cannot read {}",
            scope.as_str()
        ))),
    }
}

/// The orgs whose events a Watch gets, given the orgs it asked for (none: all it may read).
/// The read rules apply: an org-bound token gets its org's events, a token without an org
/// that cannot read every org gets the defaults' events only.
pub fn watch_filter(principal: &Principal, requested: Vec<Slug>) -> Result<OrgFilter, Error> {
    if !principal.may_read_anything() {
        return Err(forbidden("the token has no role that may read"));
    }
    if principal.reads_every_org() {
        return Ok(if requested.is_empty() {
            OrgFilter::Any
        } else {
            OrgFilter::Only(requested)
        });
    }
    match &principal.org {
        Some(own) => match requested.iter().find(|asked| *asked != own) {
            Some(other) => Err(forbidden(format!(
                "a token of org {own} cannot watch org {other}"
            ))),
            None => Ok(OrgFilter::Only(vec![own.clone()])),
        },
        None => match requested.first() {
            Some(asked) => Err(forbidden(format!(
                "a token without an org cannot watch org {asked}"
            ))),
            None => Ok(OrgFilter::Only(Vec::new())),
        },
    }
}

/// Whether the caller may change anything at all: checked before a write's body is read.
pub fn check_may_write(principal: &Principal) -> Result<(), Error> {
    if principal.roles.editor || principal.roles.admin {
        Ok(())
    } else {
        Err(forbidden("writes need the editor or admin role"))
    }
}

/// Whether the caller may change entries of `scope`.
pub fn check_write(principal: &Principal, scope: &Scope) -> Result<(), Error> {
    check_may_write(principal)?;
    match (&principal.org, scope) {
        (None, _) => Ok(()),
        (Some(own), Scope::Org(org)) if own == org => Ok(()),
        (Some(own), Scope::Org(org)) => Err(forbidden(format!(
            "an editor of org {own} cannot change org {org}"
        ))),
        (Some(own), Scope::Defaults) => Err(forbidden(format!(
            "an editor of org {own} cannot change the defaults"
        ))),
    }
}

/// Whether the caller administers `scope` (`what` names what it manages, for the refusal): an
/// admin without an org any scope, an org's admin its own org only.
pub fn check_admin(principal: &Principal, scope: &Scope, what: &str) -> Result<(), Error> {
    if !principal.roles.admin {
        return Err(forbidden(format!("{what} need the admin role")));
    }
    match (&principal.org, scope) {
        (None, _) => Ok(()),
        (Some(own), Scope::Org(org)) if own == org => Ok(()),
        (Some(own), _) => Err(forbidden(format!(
            "an admin of org {own} manages only its own {what}"
        ))),
    }
}

/// Whether the caller may create orgs, read every org's changes and export everything.
pub fn check_global_admin(principal: &Principal) -> Result<(), Error> {
    if principal.roles.admin && principal.org.is_none() {
        Ok(())
    } else {
        Err(forbidden("this needs an admin token without an org claim"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Roles;

    fn org(s: &str) -> Scope {
        Scope::Org(Slug::parse("org", s).unwrap())
    }

    fn principal(org_claim: Option<&str>, roles: &[&str]) -> Principal {
        Principal {
            subject: "u".into(),
            org: org_claim.map(|o| Slug::parse("org", o).unwrap()),
            roles: Roles::parse(&roles.iter().map(|r| r.to_string()).collect::<Vec<_>>()),
            expires_at: None,
        }
    }

    #[test]
    fn reads_follow_the_design() {
        let acme_reader = principal(Some("acme"), &["reader"]);
        assert_eq!(
            read_scope(&acme_reader, Scope::Defaults, None).unwrap(),
            org("acme"),
            "a user reads its own org"
        );
        assert_eq!(
            read_scope(&acme_reader, org("acme"), None).unwrap(),
            org("acme")
        );
        assert!(matches!(
            read_scope(&acme_reader, org("globex"), None),
            Err(Error::Forbidden(_))
        ));
        assert!(matches!(
            read_scope(&acme_reader, Scope::Defaults, Some(org("globex"))),
            Err(Error::Forbidden(_))
        ));

        let acme_server = principal(Some("acme"), &["service"]);
        assert!(
            read_scope(&acme_server, org("globex"), None).is_err(),
            "a service token with an org claim is held to that org"
        );
        assert_eq!(
            read_scope(&acme_server, Scope::Defaults, None).unwrap(),
            org("acme")
        );

        let mcp_server = principal(None, &["service"]);
        assert_eq!(
            read_scope(&mcp_server, org("globex"), None).unwrap(),
            org("globex")
        );
        assert_eq!(
            read_scope(&mcp_server, Scope::Defaults, Some(org("acme"))).unwrap(),
            org("acme"),
            "x-org-id"
        );
        assert_eq!(
            read_scope(&mcp_server, Scope::Defaults, None).unwrap(),
            Scope::Defaults,
            "no org: defaults"
        );

        let orgless = principal(None, &["reader"]);
        assert_eq!(
            read_scope(&orgless, Scope::Defaults, None).unwrap(),
            Scope::Defaults
        );
        assert!(read_scope(&orgless, org("acme"), None).is_err());
        assert!(
            read_scope(&principal(Some("acme"), &[]), Scope::Defaults, None).is_err(),
            "no role, no read"
        );
    }

    #[test]
    fn watch_follows_the_read_rules() {
        let slug = |s: &str| Slug::parse("org", s).unwrap();
        let only = |orgs: &[&str]| OrgFilter::Only(orgs.iter().map(|o| slug(o)).collect());
        assert!(
            watch_filter(&principal(None, &[]), vec![]).is_err(),
            "no role, no events"
        );
        assert!(watch_filter(&principal(Some("acme"), &[]), vec![]).is_err());
        assert_eq!(
            watch_filter(&principal(None, &["reader"]), vec![]).unwrap(),
            only(&[]),
            "an orgless reader gets the defaults' events only"
        );
        assert!(watch_filter(&principal(None, &["editor"]), vec![slug("acme")]).is_err());
        assert_eq!(
            watch_filter(&principal(Some("acme"), &["reader"]), vec![]).unwrap(),
            only(&["acme"])
        );
        assert!(
            watch_filter(&principal(Some("acme"), &["service"]), vec![slug("globex")]).is_err()
        );
        assert_eq!(
            watch_filter(&principal(None, &["service"]), vec![]).unwrap(),
            OrgFilter::Any
        );
        assert_eq!(
            watch_filter(&principal(None, &["admin"]), vec![slug("globex")]).unwrap(),
            only(&["globex"])
        );
    }

    #[test]
    fn writes_need_an_editor_of_that_org() {
        let acme_editor = principal(Some("acme"), &["editor"]);
        assert!(check_write(&acme_editor, &org("acme")).is_ok());
        assert!(check_write(&acme_editor, &org("globex")).is_err());
        assert!(check_write(&acme_editor, &Scope::Defaults).is_err());
        assert!(check_write(&principal(Some("acme"), &["reader"]), &org("acme")).is_err());
        assert!(check_write(&principal(None, &["service"]), &org("acme")).is_err());
        assert!(check_write(&principal(None, &["admin"]), &Scope::Defaults).is_ok());
        assert!(check_global_admin(&principal(None, &["admin"])).is_ok());
        assert!(check_global_admin(&principal(Some("acme"), &["admin"])).is_err());
        assert!(check_global_admin(&principal(None, &["editor"])).is_err());
    }
}
