//! Who is asking, and what they may do.
//!
//! Authentication turns a bearer token into a [`Principal`]; authorization is a handful of pure
//! functions over it, so the rules read in one place and are tested as a table:
//!
//! - every read (and Watch) needs a role;
//! - reads: a `service` token without an `org` claim (an MCP server's own identity) reads any
//!   org it names (in the request or in `x-org-id`); any token with an `org` claim — a service
//!   token too — reads that org only (and the defaults it inherits), asking for another is
//!   `PERMISSION_DENIED`; an admin without an `org` claim reads everything; other tokens without
//!   an org read the defaults only;
//! - Watch follows the read rules: the events of the orgs the caller may read, and the
//!   defaults'; a stream ends when its token expires;
//! - writes need `editor` or `admin`; a token with an `org` claim writes that org only;
//! - org management needs an `admin` token with no `org` claim;
//! - an `org` claim is a slug or the token is refused: an empty claim never means "no org".
//!
//! In mode `none` every caller is `anonymous` with every right (development only; the
//! configuration refuses it on a non-loopback address).

mod rules;
mod token;

pub use rules::{
    ORG_HEADER, check_admin, check_global_admin, check_may_write, check_read, check_write,
    header_org, read_scope, watch_filter,
};
pub use token::Authenticator;

use std::time::SystemTime;

use crate::domain::Slug;

/// What a caller may do, by role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles {
    pub reader: bool,
    pub editor: bool,
    pub admin: bool,
    pub service: bool,
    /// May move a label past its approval policy (every use is recorded with the change).
    pub emergency: bool,
}

impl Roles {
    pub(crate) fn parse(names: &[String]) -> Self {
        let has = |role: &str| names.iter().any(|n| n == role);
        Self {
            reader: has("reader"),
            editor: has("editor"),
            admin: has("admin"),
            service: has("service"),
            emergency: has("emergency"),
        }
    }

    /// The names of the roles held, as [`Roles::parse`] reads them.
    pub(crate) fn names(self) -> Vec<&'static str> {
        [
            (self.reader, "reader"),
            (self.editor, "editor"),
            (self.admin, "admin"),
            (self.service, "service"),
            (self.emergency, "emergency"),
        ]
        .into_iter()
        .filter_map(|(held, name)| held.then_some(name))
        .collect()
    }

    pub(crate) const ALL: Roles = Roles {
        reader: true,
        editor: true,
        admin: true,
        service: true,
        // Not implied: with authentication off an approval policy still holds.
        emergency: false,
    };
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The token's subject, recorded as the actor of every change.
    pub subject: String,
    /// The org a user token belongs to; `None` for service and global tokens.
    pub org: Option<Slug>,
    pub roles: Roles,
    /// When the token stops being accepted (its `exp` plus the leeway); `None` when
    /// authentication is off. Long-lived streams end then.
    pub expires_at: Option<SystemTime>,
}

impl Principal {
    /// The caller when authentication is off.
    pub fn anonymous() -> Self {
        Self {
            subject: "anonymous".into(),
            org: None,
            roles: Roles::ALL,
            expires_at: None,
        }
    }

    /// Nobody signed in (the sign-in pages' viewer): no role, no expiry.
    pub fn nobody() -> Self {
        Self {
            roles: Roles::default(),
            ..Self::anonymous()
        }
    }

    pub(crate) fn may_read_anything(&self) -> bool {
        let roles = self.roles;
        roles.reader || roles.editor || roles.admin || roles.service
    }

    /// Reads every org it names: a service identity or an admin, without an `org` claim.
    pub(crate) fn reads_every_org(&self) -> bool {
        self.org.is_none() && (self.roles.service || self.roles.admin)
    }
}
