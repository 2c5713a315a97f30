//! What a client of one org sees through the gateway, for the people who set it up: the
//! upstream's prompts and resources, each with its standing under the merge rule. Read live
//! from the upstream (one short session, as that org), so the page shows what is true now.

use super::{Gateway, GatewayError, Standing, link};
use crate::{
    domain::{Kind, Label, Scope, Slug, Upstream, ViewKey},
    error::Error,
};

/// Pages of an upstream's list read at most: a preview, not a crawl of a hostile server.
const MAX_PAGES: usize = 20;

/// One name the upstream serves, and what the org's view makes of it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Seen {
    pub name: String,
    pub standing: &'static str,
}

/// The upstream's prompts and resources as `scope` sees them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Preview {
    pub prompts: Vec<Seen>,
    pub resources: Vec<Seen>,
}

#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Gateway(#[from] GatewayError),
    #[error(transparent)]
    View(#[from] Error),
}

impl Standing {
    /// How the preview names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Defined => "replaced by mcp-config",
            Standing::Hidden => "hidden",
            Standing::PassesThrough => "passes through",
        }
    }
}

impl Gateway {
    /// Lists `server`'s upstream as `subject` of `scope` would reach it, and stands each name
    /// against that scope's view.
    pub async fn preview(
        &self,
        upstream: &Upstream,
        scope: &Scope,
        subject: &str,
        server: &Slug,
    ) -> Result<Preview, PreviewError> {
        let caller = link::Caller {
            scope,
            subject,
            server,
            request: None,
        };
        let session = link::connect(
            &self.http,
            self.signer.as_ref(),
            upstream,
            &caller,
            (),
            link::ExpiredSession::Reinitialise,
        )
        .await?;
        let failed = |e: rmcp::service::ServiceError| GatewayError::Unavailable {
            server: server.clone(),
            detail: e.to_string(),
        };
        let bounded = async {
            let (mut prompts, mut resources) = (Vec::new(), Vec::new());
            let mut cursor = None;
            let pages = if link::offers(session.peer(), Kind::Prompts) {
                MAX_PAGES
            } else {
                0
            };
            for _ in 0..pages {
                let page = session
                    .list_prompts(Some(
                        rmcp::model::PaginatedRequestParams::default().with_cursor(cursor),
                    ))
                    .await
                    .map_err(failed)?;
                prompts.extend(page.prompts.into_iter().map(|p| p.name));
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
            let mut cursor = None;
            let pages = if link::offers(session.peer(), Kind::Resources) {
                MAX_PAGES
            } else {
                0
            };
            for _ in 0..pages {
                let page = session
                    .list_resources(Some(
                        rmcp::model::PaginatedRequestParams::default().with_cursor(cursor),
                    ))
                    .await
                    .map_err(failed)?;
                resources.extend(page.resources.into_iter().map(|r| r.uri.clone()));
                cursor = page.next_cursor;
                if cursor.is_none() {
                    break;
                }
            }
            Ok::<_, GatewayError>((prompts, resources))
        };
        let (prompts, resources) = tokio::time::timeout(upstream.timeout(), bounded)
            .await
            .map_err(|_| GatewayError::TimedOut {
                server: server.clone(),
                after: upstream.timeout(),
            })??;
        let _ = session.cancel().await;
        Ok(Preview {
            prompts: self.stand(scope, server, Kind::Prompts, prompts).await?,
            resources: self
                .stand(scope, server, Kind::Resources, resources)
                .await?,
        })
    }

    async fn stand(
        &self,
        scope: &Scope,
        server: &Slug,
        kind: Kind,
        names: Vec<String>,
    ) -> Result<Vec<Seen>, Error> {
        let key = ViewKey {
            kind,
            scope: scope.clone(),
            server: server.clone(),
            label: Label::Production,
        };
        let cover = self.shadow.cover(&key).await?;
        Ok(names
            .into_iter()
            .map(|name| Seen {
                standing: cover.standing(&name).as_str(),
                name,
            })
            .collect())
    }
}
