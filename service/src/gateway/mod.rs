//! The MCP gateway: `/mcp/{server}` in front of the server's real MCP server (its upstream, set
//! per server in the [`registry`]), with the caller's org's prompts and resources laid over.
//!
//! mcp-config answers what it defines and forwards the rest: tools, completion of the
//! upstream's own prompts, logging, the upstream's requests to the client (sampling,
//! elicitation, roots) and its notifications, over one upstream session per client session
//! ([`link`]), and one per `subscriptions/listen` stream for its notifications ([`listen`]).
//! [`shadow`] is the merge rule of the two lists; [`http`] the client policy (no
//! redirects, bounded, traced); [`signer`] the optional context token.

pub mod http;
pub mod link;
pub mod listen;
pub mod preview;
pub mod registry;
pub mod shadow;
pub mod signer;

use std::time::Duration;

use crate::{
    domain::{InvalidInput, Slug},
    store::Store,
    views::Views,
};

pub use link::Link;
pub use registry::{Registered, Registry};
pub use shadow::{Cover, Shadow, Standing};
pub use signer::ContextSigner;

/// What the gateway of one replica shares across sessions.
#[derive(Clone)]
pub struct Gateway {
    pub registry: Registry,
    pub shadow: Shadow,
    pub http: http::UpstreamHttp,
    pub signer: Option<ContextSigner>,
}

impl Gateway {
    pub fn new(
        store: Store,
        views: Views,
        http: http::UpstreamHttp,
        signer: Option<ContextSigner>,
    ) -> Self {
        Self {
            registry: Registry::new(store.clone()),
            shadow: Shadow::new(views, store),
            http,
            signer,
        }
    }
}

/// Why a forwarded request failed; the MCP door maps it to a JSON-RPC error in one place.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The server has no upstream: only mcp-config's prompts and resources are served.
    #[error(
        "server {0} has no upstream MCP server registered: it serves prompts and resources only"
    )]
    NoUpstream(Slug),
    #[error("the upstream MCP server of {server} is unavailable: {detail}")]
    Unavailable { server: Slug, detail: String },
    #[error("the upstream MCP server of {server} did not answer within {after:?}")]
    TimedOut { server: Slug, after: Duration },
    /// The upstream's own JSON-RPC error, passed on as it is.
    #[error("{}", .0.message)]
    Upstream(rmcp::ErrorData),
    #[error("the upstream answered a {0} request with another kind of result")]
    Unexpected(&'static str),
    #[error("cancelled by the client")]
    Cancelled,
}

/// Where a merged list's page starts: with mcp-config's entries, then the upstream's. Cursors
/// say which list they continue (`c.` mcp-config's, `u.` the upstream's), so a page never
/// mixes the two halves' cursors up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor<'a> {
    Start,
    Ours(&'a str),
    Upstream(&'a str),
}

impl<'a> Cursor<'a> {
    pub fn parse(cursor: Option<&'a str>) -> Result<Self, InvalidInput> {
        match cursor {
            None | Some("") => Ok(Cursor::Start),
            Some(c) => {
                if let Some(ours) = c.strip_prefix("c.") {
                    Ok(Cursor::Ours(ours))
                } else if let Some(theirs) = c.strip_prefix("u.") {
                    Ok(Cursor::Upstream(theirs))
                } else {
                    Err(InvalidInput::new("cursor", "not a cursor this list gave"))
                }
            }
        }
    }

    pub fn ours(next: &str) -> String {
        format!("c.{next}")
    }

    pub fn upstream(next: &str) -> String {
        format!("u.{next}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_says_which_list_it_continues() {
        assert_eq!(Cursor::parse(None).unwrap(), Cursor::Start);
        let ours = Cursor::ours("prompt-100");
        assert_eq!(
            Cursor::parse(Some(&ours)).unwrap(),
            Cursor::Ours("prompt-100")
        );
        let theirs = Cursor::upstream("c.2");
        assert_eq!(
            Cursor::parse(Some(&theirs)).unwrap(),
            Cursor::Upstream("c.2")
        );
        assert_eq!(Cursor::parse(Some("junk")).unwrap_err().field, "cursor");
    }
}
